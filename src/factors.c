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
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
#include "utils/xml.h"

#include "access/xact.h"
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

	/* rows not loaded, for car.factor_skipped (car 1.1) */
	bool		  list_skipped;
	SPIPlanPtr	  skip_plan;
	MemoryContext skip_cxt;
	int			  nskip;
	Datum		 *skip_line;
	Datum		 *skip_kind;
	Datum		 *skip_reason;
	Datum		 *skip_cells;
	long		  first_line[5]; /* the first unclassified rows, for the refusal */
	char		 *first_reason[5];
	int			  shown_unclassified;
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

/* Insert the skipped rows collected so far into car.factor_skipped. */
static void
FlushSkipped(Loader *ld)
{
	Oid	  types[5] = {INT4OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum args[5];

	if (ld->nskip == 0)
		return;
	if (ld->skip_plan == NULL)
	{
		ld->skip_plan = SPI_prepare("INSERT INTO car.factor_skipped (set_id, line, kind, reason, cells) "
									"SELECT $1, l, k, r, c::text[] FROM unnest($2, $3, $4, $5) AS u(l, k, r, c)",
									5, types);
		if (ld->skip_plan == NULL)
			elog(ERROR, "could not prepare the skipped-row insert: %s", SPI_result_code_string(SPI_result));
	}
	args[0] = Int32GetDatum(ld->set_id);
	args[1] = PointerGetDatum(construct_array(ld->skip_line, ld->nskip, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(ld->skip_kind, ld->nskip, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(ld->skip_reason, ld->nskip, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(ld->skip_cells, ld->nskip, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(ld->skip_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the skipped factor rows");
	MemoryContextReset(ld->skip_cxt);
	ld->nskip = 0;
	ld->skip_line = MemoryContextAlloc(ld->skip_cxt, sizeof(Datum) * BATCH_ROWS);
	ld->skip_kind = MemoryContextAlloc(ld->skip_cxt, sizeof(Datum) * BATCH_ROWS);
	ld->skip_reason = MemoryContextAlloc(ld->skip_cxt, sizeof(Datum) * BATCH_ROWS);
	ld->skip_cells = MemoryContextAlloc(ld->skip_cxt, sizeof(Datum) * BATCH_ROWS);
}

/*
 * A row not loaded: listed in car.factor_skipped with its reason and its
 * cells (trailing empty ones left out; at most 32, each cut at 500 bytes),
 * as a text[] literal.
 */
static void
AddSkipped(Loader *ld, const FactorRow *row, FfResult r, char **cells, int ncells)
{
	MemoryContext  old;
	StringInfoData lit;
	int			   last = ncells - 1,
		i;

	if (r == FF_UNCLASSIFIED && ld->shown_unclassified < (int) lengthof(ld->first_line))
	{
		ld->first_line[ld->shown_unclassified] = row->line;
		ld->first_reason[ld->shown_unclassified] = pstrdup(row->reason);
		ld->shown_unclassified++;
	}
	if (!ld->list_skipped)
		return;
	old = MemoryContextSwitchTo(ld->skip_cxt);
	while (last >= 0 && cells[last][0] == '\0')
		last--;
	initStringInfo(&lit);
	appendStringInfoChar(&lit, '{');
	for (i = 0; i <= last && i < 32; i++)
	{
		int			len = pg_encoding_mbcliplen(PG_UTF8, cells[i], strlen(cells[i]), 500);
		char	   *c = pg_any_to_server(pnstrdup(cells[i], len), len, PG_UTF8);
		const char *p;

		if (i > 0)
			appendStringInfoChar(&lit, ',');
		appendStringInfoChar(&lit, '"');
		for (p = c; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&lit, '\\');
			appendStringInfoChar(&lit, *p);
		}
		appendStringInfoChar(&lit, '"');
	}
	appendStringInfoChar(&lit, '}');
	ld->skip_line[ld->nskip] = Int32GetDatum((int32) row->line);
	ld->skip_kind[ld->nskip] = CStringGetTextDatum(r == FF_NO_VALUE ? "no value" : "unclassified");
	ld->skip_reason[ld->nskip] = CellDatum(row->reason);
	ld->skip_cells[ld->nskip] = CStringGetTextDatum(lit.data);
	MemoryContextSwitchTo(old);
	if (++ld->nskip == BATCH_ROWS && ld->set_id != 0)
		FlushSkipped(ld);
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
			 errhint("Open the workbook in a spreadsheet program, save it as .xlsx or CSV (both keep formula results), and load that; "
					 "or load the rest with car.load_factors(..., lenient => true), which lists these rows in car.factor_skipped.")));
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

/* The activities every factor set must price, in their usual units. */
static const struct
{
	const char *activity;
	const char *unit;
} core_activities[] = {
	{"electricity", "kWh"},
	{"natural_gas", "kWh"},
	{"natural_gas_net_cv", "kWh"},
	{"water_supply", "m3"},
	{"diesel", "litres"},
	{"petrol", "litres"},
};

typedef struct PriceCore
{
	int			set_id;
	const char *key;
	const char *unit;
} PriceCore;

static void
PriceOne(void *arg)
{
	PriceCore	  *p = arg;
	ResolvedFactor f;

	car_resolve(p->key, p->unit, p->set_id, &f);
}

/*
 * Can the new set price the core activities, every component of each (as
 * car.emissions would)?  Refuses the load, listing what is missing.
 */
static void
RequireCore(Loader *ld)
{
	StringInfoData missing;
	size_t		   i;

	initStringInfo(&missing);
	/* the set's rows, as this transaction wrote them */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	for (i = 0; i < lengthof(core_activities); i++)
	{
		const char **kinds,
			**keys;
		int n = car_activity_components(core_activities[i].activity, &kinds, &keys);
		int k;

		for (k = 0; k < Max(n, 1); k++)
		{
			PriceCore p = {ld->set_id, n > 0 ? keys[k] : core_activities[i].activity, core_activities[i].unit};
			char	 *why = NULL;

			if (!car_try_pricing(PriceOne, &p, &why))
				appendStringInfo(&missing, "%s%s per %s (%s)", missing.len ? "; " : "", p.key, p.unit, why);
		}
	}
	PopActiveSnapshot();
	if (missing.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("factor file \"%s\" refused: its factors cannot price the core activities", ld->name),
				 errdetail("Missing: %s.", missing.data),
				 errhint("Nothing was loaded. A factor set must price electricity (with T&D and well-to-tank), "
						 "natural gas on both calorific-value bases, water, diesel and petrol: load the complete "
						 "flat file.")));
}

/*
 * Load the bytes of one factor file; name and uri say where they came from.
 * Returns the factor set's id (an existing one for bytes already loaded).
 */
int
car_load_factor_bytes(const char *data, size_t len, const char *name, const char *uri, const FactorLoadOptions *opt)
{
	int			pin;
	char		sha[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	Loader		ld;
	FactorFile	ff;
	RowSource	src;
	char		err[XLSX_ERRLEN + FF_ERRLEN];
	const char *sheet = NULL;
	int			i;
	bool		v11 = car_has_relation("factor_skipped"); /* car 1.1's schema (not a 1.0 database yet) */

	car_refuse_on_shard("loading a factor file");
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("factor file \"%s\" is empty", name)));
	car_sha256_hex(data, len, sha);

	pin = car_spi_connect();
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
		car_spi_finish(pin);
		return id;
	}

	memset(&ld, 0, sizeof(ld));
	memset(&src, 0, sizeof(src));
	ld.name = name;
	ld.list_skipped = v11;
	ld.batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "car factor batch", ALLOCSET_DEFAULT_SIZES);
	ld.skip_cxt = AllocSetContextCreate(CurrentMemoryContext, "car factor skipped", ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < NCOLS; i++)
	{
		ld.col[i] = MemoryContextAlloc(ld.batch_cxt, sizeof(Datum) * BATCH_ROWS);
		ld.null[i] = MemoryContextAlloc(ld.batch_cxt, sizeof(bool) * BATCH_ROWS);
	}
	ld.skip_line = MemoryContextAlloc(ld.skip_cxt, sizeof(Datum) * BATCH_ROWS);
	ld.skip_kind = MemoryContextAlloc(ld.skip_cxt, sizeof(Datum) * BATCH_ROWS);
	ld.skip_reason = MemoryContextAlloc(ld.skip_cxt, sizeof(Datum) * BATCH_ROWS);
	ld.skip_cells = MemoryContextAlloc(ld.skip_cxt, sizeof(Datum) * BATCH_ROWS);

	PG_TRY();
	{
		FactorRow	row;
		char	  **cells;
		long		line;
		int			n;
		ReadError	kind = READ_OK;
		const char *text = NULL;
		size_t		ulen = len;

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
			/* the workbook's numbers come as plain decimals: the format is '.', no thousands separator */
			ff_init(&ff, ',');
		}
		else
		{
			NumFormat fmt;

			text = car_text_as_utf8(data, len, &ulen);
			if (text == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						 errmsg("the file is binary: it is neither an .xlsx or .xls workbook nor CSV text"),
						 errhint("Load the DESNZ/BEIS flat file as published (.xlsx or .xls) or saved as CSV.")));

			/* the first pass: the number format, decided from every value of the file */
			if (csv_init(&src.csv, text, ulen, 0) != 0)
				ereport(ERROR,
						(errcode(car_read_errcode(src.csv.errkind, ERRCODE_INVALID_TEXT_REPRESENTATION)),
						 errmsg("could not read factor file \"%s\": %s", name, src.csv.err),
						 src.csv.errkind == READ_LIMIT ? errhint("Nothing was loaded.") : 0));
			src.is_csv = true;
			ff_init(&ff, src.csv.delim);
			ff_survey(&ff);
			while ((n = NextRow(&src, &cells, &line, err, sizeof(err), &kind)) > 0)
			{
				CHECK_FOR_INTERRUPTS();
				if (ff_feed(&ff, cells, n, line, NULL) == FF_ERROR)
					break;
			}
			if (n >= 0 && ff.err[0] == '\0' && ff_settle(&ff, opt->decimal, opt->group, &fmt) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("factor file \"%s\" refused: cannot tell its number format", name),
						 errdetail("%s.", ff.err),
						 errhint("Nothing was loaded. Say which separators the file uses: car.load_factors(..., "
								 "decimal_separator => '.' or ',', thousands_separator => the one it groups "
								 "thousands with, or '' for none).")));
			CloseSource(&src);
			if (csv_init(&src.csv, text, ulen, 0) != 0)
				ereport(ERROR,
						(errcode(car_read_errcode(src.csv.errkind, ERRCODE_INVALID_TEXT_REPRESENTATION)),
						 errmsg("could not read factor file \"%s\": %s", name, src.csv.err)));
			src.is_csv = true;
			ff_init(&ff, src.csv.delim);
			ff_check_width(&ff);
			ff_use_format(&ff, &fmt);
		}

		while ((n = NextRow(&src, &cells, &line, err, sizeof(err), &kind)) > 0)
		{
			FfResult r = ff_feed(&ff, cells, n, line, &row);

			CHECK_FOR_INTERRUPTS();
			if (r == FF_ERROR)
				break;
			if (ff.header_found && ld.set_id == 0)
				StartSet(&ld, &ff, opt->year, sha, uri, sheet);
			if (r == FF_ROW)
				AddRow(&ld, &row);
			else if (r == FF_NO_VALUE || r == FF_UNCLASSIFIED)
				AddSkipped(&ld, &row, r, cells, n);
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
		if (ff.rows_unclassified > 0 && !opt->lenient)
		{
			StringInfoData first;

			/* "lines 3678, 3679: reason; line 3701: another reason" */
			initStringInfo(&first);
			for (i = 0; i < ld.shown_unclassified; i++)
			{
				bool same_next = i + 1 < ld.shown_unclassified && strcmp(ld.first_reason[i], ld.first_reason[i + 1]) == 0;
				bool same_prev = i > 0 && strcmp(ld.first_reason[i], ld.first_reason[i - 1]) == 0;

				if (!same_prev)
					appendStringInfo(&first, "%s%s %ld", i ? "; " : "", same_next ? "lines" : "line", ld.first_line[i]);
				else
					appendStringInfo(&first, ", %ld", ld.first_line[i]);
				if (!same_next)
					appendStringInfo(&first, ": %s", ld.first_reason[i]);
			}
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg_plural("factor file \"%s\" refused: %ld row carries a number that cannot be classified",
								   "factor file \"%s\" refused: %ld rows carry a number that cannot be classified",
								   ff.rows_unclassified, name, ff.rows_unclassified),
					 errdetail("%s%s.", first.data,
							   ff.rows_unclassified > ld.shown_unclassified ? "; and more" : ""),
					 errhint("Nothing was loaded. Correct those rows, or load the rest with "
							 "car.load_factors(..., lenient => true), which lists every row it skips, with its "
							 "reason, in car.factor_skipped.")));
		}
		if (ff.rows_loaded == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("factor file \"%s\" has a header but no factor values", name),
					 errdetail_plural("%ld row after the header on line %ld has no numeric factor.",
									  "%ld rows after the header on line %ld have no numeric factor.",
									  ff.rows_skipped, ff.rows_skipped, ff.header_line)));
		if (src.is_xls && ff.skipped[FF_SKIP_EMPTY] > 0 && !opt->lenient)
			XlsEmptyValues(&ff, name);
		FlushBatch(&ld);
		FlushSkipped(&ld);
	}
	PG_FINALLY();
	{
		CloseSource(&src);
	}
	PG_END_TRY();

	RequireCore(&ld);
	{
		Oid	  t2[6] = {INT4OID, INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID};
		Datum v2[6] = {Int32GetDatum(ld.set_id), Int32GetDatum((int32) ff.rows_loaded),
					   Int32GetDatum((int32) ff.rows_skipped), Int32GetDatum((int32) ff.rows_no_value),
					   Int32GetDatum((int32) ff.rows_unclassified),
					   CStringGetTextDatum(psprintf("{\"%s\": %ld, \"%s\": %ld, \"%s\": %ld, \"%s\": %ld}",
													ff_skip_names[FF_SKIP_EMPTY], ff.skipped[FF_SKIP_EMPTY],
													ff_skip_names[FF_SKIP_BOUND], ff.skipped[FF_SKIP_BOUND],
													ff_skip_names[FF_SKIP_END], ff.skipped[FF_SKIP_END],
													ff_skip_names[FF_SKIP_TEXT], ff.skipped[FF_SKIP_TEXT]))};

		/*
		 * The counts by reason came with car 1.1: between an update of the
		 * library and ALTER EXTENSION car UPDATE the table is still 1.0's.
		 */
		if (SPI_execute_with_args(v11 ? "UPDATE car.factor_set SET row_count = $2, rows_skipped = $3, "
										"rows_without_value = $4, rows_unclassified = $5, rows_skipped_by = $6::jsonb "
										"WHERE id = $1"
									  : "UPDATE car.factor_set SET row_count = $2, rows_skipped = $3 WHERE id = $1",
								  v11 ? 6 : 3, t2, v2, NULL, false, 0) != SPI_OK_UPDATE)
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
	MemoryContextDelete(ld.skip_cxt);
	car_spi_finish(pin);
	return ld.set_id;
}

/* Load a factor file and return its car.factor_set row. */
static Datum
LoadFactorBytes(const char *data, size_t len, const char *name, const char *uri, const FactorLoadOptions *opt)
{
	int	  pin;
	int	  id = car_load_factor_bytes(data, len, name, uri, opt);
	Datum result;

	pin = car_spi_connect();
	result = SetRow(id);
	car_spi_finish(pin);
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

/*
 * The options after a load_factors function's first arguments: year, then
 * (car 1.1) lenient, decimal_separator, thousands_separator.  A 1.0
 * database calls with the year alone: PG_NARGS() says which.
 */
static void
LoadOptions(FunctionCallInfo fcinfo, int first, FactorLoadOptions *opt)
{
	int n = PG_NARGS();

	memset(opt, 0, sizeof(*opt));
	opt->decimal = opt->group = NF_DETECT;
	if (n > first && !PG_ARGISNULL(first))
		opt->year = PG_GETARG_INT32(first);
	if (n > first + 1 && !PG_ARGISNULL(first + 1))
		opt->lenient = PG_GETARG_BOOL(first + 1);
	if (n > first + 2 && !PG_ARGISNULL(first + 2))
	{
		char *s = text_to_cstring(PG_GETARG_TEXT_PP(first + 2));

		if (nf_parse_separator(s, 0, &opt->decimal) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("decimal_separator must be \".\" or \",\", not \"%s\"", s)));
	}
	if (n > first + 3 && !PG_ARGISNULL(first + 3))
	{
		char *s = text_to_cstring(PG_GETARG_TEXT_PP(first + 3));

		if (nf_parse_separator(s, 1, &opt->group) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("thousands_separator must be \",\", \".\", \" \" (a space), \"'\" or \"\" (none), not \"%s\"", s)));
	}
	if (opt->decimal != NF_DETECT && opt->decimal == opt->group)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decimal_separator and thousands_separator are both \"%c\"", opt->decimal)));
}

/* car.load_factors(path_or_uri text, year int, lenient boolean, decimal_separator text, thousands_separator text) */
Datum
car_load_factors_path(PG_FUNCTION_ARGS)
{
	char			 *path;
	size_t			  len;
	char			 *data;
	FactorLoadOptions opt;

	LoadOptions(fcinfo, 1, &opt);

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
	return LoadFactorBytes(data, len, BaseName(path), path, &opt);
}

/* car.load_factors(content bytea, name text, year int, lenient boolean, decimal_separator text, thousands_separator text) */
Datum
car_load_factors_bytes(PG_FUNCTION_ARGS)
{
	bytea			 *content;
	char			 *name;
	FactorLoadOptions opt;

	LoadOptions(fcinfo, 2, &opt);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("car.load_factors needs the file's content and a name for it")));
	content = PG_GETARG_BYTEA_PP(0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	return LoadFactorBytes(VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content), name, name, &opt);
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
	int				  year = PG_GETARG_INT32(0);
	char			  dir[MAXPGPATH];
	char			  path[MAXPGPATH];
	char			  prefix[64];
	char			  uri[MAXPGPATH + 16];
	DIR				 *d;
	struct dirent	 *de;
	StringInfoData	  avail;
	char			**years = palloc(sizeof(char *) * 256);
	int				  nyears = 0;
	int				  i;
	bool			  found = false;
	size_t			  len;
	char			 *data;
	FactorLoadOptions opt;

	memset(&opt, 0, sizeof(opt));
	opt.decimal = opt.group = NF_DETECT;
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
	return LoadFactorBytes(data, len, BaseName(path), uri, &opt);
}
