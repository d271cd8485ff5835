#!/usr/bin/env bash
# Build and run the unit tests of the pure C cores (no server needed), with
# AddressSanitizer and UndefinedBehaviorSanitizer.  Prints TAP lines.
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
export CAR_FIXTURES=${CAR_FIXTURES:-$FIXTURES}

CFLAGS="-g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -fsanitize=address,undefined -fno-sanitize-recover=all -Isrc $(xml2-config --cflags)"
LIBS="-lzip -lxml2 -lcurl -lm"
CORES="src/numfmt.c src/csv.c src/xlsx.c src/xls.c src/factorfile.c src/units.c src/meterfile.c src/fetch.c src/jwtparse.c src/hostpolicy.c"
status=0
# the .xls helper (FreeXL runs only there), sanitized like the rest
export CAR_XLS_HELPER=$ROOT/test/unit/run_car-xls-reader
if ! gcc $CFLAGS -o "$CAR_XLS_HELPER" src/xls_helper.c src/xlsx.c -lfreexl $LIBS 2>"$CAR_XLS_HELPER.log"; then
	cat "$CAR_XLS_HELPER.log"
	echo "not ok - the .xls helper does not compile"
	status=1
fi
for t in test/unit/test_*.c; do
	name=$(basename "$t" .c)
	bin=test/unit/run_$name
	if ! gcc $CFLAGS -o "$bin" "$t" $CORES $LIBS 2>"$bin.log"; then
		cat "$bin.log"
		echo "not ok - $name does not compile"
		status=1
		continue
	fi
	if ! ASAN_OPTIONS=detect_leaks=1 "$bin"; then
		echo "not ok - $name exited with an error (failed tests or a sanitizer report above)"
		status=1
	fi
done
echo "# unit tests done"
exit $status
