/*
 * libFuzzer target: a differential fuzz of the number reader (numfmt.c).
 *
 * The input's first bytes choose a format and a value (sign, whole digits,
 * fraction digits, exponent, grouping, which space); the value is written
 * as that locale writes it, read back in that format, and must give the
 * same number exactly, as text and as a double.  The rest of the input is
 * also offered as a cell: whatever it is, nf_readers and nf_read agree, and
 * what nf_read gives is plain decimal text.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Bytes
{
	const uint8_t *p;
	size_t		   n;
} Bytes;

static unsigned
Take(Bytes *b, unsigned n)
{
	unsigned v = 0;

	if (b->n > 0)
	{
		v = *b->p++;
		b->n--;
	}
	return n ? v % n : v;
}

static void
Differential(Bytes *b)
{
	static const char *const spaces[] = {" ", "\xC2\xA0", "\xE2\x80\xAF", "\xE2\x80\x89"};
	const NumFormat			*f = &nf_formats[Take(b, NF_NFORMATS)];
	int						 negative = Take(b, 2),
		nwhole = 1 + (int) Take(b, 15), nfrac = (int) Take(b, 8), grouped = Take(b, 2), i;
	const char *space = spaces[Take(b, 4)];
	char		whole[16],
		frac[8],
		exp[8] = "",
		s[NF_MAX_LEN + 1],
		want[NF_MAX_LEN + 1],
		got[NF_MAX_LEN + 8];
	size_t o = 0;
	double d;

	whole[0] = (char) (nwhole == 1 ? '0' + Take(b, 10) : '1' + Take(b, 9));
	for (i = 1; i < nwhole; i++)
		whole[i] = (char) ('0' + Take(b, 10));
	whole[nwhole] = '\0';
	for (i = 0; i < nfrac; i++)
		frac[i] = (char) ('0' + Take(b, 10));
	frac[nfrac] = '\0';
	if (Take(b, 8) == 0)
		snprintf(exp, sizeof(exp), "%s%u", Take(b, 2) ? "-" : "", Take(b, 300));
	snprintf(want, sizeof(want), "%s%s%s%s%s%s", negative ? "-" : "", whole, nfrac ? "." : "", frac, exp[0] ? "e" : "",
			 exp);
	if (negative)
		s[o++] = '-';
	for (i = 0; i < nwhole; i++)
	{
		if (grouped && f->group != NF_GROUP_NONE && nwhole > 3 && i > 0 && (nwhole - i) % 3 == 0)
			o += (size_t) snprintf(s + o, sizeof(s) - o, "%s",
								   f->group == ' '	 ? space
								   : f->group == ',' ? ","
								   : f->group == '.' ? "."
													 : "'");
		s[o++] = whole[i];
	}
	if (nfrac)
	{
		s[o++] = f->decimal;
		memcpy(s + o, frac, (size_t) nfrac);
		o += (size_t) nfrac;
	}
	if (exp[0])
		o += (size_t) snprintf(s + o, sizeof(s) - o, "e%s", exp);
	s[o] = '\0';

	/* the same number back, in its own format */
	if (nf_read(f, s, got, sizeof(got)) != 0 || strcmp(got, want) != 0)
		__builtin_trap();
	if (!(nf_readers(s) & (1u << (f - nf_formats))))
		__builtin_trap();
	/* as a double: what strtod makes of the plain text; refused only past the range of a double */
	if (nf_read_double(f, s, &d) == 0 ? d != strtod(want, NULL) : isfinite(strtod(want, NULL)))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Bytes	  b = {data, size};
	char	  cell[NF_MAX_LEN * 2];
	size_t	  len;
	unsigned  readers;
	int		  i;
	NumSurvey sv;
	NumFormat out;
	char	  err[NF_ERRLEN];

	Differential(&b);

	/* any bytes as a cell: readers and reads agree; a reading is plain decimal text */
	len = b.n < sizeof(cell) - 1 ? b.n : sizeof(cell) - 1;
	memcpy(cell, b.p, len);
	cell[len] = '\0';
	readers = nf_readers(cell);
	for (i = 0; i < NF_NFORMATS; i++)
	{
		char		got[NF_MAX_LEN + 8];
		int			rc = nf_read(&nf_formats[i], cell, got, sizeof(got));
		const char *q;

		if ((rc == 0) != !!(readers & (1u << i)))
			__builtin_trap();
		if (rc == 0)
			for (q = got; *q; q++)
				if (!(*q >= '0' && *q <= '9') && *q != '.' && *q != '-' && *q != 'e')
					__builtin_trap();
	}
	nf_survey_init(&sv);
	nf_survey_add(&sv, cell, 2);
	/* a cell that is a number in some format: a settled format reads it */
	if (readers != 0 && nf_settle(&sv, ';', NF_DETECT, NF_DETECT, &out, err, sizeof(err)) == 0)
	{
		char got[NF_MAX_LEN + 8];

		if (nf_read(&out, cell, got, sizeof(got)) != 0)
			__builtin_trap();
	}
	return 0;
}
