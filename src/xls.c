/*
 * xls.c
 *		Pure C reader for one worksheet of an .xls workbook, through FreeXL
 *		in a sandboxed child process; see xls.h.
 */
#include "xls.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <freexl.h>

#include "xlsx.h" /* xlsx_format_number: numbers as Excel shows a General cell */

/* What to do about a refused workbook, said after each such message. */
#define ADVICE "; if the workbook is genuine, save the sheet as CSV or .xlsx and load that"

/* The encoding: a header, then rows, then an end or an error frame. */
#define FRAME_MAGIC "CARXLS1"
#define FRAME_ROW	'R'
#define FRAME_END	'E'
#define FRAME_ERROR 'X'

/* Wall-clock limit on the child, besides its CPU limit (a stalled child). */
#define XLS_CHILD_WALL_SECONDS 60

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XLS_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define XLS_UNDER_ASAN 1
#endif

int
xls_looks_like(const char *data, size_t len)
{
	static const unsigned char ole2[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};

	return len >= 8 && memcmp(data, ole2, 8) == 0;
}

/* ---- the child: FreeXL to frames ------------------------------------------ */

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
			o->failed = 1; /* the parent went away: nothing more to say */
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
	char	tag = FRAME_ERROR;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
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

int
xls_dump_sheet(const char *path, const char *want, int fd)
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
	Put(&o, FRAME_MAGIC, 8);
	if (stat(path, &st) != 0)
	{
		PutError(&o, READ_MALFORMED, "the workbook's temporary copy is gone: %s", strerror(errno));
		return -1;
	}
	if ((size_t) st.st_size > XLS_MAX_FILE_BYTES)
	{
		PutError(&o, READ_LIMIT,
				 "the workbook is %lld bytes, more than the %zu an .xls file may be (the published factor workbooks are under 2 MB)" ADVICE,
				 (long long) st.st_size, XLS_MAX_FILE_BYTES);
		return -1;
	}
	rc = freexl_open(path, &h);
	if (rc != FREEXL_OK || h == NULL)
	{
		if (rc == FREEXL_OK)
			PutError(&o, READ_MALFORMED,
					 "FreeXL %s gave up on the workbook without saying why (it does so for a damaged or crafted file, and for any workbook whose shared-string table holds an empty string, as the official 2017 and 2018 flat files do)" ADVICE,
					 freexl_version());
		else
			PutError(&o, rc == FREEXL_INSUFFICIENT_MEMORY ? READ_LIMIT : READ_MALFORMED,
					 "could not read the .xls workbook: %s (FreeXL error %d)" ADVICE, FreeXLError(rc), rc);
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
				 "sheet \"%s\" claims %u rows and %u columns, more than an Excel 97-2003 sheet may have (%d and %d)" ADVICE,
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
						 "cell %u of row %u of sheet \"%s\" holds more than %zu bytes of text, the most one cell may (Excel's limit is 32,767 characters)" ADVICE,
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
					 "row %u of sheet \"%s\" holds more than %zu bytes of text, the most one row may (real factor rows hold under 2 kB)" ADVICE,
					 r + 1, name, XLS_MAX_ROW_BYTES);
			freexl_close(h);
			return -1;
		}
		/* a row without cells carries no data (as in the xlsx reader) */
		if (last == 0)
			continue;
		tag = FRAME_ROW;
		Put(&o, &tag, 1);
		PutU32(&o, r + 1);
		PutU32(&o, last);
		for (c = 0; c < last; c++)
			PutString(&o, text[c], strlen(text[c]));
	}
	freexl_close(h);
	tag = FRAME_END;
	Put(&o, &tag, 1);
	Flush(&o);
	return o.failed ? -1 : 0;
}

/* ---- the parent: run the child, collect its output -------------------------- */

static void SetErr(char *err, size_t errlen, ReadError *kind, ReadError k, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
SetErr(char *err, size_t errlen, ReadError *kind, ReadError k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	*kind = k;
}

void (*xls_child_hook)(void) = NULL;

/* The child: limits, default signals, no way back into the parent's code. */
static void
RunChild(const char *path, const char *want, int fd)
{
	struct rlimit cpu = {XLS_CHILD_CPU_SECONDS, XLS_CHILD_CPU_SECONDS + 1};
	int			  s;

	/* die with the parent; never run the parent's signal handlers */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	setrlimit(RLIMIT_CPU, &cpu);
#ifndef XLS_UNDER_ASAN
	{
		/* AddressSanitizer reserves terabytes of address space: no limit under it */
		struct rlimit as = {XLS_CHILD_MEMORY_BYTES, XLS_CHILD_MEMORY_BYTES};

		setrlimit(RLIMIT_AS, &as);
	}
#endif
	if (xls_child_hook)
		xls_child_hook();
	_exit(xls_dump_sheet(path, want, fd) == 0 ? 0 : 1);
}

int
xls_read_sandboxed(const char *path, const char *want, int (*interrupted)(void), char **out, size_t *outlen,
				   char *err, size_t errlen, ReadError *kind)
{
	int		fds[2];
	pid_t	pid;
	char   *buf = NULL;
	size_t	cap = 0;
	size_t	len = 0;
	int		status = 0;
	int		killed = 0;
	time_t	start = time(NULL);
	ssize_t n;

	*out = NULL;
	*outlen = 0;
	*kind = READ_OK;
	if (pipe(fds) != 0)
	{
		SetErr(err, errlen, kind, READ_NO_MEMORY, "could not make a pipe for the .xls reader: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		SetErr(err, errlen, kind, READ_NO_MEMORY, "could not start the .xls reader: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0)
	{
		close(fds[0]);
		RunChild(path, want, fds[1]);
	}
	close(fds[1]);

	for (;;)
	{
		struct pollfd p = {fds[0], POLLIN, 0};
		int			  r = poll(&p, 1, 100);

		if (interrupted && interrupted())
		{
			kill(pid, SIGKILL);
			killed = -1;
			break;
		}
		if (time(NULL) - start > XLS_CHILD_WALL_SECONDS)
		{
			kill(pid, SIGKILL);
			killed = 1;
			SetErr(err, errlen, kind, READ_LIMIT,
				   "reading the .xls workbook took more than %d seconds (the published ones take under 1)" ADVICE,
				   XLS_CHILD_WALL_SECONDS);
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (len == cap)
		{
			size_t newcap = cap ? cap * 2 : 65536;
			char  *nb;

			if (newcap > XLS_MAX_OUTPUT_BYTES + 1)
				newcap = XLS_MAX_OUTPUT_BYTES + 1;
			if (newcap == cap)
			{
				kill(pid, SIGKILL);
				killed = 1;
				SetErr(err, errlen, kind, READ_LIMIT,
					   "the .xls workbook's sheet holds more than %zu bytes of cells, the most the reader takes (real factor sheets hold about 1 MB)" ADVICE,
					   XLS_MAX_OUTPUT_BYTES);
				break;
			}
			nb = realloc(buf, newcap);
			if (nb == NULL)
			{
				kill(pid, SIGKILL);
				killed = 1;
				SetErr(err, errlen, kind, READ_NO_MEMORY, "out of memory reading the .xls workbook");
				break;
			}
			buf = nb;
			cap = newcap;
		}
		n = read(fds[0], buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t) n;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (killed)
	{
		free(buf);
		return -1;
	}
	if (WIFSIGNALED(status))
	{
		int sig = WTERMSIG(status);

		free(buf);
		if (sig == SIGXCPU || sig == SIGKILL)
			SetErr(err, errlen, kind, READ_LIMIT,
				   "reading the .xls workbook took more than %d seconds of CPU, the most the reader may take (the published ones take under 1)" ADVICE,
				   XLS_CHILD_CPU_SECONDS);
		else
			SetErr(err, errlen, kind, READ_MALFORMED,
				   "FreeXL crashed (signal %d) reading the .xls workbook: the file is damaged or crafted; it was read in a separate process, so nothing else was harmed" ADVICE,
				   sig);
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- decoding ------------------------------------------------------------------ */

static void FramesError(XlsFrames *f, ReadError kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
FramesError(XlsFrames *f, ReadError kind, const char *fmt, ...)
{
	va_list ap;

	if (f->err[0] != '\0')
		return;
	f->errkind = kind;
	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
}

static int
GetU32(XlsFrames *f, uint32_t *v)
{
	const unsigned char *p;

	if (f->len - f->pos < 4)
		return -1;
	p = (const unsigned char *) f->buf + f->pos;
	*v = (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
	f->pos += 4;
	return 0;
}

/* The .xls reader stopped without a word: its output ends early. */
static int
Truncated(XlsFrames *f)
{
	FramesError(f, READ_MALFORMED,
				"the .xls reader stopped before the end of the sheet (FreeXL failed on the workbook: it is damaged or crafted)" ADVICE);
	return -1;
}

const char *
xls_frames_init(XlsFrames *f, const char *buf, size_t len)
{
	uint32_t n;

	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	f->budget.limit = XLS_MAX_ROW_BYTES * 2 + XLS_MAX_COLUMNS * sizeof(char *) + 64;
	if (len < 8 || memcmp(buf, FRAME_MAGIC, 8) != 0)
	{
		Truncated(f);
		return NULL;
	}
	f->pos = 8;
	if (f->pos < len && buf[f->pos] == FRAME_ERROR)
	{
		xls_frames_next(f, NULL, NULL);
		return NULL;
	}
	if (GetU32(f, &n) < 0 || n > XLS_MAX_STRING_BYTES || n > len - f->pos)
	{
		Truncated(f);
		return NULL;
	}
	snprintf(f->sheet, sizeof(f->sheet), "%.*s", (int) n, buf + f->pos);
	f->pos += n;
	return f->sheet;
}

int
xls_frames_next(XlsFrames *f, char ***cells, long *rownum)
{
	uint32_t row,
		ncells,
		i,
		n;
	size_t need = 0;
	size_t start;
	size_t o = 0;
	char   tag;

	if (f->err[0] != '\0')
		return -1;
	if (f->pos >= f->len)
		return Truncated(f);
	tag = f->buf[f->pos++];
	if (tag == FRAME_END)
		return 0;
	if (tag == FRAME_ERROR)
	{
		ReadError k;

		if (f->pos >= f->len)
			return Truncated(f);
		k = (ReadError) f->buf[f->pos++];
		if (k != READ_LIMIT && k != READ_NO_MEMORY)
			k = READ_MALFORMED;
		if (GetU32(f, &n) < 0 || n >= XLS_ERRLEN || n > f->len - f->pos)
			return Truncated(f);
		FramesError(f, k, "%.*s", (int) n, f->buf + f->pos);
		return -1;
	}
	if (tag != FRAME_ROW || GetU32(f, &row) < 0 || GetU32(f, &ncells) < 0 || row < 1 || row > XLS_MAX_ROWS ||
		ncells < 1 || ncells > XLS_MAX_COLUMNS)
		return Truncated(f);
	/* measure the row first, so that its text is allocated once */
	start = f->pos;
	for (i = 0; i < ncells; i++)
	{
		if (GetU32(f, &n) < 0 || n > XLS_MAX_STRING_BYTES || n > f->len - f->pos)
			return Truncated(f);
		f->pos += n;
		need += n + 1;
	}
	if (need > XLS_MAX_ROW_BYTES + XLS_MAX_COLUMNS)
	{
		FramesError(f, READ_LIMIT, "row %u of the .xls sheet holds more than %zu bytes of text" ADVICE, row,
					XLS_MAX_ROW_BYTES);
		return -1;
	}
	if (need > f->textcap)
	{
		char *t = budget_realloc(&f->budget, f->text, f->textcap, need);

		if (t == NULL)
		{
			FramesError(f, f->budget.refused ? READ_LIMIT : READ_NO_MEMORY, "out of memory reading row %u of the .xls sheet",
						row);
			return -1;
		}
		f->text = t;
		f->textcap = need;
	}
	if ((int) ncells > f->capcells)
	{
		char **c = budget_realloc(&f->budget, f->cells, f->capcells * sizeof(char *), XLS_MAX_COLUMNS * sizeof(char *));

		if (c == NULL)
		{
			FramesError(f, READ_NO_MEMORY, "out of memory reading row %u of the .xls sheet", row);
			return -1;
		}
		f->cells = c;
		f->capcells = XLS_MAX_COLUMNS;
	}
	f->pos = start;
	for (i = 0; i < ncells; i++)
	{
		GetU32(f, &n);
		memcpy(f->text + o, f->buf + f->pos, n);
		f->text[o + n] = '\0';
		f->cells[i] = f->text + o;
		o += n + 1;
		f->pos += n;
	}
	*cells = f->cells;
	*rownum = row;
	return (int) ncells;
}

void
xls_frames_free(XlsFrames *f)
{
	budget_free(&f->budget, f->text, f->textcap);
	budget_free(&f->budget, f->cells, f->capcells * sizeof(char *));
	f->text = NULL;
	f->cells = NULL;
	f->textcap = 0;
	f->capcells = 0;
}
