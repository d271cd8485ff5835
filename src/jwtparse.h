/*
 * jwtparse.h
 *		Splitting and parsing a compact JWS (header.payload.signature) before
 *		any signature is checked: strict base64url, strict JSON, and the
 *		header and registered claims car needs.  Pure C, no backend calls
 *		(unit-tested and fuzzed on its own).
 */
#ifndef CAR_JWTPARSE_H
#define CAR_JWTPARSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Bytes: longer tokens are refused unread.  Real tokens are under 2 kB.  It
 * is also the reader's memory budget: what it allocates are decoded copies
 * of parts of the token, together under twice its size.
 */
#define JWT_MAX_TOKEN 16384
#define JWT_MAX_AUD	  16
#define JWT_MAX_DEPTH 32

typedef struct JwtParsed
{
	char  *header;	/* decoded header JSON, NUL-terminated (malloc) */
	char  *payload; /* decoded payload JSON, NUL-terminated (malloc) */
	size_t payload_len;
	size_t signature_len; /* decoded bytes */

	char  alg[16]; /* header "alg" */
	char *kid;	   /* header "kid", or NULL (malloc) */

	bool   has_exp, has_nbf, has_iat;
	double exp, nbf, iat;
	char  *iss; /* or NULL (malloc) */
	int	   naud;
	char  *aud[JWT_MAX_AUD]; /* "aud" as one string or an array of strings (malloc) */
} JwtParsed;

/*
 * Parse token[0..len).  Returns true, or false with a reason in err.
 * Everything allocated is released by jwt_parsed_free, also on failure.
 */
extern bool jwt_parse(const char *token, size_t len, JwtParsed *out, char *err, size_t errlen);
extern void jwt_parsed_free(JwtParsed *p);

/* Strict base64url (no padding, canonical trailing bits).  Returns decoded length or -1. */
extern long	  jwt_b64url_decode(const char *in, size_t len, unsigned char *out);
/* base64url without padding; out needs 4 * ((len + 2) / 3) + 1 bytes.  Returns length. */
extern size_t jwt_b64url_encode(const unsigned char *in, size_t len, char *out);

#endif /* CAR_JWTPARSE_H */
