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
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "catalog/pg_proc.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "commands/trigger.h"
#include "catalog/pg_trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "port/pg_bswap.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
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
 * Row-level security of car.reading on the COPY paths.  PostgreSQL's COPY
 * statement refuses a table with row-level security ("COPY FROM not
 * supported"); car feeds CopyFrom itself, which applies no policy, so the
 * checks an INSERT into car.reading would make are made here, on every
 * reading, before it is written: each WITH CHECK expression of the
 * policies that apply to this user's INSERT (car's own policy
 * reading_by_claims: car.meter_visible_at(meter_id, ts)).  Policies of any
 * other shape send the file through INSERT (the upsert path), where
 * PostgreSQL applies them itself.
 */
#define MAX_POLICY_CHECKS 8

typedef struct PolicyChecks
{
	int		 n; /* 0: no policy applies to this user's INSERT */
	bool	 other;
	FmgrInfo fn[MAX_POLICY_CHECKS];
	Oid		 collation[MAX_POLICY_CHECKS];
	int		 nargs[MAX_POLICY_CHECKS];
	bool	 ts_first[MAX_POLICY_CHECKS]; /* its arguments: (meter_id[, ts]), (ts[, meter_id]) */
	char	*name[MAX_POLICY_CHECKS];	  /* the policy's, or NULL: several permissive ones */
} PolicyChecks;

static PolicyChecks *copy_policy; /* for the COPY path writing now, or NULL */

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

/* Binary COPY's header: signature, flags and header extension length (both 0). */
static void
PutCopyHeader(char **p)
{
	static const char sig[11] = "PGCOPY\n\377\r\n";

	memcpy(*p, sig, 11);
	*p += 11;
	PutInt32(p, 0);
	PutInt32(p, 0);
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

/*
 * The WITH CHECK expressions of the row-level security policies an INSERT
 * into car.reading (rel, locked) would apply for this user, as PostgreSQL's
 * rewriter builds them: pc->n of them, each a function of meter_id and ts
 * (car 1.1's car.meter_visible_at(meter_id, ts), car 1.0's
 * car.meter_visible(meter_id)), or pc->other when any has another shape.
 */
static void
ReadPolicyChecks(Relation rel, PolicyChecks *pc)
{
	Query		  *query = makeNode(Query);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	List		  *quals;
	List		  *checks;
	bool		   has_rls;
	bool		   has_sublinks;
	ListCell	  *lc;
	AttrNumber	   meter_att = get_attnum(RelationGetRelid(rel), "meter_id");
	AttrNumber	   ts_att = get_attnum(RelationGetRelid(rel), "ts");

	memset(pc, 0, sizeof(*pc));
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	query->commandType = CMD_INSERT;
	query->resultRelation = 1;
	query->rtable = list_make1(rte);
	get_row_security_policies(query, rte, 1, &quals, &checks, &has_rls, &has_sublinks);
	foreach (lc, checks)
	{
		WithCheckOption *wco = lfirst_node(WithCheckOption, lc);
		FuncExpr		*f = (FuncExpr *) wco->qual;
		ListCell		*arg;
		AttrNumber		 seen[2] = {InvalidAttrNumber, InvalidAttrNumber};
		int				 k = 0;

		if (pc->n == MAX_POLICY_CHECKS || wco->kind != WCO_RLS_INSERT_CHECK || f == NULL || !IsA(f, FuncExpr) ||
			f->funcretset || list_length(f->args) < 1 || list_length(f->args) > 2 ||
			get_func_rettype(f->funcid) != BOOLOID)
		{
			pc->other = true;
			return;
		}
		foreach (arg, f->args)
		{
			Var *v = lfirst(arg);

			if (!IsA(v, Var) || v->varno != 1 || v->varlevelsup != 0 ||
				(v->varattno != meter_att && v->varattno != ts_att) || (k == 1 && v->varattno == seen[0]))
			{
				pc->other = true;
				return;
			}
			seen[k++] = v->varattno;
		}
		pc->nargs[pc->n] = k;
		pc->ts_first[pc->n] = seen[0] == ts_att;
		fmgr_info(f->funcid, &pc->fn[pc->n]);
		/* called as the executor calls it: a polymorphic function finds its argument types */
		fmgr_info_set_expr((Node *) f, &pc->fn[pc->n]);
		pc->collation[pc->n] = f->inputcollid;
		pc->name[pc->n] = wco->polname;
		pc->n++;
	}
}

/* A reading the policies of car.reading would refuse to an INSERT of this user: the whole file refused. */
static inline void
CheckPolicies(Ingest *ing, const MeterEntry *m, TimestampTz ts)
{
	PolicyChecks *pc = copy_policy;
	int			  i;

	if (pc == NULL)
		return;
	for (i = 0; i < pc->n; i++)
	{
		LOCAL_FCINFO(fcinfo, 2);
		Datum meter = Int32GetDatum(m->id);
		Datum at = TimestampTzGetDatum(ts);
		Datum ok;

		/* called as the executor calls a check: a NULL result fails it, as false does (ExecWithCheckOptions) */
		InitFunctionCallInfoData(*fcinfo, &pc->fn[i], pc->nargs[i], pc->collation[i], NULL, NULL);
		fcinfo->args[0].value = pc->ts_first[i] ? at : meter;
		fcinfo->args[0].isnull = false;
		fcinfo->args[1].value = pc->ts_first[i] ? meter : at;
		fcinfo->args[1].isnull = false;
		ok = FunctionCallInvoke(fcinfo);
		if (fcinfo->isnull || !DatumGetBool(ok))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 pc->name[i] ? errmsg("new row violates row-level security policy \"%s\" for table \"reading\"",
										  pc->name[i])
								 : errmsg("new row violates row-level security policy for table \"reading\""),
					 errdetail("\"%s\", line %ld: the reading of meter \"%s\" at site \"%s\" at %s.", ing->fname,
							   ing->csv.record_line, m->meter, m->site, timestamptz_to_str(ts)),
					 errhint("Nothing of the file was loaded. car.reading's row-level security decides which "
							 "readings this role may write.")));
	}
}

/* One binary COPY tuple of (meter_id, ts, quantity, file_id). */
static inline void
PutReading(char **p, int32 meter_id, TimestampTz ts, double q, int32 file_id)
{
	union
	{
		double d;
		int64  i;
	} u;

	u.d = q;
	PutInt16(p, 4);
	PutInt32(p, 4);
	PutInt32(p, meter_id);
	PutInt32(p, 8);
	PutInt64(p, ts);
	PutInt32(p, 8);
	PutInt64(p, u.i);
	PutInt32(p, 4);
	PutInt32(p, file_id);
}

#define TUPLE_BYTES (2 + 4 + 4 + 4 + 8 + 4 + 8 + 4 + 4)
#define COPY_CHUNK	50000 /* readings per COPY statement */
/*
 * Readings per batch of the direct path (at most 32 bytes each, 6.4 MB):
 * each batch costs a COPY set-up per partition it reaches and one queueing
 * of its meter-days, so fewer, larger batches; no transition table grows
 * with it.  The arrays are sized to the file (its readings counted by the
 * first pass) and grow, up to these caps, as needed.
 */
#define DIRECT_BATCH 200000
#define HEADER_BYTES 19

/*
 * The file's line of each row a COPY writes.  An error while COPY writes a
 * row (a constraint, an index, a partition's bounds, a trigger) names the
 * file and the line, as car's parser errors do, besides COPY's own "COPY
 * reading, line N" (N counts the rows of that COPY statement:
 * cstate->cur_lineno, which COPY also sets while it flushes rows it
 * batched).  Errors car raises while it makes the rows (ReadingSource,
 * DirectSource) name their line themselves.
 */
typedef struct RowLines
{
	const char	 *fname;
	CopyFromState cstate; /* the COPY writing now, or NULL */
	const long	 *line;	  /* the file line of each row sent */
	const int	 *part;	  /* NULL: COPY's row k is line[k - 1]; else the k-th of line[] whose part is want */
	int			  n;	  /* rows in line[] */
	int			  want;
	bool		  sending; /* in ReadingSource or DirectSource */
} RowLines;

static RowLines *row_lines; /* for the COPY writing now, or NULL */

static void
RowLinesContext(void *arg)
{
	RowLines *rl = arg;
	uint64	  row;
	long	  line = 0;

	if (rl->sending || rl->cstate == NULL)
		return;
	row = rl->cstate->cur_lineno;
	if (row == 0)
		return;
	if (rl->part == NULL)
	{
		if (row <= (uint64) rl->n)
			line = rl->line[row - 1];
	}
	else
	{
		uint64 k = 0;
		int	   i;

		for (i = 0; i < rl->n; i++)
			if (rl->part[i] == rl->want && ++k == row)
			{
				line = rl->line[i];
				break;
			}
	}
	if (line > 0)
		errcontext("\"%s\", line %ld", rl->fname, line);
}

/* The next capacity of a full array of cap elements: doubled, at most max (which the caller never passes). */
static inline int
GrownCap(int cap, int max)
{
	Assert(cap < max);
	return (int) Min((int64) cap * 2, (int64) max);
}

/* The file line of each row of the COPY writing now (ReadingSource): sized to the file, growing up to COPY_CHUNK. */
static long *copy_lines;
static int	 copy_lines_cap;

/*
 * COPY's data source: binary COPY of (meter_id, ts, quantity, file_id)
 * tuples, made from the file's records as COPY asks for them.
 */
static int
ReadingSource(void *outbuf, int minread, int maxread)
{
	Ingest	 *ing = copy_ingest;
	RowLines *rl = row_lines;
	char	 *p = outbuf;
	char	 *end = p + maxread;

	rl->sending = true;
	if (ing->copy_state == 0)
	{
		Assert(maxread >= HEADER_BYTES);
		PutCopyHeader(&p);
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
		CheckPolicies(ing, m, ing->rec_ts[ing->rec_pos]);
		PutReading(&p, m->id, ing->rec_ts[ing->rec_pos], q, ing->file_id);
		if (ing->copy_chunk == copy_lines_cap)
		{
			copy_lines_cap = GrownCap(copy_lines_cap, COPY_CHUNK);
			copy_lines = repalloc(copy_lines, sizeof(long) * copy_lines_cap);
			rl->line = copy_lines;
		}
		copy_lines[ing->copy_chunk] = ing->csv.record_line;
		rl->n = (int) ing->copy_chunk + 1;
		ing->rec_pos++;
		ing->written++;
		ing->copy_chunk++;
		if (car_ingest_progress && (ing->written & 4095) == 0)
			*car_ingest_progress = ing->written;
	}
	rl->sending = false;
	(void) minread;
	return (int) (p - (char *) outbuf);
}

/*
 * The direct path.  COPY into car.reading itself inserts one row at a time:
 * PostgreSQL refuses its batched insert (heap_multi_insert, one WAL record
 * per page) for a partitioned table with a statement trigger that keeps a
 * transition table, as car.reading's change tracking does.  So when the
 * only triggers an INSERT into car.reading would fire are car's own
 * (reading_inserted: car.track_changes; reading_refused_on_hub, which does
 * nothing off a hub), each batch of readings is routed to its monthly
 * partitions here, with the table's own partition bounds, and COPYed into
 * each partition, batched; its meter-days are then queued and announced as
 * car.track_changes queues an INSERT's (car_queue_added_readings).  COPY
 * into a partition still checks the partition's bounds and every constraint
 * and index of car.reading on each row.  A reading for a partition that is
 * not a plain table without triggers of its own, for the default partition
 * or for none, goes through car.reading as before, in the same batch.  A
 * compacted month's partition is one of those: its row trigger
 * (car.compacted_insert, compact.c) moves the reading's meter-day back to
 * rows before the reading goes in.  The partition is opened, and its
 * triggers read, under the lock the COPY holds to the end of the
 * transaction, which car.compact waits for; a compaction that committed
 * first is seen (its trigger) once that lock is granted.
 */
typedef struct Leaf
{
	Oid			relid;
	Relation	rel;	/* NULL: through car.reading */
	ParseState *pstate; /* a range table naming the partition, for CopyFrom */
} Leaf;

typedef struct Direct
{
	Relation	  parent;
	ParseState	 *parent_pstate;
	PartitionKey  key;
	PartitionDesc desc;
	Leaf		 *leaves; /* by partition index, opened when first used */
	TimestampTz	  lo;	  /* the bounds of the last routed reading's partition */
	TimestampTz	  hi;
	int			  last; /* its partition index, or -1 */
	/* the batch: room for cap readings (sized to the file, growing up to DIRECT_BATCH) */
	int			  n;
	int			  cap;
	int32		 *meter;
	TimestampTz	 *ts;
	double		 *q;
	int			 *part; /* partition index, or -1: through car.reading */
	long		 *line; /* the file's line */
	/* what COPY is reading now: the batch's readings of partition want */
	int			  want;
	int			  pos;
	int			  state; /* 0 header, 1 tuples, 2 done */
	int32		  file_id;
	Oid			  track_fn; /* car.track_changes, whose owner queues the meter-days */
} Direct;

static Direct *direct_copy; /* the batch DirectSource is reading from */

/* Is trigger t of car.reading's car's own, car.<func>() as car makes it (no arguments, no WHEN condition)? */
static bool
CarTrigger(const Trigger *t, const char *name, const char *func)
{
	char *f;

	if (strcmp(t->tgname, name) != 0 || t->tgnargs != 0 || t->tgqual != NULL ||
		get_func_namespace(t->tgfoid) != get_namespace_oid("car", false))
		return false;
	f = get_func_name(t->tgfoid);
	return f != NULL && strcmp(f, func) == 0;
}

/*
 * Would an INSERT into car.reading fire nothing but car's own statement
 * triggers, as car ships them?  The function of its change-tracking
 * trigger (car.track_changes) if so, else InvalidOid.
 */
static Oid
DirectPathAllowed(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	PartitionKey key;
	Oid			 tracked = InvalidOid;
	int			 i;

	if (car_node_role == CAR_NODE_HUB || SessionReplicationRole != SESSION_REPLICATION_ROLE_ORIGIN ||
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE || td == NULL)
		return InvalidOid;
	key = RelationGetPartitionKey(rel);
	if (key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1 || key->partattrs[0] == 0 ||
		key->parttypid[0] != TIMESTAMPTZOID ||
		strcmp(NameStr(TupleDescAttr(RelationGetDescr(rel), key->partattrs[0] - 1)->attname), "ts") != 0)
		return InvalidOid;
	for (i = 0; i < td->numtriggers; i++)
	{
		const Trigger *t = &td->triggers[i];

		if (!TRIGGER_FOR_INSERT(t->tgtype) || t->tgenabled == TRIGGER_DISABLED)
			continue;
		if (TRIGGER_FOR_ROW(t->tgtype) || (t->tgenabled != TRIGGER_FIRES_ON_ORIGIN && t->tgenabled != TRIGGER_FIRES_ALWAYS))
			return InvalidOid;
		if (TRIGGER_FOR_AFTER(t->tgtype) && t->tgnewtable != NULL && t->tgoldtable == NULL &&
			!OidIsValid(tracked) && CarTrigger(t, "reading_inserted", "track_changes"))
			tracked = t->tgfoid;
		else if (!(TRIGGER_FOR_BEFORE(t->tgtype) && CarTrigger(t, "reading_refused_on_hub", "refuse_on_hub")))
			return InvalidOid;
	}
	return tracked;
}

/*
 * Does a row COPYed into partition part get what the same row inserted
 * through car.reading (parent) gets?  Routing fills the columns a reading
 * does not give (quality, method) from the parent's defaults, a COPY into
 * the partition from the partition's own; a partition attached with other
 * defaults, or a column generated or an identity on either side, goes
 * through car.reading.
 */
static bool
SameDefaults(Relation parent, Relation part)
{
	TupleDesc pdesc = RelationGetDescr(parent);
	TupleDesc cdesc = RelationGetDescr(part);
	int		  i;
	int		  live = 0;

	for (i = 0; i < cdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(cdesc, i);

		if (a->attisdropped)
			continue;
		live++;
		if (a->attgenerated || a->attidentity)
			return false;
	}
	for (i = 0; i < pdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(pdesc, i);
		AttrNumber		  c;
		Node			 *pdef;
		Node			 *cdef;

		if (a->attisdropped)
			continue;
		live--;
		c = get_attnum(RelationGetRelid(part), NameStr(a->attname));
		if (c == InvalidAttrNumber || a->attgenerated || a->attidentity)
			return false;
		pdef = build_column_default(parent, i + 1);
		cdef = build_column_default(part, c);
		if (!equal(pdef, cdef))
			return false;
	}
	return live == 0;
}

/* A range table naming rel, as COPY FROM makes one. */
static ParseState *
CopyParseState(Relation rel)
{
	ParseState *pstate = make_parsestate(NULL);

	addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	return pstate;
}

/*
 * The partition index of the partition holding ts (-1: the readings goes
 * through car.reading), as PostgreSQL's routing finds it (the same binary
 * search over the same bounds), the last answer's bounds kept: a file's
 * readings come in runs of one month.
 */
static int
Route(Direct *d, TimestampTz ts)
{
	PartitionBoundInfo b = d->desc->boundinfo;
	Datum			   v = TimestampTzGetDatum(ts);
	bool			   equal;
	int				   off;
	int				   part;
	Leaf			  *leaf;

	if (ts >= d->lo && ts < d->hi)
		return d->last;
	if (b == NULL || d->desc->nparts == 0)
	{
		/* no partitions: car.reading's own routing says what becomes of the reading */
		d->last = -1;
		d->lo = d->hi = 0;
		return -1;
	}
	off = partition_range_datum_bsearch(d->key->partsupfunc, d->key->partcollation, b, 1, &v, &equal);
	part = b->indexes[off + 1];
	if (part < 0)
		part = b->default_index;
	d->lo = off >= 0 && b->kind[off][0] == PARTITION_RANGE_DATUM_VALUE ? DatumGetTimestampTz(b->datums[off][0])
																	   : DT_NOBEGIN;
	d->hi = off + 1 < b->ndatums && b->kind[off + 1][0] == PARTITION_RANGE_DATUM_VALUE
				? DatumGetTimestampTz(b->datums[off + 1][0])
				: DT_NOEND;
	if (part >= 0 && part == b->default_index)
		part = -1; /* the default partition: car.reading's own routing */
	if (part >= 0)
	{
		leaf = &d->leaves[part];
		if (leaf->relid == InvalidOid)
		{
			leaf->relid = d->desc->oids[part];
			if (d->desc->is_leaf[part] && get_rel_relkind(leaf->relid) == RELKIND_RELATION)
			{
				Relation	 r = table_open(leaf->relid, RowExclusiveLock);
				TriggerDesc *td = r->trigdesc;

				/*
				 * a partition with rules goes through car.reading too: an
				 * INSERT through car.reading leaves a partition's rules out,
				 * as COPY does, but only plain tables are COPYed into
				 */
				if ((td == NULL || !(td->trig_insert_before_row || td->trig_insert_after_row || td->trig_insert_instead_row ||
									 td->trig_insert_before_statement || td->trig_insert_after_statement)) &&
					!r->rd_rel->relhasrules && SameDefaults(d->parent, r))
				{
					leaf->rel = r;
					leaf->pstate = CopyParseState(r);
				}
				else
					table_close(r, RowExclusiveLock);
			}
		}
		if (leaf->rel == NULL)
			part = -1;
	}
	d->last = part;
	if (ts < d->lo || ts >= d->hi)
		d->lo = d->hi = 0; /* an instant outside every bound (infinite): never cached */
	return part;
}

/* COPY's data source for the direct path: the batch's readings of partition want. */
static int
DirectSource(void *outbuf, int minread, int maxread)
{
	Direct	 *d = direct_copy;
	RowLines *rl = row_lines;
	char	 *p = outbuf;
	char	 *end = p + maxread;

	rl->sending = true;
	if (d->state == 0)
	{
		Assert(maxread >= HEADER_BYTES);
		PutCopyHeader(&p);
		d->state = 1;
	}
	while (d->state == 1 && end - p >= TUPLE_BYTES)
	{
		if (d->pos >= d->n)
		{
			PutInt16(&p, -1);
			d->state = 2;
			break;
		}
		if (d->part[d->pos] == d->want)
			PutReading(&p, d->meter[d->pos], d->ts[d->pos], d->q[d->pos], d->file_id);
		d->pos++;
	}
	rl->sending = false;
	(void) minread;
	return (int) (p - (char *) outbuf);
}

/* COPY the batch's readings of partition part (-1: through car.reading). */
static void
CopyPart(Direct *d, int part, List *cols, List *options)
{
	CopyFromState cstate;
	Relation	  rel = part >= 0 ? d->leaves[part].rel : d->parent;
	RowLines	 *rl = row_lines;

	d->want = part;
	d->pos = 0;
	d->state = 0;
	/* before BeginCopyFrom, which reads the binary header (and the rows after it) already */
	rl->line = d->line;
	rl->part = d->part;
	rl->n = d->n;
	rl->want = part;
	rl->sending = false;
	cstate = BeginCopyFrom(part >= 0 ? d->leaves[part].pstate : d->parent_pstate, rel, NULL, NULL, false, DirectSource,
						   cols, options);
	rl->cstate = cstate;
	CopyFrom(cstate);
	rl->cstate = NULL;
	EndCopyFrom(cstate);
}

/* Write one batch: its readings COPYed partition by partition, then their meter-days queued. */
static void
WriteBatch(Direct *d, List *cols, List *options, MemoryContext batch_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	bool		 *done = palloc0(sizeof(bool) * (d->desc->nparts + 1));
	DayQueue	  q;
	int			  i;

	/* partitions in the order the batch first reaches them; then what goes through car.reading */
	for (i = 0; i < d->n; i++)
		if (d->part[i] >= 0 && !done[d->part[i]])
		{
			done[d->part[i]] = true;
			CopyPart(d, d->part[i], cols, options);
		}
	for (i = 0; i < d->n; i++)
		if (d->part[i] < 0)
		{
			CopyPart(d, -1, cols, options);
			break;
		}
	DayQueueInit(&q);
	for (i = 0; i < d->n; i++)
		if (d->part[i] >= 0)
			DayQueueAdd(&q, d->meter[i], d->ts[i], true, d->q[i]);
	if (q.count > 0)
		car_queue_added_readings(&q, d->track_fn);
	MemoryContextSwitchTo(old);
	MemoryContextReset(batch_cxt);
	d->n = 0;
}

/* Stream every reading into car.reading's partitions directly, DIRECT_BATCH readings a batch. */
static void
WriteDirect(Ingest *ing, Relation rel, ParseState *pstate, List *cols, List *options, Oid track_fn)
{
	Direct		  d;
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "car direct batch", ALLOCSET_DEFAULT_SIZES);
	int			  i;

	memset(&d, 0, sizeof(d));
	d.parent = rel;
	d.parent_pstate = pstate;
	d.key = RelationGetPartitionKey(rel);
	/* the partitions an INSERT would route to now (one being detached concurrently: as the executor decides) */
	d.desc = RelationGetPartitionDesc(rel, !IsolationUsesXactSnapshot());
	d.leaves = palloc0(sizeof(Leaf) * (d.desc->nparts + 1));
	d.last = -1;
	d.cap = (int) Max(Min(ing->values, DIRECT_BATCH), 1);
	d.meter = palloc(sizeof(int32) * d.cap);
	d.ts = palloc(sizeof(TimestampTz) * d.cap);
	d.q = palloc(sizeof(double) * d.cap);
	d.part = palloc(sizeof(int) * d.cap);
	d.line = palloc(sizeof(long) * d.cap);
	d.file_id = ing->file_id;
	d.track_fn = track_fn;
	direct_copy = &d;
	PG_TRY();
	{
		while (car_ingest_next(ing, false))
		{
			MeterEntry *m = ing->rec_meter;
			int			k;

			for (k = 0; k < ing->rec.nvalues; k++)
			{
				double q = ing->rec.value[k] * m->to_meter_unit;

				if (isinf(q))
					OutOfRange(ing, m);
				CheckPolicies(ing, m, ing->rec_ts[k]);
				if (d.n == d.cap)
				{
					d.cap = GrownCap(d.cap, DIRECT_BATCH);
					d.meter = repalloc(d.meter, sizeof(int32) * d.cap);
					d.ts = repalloc(d.ts, sizeof(TimestampTz) * d.cap);
					d.q = repalloc(d.q, sizeof(double) * d.cap);
					d.part = repalloc(d.part, sizeof(int) * d.cap);
					d.line = repalloc(d.line, sizeof(long) * d.cap);
				}
				d.meter[d.n] = m->id;
				d.ts[d.n] = ing->rec_ts[k];
				d.q[d.n] = q;
				d.part[d.n] = Route(&d, ing->rec_ts[k]);
				d.line[d.n] = ing->csv.record_line;
				ing->written++;
				if (car_ingest_progress && (ing->written & 4095) == 0)
					*car_ingest_progress = ing->written;
				if (++d.n == DIRECT_BATCH)
					WriteBatch(&d, cols, options, batch_cxt);
			}
		}
		if (d.n > 0)
			WriteBatch(&d, cols, options, batch_cxt);
	}
	PG_FINALLY();
	{
		direct_copy = NULL;
	}
	PG_END_TRY();
	for (i = 0; i < d.desc->nparts; i++)
		if (d.leaves[i].rel != NULL)
		{
			free_parsestate(d.leaves[i].pstate);
			table_close(d.leaves[i].rel, NoLock);
		}
	MemoryContextDelete(batch_cxt);
}

/* Stream every reading into car.reading with COPY (no overlap with stored rows). */
static void
WriteWithCopy(Ingest *ing)
{
	Relation			 rel;
	ParseState			*pstate;
	CopyFromState		 cstate;
	List				*cols = list_make4(makeString("meter_id"), makeString("ts"), makeString("quantity"),
										   makeString("file_id"));
	List				*options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	Oid					 relid = get_relname_relid("reading", get_namespace_oid("car", false));
	RowLines			 rl;
	ErrorContextCallback errcb;

	car_ingest_open(ing);
	ing->rec_pos = ing->rec.nvalues = 0;
	ing->copy_eof = false;
	copy_ingest = ing;
	memset(&rl, 0, sizeof(rl));
	rl.fname = ing->fname;
	rel = table_open(relid, RowExclusiveLock);
	pstate = make_parsestate(NULL);
	{
		/* as COPY FROM does: a range-table entry, and INSERT rights on it (on the columns written) */
		ParseNamespaceItem *nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
		ListCell		   *lc;

		nsitem->p_rte->requiredPerms = ACL_INSERT;
		foreach (lc, cols)
			nsitem->p_rte->insertedCols =
				bms_add_member(nsitem->p_rte->insertedCols,
							   get_attnum(relid, strVal(lfirst(lc))) - FirstLowInvalidHeapAttributeNumber);
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
		Oid track_fn = DirectPathAllowed(rel);

		row_lines = &rl;
		errcb.callback = RowLinesContext;
		errcb.arg = &rl;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		if (OidIsValid(track_fn))
			WriteDirect(ing, rel, pstate, cols, options, track_fn);
		else
		{
			copy_lines_cap = (int) Max(Min(ing->values, COPY_CHUNK), 1);
			copy_lines = palloc(sizeof(long) * copy_lines_cap);
			rl.line = copy_lines;
			while (!ing->copy_eof)
			{
				ing->copy_state = 0;
				ing->copy_chunk = 0;
				/* before BeginCopyFrom, which reads the binary header (and the rows after it) already */
				rl.n = 0;
				rl.sending = false;
				cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, ReadingSource, cols, options);
				rl.cstate = cstate;
				CopyFrom(cstate);
				rl.cstate = NULL;
				EndCopyFrom(cstate);
			}
			pfree(copy_lines);
		}
		error_context_stack = errcb.previous;
	}
	PG_FINALLY();
	{
		copy_ingest = NULL;
		row_lines = NULL;
		copy_lines = NULL;
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
FlushUpsert(Ingest *ing, SPIPlanPtr plan, bool plain, Pending *buf, int n)
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
	if (plain ? ret < 0 : ret != SPI_OK_SELECT)
		elog(ERROR, "could not write readings: %s", SPI_result_code_string(ret));
	if (!plain)
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

/* Every reading of the file through plan, UPSERT_BATCH readings a statement. */
static void
UpsertReadings(Ingest *ing, SPIPlanPtr plan, bool plain, MemoryContext batch)
{
	int		 cap = (int) Max(Min(ing->values, UPSERT_BATCH), 1); /* sized to the file, growing up to UPSERT_BATCH */
	Pending *buf = palloc(sizeof(Pending) * cap);
	int		 n = 0;
	int		 seq = 0;

	while (car_ingest_next(ing, false))
	{
		int k;

		for (k = 0; k < ing->rec.nvalues; k++)
		{
			if (n == cap)
			{
				cap = GrownCap(cap, UPSERT_BATCH);
				buf = repalloc(buf, sizeof(Pending) * cap);
			}
			buf[n].meter = ing->rec_meter->id;
			buf[n].ts = ing->rec_ts[k];
			buf[n].q = ing->rec.value[k] * ing->rec_meter->to_meter_unit;
			if (isinf(buf[n].q))
				OutOfRange(ing, ing->rec_meter);
			buf[n].seq = seq++;
			if (++n == UPSERT_BATCH)
			{
				MemoryContext old = MemoryContextSwitchTo(batch);

				FlushUpsert(ing, plan, plain, buf, n);
				MemoryContextSwitchTo(old);
				MemoryContextReset(batch);
				n = 0;
			}
		}
	}
	FlushUpsert(ing, plan, plain, buf, n);
	pfree(buf);
}

/*
 * Write readings where stored ones may exist: the later file's value wins,
 * and an actual replaces an estimate.  plain: a file that repeats nothing
 * and overlaps no stored reading, written with a plain INSERT (no ON
 * CONFLICT, no CTE), which car.reading's rules rewrite as they rewrite any
 * INSERT (an INSERT ... ON CONFLICT into a table with INSERT or UPDATE
 * rules is refused by PostgreSQL).
 */
static void
WriteWithUpsert(Ingest *ing, bool plain)
{
	Oid			  types[4] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, INT4OID};
	SPIPlanPtr	  plan;
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "car upsert batch", ALLOCSET_DEFAULT_SIZES);

	/* changed counts the stored values this batch replaces (the statement's snapshot: before the upsert) */
	/* car 1.0's tables have no estimates: the same without quality and method */
	plan = SPI_prepare(plain ? "INSERT INTO car.reading (meter_id, ts, quantity, file_id) "
							   "SELECT m, t, q, $4 FROM unnest($1, $2, $3) AS u(m, t, q)"
					   : car_schema_1_0()
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
		UpsertReadings(ing, plan, plain, batch);
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
	PolicyChecks pc;
	Relation	 rel;
	bool		 rules;

	if (ing->values == 0)
		return;
	/* car.reading's row-level security for this user's INSERT, which the COPY paths apply themselves */
	rel = table_open(get_relname_relid("reading", get_namespace_oid("car", false)), RowExclusiveLock);
	ReadPolicyChecks(rel, &pc);
	/* rules of car.reading (only its owner makes them), which COPY does not apply: INSERT does */
	rules = rel->rd_rel->relhasrules;
	table_close(rel, NoLock);
	writing_ingest = ing;
	PG_TRY();
	{
		/*
		 * a file that repeats a (meter, ts) goes straight to the upsert path,
		 * where the later line wins; so does one under policies of car.reading
		 * the COPY paths cannot apply.  Under rules of car.reading, a file
		 * that neither repeats nor overlaps goes through a plain INSERT,
		 * which the rules rewrite; any other file through the upsert, which
		 * PostgreSQL refuses under INSERT or UPDATE rules, as it refuses any
		 * INSERT ... ON CONFLICT.
		 */
		copy_policy = pc.n > 0 ? &pc : NULL;
		if (rules && !ing->has_repeats && !Overlaps(ing))
		{
			copy_policy = NULL;
			WriteWithUpsert(ing, true);
		}
		else if (rules || ing->has_repeats || pc.other || Overlaps(ing) ||
				 !car_try_subxact(CopyAll, ing, ERRCODE_UNIQUE_VIOLATION, ERRCODE_UNIQUE_VIOLATION))
		{
			HASH_SEQ_STATUS st;
			MeterEntry	   *m;

			copy_policy = NULL;
			/* the file's meter-days in compacted months go back to rows first (compact.c says why) */
			hash_seq_init(&st, ing->meters);
			while ((m = hash_seq_search(&st)) != NULL)
				if (m->id > 0)
					(void) car_uncompact_span(m->id, m->first_reading, m->last_reading);
			ing->written = 0;
			WriteWithUpsert(ing, false);
		}
	}
	PG_FINALLY();
	{
		copy_policy = NULL;
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
