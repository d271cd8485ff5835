#!/usr/bin/env bash
# Across servers (issue 16), run by bench/run.sh: two federations of private
# clusters on the loopback (wal_level = logical), set up as test/multinode.sh
# sets up its own, and the same half-hourly readings loaded into both:
#   - "two": a hub subscribed to two shards, s1 (orgs A, B) and s2 (C, D);
#   - "one": a hub (hub1) subscribed to one shard, one (A, B, C, D).
# bench/multinode.py measures, in this order:
#   1. ingest (car.push of ecodriver files read server-side) into one shard
#      with one loader and with two, and into two shards with a loader each,
#      twice, the tables emptied before each run; then car.refresh() on the
#      shard(s) of each federation, and the time until its hub has the rows;
#   2. reports on the hub of "two" against the same reports on one, made a
#      single car (its hub's subscription dropped, car.node_role = single);
#   3. shard commit to hub visibility on s1: files pushed by car.push_lo and
#      readings COPYed into car.reading, each followed by car.refresh().
# Prints "key|value" lines; every cluster is stopped at exit.
#
#	bench/multinode.sh WORKDIR	(as root or postgres; WORKDIR is wiped)
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
# the data: 4 organisations of SITES sites x METERS meters (odd meters electricity, even natural
# gas), DAYS UK days from 2023-01-01, in files of FILE_DAYS days (one file an organisation a block)
SITES=${BENCH_MN_SITES:-10} METERS=${BENCH_MN_METERS:-5}
DAYS=${BENCH_MN_DAYS:-200} FILE_DAYS=${BENCH_MN_FILE_DAYS:-25}
PUSHES=${BENCH_MN_PUSHES:-100}
NODES="hub s1 s2 hub1 one"
# shellcheck disable=SC2034 # read through port_of
read -r -d '' P_hub P_s1 P_s2 P_hub1 P_one < <(free_ports 5) || true
SECRET="repl-$(openssl rand -hex 12)"
port_of() { local v="P_$1"; echo "${!v}"; }
q() { local node=$1; shift; as_postgres "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$W/$node" -p "$(port_of "$node")" -d car "$@"; }
conninfo() { echo "host=127.0.0.1 port=$(port_of "$1") dbname=car user=car_repl password=$SECRET connect_timeout=5"; }
ctl() { as_postgres "$PGBIN/pg_ctl" -D "$W/$1/data" -l "$W/$1/server.log" "${@:2}" >/dev/null 2>&1; }
# wait (up to 120 s) until a query gives the same answer on two nodes
same() { # node_a node_b sql
	local a b
	for _ in $(seq 600); do
		a=$(q "$1" -c "$3") b=$(q "$2" -c "$3")
		[ -n "$a" ] && [ "$a" = "$b" ] && return 0
		sleep 0.2
	done
	echo "$1 and $2 still differ on: $3 ($a against $b)" >&2
	return 1
}
stop_all() { for d in $NODES; do [ -f "$W/$d/data/postmaster.pid" ] && ctl "$d" -m fast stop; done; true; }

rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"
chown postgres "$W"
trap stop_all EXIT
echo "loadavg_start|$(cut -d' ' -f1-3 /proc/loadavg)"
# the files: per organisation a seed of its own, files of FILE_DAYS days
echo "$SITES $METERS $DAYS $FILE_DAYS" | awk '{ printf "data_shape|%d organisations x %d sites x %d meters, %d days in files of %d days\n", 4, $1, $2, $3, $4 }'
mkdir -p "$W/files"
gens=()
for o in A B C D; do
	(
		seed=$(printf '%d' "'$o")
		for ((d = 0; d < DAYS; d += FILE_DAYS)); do
			n=$((DAYS - d < FILE_DAYS ? DAYS - d : FILE_DAYS))
			start=$(date -u -d "2023-01-01 + $d days" +%Y-%m-%d)
			f="$W/files/$o-$start"
			python3 "$ROOT/test/gen/ecodriver.py" --out "$f" --sites "$SITES" --meters "$METERS" --days "$n" --start "$start" \
				--seed $((seed * 1000 + d)) --blank-every 0 --junk 0 --extra-days ""
		done
	) &
	gens+=($!)
done

make_node() {
	local node=$1
	# the settings of the other sections (fsync off, no parallel query, no JIT), with what
	# logical replication needs, and commit timestamps (the shard's commit time of a row)
	start_federation_node "$W/$node" "$(port_of "$node")" <<CONF
shared_preload_libraries = 'car'
track_commit_timestamp = on
shared_buffers = '512MB'
work_mem = '64MB'
max_wal_size = '4GB'
max_parallel_workers_per_gather = 0
jit = off
fsync = off
CONF
	q "$node" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION car;
SELECT car.grant_roles(true) IS NOT NULL;
CREATE ROLE car_repl LOGIN REPLICATION BYPASSRLS PASSWORD '$SECRET' IN ROLE car_reader, car_ingest;
CREATE ROLE admin LOGIN IN ROLE car_admin;
CREATE ROLE analyst LOGIN IN ROLE car_reader;
SELECT car.ensure_partitions('2023-01-01', '2024-01-01');
SQL
}
# the five at once (initdb, CREATE EXTENSION), while the files are written
pids=()
for node in $NODES; do
	make_node "$node" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
role() { q "$1" -c "ALTER SYSTEM SET car.node_role = '$2'" -c "SELECT pg_reload_conf()" >/dev/null; }
role hub hub
role hub1 hub
for s in s1 s2 one; do role "$s" shard; done
sleep 0.5
for h in hub hub1; do q "$h" -c "SELECT car.publish_reference()" -c "SELECT car.load_factors(2023)" >/dev/null; done
# block 1 in each federation: s1 and one; s2 block 2
q s1 -c "SELECT car.set_id_block(1)" >/dev/null
q s2 -c "SELECT car.set_id_block(2)" >/dev/null
q one -c "SELECT car.set_id_block(1)" >/dev/null
hub_of() { if [ "$1" = one ]; then echo hub1; else echo hub; fi; }
for s in s1 s2 one; do
	q "$s" -c "SELECT car.subscribe_reference('$(conninfo "$(hub_of "$s")")')" -c "SELECT car.publish_shard()" >/dev/null
done
for s in s1 s2 one; do
	same "$(hub_of "$s")" "$s" "SELECT count(*) || ' ' || md5(string_agg(id || '|' || value, ',' ORDER BY id)) FROM car.factor"
done
for s in s1 s2; do q hub -c "SELECT car.add_shard('$s', '$(conninfo "$s")')" >/dev/null; done
q hub1 -c "SELECT car.add_shard('one', '$(conninfo one)')" >/dev/null

# sources: an ecodriver push source per organisation, on its shard in each federation
for o in A B C D; do
	case $o in A | B) s=s1 ;; *) s=s2 ;; esac
	for node in $s one; do
		q "$node" -c "SELECT car.add_source('org-$o', NULL, 'push', 'ecodriver', '{\"org\": \"$o\"}')" >/dev/null
	done
done

for p in "${gens[@]}"; do wait "$p"; done
: >"$W/files/manifest"
for f in "$W"/files/*.csv; do
	case $f in *.totals.csv) continue ;; esac
	b=$(basename "$f" .csv)
	readings=$(awk -F, 'NR > 1 && $1 != "(rejected rows)" { n += $3 } END { print n }' "${f%.csv}.totals.csv")
	echo "${b%%-*}|$b|$f|$readings" >>"$W/files/manifest"
done
chmod -R a+rX "$W/files"
echo "files|$(wc -l <"$W/files/manifest")"
echo "file_bytes|$(cat "$W"/files/[A-D]-*[0-9].csv | wc -c)"

dsn() { echo "host=$W/$1 port=$(port_of "$1") dbname=car user=${2:-postgres}"; }
py() { /usr/bin/python3 "$ROOT/bench/multinode.py" "$@"; }

echo "seconds_setup|$SECONDS"
# 1. ingest and refresh
py ingest "$(dsn one)" "$(dsn s1)" "$(dsn s2)" "$(dsn hub1)" "$(dsn hub)" "$W/files/manifest"

echo "seconds_ingest|$SECONDS"
# 2. reports: one becomes a single car holding the same data as the hub
q hub1 -c "DROP SUBSCRIPTION car_shard_one" >/dev/null
q one -c "DROP SUBSCRIPTION car_reference" -c "ALTER SYSTEM SET car.node_role = 'single'" -c "SELECT pg_reload_conf()" >/dev/null
ctl hub1 -m fast stop
sleep 0.5
echo "single_role|$(q one -c "SHOW car.node_role")"
for n in hub one; do q "$n" -c "VACUUM ANALYZE" >/dev/null; done
key=$(openssl rand -hex 32)
for n in hub one; do q "$n" -c "INSERT INTO car.jwt_key (kid, alg, key) VALUES ('bench', 'HS256', '$key')" >/dev/null; done
token=$(q hub -c "SELECT car.sign_jwt(jsonb_build_object('org', 'A', 'exp', extract(epoch FROM now() + interval '1 hour')::bigint), 'bench')")
py reports "$(dsn hub admin)" "$(dsn one admin)" "$(dsn hub analyst)" "$(dsn one analyst)" "$token"

echo "seconds_reports|$SECONDS"
# 3. shard commit to hub visibility, on s1 of the two-shard federation
q s1 >/dev/null <<'SQL'
SELECT car.add_source('lat-lo', NULL, 'push', 'long', '{"site": "Latency", "meter": "Latency LO", "timezone": "UTC", "activity": "electricity", "org": "L"}');
INSERT INTO car.site (name, org) VALUES ('Latency', 'L');
INSERT INTO car.meter (site_id, name, activity, unit) SELECT id, 'Latency COPY', 'electricity', 'kWh' FROM car.site WHERE org = 'L' AND name = 'Latency';
SQL
py latency "$(dsn s1)" "$(dsn hub)" "$PUSHES"
echo "seconds_latency|$SECONDS"
echo "loadavg_end|$(cut -d' ' -f1-3 /proc/loadavg)"
