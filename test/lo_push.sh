#!/usr/bin/env bash
# A large file through the large-object path (TAP), issue 16 point 7.
# On a private server: test/gen/longfile.py writes a long-layout meter file
# of CAR_LO_TEST_MB (default 200) MB into the work folder; psql streams it in
# with \lo_import and calls car.push_lo, in one transaction that unlinks the
# large object again.  Then: the readings' count and sum are the generator's,
# the file's record (size, SHA-256) and its landed bytes are the file's, a
# retry loads nothing, and pg_dump and pg_restore keep the landed bytes.  The
# backend's private memory (RssAnon, sampled from /proc every 10 ms) must stay
# well below the file's size: the figures themselves are bench/'s (section
# lo, with a 2 GB file), not asserted here.
#
#	test/lo_push.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_LO_PORT:-$(free_ports 1)}
MB=${CAR_LO_TEST_MB:-200}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { if [ "$2" = "$3" ]; then ok 0 "$1 ($2)"; else ok 1 "$1"; echo "#   got: '$2'"; echo "#   expected: '$3'"; fi; }
sql() { local db=$1; shift; as_postgres "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$W/srv" -p "$PORT" -d "$db" "$@" 2>&1; }

rm -rf "$W"
mkdir -p "$W"
chmod 777 "$W"
init_private_server "$W/srv" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = 'postgres'
timezone = 'UTC'
shared_buffers = '128MB'
log_min_messages = warning
CONF
start_private_server "$W/srv"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/srv/data" -m fast stop >/dev/null 2>&1' EXIT
as_postgres "$PGBIN/createdb" -h "$W/srv" -p "$PORT" lo
out=$(sql lo <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION car;
SELECT (car.add_source('big', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "Big"}')).name;
SQL
)
is "a server with car and a push source of long files" "$out" "big"

python3 "$ROOT/test/gen/longfile.py" --out "$W/big.csv" --bytes $((MB * 1000000)) --totals "$W/big.totals"
ok $? "test/gen/longfile.py wrote a file of $MB MB"
chmod a+r "$W/big.csv" "$W/big.totals"
total() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$W/big.totals"; }
size=$(stat -c %s "$W/big.csv")
sha=$(sha256sum "$W/big.csv" | cut -d' ' -f1)
echo "# $size bytes, $(total readings) readings of $(total meters) meters, $(total lines) lines"

# the push, in a session whose backend is watched: its pid out first, then it waits for the sampler
cat >"$W/push.sql" <<SQL
\set ON_ERROR_STOP 1
\pset tuples_only on
\pset format unaligned
\o $W/pid
SELECT pg_backend_pid();
\o
\! while [ ! -e $W/go ]; do sleep 0.05; done
BEGIN;
\lo_import $W/big.csv
\o $W/push.out
SELECT id, bytes, sha256, rows_loaded, rows_rejected, metadata->>'line_endings' FROM car.push_lo('big', 'big.csv', :LASTOID);
\o
\lo_unlink :LASTOID
COMMIT;
\! touch $W/stop
SQL
rm -f "$W/pid" "$W/go" "$W/stop"
as_postgres "$PGBIN/psql" -X -q -h "$W/srv" -p "$PORT" -d lo -f "$W/push.sql" >"$W/push.log" 2>&1 &
psql_pid=$!
for _ in $(seq 200); do [ -s "$W/pid" ] && break; sleep 0.1; done
pid=$(tr -d ' \n' <"$W/pid")
rss() { local k v _; while read -r k v _; do [ "$k" = RssAnon: ] && { echo "$v"; return; }; done </proc/"$1"/status; echo 0; }
before=$(rss "$pid")
peak=$before
t0=$(date +%s.%N)
touch "$W/go"
while [ ! -e "$W/stop" ] && kill -0 "$psql_pid" 2>/dev/null; do
	v=$(rss "$pid" 2>/dev/null || echo 0)
	[ "${v:-0}" -gt "$peak" ] && peak=$v
	sleep 0.01
done
wait "$psql_pid"
rc=$?
t1=$(date +%s.%N)
sed 's/^/# psql: /' "$W/push.log" | head -20
ok $rc "\\lo_import, car.push_lo and \\lo_unlink in one transaction"
IFS='|' read -r file_id bytes file_sha loaded rejected endings <"$W/push.out"
is "car.push_lo's row: size, SHA-256, readings loaded, rows rejected, line endings" \
	"$bytes $file_sha $loaded $rejected $endings" "$size $sha $(total readings) 0 CRLF"
is "the readings stored: count, meters and the sum (in tenths of a kWh) the generator wrote" \
	"$(sql lo -c "SELECT count(*) || ' ' || count(DISTINCT meter_id) || ' ' || (sum(quantity * 10))::numeric(20, 0) FROM car.reading")" \
	"$(total readings) $(total meters) $(total kwh_tenths)"
pieces=$(((size + 1048575) / 1048576))
is "the landed bytes: $pieces pieces of 1 MB (the last shorter), the file's length, every piece's place" \
	"$(sql lo -c "SELECT count(*) || ' ' || sum(length(bytes)) || ' ' || (max(seq) = count(*) - 1)::text || ' ' || count(*) FILTER (WHERE length(bytes) = 1048576) FROM car.source_file_chunk WHERE file_id = $file_id")" \
	"$pieces $size true $((size / 1048576))"
# the bytes themselves, piece by piece, against the file's pieces (md5 of each, in order)
split -b 1048576 -d -a 5 "$W/big.csv" "$W/piece."
for f in "$W"/piece.*; do md5sum "$f" | cut -d' ' -f1; done >"$W/pieces.md5"
rm -f "$W"/piece.*
sql lo -c "SELECT md5(bytes) FROM car.source_file_chunk WHERE file_id = $file_id ORDER BY seq" >"$W/landed.md5"
cmp -s "$W/pieces.md5" "$W/landed.md5"
ok $? "every landed piece holds the file's bytes at its place (md5 of each of the $pieces pieces)"
after=$(rss "$pid" 2>/dev/null || echo "$peak")
growth_kb=$((peak - before))
echo "# backend RssAnon: $before kB before, peak $peak kB while pushing: $((growth_kb / 1024)) MB beyond, for a $((size / 1048576)) MB file, in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
[ "$growth_kb" -gt 0 ] && [ "$((growth_kb * 1024))" -lt "$((size / 2))" ]
ok $? "the backend's private memory grew by well under the file's size while it was pushed (streamed, not held)"

# a retry: the same bytes imported again load nothing, and give the first file back
out=$(sql lo <<SQL
BEGIN;
\lo_import $W/big.csv
SELECT f.id FROM car.push_lo('big', 'big-again.csv', :LASTOID) f;
\lo_unlink :LASTOID
COMMIT;
SELECT count(*) FROM car.reading;
SELECT count(*) FROM car.source_file;
SQL
)
is "a retry gives the first file back; no reading, no file added" \
	"$(echo "$out" | grep -v -e '^lo_' -e 'NOTICE' | tr '\n' ' ')" "$file_id $(total readings) 1 "

# pg_dump and pg_restore keep the landed bytes
as_postgres "$PGBIN/pg_dump" -h "$W/srv" -p "$PORT" -Fc -Z1 -f "$W/lo.dump" lo 2>"$W/dump.err"
rc=$?
# (pg_dump warns that car.factor_set refers to itself; server.sh says why that is harmless)
[ $rc = 0 ] || sed 's/^/# /' "$W/dump.err"
ok $rc "pg_dump -Fc"
as_postgres "$PGBIN/createdb" -h "$W/srv" -p "$PORT" restored
as_postgres "$PGBIN/pg_restore" -h "$W/srv" -p "$PORT" -d restored --exit-on-error "$W/lo.dump" 2>"$W/restore.err"
rc=$?
sed 's/^/# /' "$W/restore.err" | head -10
ok $rc "pg_restore into a fresh database"
sql restored -c "SELECT md5(bytes) FROM car.source_file_chunk WHERE file_id = $file_id ORDER BY seq" >"$W/restored.md5"
cmp -s "$W/pieces.md5" "$W/restored.md5"
ok $? "the restored database holds the file's bytes, piece by piece"
is "and its record and readings" \
	"$(sql restored -c "SELECT f.bytes || ' ' || f.sha256 || ' ' || (SELECT count(*) FROM car.reading) FROM car.source_file f WHERE f.id = $file_id")" \
	"$size $sha $(total readings)"

# car.maintenance() drops the bytes of files older than car.keep_raw: their pieces go, their record stays
is "car.maintenance() with car.keep_raw = 0 drops the file's $pieces pieces, keeps its record and readings" \
	"$(sql lo -c "SET car.keep_raw = '0 seconds'" -c "SELECT car.maintenance()->>'raw_files_dropped'" \
		-c "SELECT (SELECT count(*) FROM car.source_file_chunk) || ' ' || (SELECT count(*) FROM car.source_file) || ' ' || (SELECT count(*) FROM car.reading)" | tr '\n' ' ')" \
	"1 0 1 $(total readings) "
rm -f "$W/big.csv" "$W/lo.dump"
echo "1..$n"
