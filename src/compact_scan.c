/*
 * compact_scan.c
 *		Reading a compacted month of car.reading: the planner hooks and the
 *		custom scan "CarCompactedScan".
 *
 * When the planner meets a partition of car.reading whose month is
 * compacted (car.compacted_month), it gets one path: a custom scan of that
 * partition whose tuples have the partition's own row type.  The scan
 * returns first the partition's heap rows (readings written since the
 * month was compacted, not yet packed again), then every reading of the
 * month's car.reading_day partition, unpacked.  The rel's quals, row-level
 * security's among them, are evaluated on each tuple (ExecScan), so a
 * reader sees exactly the rows a heap scan would give.  Quals of the form
 * meter_id = <expr> and ts <op> <expr> whose expression does not depend on
 * the row (a constant, or a parameter such as the refresh's lateral meter
 * and day) are evaluated when the scan starts and restarts: the meter picks
 * the days through car.reading_day's primary key, the times bound the days
 * unpacked.
 *
 * UPDATE, DELETE and row locks (FOR UPDATE/SHARE) of a compacted partition
 * are refused: its rows are not heap tuples.
 *
 * Which partitions are compacted is cached per backend, keyed by the
 * partition's oid, and marked stale by a relcache invalidation of
 * car.compacted_month (car.compact and car.uncompact send one); it is read
 * again, straight from the table, the next time the planner asks.
 */
#include "car.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/plancat.h"
#include "optimizer/planmain.h"
#include "optimizer/prep.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compact.h"

/* ------------------------------------------------------------ cache */

typedef struct Compacted
{
	Oid	  partition;  /* key: car.reading_pYYYYMM */
	Oid	  day_rel;	  /* car.reading_day_pYYYYMM */
	int64 readings;	  /* as car.compacted_month records them (0 when not registered) */
	bool  registered; /* in car.compacted_month; else uncompacted since, its compact rows deleted */
} Compacted;

static HTAB *compacted = NULL;
static bool	 compacted_valid = false;
static bool	 compacted_loading = false;
static Oid	 registry_oid = InvalidOid;
static Oid	 day_parent_oid = InvalidOid; /* car.reading_day: a partition made or dropped */

static void
CompactedInvalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == registry_oid || relid == day_parent_oid)
		compacted_valid = false;
	else if (compacted != NULL && compacted_valid && hash_search(compacted, &relid, HASH_FIND, NULL) != NULL)
		compacted_valid = false;
}

/*
 * Read car.compacted_month and the partitions of car.reading_day into the
 * cache (straight from the catalogs: no SPI inside the planner).  A month
 * with a compact partition but no registry row was uncompacted: its compact
 * rows are deleted, yet a snapshot from before the uncompaction still sees
 * them (and not the rows written back), so it is read through the scan too
 * until car.maintenance() drops the compact partition.
 */
static void
CompactedLoad(void)
{
	HASHCTL		ctl;
	Oid			nsp;
	Oid			day_parent;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *days;
	ListCell   *lc;

	if (compacted != NULL)
		hash_destroy(compacted);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(Compacted);
	ctl.hcxt = CacheMemoryContext;
	compacted = hash_create("car compacted months", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	compacted_valid = true;
	registry_oid = InvalidOid;
	day_parent_oid = InvalidOid;
	nsp = get_namespace_oid("car", true);
	if (!OidIsValid(nsp))
		return;
	registry_oid = get_relname_relid("compacted_month", nsp);
	if (!OidIsValid(registry_oid))
		return;
	rel = table_open(registry_oid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool	isnull;
		DateADT month = DatumGetDateADT(heap_getattr(tup, 1, RelationGetDescr(rel), &isnull));
		Datum	readings = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		int		y,
			m,
			d;
		char	   reading[NAMEDATALEN];
		char	   day[NAMEDATALEN];
		Oid		   part;
		Compacted *c;

		j2date(month + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		car_compact_names(y * 12 + m - 1, reading, day);
		part = get_relname_relid(reading, nsp);
		if (!OidIsValid(part))
			continue;
		c = hash_search(compacted, &part, HASH_ENTER, NULL);
		c->day_rel = get_relname_relid(day, nsp);
		c->readings = isnull ? 0 : DatumGetInt64(readings);
		c->registered = true;
		if (!OidIsValid(c->day_rel))
			elog(ERROR, "car: month %04d-%02d is compacted but car.%s is missing", y, m, day);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	day_parent = get_relname_relid("reading_day", nsp);
	day_parent_oid = day_parent;
	if (!OidIsValid(day_parent))
		return;
	days = find_inheritance_children(day_parent, NoLock);
	foreach (lc, days)
	{
		char *name = get_rel_name(lfirst_oid(lc));
		char  reading[NAMEDATALEN];
		char  day[NAMEDATALEN];
		int	  y,
			m;
		bool	   found;
		Oid		   part;
		Compacted *c;

		if (name == NULL || sscanf(name, "reading_day_p%4d%2d", &y, &m) != 2 || m < 1 || m > 12)
			continue;
		car_compact_names(y * 12 + m - 1, reading, day);
		part = get_relname_relid(reading, nsp);
		if (!OidIsValid(part))
			continue;
		c = hash_search(compacted, &part, HASH_ENTER, &found);
		if (found)
			continue;
		c->day_rel = lfirst_oid(lc);
		c->readings = 0;
		c->registered = false;
	}
	list_free(days);
}

/* Is relid a compacted partition?  *out gets a copy of its entry. */
static bool
CompactedLookup(Oid relid, Compacted *out)
{
	Compacted *c;

	if (car_compact_moving || compacted_loading || !IsTransactionState())
		return false;
	if (!compacted_valid)
	{
		compacted_loading = true;
		PG_TRY();
		{
			CompactedLoad();
		}
		PG_FINALLY();
		{
			compacted_loading = false;
		}
		PG_END_TRY();
	}
	if (hash_get_num_entries(compacted) == 0)
		return false;
	c = hash_search(compacted, &relid, HASH_FIND, NULL);
	if (c == NULL)
		return false;
	*out = *c;
	return true;
}

/* car.compact and car.uncompact changed car.compacted_month: every backend (this one included) reads it again. */
void
car_compact_changed(void)
{
	Oid reg = get_relname_relid("compacted_month", get_namespace_oid("car", false));

	CacheInvalidateRelcacheByRelid(reg);
	compacted_valid = false;
}

/* ------------------------------------------------------------ planning */

/* What a custom_exprs entry bounds (custom_private's second list). */
enum
{
	KEY_METER_EQ,
	KEY_TS_EQ,
	KEY_TS_LO, /* ts >= or > expr */
	KEY_TS_HI  /* ts <= or < expr */
};

static set_rel_pathlist_hook_type  prev_set_rel_pathlist = NULL;
static get_relation_info_hook_type prev_get_relation_info = NULL;
static CustomPathMethods		   path_methods;
static CustomScanMethods		   scan_methods;
static CustomExecMethods		   exec_methods;

/* A compacted partition's rows count as the readings it holds, for the estimates of its parent and joins. */
static void
CompactRelationInfo(PlannerInfo *root, Oid relid, bool inhparent, RelOptInfo *rel)
{
	Compacted c;

	if (prev_get_relation_info)
		prev_get_relation_info(root, relid, inhparent, rel);
	if (inhparent || !CompactedLookup(relid, &c))
		return;
	/* about 10 bytes a reading (bench section compact) */
	rel->tuples = Max(rel->tuples, (double) c.readings);
	rel->pages = Max(rel->pages, (BlockNumber) (c.readings * 10 / BLCKSZ + 1));
}

/* The attribute number of a column of the rel's table. */
static AttrNumber
ColumnOf(RangeTblEntry *rte, const char *name)
{
	return get_attnum(rte->relid, name);
}

/*
 * From a restriction clause, a bound the scan can use: Var(meter_id) = expr
 * or Var(ts) <op> expr (either side), expr free of this rel's columns and of
 * volatile functions.  Returns false if the clause is no such bound.
 */
static bool
BoundOf(RestrictInfo *ri, RelOptInfo *rel, AttrNumber meter_att, AttrNumber ts_att, Expr **expr, int *kind)
{
	OpExpr *op;
	Node   *l,
		*r;
	Var *var;
	Oid	 fn;
	bool var_left;

	if (!IsA(ri->clause, OpExpr) || ri->pseudoconstant || !restriction_is_securely_promotable(ri, rel))
		return false;
	op = (OpExpr *) ri->clause;
	if (list_length(op->args) != 2)
		return false;
	l = strip_implicit_coercions(linitial(op->args));
	r = strip_implicit_coercions(lsecond(op->args));
	if (IsA(l, Var) && ((Var *) l)->varno == rel->relid && ((Var *) l)->varlevelsup == 0)
	{
		var = (Var *) l;
		*expr = (Expr *) lsecond(op->args);
		var_left = true;
	}
	else if (IsA(r, Var) && ((Var *) r)->varno == rel->relid && ((Var *) r)->varlevelsup == 0)
	{
		var = (Var *) r;
		*expr = (Expr *) linitial(op->args);
		var_left = false;
	}
	else
		return false;
	if (contain_var_clause((Node *) *expr) || contain_volatile_functions((Node *) *expr))
		return false;
	fn = get_opcode(op->opno);
	if (var->varattno == meter_att && fn == F_INT4EQ)
	{
		*kind = KEY_METER_EQ;
		return true;
	}
	if (var->varattno != ts_att)
		return false;
	switch (fn)
	{
		case F_TIMESTAMPTZ_EQ:
			*kind = KEY_TS_EQ;
			return true;
		case F_TIMESTAMPTZ_GE:
		case F_TIMESTAMPTZ_GT:
			*kind = var_left ? KEY_TS_LO : KEY_TS_HI;
			return true;
		case F_TIMESTAMPTZ_LE:
		case F_TIMESTAMPTZ_LT:
			*kind = var_left ? KEY_TS_HI : KEY_TS_LO;
			return true;
		default:
			return false;
	}
}

/* What a scan of a compacted partition refuses to give a row to (custom_private's third list). */
enum
{
	REFUSE_NONE,
	REFUSE_DELETE,
	REFUSE_UPDATE,
	REFUSE_LOCK
};

static void
RefuseWrite(Oid relid, int refuse)
{
	const char *what = refuse == REFUSE_DELETE ? "delete" : refuse == REFUSE_UPDATE ? "update"
																					: "lock";
	char	   *name = get_rel_name(relid);
	int			y = 0,
		m = 0;

	if (name != NULL)
		(void) sscanf(name, "reading_p%4d%2d", &y, &m);
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					errmsg("cannot %s readings of %04d-%02d: the month is compacted", what, y, m),
					errdetail("A compacted month's readings are stored one row per meter and day in "
							  "car.reading_day; they are read through car.reading but not changed in place."),
					errhint("SELECT car.uncompact('%04d-%02d-01') first; car.maintenance() compacts it again later.",
							y, m)));
}

/*
 * A transaction-snapshot transaction (REPEATABLE READ, SERIALIZABLE) whose
 * snapshot still sees an uncompacted month's compact rows began before the
 * uncompaction: its reading of the month is no longer the one writable, as
 * when a row it sees was deleted since.
 */
static void
RefuseIfSnapshotSeesDays(Oid relid, Oid day_oid)
{
	Relation		day;
	TableScanDesc	scan;
	TupleTableSlot *slot;
	bool			sees;

	if (!IsolationUsesXactSnapshot())
		return;
	day = try_table_open(day_oid, AccessShareLock);
	if (day == NULL)
		return; /* dropped: no snapshot saw its rows */
	slot = table_slot_create(day, NULL);
	scan = table_beginscan(day, GetTransactionSnapshot(), 0, NULL);
	sees = table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(day, AccessShareLock);
	if (sees)
		ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						errmsg("could not serialize access due to concurrent update"),
						errdetail("The month of %s was uncompacted (car.uncompact) after this transaction's "
								  "snapshot was taken.",
								  get_rel_name(relid)),
						errhint("Retry the transaction.")));
}

static void
CompactSetRelPathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	Compacted	c;
	CustomPath *path;
	ListCell   *lc;
	int			refuse = REFUSE_NONE;

	if (prev_set_rel_pathlist)
		prev_set_rel_pathlist(root, rel, rti, rte);
	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_RELATION || rte->inh || IS_DUMMY_REL(rel) ||
		!CompactedLookup(rte->relid, &c))
		return;
	/*
	 * Written or locked: refused when the scan yields a row (its rows are not
	 * heap tuples), not when planned, so that a DELETE or UPDATE of
	 * car.reading whose conditions match nothing in the compacted months
	 * (DELETE ... WHERE meter_id = ...) still runs.
	 */
	if (bms_is_member(rti, root->all_result_relids))
		refuse = root->parse->commandType == CMD_DELETE ? REFUSE_DELETE : REFUSE_UPDATE;
	foreach (lc, root->rowMarks)
	{
		PlanRowMark *rc = lfirst(lc);

		if (rc->rti == rti && refuse == REFUSE_NONE)
			refuse = REFUSE_LOCK;
	}
	/*
	 * An uncompacted month's rows are heap rows again: written or locked
	 * through the ordinary paths, unless the transaction's snapshot predates
	 * the uncompaction (it would change none of the readings it sees).
	 */
	if (!c.registered && refuse != REFUSE_NONE)
	{
		RefuseIfSnapshotSeesDays(rte->relid, c.day_rel);
		return;
	}

	path = makeNode(CustomPath);
	path->path.pathtype = T_CustomScan;
	path->path.parent = rel;
	path->path.pathtarget = rel->reltarget;
	path->path.param_info = NULL;
	path->path.parallel_aware = false;
	path->path.parallel_safe = rel->consider_parallel;
	path->path.parallel_workers = 0;
	path->path.rows = rel->rows;
	path->path.startup_cost = 0;
	/* a seq scan of the compact pages, and per reading what a heap scan pays per tuple (less visibility) */
	path->path.total_cost = seq_page_cost * (c.readings * 10.0 / BLCKSZ + 1) + cpu_operator_cost * c.readings +
							cpu_tuple_cost * rel->rows;
	/* uncompacted: its readings are heap rows again, all read in sequence */
	if (!c.registered)
		path->path.total_cost += seq_page_cost * rel->pages + cpu_tuple_cost * rel->tuples;
	path->path.pathkeys = NIL;
	path->flags = CUSTOMPATH_SUPPORT_PROJECTION; /* ExecScan projects */
	path->custom_paths = NIL;
	path->custom_private = list_make2(list_make1_oid(c.day_rel), list_make1_int(refuse));
	path->methods = &path_methods;
	/* DDL on the compact partition invalidates plans that read it */
	root->glob->relationOids = lappend_oid(root->glob->relationOids, c.day_rel);

	rel->pathlist = NIL;
	rel->partial_pathlist = NIL;
	add_path(rel, &path->path);
}

static Plan *
PlanCompactPath(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *clauses,
				List *custom_plans)
{
	CustomScan	  *cscan = makeNode(CustomScan);
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	AttrNumber	   meter_att = ColumnOf(rte, "meter_id");
	AttrNumber	   ts_att = ColumnOf(rte, "ts");
	List		  *exprs = NIL;
	List		  *kinds = NIL;
	ListCell	  *lc;

	foreach (lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr		 *expr;
		int			  kind;

		if (BoundOf(ri, rel, meter_att, ts_att, &expr, &kind))
		{
			exprs = lappend(exprs, copyObject(expr));
			kinds = lappend_int(kinds, kind);
		}
	}
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = extract_actual_clauses(clauses, false);
	cscan->scan.scanrelid = rel->relid;
	cscan->flags = best_path->flags;
	cscan->custom_scan_tlist = NIL;
	cscan->custom_exprs = exprs;
	cscan->custom_private = list_make3(linitial(best_path->custom_private), kinds, lsecond(best_path->custom_private));
	cscan->methods = &scan_methods;
	return &cscan->scan.plan;
}

/* ------------------------------------------------------------ execution */

typedef struct CompactState
{
	CustomScanState css;
	Oid				day_oid;
	List		   *kinds;
	List		   *bounds; /* ExprStates of custom_exprs */
	bool			bounds_done;
	bool			empty;	  /* a bound is NULL, or two meters: no row can match */
	bool			by_meter; /* through the primary key */
	int32			meter;
	DateADT			day_lo;
	DateADT			day_hi;
	/* the partition's own rows */
	TupleTableSlot *heap_slot;
	TableScanDesc	heap_scan;
	bool			heap_done;
	/* the compact rows */
	Relation		day_rel;
	Relation		day_index;
	TupleTableSlot *day_slot;
	TableScanDesc	day_scan;
	IndexScanDesc	day_iscan;
	bool			day_done;
	MemoryContext	day_cxt;
	CarDay			cur;
	int				pos;
	Datum			actual;
	AttrNumber		att_meter;
	AttrNumber		att_ts;
	AttrNumber		att_q;
	AttrNumber		att_file;
	AttrNumber		att_quality;
	AttrNumber		att_method;
	int64			days_read;
	int				refuse; /* REFUSE_*: the plan writes or locks this partition's rows */
} CompactState;

static Node *
CreateCompactState(CustomScan *cscan)
{
	CompactState *s = (CompactState *) newNode(sizeof(CompactState), T_CustomScanState);

	s->css.methods = &exec_methods;
	s->day_oid = linitial_oid(linitial(cscan->custom_private));
	s->kinds = lsecond(cscan->custom_private);
	s->refuse = linitial_int(lthird(cscan->custom_private));
	return (Node *) s;
}

static AttrNumber
AttOf(TupleDesc desc, const char *name)
{
	int i;

	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
			return i;
	elog(ERROR, "car: a partition of car.reading has no column %s", name);
	return -1;
}

static void
BeginCompact(CustomScanState *node, EState *estate, int eflags)
{
	CompactState *s = (CompactState *) node;
	CustomScan	 *cscan = (CustomScan *) node->ss.ps.plan;
	TupleDesc	  desc = RelationGetDescr(node->ss.ss_currentRelation);
	Oid			  pk;

	s->bounds = ExecInitExprList(cscan->custom_exprs, &node->ss.ps);
	/*
	 * Gone since planning: car.maintenance() drops an uncompacted month's
	 * compact partition once no snapshot can see its rows, this one's
	 * included, so there is nothing of it to read.
	 */
	s->day_rel = try_table_open(s->day_oid, AccessShareLock);
	if (s->day_rel != NULL)
	{
		pk = RelationGetPrimaryKeyIndex(s->day_rel);
		if (!OidIsValid(pk))
			elog(ERROR, "car: %s has no primary key", RelationGetRelationName(s->day_rel));
		s->day_index = index_open(pk, AccessShareLock);
		s->day_slot = table_slot_create(s->day_rel, &estate->es_tupleTable);
	}
	s->heap_slot = table_slot_create(node->ss.ss_currentRelation, &estate->es_tupleTable);
	s->day_cxt = AllocSetContextCreate(estate->es_query_cxt, "car compacted day", ALLOCSET_DEFAULT_SIZES);
	s->actual = CStringGetTextDatum("actual");
	s->att_meter = AttOf(desc, "meter_id");
	s->att_ts = AttOf(desc, "ts");
	s->att_q = AttOf(desc, "quantity");
	s->att_file = AttOf(desc, "file_id");
	s->att_quality = AttOf(desc, "quality");
	s->att_method = AttOf(desc, "method");
}

static DateADT
UtcDate(TimestampTz ts)
{
	TimestampTz d = ts / USECS_PER_DAY;

	if (ts < 0 && ts % USECS_PER_DAY != 0)
		d--;
	return (DateADT) d;
}

/* The bounds' values for this (re)scan. */
static void
EvalBounds(CompactState *s)
{
	ExprContext *econtext = s->css.ss.ps.ps_ExprContext;
	ListCell	*le,
		*lk;

	s->empty = false;
	s->by_meter = false;
	s->day_lo = DATEVAL_NOBEGIN;
	s->day_hi = DATEVAL_NOEND;
	forboth(le, s->bounds, lk, s->kinds)
	{
		bool  isnull;
		Datum v = ExecEvalExprSwitchContext((ExprState *) lfirst(le), econtext, &isnull);
		int	  kind = lfirst_int(lk);

		if (isnull)
		{
			s->empty = true;
			continue;
		}
		if (kind == KEY_METER_EQ)
		{
			if (s->by_meter && s->meter != DatumGetInt32(v))
				s->empty = true;
			s->by_meter = true;
			s->meter = DatumGetInt32(v);
			continue;
		}
		if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(v)))
			continue;
		/* a UK day lies within a day of its UTC date either side */
		if (kind == KEY_TS_EQ || kind == KEY_TS_LO)
			s->day_lo = Max(s->day_lo, UtcDate(DatumGetTimestampTz(v)) - 1);
		if (kind == KEY_TS_EQ || kind == KEY_TS_HI)
			s->day_hi = Min(s->day_hi, UtcDate(DatumGetTimestampTz(v)) + 1);
	}
	if (s->day_lo > s->day_hi || s->day_rel == NULL)
		s->empty = true;
	s->bounds_done = true;
}

/* The next compact row in the bounds into s->cur; false at the end. */
static bool
NextDay(CompactState *s)
{
	EState *estate = s->css.ss.ps.state;

	for (;;)
	{
		Datum	values[RD_NATTS];
		bool	nulls[RD_NATTS];
		int		i;
		DateADT day;

		if (s->by_meter)
		{
			if (s->day_iscan == NULL)
			{
				ScanKeyData keys[3];

				ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(s->meter));
				ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_DATE_GE, DateADTGetDatum(s->day_lo));
				ScanKeyInit(&keys[2], 2, BTLessEqualStrategyNumber, F_DATE_LE, DateADTGetDatum(s->day_hi));
				s->day_iscan = index_beginscan(s->day_rel, s->day_index, estate->es_snapshot, 3, 0);
				index_rescan(s->day_iscan, keys, 3, NULL, 0);
			}
			if (!index_getnext_slot(s->day_iscan, ForwardScanDirection, s->day_slot))
				return false;
		}
		else
		{
			if (s->day_scan == NULL)
				s->day_scan = table_beginscan(s->day_rel, estate->es_snapshot, 0, NULL);
			if (!table_scan_getnextslot(s->day_scan, ForwardScanDirection, s->day_slot))
				return false;
		}
		slot_getallattrs(s->day_slot);
		for (i = 0; i < RD_NATTS; i++)
		{
			values[i] = s->day_slot->tts_values[i];
			nulls[i] = s->day_slot->tts_isnull[i];
		}
		day = DatumGetDateADT(values[RD_DAY]);
		if (day < s->day_lo || day > s->day_hi)
			continue;
		MemoryContextReset(s->day_cxt);
		{
			MemoryContext old = MemoryContextSwitchTo(s->day_cxt);

			car_unpack_day(values, nulls, &s->cur);
			MemoryContextSwitchTo(old);
		}
		s->pos = 0;
		s->days_read++;
		return true;
	}
}

static TupleTableSlot *
CompactNext(ScanState *ss)
{
	CompactState   *s = (CompactState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	CarReading		r;

	if (!s->heap_done)
	{
		if (s->heap_scan == NULL)
			s->heap_scan = table_beginscan(ss->ss_currentRelation, ss->ps.state->es_snapshot, 0, NULL);
		if (table_scan_getnextslot(s->heap_scan, ForwardScanDirection, s->heap_slot))
		{
			int natts = slot->tts_tupleDescriptor->natts;

			/*
			 * The quals are compiled for the scan slot's type (virtual): the
			 * heap tuple's values go there (they stay valid while the heap
			 * slot keeps its buffer, until the next fetch).
			 */
			slot_getallattrs(s->heap_slot);
			ExecClearTuple(slot);
			slot->tts_tableOid = RelationGetRelid(ss->ss_currentRelation);
			memcpy(slot->tts_values, s->heap_slot->tts_values, sizeof(Datum) * natts);
			memcpy(slot->tts_isnull, s->heap_slot->tts_isnull, sizeof(bool) * natts);
			return ExecStoreVirtualTuple(slot);
		}
		s->heap_done = true;
	}
	if (!s->bounds_done)
		EvalBounds(s);
	while (s->pos >= s->cur.n)
	{
		if (s->empty || s->day_done || !NextDay(s))
		{
			s->day_done = true;
			return ExecClearTuple(slot);
		}
	}
	car_day_reading(&s->cur, s->pos, s->actual, &r);
	s->pos++;
	ExecClearTuple(slot);
	slot->tts_tableOid = RelationGetRelid(ss->ss_currentRelation); /* tableoid reads as the partition's */
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	slot->tts_values[s->att_meter] = Int32GetDatum(s->cur.meter_id);
	slot->tts_isnull[s->att_meter] = false;
	slot->tts_values[s->att_ts] = TimestampTzGetDatum(r.ts);
	slot->tts_isnull[s->att_ts] = false;
	slot->tts_values[s->att_q] = Float8GetDatum(r.quantity);
	slot->tts_isnull[s->att_q] = false;
	slot->tts_values[s->att_file] = Int32GetDatum(r.file_id);
	slot->tts_isnull[s->att_file] = r.file_null;
	slot->tts_values[s->att_quality] = r.quality;
	slot->tts_isnull[s->att_quality] = false;
	slot->tts_values[s->att_method] = r.method;
	slot->tts_isnull[s->att_method] = r.method_null;
	return ExecStoreVirtualTuple(slot);
}

/* Every tuple CompactNext returns is visible: the quals are all there is to check. */
static bool
CompactRecheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
ExecCompact(CustomScanState *node)
{
	CompactState   *s = (CompactState *) node;
	ProjectionInfo *proj = node->ss.ps.ps_ProjInfo;
	TupleTableSlot *slot;

	if (s->refuse == REFUSE_NONE)
		return ExecScan(&node->ss, CompactNext, CompactRecheck);
	/* a row that passes the quals would be written or locked: refused before it is projected (it has no ctid) */
	node->ss.ps.ps_ProjInfo = NULL;
	slot = ExecScan(&node->ss, CompactNext, CompactRecheck);
	node->ss.ps.ps_ProjInfo = proj;
	if (!TupIsNull(slot))
		RefuseWrite(RelationGetRelid(node->ss.ss_currentRelation), s->refuse);
	return slot;
}

static void
CloseScans(CompactState *s)
{
	if (s->heap_scan != NULL)
		table_endscan(s->heap_scan);
	if (s->day_scan != NULL)
		table_endscan(s->day_scan);
	if (s->day_iscan != NULL)
		index_endscan(s->day_iscan);
	s->heap_scan = NULL;
	s->day_scan = NULL;
	s->day_iscan = NULL;
}

static void
EndCompact(CustomScanState *node)
{
	CompactState *s = (CompactState *) node;

	CloseScans(s);
	if (s->day_index != NULL)
		index_close(s->day_index, AccessShareLock);
	if (s->day_rel != NULL)
		table_close(s->day_rel, AccessShareLock);
}

static void
ReScanCompact(CustomScanState *node)
{
	CompactState *s = (CompactState *) node;

	CloseScans(s);
	s->heap_done = false;
	s->day_done = false;
	s->bounds_done = false;
	s->cur.n = 0;
	s->pos = 0;
	ExecScanReScan(&node->ss);
}

static void
ExplainCompact(CustomScanState *node, List *ancestors, ExplainState *es)
{
	CompactState *s = (CompactState *) node;
	ListCell	 *lk;
	bool		  meter = false,
		 times = false;
	const char *day = get_rel_name(s->day_oid);

	foreach (lk, s->kinds)
	{
		if (lfirst_int(lk) == KEY_METER_EQ)
			meter = true;
		else
			times = true;
	}
	ExplainPropertyText("Compacted Month", day != NULL ? day : "(dropped)", es);
	ExplainPropertyText("Compact Rows By", meter ? (times ? "meter and days" : "meter") : (times ? "days" : "all"),
						es);
	if (es->analyze)
		ExplainPropertyInteger("Meter-Days Unpacked", NULL, s->days_read, es);
}

void
car_compact_scan_init(void)
{
	path_methods.CustomName = "CarCompactedScan";
	path_methods.PlanCustomPath = PlanCompactPath;
	scan_methods.CustomName = "CarCompactedScan";
	scan_methods.CreateCustomScanState = CreateCompactState;
	exec_methods.CustomName = "CarCompactedScan";
	exec_methods.BeginCustomScan = BeginCompact;
	exec_methods.ExecCustomScan = ExecCompact;
	exec_methods.EndCustomScan = EndCompact;
	exec_methods.ReScanCustomScan = ReScanCompact;
	exec_methods.ExplainCustomScan = ExplainCompact;
	RegisterCustomScanMethods(&scan_methods);
	prev_set_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = CompactSetRelPathlist;
	prev_get_relation_info = get_relation_info_hook;
	get_relation_info_hook = CompactRelationInfo;
	CacheRegisterRelcacheCallback(CompactedInvalidate, (Datum) 0);
}
