/*
 * ingest.c
 *		Meter files into car.reading: car.push and car_ingest_file.
 *
 * A pushed file is landed in car.source_file (raw bytes kept) and loaded in
 * the same transaction, in two passes over the bytes with the pure readers
 * (csv.c, meterfile.c):
 *
 *   1. scan: check every row, turn local dates and times into instants with
 *      the source's time zone, count rejects (refusing the file whole above
 *      car.max_reject_ratio before anything is written), collect the sites
 *      and meters and the months the readings fall in;
 *   2. write (ingest_write.c): create sites, meters and partitions, then stream the readings
 *      into car.reading through PostgreSQL's own COPY machinery (binary
 *      format, fed by a callback: batching and partition routing for free),
 *      or, where the file overlaps readings already stored, through batched
 *      INSERT ... ON CONFLICT DO UPDATE so that the later file's value wins.
 *
 * Nothing of the file is held in memory besides its bytes: rows stream.
 */
#include "ingest.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_push);

/* ------------------------------------------------------------------ scan */

static void
AddError(Ingest *ing, long line, char **cells, int n, const char *message)
{
	RowError	  *e;
	StringInfoData raw;
	int			   i;

	ing->rejected++;
	if (list_length(ing->errors) >= MAX_ERRORS_KEPT)
		return;
	/* the row's first 500 bytes (and the start of a character cut there): a cell may be 1 MB */
	initStringInfo(&raw);
	for (i = 0; i < n && raw.len < 500; i++)
	{
		if (i > 0)
			appendStringInfoChar(&raw, ing->csv.delim);
		appendBinaryStringInfo(&raw, cells[i], (int) strnlen(cells[i], 504 - raw.len));
	}
	e = palloc(sizeof(RowError));
	e->line = line;
	{
		/* at most 500 bytes, cut between characters (the text is UTF-8 by now) */
		int	  len = pg_encoding_mbcliplen(PG_UTF8, raw.data, raw.len, 500);
		char *clipped = pnstrdup(raw.data, len);

		e->raw = pg_any_to_server(clipped, len, PG_UTF8);
	}
	pfree(raw.data);
	e->message = pstrdup(message);
	ing->errors = lappend(ing->errors, e);
}

/* The first control character (C0, or DEL) of a name, or NULL. */
static const char *
ControlCharacter(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7F)
			return s;
	return NULL;
}

/* The meter of a record, made on first sight. */
static MeterEntry *
MeterOf(Ingest *ing, const MfRecord *r)
{
	char		key[KEYLEN];
	MeterEntry *m;
	bool		found;

	/* the site's length first: no two (site, meter) pairs give one key, whatever bytes they hold */
	snprintf(key, sizeof(key), "%zu:%s/%s", strlen(r->site), r->site, r->meter);
	m = hash_search(ing->meters, key, HASH_ENTER, &found);
	if (!found)
	{
		const char *act = ing->so.activity;

		m->site = pstrdup(r->site);
		m->meter = pstrdup(r->meter);
		m->unit = pstrdup(r->unit);
		if (act == NULL)
			act = mf_infer_activity(r->activity_hint);
		if (act == NULL)
			act = mf_infer_activity(r->meter);
		if (act == NULL)
			act = mf_infer_activity(ing->mf.meter_header);
		if (act == NULL)
			act = mf_infer_activity(r->site);
		m->activity = act ? pstrdup(act) : NULL;
		m->id = 0;
		m->to_meter_unit = 1.0;
		m->last_ts = DT_NOBEGIN;
	}
	return m;
}

/*
 * Instant of value k of record r, or 0 with *why set when it cannot be
 * placed (half-hour outside the local day, or outside the accepted range).
 */
static bool
ValueInstant(Ingest *ing, const MfRecord *r, int k, MeterEntry *m, TimestampTz *ts, const char **why)
{
	if (r->slot[k] >= 0)
	{
		car_local_day(ing, r->when.year, r->when.month, r->when.day);
		if (r->slot[k] >= ing->day_slots)
		{
			*why = psprintf("%04d-%02d-%02d has %d half-hours in %s, but a value is given for half-hour %d",
							r->when.year, r->when.month, r->when.day, ing->day_slots, ing->so.timezone,
							r->slot[k] + 1);
			return false;
		}
		*ts = ing->day_start + (int64) r->slot[k] * USECS_PER_HALF_HOUR;
	}
	else
	{
		bool missing = false;

		*ts = car_local_instant(ing, &r->when, m->last_ts, &missing);
		if (missing)
		{
			*why = psprintf("local time %04d-%02d-%02d %02d:%02d does not exist in %s (the clocks went forward)",
							r->when.year, r->when.month, r->when.day, r->when.hour, r->when.minute, ing->so.timezone);
			return false;
		}
		m->last_ts = *ts;
		if (ing->mf.period == MF_PERIOD_END || ing->so.mf.period == MF_PERIOD_END)
			*ts -= (int64) ing->so.interval_minutes * USECS_PER_MINUTE;
	}
	if (*ts < ing->accept_lo || *ts >= ing->accept_hi)
	{
		*why = psprintf("timestamp %s is outside the accepted range (car.accept_from .. now() + car.accept_ahead); quarantined",
						timestamptz_to_str(*ts));
		return false;
	}
	return true;
}

/* The CSV reader failed: the file cannot be read, or is past one of its caps. */
static void
CsvFailed(Ingest *ing) pg_attribute_noreturn();

static void
CsvFailed(Ingest *ing)
{
	ereport(ERROR,
			(errcode(car_read_errcode(ing->csv.errkind, ERRCODE_BAD_COPY_FILE_FORMAT)),
			 errmsg("could not read \"%s\": %s", ing->fname, ing->csv.err),
			 ing->csv.errkind == READ_MALFORMED ? errhint("The file may be truncated or damaged; nothing was loaded.")
												: errhint("Nothing was loaded.")));
}

/* Start reading the file from the top, through its header row. */
void
car_ingest_open(Ingest *ing)
{
	char **cells;
	int	   n;

	if (csv_init(&ing->csv, ing->data, ing->len, 0) != 0)
		CsvFailed(ing);
	mf_init(&ing->mf, &ing->so.mf);
	n = csv_next(&ing->csv, &cells);
	if (n < 0)
		CsvFailed(ing);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("\"%s\" is empty: it has no header row", ing->fname)));
	/* each pass places the autumn's repeated hour from the same start */
	{
		HASH_SEQ_STATUS st;
		MeterEntry	   *m;

		hash_seq_init(&st, ing->meters);
		while ((m = hash_seq_search(&st)) != NULL)
			m->last_ts = DT_NOBEGIN;
	}
	ing->header_fields = n;
	if (mf_header(&ing->mf, cells, n, ing->csv.record_line) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is not in the %s layout", ing->fname, mf_format_name(ing->so.mf.format)),
				 errdetail("%s.", ing->mf.err)));
}

/*
 * Read the next record; false at the end.  Rows that fail are recorded
 * (pass 1) or skipped (pass 2) here.
 */
bool
car_ingest_next(Ingest *ing, bool record_errors)
{
	for (;;)
	{
		char **cells;
		int	   n = csv_next(&ing->csv, &cells);
		char   err[MF_ERRLEN];
		int	   rc;

		if (n < 0)
			CsvFailed(ing);
		if (n == 0)
			return false;
		CHECK_FOR_INTERRUPTS();
		if (record_errors)
			ing->rows++;
		if (n < ing->header_fields && ing->csv.pos >= ing->csv.len && ing->data[ing->len - 1] != '\n' &&
			ing->data[ing->len - 1] != '\r')
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("\"%s\" ends in the middle of a row: line %ld has %d of the header's %d fields",
							ing->fname, ing->csv.record_line, n, ing->header_fields),
					 errhint("The file looks truncated; nothing was loaded. Send it again whole.")));
		rc = mf_row(&ing->mf, cells, n, ing->csv.record_line, &ing->rec, err, sizeof(err));
		if (rc == 0)
		{
			if (record_errors)
				ing->rows--; /* an empty row is not a data row */
			continue;
		}
		if (rc < 0)
		{
			if (record_errors)
				AddError(ing, ing->csv.record_line, cells, n, err);
			continue;
		}
		if (n < ing->header_fields && ing->so.mf.format != MF_LONG)
		{
			if (record_errors)
				AddError(ing, ing->csv.record_line, cells, n,
						 psprintf("row has %d fields, the header %d", n, ing->header_fields));
			continue;
		}
		if (strlen(ing->rec.site) + strlen(ing->rec.meter) + 24 > KEYLEN)
		{
			if (record_errors)
				AddError(ing, ing->csv.record_line, cells, n,
						 psprintf("site and meter names are together longer than %d bytes", KEYLEN - 24));
			continue;
		}
		{
			const char *bad = ControlCharacter(ing->rec.site);
			const char *which = "site";

			if (bad == NULL)
			{
				bad = ControlCharacter(ing->rec.meter);
				which = "meter";
			}
			if (bad != NULL)
			{
				if (record_errors)
					AddError(ing, ing->csv.record_line, cells, n,
							 psprintf("the %s name holds a control character (byte 0x%02X); names may not", which,
									  (unsigned char) *bad));
				continue;
			}
		}
		/* place every value; a row with any value that cannot be placed is rejected whole */
		{
			MeterEntry *m = MeterOf(ing, &ing->rec);
			TimestampTz save_last = m->last_ts;
			int			k;

			/* a meter's readings are in one unit: a row in another is not silently rescaled */
			if (pg_strcasecmp(m->unit, ing->rec.unit) != 0)
			{
				if (record_errors)
					AddError(ing, ing->csv.record_line, cells, n,
							 psprintf("unit \"%s\" differs from the unit \"%s\" of meter \"%s\" earlier in the file",
									  ing->rec.unit, m->unit, m->meter));
				continue;
			}

			for (k = 0; k < ing->rec.nvalues; k++)
			{
				const char *why;

				if (!ValueInstant(ing, &ing->rec, k, m, &ing->rec_ts[k], &why))
				{
					if (record_errors)
						AddError(ing, ing->csv.record_line, cells, n, why);
					break;
				}
			}
			if (k < ing->rec.nvalues)
			{
				m->last_ts = save_last;
				continue;
			}
			ing->rec_meter = m;
			ing->rec_pos = 0;
			return true;
		}
	}
}

static void
ScanFile(Ingest *ing)
{
	car_ingest_open(ing);
	ing->min_ts = DT_NOEND;
	ing->max_ts = DT_NOBEGIN;
	while (car_ingest_next(ing, true))
	{
		int k;

		for (k = 0; k < ing->rec.nvalues; k++)
		{
			if (ing->rec_ts[k] < ing->min_ts)
				ing->min_ts = ing->rec_ts[k];
			if (ing->rec_ts[k] > ing->max_ts)
				ing->max_ts = ing->rec_ts[k];
		}
		ing->values += ing->rec.nvalues;
	}
	csv_free(&ing->csv);
}
/* ------------------------------------------------------------- push */

static Datum
SourceFileRow(int id)
{
	Oid	  types[1] = {INT4OID};
	Datum v[1] = {Int32GetDatum(id)};

	/*
	 * The row as stored, but without the raw bytes: the caller has just sent
	 * them, and copying a large file back into the result would double the
	 * memory a push needs.
	 */
	if (SPI_execute_with_args("SELECT id, source_id, name, uri, sha256, bytes, NULL::bytea, received_at, status, "
							  "rows_loaded, rows_rejected, rows_superseded, error FROM car.source_file WHERE id = $1",
							  1, types, v, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "car.source_file %d vanished", id);
	return PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
}

static void
StoreErrors(Ingest *ing)
{
	Oid	   types[4] = {INT4OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	int	   n = list_length(ing->errors);
	Datum *lines,
		*raws,
		*msgs;
	Datum	  args[4];
	ListCell *lc;
	int		  i = 0;

	if (n == 0)
		return;
	lines = palloc(sizeof(Datum) * n);
	raws = palloc(sizeof(Datum) * n);
	msgs = palloc(sizeof(Datum) * n);
	foreach (lc, ing->errors)
	{
		RowError *e = lfirst(lc);

		lines[i] = Int32GetDatum((int32) e->line);
		raws[i] = CStringGetTextDatum(e->raw);
		msgs[i] = CStringGetTextDatum(e->message);
		i++;
	}
	args[0] = Int32GetDatum(ing->file_id);
	args[1] = PointerGetDatum(construct_array(lines, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(raws, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(msgs, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("INSERT INTO car.ingest_error (file_id, line, raw, message) "
							  "SELECT $1, l, r, m FROM unnest($2, $3, $4) AS u(l, r, m)",
							  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record rejected rows");
}

/* The text of a source's format and options, or an error if there is no such source. */
static int
LookupSource(const char *name, char **kind, char **format, Jsonb **options)
{
	Oid	  types[1] = {TEXTOID};
	Datum v[1] = {CStringGetTextDatum(name)};
	bool  isnull;
	Datum d;

	if (SPI_execute_with_args("SELECT id, kind, format, options FROM car.source WHERE name = $1", 1, types, v, NULL,
							  false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.source");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no source named \"%s\"", name),
				 errhint("Define it first: SELECT car.add_source('%s', NULL, 'push', 'ecodriver');", name)));
	*kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*format = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	*options = DatumGetJsonbPCopy(d);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Land and load one file for a source (the push API and the background
 * worker both come here).  Runs inside the caller's SPI connection.  Returns
 * the car.source_file id; *duplicate says the same bytes were already there.
 */
int
car_ingest_file(int source_id, const char *source, const char *format, Jsonb *options, const char *fname,
				const char *uri, bytea *payload, bool *duplicate)
{
	const char *data = VARDATA_ANY(payload);
	size_t		len = VARSIZE_ANY_EXHDR(payload);
	char		sha[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	Ingest		ing;
	HASHCTL		ctl;
	bool		isnull;

	*duplicate = false;
	car_sha256_hex(data, len, sha);
	if (format && strcmp(format, "desnz-factors") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" takes factor files; load them with car.load_factors(content, name)", source)));

	/* the same bytes for the same source load once, even from two sessions at once */
	{
		Oid	  types[2] = {INT4OID, TEXTOID};
		Datum v[2] = {Int32GetDatum(source_id), CStringGetTextDatum(sha)};

		SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, hashtext($2))", 2, types, v, NULL, false, 0);
		if (SPI_execute_with_args("SELECT id FROM car.source_file WHERE source_id = $1 AND sha256 = $2", 2, types, v,
								  NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read car.source_file");
		if (SPI_processed == 1)
		{
			int id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

			*duplicate = true;
			ereport(NOTICE,
					(errmsg("\"%s\" has the same bytes as file %d of source \"%s\"; nothing loaded", fname, id, source)));
			return id;
		}
	}

	if (len == 0)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("\"%s\" is empty", fname)));
	memset(&ing, 0, sizeof(ing));
	ing.fname = fname;
	ing.data = car_text_as_utf8(data, len, &ing.len);
	if (ing.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is binary, not a CSV meter file", fname),
				 errhint("Send the file as CSV text (UTF-8, UTF-16 with a byte-order mark, or Windows-1252).")));
	car_read_source_options(options, format, &ing.so);
	ing.tz = pg_tzset(ing.so.timezone);
	car_accepted_range(&ing.accept_lo, &ing.accept_hi);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = KEYLEN;
	ctl.entrysize = sizeof(MeterEntry);
	ctl.hcxt = CurrentMemoryContext;
	ing.meters = hash_create("car push meters", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	/* pass 1; the CSV reader's buffers are malloc'd: free them on any error */
	PG_TRY();
	{
		ScanFile(&ing);
	}
	PG_CATCH();
	{
		csv_free(&ing.csv);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (ing.rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("\"%s\" has a header but no data rows", fname)));
	if ((double) ing.rejected / (double) ing.rows > car_max_reject_ratio)
	{
		RowError *first = linitial(ing.errors);

		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"%s\" refused: %ld of its %ld rows (%.0f%%) are bad, more than car.max_reject_ratio (%.0f%%)",
						fname, ing.rejected, ing.rows, 100.0 * ing.rejected / ing.rows, 100.0 * car_max_reject_ratio),
				 errdetail("First bad row, line %ld: %s.", first->line, first->message),
				 errhint("Nothing of the file was loaded. Check the source's format and options, or fix the file.")));
	}

	/* land the file */
	{
		Oid	  types[6] = {INT4OID, TEXTOID, TEXTOID, INT8OID, BYTEAOID, TEXTOID};
		Datum v[6] = {Int32GetDatum(source_id), CStringGetTextDatum(fname), CStringGetTextDatum(sha),
					  Int64GetDatum((int64) len), PointerGetDatum(payload), CStringGetTextDatum(uri ? uri : fname)};

		if (SPI_execute_with_args("INSERT INTO car.source_file (source_id, name, uri, sha256, bytes, content, status) "
								  "VALUES ($1, $2, $6, $3, $4, $5, 'loaded') RETURNING id",
								  6, types, v, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not land the file");
		ing.file_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* pass 2 */
	car_ingest_resolve_meters(&ing);
	if (ing.values > 0)
	{
		/* a file is not a way to make hundreds of tables: ask maintenance for those */
		int missing = car_missing_reading_partitions(ing.min_ts, ing.max_ts);

		if (missing > car_max_new_partitions)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("\"%s\" refused: its readings run from %s to %s, which needs %d new monthly partitions, "
							"more than car.max_new_partitions (%d)",
							fname, pstrdup(timestamptz_to_str(ing.min_ts)), pstrdup(timestamptz_to_str(ing.max_ts)), missing,
							car_max_new_partitions),
					 errhint("Nothing of the file was loaded. Check its dates; a superuser can make the partitions "
							 "first with car.ensure_partitions(from, to), or raise car.max_new_partitions.")));
		car_ensure_partitions_range(ing.min_ts, ing.max_ts);
	}
	PG_TRY();
	{
		car_ingest_write(&ing);
	}
	PG_CATCH();
	{
		csv_free(&ing.csv);
		PG_RE_THROW();
	}
	PG_END_TRY();
	StoreErrors(&ing);
	{
		Oid	  types[4] = {INT4OID, INT8OID, INT8OID, INT8OID};
		Datum v[4] = {Int32GetDatum(ing.file_id), Int64GetDatum(ing.written), Int64GetDatum(ing.rejected),
					  Int64GetDatum(ing.superseded)};

		if (SPI_execute_with_args("UPDATE car.source_file SET rows_loaded = $2, rows_rejected = $3, rows_superseded = $4 "
								  "WHERE id = $1",
								  4, types, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the load");
	}
	return ing.file_id;
}

/* car.push(source text, filename text, payload bytea) */
Datum
car_push(PG_FUNCTION_ARGS)
{
	char  *source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char  *fname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea *payload = PG_GETARG_BYTEA_PP(2);
	char  *kind,
		*format;
	Jsonb *options;
	int	   source_id;
	int	   file_id;
	bool   duplicate;
	Datum  result;

	SPI_connect();
	source_id = LookupSource(source, &kind, &format, &options);
	if (strcmp(kind, "push") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is a %s source: files come to it by polling, not by car.push", source, kind),
				 errhint("Push to a source made with car.add_source(name, NULL, 'push', format, options).")));
	file_id = car_ingest_file(source_id, source, format, options, fname, NULL, payload, &duplicate);
	result = SourceFileRow(file_id);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
