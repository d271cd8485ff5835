/* Unit tests of the CSV reader (src/csv.c). */
#include "tap.h"
#include "heap.h"
#include "csv.h"

/* Read all records of s, joining fields with | and records with newlines. */
static char *
dump(const char *s, size_t len, char delim, char *err)
{
	static char out[8192];
	CsvReader	r;
	char	  **f;
	int			n,
		i;
	size_t o = 0;

	out[0] = '\0';
	err[0] = '\0';
	if (csv_init(&r, s, len, delim) != 0)
	{
		strcpy(err, r.err);
		return NULL;
	}
	while ((n = csv_next(&r, &f)) > 0)
	{
		o += snprintf(out + o, sizeof(out) - o, "%ld:", r.record_line);
		for (i = 0; i < n; i++)
			o += snprintf(out + o, sizeof(out) - o, "%s%s", i ? "|" : "", f[i]);
		o += snprintf(out + o, sizeof(out) - o, "\n");
	}
	if (n < 0)
		strcpy(err, r.err);
	csv_free(&r);
	return n < 0 ? NULL : out;
}

#define DUMP(lit, d) dump(lit, sizeof(lit) - 1, d, err)

/* Read every record of data[0..len); -1 (with r->err) or the record count. */
static long
read_all(CsvReader *r, const char *data, size_t len)
{
	char **f;
	int	   n;
	long   records = 0;

	if (csv_init(r, data, len, 0) != 0)
		return -1;
	while ((n = csv_next(r, &f)) > 0)
		records++;
	return n < 0 ? -1 : records;
}

/* Records at and past CSV_MAX_RECORD, plain and quoted. */
static void
test_record_cap(void)
{
	size_t	  len = 4 + 8 * CSV_MAX_RECORD + 5;
	char	 *data = malloc(len + 1);
	CsvReader r;
	char	**f;
	long	  mark;

	/* "a,b", a line of exactly CSV_MAX_RECORD bytes, "1,2": all read */
	memcpy(data, "a,b\n", 4);
	memset(data + 4, 'x', CSV_MAX_RECORD);
	memcpy(data + 4 + CSV_MAX_RECORD, "\r\n1,2\n", 6);
	OK(read_all(&r, data, 4 + CSV_MAX_RECORD + 6) == 3, "a line of exactly %zu bytes is read", CSV_MAX_RECORD);
	csv_free(&r);

	/* the same, quoted, with doubled quotes: the field buffer's largest size */
	data[4] = '"';
	memcpy(data + 4 + CSV_MAX_RECORD - 5, "\"\"\"\"\"", 5);
	OK(csv_init(&r, data, 4 + CSV_MAX_RECORD + 6, 0) == 0 && csv_next(&r, &f) == 2 && csv_next(&r, &f) == 1 &&
		   strlen(f[0]) == CSV_MAX_RECORD - 4 && strcmp(f[0] + CSV_MAX_RECORD - 7, "x\"\"") == 0,
	   "a quoted field of exactly %zu bytes is read, doubled quotes undone", CSV_MAX_RECORD);
	csv_free(&r);

	/* a line of 8 MB: refused where it passes the cap, the rest unread */
	memset(data + 4, 'x', 8 * CSV_MAX_RECORD);
	memcpy(data + 4 + 8 * CSV_MAX_RECORD, "\n1,2\n", 5);
	mark = heap_mark();
	OK(read_all(&r, data, len) == -1 && r.errkind == READ_LIMIT, "an 8 MB line is refused as over a limit");
	IS_STR(r.err,
		   "line 2 is longer than 1048576 bytes, the most a record may have (real meter and factor files have lines under 10 kB): check that the file is line-based CSV text",
		   "the message says which line and what limit");
	OK(r.pos == 4 + CSV_MAX_RECORD, "reading stopped at the cap, byte %zu of %zu", r.pos, len);
	OK(heap_peak_since(mark) < CSV_WINDOW + CSV_RAW + 2 * CSV_MAX_RECORD,
	   "holding the window and less than twice the cap, the buffer's last doubling (%zu bytes)", heap_peak_since(mark));
	csv_free(&r);

	/* an unclosed quote early in a large file: refused at the cap, not at the end */
	data[4] = '"';
	OK(read_all(&r, data, len) == -1 && r.errkind == READ_LIMIT && r.pos == 4 + CSV_MAX_RECORD,
	   "an unclosed quote is refused at the cap (stopped at byte %zu)", r.pos);
	IS_STR(r.err,
		   "the quoted field starting on line 2 runs on past 1048576 bytes, the most a record may have: a quote is probably not closed (a quote inside a quoted field is written twice)",
		   "the message says where the quote started");
	csv_free(&r);

	/* a short unclosed quote is damage, as before */
	OK(read_all(&r, "a\n\"xyz\n", 7) == -1 && r.errkind == READ_MALFORMED &&
		   strstr(r.err, "unterminated quoted field starting on line 2") != NULL,
	   "a short unclosed quote is malformed input: %s", r.err);
	csv_free(&r);

	/* delimiter detection stops at a line past the cap: the ';' after it are never seen */
	memset(data, 'x', CSV_MAX_RECORD + 1);
	memset(data + CSV_MAX_RECORD + 1, ';', 100);
	OK(csv_detect_delimiter(data, CSV_MAX_RECORD + 101) == ',', "detection does not scan past an over-long line");
	free(data);
}

/* Records at and past CSV_MAX_FIELDS. */
static void
test_field_cap(void)
{
	size_t	  len = 2 * CSV_MAX_FIELDS + 8;
	char	 *data = malloc(len);
	CsvReader r;
	char	**f;

	memset(data, ';', len);
	memcpy(data, "a;b\n", 4);
	data[4 + CSV_MAX_FIELDS - 1] = '\n'; /* line 2: CSV_MAX_FIELDS - 1 delimiters */
	OK(csv_init(&r, data, 4 + CSV_MAX_FIELDS, 0) == 0 && csv_next(&r, &f) == 2 && csv_next(&r, &f) == CSV_MAX_FIELDS,
	   "a record of exactly %d fields is read", CSV_MAX_FIELDS);
	OK(r.budget.used == r.wincap + r.rawcap + r.bufcap + r.capoffs * sizeof(size_t) + r.capfields * sizeof(char *),
	   "the budget counts the buffers the reader holds (%zu bytes)", r.budget.used);
	csv_free(&r);
	OK(r.budget.used == 0, "and nothing once they are freed");

	data[4 + CSV_MAX_FIELDS - 1] = ';';
	data[len - 1] = '\n';
	OK(read_all(&r, data, len) == -1 && r.errkind == READ_LIMIT, "a record of %zu fields is refused as over a limit",
	   len - 4);
	IS_STR(r.err,
		   "line 2 has more than 20000 fields, the most a record may have (a spreadsheet has at most 16,384 columns): check that the file is the CSV it should be and that its delimiter is ';'",
		   "the message says which line and what limit");
	/* the delimiter that would start field 20,001 is the line's 20,000th byte */
	OK(r.pos == 4 + CSV_MAX_FIELDS - 1, "refused at the field past the cap (stopped at byte %zu of %zu)", r.pos, len);
	csv_free(&r);
	free(data);
}

/* A CsvReadFn handing over at most piece bytes at a time, as a large object read in pieces would. */
typedef struct Pieces
{
	const char *data;
	size_t		len;
	size_t		pos;
	size_t		piece;
} Pieces;

static long
read_pieces(void *arg, char *buf, size_t cap)
{
	Pieces *p = arg;
	size_t	n = p->len - p->pos;

	if (n > cap)
		n = cap;
	if (n > p->piece)
		n = p->piece;
	memcpy(buf, p->data + p->pos, n);
	p->pos += n;
	return (long) n;
}

/* Every record of a reader, as dump() writes them, into out (cap bytes); the count, or -1. */
static long
dump_reader(CsvReader *r, char *out, size_t cap)
{
	char **f;
	int	   n,
		i;
	size_t o = 0;
	long   records = 0;

	out[0] = '\0';
	while ((n = csv_next(r, &f)) > 0)
	{
		records++;
		o += snprintf(out + o, cap - o, "%ld:", r->record_line);
		for (i = 0; i < n && o < cap; i++)
			o += snprintf(out + o, cap - o, "%s%s", i ? "|" : "", f[i]);
		if (o < cap)
			o += snprintf(out + o, cap - o, "\n");
		if (o >= cap)
			o = cap - 1;
	}
	return n < 0 ? -1 : records;
}

/*
 * Streamed input reads as the same input in one buffer, whatever the size
 * of the pieces it comes in: generated files of quoted fields, CR, LF and
 * CRLF line ends, blank lines, UTF-8 and UTF-16 (a surrogate pair included)
 * cut at every place a piece of 1, 2, 3, 7 or 64 bytes ends.
 */
static void
test_streamed_pieces(void)
{
	static const char *const cells[] = {"a", "\"q,1\"", "\"x\r\ny\"", "", "\xC3\xA9", "\"say \"\"hi\"\"\"", "12.5"};
	static const char *const ends[] = {"\n", "\r\n", "\r", "\n\n", "\r\n\r\n"};
	static const size_t		 pieces[] = {1, 2, 3, 7, 64};
	char					 text[4096];
	char					 want[8192],
		got[8192];
	int file,
		bad = 0,
		checked = 0;

	for (file = 0; file < 40; file++)
	{
		size_t len = 0;
		int	   line,
			k,
			utf16;

		for (line = 0; line < 12; line++)
		{
			for (k = 0; k < 3; k++)
				len += snprintf(text + len, sizeof(text) - len, "%s%s", k ? ";" : "", cells[(file * 3 + line * 5 + k) % 7]);
			len += snprintf(text + len, sizeof(text) - len, "%s", ends[(file + line) % 5]);
		}
		for (utf16 = 0; utf16 < 2; utf16++)
		{
			char   in[9000];
			size_t inlen = 0,
				   i;
			CsvReader r;
			long	  n_want;
			int		  p;

			if (utf16)
			{
				/* UTF-16LE of the ASCII text, with U+1F600 (a surrogate pair) for each 'q' */
				in[inlen++] = '\xFF';
				in[inlen++] = '\xFE';
				for (i = 0; i < len; i++)
				{
					if (text[i] == 'q')
					{
						memcpy(in + inlen, "\x3D\xD8\x00\xDE", 4);
						inlen += 4;
					}
					else if ((unsigned char) text[i] < 0x80)
					{
						in[inlen++] = text[i];
						in[inlen++] = '\0';
					}
					else
					{
						/* U+00E9 from its UTF-8 C3 A9 */
						in[inlen++] = '\xE9';
						in[inlen++] = '\0';
						i++;
					}
				}
			}
			else
			{
				memcpy(in, text, len);
				inlen = len;
			}
			if (csv_init(&r, in, inlen, 0) != 0)
			{
				bad++;
				continue;
			}
			n_want = dump_reader(&r, want, sizeof(want));
			csv_free(&r);
			for (p = 0; p < 5; p++)
			{
				Pieces src = {in, inlen, 0, pieces[p]};

				checked++;
				if (csv_open(&r, read_pieces, &src, 0) != 0 || dump_reader(&r, got, sizeof(got)) != n_want ||
					strcmp(want, got) != 0 || r.n_crlf + r.n_cr + r.n_lf == 0)
				{
					if (bad++ == 0)
						printf("# file %d (utf16 %d) in pieces of %zu reads\n%s\n# not\n%s", file, utf16, pieces[p], got, want);
				}
				csv_free(&r);
			}
		}
	}
	OK(bad == 0, "%d streamed readings equal the whole-buffer reading of the same bytes", checked);
}

/* A CsvReadFn of a generated file too large to hold: "m,<i>,<i>.5" lines, in UTF-16LE when utf16. */
typedef struct BigFile
{
	long   lines;
	long   next;
	int	   utf16;
	char   line[64];
	size_t linelen;
	size_t linepos;
	int	   bom_done;
} BigFile;

static long
read_big(void *arg, char *buf, size_t cap)
{
	BigFile *b = arg;
	size_t	 out = 0;

	if (b->utf16 && !b->bom_done && cap >= 2)
	{
		buf[out++] = '\xFF';
		buf[out++] = '\xFE';
		b->bom_done = 1;
	}
	while (out < cap)
	{
		if (b->linepos == b->linelen)
		{
			char ascii[32];
			int	 n,
				i;

			if (b->next == b->lines)
				break;
			n = snprintf(ascii, sizeof(ascii), "m,%ld,%ld.5\r\n", b->next, b->next);
			b->linelen = 0;
			for (i = 0; i < n; i++)
			{
				b->line[b->linelen++] = ascii[i];
				if (b->utf16)
					b->line[b->linelen++] = '\0';
			}
			b->linepos = 0;
			b->next++;
		}
		buf[out++] = b->line[b->linepos++];
	}
	return (long) out;
}

/*
 * A file far larger than the window, UTF-16 (once transcoded into a copy
 * of its own) and UTF-8, is read whole with the heap held at the window,
 * one raw piece and one record: records across every window edge intact.
 */
static void
test_streamed_large(void)
{
	int utf16;

	for (utf16 = 0; utf16 < 2; utf16++)
	{
		BigFile	  b;
		CsvReader r;
		char	**f;
		int		  n;
		long	  records = 0,
			 wrong = 0;
		long long mark;

		memset(&b, 0, sizeof(b));
		b.lines = 3000000;
		b.utf16 = utf16;
		mark = heap_mark();
		OK(csv_open(&r, read_big, &b, 0) == 0 && r.delim == ',', "%s: opened, ',' detected", utf16 ? "UTF-16LE" : "UTF-8");
		while ((n = csv_next(&r, &f)) > 0)
		{
			if (n != 3 || f[0][0] != 'm' || atol(f[1]) != records || atol(f[2]) != records ||
				r.record_line != records + 1)
				wrong++;
			records++;
		}
		OK(n == 0 && records == 3000000 && wrong == 0, "%ld records of %s read in order, %ld wrong", records,
		   utf16 ? "UTF-16LE" : "UTF-8", wrong);
		OK(r.n_crlf == 3000000 && r.n_cr == 0 && r.n_lf == 0, "their line ends counted: %ld CRLF", r.n_crlf);
		OK(heap_peak_since(mark) < CSV_WINDOW + CSV_RAW + 64 * 1024,
		   "with at most %zu bytes of heap held (the window is %zu)", heap_peak_since(mark), (size_t) CSV_WINDOW);
		csv_free(&r);
	}
}

int
main(void)
{
	char err[CSV_ERRLEN];

	IS_STR(DUMP("a,b,c\n1,2,3\n", 0), "1:a|b|c\n2:1|2|3\n", "plain comma CSV");
	IS_STR(DUMP("a,\"b,c\",\"say \"\"hi\"\"\"\n", 0), "1:a|b,c|say \"hi\"\n",
		   "quoted delimiter and doubled quotes");
	IS_STR(DUMP("a,\"line1\nline2\",c\nx,y,z\n", 0), "1:a|line1\nline2|c\n3:x|y|z\n",
		   "newline inside quotes; next record knows its line");
	IS_STR(DUMP("a,b\r\n1,2\r\n", 0), "1:a|b\n2:1|2\n", "CRLF line ends");
	IS_STR(DUMP("a,b\n\n\r\n1,2\n\n", 0), "1:a|b\n4:1|2\n", "blank lines skipped, line numbers kept");
	IS_STR(DUMP("a;b\r1;2\r3;4\r", 0), "1:a|b\n2:1|2\n3:3|4\n", "CR-only line ends, ';' detected across them");
	IS_STR(DUMP("a,b\r1,2\r\n3,4\n\r5,6", 0), "1:a|b\n2:1|2\n3:3|4\n5:5|6\n", "CR, CRLF and LF mixed; a blank CR line counted");
	IS_STR(DUMP("a,\"x\ry\",b\rc,d\r", 0), "1:a|x\ry|b\n3:c|d\n", "a CR inside quotes counts a line");
	OK(csv_detect_delimiter("x;y\r1;2\r3,4;5\r", 15) == ';', "delimiter detection counts CR-only lines");
	IS_STR(DUMP("\xEF\xBB\xBFx;y\n1;2\n", 0), "1:x|y\n2:1|2\n", "UTF-8 BOM dropped, semicolon detected");
	IS_STR(DUMP("sep=;\na,b;c\n", 0), "2:a,b|c\n", "sep= hint line names the delimiter");
	IS_STR(DUMP("sep=,\nMPR,kWh\n1,2\n", 0), "2:MPR|kWh\n3:1|2\n", "sep=, as in the Highland files");
	IS_STR(DUMP("a\tb\tc\n1\t2\t3\n", 0), "1:a|b|c\n2:1|2|3\n", "tab detected");
	IS_STR(DUMP("a,b,\n,,\n", 0), "1:a|b|\n2:||\n", "empty fields kept");
	IS_STR(DUMP("no newline at end", 0), "1:no newline at end\n", "last line without newline");
	OK(csv_detect_delimiter("a;b;c\nd;e;f\n", 12) == ';', "semicolon detection");
	OK(csv_detect_delimiter("\"a;b\",c\n\"d;e\",f\n", 16) == ',', "delimiters inside quotes do not count");
	OK(csv_detect_delimiter("x;y;z\n1,5;2,5;3\n", 16) == ';', "decimal commas do not beat semicolons");

	OK(DUMP("a,\"unterminated\n1,2\n", 0) == NULL && strstr(err, "unterminated quoted field starting on line 1") != NULL,
	   "unterminated quote is an error naming its line (%s)", err);

	/* UTF-16LE with BOM: "é,b\n1,2\n" */
	{
		static const char le[] = "\xFF\xFE\xE9\x00,\x00"
								 "b\x00\n\x00"
								 "1\x00,\x00"
								 "2\x00\n\x00";

		IS_STR(DUMP(le, 0), "1:\xC3\xA9|b\n2:1|2\n", "UTF-16LE transcoded to UTF-8");
	}
	{
		static const char be[] = "\xFE\xFF\x00h\x00,\x00i\x00\n\xD8\x3D\xDE\x00\x00,\x00x\x00\n";

		IS_STR(DUMP(be, 0), "1:h|i\n2:\xF0\x9F\x98\x80|x\n", "UTF-16BE with a surrogate pair");
	}
	{
		static const char bad[] = "\xFF\xFE\x00\xDC,\x00";

		OK(DUMP(bad, 0) == NULL && strstr(err, "surrogate") != NULL, "lone UTF-16 surrogate is an error");
		OK(DUMP("\xFF\xFE"
				"a",
				0) == NULL &&
			   strstr(err, "odd number") != NULL,
		   "odd-length UTF-16 is an error");
	}

	/* A real factor file: French-locale export, BOM, CRLF, ';' */
	{
		size_t	  len;
		char	 *data = slurp(fixture("desnz_flatfile/conversion-factors-2021-flat-file-automatic-processing.frlocale.csv"), &len);
		CsvReader r;
		char	**f;
		int		  n;
		long	  records = 0;
		int		  header_fields = 0;

		OK(csv_init(&r, data, len, 0) == 0 && r.delim == ';', "2021 French CSV: ';' detected");
		while ((n = csv_next(&r, &f)) > 0)
		{
			records++;
			if (r.record_line == 5)
				header_fields = n;
		}
		OK(n == 0, "2021 French CSV read to the end");
		OK(header_fields >= 11, "header on line 5 has %d fields", header_fields);
		OK(r.line > 7600, "physical lines counted (%ld)", r.line);
		csv_free(&r);
		free(data);
	}
	test_record_cap();
	test_field_cap();
	test_streamed_pieces();
	test_streamed_large();
	printf("# unit tests done: csv\n");
	return tap_done();
}
