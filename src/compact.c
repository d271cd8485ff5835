/*
 * compact.c
 *		Compact storage of closed months of car.reading (issue 17):
 *		car.compact(month), car.uncompact(month), and the trigger that moves
 *		a meter-day back to rows when a reading for it is written.
 *
 * car.reading stays a table.  A compacted month's partition
 * (car.reading_pYYYYMM) keeps its place under car.reading but holds no rows
 * of its own; its readings live in car.reading_day_pYYYYMM, a partition of
 * car.reading_day, one row per meter and UK local day with the day's values
 * in arrays (the exact bits of every float8, timestamps as a grid or as
 * offsets, files, quality and method only where they vary).  A planner hook
 * (compact_scan.c) reads such a partition through a custom scan that emits
 * the partition's own rows and then the unpacked days, so every reader of
 * car.reading (reports, the refresh, row-level security) sees the same rows
 * as before.  This is TimescaleDB's design (compressed chunks behind an
 * empty chunk, read by DecompressChunk); the README says why car.reading is
 * not made a view.
 *
 * A UK day may begin in one UTC month and end in the next (a day of British
 * Summer Time starts at 23:00 UTC the day before): each month's partition
 * packs the readings it holds, so such a day has a row in each month, and
 * car.reading_day's key is (meter_id, day, month).
 *
 * Moving readings between the two forms changes no reading: car's change
 * tracking (car.track_changes) and the planner hook step aside while
 * car_compact_moving is set, and no refresh work is queued.
 */
#include "car.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "access/table.h"
#include "access/genam.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compact.h"

PG_FUNCTION_INFO_V1(car_compact);
PG_FUNCTION_INFO_V1(car_uncompact);
PG_FUNCTION_INFO_V1(car_compacted_insert);

#define COMPACT_LOCK_KEY 1667330674 /* one compaction of a month at a time */
#define UNPACK_BATCH	 65536		/* readings written back per statement */

bool car_compact_moving = false;
int	 car_compact_after = 3;
bool car_compact_preloaded = false;

/* ------------------------------------------------------------ months */

/* year * 12 + month - 1 of a date that must be the first of a month */
static int
MonthOf(DateADT month)
{
	int y,
		m,
		d;

	if (DATE_NOT_FINITE(month))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("the month must be a finite date")));
	j2date(month + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (d != 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%04d-%02d-%02d is not the first of a month", y, m, d),
						errhint("Name a month by its first day: '%04d-%02d-01'.", y, m)));
	return y * 12 + m - 1;
}

static DateADT
FirstOf(int ym)
{
	return date2j(ym / 12, ym % 12 + 1, 1) - POSTGRES_EPOCH_JDATE;
}

void
car_compact_names(int ym, char *reading, char *day)
{
	snprintf(reading, NAMEDATALEN, "reading_p%04d%02d", ym / 12, ym % 12 + 1);
	snprintf(day, NAMEDATALEN, "reading_day_p%04d%02d", ym / 12, ym % 12 + 1);
}

/* The UK local day (a DateADT) of an instant. */
static DateADT
LocalDay(pg_tz *london, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		 fsec;
	int			 tz;

	if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, london) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

static pg_tz *
London(void)
{
	pg_tz *tz = pg_tzset("Europe/London");

	if (tz == NULL)
		elog(ERROR, "car: the time zone Europe/London is not known");
	return tz;
}

/* ------------------------------------------------------- unpacking */

/*
 * One of a reading_day row's per-reading arrays (file_ids: int4; quality,
 * method: text) into *elems and *elem_nulls: one element a reading, or an
 * error naming the column.
 */
static void
UnpackColumn(Datum array, Oid elemtype, const CarDay *day, const char *column, Datum **elems, bool **elem_nulls)
{
	int n;

	if (elemtype == INT4OID)
		deconstruct_array(DatumGetArrayTypeP(array), INT4OID, sizeof(int32), true, TYPALIGN_INT, elems, elem_nulls, &n);
	else
		deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, elems, elem_nulls, &n);
	if (n != day->n)
		elog(ERROR, "car: a car.reading_day row of meter %d has a malformed %s array", day->meter_id, column);
}

/*
 * A reading_day row (columns in car.reading_day's order) as its readings.
 * Everything is allocated in the current memory context.
 */
void
car_unpack_day(Datum *values, bool *nulls, CarDay *out)
{
	ArrayType *q;

	memset(out, 0, sizeof(*out));
	out->meter_id = DatumGetInt32(values[RD_METER_ID]);
	out->day = DatumGetDateADT(values[RD_DAY]);
	out->ts_first = DatumGetTimestampTz(values[RD_TS_FIRST]);
	q = DatumGetArrayTypeP(values[RD_QUANTITY]);
	if (ARR_NDIM(q) != 1 || ARR_HASNULL(q) || ARR_ELEMTYPE(q) != FLOAT8OID)
		elog(ERROR, "car: a car.reading_day row of meter %d has a malformed quantity array", out->meter_id);
	out->n = ArrayGetNItems(ARR_NDIM(q), ARR_DIMS(q));
	out->quantity = (float8 *) ARR_DATA_PTR(q);
	if (!nulls[RD_STEP_US])
		out->step_us = DatumGetInt64(values[RD_STEP_US]);
	else
	{
		ArrayType *o;

		if (nulls[RD_OFFSETS_US])
			elog(ERROR, "car: a car.reading_day row of meter %d has neither step_us nor offsets_us", out->meter_id);
		o = DatumGetArrayTypeP(values[RD_OFFSETS_US]);
		if (ARR_NDIM(o) != 1 || ARR_HASNULL(o) || ArrayGetNItems(1, ARR_DIMS(o)) != out->n)
			elog(ERROR, "car: a car.reading_day row of meter %d has a malformed offsets_us array", out->meter_id);
		out->offsets_us = (int64 *) ARR_DATA_PTR(o);
	}
	out->file_id_null = nulls[RD_FILE_ID];
	out->file_id = nulls[RD_FILE_ID] ? 0 : DatumGetInt32(values[RD_FILE_ID]);
	if (!nulls[RD_FILE_IDS])
		UnpackColumn(values[RD_FILE_IDS], INT4OID, out, "file_ids", &out->file_ids, &out->file_ids_null);
	if (!nulls[RD_QUALITY])
		UnpackColumn(values[RD_QUALITY], TEXTOID, out, "quality", &out->quality, &out->quality_null);
	if (!nulls[RD_METHOD])
		UnpackColumn(values[RD_METHOD], TEXTOID, out, "method", &out->method, &out->method_null);
}

/* Reading k of an unpacked day: its column values (the quality text when not varying is actual). */
void
car_day_reading(const CarDay *d, int k, Datum actual, CarReading *r)
{
	r->ts = d->ts_first + (d->offsets_us != NULL ? d->offsets_us[k] : d->step_us * k);
	r->quantity = d->quantity[k];
	if (d->file_ids != NULL)
	{
		r->file_null = d->file_ids_null[k];
		r->file_id = d->file_ids_null[k] ? 0 : DatumGetInt32(d->file_ids[k]);
	}
	else
	{
		r->file_null = d->file_id_null;
		r->file_id = d->file_id;
	}
	if (d->quality != NULL && !d->quality_null[k])
		r->quality = d->quality[k];
	else
		r->quality = actual;
	r->method_null = d->method == NULL || d->method_null[k];
	r->method = r->method_null ? (Datum) 0 : d->method[k];
}

/* --------------------------------------------------------- packing */

/* One meter-day being packed. */
typedef struct Packer
{
	int			  month;
	SPIPlanPtr	  insert;
	int			  n;
	int			  cap;
	int32		  meter_id;
	DateADT		  day;
	TimestampTz	 *ts;
	Datum		 *quantity;
	Datum		 *file_id;
	bool		 *file_null;
	Datum		 *quality;
	Datum		 *method;
	bool		 *method_null;
	MemoryContext cxt; /* the day's copies of text values */
	int64		  readings;
	int64		  days;
} Packer;

static void
PackerAdd(Packer *p, TimestampTz ts, Datum q, Datum file, bool file_null, Datum quality, Datum method,
		  bool method_null)
{
	MemoryContext old;

	if (p->n == p->cap)
	{
		p->cap *= 2;
		p->ts = repalloc(p->ts, sizeof(TimestampTz) * p->cap);
		p->quantity = repalloc(p->quantity, sizeof(Datum) * p->cap);
		p->file_id = repalloc(p->file_id, sizeof(Datum) * p->cap);
		p->file_null = repalloc(p->file_null, sizeof(bool) * p->cap);
		p->quality = repalloc(p->quality, sizeof(Datum) * p->cap);
		p->method = repalloc(p->method, sizeof(Datum) * p->cap);
		p->method_null = repalloc(p->method_null, sizeof(bool) * p->cap);
	}
	old = MemoryContextSwitchTo(p->cxt);
	p->ts[p->n] = ts;
	p->quantity[p->n] = q;
	p->file_id[p->n] = file;
	p->file_null[p->n] = file_null;
	p->quality[p->n] = PointerGetDatum(DatumGetTextPCopy(quality));
	p->method_null[p->n] = method_null;
	p->method[p->n] = method_null ? (Datum) 0 : PointerGetDatum(DatumGetTextPCopy(method));
	MemoryContextSwitchTo(old);
	p->n++;
}

static bool
TextIs(Datum t, const char *s)
{
	text  *x = DatumGetTextPP(t);
	size_t len = strlen(s);

	return VARSIZE_ANY_EXHDR(x) == len && memcmp(VARDATA_ANY(x), s, len) == 0;
}

/* Write the meter-day gathered so far as one car.reading_day row. */
static void
PackerFlush(Packer *p)
{
	Datum		  values[RD_NATTS];
	char		  nulls[RD_NATTS];
	int			  k;
	bool		  regular = true;
	int64		  step = p->n > 1 ? p->ts[1] - p->ts[0] : 0;
	bool		  one_file = true;
	bool		  no_file = true;
	bool		  all_actual = true;
	bool		  no_method = true;
	MemoryContext tmp;
	MemoryContext old;

	if (p->n == 0)
		return;
	tmp = AllocSetContextCreate(CurrentMemoryContext, "car pack", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(tmp);
	for (k = 0; k < p->n; k++)
	{
		if (p->ts[k] - p->ts[0] != step * k || (k > 0 && step <= 0))
			regular = false;
		if (!p->file_null[k])
			no_file = false;
		if (p->file_null[k] != p->file_null[0] ||
			(!p->file_null[k] && DatumGetInt32(p->file_id[k]) != DatumGetInt32(p->file_id[0])))
			one_file = false;
		if (!TextIs(p->quality[k], "actual"))
			all_actual = false;
		if (!p->method_null[k])
			no_method = false;
	}
	memset(nulls, ' ', sizeof(nulls));
	values[RD_MONTH] = DateADTGetDatum(FirstOf(p->month));
	values[RD_METER_ID] = Int32GetDatum(p->meter_id);
	values[RD_DAY] = DateADTGetDatum(p->day);
	values[RD_FILE_ID] = one_file && !no_file ? p->file_id[0] : (Datum) 0;
	nulls[RD_FILE_ID] = one_file && !no_file ? ' ' : 'n';
	values[RD_TS_FIRST] = TimestampTzGetDatum(p->ts[0]);
	if (regular)
	{
		values[RD_STEP_US] = Int64GetDatum(step);
		nulls[RD_OFFSETS_US] = 'n';
	}
	else
	{
		Datum *offs = palloc(sizeof(Datum) * p->n);

		for (k = 0; k < p->n; k++)
			offs[k] = Int64GetDatum(p->ts[k] - p->ts[0]);
		nulls[RD_STEP_US] = 'n';
		values[RD_OFFSETS_US] = PointerGetDatum(construct_array(offs, p->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	values[RD_QUANTITY] = PointerGetDatum(construct_array(p->quantity, p->n, FLOAT8OID, 8, FLOAT8PASSBYVAL,
														  TYPALIGN_DOUBLE));
	if (one_file)
		nulls[RD_FILE_IDS] = 'n';
	else
	{
		int dims[1] = {p->n};
		int lbs[1] = {1};

		values[RD_FILE_IDS] = PointerGetDatum(construct_md_array(p->file_id, p->file_null, 1, dims, lbs, INT4OID, 4,
																 true, TYPALIGN_INT));
	}
	if (all_actual)
		nulls[RD_QUALITY] = 'n';
	else
		values[RD_QUALITY] = PointerGetDatum(construct_array(p->quality, p->n, TEXTOID, -1, false, TYPALIGN_INT));
	if (no_method)
		nulls[RD_METHOD] = 'n';
	else
	{
		int dims[1] = {p->n};
		int lbs[1] = {1};

		values[RD_METHOD] = PointerGetDatum(construct_md_array(p->method, p->method_null, 1, dims, lbs, TEXTOID, -1,
															   false, TYPALIGN_INT));
	}
	if (SPI_execute_plan(p->insert, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "car: could not write a compacted meter-day");
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	MemoryContextReset(p->cxt);
	p->readings += p->n;
	p->days++;
	p->n = 0;
}

/* ------------------------------------------------------- unpacking to rows */

/* Readings on their way back to a month's partition, written in batches. */
typedef struct Unpacker
{
	SPIPlanPtr insert;
	int		   n;
	Datum	  *meter;
	Datum	  *ts;
	Datum	  *quantity;
	Datum	  *file;
	bool	  *file_null;
	Datum	  *quality;
	Datum	  *method;
	bool	  *method_null;
	Datum	   actual;
	int64	   written;
} Unpacker;

static void
UnpackerInit(Unpacker *u, const char *qpart)
{
	Oid types[6] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

	memset(u, 0, sizeof(*u));
	u->insert = SPI_prepare(psprintf("INSERT INTO %s (meter_id, ts, quantity, file_id, quality, method) "
									 "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
									 "pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), "
									 "pg_catalog.unnest($6))",
									 qpart),
							6, types);
	if (u->insert == NULL)
		elog(ERROR, "car: could not prepare the write back to rows: %s", SPI_result_code_string(SPI_result));
	u->meter = palloc(sizeof(Datum) * UNPACK_BATCH);
	u->ts = palloc(sizeof(Datum) * UNPACK_BATCH);
	u->quantity = palloc(sizeof(Datum) * UNPACK_BATCH);
	u->file = palloc(sizeof(Datum) * UNPACK_BATCH);
	u->file_null = palloc(sizeof(bool) * UNPACK_BATCH);
	u->quality = palloc(sizeof(Datum) * UNPACK_BATCH);
	u->method = palloc(sizeof(Datum) * UNPACK_BATCH);
	u->method_null = palloc(sizeof(bool) * UNPACK_BATCH);
	u->actual = CStringGetTextDatum("actual");
}

static void
UnpackerFlush(Unpacker *u)
{
	Datum args[6];
	int	  dims[1] = {u->n};
	int	  lbs[1] = {1};

	if (u->n == 0)
		return;
	args[0] = PointerGetDatum(construct_array(u->meter, u->n, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(u->ts, u->n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(u->quantity, u->n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_md_array(u->file, u->file_null, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(u->quality, u->n, TEXTOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_md_array(u->method, u->method_null, 1, dims, lbs, TEXTOID, -1, false,
												 TYPALIGN_INT));
	if (SPI_execute_plan(u->insert, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "car: could not write compacted readings back as rows");
	u->written += u->n;
	u->n = 0;
}

/* The readings of SPI_tuptable's car.reading_day rows, added to u (and flushed as batches fill). */
static void
UnpackRows(Unpacker *u, SPITupleTable *tt, uint64 nrows)
{
	uint64 i;

	for (i = 0; i < nrows; i++)
	{
		Datum  values[RD_NATTS];
		bool   nulls[RD_NATTS];
		CarDay d;
		int	   k;

		heap_deform_tuple(tt->vals[i], tt->tupdesc, values, nulls);
		car_unpack_day(values, nulls, &d);
		for (k = 0; k < d.n; k++)
		{
			CarReading r;

			car_day_reading(&d, k, u->actual, &r);
			u->meter[u->n] = Int32GetDatum(d.meter_id);
			u->ts[u->n] = TimestampTzGetDatum(r.ts);
			u->quantity[u->n] = Float8GetDatum(r.quantity);
			u->file[u->n] = Int32GetDatum(r.file_id);
			u->file_null[u->n] = r.file_null;
			u->quality[u->n] = r.quality;
			u->method[u->n] = r.method;
			u->method_null[u->n] = r.method_null;
			if (++u->n == UNPACK_BATCH)
				UnpackerFlush(u);
		}
		/* the batch holds pointers into the row: write it before the row goes */
		if (u->n > 0 && i + 1 < nrows && u->n + 50 > UNPACK_BATCH)
			UnpackerFlush(u);
	}
	UnpackerFlush(u);
}

/* ------------------------------------------------------- car.compact */

typedef struct MonthJob
{
	int	  ym;
	bool  compact; /* else uncompact */
	int64 readings;
	int64 days;
	bool  registered;
} MonthJob;

static void
Exec(const char *sql, int expected)
{
	int rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "car: SPI_execute failed (%s): %s", SPI_result_code_string(rc), sql);
}

static int64
Int64Result(const char *sql)
{
	bool  isnull;
	Datum d;

	Exec(sql, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Lock the month's partition against writers (readers carry on) and make
 * sure its compact partition exists.  The partition is locked before
 * anything else, as ingestion's writes reach it (through car.reading, whose
 * lock they take first; compaction takes none on car.reading).
 */
static void
LockMonth(MonthJob *job, char *qpart, char *qday)
{
	char reading[NAMEDATALEN];
	char day[NAMEDATALEN];

	car_compact_names(job->ym, reading, day);
	snprintf(qpart, NAMEDATALEN * 2 + 8, "car.%s", quote_identifier(reading));
	snprintf(qday, NAMEDATALEN * 2 + 8, "car.%s", quote_identifier(day));
	Exec(psprintf("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", qpart), SPI_OK_UTILITY);
	Exec(psprintf("SELECT pg_catalog.pg_advisory_xact_lock(%d, %d)", COMPACT_LOCK_KEY, job->ym), SPI_OK_SELECT);
}

/* Meter-days of the compact partition that also have rows: back to rows, so that they are packed whole again. */
static void
MergeLateRows(const char *qpart, const char *qday)
{
	Unpacker u;

	UnpackerInit(&u, qpart);
	Exec(psprintf("DELETE FROM %s d USING (SELECT DISTINCT r.meter_id, "
				  "pg_catalog.timezone('Europe/London', r.ts)::pg_catalog.date AS day FROM ONLY %s r) l "
				  "WHERE d.meter_id OPERATOR(pg_catalog.=) l.meter_id AND d.day OPERATOR(pg_catalog.=) l.day RETURNING d.*",
				  qday, qpart),
		 SPI_OK_DELETE_RETURNING);
	UnpackRows(&u, SPI_tuptable, SPI_processed);
}

static void
Compact(MonthJob *job)
{
	char	qpart[NAMEDATALEN * 2 + 8];
	char	qday[NAMEDATALEN * 2 + 8];
	Portal	cursor;
	Packer	p;
	pg_tz  *london = London();
	Oid		types[RD_NATTS] = {DATEOID, INT4OID, DATEOID, INT4OID, TIMESTAMPTZOID, INT8OID, INT8ARRAYOID,
							   FLOAT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	DateADT first = FirstOf(job->ym);

	LockMonth(job, qpart, qday);
	Exec(psprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF car.reading_day FOR VALUES FROM ('%04d-%02d-01') TO "
				  "('%04d-%02d-01')",
				  qday, job->ym / 12, job->ym % 12 + 1, (job->ym + 1) / 12, (job->ym + 1) % 12 + 1),
		 SPI_OK_UTILITY);
	MergeLateRows(qpart, qday);

	memset(&p, 0, sizeof(p));
	p.month = job->ym;
	p.cap = 64;
	p.ts = palloc(sizeof(TimestampTz) * p.cap);
	p.quantity = palloc(sizeof(Datum) * p.cap);
	p.file_id = palloc(sizeof(Datum) * p.cap);
	p.file_null = palloc(sizeof(bool) * p.cap);
	p.quality = palloc(sizeof(Datum) * p.cap);
	p.method = palloc(sizeof(Datum) * p.cap);
	p.method_null = palloc(sizeof(bool) * p.cap);
	p.cxt = AllocSetContextCreate(CurrentMemoryContext, "car pack day", ALLOCSET_DEFAULT_SIZES);
	p.insert = SPI_prepare(psprintf("INSERT INTO %s (month, meter_id, day, file_id, ts_first, step_us, offsets_us, "
									"quantity, file_ids, quality, method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
									"$10, $11)",
									qday),
						   RD_NATTS, types);
	if (p.insert == NULL)
		elog(ERROR, "car: could not prepare the compact write: %s", SPI_result_code_string(SPI_result));

	/* in the primary key's order: a meter's days come one after the other */
	cursor = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT meter_id, ts, quantity, file_id, quality, method FROM ONLY %s "
												"ORDER BY meter_id, ts",
												qpart),
									   0, NULL, NULL, NULL, false, 0);
	for (;;)
	{
		uint64		   i;
		uint64		   nrows;
		SPITupleTable *tt;

		SPI_cursor_fetch(cursor, true, 10000);
		/* writing a day replaces SPI_tuptable: keep the fetched rows */
		nrows = SPI_processed;
		tt = SPI_tuptable;
		if (nrows == 0)
			break;
		for (i = 0; i < nrows; i++)
		{
			HeapTuple tup = tt->vals[i];
			TupleDesc desc = tt->tupdesc;
			bool	  isnull,
				file_null,
				method_null;
			int32		meter = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			TimestampTz ts = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
			Datum		q = SPI_getbinval(tup, desc, 3, &isnull);
			Datum		file = SPI_getbinval(tup, desc, 4, &file_null);
			Datum		quality = SPI_getbinval(tup, desc, 5, &isnull);
			Datum		method = SPI_getbinval(tup, desc, 6, &method_null);
			DateADT		day = LocalDay(london, ts);

			if (p.n > 0 && (meter != p.meter_id || day != p.day))
				PackerFlush(&p);
			p.meter_id = meter;
			p.day = day;
			PackerAdd(&p, ts, q, file, file_null, quality, method, method_null);
		}
		SPI_freetuptable(tt);
	}
	PackerFlush(&p);
	SPI_cursor_close(cursor);

	/*
	 * Exactly the rows packed (writers wait on the partition's lock, and the
	 * cursor read with a snapshot taken after this transaction's own
	 * changes): anything else would lose readings, so it is an error.
	 */
	Exec(psprintf("DELETE FROM ONLY %s", qpart), SPI_OK_DELETE);
	if ((int64) SPI_processed != p.readings)
		elog(ERROR, "car: compacting %04d-%02d packed " INT64_FORMAT " readings but would delete " UINT64_FORMAT,
			 job->ym / 12, job->ym % 12 + 1, p.readings, SPI_processed);
	/* the trigger that moves a meter-day back to rows when a reading for it is written */
	Exec(psprintf("CREATE OR REPLACE TRIGGER reading_compacted BEFORE INSERT ON %s FOR EACH ROW "
				  "EXECUTE FUNCTION car.compacted_insert()",
				  qpart),
		 SPI_OK_UTILITY);
	job->readings = Int64Result(psprintf("SELECT pg_catalog.sum(pg_catalog.cardinality(quantity))::pg_catalog.int8 "
										 "FROM %s",
										 qday));
	job->days = Int64Result(psprintf("SELECT pg_catalog.count(*) FROM %s", qday));
	{
		Oid	  t[3] = {DATEOID, INT8OID, INT4OID};
		Datum v[3] = {DateADTGetDatum(first), Int64GetDatum(job->readings), Int32GetDatum((int32) job->days)};

		if (SPI_execute_with_args("INSERT INTO car.compacted_month (month, readings, meter_days) VALUES ($1, $2, $3) "
								  "ON CONFLICT (month) DO UPDATE SET readings = excluded.readings, "
								  "meter_days = excluded.meter_days, compacted_at = pg_catalog.now()",
								  3, t, v, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "car: could not record the compacted month");
	}
}

static void
Uncompact(MonthJob *job)
{
	char	 qpart[NAMEDATALEN * 2 + 8];
	char	 qday[NAMEDATALEN * 2 + 8];
	Portal	 cursor;
	Unpacker u;
	Oid		 t[1] = {DATEOID};
	Datum	 v[1] = {DateADTGetDatum(FirstOf(job->ym))};

	LockMonth(job, qpart, qday);
	if (SPI_execute_with_args("DELETE FROM car.compacted_month WHERE month OPERATOR(pg_catalog.=) $1", 1, t, v, NULL,
							  false, 0) != SPI_OK_DELETE)
		elog(ERROR, "car: could not update car.compacted_month");
	job->registered = SPI_processed > 0;
	if (!job->registered)
		return;
	UnpackerInit(&u, qpart);
	cursor = SPI_cursor_open_with_args(NULL, psprintf("SELECT * FROM %s ORDER BY meter_id, day", qday), 0, NULL, NULL,
									   NULL, false, 0);
	for (;;)
	{
		uint64		   nrows;
		SPITupleTable *tt;

		SPI_cursor_fetch(cursor, true, 1000);
		nrows = SPI_processed;
		tt = SPI_tuptable;
		if (nrows == 0)
			break;
		job->days += nrows;
		UnpackRows(&u, tt, nrows);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(cursor);
	job->readings = u.written;
	/* DELETE, not TRUNCATE: a reader whose snapshot predates this still reads the compact rows */
	Exec(psprintf("DELETE FROM %s", qday), SPI_OK_DELETE);
	if ((int64) SPI_processed != job->days)
		elog(ERROR, "car: uncompacting %04d-%02d read " INT64_FORMAT " meter-days but would delete " UINT64_FORMAT,
			 job->ym / 12, job->ym % 12 + 1, job->days, SPI_processed);
	Exec(psprintf("DROP TRIGGER IF EXISTS reading_compacted ON %s", qpart), SPI_OK_UTILITY);
}

/* Runs as car.reading's owner. */
static void
MonthAsOwner(void *arg)
{
	MonthJob *job = arg;
	int		  pin = car_spi_connect();
	bool	  was = car_compact_moving;

	car_compact_moving = true;
	PG_TRY();
	{
		if (job->compact)
			Compact(job);
		else
			Uncompact(job);
	}
	PG_FINALLY();
	{
		car_compact_moving = was;
	}
	PG_END_TRY();
	car_spi_finish(pin);
}

/* The checks both directions share; returns year * 12 + month - 1. */
static int
CheckMonth(DateADT month, const char *what)
{
	int			ym = MonthOf(month);
	int			ym_now;
	char		reading[NAMEDATALEN];
	char		day[NAMEDATALEN];
	TimestampTz lo,
		hi;
	struct pg_tm tm;
	fsec_t		 fsec;

	if (!car_compact_preloaded)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s needs car in shared_preload_libraries", what),
						errdetail("Compacted months are read through a planner hook that every session must have "
								  "from its start."),
						errhint("Add car to shared_preload_libraries and restart the server.")));
	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "car: timestamp out of range");
	ym_now = tm.tm_year * 12 + tm.tm_mon - 1;
	if (ym >= ym_now)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: %04d-%02d is not a closed month", what, ym / 12, ym % 12 + 1),
						errdetail("Only months before the current one (UTC) are compacted.")));
	car_compact_names(ym, reading, day);
	if (!OidIsValid(get_relname_relid(reading, get_namespace_oid("car", false))))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("%s: car.reading has no partition for %04d-%02d", what, ym / 12, ym % 12 + 1),
						errhint("The month has no readings, or they are in car.reading_default: run car.maintenance() "
								"to move them into their partition.")));
	if (car_default_reading_range(&lo, &hi))
	{
		int ylo,
			yhi;

		if (timestamp2tm(lo, NULL, &tm, &fsec, NULL, NULL) != 0)
			elog(ERROR, "car: timestamp out of range");
		ylo = tm.tm_year * 12 + tm.tm_mon - 1;
		if (timestamp2tm(hi, NULL, &tm, &fsec, NULL, NULL) != 0)
			elog(ERROR, "car: timestamp out of range");
		yhi = tm.tm_year * 12 + tm.tm_mon - 1;
		if (ylo <= ym && ym <= yhi)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							errmsg("%s: car.reading_default holds readings from around %04d-%02d", what, ym / 12,
								   ym % 12 + 1),
							errhint("Run car.maintenance() to move them into their partitions first.")));
	}
	return ym;
}

/* car.compact(month date) returns bigint */
Datum
car_compact(PG_FUNCTION_ARGS)
{
	MonthJob job = {0};

	job.ym = CheckMonth(PG_GETARG_DATEADT(0), "car.compact");
	job.compact = true;
	car_as_table_owner("reading", MonthAsOwner, &job);
	car_compact_changed();
	PG_RETURN_INT64(job.readings);
}

/* car.uncompact(month date) returns bigint */
Datum
car_uncompact(PG_FUNCTION_ARGS)
{
	MonthJob job = {0};

	job.ym = CheckMonth(PG_GETARG_DATEADT(0), "car.uncompact");
	job.compact = false;
	car_as_table_owner("reading", MonthAsOwner, &job);
	car_compact_changed();
	PG_RETURN_INT64(job.readings);
}

typedef struct DueJob
{
	int	 cutoff; /* months before this one (year * 12 + month - 1) are due */
	int *months;
	int	 nmonths;
} DueJob;

/*
 * The months due: partitions of car.reading before the cutoff that hold
 * rows of their own (never compacted, or late rows since), read as the
 * owner with the hooks stepped aside so that a partition's own rows are
 * what is seen.
 */
static void
ReadDue(void *arg)
{
	DueJob		 *job = arg;
	MemoryContext caller = CurrentMemoryContext; /* the months outlive the SPI connection */
	int			  pin = car_spi_connect();
	bool		  was = car_compact_moving;
	uint64		  i,
		n;
	int *candidates;

	if (SPI_execute("SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_inherits i "
					"JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid "
					"WHERE i.inhparent OPERATOR(pg_catalog.=) 'car.reading'::pg_catalog.regclass "
					"AND c.relname OPERATOR(pg_catalog.~) '^reading_p[0-9]{6}$' ORDER BY 1",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not list the partitions of car.reading");
	n = SPI_processed;
	candidates = palloc(sizeof(int) * (n + 1));
	job->months = MemoryContextAlloc(caller, sizeof(int) * (n + 1));
	for (i = 0; i < n; i++)
	{
		char *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		int	  y,
			m;

		candidates[i] = -1;
		if (sscanf(name, "reading_p%4d%2d", &y, &m) == 2 && m >= 1 && m <= 12 && y * 12 + m - 1 < job->cutoff)
			candidates[i] = y * 12 + m - 1;
	}
	car_compact_moving = true;
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			char reading[NAMEDATALEN];
			char day[NAMEDATALEN];
			bool isnull;

			if (candidates[i] < 0)
				continue;
			car_compact_names(candidates[i], reading, day);
			Exec(psprintf("SELECT EXISTS (SELECT 1 FROM ONLY car.%s)", quote_identifier(reading)), SPI_OK_SELECT);
			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
				job->months[job->nmonths++] = candidates[i];
		}
	}
	PG_FINALLY();
	{
		car_compact_moving = was;
	}
	PG_END_TRY();
	car_spi_finish(pin);
}

/*
 * A compacted month's partition of car.reading keeps the pages of its
 * deleted rows, and its primary key its entries, until they are reclaimed.
 * Once no snapshot from before the compaction is left (the compacting
 * transaction, car.compacted_month's xmin, precedes every snapshot's
 * horizon), no transaction can see those rows any more, and a partition
 * that holds no live row is truncated: its pages and its index go back to
 * almost nothing at once.  Only when its lock is free at once (readers
 * hold it while planning); otherwise the next run tries again.
 */
typedef struct ReclaimJob
{
	int reclaimed;
} ReclaimJob;

/* Does the partition take more than an empty table: pages of its own, or an index past its metapage? */
static bool
TakesRoom(Relation rel)
{
	List	 *indexes;
	ListCell *lc;
	bool	  room = RelationGetNumberOfBlocks(rel) > 0;

	if (room)
		return true;
	indexes = RelationGetIndexList(rel);
	foreach (lc, indexes)
	{
		Relation index = index_open(lfirst_oid(lc), AccessShareLock);

		room = room || RelationGetNumberOfBlocks(index) > 1;
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return room;
}

static void
ReclaimAsOwner(void *arg)
{
	ReclaimJob	 *job = arg;
	MemoryContext caller = CurrentMemoryContext;
	int			  pin = car_spi_connect();
	bool		  was = car_compact_moving;
	uint64		  n,
		i;
	DateADT		  *months;
	TransactionId *xmins;
	Oid			   nsp = get_namespace_oid("car", false);

	Exec("SELECT month, xmin::pg_catalog.text::pg_catalog.int8 FROM car.compacted_month ORDER BY month", SPI_OK_SELECT);
	n = SPI_processed;
	months = MemoryContextAlloc(caller, sizeof(DateADT) * (n + 1));
	xmins = MemoryContextAlloc(caller, sizeof(TransactionId) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool isnull;

		months[i] = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		xmins[i] = (TransactionId) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	car_compact_moving = true;
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			char reading[NAMEDATALEN];
			char day[NAMEDATALEN];
			int	 y,
				m,
				d;
			Oid		 part;
			Relation rel;
			bool	 old_enough;
			bool	 isnull;

			j2date(months[i] + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			car_compact_names(y * 12 + m - 1, reading, day);
			part = get_relname_relid(reading, nsp);
			if (!OidIsValid(part))
				continue;
			rel = table_open(part, AccessShareLock);
			old_enough = TransactionIdPrecedes(xmins[i], GetOldestNonRemovableTransactionId(rel)) && TakesRoom(rel);
			table_close(rel, NoLock);
			if (!old_enough)
				continue;
			Exec(psprintf("SELECT EXISTS (SELECT 1 FROM ONLY car.%s)", quote_identifier(reading)), SPI_OK_SELECT);
			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
				continue; /* late rows: the next compaction packs them */
			if (!ConditionalLockRelationOid(part, AccessExclusiveLock))
				continue;
			Exec(psprintf("TRUNCATE ONLY car.%s", quote_identifier(reading)), SPI_OK_UTILITY);
			job->reclaimed++;
		}
	}
	PG_FINALLY();
	{
		car_compact_moving = was;
	}
	PG_END_TRY();
	car_spi_finish(pin);
}

/*
 * An uncompacted month keeps its compact partition, its rows deleted, so
 * that a snapshot from before the uncompaction still reads them (the scan
 * reads the month while the partition exists).  Once no snapshot can see
 * any of its rows (every tuple dead to the oldest one left), it is dropped
 * and the month is read as plain rows again; only when its locks are free
 * at once.
 */
static bool
DaysDrained(Relation rel)
{
	TableScanDesc scan = table_beginscan(rel, SnapshotAny, 0, NULL);
	HeapScanDesc  hscan = (HeapScanDesc) scan;
	TransactionId horizon = GetOldestNonRemovableTransactionId(rel);
	HeapTuple	  tup;
	bool		  drained = true;

	while (drained && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		LockBuffer(hscan->rs_cbuf, BUFFER_LOCK_SHARE);
		drained = HeapTupleSatisfiesVacuum(tup, horizon, hscan->rs_cbuf) == HEAPTUPLE_DEAD;
		LockBuffer(hscan->rs_cbuf, BUFFER_LOCK_UNLOCK);
	}
	table_endscan(scan);
	return drained;
}

static void
DropDrainedAsOwner(void *arg)
{
	ReclaimJob	 *job = arg;
	MemoryContext caller = CurrentMemoryContext;
	int			  pin = car_spi_connect();
	Oid			  nsp = get_namespace_oid("car", false);
	Oid			  parent = get_relname_relid("reading_day", nsp);
	uint64		  n,
		i;
	int *months;

	/* compact partitions of months not in car.compacted_month */
	Exec("SELECT pg_catalog.substr(c.relname::pg_catalog.text, 14)::pg_catalog.int4 FROM pg_catalog.pg_inherits i "
		 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid "
		 "WHERE i.inhparent OPERATOR(pg_catalog.=) 'car.reading_day'::pg_catalog.regclass "
		 "AND c.relname OPERATOR(pg_catalog.~) '^reading_day_p[0-9]{6}$' ORDER BY 1",
		 SPI_OK_SELECT);
	n = SPI_processed;
	months = MemoryContextAlloc(caller, sizeof(int) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool isnull;
		int	 yyyymm = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		months[i] = (yyyymm / 100) * 12 + yyyymm % 100 - 1;
	}
	for (i = 0; i < n; i++)
	{
		char	 reading[NAMEDATALEN];
		char	 day[NAMEDATALEN];
		Oid		 day_oid;
		Relation rel;
		bool	 drained;
		bool	 isnull;
		Oid		 t[2] = {INT4OID, DATEOID};
		Datum	 v[2] = {Int32GetDatum(months[i]), DateADTGetDatum(FirstOf(months[i]))};

		/* no compaction of the month meanwhile (it takes this lock), and still not compacted */
		if (SPI_execute_with_args(psprintf("SELECT pg_catalog.pg_try_advisory_xact_lock(%d, $1) AND NOT EXISTS "
										   "(SELECT 1 FROM car.compacted_month WHERE month OPERATOR(pg_catalog.=) $2)",
										   COMPACT_LOCK_KEY),
								  2, t, v, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "car: could not read car.compacted_month");
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			continue;
		car_compact_names(months[i], reading, day);
		day_oid = get_relname_relid(day, nsp);
		if (!OidIsValid(day_oid) || !ConditionalLockRelationOid(day_oid, AccessShareLock))
			continue;
		rel = table_open(day_oid, NoLock);
		drained = DaysDrained(rel);
		table_close(rel, NoLock);
		/* dropping a partition locks its parent too (readers of car.reading_day wait) */
		if (!drained || !ConditionalLockRelationOid(parent, AccessExclusiveLock) ||
			!ConditionalLockRelationOid(day_oid, AccessExclusiveLock))
			continue;
		Exec(psprintf("DROP TABLE car.%s", quote_identifier(day)), SPI_OK_UTILITY);
		job->reclaimed++;
	}
	car_spi_finish(pin);
}

/* Step 6 of car.maintenance(), last: compact partitions of uncompacted months dropped; returns how many. */
int
car_compact_drop_drained(void)
{
	ReclaimJob job = {0};

	if (!car_has_relation("compacted_month") || !car_has_relation("reading_day"))
		return 0;
	car_as_table_owner("reading", DropDrainedAsOwner, &job);
	if (job.reclaimed > 0)
		car_compact_changed();
	return job.reclaimed;
}

int
car_compact_reclaim(void)
{
	ReclaimJob job = {0};

	if (!car_has_relation("compacted_month"))
		return 0;
	car_as_table_owner("reading", ReclaimAsOwner, &job);
	return job.reclaimed;
}

/*
 * Step 6 of car.maintenance(): compact every month that ended more than
 * car.compact_after months before the current one began (3: the last three
 * closed months stay rows) and holds rows of its own, one transaction-long
 * compaction after another.  A month whose readings still wait in the
 * default partition is left for a later run, with a NOTICE.  Returns the
 * months compacted.
 */
int
car_compact_due(void)
{
	DueJob		 job = {0};
	struct pg_tm tm;
	fsec_t		 fsec;
	int			 i;
	int			 done = 0;

	if (car_compact_after == 0 || !car_compact_preloaded || !car_has_relation("compacted_month"))
		return 0;
	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "car: timestamp out of range");
	job.cutoff = tm.tm_year * 12 + tm.tm_mon - 1 - car_compact_after;
	car_as_table_owner("reading", ReadDue, &job);
	for (i = 0; i < job.nmonths; i++)
	{
		MonthJob	m = {0};
		TimestampTz lo,
			hi;

		if (car_default_reading_range(&lo, &hi))
		{
			int ylo,
				yhi;

			if (timestamp2tm(lo, NULL, &tm, &fsec, NULL, NULL) != 0)
				elog(ERROR, "car: timestamp out of range");
			ylo = tm.tm_year * 12 + tm.tm_mon - 1;
			if (timestamp2tm(hi, NULL, &tm, &fsec, NULL, NULL) != 0)
				elog(ERROR, "car: timestamp out of range");
			yhi = tm.tm_year * 12 + tm.tm_mon - 1;
			if (ylo <= job.months[i] && job.months[i] <= yhi)
			{
				ereport(NOTICE, (errmsg("car.maintenance: %04d-%02d not compacted: car.reading_default holds "
										"readings from around it",
										job.months[i] / 12, job.months[i] % 12 + 1)));
				continue;
			}
		}
		m.ym = job.months[i];
		m.compact = true;
		car_as_table_owner("reading", MonthAsOwner, &m);
		car_compact_changed();
		done++;
	}
	return done;
}

/* ---------------------------------------------- writes into a compacted month */

typedef struct SpanMove
{
	int32		meter_id;
	TimestampTz lo;
	TimestampTz hi;
	int			ym_lo; /* the months of [lo, hi] (year * 12 + month - 1) */
	int			ym_hi;
	int64		moved;
} SpanMove;

/*
 * A write into a meter's days of a month, in a transaction-snapshot
 * transaction (REPEATABLE READ, SERIALIZABLE): if a compaction committed
 * after its snapshot packed any of those days, the readings it sees there
 * are heap rows deleted since and the compact row that holds them now is
 * invisible to it: moving nothing back, its upsert would write them a
 * second time.  As when a row it sees was updated since: a serialization
 * failure (a compact row it sees deleted since, by car.uncompact or a
 * re-pack, fails the move's own DELETE the same way).  READ COMMITTED
 * takes a snapshot per statement and sees the compaction.
 */
static void
RefuseNewerDays(const char *qday, int32 meter_id, DateADT lo, DateADT hi)
{
	Oid		   t[3] = {INT4OID, DATEOID, DATEOID};
	Datum	   v[3] = {Int32GetDatum(meter_id), DateADTGetDatum(lo), DateADTGetDatum(hi)};
	SPIPlanPtr plan;
	Snapshot   mine = GetTransactionSnapshot();
	uint64	   i;

	if (!IsolationUsesXactSnapshot())
		return;
	plan = SPI_prepare(psprintf("SELECT xmin, day FROM %s WHERE meter_id OPERATOR(pg_catalog.=) $1 "
								"AND day OPERATOR(pg_catalog.>=) $2 AND day OPERATOR(pg_catalog.<=) $3",
								qday),
					   3, t);
	if (plan == NULL)
		elog(ERROR, "car: could not prepare the compacted days' check: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, v, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read compacted meter-days");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		  isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		DateADT		  day = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		if (!TransactionIdIsCurrentTransactionId(xmin) && XidInMVCCSnapshot(xmin, mine))
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							errmsg("could not serialize access due to concurrent update"),
							errdetail("Meter %d's readings of %s were compacted (car.compact) after this "
									  "transaction's snapshot was taken.",
									  meter_id, DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(day)))),
							errhint("Retry the transaction.")));
	}
	SPI_freeplan(plan);
}

static void
MoveSpanAsOwner(void *arg)
{
	SpanMove *m = arg;
	int		  pin = car_spi_connect();
	bool	  was = car_compact_moving;
	pg_tz	 *london = London();
	DateADT	  day_lo = LocalDay(london, m->lo);
	DateADT	  day_hi = LocalDay(london, m->hi);
	Oid		  t[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum	  v[2] = {TimestampTzGetDatum(m->lo), TimestampTzGetDatum(m->hi)};
	uint64	  nmonths;
	DateADT	 *months;
	uint64	  i;

	for (i = 0; m->ym_lo + (int) i <= m->ym_hi && i < 1200; i++)
	{
		char reading[NAMEDATALEN];
		char day[NAMEDATALEN];

		car_compact_names(m->ym_lo + (int) i, reading, day);
		if (OidIsValid(get_relname_relid(day, get_namespace_oid("car", false))))
			RefuseNewerDays(psprintf("car.%s", quote_identifier(day)), m->meter_id, day_lo, day_hi);
	}
	/* the compacted months the span touches (their bounds are midnight UTC on the first) */
	if (SPI_execute_with_args("SELECT month FROM car.compacted_month "
							  "WHERE pg_catalog.timezone('UTC', month::pg_catalog.timestamp) OPERATOR(pg_catalog.<=) $2 "
							  "AND pg_catalog.timezone('UTC', (month OPERATOR(pg_catalog.+) 31)::pg_catalog.timestamp) "
							  "OPERATOR(pg_catalog.>) $1 ORDER BY month",
							  2, t, v, NULL, false, 0) != SPI_OK_SELECT) /* a snapshot taken after the locks */
		elog(ERROR, "car: could not read car.compacted_month");
	nmonths = SPI_processed;
	months = palloc(sizeof(DateADT) * (nmonths + 1));
	for (i = 0; i < nmonths; i++)
	{
		bool isnull;

		months[i] = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	car_compact_moving = true;
	PG_TRY();
	{
		for (i = 0; i < nmonths; i++)
		{
			char reading[NAMEDATALEN];
			char day[NAMEDATALEN];
			char qpart[NAMEDATALEN * 2 + 8];
			char qday[NAMEDATALEN * 2 + 8];
			int	 y,
				mo,
				d;
			Oid		 dt[3] = {INT4OID, DATEOID, DATEOID};
			Datum	 dv[3] = {Int32GetDatum(m->meter_id), DateADTGetDatum(day_lo), DateADTGetDatum(day_hi)};
			Unpacker u;

			j2date(months[i] + POSTGRES_EPOCH_JDATE, &y, &mo, &d);
			car_compact_names(y * 12 + mo - 1, reading, day);
			snprintf(qpart, sizeof(qpart), "car.%s", quote_identifier(reading));
			snprintf(qday, sizeof(qday), "car.%s", quote_identifier(day));
			if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE meter_id OPERATOR(pg_catalog.=) $1 "
											   "AND day OPERATOR(pg_catalog.>=) $2 AND day OPERATOR(pg_catalog.<=) $3 "
											   "RETURNING *",
											   qday),
									  3, dt, dv, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
				elog(ERROR, "car: could not read compacted meter-days");
			if (SPI_processed == 0)
				continue;
			{
				SPITupleTable *tt = SPI_tuptable;
				uint64		   n = SPI_processed;

				UnpackerInit(&u, qpart);
				UnpackRows(&u, tt, n);
				m->moved += u.written;
			}
		}
	}
	PG_FINALLY();
	{
		car_compact_moving = was;
	}
	PG_END_TRY();
	car_spi_finish(pin);
}

/*
 * Before car writes a meter's readings of [lo, hi] with INSERT ... ON
 * CONFLICT DO UPDATE (a file that overlaps stored readings, estimates): the
 * meter's days of that span in compacted months go back to rows, so that
 * the upsert finds the stored readings as heap rows.  (Moving them from the
 * row trigger, within the upsert itself, would leave rows the statement
 * cannot update: they would be newer than its command.)  Returns the
 * readings moved.
 */
int64
car_uncompact_span(int32 meter_id, TimestampTz lo, TimestampTz hi)
{
	SpanMove m = {meter_id, lo, hi, 0, 0, 0};
	Oid		 reg;

	Oid			 nsp = get_namespace_oid("car", false);
	struct pg_tm tm;
	fsec_t		 fsec;
	int			 ym,
		ym_lo,
		ym_hi;

	if (TIMESTAMP_NOT_FINITE(lo) || TIMESTAMP_NOT_FINITE(hi) || hi < lo)
		return 0;
	/* nothing compacted (or a car before 1.1): no lookup */
	reg = get_relname_relid("compacted_month", nsp);
	if (!OidIsValid(reg))
		return 0;
	/*
	 * The lock the upsert takes anyway, taken now (car.reading's first, as
	 * the upsert does): a compaction of these months in progress is waited
	 * for, and the months compacted are then read as it committed them.
	 * Otherwise the day would be found still in rows here and moved by the
	 * row trigger inside the upsert, which cannot then update it.
	 */
	if (timestamp2tm(lo, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "car: timestamp out of range");
	ym_lo = tm.tm_year * 12 + tm.tm_mon - 1;
	if (timestamp2tm(hi, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "car: timestamp out of range");
	ym_hi = tm.tm_year * 12 + tm.tm_mon - 1;
	LockRelationOid(get_relname_relid("reading", nsp), RowExclusiveLock);
	for (ym = ym_lo; ym <= ym_hi && ym - ym_lo < 1200; ym++)
	{
		char reading[NAMEDATALEN];
		char day[NAMEDATALEN];
		Oid	 part;

		car_compact_names(ym, reading, day);
		part = get_relname_relid(reading, nsp);
		if (OidIsValid(part))
			LockRelationOid(part, RowExclusiveLock);
	}
	m.ym_lo = ym_lo;
	m.ym_hi = ym_hi;
	car_as_table_owner("reading", MoveSpanAsOwner, &m);
	return m.moved;
}

typedef struct DayMove
{
	Oid		partition;
	int32	meter_id;
	DateADT day;
	int64	moved;
} DayMove;

static void
MoveDayAsOwner(void *arg)
{
	DayMove	   *m = arg;
	int			pin = car_spi_connect();
	bool		was = car_compact_moving;
	const char *part = get_rel_name(m->partition);
	char		qpart[NAMEDATALEN * 2 + 8];
	char		qday[NAMEDATALEN * 2 + 8];
	int			y,
		mo;

	if (part == NULL || sscanf(part, "reading_p%4d%2d", &y, &mo) != 2)
		elog(ERROR, "car.compacted_insert() fired on a table that is not a monthly partition of car.reading");
	snprintf(qpart, sizeof(qpart), "car.%s", quote_identifier(part));
	snprintf(qday, sizeof(qday), "car.%s", quote_identifier(psprintf("reading_day_p%04d%02d", y, mo)));
	car_compact_moving = true;
	PG_TRY();
	{
		Oid		 t[2] = {INT4OID, DATEOID};
		Datum	 v[2] = {Int32GetDatum(m->meter_id), DateADTGetDatum(m->day)};
		Unpacker u;

		RefuseNewerDays(qday, m->meter_id, m->day, m->day);
		if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE meter_id OPERATOR(pg_catalog.=) $1 "
										   "AND day OPERATOR(pg_catalog.=) $2 RETURNING *",
										   qday),
								  2, t, v, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "car: could not read a compacted meter-day");
		if (SPI_processed > 0)
		{
			SPITupleTable *tt = SPI_tuptable;

			UnpackerInit(&u, qpart);
			UnpackRows(&u, tt, SPI_processed);
			m->moved = u.written;
		}
	}
	PG_FINALLY();
	{
		car_compact_moving = was;
	}
	PG_END_TRY();
	car_spi_finish(pin);
}

/*
 * Trigger car.compacted_insert() (BEFORE INSERT FOR EACH ROW on a compacted
 * month's partition): the row's meter-day goes back to rows first, so that
 * the primary key and ON CONFLICT see its readings as they would without
 * compaction; the next car.compact() packs it again.  The last meter-day
 * looked at in this command is remembered, so a file's run of readings of
 * one day costs one lookup.
 */
Datum
car_compacted_insert(PG_FUNCTION_ARGS)
{
	TriggerData			*td = (TriggerData *) fcinfo->context;
	static Oid			 last_rel = InvalidOid;
	static int32		 last_meter;
	static DateADT		 last_day;
	static TransactionId last_xid = InvalidTransactionId;
	static CommandId	 last_cid;
	static pg_tz		*london = NULL;
	TupleDesc			 desc;
	bool				 isnull;
	DayMove				 m;
	TimestampTz			 ts;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("car.compacted_insert() must be called as a BEFORE INSERT row trigger")));
	if (car_compact_moving)
		return PointerGetDatum(td->tg_trigtuple);
	desc = RelationGetDescr(td->tg_relation);
	if (london == NULL)
		london = London();
	m.partition = RelationGetRelid(td->tg_relation);
	m.meter_id = DatumGetInt32(heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, "meter_id"), desc, &isnull));
	if (isnull)
		return PointerGetDatum(td->tg_trigtuple); /* the NOT NULL constraint refuses it */
	ts = DatumGetTimestampTz(heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, "ts"), desc, &isnull));
	if (isnull)
		return PointerGetDatum(td->tg_trigtuple);
	m.day = LocalDay(london, ts);
	m.moved = 0;
	if (last_rel == m.partition && last_meter == m.meter_id && last_day == m.day &&
		last_xid == GetCurrentTransactionIdIfAny() && last_cid == GetCurrentCommandId(false) &&
		TransactionIdIsValid(last_xid))
		return PointerGetDatum(td->tg_trigtuple);
	car_as_table_owner("reading", MoveDayAsOwner, &m);
	last_rel = m.partition;
	last_meter = m.meter_id;
	last_day = m.day;
	last_xid = GetCurrentTransactionIdIfAny();
	last_cid = GetCurrentCommandId(false);
	return PointerGetDatum(td->tg_trigtuple);
}
