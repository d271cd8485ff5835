/*
 * worker.c
 *		The background worker: a launcher polls sources and keeps the dataset
 *		queue; fetchers (dynamic background workers, up to
 *		car.max_parallel_fetches) claim queued datasets with FOR UPDATE SKIP
 *		LOCKED, download them with libcurl and load them exactly as car.push
 *		does.  No transaction is open during network I/O: claim, commit,
 *		fetch, then load in a short transaction of its own.  A failure is
 *		recorded in a new transaction and retried with exponential backoff.
 *		Work left 'running' by a crash is queued again when the launcher
 *		starts.  car.worker_status reads live progress from shared memory.
 */
#include "car.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "catalog/pg_authid.h"

#include "fetch.h"
#include "numfmt.h"
#include "hostpolicy.h"

PGDLLEXPORT void car_launcher_main(Datum arg);
PGDLLEXPORT void car_fetcher_main(Datum arg);

PG_FUNCTION_INFO_V1(car_wake);
PG_FUNCTION_INFO_V1(car_backfill);
PG_FUNCTION_INFO_V1(car_worker_status_fn);

#define MAX_SLOTS	 17 /* launcher + up to 16 fetchers */
#define MAX_ATTEMPTS 10

char *car_database = NULL;
int	  car_http_timeout = 30;
int	  car_max_download_bytes = 100 * 1024 * 1024;
char *car_allowed_url_schemes = NULL;
char *car_allowed_hosts = NULL;
int	  car_max_parallel_fetches = 4;
int	  car_retry_delay = 60;

typedef struct WorkerSlot
{
	pid_t		pid;
	bool		launcher;
	char		state[16];
	char		source[NAMEDATALEN];
	char		uri[512];
	int64		bytes;
	int64		rows;
	TimestampTz started_at;
} WorkerSlot;

typedef struct CarShmem
{
	LWLock	  *lock;
	Latch	  *launcher_latch;
	WorkerSlot slots[MAX_SLOTS];
} CarShmem;

static CarShmem				  *car_shmem = NULL;
static WorkerSlot			  *my_slot = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool					   wake_at_commit = false;
static MemoryContext		   work_cxt = NULL;		 /* per loop (launcher) or per dataset (fetcher) */
static const HostAllowList	  *allowed_hosts = NULL; /* car.allowed_hosts, parsed (the GUC's extra) */

/* ---------------------------------------------------------- shared memory */

static void
CarShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CarShmem)));
	RequestNamedLWLockTranche("car", 1);
}

static void
CarShmemStartup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	car_shmem = ShmemInitStruct("car", sizeof(CarShmem), &found);
	if (!found)
	{
		memset(car_shmem, 0, sizeof(CarShmem));
		car_shmem->lock = &(GetNamedLWLockTranche("car"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Take a status slot for this process; released at exit. */
static void
ReleaseSlot(int code, Datum arg)
{
	if (my_slot)
	{
		LWLockAcquire(car_shmem->lock, LW_EXCLUSIVE);
		if (my_slot->launcher)
			car_shmem->launcher_latch = NULL;
		memset(my_slot, 0, sizeof(WorkerSlot));
		LWLockRelease(car_shmem->lock);
		my_slot = NULL;
	}
}

static void
TakeSlot(bool launcher)
{
	int i;

	LWLockAcquire(car_shmem->lock, LW_EXCLUSIVE);
	for (i = 0; i < MAX_SLOTS; i++)
		if (car_shmem->slots[i].pid == 0)
		{
			my_slot = &car_shmem->slots[i];
			memset(my_slot, 0, sizeof(WorkerSlot));
			my_slot->pid = MyProcPid;
			my_slot->launcher = launcher;
			strlcpy(my_slot->state, "idle", sizeof(my_slot->state));
			my_slot->started_at = GetCurrentTimestamp();
			if (launcher)
				car_shmem->launcher_latch = MyLatch;
			break;
		}
	LWLockRelease(car_shmem->lock);
	if (my_slot == NULL)
	{
		ereport(LOG, (errmsg("car: no free worker slot; exiting")));
		proc_exit(0);
	}
	before_shmem_exit(ReleaseSlot, (Datum) 0);
	car_ingest_progress = &my_slot->rows;
}

static void
SetState(const char *state, const char *source, const char *uri)
{
	if (my_slot == NULL)
		return;
	strlcpy(my_slot->state, state, sizeof(my_slot->state));
	if (source)
		strlcpy(my_slot->source, source, sizeof(my_slot->source));
	if (uri)
		fetch_redact(uri, my_slot->uri, sizeof(my_slot->uri));
	else
		my_slot->uri[0] = '\0';
	my_slot->bytes = 0;
	my_slot->rows = 0;
}

/* ---------------------------------------------------------- wake at commit */

static void
WakeCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit && car_shmem)
	{
		Latch *l = car_shmem->launcher_latch; /* read once: the launcher may be exiting */

		if (l)
			SetLatch(l);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

/* Wake the launcher when this transaction commits. */
void
car_wake_launcher_at_commit(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(WakeCallback, NULL);
		registered = true;
	}
	wake_at_commit = true;
}

/* ---------------------------------------------------------- registration */

/* car.allowed_hosts: parse it, or refuse the value saying which entry is wrong. */
static bool
CheckAllowedHosts(char **newval, void **extra, GucSource source)
{
	char		   err[512];
	HostAllowList *list = hostpolicy_parse(*newval ? *newval : "", err, sizeof(err));

	if (list == NULL)
	{
		GUC_check_errdetail("%s", err);
		GUC_check_errhint("List hosts (host or host:port), addresses (an IPv6 one as [address]:port with a port) and "
						  "networks (address/prefix), separated by commas.");
		return false;
	}
	*extra = list; /* malloc'd, one block: the GUC machinery frees it */
	return true;
}

/* car.allowed_hosts: the parsed list the worker checks connections against. */
static void
AssignAllowedHosts(const char *newval, void *extra)
{
	allowed_hosts = extra;
}

/* The worker's settings, and the launcher's registration when preloaded. */
void
car_worker_init(void)
{
	DefineCustomStringVariable("car.database", "Database the car background worker works in.", NULL,
							   &car_database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("car.http_timeout", "Seconds a download may take (connecting: a third of it).", NULL,
							&car_http_timeout, 30, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("car.max_download_bytes", "Largest file the worker downloads.", NULL,
							&car_max_download_bytes, 100 * 1024 * 1024, 1024, INT_MAX, PGC_SIGHUP, GUC_UNIT_BYTE, NULL,
							NULL, NULL);
	DefineCustomStringVariable("car.allowed_url_schemes", "URL schemes the worker may fetch (comma-separated).",
							   "file is allowed only when listed.", &car_allowed_url_schemes, "https,http", PGC_SIGHUP,
							   0, NULL, NULL, NULL);
	DefineCustomStringVariable("car.allowed_hosts",
							   "Loopback, private, link-local and other special-purpose destinations the worker may fetch "
							   "from (comma-separated).",
							   "Entries: host, host:port, address, [IPv6 address]:port, address/prefix. Empty (the default): "
							   "only ordinary, globally routed addresses. Set it in postgresql.conf or with ALTER SYSTEM.",
							   &car_allowed_hosts, "", PGC_SIGHUP, 0, CheckAllowedHosts, AssignAllowedHosts, NULL);
	DefineCustomIntVariable("car.max_parallel_fetches", "Fetcher workers running at once.", NULL,
							&car_max_parallel_fetches, 4, 1, MAX_SLOTS - 1, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("car.retry_delay", "First retry delay after a failed fetch; doubles each time, up to an hour.",
							NULL, &car_retry_delay, 60, 1, 86400, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = CarShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = CarShmemStartup;
	{
		BackgroundWorker w;

		memset(&w, 0, sizeof(w));
		w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		w.bgw_start_time = BgWorkerStart_RecoveryFinished;
		w.bgw_restart_time = 10;
		strlcpy(w.bgw_library_name, "car", BGW_MAXLEN);
		strlcpy(w.bgw_function_name, "car_launcher_main", BGW_MAXLEN);
		strlcpy(w.bgw_name, "car launcher", BGW_MAXLEN);
		strlcpy(w.bgw_type, "car launcher", BGW_MAXLEN);
		RegisterBackgroundWorker(&w);
	}
}

/* ---------------------------------------------------------- transactions */

/*
 * The worker connects as the bootstrap superuser (only that needs no LOGIN
 * role to exist before car.grant_roles() has run), but does all its work
 * as car.worker_role: from the start of each transaction it is that role,
 * with SECURITY_LOCAL_USERID_CHANGE so that nothing run meanwhile (a trigger,
 * a function) can SET ROLE back.  An abort restores the superuser as well.
 */
static Oid worker_saved_user = InvalidOid;
static int worker_saved_sec = 0;

static void
ActAsWorkerRole(void)
{
	HeapTuple tup = SearchSysCache1(AUTHNAME, CStringGetDatum(car_worker_role));
	Oid		  role;
	bool	  unsafe;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("car.worker_role \"%s\" does not exist, so the background worker does nothing", car_worker_role),
				 errhint("Run SELECT car.grant_roles() in database \"%s\".", car_database)));
	role = ((Form_pg_authid) GETSTRUCT(tup))->oid;
	unsafe = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper || ((Form_pg_authid) GETSTRUCT(tup))->rolbypassrls;
	ReleaseSysCache(tup);
	if (unsafe)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("car.worker_role \"%s\" is a superuser or bypasses row-level security; the background "
						"worker refuses to act as it",
						car_worker_role),
				 errhint("Set car.worker_role to a role of its own and run car.grant_roles().")));
	GetUserIdAndSecContext(&worker_saved_user, &worker_saved_sec);
	SetUserIdAndSecContext(role, worker_saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/* The search_path BeginTx pinned (car_spi_connect), for EndTx to undo. */
static int worker_pin;

static void
BeginTx(const char *what)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ActAsWorkerRole();
	worker_pin = car_spi_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

static void
EndTx(void)
{
	car_spi_finish(worker_pin);
	PopActiveSnapshot();
	SetUserIdAndSecContext(worker_saved_user, worker_saved_sec);
	CommitTransactionCommand();
	MemoryContextSwitchTo(work_cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Is the extension installed (and not being dropped) in this database, at
 * the version this library is built for?  An older one (before ALTER
 * EXTENSION car UPDATE) is said once in the log, and waited out.
 */
static bool
ExtensionReady(void)
{
	int			pin;
	static bool told = false;
	bool		ready = false;
	char	   *version = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* the queue table too: a drop may be half done */
	if (OidIsValid(get_extension_oid("car", true)) && OidIsValid(get_namespace_oid("car", true)) &&
		OidIsValid(get_relname_relid("dataset", get_namespace_oid("car", true))))
	{
		pin = car_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'car'", true, 1) ==
				SPI_OK_SELECT &&
			SPI_processed == 1)
			version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		ready = version != NULL && strcmp(version, CAR_SQL_VERSION) == 0;
		if (version != NULL && !ready && !told)
			ereport(LOG, (errmsg("car %s is installed in database \"%s\"; this car library works with %s", version,
								 car_database, CAR_SQL_VERSION),
						  errhint("Run ALTER EXTENSION car UPDATE in that database; the worker waits until then.")));
		told = version != NULL && !ready;
		PopActiveSnapshot();
		car_spi_finish(pin);
	}
	CommitTransactionCommand();
	return ready;
}

/*
 * Run fn in the worker: an error is logged, the transaction cleaned up, and
 * its message kept in *message and its SQLSTATE in *code (when given) for
 * the status tables and the retry decision.
 */
static bool
GuardedMessage(void (*fn)(void *), void *arg, char **message, int *code)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(work_cxt);
		if (message)
			*message = pstrdup(e->message ? e->message : "unknown error");
		if (code)
			*code = e->sqlerrcode;
		FreeErrorData(e);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static bool
Guarded(void (*fn)(void *), void *arg)
{
	return GuardedMessage(fn, arg, NULL, NULL);
}

static int64
Int8Col(int row, int col)
{
	bool  isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static int32
Int4Col(int row, int col)
{
	bool  isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

static char *
TextCol(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

static TimestampTz
TimestampTzCol(int row, int col)
{
	bool  isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

/* ---------------------------------------------------------- templates */

static const char *const mons[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};

/* A template URI with {yyyy} {mm} {mon} {dd} filled in. */
static char *
ExpandTemplate(const char *tpl, int y, int m, int d)
{
	StringInfoData s;
	const char	  *p;

	initStringInfo(&s);
	for (p = tpl; *p;)
	{
		if (strncmp(p, "{yyyy}", 6) == 0)
			appendStringInfo(&s, "%04d", y), p += 6;
		else if (strncmp(p, "{mm}", 4) == 0)
			appendStringInfo(&s, "%02d", m), p += 4;
		else if (strncmp(p, "{mon}", 5) == 0)
			appendStringInfoString(&s, mons[m - 1]), p += 5;
		else if (strncmp(p, "{dd}", 4) == 0)
			appendStringInfo(&s, "%02d", d), p += 4;
		else
			appendStringInfoChar(&s, *p++);
	}
	return s.data;
}

static void
QueueDataset(int source_id, const char *uri)
{
	Oid	  types[2] = {INT4OID, TEXTOID};
	Datum v[2] = {Int32GetDatum(source_id), CStringGetTextDatum(uri)};

	/* new ones are queued; finished ones are queued again (a conditional GET will say if they changed) */
	if (SPI_execute_with_args("INSERT INTO car.dataset AS d (source_id, uri) VALUES ($1, $2) "
							  "ON CONFLICT (source_id, uri) DO UPDATE SET state = 'queued', next_attempt_at = now(), attempts = 0 "
							  "WHERE d.state IN ('done', 'failed')",
							  2, types, v, NULL, false, 0) < 0)
		elog(ERROR, "could not queue %s", uri);
}

/* ---------------------------------------------------------- fetching */

static int
ShouldAbort(void *arg)
{
	return ProcDiePending || QueryCancelPending;
}

static void
Progress(void *arg, size_t bytes)
{
	if (my_slot)
		my_slot->bytes = (int64) bytes;
}

/* Download a URI with the worker's settings, within a source's scope. */
static int
Download(const char *uri, const char *etag, const char *last_modified, const FetchScope *scope, FetchResult *res)
{
	FetchRequest req;

	memset(&req, 0, sizeof(req));
	req.url = uri;
	req.etag = etag;
	req.last_modified = last_modified;
	req.protocols = car_allowed_url_schemes;
	req.timeout_s = car_http_timeout;
	req.connect_timeout_s = Max(1, car_http_timeout / 3);
	req.max_bytes = (size_t) car_max_download_bytes;
	req.should_abort = ShouldAbort;
	req.progress = Progress;
	req.allowed = allowed_hosts;
	req.scope = *scope;
	fetch_global_init();
	return fetch_url(&req, res);
}

typedef struct Claimed
{
	int64		id;
	int			source_id;
	char	   *source;
	char	   *format;
	char	   *uri;
	char	   *fetch_uri; /* uri with the source's credentials, for libcurl only */
	char	   *etag;
	char	   *last_modified;
	int			attempts;
	bool		found;
	char	   *source_uri;	  /* the scope: the source's own host, and */
	char	  **follow_hosts; /* its follow_hosts option */
	int			nfollow;
	char	   *kind;	/* the source's kind */
	char	   *region; /* a carbon-intensity window's region and bounds, or NULL */
	TimestampTz period_from;
	TimestampTz period_to;
} Claimed;

/*
 * A source's follow_hosts option as read by SQL (FOLLOW_HOSTS_SQL below: an
 * array of text, empty when absent or not an array), into work_cxt.
 */
static void
FollowHostsCol(int row, int col, char ***hosts, int *n)
{
	bool		  isnull;
	Datum		  d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	Datum		 *elems;
	bool		 *nulls;
	int			  count;
	int			  i;
	MemoryContext old;

	*hosts = NULL;
	*n = 0;
	if (isnull)
		return;
	old = MemoryContextSwitchTo(work_cxt);
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	*hosts = palloc(sizeof(char *) * (count + 1));
	for (i = 0; i < count; i++)
		if (!nulls[i])
			(*hosts)[(*n)++] = TextDatumGetCString(elems[i]);
	MemoryContextSwitchTo(old);
}

/* The follow_hosts option of source s, whatever was written into it, as text[]. */
#define FOLLOW_HOSTS_SQL                                                                                  \
	"ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.options->'follow_hosts') = 'array' " \
	"THEN s.options->'follow_hosts' END))"

/* The length of url's "scheme://authority" part, or 0. */
static size_t
AuthorityEnd(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL)
		return 0;
	p += 3;
	return (size_t) (p + strcspn(p, "/?#") - url);
}

/*
 * url with the source's user:password (car.source_secret) put back in, for
 * libcurl alone: only when url is on the source's own scheme, host and port
 * and carries none of its own.  Stored URIs, logs and status never hold it.
 */
static char *
WithCredentials(const char *url, const char *userinfo, const char *source_uri)
{
	size_t		n = AuthorityEnd(url);
	const char *at;

	if (userinfo == NULL || source_uri == NULL || n == 0 || n != AuthorityEnd(source_uri) ||
		pg_strncasecmp(url, source_uri, n) != 0)
		return pstrdup(url);
	at = memchr(url, '@', n);
	if (at != NULL)
		return pstrdup(url);
	return psprintf("%.*s%s@%s", (int) (strstr(url, "://") + 3 - url), url, userinfo, strstr(url, "://") + 3);
}

/* Claim the next due dataset, with what fetching it needs. */
static void
ClaimOne(void *arg)
{
	Claimed *c = arg;

	c->found = false;
	BeginTx("car: claiming a dataset");
	if (SPI_execute("UPDATE car.dataset d SET state = 'running', claimed_by = pg_backend_pid() "
					"FROM car.source s LEFT JOIN car.source_secret x ON x.source_id = s.id "
					"WHERE d.id = (SELECT id FROM car.dataset WHERE state = 'queued' AND next_attempt_at <= now() "
					"              ORDER BY next_attempt_at, id FOR UPDATE SKIP LOCKED LIMIT 1) "
					"AND s.id = d.source_id "
					"RETURNING d.id, d.source_id, s.name, s.format, d.uri, d.etag, d.last_modified, d.attempts, s.uri, " FOLLOW_HOSTS_SQL ", x.userinfo, "
					"s.kind, d.region, d.period_from, d.period_to",
					false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim a dataset");
	if (SPI_processed == 1)
	{
		MemoryContext old = MemoryContextSwitchTo(work_cxt);

		c->id = Int8Col(0, 1);
		c->source_id = Int4Col(0, 2);
		c->source = pstrdup(TextCol(0, 3));
		c->format = TextCol(0, 4) ? pstrdup(TextCol(0, 4)) : NULL;
		c->uri = pstrdup(TextCol(0, 5));
		c->etag = TextCol(0, 6) ? pstrdup(TextCol(0, 6)) : NULL;
		c->last_modified = TextCol(0, 7) ? pstrdup(TextCol(0, 7)) : NULL;
		c->attempts = Int4Col(0, 8);
		c->source_uri = TextCol(0, 9) ? pstrdup(TextCol(0, 9)) : NULL;
		c->fetch_uri = WithCredentials(c->uri, TextCol(0, 11), c->source_uri);
		c->kind = pstrdup(TextCol(0, 12));
		c->region = TextCol(0, 13) ? pstrdup(TextCol(0, 13)) : NULL;
		c->period_from = c->region ? TimestampTzCol(0, 14) : 0;
		c->period_to = c->region ? TimestampTzCol(0, 15) : 0;
		MemoryContextSwitchTo(old);
		FollowHostsCol(0, 10, &c->follow_hosts, &c->nfollow);
		c->found = true;
	}
	EndTx();
}

/* Whether an error's SQLSTATE is a conflict with another transaction, which a retry can get past. */
static bool
TransientConflict(int code)
{
	return code == ERRCODE_T_R_DEADLOCK_DETECTED || code == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		   code == ERRCODE_LOCK_NOT_AVAILABLE;
}

typedef struct Failure
{
	Claimed	   *c;
	const char *error;
	bool		retryable;
} Failure;

static void RecordFailureTx(void *arg);

/*
 * Record a failed attempt: retry later with backoff, or give up.  If even
 * that fails, the row stays 'running' and the launcher queues it again.
 */
static void
RecordFailure(Claimed *c, const char *error, bool retryable)
{
	Failure f;

	f.c = c;
	f.error = error;
	f.retryable = retryable;
	(void) Guarded(RecordFailureTx, &f);
	ereport(LOG, (errmsg("car: %s", error)));
}

static void
RecordFailureTx(void *arg)
{
	Failure	   *f = arg;
	Claimed	   *c = f->c;
	const char *error = f->error;
	bool		retryable = f->retryable;
	Oid			types[4] = {INT8OID, TEXTOID, BOOLOID, INT4OID};
	Datum		v[4] = {Int64GetDatum(c->id), CStringGetTextDatum(error), BoolGetDatum(retryable),
						Int32GetDatum(car_retry_delay)};

	BeginTx("car: recording a failure");
	if (SPI_execute_with_args(
			"WITH d AS (UPDATE car.dataset SET attempts = attempts + 1, last_error = $2, claimed_by = NULL, "
			"             state = CASE WHEN $3 AND attempts + 1 < " CppAsString2(MAX_ATTEMPTS) " THEN 'queued' ELSE 'failed' END, "
																							   "             next_attempt_at = now() + least(make_interval(secs => $4 * power(2, attempts)), interval '1 hour') "
																							   "           WHERE id = $1 RETURNING source_id) "
																							   "UPDATE car.source s SET consecutive_failures = consecutive_failures + 1, last_error = $2 "
																							   "FROM d WHERE s.id = d.source_id",
			4, types, v, NULL, false, 0) < 0)
		elog(ERROR, "could not record a failure");
	EndTx();
}

typedef struct LoadJob
{
	Claimed		*c;
	FetchResult *res;
} LoadJob;

/* A URL without user:password, palloc'd: what may be recorded or shown. */
static char *
Redacted(const char *url)
{
	size_t len = strlen(url) + 1;
	char  *out = palloc(len);

	fetch_redact(url, out, len);
	return out;
}

/*
 * Load a downloaded body in one transaction.  The file is recorded with the
 * URL that served its bytes (after redirects), without credentials.
 */
static void
LoadBody(void *arg)
{
	LoadJob	   *job = arg;
	Claimed	   *c = job->c;
	bytea	   *payload;
	int			file_id = 0;
	char	   *final_uri;
	char	   *shown;
	const char *name;
	Oid			types[6] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID};
	Datum		v[6];
	char		nulls[6] = "      ";

	BeginTx("car: loading a dataset");
	final_uri = Redacted(job->res->final_url ? job->res->final_url : c->uri);
	shown = Redacted(c->uri);
	name = strrchr(shown, '/') ? strrchr(shown, '/') + 1 : shown;
	if (c->region != NULL && strcmp(c->kind, "carbon-intensity") == 0)
	{
		Oid	  t[2] = {INT4OID, TEXTOID};
		Datum nv[2];
		char  nn[2] = {' ', ' '};
		char *note;

		file_id = car_intensity_load(c->source_id, c->region, c->period_from, c->period_to, job->res->body,
									 job->res->len, final_uri, &note);
		nv[0] = Int32GetDatum(c->source_id);
		nv[1] = note ? CStringGetTextDatum(note) : (Datum) 0;
		nn[1] = note ? ' ' : 'n';
		SPI_execute_with_args("UPDATE car.source SET last_note = $2 WHERE id = $1 AND last_note IS DISTINCT FROM $2", 2,
							  t, nv, nn, false, 0);
	}
	else if (c->format && strcmp(c->format, "desnz-factors") == 0)
	{
		FactorLoadOptions opt = {0, false, NF_DETECT, NF_DETECT};

		(void) car_load_factor_bytes(job->res->body, job->res->len, name, final_uri, &opt);
	}
	else
	{
		Oid	   t[1] = {INT4OID};
		Datum  sv[1] = {Int32GetDatum(c->source_id)};
		bool   isnull;
		bool   duplicate;
		Jsonb *options;

		payload = palloc(job->res->len + VARHDRSZ);
		SET_VARSIZE(payload, job->res->len + VARHDRSZ);
		memcpy(VARDATA(payload), job->res->body, job->res->len);
		fetch_free(job->res);
		if (SPI_execute_with_args("SELECT options FROM car.source WHERE id = $1", 1, t, sv, NULL, false, 1) !=
				SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "source %d vanished", c->source_id);
		options = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		file_id = car_ingest_file(c->source_id, c->source, c->format, options, name, final_uri, payload, &duplicate);
	}
	v[0] = Int64GetDatum(c->id);
	v[1] = job->res->etag[0] ? CStringGetTextDatum(job->res->etag) : (Datum) 0;
	nulls[1] = job->res->etag[0] ? ' ' : 'n';
	v[2] = job->res->last_modified[0] ? CStringGetTextDatum(job->res->last_modified) : (Datum) 0;
	nulls[2] = job->res->last_modified[0] ? ' ' : 'n';
	v[3] = Int32GetDatum(file_id);
	nulls[3] = file_id ? ' ' : 'n';
	v[4] = Int32GetDatum((int32) job->res->status);
	v[5] = CStringGetTextDatum(final_uri);
	if (SPI_execute_with_args(
			"WITH d AS (UPDATE car.dataset SET state = 'done', attempts = 0, claimed_by = NULL, last_error = NULL, "
			"             etag = $2, last_modified = $3, file_id = coalesce($4, file_id), last_status = $5, "
			"             last_fetched_at = now(), final_uri = $6 WHERE id = $1 RETURNING source_id) "
			"UPDATE car.source s SET consecutive_failures = 0, last_error = NULL, last_success_at = now() "
			"FROM d WHERE s.id = d.source_id",
			6, types, v, nulls, false, 0) < 0)
		elog(ERROR, "could not record the load");
	EndTx();
}

static void
NotModified(void *arg)
{
	Claimed *c = arg;
	Oid		 types[1] = {INT8OID};
	Datum	 v[1] = {Int64GetDatum(c->id)};

	BeginTx("car: dataset unchanged");
	if (SPI_execute_with_args(
			"WITH d AS (UPDATE car.dataset SET state = CASE WHEN file_id IS NULL AND last_error IS NOT NULL "
			"             THEN 'failed' ELSE 'done' END, attempts = 0, claimed_by = NULL, last_status = 304, "
			"             last_fetched_at = now() WHERE id = $1 RETURNING source_id) "
			"UPDATE car.source s SET consecutive_failures = 0, last_error = NULL, last_success_at = now() "
			"FROM d WHERE s.id = d.source_id",
			1, types, v, NULL, false, 0) < 0)
		elog(ERROR, "could not record the poll");
	EndTx();
}

/* Fetch and load one claimed dataset; every failure is recorded, none escapes. */
static void
ProcessDataset(Claimed *c)
{
	FetchResult res;
	LoadJob		job = {c, &res};
	FetchScope	scope = {c->source_uri, (const char *const *) c->follow_hosts, c->nfollow};

	SetState("fetching", c->source, c->uri);
	/* a push source has no URI, and so no datasets; were one there, it would be refused */
	if (scope.origin == NULL)
		scope.origin = "";
	if (Download(c->fetch_uri, c->etag, c->last_modified, &scope, &res) != 0)
	{
		CHECK_FOR_INTERRUPTS();
		/* a destination car refuses stays refused: no retries, until the source is polled anew */
		RecordFailure(c, res.error, !res.refused);
		return;
	}
	CHECK_FOR_INTERRUPTS();
	if (res.not_modified)
	{
		fetch_free(&res);
		Guarded(NotModified, c);
		return;
	}
	SetState("loading", c->source, c->uri);
	my_slot->bytes = (int64) res.len;
	{
		char *why = NULL;
		int	  code = 0;

		/*
		 * A file that cannot be loaded is not fetched again until the source
		 * is polled anew; a load that lost a conflict with another
		 * transaction (another loader's locks: a deadlock, a serialization
		 * failure, a lock not available) says nothing of the file and is
		 * retried with back-off, as a failed download is.
		 */
		if (!GuardedMessage(LoadBody, &job, &why, &code))
		{
			char shown[600];

			fetch_redact(c->uri, shown, sizeof(shown));
			RecordFailure(c, psprintf("loading %s failed: %s", shown, why), TransientConflict(code));
		}
	}
	fetch_free(&res);
	SetState("idle", NULL, NULL);
}

/* Claim and process datasets until none is due. */
static void
DrainQueue(int limit)
{
	int done = 0;

	MemoryContext outer = work_cxt;
	MemoryContext per = AllocSetContextCreate(TopMemoryContext, "car dataset", ALLOCSET_DEFAULT_SIZES);

	while (limit == 0 || done < limit)
	{
		Claimed c;

		/* each dataset's strings and buffers live until the next one */
		MemoryContextReset(per);
		work_cxt = per;
		MemoryContextSwitchTo(per);
		memset(&c, 0, sizeof(c));
		CHECK_FOR_INTERRUPTS();
		/* a tightened car.allowed_hosts applies from the next dataset on */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!Guarded(ClaimOne, &c) || !c.found)
			break;
		ProcessDataset(&c);
		done++;
	}
	work_cxt = outer;
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(per);
}

/* ---------------------------------------------------------- launcher */

typedef struct DueSource
{
	int	   id;
	char  *name;
	char  *kind;
	char  *uri;
	char  *fetch_uri; /* with the source's credentials, for libcurl only */
	char  *pattern;
	char **follow_hosts;
	int	   nfollow;
} DueSource;

typedef struct PollState
{
	List *indexes; /* DueSource * of kind index, fetched after commit */
	long  wait_ms;
} PollState;

static void
PollDue(void *arg)
{
	PollState *ps = arg;
	uint64	   i,
		n;
	TimestampTz	 now = GetCurrentTimestamp();
	struct pg_tm tm;
	fsec_t		 fs;

	ps->indexes = NIL;
	BeginTx("car: polling sources");
	if (SPI_execute("SELECT s.id, s.name, s.kind, s.uri, s.options->>'pattern', " FOLLOW_HOSTS_SQL ", "
					"(SELECT x.userinfo FROM car.source_secret x WHERE x.source_id = s.id) FROM car.source s "
					"WHERE s.enabled AND s.kind <> 'push' AND coalesce(s.next_poll_at, '-infinity') <= now() "
					"ORDER BY s.next_poll_at NULLS FIRST FOR UPDATE OF s SKIP LOCKED",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.source");
	n = SPI_processed;
	{
		DueSource *due = palloc(sizeof(DueSource) * (n + 1));

		for (i = 0; i < n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(work_cxt);

			due[i].id = Int4Col(i, 1);
			due[i].name = pstrdup(TextCol(i, 2));
			due[i].kind = pstrdup(TextCol(i, 3));
			due[i].uri = pstrdup(TextCol(i, 4));
			due[i].pattern = TextCol(i, 5) ? pstrdup(TextCol(i, 5)) : NULL;
			due[i].fetch_uri = WithCredentials(due[i].uri, TextCol(i, 7), due[i].uri);
			MemoryContextSwitchTo(old);
			FollowHostsCol(i, 6, &due[i].follow_hosts, &due[i].nfollow);
		}
		timestamp2tm(now, NULL, &tm, &fs, NULL, NULL);
		for (i = 0; i < n; i++)
		{
			Oid	  types[1] = {INT4OID};
			Datum v[1] = {Int32GetDatum(due[i].id)};

			if (strcmp(due[i].kind, "file") == 0)
				QueueDataset(due[i].id, due[i].uri);
			else if (strcmp(due[i].kind, "template") == 0)
				QueueDataset(due[i].id, ExpandTemplate(due[i].uri, tm.tm_year, tm.tm_mon, tm.tm_mday));
			else if (strcmp(due[i].kind, "carbon-intensity") == 0)
				(void) car_intensity_queue(due[i].id, 0, car_intensity_horizon(now), false);
			else
			{
				MemoryContext old = MemoryContextSwitchTo(work_cxt);
				DueSource	 *d = palloc(sizeof(DueSource));

				*d = due[i];
				ps->indexes = lappend(ps->indexes, d);
				MemoryContextSwitchTo(old);
			}
			SPI_execute_with_args("UPDATE car.source SET last_poll_at = now(), next_poll_at = now() + poll_interval "
								  "WHERE id = $1",
								  1, types, v, NULL, false, 0);
		}
	}
	EndTx();
}

typedef struct IndexJob
{
	DueSource  *src;
	FetchLinks	links;
	const char *error;
	const char *note; /* what the poll left out, for car.source.last_note; NULL: nothing */
} IndexJob;

/* Queue an index page's links (or record why it failed) and the poll's note. */
static void
QueueLinks(void *arg)
{
	IndexJob *job = arg;
	int		  i;

	BeginTx("car: queueing an index's links");
	if (job->error)
	{
		Oid	  types[3] = {INT4OID, TEXTOID, INT4OID};
		Datum v[3] = {Int32GetDatum(job->src->id), CStringGetTextDatum(job->error), Int32GetDatum(car_retry_delay)};

		SPI_execute_with_args("UPDATE car.source SET consecutive_failures = consecutive_failures + 1, last_error = $2, "
							  "next_poll_at = now() + least(poll_interval, make_interval(secs => $3 * power(2, least(consecutive_failures, 12)))) "
							  "WHERE id = $1",
							  3, types, v, NULL, false, 0);
	}
	else
	{
		Oid	  types[2] = {INT4OID, TEXTOID};
		Datum v[2] = {Int32GetDatum(job->src->id), job->note ? CStringGetTextDatum(job->note) : (Datum) 0};
		char  nulls[2] = {' ', job->note ? ' ' : 'n'};

		for (i = 0; i < job->links.n; i++)
			QueueDataset(job->src->id, job->links.v[i]);
		SPI_execute_with_args("UPDATE car.source SET last_note = $2 WHERE id = $1 AND last_note IS DISTINCT FROM $2", 2,
							  types, v, nulls, false, 0);
	}
	EndTx();
}

/* What an index poll left out, as a sentence for car.source.last_note, or NULL. */
static const char *
LinksNote(const FetchLinks *l)
{
	StringInfoData s;

	if (l->over_cap == 0 && l->too_long == 0 && l->other_hosts == 0 && l->other_schemes == 0)
		return NULL;
	initStringInfo(&s);
	if (l->other_hosts > 0)
		appendStringInfo(&s,
						 "%ld link%s to other hosts (%s) left out: list a host in the source's follow_hosts option to "
						 "fetch its links.",
						 l->other_hosts, l->other_hosts == 1 ? "" : "s", l->other_host_names);
	if (l->other_schemes > 0)
		appendStringInfo(&s, "%s%ld link%s with a scheme other than http, https or the page's own left out.",
						 s.len ? " " : "", l->other_schemes, l->other_schemes == 1 ? "" : "s");
	if (l->over_cap > 0)
		appendStringInfo(&s,
						 "%sThe page has more than %d distinct links matching the pattern: the first %d in page order "
						 "were taken, %ld later ones left out.",
						 s.len ? " " : "", FETCH_MAX_LINKS, FETCH_MAX_LINKS, l->over_cap);
	if (l->too_long > 0)
		appendStringInfo(&s, "%s%ld links longer than %d characters were left out.", s.len ? " " : "", l->too_long,
						 FETCH_MAX_LINK_LEN);
	return s.data;
}

/* Fetch an index page and queue its links (the launcher, outside a transaction). */
static void
PollIndex(DueSource *src)
{
	FetchResult res;
	IndexJob	job;
	char		err[FETCH_ERRLEN];
	FetchScope	scope = {src->uri, (const char *const *) src->follow_hosts, src->nfollow};

	memset(&job, 0, sizeof(job));
	job.src = src;
	SetState("polling", src->name, src->uri);
	if (Download(src->fetch_uri, NULL, NULL, &scope, &res) != 0)
		job.error = pstrdup(res.error);
	else
	{
		/* links are relative to where the page was found, after redirects */
		if (fetch_links(res.body, res.len, res.final_url ? res.final_url : src->uri, src->pattern, &scope,
						FETCH_MAX_LINKS, &job.links, err, sizeof(err)) != 0)
			job.error = pstrdup(err);
		else
			job.note = LinksNote(&job.links);
		fetch_free(&res);
	}
	Guarded(QueueLinks, &job);
	fetch_links_free(&job.links);
	SetState("idle", NULL, NULL);
}

/* Handles of the fetchers this launcher started (some may not have a slot yet). */
static BackgroundWorkerHandle *fetchers[MAX_SLOTS];

static int
RunningFetchers(void)
{
	int i,
		n = 0;

	for (i = 0; i < MAX_SLOTS; i++)
	{
		pid_t pid;

		if (fetchers[i] == NULL)
			continue;
		if (GetBackgroundWorkerPid(fetchers[i], &pid) == BGWH_STOPPED)
		{
			pfree(fetchers[i]);
			fetchers[i] = NULL;
		}
		else
			n++;
	}
	return n;
}

typedef struct QueueInfo
{
	int64 due;
	long  wait_ms;
} QueueInfo;

static void
LookQueue(void *arg)
{
	QueueInfo *q = arg;

	BeginTx("car: looking at the queue");

	/*
	 * DROP EXTENSION locks car's tables one by one, in an order of its own:
	 * waiting here for one while holding another could deadlock with it.
	 * Take both without waiting, or look again in a second.
	 */
	{
		Oid nsp = get_namespace_oid("car", true);
		Oid dataset = OidIsValid(nsp) ? get_relname_relid("dataset", nsp) : InvalidOid;
		Oid source = OidIsValid(nsp) ? get_relname_relid("source", nsp) : InvalidOid;

		if (!OidIsValid(dataset) || !OidIsValid(source) || !ConditionalLockRelationOid(dataset, AccessShareLock) ||
			!ConditionalLockRelationOid(source, AccessShareLock))
		{
			q->due = 0;
			q->wait_ms = 1000;
			EndTx();
			return;
		}
	}
	if (SPI_execute("SELECT (SELECT count(*) FROM car.dataset WHERE state = 'queued' AND next_attempt_at <= now()), "
					"ceil(1000 * extract(epoch FROM least("
					"  (SELECT min(next_attempt_at) FROM car.dataset WHERE state = 'queued'), "
					"  (SELECT min(coalesce(next_poll_at, now())) FROM car.source WHERE enabled AND kind <> 'push')) - now()))::bigint",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.dataset");
	q->due = Int8Col(0, 1);
	q->wait_ms = TextCol(0, 2) ? (long) Int8Col(0, 2) : 60000;
	EndTx();
}

static void
StartFetchers(int n)
{
	int i;

	for (i = 0; i < n; i++)
	{
		BackgroundWorker		w;
		BackgroundWorkerHandle *h;
		MemoryContext			old;
		bool					registered;

		memset(&w, 0, sizeof(w));
		w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		w.bgw_start_time = BgWorkerStart_RecoveryFinished;
		w.bgw_restart_time = BGW_NEVER_RESTART;
		strlcpy(w.bgw_library_name, "car", BGW_MAXLEN);
		strlcpy(w.bgw_function_name, "car_fetcher_main", BGW_MAXLEN);
		strlcpy(w.bgw_name, "car fetcher", BGW_MAXLEN);
		strlcpy(w.bgw_type, "car fetcher", BGW_MAXLEN);
		w.bgw_notify_pid = MyProcPid;
		old = MemoryContextSwitchTo(TopMemoryContext); /* the handles outlive the loop */
		registered = RegisterDynamicBackgroundWorker(&w, &h);
		MemoryContextSwitchTo(old);
		if (!registered)
		{
			/* no room for another worker: the launcher fetches one itself */
			DrainQueue(1);
			return;
		}
		for (int k = 0; k < MAX_SLOTS; k++)
			if (fetchers[k] == NULL)
			{
				fetchers[k] = h;
				break;
			}
	}
}

/*
 * Put back in the queue the datasets left 'running' by a fetcher that is gone
 * (killed, cancelled, crashed).  The running rows are read first and the live
 * fetchers after: a row claimed before that read was claimed by a fetcher
 * that had already taken its slot, so it is seen alive (or it has finished,
 * and the row is no longer 'running' when the UPDATE looks again).  Reading
 * the slots first would miss a fetcher that started and claimed a row in
 * between, and its dataset would be fetched twice.
 */
static void
RequeueStale(void *arg)
{
	Datum *pids = palloc(sizeof(Datum) * MAX_SLOTS);
	int	   n = 0;
	int	   i;
	Oid	   types[3] = {INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID};
	Datum  vals[3];
	bool   isnull;

	BeginTx("car: requeueing interrupted work");
	/* read_only: under the snapshot BeginTx took, before the slots are read */
	if (SPI_execute("SELECT array_agg(id), array_agg(coalesce(claimed_by, 0)) FROM car.dataset WHERE state = 'running'",
					true, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the running datasets");
	vals[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	vals[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		/* the fetchers alive now, from car's shared memory (pg_stat_activity hides them from the worker role) */
		LWLockAcquire(car_shmem->lock, LW_SHARED);
		for (i = 0; i < MAX_SLOTS; i++)
			if (car_shmem->slots[i].pid != 0 && !car_shmem->slots[i].launcher)
				pids[n++] = Int32GetDatum(car_shmem->slots[i].pid);
		LWLockRelease(car_shmem->lock);
		vals[0] = PointerGetDatum(construct_array(pids, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
		/* each row only if it is still 'running' under the claim that was read, whose fetcher is gone */
		if (SPI_execute_with_args("UPDATE car.dataset d SET state = 'queued', claimed_by = NULL "
								  "FROM unnest($2, $3) r(id, pid) "
								  "WHERE d.id OPERATOR(pg_catalog.=) r.id AND d.state OPERATOR(pg_catalog.=) 'running' "
								  "AND coalesce(d.claimed_by, 0) OPERATOR(pg_catalog.=) r.pid "
								  "AND r.pid OPERATOR(pg_catalog.<>) ALL ($1)",
								  3, types, vals, NULL, false, 0) < 0)
			elog(ERROR, "could not requeue interrupted datasets");
	}
	EndTx();
}

/*
 * At start-up, on a shard: its sequences must be bounded to its id block
 * (car.set_id_block), or the ids it makes could collide with another
 * shard's on the hub.  A problem is logged as a WARNING; a row whose id is
 * outside the block is refused by the trigger car.id_in_block.
 */
static void
CheckIdBlock(void *arg)
{
	uint64 i;

	BeginTx("car: checking the id block");
	if (SPI_execute("SELECT sequence, problem FROM car.check_id_block() WHERE problem IS NOT NULL", true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not run car.check_id_block()");
	for (i = 0; i < SPI_processed; i++)
		ereport(WARNING, (errmsg("car: %s: %s", TextCol(i, 1), TextCol(i, 2)),
						  errhint("A superuser runs SELECT car.set_id_block(n) with this shard's block to bound its "
								  "sequences again.")));
	EndTx();
}

void
car_launcher_main(Datum arg)
{
	MemoryContext loop_cxt;
	long		  error_backoff_ms = 0;
	bool		  block_checked = false;
	bool		  hub_told = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	TakeSlot(true);
	BackgroundWorkerInitializeConnection(car_database, NULL, 0);
	pgstat_report_appname("car launcher");
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "car launcher loop", ALLOCSET_DEFAULT_SIZES);
	work_cxt = loop_cxt;
	ereport(LOG, (errmsg("car launcher started in database \"%s\"", car_database)));

	for (;;)
	{
		long	  wait_ms = 60000;
		PollState ps;
		QueueInfo q;
		ListCell *lc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		if (!ExtensionReady())
		{
			/* not installed, or being dropped: wait quietly */
			wait_ms = 10000;
		}
		else if (car_node_role == CAR_NODE_HUB)
		{
			/* a hub loads nothing: its shards do (node.c) */
			if (!hub_told)
				ereport(LOG, (errmsg("car launcher: this server is a hub (car.node_role = hub): sources are not "
									 "polled here; the shards load their files")));
			hub_told = true;
			wait_ms = 60000;
		}
		else
		{
			bool ok;

			if (!block_checked)
			{
				/* once per start: a failed check has said why in the log */
				(void) Guarded(CheckIdBlock, NULL);
				block_checked = true;
			}
			hub_told = false;
			/* work a fetcher left 'running' (killed, cancelled, crashed) goes back in the queue */
			ok = Guarded(RequeueStale, NULL);

			memset(&ps, 0, sizeof(ps));
			if (ok && (ok = Guarded(PollDue, &ps)))
				foreach (lc, ps.indexes)
					PollIndex(lfirst(lc));
			memset(&q, 0, sizeof(q));
			if (ok && Guarded(LookQueue, &q))
			{
				int want = (int) Min(q.due, (int64) car_max_parallel_fetches) - RunningFetchers();

				if (want > 0)
					StartFetchers(want);
				wait_ms = Max(100, Min(q.wait_ms, 60000));
				if (q.due > 0)
					wait_ms = Min(wait_ms, 1000);
				error_backoff_ms = 0;
			}
			else
			{
				/* something is wrong with the tables: say so, but ever more rarely */
				error_backoff_ms = Min(Max(error_backoff_ms * 2, 1000), 300000);
				wait_ms = error_backoff_ms;
			}
		}
		MemoryContextSwitchTo(TopMemoryContext);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* A fetcher: drain the queue, then exit (the launcher starts more when needed). */
void
car_fetcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	TakeSlot(false);
	BackgroundWorkerInitializeConnection(car_database, NULL, 0);
	pgstat_report_appname("car fetcher");
	work_cxt = AllocSetContextCreate(TopMemoryContext, "car fetcher", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_cxt);
	if (ExtensionReady())
		DrainQueue(0);
	/* tell the launcher there is room again */
	{
		Latch *l = car_shmem->launcher_latch;

		if (l)
			SetLatch(l);
	}
	proc_exit(0);
}

/* ---------------------------------------------------------- SQL */

/* car.wake() */
Datum
car_wake(PG_FUNCTION_ARGS)
{
	int pin = car_spi_connect();

	SPI_execute("UPDATE car.source SET next_poll_at = now() WHERE enabled AND kind <> 'push'", false, 0);
	SPI_execute("UPDATE car.dataset SET next_attempt_at = now() WHERE state = 'queued'", false, 0);
	car_spi_finish(pin);
	car_wake_launcher_at_commit();
	PG_RETURN_BOOL(car_shmem != NULL && car_shmem->launcher_latch != NULL);
}

/* car.backfill(source, from_date, to_date) */
Datum
car_backfill(PG_FUNCTION_ARGS)
{
	int		pin;
	char   *source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	DateADT from = PG_GETARG_DATEADT(1);
	DateADT to = PG_GETARG_DATEADT(2);
	Oid		types[1] = {TEXTOID};
	Datum	v[1] = {CStringGetTextDatum(source)};
	int		source_id;
	char   *kind,
		*uri;
	int queued = 0;

	if (DATE_NOT_FINITE(from) || DATE_NOT_FINITE(to))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("car.backfill needs finite dates")));
	if (to < from)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("car.backfill: from_date is after to_date")));
	if (to - from > 36600)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("car.backfill covers at most 100 years at a time")));
	pin = car_spi_connect();
	if (SPI_execute_with_args("SELECT id, kind, uri FROM car.source WHERE name = $1", 1, types, v, NULL, false, 1) !=
			SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no source named \"%s\"", source)));
	source_id = Int4Col(0, 1);
	kind = pstrdup(TextCol(0, 2));
	uri = TextCol(0, 3) ? pstrdup(TextCol(0, 3)) : NULL;
	if (strcmp(kind, "template") == 0)
	{
		bool daily = strstr(uri, "{dd}") != NULL;
		int	 y,
			m,
			d,
			y2,
			m2,
			d2;
		int j;

		j2date(from + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		j2date(to + POSTGRES_EPOCH_JDATE, &y2, &m2, &d2);
		if (daily)
			for (j = from; j <= to; j++)
			{
				j2date(j + POSTGRES_EPOCH_JDATE, &y, &m, &d);
				QueueDataset(source_id, ExpandTemplate(uri, y, m, d));
				queued++;
			}
		else
			for (; y * 12 + m <= y2 * 12 + m2; m == 12 ? (m = 1, y++) : m++)
			{
				QueueDataset(source_id, ExpandTemplate(uri, y, m, 1));
				queued++;
			}
	}
	else if (strcmp(kind, "carbon-intensity") == 0)
	{
		/* every window that overlaps the days, fetched again even if done */
		queued = car_intensity_queue(source_id, (TimestampTz) from * USECS_PER_DAY,
									 (TimestampTz) (to + 1) * USECS_PER_DAY, true);
	}
	else if (strcmp(kind, "index") == 0 || strcmp(kind, "file") == 0)
	{
		/* an index is read by the launcher: make it due now */
		SPI_execute_with_args("UPDATE car.source SET next_poll_at = now() WHERE name = $1", 1, types, v, NULL, false, 0);
		queued = 0;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is a %s source; backfill takes template, index or carbon-intensity sources",
						source, kind)));
	car_spi_finish(pin);
	car_wake_launcher_at_commit();
	PG_RETURN_INT32(queued);
}

/* car.worker_status() */
Datum
car_worker_status_fn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			   i;

	InitMaterializedSRF(fcinfo, 0);
	if (car_shmem == NULL)
		return (Datum) 0;
	for (i = 0; i < MAX_SLOTS; i++)
	{
		WorkerSlot s;
		Datum	   values[8];
		bool	   nulls[8] = {false};

		memcpy(&s, &car_shmem->slots[i], sizeof(s));
		if (s.pid == 0)
			continue;
		values[0] = Int32GetDatum(s.pid);
		values[1] = CStringGetTextDatum(s.launcher ? "launcher" : "fetcher");
		values[2] = CStringGetTextDatum(s.state);
		values[3] = CStringGetTextDatum(s.source);
		nulls[3] = s.source[0] == '\0';
		values[4] = CStringGetTextDatum(s.uri);
		nulls[4] = s.uri[0] == '\0';
		values[5] = Int64GetDatum(s.bytes);
		values[6] = Int64GetDatum(s.rows);
		values[7] = TimestampTzGetDatum(s.started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
