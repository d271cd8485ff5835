#!/usr/bin/env bash
# make demo: install what is missing, build and install car (scripts/install.sh),
# start a private PostgreSQL 15 server whose data folder is .demo/ inside the
# project (pg_cron and car preloaded), make the demo database with
# scripts/demo.sql (the bundled official factors, the sample meter data,
# car.refresh(), the roles, the pg_cron jobs), and print the monthly report.
# Safe to run again: it reuses the server and loads nothing twice.
# The Docker image (docker/) runs the same install.sh and demo.sql.
set -euo pipefail
"$(dirname "$0")/install.sh"
source "$(dirname "$0")/common.sh"
cd "$ROOT"

DEMO=$ROOT/.demo
PORT=${CAR_DEMO_PORT:-54329}
DB=car_demo

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

psql_demo -d "$DB" -v sample="$ROOT/data/sample" -f "$ROOT/scripts/demo.sql"
echo "$sql_sum" >"$DEMO/car-sql.sha256"

echo "== 1,000 kWh of UK grid electricity, by factor year"
psql_demo -d "$DB" <<'SQL'
SELECT factor_year AS year, component, scope, round(kg_co2e::numeric, 2) AS kg_co2e,
       factor_value AS "kg CO2e per kWh"
FROM generate_series(2021, 2024) AS y,
     car.emissions(1000, 'kWh', 'electricity', make_timestamptz(y, 6, 1, 0, 0, 0, 'Europe/London'))
ORDER BY 1, 2;
SQL

echo "== monthly report for the sample sites (car.report_monthly)"
psql_demo -d "$DB" <<'SQL'
SELECT coalesce(to_char(month, 'YYYY-MM'), 'total') AS month, site, activity,
       round(sum(quantity)::numeric) AS quantity, unit,
       round(sum(kg_co2e)::numeric) AS "kg CO2e",
       round(sum(scope1_kg_co2e)::numeric) AS "scope 1",
       round(sum(scope2_kg_co2e)::numeric) AS "scope 2",
       round(sum(scope3_kg_co2e)::numeric) AS "scope 3",
       sum(days_with_data) AS days,
       string_agg(DISTINCT factor_years, ', ') AS factors
FROM car.report_monthly
WHERE organisation = 'University of Cambridge' AND site = 'UCam b0'
GROUP BY GROUPING SETS ((month, site, activity, unit), (site, activity, unit))
ORDER BY month NULLS LAST, site, activity;
SQL

cat <<EOF2

The demo server is running; pg_cron refreshes car.emission_daily every 5 minutes.
Connect with:
    runuser -u postgres -- psql -h $DEMO -p $PORT $DB
Stop it with:  make demo-stop
EOF2
