/*
 * zipmem.h
 *		Build a zip archive (an .xlsx) in memory, for the xlsx unit tests and
 *		fuzz target; also zip bombs: a part of hundreds of megabytes made as
 *		libzip compresses it, never held whole, in an archive of a few kB.
 */
#ifndef CAR_ZIPMEM_H
#define CAR_ZIPMEM_H

#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* A part made of head, then body reps times, then tail. */
typedef struct ZipRepeat
{
	const char *head;
	const char *body;
	size_t		reps;
	const char *tail;
	size_t		pos;   /* bytes produced so far */
	int			level; /* libzip's deflate level, 1 to 9; 0 for its default */
} ZipRepeat;

/* Bytes of the part r describes. */
static size_t
zip_repeat_size(const ZipRepeat *r)
{
	return strlen(r->head) + r->reps * strlen(r->body) + strlen(r->tail);
}

/* libzip source callback producing r's bytes on demand. */
static zip_int64_t
zip_repeat_source(void *arg, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
	ZipRepeat *r = arg;
	size_t	   hl = strlen(r->head);
	size_t	   bl = strlen(r->body);
	size_t	   total = zip_repeat_size(r);
	char	  *out = data;
	size_t	   n = 0;

	switch (cmd)
	{
		case ZIP_SOURCE_OPEN:
			r->pos = 0;
			return 0;
		case ZIP_SOURCE_READ:
			while (n < len && r->pos < total)
			{
				const char *from;
				size_t		avail;

				if (r->pos < hl)
				{
					from = r->head + r->pos;
					avail = hl - r->pos;
				}
				else if (r->pos < hl + r->reps * bl)
				{
					from = r->body + (r->pos - hl) % bl;
					avail = bl - (r->pos - hl) % bl;
				}
				else
				{
					from = r->tail + (r->pos - hl - r->reps * bl);
					avail = total - r->pos;
				}
				if (avail > len - n)
					avail = len - n;
				memcpy(out + n, from, avail);
				n += avail;
				r->pos += avail;
			}
			return (zip_int64_t) n;
		case ZIP_SOURCE_STAT:
		{
			zip_stat_t *st = data;

			zip_stat_init(st);
			st->size = total;
			st->valid |= ZIP_STAT_SIZE;
			return sizeof(*st);
		}
		case ZIP_SOURCE_SUPPORTS:
			return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
												  ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
		case ZIP_SOURCE_CLOSE:
		case ZIP_SOURCE_ERROR:
		case ZIP_SOURCE_FREE:
			return 0;
		default:
			return -1;
	}
}

/*
 * Zip (name, content) pairs, and when bomb is not NULL one more part of
 * that name made by bomb (deflated); returns malloc'd bytes, their count in
 * *len.
 */
static char *
make_xlsx_bomb(const char *const *parts, int nparts, const char *bomb_name, ZipRepeat *bomb, size_t *len)
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
	if (bomb != NULL)
	{
		zip_int64_t idx = zip_file_add(z, bomb_name, zip_source_function(z, zip_repeat_source, bomb), ZIP_FL_OVERWRITE);

		zip_set_file_compression(z, (zip_uint64_t) idx, ZIP_CM_DEFLATE, (zip_uint32_t) bomb->level);
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

/* Zip (name, content) pairs; returns malloc'd bytes, their count in *len. */
static char *
make_xlsx(const char *const *parts, int nparts, size_t *len)
{
	return make_xlsx_bomb(parts, nparts, NULL, NULL, len);
}

#endif
