/*
 * ingest_bytes.c
 *		The bytes of a file being landed, read in pieces wherever they are: a
 *		bytea sent to car.push (or fetched by the worker), or a large object
 *		a client streamed in for car.push_lo.  Nothing here holds more than
 *		one piece of a file, so a file of any size is hashed, surveyed,
 *		parsed and landed in bounded memory.
 */
#include "ingest.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "libpq/be-fsstubs.h"
#include "libpq/libpq-fs.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"

/* A bytea's bytes, read in place. */
void
car_bytes_of_bytea(CarFileBytes *b, bytea *payload)
{
	memset(b, 0, sizeof(*b));
	b->payload = payload;
	b->mem = VARDATA_ANY(payload);
	b->size = VARSIZE_ANY_EXHDR(payload);
	b->lo_fd = -1;
}

/*
 * A large object's bytes, opened for reading as the current user: lo_open
 * refuses a large object the caller may not read (unless the superuser set
 * lo_compat_privileges), so car never reads one on anyone's rights but the
 * caller's.  Reads see the large object as it was when opened (lo_open's
 * snapshot), in every pass.
 */
void
car_bytes_of_lo(CarFileBytes *b, Oid lo)
{
	memset(b, 0, sizeof(*b));
	b->lo = lo;
	b->lo_fd = DatumGetInt32(DirectFunctionCall2(be_lo_open, ObjectIdGetDatum(lo), Int32GetDatum(INV_READ)));
	b->size = DatumGetInt64(
		DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(b->lo_fd), Int64GetDatum(0), Int32GetDatum(SEEK_END)));
	car_bytes_rewind(b);
}

/* Read from the first byte again. */
void
car_bytes_rewind(CarFileBytes *b)
{
	if (b->lo_fd >= 0)
		(void) DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(b->lo_fd), Int64GetDatum(0), Int32GetDatum(SEEK_SET));
	b->pos = 0;
}

/* Up to n of the next bytes into buf; how many (0 at the end). */
int
car_bytes_read(CarFileBytes *b, char *buf, int n)
{
	int got;

	if (n <= 0)
		return 0;
	if (b->lo_fd < 0)
	{
		got = (int) Min((int64) n, b->size - b->pos);
		memcpy(buf, b->mem + b->pos, got);
	}
	else
		got = lo_read(b->lo_fd, buf, n);
	b->pos += got;
	return got;
}

/* n of the next bytes into buf, fewer only at the end; how many. */
int
car_bytes_read_full(CarFileBytes *b, char *buf, int n)
{
	int got = 0;

	while (got < n)
	{
		int r = car_bytes_read(b, buf + got, n - got);

		if (r == 0)
			break;
		got += r;
	}
	return got;
}

/* Close a large object's descriptor (the transaction's end would, too). */
void
car_bytes_close(CarFileBytes *b)
{
	if (b->lo_fd >= 0)
		(void) DirectFunctionCall1(be_lo_close, Int32GetDatum(b->lo_fd));
	b->lo_fd = -1;
}

/*
 * One pass over the bytes: their SHA-256 (hex, 65 bytes) and how they are
 * encoded.  UTF-16 with a byte-order mark is left for the CSV reader to
 * transcode; NUL bytes outside UTF-16 make the file binary; bytes that are
 * valid UTF-8 as a whole are read as they are; anything else is read as
 * Windows-1252, what Excel's "CSV" export writes on Windows.  UTF-8 is
 * checked piece by piece, a character cut between two pieces carried over.
 */
void
car_bytes_survey(CarFileBytes *b, char *hex, CarEncoding *enc)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8			   digest[PG_SHA256_DIGEST_LENGTH];
	char			  *buf = palloc(CAR_PIECE_BYTES + 4);
	unsigned char	   head[3] = {0, 0, 0};
	int				   carry = 0;
	bool			   utf8 = true;
	bool			   nul = false;
	int				   n;
	int				   i;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	car_bytes_rewind(b);
	while ((n = car_bytes_read(b, buf + carry, CAR_PIECE_BYTES)) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (pg_cryptohash_update(ctx, (const uint8 *) buf + carry, n) < 0)
			elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
		if (b->pos == n)
			memcpy(head, buf, Min(n, 3));
		else if (b->pos - n < 3)
		{
			/* the first pieces were shorter than 3 bytes */
			for (i = 0; i < n && b->pos - n + i < 3; i++)
				head[b->pos - n + i] = (unsigned char) buf[carry + i];
		}
		if (!nul && memchr(buf + carry, '\0', n) != NULL)
			nul = true;
		if (utf8 && !nul)
		{
			int total = carry + n;
			int ok = pg_encoding_verifymbstr(PG_UTF8, buf, total);

			carry = 0;
			if (ok < total)
			{
				int rest = total - ok;

				if (rest < 4 && pg_utf_mblen((const unsigned char *) buf + ok) > rest)
				{
					memmove(buf, buf + ok, rest);
					carry = rest;
				}
				else
					utf8 = false;
			}
		}
		else
			carry = 0;
	}
	if (carry > 0)
		utf8 = false; /* the file ends inside a character */
	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	pfree(buf);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);

	if (b->size >= 2 && head[0] == 0xFF && head[1] == 0xFE)
		*enc = CAR_ENC_UTF16LE;
	else if (b->size >= 2 && head[0] == 0xFE && head[1] == 0xFF)
		*enc = CAR_ENC_UTF16BE;
	else if (nul)
		*enc = CAR_ENC_BINARY;
	else if (utf8)
		*enc = b->size >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF ? CAR_ENC_UTF8_BOM : CAR_ENC_UTF8;
	else
		*enc = CAR_ENC_WIN1252;
}
