/*
 * util.c
 *		Small backend helpers shared by car's files.
 */
#include "car.h"

#include <math.h>
#include "utils/syscache.h"
#include "utils/lsyscache.h"
#include "miscadmin.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "executor/spi.h"

#include "access/xact.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/resowner.h"

/* Hex SHA-256 of data; hex must hold 65 bytes. */
void
car_sha256_hex(const char *data, size_t len, char *hex)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8			   digest[PG_SHA256_DIGEST_LENGTH];
	int				   i;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 || pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
}

/*
 * The SQLSTATE for a pure reader's failure: a file past one of the readers'
 * caps or budgets is a limit exceeded (54000), one they could not allocate
 * for is out of memory, and anything else what the caller says of a bad file.
 */
int
car_read_errcode(ReadError kind, int malformed)
{
	switch (kind)
	{
		case READ_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case READ_NO_MEMORY:
			return ERRCODE_OUT_OF_MEMORY;
		default:
			return malformed;
	}
}

/*
 * Run fn(arg) in a subtransaction.  Returns true when it completed; false
 * when it failed with one of the SQLSTATEs tolerated (its work is rolled
 * back, the caller's transaction goes on); any other error is re-thrown.
 */
bool
car_try_subxact_codes(void (*fn)(void *arg), void *arg, const int *codes, int ncodes, char **message)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool done = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		done = true;
	}
	PG_CATCH();
	{
		ErrorData *edata;
		int		   i;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		for (i = 0; i < ncodes && edata->sqlerrcode != codes[i]; i++)
			;
		if (i == ncodes)
			ReThrowError(edata);
		if (message != NULL)
			*message = pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return done;
}

bool
car_try_subxact(void (*fn)(void *arg), void *arg, int tolerated, int tolerated2)
{
	int codes[2] = {tolerated, tolerated2};

	return car_try_subxact_codes(fn, arg, codes, 2, NULL);
}

/*
 * The bytes of a text file as UTF-8.  UTF-16 with a byte-order mark is left
 * for the CSV reader to transcode; valid UTF-8 is used as is; anything else
 * is read as Windows-1252, what Excel's "CSV" export writes on Windows.
 * Returns NULL for binary data (NUL bytes outside UTF-16).
 */
const char *
car_text_as_utf8(const char *data, size_t len, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *) data;
	char				*conv;

	*outlen = len;
	if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
		return data;
	if (memchr(data, '\0', len) != NULL)
		return NULL;
	if (pg_verify_mbstr(PG_UTF8, data, (int) len, true))
		return data;
	conv = (char *) pg_do_encoding_conversion((unsigned char *) data, (int) len, PG_WIN1252, PG_UTF8);
	*outlen = strlen(conv);
	return conv;
}

/*
 * Pin search_path to pg_catalog, pg_temp until car_unpin_search_path(level)
 * (or the end of the (sub)transaction, which undoes it on error), as a
 * SECURITY DEFINER function's SET clause does: NewGUCNestLevel, a SAVE
 * action, AtEOXact_GUC.  Functions, operators and types named without a
 * schema in car's SQL are then pg_catalog's (they are never looked up in
 * pg_temp), whatever schema a caller put first on its search_path: a schema
 * of a role's own, listed before pg_catalog, cannot lend car's statements
 * its = or lower(), nor the statements of the triggers and functions they
 * fire.  Returns the level to pass back.
 */
int
car_pin_search_path(void)
{
	int level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
							 0, false);
	return level;
}

/* The caller's search_path again (and whatever else was saved at level). */
void
car_unpin_search_path(int level)
{
	AtEOXact_GUC(true, level);
}

/*
 * SPI_connect for car's own statements, with search_path pinned
 * (car_pin_search_path) until car_spi_finish: every SPI connection car
 * opens goes through here, so no statement car runs, as the caller or as
 * another role, resolves a name against the caller's search_path.  Returns
 * what car_spi_finish takes.
 */
int
car_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "car: SPI_connect failed");
	return car_pin_search_path();
}

/* SPI_finish, and the search_path car_spi_connect pinned undone. */
void
car_spi_finish(int level)
{
	car_unpin_search_path(level);
	SPI_finish();
}

/*
 * Run fn(arg) as the owner of car.<table>, as a restricted operation: for
 * reading what callers must not read themselves (keys) or must read whole
 * although row-level security filters it for them (the policies' lookups),
 * for writing what no role may write but through car (landed files and
 * their quarantined rows), and for the partition DDL.  Whatever runs under
 * it resolves names with search_path = pg_catalog, pg_temp
 * (car_pin_search_path), so that nothing the caller defined (an operator in
 * a schema of theirs put first on their search_path) runs with the owner's
 * rights; the SQL run under it also names its operators
 * (OPERATOR(pg_catalog.=)).
 */
void
car_as_table_owner(const char *table, void (*fn)(void *arg), void *arg)
{
	Oid		  relid = get_relname_relid(table, get_namespace_oid("car", false));
	HeapTuple tup;
	Oid		  owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "car.%s is missing", table);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	car_as_role(owner, fn, arg);
}

/* Run fn(arg) as role, as car_as_table_owner does: a restricted operation, search_path pinned. */
void
car_as_role(Oid role, void (*fn)(void *arg), void *arg)
{
	Oid save_userid;
	int save_sec;
	int save_nestlevel;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = car_pin_search_path();
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		/* the (sub)transaction's abort undoes the setting, as for SECURITY DEFINER functions */
		SetUserIdAndSecContext(save_userid, save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	car_unpin_search_path(save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * v, when it is a finite number; otherwise an error saying what overflowed
 * (what), so that no Infinity or NaN reaches a table or a report.
 */
double
car_finite(double v, const char *what)
{
	if (isinf(v) || isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value out of range: %s is not a finite number", what),
				 errhint("Check the quantity and its unit: the result overflows a double-precision number.")));
	return v;
}

/*
 * Is car.<name> there?  A database still at an older car (until ALTER
 * EXTENSION car UPDATE) lacks what later versions added, and this library
 * works with it meanwhile, without those parts.
 */
bool
car_has_relation(const char *name)
{
	Oid nsp = get_namespace_oid("car", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid(name, nsp));
}

/*
 * Whether the database still has car 1.0's tables: a database not yet
 * updated (ALTER EXTENSION car UPDATE) runs this library too, and pushes and
 * refreshes there must keep working.  1.1 added car.reading.quality with the
 * other audit columns.
 */
bool
car_schema_1_0(void)
{
	Oid nsp = get_namespace_oid("car", true);
	Oid rel = OidIsValid(nsp) ? get_relname_relid("reading", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "quality") == InvalidAttrNumber;
}

/*
 * A refresh statement as car 1.0's tables take it: without the audit columns
 * of car.emission_daily, every reading actual (1.0 has no estimates).  The
 * statement itself when the tables are 1.1's.
 */
const char *
car_sql_for_schema(const char *sql)
{
	static const char *const from[] = {
		", quantity_estimated, periods_actual, periods_estimated, file_ids",
		", p.quantity_estimated, p.periods_actual, p.periods_estimated, p.file_ids ",
		"r.quality = 'estimated'", "r.quality = 'actual'", "quality = 'estimated'", "quality = 'actual'",
		/* 1.0 has no car.float8_decimal: 15 digits, still exact sums */
		"car.float8_decimal("};
	static const char *const to[] = {"", " ", "false", "true", "false", "true", "pg_catalog.numeric("};
	char					*out;
	int						 i;

	if (!car_schema_1_0())
		return sql;
	out = pstrdup(sql);
	for (i = 0; i < (int) lengthof(from); i++)
	{
		StringInfoData b;
		const char	  *p = out;
		const char	  *hit;

		initStringInfo(&b);
		while ((hit = strstr(p, from[i])) != NULL)
		{
			appendBinaryStringInfo(&b, p, hit - p);
			appendStringInfoString(&b, to[i]);
			p = hit + strlen(from[i]);
		}
		appendStringInfoString(&b, p);
		pfree(out);
		out = b.data;
	}
	return out;
}

/* The value of member key of a JSON object, or NULL. */
JsonbValue *
car_jsonb_field(Jsonb *j, const char *key)
{
	JsonbValue k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
}
