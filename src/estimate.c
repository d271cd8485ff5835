/*
 * estimate.c
 *		Filling missing readings, always labelled: car.estimate() and
 *		car.bill().
 *
 * Both work on one interval meter and a window [from, to) of its periods
 * (car.meter.interval_minutes; a window starts and ends on the meter's
 * period grid, UK local midnights for daily meters).  They fill only the
 * periods that have no actual reading: a period already estimated is
 * estimated again, an actual reading is never touched, and a later actual
 * reading replaces an estimate (the ingest upsert).  Every reading they
 * write has quality 'estimated' and its method; every call leaves a row in
 * car.estimate_log saying who asked, when, what and how many periods.
 *
 * Methods:
 *	linear			each run of missing periods (a gap) between two actual
 *					readings gets the straight line between them: with a at the
 *					period before the gap, b at the period after and n missing
 *					periods, the k-th is a + (b - a) * k / (n + 1).  A gap longer
 *					than car.max_interpolation_gap, or one without an actual
 *					reading on either side, is refused.
 *	same_weekday	the mean of the actual readings at the same UK local time on
 *					the same weekday in each of the 4 previous weeks.  With fewer
 *					than 4 of them, the mean of those there are (the log counts
 *					such periods in short_history); with none, refused.
 *	bill			car.bill(meter, from, to, quantity): the billed total less
 *					the actual readings in the window is spread over its missing
 *					periods in proportion to the meter's profile, the mean actual
 *					reading per weekday and UK local time over the 8 weeks before
 *					the window (bill_profile); when that history lacks a period's
 *					slot, or has negative or no consumption, evenly (bill_flat).
 *					A bill smaller than the actual readings already in the window
 *					is refused.
 *
 * One call works on one meter at a time (an advisory lock per meter), and
 * runs as its caller: the readings are written under the caller's
 * privileges and row-level security; the log is written as car's owner,
 * so that no role can write it by hand.
 */
#include "car.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_estimate);
PG_FUNCTION_INFO_V1(car_bill);

#define ESTIMATE_LOCK_CLASS 1667330674 /* with the meter id: one estimate per meter at a time */
#define MAX_PERIODS			1000000	   /* periods one call may fill (57 years of half-hours) */
#define WEEKS				4		   /* same_weekday: weeks looked back */
#define PROFILE_DAYS		56		   /* bill: days of history the profile is read from */

typedef enum Method
{
	METHOD_LINEAR,
	METHOD_SAME_WEEKDAY,
	METHOD_BILL
} Method;

/* A stored reading of the meter. */
typedef struct Stored
{
	TimestampTz ts;
	double		quantity;
	bool		actual;
} Stored;

/* One call's state. */
typedef struct Estimate
{
	int			 meter_id;
	char		*meter_name;
	int			 interval; /* minutes */
	TimestampTz	 from;
	TimestampTz	 to;
	Method		 method;
	const char	*method_name; /* as stored in car.reading.method */
	/* the window's periods without an actual reading, and the values found for them */
	int			 ntargets;
	TimestampTz *targets;
	double		*values;
	int			 already_estimated; /* targets holding an earlier estimate */
	int			 short_history;		/* same_weekday: periods with fewer than WEEKS weeks */
	double		 billed;
	double		 actual_in_window;
	/* stored readings from the start of the history needed to just past the window, by ts */
	int			 nstored;
	Stored		*stored;
} Estimate;

static pg_tz *
London(void)
{
	static pg_tz *london = NULL;

	if (london == NULL && (london = pg_tzset("Europe/London")) == NULL)
		elog(ERROR, "car: the time zone Europe/London is not known");
	return london;
}

/* The UK local fields of an instant. */
static void
ToLocal(TimestampTz ts, struct pg_tm *tm)
{
	fsec_t fsec;
	int	   tz;

	if (timestamp2tm(ts, &tz, tm, &fsec, NULL, London()) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
}

/* The instant of UK local fields (the standard-time one where the clock goes back). */
static TimestampTz
FromLocal(struct pg_tm *tm)
{
	int			tz = DetermineTimeZoneOffset(tm, London());
	TimestampTz ts;

	if (tm2timestamp(tm, 0, &tz, &ts) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	return ts;
}

/* Move UK local fields by days (calendar days: the clock time stays). */
static void
AddDays(struct pg_tm *tm, int days)
{
	int jd = date2j(tm->tm_year, tm->tm_mon, tm->tm_mday) + days;

	j2date(jd, &tm->tm_year, &tm->tm_mon, &tm->tm_mday);
}

static const char *
Show(TimestampTz ts)
{
	return pstrdup(timestamptz_to_str(ts));
}

/* The next period start after ts on the meter's grid. */
static TimestampTz
NextPeriod(const Estimate *e, TimestampTz ts)
{
	struct pg_tm tm;

	if (e->interval != 1440)
		return ts + (int64) e->interval * USECS_PER_MINUTE;
	ToLocal(ts, &tm);
	AddDays(&tm, 1);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return FromLocal(&tm);
}

static TimestampTz
PreviousPeriod(const Estimate *e, TimestampTz ts)
{
	struct pg_tm tm;

	if (e->interval != 1440)
		return ts - (int64) e->interval * USECS_PER_MINUTE;
	ToLocal(ts, &tm);
	AddDays(&tm, -1);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return FromLocal(&tm);
}

/*
 * Is ts a period start of the meter?  Half-hours and other divisors of an
 * hour are the same on the UTC and the UK clock (the UK is 0 or 1 hour
 * ahead); daily periods start at UK midnight.
 */
static bool
OnGrid(const Estimate *e, TimestampTz ts)
{
	struct pg_tm tm;

	if (e->interval != 1440)
		return ts % ((int64) e->interval * USECS_PER_MINUTE) == 0;
	ToLocal(ts, &tm);
	return tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0 && ts % USECS_PER_SEC == 0;
}

static Stored *
Find(const Estimate *e, TimestampTz ts)
{
	int lo = 0,
		hi = e->nstored - 1;

	while (lo <= hi)
	{
		int mid = lo + (hi - lo) / 2;

		if (e->stored[mid].ts == ts)
			return &e->stored[mid];
		if (e->stored[mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Read the meter, lock it against other estimates, check the window. */
static void
Begin(Estimate *e, int meter_id, TimestampTz from, TimestampTz to)
{
	Oid	  types[1] = {INT4OID};
	Datum vals[1] = {Int32GetDatum(meter_id)};
	bool  isnull;

	e->meter_id = meter_id;
	e->from = from;
	e->to = to;
	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("the window must have finite ends")));
	if (to <= from)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the window is empty: \"to\" (%s) is not after \"from\" (%s)", Show(to), Show(from)),
						errhint("The window is [from, to): from the start of its first period to the end of its last.")));
	if (from > GetCurrentTransactionStartTimestamp())
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the window starts in the future (%s): car estimates periods that are past", Show(from))));
	{
		/* the range a pushed file's readings may fall in (car.accept_from, car.accept_ahead) */
		TimestampTz lo,
			hi;

		car_accepted_range(&lo, &hi);
		if (from < lo || to > hi)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the window [%s, %s) is outside the range car accepts readings in, [%s, %s)", Show(from),
							Show(to), Show(lo), Show(hi)),
					 errhint("car.accept_from and car.accept_ahead set that range, as for pushed files.")));
	}

	if (SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock(" CppAsString2(ESTIMATE_LOCK_CLASS) ", $1)", 1,
							  types, vals, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not lock the meter");
	/* as the caller: a meter it may not see does not exist for it */
	if (SPI_execute_with_args("SELECT name, interval_minutes FROM car.meter WHERE id = $1", 1, types, vals, NULL, true,
							  1) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.meter");
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("meter %d does not exist", meter_id)));
	e->meter_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	e->interval = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("meter %d (\"%s\") is not an interval meter (car.meter.interval_minutes is NULL)", meter_id,
						e->meter_name),
				 errhint("Estimates fill the periods of interval meters; set interval_minutes if the meter has one.")));
	if (!OnGrid(e, from) || !OnGrid(e, to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the window [%s, %s) does not start and end on the periods of meter %d (\"%s\")", Show(from),
						Show(to), meter_id, e->meter_name),
				 errdetail(e->interval == 1440 ? "The meter's periods are UK local days: they start at UK midnight."
											   : "The meter's periods are %d minutes long, starting on the hour.",
						   e->interval),
				 errhint("Give the start of the first period and the end of the last one.")));
}

/* The stored readings from lo to just past the window, in time order. */
static void
ReadStored(Estimate *e, TimestampTz lo)
{
	Oid	   types[3] = {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum  vals[3] = {Int32GetDatum(e->meter_id), TimestampTzGetDatum(lo),
					  TimestampTzGetDatum(NextPeriod(e, e->to))};
	uint64 i;
	int64  expected;

	/* a cap on memory: the window's periods, and the history read with them */
	expected = (e->to - lo) / ((int64) Min(e->interval, 60) * USECS_PER_MINUTE);
	if (expected > (int64) MAX_PERIODS * 3)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("the window [%s, %s) is too long for one call", Show(e->from), Show(e->to)),
						errhint("Estimate at most %d periods a call: split the window.", MAX_PERIODS)));
	if (SPI_execute_with_args("SELECT ts, quantity, quality = 'actual' FROM car.reading "
							  "WHERE meter_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts",
							  3, types, vals, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the meter's readings");
	e->nstored = (int) SPI_processed;
	e->stored = palloc(sizeof(Stored) * Max(e->nstored, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple t = SPI_tuptable->vals[i];
		bool	  isnull;

		e->stored[i].ts = DatumGetTimestampTz(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		e->stored[i].quantity = DatumGetFloat8(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		e->stored[i].actual = DatumGetBool(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull));
	}
}

/* The window's periods without an actual reading; the actual readings in it add up to actual_in_window. */
static void
FindTargets(Estimate *e)
{
	TimestampTz ts;
	int			cap = 64;

	e->targets = palloc(sizeof(TimestampTz) * cap);
	e->ntargets = 0;
	e->already_estimated = 0;
	e->actual_in_window = 0;
	for (ts = e->from; ts < e->to; ts = NextPeriod(e, ts))
	{
		Stored *s = Find(e, ts);

		CHECK_FOR_INTERRUPTS();
		if (s != NULL && s->actual)
		{
			e->actual_in_window += s->quantity;
			continue;
		}
		if (e->ntargets == MAX_PERIODS)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("the window [%s, %s) has more than %d periods to fill", Show(e->from), Show(e->to),
								   MAX_PERIODS),
							errhint("Split the window.")));
		if (e->ntargets == cap)
		{
			cap *= 2;
			e->targets = repalloc(e->targets, sizeof(TimestampTz) * cap);
		}
		if (s != NULL)
			e->already_estimated++;
		e->targets[e->ntargets++] = ts;
	}
	e->values = palloc0(sizeof(double) * Max(e->ntargets, 1));
}

static void
Linear(Estimate *e)
{
	int64 max_gap = (int64) car_max_interpolation_gap * USECS_PER_MINUTE;
	int	  i = 0;

	while (i < e->ntargets)
	{
		int			j = i;
		TimestampTz before,
			after;
		Stored *a,
			*b;
		int n,
			k;
		int64 length;

		/* the gap: targets i..j, each the period after the one before */
		while (j + 1 < e->ntargets && e->targets[j + 1] == NextPeriod(e, e->targets[j]))
			j++;
		n = j - i + 1;
		before = PreviousPeriod(e, e->targets[i]);
		after = NextPeriod(e, e->targets[j]);
		length = after - e->targets[i];
		if (length > max_gap)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the gap of meter %d (\"%s\") from %s to %s (%d periods) is longer than "
							"car.max_interpolation_gap (%d min)",
							e->meter_id, e->meter_name, Show(e->targets[i]), Show(after), n, car_max_interpolation_gap),
					 errhint("Fill it with method same_weekday or car.bill(); car.max_interpolation_gap (superuser) "
							 "sets the longest gap linear interpolation may bridge.")));
		a = Find(e, before);
		b = Find(e, after);
		if (a == NULL || !a->actual || b == NULL || !b->actual)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the gap of meter %d (\"%s\") from %s to %s has no actual reading %s", e->meter_id,
							e->meter_name, Show(e->targets[i]), Show(after),
							(a == NULL || !a->actual) ? "just before it" : "just after it"),
					 errdetail("Linear interpolation runs between the actual readings at %s and at %s.",
							   Show(before), Show(after)),
					 errhint("Widen the window to the gap's ends, or use method same_weekday or car.bill().")));
		for (k = 1; k <= n; k++)
			e->values[i + k - 1] = a->quantity + (b->quantity - a->quantity) * k / (n + 1);
		i = j + 1;
	}
}

static void
SameWeekday(Estimate *e)
{
	int i;

	e->short_history = 0;
	for (i = 0; i < e->ntargets; i++)
	{
		struct pg_tm tm;
		double		 sum = 0;
		int			 found = 0;
		int			 w;

		for (w = 1; w <= WEEKS; w++)
		{
			struct pg_tm earlier,
				back;
			TimestampTz ts;
			Stored	   *s;

			ToLocal(e->targets[i], &tm);
			earlier = tm;
			AddDays(&earlier, -7 * w);
			ts = FromLocal(&earlier);
			/* a clock time the clock skipped that week has no reading of its own */
			ToLocal(ts, &back);
			if (back.tm_hour != tm.tm_hour || back.tm_min != tm.tm_min)
				continue;
			s = Find(e, ts);
			if (s != NULL && s->actual)
			{
				sum += s->quantity;
				found++;
			}
		}
		if (found == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("meter %d (\"%s\") has no actual reading at the time of %s on the same weekday in the %d "
							"weeks before",
							e->meter_id, e->meter_name, Show(e->targets[i]), WEEKS),
					 errhint("Use method linear for a short gap, or car.bill() with the billed quantity.")));
		if (found < WEEKS)
			e->short_history++;
		e->values[i] = sum / found;
	}
}

/* The profile slot of a period: its UK weekday and clock time. */
static int
Slot(const Estimate *e, TimestampTz ts)
{
	struct pg_tm tm;
	int			 dow;

	ToLocal(ts, &tm);
	dow = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
	return dow * 1440 + (e->interval == 1440 ? 0 : tm.tm_hour * 60 + tm.tm_min);
}

static void
Bill(Estimate *e)
{
	double		remainder = e->billed - e->actual_in_window;
	double		tolerance = 1e-9 * Max(fabs(e->billed), fabs(e->actual_in_window));
	double	   *sum;
	int		   *count;
	double		total = 0;
	bool		profile = true;
	TimestampTz lo = e->from - (int64) PROFILE_DAYS * USECS_PER_DAY;
	int			i;

	if (remainder < -tolerance)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the bill of %g for meter %d (\"%s\") from %s to %s is smaller than the actual readings "
						"already in that window (%g)",
						e->billed, e->meter_id, e->meter_name, Show(e->from), Show(e->to), e->actual_in_window),
				 errhint("Check the bill's period and quantity (in the meter's unit); actual readings are never "
						 "changed by an estimate.")));
	if (remainder < 0)
		remainder = 0;
	if (e->ntargets == 0)
	{
		if (fabs(remainder) > tolerance)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the window of the bill for meter %d (\"%s\") has no missing period, and its actual "
							"readings (%g) do not add up to the bill (%g)",
							e->meter_id, e->meter_name, e->actual_in_window, e->billed),
					 errhint("Nothing can take the difference; check the bill's period and quantity.")));
		e->method_name = "bill_profile";
		return;
	}

	/* the profile: mean actual reading per slot (weekday, clock time) over the history */
	sum = palloc0(sizeof(double) * 7 * 1440);
	count = palloc0(sizeof(int) * 7 * 1440);
	for (i = 0; i < e->nstored && e->stored[i].ts < e->from; i++)
		if (e->stored[i].ts >= lo && e->stored[i].actual)
		{
			int s = Slot(e, e->stored[i].ts);

			sum[s] += e->stored[i].quantity;
			count[s]++;
		}
	for (i = 0; i < e->ntargets && profile; i++)
	{
		int s = Slot(e, e->targets[i]);

		if (count[s] == 0 || sum[s] < 0)
			profile = false;
		else
		{
			e->values[i] = sum[s] / count[s];
			total += e->values[i];
		}
	}
	if (!profile || !(total > 0))
	{
		for (i = 0; i < e->ntargets; i++)
			e->values[i] = remainder / e->ntargets;
		e->method_name = "bill_flat";
		return;
	}
	for (i = 0; i < e->ntargets; i++)
		e->values[i] = remainder * e->values[i] / total;
	e->method_name = "bill_profile";
}

typedef struct LogJob
{
	Estimate *e;
	int64	  filled;
	int64	  replaced;
	double	  quantity;
	char	 *requested_by;
	HeapTuple row;
} LogJob;

static void
WriteLog(void *arg)
{
	LogJob	 *job = arg;
	Estimate *e = job->e;
	Oid		  types[12] = {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID,
						   INT8OID, INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID};
	Datum	  vals[12];
	char	  nulls[12] = "            ";

	vals[0] = Int32GetDatum(e->meter_id);
	vals[1] = TimestampTzGetDatum(e->from);
	vals[2] = TimestampTzGetDatum(e->to);
	vals[3] = CStringGetTextDatum(e->method_name);
	vals[4] = CStringGetTextDatum(job->requested_by);
	vals[5] = Int32GetDatum(e->ntargets);
	vals[6] = Int64GetDatum(job->filled);
	vals[7] = Int64GetDatum(job->replaced);
	vals[8] = Float8GetDatum(job->quantity);
	vals[9] = Float8GetDatum(e->billed);
	vals[10] = Float8GetDatum(e->actual_in_window);
	vals[11] = Int32GetDatum(e->short_history);
	if (e->method != METHOD_BILL)
		nulls[9] = nulls[10] = 'n';
	if (e->method != METHOD_SAME_WEEKDAY)
		nulls[11] = 'n';
	if (SPI_execute_with_args("INSERT INTO car.estimate_log (meter_id, period_start, period_end, method, requested_by, "
							  "periods_missing, periods_filled, periods_replaced, quantity_estimated, billed_quantity, "
							  "actual_quantity, short_history) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *",
							  12, types, vals, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "car: could not write car.estimate_log");
	job->row = SPI_copytuple(SPI_tuptable->vals[0]);
}

/* Write the values, never over an actual reading; log the call; return the log row. */
static Datum
Finish(FunctionCallInfo fcinfo, Estimate *e)
{
	LogJob	  job;
	TupleDesc result_desc;
	int		  i;

	memset(&job, 0, sizeof(job));
	job.e = e;
	job.requested_by = GetUserNameFromId(GetUserId(), false);
	if (e->ntargets > 0)
	{
		Datum *ts = palloc(sizeof(Datum) * e->ntargets);
		Datum *q = palloc(sizeof(Datum) * e->ntargets);
		Oid	   types[4] = {INT4OID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, TEXTOID};
		Datum  vals[4];
		uint64 r;

		for (i = 0; i < e->ntargets; i++)
		{
			ts[i] = TimestampTzGetDatum(e->targets[i]);
			q[i] = Float8GetDatum(car_finite(e->values[i], "an estimated quantity"));
		}
		{
			int missing = car_missing_reading_partitions(e->targets[0], e->targets[e->ntargets - 1]);

			if (missing > car_max_new_partitions)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("the estimates from %s to %s need %d new monthly partitions, more than car.max_new_partitions (%d)",
								Show(e->targets[0]), Show(e->targets[e->ntargets - 1]), missing, car_max_new_partitions),
						 errhint("Nothing was written. A superuser can make the partitions first with "
								 "car.ensure_partitions(from, to), or raise car.max_new_partitions.")));
		}
		car_ensure_partitions_range(e->targets[0], e->targets[e->ntargets - 1]);
		/* the window's days in compacted months go back to rows first (compact.c says why) */
		(void) car_uncompact_span(e->meter_id, e->targets[0], e->targets[e->ntargets - 1]);
		vals[0] = Int32GetDatum(e->meter_id);
		vals[1] = PointerGetDatum(construct_array(ts, e->ntargets, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		vals[2] = PointerGetDatum(construct_array(q, e->ntargets, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		vals[3] = CStringGetTextDatum(e->method_name);
		/*
		 * An actual reading that arrived after ReadStored() looked (a push
		 * committed meanwhile) is left as it is: only estimates are replaced.
		 */
		if (SPI_execute_with_args("WITH old AS (SELECT ts FROM car.reading WHERE meter_id = $1 AND ts = ANY ($2) "
								  "             AND quality = 'estimated'), "
								  "w AS (INSERT INTO car.reading AS r (meter_id, ts, quantity, quality, method) "
								  "      SELECT $1, t, q, 'estimated', $4 FROM unnest($2, $3) AS u(t, q) "
								  "      ON CONFLICT (meter_id, ts) DO UPDATE SET quantity = excluded.quantity, "
								  "      quality = 'estimated', method = excluded.method, file_id = NULL "
								  "      WHERE r.quality = 'estimated' RETURNING r.ts, r.quantity) "
								  "SELECT w.ts IN (SELECT ts FROM old), w.quantity FROM w",
								  4, types, vals, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "car: could not write the estimates");
		for (r = 0; r < SPI_processed; r++)
		{
			bool isnull;

			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)))
				job.replaced++;
			else
				job.filled++;
			job.quantity += DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		}
	}
	car_as_table_owner("estimate_log", WriteLog, &job);
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "car: the function must return a row");
	return HeapTupleHeaderGetDatum(SPI_returntuple(job.row, result_desc));
}

/* car.estimate(meter int, "from" timestamptz, "to" timestamptz, method text default 'linear') */
Datum
car_estimate(PG_FUNCTION_ARGS)
{
	int		 pin;
	Estimate e;
	char	*method = text_to_cstring(PG_GETARG_TEXT_PP(3));
	Datum	 result;

	memset(&e, 0, sizeof(e));
	if (strcmp(method, "linear") == 0)
		e.method = METHOD_LINEAR;
	else if (strcmp(method, "same_weekday") == 0)
		e.method = METHOD_SAME_WEEKDAY;
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown estimation method \"%s\"", method),
						errhint("Methods: linear, same_weekday; for a billed total use car.bill(meter, from, to, "
								"quantity).")));
	e.method_name = e.method == METHOD_LINEAR ? "linear" : "same_weekday";

	pin = car_spi_connect();
	Begin(&e, PG_GETARG_INT32(0), PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2));
	ReadStored(&e, e.method == METHOD_LINEAR ? PreviousPeriod(&e, e.from)
											 : e.from - (int64) (7 * WEEKS + 1) * USECS_PER_DAY);
	FindTargets(&e);
	if (e.method == METHOD_LINEAR)
		Linear(&e);
	else
		SameWeekday(&e);
	result = Finish(fcinfo, &e);
	car_spi_finish(pin);
	PG_RETURN_DATUM(result);
}

/* car.bill(meter int, "from" timestamptz, "to" timestamptz, quantity float8) */
Datum
car_bill(PG_FUNCTION_ARGS)
{
	int		 pin;
	Estimate e;
	Datum	 result;

	memset(&e, 0, sizeof(e));
	e.method = METHOD_BILL;
	e.billed = car_finite(PG_GETARG_FLOAT8(3), "the billed quantity");
	pin = car_spi_connect();
	Begin(&e, PG_GETARG_INT32(0), PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2));
	ReadStored(&e, e.from - (int64) PROFILE_DAYS * USECS_PER_DAY);
	FindTargets(&e);
	Bill(&e);
	result = Finish(fcinfo, &e);
	car_spi_finish(pin);
	PG_RETURN_DATUM(result);
}
