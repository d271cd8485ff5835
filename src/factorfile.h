/*
 * factorfile.h
 *		Pure C recogniser for DESNZ/BEIS "flat file" conversion-factor tables.
 *
 * Rows come in from any row source (the CSV or xlsx readers); the recogniser
 * finds the header row by its column names, reads the year from the value
 * column ("GHG Conversion Factor 2024"), then turns each data row into a
 * FactorRow: text cells verbatim, the gas derived from the GHG or GHG/Unit
 * wording of that year, the value read in the file's number format (decided
 * once for the whole file, from all its values: numfmt.h).  No backend
 * calls; errors come back as text.
 *
 * No row is skipped silently but the structural ones (preamble, blank rows,
 * END).  A row with labels but no number (an empty factor cell, or text such
 * as "< 1") is FF_NO_VALUE: listed with its reason, not loaded.  A row that
 * carries a number it cannot classify (a value not in the file's number
 * format; a GHG/Unit label that names no gas and no conversion, even in the
 * year-to-year wordings; no unit of measure; no Level 1) is FF_UNCLASSIFIED:
 * the caller refuses the file, or loads the rest and lists it.  A row whose
 * GHG/Unit cell holds no label at all (empty, or a stray mark as the 2021
 * file's "`") takes the label every earlier row of its Level 1 group agrees
 * on, if they agree on one.
 *
 * It allocates nothing (a FactorFile is fixed-size and messages are cut to
 * its buffers) and its work is linear in each row, so what bounds a hostile
 * file is the row source's caps: CSV_MAX_RECORD and CSV_MAX_FIELDS (csv.h),
 * XLSX_MAX_ROW_BYTES and XLSX_MAX_COLUMNS (xlsx.h).
 */
#ifndef CAR_FACTORFILE_H
#define CAR_FACTORFILE_H

#include <stddef.h>

#include "numfmt.h"

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
	FF_PREAMBLE,	 /* before the header, or the header itself */
	FF_ROW,			 /* a factor row was produced */
	FF_NO_VALUE,	 /* a row publishing no number (an empty cell, or text such as "< 1"): listed, not loaded */
	FF_UNCLASSIFIED, /* a row carrying a number that cannot be classified: refuses the file unless lenient */
	FF_STRUCTURAL,	 /* the END row: skipped silently */
	FF_BLANK,		 /* an empty row (not counted) */
	FF_ERROR
} FfResult;

/*
 * Why a data row was skipped, for car.factor_set.rows_skipped_by: FF_NO_VALUE
 * rows are empty, a bound or other text; FF_STRUCTURAL ones the END row.
 * Unclassified rows (a lenient load) are counted in rows_unclassified.
 */
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

/* What a GHG / GHG/Unit label says a row's number is. */
typedef enum FfKind
{
	FF_KIND_UNKNOWN,	/* a label that is none of the below: the row cannot be classified */
	FF_KIND_GAS,		/* kg of CO2e, CO2, CH4 or N2O (as CO2e) per unit */
	FF_KIND_CONVERSION, /* an energy conversion (kWh, kWh (Net CV) ...): no gas */
	FF_KIND_NONE		/* no label: an empty cell, or a stray mark such as ` */
} FfKind;

typedef struct FactorRow
{
	long		line;
	const char *cells[FF_NCOLUMNS]; /* NULL where the file has no such column */
	const char *gas;				/* "CO2e", "CO2", "CH4", "N2O" or NULL */
	char		value[64];			/* normalised decimal text */
	char		reason[300];		/* why a row is not loaded (FF_NO_VALUE, FF_UNCLASSIFIED) */
} FactorRow;

typedef struct FactorFile
{
	int	 header_found;
	long header_line;
	int	 header_cells;	   /* the header's cells, up to its last non-blank one */
	int	 check_width;	   /* CSV text: a data row with more cells than the header is unclassified */
	int	 col[FF_NCOLUMNS]; /* cell index of each column, or -1 */
	int	 year;			   /* from the value column's name, or 0 */
	char title[512];	   /* first preamble text (a derived file's names its source and SHA-256) */
	char delim;			   /* delimiter of the source (',' for xlsx) */
	long rows_seen;		   /* rows examined so far */
	long rows_loaded;
	long rows_skipped;					  /* rows after the header not loaded: END, no value, unclassified */
	long rows_no_value;					  /* of them, rows publishing no number */
	long rows_unclassified;				  /* of them, rows with a number that could not be classified */
	long skipped[4];					  /* the rows_no_value and END rows by FfSkip */
	long empty_lines[FF_MAX_EMPTY_LINES]; /* the first rows skipped as FF_SKIP_EMPTY */

	/* the number format: surveyed from every value cell (CSV), then settled */
	int		  surveying;
	NumSurvey numbers;
	NumFormat numfmt;

	/* the Level 1 group the rows are in, and the one label its rows agree on so far */
	char		group_level1[128];
	int			group_uniform;
	FfKind		group_kind;
	char		group_label[48]; /* the label, normalised */
	const char *group_gas;

	/* for the "header not found" message */
	int	 best_score;
	long best_line;
	char best_cells[600];

	char err[FF_ERRLEN];
} FactorFile;

/*
 * Start reading.  The number format is the plain one ('.', no thousands
 * separator: what the xlsx reader writes) until ff_settle decides another.
 */
extern void ff_init(FactorFile *ff, char delim);
/* For CSV text: a data row with a non-blank cell past the header's (a decimal comma
 * in a comma-separated file: ...,0,20705) cannot be classified. */
extern void ff_check_width(FactorFile *ff);

/*
 * Feed one row; see FfResult.  out is filled when FF_ROW is returned (and
 * its line and reason for FF_NO_VALUE and FF_UNCLASSIFIED).  While
 * surveying (ff_survey), rows only find the header and feed the value
 * cells to the number-format survey.
 */
extern FfResult ff_feed(FactorFile *ff, char **cells, int ncells, long line, FactorRow *out);

/* The first pass of a CSV file: ff_init, ff_survey, then ff_feed every row; ff_settle; then ff_init again. */
extern void ff_survey(FactorFile *ff);

/*
 * Decide the number format from the survey; decimal and group are
 * NF_DETECT or the caller's.  0 with *out, or -1 with ff->err.
 */
extern int ff_settle(FactorFile *ff, char decimal, char group, NumFormat *out);

/* Read rows' values in this format (the one ff_settle decided). */
extern void ff_use_format(FactorFile *ff, const NumFormat *f);

/* What a GHG / GHG/Unit label says; *gas is set for FF_KIND_GAS, *canon to a normalised label. */
extern FfKind ff_classify_unit(const char *ghg_unit, const char **gas, char *canon, size_t canonlen);

/* Call at end of input: 0, or -1 with ff->err if no header was ever found. */
extern int ff_finish(FactorFile *ff);

/* Why a data row whose value cell (value) is not a number is skipped. */

/* Lower-case, trim and collapse white space: how headers are compared. */
extern void ff_normalise(const char *in, char *out, size_t outlen);

/* Gas named by a GHG / GHG/Unit cell, or NULL for a non-emission row. */
extern const char *ff_gas(const char *ghg_unit);

#endif /* CAR_FACTORFILE_H */
