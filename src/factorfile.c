/*
 * factorfile.c
 *		Pure C recogniser for DESNZ/BEIS flat-file factor tables; see
 *		factorfile.h.
 */
#include "factorfile.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ColumnName
{
	FfColumn	col;
	const char *name;	/* normalised header text */
	int			prefix; /* match as a prefix */
	int			required;
	const char *display; /* as shown in error messages */
} ColumnName;

static const ColumnName columns[] = {
	{FF_ID, "id", 0, 0, "ID"},
	{FF_SCOPE, "scope", 0, 1, "Scope"},
	{FF_LEVEL1, "level 1", 0, 1, "Level 1"},
	{FF_LEVEL2, "level 2", 0, 1, "Level 2"},
	{FF_LEVEL3, "level 3", 0, 1, "Level 3"},
	{FF_LEVEL4, "level 4", 0, 1, "Level 4"},
	{FF_COLUMN_TEXT, "column text", 0, 1, "Column Text"},
	{FF_UOM_SIMPLE, "uom (simple)", 0, 0, "UOM (simple)"},
	{FF_UOM, "uom", 0, 1, "UOM"},
	{FF_GHG, "ghg/unit", 0, 1, "GHG/Unit (or GHG)"},
	{FF_GHG, "ghg", 0, 1, NULL},
	{FF_LOOKUP, "lookup", 0, 0, "Lookup"},
	{FF_VALUE, "ghg conversion factor", 1, 1, "GHG Conversion Factor YYYY"},
};

#define NCOLNAMES (sizeof(columns) / sizeof(columns[0]))

/* Lower-case, trim and collapse runs of white space into one space. */
void
ff_normalise(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	int	   space = 0;

	while (*in && isspace((unsigned char) *in))
		in++;
	for (; *in && o + 1 < outlen; in++)
	{
		unsigned char c = (unsigned char) *in;

		if (isspace(c))
		{
			space = 1;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = 0;
		if (o + 1 < outlen)
			out[o++] = (char) tolower(c);
	}
	out[o] = '\0';
}

static int
IsBlank(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int n = nf_space_at(p);

		if (n == 0 && *p != '\r' && *p != '\n')
			return 0;
		p += n ? n : 1;
	}
	return 1;
}

/*
 * A label normalised for classifying: lower case, no white space, Unicode
 * subscript digits (CO₂) as plain ones.
 */
static void
Squeeze(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *) in;
	size_t				 o = 0;

	while (*p && o + 1 < outlen)
	{
		int n = nf_space_at(p);

		if (n)
			p += n;
		else if (p[0] == 0xE2 && p[1] == 0x82 && p[2] >= 0x80 && p[2] <= 0x89)
		{
			out[o++] = (char) ('0' + (p[2] - 0x80));
			p += 3;
		}
		else if (*p == '\r' || *p == '\n')
			p++;
		else
			out[o++] = (char) tolower(*p++);
	}
	out[o] = '\0';
}

static int
StripPrefix(const char **s, const char *prefix)
{
	size_t l = strlen(prefix);

	if (strncmp(*s, prefix, l) != 0)
		return 0;
	*s += l;
	return 1;
}

/*
 * Classify a GHG (to 2021) or GHG/Unit (2022 on) label.  The wordings of
 * the years: "kg CO2e", "kg CH4" (to 2021), "kg CO2e of CH4" (2022), "kg
 * CO2e of CH4 per unit" (2023 on), in any case and spacing, and the forms
 * spreadsheets and re-keyed copies use ("kgCO2e", "kg CO2-e", "kg CO2eq",
 * "kg of CO2e", "kg CO₂e").  Conversions: kWh, MWh, GWh, MJ, GJ and therms,
 * with or without a calorific-value basis ("kWh (Net CV)", "kWh (net)").
 */
FfKind
ff_classify_unit(const char *ghg_unit, const char **gas, char *canon, size_t canonlen)
{
	char					 n[96];
	const char				*t = n;
	size_t					 i;
	int						 letters = 0;
	static const char *const energy[] = {"kwh", "mwh", "gwh", "mj", "gj", "therms", "therm", NULL};
	static const char *const basis[] = {"", "(netcv)", "(net)", "(grosscv)", "(gross)", "netcv", "grosscv", NULL};

	*gas = NULL;
	if (canonlen > 0)
		canon[0] = '\0';
	if (strlen(ghg_unit) >= sizeof(n))
		return FF_KIND_UNKNOWN;
	Squeeze(ghg_unit, n, sizeof(n));
	for (i = 0; n[i]; i++)
		letters += isalnum((unsigned char) n[i]) != 0;
	if (letters == 0)
		return FF_KIND_NONE;
	if (canonlen > 0)
		snprintf(canon, canonlen, "%s", n);
	if (StripPrefix(&t, "kg"))
	{
		char   g[32];
		size_t l;

		(void) StripPrefix(&t, "of");
		/* 2022 on: "kg CO2e of CH4 [per unit]" */
		(void) (StripPrefix(&t, "co2eof") || StripPrefix(&t, "co2-eof") || StripPrefix(&t, "co2eqof"));
		snprintf(g, sizeof(g), "%s", t);
		l = strlen(g);
		if (l > 7 && strcmp(g + l - 7, "perunit") == 0)
			g[l - 7] = '\0';
		else if (l > 5 && strcmp(g + l - 5, "/unit") == 0)
			g[l - 5] = '\0';
		if (strcmp(g, "co2e") == 0 || strcmp(g, "co2-e") == 0 || strcmp(g, "co2eq") == 0 ||
			strcmp(g, "co2equivalent") == 0)
			*gas = "CO2e";
		else if (strcmp(g, "co2") == 0)
			*gas = "CO2";
		else if (strcmp(g, "ch4") == 0)
			*gas = "CH4";
		else if (strcmp(g, "n2o") == 0)
			*gas = "N2O";
		if (*gas != NULL)
		{
			if (canonlen > 0)
				snprintf(canon, canonlen, "kg %s", *gas);
			return FF_KIND_GAS;
		}
		return FF_KIND_UNKNOWN;
	}
	for (i = 0; energy[i]; i++)
	{
		const char *r = t;
		int			k;

		if (!StripPrefix(&r, energy[i]))
			continue;
		for (k = 0; basis[k]; k++)
			if (strcmp(r, basis[k]) == 0)
				return FF_KIND_CONVERSION;
	}
	return FF_KIND_UNKNOWN;
}

const char *
ff_gas(const char *ghg_unit)
{
	const char *gas;

	return ff_classify_unit(ghg_unit, &gas, NULL, 0) == FF_KIND_GAS ? gas : NULL;
}

const char *const ff_skip_names[4] = {"empty", "bound", "end", "text"};

/* Why a row publishing no number has none: an empty cell, a bound such as "< 1", or other text. */
static FfSkip
NoValueReason(const char *value)
{
	char v[64];

	ff_normalise(value, v, sizeof(v));
	if (v[0] == '\0')
		return FF_SKIP_EMPTY;
	/* "< 1" (refrigerants of negligible GWP), "<1", "> 10": a bound, not a figure */
	if ((v[0] == '<' || v[0] == '>') && nf_readers(v[1] == ' ' ? v + 2 : v + 1) != 0)
		return FF_SKIP_BOUND;
	return FF_SKIP_TEXT;
}

/*
 * The path labels (Scope, Level 1-4, Column Text) without the white space
 * some years' cells carry around them ("R1234yf " in 2016-2018): trimmed in
 * place, so that a label matches however the file padded it.
 */
static char *
TrimLabel(char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t				 n;

	for (;;)
	{
		int k = nf_space_at(p);

		if (k == 0 && *p != '\r' && *p != '\n')
			break;
		p += k ? k : 1;
	}
	s = (char *) p;
	n = strlen(s);
	while (n > 0)
	{
		unsigned char c = (unsigned char) s[n - 1];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			n--;
		else if (n >= 2 && (unsigned char) s[n - 2] == 0xC2 && c == 0xA0)
			n -= 2;
		else if (n >= 3 && (unsigned char) s[n - 3] == 0xE2 && (unsigned char) s[n - 2] == 0x80 && (c == 0xAF || c == 0x89))
			n -= 3;
		else
			break;
	}
	s[n] = '\0';
	return s;
}

void
ff_init(FactorFile *ff, char delim)
{
	int i;

	memset(ff, 0, sizeof(*ff));
	for (i = 0; i < FF_NCOLUMNS; i++)
		ff->col[i] = -1;
	ff->delim = delim;
	ff->best_score = -1;
	ff->numfmt = nf_formats[0];
	nf_survey_init(&ff->numbers);
}

void
ff_check_width(FactorFile *ff)
{
	ff->check_width = 1;
}

void
ff_survey(FactorFile *ff)
{
	ff->surveying = 1;
}

int
ff_settle(FactorFile *ff, char decimal, char group, NumFormat *out)
{
	char why[NF_ERRLEN];

	if (nf_settle(&ff->numbers, ff->delim, decimal, group, out, why, sizeof(why)) != 0)
	{
		snprintf(ff->err, FF_ERRLEN, "%s", why);
		return -1;
	}
	return 0;
}

void
ff_use_format(FactorFile *ff, const NumFormat *f)
{
	ff->numfmt = *f;
}

/* Try to read cells as the header row; returns how many required columns matched. */
static int
MatchHeader(FactorFile *ff, char **cells, int ncells, int commit)
{
	int	   found[FF_NCOLUMNS];
	int	   score = 0;
	int	   i;
	size_t k;
	int	   year = 0;

	for (i = 0; i < FF_NCOLUMNS; i++)
		found[i] = -1;
	for (i = 0; i < ncells; i++)
	{
		char h[128];

		ff_normalise(cells[i], h, sizeof(h));
		for (k = 0; k < NCOLNAMES; k++)
		{
			const ColumnName *c = &columns[k];
			int				  hit = c->prefix ? strncmp(h, c->name, strlen(c->name)) == 0
											  : strcmp(h, c->name) == 0;

			if (hit && found[c->col] < 0)
			{
				found[c->col] = i;
				if (c->col == FF_VALUE)
				{
					const char *y = h + strlen(c->name);

					while (*y == ' ')
						y++;
					if (strlen(y) == 4 && isdigit((unsigned char) y[0]) && isdigit((unsigned char) y[1]) &&
						isdigit((unsigned char) y[2]) && isdigit((unsigned char) y[3]))
						year = atoi(y);
				}
				break;
			}
		}
	}
	for (k = 0; k < NCOLNAMES; k++)
		if (columns[k].required && columns[k].display && found[columns[k].col] >= 0)
			score++;
	if (commit)
	{
		memcpy(ff->col, found, sizeof(found));
		ff->year = year;
	}
	return score;
}

static int
RequiredCount(void)
{
	size_t k;
	int	   n = 0;

	for (k = 0; k < NCOLNAMES; k++)
		if (columns[k].required && columns[k].display)
			n++;
	return n;
}

/* Remember the row that looked most like a header, for the error message. */
static void
RememberCandidate(FactorFile *ff, char **cells, int ncells, long line, int score)
{
	size_t o = 0;
	int	   i;

	if (score <= ff->best_score)
		return;
	ff->best_score = score;
	ff->best_line = line;
	ff->best_cells[0] = '\0';
	for (i = 0; i < ncells; i++)
	{
		int n;

		if (IsBlank(cells[i]))
			continue;
		n = snprintf(ff->best_cells + o, sizeof(ff->best_cells) - o - 8, "%s\"%.60s\"",
					 o ? ", " : "", cells[i]);
		if (n < 0 || (size_t) n >= sizeof(ff->best_cells) - o - 8)
		{
			/* keep whole cells only, and say that more followed */
			ff->best_cells[o] = '\0';
			strcat(ff->best_cells, ", ...");
			break;
		}
		o += n;
	}
}

static void
HeaderError(FactorFile *ff)
{
	char   expected[400];
	size_t o = 0;
	size_t k;

	expected[0] = '\0';
	for (k = 0; k < NCOLNAMES; k++)
		if (columns[k].display)
			o += snprintf(expected + o, sizeof(expected) - o, "%s%s%s", o ? ", " : "",
						  columns[k].display, columns[k].required ? "" : " (optional)");
	if (ff->best_score < 0)
		snprintf(ff->err, FF_ERRLEN,
				 "the file has no rows, so it cannot be a DESNZ/BEIS flat file; expected a header row with the columns %s",
				 expected);
	else
		snprintf(ff->err, FF_ERRLEN,
				 "no header row of a DESNZ/BEIS flat file in the first %d rows; expected the columns %s; the closest row (line %ld) has %s",
				 FF_HEADER_SEARCH_ROWS, expected, ff->best_line,
				 ff->best_cells[0] ? ff->best_cells : "no text");
}

/* Note the row's label in its Level 1 group; the group's one label so far, if its rows agree on one. */
static void
Group(FactorFile *ff, const char *level1, FfKind kind, const char *gas, const char *canon)
{
	char l1[128];

	ff_normalise(level1 ? level1 : "", l1, sizeof(l1));
	if (strcmp(l1, ff->group_level1) != 0)
	{
		snprintf(ff->group_level1, sizeof(ff->group_level1), "%s", l1);
		ff->group_uniform = 1;
		ff->group_kind = FF_KIND_NONE;
		ff->group_label[0] = '\0';
		ff->group_gas = NULL;
	}
	if (kind != FF_KIND_GAS && kind != FF_KIND_CONVERSION)
		return;
	if (ff->group_kind == FF_KIND_NONE)
	{
		ff->group_kind = kind;
		ff->group_gas = gas;
		snprintf(ff->group_label, sizeof(ff->group_label), "%s", canon);
	}
	else if (ff->group_kind != kind || strcmp(ff->group_label, canon) != 0)
		ff->group_uniform = 0;
}

static FfResult
Unclassified(FactorFile *ff)
{
	ff->rows_skipped++;
	ff->rows_unclassified++;
	return FF_UNCLASSIFIED;
}

/* A data row: loaded, published without a number, or a number that cannot be classified. */
static FfResult
Classify(FactorFile *ff, const char *v, FactorRow *out)
{
	const char *label = out->cells[FF_GHG];
	const char *gas = NULL;
	char		canon[48];
	char		fmt[120];
	FfKind		kind = label ? ff_classify_unit(label, &gas, canon, sizeof(canon)) : FF_KIND_NONE;

	Group(ff, out->cells[FF_LEVEL1], kind, gas, canon);
	if (!IsBlank(v) && nf_readers(v) == 0 && NoValueReason(v) == FF_SKIP_TEXT && strpbrk(v, "0123456789") != NULL)
	{
		/* "0.20493 kg", "£0.00118", "18%", "0.00094*": a number with something around it is not read, nor skipped */
		snprintf(out->reason, sizeof(out->reason),
				 "the value cell holds \"%.40s\": a number with other text, which car does not read as a factor", v);
		return Unclassified(ff);
	}
	if (IsBlank(v) || nf_readers(v) == 0)
	{
		if (IsBlank(v))
			snprintf(out->reason, sizeof(out->reason), "no factor is published: the value cell is empty");
		else
			snprintf(out->reason, sizeof(out->reason), "no factor is published: the value cell holds the text \"%.40s\", not a number", v);
		{
			FfSkip why = NoValueReason(v);

			if (why == FF_SKIP_EMPTY && ff->skipped[why] < FF_MAX_EMPTY_LINES)
				ff->empty_lines[ff->skipped[why]] = out->line;
			ff->skipped[why]++;
		}
		ff->rows_skipped++;
		ff->rows_no_value++;
		return FF_NO_VALUE;
	}
	if (nf_read(&ff->numfmt, v, out->value, sizeof(out->value)) != 0)
	{
		snprintf(out->reason, sizeof(out->reason), "the value \"%.40s\" is not a number in the file's format (%s)", v,
				 nf_describe(&ff->numfmt, fmt, sizeof(fmt)));
		return Unclassified(ff);
	}
	if (kind == FF_KIND_NONE)
	{
		/* no label (empty, or a stray mark): the one its group's rows agree on */
		if (ff->group_kind != FF_KIND_NONE && ff->group_uniform)
		{
			kind = ff->group_kind;
			gas = ff->group_gas;
		}
		else
		{
			snprintf(out->reason, sizeof(out->reason),
					 "the GHG/Unit cell (\"%.20s\") names no unit, and the rows before it in Level 1 \"%.60s\" do not agree on one",
					 label ? label : "", out->cells[FF_LEVEL1] ? out->cells[FF_LEVEL1] : "");
			return Unclassified(ff);
		}
	}
	if (kind == FF_KIND_UNKNOWN)
	{
		snprintf(out->reason, sizeof(out->reason),
				 "the GHG/Unit \"%.60s\" is neither kg of CO2e, CO2, CH4 or N2O (in any year's wording) nor an energy conversion such as kWh (Net CV)",
				 label);
		return Unclassified(ff);
	}
	if (out->cells[FF_UOM] == NULL)
	{
		snprintf(out->reason, sizeof(out->reason), "the row has a factor but no unit of measure (its UOM cell is empty)");
		return Unclassified(ff);
	}
	if (out->cells[FF_LEVEL1] == NULL)
	{
		snprintf(out->reason, sizeof(out->reason), "the row has a factor but no category (its Level 1 cell is empty)");
		return Unclassified(ff);
	}
	out->gas = kind == FF_KIND_GAS ? gas : NULL;
	ff->rows_loaded++;
	return FF_ROW;
}

FfResult
ff_feed(FactorFile *ff, char **cells, int ncells, long line, FactorRow *out)
{
	int			i;
	int			blank = 1;
	const char *v;

	for (i = 0; i < ncells; i++)
		if (!IsBlank(cells[i]))
		{
			blank = 0;
			break;
		}

	if (!ff->header_found)
	{
		int score;

		if (blank)
			return FF_PREAMBLE;
		if (++ff->rows_seen > FF_HEADER_SEARCH_ROWS)
		{
			HeaderError(ff);
			return FF_ERROR;
		}
		if (ff->title[0] == '\0')
			for (i = 0; i < ncells; i++)
			{
				char n[16];

				/* the 2016-2018 sheets mark columns above the header: no title */
				ff_normalise(cells[i], n, sizeof(n));
				if (IsBlank(cells[i]) || strcmp(n, "category") == 0 || strcmp(n, "hide") == 0)
					continue;
				snprintf(ff->title, sizeof(ff->title), "%s", cells[i]);
				break;
			}
		score = MatchHeader(ff, cells, ncells, 0);
		RememberCandidate(ff, cells, ncells, line, score);
		if (score == RequiredCount())
		{
			MatchHeader(ff, cells, ncells, 1);
			ff->header_found = 1;
			ff->header_line = line;
			for (ff->header_cells = ncells; ff->header_cells > 0 && IsBlank(cells[ff->header_cells - 1]);)
				ff->header_cells--;
			ff->rows_seen = 0;
			if (strncmp(ff->title, cells[0], sizeof(ff->title) - 1) == 0)
				ff->title[0] = '\0';
		}
		return FF_PREAMBLE;
	}

	if (blank)
		return FF_BLANK;
	ff->rows_seen++;
	v = ff->col[FF_VALUE] < ncells ? cells[ff->col[FF_VALUE]] : "";
	if (ff->surveying)
	{
		nf_survey_add(&ff->numbers, v, line);
		return FF_PREAMBLE;
	}
	out->line = line;
	out->reason[0] = '\0';
	for (i = 0; i < FF_NCOLUMNS; i++)
	{
		int c = ff->col[i];

		out->cells[i] = (c >= 0 && c < ncells && !IsBlank(cells[c])) ? cells[c] : NULL;
		if (out->cells[i] && i >= FF_SCOPE && i <= FF_COLUMN_TEXT)
			out->cells[i] = TrimLabel(cells[c]);
	}
	out->gas = NULL;

	if (ff->check_width)
	{
		int width = ncells;

		while (width > 0 && IsBlank(cells[width - 1]))
			width--;
		if (width > ff->header_cells)
		{
			snprintf(out->reason, sizeof(out->reason),
					 "the row has %d fields, the header (line %ld) %d: a value holding the field separator (a decimal "
					 "comma in a comma-separated file) must be quoted",
					 width, ff->header_line, ff->header_cells);
			return Unclassified(ff);
		}
	}

	/* END, alone on its row: the file's end marker */
	{
		int others = 0,
			ends = 0;

		for (i = 0; i < ncells; i++)
		{
			char n[8];

			if (IsBlank(cells[i]))
				continue;
			ff_normalise(cells[i], n, sizeof(n));
			if (strcmp(n, "end") == 0 && strlen(cells[i]) < 16)
				ends++;
			else
				others++;
		}
		if (ends > 0 && others == 0)
		{
			ff->rows_skipped++;
			ff->skipped[FF_SKIP_END]++;
			return FF_STRUCTURAL;
		}
	}
	return Classify(ff, v, out);
}

int
ff_finish(FactorFile *ff)
{
	if (!ff->header_found)
	{
		HeaderError(ff);
		return -1;
	}
	return 0;
}
