#!/usr/bin/env bash
# Large files (issue 16, point 7), run by bench/run.sh: a long-layout meter
# file of BENCH_LO_MB (default 2000) MB from test/gen/longfile.py, streamed in
# by psql and loaded two ways on the same server, one after the other:
#   (a) \lo_import, then car.push_lo (checks every row, lands the raw bytes,
#       writes the readings), in one transaction that unlinks the large object;
#   (b) \copy of the same file into a plain table of its five columns: what
#       PostgreSQL's own COPY does with the same bytes, nothing checked,
#       nothing landed (the baseline).
# Then car.push(bytea) and car.push_lo of a 200 MB file of the same kind, the
# bytea read server-side (pg_read_binary_file).  For each, the backend's
# private memory (RssAnon, sampled every 10 ms from /proc) at its peak, beyond
# what it held before.  Prints "key|value" lines.
#
#	bench/lo.sh WORKDIR PORT DB
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=$1 PORT=$2 DB=$3
MB=${BENCH_LO_MB:-2000}
psql_() { as_postgres "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d "$DB" "$@"; }
rss() { local k v _; while read -r k v _; do [ "$k" = RssAnon: ] && { echo "$v"; return; }; done </proc/"$1"/status; echo 0; }

# Run the psql script $1 (whose first statement writes its backend's pid to
# $W/pid, then waits for $W/go) with its backend watched; prints "before peak" in kB.
watched() {
	rm -f "$W/pid" "$W/go" "$W/stop"
	as_postgres "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d "$DB" -f "$1" >"$1.out" 2>&1 &
	local psql_pid=$! pid before peak v
	for _ in $(seq 600); do [ -s "$W/pid" ] && break; sleep 0.1; done
	pid=$(tr -d ' \n' <"$W/pid")
	before=$(rss "$pid")
	peak=$before
	touch "$W/go"
	while kill -0 "$psql_pid" 2>/dev/null; do
		v=$(rss "$pid" 2>/dev/null || echo 0)
		[ "${v:-0}" -gt "$peak" ] && peak=$v
		sleep 0.01
	done
	wait "$psql_pid" || { cat "$1.out" >&2; return 1; }
	echo "$before $peak"
}
# the head of every watched script
head_sql() {
	cat <<SQL
\\o $W/pid
SELECT pg_backend_pid();
\\o
\\! while [ ! -e $W/go ]; do sleep 0.05; done
SQL
}

psql_ <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS car;
SELECT car.add_source('lo-bench', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "Bench"}');
DROP TABLE IF EXISTS lo_copy;
CREATE TABLE lo_copy (site text, meter text, ts timestamptz, kwh float8, note text);
SQL

python3 "$ROOT/test/gen/longfile.py" --out "$W/lo.csv" --bytes $((MB * 1000000)) --totals "$W/lo.totals"
python3 "$ROOT/test/gen/longfile.py" --out "$W/lo200.csv" --bytes 200000000 --totals "$W/lo200.totals"
chmod a+r "$W"/lo*.csv "$W"/lo*.totals
total() { awk -F'|' -v k="$2" '$1 == k { print $2 }' "$1"; }
echo "lo_bytes|$(stat -c %s "$W/lo.csv")"
echo "lo_readings|$(total "$W/lo.totals" readings)"

# (a) \lo_import + car.push_lo
{
	head_sql
	cat <<SQL
BEGIN;
SELECT 'import_start|' || extract(epoch FROM clock_timestamp());
\\lo_import $W/lo.csv
SELECT 'push_start|' || extract(epoch FROM clock_timestamp());
SELECT 'pushed|' || rows_loaded || '|' || bytes FROM car.push_lo('lo-bench', 'lo.csv', :LASTOID);
SELECT 'push_end|' || extract(epoch FROM clock_timestamp());
\\lo_unlink :LASTOID
COMMIT;
SELECT 'commit_end|' || extract(epoch FROM clock_timestamp());
SQL
} >"$W/a.sql"
read -r before peak < <(watched "$W/a.sql")
t() { awk -F'|' -v k="$2" '$1 == k { print $2 }' "$1"; }
echo "lo_import_seconds|$(awk -v a="$(t "$W/a.sql.out" import_start)" -v b="$(t "$W/a.sql.out" push_start)" 'BEGIN { printf "%.1f", b - a }')"
echo "lo_push_seconds|$(awk -v a="$(t "$W/a.sql.out" push_start)" -v b="$(t "$W/a.sql.out" push_end)" 'BEGIN { printf "%.1f", b - a }')"
echo "lo_total_seconds|$(awk -v a="$(t "$W/a.sql.out" import_start)" -v b="$(t "$W/a.sql.out" commit_end)" 'BEGIN { printf "%.1f", b - a }')"
echo "lo_rss_before_kb|$before"
echo "lo_rss_peak_kb|$peak"
echo "lo_rows|$(awk -F'|' '$1 == "pushed" { print $2 }' "$W/a.sql.out")"
check=$(psql_ -c "SELECT count(*) || '|' || (sum(quantity * 10))::numeric(20, 0) FROM car.reading")
[ "$check" = "$(total "$W/lo.totals" readings)|$(total "$W/lo.totals" kwh_tenths)" ] && echo "lo_readings_ok|yes" || echo "lo_readings_ok|no ($check)"
echo "lo_landed_bytes|$(psql_ -c "SELECT sum(length(bytes)) FROM car.source_file_chunk")"
psql_ -c "TRUNCATE car.reading" -c "DELETE FROM car.source_file" -c "CHECKPOINT" >/dev/null

# (b) \copy of the same file into a plain table
{
	head_sql
	cat <<SQL
SELECT 'copy_start|' || extract(epoch FROM clock_timestamp());
\\copy lo_copy FROM '$W/lo.csv' WITH (FORMAT csv, HEADER true)
SELECT 'copy_end|' || extract(epoch FROM clock_timestamp());
SQL
} >"$W/b.sql"
read -r before peak < <(watched "$W/b.sql")
echo "copy_seconds|$(awk -v a="$(t "$W/b.sql.out" copy_start)" -v b="$(t "$W/b.sql.out" copy_end)" 'BEGIN { printf "%.1f", b - a }')"
echo "copy_rss_before_kb|$before"
echo "copy_rss_peak_kb|$peak"
echo "copy_rows|$(psql_ -c "SELECT count(*) FROM lo_copy")"
psql_ -c "DROP TABLE lo_copy" -c "CHECKPOINT" >/dev/null
rm -f "$W/lo.csv"

# (c) car.push(bytea) and car.push_lo of a 200 MB file
echo "small_bytes|$(stat -c %s "$W/lo200.csv")"
{
	head_sql
	cat <<SQL
SELECT 'start|' || extract(epoch FROM clock_timestamp());
SELECT 'pushed|' || rows_loaded FROM car.push('lo-bench', 'lo200.csv', pg_read_binary_file('$W/lo200.csv'));
SELECT 'end|' || extract(epoch FROM clock_timestamp());
SQL
} >"$W/c.sql"
read -r before peak < <(watched "$W/c.sql")
echo "bytea_seconds|$(awk -v a="$(t "$W/c.sql.out" start)" -v b="$(t "$W/c.sql.out" end)" 'BEGIN { printf "%.1f", b - a }')"
echo "bytea_rss_before_kb|$before"
echo "bytea_rss_peak_kb|$peak"
psql_ -c "TRUNCATE car.reading" -c "DELETE FROM car.source_file" -c "CHECKPOINT" >/dev/null
{
	head_sql
	cat <<SQL
BEGIN;
\\lo_import $W/lo200.csv
SELECT 'start|' || extract(epoch FROM clock_timestamp());
SELECT 'pushed|' || rows_loaded FROM car.push_lo('lo-bench', 'lo200.csv', :LASTOID);
SELECT 'end|' || extract(epoch FROM clock_timestamp());
\\lo_unlink :LASTOID
COMMIT;
SQL
} >"$W/d.sql"
read -r before peak < <(watched "$W/d.sql")
echo "small_lo_seconds|$(awk -v a="$(t "$W/d.sql.out" start)" -v b="$(t "$W/d.sql.out" end)" 'BEGIN { printf "%.1f", b - a }')"
echo "small_lo_rss_before_kb|$before"
echo "small_lo_rss_peak_kb|$peak"
psql_ -c "TRUNCATE car.reading" -c "DELETE FROM car.source_file" -c "DELETE FROM car.source WHERE name = 'lo-bench'" >/dev/null
rm -f "$W/lo200.csv"
