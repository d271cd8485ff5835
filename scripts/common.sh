# Shared settings for car's scripts (sourced).
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# (pg_config comes with postgresql-server-dev-15, which scripts/deps.sh installs)
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs 2>/dev/null || echo /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk)")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_DATA=${CAR_SHARED_DATA:-$ROOT/../shared/data/real}

# Run a command as the postgres OS user (PostgreSQL refuses to run as root).
as_postgres() {
	if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

build_and_install() {
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Make a private server in DIR/data listening only on a socket in DIR, on
# PORT, unless it exists; extra postgresql.conf lines come on stdin.
init_private_server() {
	local dir=$1 port=$2
	mkdir -p "$dir"
	chown postgres "$dir"
	[ -f "$dir/data/PG_VERSION" ] && { cat >/dev/null; return 0; }
	as_postgres "$PGBIN/initdb" -D "$dir/data" -E UTF8 --no-locale -A trust >/dev/null
	{
		printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n" "$port" "$dir"
		cat
	} >>"$dir/data/postgresql.conf"
}

# Start the private server in DIR, or restart it so a new car.so is preloaded.
start_private_server() {
	local dir=$1
	if as_postgres "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w restart -m fast >/dev/null
	else
		as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
	fi
}
