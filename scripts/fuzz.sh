#!/usr/bin/env bash
# make fuzz [FUZZ_SECONDS=N]: build the libFuzzer targets of the pure C cores
# (clang, ASan, UBSan) and run each for N seconds (default 60) on a corpus
# seeded from the real files.  A crash leaves its input in test/fuzz/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
SECONDS_EACH=${1:-${FUZZ_SECONDS:-60}}
TARGETS=${FUZZ_TARGETS:-"csv numfmt factorfile meterfile xlsx xlsxbomb xls jwt allowlist links"}
"$ROOT/scripts/deps.sh" clang libclang-rt-14-dev unzip

CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc $(xml2-config --cflags)"
for t in $TARGETS; do
	target="test/fuzz/fuzz_$t.c"
	defs=
	case $t in
		csv) srcs="src/csv.c" ;;
		numfmt) srcs="src/numfmt.c" ;;
		factorfile) srcs="src/numfmt.c src/csv.c src/factorfile.c" ;;
		meterfile) srcs="src/numfmt.c src/csv.c src/factorfile.c src/meterfile.c" ;;
		xlsx) srcs="src/xlsx.c" ;;
		xlsxbomb) srcs="src/xlsx.c" target=test/fuzz/fuzz_xlsx.c defs=-DFUZZ_BOMBS=1 ;;
		xls) srcs="src/xls.c" ;;
		jwt) srcs="src/jwtparse.c" ;;
		allowlist) srcs="src/hostpolicy.c" ;;
		links) srcs="src/fetch.c src/hostpolicy.c" ;;
	esac
	# a cap on any single allocation (the readers' caps keep every target inside
	# it: README, limits on input); the small parsers get a tight one
	case $t in
		allowlist) malloc_mb=64 ;;
		links) malloc_mb=256 ;;
		*) malloc_mb=1024 ;;
	esac
	clang $CFLAGS $defs -o "test/fuzz/run_fuzz_$t" "$target" $srcs -lzip -lxml2 -lcurl -lm
	if [ "$t" = xls ]; then
		# the helper the target starts for each input: FreeXL in its own process, as in the server
		clang -g -O1 -Isrc $(xml2-config --cflags) -o test/fuzz/run_car-xls-reader src/xls_helper.c src/xlsx.c \
			-lfreexl -lzip -lxml2 -lm
		export CAR_XLS_HELPER=$ROOT/test/fuzz/run_car-xls-reader
	fi
	corpus=test/fuzz/corpus-$t
	mkdir -p "$corpus"
	if [ "$t" = jwt ]; then
		# tokens: HS256 with registered claims, nested claims, escapes
		for i in 1 2 3; do
			python3 - "$corpus/token$i" "$i" <<'PY'
import base64, json, sys
b = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
i = int(sys.argv[2])
h = {"alg": ["HS256", "RS256", "ES256"][i - 1], "kid": "k%d" % i, "typ": "JWT"}
p = [{"sub": "ann", "org": "A", "exp": 1700000000, "nbf": 1.6e9, "iat": 1600000000},
     {"iss": "https://127.0.0.1:9443/idp", "aud": ["car", "x"], "orgs": ["A", "B"], "sites": [1, "Site 2"], "exp": 2e9},
     {"admin": True, "scope": "read push", "x": {"y": [1, {"z": "\u00e9\ud83d\ude00"}]}, "aud": "car"}][i - 1]
open(sys.argv[1], "w").write(b(h) + "." + b(p) + ".c2lnbmF0dXJl")
PY
		done
	elif [ "$t" = allowlist ]; then
		# car.allowed_hosts values: every entry form, loopback addresses only
		printf '127.0.0.1' >"$corpus/one"
		printf ' localhost:8443, 127.0.0.3:81,[::1]:8080 ,127.0.4.0/24, ::/127, ::1' >"$corpus/forms"
		printf 'files.localhost.,127.0.0.0/31,::ffff:127.0.6.0/120' >"$corpus/names"
		printf '127.0.0.0/33,,[::1' >"$corpus/bad"
	elif [ "$t" = links ]; then
		# index pages: an eCMS listing as test/http_server.py serves it, links of every kind, deep nesting
		{
			printf '<html><head><title>eCMS files</title></head><body><h1>MOJ</h1><ul>\n'
			for m in jan feb mar apr; do printf '<li><a href="Files/MOJ/ministryofjustice_%s-2024.csv">%s</a></li>\n' $m $m; done
			printf '<li><a href="/eCMS/help.html">help</a></li></ul></body></html>'
		} >"$corpus/ecms.html"
		printf '<A HREF=/a>a</A><a href="//127.0.0.2:8080/b">b</a><a href="http://user:pw@127.0.0.1/c">c</a><a href="../d?q=1#f">d</a><a href="file:///e">e</a><a href="mailto:x">x</a><a href=" javascript:y">y</a><a href="/a">again</a><a>none</a><a href="">empty</a><a href="http://[::1]:8080/f">f</a><a href="http://localhost:8080/ministryofjustice_jan-2024.csv">g</a>' >"$corpus/kinds.html"
		python3 -c 'print("<div>" * 3000 + "<a href=deep.csv>x</a>" + "<table><tr><td><a href=t%d.csv>" * 200)' >"$corpus/nested.html"
	else
		case $t in
			xlsx) # a sheet (first byte 0) and shared strings (1) cut from the 2022 workbook
				printf '\000' >"$corpus/sheet.xml"
				unzip -p "$FIXTURES"/desnz_flatfile/ghg-conversion-factors-2022-flat-format.xlsx xl/worksheets/sheet2.xml |
					head -c 12000 >>"$corpus/sheet.xml" || true
				printf '\001' >"$corpus/strings.xml"
				unzip -p "$FIXTURES"/desnz_flatfile/ghg-conversion-factors-2022-flat-format.xlsx xl/sharedStrings.xml |
					head -c 12000 >>"$corpus/strings.xml" || true
				;;
			xls) # first byte 0: an .xls read through the sandbox; 1: the child's frames decoded directly
				/usr/bin/python3 test/gen/xls.py --out "$corpus.gen"
				for f in "$corpus.gen"/*.xls; do { printf '\000'; cat "$f"; } >"$corpus/$(basename "$f")"; done
				rm -rf "$corpus.gen"
				printf '\001CARXLS1\000\001\000\000\000SR\002\000\000\000\002\000\000\000\001\000\000\000a\000\000\000\000E' >"$corpus/frames"
				;;
			xlsxbomb) # bombs (see fuzz_xlsx.c): 1 kB shared strings repeated to 70 MB (past the
				# 64 MB cap), blank runs and empty rows to 276 MB (past the 256 MB part cap), a row
				# of 65,535 cells naming one string (past 16,384 columns)
				python3 - "$corpus" <<'PY'
import sys
d = sys.argv[1]
seeds = {"strings": b"\x01\xff\xff<sst>\x01<si><t>" + b"a" * 1100 + b"</t></si>\x01</sst>",
         "sheet": b"\x09\xff\xff<worksheet><sheetData>\x01" + b" " * 1100 + b"<row/>\x01</sheetData></worksheet>",
         "row": b"\x00\xff\xff<worksheet><sheetData><row>\x01<c t=\"s\"><v>0</v></c>\x01</row></sheetData></worksheet>"}
for name, data in seeds.items():
    open(d + "/" + name, "wb").write(data)
PY
				;;
			numfmt) # format/value choice bytes, then a cell: decimal commas, groups, spaces, exponents
				printf '\001\000\005\003\001\000123456789012345\000' >"$corpus/seed1"
				printf '\005\001\011\002\001\002987654321\0001 234,5' >"$corpus/seed2"
				printf '\006\000\004\002\001\001\x31\x32\x33\x34\x35\x36\0001\xc2\xa0861,75890' >"$corpus/seed3"
				printf '\003\001\002\001\000\003\0001e-05' >"$corpus/seed4" ;;
			*) for f in "$FIXTURES"/energy_sparks_amr/*.csv "$FIXTURES"/cambridge_estates/*b0_gas_2021.csv; do
				   head -c 20000 "$f" >"$corpus/$(basename "$f")"; done
			   head -c 30000 "$FIXTURES"/desnz_flatfile/*2021*frlocale.csv >"$corpus/fr2021.csv"
			   head -c 30000 "$FIXTURES"/desnz_flatfile_derived_csv/*2024*.csv >"$corpus/d2024.csv" ;;
		esac
	fi
	echo "== fuzzing $t for ${SECONDS_EACH}s"
	(cd test/fuzz && "./run_fuzz_$t" "corpus-$t" -max_total_time="$SECONDS_EACH" -max_len=65536 \
		-rss_limit_mb=2048 -malloc_limit_mb="$malloc_mb" -print_final_stats=1 2>&1 |
		grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|crash-|oom-" || true)
	if ls test/fuzz/crash-* test/fuzz/leak-* test/fuzz/timeout-* test/fuzz/oom-* >/dev/null 2>&1; then
		echo "fuzz_$t found a failing input: $(ls test/fuzz/crash-* test/fuzz/leak-* test/fuzz/timeout-* test/fuzz/oom-* 2>/dev/null)"
		exit 1
	fi
done
