/*
 * libFuzzer target: the xlsx reader's XML handling.  The input becomes one
 * part of an otherwise valid workbook, zipped in memory: the sheet, the shared
 * strings, or the workbook list (chosen by the first byte), so the fuzzer
 * spends its time in our parsing rather than in libzip's checksums.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../unit/zipmem.h"
#include <libxml/parser.h>
#include "xlsx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *workbook =
	"<workbook xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
	"<sheet name=\"Factors by Category\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char *rels = "<Relationships><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/></Relationships>";
static const char *strings = "<sst><si><t>a</t></si><si><r><t>b</t></r><rPh><t>c</t></rPh></si></sst>";
static const char *sheet = "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>1</v></c><c r=\"B1\"><v>0.5</v></c></row></sheetData></worksheet>";

static void
Quiet(void *ctx, const char *msg, ...)
{
	(void) ctx;
	(void) msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *parts[8] = {"xl/workbook.xml", workbook, "xl/_rels/workbook.xml.rels", rels,
							"xl/sharedStrings.xml", strings, "xl/worksheets/sheet1.xml", sheet};
	char		err[XLSX_ERRLEN];
	char	   *text;
	char	   *zipped;
	size_t		zlen;
	XlsxReader *x;
	char	  **cells;
	long		row;
	ReadError	kind;

	if (size < 1)
		return 0;
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	parts[data[0] % 3 == 0 ? 7 : data[0] % 3 == 1 ? 5
												  : 1] = text;
	xmlSetGenericErrorFunc(NULL, Quiet);
	zipped = make_xlsx(parts, 4, &zlen);
	x = xlsx_open(zipped, zlen, "Factors by Category", err, sizeof(err), &kind);
	if (x != NULL)
	{
		while (xlsx_next(x, &cells, &row) > 0)
			;
		xlsx_close(x);
	}
	free(zipped);
	free(text);
	return 0;
}
