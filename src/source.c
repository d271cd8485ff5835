/*
 * source.c
 *		car.add_source: define a source of files (or of the GB grid's carbon
 *		intensity), its options checked now.  A polled source wakes the
 *		background worker when the transaction commits.
 *
 *		And the one place that writes the record of landed files
 *		(car.source_file, their bytes in car.source_file_chunk,
 *		car.ingest_error): no role is granted to write
 *		them (a loader could otherwise make up a file, or change what one
 *		held or did), so car.push, the worker, a carbon-intensity window and
 *		car.maintenance write them here, as the tables' owner
 *		(car_as_table_owner: search_path pinned, operators named).
 */
#include "ingest.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

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

/* ------------------------------------------------------ landed files */

typedef struct LandJob
{
	int			  source_id;
	const char	 *name;
	const char	 *uri;
	const char	 *sha256;
	CarFileBytes *content;
	const char	 *metadata;
	bool		  if_new;
	int			  file_id; /* out */
	bool		  landed;  /* out */
} LandJob;

/*
 * Does car.source_file have the metadata column (car 1.1)?  A database
 * still at 1.0 runs this library until it is updated.
 */
bool
car_has_file_metadata(void)
{
	Oid rel = get_relname_relid("source_file", get_namespace_oid("car", false));

	return OidIsValid(rel) && get_attnum(rel, "metadata") != InvalidAttrNumber;
}

/*
 * The bytes of a landed file into car.source_file_chunk, in pieces of
 * CAR_PIECE_BYTES read from wherever they are: one piece in memory at a time.
 */
static void
WriteChunks(int file_id, CarFileBytes *b)
{
	Oid		   types[3] = {INT4OID, INT4OID, BYTEAOID};
	Datum	   v[3];
	SPIPlanPtr plan;
	bytea	  *piece = palloc(VARHDRSZ + CAR_PIECE_BYTES);
	int32	   seq = 0;
	int		   n;

	plan = SPI_prepare("INSERT INTO car.source_file_chunk (file_id, seq, bytes) VALUES ($1, $2, $3)", 3, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the landing of file %d: %s", file_id, SPI_result_code_string(SPI_result));
	v[0] = Int32GetDatum(file_id);
	v[2] = PointerGetDatum(piece);
	car_bytes_rewind(b);
	while ((n = car_bytes_read_full(b, VARDATA(piece), CAR_PIECE_BYTES)) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		SET_VARSIZE(piece, VARHDRSZ + n);
		v[1] = Int32GetDatum(seq++);
		if (SPI_execute_plan(plan, v, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not land piece %d of file %d", seq - 1, file_id);
	}
	SPI_freeplan(plan);
	pfree(piece);
}

static void
Land(void *arg)
{
	LandJob *job = arg;
	Oid		 types[7] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, BYTEAOID, TEXTOID};
	Datum	 v[7];
	char	 nulls[7] = "       ";
	bool	 meta = car_has_file_metadata();
	bool	 chunks = car_has_relation("source_file_chunk");
	bool	 isnull;
	int		 ret;

	v[0] = Int32GetDatum(job->source_id);
	v[1] = CStringGetTextDatum(job->name);
	v[2] = CStringGetTextDatum(job->uri);
	v[3] = CStringGetTextDatum(job->sha256);
	v[4] = Int64GetDatum(job->content->size);
	/* car 1.1 keeps the bytes in car.source_file_chunk; 1.0's table holds them in its content column */
	if (chunks)
	{
		v[5] = (Datum) 0;
		nulls[5] = 'n';
	}
	else if (job->content->payload != NULL)
		v[5] = PointerGetDatum(job->content->payload);
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database's car is at version 1.0, which cannot land a large object"),
				 errhint("Update it: ALTER EXTENSION car UPDATE.")));
	v[6] = CStringGetTextDatum(job->metadata ? job->metadata : "{}");
	if (job->if_new)
		ret = SPI_execute_with_args(
			"WITH n AS (INSERT INTO car.source_file (source_id, name, uri, sha256, bytes, content, status, metadata) "
			"VALUES ($1, $2, $3, $4, $5, $6, 'loaded', $7::pg_catalog.jsonb) "
			"ON CONFLICT (source_id, sha256) DO NOTHING RETURNING id) "
			"SELECT id, true FROM n UNION ALL "
			"SELECT id, false FROM car.source_file WHERE source_id OPERATOR(pg_catalog.=) $1 "
			"AND sha256 OPERATOR(pg_catalog.=) $4 AND NOT EXISTS (SELECT 1 FROM n)",
			7, types, v, nulls, false, 0);
	else
		ret = SPI_execute_with_args(
			meta ? "INSERT INTO car.source_file (source_id, name, uri, sha256, bytes, content, status, metadata) "
				   "VALUES ($1, $2, $3, $4, $5, $6, 'loaded', $7::pg_catalog.jsonb) RETURNING id, true"
				 : "INSERT INTO car.source_file (source_id, name, uri, sha256, bytes, content, status) "
				   "VALUES ($1, $2, $3, $4, $5, $6, 'loaded') RETURNING id, true",
			meta ? 7 : 6, types, v, nulls, false, 0);
	if ((ret != SPI_OK_SELECT && ret != SPI_OK_INSERT_RETURNING) || SPI_processed != 1)
		elog(ERROR, "could not land \"%s\"", job->name);
	job->file_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	job->landed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (job->landed && chunks)
		WriteChunks(job->file_id, job->content);
}

/*
 * Land a file's bytes for a source: a row of car.source_file, status loaded,
 * with what loading learnt of it (metadata, a JSON object, or NULL; car 1.0's
 * table has no column for it), and its bytes in car.source_file_chunk, read
 * from content in pieces.  if_new: the same bytes already landed for the
 * source are not landed again, and *landed says which happened; else a
 * second landing is an error (the caller checked under its lock).  Returns
 * the file's id.  SPI must be connected.
 */
int
car_land_file_bytes(int source_id, const char *name, const char *uri, const char *sha256, CarFileBytes *content,
					const char *metadata, bool if_new, bool *landed)
{
	LandJob job = {source_id, name, uri, sha256, content, metadata, if_new, 0, false};

	car_as_table_owner("source_file", Land, &job);
	if (landed)
		*landed = job.landed;
	return job.file_id;
}

/* car_land_file_bytes of a bytea. */
int
car_land_file(int source_id, const char *name, const char *uri, const char *sha256, bytea *content,
			  const char *metadata, bool if_new, bool *landed)
{
	CarFileBytes bytes;

	car_bytes_of_bytea(&bytes, content);
	return car_land_file_bytes(source_id, name, uri, sha256, &bytes, metadata, if_new, landed);
}

typedef struct FileJob
{
	int	   file_id;
	int64  loaded;
	int64  rejected;
	int64  superseded;
	Datum  lines; /* int[], text[], text[]: the rows quarantined */
	Datum  raws;
	Datum  messages;
	Datum  keep; /* interval: car.keep_raw */
	uint64 dropped;
} FileJob;

static void
Counts(void *arg)
{
	FileJob *job = arg;
	Oid		 types[4] = {INT4OID, INT8OID, INT8OID, INT8OID};
	Datum	 v[4] = {Int32GetDatum(job->file_id), Int64GetDatum(job->loaded), Int64GetDatum(job->rejected),
					 Int64GetDatum(job->superseded)};

	if (SPI_execute_with_args("UPDATE car.source_file SET rows_loaded = $2, rows_rejected = $3, rows_superseded = $4 "
							  "WHERE id OPERATOR(pg_catalog.=) $1",
							  4, types, v, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the load of file %d", job->file_id);
}

/* What loading a landed file did: readings written, rows quarantined, stored values replaced. */
void
car_file_counts(int file_id, int64 loaded, int64 rejected, int64 superseded)
{
	FileJob job = {file_id, loaded, rejected, superseded};

	car_as_table_owner("source_file", Counts, &job);
}

static void
Errors(void *arg)
{
	FileJob *job = arg;
	Oid		 types[4] = {INT4OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum	 v[4] = {Int32GetDatum(job->file_id), job->lines, job->raws, job->messages};

	if (SPI_execute_with_args("INSERT INTO car.ingest_error (file_id, line, raw, message) "
							  "SELECT $1, l, r, m FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) "
							  "AS u(l, r, m)",
							  4, types, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the rejected rows of file %d", job->file_id);
}

/* The rows of a landed file that were not loaded (car.ingest_error): lines int[], raws and messages text[]. */
void
car_file_errors(int file_id, Datum lines, Datum raws, Datum messages)
{
	FileJob job = {file_id};

	job.lines = lines;
	job.raws = raws;
	job.messages = messages;
	car_as_table_owner("ingest_error", Errors, &job);
}

static void
DropRaw(void *arg)
{
	FileJob *job = arg;
	Oid		 types[1] = {INTERVALOID};
	Datum	 v[1] = {job->keep};

	if (!car_has_relation("source_file_chunk"))
	{
		if (SPI_execute_with_args("UPDATE car.source_file SET content = NULL "
								  "WHERE content IS NOT NULL AND received_at OPERATOR(pg_catalog.<) "
								  "(pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
								  1, types, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update car.source_file");
		job->dropped = SPI_processed;
		return;
	}
	/* car 1.1: the bytes are pieces in car.source_file_chunk; counted by file */
	if (SPI_execute_with_args("WITH gone AS (DELETE FROM car.source_file_chunk c USING car.source_file f "
							  "WHERE f.id OPERATOR(pg_catalog.=) c.file_id AND f.received_at OPERATOR(pg_catalog.<) "
							  "(pg_catalog.now() OPERATOR(pg_catalog.-) $1) RETURNING c.file_id) "
							  "SELECT pg_catalog.count(DISTINCT file_id) FROM gone",
							  1, types, v, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not delete from car.source_file_chunk");
	{
		bool isnull;

		job->dropped = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/* Drop the raw bytes of files landed longer ago than keep (an interval: car.keep_raw); returns how many. */
uint64
car_drop_raw_bytes(Datum keep)
{
	FileJob job = {0};

	job.keep = keep;
	car_as_table_owner("source_file", DropRaw, &job);
	return job.dropped;
}
