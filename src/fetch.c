/*
 * fetch.c
 *		HTTP(S)/file downloads with libcurl and HTML link discovery with
 *		libxml2; see fetch.h.
 */
#include "fetch.h"
#include "hostpolicy.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/hash.h>
#include <libxml/tree.h>

#define MAX_REDIRECTS 5

typedef struct Sink
{
	FetchResult		   *res;
	const FetchRequest *req;
	size_t				cap;
	int					too_big;
} Sink;

/* libcurl's global setup, once per process. */
void
fetch_global_init(void)
{
	static int done = 0;

	if (!done)
	{
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

/* Body callback: grow the buffer; refuse (by returning 0) past the cap. */
static size_t
WriteBody(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Sink  *s = userdata;
	size_t n = size * nmemb;

	if (s->res->len + n > s->req->max_bytes)
	{
		s->too_big = 1;
		return 0;
	}
	if (s->res->len + n + 1 > s->cap)
	{
		size_t newcap = s->cap ? s->cap : 65536;
		char  *nb;

		while (newcap < s->res->len + n + 1)
			newcap *= 2;
		nb = realloc(s->res->body, newcap);
		if (nb == NULL)
			return 0;
		s->res->body = nb;
		s->cap = newcap;
	}
	memcpy(s->res->body + s->res->len, ptr, n);
	s->res->len += n;
	s->res->body[s->res->len] = '\0';
	if (s->req->progress)
		s->req->progress(s->req->progress_arg, s->res->len);
	return n;
}

/* Header callback: keep ETag and Last-Modified of the final response. */
static size_t
ReadHeader(char *buf, size_t size, size_t nitems, void *userdata)
{
	FetchResult *r = userdata;
	size_t		 n = size * nitems;
	char		 line[512];
	size_t		 l = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
	char		*v;

	memcpy(line, buf, l);
	line[l] = '\0';
	while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == '\n'))
		line[--l] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0)
	{
		/* a new response (after a redirect): forget the previous one's validators */
		r->etag[0] = r->last_modified[0] = '\0';
		return n;
	}
	v = strchr(line, ':');
	if (v == NULL)
		return n;
	*v++ = '\0';
	while (*v == ' ')
		v++;
	if (strcasecmp(line, "ETag") == 0)
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	else if (strcasecmp(line, "Last-Modified") == 0)
		snprintf(r->last_modified, sizeof(r->last_modified), "%s", v);
	return n;
}

/* Progress callback: a non-zero return (the caller wants to stop) aborts the transfer. */
static int
Progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const FetchRequest *req = clientp;

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	return req->should_abort && req->should_abort(req->abort_arg) ? 1 : 0;
}

/* Copy url without any user:password@ (see fetch.h). */
void
fetch_redact(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://");
	const char *at;
	const char *slash;

	snprintf(out, outlen, "%s", url);
	if (scheme == NULL)
		return;
	slash = strchr(scheme + 3, '/');
	at = strchr(scheme + 3, '@');
	if (at && (slash == NULL || at < slash))
		snprintf(out, outlen, "%.*s%s", (int) (scheme + 3 - url), url, at + 1);
}

/*
 * What the open-socket callback checks against: car.allowed_hosts, the host
 * of the URL being fetched now; and what it did on this hop.  The callback
 * runs inside libcurl, so it only takes note; fetch_url reports.
 */
typedef struct Guard
{
	const HostAllowList *allowed;
	char				 host[HP_NAMELEN];
	int					 opened;   /* sockets allowed on this hop */
	int					 refused;  /* addresses refused on this hop */
	char				 why[256]; /* the first refusal */
} Guard;

/*
 * libcurl's open-socket callback: every connection, of every hop, to the
 * address actually resolved (so DNS rebinding gains nothing), is checked
 * before its socket exists.  A refused address gets no socket, and libcurl
 * tries the host's next address, if any.
 */
static curl_socket_t
OpenSocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	Guard		 *g = clientp;
	unsigned char a[16];
	int			  port = 0;
	char		  why[256];

	memset(a, 0, sizeof(a));
	if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in))
	{
		const struct sockaddr_in *sin = (const struct sockaddr_in *) (const void *) &address->addr;

		memcpy(a, &sin->sin_addr, 4);
		port = ntohs(sin->sin_port);
	}
	else if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6))
	{
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) (const void *) &address->addr;

		memcpy(a, &sin6->sin6_addr, 16);
		port = ntohs(sin6->sin6_port);
	}
	if (purpose != CURLSOCKTYPE_IPCXN)
		snprintf(why, sizeof(why), "a connection of another kind (%d) was asked for", (int) purpose);
	else if (hostpolicy_check(g->allowed, g->host, address->family, a, port, why, sizeof(why)))
	{
		g->opened++;
		return socket(address->family, address->socktype, address->protocol);
	}
	if (!g->refused)
		snprintf(g->why, sizeof(g->why), "%s", why);
	g->refused = 1;
	return CURL_SOCKET_BAD;
}

/* The host of a URL as libcurl reads it (normalized), or "" when it has none. */
static void
HostOf(const char *url, char *host, size_t len)
{
	CURLU *u = curl_url();
	char  *h = NULL;

	host[0] = '\0';
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
		hostpolicy_normalize(h, host, len);
	curl_free(h);
	curl_url_cleanup(u);
}

/* The scheme and host (normalized; "" when it has none) of a URL; 0 if it is not one. */
static int
URLParts(const char *url, char *scheme, size_t slen, char *host, size_t hlen)
{
	CURLU *u = curl_url();
	char  *sc = NULL;
	char  *h = NULL;
	int	   ok = 0;

	scheme[0] = host[0] = '\0';
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &sc, 0) == CURLUE_OK)
	{
		snprintf(scheme, slen, "%s", sc);
		ok = 1;
		if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
		{
			/* longer than any host name (it would compare truncated): no URL car takes */
			if (strlen(h) + 1 >= hlen)
				ok = 0;
			hostpolicy_normalize(h, host, hlen);
		}
	}
	curl_free(sc);
	curl_free(h);
	curl_url_cleanup(u);
	return ok;
}

/* A FetchScope made ready: its origin's scheme and host, read once. */
typedef struct ScopeCheck
{
	const FetchScope *scope; /* NULL: anything goes */
	int				  ok;	 /* the origin could be read */
	char			  scheme[32];
	char			  host[HP_NAMELEN];
} ScopeCheck;

/* Read a scope's origin. */
static void
ScopeInit(ScopeCheck *sc, const FetchScope *scope)
{
	memset(sc, 0, sizeof(*sc));
	if (scope == NULL || scope->origin == NULL)
		return;
	sc->scope = scope;
	sc->ok = URLParts(scope->origin, sc->scheme, sizeof(sc->scheme), sc->host, sizeof(sc->host));
}

/*
 * Is a URL with this scheme and host within the scope?  1, or 0 with why set
 * and *by_host saying whether the host (rather than the scheme) is the reason.
 */
static int
ScopeAllows(const ScopeCheck *sc, const char *scheme, const char *host, char *why, size_t whylen, int *by_host)
{
	*by_host = 0;
	if (sc->scope == NULL)
		return 1;
	if (!sc->ok)
	{
		snprintf(why, whylen, "the source's URI cannot be read as a URL");
		return 0;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, sc->scheme) != 0)
	{
		snprintf(why, whylen, "scheme \"%.40s\" is not http, https or the source's own (%s)", scheme, sc->scheme);
		return 0;
	}
	if (strcmp(host, sc->host) == 0 || hostpolicy_host_in(host, sc->scope->follow_hosts, sc->scope->nfollow))
		return 1;
	*by_host = 1;
	snprintf(why, whylen, "host %.255s is neither the source's host (%.255s) nor listed in its follow_hosts option",
			 host[0] ? host : "(none)", sc->host[0] ? sc->host : "none");
	return 0;
}

/* Is url within scope? (see fetch.h) */
int
fetch_in_scope(const FetchScope *scope, const char *url, char *why, size_t whylen)
{
	ScopeCheck sc;
	char	   scheme[32];
	char	   host[HP_NAMELEN];
	int		   by_host;

	ScopeInit(&sc, scope);
	if (sc.scope == NULL)
		return 1;
	if (!URLParts(url, scheme, sizeof(scheme), host, sizeof(host)))
	{
		snprintf(why, whylen, "it cannot be read as a URL");
		return 0;
	}
	return ScopeAllows(&sc, scheme, host, why, whylen, &by_host);
}

/* Is scheme in the comma-separated list (car.allowed_url_schemes)? */
static int
SchemeListed(const char *scheme, const char *list)
{
	size_t		n = strlen(scheme);
	const char *p = list ? list : "";

	while (*p)
	{
		size_t len;

		while (*p == ',' || *p == ' ')
			p++;
		len = strcspn(p, ", ");
		if (len > 0 && ((len == n && strncasecmp(p, scheme, n) == 0) || (len == 3 && strncasecmp(p, "all", 3) == 0)))
			return 1;
		p += len;
	}
	return 0;
}

/* The scheme, host and port (the scheme's default when absent) of a URL, as one string; "" if it is not one. */
static void
OriginOf(const char *url, char *origin, size_t len)
{
	CURLU *u = curl_url();
	char  *scheme = NULL;
	char  *host = NULL;
	char  *port = NULL;
	char   h[HP_NAMELEN];

	origin[0] = '\0';
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
	{
		hostpolicy_normalize(host, h, sizeof(h));
		snprintf(origin, len, "%s://%s:%s", scheme, h, port);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

/*
 * The next hop of a redirect: Location resolved by libcurl, checked for its
 * scheme.  user:password goes along only to the same scheme, host and port
 * (as libcurl itself would send it), and is dropped for any other.
 * malloc'd, or NULL with why set.
 */
char *
fetch_next_hop(const char *current, const char *location, const char *protocols, char *why, size_t whylen)
{
	CURLU *u = curl_url();
	CURLU *cur = curl_url();
	char  *scheme = NULL;
	char  *user = NULL;
	char  *password = NULL;
	char  *out = NULL;
	char  *result = NULL;
	char   from[HP_NAMELEN + 64];
	char   to[HP_NAMELEN + 64];

	if (u == NULL || cur == NULL || curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		snprintf(why, whylen, "its Location cannot be read as a URL");
	else if ((strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) || !SchemeListed(scheme, protocols))
		snprintf(why, whylen, "a redirect may only go to an http or https URL whose scheme car.allowed_url_schemes lists");
	else
	{
		OriginOf(current, from, sizeof(from));
		OriginOf(location, to, sizeof(to));
		if (from[0] == '\0' || strcmp(from, to) != 0)
		{
			curl_url_set(u, CURLUPART_USER, NULL, 0);
			curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
			curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
		}
		else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
				 curl_url_set(cur, CURLUPART_URL, current, 0) == CURLUE_OK &&
				 curl_url_get(cur, CURLUPART_USER, &user, 0) == CURLUE_OK)
		{
			/* an absolute Location on the same origin, without them: they go along, as libcurl would send them */
			curl_url_set(u, CURLUPART_USER, user, 0);
			if (curl_url_get(cur, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
				curl_url_set(u, CURLUPART_PASSWORD, password, 0);
		}
		if (curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
			result = strdup(out);
		if (result == NULL)
			snprintf(why, whylen, "out of memory");
	}
	curl_free(out);
	curl_free(user);
	curl_free(password);
	curl_free(scheme);
	curl_url_cleanup(u);
	curl_url_cleanup(cur);
	return result;
}

/*
 * Download req->url.  Redirects are followed here, one hop at a time, not by
 * libcurl: each hop's scheme is checked before it is asked for, and the
 * open-socket callback checks each connection's address (see OpenSocket).
 * Proxies are never used: through a proxy the check would see the proxy's
 * address, not the destination's, so http_proxy and the like in the
 * server's environment are ignored.
 */
int
fetch_url(const FetchRequest *req, FetchResult *res)
{
	CURL			  *c;
	CURLcode		   rc = CURLE_OK;
	Sink			   sink;
	Guard			   guard;
	struct curl_slist *hdrs = NULL;
	char			   h[400];
	char			   shown[1024];
	char			   hop_shown[1024];
	char			   why[256];
	char			  *url;
	int				   hop;

	memset(res, 0, sizeof(*res));
	memset(&sink, 0, sizeof(sink));
	memset(&guard, 0, sizeof(guard));
	sink.res = res;
	sink.req = req;
	guard.allowed = req->allowed;
	fetch_redact(req->url, shown, sizeof(shown));

	c = curl_easy_init();
	url = strdup(req->url);
	if (c == NULL || url == NULL)
	{
		snprintf(res->error, sizeof(res->error), "could not start libcurl");
		curl_easy_cleanup(c);
		free(url);
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->protocols);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, ""); /* "" also ignores the environment's proxies */
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) req->max_bytes);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ReadHeader);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, Progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *) req);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "car (PostgreSQL extension)");
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (req->etag && req->etag[0])
	{
		snprintf(h, sizeof(h), "If-None-Match: %s", req->etag);
		hdrs = curl_slist_append(hdrs, h);
	}
	if (req->last_modified && req->last_modified[0])
	{
		snprintf(h, sizeof(h), "If-Modified-Since: %s", req->last_modified);
		hdrs = curl_slist_append(hdrs, h);
	}
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	if (!fetch_in_scope(&req->scope, url, why, sizeof(why)))
	{
		snprintf(res->error, sizeof(res->error), "fetching %.300s refused: %s", shown, why);
		res->refused = 1;
		goto fail;
	}
	for (hop = 0;; hop++)
	{
		char *location = NULL;
		char *next;

		fetch_redact(url, hop_shown, sizeof(hop_shown));
		HostOf(url, guard.host, sizeof(guard.host));
		guard.refused = guard.opened = 0;
		sink.too_big = 0;
		res->len = 0; /* a redirect's own body is dropped */
		curl_easy_setopt(c, CURLOPT_URL, url);
		rc = curl_easy_perform(c);
		res->status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
		if (rc != CURLE_OK || !(res->status == 301 || res->status == 302 || res->status == 303 ||
								res->status == 307 || res->status == 308))
			break;
		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) != CURLE_OK || location == NULL)
			break; /* no Location: the 3xx status is the answer */
		if (hop == MAX_REDIRECTS)
		{
			fetch_redact(location, hop_shown, sizeof(hop_shown));
			snprintf(res->error, sizeof(res->error), "fetching %.300s failed: more than %d redirects (the last to %.300s)",
					 shown, MAX_REDIRECTS, hop_shown);
			goto fail;
		}
		next = fetch_next_hop(url, location, req->protocols, why, sizeof(why));
		if (next != NULL && !fetch_in_scope(&req->scope, next, why, sizeof(why)))
		{
			free(next);
			next = NULL;
		}
		if (next == NULL)
		{
			fetch_redact(location, hop_shown, sizeof(hop_shown));
			snprintf(res->error, sizeof(res->error), "fetching %.300s refused: it redirects to %.300s; %s", shown, hop_shown,
					 why);
			res->refused = 1;
			goto fail;
		}
		free(url);
		url = next;
	}

	/* refused when every address was; when one was allowed, its own failure is the story */
	if (rc != CURLE_OK && guard.refused && !guard.opened)
	{
		if (hop == 0)
			snprintf(res->error, sizeof(res->error),
					 "fetching %.300s refused: %s, and car.allowed_hosts does not list it", shown, guard.why);
		else
			snprintf(res->error, sizeof(res->error),
					 "fetching %.300s refused: it redirects to %.300s; %s, and car.allowed_hosts does not list it", shown,
					 hop_shown, guard.why);
		res->refused = 1;
		goto fail;
	}
	if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
	{
		snprintf(res->error, sizeof(res->error), "%.300s is larger than car.max_download_bytes (%zu bytes)", shown,
				 req->max_bytes);
		goto fail;
	}
	if (rc != CURLE_OK)
	{
		snprintf(res->error, sizeof(res->error), "fetching %.300s failed%s%.300s: %s", shown,
				 hop > 0 ? " after a redirect to " : "", hop > 0 ? hop_shown : "",
				 rc == CURLE_ABORTED_BY_CALLBACK ? "cancelled" : curl_easy_strerror(rc));
		goto fail;
	}
	if (res->status == 304)
	{
		res->not_modified = 1;
		goto done;
	}
	if (res->status != 0 && (res->status < 200 || res->status >= 300))
	{
		snprintf(res->error, sizeof(res->error), "fetching %.300s failed%s%.300s: HTTP status %ld", shown,
				 hop > 0 ? " after a redirect to " : "", hop > 0 ? hop_shown : "", res->status);
		goto fail;
	}
	if (res->body == NULL)
	{
		res->body = malloc(1);
		if (res->body)
			res->body[0] = '\0';
	}
done:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	res->final_url = url; /* the caller's now */
	return 0;

fail:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(url);
	fetch_free(res);
	return -1;
}

/* Free a download's body and final URL. */
void
fetch_free(FetchResult *res)
{
	free(res->body);
	res->body = NULL;
	res->len = 0;
	free(res->final_url);
	res->final_url = NULL;
}

/* The links found so far, the set that de-duplicates them, and what was left out. */
typedef struct LinkList
{
	FetchLinks	   *out;
	CURLU		   *base; /* the page's URL, parsed once */
	ScopeCheck		scope;
	xmlHashTablePtr seen; /* distinct matching links, kept or not */
	int				max_links;
	int				cap; /* of out->v */
	regex_t			re;
	int				have_re;
	int				failed; /* out of memory */
} LinkList;

/*
 * Resolve href against the page's URL with libcurl's URL API: malloc'd, with
 * its scheme and host (normalized), or NULL.
 */
static char *
Resolve(const LinkList *l, const char *href, char *scheme, size_t slen, char *host, size_t hlen)
{
	CURLU *u = curl_url_dup(l->base);
	char  *out = NULL;
	char  *sc = NULL;
	char  *h = NULL;
	char  *result = NULL;

	if (u == NULL)
		return NULL;
	scheme[0] = host[0] = '\0';
	if (curl_url_set(u, CURLUPART_URL, href, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &sc, 0) == CURLUE_OK)
	{
		result = strdup(out);
		snprintf(scheme, slen, "%s", sc);
		if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
			hostpolicy_normalize(h, host, hlen);
		if (h != NULL && strlen(h) + 1 >= hlen)
		{
			/* longer than any host name (it would compare truncated): not a link car can take */
			free(result);
			result = NULL;
		}
	}
	curl_free(out);
	curl_free(sc);
	curl_free(h);
	curl_url_cleanup(u);
	return result;
}

/* Add host to the comma-separated names of other hosts, once, while there is room. */
static void
NoteHost(FetchLinks *out, const char *host)
{
	char  *names = out->other_host_names;
	size_t have = strlen(names);
	size_t hl = strlen(host);
	char  *p;

	for (p = names; (p = strstr(p, host)) != NULL; p += hl)
		if ((p == names || p[-1] == ' ') && (p[hl] == ',' || p[hl] == '\0'))
			return; /* listed */
	/* room is kept for a closing ", ..." */
	if (have + hl + 2 >= sizeof(out->other_host_names) - 5)
	{
		if (have < 3 || strcmp(names + have - 3, "...") != 0)
			snprintf(names + have, sizeof(out->other_host_names) - have, "%s...", have ? ", " : "");
		return;
	}
	/* room checked above */
	if (have > 0)
	{
		memcpy(names + have, ", ", 2);
		have += 2;
	}
	memcpy(names + have, host, hl + 1);
}

/* Add a resolved link (taking it) unless it is a duplicate, past the cap or outside the scope. */
static void
AddLink(LinkList *l, char *abs, const char *scheme, const char *host)
{
	static char kept; /* the set's payload: only presence matters */
	char		why[600];
	int			by_host;

	if (strlen(abs) > FETCH_MAX_LINK_LEN)
	{
		l->out->too_long++;
		free(abs);
		return;
	}
	if (l->have_re && regexec(&l->re, abs, 0, NULL, 0) != 0)
	{
		free(abs);
		return;
	}
	if (xmlHashLookup(l->seen, BAD_CAST abs) != NULL)
	{
		free(abs);
		return;
	}
	/* the cap counts distinct links: the first max_links in page order are considered */
	if (xmlHashSize(l->seen) >= l->max_links)
	{
		l->out->over_cap++;
		free(abs);
		return;
	}
	if (xmlHashAddEntry(l->seen, BAD_CAST abs, &kept) != 0)
	{
		l->failed = 1;
		free(abs);
		return;
	}
	if (!ScopeAllows(&l->scope, scheme, host, why, sizeof(why), &by_host))
	{
		if (by_host)
		{
			l->out->other_hosts++;
			NoteHost(l->out, host[0] ? host : "(none)");
		}
		else
			l->out->other_schemes++;
		free(abs);
		return;
	}
	if (l->out->n == l->cap)
	{
		int	   nc = l->cap ? l->cap * 2 : 64;
		char **nv = realloc(l->out->v, (size_t) nc * sizeof(char *));

		if (nv == NULL)
		{
			l->failed = 1;
			free(abs);
			return;
		}
		l->out->v = nv;
		l->cap = nc;
	}
	l->out->v[l->out->n++] = abs;
}

/*
 * Visit every element of the document in order, without recursion (a page
 * nested thousands deep must not exhaust the stack), and add each <a href>.
 */
static void
Walk(xmlDocPtr doc, LinkList *l)
{
	xmlNodePtr node = doc->children;

	while (node != NULL && !l->failed)
	{
		if (node->type == XML_ELEMENT_NODE && node->name && strcasecmp((const char *) node->name, "a") == 0)
		{
			xmlChar *href = xmlGetProp(node, BAD_CAST "href");

			if (href != NULL)
			{
				char  scheme[32];
				char  host[HP_NAMELEN];
				char *abs = Resolve(l, (const char *) href, scheme, sizeof(scheme), host, sizeof(host));

				if (abs != NULL)
					AddLink(l, abs, scheme, host);
				xmlFree(href);
			}
		}
		if (node->type == XML_ELEMENT_NODE && node->children != NULL)
		{
			node = node->children;
			continue;
		}
		while (node != NULL && node->next == NULL)
		{
			node = node->parent;
			if (node == (xmlNodePtr) doc)
				node = NULL;
		}
		if (node != NULL)
			node = node->next;
	}
}

/*
 * Buckets for the set of links: about one per href of the page, up to the
 * cap.  libxml2 2.9 stops growing a table at 16,384 buckets, so a table sized
 * up front keeps its chains short on a page of 100,000 links.
 */
static int
TableSize(const char *html, size_t len, int max_links)
{
	int	   n = 0;
	size_t i;

	for (i = 0; i + 4 <= len && n < max_links; i++)
		if ((html[i] == 'h' || html[i] == 'H') && strncasecmp(html + i, "href", 4) == 0)
			n++;
	return n < 256 ? 256 : n;
}

/* The links of an HTML page: see fetch.h. */
int
fetch_links(const char *html, size_t len, const char *base, const char *pattern, const FetchScope *scope,
			int max_links, FetchLinks *out, char *err, size_t errlen)
{
	htmlDocPtr doc;
	LinkList   l;
	int		   rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	l.out = out;
	l.max_links = max_links;
	ScopeInit(&l.scope, scope);
	if (pattern && pattern[0])
	{
		if (regcomp(&l.re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		{
			snprintf(err, errlen, "options->>'pattern' \"%s\" is not a valid regular expression", pattern);
			return -1;
		}
		l.have_re = 1;
	}
	l.base = curl_url();
	if (l.base == NULL || curl_url_set(l.base, CURLUPART_URL, base, 0) != CURLUE_OK)
	{
		char shown[1024];

		fetch_redact(base, shown, sizeof(shown));
		snprintf(err, errlen, "the index page's URL %.300s cannot be parsed", shown);
		rc = -1;
	}
	else if (len > INT_MAX)
	{
		snprintf(err, errlen, "the index page is larger than 2 GB");
		rc = -1;
	}
	else
	{
		/* no network, no entities, no DTD: the page is data */
		doc = htmlReadMemory(html, (int) len, NULL, NULL,
							 HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER);
		if (doc == NULL)
		{
			char shown[1024];

			fetch_redact(base, shown, sizeof(shown));
			snprintf(err, errlen, "the index page at %.300s is not readable HTML", shown);
			rc = -1;
		}
		else
		{
			l.seen = xmlHashCreate(TableSize(html, len, max_links));
			if (l.seen == NULL)
				l.failed = 1;
			else
				Walk(doc, &l);
			xmlFreeDoc(doc);
			if (l.failed)
			{
				snprintf(err, errlen, "out of memory collecting links");
				rc = -1;
			}
		}
	}
	if (l.seen)
		xmlHashFree(l.seen, NULL);
	curl_url_cleanup(l.base);
	if (l.have_re)
		regfree(&l.re);
	if (rc != 0)
		fetch_links_free(out);
	return rc;
}

/* Free what fetch_links returned. */
void
fetch_links_free(FetchLinks *links)
{
	int i;

	for (i = 0; i < links->n; i++)
		free(links->v[i]);
	free(links->v);
	links->v = NULL;
	links->n = 0;
}
