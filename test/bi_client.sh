#!/usr/bin/env bash
# BI client test (TAP).  A private server with car preloaded, listening on
# 127.0.0.1, holds the factors 2021-2024 and the sample meter files of
# Cambridge building b0 (2021, hourly).  A Java program using Debian's
# PostgreSQL JDBC driver (libpostgresql-jdbc-java: the driver Metabase and
# Looker use) logs in over TCP with a password as bi_metabase, a login role
# granted car_auditor (a car_reader that sees every organisation), lists car's reporting views and their comments through
# DatabaseMetaData as a BI tool's schema sync does, runs report queries, and
# shows that the role cannot read raw readings or write.  Its output must
# equal test/bi/expected.out; the report figures are also checked here
# against the raw readings and the catalog (see test/bi/README.md).
#
#	test/bi_client.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_BI_PORT:-$(free_ports 1)}
DB=car_bi
JAVA=${JAVA:-java}
JDBC_JAR=${CAR_JDBC_JAR:-/usr/share/java/postgresql.jar}
BI_DIR=$ROOT/test/bi
export BI_PASSWORD=bi-metabase-secret # private server on 127.0.0.1 only
n=0 failed=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2" && failed=$((failed + 1)); fi
}
is() { if [ "$1" = "$2" ]; then ok 0 "$3 ($1)"; else ok 1 "$3 (got '$1', expected '$2')"; fi; }
sql() { as_postgres "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d "$DB" "$@"; }
skip_all() { ok 1 "$1"; echo "1..$n"; exit 1; }

# (a) the client side: a Java runtime and the Debian JDBC driver
command -v "$JAVA" >/dev/null 2>&1 ||
	skip_all "java is missing: apt-get install openjdk-17-jdk-headless (scripts/deps.sh installs it)"
[ -r "$JDBC_JAR" ] ||
	skip_all "$JDBC_JAR is missing: apt-get install libpostgresql-jdbc-java (scripts/deps.sh installs it)"
echo "# $("$JAVA" -version 2>&1 | head -1); JDBC driver $(readlink -f "$JDBC_JAR")"

# (b) a private server reachable over TCP on 127.0.0.1 only
rm -rf "$W"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'car'
listen_addresses = '127.0.0.1'
timezone = 'UTC'
password_encryption = 'scram-sha-256'
CONF
# the BI login must give its password (first matching line wins); local
# connections of the postgres OS user stay trusted
{
	echo "host all bi_metabase 127.0.0.1/32 scram-sha-256"
	cat "$W/data/pg_hba.conf"
} >"$W/data/pg_hba.conf.new" && mv "$W/data/pg_hba.conf.new" "$W/data/pg_hba.conf"
chown postgres "$W/data/pg_hba.conf"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null 2>&1' EXIT
start_private_server "$W"
rc=$?
ok $rc "private server started on 127.0.0.1:$PORT"
[ $rc = 0 ] || { tail -5 "$W/server.log" | sed 's/^/# /'; echo "1..$n"; exit 1; }

# (c) car with factors, the b0 sample files, emissions refreshed, roles
cp "$ROOT"/data/sample/UCam_Building_b0_*_2021.csv "$W/" && chown postgres "$W"/*.csv
as_postgres "$PGBIN/psql" -X -q -h "$W" -p "$PORT" -d postgres -c "CREATE DATABASE $DB" >/dev/null 2>&1
setup=$(sql 2>&1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION car;
SELECT count(*) FROM generate_series(2021, 2024) y, car.load_factors(y);
SELECT car.add_source(name, NULL, 'push', 'long', options)
FROM (VALUES ('ucam-b0-electricity', '{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity", "org": "University of Cambridge"}'::jsonb),
             ('ucam-b0-gas', '{"site": "UCam b0", "meter": "b0 gas", "timezone": "UTC", "activity": "natural_gas", "org": "University of Cambridge"}'::jsonb)) v(name, options);
SELECT string_agg(f.status || ' ' || f.rows_loaded || '/' || f.rows_rejected, ', ' ORDER BY v.file)
FROM (VALUES ('ucam-b0-electricity', 'UCam_Building_b0_electricity_2021.csv'),
             ('ucam-b0-gas', 'UCam_Building_b0_gas_2021.csv')) v(source, file),
     LATERAL car.push(v.source, v.file, pg_read_binary_file('$W/' || v.file)) f;
-- a floor area for report_intensity (a round test value; b0's is not published)
UPDATE car.site SET floor_area_m2 = 2500 WHERE name = 'UCam b0';
SELECT 'refreshed ' || car.refresh() || ' meter-days';
SELECT array_to_string(car.grant_roles(), ',');
CREATE ROLE bi_metabase LOGIN PASSWORD '$BI_PASSWORD';
GRANT car_auditor TO bi_metabase;
SQL
)
rc=$?
[ $rc = 0 ] || echo "$setup" | sed 's/^/# /'
ok $rc "CREATE EXTENSION car, factors 2021-2024 and b0's 2021 files loaded, car.refresh(), car.grant_roles(), bi_metabase granted car_auditor (a car_reader that sees every organisation)"
echo "$setup" | grep -q '^loaded 8760/0, loaded 8760/0$'
ok $? "car.push loaded 8,760 hourly readings from each b0 file, none rejected"
# 365 days x 2 meters (the first refresh is a full one)
echo "$setup" | grep -q '^refreshed 730 meter-days$'
ok $? "car.refresh() computed 730 meter-days of emissions"

# The figures the report must show, from the raw readings and car.emissions()
# (not from car.emission_daily, which the views read): b0's 2021 electricity
# and gas, January and the whole year, months in UK local time.
raw=$(sql 2>"$W/raw.err" <<'SQL'
SELECT activity, coalesce(month::text, '2021'), round(sum(quantity)::numeric, 1), round(sum(kg)::numeric, 2)
FROM (SELECT m.activity, r.quantity,
             date_trunc('month', r.ts AT TIME ZONE 'Europe/London')::date AS month,
             (SELECT sum(e.kg_co2e) FROM car.emissions(r.quantity, m.unit, m.activity, r.ts) e) AS kg
      FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
      WHERE s.name = 'UCam b0'
        AND r.ts >= '2021-01-01 00:00 Europe/London' AND r.ts < '2022-01-01 00:00 Europe/London') x
GROUP BY activity, GROUPING SETS ((month), ())
HAVING month IS NULL OR month = '2021-01-01'
ORDER BY 1, 2;
SQL
)
echo "$raw" | sed 's/^/# raw readings x car.emissions(): /'
sed 's/^/# /' "$W/raw.err"
elec_2021=$(echo "$raw" | awk -F'|' '$1 == "electricity" && $2 == "2021" { print $3 }')
is "$elec_2021" "164392.8" "b0 electricity 2021 in car.reading: 164,392.8 kWh as SOURCES.md says"
# Scope 2 is the generation row alone: 164,392.8 kWh x 0.21233 kg/kWh (UK electricity 2021)
s2=$(sql -c "SELECT round(164392.8 * factor_value, 2) FROM car.emissions(1, 'kWh', 'electricity', '2021-06-01') WHERE component = 'generation' AND factor_value = 0.21233")
is "$s2" "34905.52" "b0 electricity 2021 Scope 2 = 164,392.8 kWh x 0.21233 = 34,905.52 kg"

# (d) the BI client
"$JAVA" -cp "$JDBC_JAR" "$BI_DIR/BiClient.java" "jdbc:postgresql://127.0.0.1:$PORT/$DB" bi_metabase \
	>"$W/bi.out" 2>"$W/bi.err"
rc=$?
sed 's/^/# /' "$W/bi.err"
ok $rc "the Java client connected over JDBC as bi_metabase (scram-sha-256) and ran to the end"
diff -u "$BI_DIR/expected.out" "$W/bi.out" >"$W/bi.diff"
rc=$?
[ $rc = 0 ] || head -60 "$W/bi.diff" | sed 's/^/# /'
ok $rc "its output equals test/bi/expected.out"

# the report lines the client printed agree with the raw computation
for row in "electricity|2021-01-01" "natural_gas|2021-01-01" "electricity|2021" "natural_gas|2021"; do
	act=${row%|*} per=${row#*|}
	want=$(echo "$raw" | awk -F'|' -v a="$act" -v p="$per" '$1 == a && $2 == p { print $3 "|" $4 }')
	got=$(awk -F'|' -v a="$act" -v p="$per" '($1 == "monthly" || $1 == "yearly") && $2 == p && $3 == a { print $5 "|" $6 }' "$W/bi.out")
	is "$got" "$want" "client's $act $per kWh|kg CO2e = raw readings x car.emissions()"
done
want=$(echo "$raw" | awk -F'|' '$2 == "2021" { s += $4 } END { printf "%.2f", s }')
got=$(awk -F'|' '$1 == "intensity" && $2 == "2021" { print $4 }' "$W/bi.out")
is "$got" "$want" "client's 2021 intensity kg CO2e = electricity + gas"
# the views, columns, types and comments JDBC listed are those of the catalog
sql >"$W/catalog.out" <<'SQL'
SELECT line FROM (
    SELECT c.relname, 0 AS attnum,
           format('car.%s (VIEW): %s', c.relname, obj_description(c.oid, 'pg_class')) AS line
    FROM pg_class c WHERE c.relnamespace = 'car'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'report_%'
    UNION ALL
    SELECT c.relname, a.attnum,
           format('  %2s %-16s %-8s %s', a.attnum, a.attname, (SELECT t.typname FROM pg_type t WHERE t.oid = a.atttypid),
                  coalesce(col_description(c.oid, a.attnum), '(no comment)'))
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'car'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'report_%') l
ORDER BY relname, attnum;
SQL
grep -E '^car\.report_.* \(VIEW\): |^  [ 0-9][0-9] ' "$W/bi.out" | diff -u "$W/catalog.out" - >"$W/catalog.diff"
rc=$?
[ $rc = 0 ] || head -20 "$W/catalog.diff" | sed 's/^/# /'
ok $rc "JDBC's views, columns and comments are pg_catalog's ($(grep -c '^  ' "$W/catalog.out") columns in $(grep -c VIEW "$W/catalog.out") views)"
grep -q '^columns without a comment: 0$' "$W/bi.out"
ok $? "every column of the reporting views (car.report_*) has a comment, as JDBC reports it"
grep -q '^denied SELECT \* FROM car.source_file: SQLState 42501' "$W/bi.out" &&
	grep -q '^denied INSERT INTO car.site: SQLState 42501' "$W/bi.out"
ok $? "bi_metabase cannot read landed files (car.source_file) nor insert into car.site (42501)"
echo "1..$n"
[ "$failed" = 0 ]
