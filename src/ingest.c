/*
 * ingest.c
 *		Meter files into car.reading: car.add_source and car.push.
 *
 * A pushed file is landed in car.source_file (raw bytes kept) and loaded in
 * the same transaction, in two passes over the bytes with the pure readers
 * (csv.c, meterfile.c):
 *
 *   1. scan: check every row, turn local dates and times into instants with
 *      the source's time zone, count rejects (refusing the file whole above
 *      car.max_reject_ratio before anything is written), collect the sites
 *      and meters and the months the readings fall in;
 *   2. write: create sites, meters and partitions, then stream the readings
 *      into car.reading through PostgreSQL's own COPY machinery (binary
 *      format, fed by a callback: batching and partition routing for free),
 *      or, where the file overlaps readings already stored, through batched
 *      INSERT ... ON CONFLICT DO UPDATE so that the later file's value wins.
 *
 * Nothing of the file is held in memory besides its bytes: rows stream.
 */
#include "car.h"

#include <math.h>

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "executor/executor.h"
#include "pgtime.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "csv.h"
#include "hostpolicy.h"
#include "meterfile.h"

PG_FUNCTION_INFO_V1(car_add_source);
PG_FUNCTION_INFO_V1(car_push);

#define KEYLEN				256
#define UPSERT_BATCH		10000
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
} MeterEntry;

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

/* Everything one push needs. */
typedef struct Ingest
{
	const char	 *fname;
	const char	 *data;
	size_t		  len;
	SourceOptions so;
	pg_tz		 *tz;
	int			  file_id;
	TimestampTz	  accept_lo;
	TimestampTz	  accept_hi;
	HTAB		 *meters;

	/* pass 1 results */
	long		rows;	  /* data rows */
	long		rejected; /* rows rejected */
	long		values;	  /* readings accepted */
	TimestampTz min_ts;
	TimestampTz max_ts;
	List	   *errors; /* RowError * */

	/* pass 2 state */
	CsvReader	csv;
	MeterFile	mf;
	int			header_fields; /* fields of the header row */
	int			copy_state;	   /* COPY stream: 0 header, 1 tuples, 2 done */
	bool		copy_eof;	   /* no records left for COPY */
	int64		copy_chunk;	   /* readings sent in the current COPY */
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
} Ingest;

static Ingest *copy_ingest; /* the push COPY is reading from */

static const char *const known_options[] = {
	"site", "meter", "site_column", "meter_column", "date_column", "ts_column", "value_column",
	"unit_column", "activity_column", "unit", "activity", "date_format", "timezone", "period",
	"interval_minutes", "org", "pattern", "follow_hosts", NULL};

/* ---------------------------------------------------------------- options */

static char *
JsonbString(Jsonb *j, const char *key)
{
	JsonbValue *v = car_jsonb_field(j, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("source option \"%s\" must be a string", key)));
	return NULL;
}

static MfFormat
ParseFormat(const char *format)
{
	if (format == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source has no format"),
				 errhint("Formats: ecodriver, halfhourly, long, desnz-factors.")));
	if (strcmp(format, "ecodriver") == 0)
		return MF_ECODRIVER;
	if (strcmp(format, "halfhourly") == 0)
		return MF_HALFHOURLY;
	if (strcmp(format, "long") == 0)
		return MF_LONG;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown format \"%s\"", format),
			 errhint("Formats: ecodriver, halfhourly, long, desnz-factors.")));
	return MF_LONG;
}

/*
 * The follow_hosts option: hosts besides the source's own that its index
 * links and redirects may lead to (the worker's same-host rule), an array of
 * host names or addresses.
 */
static void
CheckFollowHosts(Jsonb *opts)
{
	JsonbValue		  *hosts = car_jsonb_field(opts, "follow_hosts");
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;

	if (hosts == NULL)
		return;
	if (hosts->type != jbvBinary || !JsonContainerIsArray(hosts->val.binary.data) ||
		JsonContainerIsScalar(hosts->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source option follow_hosts must be an array of host names"),
				 errhint("List the hosts besides the source's own that its index links and redirects may lead to, "
						 "as a JSON array of strings.")));
	it = JsonbIteratorInit(hosts->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char  err[512];
		char *host;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source option follow_hosts must be an array of host names, not of %s values",
							v.type == jbvNumeric ? "number" : v.type == jbvBool ? "boolean"
														  : v.type == jbvNull	? "null"
																				: "non-string"),
					 errhint("Write each host as a JSON string.")));
		host = pnstrdup(v.val.string.val, v.val.string.len);
		if (!hostpolicy_valid_host(host, err, sizeof(err)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source option follow_hosts: %s", err),
					 errhint("A listed host is followed on any port: write the host alone, without scheme, port or "
							 "path.")));
	}
}

/* Read and check a source's options; raises an error naming the bad one. */
static void
ReadOptions(Jsonb *opts, const char *format, SourceOptions *so)
{
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;
	char			  *s;

	memset(so, 0, sizeof(*so));
	if (!JB_ROOT_IS_OBJECT(opts))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("source options must be a JSON object")));
	it = JsonbIteratorInit(&opts->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int i;

		if (tok != WJB_KEY)
			continue;
		for (i = 0; known_options[i]; i++)
			if (strlen(known_options[i]) == (size_t) v.val.string.len &&
				strncmp(known_options[i], v.val.string.val, v.val.string.len) == 0)
				break;
		if (known_options[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown source option \"%.*s\"", v.val.string.len, v.val.string.val),
					 errhint("Options: site, meter, site_column, meter_column, date_column, ts_column, value_column, "
							 "unit_column, activity_column, unit, activity, date_format, timezone, period, "
							 "interval_minutes, org, pattern, follow_hosts.")));
	}
	CheckFollowHosts(opts);
	if (format && strcmp(format, "desnz-factors") == 0)
		return;
	so->mf.format = ParseFormat(format);
	so->mf.site = JsonbString(opts, "site");
	so->mf.meter = JsonbString(opts, "meter");
	so->mf.site_column = JsonbString(opts, "site_column");
	so->mf.meter_column = JsonbString(opts, "meter_column");
	so->mf.date_column = JsonbString(opts, "date_column");
	so->mf.ts_column = JsonbString(opts, "ts_column");
	so->mf.value_column = JsonbString(opts, "value_column");
	so->mf.unit_column = JsonbString(opts, "unit_column");
	so->mf.activity_column = JsonbString(opts, "activity_column");
	so->mf.unit = JsonbString(opts, "unit");
	so->mf.date_format = JsonbString(opts, "date_format");
	so->activity = JsonbString(opts, "activity");
	so->org = JsonbString(opts, "org");
	so->timezone = JsonbString(opts, "timezone");
	if (so->timezone == NULL)
		so->timezone = "Europe/London";
	if (pg_tzset(so->timezone) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown time zone \"%s\" in source options", so->timezone),
				 errhint("Use a name from pg_timezone_names, such as Europe/London or UTC.")));
	s = JsonbString(opts, "period");
	if (s == NULL)
		so->mf.period = MF_PERIOD_DETECT;
	else if (strcmp(s, "start") == 0)
		so->mf.period = MF_PERIOD_START;
	else if (strcmp(s, "end") == 0)
		so->mf.period = MF_PERIOD_END;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source option period must be \"start\" or \"end\", not \"%s\"", s)));
	s = JsonbString(opts, "interval_minutes");
	so->interval_minutes = s ? atoi(s) : 30;
	so->interval_given = s != NULL;
	/* as car.meter.interval_minutes: every UK day (23, 24 or 25 hours) holds whole periods */
	if (so->interval_minutes < 1 || (60 % so->interval_minutes != 0 && so->interval_minutes != 1440))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source option interval_minutes must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) "
						"or be 1440, not \"%s\"",
						s)));
	if (so->mf.date_format)
	{
		MfDateTime dt;

		/* a format with no field of a date cannot read anything */
		if (strstr(so->mf.date_format, "DD") == NULL || mf_parse_datetime(so->mf.date_format, "", &dt) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source option date_format \"%s\" has no day field", so->mf.date_format),
					 errhint("Use fields YYYY YY MM Mon DD HH24 HH12 MI SS AM, e.g. DD/MM/YYYY.")));
	}
}

/* ------------------------------------------------------------ local time */

/* Instant of local midnight on y-m-d in tz. */
static TimestampTz
LocalMidnight(pg_tz *tz, int y, int m, int d)
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
static void
LocalDay(Ingest *ing, int y, int m, int d)
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
		ing->day_start = LocalMidnight(ing->tz, y, m, d);
		next = LocalMidnight(ing->tz, ny, nm, nd);
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
static TimestampTz
LocalInstant(Ingest *ing, const MfDateTime *w, TimestampTz after, bool *missing)
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

/* ------------------------------------------------------------------ scan */

static void
AddError(Ingest *ing, long line, char **cells, int n, const char *message)
{
	RowError	  *e;
	StringInfoData raw;
	int			   i;

	ing->rejected++;
	if (list_length(ing->errors) >= MAX_ERRORS_KEPT)
		return;
	/* the row's first 500 bytes (and the start of a character cut there): a cell may be 1 MB */
	initStringInfo(&raw);
	for (i = 0; i < n && raw.len < 500; i++)
	{
		if (i > 0)
			appendStringInfoChar(&raw, ing->csv.delim);
		appendBinaryStringInfo(&raw, cells[i], (int) strnlen(cells[i], 504 - raw.len));
	}
	e = palloc(sizeof(RowError));
	e->line = line;
	{
		/* at most 500 bytes, cut between characters (the text is UTF-8 by now) */
		int	  len = pg_encoding_mbcliplen(PG_UTF8, raw.data, raw.len, 500);
		char *clipped = pnstrdup(raw.data, len);

		e->raw = pg_any_to_server(clipped, len, PG_UTF8);
	}
	pfree(raw.data);
	e->message = pstrdup(message);
	ing->errors = lappend(ing->errors, e);
}

/* The first control character (C0, or DEL) of a name, or NULL. */
static const char *
ControlCharacter(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7F)
			return s;
	return NULL;
}

/* The meter of a record, made on first sight. */
static MeterEntry *
MeterOf(Ingest *ing, const MfRecord *r)
{
	char		key[KEYLEN];
	MeterEntry *m;
	bool		found;

	/* the site's length first: no two (site, meter) pairs give one key, whatever bytes they hold */
	snprintf(key, sizeof(key), "%zu:%s/%s", strlen(r->site), r->site, r->meter);
	m = hash_search(ing->meters, key, HASH_ENTER, &found);
	if (!found)
	{
		const char *act = ing->so.activity;

		m->site = pstrdup(r->site);
		m->meter = pstrdup(r->meter);
		m->unit = pstrdup(r->unit);
		if (act == NULL)
			act = mf_infer_activity(r->activity_hint);
		if (act == NULL)
			act = mf_infer_activity(r->meter);
		if (act == NULL)
			act = mf_infer_activity(ing->mf.meter_header);
		if (act == NULL)
			act = mf_infer_activity(r->site);
		m->activity = act ? pstrdup(act) : NULL;
		m->id = 0;
		m->to_meter_unit = 1.0;
		m->last_ts = DT_NOBEGIN;
	}
	return m;
}

/*
 * Instant of value k of record r, or 0 with *why set when it cannot be
 * placed (half-hour outside the local day, or outside the accepted range).
 */
static bool
ValueInstant(Ingest *ing, const MfRecord *r, int k, MeterEntry *m, TimestampTz *ts, const char **why)
{
	if (r->slot[k] >= 0)
	{
		LocalDay(ing, r->when.year, r->when.month, r->when.day);
		if (r->slot[k] >= ing->day_slots)
		{
			*why = psprintf("%04d-%02d-%02d has %d half-hours in %s, but a value is given for half-hour %d",
							r->when.year, r->when.month, r->when.day, ing->day_slots, ing->so.timezone,
							r->slot[k] + 1);
			return false;
		}
		*ts = ing->day_start + (int64) r->slot[k] * USECS_PER_HALF_HOUR;
	}
	else
	{
		bool missing = false;

		*ts = LocalInstant(ing, &r->when, m->last_ts, &missing);
		if (missing)
		{
			*why = psprintf("local time %04d-%02d-%02d %02d:%02d does not exist in %s (the clocks went forward)",
							r->when.year, r->when.month, r->when.day, r->when.hour, r->when.minute, ing->so.timezone);
			return false;
		}
		m->last_ts = *ts;
		if (ing->mf.period == MF_PERIOD_END || ing->so.mf.period == MF_PERIOD_END)
			*ts -= (int64) ing->so.interval_minutes * USECS_PER_MINUTE;
	}
	if (*ts < ing->accept_lo || *ts >= ing->accept_hi)
	{
		*why = psprintf("timestamp %s is outside the accepted range (car.accept_from .. now() + car.accept_ahead); quarantined",
						timestamptz_to_str(*ts));
		return false;
	}
	return true;
}

/* The CSV reader failed: the file cannot be read, or is past one of its caps. */
static void
CsvFailed(Ingest *ing) pg_attribute_noreturn();

static void
CsvFailed(Ingest *ing)
{
	ereport(ERROR,
			(errcode(car_read_errcode(ing->csv.errkind, ERRCODE_BAD_COPY_FILE_FORMAT)),
			 errmsg("could not read \"%s\": %s", ing->fname, ing->csv.err),
			 ing->csv.errkind == READ_MALFORMED ? errhint("The file may be truncated or damaged; nothing was loaded.")
												: errhint("Nothing was loaded.")));
}

/* Start reading the file from the top, through its header row. */
static void
OpenFile(Ingest *ing)
{
	char **cells;
	int	   n;

	if (csv_init(&ing->csv, ing->data, ing->len, 0) != 0)
		CsvFailed(ing);
	mf_init(&ing->mf, &ing->so.mf);
	n = csv_next(&ing->csv, &cells);
	if (n < 0)
		CsvFailed(ing);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("\"%s\" is empty: it has no header row", ing->fname)));
	/* each pass places the autumn's repeated hour from the same start */
	{
		HASH_SEQ_STATUS st;
		MeterEntry	   *m;

		hash_seq_init(&st, ing->meters);
		while ((m = hash_seq_search(&st)) != NULL)
			m->last_ts = DT_NOBEGIN;
	}
	ing->header_fields = n;
	if (mf_header(&ing->mf, cells, n, ing->csv.record_line) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is not in the %s layout", ing->fname, mf_format_name(ing->so.mf.format)),
				 errdetail("%s.", ing->mf.err)));
}

/*
 * Read the next record; false at the end.  Rows that fail are recorded
 * (pass 1) or skipped (pass 2) here.
 */
static bool
NextRecord(Ingest *ing, bool record_errors)
{
	for (;;)
	{
		char **cells;
		int	   n = csv_next(&ing->csv, &cells);
		char   err[MF_ERRLEN];
		int	   rc;

		if (n < 0)
			CsvFailed(ing);
		if (n == 0)
			return false;
		CHECK_FOR_INTERRUPTS();
		if (record_errors)
			ing->rows++;
		if (n < ing->header_fields && ing->csv.pos >= ing->csv.len && ing->data[ing->len - 1] != '\n' &&
			ing->data[ing->len - 1] != '\r')
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("\"%s\" ends in the middle of a row: line %ld has %d of the header's %d fields",
							ing->fname, ing->csv.record_line, n, ing->header_fields),
					 errhint("The file looks truncated; nothing was loaded. Send it again whole.")));
		rc = mf_row(&ing->mf, cells, n, ing->csv.record_line, &ing->rec, err, sizeof(err));
		if (rc == 0)
		{
			if (record_errors)
				ing->rows--; /* an empty row is not a data row */
			continue;
		}
		if (rc < 0)
		{
			if (record_errors)
				AddError(ing, ing->csv.record_line, cells, n, err);
			continue;
		}
		if (n < ing->header_fields && ing->so.mf.format != MF_LONG)
		{
			if (record_errors)
				AddError(ing, ing->csv.record_line, cells, n,
						 psprintf("row has %d fields, the header %d", n, ing->header_fields));
			continue;
		}
		if (strlen(ing->rec.site) + strlen(ing->rec.meter) + 24 > KEYLEN)
		{
			if (record_errors)
				AddError(ing, ing->csv.record_line, cells, n,
						 psprintf("site and meter names are together longer than %d bytes", KEYLEN - 24));
			continue;
		}
		{
			const char *bad = ControlCharacter(ing->rec.site);
			const char *which = "site";

			if (bad == NULL)
			{
				bad = ControlCharacter(ing->rec.meter);
				which = "meter";
			}
			if (bad != NULL)
			{
				if (record_errors)
					AddError(ing, ing->csv.record_line, cells, n,
							 psprintf("the %s name holds a control character (byte 0x%02X); names may not", which,
									  (unsigned char) *bad));
				continue;
			}
		}
		/* place every value; a row with any value that cannot be placed is rejected whole */
		{
			MeterEntry *m = MeterOf(ing, &ing->rec);
			TimestampTz save_last = m->last_ts;
			int			k;

			/* a meter's readings are in one unit: a row in another is not silently rescaled */
			if (pg_strcasecmp(m->unit, ing->rec.unit) != 0)
			{
				if (record_errors)
					AddError(ing, ing->csv.record_line, cells, n,
							 psprintf("unit \"%s\" differs from the unit \"%s\" of meter \"%s\" earlier in the file",
									  ing->rec.unit, m->unit, m->meter));
				continue;
			}

			for (k = 0; k < ing->rec.nvalues; k++)
			{
				const char *why;

				if (!ValueInstant(ing, &ing->rec, k, m, &ing->rec_ts[k], &why))
				{
					if (record_errors)
						AddError(ing, ing->csv.record_line, cells, n, why);
					break;
				}
			}
			if (k < ing->rec.nvalues)
			{
				m->last_ts = save_last;
				continue;
			}
			ing->rec_meter = m;
			ing->rec_pos = 0;
			return true;
		}
	}
}

static void
ScanFile(Ingest *ing)
{
	OpenFile(ing);
	ing->min_ts = DT_NOEND;
	ing->max_ts = DT_NOBEGIN;
	while (NextRecord(ing, true))
	{
		int k;

		for (k = 0; k < ing->rec.nvalues; k++)
		{
			if (ing->rec_ts[k] < ing->min_ts)
				ing->min_ts = ing->rec_ts[k];
			if (ing->rec_ts[k] > ing->max_ts)
				ing->max_ts = ing->rec_ts[k];
		}
		ing->values += ing->rec.nvalues;
	}
	csv_free(&ing->csv);
}

/* ------------------------------------------------------ sites and meters */

/* Make or find the site and meter of every entry; fix unit conversions. */
static void
ResolveMeters(Ingest *ing)
{
	HASH_SEQ_STATUS st;
	MeterEntry	   *m;
	Oid				t2[2] = {TEXTOID, TEXTOID};
	Oid				t5[6] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	bool			mpan = ing->mf.meter_header && mf_infer_activity(ing->mf.meter_header) != NULL;
	bool			schema_1_0 = car_schema_1_0(); /* car 1.0's tables: meters without an interval */

	hash_seq_init(&st, ing->meters);
	while ((m = hash_seq_search(&st)) != NULL)
	{
		Datum v[6];
		char  nulls[6] = "      ";
		bool  isnull;
		int	  site_id;
		char *unit;

		if (m->activity == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot tell what meter \"%s\" at site \"%s\" in \"%s\" measures", m->meter, m->site, ing->fname),
					 errhint("Set the source's options->>'activity' (e.g. electricity, natural_gas, water_supply) "
							 "or options->>'activity_column'.")));
		v[0] = ing->so.org ? CStringGetTextDatum(ing->so.org) : (Datum) 0;
		nulls[0] = ing->so.org ? ' ' : 'n';
		v[1] = CStringGetTextDatum(pg_any_to_server(m->site, strlen(m->site), PG_UTF8));
		/*
		 * The source's organisation names the site: its own site of that
		 * name, else one it owned once and that has moved to another body
		 * since (car.site_org: a late file for a transferred building is
		 * that building's, and its days go to whoever owned it then), else
		 * a new one.  car.site_org is read only when the first lookup finds
		 * nothing, and only where it exists (a database still on car 1.0
		 * runs this library until ALTER EXTENSION car UPDATE).
		 */
		if (SPI_execute_with_args("SELECT id FROM car.site WHERE org IS NOT DISTINCT FROM $1 AND name = $2",
								  2, t2, v, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up site \"%s\"", m->site);
		if (SPI_processed != 1 && ing->so.org != NULL &&
			car_has_relation("site_org") &&
			SPI_execute_with_args("SELECT s.id FROM car.site s WHERE s.name = $2 "
								  "AND EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = s.id AND so.org = $1) "
								  "ORDER BY s.id LIMIT 1",
								  2, t2, v, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up site \"%s\"", m->site);
		if (SPI_processed != 1 &&
			(SPI_execute_with_args("INSERT INTO car.site (org, name) VALUES ($1, $2) ON CONFLICT (org, name) DO NOTHING",
								   2, t2, v, nulls, false, 0) < 0 ||
			 SPI_execute_with_args("SELECT id FROM car.site WHERE org IS NOT DISTINCT FROM $1 AND name = $2",
								   2, t2, v, nulls, false, 1) != SPI_OK_SELECT ||
			 SPI_processed != 1))
			elog(ERROR, "could not make site \"%s\"", m->site);
		site_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		v[0] = Int32GetDatum(site_id);
		nulls[0] = ' ';
		v[1] = CStringGetTextDatum(pg_any_to_server(m->meter, strlen(m->meter), PG_UTF8));
		v[2] = CStringGetTextDatum(m->activity);
		v[3] = CStringGetTextDatum(pg_any_to_server(m->unit, strlen(m->unit), PG_UTF8));
		v[4] = mpan ? v[1] : (Datum) 0;
		nulls[4] = mpan ? ' ' : 'n';
		v[5] = Int32GetDatum(ing->so.interval_minutes);
		/*
		 * A new meter takes the source's interval; an existing one only when
		 * the source sets it and it differs (an UPDATE locks only the rows it
		 * changes: concurrent pushes to one meter do not wait on each other).
		 */
		if ((schema_1_0 ? SPI_execute_with_args("INSERT INTO car.meter (site_id, name, activity, unit, external_ref) "
												"SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM car.activity WHERE key = $3) "
												"ON CONFLICT (site_id, name) DO NOTHING",
												5, t5, v, nulls, false, 0)
						: SPI_execute_with_args("INSERT INTO car.meter (site_id, name, activity, unit, external_ref, interval_minutes) "
												"SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM car.activity WHERE key = $3) "
												"ON CONFLICT (site_id, name) DO NOTHING",
												6, t5, v, nulls, false, 0)) < 0 ||
			(ing->so.interval_given && !schema_1_0 &&
			 SPI_execute_with_args("UPDATE car.meter SET interval_minutes = $6 WHERE site_id = $1 AND name = $2 "
								   "AND interval_minutes IS DISTINCT FROM $6",
								   6, t5, v, nulls, false, 0) < 0) ||
			SPI_execute_with_args("SELECT id, unit FROM car.meter WHERE site_id = $1 AND name = $2", 2,
								  t5, v, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not make meter \"%s\"", m->meter);
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("meter \"%s\" in \"%s\" would measure activity \"%s\", which car.activity does not have",
							m->meter, ing->fname, m->activity),
					 errhint("Set options->>'activity' to a key of car.activity.")));
		m->id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		unit = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		/* readings are stored in the meter's own unit */
		m->to_meter_unit = pg_strcasecmp(unit, m->unit) == 0 ? 1.0 : car_unit_convert(1.0, m->unit, unit);
		m->last_ts = DT_NOBEGIN;
	}
}

/* ---------------------------------------------------------- COPY path */

static void
PutInt16(char **p, int16 v)
{
	uint16 n = pg_hton16((uint16) v);

	memcpy(*p, &n, 2);
	*p += 2;
}

static void
PutInt32(char **p, int32 v)
{
	uint32 n = pg_hton32((uint32) v);

	memcpy(*p, &n, 4);
	*p += 4;
}

static void
PutInt64(char **p, int64 v)
{
	uint64 n = pg_hton64((uint64) v);

	memcpy(*p, &n, 8);
	*p += 8;
}

/* A value that overflows in the meter's unit: the whole file is refused, nothing stays. */
static void
OutOfRange(Ingest *ing, const MeterEntry *m) pg_attribute_noreturn();

static void
OutOfRange(Ingest *ing, const MeterEntry *m)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("\"%s\" refused: line %ld's value in %s is out of range in meter \"%s\"'s unit", ing->fname,
					ing->csv.record_line, m->unit, m->meter),
			 errhint("Nothing of the file was loaded. Check the value and the file's unit.")));
}

#define TUPLE_BYTES	 (2 + 4 + 4 + 4 + 8 + 4 + 8 + 4 + 4)
#define COPY_CHUNK	 50000 /* readings per COPY statement */
#define HEADER_BYTES 19

/*
 * COPY's data source: binary COPY of (meter_id, ts, quantity, file_id)
 * tuples, made from the file's records as COPY asks for them.
 */
static int
CopySource(void *outbuf, int minread, int maxread)
{
	Ingest *ing = copy_ingest;
	char   *p = outbuf;
	char   *end = p + maxread;
	if (ing->copy_state == 0)
	{
		static const char sig[11] = "PGCOPY\n\377\r\n";

		Assert(maxread >= HEADER_BYTES);
		memcpy(p, sig, 11);
		p += 11;
		PutInt32(&p, 0);
		PutInt32(&p, 0);
		ing->copy_state = 1;
	}
	while (ing->copy_state == 1 && end - p >= TUPLE_BYTES)
	{
		MeterEntry *m;
		double		q;

		if (ing->copy_chunk >= COPY_CHUNK)
		{
			/* end this COPY here; the next one goes on from this reading */
			PutInt16(&p, -1);
			ing->copy_state = 2;
			break;
		}
		if (ing->rec_pos >= ing->rec.nvalues)
		{
			if (!NextRecord(ing, false))
			{
				PutInt16(&p, -1);
				ing->copy_state = 2;
				ing->copy_eof = true;
				break;
			}
		}
		m = ing->rec_meter;
		q = ing->rec.value[ing->rec_pos] * m->to_meter_unit;
		if (isinf(q))
			OutOfRange(ing, m);
		PutInt16(&p, 4);
		PutInt32(&p, 4);
		PutInt32(&p, m->id);
		PutInt32(&p, 8);
		PutInt64(&p, ing->rec_ts[ing->rec_pos]);
		PutInt32(&p, 8);
		{
			union
			{
				double d;
				int64  i;
			} u;

			u.d = q;
			PutInt64(&p, u.i);
		}
		PutInt32(&p, 4);
		PutInt32(&p, ing->file_id);
		ing->rec_pos++;
		ing->written++;
		ing->copy_chunk++;
		if (car_rows_progress && (ing->written & 4095) == 0)
			*car_rows_progress = ing->written;
	}
	(void) minread;
	return (int) (p - (char *) outbuf);
}

/* Stream every reading into car.reading with COPY (no overlap with stored rows). */
static void
WriteWithCopy(Ingest *ing)
{
	Relation	  rel;
	ParseState	 *pstate;
	CopyFromState cstate;
	List		 *cols = list_make4(makeString("meter_id"), makeString("ts"), makeString("quantity"),
									makeString("file_id"));
	List		 *options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	Oid			  relid = get_relname_relid("reading", get_namespace_oid("car", false));

	OpenFile(ing);
	ing->rec_pos = ing->rec.nvalues = 0;
	ing->copy_eof = false;
	copy_ingest = ing;
	rel = table_open(relid, RowExclusiveLock);
	pstate = make_parsestate(NULL);
	{
		/* as COPY FROM does: a range-table entry, and INSERT rights on it */
		ParseNamespaceItem *nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);

		nsitem->p_rte->requiredPerms = ACL_INSERT;
		ExecCheckRTPerms(pstate->p_rtable, true);
	}
	PG_TRY();
	{
		/*
		 * COPY_CHUNK readings a COPY: car.reading's change-tracking trigger
		 * keeps each statement's rows in a transition table, which then
		 * stays small (no temporary files, bounded memory) however big the
		 * file.
		 */
		while (!ing->copy_eof)
		{
			ing->copy_state = 0;
			ing->copy_chunk = 0;
			cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, CopySource, cols, options);
			CopyFrom(cstate);
			EndCopyFrom(cstate);
		}
	}
	PG_FINALLY();
	{
		copy_ingest = NULL;
		csv_free(&ing->csv);
	}
	PG_END_TRY();
	free_parsestate(pstate);
	table_close(rel, NoLock);
}

/* ------------------------------------------------------ upsert path */

typedef struct Pending
{
	int32		meter;
	TimestampTz ts;
	double		q;
	int			seq;
} Pending;

static int
ComparePending(const void *a, const void *b)
{
	const Pending *x = a,
				  *y = b;

	if (x->meter != y->meter)
		return x->meter < y->meter ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq - y->seq;
}

static void
FlushUpsert(Ingest *ing, SPIPlanPtr plan, Pending *buf, int n)
{
	Datum *m,
		*t,
		*q;
	int i,
		k = 0;
	Datum args[4];
	int	  ret;

	if (n == 0)
		return;
	/* within a batch the later line wins: keep the last of each (meter, ts) */
	qsort(buf, n, sizeof(Pending), ComparePending);
	m = palloc(sizeof(Datum) * n);
	t = palloc(sizeof(Datum) * n);
	q = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		if (i + 1 < n && buf[i + 1].meter == buf[i].meter && buf[i + 1].ts == buf[i].ts)
			continue;
		m[k] = Int32GetDatum(buf[i].meter);
		t[k] = TimestampTzGetDatum(buf[i].ts);
		q[k] = Float8GetDatum(buf[i].q);
		k++;
	}
	args[0] = PointerGetDatum(construct_array(m, k, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(t, k, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(q, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = Int32GetDatum(ing->file_id);
	ret = SPI_execute_plan(plan, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not write readings: %s", SPI_result_code_string(ret));
	{
		bool isnull;

		ing->superseded += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	ing->written += k;
	if (car_rows_progress)
		*car_rows_progress = ing->written;
	pfree(m);
	pfree(t);
	pfree(q);
}

/* Write readings where stored ones may exist: the later file's value wins, and an actual replaces an estimate. */
static void
WriteWithUpsert(Ingest *ing)
{
	Oid			  types[4] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, INT4OID};
	SPIPlanPtr	  plan;
	Pending		 *buf = palloc(sizeof(Pending) * UPSERT_BATCH);
	int			  n = 0;
	int			  seq = 0;
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "car upsert batch", ALLOCSET_DEFAULT_SIZES);

	/* changed counts the stored values this batch replaces (the statement's snapshot: before the upsert) */
	/* car 1.0's tables have no estimates: the same without quality and method */
	plan = SPI_prepare(car_schema_1_0()
						   ? "WITH u AS (SELECT * FROM unnest($1, $2, $3) AS u(m, t, q)), "
							 "changed AS (SELECT count(*) AS n FROM car.reading r JOIN u ON r.meter_id = u.m AND r.ts = u.t "
							 "            WHERE r.quantity IS DISTINCT FROM u.q), "
							 "w AS (INSERT INTO car.reading AS r (meter_id, ts, quantity, file_id) SELECT m, t, q, $4 FROM u "
							 "      ON CONFLICT (meter_id, ts) DO UPDATE SET quantity = excluded.quantity, file_id = excluded.file_id "
							 "      WHERE r.quantity IS DISTINCT FROM excluded.quantity) "
							 "SELECT n FROM changed"
						   : "WITH u AS (SELECT * FROM unnest($1, $2, $3) AS u(m, t, q)), "
							 "changed AS (SELECT count(*) AS n FROM car.reading r JOIN u ON r.meter_id = u.m AND r.ts = u.t "
							 "            WHERE r.quantity IS DISTINCT FROM u.q OR r.quality <> 'actual'), "
							 "w AS (INSERT INTO car.reading AS r (meter_id, ts, quantity, file_id) SELECT m, t, q, $4 FROM u "
							 "      ON CONFLICT (meter_id, ts) DO UPDATE SET quantity = excluded.quantity, file_id = excluded.file_id, "
							 "      quality = 'actual', method = NULL "
							 "      WHERE r.quantity IS DISTINCT FROM excluded.quantity OR r.quality <> 'actual') "
							 "SELECT n FROM changed",
					   4, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the reading upsert: %s", SPI_result_code_string(SPI_result));

	OpenFile(ing);
	PG_TRY();
	{
		while (NextRecord(ing, false))
		{
			int k;

			for (k = 0; k < ing->rec.nvalues; k++)
			{
				buf[n].meter = ing->rec_meter->id;
				buf[n].ts = ing->rec_ts[k];
				buf[n].q = ing->rec.value[k] * ing->rec_meter->to_meter_unit;
				if (isinf(buf[n].q))
					OutOfRange(ing, ing->rec_meter);
				buf[n].seq = seq++;
				if (++n == UPSERT_BATCH)
				{
					MemoryContext old = MemoryContextSwitchTo(batch);

					FlushUpsert(ing, plan, buf, n);
					MemoryContextSwitchTo(old);
					MemoryContextReset(batch);
					n = 0;
				}
			}
		}
		FlushUpsert(ing, plan, buf, n);
	}
	PG_FINALLY();
	{
		csv_free(&ing->csv);
	}
	PG_END_TRY();
	MemoryContextDelete(batch);
}

/* Are there stored readings of the file's meters in its time range? */
static bool
Overlaps(Ingest *ing)
{
	HASH_SEQ_STATUS st;
	MeterEntry	   *m;
	Datum		   *ids = palloc(sizeof(Datum) * (hash_get_num_entries(ing->meters) + 1));
	int				n = 0;
	Oid				types[3] = {INT4ARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum			args[3];
	bool			isnull;

	hash_seq_init(&st, ing->meters);
	while ((m = hash_seq_search(&st)) != NULL)
		ids[n++] = Int32GetDatum(m->id);
	args[0] = PointerGetDatum(construct_array(ids, n, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = TimestampTzGetDatum(ing->min_ts);
	args[2] = TimestampTzGetDatum(ing->max_ts);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM car.reading WHERE meter_id = ANY ($1) AND ts BETWEEN $2 AND $3)",
							  3, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.reading");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Write the readings: COPY when nothing stored overlaps.  COPY runs in a
 * subtransaction; if the file repeats a (meter, ts) it fails with a unique
 * violation and the upsert path, where the later line wins, takes over.
 */
static void
CopyAll(void *arg)
{
	WriteWithCopy((Ingest *) arg);
}

static void
WriteReadings(Ingest *ing)
{
	if (ing->values == 0)
		return;
	if (!Overlaps(ing) && car_try_subxact(CopyAll, ing, ERRCODE_UNIQUE_VIOLATION, ERRCODE_UNIQUE_VIOLATION))
		return;
	ing->written = 0;
	WriteWithUpsert(ing);
}

/* ------------------------------------------------------------- push */

static Datum
SourceFileRow(int id)
{
	Oid	  types[1] = {INT4OID};
	Datum v[1] = {Int32GetDatum(id)};

	/*
	 * The row as stored, but without the raw bytes: the caller has just sent
	 * them, and copying a large file back into the result would double the
	 * memory a push needs.
	 */
	if (SPI_execute_with_args("SELECT id, source_id, name, uri, sha256, bytes, NULL::bytea, received_at, status, "
							  "rows_loaded, rows_rejected, rows_superseded, error FROM car.source_file WHERE id = $1",
							  1, types, v, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "car.source_file %d vanished", id);
	return PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
}

static void
StoreErrors(Ingest *ing)
{
	Oid	   types[4] = {INT4OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	int	   n = list_length(ing->errors);
	Datum *lines,
		*raws,
		*msgs;
	Datum	  args[4];
	ListCell *lc;
	int		  i = 0;

	if (n == 0)
		return;
	lines = palloc(sizeof(Datum) * n);
	raws = palloc(sizeof(Datum) * n);
	msgs = palloc(sizeof(Datum) * n);
	foreach (lc, ing->errors)
	{
		RowError *e = lfirst(lc);

		lines[i] = Int32GetDatum((int32) e->line);
		raws[i] = CStringGetTextDatum(e->raw);
		msgs[i] = CStringGetTextDatum(e->message);
		i++;
	}
	args[0] = Int32GetDatum(ing->file_id);
	args[1] = PointerGetDatum(construct_array(lines, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(raws, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(msgs, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("INSERT INTO car.ingest_error (file_id, line, raw, message) "
							  "SELECT $1, l, r, m FROM unnest($2, $3, $4) AS u(l, r, m)",
							  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record rejected rows");
}

/* The text of a source's format and options, or an error if there is no such source. */
static int
LookupSource(const char *name, char **kind, char **format, Jsonb **options)
{
	Oid	  types[1] = {TEXTOID};
	Datum v[1] = {CStringGetTextDatum(name)};
	bool  isnull;
	Datum d;

	if (SPI_execute_with_args("SELECT id, kind, format, options FROM car.source WHERE name = $1", 1, types, v, NULL,
							  false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.source");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no source named \"%s\"", name),
				 errhint("Define it first: SELECT car.add_source('%s', NULL, 'push', 'ecodriver');", name)));
	*kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*format = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	*options = DatumGetJsonbPCopy(d);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Land and load one file for a source (the push API and the background
 * worker both come here).  Runs inside the caller's SPI connection.  Returns
 * the car.source_file id; *duplicate says the same bytes were already there.
 */
int
car_ingest_file(int source_id, const char *source, const char *format, Jsonb *options, const char *fname,
				const char *uri, bytea *payload, bool *duplicate)
{
	const char *data = VARDATA_ANY(payload);
	size_t		len = VARSIZE_ANY_EXHDR(payload);
	char		sha[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	Ingest		ing;
	HASHCTL		ctl;
	bool		isnull;

	*duplicate = false;
	car_sha256_hex(data, len, sha);
	if (format && strcmp(format, "desnz-factors") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" takes factor files; load them with car.load_factors(content, name)", source)));

	/* the same bytes for the same source load once, even from two sessions at once */
	{
		Oid	  types[2] = {INT4OID, TEXTOID};
		Datum v[2] = {Int32GetDatum(source_id), CStringGetTextDatum(sha)};

		SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, hashtext($2))", 2, types, v, NULL, false, 0);
		if (SPI_execute_with_args("SELECT id FROM car.source_file WHERE source_id = $1 AND sha256 = $2", 2, types, v,
								  NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read car.source_file");
		if (SPI_processed == 1)
		{
			int id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

			*duplicate = true;
			ereport(NOTICE,
					(errmsg("\"%s\" has the same bytes as file %d of source \"%s\"; nothing loaded", fname, id, source)));
			return id;
		}
	}

	if (len == 0)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("\"%s\" is empty", fname)));
	memset(&ing, 0, sizeof(ing));
	ing.fname = fname;
	ing.data = car_text_as_utf8(data, len, &ing.len);
	if (ing.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is binary, not a CSV meter file", fname),
				 errhint("Send the file as CSV text (UTF-8, UTF-16 with a byte-order mark, or Windows-1252).")));
	ReadOptions(options, format, &ing.so);
	ing.tz = pg_tzset(ing.so.timezone);
	car_accepted_range(&ing.accept_lo, &ing.accept_hi);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = KEYLEN;
	ctl.entrysize = sizeof(MeterEntry);
	ctl.hcxt = CurrentMemoryContext;
	ing.meters = hash_create("car push meters", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	/* pass 1; the CSV reader's buffers are malloc'd: free them on any error */
	PG_TRY();
	{
		ScanFile(&ing);
	}
	PG_CATCH();
	{
		csv_free(&ing.csv);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (ing.rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("\"%s\" has a header but no data rows", fname)));
	if ((double) ing.rejected / (double) ing.rows > car_max_reject_ratio)
	{
		RowError *first = linitial(ing.errors);

		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"%s\" refused: %ld of its %ld rows (%.0f%%) are bad, more than car.max_reject_ratio (%.0f%%)",
						fname, ing.rejected, ing.rows, 100.0 * ing.rejected / ing.rows, 100.0 * car_max_reject_ratio),
				 errdetail("First bad row, line %ld: %s.", first->line, first->message),
				 errhint("Nothing of the file was loaded. Check the source's format and options, or fix the file.")));
	}

	/* land the file */
	{
		Oid	  types[6] = {INT4OID, TEXTOID, TEXTOID, INT8OID, BYTEAOID, TEXTOID};
		Datum v[6] = {Int32GetDatum(source_id), CStringGetTextDatum(fname), CStringGetTextDatum(sha),
					  Int64GetDatum((int64) len), PointerGetDatum(payload), CStringGetTextDatum(uri ? uri : fname)};

		if (SPI_execute_with_args("INSERT INTO car.source_file (source_id, name, uri, sha256, bytes, content, status) "
								  "VALUES ($1, $2, $6, $3, $4, $5, 'loaded') RETURNING id",
								  6, types, v, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not land the file");
		ing.file_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* pass 2 */
	ResolveMeters(&ing);
	if (ing.values > 0)
	{
		/* a file is not a way to make hundreds of tables: ask maintenance for those */
		int missing = car_missing_reading_partitions(ing.min_ts, ing.max_ts);

		if (missing > car_max_new_partitions)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("\"%s\" refused: its readings run from %s to %s, which needs %d new monthly partitions, "
							"more than car.max_new_partitions (%d)",
							fname, pstrdup(timestamptz_to_str(ing.min_ts)), pstrdup(timestamptz_to_str(ing.max_ts)), missing,
							car_max_new_partitions),
					 errhint("Nothing of the file was loaded. Check its dates; a superuser can make the partitions "
							 "first with car.ensure_partitions(from, to), or raise car.max_new_partitions.")));
		car_ensure_partitions_range(ing.min_ts, ing.max_ts);
	}
	PG_TRY();
	{
		WriteReadings(&ing);
	}
	PG_CATCH();
	{
		csv_free(&ing.csv);
		PG_RE_THROW();
	}
	PG_END_TRY();
	StoreErrors(&ing);
	{
		Oid	  types[4] = {INT4OID, INT8OID, INT8OID, INT8OID};
		Datum v[4] = {Int32GetDatum(ing.file_id), Int64GetDatum(ing.written), Int64GetDatum(ing.rejected),
					  Int64GetDatum(ing.superseded)};

		if (SPI_execute_with_args("UPDATE car.source_file SET rows_loaded = $2, rows_rejected = $3, rows_superseded = $4 "
								  "WHERE id = $1",
								  4, types, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the load");
	}
	return ing.file_id;
}

/* car.push(source text, filename text, payload bytea) */
Datum
car_push(PG_FUNCTION_ARGS)
{
	char  *source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char  *fname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea *payload = PG_GETARG_BYTEA_PP(2);
	char  *kind,
		*format;
	Jsonb *options;
	int	   source_id;
	int	   file_id;
	bool   duplicate;
	Datum  result;

	SPI_connect();
	source_id = LookupSource(source, &kind, &format, &options);
	if (strcmp(kind, "push") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is a %s source: files come to it by polling, not by car.push", source, kind),
				 errhint("Push to a source made with car.add_source(name, NULL, 'push', format, options).")));
	file_id = car_ingest_file(source_id, source, format, options, fname, NULL, payload, &duplicate);
	result = SourceFileRow(file_id);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* car.add_source(name, uri, kind, format, options, poll_interval) */
Datum
car_add_source(PG_FUNCTION_ARGS)
{
	char		 *kind;
	char		 *format = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	char		 *uri = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb		 *options;
	SourceOptions so;
	Datum		  result;
	Oid			  types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, INTERVALOID};
	Datum		  v[6];
	char		  nulls[6] = "      ";
	int			  i;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a source needs a name")));
	kind = PG_ARGISNULL(2) ? "file" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	options = PG_ARGISNULL(4) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
							  : PG_GETARG_JSONB_P(4);
	if (strcmp(kind, "push") != 0 && strcmp(kind, "file") != 0 && strcmp(kind, "index") != 0 &&
		strcmp(kind, "template") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown source kind \"%s\"", kind),
				 errhint("Kinds: push, file, index, template.")));
	if (strcmp(kind, "push") != 0 && uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s source needs a URI", kind)));
	/* sources make the server fetch URLs and create tables' rows: superusers and car_admin only */
	{
		Oid admin = get_role_oid("car_admin", true);

		if (!superuser() && !(OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to add a source"),
					 errhint("Only superusers and members of car_admin may add sources.")));
	}
	if (uri && pg_strncasecmp(uri, "file:", 5) == 0 && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may add sources with file: URIs")));
	ReadOptions(options, format, &so);
	if (so.activity)
	{
		const char **kinds,
			**keys;

		(void) car_activity_components(so.activity, &kinds, &keys);
	}

	v[0] = PG_GETARG_DATUM(0);
	v[1] = uri ? CStringGetTextDatum(uri) : (Datum) 0;
	nulls[1] = uri ? ' ' : 'n';
	v[2] = CStringGetTextDatum(kind);
	v[3] = format ? CStringGetTextDatum(format) : (Datum) 0;
	nulls[3] = format ? ' ' : 'n';
	v[4] = JsonbPGetDatum(options);
	v[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	SPI_connect();
	i = SPI_execute_with_args("INSERT INTO car.source (name, uri, kind, format, options, poll_interval) "
							  "VALUES ($1, $2, $3, $4, $5, coalesce($6, '1 hour')) RETURNING *",
							  6, types, v, nulls, false, 1);
	if (i != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not add the source");
	result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	SPI_finish();
	if (strcmp(kind, "push") != 0)
		car_wake_launcher_at_commit();
	PG_RETURN_DATUM(result);
}
