#!/usr/bin/env bash
# A newcomer's first run (TAP): clone the project into a new mode-700 folder
# (as root's home is) with no ../shared beside it, and there, as root:
#   make demo (twice: the second run loads nothing again), make demo-live for
#   a few seconds, make test (every suite, the regression and isolation suites
#   among them, but this one), a short make bench section, make lint, and at
#   the end make demo-clean, which removes the demo's server.
# The clone is of this tree as it would be committed: HEAD, plus the working
# tree's changes to tracked files and its untracked, unignored files.
# make test runs this script; inside the clone it is never run again
# (CAR_IN_FRESH_CLONE).  It uses no fixed port or folder outside WORKDIR but the
# demo's own (scripts/demo.sh where), so it works beside another test run.
#
#	test/fresh_clone.sh WORKDIR	(as root; WORKDIR is wiped)
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
show() { tail -n "${2:-15}" "$1" | sed 's/^/#   /'; }

if [ "$(id -u)" != 0 ]; then
	ok 1 "fresh_clone.sh runs as root (as CI and a newcomer do)"
	echo "1..$n"
	exit 1
fi
rm -rf "$W"
mkdir -p "$W"
HOME_DIR=$W/home # like /root: mode 700
mkdir -m 700 "$HOME_DIR"
C=$HOME_DIR/car

# the tree as it would be committed
git clone -q --no-hardlinks "$ROOT" "$C" 2>"$W/clone.err"
rc=$?
if [ $rc = 0 ]; then
	(cd "$ROOT" && git diff --binary HEAD) >"$W/changes.diff"
	[ ! -s "$W/changes.diff" ] || git -C "$C" apply --whitespace=nowarn "$W/changes.diff" || rc=1
	(cd "$ROOT" && git ls-files --others --exclude-standard -z) | (cd "$ROOT" && xargs -0 -r cp --parents -t "$C") || rc=1
fi
ok $rc "cloned into $C (a mode-700 folder, nothing beside it)"
[ $rc = 0 ] || { show "$W/clone.err"; echo "1..$n"; exit 1; }
[ ! -e "$HOME_DIR/shared" ] && [ ! -e "$W/shared" ]
ok $? "no ../shared next to the clone"

# everything below runs in the clone, with nothing of this run's environment
# (the private PostgreSQL of the outer make test, its ports) leaking in
in_clone() { (cd "$C" && env -u PG_CONFIG -u CAR_FIXTURES -u CAR_DEMO_DIR -u CAR_DEMO_PORT CAR_IN_FRESH_CLONE=1 "$@"); }
DEMO=$(in_clone scripts/demo.sh where)
cleanup() { in_clone make -s demo-clean >/dev/null 2>&1; }
trap cleanup EXIT
cleanup # a demo left over by an earlier, interrupted run of this test
perm_before=$(stat -c %a "$HOME_DIR")

# --- make demo -----------------------------------------------------------------
in_clone make demo >"$W/demo.out" 2>&1
rc=$?
ok $rc "make demo (output: $W/demo.out)"
[ $rc = 0 ] || show "$W/demo.out" 30
grep -q 'UCam b0' "$W/demo.out" && grep -q '^ *total' "$W/demo.out"
ok $? "it prints the monthly report of the sample site, with its totals"
[ "$(stat -c %a "$HOME_DIR")" = "$perm_before" ] && [ "$perm_before" = 700 ]
ok $? "the folder holding the clone is still mode 700 (nothing was opened up)"
[ -f "$DEMO/data/PG_VERSION" ] && [ "$(stat -c %U "$DEMO/data")" = postgres ] && case $DEMO in "$C"/*) false ;; *) true ;; esac
ok $? "the demo's server lives outside the clone, owned by postgres: $DEMO"
[ "$(readlink "$C/.demo")" = "$DEMO" ]
ok $? "the clone's .demo links to it"
grep -q "Its data lives in $DEMO" "$W/demo.out"
ok $? "make demo says where the data lives"
demo_sql() { as_postgres "$PGBIN/psql" -X -qAt -h "$DEMO" -p 54329 -d car_demo -c "$1"; }
q="SELECT (SELECT count(*) FROM car.reading) || ' ' || (SELECT count(*) FROM car.source_file) || ' ' || (SELECT count(*) FROM car.factor_set) || ' ' || (SELECT count(*) FROM cron.job)"
first=$(demo_sql "$q")
in_clone make demo >"$W/demo2.out" 2>&1
rc=$?
second=$(demo_sql "$q")
[ $rc = 0 ] && [ "$first" = "$second" ] && [ "$first" = "17520 2 4 2" ]
ok $? "make demo again works and loads nothing twice (readings, files, factor sets, jobs: $second)"
[ $rc = 0 ] || show "$W/demo2.out"

# --- make demo-live ----------------------------------------------------------------
in_clone env CAR_DEMO_LIVE_SECONDS=3 CAR_DEMO_LIVE_INTERVAL=1 make demo-live >"$W/demo-live.out" 2>&1 </dev/null
rc=$?
[ $rc = 0 ] && grep -q 'Sim site 3 |' "$W/demo-live.out" && grep -q 'car demo-live: ran its 3s' "$W/demo-live.out"
ok $? "make demo-live runs for 3 s against the demo and stops by itself (output: $W/demo-live.out)"
[ $rc = 0 ] || show "$W/demo-live.out"

# --- make test, every suite but this one -----------------------------------------
# (every suite: not the ones this run was asked for)
in_clone env -u CAR_TEST_SUITES -u CAR_TEST_REGRESS -u CAR_TEST_ISOLATION make test >"$W/test.out" 2>&1
rc=$?
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$W/test.out" | tail -n 1)
want=$(($(in_clone make -s --no-print-directory print-REGRESS | wc -w) + $(in_clone make -s --no-print-directory print-ISOLATION | wc -w)))
suites=$(grep -cE '^(test|     ) [a-z_]+ +\.\.\. ok' "$W/test.out")
[ $rc = 0 ] && [[ $last =~ ^[0-9]+\ passed,\ 0\ failed$ ]] && [ "$suites" = "$want" ]
ok $? "make test passes in the clone ($last; all $want regression and isolation tests ok: $suites; output: $W/test.out)"
[ $rc = 0 ] || grep -E 'FAILED|failed|^not ok' "$W/test.out" | head -20 | sed 's/^/#   /'

# --- a short benchmark -------------------------------------------------------------
in_clone env BENCH_SECTIONS=calc BENCH_CALC_ROWS=200000 make bench >"$W/bench.out" 2>&1
rc=$?
[ $rc = 0 ] && grep -q '^## Emission calculator over 200000 readings' "$C/bench/RESULTS.md" &&
	grep -qE '^\| \(a\) `sum\(car.co2e.*\| [0-9.]+ \| [0-9.]+ \|' "$C/bench/RESULTS.md"
ok $? "make bench, calculator section with 200,000 rows, writes its figures to bench/RESULTS.md (output: $W/bench.out)"
[ $rc = 0 ] || show "$W/bench.out"

# --- make lint -----------------------------------------------------------------------
in_clone make lint >"$W/lint.out" 2>&1
rc=$?
ok $rc "make lint (clang-format, cppcheck, clang-tidy) is clean (output: $W/lint.out)"
[ $rc = 0 ] || show "$W/lint.out"

# --- make demo-clean ------------------------------------------------------------------
in_clone make -s demo-clean >"$W/clean.out" 2>&1
rc=$?
[ $rc = 0 ] && [ ! -e "$DEMO" ] && [ ! -e "$C/.demo" ]
ok $? "make demo-clean stops the demo and removes its folder and the .demo link"
[ $rc = 0 ] || show "$W/clean.out"
trap - EXIT
rm -rf "$C"

echo "1..$n"
