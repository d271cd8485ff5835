/*
 * xls.h
 *		Pure C reader for one worksheet of a legacy Excel 97-2003 workbook
 *		(.xls, BIFF8 in an OLE2 compound file), through FreeXL.
 *
 * FreeXL (Debian libfreexl-dev 1.0.6) opens only a path, reads the whole
 * workbook in freexl_open and trusts what the file says of itself: a
 * DIMENSION record's row count goes unchecked into the size of the cell
 * array it allocates (rows x columns, multiplied in 32 bits, so a crafted
 * count overflows it and the array is then written past its end), a date
 * cell's serial number is counted day by day, and any failure it detects
 * after the header comes back as FREEXL_OK with no handle.  So FreeXL never
 * runs in the server process: xls_read_sandboxed() forks a child that opens
 * the file with FreeXL under memory and CPU limits and writes the sheet's
 * rows to a pipe in a small framed encoding (below); the parent reads at
 * most XLS_MAX_OUTPUT_BYTES of it and decodes it with xls_frames_next().  A
 * child that crashes, overruns its limits or says something malformed is a
 * refused file, never a harmed server.  No backend calls.
 *
 * FreeXL exposes no number formats (a cell's type and value only), so a
 * number is written the way Excel shows a General cell (15 significant
 * digits, xlsx_format_number), not as its own format would show it.
 */
#ifndef CAR_XLS_H
#define CAR_XLS_H

#include <stddef.h>

#include "budget.h"

#define XLS_ERRLEN 512

/*
 * The caps.  The published BIFF8 flat files (2017, 2018) are 1.8 MB with a
 * factor sheet of about 7,000 rows and 12 columns holding under 1 MB of
 * text.
 *
 * XLS_MAX_FILE_BYTES: the workbook.  FreeXL holds its shared strings (up to
 * 4 bytes of UTF-8 a byte of file) and one cell array per sheet.
 */
#define XLS_MAX_FILE_BYTES ((size_t) 32 * 1024 * 1024)

/* BIFF8's own limits (Excel 97-2003): 65,536 rows, 256 columns. */
#define XLS_MAX_ROWS	65536
#define XLS_MAX_COLUMNS 256

/* One cell's text: Excel's 32,767 characters, at most 4 bytes each in UTF-8. */
#define XLS_MAX_STRING_BYTES ((size_t) 128 * 1024)

/* The text of one row (real factor rows hold under 2 kB). */
#define XLS_MAX_ROW_BYTES ((size_t) 1024 * 1024)

/*
 * What the child may send: every row of a sheet at its caps would be far
 * more; real factor sheets encode to about 1 MB.  The parent holds at most
 * this much (the decoder reads it in place).
 */
#define XLS_MAX_OUTPUT_BYTES ((size_t) 64 * 1024 * 1024)

/*
 * The child's limits: its address space (FreeXL's cell arrays and strings;
 * the real workbooks need under 20 MB) and its CPU time (the real ones take
 * under 0.2 s).  Past them FreeXL's allocation fails or the child is killed,
 * and the file is refused.
 */
#define XLS_CHILD_MEMORY_BYTES ((size_t) 512 * 1024 * 1024)
#define XLS_CHILD_CPU_SECONDS  20

/* True if data starts like an OLE2 compound file (D0 CF 11 E0 A1 B1 1A E1). */
extern int xls_looks_like(const char *data, size_t len);

/*
 * Read the sheet called want (or, when want is NULL or no sheet has that
 * name, the first sheet) of the .xls at path in a sandboxed child, into
 * *out (malloc'd, *outlen bytes, for xls_frames_next; the caller frees it).
 * interrupted, if not NULL, is polled while the child works: when it returns
 * non-zero the child is killed and -1 returned with READ_OK as the kind (the
 * caller then handles its interrupt).  Returns 0, or -1 with a message in err
 * and its kind in *kind.
 */
extern int xls_read_sandboxed(const char *path, const char *want, int (*interrupted)(void), char **out,
							  size_t *outlen, char *err, size_t errlen, ReadError *kind);

/*
 * Decoding the child's output, in place.  xls_frames_init checks the header
 * and returns the sheet's name (NUL-terminated inside buf) or NULL with err
 * set.  xls_frames_next returns the next row's cell count (>= 1; cells point
 * into a buffer of the decoder's, valid until the next call), 0 at the end,
 * or -1 with err and kind set: what the child reported (a FreeXL error, a
 * cap) or a malformed encoding.
 */
typedef struct XlsFrames
{
	const char *buf;
	size_t		len;
	size_t		pos;
	char	  **cells;
	char	   *text; /* the row's cells, each NUL-terminated */
	size_t		textcap;
	int			capcells;
	MemBudget	budget;
	char		sheet[128]; /* the sheet's name (Excel's are at most 31 characters) */
	ReadError	errkind;
	char		err[XLS_ERRLEN];
} XlsFrames;

extern const char *xls_frames_init(XlsFrames *f, const char *buf, size_t len);
extern int		   xls_frames_next(XlsFrames *f, char ***cells, long *rownum);
extern void		   xls_frames_free(XlsFrames *f);

/*
 * Called in the child before FreeXL runs, when set: the fuzz target uses it
 * to make a sanitizer's report in the child end the child quietly (a FreeXL
 * fault is contained there, not a finding against car's code).
 */
extern void (*xls_child_hook)(void);

/*
 * The child's part, exposed for the unit tests: open path with FreeXL and
 * write the frames of the chosen sheet to fd.  Returns 0, or -1 after
 * writing an error frame.
 */
extern int xls_dump_sheet(const char *path, const char *want, int fd);

#endif /* CAR_XLS_H */
