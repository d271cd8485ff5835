/*
 * ingest_write.c
 *		Writing a scanned meter file: its sites and meters made or found,
 *		then its readings streamed into car.reading through PostgreSQL's own
 *		COPY machinery (binary tuples fed from C), or through batched
 *		INSERT ... ON CONFLICT where the file overlaps stored readings.
 */
#include "ingest.h"

#include <math.h>

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "port/pg_bswap.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#define UPSERT_BATCH 10000

/*
 * Where a background worker wants the count of readings written so far
 * (its slot in shared memory), or NULL: the worker sets it; loading never
 * calls back into the worker.
 */
int64 *car_ingest_progress = NULL;

static Ingest *copy_ingest; /* the push COPY is reading from */

/*
 * The file this backend's ingest path is writing readings of, or NULL: the
 * only way an estimated reading becomes actual (car_check_reading_quality).
 * Set from C only, for the length of car_ingest_write; no SQL can set it.
 */
static Ingest *writing_ingest = NULL;

PG_FUNCTION_INFO_V1(car_check_reading_quality);

/* ------------------------------------------------------ sites and meters */

/*
 * A site the source's organisation owned once and that has moved to another
 * body since (car.site_org) takes from that source only the UK days the
 * organisation owned it: a late file for the days before the transfer.  A
 * file with readings of the site outside those days is refused whole, naming
 * them, so that one organisation's source never writes another's figures.
 * Leaves the site's id as SPI's only result row.
 */
static void
RequireOwnedDays(Ingest *ing, MeterEntry *m, int site_id)
{
	Oid	  types[4] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum vals[4] = {Int32GetDatum(site_id), CStringGetTextDatum(ing->so.org), TimestampTzGetDatum(m->first_reading),
					 TimestampTzGetDatum(m->last_reading)};
	bool  isnull;
	bool  owned_all;

	if (m->first_reading > m->last_reading)
		return; /* no readings */
	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(so.valid_from::text OPERATOR(pg_catalog.||) ' to ' "
							  "OPERATOR(pg_catalog.||) coalesce(so.valid_to::text, 'open'), ', ' ORDER BY so.valid_from), "
							  "NOT EXISTS (SELECT 1 FROM pg_catalog.generate_series(($3 AT TIME ZONE 'Europe/London')::date, "
							  "    ($4 AT TIME ZONE 'Europe/London')::date, interval '1 day') d "
							  "  WHERE NOT EXISTS (SELECT 1 FROM car.site_org o WHERE o.site_id OPERATOR(pg_catalog.=) $1 "
							  "    AND o.org OPERATOR(pg_catalog.=) $2 AND d::date OPERATOR(pg_catalog.>=) o.valid_from "
							  "    AND d::date OPERATOR(pg_catalog.<=) coalesce(o.valid_to, 'infinity'::date))), "
							  "($3 AT TIME ZONE 'Europe/London')::date::text, ($4 AT TIME ZONE 'Europe/London')::date::text "
							  "FROM car.site_org so WHERE so.site_id OPERATOR(pg_catalog.=) $1 AND so.org OPERATOR(pg_catalog.=) $2",
							  4, types, vals, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the periods of ownership of site \"%s\"", m->site);
	owned_all = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull || !owned_all)
	{
		char *owned = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("\"%s\" refused: site \"%s\" belongs to another organisation now, and its readings in the file "
						"(UK days %s to %s) are not all on days organisation \"%s\" owned it",
						ing->fname, m->site, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4), ing->so.org),
				 errdetail("Organisation \"%s\" owned the site from %s (car.site_org).", ing->so.org,
						   owned ? owned : "never"),
				 errhint("Nothing of the file was loaded. Load the days after the transfer through a source of the "
						 "site's present owner.")));
	}
	/* the site's id again, as the caller reads it */
	if (SPI_execute_with_args("SELECT $1", 1, types, vals, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up site \"%s\"", m->site);
}

/* Make or find the site and meter of every entry; fix unit conversions. */
void
car_ingest_resolve_meters(Ingest *ing)
{
	HASH_SEQ_STATUS st;
	MeterEntry	   *m;
	Oid				t2[2] = {TEXTOID, TEXTOID};
	Oid				t5[6] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	bool			mpan = ing->mf.meter_header && mf_infer_activity(ing->mf.meter_header) != NULL;
	bool			schema_1_0 = car_schema_1_0(); /* car 1.0's tables: meters without an interval */

	hash_seq_init(&st, ing->meters);
	while ((m = hash_seq_search(&st)) != NULL)
	{
		Datum v[6];
		char  nulls[6] = "      ";
		bool  isnull;
		int	  site_id;
		char *unit;

		if (m->activity == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot tell what meter \"%s\" at site \"%s\" in \"%s\" measures", m->meter, m->site, ing->fname),
					 errhint("Set the source's options->>'activity' (e.g. electricity, natural_gas, water_supply) "
							 "or options->>'activity_column'.")));
		v[0] = ing->so.org ? CStringGetTextDatum(ing->so.org) : (Datum) 0;
		nulls[0] = ing->so.org ? ' ' : 'n';
		v[1] = CStringGetTextDatum(pg_any_to_server(m->site, strlen(m->site), PG_UTF8));
		/*
		 * The source's organisation names the site: its own site of that
		 * name, else one it owned once and that has moved to another body
		 * since (car.site_org: a late file for a transferred building is
		 * that building's, and its days go to whoever owned it then), else
		 * a new one.  car.site_org is read only when the first lookup finds
		 * nothing, and only where it exists (a database still on car 1.0
		 * runs this library until ALTER EXTENSION car UPDATE).
		 */
		if (SPI_execute_with_args("SELECT id FROM car.site WHERE org IS NOT DISTINCT FROM $1 AND name = $2",
								  2, t2, v, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up site \"%s\"", m->site);
		if (SPI_processed != 1 && ing->so.org != NULL &&
			car_has_relation("site_org"))
		{
			if (SPI_execute_with_args("SELECT s.id FROM car.site s WHERE s.name = $2 "
									  "AND EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = s.id AND so.org = $1) "
									  "ORDER BY s.id LIMIT 1",
									  2, t2, v, nulls, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not look up site \"%s\"", m->site);
			if (SPI_processed == 1)
				RequireOwnedDays(ing, m, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
		}
		if (SPI_processed != 1 &&
			(SPI_execute_with_args("INSERT INTO car.site (org, name) VALUES ($1, $2) ON CONFLICT (org, name) DO NOTHING",
								   2, t2, v, nulls, false, 0) < 0 ||
			 SPI_execute_with_args("SELECT id FROM car.site WHERE org IS NOT DISTINCT FROM $1 AND name = $2",
								   2, t2, v, nulls, false, 1) != SPI_OK_SELECT ||
			 SPI_processed != 1))
			elog(ERROR, "could not make site \"%s\"", m->site);
		site_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		v[0] = Int32GetDatum(site_id);
		nulls[0] = ' ';
		v[1] = CStringGetTextDatum(pg_any_to_server(m->meter, strlen(m->meter), PG_UTF8));
		v[2] = CStringGetTextDatum(m->activity);
		v[3] = CStringGetTextDatum(pg_any_to_server(m->unit, strlen(m->unit), PG_UTF8));
		v[4] = mpan ? v[1] : (Datum) 0;
		nulls[4] = mpan ? ' ' : 'n';
		v[5] = Int32GetDatum(ing->so.interval_minutes);
		/*
		 * A new meter takes the source's interval; an existing one only when
		 * the source sets it and it differs (an UPDATE locks only the rows it
		 * changes: concurrent pushes to one meter do not wait on each other).
		 */
		if ((schema_1_0 ? SPI_execute_with_args("INSERT INTO car.meter (site_id, name, activity, unit, external_ref) "
												"SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM car.activity WHERE key = $3) "
												"ON CONFLICT (site_id, name) DO NOTHING",
												5, t5, v, nulls, false, 0)
						: SPI_execute_with_args("INSERT INTO car.meter (site_id, name, activity, unit, external_ref, interval_minutes) "
												"SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM car.activity WHERE key = $3) "
												"ON CONFLICT (site_id, name) DO NOTHING",
												6, t5, v, nulls, false, 0)) < 0 ||
			(ing->so.interval_given && !schema_1_0 &&
			 SPI_execute_with_args("UPDATE car.meter SET interval_minutes = $6 WHERE site_id = $1 AND name = $2 "
								   "AND interval_minutes IS DISTINCT FROM $6",
								   6, t5, v, nulls, false, 0) < 0) ||
			SPI_execute_with_args("SELECT id, unit FROM car.meter WHERE site_id = $1 AND name = $2", 2,
								  t5, v, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not make meter \"%s\"", m->meter);
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("meter \"%s\" in \"%s\" would measure activity \"%s\", which car.activity does not have",
							m->meter, ing->fname, m->activity),
					 errhint("Set options->>'activity' to a key of car.activity.")));
		m->id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		unit = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		/* readings are stored in the meter's own unit */
		m->to_meter_unit = pg_strcasecmp(unit, m->unit) == 0 ? 1.0 : car_unit_convert(1.0, m->unit, unit);
		m->last_ts = DT_NOBEGIN;
	}
}
/* ---------------------------------------------------------- COPY path */

static void
PutInt16(char **p, int16 v)
{
	uint16 n = pg_hton16((uint16) v);

	memcpy(*p, &n, 2);
	*p += 2;
}

static void
PutInt32(char **p, int32 v)
{
	uint32 n = pg_hton32((uint32) v);

	memcpy(*p, &n, 4);
	*p += 4;
}

static void
PutInt64(char **p, int64 v)
{
	uint64 n = pg_hton64((uint64) v);

	memcpy(*p, &n, 8);
	*p += 8;
}

/* A value that overflows in the meter's unit: the whole file is refused, nothing stays. */
static void
OutOfRange(Ingest *ing, const MeterEntry *m) pg_attribute_noreturn();

static void
OutOfRange(Ingest *ing, const MeterEntry *m)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("\"%s\" refused: line %ld's value in %s is out of range in meter \"%s\"'s unit", ing->fname,
					ing->csv.record_line, m->unit, m->meter),
			 errhint("Nothing of the file was loaded. Check the value and the file's unit.")));
}

#define TUPLE_BYTES	 (2 + 4 + 4 + 4 + 8 + 4 + 8 + 4 + 4)
#define COPY_CHUNK	 50000 /* readings per COPY statement */
#define HEADER_BYTES 19

/*
 * COPY's data source: binary COPY of (meter_id, ts, quantity, file_id)
 * tuples, made from the file's records as COPY asks for them.
 */
static int
CopySource(void *outbuf, int minread, int maxread)
{
	Ingest *ing = copy_ingest;
	char   *p = outbuf;
	char   *end = p + maxread;
	if (ing->copy_state == 0)
	{
		static const char sig[11] = "PGCOPY\n\377\r\n";

		Assert(maxread >= HEADER_BYTES);
		memcpy(p, sig, 11);
		p += 11;
		PutInt32(&p, 0);
		PutInt32(&p, 0);
		ing->copy_state = 1;
	}
	while (ing->copy_state == 1 && end - p >= TUPLE_BYTES)
	{
		MeterEntry *m;
		double		q;

		if (ing->copy_chunk >= COPY_CHUNK)
		{
			/* end this COPY here; the next one goes on from this reading */
			PutInt16(&p, -1);
			ing->copy_state = 2;
			break;
		}
		if (ing->rec_pos >= ing->rec.nvalues)
		{
			if (!car_ingest_next(ing, false))
			{
				PutInt16(&p, -1);
				ing->copy_state = 2;
				ing->copy_eof = true;
				break;
			}
		}
		m = ing->rec_meter;
		q = ing->rec.value[ing->rec_pos] * m->to_meter_unit;
		if (isinf(q))
			OutOfRange(ing, m);
		PutInt16(&p, 4);
		PutInt32(&p, 4);
		PutInt32(&p, m->id);
		PutInt32(&p, 8);
		PutInt64(&p, ing->rec_ts[ing->rec_pos]);
		PutInt32(&p, 8);
		{
			union
			{
				double d;
				int64  i;
			} u;

			u.d = q;
			PutInt64(&p, u.i);
		}
		PutInt32(&p, 4);
		PutInt32(&p, ing->file_id);
		ing->rec_pos++;
		ing->written++;
		ing->copy_chunk++;
		if (car_ingest_progress && (ing->written & 4095) == 0)
			*car_ingest_progress = ing->written;
	}
	(void) minread;
	return (int) (p - (char *) outbuf);
}

/* Stream every reading into car.reading with COPY (no overlap with stored rows). */
static void
WriteWithCopy(Ingest *ing)
{
	Relation	  rel;
	ParseState	 *pstate;
	CopyFromState cstate;
	List		 *cols = list_make4(makeString("meter_id"), makeString("ts"), makeString("quantity"),
									makeString("file_id"));
	List		 *options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	Oid			  relid = get_relname_relid("reading", get_namespace_oid("car", false));

	car_ingest_open(ing);
	ing->rec_pos = ing->rec.nvalues = 0;
	ing->copy_eof = false;
	copy_ingest = ing;
	rel = table_open(relid, RowExclusiveLock);
	pstate = make_parsestate(NULL);
	{
		/* as COPY FROM does: a range-table entry, and INSERT rights on it */
		ParseNamespaceItem *nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);

		nsitem->p_rte->requiredPerms = ACL_INSERT;
		ExecCheckRTPerms(pstate->p_rtable, true);
	}
	PG_TRY();
	{
		/*
		 * COPY_CHUNK readings a COPY: car.reading's change-tracking trigger
		 * keeps each statement's rows in a transition table, which then
		 * stays small (no temporary files, bounded memory) however big the
		 * file.
		 */
		while (!ing->copy_eof)
		{
			ing->copy_state = 0;
			ing->copy_chunk = 0;
			cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, CopySource, cols, options);
			CopyFrom(cstate);
			EndCopyFrom(cstate);
		}
	}
	PG_FINALLY();
	{
		copy_ingest = NULL;
		csv_free(&ing->csv);
	}
	PG_END_TRY();
	free_parsestate(pstate);
	table_close(rel, NoLock);
}

/* ------------------------------------------------------ upsert path */

typedef struct Pending
{
	int32		meter;
	TimestampTz ts;
	double		q;
	int			seq;
} Pending;

static int
ComparePending(const void *a, const void *b)
{
	const Pending *x = a,
				  *y = b;

	if (x->meter != y->meter)
		return x->meter < y->meter ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq - y->seq;
}

static void
FlushUpsert(Ingest *ing, SPIPlanPtr plan, Pending *buf, int n)
{
	Datum *m,
		*t,
		*q;
	int i,
		k = 0;
	Datum args[4];
	int	  ret;

	if (n == 0)
		return;
	/* within a batch the later line wins: keep the last of each (meter, ts) */
	qsort(buf, n, sizeof(Pending), ComparePending);
	m = palloc(sizeof(Datum) * n);
	t = palloc(sizeof(Datum) * n);
	q = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		if (i + 1 < n && buf[i + 1].meter == buf[i].meter && buf[i + 1].ts == buf[i].ts)
			continue;
		m[k] = Int32GetDatum(buf[i].meter);
		t[k] = TimestampTzGetDatum(buf[i].ts);
		q[k] = Float8GetDatum(buf[i].q);
		k++;
	}
	args[0] = PointerGetDatum(construct_array(m, k, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(t, k, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(q, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = Int32GetDatum(ing->file_id);
	ret = SPI_execute_plan(plan, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not write readings: %s", SPI_result_code_string(ret));
	{
		bool isnull;

		ing->superseded += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	ing->written += k;
	if (car_ingest_progress)
		*car_ingest_progress = ing->written;
	pfree(m);
	pfree(t);
	pfree(q);
}

/* Write readings where stored ones may exist: the later file's value wins, and an actual replaces an estimate. */
static void
WriteWithUpsert(Ingest *ing)
{
	Oid			  types[4] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, INT4OID};
	SPIPlanPtr	  plan;
	Pending		 *buf = palloc(sizeof(Pending) * UPSERT_BATCH);
	int			  n = 0;
	int			  seq = 0;
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "car upsert batch", ALLOCSET_DEFAULT_SIZES);

	/* changed counts the stored values this batch replaces (the statement's snapshot: before the upsert) */
	/* car 1.0's tables have no estimates: the same without quality and method */
	plan = SPI_prepare(car_schema_1_0()
						   ? "WITH u AS (SELECT * FROM unnest($1, $2, $3) AS u(m, t, q)), "
							 "changed AS (SELECT count(*) AS n FROM car.reading r JOIN u ON r.meter_id = u.m AND r.ts = u.t "
							 "            WHERE r.quantity IS DISTINCT FROM u.q), "
							 "w AS (INSERT INTO car.reading AS r (meter_id, ts, quantity, file_id) SELECT m, t, q, $4 FROM u "
							 "      ON CONFLICT (meter_id, ts) DO UPDATE SET quantity = excluded.quantity, file_id = excluded.file_id "
							 "      WHERE r.quantity IS DISTINCT FROM excluded.quantity) "
							 "SELECT n FROM changed"
						   : "WITH u AS (SELECT * FROM unnest($1, $2, $3) AS u(m, t, q)), "
							 "changed AS (SELECT count(*) AS n FROM car.reading r JOIN u ON r.meter_id = u.m AND r.ts = u.t "
							 "            WHERE r.quantity IS DISTINCT FROM u.q OR r.quality <> 'actual'), "
							 "w AS (INSERT INTO car.reading AS r (meter_id, ts, quantity, file_id) SELECT m, t, q, $4 FROM u "
							 "      ON CONFLICT (meter_id, ts) DO UPDATE SET quantity = excluded.quantity, file_id = excluded.file_id, "
							 "      quality = 'actual', method = NULL "
							 "      WHERE r.quantity IS DISTINCT FROM excluded.quantity OR r.quality <> 'actual') "
							 "SELECT n FROM changed",
					   4, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the reading upsert: %s", SPI_result_code_string(SPI_result));

	car_ingest_open(ing);
	PG_TRY();
	{
		while (car_ingest_next(ing, false))
		{
			int k;

			for (k = 0; k < ing->rec.nvalues; k++)
			{
				buf[n].meter = ing->rec_meter->id;
				buf[n].ts = ing->rec_ts[k];
				buf[n].q = ing->rec.value[k] * ing->rec_meter->to_meter_unit;
				if (isinf(buf[n].q))
					OutOfRange(ing, ing->rec_meter);
				buf[n].seq = seq++;
				if (++n == UPSERT_BATCH)
				{
					MemoryContext old = MemoryContextSwitchTo(batch);

					FlushUpsert(ing, plan, buf, n);
					MemoryContextSwitchTo(old);
					MemoryContextReset(batch);
					n = 0;
				}
			}
		}
		FlushUpsert(ing, plan, buf, n);
	}
	PG_FINALLY();
	{
		csv_free(&ing->csv);
	}
	PG_END_TRY();
	MemoryContextDelete(batch);
}

/* Are there stored readings of the file's meters in its time range? */
static bool
Overlaps(Ingest *ing)
{
	HASH_SEQ_STATUS st;
	MeterEntry	   *m;
	Datum		   *ids = palloc(sizeof(Datum) * (hash_get_num_entries(ing->meters) + 1));
	int				n = 0;
	Oid				types[3] = {INT4ARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum			args[3];
	bool			isnull;

	hash_seq_init(&st, ing->meters);
	while ((m = hash_seq_search(&st)) != NULL)
		ids[n++] = Int32GetDatum(m->id);
	args[0] = PointerGetDatum(construct_array(ids, n, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = TimestampTzGetDatum(ing->min_ts);
	args[2] = TimestampTzGetDatum(ing->max_ts);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM car.reading WHERE meter_id = ANY ($1) AND ts BETWEEN $2 AND $3)",
							  3, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.reading");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Write the readings: COPY when nothing stored overlaps.  COPY runs in a
 * subtransaction; if the file repeats a (meter, ts) it fails with a unique
 * violation and the upsert path, where the later line wins, takes over.
 */
static void
CopyAll(void *arg)
{
	WriteWithCopy((Ingest *) arg);
}

void
car_ingest_write(Ingest *ing)
{
	if (ing->values == 0)
		return;
	writing_ingest = ing;
	PG_TRY();
	{
		/* a file that repeats a (meter, ts) goes straight to the upsert path, where the later line wins */
		if (ing->has_repeats || Overlaps(ing) ||
			!car_try_subxact(CopyAll, ing, ERRCODE_UNIQUE_VIOLATION, ERRCODE_UNIQUE_VIOLATION))
		{
			HASH_SEQ_STATUS st;
			MeterEntry	   *m;

			/* the file's meter-days in compacted months go back to rows first (compact.c says why) */
			hash_seq_init(&st, ing->meters);
			while ((m = hash_seq_search(&st)) != NULL)
				if (m->id > 0)
					(void) car_uncompact_span(m->id, m->first_reading, m->last_reading);
			ing->written = 0;
			WriteWithUpsert(ing);
		}
	}
	PG_FINALLY();
	{
		writing_ingest = NULL;
	}
	PG_END_TRY();
}

/* Is the reading (meter_id, ts) one of those the file being written now carries (its meters, its span)? */
static bool
InWritingFile(int32 meter_id, TimestampTz ts)
{
	HASH_SEQ_STATUS st;
	MeterEntry	   *m;

	if (writing_ingest == NULL)
		return false;
	hash_seq_init(&st, writing_ingest->meters);
	while ((m = hash_seq_search(&st)) != NULL)
		if (m->id == meter_id && ts >= m->first_reading && ts <= m->last_reading)
		{
			hash_seq_term(&st);
			return true;
		}
	return false;
}

/* A text column of a trigger's tuple, or NULL. */
static char *
TextColumn(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool  isnull;
	Datum d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Trigger on car.reading, BEFORE UPDATE OF quality (issue 14): a reading's
 * label changes only the ways car makes it change.  An estimate becomes
 * actual only when a meter file's reading replaces it: the ingest path of
 * this backend (car.push or a fetched file, car_ingest_write) writing a
 * reading of that meter and span, with the file's id, which differs from
 * the estimate's.  An actual reading never becomes an estimate (car.estimate
 * and car.bill leave actual readings alone).  So a role that may UPDATE the
 * column (car_ingest, which the ingest path runs as) cannot relabel a
 * reading by hand, and no SQL can pass for the ingest path: what it checks
 * is set from C.
 */
Datum
car_check_reading_quality(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	 desc;
	int			 quality_att,
		file_att,
		meter_att,
		ts_att;
	char *was;
	char *now;
	bool  isnull;
	bool  old_file_null,
		new_file_null;
	int32 old_file,
		new_file,
		meter_id;
	TimestampTz ts;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("car.check_reading_quality() must be called as a BEFORE UPDATE row trigger")));
	/* a partition's columns may be numbered otherwise than the parent's: found by name in the row's own table */
	desc = RelationGetDescr(td->tg_relation);
	quality_att = SPI_fnumber(desc, "quality");
	file_att = SPI_fnumber(desc, "file_id");
	meter_att = SPI_fnumber(desc, "meter_id");
	ts_att = SPI_fnumber(desc, "ts");
	if (quality_att <= 0 || file_att <= 0 || meter_att <= 0 || ts_att <= 0)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("car.check_reading_quality() fired on %s, which is not car.reading",
							   RelationGetRelationName(td->tg_relation))));
	was = TextColumn(td->tg_trigtuple, desc, quality_att);
	now = TextColumn(td->tg_newtuple, desc, quality_att);
	if (was == NULL || now == NULL || strcmp(was, now) == 0)
		return PointerGetDatum(td->tg_newtuple); /* the table's NOT NULL and CHECK say the rest */

	meter_id = DatumGetInt32(heap_getattr(td->tg_newtuple, meter_att, desc, &isnull));
	ts = DatumGetTimestampTz(heap_getattr(td->tg_newtuple, ts_att, desc, &isnull));
	if (strcmp(was, "actual") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("the reading of meter %d at %s is actual and cannot be relabelled %s", meter_id,
						timestamptz_to_str(ts), now),
				 errdetail("An actual reading never becomes an estimate: car.estimate and car.bill fill only periods "
						   "without an actual reading."),
				 errhint("To replace a wrong reading, push the corrected file.")));

	old_file = DatumGetInt32(heap_getattr(td->tg_trigtuple, file_att, desc, &old_file_null));
	new_file = DatumGetInt32(heap_getattr(td->tg_newtuple, file_att, desc, &new_file_null));
	if (new_file_null || (!old_file_null && old_file == new_file) || writing_ingest == NULL ||
		new_file != writing_ingest->file_id || !InWritingFile(meter_id, ts))
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("the reading of meter %d at %s is estimated and cannot be relabelled %s", meter_id,
						timestamptz_to_str(ts), now),
				 errdetail("An estimate becomes actual only when a meter file's reading replaces it, written by "
						   "car.push or a source's fetch with that file's id."),
				 errhint("Push the meter's file with car.push(), or let its source fetch it; car.estimate and car.bill "
						 "write estimates.")));
	return PointerGetDatum(td->tg_newtuple);
}
