/*
 * Unit tests of the .xls reader (src/xls.c): FreeXL in a sandboxed child,
 * its framed output decoded in the parent.  The workbooks are written by
 * test/gen/xls.py (xlwt); the official 2017 flat file is read too.
 */
#include <stdint.h>
#include <unistd.h>

#include "tap.h"
#include "xls.h"

static char dir[] = "/tmp/car-unit-xls.XXXXXX";

/* Read path's sheet want through the sandbox; returns the decoder or NULL with err. */
static char *out;

static const char *
Open(XlsFrames *f, const char *path, const char *want, char *err, size_t errlen, ReadError *kind)
{
	size_t len;

	free(out);
	out = NULL;
	if (xls_read_sandboxed(path, want, NULL, &out, &len, err, errlen, kind) != 0)
		return NULL;
	if (xls_frames_init(f, out, len) == NULL)
	{
		snprintf(err, errlen, "%s", f->err);
		*kind = f->errkind;
		return NULL;
	}
	return f->sheet;
}

static void
test_generated(void)
{
	char		path[256];
	char		err[XLS_ERRLEN];
	ReadError	kind;
	XlsFrames	f;
	char	  **c;
	long		row;
	int			n;
	const char *sheet;
	int			rows = 0;

	snprintf(path, sizeof(path), "%s/flat-2019.xls", dir);
	{
		size_t len;
		char  *data = slurp(path, &len);

		OK(xls_looks_like(data, len), "an .xls starts with the OLE2 signature");
		OK(!xls_looks_like("PK\003\004xxxx", 8), "a zip does not");
		free(data);
	}
	sheet = Open(&f, path, "Factors by Category", err, sizeof(err), &kind);
	IS_STR(sheet, "Factors by Category", "the named sheet is chosen (%s)", sheet ? "ok" : err);
	if (sheet == NULL)
		return;
	n = xls_frames_next(&f, &c, &row);
	OK(n == 1 && row == 1, "row 1: one title cell (got %d cells, row %ld)", n, row);
	n = xls_frames_next(&f, &c, &row);
	OK(n == 1 && row == 2, "row 2: the second title; empty row 3 is left out (got row %ld)", row);
	n = xls_frames_next(&f, &c, &row);
	OK(n == 10 && row == 4 && strcmp(c[1], "Category") == 0 && strcmp(c[9], "HIDE") == 0 && c[0][0] == '\0',
	   "row 4: Category and the HIDE markers, to its last non-empty cell (got %d cells)", n);
	n = xls_frames_next(&f, &c, &row);
	OK(n == 11 && row == 5, "row 5: the header, 11 columns");
	IS_STR(c[10], "GHG Conversion Factor 2019", "the value column's name");
	n = xls_frames_next(&f, &c, &row);
	IS_STR(n == 11 ? c[10] : "", "0.183996818181275", "a double as Excel shows it in General (15 significant digits)");
	IS_STR(c[4], "", "an empty cell inside a row is \"\"");
	n = xls_frames_next(&f, &c, &row);
	/* FreeXL 1.0.6 reads no FORMULA record: the cached result is lost (README, legacy .xls) */
	OK(n == 10 && row == 7, "a formula cell reads as empty in FreeXL 1.0.6 (row 7 ends at column J, got %d)", n);
	n = xls_frames_next(&f, &c, &row);
	IS_STR(n == 11 ? c[3] : "", "R1234yf ", "labels are passed on verbatim (the recogniser trims path labels)");
	IS_STR(c[10], "< 1", "text in the value column");
	n = xls_frames_next(&f, &c, &row);
	IS_STR(n == 11 ? c[10] : "", "2088", "an integer stays exact");
	while ((n = xls_frames_next(&f, &c, &row)) > 0)
		rows++;
	OK(n == 0 && rows == 3, "three more rows, then the end (got %d, end %d)", rows, n);
	xls_frames_free(&f);

	sheet = Open(&f, path, "No such sheet", err, sizeof(err), &kind);
	IS_STR(sheet, "Front page", "an unknown sheet name falls back to the first sheet");
	xls_frames_free(&f);

	snprintf(path, sizeof(path), "%s/empty-string.xls", dir);
	sheet = Open(&f, path, "Factors by Category", err, sizeof(err), &kind);
	OK(sheet == NULL && kind == READ_MALFORMED && strstr(err, "empty string") != NULL,
	   "an empty shared string: FreeXL 1.0.6 gives up, and the message says so (%s)", err);

	snprintf(path, sizeof(path), "%s/dimension-bomb.xls", dir);
	sheet = Open(&f, path, "Factors by Category", err, sizeof(err), &kind);
	OK(sheet == NULL && kind != READ_OK, "a DIMENSIONS record of 2^24 rows x 256 columns is refused, the parent unharmed (%s)",
	   err);

	sheet = Open(&f, fixture("desnz_flatfile/Conversion_factors_2017_-_Flat_file__for_automatic_processing_only.xls"),
				 "Factors by Category", err, sizeof(err), &kind);
	OK(sheet == NULL && strstr(err, "2017 and 2018") != NULL,
	   "the official 2017 flat file: FreeXL 1.0.6 refuses it (an empty shared string), said clearly (%s)", err);

	snprintf(path, sizeof(path), "%s/missing.xls", dir);
	sheet = Open(&f, path, NULL, err, sizeof(err), &kind);
	OK(sheet == NULL && kind == READ_MALFORMED, "a missing file is an error, not a crash (%s)", err);
}

/* Hand-made frames: the decoder refuses what the child could never have written. */
static void
test_frames(void)
{
	static const char good[] = "CARXLS1\0\1\0\0\0S"
							   "R\2\0\0\0\2\0\0\0\1\0\0\0a\0\0\0\0"
							   "E";
	static const char err_frame[] = "CARXLS1\0X\2\5\0\0\0limit";
	static const char bad_row[] = "CARXLS1\0\1\0\0\0SR\0\0\0\0\1\0\0\0";
	static const char long_cell[] = "CARXLS1\0\1\0\0\0SR\1\0\0\0\1\0\0\0\377\377\377\177";
	XlsFrames		  f;
	char			**c;
	long			  row;

	IS_STR(xls_frames_init(&f, good, sizeof(good) - 1), "S", "the sheet name");
	OK(xls_frames_next(&f, &c, &row) == 2 && row == 2 && strcmp(c[0], "a") == 0 && c[1][0] == '\0',
	   "a row of two cells");
	OK(xls_frames_next(&f, &c, &row) == 0, "then the end");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, good, sizeof(good) - 2) != NULL && xls_frames_next(&f, &c, &row) == 2 &&
		   xls_frames_next(&f, &c, &row) == -1 && f.errkind == READ_MALFORMED,
	   "output cut before its end frame is an error (a crashed child)");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, err_frame, sizeof(err_frame) - 1) == NULL && f.errkind == READ_LIMIT &&
		   strcmp(f.err, "limit") == 0,
	   "an error frame carries its kind and message");
	OK(xls_frames_init(&f, bad_row, sizeof(bad_row) - 1) != NULL && xls_frames_next(&f, &c, &row) == -1,
	   "row number 0 is refused");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, long_cell, sizeof(long_cell) - 1) != NULL && xls_frames_next(&f, &c, &row) == -1,
	   "a cell longer than the output is refused");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, "CARXLS", 6) == NULL, "no header, no sheet");
}

int
main(void)
{
	char cmd[512];

	if (mkdtemp(dir) == NULL)
	{
		printf("Bail out! cannot make %s\n", dir);
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 test/gen/xls.py --out %s", dir);
	if (system(cmd) != 0)
	{
		printf("Bail out! test/gen/xls.py failed\n");
		return 2;
	}
	test_generated();
	test_frames();
	free(out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
