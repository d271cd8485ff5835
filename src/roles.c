/*
 * roles.c
 *		car.grant_roles(): the three group roles car documents.
 *
 *	car_reader	reads the reporting views, car.live, car.emission_daily,
 *				readings, sites, meters and the factor catalogues: what a BI
 *				tool's login needs.  Row-level security shows it only the
 *				rows its verified claims grant.
 *	car_ingest	car_reader, plus writing readings, sites and meters and
 *				landing files (car.push).
 *	car_auditor	car_reader that sees every organisation's rows (an auditor,
 *				or the service login of a BI tool that serves everyone and
 *				filters itself).
 *	car_admin	car_ingest, plus everything in schema car.
 *
 * They are NOLOGIN group roles: grant them to login roles
 * (GRANT car_reader TO metabase).  Roles belong to the cluster, not to the
 * database, so the extension script does not create them; this function
 * does, on request, and can be run again after an upgrade adds objects.
 */
#include "car.h"

#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(car_grant_roles);

static const char *const reader_grants[] = {
	"GRANT USAGE ON SCHEMA car TO car_reader",
	"GRANT SELECT ON car.report_monthly, car.report_yearly, car.report_scope, car.report_intensity, car.live, "
	"car.emission_daily, car.reading, car.site, car.meter, car.factor_set, car.factor, car.unit, car.activity, "
	"car.activity_component, car.activity_primary_component TO car_reader",
};

static const char *const auditor_grants[] = {
	"GRANT car_reader TO car_auditor",
};

static const char *const ingest_grants[] = {
	"GRANT car_reader TO car_ingest",
	"GRANT SELECT, INSERT, UPDATE ON car.reading, car.site, car.meter, car.source_file, car.ingest_error TO car_ingest",
	"GRANT SELECT ON car.source TO car_ingest",
	"GRANT USAGE ON SEQUENCE car.site_id_seq, car.meter_id_seq, car.source_file_id_seq, car.ingest_error_id_seq "
	"TO car_ingest",
};

static const char *const admin_grants[] = {
	"GRANT car_ingest TO car_admin",
	"GRANT ALL ON ALL TABLES IN SCHEMA car TO car_admin",
	"GRANT ALL ON ALL SEQUENCES IN SCHEMA car TO car_admin",
	"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA car TO car_admin",
};

static void
RunAll(const char *const *sql, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (SPI_execute(sql[i], false, 0) < 0)
			elog(ERROR, "car: could not run: %s", sql[i]);
}

/* car.grant_roles(create_missing boolean default true) */
Datum
car_grant_roles(PG_FUNCTION_ARGS)
{
	bool		create_missing = PG_ARGISNULL(0) ? true : PG_GETARG_BOOL(0);
	const char *roles[] = {"car_reader", "car_auditor", "car_ingest", "car_admin"};
	Datum		out[4];
	int			i;

	SPI_connect();
	for (i = 0; i < (int) lengthof(roles); i++)
	{
		if (OidIsValid(get_role_oid(roles[i], true)))
			continue;
		if (!create_missing)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role \"%s\" does not exist", roles[i]),
					 errhint("Create it (CREATE ROLE %s NOLOGIN) or call car.grant_roles(true).", roles[i])));
		if (SPI_execute(psprintf("CREATE ROLE %s NOLOGIN", roles[i]), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "car: could not create role %s", roles[i]);
	}
	RunAll(reader_grants, lengthof(reader_grants));
	RunAll(auditor_grants, lengthof(auditor_grants));
	RunAll(ingest_grants, lengthof(ingest_grants));
	RunAll(admin_grants, lengthof(admin_grants));
	SPI_finish();

	for (i = 0; i < (int) lengthof(roles); i++)
		out[i] = CStringGetTextDatum(roles[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, lengthof(roles), TEXTOID, -1, false, TYPALIGN_INT));
}
