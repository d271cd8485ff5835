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
CORE_OBJS  = src/csv.o src/xlsx.o src/factorfile.o src/units.o src/meterfile.o src/fetch.o src/jwtparse.o src/hostpolicy.o
OBJS       = src/car.o src/factor_cache.o src/calc.o src/factors.o src/partition.o src/ingest.o src/util.o src/worker.o src/refresh.o src/schedule.o src/roles.o src/jwt.o src/access.o src/live.o $(CORE_OBJS)
# Audit reporting (issue 14): estimates, period close, the GGC return.
OBJS      += src/estimate.o src/close.o src/ggc.o

XML2_CFLAGS := $(shell xml2-config --cflags 2>/dev/null)
PG_CPPFLAGS = -Isrc $(XML2_CFLAGS) -DCAR_SQL_VERSION='"$(EXTVERSION)"'
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lzip -lxml2 -lcurl -lcrypto -ldl

REGRESS      = units factors calc ingest transform cron live coverage estimate close ggc targets disclosure estate privileges worker
REGRESS_OPTS = --temp-config=test/pg.conf --temp-instance=./tmp_check --dbname=contrib_regression --encoding=UTF8 --no-locale
ISOLATION    = load_factors factor_cache push refresh notify close_race
ISOLATION_OPTS = $(REGRESS_OPTS)

EXTRA_CLEAN = tmp_check results regression.diffs regression.out output_iso test/unit/run_* test/fuzz/run_*

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on every header (PGXS tracks no dependencies by itself)
$(OBJS): $(wildcard src/*.h) Makefile

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

.PHONY: deps demo demo-live demo-stop demo-clean test unit fuzz format lint bench print-%
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
format:
	clang-format -i src/*.c src/*.h test/unit/*.c test/unit/*.h test/fuzz/*.c
lint:
	scripts/deps.sh clang-format cppcheck clang-tidy
	clang-format --dry-run --Werror src/*.c src/*.h test/unit/*.c test/unit/*.h test/fuzz/*.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--suppress=missingIncludeSystem --inline-suppr -Isrc $(CORE_OBJS:.o=.c)
	clang-tidy --quiet $(CORE_OBJS:.o=.c) -- -Isrc $(XML2_CFLAGS)
print-%:
	@echo $($*)
demo-stop:
	@scripts/demo.sh stop
demo-clean:
	@scripts/demo.sh clean
