/* Unit tests of the CSV reader (src/csv.c). */
#include "tap.h"
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
	printf("# unit tests done: csv\n");
	return tap_done();
}
