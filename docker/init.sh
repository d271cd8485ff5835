#!/usr/bin/env bash
# The car image's entrypoint.  On the first start ($CAR_HOME/initialised
# missing) it makes the server in $CAR_HOME/data: pg_cron and car preloaded, listening
# on all addresses, SCRAM password logins over the network; then, with only
# the local socket open, it makes the database $CAR_DB with scripts/demo.sql,
# the SQL `make demo` runs (official factors, sample meter data, car.refresh(),
# car.grant_roles(), car.schedule()), and docker/init.sql (the read-only login
# role $CAR_BI_USER for BI tools, a member of car_auditor).  Then it runs its
# arguments (the Dockerfile's CMD: postgres).  Without arguments it only
# initialises: test/docker_check.sh runs it that way, outside Docker.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"

CAR_HOME=${CAR_HOME:-/var/lib/postgresql/car}
PORT=${CAR_PORT:-5432}
DB=${CAR_DB:-car}
BI_USER=${CAR_BI_USER:-metabase}

init() {
	local pw=${CAR_BI_PASSWORD:-}
	if [ -z "$pw" ]; then
		echo "car: set CAR_BI_PASSWORD, the password of the login role $BI_USER" >&2
		exit 1
	fi
	echo "car: first start: making the server in $CAR_HOME/data and the database $DB"
	init_private_server "$CAR_HOME" "$PORT" <<CONF
listen_addresses = '*'
password_encryption = 'scram-sha-256'
shared_preload_libraries = 'pg_cron,car'
cron.database_name = '$DB'
cron.use_background_workers = on
car.database = '$DB'
max_worker_processes = 32
timezone = 'Europe/London'
CONF
	# the local socket (inside the container) by OS user; the network by password
	cat >"$CAR_HOME/data/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS    METHOD
local   all       all              peer
host    all       all   0.0.0.0/0  scram-sha-256
host    all       all   ::/0       scram-sha-256
HBA
	# no TCP until the database is ready: the healthcheck connects over TCP
	as_postgres "$PGBIN/pg_ctl" -D "$CAR_HOME/data" -o "-c listen_addresses=''" \
		-l "$CAR_HOME/init.log" -w start >/dev/null ||
		{ cat "$CAR_HOME/init.log" >&2; exit 1; }
	local psql=(as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CAR_HOME" -p "$PORT")
	"${psql[@]}" -d postgres -v db="$DB" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') AS missing \gset
\if :missing
CREATE DATABASE :"db";
\endif
SQL
	"${psql[@]}" -d "$DB" -v sample="${CAR_SAMPLE_DIR:-$ROOT/data/sample}" <"$ROOT/scripts/demo.sql"
	"${psql[@]}" -d "$DB" -v bi_user="$BI_USER" -v bi_password="$pw" <"$ROOT/docker/init.sql"
	as_postgres "$PGBIN/pg_ctl" -D "$CAR_HOME/data" -m fast -w stop >/dev/null
	touch "$CAR_HOME/initialised"
	echo "car: database $DB ready; BI tools log in as $BI_USER"
}

# every step above may run again: a first start cut short is finished on the next
[ -f "$CAR_HOME/initialised" ] || init
[ $# -eq 0 ] || exec "$@"
