/*
 * market.c
 *		Market-based Scope 2: car.refresh() allocates the contractual
 *		instruments (car.instrument) and the residual mix (car.residual_mix)
 *		to the Scope 2 rows of car.emission_daily.
 *
 * The GHG Protocol's Scope 2 Guidance prices each kWh with the first of:
 * certificates, contracts, the supplier's rate, the residual mix, and only
 * then the grid average (flagged).  car applies them in that order, per
 * organisation (the owner of each site on each day, car.site_ownership):
 *
 *	1. Instruments with a volume (certificates, contracts with a contracted
 *	   volume), one after the other: a meter's own before the organisation's,
 *	   then by start and number.  Each covers the consumption still uncovered
 *	   in its scope (its meter, or all the organisation's electricity meters)
 *	   and its vintage or term, pro rata to what each meter-day has left, and
 *	   never more than that: what it cannot place is its unused volume
 *	   (car.instrument_status), never carried elsewhere.  Pro rata makes the
 *	   result independent of the order of the days.
 *	2. Instruments without a volume (a contract for the whole supply, then a
 *	   supplier rate), a meter's own before the organisation's: the rest of
 *	   each day they cover.
 *	3. The residual mix of the day (GB electricity), else the grid average:
 *	   the row's own location-based kg CO2e per kWh, flagged.
 *
 * Certificates that fail a quality check (not GB, not retired) are not
 * applied.  Half-hourly matching runs the same order with one change: the
 * only certificates are time-stamped ones, each matched to the consumption
 * of its own half-hour (readings of meters of 30 minutes or less), pro rata
 * across the meters of its scope; the rest of the day goes down the order.
 *
 * A volume spreads over every day of its vintage, so a change to one day can
 * move the figures of every day an instrument with a volume reaches: an
 * incremental refresh allocates again the days it recomputed, plus, for each
 * organisation that owns one of them now or owned it at the last allocation
 * (car.market_allocation.org), the days of the islands (overlapping vintages
 * and terms of its volume instruments) that contain one of them.  So an
 * instrument with a volume is allocated again whole or not at all, and its
 * applied kWh are kept per instrument (car.instrument_applied), not per
 * meter-day.
 *
 * Only the Scope 2 rows some instrument or residual mix can price are read
 * here: UK electricity metered in an energy unit on a day that a residual
 * mix, or an instrument of the day's owner, covers (CAR_MARKET_ALLOCATED).
 * car.refresh() writes every other Scope 2 row's market figures when it
 * prices the row (the grid average, flagged), once.
 *
 * What is kept stays bounded by the meter-days and the instruments, however
 * many instruments reach each day: per meter-day and matching, kWh and kg
 * CO2e by part (certificates, contracts with a volume, the instrument for
 * the whole rest of the day, residual mix, grid average), per instrument its
 * applied kWh.  The result goes, in batches of BATCH_DAYS meter-days, on the
 * rows (UPDATE of the Scope 2 rows just priced) and, split by part, into
 * car.market_allocation; it is written as the tables' owner (no role may
 * write them: a writer could otherwise make up applied kWh).
 */
#include "car.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

enum
{
	BASIS_CERTIFICATE,
	BASIS_CONTRACT,
	BASIS_SUPPLIER,
	BASIS_RESIDUAL,
	BASIS_GRID,
	N_BASES
};
static const char *const basis_name[N_BASES] = {"certificate", "contract", "supplier_rate", "residual_mix",
												"grid_average"};

enum
{
	ANNUAL,
	HALF_HOURLY,
	N_MATCHINGS
};
static const char *const matching_name[N_MATCHINGS] = {"annual", "half_hourly"};

/*
 * The parts of a meter-day's kWh, a row of car.market_allocation each:
 * certificates and contracts with a volume (however many), the one
 * instrument that took the rest of the day, the residual mix, the grid
 * average.
 */
enum
{
	PART_CERTIFICATES,
	PART_CONTRACTS,
	PART_WHOLE,
	PART_RESIDUAL,
	PART_GRID,
	N_PARTS
};

/* Meter-days written per statement: what one batch holds in memory. */
#define BATCH_DAYS 4096

/* One Scope 2 row of car.emission_daily: a meter-day's component. */
typedef struct MarketDay
{
	int32	meter;
	DateADT day;
	char   *component;
	int32	site;
	char   *org;	 /* owner that day, or NULL */
	bool	has_kwh; /* quantity in an energy unit */
	double	kwh;
	double	kg_location; /* kg_co2e: the grid average */
	bool	electricity; /* UK grid electricity: instruments and residual mix apply */
	int32	residual_id; /* 0: none that day */
	double	residual;
	double	left[N_MATCHINGS];
	double	kg[N_MATCHINGS];
	uint8	bases[N_MATCHINGS]; /* bit per basis */
	uint8	parts[N_MATCHINGS]; /* bit per part */
	double	part_kwh[N_MATCHINGS][N_PARTS];
	double	part_kg[N_MATCHINGS][N_PARTS];
	int64	whole_id[N_MATCHINGS]; /* the instrument of PART_WHOLE */
	uint8	whole_basis[N_MATCHINGS];
} MarketDay;

typedef struct Instrument
{
	int64	id;
	int		kind; /* BASIS_CERTIFICATE, BASIS_CONTRACT or BASIS_SUPPLIER */
	char   *org;
	int32	meter; /* 0: all the organisation's */
	DateADT from;
	DateADT to;
	bool	stamped; /* a time-stamped certificate */
	bool	has_volume;
	double	volume;
	double	value;
	bool	usable; /* GB, and retired if a certificate */
	/* what it priced, per matching: kWh, meter-days, first and last day */
	double	applied[N_MATCHINGS];
	int32	ndays[N_MATCHINGS];
	DateADT first[N_MATCHINGS];
	DateADT last[N_MATCHINGS];
} Instrument;

typedef struct MeterDayKey
{
	int32	meter;
	DateADT day;
} MeterDayKey;

typedef struct MeterDayEntry
{
	MeterDayKey key;
	int			index;
} MeterDayEntry;

/* kwh of row d priced by basis (instrument in, or NULL), as part of its day. */
static void
Put(MarketDay *d, int matching, int part, int basis, Instrument *in, double kwh, double kg)
{
	d->part_kwh[matching][part] += kwh;
	d->part_kg[matching][part] += kg;
	d->parts[matching] |= 1 << part;
	d->kg[matching] += kg;
	d->bases[matching] |= 1 << basis;
	if (part == PART_WHOLE)
	{
		d->whole_id[matching] = in->id;
		d->whole_basis[matching] = basis;
	}
	if (in && in->has_volume)
	{
		if (in->ndays[matching] == 0 || d->day < in->first[matching])
			in->first[matching] = d->day;
		if (in->ndays[matching] == 0 || d->day > in->last[matching])
			in->last[matching] = d->day;
		in->ndays[matching]++;
		in->applied[matching] += kwh;
	}
}

static Datum
Array(ArrayBuildState *s, Oid type)
{
	return s ? makeArrayResult(s, CurrentMemoryContext) : PointerGetDatum(construct_empty_array(type));
}

static bool
Covers(const Instrument *in, const MarketDay *d)
{
	return d->electricity && d->org && strcmp(d->org, in->org) == 0 && d->day >= in->from && d->day <= in->to &&
		   (in->meter == 0 || in->meter == d->meter);
}

/* Column col of row row of the current SPI result (*isnull says whether it is NULL). */
static Datum
Col(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

static char *
TextCol(int row, int col)
{
	bool  isnull;
	Datum d = Col(row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A statement that writes car's market tables, run as their owner. */
typedef struct Write
{
	const char *sql;
	int			nargs;
	Oid		   *types;
	Datum	   *vals;
	int			expected;
	const char *what;
} Write;

static void
RunWrite(void *arg)
{
	Write *w = arg;

	if (SPI_execute_with_args(w->sql, w->nargs, w->types, w->vals, NULL, false, 0) != w->expected)
		elog(ERROR, "car: could not %s", w->what);
}

/*
 * Run a write of car.market_allocation, car.instrument_applied or the market
 * columns of car.emission_daily as the tables' owner: the roles that refresh
 * hold no privilege to write them.
 */
static void
OwnerWrite(const char *sql, int nargs, Oid *types, Datum *vals, int expected, const char *what)
{
	Write w = {sql, nargs, types, vals, expected, what};

	car_as_table_owner("market_allocation", RunWrite, &w);
}

/*
 * The islands of each organisation's volume instruments that hold a day of
 * t: t(meter_id, day, org) is the meter-days given ($1 int[], $2 date[]) with
 * their owner now and at the last allocation; h(org, lo, hi) the islands.
 */
#define ISLANDS_SQL                                                                                                                                                                                                                                                                                           \
	"t AS MATERIALIZED (SELECT u.meter_id, u.day, so.org FROM ROWS FROM (pg_catalog.unnest($1::int[]), pg_catalog.unnest($2::date[])) u(meter_id, day) "                                                                                                                                                      \
	"  JOIN car.meter m ON m.id OPERATOR(pg_catalog.=) u.meter_id "                                                                                                                                                                                                                                           \
	"  LEFT JOIN car.site_ownership so ON so.site_id OPERATOR(pg_catalog.=) m.site_id "                                                                                                                                                                                                                       \
	"  AND so.valid_from OPERATOR(pg_catalog.<=) u.day AND so.valid_to OPERATOR(pg_catalog.>=) u.day " /* and the organisation that had the day at the last allocation: a site or meter that changed hands */ /* gives back what its days took of the other one's volumes, which the other's days take now */ \
	"  UNION SELECT a.meter_id, a.day, a.org FROM ROWS FROM (pg_catalog.unnest($1::int[]), pg_catalog.unnest($2::date[])) u(meter_id, day) "                                                                                                                                                                  \
	"  JOIN car.market_allocation a ON a.meter_id OPERATOR(pg_catalog.=) u.meter_id AND a.day OPERATOR(pg_catalog.=) u.day "                                                                                                                                                                                  \
	"  WHERE a.org IS NOT NULL), "                                                                                                                                                                                                                                                                            \
	"b AS (SELECT org, valid_from, valid_to, CASE WHEN valid_from OPERATOR(pg_catalog.<=) pg_catalog.max(valid_to) OVER "                                                                                                                                                                                     \
	"  (PARTITION BY org ORDER BY valid_from, valid_to ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "                                                                                                                                                                                                    \
	"  THEN 0 ELSE 1 END AS brk FROM car.instrument "                                                                                                                                                                                                                                                         \
	"  WHERE volume_kwh IS NOT NULL AND org IN (SELECT org FROM t)), "                                                                                                                                                                                                                                        \
	"g AS (SELECT org, valid_from, valid_to, pg_catalog.sum(brk) OVER (PARTITION BY org ORDER BY valid_from, valid_to "                                                                                                                                                                                       \
	"  ROWS UNBOUNDED PRECEDING) AS grp FROM b), "                                                                                                                                                                                                                                                            \
	"i AS (SELECT org, pg_catalog.min(valid_from) AS lo, pg_catalog.max(valid_to) AS hi FROM g GROUP BY org, grp), "                                                                                                                                                                                          \
	"h AS (SELECT DISTINCT i.org, i.lo, i.hi FROM i JOIN t ON t.org OPERATOR(pg_catalog.=) i.org "                                                                                                                                                                                                            \
	"  AND t.day OPERATOR(pg_catalog.>=) i.lo AND t.day OPERATOR(pg_catalog.<=) i.hi) "

/*
 * The Scope 2 rows to allocate: those of the meter-days given ($1, $2) and
 * of the islands they reach, or of every day when all.  Only rows
 * CAR_MARKET_ALLOCATED (the others were priced with their market figures),
 * in order of organisation, meter, day.
 */
static MarketDay *
ReadDays(bool all, Datum meters, Datum days_in, int *ndays)
{
	StringInfoData sql;
	MarketDay	  *days;
	uint64		   i;
	bool		   isnull;

	/* no instrument and no residual mix: car.refresh() priced every row (the common case reads nothing) */
	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM car.instrument) OR EXISTS (SELECT 1 FROM car.residual_mix)", true,
					0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.instrument");
	if (!DatumGetBool(Col(0, 1, &isnull)))
	{
		SPI_freetuptable(SPI_tuptable);
		*ndays = 0;
		return palloc0(sizeof(MarketDay));
	}
	SPI_freetuptable(SPI_tuptable);
	initStringInfo(&sql);
	if (!all)
		appendStringInfoString(&sql, "WITH " ISLANDS_SQL
									 ", w AS (SELECT meter_id, day FROM t "
									 "  UNION "
									 "  SELECT e.meter_id, e.day FROM h "
									 "  JOIN car.site_ownership so ON so.org = h.org AND so.valid_from <= h.hi AND so.valid_to >= h.lo "
									 "  JOIN car.emission_daily e ON e.site_id = so.site_id AND e.scope = 2 "
									 "  AND e.day BETWEEN greatest(h.lo, so.valid_from) AND least(h.hi, so.valid_to) "
									 "  AND e.month BETWEEN date_trunc('month', h.lo::timestamp)::date AND h.hi) ");
	/*
	 * Whether the allocation prices the row is a column, not a filter: a
	 * filter's estimate would take the plan from a probe per meter-day to
	 * nested loops over every row.
	 */
	appendStringInfoString(
		&sql, "SELECT e.meter_id, e.day, e.component, e.site_id, so.org, "
			  "  CASE WHEN u.dimension = 'energy' THEN car.convert(e.quantity, e.unit, 'kWh') END, e.kg_co2e, rm.id, "
			  "  rm.value::float8, "
			  "  a.level1 IS NOT DISTINCT FROM 'UK electricity' AND u.dimension IS NOT DISTINCT FROM 'energy' "
			  "  AND " CAR_MARKET_ALLOCATED("so.org", "e.day") " ");
	/* the days given: a probe of the key each (its month prunes to one partition), never a scan */
	if (!all)
		appendStringInfoString(&sql, "FROM w CROSS JOIN LATERAL (SELECT * FROM car.emission_daily e "
									 "  WHERE e.meter_id = w.meter_id AND e.day = w.day "
									 "  AND e.month = date_trunc('month', w.day::timestamp)::date) e ");
	else
		appendStringInfoString(&sql, "FROM car.emission_daily e ");
	appendStringInfoString(
		&sql, "LEFT JOIN car.activity a ON a.key = e.activity "
			  "LEFT JOIN car.unit u ON u.name = car.unit_name(e.unit) "
			  "LEFT JOIN car.site_ownership so ON so.site_id = e.site_id AND so.valid_from <= e.day "
			  "  AND so.valid_to >= e.day "
			  "LEFT JOIN car.residual_mix rm ON rm.market = 'GB' AND rm.valid_from <= e.day AND rm.valid_to >= e.day "
			  "  AND a.level1 = 'UK electricity' "
			  "WHERE e.scope = 2 "
			  "ORDER BY so.org, e.meter_id, e.day, e.component");
	if (SPI_execute_with_args(sql.data, all ? 0 : 2, (Oid[]){INT4ARRAYOID, DATEARRAYOID}, (Datum[]){meters, days_in},
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the Scope 2 days to allocate");
	days = palloc0(sizeof(MarketDay) * Max(SPI_processed, 1));
	*ndays = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		MarketDay *d = &days[*ndays];
		Datum	   v = Col(i, 10, &isnull);

		/* priced with its market figures by car.refresh() (CAR_MARKET_ALLOCATED) */
		if (isnull || !DatumGetBool(v))
			continue;
		(*ndays)++;
		d->meter = DatumGetInt32(Col(i, 1, &isnull));
		d->day = DatumGetDateADT(Col(i, 2, &isnull));
		d->component = TextCol(i, 3);
		d->site = DatumGetInt32(Col(i, 4, &isnull));
		d->org = TextCol(i, 5);
		v = Col(i, 6, &isnull);
		d->has_kwh = !isnull;
		d->kwh = isnull ? 0 : DatumGetFloat8(v);
		v = Col(i, 7, &isnull);
		d->kg_location = isnull ? 0 : DatumGetFloat8(v);
		d->electricity = true;
		v = Col(i, 8, &isnull);
		d->residual_id = isnull ? 0 : DatumGetInt32(v);
		v = Col(i, 9, &isnull);
		d->residual = isnull ? 0 : DatumGetFloat8(v);
		d->left[ANNUAL] = d->left[HALF_HOURLY] = d->has_kwh ? d->kwh : 0;
	}
	SPI_freetuptable(SPI_tuptable);
	return days;
}

/* The instruments of the organisations of the rows, in the order they apply. */
static Instrument *
ReadInstruments(Datum orgs, int *n)
{
	Instrument *ins;
	uint64		i;

	if (SPI_execute_with_args(
			"SELECT id, kind, org, meter_id, valid_from, valid_to, half_hour IS NOT NULL, volume_kwh::float8, "
			"  value::float8, market = 'GB' AND (kind <> 'certificate' OR retired_on IS NOT NULL) "
			"FROM car.instrument WHERE org = ANY ($1) "
			"ORDER BY CASE kind WHEN 'certificate' THEN 0 WHEN 'contract' THEN 1 ELSE 2 END, volume_kwh IS NULL, "
			"  meter_id IS NULL, valid_from, id",
			1, (Oid[]){TEXTARRAYOID}, &orgs, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.instrument");
	*n = (int) SPI_processed;
	ins = palloc0(sizeof(Instrument) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		Instrument *in = &ins[i];
		bool		isnull;
		char	   *kind = TextCol(i, 2);
		Datum		v;

		in->id = DatumGetInt64(Col(i, 1, &isnull));
		in->kind = strcmp(kind, "certificate") == 0 ? BASIS_CERTIFICATE
				   : strcmp(kind, "contract") == 0	? BASIS_CONTRACT
													: BASIS_SUPPLIER;
		in->org = TextCol(i, 3);
		v = Col(i, 4, &isnull);
		in->meter = isnull ? 0 : DatumGetInt32(v);
		in->from = DatumGetDateADT(Col(i, 5, &isnull));
		in->to = DatumGetDateADT(Col(i, 6, &isnull));
		in->stamped = DatumGetBool(Col(i, 7, &isnull));
		v = Col(i, 8, &isnull);
		in->has_volume = !isnull;
		in->volume = isnull ? 0 : DatumGetFloat8(v);
		in->value = DatumGetFloat8(Col(i, 9, &isnull));
		in->usable = DatumGetBool(Col(i, 10, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return ins;
}

/*
 * Spread up to volume kWh of an instrument over the n places it covers, pro
 * rata to what each has left (*left[i]), never beyond: each place belongs to
 * row rows[i], whose own kWh left for the matching go down too when the place
 * is finer than the row (a half-hour of its day).
 */
static void
Spread(MarketDay **rows, double **left, int n, int matching, Instrument *in)
{
	double total = 0;
	double ratio;
	int	   i;

	/* a place with nothing left, or less than nothing (a net export or a correction), takes none */
	for (i = 0; i < n; i++)
		if (*left[i] > 0)
			total += *left[i];
	if (total <= 0)
		return;
	ratio = in->volume >= total ? 1.0 : in->volume / total;
	for (i = 0; i < n; i++)
	{
		double kwh = ratio == 1.0 ? *left[i] : *left[i] * ratio;

		if (kwh <= 0)
			continue;
		*left[i] = ratio == 1.0 ? 0 : *left[i] - kwh;
		if (left[i] != &rows[i]->left[matching])
		{
			/*
			 * The day's own kWh left: what rounding leaves of it once its
			 * half-hours are used up is nothing; a day whose other
			 * half-hours are negative goes below nothing, and the order
			 * prices that below as it prices the rest.
			 */
			double day_left = rows[i]->left[matching] - kwh;

			rows[i]->left[matching] = fabs(day_left) <= 1e-12 * Max(fabs(rows[i]->left[matching]), kwh) ? 0 : day_left;
		}
		Put(rows[i], matching, in->kind == BASIS_CERTIFICATE ? PART_CERTIFICATES : PART_CONTRACTS, in->kind, in, kwh,
			kwh * in->value);
	}
}

/*
 * Half-hourly matching's certificates: each time-stamped one against the
 * kWh of its own half-hour on the meters of its scope.  Several may reach
 * one meter's half-hour (a meter's own, the organisation's): what one takes,
 * the next finds gone.
 */
static void
MatchHalfHours(MarketDay *days, HTAB *index, Instrument *ins, int nins, Datum orgs)
{
	typedef struct SlotKey
	{
		int32		meter;
		int32		pad;
		TimestampTz half_hour;
	} SlotKey;
	typedef struct Slot
	{
		SlotKey key;
		double	left;
	} Slot;
	typedef struct Reach
	{
		int64 instrument;
		int	  day; /* index in days, -1 when not allocated now */
		Slot *slot;
	} Reach;
	HASHCTL		ctl = {.keysize = sizeof(SlotKey), .entrysize = sizeof(Slot), .hcxt = CurrentMemoryContext};
	HTAB	   *slots = hash_create("car market half-hours", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	Reach	   *reach;
	MarketDay **rows;
	double	  **left;
	uint64		n,
		i = 0;
	int k;

	if (SPI_execute_with_args(
			/* per certificate and meter, the readings of the half-hour: one index probe each */
			"SELECT c.id, m.id, (c.half_hour AT TIME ZONE 'Europe/London')::date, c.half_hour, x.kwh "
			"FROM car.instrument c "
			"JOIN car.site_ownership so ON so.org = c.org "
			"  AND so.valid_from <= (c.half_hour AT TIME ZONE 'Europe/London')::date "
			"  AND so.valid_to >= (c.half_hour AT TIME ZONE 'Europe/London')::date "
			"JOIN car.meter m ON m.site_id = so.site_id AND (c.meter_id IS NULL OR m.id = c.meter_id) "
			"  AND m.interval_minutes <= 30 "
			/* certificates cover grid electricity only, never a heat or steam meter's half-hour */
			"JOIN car.activity a ON a.key = m.activity AND a.level1 = 'UK electricity' "
			/* summed exactly, as the refresh sums a day (src/refresh.c EXACT) */
			"CROSS JOIN LATERAL (SELECT sum(car.float8_decimal(r.quantity))::float8 * car.convert(1, m.unit, 'kWh') AS kwh "
			"  FROM car.reading r "
			"  WHERE r.meter_id = m.id AND r.ts >= c.half_hour AND r.ts < c.half_hour + interval '30 minutes') x "
			"WHERE c.half_hour IS NOT NULL AND c.org = ANY ($1) AND c.kind = 'certificate' AND c.market = 'GB' "
			"  AND c.retired_on IS NOT NULL AND x.kwh IS NOT NULL "
			"ORDER BY c.id, m.id",
			1, (Oid[]){TEXTARRAYOID}, &orgs, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the half-hours of time-stamped certificates");
	n = SPI_processed;
	reach = palloc(sizeof(Reach) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool isnull,
			found;
		MeterDayKey	   dk = {0};
		SlotKey		   sk = {0};
		MeterDayEntry *e;

		reach[i].instrument = DatumGetInt64(Col(i, 1, &isnull));
		dk.meter = sk.meter = DatumGetInt32(Col(i, 2, &isnull));
		dk.day = DatumGetDateADT(Col(i, 3, &isnull));
		sk.half_hour = DatumGetTimestampTz(Col(i, 4, &isnull));
		e = hash_search(index, &dk, HASH_FIND, NULL);
		reach[i].day = e && days[e->index].electricity ? e->index : -1;
		reach[i].slot = hash_search(slots, &sk, HASH_ENTER, &found);
		if (!found)
			reach[i].slot->left = DatumGetFloat8(Col(i, 5, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	/*
	 * In the order certificates apply.  reach is in order of instrument:
	 * each certificate's meters are found by binary search, so that the
	 * work grows with the number of (certificate, meter) pairs, not with
	 * their product with the number of certificates.
	 */
	rows = palloc(sizeof(MarketDay *) * Max(n, 1));
	left = palloc(sizeof(double *) * Max(n, 1));
	for (k = 0; k < nins; k++)
	{
		Instrument *in = &ins[k];
		int			m = 0;
		uint64		lo = 0,
			   hi = n,
			   j;

		if (!in->stamped || in->kind != BASIS_CERTIFICATE || !in->usable)
			continue;
		while (lo < hi)
		{
			uint64 mid = lo + (hi - lo) / 2;

			if (reach[mid].instrument < in->id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (j = lo; j < n && reach[j].instrument == in->id; j++)
		{
			/* a day not allocated now keeps what it has; a meter's day without use has nothing left */
			if (reach[j].day < 0)
				continue;
			rows[m] = &days[reach[j].day];
			left[m++] = &reach[j].slot->left;
		}
		Spread(rows, left, m, HALF_HOURLY, in);
	}
	pfree(rows);
	pfree(left);
	hash_destroy(slots);
}

/* The rows of one meter, consecutive in days[] (ordered by day within it). */
typedef struct MeterRun
{
	int32 meter;
	int	  start;
	int	  end; /* exclusive */
} MeterRun;

/* The rows of one organisation: its meters' runs runs[first..last). */
typedef struct OrgRange
{
	const char *org;
	int			first;
	int			last;
} OrgRange;

typedef struct Layout
{
	MeterRun *runs;
	int		  nruns;
	OrgRange *orgs;
	int		  norgs;
} Layout;

static Layout
MakeLayout(MarketDay *days, int ndays)
{
	Layout l = {0};
	int	   i;

	l.runs = palloc(sizeof(MeterRun) * Max(ndays, 1));
	l.orgs = palloc(sizeof(OrgRange) * Max(ndays, 1));
	for (i = 0; i < ndays; i++)
	{
		if (days[i].org == NULL)
			continue;
		if (l.norgs == 0 || strcmp(l.orgs[l.norgs - 1].org, days[i].org) != 0)
		{
			l.orgs[l.norgs].org = days[i].org;
			l.orgs[l.norgs].first = l.nruns;
			l.orgs[l.norgs++].last = l.nruns;
		}
		if (l.orgs[l.norgs - 1].last == l.orgs[l.norgs - 1].first || l.runs[l.nruns - 1].meter != days[i].meter)
		{
			l.runs[l.nruns].meter = days[i].meter;
			l.runs[l.nruns].start = i;
			l.runs[l.nruns].end = i;
			l.nruns++;
			l.orgs[l.norgs - 1].last = l.nruns;
		}
		l.runs[l.nruns - 1].end = i + 1;
	}
	return l;
}

static const OrgRange *
FindOrg(const Layout *l, const char *org)
{
	int i;

	/* few organisations: in the order of the query's collation, not strcmp's, so no binary search */
	for (i = 0; i < l->norgs; i++)
		if (strcmp(l->orgs[i].org, org) == 0)
			return &l->orgs[i];
	return NULL;
}

/*
 * The rows an instrument covers with kWh left for the matching: its
 * organisation's electricity rows in its vintage or term, on its meter or
 * all of them.  Returns how many, in rows and left.
 */
static int
Covered(const Layout *l, const OrgRange *o, MarketDay *days, const Instrument *in, int matching, MarketDay **rows,
		double **left)
{
	int n = 0;
	int r;

	for (r = o->first; r < o->last; r++)
	{
		const MeterRun *run = &l->runs[r];
		int				lo = run->start,
			hi = run->end;

		if (in->meter != 0 && in->meter != run->meter)
			continue;
		/* first row of the run on or after in->from */
		while (lo < hi)
		{
			int mid = lo + (hi - lo) / 2;

			if (days[mid].day < in->from)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < run->end && days[lo].day <= in->to; lo++)
			if (days[lo].electricity && days[lo].left[matching] > 0)
			{
				rows[n] = &days[lo];
				left[n++] = &days[lo].left[matching];
			}
	}
	return n;
}

/* The market-based figure of every row, by one matching. */
static void
Allocate(MarketDay *days, int ndays, const Layout *l, Instrument *ins, int nins, int matching)
{
	MarketDay **rows = palloc(sizeof(MarketDay *) * Max(ndays, 1));
	double	  **left = palloc(sizeof(double *) * Max(ndays, 1));
	int		   *whole = palloc(sizeof(int) * Max(nins, 1)); /* the instruments without a volume, in order */
	int			nwhole = 0;
	int			k,
		i;

	/* 1. volumes, one instrument after the other */
	for (k = 0; k < nins; k++)
	{
		Instrument	   *in = &ins[k];
		const OrgRange *o;

		if (!in->usable || !in->has_volume || (matching == HALF_HOURLY && in->kind == BASIS_CERTIFICATE))
			continue;
		if ((o = FindOrg(l, in->org)) == NULL)
			continue;
		Spread(rows, left, Covered(l, o, days, in, matching, rows, left), matching, in);
	}
	/* step 2 looks only at these for each row: not at every certificate */
	for (k = 0; k < nins; k++)
		if (ins[k].usable && !ins[k].has_volume)
			whole[nwhole++] = k;
	for (i = 0; i < ndays; i++)
	{
		MarketDay *d = &days[i];
		double	   rest = d->left[matching];

		if (!d->has_kwh || !d->electricity)
		{
			/* not electricity in an energy unit: its location-based figure, flagged */
			Put(d, matching, PART_GRID, BASIS_GRID, NULL, d->has_kwh ? d->kwh : 0, d->kg_location);
			continue;
		}
		/* a net negative day (an export, a correction) takes no certificate but is priced like the rest */
		if (rest == 0)
			continue;
		/* 2. the rest of the day: a contract for the whole supply, then a supplier rate */
		for (k = 0; k < nwhole; k++)
			if (Covers(&ins[whole[k]], d))
				break;
		if (k < nwhole)
		{
			Instrument *in = &ins[whole[k]];

			Put(d, matching, PART_WHOLE, in->kind, in, rest, rest * in->value);
			d->left[matching] = 0;
			continue;
		}
		/* 3. the residual mix, else the grid average */
		if (d->residual_id != 0)
			Put(d, matching, PART_RESIDUAL, BASIS_RESIDUAL, NULL, rest, rest * d->residual);
		else
			/* the whole day at the grid average is its location-based figure itself, as car.refresh() writes it */
			Put(d, matching, PART_GRID, BASIS_GRID, NULL, rest,
				rest == d->kwh ? d->kg_location : d->kwh != 0 ? rest * (d->kg_location / d->kwh)
															  : 0);
		d->left[matching] = 0;
	}
	pfree(rows);
	pfree(left);
	pfree(whole);
}

/* The first days of the months of the rows, each once (date[]). */
static Datum
Months(MarketDay *days, int ndays)
{
	Datum *months = palloc(sizeof(Datum) * Max(ndays, 1));
	int	   n = 0;
	int	   i,
		j;

	for (i = 0; i < ndays; i++)
	{
		int y,
			mo,
			d;
		DateADT m;

		j2date(days[i].day + POSTGRES_EPOCH_JDATE, &y, &mo, &d);
		m = date2j(y, mo, 1) - POSTGRES_EPOCH_JDATE;
		for (j = 0; j < n && DatumGetDateADT(months[j]) != m; j++)
			;
		if (j == n)
			months[n++] = DateADTGetDatum(m);
	}
	return PointerGetDatum(construct_array(months, n, DATEOID, sizeof(DateADT), true, TYPALIGN_INT));
}

/* The allocation of days[first..end) onto car.market_allocation and car.emission_daily, as the owner. */
static void
WriteBatch(MarketDay *days, int first, int end)
{
	ArrayBuildState *am = NULL,
					*ad = NULL,
					*as = NULL,
					*ao = NULL,
					*amt = NULL,
					*ab = NULL,
					*ai = NULL,
					*ar = NULL,
					*ak = NULL,
					*ag = NULL;
	ArrayBuildState *um = NULL,
					*ud = NULL,
					*uc = NULL,
					*uk = NULL,
					*uh = NULL,
					*ub = NULL,
					*uf = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	int			  i;

	for (i = first; i < end; i++)
	{
		MarketDay	  *d = &days[i];
		StringInfoData basis;
		int			   b,
			m,
			p;

		for (m = 0; m < N_MATCHINGS; m++)
			for (p = 0; p < N_PARTS; p++)
			{
				int part_basis = p == PART_CERTIFICATES ? BASIS_CERTIFICATE
								 : p == PART_CONTRACTS	? BASIS_CONTRACT
								 : p == PART_WHOLE		? d->whole_basis[m]
								 : p == PART_RESIDUAL	? BASIS_RESIDUAL
														: BASIS_GRID;

				if (!(d->parts[m] & (1 << p)))
					continue;
				am = accumArrayResult(am, Int32GetDatum(d->meter), false, INT4OID, cxt);
				ad = accumArrayResult(ad, DateADTGetDatum(d->day), false, DATEOID, cxt);
				as = accumArrayResult(as, Int32GetDatum(d->site), false, INT4OID, cxt);
				ao = accumArrayResult(ao, d->org ? CStringGetTextDatum(d->org) : (Datum) 0, d->org == NULL, TEXTOID, cxt);
				amt = accumArrayResult(amt, CStringGetTextDatum(matching_name[m]), false, TEXTOID, cxt);
				ab = accumArrayResult(ab, CStringGetTextDatum(basis_name[part_basis]), false, TEXTOID, cxt);
				ai = accumArrayResult(ai, Int64GetDatum(d->whole_id[m]), p != PART_WHOLE, INT8OID, cxt);
				ar = accumArrayResult(ar, Int32GetDatum(d->residual_id), p != PART_RESIDUAL, INT4OID, cxt);
				ak = accumArrayResult(ak, Float8GetDatum(d->part_kwh[m][p]), false, FLOAT8OID, cxt);
				ag = accumArrayResult(ag, Float8GetDatum(d->part_kg[m][p]), false, FLOAT8OID, cxt);
			}

		initStringInfo(&basis);
		for (b = 0; b < N_BASES; b++)
			if (d->bases[ANNUAL] & (1 << b))
				appendStringInfo(&basis, "%s%s", basis.len ? "+" : "", basis_name[b]);
		um = accumArrayResult(um, Int32GetDatum(d->meter), false, INT4OID, cxt);
		ud = accumArrayResult(ud, DateADTGetDatum(d->day), false, DATEOID, cxt);
		uc = accumArrayResult(uc, CStringGetTextDatum(d->component), false, TEXTOID, cxt);
		uk = accumArrayResult(uk, Float8GetDatum(d->kg[ANNUAL]), false, FLOAT8OID, cxt);
		uh = accumArrayResult(uh, Float8GetDatum(d->kg[HALF_HOURLY]), false, FLOAT8OID, cxt);
		ub = accumArrayResult(ub, basis.len ? CStringGetTextDatum(basis.data) : (Datum) 0, basis.len == 0, TEXTOID,
							  cxt);
		uf = accumArrayResult(uf, BoolGetDatum((d->bases[ANNUAL] & (1 << BASIS_GRID)) != 0), false, BOOLOID, cxt);
	}
	if (am != NULL)
		OwnerWrite("INSERT INTO car.market_allocation (meter_id, day, month, site_id, org, matching, basis, instrument_id, "
				   "  residual_mix_id, kwh, kg_co2e) "
				   "SELECT m, d, pg_catalog.date_trunc('month', d::timestamp)::date, s, o, mt, b, i, r, k, g "
				   "FROM ROWS FROM (pg_catalog.unnest($1::int[]), pg_catalog.unnest($2::date[]), pg_catalog.unnest($3::int[]), pg_catalog.unnest($4::text[]), pg_catalog.unnest($5::text[]), pg_catalog.unnest($6::text[]), pg_catalog.unnest("
				   "  $7::int8[]), pg_catalog.unnest($8::int[]), pg_catalog.unnest($9::float8[]), pg_catalog.unnest($10::float8[])) u(m, d, s, o, mt, b, i, r, k, g)",
				   10,
				   (Oid[]){INT4ARRAYOID, DATEARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
						   INT8ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID},
				   (Datum[]){Array(am, INT4OID), Array(ad, DATEOID), Array(as, INT4OID), Array(ao, TEXTOID),
							 Array(amt, TEXTOID), Array(ab, TEXTOID), Array(ai, INT8OID), Array(ar, INT4OID),
							 Array(ak, FLOAT8OID), Array(ag, FLOAT8OID)},
				   SPI_OK_INSERT, "write car.market_allocation");
	/*
	 * The months as a constant list: the plan then holds their partitions
	 * only (planning an UPDATE over every partition costs more than the
	 * update of one day).
	 */
	OwnerWrite("UPDATE car.emission_daily e SET kg_co2e_market = u.k, kg_co2e_market_half_hourly = u.h, "
			   "  market_basis = u.b, market_flagged = u.f "
			   "FROM ROWS FROM (pg_catalog.unnest($1::int[]), pg_catalog.unnest($2::date[]), pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::float8[]), pg_catalog.unnest($5::float8[]), pg_catalog.unnest($6::text[]), pg_catalog.unnest("
			   "  $7::bool[])) u(m, d, c, k, h, b, f) "
			   "WHERE e.meter_id OPERATOR(pg_catalog.=) u.m AND e.day OPERATOR(pg_catalog.=) u.d "
			   "AND e.component OPERATOR(pg_catalog.=) u.c AND e.month OPERATOR(pg_catalog.=) ANY ($8) "
			   "AND e.month OPERATOR(pg_catalog.=) pg_catalog.date_trunc('month', u.d::timestamp)::date",
			   8,
			   (Oid[]){INT4ARRAYOID, DATEARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID,
					   BOOLARRAYOID, DATEARRAYOID},
			   (Datum[]){Array(um, INT4OID), Array(ud, DATEOID), Array(uc, TEXTOID), Array(uk, FLOAT8OID),
						 Array(uh, FLOAT8OID), Array(ub, TEXTOID), Array(uf, BOOLOID),
						 Months(days + first, end - first)},
			   SPI_OK_UPDATE, "write the market-based figures");
}

/* What each instrument with a volume applied, per matching, onto car.instrument_applied, as the owner. */
static void
WriteApplied(Instrument *ins, int nins)
{
	ArrayBuildState *ii = NULL,
					*im = NULL,
					*io = NULL,
					*ik = NULL,
					*in = NULL,
					*ifirst = NULL,
					*ilast = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	int			  k,
		m;

	for (k = 0; k < nins; k++)
		for (m = 0; m < N_MATCHINGS; m++)
		{
			if (!ins[k].has_volume || ins[k].ndays[m] == 0)
				continue;
			ii = accumArrayResult(ii, Int64GetDatum(ins[k].id), false, INT8OID, cxt);
			im = accumArrayResult(im, CStringGetTextDatum(matching_name[m]), false, TEXTOID, cxt);
			io = accumArrayResult(io, CStringGetTextDatum(ins[k].org), false, TEXTOID, cxt);
			ik = accumArrayResult(ik, Float8GetDatum(ins[k].applied[m]), false, FLOAT8OID, cxt);
			in = accumArrayResult(in, Int32GetDatum(ins[k].ndays[m]), false, INT4OID, cxt);
			ifirst = accumArrayResult(ifirst, DateADTGetDatum(ins[k].first[m]), false, DATEOID, cxt);
			ilast = accumArrayResult(ilast, DateADTGetDatum(ins[k].last[m]), false, DATEOID, cxt);
		}
	if (ii == NULL)
		return;
	OwnerWrite("INSERT INTO car.instrument_applied (instrument_id, matching, org, kwh, meter_days, first_day, last_day) "
			   "SELECT * FROM ROWS FROM (pg_catalog.unnest($1::int8[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::float8[]), pg_catalog.unnest($5::int[]), pg_catalog.unnest("
			   "  $6::date[]), pg_catalog.unnest($7::date[]))",
			   7,
			   (Oid[]){INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, DATEARRAYOID,
					   DATEARRAYOID},
			   (Datum[]){Array(ii, INT8OID), Array(im, TEXTOID), Array(io, TEXTOID), Array(ik, FLOAT8OID),
						 Array(in, INT4OID), Array(ifirst, DATEOID), Array(ilast, DATEOID)},
			   SPI_OK_INSERT, "write car.instrument_applied");
}

/*
 * Allocate the Scope 2 rows of the meter-days given (int[] and date[] of
 * the same length: what a refresh recomputed), or of every day when all.
 * Inside the refresh's SPI connection.
 */
void
car_market_allocate(Datum meters, Datum days_in, bool all)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "car market allocation", ALLOCSET_DEFAULT_SIZES);
	MemoryContext batch = AllocSetContextCreate(cxt, "car market allocation batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MarketDay	 *days;
	Instrument	 *ins;
	int			  ndays,
		nins,
		i,
		m;
	Layout			 layout;
	ArrayBuildState *orgs = NULL;
	HASHCTL			 ctl = {.keysize = sizeof(MeterDayKey), .entrysize = sizeof(MeterDayEntry), .hcxt = cxt};
	HTAB			*index;
	Datum			 org_array;

	days = ReadDays(all, meters, days_in, &ndays);

	/* the rows by (meter, day), and the organisations */
	index = hash_create("car market days", Max(ndays, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < ndays; i++)
	{
		MeterDayKey	   key = {.meter = days[i].meter, .day = days[i].day};
		bool		   found;
		MeterDayEntry *e = hash_search(index, &key, HASH_ENTER, &found);

		/* an electricity meter-day has one Scope 2 row (generation); keep the first */
		if (!found)
			e->index = i;
		if (days[i].org && (i == 0 || days[i - 1].org == NULL || strcmp(days[i - 1].org, days[i].org) != 0))
			orgs = accumArrayResult(orgs, CStringGetTextDatum(days[i].org), false, TEXTOID, cxt);
	}
	org_array = Array(orgs, TEXTOID);
	layout = MakeLayout(days, ndays);
	ins = ReadInstruments(org_array, &nins);

	MatchHalfHours(days, index, ins, nins, org_array);
	for (m = 0; m < N_MATCHINGS; m++)
		Allocate(days, ndays, &layout, ins, nins, m);

	/* what the days and the instruments allocated again had, then what they have now */
	if (all)
	{
		OwnerWrite("DELETE FROM car.instrument_applied", 0, NULL, NULL, SPI_OK_DELETE, "clear car.instrument_applied");
		OwnerWrite("DELETE FROM car.market_allocation", 0, NULL, NULL, SPI_OK_DELETE, "clear car.market_allocation");
	}
	else
	{
		ArrayBuildState *wm = NULL,
						*wd = NULL;

		/*
		 * An instrument with a volume is allocated again whole, with the
		 * island of its organisation that holds it: its row goes whether it
		 * takes any kWh now or not (its days may have gone to another
		 * organisation).  So do the rows of instruments deleted since.
		 * Before the days' rows go: the islands read who had them.
		 */
		OwnerWrite("WITH " ISLANDS_SQL
				   "DELETE FROM car.instrument_applied a WHERE a.instrument_id IN (SELECT k.id FROM car.instrument k "
				   "  JOIN h ON k.org OPERATOR(pg_catalog.=) h.org AND k.valid_from OPERATOR(pg_catalog.>=) h.lo "
				   "  AND k.valid_to OPERATOR(pg_catalog.<=) h.hi WHERE k.volume_kwh IS NOT NULL) "
				   "OR NOT EXISTS (SELECT 1 FROM car.instrument k WHERE k.id OPERATOR(pg_catalog.=) a.instrument_id)",
				   2, (Oid[]){INT4ARRAYOID, DATEARRAYOID}, (Datum[]){meters, days_in}, SPI_OK_DELETE,
				   "clear the instruments to allocate");
		for (i = 0; i < ndays; i++)
		{
			wm = accumArrayResult(wm, Int32GetDatum(days[i].meter), false, INT4OID, cxt);
			wd = accumArrayResult(wd, DateADTGetDatum(days[i].day), false, DATEOID, cxt);
		}
		/* found by an index probe per meter-day, then deleted by row address */
		OwnerWrite("DELETE FROM car.market_allocation WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
				   "  SELECT a.ctid FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::int[]), pg_catalog.unnest($2::date[])) "
				   "    UNION SELECT * FROM ROWS FROM (pg_catalog.unnest($3::int[]), pg_catalog.unnest($4::date[]))) w(meter_id, day) "
				   "  CROSS JOIN LATERAL (SELECT ctid FROM car.market_allocation a "
				   "    WHERE a.meter_id OPERATOR(pg_catalog.=) w.meter_id AND a.day OPERATOR(pg_catalog.=) w.day) a))",
				   4, (Oid[]){INT4ARRAYOID, DATEARRAYOID, INT4ARRAYOID, DATEARRAYOID},
				   (Datum[]){meters, days_in, Array(wm, INT4OID), Array(wd, DATEOID)}, SPI_OK_DELETE,
				   "clear the days to allocate");
	}
	WriteApplied(ins, nins);
	for (i = 0; i < ndays; i += BATCH_DAYS)
	{
		MemoryContextSwitchTo(batch);
		WriteBatch(days, i, Min(ndays, i + BATCH_DAYS));
		MemoryContextSwitchTo(cxt);
		MemoryContextReset(batch);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
