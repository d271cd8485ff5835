#!/usr/bin/env bash
# Cache invalidation under load (TAP).  For CAR_STRESS_SECONDS (default 35)
# on a private server, at once, each in a session of its own:
#   two writers inserting readings (100 a transaction), a pusher landing
#   files with car.push, a refresher (car.refresh), a calculator (car.co2e
#   over the readings);
#   and against them: UPDATE car.meter, ANALYZE and GRANT on car's tables,
#   edits of car.unit (the factor cache), and transactions making hundreds of
#   temporary tables, which overflow the shared invalidation queue so that
#   every backend must drop all its caches.
# Then: no server process was terminated by a signal (the server log), and
# every reading the writers and the pusher committed is there, once.
#
#	test/cache_stress.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_STRESS_PORT:-$(free_ports 1)}
SECONDS_RUN=${CAR_STRESS_SECONDS:-35}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { if [ "$2" = "$3" ]; then ok 0 "$1 ($2)"; else ok 1 "$1"; echo "#   got: '$2'"; echo "#   expected: '$3'"; fi; }
sql() { as_postgres "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d stress "$@" 2>&1; }

rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = 'postgres'
timezone = 'UTC'
max_connections = 40
log_min_messages = warning
CONF
start_private_server "$W"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1' EXIT
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" stress
out=$(sql <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION car;
SELECT car.load_factors(2022) IS NOT NULL;
SELECT car.grant_roles() IS NOT NULL;
INSERT INTO car.site (name, org) SELECT 'S' || i, 'O' FROM generate_series(1, 20) i;
INSERT INTO car.meter (site_id, name, activity, unit) SELECT s.id, s.name || ' m' || j, 'electricity', 'kWh'
FROM car.site s, generate_series(1, 5) j;
SELECT car.ensure_partitions('2022-01-01', '2022-12-31') >= 0;
SELECT car.add_source('stress', NULL, 'push', 'long', '{"site": "Pushed", "meter": "pushed electricity", "timezone": "UTC", "activity": "electricity", "org": "O"}') IS NOT NULL;
CREATE TABLE public.done (who text, n bigint);
SQL
)
rc=$?
echo "$out" | grep ERROR | sed 's/^/# /'
ok $rc "a server with car, 100 meters, the 2022 factors and a push source"

deadline=$(sql -c "SELECT extract(epoch FROM now() + interval '$SECONDS_RUN seconds')")
loop() { # name, the body of a loop run until the deadline (one transaction a round), what to record as done
	sql -c "DO \$\$ DECLARE i bigint := 0; BEGIN
	            WHILE extract(epoch FROM clock_timestamp()) < $deadline LOOP
	                i := i + 1;
	                $2
	                COMMIT;
	            END LOOP;
	            INSERT INTO public.done VALUES ('$1', i);
	        END \$\$" >"$W/$1.out" 2>&1
}
# writer k owns meters with id % 2 = k; round i writes 100 readings at minute i of 2022
writer() {
	loop "writer$1" "INSERT INTO car.reading (meter_id, ts, quantity)
	                 SELECT m.id, timestamptz '2022-02-01 00:00+00' + i * interval '1 minute', 1
	                 FROM car.meter m WHERE m.id % 2 = $1 AND m.name NOT LIKE 'pushed%';"
}
pids=()
writer 0 & pids+=($!)
writer 1 & pids+=($!)
loop pusher "PERFORM car.push('stress', 'p' || i || '.csv', convert_to('datetime,kWh' || chr(10) ||
                 to_char(timestamptz '2022-03-01 00:00+00' + i * interval '1 hour', 'YYYY-MM-DD HH24:MI:SS') || ',2' || chr(10), 'UTF8'));" &
pids+=($!)
loop refresher "PERFORM car.refresh();" & pids+=($!)
loop calculator "PERFORM sum(car.co2e(quantity, 'kWh', 'electricity', ts)) FROM car.reading WHERE ts < '2022-02-02';" &
pids+=($!)
loop meters "UPDATE car.meter SET external_ref = 'ref ' || i WHERE id = 1 + i % 100;" & pids+=($!)
loop analyze "EXECUTE 'ANALYZE car.meter'; EXECUTE 'ANALYZE car.unit'; EXECUTE 'ANALYZE car.factor_set';" & pids+=($!)
loop grants "EXECUTE 'GRANT SELECT ON car.meter TO car_reader'; EXECUTE 'REVOKE SELECT ON car.unit FROM car_reader';
             EXECUTE 'GRANT SELECT ON car.unit TO car_reader';" & pids+=($!)
loop units "UPDATE car.unit SET aliases = aliases WHERE name = 'kWh';" & pids+=($!)
loop overflow "FOR k IN 1 .. 300 LOOP EXECUTE format('CREATE TEMP TABLE t%s (x int) ON COMMIT DROP', k); END LOOP;" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

for f in "$W"/*.out; do grep -q ERROR "$f" && { echo "# $(basename "$f"):"; grep ERROR "$f" | head -3 | sed 's/^/#   /'; }; done
is "every session ran to the deadline" "$(sql -c "SELECT count(*) FROM public.done")" "10"
sql -c "SELECT who || ': ' || n || ' rounds' FROM public.done ORDER BY who" | sed 's/^/# /'
signals=$(grep -cE 'terminated by signal|was terminated|server process .* exited' "$W/server.log")
is "no server process was terminated by a signal (server log)" "$signals" "0"
[ "$signals" = 0 ] || grep -E 'terminated by signal|was terminated' "$W/server.log" | head -5 | sed 's/^/# /'
want=$(sql -c "SELECT sum(n) * 50 FROM public.done WHERE who LIKE 'writer%'")
is "every reading the writers committed is there, once (50 meters x their rounds)" \
	"$(sql -c "SELECT count(*) || ' ' || count(DISTINCT (meter_id, ts)) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name NOT LIKE 'pushed%'")" "$want $want"
want=$(sql -c "SELECT n FROM public.done WHERE who = 'pusher'")
is "every pushed file's reading is there, once" \
	"$(sql -c "SELECT count(*) || ' ' || (SELECT count(*) FROM car.source_file) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'pushed electricity'")" "$want $want"
echo "1..$n"
