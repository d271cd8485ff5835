/*
 * compact.h
 *		Compacted months of car.reading: the shape of a car.reading_day row
 *		and what compact.c and compact_scan.c share.
 */
#ifndef CAR_COMPACT_H
#define CAR_COMPACT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"

/* car.reading_day's columns, 0-based, in their table order */
enum
{
	RD_MONTH,
	RD_METER_ID,
	RD_DAY,
	RD_FILE_ID,
	RD_TS_FIRST,
	RD_STEP_US,
	RD_OFFSETS_US,
	RD_QUANTITY,
	RD_FILE_IDS,
	RD_QUALITY,
	RD_METHOD,
	RD_NATTS
};

/* One compacted meter-day, unpacked (pointers into the row's arrays). */
typedef struct CarDay
{
	int32		meter_id;
	DateADT		day;
	int			n;
	TimestampTz ts_first;
	int64		step_us;
	int64	   *offsets_us; /* NULL on a regular grid */
	float8	   *quantity;
	bool		file_id_null;
	int32		file_id;
	Datum	   *file_ids; /* NULL when one file (or none) made the day */
	bool	   *file_ids_null;
	Datum	   *quality; /* NULL when every reading is actual */
	bool	   *quality_null;
	Datum	   *method; /* NULL when no reading has one */
	bool	   *method_null;
} CarDay;

typedef struct CarReading
{
	TimestampTz ts;
	float8		quantity;
	int32		file_id;
	bool		file_null;
	Datum		quality;
	Datum		method;
	bool		method_null;
} CarReading;

extern bool car_compact_moving;
extern int	car_compact_after;
extern bool car_compact_preloaded;

extern void car_compact_names(int ym, char *reading, char *day);
extern void car_unpack_day(Datum *values, bool *nulls, CarDay *out);
extern void car_day_reading(const CarDay *d, int k, Datum actual, CarReading *r);
extern int	car_compact_due(void);
extern int	car_compact_reclaim(void);
extern int	car_compact_drop_drained(void);

/* compact_scan.c */
extern void car_compact_scan_init(void);
extern void car_compact_changed(void);

#endif
