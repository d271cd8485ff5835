/*
 * Unit tests of the .xls reader: FreeXL in car's helper program
 * (src/xls_helper.c, built by scripts/unit.sh; its path in CAR_XLS_HELPER),
 * started and reaped by src/xls.c, its framed output decoded here.  The
 * workbooks are written by test/gen/xls.py (xlwt); the official 2017 flat
 * file is read too.  Stand-in helpers (shell scripts) show what the helper
 * inherits and what happens when one hangs or crashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "xls.h"

static char		   dir[] = "/tmp/car-unit-xls.XXXXXX";
static const char *helper;

/* Read path's sheet want through the sandbox; returns the decoder or NULL with err. */
static char *out;

static const char *
Open(XlsFrames *f, const char *path, const char *want, char *err, size_t errlen, ReadError *kind)
{
	size_t len;

	free(out);
	out = NULL;
	if (xls_read_sandboxed(helper, path, want, &out, &len, err, errlen, kind) != 0)
		return NULL;
	if (xls_frames_init(f, out, len) == NULL)
	{
		snprintf(err, errlen, "%s", f->err);
		*kind = f->errkind;
		return NULL;
	}
	return f->sheet;
}

static void
test_generated(void)
{
	char		path[256];
	char		err[XLS_ERRLEN];
	ReadError	kind;
	XlsFrames	f;
	char	  **c;
	long		row;
	int			n;
	const char *sheet;
	int			rows = 0;

	snprintf(path, sizeof(path), "%s/flat-2019.xls", dir);
	{
		size_t len;
		char  *data = slurp(path, &len);

		OK(xls_looks_like(data, len), "an .xls starts with the OLE2 signature");
		OK(!xls_looks_like("PK\003\004xxxx", 8), "a zip does not");
		free(data);
	}
	sheet = Open(&f, path, "Factors by Category", err, sizeof(err), &kind);
	IS_STR(sheet, "Factors by Category", "the named sheet is chosen (%s)", sheet ? "ok" : err);
	if (sheet == NULL)
		return;
	n = xls_frames_next(&f, &c, &row);
	OK(n == 1 && row == 1, "row 1: one title cell (got %d cells, row %ld)", n, row);
	n = xls_frames_next(&f, &c, &row);
	OK(n == 1 && row == 2, "row 2: the second title; empty row 3 is left out (got row %ld)", row);
	n = xls_frames_next(&f, &c, &row);
	OK(n == 10 && row == 4 && strcmp(c[1], "Category") == 0 && strcmp(c[9], "HIDE") == 0 && c[0][0] == '\0',
	   "row 4: Category and the HIDE markers, to its last non-empty cell (got %d cells)", n);
	n = xls_frames_next(&f, &c, &row);
	OK(n == 11 && row == 5, "row 5: the header, 11 columns");
	IS_STR(c[10], "GHG Conversion Factor 2019", "the value column's name");
	n = xls_frames_next(&f, &c, &row);
	IS_STR(n == 11 ? c[10] : "", "0.183996818181275", "a double as Excel shows it in General (15 significant digits)");
	IS_STR(c[4], "", "an empty cell inside a row is \"\"");
	n = xls_frames_next(&f, &c, &row);
	/* FreeXL 1.0.6 reads no FORMULA record: the cached result is lost (README, legacy .xls) */
	OK(n == 10 && row == 7, "a formula cell reads as empty in FreeXL 1.0.6 (row 7 ends at column J, got %d)", n);
	n = xls_frames_next(&f, &c, &row);
	IS_STR(n == 11 ? c[3] : "", "R1234yf ", "labels are passed on verbatim (the recogniser trims path labels)");
	IS_STR(c[10], "< 1", "text in the value column");
	n = xls_frames_next(&f, &c, &row);
	IS_STR(n == 11 ? c[10] : "", "2088", "an integer stays exact");
	while ((n = xls_frames_next(&f, &c, &row)) > 0)
		rows++;
	OK(n == 0 && rows == 3, "three more rows, then the end (got %d, end %d)", rows, n);
	xls_frames_free(&f);

	sheet = Open(&f, path, "No such sheet", err, sizeof(err), &kind);
	IS_STR(sheet, "Front page", "an unknown sheet name falls back to the first sheet");
	xls_frames_free(&f);

	snprintf(path, sizeof(path), "%s/empty-string.xls", dir);
	sheet = Open(&f, path, "Factors by Category", err, sizeof(err), &kind);
	OK(sheet == NULL && kind == READ_MALFORMED && strstr(err, "empty string") != NULL,
	   "an empty shared string: FreeXL 1.0.6 gives up, and the message says so (%s)", err);

	snprintf(path, sizeof(path), "%s/dimension-bomb.xls", dir);
	sheet = Open(&f, path, "Factors by Category", err, sizeof(err), &kind);
	OK(sheet == NULL && kind != READ_OK, "a DIMENSIONS record of 2^24 rows x 256 columns is refused, the parent unharmed (%s)",
	   err);

	sheet = Open(&f, fixture("desnz_flatfile/Conversion_factors_2017_-_Flat_file__for_automatic_processing_only.xls"),
				 "Factors by Category", err, sizeof(err), &kind);
	OK(sheet == NULL && strstr(err, "2017 and 2018") != NULL,
	   "the official 2017 flat file: FreeXL 1.0.6 refuses it (an empty shared string), said clearly (%s)", err);

	snprintf(path, sizeof(path), "%s/missing.xls", dir);
	sheet = Open(&f, path, NULL, err, sizeof(err), &kind);
	OK(sheet == NULL && kind == READ_MALFORMED, "a missing file is an error, not a crash (%s)", err);

	sheet = NULL;
	free(out);
	out = NULL;
	{
		size_t len;

		OK(xls_read_sandboxed("/nonexistent/car-xls-reader", path, NULL, &out, &len, err, sizeof(err), &kind) == -1 &&
			   strstr(err, "not fully installed") != NULL,
		   "a missing helper: said so, with what to do (%s)", err);
	}
}

/* Write an executable stand-in helper holding body. */
static void
StandIn(char *path, size_t pathlen, const char *name, const char *body)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
	{
		printf("Bail out! cannot write %s\n", path);
		exit(2);
	}
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

/*
 * What the helper starts with: only descriptors 0-2 (a server's client socket
 * and postmaster pipe are not passed on), no signal blocked or ignored, the
 * server's pid as its first argument; and that it is killed and reaped when
 * the server gives up on it, and a crash is reported as one.
 */
static void
test_spawn(void)
{
	char	  stand[512];
	char	  report[512];
	char	  body[1024];
	char	  err[XLS_ERRLEN];
	ReadError kind;
	XlsChild  c;
	char	 *got;
	size_t	  len;
	int		  leaked;
	sigset_t  block;
	pid_t	  pid;

	/* as a backend has them: a descriptor open without close-on-exec, a signal blocked, SIGPIPE ignored */
	leaked = dup2(open("/dev/null", O_RDONLY), 7);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(report, sizeof(report), "%s/inherited.txt", dir);
	/*
	 * The shell reads its own signal masks first, with its builtin read: no
	 * fork of its own in flight (a loaded machine could show grep the
	 * shell's mask while glibc holds every signal blocked inside fork).
	 */
	snprintf(body, sizeof(body),
			 "sig=''; while IFS= read -r l; do case \"$l\" in SigBlk*|SigIgn*) sig=\"$sig$l\n\";; esac; "
			 "done </proc/$$/status; "
			 "{ ls /proc/$$/fd | sort -n | tr '\\n' ' '; echo; printf '%%b' \"$sig\"; "
			 "echo \"args $1 $3\"; } >%s",
			 report);
	StandIn(stand, sizeof(stand), "inherit.sh", body);
	OK(xls_child_start(&c, stand, "/dev/null", "Sheet", err, sizeof(err), &kind) == 0, "a stand-in helper starts");
	while (xls_child_read(&c, err, sizeof(err), &kind) == 1)
		usleep(10000);
	OK(xls_child_finish(&c, &got, &len, err, sizeof(err), &kind) == 0 && len == 0, "it ends, having written nothing");
	free(got);
	OK(c.pid == 0 && waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "it was reaped: no zombie is left");
	{
		size_t n;
		char  *r = slurp(report, &n);
		char   want[64];

		const char *fdlist = strtok(r, "\n");
		const char *blk = strtok(NULL, "\n");
		const char *ign = strtok(NULL, "\n");
		char		mine[16];

		/* the stand-in shell holds its script on descriptors of 10 and up */
		snprintf(mine, sizeof(mine), " %d ", leaked);
		OK(fdlist && strncmp(fdlist, "0 1 2 ", 6) == 0 && strstr(fdlist, mine) == NULL,
		   "descriptor %d, open in the server without close-on-exec, does not reach the helper (it has %s)", leaked,
		   fdlist ? fdlist : "?");
		OK(blk && strncmp(blk, "SigBlk:", 7) == 0 && (strtoull(blk + 7, NULL, 16) & (1ULL << (SIGUSR1 - 1))) == 0,
		   "a signal blocked in the server is not blocked in the helper (%s)", blk ? blk : "?");
		OK(ign && strncmp(ign, "SigIgn:", 7) == 0 && (strtoull(ign + 7, NULL, 16) & (1ULL << (SIGPIPE - 1))) == 0,
		   "SIGPIPE, ignored in the server, is at its default in the helper (%s)", ign ? ign : "?");
		snprintf(want, sizeof(want), "args %ld Sheet", (long) getpid());
		IS_STR(strtok(NULL, "\n"), want, "the helper is told the server's pid and the sheet");
		free(r);
	}
	close(leaked);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	signal(SIGPIPE, SIG_DFL);

	StandIn(stand, sizeof(stand), "hang.sh", "exec sleep 600");
	OK(xls_child_start(&c, stand, "/dev/null", "", err, sizeof(err), &kind) == 0 &&
		   xls_child_read(&c, err, sizeof(err), &kind) == 1,
	   "a helper that hangs: the read says more may come, without blocking");
	pid = c.pid;
	xls_child_abort(&c);
	OK(c.pid == 0 && c.fd == -1 && kill(pid, 0) == -1 && errno == ESRCH,
	   "on a cancel or an error the helper is killed and reaped (pid %ld is gone)", (long) pid);
	xls_child_abort(&c);
	OK(1, "aborting twice is harmless");

	StandIn(stand, sizeof(stand), "crash.sh", "printf 'CARXLS1\\000'; kill -SEGV $$");
	got = NULL;
	OK(xls_read_sandboxed(stand, "/dev/null", "", &got, &len, err, sizeof(err), &kind) == -1 &&
		   kind == READ_MALFORMED && strstr(err, "crashed (signal 11)") != NULL,
	   "a helper that crashes: the file is refused, saying so (%s)", err);
	free(got);
}

/* Hand-made frames: the decoder refuses what the child could never have written. */
static void
test_frames(void)
{
	static const char good[] = "CARXLS1\0\1\0\0\0S"
							   "R\2\0\0\0\2\0\0\0\1\0\0\0a\0\0\0\0"
							   "E";
	static const char err_frame[] = "CARXLS1\0X\2\5\0\0\0limit";
	static const char bad_row[] = "CARXLS1\0\1\0\0\0SR\0\0\0\0\1\0\0\0";
	static const char long_cell[] = "CARXLS1\0\1\0\0\0SR\1\0\0\0\1\0\0\0\377\377\377\177";
	XlsFrames		  f;
	char			**c;
	long			  row;

	IS_STR(xls_frames_init(&f, good, sizeof(good) - 1), "S", "the sheet name");
	OK(xls_frames_next(&f, &c, &row) == 2 && row == 2 && strcmp(c[0], "a") == 0 && c[1][0] == '\0',
	   "a row of two cells");
	OK(xls_frames_next(&f, &c, &row) == 0, "then the end");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, good, sizeof(good) - 2) != NULL && xls_frames_next(&f, &c, &row) == 2 &&
		   xls_frames_next(&f, &c, &row) == -1 && f.errkind == READ_MALFORMED,
	   "output cut before its end frame is an error (a crashed child)");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, err_frame, sizeof(err_frame) - 1) == NULL && f.errkind == READ_LIMIT &&
		   strcmp(f.err, "limit") == 0,
	   "an error frame carries its kind and message");
	OK(xls_frames_init(&f, bad_row, sizeof(bad_row) - 1) != NULL && xls_frames_next(&f, &c, &row) == -1,
	   "row number 0 is refused");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, long_cell, sizeof(long_cell) - 1) != NULL && xls_frames_next(&f, &c, &row) == -1,
	   "a cell longer than the output is refused");
	xls_frames_free(&f);
	OK(xls_frames_init(&f, "CARXLS", 6) == NULL, "no header, no sheet");
}

int
main(void)
{
	char cmd[512];

	if (mkdtemp(dir) == NULL)
	{
		printf("Bail out! cannot make %s\n", dir);
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 test/gen/xls.py --out %s", dir);
	if (system(cmd) != 0)
	{
		printf("Bail out! test/gen/xls.py failed\n");
		return 2;
	}
	helper = getenv("CAR_XLS_HELPER");
	if (helper == NULL)
	{
		printf("Bail out! CAR_XLS_HELPER must name the built car-xls-reader\n");
		return 2;
	}
	test_generated();
	test_spawn();
	test_frames();
	free(out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	printf("# unit tests done: xls\n");
	return tap_done();
}
