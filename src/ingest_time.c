/*
 * ingest_time.c
 *		Local dates and times of meter files into instants, with the
 *		source's time zone: local midnight and the half-hours of a local day
 *		(46, 48 or 50), checked against a header of a clock-change day's
 *		wall-clock labels; a wall time's instant (the spring gap refused, the
 *		autumn's repeated hour placed in file order); and a stamp with its
 *		own UTC offset, which needs no time zone at all.
 */
#include "ingest.h"

#include "utils/datetime.h"
#include "utils/timestamp.h"

/* ------------------------------------------------------------ local time */

/* Instant of local midnight on y-m-d in tz. */
TimestampTz
car_local_midnight(pg_tz *tz, int y, int m, int d)
{
	struct pg_tm tm;
	int			 off;
	TimestampTz	 t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y;
	tm.tm_mon = m;
	tm.tm_mday = d;
	off = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, 0, &off, &t) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("date out of range: %d-%02d-%02d", y, m, d)));
	return t;
}

/* Local time of day of an instant, in minutes. */
static int
WallMinutes(pg_tz *tz, TimestampTz t, int *offset)
{
	struct pg_tm tm;
	fsec_t		 fs;
	int			 off = 0;

	if (timestamp2tm(t, &off, &tm, &fs, NULL, tz) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	if (offset)
		*offset = -off;
	return tm.tm_hour * 60 + tm.tm_min;
}

/*
 * A header of wall-clock labels (a clock-change day's 46 or 50) fits a day
 * only if the day has that many half-hours and each label is the local time
 * its half-hour starts (or ends) at; NULL, or why not.
 */
static char *
DayMismatch(Ingest *ing)
{
	const MeterFile *mf = &ing->mf;
	int				 s;

	if (mf->wallclock == 0)
		return NULL;
	if (ing->day_slots != mf->wallclock)
		return psprintf("the header's half-hour labels are the wall-clock times of a day of %d half-hours (the clocks "
						"going %s), but %04d-%02d-%02d has %d in %s",
						mf->wallclock, mf->wallclock == 46 ? "forward" : "back", ing->day_y, ing->day_m, ing->day_d,
						ing->day_slots, ing->so.timezone);
	for (s = 0; s < mf->wallclock; s++)
	{
		TimestampTz at = ing->day_start + (int64) (s + (mf->period == MF_PERIOD_END ? 1 : 0)) * USECS_PER_HALF_HOUR;
		int			wall = WallMinutes(ing->tz, at, NULL);

		if (wall != mf->slot_wall[s])
			return psprintf("half-hour %d of %04d-%02d-%02d %s at %02d:%02d in %s, but the header's label for it says "
							"%02d:%02d",
							s + 1, ing->day_y, ing->day_m, ing->day_d, mf->period == MF_PERIOD_END ? "ends" : "starts",
							wall / 60, wall % 60, ing->so.timezone, mf->slot_wall[s] / 60, mf->slot_wall[s] % 60);
	}
	return NULL;
}

/* Wide rows: instant of local midnight and half-hours in that local day. */
void
car_local_day(Ingest *ing, int y, int m, int d)
{
	if (ing->day_y == y && ing->day_m == m && ing->day_d == d)
		return;
	{
		int days = date2j(y, m, d) + 1;
		int ny,
			nm,
			nd;
		TimestampTz next;

		j2date(days, &ny, &nm, &nd);
		ing->day_start = car_local_midnight(ing->tz, y, m, d);
		next = car_local_midnight(ing->tz, ny, nm, nd);
		ing->day_slots = (int) ((next - ing->day_start) / USECS_PER_HALF_HOUR);
		ing->day_y = y;
		ing->day_m = m;
		ing->day_d = d;
		(void) WallMinutes(ing->tz, ing->day_start, &ing->day_offset);
		ing->day_mismatch = DayMismatch(ing);
	}
}

/* A stamp's wall-clock fields as a pg_tm; 24:00 is 00:00 of the next day. */
static void
WallTime(const MfDateTime *w, struct pg_tm *tm)
{
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = w->year;
	tm->tm_mon = w->month;
	tm->tm_mday = w->day;
	tm->tm_hour = w->hour == 24 ? 0 : w->hour;
	tm->tm_min = w->minute;
	tm->tm_sec = w->second;
	if (w->hour == 24)
		j2date(date2j(w->year, w->month, w->day) + 1, &tm->tm_year, &tm->tm_mon, &tm->tm_mday);
}

/* The instant of a stamp that names its UTC offset: no time zone involved. */
TimestampTz
car_offset_instant(const MfDateTime *w)
{
	struct pg_tm tm;
	int			 tz = -w->offset; /* PostgreSQL counts seconds west */
	TimestampTz	 t;

	WallTime(w, &tm);
	if (tm2timestamp(&tm, w->usec, &tz, &t) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	return t;
}

/*
 * Long rows: the instant of a local date and time.  A wall time that occurs
 * twice (the hour the clocks go back) is read as its first occurrence unless
 * this meter has already passed it, so a file listing the hour twice in order
 * keeps both.
 */
TimestampTz
car_local_instant(Ingest *ing, const MfDateTime *w, TimestampTz after, bool *missing, bool *unordered)
{
	struct pg_tm tm;
	int			 off;
	TimestampTz	 t,
		early;
	struct pg_tm tm2;
	fsec_t		 fs;
	int			 off2;

	WallTime(w, &tm);
	off = DetermineTimeZoneOffset(&tm, ing->tz);
	if (tm2timestamp(&tm, w->usec, &off, &t) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	/* a wall time inside the spring gap does not exist: it comes back different */
	if (timestamp2tm(t, &off2, &tm2, &fs, NULL, ing->tz) != 0 || tm2.tm_hour != tm.tm_hour || tm2.tm_min != tm.tm_min)
	{
		*missing = true;
		return t;
	}
	/* is the same wall time also an hour earlier? */
	early = t - USECS_PER_HOUR;
	if (timestamp2tm(early, &off2, &tm2, &fs, NULL, ing->tz) == 0 && tm2.tm_hour == tm.tm_hour &&
		tm2.tm_min == tm.tm_min && tm2.tm_mday == tm.tm_mday)
	{
		/*
		 * Only the file's order tells the two apart, so it must run forward:
		 * a meter already at the later one (or past it) is a file in another
		 * order (newest first, sorted as text), where they cannot be told.
		 */
		if (after != DT_NOBEGIN && after >= t)
			*unordered = true;
		return early > after ? early : t;
	}
	return t;
}
