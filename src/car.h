/*
 * car.h
 *		Declarations shared by car's backend files.
 */
#ifndef CAR_H
#define CAR_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/nodes.h"
#include "utils/jsonb.h"

#include "budget.h"

/* The version of car's SQL objects this library is built for: car.control's
 * default_version, passed in by the Makefile. */
#ifndef CAR_SQL_VERSION
#error "CAR_SQL_VERSION must be defined (the Makefile passes car.control's default_version)"
#endif

/* GUCs (car.c) */
extern int	  car_reporting_year_start;
extern bool	  car_strict_factor_year;
extern int	  car_premake_months;
extern char	 *car_accept_from;
extern char	 *car_accept_ahead;
extern double car_max_reject_ratio;
extern char	 *car_keep_raw;
extern char	 *car_job_history_keep;
extern char	 *car_keep_changes;
extern int	  car_max_new_partitions;
extern char	 *car_worker_role;
extern int	  car_max_interpolation_gap; /* minutes */
extern double car_significance_threshold;
extern int	  car_ggc_baseline_year;

/* node.c: car.node_role and what each role refuses */
#define CAR_NODE_SINGLE 0
#define CAR_NODE_SHARD	1
#define CAR_NODE_HUB	2
extern int	 car_node_role;
extern void	 car_node_init(void);
extern void	 car_refuse_on_hub(const char *what);
extern Datum car_route_push(const char *source, const char *filename, bytea *payload);
extern void	 car_refuse_on_shard(const char *what);

/* util.c */
extern void		   car_sha256_hex(const char *data, size_t len, char *hex);
extern const char *car_text_as_utf8(const char *data, size_t len, size_t *outlen);
extern bool		   car_try_subxact(void (*fn)(void *arg), void *arg, int tolerated, int tolerated2);
extern JsonbValue *car_jsonb_field(Jsonb *j, const char *key);
extern double	   car_finite(double v, const char *what);
extern bool		   car_has_relation(const char *name);
extern bool		   car_schema_1_0(void);
extern void		   car_market_allocate(Datum meters, Datum days, bool all);
/*
 * SQL: whether the market-based allocation (market.c) prices the Scope 2
 * row of a UK electricity meter (in an energy unit) on day, owned that day
 * by owner: a residual mix covers the day, or an instrument of the owner
 * does (an index probe each).  car.refresh() writes every other Scope 2
 * row's market figures itself.
 */
#define CAR_MARKET_ALLOCATED(owner, day)                                                              \
	"(EXISTS (SELECT 1 FROM car.residual_mix mrm WHERE mrm.market = 'GB' AND mrm.valid_from <= " day  \
	"  AND mrm.valid_to >= " day ") OR EXISTS (SELECT 1 FROM car.instrument mi WHERE mi.org = " owner \
	"  AND mi.valid_from <= " day " AND mi.valid_to >= " day "))"
extern const char *car_sql_for_schema(const char *sql);
extern int		   car_pin_search_path(void);
extern void		   car_unpin_search_path(int level);
extern int		   car_spi_connect(void);
extern void		   car_spi_finish(int level);
extern void		   car_as_table_owner(const char *table, void (*fn)(void *arg), void *arg);
extern void		   car_as_role(Oid role, void (*fn)(void *arg), void *arg);
extern bool		   car_try_subxact_codes(void (*fn)(void *arg), void *arg, const int *codes, int ncodes, char **message);
extern int		   car_read_errcode(ReadError kind, int malformed);

/*
 * ingest_bytes.c: a file's bytes, read in pieces: a bytea in memory, or a
 * large object (car.push_lo) read through an lo_open descriptor.
 */
#define CAR_PIECE_BYTES (1024 * 1024) /* read, hashed and landed at a time */

typedef struct CarFileBytes
{
	bytea	   *payload; /* the bytea, or NULL */
	const char *mem;	 /* its bytes */
	Oid			lo;		 /* else the large object */
	int			lo_fd;	 /* and its descriptor, open for reading (-1: none) */
	int64		size;
	int64		pos; /* the next byte read */
} CarFileBytes;

extern void car_bytes_of_bytea(CarFileBytes *b, bytea *payload);
extern void car_bytes_of_lo(CarFileBytes *b, Oid lo);
extern void car_bytes_rewind(CarFileBytes *b);
extern int	car_bytes_read(CarFileBytes *b, char *buf, int n);
extern int	car_bytes_read_full(CarFileBytes *b, char *buf, int n);
extern void car_bytes_close(CarFileBytes *b);

/* source.c: the record of landed files, written as its owner */
extern int	  car_land_file(int source_id, const char *name, const char *uri, const char *sha256, bytea *content,
							const char *metadata, bool if_new, bool *landed);
extern int	  car_land_file_bytes(int source_id, const char *name, const char *uri, const char *sha256,
								  CarFileBytes *content, const char *metadata, bool if_new, bool *landed);
extern void	  car_file_counts(int file_id, int64 loaded, int64 rejected, int64 superseded);
extern void	  car_file_errors(int file_id, Datum lines, Datum raws, Datum messages);
extern uint64 car_drop_raw_bytes(Datum keep);
extern bool	  car_has_file_metadata(void);

/* calc.c */
extern char *car_price_problem; /* why car.can_price last said no, or NULL */
extern bool	 car_try_pricing(void (*fn)(void *arg), void *arg, char **why);

/* worker.c */
extern void car_worker_init(void);
extern void car_wake_launcher_at_commit(void);

/* factors.c */
typedef struct FactorLoadOptions
{
	int	 year;	  /* 0: from the file */
	bool lenient; /* load the rows that can be classified, list the others */
	char decimal; /* NF_DETECT, '.' or ',' (numfmt.h) */
	char group;	  /* NF_DETECT or a thousands separator */
} FactorLoadOptions;

extern int car_load_factor_bytes(const char *data, size_t len, const char *name, const char *uri,
								 const FactorLoadOptions *opt);

/* ingest.c (and ingest_*.c; see ingest.h) */
extern int64 *car_ingest_progress; /* a worker's count of readings written, or NULL */
extern int	  car_ingest_file(int source_id, const char *source, const char *format, Jsonb *options,
							  const char *fname, const char *uri, bytea *payload, bool *duplicate);

/* intensity.c: sources of kind carbon-intensity (the GB Carbon Intensity API) */
extern void		   car_intensity_check_options(Jsonb *options, bool has_format);
extern int		   car_intensity_queue(int source_id, TimestampTz lo, TimestampTz hi, bool again);
extern TimestampTz car_intensity_horizon(TimestampTz now);
extern int		   car_intensity_load(int source_id, const char *region, TimestampTz window_from, TimestampTz window_to,
									  const char *body, size_t len, const char *uri, char **note);

/* partition.c */
extern int	car_ensure_partitions_range(TimestampTz from, TimestampTz to);
extern int	car_missing_reading_partitions(TimestampTz from, TimestampTz to);
extern int	car_ensure_table_partitions(const char *parent, TimestampTz from, TimestampTz to);
extern void car_accepted_range(TimestampTz *lo, TimestampTz *hi);
extern bool car_redundant_partition_command(Node *stmt);
extern bool car_default_reading_range(TimestampTz *lo, TimestampTz *hi);

/* compact.c */
extern int64 car_uncompact_span(int32 meter_id, TimestampTz lo, TimestampTz hi);

/* jwt.c */
extern bool	  car_jwt_require_exp;
extern int	  car_jwt_leeway;
extern uint64 car_claims_generation;
extern void	  car_jwt_init(void);
extern Jsonb *car_current_claims(void);
extern void	 *car_enter_token_scope(text *token);
extern void	  car_leave_token_scope(void *saved);
extern Jsonb *car_verify_token(text *token);
extern void	  car_claims_utility(Node *stmt);
extern Datum  car_verify_jwt(PG_FUNCTION_ARGS);

/* access.c */
extern bool car_org_is_visible(void **cache, MemoryContext cxt, const char *org);
extern bool car_site_org_is_visible(void **cache, MemoryContext cxt, int32 site_id, const char *org);
extern bool car_site_day_is_visible(void **cache, MemoryContext cxt, int32 site_id, int32 day);

struct Tuplestorestate;
struct TupleDescData;
struct HTAB;
struct pg_tz;

/* refresh.c: the (meter, UK day)s of a statement's readings, with their sums */
typedef struct DayKey
{
	int32 meter_id;
	int32 day; /* DateADT: days since 2000-01-01 */
} DayKey;

typedef struct DayEntry
{
	DayKey		key;
	double		quantity;
	TimestampTz start; /* the instant the UK day starts */
	int64		count; /* readings of the day in the statement */
	TimestampTz first; /* their first and last periods */
	TimestampTz last;
} DayEntry;

typedef struct DayQueue
{
	struct HTAB	 *set; /* of DayEntry */
	int64		  count;
	TimestampTz	  min_ts;
	TimestampTz	  max_ts;
	struct pg_tz *london;
	TimestampTz	  day_lo; /* the UTC bounds of day_last */
	TimestampTz	  day_hi;
	int32		  day_last;
	DayEntry	 *prev;
} DayQueue;

extern void	 DayQueueInit(DayQueue *q);
extern void	 DayQueueScan(DayQueue *q, struct Tuplestorestate *rows, struct TupleDescData *desc);
extern void	 DayQueueAdd(DayQueue *q, int32 meter_id, TimestampTz ts, bool has_quantity, double quantity);
extern void	 car_queue_added_readings(DayQueue *q, Oid trigger_fn);
extern int64 car_refresh_locked(void);

/* live.c */
extern bool car_notify;
extern void car_note_new_readings(DayQueue *q);
extern void car_live_init(void);

/* factor_cache.c */

/* What one published factor group gives per unit of the caller's quantity. */
typedef struct ResolvedFactor
{
	double kg[4]; /* per caller unit: CO2e, CO2, CH4, N2O */
	bool   has[4];
	int64  factor_id;	 /* the CO2e row */
	char  *factor_value; /* its value as published */
	char  *factor_uom;	 /* its unit of measure as published */
	int	   scope;		 /* 1..3, or 0 when outside the scopes */
} ResolvedFactor;

/* A factor set picked for a point in time. */
typedef struct SetChoice
{
	int			set_id;
	int			year;		 /* the set's year (may be earlier than wanted) */
	int			wanted_year; /* the reporting year's factor year */
	TimestampTz lo;			 /* the reporting year holding the timestamp */
	TimestampTz hi;
} SetChoice;

#define CAR_GAS_CO2E 0
#define CAR_GAS_CO2	 1
#define CAR_GAS_CH4	 2
#define CAR_GAS_N2O	 3

extern uint64 car_cache_generation;

extern void	  car_cache_init(void);
extern void	  car_cache_invalidate(void);
extern void	  car_choose_set(TimestampTz at, SetChoice *choice);
extern void	  car_choose_set_for_year(int want, SetChoice *choice);
extern bool	  car_find_set_for_year(int want, SetChoice *choice);
extern void	  car_resolve(const char *activity, const char *unit, int set_id, ResolvedFactor *out);
extern int	  car_activity_components(const char *activity, const char ***kinds,
									  const char ***keys);
extern double car_unit_convert(double value, const char *from, const char *to);
extern int	  car_factor_year_of(TimestampTz at, TimestampTz *lo, TimestampTz *hi);

#endif /* CAR_H */
