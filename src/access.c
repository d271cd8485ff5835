/*
 * access.c
 *		Who sees which rows: the functions behind car's row-level security
 *		policies, the token-taking report functions for BI tools, and the
 *		token gate of the push API.
 *
 * A session sees the sites its verified claims grant; all of them with an
 * "admin": true claim, or as a member of car_admin, car_ingest (and so the
 * worker role) or car_auditor (administrators, loaders and auditors are
 * trusted roles); nothing otherwise.  The claims:
 *	"org" / "orgs"	an organisation, or several: their sites;
 *	"sites"			site ids (numbers) or names (strings).  With an org, it
 *					narrows the org's sites to those listed: a name matches
 *					only a site of the token's own organisations, never
 *					another organisation's site of the same name.  Without
 *					an org it names sites by id only (names grant nothing).
 * Sources and their files are an organisation's: a token sees those of its
 * orgs, unless a "sites" claim narrows it to some sites (a file may hold
 * other sites' readings).
 * Superusers and the tables' owner are not subject to row-level security.
 *
 * Policies call car.site_visible(id) and friends once per row, so each
 * keeps, for the query it serves (fn_extra), the sorted ids visible under
 * the current claims and role; a row costs one binary search.  The ids are
 * read as the tables' owner: the policies' own tables must not be filtered
 * while working out the filter.
 */
#include "car.h"

#include "access/tupconvert.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_site_visible);
PG_FUNCTION_INFO_V1(car_meter_visible);
PG_FUNCTION_INFO_V1(car_source_visible);
PG_FUNCTION_INFO_V1(car_org_visible);
PG_FUNCTION_INFO_V1(car_site_visible_on);
PG_FUNCTION_INFO_V1(car_meter_visible_at);
PG_FUNCTION_INFO_V1(car_site_visible_as);
PG_FUNCTION_INFO_V1(car_report_for);
PG_FUNCTION_INFO_V1(car_check_push_token);

/* Set while a token-taking function runs: the token alone decides, not the role. */
static bool token_scope = false;

typedef enum Kind
{
	KIND_SITE,
	KIND_METER,
	KIND_SOURCE
} Kind;

typedef struct Visible
{
	uint64 generation; /* car_claims_generation it was built under */
	Oid	   userid;
	bool   token_scope;
	bool   all;
	int	   n;
	int32 *ids;	 /* sorted */
	char **orgs; /* sites: each one's present owner (or NULL), as ids */
} Visible;

/* The claim's strings (a string, or an array's strings) and numbers. */
static void
ClaimValues(Jsonb *claims, const char *name, ArrayBuildState **strings, ArrayBuildState **numbers)
{
	JsonbValue		  *v = car_jsonb_field(claims, name);
	JsonbIterator	  *it;
	JsonbValue		   elem;
	JsonbIteratorToken tok;

	if (v == NULL)
		return;
	if (v->type == jbvString)
	{
		*strings = accumArrayResult(*strings, PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len)),
									false, TEXTOID, CurrentMemoryContext);
		return;
	}
	if (v->type == jbvNumeric)
	{
		*numbers = accumArrayResult(*numbers, DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)), false,
									INT4OID, CurrentMemoryContext);
		return;
	}
	if (v->type != jbvBinary)
		return;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type == jbvString)
			*strings = accumArrayResult(*strings,
										PointerGetDatum(cstring_to_text_with_len(elem.val.string.val, elem.val.string.len)),
										false, TEXTOID, CurrentMemoryContext);
		else if (elem.type == jbvNumeric)
			*numbers = accumArrayResult(*numbers, DirectFunctionCall1(numeric_int4, NumericGetDatum(elem.val.numeric)),
										false, INT4OID, CurrentMemoryContext);
	}
}

static bool
ClaimIsTrue(Jsonb *claims, const char *name)
{
	JsonbValue *v = car_jsonb_field(claims, name);

	return v != NULL && v->type == jbvBool && v->val.boolean;
}

static bool
MemberOf(const char *role)
{
	Oid roleid = get_role_oid(role, true);

	return OidIsValid(roleid) && has_privs_of_role(GetUserId(), roleid);
}

/*
 * Whether the current role sees every organisation and site: a superuser
 * (as row-level security lets it, whether or not car.grant_roles() has made
 * car's roles yet), or a member of car_admin, car_ingest or car_auditor.
 */
static bool
SeesAll(void)
{
	return superuser() || MemberOf("car_admin") || MemberOf("car_ingest") || MemberOf("car_auditor");
}

static Datum
ArrayOrEmpty(ArrayBuildState *s, Oid elemtype)
{
	if (s == NULL)
		return PointerGetDatum(construct_empty_array(elemtype));
	return makeArrayResult(s, CurrentMemoryContext);
}

static int
CmpInt32(const void *a, const void *b)
{
	int32 x = *(const int32 *) a,
		  y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

typedef struct VisibleJob
{
	const char	 *query;
	int			  nargs;
	Datum		  vals[3];
	Visible		 *vis;
	MemoryContext cxt;
} VisibleJob;

/* The ids the claims grant (run as the tables' owner: unfiltered). */
typedef struct SiteOwner
{
	int32 id;
	char *org;
} SiteOwner;

static int
CmpSiteOwner(const void *a, const void *b)
{
	return CmpInt32(&((const SiteOwner *) a)->id, &((const SiteOwner *) b)->id);
}

static void
ReadVisibleIds(void *arg)
{
	int			pin;
	VisibleJob *job = arg;
	Oid			types[3] = {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	uint64		i;
	SiteOwner  *owners = NULL;

	pin = car_spi_connect();
	if (SPI_execute_with_args(job->query, job->nargs, types, job->vals, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not work out the visible rows");
	job->vis->ids = MemoryContextAlloc(job->cxt, sizeof(int32) * Max(SPI_processed, 1));
	if (SPI_tuptable->tupdesc->natts >= 2)
	{
		owners = palloc(sizeof(SiteOwner) * Max(SPI_processed, 1));
		job->vis->orgs = MemoryContextAlloc(job->cxt, sizeof(char *) * Max(SPI_processed, 1));
	}
	for (i = 0; i < SPI_processed; i++)
	{
		bool  isnull;
		int32 id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (owners != NULL)
		{
			char *org = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

			owners[i].id = id;
			owners[i].org = org ? MemoryContextStrdup(job->cxt, org) : NULL;
		}
		job->vis->ids[job->vis->n++] = id;
	}
	if (owners != NULL)
	{
		/* sorted here, with their owners */
		qsort(owners, job->vis->n, sizeof(SiteOwner), CmpSiteOwner);
		for (i = 0; i < (uint64) job->vis->n; i++)
		{
			job->vis->ids[i] = owners[i].id;
			job->vis->orgs[i] = owners[i].org;
		}
	}
	car_spi_finish(pin);
}

/*
 * The queries that list what the claims grant: $1 the orgs, $2 site ids,
 * $3 site names.  They run as the tables' owner (car_as_table_owner pins
 * the search_path) and name their operators, so nothing of the caller's
 * runs with the owner's rights.
 */
#define SITE_ORGS	"s.org OPERATOR(pg_catalog.=) ANY ($1)"
#define SITE_LISTED "(s.id OPERATOR(pg_catalog.=) ANY ($2) OR s.name OPERATOR(pg_catalog.=) ANY ($3))"
#define SITE_IDS	"s.id OPERATOR(pg_catalog.=) ANY ($2)"
#define FROM_SITES	"SELECT s.id, s.org FROM car.site s WHERE "
#define FROM_METERS "SELECT m.id FROM car.meter m JOIN car.site s ON s.id OPERATOR(pg_catalog.=) m.site_id WHERE "

/*
 * Whether the claims need no reading: true with *all set for a session that
 * sees everything (a role that does, outside a token's scope, or the admin
 * claim), true with *all false for one without claims; false otherwise.
 */
static bool
SeesAllOrNothing(bool token_scope, Jsonb *claims, bool *all)
{
	*all = (!token_scope && SeesAll()) || (claims != NULL && ClaimIsTrue(claims, "admin"));
	return *all || claims == NULL;
}

/* What the claims grant, as the queries' parameters. */
typedef struct Scope
{
	bool			 all;		/* sees everything */
	bool			 none;		/* no claims: sees nothing */
	bool			 has_sites; /* a "sites" claim narrows the orgs */
	ArrayBuildState *orgs;
	ArrayBuildState *ids;
	ArrayBuildState *names;
} Scope;

static void
ReadScope(Scope *sc)
{
	Jsonb			*claims = car_current_claims();
	ArrayBuildState *junk = NULL;

	memset(sc, 0, sizeof(Scope));
	if (SeesAllOrNothing(token_scope, claims, &sc->all))
	{
		sc->none = !sc->all;
		return;
	}
	ClaimValues(claims, "org", &sc->orgs, &junk);
	ClaimValues(claims, "orgs", &sc->orgs, &junk);
	sc->has_sites = car_jsonb_field(claims, "sites") != NULL;
	ClaimValues(claims, "sites", &sc->names, &sc->ids);
}

/* The condition on car.site s for the sites the claims grant today, or NULL for none. */
static const char *
SiteCondition(const Scope *sc)
{
	if (sc->orgs == NULL)
		return sc->ids != NULL ? SITE_IDS : NULL;
	return sc->has_sites ? SITE_ORGS " AND " SITE_LISTED : SITE_ORGS;
}

/* The queries' parameters $1 (orgs), $2 (site ids), $3 (site names). */
static void
ScopeArgs(const Scope *sc, Datum *vals)
{
	vals[0] = ArrayOrEmpty(sc->orgs, TEXTOID);
	vals[1] = ArrayOrEmpty(sc->ids, INT4OID);
	vals[2] = ArrayOrEmpty(sc->names, TEXTOID);
}

/* Whether a cache was built under other claims, another role or scope. */
static bool
Stale(uint64 generation, Oid userid, bool scope)
{
	return generation != car_claims_generation || userid != GetUserId() || scope != token_scope;
}

static void
Build(Visible *vis, Kind kind, MemoryContext cxt)
{
	Scope		sc;
	VisibleJob	job;
	const char *where;

	vis->generation = car_claims_generation;
	vis->userid = GetUserId();
	vis->token_scope = token_scope;
	vis->n = 0;
	vis->orgs = NULL;
	ReadScope(&sc);
	vis->all = sc.all;
	if (sc.all || sc.none)
		return;
	if (kind == KIND_SOURCE)
		where = sc.orgs != NULL && !sc.has_sites ? "" : NULL;
	else
		where = SiteCondition(&sc);
	if (where == NULL)
		return;

	job.query = kind == KIND_SOURCE ? "SELECT id FROM car.source WHERE options OPERATOR(pg_catalog.->>) 'org' "
									  "OPERATOR(pg_catalog.=) ANY ($1)"
									: psprintf("%s%s", kind == KIND_SITE ? FROM_SITES : FROM_METERS, where);
	job.nargs = kind == KIND_SOURCE ? 1 : 3;
	job.vis = vis;
	job.cxt = cxt;
	ScopeArgs(&sc, job.vals);
	car_as_table_owner("site", ReadVisibleIds, &job);
	if (vis->orgs == NULL)
		qsort(vis->ids, vis->n, sizeof(int32), CmpInt32);
}

static bool
IsVisible(FunctionCallInfo fcinfo, Kind kind)
{
	Visible *vis = fcinfo->flinfo->fn_extra;
	int32	 id;

	if (PG_ARGISNULL(0))
		return false;
	id = PG_GETARG_INT32(0);
	if (vis == NULL)
		vis = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(Visible));
	if (Stale(vis->generation, vis->userid, vis->token_scope))
		Build(vis, kind, fcinfo->flinfo->fn_mcxt);
	if (vis->all)
		return true;
	return vis->n > 0 && bsearch(&id, vis->ids, vis->n, sizeof(int32), CmpInt32) != NULL;
}

/*
 * Organisations: an organisation's own figures (period closes, targets,
 * normalisers, baselines) are visible to a session whose claims grant the
 * organisation without narrowing it to some of its sites (an org-wide
 * figure would tell a site-level token about the other sites), and to the
 * roles and admin claim that see everything.
 */
typedef struct OrgVisible
{
	uint64 generation;
	Oid	   userid;
	bool   token_scope;
	bool   all;
	int	   n;
	char **orgs;
} OrgVisible;

static void
BuildOrgs(OrgVisible *vis, MemoryContext cxt)
{
	Jsonb			*claims = car_current_claims();
	ArrayBuildState *orgs = NULL,
					*junk = NULL;
	int i;

	vis->generation = car_claims_generation;
	vis->userid = GetUserId();
	vis->token_scope = token_scope;
	vis->n = 0;
	if (SeesAllOrNothing(token_scope, claims, &vis->all))
		return;
	if (car_jsonb_field(claims, "sites") != NULL)
		return;
	ClaimValues(claims, "org", &orgs, &junk);
	ClaimValues(claims, "orgs", &orgs, &junk);
	if (orgs == NULL)
		return;
	vis->orgs = MemoryContextAlloc(cxt, sizeof(char *) * orgs->nelems);
	for (i = 0; i < orgs->nelems; i++)
		vis->orgs[vis->n++] = MemoryContextStrdup(cxt, TextDatumGetCString(orgs->dvalues[i]));
}

static bool
OrgIsVisible(OrgVisible **cache, MemoryContext cxt, const char *org)
{
	OrgVisible *vis = *cache;
	int			i;

	if (vis == NULL)
		vis = *cache = MemoryContextAllocZero(cxt, sizeof(OrgVisible));
	if (Stale(vis->generation, vis->userid, vis->token_scope))
		BuildOrgs(vis, cxt);
	if (vis->all)
		return true;
	for (i = 0; i < vis->n; i++)
		if (strcmp(vis->orgs[i], org) == 0)
			return true;
	return false;
}

/* car.org_visible(org text) → boolean */
Datum
car_org_visible(PG_FUNCTION_ARGS)
{
	char *org;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	org = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PG_RETURN_BOOL(OrgIsVisible((OrgVisible **) &fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, org));
}

/* For car's C code: may this session see the organisation's own figures? (*cache NULL at first) */
bool
car_org_is_visible(void **cache, MemoryContext cxt, const char *org)
{
	return OrgIsVisible((OrgVisible **) cache, cxt, org);
}

/* car.site_visible(site_id int) → boolean */
Datum
car_site_visible(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IsVisible(fcinfo, KIND_SITE));
}

/* car.meter_visible(meter_id int) → boolean */
Datum
car_meter_visible(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IsVisible(fcinfo, KIND_METER));
}

/* car.source_visible(source_id int) → boolean */
Datum
car_source_visible(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IsVisible(fcinfo, KIND_SOURCE));
}

/*
 * A site's earlier owners.  Row-level security lets all of a site's rows
 * through for its present owner: the GGC baseline follows a site to the body
 * that has it now (car.site_org, car.transfer_site).  The days another body
 * owned the site are that body's figures as well, so a session whose claims
 * grant that body sees the site's rows of those days: its car.emission_daily
 * rows by UK day, its car.reading rows by the instant, and the site and its
 * meters themselves.
 *
 * Former keeps, for the query it serves, those periods of ownership: the
 * car.site_org rows of an organisation other than the site's present one
 * that the claims grant (org, orgs; narrowed by sites as for present
 * sites), by site or by meter, sorted by id.  A session that sees
 * everything, or a token without organisations, has none.
 */
typedef struct Span
{
	int32		id;		 /* site or meter */
	DateADT		from;	 /* first UK day */
	DateADT		to;		 /* last UK day */
	TimestampTz from_ts; /* the first day's start in UK time */
	TimestampTz to_ts;	 /* the day after the last one's start (excluded) */
	char	   *org;	 /* the owner over the period */
} Span;

typedef struct Former
{
	uint64 generation;
	Oid	   userid;
	bool   token_scope;
	int	   n;
	Span  *spans; /* sorted by id */
} Former;

/* What a day-aware policy function keeps per query. */
typedef struct DayVisible
{
	Visible vis;
	Former	former;
} DayVisible;

typedef struct FormerJob
{
	const char	 *query;
	Datum		  vals[3];
	Former		 *former;
	MemoryContext cxt;
} FormerJob;

static int
CmpSpanId(const void *a, const void *b)
{
	return CmpInt32(&((const Span *) a)->id, &((const Span *) b)->id);
}

/* By site or meter, then by first day (a site's periods do not overlap). */
static int
CmpSpan(const void *a, const void *b)
{
	const Span *x = a,
			   *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->from < y->from ? -1 : x->from > y->from;
}

static void
ReadFormer(void *arg)
{
	int		   pin;
	FormerJob *job = arg;
	Oid		   types[3] = {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	uint64	   i;

	pin = car_spi_connect();
	if (SPI_execute_with_args(job->query, 3, types, job->vals, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "car: could not work out the visible rows");
	job->former->spans = MemoryContextAlloc(job->cxt, sizeof(Span) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple t = SPI_tuptable->vals[i];
		TupleDesc d = SPI_tuptable->tupdesc;
		Span	 *sp = &job->former->spans[job->former->n++];
		bool	  isnull;

		sp->id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		sp->from = DatumGetDateADT(SPI_getbinval(t, d, 2, &isnull));
		sp->to = DatumGetDateADT(SPI_getbinval(t, d, 3, &isnull));
		sp->from_ts = DatumGetTimestampTz(SPI_getbinval(t, d, 4, &isnull));
		sp->to_ts = DatumGetTimestampTz(SPI_getbinval(t, d, 5, &isnull));
		sp->org = MemoryContextStrdup(job->cxt, SPI_getvalue(t, d, 6));
	}
	car_spi_finish(pin);
}

/*
 * The earlier owners' periods the claims grant: $1 the orgs, $2 and $3 the
 * sites listed.  Bounds in UK time: a period's last day runs to the next
 * day's start (an open period to infinity).
 */
#define FORMER_SELECT                                                                                           \
	"SELECT %s, so.valid_from, coalesce(so.valid_to, 'infinity'::date), "                                       \
	"pg_catalog.timezone('Europe/London', so.valid_from::timestamp), "                                          \
	"CASE WHEN so.valid_to IS NULL THEN 'infinity'::timestamptz "                                               \
	"ELSE pg_catalog.timezone('Europe/London', (so.valid_to OPERATOR(pg_catalog.+) 1)::timestamp) END, so.org " \
	"FROM car.site_org so JOIN car.site s ON s.id OPERATOR(pg_catalog.=) so.site_id %s"                         \
	"WHERE so.org OPERATOR(pg_catalog.<>) s.org AND so.org OPERATOR(pg_catalog.=) ANY ($1)%s"

static void
BuildFormer(Former *former, Kind kind, MemoryContext cxt)
{
	Scope	  sc;
	FormerJob job;

	former->generation = car_claims_generation;
	former->userid = GetUserId();
	former->token_scope = token_scope;
	former->n = 0;
	ReadScope(&sc);
	if (sc.all || sc.none || sc.orgs == NULL)
		return;
	job.query = psprintf(FORMER_SELECT, kind == KIND_METER ? "m.id" : "s.id",
						 kind == KIND_METER ? "JOIN car.meter m ON m.site_id OPERATOR(pg_catalog.=) s.id " : "",
						 sc.has_sites ? " AND " SITE_IDS : "");
	job.former = former;
	job.cxt = cxt;
	ScopeArgs(&sc, job.vals);
	car_as_table_owner("site", ReadFormer, &job);
	qsort(former->spans, former->n, sizeof(Span), CmpSpan);
}

/* The first of id's spans, or NULL. */
static Span *
FirstSpan(Former *former, int32 id)
{
	Span  key;
	Span *sp;

	if (former->n == 0)
		return NULL;
	key.id = id;
	sp = bsearch(&key, former->spans, former->n, sizeof(Span), CmpSpanId);
	while (sp != NULL && sp > former->spans && sp[-1].id == id)
		sp--;
	return sp;
}

/*
 * Whether one of id's periods holds the UK day (or, by_ts, the instant): one
 * binary search for the last period of id starting on or before it (the
 * spans are in order of id, then first day; a site's periods do not overlap).
 */
static bool
SpanCovers(Former *former, int32 id, bool by_ts, DateADT day, TimestampTz ts)
{
	int lo = 0,
		hi = former->n;
	Span *sp;

	while (lo < hi)
	{
		int	  mid = lo + (hi - lo) / 2;
		Span *m = &former->spans[mid];
		bool  not_after = m->id < id || (m->id == id && (by_ts ? m->from_ts <= ts : m->from <= day));

		if (not_after)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	sp = &former->spans[lo - 1];
	return sp->id == id && (by_ts ? ts < sp->to_ts : day <= sp->to);
}

/* The day-aware cache in *slot (NULL at first), built or rebuilt as needed. */
static DayVisible *
DayCache(void **slot, MemoryContext cxt, Kind kind)
{
	DayVisible *dv = *slot;

	if (dv == NULL)
		dv = *slot = MemoryContextAllocZero(cxt, sizeof(DayVisible));
	if (Stale(dv->vis.generation, dv->vis.userid, dv->vis.token_scope))
		Build(&dv->vis, kind, cxt);
	if (Stale(dv->former.generation, dv->former.userid, dv->former.token_scope))
		BuildFormer(&dv->former, kind, cxt);
	return dv;
}

static bool
InVisible(Visible *vis, int32 id)
{
	return vis->all || (vis->n > 0 && bsearch(&id, vis->ids, vis->n, sizeof(int32), CmpInt32) != NULL);
}

/*
 * car.site_visible_on(site_id int, day date) → boolean: whether this session
 * may see the site's figures of a UK day (any of its days when day is NULL).
 */
Datum
car_site_visible_on(PG_FUNCTION_ARGS)
{
	DayVisible *dv;
	int32		id;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	id = PG_GETARG_INT32(0);
	dv = DayCache(&fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, KIND_SITE);
	if (InVisible(&dv->vis, id))
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(FirstSpan(&dv->former, id) != NULL);
	PG_RETURN_BOOL(SpanCovers(&dv->former, id, false, PG_GETARG_DATEADT(1), 0));
}

/*
 * car.meter_visible_at(meter_id int, ts timestamptz) → boolean: whether this
 * session may see the meter's reading of that instant.
 */
Datum
car_meter_visible_at(PG_FUNCTION_ARGS)
{
	DayVisible *dv;
	int32		id;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	id = PG_GETARG_INT32(0);
	dv = DayCache(&fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, KIND_METER);
	if (InVisible(&dv->vis, id))
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(SpanCovers(&dv->former, id, true, 0, PG_GETARG_TIMESTAMPTZ(1)));
}

/*
 * Whether the session may see a site's figures of the days an organisation
 * owned it: the present owner's through the site's visibility, an earlier
 * owner's through Former (NULL org: days no body owned the site, as the
 * present owner's).
 */
static bool
SiteOrgVisible(DayVisible *dv, int32 site, const char *org)
{
	int32 *hit;
	Span  *sp;

	if (dv->vis.all)
		return true;
	hit = dv->vis.n > 0 ? bsearch(&site, dv->vis.ids, dv->vis.n, sizeof(int32), CmpInt32) : NULL;
	if (org == NULL)
		return hit != NULL;
	if (hit != NULL && dv->vis.orgs != NULL)
	{
		const char *present = dv->vis.orgs[hit - dv->vis.ids];

		if (present != NULL && strcmp(present, org) == 0)
			return true;
	}
	for (sp = FirstSpan(&dv->former, site); sp != NULL && sp < dv->former.spans + dv->former.n && sp->id == site; sp++)
		if (strcmp(sp->org, org) == 0)
			return true;
	return false;
}

/*
 * car.site_visible_as(site_id int, org text) → boolean: whether this session
 * may see the site's figures of the days org owned it.
 */
Datum
car_site_visible_as(PG_FUNCTION_ARGS)
{
	DayVisible *dv;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	dv = DayCache(&fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, KIND_SITE);
	PG_RETURN_BOOL(SiteOrgVisible(dv, PG_GETARG_INT32(0), PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/* For car's C code: car.site_visible_as (*cache NULL at first). */
bool
car_site_org_is_visible(void **cache, MemoryContext cxt, int32 site_id, const char *org)
{
	return SiteOrgVisible(DayCache(cache, cxt, KIND_SITE), site_id, org);
}

/* For car's C code: car.site_visible_on with a day (*cache NULL at first). */
bool
car_site_day_is_visible(void **cache, MemoryContext cxt, int32 site_id, int32 day)
{
	DayVisible *dv = DayCache(cache, cxt, KIND_SITE);

	return InVisible(&dv->vis, site_id) || SpanCovers(&dv->former, site_id, false, day, 0);
}

/*
 * car.report_monthly_for(token) and friends: the report as the token's
 * claims allow, for BI tools that cannot run a login statement first (a
 * Metabase native question with a locked parameter, a Looker derived table
 * with a user attribute).  The view's rows are filtered explicitly too, so
 * the token restricts even a caller that row-level security lets see all.
 */
Datum
car_report_for(PG_FUNCTION_ARGS)
{
	int			   pin;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char		  *view = text_to_cstring(PG_GETARG_TEXT_PP(1));
	void		  *saved;
	const char	  *filter = "car.site_visible_as(site_id, organisation)";

	if (strcmp(view, "report_ggc") == 0 || strcmp(view, "report_target") == 0 || strcmp(view, "report_normalised") == 0)
		filter = "car.org_visible(organisation)"; /* an organisation's own figures */
	else if (strcmp(view, "report_monthly") != 0 && strcmp(view, "report_yearly") != 0 &&
			 strcmp(view, "report_scope") != 0 && strcmp(view, "report_intensity") != 0 &&
			 strcmp(view, "report_scope2") != 0)
		elog(ERROR, "car: no report %s", view);
	InitMaterializedSRF(fcinfo, 0);

	saved = car_enter_token_scope(PG_GETARG_TEXT_PP(0));
	token_scope = true;
	PG_TRY();
	{
		uint64 i;

		TupleConversionMap *map;

		pin = car_spi_connect();
		if (SPI_execute(psprintf("SELECT * FROM car.%s WHERE %s", view, filter), true, 0) != SPI_OK_SELECT)
			elog(ERROR, "car: could not read car.%s", view);
		/* the caller's column list must be the view's: its types, in its order */
		map = convert_tuples_by_position(SPI_tuptable->tupdesc, rsinfo->setDesc,
										 psprintf("the columns asked of car.%s are not its columns", view));
		for (i = 0; i < SPI_processed; i++)
			tuplestore_puttuple(rsinfo->setResult,
								map ? execute_attr_map_tuple(SPI_tuptable->vals[i], map) : SPI_tuptable->vals[i]);
		car_spi_finish(pin);
	}
	PG_FINALLY();
	{
		token_scope = false;
		car_leave_token_scope(saved);
	}
	PG_END_TRY();
	return (Datum) 0;
}

typedef struct OrgJob
{
	const char	 *source;
	bool		  found;
	char		 *org;
	MemoryContext cxt;
} OrgJob;

static void
ReadSourceOrg(void *arg)
{
	int		pin;
	OrgJob *job = arg;
	Oid		types[1] = {TEXTOID};
	Datum	vals[1] = {CStringGetTextDatum(job->source)};

	pin = car_spi_connect();
	if (SPI_execute_with_args("SELECT options OPERATOR(pg_catalog.->>) 'org', kind FROM car.source "
							  "WHERE name OPERATOR(pg_catalog.=) $1",
							  1, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "car: could not read car.source");
	if (SPI_processed == 1)
	{
		char *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		job->found = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "push") == 0;
		job->org = v ? MemoryContextStrdup(job->cxt, v) : NULL;
	}
	car_spi_finish(pin);
}

/*
 * car.check_push_token(token, source): the gate of car.push(token, ...).
 * The token must carry the scope "push" ("scope": "... push ...", or
 * "scp": [..., "push"]) and grant the source's organisation (or be admin).
 * A source that is not there, is not a push source, or is another
 * organisation's gets one and the same refusal: the gate tells a token
 * nothing about sources it may not push to.
 */
Datum
car_check_push_token(PG_FUNCTION_ARGS)
{
	Jsonb			*claims = car_verify_token(PG_GETARG_TEXT_PP(0));
	char			*source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ArrayBuildState *scopes = NULL,
					*orgs = NULL,
					*junk = NULL;
	bool   can_push = false;
	OrgJob org_job;

	ClaimValues(claims, "scp", &scopes, &junk);
	{
		JsonbValue *v = car_jsonb_field(claims, "scope");

		if (v != NULL && v->type == jbvString)
		{
			char *s = pnstrdup(v->val.string.val, v->val.string.len);
			char *save;
			char *w;

			for (w = strtok_r(s, " ", &save); w; w = strtok_r(NULL, " ", &save))
				if (strcmp(w, "push") == 0)
					can_push = true;
		}
	}
	if (scopes != NULL)
	{
		int i;

		for (i = 0; i < scopes->nelems; i++)
			if (strcmp(TextDatumGetCString(scopes->dvalues[i]), "push") == 0)
				can_push = true;
	}
	if (!can_push)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("the token does not grant the scope \"push\"")));

	/* the source's organisation, read as the table's owner */
	org_job.source = source;
	org_job.found = false;
	org_job.org = NULL;
	org_job.cxt = CurrentMemoryContext;
	car_as_table_owner("source", ReadSourceOrg, &org_job);
	if (org_job.found && ClaimIsTrue(claims, "admin"))
		PG_RETURN_VOID();
	ClaimValues(claims, "org", &orgs, &junk);
	ClaimValues(claims, "orgs", &orgs, &junk);
	if (org_job.found && org_job.org != NULL && orgs != NULL)
	{
		int i;

		for (i = 0; i < orgs->nelems; i++)
			if (strcmp(TextDatumGetCString(orgs->dvalues[i]), org_job.org) == 0)
				PG_RETURN_VOID();
	}
	ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					errmsg("the token does not allow pushing to source \"%s\"", source),
					errhint("A push token names its organisation (org or orgs) and the push sources are its "
							"organisation's.")));
}
