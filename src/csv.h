/*
 * csv.h
 *		Pure C reader for delimited text (no backend calls).
 *
 * The reader walks a buffer record by record.  It understands RFC 4180
 * quoting (delimiters, quotes and newlines inside quoted fields), a UTF-8
 * byte-order mark, UTF-16LE/BE with a byte-order mark (transcoded to UTF-8),
 * Excel's "sep=X" hint line, CRLF or LF line ends and blank lines.  When no
 * delimiter is given it is detected from the first lines.
 *
 * Field text is kept in one buffer that is reused from record to record, so
 * reading a file never holds more than one record besides the input itself.
 */
#ifndef CAR_CSV_H
#define CAR_CSV_H

#include <stddef.h>

#define CSV_ERRLEN 256

typedef struct CsvReader
{
	const char *data; /* UTF-8 input (caller's, or owned below) */
	size_t		len;
	size_t		pos;
	char	   *owned; /* transcoded input, freed by csv_free */
	char		delim;
	long		line;		 /* physical line where the next record starts */
	long		record_line; /* physical line where the last record started */

	char   *buf; /* field bytes, each field NUL-terminated */
	size_t	bufcap;
	size_t *offs;	/* start of each field in buf */
	char  **fields; /* pointers handed to the caller */
	int		nfields;
	int		capfields;

	char err[CSV_ERRLEN];
} CsvReader;

/*
 * Prepare a reader over data[0..len).  delim 0 means detect.  Returns 0, or
 * -1 with a message in r->err (bad UTF-16, out of memory).
 */
extern int csv_init(CsvReader *r, const char *data, size_t len, char delim);

/*
 * Read the next non-blank record.  Returns its field count (>= 1), 0 at the
 * end of input, or -1 with r->err set.  The fields stay valid until the next
 * call; r->record_line is the physical line the record started on.
 */
extern int csv_next(CsvReader *r, char ***fields);

extern void csv_free(CsvReader *r);

/* Detect the delimiter of data (used by csv_init; exposed for tests). */
extern char csv_detect_delimiter(const char *data, size_t len);

#endif /* CAR_CSV_H */
