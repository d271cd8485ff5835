/*
 * hostpolicy.c
 *		Special-purpose address ranges, the car.allowed_hosts list, and host
 *		names; see hostpolicy.h.
 */
#include "hostpolicy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* A special-purpose range: what it is, its length in bits, and its first bytes. */
typedef struct Range
{
	const char	 *what; /* NULL: look at the IPv4 address embedded at byte v4at */
	int			  prefix;
	int			  v4at;
	unsigned char net[16];
} Range;

#define PRIVATE	 "a private address"
#define RESERVED "a reserved address"
#define DOC		 "a documentation address"

/* IANA's IPv4 special-purpose registry, the ones a server should never be sent to. */
static const Range v4ranges[] = {
	{"an unspecified (\"this network\") address", 8, 0, {0}},
	{PRIVATE, 8, 0, {10}},
	{"a shared (carrier-grade NAT) address", 10, 0, {100, 64}},
	{"a loopback address", 8, 0, {127}},
	{"a link-local address", 16, 0, {169, 254}},
	{PRIVATE, 12, 0, {172, 16}},
	{RESERVED, 24, 0, {192, 0, 0}},
	{DOC, 24, 0, {192, 0, 2}},
	{RESERVED, 24, 0, {192, 88, 99}},
	{PRIVATE, 16, 0, {192, 168}},
	{"a benchmarking address", 15, 0, {198, 18}},
	{DOC, 24, 0, {198, 51, 100}},
	{DOC, 24, 0, {203, 0, 113}},
	{"a multicast address", 4, 0, {224}},
	{"the broadcast address", 32, 0, {255, 255, 255, 255}},
	{RESERVED, 4, 0, {240}},
};

/*
 * IPv6, most specific first.  Only 2000::/3 is global unicast: whatever else
 * is not listed here (IPv4-compatible and -translated forms, 100::/64 and the
 * other IETF-reserved blocks) is refused as reserved by hostpolicy_classify.
 */
static const Range v6ranges[] = {
	{"the unspecified address", 128, 0, {0}},
	{"a loopback address", 128, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
	{NULL, 96, 12, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}},			   /* IPv4-mapped */
	{NULL, 96, 12, {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}},		   /* NAT64 */
	{PRIVATE, 48, 0, {0, 0x64, 0xff, 0x9b, 0, 1}},						   /* local-use NAT64 */
	{DOC, 32, 0, {0x20, 0x01, 0x0d, 0xb8}},								   /* 2001:db8::/32 */
	{"an IETF protocol address (Teredo and others)", 23, 0, {0x20, 0x01}}, /* 2001::/23 */
	{NULL, 16, 2, {0x20, 0x02}},										   /* 6to4 */
	{DOC, 20, 0, {0x3f, 0xff}},											   /* 3fff::/20 */
	{"a unique local (private) address", 7, 0, {0xfc}},					   /* fc00::/7 */
	{"a link-local address", 10, 0, {0xfe, 0x80}},						   /* fe80::/10 */
	{"a site-local (private) address", 10, 0, {0xfe, 0xc0}},			   /* fec0::/10 */
	{"a multicast address", 8, 0, {0xff}},
};

/* Do the first bits bits of a and b agree? */
static int
PrefixMatch(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8;
	int rest = bits % 8;

	if (memcmp(a, b, (size_t) whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* The special-purpose range of an address, or NULL (see hostpolicy.h). */
const char *
hostpolicy_classify(int family, const unsigned char *addr)
{
	size_t i;

	if (family == AF_INET)
	{
		for (i = 0; i < sizeof(v4ranges) / sizeof(v4ranges[0]); i++)
			if (PrefixMatch(addr, v4ranges[i].net, v4ranges[i].prefix))
				return v4ranges[i].what;
		return NULL;
	}
	if (family != AF_INET6)
		return "not an IP address";
	for (i = 0; i < sizeof(v6ranges) / sizeof(v6ranges[0]); i++)
		if (PrefixMatch(addr, v6ranges[i].net, v6ranges[i].prefix))
			return v6ranges[i].what ? v6ranges[i].what : hostpolicy_classify(AF_INET, addr + v6ranges[i].v4at);
	if ((addr[0] & 0xe0) != 0x20)
		return "a reserved address (outside the global unicast range 2000::/3)";
	return NULL;
}

/* An address as text, for messages. */
void
hostpolicy_format(int family, const unsigned char *addr, char *out, size_t outlen)
{
	if (inet_ntop(family, addr, out, (socklen_t) outlen) == NULL)
		snprintf(out, outlen, "(an address of family %d)", family);
}

/* A host as compared: lower case, no brackets, no root dot. */
void
hostpolicy_normalize(const char *host, char *out, size_t outlen)
{
	size_t len = strlen(host);
	size_t i,
		o = 0;

	if (outlen == 0)
		return;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		host++;
		len -= 2;
	}
	if (len > 1 && host[len - 1] == '.')
		len--;
	for (i = 0; i < len && o + 1 < outlen; i++)
		out[o++] = (char) tolower((unsigned char) host[i]);
	out[o] = '\0';
}

/* Is host one of hosts[0..n-1], compared normalized? */
int
hostpolicy_host_in(const char *host, const char *const *hosts, int n)
{
	char a[HP_NAMELEN];
	char b[HP_NAMELEN];
	int	 i;

	/* longer than any host name: it would compare truncated, so it matches nothing */
	if (strlen(host) >= sizeof(a) - 1)
		return 0;
	hostpolicy_normalize(host, a, sizeof(a));
	for (i = 0; i < n; i++)
	{
		if (strlen(hosts[i]) >= sizeof(b) - 1)
			continue;
		hostpolicy_normalize(hosts[i], b, sizeof(b));
		if (strcmp(a, b) == 0)
			return 1;
	}
	return 0;
}

/* Is name a host name or an IP address, with nothing else around it? */
int
hostpolicy_valid_host(const char *name, char *err, size_t errlen)
{
	unsigned char a[16];
	char		  bare[HP_NAMELEN];
	size_t		  len = strlen(name);
	size_t		  label = 0;
	size_t		  i;
	int			  numeric = 1;

	if (len >= 2 && name[0] == '[' && name[len - 1] == ']' && len - 2 < sizeof(bare))
	{
		/* an IPv6 literal as it appears in a URL */
		memcpy(bare, name + 1, len - 2);
		bare[len - 2] = '\0';
		if (inet_pton(AF_INET6, bare, a) == 1)
			return 1;
	}
	if (inet_pton(AF_INET6, name, a) == 1 || inet_pton(AF_INET, name, a) == 1)
		return 1;
	if (len > 1 && name[len - 1] == '.')
		len--; /* the root's dot */
	if (len == 0 || len > 253)
	{
		snprintf(err, errlen, "\"%.300s\" is not a host name: it has 1 to 253 characters", name);
		return 0;
	}
	for (i = 0; i <= len; i++)
	{
		unsigned char c = i < len ? (unsigned char) name[i] : '.';

		if (c == '.')
		{
			if (label == 0 || label > 63)
			{
				snprintf(err, errlen, "\"%.300s\" is not a host name: its labels (between dots) have 1 to 63 characters",
						 name);
				return 0;
			}
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
		{
			snprintf(err, errlen,
					 "\"%.300s\" is not a host name: '%c' is not a letter, digit, '-', '_' or '.' (write a host alone, "
					 "with no scheme, port or path)",
					 name, isprint(c) ? c : '?');
			return 0;
		}
		if (!isdigit(c))
			numeric = 0;
		label++;
	}
	if (numeric)
	{
		/* 127.1 or 2130706433: URL parsers read these as addresses, so they are not names */
		snprintf(err, errlen, "\"%.300s\" is neither a host name nor an IPv4 address (write four numbers 0-255)", name);
		return 0;
	}
	return 1;
}

static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/*
 * An entry inside ::ffff:0:0/96 is an IPv4 one: connections are checked with
 * IPv4-mapped addresses turned into IPv4 ones, so only then does it match.
 */
static void
MappedToV4(HostAllowEntry *e)
{
	if (e->family == AF_INET6 && e->prefix >= 96 && memcmp(e->addr, mapped_prefix, sizeof(mapped_prefix)) == 0)
	{
		memmove(e->addr, e->addr + 12, 4);
		memset(e->addr + 4, 0, 12);
		e->family = AF_INET;
		e->prefix -= 96;
	}
}

/* Parse one entry (NUL-terminated, trimmed) into e; 1, or 0 with err set. */
static int
ParseEntry(const char *s, HostAllowEntry *e, char *err, size_t errlen)
{
	char		host[HP_NAMELEN + 8];
	const char *slash = strchr(s, '/');
	const char *portp = NULL;
	size_t		hostlen;

	memset(e, 0, sizeof(*e));
	if (strstr(s, "://") != NULL)
	{
		snprintf(err, errlen, "\"%.300s\" is a URL: write its host alone (host, host:port, address or address/prefix)", s);
		return 0;
	}
	if (slash)
	{
		/* address/prefix */
		char  num[8];
		char *end;
		long  bits;
		int	  max;

		hostlen = (size_t) (slash - s);
		if (hostlen >= sizeof(host) || strlen(slash + 1) == 0 || strlen(slash + 1) >= sizeof(num))
		{
			snprintf(err, errlen, "\"%.300s\" is not an address/prefix such as 127.0.0.0/8 or fd00::/8", s);
			return 0;
		}
		memcpy(host, s, hostlen);
		host[hostlen] = '\0';
		memcpy(num, slash + 1, strlen(slash + 1) + 1);
		if (inet_pton(AF_INET, host, e->addr) == 1)
			e->family = AF_INET;
		else if (inet_pton(AF_INET6, host, e->addr) == 1)
			e->family = AF_INET6;
		else
		{
			snprintf(err, errlen, "\"%.300s\" is not an address/prefix: \"%s\" is not an IPv4 or IPv6 address", s, host);
			return 0;
		}
		max = e->family == AF_INET ? 32 : 128;
		bits = strtol(num, &end, 10);
		if (*end != '\0' || !isdigit((unsigned char) num[0]) || bits < 0 || bits > max)
		{
			snprintf(err, errlen, "\"%.300s\": the prefix length must be a number from 0 to %d", s, max);
			return 0;
		}
		e->prefix = (int) bits;
		/* clear the host bits, so 127.0.0.1/8 means 127.0.0.0/8 */
		for (int i = 0; i < 16; i++)
		{
			int keep = e->prefix - i * 8;

			if (keep <= 0)
				e->addr[i] = 0;
			else if (keep < 8)
				e->addr[i] &= (unsigned char) (0xff << (8 - keep));
		}
		MappedToV4(e);
		return 1;
	}

	/* host, host:port, address, [IPv6], [IPv6]:port */
	if (s[0] == '[')
	{
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
		{
			snprintf(err, errlen, "\"%.300s\" is not [IPv6 address] or [IPv6 address]:port", s);
			return 0;
		}
		hostlen = (size_t) (close - s - 1);
		if (hostlen >= sizeof(host))
			hostlen = sizeof(host) - 1;
		memcpy(host, s + 1, hostlen);
		host[hostlen] = '\0';
		if (inet_pton(AF_INET6, host, e->addr) != 1)
		{
			snprintf(err, errlen, "\"%.300s\": \"%s\" is not an IPv6 address", s, host);
			return 0;
		}
		e->family = AF_INET6;
		if (close[1] == ':')
			portp = close + 2;
	}
	else if (inet_pton(AF_INET6, s, e->addr) == 1)
		e->family = AF_INET6;
	else
	{
		const char *colon = strchr(s, ':');

		if (colon && strchr(colon + 1, ':'))
		{
			snprintf(err, errlen, "\"%.300s\" is not an IPv6 address (write [address]:port to name a port)", s);
			return 0;
		}
		hostlen = colon ? (size_t) (colon - s) : strlen(s);
		if (hostlen >= sizeof(host))
			hostlen = sizeof(host) - 1;
		memcpy(host, s, hostlen);
		host[hostlen] = '\0';
		if (colon)
			portp = colon + 1;
		if (inet_pton(AF_INET, host, e->addr) == 1)
			e->family = AF_INET;
		else if (!hostpolicy_valid_host(host, err, errlen))
			return 0;
		else
			hostpolicy_normalize(host, e->name, sizeof(e->name));
	}
	if (e->family)
		e->prefix = e->family == AF_INET ? 32 : 128;
	MappedToV4(e);
	if (portp)
	{
		char *end;
		long  port = strtol(portp, &end, 10);

		if (!isdigit((unsigned char) portp[0]) || *end != '\0' || port < 1 || port > 65535)
		{
			snprintf(err, errlen, "\"%.300s\": the port must be a number from 1 to 65535", s);
			return 0;
		}
		e->port = (int) port;
	}
	return 1;
}

/* Parse car.allowed_hosts into one malloc'd block, or say which entry is wrong. */
HostAllowList *
hostpolicy_parse(const char *text, char *err, size_t errlen)
{
	HostAllowList *l;
	const char	  *p = text;
	int			   cap = 4;

	l = malloc(sizeof(HostAllowList) + (size_t) cap * sizeof(HostAllowEntry));
	if (l == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->n = 0;
	while (isspace((unsigned char) *p))
		p++;
	if (*p == '\0')
		return l; /* empty or blank: no entries */
	for (p = text;;)
	{
		const char *end = strchr(p, ',');
		size_t		len = end ? (size_t) (end - p) : strlen(p);
		char		entry[HP_NAMELEN + 64];

		while (len > 0 && isspace((unsigned char) *p))
			p++, len--;
		while (len > 0 && isspace((unsigned char) p[len - 1]))
			len--;
		if (len == 0)
		{
			snprintf(err, errlen, "entry %d is empty (two commas in a row, or a comma at an end)", l->n + 1);
			free(l);
			return NULL;
		}
		if (len >= sizeof(entry))
		{
			snprintf(err, errlen, "entry %d (\"%.40s...\") is longer than a host name can be", l->n + 1, p);
			free(l);
			return NULL;
		}
		memcpy(entry, p, len);
		entry[len] = '\0';
		if (l->n == cap)
		{
			HostAllowList *bigger = realloc(l, sizeof(HostAllowList) + (size_t) cap * 2 * sizeof(HostAllowEntry));

			if (bigger == NULL)
			{
				snprintf(err, errlen, "out of memory");
				free(l);
				return NULL;
			}
			l = bigger;
			cap *= 2;
		}
		if (!ParseEntry(entry, &l->e[l->n], err, errlen))
		{
			free(l);
			return NULL;
		}
		l->n++;
		if (end == NULL)
			return l;
		p = end + 1;
	}
}

/* May the worker connect to this address for this host and port? */
int
hostpolicy_check(const HostAllowList *list, const char *host, int family, const unsigned char *addr, int port,
				 char *why, size_t whylen)
{
	const unsigned char *a = addr;
	int					 fam = family;
	const char			*what;
	char				 name[HP_NAMELEN];
	char				 shown[64];
	int					 i;

	/* an IPv4-mapped IPv6 address is the IPv4 address: one entry covers both */
	if (family == AF_INET6 && memcmp(addr, mapped_prefix, sizeof(mapped_prefix)) == 0)
	{
		a = addr + 12;
		fam = AF_INET;
	}
	what = hostpolicy_classify(fam, a);
	if (what == NULL)
		return 1;
	hostpolicy_normalize(host ? host : "", name, sizeof(name));
	for (i = 0; list && i < list->n; i++)
	{
		const HostAllowEntry *e = &list->e[i];

		if (e->port != 0 && e->port != port)
			continue;
		if (e->name[0] ? strcmp(e->name, name) == 0 : e->family == fam && PrefixMatch(a, e->addr, e->prefix))
			return 1;
	}
	hostpolicy_format(family, addr, shown, sizeof(shown));
	snprintf(why, whylen, "%s is %s", shown, what);
	return 0;
}
