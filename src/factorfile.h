/*
 * factorfile.h
 *		Pure C recogniser for DESNZ/BEIS "flat file" conversion-factor tables.
 *
 * Rows come in from any row source (the CSV or xlsx readers); the recogniser
 * finds the header row by its column names, reads the year from the value
 * column ("GHG Conversion Factor 2024"), then turns each data row into a
 * FactorRow: text cells verbatim, the gas derived from the GHG or GHG/Unit
 * wording of that year, the value normalised from whatever locale the file
 * was saved in.  No backend calls; errors come back as text.
 *
 * It allocates nothing (a FactorFile is fixed-size and messages are cut to
 * its buffers) and its work is linear in each row, so what bounds a hostile
 * file is the row source's caps: CSV_MAX_RECORD and CSV_MAX_FIELDS (csv.h),
 * XLSX_MAX_ROW_BYTES and XLSX_MAX_COLUMNS (xlsx.h).
 */
#ifndef CAR_FACTORFILE_H
#define CAR_FACTORFILE_H

#include <stddef.h>

#define FF_ERRLEN			  1400
#define FF_HEADER_SEARCH_ROWS 30

typedef enum FfColumn
{
	FF_ID,
	FF_SCOPE,
	FF_LEVEL1,
	FF_LEVEL2,
	FF_LEVEL3,
	FF_LEVEL4,
	FF_COLUMN_TEXT,
	FF_UOM_SIMPLE,
	FF_UOM,
	FF_GHG,
	FF_LOOKUP,
	FF_VALUE,
	FF_NCOLUMNS
} FfColumn;

typedef enum FfResult
{
	FF_PREAMBLE, /* before the header, or the header itself */
	FF_ROW,		 /* a factor row was produced */
	FF_SKIPPED,	 /* a data row without a numeric factor (counted) */
	FF_BLANK,	 /* an empty row (not counted) */
	FF_ERROR
} FfResult;

/* Why a data row was skipped (counted, not loaded). */
typedef enum FfSkip
{
	FF_SKIP_EMPTY, /* no value at all */
	FF_SKIP_BOUND, /* a bound such as "< 1", not a figure */
	FF_SKIP_END,   /* the END marker row */
	FF_SKIP_TEXT   /* other text */
} FfSkip;

extern const char *const ff_skip_names[4]; /* "empty", "bound", "end", "text" */

/* How many lines of rows without a value a FactorFile remembers (for messages). */
#define FF_MAX_EMPTY_LINES 5

typedef struct FactorRow
{
	long		line;
	const char *cells[FF_NCOLUMNS]; /* NULL where the file has no such column */
	const char *gas;				/* "CO2e", "CO2", "CH4", "N2O" or NULL */
	char		value[64];			/* normalised decimal text */
} FactorRow;

typedef struct FactorFile
{
	int	 header_found;
	long header_line;
	int	 col[FF_NCOLUMNS]; /* cell index of each column, or -1 */
	int	 year;			   /* from the value column's name, or 0 */
	char title[512];	   /* first preamble text (a derived file's names its source and SHA-256) */
	char delim;			   /* delimiter of the source (',' for xlsx) */
	long rows_seen;		   /* rows examined so far */
	long rows_loaded;
	long rows_skipped;
	long skipped[4];					  /* rows_skipped by FfSkip */
	long empty_lines[FF_MAX_EMPTY_LINES]; /* the first rows skipped as FF_SKIP_EMPTY */

	/* for the "header not found" message */
	int	 best_score;
	long best_line;
	char best_cells[600];

	char err[FF_ERRLEN];
} FactorFile;

extern void ff_init(FactorFile *ff, char delim);

/* Feed one row; see FfResult.  out is filled when FF_ROW is returned. */
extern FfResult ff_feed(FactorFile *ff, char **cells, int ncells, long line, FactorRow *out);

/* Call at end of input: 0, or -1 with ff->err if no header was ever found. */
extern int ff_finish(FactorFile *ff);

/* Why a data row whose value cell (value) is not a number is skipped. */
extern FfSkip ff_skip_reason(const char *value, char **cells, int ncells);

/* Lower-case, trim and collapse white space: how headers are compared. */
extern void ff_normalise(const char *in, char *out, size_t outlen);

/* Gas named by a GHG / GHG/Unit cell, or NULL for a non-emission row. */
extern const char *ff_gas(const char *ghg_unit);

/*
 * Normalise a number written in any of the locales Excel exports: spaces and
 * no-break spaces as thousands separators, decimal comma or point.  Returns 0
 * and writes plain decimal text to out, or -1 if in is not a number.
 */
extern int ff_parse_number(const char *in, char delim, char *out, size_t outlen);

#endif /* CAR_FACTORFILE_H */
