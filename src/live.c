/*
 * live.c
 *		Live data: the meter simulator, and one NOTIFY car_readings per
 *		transaction that adds readings.
 *
 * car.simulate() draws every reading from a hash of (seed, meter, period),
 * so a reading depends on nothing but those: the same seed gives the same
 * rows whatever range is asked for, in whatever order.  Profiles, in UK
 * local time:
 *	electricity: a night base load of 5-40 kW per meter; on weekdays a day
 *	  peak of 2-4 times the base from 08:00 to 18:00, ramping over the hour
 *	  on either side; at weekends 1.3 times the base from 10:00 to 16:00;
 *	gas: hot water (2-10 kW, 06:00-22:00) plus space heating of 1-4 kW per
 *	  heating degree (15.5 C base) of a seasonal temperature curve (4 C in
 *	  late January, 17 C in late July), heating on 05:00-22:00, at a third
 *	  overnight and at weekends;
 *	water: 0.5-3 m3/h on weekdays 07:00-19:00, 0.05-0.3 m3/h otherwise;
 *	noise of +-10% on every reading, and one period in 200 missing.
 * Quantities are the energy (or volume) of each step's period, in the
 * meter's unit.
 *
 * Notifications: the change-tracking trigger hands each statement's new
 * readings (per meter and day) to car_note_new_readings(), which adds them
 * to this transaction's summary, by subtransaction level so that a rolled
 * back savepoint takes its rows back out.  Just before commit the summary
 * goes out as one NOTIFY car_readings with a small JSON payload; a
 * transaction that rolls back sends nothing.
 */
#include "car.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/lsyscache.h"
#include "utils/inval.h"
#include "utils/float.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_simulate);

bool car_notify = true;

/* ------------------------------------------------------------ simulator */

static uint64
Mix(uint64 x)
{
	x += UINT64CONST(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* uniform in [0, 1) from (seed, meter, what, n) */
static double
Uniform(int32 seed, int32 meter, uint64 what, int64 n)
{
	uint64 h = Mix(Mix(Mix((uint64) (uint32) seed ^ (what << 40)) ^ (uint64) (uint32) meter) ^ (uint64) n);

	return (double) (h >> 11) * (1.0 / 9007199254740992.0);
}

typedef enum Profile
{
	PROFILE_ELECTRICITY,
	PROFILE_GAS,
	PROFILE_WATER
} Profile;

typedef struct SimMeter
{
	int32	id;
	Profile profile;
	double	to_unit; /* kWh (or m3) -> the meter's unit */
	double	base;	 /* kW, or m3/h for water */
	double	peak;	 /* electricity: day peak / base */
	double	heat;	 /* gas: kW per heating degree */
	double	day;	 /* water: m3/h in the day */
} SimMeter;

/* The seasonal outdoor temperature (C) on a day of the year. */
static double
Temperature(int doy)
{
	return 10.5 - 6.5 * cos(2.0 * M_PI * (doy - 22) / 365.25);
}

/* Smooth step from 0 at a to 1 at b. */
static double
Ramp(double h, double a, double b)
{
	return h <= a ? 0 : h >= b ? 1
							   : (h - a) / (b - a);
}

/* Power (kW, or m3/h) of a meter at a local time. */
static double
Power(const SimMeter *m, const struct pg_tm *tm, double hour)
{
	int	 wday = j2day(date2j(tm->tm_year, tm->tm_mon, tm->tm_mday)); /* timestamp2tm leaves tm_wday unset */
	bool weekend = wday == 0 || wday == 6;

	switch (m->profile)
	{
		case PROFILE_ELECTRICITY:
			if (!weekend)
			{
				double up = Ramp(hour, 7, 8) - Ramp(hour, 18, 19);

				return m->base * (1 + (m->peak - 1) * up);
			}
			return m->base * (hour >= 10 && hour < 16 ? 1.3 : 1.0);
		case PROFILE_GAS:
		{
			int	   doy = date2j(tm->tm_year, tm->tm_mon, tm->tm_mday) - date2j(tm->tm_year, 1, 1) + 1;
			double hdd = Max(0.0, 15.5 - Temperature(doy));
			double heating = (hour >= 5 && hour < 22) ? (weekend ? 1.0 / 3 : 1.0) : 1.0 / 3;
			double water = (hour >= 6 && hour < 22) ? m->base : 0;

			return water + m->heat * hdd * heating;
		}
		case PROFILE_WATER:
			return (!weekend && hour >= 7 && hour < 19) ? m->day : m->base;
	}
	return 0;
}

typedef struct SimState
{
	SimMeter   *meters;
	int			nmeters;
	int			mi; /* current meter */
	TimestampTz from;
	TimestampTz to;
	int64		step; /* microseconds */
	int64		n;	  /* current period index */
	int64		n_end;
	int32		seed;
	pg_tz	   *london;
} SimState;

static void
LoadMeters(SimState *st, ArrayType *ids)
{
	Datum *elems;
	bool  *nulls;
	int	   n;
	int	   i;
	Oid	   types[1] = {INT4ARRAYOID};
	Datum  vals[1] = {PointerGetDatum(ids)};

	deconstruct_array(ids, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
	st->meters = palloc0(sizeof(SimMeter) * Max(n, 1));
	SPI_connect();
	if (SPI_execute_with_args("SELECT m.id, m.activity, m.unit, u.dimension FROM car.meter m "
							  "LEFT JOIN car.unit u ON u.name = car.unit_name(m.unit) "
							  "WHERE m.id = ANY ($1)",
							  1, types, vals, NULL, false, 0) != SPI_OK_SELECT) /* sees meters made earlier in the statement */
		elog(ERROR, "car: could not read car.meter");
	for (i = 0; i < n; i++)
	{
		int32	  id;
		uint64	  r;
		SimMeter *m = &st->meters[st->nmeters];

		if (nulls[i])
			continue;
		id = DatumGetInt32(elems[i]);
		for (r = 0; r < SPI_processed; r++)
		{
			bool isnull;

			if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)) == id)
				break;
		}
		if (r == SPI_processed)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("car.simulate: no meter %d", id),
							errhint("Make meters with car.simulate_setup(sites, meters_per_site).")));
		{
			char *activity = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
			char *unit = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
			char *dimension = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4);

			m->id = id;
			if (dimension != NULL && strcmp(dimension, "volume") == 0)
			{
				m->profile = PROFILE_WATER;
				m->to_unit = car_unit_convert(1.0, "m3", unit);
			}
			else
			{
				m->profile = strstr(activity, "gas") != NULL ? PROFILE_GAS : PROFILE_ELECTRICITY;
				m->to_unit = car_unit_convert(1.0, "kWh", unit);
			}
			/* the meter's own size and shape, fixed by the seed */
			m->base = m->profile == PROFILE_ELECTRICITY ? 5 + 35 * Uniform(st->seed, id, 1, 0)
					  : m->profile == PROFILE_GAS		? 2 + 8 * Uniform(st->seed, id, 1, 0)
														: 0.05 + 0.25 * Uniform(st->seed, id, 1, 0);
			m->peak = 2 + 2 * Uniform(st->seed, id, 2, 0);
			m->heat = 1 + 3 * Uniform(st->seed, id, 3, 0);
			m->day = 0.5 + 2.5 * Uniform(st->seed, id, 4, 0);
			st->nmeters++;
		}
	}
	SPI_finish();
}

/*
 * car.simulate(meters int[], from timestamptz, to timestamptz, step interval,
 * seed int) → (meter_id, ts, quantity): readings for periods starting in
 * [from, to), on a grid of step from 2000-01-01 UTC, meter by meter.
 */
Datum
car_simulate(PG_FUNCTION_ARGS)
{
	FuncCallContext *fc;
	SimState		*st;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		Interval	 *step = PG_GETARG_INTERVAL_P(3);
		int64		  usecs;

		fc = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(fc->multi_call_memory_ctx);
		st = palloc0(sizeof(SimState));
		st->from = PG_GETARG_TIMESTAMPTZ(1);
		st->to = PG_GETARG_TIMESTAMPTZ(2);
		st->seed = PG_GETARG_INT32(4);
		if (step->month != 0 || step->day != 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("car.simulate: step must be a time, such as '30 minutes' or '10 seconds'")));
		usecs = step->time;
		if (usecs < USECS_PER_SEC || usecs > USECS_PER_DAY)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("car.simulate: step must be between 1 second and 1 day")));
		if (TIMESTAMP_NOT_FINITE(st->from) || TIMESTAMP_NOT_FINITE(st->to))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("car.simulate: from and to must be finite")));
		if ((st->to - st->from) / usecs > INT64CONST(100000000))
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("car.simulate: more than 100 million periods per meter asked for")));
		st->step = usecs;
		/* the first grid point at or after from */
		st->n = st->from >= 0 ? (st->from + usecs - 1) / usecs : -((-st->from) / usecs);
		st->n_end = st->to > 0 ? (st->to + usecs - 1) / usecs : -((-st->to) / usecs);
		st->london = pg_tzset("Europe/London");
		LoadMeters(st, PG_GETARG_ARRAYTYPE_P(0));
		fc->user_fctx = st;
		if (get_call_result_type(fcinfo, NULL, &fc->tuple_desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "car.simulate must return a row type");
		fc->tuple_desc = BlessTupleDesc(fc->tuple_desc);
		st->mi = 0;
		MemoryContextSwitchTo(old);
	}
	fc = SRF_PERCALL_SETUP();
	st = fc->user_fctx;
	{
		int64 first = st->from >= 0 ? (st->from + st->step - 1) / st->step : -((-st->from) / st->step);

		while (st->mi < st->nmeters)
		{
			SimMeter	*m = &st->meters[st->mi];
			TimestampTz	 ts;
			struct pg_tm tm;
			fsec_t		 fsec;
			int			 tz;
			double		 hour,
				q;
			Datum values[3];
			bool  nulls[3] = {false};

			if (st->n >= st->n_end)
			{
				st->mi++;
				st->n = first;
				continue;
			}
			ts = st->n * st->step;
			st->n++;
			if (ts < st->from || ts >= st->to)
				continue;
			/* one period in 200 is missing */
			if (Uniform(st->seed, m->id, 5, st->n - 1) < 0.005)
				continue;
			if (timestamp2tm(ts + st->step / 2, &tz, &tm, &fsec, NULL, st->london) != 0)
				ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
			hour = tm.tm_hour + tm.tm_min / 60.0 + tm.tm_sec / 3600.0;
			q = Power(m, &tm, hour) * ((double) st->step / USECS_PER_HOUR);
			q *= 1 + 0.2 * (Uniform(st->seed, m->id, 6, st->n - 1) - 0.5);
			values[0] = Int32GetDatum(m->id);
			values[1] = TimestampTzGetDatum(ts);
			values[2] = Float8GetDatum(q * m->to_unit);
			SRF_RETURN_NEXT(fc, HeapTupleGetDatum(heap_form_tuple(fc->tuple_desc, values, nulls)));
		}
	}
	SRF_RETURN_DONE(fc);
}

/* ------------------------------------------------------------ notify */

typedef struct Summary
{
	int				nest;
	int64			rows;
	TimestampTz		min_ts;
	TimestampTz		max_ts;
	double			kg;
	HTAB		   *sites;
	HTAB		   *meters;
	struct Summary *parent;
} Summary;

static Summary *summary = NULL; /* innermost level; all in TopTransactionContext */

static HTAB *
IdSet(const char *name)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(int32);
	ctl.hcxt = TopTransactionContext;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static Summary *
SummaryAt(int nest)
{
	Summary *s;

	if (summary != NULL && summary->nest == nest)
		return summary;
	s = MemoryContextAllocZero(TopTransactionContext, sizeof(Summary));
	s->nest = nest;
	s->sites = IdSet("car notify sites");
	s->meters = IdSet("car notify meters");
	s->parent = summary;
	summary = s;
	return s;
}

static void
AddIds(HTAB *into, HTAB *from)
{
	HASH_SEQ_STATUS it;
	int32		   *id;

	hash_seq_init(&it, from);
	while ((id = hash_seq_search(&it)) != NULL)
		(void) hash_search(into, id, HASH_ENTER, NULL);
}

static void
Merge(Summary *into, Summary *from)
{
	if (from->rows == 0)
		return;
	if (into->rows == 0 || from->min_ts < into->min_ts)
		into->min_ts = from->min_ts;
	if (into->rows == 0 || from->max_ts > into->max_ts)
		into->max_ts = from->max_ts;
	into->rows += from->rows;
	into->kg += from->kg;
	AddIds(into->sites, from->sites);
	AddIds(into->meters, from->meters);
}

/*
 * What the summary needs of a meter, kept for the backend: its site, and the
 * kg CO2e per unit for the last factor year asked (car.co2e's rule: the
 * activity's own factor).  Dropped when car.meter or the factor catalogues
 * change, so a statement's summary costs no query once the meters are known.
 */
typedef struct MeterInfo
{
	int32		id;
	int32		site_id;
	char		activity[64];
	char		unit[64];
	uint64		generation; /* car_cache_generation of kg_per_unit */
	TimestampTz lo;			/* the factor year kg_per_unit holds for */
	TimestampTz hi;
	double		kg_per_unit; /* NaN: cannot be priced */
} MeterInfo;

static HTAB *meter_info = NULL;
static Oid	 meter_relid = InvalidOid;

static void
MeterInfoCallback(Datum arg, Oid relid)
{
	(void) arg;
	if (meter_info != NULL && (relid == InvalidOid || relid == meter_relid))
	{
		hash_destroy(meter_info);
		meter_info = NULL;
	}
}

/* Look up the meters not yet known, all at once (the trigger runs as car's owner). */
static void
LoadMeterInfo(int32 *ids, int n)
{
	Datum *elems = palloc(sizeof(Datum) * Max(n, 1));
	Oid	   types[1] = {INT4ARRAYOID};
	Datum  vals[1];
	int	   i;
	uint64 r;

	if (meter_info == NULL)
	{
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(MeterInfo);
		meter_info = hash_create("car meter info", 256, &ctl, HASH_ELEM | HASH_BLOBS);
		meter_relid = get_relname_relid("meter", get_namespace_oid("car", false));
	}
	for (i = 0; i < n; i++)
		elems[i] = Int32GetDatum(ids[i]);
	vals[0] = PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	if (SPI_execute_with_args("SELECT id, site_id, activity, unit FROM car.meter WHERE id = ANY ($1)", 1, types, vals,
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.meter");
	for (r = 0; r < SPI_processed; r++)
	{
		bool	   isnull;
		int32	   id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		MeterInfo *m = hash_search(meter_info, &id, HASH_ENTER, NULL);

		m->site_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		strlcpy(m->activity, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3), sizeof(m->activity));
		strlcpy(m->unit, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4), sizeof(m->unit));
		m->generation = 0;
	}
}

typedef struct PriceJob
{
	MeterInfo  *m;
	TimestampTz at;
} PriceJob;

static void
PriceMeter(void *arg)
{
	PriceJob			 *job = arg;
	SetChoice			  choice;
	const ResolvedFactor *f;

	car_choose_set(job->at, &choice);
	f = car_resolve(job->m->activity, job->m->unit, choice.set_id);
	job->m->kg_per_unit = f->kg[CAR_GAS_CO2E];
	job->m->lo = choice.lo;
	job->m->hi = choice.hi;
}

/* kg CO2e per unit of the meter at a time (NaN when car cannot price it) */
static double
KgPerUnit(MeterInfo *m, TimestampTz at)
{
	PriceJob job = {m, at};
	uint64	 gen = car_cache_generation;

	if (m->generation == car_cache_generation && at >= m->lo && at < m->hi)
		return m->kg_per_unit;
	(void) car_factor_year_of(at, &m->lo, &m->hi);
	if (!car_try_pricing(PriceMeter, &job, NULL))
		m->kg_per_unit = get_float8_nan();
	/* a catalogue reloaded meanwhile: do not keep the answer */
	m->generation = gen == car_cache_generation ? car_cache_generation : 0;
	return m->kg_per_unit;
}

void
car_note_new_readings(DayQueue *q)
{
	long			n = hash_get_num_entries(q->set);
	HASH_SEQ_STATUS it;
	DayEntry	   *e;
	int32		   *missing;
	int				nmissing = 0;
	Summary		   *s;

	if (!car_notify || n == 0)
		return;
	/* the meters this backend does not know yet */
	missing = palloc(sizeof(int32) * n);
	hash_seq_init(&it, q->set);
	while ((e = hash_seq_search(&it)) != NULL)
		if (meter_info == NULL || hash_search(meter_info, &e->key.meter_id, HASH_FIND, NULL) == NULL)
			missing[nmissing++] = e->key.meter_id;
	if (nmissing > 0)
		LoadMeterInfo(missing, nmissing);

	s = SummaryAt(GetCurrentTransactionNestLevel());
	if (s->rows == 0 || q->min_ts < s->min_ts)
		s->min_ts = q->min_ts;
	if (s->rows == 0 || q->max_ts > s->max_ts)
		s->max_ts = q->max_ts;
	s->rows += q->count;
	hash_seq_init(&it, q->set);
	while ((e = hash_seq_search(&it)) != NULL)
	{
		MeterInfo *m = hash_search(meter_info, &e->key.meter_id, HASH_FIND, NULL);
		double	   k;

		if (m == NULL)
			continue; /* a reading of a meter car.meter does not have */
		(void) hash_search(s->sites, &m->site_id, HASH_ENTER, NULL);
		(void) hash_search(s->meters, &m->id, HASH_ENTER, NULL);
		/* the day's sum at the day's factor, as car.refresh() prices it */
		k = KgPerUnit(m, e->start);
		if (!isnan(k))
			s->kg += e->quantity * k;
	}
}

static int
CmpInt32(const void *a, const void *b)
{
	int32 x = *(const int32 *) a,
		  y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

#define MAX_LISTED 200

static void
AppendIds(StringInfo out, const char *name, HTAB *set)
{
	long			n = hash_get_num_entries(set);
	int32		   *ids;
	HASH_SEQ_STATUS it;
	int32		   *id;
	long			i = 0;

	appendStringInfo(out, ", \"%s_count\": %ld", name, n);
	if (n > MAX_LISTED)
		return;
	ids = palloc(sizeof(int32) * Max(n, 1));
	hash_seq_init(&it, set);
	while ((id = hash_seq_search(&it)) != NULL)
		ids[i++] = *id;
	qsort(ids, n, sizeof(int32), CmpInt32);
	appendStringInfo(out, ", \"%s\": [", name);
	for (i = 0; i < n; i++)
		appendStringInfo(out, "%s%d", i ? ", " : "", ids[i]);
	appendStringInfoChar(out, ']');
}

static void
AppendTime(StringInfo out, const char *name, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		 fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return;
	appendStringInfo(out, ", \"%s\": \"%04d-%02d-%02dT%02d:%02d:%02dZ\"", name, tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
LiveXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_PRE_COMMIT && summary != NULL)
	{
		StringInfoData out;
		Summary		  *s = summary;

		/* every committed subtransaction has been merged into level 1 */
		while (s->parent != NULL)
		{
			Merge(s->parent, s);
			s = s->parent;
		}
		if (s->rows > 0)
		{
			initStringInfo(&out);
			appendStringInfo(&out, "{\"rows\": " INT64_FORMAT, s->rows);
			AppendTime(&out, "from", s->min_ts);
			AppendTime(&out, "to", s->max_ts);
			appendStringInfo(&out, ", \"kg_co2e\": %.3f", s->kg);
			AppendIds(&out, "sites", s->sites);
			AppendIds(&out, "meters", s->meters);
			appendStringInfoChar(&out, '}');
			Async_Notify("car_readings", out.data);
		}
		summary = NULL;
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PRE_PREPARE ||
			 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		summary = NULL; /* its memory goes with the transaction */
}

static void
LiveSubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int nest = GetCurrentTransactionNestLevel();

	(void) mySubid;
	(void) parentSubid;
	(void) arg;
	if (summary == NULL || summary->nest != nest)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		Summary *s = summary;

		summary = s->parent;
		Merge(SummaryAt(nest - 1), s);
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		summary = summary->parent;
}

void
car_live_init(void)
{
	DefineCustomBoolVariable("car.notify", "Send NOTIFY car_readings when a transaction adds readings.",
							 "One notification per committed transaction, with a JSON summary.", &car_notify, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(LiveXactCallback, NULL);
	CacheRegisterRelcacheCallback(MeterInfoCallback, (Datum) 0);
	RegisterSubXactCallback(LiveSubXactCallback, NULL);
}
