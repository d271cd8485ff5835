/*
 * refresh.c
 *		car.emission_daily and its incremental refresh: the change-tracking
 *		trigger and car.refresh().
 *
 * Every statement that changes readings queues the (meter, UK local day)s it
 * touched in car.refresh_queue, through statement-level triggers with
 * transition tables, so COPY, the push API, the worker and plain SQL are all
 * seen.  A loaded, revised or removed factor set queues its year in
 * car.refresh_year.  car.refresh() takes what its snapshot sees of both
 * queues and recomputes exactly those meter-days; a change committed while it
 * runs stays queued for the next one.  Queue rows are never merged across
 * transactions (no unique key): merging would let a refresh delete a row
 * another, still uncommitted, writer relied on.
 *
 * One refresh runs at a time (an advisory lock); a second one returns 0 at
 * once rather than queueing behind the first and doing the work again.
 */
#include "car.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "pgtime.h"

PG_FUNCTION_INFO_V1(car_track_changes);
PG_FUNCTION_INFO_V1(car_refresh);
PG_FUNCTION_INFO_V1(car_refresh_pending);
PG_FUNCTION_INFO_V1(car_refresh_pending_full);
PG_FUNCTION_INFO_V1(car_emission_pending);

#define REFRESH_LOCK_KEY 1667330673 /* one car.refresh() at a time */

/* The UK local day of a reading, as SQL over a column or expression. */
#define LOCAL_DAY(ts) "(" ts " AT TIME ZONE 'Europe/London')::date"
/* The instant a UK local day starts. */
#define DAY_START(day) "(" day "::timestamp AT TIME ZONE 'Europe/London')"

static void
Exec(const char *sql, int expected)
{
	int rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "car: SPI_execute failed (%s): %s", SPI_result_code_string(rc), sql);
}

/*
 * The plan of one of car's fixed statements, prepared once per backend and
 * kept (SPI_keepplan: the plan cache replans it when what it reads
 * changes): a report calls the real-time functions once per query, and
 * planning the pricing statement costs more than running it for a few
 * hundred meter-days.  Generic (CURSOR_OPT_GENERIC_PLAN): the plan does not
 * depend on the arrays of days it is given, and the plan cache would
 * otherwise plan each of the first five calls anew for their values.  The
 * statements are a handful of fixed texts (the pricing variants of
 * Priced(), the queue and state reads), told apart by their text.
 */
static SPIPlanPtr
KeptPlan(const char *sql, int nargs, Oid *types)
{
	static struct
	{
		char	  *sql;
		SPIPlanPtr plan;
	} kept[32];
	static int n = 0;
	int		   i;
	SPIPlanPtr plan;

	for (i = 0; i < n; i++)
		if (strcmp(kept[i].sql, sql) == 0)
			return kept[i].plan;
	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "car: could not prepare: %s", SPI_result_code_string(SPI_result));
	if (n == lengthof(kept))
		return plan; /* more texts than expected: planned each time */
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "car: could not keep a plan");
	kept[n].sql = MemoryContextStrdup(TopMemoryContext, sql);
	kept[n].plan = plan;
	return kept[n++].plan;
}

/* Run a kept plan (KeptPlan) without parameters, expecting a SELECT. */
static void
ExecKept(const char *sql, bool read_only)
{
	int rc = SPI_execute_plan(KeptPlan(sql, 0, NULL), NULL, NULL, read_only, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "car: SPI_execute_plan failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* Without a state row (never refreshed) the next refresh is a full one anyway. */
static void
MarkFullRefreshNeeded(void)
{
	Exec("UPDATE car.refresh_state SET full_needed = true", SPI_OK_UPDATE);
}

/*
 * The (meter, UK day)s of a statement's changed readings, read straight from
 * its transition table: a bulk load of a million readings costs one pass
 * and a few hundred hash entries, not a query over the rows.  Readings come
 * mostly in meter and time order, so the day of the previous row (its UTC
 * bounds kept) answers most rows without a time-zone conversion.
 */
void
DayQueueInit(DayQueue *q)
{
	HASHCTL ctl;

	memset(q, 0, sizeof(*q));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(DayKey);
	ctl.entrysize = sizeof(DayEntry);
	ctl.hcxt = CurrentMemoryContext;
	q->set = hash_create("car changed meter-days", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	q->london = pg_tzset("Europe/London");
	if (q->london == NULL)
		elog(ERROR, "car: the time zone Europe/London is not known");
	q->day_lo = q->day_hi = 0;
}

/* UTC instant of local midnight starting the London day with julian date jd */
static TimestampTz
LondonMidnight(DayQueue *q, int jd)
{
	struct pg_tm tm;
	int			 tz;
	TimestampTz	 result;

	memset(&tm, 0, sizeof(tm));
	j2date(jd, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tz = DetermineTimeZoneOffset(&tm, q->london);
	if (tm2timestamp(&tm, 0, &tz, &result) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	return result;
}

static int32
LondonDay(DayQueue *q, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		 fsec;
	int			 tz;
	int			 jd;

	if (ts >= q->day_lo && ts < q->day_hi)
		return q->day_last;
	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, &tz, &tm, &fsec, NULL, q->london) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	jd = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	q->day_last = jd - POSTGRES_EPOCH_JDATE;
	q->day_lo = LondonMidnight(q, jd);
	q->day_hi = LondonMidnight(q, jd + 1);
	return q->day_last;
}

/* Count one changed reading (quantity: when the statement has it) under its meter and UK day. */
void
DayQueueAdd(DayQueue *q, int32 meter_id, TimestampTz ts, bool has_quantity, double quantity)
{
	DayKey key;

	key.meter_id = meter_id;
	key.day = LondonDay(q, ts);
	if (q->count == 0 || ts < q->min_ts)
		q->min_ts = ts;
	if (q->count == 0 || ts > q->max_ts)
		q->max_ts = ts;
	q->count++;
	if (q->prev == NULL || key.meter_id != q->prev->key.meter_id || key.day != q->prev->key.day)
	{
		bool found;

		q->prev = hash_search(q->set, &key, HASH_ENTER, &found);
		if (!found)
		{
			q->prev->quantity = 0;
			q->prev->start = q->day_lo; /* LondonDay just set the day's bounds */
			q->prev->count = 0;
			q->prev->first = q->prev->last = ts;
		}
	}
	q->prev->count++;
	if (ts < q->prev->first)
		q->prev->first = ts;
	if (ts > q->prev->last)
		q->prev->last = ts;
	if (has_quantity)
		q->prev->quantity += quantity;
}

void
DayQueueScan(DayQueue *q, Tuplestorestate *rows, TupleDesc desc)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int				meter_att = SPI_fnumber(desc, "meter_id");
	int				ts_att = SPI_fnumber(desc, "ts");
	int				quantity_att = SPI_fnumber(desc, "quantity");
	int				ptr = tuplestore_alloc_read_pointer(rows, 0);

	tuplestore_select_read_pointer(rows, ptr);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool isnull;

		DayQueueAdd(q, DatumGetInt32(slot_getattr(slot, meter_att, &isnull)),
					DatumGetTimestampTz(slot_getattr(slot, ts_att, &isnull)), quantity_att > 0,
					quantity_att > 0 ? DatumGetFloat8(slot_getattr(slot, quantity_att, &isnull)) : 0);
	}
	tuplestore_select_read_pointer(rows, 0);
	ExecDropSingleTupleTableSlot(slot);
}

static void
DayQueueInsert(DayQueue *q)
{
	long			n = hash_get_num_entries(q->set);
	Datum		   *meters;
	Datum		   *days;
	HASH_SEQ_STATUS it;
	DayEntry	   *k;
	long			i = 0;
	Oid				types[2] = {INT4ARRAYOID, DATEARRAYOID};
	Datum			vals[2];

	if (n == 0)
		return;
	meters = palloc(sizeof(Datum) * n);
	days = palloc(sizeof(Datum) * n);
	hash_seq_init(&it, q->set);
	while ((k = hash_seq_search(&it)) != NULL)
	{
		meters[i] = Int32GetDatum(k->key.meter_id);
		days[i] = DateADTGetDatum(k->key.day);
		i++;
	}
	vals[0] = PointerGetDatum(construct_array(meters, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	vals[1] = PointerGetDatum(construct_array(days, n, DATEOID, sizeof(DateADT), true, TYPALIGN_INT));
	if (SPI_execute_with_args("INSERT INTO car.refresh_queue (meter_id, day) SELECT * FROM unnest($1, $2)", 2, types,
							  vals, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "car: could not queue the changed days");
}

/* The name of car's table relid ("reading", "meter"...), or NULL when it is not one of the tables tracked. */
static const char *
CarTableOf(Oid relid)
{
	static const char *const tracked[] = {"reading", "meter", "factor_set", "factor", "unit", "activity",
										  "activity_component", "activity_path"};
	Oid						 nsp = get_namespace_oid("car", false);
	size_t					 i;

	for (i = 0; i < lengthof(tracked); i++)
		if (get_relname_relid(tracked[i], nsp) == relid)
			return tracked[i];
	return NULL;
}

/*
 * A statement on car.meter (transition tables old_rows and new_rows, as the
 * event has them).  A meter that goes (deleted, or given another id) may not
 * leave readings behind: car.reading has no foreign key (bulk loads would pay
 * a check per row), so this is the check, and it refuses like one.  Its days
 * already in car.emission_daily and car.market_allocation are queued, so that
 * the next refresh removes them (and re-spreads what its days took of its
 * organisation's instrument volumes).  Readings already under an id that
 * comes (a meter inserted with the id of readings left by an older car) are
 * queued: from now on they count.  A meter that stays but moved to another
 * site, or whose activity, unit or interval changed (the interval decides
 * whether half-hourly matching counts its readings, market.c), has all its
 * days queued.
 */
static void
MeterChanged(TriggerData *td)
{
	bool		has_old = td->tg_oldtable != NULL;
	bool		has_new = td->tg_newtable != NULL;
	const char *gone = has_new ? "SELECT id, name FROM old_rows o WHERE NOT EXISTS "
								 "(SELECT 1 FROM new_rows n WHERE n.id OPERATOR(pg_catalog.=) o.id)"
							   : "SELECT id, name FROM old_rows";
	const char *came = has_old ? "SELECT id FROM new_rows n WHERE NOT EXISTS "
								 "(SELECT 1 FROM old_rows o WHERE o.id OPERATOR(pg_catalog.=) n.id)"
							   : "SELECT id FROM new_rows";

	if (has_old)
	{
		Exec(psprintf("SELECT g.id, g.name, r.n, " LOCAL_DAY("r.lo") "::text, " LOCAL_DAY("r.hi") "::text "
																								  "FROM (SELECT g.id, g.name FROM (%s) g WHERE EXISTS (SELECT 1 FROM car.reading r "
																								  "      WHERE r.meter_id OPERATOR(pg_catalog.=) g.id) ORDER BY g.id LIMIT 1) g "
																								  "CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS n, pg_catalog.min(r.ts) AS lo, "
																								  "  pg_catalog.max(r.ts) AS hi FROM car.reading r WHERE r.meter_id OPERATOR(pg_catalog.=) g.id) r",
					  gone),
			 SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			char *id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("meter %s (\"%s\") still has readings", id,
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
					 errdetail("%s reading(s), on UK days %s to %s; %s the meter would leave them without one.",
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3),
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4),
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5),
							   has_new ? "renumbering" : "deleting"),
					 errhint("Delete its readings first (DELETE FROM car.reading WHERE meter_id = %s), then the meter: "
							 "the next car.refresh() removes its emission rows.",
							 id)));
		}
		Exec(psprintf("INSERT INTO car.refresh_queue (meter_id, day) "
					  "SELECT e.meter_id, e.day FROM (%s) g JOIN car.emission_daily e "
					  "ON e.meter_id OPERATOR(pg_catalog.=) g.id %s",
					  gone,
					  car_schema_1_0() ? ""
									   : psprintf("UNION SELECT a.meter_id, a.day FROM (%s) g JOIN car.market_allocation a "
												  "ON a.meter_id OPERATOR(pg_catalog.=) g.id",
												  gone)),
			 SPI_OK_INSERT);
	}
	if (has_new)
		Exec(psprintf("INSERT INTO car.refresh_queue (meter_id, day) "
					  "SELECT DISTINCT r.meter_id, " LOCAL_DAY("r.ts") " FROM (%s) c "
																	   "JOIN car.reading r ON r.meter_id OPERATOR(pg_catalog.=) c.id",
					  came),
			 SPI_OK_INSERT);
	if (has_old && has_new)
		Exec(psprintf("INSERT INTO car.refresh_queue (meter_id, day) "
					  "SELECT DISTINCT r.meter_id, " LOCAL_DAY("r.ts") " FROM car.reading r "
																	   "JOIN old_rows o ON o.id OPERATOR(pg_catalog.=) r.meter_id "
																	   "JOIN new_rows n ON n.id OPERATOR(pg_catalog.=) o.id "
																	   "WHERE o.site_id OPERATOR(pg_catalog.<>) n.site_id OR o.activity OPERATOR(pg_catalog.<>) n.activity "
																	   "OR o.unit OPERATOR(pg_catalog.<>) n.unit %s",
					  car_schema_1_0() ? "" : "OR o.interval_minutes IS DISTINCT FROM n.interval_minutes"),
			 SPI_OK_INSERT);
}

/* car_queue_added_readings' work, as the trigger function's owner (the trigger's own identity). */
static void
QueueAddedReadingsAsOwner(void *arg)
{
	DayQueue *q = arg;
	int		  pin = car_spi_connect();

	DayQueueInsert(q);
	if (q->count > 0)
		car_note_new_readings(q);
	car_spi_finish(pin);
}

/*
 * Readings the ingest path wrote straight into car.reading's partitions
 * (src/ingest_write.c), where the parent's statement trigger does not fire:
 * their meter-days queued and announced exactly as car.track_changes does
 * for an INSERT into car.reading, under the same identity (the owner of
 * trigger_fn, the trigger's SECURITY DEFINER function) and search_path
 * (pg_catalog, pg_temp).
 */
void
car_queue_added_readings(DayQueue *q, Oid trigger_fn)
{
	HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(trigger_fn));
	Oid		  owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "car: cache lookup failed for function %u", trigger_fn);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	car_as_role(owner, QueueAddedReadingsAsOwner, q);
}

/*
 * car.track_changes(): trigger on car.reading (statement level, transition
 * tables new_rows/old_rows), car.meter (statement level: insert, update,
 * delete, truncate), car.factor_set (row level), car.factor (statement
 * level, and row level under replication apply) and the unit/activity
 * catalogues (statement level, and row level under replication apply).
 */
Datum
car_track_changes(PG_FUNCTION_ARGS)
{
	int			 pin;
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char	*table;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("car.track_changes() must be called as a trigger")));
	/* it runs as car's owner: only on car's own tables, known by OID, never by a name a table could borrow */
	table = CarTableOf(RelationGetRelid(td->tg_relation));
	if (table == NULL)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("car.track_changes() fired on %s, which is not one of car's tables",
							   RelationGetRelationName(td->tg_relation))));

	pin = car_spi_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "car: could not register the trigger's transition tables");

	if (strcmp(table, "reading") == 0)
	{
		if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
			MarkFullRefreshNeeded();
		else
		{
			DayQueue q;

			DayQueueInit(&q);
			if (td->tg_oldtable != NULL)
				DayQueueScan(&q, td->tg_oldtable, RelationGetDescr(td->tg_relation));
			if (td->tg_newtable != NULL)
				DayQueueScan(&q, td->tg_newtable, RelationGetDescr(td->tg_relation));
			DayQueueInsert(&q);
			/* a statement that added readings: tell listeners when the transaction commits */
			if (td->tg_oldtable == NULL && q.count > 0)
				car_note_new_readings(&q);
		}
	}
	else if (strcmp(table, "meter") == 0)
	{
		/*
		 * Backends keep what they know of meters (live.c): tell them at
		 * commit when a meter changed or went.  A meter inserted is unknown
		 * to every backend (only meters found are kept), so an insert tells
		 * no one: one relcache invalidation per push made every backend
		 * rebuild car.meter's entry, policies included, and a backend holding
		 * car.meter open through a flood of them nested one rebuild per
		 * message until its stack ran out (the soak, bench/soak.sh).
		 */
		if (!TRIGGER_FIRED_BY_INSERT(td->tg_event))
			CacheInvalidateRelcache(td->tg_relation);
		if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
			MarkFullRefreshNeeded();
		else
			MeterChanged(td);
	}
	else if (strcmp(table, "factor") == 0)
	{
		/* a published row added, edited or removed outside car.load_factors: its set's year is restated */
		if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
			MarkFullRefreshNeeded();
		else if (TRIGGER_FIRED_FOR_ROW(td->tg_event))
		{
			/* a row replication applied (factor_applied_refresh, enabled REPLICA) */
			TupleDesc desc = RelationGetDescr(td->tg_relation);
			int		  attno = SPI_fnumber(desc, "set_id");
			bool	  isnull;
			Datum	  vals[2];

			vals[0] = heap_getattr(td->tg_trigtuple, attno, desc, &isnull);
			vals[1] = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? heap_getattr(td->tg_newtuple, attno, desc, &isnull)
															: vals[0];
			if (SPI_execute_with_args("INSERT INTO car.refresh_year (year) SELECT DISTINCT s.year FROM car.factor_set s "
									  "WHERE s.id OPERATOR(pg_catalog.=) $1 OR s.id OPERATOR(pg_catalog.=) $2",
									  2, (Oid[]){INT4OID, INT4OID}, vals, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "car: could not queue factor year for refresh");
		}
		else
			Exec(psprintf("INSERT INTO car.refresh_year (year) SELECT DISTINCT s.year FROM (%s) f "
						  "JOIN car.factor_set s ON s.id OPERATOR(pg_catalog.=) f.set_id",
						  td->tg_oldtable == NULL	? "SELECT set_id FROM new_rows"
						  : td->tg_newtable == NULL ? "SELECT set_id FROM old_rows"
													: "SELECT set_id FROM old_rows UNION SELECT set_id FROM new_rows"),
				 SPI_OK_INSERT);
	}
	else if (strcmp(table, "factor_set") == 0 && TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		HeapTuple tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
		bool	  isnull;
		Datum	  year = heap_getattr(tup, SPI_fnumber(td->tg_relation->rd_att, "year"), td->tg_relation->rd_att,
									  &isnull);
		Oid		  types[1] = {INT4OID};
		Datum	  vals[1] = {year};

		if (SPI_execute_with_args("INSERT INTO car.refresh_year (year) VALUES ($1)", 1, types, vals, NULL, false,
								  0) != SPI_OK_INSERT)
			elog(ERROR, "car: could not queue factor year for refresh");
	}
	else
		/* units, activities, components: any result may change */
		MarkFullRefreshNeeded();

	car_spi_finish(pin);
	return PointerGetDatum(NULL);
}

/*
 * The columns car.refresh() writes, from "p": the meter-days to compute
 * (meter_id, day, site_id, activity, unit, quantity, ok), each priced by
 * car.emissions() when car.can_price() says it can be.  Days it cannot price
 * go back to the queue, and the statement returns (priced, set aside).
 *
 * Under car 1.1 each component row is then priced again by the custom factor
 * (car.custom_factor) of the highest tier that covers it, if any: meter over
 * site over organisation (the owner of the day, car.site_ownership), in the
 * same statement, so that pricing stays one set-based pass (the owner of the
 * day once per meter-day, then three outer joins on car.custom_factor, which
 * the planner hashes; nothing when the table is empty).
 * A custom row prices CO2e only: the quantity put in its unit times its
 * value, in numeric, rounded once.  Its unit must convert from the meter's
 * (same dimension); a row that does not is passed over.
 */
#define EMISSION_COLUMNS                                                                                           \
	"site_id, meter_id, day, month, activity, scope, component, quantity, unit, kg_co2e, kg_co2, kg_ch4, kg_n2o, " \
	"factor_set_id, factor_year, factor_id, quantity_estimated, periods_actual, periods_estimated, file_ids"
#define STORE_SET_ASIDE                                                                                  \
	"req AS (INSERT INTO car.refresh_queue (meter_id, day) SELECT meter_id, day FROM p WHERE NOT p.ok) " \
	"SELECT count(*) FILTER (WHERE p.ok), count(*) FILTER (WHERE NOT p.ok) FROM p"
/*
 * The refresh's INSERT of what PRICED (a SELECT of a variant below, columns
 * in the order given) computes from "p", then the days set aside.
 */
#define PRICE_AND_STORE "ins AS (INSERT INTO car.emission_daily (%s) %s), " STORE_SET_ASIDE
/* car 1.0's tables (a database not yet updated): published factors only */
#define PRICED_PUBLISHED                                                                                           \
	"  SELECT p.site_id, p.meter_id, p.day, date_trunc('month', p.day::timestamp)::date, p.activity, e.scope, "    \
	"  e.component, p.quantity, p.unit, e.kg_co2e, e.kg_co2, e.kg_ch4, e.kg_n2o, e.factor_set_id, e.factor_year, " \
	"  e.factor_id, p.quantity_estimated, p.periods_actual, p.periods_estimated, p.file_ids %s "                   \
	"  FROM %s CROSS JOIN LATERAL car.emissions(p.quantity, p.unit, p.activity, " DAY_START("p.day") ") e "        \
																									 "  WHERE p.ok"
/*
 * The custom row of each tier covering a component of a meter-day, as three
 * outer joins: a target's rows for one activity and component never overlap,
 * so each join finds at most one row, and the planner may hash the (small)
 * custom table once instead of probing it per row.  The unit of a row must be
 * of the meter's unit's dimension.  PICK takes a column of the winning row:
 * meter over site over organisation.
 */
#define CUSTOM_TIER(alias, column, value)                                                                             \
	"  LEFT JOIN (SELECT cf.*, cu.dimension FROM car.custom_factor cf JOIN car.unit cu ON cu.name = cf.unit) " alias  \
	" ON " alias "." column " = " value " AND " alias ".activity = p.activity AND " alias ".component = e.component " \
	"AND " alias ".dimension = p.dimension AND " alias ".valid_from <= p.day "                                        \
	"AND (" alias ".valid_to IS NULL OR " alias ".valid_to >= p.day) "
#define PICK(column) \
	"CASE WHEN cm.id IS NOT NULL THEN cm." column " WHEN cs.id IS NOT NULL THEN cs." column " ELSE co." column " END"
#define CUSTOM_ID "coalesce(cm.id, cs.id, co.id)"
/* the organisation owning p's site on p's day */
#define OWNER_OF_DAY \
	"(SELECT so.org FROM car.site_ownership so WHERE so.site_id = p.site_id AND so.valid_from <= p.day AND so.valid_to >= p.day LIMIT 1)"
#define KG_CUSTOM                                     \
	"CASE WHEN " CUSTOM_ID " IS NULL THEN e.kg_co2e " \
	"ELSE (car.convert(p.quantity, p.unit, " PICK("unit") ")::numeric * " PICK("value") ")::float8 END"
#define PRICED_CUSTOM                                                                                                                                                                                                                                  \
	"  SELECT p.site_id, p.meter_id, p.day, date_trunc('month', p.day::timestamp)::date, p.activity, e.scope, "                                                                                                                                        \
	"  e.component, p.quantity, p.unit, "                                                                                                                                                                                                              \
	"  " KG_CUSTOM ", "                                                                                                                                                                                                                                \
	"  CASE WHEN " CUSTOM_ID " IS NULL THEN e.kg_co2 END, CASE WHEN " CUSTOM_ID " IS NULL THEN e.kg_ch4 END, "                                                                                                                                         \
	"  CASE WHEN " CUSTOM_ID " IS NULL THEN e.kg_n2o END, CASE WHEN " CUSTOM_ID " IS NULL THEN e.factor_set_id END, "                                                                                                                                  \
	"  CASE WHEN " CUSTOM_ID " IS NULL THEN e.factor_year END, CASE WHEN " CUSTOM_ID " IS NULL THEN e.factor_id END, "                                                                                                                                 \
	"  p.quantity_estimated, p.periods_actual, p.periods_estimated, p.file_ids, "                                                                                                                                                                      \
	"  coalesce(" PICK("tier") ", 'published'), " PICK("set_id") ", " CUSTOM_ID " %s "                                                                                                                                                                 \
																 "  FROM (SELECT q.*, q.market_kwh AND q.quantity = 0 AS market_zero, %s AS market_alloc FROM (SELECT p.*, " MARKET_KWH " AS market_kwh FROM (SELECT p.*, " OWNER_OF_DAY " AS owner, " \
																 "    (SELECT pu.dimension FROM pu WHERE pu.unit = p.unit) AS dimension "                                                                                                              \
																 "    FROM p OFFSET 0) p OFFSET 0) q OFFSET 0) p "                                                                                                                                     \
																 "  CROSS JOIN LATERAL car.emissions(p.quantity, p.unit, p.activity, " DAY_START("p.day") ") e " CUSTOM_TIER("cm", "meter_id", "p.meter_id") CUSTOM_TIER("cs", "site_id", "p.site_id") \
																	 CUSTOM_TIER("co", "org", "p.owner") "  WHERE p.ok"
/*
 * Under car 1.1 the Scope 2 rows get their market-based figures in the same
 * INSERT, except those the allocation prices (market.c, afterwards): a row
 * of UK electricity in an energy unit (market_kwh) on a day that a residual
 * mix or an instrument of the day's owner covers (market_alloc).  The others
 * are at the grid average, flagged: their own kg CO2e, as the allocation
 * would price them (a day of no kWh prices nothing and has no basis).
 */
#define MARKET_KWH                                                                                     \
	"(coalesce((SELECT ma.level1 = 'UK electricity' FROM car.activity ma WHERE ma.key = p.activity), " \
	"  false) AND coalesce((SELECT pu.dimension = 'energy' FROM pu WHERE pu.unit = p.unit), false))"
#define MARKET_COLUMNS ", kg_co2e_market, kg_co2e_market_half_hourly, market_basis, market_flagged"
#define MARKET_PRICED  "e.scope = 2 AND NOT p.market_alloc"
#define MARKET_VALUES(kg)                                                                          \
	", CASE WHEN " MARKET_PRICED " THEN " kg " END, CASE WHEN " MARKET_PRICED " THEN " kg " END, " \
	"CASE WHEN " MARKET_PRICED " AND NOT p.market_zero THEN 'grid_average' END, "                  \
	"CASE WHEN " MARKET_PRICED " THEN NOT p.market_zero END"
/* What car 1.1 writes of each emission_daily row: every column, in the table's order. */
#define TIERED_COLUMNS EMISSION_COLUMNS ", factor_tier, custom_factor_set_id, custom_factor_id" MARKET_COLUMNS
/*
 * The SELECT pricing "p" (the columns it gives in *columns): published
 * factors only when the schema is car 1.0's or no custom factor exists (a
 * refresh of a database that uses none pays nothing for them).  Read in the
 * statement's own snapshot: a custom row committed later queues its days
 * for the next refresh anyway.  One definition for car.refresh(), which
 * stores the rows, and car.emission_pending(), which returns them.
 */
static const char *
Priced(const char **columns, bool read_only)
{
	bool isnull;
	bool custom,
		market;
	const char *alloc;

	if (car_schema_1_0())
	{
		*columns = EMISSION_COLUMNS;
		return psprintf(PRICED_PUBLISHED, "", "p");
	}
	ExecKept("SELECT EXISTS (SELECT 1 FROM car.custom_factor), "
			 "EXISTS (SELECT 1 FROM car.instrument) OR EXISTS (SELECT 1 FROM car.residual_mix)",
			 read_only);
	custom = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	market = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	/* with no instrument and no residual mix anywhere, no row is the allocation's (no probe per row) */
	alloc = market ? "q.market_kwh AND " CAR_MARKET_ALLOCATED("q.owner", "q.day") : "false";
	*columns = TIERED_COLUMNS;
	if (custom)
		return psprintf(PRICED_CUSTOM, MARKET_VALUES(KG_CUSTOM), alloc);
	/* the tier columns as their defaults say: published, no custom row */
	return psprintf(PRICED_PUBLISHED, ", 'published', NULL::int, NULL::bigint" MARKET_VALUES("e.kg_co2e"),
					psprintf("(SELECT q.*, q.market_kwh AND q.quantity = 0 AS market_zero, %s AS market_alloc "
							 "FROM (SELECT p.*, " MARKET_KWH " AS market_kwh%s FROM p OFFSET 0) q OFFSET 0) p",
							 alloc, market ? ", " OWNER_OF_DAY " AS owner" : ""));
}

/* The refresh's statement tail after "p": store what Priced() computes, set aside what it cannot price. */
static const char *
PriceAndStore(void)
{
	const char *columns;
	const char *select = Priced(&columns, false);

	return psprintf(PRICE_AND_STORE, columns, select);
}
#define MONTHS_OF_W "coalesce(array_agg(DISTINCT date_trunc('month', day::timestamp)::date), '{}')"
#define PRICEABLE	"car.can_price(m.activity, m.unit, " DAY_START("d.day") ")"

/*
 * "pu", the dimension of each unit spelling of "p" (NULL: not a unit of
 * car.unit), looked up once per spelling: car.unit_name is a SQL function
 * with its own search_path, so calling it for every meter-day cost more
 * than the pricing itself.
 */
#define UNITS_OF_P                                                              \
	"pu AS MATERIALIZED (SELECT u.unit, (SELECT mu.dimension FROM car.unit mu " \
	"  WHERE mu.name = (SELECT car.unit_name(u.unit))) AS dimension FROM (SELECT DISTINCT unit FROM p) u), "
/*
 * A reading's quantity as the numeric its day's sums add: float8 addition
 * rounds at each step, so a float8 sum depends on the order of the rows and
 * on the grouping (the full refresh sums per file first, the incremental
 * one in index order) and the two disagreed in the last bit.  Summed in
 * numeric at every level and cast to float8 once, a day's quantity is the
 * same on every path (car.float8_decimal says why not float8::numeric).
 */
#define EXACT(x) "car.float8_decimal(" x ")"
/*
 * "p", the meter-days to price, with their quantities, periods by quality
 * and files.  ALL_DAYS: every day of every reading (a full refresh), grouped
 * by file first, so that both steps hash (a DISTINCT inside an aggregate
 * would sort every reading); the sums are exact, so the grouping changes no
 * bit, and the files are in order, as GIVEN_DAYS's DISTINCT gives them.
 * GIVEN_DAYS: the days of the arrays $1 (meter
 * ids) and $2 (UK days), each read through the reading index; a day left
 * without readings is absent.
 */
#define ALL_DAYS                                                                                                                                                                                                                                     \
	"WITH f AS (SELECT meter_id, " LOCAL_DAY("ts") " AS day, file_id, sum(" EXACT("quantity") ") AS q, "                                                                                                                                             \
																							  "           sum(" EXACT("quantity") ") FILTER (WHERE quality = 'estimated') AS qe, "                                                                   \
																																  "           count(*) FILTER (WHERE quality = 'actual') AS na, "                                                    \
																																  "           count(*) FILTER (WHERE quality = 'estimated') AS ne "                                                  \
																																  "           FROM car.reading GROUP BY 1, 2, 3), "                                                                  \
																																  "d AS (SELECT meter_id, day, sum(q)::float8 AS quantity, coalesce(sum(qe), 0)::float8 AS quantity_estimated, "     \
																																  "      sum(na)::int AS periods_actual, sum(ne)::int AS periods_estimated, "                                        \
																																  "      array_agg(file_id ORDER BY file_id) FILTER (WHERE file_id IS NOT NULL) AS file_ids "                        \
																																  "      FROM f GROUP BY 1, 2), "                                                                                    \
																																  "p AS MATERIALIZED (SELECT d.meter_id, d.day, m.site_id, m.activity, m.unit, d.quantity, "                         \
																																  "                   d.quantity_estimated, d.periods_actual, d.periods_estimated, d.file_ids, " PRICEABLE " AS ok " \
																																  "                   FROM d JOIN car.meter m ON m.id = d.meter_id), " UNITS_OF_P
#define GIVEN_DAYS                                                                                                                                                                                                                                  \
	"WITH p AS MATERIALIZED ("                                                                                                                                                                                                                      \
	"  SELECT w.meter_id, w.day, m.site_id, m.activity, m.unit, d.quantity, d.quantity_estimated, "                                                                                                                                                 \
	"  d.periods_actual, d.periods_estimated, d.file_ids, "                                                                                                                                                                                         \
	"  car.can_price(m.activity, m.unit, " DAY_START("w.day") ") AS ok "                                                                                                                                                                            \
															  "  FROM unnest($1, $2) w(meter_id, day) "                                                                                                                                             \
															  "  JOIN car.meter m ON m.id = w.meter_id "                                                                                                                                            \
															  "  CROSS JOIN LATERAL (SELECT sum(" EXACT("r.quantity") ")::float8 AS quantity, count(*) AS n, "                                                                                      \
																													  "    coalesce(sum(" EXACT("r.quantity") ") FILTER (WHERE r.quality = 'estimated'), 0)::float8 AS quantity_estimated, "        \
																																							  "    (count(*) FILTER (WHERE r.quality = 'actual'))::int AS periods_actual, "         \
																																							  "    (count(*) FILTER (WHERE r.quality = 'estimated'))::int AS periods_estimated, "   \
																																							  "    array_agg(DISTINCT r.file_id) FILTER (WHERE r.file_id IS NOT NULL) AS file_ids " \
																																							  "    FROM car.reading r WHERE r.meter_id = w.meter_id "                               \
																																							  "    AND r.ts >= " DAY_START("w.day") " AND r.ts < " DAY_START("(w.day + 1)") ") d "  \
																																																											"  WHERE d.n > 0), " UNITS_OF_P
/*
 * The meter-days an incremental refresh recomputes, from the queue rows of
 * QUEUE ("q": meter_id, day) and the factor years $1 (an int[], or no
 * years): the queued ones, and for each queued factor year Y the days
 * computed with Y's set, or computed with an older set although their
 * reporting year is Y or later (a fallback a new set may end).  Gives the
 * meter ids, the days, their count and their months.
 */
#define PENDING_OF(queue)                                                 \
	"WITH q AS (" queue "), w AS (SELECT DISTINCT meter_id, day FROM q) " \
	"SELECT coalesce(array_agg(meter_id), '{}'), coalesce(array_agg(day), '{}'), count(*), " MONTHS_OF_W " FROM w"
#define PENDING_OF_YEARS(queue)                                                  \
	"WITH q AS (" queue "), "                                                    \
	"w AS (SELECT meter_id, day FROM q "                                         \
	"      UNION "                                                               \
	"      SELECT e.meter_id, e.day FROM car.emission_daily e "                  \
	"      WHERE e.factor_year = ANY ($1) "                                      \
	"      OR (e.factor_year < (SELECT max(y) FROM unnest($1) y) "               \
	"          AND EXISTS (SELECT 1 FROM unnest($1) y WHERE e.factor_year < y "  \
	"                      AND car.factor_year(" DAY_START("e.day") ") >= y))) " \
																	"SELECT coalesce(array_agg(meter_id), '{}'), coalesce(array_agg(day), '{}'), count(*), " MONTHS_OF_W " FROM w"
#define TAKE_QUEUE "DELETE FROM car.refresh_queue RETURNING meter_id, day"
#define READ_QUEUE "SELECT meter_id, day FROM car.refresh_queue"

/* Days that could not be priced by the last statement (its second column). */
static int64 unpriced;

static int64
PricedAndSetAside(void)
{
	bool isnull;

	unpriced = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Make the emission_daily partitions for the days between lo and hi (within the accepted range). */
static void
EnsureDayPartitions(const char *range_sql, int nargs, Oid *types, Datum *vals)
{
	TimestampTz accept_lo,
		accept_hi;
	bool lo_null,
		hi_null;
	Datum lo,
		hi;

	if (SPI_execute_with_args(range_sql, nargs, types, vals, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "car: could not read the range of days to refresh");
	lo = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &lo_null);
	hi = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &hi_null);
	if (lo_null || hi_null)
		return;
	car_accepted_range(&accept_lo, &accept_hi);
	/* days outside the range ingestion accepts go to the default partition */
	car_ensure_table_partitions("emission_daily", Max(DatumGetTimestampTz(lo), accept_lo),
								Min(DatumGetTimestampTz(hi), accept_hi));
}

static int64
FullRefresh(void)
{
	int64 days;

	Exec("DELETE FROM car.refresh_queue", SPI_OK_DELETE);
	Exec("DELETE FROM car.refresh_year", SPI_OK_DELETE);
	/* DELETE, not TRUNCATE: reports keep reading the old rows until this commits */
	Exec("DELETE FROM car.emission_daily", SPI_OK_DELETE);
	/* the months readings can be in: their partitions' bounds, and whatever the default holds */
	{
		TimestampTz dlo,
			dhi;
		bool  any = car_default_reading_range(&dlo, &dhi);
		Oid	  types[3] = {BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum vals[3] = {BoolGetDatum(any), TimestampTzGetDatum(dlo), TimestampTzGetDatum(dhi)};

		EnsureDayPartitions("SELECT min(lo), max(hi) FROM ("
							"  SELECT to_date(substr(c.relname, 10), 'YYYYMM')::timestamp AT TIME ZONE 'UTC' AS lo, "
							"         (to_date(substr(c.relname, 10), 'YYYYMM') + interval '1 month') AT TIME ZONE 'UTC' AS hi "
							"  FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
							"  WHERE i.inhparent = 'car.reading'::regclass AND c.relname ~ '^reading_p[0-9]{6}$' "
							"  UNION ALL SELECT $2, $3 WHERE $1) b",
							3, types, vals);
	}
	/*
	 * Per meter-day: the quantities, the periods by quality and the files
	 * behind them.  Grouped by file first, so that both steps hash (a
	 * DISTINCT inside an aggregate would sort every reading).
	 */
	Exec(car_sql_for_schema(psprintf("%s%s", ALL_DAYS, PriceAndStore())),
		 SPI_OK_SELECT);
	days = PricedAndSetAside();
	if (!car_schema_1_0())
		car_market_allocate((Datum) 0, (Datum) 0, true);
	return days;
}

/*
 * The meter-days to recompute: the queued ones, and for each queued factor
 * year Y the days computed with Y's set, or computed with an older set
 * although their reporting year is Y or later (a fallback a new set may end).
 * Taken from the queues by this statement's snapshot.
 */
static int64
IncrementalRefresh(void)
{
	Oid	  types[3] = {INT4ARRAYOID, DATEARRAYOID, DATEARRAYOID};
	Datum vals[3];
	int64 days;
	bool  isnull;
	bool  no_years;

	Exec("WITH y AS (DELETE FROM car.refresh_year RETURNING year) SELECT array_agg(DISTINCT year) FROM y", SPI_OK_SELECT);
	vals[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &no_years);
	if (!no_years)
		vals[0] = PointerGetDatum(PG_DETOAST_DATUM_COPY(vals[0]));
	if (SPI_execute_with_args(no_years ? PENDING_OF(TAKE_QUEUE) : PENDING_OF_YEARS(TAKE_QUEUE),
							  no_years ? 0 : 1, types, vals, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the refresh queue");
	days = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (days == 0)
		return 0;
	/* keep the arrays out of the result set, whatever later statements free */
	vals[0] = PointerGetDatum(
		PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	vals[1] = PointerGetDatum(
		PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	vals[2] = PointerGetDatum(
		PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)));

	EnsureDayPartitions("SELECT " DAY_START("min(day)") ", " DAY_START("max(day)") " FROM unnest($2) day", 2, types,
						vals);
	/* the months as a constant list, so that only their partitions are read */
	if (SPI_execute_with_args("DELETE FROM car.emission_daily e USING unnest($1, $2) w(meter_id, day) "
							  "WHERE e.meter_id = w.meter_id AND e.day = w.day "
							  "AND e.month = ANY ($3) AND e.month = date_trunc('month', w.day::timestamp)::date",
							  3, types, vals, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "car: could not clear the days to refresh");
	if (SPI_execute_with_args(car_sql_for_schema(psprintf("%s%s", GIVEN_DAYS, PriceAndStore())),
							  2, types, vals, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not compute the refreshed days");
	(void) PricedAndSetAside();
	/* market-based Scope 2 of those days, and of the days an instrument with a volume spreads over with them */
	if (!car_schema_1_0())
		car_market_allocate(vals[0], vals[1], false);
	/* every day taken counts, also those whose readings are gone, less those set aside */
	return days - unpriced;
}

/*
 * Whether the next refresh is a full one whatever it is asked: one is due
 * (catalogue edits, TRUNCATE), car.reporting_year_start is not the one
 * car.emission_daily was priced under, or car never refreshed (or was
 * restored without its state).  lock: the refresh's own reading, which
 * holds the state row until it commits.
 */
static bool
FullDue(bool lock)
{
	bool  isnull;
	Datum vals[1] = {Int32GetDatum(car_reporting_year_start)};

	if (SPI_execute_plan(KeptPlan(lock ? "SELECT full_needed OR reporting_year_start IS DISTINCT FROM $1 "
										 "FROM car.refresh_state FOR UPDATE"
									   : "SELECT full_needed OR reporting_year_start IS DISTINCT FROM $1 "
										 "FROM car.refresh_state",
								  1, (Oid[]){INT4OID}),
						 vals, NULL, !lock, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.refresh_state");
	return SPI_processed == 0 || DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The refresh itself, under the refresh lock (held): a full one when asked,
 * when due, or when the reporting-year rule changed.  Inside the caller's
 * SPI connection.
 */
static int64
Refresh(bool full)
{
	int64 days;
	Datum vals[1] = {Int32GetDatum(car_reporting_year_start)};

	if (FullDue(true))
		full = true;

	unpriced = 0;
	days = full ? FullRefresh() : IncrementalRefresh();
	/*
	 * The days were priced in no particular order, and the problem kept is
	 * the last one met: say that of the earliest day set aside instead (asked
	 * again for it alone), so that the message is the same run after run.
	 */
	if (unpriced > 0 &&
		SPI_execute("SELECT car.can_price(m.activity, m.unit, " DAY_START("x.day") ") "
																				   "FROM (SELECT q.day, q.meter_id FROM car.refresh_queue q JOIN car.meter m ON m.id = q.meter_id "
																				   "      WHERE NOT car.can_price(m.activity, m.unit, " DAY_START("q.day") ") "
																																						   "      ORDER BY q.day, q.meter_id LIMIT 1) x "
																																						   "JOIN car.meter m ON m.id = x.meter_id",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the days set aside");
	if (unpriced > 0)
		ereport(WARNING,
				(errmsg("car.refresh: " INT64_FORMAT " meter-day(s) could not be priced and stay queued", unpriced),
				 errdetail("%s", car_price_problem ? car_price_problem : "car.can_price() said no."),
				 errhint("Load the missing factor set with car.load_factors(), or correct the meter's activity or unit; "
						 "the next car.refresh() tries these days again.")));

	if (SPI_execute_with_args("INSERT INTO car.refresh_state AS s (full_needed, reporting_year_start, last_refresh_at, "
							  "last_full_at, last_days, unpriced_days, problem) "
							  "VALUES (false, $1, now(), CASE WHEN $2 THEN now() END, $3, $4, $5) "
							  "ON CONFLICT (id) DO UPDATE SET full_needed = false, reporting_year_start = $1, "
							  "last_refresh_at = now(), last_full_at = coalesce(excluded.last_full_at, s.last_full_at), "
							  "last_days = $3, unpriced_days = $4, problem = $5",
							  5, (Oid[]){INT4OID, BOOLOID, INT8OID, INT8OID, TEXTOID},
							  (Datum[]){vals[0], BoolGetDatum(full), Int64GetDatum(days), Int64GetDatum(unpriced),
										unpriced > 0 && car_price_problem ? CStringGetTextDatum(car_price_problem)
																		  : (Datum) 0},
							  unpriced > 0 && car_price_problem ? "     " : "    n", false, 0) != SPI_OK_INSERT)
		elog(ERROR, "car: could not update car.refresh_state");
	return days;
}

/* car.refresh(full boolean default false) */
Datum
car_refresh(PG_FUNCTION_ARGS)
{
	int	  pin;
	bool  full = PG_GETARG_BOOL(0);
	int64 days;
	bool  isnull;

	car_refuse_on_hub("car.refresh()");
	pin = car_spi_connect();
	Exec(psprintf("SELECT pg_catalog.pg_try_advisory_xact_lock(%d)", REFRESH_LOCK_KEY), SPI_OK_SELECT);
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		ereport(NOTICE, (errmsg("car.refresh: another refresh is running; changes it does not see stay queued "
								"for the next one")));
		car_spi_finish(pin);
		PG_RETURN_INT64(0);
	}
	days = Refresh(full);
	car_spi_finish(pin);
	PG_RETURN_INT64(days);
}

/*
 * For car.close_period(): wait for a refresh running elsewhere, refresh, and
 * keep the refresh lock until the transaction ends, so that no refresh
 * changes car.emission_daily between this one and the close's snapshot.
 * Inside the caller's SPI connection.
 */
int64
car_refresh_locked(void)
{
	car_refuse_on_hub("car.refresh()");
	Exec(psprintf("SELECT pg_catalog.pg_advisory_xact_lock(%d)", REFRESH_LOCK_KEY), SPI_OK_SELECT);
	return Refresh(false);
}

/*
 * Real-time reports (issue 17): what the next car.refresh() would write,
 * computed without writing it, as TimescaleDB's real-time continuous
 * aggregates do.  car.emission_current (the view every report reads) takes
 * car.emission_daily less the meter-days the next refresh recomputes
 * (car.refresh_pending; all of them when it is a full one,
 * car.refresh_pending_full) and adds those days as that refresh would price
 * them (car.emission_pending): the same statement text as the refresh's
 * (GIVEN_DAYS or ALL_DAYS, then Priced()), run as SELECT.
 *
 * The queues, the readings, the custom factors and the instruments are read
 * as car.emission_daily's owner, as the refresh reads them whole; the rows
 * come back to the caller only where car.site_visible_on(site_id, day) says
 * the caller may see them, the policy of car.emission_daily, so that calling
 * the functions directly shows no more than the table does.  On a hub,
 * which never refreshes (its rows are the shards'), nothing is pending.
 */
typedef enum PendingWhat
{
	PENDING_FULL,  /* only whether the next refresh is a full one */
	PENDING_DAYS,  /* the pending days, with their meter's site */
	PENDING_SITES, /* for the days given (in, vals): the sites their rows are under */
	PENDING_PRICED /* the pending days priced */
} PendingWhat;

typedef struct PendingJob
{
	PendingWhat	  what;
	Datum		  in[2];	 /* PENDING_SITES: the days, as arrays of meter ids and days */
	bool		  one_month; /* PENDING_PRICED: only the days of month (its first day) */
	DateADT		  month;
	bool		  full; /* out: the next refresh is a full one */
	MemoryContext cxt;	/* where the rows go */
	TupleDesc	  desc; /* out: the rows', in cxt */
	HeapTuple	 *rows; /* out, in cxt */
	uint64		  n;	/* out */
} PendingJob;

/* The pending meter-days, as arrays of meter ids and days in *meters and *days (copied); their count. */
static int64
ReadPendingDays(Datum *meters, Datum *days)
{
	bool  no_years;
	bool  isnull;
	Datum years;
	int64 n;

	ExecKept("SELECT array_agg(DISTINCT year) FROM car.refresh_year", true);
	years = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &no_years);
	if (!no_years)
		years = PointerGetDatum(PG_DETOAST_DATUM_COPY(years));
	if (SPI_execute_plan(no_years ? KeptPlan(PENDING_OF(READ_QUEUE), 0, NULL)
								  : KeptPlan(PENDING_OF_YEARS(READ_QUEUE), 1, (Oid[]){INT4ARRAYOID}),
						 &years, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the refresh queue");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	*meters = PointerGetDatum(
		PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	*days = PointerGetDatum(
		PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	return n;
}

/*
 * The days of *meters and *days (arrays of meter ids and days) in the month
 * starting on month, in place; how many.  A report of one month prices only
 * its own pending days.
 */
static int64
DaysOfMonth(Datum *meters, Datum *days, DateADT month)
{
	Datum *m;
	Datum *d;
	int	   n;
	int	   kept = 0;
	int	   i;

	deconstruct_array(DatumGetArrayTypeP(*meters), INT4OID, sizeof(int32), true, TYPALIGN_INT, &m, NULL, &n);
	deconstruct_array(DatumGetArrayTypeP(*days), DATEOID, sizeof(DateADT), true, TYPALIGN_INT, &d, NULL, &n);
	for (i = 0; i < n; i++)
	{
		int y, mo, dd;

		j2date(DatumGetDateADT(d[i]) + POSTGRES_EPOCH_JDATE, &y, &mo, &dd);
		if (date2j(y, mo, 1) - POSTGRES_EPOCH_JDATE == month)
		{
			m[kept] = m[i];
			d[kept++] = d[i];
		}
	}
	*meters = PointerGetDatum(construct_array(m, kept, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	*days = PointerGetDatum(construct_array(d, kept, DATEOID, sizeof(DateADT), true, TYPALIGN_INT));
	return kept;
}

/* As the owner (car_as_table_owner): the pending days, with the sites their rows are under, or priced. */
static void
ReadPending(void *arg)
{
	PendingJob	 *job = arg;
	int			  pin = car_spi_connect();
	Datum		  vals[2];
	const char	 *columns;
	const char	 *sql = NULL;
	MemoryContext old;
	uint64		  i;

	job->full = false;
	job->n = 0;
	if (job->what == PENDING_SITES)
	{
		vals[0] = job->in[0];
		vals[1] = job->in[1];
		sql = "SELECT w.meter_id, w.day, ARRAY(SELECT DISTINCT e.site_id FROM car.emission_daily e "
			  "  WHERE e.meter_id = w.meter_id AND e.day = w.day "
			  "  AND e.month = date_trunc('month', w.day::timestamp)::date) AS sites "
			  "FROM unnest($1, $2) w(meter_id, day)";
	}
	else if (car_node_role != CAR_NODE_HUB)
	{
		job->full = FullDue(false);
		if (job->full && job->what == PENDING_PRICED)
		{
			const char *select = Priced(&columns, true);

			sql = psprintf("%sx(%s) AS (%s) SELECT * FROM x", ALL_DAYS, columns, select);
		}
		else if (!job->full && job->what != PENDING_FULL && ReadPendingDays(&vals[0], &vals[1]) > 0 &&
				 (!job->one_month || job->what != PENDING_PRICED || DaysOfMonth(&vals[0], &vals[1], job->month) > 0))
		{
			if (job->what == PENDING_PRICED)
			{
				const char *select = Priced(&columns, true);

				sql = psprintf("%sx(%s) AS (%s) SELECT * FROM x", GIVEN_DAYS, columns, select);
			}
			else
				/* the meter's site now (NULL: the meter is gone) */
				sql = "SELECT w.meter_id, w.day, m.site_id "
					  "FROM unnest($1, $2) w(meter_id, day) LEFT JOIN car.meter m ON m.id = w.meter_id";
		}
	}
	if (sql != NULL)
	{
		if (SPI_execute_plan(KeptPlan(sql, job->full ? 0 : 2, (Oid[]){INT4ARRAYOID, DATEARRAYOID}), vals, NULL, true,
							 0) != SPI_OK_SELECT)
			elog(ERROR, "car: could not compute the pending days");
		old = MemoryContextSwitchTo(job->cxt);
		job->desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		job->rows = palloc(sizeof(HeapTuple) * Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
			job->rows[i] = heap_copytuple(SPI_tuptable->vals[i]);
		job->n = SPI_processed;
		MemoryContextSwitchTo(old);
	}
	car_spi_finish(pin);
}

static void
RunPending(PendingJob *job, PendingWhat what, MemoryContext cxt)
{
	if (car_schema_1_0())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("car's tables are version 1.0's"), errhint("Run ALTER EXTENSION car UPDATE.")));
	job->what = what;
	job->cxt = cxt;
	car_as_table_owner("emission_daily", ReadPending, job);
}

/* car.refresh_pending_full() → boolean */
Datum
car_refresh_pending_full(PG_FUNCTION_ARGS)
{
	PendingJob job = {0};

	RunPending(&job, PENDING_FULL, CurrentMemoryContext);
	PG_RETURN_BOOL(job.full);
}

/*
 * car.refresh_pending() → TABLE (meter_id int, day date): the caller's
 * pending days (none when full): those whose meter's site the caller may see
 * that day, then, of the others, those with rows under a site the caller may
 * see (a meter that moved, or is gone), read only for those.
 */
Datum
car_refresh_pending(PG_FUNCTION_ARGS)
{
	ReturnSetInfo	*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PendingJob		 job = {0};
	PendingJob		 sites;
	void			*cache = NULL;
	ArrayBuildState *left_meters = NULL;
	ArrayBuildState *left_days = NULL;
	uint64			 i;

	InitMaterializedSRF(fcinfo, 0);
	RunPending(&job, PENDING_DAYS, CurrentMemoryContext);
	for (i = 0; i < job.n; i++)
	{
		bool  isnull[3];
		Datum v[3];

		heap_deform_tuple(job.rows[i], job.desc, v, isnull);
		if (!isnull[2] &&
			car_site_day_is_visible(&cache, CurrentMemoryContext, DatumGetInt32(v[2]), DatumGetDateADT(v[1])))
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
		else
		{
			left_meters = accumArrayResult(left_meters, v[0], false, INT4OID, CurrentMemoryContext);
			left_days = accumArrayResult(left_days, v[1], false, DATEOID, CurrentMemoryContext);
		}
	}
	if (left_meters == NULL)
		return (Datum) 0;
	memset(&sites, 0, sizeof(sites));
	sites.what = PENDING_SITES;
	sites.cxt = CurrentMemoryContext;
	sites.in[0] = makeArrayResult(left_meters, CurrentMemoryContext);
	sites.in[1] = makeArrayResult(left_days, CurrentMemoryContext);
	car_as_table_owner("emission_daily", ReadPending, &sites);
	for (i = 0; i < sites.n; i++)
	{
		bool	   isnull[3];
		Datum	   v[3];
		ArrayType *ids_array;
		Datum	  *ids;
		bool	  *nulls;
		int		   nids;
		int		   k;

		heap_deform_tuple(sites.rows[i], sites.desc, v, isnull);
		ids_array = DatumGetArrayTypeP(v[2]);
		deconstruct_array(ids_array, INT4OID, sizeof(int32), true, TYPALIGN_INT, &ids, &nulls, &nids);
		for (k = 0; k < nids; k++)
			if (!nulls[k] &&
				car_site_day_is_visible(&cache, CurrentMemoryContext, DatumGetInt32(ids[k]), DatumGetDateADT(v[1])))
			{
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
				break;
			}
	}
	return (Datum) 0;
}

/*
 * car.emission_pending(month date) → SETOF car.emission_daily: the rows the
 * next refresh writes for the pending days (of month only, when it is not
 * NULL: car.emission_current calls it month by month, so that a report of
 * one month prices that month's days alone), as far as the caller may see
 * them.
 * The market-based columns of the rows car.market_allocation prices (a
 * residual mix or an instrument covers the day) stay NULL: the allocation
 * spreads volumes over other days and is the refresh's alone.
 */
Datum
car_emission_pending(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	   out;
	PendingJob	   job;
	void		  *cache = NULL;
	int			  *from;
	Datum		  *v;
	bool		  *isnull;
	Datum		  *ov;
	bool		  *onull;
	int			   site_att,
		day_att,
		month_att;
	int	   a;
	uint64 i;

	InitMaterializedSRF(fcinfo, 0);
	out = rsinfo->setDesc;
	memset(&job, 0, sizeof(job));
	job.one_month = !PG_ARGISNULL(0);
	job.month = job.one_month ? PG_GETARG_DATEADT(0) : 0;
	RunPending(&job, PENDING_PRICED, CurrentMemoryContext);
	if (job.n == 0)
		return (Datum) 0;
	/* the table's columns by name (it may have dropped ones), of the same types */
	from = palloc(sizeof(int) * out->natts);
	for (a = 0; a < out->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(out, a);

		from[a] = att->attisdropped ? SPI_ERROR_NOATTRIBUTE : SPI_fnumber(job.desc, NameStr(att->attname));
		if (from[a] > 0 && TupleDescAttr(job.desc, from[a] - 1)->atttypid != att->atttypid)
			elog(ERROR, "car: the pricing gives column %s of type %s, car.emission_daily has %s", NameStr(att->attname),
				 format_type_be(TupleDescAttr(job.desc, from[a] - 1)->atttypid), format_type_be(att->atttypid));
		if (!att->attisdropped && from[a] <= 0)
			elog(ERROR, "car: the pricing gives no column %s of car.emission_daily", NameStr(att->attname));
	}
	site_att = SPI_fnumber(job.desc, "site_id") - 1;
	day_att = SPI_fnumber(job.desc, "day") - 1;
	month_att = SPI_fnumber(job.desc, "month") - 1;
	v = palloc(sizeof(Datum) * job.desc->natts);
	isnull = palloc(sizeof(bool) * job.desc->natts);
	ov = palloc0(sizeof(Datum) * out->natts);
	onull = palloc(sizeof(bool) * out->natts);
	for (i = 0; i < job.n; i++)
	{
		heap_deform_tuple(job.rows[i], job.desc, v, isnull);
		if (isnull[site_att] || isnull[day_att] ||
			(job.one_month && (isnull[month_att] || DatumGetDateADT(v[month_att]) != job.month)) ||
			!car_site_day_is_visible(&cache, CurrentMemoryContext, DatumGetInt32(v[site_att]),
									 DatumGetDateADT(v[day_att])))
			continue;
		for (a = 0; a < out->natts; a++)
		{
			onull[a] = from[a] <= 0 || isnull[from[a] - 1];
			ov[a] = onull[a] ? (Datum) 0 : v[from[a] - 1];
		}
		tuplestore_putvalues(rsinfo->setResult, out, ov, onull);
	}
	return (Datum) 0;
}
