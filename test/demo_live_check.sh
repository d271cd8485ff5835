#!/usr/bin/env bash
# Checks of the live demo, scripts/demo-live.sh (make demo-live), TAP, against
# a throwaway private server in the work directory DIR (a free port, socket
# only; made like make demo's: car preloaded, the official factors loaded,
# local logins trusted), pointed at through CAR_DEMO_DIR/CAR_DEMO_PORT so that
# .demo/ is never touched.  A timed run (CAR_DEMO_LIVE_SECONDS) adds readings
# for three simulated sites, on a 10-second grid, continuing where the last run
# stopped; car.live shows power now for each; the view is drawn once a round
# with the last NOTIFY car_readings.  Ctrl-C (SIGINT to its process group, as a
# terminal sends it) stops it, also in the middle of a round (the round is
# rolled back), and so does a SIGTERM to the script alone: each time with a
# final line, no process of its group left and no session of it in the server.
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_DEMO_LIVE_CHECK_PORT:-$(free_ports 1)}
DB=car_demo
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { [ "$2" = "$3" ] && ok 0 "$1" || { ok 1 "$1"; echo "#   got: '${2//$'\n'/ }'"; echo "#   expected: '$3'"; }; }

rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"
D=$W/pg
# (SIGINT at its default: a run started in the background by a non-interactive
# shell inherits SIGINT ignored, and Ctrl-C would be tested against that)
LIVE=(env --default-signal=INT "$ROOT/scripts/demo-live.sh")
live_env=(env CAR_DEMO_DIR="$D" CAR_DEMO_PORT="$PORT" CAR_DEMO_DB="$DB")
sql() { as_postgres "$PGBIN/psql" -X -qAt -h "$D" -p "$PORT" -d "$DB" -c "$1" 2>&1; }
# sessions of the demo (it names them car-demo-live), after up to 3 s for them to end
sessions() {
	local c _
	for _ in $(seq 15); do
		c=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'car-demo-live'")
		[ "$c" = 0 ] && break
		sleep 0.2
	done
	echo "$c"
}
SIM="SELECT r.* FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
     WHERE s.org = 'Simulation' AND s.name LIKE 'Sim site %'"

# --- the server ---------------------------------------------------------------
bg_pids=()
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
	as_postgres "$PGBIN/pg_ctl" -D "$D/data" -m immediate stop >/dev/null 2>&1
}
trap cleanup EXIT
init_private_server "$D" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = '$DB'
timezone = 'Europe/London'
CONF
start_private_server "$D" &&
	as_postgres "$PGBIN/psql" -X -q -h "$D" -p "$PORT" -d postgres -c "CREATE DATABASE $DB" &&
	as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$D" -p "$PORT" -d "$DB" \
		-c "SET client_min_messages = warning" -c "CREATE EXTENSION car CASCADE" \
		-c "SELECT count(*) FROM generate_series(2021, 2024) y, car.load_factors(y)" >/dev/null &&
	start_private_server "$D" # again: car's worker starts with its database there
ok $? "a private server with car and the official factors (socket $D, port $PORT)"

# --- refusals -----------------------------------------------------------------
out=$(CAR_DEMO_LIVE_SECONDS=soon "${live_env[@]}" "${LIVE[@]}" 2>&1)
rc=$?
case $rc:$out in 1:*"CAR_DEMO_LIVE_SECONDS must be"*) ok 0 "a bad CAR_DEMO_LIVE_SECONDS is refused" ;; *) ok 1 "a bad CAR_DEMO_LIVE_SECONDS is refused"; echo "# $rc: ${out//$'\n'/ }" ;; esac
out=$(CAR_DEMO_LIVE_SECONDS=1 CAR_DEMO_DIR="$W/none" CAR_DEMO_PORT="$PORT" "${LIVE[@]}" 2>&1)
rc=$?
case $rc:$out in 1:*"no server answers on $W/none"*) ok 0 "with CAR_DEMO_DIR and no server there it stops at once (it makes no server)" ;; *) ok 1 "with CAR_DEMO_DIR and no server there it stops at once"; echo "# $rc: ${out//$'\n'/ }" ;; esac

# --- a timed run ----------------------------------------------------------------
start=$EPOCHSECONDS
CAR_DEMO_LIVE_SECONDS=5 CAR_DEMO_LIVE_INTERVAL=1 "${live_env[@]}" "${LIVE[@]}" >"$W/timed.out" 2>&1
rc=$?
took=$((EPOCHSECONDS - start))
ok $rc "CAR_DEMO_LIVE_SECONDS=5 runs and exits 0 (in ${took}s; output: $W/timed.out)"
[ $rc = 0 ] || tail -20 "$W/timed.out" | sed 's/^/# /'
[ "$took" -le 15 ] && ok 0 "and stops by itself (${took}s)" || ok 1 "and stops by itself (${took}s)"
views=$(grep -c '^car live demo ' "$W/timed.out")
[ "$views" -ge 2 ] && ok 0 "the view was drawn $views times" || ok 1 "the view was drawn at least twice (got $views)"
got=$(grep -cE '^ Sim site [123] +\|' "$W/timed.out")
[ "$got" -ge 6 ] && ok 0 "each view has a row of car.live per simulated site ($got rows)" || ok 1 "each view has a row of car.live per simulated site (got $got rows)"
grep -q '^last NOTIFY car_readings: {"seq": [1-9]' "$W/timed.out"
ok $? "the view shows the last NOTIFY car_readings payload"
grep -q '^car demo-live: ran its 5s after [0-9]* rounds' "$W/timed.out"
ok $? "it ends with a final line ($(grep '^car demo-live:' "$W/timed.out" | cut -c1-90)...)"
is "it made 3 simulated sites with an electricity, a gas and a water meter each" \
	"$(sql "SELECT count(DISTINCT s.id) || ' ' || string_agg(DISTINCT m.activity, ',' ORDER BY m.activity) FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.org = 'Simulation'")" \
	"3 electricity,natural_gas,water_supply"
is "it added the last hour of readings, on a 10-second grid, none in the future" \
	"$(sql "SELECT count(*) > 9 * 300 AND count(*) <= 9 * 361 AND bool_and(extract(epoch FROM ts)::bigint % 10 = 0) AND max(ts) <= now() FROM ($SIM) r")" "t"
is "car.live: power and emissions now for each simulated site" \
	"$(sql "SELECT count(*) FROM car.live WHERE organisation = 'Simulation' AND kw_now > 0 AND kg_co2e_per_hour_now > 0")" "3"
is "no session of it is left in the server" "$(sessions)" "0"

# a second run carries on from the last reading: no duplicates, no gap
sleep 11 # a 10-second period completes
before=$(sql "SELECT count(*) FROM ($SIM) r")
CAR_DEMO_LIVE_SECONDS=1 "${live_env[@]}" "${LIVE[@]}" >"$W/again.out" 2>&1
ok $? "a second run"
is "adds the periods completed since, each meter's readings at most 30 s apart (1 period in 200 is missing)" \
	"$(sql "SELECT (SELECT count(*) FROM ($SIM) r) > $before AND max(gap) <= interval '30 seconds'
	        FROM (SELECT ts - lag(ts) OVER (PARTITION BY meter_id ORDER BY ts) AS gap FROM ($SIM) r) g")" "t"

# --- Ctrl-C ---------------------------------------------------------------------
set -m # background jobs in their own process group, SIGINT not ignored: as a terminal runs them
# start the demo in the background; its pid is its process group
launch() { # output file, extra env...
	local out=$1
	shift
	env "$@" CAR_DEMO_LIVE_INTERVAL=1 "${live_env[@]}" "${LIVE[@]}" >"$out" 2>&1 &
	pid=$!
	bg_pids+=("$pid")
}
wait_for() { # seconds, condition...
	local end=$((EPOCHSECONDS + $1))
	shift
	until "$@"; do
		[ "$EPOCHSECONDS" -lt $end ] || return 1
		sleep 0.2
	done
}
drawn_twice() { [ "$(grep -c '^car live demo ' "$1")" -ge 2 ]; }
gone() { ! kill -0 "$pid" 2>/dev/null; }
left() { pgrep -g "$pid" | tr '\n' ' '; }

launch "$W/int.out"
wait_for 30 drawn_twice "$W/int.out"
ok $? "running until stopped, it draws the view every round"
kill -INT -- "-$pid"
wait_for 5 gone
ok $? "Ctrl-C (SIGINT to its process group) stops it within 5 s"
wait "$pid"
is "it exits 0" "$?" "0"
grep -q '^car demo-live: stopped by a signal after [0-9]* rounds' "$W/int.out"
ok $? "with a final line ($(grep '^car demo-live:' "$W/int.out" | cut -c1-60)...)"
is "no process of its group is left" "$(left)" ""
is "no session of it is left in the server" "$(sessions)" "0"

# Ctrl-C in the middle of a round: the round's INSERT waits for a lock held here
as_postgres env PGAPPNAME=car-check-locker "$PGBIN/psql" -X -q -h "$D" -p "$PORT" -d "$DB" \
	-c "BEGIN" -c "LOCK TABLE car.reading IN SHARE MODE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
locker=$!
bg_pids+=("$locker")
before=$(sql "SELECT count(*) FROM ($SIM) r")
launch "$W/midround.out"
blocked() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'car-demo-live' AND wait_event_type = 'Lock'")" = 1 ]; }
wait_for 15 blocked
ok $? "a round waits for the lock on car.reading"
kill -INT -- "-$pid"
wait_for 5 gone
ok $? "Ctrl-C then stops it within 5 s"
wait "$pid"
is "it exits 0" "$?" "0"
is "no process of its group is left" "$(left)" ""
is "no session of it is left in the server" "$(sessions)" "0"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'car-check-locker'" >/dev/null
wait "$locker" 2>/dev/null
is "the cancelled round added nothing" "$(sql "SELECT count(*) FROM ($SIM) r")" "$before"

# SIGTERM to the script alone (kill PID), as a service manager or timeout sends it
launch "$W/term.out"
wait_for 30 drawn_twice "$W/term.out"
kill -TERM "$pid"
wait_for 5 gone
ok $? "SIGTERM to the script stops it within 5 s"
wait "$pid"
is "it exits 0" "$?" "0"
grep -q '^car demo-live: stopped by a signal' "$W/term.out"
ok $? "with a final line"
is "no process of its group is left" "$(left)" ""
is "no session of it is left in the server" "$(sessions)" "0"
echo "1..$n"
