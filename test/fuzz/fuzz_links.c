/*
 * libFuzzer target: the index-page link finder must never crash, hang or
 * leak on any bytes, and what it returns must keep its promises: at most the
 * cap, each link once, each a URL within the source's scope.  A small cap
 * exercises the truncation; the scope, the same-host rule.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fetch.h"

#define CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const patterns[] = {NULL, "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$"};
	static const char *const follow[] = {"localhost"};
	const FetchScope		 scope = {"http://127.0.0.1:8080/eCMS/Viewfiles.asp?folder=MOJ", follow, 1};
	FetchLinks				 l;
	char					 err[FETCH_ERRLEN];
	char					 why[600];

	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++)
	{
		if (fetch_links((const char *) data, size, scope.origin, patterns[p], p == 0 ? &scope : NULL, CAP, &l, err,
						sizeof(err)) != 0)
		{
			if (err[0] == '\0' || l.n != 0 || l.v != NULL)
				__builtin_trap(); /* a failure says why and returns nothing */
			continue;
		}
		if (l.n < 0 || l.n > CAP || l.n + l.other_hosts + l.other_schemes > CAP || l.too_long < 0 ||
			(l.over_cap > 0 && l.n + l.other_hosts + l.other_schemes != CAP) ||
			strlen(l.other_host_names) >= sizeof(l.other_host_names) || (l.other_hosts > 0) != (l.other_host_names[0] != '\0'))
			__builtin_trap();
		for (int i = 0; i < l.n; i++)
		{
			if (strstr(l.v[i], "://") == NULL && strncmp(l.v[i], "file:", 5) != 0 && strchr(l.v[i], ':') == NULL)
				__builtin_trap(); /* resolved: it has a scheme */
			if (strlen(l.v[i]) > FETCH_MAX_LINK_LEN || (p == 0 && !fetch_in_scope(&scope, l.v[i], why, sizeof(why))))
				__builtin_trap();
			for (int j = 0; j < i; j++)
				if (strcmp(l.v[i], l.v[j]) == 0)
					__builtin_trap(); /* each link once */
		}
		fetch_links_free(&l);
	}
	return 0;
}
