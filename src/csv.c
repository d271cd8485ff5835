/*
 * csv.c
 *		Pure C reader for delimited text; see csv.h.
 */
#include "csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETECT_LINES 30

/* Record why the reader stopped. */
static int Fail(CsvReader *r, ReadError kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
Fail(CsvReader *r, ReadError kind, const char *fmt, ...)
{
	va_list ap;

	r->errkind = kind;
	va_start(ap, fmt);
	vsnprintf(r->err, CSV_ERRLEN, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
	return -1;
}

/* Growing a record's buffers failed: the budget refused it, or malloc did. */
static int
NoMemory(CsvReader *r)
{
	if (r->budget.refused)
		return Fail(r, READ_LIMIT, "reading line %ld needs more than the CSV reader's memory budget of %zu bytes",
					r->record_line, r->budget.limit);
	return Fail(r, READ_NO_MEMORY, "out of memory reading line %ld", r->record_line);
}

/*
 * Double the field buffer.  A record's fields take at most its length plus
 * a terminator, so CSV_MAX_RECORD + 1 bytes is as large as it ever needs.
 */
static int
GrowBuffer(CsvReader *r)
{
	size_t newcap = r->bufcap ? r->bufcap * 2 : 1024;
	char  *nb;

	if (newcap > CSV_MAX_RECORD + 1)
		newcap = CSV_MAX_RECORD + 1;
	nb = budget_realloc(&r->budget, r->buf, r->bufcap, newcap);
	if (nb == NULL)
		return NoMemory(r);
	r->buf = nb;
	r->bufcap = newcap;
	return 0;
}

/* Append one byte to the current field. */
static inline int
PutByte(CsvReader *r, size_t *used, char c)
{
	if (*used == r->bufcap && GrowBuffer(r) != 0)
		return -1;
	r->buf[(*used)++] = c;
	return 0;
}

/* Start a new field at buffer offset used. */
static int
StartField(CsvReader *r, size_t used)
{
	if (r->nfields == CSV_MAX_FIELDS)
		return Fail(r, READ_LIMIT,
					"line %ld has more than %d fields, the most a record may have (a spreadsheet has at most 16,384 columns): check that the file is the CSV it should be and that its delimiter is '%c'",
					r->record_line, CSV_MAX_FIELDS, r->delim);
	if (r->nfields == r->capoffs)
	{
		int		newcap = r->capoffs ? r->capoffs * 2 : 64;
		size_t *no;

		if (newcap > CSV_MAX_FIELDS)
			newcap = CSV_MAX_FIELDS;
		no = budget_realloc(&r->budget, r->offs, r->capoffs * sizeof(size_t), newcap * sizeof(size_t));
		if (no == NULL)
			return NoMemory(r);
		r->offs = no;
		r->capoffs = newcap;
	}
	r->offs[r->nfields++] = used;
	return 0;
}

/* Append the UTF-8 encoding of code point cp. */
static size_t
EncodeUtf8(unsigned int cp, char *out)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xE0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* The UTF-16 unit at p. */
static inline unsigned int
Utf16Unit(const unsigned char *p, int big_endian)
{
	return big_endian ? (unsigned int) (p[0] << 8) | p[1] : (unsigned int) p[0] | (unsigned int) (p[1] << 8);
}

/*
 * Read more UTF-16 input into r->raw, keeping what is not transcoded yet;
 * -1 when the input cannot be read.
 */
static int
ReadRaw(CsvReader *r)
{
	long n;

	if (r->rawpos > 0)
	{
		memmove(r->raw, r->raw + r->rawpos, r->rawlen - r->rawpos);
		r->rawlen -= r->rawpos;
		r->rawpos = 0;
	}
	n = r->read(r->arg, (char *) r->raw + r->rawlen, r->rawcap - r->rawlen);
	if (n < 0)
		return Fail(r, READ_MALFORMED, "the input could not be read");
	if (n == 0)
		r->raw_eof = 1;
	r->rawlen += (size_t) n;
	return 0;
}

/*
 * Transcode UTF-16 input into dst (cap >= 4 bytes) as UTF-8: returns the
 * bytes written (0 only at the end of input), or -1 for input that is not
 * UTF-16 (an unpaired surrogate, an odd number of bytes).
 */
static long
DecodeUtf16(CsvReader *r, char *dst, size_t cap)
{
	size_t out = 0;
	int	   be = r->utf16 == 2;

	while (cap - out >= 4)
	{
		size_t		 have = r->rawlen - r->rawpos;
		unsigned int u;

		if (have < 4 && !r->raw_eof)
		{
			if (ReadRaw(r) != 0)
				return -1;
			continue;
		}
		if (have < 2)
		{
			if (have == 1)
				return Fail(r, READ_MALFORMED,
							"UTF-16 input has an odd number of bytes (%zu): the file is truncated or not UTF-16",
							r->raw_offset + 1);
			break;
		}
		u = Utf16Unit(r->raw + r->rawpos, be);
		if (u >= 0xD800 && u <= 0xDBFF)
		{
			unsigned int lo = have >= 4 ? Utf16Unit(r->raw + r->rawpos + 2, be) : 0;

			if (lo < 0xDC00 || lo > 0xDFFF)
				return Fail(r, READ_MALFORMED, "invalid UTF-16 surrogate at byte %zu: the file is not valid UTF-16",
							r->raw_offset);
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
			r->rawpos += 2;
			r->raw_offset += 2;
		}
		else if (u >= 0xDC00 && u <= 0xDFFF)
			return Fail(r, READ_MALFORMED, "invalid UTF-16 surrogate at byte %zu: the file is not valid UTF-16",
						r->raw_offset);
		r->rawpos += 2;
		r->raw_offset += 2;
		out += EncodeUtf8(u, dst + out);
	}
	return (long) out;
}

/* Note the line ends of n more bytes of input (a CR at the end of one piece may start a CRLF). */
static void
CountLineEnds(CsvReader *r, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
	{
		char c = p[i];

		if (c > '\r')
		{
			if (r->pending_cr)
			{
				r->n_cr++;
				r->pending_cr = 0;
			}
			continue;
		}
		if (r->pending_cr)
		{
			r->pending_cr = 0;
			if (c == '\n')
			{
				r->n_crlf++;
				continue;
			}
			r->n_cr++;
		}
		if (c == '\r')
			r->pending_cr = 1;
		else if (c == '\n')
			r->n_lf++;
	}
}

/*
 * Move what is left of the window to its start and fill the rest from the
 * input; 0, or -1 with r->err.
 */
static int
Refill(CsvReader *r)
{
	if (r->eof)
		return 0;
	if (r->pos > 0)
	{
		memmove(r->win, r->win + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	while (!r->eof && r->wincap - r->len >= 4)
	{
		long n;

		if (r->utf16)
			n = DecodeUtf16(r, r->win + r->len, r->wincap - r->len);
		else
		{
			n = r->read(r->arg, r->win + r->len, r->wincap - r->len);
			if (n < 0)
				return Fail(r, READ_MALFORMED, "the input could not be read");
		}
		if (n < 0)
			return -1;
		if (n == 0)
		{
			r->eof = 1;
			if (r->pending_cr)
				r->n_cr++;
			r->pending_cr = 0;
			break;
		}
		CountLineEnds(r, r->win + r->len, (size_t) n);
		r->len += (size_t) n;
	}
	r->data = r->win;
	return 0;
}

/*
 * Count, for each candidate delimiter, how many of the first lines contain
 * it outside quotes and how often; pick the one present on most lines, then
 * the most frequent.  Comma wins ties, as in RFC 4180.  A line longer than
 * CSV_MAX_RECORD ends the count: csv_next refuses that record anyway, and
 * the scan stays within a few records whatever the input.
 */
char
csv_detect_delimiter(const char *data, size_t len)
{
	static const char cands[] = {',', ';', '\t', '|'};
	int				  lines_with[4] = {0};
	long			  total[4] = {0};
	int				  this_line[4] = {0};
	int				  lines = 0;
	int				  inq = 0;
	size_t			  i;
	size_t			  line_start = 0;
	int				  best = 0;
	int				  k;

	for (i = 0; i < len && lines < DETECT_LINES && i - line_start <= CSV_MAX_RECORD; i++)
	{
		char c = data[i];

		if (c == '"')
			inq = !inq;
		else if (!inq && (c == '\n' || (c == '\r' && (i + 1 == len || data[i + 1] != '\n')) || i + 1 == len))
		{
			line_start = i + 1;
			for (k = 0; k < 4; k++)
			{
				if (this_line[k] > 0)
					lines_with[k]++;
				total[k] += this_line[k];
				this_line[k] = 0;
			}
			lines++;
		}
		else if (!inq)
		{
			for (k = 0; k < 4; k++)
				if (c == cands[k])
					this_line[k]++;
		}
	}
	for (k = 1; k < 4; k++)
		if (lines_with[k] > lines_with[best] ||
			(lines_with[k] == lines_with[best] && total[k] > total[best]))
			best = k;
	return cands[best];
}

/* csv_init's input: the next bytes of its buffer. */
static long
ReadMemory(void *arg, char *buf, size_t cap)
{
	CsvReader *r = arg;
	size_t	   n = r->memlen - r->mempos;

	if (n > cap)
		n = cap;
	memcpy(buf, r->mem + r->mempos, n);
	r->mempos += n;
	return (long) n;
}

/* Open the reader (r's fields zeroed, read and arg set; winmax: the window's largest size). */
static int
Open(CsvReader *r, size_t winmax, char delim)
{
	r->line = 1;
	r->budget.limit = CSV_MEMORY_BUDGET;
	r->rawcap = CSV_RAW;
	r->raw = budget_malloc(&r->budget, r->rawcap);
	r->wincap = winmax < 64 ? 64 : winmax < CSV_WINDOW ? winmax
													   : CSV_WINDOW;
	r->win = budget_malloc(&r->budget, r->wincap);
	r->data = r->win;
	if (r->raw == NULL || r->win == NULL)
		return Fail(r, READ_NO_MEMORY, "out of memory opening the CSV reader");

	/* the byte-order mark decides how the input is decoded */
	while (r->rawlen < 3 && !r->raw_eof)
		if (ReadRaw(r) != 0)
			return -1;
	/* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): rawlen bytes were read into raw */
	if (r->rawlen >= 2 && ((r->raw[0] == 0xFF && r->raw[1] == 0xFE) || (r->raw[0] == 0xFE && r->raw[1] == 0xFF)))
	{
		r->utf16 = r->raw[0] == 0xFE ? 2 : 1;
		r->rawpos = 2;
		r->raw_offset = 2;
	}
	else
	{
		/* input already read goes to the window first */
		memcpy(r->win, r->raw, r->rawlen);
		CountLineEnds(r, r->win, r->rawlen);
		r->len = r->rawlen;
		if (r->raw_eof)
		{
			r->eof = 1;
			if (r->pending_cr)
				r->n_cr++;
			r->pending_cr = 0;
		}
	}
	if (Refill(r) != 0)
		return -1;
	if (!r->utf16 && r->len >= 3 && (unsigned char) r->data[0] == 0xEF && (unsigned char) r->data[1] == 0xBB &&
		(unsigned char) r->data[2] == 0xBF)
		r->pos = 3;

	/* Excel's hint line: "sep=;" names the delimiter and is not data. */
	if (r->len - r->pos >= 5 && strncmp(r->data + r->pos, "sep=", 4) == 0)
	{
		size_t p = r->pos + 5;

		/* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): data[0..len) was read, p < len */
		if (p == r->len || r->data[p] == '\n' || r->data[p] == '\r')
		{
			if (delim == 0)
				delim = r->data[r->pos + 4]; /* NOLINT(clang-analyzer-core.uninitialized.Assign): len - pos >= 5 was checked */
			if (p < r->len && r->data[p] == '\r')
				p++;
			if (p < r->len && r->data[p] == '\n')
				p++;
			r->pos = p;
			r->line = 2;
		}
	}
	r->delim = delim ? delim : csv_detect_delimiter(r->data + r->pos, r->len - r->pos);
	return 0;
}

/* Open, and on failure free what it took (the message stays in r->err). */
static int
OpenOrFree(CsvReader *r, size_t winmax, char delim)
{
	if (Open(r, winmax, delim) == 0)
		return 0;
	csv_free(r);
	return -1;
}

int
csv_open(CsvReader *r, CsvReadFn read, void *arg, char delim)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->arg = arg;
	return OpenOrFree(r, CSV_WINDOW, delim);
}

int
csv_init(CsvReader *r, const char *data, size_t len, char delim)
{
	memset(r, 0, sizeof(*r));
	r->read = ReadMemory;
	r->arg = r;
	r->mem = data;
	r->memlen = len;
	/* a small input needs no more window than itself (UTF-8 from UTF-16 is at most 3/2 as long), and room to see its end */
	return OpenOrFree(r, len < CSV_WINDOW ? len + len / 2 + 16 : CSV_WINDOW, delim);
}

/* The record runs on past CSV_MAX_RECORD; qline is the line of the quoted field it is in, or 0. */
static int
RecordTooLong(CsvReader *r, long qline)
{
	if (qline > 0)
		return Fail(r, READ_LIMIT,
					"the quoted field starting on line %ld runs on past %zu bytes, the most a record may have: a quote is probably not closed (a quote inside a quoted field is written twice)",
					qline, CSV_MAX_RECORD);
	return Fail(r, READ_LIMIT,
				"line %ld is longer than %zu bytes, the most a record may have (real meter and factor files have lines under 10 kB): check that the file is line-based CSV text",
				r->record_line, CSV_MAX_RECORD);
}

int
csv_next(CsvReader *r, char ***fields)
{
	const char *d = r->data;
	size_t		len = r->len;
	size_t		pos = r->pos;
	size_t		start;
	size_t		used = 0;
	char		delim = r->delim;
	int			i;

	/*
	 * Skip blank lines, keeping the window topped up: a record starts with
	 * CSV_MAX_RECORD bytes and a few more of lookahead after it in the window
	 * (or the end of input), so it ends inside it or reaches the cap.
	 */
	for (;;)
	{
		if (!r->eof && len - pos < CSV_MAX_RECORD + 8)
		{
			r->pos = pos;
			if (Refill(r) != 0)
				return -1;
			d = r->data;
			len = r->len;
			pos = r->pos;
		}
		if (pos >= len || (d[pos] != '\n' && d[pos] != '\r'))
			break;
		if (d[pos] == '\n' || pos + 1 == len || d[pos + 1] != '\n')
			r->line++;
		pos++;
	}
	if (pos >= len)
	{
		r->pos = pos;
		return 0;
	}

	start = pos;
	r->record_line = r->line;
	r->nfields = 0;
	if (StartField(r, 0) != 0)
		return -1;

	while (pos < len)
	{
		char c = d[pos];

		if (c == '\n' || c == '\r')
		{
			pos++;
			if (c == '\r' && pos < len && d[pos] == '\n')
				pos++;
			r->line++;
			break;
		}
		if (pos - start >= CSV_MAX_RECORD)
		{
			RecordTooLong(r, 0);
			goto fail;
		}
		if (c == '"' && used == r->offs[r->nfields - 1])
		{
			/* Quoted field: runs to the next lone quote. */
			long qline = r->line;

			pos++;
			for (;;)
			{
				if (pos >= len)
				{
					Fail(r, READ_MALFORMED,
						 "unterminated quoted field starting on line %ld: the file is truncated or has an unbalanced quote",
						 qline);
					goto fail;
				}
				if (pos - start >= CSV_MAX_RECORD)
				{
					RecordTooLong(r, qline);
					goto fail;
				}
				c = d[pos++];
				if (c == '"')
				{
					if (pos < len && d[pos] == '"')
						pos++;
					else
						break;
				}
				else if (c == '\n' || (c == '\r' && (pos >= len || d[pos] != '\n')))
					r->line++; /* LF, CRLF or a lone CR inside the quotes */
				if (PutByte(r, &used, c) != 0)
					goto fail;
			}
			continue;
		}
		if (c == delim)
		{
			if (PutByte(r, &used, '\0') != 0 || StartField(r, used) != 0)
				goto fail;
			pos++;
			continue;
		}
		if (PutByte(r, &used, c) != 0)
			goto fail;
		pos++;
	}
	if (PutByte(r, &used, '\0') != 0)
		goto fail;
	if (r->capfields < r->capoffs)
	{
		char **nf = budget_realloc(&r->budget, r->fields, r->capfields * sizeof(char *), r->capoffs * sizeof(char *));

		if (nf == NULL)
		{
			NoMemory(r);
			goto fail;
		}
		r->fields = nf;
		r->capfields = r->capoffs;
	}
	r->pos = pos;
	for (i = 0; i < r->nfields; i++)
		r->fields[i] = r->buf + r->offs[i];
	*fields = r->fields;
	return r->nfields;

fail:
	r->pos = pos;
	return -1;
}

void
csv_free(CsvReader *r)
{
	budget_free(&r->budget, r->win, r->wincap);
	budget_free(&r->budget, r->raw, r->rawcap);
	budget_free(&r->budget, r->buf, r->bufcap);
	budget_free(&r->budget, r->offs, r->capoffs * sizeof(size_t));
	budget_free(&r->budget, r->fields, r->capfields * sizeof(char *));
	r->win = r->buf = NULL;
	r->raw = NULL;
	r->data = NULL;
	r->len = r->pos = 0;
	r->offs = NULL;
	r->fields = NULL;
	r->wincap = r->rawcap = r->bufcap = 0;
	r->capoffs = r->capfields = 0;
}
