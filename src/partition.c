/*
 * partition.c
 *		Monthly partitions of car's time-partitioned tables, and
 *		car.maintenance().
 *
 * A month's partition is made by creating a plain table like the parent,
 * moving into it any rows the default partition holds for that month, and
 * attaching it.  ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent, so
 * readers and writers of other months carry on.  Creation is serialised by
 * an advisory lock; each attempt runs in a subtransaction under a short
 * lock_timeout and is retried, and if the locks cannot be had the rows
 * simply stay in the default partition until car.maintenance() moves them:
 * no row is ever dropped.  The DDL runs as the owner of the parent table,
 * so partitions belong to the extension's owner whoever triggered them.
 */
#include "car.h"
#include "compact.h"

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "pgtime.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_ensure_partitions);
PG_FUNCTION_INFO_V1(car_maintenance);

#define PARTITION_LOCK_KEY	1667330672 /* serialises partition DDL */
#define ATTEMPTS			5
#define MAX_MONTHS_PER_CALL 1200

/*
 * The time-partitioned tables: parent, its default partition, the partition
 * key column (a timestamptz, or a date holding the first of the month), and
 * that key as a timestamptz whatever the session's time zone.  Month bounds
 * are midnight UTC on the first, which reads the same as either type.
 */
static const char *const partitioned[][4] = {
	{"reading", "reading_default", "ts", "ts"},
	{"emission_daily", "emission_daily_default", "month", "(month::timestamp AT TIME ZONE 'UTC')"},
};

/* Midnight UTC on the first of the month holding ts; *ym = year*12 + month-1. */
static TimestampTz
MonthStart(TimestampTz ts, int *ym)
{
	struct pg_tm tm;
	fsec_t		 fsec;
	TimestampTz	 result;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	*ym = tm.tm_year * 12 + tm.tm_mon - 1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = *ym / 12;
	tm.tm_mon = *ym % 12 + 1;
	tm.tm_mday = 1;
	tm2timestamp(&tm, 0, NULL, &result);
	return result;
}

static TimestampTz
MonthStartOf(int ym)
{
	struct pg_tm tm;
	TimestampTz	 result;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = ym / 12;
	tm.tm_mon = ym % 12 + 1;
	tm.tm_mday = 1;
	tm2timestamp(&tm, 0, NULL, &result);
	return result;
}

static char *
TimestampLiteral(TimestampTz ts)
{
	return quote_literal_cstr(DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(ts))));
}

/* Name of parent's partition for month ym (year * 12 + month - 1). */
static void
PartitionName(const char *parent, int ym, char *name)
{
	snprintf(name, NAMEDATALEN, "%s_p%04d%02d", parent, ym / 12, ym % 12 + 1);
}

/* Does car.<name> exist as a table? */
static bool
TableExists(const char *name)
{
	Oid nsp = get_namespace_oid("car", false);

	return OidIsValid(get_relname_relid(name, nsp));
}

/*
 * Create, fill from the default partition, and attach one month's partition.
 * Runs inside the caller's SPI connection.  Returns rows moved.
 */
static uint64
CreateMonth(const char *parent, const char *deflt, const char *key, int ym)
{
	char		   name[NAMEDATALEN];
	char		  *qname;
	char		  *lo = TimestampLiteral(MonthStartOf(ym));
	char		  *hi = TimestampLiteral(MonthStartOf(ym + 1));
	StringInfoData sql;
	uint64		   moved;

	PartitionName(parent, ym, name);
	qname = psprintf("car.%s", quote_identifier(name));
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (LIKE car.%s INCLUDING ALL)", qname, quote_identifier(parent));
	SPI_execute(sql.data, false, 0);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH moved AS (DELETE FROM car.%s WHERE %s OPERATOR(pg_catalog.>=) %s "
					 "AND %s OPERATOR(pg_catalog.<) %s RETURNING *) "
					 "INSERT INTO %s SELECT * FROM moved",
					 quote_identifier(deflt), quote_identifier(key), lo, quote_identifier(key), hi, qname);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not move rows out of car.%s", deflt);
	moved = SPI_processed;

	resetStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE car.%s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
					 quote_identifier(parent), qname, lo, hi);
	SPI_execute(sql.data, false, 0);

	/*
	 * A shard publishes car.emission_daily through its root (node.c): the
	 * delete from the default partition reached the hub, the insert into the
	 * table not yet attached did not.  Write the moved rows again through
	 * the root, so that the hub receives them.
	 */
	if (moved > 0 && car_node_role == CAR_NODE_SHARD && strcmp(parent, "emission_daily") == 0)
	{
		resetStringInfo(&sql);
		appendStringInfo(&sql, "WITH moved AS (DELETE FROM %s RETURNING *) INSERT INTO car.emission_daily SELECT * FROM moved",
						 qname);
		if (SPI_execute(sql.data, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write the moved rows of car.%s again for the hub", name);
	}
	return moved;
}

typedef struct MonthJob
{
	const char *parent;
	const char *deflt;
	const char *key;
	int			ym;
	uint64		moved;
} MonthJob;

/* One attempt, under a short lock_timeout of its own (as a function's SET clause does). */
static void
CreateMonthAttempt(void *arg)
{
	MonthJob *job = arg;
	int		  nest = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", "2s", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	job->moved += CreateMonth(job->parent, job->deflt, job->key, job->ym);
	AtEOXact_GUC(true, nest);
}

/*
 * Try CreateMonth a few times, each attempt in a subtransaction that a lock
 * timeout rolls back.  Returns true if the partition now exists.
 */
static bool
CreateMonthWithRetry(const char *const table[4], int ym, uint64 *moved)
{
	const char *parent = table[0];
	const char *deflt = table[1];
	MonthJob	job = {parent, deflt, table[2], ym, 0};
	int			attempt;

	for (attempt = 1; attempt <= ATTEMPTS; attempt++)
	{
		/* a lock timeout, or a deadlock with a session holding the default partition: retry */
		if (car_try_subxact(CreateMonthAttempt, &job, ERRCODE_LOCK_NOT_AVAILABLE, ERRCODE_T_R_DEADLOCK_DETECTED))
		{
			*moved += job.moved;
			return true;
		}
		ereport(DEBUG1, (errmsg("car: partition of %s for month %d busy (attempt %d)", parent, ym, attempt)));
		pg_usleep(100000L * attempt);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(WARNING,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not create the %04d-%02d partition of car.%s: its tables stayed locked", ym / 12, ym % 12 + 1, parent),
			 errdetail("Rows for that month stay in car.%s until car.maintenance() moves them.", deflt)));
	return false;
}

typedef struct MonthsJob
{
	int			ym_from;
	int			ym_to;
	const char *only;
	uint64	   *moved;
	int			created;
} MonthsJob;

/*
 * Create the missing months under the partition lock.  Runs as the tables'
 * owner (car_as_table_owner, which pins the search_path), with a fixed
 * DateStyle and time zone for the bounds.
 */
static void
CreateMissingMonths(void *arg)
{
	int		   pin;
	MonthsJob *job = arg;
	int		   nest = NewGUCNestLevel();
	int		   ym;
	size_t	   t;

	(void) set_config_option("datestyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* bounds print as midnight UTC, which a date key reads as the first of the month */
	(void) set_config_option("timezone", "UTC", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	pin = car_spi_connect();
	SPI_execute(psprintf("SELECT pg_catalog.pg_advisory_xact_lock(%d)", PARTITION_LOCK_KEY), false, 0);
	for (ym = job->ym_from; ym <= job->ym_to; ym++)
		for (t = 0; t < lengthof(partitioned); t++)
		{
			char name[NAMEDATALEN];

			if (job->only != NULL && strcmp(job->only, partitioned[t][0]) != 0)
				continue;
			PartitionName(partitioned[t][0], ym, name);
			/*
			 * Another session may have made it while we waited for the
			 * lock: take in its catalogue changes before looking.
			 */
			CommandCounterIncrement();
			AcceptInvalidationMessages();
			InvalidateCatalogSnapshot();
			if (TableExists(name))
				continue;
			if (CreateMonthWithRetry(partitioned[t], ym, job->moved))
				job->created++;
		}
	car_spi_finish(pin);
	AtEOXact_GUC(true, nest);
}

/*
 * Make sure every month touching [from, to] has its partition in every
 * partitioned table.  Returns partitions created; *moved counts rows moved
 * out of default partitions.
 */
static int
EnsureMonths(TimestampTz from, TimestampTz to, const char *only, uint64 *moved)
{
	int ym_from,
		ym_to,
		ym;
	size_t	  t;
	MonthsJob job;

	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("partitions cannot be made for infinite timestamps")));
	if (to < from)
		return 0;
	MonthStart(from, &ym_from);
	MonthStart(to, &ym_to);
	if (ym_to - ym_from >= MAX_MONTHS_PER_CALL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("refusing to create %d monthly partitions in one call", ym_to - ym_from + 1),
				 errhint("Check the range; car quarantines readings outside car.accept_from .. now() + car.accept_ahead.")));

	/* Quick exit without locks when everything exists already. */
	for (ym = ym_from; ym <= ym_to; ym++)
		for (t = 0; t < lengthof(partitioned); t++)
		{
			char name[NAMEDATALEN];

			if (only != NULL && strcmp(only, partitioned[t][0]) != 0)
				continue;
			PartitionName(partitioned[t][0], ym, name);
			if (!TableExists(name))
				goto work;
		}
	return 0;

work:
	job.ym_from = ym_from;
	job.ym_to = ym_to;
	job.only = only;
	job.moved = moved;
	job.created = 0;
	car_as_table_owner("reading", CreateMissingMonths, &job);
	return job.created;
}

/* How many months touching [from, to] have no partition of car.reading yet. */
int
car_missing_reading_partitions(TimestampTz from, TimestampTz to)
{
	int ym_from,
		ym_to,
		ym;
	int n = 0;

	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to) || to < from)
		return 0;
	MonthStart(from, &ym_from);
	MonthStart(to, &ym_to);
	for (ym = ym_from; ym <= ym_to; ym++)
	{
		char name[NAMEDATALEN];

		PartitionName("reading", ym, name);
		if (!TableExists(name))
			n++;
	}
	return n;
}

int
car_ensure_partitions_range(TimestampTz from, TimestampTz to)
{
	uint64 moved = 0;

	return EnsureMonths(from, to, NULL, &moved);
}

/* The same for one of the partitioned tables only. */
int
car_ensure_table_partitions(const char *parent, TimestampTz from, TimestampTz to)
{
	uint64 moved = 0;

	return EnsureMonths(from, to, parent, &moved);
}

/* The range of timestamps ingestion accepts: accept_from .. now() + accept_ahead. */
void
car_accepted_range(TimestampTz *lo, TimestampTz *hi)
{
	Datum ahead;

	*lo = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(car_accept_from),
												  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	ahead = DirectFunctionCall3(interval_in, CStringGetDatum(car_accept_ahead),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	*hi = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												  TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), ahead));
}

/* car.ensure_partitions(from, to) */
Datum
car_ensure_partitions(PG_FUNCTION_ARGS)
{
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz to = PG_GETARG_TIMESTAMPTZ(1);

	if (to < from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("car.ensure_partitions: from_ts is after to_ts")));
	PG_RETURN_INT32(car_ensure_partitions_range(from, to));
}

typedef struct DefaultJob
{
	const char *const *table; /* a row of partitioned[] */
	TimestampTz		   lo;	  /* the accepted range */
	TimestampTz		   hi;
	TimestampTz		  *months; /* months of the rows in the accepted range */
	int				   nmonths;
	uint64			   stray; /* rows outside it */
} DefaultJob;

/* What a default partition holds: the months of its rows, and how many lie outside the accepted range. */
static void
ReadDefault(void *arg)
{
	int			pin;
	DefaultJob *job = arg;
	const char *key = job->table[3];
	const char *deflt = quote_identifier(job->table[1]);
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		vals[2] = {TimestampTzGetDatum(job->lo), TimestampTzGetDatum(job->hi)};
	uint64		i;
	bool		isnull;

	pin = car_spi_connect();
	if (SPI_execute_with_args(psprintf("SELECT DISTINCT pg_catalog.date_trunc('month', %s, 'UTC') FROM car.%s "
									   "WHERE %s OPERATOR(pg_catalog.>=) $1 AND %s OPERATOR(pg_catalog.<) $2 ORDER BY 1",
									   key, deflt, key, key),
							  2, types, vals, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.%s", job->table[1]);
	job->months = palloc(sizeof(TimestampTz) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
		job->months[job->nmonths++] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
																		1, &isnull));
	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.count(*) FROM car.%s WHERE NOT (%s OPERATOR(pg_catalog.>=) $1 "
									   "AND %s OPERATOR(pg_catalog.<) $2)",
									   deflt, key, key),
							  2, types, vals, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.%s", job->table[1]);
	job->stray = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	car_spi_finish(pin);
}

typedef struct RangeJob
{
	TimestampTz lo;
	TimestampTz hi;
	bool		any;
} RangeJob;

static void
ReadDefaultRange(void *arg)
{
	int		  pin;
	RangeJob *job = arg;
	bool	  lo_null,
		hi_null;

	pin = car_spi_connect();
	if (SPI_execute("SELECT pg_catalog.min(ts), pg_catalog.max(ts) FROM car.reading_default", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.reading_default");
	job->lo = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &lo_null));
	job->hi = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &hi_null));
	job->any = !lo_null && !hi_null;
	car_spi_finish(pin);
}

/*
 * The first and last reading in car.reading's default partition (read as its
 * owner); false when it is empty.
 */
bool
car_default_reading_range(TimestampTz *lo, TimestampTz *hi)
{
	RangeJob job = {0, 0, false};

	car_as_table_owner("reading", ReadDefaultRange, &job);
	*lo = job.lo;
	*hi = job.hi;
	return job.any;
}

/*
 * Step 4 of car.maintenance(): the history of car's pg_cron jobs of this
 * database in cron.job_run_details, older than car.job_history_keep, when
 * pg_cron lives in this database.  pg_cron's schema is closed to the roles it
 * was not granted to, car.worker_role among them (its jobs run
 * car.maintenance()), and that role should not have it: USAGE on schema cron
 * would also let it schedule jobs of its own.  So the purge runs as car's
 * owner (who created the extension), through car_as_table_owner: search_path
 * pinned, one fixed statement, rows of car's own two jobs of this database
 * only.  When car's owner may not do it either, nothing is purged and a
 * NOTICE says why.
 */
typedef struct PurgeJob
{
	Datum  keep; /* interval */
	Oid	   nsp;	 /* schema cron */
	Oid	   runs; /* cron.job_run_details */
	Oid	   jobs; /* cron.job */
	bool   allowed;
	uint64 purged;
} PurgeJob;

static void
PurgeAsOwner(void *arg)
{
	PurgeJob *job = (PurgeJob *) arg;
	Oid		  user = GetUserId();
	Oid		  types[1] = {INTERVALOID};
	Datum	  vals[1] = {job->keep};
	int		  pin;

	job->allowed = pg_namespace_aclcheck(job->nsp, user, ACL_USAGE) == ACLCHECK_OK &&
				   pg_class_aclcheck(job->runs, user, ACL_SELECT) == ACLCHECK_OK &&
				   pg_class_aclcheck(job->runs, user, ACL_DELETE) == ACLCHECK_OK &&
				   pg_class_aclcheck(job->jobs, user, ACL_SELECT) == ACLCHECK_OK;
	if (!job->allowed)
		return;
	pin = car_spi_connect();
	if (SPI_execute_with_args("DELETE FROM cron.job_run_details d "
							  "WHERE d.end_time OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1) "
							  "AND d.jobid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT j.jobid FROM cron.job j "
							  "  WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) "
							  "  ANY ('{car-refresh,car-maintenance}'::pg_catalog.text[]) "
							  "  AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text))",
							  1, types, vals, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not purge cron.job_run_details");
	job->purged = SPI_processed;
	car_spi_finish(pin);
}

static uint64
PurgeJobHistory(void)
{
	PurgeJob job = {0};

	/* catalogue lookups, which need no right on the schema (to_regclass would) */
	job.nsp = get_namespace_oid("cron", true);
	if (!OidIsValid(job.nsp))
		return 0;
	job.runs = get_relname_relid("job_run_details", job.nsp);
	job.jobs = get_relname_relid("job", job.nsp);
	if (!OidIsValid(job.runs) || !OidIsValid(job.jobs))
		return 0;
	job.keep = DirectFunctionCall3(interval_in, CStringGetDatum(car_job_history_keep), ObjectIdGetDatum(InvalidOid),
								   Int32GetDatum(-1));
	car_as_table_owner("reading", PurgeAsOwner, &job);
	if (!job.allowed)
		ereport(NOTICE,
				(errmsg("car.maintenance: the history of car's pg_cron jobs was not purged"),
				 errdetail("car's owner may not read and delete rows of cron.job_run_details."),
				 errhint("Purge it as a superuser, or schedule car's jobs in a database whose pg_cron car's owner "
						 "may use.")));
	return job.purged;
}

/* car.maintenance() */
Datum
car_maintenance(PG_FUNCTION_ARGS)
{
	int			pin;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz lo,
		hi;
	int			   ym_now;
	int			   created = 0;
	uint64		   moved = 0;
	uint64		   stray = 0;
	uint64		   dropped = 0;
	uint64		   purged = 0;
	uint64		   changes = 0;
	int			   compacted;
	int			   emptied;
	int			   drained;
	size_t		   t;
	StringInfoData out;

	car_accepted_range(&lo, &hi);

	/* 1. premake: this month and car.premake_months ahead */
	MonthStart(now, &ym_now);
	created += EnsureMonths(MonthStartOf(ym_now), MonthStartOf(ym_now + car_premake_months), NULL, &moved);

	/* 2. rows in default partitions: move each month's into its partition */
	for (t = 0; t < lengthof(partitioned); t++)
	{
		DefaultJob job = {partitioned[t], lo, hi, NULL, 0, 0};
		int		   i;

		/* the default partition is read as its owner: no role is granted it (it has no row-level security) */
		car_as_table_owner(partitioned[t][0], ReadDefault, &job);
		stray += job.stray;
		for (i = 0; i < job.nmonths; i++)
			created += EnsureMonths(job.months[i], job.months[i], partitioned[t][0], &moved);
	}

	/* 3. raw bytes of landed files older than car.keep_raw */
	if (pg_strcasecmp(car_keep_raw, "forever") != 0)
	{
		Datum keep = DirectFunctionCall3(interval_in, CStringGetDatum(car_keep_raw),
										 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

		pin = car_spi_connect();
		dropped = car_drop_raw_bytes(keep);
		car_spi_finish(pin);
	}

	/* 4. history of car's pg_cron jobs, when pg_cron lives in this database */
	purged = PurgeJobHistory();

	/* 5. the change feed, older than car.keep_changes (an older car has none) */
	if (car_has_relation("change"))
	{
		Datum keep = DirectFunctionCall3(interval_in, CStringGetDatum(car_keep_changes),
										 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		Oid	  types[1] = {INTERVALOID};
		Datum vals[1] = {keep};

		pin = car_spi_connect();
		if (SPI_execute_with_args("DELETE FROM car.change WHERE recorded_at < now() - $1", 1, types, vals, NULL, false,
								  0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge car.change");
		changes = SPI_processed;
		car_spi_finish(pin);
	}

	/*
	 * 6. months older than car.compact_after, compacted; the emptied
	 * partitions of earlier ones truncated, the compact partitions of
	 * uncompacted months dropped (compact.c)
	 */
	compacted = car_compact_due();
	emptied = car_compact_reclaim();
	drained = car_compact_drop_drained();

	initStringInfo(&out);
	appendStringInfo(&out,
					 "{\"partitions_created\": %d, \"months_compacted\": %d, \"compacted_partitions_emptied\": %d, "
					 "\"compact_partitions_dropped\": %d, \"rows_moved\": " UINT64_FORMAT
					 ", \"rows_outside_accepted_range\": " UINT64_FORMAT ", \"raw_files_dropped\": " UINT64_FORMAT
					 ", \"job_runs_purged\": " UINT64_FORMAT ", \"changes_purged\": " UINT64_FORMAT "}",
					 created, compacted, emptied, drained, moved, stray, dropped, purged, changes);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * pg_dump and car's partitions.
 *
 * car.reading and car.emission_daily belong to the extension, with their
 * primary keys and indexes; their monthly partitions are ordinary tables,
 * so pg_dump dumps them: CREATE TABLE, ATTACH PARTITION, and afterwards
 * each partition's own primary key and indexes.  On restore the ATTACH
 * already makes those (the parent's come from CREATE EXTENSION), so the
 * later commands would fail with "multiple primary keys" or "already
 * exists".  This hook recognises exactly those commands, on partitions of
 * car's tables that already have the same-named constraint or index
 * attached to the parent's, and skips them with a NOTICE, so pg_restore runs
 * clean.  Anything else goes through untouched.  (car.c installs the hook.)
 */
/* relid if rv names a partition of one of car's partitioned tables, else InvalidOid */
static Oid
CarPartition(const RangeVar *rv)
{
	Oid	   relid;
	Oid	   parent;
	size_t t;

	if (rv == NULL || rv->schemaname == NULL || strcmp(rv->schemaname, "car") != 0)
		return InvalidOid;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid) || !get_rel_relispartition(relid))
		return InvalidOid;
	parent = get_partition_parent(relid, true);
	if (get_rel_namespace(parent) != get_rel_namespace(relid))
		return InvalidOid;
	for (t = 0; t < lengthof(partitioned); t++)
		if (strcmp(get_rel_name(parent), partitioned[t][0]) == 0)
			return relid;
	/* compacted months (compact.c), made by car.compact rather than by month */
	if (strcmp(get_rel_name(parent), "reading_day") == 0)
		return relid;
	return InvalidOid;
}

/* Is indexoid an index of relid that is attached to its parent's index? */
static bool
AttachedIndexOf(Oid indexoid, Oid relid)
{
	HeapTuple tup;
	bool	  result;

	if (!OidIsValid(indexoid) || !get_rel_relispartition(indexoid))
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		return false;
	result = ((Form_pg_index) GETSTRUCT(tup))->indrelid == relid;
	ReleaseSysCache(tup);
	return result;
}

bool
car_redundant_partition_command(Node *stmt)
{
	if (IsA(stmt, AlterTableStmt))
	{
		AlterTableStmt *alter = (AlterTableStmt *) stmt;
		AlterTableCmd  *cmd;
		Constraint	   *con;
		Oid				relid;

		if (alter->relation == NULL || alter->relation->inh || list_length(alter->cmds) != 1)
			return false;
		cmd = linitial_node(AlterTableCmd, alter->cmds);
		if (cmd->subtype != AT_AddConstraint || !IsA(cmd->def, Constraint))
			return false;
		con = (Constraint *) cmd->def;
		if ((con->contype != CONSTR_PRIMARY && con->contype != CONSTR_UNIQUE) || con->conname == NULL)
			return false;
		relid = CarPartition(alter->relation);
		if (!OidIsValid(relid))
			return false;
		return AttachedIndexOf(get_constraint_index(get_relation_constraint_oid(relid, con->conname, true)), relid);
	}
	if (IsA(stmt, IndexStmt))
	{
		IndexStmt *index = (IndexStmt *) stmt;
		Oid		   relid;

		if (index->idxname == NULL)
			return false;
		relid = CarPartition(index->relation);
		if (!OidIsValid(relid))
			return false;
		return AttachedIndexOf(get_relname_relid(index->idxname, get_rel_namespace(relid)), relid);
	}
	return false;
}
