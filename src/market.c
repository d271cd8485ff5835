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
 * and terms of its volume instruments) that contain one of them.  The result goes on the
 * rows (UPDATE of the Scope 2 rows just priced) and, split by basis, into
 * car.market_allocation.
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

/* The allocation so far: one element per (row, matching, basis, instrument). */
typedef struct Output
{
	ArrayBuildState *meter,
		*day,
		*site,
		*org,
		*matching,
		*basis,
		*instrument,
		*residual,
		*kwh,
		*kg;
} Output;

static void
Put(Output *out, MarketDay *d, int matching, int basis, int64 instrument, double kwh, double kg)
{
	MemoryContext cxt = CurrentMemoryContext;

	out->meter = accumArrayResult(out->meter, Int32GetDatum(d->meter), false, INT4OID, cxt);
	out->day = accumArrayResult(out->day, DateADTGetDatum(d->day), false, DATEOID, cxt);
	out->site = accumArrayResult(out->site, Int32GetDatum(d->site), false, INT4OID, cxt);
	out->org = accumArrayResult(out->org, d->org ? CStringGetTextDatum(d->org) : (Datum) 0, d->org == NULL, TEXTOID,
								cxt);
	out->matching = accumArrayResult(out->matching, CStringGetTextDatum(matching_name[matching]), false, TEXTOID, cxt);
	out->basis = accumArrayResult(out->basis, CStringGetTextDatum(basis_name[basis]), false, TEXTOID, cxt);
	out->instrument = accumArrayResult(out->instrument, Int64GetDatum(instrument), instrument == 0, INT8OID, cxt);
	out->residual = accumArrayResult(out->residual, Int32GetDatum(d->residual_id), basis != BASIS_RESIDUAL, INT4OID,
									 cxt);
	out->kwh = accumArrayResult(out->kwh, Float8GetDatum(kwh), false, FLOAT8OID, cxt);
	out->kg = accumArrayResult(out->kg, Float8GetDatum(kg), false, FLOAT8OID, cxt);
	d->kg[matching] += kg;
	d->bases[matching] |= 1 << basis;
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

/*
 * The Scope 2 rows to allocate: w is SQL for a relation w(meter_id, day) of
 * the meter-days, or NULL for all.  In order of organisation, meter, day.
 */
static MarketDay *
ReadDays(const char *w, int nargs, Oid *types, Datum *vals, int *ndays)
{
	StringInfoData sql;
	MarketDay	  *days;
	uint64		   i;

	initStringInfo(&sql);
	if (w)
		appendStringInfo(&sql, "WITH %s ", w);
	appendStringInfoString(
		&sql, "SELECT e.meter_id, e.day, e.component, e.site_id, so.org, "
			  "  CASE WHEN u.dimension = 'energy' THEN car.convert(e.quantity, e.unit, 'kWh') END, e.kg_co2e, "
			  "  a.level1 IS NOT DISTINCT FROM 'UK electricity', rm.id, rm.value::float8 ");
	/* the days given: a probe of the key each (its month prunes to one partition), never a scan */
	if (w)
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
	if (SPI_execute_with_args(sql.data, nargs, types, vals, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read the Scope 2 days to allocate");
	*ndays = (int) SPI_processed;
	days = palloc0(sizeof(MarketDay) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		MarketDay *d = &days[i];
		bool	   isnull;
		Datum	   v;

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
		d->electricity = DatumGetBool(Col(i, 8, &isnull));
		v = Col(i, 9, &isnull);
		d->residual_id = isnull ? 0 : DatumGetInt32(v);
		v = Col(i, 10, &isnull);
		d->residual = isnull ? 0 : DatumGetFloat8(v);
		d->left[ANNUAL] = d->left[HALF_HOURLY] = d->has_kwh && d->electricity ? d->kwh : 0;
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
Spread(Output *out, MarketDay **rows, double **left, int n, int matching, const Instrument *in)
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
		Put(out, rows[i], matching, in->kind, in->id, kwh, kwh * in->value);
	}
}

/*
 * Half-hourly matching's certificates: each time-stamped one against the
 * kWh of its own half-hour on the meters of its scope.  Several may reach
 * one meter's half-hour (a meter's own, the organisation's): what one takes,
 * the next finds gone.
 */
static void
MatchHalfHours(Output *out, MarketDay *days, HTAB *index, Instrument *ins, int nins, Datum orgs)
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
			"CROSS JOIN LATERAL (SELECT sum(r.quantity) * car.convert(1, m.unit, 'kWh') AS kwh FROM car.reading r "
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
		Spread(out, rows, left, m, HALF_HOURLY, in);
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
Allocate(Output *out, MarketDay *days, int ndays, const Layout *l, Instrument *ins, int nins, int matching)
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
		Spread(out, rows, left, Covered(l, o, days, in, matching, rows, left), matching, in);
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
			Put(out, d, matching, BASIS_GRID, 0, d->has_kwh ? d->kwh : 0, d->kg_location);
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

			Put(out, d, matching, in->kind, in->id, rest, rest * in->value);
			d->left[matching] = 0;
			continue;
		}
		/* 3. the residual mix, else the grid average */
		if (d->residual_id != 0)
			Put(out, d, matching, BASIS_RESIDUAL, 0, rest, rest * d->residual);
		else
			Put(out, d, matching, BASIS_GRID, 0, rest, d->kwh != 0 ? rest * (d->kg_location / d->kwh) : 0);
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

/*
 * Allocate the Scope 2 rows of the meter-days given (int[] and date[] of
 * the same length: what a refresh recomputed), or of every day when all.
 * Inside the refresh's SPI connection.
 */
void
car_market_allocate(Datum meters, Datum days_in, bool all)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "car market allocation", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Oid			  types[2] = {INT4ARRAYOID, DATEARRAYOID};
	Datum		  vals[2] = {meters, days_in};
	MarketDay	 *days;
	Instrument	 *ins;
	int			  ndays,
		nins,
		i,
		m;
	Layout			 layout;
	Output			 out = {0};
	ArrayBuildState *orgs = NULL;
	HASHCTL			 ctl = {.keysize = sizeof(MeterDayKey), .entrysize = sizeof(MeterDayEntry), .hcxt = cxt};
	HTAB			*index;
	Datum			 org_array;

	days = ReadDays(all ? NULL
						: "t AS MATERIALIZED (SELECT u.meter_id, u.day, so.org FROM unnest($1, $2) u(meter_id, day) "
						  "  JOIN car.meter m ON m.id = u.meter_id "
						  "  LEFT JOIN car.site_ownership so ON so.site_id = m.site_id AND so.valid_from <= u.day "
						  "  AND so.valid_to >= u.day "
						  /*
						   * and the organisation that had the day at the last allocation: a
						   * site or meter that changed hands gives back what its days took
						   * of the other one's volumes, which the other's days take now
						   */
						  "  UNION SELECT a.meter_id, a.day, a.org FROM unnest($1, $2) u(meter_id, day) "
						  "  JOIN car.market_allocation a ON a.meter_id = u.meter_id AND a.day = u.day "
						  "  WHERE a.org IS NOT NULL), "
						  /* the islands of each organisation's volume instruments that hold a day of t */
						  "b AS (SELECT org, valid_from, valid_to, CASE WHEN valid_from <= max(valid_to) OVER "
						  "  (PARTITION BY org ORDER BY valid_from, valid_to ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "
						  "  THEN 0 ELSE 1 END AS brk FROM car.instrument "
						  "  WHERE volume_kwh IS NOT NULL AND org IN (SELECT org FROM t)), "
						  "g AS (SELECT org, valid_from, valid_to, sum(brk) OVER (PARTITION BY org ORDER BY valid_from, valid_to "
						  "  ROWS UNBOUNDED PRECEDING) AS grp FROM b), "
						  "i AS (SELECT org, min(valid_from) AS lo, max(valid_to) AS hi FROM g GROUP BY org, grp), "
						  "h AS (SELECT DISTINCT i.org, i.lo, i.hi FROM i JOIN t ON t.org = i.org AND t.day BETWEEN i.lo AND i.hi), "
						  "w AS (SELECT meter_id, day FROM t "
						  "  UNION "
						  "  SELECT e.meter_id, e.day FROM h "
						  "  JOIN car.site_ownership so ON so.org = h.org AND so.valid_from <= h.hi AND so.valid_to >= h.lo "
						  "  JOIN car.emission_daily e ON e.site_id = so.site_id AND e.scope = 2 "
						  "  AND e.day BETWEEN greatest(h.lo, so.valid_from) AND least(h.hi, so.valid_to) "
						  "  AND e.month BETWEEN date_trunc('month', h.lo::timestamp)::date AND h.hi)",
					all ? 0 : 2, types, vals, &ndays);

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

	MatchHalfHours(&out, days, index, ins, nins, org_array);
	for (m = 0; m < N_MATCHINGS; m++)
		Allocate(&out, days, ndays, &layout, ins, nins, m);

	/* the split, then the rows */
	if (all)
	{
		if (SPI_execute("DELETE FROM car.market_allocation", false, 0) != SPI_OK_DELETE)
			elog(ERROR, "car: could not clear car.market_allocation");
	}
	else
	{
		ArrayBuildState *wm = NULL,
						*wd = NULL;

		for (i = 0; i < ndays; i++)
		{
			wm = accumArrayResult(wm, Int32GetDatum(days[i].meter), false, INT4OID, cxt);
			wd = accumArrayResult(wd, DateADTGetDatum(days[i].day), false, DATEOID, cxt);
		}
		/* found by an index probe per meter-day, then deleted by row address */
		if (SPI_execute_with_args("DELETE FROM car.market_allocation WHERE ctid = ANY (ARRAY("
								  "  SELECT a.ctid FROM (SELECT * FROM unnest($1::int[], $2::date[]) "
								  "    UNION SELECT * FROM unnest($3::int[], $4::date[])) w(meter_id, day) "
								  "  CROSS JOIN LATERAL (SELECT ctid FROM car.market_allocation a "
								  "    WHERE a.meter_id = w.meter_id AND a.day = w.day) a))",
								  4, (Oid[]){INT4ARRAYOID, DATEARRAYOID, INT4ARRAYOID, DATEARRAYOID},
								  (Datum[]){meters, days_in, Array(wm, INT4OID), Array(wd, DATEOID)}, NULL, false,
								  0) != SPI_OK_DELETE)
			elog(ERROR, "car: could not clear the days to allocate");
	}
	if (ndays == 0)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}
	if (SPI_execute_with_args(
			"INSERT INTO car.market_allocation (meter_id, day, month, site_id, org, matching, basis, instrument_id, "
			"  residual_mix_id, kwh, kg_co2e) "
			"SELECT m, d, date_trunc('month', d::timestamp)::date, s, o, mt, b, i, r, k, g "
			"FROM unnest($1::int[], $2::date[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int[], "
			"  $9::float8[], $10::float8[]) u(m, d, s, o, mt, b, i, r, k, g)",
			10,
			(Oid[]){INT4ARRAYOID, DATEARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
					INT4ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID},
			(Datum[]){Array(out.meter, INT4OID), Array(out.day, DATEOID), Array(out.site, INT4OID),
					  Array(out.org, TEXTOID), Array(out.matching, TEXTOID), Array(out.basis, TEXTOID),
					  Array(out.instrument, INT8OID), Array(out.residual, INT4OID), Array(out.kwh, FLOAT8OID),
					  Array(out.kg, FLOAT8OID)},
			NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "car: could not write car.market_allocation");

	{
		ArrayBuildState *um = NULL,
						*ud = NULL,
						*uc = NULL,
						*uk = NULL,
						*uh = NULL,
						*ub = NULL,
						*uf = NULL;

		for (i = 0; i < ndays; i++)
		{
			MarketDay	  *d = &days[i];
			StringInfoData basis;
			int			   b;

			initStringInfo(&basis);
			for (b = 0; b < N_BASES; b++)
				if (d->bases[ANNUAL] & (1 << b))
					appendStringInfo(&basis, "%s%s", basis.len ? "+" : "", basis_name[b]);
			um = accumArrayResult(um, Int32GetDatum(d->meter), false, INT4OID, cxt);
			ud = accumArrayResult(ud, DateADTGetDatum(d->day), false, DATEOID, cxt);
			uc = accumArrayResult(uc, CStringGetTextDatum(d->component), false, TEXTOID, cxt);
			uk = accumArrayResult(uk, Float8GetDatum(d->kg[ANNUAL]), false, FLOAT8OID, cxt);
			uh = accumArrayResult(uh, Float8GetDatum(d->kg[HALF_HOURLY]), false, FLOAT8OID, cxt);
			ub = accumArrayResult(ub, basis.len ? CStringGetTextDatum(basis.data) : (Datum) 0, basis.len == 0,
								  TEXTOID, cxt);
			uf = accumArrayResult(uf, BoolGetDatum((d->bases[ANNUAL] & (1 << BASIS_GRID)) != 0), false, BOOLOID, cxt);
		}
		/*
		 * The months as a constant list: the plan then holds their
		 * partitions only (planning an UPDATE over every partition costs
		 * more than the update of one day).
		 */
		if (SPI_execute_with_args(
				"UPDATE car.emission_daily e SET kg_co2e_market = u.k, kg_co2e_market_half_hourly = u.h, "
				"  market_basis = u.b, market_flagged = u.f "
				"FROM unnest($1::int[], $2::date[], $3::text[], $4::float8[], $5::float8[], $6::text[], $7::bool[]) "
				"  u(m, d, c, k, h, b, f) "
				"WHERE e.meter_id = u.m AND e.day = u.d AND e.component = u.c AND e.month = ANY ($8) "
				"AND e.month = date_trunc('month', u.d::timestamp)::date",
				8,
				(Oid[]){INT4ARRAYOID, DATEARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, BOOLARRAYOID,
						DATEARRAYOID},
				(Datum[]){Array(um, INT4OID), Array(ud, DATEOID), Array(uc, TEXTOID), Array(uk, FLOAT8OID),
						  Array(uh, FLOAT8OID), Array(ub, TEXTOID), Array(uf, BOOLOID), Months(days, ndays)},
				NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "car: could not write the market-based figures");
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
