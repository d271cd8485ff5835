/* Unit tests of the token reader (src/jwtparse.c). */
#include "jwtparse.h"
#include "tap.h"
#include "heap.h"

static char *
b64(const char *s)
{
	static char buf[4][4096];
	static int	i;
	char	   *out = buf[i++ % 4];

	jwt_b64url_encode((const unsigned char *) s, strlen(s), out);
	return out;
}

/* header.payload.sig from JSON texts and a signature text (already base64url) */
static char *
token(const char *header, const char *payload, const char *sig)
{
	static char t[16384];

	snprintf(t, sizeof(t), "%s.%s.%s", b64(header), b64(payload), sig);
	return t;
}

static void
refused(const char *tok, const char *reason, const char *what)
{
	JwtParsed p;
	char	  err[256];
	bool	  ok = jwt_parse(tok, strlen(tok), &p, err, sizeof(err));

	OK(!ok && strstr(err, reason) != NULL, "%s: refused with \"%s\" (got %s \"%s\")", what, reason, ok ? "accepted" : "refused",
	   err);
	jwt_parsed_free(&p);
}

int
main(void)
{
	JwtParsed	  p;
	char		  err[256];
	unsigned char raw[64];
	char		  enc[128];
	const char	 *t;

	/* base64url */
	OK(jwt_b64url_encode((const unsigned char *) "any carnal pleas", 16, enc) == 22 &&
		   strcmp(enc, "YW55IGNhcm5hbCBwbGVhcw") == 0,
	   "encode without padding");
	OK(jwt_b64url_decode("YW55IGNhcm5hbCBwbGVhcw", 22, raw) == 16 && memcmp(raw, "any carnal pleas", 16) == 0,
	   "decode without padding");
	OK(jwt_b64url_decode("_-8", 3, raw) == 2 && raw[0] == 0xFF && raw[1] == 0xEF, "decode - and _");
	OK(jwt_b64url_decode("YW55=", 5, raw) < 0, "padding is refused");
	OK(jwt_b64url_decode("YW+5", 4, raw) < 0, "+ (plain base64) is refused");
	OK(jwt_b64url_decode("YWF", 3, raw) < 0, "non-zero trailing bits are refused (one encoding only)");
	OK(jwt_b64url_decode("Y", 1, raw) < 0, "a length of 4n+1 is refused");

	/* a good token */
	t = token("{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}",
			  "{\"sub\":\"ann\",\"exp\":1700000000,\"nbf\":1.5e9,\"iat\":1600000000,\"iss\":\"idp\",\"aud\":[\"a\",\"car\"],"
			  "\"org\":{\"nested\":[1,2,{\"x\":null}]},\"s\":\"\\u00e9\\ud83d\\ude00\"}",
			  "c2ln");
	OK(jwt_parse(t, strlen(t), &p, err, sizeof(err)), "a good token parses (%s)", err);
	IS_STR(p.alg, "HS256", "alg");
	IS_STR(p.kid, "k1", "kid");
	OK(p.has_exp && p.exp == 1700000000 && p.has_nbf && p.nbf == 1.5e9 && p.has_iat && p.iat == 1600000000,
	   "exp, nbf (exponent form), iat");
	IS_STR(p.iss, "idp", "iss");
	OK(p.naud == 2 && strcmp(p.aud[1], "car") == 0, "aud array");
	OK(p.signature_len == 3, "signature bytes");
	OK(strstr(p.payload, "\"org\"") != NULL && p.payload_len == strlen(p.payload), "payload text kept for the claims");
	jwt_parsed_free(&p);
	t = token("{\"alg\":\"RS256\",\"kid\":\"k\\u0031\"}", "{\"aud\":\"car\"}", "c2ln");
	OK(jwt_parse(t, strlen(t), &p, err, sizeof(err)) && strcmp(p.kid, "k1") == 0 && p.naud == 1 && !p.has_exp,
	   "escaped kid decoded; aud as one string; no exp");
	jwt_parsed_free(&p);

	/* refusals */
	refused("abc", "three parts", "no dots");
	refused("a.b.c.d", "three parts", "four parts");
	refused(token("{\"alg\":\"HS256\"}", "{}", ""), "no signature", "empty signature");
	refused(".e30.c2ln", "empty", "empty header");
	refused(token("{\"alg\":\"HS256\"}", "{}", "c2l*"), "signature is not base64url", "bad signature base64");
	{
		char bad[256];

		snprintf(bad, sizeof(bad), "%s.%s=.c2ln", b64("{\"alg\":\"HS256\"}"), b64("{}"));
		refused(bad, "payload is not base64url", "padded payload");
	}
	refused(token("[1]", "{}", "c2ln"), "not a JSON object", "header is an array");
	refused(token("{\"alg\":\"HS256\"}", "\"x\"", "c2ln"), "not a JSON object", "payload is a string");
	refused(token("{\"kid\":\"k\"}", "{}", "c2ln"), "no alg", "header without alg");
	refused(token("{\"alg\":5}", "{}", "c2ln"), "expects a string", "alg not a string");
	refused(token("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "c2ln"), "member twice", "alg twice");
	refused(token("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", "{}", "c2ln"), "crit", "crit header");
	refused(token("{\"alg\":\"HS256\"}", "{\"exp\":1,\"exp\":99999999999}", "c2ln"), "member twice", "exp twice");
	refused(token("{\"alg\":\"HS256\"}", "{\"exp\":\"tomorrow\"}", "c2ln"), "not a number", "exp as a string");
	refused(token("{\"alg\":\"HS256\"}", "{\"exp\":1e999}", "c2ln"), "out of range", "exp infinite");
	refused(token("{\"alg\":\"HS256\"}", "{\"iss\":1}", "c2ln"), "iss that is not a string", "iss a number");
	refused(token("{\"alg\":\"HS256\"}", "{\"aud\":[\"a\",2]}", "c2ln"), "not a string", "aud with a number");
	refused(token("{\"alg\":\"HS256\"}", "{\"x\":\"\\u0000\"}", "c2ln"), "\\u0000", "NUL escape");
	refused(token("{\"alg\":\"HS256\"}", "{\"x\":\"\\ud800\"}", "c2ln"), "lone surrogate", "lone surrogate");
	refused(token("{\"alg\":\"HS256\"}", "{\"x\":01}", "c2ln"), "", "leading zero");
	refused(token("{\"alg\":\"HS256\"}", "{\"x\":1} x", "c2ln"), "text after", "trailing text");
	refused(token("{\"alg\":\"HS256\"}", "{\"x\":\"\xff\"}", "c2ln"), "not UTF-8", "invalid UTF-8");
	refused(token("{\"alg\":\"HS256\"}", "{\"x\":tru}", "c2ln"), "unexpected", "bad literal");
	{
		char deep[200];
		int	 i;

		for (i = 0; i < 40; i++)
			deep[i] = '[';
		deep[40] = '\0';
		snprintf(deep + 40, sizeof(deep) - 40, "]");
		{
			char payload[256];

			snprintf(payload, sizeof(payload), "{\"x\":%s}", deep);
			refused(token("{\"alg\":\"HS256\"}", payload, "c2ln"), "nested too deeply", "40 levels of nesting");
		}
	}
	{
		static char big[JWT_MAX_TOKEN + 10];
		long long	mark;

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		mark = heap_mark();
		refused(big, "over the limit", "a token over 16 kB");
		OK(heap_peak_since(mark) == 0, "refused unread: nothing allocated (%zu bytes)", heap_peak_since(mark));
	}
	/*
	 * A token at the limit with 255 short members and a long last one: its
	 * strings are sized by their own length, so parsing holds a small
	 * multiple of the token (each name used to take the rest of the text).
	 */
	{
		static char payload[12000];
		static char tok[JWT_MAX_TOKEN + 1];
		size_t		o = 0;
		int			i;
		long long	mark;

		o += snprintf(payload + o, sizeof(payload) - o, "{");
		for (i = 0; i < 255; i++)
			o += snprintf(payload + o, sizeof(payload) - o, "\"m%d\":%d,", i, i);
		o += snprintf(payload + o, sizeof(payload) - o, "\"z\":\"");
		memset(payload + o, 'z', sizeof(payload) - o - 3);
		strcpy(payload + sizeof(payload) - 3, "\"}");
		o = jwt_b64url_encode((const unsigned char *) "{\"alg\":\"HS256\"}", 15, tok);
		tok[o++] = '.';
		o += jwt_b64url_encode((const unsigned char *) payload, strlen(payload), tok + o);
		strcpy(tok + o, ".c2ln");
		OK(strlen(tok) <= JWT_MAX_TOKEN, "a token of %zu bytes, 256 members", strlen(tok));
		mark = heap_mark();
		OK(jwt_parse(tok, strlen(tok), &p, err, sizeof(err)), "is read");
		OK(heap_peak_since(mark) < 4 * JWT_MAX_TOKEN, "holding under 4 times the token limit (%zu bytes)",
		   heap_peak_since(mark));
		jwt_parsed_free(&p);
	}
	printf("# unit tests done: jwtparse\n");
	return tap_done();
}
