/*
 * ggc.c
 *		Financial-year pricing for the Greening Government Commitments
 *		return: car.fy_factor_set() and car.fy_co2e().
 *
 * GGC reports financial years, April to March, each priced with its own
 * year's factors: FY2017/18 with the 2017 set.  That is what the factor-year
 * rule of car.reporting_year_start gives for a year starting in April (the
 * set of its start year), so a database set to 4 has car.emission_daily
 * priced that way already.  A database on another calendar (the default, 1:
 * calendar years) priced January to March with the next year's set.  The
 * GGC reports therefore take each emission row's kg CO2e when the set that
 * priced it is the one the financial year's rule picks, and price its
 * quantity again with that set otherwise: car.report_ggc and what builds on
 * it are the same whatever car.reporting_year_start says.
 *
 * Both functions keep what they worked out in fn_extra, for the catalogue's
 * generation: a report calls them once per row.
 */
#include "car.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(car_fy_factor_set);
PG_FUNCTION_INFO_V1(car_fy_factor_year);
PG_FUNCTION_INFO_V1(car_fy_co2e);

#define FY_MEMOS	16
#define PRICE_MEMOS 32

typedef struct FyMemo
{
	int fy;
	int set_id;
	int year; /* the set's year: fy, or an earlier one it fell back to */
} FyMemo;

typedef struct PriceMemo
{
	int	   set_id;
	char  *activity;
	char  *unit;
	char  *component;
	double kg_per_unit;
} PriceMemo;

typedef struct FyCache
{
	uint64	  generation;
	int		  nfy;
	FyMemo	  fy[FY_MEMOS];
	int		  nprice;
	int		  next;
	PriceMemo price[PRICE_MEMOS];
} FyCache;

static FyCache *
GetCache(FunctionCallInfo fcinfo)
{
	FyCache *c = fcinfo->flinfo->fn_extra;

	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FyCache));
	if (c->generation != car_cache_generation)
	{
		int i;

		for (i = 0; i < c->nprice; i++)
		{
			pfree(c->price[i].activity);
			pfree(c->price[i].unit);
			pfree(c->price[i].component);
		}
		c->nfy = c->nprice = c->next = 0;
		c->generation = car_cache_generation;
	}
	return c;
}

/*
 * The set the financial year starting in April of fy is priced with, or
 * NO_SET when there is none (no set for the year or earlier, or only an
 * earlier one under car.strict_factor_year): its rows cannot be priced
 * under the financial-year rule, and the reports say so with NULLs rather
 * than fail for everyone.
 */
#define NO_SET (-1)

static const FyMemo *
FyChoice(FyCache *c, int fy)
{
	static FyMemo uncached;
	SetChoice	  choice;
	FyMemo		 *m;
	int			  i;

	for (i = 0; i < c->nfy; i++)
		if (c->fy[i].fy == fy)
			return &c->fy[i];
	if (!car_find_set_for_year(fy, &choice))
		choice.set_id = choice.year = NO_SET;
	m = c->nfy < FY_MEMOS ? &c->fy[c->nfy++] : &uncached;
	m->fy = fy;
	m->set_id = choice.set_id;
	m->year = choice.year;
	return m;
}

static int
FySet(FyCache *c, int fy)
{
	return FyChoice(c, fy)->set_id;
}

/* kg CO2e per unit of one component of an activity, from a set. */
static double
KgPerUnit(FunctionCallInfo fcinfo, FyCache *c, int set_id, const char *activity, const char *unit,
		  const char *component)
{
	const char	 **kinds;
	const char	 **keys;
	const char	  *key = NULL;
	ResolvedFactor f;
	PriceMemo	  *m;
	uint64		   gen;
	int			   n;
	int			   i;

	for (i = 0; i < c->nprice; i++)
	{
		m = &c->price[i];
		if (m->set_id == set_id && strcmp(m->activity, activity) == 0 && strcmp(m->unit, unit) == 0 &&
			strcmp(m->component, component) == 0)
			return m->kg_per_unit;
	}
	gen = car_cache_generation;
	n = car_activity_components(activity, &kinds, &keys);
	if (n == 0 && strcmp(component, activity) == 0)
		key = activity; /* an activity without components is its own one */
	for (i = 0; i < n && key == NULL; i++)
		if (strcmp(kinds[i], component) == 0)
			key = keys[i];
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("activity \"%s\" has no component \"%s\"", activity, component),
				 errhint("car.activity_component lists each activity's components.")));
	car_resolve(key, unit, set_id, &f);
	if (gen != car_cache_generation)
		return f.kg[CAR_GAS_CO2E]; /* the catalogue moved while resolving: remember nothing */
	if (c->nprice < PRICE_MEMOS)
		m = &c->price[c->nprice++];
	else
	{
		m = &c->price[c->next];
		c->next = (c->next + 1) % PRICE_MEMOS;
		pfree(m->activity);
		pfree(m->unit);
		pfree(m->component);
	}
	m->set_id = set_id;
	m->activity = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, activity);
	m->unit = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, unit);
	m->component = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, component);
	m->kg_per_unit = f.kg[CAR_GAS_CO2E];
	return m->kg_per_unit;
}

/* car.fy_factor_set(fy int) → int, NULL when there is none */
Datum
car_fy_factor_set(PG_FUNCTION_ARGS)
{
	int set_id = FySet(GetCache(fcinfo), PG_GETARG_INT32(0));

	if (set_id == NO_SET)
		PG_RETURN_NULL();
	PG_RETURN_INT32(set_id);
}

/* car.fy_factor_year(fy int) → int: the year of that set, NULL when there is none */
Datum
car_fy_factor_year(PG_FUNCTION_ARGS)
{
	const FyMemo *m = FyChoice(GetCache(fcinfo), PG_GETARG_INT32(0));

	if (m->set_id == NO_SET)
		PG_RETURN_NULL();
	PG_RETURN_INT32(m->year);
}

/*
 * car.fy_co2e(kg_co2e, factor_set_id, quantity, unit, activity, component, fy)
 * → kg CO2e of the row under the financial year's set: kg_co2e itself when
 * factor_set_id is that set, else quantity priced again with it; NULL when
 * the financial year has no set.  A NULL factor_set_id (a row priced by a
 * custom factor, car.custom_factor) is priced again with the published set:
 * the GGC return is on the published factors.  NULL in any other argument
 * gives NULL (the function is not STRICT for factor_set_id's sake).
 */
Datum
car_fy_co2e(PG_FUNCTION_ARGS)
{
	FyCache *c;
	float8	 kg;
	bool	 published;
	int		 set_id;
	int		 fy_set;
	char	*unit;
	char	*activity;
	char	*component;
	int		 i;

	for (i = 0; i < 7; i++)
		if (i != 1 && PG_ARGISNULL(i))
			PG_RETURN_NULL();
	c = GetCache(fcinfo);
	kg = PG_GETARG_FLOAT8(0);
	published = !PG_ARGISNULL(1);
	set_id = published ? PG_GETARG_INT32(1) : 0;
	fy_set = FySet(c, PG_GETARG_INT32(6));
	if (published && set_id == fy_set)
		PG_RETURN_FLOAT8(kg);
	if (fy_set == NO_SET)
		PG_RETURN_NULL();
	unit = text_to_cstring(PG_GETARG_TEXT_PP(3));
	activity = text_to_cstring(PG_GETARG_TEXT_PP(4));
	component = text_to_cstring(PG_GETARG_TEXT_PP(5));
	PG_RETURN_FLOAT8(car_finite(PG_GETARG_FLOAT8(2) * KgPerUnit(fcinfo, c, fy_set, activity, unit, component),
								"kg CO2e of the quantity"));
}
