/*
 * node.c
 *		Running across servers (issue 16): the server's role in a federation
 *		of cars (car.node_role), what a hub and a shard refuse, and the
 *		logical replication that links them.
 *
 * A federation is PostgreSQL's own logical replication between complete
 * cars: every shard ingests and refreshes its organisations' readings; the
 * hub subscribes to each shard's car.site, car.meter, car.site_org and
 * car.emission_daily (publication car_shard) and publishes the reference
 * data loaded on it (factors, units, activities: publication car_reference)
 * to every shard.  Nothing here moves data itself.
 *
 * Replication slots are made over a replication connection to the other
 * server (libpqwalreceiver, as CREATE SUBSCRIPTION itself does), because
 * CREATE SUBSCRIPTION may make its slot only outside a transaction block,
 * and a function always runs inside one.  The subscription is then made
 * with create_slot = false; if that fails the slot is dropped again.
 */
#include "car.h"

#include "access/xact.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(car_refuse_on_hub_trigger);
PG_FUNCTION_INFO_V1(car_add_shard);
PG_FUNCTION_INFO_V1(car_subscribe_reference);
PG_FUNCTION_INFO_V1(car_shard_slot);

int car_node_role = CAR_NODE_SINGLE;

static const struct config_enum_entry node_roles[] = {
	{"single", CAR_NODE_SINGLE, false},
	{"shard", CAR_NODE_SHARD, false},
	{"hub", CAR_NODE_HUB, false},
	{NULL, 0, false},
};

static const char *
RoleName(int role)
{
	return role == CAR_NODE_HUB ? "hub" : role == CAR_NODE_SHARD ? "shard"
																 : "single";
}

/*
 * car.node_role is the server's identity in a federation, not a session's
 * choice: PGC_SIGHUP (postgresql.conf or ALTER SYSTEM, then a reload), so no
 * session, a superuser's included, can SET its way past a hub's refusals,
 * and no restart is needed to turn a single car into a shard.
 */
void
car_node_init(void)
{
	DefineCustomEnumVariable("car.node_role",
							 "This server's role in a federation of cars: single, shard or hub.",
							 "single: a car on its own (the default). shard: a complete car for some organisations, "
							 "whose results a hub subscribes to. hub: reports over its shards' results, fed only by "
							 "logical replication; it refuses car.push, the worker's ingest and car.refresh().",
							 &car_node_role, CAR_NODE_SINGLE, node_roles, PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/* An error when this server is a hub: what is refused, why, and where to do it. */
void
car_refuse_on_hub(const char *what)
{
	if (car_node_role != CAR_NODE_HUB)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s is refused on a hub (car.node_role = hub)", what),
			 errdetail("A hub's car.site, car.meter, car.site_org, car.emission_daily and period closes are its "
					   "shards' rows, fed only by logical replication; readings are loaded, refreshed and signed "
					   "on the shard that holds the organisation."),
			 errhint("Run it on that shard (car.shard_status lists the hub's shards).")));
}

/* An error when this server is a shard: reference data is loaded once, on the hub. */
void
car_refuse_on_shard(const char *what)
{
	if (car_node_role != CAR_NODE_SHARD)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s is refused on a shard (car.node_role = shard)", what),
			 errdetail("Factors, units and activities are loaded once, on the hub, and replicated to every shard "
					   "(publication car_reference), so that factor ids are the same on every server."),
			 errhint("Load them on the hub; they reach this shard through its subscription car_reference.")));
}

/*
 * Statement trigger (BEFORE INSERT, UPDATE, DELETE or TRUNCATE) on the
 * tables a hub receives from its shards: on a hub, nothing but replication
 * writes them.  Logical replication's apply fires no statement triggers (and
 * this one is enabled for origin sessions only), so it never stops apply.
 * CREATE EXTENSION and ALTER EXTENSION UPDATE pass.
 */
Datum
car_refuse_on_hub_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("car.refuse_on_hub() must be called as a trigger")));
	if (!creating_extension)
		car_refuse_on_hub(psprintf("writing car.%s", RelationGetRelationName(td->tg_relation)));
	return PointerGetDatum(NULL);
}

/* Names car makes objects from: short, lower case, safe as they are. */
static void
CheckName(const char *name, const char *what)
{
	size_t		len = strlen(name);
	const char *p;

	if (len == 0 || len > 40 || !(name[0] >= 'a' && name[0] <= 'z'))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s \"%s\" is not a valid name", what, name),
						errhint("Use 1 to 40 characters: a lower-case letter, then lower-case letters, digits or _.")));
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s \"%s\" is not a valid name", what, name),
					 errhint("Use 1 to 40 characters: a lower-case letter, then lower-case letters, digits or _.")));
}

static void
RequireSuperuser(const char *what)
{
	if (!superuser())
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("%s needs a superuser", what),
						errdetail("Publications, subscriptions and replication slots are a superuser's to make "
								  "(PostgreSQL 15).")));
}

static void
RequireRole(int role, const char *what)
{
	if (car_node_role != role)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s runs on a %s; this server's car.node_role is %s", what, RoleName(role),
						RoleName(car_node_role)),
				 errhint("Set car.node_role = %s in postgresql.conf (or ALTER SYSTEM SET car.node_role = '%s') and "
						 "reload, if this server is meant to be one.",
						 RoleName(role), RoleName(role))));
}

/* A replication connection to another server, or an error naming it. */
static WalReceiverConn *
Connect(const char *conninfo, const char *who)
{
	WalReceiverConn *conn;
	char			*err = NULL;

	load_file("libpqwalreceiver", false);
	walrcv_check_conninfo(conninfo);
	conn = walrcv_connect(conninfo, true, "car", &err);
	if (conn == NULL)
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("could not connect to the %s: %s", who, err),
						errhint("Check the connection string, that the server takes replication connections from "
								"this one (wal_level = logical, pg_hba.conf) and that its role has REPLICATION.")));
	return conn;
}

/* The first column of the first row a query on the other server returns, as text (NULL when none). */
static char *
RemoteValue(WalReceiverConn *conn, const char *sql, const char *who)
{
	Oid				  types[1] = {TEXTOID};
	WalRcvExecResult *res = walrcv_exec(conn, sql, 1, types);
	TupleTableSlot	 *slot;
	char			 *value = NULL;

	if (res->status != WALRCV_OK_TUPLES)
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("could not ask the %s: %s", who, res->err)));
	slot = MakeSingleTupleTableSlot(res->tupledesc, &TTSOpsMinimalTuple);
	if (tuplestore_gettupleslot(res->tuplestore, true, false, slot))
	{
		bool  isnull;
		Datum d = slot_getattr(slot, 1, &isnull);

		if (!isnull)
			value = TextDatumGetCString(d);
	}
	ExecDropSingleTupleTableSlot(slot);
	walrcv_clear_result(res);
	return value;
}

/*
 * Make the slot on the other server, then the subscription here (in this
 * transaction); drop the slot again when the subscription cannot be made.
 */
static void
Subscribe(const char *subname, const char *slot, const char *conninfo, const char *publication, const char *who)
{
	WalReceiverConn *conn = Connect(conninfo, who);
	XLogRecPtr		 lsn;
	int				 pin;

	PG_TRY();
	{
		char *exists = RemoteValue(conn,
								   psprintf("SELECT slot_name::text FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
											quote_literal_cstr(slot)),
								   who);

		if (exists != NULL)
			ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
							errmsg("the %s already has a replication slot \"%s\"", who, slot),
							errhint("Drop it there (SELECT pg_drop_replication_slot('%s')) if nothing uses it.", slot)));
		walrcv_create_slot(conn, slot, false, false, CRS_NOEXPORT_SNAPSHOT, &lsn);
	}
	PG_CATCH();
	{
		walrcv_disconnect(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();

	PG_TRY();
	{
		pin = car_spi_connect();
		if (SPI_execute(psprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s "
								 "WITH (create_slot = false, slot_name = %s, copy_data = true)",
								 quote_identifier(subname), quote_literal_cstr(conninfo), quote_identifier(publication),
								 quote_literal_cstr(slot)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "car: could not create subscription %s", subname);
		car_spi_finish(pin);
	}
	PG_CATCH();
	{
		/* the slot is not transactional: take it back, or it would keep the other server's WAL for ever */
		WalRcvExecResult *res = walrcv_exec(
			conn, psprintf("SELECT pg_catalog.pg_drop_replication_slot(%s)", quote_literal_cstr(slot)), 0, NULL);

		walrcv_clear_result(res);
		walrcv_disconnect(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	walrcv_disconnect(conn);
}

/*
 * car.add_shard(name text, conninfo text) → car.shard
 * On the hub: subscribe to the shard's publication car_shard.  The shard
 * must say it is a shard, have its id block, and the block must be no other
 * shard's.  The connection string (and any password in it) is kept only in
 * pg_subscription.subconninfo, which only superusers read.
 */
Datum
car_add_shard(PG_FUNCTION_ARGS)
{
	char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char *subname;
	char *slot;
	char *who;
	char *volatile role = NULL;
	char *volatile block = NULL;
	char *volatile pub = NULL;
	WalReceiverConn *conn;
	int				 pin;
	Datum			 result;
	bool			 isnull;

	RequireSuperuser("car.add_shard");
	RequireRole(CAR_NODE_HUB, "car.add_shard");
	CheckName(name, "shard name");
	subname = psprintf("car_shard_%s", name);
	slot = psprintf("car_hub_%s", name);
	who = psprintf("shard \"%s\"", name);

	/* what the shard says of itself, before anything is made */
	conn = Connect(conninfo, who);
	PG_TRY();
	{
		role = RemoteValue(conn, "SELECT pg_catalog.current_setting('car.node_role', true)", who);
		pub = RemoteValue(conn, "SELECT pubname::text FROM pg_catalog.pg_publication WHERE pubname = 'car_shard'", who);
		block = role && strcmp(role, "shard") == 0 && pub ? RemoteValue(conn, "SELECT block::text FROM car.id_block", who)
														  : NULL;
	}
	PG_FINALLY();
	{
		walrcv_disconnect(conn);
	}
	PG_END_TRY();
	if (role == NULL || strcmp(role, "shard") != 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s is not a shard: its car.node_role is %s", who, role ? role : "not set (car not loaded)"),
						errhint("On that server: ALTER SYSTEM SET car.node_role = 'shard'; SELECT pg_reload_conf(); "
								"then SELECT car.set_id_block(n); SELECT car.publish_shard().")));
	if (pub == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s has no publication car_shard", who),
						errhint("On that server: SELECT car.publish_shard().")));
	if (block == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("%s has no id block", who),
						errdetail("Its sites, meters and files would take ids another shard's may take too."),
						errhint("On that server: SELECT car.set_id_block(n), n a block no other shard has.")));

	pin = car_spi_connect();
	if (SPI_execute_with_args("SELECT name FROM car.shard WHERE name = $1 OR id_block = $2::int", 2,
							  (Oid[]){TEXTOID, TEXTOID},
							  (Datum[]){CStringGetTextDatum(name), CStringGetTextDatum(block)}, NULL, true,
							  1) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.shard");
	if (SPI_processed > 0)
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("%s clashes with shard \"%s\": same name or same id block (%s)", who,
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), block),
						errhint("Each shard has a name and an id block of its own (car.set_id_block on the shard).")));
	car_spi_finish(pin);

	Subscribe(subname, slot, conninfo, "car_shard", who);

	pin = car_spi_connect();
	if (SPI_execute_with_args("INSERT INTO car.shard (name, subscription, slot, id_block) VALUES ($1, $2, $3, $4::int) "
							  "RETURNING shard",
							  4, (Oid[]){TEXTOID, TEXTOID, TEXTOID, TEXTOID},
							  (Datum[]){CStringGetTextDatum(name), CStringGetTextDatum(subname),
										CStringGetTextDatum(slot), CStringGetTextDatum(block)},
							  NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "car: could not record the shard");
	result = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
	car_spi_finish(pin);
	PG_RETURN_DATUM(result);
}

/*
 * car.subscribe_reference(conninfo text) → text
 * On a shard: subscribe to the hub's publication car_reference (factors,
 * units, activities).  The slot on the hub is named after the shard's id
 * block, which is unique in the federation.
 */
Datum
car_subscribe_reference(PG_FUNCTION_ARGS)
{
	char			*conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
	WalReceiverConn *conn;
	char *volatile role = NULL;
	char *volatile pub = NULL;
	int	 pin;
	int	 block;
	bool isnull;

	RequireSuperuser("car.subscribe_reference");
	RequireRole(CAR_NODE_SHARD, "car.subscribe_reference");
	pin = car_spi_connect();
	if (SPI_execute("SELECT block FROM car.id_block", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.id_block");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("this shard has no id block"),
						errhint("SELECT car.set_id_block(n) first, n a block no other shard has.")));
	block = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	car_spi_finish(pin);

	conn = Connect(conninfo, "hub");
	PG_TRY();
	{
		role = RemoteValue(conn, "SELECT pg_catalog.current_setting('car.node_role', true)", "hub");
		pub = RemoteValue(conn, "SELECT pubname::text FROM pg_catalog.pg_publication WHERE pubname = 'car_reference'",
						  "hub");
	}
	PG_FINALLY();
	{
		walrcv_disconnect(conn);
	}
	PG_END_TRY();
	if (role == NULL || strcmp(role, "hub") != 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("that server is not a hub: its car.node_role is %s", role ? role : "not set (car not loaded)"),
						errhint("On the hub: ALTER SYSTEM SET car.node_role = 'hub'; SELECT pg_reload_conf();")));
	if (pub == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("the hub has no publication car_reference"),
						errhint("On the hub: SELECT car.publish_reference().")));
	Subscribe("car_reference", psprintf("car_ref_block_%d", block), conninfo, "car_reference", "hub");
	PG_RETURN_TEXT_P(cstring_to_text("car_reference"));
}

/*
 * car.shard_slot(name text) → (slot_bytes bigint, pending_bytes bigint, error text)
 * The hub's slot on a shard, seen from the shard: the WAL it keeps there
 * (current WAL position minus the slot's restart_lsn) and what the hub has
 * not yet confirmed (minus confirmed_flush_lsn).  Connects with the
 * subscription's own connection string, read from the catalogue here and
 * never shown; an unreachable shard gives NULLs and the reason.
 */
Datum
car_shard_slot(PG_FUNCTION_ARGS)
{
	char			*name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc		 desc;
	Datum			 values[3] = {0};
	bool			 nulls[3] = {true, true, true};
	Oid				 subid;
	Subscription	*sub;
	WalReceiverConn *conn;
	char			*err = NULL;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "car.shard_slot: return type must be a row type");
	desc = BlessTupleDesc(desc);
	CheckName(name, "shard name");
	subid = get_subscription_oid(psprintf("car_shard_%s", name), true);
	if (!OidIsValid(subid))
	{
		values[2] = CStringGetTextDatum("no subscription (the shard was not added with car.add_shard)");
		nulls[2] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
	}
	sub = GetSubscription(subid, false);
	load_file("libpqwalreceiver", false);
	conn = walrcv_connect(sub->conninfo, true, "car shard_status", &err);
	if (conn == NULL)
	{
		values[2] = CStringGetTextDatum(psprintf("could not connect: %s", err));
		nulls[2] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
	}
	PG_TRY();
	{
		long long kept,
			pending;
		char *v = RemoteValue(
			conn,
			psprintf("SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint::text "
					 "|| ' ' || pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text "
					 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
					 quote_literal_cstr(sub->slotname ? sub->slotname : "")),
			psprintf("shard \"%s\"", name));

		if (v != NULL && sscanf(v, "%lld %lld", &kept, &pending) == 2)
		{
			values[0] = Int64GetDatum(kept);
			values[1] = Int64GetDatum(pending);
			nulls[0] = nulls[1] = false;
		}
		else
		{
			values[2] = CStringGetTextDatum(psprintf("the shard has no slot \"%s\"", sub->slotname ? sub->slotname : ""));
			nulls[2] = false;
		}
	}
	PG_FINALLY();
	{
		walrcv_disconnect(conn);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

typedef struct RouteJob
{
	const char	 *source;
	bool		  found;
	char		 *kind;
	char		 *org;
	MemoryContext cxt;
} RouteJob;

/* A source's kind and organisation, read as car.source's owner (car_as_table_owner). */
static void
ReadRoute(void *arg)
{
	RouteJob *job = arg;
	int		  pin = car_spi_connect();

	if (SPI_execute_with_args("SELECT kind, options OPERATOR(pg_catalog.->>) 'org' FROM car.source "
							  "WHERE name OPERATOR(pg_catalog.=) $1",
							  1, (Oid[]){TEXTOID}, (Datum[]){CStringGetTextDatum(job->source)}, NULL, true,
							  1) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.source");
	if (SPI_processed == 1)
	{
		char *org = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		job->found = true;
		job->kind = MemoryContextStrdup(job->cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		job->org = org ? MemoryContextStrdup(job->cxt, org) : NULL;
	}
	car_spi_finish(pin);
}

/*
 * car.push on a hub (issue 16): the hub lands nothing; it forwards the file
 * to the one shard its source's organisation is placed on (car.placement)
 * and returns that shard's car.source_file row.  Before anything leaves the
 * hub, the caller's authority is checked here, as on a single car: EXECUTE
 * on car.push (car_ingest) for car.push(source, ...), and for
 * car.push(token, ...) the token's scope and organisation, checked against
 * the hub's own car.source by car.check_push_token before this runs.  The
 * source must be defined on the hub, as a push source naming its
 * organisation: that is what the hub routes by.
 *
 * The file goes over the hub's subscription connection to that shard (read
 * from pg_subscription here, never shown to the caller), as one statement
 * in one transaction of the shard's: a push writes one shard only, and the
 * hub writes nothing.  The shard's own car.push then checks the file as on
 * any car; its error comes back as the hub's.
 */
Datum
car_route_push(const char *source, const char *filename, bytea *payload)
{
	int	  pin;
	char *kind;
	char *org;
	char *shard;
	char *who;
	char *hex;
	char *sql;
	char *volatile row = NULL;
	bool			 isnull;
	Oid				 subid;
	Subscription	*sub;
	WalReceiverConn *conn;
	Size			 len = VARSIZE_ANY_EXHDR(payload);
	Datum			 result;
	RouteJob		 job;

	job.source = source;
	job.found = false;
	job.kind = job.org = NULL;
	job.cxt = CurrentMemoryContext;
	car_as_table_owner("source", ReadRoute, &job);
	if (!job.found)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no source \"%s\" on this hub", source),
						errdetail("A hub forwards car.push to a shard by the source's organisation: the source must be "
								  "defined on the hub as well (car.add_source, kind push, options naming its org)."),
						errhint("Define it on the hub with the same name and org as on the shard.")));
	kind = job.kind;
	org = job.org;
	if (strcmp(kind, "push") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is a %s source: files come to it by polling, not by car.push", source, kind)));
	if (org == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("push source \"%s\" names no organisation, so the hub cannot route it", source),
						errhint("Give the source options an \"org\" placed on a shard (car.placement).")));
	pin = car_spi_connect();
	if (SPI_execute_with_args("SELECT shard FROM car.placement WHERE org OPERATOR(pg_catalog.=) $1", 1,
							  (Oid[]){TEXTOID}, (Datum[]){CStringGetTextDatum(org)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.placement");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("organisation \"%s\" of source \"%s\" is placed on no shard", org, source),
						errhint("A car_admin places it: INSERT INTO car.placement (org, shard) VALUES ('%s', 'shard name').",
								org)));
	shard = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	car_spi_finish(pin);

	who = psprintf("shard \"%s\"", shard);
	subid = get_subscription_oid(psprintf("car_shard_%s", shard), true);
	if (!OidIsValid(subid))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s, where organisation \"%s\" is placed, has no subscription on this hub", who, org),
						errhint("Add it with car.add_shard.")));
	sub = GetSubscription(subid, false);

	/* the payload as a bytea literal: \x and two hex digits a byte */
	hex = palloc(len * 2 + 3);
	hex[0] = '\\';
	hex[1] = 'x';
	hex_encode(VARDATA_ANY(payload), len, hex + 2);
	hex[len * 2 + 2] = '\0';
	sql = psprintf("SELECT f::text FROM car.push(%s, %s, %s::bytea) f", quote_literal_cstr(source),
				   quote_literal_cstr(filename), quote_literal_cstr(hex));
	pfree(hex);

	conn = Connect(sub->conninfo, who);
	PG_TRY();
	{
		Oid				  types[1] = {TEXTOID};
		WalRcvExecResult *res = walrcv_exec(conn, sql, 1, types);
		TupleTableSlot	 *slot;

		if (res->status != WALRCV_OK_TUPLES)
			ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
							errmsg("%s refused the file \"%s\": %s", who, filename, res->err),
							errdetail("car.push(\"%s\") was forwarded there, where organisation \"%s\" is placed; "
									  "nothing of it was loaded.",
									  source, org)));
		slot = MakeSingleTupleTableSlot(res->tupledesc, &TTSOpsMinimalTuple);
		if (tuplestore_gettupleslot(res->tuplestore, true, false, slot))
		{
			Datum d = slot_getattr(slot, 1, &isnull);

			if (!isnull)
				row = TextDatumGetCString(d);
		}
		ExecDropSingleTupleTableSlot(slot);
		walrcv_clear_result(res);
	}
	PG_FINALLY();
	{
		walrcv_disconnect(conn);
	}
	PG_END_TRY();
	if (row == NULL)
		elog(ERROR, "car: %s returned no row for car.push", who);

	/* the shard's row, as this server's car.source_file (the same version of car) */
	pin = car_spi_connect();
	if (SPI_execute_with_args("SELECT $1::car.source_file", 1, (Oid[]){TEXTOID},
							  (Datum[]){CStringGetTextDatum(row)}, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "car: could not read the shard's car.source_file row");
	result = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
	car_spi_finish(pin);
	return result;
}
