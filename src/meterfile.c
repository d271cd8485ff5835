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

/* Date formats tried, in order, when none is given (UK day-first first). */
static const char *const date_formats[] = {
	"DD/MM/YYYY", "DD/MM/YY", "YYYY-MM-DD", "DD-MM-YYYY", "DD.MM.YYYY", "DD Mon YYYY",
	"Mon DD YYYY HH12:MIAM", "DD/MM/YYYY HH24:MI:SS", "DD/MM/YYYY HH24:MI",
	NULL};
static const char *const datetime_formats[] = {
	"YYYY-MM-DD HH24:MI:SS", "YYYY-MM-DD HH24:MI", "YYYY-MM-DDTHH24:MI:SS", "YYYY-MM-DDTHH24:MI",
	"DD/MM/YYYY HH24:MI:SS", "DD/MM/YYYY HH24:MI", "DD Mon YYYY HH24:MI:SS", "DD Mon YYYY HH24:MI",
	"Mon DD YYYY HH12:MIAM", "DD/MM/YY HH24:MI", NULL};

/* Candidate header names (normalised) for each role, by format. */
static const char *const site_names[] = {"site", "site name", "site id", "siteref", "site ref", "location", "building", NULL};
static const char *const meter_names[] = {"meter", "meter name", "meter number", "meter id", "mpan", "mpr", "meter point", "id", NULL};
static const char *const old_meter_names[] = {"type", NULL}; /* ecodriver's older daily layout */
static const char *const date_names[] = {"date", "reading date", "consumptiondate", "consumption date", "read date", "day", NULL};
static const char *const unit_names[] = {"unit", "units", "uom", NULL};
static const char *const ts_names[] = {"datetime", "timestamp", "readdatetime", "read datetime", "ts", "time", "date", "date time", NULL};
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

void
mf_init(MeterFile *mf, const MfOptions *opt)
{
	memset(mf, 0, sizeof(*mf));
	mf->opt = *opt;
	mf->col_site = mf->col_meter = mf->col_date = mf->col_unit = mf->col_activity = mf->col_value = -1;
	if (opt->date_format)
		snprintf(mf->date_format, sizeof(mf->date_format), "%s", opt->date_format);
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

/* First column whose name is one of the candidates, skipping taken columns. */
static int
FindAny(char **cells, int n, const char *const *names, const int *taken, int ntaken)
{
	int k,
		i,
		j;

	for (k = 0; names[k]; k++)
	{
		int c = FindNamed(cells, n, names[k]);

		for (j = 0; j < ntaken && c >= 0; j++)
			if (taken[j] == c)
				c = -1;
		if (c >= 0)
			return c;
	}
	/* a header such as "equipment load [kWh]" names a value column by its unit */
	if (names == value_names)
		for (i = 0; i < n; i++)
		{
			char h[128];

			ff_normalise(cells[i], h, sizeof(h));
			for (j = 0; j < ntaken; j++)
				if (taken[j] == i)
					break;
			if (j == ntaken && (strstr(h, "[kwh]") || strstr(h, "(kwh)") || strstr(h, "load")))
				return i;
		}
	return -1;
}

/*
 * Half-hour position of a value-column label, or -1 if the label is not one.
 * *kind is 1 for clock labels (HH:MM), 2 for kWh_N.
 */
static int
SlotOfLabel(const char *label, int *minutes, int *kind)
{
	char h[32];
	int	 hh,
		mm,
		n = 0;
	char tail;

	ff_normalise(label, h, sizeof(h));
	if (sscanf(h, "kwh_%d%n", &hh, &n) == 1 && h[n] == '\0' && hh >= 1 && hh <= MF_MAX_SLOTS)
	{
		*kind = 2;
		*minutes = (hh - 1) * 30;
		return hh - 1;
	}
	if (h[0] == '[')
	{
		size_t l = strlen(h);

		if (l < 3 || h[l - 1] != ']')
			return -1;
		memmove(h, h + 1, l - 2);
		h[l - 2] = '\0';
	}
	if (sscanf(h, "%d:%d%c", &hh, &mm, &tail) == 2 || (sscanf(h, "%d:%d:00%c", &hh, &mm, &tail) == 2 && strlen(h) > 5))
	{
		if (hh < 0 || hh > 25 || (mm != 0 && mm != 30) || !isdigit((unsigned char) h[0]))
			return -1;
		*kind = 1;
		*minutes = hh * 60 + mm;
		return *minutes / 30;
	}
	return -1;
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

#define COLUMN(field, optname, optval, names, required, what)                                                              \
	do                                                                                                                     \
	{                                                                                                                      \
		if ((mf->field = FindColumn(mf, cells, n, line, found, optname, optval, names, required, what, taken, &nt)) == -2) \
			return -1;                                                                                                     \
	} while (0)

int
mf_header(MeterFile *mf, char **cells, int n, long line)
{
	const MfOptions *o = &mf->opt;
	int				 taken[8];
	int				 nt = 0;
	int				 i;
	int				 has0000 = 0,
		has2400 = 0,
		kind_seen = 0;
	int	   minutes[MF_MAX_SLOTS] = {0};
	char   found[300];
	size_t fo = 0;

	found[0] = '\0';
	for (i = 0; i < n && fo + 40 < sizeof(found); i++)
		fo += snprintf(found + fo, sizeof(found) - fo, "%s\"%.30s\"", i ? ", " : "", cells[i]);
	if (i < n)
		snprintf(found + fo, sizeof(found) - fo, ", ...");

	if (o->format == MF_LONG)
	{
		COLUMN(col_date, "ts_column", o->ts_column, ts_names, 1, "a timestamp");
		COLUMN(col_meter, "meter_column", o->meter_column, o->meter ? NULL : meter_names, 0, "a meter");
		COLUMN(col_site, "site_column", o->site_column, o->site ? NULL : site_names, 0, "a site");
		COLUMN(col_unit, "unit_column", o->unit_column, unit_names, 0, "a unit");
		COLUMN(col_activity, "activity_column", o->activity_column, NULL, 0, "an activity");
		COLUMN(col_value, "value_column", o->value_column, value_names, 0, "a value");
		if (mf->col_value < 0)
		{
			/* timestamp and one other column: that one is the value */
			int others = 0,
				last = -1;

			for (i = 0; i < n; i++)
			{
				int j,
					t = 0;

				for (j = 0; j < nt; j++)
					t |= taken[j] == i;
				if (!t && !IsBlank(cells[i]))
				{
					others++;
					last = i;
				}
			}
			if (others != 1)
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
		for (i = 0; i < n; i++)
		{
			int kind = 0,
				m = 0,
				slot = SlotOfLabel(cells[i], &m, &kind);

			if (slot < 0)
				continue;
			if (mf->nslots >= MF_MAX_SLOTS)
			{
				snprintf(mf->err, MF_ERRLEN, "the header on line %ld has more than %d half-hour columns", line, MF_MAX_SLOTS);
				return -1;
			}
			if (kind_seen && kind != kind_seen)
			{
				snprintf(mf->err, MF_ERRLEN, "the header on line %ld mixes HH:MM and kWh_N half-hour columns", line);
				return -1;
			}
			kind_seen = kind;
			has0000 |= (kind == 1 && m == 0);
			has2400 |= (kind == 1 && m == 24 * 60);
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
		if (kind_seen == 2)
			mf->period = 0;
		else if (o->period != MF_PERIOD_DETECT)
			mf->period = o->period;
		else if (has0000)
			mf->period = MF_PERIOD_START; /* 24:00 and 24:30 then hold a long autumn day's last half-hours */
		else if (has2400)
			mf->period = MF_PERIOD_END;
		else
		{
			snprintf(mf->err, MF_ERRLEN,
					 "cannot tell whether the half-hour columns on line %ld label the start or the end of their period; set options->>'period' to 'start' or 'end'",
					 line);
			return -1;
		}
		for (i = 0; i < mf->nslots; i++)
		{
			int slot = mf->period == MF_PERIOD_END ? minutes[i] / 30 - 1 : minutes[i] / 30;
			int j;

			if (slot < 0 || slot >= MF_MAX_SLOTS)
			{
				snprintf(mf->err, MF_ERRLEN, "half-hour column \"%s\" on line %ld is outside the day",
						 cells[mf->slot_col[i]], line);
				return -1;
			}
			for (j = 0; j < i; j++)
				if (mf->slot_of[j] == slot)
				{
					snprintf(mf->err, MF_ERRLEN, "half-hour columns \"%s\" and \"%s\" on line %ld name the same period",
							 cells[mf->slot_col[j]], cells[mf->slot_col[i]], line);
					return -1;
				}
			mf->slot_of[i] = slot;
		}
	}
#undef COLUMN
	if (mf->col_meter >= 0)
	{
		snprintf(mf->meter_header_buf, sizeof(mf->meter_header_buf), "%s", cells[mf->col_meter]);
		mf->meter_header = mf->meter_header_buf;
	}
	mf->header_done = 1;
	return 0;
}

static int
DaysIn(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* Read 1..max digits; returns count read, 0 if none. */
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
			s += 3;
			fmt += 3;
		}
		else if (strncmp(fmt, "HH24", 4) == 0 || strncmp(fmt, "HH12", 4) == 0)
		{
			h12 = fmt[2] == '1';
			if (!Digits(&s, 1, 2, &out->hour))
				return -1;
			fmt += 4;
		}
		else if (strncmp(fmt, "HH", 2) == 0)
		{
			if (!Digits(&s, 1, 2, &out->hour))
				return -1;
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
		else if (strncmp(fmt, "AM", 2) == 0 || strncmp(fmt, "PM", 2) == 0)
		{
			if (strncasecmp(s, "am", 2) == 0)
				pm = 0;
			else if (strncasecmp(s, "pm", 2) == 0)
				pm = 1;
			else
				return -1;
			s += 2;
			fmt += 2;
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
		(out->hour == 24 && (out->minute || out->second)))
		return -1;
	return 0;
}

const char *
mf_detect_date_format(const char *s, int with_time)
{
	const char *const *f = with_time ? datetime_formats : date_formats;
	MfDateTime		   dt;
	int				   i;

	for (i = 0; f[i]; i++)
		if (mf_parse_datetime(f[i], s, &dt) == 0)
			return f[i];
	if (with_time)
		for (i = 0; date_formats[i]; i++)
			if (mf_parse_datetime(date_formats[i], s, &dt) == 0)
				return date_formats[i];
	return NULL;
}

const char *
mf_infer_activity(const char *text)
{
	char n[128];

	if (text == NULL)
		return NULL;
	ff_normalise(text, n, sizeof(n));
	if (strstr(n, "gas") || strcmp(n, "mpr") == 0)
		return "natural_gas";
	if (strstr(n, "elec") || strcmp(n, "mpan") == 0)
		return "electricity";
	if (strstr(n, "water"))
		return "water_supply";
	return NULL;
}

int
mf_parse_value(const char *s, double *v)
{
	char *end;
	char  buf[64];

	*v = strtod(s, &end);
	if (end != s)
	{
		while (*end == ' ')
			end++;
		if (*end == '\0')
			return isfinite(*v) ? 0 : -1;
	}
	if (ff_parse_number(s, ',', buf, sizeof(buf)) != 0)
		return -1;
	*v = strtod(buf, &end);
	return isfinite(*v) ? 0 : -1;
}

/* Quote a cell for an error message, shortened. */
static const char *
Shown(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "\"%.40s%s\"", s, strlen(s) > 40 ? "..." : "");
	return buf;
}

int
mf_row(MeterFile *mf, char **cells, int n, long line, MfRecord *out, char *err, size_t errlen)
{
	const MfOptions *o = &mf->opt;
	const char		*date;
	char			 shown[64];
	int				 i,
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
	if (mf->date_format[0] == '\0')
	{
		const char *f = mf_detect_date_format(date, o->format == MF_LONG);

		if (f == NULL)
		{
			snprintf(err, errlen, "cannot read the date %s; set options->>'date_format' (e.g. DD/MM/YYYY)",
					 Shown(date, shown, sizeof(shown)));
			return -1;
		}
		snprintf(mf->date_format, sizeof(mf->date_format), "%s", f);
	}
	if (mf_parse_datetime(mf->date_format, date, &out->when) != 0)
	{
		snprintf(err, errlen, "date %s does not match the format %s", Shown(date, shown, sizeof(shown)),
				 mf->date_format);
		return -1;
	}

	if (o->format == MF_LONG)
	{
		const char *v = mf->col_value < n ? cells[mf->col_value] : "";

		if (IsBlank(v))
			return 0;
		if (mf_parse_value(v, &out->value[0]) != 0)
		{
			snprintf(err, errlen, "value %s is not a number", Shown(v, shown, sizeof(shown)));
			return -1;
		}
		out->nvalues = 1;
		out->slot[0] = -1;
		return 1;
	}

	if (out->when.hour || out->when.minute || out->when.second)
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
		if (mf_parse_value(v, &out->value[out->nvalues]) != 0)
		{
			snprintf(err, errlen, "value %s in column %d is not a number", Shown(v, shown, sizeof(shown)),
					 mf->slot_col[i] + 1);
			return -1;
		}
		out->slot[out->nvalues++] = mf->slot_of[i];
	}
	return out->nvalues > 0 ? 1 : 0;
}
