/*
 * intensity.c
 *		Sources of kind carbon-intensity: the GB Carbon Intensity API's
 *		half-hourly intensities, national and regional, fetched by the
 *		background worker in windows of 14 days at most into
 *		car.grid_intensity.
 *
 *	A source's options are checked on every write (a trigger) as in
 *	car.add_source.  Its windows are datasets of the worker's queue, laid on
 *	a grid of 14 days from the source's first day, so that each window has
 *	one URI and a restart goes on where the queue stood.  A response is
 *	parsed with PostgreSQL's own JSON parser and jsonb, checked whole before
 *	anything is stored (byte and period caps, every period's times and
 *	values), landed in car.source_file and upserted: a later actual replaces
 *	a forecast, a later forecast never replaces an actual.
 */
#include "car.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_check_intensity_source);
PG_FUNCTION_INFO_V1(car_grid_intensity_periods);

/* The API serves at most 14 days a request. */
#define WINDOW_USECS (14 * USECS_PER_DAY)
#define HALF_HOUR	 (30 * USECS_PER_MINUTE)
/* A 14-day regional response with its generation mix is about 350 kB. */
#define MAX_BODY_BYTES (8 * 1024 * 1024)
/* No intensity of GB electricity comes near: coal, the dirtiest, is about 900-1,000 gCO2/kWh. */
#define MAX_GCO2_PER_KWH 2000
/* The API holds data from 26 September 2017. */
#define FIRST_DAY "2017-09-26"
/* How far ahead the API forecasts: 96 hours and more. */
#define FORECAST_HORIZON (4 * USECS_PER_DAY)

static const char *const intensity_options[] = {"regions", "from", "refetch_days", NULL};
static const char *const index_bands[] = {"very low", "low", "moderate", "high", "very high", NULL};

/* One half-hour of a response. */
typedef struct Period
{
	TimestampTz start;
	double		forecast;
	double		actual;
	bool		has_forecast;
	bool		has_actual;
	const char *index;	  /* one of index_bands, or NULL */
	int			position; /* 1-based, in the response */
} Period;

/* What a response holds, checked. */
typedef struct IntensityBody
{
	Period		  *v;
	int			   n;
	int			   no_value;	/* periods published with neither a forecast nor an actual */
	int			   conflicting; /* half-hours published twice with different values, left out */
	StringInfoData conflicts;	/* their starts, the first few */
} IntensityBody;

/* ---------------------------------------------------------------- options */

static JsonbValue *
Field(JsonbContainer *c, const char *key)
{
	JsonbValue k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(c, JB_FOBJECT, &k);
}

/* A day written YYYY-MM-DD, or false. */
static bool
ReadDay(const char *s, int len, DateADT *day)
{
	int y,
		m,
		d;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char) s[i]))
			return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		return false;
	*day = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * Check a carbon-intensity source's options: regions (an array of
 * car.grid_region keys, default ["GB"]), from (its first UTC day), and
 * refetch_days (how long after a window ends it is fetched again on each
 * poll, for actuals).  A carbon-intensity source has no format.
 */
void
car_intensity_check_options(Jsonb *options, bool has_format)
{
	int				   pin;
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;
	JsonbValue		  *regions;
	JsonbValue		  *from;
	JsonbValue		  *refetch;
	const char		  *hint = "Options of a carbon-intensity source: regions (an array of car.grid_region keys: \"GB\" "
							  "for the national figure, \"1\" to \"17\" for the API's regions; default [\"GB\"]), from "
							  "(the first UTC day to fetch, YYYY-MM-DD) and refetch_days (0 to 30, default 2).";

	if (has_format)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a carbon-intensity source has no format"),
				 errdetail("It reads the JSON of the GB Carbon Intensity API."),
				 errhint("Leave format NULL.")));
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("source options must be a JSON object"),
						errhint("%s", hint)));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			const char *const *k;

			for (k = intensity_options; *k; k++)
				if (v.val.string.len == (int) strlen(*k) && memcmp(v.val.string.val, *k, v.val.string.len) == 0)
					break;
			if (*k == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%.*s\" for a carbon-intensity source", v.val.string.len,
								v.val.string.val),
						 errhint("%s", hint)));
		}

	regions = Field(&options->root, "regions");
	if (regions != NULL)
	{
		JsonbContainer *c = regions->type == jbvBinary ? regions->val.binary.data : NULL;
		int				n = c && JsonContainerIsArray(c) && !JsonContainerIsScalar(c) ? JsonContainerSize(c) : -1;
		Datum		   *names;
		bool			isnull;
		Oid				types[1] = {TEXTARRAYOID};

		if (n < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option regions of a carbon-intensity source must be a non-empty array of region keys"),
					 errhint("%s", hint)));
		names = palloc(sizeof(Datum) * n);
		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(c, i);

			if (e->type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option regions of a carbon-intensity source: element %d is not a string", i + 1),
						 errhint("%s", hint)));
			names[i] = PointerGetDatum(cstring_to_text_with_len(e->val.string.val, e->val.string.len));
			for (int j = 0; j < i; j++)
				if (VARSIZE_ANY(DatumGetPointer(names[i])) == VARSIZE_ANY(DatumGetPointer(names[j])) &&
					memcmp(VARDATA_ANY(DatumGetPointer(names[i])), VARDATA_ANY(DatumGetPointer(names[j])),
						   VARSIZE_ANY_EXHDR(DatumGetPointer(names[i]))) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option regions of a carbon-intensity source names \"%s\" twice",
									TextDatumGetCString(names[i]))));
		}
		pin = car_spi_connect();
		{
			Datum a[1] = {PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT))};

			if (SPI_execute_with_args("SELECT string_agg(quote_literal(r), ', ' ORDER BY o) FROM unnest($1::text[]) "
									  "WITH ORDINALITY u(r, o) WHERE r NOT IN (SELECT region FROM car.grid_region)",
									  1, types, a, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read car.grid_region");
			(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option regions of a carbon-intensity source names unknown region(s): %s",
								SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
						 errhint("The regions are car.grid_region's: GB, and the API's regionids 1 to 17.")));
		}
		car_spi_finish(pin);
	}

	from = Field(&options->root, "from");
	if (from != NULL)
	{
		DateADT day;
		DateADT first = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(FIRST_DAY)));
		DateADT today = DatumGetDateADT(
			DirectFunctionCall1(timestamp_date, TimestampGetDatum(GetCurrentTransactionStartTimestamp())));

		if (from->type != jbvString || !ReadDay(from->val.string.val, from->val.string.len, &day))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option from of a carbon-intensity source must be a day written YYYY-MM-DD"),
					 errhint("%s", hint)));
		if (day < first)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option from of a carbon-intensity source is before %s, the first day the API holds", FIRST_DAY)));
		if (day > today + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option from of a carbon-intensity source is in the future"),
					 errhint("Give the first UTC day whose intensities are wanted; today's forecasts come with it.")));
	}

	refetch = Field(&options->root, "refetch_days");
	if (refetch != NULL)
	{
		bool ok = refetch->type == jbvNumeric;

		if (ok)
		{
			Numeric n = refetch->val.numeric;
			Numeric whole = DatumGetNumeric(DirectFunctionCall2(numeric_trunc, NumericGetDatum(n), Int32GetDatum(0)));

			ok = DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(n), NumericGetDatum(whole))) &&
				 DatumGetBool(DirectFunctionCall2(numeric_ge, NumericGetDatum(n), NumericGetDatum(int64_to_numeric(0)))) &&
				 DatumGetBool(DirectFunctionCall2(numeric_le, NumericGetDatum(n), NumericGetDatum(int64_to_numeric(30))));
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option refetch_days of a carbon-intensity source must be a whole number from 0 to 30"),
					 errhint("%s", hint)));
	}
}

/* Trigger on car.source: a carbon-intensity source's options, on every write. */
Datum
car_check_intensity_source(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	 tup;
	TupleDesc	 desc;
	bool		 isnull;
	Datum		 options;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "car.check_intensity_source() is a BEFORE ... FOR EACH ROW trigger");
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	options = heap_getattr(tup, SPI_fnumber(desc, "options"), desc, &isnull);
	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("source options must not be NULL")));
	(void) heap_getattr(tup, SPI_fnumber(desc, "format"), desc, &isnull);
	car_intensity_check_options(DatumGetJsonbP(options), !isnull);
	return PointerGetDatum(tup);
}

/* ---------------------------------------------------------------- windows */

/*
 * Queue (or queue again) the windows of a carbon-intensity source that
 * overlap [lo, hi): lo 0 means from the source's first day.  Windows lie on
 * a grid of 14 days from that day (00:00 UTC), in whole hours of UTC so that
 * no clock change moves them.  Windows that failed are queued again; done
 * ones only when again, or when they ended less than refetch_days ago
 * (actuals replace forecasts for a while after a half-hour).  Returns how
 * many were queued.  SPI must be connected.
 */
int
car_intensity_queue(int source_id, TimestampTz lo, TimestampTz hi, bool again)
{
	Oid	  types[4] = {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID};
	Datum v[4] = {Int32GetDatum(source_id), TimestampTzGetDatum(lo), TimestampTzGetDatum(hi), BoolGetDatum(again)};
	char  nulls[4] = {' ', lo == 0 ? 'n' : ' ', ' ', ' '};
	bool  isnull;

	if (SPI_execute_with_args(
			"WITH s AS ("
			"  SELECT s.id, rtrim(s.uri, '/') AS base, "
			"         coalesce((s.options->>'from')::date, (s.created_at AT TIME ZONE 'UTC')::date - 1)::timestamp "
			"             AT TIME ZONE 'UTC' AS origin, "
			"         make_interval(days => coalesce((s.options->>'refetch_days')::int, 2)) AS refetch, "
			"         CASE WHEN s.options ? 'regions' THEN ARRAY(SELECT jsonb_array_elements_text(s.options->'regions')) "
			"              ELSE '{GB}'::text[] END AS regions "
			"  FROM car.source s WHERE s.id = $1 AND s.kind = 'carbon-intensity'), "
			"w AS ("
			"  SELECT s.id, s.base, r.region, s.origin + k * interval '336 hours' AS wfrom, "
			"         s.origin + (k + 1) * interval '336 hours' AS wto "
			"  FROM s, unnest(s.regions) r(region), "
			"       generate_series(floor(extract(epoch FROM coalesce($2, s.origin) - s.origin) / 1209600)::int, "
			"                       ceil(extract(epoch FROM $3 - s.origin) / 1209600)::int - 1) k), "
			"q AS ("
			"  INSERT INTO car.dataset AS d (source_id, uri, region, period_from, period_to) "
			"  SELECT w.id, w.base || CASE WHEN w.region = 'GB' THEN '/intensity/' ELSE '/regional/intensity/' END "
			"         || to_char(w.wfrom AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"') || '/' "
			"         || to_char(w.wto AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"') "
			"         || CASE WHEN w.region = 'GB' THEN '' ELSE '/regionid/' || w.region END, "
			"         w.region, w.wfrom, w.wto "
			"  FROM w ORDER BY w.wfrom, w.region "
			"  ON CONFLICT (source_id, uri) DO UPDATE SET state = 'queued', next_attempt_at = now(), attempts = 0 "
			"  WHERE d.state = 'failed' OR (d.state = 'done' AND ($4 OR d.period_to > now() - (SELECT refetch FROM s))) "
			"  RETURNING 1) "
			"SELECT count(*) FROM q",
			4, types, v, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not queue the windows of source %d", source_id);
	return (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The end of the windows a poll queues: the API's forecasts reach 96 hours ahead. */
TimestampTz
car_intensity_horizon(TimestampTz now)
{
	return now + FORECAST_HORIZON;
}

/* ---------------------------------------------------------------- responses */

static void
FormatPeriod(TimestampTz t, char *buf, size_t size)
{
	struct pg_tm tm;
	fsec_t		 fs;

	if (timestamp2tm(t, NULL, &tm, &fs, NULL, NULL) != 0)
		strlcpy(buf, "?", size);
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02dZ", tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min);
}

/* The API's time, YYYY-MM-DDThh:mmZ (UTC), or false. */
static bool
ReadInstant(const JsonbValue *v, TimestampTz *t)
{
	const char *s;
	int			y,
		mo,
		d,
		h,
		mi;

	if (v == NULL || v->type != jbvString || v->val.string.len != 17)
		return false;
	s = v->val.string.val;
	for (int i = 0; i < 17; i++)
	{
		bool digit = isdigit((unsigned char) s[i]);

		if ((i == 4 || i == 7) ? s[i] != '-' : i == 10 ? s[i] != 'T'
										   : i == 13   ? s[i] != ':'
										   : i == 16   ? s[i] != 'Z'
													   : !digit)
			return false;
	}
	y = atoi(s);
	mo = atoi(s + 5);
	d = atoi(s + 8);
	h = atoi(s + 11);
	mi = atoi(s + 14);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > day_tab[isleap(y)][mo - 1] || h > 23 || mi > 59)
		return false;
	*t = (TimestampTz) (date2j(y, mo, d) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY + h * USECS_PER_HOUR +
		 mi * USECS_PER_MINUTE;
	return true;
}

/* An intensity: absent or null (false), or a number from 0 to MAX_GCO2_PER_KWH; anything else is an error. */
static bool
ReadValue(const JsonbValue *v, const char *what, int position, const char *when, double *out)
{
	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type != jbvNumeric ||
		DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(v->val.numeric),
										 NumericGetDatum(int64_to_numeric(0)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(v->val.numeric),
										 NumericGetDatum(int64_to_numeric(MAX_GCO2_PER_KWH)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("period %d (from %s): intensity.%s is not a number from 0 to %d gCO2/kWh", position, when, what,
						MAX_GCO2_PER_KWH)));
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	return true;
}

static int
CmpPeriod(const void *a, const void *b)
{
	const Period *x = a;
	const Period *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->position - y->position;
}

static bool
SameValues(const Period *a, const Period *b)
{
	return a->has_forecast == b->has_forecast && a->has_actual == b->has_actual &&
		   (!a->has_forecast || a->forecast == b->forecast) && (!a->has_actual || a->actual == b->actual) &&
		   a->index == b->index;
}

/*
 * Check a response of the API for region between window_from and
 * window_to and read its half-hours, or raise an error saying what is wrong
 * and where.  Half-hours published twice with different values are left
 * out (counted), as are periods without any value; identical repeats count
 * once.
 */
static void
ParseBody(const char *body, size_t len, const char *region, TimestampTz window_from, TimestampTz window_to,
		  IntensityBody *out)
{
	char			  *text;
	JsonLexContext	  *lex;
	JsonParseErrorType perr;
	Jsonb			  *jb;
	JsonbValue		  *data;
	JsonbContainer	  *periods = NULL;
	bool			   national = strcmp(region, "GB") == 0;
	int				   n;
	int				   max_periods = (int) ((window_to - window_from) / HALF_HOUR) + 2;
	const char		  *bad;
	int				   k;

	memset(out, 0, sizeof(*out));
	initStringInfo(&out->conflicts);
	if (len > MAX_BODY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the response is %zu bytes, more than the %d a window of the API can need", len, MAX_BODY_BYTES)));
	if ((bad = memchr(body, '\0', len)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the response is not JSON: it holds a NUL byte at byte %ld", (long) (bad - body) + 1)));
	if (!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the response is not JSON: it is not valid UTF-8 (byte %d)",
						pg_encoding_verifymbstr(PG_UTF8, body, (int) len) + 1)));
	text = pg_any_to_server(body, (int) len, PG_UTF8);
	text = text == body ? pnstrdup(body, len) : text;

	/* JSON's own parser first, for an error that says where */
	lex = makeJsonLexContextCstringLen(text, (int) strlen(text), GetDatabaseEncoding(), true);
	perr = pg_parse_json(lex, &nullSemAction);
	if (perr != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the response is not JSON: %s (line %d)", json_errdetail(perr, lex), lex->line_number)));
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));

	if (!JB_ROOT_IS_OBJECT(jb) || (data = Field(&jb->root, "data")) == NULL || data->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the response is not the API's: it has no \"data\" array or object"),
				 errhint("A response of /intensity/{from}/{to} is {\"data\": [periods]}; one of "
						 "/regional/intensity/{from}/{to}/regionid/{id} is {\"data\": {\"regionid\": id, \"data\": [periods]}}.")));
	{
		JsonbContainer *c = data->val.binary.data;
		JsonbContainer *regional = NULL;

		if (JsonContainerIsObject(c))
			regional = c;
		else if (JsonContainerSize(c) > 0)
		{
			JsonbValue *first = getIthJsonbValueFromContainer(c, 0);

			if (first->type == jbvBinary && JsonContainerIsObject(first->val.binary.data) &&
				Field(first->val.binary.data, "regionid") != NULL)
			{
				if (JsonContainerSize(c) != 1)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("the response holds %d regions; one was asked for", (int) JsonContainerSize(c))));
				regional = first->val.binary.data;
			}
		}
		if (regional != NULL)
		{
			JsonbValue *id = Field(regional, "regionid");
			JsonbValue *inner = Field(regional, "data");
			char	   *got = NULL;

			if (id != NULL && id->type == jbvNumeric)
				got = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(id->val.numeric)));
			else if (id != NULL && id->type == jbvString)
				got = pnstrdup(id->val.string.val, id->val.string.len);
			if (national || got == NULL || strcmp(got, region) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("the response is region %s's; region %s was asked for", got ? got : "(no regionid)",
								region)));
			if (inner == NULL || inner->type != jbvBinary || !JsonContainerIsArray(inner->val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("the response of region %s has no \"data\" array of periods", region)));
			periods = inner->val.binary.data;
		}
		else
		{
			if (!national)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("the response is national (no regionid); region %s was asked for", region)));
			if (!JsonContainerIsArray(c))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("the response's \"data\" is not an array of periods")));
			periods = c;
		}
	}

	n = JsonContainerSize(periods);
	if (n > max_periods)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the response holds %d periods, more than the %d the window asked for can hold", n, max_periods)));
	out->v = palloc(sizeof(Period) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(periods, i);
		JsonbValue *intensity;
		JsonbValue *idx;
		Period		p;
		TimestampTz to;
		char		when[32];

		memset(&p, 0, sizeof(p));
		p.position = i + 1;
		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("period %d of the response is not an object", i + 1)));
		if (!ReadInstant(Field(e->val.binary.data, "from"), &p.start) || p.start % HALF_HOUR != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
					 errmsg("period %d of the response: \"from\" is not a half-hour written YYYY-MM-DDThh:mmZ", i + 1)));
		FormatPeriod(p.start, when, sizeof(when));
		if (!ReadInstant(Field(e->val.binary.data, "to"), &to) || to != p.start + HALF_HOUR)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
					 errmsg("period %d (from %s): \"to\" is not 30 minutes later, written YYYY-MM-DDThh:mmZ", i + 1, when)));
		if (p.start < window_from - HALF_HOUR || p.start >= window_to)
		{
			char wf[32],
				wt[32];

			FormatPeriod(window_from, wf, sizeof(wf));
			FormatPeriod(window_to, wt, sizeof(wt));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("period %d (from %s) lies outside the window asked for, %s to %s", i + 1, when, wf, wt)));
		}
		intensity = Field(e->val.binary.data, "intensity");
		if (intensity == NULL || intensity->type != jbvBinary || !JsonContainerIsObject(intensity->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("period %d (from %s) has no \"intensity\" object", i + 1, when)));
		p.has_forecast = ReadValue(Field(intensity->val.binary.data, "forecast"), "forecast", i + 1, when, &p.forecast);
		p.has_actual = ReadValue(Field(intensity->val.binary.data, "actual"), "actual", i + 1, when, &p.actual);
		idx = Field(intensity->val.binary.data, "index");
		if (idx != NULL && idx->type != jbvNull)
		{
			const char *const *b;

			for (b = index_bands; idx->type == jbvString && *b; b++)
				if (idx->val.string.len == (int) strlen(*b) && memcmp(idx->val.string.val, *b, idx->val.string.len) == 0)
					break;
			if (idx->type != jbvString || *b == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("period %d (from %s): intensity.index is not one of very low, low, moderate, high, "
								"very high",
								i + 1, when)));
			p.index = *b;
		}
		if (!p.has_forecast && !p.has_actual)
		{
			out->no_value++;
			continue;
		}
		out->v[out->n++] = p;
	}

	/* a half-hour published twice: once if the same, left out if not */
	qsort(out->v, out->n, sizeof(Period), CmpPeriod);
	k = 0;
	for (int i = 0; i < out->n;)
	{
		int	 j = i + 1;
		bool same = true;

		while (j < out->n && out->v[j].start == out->v[i].start)
			same = same && SameValues(&out->v[i], &out->v[j]), j++;
		if (same)
			out->v[k++] = out->v[i];
		else
		{
			char when[32];

			FormatPeriod(out->v[i].start, when, sizeof(when));
			if (out->conflicting < 5)
				appendStringInfo(&out->conflicts, "%s%s", out->conflicting ? ", " : "", when);
			out->conflicting++;
		}
		i = j;
	}
	out->n = k;
}

/* car.grid_intensity_periods(body, region, window_from, window_to) */
Datum
car_grid_intensity_periods(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text		  *body = PG_GETARG_TEXT_PP(0);
	char		  *region = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz	   from = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz	   to = PG_GETARG_TIMESTAMPTZ(3);
	IntensityBody  b;
	char		  *utf8;

	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to) || to <= from || to - from > WINDOW_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a window of the API is finite and at most 14 days long")));
	utf8 = pg_server_to_any(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), PG_UTF8);
	ParseBody(utf8, utf8 == VARDATA_ANY(body) ? VARSIZE_ANY_EXHDR(body) : strlen(utf8), region, from, to, &b);
	if (b.conflicting > 0)
		ereport(WARNING,
				(errmsg("%d half-hour(s) published twice with different values left out: %s", b.conflicting,
						b.conflicts.data)));
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < b.n; i++)
	{
		Datum values[4];
		bool  nulls[4] = {false, !b.v[i].has_forecast, !b.v[i].has_actual, b.v[i].index == NULL};

		values[0] = TimestampTzGetDatum(b.v[i].start);
		values[1] = Float8GetDatum(b.v[i].forecast);
		values[2] = Float8GetDatum(b.v[i].actual);
		values[3] = b.v[i].index ? CStringGetTextDatum(b.v[i].index) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------- loading */

/*
 * Load a window's response: check it whole, land it in car.source_file (the
 * same bytes once), and upsert its half-hours into car.grid_intensity.  A
 * later actual replaces a forecast; a later forecast never replaces an
 * actual; a value that did not change is not rewritten.  *note gets what was
 * left out (NULL: nothing).  Returns the file's id.  SPI must be connected.
 */
int
car_intensity_load(int source_id, const char *region, TimestampTz window_from, TimestampTz window_to,
				   const char *body, size_t len, const char *uri, char **note)
{
	IntensityBody b;
	char		  hex[65];
	char		  wf[32],
		wt[32];
	int			   file_id;
	bool		   isnull;
	bool		   landed;
	int64		   written;
	int64		   missing;
	Datum		  *starts;
	Datum		  *forecasts;
	Datum		  *actuals;
	Datum		  *indexes;
	bool		  *fnull;
	bool		  *anull;
	bool		  *inull;
	int			   dims[1];
	int			   lbs[1] = {1};
	StringInfoData meta;
	StringInfoData sentence;

	ParseBody(body, len, region, window_from, window_to, &b);
	FormatPeriod(window_from, wf, sizeof(wf));
	FormatPeriod(window_to, wt, sizeof(wt));

	/* the half-hours of the window already over that the response did not give */
	{
		TimestampTz now = GetCurrentTransactionStartTimestamp();
		TimestampTz end = Min(window_to, now - now % HALF_HOUR - HALF_HOUR);
		int64		past = end > window_from ? (end - window_from) / HALF_HOUR : 0;
		int64		given = 0;

		for (int i = 0; i < b.n; i++)
			if (b.v[i].start >= window_from && b.v[i].start < end)
				given++;
		missing = past - given;
	}

	/* the raw response, once */
	car_sha256_hex(body, len, hex);
	initStringInfo(&meta);
	appendStringInfo(&meta,
					 "{\"region\": \"%s\", \"window_from\": \"%s\", \"window_to\": \"%s\", \"periods\": %d, "
					 "\"periods_without_value\": %d, \"periods_conflicting\": %d, \"past_half_hours_missing\": " INT64_FORMAT "}",
					 region, wf, wt, b.n, b.no_value, b.conflicting, missing);
	{
		bytea *content = palloc(len + VARHDRSZ);

		SET_VARSIZE(content, len + VARHDRSZ);
		memcpy(VARDATA(content), body, len);
		file_id = car_land_file(source_id, psprintf("intensity-%s-%s-%s.json", region, wf, wt), uri, hex, content,
								meta.data, true, &landed);
	}

	/* the half-hours */
	starts = palloc(sizeof(Datum) * Max(b.n, 1));
	forecasts = palloc(sizeof(Datum) * Max(b.n, 1));
	actuals = palloc(sizeof(Datum) * Max(b.n, 1));
	indexes = palloc(sizeof(Datum) * Max(b.n, 1));
	fnull = palloc(sizeof(bool) * Max(b.n, 1));
	anull = palloc(sizeof(bool) * Max(b.n, 1));
	inull = palloc(sizeof(bool) * Max(b.n, 1));
	for (int i = 0; i < b.n; i++)
	{
		starts[i] = TimestampTzGetDatum(b.v[i].start);
		forecasts[i] = Float8GetDatum(b.v[i].forecast);
		fnull[i] = !b.v[i].has_forecast;
		actuals[i] = Float8GetDatum(b.v[i].actual);
		anull[i] = !b.v[i].has_actual;
		indexes[i] = b.v[i].index ? CStringGetTextDatum(b.v[i].index) : (Datum) 0;
		inull[i] = b.v[i].index == NULL;
	}
	dims[0] = b.n;
	{
		Oid	  types[6] = {TEXTOID, TIMESTAMPTZARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, INT4OID};
		Datum v[6];

		v[0] = CStringGetTextDatum(region);
		v[1] = PointerGetDatum(construct_md_array(starts, NULL, 1, dims, lbs, TIMESTAMPTZOID, sizeof(TimestampTz),
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		v[2] = PointerGetDatum(
			construct_md_array(forecasts, fnull, 1, dims, lbs, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		v[3] = PointerGetDatum(
			construct_md_array(actuals, anull, 1, dims, lbs, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		v[4] = PointerGetDatum(construct_md_array(indexes, inull, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		v[5] = Int32GetDatum(file_id);
		if (SPI_execute_with_args(
				"WITH up AS ("
				"  INSERT INTO car.grid_intensity AS g (region, period_start, forecast, actual, index, fetched_at, file_id) "
				"  SELECT $1, p.s, p.f, p.a, p.i, now(), $6 FROM unnest($2, $3, $4, $5) p(s, f, a, i) "
				"  ON CONFLICT (region, period_start) DO UPDATE "
				"  SET forecast = coalesce(excluded.forecast, g.forecast), actual = excluded.actual, "
				"      index = coalesce(excluded.index, g.index), fetched_at = excluded.fetched_at, file_id = excluded.file_id "
				"  WHERE (g.actual IS NULL OR excluded.actual IS NOT NULL) "
				"  AND (coalesce(excluded.forecast, g.forecast), excluded.actual, coalesce(excluded.index, g.index)) "
				"      IS DISTINCT FROM (g.forecast, g.actual, g.index) "
				"  RETURNING 1) "
				"SELECT count(*) FROM up",
				6, types, v, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not store the intensities of %s", uri);
		written = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	/* the response's first landing says what it wrote */
	if (landed)
		car_file_counts(file_id, written, 0, 0);
	if (car_ingest_progress)
		*car_ingest_progress = written;

	initStringInfo(&sentence);
	if (b.conflicting > 0)
		appendStringInfo(&sentence, "%d half-hour%s published twice with different values left out (%s%s).",
						 b.conflicting, b.conflicting == 1 ? "" : "s", b.conflicts.data,
						 b.conflicting > 5 ? ", ..." : "");
	if (b.no_value > 0)
		appendStringInfo(&sentence, "%s%d period%s published without a forecast or an actual left out.",
						 sentence.len ? " " : "", b.no_value, b.no_value == 1 ? "" : "s");
	if (missing > 0)
		appendStringInfo(&sentence, "%s" INT64_FORMAT " past half-hour%s of the window %s to %s not published.",
						 sentence.len ? " " : "", missing, missing == 1 ? "" : "s", wf, wt);
	*note = sentence.len ? psprintf("Region %s: %s", region, sentence.data) : NULL;
	return file_id;
}
