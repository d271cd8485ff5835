/*
 * car.c
 *		Module entry point: configuration parameters and start-up.
 */
#include "car.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int	 car_reporting_year_start = 1;
bool car_strict_factor_year = false;

void _PG_init(void);

/* Factor-year rules changed: every cached choice of set is stale. */
static void
FactorYearRulesChanged(int newval, void *extra)
{
	(void) newval;
	(void) extra;
	car_cache_invalidate();
}

static void
StrictChanged(bool newval, void *extra)
{
	(void) newval;
	(void) extra;
	car_cache_invalidate();
}

void
_PG_init(void)
{
	DefineCustomIntVariable("car.reporting_year_start",
							"Month (1-12) in which the organisation's reporting year starts.",
							"A reporting year starting in February to June uses the factor set of "
							"its start year; one starting in July to December uses its end year.",
							&car_reporting_year_start,
							1, 1, 12,
							PGC_USERSET, 0,
							NULL, FactorYearRulesChanged, NULL);

	DefineCustomBoolVariable("car.strict_factor_year",
							 "Refuse to fall back to an earlier year's factor set.",
							 "When on, a timestamp whose factor year has no loaded set is an error "
							 "instead of using the newest earlier set.",
							 &car_strict_factor_year,
							 false,
							 PGC_USERSET, 0,
							 NULL, StrictChanged, NULL);

	MarkGUCPrefixReserved("car");

	car_cache_init();
}
