/*
 * factor_cache.c
 *		Per-backend cache of the unit and activity catalogues, the current
 *		factor set of each year, and resolved factor lookups.
 *
 * The calculator runs once per reading, so nothing here may touch the
 * catalogue on a hit.  The cache is filled on demand with SPI and dropped
 * when any of car.unit, car.activity, car.activity_component, car.factor_set
 * or car.factor changes: statement triggers on those tables send a relcache
 * invalidation (as pg_cron does for its job table), which every backend
 * receives at its next command.  The invalidation callback only raises a
 * flag; memory is released at the start of the next lookup, so pointers held
 * during a lookup stay valid even if an invalidation arrives meanwhile.
 */
#include "car.h"

#include <math.h>
#include <string.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "units.h"

#define KEYLEN 64

/*
 * Names are looked up by keys of KEYLEN bytes.  A name that does not fit is
 * refused, never cut: two long names with a common beginning would
 * otherwise share a key.  (Normalising a unit spelling never lengthens it,
 * so a spelling that fits gives a key that fits.)
 */
static void
RequireFits(const char *what, const char *name)
{
	if (strlen(name) >= KEYLEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s \"%.*s...\" is longer than %d bytes", what, 40, name, KEYLEN - 1),
				 errhint("car's units and activities have names of at most %d bytes.", KEYLEN - 1)));
}

typedef struct UnitEntry
{
	char	spelling[KEYLEN]; /* normalised name or alias: hash key */
	UnitDef def;
} UnitEntry;

/* A car.activity_path row: the activity's path in factor years from..to. */
typedef struct ActivityPath
{
	int	  from_year;
	int	  to_year;
	char *pattern[5];
} ActivityPath;

typedef struct ActivityEntry
{
	char		  key[KEYLEN];
	char		 *pattern[5]; /* level1..level4, column_text; NULL = any */
	int			  npaths;	  /* car.activity_path rows, by from_year */
	ActivityPath *paths;
	char		  basis[16]; /* "gross cv", "net cv" or "" */
	int			  ncomponents;
	const char	**kinds;
	const char	**components;
} ActivityEntry;

typedef struct ResolveKey
{
	int	 set_id;
	char activity[KEYLEN];
	char unit[KEYLEN];
} ResolveKey;

typedef struct ResolveEntry
{
	ResolveKey	   key;
	ResolvedFactor f;
} ResolveEntry;

typedef struct YearSet
{
	int year;
	int set_id;
} YearSet;

uint64 car_cache_generation = 1;

static MemoryContext CacheCxt = NULL;
static bool			 cache_valid = false;
static HTAB			*units = NULL;
static HTAB			*activities = NULL;
static HTAB			*resolved = NULL;
static YearSet		*years = NULL;
static int			 nyears = 0;

static const char *const watched_names[] = {
	"unit", "activity", "activity_component", "factor_set", "factor", "activity_path"};
#define NWATCHED lengthof(watched_names)
static Oid	watched[NWATCHED];
static bool watched_known = false;

void
car_cache_invalidate(void)
{
	cache_valid = false;
	watched_known = false;
	car_cache_generation++;
}

/* Relcache callback: drop the cache if one of our tables changed. */
static void
RelcacheCallback(Datum arg, Oid relid)
{
	int i;

	(void) arg;
	if (relid == InvalidOid || !watched_known)
	{
		car_cache_invalidate();
		return;
	}
	for (i = 0; i < (int) NWATCHED; i++)
		if (watched[i] == relid)
		{
			car_cache_invalidate();
			return;
		}
}

void
car_cache_init(void)
{
	CacheRegisterRelcacheCallback(RelcacheCallback, (Datum) 0);
}

PG_FUNCTION_INFO_V1(car_invalidate_factor_cache);

/*
 * Statement trigger on the catalogue tables: tell every backend (this one
 * at its next command, the others once we commit) to drop its cache.
 */
Datum
car_invalidate_factor_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("car.invalidate_factor_cache() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

static char *
CopyCell(HeapTuple tup, TupleDesc desc, int col)
{
	char *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(CacheCxt, v) : NULL;
}

static HTAB *
MakeHash(const char *name, Size keysize, Size entrysize, long n)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = CacheCxt;
	return hash_create(name, Max(n, 16), &ctl,
					   HASH_ELEM | HASH_CONTEXT | (keysize == sizeof(ResolveKey) ? HASH_BLOBS : HASH_STRINGS));
}

/* Register one spelling of a unit; two units may not share a spelling. */
static void
AddUnitSpelling(const char *spelling, const UnitDef *def)
{
	char	   key[KEYLEN];
	UnitEntry *e;
	bool	   found;

	RequireFits("the car.unit spelling", spelling);
	unit_normalise(spelling, key, sizeof(key));
	if (key[0] == '\0')
		return;
	e = hash_search(units, key, HASH_ENTER, &found);
	if (found && strcmp(e->def.name, def->name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("unit spelling \"%s\" names both \"%s\" and \"%s\" in car.unit",
						spelling, e->def.name, def->name),
				 errhint("Remove the alias from one of the two rows of car.unit.")));
	e->def = *def;
}

static void
LoadUnits(void)
{
	uint64 i;

	if (SPI_execute("SELECT name, dimension, to_base, aliases::text[] FROM car.unit ORDER BY name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.unit");
	units = MakeHash("car units", KEYLEN, sizeof(UnitEntry), SPI_processed * 4);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		UnitDef	  def;
		bool	  isnull;
		Datum	  aliases;

		memset(&def, 0, sizeof(def));
		strlcpy(def.name, SPI_getvalue(tup, desc, 1), sizeof(def.name));
		strlcpy(def.dimension, SPI_getvalue(tup, desc, 2), sizeof(def.dimension));
		def.to_base = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		AddUnitSpelling(def.name, &def);
		aliases = SPI_getbinval(tup, desc, 4, &isnull);
		if (!isnull)
		{
			ArrayType *arr = DatumGetArrayTypeP(aliases);
			Datum	  *elems;
			bool	  *nulls;
			int		   n,
				j;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			for (j = 0; j < n; j++)
				if (!nulls[j])
					AddUnitSpelling(TextDatumGetCString(elems[j]), &def);
		}
	}
}

static void
LoadActivities(void)
{
	uint64		   i;
	ActivityEntry *e;
	bool		   has_paths;

	if (SPI_execute("SELECT key, level1, level2, level3, level4, column_text, uom_basis FROM car.activity",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.activity");
	activities = MakeHash("car activities", KEYLEN, sizeof(ActivityEntry), SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char	  key[KEYLEN];
		char	 *basis;
		int		  j;

		RequireFits("the car.activity key", SPI_getvalue(tup, desc, 1));
		strlcpy(key, SPI_getvalue(tup, desc, 1), sizeof(key));
		e = hash_search(activities, key, HASH_ENTER, NULL);
		for (j = 0; j < 5; j++)
			e->pattern[j] = CopyCell(tup, desc, 2 + j);
		basis = SPI_getvalue(tup, desc, 7);
		unit_normalise_basis(basis ? basis : "", e->basis, sizeof(e->basis));
		e->ncomponents = 0;
		e->kinds = e->components = NULL;
		e->npaths = 0;
		e->paths = NULL;
	}

	/*
	 * per-year paths (ordered by from_year: the latest start covering a year
	 * wins); car.activity_path came with car 1.1, so a car 1.0 schema (the
	 * library updated, ALTER EXTENSION car UPDATE not yet run) has none
	 */
	has_paths = OidIsValid(get_relname_relid("activity_path", get_namespace_oid("car", false)));
	if (has_paths && SPI_execute("SELECT activity, from_year, to_year, level1, level2, level3, level4, column_text "
								 "FROM car.activity_path ORDER BY activity, from_year",
								 true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.activity_path");
	for (i = 0; has_paths && i < SPI_processed; i++)
	{
		HeapTuple	  tup = SPI_tuptable->vals[i];
		TupleDesc	  desc = SPI_tuptable->tupdesc;
		char		  key[KEYLEN];
		ActivityPath *p;
		bool		  isnull;
		int			  j;

		strlcpy(key, SPI_getvalue(tup, desc, 1), sizeof(key));
		e = hash_search(activities, key, HASH_FIND, NULL);
		if (e == NULL)
			continue; /* the foreign key makes this impossible */
		if (e->paths == NULL)
			e->paths = MemoryContextAllocZero(CacheCxt, sizeof(ActivityPath) * SPI_processed);
		p = &e->paths[e->npaths++];
		p->from_year = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		p->to_year = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		for (j = 0; j < 5; j++)
			p->pattern[j] = CopyCell(tup, desc, 4 + j);
	}

	if (SPI_execute("SELECT activity, kind, component FROM car.activity_component "
					"ORDER BY activity, position, kind",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.activity_component");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char	  key[KEYLEN];

		strlcpy(key, SPI_getvalue(tup, desc, 1), sizeof(key));
		e = hash_search(activities, key, HASH_FIND, NULL);
		if (e == NULL)
			continue; /* the foreign key makes this impossible */
		if (e->kinds == NULL)
		{
			e->kinds = MemoryContextAllocZero(CacheCxt, sizeof(char *) * SPI_processed);
			e->components = MemoryContextAllocZero(CacheCxt, sizeof(char *) * SPI_processed);
		}
		e->kinds[e->ncomponents] = CopyCell(tup, desc, 2);
		e->components[e->ncomponents] = CopyCell(tup, desc, 3);
		e->ncomponents++;
	}
}

static void
LoadYears(void)
{
	uint64 i;
	bool   isnull;

	if (SPI_execute("SELECT DISTINCT ON (year) year, id FROM car.factor_set "
					"WHERE superseded_by IS NULL ORDER BY year, revision DESC",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.factor_set");
	nyears = (int) SPI_processed;
	years = MemoryContextAlloc(CacheCxt, sizeof(YearSet) * (nyears + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		years[i].year = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		years[i].set_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
}

/* Make sure the catalogues are loaded and current. */
static void
EnsureCache(void)
{
	int pin;
	Oid nsp;
	int i;

	while (!cache_valid)
	{
		uint64 gen = car_cache_generation;

		if (CacheCxt == NULL)
			CacheCxt = AllocSetContextCreate(CacheMemoryContext, "car factor cache",
											 ALLOCSET_DEFAULT_SIZES);
		else
			MemoryContextReset(CacheCxt);
		units = activities = resolved = NULL;
		years = NULL;
		nyears = 0;

		nsp = get_namespace_oid("car", true);
		if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("factor", nsp)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the car extension is not installed in this database"),
					 errhint("Run CREATE EXTENSION car CASCADE.")));
		for (i = 0; i < (int) NWATCHED; i++)
			watched[i] = get_relname_relid(watched_names[i], nsp);

		pin = car_spi_connect();
		LoadUnits();
		LoadActivities();
		LoadYears();
		car_spi_finish(pin);
		resolved = MakeHash("car resolved factors", sizeof(ResolveKey), sizeof(ResolveEntry), 64);

		/* An invalidation that arrived while loading means: load again. */
		if (gen == car_cache_generation)
		{
			watched_known = true;
			cache_valid = true;
		}
	}
}

static const UnitDef *
FindUnit(const char *normalised)
{
	UnitEntry *e = hash_search(units, normalised, HASH_FIND, NULL);

	return e ? &e->def : NULL;
}

static int
CompareStrings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Sorted, comma-separated list of names, for error messages. */
static char *
JoinSorted(const char **names, int n)
{
	StringInfoData s;
	int			   i;

	qsort(names, n, sizeof(char *), CompareStrings);
	initStringInfo(&s);
	for (i = 0; i < n; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "", names[i]);
	return s.data;
}

/* The car.unit names, for error hints. */
static char *
KnownUnits(void)
{
	HASH_SEQ_STATUS st;
	UnitEntry	   *e;
	const char	  **names = palloc(sizeof(char *) * (hash_get_num_entries(units) + 1));
	int				n = 0;

	hash_seq_init(&st, units);
	while ((e = hash_seq_search(&st)) != NULL)
		if (pg_strcasecmp(e->spelling, e->def.name) == 0)
			names[n++] = e->def.name;
	return JoinSorted(names, n);
}

/* Look up a unit by any spelling, raising a helpful error if unknown. */
static const UnitDef *
RequireUnit(const char *spelling)
{
	char		   n[KEYLEN];
	const UnitDef *u;

	RequireFits("unit", spelling);
	unit_normalise(spelling, n, sizeof(n));
	u = FindUnit(n);
	if (u == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown unit \"%s\"", spelling),
				 errdetail("Known units: %s.", KnownUnits()),
				 errhint("Add the unit, or an alias for it, to car.unit.")));
	return u;
}

double
car_unit_convert(double value, const char *from, const char *to)
{
	char fu[KEYLEN],
		fb[16],
		tu[KEYLEN],
		tb[16];
	const UnitDef *f,
		*t;
	double k;
	char   err[256];

	EnsureCache();
	RequireFits("unit", from);
	RequireFits("unit", to);
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cannot convert %g %s: the quantity is not a finite number", value, from)));
	unit_split_basis(from, fu, sizeof(fu), fb, sizeof(fb));
	unit_split_basis(to, tu, sizeof(tu), tb, sizeof(tb));
	f = RequireUnit(fb[0] ? fu : from);
	t = RequireUnit(tb[0] ? tu : to);
	if (strcmp(fb, tb) != 0 && fb[0] && tb[0])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot convert \"%s\" to \"%s\": gross and net calorific values differ by fuel", from, to),
				 errhint("Use the factor published for the basis your meter reports.")));
	if (unit_factor(f, t, &k, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot convert \"%s\" to \"%s\": %s measures %s but %s measures %s",
						from, to, f->name, f->dimension, t->name, t->dimension)));
	if (isinf(value * k))
		(void) car_finite(value * k, psprintf("%g %s in %s", value, from, to));
	return value * k;
}

static ActivityEntry *
RequireActivity(const char *activity)
{
	char		   key[KEYLEN];
	ActivityEntry *e;

	RequireFits("activity", activity);
	strlcpy(key, activity, sizeof(key));
	e = hash_search(activities, key, HASH_FIND, NULL);
	if (e == NULL)
	{
		HASH_SEQ_STATUS st;
		ActivityEntry  *a;
		const char	  **names = palloc(sizeof(char *) * (hash_get_num_entries(activities) + 1));
		int				n = 0;

		hash_seq_init(&st, activities);
		while ((a = hash_seq_search(&st)) != NULL)
			names[n++] = a->key;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown activity \"%s\"", activity),
				 errdetail("Known activities: %s.", JoinSorted(names, n)),
				 errhint("Add a row to car.activity that maps \"%s\" onto a factor path.", activity)));
	}
	return e;
}

int
car_activity_components(const char *activity, const char ***kinds, const char ***keys)
{
	ActivityEntry *e;
	const char	 **k;
	const char	 **c;
	int			   i;

	EnsureCache();
	e = RequireActivity(activity);
	/* copies: the cache may be refilled before the caller is done with them */
	k = palloc(sizeof(char *) * Max(e->ncomponents, 1));
	c = palloc(sizeof(char *) * Max(e->ncomponents, 1));
	for (i = 0; i < e->ncomponents; i++)
	{
		k[i] = pstrdup(e->kinds[i]);
		c[i] = pstrdup(e->components[i]);
	}
	*kinds = k;
	*keys = c;
	return e->ncomponents;
}

/*
 * The reporting year holding an instant, read on the UK calendar
 * (Europe/London), whatever the session's time zone: car's days are UK local
 * days and a reporting year starts at a UK midnight, so 1 April 00:00 BST
 * (31 March 23:00 UTC) is in the year starting in April in every session.
 */
int
car_factor_year_of(TimestampTz at, TimestampTz *lo, TimestampTz *hi)
{
	static pg_tz *london = NULL;
	struct pg_tm  tm;
	fsec_t		  fsec;
	int			  tz;
	int			  start = car_reporting_year_start;
	int			  start_year;

	if (london == NULL && (london = pg_tzset("Europe/London")) == NULL)
		elog(ERROR, "car: the time zone Europe/London is not known");
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot choose a factor year for an infinite timestamp")));
	if (timestamp2tm(at, &tz, &tm, &fsec, NULL, london) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	start_year = tm.tm_mon >= start ? tm.tm_year : tm.tm_year - 1;

	if (lo && hi)
	{
		struct pg_tm b;

		memset(&b, 0, sizeof(b));
		b.tm_year = start_year;
		b.tm_mon = start;
		b.tm_mday = 1;
		tz = DetermineTimeZoneOffset(&b, london);
		tm2timestamp(&b, 0, &tz, lo);
		memset(&b, 0, sizeof(b));
		b.tm_year = start_year + 1;
		b.tm_mon = start;
		b.tm_mday = 1;
		tz = DetermineTimeZoneOffset(&b, london);
		tm2timestamp(&b, 0, &tz, hi);
	}
	/* DESNZ: the year holding most of the data; July-June takes the newer set. */
	return start <= 6 ? start_year : start_year + 1;
}

void
car_choose_set(TimestampTz at, SetChoice *choice)
{
	TimestampTz lo,
		hi;
	int want = car_factor_year_of(at, &lo, &hi);

	car_choose_set_for_year(want, choice);
	choice->lo = lo;
	choice->hi = hi;
}

/*
 * The set for factor year want: its current set, else the newest earlier one
 * (unless strict).  False when there is none.
 */
bool
car_find_set_for_year(int want, SetChoice *choice)
{
	int i;
	int best = -1;

	EnsureCache();
	choice->lo = choice->hi = 0;
	for (i = 0; i < nyears; i++)
		if (years[i].year <= want)
			best = i;
	if (best < 0 || (years[best].year != want && car_strict_factor_year))
		return false;
	choice->set_id = years[best].set_id;
	choice->year = years[best].year;
	choice->wanted_year = want;
	return true;
}

/* The same, or an error saying why there is none. */
void
car_choose_set_for_year(int want, SetChoice *choice)
{
	int i;
	int best = -1;

	if (car_find_set_for_year(want, choice))
		return;
	for (i = 0; i < nyears; i++)
		if (years[i].year <= want)
			best = i;
	{
		StringInfoData s;

		initStringInfo(&s);
		for (i = 0; i < nyears; i++)
			appendStringInfo(&s, "%s%d", i ? ", " : "", years[i].year);
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 best < 0 ? errmsg("no emission factor set for %d or any earlier year", want)
						  : errmsg("no emission factor set for %d, and car.strict_factor_year forbids using %d's",
								   want, years[best].year),
				 errdetail("Loaded factor years: %s.", nyears ? s.data : "none"),
				 errhint("Load the %d factors with car.load_factors(%d) or car.load_factors('/path/to/file.xlsx').",
						 want, want)));
	}
}

/* Parse "Scope 2" into 2; anything else (e.g. "Outside of Scopes") is 0. */
static int
ScopeNumber(const char *s)
{
	if (s && pg_strncasecmp(s, "scope ", 6) == 0 && s[6] >= '1' && s[6] <= '3' && s[7] == '\0')
		return s[6] - '0';
	return 0;
}

static int
GasIndex(const char *gas)
{
	if (strcmp(gas, "CO2e") == 0)
		return CAR_GAS_CO2E;
	if (strcmp(gas, "CO2") == 0)
		return CAR_GAS_CO2;
	if (strcmp(gas, "CH4") == 0)
		return CAR_GAS_CH4;
	return CAR_GAS_N2O;
}

/* One candidate row of the factor table. */
typedef struct Candidate
{
	int64		   id;
	char		  *scope;
	char		  *uom;
	char		  *gas;
	char		  *value_text;
	double		   value;
	char		  *path;
	const UnitDef *unit; /* NULL when car.unit does not know it */
	char		   unit_norm[KEYLEN];
	char		   basis[16];
} Candidate;

/*
 * The path of act in factor year year: its car.activity_path row covering
 * that year (the one starting latest, if several do), else car.activity's.
 */
static char *const *
PathForYear(ActivityEntry *act, int year)
{
	char *const *pattern = act->pattern;
	int			 i;

	for (i = 0; i < act->npaths; i++)
		if (act->paths[i].from_year <= year && year <= act->paths[i].to_year)
			pattern = act->paths[i].pattern;
	return pattern;
}

/* The year of factor set set_id (read on a cache miss only). */
static int
SetYear(int set_id)
{
	Oid	  argtypes[1] = {INT4OID};
	Datum values[1] = {Int32GetDatum(set_id)};
	bool  isnull;
	int	  i;

	for (i = 0; i < nyears; i++)
		if (years[i].set_id == set_id)
			return years[i].year;
	if (SPI_execute_with_args("SELECT year FROM car.factor_set WHERE id = $1", 1, argtypes, values, NULL, true, 1) !=
			SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("factor set %d does not exist", set_id)));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Compute the factor for (activity, unit) in set set_id. */
static void
ComputeResolution(ActivityEntry *act, const char *unit, int set_id, ResolvedFactor *out)
{
	int	  pin;
	Oid	  argtypes[6] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum values[6];
	char  nulls[6];
	char  cu[KEYLEN],
		cb[16];
	const char	  *basis;
	const UnitDef *caller;
	Candidate	  *cands;
	int			   ncand;
	int			   i;
	const char	  *chosen = NULL;
	const UnitDef *chosen_unit = NULL;
	bool		   exact = false;
	double		   mult = 1.0;
	StringInfoData uoms;
	MemoryContext  oldcxt;
	char *const	  *pattern;
	int			   year;

	/* cu is the caller's unit without any calorific-value basis, normalised. */
	RequireFits("unit", unit);
	unit_split_basis(unit, cu, sizeof(cu), cb, sizeof(cb));
	basis = cb[0] ? cb : act->basis;
	caller = FindUnit(cu);

	pin = car_spi_connect();
	year = SetYear(set_id);
	pattern = PathForYear(act, year);
	values[0] = Int32GetDatum(set_id);
	nulls[0] = ' ';
	for (i = 0; i < 5; i++)
	{
		values[i + 1] = pattern[i] ? CStringGetTextDatum(pattern[i]) : (Datum) 0;
		nulls[i + 1] = pattern[i] ? ' ' : 'n';
	}

	if (SPI_execute_with_args(
			"SELECT id, scope, uom, gas, value::text, value::float8, "
			"concat_ws(' / ', level1, level2, level3, level4, column_text) "
			"FROM car.factor WHERE set_id = $1 AND gas IS NOT NULL "
			"AND level1 ILIKE $2 "
			"AND ($3 IS NULL OR level2 ILIKE $3) "
			"AND ($4 IS NULL OR level3 ILIKE $4) "
			"AND ($5 IS NULL OR level4 ILIKE $5) "
			"AND ($6 IS NULL OR column_text ILIKE $6) ORDER BY id",
			6, argtypes, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read car.factor");

	ncand = (int) SPI_processed;
	oldcxt = MemoryContextSwitchTo(CurTransactionContext);
	cands = palloc0(sizeof(Candidate) * (ncand + 1));
	initStringInfo(&uoms);
	for (i = 0; i < ncand; i++)
	{
		HeapTuple  tup = SPI_tuptable->vals[i];
		TupleDesc  desc = SPI_tuptable->tupdesc;
		Candidate *c = &cands[i];
		bool	   isnull;

		c->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		c->scope = SPI_getvalue(tup, desc, 2);
		c->uom = SPI_getvalue(tup, desc, 3);
		c->gas = SPI_getvalue(tup, desc, 4);
		c->value_text = SPI_getvalue(tup, desc, 5);
		c->value = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
		c->path = SPI_getvalue(tup, desc, 7);
		if (c->uom == NULL)
			c->uom = "";
		/* a published unit too long for a key matches no caller's unit (those fit) */
		if (strlen(c->uom) < KEYLEN)
		{
			unit_split_basis(c->uom, c->unit_norm, sizeof(c->unit_norm), c->basis, sizeof(c->basis));
			c->unit = FindUnit(c->unit_norm);
		}
		if (strstr(uoms.data, c->uom) == NULL)
			appendStringInfo(&uoms, "%s\"%s\"", uoms.len ? ", " : "", c->uom);
	}
	MemoryContextSwitchTo(oldcxt);

	if (ncand == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("activity \"%s\" matches no emission factor in factor set %d (%d)", act->key, set_id, year),
				 errdetail("%s maps it to level1 ILIKE '%s', level2 ILIKE '%s', level3 ILIKE '%s', level4 ILIKE '%s', column_text ILIKE '%s'.",
						   pattern == act->pattern ? "car.activity" : "car.activity_path",
						   pattern[0] ? pattern[0] : "%", pattern[1] ? pattern[1] : "%",
						   pattern[2] ? pattern[2] : "%", pattern[3] ? pattern[3] : "%",
						   pattern[4] ? pattern[4] : "%"),
				 errhint("Check the path of the activity against car.factor for that set, or map that year in car.activity_path.")));

	/* Pick the unit of measure: the caller's own if published, else one convertible. */
	for (i = 0; i < ncand; i++)
	{
		Candidate *c = &cands[i];
		bool	   same;

		if (basis[0] && c->basis[0] && strcmp(basis, c->basis) != 0)
			continue;
		same = strcmp(cu, c->unit_norm) == 0 || (caller != NULL && c->unit == caller);
		if (same)
		{
			if (chosen && exact && strcmp(chosen, c->uom) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
						 errmsg("activity \"%s\" publishes both \"%s\" and \"%s\" factors for unit \"%s\"",
								act->key, chosen, c->uom, unit),
						 errhint("Say which basis the meter measures, e.g. \"kWh (Gross CV)\", or set uom_basis in car.activity.")));
			chosen = c->uom;
			chosen_unit = c->unit;
			exact = true;
			mult = 1.0;
		}
		else if (!exact && caller && c->unit &&
				 strcmp(c->unit->dimension, caller->dimension) == 0 &&
				 (chosen == NULL || (c->unit->to_base == 1.0 && chosen_unit->to_base != 1.0)))
		{
			chosen = c->uom;
			chosen_unit = c->unit;
			mult = caller->to_base / c->unit->to_base;
		}
	}
	if (chosen == NULL)
	{
		if (caller == NULL)
			RequireUnit(unit);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity \"%s\" has no factor that can take a quantity in \"%s\" (%s)",
						act->key, unit, caller->dimension),
				 errdetail("Factor set %d publishes it per %s%s%s.", set_id, uoms.data,
						   basis[0] ? " with basis " : "", basis[0] ? basis : ""),
				 errhint("Convert the quantity to one of those units first.")));
	}

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ncand; i++)
	{
		Candidate *c = &cands[i];
		int		   g;

		if (strcmp(c->uom, chosen) != 0 || (basis[0] && c->basis[0] && strcmp(basis, c->basis) != 0))
			continue;
		g = GasIndex(c->gas);
		if (out->has[g])
		{
			if (out->kg[g] != c->value * mult)
				ereport(ERROR,
						(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
						 errmsg("activity \"%s\" matches more than one %s factor per \"%s\" in factor set %d",
								act->key, c->gas, chosen, set_id),
						 errdetail("One of them is %s.", c->path),
						 errhint("Narrow the path of the activity in car.activity.")));
			continue;
		}
		out->has[g] = true;
		out->kg[g] = c->value * mult;
		if (g == CAR_GAS_CO2E)
		{
			out->factor_id = c->id;
			out->factor_value = MemoryContextStrdup(CacheCxt, c->value_text);
			out->factor_uom = MemoryContextStrdup(CacheCxt, c->uom);
			out->scope = ScopeNumber(c->scope);
		}
	}
	car_spi_finish(pin);
	if (!out->has[CAR_GAS_CO2E])
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("activity \"%s\" has no kg CO2e factor per \"%s\" in factor set %d",
						act->key, chosen, set_id)));
}

/*
 * What one published factor group gives per unit of the caller's quantity,
 * into *out, its strings copied into the caller's memory context: the cache
 * may be refilled before the caller is done with them.
 */
void
car_resolve(const char *activity, const char *unit, int set_id, ResolvedFactor *out)
{
	ResolveEntry *e;

	for (;;)
	{
		ResolveKey	   key;
		ActivityEntry *act;
		ResolvedFactor f;
		uint64		   gen;
		bool		   found;

		EnsureCache();
		RequireFits("activity", activity);
		RequireFits("unit", unit);
		memset(&key, 0, sizeof(key));
		key.set_id = set_id;
		strlcpy(key.activity, activity, sizeof(key.activity));
		unit_normalise(unit, key.unit, sizeof(key.unit));
		e = hash_search(resolved, &key, HASH_FIND, NULL);
		if (e)
			break;

		gen = car_cache_generation;
		act = RequireActivity(activity);
		ComputeResolution(act, unit, set_id, &f);
		if (gen != car_cache_generation)
			continue; /* the catalogue changed under us: start again */
		e = hash_search(resolved, &key, HASH_ENTER, &found);
		e->f = f;
		break;
	}
	*out = e->f;
	out->factor_value = pstrdup(e->f.factor_value);
	out->factor_uom = pstrdup(e->f.factor_uom);
}
