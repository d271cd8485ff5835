/* libFuzzer target: the CSV reader must never crash, hang or leak on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = {0, ',', ';'};
	size_t			  d;

	for (d = 0; d < sizeof(delims); d++)
	{
		CsvReader r;
		char	**fields;
		int		  n;
		long	  records = 0;

		if (csv_init(&r, (const char *) data, size, delims[d]) != 0)
			continue;
		while ((n = csv_next(&r, &fields)) > 0)
		{
			/* every field must be a readable C string */
			volatile size_t total = 0;
			int				i;

			for (i = 0; i < n; i++)
				total += fields[i][0] == '\0' ? 0 : 1;
			if (r.record_line < 1 || ++records > (long) size + 1)
				__builtin_trap();
		}
		csv_free(&r);
	}
	return 0;
}
