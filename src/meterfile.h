/*
 * meterfile.h
 *		Pure C reader of meter-data layouts (no backend calls).
 *
 * Rows come from the CSV reader.  A file is read in passes, each from the
 * top:
 *
 *   1. header search and survey: mf_offer_header is given the records
 *      until it finds the header row (within the first MF_HEADER_SEARCH
 *      lines, or on the line options->>'header_line' names); the lines
 *      before it are the preamble, kept as the file's metadata.  Then
 *      mf_survey is given every data row: it collects what is decided once
 *      for the whole file, from all the rows (the number format, from every
 *      value cell; how long the zero-padded identifiers of each identifier
 *      column are), and mf_settle decides it.
 *   2. rows: mf_row turns each data row into an MfRecord: names, the date
 *      and time exactly as written (with its UTC offset when it has one)
 *      and the values read in the file's number format.  Turning local
 *      times into instants needs the time-zone rules, which the backend
 *      applies.
 *
 * Half-hour columns: the header decides, for the whole file, whether their
 * labels are period starts or period ends (see mf_header); a value's slot
 * is its half-hour's position in the local day.  A day has 46, 48 or 50
 * half-hours (clock changes).  Labels are either positions from local
 * midnight (00:00 ... 24:30 as starts, 00:30 ... 25:00 or a final 00:00 as
 * ends, kWh_1 ... kWh_50) or, in a header of 46 or 50 columns with one
 * jump (the spring's missing hour) or one step back (the autumn's repeated
 * hour), the wall-clock times of a clock-change day: then the slot is the
 * column's position, and the backend checks each row's day against them.
 *
 * It allocates nothing (records, surveys and messages are fixed-size) and
 * its work is linear in each row (a header: in its cells times the names
 * looked for), so the CSV reader's caps, CSV_MAX_RECORD and
 * CSV_MAX_FIELDS, are what bound a hostile file.
 */
#ifndef CAR_METERFILE_H
#define CAR_METERFILE_H

#include <stddef.h>

#include "numfmt.h"

#define MF_ERRLEN		 512
#define MF_MAX_SLOTS	 50
#define MF_HEADER_SEARCH 50	  /* lines searched for the header row */
#define MF_PREAMBLE_MAX	 4096 /* bytes of preamble kept (each line cut to MF_PREAMBLE_LINE) */
#define MF_PREAMBLE_LINE 240
#define MF_MAX_IDCOLS	 8 /* identifier columns checked (site, meter, MPAN/MPRN ones) */

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
	const char *date_format; /* NULL: detect */
	MfPeriod	period;
	char		decimal_separator;	 /* NF_DETECT, '.' or ',' */
	char		thousands_separator; /* NF_DETECT, NF_GROUP_NONE, ',', '.', ' ' or '\'' */
	long		header_line;		 /* 0: search the first MF_HEADER_SEARCH lines */
} MfOptions;

typedef struct MfDateTime
{
	int year, month, day, hour, minute, second;
	int usec;		/* fraction of the second, in microseconds */
	int has_time;	/* the stamp had a time of day */
	int has_offset; /* the stamp named its UTC offset (Z, +01:00, ...) */
	int offset;		/* then: seconds east of UTC */
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

/* How an identifier column's values are checked. */
typedef enum MfIdKind
{
	MF_ID_NAME,		   /* a site or meter name: no spreadsheet damage */
	MF_ID_MPAN,		   /* an MPAN: 13-digit core with its check digit (or the 21-digit full MPAN) */
	MF_ID_MPRN,		   /* a gas MPRN: 6 to 10 digits */
	MF_ID_MPAN_OR_MPRN /* "MPR": either */
} MfIdKind;

typedef struct MfIdColumn
{
	int		 col;
	MfIdKind kind;
	char	 header[40];
	/* from the survey: the length of its all-digit values that keep a leading 0 */
	int		 zero_len; /* 0: none; -1: they differ in length */
	long	 zero_line;
	char	 zero_example[32];
} MfIdColumn;

typedef struct MeterFile
{
	MfOptions	opt;
	char		delim; /* the file's field separator */
	int			header_done;
	long		header_line;
	int			header_cells;			 /* the header's cells, up to its last non-blank one */
	long		long_row_line;			 /* the first row with a non-blank cell past them (0: none) */
	int			long_row_cells;			 /* that row's cells, up to its last non-blank one */
	int			period;					 /* resolved MfPeriod, or 0 for kWh_N positions */
	int			wallclock;				 /* 0, or 46 / 50: the labels are a clock-change day's wall-clock times */
	int			slot_wall[MF_MAX_SLOTS]; /* wall-clock minutes a slot's label names */
	char		date_format[64];
	int			date_format_fixed; /* given, or detected from a stamp with a time of day */
	int			col_site, col_meter, col_date, col_time, col_unit, col_activity, col_value;
	int			nslots; /* wide: value columns */
	int			slot_col[MF_MAX_SLOTS];
	int			slot_of[MF_MAX_SLOTS];
	const char *meter_header; /* header of the meter column (MPAN/MPR hint) */
	char		meter_header_buf[64];
	char		value_unit[32]; /* unit named in the value column header, e.g. "[kWh]" */
	int			nidcols;
	MfIdColumn	idcols[MF_MAX_IDCOLS];

	/* decided once per file */
	long	  month_first_line; /* a date that only reads month first ("01/13/2024"), when no date_format is given */
	char	  month_first[32];
	long	  day_first_seen; /* dates that only read day first ("13/01/2024") */
	NumSurvey numbers;
	NumFormat numfmt;
	int		  settled;

	/* header search */
	int	 best_score;
	long best_line;
	char best_err[MF_ERRLEN];
	char preamble[MF_PREAMBLE_MAX]; /* the lines before the header, '\n'-separated */
	int	 preamble_lines;
	int	 preamble_cut; /* lines or bytes left out */

	char stamp[128]; /* a long row's date and time from two columns */
	char err[MF_ERRLEN];
} MeterFile;

/* delim is the file's field separator (the CSV reader's). */
extern void mf_init(MeterFile *mf, const MfOptions *opt, char delim);

/*
 * Offer a record before the header is found.  Returns 1 when it is the
 * header (mf->header_done is then set), 0 when it is a preamble line (kept)
 * or -1 with mf->err when the header cannot be found: no line of the first
 * MF_HEADER_SEARCH fits the layout and options (the message gives the
 * closest), or the line options->>'header_line' names does not fit.
 */
extern int mf_offer_header(MeterFile *mf, char **cells, int n, long line);

/* The end of input came before any header was found: -1 with mf->err. */
extern int mf_no_header(MeterFile *mf);

/* Read this row as the header; 0, or -1 with mf->err (what was expected and found). */
extern int mf_header(MeterFile *mf, char **cells, int n, long line);

/* Pass 1: learn from one data row (its value cells, its identifiers). */
extern void mf_survey(MeterFile *mf, char **cells, int n, long line);

/* After the survey: decide the number format; 0, or -1 with mf->err naming the option to set. */
extern int mf_settle(MeterFile *mf);

/*
 * Read one data row: 1 with *out filled, 0 for a row with nothing in it,
 * -1 with a reason in err (the row is rejected; the file goes on), or -2
 * with a reason in err when the row shows the whole file is damaged (an
 * identifier a spreadsheet mangled): the file is refused.
 */
extern int mf_row(MeterFile *mf, char **cells, int n, long line, MfRecord *out, char *err, size_t errlen);

/*
 * Parse s with a format made of YYYY YY MM DD Mon HH24 HH12 HH MI SS FF
 * (fraction of a second) AM (or PM) TZ (a UTC offset: Z, UTC, +01:00,
 * +0100, +01) and literal characters (a literal Z is UTC); 0 or -1.
 */
extern int mf_parse_datetime(const char *fmt, const char *s, MfDateTime *out);

/*
 * The format of a date or timestamp as common exporters write it (day
 * first or ISO; a space or T; 12- or 24-hour clock; seconds and their
 * fractions; a UTC offset), into fmt; 0, or -1 when s is none.  With
 * with_time 0 only dates are accepted.
 */
extern int mf_detect_date_format(const char *s, int with_time, char *fmt, size_t fmtlen);

/* Activity key suggested by a meter name, type or header (gas, electricity, water), or NULL. */
extern const char *mf_infer_activity(const char *text);

/* Read a reading value in the file's number format (after mf_settle); 0 or -1. */
extern int mf_parse_value(const MeterFile *mf, const char *s, double *v);

/* Is s a valid MPAN (13-digit core with its check digit, or a full 21-digit MPAN; spaces ignored)? */
extern int mf_valid_mpan(const char *s);

/* Is s a valid gas MPRN (6 to 10 digits; spaces ignored)? */
extern int mf_valid_mprn(const char *s);

extern const char *mf_format_name(MfFormat f);

#endif /* CAR_METERFILE_H */
