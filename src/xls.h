/*
 * xls.h
 *		Reading one worksheet of a legacy Excel 97-2003 workbook (.xls, BIFF8
 *		in an OLE2 compound file) through FreeXL, which runs only in a helper
 *		program of car's, never in the server.
 *
 * FreeXL (Debian libfreexl-dev 1.0.6) opens only a path, reads the whole
 * workbook in freexl_open and trusts what the file says of itself: a
 * DIMENSION record's row count goes unchecked into the size of the cell
 * array it allocates (rows x columns, multiplied in 32 bits, so a crafted
 * count overflows it and the array is then written past its end), a date
 * cell's serial number is counted day by day, and any failure it detects
 * after the header comes back as FREEXL_OK with no handle.  So FreeXL is not
 * even linked into car.so: the helper car-xls-reader (src/xls_helper.c,
 * installed in PostgreSQL's package library folder) opens the file with
 * FreeXL under memory, CPU, file and core-dump limits and writes the sheet's
 * rows to its standard output in a small framed encoding (below).  The
 * server starts it with posix_spawn (xls_child_start: a fresh program image,
 * no inherited descriptors, default signals, empty signal mask), reads at
 * most XLS_MAX_OUTPUT_BYTES of its output (xls_child_read), reaps it
 * (xls_child_finish, or xls_child_abort on an error or a cancel) and decodes
 * the output with xls_frames_next().  A helper that crashes, overruns its
 * limits or says something malformed is a refused file, never a harmed
 * server.  No backend calls here: src/factors.c waits on the pipe with the
 * server's latch and handles interrupts.
 *
 * FreeXL exposes no number formats (a cell's type and value only), so a
 * number is written the way Excel shows a General cell (15 significant
 * digits, xlsx_format_number), not as its own format would show it; and it
 * reads no FORMULA record, so a formula cell comes back empty (the loader
 * refuses a .xls with empty value cells for that reason: README).
 */
#ifndef CAR_XLS_H
#define CAR_XLS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "budget.h"

#define XLS_ERRLEN 512

/* The helper's file name, in PostgreSQL's package library folder. */
#define XLS_HELPER_NAME "car-xls-reader"

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
 * What the helper may send: every row of a sheet at its caps would be far
 * more; real factor sheets encode to about 1 MB.  The server holds at most
 * this much (the decoder reads it in place).
 */
#define XLS_MAX_OUTPUT_BYTES ((size_t) 64 * 1024 * 1024)

/*
 * The helper's limits: its address space (FreeXL's cell arrays and strings;
 * the real workbooks need under 20 MB), its CPU time (the real ones take
 * under 0.2 s) and, checked by the server, its wall-clock time.  Past them
 * FreeXL's allocation fails or the helper is killed, and the file is
 * refused.
 */
#define XLS_CHILD_MEMORY_BYTES ((size_t) 512 * 1024 * 1024)
#define XLS_CHILD_CPU_SECONDS  20
#define XLS_CHILD_WALL_SECONDS 60

/* The framed encoding: a header, then rows, then an end or an error frame. */
#define XLS_FRAME_MAGIC "CARXLS1" /* 8 bytes with its NUL */
#define XLS_FRAME_ROW	'R'		  /* row number, cell count, cells (u32 length + bytes) */
#define XLS_FRAME_END	'E'
#define XLS_FRAME_ERROR 'X' /* ReadError kind, message */

/* What to do about a refused workbook, said after each such message. */
#define XLS_ADVICE "; if the workbook is genuine, save the sheet as CSV or .xlsx and load that"

/* True if data starts like an OLE2 compound file (D0 CF 11 E0 A1 B1 1A E1). */
extern int xls_looks_like(const char *data, size_t len);

/* A running helper and what it has sent so far. */
typedef struct XlsChild
{
	pid_t  pid; /* 0 once reaped */
	int	   fd;	/* read end of its output pipe (non-blocking); -1 once closed */
	char  *buf; /* its output (malloc'd) */
	size_t len;
	size_t cap;
	time_t started;
} XlsChild;

/*
 * Start the helper at helper_path on the .xls at path, choosing the sheet
 * called want (or, when want is NULL or no sheet has that name, the first
 * sheet).  Returns 0, or -1 with a message in err and its kind in *kind.
 */
extern int xls_child_start(XlsChild *c, const char *helper_path, const char *path, const char *want, char *err,
						   size_t errlen, ReadError *kind);

/*
 * Take what the helper has written so far (never blocks).  Returns 1 while
 * more may come, 0 once its output has ended, or -1 with err and *kind when
 * it must be stopped (too much output, too long): the helper is then killed
 * and reaped.
 */
extern int xls_child_read(XlsChild *c, char *err, size_t errlen, ReadError *kind);

/*
 * After xls_child_read returned 0: reap the helper and hand over its output
 * (*out, malloc'd, *outlen bytes; the caller frees it).  Returns 0, or -1
 * with err and *kind when the helper died by a signal.
 */
extern int xls_child_finish(XlsChild *c, char **out, size_t *outlen, char *err, size_t errlen, ReadError *kind);

/*
 * Kill and reap a helper still running, close its pipe and free its output;
 * harmless on one already finished or never started (zeroed).  For error
 * and cancel paths.
 */
extern void xls_child_abort(XlsChild *c);

/*
 * All of the above, waiting with poll(): read path's sheet through the
 * helper into *out.  For the unit tests and the fuzz target (the server
 * waits on its latch instead).
 */
extern int xls_read_sandboxed(const char *helper_path, const char *path, const char *want, char **out,
							  size_t *outlen, char *err, size_t errlen, ReadError *kind);

/*
 * Decoding the helper's output, in place.  xls_frames_init checks the
 * header and returns the sheet's name (NUL-terminated inside buf) or NULL
 * with err set.  xls_frames_next returns the next row's cell count (>= 1;
 * cells point into a buffer of the decoder's, valid until the next call), 0
 * at the end, or -1 with err and kind set: what the helper reported (a
 * FreeXL error, a cap) or a malformed encoding.
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

#endif /* CAR_XLS_H */
