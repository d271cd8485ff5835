/*
 * meterfile.h
 *		Pure C reader of meter-data layouts (no backend calls).
 *
 * Rows come from the CSV reader.  The header row says where the site, meter,
 * date, unit and value columns are (named by options or recognised by their
 * usual names) and, for wide layouts, which half-hour each value column
 * holds.  Each data row then becomes an MfRecord: names, the local date (and
 * time, for long layouts) exactly as written, and the values.  Turning local
 * times into instants needs the time-zone rules, which the backend applies.
 *
 * Half-hour columns are positions in the local day: the value in the column
 * labelled 00:00 (period start) or 00:30 (period end) or kWh_1 is the first
 * half-hour after local midnight, and so on.  A day has 46, 48 or 50 of them
 * (clock changes); labels run to 24:30 (start) or 25:00 (end) or kWh_50 so
 * that a 50-half-hour day can be written in full.
 *
 * It allocates nothing (records and messages are fixed-size) and its work
 * is linear in each row (a header: in its cells times the names looked
 * for), so the CSV reader's caps, CSV_MAX_RECORD and CSV_MAX_FIELDS, are
 * what bound a hostile file.
 */
#ifndef CAR_METERFILE_H
#define CAR_METERFILE_H

#include <stddef.h>

#define MF_ERRLEN	 512
#define MF_MAX_SLOTS 50

typedef enum MfFormat
{
	MF_ECODRIVER,
	MF_HALFHOURLY,
	MF_LONG
} MfFormat;

typedef enum MfPeriod
{
	MF_PERIOD_DETECT,
	MF_PERIOD_START,
	MF_PERIOD_END
} MfPeriod;

/* Options; NULL strings mean "not given". */
typedef struct MfOptions
{
	MfFormat	format;
	const char *site;  /* fixed site name */
	const char *meter; /* fixed meter name */
	const char *site_column;
	const char *meter_column;
	const char *date_column;
	const char *ts_column;
	const char *value_column;
	const char *unit_column;
	const char *activity_column;
	const char *unit;		 /* default unit (kWh) */
	const char *date_format; /* NULL: detect from the first data row */
	MfPeriod	period;
} MfOptions;

typedef struct MfDateTime
{
	int year, month, day, hour, minute, second;
} MfDateTime;

typedef struct MfRecord
{
	long		line;
	const char *site;
	const char *meter;
	const char *unit;
	const char *activity_hint; /* text to infer the activity from, or NULL */
	MfDateTime	when;		   /* local date (wide) or local date and time (long) */
	int			nvalues;
	int			slot[MF_MAX_SLOTS]; /* wide: half-hour position from local midnight */
	double		value[MF_MAX_SLOTS];
} MfRecord;

typedef struct MeterFile
{
	MfOptions	opt;
	int			header_done;
	int			period; /* resolved MfPeriod, or 0 for kWh_N positions */
	char		date_format[64];
	int			col_site, col_meter, col_date, col_unit, col_activity, col_value;
	int			nslots; /* wide: value columns */
	int			slot_col[MF_MAX_SLOTS];
	int			slot_of[MF_MAX_SLOTS];
	const char *meter_header; /* header of the meter column (MPAN/MPR hint) */
	char		meter_header_buf[64];
	char		value_unit[32]; /* unit named in the value column header, e.g. "[kWh]" */
	char		err[MF_ERRLEN];
} MeterFile;

extern void mf_init(MeterFile *mf, const MfOptions *opt);

/* Read the header row; 0, or -1 with mf->err (what was expected and found). */
extern int mf_header(MeterFile *mf, char **cells, int n, long line);

/*
 * Read one data row: 1 with *out filled, 0 for a row with nothing in it, or
 * -1 with a reason in err (the row is rejected; the file goes on).
 */
extern int mf_row(MeterFile *mf, char **cells, int n, long line, MfRecord *out, char *err, size_t errlen);

/* Parse s with a format made of YYYY YY MM DD Mon HH24 HH12 HH MI SS AM; 0 or -1. */
extern int mf_parse_datetime(const char *fmt, const char *s, MfDateTime *out);

/* The first known date format that reads s, or NULL. */
extern const char *mf_detect_date_format(const char *s, int with_time);

/* Activity key suggested by a meter name, type or header (gas, electricity, water), or NULL. */
extern const char *mf_infer_activity(const char *text);

/* Parse a reading value (plain or locale-formatted); 0 or -1. */
extern int mf_parse_value(const char *s, double *v);

extern const char *mf_format_name(MfFormat f);

#endif /* CAR_METERFILE_H */
