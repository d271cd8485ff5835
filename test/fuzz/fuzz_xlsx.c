/*
 * libFuzzer target: the xlsx reader's XML handling.  The input becomes one
 * part of an otherwise valid workbook, zipped in memory: the sheet, the
 * shared strings, or the workbook list (chosen by the first byte modulo 3),
 * so the fuzzer spends its time in our parsing rather than in libzip's
 * checksums.
 *
 * Built with FUZZ_BOMBS=1 (the xlsxbomb target) the part is a bomb, for the
 * reader's caps: the text after three bytes is cut at its first two \x01
 * bytes into a head, a body and a tail, and the body repeated (the second
 * and third bytes, little-endian, shifted left by bits 2-5 of the first) up
 * to 300 MB, past the caps on a part and on the shared strings; libzip
 * compresses it as it is made, never holding it whole.  A separate target
 * because a bomb takes up to a second where other inputs take milliseconds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../unit/zipmem.h"
#include <libxml/parser.h>
#include "xlsx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_BOMBS
#define FUZZ_BOMBS 0
#endif
#define MAX_BOMB ((size_t) 300 * 1024 * 1024)

static const char *workbook =
	"<workbook xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
	"<sheet name=\"Factors by Category\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char *rels = "<Relationships><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/></Relationships>";
static const char *strings = "<sst><si><t>a</t></si><si><r><t>b</t></r><rPh><t>c</t></rPh></si></sst>";
static const char *sheet = "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>1</v></c><c r=\"B1\"><v>0.5</v></c></row></sheetData></worksheet>";

/* libxml2's generic error handler, silenced: errors come back through the reader. */
static void
Quiet(void *ctx, const char *msg, ...)
{
	(void) ctx;
	(void) msg;
}

/* Cut text at its first two \x01 bytes into rep's head, body and tail (in place). */
static void
Split(char *text, ZipRepeat *rep)
{
	char *a = strchr(text, '\x01');
	char *b = a ? strchr(a + 1, '\x01') : NULL;

	rep->head = text;
	rep->body = "";
	rep->tail = "";
	if (a == NULL)
		return;
	*a = '\0';
	rep->body = a + 1;
	if (b == NULL)
		return;
	*b = '\0';
	rep->tail = b + 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *parts[8] = {"xl/workbook.xml", workbook, "xl/_rels/workbook.xml.rels", rels,
							"xl/sharedStrings.xml", strings, "xl/worksheets/sheet1.xml", sheet};
	int			which;
	int			bomb;
	size_t		skip;
	ZipRepeat	rep = {NULL, NULL, 0, NULL, 0, 1};
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
	which = data[0] % 3 == 0 ? 3 : data[0] % 3 == 1 ? 2
													: 0;
	bomb = FUZZ_BOMBS && size >= 3;
	skip = bomb ? 3 : 1;
	text = malloc(size - skip + 1);
	memcpy(text, data + skip, size - skip);
	text[size - skip] = '\0';
	xmlSetGenericErrorFunc(NULL, Quiet);
	if (bomb)
	{
		const char *name = parts[2 * which];
		size_t		bl;

		Split(text, &rep);
		bl = strlen(rep.body);
		rep.reps = (size_t) (data[1] | (data[2] << 8)) << ((data[0] >> 2) & 15);
		if (bl > 0 && rep.reps > MAX_BOMB / bl)
			rep.reps = MAX_BOMB / bl;
		/* the chosen part leaves the list (the last takes its place); the bomb takes its name */
		parts[2 * which] = parts[6];
		parts[2 * which + 1] = parts[7];
		zipped = make_xlsx_bomb(parts, 3, name, &rep, &zlen);
	}
	else
	{
		parts[2 * which + 1] = text;
		zipped = make_xlsx(parts, 4, &zlen);
	}
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
