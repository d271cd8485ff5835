/* libFuzzer target: the meter-layout reader, fed through the CSV reader in each format. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "csv.h"
#include "meterfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const MfFormat formats[] = {MF_ECODRIVER, MF_HALFHOURLY, MF_LONG};
	size_t				  f;

	for (f = 0; f < 3; f++)
	{
		CsvReader r;
		MeterFile mf;
		MfOptions o;
		char	**cells;
		int		  n;
		MfRecord  rec;
		char	  err[MF_ERRLEN];

		memset(&o, 0, sizeof(o));
		o.format = formats[f];
		o.meter = f == 2 ? "m" : NULL;
		if (csv_init(&r, (const char *) data, size, 0) != 0)
			continue;
		mf_init(&mf, &o);
		n = csv_next(&r, &cells);
		if (n > 0 && mf_header(&mf, cells, n, r.record_line) == 0)
			while ((n = csv_next(&r, &cells)) > 0)
			{
				int rc = mf_row(&mf, cells, n, r.record_line, &rec, err, sizeof(err));
				int k;

				if (rc == 1)
					for (k = 0; k < rec.nvalues; k++)
						if (rec.slot[k] >= MF_MAX_SLOTS || rec.when.month < 1 || rec.when.month > 12)
							__builtin_trap();
			}
		csv_free(&r);
	}
	return 0;
}
