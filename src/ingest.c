/*
 * ingest.c
 *		Meter files into car.reading: car.push and car_ingest_file.
 *
 * A pushed file (a bytea to car.push, a large object to car.push_lo) is
 * landed in car.source_file (its raw bytes in car.source_file_chunk) and
 * loaded in the same transaction, in passes over the bytes with the pure
 * readers (csv.c, meterfile.c), after one that hashes them and decides their
 * encoding:
 *
 *   1. scan: check every row, turn local dates and times into instants with
 *      the source's time zone, count rejects (refusing the file whole above
 *      car.max_reject_ratio before anything is written), collect the sites
 *      and meters and the months the readings fall in;
 *   2. write (ingest_write.c): create sites, meters and partitions, then stream the readings
 *      into car.reading through PostgreSQL's own COPY machinery (binary
 *      format, fed by a callback: batching and partition routing for free),
 *      or, where the file overlaps readings already stored, through batched
 *      INSERT ... ON CONFLICT DO UPDATE so that the later file's value wins.
 *
 * Nothing of the file is held in memory: each pass reads its bytes a piece
 * at a time (ingest_bytes.c), wherever they are (a bytea, a large object),
 * and rows stream.
 */
#include "ingest.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_push);
PG_FUNCTION_INFO_V1(car_push_lo);

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
		m->seen_base = DT_NOBEGIN;
		m->first_reading = DT_NOEND;
		m->last_reading = DT_NOBEGIN;
		m->seen_lo = m->seen_bits = 0;
		m->seen = NULL;
	}
	return m;
}

/*
 * Instant of value k of record r, or 0 with *why set when it cannot be
 * placed (a half-hour the local day does not have, a day that does not fit
 * the header, or outside the accepted range).
 */
static bool
ValueInstant(Ingest *ing, const MfRecord *r, int k, MeterEntry *m, TimestampTz *ts, const char **why)
{
	if (r->slot[k] >= 0)
	{
		if (r->when.day != ing->day_d || r->when.month != ing->day_m || r->when.year != ing->day_y)
			car_local_day(ing, r->when.year, r->when.month, r->when.day);
		if (ing->day_mismatch)
		{
			*why = ing->day_mismatch;
			return false;
		}
		if (r->when.has_offset && r->when.offset != ing->day_offset)
		{
			*why = psprintf("the date's UTC offset (%+03d:%02d) is not %s's at local midnight of %04d-%02d-%02d (%+03d:%02d)",
							r->when.offset / 3600, abs(r->when.offset) % 3600 / 60, ing->so.timezone, r->when.year,
							r->when.month, r->when.day, ing->day_offset / 3600, abs(ing->day_offset) % 3600 / 60);
			return false;
		}
		if (r->slot[k] >= ing->day_slots)
		{
			*why = psprintf("%04d-%02d-%02d has %d half-hours in %s, but a value is given for half-hour %d",
							r->when.year, r->when.month, r->when.day, ing->day_slots, ing->so.timezone,
							r->slot[k] + 1);
			return false;
		}
		if (ing->day_slots > ing->header_slots && ing->header_slots >= 46)
		{
			/*
			 * An autumn day in a header of a whole ordinary day (to 23:30, or
			 * kWh_48): which hour did the file leave out, or merge?  (A header
			 * of part of a day, the period option's, places what it has.)
			 */
			*why = psprintf("%04d-%02d-%02d has %d half-hours in %s, but the header's columns hold only %d: the day "
							"cannot be read without guessing which hour the file left out or merged; send it with %d "
							"columns (labels to 24:30, or 25:00 as period ends) or as a long file",
							r->when.year, r->when.month, r->when.day, ing->day_slots, ing->so.timezone,
							ing->header_slots, ing->day_slots);
			return false;
		}
		*ts = ing->day_start + (int64) r->slot[k] * USECS_PER_HALF_HOUR;
	}
	else if (r->when.has_offset)
	{
		/* an instant: the stamp says its offset, so the autumn's repeated hour is told apart by it */
		*ts = car_offset_instant(&r->when);
		if (ing->mf.period == MF_PERIOD_END || ing->so.mf.period == MF_PERIOD_END)
			*ts -= (int64) ing->so.interval_minutes * USECS_PER_MINUTE;
	}
	else
	{
		bool missing = false,
			 unordered = false;

		*ts = car_local_instant(ing, &r->when, m->last_ts, &missing, &unordered);
		if (unordered)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("\"%s\" refused: line %ld gives local time %04d-%02d-%02d %02d:%02d, which %s has twice (the "
							"clocks went back), out of time order for meter \"%s\"",
							ing->fname, r->line, r->when.year, r->when.month, r->when.day, r->when.hour, r->when.minute,
							ing->so.timezone, m->meter),
					 errdetail("Without a UTC offset only the order of the rows tells the two apart, and this file's "
							   "rows for the meter do not run forward in time through that hour."),
					 errhint("Nothing of the file was loaded. Export the times with their UTC offset (e.g. "
							 "2024-10-27T01:30:00+01:00) or in UTC, or sorted oldest first.")));
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

/* The file is not in the source's layout (its header cannot be found, or read). */
static void
NotInLayout(Ingest *ing) pg_attribute_noreturn();

static void
NotInLayout(Ingest *ing)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("\"%s\" is not in the %s layout", ing->fname, mf_format_name(ing->so.mf.format)),
			 errdetail("%s.", ing->mf.err)));
}

static const char *
SeparatorName(char c)
{
	switch (c)
	{
		case NF_GROUP_NONE:
			return "";
		case ' ':
			return " ";
		case ',':
			return ",";
		case '.':
			return ".";
		case '\'':
			return "'";
		case ';':
			return ";";
		case '\t':
			return "\t";
		case '|':
			return "|";
	}
	return "?";
}

static void
JsonField(StringInfo s, const char *key, const char *value)
{
	if (s->len > 1)
		appendStringInfoString(s, ", ");
	escape_json(s, key);
	appendStringInfoString(s, ": ");
	escape_json(s, value);
}

/*
 * What the first pass learnt about the file, as JSON for
 * car.source_file.metadata: the preamble lines, the header's line, and the
 * dialect it was read in.
 */
static void
DescribeFile(Ingest *ing)
{
	const MeterFile *mf = &ing->mf;
	StringInfo		 s = makeStringInfo();
	/* the CSV reader counted them as the pass read the whole file */
	long			 crlf = ing->csv.n_crlf,
		 cr = ing->csv.n_cr,
		 lf = ing->csv.n_lf;
	StringInfoData endings;

	appendStringInfoChar(s, '{');
	JsonField(s, "encoding",
			  ing->encoding == CAR_ENC_UTF16LE	  ? "UTF-16LE"
			  : ing->encoding == CAR_ENC_UTF16BE  ? "UTF-16BE"
			  : ing->encoding == CAR_ENC_UTF8_BOM ? "UTF-8 with byte-order mark"
			  : ing->encoding == CAR_ENC_WIN1252  ? "Windows-1252"
												  : "UTF-8");
	initStringInfo(&endings);
	appendStringInfo(&endings, "%s%s%s%s%s", crlf ? "CRLF" : "", crlf && (cr || lf) ? ", " : "", cr ? "CR" : "",
					 cr && lf ? ", " : "", lf ? "LF" : "");
	JsonField(s, "line_endings", endings.len ? endings.data : "none");
	JsonField(s, "delimiter", SeparatorName(ing->csv.delim));
	appendStringInfo(s, ", \"header_line\": %ld", mf->header_line);
	appendStringInfoString(s, ", \"preamble\": [");
	{
		const char *p = mf->preamble;
		int			first = 1;

		while (*p)
		{
			const char *e = strchr(p, '\n');
			size_t		l = e ? (size_t) (e - p) : strlen(p);
			char	   *line = pnstrdup(p, l);

			if (!first)
				appendStringInfoString(s, ", ");
			escape_json(s, pg_any_to_server(line, (int) l, PG_UTF8));
			first = 0;
			p += l + (e ? 1 : 0);
		}
	}
	appendStringInfoChar(s, ']');
	if (mf->preamble_cut)
		appendStringInfo(s, ", \"preamble_cut\": %d", mf->preamble_cut);
	JsonField(s, "decimal_separator", SeparatorName(mf->numfmt.decimal));
	JsonField(s, "thousands_separator", SeparatorName(mf->numfmt.group));
	if (ing->so.mf.format != MF_LONG)
	{
		JsonField(s, "half_hour_labels",
				  mf->period == MF_PERIOD_START ? "period starts"
				  : mf->period == MF_PERIOD_END ? "period ends"
												: "positions (kWh_N)");
		if (mf->wallclock)
			appendStringInfo(s, ", \"wall_clock_day_half_hours\": %d", mf->wallclock);
	}
	if (mf->date_format[0])
		JsonField(s, "date_format", mf->date_format);
	appendStringInfoChar(s, '}');
	ing->metadata = s;
}

/* The first pass: find the header, then survey every data row. */
static void
FindHeaderAndSurvey(Ingest *ing)
{
	char **cells;
	int	   n;
	int	   found = 0;

	mf_init(&ing->mf, &ing->so.mf, ing->csv.delim);
	while (!found)
	{
		n = csv_next(&ing->csv, &cells);
		if (n < 0)
			CsvFailed(ing);
		if (n == 0)
		{
			if (ing->mf.best_score < 0 && ing->so.mf.header_line == 0)
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("\"%s\" is empty: it has no header row", ing->fname)));
			mf_no_header(&ing->mf);
			NotInLayout(ing);
		}
		CHECK_FOR_INTERRUPTS();
		switch (mf_offer_header(&ing->mf, cells, n, ing->csv.record_line))
		{
			case 1:
				found = 1;
				break;
			case 0:
				break;
			default:
				NotInLayout(ing);
		}
	}
	while ((n = csv_next(&ing->csv, &cells)) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		mf_survey(&ing->mf, cells, n, ing->csv.record_line);
	}
	if (n < 0)
		CsvFailed(ing);
	if (mf_settle(&ing->mf) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("\"%s\" refused: %s", ing->fname,
						ing->mf.long_row_line > 0									  ? "a row has more fields than its header"
						: ing->mf.month_first_line > 0 && ing->mf.day_first_seen == 0 ? "cannot tell its dates' order"
																					  : "cannot tell its number format"),
				 errdetail("%s.", ing->mf.err),
				 errhint("Nothing of the file was loaded.")));
	ing->settled = palloc(sizeof(MeterFile));
	memcpy(ing->settled, &ing->mf, sizeof(MeterFile));
}

/*
 * The CSV reader's input: the file's next bytes, a Windows-1252 file's as
 * UTF-8 (a piece at a time: each byte is one character, so no character is
 * cut between pieces).
 */
static long
ReadForCsv(void *arg, char *buf, size_t cap)
{
	Ingest *ing = arg;
	int		n;
	char   *utf8;
	size_t	len;

	if (ing->encoding != CAR_ENC_WIN1252)
		return car_bytes_read(ing->bytes, buf, (int) Min(cap, (size_t) CAR_PIECE_BYTES));
	/* a Windows-1252 byte takes at most 3 bytes in UTF-8 */
	n = car_bytes_read(ing->bytes, ing->convert, (int) Min(cap / 3, (size_t) CAR_PIECE_BYTES));
	if (n == 0)
		return 0;
	utf8 = (char *) pg_do_encoding_conversion((unsigned char *) ing->convert, n, PG_WIN1252, PG_UTF8);
	len = strlen(utf8); /* the file has no NUL byte (car_bytes_survey) */
	Assert(len <= cap);
	memcpy(buf, utf8, len);
	if (utf8 != ing->convert)
		pfree(utf8);
	return (long) len;
}

/* A pass's CSV reader, over the file from its first byte. */
void
car_ingest_csv_open(Ingest *ing)
{
	car_bytes_rewind(ing->bytes);
	if (csv_open(&ing->csv, ReadForCsv, ing, 0) != 0)
		CsvFailed(ing);
}

/* Start reading the file from the top, through its header row. */
void
car_ingest_open(Ingest *ing)
{
	char **cells;
	int	   n;

	car_ingest_csv_open(ing);
	if (ing->settled == NULL)
	{
		FindHeaderAndSurvey(ing);
		csv_free(&ing->csv);
		car_ingest_csv_open(ing);
	}
	/* each pass reads with what the first decided, and places the autumn's repeated hour from the same start */
	memcpy(&ing->mf, ing->settled, sizeof(MeterFile));
	{
		HASH_SEQ_STATUS st;
		MeterEntry	   *m;

		hash_seq_init(&st, ing->meters);
		while ((m = hash_seq_search(&st)) != NULL)
			m->last_ts = DT_NOBEGIN;
	}
	do
	{
		n = csv_next(&ing->csv, &cells);
		if (n < 0)
			CsvFailed(ing);
		if (n == 0)
			elog(ERROR, "the header of \"%s\" vanished between passes", ing->fname);
	} while (ing->csv.record_line < ing->mf.header_line);
	ing->header_fields = n;
	{
		int i;

		ing->header_slots = 0;
		for (i = 0; i < ing->mf.nslots; i++)
			ing->header_slots = Max(ing->header_slots, ing->mf.slot_of[i] + 1);
	}
}

/*
 * Read the next record; false at the end.  Rows that fail are recorded
 * (pass 1) or skipped (pass 2) here.
 */
bool
car_ingest_next(Ingest *ing, bool record_errors)
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
		/* car.ingest_error.line is an int: a file of any size, but not of more lines than it can name */
		if (ing->csv.record_line > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("\"%s\" refused: it has more than %d lines", ing->fname, PG_INT32_MAX),
					 errhint("Nothing of the file was loaded. Split it into smaller files.")));
		ing->cells = cells;
		ing->ncells = n;
		if (record_errors)
			ing->rows++;
		if (n < ing->header_fields && ing->csv.eof && ing->csv.pos >= ing->csv.len &&
			ing->csv.data[ing->csv.len - 1] != '\n' && ing->csv.data[ing->csv.len - 1] != '\r')
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
		if (rc == -2)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("\"%s\" refused: %s", ing->fname, err),
					 errhint("Nothing of the file was loaded.")));
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

/* ---------------------------------------------------- repeated readings */

/* Most readings checked for repeats (each out of the meter's time grid, or seen twice). */
#define MAX_REPEAT_CHECKS 1000000

/*
 * Mark period idx of meter m seen; returns whether it already was.  The
 * bits cover the meter's periods from its earliest to its latest reading,
 * growing either way.
 */
static bool
SeenBefore(MeterEntry *m, int64 idx)
{
	int64 at;

	if (m->seen == NULL || idx < m->seen_lo || idx >= m->seen_lo + m->seen_bits)
	{
		/* grow (by half again, at least 4,096 periods) on the side the new period is, word-aligned */
		int64	lo = m->seen ? Min(idx, m->seen_lo) : idx;
		int64	hi = m->seen ? Max(idx + 1, m->seen_lo + m->seen_bits) : idx + 1;
		int64	grow = Max((hi - lo) / 2, 4096);
		int64	nlo = m->seen && idx >= m->seen_lo ? m->seen_lo : lo - (m->seen ? grow : 0);
		int64	nhi = m->seen && idx < m->seen_lo ? hi : hi + grow;
		int64	nbits;
		uint64 *bits;

		nlo -= ((nlo % 64) + 64) % 64; /* floor to a multiple of 64 */
		nbits = (nhi - nlo + 63) / 64 * 64;
		if (nbits / 8 > (int64) MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the readings of meter \"%s\" span too long a time to check for repeats", m->meter)));
		bits = palloc0(nbits / 8);
		if (m->seen)
		{
			memcpy(bits + (m->seen_lo - nlo) / 64, m->seen, m->seen_bits / 8);
			pfree(m->seen);
		}
		m->seen = bits;
		m->seen_lo = nlo;
		m->seen_bits = nbits;
	}
	at = idx - m->seen_lo;
	if (m->seen[at / 64] & (UINT64CONST(1) << (at % 64)))
		return true;
	m->seen[at / 64] |= UINT64CONST(1) << (at % 64);
	return false;
}

/*
 * Pass 1: note the current record's readings.  A reading whose meter and
 * period were seen before in the file (each meter keeps a bit per period of
 * its time grid: 30 minutes, or interval_minutes in a long file), or that is
 * off the grid, is remembered with its line and value: the later line wins,
 * and the earlier ones are found by another pass (FindRepeats).
 */
static void
NoteReadings(Ingest *ing)
{
	MeterEntry *m = ing->rec_meter;
	int64		grid = (ing->so.mf.format == MF_LONG ? (int64) ing->so.interval_minutes : 30) * USECS_PER_MINUTE;
	int			k;

	for (k = 0; k < ing->rec.nvalues; k++)
	{
		TimestampTz ts = ing->rec_ts[k];
		bool		check;

		if (ts < m->first_reading)
			m->first_reading = ts;
		if (ts > m->last_reading)
			m->last_reading = ts;
		if (m->seen_base == DT_NOBEGIN)
			m->seen_base = ts;
		if ((ts - m->seen_base) % grid != 0)
			check = true; /* off the grid: remembered exactly */
		else
			check = SeenBefore(m, (ts - m->seen_base) / grid);
		if (check)
		{
			RepeatKey	 key;
			RepeatEntry *e;
			bool		 found;

			memset(&key, 0, sizeof(key));
			key.meter = m;
			key.ts = ts;
			e = hash_search(ing->repeats, &key, HASH_ENTER, &found);
			if (!found)
			{
				if (hash_get_num_entries(ing->repeats) > MAX_REPEAT_CHECKS)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("\"%s\" refused: more than %d of its readings repeat a meter and period given "
									"earlier in the file, or are off the meter's %d-minute grid",
									ing->fname, MAX_REPEAT_CHECKS, (int) (grid / USECS_PER_MINUTE)),
							 errhint("Nothing of the file was loaded. Send each reading once; for a long file set "
									 "options->>'interval_minutes' to the length of its periods.")));
				/* seen on the grid before: the first occurrence is counted, not stored */
				e->count = (ts - m->seen_base) % grid != 0 ? 0 : 1;
			}
			e->count++;
			e->last_line = ing->rec.line;
			e->last_value = ing->rec.value[k];
			if (e->count > 1)
				ing->has_repeats = true;
		}
	}
}

/*
 * Another pass when pass 1 met repeats: a row that gives a meter and period
 * a later line gives again, with another value, is recorded in
 * car.ingest_error ("repeated in file").  The later line is what is written
 * (the upsert path keeps the last of each (meter, ts)).
 */
static void
FindRepeats(Ingest *ing)
{
	car_ingest_open(ing);
	while (car_ingest_next(ing, false))
	{
		int differ = 0,
			k;
		long		 later = 0;
		RepeatEntry *first_diff = NULL;

		for (k = 0; k < ing->rec.nvalues; k++)
		{
			RepeatKey	 key;
			RepeatEntry *e;

			memset(&key, 0, sizeof(key));
			key.meter = ing->rec_meter;
			key.ts = ing->rec_ts[k];
			e = hash_search(ing->repeats, &key, HASH_FIND, NULL);
			if (e == NULL || e->count < 2 || e->last_line <= ing->rec.line || e->last_value == ing->rec.value[k])
				continue;
			if (differ++ == 0)
				first_diff = e;
			later = Max(later, e->last_line);
		}
		if (differ == 0)
			continue;
		ing->repeated++;
		if (ing->so.mf.format == MF_LONG)
			AddError(ing, ing->rec.line, ing->cells, ing->ncells,
					 psprintf("repeated in file: line %ld gives another value (%g) for meter \"%s\" at %s; the later "
							  "line is kept",
							  later, first_diff->last_value, ing->rec_meter->meter,
							  timestamptz_to_str(first_diff->key.ts)));
		else
			AddError(ing, ing->rec.line, ing->cells, ing->ncells,
					 psprintf("repeated in file: line %ld gives other values for %d of this row's half-hours of meter "
							  "\"%s\" on %04d-%02d-%02d; the later line is kept",
							  later, differ, ing->rec_meter->meter, ing->rec.when.year, ing->rec.when.month,
							  ing->rec.when.day));
	}
	csv_free(&ing->csv);
}

static void
ScanFile(Ingest *ing)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RepeatKey);
	ctl.entrysize = sizeof(RepeatEntry);
	ctl.hcxt = CurrentMemoryContext;
	ing->repeats = hash_create("car push repeats", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	car_ingest_open(ing);
	ing->min_ts = DT_NOEND;
	ing->max_ts = DT_NOBEGIN;
	while (car_ingest_next(ing, true))
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
		NoteReadings(ing);
	}
	DescribeFile(ing);
	csv_free(&ing->csv);
	if (ing->has_repeats)
		FindRepeats(ing);
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
	if (SPI_execute_with_args(car_has_file_metadata()
								  ? "SELECT id, source_id, name, uri, sha256, bytes, NULL::bytea, received_at, status, "
									"rows_loaded, rows_rejected, rows_superseded, error, metadata FROM car.source_file "
									"WHERE id = $1"
								  : "SELECT id, source_id, name, uri, sha256, bytes, NULL::bytea, received_at, status, "
									"rows_loaded, rows_rejected, rows_superseded, error FROM car.source_file WHERE id = $1",
							  1, types, v, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "car.source_file %d vanished", id);
	return PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
}

static void
StoreErrors(Ingest *ing)
{
	int	   n = list_length(ing->errors);
	Datum *lines,
		*raws,
		*msgs;
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
	car_file_errors(ing->file_id, PointerGetDatum(construct_array(lines, n, INT4OID, 4, true, TYPALIGN_INT)),
					PointerGetDatum(construct_array(raws, n, TEXTOID, -1, false, TYPALIGN_INT)),
					PointerGetDatum(construct_array(msgs, n, TEXTOID, -1, false, TYPALIGN_INT)));
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
 * Land and load one file for a source (car.push, car.push_lo and the
 * background worker all come here), its bytes read in pieces by each pass.
 * Runs inside the caller's SPI connection.  Returns the car.source_file id;
 * *duplicate says the same bytes were already there.
 */
static int
IngestBytes(int source_id, const char *source, const char *format, Jsonb *options, const char *fname,
			const char *uri, CarFileBytes *bytes, bool *duplicate)
{
	char		sha[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	Ingest		ing;
	HASHCTL		ctl;
	bool		isnull;
	CarEncoding encoding;

	car_refuse_on_hub("loading a meter file");
	*duplicate = false;
	car_bytes_survey(bytes, sha, &encoding);
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

	if (bytes->size == 0)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("\"%s\" is empty", fname)));
	memset(&ing, 0, sizeof(ing));
	ing.fname = fname;
	ing.bytes = bytes;
	ing.encoding = encoding;
	if (encoding == CAR_ENC_WIN1252)
		ing.convert = palloc(CAR_PIECE_BYTES);
	if (encoding == CAR_ENC_BINARY)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is binary, not a CSV meter file", fname),
				 errhint("Send the file as CSV text (UTF-8, UTF-16 with a byte-order mark, or Windows-1252).")));
	car_read_source_options(options, format, &ing.so);
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
	/* a row a later line repeats is kept out, not bad: it does not count against the file */
	if ((double) (ing.rejected - ing.repeated) / (double) ing.rows > car_max_reject_ratio)
	{
		RowError *first = linitial(ing.errors);
		long	  bad = ing.rejected - ing.repeated;

		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"%s\" refused: %ld of its %ld rows (%.0f%%) are bad, more than car.max_reject_ratio (%.0f%%)",
						fname, bad, ing.rows, 100.0 * bad / ing.rows, 100.0 * car_max_reject_ratio),
				 errdetail("First bad row, line %ld: %s.", first->line, first->message),
				 errhint("Nothing of the file was loaded. Check the source's format and options, or fix the file.")));
	}

	/* land the file, with what was learnt of it */
	ing.file_id = car_land_file_bytes(source_id, fname, uri ? uri : fname, sha, bytes,
									  ing.metadata ? ing.metadata->data : NULL, false, NULL);

	/*
	 * pass 2: the months' partitions first, then the meters.  Making a
	 * partition takes car.partition's lock and then an exclusive lock on
	 * car.reading; a meter's insert reads car.reading (its trigger queues the
	 * readings already under its id).  Two loads that took them in the other
	 * order would deadlock, each holding what the other waits for.
	 */
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
	car_ingest_resolve_meters(&ing);
	PG_TRY();
	{
		car_ingest_write(&ing);
	}
	PG_CATCH();
	{
		csv_free(&ing.csv);
		PG_RE_THROW();
	}
	PG_END_TRY();
	StoreErrors(&ing);
	car_file_counts(ing.file_id, ing.written, ing.rejected, ing.superseded);
	return ing.file_id;
}

/* Land and load a file whose bytes are a bytea (car.push, and the worker's downloads); see IngestBytes. */
int
car_ingest_file(int source_id, const char *source, const char *format, Jsonb *options, const char *fname,
				const char *uri, bytea *payload, bool *duplicate)
{
	CarFileBytes bytes;

	car_bytes_of_bytea(&bytes, payload);
	return IngestBytes(source_id, source, format, options, fname, uri, &bytes, duplicate);
}

/* A push: the source looked up and checked, the file's bytes landed and loaded; the car.source_file row. */
static Datum
Push(const char *source, const char *fname, CarFileBytes *bytes)
{
	int	  pin;
	char *kind,
		*format;
	Jsonb *options;
	int	   source_id;
	int	   file_id;
	bool   duplicate;
	Datum  result;

	pin = car_spi_connect();
	source_id = LookupSource(source, &kind, &format, &options);
	if (strcmp(kind, "push") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is a %s source: files come to it by polling, not by car.push", source, kind),
				 errhint("Push to a source made with car.add_source(name, NULL, 'push', format, options).")));
	file_id = IngestBytes(source_id, source, format, options, fname, NULL, bytes, &duplicate);
	result = SourceFileRow(file_id);
	car_spi_finish(pin);
	return result;
}

/* car.push(source text, filename text, payload bytea) */
Datum
car_push(PG_FUNCTION_ARGS)
{
	char		*source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		*fname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea		*payload = PG_GETARG_BYTEA_PP(2);
	CarFileBytes bytes;

	/* a hub lands nothing: it forwards the file to the shard of the source's organisation */
	if (car_node_role == CAR_NODE_HUB)
		PG_RETURN_DATUM(car_route_push(source, fname, payload));
	/* the payload is read in place, piece by piece: the push makes no copy of it */
	car_bytes_of_bytea(&bytes, payload);
	PG_RETURN_DATUM(Push(source, fname, &bytes));
}

/*
 * car.push_lo(source text, filename text, lo oid): car.push of the bytes of
 * a large object the client streamed in (psql's \lo_import), read in pieces,
 * so a file of any size loads in bounded memory.  The large object is opened
 * as the caller, who must be able to read it; it is left as it was (its
 * bytes are landed in car.source_file_chunk).
 */
Datum
car_push_lo(PG_FUNCTION_ARGS)
{
	char		*source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		*fname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	CarFileBytes bytes;
	Datum		 result;

	/* a hub forwards car.push's bytea; a large object stays where the client streamed it */
	car_refuse_on_hub("car.push_lo() (a large object is pushed on its organisation's shard)");
	car_bytes_of_lo(&bytes, PG_GETARG_OID(2));
	result = Push(source, fname, &bytes);
	car_bytes_close(&bytes);
	PG_RETURN_DATUM(result);
}
