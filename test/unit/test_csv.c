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
	OK(heap_peak_since(mark) < 2 * CSV_MAX_RECORD, "holding less than twice the cap, the buffer's last doubling (%zu bytes)",
	   heap_peak_since(mark));
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
	OK(r.budget.used == r.bufcap + r.capoffs * sizeof(size_t) + r.capfields * sizeof(char *),
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

/*
 * UTF-16 input whose UTF-8 copy would pass the budget: refused before the
 * copy is made.  U+4E00 takes 2 bytes in UTF-16 and 3 in UTF-8.
 */
static void
test_utf16_budget(void)
{
	size_t	  units = CSV_MEMORY_BUDGET / 3 + 1;
	size_t	  len = 2 + 2 * units;
	char	 *data = malloc(len);
	CsvReader r;
	long	  mark;
	size_t	  i;
	char	  want[CSV_ERRLEN];

	data[0] = '\xFF';
	data[1] = '\xFE';
	for (i = 0; i < units; i++)
	{
		data[2 + 2 * i] = '\x00';
		data[3 + 2 * i] = '\x4E';
	}
	mark = heap_mark();
	OK(csv_init(&r, data, len, 0) == -1 && r.errkind == READ_LIMIT, "UTF-16 input too large for the budget is refused");
	snprintf(want, sizeof(want),
			 "the UTF-16 input takes %zu bytes as UTF-8, more than the CSV reader's memory budget of 134217728 bytes: save the file as UTF-8, which is read in place",
			 3 * units);
	IS_STR(r.err, want, "the message gives the size, the budget and what to do");
	OK(heap_peak_since(mark) < 4096, "before allocating the copy (%zu bytes held)", heap_peak_since(mark));
	csv_free(&r);

	/* one unit fewer fits; the copy is counted, exactly */
	OK(csv_init(&r, data, len - 2, 0) == 0, "UTF-16 input within the budget is transcoded");
	OK(r.budget.used == 3 * (units - 1) + 1, "its copy counted against the budget (%zu bytes)", r.budget.used);
	csv_free(&r);
	free(data);
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
	test_utf16_budget();
	printf("# unit tests done: csv\n");
	return tap_done();
}
