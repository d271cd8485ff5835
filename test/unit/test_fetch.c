/* Unit tests of the download and link-discovery helpers (src/fetch.c), without a network. */
#include "tap.h"
#include "fetch.h"
#include "hostpolicy.h"

static int
never(void *arg)
{
	(void) arg;
	return 0;
}

/* A page of n distinct links (each twice, the second time further down), plus some that do not match. */
static char *
ManyLinksPage(int n, size_t *len)
{
	size_t cap = (size_t) n * 2 * 90 + 4096;
	char  *page = malloc(cap);
	size_t o = 0;
	int	   i,
		round;

	o += (size_t) snprintf(page + o, cap - o, "<html><body><ul>");
	for (round = 0; round < 2; round++)
		for (i = 0; i < n; i++)
			o += (size_t) snprintf(page + o, cap - o, "<li><a href=\"Files/f%06d.csv\">%d</a><a href=\"x%d.html\">x</a>\n", i, i,
								   i % 7);
	o += (size_t) snprintf(page + o, cap - o, "</ul></body></html>");
	*len = o;
	return page;
}

/* qsort comparison of two strings */
static int
CompareStrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* 100,000 distinct links, each twice: every one kept once, in page order, none left out. */
static void
TestManyLinks(void)
{
	size_t	   len;
	char	  *page = ManyLinksPage(100000, &len);
	FetchLinks l;
	char	   err[FETCH_ERRLEN];
	char	   want[128];
	int		   i,
		in_order = 1,
		dups = 0;
	char **sorted;
	int	   rc;

	rc = fetch_links(page, len, "http://127.0.0.1:8080/d/index.html", "\\.csv$", NULL, FETCH_MAX_LINKS, &l, err, sizeof(err));
	OK(rc == 0, "a page of 200,000 matching links (100,000 distinct) is read");
	OK(l.n == 100000 && l.over_cap == 0 && l.too_long == 0, "100,000 distinct links kept, none left out (%d, %ld)", l.n,
	   l.over_cap);
	for (i = 0; i < l.n && in_order; i++)
	{
		snprintf(want, sizeof(want), "http://127.0.0.1:8080/d/Files/f%06d.csv", i);
		in_order = strcmp(l.v[i], want) == 0;
	}
	OK(in_order, "in page order, resolved (link %d)", i - 1);
	sorted = malloc(sizeof(char *) * (size_t) (l.n > 0 ? l.n : 1));
	memcpy(sorted, l.v, sizeof(char *) * (size_t) l.n);
	qsort(sorted, (size_t) l.n, sizeof(char *), CompareStrings);
	for (i = 1; i < l.n; i++)
		dups += strcmp(sorted[i - 1], sorted[i]) == 0;
	OK(dups == 0, "no link twice (%d duplicates)", dups);
	free(sorted);
	fetch_links_free(&l);
	rc = fetch_links(page, len, "http://127.0.0.1:8080/d/index.html", NULL, NULL, FETCH_MAX_LINKS, &l, err, sizeof(err));
	/* distinct in page order: f0 x0 f1 x1 ... f6 x6 f7 f8 ...: 100,007, so f099993 to f099999 are past the cap */
	OK(rc == 0 && l.n == FETCH_MAX_LINKS && l.over_cap == 14,
	   "no pattern: of 100,007 distinct links the first 100,000 are kept; the other 7, twice each, counted (%d, %ld)", l.n,
	   l.over_cap);
	OK(l.n == FETCH_MAX_LINKS && strcmp(l.v[1], "http://127.0.0.1:8080/d/x0.html") == 0 &&
		   strcmp(l.v[l.n - 1], "http://127.0.0.1:8080/d/Files/f099992.csv") == 0,
	   "the cap keeps the first links in page order");
	fetch_links_free(&l);
	free(page);
}

/* The cap and the length limit: what is left out is counted, never kept. */
static void
TestCap(void)
{
	const char *page = "<a href=a1>1</a><a href=a2>2</a><a href=a1>1 again</a><a href=a3>3</a><a href=a4>4</a>"
					   "<a href=a2>2 again</a><a href=a5>5</a><a href=a4>4 again</a>";
	FetchLinks	l;
	char		err[FETCH_ERRLEN];
	char	   *big;
	size_t		o;
	int			depth;
	int			rc;

	rc = fetch_links(page, strlen(page), "http://127.0.0.1/", NULL, NULL, 3, &l, err, sizeof(err));
	OK(rc == 0 && l.n == 3 && strcmp(l.v[2], "http://127.0.0.1/a3") == 0,
	   "a cap of 3: a1, a2, a3 kept (%d)", l.n);
	OK(l.over_cap == 3, "a4, a5 and a4 again left out and counted; a1 and a2 again are duplicates (%ld)", l.over_cap);
	fetch_links_free(&l);

	big = malloc(20000);
	o = (size_t) snprintf(big, 20000, "<a href=\"ok.csv\">ok</a><a href=\"");
	memset(big + o, 'x', FETCH_MAX_LINK_LEN);
	o += FETCH_MAX_LINK_LEN;
	o += (size_t) snprintf(big + o, 20000 - o, ".csv\">long</a>");
	rc = fetch_links(big, o, "http://127.0.0.1/", NULL, NULL, FETCH_MAX_LINKS, &l, err, sizeof(err));
	OK(rc == 0 && l.n == 1 && l.too_long == 1,
	   "a link longer than %d characters is left out and counted (%d, %ld)", FETCH_MAX_LINK_LEN, l.n, l.too_long);
	fetch_links_free(&l);
	free(big);

	/* nesting far deeper than any real page: no recursion to overflow the stack */
	big = malloc(100000 * 5 + 100);
	o = 0;
	for (depth = 0; depth < 100000; depth++)
		o += (size_t) snprintf(big + o, 10, "<div>");
	o += (size_t) snprintf(big + o, 100, "<a href=deep.csv>deep</a>");
	rc = fetch_links(big, o, "http://127.0.0.1/", NULL, NULL, FETCH_MAX_LINKS, &l, err, sizeof(err));
	OK(rc == 0, "100,000 nested elements are walked (%d links)", l.n);
	fetch_links_free(&l);
	free(big);
}

/* The same-host rule: which URLs a source's scope takes. */
static void
TestScope(void)
{
	static const char *const follow[] = {"LocalHost", "[::1]"};
	FetchScope				 web = {"http://user:pw@127.0.0.1:8080/eCMS/Viewfiles.asp?folder=MOJ", NULL, 0};
	FetchScope				 web_follow = {"http://127.0.0.1:8080/eCMS/Viewfiles.asp", follow, 2};
	FetchScope				 local = {"file:///srv/car/index.html", NULL, 0};
	FetchScope				 tpl = {"http://127.0.0.1:8080/Files/f_{mon}-{yyyy}.csv", NULL, 0};
	FetchScope				 v6 = {"http://[::1]:8080/index.html", NULL, 0};
	FetchScope				 broken = {"", NULL, 0};
	FetchScope				 anywhere = {NULL, NULL, 0};
	char					 why[600];

	OK(fetch_in_scope(&web, "http://127.0.0.1:8080/eCMS/Files/a.csv", why, sizeof(why)), "the source's own host");
	OK(fetch_in_scope(&web, "https://127.0.0.1:9443/a.csv", why, sizeof(why)), "the same host on another port and scheme");
	OK(!fetch_in_scope(&web, "http://127.0.0.2:8080/a.csv", why, sizeof(why)) &&
		   strcmp(why, "host 127.0.0.2 is neither the source's host (127.0.0.1) nor listed in its follow_hosts option") == 0,
	   "another host: %s", why);
	OK(!fetch_in_scope(&web, "http://localhost:8080/a.csv", why, sizeof(why)), "localhost is another host name: %s", why);
	OK(fetch_in_scope(&web_follow, "http://localhost.:8080/a.csv", why, sizeof(why)) &&
		   fetch_in_scope(&web_follow, "http://[::1]/a.csv", why, sizeof(why)),
	   "hosts in follow_hosts, however written");
	OK(!fetch_in_scope(&web_follow, "http://127.0.0.2/a.csv", why, sizeof(why)), "others still not: %s", why);
	OK(!fetch_in_scope(&web_follow, "file://localhost/etc/passwd", why, sizeof(why)) && strstr(why, "scheme \"file\"") != NULL,
	   "a file: URL from a web source, even on a followed host: %s", why);
	OK(!fetch_in_scope(&web, "ftp://127.0.0.1/a.csv", why, sizeof(why)), "another scheme: %s", why);
	OK(fetch_in_scope(&local, "file:///srv/car/a.csv", why, sizeof(why)), "a file: source's own files");
	OK(!fetch_in_scope(&local, "http://127.0.0.1/a.csv", why, sizeof(why)) && strstr(why, "source's host (none)") != NULL,
	   "a file: source's link to the web: %s", why);
	OK(fetch_in_scope(&tpl, "http://127.0.0.1:8080/Files/f_jan-2024.csv", why, sizeof(why)), "a template source's files");
	OK(fetch_in_scope(&v6, "http://[::1]/x", why, sizeof(why)) && !fetch_in_scope(&v6, "http://127.0.0.1/x", why, sizeof(why)),
	   "an IPv6 source host");
	OK(!fetch_in_scope(&broken, "http://127.0.0.1/x", why, sizeof(why)) && strstr(why, "cannot be read") != NULL,
	   "a source URI that is not a URL allows nothing: %s", why);
	OK(!fetch_in_scope(&web, "::", why, sizeof(why)), "a URL that is not one: %s", why);
	{
		char longhost[400];

		/* a host longer than any name would compare truncated: refused */
		snprintf(longhost, sizeof(longhost), "http://%0300d/x", 0);
		memset(longhost + 7, 'a', 300);
		OK(!fetch_in_scope(&web, longhost, why, sizeof(why)), "a 300-character host: %s", why);
	}
	OK(fetch_in_scope(&anywhere, "http://127.0.0.2/x", why, sizeof(why)) && fetch_in_scope(NULL, "x", why, sizeof(why)),
	   "no origin: no rule");
}

/* Index links outside the scope are left out and counted, hosts named. */
static void
TestScopedLinks(void)
{
	static const char *const follow[] = {"localhost"};
	FetchScope				 own = {"http://127.0.0.1:8080/eCMS/Mixed.asp", NULL, 0};
	FetchScope				 more = {"http://127.0.0.1:8080/eCMS/Mixed.asp", follow, 1};
	const char				*page = "<a href=a.csv>a</a><a href=\"http://127.0.0.2:8080/b.csv\">b</a>"
									"<a href=\"http://localhost:8080/c.csv\">c</a><a href=\"http://127.0.0.2:8080/b.csv\">b again</a>"
									"<a href=\"http://127.0.0.2:9/b2.csv\">b2</a><a href=\"file:///etc/passwd.csv\">d</a>"
									"<a href=\"mailto:x@127.0.0.1?.csv\">m</a><a href=\"//127.0.0.1:9/e.csv\">e</a>";
	FetchLinks				 l;
	char					 err[FETCH_ERRLEN];
	char					*many;
	size_t					 o = 0;
	int						 i,
		rc;

	rc = fetch_links(page, strlen(page), own.origin, "\\.csv$", &own, FETCH_MAX_LINKS, &l, err, sizeof(err));
	OK(rc == 0 && l.n == 2 && strcmp(l.v[0], "http://127.0.0.1:8080/eCMS/a.csv") == 0 &&
		   strcmp(l.v[1], "http://127.0.0.1:9/e.csv") == 0,
	   "links on the source's host kept, any port (%d)", l.n);
	OK(l.other_hosts == 3 && strcmp(l.other_host_names, "127.0.0.2, localhost") == 0,
	   "3 distinct links to other hosts left out, the hosts named once each (%ld: %s)", l.other_hosts, l.other_host_names);
	/* (mailto: is no URL scheme libcurl's parser takes: such hrefs are no links at all, as before) */
	OK(l.other_schemes == 1, "the file: link left out and counted (%ld)", l.other_schemes);
	fetch_links_free(&l);
	rc = fetch_links(page, strlen(page), more.origin, "\\.csv$", &more, FETCH_MAX_LINKS, &l, err, sizeof(err));
	OK(rc == 0 && l.n == 3 && strcmp(l.v[1], "http://localhost:8080/c.csv") == 0 && l.other_hosts == 2 &&
		   strcmp(l.other_host_names, "127.0.0.2") == 0,
	   "follow_hosts: the localhost link kept, 127.0.0.2 still left out (%d, %s)", l.n, l.other_host_names);
	fetch_links_free(&l);

	/* many other hosts: as many names as fit, then "..." */
	many = malloc(200 * 64);
	for (i = 0; i < 200; i++)
		o += (size_t) snprintf(many + o, 64, "<a href=\"http://h%03d.localhost/x.csv\">x</a>", i);
	rc = fetch_links(many, o, own.origin, NULL, &own, FETCH_MAX_LINKS, &l, err, sizeof(err));
	OK(rc == 0 && l.n == 0 && l.other_hosts == 200 && strncmp(l.other_host_names, "h000.localhost, h001.localhost", 30) == 0 &&
		   strlen(l.other_host_names) < sizeof(l.other_host_names) &&
		   strcmp(l.other_host_names + strlen(l.other_host_names) - 5, ", ...") == 0,
	   "200 other hosts: the first named, then \"...\" (%s)", l.other_host_names);
	fetch_links_free(&l);
	free(many);
}

/* A redirect's next hop: what a redirect may lead to, and where credentials go along. */
static void
TestNextHop(void)
{
	static const char *const cases[][4] = {
		/* current, Location as libcurl resolves it, what follows ("" refused), what it shows */
		{"http://u:p@127.0.0.1:8080/a", "http://u:p@127.0.0.1:8080/b", "http://u:p@127.0.0.1:8080/b",
		 "a relative redirect keeps user:password"},
		{"http://u:p@127.0.0.1:8080/a", "http://127.0.0.1:8080/b", "http://u:p@127.0.0.1:8080/b",
		 "an absolute one to the same origin gets them, as libcurl would send them"},
		{"http://u:p@127.0.0.1:8080/a", "http://127.0.0.2:8080/b", "http://127.0.0.2:8080/b",
		 "another host gets none"},
		{"http://u:p@127.0.0.1:8080/a", "http://u:p@127.0.0.1:8081/b", "http://127.0.0.1:8081/b",
		 "another port gets none"},
		{"http://u:p@127.0.0.1/a", "https://127.0.0.1/b", "https://127.0.0.1/b", "another scheme gets none"},
		{"http://u:p@localhost/a", "http://LOCALHOST:80/b", "http://u:p@LOCALHOST:80/b",
		 "the same origin however written"},
		{"http://127.0.0.1/a", "file:///etc/passwd", "", "file: refused"},
		{"http://127.0.0.1/a", "ftp://127.0.0.1/x", "", "ftp: refused"},
		{"http://127.0.0.1/a", "https://127.0.0.1/x", "", "https refused when only http is allowed"},
		{"http://127.0.0.1/a", "::not a url", "", "a Location that is no URL refused"},
	};
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const char *protocols = i == 8 ? "http" : "https,http,file,ftp";
		char	   *next = fetch_next_hop(cases[i][0], cases[i][1], protocols, why, sizeof(why));

		if (cases[i][2][0])
			IS_STR(next, cases[i][2], "redirect: %s", cases[i][3]);
		else
			OK(next == NULL && why[0], "redirect: %s (%s)", cases[i][3], why);
		free(next);
	}
}

/* Connections to special addresses: refused unless car.allowed_hosts lets them through; proxies ignored. */
static void
TestDestinations(FetchRequest *req)
{
	FetchResult	   res;
	char		   err[256];
	HostAllowList *only_1 = hostpolicy_parse("127.0.0.1", err, sizeof(err));
	int			   rc;

	req->protocols = "http";
	req->max_bytes = 1000;
	req->url = "http://127.0.0.1:1/x";
	req->allowed = NULL;
	rc = fetch_url(req, &res);
	OK(rc != 0 && res.refused && res.final_url == NULL && res.body == NULL &&
		   strcmp(res.error, "fetching http://127.0.0.1:1/x refused: 127.0.0.1 is a loopback address, and car.allowed_hosts "
							 "does not list it") == 0,
	   "car.allowed_hosts empty: 127.0.0.1 refused before connecting: %s", res.error);
	req->allowed = only_1;
	rc = fetch_url(req, &res);
	OK(rc != 0 && !res.refused && strstr(res.error, "fetching http://127.0.0.1:1/x failed: ") != NULL &&
		   strstr(res.error, "refused:") == NULL,
	   "car.allowed_hosts = 127.0.0.1: connected, nothing listening: %s", res.error);
	req->url = "http://127.0.0.2:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && res.refused && strstr(res.error, "refused: 127.0.0.2 is a loopback address") != NULL,
	   "car.allowed_hosts = 127.0.0.1: 127.0.0.2 refused: %s", res.error);
	req->url = "http://user:secret@127.0.0.2:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && strstr(res.error, "secret") == NULL && strstr(res.error, "http://127.0.0.2:1/x") != NULL,
	   "no credentials in a refusal: %s", res.error);
	req->url = "http://[::1]:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && res.refused && strstr(res.error, "::1 is a loopback address") != NULL, "::1 refused: %s", res.error);
	req->url = "http://[::ffff:127.0.0.2]:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && res.refused && strstr(res.error, "127.0.0.2 is a loopback address") != NULL,
	   "an IPv4-mapped address is refused as its IPv4 address: %s", res.error);
	/* localhost: ::1 is refused, 127.0.0.1 tried: the failure is the connection's, not a refusal */
	req->url = "http://localhost:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && !res.refused && strstr(res.error, "refused:") == NULL,
	   "localhost: the allowed 127.0.0.1 is tried, ::1 is not: %s", res.error);
	/* a proxy in the environment would be connected to instead: it must be ignored */
	setenv("http_proxy", "http://127.0.0.2:1", 1);
	setenv("ALL_PROXY", "http://127.0.0.2:1", 1);
	req->url = "http://127.0.0.1:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && !res.refused && strstr(res.error, "127.0.0.2") == NULL,
	   "http_proxy and ALL_PROXY are ignored: %s", res.error);
	unsetenv("http_proxy");
	unsetenv("ALL_PROXY");

	/* the same-host rule on the first hop, before any connection */
	req->scope.origin = "http://127.0.0.1:8080/eCMS/Viewfiles.asp";
	req->url = "http://127.0.0.2:1/x";
	rc = fetch_url(req, &res);
	OK(rc != 0 && res.refused &&
		   strcmp(res.error, "fetching http://127.0.0.2:1/x refused: host 127.0.0.2 is neither the source's host "
							 "(127.0.0.1) nor listed in its follow_hosts option") == 0,
	   "a URL on another host than the source's: %s", res.error);
	req->url = "file:///tmp/car_fetch_test.txt";
	req->protocols = "file,http";
	rc = fetch_url(req, &res);
	OK(rc != 0 && res.refused && strstr(res.error, "scheme \"file\" is not http, https or the source's own (http)") != NULL,
	   "a file: URL for a web source, file allowed or not: %s", res.error);
	req->scope.origin = NULL;
	req->allowed = NULL;
	free(only_1);
}

int
main(void)
{
	char		 out[256];
	char		 err[FETCH_ERRLEN];
	FetchLinks	 links;
	int			 rc;
	FetchRequest req;
	FetchResult	 res;
	const char	*page = "<html><body><a href=\"Files/MOJ/ministryofjustice_jan-2024.csv\">jan</a>"
						"<A HREF='/eCMS/Files/MOJ/ministryofjustice_feb-2024.csv'>feb</A>"
						"<a href=\"https://127.0.0.1:8443/x.csv\">x</a><a href=\"help.html\">help</a>"
						"<a href=\"Files/MOJ/ministryofjustice_jan-2024.csv\">again</a><a>no href</a>"
						"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><p>&e;</p></body></html>";
	FILE		*f;

	fetch_redact("https://user:secret@127.0.0.1:8443/path?q=1", out, sizeof(out));
	IS_STR(out, "https://127.0.0.1:8443/path?q=1", "credentials removed from a URL");
	fetch_redact("https://127.0.0.1:8443/a@b", out, sizeof(out));
	IS_STR(out, "https://127.0.0.1:8443/a@b", "an @ in the path is not a credential");

	rc = fetch_links(page, strlen(page), "http://127.0.0.1:8080/eCMS/Viewfiles.asp?folder=MOJ",
					 "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", NULL, FETCH_MAX_LINKS, &links, err, sizeof(err));
	OK(rc == 0 && links.n == 2, "two matching links, duplicates dropped (%d)", links.n);
	if (links.n == 2)
	{
		IS_STR(links.v[0], "http://127.0.0.1:8080/eCMS/Files/MOJ/ministryofjustice_jan-2024.csv", "relative link resolved");
		IS_STR(links.v[1], "http://127.0.0.1:8080/eCMS/Files/MOJ/ministryofjustice_feb-2024.csv", "absolute path resolved");
	}
	fetch_links_free(&links);
	rc = fetch_links(page, strlen(page), "http://127.0.0.1/d/", NULL, NULL, FETCH_MAX_LINKS, &links, err, sizeof(err));
	OK(rc == 0 && links.n == 4 && links.over_cap == 0 && links.too_long == 0, "no pattern: every distinct link (%d)",
	   links.n);
	fetch_links_free(&links);
	rc = fetch_links(page, strlen(page), "http://127.0.0.1/", "([", NULL, FETCH_MAX_LINKS, &links, err, sizeof(err));
	OK(rc != 0 && strstr(err, "pattern") && links.n == 0 && links.v == NULL, "a bad pattern is an error: %s", err);
	rc = fetch_links(page, strlen(page), "not a URL", NULL, NULL, FETCH_MAX_LINKS, &links, err, sizeof(err));
	OK(rc != 0 && strstr(err, "cannot be parsed"), "a base that is not a URL is an error: %s", err);
	TestManyLinks();
	TestCap();
	TestScope();
	TestScopedLinks();
	TestNextHop();

	/* file: downloads, allowed only when listed */
	f = fopen("/tmp/car_fetch_test.txt", "w");
	fputs("hello, car\n", f);
	fclose(f);
	fetch_global_init();
	memset(&req, 0, sizeof(req));
	req.url = "file:///tmp/car_fetch_test.txt";
	req.protocols = "https,http";
	req.timeout_s = 5;
	req.connect_timeout_s = 2;
	req.max_bytes = 1000;
	req.should_abort = never;
	OK(fetch_url(&req, &res) != 0 && strstr(res.error, "fetching") != NULL, "file: refused unless allowed: %s", res.error);
	req.protocols = "file";
	OK(fetch_url(&req, &res) == 0 && res.len == 11 && memcmp(res.body, "hello, car\n", 11) == 0, "file: read when allowed");
	IS_STR(res.final_url, "file:///tmp/car_fetch_test.txt", "the final URL of a download without redirects is its URL");
	fetch_free(&res);
	OK(res.body == NULL && res.final_url == NULL, "fetch_free frees the body and the final URL");
	req.max_bytes = 5;
	OK(fetch_url(&req, &res) != 0 && strstr(res.error, "car.max_download_bytes") != NULL, "size cap: %s", res.error);
	req.url = "file:///tmp/no/such/file";
	req.max_bytes = 1000;
	OK(fetch_url(&req, &res) != 0 && res.error[0], "missing file: %s", res.error);
	TestDestinations(&req);
	remove("/tmp/car_fetch_test.txt");
	printf("# unit tests done: fetch\n");
	return tap_done();
}
