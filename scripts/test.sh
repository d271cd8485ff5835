#!/usr/bin/env bash
# make test: install what is missing, build with -Werror, install, then run
# the unit tests of the pure C cores, the regression suite and the isolation
# suite against private temporary PostgreSQL 15 servers, as the postgres OS
# user.  Ends with one line "N passed, N failed" covering every suite.
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

"$ROOT/scripts/deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

echo "== build"
make -s clean >/dev/null 2>&1
if ! build_and_install; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
count() { # count "ok"/"FAILED" lines of pg_regress output; tests that never ran are failures
	local out=$1 want=$2 ok bad
	ok=$(grep -cE '\.\.\. ok( |$)' "$out" || true)
	bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$out" || true)
	if [ $((ok + bad)) -lt "$want" ]; then
		echo "$((want - ok - bad)) of $want tests did not run to a result"
		bad=$((want - ok))
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# A TAP script: its "ok" and "not ok" lines count; no plan line is a failure.
tap() { # name script args...
	local name=$1 out
	out="$WORK/tap-$(echo "$1" | tr -c 'A-Za-z0-9' '_').out"
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$out"
	local t_ok t_bad
	t_ok=$(grep -c '^ok ' "$out" || true)
	t_bad=$(grep -c '^not ok ' "$out" || true)
	grep -q '^1\.\.' "$out" || t_bad=$((t_bad + 1))
	passed=$((passed + t_ok))
	failed=$((failed + t_bad))
}

# A work tree the postgres user can write, with the fixtures it reads.
# A fixed place, so that paths in expected outputs are stable.
WORK=/tmp/car-test
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cp -r sql expected specs test "$WORK/"
mkdir -p "$WORK/fixtures"
if [ -d "$SHARED_DATA" ]; then
	cp -r "$SHARED_DATA"/. "$WORK/fixtures/"
else
	echo "warning: shared fixtures not found at $SHARED_DATA" >&2
fi
# generated meter files (deterministic), with the totals a loader must reach
mkdir -p "$WORK/fixtures/generated"
python3 test/gen/ecodriver.py --out "$WORK/fixtures/generated/eco_a"
python3 test/gen/ecodriver.py --out "$WORK/fixtures/generated/eco_b" --seed 2 --sites 2 --start 2024-10-24 --days 6 --extra-days ""
python3 test/gen/ecodriver.py --out "$WORK/fixtures/generated/eco_junk" --seed 3 --sites 1 --meters 1 --days 4 --junk 7 --extra-days ""
chown -R postgres "$WORK"
chmod -R a+rX "$WORK"
export CAR_FIXTURES="$WORK/fixtures"

echo "== unit tests (pure C cores)"
if scripts/unit.sh >"$WORK/unit.out" 2>&1; then :; fi
cat "$WORK/unit.out" | grep -E '^(not ok|# )' || true
u_ok=$(grep -c '^ok ' "$WORK/unit.out" || true)
u_bad=$(grep -c '^not ok ' "$WORK/unit.out" || true)
if ! grep -q '^# unit tests done' "$WORK/unit.out"; then
	tail -20 "$WORK/unit.out"
	u_bad=$((u_bad + 1))
fi
echo "unit: $u_ok passed, $u_bad failed"
passed=$((passed + u_ok))
failed=$((failed + u_bad))

# a test web server for the background worker's tests
HTTP_PORT=${CAR_HTTP_PORT:-18089}
mkdir -p "$WORK/http"
python3 test/http_server.py --port "$HTTP_PORT" --dir "$WORK/http" &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$HTTP_PORT/_stats" >/dev/null && break; sleep 0.1; done
if ! kill -0 "$HTTP_PID" 2>/dev/null; then
	echo "the test web server could not start on port $HTTP_PORT (in use?); set CAR_HTTP_PORT"
	echo "0 passed, 1 failed"
	exit 1
fi

echo "== regression suite"
rm -f "$ROOT/regression.diffs"
REGRESS=$(make -s print-REGRESS)
as_postgres env CAR_FIXTURES="$CAR_FIXTURES" CAR_HTTP_PORT="$HTTP_PORT" CAR_HTTP_DIR="$WORK/http" CAR_TEST_LOG="$WORK/log/postmaster.log" PGTZ=UTC "$PGXS_DIR/../test/regress/pg_regress" \
	--inputdir="$WORK" --outputdir="$WORK" --bindir="$PGBIN" \
	--temp-instance="$WORK/tmp_check" --temp-config="$WORK/test/pg.conf" \
	--dbname=contrib_regression --encoding=UTF8 --no-locale $REGRESS 2>&1 | tee "$WORK/regress.out"
count "$WORK/regress.out" $(echo $REGRESS | wc -w)
rm -rf "$ROOT/results" && mkdir -p "$ROOT/results" && cp -r "$WORK/results/." "$ROOT/results/" 2>/dev/null
[ -f "$WORK/regression.diffs" ] && cp "$WORK/regression.diffs" "$ROOT/regression.diffs" && head -100 "$WORK/regression.diffs"

echo "== isolation suite"
ISOLATION=$(make -s print-ISOLATION)
mkdir -p "$WORK/iso"
chown postgres "$WORK/iso"
as_postgres env CAR_FIXTURES="$CAR_FIXTURES" PGTZ=UTC "$PGXS_DIR/../test/isolation/pg_isolation_regress" \
	--inputdir="$WORK" --outputdir="$WORK/iso" --bindir="$PGBIN" \
	--temp-instance="$WORK/iso/tmp_check" --temp-config="$WORK/test/pg.conf" \
	--dbname=contrib_regression --encoding=UTF8 --no-locale $ISOLATION 2>&1 | tee "$WORK/iso.out"
count "$WORK/iso.out" $(echo $ISOLATION | wc -w)
cp -r "$WORK/iso/results/." "$ROOT/results/" 2>/dev/null
[ -f "$WORK/iso/regression.diffs" ] && cat "$WORK/iso/regression.diffs" >>"$ROOT/regression.diffs" && head -100 "$WORK/iso/regression.diffs"

tap "worker crash tests" test/worker_crash.sh "$WORK/crash"
tap "server tests (pg_dump and pg_restore, no pg_cron)" test/server.sh "$WORK/server"
tap "tokens and row-level security (openssl-made keys and tokens)" test/jwt.sh "$WORK/jwt"
tap "BI client test (JDBC, read-only role)" test/bi_client.sh "$WORK/bi"
tap "docker checks (compose, Dockerfile, first-start init)" test/docker_check.sh "$WORK/docker"
tap "live demo (scripts/demo-live.sh: simulator, view, Ctrl-C)" test/demo_live_check.sh "$WORK/demo_live"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
