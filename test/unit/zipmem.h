/*
 * zipmem.h
 *		Build a zip archive (an .xlsx) in memory, for the xlsx unit tests and
 *		fuzz target.
 */
#ifndef CAR_ZIPMEM_H
#define CAR_ZIPMEM_H

#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* Zip (name, content) pairs; returns malloc'd bytes, their count in *len. */
static char *
make_xlsx(const char *const *parts, int nparts, size_t *len)
{
	zip_error_t	  ze;
	zip_source_t *src;
	zip_t		 *z;
	zip_stat_t	  st;
	char		 *out;
	int			  i;

	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	zip_source_keep(src);
	z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	for (i = 0; i < nparts; i++)
	{
		zip_source_t *s = zip_source_buffer(z, parts[2 * i + 1], strlen(parts[2 * i + 1]), 0);

		zip_file_add(z, parts[2 * i], s, ZIP_FL_OVERWRITE);
	}
	zip_close(z);
	zip_source_stat(src, &st);
	zip_source_open(src);
	out = malloc(st.size);
	zip_source_read(src, out, st.size);
	zip_source_close(src);
	zip_source_free(src);
	*len = st.size;
	return out;
}

#endif
