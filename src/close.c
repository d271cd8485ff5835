/*
 * close.c
 *		Period close and the restatement register's foundations:
 *		car.close_period(), car.reopen_period() and car.closed_months().
 *
 * car.close_period(org, from, to, note) signs an organisation's figures for
 * whole months [from, to]: it brings car.emission_daily up to date (the
 * incremental refresh), then copies, in one statement and so from one
 * snapshot, every emission row of the organisation's days in the period
 * (per meter, UK day and component, with the kg CO2e under the financial
 * year's factors besides), the periods each interval meter was expected to
 * report, the factor sets that priced them and the files behind them, into
 * the closed_* tables; then computes a SHA-256 over a canonical text of what
 * it copied (README, "Period close": an auditor recomputes it in plain SQL).
 * Every report reads a closed organisation-month from the copy, never from
 * car.emission_daily again: closed figures do not move.  car.restatement
 * shows, line by line, what the live figures would say now.
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
 * (specs/close.spec).
 *
 * The closed_* tables and car.period_close are written as car's owner: no
 * role, car_admin included, can change a signed figure by hand; reopening
 * (car_admin, with a reason) is the one way, and is recorded.
 */
#include "car.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"

PG_FUNCTION_INFO_V1(car_close_period);
PG_FUNCTION_INFO_V1(car_reopen_period);
PG_FUNCTION_INFO_V1(car_closed_months);

#define CLOSE_FORMAT "car period close 1"

typedef struct CloseJob
{
	const char *org;
	DateADT		from;
	DateADT		to; /* last day, inclusive */
	const char *note;
	const char *by;
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
	j2date(from + POSTGRES_EPOCH_JDATE, &y, &m, &d);
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
 * As car's owner, in one statement (one snapshot): the close's row, its
 * emission rows, the periods its interval meters were expected to report,
 * the factor sets and the files behind them.
 */
static void
CopyFigures(void *arg)
{
	CloseJob *job = arg;
	Oid		  types[6] = {TEXTOID, DATEOID, DATEOID, TEXTOID, TEXTOID, INT4OID};
	Datum	  vals[6];
	char	  nulls[6] = "      ";
	bool	  isnull;

	vals[0] = CStringGetTextDatum(job->org);
	vals[1] = DateADTGetDatum(job->from);
	vals[2] = DateADTGetDatum(job->to);
	vals[3] = job->note ? CStringGetTextDatum(job->note) : (Datum) 0;
	nulls[3] = job->note ? ' ' : 'n';
	vals[4] = CStringGetTextDatum(job->by);
	vals[5] = Int32GetDatum(car_reporting_year_start);
	Run("WITH c AS (INSERT INTO car.period_close (org, period, note, closed_by, reporting_year_start, lines, kg_co2e, "
		"           sha256, site_ids) "
		"           VALUES ($1, pg_catalog.daterange($2, $3, '[]'), $4, $5, $6, 0, 0, pg_catalog.repeat('0', 64), '{}') "
		"           RETURNING id), "
		"src AS MATERIALIZED ("
		"  SELECT e.*, o.org, s.name AS site_name, "
		"         pg_catalog.date_part('year', e.day OPERATOR(pg_catalog.-) interval '3 months')::int AS fy "
		"  FROM car.emission_daily e "
		"  JOIN car.site s ON s.id OPERATOR(pg_catalog.=) e.site_id "
		"  JOIN car.site_ownership o ON o.site_id OPERATOR(pg_catalog.=) e.site_id "
		"       AND e.day OPERATOR(pg_catalog.>=) o.valid_from AND e.day OPERATOR(pg_catalog.<=) o.valid_to "
		"  WHERE o.org OPERATOR(pg_catalog.=) $1 AND e.day OPERATOR(pg_catalog.>=) $2 "
		"  AND e.day OPERATOR(pg_catalog.<=) $3 AND e.month OPERATOR(pg_catalog.>=) $2 "
		"  AND e.month OPERATOR(pg_catalog.<=) $3), "
		"em AS (INSERT INTO car.closed_emission (close_id, org, site_id, site, meter_id, day, month, activity, scope, "
		"       component, unit, quantity, quantity_estimated, periods_actual, periods_estimated, kg_co2e, kg_co2, "
		"       kg_ch4, kg_n2o, fy_kg_co2e, factor_set_id, factor_year, factor_id, fy_factor_set_id, fy_factor_year, "
		"       file_ids) "
		"       SELECT (SELECT id FROM c), org, site_id, site_name, meter_id, day, month, activity, scope, component, "
		"       unit, quantity, quantity_estimated, periods_actual, periods_estimated, kg_co2e, kg_co2, kg_ch4, kg_n2o, "
		"       car.fy_co2e(kg_co2e, factor_set_id, quantity, unit, activity, component, fy), factor_set_id, "
		"       factor_year, factor_id, car.fy_factor_set(fy), car.fy_factor_year(fy), "
		"       ARRAY(SELECT DISTINCT f FROM pg_catalog.unnest(file_ids) f ORDER BY f) FROM src "
		"       RETURNING site_id, factor_set_id, fy_factor_set_id), "
		"cov AS (INSERT INTO car.closed_coverage (close_id, org, site_id, meter_id, activity, unit, month, "
		"        periods_expected) "
		"        SELECT (SELECT id FROM c), x.org, x.site_id, x.meter_id, x.activity, x.unit, x.month, x.periods_expected "
		"        FROM car.expected_live x WHERE x.org OPERATOR(pg_catalog.=) $1 "
		"        AND x.month OPERATOR(pg_catalog.>=) $2 AND x.month OPERATOR(pg_catalog.<=) $3 "
		"        RETURNING site_id), "
		"fs AS (INSERT INTO car.closed_factor_set (close_id, org, set_id, publisher, year, revision, title, sha256) "
		"       SELECT (SELECT id FROM c), $1, f.id, f.publisher, f.year, f.revision, f.title, f.sha256 "
		"       FROM car.factor_set f WHERE f.id OPERATOR(pg_catalog.=) ANY (SELECT factor_set_id FROM src UNION "
		"                                             SELECT car.fy_factor_set(fy) FROM src) "
		"       RETURNING 1), "
		"fl AS (INSERT INTO car.closed_file (close_id, org, file_id, source, name, sha256, received_at) "
		"       SELECT (SELECT id FROM c), $1, f.id, so.name, f.name, f.sha256, f.received_at "
		"       FROM car.source_file f JOIN car.source so ON so.id OPERATOR(pg_catalog.=) f.source_id "
		"       WHERE f.id OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest(file_ids) FROM src) "
		"       RETURNING 1) "
		"SELECT (SELECT id FROM c), (SELECT count(*) FROM em), "
		"       ARRAY(SELECT site_id FROM em UNION SELECT site_id FROM cov ORDER BY 1), "
		"       (SELECT count(*) FROM fs), (SELECT count(*) FROM fl)",
		6, types, vals, nulls, SPI_OK_SELECT);
	job->close_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	job->lines = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	{
		Datum sites = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		Oid	  t2[2] = {INT4OID, INT4ARRAYOID};
		Datum v2[2] = {Int32GetDatum(job->close_id), sites};

		Run("UPDATE car.period_close SET site_ids = $2 WHERE id OPERATOR(pg_catalog.=) $1", 2, t2, v2, NULL,
			SPI_OK_UPDATE);
	}
}

/* Feed the rows of a query, one canonical line each (column 1), to the hash. */
static void
HashLines(pg_cryptohash_ctx *ctx, const char *sql, int close_id)
{
	Oid		   types[1] = {INT4OID};
	Datum	   vals[1] = {Int32GetDatum(close_id)};
	SPIPlanPtr plan = SPI_prepare(sql, 1, types);
	Portal	   portal;

	if (plan == NULL)
		elog(ERROR, "car: could not prepare %s", sql);
	/* not read-only: the rows this close just wrote must be seen */
	portal = SPI_cursor_open(NULL, plan, vals, NULL, false);
	for (;;)
	{
		uint64 i;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			bool  isnull;
			text *line = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

			if (pg_cryptohash_update(ctx, (uint8 *) VARDATA_ANY(line), VARSIZE_ANY_EXHDR(line)) < 0 ||
				pg_cryptohash_update(ctx, (const uint8 *) "\n", 1) < 0)
				elog(ERROR, "car: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
}

/*
 * The canonical text (README, "Period close"): UTF-8, one line each,
 * "\n" after every line, fields joined by "|", NULL as nothing, numbers as
 * PostgreSQL writes them with extra_float_digits = 1 (floats: the shortest
 * text that reads back exactly), dates YYYY-MM-DD; in this order:
 *   car period close 1
 *   org|<org>
 *   period|<first day>|<last day>
 *   emission|<site_id>|<meter_id>|<day>|<activity>|<scope>|<component>|<unit>|<quantity>|<quantity_estimated>
 *     |<periods_actual>|<periods_estimated>|<kg_co2e>|<kg_co2>|<kg_ch4>|<kg_n2o>|<fy_kg_co2e>|<factor_set_id>
 *     |<factor_year>|<factor_id>|<fy_factor_set_id>|<fy_factor_year>|<file ids, ascending, comma-separated>
 *     (one line, by meter_id, day, component in byte order)
 *   coverage|<site_id>|<meter_id>|<month>|<activity>|<unit>|<periods_expected>   (by meter_id, month)
 *   factor_set|<set_id>|<year>|<revision>|<sha256>                                 (by set_id)
 *   file|<file_id>|<sha256>                                                         (by file_id)
 */
/* clang-format off */
static const char *const canonical[] = {
	"SELECT concat_ws('|', 'emission', site_id, meter_id, to_char(day, 'YYYY-MM-DD'), activity, "
	"coalesce(scope::text, ''), component, unit, quantity::text, quantity_estimated::text, periods_actual, "
	"periods_estimated, coalesce(kg_co2e::text, ''), coalesce(kg_co2::text, ''), coalesce(kg_ch4::text, ''), "
	"coalesce(kg_n2o::text, ''), coalesce(fy_kg_co2e::text, ''), coalesce(factor_set_id::text, ''), "
	"coalesce(factor_year::text, ''), coalesce(factor_id::text, ''), coalesce(fy_factor_set_id::text, ''), "
	"coalesce(fy_factor_year::text, ''), array_to_string(file_ids, ',')) "
	"FROM car.closed_emission WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY meter_id, day, component COLLATE \"C\"",
	"SELECT concat_ws('|', 'coverage', site_id, meter_id, to_char(month, 'YYYY-MM-DD'), activity, unit, periods_expected) "
	"FROM car.closed_coverage WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY meter_id, month",
	"SELECT concat_ws('|', 'factor_set', set_id, year, revision, sha256) FROM car.closed_factor_set "
	"WHERE close_id OPERATOR(pg_catalog.=) $1 ORDER BY set_id",
	"SELECT concat_ws('|', 'file', file_id, sha256) FROM car.closed_file WHERE close_id OPERATOR(pg_catalog.=) $1 "
	"ORDER BY file_id",
};
/* clang-format on */

/* As car's owner: the SHA-256 of the close's canonical text, stored with its totals. */
static void
Sign(void *arg)
{
	CloseJob		  *job = arg;
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8			   digest[PG_SHA256_DIGEST_LENGTH];
	char			  *head;
	int				   i;
	Oid				   types[3] = {INT4OID, TEXTOID, INT8OID};
	Datum			   vals[3];

	/* numbers written as an auditor's session writes them by default */
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	head = psprintf(CLOSE_FORMAT "\norg|%s\nperiod|%s|%s\n", job->org, DateText(job->from), DateText(job->to));
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 || pg_cryptohash_update(ctx, (uint8 *) head, strlen(head)) < 0)
		elog(ERROR, "car: could not compute SHA-256");
	PG_TRY();
	{
		for (i = 0; i < (int) lengthof(canonical); i++)
			HashLines(ctx, canonical[i], job->close_id);
		if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "car: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	}
	PG_FINALLY();
	{
		pg_cryptohash_free(ctx);
	}
	PG_END_TRY();
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(job->sha256 + 2 * i, "%02x", digest[i]);
	vals[0] = Int32GetDatum(job->close_id);
	vals[1] = CStringGetTextDatum(job->sha256);
	vals[2] = Int64GetDatum(job->lines);
	Run("UPDATE car.period_close SET sha256 = $2, lines = $3, "
		"kg_co2e = coalesce((SELECT sum(kg_co2e) FROM car.closed_emission WHERE close_id OPERATOR(pg_catalog.=) $1), 0) "
		"WHERE id OPERATOR(pg_catalog.=) $1",
		3, types, vals, NULL, SPI_OK_UPDATE);
	Run("INSERT INTO car.period_close_event (close_id, org, event, by, note) "
		"SELECT id, org, 'closed', closed_by, note FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1",
		1, types, vals, NULL, SPI_OK_INSERT);
	Run("SELECT * FROM car.period_close WHERE id OPERATOR(pg_catalog.=) $1", 1, types, vals, NULL, SPI_OK_SELECT);
	job->row = SPI_copytuple(SPI_tuptable->vals[0]);
}

static Datum
ReturnRow(FunctionCallInfo fcinfo, HeapTuple row)
{
	TupleDesc desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "car: the function must return a row");
	return HeapTupleHeaderGetDatum(SPI_returntuple(row, desc));
}

/* car.close_period(org text, "from" date, "to" date, note text default null) → car.period_close */
Datum
car_close_period(PG_FUNCTION_ARGS)
{
	CloseJob job;
	Datum	 result;

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

	SPI_connect();
	car_as_table_owner("period_close", LockAndCheckOverlap, &job);
	/* what was received before the close is in it: refresh, and hold the refresh lock until commit */
	car_refresh_locked();
	car_as_table_owner("period_close", CopyFigures, &job);
	car_as_table_owner("period_close", Sign, &job);
	result = ReturnRow(fcinfo, job.row);
	SPI_finish();
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
	CloseJob job;
	Oid		 admin = get_role_oid("car_admin", true);
	char	*reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Datum	 result;

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
	SPI_connect();
	car_as_table_owner("period_close", Reopen, &job);
	result = ReturnRow(fcinfo, job.row);
	SPI_finish();
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
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	void		  *org_cache = NULL;
	void		  *site_cache = NULL;
	uint64		   i;
	int			   last_close = -1;
	bool		   last_visible = false;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
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
	SPI_finish();
	return (Datum) 0;
}
