#!/usr/bin/env bash
# Attack tests (TAP): every weakness of the security review, tried on a
# private server (car and pg_cron preloaded, the worker running) as the roles
# named, with keys and tokens made by the openssl command line.  At the end
# no role below superuser holds more than its privilege matrix allows (the
# matrix read from the catalogue after the attacks equals the one read before
# them) and none of them is a superuser.
#
#	test/security.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_SECURITY_PORT:-$(free_ports 1)}
M="python3 $ROOT/test/jwt/mktoken.py"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { if [ "$2" = "$3" ]; then ok 0 "$1"; else ok 1 "$1"; echo "#   got: '${2//$'\n'/ | }'"; echo "#   expected: '${3//$'\n'/ | }'"; fi; }
# psql as a login role (the server trusts local logins), errors included in the output
as() { local role=$1; shift; as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -U "$role" -d sec "$@" 2>&1; }
su() { as postgres "$@"; }
super() { su -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$1'"; }
hs() { $M --header '{"alg":"HS256","kid":"hs","typ":"JWT"}' --payload "$1" --sign hs256 --key "$W/keys/hs.key"; }

rm -rf "$W"
mkdir -p "$W/keys"
chmod 755 "$W"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'pg_cron,car'
cron.database_name = 'sec'
cron.use_background_workers = on
max_worker_processes = 32
car.database = 'sec'
car.retry_delay = 1
car.jwt_leeway = 0
timezone = 'UTC'
CONF
start_private_server "$W"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null 2>&1' EXIT
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" sec
openssl rand -hex 32 | tr -d '\n' >"$W/keys/hs.key"
chmod -R a+rX "$W/keys"
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/a" --sites 2 --meters 1 --start 2022-03-01 --days 3 --seed 21 --junk 0 --extra-days "" >/dev/null
chmod a+r "$W"/*.csv

out=$(su -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION car;
SELECT car.load_factors(2022) IS NOT NULL;
SELECT car.grant_roles() IS NOT NULL;
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('hs', 'HS256', pg_read_file('$W/keys/hs.key')),
                                                ('hs2', 'HS256', pg_read_file('$W/keys/hs.key'));
CREATE ROLE admin LOGIN IN ROLE car_admin;
CREATE ROLE loader LOGIN IN ROLE car_ingest;
CREATE ROLE reader LOGIN IN ROLE car_reader;
CREATE ROLE auditor LOGIN IN ROLE car_auditor;
CREATE ROLE outsider LOGIN;
-- the reader and the loader may create objects in schemas of their own (the review's premise)
CREATE SCHEMA reader_own AUTHORIZATION reader;
CREATE SCHEMA loader_own AUTHORIZATION loader;
CREATE SCHEMA admin_own AUTHORIZATION admin;
-- two organisations, each with a site called HQ
INSERT INTO car.site (name, org) VALUES ('HQ', 'A'), ('Depot', 'A'), ('HQ', 'B'), ('Lab', 'B');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, org || ' ' || name || ' electricity', 'electricity', 'kWh' FROM car.site;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, t, 1 FROM car.meter m, generate_series('2022-06-01 00:00+00'::timestamptz, '2022-06-01 23:30+00', '30 minutes') t;
SELECT car.refresh() > 0;
SELECT car.add_source('push-a', NULL, 'push', 'ecodriver', '{"org": "A"}') IS NOT NULL;
SELECT car.add_source('push-b', NULL, 'push', 'ecodriver', '{"org": "B"}') IS NOT NULL;
SELECT car.add_source('remote', 'https://car:s3cret@127.0.0.1:1/x.csv', 'file', 'long', '{"meter": "m"}', '1 day') IS NOT NULL;
UPDATE car.source SET enabled = false WHERE name = 'remote';
SQL
)
rc=$?
echo "$out" | grep -E 'ERROR' | sed 's/^/# /'
ok $rc "a server with car, pg_cron and the worker; roles admin (car_admin), loader (car_ingest), reader (car_reader), auditor, outsider; orgs A and B each with a site HQ"

# the privilege matrix before any attack (the same query as sql/privileges.sql)
matrix() {
	su <<'SQL'
WITH r(role) AS (VALUES ('public'), ('car_reader'), ('car_auditor'), ('car_ingest'), ('car_worker'), ('car_admin'),
                        ('admin'), ('loader'), ('reader'), ('auditor'), ('outsider'))
SELECT r.role, c.oid::regclass, p.priv
FROM r CROSS JOIN pg_class c
CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
WHERE c.relnamespace = 'car'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND has_table_privilege(r.role, c.oid, p.priv)
UNION ALL
SELECT r.role, c.oid::regclass, 'column ' || a.attname
FROM r CROSS JOIN pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE c.relnamespace = 'car'::regnamespace AND has_column_privilege(r.role, c.oid, a.attnum, 'UPDATE')
UNION ALL
SELECT r.role, NULL, 'EXECUTE ' || p.oid::regprocedure
FROM r CROSS JOIN pg_proc p WHERE p.pronamespace = 'car'::regnamespace AND has_function_privilege(r.role, p.oid, 'EXECUTE')
UNION ALL
SELECT r.role, NULL, 'schema ' || x FROM r CROSS JOIN unnest(ARRAY['USAGE', 'CREATE']) x WHERE has_schema_privilege(r.role, 'car', x)
UNION ALL
SELECT rolname, NULL, 'attributes super=' || rolsuper || ' bypassrls=' || rolbypassrls || ' createrole=' || rolcreaterole
FROM pg_roles WHERE rolname IN (SELECT role FROM r)
ORDER BY 1, 2, 3;
SQL
}
matrix >"$W/matrix-before.txt"
[ "$(grep -c . "$W/matrix-before.txt")" -gt 100 ]
ok $? "the privilege matrix is read from the catalogue ($(grep -c . "$W/matrix-before.txt") grants and attributes)"

# the launcher (it starts again once car's database exists, within 10 s)
for _ in $(seq 60); do [ "$(su -c "SELECT count(*) FROM car.worker_status WHERE role = 'launcher'")" = 1 ] && break; sleep 0.5; done
is "car's launcher runs in the database" "$(su -c "SELECT count(*) FROM car.worker_status WHERE role = 'launcher'")" "1"

# --- 1. car_admin and TRIGGER ---------------------------------------------------------
out=$(as admin <<'SQL'
CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE admin SUPERUSER'; RETURN NEW; END $$;
CREATE TRIGGER escalate BEFORE UPDATE ON car.source FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate();
SELECT car.add_source('bait', 'http://127.0.0.1:1/bait.csv', 'file', 'long', '{"meter": "m"}', '1 second') IS NOT NULL;
SQL
)
echo "$out" | sed 's/^/# /'
echo "$out" | grep -q 'permission denied for table source'
ok $? "car_admin cannot attach a trigger to car.source (no TRIGGER privilege)"
# the launcher polls the bait source every second (it updates car.source)
for _ in $(seq 40); do [ "$(su -c "SELECT last_poll_at IS NOT NULL FROM car.source WHERE name = 'bait'")" = t ] && break; sleep 0.5; done
is "the launcher polled the bait source, and admin is still not a superuser" \
	"$(su -c "SELECT last_poll_at IS NOT NULL FROM car.source WHERE name = 'bait'") $(super admin)" "t f"
tables=$(su -c "SELECT string_agg(c.relname, ' ') FROM pg_class c WHERE c.relnamespace = 'car'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition")
refused=0 total=0
for t in $tables; do
	total=$((total + 1))
	out=$(as admin -c "CREATE FUNCTION pg_temp.x() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NULL; END \$\$" \
		-c "CREATE TRIGGER x AFTER INSERT ON car.$t FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.x()")
	out2=$(as admin -c "CREATE TABLE admin_own.fk_$t (i int REFERENCES car.$t)")
	case $out in *"permission denied for table $t"*) ;; *) echo "# TRIGGER on car.$t: $out"; continue ;; esac
	# (a table without a primary key cannot be referenced at all)
	case $out2 in *"permission denied for table $t"*|*"there is no primary key for referenced table"*) ;; *) echo "# REFERENCES on car.$t: $out2"; continue ;; esac
	refused=$((refused + 1))
done
is "no trigger and no foreign key on any of car's $total tables for car_admin" "$refused" "$total"
# who the worker is: a superuser's trigger on car.source notes the role that fires it
su >/dev/null <<'SQL'
CREATE TABLE public.fired_by (who text, super boolean);
GRANT INSERT ON public.fired_by TO PUBLIC;
CREATE FUNCTION public.note_who() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.fired_by SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user; RETURN NEW; END $$;
CREATE TRIGGER note_who AFTER UPDATE ON car.source FOR EACH ROW EXECUTE FUNCTION public.note_who();
SQL
sleep 3 # the bait source above is polled every second
is "the worker updates car.source as car_worker, not a superuser" \
	"$(su -c "SELECT string_agg(DISTINCT who || ' ' || super, ',') FROM public.fired_by")" "car_worker false"
su -c "DROP TRIGGER note_who ON car.source; SELECT car.remove_source('bait')" >/dev/null
su -c "SELECT car.schedule('*/5 * * * *', '17 * * * *')" >/dev/null
out=$(su -c "SELECT jobname || ' ' || username FROM cron.job WHERE database = 'sec' ORDER BY 1")
is "car.schedule() makes pg_cron jobs that run as car_worker" "$out" $'car-maintenance car_worker\ncar-refresh car_worker'
is "a car_admin may not schedule (pg_cron jobs for another role are a superuser's)" \
	"$(as admin -c "SELECT car.schedule()" | grep -c 'permission denied for function schedule')" "1"

# --- 2. operator hijack in what runs as the tables' owner ---------------------------------
T_A=$(hs '{"sub":"ann","org":"A","exp":"NOW+600"}')
hijack='
CREATE TABLE IF NOT EXISTS %s.calls (n int);
CREATE FUNCTION %s.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO %s.calls VALUES (1);
    BEGIN EXECUTE format($f$ALTER ROLE %%I SUPERUSER$f$, session_user); EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR %s.= (LEFTARG = text, RIGHTARG = text, FUNCTION = %s.texteq);
CREATE FUNCTION %s.jsonget(a jsonb, b text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO %s.calls VALUES (2);
    BEGIN EXECUTE format($f$ALTER ROLE %%I SUPERUSER$f$, session_user); EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN a OPERATOR(pg_catalog.->>) b;
END $$;
CREATE OPERATOR %s.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = %s.jsonget);'
out=$(as reader -c "$(printf "$hijack" reader_own reader_own reader_own reader_own reader_own reader_own reader_own reader_own reader_own)" \
	-c "SET search_path = reader_own, pg_catalog, car" -c "SELECT car.authenticate('$T_A') IS NOT NULL" \
	-c "SELECT count(*) FROM car.site" -c "SELECT count(*) FROM car.meter" -c "SELECT count(*) FROM car.reading")
echo "$out" | grep -E 'ERROR' | sed 's/^/# /'
is "a reader with an operator = of its own first on its search_path reads car.site with a token: A's 2 sites, meters, readings" \
	"$(echo "$out" | tail -3 | tr '\n' ' ')" "2 2 96 "
is "its operator never ran as the owner, and it is not a superuser" \
	"$(super reader) $(su -c "SELECT count(*) FROM reader_own.calls")" "f 0"
out=$(as loader -c "$(printf "$hijack" loader_own loader_own loader_own loader_own loader_own loader_own loader_own loader_own loader_own)" \
	-c "SET search_path = loader_own, pg_catalog, car" \
	-c "SELECT car.check_push_token('$($M --header '{"alg":"HS256","kid":"hs"}' --payload '{"org":"A","scope":"push","exp":"NOW+600"}' --sign hs256 --key "$W/keys/hs.key")', 'push-a')")
echo "$out" | grep -E 'ERROR' | sed 's/^/# /'
is "the push-token gate (the source's organisation read as the owner) with the loader's own = and ->> first: not a superuser, never called" \
	"$(super loader) $(su -c "SELECT count(*) FROM loader_own.calls")" "f 0"

# --- 4. site names across organisations -----------------------------------------------------
a_hq=$(su -c "SELECT id FROM car.site WHERE org = 'A' AND name = 'HQ'")
b_hq=$(su -c "SELECT id FROM car.site WHERE org = 'B' AND name = 'HQ'")
seen() { # token: the sites seen through every table, view and token-taking function
	as reader <<SQL
SELECT car.authenticate('$1') IS NOT NULL AS authenticated \gset
SELECT 'site', coalesce(string_agg(DISTINCT id::text, ','), '') FROM car.site
UNION ALL SELECT 'meter', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.meter
UNION ALL SELECT 'reading', coalesce(string_agg(DISTINCT m.site_id::text, ','), '') FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
UNION ALL SELECT 'emission_daily', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.emission_daily
UNION ALL SELECT 'change', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.change
UNION ALL SELECT 'report_monthly', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_monthly
UNION ALL SELECT 'report_yearly', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_yearly
UNION ALL SELECT 'report_scope', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_scope
UNION ALL SELECT 'report_intensity', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_intensity
UNION ALL SELECT 'report_monthly_for', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_monthly_for('$1')
UNION ALL SELECT 'report_yearly_for', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_yearly_for('$1')
UNION ALL SELECT 'report_scope_for', coalesce(string_agg(DISTINCT site_id::text, ','), '') FROM car.report_scope_for('$1');
SQL
}
every() { # the expected output: every source saying the same sites
	local s
	for s in site meter reading emission_daily change report_monthly report_yearly report_scope report_intensity \
		report_monthly_for report_yearly_for report_scope_for; do echo "$s|$1"; done
}
is "a token of org A naming site HQ sees A's HQ only, through 12 tables, views and functions" \
	"$(seen "$(hs '{"sub":"x","org":"A","sites":["HQ"],"exp":"NOW+600"}')")" "$(every "$a_hq")"
is "a token of org B naming site HQ sees B's HQ only" \
	"$(seen "$(hs '{"sub":"x","orgs":["B"],"sites":["HQ"],"exp":"NOW+600"}')")" "$(every "$b_hq")"
is "a token naming site HQ without an org sees nothing (names need an org)" \
	"$(seen "$(hs '{"sub":"x","sites":["HQ"],"exp":"NOW+600"}')")" "$(every "")"
is "a token naming B's HQ by id, without an org, sees B's HQ" \
	"$(seen "$(hs "{\"sub\":\"x\",\"sites\":[$b_hq],\"exp\":\"NOW+600\"}")")" "$(every "$b_hq")"
is "a token of org A naming B's HQ by id sees nothing of B" \
	"$(seen "$(hs "{\"sub\":\"x\",\"org\":\"A\",\"sites\":[$b_hq],\"exp\":\"NOW+600\"}")")" "$(every "")"

# --- 5. notifications ---------------------------------------------------------------------
# a listener with no car role at all
note=$(
	{
		as outsider -c "LISTEN car_readings" -c "SELECT pg_sleep(3)" &
		sleep 1
		su -c "INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2022-06-02 00:00+00', 5 FROM car.meter WHERE name = 'B Lab electricity'" >/dev/null
		wait
	} 2>&1 | grep 'Asynchronous notification'
)
echo "# $note"
echo "$note" | grep -qE 'payload "\{"seq": [0-9]+\}"'
ok $? "any role may LISTEN car_readings, and the payload says the change number only"
seq=$(echo "$note" | sed -E 's/.*"seq": ([0-9]+).*/\1/')
is "a reader with org A's token reads that change: nothing (it was B's)" \
	"$(as reader -c "SELECT car.authenticate('$T_A') IS NOT NULL" -c "SELECT count(*) FROM car.changes_since($seq - 1)" | tail -1)" "0"
is "a reader with org B's token reads it: B's Lab, one reading" \
	"$(as reader -c "SELECT car.authenticate('$(hs '{"sub":"x","org":"B","exp":"NOW+600"}')') IS NOT NULL" -c "SELECT c.rows || ' ' || s.name FROM car.changes_since($seq - 1) c JOIN car.site s ON s.id = c.site_id" | tail -1)" "1 Lab"
out=$(as outsider -c "SELECT count(*) FROM car.changes_since(0)")
echo "$out" | grep -q 'permission denied for schema car'
ok $? "a login with no car role cannot read the change feed ($(echo "$out" | head -1))"

# --- 6. memory returned from caches ------------------------------------------------------------
T_A2=$(hs '{"sub":"second","org":"A","exp":"NOW+600"}')
out=$(as reader -c "SELECT car.authenticate('$T_A') IS NOT NULL" \
	-c "SELECT c->>'sub', a->>'sub' FROM (SELECT car.claims() AS c, car.authenticate('$T_A2') AS a) s")
is "car.claims() and car.authenticate() in one statement: the first claims intact (ann), the new ones (second)" \
	"$(echo "$out" | tail -1)" "ann|second"

# --- 9. claims that outlive their token -----------------------------------------------------------
out=$(as reader <<SQL
SELECT car.authenticate('$(hs '{"sub":"x","org":"A","exp":"NOW+2"}')') IS NOT NULL;
SELECT count(*) FROM car.site;
SELECT pg_sleep(3.5);
SELECT count(*) FROM car.site;
SELECT car.claims() IS NULL;
SQL
)
is "session claims stop granting rows when the token expires (2 sites, then none, claims gone)" "$(echo "$out" | tr '\n' ' ')" "t 2  0 t "
out=$( {
	as reader -c "SELECT car.authenticate('$($M --header '{"alg":"HS256","kid":"hs2"}' --payload '{"sub":"x","org":"A","exp":"NOW+600"}' --sign hs256 --key "$W/keys/hs.key")') IS NOT NULL" \
		-c "SELECT count(*) FROM car.site" -c "SELECT pg_sleep(2)" -c "SELECT count(*) FROM car.site" -c "SELECT car.claims() IS NULL" &
	sleep 1
	as admin -c "UPDATE car.jwt_key SET enabled = false WHERE kid = 'hs2'" >/dev/null
	wait
} )
is "session claims stop granting rows when their key is disabled (2 sites, then none)" "$(echo "$out" | tr '\n' ' ')" "t 2  0 t "

# --- 10. SECURITY DEFINER and trigger functions ----------------------------------------------------
out=$(as reader -c "CREATE TABLE reader_own.reading (meter_id int, ts timestamptz, quantity float8)" \
	-c "CREATE TRIGGER t AFTER INSERT ON reader_own.reading REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes()")
echo "$out" | grep -q 'permission denied for function car.track_changes'
ok $? "a reader cannot attach car.track_changes() (SECURITY DEFINER) to a table of its own"
out=$(su -c "CREATE TRIGGER t AFTER INSERT ON reader_own.reading REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes()" \
	-c "INSERT INTO reader_own.reading VALUES (1, now(), 1)")
echo "$out" | grep -q 'fired on reading, which is not one of car.s tables'
ok $? "attached by a superuser to a table named reading, it refuses to run (relations checked by OID)"

# --- 11. rules where the action happens --------------------------------------------------------------
out=$(as admin -c "UPDATE car.source SET uri = 'file:///etc/passwd', kind = 'file' WHERE name = 'push-a'" \
	-c "INSERT INTO car.source (name, uri, kind, format) VALUES ('f', 'file:///etc/shadow', 'file', 'long')")
is "car_admin cannot point a source at a file: URI by UPDATE or INSERT" \
	"$(echo "$out" | grep -c 'only superusers may point a source at a file: URI')" "2"

# --- 12. non-finite numbers -------------------------------------------------------------------------
out=$(as reader -c "SELECT car.convert(1e308, 'GWh', 'Wh')" -c "SELECT car.co2e(1e308, 'GWh', 'electricity', '2022-06-01')" \
	-c "SELECT car.convert('Infinity', 'kWh', 'kWh')" -c "SELECT car.convert('NaN', 'kWh', 'MWh')" \
	-c "SELECT kg_co2e FROM car.emissions('Infinity', 'kWh', 'electricity', '2022-06-01')")
is "overflowing or non-finite quantities are errors, not Infinity (5 cases)" "$(echo "$out" | grep -c 'ERROR')" "5"
out=$(as loader -c "INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2022-06-03', 'Infinity' FROM car.meter LIMIT 1" \
	-c "INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2022-06-03', 'NaN' FROM car.meter LIMIT 1" \
	-c "INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2022-06-03', '-Infinity' FROM car.meter LIMIT 1")
is "a reading of Infinity, NaN or -Infinity is refused by the table's check" "$(echo "$out" | grep -c 'reading_quantity_finite')" "3"
# every unit to every unit of its dimension, at the largest and smallest magnitudes: a finite answer or an error
out=$(su <<'SQL'
CREATE FUNCTION pg_temp.try(v float8, f text, t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r float8;
BEGIN r := car.convert(v, f, t);
      RETURN CASE WHEN r = 'Infinity' OR r = '-Infinity' OR r = 'NaN' THEN 'non-finite' ELSE 'finite' END;
EXCEPTION WHEN numeric_value_out_of_range THEN RETURN 'refused'; END $$;
SELECT count(*) || ' ' || count(*) FILTER (WHERE x = 'non-finite') || ' ' || (count(*) FILTER (WHERE x = 'refused') > 0)
FROM car.unit a JOIN car.unit b USING (dimension)
CROSS JOIN (VALUES (1.7e308), (-1.7e308), (4.9e-324), (1e300), (-1e300)) v(q),
LATERAL pg_temp.try(v.q, a.name, b.name) AS t(x);
SQL
)
echo "# conversions tried, non-finite results, some refused: $(echo "$out" | tail -1)"
echo "$out" | tail -1 | grep -qE '^[0-9]+ 0 true$'
ok $? "no conversion between any two units of a dimension gives a non-finite number (the overflowing ones are refused)"

# --- 13. control characters in names -------------------------------------------------------------------
out=$(python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
rows = ["Site,Meter,Unit,Date," + ",".join("%02d:%02d" % (h, m) for h in range(24) for m in (0, 30))]
bad = [c for c in range(1, 32) if c not in (10, 13)] + [127]
for i, c in enumerate(bad):
    rows.append("S%c%d,M%d electricity,kWh,01/03/2022,%s" % (c, i, i, ",".join(["1"] * 48)))
    rows.append("S%d,M%c%d electricity,kWh,02/03/2022,%s" % (i, c, i, ",".join(["1"] * 48)))
rows.append("Good,M electricity,kWh,01/03/2022," + ",".join(["1"] * 48))
open(w + "/ctl.csv", "wb").write(("\r\n".join(rows) + "\r\n").encode())
print(2 * len(bad))
PY
)
chmod a+r "$W/ctl.csv"
res=$(su -c "SET car.max_reject_ratio = 1" -c "SELECT rows_rejected || ' ' || rows_loaded FROM car.push('push-a', 'ctl.csv', pg_read_binary_file('$W/ctl.csv'))" \
	-c "SELECT count(*) FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'ctl.csv' AND e.message LIKE '%control character%'")
is "a file with every control character in a site or meter name: those $out rows are refused with the reason, the good row loads" \
	"$(echo "$res" | tr '\n' ' ')" "$out 48 $out "
out=$(as admin -c "INSERT INTO car.site (name, org) VALUES (E'Bad\x1fName', 'A')" -c "INSERT INTO car.site (name, org) VALUES ('Bad', E'A\nB')" \
	-c "INSERT INTO car.meter (site_id, name, activity, unit) SELECT id, E'm\tx', 'electricity', 'kWh' FROM car.site LIMIT 1")
is "control characters in site, org and meter names are refused by the tables' checks" \
	"$(echo "$out" | grep -cE 'site_names_printable|meter_name_printable')" "3"
out=$(as reader -c "SELECT car.convert(1, 'kWh', repeat('k', 70))" -c "SELECT car.co2e(1, 'kWh', repeat('electricity', 7), now())")
is "names longer than a lookup key are refused, never cut" "$(echo "$out" | grep -c 'is longer than 63 bytes')" "2"

# --- 14. settings that loosen checks ---------------------------------------------------------------------
loosen=$(su -c "SELECT string_agg(name, ' ') FROM pg_settings WHERE name LIKE 'car.%' AND context <> 'user'")
refused=0 total=0
for g in $loosen; do
	total=$((total + 1))
	out=$(as loader -c "SET $g = DEFAULT")
	case $out in *"permission denied to set parameter"*|*"cannot be changed now"*|*"cannot be changed without restarting"*) refused=$((refused + 1)) ;; *) echo "# $g: $out" ;; esac
done
is "a loader can set none of the $total car settings that are not an analyst's choice" "$refused" "$total"
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/old" --sites 1 --meters 1 --start 2001-03-01 --days 1 --seed 5 --junk 0 --extra-days "" >/dev/null
python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
old = open(w + "/old.csv").read().splitlines()
new = open(w + "/a.csv").read().splitlines()
open(w + "/span.csv", "w").write("\n".join(old + new[1:]) + "\n")
PY
chmod a+r "$W/span.csv"
out=$(su -c "SET car.accept_from = '2000-01-01'" -c "SELECT car.push('push-a', 'span.csv', pg_read_binary_file('$W/span.csv'))")
echo "$out" | grep -q 'more than car.max_new_partitions (24)'
ok $? "a file whose readings span 2001 to 2022 is refused: it would need more new partitions than car.max_new_partitions"

# --- 15. errors that enumerate ------------------------------------------------------------------------------
T_PUSH=$($M --header '{"alg":"HS256","kid":"hs"}' --payload '{"org":"A","scope":"push","exp":"NOW+600"}' --sign hs256 --key "$W/keys/hs.key")
e1=$(as loader -c "SELECT car.push('$T_PUSH', 'push-b', 'x.csv', '\\x41')" | grep ERROR | sed 's/"push-b"/"X"/')
e2=$(as loader -c "SELECT car.push('$T_PUSH', 'no-such-source', 'x.csv', '\\x41')" | grep ERROR | sed 's/"no-such-source"/"X"/')
e3=$(as loader -c "SELECT car.push('$T_PUSH', 'remote', 'x.csv', '\\x41')" | grep ERROR | sed 's/"remote"/"X"/')
echo "# $e1"
[ -n "$e1" ] && [ "$e1" = "$e2" ] && [ "$e1" = "$e3" ]
ok $? "a push token gets the same refusal for another organisation's source, a missing one and a non-push one"

# --- 16. credentials ---------------------------------------------------------------------------------------
out=$(as loader -c "SELECT uri FROM car.source WHERE name = 'remote'" -c "SELECT uri FROM car.source_status WHERE name = 'remote'" \
	-c "SELECT count(*) FROM car.source_secret")
echo "$out" | sed 's/^/# /'
[ "$(echo "$out" | head -2 | tr '\n' ' ')" = "https://127.0.0.1:1/x.csv https://127.0.0.1:1/x.csv " ] && echo "$out" | grep -q 'permission denied for table source_secret'
ok $? "car_ingest sees a source's URI without its password and cannot read car.source_secret"
is "car_admin reads the credentials" "$(as admin -c "SELECT userinfo FROM car.source_secret x JOIN car.source s ON s.id = x.source_id WHERE s.name = 'remote'")" "car:s3cret"

# --- 17. car's own SQL under a hostile search_path ----------------------------------------------------------
# A role puts a schema of its own before pg_catalog, holding an operator, a
# function, an aggregate or a type named like pg_catalog's that car's
# statements use unqualified (= on int, bigint, text and name; <, >=, + and -
# on timestamptz; ||; ->>; now(), lower(), hashtext(), date_trunc(), unnest(),
# count(*), sum(float8); the types jsonb and date).  Each one, when called,
# notes its name in a table of the schema (and gives pg_catalog's answer).
# Then the role itself, car_admin, a reader and a superuser run car's entry
# points with that search_path: pushes (new, again, overlapping, with a bad
# row, through a token), estimates, bills, refresh, close and reopen, sources,
# maintenance, factors, row-level security and token reports, the calculator
# and the simulator, car.grant_roles().  None of the objects may be called
# (car's SQL runs with search_path pinned to pg_catalog, pg_temp), and every
# result must be what a clean session computes.
su -c "CREATE SCHEMA evil AUTHORIZATION loader" >/dev/null
hostile_sql() {
	cat <<'SQL'
CREATE TABLE evil.calls (what text, who text);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT SELECT, INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.note(what text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN INSERT INTO evil.calls VALUES (what, current_user); RETURN true; END $$;
SQL
	# operators: name, left type, right type, result type
	local op l r t
	while read -r op l r t; do
		local f="evil.op_$(echo "$op$l$r" | md5sum | cut -c1-8)"
		echo "CREATE FUNCTION $f(a $l, b $r) RETURNS $t LANGUAGE plpgsql SET search_path = pg_catalog
    AS \$\$ BEGIN PERFORM evil.note('$op ($l, $r)'); RETURN a OPERATOR(pg_catalog.$op) b; END \$\$;"
		echo "CREATE OPERATOR evil.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = $f);"
	done <<'OPS'
= int4 int4 boolean
= int8 int8 boolean
= text text boolean
= name name boolean
< timestamptz timestamptz boolean
>= timestamptz timestamptz boolean
+ timestamptz interval timestamptz
- timestamptz interval timestamptz
|| text text text
->> jsonb text text
OPS
	cat <<'SQL'
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.lower(a text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('lower(text)'); RETURN pg_catalog.lower(a); END $$;
CREATE FUNCTION evil.hashtext(a text) RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('hashtext(text)'); RETURN pg_catalog.hashtext(a); END $$;
CREATE FUNCTION evil.date_trunc(f text, a timestamptz) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('date_trunc(text, timestamptz)'); RETURN pg_catalog.date_trunc(f, a); END $$;
CREATE FUNCTION evil.unnest(a anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('unnest(anyarray)'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION evil.count_step(n int8) RETURNS int8 LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('count(*)'); RETURN n OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = int8, INITCOND = '0');
CREATE FUNCTION evil.sum_step(s float8, v float8) RETURNS float8 LANGUAGE plpgsql STRICT SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('sum(float8)'); RETURN s OPERATOR(pg_catalog.+) v; END $$;
CREATE AGGREGATE evil.sum(float8) (SFUNC = evil.sum_step, STYPE = float8);
CREATE FUNCTION evil.sum_step(s numeric, v numeric) RETURNS numeric LANGUAGE plpgsql STRICT SET search_path = pg_catalog
    AS $$ BEGIN PERFORM evil.note('sum(numeric)'); RETURN s OPERATOR(pg_catalog.+) v; END $$;
CREATE AGGREGATE evil.sum(numeric) (SFUNC = evil.sum_step, STYPE = numeric);
CREATE DOMAIN evil.jsonb AS pg_catalog.jsonb CHECK (evil.note('type jsonb'));
CREATE DOMAIN evil.date AS pg_catalog.date CHECK (evil.note('type date'));
SQL
}
hostile_n=20 # the objects above: 10 operators, 8 functions and aggregates (sum(numeric): car's exact sums), 2 types
out=$(as loader -v ON_ERROR_STOP=1 <<SQL
$(hostile_sql)
SET search_path = evil, pg_catalog;
SELECT 1 = 1, 1::int8 = 1::int8, 'a'::pg_catalog.text = 'a', 'a'::name = 'a'::name, now() < now(), now() >= now(),
       now() + interval '1 day', now() - interval '1 day', 'a'::pg_catalog.text || 'b', '{"a": 1}'::pg_catalog.jsonb ->> 'a',
       lower('A'), hashtext('a'), date_trunc('day', pg_catalog.now()), (SELECT count(*) FROM unnest(ARRAY[1, 2])),
       (SELECT sum(x) FROM (VALUES (1::float8), (2)) v(x)), (SELECT sum(x) FROM (VALUES (1::numeric), (2)) v(x)), '{}'::jsonb, '2022-01-01'::date;
SQL
)
echo "$out" | grep ERROR | sed 's/^/# /'
is "the loader's schema evil holds $hostile_n objects named like pg_catalog's, and with it first on the search_path each is the one called" \
	"$(su -c "SELECT count(DISTINCT what) FROM evil.calls")" "$hostile_n"
su -c "TRUNCATE evil.calls" >/dev/null

python3 "$ROOT/test/gen/ecodriver.py" --out "$W/h1" --sites 2 --meters 1 --start 2022-07-01 --days 3 --seed 31 --junk 0 --extra-days "" >/dev/null
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/h5" --sites 2 --meters 1 --start 2022-07-11 --days 10 --seed 32 --junk 1 --extra-days "" >/dev/null
# h4: h1 with every reading 1 kWh more (it overlaps h1 whole: the upsert path)
python3 - "$W" <<'PY'
import csv, sys
from decimal import Decimal
w = sys.argv[1]
rows = list(csv.reader(open(w + "/h1.csv", newline="")))
for r in rows[1:]:
    r[4:] = [str(Decimal(v) + 1) if v else "" for v in r[4:]]
with open(w + "/h4.csv", "w", newline="") as f:
    csv.writer(f, lineterminator="\r\n").writerows(rows)
PY
# readings and kWh of each file, from the generator's totals (h4: h1's, plus 1 kWh a reading)
n1=$(awk -F, 'NR > 1 && $1 !~ /^\(/ {n += $3} END {print n}' "$W/h1.totals.csv")
kwh1=$(awk -F, 'NR > 1 && $1 !~ /^\(/ {print $4}' "$W/h1.totals.csv" | paste -sd+ | sed 's/^/0+/')
n5=$(awk -F, 'NR > 1 && $1 !~ /^\(/ {n += $3} END {print n}' "$W/h5.totals.csv")
hsql() { echo "SET search_path = evil, pg_catalog, car;"; cat; }
out=$(hsql <<'SQL' | as loader -v h1="$(cat "$W/h1.csv")" -v h4="$(cat "$W/h4.csv")" -v h5="$(cat "$W/h5.csv")" -v tok="$T_PUSH"
SELECT 'h1', rows_loaded, rows_rejected, rows_superseded FROM car.push('push-a', 'hijack-1.csv', convert_to(:'h1', 'UTF8'));
SELECT 'h1 again', rows_loaded, rows_rejected, rows_superseded FROM car.push('push-a', 'hijack-1-again.csv', convert_to(:'h1', 'UTF8'));
SELECT 'h4', rows_loaded, rows_rejected, rows_superseded FROM car.push('push-a', 'hijack-4.csv', convert_to(:'h4', 'UTF8'));
SELECT 'h5', rows_loaded, rows_rejected, rows_superseded FROM car.push(:'tok', 'push-a', 'hijack-5.csv', convert_to(:'h5', 'UTF8'));
SELECT 'gate', 1 FROM (SELECT car.check_push_token(:'tok', 'push-a')) g;
SQL
)
echo "$out" | grep -E 'ERROR|WARNING' | sed 's/^/# /'
is "pushes with the hostile search_path: a new file, the same bytes again, one overlapping it, one with a bad row through a token" \
	"$(echo "$out" | grep -E '^(h1|h4|h5|gate)' | tr '\n' ' ')" \
	"h1|$n1|0|0 h1 again|$n1|0|0 h4|$n1|0|$n1 h5|$n5|1|0 gate|1 "
h1_id=$(su -c "SELECT id FROM car.source_file WHERE name = 'hijack-1.csv'")
h4_id=$(su -c "SELECT id FROM car.source_file WHERE name = 'hijack-4.csv'")
h5_id=$(su -c "SELECT id FROM car.source_file WHERE name = 'hijack-5.csv'")
is "the readings are the overlapping file's: $n1 of them, h1's kWh + 1 each; the bad row is quarantined; the same bytes landed once" \
	"$(su -c "SELECT count(*), round(sum(quantity)::numeric, 3) = round(($kwh1 + $n1)::numeric, 3) FROM car.reading WHERE file_id = $h4_id" \
		-c "SELECT count(*) || ' ' || string_agg(message, '') FROM car.ingest_error WHERE file_id = $h5_id" \
		-c "SELECT count(*) FROM car.source_file WHERE name LIKE 'hijack-1%'" | tr '\n' ' ')" \
	"$n1|t 1 date \"not a date\" does not match the format DD/MM/YYYY 1 "
m1=$(su -c "SELECT m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.org = 'A' AND s.name = 'Site 1' AND m.name = 'Electricity meter 1'")
m2=$(su -c "SELECT m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.org = 'A' AND s.name = 'Site 2' AND m.name = 'Electricity meter 1'")
# linear estimates fill the half-hours the generator left blank inside the window (each has actual readings either side)
gaps=$(su -c "SELECT 96 - count(*) FROM car.reading WHERE meter_id = $m1 AND ts >= '2022-07-01 12:00+00' AND ts < '2022-07-03 12:00+00'")
out=$(hsql <<SQL | as loader
SELECT 'estimate', periods_missing, periods_filled FROM car.estimate($m1, '2022-07-01 12:00+00', '2022-07-03 12:00+00', 'linear');
SELECT 'bill', billed_quantity, periods_filled FROM car.bill($m2, '2022-07-25 00:00+01', '2022-07-26 00:00+01', 48);
SQL
)
echo "$out" | grep -E 'ERROR|WARNING' | sed 's/^/# /'
is "an estimate fills the $gaps blank half-hours of its window, and a bill of 48 kWh for a day without readings fills its 48 half-hours" \
	"$(echo "$out" | grep -E '^(estimate|bill)' | tr '\n' ' ')" "estimate|$gaps|$gaps bill|48|48 "
is "the estimated readings are there, and the billed day adds up to 48 kWh" \
	"$(su -c "SELECT count(*) FROM car.reading WHERE meter_id = $m1 AND quality = 'estimated'" \
		-c "SELECT sum(quantity) FROM car.reading WHERE meter_id = $m2 AND ts >= '2022-07-25 00:00+01' AND ts < '2022-07-26 00:00+01'" | tr '\n' ' ')" \
	"$gaps 48 "
out=$(hsql <<'SQL' | as admin
SELECT 'refresh', car.refresh() > 0;
SELECT id AS c_id, lines AS c_lines FROM car.close_period('A', '2022-07-01', '2022-07-31', 'signed under a hostile search_path') \gset
SELECT 'close', :'c_lines';
SELECT 'reopen', reopened_by FROM car.reopen_period(:c_id, 'reopened under a hostile search_path');
SELECT 'source', (car.add_source('hijack-src', NULL, 'push', 'long', '{"meter": "m", "org": "A"}')).name, car.remove_source('hijack-src');
SELECT 'backfill', car.backfill('remote', '2022-07-01', '2022-07-02');
SELECT 'wake', car.wake() IS NOT NULL;
SELECT 'partitions', car.ensure_partitions('2030-01-01', '2030-02-15') >= 0;
SELECT 'factors', year FROM car.load_factors(2023);
SQL
)
echo "$out" | grep -E 'ERROR|WARNING' | sed 's/^/# /'
close_id=$(su -c "SELECT max(id) FROM car.period_close WHERE org = 'A'")
is "car_admin under the hostile search_path: refresh, close and reopen, a source added and removed, backfill, wake, partitions, a factor file" \
	"$(echo "$out" | grep -E '^(refresh|close|reopen|source|backfill|wake|partitions|factors)\|' | tr '\n' ' ')" \
	"refresh|t close|$(su -c "SELECT count(*) FROM car.closed_emission WHERE close_id = $close_id") reopen|admin source|hijack-src|t backfill|0 wake|t partitions|t factors|2023 "
is "the refreshed July figures of org A's pushed meters are what car.co2e gives reading by reading (kg CO2e, generation)" \
	"$(su -c "SELECT round(e.kg::numeric, 6) = round(r.kg::numeric, 6) AND e.kg > 0 FROM
		(SELECT sum(kg_co2e) AS kg FROM car.emission_daily WHERE meter_id IN ($m1, $m2) AND component = 'generation' AND month = '2022-07-01') e,
		(SELECT sum(car.co2e(r.quantity, m.unit, m.activity, r.ts)) AS kg FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
		 WHERE r.meter_id IN ($m1, $m2) AND r.ts >= '2022-07-01 00:00+01' AND r.ts < '2022-08-01 00:00+01') r")" "t"
is "the close signed A's July as car.emission_daily holds it (kg CO2e), and its hash is there" \
	"$(su -c "SELECT round(p.kg_co2e::numeric, 6) = round((SELECT sum(kg_co2e) FROM car.emission_daily e JOIN car.site s ON s.id = e.site_id
		WHERE s.org = 'A' AND e.month = '2022-07-01')::numeric, 6), length(p.sha256) FROM car.period_close p WHERE p.id = $close_id")" "t|64"
T_A3=$(hs '{"sub":"hijack","org":"A","exp":"NOW+600"}')
out=$(hsql <<SQL | as reader
SELECT car.authenticate('$T_A3') IS NOT NULL AS authenticated \gset
SELECT 'sites', string_agg(name, ',' ORDER BY name) FROM car.site;
SELECT 'report', string_agg(DISTINCT site, ',' ORDER BY site) FROM car.report_monthly_for('$T_A3');
SELECT 'co2e', car.co2e(1000, 'kWh', 'electricity', '2022-07-01');
SELECT 'simulate', string_agg(quantity::pg_catalog.text, ',' ORDER BY ts) FROM car.simulate(ARRAY[$m1], '2022-08-01 00:00+00', '2022-08-01 03:00+00', '30 minutes', 7);
SQL
)
echo "$out" | grep -E 'ERROR|WARNING' | sed 's/^/# /'
is "a reader under the hostile search_path: row-level security, a token report, the calculator, the simulator, as a clean session sees them" \
	"$(echo "$out" | grep -E '^(sites|report|co2e|simulate)\|' | tr '\n' ' ')" \
	"$(su -c "SELECT 'sites', string_agg(name, ',' ORDER BY name) FROM car.site WHERE org = 'A'" \
		-c "SELECT 'report', string_agg(DISTINCT site, ',' ORDER BY site) FROM car.report_monthly WHERE organisation = 'A'" \
		-c "SELECT 'co2e', car.co2e(1000, 'kWh', 'electricity', '2022-07-01')" \
		-c "SELECT 'simulate', string_agg(quantity::text, ',' ORDER BY ts) FROM car.simulate(ARRAY[$m1], '2022-08-01 00:00+00', '2022-08-01 03:00+00', '30 minutes', 7)" | tr '\n' ' ')"
out=$(hsql <<'SQL' | su
SELECT 'grant_roles', array_length(car.grant_roles(), 1);
SELECT 'maintenance', car.maintenance() ? 'partitions_created';
SELECT 'refresh', car.refresh() >= 0;
SQL
)
echo "$out" | grep -E 'ERROR|WARNING' | sed 's/^/# /'
is "a superuser with the loader's schema first: car.grant_roles(), car.maintenance(), car.refresh()" \
	"$(echo "$out" | grep -E '^(grant_roles|maintenance|refresh)\|' | tr '\n' ' ')" "grant_roles|5 maintenance|t refresh|t "
is "none of the $hostile_n hostile objects was called by car's statements, as whichever role" \
	"$(su -c "SELECT count(*) || coalesce(': ' || string_agg(DISTINCT what || ' as ' || who, ', '), '') FROM evil.calls")" "0"

# --- 18. the record of landed files ---------------------------------------------------------------------------
# car.source_file, car.source_file_chunk and car.ingest_error say what each file held and what loading
# it did: car writes them (as their owner) when it lands a file; no role may make one up or change one
# by hand.
forge() {
	as "$1" -c "INSERT INTO car.source_file (source_id, name, sha256, bytes, status) SELECT id, 'forged.csv', repeat('0', 64), 0, 'loaded' FROM car.source WHERE name = 'push-a'" \
		-c "UPDATE car.source_file SET rows_loaded = 0, content = NULL WHERE id = $h1_id" \
		-c "INSERT INTO car.ingest_error (file_id, line, message) VALUES ($h1_id, 1, 'forged')" \
		-c "UPDATE car.ingest_error SET message = 'changed' WHERE file_id = $h5_id"
}
# the landed bytes: neither written, changed nor removed piece by piece
forge_bytes() {
	as "$1" -c "INSERT INTO car.source_file_chunk (file_id, seq, bytes) VALUES ($h1_id, 9999, '\\x00')" \
		-c "UPDATE car.source_file_chunk SET bytes = '\\x00' WHERE file_id = $h1_id" \
		-c "DELETE FROM car.source_file_chunk WHERE file_id = $h1_id"
}
for r in loader car_worker admin; do
	out=$(forge $r)
	is "$r cannot insert or update a landed file or a quarantined row (4 refusals)" \
		"$(echo "$out" | grep -cE 'permission denied for table (source_file|ingest_error)')" "4"
	is "$r cannot insert, change or delete a landed file's bytes (3 refusals)" \
		"$(forge_bytes $r | grep -c 'permission denied for table source_file_chunk')" "3"
done
is "a loader cannot delete one either; car_admin may (to land the same bytes again)" \
	"$(as loader -c "DELETE FROM car.source_file WHERE name = 'no such file'" | grep -c 'permission denied for table source_file') $(as admin -c "DELETE FROM car.source_file WHERE name = 'no such file'")" "1 "
is "the files' record is as car wrote it: nothing forged, the counts, the bytes and the quarantined row unchanged" \
	"$(su -c "SELECT count(*) FROM car.source_file WHERE name = 'forged.csv'" -c "SELECT rows_loaded, (SELECT count(*) > 0 FROM car.source_file_chunk WHERE file_id = $h1_id) FROM car.source_file WHERE id = $h1_id" \
		-c "SELECT count(*) FROM car.ingest_error WHERE file_id = $h1_id" -c "SELECT count(*) FROM car.ingest_error WHERE file_id = $h5_id AND message LIKE 'date%'" | tr '\n' ' ')" \
	"0 $n1|t 0 1 "

# --- in the end ---------------------------------------------------------------------------------------------
matrix >"$W/matrix-after.txt"
diff "$W/matrix-before.txt" "$W/matrix-after.txt" | sed 's/^/# /'
cmp -s "$W/matrix-before.txt" "$W/matrix-after.txt"
ok $? "after every attack, no role holds more than before (the privilege matrix is unchanged)"
is "no login role below superuser became one" \
	"$(su -c "SELECT count(*) FROM pg_roles WHERE rolsuper AND rolname <> 'postgres'")" "0"
echo "1..$n"
