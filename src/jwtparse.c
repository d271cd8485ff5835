/*
 * jwtparse.c
 *		Parse a compact JWS before verifying it: three base64url segments,
 *		a JSON object header and a JSON object payload, read strictly.
 *
 * What is refused here never reaches libjwt: tokens over JWT_MAX_TOKEN
 * bytes, padding or stray characters in base64url, non-canonical trailing
 * bits, invalid UTF-8, JSON that is not one object, nesting deeper than
 * JWT_MAX_DEPTH, duplicate member names at the top level (two "alg"s or two
 * "exp"s must not mean different things to different readers), a "crit"
 * header (no extensions are understood), \u0000, and registered claims of
 * the wrong type (exp/nbf/iat must be numbers, iss a string, aud a string
 * or an array of strings).
 */
#include "jwtparse.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ base64url */

static int
B64Value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
jwt_b64url_decode(const char *in, size_t len, unsigned char *out)
{
	size_t	 i;
	uint32_t acc = 0;
	int		 bits = 0;
	long	 n = 0;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++)
	{
		int v = B64Value((unsigned char) in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* leftover bits must be zero: one encoding per byte string */
	if (acc != 0)
		return -1;
	return n;
}

size_t
jwt_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			  i,
		n = 0;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32_t v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		out[n++] = alphabet[(v >> 18) & 63];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
		out[n++] = alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t v = (uint32_t) in[i] << 16;

		out[n++] = alphabet[(v >> 18) & 63];
		out[n++] = alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32_t v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);

		out[n++] = alphabet[(v >> 18) & 63];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
	}
	out[n] = '\0';
	return n;
}

/* ------------------------------------------------------------ UTF-8 */

static bool
ValidUtf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		int			  n;
		uint32_t	  cp;
		size_t		  k;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (k = 1; k <= (size_t) n; k++)
		{
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

/* ------------------------------------------------------------ JSON */

typedef enum Part
{
	PART_HEADER,
	PART_PAYLOAD
} Part;

typedef struct Json
{
	const char *s;
	size_t		len;
	size_t		pos;
	int			depth;
	char	   *err;
	size_t		errlen;
	Part		part;
	JwtParsed  *out;
} Json;

static bool
Fail(Json *j, const char *what)
{
	if (j->err[0] == '\0')
		snprintf(j->err, j->errlen, "%s %s at byte %zu", j->part == PART_HEADER ? "header" : "payload", what, j->pos);
	return false;
}

static void
SkipWs(Json *j)
{
	while (j->pos < j->len &&
		   (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
		j->pos++;
}

static int
Hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
Hex4(Json *j, uint32_t *v)
{
	int i;

	if (j->pos + 4 > j->len)
		return Fail(j, "has a short \\u escape");
	*v = 0;
	for (i = 0; i < 4; i++)
	{
		int h = Hex(j->s[j->pos + i]);

		if (h < 0)
			return Fail(j, "has a bad \\u escape");
		*v = (*v << 4) | (uint32_t) h;
	}
	j->pos += 4;
	return true;
}

static size_t
PutUtf8(char *dst, uint32_t cp)
{
	if (cp < 0x80)
		return dst[0] = (char) cp, 1;
	if (cp < 0x800)
		return dst[0] = (char) (0xC0 | (cp >> 6)), dst[1] = (char) (0x80 | (cp & 0x3F)), 2;
	if (cp < 0x10000)
		return dst[0] = (char) (0xE0 | (cp >> 12)), dst[1] = (char) (0x80 | ((cp >> 6) & 0x3F)),
			   dst[2] = (char) (0x80 | (cp & 0x3F)), 3;
	dst[0] = (char) (0xF0 | (cp >> 18));
	dst[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	dst[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	dst[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* A string at j->pos (the opening quote); its decoded value in *value (malloc) if value != NULL. */
static bool
String(Json *j, char **value)
{
	char  *buf = NULL;
	size_t n = 0;

	if (j->pos >= j->len || j->s[j->pos] != '"')
		return Fail(j, "expects a string");
	j->pos++;
	if (value)
	{
		/*
		 * Decoded text is never longer than the raw text up to the closing
		 * quote: sized by that, a token's strings together take no more than
		 * the token (sized by the rest of the text, 256 member names took
		 * 256 times it).
		 */
		size_t end = j->pos;

		while (end < j->len && j->s[end] != '"')
			end += j->s[end] == '\\' ? 2 : 1;
		buf = malloc((end < j->len ? end : j->len) - j->pos + 1);
		if (buf == NULL)
			return Fail(j, "is too large");
	}
	while (j->pos < j->len)
	{
		unsigned char c = (unsigned char) j->s[j->pos];

		if (c == '"')
		{
			j->pos++;
			if (value)
			{
				buf[n] = '\0';
				*value = buf;
			}
			return true;
		}
		if (c < 0x20)
		{
			free(buf);
			return Fail(j, "has a control character in a string");
		}
		if (c != '\\')
		{
			if (buf)
				buf[n++] = (char) c;
			j->pos++;
			continue;
		}
		j->pos++;
		if (j->pos >= j->len)
			break;
		c = (unsigned char) j->s[j->pos++];
		{
			uint32_t cp = 0;

			switch (c)
			{
				case '"':
				case '\\':
				case '/':
					cp = c;
					break;
				case 'b':
					cp = '\b';
					break;
				case 'f':
					cp = '\f';
					break;
				case 'n':
					cp = '\n';
					break;
				case 'r':
					cp = '\r';
					break;
				case 't':
					cp = '\t';
					break;
				case 'u':
					if (!Hex4(j, &cp))
					{
						free(buf);
						return false;
					}
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						uint32_t lo = 0;

						if (j->pos + 2 > j->len || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u')
						{
							free(buf);
							return Fail(j, "has a lone surrogate");
						}
						j->pos += 2;
						if (!Hex4(j, &lo))
						{
							free(buf);
							return false;
						}
						if (lo < 0xDC00 || lo > 0xDFFF)
						{
							free(buf);
							return Fail(j, "has a lone surrogate");
						}
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
					{
						free(buf);
						return Fail(j, "has a lone surrogate");
					}
					if (cp == 0)
					{
						free(buf);
						return Fail(j, "has \\u0000 in a string");
					}
					break;
				default:
					free(buf);
					return Fail(j, "has a bad escape");
			}
			if (buf)
				n += PutUtf8(buf + n, cp);
		}
	}
	free(buf);
	return Fail(j, "has an unterminated string");
}

static bool
Number(Json *j, double *value)
{
	size_t start = j->pos;
	char   tmp[64];

	if (j->pos < j->len && j->s[j->pos] == '-')
		j->pos++;
	if (j->pos >= j->len)
		return Fail(j, "has a bad number");
	if (j->s[j->pos] == '0')
		j->pos++;
	else if (j->s[j->pos] >= '1' && j->s[j->pos] <= '9')
		while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
			j->pos++;
	else
		return Fail(j, "has a bad number");
	if (j->pos < j->len && j->s[j->pos] == '.')
	{
		j->pos++;
		if (j->pos >= j->len || j->s[j->pos] < '0' || j->s[j->pos] > '9')
			return Fail(j, "has a bad number");
		while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
			j->pos++;
	}
	if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
	{
		j->pos++;
		if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
			j->pos++;
		if (j->pos >= j->len || j->s[j->pos] < '0' || j->s[j->pos] > '9')
			return Fail(j, "has a bad number");
		while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
			j->pos++;
	}
	if (value)
	{
		if (j->pos - start >= sizeof(tmp))
			return Fail(j, "has a number too long for a time");
		memcpy(tmp, j->s + start, j->pos - start);
		tmp[j->pos - start] = '\0';
		*value = strtod(tmp, NULL);
		if (!isfinite(*value))
			return Fail(j, "has a number out of range");
	}
	return true;
}

static bool Value(Json *j);

static bool
Literal(Json *j, const char *word)
{
	size_t n = strlen(word);

	if (j->pos + n > j->len || memcmp(j->s + j->pos, word, n) != 0)
		return Fail(j, "has an unexpected character");
	j->pos += n;
	return true;
}

/* An array, or an object below the top level (its members are not looked at). */
static bool
Container(Json *j, bool object)
{
	char close = object ? '}' : ']';

	j->pos++; /* [ or { */
	if (++j->depth > JWT_MAX_DEPTH)
		return Fail(j, "is nested too deeply");
	SkipWs(j);
	if (j->pos < j->len && j->s[j->pos] == close)
	{
		j->pos++;
		j->depth--;
		return true;
	}
	for (;;)
	{
		SkipWs(j);
		if (object)
		{
			if (!String(j, NULL))
				return false;
			SkipWs(j);
			if (j->pos >= j->len || j->s[j->pos] != ':')
				return Fail(j, "expects ':'");
			j->pos++;
			SkipWs(j);
		}
		if (!Value(j))
			return false;
		SkipWs(j);
		if (j->pos < j->len && j->s[j->pos] == ',')
		{
			j->pos++;
			continue;
		}
		if (j->pos < j->len && j->s[j->pos] == close)
		{
			j->pos++;
			j->depth--;
			return true;
		}
		return Fail(j, object ? "has an unterminated object" : "has an unterminated array");
	}
}

static bool
Value(Json *j)
{
	if (j->pos >= j->len)
		return Fail(j, "ends early");
	switch (j->s[j->pos])
	{
		case '{':
			return Container(j, true);
		case '[':
			return Container(j, false);
		case '"':
			return String(j, NULL);
		case 't':
			return Literal(j, "true");
		case 'f':
			return Literal(j, "false");
		case 'n':
			return Literal(j, "null");
		default:
			return Number(j, NULL);
	}
}

/* A top-level member car reads: check its type and keep its value. */
static bool
Member(Json *j, const char *name)
{
	JwtParsed *o = j->out;
	char	  *s = NULL;

	if (j->part == PART_HEADER)
	{
		if (strcmp(name, "crit") == 0)
			return Fail(j, "has a \"crit\" member, and car understands no JWS extension");
		if (strcmp(name, "alg") == 0 || strcmp(name, "kid") == 0)
		{
			if (!String(j, &s))
				return false;
			if (name[0] == 'a')
			{
				if (strlen(s) >= sizeof(o->alg) || s[0] == '\0')
				{
					free(s);
					return Fail(j, "has an alg that is no algorithm");
				}
				strcpy(o->alg, s);
				free(s);
			}
			else
			{
				if (strlen(s) > 255)
				{
					free(s);
					return Fail(j, "has a kid over 255 bytes");
				}
				o->kid = s;
			}
			return true;
		}
		return Value(j);
	}
	if (strcmp(name, "exp") == 0 || strcmp(name, "nbf") == 0 || strcmp(name, "iat") == 0)
	{
		double v;

		if (j->pos >= j->len || !(j->s[j->pos] == '-' || (j->s[j->pos] >= '0' && j->s[j->pos] <= '9')))
			return Fail(j, "has a time claim that is not a number");
		if (!Number(j, &v))
			return false;
		if (name[0] == 'e')
			o->has_exp = true, o->exp = v;
		else if (name[0] == 'n')
			o->has_nbf = true, o->nbf = v;
		else
			o->has_iat = true, o->iat = v;
		return true;
	}
	if (strcmp(name, "iss") == 0)
	{
		if (j->pos >= j->len || j->s[j->pos] != '"')
			return Fail(j, "has an iss that is not a string");
		return String(j, &o->iss);
	}
	if (strcmp(name, "aud") == 0)
	{
		if (j->pos < j->len && j->s[j->pos] == '"')
		{
			if (!String(j, &o->aud[0]))
				return false;
			o->naud = 1;
			return true;
		}
		if (j->pos >= j->len || j->s[j->pos] != '[')
			return Fail(j, "has an aud that is neither a string nor an array of strings");
		j->pos++;
		SkipWs(j);
		if (j->pos < j->len && j->s[j->pos] == ']')
		{
			j->pos++;
			return true;
		}
		for (;;)
		{
			SkipWs(j);
			if (o->naud >= JWT_MAX_AUD)
				return Fail(j, "has too many audiences");
			if (j->pos >= j->len || j->s[j->pos] != '"')
				return Fail(j, "has an aud array with a member that is not a string");
			if (!String(j, &o->aud[o->naud]))
				return false;
			o->naud++;
			SkipWs(j);
			if (j->pos < j->len && j->s[j->pos] == ',')
			{
				j->pos++;
				continue;
			}
			if (j->pos < j->len && j->s[j->pos] == ']')
			{
				j->pos++;
				return true;
			}
			return Fail(j, "has an unterminated aud array");
		}
	}
	return Value(j);
}

#define MAX_MEMBERS 256

/* The top-level object of a header or payload. */
static bool
TopObject(Json *j)
{
	char *names[MAX_MEMBERS];
	int	  n = 0;
	bool  ok = false;
	int	  i;

	SkipWs(j);
	if (j->pos >= j->len || j->s[j->pos] != '{')
		return Fail(j, "is not a JSON object");
	j->pos++;
	j->depth = 1;
	SkipWs(j);
	if (j->pos < j->len && j->s[j->pos] == '}')
	{
		j->pos++;
		ok = true;
		goto done;
	}
	for (;;)
	{
		char *name;

		SkipWs(j);
		if (!String(j, &name))
			goto done;
		for (i = 0; i < n; i++)
			if (strcmp(names[i], name) == 0)
			{
				free(name);
				Fail(j, "has a member twice");
				goto done;
			}
		if (n == MAX_MEMBERS)
		{
			free(name);
			Fail(j, "has too many members");
			goto done;
		}
		names[n++] = name;
		SkipWs(j);
		if (j->pos >= j->len || j->s[j->pos] != ':')
		{
			Fail(j, "expects ':'");
			goto done;
		}
		j->pos++;
		SkipWs(j);
		if (!Member(j, name))
			goto done;
		SkipWs(j);
		if (j->pos < j->len && j->s[j->pos] == ',')
		{
			j->pos++;
			continue;
		}
		if (j->pos < j->len && j->s[j->pos] == '}')
		{
			j->pos++;
			break;
		}
		Fail(j, "has an unterminated object");
		goto done;
	}
	SkipWs(j);
	if (j->pos != j->len)
		Fail(j, "has text after the object");
	else
		ok = true;
done:
	for (i = 0; i < n; i++)
		free(names[i]);
	return ok;
}

/* ------------------------------------------------------------ token */

static char *
DecodeSegment(const char *seg, size_t len, size_t *outlen, const char *what, char *err, size_t errlen)
{
	unsigned char *buf = malloc(len * 3 / 4 + 2);
	long		   n;

	if (buf == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = jwt_b64url_decode(seg, len, buf);
	if (n < 0)
	{
		snprintf(err, errlen, "the %s is not base64url", what);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*outlen = (size_t) n;
	return (char *) buf;
}

bool
jwt_parse(const char *token, size_t len, JwtParsed *out, char *err, size_t errlen)
{
	const char *dot1,
		*dot2;
	size_t hlen,
		plen,
		slen;
	Json j;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (len > JWT_MAX_TOKEN)
	{
		snprintf(err, errlen, "the token is %zu bytes, over the limit of %d", len, JWT_MAX_TOKEN);
		return false;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)) != NULL)
	{
		snprintf(err, errlen, "a token has three parts separated by dots");
		return false;
	}
	hlen = (size_t) (dot1 - token);
	plen = (size_t) (dot2 - dot1 - 1);
	slen = len - (size_t) (dot2 + 1 - token);
	if (hlen == 0 || plen == 0)
	{
		snprintf(err, errlen, "the header or the payload is empty");
		return false;
	}
	if (slen == 0)
	{
		snprintf(err, errlen, "it has no signature (unsigned tokens, alg \"none\", are never accepted)");
		return false;
	}
	{
		unsigned char *sig = malloc(slen * 3 / 4 + 2);
		long		   n = sig ? jwt_b64url_decode(dot2 + 1, slen, sig) : -1;

		free(sig);
		if (n <= 0)
		{
			snprintf(err, errlen, "the signature is not base64url");
			return false;
		}
		out->signature_len = (size_t) n;
	}
	out->header = DecodeSegment(token, hlen, &hlen, "header", err, errlen);
	if (out->header == NULL)
		return false;
	out->payload = DecodeSegment(dot1 + 1, plen, &out->payload_len, "payload", err, errlen);
	if (out->payload == NULL)
		return false;
	if (!ValidUtf8((const unsigned char *) out->header, hlen) ||
		!ValidUtf8((const unsigned char *) out->payload, out->payload_len))
	{
		snprintf(err, errlen, "the header or payload is not UTF-8");
		return false;
	}

	memset(&j, 0, sizeof(j));
	j.err = err;
	j.errlen = errlen;
	j.out = out;
	j.s = out->header;
	j.len = hlen;
	j.part = PART_HEADER;
	if (!TopObject(&j))
		return false;
	if (out->alg[0] == '\0')
	{
		snprintf(err, errlen, "the header names no alg");
		return false;
	}
	memset(&j, 0, sizeof(j));
	j.err = err;
	j.errlen = errlen;
	j.out = out;
	j.s = out->payload;
	j.len = out->payload_len;
	j.part = PART_PAYLOAD;
	return TopObject(&j);
}

void
jwt_parsed_free(JwtParsed *p)
{
	int i;

	free(p->header);
	free(p->payload);
	free(p->kid);
	free(p->iss);
	for (i = 0; i < p->naud; i++)
		free(p->aud[i]);
	memset(p, 0, sizeof(*p));
}
