/*
 * fetch.c
 *		HTTP(S)/file downloads with libcurl and HTML link discovery with
 *		libxml2; see fetch.h.
 */
#include "fetch.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int
fetch_url(const FetchRequest *req, FetchResult *res)
{
	CURL			  *c;
	CURLcode		   rc;
	Sink			   sink;
	struct curl_slist *hdrs = NULL;
	char			   h[400];
	char			   shown[1024];

	memset(res, 0, sizeof(*res));
	memset(&sink, 0, sizeof(sink));
	sink.res = res;
	sink.req = req;
	fetch_redact(req->url, shown, sizeof(shown));

	c = curl_easy_init();
	if (c == NULL)
	{
		snprintf(res->error, sizeof(res->error), "could not start libcurl");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->protocols);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, req->protocols);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long) MAX_REDIRECTS);
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

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);

	if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
	{
		snprintf(res->error, sizeof(res->error), "%.300s is larger than car.max_download_bytes (%zu bytes)", shown,
				 req->max_bytes);
		fetch_free(res);
		return -1;
	}
	if (rc != CURLE_OK)
	{
		snprintf(res->error, sizeof(res->error), "fetching %.300s failed: %s", shown,
				 rc == CURLE_ABORTED_BY_CALLBACK ? "cancelled" : curl_easy_strerror(rc));
		fetch_free(res);
		return -1;
	}
	if (res->status == 304)
	{
		res->not_modified = 1;
		return 0;
	}
	if (res->status != 0 && (res->status < 200 || res->status >= 300))
	{
		snprintf(res->error, sizeof(res->error), "fetching %.300s failed: HTTP status %ld", shown, res->status);
		fetch_free(res);
		return -1;
	}
	if (res->body == NULL)
	{
		res->body = malloc(1);
		if (res->body)
			res->body[0] = '\0';
	}
	return 0;
}

void
fetch_free(FetchResult *res)
{
	free(res->body);
	res->body = NULL;
	res->len = 0;
}

/* The links found so far, the set that de-duplicates them, and what was left out. */
typedef struct LinkList
{
	FetchLinks	   *out;
	CURLU		   *base; /* the page's URL, parsed once */
	xmlHashTablePtr seen; /* distinct matching links, kept or not */
	int				max_links;
	int				cap; /* of out->v */
	regex_t			re;
	int				have_re;
	int				failed; /* out of memory */
} LinkList;

/* Resolve href against the page's URL with libcurl's URL API; malloc'd, or NULL. */
static char *
Resolve(const LinkList *l, const char *href)
{
	CURLU *u = curl_url_dup(l->base);
	char  *out = NULL;
	char  *result = NULL;

	if (u == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, href, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
	{
		result = strdup(out);
		curl_free(out);
	}
	curl_url_cleanup(u);
	return result;
}

/* Add a resolved link (taking it) unless it is a duplicate or past the cap. */
static void
AddLink(LinkList *l, char *abs)
{
	static char kept; /* the set's payload: only presence matters */

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
	/* the cap counts distinct links: the first max_links in page order are kept */
	if (xmlHashSize(l->seen) >= l->max_links)
	{
		l->out->over_cap++;
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
	if (xmlHashAddEntry(l->seen, BAD_CAST abs, &kept) != 0)
	{
		l->failed = 1;
		free(abs);
		return;
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
				char *abs = Resolve(l, (const char *) href);

				if (abs != NULL)
					AddLink(l, abs);
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
fetch_links(const char *html, size_t len, const char *base, const char *pattern, int max_links, FetchLinks *out,
			char *err, size_t errlen)
{
	htmlDocPtr doc;
	LinkList   l;
	int		   rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	l.out = out;
	l.max_links = max_links;
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
