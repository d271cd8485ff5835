/*
 * source.c
 *		car.add_source: define a source of files (or of the GB grid's carbon
 *		intensity), its options checked now.  A polled source wakes the
 *		background worker when the transaction commits.
 */
#include "ingest.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(car_add_source);

/* car.add_source(name, uri, kind, format, options, poll_interval) */
Datum
car_add_source(PG_FUNCTION_ARGS)
{
	int			  pin;
	char		 *kind;
	char		 *format = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	char		 *uri = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb		 *options;
	SourceOptions so;
	Datum		  result;
	Oid			  types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, INTERVALOID};
	Datum		  v[6];
	char		  nulls[6] = "      ";
	int			  i;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a source needs a name")));
	kind = PG_ARGISNULL(2) ? "file" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	options = PG_ARGISNULL(4) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
							  : PG_GETARG_JSONB_P(4);
	if (strcmp(kind, "push") != 0 && strcmp(kind, "file") != 0 && strcmp(kind, "index") != 0 &&
		strcmp(kind, "template") != 0 && strcmp(kind, "carbon-intensity") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown source kind \"%s\"", kind),
				 errhint("Kinds: push, file, index, template, carbon-intensity.")));
	if (strcmp(kind, "push") != 0 && uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s source needs a URI", kind)));
	/* sources make the server fetch URLs and create tables' rows: superusers and car_admin only */
	{
		Oid admin = get_role_oid("car_admin", true);

		if (!superuser() && !(OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to add a source"),
					 errhint("Only superusers and members of car_admin may add sources.")));
	}
	if (uri && pg_strncasecmp(uri, "file:", 5) == 0 && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may add sources with file: URIs")));
	memset(&so, 0, sizeof(so));
	if (strcmp(kind, "carbon-intensity") == 0)
		car_intensity_check_options(options, format != NULL);
	else
		car_read_source_options(options, format, &so);
	if (strcmp(kind, "carbon-intensity") != 0 && so.activity)
	{
		const char **kinds,
			**keys;

		(void) car_activity_components(so.activity, &kinds, &keys);
	}

	v[0] = PG_GETARG_DATUM(0);
	v[1] = uri ? CStringGetTextDatum(uri) : (Datum) 0;
	nulls[1] = uri ? ' ' : 'n';
	v[2] = CStringGetTextDatum(kind);
	v[3] = format ? CStringGetTextDatum(format) : (Datum) 0;
	nulls[3] = format ? ' ' : 'n';
	v[4] = JsonbPGetDatum(options);
	v[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	pin = car_spi_connect();
	i = SPI_execute_with_args("INSERT INTO car.source (name, uri, kind, format, options, poll_interval) "
							  "VALUES ($1, $2, $3, $4, $5, coalesce($6, '1 hour')) RETURNING *",
							  6, types, v, nulls, false, 1);
	if (i != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not add the source");
	result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	car_spi_finish(pin);
	if (strcmp(kind, "push") != 0)
		car_wake_launcher_at_commit();
	PG_RETURN_DATUM(result);
}
