/*
 * roles.c
 *		car.grant_roles(): the roles car documents, and exactly their
 *		privileges, granted by name.
 *
 *	car_reader	reads the reporting views, car.live, the change feed,
 *				car.emission_daily, readings, sites, meters, the factor
 *				catalogues and the grid's half-hourly carbon intensity, and
 *				runs the calculator: what a BI tool's login
 *				needs.  Row-level security shows it only the rows its
 *				verified claims grant.
 *	car_auditor	car_reader that sees every organisation's rows (an auditor,
 *				or the service login of a BI tool that serves everyone and
 *				filters itself).
 *	car_ingest	car_reader, plus writing readings, sites and meters, and
 *				landing files through car.push (car writes the record of
 *				landed files itself: no role writes car.source_file or
 *				car.ingest_error).
 *	car.worker_role (car_worker by default)
 *				car_ingest, plus what the background worker and the pg_cron
 *				jobs do: the dataset queue, sources' poll status, the
 *				credentials of sources, loading factor files, storing the
 *				grid's carbon intensity, car.refresh() and car.maintenance().  It is not a superuser; it has LOGIN
 *				and no password, because pg_cron's background workers log in
 *				as a job's role.
 *	car_admin	the worker role, plus managing sources, keys, catalogues,
 *				sites, meters and readings.
 *
 * Never ALL, TRIGGER, REFERENCES or TRUNCATE on car's tables: a trigger or a
 * foreign key of a role's own would run its code in other sessions, the
 * superuser's among them.  The partitions of car.reading and
 * car.emission_daily get no privileges at all: they are read through their
 * parent, whose row-level security a partition would bypass.  Every run
 * first takes away whatever the roles held in schema car, then grants the
 * set below, so it also repairs what an older car (or a hand) granted.
 *
 * They are group roles (only the worker role logs in): grant them to login
 * roles (GRANT car_reader TO metabase).  Roles belong to the cluster, not to
 * the database, so the extension script does not create them; this function
 * does, on request, and is run again after an update adds objects.
 */
#include "car.h"

#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(car_grant_roles);

char *car_worker_role = NULL;

/* Role memberships (role, member); NULL stands for the worker role. */
static const char *const memberships[][2] = {
	{"car_reader", "car_auditor"},
	{"car_reader", "car_ingest"},
	{"car_ingest", NULL},
	{NULL, "car_admin"},
};

/* %w stands for the worker role (quoted); each statement runs as written otherwise. */
static const char *const grants[] = {
	/* car_reader */
	"GRANT USAGE ON SCHEMA car TO car_reader",
	"GRANT SELECT ON car.report_monthly, car.report_yearly, car.report_scope, car.report_intensity, car.live, "
	"car.emission_daily, car.reading, car.site, car.meter, car.factor_set, car.factor, car.factor_skipped, car.unit, car.activity, "
	"car.activity_component, car.activity_path, car.activity_primary_component, car.change TO car_reader",
	/* completeness and estimates (issue 14) */
	"GRANT SELECT ON car.coverage, car.meter_span, car.emission_live, car.emission_reported, car.expected_live, "
	"car.expected_reported, car.estimate_log, car.site_ownership, car.site_ownership_shown, car.period_close, car.closed_emission, "
	"car.closed_coverage, car.closed_factor_set, car.closed_file, car.period_close_event, car.restatement, car.emission_current TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.periods_in(int, date, date), car.org_visible(text), car.financial_year(date), "
	"car.financial_year_label(int), car.financial_quarter(date), car.fy_factor_set(int), car.fy_factor_year(int), "
	"car.fy_co2e(float8, int, float8, text, text, text, int), car.closed_months() TO car_reader",
	/* the GGC return (issue 14) */
	"GRANT SELECT ON car.site_org, car.ggc_metric, car.ggc_classification, car.ggc_metric_activity, car.ggc_site_quarter, "
	"car.ggc_baseline, car.report_ggc, car.baseline_recalculation TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.ggc_baseline_year(), car.csv_field(text), car.ggc_csv(text, int), "
	"car.report_ggc_for(text) TO car_reader",
	/* normalisers, targets, disclosure (issue 14) */
	"GRANT SELECT ON car.normaliser_kind, car.normaliser, car.normaliser_yearly, car.report_normalised, car.target, "
	"car.report_target TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.reporting_year_days(int), car.report_target_for(text), car.report_normalised_for(text), "
	"car.methodology(text, int), car.report_secr(text, int, text) TO car_reader",
	/* half-hourly grid carbon intensity and time-of-use emissions (issue 15) */
	"GRANT SELECT ON car.grid_region, car.grid_intensity, car.report_time_of_use TO car_reader",
	/* custom and supplier factor sets (issue 15): read under row-level security */
	"GRANT SELECT ON car.custom_factor_set, car.custom_factor TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.site_owner_on(int, date) TO car_reader",
	/* market-based Scope 2 (issue 15): instruments and the allocation under row-level security */
	"GRANT SELECT ON car.instrument, car.residual_mix, car.market_allocation, car.instrument_applied, car.report_scope2, "
	"car.instrument_status TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.report_scope2_for(text) TO car_reader",
	/* running across servers (issue 16): a shard's id block, read by the trigger car.id_in_block */
	"GRANT SELECT ON car.id_block TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.convert(float8, text, text), car.float8_decimal(float8), car.factor_year(timestamptz), "
	"car.co2e(float8, text, text, timestamptz), car.emissions(float8, text, text, timestamptz), "
	"car.can_price(text, text, timestamptz), car.reporting_year(date), car.reporting_year_label(int), "
	"car.unit_name(text), car.energy_readings(timestamptz, timestamptz), car.live_json(interval, interval), "
	"car.site_visible(int), car.meter_visible(int), car.source_visible(int), car.site_visible_on(int, date), "
	"car.meter_visible_at(int, timestamptz), car.site_visible_as(int, text), car.verify_jwt(text), "
	"car.authenticate(text, boolean), car.claims(), car.claim(text), car.report_for(text, text), "
	"car.report_monthly_for(text), car.report_yearly_for(text), car.report_scope_for(text), "
	"car.changes_since(bigint), car.simulate(int[], timestamptz, timestamptz, interval, int) TO car_reader",
	/* car_ingest */
	/*
	 * Readings: what car.push's upsert writes (a later file's value, an actual
	 * replacing an estimate); meters: the interval a source sets.  Never the
	 * owner of a site or the site of a meter: those move with car.transfer_site.
	 * quality is granted because the upsert runs as the pushing role; what it
	 * may become is the trigger car.check_reading_quality's to say (an estimate
	 * turns actual only under the file the ingest path is writing).
	 */
	"GRANT SELECT, INSERT ON car.reading, car.site, car.meter TO car_ingest",
	"GRANT UPDATE (quantity, file_id, quality, method) ON car.reading TO car_ingest",
	"GRANT UPDATE (interval_minutes) ON car.meter TO car_ingest",
	/*
	 * Landed files and their quarantined rows are read, never written: car
	 * writes them as their owner (source.c), so that a file's record, bytes
	 * and counts are what car.push or a fetch landed.
	 */
	"GRANT SELECT ON car.source_file, car.source_file_chunk, car.ingest_error TO car_ingest",
	"GRANT SELECT ON car.source, car.source_status TO car_ingest",
	"GRANT USAGE ON SEQUENCE car.site_id_seq, car.meter_id_seq TO car_ingest",
	"GRANT EXECUTE ON FUNCTION car.push(text, text, bytea), car.push(text, text, text, bytea), "
	"car.push_lo(text, text, oid), car.push_lo(text, text, text, oid), "
	"car.check_push_token(text, text), car.simulate_setup(int, int, text) TO car_ingest",
	"GRANT EXECUTE ON FUNCTION car.estimate(int, timestamptz, timestamptz, text), "
	"car.bill(int, timestamptz, timestamptz, float8) TO car_ingest",
	/* the worker role */
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.dataset TO %w",
	"GRANT USAGE ON SEQUENCE car.dataset_id_seq TO %w",
	"GRANT UPDATE (etag, last_modified, next_poll_at, last_poll_at, last_success_at, consecutive_failures, last_error, "
	"last_note) ON car.source TO %w",
	"GRANT SELECT ON car.source_secret TO %w",
	"GRANT SELECT, INSERT, UPDATE ON car.factor_set TO %w",
	"GRANT SELECT, INSERT ON car.factor, car.factor_skipped TO %w",
	"GRANT USAGE ON SEQUENCE car.factor_set_id_seq, car.factor_id_seq TO %w",
	"GRANT SELECT, INSERT, DELETE ON car.emission_daily, car.refresh_queue, car.refresh_year TO %w",
	"GRANT SELECT, INSERT, UPDATE ON car.refresh_state TO %w",
	"GRANT DELETE ON car.change TO %w",
	/* what a carbon-intensity source's windows store */
	"GRANT INSERT, UPDATE ON car.grid_intensity TO %w",
	/*
	 * No role writes car.market_allocation, car.instrument_applied or updates
	 * the market-based columns of car.emission_daily: car.refresh() writes
	 * them as their owner (market.c), so that applied kWh cannot be made up.
	 */
	/* the id block check the worker runs at start-up */
	"GRANT EXECUTE ON FUNCTION car.check_id_block() TO %w",
	/*
	 * compacting closed months (car.maintenance() does it as the worker);
	 * car.reading_day is nobody's: its rows are readings, which only
	 * car.reading shows, under row-level security
	 */
	"GRANT EXECUTE ON FUNCTION car.compact(date), car.uncompact(date) TO %w",
	"GRANT SELECT ON car.compacted_month TO %w",
	"GRANT EXECUTE ON FUNCTION car.refresh(boolean), car.maintenance(), car.load_factors(text, int, boolean, text, text), "
	"car.load_factors(bytea, text, int, boolean, text, text), car.load_factors(int) TO %w",
	/* car_admin */
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.source, car.source_secret, car.jwt_key, car.unit, car.activity, "
	"car.activity_component, car.activity_path, car.site, car.meter, car.reading TO car_admin",
	/* a landed file may be removed (to load its bytes again, say), never made up or changed */
	"GRANT DELETE ON car.source_file, car.ingest_error TO car_admin",
	"GRANT DELETE ON car.factor_set TO car_admin",
	"GRANT SELECT ON car.worker_status TO car_admin",
	"GRANT USAGE ON SEQUENCE car.source_id_seq TO car_admin",
	"GRANT EXECUTE ON FUNCTION car.add_source(text, text, text, text, jsonb, interval), car.remove_source(text), "
	"car.backfill(text, date, date), car.wake(), car.worker_status(), car.ensure_partitions(timestamptz, timestamptz), "
	"car.sign_jwt(jsonb, text), car.metabase_embed_url(text, int, jsonb, interval, text), "
	"car.spellings_fit(text[]) TO car_admin",
	"GRANT EXECUTE ON FUNCTION car.close_period(text, date, date, text), car.reopen_period(int, text) TO car_admin",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.site_org, car.ggc_metric, car.ggc_classification TO car_admin",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.normaliser_kind, car.normaliser, car.target TO car_admin",
	"GRANT USAGE ON SEQUENCE car.ggc_classification_id_seq, car.normaliser_id_seq, car.target_id_seq TO car_admin",
	"GRANT EXECUTE ON FUNCTION car.transfer_site(int, text, date, text) TO car_admin",
	"GRANT EXECUTE ON FUNCTION car.grid_intensity_periods(text, text, timestamptz, timestamptz) TO car_admin",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.custom_factor_set, car.custom_factor TO car_admin",
	"GRANT USAGE ON SEQUENCE car.custom_factor_set_id_seq, car.custom_factor_id_seq TO car_admin",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.instrument, car.residual_mix TO car_admin",
	"GRANT USAGE ON SEQUENCE car.instrument_id_seq, car.residual_mix_id_seq TO car_admin",
	/*
	 * a hub's shards and their replication (issue 16); what makes publications,
	 * subscriptions and slots is a superuser's alone (PostgreSQL 15)
	 */
	"GRANT SELECT ON car.shard, car.shard_status TO car_admin",
	/* raw readings of every shard, from the hub, as far as the session's meters go */
	"GRANT SELECT ON car.reading_remote, car.reading_month TO car_reader",
	"GRANT EXECUTE ON FUNCTION car.visible_meter_ids() TO car_reader",
	/* the real-time reports' lookups (issue 17): the security_invoker views call them as the reader */
	"GRANT EXECUTE ON FUNCTION car.refresh_pending_full(), car.refresh_pending(), car.emission_pending(date) TO car_reader",
	/* which shard car.push on a hub forwards an organisation's files to: read as the pushing role */
	"GRANT SELECT ON car.placement TO car_ingest",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON car.placement TO car_admin",
	"GRANT EXECUTE ON FUNCTION car.shard_slot(text) TO car_admin",
};

static void
Run(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "car: could not run: %s", sql);
}

/* Make member a member of role, unless it is one already. */
static void
GrantMembership(const char *role, const char *member)
{
	Oid r = get_role_oid(role, false);
	Oid m = get_role_oid(member, false);

	if (!is_member_of_role_nosuper(m, r))
		Run(psprintf("GRANT %s TO %s", quote_identifier(role), quote_identifier(member)));
}

/* The statement with %w replaced by the worker role's quoted name. */
static char *
WithWorker(const char *sql)
{
	StringInfoData s;
	const char	  *p;

	initStringInfo(&s);
	for (p = sql; *p; p++)
	{
		if (p[0] == '%' && p[1] == 'w')
		{
			appendStringInfoString(&s, quote_identifier(car_worker_role));
			p++;
		}
		else
			appendStringInfoChar(&s, *p);
	}
	return s.data;
}

/* Make the role if asked; refuse a worker role that is a superuser or can bypass row-level security. */
static void
EnsureRole(const char *role, bool login, bool create_missing)
{
	HeapTuple tup;

	tup = SearchSysCache1(AUTHNAME, CStringGetDatum(role));
	if (!HeapTupleIsValid(tup))
	{
		if (!create_missing)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role \"%s\" does not exist", role),
					 errhint("Create it (CREATE ROLE %s%s) or call car.grant_roles(true).", quote_identifier(role),
							 login ? " LOGIN" : " NOLOGIN")));
		Run(psprintf("CREATE ROLE %s %s", quote_identifier(role), login ? "LOGIN" : "NOLOGIN"));
		return;
	}
	if (login && (((Form_pg_authid) GETSTRUCT(tup))->rolsuper || ((Form_pg_authid) GETSTRUCT(tup))->rolbypassrls))
	{
		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("car.worker_role \"%s\" is a superuser or bypasses row-level security", role),
				 errdetail("The background worker and the pg_cron jobs act as this role; it must hold only the "
						   "privileges car.grant_roles() gives it."),
				 errhint("Set car.worker_role to a role of its own (the default is car_worker).")));
	}
	ReleaseSysCache(tup);
}

/* The objects granted on are this library's version's: refuse an older car's (before its update). */
static void
RequireCurrentVersion(void)
{
	int	  pin;
	char *v;

	pin = car_spi_connect();
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'car'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "car: could not read pg_extension");
	v = pstrdup(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	car_spi_finish(pin);
	if (strcmp(v, CAR_SQL_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("car %s is installed in this database; this car library grants the objects of car %s", v,
						CAR_SQL_VERSION),
				 errhint("Run ALTER EXTENSION car UPDATE, which also grants the roles again.")));
}

/* car.grant_roles(create_missing boolean default true) */
Datum
car_grant_roles(PG_FUNCTION_ARGS)
{
	int			pin;
	bool		create_missing = PG_ARGISNULL(0) ? true : PG_GETARG_BOOL(0);
	const char *roles[] = {"car_reader", "car_auditor", "car_ingest", car_worker_role, "car_admin"};
	Datum		out[lengthof(roles)];
	bool		was_creating = creating_extension;
	int			i;

	RequireCurrentVersion();
	if (car_worker_role == NULL || car_worker_role[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("car.worker_role is empty"),
						errhint("Set it to the role the background worker and the pg_cron jobs act as.")));
	pin = car_spi_connect();
	for (i = 0; i < (int) lengthof(roles); i++)
		EnsureRole(roles[i], roles[i] == car_worker_role, create_missing);

	/*
	 * An update of the extension runs this too (car--1.0--1.1.sql), to take
	 * away what 1.0 granted.  Privileges granted inside an extension script
	 * would be recorded as the objects' initial privileges, which pg_dump
	 * leaves out of a dump; granted as a DBA would grant them, they are
	 * dumped and restored like any other grant.
	 */
	creating_extension = false;
	PG_TRY();
	{
		for (i = 0; i < (int) lengthof(roles); i++)
		{
			const char *r = quote_identifier(roles[i]);

			Run(psprintf("REVOKE ALL ON ALL TABLES IN SCHEMA car FROM %s", r));
			Run(psprintf("REVOKE ALL ON ALL SEQUENCES IN SCHEMA car FROM %s", r));
			Run(psprintf("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA car FROM %s", r));
			Run(psprintf("REVOKE ALL ON SCHEMA car FROM %s", r));
		}
		for (i = 0; i < (int) lengthof(memberships); i++)
			GrantMembership(memberships[i][0] ? memberships[i][0] : car_worker_role,
							memberships[i][1] ? memberships[i][1] : car_worker_role);
		for (i = 0; i < (int) lengthof(grants); i++)
			Run(WithWorker(grants[i]));
	}
	PG_FINALLY();
	{
		creating_extension = was_creating;
	}
	PG_END_TRY();
	car_spi_finish(pin);

	for (i = 0; i < (int) lengthof(roles); i++)
		out[i] = CStringGetTextDatum(roles[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, lengthof(roles), TEXTOID, -1, false, TYPALIGN_INT));
}
