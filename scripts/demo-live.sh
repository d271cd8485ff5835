#!/usr/bin/env bash
# make demo-live: the live demo.  A simulator feeds the demo database readings
# every few seconds while a terminal view, redrawn after each round, shows
# car.live: power and emission rate now, a trend of the last 15 minutes
# (car.live_json), energy and emissions today, and the last NOTIFY car_readings.
#
# It uses the demo server of `make demo` (scripts/demo.sh where names its
# folder; port 54329, database car_demo); when that is not running or its car
# is out of date it runs scripts/demo.sh first, and then stops the server
# again on the way out.
# It makes the sites "Sim site 1..3" (car.simulate_setup(3, 3): electricity,
# gas and water meters), backfills their last hour, then every
# CAR_DEMO_LIVE_INTERVAL seconds inserts, in one transaction, the readings of
# the 10-second periods completed since the last one (car.simulate with a fixed
# seed: the same readings on every run) and redraws the view.
#
# Ctrl-C (SIGINT) or SIGTERM stops it cleanly: a round in flight is cancelled
# and rolled back, nothing is left running, and a final line says what was done.
# It starts no background process: it naps with the read builtin.
#
# Settings (environment):
#   CAR_DEMO_LIVE_SECONDS   stop by itself after this many seconds (0: run until Ctrl-C)
#   CAR_DEMO_LIVE_INTERVAL  seconds between rounds (whole seconds, default 2)
#   CAR_DEMO_LIVE_SEED      the simulator's seed (default 7)
#   CAR_DEMO_DIR, CAR_DEMO_PORT, CAR_DEMO_DB
#                           another server made like the demo's (socket folder,
#                           port, database with car and its factors loaded,
#                           local logins trusted): it must already be running;
#                           test/demo_live_check.sh uses these.
set -uo pipefail
source "$(dirname "$0")/common.sh"

DEMO=$(demo_dir)
PORT=${CAR_DEMO_PORT:-54329}
DB=${CAR_DEMO_DB:-car_demo}
RUN_FOR=${CAR_DEMO_LIVE_SECONDS:-0}
INTERVAL=${CAR_DEMO_LIVE_INTERVAL:-2}
SEED=${CAR_DEMO_LIVE_SEED:-7}
STEP='10 seconds'    # one reading per meter every 10 s
BACKFILL='1 hour'    # at most this much history is simulated at once
SITES=3 METERS_PER_SITE=3

stop=0 started_server=0 rounds=0 added=0 failed=0 started_at=$EPOCHSECONDS
# Ctrl-C or SIGTERM, from here on: finish the step in flight (Ctrl-C also
# reaches psql, which cancels its statement), then end by finish() below
trap 'stop=1' INT TERM

say() { echo "car demo-live: $*"; }
# the last line, whatever the way out; stops the server if this run started it
finish() {
	trap '' INT TERM # a second Ctrl-C does not cut this short
	local why
	if [ $failed = 1 ]; then why='failed'; elif [ $stop = 1 ]; then why='stopped by a signal'; else why="ran its ${RUN_FOR}s"; fi
	echo
	if [ $started_server = 1 ]; then
		as_postgres "$PGBIN/pg_ctl" -D "$DEMO/data" -m fast -w stop >/dev/null 2>&1 &&
			say "stopped the demo server it had started (make demo starts it again)"
	fi
	say "$why after $rounds rounds in $((EPOCHSECONDS - started_at))s: $added readings added to $DB" \
		"(Sim site 1-$SITES, organisation Simulation); the simulator is not running"
	exit $failed
}
die() { echo "car demo-live: $*" >&2; failed=1; finish; }
[[ $RUN_FOR =~ ^[0-9]+$ ]] || die "CAR_DEMO_LIVE_SECONDS must be a whole number of seconds (got '$RUN_FOR')"
[[ $INTERVAL =~ ^[1-9][0-9]*$ ]] || die "CAR_DEMO_LIVE_INTERVAL must be a whole number of seconds, 1 or more (got '$INTERVAL')"
[[ $SEED =~ ^-?[0-9]+$ ]] || die "CAR_DEMO_LIVE_SEED must be an integer (got '$SEED')"

# The demo server trusts local logins: psql runs as this user, logging in as
# postgres (no runuser in between, so Ctrl-C reaches psql itself).  No
# statement may hang: a SIGTERM waits for the round in flight.
export PGAPPNAME=car-demo-live PGCLIENTENCODING=UTF8 PGCONNECT_TIMEOUT=10 \
	PGOPTIONS='-c statement_timeout=10s -c lock_timeout=5s'
psql_live() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO" -p "$PORT" -U postgres -d "$DB" "$@"; }
server_up() { "$PGBIN/pg_isready" -q -h "$DEMO" -p "$PORT"; }
# the database has car with the live data (car.live, car.simulate_setup) and factors
car_ready() {
	[ "$(psql_live -tAc "SELECT to_regclass('car.live') IS NOT NULL
	        AND to_regprocedure('car.simulate_setup(int, int, text)') IS NOT NULL
	        AND EXISTS (SELECT FROM car.factor_set)" 2>/dev/null)" = t ]
}

# --- the demo server ---------------------------------------------------------
if [ -z "${CAR_DEMO_DIR:-}" ]; then
	version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/car.control")
	sql_sum=$(sha256sum "$ROOT/car--$version.sql" 2>/dev/null | cut -c1-64)
	if ! server_up || ! car_ready || [ -z "$sql_sum" ] || [ "$(cat "$DEMO/car-sql.sha256" 2>/dev/null)" != "$sql_sum" ]; then
		server_up || started_server=1
		echo "== the demo database is not running or not up to date: running scripts/demo.sh (make demo) first"
		CAR_DEMO_PORT=$PORT "$ROOT/scripts/demo.sh" || { [ $stop = 1 ] && finish; die "scripts/demo.sh failed"; }
		[ $stop = 0 ] || finish
		car_ready || die "no car with live data in $DB after scripts/demo.sh"
	fi
else
	server_up || die "no server answers on $DEMO, port $PORT (CAR_DEMO_DIR, CAR_DEMO_PORT)"
	car_ready || die "database $DB on $DEMO, port $PORT has no car with live data and factors (CAR_DEMO_DB)"
fi
[ $stop = 0 ] || finish

# --- the simulated sites -----------------------------------------------------
meters=$(psql_live -tAc "SELECT array_agg(id ORDER BY id) FROM car.simulate_setup($SITES, $METERS_PER_SITE)")
[ $stop = 0 ] || finish
[[ $meters =~ ^\{[0-9,]+\}$ ]] || die "car.simulate_setup($SITES, $METERS_PER_SITE) gave no meters: $meters"

if [ "$(locale charmap 2>/dev/null)" = UTF-8 ]; then bars='▁▂▃▄▅▆▇█'; else bars='_.-~=+*#'; fi

# One round, in one psql session: LISTEN, insert the completed periods since
# the last reading in one statement (one transaction, so one NOTIFY, which
# psql prints as it comes back to this session), then the view.
ROUND_SQL=$(cat <<'SQL'
LISTEN car_readings;
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
WITH last AS (
    SELECT max(ts) AS ts FROM car.reading WHERE meter_id = ANY (:'meters'::int[])
), ins AS (
    INSERT INTO car.reading (meter_id, ts, quantity)
    SELECT s.meter_id, s.ts, s.quantity
    FROM last, car.simulate(:'meters'::int[], greatest(last.ts + :'step'::interval, now() - :'backfill'::interval),
                            now() - :'step'::interval, :'step'::interval, :seed) s
    ON CONFLICT DO NOTHING
    RETURNING ts
)
SELECT 'added', count(*),
       coalesce(to_char(min(ts) AT TIME ZONE 'Europe/London', 'HH24:MI:SS'), ''),
       coalesce(to_char(max(ts) AT TIME ZONE 'Europe/London', 'HH24:MI:SS'), '')
FROM ins;
SELECT 'totals', to_char(now() AT TIME ZONE 'Europe/London', 'YYYY-MM-DD HH24:MI:SS'), round(coalesce(sum(kw_now), 0)::numeric, 1), round(coalesce(sum(kg_co2e_per_hour_now), 0)::numeric, 2),
       round(coalesce(sum(kg_co2e_today), 0)::numeric, 1),
       (SELECT count(*) FROM car.reading WHERE meter_id = ANY (:'meters'::int[]))
FROM car.live;
\pset format aligned
\pset tuples_only off
\pset footer off
WITH pts AS (   -- per site and whole minute of the last 15, kg CO2e per hour
    SELECT (x ->> 'site_id')::int AS site_id, (p ->> 't')::timestamptz AS t, (p ->> 'kg_co2e_per_hour')::float8 AS v
    FROM jsonb_array_elements(car.live_json(interval '15 minutes', interval '1 minute') -> 'series') x,
         jsonb_array_elements(x -> 'points') p
    WHERE (p ->> 't')::timestamptz > now() - interval '15 minutes'   -- whole minutes only
      AND (p ->> 't')::timestamptz < date_bin('1 minute', now(), timestamptz '2000-01-01')
), trend AS (   -- a sparkline, from the site's lowest to its highest minute
    SELECT site_id, string_agg(substr(:'bars', 1 + least(7, floor(8 * coalesce((v - lo) / nullif(hi - lo, 0), 0.5)))::int, 1),
                               '' ORDER BY t) AS line
    FROM (SELECT *, min(v) OVER w AS lo, max(v) OVER w AS hi FROM pts WINDOW w AS (PARTITION BY site_id)) q
    GROUP BY site_id
)
SELECT l.site AS "site", round(l.kw_now::numeric, 1) AS "kW now", round(l.kg_co2e_per_hour_now::numeric, 2) AS "kg CO2e/h now",
       rpad(repeat(substr(:'bars', 8, 1),
                   coalesce(round(20 * l.kg_co2e_per_hour_now / nullif(max(l.kg_co2e_per_hour_now) OVER (), 0)), 0)::int),
            20) AS "kg CO2e/h, sites compared",
       coalesce(t.line, '') AS "trend, 15 min",
       round(l.kwh_today::numeric) AS "kWh today", round(l.kg_co2e_today::numeric, 1) AS "kg CO2e today",
       to_char(l.last_reading_at AT TIME ZONE 'Europe/London', 'HH24:MI:SS') AS "last reading"
FROM car.live l LEFT JOIN trend t USING (site_id)
ORDER BY l.organisation, l.site;
SQL
)

# --- the loop ----------------------------------------------------------------
exec {nap_fd}<> <(:) # a pipe nobody writes to: read -t on it naps without a child process
nap() {
	local end=$((${EPOCHREALTIME/./} + $1 * 1000000))
	while [ $stop = 0 ] && [ "${EPOCHREALTIME/./}" -lt $end ]; do read -r -t 0.2 -u "$nap_fd"; done
}
clear_screen() { [ -t 1 ] && printf '\033[H\033[2J' || printf '\n'; }

last_notify='(none yet)' prev_kg='' errors=0
started_at=$EPOCHSECONDS # CAR_DEMO_LIVE_SECONDS counts from the first round
while [ $stop = 0 ]; do
	out=$(psql_live -v meters="$meters" -v step="$STEP" -v backfill="$BACKFILL" -v seed="$SEED" -v bars="$bars" \
		<<<"$ROUND_SQL" 2>&1)
	rc=$?
	[ $stop = 0 ] || break # Ctrl-C: psql cancelled the round, which rolled back
	if [ $rc != 0 ] || [[ $out != *$'\n'totals\|* ]]; then
		# a round is one transaction: a failed one added nothing; three in a row end the demo
		errors=$((errors + 1))
		printf '\ncar demo-live: round failed (%d in a row):\n%s\n' "$errors" "$out" >&2
		[ $errors -lt 3 ] || { failed=1; break; }
		nap "$INTERVAL"
		continue
	fi
	rounds=$((rounds + 1)) errors=0
	n=0 span='' notify='' table=()
	while IFS= read -r line; do
		case $line in
		added\|*)
			IFS='|' read -r _ n from to <<<"$line"
			[ "$n" = 0 ] || span=" ($from to $to, UK time)"
			;;
		totals\|*) IFS='|' read -r _ at kw kg kg_today total <<<"$line" ;;
		'Asynchronous notification "car_readings" with payload "'*)
			line=${line#*with payload \"}
			notify=${line%\" received from server process*}
			;;
		*) table+=("$line") ;;
		esac
	done <<<"$out"
	added=$((added + n))
	[ -z "$notify" ] || last_notify="$notify  (round $rounds, ${at#* })"
	# kg has two decimals: compare it as a whole number of hundredths
	now_kg=$((10#${kg/./})) trend=''
	if [ -n "$prev_kg" ] && [ "$now_kg" -gt "$prev_kg" ]; then trend=' (rising)'; fi
	if [ -n "$prev_kg" ] && [ "$now_kg" -lt "$prev_kg" ]; then trend=' (falling)'; fi
	prev_kg=$now_kg

	clear_screen
	printf 'car live demo   %s UK time   database %s, port %s   Ctrl-C stops\n\n' "$at" "$DB" "$PORT"
	printf 'now, all sites: %s kW, %s kg CO2e/h%s;  today: %s kg CO2e\n' "$kw" "$kg" "$trend" "$kg_today"
	printf 'simulator: %d sites x %d meters (electricity, gas, water), a reading per meter every %s\n' \
		"$SITES" "$METERS_PER_SITE" "$STEP"
	printf 'round %d added %d readings%s; %d this run, %d in all\n\n' "$rounds" "$n" "$span" "$added" "$total"
	printf '%s\n' "car.live (kW and kg CO2e/h over the last 15 minutes; energy meters)" "${table[@]}"
	printf '\nlast NOTIFY car_readings: %s\n' "$last_notify"

	if [ "$RUN_FOR" -gt 0 ] && [ $((EPOCHSECONDS - started_at)) -ge "$RUN_FOR" ]; then break; fi
	nap "$INTERVAL"
	if [ "$RUN_FOR" -gt 0 ] && [ $((EPOCHSECONDS - started_at)) -ge "$RUN_FOR" ]; then break; fi
done

exec {nap_fd}<&-
finish
