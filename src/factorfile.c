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

/* Length of a Unicode space (ASCII blank, NBSP, thin or narrow NBSP) at p, else 0. */
static int
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

static int
IsBlank(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int n = SpaceAt(p);

		if (n == 0 && *p != '\r' && *p != '\n')
			return 0;
		p += n ? n : 1;
	}
	return 1;
}

/* True if s (digits and sep only) is grouped in threes by sep: 1,234,567. */
static int
GroupedByThrees(const char *s, char sep)
{
	const char *p = s;
	int			lead = 0;

	if (*p == '-' || *p == '+')
		p++;
	while (isdigit((unsigned char) *p))
	{
		lead++;
		p++;
	}
	if (lead < 1 || lead > 3 || *p != sep)
		return 0;
	while (*p == sep)
	{
		int n = 0;

		p++;
		while (isdigit((unsigned char) p[n]))
			n++;
		if (n != 3)
			return 0;
		p += 3;
	}
	return *p == '\0' || *p == '.' || *p == ',';
}

static void
RemoveChar(char *s, char c)
{
	char *w = s;

	for (; *s; s++)
		if (*s != c)
			*w++ = *s;
	*w = '\0';
}

int
ff_parse_number(const char *in, char delim, char *out, size_t outlen)
{
	char				 buf[64] = {0};
	size_t				 o = 0;
	const unsigned char *p = (const unsigned char *) in;
	char				*lastc,
		*lastp;
	int ncomma = 0,
		npoint = 0;
	const char *q;

	/* Copy without any kind of space (thousands separators in fr/de/...). */
	while (*p)
	{
		int n = SpaceAt(p);

		if (n)
		{
			p += n;
			continue;
		}
		if (o + 1 >= sizeof(buf))
			return -1;
		buf[o++] = (char) *p++;
	}
	buf[o] = '\0';
	if (o == 0)
		return -1;

	for (q = buf; *q; q++)
	{
		ncomma += (*q == ',');
		npoint += (*q == '.');
	}
	lastc = strrchr(buf, ',');
	lastp = strrchr(buf, '.');
	if (ncomma && npoint)
	{
		/* Both: the later one is the decimal mark. */
		if (lastc > lastp)
		{
			RemoveChar(buf, '.');
			*strrchr(buf, ',') = '.';
		}
		else
			RemoveChar(buf, ',');
	}
	else if (ncomma)
	{
		/* 1,234,567 is grouping in a comma file or with several commas; else 0,5 is a decimal comma */
		int grouped = GroupedByThrees(buf, ',');

		if (grouped && (delim == ',' || ncomma > 1))
			RemoveChar(buf, ',');
		else if (ncomma == 1)
			*lastc = '.';
		else
			return -1;
	}
	else if (npoint > 1)
	{
		if (!GroupedByThrees(buf, '.'))
			return -1;
		RemoveChar(buf, '.');
	}

	/* Now it must be a plain decimal: [+-]digits[.digits][e[+-]digits]. */
	q = buf;
	if (*q == '+' || *q == '-')
		q++;
	{
		int digits = 0;

		while (isdigit((unsigned char) *q))
			q++, digits++;
		if (*q == '.')
		{
			q++;
			while (isdigit((unsigned char) *q))
				q++, digits++;
		}
		if (digits == 0)
			return -1;
		if (*q == 'e' || *q == 'E')
		{
			int ed = 0;

			q++;
			if (*q == '+' || *q == '-')
				q++;
			while (isdigit((unsigned char) *q))
				q++, ed++;
			if (ed == 0)
				return -1;
		}
		if (*q != '\0')
			return -1;
	}
	if (strlen(buf) + 1 > outlen)
		return -1;
	strcpy(out, buf[0] == '+' ? buf + 1 : buf);
	return 0;
}

const char *
ff_gas(const char *ghg_unit)
{
	char		n[64];
	const char *t;
	size_t		len;

	ff_normalise(ghg_unit, n, sizeof(n));
	if (strncmp(n, "kg ", 3) != 0)
		return NULL;
	t = n + 3;
	/* 2022: "kg CO2e of CH4"; 2023+: "kg CO2e of CH4 per unit" */
	if (strncmp(t, "co2e of ", 8) == 0)
		t += 8;
	len = strcspn(t, " ");
	if (len == 4 && strncmp(t, "co2e", 4) == 0)
		return "CO2e";
	if (len == 3 && strncmp(t, "co2", 3) == 0)
		return "CO2";
	if (len == 3 && strncmp(t, "ch4", 3) == 0)
		return "CH4";
	if (len == 3 && strncmp(t, "n2o", 3) == 0)
		return "N2O";
	return NULL;
}

const char *const ff_skip_names[4] = {"empty", "bound", "end", "text"};

FfSkip
ff_skip_reason(const char *value, char **cells, int ncells)
{
	char v[64];
	int	 i;

	ff_normalise(value, v, sizeof(v));
	if (v[0] == '\0')
	{
		/* the END marker stands in the first column or the second (2021-2024) */
		for (i = 0; i < ncells && i < 2; i++)
		{
			char f[8];

			ff_normalise(cells[i], f, sizeof(f));
			if (strcmp(f, "end") == 0)
				return FF_SKIP_END;
		}
		return FF_SKIP_EMPTY;
	}
	/* "< 1" (refrigerants of negligible GWP), "<1", "> 10": a bound, not a figure */
	if (v[0] == '<' || v[0] == '>')
	{
		char out[64];

		if (ff_parse_number(v + 1, ',', out, sizeof(out)) == 0)
			return FF_SKIP_BOUND;
	}
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
		int k = SpaceAt(p);

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
	if (ff_parse_number(v, ff->delim, out->value, sizeof(out->value)) != 0)
	{
		FfSkip why = ff_skip_reason(v, cells, ncells);

		if (why == FF_SKIP_EMPTY && ff->skipped[why] < FF_MAX_EMPTY_LINES)
			ff->empty_lines[ff->skipped[why]] = line;
		ff->rows_skipped++;
		ff->skipped[why]++;
		return FF_SKIPPED;
	}
	out->line = line;
	for (i = 0; i < FF_NCOLUMNS; i++)
	{
		int c = ff->col[i];

		out->cells[i] = (c >= 0 && c < ncells && !IsBlank(cells[c])) ? cells[c] : NULL;
		if (out->cells[i] && i >= FF_SCOPE && i <= FF_COLUMN_TEXT)
			out->cells[i] = TrimLabel(cells[c]);
	}
	out->gas = out->cells[FF_GHG] ? ff_gas(out->cells[FF_GHG]) : NULL;
	ff->rows_loaded++;
	return FF_ROW;
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
