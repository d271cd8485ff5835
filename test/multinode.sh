#!/usr/bin/env bash
# A federation of cars (TAP, issue 16): a hub and two shards, three private
# clusters on the loopback with wal_level = logical, plus a fourth, single
# car holding the same data, which the hub's reports must equal.  Checks the
# node roles and what each refuses, the id blocks (and that they survive
# pg_dump and pg_restore), reference data loaded once on the hub reaching
# the shards with the same ids (and a factor revision restating there, then
# on the hub), the hub's reports, JWT and row-level security on the hub, the
# status of its shards, and shards and the hub restarted in the middle of
# ingest and apply.  Then a third shard is added, an organisation is moved
# from it to another shard by the README's procedure (its blocks run as
# written there), and car.schedule() on the hub schedules no car-refresh.
#
# Readings are written on the shards directly; at the end a file is pushed
# through the hub, which forwards it to the shard of its organisation, and
# the shards' raw readings are read from the hub (car.reading_remote).  Why a fourth cluster rather than comparing
# the hub with the shards' own reports: the single car computes the same
# readings in one place, so it checks that the hub's union of shards is the
# whole (no shard's rows missing, none twice), which a shard-by-shard
# comparison cannot.
#
#	test/multinode.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
read -r -d '' P_HUB P_S1 P_S2 P_ONE P_S3 < <(free_ports 5)
# the replication login's password: it must be readable nowhere but pg_subscription (superusers)
SECRET="repl-$(openssl rand -hex 12)"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# a value holding an error never passes, unless the error is what is expected
is() { if [ "$2" = "$3" ] && { [[ "$2" != *ERROR* ]] || [[ "$3" == *ERROR* ]]; }; then ok 0 "$1"; else ok 1 "$1"; echo "#   got: '${2//$'\n'/ | }'"; echo "#   expected: '${3//$'\n'/ | }'"; fi; }
like() { if grep -qE "$3" <<<"$2"; then ok 0 "$1"; else ok 1 "$1"; echo "#   got: '${2//$'\n'/ | }'"; echo "#   expected to match: '$3'"; fi; }
port_of() { case $1 in hub) echo "$P_HUB" ;; s1) echo "$P_S1" ;; s2) echo "$P_S2" ;; one) echo "$P_ONE" ;; s3) echo "$P_S3" ;; esac; }
# psql on a node (as postgres unless -U is given), errors in the output
q() { local node=$1; shift; as_postgres "$PGBIN/psql" -X -qAt -h "$W/$node" -p "$(port_of "$node")" -d car "$@" 2>&1; }
conninfo() { echo "host=127.0.0.1 port=$(port_of "$1") dbname=car user=car_repl password=$SECRET connect_timeout=5"; }
ctl() { as_postgres "$PGBIN/pg_ctl" -D "$W/$1/data" -l "$W/$1/server.log" "${@:2}" >/dev/null 2>&1; }
# wait (up to 90 s) until a query gives the same answer on two nodes; prints that answer
same() { # node_a sql_a node_b sql_b
	local a b
	for _ in $(seq 450); do
		a=$(q "$1" -c "$2")
		b=$(q "$3" -c "$4")
		[ -n "$a" ] && [ "$a" = "$b" ] && [[ "$a" != *ERROR* ]] && { echo "$a"; return 0; }
		sleep 0.2
	done
	echo "# $1: $a"
	echo "# $3: $b"
	return 1
}
# a report on the hub equals the single car's: the hub applies each shard's changes on its own time,
# so wait (up to 90 s, as same does) until it does; a real difference still fails, with both answers
hub_equals_one() { # label report
	local out rc
	out=$(same hub "$(report "$2")" one "$(report "$2")")
	rc=$?
	ok $rc "$1"
	[ $rc = 0 ] || echo "$out"
}
# a shard's car.emission_daily, as a checksum, and the hub's rows of that shard's id block
EMISSIONS="SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', site_id, meter_id, day, component, kg_co2e, kg_co2e_market, factor_set_id, file_ids), ',' ORDER BY meter_id, day, component)) FROM car.emission_daily"
emissions_of_block() { echo "$EMISSIONS WHERE meter_id BETWEEN $1 * 10000000 AND $1 * 10000000 + 9999999"; }
# a report's rows as text (site ids differ between the federation and the single car: left out;
# numbers rounded to 4 decimals: sums may add up rows in another order)
report() {
	echo "SELECT count(*) || ' ' || md5(string_agg(x, E'\n' ORDER BY x)) FROM (
	  SELECT (SELECT string_agg(CASE WHEN jsonb_typeof(v) = 'number' THEN round(v::text::numeric, 4)::text ELSE v::text END, '|' ORDER BY k)
	          FROM jsonb_each(to_jsonb(r) - 'site_id') e(k, v)) AS x
	  FROM $1 r) s"
}

stop_all() { for d in hub s1 s2 one s3; do [ -d "$W/$d/data" ] && ctl "$d" -m immediate stop; done; }
rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"
chown postgres "$W"
trap stop_all EXIT
# a cluster for a node, started, with a database car; the hub and s1 preload pg_cron too (car.schedule)
make_node() {
	local node=$1 preload=car cron=
	case $node in hub | s1)
		preload=pg_cron,car
		# pg_cron's jobs in background workers: these servers listen on 127.0.0.1 only (PITFALLS.md)
		cron="cron.database_name = 'car'
cron.use_background_workers = on" ;;
	esac
	start_federation_node "$W/$node" "$(port_of "$node")" <<CONF
shared_preload_libraries = '$preload'
$cron
CONF
}
# car in a node's database, with the test's roles
install_car() {
	q "$1" -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION car;
SELECT car.grant_roles(true) IS NOT NULL;
CREATE ROLE car_repl LOGIN REPLICATION BYPASSRLS PASSWORD '$SECRET' IN ROLE car_reader, car_ingest;
CREATE ROLE pusher LOGIN IN ROLE car_ingest;
CREATE ROLE analyst LOGIN IN ROLE car_reader;
CREATE ROLE admin LOGIN IN ROLE car_admin;
SQL
}
for node in hub s1 s2 one; do make_node "$node"; done
cp "${CAR_FIXTURES:-$FIXTURES}/desnz_flatfile/ghg-conversion-factors-2023-flat-file-update.frlocale.csv" "$W/factors-2023.csv"
# the revision: the 2023 file with UK electricity's generation factor (kg CO2e per kWh) 0.20707 made 0.30707
sed 's/^\(7_400_4000_5_1;Scope 2;UK electricity;Electricity generated;Electricity: UK;kWh;;kWh;kg CO2e;\)0,20707/\10,30707/' \
	"$W/factors-2023.csv" >"$W/factors-2023-revised.csv"
cp "${CAR_FIXTURES:-$FIXTURES}/cambridge_estates/UCam_Building_b0_electricity_2023.csv" "$W/b0-2023.csv"
chmod a+r "$W"/*.csv
cmp -s "$W/factors-2023.csv" "$W/factors-2023-revised.csv"
ok $((1 - $?)) "the revised 2023 factor file differs from the published one (one value)"

# --- car on every node; roles --------------------------------------------------------------
for node in hub s1 s2 one; do
	out=$(install_car "$node")
	ok $? "car installed on $node (roles car_repl with REPLICATION and car_ingest, analyst, admin, pusher)"
	[ $? = 0 ] || echo "$out" | sed 's/^/# /'
done
q hub -c "ALTER SYSTEM SET car.node_role = 'hub'" -c "SELECT pg_reload_conf()" >/dev/null
q s1 -c "ALTER SYSTEM SET car.node_role = 'shard'" -c "SELECT pg_reload_conf()" >/dev/null
q s2 -c "ALTER SYSTEM SET car.node_role = 'shard'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
is "node roles: hub, shard, shard, single" \
	"$(for d in hub s1 s2 one; do q "$d" -c "SHOW car.node_role"; done | tr '\n' ' ')" "hub shard shard single "
is "car.node_role is a server setting (sighup): no session changes it, a superuser's neither" \
	"$(q hub -c "SELECT context FROM pg_settings WHERE name = 'car.node_role'"; q hub -c "SET car.node_role = 'single'" | grep -o 'cannot be changed now')" \
	$'sighup\ncannot be changed now'

# --- id blocks ---------------------------------------------------------------------------------
like "a hub has no id block: car.set_id_block is refused there" "$(q hub -c "SELECT car.set_id_block(9)")" \
	"car.set_id_block is for a shard; this server's car.node_role is hub"
like "a block is 1 to 213" "$(q s1 -c "SELECT car.set_id_block(214)")" "id block 214 is out of range"
is "car.set_id_block(1) on s1 and (2) on s2: the rows say their ranges" \
	"$(q s1 -c "SELECT block, first_id, last_id FROM car.set_id_block(1)"; q s2 -c "SELECT block, first_id, last_id FROM car.set_id_block(2)")" \
	$'1|10000000|19999999\n2|20000000|29999999'
is "s1's six sequences are bounded to block 1, no problem found" \
	"$(q s1 -c "SELECT string_agg(concat_ws(' ', sequence, min_value, max_value, coalesce(problem, 'ok')), ', ' ORDER BY sequence) FROM car.check_id_block()")" \
	"car.meter_id_seq 10000000 19999999 ok, car.period_close_event_id_seq 10000000 19999999 ok, car.period_close_id_seq 10000000 19999999 ok, car.site_id_seq 10000000 19999999 ok, car.source_file_id_seq 10000000 19999999 ok, car.source_id_seq 10000000 19999999 ok"
like "an id outside the block is refused on the shard" "$(q s1 -c "INSERT INTO car.site (id, name, org) VALUES (5, 'X', 'A')")" \
	"car.site id 5 is outside this shard's id block 1 \(10000000 to 19999999\)"
is "a single car has no block and no problem" "$(q one -c "SELECT count(*) FILTER (WHERE problem IS NULL AND block IS NULL) FROM car.check_id_block()")" "6"

# --- reference data: loaded once on the hub, replicated to the shards ---------------------------
out=$(q hub -v ON_ERROR_STOP=1 -c "SELECT car.publish_reference()" -c "SELECT year FROM car.load_factors('$W/factors-2023.csv')")
is "the hub publishes car_reference and loads the 2023 factors" "$out" $'car_reference\n2023'
like "a shard refuses to load factors itself" "$(q s1 -c "SELECT car.load_factors('$W/factors-2023.csv')")" \
	"loading a factor file is refused on a shard"
for s in s1 s2; do
	out=$(q "$s" -v ON_ERROR_STOP=1 -c "SELECT car.subscribe_reference('$(conninfo hub)')" -c "SELECT car.publish_shard()")
	is "$s subscribes to the hub's reference data and publishes car_shard" "$out" $'car_reference\ncar_shard'
done
q one -c "SELECT car.load_factors('$W/factors-2023.csv')" >/dev/null
FACTORS="SELECT count(*) || ' ' || md5(string_agg(id || '|' || set_id || '|' || value, ',' ORDER BY id)) FROM car.factor"
for s in s1 s2; do
	out=$(same hub "$FACTORS" "$s" "$FACTORS")
	ok $? "the hub's factors reach $s with the same ids and values (${out%% *} rows)"
done
is "the shards' factor sets are the hub's (ids, years)" \
	"$(q s1 -c "SELECT string_agg(id || ':' || year, ',' ORDER BY id) FROM car.factor_set")" \
	"$(q hub -c "SELECT string_agg(id || ':' || year, ',' ORDER BY id) FROM car.factor_set")"
# 100 kWh at the published 0.20707 kg CO2e/kWh = 20.707 kg
is "a shard prices with the replicated factors: 100 kWh of UK electricity in 2023 = 20.707 kg CO2e" \
	"$(q s2 -c "SELECT round(car.co2e(100, 'kWh', 'electricity', '2023-06-01')::numeric, 6)")" "20.707000"
is "the replicated factor set queued its year for restatement on the shard (apply fired the row trigger)" \
	"$(q s1 -c "SELECT count(*) > 0 FROM car.refresh_year WHERE year = 2023")" "t"

# --- the hub subscribes to the shards ------------------------------------------------------------
like "car.add_shard refuses a server that is not a shard" "$(q hub -c "SELECT car.add_shard('x', '$(conninfo one)')")" \
	"is not a shard: its car.node_role is single"
for s in s1 s2; do
	out=$(q hub -v ON_ERROR_STOP=1 -c "SELECT name || ' ' || subscription || ' ' || slot || ' ' || id_block FROM car.add_shard('$s', '$(conninfo "$s")')")
	is "car.add_shard('$s') subscribes the hub to $s" "$out" "$s car_shard_$s car_hub_$s ${s#s}"
done
like "the same block twice is refused" "$(q hub -c "SELECT car.add_shard('again', '$(conninfo s1)')")" \
	"clashes with shard \"s1\": same name or same id block \(1\)"

# --- data on the shards (orgs A and B on s1, C and D on s2) and the same in the single car --------
# every meter reads 0.5 kWh (electricity) or 2 kWh (gas) each half-hour of 2023-03-01 .. 2023-05-31 (UK days)
DATA=$(cat <<'SQL'
INSERT INTO car.site (name, org, floor_area_m2) SELECT s, o, 1000 + ascii(o) FROM (VALUES ('%1', 'HQ'), ('%1', 'Depot'), ('%2', 'HQ'), ('%2', 'Lab')) v(o, s);
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, name || ' electricity', 'electricity', 'kWh' FROM car.site WHERE org IN ('%1', '%2') UNION ALL
SELECT id, name || ' gas', 'natural_gas', 'kWh' FROM car.site WHERE org IN ('%1', '%2') AND name = 'HQ';
SELECT car.ensure_partitions('2023-03-01', '2023-06-01') >= 0;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, t, CASE m.activity WHEN 'electricity' THEN 0.5 ELSE 2 END FROM car.meter m,
       generate_series('2023-03-01 00:00 Europe/London'::timestamptz, '2023-05-31 23:30 Europe/London', '30 minutes') t
WHERE m.site_id IN (SELECT id FROM car.site WHERE org IN ('%1', '%2'));
-- a site changes hands: %1's Depot belongs to %2 from 1 April 2023 (two periods: %1's, then %2's)
SELECT count(*) FROM car.transfer_site((SELECT id FROM car.site WHERE org = '%1' AND name = 'Depot'), '%2', '2023-04-01', 'test');
SELECT car.refresh() > 0;
SQL
)
load() { local sql=${DATA//%1/$2}; sql=${sql//%2/$3}; q "$1" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "$sql"; }
out=$(load s1 A B; load s2 C D; load one A B; load one C D)
is "orgs A, B loaded and refreshed on s1, C, D on s2, all four on the single car" "$out" $'t\n2\nt\nt\n2\nt\nt\n2\nt\nt\n2\nt'
# four sites and six meters each, numbered from the block's first id
is "s1's sites and meters have ids of block 1, s2's of block 2" \
	"$(for s in s1 s2; do q $s -c "SELECT (SELECT min(id) || '-' || max(id) FROM car.site) || ' ' || (SELECT min(id) || '-' || max(id) FROM car.meter)"; done)" \
	$'10000000-10000003 10000000-10000005\n20000000-20000003 20000000-20000005'
for s in s1 s2; do
	out=$(same "$s" "$EMISSIONS" hub "$(emissions_of_block "${s#s}")")
	ok $? "the hub's car.emission_daily holds exactly $s's rows (${out%% *})"
done
out=$(same s1 "SELECT count(*) FROM car.site_org" hub "SELECT count(*) FROM car.site_org WHERE site_id < 20000000")
ok $? "the hub holds s1's periods of ownership (car.site_org: $out)"
same s2 "SELECT count(*) FROM car.site_org" hub "SELECT count(*) FROM car.site_org WHERE site_id >= 20000000" >/dev/null
ok $? "and s2's"

# --- the hub's reports equal the single car's ------------------------------------------------------
# (car.coverage and car.report_time_of_use read raw readings, per day and per half-hour, which stay on
# the shards: on the hub they wait for car.reading_remote; the reports' coverage columns come from
# car.emission_daily and car.meter_span, and match)
for r in car.report_monthly car.report_yearly car.report_scope car.report_intensity car.report_scope2 car.report_ggc; do
	hub_equals_one "$r on the hub equals the single car's ($(q one -c "SELECT count(*) FROM $r") rows)" "$r"
done
# March 2023 has 31 UK days, one of 46 half-hours (clocks forward on the 26th): 31 * 48 - 2 = 1486 periods, 743 kWh at 0.5
is "hand check: the hub's March 2023 electricity of A's HQ is 743 kWh, 100% covered" \
	"$(q hub -c "SELECT quantity || ' ' || round(coverage) FROM car.report_monthly WHERE organisation = 'A' AND site = 'HQ' AND month = '2023-03-01' AND activity = 'electricity'")" \
	"743 100"
# 743 kWh * 0.20707 = 153.85301 kg CO2e of generation
is "hand check: ... and 153.85301 kg CO2e of Scope 2" \
	"$(q hub -c "SELECT round(scope2_kg_co2e::numeric, 5) FROM car.report_monthly WHERE organisation = 'A' AND site = 'HQ' AND month = '2023-03-01' AND activity = 'electricity'")" \
	"153.85301"
is "the Depot's April is B's on the hub (the transfer replicated)" \
	"$(q hub -c "SELECT string_agg(DISTINCT organisation || ':' || to_char(month, 'YYYY-MM'), ',') FROM car.report_monthly WHERE site = 'Depot' AND organisation IN ('A', 'B')")" \
	"A:2023-03,B:2023-04,B:2023-05"

# --- what a hub refuses ----------------------------------------------------------------------------
like "the hub refuses car.refresh()" "$(q hub -c "SELECT car.refresh()")" \
	"car.refresh\(\) is refused on a hub \(car.node_role = hub\)"
like "... with what to do" "$(q hub -c "\\set VERBOSITY verbose" -c "SELECT car.refresh()")" \
	"HINT:  Run it on that shard"
like "the hub refuses car.push_lo(): a large object is pushed on its organisation's shard" \
	"$(q hub -c "SELECT car.push_lo('push-a', 'a.csv', lo_from_bytea(0, 'x'))")" \
	"car.push_lo\(\) \(a large object is pushed on its organisation's shard\) is refused on a hub"
like "the hub refuses writing its replicated tables by hand" "$(q hub -c "INSERT INTO car.site (name, org) VALUES ('X', 'A')")" \
	"writing car.site is refused on a hub"
like "the hub's worker polls nothing, and says so" "$(cat "$W/hub/server.log")" "this server is a hub \(car.node_role = hub\): sources are not polled here"

# --- a factor revision loaded on the hub restates on the shards, then on the hub -------------------
# a shard backend that priced with the old factor keeps running while the revision arrives
as_postgres "$PGBIN/psql" -X -qAt -h "$W/s1" -p "$P_S1" -d car >"$W/cache.out" 2>&1 <<'SQL' &
SELECT 'before ' || round(car.co2e(100, 'kWh', 'electricity', '2023-06-01')::numeric, 6);
DO $$ BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT count(*) FROM car.factor_set WHERE year = 2023) = 2;
        PERFORM pg_sleep(0.1);
        COMMIT;
    END LOOP;
END $$;
SELECT 'after ' || round(car.co2e(100, 'kWh', 'electricity', '2023-06-01')::numeric, 6);
SQL
WATCHER=$!
sleep 1
q s1 -c "TRUNCATE car.refresh_year" >/dev/null
q hub -v ON_ERROR_STOP=1 -c "SELECT car.load_factors('$W/factors-2023-revised.csv')" >/dev/null
q one -v ON_ERROR_STOP=1 -c "SELECT car.load_factors('$W/factors-2023-revised.csv')" >/dev/null
wait $WATCHER
# s2 applies the revision on its own time: each shard must hold it before its refresh restates 2023
# (the factor sets and values of 2023 the same as the hub's)
FACTORS_2023="SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', s.id, s.revision, s.superseded_by, f.id, f.value), ',' ORDER BY f.id)) FROM car.factor_set s JOIN car.factor f ON f.set_id = s.id WHERE s.year = 2023"
for s in s1 s2; do
	out=$(same hub "$FACTORS_2023" "$s" "$FACTORS_2023")
	ok $? "the revision's factors reach $s"
done
# 100 kWh * 0.30707 = 30.707 kg
is "a shard backend's factor cache sees the revision replicated from the hub (20.707 then 30.707 kg)" \
	"$(cat "$W/cache.out")" $'before 20.707000\nafter 30.707000'
is "the revision queued 2023 for restatement on the shard (apply fired the row trigger)" \
	"$(q s1 -c "SELECT count(*) > 0 FROM car.refresh_year WHERE year = 2023")" "t"
is "after car.refresh() on the shards, A's HQ March 2023 on s1 is 743 * 0.30707 = 228.15301 kg CO2e of Scope 2" \
	"$(q s1 -c "SELECT car.refresh() > 0" -c "SELECT round(scope2_kg_co2e::numeric, 5) FROM car.report_monthly WHERE organisation = 'A' AND site = 'HQ' AND month = '2023-03-01' AND activity = 'electricity'"; q s2 -c "SELECT car.refresh() > 0" >/dev/null)" \
	$'t\n228.15301'
q one -c "SELECT car.refresh()" >/dev/null
for s in s1 s2; do
	out=$(same "$s" "$EMISSIONS" hub "$(emissions_of_block "${s#s}")")
	ok $? "the restatement reaches the hub from $s"
done
hub_equals_one "the hub's report_monthly equals the single car's after the revision" car.report_monthly
is "... and shows the revised figure" \
	"$(q hub -c "SELECT round(scope2_kg_co2e::numeric, 5) FROM car.report_monthly WHERE organisation = 'A' AND site = 'HQ' AND month = '2023-03-01' AND activity = 'electricity'")" \
	"228.15301"

# --- JWT and row-level security on the hub ----------------------------------------------------------
q hub -c "INSERT INTO car.jwt_key (kid, alg, key) VALUES ('hs', 'HS256', '$(openssl rand -hex 32)')" >/dev/null
TOKEN=$(q hub -c "SELECT car.sign_jwt(jsonb_build_object('org', 'C', 'exp', extract(epoch FROM now() + interval '1 hour')::bigint), 'hs')")
is "report_monthly_for(token of org C) on the hub gives C's rows only, all of them" \
	"$(q hub -c "SELECT string_agg(DISTINCT organisation, ',') || ' ' || count(*) FROM car.report_monthly_for('$TOKEN')")" \
	"C $(q one -c "SELECT count(*) FROM car.report_monthly WHERE organisation = 'C'")"
# every report_*_for(token) on the hub equals the single car's report of C's rows (the same row type);
# C's staff and reduction target are the organisation's own settings, kept on the hub (and on the single car)
for node in hub one; do
	q "$node" -v ON_ERROR_STOP=1 -c "INSERT INTO car.normaliser (org, kind, value, valid_from) VALUES ('C', 'fte', 120, '2022-04-01')" \
		-c "INSERT INTO car.target (org, metric, base_year, target_year, reduction) SELECT 'C', min(key), 2022, 2025, 50 FROM car.ggc_metric" >/dev/null
done
# every report_*_for(token) on the hub equals the single car's report of C's rows (the same row type)
for r in monthly yearly scope scope2 ggc normalised target; do
	is "car.report_${r}_for(token of org C) on the hub equals the single car's car.report_$r of C ($(q one -c "SELECT count(*) FROM car.report_$r WHERE organisation = 'C'") rows)" \
		"$(q hub -c "$(report "car.report_${r}_for('$TOKEN')")")" \
		"$(q one -c "$(report "(SELECT * FROM car.report_$r WHERE organisation = 'C')")")"
done
# C's sites: its HQ, and the Depot it owned until 31 March (D's since, whose days after that C does not see)
is "an analyst (car_reader) authenticated with that token sees C's sites and their emissions only" \
	"$(q hub -U analyst -c "SELECT car.authenticate('$TOKEN') IS NOT NULL" -c "SELECT string_agg(name || ':' || org, ',' ORDER BY name) FROM car.site" -c "SELECT count(DISTINCT site_id) || ' ' || max(day) FILTER (WHERE site_id = (SELECT id FROM car.site WHERE name = 'Depot')) FROM car.emission_daily")" \
	$'t\nDepot:D,HQ:C\n2 2023-03-31'
is "without a token the analyst sees nothing on the hub" "$(q hub -U analyst -c "SELECT count(*) FROM car.report_monthly")" "0"

# --- a BI tool on the hub: the JDBC driver (the one Metabase and Looker use) and test/bi/BiClient.java,
# as a car_auditor login: its schema sync (the reporting views, their columns and comments) and its
# reports of the Lab sites (B's and D's) in April 2023 read the same on the hub as on the single car
# (sorted: the two organisations' lines of a report may come in either order)
JDBC_JAR=${CAR_JDBC_JAR:-/usr/share/java/postgresql.jar}
if command -v java >/dev/null 2>&1 && [ -r "$JDBC_JAR" ]; then
	for node in hub one; do
		q "$node" -v ON_ERROR_STOP=1 -c "CREATE ROLE bi_metabase LOGIN IN ROLE car_auditor" >/dev/null
		BI_SITE=Lab BI_MONTH=2023-04-01 BI_YEAR=2023 java -cp "$JDBC_JAR" "$ROOT/test/bi/BiClient.java" \
			"jdbc:postgresql://127.0.0.1:$(port_of "$node")/car" bi_metabase >"$W/bi-$node.out" 2>"$W/bi-$node.err"
		ok $? "the BI client (JDBC) ran to the end on the $node"
	done
	is "... and printed the same on the hub as on the single car" "$(sort "$W/bi-hub.out")" "$(sort "$W/bi-one.out")"
	like "... with the Labs' April reports in it: 2 x 30 x 48 x 0.5 = 1440 kWh of electricity in all" \
		"$(awk -F'|' '$1 == "monthly" && $3 == "electricity" { s += $5 } END { print "electricity " s }' "$W/bi-hub.out")" '^electricity 1440$'
else
	ok 1 "java and the JDBC driver ($JDBC_JAR) are needed: scripts/deps.sh installs them"
fi

# --- the hub's view of its shards; the replication password ----------------------------------------
is "car.shard_status: two shards, each applied by a worker, with their slot read on the shard" \
	"$(q hub -U admin -c "SELECT string_agg(shard || ' ' || (apply_pid IS NOT NULL) || ' ' || (slot_bytes >= 0) || ' ' || (pending_bytes >= 0) || ' ' || coalesce(slot_error, 'ok') || ' ' || (last_apply_at IS NOT NULL), ', ' ORDER BY shard) FROM car.shard_status")" \
	"s1 true true true ok true, s2 true true true ok true"
like "the subscription's connection string is not readable by car_admin" "$(q hub -U admin -c "SELECT subconninfo FROM pg_subscription")" \
	"permission denied for table pg_subscription"
is "the replication password is in no car table or view the admin can read" \
	"$(q hub -U admin -c "SELECT count(*) FROM (SELECT to_jsonb(s)::text t FROM car.shard s UNION ALL SELECT to_jsonb(s)::text FROM car.shard_status s) x WHERE t LIKE '%$SECRET%'")" "0"
is "... nor in any column of any car table (read by a superuser)" \
	"$(q hub -At -c "DO \$\$ DECLARE r regclass; n int := 0; k int; BEGIN
	       FOR r IN SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'car'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition LOOP
	           EXECUTE format('SELECT count(*) FROM %s t WHERE to_jsonb(t)::text LIKE %L', r, '%$SECRET%') INTO k; n := n + k; END LOOP;
	       RAISE NOTICE 'found %', n; END \$\$" 2>&1 | sed -n 's/.*found \([0-9]*\).*/\1/p')" "0"

# --- restarts in the middle of ingest and apply --------------------------------------------------------
# s2 is stopped hard (immediate: no checkpoint) while a month of readings is being written and refreshed
q s2 -c "SELECT car.ensure_partitions('2023-06-01', '2023-07-01')" >/dev/null
JUNE="INSERT INTO car.reading (meter_id, ts, quantity) SELECT m.id, t, 0.25 FROM car.meter m, generate_series('2023-06-01 00:00 Europe/London'::timestamptz, '2023-06-30 23:30 Europe/London', '30 minutes') t WHERE m.activity = 'electricity'"
(q s2 -c "BEGIN" -c "$JUNE" -c "SELECT pg_sleep(3)" -c "SELECT car.refresh()" -c "COMMIT" >"$W/s2-crash.out") &
LOADER=$!
sleep 1.5
ctl s2 -m immediate stop
wait $LOADER
ctl s2 -w start
is "s2 stopped in the middle of an ingest: nothing of it was kept" "$(q s2 -c "SELECT count(*) FROM car.reading WHERE ts >= '2023-06-01'")" "0"
out=$(q s2 -v ON_ERROR_STOP=1 -c "$JUNE" -c "SELECT car.refresh() > 0")
is "the ingest run again on s2 after its restart" "$out" "t"
# the hub is stopped hard while s2's June streams in, s1 restarted too
q s1 -v ON_ERROR_STOP=1 -c "SELECT car.ensure_partitions('2023-06-01', '2023-07-01')" -c "$JUNE" -c "SELECT car.refresh()" >/dev/null
ctl hub -m immediate stop
ctl s1 -m immediate restart -w
ctl hub -w start
for s in s1 s2; do
	out=$(same "$s" "$EMISSIONS" hub "$(emissions_of_block "${s#s}")")
	ok $? "after the restarts the hub converges with $s (${out%% *} rows)"
done
q one -c "SELECT car.ensure_partitions('2023-06-01', '2023-07-01')" -c "$JUNE" -c "SELECT car.refresh()" >/dev/null
hub_equals_one "... and its report_monthly equals the single car's with June" car.report_monthly

# --- a shard's maintenance moves rows out of the default partition: the hub keeps them --------------------
SEPTEMBER="INSERT INTO car.reading (meter_id, ts, quantity) SELECT m.id, t, 0.25 FROM car.meter m, generate_series('2023-09-01 00:00 Europe/London'::timestamptz, '2023-09-02 23:30 Europe/London', '30 minutes') t WHERE m.activity = 'electricity'"
# (a refresh makes the months' partitions, except outside car.accept_from .. now() + car.accept_ahead:
# moved here; 2 days x 4 electricity meters x 4 components = 32 rows)
is "September 2023 refreshed on s1 outside the accepted range lands in the default partition" \
	"$(q s1 -v ON_ERROR_STOP=1 -c "$SEPTEMBER" -c "SET car.accept_from = '2023-10-01'" -c "SELECT car.refresh() > 0" -c "SELECT count(*) FROM car.emission_daily_default")" $'t\n32'
same s1 "$EMISSIONS" hub "$(emissions_of_block 1)" >/dev/null
ok $? "the hub has it"
is "car.maintenance() on s1 moves it into a partition of its own" \
	"$(q s1 -c "SET client_min_messages = warning" -c "SELECT car.maintenance() IS NOT NULL" -c "SELECT count(*) FROM car.emission_daily_default" -c "SELECT count(*) FROM car.emission_daily_p202309")" $'t\n0\n32'
out=$(same s1 "$EMISSIONS" hub "$(emissions_of_block 1)")
ok $? "the hub still holds every row of s1 after the move (${out%% *})"

# --- the id block at start-up, and after pg_dump and pg_restore -------------------------------------------
# a sequence unbounded by hand: the worker says so at start-up, the trigger refuses the id, set_id_block repairs
q s2 -c "ALTER SEQUENCE car.meter_id_seq MINVALUE 1 MAXVALUE 2147483647 RESTART 1" >/dev/null
ctl s2 -m fast restart -w
for _ in $(seq 100); do grep -q 'car.meter_id_seq is bounded to 1..2147483647, not to id block 2' "$W/s2/server.log" && break; sleep 0.2; done
like "at start-up the worker warns of a sequence outside the shard's block" "$(grep 'WARNING' "$W/s2/server.log")" \
	"car: car.meter_id_seq: car.meter_id_seq is bounded to 1..2147483647, not to id block 2 \(20000000..29999999\)"
like "... and a meter made with it is refused" \
	"$(q s2 -c "INSERT INTO car.meter (site_id, name, activity, unit) SELECT min(id), 'new', 'electricity', 'kWh' FROM car.site")" \
	"car.meter id 1 is outside this shard's id block 2"
is "setting the block again repairs it" \
	"$(q s2 -c "SELECT block FROM car.set_id_block(2)" -c "SELECT count(*) FROM car.check_id_block() WHERE problem IS NOT NULL")" $'2\n0'
# s2's meters are 20000000..20000005: restarting the sequence at the block's first id would clash
is "... going on after the meters s2 holds: the next meter is 20000006" \
	"$(q s2 -c "SELECT nextval('car.meter_id_seq')" -c "SELECT setval('car.meter_id_seq', 20000005)")" $'20000006\n20000005'
is "a sequence set back to ids its table holds is a problem the check names" \
	"$(q s2 -c "SELECT setval('car.meter_id_seq', 20000001, false)" -c "SELECT problem FROM car.check_id_block() WHERE problem IS NOT NULL" -c "SELECT setval('car.meter_id_seq', 20000005)")" \
	$'20000001\ncar.meter_id_seq would give 20000001 next, an id car.meter holds already (up to 20000005)\n20000005'
# s1 dumped, restored into a fresh database of the single car's cluster (a cluster s1 never saw)
as_postgres "$PGBIN/pg_dump" -h "$W/s1" -p "$P_S1" -Fc -f "$W/s1.dump" car 2>"$W/dump.err"
as_postgres "$PGBIN/createdb" -h "$W/one" -p "$P_ONE" restored
as_postgres "$PGBIN/pg_restore" -h "$W/one" -p "$P_ONE" -d restored --no-subscriptions "$W/s1.dump" >"$W/restore.out" 2>&1
rq() { as_postgres "$PGBIN/psql" -X -qAt -h "$W/one" -p "$P_ONE" -d restored "$@" 2>&1; }
is "after pg_restore the block is there and the check holds" \
	"$(rq -c "SELECT block FROM car.id_block" -c "SELECT string_agg(coalesce(problem, 'ok'), ',') FROM car.check_id_block()")" $'1\nok,ok,ok,ok,ok,ok'
# a sequence's next value is where s1's own would go on (after a crash that is past the highest id:
# PostgreSQL logs sequences 32 values ahead)
want=$(q s1 -c "SELECT last_value + 1 FROM car.site_id_seq" -c "SELECT last_value + 1 FROM car.meter_id_seq" | tr '\n' ' ')
new=$(rq -c "INSERT INTO car.site (name, org) VALUES ('New', 'A') RETURNING id" -c "INSERT INTO car.meter (site_id, name, activity, unit) SELECT max(id), 'n', 'electricity', 'kWh' FROM car.site RETURNING id" | grep -E '^[0-9]+$' | tr '\n' ' ')
is "... a new site and meter take the ids s1 would have given next, in block 1" "$new" "$want"
like "... which are in block 1" "$new" '^1[0-9]{7} 1[0-9]{7} $'

# --- routing: car.push on the hub goes to the one shard of the source's organisation ----------------
# (last: the file changes s1's readings, which the single car does not have)
log_from=$(($(wc -l <"$W/hub/server.log") + 1))
is "a car_admin places A and B on s1, C and D on s2" \
	"$(q hub -U admin -c "INSERT INTO car.placement (org, shard) VALUES ('A', 's1'), ('B', 's1'), ('C', 's2'), ('D', 's2')" -c "SELECT string_agg(org || ':' || shard, ',' ORDER BY org) FROM car.placement")" \
	"A:s1,B:s1,C:s2,D:s2"
like "a placement on a shard the hub does not have is refused" \
	"$(q hub -U admin -c "INSERT INTO car.placement (org, shard) VALUES ('E', 's9')")" 'violates foreign key constraint'
like "an analyst (car_reader) may not place an organisation" \
	"$(q hub -U analyst -c "INSERT INTO car.placement (org, shard) VALUES ('E', 's1')")" 'permission denied for table placement'
SRC='{"site": "Routed", "meter": "Routed electricity", "timezone": "UTC", "activity": "electricity", "org": "%s"}'
for node in hub s1; do q "$node" -v ON_ERROR_STOP=1 -c "SELECT car.add_source('push-a', NULL, 'push', 'long', '$(printf "$SRC" A)')" >/dev/null; done
q hub -c "SELECT car.add_source('push-c', NULL, 'push', 'long', '$(printf "$SRC" C)')" \
	-c "SELECT car.add_source('push-e', NULL, 'push', 'long', '$(printf "$SRC" E)')" \
	-c "SELECT car.add_source('push-none', NULL, 'push', 'long', '{\"meter\": \"m\"}')" >/dev/null
# three half-hours, 1 + 2 + 3 = 6 kWh
FILE="convert_to(E'ts,value\n2023-03-01 00:00,1\n2023-03-01 00:30,2\n2023-03-01 01:00,3\n', 'UTF8')"
before_s2=$(q s2 -c "SELECT count(*) FROM car.source_file")
out=$(q hub -U pusher -c "SELECT id, name FROM car.push('push-a', 'routed.csv', $FILE)")
like "car.push on the hub (by a car_ingest role) returns s1's row: a file id of block 1" "$out" '^1[0-9]{7}\|routed.csv$'
is "the hub itself landed nothing" "$(q hub -c "SELECT count(*) FROM car.source_file")" "0"
fid=${out%%|*}
is "s1 holds the file and its three readings (6 kWh) on the meter Routed electricity" \
	"$(q s1 -c "SELECT s.name || ' ' || count(*) || ' ' || sum(r.quantity) || ' ' || m.name FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.source_file f ON f.id = r.file_id JOIN car.source s ON s.id = f.source_id WHERE r.file_id = '$fid' GROUP BY s.name, m.name")" \
	"push-a 3 6 Routed electricity"
is "s2 got nothing: a push writes one shard" "$(q s2 -c "SELECT count(*) FROM car.source_file")" "$before_s2"
is "the same bytes again: s1 answers with the same file, nothing new" \
	"$(q hub -U pusher -c "SELECT id FROM car.push('push-a', 'again.csv', $FILE)")" "$fid"
like "a source whose organisation is placed on no shard is refused on the hub" \
	"$(q hub -U pusher -c "SELECT car.push('push-e', 'e.csv', $FILE)")" 'organisation "E" of source "push-e" is placed on no shard'
like "a push source naming no organisation is refused" \
	"$(q hub -U pusher -c "SELECT car.push('push-none', 'n.csv', $FILE)")" 'push source "push-none" names no organisation'
like "a source the hub does not know is refused before anything is sent" \
	"$(q hub -U pusher -c "SELECT car.push('nowhere', 'n.csv', $FILE)")" 'no source "nowhere" on this hub'
like "the shard's refusal comes back: C is on s2, which has no source push-c" \
	"$(q hub -U pusher -c "SELECT car.push('push-c', 'c.csv', $FILE)")" 'shard "s2" refused the file "c.csv": .*push-c'
like "an analyst (car_reader) may not push through the hub" \
	"$(q hub -U analyst -c "SELECT car.push('push-a', 'x.csv', $FILE)")" 'permission denied for function push'
PTOKEN_C=$(q hub -c "SELECT car.sign_jwt(jsonb_build_object('org', 'C', 'scope', 'push', 'exp', extract(epoch FROM now() + interval '1 hour')::bigint), 'hs')")
PTOKEN_A=$(q hub -c "SELECT car.sign_jwt(jsonb_build_object('org', 'A', 'scope', 'push', 'exp', extract(epoch FROM now() + interval '1 hour')::bigint), 'hs')")
like "a push token of org C is refused on the hub for A's source, before anything is sent" \
	"$(q hub -U pusher -c "SELECT car.push('$PTOKEN_C', 'push-a', 'x.csv', convert_to(E'ts,value\n2023-03-01 02:00,4\n', 'UTF8'))")" 'the token does not allow pushing to source "push-a"'
is "... and s1 did not get it" "$(q s1 -c "SELECT count(*) FROM car.source_file WHERE name = 'x.csv'")" "0"
is "a push token of org A goes through to s1 (4 kWh at 02:00 UTC)" \
	"$(q hub -U pusher -c "SELECT name FROM car.push('$PTOKEN_A', 'push-a', 'x.csv', convert_to(E'ts,value\n2023-03-01 02:00,4\n', 'UTF8'))"; q s1 -c "SELECT sum(quantity) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'Routed electricity'")" \
	$'x.csv\n10'
! tail -n +"$log_from" "$W/hub/server.log" | grep -q "$SECRET"
ok $? "routing wrote the connection's password nowhere in the hub's log (its refusals included)"

# --- drill-down into raw readings from the hub: car.reading_remote ---------------------------------
like "car.add_reading_remote needs postgres_fdw on the hub" \
	"$(q hub -c "SELECT car.add_reading_remote('s1', '$(conninfo s1)')")" 'needs the extension postgres_fdw'
q hub -c "CREATE EXTENSION postgres_fdw" >/dev/null
like "car.add_reading_remote refuses a connection string that reaches another shard" \
	"$(q hub -c "SELECT car.add_reading_remote('s1', '$(conninfo s2)')")" 'is not shard "s1": its id block is 2, the hub.s shard "s1" has block 1'
is "... and leaves nothing behind" "$(q hub -c "SELECT count(*) FROM pg_foreign_server WHERE srvname = 'car_fdw_s1'")" "0"
is "car.add_reading_remote makes a foreign table per shard" \
	"$(for s in s1 s2; do q hub -v ON_ERROR_STOP=1 -c "SELECT car.add_reading_remote('$s', '$(conninfo "$s")')"; done)" \
	$'car.reading_remote_s1\ncar.reading_remote_s2'
is "... on servers with async_capable, fetch_size and batch_size" \
	"$(q hub -c "SELECT string_agg(srvname || ':' || array_to_string(ARRAY(SELECT o FROM unnest(srvoptions) o WHERE o ~ '^(async_capable|fetch_size|batch_size)=' ORDER BY o), ' '), ', ' ORDER BY srvname) FROM pg_foreign_server WHERE srvname LIKE 'car_fdw_%'")" \
	"car_fdw_s1:async_capable=true batch_size=1000 fetch_size=10000, car_fdw_s2:async_capable=true batch_size=1000 fetch_size=10000"
is "the user mapping's password is not readable by car_admin" \
	"$(q hub -U admin -c "SELECT count(*) FILTER (WHERE umoptions IS NOT NULL) || ' of ' || count(*) FROM pg_user_mappings WHERE srvname LIKE 'car_fdw_%'")" "0 of 2"
MONTHLY="SELECT string_agg(month || ':' || n || ':' || round(total::numeric, 4), ',' ORDER BY month) FROM (SELECT month, count(*) n, sum(quantity) total FROM %s GROUP BY month) x"
for s in s1 s2; do
	hub=$(q hub -c "$(printf "$MONTHLY" "car.reading_remote WHERE shard = '$s'")")
	is "a sum by month over car.reading_remote on the hub equals $s's own sums" "$hub" "$(q "$s" -c "$(printf "$MONTHLY" car.reading_month)")"
done
echo "# s1 by month: $hub"
is "... and the whole: the hub's count is s1's plus s2's" \
	"$(q hub -c "SELECT count(*) FROM car.reading_remote")" "$(($(q s1 -c "SELECT count(*) FROM car.reading") + $(q s2 -c "SELECT count(*) FROM car.reading")))"
is "car.add_reading_remote again for s1 makes it anew: the hub still counts every reading once" \
	"$(q hub -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "SELECT car.add_reading_remote('s1', '$(conninfo s1)')" -c "SELECT count(*) FROM car.reading_remote")" \
	"car.reading_remote_s1
$(($(q s1 -c "SELECT count(*) FROM car.reading") + $(q s2 -c "SELECT count(*) FROM car.reading")))"
plan=$(q hub -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT month, sum(quantity) FROM car.reading_remote WHERE month = '2023-04-01' GROUP BY month")
like "EXPLAIN VERBOSE: the visible meters go to each shard as one array parameter" "$plan" \
	'Remote SQL: SELECT .* FROM car\.reading_month WHERE .*meter_id = ANY \(\$1::integer\[\]\)'
like "... with the month filter shipped too" "$plan" "Remote SQL: .*\\(\\(month = '2023-04-01'\\)\\) AND \\(\\(meter_id = ANY"
# (no Async Foreign Scan here: the day-aware car.meter_visible_at filter runs on the hub, above each scan)
plan=$(q hub -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT month, sum(quantity) FROM car.reading_remote_s1 WHERE meter_id = ANY ((SELECT car.visible_meter_ids())::int[]) GROUP BY month")
like "EXPLAIN VERBOSE: on one shard's table the aggregate groups on the shard" "$plan" \
	'Remote SQL: SELECT month, sum\(quantity\) FROM car\.reading_month WHERE \(\(meter_id = ANY \(\$1::integer\[\]\)\)\) GROUP BY 1'
# C's sites on s2: HQ (electricity, gas) and the Depot (electricity) until 31 March 2023, then D's
is "an analyst authenticated as org C sees C's readings only: its meters on s2, the Depot's up to 31 March" \
	"$(q hub -U analyst -c "SELECT car.authenticate('$TOKEN') IS NOT NULL" -c "SELECT string_agg(DISTINCT shard, ',') || ' ' || count(DISTINCT meter_id) || ' ' || count(*) FROM car.reading_remote")" \
	"t
$(q s2 -c "SELECT 's2 ' || count(DISTINCT r.meter_id) || ' ' || count(*) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id CROSS JOIN LATERAL (SELECT (r.ts AT TIME ZONE 'Europe/London')::date AS d) x WHERE CASE WHEN EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = s.id) THEN EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = s.id AND so.org = 'C' AND x.d >= so.valid_from AND (so.valid_to IS NULL OR x.d <= so.valid_to)) ELSE s.org = 'C' END")"
is "without a token the analyst gets no readings" "$(q hub -U analyst -c "SELECT count(*) FROM car.reading_remote")" "0"
like "the analyst may not read a shard's foreign table directly" "$(q hub -U analyst -c "SELECT count(*) FROM car.reading_remote_s1")" 'permission denied'

# --- the single car gets s1's September and the files pushed through the hub too -------------------
# (September's readings were written on s1 alone, for A's and B's electricity meters, before the
# routed meter existed; push-a's two files landed on s1 above: the same bytes on the single car)
q one -v ON_ERROR_STOP=1 -c "$SEPTEMBER AND m.site_id IN (SELECT id FROM car.site WHERE org IN ('A', 'B'))" >/dev/null
q one -c "SELECT car.add_source('push-a', NULL, 'push', 'long', '$(printf "$SRC" A)')" >/dev/null
is "the single car loads push-a's files as s1 did (3 + 1 rows)" \
	"$(q one -v ON_ERROR_STOP=1 -c "SELECT rows_loaded FROM car.push('push-a', 'routed.csv', $FILE)" \
		-c "SELECT rows_loaded FROM car.push('push-a', 'x.csv', convert_to(E'ts,value\n2023-03-01 02:00,4\n', 'UTF8'))")" $'3\n1'
q s1 -c "SELECT car.refresh()" >/dev/null
q one -c "SELECT car.refresh()" >/dev/null
same s1 "$EMISSIONS" hub "$(emissions_of_block 1)" >/dev/null
ok $? "the hub has s1's days of the routed files"
hub_equals_one "the hub's report_monthly equals the single car's with them (September, the routed files)" car.report_monthly

# --- a second shard added later: s3, with organisation F ---------------------------------------------
make_node s3
out=$(install_car s3)
ok $? "a third cluster s3 started later, car installed"
q s3 -c "ALTER SYSTEM SET car.node_role = 'shard'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
out=$(q s3 -v ON_ERROR_STOP=1 -c "SELECT block || ' ' || first_id FROM car.set_id_block(3)" \
	-c "SELECT car.subscribe_reference('$(conninfo hub)')" -c "SELECT car.publish_shard()")
is "s3 takes id block 3, subscribes to the hub's reference data and publishes car_shard" "$out" $'3 30000000\ncar_reference\ncar_shard'
out=$(same hub "$FACTORS" s3 "$FACTORS")
ok $? "the factors reach s3 with the hub's ids and values, the revision included (${out%% *} rows)"
is "s3's factor sets are the hub's (ids, years, revisions)" \
	"$(q s3 -c "SELECT string_agg(id || ':' || year || ':' || revision, ',' ORDER BY id) FROM car.factor_set")" \
	"$(q hub -c "SELECT string_agg(id || ':' || year || ':' || revision, ',' ORDER BY id) FROM car.factor_set")"
is "car.add_shard('s3') on the hub" \
	"$(q hub -v ON_ERROR_STOP=1 -c "SELECT name || ' ' || subscription || ' ' || id_block FROM car.add_shard('s3', '$(conninfo s3)')")" "s3 car_shard_s3 3"
is "a car_admin places the new organisation F on s3" \
	"$(q hub -U admin -c "INSERT INTO car.placement (org, shard) VALUES ('F', 's3')" -c "SELECT shard FROM car.placement WHERE org = 'F'")" "s3"
# F's meter: Cambridge building b0's electricity of 2023 (hourly, UTC; 8,760 readings, 179,059.5 kWh: SOURCES.md)
SRC_F='{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity", "org": "F"}'
for node in hub s3 one; do q "$node" -v ON_ERROR_STOP=1 -c "SELECT car.add_source('ucam-b0', NULL, 'push', 'long', '$SRC_F')" >/dev/null; done
# ... and a correction, pushed after it: 1 March 2023 00:00 UTC read 17.6 kWh in the year's file, 100 here
FIX_F="convert_to(E'datetime,equipment load [kWh]\n2023-03-01 00:00:00,100.0\n', 'UTF8')"
out=$(q hub -v ON_ERROR_STOP=1 -c "SELECT id || ' ' || rows_loaded FROM car.push('ucam-b0', 'b0-2023.csv', pg_read_binary_file('$W/b0-2023.csv'))" \
	-c "SELECT id || ' ' || rows_loaded || ' ' || rows_superseded FROM car.push('ucam-b0', 'b0-fix.csv', $FIX_F)")
is "the real meter file (8,760 rows) and its correction (1 row, superseding 1) pushed through the hub land on s3 (ids of block 3)" \
	"$(sed -E 's/^3[0-9]{7} /block-3 /' <<<"$out")" $'block-3 8760\nblock-3 1 1'
is "s3 holds F's 8,760 readings: 179,059.5 - 17.6 + 100 = 179,141.9 kWh" \
	"$(q s3 -c "SELECT count(*) || ' ' || round(sum(quantity)::numeric, 1) FROM car.reading")" "8760 179141.9"
is "s1 and s2 got none of F's files" \
	"$(q s1 -c "SELECT count(*) FROM car.source_file f JOIN car.source s ON s.id = f.source_id WHERE s.name = 'ucam-b0'"; q s2 -c "SELECT count(*) FROM car.source_file WHERE name LIKE 'b0-%'")" $'0\n0'
q s3 -c "UPDATE car.site SET floor_area_m2 = 2500 WHERE org = 'F'" -c "SELECT car.refresh()" >/dev/null
q one -v ON_ERROR_STOP=1 -c "SELECT car.push('ucam-b0', 'b0-2023.csv', pg_read_binary_file('$W/b0-2023.csv'))" -c "SELECT car.push('ucam-b0', 'b0-fix.csv', $FIX_F)" \
	-c "UPDATE car.site SET floor_area_m2 = 2500 WHERE org = 'F'" -c "SELECT car.refresh()" >/dev/null
out=$(same s3 "$EMISSIONS" hub "$(emissions_of_block 3)")
ok $? "the hub's car.emission_daily holds exactly s3's rows once applied (${out%% *})"
for r in car.report_monthly car.report_yearly car.report_scope car.report_intensity car.report_scope2 car.report_ggc; do
	hub_equals_one "with s3, $r on the hub equals the single car's ($(q one -c "SELECT count(*) FROM $r") rows)" "$r"
done
F_TOTAL="SELECT round(sum(quantity)::numeric, 1) || ' ' || string_agg(DISTINCT site, ',') FROM car.report_monthly WHERE organisation = 'F'"
is "hand check: F's 2023 on the hub is 179,141.9 kWh, at its one site" "$(q hub -c "$F_TOTAL")" "179141.9 UCam b0"
is "car.shard_status lists s3 with its apply worker, slot and last apply" \
	"$(q hub -U admin -c "SELECT string_agg(shard || ' ' || (apply_pid IS NOT NULL) || ' ' || coalesce(slot_error, 'ok') || ' ' || (last_apply_at IS NOT NULL), ', ' ORDER BY shard) FROM car.shard_status")" \
	"s1 true ok true, s2 true ok true, s3 true ok true"
is "car.add_reading_remote for s3: car.reading_remote counts s3's 8,760 readings, and every shard's once" \
	"$(q hub -v ON_ERROR_STOP=1 -c "SELECT car.add_reading_remote('s3', '$(conninfo s3)')" -c "SELECT count(*) FILTER (WHERE shard = 's3') || ' ' || count(*) FROM car.reading_remote")" \
	"car.reading_remote_s3
8760 $(($(q s1 -c "SELECT count(*) FROM car.reading") + $(q s2 -c "SELECT count(*) FROM car.reading") + 8760))"
is "... and its sum by month equals s3's own" \
	"$(q hub -c "$(printf "$MONTHLY" "car.reading_remote WHERE shard = 's3'")")" "$(q s3 -c "$(printf "$MONTHLY" car.reading_month)")"

# --- an organisation moved: F from s3 to s2, by the README's procedure, its blocks run as written --------
mkdir -p "$W/move"
chown postgres "$W/move"
# the README's psql block under <!-- NAME -->, run on a node with psql in $W/move (variables: org, to_shard)
block() { # node name [psql args]
	local node=$1 name=$2 cmd
	shift 2
	awk -v m="<!-- $name -->" '$0 == m { f = 1; next } f && /^```sql$/ { g = 1; next } g && /^```$/ { exit } g' "$ROOT/README.md" >"$W/move/$name.sql"
	[ -s "$W/move/$name.sql" ] || { echo "ERROR: README.md has no block $name"; return; }
	cmd=("$PGBIN/psql" -X -qAt -h "$W/$node" -p "$(port_of "$node")" -d car -v ON_ERROR_STOP=1 -v org=F -v to_shard=s2 -f "$W/move/$name.sql" "$@")
	[ "$(id -un)" = postgres ] || cmd=(runuser -u postgres -- "${cmd[@]}")
	# (not as_postgres, which runs from /: the blocks' \copy write and read the current directory)
	(cd "$W/move" && "${cmd[@]}" 2>&1)
}
is "1. the hub unplaces F (a car_admin)" "$(block hub move-org-unplace -U admin)" "s3"
like "while F is moved, a push for it through the hub is refused" \
	"$(q hub -U pusher -c "SELECT car.push('ucam-b0', 'late.csv', convert_to(E'datetime,equipment load [kWh]\n2023-03-02 00:00:00,1\n', 'UTF8'))")" \
	'organisation "F" of source "ucam-b0" is placed on no shard'
is "2. the check on s3: the files carry all of F" "$(block s3 move-org-check)" ""
is "... on s1 it would refuse B: readings written by hand, and the Depot's ownership shared with A" \
	"$(block s1 move-org-check -v org=B)" \
	"readings no loaded file of its push sources made|$(q s1 -c "SELECT count(*) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id WHERE s.org = 'B'")
ownership periods shared with another organisation|1"
out=$(block s3 move-org-export -c "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_attribute a WHERE a.attrelid IN ('car.site'::regclass, 'car.meter'::regclass) AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT IN ('id', 'site_id', 'org') AND a.attname NOT IN (SELECT attname FROM pg_attribute WHERE attrelid IN ('move_site'::regclass, 'move_meter'::regclass))")
is "3. s3 exports F; the export names every column of car.site and car.meter (but ids and org)" "$out" ""
is "... four files: one site, one meter, one source, two files' bytes in one piece each" \
	"$(for f in site meter source file; do wc -l <"$W/move/move-$f.tsv"; done | tr '\n' ' ')" "1 1 1 2 "
out=$(block s3 move-org-delete)
is "4. s3 deletes F and refreshes: no day of a deleted meter is left" "$out" $'t\n0'
for _ in $(seq 450); do [ "$(block hub move-org-wait)" = "0|0" ] && break; sleep 0.2; done
is "5. the hub applies it: none of F's sites, no day of a meter that is gone" "$(block hub move-org-wait)" "0|0"
is "... F is gone from the hub's reports while it is moved" "$(q hub -c "SELECT count(*) FROM car.report_monthly WHERE organisation = 'F'")" "0"
is "... and s3 holds nothing any more" \
	"$(q s3 -c "SELECT (SELECT count(*) FROM car.reading) + (SELECT count(*) FROM car.source_file) + (SELECT count(*) FROM car.site) + (SELECT count(*) FROM car.emission_daily)")" "0"
is "6. s2 makes F again and pushes its files in order" "$(block s2 move-org-import)" $'1\nt'
is "... F's 8,760 readings on s2 keep the correction (pushed after the year's file): 179,141.9 kWh" \
	"$(q s2 -c "SELECT count(*) || ' ' || round(sum(r.quantity)::numeric, 1) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id WHERE s.org = 'F'")" "8760 179141.9"
is "... with the same files (names, SHA-256) and the floor area set by hand" \
	"$(q s2 -c "SELECT string_agg(f.name || ':' || f.sha256, ',' ORDER BY f.id) || ' ' || (SELECT floor_area_m2 FROM car.site WHERE org = 'F') FROM car.source_file f JOIN car.source s ON s.id = f.source_id WHERE s.options->>'org' = 'F'")" \
	"b0-2023.csv:$(sha256sum <"$W/b0-2023.csv" | cut -c1-64),b0-fix.csv:$(q one -c "SELECT encode(sha256($FIX_F), 'hex')") 2500"
is "7. the hub places F on s2 (a car_admin)" "$(block hub move-org-place -U admin; q hub -c "SELECT shard FROM car.placement WHERE org = 'F'")" "s2"
out=$(same s2 "$EMISSIONS" hub "$(emissions_of_block 2)")
ok $? "the hub's rows of block 2 are exactly s2's, F's included (${out%% *})"
is "... and it has none of block 3 left" "$(q hub -c "SELECT count(*) FROM car.emission_daily WHERE meter_id BETWEEN 30000000 AND 39999999")" "0"
for r in car.report_monthly car.report_yearly car.report_scope car.report_intensity car.report_scope2 car.report_ggc; do
	hub_equals_one "after the move, $r on the hub equals the single car's" "$r"
done
is "hand check: F's 2023 on the hub is 179,141.9 kWh once, at its one site" "$(q hub -c "$F_TOTAL")" "179141.9 UCam b0"
like "F's site and meter on the hub have ids of s2's block" \
	"$(q hub -c "SELECT s.id || ' ' || m.id FROM car.site s JOIN car.meter m ON m.site_id = s.id WHERE s.org = 'F'")" '^2[0-9]{7} 2[0-9]{7}$'
out=$(q hub -U pusher -c "SELECT id FROM car.push('ucam-b0', 'late.csv', convert_to(E'datetime,equipment load [kWh]\n2023-03-02 00:00:00,1\n', 'UTF8'))")
like "a push for F through the hub now lands on s2 (a file id of block 2)" "$out" '^2[0-9]{7}$'
is "... s2 holds it, s3 got nothing" \
	"$(q s2 -c "SELECT name FROM car.source_file WHERE id = '$out'"; q s3 -c "SELECT count(*) FROM car.source_file")" $'late.csv\n0'
q s2 -c "SELECT car.refresh()" >/dev/null
q one -c "SELECT car.push('ucam-b0', 'late.csv', convert_to(E'datetime,equipment load [kWh]\n2023-03-02 00:00:00,1\n', 'UTF8'))" -c "SELECT car.refresh()" >/dev/null
same s2 "$EMISSIONS" hub "$(emissions_of_block 2)" >/dev/null
hub_equals_one "... and the hub's report_monthly still equals the single car's" car.report_monthly
is "car.reading_remote follows F: s3 has no readings, s2 has F's" \
	"$(q hub -c "SELECT string_agg(shard || ':' || n, ',' ORDER BY shard) FROM (SELECT shard, count(*) n FROM car.reading_remote GROUP BY shard) x")" \
	"s1:$(q s1 -c "SELECT count(*) FROM car.reading"),s2:$(q s2 -c "SELECT count(*) FROM car.reading")"

# --- car.schedule() on a hub schedules no car-refresh --------------------------------------------------
# a car-refresh left from before the server was a hub (as car.schedule() made it on a single car)
q hub -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_cron" \
	-c "SELECT cron.schedule_in_database('car-refresh', '*/5 * * * *', 'SELECT car.refresh()', 'car', 'car_worker')" >/dev/null
out=$(q hub -c "SELECT job || ' ' || schedule FROM car.schedule('*/5 * * * *', '17 * * * *')")
like "car.schedule() on the hub says it schedules no car-refresh" "$out" \
	'NOTICE:  car-refresh is not scheduled: this server is a hub \(car.node_role = hub\), which refuses car.refresh\(\)'
like "... that its shards refresh" "$out" 'HINT:  Schedule car-refresh on each shard'
is "... and returns car-maintenance only" "$(grep -vE '^(NOTICE|DETAIL|HINT):' <<<"$out")" "car-maintenance 17 * * * *"
is "... the hub's pg_cron holds car-maintenance only, as car_worker (the old car-refresh is gone)" \
	"$(q hub -c "SELECT string_agg(jobname || ' ' || username || ' ' || command, ',') FROM cron.job")" "car-maintenance car_worker SELECT car.maintenance()"
is "... which runs on the hub as car_worker" "$(q hub -c "SET ROLE car_worker" -c "SELECT car.maintenance() IS NOT NULL")" "t"
is "on a shard car.schedule() still schedules both" \
	"$(q s1 -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_cron" -c "SELECT string_agg(job, ',' ORDER BY job) FROM car.schedule('0 0 1 1 *', '0 0 1 1 *')")" \
	"car-maintenance,car-refresh"
is "car.unschedule() removes them: 1 job on the hub, 2 on the shard" "$(q hub -c "SELECT car.unschedule()"; q s1 -c "SELECT car.unschedule()")" $'1\n2'

# --- a period closed on a shard: the hub reports the signed figures -------------------------------------
# D closes April 2023 on s2; its HQ's electricity was 0.5 kWh each half-hour of April's 30 UK days
# (British Summer Time throughout: 48 half-hours a day): 30 * 48 * 0.5 = 720 kWh signed
D_HQ="SELECT quantity || ' ' || round(kg_co2e::numeric, 4) FROM car.report_monthly WHERE organisation = 'D' AND site = 'HQ' AND month = '2023-04-01' AND activity = 'electricity'"
CLOSE_ID=$(q s2 -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "SELECT id FROM car.close_period('D', '2023-04-01', '2023-04-30', 'April 2023, signed on s2')")
like "car.close_period on s2 signs D's April, with an id of s2's block" "$CLOSE_ID" '^2[0-9]{7}$'
CLOSED="SELECT count(*) || ' ' || md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT concat_ws('|', 'e', close_id, org, meter_id, day, component, quantity, kg_co2e, kg_co2e_market, factor_set_id, file_ids) x FROM car.closed_emission
  UNION ALL SELECT concat_ws('|', 'c', close_id, meter_id, month, periods_expected) FROM car.closed_coverage
  UNION ALL SELECT concat_ws('|', 'f', close_id, set_id, sha256) FROM car.closed_factor_set
  UNION ALL SELECT concat_ws('|', 'l', close_id, file_id, sha256) FROM car.closed_file
  UNION ALL SELECT concat_ws('|', 'p', id, org, period, lines, kg_co2e, sha256, reopened_at) FROM car.period_close
  UNION ALL SELECT concat_ws('|', 'v', id, close_id, event, note) FROM car.period_close_event) t"
out=$(same s2 "$CLOSED" hub "$CLOSED")
ok $? "the close reaches the hub: car.period_close, the closed_* tables and its event, row for row (${out%% *} rows)"
signed=$(q s2 -c "$D_HQ")
like "hand check: D's HQ signed 720 kWh of electricity in April 2023" "$signed" '^720 '
# a late correction on s2 after the close: the 10th of April read 1.5 kWh a half-hour, not 0.5 (+48 kWh)
q s2 -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "UPDATE car.reading SET quantity = 1.5 WHERE meter_id = (SELECT m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.org = 'D' AND s.name = 'HQ' AND m.activity = 'electricity') AND ts >= '2023-04-10 00:00 Europe/London' AND ts < '2023-04-11 00:00 Europe/London'" \
	-c "SELECT car.refresh()" >/dev/null
# (each component's rows carry the meter's quantity: one sum, whatever the component)
LIVE="SELECT string_agg(DISTINCT q::text, ',') FROM (SELECT sum(quantity) q FROM car.emission_live WHERE org = 'D' AND month = '2023-04-01' AND site_id = (SELECT id FROM car.site WHERE org = 'D' AND name = 'HQ') AND activity = 'electricity' GROUP BY component) x"
out=$(same s2 "$LIVE" hub "$LIVE")
is "the correction is live on s2 and on the hub: 720 + 48 = 768 kWh in car.emission_live" "$out" "768"
is "... yet s2's report_monthly still shows the signed figures" "$(q s2 -c "$D_HQ")" "$signed"
is "... and so does the hub's" "$(q hub -c "$D_HQ")" "$signed"
like "the hub refuses car.close_period: a period is signed on its organisation's shard" \
	"$(q hub -c "SELECT car.close_period('C', '2023-04-01', '2023-04-30')")" "car.close_period\(\) is refused on a hub"
like "... and writing car.period_close by hand" "$(q hub -c "UPDATE car.period_close SET reopened_at = now()")" \
	"writing car.period_close is refused on a hub"
like "... or car.closed_emission" "$(q hub -c "DELETE FROM car.closed_emission")" \
	"writing car.closed_emission is refused on a hub"
like "... and car.reopen_period" "$(q hub -c "SELECT car.reopen_period($CLOSE_ID, 'x')")" "car.reopen_period\(\) is refused on a hub"
q s2 -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "SELECT car.reopen_period($CLOSE_ID, 'late correction of the 10th')" >/dev/null
out=$(same s2 "$D_HQ" hub "$D_HQ")
like "reopened on s2, the hub's report shows the corrected 768 kWh" "$out" '^768 '
echo "1..$n"
