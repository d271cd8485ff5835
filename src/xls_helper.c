/*
 * xls_helper.c
 *		car-xls-reader: the helper program that reads one worksheet of an .xls
 *		workbook with FreeXL and writes its rows to standard output, framed
 *		(xls.h).  The server starts it (src/xls.c says why a separate program)
 *		as
 *
 *			car-xls-reader SERVER_PID PATH SHEET
 *
 *		and it is the only code of car linked with FreeXL.  Before FreeXL sees
 *		a byte it limits itself: address space, CPU time, no file written, no
 *		core dump (its working directory is the data directory), few
 *		descriptors; and it dies with the server process that started it.
 *		Exit status 0 after an end frame, 1 after an error frame, 2 on a bad
 *		command line; a crash or a limit ends it by a signal.  Plain C, no
 *		backend calls.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <freexl.h>

#include "xls.h"
#include "xlsx.h" /* xlsx_format_number: numbers as Excel shows a General cell */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XLS_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define XLS_UNDER_ASAN 1
#endif

typedef struct Out
{
	int	   fd;
	char   buf[65536];
	size_t used;
	int	   failed;
} Out;

static void
Flush(Out *o)
{
	size_t done = 0;

	while (!o->failed && done < o->used)
	{
		ssize_t n = write(o->fd, o->buf + done, o->used - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->failed = 1; /* the server went away: nothing more to say */
		else
			done += (size_t) n;
	}
	o->used = 0;
}

static void
Put(Out *o, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0 && !o->failed)
	{
		size_t k = sizeof(o->buf) - o->used;

		if (k > n)
			k = n;
		memcpy(o->buf + o->used, s, k);
		o->used += k;
		s += k;
		n -= k;
		if (o->used == sizeof(o->buf))
			Flush(o);
	}
}

static void
PutU32(Out *o, uint32_t v)
{
	unsigned char b[4] = {(unsigned char) v, (unsigned char) (v >> 8), (unsigned char) (v >> 16),
						  (unsigned char) (v >> 24)};

	Put(o, b, 4);
}

static void
PutString(Out *o, const char *s, size_t n)
{
	PutU32(o, (uint32_t) n);
	Put(o, s, n);
}

static void PutError(Out *o, ReadError kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
PutError(Out *o, ReadError kind, const char *fmt, ...)
{
	char	msg[XLS_ERRLEN];
	char	k = (char) kind;
	char	tag = XLS_FRAME_ERROR;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
	Put(o, &tag, 1);
	Put(o, &k, 1);
	PutString(o, msg, strlen(msg));
	Flush(o);
}

/* FreeXL's error codes, as a reader of the message needs them. */
static const char *
FreeXLError(int rc)
{
	switch (rc)
	{
		case FREEXL_FILE_NOT_FOUND:
			return "the file could not be opened";
		case FREEXL_INSUFFICIENT_MEMORY:
			return "FreeXL ran out of memory (the workbook claims sizes past the reader's limits)";
		case FREEXL_INVALID_CFBF_HEADER:
		case FREEXL_CFBF_INVALID_SIGNATURE:
		case FREEXL_CFBF_INVALID_SECTOR_SIZE:
			return "the file is not an OLE2 compound file (its header is damaged)";
		case FREEXL_CFBF_READ_ERROR:
		case FREEXL_CFBF_SEEK_ERROR:
		case FREEXL_CFBF_EMPTY_FAT_CHAIN:
		case FREEXL_CFBF_ILLEGAL_FAT_ENTRY:
		case FREEXL_INVALID_MINI_STREAM:
		case FREEXL_CFBF_ILLEGAL_MINI_FAT_ENTRY:
			return "the compound file's allocation table is damaged or the file is truncated";
		case FREEXL_BIFF_INVALID_BOF:
		case FREEXL_BIFF_WORKBOOK_NOT_FOUND:
			return "the file holds no Excel 97-2003 workbook stream";
		case FREEXL_BIFF_INVALID_SST:
		case FREEXL_BIFF_ILLEGAL_SST_INDEX:
			return "the workbook's shared-string table is damaged";
		case FREEXL_INVALID_CHARACTER:
		case FREEXL_UNSUPPORTED_CHARSET:
			return "the workbook holds text in a character set FreeXL cannot convert";
		case FREEXL_CRAFTED_FILE:
			return "FreeXL calls the workbook damaged or crafted";
		default:
			return "FreeXL could not read the workbook";
	}
}

/* Open path with FreeXL and write the frames of the chosen sheet to fd; 0, or -1 after an error frame. */
static int
DumpSheet(const char *path, const char *want, int fd)
{
	static Out	   o; /* 64 kB: not on the child's stack */
	const void	  *h = NULL;
	unsigned int   nsheets = 0;
	unsigned int   rows = 0;
	unsigned short cols = 0;
	unsigned short pick = 0;
	unsigned short i;
	const char	  *name = NULL;
	char		   tag;
	int			   rc;
	struct stat	   st;

	o.fd = fd;
	o.used = 0;
	o.failed = 0;
	Put(&o, XLS_FRAME_MAGIC, 8);
	if (stat(path, &st) != 0)
	{
		PutError(&o, READ_MALFORMED, "the workbook's temporary copy could not be read: %s", strerror(errno));
		return -1;
	}
	if ((size_t) st.st_size > XLS_MAX_FILE_BYTES)
	{
		PutError(&o, READ_LIMIT,
				 "the workbook is %lld bytes, more than the %zu an .xls file may be (the published factor workbooks are under 2 MB)" XLS_ADVICE,
				 (long long) st.st_size, XLS_MAX_FILE_BYTES);
		return -1;
	}
	rc = freexl_open(path, &h);
	if (rc != FREEXL_OK || h == NULL)
	{
		if (rc == FREEXL_OK)
			PutError(&o, READ_MALFORMED,
					 "FreeXL %s gave up on the workbook without saying why (it does so for a damaged or crafted file, and for any workbook whose shared-string table holds an empty string, as the official 2017 and 2018 flat files do)" XLS_ADVICE,
					 freexl_version());
		else
			PutError(&o, rc == FREEXL_INSUFFICIENT_MEMORY ? READ_LIMIT : READ_MALFORMED,
					 "could not read the .xls workbook: %s (FreeXL error %d)" XLS_ADVICE, FreeXLError(rc), rc);
		if (h != NULL)
			freexl_close(h);
		return -1;
	}
	if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &nsheets) != FREEXL_OK || nsheets == 0)
	{
		PutError(&o, READ_MALFORMED, "the .xls workbook lists no sheets");
		freexl_close(h);
		return -1;
	}
	for (i = 0; want && i < nsheets && i < 0xFFFF; i++)
	{
		const char *n = NULL;

		if (freexl_get_worksheet_name(h, i, &n) == FREEXL_OK && n && strcmp(n, want) == 0)
		{
			pick = i;
			break;
		}
	}
	if (freexl_select_active_worksheet(h, pick) != FREEXL_OK ||
		freexl_get_worksheet_name(h, pick, &name) != FREEXL_OK || name == NULL ||
		freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK)
	{
		PutError(&o, READ_MALFORMED, "FreeXL could not select sheet %u of the .xls workbook", (unsigned) pick);
		freexl_close(h);
		return -1;
	}
	PutString(&o, name, strnlen(name, XLS_MAX_STRING_BYTES));
	if (rows > XLS_MAX_ROWS || cols > XLS_MAX_COLUMNS)
	{
		PutError(&o, READ_LIMIT,
				 "sheet \"%s\" claims %u rows and %u columns, more than an Excel 97-2003 sheet may have (%d and %d)" XLS_ADVICE,
				 name, rows, (unsigned) cols, XLS_MAX_ROWS, XLS_MAX_COLUMNS);
		freexl_close(h);
		return -1;
	}

	for (unsigned int r = 0; r < rows && !o.failed; r++)
	{
		const char	  *text[XLS_MAX_COLUMNS];
		char		   num[XLS_MAX_COLUMNS][48];
		size_t		   total = 0;
		unsigned short last = 0;
		unsigned short c;

		for (c = 0; c < cols; c++)
		{
			FreeXL_CellValue v;

			text[c] = "";
			if (freexl_get_cell_value(h, r, c, &v) != FREEXL_OK)
			{
				PutError(&o, READ_MALFORMED, "FreeXL could not read cell %u of row %u of sheet \"%s\"",
						 (unsigned) c + 1, r + 1, name);
				freexl_close(h);
				return -1;
			}
			switch (v.type)
			{
				case FREEXL_CELL_INT:
					snprintf(num[c], sizeof(num[c]), "%d", v.value.int_value);
					text[c] = num[c];
					break;
				case FREEXL_CELL_DOUBLE:
					xlsx_format_number(v.value.double_value, num[c], sizeof(num[c]));
					text[c] = num[c];
					break;
				case FREEXL_CELL_TEXT:
				case FREEXL_CELL_SST_TEXT:
				case FREEXL_CELL_DATE:
				case FREEXL_CELL_DATETIME:
				case FREEXL_CELL_TIME:
					text[c] = v.value.text_value ? v.value.text_value : "";
					break;
				default:
					break;
			}
			if (strnlen(text[c], XLS_MAX_STRING_BYTES + 1) > XLS_MAX_STRING_BYTES)
			{
				PutError(&o, READ_LIMIT,
						 "cell %u of row %u of sheet \"%s\" holds more than %zu bytes of text, the most one cell may (Excel's limit is 32,767 characters)" XLS_ADVICE,
						 (unsigned) c + 1, r + 1, name, XLS_MAX_STRING_BYTES);
				freexl_close(h);
				return -1;
			}
			total += strlen(text[c]);
			if (text[c][0] != '\0')
				last = c + 1;
		}
		if (total > XLS_MAX_ROW_BYTES)
		{
			PutError(&o, READ_LIMIT,
					 "row %u of sheet \"%s\" holds more than %zu bytes of text, the most one row may (real factor rows hold under 2 kB)" XLS_ADVICE,
					 r + 1, name, XLS_MAX_ROW_BYTES);
			freexl_close(h);
			return -1;
		}
		/* a row without cells carries no data (as in the xlsx reader) */
		if (last == 0)
			continue;
		tag = XLS_FRAME_ROW;
		Put(&o, &tag, 1);
		PutU32(&o, r + 1);
		PutU32(&o, last);
		for (c = 0; c < last; c++)
			PutString(&o, text[c], strlen(text[c]));
	}
	freexl_close(h);
	tag = XLS_FRAME_END;
	Put(&o, &tag, 1);
	Flush(&o);
	return o.failed ? -1 : 0;
}

/* Set a limit, both soft and hard (the helper never needs to raise it again). */
static void
Limit(int resource, rlim_t value)
{
	struct rlimit r = {value, value};

	if (setrlimit(resource, &r) != 0)
		_exit(2);
}

int
main(int argc, char **argv)
{
	long server;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s SERVER_PID PATH SHEET (started by car, not by hand)\n", argv[0]);
		return 2;
	}
	/* die with the server process that started us; it may already be gone */
	server = strtol(argv[1], NULL, 10);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || (long) getppid() != server)
		_exit(2);
	Limit(RLIMIT_CPU, XLS_CHILD_CPU_SECONDS);
	Limit(RLIMIT_CORE, 0);
	Limit(RLIMIT_FSIZE, 0);
	Limit(RLIMIT_NOFILE, 16);
#ifndef XLS_UNDER_ASAN
	/* AddressSanitizer reserves terabytes of address space: no limit under it */
	Limit(RLIMIT_AS, XLS_CHILD_MEMORY_BYTES);
#endif
	_exit(DumpSheet(argv[2], argv[3][0] ? argv[3] : NULL, 1) == 0 ? 0 : 1);
}
