/* Unit tests of the xlsx reader (src/xlsx.c). */
#include "tap.h"
#include "xlsx.h"

#include "zipmem.h"

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
	x = xlsx_open(data, len, "Data", err, sizeof(err));
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

	x = xlsx_open(data, len, "No such sheet", err, sizeof(err));
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

		x = xlsx_open(b, blen, "Data", err, sizeof(err));
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

		x = xlsx_open(b, blen, "Data", err, sizeof(err));
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

static void
test_real(const char *file, const char *first_data_row_cell, int value_col, long expect_rows)
{
	size_t		len;
	char	   *data = slurp(fixture(file), &len);
	char		err[XLSX_ERRLEN];
	XlsxReader *x = xlsx_open(data, len, "Factors by Category", err, sizeof(err));
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
			x = xlsx_open(data, cuts[i], "Factors by Category", err, sizeof(err));
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

int
main(void)
{
	char err[XLSX_ERRLEN];

	test_format();
	test_synthetic();
	OK(xlsx_open("not a zip at all", 16, NULL, err, sizeof(err)) == NULL && strstr(err, "not a readable .xlsx") != NULL,
	   "non-zip bytes refused: %s", err);
	/* 2022: rows 1, 2, 4 and the header (5) have cells, then 8,038 data rows */
	test_real("desnz_flatfile/ghg-conversion-factors-2022-flat-format.xlsx", "0.46338", 8, 4 + 8038);
	/* 2024: rows 1, 2, 3, 5 and the header (6) have cells */
	test_real("desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx", "3033.38067", 9, 5 + 8741);
	/* 2021: rows 1, 2, 4 and the header have cells; row 3 is empty */
	test_real("desnz_flatfile/ghg-conversion-factors-2021.excel-resave.xlsx", "0.2224", 10, 4 + 7606);
	printf("# unit tests done: xlsx\n");
	return tap_done();
}
