/*
 * ingest_options.c
 *		A meter source's options (car.source.options): every key known,
 *		every value checked, read into a SourceOptions.
 */
#include "ingest.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "hostpolicy.h"

static const char *const known_options[] = {
	"site", "meter", "site_column", "meter_column", "date_column", "ts_column", "value_column",
	"unit_column", "activity_column", "unit", "activity", "date_format", "timezone", "period",
	"interval_minutes", "org", "pattern", "follow_hosts", "decimal_separator", "thousands_separator", "header_line",
	NULL};

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
void
car_read_source_options(Jsonb *opts, const char *format, SourceOptions *so)
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
							 "interval_minutes, decimal_separator, thousands_separator, header_line, org, pattern, "
							 "follow_hosts.")));
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
	so->interval_minutes = 30;
	so->interval_given = s != NULL;
	if (s)
	{
		char *end;
		long  l;

		errno = 0;
		l = strtol(s, &end, 10);
		/* a whole number and nothing else ("30abc", "1e3" are refused below) */
		so->interval_minutes = (errno == 0 && end != s && *end == '\0' && l >= 1 && l <= 1440) ? (int) l : -1;
	}
	/* as car.meter.interval_minutes: every UK day (23, 24 or 25 hours) holds whole periods */
	if (so->interval_minutes < 1 || (60 % so->interval_minutes != 0 && so->interval_minutes != 1440))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source option interval_minutes must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) "
						"or be 1440, not \"%s\"",
						s)));
	so->mf.decimal_separator = NF_DETECT;
	so->mf.thousands_separator = NF_DETECT;
	s = JsonbString(opts, "decimal_separator");
	if (s && nf_parse_separator(s, 0, &so->mf.decimal_separator) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source option decimal_separator must be \".\" or \",\", not \"%s\"", s)));
	s = JsonbString(opts, "thousands_separator");
	if (s && nf_parse_separator(s, 1, &so->mf.thousands_separator) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source option thousands_separator must be \",\", \".\", \" \" (a space), \"'\" or \"\" (none), "
						"not \"%s\"",
						s)));
	if (so->mf.decimal_separator != NF_DETECT && so->mf.decimal_separator == so->mf.thousands_separator)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source options decimal_separator and thousands_separator are both \"%c\"",
						so->mf.decimal_separator)));
	s = JsonbString(opts, "header_line");
	if (s)
	{
		char *end;
		long  l = strtol(s, &end, 10);

		if (*end != '\0' || end == s || l < 1 || l > 1000000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source option header_line must be a line number from 1, not \"%s\"", s),
					 errhint("The header's line as a text editor counts it (a file's first line is 1).")));
		so->mf.header_line = l;
	}
	if (so->mf.date_format)
	{
		MfDateTime dt;

		/* a format with no field of a date cannot read anything */
		if (strstr(so->mf.date_format, "DD") == NULL || mf_parse_datetime(so->mf.date_format, "", &dt) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source option date_format \"%s\" has no day field", so->mf.date_format),
					 errhint("Use fields YYYY YY MM Mon DD HH24 HH12 MI SS FF AM TZ, e.g. DD/MM/YYYY or "
							 "YYYY-MM-DDTHH24:MI:SSTZ.")));
	}
}
