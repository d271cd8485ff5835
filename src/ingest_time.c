/*
 * ingest_time.c
 *		Local dates and times of meter files into instants, with the
 *		source's time zone: local midnight and the half-hours of a local day
 *		(46, 48 or 50), and a wall time's instant (the spring gap refused,
 *		the autumn's repeated hour placed in file order).
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
	}
}

/*
 * Long rows: the instant of a local date and time.  A wall time that occurs
 * twice (the hour the clocks go back) is read as its first occurrence unless
 * this meter has already passed it, so a file listing the hour twice in order
 * keeps both.
 */
TimestampTz
car_local_instant(Ingest *ing, const MfDateTime *w, TimestampTz after, bool *missing)
{
	struct pg_tm tm;
	int			 off;
	TimestampTz	 t,
		early;
	struct pg_tm tm2;
	fsec_t		 fs;
	int			 off2;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = w->year;
	tm.tm_mon = w->month;
	tm.tm_mday = w->day;
	tm.tm_hour = w->hour == 24 ? 0 : w->hour;
	tm.tm_min = w->minute;
	tm.tm_sec = w->second;
	if (w->hour == 24)
	{
		int j = date2j(w->year, w->month, w->day) + 1;

		j2date(j, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	}
	off = DetermineTimeZoneOffset(&tm, ing->tz);
	if (tm2timestamp(&tm, 0, &off, &t) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	/* a wall time inside the spring gap does not exist: it comes back different */
	if (timestamp2tm(t, &off2, &tm2, &fs, NULL, ing->tz) != 0 || tm2.tm_hour != tm.tm_hour || tm2.tm_min != tm.tm_min)
	{
		*missing = true;
		return t;
	}
	/* is the same wall time also an hour earlier? */
	early = t - USECS_PER_HOUR;
	if (early > after && timestamp2tm(early, &off2, &tm2, &fs, NULL, ing->tz) == 0 &&
		tm2.tm_hour == tm.tm_hour && tm2.tm_min == tm.tm_min && tm2.tm_mday == tm.tm_mday)
		return early;
	return t;
}
