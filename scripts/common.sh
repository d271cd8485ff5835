# Shared settings for car's scripts (sourced).
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# (pg_config comes with postgresql-server-dev-15, which scripts/deps.sh installs)
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs 2>/dev/null || echo /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk)")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The real files the tests read (test/data/SOURCES.md): inside the repository.
FIXTURES=$ROOT/test/data

# Run a command as the postgres OS user (PostgreSQL refuses to run as root),
# from /: the clone's own folders may be closed to that user (root's home is
# mode 700), so files it must read are given on stdin or copied out first.
as_postgres() {
	if [ "$(id -un)" = postgres ]; then "$@"; else (cd / && runuser -u postgres -- "$@"); fi
}

build_and_install() {
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# N free TCP ports on 127.0.0.1, one a line: the kernel picks them, all held
# at once so that they differ (a port is free again as soon as it is printed).
free_ports() {
	python3 - "${1:-1}" <<'PY'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print("\n".join(str(s.getsockname()[1]) for s in held))
PY
}

# A private copy of this machine's PostgreSQL 15 (binaries, libraries, share)
# in DIR, with car built from this tree installed into it and nowhere else.
# PostgreSQL finds its share and library folders relative to its binaries, so
# servers started from DIR's bin load DIR's car: test runs of different trees
# on one machine never see each other's car.  Hard links where the file
# system allows (no space used), copies otherwise.  Prints DIR's pg_config.
make_temp_install() {
	local dir=$1 d
	rm -rf "$dir"
	for d in "$("$PG_CONFIG" --bindir)" "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)"; do
		mkdir -p "$dir$(dirname "$d")"
		cp -al "$d" "$dir$d" 2>/dev/null || { rm -rf "${dir:?}$d"; cp -a "$d" "$dir$d"; } || return 1
	done
	# never write through a hard link into the system's own car
	rm -rf "$dir$("$PG_CONFIG" --pkglibdir)"/car.so "$dir$("$PG_CONFIG" --pkglibdir)"/car-xls-reader "$dir$("$PG_CONFIG" --pkglibdir)"/bitcode/car* \
		"$dir$("$PG_CONFIG" --sharedir)"/extension/car[.-]* "$dir$("$PG_CONFIG" --sharedir)"/car
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$dir" >/dev/null || return 1
	echo "$dir$("$PG_CONFIG" --bindir)/pg_config"
}

# Where `make demo` keeps its server: CAR_DEMO_DIR, or a folder of its own in
# the postgres user's home, named after the clone (its folder name and a
# hash of its path), so that the postgres user can reach it whatever the
# clone's folder permissions (root's home is mode 700) and two clones never
# share a server.  A clone made before this (a .demo/ folder holding a server)
# keeps its .demo/.
demo_dir() {
	if [ -n "${CAR_DEMO_DIR:-}" ]; then
		echo "$CAR_DEMO_DIR"
	elif [ -d "$ROOT/.demo/data" ] && [ ! -L "$ROOT/.demo" ]; then
		echo "$ROOT/.demo"
	else
		local home name
		home=$(getent passwd postgres | cut -d: -f6)
		name=$(basename "$ROOT" | tr -c 'A-Za-z0-9_.\n-' '_' | cut -c1-24)
		echo "${home:-/var/lib/postgresql}/car-demo/$name-$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)"
	fi
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

# A node of a federation of cars (issue 16) in DIR on PORT, started, with a
# database car: a private server also listening on 127.0.0.1, with what
# logical replication needs, where the replication login car_repl signs in
# with a password (everything else keeps trust).  Extra postgresql.conf lines
# (shared_preload_libraries among them) come on stdin.  For test/multinode.sh
# and bench/multinode.sh.
start_federation_node() {
	local dir=$1 port=$2
	{
		cat
		cat <<CONF
listen_addresses = '127.0.0.1'
car.database = 'car'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
max_logical_replication_workers = 8
max_worker_processes = 16
wal_receiver_status_interval = 1
timezone = 'UTC'
CONF
	} | init_private_server "$dir" "$port"
	{ echo "host all car_repl 127.0.0.1/32 scram-sha-256"; cat "$dir/data/pg_hba.conf"; } >"$dir/data/pg_hba.new"
	mv "$dir/data/pg_hba.new" "$dir/data/pg_hba.conf"
	chown postgres "$dir/data/pg_hba.conf"
	start_private_server "$dir"
	as_postgres "$PGBIN/createdb" -h "$dir" -p "$port" car
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
