/*
 * car.c
 *		Module entry point: configuration parameters and start-up.
 */
#include "car.h"
#include "compact.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int	   car_reporting_year_start = 1;
bool   car_strict_factor_year = false;
int	   car_premake_months = 3;
char  *car_accept_from = NULL;
char  *car_accept_ahead = NULL;
double car_max_reject_ratio = 0.1;
char  *car_keep_raw = NULL;
char  *car_job_history_keep = NULL;
char  *car_keep_changes = NULL;
int	   car_max_new_partitions = 24;
int	   car_max_interpolation_gap = 120;
double car_significance_threshold = 0.05;
int	   car_ggc_baseline_year = 2017;

void _PG_init(void);

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Utility commands car must see: pg_restore's redundant commands on car's
 * partitions are skipped (partition.c); DISCARD ALL and RESET ALL forget
 * the session's verified claims (jwt.c).
 */
static void
CarProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node *stmt = pstmt->utilityStmt;

	if (car_redundant_partition_command(stmt))
	{
		ereport(NOTICE, (errmsg("car: skipped a command for a partition of a car table: "
								"its index is already there, made when the partition was attached")));
		return;
	}
	car_claims_utility(stmt);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/*
 * Settings that loosen a check (the accepted time range, the reject ratio,
 * strictness about factor years, how long evidence is kept) are superuser
 * only; car.reporting_year_start is an analyst's choice of calendar, but a
 * period close signs only under the value the database is configured with
 * (close.c, ConfiguredYearStart).
 */

/* Factor-year rules changed: every cached choice of set is stale. */
static void
FactorYearRulesChanged(int newval, void *extra)
{
	(void) newval;
	(void) extra;
	car_cache_invalidate();
}

static void
StrictChanged(bool newval, void *extra)
{
	(void) newval;
	(void) extra;
	car_cache_invalidate();
}

void
_PG_init(void)
{
	DefineCustomIntVariable("car.reporting_year_start",
							"Month (1-12) in which the organisation's reporting year starts.",
							"A reporting year starting in February to June uses the factor set of "
							"its start year; one starting in July to December uses its end year.",
							&car_reporting_year_start,
							1, 1, 12,
							PGC_USERSET, 0,
							NULL, FactorYearRulesChanged, NULL);

	DefineCustomBoolVariable("car.strict_factor_year",
							 "Refuse to fall back to an earlier year's factor set.",
							 "When on, a timestamp whose factor year has no loaded set is an error "
							 "instead of using the newest earlier set.",
							 &car_strict_factor_year,
							 false,
							 PGC_SUSET, 0,
							 NULL, StrictChanged, NULL);

	DefineCustomIntVariable("car.premake_months",
							"Months of partitions car.maintenance() creates ahead of now().",
							NULL, &car_premake_months, 3, 0, 120,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("car.accept_from",
							   "Earliest reading timestamp ingestion accepts; older ones are quarantined.",
							   "A timestamp, e.g. 2000-01-01.",
							   &car_accept_from, "2000-01-01 00:00:00+00",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("car.accept_ahead",
							   "How far past now() ingestion accepts reading timestamps; later ones are quarantined.",
							   "An interval, e.g. 7 days.",
							   &car_accept_ahead, "7 days",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomRealVariable("car.max_reject_ratio",
							 "Largest share of a file's rows that may be rejected before the whole file is refused.",
							 NULL, &car_max_reject_ratio, 0.1, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("car.keep_raw",
							   "How long car.maintenance() keeps the raw bytes of landed files.",
							   "An interval, or \"forever\".",
							   &car_keep_raw, "365 days",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("car.job_history_keep",
							   "How long the history of car's pg_cron job runs is kept.",
							   "car.maintenance() (or the car-purge-history job when pg_cron is in another database) "
							   "deletes older rows of cron.job_run_details for car's jobs.",
							   &car_job_history_keep, "7 days",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("car.keep_changes",
							   "How long car.maintenance() keeps the change feed (car.change).",
							   "An interval.  Listeners read what a notification announced from car.change; "
							   "older rows are deleted.",
							   &car_keep_changes, "7 days",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("car.max_new_partitions",
							"Most new monthly partitions one file may make car create.",
							"A file whose readings need more months that have no partition yet is refused whole; "
							"partitions are made by car.maintenance() or car.ensure_partitions().",
							&car_max_new_partitions, 24, 1, 1200,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("car.worker_role",
							   "The role car's background worker and pg_cron jobs act as.",
							   "Made by car.grant_roles(); it must not be a superuser.",
							   &car_worker_role, "car_worker",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("car.max_interpolation_gap",
							"Longest gap of missing readings car.estimate() fills by linear interpolation.",
							"A longer gap is refused: fill it by the same weekday or with car.bill().",
							&car_max_interpolation_gap, 120, 1, 7 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);

	DefineCustomRealVariable("car.significance_threshold",
							 "Share of a signed figure above which a restatement is significant.",
							 "car.restatement marks a line significant when abs(live - signed) / abs(signed) is at "
							 "least this (a fraction: 0.05 is 5%).",
							 &car_significance_threshold, 0.05, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("car.ggc_baseline_year",
							"Financial year of the Greening Government Commitments baseline, by the year it starts.",
							"2017 for the 2021-2025 framework (April 2017 to March 2018).  car.report_ggc compares "
							"every financial year with it.",
							&car_ggc_baseline_year, 2017, 2000, 2100,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("car.compact_after",
							"Months after which car.maintenance() compacts a month of readings.",
							"car.maintenance() compacts (car.compact) every month of car.reading that ended this "
							"many months before the current one began: 3 leaves the last three closed months as "
							"rows.  0 never compacts.",
							&car_compact_after, 3, 0, 1200,
							PGC_SUSET, 0, NULL, NULL, NULL);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = CarProcessUtility;
	car_jwt_init();
	car_live_init();
	car_worker_init();
	car_node_init();
	/* compacted months are read through planner hooks every session must have from its start */
	car_compact_preloaded = process_shared_preload_libraries_in_progress;
	car_compact_scan_init();

	MarkGUCPrefixReserved("car");

	car_cache_init();
}
