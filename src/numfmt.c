/*
 * numfmt.c
 *		A file's number format, and numbers read in it; see numfmt.h.
 */
#include "numfmt.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decimal point first within each decimal separator; the order is also the preference among equals. */
const NumFormat nf_formats[NF_NFORMATS] = {
	{'.', NF_GROUP_NONE},
	{'.', ','},
	{'.', ' '},
	{'.', '\''},
	{',', NF_GROUP_NONE},
	{',', '.'},
	{',', ' '},
	{',', '\''},
};

#define MAX_RUNS NF_MAX_RUNS

/* A cell taken apart: sign, digit runs and the separators between them, exponent. */
typedef struct Parts
{
	int			negative;
	int			nruns;
	const char *run[MAX_RUNS];
	int			runlen[MAX_RUNS];
	char		sep[MAX_RUNS]; /* sep[i] is between run[i - 1] and run[i]: '.', ',', '\'' or ' ' */
	int			exp_negative;
	const char *exp;
	int			explen;
} Parts;

/* '0' to '9': what isdigit answers in every locale, without a call for its table */
static inline int
IsDigit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Length of a space at p (see nf_space_at), inline for Split's per-cell trimming. */
static inline int
SpaceAt(const unsigned char *p)
{
	if (*p == ' ' || *p == '\t')
		return 1;
	if (p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xAF || p[2] == 0x89))
		return 3;
	return 0;
}

int
nf_space_at(const unsigned char *p)
{
	return SpaceAt(p);
}

/*
 * The common cell, [sign]digits[separator digits] and nothing else (no
 * space, no exponent, at most NF_MAX_LEN bytes), taken apart in one pass:
 * true with pt as Split makes it; false for any other text, which Split
 * takes apart the general way.
 */
static inline int
SplitSimple(const unsigned char *s, Parts *pt)
{
	const unsigned char *p = s;
	const unsigned char *d;

	if (*p == '-' || *p == '+')
		p++;
	for (d = p; IsDigit(*p); p++)
		;
	if (p == d)
		return 0;
	pt->run[0] = (const char *) d;
	pt->runlen[0] = (int) (p - d);
	pt->nruns = 1;
	if (*p == '.' || *p == ',' || *p == '\'')
	{
		pt->sep[1] = (char) *p;
		for (d = ++p; IsDigit(*p); p++)
			;
		if (p == d)
			return 0;
		pt->run[1] = (const char *) d;
		pt->runlen[1] = (int) (p - d);
		pt->nruns = 2;
	}
	if (*p != '\0' || p - s > NF_MAX_LEN)
		return 0;
	pt->negative = *s == '-';
	return 1;
}

/* Take s apart; 0, or -1 if it is no number in any format. */
static int
Split(const char *s, Parts *pt)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end;
	int					 n;

	/* the arrays are filled as far as nruns says: only the scalars start at zero */
	pt->negative = 0;
	pt->exp_negative = 0;
	pt->exp = NULL;
	pt->explen = 0;
	if (SplitSimple(p, pt))
		return 0;
	pt->nruns = 0;
	/* trim spaces of every kind at both ends */
	while ((n = SpaceAt(p)) > 0)
		p += n;
	end = (const unsigned char *) s + strlen(s);
	for (;;)
	{
		if (end - p >= 1 && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		else if (end - p >= 2 && end[-2] == 0xC2 && end[-1] == 0xA0)
			end -= 2;
		else if (end - p >= 3 && end[-3] == 0xE2 && end[-2] == 0x80 && (end[-1] == 0xAF || end[-1] == 0x89))
			end -= 3;
		else
			break;
	}
	if (end - p > NF_MAX_LEN || end == p)
		return -1;
	if (*p == '-' || *p == '+')
	{
		pt->negative = *p == '-';
		p++;
	}
	for (;;)
	{
		const unsigned char *d = p;

		while (p < end && IsDigit(*p))
			p++;
		if (p == d || pt->nruns == MAX_RUNS)
			return -1;
		pt->run[pt->nruns] = (const char *) d;
		pt->runlen[pt->nruns] = (int) (p - d);
		pt->nruns++;
		if (p == end)
			return 0;
		/* a separator, then more digits */
		{
			char sep = 0;
			int	 w = 1;

			if (*p == '.' || *p == ',' || *p == '\'')
				sep = (char) *p;
			else if (*p != '\t' && (w = SpaceAt(p)) > 0)
				sep = ' '; /* a tab separates fields, never groups digits */
			if (sep && p + w < end && IsDigit(p[w]))
			{
				p += w;
				if (pt->nruns == MAX_RUNS)
					return -1;
				pt->sep[pt->nruns] = sep;
				continue;
			}
		}
		break;
	}
	/* an exponent ends it */
	if (*p != 'e' && *p != 'E')
		return -1;
	p++;
	if (p < end && (*p == '-' || *p == '+'))
	{
		pt->exp_negative = *p == '-';
		p++;
	}
	pt->exp = (const char *) p;
	while (p < end && IsDigit(*p))
		p++;
	pt->explen = (int) (p - (const unsigned char *) pt->exp);
	return pt->explen > 0 && p == end ? 0 : -1;
}

/*
 * Does f read pt, and where is its decimal separator?  Returns -1 if not;
 * else the index of the run that starts the fraction, or 0 for a whole
 * number.
 */
static int
Reading(const NumFormat *f, const Parts *pt)
{
	int k = pt->nruns - 1; /* separators */
	int last_is_decimal;
	int groups; /* separators that group thousands */
	int i;

	if (k == 0)
		return 0;
	last_is_decimal = pt->sep[k] == f->decimal;
	groups = last_is_decimal ? k - 1 : k;
	for (i = 1; i <= groups; i++)
		if (f->group == NF_GROUP_NONE || pt->sep[i] != f->group)
			return -1;
	if (!last_is_decimal && pt->sep[k] != f->group)
		return -1;
	if (groups > 0)
	{
		/* 1,234,567: a first group of 1-3 digits not starting with 0, then threes */
		if (pt->runlen[0] > 3 || pt->run[0][0] == '0')
			return -1;
		for (i = 1; i <= groups; i++)
			if (pt->runlen[i] != 3)
				return -1;
	}
	return last_is_decimal ? k : 0;
}

/* Write the number as plain decimal text; 0 or -1 if out is too short. */
static int
Plain(const Parts *pt, int frac, char *out, size_t outlen)
{
	size_t o = 0;
	int	   i;

#define PUT(c)               \
	do                       \
	{                        \
		if (o + 1 >= outlen) \
			return -1;       \
		out[o++] = (c);      \
	} while (0)

	if (pt->negative)
		PUT('-');
	for (i = 0; i < pt->nruns; i++)
	{
		int j;

		if (frac > 0 && i == frac)
			PUT('.');
		for (j = 0; j < pt->runlen[i]; j++)
			PUT(pt->run[i][j]);
	}
	if (pt->explen > 0)
	{
		PUT('e');
		if (pt->exp_negative)
			PUT('-');
		for (i = 0; i < pt->explen; i++)
			PUT(pt->exp[i]);
	}
#undef PUT
	out[o] = '\0';
	return 0;
}

int
nf_read(const NumFormat *f, const char *s, char *out, size_t outlen)
{
	Parts pt;
	int	  frac;

	if (Split(s, &pt) != 0 || (frac = Reading(f, &pt)) < 0)
		return -1;
	return Plain(&pt, frac, out, outlen);
}

/* 10^0 .. 10^22: the powers of ten a double holds exactly */
static const double exact_pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
									 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define EXACT_MANTISSA (UINT64_C(1) << 53) /* every integer up to this is a double */

/*
 * The value of pt without an exponent, when its digits m (as an integer)
 * and fraction length k give both exactly as doubles: m <= 2^53, k <= 22.
 * Then m / 10^k is one IEEE division of exact operands, correctly rounded,
 * so the very double strtod gives for the text (Clinger's fast path);
 * false for any other number, which strtod reads.
 */
static int
ExactValue(const Parts *pt, int frac, double *v)
{
	uint64_t m = 0;
	int		 k = 0;
	int		 i,
		j;

	if (pt->explen > 0)
		return 0;
	for (i = 0; i < pt->nruns; i++)
	{
		for (j = 0; j < pt->runlen[i]; j++)
		{
			if (m > EXACT_MANTISSA / 10)
				return 0;
			m = m * 10 + (uint64_t) (pt->run[i][j] - '0');
		}
		if (frac > 0 && i >= frac)
			k += pt->runlen[i];
	}
	if (m > EXACT_MANTISSA || k >= (int) (sizeof(exact_pow10) / sizeof(exact_pow10[0])))
		return 0;
	*v = (double) m / exact_pow10[k];
	if (pt->negative)
		*v = -*v;
	return 1;
}

int
nf_read_double(const NumFormat *f, const char *s, double *v)
{
	char  buf[NF_MAX_LEN + 8];
	char *end;
	Parts pt;
	int	  frac;

	if (Split(s, &pt) != 0 || (frac = Reading(f, &pt)) < 0)
		return -1;
	if (ExactValue(&pt, frac, v))
		return 0;
	if (Plain(&pt, frac, buf, sizeof(buf)) != 0)
		return -1;
	errno = 0;
	*v = strtod(buf, &end);
	/* out of range either way (1e400, and 1e-400, which would be 0) is no reading */
	return *end == '\0' && isfinite(*v) && errno != ERANGE ? 0 : -1;
}

unsigned
nf_readers(const char *s)
{
	Parts	 pt;
	unsigned mask = 0;
	int		 i;

	if (Split(s, &pt) != 0)
		return 0;
	for (i = 0; i < NF_NFORMATS; i++)
		if (Reading(&nf_formats[i], &pt) >= 0)
			mask |= 1u << i;
	return mask;
}

void
nf_survey_init(NumSurvey *s)
{
	memset(s, 0, sizeof(*s));
}

/* The shape of pt (more than one run): what Reading looks at, and nothing else. */
static void
ShapeOf(const Parts *pt, NumShape *sh)
{
	int i;

	memset(sh->sep, 0, sizeof(sh->sep));
	sh->pending = 0;
	sh->nruns = (unsigned char) pt->nruns;
	sh->lead = pt->runlen[0] <= 3 && pt->run[0][0] != '0';
	sh->threes = 0;
	for (i = 1; i < pt->nruns; i++)
	{
		sh->sep[i] = pt->sep[i];
		if (pt->runlen[i] == 3)
			sh->threes |= (unsigned short) (1u << i);
	}
}

static int
SameShape(const NumShape *a, const NumShape *b)
{
	int i;

	if (a->nruns != b->nruns || a->lead != b->lead || a->threes != b->threes)
		return 0;
	for (i = 1; i < a->nruns; i++)
		if (a->sep[i] != b->sep[i])
			return 0;
	return 1;
}

/*
 * Count the cells of a remembered shape after its first: what each adds to
 * count, both and ndiffer, as its first did.  (The first also set the
 * differ bits and examples of its readings; the later ones add none.)
 */
static void
AddPending(NumSurvey *s, NumShape *sh)
{
	const signed char *w = sh->where;
	long			   n = sh->pending;
	int				   i,
		j;

	for (i = 0; i < NF_NFORMATS && n > 0; i++)
	{
		if (w[i] < 0)
			continue;
		s->count[i] += n;
		for (j = i + 1; j < NF_NFORMATS; j++)
			if (w[j] >= 0)
			{
				s->both[i][j] += n;
				s->both[j][i] += n;
				if (w[i] != w[j])
				{
					s->ndiffer[i][j] += n;
					s->ndiffer[j][i] += n;
				}
			}
	}
	sh->pending = 0;
}

void
nf_survey_add(NumSurvey *s, const char *cell, long line)
{
	Parts	  pt;
	NumShape  shape;
	NumShape *slot;
	int		  where[NF_NFORMATS];
	int		  i,
		j;

	if (Split(cell, &pt) != 0)
		return;
	s->numbers++;
	if (pt.nruns == 1)
	{
		s->plain++; /* the common case, counted for every format when settling */
		return;
	}
	ShapeOf(&pt, &shape);
	for (i = 0; i < s->nshapes; i++)
		if (SameShape(&s->shapes[i], &shape))
		{
			s->shapes[i].pending++;
			return;
		}

	/* a new shape: this cell is counted in full, and the shape remembered */
	if (s->nshapes < NF_SHAPES)
		slot = &s->shapes[s->nshapes++];
	else
	{
		slot = &s->shapes[s->next_shape];
		s->next_shape = (s->next_shape + 1) % NF_SHAPES;
		AddPending(s, slot);
	}
	*slot = shape;
	for (i = 0; i < NF_NFORMATS; i++)
	{
		/* a reading is -1 or the index of a run (< NF_MAX_RUNS) */
		where[i] = Reading(&nf_formats[i], &pt);
		slot->where[i] = (signed char) where[i];
		if (where[i] >= 0)
			s->count[i]++;
	}
	for (i = 0; i < NF_NFORMATS; i++)
		for (j = i + 1; j < NF_NFORMATS; j++)
			if (where[i] >= 0 && where[j] >= 0)
			{
				s->both[i][j]++;
				s->both[j][i]++;
				/* the same digits: the readings differ exactly when the decimal separator does */
				if (where[i] != where[j])
				{
					s->ndiffer[i][j]++;
					s->ndiffer[j][i]++;
				}
				if (where[i] != where[j] && !(s->differ[i] & (1u << j)))
				{
					s->differ[i] |= 1u << j;
					s->differ[j] |= 1u << i;
					s->example_line[i][j] = line;
					snprintf(s->example[i][j], sizeof(s->example[i][j]), "%s", cell);
				}
			}
}

const char *
nf_describe(const NumFormat *f, char *buf, size_t len)
{
	if (f->group == NF_GROUP_NONE)
		snprintf(buf, len, "decimal separator '%c', no thousands separator", f->decimal);
	else if (f->group == ' ')
		snprintf(buf, len, "decimal separator '%c', thousands separator a space", f->decimal);
	else
		snprintf(buf, len, "decimal separator '%c', thousands separator '%c'", f->decimal, f->group);
	return buf;
}

/* How format i reads a cell, for the ambiguity message. */
static void
Shown(int i, const char *cell, char *buf, size_t len)
{
	char plain[NF_MAX_LEN + 8];

	if (nf_read(&nf_formats[i], cell, plain, sizeof(plain)) != 0)
		snprintf(plain, sizeof(plain), "?");
	if (nf_formats[i].group != NF_GROUP_NONE && strchr(plain, '.') == NULL)
		snprintf(buf, len, "%s (thousands separator '%c')", plain, nf_formats[i].group);
	else
		snprintf(buf, len, "%s (decimal separator '%c')", plain, nf_formats[i].decimal);
}

int
nf_settle(const NumSurvey *survey, char delim, char decimal, char group, NumFormat *out, char *err, size_t errlen)
{
	NumSurvey  all = *survey;
	NumSurvey *s = &all;
	int		   allowed[NF_NFORMATS];
	int		   order[NF_NFORMATS];
	int		   n = 0;
	long	   best = -1;
	int		   i,
		j,
		k;
	char locale_decimal = delim == ';' ? ',' : '.';

	err[0] = '\0';
	for (i = 0; i < s->nshapes; i++)
		AddPending(s, &s->shapes[i]);
	for (i = 0; i < NF_NFORMATS; i++)
	{
		s->count[i] += s->plain;
		for (j = 0; j < NF_NFORMATS; j++)
			if (j != i)
				s->both[i][j] += s->plain;
	}
	if (decimal != NF_DETECT && group != NF_DETECT && decimal == group)
	{
		snprintf(err, errlen, "the decimal and the thousands separator are both '%c'", decimal);
		return -1;
	}
	/* preference among formats that read every cell alike: the delimiter's locale, then no grouping */
	for (k = 0; k < 2; k++)
		for (i = 0; i < NF_NFORMATS; i++)
			if ((nf_formats[i].decimal == locale_decimal) == (k == 0))
				order[n++] = i;
	for (i = 0; i < NF_NFORMATS; i++)
	{
		allowed[i] = (decimal == NF_DETECT || nf_formats[i].decimal == decimal) &&
					 (group == NF_DETECT || nf_formats[i].group == group);
		if (allowed[i] && s->count[i] > best)
			best = s->count[i];
	}
	for (i = 0; i < NF_NFORMATS; i++)
		for (j = i + 1; j < NF_NFORMATS; j++)
		{
			if (!allowed[i] || !allowed[j] || s->count[i] != best || s->count[j] != best || best == 0)
				continue;
			if (s->differ[i] & (1u << j))
			{
				char a[NF_MAX_LEN + 48],
					b[NF_MAX_LEN + 48];

				Shown(i, s->example[i][j], a, sizeof(a));
				Shown(j, s->example[i][j], b, sizeof(b));
				snprintf(err, errlen,
						 "the numbers can be read in two ways: \"%s\" on line %ld is %s or %s, and no value in the file tells which",
						 s->example[i][j], s->example_line[i][j], a, b);
				return -1;
			}
			if (s->both[i][j] != best)
			{
				char a[120],
					b[120];

				snprintf(err, errlen,
						 "the numbers fit two formats equally well (%s; %s), and each reads values the other does not",
						 nf_describe(&nf_formats[i], a, sizeof(a)), nf_describe(&nf_formats[j], b, sizeof(b)));
				return -1;
			}
		}
	for (k = 0; k < NF_NFORMATS; k++)
	{
		i = order[k];
		if (allowed[i] && s->count[i] == best)
		{
			/* against the separator's locale, the evidence must outweigh what it changes */
			for (j = 0; j < NF_NFORMATS && nf_formats[i].decimal != locale_decimal; j++)
			{
				long evidence = s->count[i] - s->both[i][j]; /* cells only i reads */
				int	 a = i < j ? i : j,
					b = i < j ? j : i;

				if (j == i || !allowed[j] || s->ndiffer[i][j] == 0 || evidence >= s->ndiffer[i][j])
					continue;
				{
					char x[NF_MAX_LEN + 48],
						y[NF_MAX_LEN + 48];

					Shown(a, s->example[a][b], x, sizeof(x));
					Shown(b, s->example[a][b], y, sizeof(y));
					snprintf(err, errlen,
							 "the numbers can be read in two ways: \"%s\" on line %ld is %s or %s; %ld values read differently, and only %ld %s the decimal separator '%c' (not the '%c' usual with the '%c' field separator): too few to decide",
							 s->example[a][b], s->example_line[a][b], x, y, s->ndiffer[i][j], evidence,
							 evidence == 1 ? "value shows" : "values show", nf_formats[i].decimal, locale_decimal,
							 delim ? delim : ',');
					return -1;
				}
			}
			*out = nf_formats[i];
			return 0;
		}
	}
	/* not reached: some format is allowed unless the two options are equal, refused above */
	snprintf(err, errlen, "no number format fits the options");
	return -1;
}

int
nf_parse_separator(const char *text, int thousands, char *out)
{
	if (strcmp(text, ".") == 0 || strcmp(text, ",") == 0)
	{
		*out = text[0];
		return 0;
	}
	if (!thousands)
		return -1;
	if (text[0] == '\0')
		*out = NF_GROUP_NONE;
	else if (strcmp(text, " ") == 0 || strcmp(text, "\xC2\xA0") == 0 || strcmp(text, "\xE2\x80\xAF") == 0 ||
			 strcmp(text, "\xE2\x80\x89") == 0)
		*out = ' ';
	else if (strcmp(text, "'") == 0)
		*out = '\'';
	else
		return -1;
	return 0;
}
