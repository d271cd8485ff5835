/*
 * csv.h
 *		Pure C reader for delimited text (no backend calls).
 *
 * The reader walks its input record by record.  It understands RFC 4180
 * quoting (delimiters, quotes and newlines inside quoted fields), a UTF-8
 * byte-order mark, UTF-16LE/BE with a byte-order mark (transcoded to UTF-8
 * as it is read), Excel's "sep=X" hint line, CRLF, LF or CR line ends
 * (mixed too) and blank lines.  When no delimiter is given it is detected
 * from the first lines.
 *
 * The input streams: csv_open takes a function that hands over the next
 * bytes (a large object read in pieces, say), and the reader holds a window
 * of CSV_WINDOW bytes of it; csv_init reads a buffer the same way.  Before
 * each record the window is topped up so that it holds CSV_MAX_RECORD bytes
 * past the record's start, so a record is never cut by the window's edge:
 * it ends inside it, or is refused as too long.  Field text is kept in one
 * buffer that is reused from record to record, so reading a file of any
 * size holds at most the window, one record and CSV_RAW bytes of UTF-16.
 * Records are capped in length and in fields, and everything the reader
 * allocates counts against its byte budget (budget.h): a file past a cap is
 * refused (READ_LIMIT) as soon as the reader gets there, without reading the
 * rest of it.
 */
#ifndef CAR_CSV_H
#define CAR_CSV_H

#include <stddef.h>

#include "budget.h"

#define CSV_ERRLEN 320

/*
 * Longest record, in bytes from its first byte to its line end (a quoted
 * field's line breaks included).  Real meter files have lines under 1 kB
 * (the longest in test/data: 778 bytes) and factor files under 300 bytes;
 * 1 MB is a thousand times that, and is what bounds the reader's field
 * buffer.
 */
#define CSV_MAX_RECORD ((size_t) 1024 * 1024)

/*
 * Most fields in one record.  A spreadsheet saved as CSV has at most
 * Excel's 16,384 columns; real meter files have up to 99 (Sheffield's
 * export: half-hours of kWh and of kVArh) and factor files 12 to 16.
 * Bounds the field index at 20,000 x 16 bytes.
 */
#define CSV_MAX_FIELDS 20000

/*
 * The reader's byte budget: its record buffer and field index (about
 * 1.3 MB at the caps above) and the UTF-8 copy of UTF-16 input.  A UTF-16
 * file of plain text halves in UTF-8, so this reads UTF-16 files of up to
 * 256 MB, more than twice the largest download car.max_download_bytes
 * allows by default; UTF-8 input is read in place and needs none of it.
 */
#define CSV_MEMORY_BUDGET ((size_t) 128 * 1024 * 1024)

/*
 * The window of decoded input the reader holds: four records at the cap,
 * so that topping it up (moving what is left of it to its start) copies at
 * most a quarter of what it reads.  Delimiter detection looks at the first
 * lines within the first CSV_WINDOW bytes of the input, whatever its size.
 */
#define CSV_WINDOW (4 * CSV_MAX_RECORD)

/* Bytes of UTF-16 input read at a time, before transcoding into the window. */
#define CSV_RAW ((size_t) 64 * 1024)

/*
 * Hand over the next bytes of input: up to cap into buf.  Returns how many
 * (0 only at the end of input), or -1 when the input cannot be read.  A
 * backend reader may instead raise an error: the reader's buffers are then
 * the caller's to free with csv_free.
 */
typedef long (*CsvReadFn)(void *arg, char *buf, size_t cap);

typedef struct CsvReader
{
	const char *data; /* the window: UTF-8 input, data[0..len) */
	size_t		len;
	size_t		pos; /* next byte of the window to read */
	int			eof; /* the window holds the end of the input */
	char	   *win; /* the window's buffer */
	size_t		wincap;
	CsvReadFn	read; /* where input comes from */
	void	   *arg;
	const char *mem; /* csv_init's buffer, read by the reader's own CsvReadFn */
	size_t		memlen;
	size_t		mempos;

	/* UTF-16 input (utf16 1 little-endian, 2 big-endian): raw bytes not yet transcoded */
	int			   utf16;
	unsigned char *raw;
	size_t		   rawcap;
	size_t		   rawlen;
	size_t		   rawpos;
	size_t		   raw_offset; /* the input's byte at raw[rawpos] */
	int			   raw_eof;

	/* line ends in the input (quoted ones included), complete once csv_next has returned 0 */
	long n_crlf;
	long n_cr;
	long n_lf;
	int	 pending_cr;

	char delim;
	long line;		  /* physical line where the next record starts */
	long record_line; /* physical line where the last record started */

	char   *buf; /* field bytes, each field NUL-terminated */
	size_t	bufcap;
	size_t *offs; /* start of each field in buf */
	int		capoffs;
	char  **fields; /* pointers handed to the caller */
	int		capfields;
	int		nfields;

	MemBudget budget;
	ReadError errkind; /* why the last call failed */
	char	  err[CSV_ERRLEN];
} CsvReader;

/*
 * Prepare a reader over the input read hands over (from its start).  delim
 * 0 means detect.  Returns 0, or -1 with a message in r->err and its kind
 * in r->errkind (bad UTF-16; unreadable input; out of memory).
 */
extern int csv_open(CsvReader *r, CsvReadFn read, void *arg, char delim);

/* csv_open over data[0..len), which must stay until csv_free. */
extern int csv_init(CsvReader *r, const char *data, size_t len, char delim);

/*
 * Read the next non-blank record.  Returns its field count (>= 1), 0 at the
 * end of input, or -1 with r->err and r->errkind set (r->pos is then where
 * reading stopped, in the window).  The fields stay valid until the next
 * call; r->record_line is the physical line the record started on.
 */
extern int csv_next(CsvReader *r, char ***fields);

extern void csv_free(CsvReader *r);

/* Detect the delimiter of data (used by csv_init; exposed for tests). */
extern char csv_detect_delimiter(const char *data, size_t len);

#endif /* CAR_CSV_H */
