/*
 * jwt.c
 *		JSON Web Tokens: verification, the session's claims, signing.
 *
 * libjwt 1.10 is loaded with dlopen(RTLD_DEEPBIND) and called through
 * function pointers: linked normally, its jansson would bind to the
 * backend's own json_object() and crash the server.  It checks HS*
 * signatures and signs.  RS* and ES* signatures are checked with OpenSSL's
 * EVP interface against the public key decoded once, when the key cache is
 * filled (libjwt would decode the PEM again on every call).  Neither
 * library decides how to check: that is done here first (jwtparse.c reads
 * the token strictly):
 *	- the key is the one the header's kid names, enabled, in car.jwt_key;
 *	- the header's alg must be the key's pinned algorithm ("none" never is);
 *	- an empty key is never handed to libjwt;
 *	- exp (required unless car.jwt_require_exp = off), nbf and iat are
 *	  checked with car.jwt_leeway, iss and aud against the key's.
 * Every refusal is SQLSTATE 28000 with the reason.
 *
 * Verified claims live in this backend's memory only, never in a setting a
 * user could SET.  authenticate(local => true) drops them when the
 * transaction ends (safe under pgbouncer's transaction pooling); DISCARD
 * ALL and RESET ALL drop them too.  They grant nothing once their token has
 * expired (exp plus car.jwt_leeway) or its key is disabled or deleted.
 *
 * The key cache is filled from car.jwt_key (as its owner) and only marked
 * stale by the relcache callback; lookups hand out copies the caller owns,
 * so a refill never frees what a caller still uses.
 */
#include "car.h"

#include <dlfcn.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "jwtparse.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(car_verify_jwt);
PG_FUNCTION_INFO_V1(car_authenticate);
PG_FUNCTION_INFO_V1(car_claims);
PG_FUNCTION_INFO_V1(car_claim);
PG_FUNCTION_INFO_V1(car_sign_jwt);
PG_FUNCTION_INFO_V1(car_metabase_embed_url);

bool car_jwt_require_exp = true;
int	 car_jwt_leeway = 30;

/* ------------------------------------------------------------ libjwt */

static struct
{
	void *handle;
	int (*decode)(jwt_t **jwt, const char *token, const unsigned char *key, int key_len);
	void (*free)(jwt_t *jwt);
	jwt_alg_t (*get_alg)(jwt_t *jwt);
	int (*new)(jwt_t **jwt);
	int (*set_alg)(jwt_t *jwt, jwt_alg_t alg, const unsigned char *key, int len);
	int (*add_grants_json)(jwt_t *jwt, const char *json);
	int (*add_header)(jwt_t *jwt, const char *header, const char *val);
	char *(*encode_str)(jwt_t *jwt);
} lib;

static void *
Symbol(const char *name)
{
	void *p = dlsym(lib.handle, name);

	if (p == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION), errmsg("libjwt has no symbol %s", name)));
	return p;
}

static void
LoadLibjwt(void)
{
	void *h;

	if (lib.handle != NULL)
		return;
	/* DEEPBIND: libjwt and jansson bind to their own symbols, not the backend's */
	h = dlopen("libjwt.so.0", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE), errmsg("could not load libjwt: %s", dlerror()),
				 errhint("Install it: apt-get install libjwt0.")));
	lib.handle = h;
	PG_TRY();
	{
		lib.decode = Symbol("jwt_decode");
		lib.free = Symbol("jwt_free");
		lib.get_alg = Symbol("jwt_get_alg");
		lib.new = Symbol("jwt_new");
		lib.set_alg = Symbol("jwt_set_alg");
		lib.add_grants_json = Symbol("jwt_add_grants_json");
		lib.add_header = Symbol("jwt_add_header");
		lib.encode_str = Symbol("jwt_encode_str");
	}
	PG_CATCH();
	{
		dlclose(h);
		memset(&lib, 0, sizeof(lib));
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static const struct
{
	const char *name;
	jwt_alg_t	alg;
} algorithms[] = {
	{"HS256", JWT_ALG_HS256},
	{"HS384", JWT_ALG_HS384},
	{"HS512", JWT_ALG_HS512},
	{"RS256", JWT_ALG_RS256},
	{"RS384", JWT_ALG_RS384},
	{"RS512", JWT_ALG_RS512},
	{"ES256", JWT_ALG_ES256},
	{"ES384", JWT_ALG_ES384},
};

static jwt_alg_t
AlgByName(const char *name)
{
	size_t i;

	for (i = 0; i < lengthof(algorithms); i++)
		if (strcmp(algorithms[i].name, name) == 0)
			return algorithms[i].alg;
	return JWT_ALG_INVAL;
}

/* ------------------------------------------------------------ keys */

typedef struct JwtKey
{
	char	  kid[256];
	char	  alg[16];
	jwt_alg_t jalg;
	char	 *key; /* secret (HS) or public key PEM (RS/ES) */
	int		  keylen;
	EVP_PKEY *pkey;		   /* RS/ES: the public key, decoded; NULL if it does not decode */
	char	 *private_key; /* PEM, for signing with RS/ES; NULL if not stored */
	char	 *issuer;
	char	 *audience;
	bool	  enabled;
} JwtKey;

static MemoryContext KeyCxt = NULL;
static HTAB			*keys = NULL;
static bool			 keys_valid = false;
static Oid			 key_relid = InvalidOid;

static void
KeyRelcacheCallback(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == key_relid || !OidIsValid(key_relid))
		keys_valid = false;
}

static char *
KeyCell(HeapTuple tup, TupleDesc desc, int col)
{
	char *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(KeyCxt, v) : NULL;
}

/* The public key of a PEM text, or NULL. */
static EVP_PKEY *
DecodePublicKey(const char *pem)
{
	BIO		 *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey;

	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return pkey;
}

/* OpenSSL's keys are not in a memory context: free them with the cache's. */
static void
FreeDecodedKeys(void *arg)
{
	HTAB		   *h = arg;
	HASH_SEQ_STATUS it;
	JwtKey		   *k;

	hash_seq_init(&it, h);
	while ((k = hash_seq_search(&it)) != NULL)
		EVP_PKEY_free(k->pkey);
}

/* Fill the key table (run as car.jwt_key's owner). */
static void
ReadKeys(void *arg)
{
	int	   pin;
	uint64 i;

	(void) arg;
	pin = car_spi_connect();
	if (SPI_execute("SELECT kid, alg, key, private_key, issuer, audience, enabled FROM car.jwt_key", true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read car.jwt_key");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char	 *kid = SPI_getvalue(tup, desc, 1);
		JwtKey	 *k;
		bool	  found;

		if (kid == NULL || strlen(kid) >= sizeof(k->kid))
			continue;
		k = hash_search(keys, kid, HASH_ENTER, &found);
		strlcpy(k->alg, SPI_getvalue(tup, desc, 2), sizeof(k->alg));
		k->jalg = AlgByName(k->alg);
		k->key = KeyCell(tup, desc, 3);
		k->keylen = k->key ? (int) strlen(k->key) : 0;
		k->pkey = (k->key && strncmp(k->alg, "HS", 2) != 0) ? DecodePublicKey(k->key) : NULL;
		k->private_key = KeyCell(tup, desc, 4);
		k->issuer = KeyCell(tup, desc, 5);
		k->audience = KeyCell(tup, desc, 6);
		k->enabled = strcmp(SPI_getvalue(tup, desc, 7), "t") == 0;
	}
	car_spi_finish(pin);
}

/*
 * Read car.jwt_key as its owner (callers need not, and should not, see the
 * secrets), when the cache is stale.  Nothing outside this file points into
 * the cache (FindKey hands out copies), so the old one can go now.
 */
static void
LoadKeys(void)
{
	Oid					   nsp = get_namespace_oid("car", false);
	Oid					   relid = get_relname_relid("jwt_key", nsp);
	HASHCTL				   ctl;
	MemoryContextCallback *cb;

	if (keys_valid)
		return;
	if (!OidIsValid(relid))
		elog(ERROR, "car.jwt_key is missing");
	if (KeyCxt != NULL)
		MemoryContextDelete(KeyCxt);
	KeyCxt = AllocSetContextCreate(TopMemoryContext, "car jwt keys", ALLOCSET_SMALL_SIZES);
	keys = NULL;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((JwtKey *) 0)->kid);
	ctl.entrysize = sizeof(JwtKey);
	ctl.hcxt = KeyCxt;
	keys = hash_create("car jwt keys", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cb = MemoryContextAlloc(KeyCxt, sizeof(MemoryContextCallback));
	cb->func = FreeDecodedKeys;
	cb->arg = keys;
	MemoryContextRegisterResetCallback(KeyCxt, cb);

	/* an invalidation that arrives while reading leaves the cache stale: read again next time */
	keys_valid = true;
	key_relid = relid;
	car_as_table_owner("jwt_key", ReadKeys, NULL);
}

static void
ReleasePkey(void *arg)
{
	EVP_PKEY_free((EVP_PKEY *) arg);
}

/*
 * A copy of the enabled-or-not key kid, in the caller's memory context
 * (its decoded public key is released with that context), or NULL.
 */
static JwtKey *
FindKey(const char *kid)
{
	char	buf[256];
	JwtKey *k;
	JwtKey *copy;

	if (kid == NULL || strlen(kid) >= sizeof(buf))
		return NULL;
	LoadKeys();
	strlcpy(buf, kid, sizeof(buf));
	k = hash_search(keys, buf, HASH_FIND, NULL);
	if (k == NULL)
		return NULL;
	copy = palloc(sizeof(JwtKey));
	*copy = *k;
	copy->key = k->key ? pstrdup(k->key) : NULL;
	copy->private_key = k->private_key ? pstrdup(k->private_key) : NULL;
	copy->issuer = k->issuer ? pstrdup(k->issuer) : NULL;
	copy->audience = k->audience ? pstrdup(k->audience) : NULL;
	if (copy->pkey != NULL)
	{
		MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

		EVP_PKEY_up_ref(copy->pkey);
		cb->func = ReleasePkey;
		cb->arg = copy->pkey;
		MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	}
	return copy;
}

/* Is key kid there and enabled?  (Session claims grant nothing otherwise.) */
static bool
KeyUsable(const char *kid)
{
	char	buf[256];
	JwtKey *k;

	if (kid == NULL || strlen(kid) >= sizeof(buf))
		return false;
	LoadKeys();
	strlcpy(buf, kid, sizeof(buf));
	k = hash_search(keys, buf, HASH_FIND, NULL);
	return k != NULL && k->enabled;
}

/* ------------------------------------------------------------ OpenSSL */

/*
 * Check an RS* or ES* signature over the signing input (header.payload)
 * with OpenSSL.  ES* signatures are r || s (RFC 7518 3.4), which OpenSSL
 * wants as a DER ECDSA-Sig-Value.  Returns true when it verifies.
 */
static bool
VerifyWithOpenSSL(const JwtKey *k, const char *input, size_t inputlen, const unsigned char *sig, size_t siglen)
{
	const EVP_MD  *md;
	EVP_MD_CTX	  *ctx;
	unsigned char *der = NULL;
	int			   derlen = 0;
	bool		   ok = false;
	int			   half = 0;

	if (k->pkey == NULL)
		return false;
	md = (strcmp(k->alg + 2, "256") == 0) ? EVP_sha256() : (strcmp(k->alg + 2, "384") == 0) ? EVP_sha384()
																							: EVP_sha512();
	if (k->alg[0] == 'R')
	{
		if (EVP_PKEY_base_id(k->pkey) != EVP_PKEY_RSA)
			return false;
	}
	else
	{
		/* ES256 is P-256 with 32-byte r and s; ES384 is P-384 with 48 */
		ECDSA_SIG *es;
		BIGNUM	  *r,
			*sv;

		half = strcmp(k->alg, "ES256") == 0 ? 32 : 48;
		if (EVP_PKEY_base_id(k->pkey) != EVP_PKEY_EC || EVP_PKEY_get_bits(k->pkey) != half * 8 ||
			siglen != (size_t) (2 * half))
			return false;
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, half, NULL);
		sv = BN_bin2bn(sig + half, half, NULL);
		if (es == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(es, r, sv) != 1)
		{
			BN_free(r);
			BN_free(sv);
			ECDSA_SIG_free(es);
			return false;
		}
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (derlen <= 0)
			return false;
		sig = der;
		siglen = (size_t) derlen;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, k->pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) input, inputlen) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* ------------------------------------------------------------ verify */

static void Refuse(const char *why) pg_attribute_noreturn();

/* why is already formatted: it may quote the token, which must never be a format */
static void
Refuse(const char *why)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION), errmsg("invalid token: %s", why)));
}

static char *
TimeText(double t)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) t))));
}

/* What a verified token grants, and until when. */
typedef struct Grant
{
	Jsonb *claims;
	char   kid[256]; /* the key that signed it: claims end when it is disabled or deleted */
	bool   has_exp;
	double exp;
} Grant;

/* Check one token completely; returns its claims (in *grant, when given, with its kid and exp too). */
static Jsonb *
Verify(text *token_text, Grant *grant)
{
	int		  len = VARSIZE_ANY_EXHDR(token_text);
	char	 *token;
	JwtParsed p;
	char	  err[256];
	JwtKey	 *k;
	double	  now;
	int		  rc;
	jwt_t	 *jwt = NULL;
	Jsonb *volatile claims = NULL;

	if (len > JWT_MAX_TOKEN)
		Refuse("it is longer than 16 kB");
	if (len == 0)
		Refuse("it is empty");
	token = text_to_cstring(token_text);
	if ((int) strlen(token) != len)
		Refuse("it contains a zero byte");

	if (!jwt_parse(token, (size_t) len, &p, err, sizeof(err)))
	{
		jwt_parsed_free(&p);
		Refuse(err);
	}
	PG_TRY();
	{
		if (pg_strcasecmp(p.alg, "none") == 0)
			Refuse("alg \"none\" (an unsigned token) is never accepted");
		if (p.kid == NULL)
			Refuse("its header has no kid naming the key that signed it");
		k = FindKey(p.kid);
		if (k == NULL)
			Refuse(psprintf("no key has kid \"%s\"", p.kid));
		if (!k->enabled)
			Refuse(psprintf("key \"%s\" is disabled", p.kid));
		if (strcmp(p.alg, k->alg) != 0)
			Refuse(psprintf("its alg %s is not %s, the algorithm of key \"%s\"", p.alg, k->alg, p.kid));
		if (k->jalg == JWT_ALG_INVAL || k->key == NULL || k->keylen == 0)
			Refuse(psprintf("key \"%s\" has no usable key material", p.kid));

		if (k->alg[0] == 'H')
		{
			LoadLibjwt();
			rc = lib.decode(&jwt, token, (const unsigned char *) k->key, k->keylen);
			if (rc != 0 || jwt == NULL)
				Refuse(psprintf("the signature does not verify with key \"%s\"", p.kid));
			if (lib.get_alg(jwt) != k->jalg)
			{
				lib.free(jwt);
				Refuse(psprintf("libjwt verified it with another algorithm than key \"%s\"'s", p.kid));
			}
			lib.free(jwt);
		}
		else
		{
			const char	  *dot = strrchr(token, '.');
			unsigned char *sig = palloc(p.signature_len + 1);

			if (k->pkey == NULL)
				Refuse(psprintf("key \"%s\" is not a PEM public key OpenSSL can read", p.kid));
			if (dot == NULL || jwt_b64url_decode(dot + 1, strlen(dot + 1), sig) != (long) p.signature_len ||
				!VerifyWithOpenSSL(k, token, (size_t) (dot - token), sig, p.signature_len))
				Refuse(psprintf("the signature does not verify with key \"%s\"", p.kid));
		}

		now = (double) time(NULL);
		if (!p.has_exp && car_jwt_require_exp)
			Refuse("it has no exp (expiry), which car.jwt_require_exp requires");
		if (p.has_exp && now > p.exp + car_jwt_leeway)
			Refuse(psprintf("it expired at %s", TimeText(p.exp)));
		if (p.has_nbf && now < p.nbf - car_jwt_leeway)
			Refuse(psprintf("it is not valid before %s", TimeText(p.nbf)));
		if (p.has_iat && p.iat > now + car_jwt_leeway)
			Refuse("it was issued in the future (iat)");
		if (k->issuer != NULL && (p.iss == NULL || strcmp(p.iss, k->issuer) != 0))
			Refuse(psprintf("its issuer (iss) is not \"%s\"", k->issuer));
		if (k->audience != NULL)
		{
			int i;

			for (i = 0; i < p.naud; i++)
				if (strcmp(p.aud[i], k->audience) == 0)
					break;
			if (i == p.naud)
				Refuse(psprintf("its audience (aud) does not include \"%s\"", k->audience));
		}
		claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(p.payload)));
		if (grant != NULL)
		{
			grant->claims = claims;
			strlcpy(grant->kid, p.kid, sizeof(grant->kid));
			grant->has_exp = p.has_exp;
			grant->exp = p.exp;
		}
	}
	PG_FINALLY();
	{
		jwt_parsed_free(&p);
	}
	PG_END_TRY();
	return claims;
}

/* ------------------------------------------------------------ claims */

static Grant  session = {NULL}; /* claims in TopMemoryContext */
static Grant *scoped = NULL;	/* a token-taking function's, while it runs */
static bool	  claims_local = false;
uint64		  car_claims_generation = 1;

static void
SetClaims(const Grant *g, bool local)
{
	if (session.claims != NULL)
		pfree(session.claims);
	memset(&session, 0, sizeof(session));
	if (g != NULL && g->claims != NULL)
	{
		session = *g;
		session.claims = MemoryContextAlloc(TopMemoryContext, VARSIZE(g->claims));
		memcpy(session.claims, g->claims, VARSIZE(g->claims));
	}
	claims_local = local;
	car_claims_generation++;
}

/* Does the grant still hold: not expired (with the leeway), its key there and enabled? */
static bool
StillValid(const Grant *g)
{
	if (g->has_exp && (double) time(NULL) > g->exp + car_jwt_leeway)
		return false;
	return KeyUsable(g->kid);
}

/*
 * The claims that decide row visibility now: a token-taking function's
 * while it runs, else the session's, or NULL.  Session claims whose token
 * has expired, or whose key has been disabled or deleted, are dropped here.
 * The result is valid until the claims change (car_claims_generation).
 */
Jsonb *
car_current_claims(void)
{
	if (scoped != NULL)
		return scoped->claims;
	if (session.claims != NULL && !StillValid(&session))
		SetClaims(NULL, false);
	return session.claims;
}

/* A token-taking function: verify the token and let its claims alone decide until car_leave_token_scope. */
void *
car_enter_token_scope(text *token)
{
	Grant *g = palloc0(sizeof(Grant));
	Grant *saved = scoped;

	(void) Verify(token, g);
	scoped = g;
	car_claims_generation++;
	return saved;
}

void
car_leave_token_scope(void *saved)
{
	scoped = (Grant *) saved;
	car_claims_generation++;
}

/* A token's claims, verified, without making them anyone's. */
Jsonb *
car_verify_token(text *token)
{
	return Verify(token, NULL);
}

static void
ClaimsXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	if (!claims_local || session.claims == NULL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
		SetClaims(NULL, false);
}

/* DISCARD ALL and RESET ALL forget the claims (called from car's utility hook). */
void
car_claims_utility(Node *stmt)
{
	if ((IsA(stmt, DiscardStmt) && ((DiscardStmt *) stmt)->target == DISCARD_ALL) ||
		(IsA(stmt, VariableSetStmt) && ((VariableSetStmt *) stmt)->kind == VAR_RESET_ALL))
		SetClaims(NULL, false);
}

void
car_jwt_init(void)
{
	DefineCustomBoolVariable("car.jwt_require_exp", "Refuse tokens without an exp (expiry) claim.", NULL,
							 &car_jwt_require_exp, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("car.jwt_leeway", "Clock skew allowed when checking exp, nbf and iat.", NULL,
							&car_jwt_leeway, 30, 0, 3600, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(KeyRelcacheCallback, (Datum) 0);
	RegisterXactCallback(ClaimsXactCallback, NULL);
}

/* car.verify_jwt(token text) → jsonb */
Datum
car_verify_jwt(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(Verify(PG_GETARG_TEXT_PP(0), NULL));
}

/* car.authenticate(token text, local boolean default false) → jsonb */
Datum
car_authenticate(PG_FUNCTION_ARGS)
{
	Grant g;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION), errmsg("invalid token: it is NULL")));
	/* a failed attempt leaves no earlier claims behind */
	SetClaims(NULL, false);
	(void) Verify(PG_GETARG_TEXT_PP(0), &g);
	SetClaims(&g, !PG_ARGISNULL(1) && PG_GETARG_BOOL(1));
	/* the caller's own copy: the session's may be dropped before the caller is done */
	PG_RETURN_JSONB_P(g.claims);
}

/* The session's claims as they stand (NULL when none, expired, or of a key now gone), copied for the caller. */
static Jsonb *
SessionClaimsCopy(void)
{
	Jsonb *c = car_current_claims();
	Jsonb *copy;

	if (c == NULL)
		return NULL;
	copy = palloc(VARSIZE(c));
	memcpy(copy, c, VARSIZE(c));
	return copy;
}

/* car.claims() → jsonb */
Datum
car_claims(PG_FUNCTION_ARGS)
{
	Jsonb *c = SessionClaimsCopy();

	if (c == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(c);
}

/* car.claim(name text) → text: a string claim as its text, another value as JSON, NULL when absent */
Datum
car_claim(PG_FUNCTION_ARGS)
{
	Jsonb	   *c = car_current_claims();
	JsonbValue *v;

	if (c == NULL)
		PG_RETURN_NULL();
	v = car_jsonb_field(c, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (v == NULL || v->type == jbvNull)
		PG_RETURN_NULL();
	if (v->type == jbvString)
		PG_RETURN_TEXT_P(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
	{
		Jsonb *j = JsonbValueToJsonb(v);

		PG_RETURN_TEXT_P(cstring_to_text(JsonbToCString(NULL, &j->root, VARSIZE(j))));
	}
}

/* ------------------------------------------------------------ signing */

static char *
Sign(const char *claims_json, const char *kid, const char *only_alg)
{
	JwtKey	   *k = FindKey(kid);
	const char *material;
	jwt_t	   *jwt = NULL;
	char	   *s;
	char	   *result;

	if (k == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no key has kid \"%s\"", kid)));
	if (!k->enabled)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("key \"%s\" is disabled", kid)));
	if (only_alg && strcmp(k->alg, only_alg) != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key \"%s\" is %s; this needs an %s key", kid, k->alg, only_alg)));
	material = strncmp(k->alg, "HS", 2) == 0 ? k->key : k->private_key;
	if (material == NULL || material[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("key \"%s\" has no private key to sign with", kid),
						errhint("Store the PEM private key in car.jwt_key.private_key.")));
	LoadLibjwt();
	if (lib.new(&jwt) != 0)
		elog(ERROR, "libjwt: out of memory");
	if (lib.add_grants_json(jwt, claims_json) != 0 || lib.add_header(jwt, "kid", kid) != 0 ||
		lib.set_alg(jwt, k->jalg, (const unsigned char *) material, (int) strlen(material)) != 0)
	{
		lib.free(jwt);
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("libjwt refused the claims or the key \"%s\"", kid)));
	}
	s = lib.encode_str(jwt);
	lib.free(jwt);
	if (s == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("libjwt could not sign with key \"%s\"", kid)));
	result = pstrdup(s);
	/* libjwt 1.10 has no jwt_free_str: its strings come from the C library's malloc */
	free(s);
	return result;
}

/* car.sign_jwt(claims jsonb, kid text) → text */
Datum
car_sign_jwt(PG_FUNCTION_ARGS)
{
	Jsonb *claims = PG_GETARG_JSONB_P(0);

	if (!JB_ROOT_IS_OBJECT(claims))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("claims must be a JSON object")));
	PG_RETURN_TEXT_P(cstring_to_text(
		Sign(JsonbToCString(NULL, &claims->root, VARSIZE(claims)), text_to_cstring(PG_GETARG_TEXT_PP(1)), NULL)));
}

/*
 * car.metabase_embed_url(site_url, dashboard, params, ttl, kid): Metabase's
 * static embedding, {"resource": {"dashboard": N}, "params": {...}, "exp": T}
 * signed HS256 with the embedding secret stored as key kid.
 */
Datum
car_metabase_embed_url(PG_FUNCTION_ARGS)
{
	char		  *site = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		   dashboard = PG_GETARG_INT32(1);
	Jsonb		  *params = PG_GETARG_JSONB_P(2);
	Interval	  *ttl = PG_GETARG_INTERVAL_P(3);
	char		  *kid = text_to_cstring(PG_GETARG_TEXT_PP(4));
	TimestampTz	   exp;
	StringInfoData claims;
	size_t		   n = strlen(site);

	if (!JB_ROOT_IS_OBJECT(params))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("params must be a JSON object")));
	if (dashboard <= 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("dashboard must be a positive number")));
	exp = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(GetCurrentTimestamp()),
												  IntervalPGetDatum(ttl)));
	if (exp <= GetCurrentTimestamp())
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("ttl must be positive")));
	while (n > 0 && site[n - 1] == '/')
		site[--n] = '\0';
	initStringInfo(&claims);
	appendStringInfo(&claims, "{\"resource\": {\"dashboard\": %d}, \"params\": %s, \"exp\": " INT64_FORMAT "}",
					 dashboard, JsonbToCString(NULL, &params->root, VARSIZE(params)),
					 (int64) timestamptz_to_time_t(exp));
	PG_RETURN_TEXT_P(cstring_to_text(
		psprintf("%s/embed/dashboard/%s#bordered=true&titled=true", site, Sign(claims.data, kid, "HS256"))));
}
