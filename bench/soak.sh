#!/usr/bin/env bash
# The soak under load (issue 17, point 4): not in CI, not in `make test`.
# Started by `make soak` (bench/run.sh's section soak) or alone:
#
#	bench/soak.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
#
# SOAK_SECONDS (default 600) and SOAK_CLIENTS (default 32) set the load.
# It starts, all its own and on this machine only:
#   - a private PostgreSQL 15 (a copy of this machine's, with car built from
#     this tree: make_temp_install) on a Unix socket, pg_cron and car
#     preloaded, car's background worker in database soak, car-refresh
#     scheduled with pg_cron;
#   - test/http_server.py on 127.0.0.1, whose eCMS index page the worker
#     polls every second while bench/soak.py publishes a new month on it
#     every few seconds;
# then bench/soak.py runs the clients and checks the outcome (see there).
# Prints key|value lines; exits non-zero when a check fails.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
SECONDS_=${SOAK_SECONDS:-600}
CLIENTS=${SOAK_CLIENTS:-32}
read -r -d '' PORT HTTP_PORT < <(free_ports 2) || true

rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"
chown postgres "$W"
PGC=$(make_temp_install "$W/inst")
PGBIN=$("$PGC" --bindir)
# every client holds three sessions (ingest, reader, refresh and admin work)
init_private_server "$W/pg" "$PORT" <<CONF
shared_preload_libraries = 'pg_cron,car'
cron.database_name = 'soak'
cron.use_background_workers = on
car.database = 'soak'
car.allowed_hosts = '127.0.0.1' # test/http_server.py (a loopback address, refused unless listed)
car.retry_delay = 1
max_connections = $((3 * CLIENTS + 30))
max_worker_processes = 32
shared_buffers = '512MB'
work_mem = '16MB'
max_wal_size = '4GB'
max_parallel_workers_per_gather = 0
jit = off
fsync = off
timezone = 'UTC'
# a backtrace in the server log if a statement runs out of stack (as car.refresh() once did here)
backtrace_functions = 'check_stack_depth'
CONF
start_private_server "$W/pg"
HTTP_PID=
stop_all() {
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
	as_postgres "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
}
trap stop_all EXIT
as_postgres "$PGBIN/createdb" -h "$W/pg" -p "$PORT" soak

mkdir -p "$W/http"
chown postgres "$W/http"
python3 "$ROOT/test/http_server.py" --port "$HTTP_PORT" --dir "$W/http" &
HTTP_PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$HTTP_PORT/_stats" >/dev/null && break; sleep 0.1; done

# the JWT keys: an HS256 secret for the tokens of the run, another one for
# tokens signed with a key car does not hold (refused); tokens are made by
# test/jwt/mktoken.py with the openssl command line, never by car
K=$W/keys
mkdir -p "$K"
openssl rand -hex 32 | tr -d '\n' >"$K/hs.key"
openssl rand -hex 32 | tr -d '\n' >"$K/other.key"
chmod -R a+rX "$K"
# the real meter files (test/data/SOURCES.md), copied where the clients read them
mkdir -p "$W/real"
cp "$FIXTURES"/cambridge_estates/UCam_Building_*.csv "$W/real/"

rc=0
echo "loadavg_start|$(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$ROOT/bench/soak.py" --pghost "$W/pg" --pgport "$PORT" --db soak \
	--http-port "$HTTP_PORT" --http-dir "$W/http" --real "$W/real" --keys "$K" \
	--mktoken "$ROOT/test/jwt/mktoken.py" --seconds "$SECONDS_" --clients "$CLIENTS" \
	--samples-csv "$W/memory.csv" || rc=$?
# a statement that ran out of stack: where (its backtrace), from the server log
if grep -q "stack depth limit exceeded" "$W/pg/server.log"; then
	grep -A 40 "stack depth limit exceeded" "$W/pg/server.log" | grep -v -E "STATEMENT|QUERY|SQL statement" |
		head -n 60 | cut -c1-300 | sed 's/^/server_log|/'
fi
# a backend that crashed (or a PANIC) fails the soak, whatever the clients saw
crashes=$(grep -c -E "terminated by signal|PANIC:" "$W/pg/server.log" || true)
echo "server_crashes|$crashes"
if [ "$crashes" != 0 ]; then
	grep -E "terminated by signal|PANIC:" "$W/pg/server.log" | head -n 5 | sed 's/^/server_log|/'
	rc=1
fi
echo "loadavg_end|$(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
