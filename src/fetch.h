/*
 * fetch.h
 *		HTTP(S) and file downloads with libcurl, and link discovery in HTML
 *		pages with libxml2.  No backend memory or error calls: results and
 *		errors come back in structs, so nothing longjmps through libcurl or
 *		libxml2.
 */
#ifndef CAR_FETCH_H
#define CAR_FETCH_H

#include <stddef.h>

#define FETCH_ERRLEN 1024

struct HostAllowList;

/*
 * Where a source's URLs may lead: the host of its own URI (origin) and the
 * hosts of its follow_hosts option; schemes http, https and the origin's
 * own.  Index links outside are left out; a download whose URL or redirect
 * is outside is refused.  origin NULL: anywhere.
 */
typedef struct FetchScope
{
	const char		  *origin;
	const char *const *follow_hosts;
	int				   nfollow;
} FetchScope;

typedef struct FetchRequest
{
	const char *url;
	const char *etag;		   /* sent as If-None-Match, or NULL */
	const char *last_modified; /* sent as If-Modified-Since, or NULL */
	const char *protocols;	   /* allowed schemes, e.g. "https,http" */
	long		timeout_s;	   /* whole transfer */
	long		connect_timeout_s;
	size_t		max_bytes;			/* body size cap */
	int (*should_abort)(void *arg); /* polled while transferring */
	void *abort_arg;
	void (*progress)(void *arg, size_t bytes); /* bytes so far */
	void					   *progress_arg;
	const struct HostAllowList *allowed; /* car.allowed_hosts; NULL: empty */
	FetchScope					scope;	 /* the URL and every redirect must be within it */
} FetchRequest;

typedef struct FetchResult
{
	long   status; /* HTTP status (0 for file:, or on transport errors) */
	char  *body;   /* malloc'd; free with fetch_free */
	size_t len;
	char   etag[256];
	char   last_modified[128];
	char   error[FETCH_ERRLEN]; /* empty on success */
	int	   not_modified;		/* 304 */
	int	   refused;				/* a destination was refused by car's rules: retrying will not help */
	char  *final_url;			/* malloc'd: the URL that answered, after redirects; it may hold user:password */
} FetchResult;

extern void fetch_global_init(void);

/*
 * Download req->url; returns 0 (see res->status) or -1 with res->error set.
 * Redirects (at most 5) are followed only to http(s) URLs whose scheme
 * req->protocols lists, within req->scope.  Every connection, of every hop,
 * is to an ordinary address or one req->allowed lets through; proxies are
 * never used.
 */
extern int fetch_url(const FetchRequest *req, FetchResult *res);

/* Free a result's body and final URL. */
extern void fetch_free(FetchResult *res);

/*
 * Where a redirect from current to location (as libcurl resolves it) goes:
 * malloc'd, or NULL with why set when it may not be followed (not http or
 * https, or a scheme protocols does not list).  user:password goes along
 * only to the same scheme, host and port.
 */
extern char *fetch_next_hop(const char *current, const char *location, const char *protocols, char *why,
							size_t whylen);

/* Copy url with any user:password@ removed, for logs and status. */
extern void fetch_redact(const char *url, char *out, size_t outlen);

#define FETCH_MAX_LINKS	   100000 /* distinct matching links read from one index page */
#define FETCH_MAX_LINK_LEN 8192	  /* longer links are left out */

/* The links of an index page, and what was left out of them. */
typedef struct FetchLinks
{
	char **v; /* distinct links, in page order (malloc'd strings) */
	int	   n;
	long   over_cap;			  /* matching links left out: the page had more than max_links distinct ones */
	long   too_long;			  /* links left out: longer than FETCH_MAX_LINK_LEN */
	long   other_hosts;			  /* distinct matching links left out: on a host outside the scope */
	long   other_schemes;		  /* distinct matching links left out: a scheme outside the scope */
	char   other_host_names[256]; /* those hosts, comma-separated (as many as fit) */
} FetchLinks;

/*
 * Links (<a href>) of an HTML page, resolved against base, that match the
 * POSIX extended regex pattern (NULL or "": all), each once, within scope
 * (NULL: any).  The first max_links distinct matching ones in page order are
 * considered, later ones counted in over_cap; of those, links outside the
 * scope are counted in other_hosts or other_schemes, the rest kept.  Returns
 * 0 (free out with fetch_links_free), or -1 with err set.
 */
extern int fetch_links(const char *html, size_t len, const char *base, const char *pattern, const FetchScope *scope,
					   int max_links, FetchLinks *out, char *err, size_t errlen);

extern void fetch_links_free(FetchLinks *links);

/* Is url within scope?  1, or 0 with why set ("host ... is neither the source's host ..."). */
extern int fetch_in_scope(const FetchScope *scope, const char *url, char *why, size_t whylen);

#endif /* CAR_FETCH_H */
