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
 * readings (per meter and day) to car_note_new_readings(), which records
 * them per site in the change feed, car.change, and counts them by
 * subtransaction level so that a rolled-back savepoint takes its rows back
 * out.  Just before commit one NOTIFY car_readings goes out carrying the
 * transaction's change number only; a transaction that rolls back sends
 * nothing.
 */
#include "car.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
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
	int	   pin;
	Datum *elems;
	bool  *nulls;
	int	   n;
	int	   i;
	Oid	   types[1] = {INT4ARRAYOID};
	Datum  vals[1] = {PointerGetDatum(ids)};

	deconstruct_array(ids, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
	st->meters = palloc0(sizeof(SimMeter) * Max(n, 1));
	pin = car_spi_connect();
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
	car_spi_finish(pin);
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

/*
 * The change feed.  Each statement that adds readings records, per site, what
 * it added (rows, first and last period, kg CO2e at the activity's own
 * factor, the meters) in car.change, under the transaction's change number
 * (one car.change_seq value, taken at its first such statement).  The rows
 * are written by the statement itself, so a rolled-back savepoint or
 * transaction takes them back.  A transaction that commits with readings
 * added sends NOTIFY car_readings with {"seq": N} and nothing else: any role
 * that can connect may LISTEN, and a notification's sender cannot be
 * trusted, so what changed is read from car.change (car.changes_since), where
 * row-level security shows each reader its own sites only.
 */

/* Readings added by this transaction, per subtransaction level still open. */
typedef struct Added
{
	int			  nest;
	int64		  rows;
	struct Added *parent;
} Added;

static Added			 *added = NULL; /* innermost level; in TopTransactionContext */
static int64			  xact_seq = 0;
static LocalTransactionId xact_seq_of = InvalidLocalTransactionId;

static Added *
AddedAt(int nest)
{
	Added *a;

	if (added != NULL && added->nest == nest)
		return added;
	a = MemoryContextAllocZero(TopTransactionContext, sizeof(Added));
	a->nest = nest;
	a->parent = added;
	added = a;
	return a;
}

/*
 * What the summary needs of a meter, kept for the backend: its site, and the
 * kg CO2e per unit for the last factor year asked (car.co2e's rule: the
 * activity's own factor).  The relcache callback only marks the table stale
 * (a statement may be using it); it is rebuilt when the next statement's
 * summary begins, when nothing points into it.
 */
typedef struct MeterInfo
{
	int32		id;
	int32		site_id;
	char	   *activity; /* in MeterCxt */
	char	   *unit;
	uint64		generation; /* car_cache_generation of kg_per_unit */
	TimestampTz lo;			/* the factor year kg_per_unit holds for */
	TimestampTz hi;
	double		kg_per_unit; /* NaN: cannot be priced */
} MeterInfo;

static MemoryContext MeterCxt = NULL;
static HTAB			*meter_info = NULL;
static bool			 meter_info_stale = false;
static Oid			 meter_relid = InvalidOid;

static void
MeterInfoCallback(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == meter_relid)
		meter_info_stale = true;
}

/* Start the meter table afresh when it is stale (called where nothing points into it). */
static void
MeterInfoReady(void)
{
	HASHCTL ctl;

	if (meter_info != NULL && !meter_info_stale)
		return;
	if (MeterCxt != NULL)
		MemoryContextDelete(MeterCxt);
	MeterCxt = AllocSetContextCreate(TopMemoryContext, "car meter info", ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(MeterInfo);
	ctl.hcxt = MeterCxt;
	meter_info = hash_create("car meter info", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	meter_relid = get_relname_relid("meter", get_namespace_oid("car", false));
	meter_info_stale = false;
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

	for (i = 0; i < n; i++)
		elems[i] = Int32GetDatum(ids[i]);
	vals[0] = PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	if (SPI_execute_with_args("SELECT id, site_id, activity, unit FROM car.meter WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
							  1, types, vals, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.meter");
	for (r = 0; r < SPI_processed; r++)
	{
		bool	   isnull;
		int32	   id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		MeterInfo *m = hash_search(meter_info, &id, HASH_ENTER, NULL);

		m->site_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		m->activity = MemoryContextStrdup(MeterCxt, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3));
		m->unit = MemoryContextStrdup(MeterCxt, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4));
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
	PriceJob	  *job = arg;
	SetChoice	   choice;
	ResolvedFactor f;

	car_choose_set(job->at, &choice);
	car_resolve(job->m->activity, job->m->unit, choice.set_id, &f);
	job->m->kg_per_unit = f.kg[CAR_GAS_CO2E];
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

/* What one statement added at one site. */
typedef struct SiteChange
{
	int32		site_id; /* hash key */
	int64		rows;
	TimestampTz first;
	TimestampTz last;
	double		kg;
	List	   *meters; /* int32 ids, distinct */
} SiteChange;

static int
CmpInt32(const void *a, const void *b)
{
	int32 x = *(const int32 *) a,
		  y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

/* This transaction's change number (car.change_seq, taken once a transaction). */
static int64
ChangeSeq(void)
{
	if (xact_seq_of != MyProc->lxid)
	{
		Oid seq = get_relname_relid("change_seq", get_namespace_oid("car", false));

		xact_seq = DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq)));
		xact_seq_of = MyProc->lxid;
	}
	return xact_seq;
}

/* Record the statement's per-site changes in car.change (in the caller's SPI connection). */
static void
RecordChanges(HTAB *sites)
{
	long			n = hash_get_num_entries(sites);
	Datum		   *site = palloc(sizeof(Datum) * n);
	Datum		   *rows = palloc(sizeof(Datum) * n);
	Datum		   *first = palloc(sizeof(Datum) * n);
	Datum		   *last = palloc(sizeof(Datum) * n);
	Datum		   *kg = palloc(sizeof(Datum) * n);
	Datum		   *meters = palloc(sizeof(Datum) * n);
	HASH_SEQ_STATUS it;
	SiteChange	   *c;
	long			i = 0;
	Oid				types[7] = {INT8OID, INT4ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
								FLOAT8ARRAYOID, TEXTARRAYOID};
	Datum			vals[7];

	hash_seq_init(&it, sites);
	while ((c = hash_seq_search(&it)) != NULL)
	{
		int			   k = 0;
		int32		  *ids = palloc(sizeof(int32) * Max(list_length(c->meters), 1));
		ListCell	  *lc;
		StringInfoData m;

		foreach (lc, c->meters)
			ids[k++] = lfirst_int(lc);
		qsort(ids, k, sizeof(int32), CmpInt32);
		initStringInfo(&m);
		appendStringInfoChar(&m, '{');
		for (int j = 0; j < k; j++)
			appendStringInfo(&m, "%s%d", j ? "," : "", ids[j]);
		appendStringInfoChar(&m, '}');
		site[i] = Int32GetDatum(c->site_id);
		rows[i] = Int64GetDatum(c->rows);
		first[i] = TimestampTzGetDatum(c->first);
		last[i] = TimestampTzGetDatum(c->last);
		kg[i] = Float8GetDatum(c->kg);
		meters[i] = CStringGetTextDatum(m.data);
		i++;
	}
	vals[0] = Int64GetDatum(ChangeSeq());
	vals[1] = PointerGetDatum(construct_array(site, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	vals[2] = PointerGetDatum(construct_array(rows, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	vals[3] = PointerGetDatum(construct_array(first, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	vals[4] = PointerGetDatum(construct_array(last, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	vals[5] = PointerGetDatum(construct_array(kg, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	vals[6] = PointerGetDatum(construct_array(meters, n, TEXTOID, -1, false, TYPALIGN_INT));
	/* a second statement of the transaction at the same site adds to its row */
	if (SPI_execute_with_args(
			"INSERT INTO car.change AS c (seq, site_id, rows, first_period, last_period, kg_co2e, meters) "
			"SELECT $1, u.s, u.r, u.f, u.l, u.k, u.m::pg_catalog.int4[] FROM unnest($2, $3, $4, $5, $6, $7) "
			"AS u(s, r, f, l, k, m) "
			"ON CONFLICT (seq, site_id) DO UPDATE SET rows = c.rows OPERATOR(pg_catalog.+) excluded.rows, "
			"first_period = least(c.first_period, excluded.first_period), "
			"last_period = greatest(c.last_period, excluded.last_period), "
			"kg_co2e = c.kg_co2e OPERATOR(pg_catalog.+) excluded.kg_co2e, "
			"meters = (SELECT pg_catalog.array_agg(DISTINCT x ORDER BY x) FROM pg_catalog.unnest(c.meters "
			"OPERATOR(pg_catalog.||) excluded.meters) x)",
			7, types, vals, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "car: could not record the change in car.change");
}

/*
 * A statement added readings (the change-tracking trigger, as car's owner,
 * inside its SPI connection): record them per site in car.change and count
 * them for this transaction's notification.
 */
void
car_note_new_readings(DayQueue *q)
{
	long			n = hash_get_num_entries(q->set);
	HASH_SEQ_STATUS it;
	DayEntry	   *e;
	int32		   *missing;
	int				nmissing = 0;
	HTAB		   *sites;
	HASHCTL			ctl;

	/* an older car here (before ALTER EXTENSION car UPDATE) has no change feed */
	if (!car_notify || n == 0 || !car_has_relation("change_seq"))
		return;
	MeterInfoReady();
	/* the meters this backend does not know yet */
	missing = palloc(sizeof(int32) * n);
	hash_seq_init(&it, q->set);
	while ((e = hash_seq_search(&it)) != NULL)
		if (hash_search(meter_info, &e->key.meter_id, HASH_FIND, NULL) == NULL)
			missing[nmissing++] = e->key.meter_id;
	if (nmissing > 0)
		LoadMeterInfo(missing, nmissing);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(SiteChange);
	ctl.hcxt = CurrentMemoryContext;
	sites = hash_create("car changed sites", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hash_seq_init(&it, q->set);
	while ((e = hash_seq_search(&it)) != NULL)
	{
		MeterInfo  *m = hash_search(meter_info, &e->key.meter_id, HASH_FIND, NULL);
		SiteChange *c;
		bool		found;
		double		k;

		if (m == NULL)
			continue; /* a reading of a meter car.meter does not have */
		c = hash_search(sites, &m->site_id, HASH_ENTER, &found);
		if (!found)
		{
			c->rows = 0;
			c->kg = 0;
			c->first = e->first;
			c->last = e->last;
			c->meters = NIL;
		}
		c->rows += e->count;
		c->first = Min(c->first, e->first);
		c->last = Max(c->last, e->last);
		if (!list_member_int(c->meters, m->id))
			c->meters = lappend_int(c->meters, m->id);
		/* the day's sum at the day's factor, as car.refresh() prices it */
		k = KgPerUnit(m, e->start);
		if (!isnan(k))
			c->kg += e->quantity * k;
	}
	if (hash_get_num_entries(sites) == 0)
		return;
	RecordChanges(sites);
	AddedAt(GetCurrentTransactionNestLevel())->rows += q->count;
}

static void
LiveXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_PRE_COMMIT && added != NULL)
	{
		Added *a = added;
		int64  rows = 0;

		/* committed subtransactions have been merged into their parents; what is left counts */
		for (; a != NULL; a = a->parent)
			rows += a->rows;
		if (rows > 0)
			Async_Notify("car_readings", psprintf("{\"seq\": " INT64_FORMAT "}", xact_seq));
		added = NULL;
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PRE_PREPARE ||
			 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		added = NULL; /* its memory goes with the transaction */
}

static void
LiveSubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int nest = GetCurrentTransactionNestLevel();

	(void) mySubid;
	(void) parentSubid;
	(void) arg;
	if (added == NULL || added->nest != nest)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		Added *a = added;

		added = a->parent;
		AddedAt(nest - 1)->rows += a->rows;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		added = added->parent;
}

void
car_live_init(void)
{
	DefineCustomBoolVariable("car.notify", "Record added readings in car.change and send NOTIFY car_readings.",
							 "One notification per committed transaction that added readings, carrying its "
							 "change number only.  Turning it off hides a session's readings from the change "
							 "feed, so only superusers may.",
							 &car_notify, true, PGC_SUSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(LiveXactCallback, NULL);
	CacheRegisterRelcacheCallback(MeterInfoCallback, (Datum) 0);
	RegisterSubXactCallback(LiveSubXactCallback, NULL);
}
