/*
 * units.c
 *		Pure C helpers for units of measure; see units.h.
 */
#include "units.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void
unit_normalise(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *) in;
	size_t				 o = 0;
	int					 space = 0;

	if (outlen == 0)
		return;
	while (*p && isspace(*p))
		p++;
	while (*p && o + 1 < outlen)
	{
		if (isspace(*p))
		{
			space = 1;
			p++;
			continue;
		}
		if (space && o > 0 && o + 1 < outlen)
			out[o++] = ' ';
		space = 0;
		/* U+00B2, U+00B3: superscript two and three */
		if (p[0] == 0xC2 && (p[1] == 0xB2 || p[1] == 0xB3))
		{
			out[o++] = p[1] == 0xB2 ? '2' : '3';
			p += 2;
			continue;
		}
		out[o++] = (char) tolower(*p);
		p++;
	}
	out[o] = '\0';
}

void
unit_normalise_basis(const char *in, char *out, size_t outlen)
{
	char   n[64];
	char  *s = n;
	size_t l;

	unit_normalise(in, n, sizeof(n));
	if (*s == '(')
		s++;
	l = strlen(s);
	if (l > 0 && s[l - 1] == ')')
		s[--l] = '\0';
	if (strcmp(s, "gross") == 0 || strcmp(s, "gross cv") == 0)
		snprintf(out, outlen, "gross cv");
	else if (strcmp(s, "net") == 0 || strcmp(s, "net cv") == 0)
		snprintf(out, outlen, "net cv");
	else
		snprintf(out, outlen, "%s", s);
}

void
unit_split_basis(const char *in, char *unit, size_t ulen, char *basis, size_t blen)
{
	const char *open = strrchr(in, '(');
	const char *close = open ? strchr(open, ')') : NULL;

	if (open && close && close[1] == '\0' && open > in)
	{
		char   b[64];
		char   u[UNIT_NAMELEN];
		size_t n = (size_t) (open - in);

		snprintf(b, sizeof(b), "%.*s", (int) (close - open - 1), open + 1);
		unit_normalise_basis(b, basis, blen);
		/* Only calorific-value bases split off; "m3 (gas)" stays whole. */
		if (strcmp(basis, "gross cv") == 0 || strcmp(basis, "net cv") == 0)
		{
			if (n >= sizeof(u))
				n = sizeof(u) - 1;
			memcpy(u, in, n);
			u[n] = '\0';
			unit_normalise(u, unit, ulen);
			return;
		}
	}
	unit_normalise(in, unit, ulen);
	if (blen > 0)
		basis[0] = '\0';
}

int
unit_factor(const UnitDef *from, const UnitDef *to, double *factor, char *err, size_t errlen)
{
	if (strcmp(from->dimension, to->dimension) != 0)
	{
		snprintf(err, errlen, "cannot convert %s (%s) to %s (%s)",
				 from->name, from->dimension, to->name, to->dimension);
		return -1;
	}
	*factor = from->to_base / to->to_base;
	return 0;
}
