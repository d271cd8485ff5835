#!/usr/bin/env bash
# Crash tests of the background worker (TAP).  A private server with car
# preloaded and a test web server; a backfill is interrupted by kill -9 of a
# fetcher while it downloads, of one while it loads, and by a restart of the
# web server; every month must end up loaded exactly once.
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_CRASH_PORT:-$(free_ports 1)}
HTTP_PORT=${CAR_CRASH_HTTP_PORT:-$(free_ports 1)}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
sql() { as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d postgres -c "$1" 2>/dev/null; }
wait_for() { # query timeout
	local i
	for i in $(seq $(($2 * 5))); do [ "$(sql "$1")" = t ] && return 0; sleep 0.2; done
	return 1
}
http_start() { # and wait (at most 20 s) until it answers, however slow the machine
	python3 "$ROOT/test/http_server.py" --port "$HTTP_PORT" --dir "$W/http" &
	HTTP_PID=$!
	local i
	for i in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/_stats" >/dev/null && return 0; sleep 0.2; done
	return 1
}
ctl() { curl -sf "http://127.0.0.1:$HTTP_PORT/_control?$1" >/dev/null; }

rm -rf "$W"
mkdir -p "$W/http"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = 'postgres'
car.allowed_hosts = '127.0.0.1' # the test web server (a loopback address, refused unless listed)
car.retry_delay = 1
car.max_parallel_fetches = 2
restart_after_crash = on
CONF
start_private_server "$W"
http_start
trap 'kill $HTTP_PID 2>/dev/null; as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1' EXIT

sql "CREATE EXTENSION car"
sql "SELECT car.grant_roles()" >/dev/null # the worker acts as car.worker_role
# added disabled in the same transaction: only the backfill's months are fetched
sql "SELECT car.add_source('archive', 'http://127.0.0.1:$HTTP_PORT/eCMS/Files/MOJ/ministryofjustice_{mon}-{yyyy}.csv', 'template', 'ecodriver', '{\"org\": \"A\"}', '1 day'); UPDATE car.source SET enabled = false" >/dev/null
# every month's file once first, so that later fetches are quick to serve
ctl "latency_ms=1500"
sql "SELECT car.backfill('archive', '2022-01-01', '2022-12-01')" >/dev/null

# 1. kill -9 a fetcher in the middle of a download
if wait_for "SELECT count(*) > 0 FROM car.worker_status WHERE role = 'fetcher' AND state = 'fetching'" 30; then
	pid=$(sql "SELECT pid FROM car.worker_status WHERE role = 'fetcher' AND state = 'fetching' LIMIT 1")
	kill -9 "$pid"
	ok 0 "killed fetcher $pid with SIGKILL while it was downloading"
else
	ok 1 "a fetcher was seen downloading"
fi
wait_for "SELECT true" 60
ok $? "the server restarted after the crash"

# 2. restart the web server in the middle of the backfill
sleep 2
kill "$HTTP_PID"
sleep 2
http_start
ok $? "restarted the web server mid-backfill"
ctl "latency_ms=300"

# 3. restart PostgreSQL itself mid-backfill
as_postgres "$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -m fast -w restart >/dev/null
ok $? "restarted PostgreSQL mid-backfill"

# 4. kill -9 a fetcher while it loads (large files make the load take a while)
ctl "latency_ms=0"
killed_loading=1
for _ in $(seq 200); do
	pid=$(sql "SELECT pid FROM car.worker_status WHERE role = 'fetcher' AND state = 'loading' LIMIT 1")
	if [ -n "$pid" ]; then
		kill -9 "$pid" && killed_loading=0
		break
	fi
	sleep 0.02
done
echo "# killed a fetcher while loading: $([ $killed_loading = 0 ] && echo yes || echo "no (loads too quick to catch)")"
wait_for "SELECT true" 60

# the backfill completes: every month present exactly once
wait_for "SELECT count(*) = 12 AND bool_and(state = 'done') FROM car.dataset" 180
ok $? "all 12 months fetched and loaded after the crashes and the restart"
sql "SELECT uri, state, attempts, last_error FROM car.dataset WHERE state <> 'done'" | sed 's/^/# /'
ok "$([ "$(sql "SELECT count(*) FROM car.source_file")" = 12 ] && echo 0 || echo 1)" "12 files landed, none twice"
expected=$(cat "$W"/http/ministryofjustice_*-2022.totals.csv | awk -F, '$1 !~ /^site|^\(/ { n += $3 } END { print n }')
got=$(sql "SELECT count(*) FROM car.reading")
ok "$([ "$expected" = "$got" ] && echo 0 || echo 1)" "readings present exactly once ($got, generator says $expected)"
dups=$(sql "SELECT count(*) FROM (SELECT meter_id, ts FROM car.reading GROUP BY 1, 2 HAVING count(*) > 1) d")
ok "$([ "$dups" = 0 ] && echo 0 || echo 1)" "no (meter, ts) twice"
echo "1..$n"
