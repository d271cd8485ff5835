/*
 * libFuzzer target: the meter-layout reader, fed through the CSV reader in
 * each format, the way the backend reads a file: the header search (with
 * and without header_line), the survey of every row (number format,
 * identifier widths), the settling, then every row (identifier checks,
 * dates and times, values in the file's format).  The first input byte
 * picks options: the period, the separators, header_line.
 */
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
	static const char	  decimals[] = {NF_DETECT, '.', ',', NF_DETECT};
	static const char	  groups[] = {NF_DETECT, NF_GROUP_NONE, '.', ' '};
	uint8_t				  pick = size > 0 ? data[0] : 0;
	size_t				  f;

	if (size > 0)
	{
		data++;
		size--;
	}
	for (f = 0; f < 3; f++)
	{
		CsvReader r;
		MeterFile mf;
		MfOptions o;
		char	**cells;
		int		  n,
			rc = 0;
		MfRecord   rec;
		char	   err[MF_ERRLEN];
		char	   fmt[64];
		MfDateTime dt;

		memset(&o, 0, sizeof(o));
		o.format = formats[f];
		o.meter = f == 2 ? "m" : NULL;
		o.period = (MfPeriod) (pick % 3);
		o.decimal_separator = decimals[(pick >> 2) & 3];
		o.thousands_separator = groups[(pick >> 4) & 3];
		o.header_line = (pick & 0xC0) == 0xC0 ? 2 : 0;
		if (csv_init(&r, (const char *) data, size, 0) != 0)
			continue;
		mf_init(&mf, &o, r.delim);
		while ((n = csv_next(&r, &cells)) > 0 && (rc = mf_offer_header(&mf, cells, n, r.record_line)) == 0)
			(void) mf_detect_date_format(cells[0], 1, fmt, sizeof(fmt));
		if (n == 0)
			(void) mf_no_header(&mf);
		if (rc == 1)
		{
			long header = mf.header_line;

			while ((n = csv_next(&r, &cells)) > 0)
				mf_survey(&mf, cells, n, r.record_line);
			csv_free(&r);
			if (mf_settle(&mf) == 0 && csv_init(&r, (const char *) data, size, 0) == 0)
			{
				while ((n = csv_next(&r, &cells)) > 0 && r.record_line <= header)
					;
				while (n > 0)
				{
					int k;

					rc = mf_row(&mf, cells, n, r.record_line, &rec, err, sizeof(err));
					if (rc == 1)
						for (k = 0; k < rec.nvalues; k++)
							if ((rec.slot[k] >= MF_MAX_SLOTS) || rec.when.month < 1 || rec.when.month > 12 ||
								rec.when.hour > 24 || rec.when.usec >= 1000000 || rec.value[k] != rec.value[k])
								__builtin_trap();
					if (rc == 1 && mf.date_format[0] && mf_parse_datetime(mf.date_format, "", &dt) == 0)
						__builtin_trap();
					n = csv_next(&r, &cells);
				}
			}
		}
		if (mf.preamble_lines > 0 && strlen(mf.preamble) >= MF_PREAMBLE_MAX)
			__builtin_trap();
		csv_free(&r);
	}
	return 0;
}
