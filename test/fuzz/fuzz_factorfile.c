/* libFuzzer target: the flat-file recogniser and number parser, fed through the CSV reader. */
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
	CsvReader  r;
	FactorFile ff;
	char	 **cells;
	int		   n;
	char	  *s;
	char	   out[64];

	/* the number parser on the raw bytes as one cell */
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	if (ff_parse_number(s, ';', out, sizeof(out)) == 0 && strlen(out) >= sizeof(out))
		__builtin_trap();
	(void) ff_gas(s);
	free(s);

	if (csv_init(&r, (const char *) data, size, 0) != 0)
		return 0;
	ff_init(&ff, r.delim);
	while ((n = csv_next(&r, &cells)) > 0)
	{
		FactorRow row;
		FfResult  res = ff_feed(&ff, cells, n, r.record_line, &row);

		if (res == FF_ERROR)
			break;
		if (res == FF_ROW && (row.value[0] == '\0' || strlen(ff.err) != 0))
			__builtin_trap();
	}
	if (ff.err[0] == '\0')
		(void) ff_finish(&ff);
	csv_free(&r);
	return 0;
}
