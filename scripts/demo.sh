#!/usr/bin/env bash
# make demo: install what is missing, build and install car, start a private
# PostgreSQL 15 server whose data folder is .demo/ inside the project (pg_cron
# and car preloaded), load the bundled official factors and the sample meter
# data, and print an emissions report.  Safe to run again: it reuses the
# server and loads nothing twice.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

DEMO=$ROOT/.demo
PORT=${CAR_DEMO_PORT:-54329}
DB=car_demo

"$ROOT/scripts/deps.sh"
echo "== building and installing car"
build_and_install

[ -f "$DEMO/data/PG_VERSION" ] || echo "== creating a server in $DEMO/data"
init_private_server "$DEMO" "$PORT" <<CONF
shared_preload_libraries = 'pg_cron,car'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 32
timezone = 'Europe/London'
CONF
echo "== starting the server (log: $DEMO/server.log)"
start_private_server "$DEMO"

psql_demo() { as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO" -p "$PORT" "$@"; }

psql_demo -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
	psql_demo -d postgres -c "CREATE DATABASE $DB"

# car 1.0 is not released yet: when its SQL script changed since this demo
# database was made, make the extension again (the demo's data is reloaded below).
sql_sum=$(sha256sum "$ROOT/car--1.0.sql" | cut -c1-64)
if [ -f "$DEMO/car-sql.sha256" ] && [ "$(cat "$DEMO/car-sql.sha256")" != "$sql_sum" ]; then
	echo "== car's SQL script changed: recreating the extension in $DB"
	psql_demo -d "$DB" -c "DROP EXTENSION IF EXISTS car CASCADE"
fi

echo "== loading the official DESNZ/BEIS factors bundled with car"
psql_demo -d "$DB" <<'SQL'
CREATE EXTENSION IF NOT EXISTS car CASCADE;
SET client_min_messages = warning;
SELECT year, revision, publisher, row_count AS factors, source_uri
FROM generate_series(2021, 2024) AS y, car.load_factors(y) ORDER BY year;
SQL

echo "$sql_sum" >"$DEMO/car-sql.sha256"

echo "== 1,000 kWh of UK grid electricity, by factor year"
psql_demo -d "$DB" <<'SQL'
SELECT factor_year AS year, component, scope, round(kg_co2e::numeric, 2) AS kg_co2e,
       factor_value AS "kg CO2e per kWh"
FROM generate_series(2021, 2024) AS y,
     car.emissions(1000, 'kWh', 'electricity', make_timestamptz(y, 6, 1, 0, 0, 0, 'Europe/London'))
ORDER BY 1, 2;
SQL

echo "== pushing a real building's meter files: Cambridge University Estates b0, 2021 (hourly)"
psql_demo -d "$DB" <<SQL
SET client_min_messages = warning;
SELECT car.add_source(name, NULL, 'push', 'long', options)
FROM (VALUES ('ucam-b0-electricity', '{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity", "org": "University of Cambridge"}'::jsonb),
             ('ucam-b0-gas', '{"site": "UCam b0", "meter": "b0 gas", "timezone": "UTC", "activity": "natural_gas", "org": "University of Cambridge"}'::jsonb)) v(name, options)
WHERE NOT EXISTS (SELECT 1 FROM car.source s WHERE s.name = v.name);
SELECT f.name AS file, f.status, f.rows_loaded, f.rows_rejected
FROM (VALUES ('ucam-b0-electricity', 'UCam_Building_b0_electricity_2021.csv'),
             ('ucam-b0-gas', 'UCam_Building_b0_gas_2021.csv')) v(source, file),
     LATERAL car.push(v.source, v.file, pg_read_binary_file('$ROOT/data/sample/' || v.file)) f;
SQL

echo "== monthly report: kWh and kg CO2e (Scope 1 + 2) for UCam b0"
psql_demo -d "$DB" <<'SQL'
SELECT coalesce(to_char(date_trunc('month', r.ts), 'YYYY-MM'), 'total') AS month,
       round(sum(r.quantity) FILTER (WHERE m.activity = 'electricity')::numeric, 1) AS "electricity kWh",
       round(sum(r.quantity) FILTER (WHERE m.activity = 'natural_gas')::numeric, 1) AS "gas kWh",
       round(sum(car.co2e(r.quantity, m.unit, m.activity, r.ts))::numeric, 1) AS "kg CO2e"
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.name = 'UCam b0' AND r.ts >= '2021-01-01' AND r.ts < '2022-01-01'
GROUP BY ROLLUP (date_trunc('month', r.ts)) ORDER BY date_trunc('month', r.ts) NULLS LAST;
SQL

cat <<EOF2

The demo server is running.  Connect with:
    runuser -u postgres -- psql -h $DEMO -p $PORT $DB
Stop it with:  make demo-stop
EOF2
