/*
 * xls.c
 *		Reading one worksheet of an .xls workbook: starting car's FreeXL
 *		helper, collecting its output, decoding it; see xls.h.
 *
 * Why a helper program, started with posix_spawn, rather than fork() of the
 * backend running FreeXL itself: a forked backend would carry the server's
 * whole address space into the child (shared memory included, so that an
 * address-space limit of a few hundred MB could not even be set under a
 * large shared_buffers), every open descriptor (the client's socket, the
 * postmaster's death pipe, data files), the backend's signal handlers and
 * mask, and any thread a library started, and FreeXL would then run with
 * all of that in reach.  posix_spawn (glibc: clone(CLONE_VM | CLONE_VFORK)
 * and execve at once, safe in any process) gives the helper a fresh program
 * image instead: descriptors 0 and 2 on /dev/null, 1 on the pipe, every
 * other one closed (posix_spawn_file_actions_addclosefrom_np), every signal
 * at its default, nothing blocked.  The helper then sets its own limits
 * (address space, CPU, no files written, no core dumps) and asks the kernel
 * to kill it if the backend dies, before FreeXL sees a byte
 * (src/xls_helper.c).  It touches no shared memory and no PostgreSQL state:
 * it is not linked with the server at all.  The server side (src/factors.c)
 * waits on the pipe with WaitLatchOrSocket, checks for interrupts, and kills
 * and reaps the helper on an error or a cancel (xls_child_abort in a
 * PG_FINALLY), so no helper outlives its statement and none is left a
 * zombie.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#endif

#include "xls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int
xls_looks_like(const char *data, size_t len)
{
	static const unsigned char ole2[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};

	return len >= 8 && memcmp(data, ole2, 8) == 0;
}

/* ---- running the helper ---------------------------------------------------------- */

static void SetErr(char *err, size_t errlen, ReadError *kind, ReadError k, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
SetErr(char *err, size_t errlen, ReadError *kind, ReadError k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
	*kind = k;
}

int
xls_child_start(XlsChild *c, const char *helper_path, const char *path, const char *want, char *err, size_t errlen,
				ReadError *kind)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t		   attr;
	sigset_t				   none;
	sigset_t				   all;
	char					   parent[24];
	char					  *argv[5];
	int						   fds[2];
	int						   rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	*kind = READ_OK;
	if (access(helper_path, X_OK) != 0)
	{
		SetErr(err, errlen, kind, READ_MALFORMED,
			   "car's .xls reader %s cannot be run (%s): car is not fully installed; run make install of car again, or load the workbook saved as .xlsx or CSV",
			   helper_path, strerror(errno));
		return -1;
	}
	/* both ends close on exec: the helper gets the write end as its stdout (dup2 clears the flag) */
	if (pipe2(fds, O_CLOEXEC) != 0)
	{
		SetErr(err, errlen, kind, READ_NO_MEMORY, "could not make a pipe for the .xls reader: %s", strerror(errno));
		return -1;
	}
	snprintf(parent, sizeof(parent), "%ld", (long) getpid());
	argv[0] = (char *) XLS_HELPER_NAME;
	argv[1] = parent;
	argv[2] = (char *) path;
	argv[3] = (char *) (want ? want : "");
	argv[4] = NULL;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&c->pid, helper_path, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	if (rc != 0)
	{
		close(fds[0]);
		c->pid = 0;
		SetErr(err, errlen, kind, READ_NO_MEMORY, "could not start car's .xls reader %s: %s", helper_path,
			   strerror(rc));
		return -1;
	}
	c->fd = fds[0];
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0)
	{
		SetErr(err, errlen, kind, READ_NO_MEMORY, "could not set up the .xls reader's pipe: %s", strerror(errno));
		xls_child_abort(c);
		return -1;
	}
	c->started = time(NULL);
	return 0;
}

/* Wait for the helper to end; its wait status, or -1 if it was reaped elsewhere. */
static int
Reap(XlsChild *c)
{
	int status = 0;

	if (c->pid <= 0)
		return -1;
	while (waitpid(c->pid, &status, 0) < 0)
		if (errno != EINTR)
		{
			status = -1; /* ECHILD: not ours to wait for any more */
			break;
		}
	c->pid = 0;
	return status;
}

void
xls_child_abort(XlsChild *c)
{
	if (c->pid > 0)
	{
		kill(c->pid, SIGKILL);
		Reap(c);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

int
xls_child_read(XlsChild *c, char *err, size_t errlen, ReadError *kind)
{
	for (;;)
	{
		ssize_t n;

		if (time(NULL) - c->started > XLS_CHILD_WALL_SECONDS)
		{
			xls_child_abort(c);
			SetErr(err, errlen, kind, READ_LIMIT,
				   "reading the .xls workbook took more than %d seconds (the published ones take under 1)" XLS_ADVICE,
				   XLS_CHILD_WALL_SECONDS);
			return -1;
		}
		if (c->len == c->cap)
		{
			size_t newcap = c->cap ? c->cap * 2 : 65536;
			char  *nb;

			if (newcap > XLS_MAX_OUTPUT_BYTES + 1)
				newcap = XLS_MAX_OUTPUT_BYTES + 1;
			if (newcap == c->cap)
			{
				xls_child_abort(c);
				SetErr(err, errlen, kind, READ_LIMIT,
					   "the .xls workbook's sheet holds more than %zu bytes of cells, the most the reader takes (real factor sheets hold about 1 MB)" XLS_ADVICE,
					   XLS_MAX_OUTPUT_BYTES);
				return -1;
			}
			nb = realloc(c->buf, newcap);
			if (nb == NULL)
			{
				xls_child_abort(c);
				SetErr(err, errlen, kind, READ_NO_MEMORY, "out of memory reading the .xls workbook");
				return -1;
			}
			c->buf = nb;
			c->cap = newcap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n > 0)
		{
			c->len += (size_t) n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		return 0; /* a broken pipe ends the output; the frames say whether it was complete */
	}
}

int
xls_child_finish(XlsChild *c, char **out, size_t *outlen, char *err, size_t errlen, ReadError *kind)
{
	int status;

	*out = NULL;
	*outlen = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	status = Reap(c);
	if (status != -1 && WIFSIGNALED(status))
	{
		int sig = WTERMSIG(status);

		xls_child_abort(c);
		if (sig == SIGXCPU || sig == SIGKILL)
			SetErr(err, errlen, kind, READ_LIMIT,
				   "reading the .xls workbook took more than %d seconds of CPU, the most the reader may take (the published ones take under 1)" XLS_ADVICE,
				   XLS_CHILD_CPU_SECONDS);
		else
			SetErr(err, errlen, kind, READ_MALFORMED,
				   "FreeXL crashed (signal %d) reading the .xls workbook: the file is damaged or crafted; it was read in a separate process, so nothing else was harmed" XLS_ADVICE,
				   sig);
		return -1;
	}
	/* an exit status of its own is said in its error frame, decoded later */
	*out = c->buf;
	*outlen = c->len;
	c->buf = NULL;
	c->len = c->cap = 0;
	return 0;
}

int
xls_read_sandboxed(const char *helper_path, const char *path, const char *want, char **out, size_t *outlen,
				   char *err, size_t errlen, ReadError *kind)
{
	XlsChild c;
	int		 r;

	*out = NULL;
	*outlen = 0;
	if (xls_child_start(&c, helper_path, path, want, err, errlen, kind) != 0)
		return -1;
	while ((r = xls_child_read(&c, err, errlen, kind)) == 1)
	{
		struct pollfd p = {c.fd, POLLIN, 0};

		(void) poll(&p, 1, 1000);
	}
	if (r < 0)
		return -1;
	return xls_child_finish(&c, out, outlen, err, errlen, kind);
}

/* ---- decoding ------------------------------------------------------------------ */

static void FramesError(XlsFrames *f, ReadError kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
FramesError(XlsFrames *f, ReadError kind, const char *fmt, ...)
{
	va_list ap;

	if (f->err[0] != '\0')
		return;
	f->errkind = kind;
	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
}

static int
GetU32(XlsFrames *f, uint32_t *v)
{
	const unsigned char *p;

	if (f->len - f->pos < 4)
		return -1;
	p = (const unsigned char *) f->buf + f->pos;
	*v = (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
	f->pos += 4;
	return 0;
}

/* The .xls reader stopped without a word: its output ends early. */
static int
Truncated(XlsFrames *f)
{
	FramesError(f, READ_MALFORMED,
				"the .xls reader stopped before the end of the sheet (FreeXL failed on the workbook: it is damaged or crafted)" XLS_ADVICE);
	return -1;
}

const char *
xls_frames_init(XlsFrames *f, const char *buf, size_t len)
{
	uint32_t n;

	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	f->budget.limit = XLS_MAX_ROW_BYTES * 2 + XLS_MAX_COLUMNS * sizeof(char *) + 64;
	if (len < 8 || memcmp(buf, XLS_FRAME_MAGIC, 8) != 0)
	{
		Truncated(f);
		return NULL;
	}
	f->pos = 8;
	if (f->pos < len && buf[f->pos] == XLS_FRAME_ERROR)
	{
		xls_frames_next(f, NULL, NULL);
		return NULL;
	}
	if (GetU32(f, &n) < 0 || n > XLS_MAX_STRING_BYTES || n > len - f->pos)
	{
		Truncated(f);
		return NULL;
	}
	snprintf(f->sheet, sizeof(f->sheet), "%.*s", (int) n, buf + f->pos);
	f->pos += n;
	return f->sheet;
}

int
xls_frames_next(XlsFrames *f, char ***cells, long *rownum)
{
	uint32_t row,
		ncells,
		i,
		n;
	size_t need = 0;
	size_t start;
	size_t o = 0;
	char   tag;

	if (f->err[0] != '\0')
		return -1;
	if (f->pos >= f->len)
		return Truncated(f);
	tag = f->buf[f->pos++];
	if (tag == XLS_FRAME_END)
		return 0;
	if (tag == XLS_FRAME_ERROR)
	{
		ReadError k;

		if (f->pos >= f->len)
			return Truncated(f);
		k = (ReadError) f->buf[f->pos++];
		if (k != READ_LIMIT && k != READ_NO_MEMORY)
			k = READ_MALFORMED;
		if (GetU32(f, &n) < 0 || n >= XLS_ERRLEN || n > f->len - f->pos)
			return Truncated(f);
		FramesError(f, k, "%.*s", (int) n, f->buf + f->pos);
		return -1;
	}
	if (tag != XLS_FRAME_ROW || GetU32(f, &row) < 0 || GetU32(f, &ncells) < 0 || row < 1 || row > XLS_MAX_ROWS ||
		ncells < 1 || ncells > XLS_MAX_COLUMNS)
		return Truncated(f);
	/* measure the row first, so that its text is allocated once */
	start = f->pos;
	for (i = 0; i < ncells; i++)
	{
		if (GetU32(f, &n) < 0 || n > XLS_MAX_STRING_BYTES || n > f->len - f->pos)
			return Truncated(f);
		f->pos += n;
		need += n + 1;
	}
	if (need > XLS_MAX_ROW_BYTES + XLS_MAX_COLUMNS)
	{
		FramesError(f, READ_LIMIT, "row %u of the .xls sheet holds more than %zu bytes of text" XLS_ADVICE, row,
					XLS_MAX_ROW_BYTES);
		return -1;
	}
	if (need > f->textcap)
	{
		char *t = budget_realloc(&f->budget, f->text, f->textcap, need);

		if (t == NULL)
		{
			FramesError(f, f->budget.refused ? READ_LIMIT : READ_NO_MEMORY, "out of memory reading row %u of the .xls sheet",
						row);
			return -1;
		}
		f->text = t;
		f->textcap = need;
	}
	if ((int) ncells > f->capcells)
	{
		char **c = budget_realloc(&f->budget, f->cells, f->capcells * sizeof(char *), XLS_MAX_COLUMNS * sizeof(char *));

		if (c == NULL)
		{
			FramesError(f, READ_NO_MEMORY, "out of memory reading row %u of the .xls sheet", row);
			return -1;
		}
		f->cells = c;
		f->capcells = XLS_MAX_COLUMNS;
	}
	f->pos = start;
	for (i = 0; i < ncells; i++)
	{
		GetU32(f, &n);
		memcpy(f->text + o, f->buf + f->pos, n);
		f->text[o + n] = '\0';
		f->cells[i] = f->text + o;
		o += n + 1;
		f->pos += n;
	}
	*cells = f->cells;
	*rownum = row;
	return (int) ncells;
}

void
xls_frames_free(XlsFrames *f)
{
	budget_free(&f->budget, f->text, f->textcap);
	budget_free(&f->budget, f->cells, f->capcells * sizeof(char *));
	f->text = NULL;
	f->cells = NULL;
	f->textcap = 0;
	f->capcells = 0;
}
