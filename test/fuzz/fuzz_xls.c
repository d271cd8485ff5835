/*
 * libFuzzer target: the .xls reader.  Each input is written to a file and
 * read as the server reads one (car's helper, CAR_XLS_HELPER, running FreeXL
 * in its own process; its output collected and decoded here); the first
 * byte picks whether the bytes are instead decoded directly as the helper's
 * output, so the decoder sees hostile frames too.  Nothing may crash, hang
 * or leak in this process.  (The helper's own coverage is not fed back: it
 * runs FreeXL, whose crashes end the helper only.)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "xls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
Decode(const char *buf, size_t len)
{
	XlsFrames f;
	char	**cells;
	long	  row;
	int		  n;
	long	  rows = 0;

	if (xls_frames_init(&f, buf, len) != NULL)
	{
		while ((n = xls_frames_next(&f, &cells, &row)) > 0)
		{
			volatile size_t total = 0;
			int				i;

			for (i = 0; i < n; i++)
				total += cells[i][0] != '\0';
			if (row < 1 || ++rows > (long) len)
				__builtin_trap();
		}
	}
	xls_frames_free(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	char		err[XLS_ERRLEN];
	ReadError	kind;
	char	   *out = NULL;
	size_t		outlen = 0;
	FILE	   *fp;

	if (size < 1)
		return 0;
	if (data[0] & 1)
	{
		Decode((const char *) data + 1, size - 1);
		return 0;
	}
	if (getenv("CAR_XLS_HELPER") == NULL)
		__builtin_trap(); /* scripts/fuzz.sh sets it */
	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/car-fuzz-xls-%d.xls", (int) getpid());
	fp = fopen(path, "wb");
	if (fp == NULL)
		return 0;
	fwrite(data + 1, 1, size - 1, fp);
	fclose(fp);
	if (xls_read_sandboxed(getenv("CAR_XLS_HELPER"), path, "Factors by Category", &out, &outlen, err, sizeof(err), &kind) == 0)
		Decode(out, outlen);
	free(out);
	return 0;
}
