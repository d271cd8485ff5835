/*
 * csv.c
 *		Pure C reader for delimited text; see csv.h.
 */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETECT_LINES 30

/* Append one byte to the current field, growing the buffer as needed. */
static inline int
PutByte(CsvReader *r, size_t *used, char c)
{
	if (*used + 1 >= r->bufcap)
	{
		size_t newcap = r->bufcap ? r->bufcap * 2 : 1024;
		char  *nb = realloc(r->buf, newcap);

		if (nb == NULL)
		{
			snprintf(r->err, CSV_ERRLEN, "out of memory reading line %ld", r->record_line);
			return -1;
		}
		r->buf = nb;
		r->bufcap = newcap;
	}
	r->buf[(*used)++] = c;
	return 0;
}

/* Start a new field at buffer offset used. */
static int
StartField(CsvReader *r, size_t used)
{
	if (r->nfields >= r->capfields)
	{
		int		newcap = r->capfields ? r->capfields * 2 : 64;
		size_t *no = realloc(r->offs, newcap * sizeof(size_t));
		char  **nf;

		if (no == NULL)
			goto oom;
		r->offs = no;
		nf = realloc(r->fields, newcap * sizeof(char *));
		if (nf == NULL)
			goto oom;
		r->fields = nf;
		r->capfields = newcap;
	}
	r->offs[r->nfields++] = used;
	return 0;
oom:
	snprintf(r->err, CSV_ERRLEN, "out of memory reading line %ld", r->record_line);
	return -1;
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
 * Transcode UTF-16 (after its byte-order mark) to UTF-8 in r->owned.
 * Unpaired surrogates are an error: they mean the file is not UTF-16.
 */
static int
TranscodeUtf16(CsvReader *r, const unsigned char *p, size_t len, int big_endian)
{
	size_t n = len / 2;
	size_t i;
	size_t out = 0;
	char  *dst;

	if (len % 2 != 0)
	{
		snprintf(r->err, CSV_ERRLEN,
				 "UTF-16 input has an odd number of bytes (%zu): the file is truncated or not UTF-16",
				 len + 2);
		return -1;
	}
	/* Each UTF-16 unit becomes at most 3 UTF-8 bytes (a pair: 4 for 2). */
	dst = malloc(n * 3 + 1);
	if (dst == NULL)
	{
		snprintf(r->err, CSV_ERRLEN, "out of memory transcoding UTF-16 input");
		return -1;
	}
	for (i = 0; i < n; i++)
	{
		unsigned int u = big_endian ? (p[2 * i] << 8) | p[2 * i + 1]
									: p[2 * i] | (p[2 * i + 1] << 8);

		if (u >= 0xD800 && u <= 0xDBFF)
		{
			unsigned int lo;

			if (i + 1 >= n)
				goto bad;
			lo = big_endian ? (p[2 * i + 2] << 8) | p[2 * i + 3]
							: p[2 * i + 2] | (p[2 * i + 3] << 8);
			if (lo < 0xDC00 || lo > 0xDFFF)
				goto bad;
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
			i++;
		}
		else if (u >= 0xDC00 && u <= 0xDFFF)
			goto bad;
		out += EncodeUtf8(u, dst + out);
	}
	dst[out] = '\0';
	r->owned = dst;
	r->data = dst;
	r->len = out;
	return 0;
bad:
	free(dst);
	snprintf(r->err, CSV_ERRLEN,
			 "invalid UTF-16 surrogate at byte %zu: the file is not valid UTF-16", 2 + 2 * i);
	return -1;
}

/*
 * Count, for each candidate delimiter, how many of the first lines contain
 * it outside quotes and how often; pick the one present on most lines, then
 * the most frequent.  Comma wins ties, as in RFC 4180.
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
	int				  best = 0;
	int				  k;

	for (i = 0; i < len && lines < DETECT_LINES; i++)
	{
		char c = data[i];

		if (c == '"')
			inq = !inq;
		else if (!inq && (c == '\n' || i + 1 == len))
		{
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

int
csv_next(CsvReader *r, char ***fields)
{
	const char *d = r->data;
	size_t		len = r->len;
	size_t		pos = r->pos;
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

	r->record_line = r->line;
	r->nfields = 0;
	if (StartField(r, 0) != 0)
		return -1;

	while (pos < len)
	{
		char c = d[pos];

		if (c == '"' && used == r->offs[r->nfields - 1])
		{
			/* Quoted field: runs to the next lone quote. */
			long qline = r->line;

			pos++;
			for (;;)
			{
				if (pos >= len)
				{
					snprintf(r->err, CSV_ERRLEN,
							 "unterminated quoted field starting on line %ld: the file is truncated or has an unbalanced quote",
							 qline);
					return -1;
				}
				c = d[pos++];
				if (c == '"')
				{
					if (pos < len && d[pos] == '"')
						pos++;
					else
						break;
				}
				else if (c == '\n')
					r->line++;
				if (PutByte(r, &used, c) != 0)
					return -1;
			}
			continue;
		}
		if (c == delim)
		{
			if (PutByte(r, &used, '\0') != 0 || StartField(r, used) != 0)
				return -1;
			pos++;
			continue;
		}
		if (c == '\n' || c == '\r')
		{
			pos++;
			if (c == '\r' && pos < len && d[pos] == '\n')
				pos++;
			r->line++;
			break;
		}
		if (PutByte(r, &used, c) != 0)
			return -1;
		pos++;
	}
	if (PutByte(r, &used, '\0') != 0)
		return -1;
	r->pos = pos;
	for (i = 0; i < r->nfields; i++)
		r->fields[i] = r->buf + r->offs[i];
	*fields = r->fields;
	return r->nfields;
}

void
csv_free(CsvReader *r)
{
	free(r->owned);
	free(r->buf);
	free(r->offs);
	free(r->fields);
	r->owned = r->buf = NULL;
	r->offs = NULL;
	r->fields = NULL;
}
