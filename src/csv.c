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

/*
 * Decode n UTF-16 units at p into UTF-8 at dst, or only count the bytes
 * when dst is NULL.  Returns the UTF-8 length, or -1 with *bad the unit of
 * an unpaired surrogate (which means the input is not UTF-16).
 */
static long
Utf16ToUtf8(const unsigned char *p, size_t n, int big_endian, char *dst, size_t *bad)
{
	size_t i;
	size_t out = 0;
	char   tmp[4] = {0}; /* where counted-only units are written */

	for (i = 0; i < n; i++)
	{
		unsigned int u = big_endian ? (p[2 * i] << 8) | p[2 * i + 1]
									: p[2 * i] | (p[2 * i + 1] << 8);

		if (u >= 0xD800 && u <= 0xDBFF)
		{
			unsigned int lo;

			if (i + 1 >= n)
				break;
			lo = big_endian ? (p[2 * i + 2] << 8) | p[2 * i + 3]
							: p[2 * i + 2] | (p[2 * i + 3] << 8);
			if (lo < 0xDC00 || lo > 0xDFFF)
				break;
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
			i++;
		}
		else if (u >= 0xDC00 && u <= 0xDFFF)
			break;
		out += EncodeUtf8(u, dst ? dst + out : tmp);
	}
	if (i < n)
	{
		*bad = i;
		return -1;
	}
	return (long) out;
}

/*
 * Transcode UTF-16 (after its byte-order mark) to UTF-8 in r->owned, sized
 * exactly (counted first) and counted against the budget.
 */
static int
TranscodeUtf16(CsvReader *r, const unsigned char *p, size_t len, int big_endian)
{
	size_t bad = 0;
	long   out;
	char  *dst;

	if (len % 2 != 0)
		return Fail(r, READ_MALFORMED,
					"UTF-16 input has an odd number of bytes (%zu): the file is truncated or not UTF-16", len + 2);
	out = Utf16ToUtf8(p, len / 2, big_endian, NULL, &bad);
	if (out < 0)
		return Fail(r, READ_MALFORMED,
					"invalid UTF-16 surrogate at byte %zu: the file is not valid UTF-16", 2 + 2 * bad);
	dst = budget_malloc(&r->budget, (size_t) out + 1);
	if (dst == NULL && r->budget.refused)
		return Fail(r, READ_LIMIT,
					"the UTF-16 input takes %ld bytes as UTF-8, more than the CSV reader's memory budget of %zu bytes: save the file as UTF-8, which is read in place",
					out, r->budget.limit);
	if (dst == NULL)
		return Fail(r, READ_NO_MEMORY, "out of memory transcoding UTF-16 input");
	Utf16ToUtf8(p, len / 2, big_endian, dst, &bad);
	dst[out] = '\0';
	r->owned = dst;
	r->ownedcap = (size_t) out + 1;
	r->data = dst;
	r->len = (size_t) out;
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

int
csv_init(CsvReader *r, const char *data, size_t len, char delim)
{
	const unsigned char *u = (const unsigned char *) data;

	memset(r, 0, sizeof(*r));
	r->data = data;
	r->len = len;
	r->line = 1;
	r->budget.limit = CSV_MEMORY_BUDGET;

	if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
		r->pos = 3;
	else if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
	{
		if (TranscodeUtf16(r, u + 2, len - 2, u[0] == 0xFE) != 0)
			return -1;
	}

	/* Excel's hint line: "sep=;" names the delimiter and is not data. */
	if (r->len - r->pos >= 5 && strncmp(r->data + r->pos, "sep=", 4) == 0)
	{
		size_t p = r->pos + 5;

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

	/* Skip blank lines. */
	while (pos < len && (d[pos] == '\n' || d[pos] == '\r'))
	{
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
	budget_free(&r->budget, r->owned, r->ownedcap);
	budget_free(&r->budget, r->buf, r->bufcap);
	budget_free(&r->budget, r->offs, r->capoffs * sizeof(size_t));
	budget_free(&r->budget, r->fields, r->capfields * sizeof(char *));
	r->owned = r->buf = NULL;
	r->offs = NULL;
	r->fields = NULL;
	r->ownedcap = r->bufcap = 0;
	r->capoffs = r->capfields = 0;
}
