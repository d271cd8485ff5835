#!/usr/bin/env bash
# make demo: install what is missing, build and install car (scripts/install.sh),
# start a private PostgreSQL 15 server (pg_cron and car preloaded), make the
# demo database with scripts/demo.sql (the bundled official factors, the
# sample meter data, car.refresh(), the roles, the pg_cron jobs), and print
# the monthly report.  Safe to run again: it reuses the server, updates car
# in the database (ALTER EXTENSION car UPDATE) and loads nothing twice.
# The Docker image (docker/) runs the same install.sh and demo.sql.
#
# Where the server lives: see demo_dir in scripts/common.sh.  By default a
# folder of its own in the postgres user's home (/var/lib/postgresql/car-demo/
# <clone>-<hash>), which that user can reach whatever the permissions of the
# clone's folders; the clone gets a link to it, .demo.  CAR_DEMO_DIR names
# another folder, CAR_DEMO_PORT another port (default 54329; the server
# listens on its own socket only, so ports of other servers do not matter).
#
#   scripts/demo.sh          make demo
#   scripts/demo.sh where    print the server's folder
#   scripts/demo.sh stop     make demo-stop: stop the server
#   scripts/demo.sh clean    make demo-clean: stop it and remove its folder and
#                            the .demo link (car stays installed: make uninstall)
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

DEMO=$(demo_dir)
PORT=${CAR_DEMO_PORT:-54329}
DB=car_demo

stop_server() {
	if [ -f "$DEMO/data/postmaster.pid" ]; then
		as_postgres "$PGBIN/pg_ctl" -D "$DEMO/data" -m fast -w stop >/dev/null && echo "stopped the demo server in $DEMO"
	else
		echo "the demo server is not running ($DEMO)"
	fi
}

case ${1:-run} in
where)
	echo "$DEMO"
	exit 0
	;;
stop)
	stop_server
	exit 0
	;;
clean)
	stop_server
	# only what the demo made: its server folder, and the link to it in this clone
	if [ -f "$DEMO/data/PG_VERSION" ] || [ -f "$DEMO/car-demo" ]; then
		rm -rf "$DEMO"
		echo "removed $DEMO"
	fi
	[ -L "$ROOT/.demo" ] && rm -f "$ROOT/.demo" && echo "removed the link $ROOT/.demo"
	rmdir "$(dirname "$DEMO")" 2>/dev/null || true
	echo "car itself stays installed in PostgreSQL: make uninstall removes it"
	exit 0
	;;
run) ;;
*)
	echo "usage: $0 [where|stop|clean]" >&2
	exit 2
	;;
esac

"$ROOT/scripts/install.sh"
source "$ROOT/scripts/common.sh" # pg_config exists now

# the server's folder, reachable by postgres: a folder of the demo's own
parent=$(dirname "$DEMO")
[ -d "$parent" ] || install -d -m 755 -o postgres -g postgres "$parent"
[ -f "$DEMO/data/PG_VERSION" ] || echo "== creating a server in $DEMO/data"
init_private_server "$DEMO" "$PORT" <<CONF
shared_preload_libraries = 'pg_cron,car'
cron.database_name = '$DB'
cron.use_background_workers = on
car.database = '$DB'
max_worker_processes = 32
timezone = 'Europe/London'
CONF
touch "$DEMO/car-demo" # marks the folder as the demo's, for make demo-clean
if [ -z "${CAR_DEMO_DIR:-}" ] && [ "$DEMO" != "$ROOT/.demo" ]; then
	ln -sfn "$DEMO" "$ROOT/.demo"
fi
echo "== starting the server (log: $DEMO/server.log)"
start_private_server "$DEMO"

psql_demo() { as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO" -p "$PORT" "$@"; }

psql_demo -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
	psql_demo -d postgres -c "CREATE DATABASE $DB"

# An older car in the database is updated, as a DBA would (ALTER EXTENSION car
# UPDATE).  The version being developed is not released yet: when its script
# changed since this database got it, the extension is made again (the
# demo's data is reloaded below).
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/car.control")
installed=$(psql_demo -d "$DB" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'car'")
sql_sum=$(sha256sum "$ROOT/car--$version.sql" | cut -c1-64)
if [ -n "$installed" ] && [ "$installed" != "$version" ]; then
	echo "== updating car $installed to $version in $DB (ALTER EXTENSION car UPDATE)"
	psql_demo -d "$DB" -c "ALTER EXTENSION car UPDATE"
elif [ -n "$installed" ] && [ -f "$DEMO/car-sql.sha256" ] && [ "$(cat "$DEMO/car-sql.sha256")" != "$sql_sum" ]; then
	echo "== car $version's SQL script changed: recreating the extension in $DB"
	psql_demo -d "$DB" -c "DROP EXTENSION IF EXISTS car CASCADE"
fi

# the sample files, where the server can read them (not inside the clone,
# whose folders the postgres user may not reach)
install -d -m 755 -o postgres -g postgres "$DEMO/sample"
install -m 644 -o postgres -g postgres "$ROOT"/data/sample/*.csv "$DEMO/sample/"
psql_demo -d "$DB" -v sample="$DEMO/sample" <"$ROOT/scripts/demo.sql"
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
Its data lives in $DEMO (the folder .demo of this clone links to it).
Connect with:
    runuser -u postgres -- psql -h $DEMO -p $PORT $DB
Stop it with:  make demo-stop        Remove it with:  make demo-clean
EOF2
