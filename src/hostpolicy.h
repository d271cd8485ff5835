/*
 * hostpolicy.h
 *		Which network destinations the background worker may reach: the
 *		special-purpose address ranges it refuses (loopback, private,
 *		link-local, multicast, ...), the car.allowed_hosts list that lets some
 *		of them through, and the host-name checks of the same-host rule.  Pure
 *		C: no libcurl, no backend calls, so it is unit-tested and fuzzed alone.
 */
#ifndef CAR_HOSTPOLICY_H
#define CAR_HOSTPOLICY_H

#include <stddef.h>

#define HP_NAMELEN 256 /* a DNS name is at most 253 characters */

/* One entry of car.allowed_hosts. */
typedef struct HostAllowEntry
{
	char		  name[HP_NAMELEN]; /* host name entry (lower case), or "" for an address entry */
	int			  family;			/* address entry: AF_INET or AF_INET6; name entry: 0 */
	unsigned char addr[16];			/* address entry: the network, host bits cleared */
	int			  prefix;			/* address entry: leading bits of addr that must match */
	int			  port;				/* the port it is limited to, or 0 for any */
} HostAllowEntry;

/* A parsed car.allowed_hosts: one malloc'd block (free() releases it). */
typedef struct HostAllowList
{
	int			   n;
	HostAllowEntry e[];
} HostAllowList;

/*
 * Parse a comma-separated list of host, host:port, address, [IPv6]:port and
 * address/prefix (CIDR) entries.  Returns a malloc'd list (n = 0 for an empty
 * or blank text), or NULL with err saying which entry is wrong and why.
 */
extern HostAllowList *hostpolicy_parse(const char *text, char *err, size_t errlen);

/*
 * The special-purpose range an address (AF_INET: 4 bytes, AF_INET6: 16) is
 * in, as a phrase for messages ("a loopback address"), or NULL for an
 * ordinary globally routed address.  IPv4-mapped, NAT64 and 6to4 IPv6
 * addresses are judged by the IPv4 address inside them.
 */
extern const char *hostpolicy_classify(int family, const unsigned char *addr);

/*
 * May the worker connect to addr:port, reached for a URL whose host is
 * host?  Ordinary addresses always; special-purpose ones only when an entry
 * of the list matches (a name entry the URL's host, an address entry the
 * address; a port, when the entry names one).  Returns 1, or 0 with why set
 * ("127.0.0.2 is a loopback address").
 */
extern int hostpolicy_check(const HostAllowList *list, const char *host, int family, const unsigned char *addr,
							int port, char *why, size_t whylen);

/* Is name a host name or IP address (no scheme, port or path)?  1, or 0 with err set. */
extern int hostpolicy_valid_host(const char *name, char *err, size_t errlen);

/* A host as compared: lower case, without IPv6 brackets or a trailing dot. */
extern void hostpolicy_normalize(const char *host, char *out, size_t outlen);

/* Is host (normalized or not) one of hosts[0..n-1]? */
extern int hostpolicy_host_in(const char *host, const char *const *hosts, int n);

/* An address as text (inet_ntop), for messages. */
extern void hostpolicy_format(int family, const unsigned char *addr, char *out, size_t outlen);

#endif /* CAR_HOSTPOLICY_H */
