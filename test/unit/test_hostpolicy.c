/*
 * Unit tests of the destination policy (src/hostpolicy.c): the special-purpose
 * address classifier, the car.allowed_hosts parser and matcher, host names.
 * Addresses are written as text and converted with inet_pton, so each case
 * reads as it would in a log.  Nothing here connects to anything: the
 * classifier's table names the ranges it must recognise (and ordinary
 * addresses next to them) only to classify them; the allow-list cases use
 * loopback addresses and .localhost names, as every other test does.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "tap.h"
#include "hostpolicy.h"

/* The classification of an address written as text ("" for an ordinary one). */
static const char *
classify(const char *text)
{
	unsigned char a[16];
	const char	 *what;

	if (inet_pton(AF_INET, text, a) == 1)
		what = hostpolicy_classify(AF_INET, a);
	else if (inet_pton(AF_INET6, text, a) == 1)
		what = hostpolicy_classify(AF_INET6, a);
	else
		return "(not an address)";
	return what ? what : "";
}

/* hostpolicy_check for an address written as text; why gets the refusal. */
static int
allowed(const HostAllowList *l, const char *host, const char *text, int port, char *why, size_t whylen)
{
	unsigned char a[16];

	why[0] = '\0';
	if (inet_pton(AF_INET, text, a) == 1)
		return hostpolicy_check(l, host, AF_INET, a, port, why, whylen);
	if (inet_pton(AF_INET6, text, a) == 1)
		return hostpolicy_check(l, host, AF_INET6, a, port, why, whylen);
	return -1;
}

/* Does parsing text fail with an error containing want? */
static int
refused(const char *text, const char *want, char *err, size_t errlen)
{
	HostAllowList *l = hostpolicy_parse(text, err, errlen);

	if (l != NULL)
	{
		free(l);
		snprintf(err, errlen, "(parsed)");
		return 0;
	}
	return strstr(err, want) != NULL;
}

int
main(void)
{
	/* every special-purpose range, and ordinary addresses next to them */
	static const char *const special[][2] = {
		{"127.0.0.1", "loopback"},
		{"127.0.0.2", "loopback"},
		{"127.255.255.255", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"192.0.0.8", "reserved"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.1", "documentation"},
		{"203.0.113.1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"febf::1", "link-local"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:7f00:2", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"64:ff9b::127.0.0.1", "loopback"},
		{"64:ff9b::192.168.0.1", "private"},
		{"64:ff9b:1::1", "private"},
		{"2002:7f00:1::1", "loopback"},
		{"2002:c0a8:101::1", "private"},
		{"2001:db8::1", "documentation"},
		{"2001::1", "Teredo"},
		{"3fff::1", "documentation"},
		{"::127.0.0.1", "reserved"},
		{"::ffff:0:127.0.0.1", "reserved"},
		{"100::1", "reserved"},
		{"4000::1", "reserved"},
	};
	static const char *const ordinary[] = {
		"1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
		"169.253.255.255", "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
		"223.255.255.255", "2a00:1450::1", "2600::1", "2001:4860::8888", "::ffff:1.1.1.1", "64:ff9b::1.1.1.1",
		"2002:101:101::1", "2001:200::1", "3ffe::1"};
	char		   why[256];
	char		   err[512];
	char		   norm[HP_NAMELEN];
	HostAllowList *l;
	size_t		   i;
	unsigned char  a[16];

	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		OK(strstr(classify(special[i][0]), special[i][1]) != NULL, "%s is refused as %s (%s)", special[i][0],
		   special[i][1], classify(special[i][0]));
	for (i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++)
		OK(classify(ordinary[i])[0] == '\0', "%s is an ordinary address (%s)", ordinary[i], classify(ordinary[i]));
	memset(a, 0, sizeof(a));
	OK(hostpolicy_classify(AF_UNIX, a) != NULL, "another address family is refused");

	/* the empty list (the default) lets no special address through */
	l = hostpolicy_parse("", err, sizeof(err));
	OK(l != NULL && l->n == 0, "an empty car.allowed_hosts is an empty list");
	OK(allowed(l, "127.0.0.1", "127.0.0.1", 80, why, sizeof(why)) == 0 && strcmp(why, "127.0.0.1 is a loopback address") == 0,
	   "empty list: 127.0.0.1 refused (%s)", why);
	OK(allowed(l, "x", "1.1.1.1", 443, why, sizeof(why)) == 1, "empty list: an ordinary address is allowed");
	OK(allowed(NULL, "localhost", "::1", 80, why, sizeof(why)) == 0 && strstr(why, "::1 is a loopback") != NULL,
	   "no list at all: ::1 refused (%s)", why);
	free(l);
	l = hostpolicy_parse("  \t ", err, sizeof(err));
	OK(l != NULL && l->n == 0, "a blank car.allowed_hosts is an empty list");
	free(l);

	/* the test servers' list: 127.0.0.1 only */
	l = hostpolicy_parse("127.0.0.1", err, sizeof(err));
	OK(l != NULL && l->n == 1, "\"127.0.0.1\" parses");
	OK(allowed(l, "127.0.0.1", "127.0.0.1", 8080, why, sizeof(why)) == 1, "127.0.0.1 allowed, any port");
	OK(allowed(l, "localhost", "127.0.0.1", 8080, why, sizeof(why)) == 1, "an address entry matches whatever name led there");
	OK(allowed(l, "127.0.0.2", "127.0.0.2", 8080, why, sizeof(why)) == 0 && strcmp(why, "127.0.0.2 is a loopback address") == 0,
	   "127.0.0.2 refused (%s)", why);
	OK(allowed(l, "localhost", "::1", 8080, why, sizeof(why)) == 0, "::1 refused: 127.0.0.1 is not ::1");
	OK(allowed(l, "x", "::ffff:127.0.0.1", 8080, why, sizeof(why)) == 1, "the IPv4-mapped form of 127.0.0.1 is 127.0.0.1");
	OK(allowed(l, "x", "::ffff:127.0.0.2", 8080, why, sizeof(why)) == 0 && strstr(why, "::ffff:127.0.0.2 is a loopback") != NULL,
	   "the IPv4-mapped form of 127.0.0.2 is refused (%s)", why);
	free(l);

	/* host, host:port, address:port, [IPv6]:port, CIDR v4 and v6, IPv4-mapped */
	l = hostpolicy_parse(" Files.Localhost. , localhost:8443,127.0.0.3:81, [::1]:8080, 127.0.4.0/24,::/127, ::ffff:127.0.6.0/120 ",
						 err, sizeof(err));
	OK(l != NULL && l->n == 7, "seven entries parse, spaces trimmed (%s)", l ? "" : err);
	if (l != NULL && l->n == 7)
	{
		IS_STR(l->e[0].name, "files.localhost", "a host entry is lower case, without the root's dot");
		OK(l->e[1].port == 8443 && strcmp(l->e[1].name, "localhost") == 0, "host:port");
		OK(l->e[2].family == AF_INET && l->e[2].prefix == 32 && l->e[2].port == 81, "address:port");
		OK(l->e[3].family == AF_INET6 && l->e[3].prefix == 128 && l->e[3].port == 8080, "[IPv6]:port");
		OK(l->e[4].family == AF_INET && l->e[4].prefix == 24 && l->e[4].port == 0, "IPv4 CIDR");
		OK(l->e[5].family == AF_INET6 && l->e[5].prefix == 127, "IPv6 CIDR");
		OK(l->e[6].family == AF_INET && l->e[6].prefix == 24 && l->e[6].addr[2] == 6, "an IPv4-mapped CIDR is an IPv4 one");
	}
	OK(allowed(l, "FILES.localhost", "127.0.0.9", 443, why, sizeof(why)) == 1, "a host entry matches the URL's host name");
	OK(allowed(l, "[files.localhost.]", "::1", 443, why, sizeof(why)) == 1, "host names compare without case or root dot");
	OK(allowed(l, "other.localhost", "127.0.0.9", 443, why, sizeof(why)) == 0 && strcmp(why, "127.0.0.9 is a loopback address") == 0,
	   "another name to the same address is refused (%s)", why);
	OK(allowed(l, "localhost", "127.0.0.1", 8443, why, sizeof(why)) == 1, "host:port, right port");
	OK(allowed(l, "localhost", "127.0.0.1", 8444, why, sizeof(why)) == 0, "host:port, another port refused");
	OK(allowed(l, "x", "127.0.0.3", 81, why, sizeof(why)) == 1, "address:port, right port");
	OK(allowed(l, "x", "127.0.0.3", 80, why, sizeof(why)) == 0, "address:port, another port refused");
	OK(allowed(l, "x", "::1", 8080, why, sizeof(why)) == 1, "[::1]:8080, right port");
	OK(allowed(l, "x", "127.0.4.0", 1, why, sizeof(why)) == 1 && allowed(l, "x", "127.0.4.255", 1, why, sizeof(why)) == 1,
	   "127.0.4.0/24: both ends inside");
	OK(allowed(l, "x", "127.0.5.0", 1, why, sizeof(why)) == 0 && allowed(l, "x", "127.0.3.255", 1, why, sizeof(why)) == 0,
	   "127.0.4.0/24: just outside refused");
	OK(allowed(l, "x", "::ffff:127.0.4.7", 1, why, sizeof(why)) == 1, "an IPv4 CIDR matches the IPv4-mapped form");
	OK(allowed(l, "x", "127.0.6.1", 1, why, sizeof(why)) == 1 && allowed(l, "x", "::ffff:127.0.6.1", 1, why, sizeof(why)) == 1,
	   "an IPv4-mapped CIDR matches the IPv4 address and its mapped form");
	OK(allowed(l, "x", "::", 1, why, sizeof(why)) == 1, "::/127 covers ::");
	OK(allowed(l, "x", "::1", 1, why, sizeof(why)) == 1, "::/127 covers ::1 on any port");
	OK(allowed(l, "x", "::2", 1, why, sizeof(why)) == 0 && strstr(why, "::2 is a reserved address") != NULL,
	   "::/127 does not cover ::2 (%s)", why);
	free(l);

	/* prefixes: host bits cleared, /0, odd lengths */
	l = hostpolicy_parse("127.0.0.1/8,::1/9", err, sizeof(err));
	OK(l != NULL && l->n == 2 && l->e[0].addr[3] == 0 && l->e[1].addr[15] == 0, "host bits of a CIDR entry are cleared");
	OK(allowed(l, "x", "127.200.0.1", 1, why, sizeof(why)) == 1, "127.0.0.1/8 covers 127.200.0.1");
	OK(allowed(l, "x", "::1", 1, why, sizeof(why)) == 1 && allowed(l, "x", "::ffff:127.1.2.3", 1, why, sizeof(why)) == 1,
	   "::/9 covers ::1, and 127.0.0.0/8 the mapped 127.1.2.3");
	free(l);
	l = hostpolicy_parse("0.0.0.0/0", err, sizeof(err));
	OK(l != NULL && allowed(l, "x", "127.0.0.2", 1, why, sizeof(why)) == 1 && allowed(l, "x", "::1", 1, why, sizeof(why)) == 0,
	   "0.0.0.0/0 allows every IPv4 address, no IPv6 one");
	free(l);
	l = hostpolicy_parse("127.0.0.0/31", err, sizeof(err));
	OK(l != NULL && allowed(l, "x", "127.0.0.1", 1, why, sizeof(why)) == 1 && allowed(l, "x", "127.0.0.2", 1, why, sizeof(why)) == 0,
	   "127.0.0.0/31 is 127.0.0.0 and 127.0.0.1");
	free(l);

	/* wrong entries say which and why */
	OK(refused("127.0.0.1,", "entry 2 is empty", err, sizeof(err)), "a trailing comma: %s", err);
	OK(refused("127.0.0.1,,localhost", "entry 2 is empty", err, sizeof(err)), "two commas: %s", err);
	OK(refused("127.0.0.0/33", "from 0 to 32", err, sizeof(err)), "/33: %s", err);
	OK(refused("::1/129", "from 0 to 128", err, sizeof(err)), "/129: %s", err);
	OK(refused("127.0.0.0/", "127.0.0.0/", err, sizeof(err)), "no prefix length: %s", err);
	OK(refused("127.0.0.0/8x", "from 0 to 32", err, sizeof(err)), "a prefix length with junk: %s", err);
	OK(refused("127.0.0.0/-1", "from 0 to 32", err, sizeof(err)), "a negative prefix length: %s", err);
	OK(refused("localhost/8", "not an IPv4 or IPv6 address", err, sizeof(err)), "a name with a prefix: %s", err);
	OK(refused("127.0.0.1:0", "from 1 to 65535", err, sizeof(err)), "port 0: %s", err);
	OK(refused("127.0.0.1:65536", "from 1 to 65535", err, sizeof(err)), "port 65536: %s", err);
	OK(refused("localhost:", "from 1 to 65535", err, sizeof(err)), "an empty port: %s", err);
	OK(refused("localhost:80x", "from 1 to 65535", err, sizeof(err)), "a port with junk: %s", err);
	OK(refused("[::1", "[IPv6 address]", err, sizeof(err)), "an unclosed bracket: %s", err);
	OK(refused("[::1]x", "[IPv6 address]", err, sizeof(err)), "junk after the bracket: %s", err);
	OK(refused("[localhost]:80", "not an IPv6 address", err, sizeof(err)), "a name in brackets: %s", err);
	OK(refused("::1:80:x:y", "not an IPv6 address", err, sizeof(err)), "colons but no IPv6: %s", err);
	OK(refused("localhost, http://127.0.0.1/", "is a URL: write its host alone", err, sizeof(err)), "a URL: %s", err);
	OK(refused("127.0.0.1/x/y", "prefix", err, sizeof(err)), "a path: %s", err);
	OK(refused("*.localhost", "'*' is not a letter", err, sizeof(err)), "a wildcard: %s", err);
	OK(refused("files localhost", "' ' is not a letter", err, sizeof(err)), "a space inside: %s", err);
	OK(refused("127.1", "neither a host name nor an IPv4 address", err, sizeof(err)), "127.1: %s", err);
	OK(refused("2130706433", "neither a host name nor an IPv4 address", err, sizeof(err)), "a decimal address: %s", err);
	OK(refused("a..b", "1 to 63", err, sizeof(err)), "an empty label: %s", err);
	OK(refused(".", "1 to 253", err, sizeof(err)) || refused(".", "1 to 63", err, sizeof(err)), "a lone dot: %s", err);
	{
		char long_label[80];
		char long_name[300];

		memset(long_label, 'a', 64);
		strcpy(long_label + 64, ".localhost");
		OK(refused(long_label, "1 to 63", err, sizeof(err)), "a 64-character label: %s", err);
		memset(long_name, 'a', sizeof(long_name) - 1);
		long_name[sizeof(long_name) - 1] = '\0';
		for (i = 50; i < sizeof(long_name) - 1; i += 51)
			long_name[i] = '.';
		OK(refused(long_name, "longer than a host name", err, sizeof(err)) || refused(long_name, "1 to 253", err, sizeof(err)),
		   "a 299-character name: %s", err);
	}

	/* host names, as the follow_hosts option takes them */
	OK(hostpolicy_valid_host("files.localhost", err, sizeof(err)), "a host name is valid");
	OK(hostpolicy_valid_host("127.0.0.2", err, sizeof(err)) && hostpolicy_valid_host("::1", err, sizeof(err)) &&
		   hostpolicy_valid_host("[::1]", err, sizeof(err)),
	   "addresses are valid hosts");
	OK(!hostpolicy_valid_host("localhost:443", err, sizeof(err)) && strstr(err, "':'") != NULL, "a port is not: %s", err);
	OK(!hostpolicy_valid_host("https://localhost", err, sizeof(err)), "a URL is not: %s", err);
	OK(!hostpolicy_valid_host("", err, sizeof(err)), "an empty name is not: %s", err);
	OK(!hostpolicy_valid_host("[nope]", err, sizeof(err)), "a name in brackets is not: %s", err);
	hostpolicy_normalize("[::1]", norm, sizeof(norm));
	IS_STR(norm, "::1", "IPv6 brackets dropped");
	hostpolicy_normalize("Files.LOCALHOST.", norm, sizeof(norm));
	IS_STR(norm, "files.localhost", "lower case, root dot dropped");
	{
		static const char *const hosts[] = {"files.localhost", "[::1]", "127.0.0.2"};

		OK(hostpolicy_host_in("FILES.localhost.", hosts, 3) && hostpolicy_host_in("::1", hosts, 3) &&
			   hostpolicy_host_in("127.0.0.2", hosts, 3),
		   "listed hosts are found, however written");
		OK(!hostpolicy_host_in("localhost", hosts, 3) && !hostpolicy_host_in("127.0.0.1", hosts, 3) &&
			   !hostpolicy_host_in("", hosts, 3),
		   "others are not");
	}
	printf("# unit tests done: hostpolicy\n");
	return tap_done();
}
