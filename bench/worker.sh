#!/usr/bin/env bash
# Background-worker benchmark (issue 4), run by bench/run.sh on its server.
#  1. a 36-month backfill with car.max_parallel_fetches = 1 and = 4, the web
#     server adding 200 ms to every file;
#  2. worker ingest throughput against car.push of the same bytes.
# Prints key|value lines.
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=$1 PORT=$2 DB=$3
HTTP_PORT=${CAR_BENCH_HTTP_PORT:-$(free_ports 1)}
sql() { as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d "$DB" -c "$1"; }
ctl() { curl -sf "http://127.0.0.1:$HTTP_PORT/_control?$1" >/dev/null; }
now() { date +%s.%N; }
mkdir -p "$W/http"
python3 "$ROOT/test/http_server.py" --port "$HTTP_PORT" --dir "$W/http" &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$HTTP_PORT/_stats" >/dev/null && break; sleep 0.1; done

sql "SELECT car.add_source('archive', 'http://127.0.0.1:$HTTP_PORT/eCMS/Files/MOJ/ministryofjustice_{mon}-{yyyy}.csv', 'template', 'ecodriver', '{}', '1 day'); UPDATE car.source SET enabled = false WHERE name = 'archive'" >/dev/null
reset() { sql "TRUNCATE car.reading; DELETE FROM car.dataset; DELETE FROM car.source_file" >/dev/null; }
backfill() { # seconds for the 36 months
	local t0 t1
	reset
	t0=$(now)
	# queue, then wait in one session (polling with new psql processes would steal the CPU measured)
	as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d "$DB" >/dev/null <<'SQL'
SELECT car.backfill('archive', '2021-01-01', '2023-12-01');
DO $$ BEGIN
    WHILE (SELECT count(*) FILTER (WHERE state = 'done') FROM car.dataset) < 36 LOOP
        PERFORM pg_sleep(0.02);
    END LOOP;
END $$;
SQL
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# warm: make every month's file once (the generator is slow), then time
ctl "sites=2"
backfill >/dev/null
ctl "latency_ms=200"
for p in 1 4; do
	sql "ALTER SYSTEM SET car.max_parallel_fetches = $p" >/dev/null
	sql "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	echo "backfill_p$p|$(backfill)"
done
ctl "latency_ms=0"

# throughput: bigger files (40 sites: about 120,000 readings a month), one fetcher
ctl "sites=40"
sql "ALTER SYSTEM SET car.max_parallel_fetches = 1" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
sleep 1
backfill >/dev/null
echo "worker_readings|$(sql "SELECT count(*) FROM car.reading")"
echo "worker_seconds|$(backfill)"
reset
sql "SELECT car.add_source('pushed', NULL, 'push', 'ecodriver', '{}')" >/dev/null
chmod a+rx "$W/http"
chmod a+r "$W"/http/*.csv
# one session, one push (and commit) per file, as a client sending them would
for f in "$W"/http/ministryofjustice_*-202[123]_s40.csv; do
	echo "SELECT car.push('pushed', '$(basename "$f")', pg_read_binary_file('$f')) IS NOT NULL;"
done >"$W/push.sql"
t0=$(now)
as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d "$DB" -f "$W/push.sql" >/dev/null
t1=$(now)
echo "push_readings|$(sql "SELECT count(*) FROM car.reading")"
echo "push_seconds|$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
sql "ALTER SYSTEM RESET car.max_parallel_fetches" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
