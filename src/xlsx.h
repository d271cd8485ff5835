/*
 * xlsx.h
 *		Pure C streaming reader for one worksheet of an .xlsx workbook.
 *
 * The workbook is opened from memory with libzip; workbook.xml and its
 * relationships name the sheet's part, which is streamed through libxml2's
 * xmlTextReader straight out of the zip entry, so the uncompressed sheet is
 * never held whole.  Shared strings are read into an array first (cells
 * refer to them by index).  No network access, DTD loading or entity
 * substitution is ever enabled.  No backend calls: errors come back as text,
 * with their kind (budget.h).
 *
 * A workbook is a small archive that can expand to anything, so everything
 * the reader reads or holds is capped (below), and everything it allocates
 * counts against its byte budget.  Past a cap the workbook is refused
 * (READ_LIMIT) where the reader gets there, saying which cap and where.
 */
#ifndef CAR_XLSX_H
#define CAR_XLSX_H

#include <stddef.h>

#include "budget.h"

#define XLSX_ERRLEN 512

/*
 * The caps.  The published DESNZ/BEIS flat files are archives of 0.3-0.6 MB
 * holding about 30 parts: the factor sheet's XML is 2-4 MB and the shared
 * strings under 0.3 MB (the full-set workbook: about 3 MB, its sheets 10-30
 * MB of XML).
 *
 * XLSX_MAX_FILE_BYTES: the archive.  libzip holds the archive's directory in
 * memory, up to 3.7 bytes per archive byte (measured, with thousands of empty
 * parts), so this bounds libzip's share at about 120 MB; the published
 * workbooks are under 10 MB.
 */
#define XLSX_MAX_FILE_BYTES ((size_t) 32 * 1024 * 1024)

/*
 * XLSX_MAX_PART_BYTES: bytes decompressed from one streamed part (a sheet,
 * the shared strings), counted as they come out of libzip, whatever the
 * archive claims: a zip bomb stops here.  8 times the largest real sheet.
 */
#define XLSX_MAX_PART_BYTES ((size_t) 256 * 1024 * 1024)

/*
 * XLSX_MAX_INDEX_PART: the same for workbook.xml and its relationships, read
 * to find the sheet.  Real ones are a few kB (256 sheets would take about
 * 40 kB); the sheet names kept from them are bounded by it.
 */
#define XLSX_MAX_INDEX_PART ((size_t) 16 * 1024 * 1024)

/*
 * XLSX_MAX_NODE_BYTES: bytes read from a part while libxml2 looks for the end
 * of one node (a text, a tag).  The longest text Excel writes in a cell,
 * 32,767 characters each escaped as &quot;, takes 196 kB.  libxml2 2.9's
 * push parser rescans a pending entity reference ('&' not yet followed by
 * ';') from its start each time data arrives, so one costs the square of its
 * length: 0.6 s of CPU for 1 MB, 0.2 s for 512 kB, and 40 s for the 10 MB it
 * allows on its own (measured).
 */
#define XLSX_MAX_NODE_BYTES ((size_t) 512 * 1024)

/*
 * XLSX_MAX_ATTRIBUTES: attributes of one tag, counted in the bytes before
 * libxml2 parses them.  Real tags have under 30 (<pageSetup> has 17, a
 * worksheet's root a dozen namespace declarations).  libxml2 2.9 checks a
 * tag's attributes for duplicates pairwise: 60,000 of them in 500 kB took
 * 33 s (measured).  Document type declarations, whose attribute defaults
 * cost the same on every element (30,000 of them: 0.5 s an element), are
 * refused outright; workbook parts never have one.
 */
#define XLSX_MAX_ATTRIBUTES 256

/*
 * Shared strings: how many, their text together, one of them.  Real factor
 * workbooks have under 20,000 strings holding under 1 MB.  Excel's cell limit
 * of 32,767 characters is at most 98,301 bytes of UTF-8 (3 bytes a UTF-16
 * unit), so 128 kB holds any string Excel can write.  The same cap applies
 * to the text of one cell.
 */
#define XLSX_MAX_SHARED_STRINGS		 ((size_t) 4 * 1024 * 1024)
#define XLSX_MAX_SHARED_STRING_BYTES ((size_t) 64 * 1024 * 1024)
#define XLSX_MAX_STRING_BYTES		 ((size_t) 128 * 1024)

/*
 * The text of one row: 512 cells of Excel's longest, or all 16,384 columns
 * at 1 kB each.  Real factor rows hold under 2 kB.  Without it a row of
 * cells all naming one long shared string is a bomb of its own
 * (16,384 x 128 kB = 2 GB from a few kB of sheet).
 */
#define XLSX_MAX_ROW_BYTES ((size_t) 16 * 1024 * 1024)

#define XLSX_MAX_COLUMNS 16384 /* Excel's own limit (XFD) */

/*
 * Cell formats (styles.xml cellXfs) and custom number formats (numFmts):
 * Excel allows 64,000 of the first and about 250 of the second; real factor
 * workbooks have under 200 and 10.
 */
#define XLSX_MAX_CELL_FORMATS	65536
#define XLSX_MAX_NUMBER_FORMATS 65536
#define XLSX_MAX_ROWS			1048576 /* Excel's own limit */
#define XLSX_MAX_SHEETS			256

/*
 * The reader's byte budget: all of the above at their caps at once (64 MB of
 * shared strings and 16 MB of their index, a 16 MB row and its index, one
 * string, the sheet list) comes to about 97 MB, so a cap always speaks
 * first; the budget is what bounds the reader whatever its code does.
 * libzip's allocations are bounded by XLSX_MAX_FILE_BYTES above, libxml2's
 * by its own limits (XML_PARSE_HUGE is never set: a text node or attribute
 * holds at most 10 MB, elements nest at most 256 deep, entity expansion is
 * bounded) and by being fed a part 512 bytes at a time (see ZipRead), which
 * lets it discard what it has parsed.
 */
#define XLSX_MEMORY_BUDGET ((size_t) 128 * 1024 * 1024)

typedef struct XlsxReader XlsxReader;

/*
 * Open data[0..len) and position on the sheet called want (or, when want is
 * NULL or no sheet has that name, the workbook's first sheet).  Returns NULL
 * with a message in err and its kind in *kind on failure.  data must outlive
 * the reader.
 */
extern XlsxReader *xlsx_open(const char *data, size_t len, const char *want,
							 char *err, size_t errlen, ReadError *kind);

/* Name of the sheet being read. */
extern const char *xlsx_sheet_name(const XlsxReader *x);

/*
 * Read the next row that has cells.  Returns its cell count (columns A.. up to its last
 * non-empty cell; missing cells are ""), 0 at the end of the sheet, or -1
 * with xlsx_error() set.  A number is written as its cell's number format
 * shows it (xlsx_format_fixed with the format's decimals), a formula cell's
 * as its cached result.  *rownum is the spreadsheet row number (1-based).
 * Cells stay valid until the next call.
 */
extern int xlsx_next(XlsxReader *x, char ***cells, long *rownum);

extern const char *xlsx_error(const XlsxReader *x);
extern ReadError   xlsx_error_kind(const XlsxReader *x);

extern void xlsx_close(XlsxReader *x);

/*
 * Write v the way Excel displays a General cell: at most 15 significant
 * digits, as a plain decimal (never an exponent), trailing zeros removed.
 * 0.46337999999999996 becomes "0.46338".
 */
extern void xlsx_format_number(double v, char *out, size_t outlen);

/*
 * How many decimals a number format code shows ("0.00000" and
 * "#,##0.00000" 5, "#,##0" 0), or -1 when it is not a plain fixed-point
 * format (General, percentages, scientific, dates and times, text): such
 * cells are written as General.
 */
extern int xlsx_format_decimals(const char *code);

/*
 * Write v as a cell formatted with decimals decimals shows it: the General
 * text of v (15 significant digits, as Excel holds the number it rounds),
 * rounded half away from zero to that many decimals in decimal arithmetic,
 * and written with exactly that many, trailing zeros kept: the figure as
 * published (0.1839968181812754 under 0.00000 is 0.18400, 2040 under #,##0.0
 * is 2040.0; a negative that rounds to zero has no sign).  decimals < 0, or
 * a magnitude of 1e15 or more, writes General.
 */
extern void xlsx_format_fixed(double v, int decimals, char *out, size_t outlen);

/* True if data starts like a zip archive (an .xlsx). */
extern int xlsx_looks_like(const char *data, size_t len);

#endif /* CAR_XLSX_H */
