/*
 * xlsx.h
 *		Pure C streaming reader for one worksheet of an .xlsx workbook.
 *
 * The workbook is opened from memory with libzip; workbook.xml and its
 * relationships name the sheet's part, which is streamed through libxml2's
 * xmlTextReader straight out of the zip entry, so the uncompressed sheet is
 * never held whole.  Shared strings are read into an array first (cells
 * refer to them by index).  No network access, DTD loading or entity
 * substitution is ever enabled.  No backend calls: errors come back as text.
 */
#ifndef CAR_XLSX_H
#define CAR_XLSX_H

#include <stddef.h>

#define XLSX_ERRLEN 512

typedef struct XlsxReader XlsxReader;

/*
 * Open data[0..len) and position on the sheet called want (or, when want is
 * NULL or no sheet has that name, the workbook's first sheet).  Returns NULL
 * with a message in err on failure.  data must outlive the reader.
 */
extern XlsxReader *xlsx_open(const char *data, size_t len, const char *want,
							 char *err, size_t errlen);

/* Name of the sheet being read. */
extern const char *xlsx_sheet_name(const XlsxReader *x);

/*
 * Read the next row that has cells.  Returns its cell count (columns A.. up to its last
 * non-empty cell; missing cells are ""), 0 at the end of the sheet, or -1
 * with xlsx_error() set.  *rownum is the spreadsheet row number (1-based).
 * Cells stay valid until the next call.
 */
extern int xlsx_next(XlsxReader *x, char ***cells, long *rownum);

extern const char *xlsx_error(const XlsxReader *x);

extern void xlsx_close(XlsxReader *x);

/*
 * Write v the way Excel displays a General cell: at most 15 significant
 * digits, as a plain decimal (never an exponent), trailing zeros removed.
 * 0.46337999999999996 becomes "0.46338".
 */
extern void xlsx_format_number(double v, char *out, size_t outlen);

/* True if data starts like a zip archive (an .xlsx). */
extern int xlsx_looks_like(const char *data, size_t len);

#endif /* CAR_XLSX_H */
