/*
 * libFuzzer target: the flat-file recogniser fed through the CSV reader as
 * car.load_factors reads a CSV: a survey of the value column, the number
 * format settled, then every row classified (loaded, published without a
 * number, or a number it cannot classify); and the label classifier and
 * number reader on the raw bytes as one cell.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "csv.h"
#include "factorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CsvReader	r;
	FactorFile	ff;
	NumFormat	fmt;
	char	  **cells;
	int			n;
	char	   *s;
	char		out[64];
	char		canon[48];
	const char *gas;
	int			i;

	/* the label classifier and the number reader on the raw bytes as one cell */
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0; i < NF_NFORMATS; i++)
		if (nf_read(&nf_formats[i], s, out, sizeof(out)) == 0 && (strlen(out) >= sizeof(out) || out[0] == '\0'))
			__builtin_trap();
	if (ff_classify_unit(s, &gas, canon, sizeof(canon)) == FF_KIND_GAS && gas == NULL)
		__builtin_trap();
	free(s);

	if (csv_init(&r, (const char *) data, size, 0) != 0)
		return 0;
	ff_init(&ff, r.delim);
	ff_survey(&ff);
	while ((n = csv_next(&r, &cells)) > 0)
		if (ff_feed(&ff, cells, n, r.record_line, NULL) == FF_ERROR)
			break;
	csv_free(&r);
	if (ff.err[0] != '\0' || ff_settle(&ff, NF_DETECT, NF_DETECT, &fmt) != 0)
		return 0;
	if (csv_init(&r, (const char *) data, size, 0) != 0)
		return 0;
	ff_init(&ff, r.delim);
	ff_use_format(&ff, &fmt);
	while ((n = csv_next(&r, &cells)) > 0)
	{
		FactorRow row;
		FfResult  res = ff_feed(&ff, cells, n, r.record_line, &row);

		if (res == FF_ERROR)
			break;
		if (res == FF_ROW && (row.value[0] == '\0' || strlen(ff.err) != 0 || row.cells[FF_UOM] == NULL))
			__builtin_trap();
		if ((res == FF_NO_VALUE || res == FF_UNCLASSIFIED) && row.reason[0] == '\0')
			__builtin_trap();
	}
	if (ff.rows_loaded + ff.rows_skipped < ff.rows_no_value + ff.rows_unclassified)
		__builtin_trap();
	if (ff.err[0] == '\0')
		(void) ff_finish(&ff);
	csv_free(&r);
	return 0;
}
