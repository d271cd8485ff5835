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

echo "== loading the official DESNZ/BEIS factors bundled with car"
psql_demo -d "$DB" <<'SQL'
CREATE EXTENSION IF NOT EXISTS car CASCADE;
SET client_min_messages = warning;
SELECT year, revision, publisher, row_count AS factors, source_uri
FROM generate_series(2021, 2024) AS y, car.load_factors(y) ORDER BY year;
SQL

echo "== 1,000 kWh of UK grid electricity, by factor year"
psql_demo -d "$DB" <<'SQL'
SELECT factor_year AS year, component, scope, round(kg_co2e::numeric, 2) AS kg_co2e,
       factor_value AS "kg CO2e per kWh"
FROM generate_series(2021, 2024) AS y,
     car.emissions(1000, 'kWh', 'electricity', make_timestamptz(y, 6, 1, 0, 0, 0, 'Europe/London'))
ORDER BY 1, 2;
SQL

echo "== a real building: Cambridge University Estates building b0, 2021 (hourly meter data)"
psql_demo -d "$DB" <<SQL
CREATE TEMP TABLE reading (ts timestamptz, kwh float8, activity text);
CREATE TEMP TABLE raw (ts text, kwh float8);
\copy raw FROM '$ROOT/data/sample/UCam_Building_b0_electricity_2021.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO reading SELECT (ts || '+00')::timestamptz, kwh, 'electricity' FROM raw;
TRUNCATE raw;
\copy raw FROM '$ROOT/data/sample/UCam_Building_b0_gas_2021.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO reading SELECT (ts || '+00')::timestamptz, kwh, 'natural_gas' FROM raw;
SELECT to_char(date_trunc('month', ts), 'YYYY-MM') AS month,
       round(sum(kwh) FILTER (WHERE activity = 'electricity')::numeric, 1) AS "electricity kWh",
       round(sum(kwh) FILTER (WHERE activity = 'natural_gas')::numeric, 1) AS "gas kWh",
       round(sum(car.co2e(kwh, 'kWh', activity, ts))::numeric, 1) AS "kg CO2e (scope 1+2)"
FROM reading GROUP BY 1
UNION ALL
SELECT 'total', round(sum(kwh) FILTER (WHERE activity = 'electricity')::numeric, 1),
       round(sum(kwh) FILTER (WHERE activity = 'natural_gas')::numeric, 1),
       round(sum(car.co2e(kwh, 'kWh', activity, ts))::numeric, 1)
FROM reading ORDER BY 1;
SQL

cat <<EOF2

The demo server is running.  Connect with:
    runuser -u postgres -- psql -h $DEMO -p $PORT $DB
Stop it with:  make demo-stop
EOF2
