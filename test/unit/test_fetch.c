/* Unit tests of the download and link-discovery helpers (src/fetch.c), without a network. */
#include "tap.h"
#include "fetch.h"

static int
never(void *arg)
{
	(void) arg;
	return 0;
}

int
main(void)
{
	char		 out[256];
	char		 err[FETCH_ERRLEN];
	char	   **links;
	int			 n;
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

	links = fetch_links(page, strlen(page), "http://127.0.0.1:8080/eCMS/Viewfiles.asp?folder=MOJ",
						"ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", &n, err, sizeof(err));
	OK(links != NULL && n == 2, "two matching links, duplicates dropped (%d)", n);
	if (links && n == 2)
	{
		IS_STR(links[0], "http://127.0.0.1:8080/eCMS/Files/MOJ/ministryofjustice_jan-2024.csv", "relative link resolved");
		IS_STR(links[1], "http://127.0.0.1:8080/eCMS/Files/MOJ/ministryofjustice_feb-2024.csv", "absolute path resolved");
	}
	fetch_free_links(links, n);
	links = fetch_links(page, strlen(page), "http://127.0.0.1/d/", NULL, &n, err, sizeof(err));
	OK(links != NULL && n == 4, "no pattern: every distinct link (%d)", n);
	fetch_free_links(links, n);
	OK(fetch_links(page, strlen(page), "http://127.0.0.1/", "([", &n, err, sizeof(err)) == NULL && strstr(err, "pattern"),
	   "a bad pattern is an error: %s", err);

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
	fetch_free(&res);
	req.max_bytes = 5;
	OK(fetch_url(&req, &res) != 0 && strstr(res.error, "car.max_download_bytes") != NULL, "size cap: %s", res.error);
	req.url = "file:///tmp/no/such/file";
	req.max_bytes = 1000;
	OK(fetch_url(&req, &res) != 0 && res.error[0], "missing file: %s", res.error);
	req.url = "http://127.0.0.1:1/x";
	req.protocols = "http";
	OK(fetch_url(&req, &res) != 0 && strstr(res.error, "127.0.0.1:1") != NULL, "nothing listening: %s", res.error);
	remove("/tmp/car_fetch_test.txt");
	printf("# unit tests done: fetch\n");
	return tap_done();
}
