/* Unit tests of the number-format module (src/numfmt.c). */
#include "tap.h"
#include "numfmt.h"

static const NumFormat DOT = {'.', NF_GROUP_NONE};
static const NumFormat DOT_COMMA = {'.', ','};
static const NumFormat COMMA = {',', NF_GROUP_NONE};
static const NumFormat COMMA_DOT = {',', '.'};
static const NumFormat COMMA_SPACE = {',', ' '};
static const NumFormat DOT_APOS = {'.', '\''};

static void
reads(const NumFormat *f, const char *in, const char *want)
{
	char out[NF_MAX_LEN + 8];
	int	 rc = nf_read(f, in, out, sizeof(out));

	if (want == NULL)
		OK(rc != 0, "\"%s\" is not a number with decimal '%c' and thousands '%c'", in, f->decimal,
		   f->group ? f->group : '-');
	else
		OK(rc == 0 && strcmp(out, want) == 0, "\"%s\" with decimal '%c' and thousands '%c' reads %s (got %s)", in,
		   f->decimal, f->group ? f->group : '-', want, rc == 0 ? out : "error");
}

/* Survey the values (one per line from 2) and settle; returns 0 with *out, or -1 with err. */
static int
settle(const char *const *values, char delim, char decimal, char group, NumFormat *out, char *err)
{
	NumSurvey s;
	int		  i;

	nf_survey_init(&s);
	for (i = 0; values[i]; i++)
		nf_survey_add(&s, values[i], i + 2);
	return nf_settle(&s, delim, decimal, group, out, err, NF_ERRLEN);
}

/* ------------------------------------------------ differential: write, then read back */

static unsigned long long rng_state = 13;

static unsigned
Rand(unsigned n)
{
	/* xorshift64*: the same cases on every run */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned) (((rng_state * 2685821657736338717ULL) >> 33) % n);
}

/*
 * A random value written in format f as a spreadsheet of that locale would
 * write it (thousands grouped or not, any of the spaces for ' '), into s;
 * the plain decimal text nf_read must give back into want.
 */
static void
WriteValue(const NumFormat *f, char *s, size_t slen, char *want, size_t wantlen)
{
	static const char *const spaces[] = {" ", "\xC2\xA0", "\xE2\x80\xAF", "\xE2\x80\x89"};
	char					 whole[16],
		frac[8],
		exp[4] = "";
	int nwhole = 1 + (int) Rand(12),
		nfrac = Rand(3) == 0 ? 0 : 1 + (int) Rand(6), negative = Rand(10) == 0, i;
	size_t		o = 0;
	const char *space = spaces[Rand(4)];
	int			grouped = (int) Rand(2); /* all the thousands grouped, or none, as a spreadsheet writes */

	whole[0] = (char) (nwhole == 1 ? '0' + Rand(10) : '1' + Rand(9));
	for (i = 1; i < nwhole; i++)
		whole[i] = (char) ('0' + Rand(10));
	whole[nwhole] = '\0';
	for (i = 0; i < nfrac; i++)
		frac[i] = (char) ('0' + Rand(10));
	frac[nfrac] = '\0';
	if (Rand(20) == 0)
		snprintf(exp, sizeof(exp), "%s%u", Rand(2) ? "-" : "", 1 + Rand(9));
	snprintf(want, wantlen, "%s%s%s%s%s%s", negative ? "-" : "", whole, nfrac ? "." : "", frac, exp[0] ? "e" : "",
			 exp);

	if (negative)
		s[o++] = '-';
	for (i = 0; i < nwhole; i++)
	{
		/* group the thousands (optional: a format with a separator also reads 1234.5) */
		if (f->group != NF_GROUP_NONE && nwhole > 3 && i > 0 && (nwhole - i) % 3 == 0 && grouped)
		{
			const char *g = f->group == ' ' ? space : (f->group == ',' ? "," : f->group == '.' ? "."
																							   : "'");

			o += (size_t) snprintf(s + o, slen - o, "%s", g);
		}
		s[o++] = whole[i];
	}
	if (nfrac)
	{
		s[o++] = f->decimal;
		memcpy(s + o, frac, (size_t) nfrac);
		o += (size_t) nfrac;
	}
	if (exp[0])
		o += (size_t) snprintf(s + o, slen - o, "%s%s", Rand(2) ? "E" : "e", exp);
	s[o] = '\0';
}

static int
SameFormat(const NumFormat *a, const NumFormat *b)
{
	return a->decimal == b->decimal && a->group == b->group;
}

/*
 * nf_read_double against strtod where a double cannot hold every decimal:
 * 1 to 20 digits (2^53 has 16), the point anywhere (up to 25 fraction
 * digits), and the integers around 2^53.
 */
static void
DoublesLikeStrtod(void)
{
	static const char *const edges[] = {"9007199254740992", "9007199254740993", "9007199254740991.5",
										"900719925474099.3", "0.1", "0.30000000000000004",
										"1.0000000000000000000001", "0.0000000000000000000000123", "-0",
										"-0.0", "123456789012345678901", NULL};
	long					 cases = 0,
		 off = 0;
	int t,
		i;

	for (i = 0; edges[i]; i++)
	{
		double d;

		cases++;
		if (nf_read_double(&DOT, edges[i], &d) != 0 || memcmp(&d, &(double){strtod(edges[i], NULL)}, sizeof(d)) != 0)
		{
			off++;
			printf("#   \"%s\": %.17g, strtod %.17g\n", edges[i], d, strtod(edges[i], NULL));
		}
	}
	for (t = 0; t < 200000; t++)
	{
		char   s[40];
		int	   ndigits = 1 + (int) Rand(20);
		int	   point = (int) Rand((unsigned) ndigits + 6); /* 0 or past the digits: a whole number */
		int	   leading_zero = ndigits == 1 || point == 1;  /* "0" or "0.xxx", never "0123" */
		int	   o = 0, k;
		double d;

		if (Rand(4) == 0)
			s[o++] = '-';
		for (k = 0; k < ndigits; k++)
		{
			if (k == point && k > 0)
				s[o++] = '.';
			s[o++] = (char) (k == 0 && !leading_zero ? '1' + Rand(9) : '0' + Rand(10));
		}
		s[o] = '\0';
		cases++;
		if (nf_read_double(&DOT, s, &d) != 0 || memcmp(&d, &(double){strtod(s, NULL)}, sizeof(d)) != 0)
		{
			if (off++ < 5)
				printf("#   \"%s\": %.17g, strtod %.17g\n", s, d, strtod(s, NULL));
		}
	}
	OK(off == 0, "%ld long and boundary decimals read as the very double strtod gives (%ld off)", cases, off);
}

/*
 * The survey against a reference that counts every cell the plain way,
 * format by format with nf_read (two formats read a cell as different
 * numbers exactly when their plain texts differ): random files of up to
 * 300 values written in one to three formats, so that they have more
 * shapes than the survey remembers, must settle alike (the same format, or
 * the same refusal word for word).
 */
static void
SurveyLikeReference(void)
{
	long files = 0,
		 differ = 0,
		 refused = 0, evicted = 0;
	int t;

	for (t = 0; t < 3000; t++)
	{
		static char cells[300][NF_MAX_LEN];
		char		want[NF_MAX_LEN];
		NumSurvey	sv,
			ref;
		int	 k = 1 + (int) Rand(300), nf = 1 + (int) Rand(3), i, a, b, d;
		int	 fmts[3];
		char delim = Rand(2) ? ';' : ',';

		for (i = 0; i < nf; i++)
			fmts[i] = (int) Rand(NF_NFORMATS);
		nf_survey_init(&sv);
		memset(&ref, 0, sizeof(ref));
		for (i = 0; i < k; i++)
		{
			char	 plain[NF_NFORMATS][NF_MAX_LEN + 8];
			int		 reads[NF_NFORMATS];
			unsigned readers = 0;

			/* now and then the cell before again: runs of one shape */
			if (i > 0 && Rand(3) == 0)
				memcpy(cells[i], cells[i - 1], sizeof(cells[i]));
			else
				WriteValue(&nf_formats[fmts[Rand((unsigned) nf)]], cells[i], sizeof(cells[i]), want, sizeof(want));
			nf_survey_add(&sv, cells[i], i + 2);

			for (a = 0; a < NF_NFORMATS; a++)
				if ((reads[a] = nf_read(&nf_formats[a], cells[i], plain[a], sizeof(plain[a])) == 0))
					readers |= 1u << a;
			if (readers == 0)
				continue;
			ref.numbers++;
			if (readers == (1u << NF_NFORMATS) - 1)
			{
				ref.plain++; /* a whole number: every format reads it alike */
				continue;
			}
			for (a = 0; a < NF_NFORMATS; a++)
			{
				if (!reads[a])
					continue;
				ref.count[a]++;
				for (b = a + 1; b < NF_NFORMATS; b++)
				{
					if (!reads[b])
						continue;
					ref.both[a][b]++;
					ref.both[b][a]++;
					if (strcmp(plain[a], plain[b]) == 0)
						continue;
					ref.ndiffer[a][b]++;
					ref.ndiffer[b][a]++;
					if (!(ref.differ[a] & (1u << b)))
					{
						ref.differ[a] |= 1u << b;
						ref.differ[b] |= 1u << a;
						ref.example_line[a][b] = i + 2;
						snprintf(ref.example[a][b], sizeof(ref.example[a][b]), "%s", cells[i]);
					}
				}
			}
		}
		files++;
		if (sv.nshapes == NF_SHAPES && sv.next_shape > 0)
			evicted++; /* more shapes than it remembers: one was counted and let go */
		for (d = 0; d < 4; d++)
		{
			/* detect both separators; or give the decimal one; or the thousands one; or both */
			const NumFormat *g = &nf_formats[fmts[0]];
			char			 dec = d & 1 ? g->decimal : NF_DETECT,
				 grp = d & 2 ? g->group : NF_DETECT, err1[NF_ERRLEN], err2[NF_ERRLEN];
			NumFormat out1 = {0, 0}, out2 = {0, 0};
			int		  rc1 = nf_settle(&sv, delim, dec, grp, &out1, err1, sizeof(err1));
			int		  rc2 = nf_settle(&ref, delim, dec, grp, &out2, err2, sizeof(err2));

			if (rc1 != 0)
				refused++;
			if (rc1 != rc2 || (rc1 == 0 && !SameFormat(&out1, &out2)) || (rc1 != 0 && strcmp(err1, err2) != 0))
			{
				if (differ++ < 5)
					printf("#   %d values: survey %s / reference %s\n", k, rc1 ? err1 : "settled",
						   rc2 ? err2 : "settled");
			}
		}
	}
	OK(differ == 0 && refused > 0 && evicted > 0,
	   "%ld random files, 4 option sets each: the survey settles as the cell-by-cell reference (%ld refusals, %ld files "
	   "with more shapes than remembered; %ld differ)",
	   files, refused, evicted, differ);
}

static void
Differential(void)
{
	long values = 0, wrong = 0, readers_missing = 0, doubles_off = 0, other_readings = 0;
	long files = 0, files_settled = 0, files_refused = 0, files_wrong = 0, refused_unjustified = 0;
	long files_optioned_wrong = 0;
	int	 t;

	/* one value: read back in its own format, exactly; as a double, as strtod reads the plain text */
	for (t = 0; t < 200000; t++)
	{
		const NumFormat *f = &nf_formats[Rand(NF_NFORMATS)];
		char			 s[NF_MAX_LEN],
			want[NF_MAX_LEN],
			got[NF_MAX_LEN + 8];
		double	 d;
		unsigned readers;
		int		 g;

		WriteValue(f, s, sizeof(s), want, sizeof(want));
		values++;
		if (nf_read(f, s, got, sizeof(got)) != 0 || strcmp(got, want) != 0)
		{
			if (wrong++ < 5)
				printf("#   \"%s\" in format '%c'/'%c': got %s, want %s\n", s, f->decimal, f->group ? f->group : '-',
					   nf_read(f, s, got, sizeof(got)) == 0 ? got : "error", want);
		}
		readers = nf_readers(s);
		if (!(readers & (1u << (f - nf_formats))))
			readers_missing++;
		if (nf_read_double(f, s, &d) != 0 || d != strtod(want, NULL))
			doubles_off++;
		for (g = 0; g < NF_NFORMATS; g++)
			if (g != f - nf_formats && nf_read(&nf_formats[g], s, got, sizeof(got)) == 0 && strcmp(got, want) != 0)
			{
				other_readings++; /* a value another format reads as another number: what a file survey must settle */
				break;
			}
	}
	OK(wrong == 0, "%ld random values written in a random one of the 8 formats read back exactly in it (%ld wrong)",
	   values, wrong);
	OK(readers_missing == 0, "nf_readers always names the value's own format (%ld missed)", readers_missing);
	OK(doubles_off == 0, "nf_read_double gives what strtod gives for the plain text (%ld off)", doubles_off);
	OK(other_readings > 0, "%ld of them another format reads as another number (the survey's work)", other_readings);

	/*
	 * A file: 1 to 30 values in one format.  The survey either refuses it
	 * (then another format really reads every value one of them reads, and
	 * some value differently), or settles a format that reads every value
	 * as written: never a wrong number.  With the file's separators given
	 * as options, it always settles and reads them all.
	 */
	for (t = 0; t < 20000; t++)
	{
		const NumFormat *f = &nf_formats[Rand(NF_NFORMATS)];
		char			 cells[30][NF_MAX_LEN],
			wants[30][NF_MAX_LEN],
			got[NF_MAX_LEN + 8],
			err[NF_ERRLEN];
		int		  k = 1 + (int) Rand(30), i, g;
		char	  delim = Rand(2) ? ';' : ',';
		NumSurvey sv;
		NumFormat out;

		nf_survey_init(&sv);
		for (i = 0; i < k; i++)
		{
			WriteValue(f, cells[i], sizeof(cells[i]), wants[i], sizeof(wants[i]));
			nf_survey_add(&sv, cells[i], i + 2);
		}
		files++;
		if (nf_settle(&sv, delim, NF_DETECT, NF_DETECT, &out, err, sizeof(err)) == 0)
		{
			files_settled++;
			for (i = 0; i < k; i++)
				if (nf_read(&out, cells[i], got, sizeof(got)) != 0 || strcmp(got, wants[i]) != 0)
				{
					if (files_wrong++ < 5)
						printf("#   file in '%c'/'%c' settled as '%c'/'%c': \"%s\" read %s, want %s\n", f->decimal,
							   f->group ? f->group : '-', out.decimal, out.group ? out.group : '-', cells[i],
							   nf_read(&out, cells[i], got, sizeof(got)) == 0 ? got : "error", wants[i]);
					break;
				}
		}
		else
		{
			/*
			 * justified: some other format reads one of the values as
			 * another number, and either reads every value, or the file's
			 * decimal goes against the field separator's and fewer values
			 * than that tell the two apart
			 */
			int justified = 0;

			files_refused++;
			for (g = 0; g < NF_NFORMATS && !justified; g++)
			{
				int unread = 0, differs = 0;

				if (SameFormat(&nf_formats[g], f))
					continue;
				for (i = 0; i < k; i++)
				{
					if (nf_read(&nf_formats[g], cells[i], got, sizeof(got)) != 0)
						unread++;
					else if (strcmp(got, wants[i]) != 0)
						differs++;
				}
				justified =
					differs > 0 && (unread == 0 || (f->decimal != (delim == ';' ? ',' : '.') && unread < differs));
			}
			if (!justified && refused_unjustified++ < 5)
				printf("#   refused without cause (%s): first value \"%s\"\n", err, cells[0]);
		}
		if (nf_settle(&sv, delim, f->decimal, f->group, &out, err, sizeof(err)) != 0 || !SameFormat(&out, f))
			files_optioned_wrong++;
		else
			for (i = 0; i < k; i++)
				if (nf_read(&out, cells[i], got, sizeof(got)) != 0 || strcmp(got, wants[i]) != 0)
				{
					files_optioned_wrong++;
					break;
				}
	}
	OK(files_wrong == 0, "%ld random files: %ld settled, every value read as written (%ld read wrong)", files,
	   files_settled, files_wrong);
	OK(refused_unjustified == 0, "%ld refused, each one really readable two ways (%ld without cause)", files_refused,
	   refused_unjustified);
	OK(files_refused > 0 && files_settled > files_refused, "both outcomes met (%ld settled, %ld refused)",
	   files_settled, files_refused);
	OK(files_optioned_wrong == 0, "with decimal_separator and thousands_separator given, every file reads as written (%ld not)",
	   files_optioned_wrong);
}

int
main(void)
{
	char	  err[NF_ERRLEN];
	NumFormat f;
	double	  v;

	/* reading one value in a given format */
	reads(&DOT, "0.875", "0.875");
	reads(&DOT, "-12", "-12");
	reads(&DOT, "+3", "3");
	reads(&DOT, " 12 ", "12");
	reads(&DOT, "1e-05", "1e-05");
	reads(&DOT, "2.5E+3", "2.5e3");
	reads(&DOT, "1,234.5", NULL); /* no thousands separator in this format */
	reads(&DOT, "0,875", NULL);	  /* never read another way */
	reads(&DOT_COMMA, "1,234.5", "1234.5");
	reads(&DOT_COMMA, "1234.5", "1234.5"); /* grouping is optional */
	reads(&DOT_COMMA, "12,34.5", NULL);	   /* groups are threes */
	reads(&DOT_COMMA, "0,123", NULL);	   /* a group does not follow a leading 0 */
	reads(&DOT_COMMA, "1,234,567", "1234567");
	reads(&COMMA, "0,875", "0.875");
	reads(&COMMA, "0.875", NULL);
	reads(&COMMA_DOT, "1.234,5", "1234.5");
	reads(&COMMA_DOT, "1.234", "1234");
	reads(&COMMA_SPACE, "1 041,8", "1041.8");
	reads(&COMMA_SPACE, "1\xC2\xA0"
						"861,75890",
		  "1861.75890"); /* no-break space */
	reads(&COMMA_SPACE, "1\xE2\x80\xAF"
						"234,5",
		  "1234.5"); /* narrow no-break space */
	reads(&DOT_APOS, "1'234.5", "1234.5");
	reads(&DOT, "", NULL);
	reads(&DOT, "END", NULL);
	reads(&DOT, "< 1", NULL);
	reads(&DOT, "12abc", NULL);
	reads(&DOT, "1.", NULL);
	reads(&DOT, ".5", NULL);
	reads(&DOT, "1e", NULL);
	reads(&DOT, "--1", NULL);
	OK(nf_read_double(&COMMA, "0,875", &v) == 0 && v == 0.875, "0,875 is 0.875 exactly");
	OK(nf_read_double(&DOT, "1e999", &v) != 0, "an overflow is no number");
	/* nor an underflow, which would be 0: every exponent from 1e-300 down to 1e-400 */
	{
		int e,
			wrong = 0;
		char t[32];

		for (e = 307; e <= 400; e++)
		{
			snprintf(t, sizeof(t), "1e-%d", e);
			/* 1e-307 is normal; 1e-308 is below DBL_MIN: strtod flags ERANGE (subnormal, then 0) */
			if ((nf_read_double(&DOT, t, &v) == 0) != (e == 307))
				wrong++;
		}
		OK(wrong == 0, "1e-308 to 1e-400 (subnormal or 0) are no number, 1e-307 is: %d wrong", wrong);
	}
	/* a tab separates fields: it never groups digits, as a space may */
	OK(nf_readers("1\t234") == 0, "1<TAB>234 is no number");
	OK(nf_readers("1 234") != 0, "1 234 is a number (a space groups thousands)");
	OK(nf_readers("1,234") == ((1u << 1) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7)),
	   "\"1,234\": ',' groups with a decimal point, or is the decimal comma");
	OK(nf_readers("abc") == 0, "text is no number in any format");

	/* the file: decimal commas in a ';' file, decided once for the whole file */
	{
		static const char *const v1[] = {"0,875", "0,5", NULL};

		OK(settle(v1, ';', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == ',', "0,875 and 0,5: decimal comma");
	}
	/* 1,234 with 0.5: the point is the decimal, so the comma groups */
	{
		static const char *const v[] = {"1,234", "0.5", NULL};

		OK(settle(v, ',', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == '.' && f.group == ',',
		   "1,234 and 0.5: thousands comma, decimal point");
	}
	/* 1.234 with 0,5: the European way */
	{
		static const char *const v[] = {"1.234", "0,5", "12", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == ',' && f.group == '.',
		   "1.234 and 0,5: thousands point, decimal comma");
	}
	/* every value like 1,234: refused, the cell named */
	{
		static const char *const v[] = {"1,234", "5,678", "12", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == -1, "every value like 1,234: ambiguous");
		OK(strstr(err, "\"1,234\" on line 2") != NULL && strstr(err, "1234 (thousands separator ',')") != NULL &&
			   strstr(err, "1.234 (decimal separator ',')") != NULL,
		   "the message names the cell and both readings: %s", err);
		OK(settle(v, ';', ',', NF_DETECT, &f, err) == 0 && f.decimal == ',', "the decimal_separator option settles it");
		OK(settle(v, ';', NF_DETECT, ',', &f, err) == 0 && f.decimal == '.' && f.group == ',',
		   "so does the thousands_separator option");
	}
	/* integers only: every format reads them alike; the delimiter's locale is chosen */
	{
		static const char *const v[] = {"12", "7", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == ',' && f.group == NF_GROUP_NONE,
		   "integers in a ';' file: decimal comma, no grouping");
		OK(settle(v, ',', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == '.', "integers in a ',' file: point");
	}
	/* one stray value in another format: the file's format is the one that reads the rest */
	{
		static const char *const v[] = {"0,875", "0,5", "1,25", "0.5", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == ',' && nf_read(&f, "0.5", err, 64) != 0,
		   "three decimal commas and one 0.5: comma; 0.5 is then no number (a bad row)");
	}
	/*
	 * a ';' file of decimal commas that all look like thousands ("1,250"),
	 * with one stray "2.5": that one cell must not make every other value
	 * a thousand times larger; in a ',' file the same values settle on the
	 * decimal point its locale and the "2.5" agree on
	 */
	{
		static const char *const v[] = {"1,250", "2,125", "1,500", "3,875", "2.5", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == -1 && strstr(err, "4 values read differently") &&
			   strstr(err, "only 1 value shows"),
		   "';' file: four 1,250-like values and one 2.5: refused (%s)", err);
		OK(settle(v, ',', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == '.' && f.group == ',',
		   "',' file: the same values read with a decimal point and thousands commas");
		OK(settle(v, ';', ',', NF_DETECT, &f, err) == 0 && f.decimal == ',' && nf_read(&f, "2.5", err, 64) != 0,
		   "decimal_separator ',' settles it: 2.5 is then a bad value");
	}
	{
		static const char *const v[] = {"1,250", "2.5", "0.75", "12.5", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == '.' && f.group == ',',
		   "';' file where three values show a decimal point and one 1,250: read with the point (%s)", err);
	}
	/*
	 * runs of cells that every format reads alike (the survey counts such a
	 * run at once): 5 x "1,250", "2.5", 5 x "3,125", "0.75" in a ';' file.
	 * Only '.' with ',' groups reads all 12; the decimal comma reads the 10
	 * x,yyy cells as other numbers (1.25, 3.125) and the other two not at
	 * all, so 10 values read differently and only 2 show the point.
	 */
	{
		static const char *const v[] = {"1,250", "1,250", "1,250", "1,250", "1,250", "2.5",
										"3,125", "3,125", "3,125", "3,125", "3,125", "0.75", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == -1 && strstr(err, "\"1,250\" on line 2") &&
			   strstr(err, "10 values read differently") && strstr(err, "only 2 values show"),
		   "runs of 1,250-like values around two decimal points: every cell counted (%s)", err);
	}
	/* as many values each way: refused rather than half read */
	{
		static const char *const v[] = {"0,5", "0.5", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == -1, "0,5 and 0.5 once each: refused (%s)", err);
	}
	/* French export: space thousands */
	{
		static const char *const v[] = {"0,21233", "1 041,8", "2 562,57441", NULL};

		OK(settle(v, ';', NF_DETECT, NF_DETECT, &f, err) == 0 && f.decimal == ',' && f.group == ' ',
		   "French-locale values: decimal comma, space thousands");
	}
	/* contradicting options */
	{
		static const char *const v[] = {"1", NULL};

		OK(settle(v, ',', ',', ',', &f, err) == -1, "decimal and thousands both ',': refused (%s)", err);
	}
	/* options as text */
	{
		char c;

		OK(nf_parse_separator(",", 0, &c) == 0 && c == ',', "\",\" as decimal separator");
		OK(nf_parse_separator(" ", 0, &c) != 0, "a space is no decimal separator");
		OK(nf_parse_separator("", 1, &c) == 0 && c == NF_GROUP_NONE, "\"\": no thousands separator");
		OK(nf_parse_separator("\xC2\xA0", 1, &c) == 0 && c == ' ', "a no-break space is the space separator");
		OK(nf_parse_separator("_", 1, &c) != 0, "\"_\" is no separator");
	}
	DoublesLikeStrtod();
	SurveyLikeReference();
	Differential();
	printf("# unit tests done: numfmt\n");
	return tap_done();
}
