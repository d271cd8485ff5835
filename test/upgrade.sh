#!/usr/bin/env bash
# Upgrade test (TAP): ALTER EXTENSION car UPDATE carries a populated 1.0
# database over with nothing lost.  On a private server:
#  - database "old": car 1.0 (car--1.0.sql, as released) with factors, sources
#    (push and remote, one with credentials in its URI), pushed meter files
#    (one with rejected rows), JWT keys made by openssl, the roles, a refresh;
#  - every row of every car table and every report is fingerprinted, through
#    the columns 1.0 had;
#  - ALTER EXTENSION car UPDATE;
#  - database "fresh": CREATE EXTENSION car (the current version);
#  - the two catalogues (test/catalog.sql: every object of the extension with
#    its definition, comment and privileges, and what pg_dump keeps) are the
#    same, the fingerprints are unchanged, and the updated database goes on
#    working.
#
#	test/upgrade.sh WORKDIR		(as root or postgres; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_UPGRADE_PORT:-$(free_ports 1)}
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/car.control")
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { if [ "$2" = "$3" ]; then ok 0 "$1"; else ok 1 "$1"; echo "#   got: '${2//$'\n'/ }'"; echo "#   expected: '$3'"; fi; }
psql_db() { local db=$1; shift; as_postgres "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d "$db" "$@"; }

rm -rf "$W"
mkdir -p "$W/keys"
chmod 755 "$W"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = 'old'
timezone = 'UTC'
CONF
start_private_server "$W"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null 2>&1' EXIT
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" old
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" fresh

# --- a populated car 1.0 -----------------------------------------------------------
openssl genrsa -out "$W/keys/rsa.pem" 2048 2>/dev/null && openssl rsa -in "$W/keys/rsa.pem" -pubout -out "$W/keys/rsa.pub" 2>/dev/null
openssl rand -hex 32 | tr -d '\n' >"$W/keys/hs.key"
cp "$FIXTURES"/cambridge_estates/UCam_Building_b0_electricity_2021.csv "$FIXTURES"/energy_sparks_amr/banes-example-file.csv "$W/"
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/junk" --seed 3 --sites 1 --meters 1 --days 4 --junk 3 --extra-days "" >/dev/null
chmod -R a+rX "$W"
out=$(psql_db old 2>&1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION car VERSION '1.0';
SELECT car.load_factors(2021);
SELECT car.load_factors(2022);
INSERT INTO car.jwt_key (kid, alg, key, private_key) VALUES
    ('hs', 'HS256', pg_read_file('$W/keys/hs.key'), NULL),
    ('rs', 'RS256', pg_read_file('$W/keys/rsa.pub'), pg_read_file('$W/keys/rsa.pem'));
SELECT car.add_source('b0', NULL, 'push', 'long', '{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity", "org": "Cambridge"}');
SELECT car.add_source('banes', NULL, 'push', 'halfhourly', '{"site_column": "Location", "meter_column": "ID", "activity_column": "Type", "org": "B&NES"}');
SELECT car.add_source('ecms', NULL, 'push', 'ecodriver', '{"org": "MoJ"}');
SELECT car.add_source('remote', 'https://user:secret@127.0.0.1:1/data.csv', 'file', 'long', '{"meter": "m"}', '1 day');
UPDATE car.source SET enabled = false WHERE name = 'remote';
SELECT car.push('b0', 'b0.csv', pg_read_binary_file('$W/UCam_Building_b0_electricity_2021.csv'));
SELECT car.push('banes', 'banes.csv', pg_read_binary_file('$W/banes-example-file.csv'));
SET car.max_reject_ratio = 0.5;
SELECT car.push('ecms', 'junk.csv', pg_read_binary_file('$W/junk.csv'));
UPDATE car.site SET floor_area_m2 = 2500, region = 'East of England', postcode = 'CB2 1TN' WHERE name = 'UCam b0';
SELECT car.refresh();
-- what car 1.0's car.grant_roles() granted (src/roles.c at 1.0); this library's is 1.1's
CREATE ROLE car_reader NOLOGIN;
CREATE ROLE car_auditor NOLOGIN;
CREATE ROLE car_ingest NOLOGIN;
CREATE ROLE car_admin NOLOGIN;
GRANT USAGE ON SCHEMA car TO car_reader;
GRANT SELECT ON car.report_monthly, car.report_yearly, car.report_scope, car.report_intensity, car.live,
    car.emission_daily, car.reading, car.site, car.meter, car.factor_set, car.factor, car.unit, car.activity,
    car.activity_component, car.activity_primary_component TO car_reader;
GRANT car_reader TO car_auditor;
GRANT car_reader TO car_ingest;
GRANT SELECT, INSERT, UPDATE ON car.reading, car.site, car.meter, car.source_file, car.ingest_error TO car_ingest;
GRANT SELECT ON car.source TO car_ingest;
GRANT USAGE ON SEQUENCE car.site_id_seq, car.meter_id_seq, car.source_file_id_seq, car.ingest_error_id_seq TO car_ingest;
GRANT car_ingest TO car_admin;
GRANT ALL ON ALL TABLES IN SCHEMA car TO car_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA car TO car_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA car TO car_admin;
SELECT extversion FROM pg_extension WHERE extname = 'car';
SQL
)
rc=$?
echo "$out" | grep -iE "error|warning" | sed 's/^/# /'
is "car 1.0 installed from car--1.0.sql and populated" "$rc $(echo "$out" | tail -1)" "0 1.0"
counts="SELECT (SELECT count(*) FROM car.factor_set) || ' sets, ' || (SELECT count(*) FROM car.reading) || ' readings, '
        || (SELECT count(*) FROM car.source_file) || ' files, ' || (SELECT count(*) FROM car.ingest_error) || ' rejected, '
        || (SELECT count(*) FROM car.emission_daily) || ' emission rows, ' || (SELECT count(*) FROM car.jwt_key) || ' keys'"
before_counts=$(psql_db old -c "$counts")
echo "# $before_counts"
psql_db old -c "SELECT count(*) > 0 AND (SELECT count(*) FROM car.ingest_error) > 0 AND (SELECT count(*) FROM car.emission_daily) > 0 FROM car.reading" | grep -q t
ok $? "there are readings, rejected rows and emissions to carry over"

# --- fingerprints of every row, through the columns 1.0 has ---------------------
# (public.fingerprint_columns keeps 1.0's column lists for after the update)
psql_db old >/dev/null <<'SQL'
CREATE TABLE public.fingerprint_columns AS
-- the reports' float sums to 1e-6 (1.1's reports add the same rows in another
-- order: 13948.999999999998 and 13949.000000000002 are the same figure)
SELECT c.oid::regclass::text AS rel, c.oid::regclass::text AS src,
       string_agg(CASE WHEN c.relkind = 'v' AND a.atttypid = 'float8'::regtype
                       THEN format('round(%I::numeric, 6) AS %I', a.attname, a.attname)
                       ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum) AS cols
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'car'::regnamespace
  AND (c.relkind IN ('r', 'p') AND NOT c.relispartition
       OR c.relname IN ('report_monthly', 'report_yearly', 'report_scope', 'report_intensity', 'source_status'))
GROUP BY c.oid;
-- the activities 1.0 had (1.1 adds builtin ones: air, rail, grey fleet, heat and steam, refrigerants)
CREATE TABLE public.activity_1_0 AS SELECT key FROM car.activity;
CREATE TABLE public.activity_component_1_0 AS SELECT activity, kind FROM car.activity_component;
-- 1.1's update asks for a full refresh (it fills the audit columns of
-- car.emission_daily): full_needed is checked on its own below
UPDATE public.fingerprint_columns SET cols = replace(cols, 'full_needed, ', '') WHERE rel = 'car.refresh_state';
SQL
fingerprints() {
	psql_db "$1" <<'SQL'
SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(q::text, E''\n'' ORDER BY q::text), '''')) FROM (SELECT %s FROM %s) q',
              rel, cols, src)
FROM public.fingerprint_columns ORDER BY rel \gexec
SQL
}
fingerprints old >"$W/before.txt"
[ "$(grep -c . "$W/before.txt")" -ge 20 ]
ok $? "fingerprints of $(grep -c . "$W/before.txt") tables and reports taken"

# --- the update --------------------------------------------------------------------
out=$(psql_db old -c "ALTER EXTENSION car UPDATE" -c "SELECT extversion FROM pg_extension WHERE extname = 'car'" 2>&1)
rc=$?
echo "$out" | grep -iE "error|warning" | sed 's/^/# /'
is "ALTER EXTENSION car UPDATE takes it to $VERSION" "$rc $(echo "$out" | tail -1)" "0 $VERSION"
ok "$([ "$(psql_db old -c "SELECT has_table_privilege('car_admin', 'car.source', 'TRIGGER') OR has_table_privilege('car_admin', 'car.reading', 'REFERENCES') OR has_table_privilege('car_admin', 'car.source', 'TRUNCATE')")" = f ] && echo 0 || echo 1)" \
	"the update took away the TRIGGER, REFERENCES and TRUNCATE 1.0 granted car_admin"
is "the update asks for a full refresh (the audit columns of car.emission_daily)" \
	"$(psql_db old -c "SELECT full_needed FROM car.refresh_state")" "t"
# 1.1 keeps a source's user:password in car.source_secret: the source as 1.0 had it, put back together
psql_db old >/dev/null <<'SQL'
CREATE VIEW public.source_as_in_1_0 AS
SELECT s.*, CASE WHEN x.userinfo IS NULL THEN s.uri
                 ELSE regexp_replace(s.uri, '^([A-Za-z][A-Za-z0-9+.-]*://)', '\1' || x.userinfo || '@') END AS uri_1_0
FROM car.source s LEFT JOIN car.source_secret x ON x.source_id = s.id;
UPDATE public.fingerprint_columns SET src = 'public.source_as_in_1_0',
    cols = replace(cols, ', uri,', ', uri_1_0 AS uri,') WHERE rel = 'car.source';
-- 1.0's activities and components, unchanged; those 1.1 adds are checked below
CREATE VIEW public.activity_as_in_1_0 AS SELECT a.* FROM car.activity a JOIN public.activity_1_0 o USING (key);
CREATE VIEW public.activity_component_as_in_1_0 AS
SELECT c.* FROM car.activity_component c JOIN public.activity_component_1_0 o USING (activity, kind);
UPDATE public.fingerprint_columns SET src = 'public.activity_as_in_1_0' WHERE rel = 'car.activity';
UPDATE public.fingerprint_columns SET src = 'public.activity_component_as_in_1_0' WHERE rel = 'car.activity_component';
-- 1.1 keeps a landed file's bytes in car.source_file_chunk: the content column as 1.0 had it, put back together
CREATE VIEW public.source_file_as_in_1_0 AS
SELECT f.*, (SELECT string_agg(c.bytes, ''::bytea ORDER BY c.seq) FROM car.source_file_chunk c WHERE c.file_id = f.id) AS content_1_0
FROM car.source_file f;
UPDATE public.fingerprint_columns SET src = 'public.source_file_as_in_1_0',
    cols = replace(cols, ', content,', ', content_1_0 AS content,') WHERE rel = 'car.source_file';
SQL
is "the bytes of the files 1.0 landed moved to car.source_file_chunk: content left NULL, every file's pieces there" \
	"$(psql_db old -c "SELECT count(*) FILTER (WHERE content IS NULL) || ' of ' || count(*) || ', ' || count(*) FILTER (WHERE EXISTS (SELECT FROM car.source_file_chunk c WHERE c.file_id = f.id)) FROM car.source_file f")" \
	"$(psql_db old -c "SELECT count(*) || ' of ' || count(*) || ', ' || count(*) FROM car.source_file")"
is "the credentials of a source's URI moved to car.source_secret" \
	"$(psql_db old -c "SELECT s.uri || ' ' || x.userinfo FROM car.source s JOIN car.source_secret x ON x.source_id = s.id")" \
	"https://127.0.0.1:1/data.csv user:secret"
fingerprints old >"$W/after.txt"
diff "$W/before.txt" "$W/after.txt" | sed 's/^/# /'
cmp -s "$W/before.txt" "$W/after.txt"
ok $? "every row of every car table and report is unchanged"
# what the update added to car.activity: builtin rows only, those of a fresh install
is "the update added the builtin activities of $VERSION (air, rail, grey fleet, heat and steam, refrigerants), nothing else" \
	"$(psql_db old -c "SELECT count(*) FILTER (WHERE NOT builtin), count(*) FILTER (WHERE key LIKE 'air\_%' OR key LIKE 'rail\_%' OR key LIKE 'grey\_fleet\_%' OR key LIKE 'heat\_steam%' OR key LIKE 'refrigerant\_%') FROM car.activity a WHERE NOT EXISTS (SELECT FROM public.activity_1_0 o WHERE o.key = a.key)")" \
	"0|40"
is "counts unchanged" "$(psql_db old -c "$counts")" "$before_counts"

# --- against a fresh install ---------------------------------------------------------
out=$(psql_db fresh -c "SET client_min_messages = warning" -c "CREATE EXTENSION car" -c "SELECT car.grant_roles()" \
	-c "SELECT extversion FROM pg_extension WHERE extname = 'car'" 2>&1)
is "a fresh CREATE EXTENSION car is $VERSION" "$(echo "$out" | tail -1)" "$VERSION"
# what an administrator does after an update, as after a new install: grant again
psql_db old -c "SET client_min_messages = warning" -c "SELECT car.grant_roles()" >/dev/null
psql_db old <"$ROOT/test/catalog.sql" >"$W/catalog-updated.txt" 2>&1
psql_db fresh <"$ROOT/test/catalog.sql" >"$W/catalog-fresh.txt" 2>&1
echo "# catalogue: $(wc -l <"$W/catalog-fresh.txt") lines ($(grep -c '^member ' "$W/catalog-fresh.txt") objects)"
diff -u "$W/catalog-fresh.txt" "$W/catalog-updated.txt" | head -60 | sed 's/^/# /'
cmp -s "$W/catalog-fresh.txt" "$W/catalog-updated.txt" && [ "$(grep -c "^member " "$W/catalog-fresh.txt")" -gt 50 ]
ok $? "the updated catalogue equals a fresh install's: objects, definitions, comments, privileges, config tables"

# pg_dump keeps the same tables' rows in both
dumped() {
	as_postgres "$PGBIN/pg_dump" -h "$W" -p "$PORT" -Fc -d "$1" -f "$W/$1.dump" 2>/dev/null &&
		as_postgres "$PGBIN/pg_restore" -l "$W/$1.dump" | awk '$4 == "TABLE" && $5 == "DATA" && $6 == "car" { print $7 }' |
		grep -vE '_p[0-9]{6}$' | sort
}
dumped old >"$W/dumped-old.txt"
dumped fresh >"$W/dumped-fresh.txt"
diff "$W/dumped-fresh.txt" "$W/dumped-old.txt" | sed 's/^/# /'
cmp -s "$W/dumped-fresh.txt" "$W/dumped-old.txt" && [ -s "$W/dumped-fresh.txt" ]
ok $? "pg_dump dumps the rows of the same $(grep -c . "$W/dumped-fresh.txt") car tables in both"

# --- the updated database works -------------------------------------------------------
# (banes.csv is of 2019, for which no factors are loaded: its days stay unpriced, as before the update)
out=$(psql_db old 2>&1 <<SQL
SET client_min_messages = error;
SELECT f.id = (SELECT id FROM car.source_file WHERE name = 'b0.csv') FROM car.push('b0', 'again.csv', pg_read_binary_file('$W/UCam_Building_b0_electricity_2021.csv')) f;
INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2022-06-01 12:00+00', 10 FROM car.meter WHERE name = 'b0 electricity';
SELECT car.refresh() > 0;
SELECT round(sum(kg_co2e)::numeric, 4) FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id
WHERE m.name = 'b0 electricity' AND e.day = '2022-06-01' AND e.component = 'generation';
SQL
)
# 10 kWh on 2022-06-01 at the 2022 UK electricity factor 0.19338 kg CO2e/kWh = 1.9338 kg
is "after the update: the same bytes give the first file back; a new reading is refreshed and priced (10 kWh x 0.19338)" \
	"$(echo "$out" | tr '\n' ' ')" "t t 1.9338 "

echo "1..$n"
