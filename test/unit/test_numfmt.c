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
	printf("# unit tests done: numfmt\n");
	return tap_done();
}
