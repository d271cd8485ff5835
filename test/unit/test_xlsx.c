/* Unit tests of the xlsx reader (src/xlsx.c). */
#include "tap.h"
#include "heap.h"
#include "xlsx.h"

#include "zipmem.h"

static ReadError kind; /* of the last xlsx_open */

static const char *workbook =
	"<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
	"xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
	"<sheet name=\"Front page\" sheetId=\"1\" r:id=\"rId1\"/>"
	"<sheet name=\"Data\" sheetId=\"2\" r:id=\"rId2\"/></sheets></workbook>";
static const char *rels =
	"<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/>"
	"<Relationship Id=\"rId2\" Target=\"/xl/worksheets/sheet2.xml\"/></Relationships>";
static const char *strings =
	"<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
	"<si><t>plain</t></si>"
	"<si><r><t>rich </t></r><r><t>text</t></r><rPh><t>PHONETIC</t></rPh></si>"
	"<si><t xml:space=\"preserve\"> spaced </t></si></sst>";
static const char *sheet1 = "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>front</t></is></c></row></sheetData></worksheet>";
static const char *sheet2 =
	"<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
	"<row r=\"2\"><c r=\"B2\" t=\"s\"><v>0</v></c><c r=\"D2\" t=\"s\"><v>1</v></c></row>"
	"<row r=\"3\"/>"
	"<row r=\"4\"><c r=\"A4\"><v>0.46337999999999996</v></c><c r=\"B4\" t=\"b\"><v>1</v></c>"
	"<c r=\"C4\" t=\"e\"><v>#N/A</v></c><c r=\"D4\" t=\"str\"><f>A1</f><v>formula</v></c>"
	"<c r=\"E4\" t=\"inlineStr\"><is><t>inline</t></is></c><c r=\"F4\" t=\"s\"><v>2</v></c></row>"
	"<row><c><v>8.0000000000000007E-5</v></c><c><v>1041.8</v></c><c><v>-12</v></c></row>"
	"<row r=\"9\"><c r=\"AA9\"><v>3</v></c></row>"
	"</sheetData></worksheet>";

static void
test_synthetic(void)
{
	const char *const parts[] = {
		"xl/workbook.xml", workbook, "xl/_rels/workbook.xml.rels", rels,
		"xl/sharedStrings.xml", strings, "xl/worksheets/sheet1.xml", sheet1,
		"xl/worksheets/sheet2.xml", sheet2};
	size_t		len;
	char	   *data = make_xlsx(parts, 5, &len);
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	char	  **c;
	long		row;
	int			n;

	OK(xlsx_looks_like(data, len), "synthetic workbook looks like a zip");
	x = xlsx_open(data, len, "Data", err, sizeof(err), &kind);
	OK(x != NULL, "opened synthetic workbook (%s)", x ? "ok" : err);
	if (x == NULL)
		return;
	IS_STR(xlsx_sheet_name(x), "Data", "named sheet chosen");
	n = xlsx_next(x, &c, &row);
	OK(n == 4 && row == 2, "row 2 has 4 columns (got %d, row %ld)", n, row);
	IS_STR(c[0], "", "missing cell A2 is empty");
	IS_STR(c[1], "plain", "shared string");
	IS_STR(c[3], "rich text", "rich text runs joined, phonetic run dropped");
	n = xlsx_next(x, &c, &row);
	OK(n == 6 && row == 4, "empty row 3 skipped; row 4 has 6 columns");
	IS_STR(c[0], "0.46338", "Excel float noise shown as Excel shows it");
	IS_STR(c[1], "TRUE", "boolean cell");
	IS_STR(c[2], "#N/A", "error cell kept as text");
	IS_STR(c[3], "formula", "formula string result");
	IS_STR(c[4], "inline", "inline string");
	IS_STR(c[5], " spaced ", "preserved spaces");
	n = xlsx_next(x, &c, &row);
	OK(n == 3 && row == 5, "row without r= numbered after the previous");
	IS_STR(c[0], "0.00008", "small number as plain decimal, not 8e-05");
	IS_STR(c[1], "1041.8", "plain number");
	IS_STR(c[2], "-12", "negative integer");
	n = xlsx_next(x, &c, &row);
	OK(n == 27 && row == 9, "column AA is index 26");
	IS_STR(c[26], "3", "value in AA9");
	OK(xlsx_next(x, &c, &row) == 0, "end of sheet");
	xlsx_close(x);

	x = xlsx_open(data, len, "No such sheet", err, sizeof(err), &kind);
	OK(x != NULL && strcmp(xlsx_sheet_name(x), "Front page") == 0, "unknown sheet name falls back to the first sheet");
	xlsx_close(x);

	/* a sheet cut off mid-row */
	{
		const char *const bad[] = {
			"xl/workbook.xml", workbook, "xl/_rels/workbook.xml.rels", rels,
			"xl/worksheets/sheet1.xml", sheet1,
			"xl/worksheets/sheet2.xml", "<worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>1</v>"};
		size_t blen;
		char  *b = make_xlsx(bad, 4, &blen);

		x = xlsx_open(b, blen, "Data", err, sizeof(err), &kind);
		OK(x != NULL, "workbook with a cut-off sheet opens");
		n = x ? xlsx_next(x, &c, &row) : 0;
		OK(n < 0, "cut-off sheet is an error: %s", x ? xlsx_error(x) : "");
		xlsx_close(x);
		free(b);
	}
	/* a shared-string index out of range */
	{
		const char *const bad[] = {
			"xl/workbook.xml", workbook, "xl/_rels/workbook.xml.rels", rels,
			"xl/worksheets/sheet2.xml", "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>7</v></c></row></sheetData></worksheet>"};
		size_t blen;
		char  *b = make_xlsx(bad, 3, &blen);

		x = xlsx_open(b, blen, "Data", err, sizeof(err), &kind);
		n = x ? xlsx_next(x, &c, &row) : 0;
		OK(n < 0 && strstr(xlsx_error(x), "shared string") != NULL, "bad shared-string index: %s",
		   x ? xlsx_error(x) : err);
		xlsx_close(x);
		free(b);
	}
	free(data);
}

static void
test_format(void)
{
	char b[64];

	xlsx_format_number(0.46337999999999996, b, sizeof(b));
	IS_STR(b, "0.46338", "format: float noise");
	xlsx_format_number(3033.3806699999996, b, sizeof(b));
	IS_STR(b, "3033.38067", "format: large");
	xlsx_format_number(1e-05, b, sizeof(b));
	IS_STR(b, "0.00001", "format: 1e-05");
	xlsx_format_number(123456789012345678.0, b, sizeof(b));
	IS_STR(b, "123456789012346000", "format: 15 significant digits");
	xlsx_format_number(0, b, sizeof(b));
	IS_STR(b, "0", "format: zero");
	xlsx_format_number(-0.5, b, sizeof(b));
	IS_STR(b, "-0.5", "format: negative");
	xlsx_format_number(100, b, sizeof(b));
	IS_STR(b, "100", "format: integer");
}

/*
 * The text of m / 10^k (m of at most 15 digits, so that it is the General
 * text Excel holds) rounded half away from zero to d decimals and written
 * with exactly d of them: integer arithmetic, independent of the reader's
 * digit-string rounding.  d < 0: General (trailing zeros of the fraction
 * dropped).
 */
static void
expected_fixed(long long m, int k, int d, char *out, size_t len)
{
	int				   negative = m < 0;
	unsigned long long a = (unsigned long long) (negative ? -m : m);
	unsigned long long p10 = 1;
	unsigned long long q;
	char			   digits[64];
	int				   nd,
		intlen,
		i;
	size_t o = 0;

	if (d < 0)
	{
		/* General: the number's own decimals, trailing zeros gone */
		d = k;
		while (d > 0 && a % 10 == 0)
		{
			a /= 10;
			d--;
		}
		k = d;
	}
	if (d >= k)
	{
		/* the digits as they are, then zeros (no multiplication: 15 digits and 6 zeros pass 2^64) */
		nd = snprintf(digits, sizeof(digits), "%0*llu", k + 1, a);
		q = a;
		for (i = k; i < d; i++)
			digits[nd++] = '0';
		digits[nd] = '\0';
	}
	else
	{
		for (i = d; i < k; i++)
			p10 *= 10;
		q = a / p10 + (2 * (a % p10) >= p10 ? 1 : 0);
		nd = snprintf(digits, sizeof(digits), "%0*llu", d + 1, q);
	}
	intlen = nd - d;
	if (negative && q != 0)
		out[o++] = '-';
	for (i = 0; i < intlen; i++)
		out[o++] = digits[i];
	if (d > 0)
		out[o++] = '.';
	for (i = intlen; i < nd && o + 1 < len; i++)
		out[o++] = digits[i];
	out[o] = '\0';
}

/*
 * A number is written as its cell's number format shows it, trailing zeros
 * included (issue 14: the figure as published, 0.18400 not 0.184): the
 * decimals of the formats the flat files use, and thousands of generated
 * values under each, checked against expected_fixed.
 */
static void
test_fixed(void)
{
	static const struct
	{
		const char *code;
		int			decimals;
	} formats[] = {
		{"General", -1},
		{"0", 0},
		{"0.0", 1},
		{"0.000", 3},
		{"0.00000", 5},
		{"#,##0", 0},
		{"#,##0.0", 1},
		{"#,##0.00000", 5},
		{"0.000000", 6},
		{"0.00%", -1},
		{"0.00E+00", -1},
		{"@", -1},
		{"\"kg\" 0.00", 2},
	};
	char			   b[64];
	char			   want[64];
	char			   got[64];
	char			   text[64];
	unsigned long long seed = 14;
	int				   f;

	for (f = 0; f < (int) (sizeof(formats) / sizeof(formats[0])); f++)
		OK(xlsx_format_decimals(formats[f].code) == formats[f].decimals, "format %s shows %d decimals (got %d)",
		   formats[f].code, formats[f].decimals, xlsx_format_decimals(formats[f].code));

	/* the issue's vectors, and the edges of rounding */
	xlsx_format_fixed(0.1839968181812754, 5, b, sizeof(b));
	IS_STR(b, "0.18400", "2016 natural gas Gross CV under 0.00000: 0.18400, trailing zeros kept");
	xlsx_format_fixed(0.35155787, 5, b, sizeof(b));
	IS_STR(b, "0.35156", "rounded to 5 decimals");
	xlsx_format_fixed(0, 5, b, sizeof(b));
	IS_STR(b, "0.00000", "zero under 0.00000");
	xlsx_format_fixed(0, 0, b, sizeof(b));
	IS_STR(b, "0", "zero under 0");
	xlsx_format_fixed(0, -1, b, sizeof(b));
	IS_STR(b, "0", "zero in General");
	xlsx_format_fixed(-0.000001, 5, b, sizeof(b));
	IS_STR(b, "0.00000", "a negative that rounds to zero has no sign");
	xlsx_format_fixed(0.999996, 5, b, sizeof(b));
	IS_STR(b, "1.00000", "a carry into the units");
	xlsx_format_fixed(-9.95, 1, b, sizeof(b));
	IS_STR(b, "-10.0", "half away from zero, with a carry into a new digit");
	xlsx_format_fixed(2088, 5, b, sizeof(b));
	IS_STR(b, "2088.00000", "an integer under 0.00000");
	xlsx_format_fixed(0.46337999999999996, 3, b, sizeof(b));
	IS_STR(b, "0.463", "float noise, then 3 decimals");
	xlsx_format_fixed(0.1, 40, b, sizeof(b));
	IS_STR(b, "0.1000000000000000000000000000000000000000", "40 decimals (the most honoured)");
	xlsx_format_fixed(1e15, 2, b, sizeof(b));
	IS_STR(b, "1000000000000000", "1e15 and more as General");

	/* generated: 4,000 values of 1 to 15 digits, 0 to 16 decimals, either sign, under each format */
	for (f = 0; f < (int) (sizeof(formats) / sizeof(formats[0])); f++)
	{
		int	 d = formats[f].decimals;
		long bad = 0;
		int	 i;

		want[0] = got[0] = text[0] = '\0';
		for (i = 0; i < 4000; i++)
		{
			long long m = 0;
			int		  ndig,
				k,
				j;
			double v;
			char   w[64];

			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			ndig = 1 + (int) ((seed >> 33) % 15);
			k = (int) ((seed >> 40) % 17);
			for (j = 0; j < ndig; j++)
			{
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				m = m * 10 + (long long) ((seed >> 33) % 10);
			}
			/* a fifth of them end in 5 or in zeros: ties and trailing zeros */
			if (i % 5 == 1)
				m = m - m % 10 + 5;
			else if (i % 5 == 2)
				m = m - m % 1000;
			if (i % 2)
				m = -m;
			/* the decimal text of m / 10^k, read as a double as Excel reads it */
			expected_fixed(m, k, k, w, sizeof(w));
			v = strtod(w, NULL);
			expected_fixed(m, k, d, w, sizeof(w));
			xlsx_format_fixed(v, d, b, sizeof(b));
			if (strcmp(b, w) != 0 && bad++ == 0)
			{
				snprintf(want, sizeof(want), "%s", w);
				snprintf(got, sizeof(got), "%s", b);
				expected_fixed(m, k, k, text, sizeof(text));
			}
		}
		OK(bad == 0, "format %s: 4000 generated values as the format shows them (%ld differ; first %s: got %s, want %s)",
		   formats[f].code, bad, text, got, want);
	}
}

static void
test_real(const char *file, const char *first_data_row_cell, int value_col, long expect_rows)
{
	size_t		len;
	char	   *data = slurp(fixture(file), &len);
	char		err[XLSX_ERRLEN];
	XlsxReader *x = xlsx_open(data, len, "Factors by Category", err, sizeof(err), &kind);
	char	  **c;
	long		row;
	int			n;
	long		rows = 0;
	int			saw = 0;

	OK(x != NULL, "%s opens (%s)", file, x ? "ok" : err);
	if (x == NULL)
		return;
	IS_STR(xlsx_sheet_name(x), "Factors by Category", "%s: the factor sheet, not the others", file);
	while ((n = xlsx_next(x, &c, &row)) > 0)
	{
		rows++;
		if (!saw && n > value_col && strcmp(c[value_col], first_data_row_cell) == 0)
			saw = 1;
	}
	OK(n == 0, "%s read to the end", file);
	OK(saw, "%s: first factor value %s present", file, first_data_row_cell);
	OK(rows == expect_rows, "%s: %ld rows with cells (want %ld)", file, rows, expect_rows);
	xlsx_close(x);

	/* truncated: every prefix length class must fail cleanly */
	{
		size_t cuts[] = {10, len / 3, len / 2, len - 100};
		int	   i;

		for (i = 0; i < 4; i++)
		{
			x = xlsx_open(data, cuts[i], "Factors by Category", err, sizeof(err), &kind);
			if (x != NULL)
			{
				while ((n = xlsx_next(x, &c, &row)) > 0)
					;
				OK(n < 0, "%s cut to %zu bytes: error while reading (%s)", file, cuts[i], xlsx_error(x));
				xlsx_close(x);
			}
			else
				OK(strlen(err) > 10, "%s cut to %zu bytes: refused (%s)", file, cuts[i], err);
		}
	}
	free(data);
}

/*
 * A workbook with the test's workbook.xml and rels, sheet1, and strings_xml
 * and sheet2_xml as its shared strings and "Data" sheet (either may be NULL:
 * left out), and the part bomb_name made by bomb instead of the one of that
 * name.  Returns the archive (malloc'd), its size in *zlen.
 */
static char *
make_bomb(const char *strings_xml, const char *sheet2_xml, const char *bomb_name, ZipRepeat *bomb, size_t *zlen)
{
	const char *parts[10];
	int			n = 0;

#define PART(name, text)                                      \
	do                                                        \
	{                                                         \
		if ((text) != NULL && strcmp((name), bomb_name) != 0) \
		{                                                     \
			parts[2 * n] = (name);                            \
			parts[2 * n + 1] = (text);                        \
			n++;                                              \
		}                                                     \
	} while (0)
	PART("xl/workbook.xml", workbook);
	PART("xl/_rels/workbook.xml.rels", rels);
	PART("xl/worksheets/sheet1.xml", sheet1);
	PART("xl/sharedStrings.xml", strings_xml);
	PART("xl/worksheets/sheet2.xml", sheet2_xml);
#undef PART
	return make_xlsx_bomb(parts, n, bomb_name, bomb, zlen);
}

/* Read rows to the end; the last xlsx_next result. */
static int
read_rows(XlsxReader *x, long *rows)
{
	char **c;
	long   row;
	int	   n;

	*rows = 0;
	while ((n = xlsx_next(x, &c, &row)) > 0)
		(*rows)++;
	return n;
}

/* Row numbers outside Excel's 1 to 1,048,576 (a huge r= overflowed the next row's number). */
static void
test_row_numbers(void)
{
	static const char *const sheets[] = {
		"<worksheet><sheetData><row r=\"9223372036854775807\"><c><v>1</v></c></row><row><c><v>2</v></c></row></sheetData></worksheet>",
		"<worksheet><sheetData><row r=\"0\"><c><v>1</v></c></row></sheetData></worksheet>",
		"<worksheet><sheetData><row r=\"1048576\"><c><v>1</v></c></row><row><c><v>2</v></c></row></sheetData></worksheet>"};
	static const char *const want[] = {
		"sheet \"Data\" has a row numbered \"9223372036854775807\"; rows are numbered 1 to 1048576",
		"sheet \"Data\" has a row numbered \"0\"; rows are numbered 1 to 1048576",
		"sheet \"Data\" has more than 1048576 rows, the most a sheet may have (Excel's limit); if the workbook is genuine, save the sheet as CSV and load that"};
	static const ReadError kinds[] = {READ_MALFORMED, READ_MALFORMED, READ_LIMIT};
	int					   i;

	for (i = 0; i < 3; i++)
	{
		size_t		len;
		char	   *data = make_bomb("<sst/>", sheets[i], "", NULL, &len);
		char		err[XLSX_ERRLEN];
		XlsxReader *x = xlsx_open(data, len, "Data", err, sizeof(err), &kind);
		char	  **c;
		long		row = 0;
		int			n = x ? xlsx_next(x, &c, &row) : -2;

		/* the last sheet's first row, 1,048,576, is read; the one after it is not */
		if (i == 2 && n == 1 && row == XLSX_MAX_ROWS)
			n = xlsx_next(x, &c, &row);
		OK(n == -1 && xlsx_error_kind(x) == kinds[i], "row numbers: sheet %d refused", i + 1);
		IS_STR(x ? xlsx_error(x) : err, want[i], "row numbers: sheet %d, the message", i + 1);
		xlsx_close(x);
		free(data);
	}
}

static const char *one_cell_sheet =
	"<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row></sheetData></worksheet>";

/* A sheet that decompresses past XLSX_MAX_PART_BYTES: refused at the cap, never held. */
static void
test_part_bomb(void)
{
	static char body[64 * 1024 + 8];
	ZipRepeat	bomb = {"<worksheet><sheetData>", body, 4800, "</sheetData></worksheet>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	long long	mark;
	long		rows;

	/* 64 kB of blanks and an empty row, 4,800 times: 300 MB of well-formed XML */
	memset(body, ' ', 64 * 1024);
	strcpy(body + 64 * 1024, "<row/>");
	data = make_bomb("<sst/>", NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	mark = heap_mark();
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x != NULL, "a %zu-byte workbook whose sheet is %zu bytes opens (the sheet is streamed)", zlen,
	   zip_repeat_size(&bomb));
	OK(x != NULL && read_rows(x, &rows) == -1 && xlsx_error_kind(x) == READ_LIMIT,
	   "reading the sheet is refused as over a limit");
	IS_STR(x ? xlsx_error(x) : err,
		   "part \"xl/worksheets/sheet2.xml\" of the workbook decompresses to more than 268435456 bytes, the most one part may hold (a real factor sheet holds under 30 MB); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the part and the cap");
	OK(heap_peak_since(mark) < 16 * 1024 * 1024, "the sheet was never held: at most %zu bytes on the heap",
	   heap_peak_since(mark));
	xlsx_close(x);
	free(data);
}

/*
 * A 50 MB sheet of 256,000-byte runs of blanks between rows: libxml2 2.9's
 * reader, handed 4 kB a read, kept all of it (98 MB).  Read whole, holding
 * little.
 */
static void
test_xml_buffering(void)
{
	static char body[256000 + 64];
	ZipRepeat	bomb = {"<worksheet><sheetData>", body, 200, "</sheetData></worksheet>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	long long	mark;
	long		rows = 0;
	int			n;

	memset(body, ' ', 256000);
	strcpy(body + 256000, "<row><c><v>1</v></c></row>");
	data = make_bomb("<sst/>", NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	mark = heap_mark();
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	n = x ? read_rows(x, &rows) : -1;
	OK(n == 0 && rows == 200, "a sheet of %zu bytes in 256 kB runs is read whole (%ld rows)", zip_repeat_size(&bomb),
	   rows);
	OK(heap_peak_since(mark) < 4 * 1024 * 1024, "holding at most a few of its runs at once (%zu bytes)",
	   heap_peak_since(mark));
	xlsx_close(x);
	free(data);
}

/*
 * The reported bomb: shared strings that decompress to 1 GB (10,000 strings
 * of 100 kB) from an archive of about 1 MB.  Refused at the 64 MB cap on
 * their text: 655 strings of 102,401 bytes (text and NUL) fit, the 656th
 * (string 655, counting from 0 as cells do) does not.
 */
static void
test_shared_strings_bomb(void)
{
	static char body[100 * 1024 + 32];
	ZipRepeat	bomb = {"<sst>", body, 10000, "</sst>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	long long	mark;

	strcpy(body, "<si><t>");
	memset(body + 7, 'a', 100 * 1024);
	strcpy(body + 7 + 100 * 1024, "</t></si>");
	data = make_bomb(NULL, one_cell_sheet, "xl/sharedStrings.xml", &bomb, &zlen);
	mark = heap_mark();
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x == NULL && kind == READ_LIMIT, "a %zu-byte workbook with %zu bytes of shared strings is refused as over a limit",
	   zlen, zip_repeat_size(&bomb));
	IS_STR(err,
		   "the shared strings in xl/sharedStrings.xml pass 67108864 bytes of text at string 655, the most a workbook may hold (real factor workbooks hold under 1 MB); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the part, the cap and the string");
	OK(heap_peak_since(mark) < XLSX_MEMORY_BUDGET, "holding less than the reader's budget at any time (%zu bytes)",
	   heap_peak_since(mark));
	xlsx_close(x);
	free(data);
}

/* More than XLSX_MAX_SHARED_STRINGS empty strings: the count cap, 5 bytes of XML a string. */
static void
test_shared_strings_count(void)
{
	ZipRepeat	bomb = {"<sst>", "<si/>", XLSX_MAX_SHARED_STRINGS, "<si><t>one too many</t></si></sst>", 0, 0};
	size_t		zlen;
	char	   *data = make_bomb(NULL, one_cell_sheet, "xl/sharedStrings.xml", &bomb, &zlen);
	char		err[XLSX_ERRLEN];
	XlsxReader *x;

	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x == NULL && kind == READ_LIMIT, "4,194,305 shared strings are refused as over a limit");
	IS_STR(err,
		   "xl/sharedStrings.xml has more than 4194304 shared strings, the most a workbook may have (real factor workbooks have under 20,000); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the part and the cap");
	xlsx_close(x);
	free(data);

	/* exactly the cap is read */
	bomb.tail = "</sst>";
	data = make_bomb(NULL, one_cell_sheet, "xl/sharedStrings.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x != NULL, "4,194,304 shared strings are read (%s)", x ? "ok" : err);
	xlsx_close(x);
	free(data);
}

/* One shared string at and past XLSX_MAX_STRING_BYTES, in runs of 1 kB. */
static void
test_long_string(void)
{
	static char run[1024 + 16];
	ZipRepeat	bomb = {"<sst><si><t>x</t></si><si>", run, 128, "</si></sst>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	char	  **c;
	long		row;

	strcpy(run, "<r><t>");
	memset(run + 6, 'a', 1024);
	strcpy(run + 6 + 1024, "</t></r>");
	/* 128 runs of 1 kB: exactly the cap, read; cell A1 names string 1 */
	data = make_bomb(NULL,
					 "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>1</v></c></row></sheetData></worksheet>",
					 "xl/sharedStrings.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x != NULL && xlsx_next(x, &c, &row) == 1 && strlen(c[0]) == XLSX_MAX_STRING_BYTES,
	   "a shared string of exactly %zu bytes is read whole", XLSX_MAX_STRING_BYTES);
	xlsx_close(x);
	free(data);

	/* one run more */
	bomb.reps = 129;
	data = make_bomb(NULL, one_cell_sheet, "xl/sharedStrings.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x == NULL && kind == READ_LIMIT, "a shared string of %zu bytes is refused as over a limit",
	   (size_t) 129 * 1024);
	IS_STR(err,
		   "shared string 1 in xl/sharedStrings.xml is longer than 131072 bytes, the most one string may be (Excel's limit is 32,767 characters); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the string, its part and the cap");
	xlsx_close(x);
	free(data);
}

/*
 * A cell value past XLSX_MAX_STRING_BYTES in pieces that libxml2 would have
 * joined without limit (text between comments), and an inline string.
 */
static void
test_long_cell(void)
{
	static char piece[64 * 1024 + 16];
	ZipRepeat	bomb = {"<worksheet><sheetData><row r=\"7\"><c r=\"A7\"><v>1</v></c><c r=\"AB7\" t=\"str\"><v>", piece,
						3, "</v></c></row></sheetData></worksheet>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	char	  **c;
	long		row;
	int			n;

	memset(piece, 'a', 64 * 1024);
	strcpy(piece + 64 * 1024, "<!---->");
	data = make_bomb("<sst/>", NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x != NULL && xlsx_next(x, &c, &row) == -1 && xlsx_error_kind(x) == READ_LIMIT,
	   "a cell of 192 kB of text is refused as over a limit");
	IS_STR(x ? xlsx_error(x) : err,
		   "cell AB7 of sheet \"Data\" holds more than 131072 bytes of text, the most one cell may (Excel's limit is 32,767 characters); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the cell, its sheet and the cap");
	xlsx_close(x);
	free(data);

	bomb.head = "<worksheet><sheetData><row r=\"2\"><c r=\"XFD2\" t=\"inlineStr\"><is><t>";
	bomb.tail = "</t></is></c></row></sheetData></worksheet>";
	strcpy(piece + 64 * 1024, "</t><t>");
	data = make_bomb("<sst/>", NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	n = x ? xlsx_next(x, &c, &row) : 0;
	OK(n == -1 && xlsx_error_kind(x) == READ_LIMIT, "so is an inline string of 192 kB in runs");
	IS_STR(x ? xlsx_error(x) : err,
		   "cell XFD2 of sheet \"Data\" holds more than 131072 bytes of text, the most one cell may (Excel's limit is 32,767 characters); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the cell, the last column");
	xlsx_close(x);
	free(data);
}

/*
 * A row of 16,384 cells all naming one 100 kB shared string: 1.6 GB of row
 * from a sheet of about 600 kB.  Refused at XLSX_MAX_ROW_BYTES: 163 copies
 * of 102,401 bytes fit in 16 MB, the 164th (column FH) does not.
 */
static void
test_row_bomb(void)
{
	static char strings[100 * 1024 + 32];
	ZipRepeat	bomb = {"<worksheet><sheetData><row r=\"3\">", "<c t=\"s\"><v>0</v></c>", XLSX_MAX_COLUMNS,
						"</row></sheetData></worksheet>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	char	  **c;
	long		row;
	long long	mark;

	strcpy(strings, "<sst><si><t>");
	memset(strings + 12, 'a', 100 * 1024);
	strcpy(strings + 12 + 100 * 1024, "</t></si></sst>");
	data = make_bomb(strings, NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	mark = heap_mark();
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	OK(x != NULL && xlsx_next(x, &c, &row) == -1 && xlsx_error_kind(x) == READ_LIMIT,
	   "a row of 16,384 copies of a 100 kB string is refused as over a limit");
	IS_STR(x ? xlsx_error(x) : err,
		   "row 3 of sheet \"Data\" holds more than 16777216 bytes of text, the most one row may (real factor rows hold under 2 kB); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the row, its sheet and the cap");
	OK(heap_peak_since(mark) < 2 * XLSX_MAX_ROW_BYTES, "holding less than twice the cap, the row buffer's last doubling (%zu bytes)",
	   heap_peak_since(mark));
	xlsx_close(x);
	free(data);
}

/* An archive past XLSX_MAX_FILE_BYTES, and an index part past XLSX_MAX_INDEX_PART: refused unread. */
static void
test_file_caps(void)
{
	size_t	  len = XLSX_MAX_FILE_BYTES + 1;
	char	 *big = calloc(1, len);
	char	  err[XLSX_ERRLEN];
	ZipRepeat bomb = {"<workbook xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
					  "<sheets><sheet name=\"Data\" r:id=\"rId2\"/></sheets>",
					  "<x/>", XLSX_MAX_INDEX_PART / 4, "</workbook>", 0, 0};
	size_t	  zlen;
	char	 *data;
	long long mark;

	memcpy(big, "PK\003\004", 4);
	mark = heap_mark();
	OK(xlsx_open(big, len, "Data", err, sizeof(err), &kind) == NULL && kind == READ_LIMIT,
	   "a 32 MB + 1 byte archive is refused as over a limit");
	IS_STR(err,
		   "the workbook is 33554433 bytes, more than the 33554432 an .xlsx file may be (the published factor workbooks are under 10 MB); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message gives the size and the cap");
	OK(heap_peak_since(mark) < 4096, "before libzip reads it (%zu bytes held)", heap_peak_since(mark));
	free(big);

	data = make_bomb("<sst/>", one_cell_sheet, "xl/workbook.xml", &bomb, &zlen);
	mark = heap_mark();
	OK(xlsx_open(data, zlen, "Data", err, sizeof(err), &kind) == NULL && kind == READ_LIMIT,
	   "a workbook.xml of %zu bytes is refused as over a limit", zip_repeat_size(&bomb));
	IS_STR(err,
		   "part \"xl/workbook.xml\" of the workbook decompresses to more than 16777216 bytes, the most such a part may hold (real ones hold a few kB); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the part and the cap");
	OK(heap_peak_since(mark) < 1024 * 1024, "without holding it (%zu bytes held)", heap_peak_since(mark));
	free(data);
}

/*
 * One XML node past XLSX_MAX_NODE_BYTES: an entity reference left open ('&'
 * and 600 kB without ';'), which libxml2 rescans from its start as data
 * arrives.  And the longest text Excel writes in a cell, every character
 * escaped (196 kB of &quot;), which is read.
 */
static void
test_node_cap(void)
{
	static char run[1024 + 1];
	ZipRepeat	bomb = {"<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"str\"><v>&", run, 600,
						"</v></c></row></sheetData></worksheet>", 0, 0};
	size_t		zlen;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	char	  **c;
	long		row;
	int			n;

	memset(run, 'a', 1024);
	data = make_bomb("<sst/>", NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	n = x ? xlsx_next(x, &c, &row) : 0;
	OK(n == -1 && xlsx_error_kind(x) == READ_LIMIT, "an entity reference left open for 600 kB is refused as over a limit");
	IS_STR(x ? xlsx_error(x) : err,
		   "part \"xl/worksheets/sheet2.xml\" of the workbook has more than 524288 bytes in one XML node (a text or a tag), the most one may hold (the longest text Excel writes in a cell takes under 200 kB); if the workbook is genuine, save the sheet as CSV and load that",
		   "the message names the part and the cap");
	xlsx_close(x);
	free(data);

	bomb.head = "<worksheet><sheetData><row r=\"1\"><c r=\"B1\" t=\"inlineStr\"><is><t>";
	bomb.body = "&quot;";
	bomb.reps = 32767;
	bomb.tail = "</t></is></c></row></sheetData></worksheet>";
	data = make_bomb("<sst/>", NULL, "xl/worksheets/sheet2.xml", &bomb, &zlen);
	x = xlsx_open(data, zlen, "Data", err, sizeof(err), &kind);
	n = x ? xlsx_next(x, &c, &row) : 0;
	OK(n == 2 && strlen(c[1]) == 32767 && c[1][0] == '"' && c[1][32766] == '"',
	   "32,767 escaped characters in one cell (196 kB of XML) are read");
	xlsx_close(x);
	free(data);
}

/*
 * A tag of more than XLSX_MAX_ATTRIBUTES attributes (libxml2 would compare
 * them pairwise: 60,000 take half a minute), refused before libxml2 parses
 * it; and document type declarations, whose attribute defaults cost the
 * same on every element.
 */
static void
test_attributes_and_doctype(void)
{
	static char		  sheet[64 * 1024];
	const char *const doctypes[] = {
		"<!DOCTYPE worksheet [<!ATTLIST c a0 CDATA 'x' a1 CDATA 'x'>]><worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>1</v></c></row></sheetData></worksheet>",
		"<?xml version=\"1.0\"?><!DOCTYPE worksheet><worksheet/>"};
	size_t		len;
	char	   *data;
	char		err[XLSX_ERRLEN];
	XlsxReader *x;
	char	  **c;
	long		row;
	int			n;
	int			i;
	int			attrs;

	for (attrs = XLSX_MAX_ATTRIBUTES; attrs <= XLSX_MAX_ATTRIBUTES + 1; attrs++)
	{
		size_t o = (size_t) snprintf(sheet, sizeof(sheet), "<worksheet><sheetData><row r=\"1\"><c r=\"A1\"");

		for (i = 1; i < attrs; i++)
			o += (size_t) snprintf(sheet + o, sizeof(sheet) - o, " a%d='>'", i);
		snprintf(sheet + o, sizeof(sheet) - o, "><v>1</v></c></row></sheetData></worksheet>");
		data = make_bomb("<sst/>", sheet, "", NULL, &len);
		x = xlsx_open(data, len, "Data", err, sizeof(err), &kind);
		n = x ? xlsx_next(x, &c, &row) : -2;
		if (attrs == XLSX_MAX_ATTRIBUTES)
			OK(n == 1 && strcmp(c[0], "1") == 0, "a cell with %d attributes is read", attrs);
		else
		{
			OK(n == -1 && xlsx_error_kind(x) == READ_LIMIT, "a cell with %d attributes is refused as over a limit", attrs);
			IS_STR(x ? xlsx_error(x) : err,
				   "part \"xl/worksheets/sheet2.xml\" of the workbook has a tag with more than 256 attributes, the most one may have (real ones have under 30); if the workbook is genuine, save the sheet as CSV and load that",
				   "the message names the part and the cap");
		}
		xlsx_close(x);
		free(data);
	}

	for (i = 0; i < 2; i++)
	{
		data = make_bomb("<sst/>", doctypes[i], "", NULL, &len);
		x = xlsx_open(data, len, "Data", err, sizeof(err), &kind);
		n = x ? xlsx_next(x, &c, &row) : -2;
		OK(n == -1 && xlsx_error_kind(x) == READ_MALFORMED, "a sheet with a document type declaration is refused (%d)", i + 1);
		IS_STR(x ? xlsx_error(x) : err,
			   "part \"xl/worksheets/sheet2.xml\" of the workbook has a document type declaration (<!DOCTYPE>), which workbook parts never have: the file is not a genuine workbook",
			   "the message names the part (%d)", i + 1);
		xlsx_close(x);
		free(data);
	}
}

/* Entity expansion ("billion laughs") in the shared strings: its DTD is refused; nothing is expanded. */
static void
test_entities(void)
{
	const char *laughs =
		"<?xml version=\"1.0\"?><!DOCTYPE sst [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
		"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
		"<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
		"<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]>"
		"<sst><si><t>&i;&i;&i;&i;&i;&i;&i;&i;&i;&i;</t></si></sst>";
	size_t		len;
	char	   *data = make_bomb(laughs, one_cell_sheet, "", NULL, &len);
	char		err[XLSX_ERRLEN];
	long long	mark = heap_mark();
	XlsxReader *x = xlsx_open(data, len, "Data", err, sizeof(err), &kind);

	OK(x == NULL && kind == READ_MALFORMED, "10^9 entity expansions in the shared strings are refused as malformed");
	IS_STR(err,
		   "part \"xl/sharedStrings.xml\" of the workbook has a document type declaration (<!DOCTYPE>), which workbook parts never have: the file is not a genuine workbook",
		   "at their document type declaration, before libxml2 reads it");
	OK(heap_peak_since(mark) < 4 * 1024 * 1024, "holding at most a few MB (%zu bytes)", heap_peak_since(mark));
	xlsx_close(x);
	free(data);
}

int
main(void)
{
	char err[XLSX_ERRLEN];

	test_format();
	test_fixed();
	test_synthetic();
	OK(xlsx_open("not a zip at all", 16, NULL, err, sizeof(err), &kind) == NULL && strstr(err, "not a readable .xlsx") != NULL,
	   "non-zip bytes refused: %s", err);
	/* 2022: rows 1, 2, 4 and the header (5) have cells, then 8,038 data rows */
	test_real("desnz_flatfile/ghg-conversion-factors-2022-flat-format.xlsx", "0.46338", 8, 4 + 8038);
	/* 2024: rows 1, 2, 3, 5 and the header (6) have cells */
	test_real("desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx", "3033.38067", 9, 5 + 8741);
	/* 2021: rows 1, 2, 4 and the header have cells; row 3 is empty; 0.2224 under 0.00000 (Excel's own CSV export says 0,22240) */
	test_real("desnz_flatfile/ghg-conversion-factors-2021.excel-resave.xlsx", "0.22240", 10, 4 + 7606);
	test_row_numbers();
	test_part_bomb();
	test_xml_buffering();
	test_shared_strings_bomb();
	test_shared_strings_count();
	test_long_string();
	test_long_cell();
	test_row_bomb();
	test_file_caps();
	test_node_cap();
	test_attributes_and_doctype();
	test_entities();
	printf("# unit tests done: xlsx\n");
	return tap_done();
}
