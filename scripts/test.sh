#!/usr/bin/env bash
# make test: install what is missing, build with -Werror, then run every
# suite against private PostgreSQL 15 servers, as the postgres OS user:
# the unit tests of the pure C cores, the regression and isolation suites,
# and the TAP scripts (faults, security, upgrade, clients, a fresh clone).
# Ends with one line "N passed, N failed" covering every suite.
#
# Each run has a work folder of its own (under $TMPDIR or /tmp, removed when
# everything passed, kept and named otherwise), a private copy of PostgreSQL
# with this tree's car installed into it (nothing is installed into the
# system's PostgreSQL), and free ports found at start: two clones, or CI next
# to a developer's run, do not disturb each other.  It reads only files inside
# the repository.
#
# CAR_TEST_SUITES picks suites (default: all of them), e.g.
#   CAR_TEST_SUITES="regress isolation" make test
# suites: unit regress isolation crash server jwt security stress lo bi docker demo_live upgrade multinode fresh_clone
# (CAR_TEST_REGRESS and CAR_TEST_ISOLATION name some tests of those two suites only)
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ALL_SUITES="unit regress isolation crash server jwt security stress lo bi docker demo_live upgrade multinode fresh_clone"
SUITES=${CAR_TEST_SUITES:-$ALL_SUITES}
for s in $SUITES; do
	case " $ALL_SUITES " in *" $s "*) ;; *) echo "unknown suite \"$s\" in CAR_TEST_SUITES (suites: $ALL_SUITES)"; echo "0 passed, 1 failed"; exit 1 ;; esac
done
want() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

"$ROOT/scripts/deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
fatal() { echo "$1"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

# --- the work folder -----------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/car-test.XXXXXX") || fatal "could not make a work folder"
chmod 755 "$WORK"
HTTP_PID=
cleanup() {
	[ -z "$HTTP_PID" ] || kill "$HTTP_PID" 2>/dev/null
	if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then rm -rf "$WORK"; else echo "work folder kept: $WORK"; fi
}
trap cleanup EXIT
echo "== work folder $WORK"

# --- build, and a private PostgreSQL with this car --------------------------------
echo "== build"
make -s clean >/dev/null 2>&1
make -s PG_CONFIG="$PG_CONFIG" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fatal "build failed"; }
TEMP_PG_CONFIG=$(make_temp_install "$WORK/inst") || fatal "could not make the private PostgreSQL installation in $WORK/inst"
export PG_CONFIG=$TEMP_PG_CONFIG
source "$ROOT/scripts/common.sh" # PGBIN, PGXS_DIR of the private installation
echo "== private PostgreSQL with this car: $PGBIN"

# --- fixtures: the repository's own, checked -------------------------------------
if ! (cd "$FIXTURES" && sha256sum --quiet -c SHA256SUMS) >"$WORK/fixtures.check" 2>&1; then
	cat "$WORK/fixtures.check"
	fatal "test fixtures in test/data are missing or changed (test/data/SHA256SUMS)"
fi
mkdir -p "$WORK/fixtures"
cp -r "$FIXTURES"/. "$WORK/fixtures/"
# sql/close.sql runs the README's SQL that recomputes a period close's SHA-256, as written there
cp README.md "$WORK/fixtures/"
# generated meter files (deterministic), with the totals a loader must reach
mkdir -p "$WORK/fixtures/generated"
python3 test/gen/ecodriver.py --out "$WORK/fixtures/generated/eco_a"
python3 test/gen/ecodriver.py --out "$WORK/fixtures/generated/eco_b" --seed 2 --sites 2 --start 2024-10-24 --days 6 --extra-days ""
python3 test/gen/ecodriver.py --out "$WORK/fixtures/generated/eco_junk" --seed 3 --sites 1 --meters 1 --days 4 --junk 7 --extra-days ""
# the same readings in every dialect car accepts (issue 13), with what they must load to
python3 test/gen/dialects.py --out "$WORK/fixtures/generated/dialects"
# zip bombs (small .xlsx files whose parts decompress past the xlsx reader's caps)
python3 test/gen/bombs.py --out "$WORK/fixtures/generated/bombs"
# .xls workbooks FreeXL can read, and hostile ones (test/gen/xls.py, with Debian's python3-xlwt)
/usr/bin/python3 test/gen/xls.py --out "$WORK/fixtures/generated/xls" || fatal "test/gen/xls.py failed"
# the factor every builtin activity must price in every bundled year, read from data/ with Python
/usr/bin/python3 test/gen/expected_factors.py data >"$WORK/fixtures/generated/expected_factors.sql" ||
	fatal "test/gen/expected_factors.py failed: an intended path matches no row, or several, in a bundled file"
cp -r sql expected specs test "$WORK/"
chown -R postgres "$WORK"
chmod -R a+rX "$WORK"
export CAR_FIXTURES="$WORK/fixtures"

# --- ports: free ones, found now --------------------------------------------------
read -r -d '' CAR_CRASH_PORT CAR_CRASH_HTTP_PORT CAR_SERVER_TEST_PORT CAR_JWT_PORT CAR_BI_PORT \
	CAR_DOCKER_CHECK_PORT CAR_DEMO_LIVE_CHECK_PORT CAR_UPGRADE_PORT CAR_SECURITY_PORT CAR_STRESS_PORT CAR_LO_PORT < <(free_ports 11)
export CAR_CRASH_PORT CAR_CRASH_HTTP_PORT CAR_SERVER_TEST_PORT CAR_JWT_PORT CAR_BI_PORT \
	CAR_DOCKER_CHECK_PORT CAR_DEMO_LIVE_CHECK_PORT CAR_UPGRADE_PORT CAR_SECURITY_PORT CAR_STRESS_PORT CAR_LO_PORT

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
tap() { # suite name script args...
	local suite=$1 name=$2 out
	shift 2
	want "$suite" || return 0
	out="$WORK/tap-$suite.out"
	echo "== $name"
	"$@" 2>&1 | tee "$out"
	local t_ok t_bad
	t_ok=$(grep -c '^ok ' "$out" || true)
	t_bad=$(grep -c '^not ok ' "$out" || true)
	grep -q '^1\.\.' "$out" || t_bad=$((t_bad + 1))
	passed=$((passed + t_ok))
	failed=$((failed + t_bad))
}

if want unit; then
	echo "== unit tests (pure C cores)"
	if scripts/unit.sh >"$WORK/unit.out" 2>&1; then :; fi
	grep -E '^(not ok|# )' "$WORK/unit.out" || true
	u_ok=$(grep -c '^ok ' "$WORK/unit.out" || true)
	u_bad=$(grep -c '^not ok ' "$WORK/unit.out" || true)
	if ! grep -q '^# unit tests done' "$WORK/unit.out"; then
		tail -20 "$WORK/unit.out"
		u_bad=$((u_bad + 1))
	fi
	echo "unit: $u_ok passed, $u_bad failed"
	passed=$((passed + u_ok))
	failed=$((failed + u_bad))
fi

if want regress; then
	# a test web server for the background worker's tests, on a port of its own choosing
	mkdir -p "$WORK/http"
	python3 test/http_server.py --port 0 --port-file "$WORK/http.port" --dir "$WORK/http" &
	HTTP_PID=$!
	for _ in $(seq 100); do [ -s "$WORK/http.port" ] && break; sleep 0.1; done
	HTTP_PORT=$(cat "$WORK/http.port" 2>/dev/null)
	curl -sf "http://127.0.0.1:$HTTP_PORT/_stats" >/dev/null || fatal "the test web server did not start"
	chown -R postgres "$WORK/http"

	echo "== regression suite"
	rm -f "$ROOT/regression.diffs"
	REGRESS=${CAR_TEST_REGRESS:-$(make -s --no-print-directory print-REGRESS)}
	as_postgres env CAR_FIXTURES="$CAR_FIXTURES" CAR_TEST_SQL="$WORK/sql" CAR_HTTP_PORT="$HTTP_PORT" CAR_HTTP_DIR="$WORK/http" CAR_TEST_LOG="$WORK/log/postmaster.log" PGTZ=UTC "$PGXS_DIR/../test/regress/pg_regress" \
		--inputdir="$WORK" --outputdir="$WORK" --bindir="$PGBIN" \
		--temp-instance="$WORK/tmp_check" --temp-config="$WORK/test/pg.conf" \
		--dbname=contrib_regression --encoding=UTF8 --no-locale $REGRESS 2>&1 | tee "$WORK/regress.out"
	count "$WORK/regress.out" $(echo $REGRESS | wc -w)
	rm -rf "$ROOT/results" && mkdir -p "$ROOT/results" && cp -r "$WORK/results/." "$ROOT/results/" 2>/dev/null
	[ -f "$WORK/regression.diffs" ] && cp "$WORK/regression.diffs" "$ROOT/regression.diffs" && head -100 "$WORK/regression.diffs"
	kill "$HTTP_PID" 2>/dev/null
	HTTP_PID=
fi

if want isolation; then
	echo "== isolation suite"
	ISOLATION=${CAR_TEST_ISOLATION:-$(make -s --no-print-directory print-ISOLATION)}
	mkdir -p "$WORK/iso"
	chown postgres "$WORK/iso"
	as_postgres env CAR_FIXTURES="$CAR_FIXTURES" PGTZ=UTC "$PGXS_DIR/../test/isolation/pg_isolation_regress" \
		--inputdir="$WORK" --outputdir="$WORK/iso" --bindir="$PGBIN" \
		--temp-instance="$WORK/iso/tmp_check" --temp-config="$WORK/test/pg.conf" \
		--dbname=contrib_regression --encoding=UTF8 --no-locale $ISOLATION 2>&1 | tee "$WORK/iso.out"
	count "$WORK/iso.out" $(echo $ISOLATION | wc -w)
	mkdir -p "$ROOT/results" && cp -r "$WORK/iso/results/." "$ROOT/results/" 2>/dev/null
	[ -f "$WORK/iso/regression.diffs" ] && cat "$WORK/iso/regression.diffs" >>"$ROOT/regression.diffs" && head -100 "$WORK/iso/regression.diffs"
fi

tap crash "worker crash tests" test/worker_crash.sh "$WORK/crash"
tap server "server tests (pg_dump and pg_restore, no pg_cron)" test/server.sh "$WORK/server"
tap jwt "tokens and row-level security (openssl-made keys and tokens)" test/jwt.sh "$WORK/jwt"
tap security "attacks of the security review, as the roles named; the privilege matrix after them" test/security.sh "$WORK/security"
tap stress "cache invalidation under load (inserts, pushes, refreshes against meter updates, ANALYZE, GRANT, queue overflow)" test/cache_stress.sh "$WORK/stress"
tap lo "a 200 MB file streamed in with \\lo_import and loaded by car.push_lo (readings, landed bytes, memory, dump and restore)" test/lo_push.sh "$WORK/lo"
tap bi "BI client test (JDBC, read-only role)" test/bi_client.sh "$WORK/bi"
tap docker "docker checks (compose, Dockerfile, first-start init)" test/docker_check.sh "$WORK/docker"
tap demo_live "live demo (scripts/demo-live.sh: simulator, view, Ctrl-C)" test/demo_live_check.sh "$WORK/demo_live"
tap upgrade "upgrade (ALTER EXTENSION car UPDATE from 1.0 with data)" test/upgrade.sh "$WORK/upgrade"
tap multinode "a federation: a hub and two shards on logical replication, against a single car" test/multinode.sh "$WORK/multinode"
# the fresh clone runs suites of this script itself: never from inside a fresh clone
if [ -z "${CAR_IN_FRESH_CLONE:-}" ]; then
	tap fresh_clone "a fresh clone in a mode-700 folder (make demo, demo-live, suites, bench, lint)" test/fresh_clone.sh "$WORK/fresh"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
