/*
 * schedule.c
 *		car.schedule() and car.unschedule(): car's pg_cron jobs.
 *
 * pg_cron lives in one database of the cluster (cron.database_name).  When
 * car is installed there, the jobs are made with cron.schedule() in the
 * caller's transaction.  When car is in another database, the jobs must be
 * made in pg_cron's database with cron.schedule_in_database(): a short-lived
 * background worker connects there as the calling role, runs the statements
 * and hands back the result or the error through a DSM segment.  That work
 * commits on its own, whatever the caller's transaction does next.
 *
 * The jobs run as car.worker_role, not as whoever scheduled them: a job
 * runs with its role's rights, and car's jobs need no more than the worker
 * role has.  Not even schema cron: car.maintenance() purges the history of
 * car's jobs as car's owner (partition.c) when pg_cron is in car's
 * database; when it is in another, a third job, car-purge-history, does it
 * there as the superuser who scheduled (its command is fixed, and the
 * worker role may not use schema cron, which would let it schedule jobs of
 * its own).  Scheduling a job for another role is for superusers only (as
 * pg_cron requires), so car.schedule() is too.  pg_cron keeps job names
 * unique per role, so one worker role can schedule car for one database
 * only; scheduling a second is refused with the reason (give that database
 * a worker role of its own).
 *
 * On a hub (car.node_role = hub) there is no car-refresh: a hub refuses
 * car.refresh(), so car.schedule() schedules car-maintenance only, removes
 * a car-refresh left from before the server became a hub, and says so.
 */
#include "car.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(car_schedule);
PG_FUNCTION_INFO_V1(car_unschedule);
PGDLLEXPORT void car_cron_task_main(Datum arg);

#define TASK_SQL_MAX	8192
#define TASK_RESULT_MAX 8192
#define TASK_ERROR_MAX	2048

/* What the caller asks of the worker in pg_cron's database, and its answer. */
typedef struct CronTask
{
	Oid	 dboid;
	Oid	 userid;
	char sql[TASK_SQL_MAX];
	bool done;
	bool ok;
	char result[TASK_RESULT_MAX]; /* rows, tab-separated columns, newline-terminated */
	char error[TASK_ERROR_MAX];
} CronTask;

/* Run sql (through SPI) and write its result rows as text lines. */
static void
RunAndCollect(const char *sql, StringInfo out)
{
	uint64 i;
	int	   c;

	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "car: could not run: %s", sql);
	for (i = 0; SPI_tuptable != NULL && i < SPI_processed; i++)
	{
		for (c = 1; c <= SPI_tuptable->tupdesc->natts; c++)
		{
			char *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c);

			appendStringInfo(out, "%s%s", c > 1 ? "\t" : "", v ? v : "");
		}
		appendStringInfoChar(out, '\n');
	}
}

/* Background worker: run one CronTask in pg_cron's database. */
void
car_cron_task_main(Datum arg)
{
	int			 pin;
	dsm_segment *seg;
	CronTask	*task;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR, (errmsg("car: the session that asked for this pg_cron change has gone")));
	task = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(task->dboid, task->userid, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "car: changing pg_cron jobs");
	PG_TRY();
	{
		StringInfoData out;

		initStringInfo(&out);
		pin = car_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		RunAndCollect(task->sql, &out);
		car_spi_finish(pin);
		PopActiveSnapshot();
		CommitTransactionCommand();
		strlcpy(task->result, out.data, TASK_RESULT_MAX);
		task->ok = true;
	}
	PG_CATCH();
	{
		ErrorData *e;

		MemoryContextSwitchTo(TopMemoryContext);
		e = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		snprintf(task->error, TASK_ERROR_MAX, "%s%s%s", e->message, e->hint ? " HINT: " : "", e->hint ? e->hint : "");
		task->ok = false;
	}
	PG_END_TRY();
	pg_write_barrier();
	task->done = true;
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

/* Where pg_cron keeps its jobs; errors with how to set it up when it is not there. */
static const char *
CronDatabase(void)
{
	const char *db = GetConfigOption("cron.database_name", true, false);

	if (db == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("car.schedule needs pg_cron, which is not loaded in this server"),
				 errhint("Install it (apt-get install postgresql-15-cron), add pg_cron to shared_preload_libraries, "
						 "set cron.database_name and cron.use_background_workers = on, restart PostgreSQL, then run "
						 "CREATE EXTENSION pg_cron in that database.")));
	if (!OidIsValid(get_database_oid(db, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("pg_cron's database \"%s\" (cron.database_name) does not exist", db),
				 errhint("Create it and run CREATE EXTENSION pg_cron there, or set cron.database_name.")));
	return db;
}

/* Run sql in pg_cron's database: here through SPI, elsewhere through a worker. */
static char *
RunInCronDatabase(const char *cron_db, const char *sql, const char *what)
{
	int			   pin;
	StringInfoData out;

	initStringInfo(&out);
	if (strcmp(cron_db, get_database_name(MyDatabaseId)) == 0)
	{
		if (!OidIsValid(get_extension_oid("pg_cron", true)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("pg_cron is loaded but not installed in this database"),
					 errhint("Run CREATE EXTENSION pg_cron.")));
		pin = car_spi_connect();
		RunAndCollect(sql, &out);
		car_spi_finish(pin);
		return out.data;
	}
	else
	{
		dsm_segment			   *seg;
		CronTask			   *task;
		BackgroundWorker		w;
		BackgroundWorkerHandle *handle;
		BgwHandleStatus			status;
		HeapTuple				role;
		bool					canlogin;

		if (strlen(sql) >= TASK_SQL_MAX)
			elog(ERROR, "car: pg_cron statement too long");
		/* the worker logs in as the caller, which PostgreSQL 15 allows only to login roles */
		role = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
		canlogin = HeapTupleIsValid(role) && ((Form_pg_authid) GETSTRUCT(role))->rolcanlogin;
		if (HeapTupleIsValid(role))
			ReleaseSysCache(role);
		if (!canlogin)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("could not %s: pg_cron is in database \"%s\" and role \"%s\" cannot log in there", what,
							cron_db, GetUserNameFromId(GetUserId(), false)),
					 errhint("Run car.schedule() as a role with LOGIN.")));

		seg = dsm_create(sizeof(CronTask), 0);
		task = dsm_segment_address(seg);
		memset(task, 0, sizeof(CronTask));
		task->dboid = get_database_oid(cron_db, false);
		task->userid = GetUserId();
		strlcpy(task->sql, sql, TASK_SQL_MAX);

		memset(&w, 0, sizeof(w));
		w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		w.bgw_start_time = BgWorkerStart_RecoveryFinished;
		w.bgw_restart_time = BGW_NEVER_RESTART;
		strlcpy(w.bgw_library_name, "car", BGW_MAXLEN);
		strlcpy(w.bgw_function_name, "car_cron_task_main", BGW_MAXLEN);
		strlcpy(w.bgw_name, "car pg_cron task", BGW_MAXLEN);
		strlcpy(w.bgw_type, "car pg_cron task", BGW_MAXLEN);
		w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
		w.bgw_notify_pid = MyProcPid;
		if (!RegisterDynamicBackgroundWorker(&w, &handle))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not %s: no background worker slot is free to reach pg_cron's database", what),
					 errhint("Raise max_worker_processes, or try again.")));
		status = WaitForBackgroundWorkerShutdown(handle);
		if (status == BGWH_POSTMASTER_DIED)
			ereport(FATAL, (errmsg("postmaster died while car was changing pg_cron jobs")));
		pg_read_barrier();
		if (!task->done)
			ereport(ERROR, (errmsg("could not %s: the worker in database \"%s\" stopped early (see the server log)",
								   what, cron_db)));
		if (!task->ok)
			ereport(ERROR, (errmsg("could not %s in pg_cron's database \"%s\": %s", what, cron_db, task->error)));
		appendStringInfoString(&out, task->result);
		dsm_detach(seg);
		return out.data;
	}
}

/* The worker role, quoted as a literal; it must exist and be no superuser. */
static char *
WorkerRoleLiteral(void)
{
	HeapTuple tup = SearchSysCache1(AUTHNAME, CStringGetDatum(car_worker_role));
	bool	  unsafe;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("car.worker_role \"%s\" does not exist: car's pg_cron jobs run as that role", car_worker_role),
				 errhint("Run SELECT car.grant_roles() first.")));
	unsafe = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper || ((Form_pg_authid) GETSTRUCT(tup))->rolbypassrls ||
			 !((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (unsafe)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("car.worker_role \"%s\" must be a role that can log in (pg_cron's workers log in as it) and "
						"is no superuser",
						car_worker_role),
				 errhint("car.grant_roles() makes car_worker so; set car.worker_role to it.")));
	return quote_literal_cstr(car_worker_role);
}

static void
RequireSuperuser(const char *what)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may %s", what),
				 errdetail("car's pg_cron jobs run as car.worker_role, and pg_cron lets only superusers "
						   "schedule jobs for another role.")));
}

/* car.schedule(refresh_cron, maintenance_cron); on a hub maintenance_cron only */
Datum
car_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char		  *refresh_cron;
	char		  *maintenance_cron;
	const char	  *cron_db;
	const char	  *db = get_database_name(MyDatabaseId);
	bool		   here;
	bool		   hub = car_node_role == CAR_NODE_HUB;
	char		  *qdb = quote_literal_cstr(db);
	char		  *worker;
	char		  *taken;
	StringInfoData sql;
	char		  *rows;
	char		  *line;
	char		  *save;

	RequireSuperuser("schedule car's pg_cron jobs");
	refresh_cron = text_to_cstring(PG_GETARG_TEXT_PP(0));
	maintenance_cron = text_to_cstring(PG_GETARG_TEXT_PP(1));
	cron_db = CronDatabase();
	here = strcmp(cron_db, db) == 0;
	worker = WorkerRoleLiteral();
	InitMaterializedSRF(fcinfo, 0);
	if (hub)
		ereport(NOTICE,
				(errmsg("car-refresh is not scheduled: this server is a hub (car.node_role = hub), which refuses "
						"car.refresh()"),
				 errdetail("A hub's car.emission_daily is fed only by replication from its shards; only car-maintenance "
						   "runs here."),
				 errhint("Schedule car-refresh on each shard: car.schedule() there.")));

	/* pg_cron names jobs per role: another database's car jobs would be taken over */
	taken = RunInCronDatabase(cron_db,
							  psprintf("SELECT DISTINCT database FROM cron.job WHERE username = %s "
									   "AND jobname IN ('car-refresh', 'car-maintenance') AND database <> %s",
									   worker, qdb),
							  "check car's pg_cron jobs");
	if (taken[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("role \"%s\" (car.worker_role) already has car's pg_cron jobs for database \"%s\"",
						car_worker_role, pnstrdup(taken, strcspn(taken, "\n"))),
				 errdetail("pg_cron job names are unique per role."),
				 errhint("Run car.unschedule() in that database first: the worker role holds one database's jobs.")));

	initStringInfo(&sql);
	/*
	 * Jobs of car for this database left under another role (car 1.0 ran
	 * them as their scheduler) go.  So does car-refresh on a hub, made when
	 * the server was a single car or a shard: a hub refuses car.refresh()
	 * (its car.emission_daily is fed only by replication), so the job would
	 * fail every run.
	 */
	appendStringInfo(&sql,
					 "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname IN ('car-refresh', 'car-maintenance') "
					 "AND database = %s AND (username <> %s%s); ",
					 qdb, worker, hub ? " OR jobname = 'car-refresh'" : "");
	if (!hub)
		appendStringInfo(&sql, "SELECT cron.schedule_in_database('car-refresh', %s, 'SELECT car.refresh()', %s, %s); ",
						 quote_literal_cstr(refresh_cron), qdb, worker);
	appendStringInfo(&sql, "SELECT cron.schedule_in_database('car-maintenance', %s, 'SELECT car.maintenance()', %s, %s); ",
					 quote_literal_cstr(maintenance_cron), qdb, worker);
	if (!here)
	{
		/*
		 * History lives here in pg_cron's database, whose schema cron the
		 * worker role may not use: a third job, of the superuser scheduling
		 * (one for the cluster, whoever made it last), keeps the history of
		 * car's jobs of every database short.  Its command is fixed.
		 */
		appendStringInfoString(&sql, "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'car-purge-history' "
									 "AND username <> current_user; ");
		appendStringInfo(&sql, "SELECT cron.schedule_in_database('car-purge-history', %s, %s, %s, current_user); ",
						 quote_literal_cstr(maintenance_cron),
						 quote_literal_cstr(psprintf(
							 "DELETE FROM cron.job_run_details WHERE end_time < now() - interval %s AND jobid IN "
							 "(SELECT jobid FROM cron.job WHERE jobname IN ('car-refresh', 'car-maintenance', "
							 "'car-purge-history'))",
							 quote_literal_cstr(car_job_history_keep))),
						 quote_literal_cstr(cron_db));
	}
	appendStringInfo(&sql,
					 "SELECT jobname, jobid, schedule, database FROM cron.job WHERE username = %s "
					 "AND jobname IN ('car-refresh', 'car-maintenance') AND database = %s "
					 "%s ORDER BY jobid",
					 worker, qdb, here ? "" : "OR jobname = 'car-purge-history' AND username = current_user");
	rows = RunInCronDatabase(cron_db, sql.data, "schedule car's pg_cron jobs");

	for (line = strtok_r(rows, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		char *f[4];
		int	  i;
		Datum values[4];
		bool  nulls[4] = {false};

		f[0] = line;
		for (i = 1; i < 4; i++)
		{
			char *tab = strchr(f[i - 1], '\t');

			if (tab == NULL)
				break;
			*tab = '\0';
			f[i] = tab + 1;
		}
		if (i < 4)
			continue; /* a row of the unschedule statements, not a job */
		values[0] = CStringGetTextDatum(f[0]);
		values[1] = DirectFunctionCall1(int8in, CStringGetDatum(f[1]));
		values[2] = CStringGetTextDatum(f[2]);
		values[3] = CStringGetTextDatum(f[3]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* car.unschedule() */
Datum
car_unschedule(PG_FUNCTION_ARGS)
{
	const char *cron_db;
	const char *db = get_database_name(MyDatabaseId);
	char	   *n;

	RequireSuperuser("remove car's pg_cron jobs");
	cron_db = CronDatabase();
	/*
	 * the worker role's, and any left under another role by car 1.0; the
	 * history purge once no database other than pg_cron's has car's jobs
	 * (and one an older car made as the worker role, which could not run)
	 */
	n = RunInCronDatabase(cron_db,
						  psprintf("SELECT count(cron.unschedule(jobid)) FROM cron.job WHERE "
								   "(jobname IN ('car-refresh', 'car-maintenance') AND database = %s "
								   " OR jobname = 'car-purge-history' AND (username = %s OR NOT EXISTS "
								   "   (SELECT 1 FROM cron.job j WHERE j.jobname IN ('car-refresh', 'car-maintenance') "
								   "    AND j.database NOT IN (%s, current_database()))))",
								   quote_literal_cstr(db), quote_literal_cstr(car_worker_role), quote_literal_cstr(db)),
						  "remove car's pg_cron jobs");
	PG_RETURN_INT32(atoi(n));
}
