/*
 * calc.c
 *		SQL-callable emission calculator: car.convert, car.co2e,
 *		car.emissions and car.factor_year.
 *
 * car.co2e runs once per reading in reports, so it keeps its recent answers
 * in fn_extra: the unit and activity argument bytes, and for up to
 * CO2E_YEARS reporting years [lo, hi) the kg CO2e per unit.  A call whose
 * arguments match and whose timestamp falls in a remembered year is one
 * table lookup and one multiplication, whatever order the rows come in; only
 * a miss looks at the (backend-cached) catalogue.  When the unit and
 * activity are constants of the query (car.co2e(kwh, 'kWh', 'electricity',
 * ts)) their bytes are not even compared.
 *
 * car.float8_decimal gives a float8 as the numeric the reports sum in: a
 * sum of float8 values depends on the order of the additions, and car's
 * day quantities must not depend on the refresh path or on the physical
 * order of rows.
 */
#include "car.h"

#include <math.h>

#include "common/int.h"
#include "common/shortest_dec.h"

#include "fmgr.h"
#include "funcapi.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_convert);
PG_FUNCTION_INFO_V1(car_co2e);
PG_FUNCTION_INFO_V1(car_emissions);
PG_FUNCTION_INFO_V1(car_factor_year);
PG_FUNCTION_INFO_V1(car_can_price);
PG_FUNCTION_INFO_V1(car_float8_decimal);

/*
 * car.float8_decimal(value float8) numeric: the shortest decimal that reads
 * back as the same float8 (what float8out prints with extra_float_digits >
 * 0, whatever this session sets).  A reading read from "0.1" sums as 0.1:
 * numeric addition is exact, so a sum over these is the same in any order
 * and any grouping, and cast to float8 once it is the correctly rounded sum
 * of the decimals.  PostgreSQL's own float8::numeric keeps only 15
 * significant digits, which alters values of 16 or 17 (estimates split from
 * a total, Excel's 12.300000000000001): a single reading would then not sum
 * to itself.
 */
Datum
car_float8_decimal(PG_FUNCTION_ARGS)
{
	char buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(PG_GETARG_FLOAT8(0), buf);
	PG_RETURN_DATUM(DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* car.convert(value float8, from_unit text, to_unit text) */
Datum
car_convert(PG_FUNCTION_ARGS)
{
	float8 value = PG_GETARG_FLOAT8(0);
	char  *from = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char  *to = text_to_cstring(PG_GETARG_TEXT_PP(2));

	PG_RETURN_FLOAT8(car_unit_convert(value, from, to));
}

/* kg CO2e as a finite number (a NaN or infinite quantity, or an overflow, is an error) */
static inline double
Finite(double kg)
{
	if (unlikely(!isfinite(kg)))
		(void) car_finite(kg, "kg CO2e of the quantity");
	return kg;
}

#define CO2E_YEARS 8

/* A reporting year [lo, lo + span) and its kg CO2e per unit. */
typedef struct Co2eYear
{
	uint64 lo;	 /* the TimestampTz, as unsigned: at is in the year when at - lo < span */
	uint64 span; /* microseconds */
	double kg_per_unit;
} Co2eYear;

/*
 * The remembered years, indexed by time: slot s of the table covers the
 * instants [base + s * 2^CO2E_SLOT_SHIFT, base + (s + 1) * 2^CO2E_SLOT_SHIFT)
 * (2^37 microseconds, 38.2 hours: shorter than any year, so a year fills
 * many slots).  A slot lying wholly inside a remembered year holds that
 * year's index + 1; a slot a year boundary cuts, or outside every
 * remembered year, holds 0 and the call compares the years' bounds
 * instead.  The bounds are car_choose_set's own (UK local midnights, clock
 * changes and all): the table only says which of them holds an instant, so
 * it answers exactly what the comparisons would, without a branch on the
 * year (rows in no order would make that branch a guess).
 */
#define CO2E_SLOT_SHIFT 37
#define CO2E_SLOTS		2048 /* 2048 x 38.2 hours: 8.9 years, from 2.2 years before the first year remembered */

/* What every hit reads comes first: the first cache line holds all of it but the slot and the year. */
typedef struct Co2eCache
{
	uint64	 generation;
	uint64	 base;		 /* the TimestampTz, as unsigned, where slot 0 starts */
	bool	 args_const; /* unit and activity are constants of the query */
	int		 nyears;
	int		 next; /* slot to overwrite when full */
	Co2eYear years[CO2E_YEARS];
	uint8	 slot[CO2E_SLOTS];
	int		 unit_len;
	int		 activity_len;
	char	*unit; /* argument bytes, not NUL-terminated */
	char	*activity;
	int		 unit_cap;
	int		 activity_cap;
} Co2eCache;

/* Keep a copy of the argument bytes in the per-call-site cache. */
static void
Remember(MemoryContext cxt, char **dst, int *cap, int *len, const char *src, int n)
{
	if (n > *cap)
	{
		*dst = MemoryContextAlloc(cxt, n);
		*cap = n;
	}
	memcpy(*dst, src, n);
	*len = n;
}

/* Forget every remembered year (the slot table too). */
static void
ForgetYears(Co2eCache *c)
{
	c->nyears = 0;
	memset(c->slot, 0, sizeof(c->slot));
}

/*
 * Mark the slots lying wholly inside remembered year i with mark (i + 1, or
 * 0 to clear them): a few hundred bytes, once per miss.  The first year
 * remembered places the table: from a quarter of its span before that year.
 */
static void
SlotYear(Co2eCache *c, int i, uint8 mark)
{
	const int64 w = (int64) 1 << CO2E_SLOT_SHIFT;
	int64		ylo = (int64) c->years[i].lo;
	int64		yhi = (int64) (c->years[i].lo + c->years[i].span); /* the year's end, as car_choose_set gave it */
	int64		base;
	int64		lo;
	int64		hi;
	int64		first;
	int64		last;
	int64		s;

	if (c->nyears == 1 && mark != 0)
	{
		/* a quarter of the table before the year: from the earliest instant if that is too early */
		if (pg_sub_s64_overflow(ylo & ~(w - 1), (CO2E_SLOTS / 4) * w, &base))
			base = PG_INT64_MIN;
		c->base = (uint64) base;
	}
	base = (int64) c->base;
	/*
	 * The year's bounds relative to the table, without overflow (bounds may
	 * be infinite): a start before the table counts as the table's start, an
	 * end past it as its end; a year wholly outside the table marks nothing.
	 */
	if (pg_sub_s64_overflow(ylo, base, &lo))
	{
		if (ylo > base)
			return;
		lo = PG_INT64_MIN;
	}
	if (pg_sub_s64_overflow(yhi, base, &hi))
	{
		if (yhi < base)
			return;
		hi = PG_INT64_MAX;
	}
	if (lo >= (int64) CO2E_SLOTS * w)
		return;
	first = lo <= 0 ? 0 : (lo + w - 1) / w; /* the first slot starting at or after lo */
	last = hi < w ? -1 : hi / w - 1;		/* the last slot ending at or before hi */
	for (s = first; s <= last && s < CO2E_SLOTS; s++)
		c->slot[s] = mark;
}

/*
 * Is argument argnum of the call a Const of the query's expression?  Its
 * bytes are then the same at every call through this FmgrInfo.  (A Param is
 * not enough: PL/pgSQL evaluates a simple expression again and again with
 * the same FmgrInfo and new parameter values.)
 */
static bool
ArgIsConst(FmgrInfo *flinfo, int argnum)
{
	List *args;

	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		return false;
	args = ((FuncExpr *) flinfo->fn_expr)->args;
	return argnum < list_length(args) && IsA(list_nth(args, argnum), Const);
}

/*
 * Does text datum d hold exactly the n bytes at mem?  Column values of a
 * few bytes have the short header: read it in place, not through
 * pg_detoast_datum_packed; only a compressed or out-of-line value is
 * detoasted.
 */
static inline bool
TextEquals(Datum d, const char *mem, int n)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	if (VARATT_IS_SHORT(v))
		return VARSIZE_SHORT(v) - VARHDRSZ_SHORT == n && memcmp(VARDATA_SHORT(v), mem, n) == 0;
	if (VARATT_IS_EXTENDED(v))
		v = pg_detoast_datum_packed(v);
	return VARSIZE_ANY_EXHDR(v) == n && memcmp(VARDATA_ANY(v), mem, n) == 0;
}

/*
 * Are the unit and activity of this call those the cache remembers?  (Out
 * of line: the hit path with constant arguments then saves no registers.)
 */
static pg_noinline bool
SameArguments(const Co2eCache *c, FunctionCallInfo fcinfo)
{
	return TextEquals(PG_GETARG_DATUM(1), c->unit, c->unit_len) &&
		   TextEquals(PG_GETARG_DATUM(2), c->activity, c->activity_len);
}

/*
 * car.co2e's cache miss: choose the set of the reporting year holding at,
 * resolve the factor (errors for an unknown activity or unit, or a year
 * without a set, are raised here, before anything is remembered) and
 * remember it for the year.
 */
static pg_noinline Datum
Co2eMiss(FunctionCallInfo fcinfo)
{
	float8		   q = PG_GETARG_FLOAT8(0);
	text		  *unit = PG_GETARG_TEXT_PP(1);
	text		  *activity = PG_GETARG_TEXT_PP(2);
	TimestampTz	   at = PG_GETARG_TIMESTAMPTZ(3);
	Co2eCache	  *c = fcinfo->flinfo->fn_extra;
	SetChoice	   choice;
	ResolvedFactor f;
	char		  *u = text_to_cstring(unit);
	char		  *a = text_to_cstring(activity);
	uint64		   gen;
	Co2eYear	  *y;
	int			   slot;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(Co2eCache));
		c->args_const = ArgIsConst(fcinfo->flinfo, 1) && ArgIsConst(fcinfo->flinfo, 2);
		fcinfo->flinfo->fn_extra = c;
	}
	else if (c->generation != car_cache_generation || !SameArguments(c, fcinfo))
		ForgetYears(c); /* other arguments or catalogue: forget the old answers */
	car_choose_set(at, &choice);
	gen = car_cache_generation;
	car_resolve(a, u, choice.set_id, &f);

	if (c->nyears < CO2E_YEARS)
		slot = c->nyears++;
	else
	{
		slot = c->next;
		c->next = (c->next + 1) % CO2E_YEARS;
		SlotYear(c, slot, 0); /* the year it held is forgotten */
	}
	y = &c->years[slot];
	y->lo = (uint64) choice.lo;
	y->span = (uint64) choice.hi - (uint64) choice.lo;
	y->kg_per_unit = f.kg[CAR_GAS_CO2E];
	SlotYear(c, slot, (uint8) (slot + 1));
	Remember(fcinfo->flinfo->fn_mcxt, &c->unit, &c->unit_cap, &c->unit_len, VARDATA_ANY(unit),
			 VARSIZE_ANY_EXHDR(unit));
	Remember(fcinfo->flinfo->fn_mcxt, &c->activity, &c->activity_cap, &c->activity_len, VARDATA_ANY(activity),
			 VARSIZE_ANY_EXHDR(activity));
	/* If the catalogue changed while resolving, do not trust this next time. */
	if (gen != car_cache_generation)
		ForgetYears(c);
	c->generation = car_cache_generation;
	PG_RETURN_FLOAT8(Finite(q * y->kg_per_unit));
}

/*
 * car.co2e(quantity float8, unit text, activity text, at timestamptz)
 *
 * The hit path: the catalogue unchanged, the same unit and activity (not
 * even looked at when they are constants of the query), at in a remembered
 * reporting year.  Everything else is Co2eMiss's.
 */
Datum
car_co2e(PG_FUNCTION_ARGS)
{
	const Co2eCache *c = fcinfo->flinfo->fn_extra;

	if (likely(c != NULL) && likely(c->generation == car_cache_generation) &&
		likely(c->args_const || SameArguments(c, fcinfo)))
	{
		uint64 at = (uint64) PG_GETARG_TIMESTAMPTZ(3);
		uint64 off = at - c->base;
		int	   hit = -1;
		int	   i;

		/* the slot table first: a slot wholly inside a remembered year names it */
		if (likely(off < ((uint64) CO2E_SLOTS << CO2E_SLOT_SHIFT)))
		{
			int y = c->slot[off >> CO2E_SLOT_SHIFT];

			if (likely(y != 0))
				PG_RETURN_FLOAT8(Finite(PG_GETARG_FLOAT8(0) * c->years[y - 1].kg_per_unit));
		}

		/*
		 * Near a year boundary, or far from base: the remembered years do
		 * not overlap, so at is in one at most.  Every one is tested and the
		 * one holding at kept.  Unsigned arithmetic wraps: at - lo < span
		 * exactly when lo <= at < lo + span (for infinite at too, which is
		 * in none).
		 */
		for (i = 0; i < c->nyears; i++)
		{
			int in = at - c->years[i].lo < c->years[i].span;

			hit += (i - hit) & -in;
		}
		if (likely(hit >= 0))
			PG_RETURN_FLOAT8(Finite(PG_GETARG_FLOAT8(0) * c->years[hit].kg_per_unit));
	}
	return Co2eMiss(fcinfo);
}

/*
 * car.emissions(quantity, unit, activity, at): one row per component of the
 * activity (itself when it has none), with the published row behind each.
 */
Datum
car_emissions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	float8		   q = PG_GETARG_FLOAT8(0);
	char		  *unit = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char		  *activity = text_to_cstring(PG_GETARG_TEXT_PP(2));
	TimestampTz	   at = PG_GETARG_TIMESTAMPTZ(3);
	SetChoice	   choice;
	const char	 **kinds;
	const char	 **keys;
	int			   n;
	int			   i;

	InitMaterializedSRF(fcinfo, 0);

	car_choose_set(at, &choice);
	n = car_activity_components(activity, &kinds, &keys);
	if (n == 0)
	{
		/* an activity without components is its own one component */
		kinds[0] = activity;
		keys[0] = activity;
		n = 1;
	}

	for (i = 0; i < n; i++)
	{
		ResolvedFactor f;
		Datum		   values[11];
		bool		   nulls[11] = {false};
		int			   g;

		car_resolve(keys[i], unit, choice.set_id, &f);
		values[0] = CStringGetTextDatum(kinds[i]);
		values[1] = Int32GetDatum(f.scope);
		nulls[1] = f.scope == 0;
		for (g = 0; g < 4; g++)
		{
			values[2 + g] = Float8GetDatum(Finite(q * f.kg[g]));
			nulls[2 + g] = !f.has[g];
		}
		values[6] = Int64GetDatum(f.factor_id);
		values[7] = Int32GetDatum(choice.set_id);
		values[8] = Int32GetDatum(choice.year);
		values[9] = DirectFunctionCall3(numeric_in, CStringGetDatum(f.factor_value),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		values[10] = CStringGetTextDatum(f.factor_uom);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* car.factor_year(at timestamptz): the factor year the reporting rules give. */
Datum
car_factor_year(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(car_factor_year_of(PG_GETARG_TIMESTAMPTZ(0), NULL, NULL));
}

/*
 * car.can_price(activity, unit, at): would car.emissions() give a result
 * for this activity, unit and time, rather than an error (no factor set for
 * the year, a unit of the wrong dimension...)?  car.refresh() uses it to set
 * aside the days it cannot price instead of failing whole.  Answers are
 * remembered per call site for the reporting year, so a query over many
 * rows tries each (activity, unit, year) once; a "no" leaves its reason in
 * car_price_problem.
 */
#define PRICE_MEMOS 16

typedef struct PriceMemo
{
	uint64		generation;
	TimestampTz lo;
	TimestampTz hi;
	bool		ok;
	text	   *activity;
	text	   *unit;
} PriceMemo;

typedef struct PriceCache
{
	int		  n;
	int		  next;
	PriceMemo memo[PRICE_MEMOS];
} PriceCache;

char *car_price_problem = NULL;

/*
 * Run fn(arg), which prices something, in a subtransaction: false (and why)
 * when it fails the way pricing fails (no factor set for the year, a unit of
 * another dimension, an unknown or ambiguous activity); other errors go on.
 */
bool
car_try_pricing(void (*fn)(void *arg), void *arg, char **why)
{
	static const int pricing_errors[] = {ERRCODE_NO_DATA_FOUND, ERRCODE_INVALID_PARAMETER_VALUE,
										 ERRCODE_AMBIGUOUS_PARAMETER, ERRCODE_UNDEFINED_OBJECT};

	return car_try_subxact_codes(fn, arg, pricing_errors, lengthof(pricing_errors), why);
}

typedef struct PriceJob
{
	const char *activity;
	const char *unit;
	TimestampTz at;
} PriceJob;

static void
PriceEveryComponent(void *arg)
{
	PriceJob	  *job = arg;
	SetChoice	   choice;
	ResolvedFactor f;
	const char	 **kinds;
	const char	 **keys;
	int			   n;
	int			   i;

	car_choose_set(job->at, &choice);
	n = car_activity_components(job->activity, &kinds, &keys);
	if (n == 0)
		car_resolve(job->activity, job->unit, choice.set_id, &f);
	for (i = 0; i < n; i++)
		car_resolve(keys[i], job->unit, choice.set_id, &f);
}

static bool
SameText(const text *a, const text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		   memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

Datum
car_can_price(PG_FUNCTION_ARGS)
{
	text	   *activity = PG_GETARG_TEXT_PP(0);
	text	   *unit = PG_GETARG_TEXT_PP(1);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	PriceCache *c = fcinfo->flinfo->fn_extra;
	PriceMemo  *m;
	PriceJob	job;
	char	   *why = NULL;
	int			i;

	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PriceCache));
	for (i = 0; i < c->n; i++)
	{
		m = &c->memo[i];
		if (m->generation == car_cache_generation && at >= m->lo && at < m->hi && SameText(m->activity, activity) &&
			SameText(m->unit, unit))
			PG_RETURN_BOOL(m->ok);
	}

	job.activity = text_to_cstring(activity);
	job.unit = text_to_cstring(unit);
	job.at = at;
	if (c->n < PRICE_MEMOS)
		m = &c->memo[c->n++];
	else
	{
		m = &c->memo[c->next];
		c->next = (c->next + 1) % PRICE_MEMOS;
		pfree(m->activity);
		pfree(m->unit);
	}
	(void) car_factor_year_of(at, &m->lo, &m->hi);
	m->generation = car_cache_generation;
	m->ok = car_try_pricing(PriceEveryComponent, &job, &why);
	/* the catalogue may have been reloaded while trying: remember that generation */
	m->generation = car_cache_generation;
	m->activity = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(activity));
	memcpy(m->activity, activity, VARSIZE_ANY(activity));
	m->unit = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(unit));
	memcpy(m->unit, unit, VARSIZE_ANY(unit));
	if (!m->ok)
	{
		if (car_price_problem != NULL)
			pfree(car_price_problem);
		car_price_problem = MemoryContextStrdup(TopMemoryContext,
												psprintf("%s (activity %s, unit %s)", why, job.activity, job.unit));
	}
	PG_RETURN_BOOL(m->ok);
}
