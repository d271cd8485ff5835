/*
 * factors.c
 *		car.load_factors: load a DESNZ/BEIS flat file into car.factor_set and
 *		car.factor.
 *
 * The bytes are hashed first: a file already loaded returns its existing
 * set.  Otherwise the pure readers (xlsx.c or csv.c) produce rows, the pure
 * recogniser (factorfile.c) turns them into factor rows, and those are
 * inserted in batches through one prepared INSERT ... SELECT unnest(...).
 * A new file for a year that has a set becomes that year's current set;
 * the old one stays, marked superseded.  Loads are serialised with an
 * advisory lock so two sessions loading the same file load it once.
 */
#include "car.h"

#include <sys/stat.h>
#include <dirent.h>

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"
#include "utils/xml.h"

#include "csv.h"
#include "factorfile.h"
#include "xls.h"
#include "xlsx.h"

PG_FUNCTION_INFO_V1(car_load_factors_path);
PG_FUNCTION_INFO_V1(car_load_factors_bytes);
PG_FUNCTION_INFO_V1(car_load_factors_year);

#define FACTOR_SHEET  "Factors by Category"
#define BATCH_ROWS	  2000
#define NCOLS		  14		 /* line, 12 text columns, value */
#define LOAD_LOCK_KEY 0x63617266 /* "carf": serialises factor loads */

/* Text columns of car.factor in insert order, and where they come from. */
static const FfColumn text_columns[] = {
	FF_ID, FF_SCOPE, FF_LEVEL1, FF_LEVEL2, FF_LEVEL3, FF_LEVEL4, FF_COLUMN_TEXT,
	FF_UOM_SIMPLE, FF_UOM, FF_GHG, FF_LOOKUP};

typedef struct Loader
{
	const char	 *name; /* file name, for messages */
	int			  set_id;
	int			  year;
	SPIPlanPtr	  insert_plan;
	MemoryContext batch_cxt;
	int			  n;
	Datum		 *col[NCOLS];
	bool		 *null[NCOLS];
} Loader;

/* Text of a cell converted from UTF-8 to the database encoding. */
static Datum
CellDatum(const char *s)
{
	char *conv = pg_any_to_server(s, strlen(s), PG_UTF8);

	return CStringGetTextDatum(conv);
}

static void FlushBatch(Loader *ld);

static void
AddRow(Loader *ld, const FactorRow *row)
{
	MemoryContext old = MemoryContextSwitchTo(ld->batch_cxt);
	int			  i;
	int			  n = ld->n;

	ld->col[0][n] = Int32GetDatum((int32) row->line);
	ld->null[0][n] = false;
	for (i = 0; i < (int) lengthof(text_columns); i++)
	{
		const char *v = row->cells[text_columns[i]];

		ld->null[1 + i][n] = v == NULL;
		ld->col[1 + i][n] = v ? CellDatum(v) : (Datum) 0;
	}
	/* gas is derived from the GHG column; it follows the verbatim columns */
	ld->null[12][n] = row->gas == NULL;
	ld->col[12][n] = row->gas ? CStringGetTextDatum(row->gas) : (Datum) 0;
	ld->null[13][n] = false;
	ld->col[13][n] = CStringGetTextDatum(row->value);
	MemoryContextSwitchTo(old);
	if (++ld->n == BATCH_ROWS)
		FlushBatch(ld);
}

/* Create the car.factor_set row once the header (and so the year) is known. */
static void
StartSet(Loader *ld, FactorFile *ff, int year_arg, const char *sha, const char *uri, const char *sheet)
{
	Oid	  types[8] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
	Datum vals[8];
	char  nulls[8] = "        ";
	char  title[600];
	char  yeartext[16];
	bool  isnull;
	Oid	  ins_types[NCOLS + 1];
	int	  i;

	if (ff->year && year_arg && ff->year != year_arg)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("factor file \"%s\" is for %d, but year => %d was given", ld->name, ff->year, year_arg),
				 errdetail("Its value column on line %ld is named for %d.", ff->header_line, ff->year),
				 errhint("Leave year out, or check that this is the file you meant.")));
	ld->year = ff->year ? ff->year : year_arg;
	if (ld->year == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot tell which year factor file \"%s\" is for", ld->name),
				 errdetail("Its value column on line %ld has no year in its name (expected \"GHG Conversion Factor YYYY\").",
						   ff->header_line),
				 errhint("Pass the year: car.load_factors(..., year => 2024).")));
	if (ld->year < 1990 || ld->year > 2100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("factor file \"%s\" claims year %d, which is not a plausible factor year", ld->name, ld->year)));

	/* the title as the file gives it, with the year unless it already says it */
	snprintf(yeartext, sizeof(yeartext), "%d", ld->year);
	if (ff->title[0] && strstr(ff->title, yeartext) != NULL)
		snprintf(title, sizeof(title), "%s", ff->title);
	else
		snprintf(title, sizeof(title), "%s %d",
				 ff->title[0] ? ff->title : "UK Government GHG Conversion Factors for Company Reporting", ld->year);
	vals[0] = Int32GetDatum(ld->year);
	/* BEIS published until 2022; DESNZ from 2023 on. */
	vals[1] = CStringGetTextDatum(ld->year >= 2023 ? "DESNZ" : "BEIS");
	vals[2] = CellDatum(title);
	vals[3] = CellDatum(uri);
	vals[4] = CStringGetTextDatum(sha);
	vals[5] = sheet ? CellDatum(sheet) : (Datum) 0;
	nulls[5] = sheet ? ' ' : 'n';
	vals[6] = Int32GetDatum((int32) ff->header_line);
	vals[7] = CellDatum(ld->name);

	if (SPI_execute_with_args(
			"WITH new AS ("
			"  INSERT INTO car.factor_set (id, publisher, year, revision, title, source_uri, sha256, "
			"      sheet, header_line, file_name, row_count, rows_skipped) "
			"  SELECT nextval('car.factor_set_id_seq'), $2, $1, "
			"      coalesce((SELECT max(revision) FROM car.factor_set WHERE year = $1), 0) + 1, "
			"      $3, $4, $5, $6, $7, $8, 0, 0 "
			"  RETURNING id) "
			"SELECT id FROM new",
			8, types, vals, nulls, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not create the factor set row");
	ld->set_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	ins_types[0] = INT4OID;
	ins_types[1] = INT4ARRAYOID;
	for (i = 2; i <= NCOLS; i++)
		ins_types[i] = TEXTARRAYOID;
	ld->insert_plan = SPI_prepare(
		"INSERT INTO car.factor (set_id, line, external_id, scope, level1, level2, level3, level4, "
		"  column_text, uom_simple, uom, ghg_unit, lookup, gas, value) "
		"SELECT $1, u.* FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
		"  $15::numeric[]) AS u",
		NCOLS + 1, ins_types);
	if (ld->insert_plan == NULL)
		elog(ERROR, "could not prepare the factor insert: %s", SPI_result_code_string(SPI_result));
}

/* Insert the rows collected so far; the plan's $1 is the set id. */
static void
FlushBatch(Loader *ld)
{
	Datum args[NCOLS + 1];
	int	  i;

	if (ld->n == 0)
		return;
	args[0] = Int32GetDatum(ld->set_id);
	for (i = 0; i < NCOLS; i++)
	{
		Oid	  elemtype = i == 0 ? INT4OID : TEXTOID;
		int	  dims[1] = {ld->n};
		int	  lbs[1] = {1};
		int16 typlen;
		bool  typbyval;
		char  typalign;

		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		args[1 + i] = PointerGetDatum(construct_md_array(ld->col[i], ld->null[i], 1, dims, lbs,
														 elemtype, typlen, typbyval, typalign));
	}
	if (SPI_execute_plan(ld->insert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert factor rows");
	MemoryContextReset(ld->batch_cxt);
	ld->n = 0;
	for (i = 0; i < NCOLS; i++)
	{
		ld->col[i] = MemoryContextAlloc(ld->batch_cxt, sizeof(Datum) * BATCH_ROWS);
		ld->null[i] = MemoryContextAlloc(ld->batch_cxt, sizeof(bool) * BATCH_ROWS);
	}
}

/* Pull rows from whichever reader suits the bytes. */
typedef struct RowSource
{
	XlsxReader *xlsx;
	CsvReader	csv;
	bool		is_csv;
	XlsFrames	xls;	 /* the .xls reader's rows, decoded from xls_out */
	char	   *xls_out; /* malloc'd by xls_read_sandboxed */
	bool		is_xls;
} RowSource;

/* The next row: its cell count, 0 at the end, or -1 with the reader's message and its kind. */
static int
NextRow(RowSource *src, char ***cells, long *line, char *err, size_t errlen, ReadError *kind)
{
	int n;

	if (src->is_xls)
	{
		n = xls_frames_next(&src->xls, cells, line);
		if (n < 0)
		{
			snprintf(err, errlen, "%s", src->xls.err);
			*kind = src->xls.errkind;
		}
		return n;
	}
	if (src->is_csv)
	{
		n = csv_next(&src->csv, cells);
		*line = src->csv.record_line;
		if (n < 0)
		{
			snprintf(err, errlen, "%s", src->csv.err);
			*kind = src->csv.errkind;
		}
		return n;
	}
	n = xlsx_next(src->xlsx, cells, line);
	if (n < 0)
	{
		snprintf(err, errlen, "%s", xlsx_error(src->xlsx));
		*kind = xlsx_error_kind(src->xlsx);
	}
	return n;
}

static void
CloseSource(RowSource *src)
{
	if (src->is_xls)
		xls_frames_free(&src->xls);
	free(src->xls_out);
	src->xls_out = NULL;
	src->is_xls = false;
	if (src->is_csv)
		csv_free(&src->csv);
	else if (src->xlsx)
		xlsx_close(src->xlsx);
	src->xlsx = NULL;
	src->is_csv = false;
}

/*
 * Open the workbook between pg_xml_init and pg_xml_done, which save and
 * restore libxml2's global error handling around our use of it.
 */
static XlsxReader *
OpenWorkbook(const char *data, size_t len, char *err, size_t errlen, ReadError *kind)
{
	PgXmlErrorContext *xerr = pg_xml_init(PG_XML_STRICTNESS_LEGACY);
	XlsxReader		  *x = NULL;

	PG_TRY();
	{
		x = xlsx_open(data, len, FACTOR_SHEET, err, errlen, kind);
	}
	PG_FINALLY();
	{
		pg_xml_done(xerr, false);
	}
	PG_END_TRY();
	return x;
}

/*
 * The official workbooks FreeXL 1.0.6 cannot open (an empty string in their
 * shared-string table), by SHA-256, and the bundled set derived from each.
 */
static const struct
{
	int			year;
	const char *sha256;
} unreadable_official[] = {
	{2017, "e3465c553583234252aa4b44e4429b304e46a2f0fb8daea8b8e7eb57517aa001"},
	{2018, "52eaa49f8ad6c0eefab763accd2dbab8f7b588157a8ac23051698290857ddde8"},
};

/* Refuse an .xls that FreeXL could not read, saying what to do instead. */
static void
XlsRefused(const char *data, size_t len, const char *name, ReadError kind, const char *err)
{
	char   sha[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	size_t i;

	car_sha256_hex(data, len, sha);
	for (i = 0; i < lengthof(unreadable_official); i++)
		if (strcmp(sha, unreadable_official[i].sha256) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("could not read factor workbook \"%s\": it is the official %d flat file, which FreeXL (the .xls reader car uses) cannot open",
							name, unreadable_official[i].year),
					 errdetail("The workbook's shared-string table holds an empty string, which FreeXL 1.0.6 (Debian 12) takes for a sign of a crafted file; and FreeXL reads no formula cells, which hold some of this workbook's numbers. The reader said: %s",
							   err),
					 errhint("car bundles the %d set derived from this very workbook (sha256 %.12s...): run car.load_factors(%d). Or open the workbook in a spreadsheet program, save it as .xlsx or CSV, and load that. Nothing was loaded.",
							 unreadable_official[i].year, sha, unreadable_official[i].year)));
	ereport(ERROR,
			(errcode(car_read_errcode(kind, ERRCODE_INVALID_BINARY_REPRESENTATION)),
			 errmsg("could not read factor workbook \"%s\": %s", name, err),
			 errhint("Nothing was loaded. The official 2017 and 2018 flat files are bundled with car as sets derived from their .xls: car.load_factors(2017), car.load_factors(2018).")));
}

/*
 * Refuse an .xls whose data rows include some without a value.  FreeXL
 * reads no FORMULA record, so a formula cell (the published workbooks hold
 * hundreds, their cached results being the factors) comes back empty: an
 * empty value cell may be a factor that was lost, and loading the rest
 * would publish a silently incomplete set.
 */
static void
XlsEmptyValues(const FactorFile *ff, const char *name)
{
	StringInfoData lines;
	long		   n = ff->skipped[FF_SKIP_EMPTY];
	long		   i;

	initStringInfo(&lines);
	for (i = 0; i < n && i < FF_MAX_EMPTY_LINES; i++)
		appendStringInfo(&lines, "%s%ld", i ? ", " : "", ff->empty_lines[i]);
	if (n > FF_MAX_EMPTY_LINES)
		appendStringInfoString(&lines, ", ...");
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg_plural("factor workbook \"%s\" has %ld data row without a value (row %s), and the .xls reader cannot tell an empty cell from a formula",
						   "factor workbook \"%s\" has %ld data rows without a value (rows %s), and the .xls reader cannot tell an empty cell from a formula",
						   n, name, n, lines.data),
			 errdetail("FreeXL, which car uses to read .xls workbooks, reads no formula cells: a factor computed by a formula comes back empty, so these rows may hold published factors that would be lost. Nothing was loaded."),
			 errhint("Open the workbook in a spreadsheet program, save it as .xlsx or CSV (both keep formula results), and load that.")));
}

/*
 * Read the factor sheet of an .xls workbook into src.  FreeXL opens only a
 * path, so the bytes go to a temporary file of PostgreSQL's (in the data
 * directory's pgsql_tmp, named by the server, never by the file's own name),
 * which closing removes, as does the resource owner if an error comes first.
 * FreeXL runs in car's helper program (src/xls.c says why); the wait for it
 * sleeps on the latch and the pipe, answers cancel and terminate, and gives
 * up with the postmaster; whatever ends the wait, the helper is killed and
 * reaped before this returns or the error propagates.
 */
static void
OpenXls(RowSource *src, const char *data, size_t len, const char *name)
{
	File		tmp;
	char		helper[MAXPGPATH];
	char		err[XLS_ERRLEN];
	ReadError	kind = READ_OK;
	size_t		outlen = 0;
	int			rc;
	const char *sheet;
	XlsChild   *child = palloc0(sizeof(XlsChild)); /* not a local: PG_FINALLY reads it after a longjmp */

	if (len > XLS_MAX_FILE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("could not read factor workbook \"%s\": it is %zu bytes, more than the %zu an .xls file may be (the published factor workbooks are under 2 MB)",
						name, len, XLS_MAX_FILE_BYTES),
				 errhint("Nothing was loaded.")));
	tmp = OpenTemporaryFile(false);
	if (FileWrite(tmp, unconstify(char *, data), (int) len, 0, WAIT_EVENT_DATA_FILE_WRITE) != (int) len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the temporary copy of factor workbook \"%s\": %m", name)));
	snprintf(helper, sizeof(helper), "%s/%s", pkglib_path, XLS_HELPER_NAME);
	child->fd = -1;
	PG_TRY();
	{
		if (xls_child_start(child, helper, FilePathName(tmp), FACTOR_SHEET, err, sizeof(err), &kind) != 0)
			ereport(ERROR,
					(errcode(car_read_errcode(kind, ERRCODE_INVALID_BINARY_REPRESENTATION)),
					 errmsg("could not read factor workbook \"%s\": %s", name, err), errhint("Nothing was loaded.")));
		while ((rc = xls_child_read(child, err, sizeof(err), &kind)) == 1)
		{
			(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 child->fd, 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc == 0)
			rc = xls_child_finish(child, &src->xls_out, &outlen, err, sizeof(err), &kind);
	}
	PG_FINALLY();
	{
		xls_child_abort(child);
		FileClose(tmp);
	}
	PG_END_TRY();
	if (rc < 0)
		XlsRefused(data, len, name, kind, err);
	src->is_xls = true;
	sheet = xls_frames_init(&src->xls, src->xls_out, outlen);
	if (sheet == NULL)
		XlsRefused(data, len, name, src->xls.errkind, src->xls.err);
}

/* Fetch the car.factor_set row with this id as the function's result. */
static Datum
SetRow(int set_id)
{
	Oid	  types[1] = {INT4OID};
	Datum vals[1] = {Int32GetDatum(set_id)};

	if (SPI_execute_with_args("SELECT * FROM car.factor_set WHERE id = $1", 1, types, vals, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "factor set %d vanished", set_id);
	return PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
}

/* Load the bytes of one factor file; name and uri say where they came from. */
/*
 * Load the bytes of one factor file; name and uri say where they came from.
 * Returns the factor set's id (an existing one for bytes already loaded).
 */
int
car_load_factor_bytes(const char *data, size_t len, const char *name, const char *uri, int year_arg)
{
	char		sha[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	Loader		ld;
	FactorFile	ff;
	RowSource	src;
	char		err[XLSX_ERRLEN + FF_ERRLEN];
	const char *sheet = NULL;
	int			i;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("factor file \"%s\" is empty", name)));
	car_sha256_hex(data, len, sha);

	SPI_connect();
	/* One loader at a time: the same bytes from two sessions load once. */
	SPI_execute("SELECT pg_catalog.pg_advisory_xact_lock(1667330662)", false, 0);

	vals[0] = CStringGetTextDatum(sha);
	if (SPI_execute_with_args("SELECT id FROM car.factor_set WHERE sha256 = $1", 1, types, vals, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.factor_set");
	if (SPI_processed == 1)
	{
		bool isnull;
		int	 id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		ereport(NOTICE,
				(errmsg("factor file \"%s\" is already loaded as factor set %d; nothing loaded", name, id)));
		SPI_finish();
		return id;
	}

	memset(&ld, 0, sizeof(ld));
	memset(&src, 0, sizeof(src));
	ld.name = name;
	ld.batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "car factor batch", ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < NCOLS; i++)
	{
		ld.col[i] = MemoryContextAlloc(ld.batch_cxt, sizeof(Datum) * BATCH_ROWS);
		ld.null[i] = MemoryContextAlloc(ld.batch_cxt, sizeof(bool) * BATCH_ROWS);
	}

	PG_TRY();
	{
		FactorRow row;
		char	**cells;
		long	  line;
		int		  n;
		ReadError kind = READ_OK;

		if (xls_looks_like(data, len))
		{
			OpenXls(&src, data, len, name);
			sheet = src.xls.sheet;
			ff_init(&ff, ',');
		}
		else if (xlsx_looks_like(data, len))
		{
			src.xlsx = OpenWorkbook(data, len, err, sizeof(err), &kind);
			if (src.xlsx == NULL)
				ereport(ERROR,
						(errcode(car_read_errcode(kind, ERRCODE_INVALID_BINARY_REPRESENTATION)),
						 errmsg("could not read factor workbook \"%s\": %s", name, err),
						 kind == READ_LIMIT ? errhint("Nothing was loaded.") : 0));
			sheet = xlsx_sheet_name(src.xlsx);
			ff_init(&ff, ',');
		}
		else
		{
			size_t		ulen = len;
			const char *text = car_text_as_utf8(data, len, &ulen);

			if (text == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						 errmsg("the file is binary: it is neither an .xlsx or .xls workbook nor CSV text"),
						 errhint("Load the DESNZ/BEIS flat file as published (.xlsx or .xls) or saved as CSV.")));

			if (csv_init(&src.csv, text, ulen, 0) != 0)
				ereport(ERROR,
						(errcode(car_read_errcode(src.csv.errkind, ERRCODE_INVALID_TEXT_REPRESENTATION)),
						 errmsg("could not read factor file \"%s\": %s", name, src.csv.err),
						 src.csv.errkind == READ_LIMIT ? errhint("Nothing was loaded.") : 0));
			src.is_csv = true;
			ff_init(&ff, src.csv.delim);
		}

		while ((n = NextRow(&src, &cells, &line, err, sizeof(err), &kind)) > 0)
		{
			FfResult r = ff_feed(&ff, cells, n, line, &row);

			CHECK_FOR_INTERRUPTS();
			if (r == FF_ERROR)
				break;
			if (r != FF_ROW)
				continue;
			if (ld.set_id == 0)
				StartSet(&ld, &ff, year_arg, sha, uri, sheet);
			AddRow(&ld, &row);
		}
		if (n < 0)
			ereport(ERROR,
					(errcode(car_read_errcode(kind, ERRCODE_INVALID_TEXT_REPRESENTATION)),
					 errmsg("could not read factor file \"%s\": %s", name, err),
					 kind == READ_MALFORMED ? errhint("The file may be truncated or damaged; nothing was loaded.")
											: errhint("Nothing was loaded.")));
		if (ff.err[0] == '\0')
			ff_finish(&ff);
		if (ff.err[0] != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("factor file \"%s\" is not a DESNZ/BEIS flat file", name),
					 errdetail("%s%s%s.", ff.err, sheet ? "; sheet read: " : "", sheet ? sheet : ""),
					 errhint("Load the \"Flat file\" edition of the conversion factors, not the full set.")));
		if (ld.set_id == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("factor file \"%s\" has a header but no factor values", name),
					 errdetail_plural("%ld row after the header on line %ld has no numeric factor.",
									  "%ld rows after the header on line %ld have no numeric factor.",
									  ff.rows_skipped, ff.rows_skipped, ff.header_line)));
		if (src.is_xls && ff.skipped[FF_SKIP_EMPTY] > 0)
			XlsEmptyValues(&ff, name);
		FlushBatch(&ld);
	}
	PG_FINALLY();
	{
		CloseSource(&src);
	}
	PG_END_TRY();

	{
		Oid	  t2[4] = {INT4OID, INT4OID, INT4OID, TEXTOID};
		Datum v2[4] = {Int32GetDatum(ld.set_id), Int32GetDatum((int32) ff.rows_loaded),
					   Int32GetDatum((int32) ff.rows_skipped),
					   CStringGetTextDatum(psprintf("{\"%s\": %ld, \"%s\": %ld, \"%s\": %ld, \"%s\": %ld}",
													ff_skip_names[FF_SKIP_EMPTY], ff.skipped[FF_SKIP_EMPTY],
													ff_skip_names[FF_SKIP_BOUND], ff.skipped[FF_SKIP_BOUND],
													ff_skip_names[FF_SKIP_END], ff.skipped[FF_SKIP_END],
													ff_skip_names[FF_SKIP_TEXT], ff.skipped[FF_SKIP_TEXT]))};

		/*
		 * rows_skipped_by came with car 1.1: between an update of the library
		 * and ALTER EXTENSION car UPDATE the table is still 1.0's, without it.
		 */
		Oid	 nsp = get_namespace_oid("car", false);
		bool by_reason = get_attnum(get_relname_relid("factor_set", nsp), "rows_skipped_by") != InvalidAttrNumber;

		if (SPI_execute_with_args(by_reason ? "UPDATE car.factor_set SET row_count = $2, rows_skipped = $3, "
											  "rows_skipped_by = $4::jsonb WHERE id = $1"
											: "UPDATE car.factor_set SET row_count = $2, rows_skipped = $3 WHERE id = $1",
								  by_reason ? 4 : 3, t2, v2, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update the factor set row");
		if (SPI_execute_with_args("UPDATE car.factor_set SET superseded_by = $1 "
								  "WHERE year = (SELECT year FROM car.factor_set WHERE id = $1) "
								  "AND id <> $1 AND superseded_by IS NULL",
								  1, t2, v2, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not mark the earlier factor sets superseded");
		if (SPI_processed > 0)
			ereport(NOTICE,
					(errmsg("factor set %d is now the current set for %d; the earlier set is kept, marked superseded",
							ld.set_id, ld.year)));
	}
	MemoryContextDelete(ld.batch_cxt);
	SPI_finish();
	return ld.set_id;
}

/* Load a factor file and return its car.factor_set row. */
static Datum
LoadFactorBytes(const char *data, size_t len, const char *name, const char *uri, int year_arg)
{
	int	  id = car_load_factor_bytes(data, len, name, uri, year_arg);
	Datum result;

	SPI_connect();
	result = SetRow(id);
	SPI_finish();
	return result;
}

/* Read a whole server-side file, with the same rights COPY FROM a file needs. */
static char *
ReadServerFile(const char *path, size_t *len)
{
	FILE	   *f;
	struct stat st;
	char	   *buf;

	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open factor file \"%s\": %m", path),
				 errhint("The path is read by the server process; relative paths are relative to the data directory.")));
	if (fstat(fileno(f), &st) < 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not stat \"%s\": %m", path)));
	if (S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory, not a factor file", path)));
	if ((Size) st.st_size > MaxAllocSize - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("factor file \"%s\" is too large (%lld bytes)", path, (long long) st.st_size)));
	buf = palloc(st.st_size + 1);
	if (fread(buf, 1, st.st_size, f) != (size_t) st.st_size)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not read \"%s\": %m", path)));
	FreeFile(f);
	buf[st.st_size] = '\0';
	*len = st.st_size;
	return buf;
}

static const char *
BaseName(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* car.load_factors(path_or_uri text, year int default null) */
Datum
car_load_factors_path(PG_FUNCTION_ARGS)
{
	char  *path;
	int	   year = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	size_t len;
	char  *data;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("car.load_factors needs a file path, not NULL")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (pg_strncasecmp(path, "file://", 7) == 0)
		path += 7;
	else if (strstr(path, "://") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("car.load_factors cannot fetch \"%s\": only server file paths are read directly", path),
				 errhint("Download the file and pass its bytes: car.load_factors(content, name), or a server path.")));

	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read factor file \"%s\"", path),
				 errdetail("Reading server files needs superuser or membership of pg_read_server_files, as COPY FROM a file does."),
				 errhint("Send the bytes instead: car.load_factors(pg_read_binary_file(...)) or car.load_factors(content, name).")));

	data = ReadServerFile(path, &len);
	return LoadFactorBytes(data, len, BaseName(path), path, year);
}

/* car.load_factors(content bytea, name text, year int default null) */
Datum
car_load_factors_bytes(PG_FUNCTION_ARGS)
{
	bytea *content;
	char  *name;
	int	   year = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("car.load_factors needs the file's content and a name for it")));
	content = PG_GETARG_BYTEA_PP(0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	return LoadFactorBytes(VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content), name, name, year);
}

/* Directory of the factor files installed with the extension. */
static void
BundleDir(char *dir)
{
	char share[MAXPGPATH];

	get_share_path(my_exec_path, share);
	snprintf(dir, MAXPGPATH, "%s/car", share);
}

/* car.load_factors(year int): the official file bundled for that year */
Datum
car_load_factors_year(PG_FUNCTION_ARGS)
{
	int			   year = PG_GETARG_INT32(0);
	char		   dir[MAXPGPATH];
	char		   path[MAXPGPATH];
	char		   prefix[64];
	char		   uri[MAXPGPATH + 16];
	DIR			  *d;
	struct dirent *de;
	StringInfoData avail;
	char		 **years = palloc(sizeof(char *) * 256);
	int			   nyears = 0;
	int			   i;
	bool		   found = false;
	size_t		   len;
	char		  *data;

	BundleDir(dir);
	snprintf(prefix, sizeof(prefix), "desnz-factors-%d.", year);
	initStringInfo(&avail);
	d = AllocateDir(dir);
	while ((de = ReadDir(d, dir)) != NULL)
	{
		if (strncmp(de->d_name, "desnz-factors-", 14) == 0 && nyears < 256)
			years[nyears++] = psprintf("%.4s", de->d_name + 14);
		if (!found && strncmp(de->d_name, prefix, strlen(prefix)) == 0)
		{
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			found = true;
		}
	}
	FreeDir(d);
	qsort(years, nyears, sizeof(char *), pg_qsort_strcmp);
	for (i = 0; i < nyears; i++)
		appendStringInfo(&avail, "%s%s", i ? ", " : "", years[i]);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("car has no bundled factor file for %d", year),
				 errdetail("Bundled years: %s.", avail.len ? avail.data : "none"),
				 errhint("Load the DESNZ flat file yourself: car.load_factors('/path/to/file.xlsx').")));
	data = ReadServerFile(path, &len);
	snprintf(uri, sizeof(uri), "bundled:%s", BaseName(path));
	return LoadFactorBytes(data, len, BaseName(path), uri, 0);
}
