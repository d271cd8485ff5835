/*
 * close.c
 *		Period close and the restatement register's foundations:
 *		car.close_period(), car.reopen_period() and car.closed_months().
 *
 * car.close_period(org, from, to, note) signs an organisation's figures for
 * whole months [from, to], under car.reporting_year_start as the database is
 * configured (ConfiguredYearStart): it brings car.emission_daily up to date
 * (the incremental refresh), then copies, in one statement and so from one
 * snapshot, every emission row of the organisation's days in the period
 * (per meter, UK day and component, with the kg CO2e under the financial
 * year's factors besides), the periods each interval meter was expected to
 * report, the factor sets that priced them and the files behind them, into
 * the closed_* tables.  The emission rows are written in the canonical
 * order and hashed as they are written (RETURNING, into a DestReceiver), so
 * the signature costs no second read or sort of them; the SHA-256 is of a
 * canonical text that escapes every field (README, "Period close", gives
 * the SQL that recomputes it).  Every report reads a closed
 * organisation-month from the copy, never from car.emission_daily again:
 * closed figures do not move.  car.restatement shows, line by line, what
 * the live figures would say now.
 *
 * Concurrency.  Closes of one database are serialised by a SHARE ROW
 * EXCLUSIVE lock on car.period_close (taken by each close and reopen; reports
 * take ACCESS SHARE, which it does not block), so two closes never both pass
 * the overlap check.  A close holds the refresh's advisory lock from its
 * refresh to its commit: a car.refresh() that starts meanwhile returns 0 at
 * once, its queue kept for the next one.  So a push or a refresh racing a
 * close either committed before the close's refresh, and its days are in
 * the snapshot, or it did not, and its days stay queued and show in the
 * restatement once refreshed: nothing is lost or counted twice
 * (specs/close_race.spec).
 *
 * The closed_* tables and car.period_close are written as car's owner: no
 * role, car_admin included, can change a signed figure by hand; reopening
 * (car_admin, with a reason) is the one way, and is recorded.
 */
#include "car.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"

PG_FUNCTION_INFO_V1(car_close_period);
PG_FUNCTION_INFO_V1(car_reopen_period);
PG_FUNCTION_INFO_V1(car_closed_months);

#define CLOSE_FORMAT "car period close 3"

typedef struct CloseJob
{
	const char *org;
	DateADT		from;
	DateADT		to; /* last day, inclusive */
	const char *note;
	const char *by;
	int			year_start; /* car.reporting_year_start signed under */
	int			close_id;
	int64		lines;
	char		sha256[65];
	HeapTuple	row;
	/* reopen */
	const char *reason;
} CloseJob;

static void
Run(const char *sql, int nargs, Oid *types, Datum *vals, const char *nulls, int expected)
{
	int rc = SPI_execute_with_args(sql, nargs, types, vals, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "car: SPI failed (%s): %s", SPI_result_code_string(rc), sql);
}

static void
RunRead(const char *sql)
{
	int rc = SPI_execute(sql, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "car: SPI failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* A date as YYYY-MM-DD, whatever DateStyle says. */
static char *
DateText(DateADT d)
{
	int y,
		m,
		day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return psprintf("%04d-%02d-%02d", y, m, day);
}

/* Refuse a period that is not whole months, or an organisation with nothing in it. */
static void
CheckPeriod(const char *org, DateADT from, DateADT to)
{
	int y,
		m,
		d;

	if (DATE_NOT_FINITE(from) || DATE_NOT_FINITE(to))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("the period must have finite dates")));
	/* the canonical text writes dates YYYY-MM-DD, which to_char writes alike for years AD only */
	j2date(from + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (y < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the period must start in the year 1 AD or later")));
	if (d != 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a period closes whole months: \"from\" (%s) is not the first day of a month",
							   DateText(from)),
						errhint("Close from the first day of a month to the last day of a month, e.g. a financial "
								"year: car.close_period(org, '2021-04-01', '2022-03-31', note).")));
	j2date(to + 1 + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (d != 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a period closes whole months: \"to\" (%s) is not the last day of a month",
							   DateText(to)),
						errhint("Give the period's last day, e.g. '2022-03-31' for a year ending in March.")));
	if (to < from)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the period is empty: \"to\" (%s) is before \"from\" (%s)", DateText(to),
							   DateText(from))));
	if (org[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("the organisation must not be empty")));
}

/* As car's owner: lock the closes, refuse an overlap with one still in force. */
static void
LockAndCheckOverlap(void *arg)
{
	CloseJob *job = arg;
	Oid		  types[3] = {TEXTOID, DATEOID, DATEOID};
	Datum	  vals[3] = {CStringGetTextDatum(job->org), DateADTGetDatum(job->from), DateADTGetDatum(job->to)};

	Run("LOCK TABLE car.period_close IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	/* dates and times as ISO text in UTC, whatever DateStyle and TimeZone say */
	Run("SELECT id, pg_catalog.to_char(lower(period), 'YYYY-MM-DD'), "
		"pg_catalog.to_char(upper(period) OPERATOR(pg_catalog.-) 1, 'YYYY-MM-DD'), "
		"pg_catalog.to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), closed_by FROM car.period_close "
		"WHERE org OPERATOR(pg_catalog.=) $1 AND reopened_at IS NULL "
		"AND period OPERATOR(pg_catalog.&&) pg_catalog.daterange($2, $3, '[]') ORDER BY lower(period) LIMIT 1",
		3, types, vals, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		HeapTuple t = SPI_tuptable->vals[0];
		TupleDesc d = SPI_tuptable->tupdesc;

		ereport(ERROR,
				(errcode(ERRCODE_EXCLUSION_VIOLATION),
				 errmsg("the period of organisation \"%s\" overlaps close %s (%s to %s), signed %s by %s", job->org,
						SPI_getvalue(t, d, 1), SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 3), SPI_getvalue(t, d, 4),
						SPI_getvalue(t, d, 5)),
				 errdetail("A month of an organisation is signed once."),
				 errhint("To sign it again, reopen that close first: car.reopen_period(%s, reason) (car_admin).",
						 SPI_getvalue(t, d, 1))));
	}
	Run("SELECT 1 FROM car.site_ownership WHERE org OPERATOR(pg_catalog.=) $1 LIMIT 1", 1, types, vals, NULL,
		SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("organisation \"%s\" has no sites", job->org),
						errhint("car.site.org and car.site_org name the organisations.")));
}

/*
 * The canonical text (README, "Period close", which gives the SQL that
 * recomputes it): UTF-8, one line each, "\n" after every line, a line's
 * fields joined by "|"; in every field "\" is written "\\", "|" "\|" and a
 * newline "\n", and NULL is "\N", so that no two snapshots have the same
 * text.  Numbers as PostgreSQL writes them (floats: the shortest text that
 * reads back exactly, extra_float_digits >= 1), booleans true or false, dates YYYY-MM-DD, arrays of
 * ids their elements joined by ",".  In this order:
 *   car period close 3
 *   org|<org>
 *   period|<first day>|<last day>
 *   reporting_year_start|<month>
 *   emission|<every column of car.closed_emission but close_id, in order>
 *     (by month, meter_id, day, component in byte order: the table's key)
 *   coverage|<every column of car.closed_coverage but close_id>   (by meter_id, month)
 *   factor_set|<every column of car.closed_factor_set but close_id>   (by set_id)
 *   file|<every column of car.closed_file but close_id; received_at in UTC,
 *     YYYY-MM-DD HH24:MI:SS.US>   (by file_id)
 */
#define CANON_CHUNK 65536

typedef struct Canon
{
	pg_cryptohash_ctx *ctx;
	StringInfoData	   buf;	   /* text not hashed yet */
	MemoryContext	   rowcxt; /* what one row's fields need, reset after each */
} Canon;

/* Hash what is buffered. */
static void
CanonFlush(Canon *c)
{
	if (c->buf.len > 0 && pg_cryptohash_update(c->ctx, (uint8 *) c->buf.data, c->buf.len) < 0)
		elog(ERROR, "car: could not compute SHA-256: %s", pg_cryptohash_error(c->ctx));
	resetStringInfo(&c->buf);
}

/* A text field, escaped. */
static void
CanonText(StringInfo buf, const char *s, int len)
{
	int from = 0;
	int i;

	for (i = 0; i < len; i++)
	{
		const char *esc;

		switch (s[i])
		{
			case '\\':
				esc = "\\\\";
				break;
			case '|':
				esc = "\\|";
				break;
			case '\n':
				esc = "\\n";
				break;
			default:
				continue;
		}
		appendBinaryStringInfo(buf, s + from, i - from);
		appendBinaryStringInfo(buf, esc, 2);
		from = i + 1;
	}
	appendBinaryStringInfo(buf, s + from, len - from);
}

/* YYYY-MM-DD (years 1 to 9999 as four digits, later ones in full, as to_char writes them) */
static void
CanonDate(StringInfo buf, DateADT d)
{
	int y,
		m,
		day;
	char out[16];
	int	 n;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	if (y < 1000)
	{
		out[0] = '0' + y / 1000;
		out[1] = '0' + y / 100 % 10;
		out[2] = '0' + y / 10 % 10;
		out[3] = '0' + y % 10;
		n = 4;
	}
	else
		n = pg_ltoa(y, out);
	out[n++] = '-';
	out[n++] = '0' + m / 10;
	out[n++] = '0' + m % 10;
	out[n++] = '-';
	out[n++] = '0' + day / 10;
	out[n++] = '0' + day % 10;
	appendBinaryStringInfo(buf, out, n);
}

/* One field of a row in its canonical form (in the current memory context). */
static void
CanonField(StringInfo buf, Datum v, bool isnull, Oid type)
{
	char num[MAXINT8LEN + 1];

	if (isnull)
	{
		appendBinaryStringInfo(buf, "\\N", 2);
		return;
	}
	switch (type)
	{
		case TEXTOID:
		{
			text *t = DatumGetTextPP(v);

			CanonText(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			break;
		}
		case INT4OID:
			appendBinaryStringInfo(buf, num, pg_ltoa(DatumGetInt32(v), num));
			break;
		case INT8OID:
			appendBinaryStringInfo(buf, num, pg_lltoa(DatumGetInt64(v), num));
			break;
		case FLOAT8OID:
		{
			char f[DOUBLE_SHORTEST_DECIMAL_LEN];

			appendBinaryStringInfo(buf, f, double_to_shortest_decimal_buf(DatumGetFloat8(v), f));
			break;
		}
		case DATEOID:
			CanonDate(buf, DatumGetDateADT(v));
			break;
		case BOOLOID:
			/* as bool::text writes it */
			appendStringInfoString(buf, DatumGetBool(v) ? "true" : "false");
			break;
		case INT4ARRAYOID:
		{
			Datum *elems;
			bool  *nulls;
			int	   n;
			int	   i;
			bool   first = true;

			deconstruct_array(DatumGetArrayTypeP(v), INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
			/* as array_to_string(ids, ','): NULL elements left out */
			for (i = 0; i < n; i++)
			{
				if (nulls[i])
					continue;
				if (!first)
					appendStringInfoChar(buf, ',');
				appendBinaryStringInfo(buf, num, pg_ltoa(DatumGetInt32(elems[i]), num));
				first = false;
			}
			break;
		}
		default:
			elog(ERROR, "car: no canonical form for type %u", type);
	}
}

/*
 * A DestReceiver that writes each row it receives as a canonical line
 * ("<tag>|<field>|..."), and, for the emission rows, checks that they come
 * in the canonical order and counts them, their kg CO2e and their sites.
 */
typedef struct CanonReceiver
{
	DestReceiver   pub;
	Canon		  *canon;
	const char	  *tag;
	bool		   emission;
	/* emission rows: the columns read, 0-based */
	int			   site_att;
	int			   month_att;
	int			   meter_att;
	int			   day_att;
	int			   component_att;
	int			   kg_att;
	/* the row before */
	bool		   any;
	DateADT		   month;
	int32		   meter;
	DateADT		   day;
	StringInfoData component;
	/* what the emission rows add up to */
	int64		   lines;
	double		   kg;
	int32		  *sites; /* a site each time it changes from the row before */
	int			   nsites;
	int			   maxsites;
} CanonReceiver;

static int
AttNumber(TupleDesc desc, const char *name)
{
	int i;

	for (i = 0; i < desc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
			return i;
	elog(ERROR, "car: the signed rows have no column %s", name);
	return -1; /* keep the compiler quiet */
}

static void
CanonStartup(DestReceiver *self, int operation, TupleDesc desc)
{
	CanonReceiver *r = (CanonReceiver *) self;

	(void) operation;
	if (!r->emission)
		return;
	r->site_att = AttNumber(desc, "site_id");
	r->month_att = AttNumber(desc, "month");
	r->meter_att = AttNumber(desc, "meter_id");
	r->day_att = AttNumber(desc, "day");
	r->component_att = AttNumber(desc, "component");
	r->kg_att = AttNumber(desc, "kg_co2e");
}

/* The emission row's place in the canonical order, checked against the row before. */
static void
CanonOrder(CanonReceiver *r, TupleTableSlot *slot)
{
	DateADT month = DatumGetDateADT(slot->tts_values[r->month_att]);
	int32	meter = DatumGetInt32(slot->tts_values[r->meter_att]);
	DateADT day = DatumGetDateADT(slot->tts_values[r->day_att]);
	text   *t = DatumGetTextPP(slot->tts_values[r->component_att]);
	int		len = VARSIZE_ANY_EXHDR(t);
	int		cmp;

	if (r->any)
	{
		cmp = month < r->month ? -1 : month > r->month;
		if (cmp == 0)
			cmp = meter < r->meter ? -1 : meter > r->meter;
		if (cmp == 0)
			cmp = day < r->day ? -1 : day > r->day;
		if (cmp == 0)
		{
			/* byte order, as COLLATE "C" */
			cmp = memcmp(VARDATA_ANY(t), r->component.data, Min(len, r->component.len));
			if (cmp == 0)
				cmp = len < r->component.len ? -1 : len > r->component.len;
		}
		if (cmp <= 0)
			elog(ERROR, "car: the signed rows reached the hash out of their canonical order");
	}
	r->any = true;
	r->month = month;
	r->meter = meter;
	r->day = day;
	resetStringInfo(&r->component);
	appendBinaryStringInfo(&r->component, VARDATA_ANY(t), len);
}

static bool
CanonReceive(TupleTableSlot *slot, DestReceiver *self)
{
	CanonReceiver *r = (CanonReceiver *) self;
	Canon		  *c = r->canon;
	TupleDesc	   desc = slot->tts_tupleDescriptor;
	MemoryContext  old;
	int			   i;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(c->rowcxt);
	appendStringInfoString(&c->buf, r->tag);
	for (i = 0; i < desc->natts; i++)
	{
		appendStringInfoChar(&c->buf, '|');
		CanonField(&c->buf, slot->tts_values[i], slot->tts_isnull[i], TupleDescAttr(desc, i)->atttypid);
	}
	appendStringInfoChar(&c->buf, '\n');
	if (r->emission)
	{
		int32 site = DatumGetInt32(slot->tts_values[r->site_att]);

		CanonOrder(r, slot);
		r->lines++;
		if (!slot->tts_isnull[r->kg_att])
			r->kg += DatumGetFloat8(slot->tts_values[r->kg_att]);
		if (r->nsites == 0 || r->sites[r->nsites - 1] != site)
		{
			if (r->nsites == r->maxsites)
			{
				r->maxsites *= 2;
				r->sites = repalloc(r->sites, r->maxsites * sizeof(int32));
			}
			r->sites[r->nsites++] = site;
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(c->rowcxt);
	if (c->buf.len >= CANON_CHUNK)
		CanonFlush(c);
	return true;
}

static void
CanonShutdown(DestReceiver *self)
{
	(void) self;
}

static void
CanonDestroy(DestReceiver *self)
{
	(void) self;
}

static void
CanonReceiverInit(CanonReceiver *r, Canon *c, const char *tag, bool emission)
{
	memset(r, 0, sizeof(*r));
	r->pub.receiveSlot = CanonReceive;
	r->pub.rStartup = CanonStartup;
	r->pub.rShutdown = CanonShutdown;
	r->pub.rDestroy = CanonDestroy;
	r->pub.mydest = DestNone;
	r->canon = c;
	r->tag = tag;
	r->emission = emission;
	if (emission)
	{
		initStringInfo(&r->component);
		r->maxsites = 64;
		r->sites = palloc(r->maxsites * sizeof(int32));
	}
}

/* Run a query with parameters, its rows going to a receiver; returns the SPI code. */
static int
RunInto(const char *sql, int nargs, const Oid *types, const Datum *vals, const bool *nulls, DestReceiver *dest)
{
	SPIExecuteOptions options;
	ParamListInfo	  params = makeParamList(nargs);
	int				  i;

	for (i = 0; i < nargs; i++)
	{
		params->params[i].value = vals[i];
		params->params[i].isnull = nulls ? nulls[i] : false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = false;
	options.dest = dest;
	return SPI_execute_extended(sql, &options);
}

/*
 * The close's copy of the figures, in one statement and so from one
 * snapshot: its emission rows, in the canonical order, go into
 * car.closed_emission and, as they are written (RETURNING), to the hash;
 * the periods its interval meters were expected to report, the factor sets
 * and the files behind them go into their tables alongside.
 */
#define COPY_FIGURES                                                                                                                                                                   \
	"WITH src AS MATERIALIZED ("                                                                                                                                                       \
	"  SELECT e.month, e.meter_id, e.day, e.component, e.site_id, e.scope, e.quantity, e.quantity_estimated, "                                                                         \
	"         e.periods_actual, e.periods_estimated, e.kg_co2e, e.kg_co2, e.kg_ch4, e.kg_n2o, e.factor_set_id, "                                                                       \
	"         e.factor_year, e.factor_id, e.kg_co2e_market, e.kg_co2e_market_half_hourly, e.market_basis, e.market_flagged, "                                                          \
	"         pg_catalog.date_part('year', e.day OPERATOR(pg_catalog.-) interval '3 months')::int AS fy, "                                                                             \
	"         s.name AS site, e.activity, e.unit, e.file_ids "                                                                                                                         \
	"  FROM car.emission_daily e "                                                                                                                                                     \
	"  JOIN car.site s ON s.id OPERATOR(pg_catalog.=) e.site_id "                                                                                                                      \
	"  JOIN car.site_ownership o ON o.site_id OPERATOR(pg_catalog.=) e.site_id "                                                                                                       \
	"       AND e.day OPERATOR(pg_catalog.>=) o.valid_from AND e.day OPERATOR(pg_catalog.<=) o.valid_to "                                                                              \
	"  WHERE o.org OPERATOR(pg_catalog.=) $1 AND e.day OPERATOR(pg_catalog.>=) $2 "                                                                                                    \
	"  AND e.day OPERATOR(pg_catalog.<=) $3 AND e.month OPERATOR(pg_catalog.>=) $2 "                                                                                                   \
	"  AND e.month OPERATOR(pg_catalog.<=) $3), "                                                                                                                                      \
	"cov AS (INSERT INTO car.closed_coverage (close_id, org, site_id, meter_id, activity, unit, month, periods_expected) "                                                             \
	"        SELECT $4, x.org, x.site_id, x.meter_id, x.activity, x.unit, x.month, x.periods_expected "                                                                                \
	"        FROM car.expected_live x WHERE x.org OPERATOR(pg_catalog.=) $1 "                                                                                                          \
	"        AND x.month OPERATOR(pg_catalog.>=) $2 AND x.month OPERATOR(pg_catalog.<=) $3), "                                                                                         \
	"sets AS (SELECT DISTINCT factor_set_id, fy FROM src), "                                                                                                                           \
	"fs AS (INSERT INTO car.closed_factor_set (close_id, org, set_id, publisher, year, revision, title, sha256) "                                                                      \
	"       SELECT $4, $1, f.id, f.publisher, f.year, f.revision, f.title, f.sha256 FROM car.factor_set f "                                                                            \
	"       WHERE f.id OPERATOR(pg_catalog.=) ANY (SELECT factor_set_id FROM sets UNION "                                                                                              \
	"                                             SELECT car.fy_factor_set(fy) FROM sets)), "                                                                                          \
	"fl AS (INSERT INTO car.closed_file (close_id, org, file_id, source, name, sha256, received_at) "                                                                                  \
	"       SELECT $4, $1, f.id, so.name, f.name, f.sha256, f.received_at "                                                                                                            \
	"       FROM car.source_file f JOIN car.source so ON so.id OPERATOR(pg_catalog.=) f.source_id "                                                                                    \
	"       WHERE f.id OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest(file_ids) FROM src)) "                                                                                     \
	"INSERT INTO car.closed_emission (close_id, org, site_id, site, meter_id, day, month, activity, scope, component, "                                                                \
	"       unit, quantity, quantity_estimated, periods_actual, periods_estimated, kg_co2e, kg_co2, kg_ch4, kg_n2o, "                                                                  \
	"       fy_kg_co2e, factor_set_id, factor_year, factor_id, fy_factor_set_id, fy_factor_year, file_ids, kg_co2e_market, kg_co2e_market_half_hourly, market_basis, market_flagged) " \
	"SELECT $4, $1, site_id, site, meter_id, day, month, activity, scope, component, unit, quantity, "                                                                                 \
	"       quantity_estimated, periods_actual, periods_estimated, kg_co2e, kg_co2, kg_ch4, kg_n2o, "                                                                                  \
	"       car.fy_co2e(kg_co2e, factor_set_id, quantity, unit, activity, component, fy), factor_set_id, "                                                                             \
	"       factor_year, factor_id, car.fy_factor_set(fy), car.fy_factor_year(fy), "                                                                                                   \
	"       CASE WHEN pg_catalog.cardinality(file_ids) OPERATOR(pg_catalog.>) 1 "                                                                                                      \
	"            THEN ARRAY(SELECT DISTINCT f FROM pg_catalog.unnest(file_ids) f ORDER BY f) "                                                                                         \
	"            ELSE coalesce(file_ids, '{}') END, kg_co2e_market, kg_co2e_market_half_hourly, market_basis, market_flagged "                                                         \
	"FROM src ORDER BY month, meter_id, day, component COLLATE \"C\" "                                                                                                                 \
	"RETURNING org, site_id, site, meter_id, day, month, activity, scope, component, unit, quantity, "                                                                                 \
	"       quantity_estimated, periods_actual, periods_estimated, kg_co2e, kg_co2, kg_ch4, kg_n2o, fy_kg_co2e, "                                                                      \
	"       factor_set_id, factor_year, factor_id, fy_factor_set_id, fy_factor_year, file_ids, kg_co2e_market, "                                                                       \
	"       kg_co2e_market_half_hourly, market_basis, market_flagged"

/* the other parts of the canonical text, read back from what the statement wrote */
static const struct
{
	const char *tag;
	const char *sql;
} canonical_parts[] = {
	{"coverage", "SELECT org, site_id, meter_id, activity, unit, month, periods_expected FROM car.closed_coverage "
				 "WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY meter_id, month"},
	{"factor_set", "SELECT org, set_id, publisher, year, revision, title, sha256 FROM car.closed_factor_set "
				   "WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY set_id"},
	{"file", "SELECT org, file_id, source, name, sha256, "
			 "pg_catalog.to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS received_at "
			 "FROM car.closed_file WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY file_id"},
};

/*
 * As car's owner: the close's row, the copy of its figures and their
 * SHA-256, computed as the rows are written.
 */
static void
SignFigures(void *arg)
{
	CloseJob	 *job = arg;
	Canon		  canon;
	CanonReceiver emission;
	uint8		  digest[PG_SHA256_DIGEST_LENGTH];
	bool		  isnull;
	int			  i;

	{
		Oid	  types[6] = {TEXTOID, DATEOID, DATEOID, TEXTOID, TEXTOID, INT4OID};
		Datum vals[6];
		char  nulls[6] = "      ";

		vals[0] = CStringGetTextDatum(job->org);
		vals[1] = DateADTGetDatum(job->from);
		vals[2] = DateADTGetDatum(job->to);
		vals[3] = job->note ? CStringGetTextDatum(job->note) : (Datum) 0;
		nulls[3] = job->note ? ' ' : 'n';
		vals[4] = CStringGetTextDatum(job->by);
		vals[5] = Int32GetDatum(job->year_start);
		Run("INSERT INTO car.period_close (org, period, note, closed_by, reporting_year_start, lines, kg_co2e, "
			"sha256, site_ids) VALUES ($1, pg_catalog.daterange($2, $3, '[]'), $4, $5, $6, 0, 0, "
			"pg_catalog.repeat('0', 64), '{}') RETURNING id",
			6, types, vals, nulls, SPI_OK_INSERT_RETURNING);
		job->close_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	canon.ctx = pg_cryptohash_create(PG_SHA256);
	if (canon.ctx == NULL || pg_cryptohash_init(canon.ctx) < 0)
		elog(ERROR, "car: could not compute SHA-256");
	PG_TRY();
	{
		initStringInfo(&canon.buf);
		canon.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "car close row", ALLOCSET_SMALL_SIZES);
		appendStringInfoString(&canon.buf, CLOSE_FORMAT "\norg|");
		CanonText(&canon.buf, job->org, strlen(job->org));
		appendStringInfoString(&canon.buf, "\nperiod|");
		CanonDate(&canon.buf, job->from);
		appendStringInfoChar(&canon.buf, '|');
		CanonDate(&canon.buf, job->to);
		appendStringInfo(&canon.buf, "\nreporting_year_start|%d\n", job->year_start);

		{
			Oid	  types[4] = {TEXTOID, DATEOID, DATEOID, INT4OID};
			Datum vals[4] = {CStringGetTextDatum(job->org), DateADTGetDatum(job->from), DateADTGetDatum(job->to),
							 Int32GetDatum(job->close_id)};

			CanonReceiverInit(&emission, &canon, "emission", true);
			if (RunInto(COPY_FIGURES, 4, types, vals, NULL, (DestReceiver *) &emission) != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "car: could not copy the figures of the close");
		}
		for (i = 0; i < (int) lengthof(canonical_parts); i++)
		{
			CanonReceiver part;
			Oid			  types[1] = {INT4OID};
			Datum		  vals[1] = {Int32GetDatum(job->close_id)};

			CanonReceiverInit(&part, &canon, canonical_parts[i].tag, false);
			if (RunInto(canonical_parts[i].sql, 1, types, vals, NULL, (DestReceiver *) &part) < 0)
				elog(ERROR, "car: could not read the %s rows of the close", canonical_parts[i].tag);
		}
		CanonFlush(&canon);
		if (pg_cryptohash_final(canon.ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "car: could not compute SHA-256: %s", pg_cryptohash_error(canon.ctx));
	}
	PG_FINALLY();
	{
		pg_cryptohash_free(canon.ctx);
	}
	PG_END_TRY();
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(job->sha256 + 2 * i, "%02x", digest[i]);
	job->lines = emission.lines;

	{
		Oid	  types[5] = {INT4OID, TEXTOID, INT8OID, FLOAT8OID, INT4ARRAYOID};
		Datum vals[5];

		vals[0] = Int32GetDatum(job->close_id);
		vals[1] = CStringGetTextDatum(job->sha256);
		vals[2] = Int64GetDatum(emission.lines);
		vals[3] = Float8GetDatum(emission.kg);
		{
			Datum *ids = palloc(Max(emission.nsites, 1) * sizeof(Datum));

			for (i = 0; i < emission.nsites; i++)
				ids[i] = Int32GetDatum(emission.sites[i]);
			vals[4] = PointerGetDatum(construct_array(ids, emission.nsites, INT4OID, sizeof(int32), true, TYPALIGN_INT));
		}
		/* the sites: of the emission rows, and of the meters expected to report */
		Run("UPDATE car.period_close SET sha256 = $2, lines = $3, kg_co2e = $4, "
			"site_ids = ARRAY(SELECT s FROM pg_catalog.unnest($5) s UNION "
			"                 SELECT site_id FROM car.closed_coverage WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY 1) "
			"WHERE id OPERATOR(pg_catalog.=) $1",
			5, types, vals, NULL, SPI_OK_UPDATE);
		Run("INSERT INTO car.period_close_event (close_id, org, event, by, note) "
			"SELECT id, org, 'closed', closed_by, note FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1",
			1, types, vals, NULL, SPI_OK_INSERT);
		Run("SELECT * FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1", 1, types, vals, NULL, SPI_OK_SELECT);
		job->row = SPI_copytuple(SPI_tuptable->vals[0]);
	}
}

static Datum
ReturnRow(FunctionCallInfo fcinfo, HeapTuple row)
{
	TupleDesc desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "car: the function must return a row");
	return HeapTupleHeaderGetDatum(SPI_returntuple(row, desc));
}

/*
 * The reporting-year rule a close signs under: car.reporting_year_start as
 * the database is configured (the default, postgresql.conf or ALTER SYSTEM,
 * the server's command line, ALTER DATABASE), which is the one this session
 * uses and so the one its refresh prices with.  A signed figure must not
 * depend on what one session chose: a value set in the session (SET, SET
 * LOCAL, a function's SET clause), by the connection's options or by the
 * role's own settings (ALTER ROLE ... SET, which a role may do for itself)
 * is refused, with what to do.
 */
static int
ConfiguredYearStart(void)
{
	struct config_generic **vars = get_guc_variables();
	int						n = GetNumConfigOptions();
	struct config_int	   *conf = NULL;
	int						i;

	for (i = 0; i < n && conf == NULL; i++)
		if (vars[i]->vartype == PGC_INT && strcmp(vars[i]->name, "car.reporting_year_start") == 0)
			conf = (struct config_int *) vars[i];
	if (conf == NULL || conf->variable != &car_reporting_year_start)
		elog(ERROR, "car: the setting car.reporting_year_start is not defined");
	if (conf->gen.reset_source > PGC_S_DATABASE)
	{
		const char *by = conf->gen.reset_source == PGC_S_CLIENT ? "this connection's options"
																: "this role's settings (ALTER ROLE ... SET)";

		if (conf->gen.reset_source > PGC_S_CLIENT)
			by = "this session";
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("car.reporting_year_start (%d) is set by %s, not by the database's configuration",
						conf->reset_val, by),
				 errdetail("A period is signed under the reporting-year rule the database is configured with, which "
						   "a session cannot choose for itself."),
				 errhint("Remove that setting (ALTER ROLE ... RESET car.reporting_year_start, or the connection's "
						 "option), or configure the database with it: ALTER DATABASE ... SET "
						 "car.reporting_year_start = %d.",
						 conf->reset_val)));
	}
	if (car_reporting_year_start != conf->reset_val)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("car.reporting_year_start is %d in this session but %d in the database's configuration",
						car_reporting_year_start, conf->reset_val),
				 errdetail("A period is signed under the reporting-year rule the database is configured with, which "
						   "a session cannot choose for itself."),
				 errhint("RESET car.reporting_year_start and close again; to sign under %d, configure the database "
						 "with it first (ALTER DATABASE ... SET car.reporting_year_start = %d, or postgresql.conf).",
						 car_reporting_year_start, car_reporting_year_start)));
	return car_reporting_year_start;
}

/* car.close_period(org text, "from" date, "to" date, note text default null) → car.period_close */
Datum
car_close_period(PG_FUNCTION_ARGS)
{
	int		 pin;
	CloseJob job;
	Datum	 result;

	car_refuse_on_hub("car.close_period()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("car.close_period needs an organisation and the period's first and last days")));
	memset(&job, 0, sizeof(job));
	job.org = text_to_cstring(PG_GETARG_TEXT_PP(0));
	job.from = PG_GETARG_DATEADT(1);
	job.to = PG_GETARG_DATEADT(2);
	job.note = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	job.by = GetUserNameFromId(GetUserId(), false);
	CheckPeriod(job.org, job.from, job.to);
	job.year_start = ConfiguredYearStart();

	pin = car_spi_connect();
	car_as_table_owner("period_close", LockAndCheckOverlap, &job);
	/* what was received before the close is in it: refresh, and hold the refresh lock until commit */
	car_refresh_locked();
	car_as_table_owner("period_close", SignFigures, &job);
	result = ReturnRow(fcinfo, job.row);
	car_spi_finish(pin);
	PG_RETURN_DATUM(result);
}

static void
Reopen(void *arg)
{
	CloseJob *job = arg;
	Oid		  types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum	  vals[3] = {Int32GetDatum(job->close_id), CStringGetTextDatum(job->by), CStringGetTextDatum(job->reason)};

	Run("LOCK TABLE car.period_close IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	Run("SELECT pg_catalog.to_char(reopened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), reopened_by "
		"FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1",
		1, types, vals, NULL,
		SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("there is no period close %d", job->close_id)));
	if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("period close %d was reopened already, %s by %s", job->close_id,
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));
	Run("UPDATE car.period_close SET reopened_at = pg_catalog.now(), reopened_by = $2, reopen_reason = $3 "
		"WHERE id OPERATOR(pg_catalog.=) $1",
		3, types, vals, NULL, SPI_OK_UPDATE);
	Run("INSERT INTO car.period_close_event (close_id, org, event, by, note) "
		"SELECT id, org, 'reopened', $2, $3 FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1",
		3, types, vals, NULL, SPI_OK_INSERT);
	Run("SELECT * FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1", 1, types, vals, NULL, SPI_OK_SELECT);
	job->row = SPI_copytuple(SPI_tuptable->vals[0]);
}

/* car.reopen_period(close_id int, reason text) → car.period_close */
Datum
car_reopen_period(PG_FUNCTION_ARGS)
{
	int		 pin;
	CloseJob job;
	Oid		 admin = get_role_oid("car_admin", true);
	char	*reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Datum	 result;

	car_refuse_on_hub("car.reopen_period()");
	if (!OidIsValid(admin) || !has_privs_of_role(GetUserId(), admin))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("reopening a signed period needs the car_admin role")));
	if (strspn(reason, " \t\r\n") == strlen(reason))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("reopening a signed period needs a reason"),
						errhint("Say why the signed figures must change; the reason is recorded with the close.")));
	memset(&job, 0, sizeof(job));
	job.close_id = PG_GETARG_INT32(0);
	job.reason = reason;
	job.by = GetUserNameFromId(GetUserId(), false);
	pin = car_spi_connect();
	car_as_table_owner("period_close", Reopen, &job);
	result = ReturnRow(fcinfo, job.row);
	car_spi_finish(pin);
	PG_RETURN_DATUM(result);
}

/*
 * car.closed_months() → (close_id, org, month): the months of closes in
 * force that this session may see, as the reports need them: a close whose
 * organisation it may see, or holding a site it may see (a site's new owner
 * sees its history, the live rows of which the close replaces).  Read as
 * car's owner, filtered for the caller.
 */
static void
ReadCloses(void *arg)
{
	/* read-only: reports may run in parallel mode */
	RunRead("SELECT p.id, p.org, m::date, p.site_ids FROM car.period_close p, "
			"pg_catalog.generate_series(lower(p.period)::timestamp, (upper(p.period) OPERATOR(pg_catalog.-) 1)::timestamp, "
			"interval '1 month') m WHERE p.reopened_at IS NULL");
}

Datum
car_closed_months(PG_FUNCTION_ARGS)
{
	int			   pin;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	void		  *org_cache = NULL;
	void		  *site_cache = NULL;
	uint64		   i;
	int			   last_close = -1;
	bool		   last_visible = false;

	InitMaterializedSRF(fcinfo, 0);
	pin = car_spi_connect();
	car_as_table_owner("period_close", ReadCloses, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple t = SPI_tuptable->vals[i];
		TupleDesc d = SPI_tuptable->tupdesc;
		bool	  isnull;
		int		  close_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		Datum	  values[3];
		bool	  nulls[3] = {false, false, false};

		if (close_id != last_close)
		{
			char	  *org = TextDatumGetCString(SPI_getbinval(t, d, 2, &isnull));
			ArrayType *sites = DatumGetArrayTypeP(SPI_getbinval(t, d, 4, &isnull));
			int		   n = ArrayGetNItems(ARR_NDIM(sites), ARR_DIMS(sites));
			int32	  *ids = (int32 *) ARR_DATA_PTR(sites);
			int		   k;

			last_close = close_id;
			last_visible = car_org_is_visible(&org_cache, CurrentMemoryContext, org);
			for (k = 0; k < n && !last_visible; k++)
				last_visible = car_site_org_is_visible(&site_cache, CurrentMemoryContext, ids[k], org);
		}
		if (!last_visible)
			continue;
		values[0] = Int32GetDatum(close_id);
		values[1] = SPI_getbinval(t, d, 2, &isnull);
		values[2] = SPI_getbinval(t, d, 3, &isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	car_spi_finish(pin);
	return (Datum) 0;
}
