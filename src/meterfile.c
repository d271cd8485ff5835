/*
 * meterfile.c
 *		Pure C reader of meter-data layouts; see meterfile.h.
 */
#include "meterfile.h"
#include "factorfile.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
									 "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const month_names[] = {"january", "february", "march", "april", "may", "june", "july",
										  "august", "september", "october", "november", "december"};

/* Candidate header names (normalised) for each role, by format. */
static const char *const site_names[] = {"site", "site name", "site id", "siteref", "site ref", "location", "building", NULL};
static const char *const meter_names[] = {"meter", "meter name", "meter number", "meter id", "mpan", "mprn", "mpr", "meter point", "id", NULL};
static const char *const old_meter_names[] = {"type", NULL}; /* ecodriver's older daily layout */
static const char *const date_names[] = {"date", "reading date", "consumptiondate", "consumption date", "read date", "day", NULL};
static const char *const unit_names[] = {"unit", "units", "uom", NULL};
static const char *const stamp_names[] = {"datetime", "timestamp", "readdatetime", "read datetime", "date time", "date/time", "ts", NULL};
static const char *const time_names[] = {"time", "read time", "reading time", NULL};
static const char *const value_names[] = {"kwh", "value", "reading", "consumption", "quantity", "usage", NULL};
static const char *const activity_names[] = {"type", "fuel", "utility", "commodity", NULL};

const char *
mf_format_name(MfFormat f)
{
	return f == MF_ECODRIVER ? "ecodriver" : f == MF_HALFHOURLY ? "halfhourly"
																: "long";
}

static int
IsBlank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return 0;
	return 1;
}

/* Quote a cell for an error message, shortened. */
static const char *
Shown(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "\"%.40s%s\"", s, strlen(s) > 40 ? "..." : "");
	return buf;
}

void
mf_init(MeterFile *mf, const MfOptions *opt, char delim)
{
	memset(mf, 0, sizeof(*mf));
	mf->opt = *opt;
	mf->delim = delim ? delim : ',';
	mf->col_site = mf->col_meter = mf->col_date = mf->col_time = mf->col_unit = mf->col_activity = mf->col_value = -1;
	mf->best_score = -1;
	if (opt->date_format)
	{
		snprintf(mf->date_format, sizeof(mf->date_format), "%s", opt->date_format);
		mf->date_format_fixed = 1;
	}
	nf_survey_init(&mf->numbers);
	mf->numfmt = nf_formats[delim == ';' ? 4 : 0];
}

/* Index of the column named name (case-insensitive), or -1. */
static int
FindNamed(char **cells, int n, const char *name)
{
	char want[128],
		h[128];
	int i;

	ff_normalise(name, want, sizeof(want));
	for (i = 0; i < n; i++)
	{
		ff_normalise(cells[i], h, sizeof(h));
		if (strcmp(h, want) == 0)
			return i;
	}
	return -1;
}

static int
Taken(const int *taken, int ntaken, int c)
{
	int j;

	for (j = 0; j < ntaken; j++)
		if (taken[j] == c)
			return 1;
	return 0;
}

/* First column whose name is one of the candidates, skipping taken columns. */
static int
FindAny(char **cells, int n, const char *const *names, const int *taken, int ntaken)
{
	int k,
		i;

	for (k = 0; names[k]; k++)
	{
		int c = FindNamed(cells, n, names[k]);

		if (c >= 0 && !Taken(taken, ntaken, c))
			return c;
	}
	/* a header such as "equipment load [kWh]" names a value column by its unit */
	if (names == value_names)
		for (i = 0; i < n; i++)
		{
			char h[128];

			ff_normalise(cells[i], h, sizeof(h));
			if (!Taken(taken, ntaken, i) && (strstr(h, "[kwh]") || strstr(h, "(kwh)") || strstr(h, "load")))
				return i;
		}
	return -1;
}

/* ---------------------------------------------------------------- labels */

#define LABEL_CLOCK 1
#define LABEL_KWH_N 2
#define LABEL_RANGE 3

/*
 * What a header cell says about half-hours: 1 for a label (*kind, and
 * *minutes: the clock time, or the position for kWh_N), 0 for no label, -1
 * for a clock time off the half-hour grid (a quarter-hour column).
 */
static int
LabelOf(const char *cell, int *minutes, int *kind)
{
	char h[40];
	int	 hh,
		mm,
		n = 0,
		hh2,
		mm2;
	size_t l;
	char  *p;

	if (strlen(cell) >= sizeof(h))
		return 0;
	ff_normalise(cell, h, sizeof(h));
	if (strncmp(h, "kwh_", 4) == 0)
	{
		if (sscanf(h, "kwh_%d%n", &hh, &n) == 1 && h[n] == '\0' && hh >= 1 && hh <= MF_MAX_SLOTS && isdigit((unsigned char) h[4]))
		{
			*kind = LABEL_KWH_N;
			*minutes = (hh - 1) * 30;
			return 1;
		}
		return 0;
	}
	l = strlen(h);
	if (h[0] == '[')
	{
		if (l < 3 || h[l - 1] != ']')
			return 0;
		memmove(h, h + 1, l - 2);
		h[l - 2] = '\0';
	}
	if (!isdigit((unsigned char) h[0]))
		return 0;
	p = h;
	hh = 0;
	while (isdigit((unsigned char) *p) && p - h < 2)
		hh = hh * 10 + (*p++ - '0');
	if (*p != ':' || !isdigit((unsigned char) p[1]) || !isdigit((unsigned char) p[2]))
		return 0;
	mm = (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (p[0] == ':' && p[1] == '0' && p[2] == '0')
		p += 3;
	*kind = LABEL_CLOCK;
	if (*p != '\0')
	{
		/* a range: "00:00-00:30", "00:00 - 00:30", "00:00 to 00:30" */
		while (*p == ' ')
			p++;
		if (*p == '-')
			p++;
		else if (strncmp(p, "to", 2) == 0)
			p += 2;
		else
			return 0;
		while (*p == ' ')
			p++;
		if (sscanf(p, "%2d:%2d%n", &hh2, &mm2, &n) != 2 || (p[n] != '\0' && strcmp(p + n, ":00") != 0))
			return 0;
		if (mm2 % 30 != 0 || (hh2 * 60 + mm2 - hh * 60 - mm + 1440) % 1440 != 30)
			return -1;
		*kind = LABEL_RANGE;
	}
	if (mm > 59 || hh > 25)
		return 0;
	if (mm % 30 != 0 || hh * 60 + mm > 25 * 60)
		return -1;
	*minutes = hh * 60 + mm;
	return 1;
}

/*
 * Place the clock labels m[0..n-1] (in column order) as period starts
 * (want_end 0) or ends (1).  forced: the period option says which, so a
 * contiguous run need not cover a whole day.  Returns 0 with slots[] and
 * *wall (0, or 46 / 50 for a clock-change day's wall-clock labels), or -1.
 */
static int
PlaceLabels(const int *m, int n, int want_end, int forced, int *slots, int *wall)
{
	int u[MF_MAX_SLOTS];
	int wraps = 0,
		irregular = 0,
		step = 0,
		i;
	int first = want_end ? 30 : 0;
	int last = want_end ? 1440 : 1410; /* a normal day's last label */
	int contiguous,
		wallclock;

	if (n < 1 || n > MF_MAX_SLOTS)
		return -1;
	for (i = 0; i < n; i++)
	{
		u[i] = m[i] + 1440 * wraps;
		/* past midnight: a final 00:00 (24:00), and on from there */
		if (i > 0 && u[i] < u[i - 1] && u[i] + 1440 - u[i - 1] == 30 && wraps == 0)
		{
			wraps = 1;
			u[i] += 1440;
		}
		if (i > 0 && u[i] - u[i - 1] != 30)
		{
			irregular++;
			step = u[i] - u[i - 1];
		}
	}
	contiguous = irregular == 0;
	/* one jump (the spring's missing hour) or one step back (the autumn's repeated hour) */
	wallclock = irregular == 1 && ((step == 90 && n == 46) || (step == -30 && n == 50)) && u[0] == first &&
				u[n - 1] == last;
	*wall = 0;
	if (wallclock)
	{
		*wall = n;
		for (i = 0; i < n; i++)
			slots[i] = i;
		return 0;
	}
	if (!contiguous || u[0] < first || u[n - 1] > last + 60)
		return -1;
	if (!forced && (u[0] != first || u[n - 1] < last))
		return -1;
	for (i = 0; i < n; i++)
		slots[i] = u[i] / 30 - (want_end ? 1 : 0);
	return 0;
}

/*
 * Find one column: the one options name (an error if absent), else the first
 * with a usual name.  Returns its index, -1 if none, or -2 with mf->err set.
 */
static int
FindColumn(MeterFile *mf, char **cells, int n, long line, const char *found, const char *optname,
		   const char *optval, const char *const *names, int required, const char *what, int *taken, int *nt)
{
	int c = -1;

	if (optval)
	{
		c = FindNamed(cells, n, optval);
		if (c < 0)
		{
			snprintf(mf->err, MF_ERRLEN, "options say %s is column \"%s\", but the header on line %ld has %s",
					 optname, optval, line, found);
			return -2;
		}
	}
	else if (names)
		c = FindAny(cells, n, names, taken, *nt);
	if (c >= 0 && !optval && names == value_names)
	{
		/* two columns named for a value (Reading and Consumption): which one holds the readings is not guessed */
		int i,
			k;

		for (i = 0; i < n; i++)
			for (k = 0; i != c && !Taken(taken, *nt, i) && value_names[k]; k++)
				if (FindNamed(&cells[i], 1, value_names[k]) == 0)
				{
					snprintf(mf->err, MF_ERRLEN,
							 "the header on line %ld has two columns that may hold the values, \"%.40s\" and \"%.40s\"; name the one to load with options->>'value_column'",
							 line, cells[c], cells[i]);
					return -2;
				}
	}
	if (c >= 0)
		taken[(*nt)++] = c;
	else if (required)
	{
		snprintf(mf->err, MF_ERRLEN,
				 "the %s layout needs %s column; the header on line %ld has %s; name it with options->>'%s'",
				 mf_format_name(mf->opt.format), what, line, found, optname);
		return -2;
	}
	return c;
}

/* Does a header cell look like a value (a number, a date, a time of day)?  Then its row is data, not a header. */
static int
LooksLikeValue(const char *s)
{
	char fmt[64];
	int	 hh,
		mm,
		n = 0;

	if (IsBlank(s))
		return 0;
	if (nf_readers(s) != 0)
		return 1;
	if (mf_detect_date_format(s, 1, fmt, sizeof(fmt)) == 0)
		return 1;
	return sscanf(s, " %2d:%2d%n", &hh, &mm, &n) == 2 && (s[n] == '\0' || s[n] == ':' || s[n] == ' ');
}

/* How an identifier column's header says its values are checked. */
static MfIdKind
IdKindOf(const char *header)
{
	char h[64];

	ff_normalise(header, h, sizeof(h));
	if (strstr(h, "mprn"))
		return MF_ID_MPRN;
	if (strstr(h, "mpan"))
		return MF_ID_MPAN;
	if (strcmp(h, "mpr") == 0 || strncmp(h, "mpr ", 4) == 0)
		return MF_ID_MPAN_OR_MPRN;
	return MF_ID_NAME;
}

static void
AddIdColumn(MeterFile *mf, char **cells, int col)
{
	int i;

	if (col < 0 || mf->nidcols >= MF_MAX_IDCOLS)
		return;
	for (i = 0; i < mf->nidcols; i++)
		if (mf->idcols[i].col == col)
			return;
	mf->idcols[mf->nidcols].col = col;
	mf->idcols[mf->nidcols].kind = IdKindOf(cells[col]);
	snprintf(mf->idcols[mf->nidcols].header, sizeof(mf->idcols[0].header), "%s", cells[col]);
	mf->nidcols++;
}

#define COLUMN(field, optname, optval, names, required, what)                                                              \
	do                                                                                                                     \
	{                                                                                                                      \
		if ((mf->field = FindColumn(mf, cells, n, line, found, optname, optval, names, required, what, taken, &nt)) == -2) \
			return -1;                                                                                                     \
	} while (0)

/* The half-hour columns of a wide header; 0 or -1 with mf->err. */
static int
HalfHourColumns(MeterFile *mf, char **cells, int n, long line, const char *found)
{
	const MfOptions *o = &mf->opt;
	int				 minutes[MF_MAX_SLOTS];
	int				 slots[MF_MAX_SLOTS];
	int				 kind_seen = 0;
	int				 i,
		j;

	for (i = 0; i < n; i++)
	{
		int kind = 0,
			m = 0,
			r = LabelOf(cells[i], &m, &kind);

		if (r == 0)
			continue;
		if (r < 0)
		{
			snprintf(mf->err, MF_ERRLEN,
					 "column \"%.20s\" on line %ld is not on the half-hour (car reads half-hour columns: 00:00, 00:30, ...); send half-hourly data, or the readings as a long file",
					 cells[i], line);
			return -1;
		}
		if (mf->nslots >= MF_MAX_SLOTS)
		{
			snprintf(mf->err, MF_ERRLEN, "the header on line %ld has more than %d half-hour columns", line, MF_MAX_SLOTS);
			return -1;
		}
		if (kind == LABEL_RANGE)
			kind = LABEL_CLOCK; /* a range's start: a period start, like any clock label read as one */
		if (kind_seen && kind != kind_seen)
		{
			snprintf(mf->err, MF_ERRLEN, "the header on line %ld mixes HH:MM and kWh_N half-hour columns", line);
			return -1;
		}
		kind_seen = kind;
		minutes[mf->nslots] = m;
		mf->slot_col[mf->nslots++] = i;
	}
	if (mf->nslots == 0)
	{
		snprintf(mf->err, MF_ERRLEN,
				 "the %s layout needs half-hour columns (00:00 ... 23:30, [00:30] ... [24:00] or kWh_1 ... kWh_48); the header on line %ld has %s",
				 mf_format_name(o->format), line, found);
		return -1;
	}
	if (kind_seen == LABEL_KWH_N)
	{
		mf->period = 0;
		for (i = 0; i < mf->nslots; i++)
			slots[i] = minutes[i] / 30;
	}
	else
	{
		int ranges = 0,
			start_ok,
			end_ok,
			wall_s = 0,
			wall_e = 0,
			slots_e[MF_MAX_SLOTS];

		for (i = 0; i < mf->nslots; i++)
		{
			int k = 0,
				m = 0;

			(void) LabelOf(cells[mf->slot_col[i]], &m, &k);
			ranges += k == LABEL_RANGE;
		}
		if (ranges > 0 && ranges < mf->nslots)
		{
			snprintf(mf->err, MF_ERRLEN, "the header on line %ld mixes ranges (00:00-00:30) and single times", line);
			return -1;
		}
		start_ok = (o->period != MF_PERIOD_END || ranges) &&
				   PlaceLabels(minutes, mf->nslots, 0, o->period == MF_PERIOD_START || ranges, slots, &wall_s) == 0;
		end_ok = !ranges && o->period != MF_PERIOD_START &&
				 PlaceLabels(minutes, mf->nslots, 1, o->period == MF_PERIOD_END, slots_e, &wall_e) == 0;
		if (start_ok && end_ok)
		{
			/* cannot happen (a day starts at 00:00 as a start and 00:30 as an end), but never guess */
			snprintf(mf->err, MF_ERRLEN,
					 "the half-hour labels on line %ld fit both readings; set options->>'period' to 'start' or 'end'", line);
			return -1;
		}
		if (!start_ok && !end_ok)
		{
			const char *first = cells[mf->slot_col[0]];
			const char *last = cells[mf->slot_col[mf->nslots - 1]];

			if (o->period == MF_PERIOD_DETECT)
				snprintf(mf->err, MF_ERRLEN,
						 "the %d half-hour labels on line %ld (\"%.12s\" ... \"%.12s\") fit neither reading: as period starts they would run in half-hour steps from 00:00 to 23:30 (or on to 24:30), as period ends from 00:30 to 24:00 or a final 00:00 (or on to 25:00); set options->>'period' to 'start' or 'end'",
						 mf->nslots, line, first, last);
			else
				snprintf(mf->err, MF_ERRLEN,
						 "the %d half-hour labels on line %ld (\"%.12s\" ... \"%.12s\") cannot be period %ss, as options->>'period' says: they must run in half-hour steps from %s to at most %s (or be the wall-clock times of a day the clocks change, 46 or 50 of them)",
						 mf->nslots, line, first, last, o->period == MF_PERIOD_END ? "end" : "start",
						 o->period == MF_PERIOD_END ? "00:30" : "00:00", o->period == MF_PERIOD_END ? "25:00" : "24:30");
			return -1;
		}
		mf->period = start_ok ? MF_PERIOD_START : MF_PERIOD_END;
		mf->wallclock = start_ok ? wall_s : wall_e;
		if (end_ok)
			memcpy(slots, slots_e, sizeof(int) * mf->nslots);
		for (i = 0; i < mf->nslots; i++)
			mf->slot_wall[slots[i]] = minutes[i] % 1440;
	}
	for (i = 0; i < mf->nslots; i++)
	{
		if (slots[i] < 0 || slots[i] >= MF_MAX_SLOTS)
		{
			snprintf(mf->err, MF_ERRLEN, "half-hour column \"%s\" on line %ld is outside the day",
					 cells[mf->slot_col[i]], line);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (slots[j] == slots[i])
			{
				snprintf(mf->err, MF_ERRLEN, "half-hour columns \"%s\" and \"%s\" on line %ld name the same period",
						 cells[mf->slot_col[j]], cells[mf->slot_col[i]], line);
				return -1;
			}
		mf->slot_of[i] = slots[i];
	}
	return 0;
}

/* The cells of a row up to its last non-blank one (a spreadsheet pads rows with empty cells). */
static int
NonBlankCells(char **cells, int n)
{
	while (n > 0 && IsBlank(cells[n - 1]))
		n--;
	return n;
}

int
mf_header(MeterFile *mf, char **cells, int n, long line)
{
	const MfOptions *o = &mf->opt;
	int				 taken[8] = {0};
	int				 nt = 0;
	int				 i;
	char			 found[300];
	size_t			 fo = 0;

	mf->nslots = 0;
	mf->nidcols = 0;
	mf->period = 0;
	mf->wallclock = 0;
	mf->value_unit[0] = '\0';
	mf->meter_header = NULL;
	mf->col_site = mf->col_meter = mf->col_date = mf->col_time = mf->col_unit = mf->col_activity = mf->col_value = -1;
	found[0] = '\0';
	for (i = 0; i < n && fo + 40 < sizeof(found); i++)
		fo += snprintf(found + fo, sizeof(found) - fo, "%s\"%.30s\"", i ? ", " : "", cells[i]);
	if (i < n)
		snprintf(found + fo, sizeof(found) - fo, ", ...");

	if (o->format == MF_LONG)
	{
		if (o->ts_column)
			COLUMN(col_date, "ts_column", o->ts_column, NULL, 1, "a timestamp");
		else
		{
			/* one timestamp column, or a date and a time column */
			mf->col_date = FindAny(cells, n, stamp_names, taken, nt);
			if (mf->col_date < 0)
			{
				int d = FindAny(cells, n, date_names, taken, nt),
					t = FindAny(cells, n, time_names, taken, nt);

				if (d >= 0 && t >= 0)
				{
					mf->col_date = d;
					mf->col_time = t;
					taken[nt++] = t;
				}
				else
					mf->col_date = d >= 0 ? d : t;
			}
			if (mf->col_date < 0)
			{
				snprintf(mf->err, MF_ERRLEN,
						 "the long layout needs a timestamp column; the header on line %ld has %s; name it with options->>'ts_column'",
						 line, found);
				return -1;
			}
			taken[nt++] = mf->col_date;
		}
		COLUMN(col_meter, "meter_column", o->meter_column, o->meter ? NULL : meter_names, 0, "a meter");
		COLUMN(col_site, "site_column", o->site_column, o->site ? NULL : site_names, 0, "a site");
		COLUMN(col_unit, "unit_column", o->unit_column, unit_names, 0, "a unit");
		COLUMN(col_activity, "activity_column", o->activity_column, NULL, 0, "an activity");
		COLUMN(col_value, "value_column", o->value_column, value_names, 0, "a value");
		if (mf->col_value < 0)
		{
			/* timestamp and one other column: that one is the value, if its header is a name */
			int others = 0,
				last = -1;

			for (i = 0; i < n; i++)
				if (!Taken(taken, nt, i) && !IsBlank(cells[i]))
				{
					others++;
					last = i;
				}
			if (others != 1 || LooksLikeValue(cells[last]))
			{
				snprintf(mf->err, MF_ERRLEN,
						 "cannot tell which column holds the values; the header on line %ld has %s; name it with options->>'value_column'",
						 line, found);
				return -1;
			}
			mf->col_value = last;
		}
		if (mf->col_meter < 0 && !o->meter)
		{
			snprintf(mf->err, MF_ERRLEN,
					 "the file has no meter column (header on line %ld: %s); give the meter's name in options->>'meter' or name the column in options->>'meter_column'",
					 line, found);
			return -1;
		}
		{
			const char *c = cells[mf->col_value];
			const char *b = strchr(c, '[') ? strchr(c, '[') : strchr(c, '(');
			char		h[128];

			ff_normalise(c, h, sizeof(h));
			if (b != NULL)
			{
				size_t l = strcspn(b + 1, "])");

				snprintf(mf->value_unit, sizeof(mf->value_unit), "%.*s", (int) (l < 31 ? l : 31), b + 1);
			}
			else if (strcmp(h, "kwh") == 0)
				snprintf(mf->value_unit, sizeof(mf->value_unit), "kWh");
		}
	}
	else
	{
		COLUMN(col_date, "date_column", o->date_column, date_names, 1, "a date");
		COLUMN(col_site, "site_column", o->site_column, o->site ? NULL : site_names, 0, "a site");
		COLUMN(col_meter, "meter_column", o->meter_column, o->meter ? NULL : meter_names, 0, "a meter");
		if (mf->col_meter < 0 && !o->meter && o->format == MF_ECODRIVER)
			COLUMN(col_meter, "meter_column", (const char *) NULL, old_meter_names, 0, "a meter");
		COLUMN(col_unit, "unit_column", o->unit_column, unit_names, 0, "a unit");
		COLUMN(col_activity, "activity_column", o->activity_column, activity_names, 0, "an activity");
		if (mf->col_meter < 0 && !o->meter)
		{
			snprintf(mf->err, MF_ERRLEN,
					 "the file has no meter column (header on line %ld: %s); give the meter's name in options->>'meter' or name the column in options->>'meter_column'",
					 line, found);
			return -1;
		}
		if (HalfHourColumns(mf, cells, n, line, found) != 0)
			return -1;
	}
#undef COLUMN
	/* a header names its columns: a row whose named cells are values is data */
	for (i = 0; i < nt; i++)
		if (LooksLikeValue(cells[taken[i]]))
		{
			snprintf(mf->err, MF_ERRLEN, "line %ld is not a header: its cell \"%.30s\" is a value, not a column name",
					 line, cells[taken[i]]);
			return -1;
		}
	if (mf->col_meter >= 0)
	{
		snprintf(mf->meter_header_buf, sizeof(mf->meter_header_buf), "%s", cells[mf->col_meter]);
		mf->meter_header = mf->meter_header_buf;
	}
	AddIdColumn(mf, cells, mf->col_meter);
	AddIdColumn(mf, cells, mf->col_site);
	for (i = 0; i < n; i++)
		if (IdKindOf(cells[i]) != MF_ID_NAME)
			AddIdColumn(mf, cells, i);
	mf->header_done = 1;
	mf->header_line = line;
	mf->header_cells = NonBlankCells(cells, n);
	return 0;
}

/* How far a row got as a header: for choosing which refusal to report. */
static int
HeaderScore(const MeterFile *mf)
{
	return (mf->col_date >= 0) + (mf->col_meter >= 0) + (mf->col_value >= 0) + (mf->nslots > 0 ? 2 : 0);
}

/* Keep a preamble line as the file's metadata (cells joined by the delimiter, cut). */
static void
KeepPreamble(MeterFile *mf, char **cells, int n)
{
	char   line[MF_PREAMBLE_LINE + 8];
	size_t o = 0,
		   used = strlen(mf->preamble);
	int i;
	int last = n - 1;

	while (last >= 0 && IsBlank(cells[last]))
		last--; /* trailing empty cells of a spreadsheet row */
	line[0] = '\0';
	for (i = 0; i <= last && o < MF_PREAMBLE_LINE; i++)
	{
		const char *c = cells[i];

		if (i > 0)
			line[o++] = mf->delim;
		while (*c && o < MF_PREAMBLE_LINE)
			line[o++] = *c++;
		line[o] = '\0';
	}
	if (o >= MF_PREAMBLE_LINE)
	{
		/* cut at a character boundary: a UTF-8 character the cut split goes whole */
		size_t p;

		o = MF_PREAMBLE_LINE;
		p = o;
		while (p > 0 && ((unsigned char) line[p - 1] & 0xC0) == 0x80)
			p--;
		if (p > 0)
		{
			unsigned char lead = (unsigned char) line[p - 1];
			size_t		  len = 1;

			if (lead >= 0xF0)
				len = 4;
			else if (lead >= 0xE0)
				len = 3;
			else if (lead >= 0xC0)
				len = 2;
			if (p - 1 + len > o)
				o = p - 1;
		}
		line[o] = '\0';
		mf->preamble_cut++;
	}
	for (i = 0; line[i]; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (used + o + 2 > sizeof(mf->preamble))
	{
		mf->preamble_cut++;
		return;
	}
	snprintf(mf->preamble + used, sizeof(mf->preamble) - used, "%s%s", used ? "\n" : "", line);
	mf->preamble_lines++;
}

int
mf_offer_header(MeterFile *mf, char **cells, int n, long line)
{
	long want = mf->opt.header_line;

	if (want > 0)
	{
		if (line < want)
		{
			KeepPreamble(mf, cells, n);
			return 0;
		}
		if (line > want)
		{
			snprintf(mf->err, MF_ERRLEN,
					 "options->>'header_line' is %ld, but no row starts on that line (it is blank, or inside a quoted field); the next row starts on line %ld",
					 want, line);
			return -1;
		}
		if (mf_header(mf, cells, n, line) != 0)
		{
			char why[MF_ERRLEN];

			snprintf(why, sizeof(why), "%s", mf->err);
			snprintf(mf->err, MF_ERRLEN, "options->>'header_line' says line %ld is the header, but %.400s", want, why);
			return -1;
		}
		return 1;
	}
	if (line <= MF_HEADER_SEARCH)
	{
		int score;

		if (mf_header(mf, cells, n, line) == 0)
			return 1;
		score = HeaderScore(mf);
		if (score > mf->best_score)
		{
			mf->best_score = score;
			mf->best_line = line;
			snprintf(mf->best_err, sizeof(mf->best_err), "%s", mf->err);
		}
		KeepPreamble(mf, cells, n);
		return 0;
	}
	return mf_no_header(mf);
}

int
mf_no_header(MeterFile *mf)
{
	if (mf->opt.header_line > 0)
		snprintf(mf->err, MF_ERRLEN, "options->>'header_line' is %ld, but the file ends before that line",
				 mf->opt.header_line);
	else if (mf->best_score < 0)
		snprintf(mf->err, MF_ERRLEN, "the file has no rows");
	else
		snprintf(mf->err, MF_ERRLEN,
				 "no line of the first %d is a header of the %s layout; the closest, line %ld: %.300s; if the header is further down, name its line in options->>'header_line'",
				 MF_HEADER_SEARCH, mf_format_name(mf->opt.format), mf->best_line, mf->best_err);
	return -1;
}

/* ------------------------------------------------------------ identifiers */

/* The digits of s without spaces, into out; their count, or -1 if s holds anything else. */
static int
DigitsOnly(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s; s++)
	{
		if (*s == ' ')
			continue;
		if (!isdigit((unsigned char) *s) || o + 1 >= outlen)
			return -1;
		out[o++] = *s;
	}
	out[o] = '\0';
	return (int) o;
}

int
mf_valid_mpan(const char *s)
{
	static const int primes[12] = {3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43};
	char			 d[32];
	const char		*core;
	int				 n = DigitsOnly(s, d, sizeof(d));
	int				 sum = 0,
		i;

	if (n != 13 && n != 21)
		return 0;
	core = d + n - 13; /* a full MPAN: 8 digits of supply data, then the core */
	for (i = 0; i < 12; i++)
		sum += (core[i] - '0') * primes[i];
	return sum % 11 % 10 == core[12] - '0';
}

int
mf_valid_mprn(const char *s)
{
	char d[32];
	int	 n = DigitsOnly(s, d, sizeof(d));

	return n >= 6 && n <= 10;
}

/* Scientific notation a spreadsheet writes for a long number: 2.00E+12, 2E+12. */
static int
Scientific(const char *s)
{
	const char *p = s;

	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char) *p++))
		return 0;
	if (*p == '.' || *p == ',')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			return 0;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (*p != 'e' && *p != 'E')
		return 0;
	p++;
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return 0;
	while (isdigit((unsigned char) *p))
		p++;
	while (*p == ' ')
		p++;
	return *p == '\0';
}

/* A trimmed, all-digit value: its length, else 0. */
static int
AllDigits(const char *s, const char **start)
{
	int n = 0;

	while (*s == ' ')
		s++;
	*start = s;
	while (isdigit((unsigned char) s[n]))
		n++;
	if (n == 0)
		return 0;
	while (s[n] == ' ')
		s++;
	return s[n] == '\0' ? n : 0;
}

/*
 * Check a row's identifiers.  Returns 0, -1 (a bad value: the row is
 * rejected) or -2 (a value a spreadsheet mangled: the file is refused),
 * with err.
 */
static int
CheckIdentifiers(const MeterFile *mf, char **cells, int n, long line, char *err, size_t errlen)
{
	int	 i;
	char shown[64];

	for (i = 0; i < mf->nidcols; i++)
	{
		const MfIdColumn *c = &mf->idcols[i];
		const char		 *v = c->col < n ? cells[c->col] : "";
		const char		 *digits;
		int				  len;

		if (IsBlank(v))
			continue;
		if (Scientific(v))
		{
			snprintf(err, errlen,
					 "line %ld: %s %s is in scientific notation: a spreadsheet rounded the identifier, so different meters may now share it; export the column as text (or as a number with no decimals) and send the file again",
					 line, c->header, Shown(v, shown, sizeof(shown)));
			return -2;
		}
		len = AllDigits(v, &digits);
		/* a full MPAN (21 digits, often from 0) and a core (13) are both MPANs: no zeros lost */
		if (len > 0 && c->zero_len > 0 && len < c->zero_len && digits[0] != '0' &&
			!(c->kind != MF_ID_MPRN && c->kind != MF_ID_NAME && mf_valid_mpan(digits)))
		{
			snprintf(err, errlen,
					 "line %ld: %s %s has %d digits, but the column's values with leading zeros have %d (\"%s\" on line %ld): a spreadsheet dropped its leading zeros; export the column as text and send the file again",
					 line, c->header, Shown(v, shown, sizeof(shown)), len, c->zero_len, c->zero_example, c->zero_line);
			return -2;
		}
		if (c->kind == MF_ID_MPAN && !mf_valid_mpan(v))
		{
			snprintf(err, errlen,
					 "%s %s is not an MPAN: an MPAN core is 13 digits whose last is the check digit of the other 12",
					 c->header, Shown(v, shown, sizeof(shown)));
			return -1;
		}
		if (c->kind == MF_ID_MPRN && !mf_valid_mprn(v))
		{
			snprintf(err, errlen, "%s %s is not an MPRN: a gas meter point reference number is 6 to 10 digits",
					 c->header, Shown(v, shown, sizeof(shown)));
			return -1;
		}
		if (c->kind == MF_ID_MPAN_OR_MPRN && !mf_valid_mpan(v) && !mf_valid_mprn(v))
		{
			snprintf(err, errlen,
					 "%s %s is neither an MPAN (a 13-digit core with its check digit) nor an MPRN (6 to 10 digits)",
					 c->header, Shown(v, shown, sizeof(shown)));
			return -1;
		}
	}
	return 0;
}

/* --------------------------------------------------------------- survey */

/*
 * The order of a numeric date's first two fields ("01/13/2024"): 1 when
 * only month first reads it (the second is over 12), 2 when only day first
 * does (the first is), 0 when both or neither (not such a date).
 */
static int
DateOrder(const char *s)
{
	int a = 0,
		b = 0,
		n = 0;
	char sep;

	while (*s == ' ')
		s++;
	while (n < 3 && isdigit((unsigned char) s[n]))
		a = a * 10 + (s[n++] - '0');
	if (n < 1 || n > 2 || (s[n] != '/' && s[n] != '-' && s[n] != '.'))
		return 0;
	sep = s[n];
	s += n + 1;
	for (n = 0; n < 3 && isdigit((unsigned char) s[n]); n++)
		b = b * 10 + (s[n] - '0');
	if (n < 1 || n > 2 || s[n] != sep || a < 1 || b < 1)
		return 0;
	if (a <= 12 && b > 12 && b <= 31)
		return 1;
	if (b <= 12 && a > 12 && a <= 31)
		return 2;
	return 0;
}

void
mf_survey(MeterFile *mf, char **cells, int n, long line)
{
	int i;

	/*
	 * A row with more cells than its header (a decimal comma in a
	 * comma-separated file: 15/01/2024,0,875) would be read from its first
	 * cells, the rest dropped: the file is refused in mf_settle.
	 */
	if (mf->long_row_line == 0 && NonBlankCells(cells, n) > mf->header_cells)
	{
		mf->long_row_line = line;
		mf->long_row_cells = NonBlankCells(cells, n);
	}

	/* car reads numeric dates day first; a file that writes them month first must say so */
	if (mf->opt.date_format == NULL && mf->col_date >= 0 && mf->col_date < n)
	{
		int order = DateOrder(cells[mf->col_date]);

		if (order == 1 && mf->month_first_line == 0)
		{
			mf->month_first_line = line;
			snprintf(mf->month_first, sizeof(mf->month_first), "%.31s", cells[mf->col_date]);
		}
		else if (order == 2)
			mf->day_first_seen++;
	}

	if (mf->opt.format == MF_LONG)
	{
		if (mf->col_value >= 0 && mf->col_value < n)
			nf_survey_add(&mf->numbers, cells[mf->col_value], line);
	}
	else
		for (i = 0; i < mf->nslots; i++)
			if (mf->slot_col[i] < n)
				nf_survey_add(&mf->numbers, cells[mf->slot_col[i]], line);
	for (i = 0; i < mf->nidcols; i++)
	{
		MfIdColumn *c = &mf->idcols[i];
		const char *digits;
		int			len = c->col < n ? AllDigits(cells[c->col], &digits) : 0;

		/* only values of the column's own kind set its width (a garbage MPAN does not) */
		if (len < 2 || digits[0] != '0' || c->zero_len < 0 || (c->kind == MF_ID_MPAN && !mf_valid_mpan(digits)) ||
			(c->kind == MF_ID_MPRN && !mf_valid_mprn(digits)) ||
			(c->kind == MF_ID_MPAN_OR_MPRN && !mf_valid_mpan(digits) && !mf_valid_mprn(digits)))
			continue;
		if (c->zero_len == 0)
		{
			c->zero_len = len;
			c->zero_line = line;
			snprintf(c->zero_example, sizeof(c->zero_example), "%.*s", len < 31 ? len : 31, digits);
		}
		else if (c->zero_len != len)
			c->zero_len = -1; /* no fixed width: nothing to compare with */
	}
}

int
mf_settle(MeterFile *mf)
{
	char why[NF_ERRLEN];

	if (mf->long_row_line > 0)
	{
		snprintf(mf->err, MF_ERRLEN,
				 "line %ld has %d fields, its header (line %ld) %d: a value holding the field separator (a decimal comma in a comma-separated file, or a thousands separator) must be quoted; quote such values, or export with ';' between fields",
				 mf->long_row_line, mf->long_row_cells, mf->header_line, mf->header_cells);
		return -1;
	}
	if (mf->month_first_line > 0 && mf->day_first_seen == 0)
	{
		snprintf(mf->err, MF_ERRLEN,
				 "line %ld: the date \"%s\" has no month %.2s: the file writes its dates month first, and car reads numeric dates day first unless told; set options->>'date_format' (e.g. MM/DD/YYYY, or MM/DD/YYYY HH24:MI)",
				 mf->month_first_line, mf->month_first, mf->month_first + strcspn(mf->month_first, "/-.") + 1);
		return -1;
	}

	if (nf_settle(&mf->numbers, mf->delim, mf->opt.decimal_separator, mf->opt.thousands_separator, &mf->numfmt, why,
				  sizeof(why)) != 0)
	{
		snprintf(mf->err, MF_ERRLEN,
				 "%.330s; set options->>'decimal_separator' to '.' or ',' (and options->>'thousands_separator' to the one the file uses, or '' for none)",
				 why);
		return -1;
	}
	mf->settled = 1;
	return 0;
}

int
mf_parse_value(const MeterFile *mf, const char *s, double *v)
{
	return nf_read_double(&mf->numfmt, s, v);
}

/* ------------------------------------------------------------ date, time */

static int
DaysIn(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* Read min..max digits; returns count read, 0 if fewer than min. */
static int
Digits(const char **s, int min, int max, int *out)
{
	int n = 0,
		v = 0;

	while (n < max && isdigit((unsigned char) (*s)[n]))
	{
		v = v * 10 + ((*s)[n] - '0');
		n++;
	}
	if (n < min)
		return 0;
	*s += n;
	*out = v;
	return n;
}

/* A UTC offset at *s: Z, UTC, GMT, +01:00, +0100, +01.  Seconds east of UTC; -1 if none. */
static int
Offset(const char **s, int *seconds)
{
	const char *p = *s;
	int			sign,
		h,
		m = 0;

	if (*p == 'Z' || *p == 'z')
	{
		*seconds = 0;
		*s = p + 1;
		return 0;
	}
	if (strncmp(p, "UTC", 3) == 0 || strncmp(p, "GMT", 3) == 0)
	{
		p += 3;
		if (*p != '+' && *p != '-')
		{
			*seconds = 0;
			*s = p;
			return 0;
		}
	}
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (Digits(&p, 2, 2, &h) != 2)
		return -1;
	if (*p == ':')
	{
		p++;
		if (Digits(&p, 2, 2, &m) != 2)
			return -1;
	}
	else if (isdigit((unsigned char) *p) && Digits(&p, 2, 2, &m) != 2)
		return -1;
	if (h > 14 || m > 59)
		return -1;
	*seconds = sign * (h * 3600 + m * 60);
	*s = p;
	return 0;
}

int
mf_parse_datetime(const char *fmt, const char *s, MfDateTime *out)
{
	int pm = -1;
	int h12 = 0;

	memset(out, 0, sizeof(*out));
	out->year = -1;
	while (*s == ' ')
		s++;
	while (*fmt)
	{
		if (strncmp(fmt, "YYYY", 4) == 0)
		{
			if (!Digits(&s, 4, 4, &out->year))
				return -1;
			fmt += 4;
		}
		else if (strncmp(fmt, "YY", 2) == 0)
		{
			if (!Digits(&s, 2, 2, &out->year))
				return -1;
			out->year += 2000;
			fmt += 2;
		}
		else if (strncmp(fmt, "MM", 2) == 0)
		{
			if (!Digits(&s, 1, 2, &out->month))
				return -1;
			fmt += 2;
		}
		else if (strncmp(fmt, "DD", 2) == 0)
		{
			if (!Digits(&s, 1, 2, &out->day))
				return -1;
			fmt += 2;
		}
		else if (strncmp(fmt, "Mon", 3) == 0)
		{
			int m;

			for (m = 0; m < 12; m++)
				if (strncasecmp(s, months[m], 3) == 0)
					break;
			if (m == 12)
				return -1;
			out->month = m + 1;
			/* the full name, or "Sept" */
			if (strncasecmp(s, month_names[m], strlen(month_names[m])) == 0)
				s += strlen(month_names[m]);
			else if (m == 8 && strncasecmp(s, "sept", 4) == 0)
				s += 4;
			else
				s += 3;
			fmt += 3;
		}
		else if (strncmp(fmt, "HH24", 4) == 0 || strncmp(fmt, "HH12", 4) == 0)
		{
			h12 = fmt[2] == '1';
			if (!Digits(&s, 1, 2, &out->hour))
				return -1;
			out->has_time = 1;
			fmt += 4;
		}
		else if (strncmp(fmt, "HH", 2) == 0)
		{
			if (!Digits(&s, 1, 2, &out->hour))
				return -1;
			out->has_time = 1;
			fmt += 2;
		}
		else if (strncmp(fmt, "MI", 2) == 0)
		{
			if (!Digits(&s, 2, 2, &out->minute))
				return -1;
			fmt += 2;
		}
		else if (strncmp(fmt, "SS", 2) == 0)
		{
			if (!Digits(&s, 2, 2, &out->second))
				return -1;
			fmt += 2;
		}
		else if (strncmp(fmt, "FF", 2) == 0)
		{
			/* a fraction of a second: 1 to 9 digits, kept to the microsecond (more are refused unless 0) */
			int n = 0,
				scale = 100000;

			while (n < 9 && isdigit((unsigned char) s[n]))
			{
				if (n < 6)
					out->usec += (s[n] - '0') * scale;
				else if (s[n] != '0')
					return -1;
				scale /= 10;
				n++;
			}
			if (n == 0)
				return -1;
			s += n;
			fmt += 2;
		}
		else if (strncmp(fmt, "AM", 2) == 0 || strncmp(fmt, "PM", 2) == 0)
		{
			if (strncasecmp(s, "am", 2) == 0 || strncasecmp(s, "a.m.", 4) == 0)
				pm = 0;
			else if (strncasecmp(s, "pm", 2) == 0 || strncasecmp(s, "p.m.", 4) == 0)
				pm = 1;
			else
				return -1;
			s += s[1] == '.' ? 4 : 2;
			fmt += 2;
		}
		else if (strncmp(fmt, "TZ", 2) == 0)
		{
			if (Offset(&s, &out->offset) != 0)
				return -1;
			out->has_offset = 1;
			fmt += 2;
		}
		else if (*fmt == 'Z')
		{
			if (*s != 'Z' && *s != 'z')
				return -1;
			out->has_offset = 1;
			out->offset = 0;
			s++;
			fmt++;
		}
		else if (*fmt == ' ')
		{
			if (*s != ' ')
				return -1;
			while (*s == ' ')
				s++;
			fmt++;
		}
		else
		{
			if (*s != *fmt)
				return -1;
			s++;
			fmt++;
		}
	}
	while (*s == ' ')
		s++;
	if (*s != '\0')
		return -1;
	if (h12)
	{
		if (pm < 0 || out->hour < 1 || out->hour > 12)
			return -1;
		out->hour = out->hour % 12 + (pm ? 12 : 0);
	}
	if (out->year < 1 || out->month < 1 || out->month > 12 || out->day < 1 ||
		out->day > DaysIn(out->year, out->month) || out->hour > 24 || out->minute > 59 || out->second > 59 ||
		(out->hour == 24 && (out->minute || out->second || out->usec)))
		return -1;
	return 0;
}

/* Append to a format being built; -1 when it does not fit. */
static int
Emit(char *fmt, size_t len, size_t *o, const char *what)
{
	size_t l = strlen(what);

	if (*o + l + 1 > len)
		return -1;
	memcpy(fmt + *o, what, l + 1);
	*o += l;
	return 0;
}

/* The date part at *s: its format, appended; -1 if none. */
static int
DatePart(const char **s, char *fmt, size_t len, size_t *o)
{
	const char *p = *s;
	int			n = 0;
	char		sep;
	char		f[32];

	while (isdigit((unsigned char) p[n]))
		n++;
	if (n == 4 && (p[4] == '-' || p[4] == '/'))
	{
		/* ISO: YYYY-MM-DD (or YYYY/MM/DD) */
		sep = p[4];
		p += 5;
		for (n = 0; isdigit((unsigned char) p[n]); n++)
			;
		if (n < 1 || n > 2 || p[n] != sep)
			return -1;
		p += n + 1;
		for (n = 0; isdigit((unsigned char) p[n]); n++)
			;
		if (n < 1 || n > 2)
			return -1;
		p += n;
		snprintf(f, sizeof(f), "YYYY%cMM%cDD", sep, sep);
	}
	else if (n >= 1 && n <= 2 && (p[n] == '/' || p[n] == '-' || p[n] == '.') && isdigit((unsigned char) p[n + 1]))
	{
		/* day first: DD/MM/YYYY, DD-MM-YYYY, DD.MM.YYYY, DD/MM/YY */
		int y;

		sep = p[n];
		p += n + 1;
		for (n = 0; isdigit((unsigned char) p[n]); n++)
			;
		if (n < 1 || n > 2 || p[n] != sep)
			return -1;
		p += n + 1;
		for (y = 0; isdigit((unsigned char) p[y]); y++)
			;
		if (y != 4 && y != 2)
			return -1;
		p += y;
		snprintf(f, sizeof(f), "DD%cMM%c%s", sep, sep, y == 4 ? "YYYY" : "YY");
	}
	else if (n >= 1 && n <= 2 && (p[n] == ' ' || p[n] == '-') && isalpha((unsigned char) p[n + 1]))
	{
		/* DD Mon YYYY, DD-Mon-YYYY, DD-Mon-YY */
		int y,
			a;

		sep = p[n];
		p += n + 1;
		for (a = 0; isalpha((unsigned char) p[a]); a++)
			;
		p += a;
		if (*p != sep)
			return -1;
		p++;
		for (y = 0; isdigit((unsigned char) p[y]); y++)
			;
		if (y != 4 && y != 2)
			return -1;
		p += y;
		snprintf(f, sizeof(f), "DD%cMon%c%s", sep, sep, y == 4 ? "YYYY" : "YY");
	}
	else if (n == 0 && isalpha((unsigned char) *p))
	{
		/* Mon DD YYYY (B&NES: "Nov 13 2019") */
		int a,
			y;

		for (a = 0; isalpha((unsigned char) p[a]); a++)
			;
		p += a;
		if (*p != ' ')
			return -1;
		while (*p == ' ')
			p++;
		for (n = 0; isdigit((unsigned char) p[n]); n++)
			;
		if (n < 1 || n > 2 || p[n] != ' ')
			return -1;
		p += n;
		while (*p == ' ')
			p++;
		for (y = 0; isdigit((unsigned char) p[y]); y++)
			;
		if (y != 4)
			return -1;
		p += y;
		snprintf(f, sizeof(f), "Mon DD YYYY");
	}
	else
		return -1;
	*s = p;
	return Emit(fmt, len, o, f);
}

int
mf_detect_date_format(const char *s, int with_time, char *fmt, size_t fmtlen)
{
	const char *p = s;
	size_t		o = 0;
	MfDateTime	dt;
	int			n;

	if (fmtlen == 0)
		return -1;
	fmt[0] = '\0';
	while (*p == ' ')
		p++;
	if (strlen(p) > 64 || DatePart(&p, fmt, fmtlen, &o) != 0)
		return -1;
	if (*p == 'T' || (*p == ' ' && isdigit((unsigned char) p[strspn(p, " ")])))
	{
		int twelve;

		if (!with_time)
			return -1;
		if (Emit(fmt, fmtlen, &o, *p == 'T' ? "T" : " ") != 0)
			return -1;
		p += *p == 'T' ? 1 : strspn(p, " ");
		for (n = 0; isdigit((unsigned char) p[n]); n++)
			;
		if (n < 1 || n > 2 || p[n] != ':' || !isdigit((unsigned char) p[n + 1]) || !isdigit((unsigned char) p[n + 2]))
			return -1;
		p += n + 3;
		/* the clock: 12-hour when AM or PM follows */
		{
			const char *q = p;

			if (q[0] == ':' && isdigit((unsigned char) q[1]) && isdigit((unsigned char) q[2]))
			{
				q += 3;
				if ((*q == '.' || *q == ',') && isdigit((unsigned char) q[1]))
					for (q++; isdigit((unsigned char) *q); q++)
						;
			}
			q += strspn(q, " ");
			twelve = strncasecmp(q, "am", 2) == 0 || strncasecmp(q, "pm", 2) == 0 || strncasecmp(q, "a.m.", 4) == 0 ||
					 strncasecmp(q, "p.m.", 4) == 0;
		}
		if (Emit(fmt, fmtlen, &o, twelve ? "HH12:MI" : "HH24:MI") != 0)
			return -1;
		if (p[0] == ':' && isdigit((unsigned char) p[1]) && isdigit((unsigned char) p[2]))
		{
			p += 3;
			if (Emit(fmt, fmtlen, &o, ":SS") != 0)
				return -1;
			if ((*p == '.' || *p == ',') && isdigit((unsigned char) p[1]))
			{
				char f[4] = {*p, 'F', 'F', '\0'};

				if (Emit(fmt, fmtlen, &o, f) != 0)
					return -1;
				for (p++; isdigit((unsigned char) *p); p++)
					;
			}
		}
		if (twelve)
		{
			if (*p == ' ' && Emit(fmt, fmtlen, &o, " ") != 0)
				return -1;
			p += strspn(p, " ");
			if (Emit(fmt, fmtlen, &o, "AM") != 0)
				return -1;
			p += p[1] == '.' ? 4 : 2;
		}
		/* a UTC offset */
		{
			const char *q = p + strspn(p, " ");
			int			off;

			if (*q && Offset(&q, &off) == 0)
			{
				if (*p == ' ' && Emit(fmt, fmtlen, &o, " ") != 0)
					return -1;
				if (Emit(fmt, fmtlen, &o, "TZ") != 0)
					return -1;
				p = q;
			}
		}
	}
	if (mf_parse_datetime(fmt, s, &dt) != 0)
		return -1;
	return 0;
}

/* The date part of a format (up to its time), into out. */
static void
DatePartOf(const char *fmt, char *out, size_t len)
{
	const char *t = strstr(fmt, "HH");
	size_t		n = t ? (size_t) (t - fmt) : strlen(fmt);

	while (n > 0 && (fmt[n - 1] == ' ' || fmt[n - 1] == 'T'))
		n--;
	snprintf(out, len, "%.*s", (int) n, fmt);
}

const char *
mf_infer_activity(const char *text)
{
	char n[128];

	if (text == NULL)
		return NULL;
	ff_normalise(text, n, sizeof(n));
	if (strstr(n, "gas") || strcmp(n, "mpr") == 0 || strcmp(n, "mprn") == 0)
		return "natural_gas";
	if (strstr(n, "elec") || strcmp(n, "mpan") == 0)
		return "electricity";
	if (strstr(n, "water"))
		return "water_supply";
	return NULL;
}

/* ------------------------------------------------------------------ rows */

/*
 * The date (and time) of a row, into out.  The format is the one given,
 * else the one detected from the first row that has one; a long file's
 * format is fixed by the first stamp with a time of day (a spreadsheet
 * writes midnight as the date alone, so a date alone is read as midnight).
 */
static int
RowDate(MeterFile *mf, const char *date, MfDateTime *out, char *err, size_t errlen)
{
	char shown[64];
	int	 with_time = mf->opt.format == MF_LONG;

	if (!mf->date_format_fixed)
	{
		char f[64];

		if (mf_detect_date_format(date, 1, f, sizeof(f)) != 0)
		{
			if (mf->date_format[0] && mf_parse_datetime(mf->date_format, date, out) == 0)
				return 0;
			snprintf(err, errlen, "cannot read the date %s; set options->>'date_format' (e.g. DD/MM/YYYY)",
					 Shown(date, shown, sizeof(shown)));
			return -1;
		}
		if (mf->date_format[0] == '\0' || strstr(f, "HH") != NULL)
		{
			/* the first time of day fixes the format; its date part must be the one seen so far */
			if (mf->date_format[0] != '\0')
			{
				char a[64];

				DatePartOf(f, a, sizeof(a));
				if (strcmp(a, mf->date_format) != 0)
				{
					snprintf(err, errlen, "date %s does not match the format %s of the rows before it",
							 Shown(date, shown, sizeof(shown)), mf->date_format);
					return -1;
				}
			}
			snprintf(mf->date_format, sizeof(mf->date_format), "%s", f);
			mf->date_format_fixed = strstr(f, "HH") != NULL || !with_time;
		}
	}
	if (mf_parse_datetime(mf->date_format, date, out) == 0)
		return 0;
	if (with_time && strstr(mf->date_format, "HH") != NULL)
	{
		char d[64];

		DatePartOf(mf->date_format, d, sizeof(d));
		if (mf_parse_datetime(d, date, out) == 0)
			return 0; /* midnight, written as the date alone */
	}
	snprintf(err, errlen, "date %s does not match the format %s", Shown(date, shown, sizeof(shown)), mf->date_format);
	return -1;
}

int
mf_row(MeterFile *mf, char **cells, int n, long line, MfRecord *out, char *err, size_t errlen)
{
	const MfOptions *o = &mf->opt;
	const char		*date;
	char			 shown[64];
	int				 i,
		rc,
		blank = 1;

	for (i = 0; i < n; i++)
		if (!IsBlank(cells[i]))
		{
			blank = 0;
			break;
		}
	if (blank)
		return 0;

	memset(out, 0, sizeof(*out) - sizeof(out->slot) - sizeof(out->value));
	out->line = line;
	rc = CheckIdentifiers(mf, cells, n, line, err, errlen);
	if (rc != 0)
		return rc;
	out->site = mf->col_site >= 0 && mf->col_site < n ? cells[mf->col_site] : o->site;
	out->meter = mf->col_meter >= 0 && mf->col_meter < n ? cells[mf->col_meter] : o->meter;
	out->unit = mf->col_unit >= 0 && mf->col_unit < n && !IsBlank(cells[mf->col_unit]) ? cells[mf->col_unit]
				: o->unit															   ? o->unit
				: mf->value_unit[0]													   ? mf->value_unit
																					   : "kWh";
	out->activity_hint = mf->col_activity >= 0 && mf->col_activity < n ? cells[mf->col_activity] : NULL;
	if (out->meter == NULL || IsBlank(out->meter))
	{
		snprintf(err, errlen, "no meter name");
		return -1;
	}
	if (out->site == NULL || IsBlank(out->site))
		out->site = out->meter;

	date = mf->col_date < n ? cells[mf->col_date] : "";
	if (mf->col_time >= 0)
	{
		snprintf(mf->stamp, sizeof(mf->stamp), "%.60s %.60s", date, mf->col_time < n ? cells[mf->col_time] : "");
		date = mf->stamp;
	}
	if (RowDate(mf, date, &out->when, err, errlen) != 0)
		return -1;

	if (o->format == MF_LONG)
	{
		const char *v = mf->col_value < n ? cells[mf->col_value] : "";

		/*
		 * 24:00 can only end a period: a file that writes it stamps its
		 * readings at their ends, which a reading as starts would put a period
		 * late.  Which it is is the file's to say, never guessed.
		 */
		if (out->when.hour == 24 && o->period == MF_PERIOD_DETECT)
		{
			snprintf(err, errlen,
					 "line %ld: the time 24:00 (\"%.40s\") ends a period, so the file's times may be period ends; say which they are with options->>'period' ('end' or 'start')",
					 line, date);
			return -2;
		}
		if (IsBlank(v))
			return 0;
		if (mf_parse_value(mf, v, &out->value[0]) != 0)
		{
			char f[120];

			snprintf(err, errlen, "value %s is not a number in the file's format (%s)", Shown(v, shown, sizeof(shown)),
					 nf_describe(&mf->numfmt, f, sizeof(f)));
			return -1;
		}
		out->nvalues = 1;
		out->slot[0] = -1;
		return 1;
	}

	if (out->when.hour || out->when.minute || out->when.second || out->when.usec)
	{
		snprintf(err, errlen, "date %s has a time of day; a meter-day row needs midnight",
				 Shown(date, shown, sizeof(shown)));
		return -1;
	}
	for (i = 0; i < mf->nslots; i++)
	{
		const char *v = mf->slot_col[i] < n ? cells[mf->slot_col[i]] : "";

		if (IsBlank(v))
			continue;
		if (mf_parse_value(mf, v, &out->value[out->nvalues]) != 0)
		{
			char f[120];

			snprintf(err, errlen, "value %s in column %d is not a number in the file's format (%s)",
					 Shown(v, shown, sizeof(shown)), mf->slot_col[i] + 1, nf_describe(&mf->numfmt, f, sizeof(f)));
			return -1;
		}
		out->slot[out->nvalues++] = mf->slot_of[i];
	}
	return out->nvalues > 0 ? 1 : 0;
}
