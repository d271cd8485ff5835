#!/usr/bin/env bash
# Tests that need a server of their own (TAP):
#  - car.schedule() on a server without pg_cron fails saying how to install it;
#  - pg_dump then pg_restore into a fresh database keeps every site, meter,
#    reading, source, landed file and factor set, and the restored database
#    goes on working (refresh, push deduplication).
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_SERVER_TEST_PORT:-$(free_ports 1)}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
psql_db() { local db=$1; shift; as_postgres "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d "$db" "$@"; }

rm -rf "$W"
mkdir -p "$W"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = 'src'
timezone = 'UTC'
CONF
start_private_server "$W"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null 2>&1' EXIT
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" src

# 1. no pg_cron
out=$(psql_db src -c "CREATE EXTENSION car" -c "SELECT car.schedule()" 2>&1)
echo "$out" | sed 's/^/# /'
echo "$out" | grep -q 'car.schedule needs pg_cron, which is not loaded in this server'
ok $? "car.schedule() without pg_cron is refused"
echo "$out" | grep -q 'apt-get install postgresql-15-cron' && echo "$out" | grep -q 'shared_preload_libraries'
ok $? "the error says how to install and preload pg_cron"

# 2. a database with everything in it
cp "$FIXTURES"/cambridge_estates/UCam_Building_b0_electricity_2021.csv "$FIXTURES"/cambridge_estates/UCam_Building_b0_gas_2022.csv "$W/"
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/eco" --sites 3 --meters 2 --start 2022-10-25 --days 10 >/dev/null
chmod a+r "$W"/*.csv
psql_db src >/dev/null <<SQL
SET client_min_messages = warning;
SELECT car.load_factors(2021);
SELECT car.load_factors(2022);
SELECT car.add_source('b0-elec', NULL, 'push', 'long', '{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity", "org": "Cambridge"}');
SELECT car.add_source('b0-gas', NULL, 'push', 'long', '{"site": "UCam b0", "meter": "b0 gas", "timezone": "UTC", "activity": "natural_gas", "org": "Cambridge"}');
SELECT car.add_source('ecms', NULL, 'push', 'ecodriver', '{"org": "MoJ"}');
SELECT car.add_source('remote', 'http://127.0.0.1:1/data.csv', 'file', 'long', '{}', '1 day');
UPDATE car.source SET enabled = false WHERE name = 'remote';
SELECT car.push('b0-elec', 'e.csv', pg_read_binary_file('$W/UCam_Building_b0_electricity_2021.csv'));
SELECT car.push('b0-gas', 'g.csv', pg_read_binary_file('$W/UCam_Building_b0_gas_2022.csv'));
SELECT car.push('ecms', 'eco.csv', pg_read_binary_file('$W/eco.csv'));
UPDATE car.site SET floor_area_m2 = 2500 WHERE name = 'UCam b0';
SELECT car.refresh();
SELECT car.compact('2021-03-01');
SELECT car.compact('2022-06-01');
SQL
ok $? "source database: factors 2021-2022, three pushes, a remote source, refreshed, two months compacted"

summary() {
	psql_db "$1" <<'SQL'
SELECT 'sites', count(*), sum(coalesce(floor_area_m2, 0)) FROM car.site;
SELECT 'meters', count(*), string_agg(name || '/' || activity || '/' || unit, ',' ORDER BY name) FROM car.meter;
SELECT 'readings', count(*), round(sum(quantity)::numeric, 3) FROM car.reading;
SELECT 'reading partitions', count(*), NULL FROM pg_inherits WHERE inhparent = 'car.reading'::regclass;
SELECT 'sources', count(*), string_agg(name || '/' || kind || '/' || enabled, ',' ORDER BY name) FROM car.source;
SELECT 'files', count(*), sum(bytes) || '/' || (SELECT sum(length(bytes)) FROM car.source_file_chunk) || '/' || string_agg(sha256, ',' ORDER BY sha256) FROM car.source_file;
SELECT 'file bytes', count(*), count(*) FILTER (WHERE f.sha256 = encode(sha256((SELECT string_agg(c.bytes, ''::bytea ORDER BY c.seq) FROM car.source_file_chunk c WHERE c.file_id = f.id)), 'hex')) FROM car.source_file f;
SELECT 'quarantine', count(*), NULL FROM car.ingest_error;
SELECT 'factor sets', count(*), string_agg(year || '/' || revision || '/' || row_count || '/' || sha256, ',' ORDER BY year) FROM car.factor_set;
SELECT 'factors', count(*), sum(value) FROM car.factor;
SELECT 'emission_daily', count(*), round(sum(kg_co2e)::numeric, 6) FROM car.emission_daily;
SELECT 'report_monthly', count(*), round(sum(kg_co2e)::numeric, 6) FROM car.report_monthly;
SELECT 'compacted months', count(*), string_agg(month || '/' || readings || '/' || meter_days, ',' ORDER BY month) FROM car.compacted_month;
SELECT 'compacted readings', count(*), md5(string_agg(format('%s|%s|%s|%s|%s|%s', meter_id, ts, float8send(quantity), file_id, quality, method), ',' ORDER BY meter_id, ts))
FROM car.reading WHERE (ts >= '2021-03-01' AND ts < '2021-04-01') OR (ts >= '2022-06-01' AND ts < '2022-07-01');
SQL
}
summary src >"$W/src.txt"
sed 's/^/# src: /' "$W/src.txt" | cut -c1-200
[ "$(grep -c . "$W/src.txt")" = 14 ] && grep -q '^readings|26280|' "$W/src.txt" || [ "$(grep '^readings|' "$W/src.txt" | cut -d'|' -f2)" -gt 17520 ]
ok $? "the source database holds the pushed readings (8,760 + 8,760 + the generator's)"
awk -F'|' '$1 == "file bytes" && $2 == 3 && $3 == 3 { found = 1 } END { exit !found }' "$W/src.txt"
ok $? "the bytes landed for each of the three files hash to its SHA-256 (car.source_file_chunk)"

as_postgres "$PGBIN/pg_dump" -h "$W" -p "$PORT" -Fc -f "$W/src.dump" src 2>"$W/dump.err"
rc=$?
# (pg_dump warns that car.factor_set refers to itself: its rows restore in one COPY, which checks at its end)
sed "s/^/# /" "$W/dump.err"
[ $rc = 0 ]
ok $? "pg_dump -Fc"
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" dst
as_postgres "$PGBIN/pg_restore" -h "$W" -p "$PORT" -d dst --exit-on-error "$W/src.dump" 2>"$W/restore.err"
rc=$?
sed 's/^/# /' "$W/restore.err" | head -20
ok $rc "pg_restore into a fresh database, without errors"

summary dst >"$W/dst.txt"
diff "$W/src.txt" "$W/dst.txt" | sed 's/^/# /'
cmp -s "$W/src.txt" "$W/dst.txt"
ok $? "sites, meters, readings, partitions, sources, files, quarantine, factor sets, factors, emissions and compacted months (every reading's bits): counts and sums equal"
# March 2021: b0 electricity's 31 x 24 hourly readings (the Cambridge file, in UTC); June 2022: b0 gas's 30 x 24
awk -F'|' '$1 == "compacted months" && $2 == 2 && $3 ~ /^2021-03-01\/744\/.*,2022-06-01\/720\// { found = 1 } END { exit !found }' "$W/src.txt"
ok $? "the compacted months are in the summary (744 and 720 readings)"
psql_db dst -c "EXPLAIN SELECT count(*) FROM car.reading WHERE ts >= '2021-03-01' AND ts < '2021-04-01'" | grep -q 'Custom Scan (CarCompactedScan)'
ok $? "restored, March 2021 is read through the compacted scan"

# the restored database works: the same bytes load nothing, new data is refreshed
# (restoring car.factor_set queues its years, so the first refresh restates them)
out=$(psql_db dst <<SQL
SET client_min_messages = warning;
SELECT count(*) FROM car.reading;
SELECT f.id = (SELECT min(id) FROM car.source_file) FROM car.push('b0-elec', 'e-again.csv', pg_read_binary_file('$W/UCam_Building_b0_electricity_2021.csv')) f;
SELECT count(*) FROM car.reading;
SELECT count(*) FROM car.source_file;
INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2022-06-01 12:00+00', 10 FROM car.meter WHERE name = 'b0 electricity';
SELECT car.refresh() > 0;
SELECT count(*) FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name = 'b0 electricity' AND e.day = '2022-06-01';
SELECT car.refresh();
SQL
)
echo "$out" | sed 's/^/# dst: /'
readings=$(grep '^readings|' "$W/src.txt" | cut -d'|' -f2)
files=$(grep '^files|' "$W/src.txt" | cut -d'|' -f2)
[ "$out" = "$(printf '%s\nt\n%s\n%s\nt\n4\n0' "$readings" "$readings" "$files")" ]
ok $? "restored: the same bytes pushed again give the first file back and load nothing; an appended reading is refreshed"

echo "1..$n"
