/*
 * ingest.h
 *		What the files of meter-file loading share (backend only): the state
 *		of one push, the source's options, and the entry points of each role.
 *
 *	ingest.c			car.push and car_ingest_file: landing a file and its
 *						passes (survey, scan), rows from the pure readers
 *	ingest_bytes.c		the file's bytes (a bytea or a large object), read in
 *						pieces: hashed, their encoding surveyed
 *	ingest_options.c	a source's options, read and checked
 *	ingest_time.c		local dates and times into instants
 *	ingest_write.c		sites, meters, and readings into car.reading (COPY
 *						or upsert)
 *
 * The background worker calls car_ingest_file; nothing here calls the
 * worker (car.add_source, which wakes it, lives in source.c).
 */
#ifndef CAR_INGEST_H
#define CAR_INGEST_H

#include "car.h"

#include "nodes/pg_list.h"
#include "pgtime.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"

#include "csv.h"
#include "meterfile.h"

#define KEYLEN				256
#define MAX_ERRORS_KEPT		100000
#define USECS_PER_HALF_HOUR (30 * USECS_PER_MINUTE)

/* A meter met in the file. */
typedef struct MeterEntry
{
	char		key[KEYLEN]; /* length of site : site / meter */
	char	   *site;
	char	   *meter;
	char	   *unit;
	char	   *activity;
	int			id;			   /* car.meter.id once known */
	double		to_meter_unit; /* factor from the file's unit to the meter's */
	TimestampTz last_ts;	   /* for fall-back ambiguity in long files */
	TimestampTz first_reading; /* the earliest and latest reading of this meter in the file (pass 1) */
	TimestampTz last_reading;

	/* the periods of this meter seen so far in the file (pass 1), a bit each */
	TimestampTz seen_base; /* period 0; DT_NOBEGIN until the first reading */
	int64		seen_lo;   /* periods seen[0] .. covers, from seen_base */
	int64		seen_bits;
	uint64	   *seen;
} MeterEntry;

/* A (meter, period) the file gives more than once (or may: see ingest.c), with its last occurrence. */
typedef struct RepeatKey
{
	MeterEntry *meter;
	TimestampTz ts;
} RepeatKey;

typedef struct RepeatEntry
{
	RepeatKey key;
	int		  count;	 /* occurrences (2 or more: repeated) */
	long	  last_line; /* the one that is kept */
	double	  last_value;
} RepeatEntry;

/* A rejected row, kept for car.ingest_error. */
typedef struct RowError
{
	long  line;
	char *raw;
	char *message;
} RowError;

/* Options as read from the source's jsonb. */
typedef struct SourceOptions
{
	MfOptions	mf;
	const char *timezone;
	const char *activity;
	const char *org;
	int			interval_minutes;
	bool		interval_given; /* interval_minutes was set: the meters take it */
} SourceOptions;

/* How a file's bytes are encoded (car_bytes_survey). */
typedef enum CarEncoding
{
	CAR_ENC_UTF8,
	CAR_ENC_UTF8_BOM,
	CAR_ENC_UTF16LE, /* transcoded by the CSV reader */
	CAR_ENC_UTF16BE,
	CAR_ENC_WIN1252, /* converted to UTF-8 as read */
	CAR_ENC_BINARY	 /* NUL bytes outside UTF-16: refused */
} CarEncoding;

/* Everything one push needs. */
typedef struct Ingest
{
	const char	 *fname;
	CarFileBytes *bytes;	/* the file as sent, read in pieces by each pass */
	CarEncoding	  encoding; /* Windows-1252 is converted to UTF-8 as read */
	char		 *convert;	/* a piece of Windows-1252 (CAR_PIECE_BYTES) */
	SourceOptions so;
	pg_tz		 *tz;
	int			  file_id;
	TimestampTz	  accept_lo;
	TimestampTz	  accept_hi;
	HTAB		 *meters;

	/* the header search and survey (the first pass): what is decided once for the file */
	MeterFile *settled;	 /* the reader after it, copied into each later pass */
	StringInfo metadata; /* JSON for car.source_file.metadata */

	/* pass 1 results */
	long		rows;	  /* data rows */
	long		rejected; /* rows rejected (repeated ones included) */
	long		repeated; /* rows recorded as repeated in the file */
	HTAB	   *repeats;  /* RepeatEntry: readings to check for repeats */
	bool		has_repeats;
	long		values; /* readings accepted */
	TimestampTz min_ts;
	TimestampTz max_ts;
	List	   *errors; /* RowError * */

	/* pass 2 state */
	CsvReader	csv;
	MeterFile	mf;
	int			header_fields; /* fields of the header row */
	int			header_slots;  /* wide: half-hours the header's columns reach */
	char	  **cells;		   /* the current record's cells */
	int			ncells;
	int			copy_state; /* COPY stream: 0 header, 1 tuples, 2 done */
	bool		copy_eof;	/* no records left for COPY */
	int64		copy_chunk; /* readings sent in the current COPY */
	MfRecord	rec;
	TimestampTz rec_ts[MF_MAX_SLOTS]; /* instants of rec's values */
	int			rec_pos;			  /* next value of rec to emit */
	MeterEntry *rec_meter;
	TimestampTz rec_base; /* wide: local midnight as an instant */
	long		written;
	long		superseded;

	/* local-day cache for wide rows */
	int			day_y, day_m, day_d;
	TimestampTz day_start;
	int			day_slots;
	int			day_offset;	  /* the zone's offset at local midnight, seconds east of UTC */
	char	   *day_mismatch; /* why the day does not fit the header's wall-clock labels, or NULL */
} Ingest;

/* ingest_options.c */
extern void car_read_source_options(Jsonb *opts, const char *format, SourceOptions *so);

/* ingest_time.c */
extern TimestampTz car_local_midnight(pg_tz *tz, int y, int m, int d);
extern void		   car_local_day(Ingest *ing, int y, int m, int d);
extern TimestampTz car_local_instant(Ingest *ing, const MfDateTime *w, TimestampTz after, bool *missing,
									 bool *unordered);
extern TimestampTz car_offset_instant(const MfDateTime *w);

/* ingest.c: the file's records, from the top (through its header) */
extern void car_ingest_open(Ingest *ing);
extern bool car_ingest_next(Ingest *ing, bool record_errors);

/* ingest_bytes.c */
extern void car_bytes_survey(CarFileBytes *b, char *hex, CarEncoding *enc);

/* ingest.c: each pass's reader, from the top */
extern void car_ingest_csv_open(Ingest *ing);

/* ingest_write.c */
extern void car_ingest_resolve_meters(Ingest *ing);
extern void car_ingest_write(Ingest *ing);

#endif /* CAR_INGEST_H */
