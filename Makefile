# car: Carbon Analyser & Reporter (PGXS)

EXTENSION  = car
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" car.control)
MODULE_big = car

# Versions: car--1.0.sql is 1.0 as released, never edited again; each later
# version's changes go into an upgrade script (car--1.0--1.1.sql ...), which
# ALTER EXTENSION car UPDATE runs.  The fresh-install script of the current
# version is built from them, so a new install and an updated one run the
# same statements (test/upgrade.sh compares the two catalogues).
UPGRADES   = car--1.0--1.1.sql
DATA       = car--1.0.sql $(UPGRADES)
DATA_built = car--$(EXTVERSION).sql

# Pure cores: no backend calls, unit-tested and fuzzed on their own.
CORE_OBJS  = src/numfmt.o src/csv.o src/xlsx.o src/xls.o src/factorfile.o src/units.o src/meterfile.o src/fetch.o src/jwtparse.o src/hostpolicy.o
OBJS       = src/car.o src/factor_cache.o src/calc.o src/factors.o src/partition.o src/ingest.o src/ingest_bytes.o src/ingest_options.o src/ingest_time.o src/ingest_write.o src/source.o src/util.o src/worker.o src/refresh.o src/schedule.o src/roles.o src/jwt.o src/access.o src/live.o $(CORE_OBJS)
# Audit reporting (issue 14): estimates, period close, the GGC return.
OBJS      += src/estimate.o src/close.o src/ggc.o
# Half-hourly grid carbon intensity (issue 15, points 3 and 4).
OBJS      += src/intensity.o src/market.o
# Running across servers: node roles, shards and the hub (issue 16).
OBJS      += src/node.o
# Compact storage of closed months (issue 17).
OBJS      += src/compact.o src/compact_scan.o

XML2_CFLAGS := $(shell xml2-config --cflags 2>/dev/null)
PG_CPPFLAGS = -Isrc $(XML2_CFLAGS) -DCAR_SQL_VERSION='"$(EXTVERSION)"'
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lzip -lxml2 -lcurl -lcrypto -ldl

# The helper that reads legacy .xls workbooks with FreeXL, outside the server
# (src/xls.c says why); installed beside car.so, found through pkglib_path.
XLS_HELPER = car-xls-reader
XLS_HELPER_OBJS = src/xls_helper.o src/xlsx.o

REGRESS      = units factors xls activities calc ingest transform cron live coverage estimate close ggc targets disclosure estate close_sign time_of_use custom_factors market ownership reference_changes realtime sum_order privileges dialects push_lo worker intensity_worker compact push_direct
REGRESS_OPTS = --temp-config=test/pg.conf --temp-instance=./tmp_check --dbname=contrib_regression --encoding=UTF8 --no-locale
ISOLATION    = load_factors factor_cache push refresh notify close_race custom_factor_race compact_race
ISOLATION_OPTS = $(REGRESS_OPTS)

EXTRA_CLEAN = $(XLS_HELPER) src/xls_helper.o tmp_check results regression.diffs regression.out output_iso test/unit/run_* test/fuzz/run_*

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on every header (PGXS tracks no dependencies by itself)
$(OBJS) src/xls_helper.o: $(wildcard src/*.h) Makefile

all: $(XLS_HELPER)
$(XLS_HELPER): $(XLS_HELPER_OBJS)
	$(CC) $(CFLAGS) $(XLS_HELPER_OBJS) $(LDFLAGS) -lfreexl -lzip -lxml2 -lm -o $@
install: install-xls-helper
install-xls-helper: $(XLS_HELPER)
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_PROGRAM) $(XLS_HELPER) '$(DESTDIR)$(pkglibdir)/$(XLS_HELPER)'
uninstall: uninstall-xls-helper
uninstall-xls-helper:
	rm -f '$(DESTDIR)$(pkglibdir)/$(XLS_HELPER)'

car--$(EXTVERSION).sql: car--1.0.sql $(UPGRADES) car.control
	{ cat car--1.0.sql; for f in $(UPGRADES); do echo; sed '/^\\echo Use /d' $$f; done; } >$@

# The official factor files bundled with the extension (car.load_factors(year)).
install: install-factor-data
install-factor-data:
	$(MKDIR_P) '$(DESTDIR)$(datadir)/car'
	$(INSTALL_DATA) data/desnz-factors-* '$(DESTDIR)$(datadir)/car/'
uninstall: uninstall-factor-data
uninstall-factor-data:
	rm -rf '$(DESTDIR)$(datadir)/car'

.PHONY: install-xls-helper uninstall-xls-helper install-factor-data uninstall-factor-data deps demo demo-live demo-stop demo-clean test unit fuzz format lint check-imports check-spi bench soak print-%
deps:
	scripts/deps.sh
demo:
	scripts/demo.sh
demo-live:
	scripts/demo-live.sh
test:
	scripts/test.sh
unit:
	scripts/unit.sh
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)
bench:
	bench/run.sh
# the soak under load (not in CI, not in `make test`): SOAK_SECONDS (600) and
# SOAK_CLIENTS (32); writes bench/last/soak.out and its section of bench/RESULTS.md
soak:
	BENCH_SECTIONS=soak bench/run.sh
format:
	clang-format -i src/*.c src/*.h test/unit/*.c test/unit/*.h test/fuzz/*.c
lint:
	scripts/deps.sh clang-format cppcheck clang-tidy
	clang-format --dry-run --Werror src/*.c src/*.h test/unit/*.c test/unit/*.h test/fuzz/*.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--suppress=missingIncludeSystem --inline-suppr -Isrc $(CORE_OBJS:.o=.c) src/xls_helper.c
	clang-tidy --quiet $(CORE_OBJS:.o=.c) src/xls_helper.c -- -Isrc $(XML2_CFLAGS)
	$(MAKE) -s check-imports
	$(MAKE) -s check-spi

# The worker calls ingestion; ingestion never calls back into the worker: no
# symbol the ingest objects use is defined in worker.o.
INGEST_OBJS = src/ingest.o src/ingest_options.o src/ingest_time.o src/ingest_write.o
check-imports: $(INGEST_OBJS) src/worker.o
	@bad=$$(bash -c 'comm -12 <(nm -u $(INGEST_OBJS) | awk "NF == 2 {print \$$2}" | sort -u) \
		<(nm --defined-only src/worker.o | awk "\$$2 ~ /[TDBRC]/ {print \$$3}" | sort -u)'); \
	if [ -n "$$bad" ]; then echo "ingestion uses symbols of the worker (worker.c): $$bad"; exit 1; fi
# Every SPI connection car opens pins search_path to pg_catalog, pg_temp for
# its statements (car_spi_connect and car_spi_finish, util.c): no other file
# connects or finishes by itself.
check-spi:
	@bad=$$(grep -nE 'SPI_(connect|connect_ext|finish) *\(' src/*.c | grep -v '^src/util\.c:'); \
	if [ -n "$$bad" ]; then echo "SPI connections opened outside car_spi_connect (util.c), without search_path pinned:"; \
		echo "$$bad"; exit 1; fi
print-%:
	@echo $($*)
demo-stop:
	@scripts/demo.sh stop
demo-clean:
	@scripts/demo.sh clean
