/*
 * tap.h
 *		A minimal TAP producer for the unit tests of car's pure C cores.
 */
#ifndef CAR_TAP_H
#define CAR_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n = 0;
static int tap_failed = 0;

#define OK(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static void
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static void
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
	{
		printf("#   failed at %s:%d\n", file, line);
		tap_failed++;
	}
}

#define IS_STR(got, want, ...)                                               \
	do                                                                       \
	{                                                                        \
		const char *g_ = (got), *w_ = (want);                                \
		int			c_ = g_ != NULL && strcmp(g_, w_) == 0;                  \
		OK(c_, __VA_ARGS__);                                                 \
		if (!c_)                                                             \
			printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_); \
	} while (0)

/* Read a whole file into malloc'd memory; exits on failure. */
static char *slurp(const char *path, size_t *len) __attribute__((unused));
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long  n;

	if (f == NULL)
	{
		printf("Bail out! cannot open %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	if (fread(buf, 1, n, f) != (size_t) n)
	{
		printf("Bail out! cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t) n;
	return buf;
}

static const char *fixture(const char *rel) __attribute__((unused));
static const char *
fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("CAR_FIXTURES");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/data/real", rel);
	return path;
}

static int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
