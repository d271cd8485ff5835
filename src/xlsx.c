/*
 * xlsx.c
 *		Pure C streaming reader for one worksheet of an .xlsx workbook;
 *		see xlsx.h.
 */
#include "xlsx.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include <libxml/xmlreader.h>

/* Bound on what a hostile archive can make us hold or walk. */
#define MAX_SHARED_STRINGS ((size_t) 4 * 1024 * 1024)
#define MAX_COLUMNS		   16384 /* Excel's own limit (XFD) */
#define MAX_SHEETS		   256

typedef struct SheetInfo
{
	char *name;
	char *rid;
} SheetInfo;

struct XlsxReader
{
	zip_source_t	*src;
	zip_t			*zip;
	zip_file_t		*zf; /* entry being streamed into reader */
	xmlTextReaderPtr reader;
	char			*sheet;

	char **strings; /* shared strings */
	size_t nstrings;

	/* current row */
	char   *buf;
	size_t	bufcap;
	size_t	used;
	size_t *offs; /* per column: offset into buf, or SIZE_MAX */
	char  **cells;
	int		capcols;
	int		ncols;
	long	nextrow; /* row number if <row> lacks r= */
	int		done;

	char err[XLSX_ERRLEN];
	int	 xml_failed;
};

/* Record the first error (later ones are consequences). */
static void SetError(XlsxReader *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
SetError(XlsxReader *x, const char *fmt, ...)
{
	va_list ap;

	if (x->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
}

/* libxml2 per-reader error handler: keep the message, never longjmp. */
static void
XmlErrorHandler(void *arg, xmlErrorPtr error)
{
	XlsxReader *x = arg;
	char		msg[300];
	size_t		n;

	if (error == NULL || error->level < XML_ERR_ERROR)
		return;
	snprintf(msg, sizeof(msg), "%s", error->message ? error->message : "unknown XML error");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	x->xml_failed = 1;
	SetError(x, "malformed XML in %s at line %d: %s", x->sheet ? x->sheet : "workbook",
			 error->line, msg);
}

/* libxml2 input callbacks reading straight from the zip entry. */
static int
ZipRead(void *ctx, char *buffer, int len)
{
	zip_int64_t n = zip_fread((zip_file_t *) ctx, buffer, (zip_uint64_t) len);

	return n < 0 ? -1 : (int) n;
}

static int
ZipClose(void *ctx)
{
	(void) ctx;
	return 0;
}

static const int XmlOptions = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_COMPACT;

/* Open the archive member name and start an XML reader on it. */
static int
OpenPart(XlsxReader *x, const char *name, int required)
{
	if (x->reader)
	{
		xmlFreeTextReader(x->reader);
		x->reader = NULL;
	}
	if (x->zf)
	{
		zip_fclose(x->zf);
		x->zf = NULL;
	}
	x->zf = zip_fopen(x->zip, name, 0);
	if (x->zf == NULL)
	{
		if (required)
			SetError(x, "the workbook has no part \"%s\": the file is not a complete .xlsx workbook", name);
		return -1;
	}
	x->reader = xmlReaderForIO(ZipRead, ZipClose, x->zf, name, NULL, XmlOptions);
	if (x->reader == NULL)
	{
		SetError(x, "could not start reading \"%s\" in the workbook", name);
		return -1;
	}
	xmlTextReaderSetStructuredErrorHandler(x->reader, XmlErrorHandler, x);
	return 0;
}

/* Advance the reader; 1 = node, 0 = end, -1 = error (message set). */
static int
ReadNode(XlsxReader *x)
{
	int rc = xmlTextReaderRead(x->reader);

	if (rc < 0 || x->xml_failed)
	{
		zip_error_t *ze = zip_file_get_error(x->zf);

		if (ze && zip_error_code_zip(ze) != ZIP_ER_OK)
			SetError(x, "the workbook is damaged or truncated: %s", zip_error_strerror(ze));
		SetError(x, "malformed XML in the workbook");
		return -1;
	}
	return rc;
}

static int
IsElement(XlsxReader *x, const char *local)
{
	const xmlChar *n = xmlTextReaderConstLocalName(x->reader);

	return n && strcmp((const char *) n, local) == 0;
}

/* Collect the text of all <t> descendants of the current element (not rPh). */
static char *
ReadRichText(XlsxReader *x, const char *endname)
{
	int	   depth = xmlTextReaderDepth(x->reader);
	size_t cap = 64,
		   len = 0;
	char *out;
	int	  in_t = 0;
	int	  in_rph = 0;

	out = malloc(cap);
	if (out == NULL)
		return NULL;
	out[0] = '\0';
	if (xmlTextReaderIsEmptyElement(x->reader))
		return out;
	for (;;)
	{
		int rc = ReadNode(x);
		int type;

		if (rc <= 0)
		{
			if (rc == 0)
				SetError(x, "the workbook ends inside a <%s> element: the file is truncated", endname);
			free(out);
			return NULL;
		}
		type = xmlTextReaderNodeType(x->reader);
		if (type == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x->reader) == depth)
			break;
		if (type == XML_READER_TYPE_ELEMENT)
		{
			if (IsElement(x, "rPh"))
				in_rph = !xmlTextReaderIsEmptyElement(x->reader);
			else if (IsElement(x, "t"))
				in_t = !xmlTextReaderIsEmptyElement(x->reader);
		}
		else if (type == XML_READER_TYPE_END_ELEMENT)
		{
			if (IsElement(x, "rPh"))
				in_rph = 0;
			else if (IsElement(x, "t"))
				in_t = 0;
		}
		else if ((type == XML_READER_TYPE_TEXT ||
				  type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE ||
				  type == XML_READER_TYPE_WHITESPACE) &&
				 in_t && !in_rph)
		{
			const char *v = (const char *) xmlTextReaderConstValue(x->reader);
			size_t		vl = v ? strlen(v) : 0;

			if (len + vl + 1 > cap)
			{
				char *n;

				while (len + vl + 1 > cap)
					cap *= 2;
				n = realloc(out, cap);
				if (n == NULL)
				{
					free(out);
					return NULL;
				}
				out = n;
			}
			if (vl > 0)
				memcpy(out + len, v, vl);
			len += vl;
			out[len] = '\0';
		}
	}
	return out;
}

/* Read xl/sharedStrings.xml (optional) into x->strings. */
static int
LoadSharedStrings(XlsxReader *x)
{
	size_t cap = 0;

	if (OpenPart(x, "xl/sharedStrings.xml", 0) != 0)
		return x->err[0] ? -1 : 0;
	for (;;)
	{
		int rc = ReadNode(x);

		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		if (xmlTextReaderNodeType(x->reader) == XML_READER_TYPE_ELEMENT && IsElement(x, "si"))
		{
			char *s;

			if (x->nstrings >= MAX_SHARED_STRINGS)
			{
				SetError(x, "the workbook has more than %zu shared strings", MAX_SHARED_STRINGS);
				return -1;
			}
			if (x->nstrings == cap)
			{
				char **n;

				cap = cap ? cap * 2 : 1024;
				n = realloc(x->strings, cap * sizeof(char *));
				if (n == NULL)
					goto oom;
				x->strings = n;
			}
			s = ReadRichText(x, "si");
			if (s == NULL)
			{
				if (x->err[0])
					return -1;
				goto oom;
			}
			x->strings[x->nstrings++] = s;
		}
	}
	return 0;
oom:
	SetError(x, "out of memory reading the workbook's shared strings");
	return -1;
}

/* Read a whole (small) part into memory, NUL-terminated. */
static char *
ReadWholePart(XlsxReader *x, const char *name, zip_uint64_t limit)
{
	zip_stat_t	st;
	zip_file_t *f;
	char	   *buf;
	zip_int64_t n;

	if (zip_stat(x->zip, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
	{
		SetError(x, "the workbook has no part \"%s\": the file is not a complete .xlsx workbook", name);
		return NULL;
	}
	if (st.size > limit)
	{
		SetError(x, "the workbook part \"%s\" is implausibly large (%llu bytes)", name,
				 (unsigned long long) st.size);
		return NULL;
	}
	f = zip_fopen(x->zip, name, 0);
	if (f == NULL)
	{
		SetError(x, "could not open \"%s\" in the workbook: %s", name, zip_strerror(x->zip));
		return NULL;
	}
	buf = malloc(st.size + 1);
	if (buf == NULL)
	{
		zip_fclose(f);
		SetError(x, "out of memory reading the workbook");
		return NULL;
	}
	n = zip_fread(f, buf, st.size);
	if (n < 0 || (zip_uint64_t) n != st.size)
	{
		SetError(x, "the workbook is damaged or truncated: could not read \"%s\" (%s)", name,
				 zip_file_strerror(f));
		zip_fclose(f);
		free(buf);
		return NULL;
	}
	zip_fclose(f);
	buf[st.size] = '\0';
	return buf;
}

/* Walk a small in-memory XML part, calling fn for every element named elem. */
static int
ForEachElement(XlsxReader *x, const char *part, const char *elem,
			   int (*fn)(XlsxReader *x, xmlTextReaderPtr r, void *arg), void *arg)
{
	char			*doc = ReadWholePart(x, part, (zip_uint64_t) 64 * 1024 * 1024);
	xmlTextReaderPtr r;
	int				 rc;
	int				 result = 0;

	if (doc == NULL)
		return -1;
	r = xmlReaderForMemory(doc, (int) strlen(doc), part, NULL, XmlOptions);
	if (r == NULL)
	{
		free(doc);
		SetError(x, "could not parse \"%s\" in the workbook", part);
		return -1;
	}
	xmlTextReaderSetStructuredErrorHandler(r, XmlErrorHandler, x);
	while ((rc = xmlTextReaderRead(r)) == 1 && !x->xml_failed)
	{
		const xmlChar *n = xmlTextReaderConstLocalName(r);

		if (xmlTextReaderNodeType(r) == XML_READER_TYPE_ELEMENT && n &&
			strcmp((const char *) n, elem) == 0)
		{
			result = fn(x, r, arg);
			if (result != 0)
				break;
		}
	}
	if ((rc < 0 || x->xml_failed) && result == 0)
	{
		SetError(x, "malformed XML in \"%s\" of the workbook", part);
		result = -1;
	}
	xmlFreeTextReader(r);
	free(doc);
	return result;
}

typedef struct SheetList
{
	SheetInfo sheets[MAX_SHEETS];
	int		  n;
} SheetList;

static int
CollectSheet(XlsxReader *x, xmlTextReaderPtr r, void *arg)
{
	SheetList *l = arg;
	xmlChar	  *name = xmlTextReaderGetAttribute(r, BAD_CAST "name");
	xmlChar	  *rid = xmlTextReaderGetAttributeNs(r, BAD_CAST "id",
												 BAD_CAST "http://schemas.openxmlformats.org/officeDocument/2006/relationships");

	if (rid == NULL)
		rid = xmlTextReaderGetAttribute(r, BAD_CAST "r:id");
	if (name == NULL || rid == NULL || l->n >= MAX_SHEETS)
	{
		xmlFree(name);
		xmlFree(rid);
		if (l->n >= MAX_SHEETS)
		{
			SetError(x, "the workbook has more than %d sheets", MAX_SHEETS);
			return -1;
		}
		return 0;
	}
	l->sheets[l->n].name = strdup((char *) name);
	l->sheets[l->n].rid = strdup((char *) rid);
	xmlFree(name);
	xmlFree(rid);
	l->n++;
	return 0;
}

typedef struct RelLookup
{
	const char *rid;
	char	   *target;
} RelLookup;

static int
FindRel(XlsxReader *x, xmlTextReaderPtr r, void *arg)
{
	RelLookup *rl = arg;
	xmlChar	  *id = xmlTextReaderGetAttribute(r, BAD_CAST "Id");
	xmlChar	  *target = xmlTextReaderGetAttribute(r, BAD_CAST "Target");

	(void) x;
	if (id && target && strcmp((char *) id, rl->rid) == 0)
	{
		const char *t = (const char *) target;

		rl->target = malloc(strlen(t) + 4);
		if (rl->target)
		{
			if (t[0] == '/')
				strcpy(rl->target, t + 1);
			else
				sprintf(rl->target, "xl/%s", t);
		}
	}
	xmlFree(id);
	xmlFree(target);
	return rl->target ? 1 : 0;
}

int
xlsx_looks_like(const char *data, size_t len)
{
	return len >= 4 && memcmp(data, "PK\003\004", 4) == 0;
}

XlsxReader *
xlsx_open(const char *data, size_t len, const char *want, char *err, size_t errlen)
{
	XlsxReader *x = calloc(1, sizeof(XlsxReader));
	zip_error_t ze;
	SheetList  *sl = NULL;
	RelLookup	rl = {NULL, NULL};
	int			pick = 0;
	int			i;

	if (x == NULL)
	{
		snprintf(err, errlen, "out of memory opening the workbook");
		return NULL;
	}
	zip_error_init(&ze);
	x->src = zip_source_buffer_create(data, len, 0, &ze);
	if (x->src == NULL)
	{
		SetError(x, "could not read the workbook: %s", zip_error_strerror(&ze));
		goto fail;
	}
	x->zip = zip_open_from_source(x->src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (x->zip == NULL)
	{
		SetError(x, "the file is not a readable .xlsx workbook (zip: %s); it may be truncated or damaged",
				 zip_error_strerror(&ze));
		zip_source_free(x->src);
		x->src = NULL;
		goto fail;
	}

	sl = calloc(1, sizeof(SheetList));
	if (sl == NULL)
	{
		SetError(x, "out of memory opening the workbook");
		goto fail;
	}
	if (ForEachElement(x, "xl/workbook.xml", "sheet", CollectSheet, sl) < 0)
		goto fail;
	if (sl->n == 0)
	{
		SetError(x, "the workbook lists no sheets");
		goto fail;
	}
	for (i = 0; want && i < sl->n; i++)
		if (strcmp(sl->sheets[i].name, want) == 0)
		{
			pick = i;
			break;
		}
	rl.rid = sl->sheets[pick].rid;
	if (ForEachElement(x, "xl/_rels/workbook.xml.rels", "Relationship", FindRel, &rl) < 0)
		goto fail;
	if (rl.target == NULL)
	{
		SetError(x, "the workbook does not say where sheet \"%s\" is stored", sl->sheets[pick].name);
		goto fail;
	}
	x->sheet = strdup(sl->sheets[pick].name);

	if (LoadSharedStrings(x) < 0)
		goto fail;
	if (OpenPart(x, rl.target, 1) < 0)
		goto fail;
	x->nextrow = 1;

	for (i = 0; i < sl->n; i++)
	{
		free(sl->sheets[i].name);
		free(sl->sheets[i].rid);
	}
	free(sl);
	free(rl.target);
	return x;

fail:
	snprintf(err, errlen, "%s", x->err[0] ? x->err : "could not open the workbook");
	if (sl)
	{
		for (i = 0; i < sl->n; i++)
		{
			free(sl->sheets[i].name);
			free(sl->sheets[i].rid);
		}
		free(sl);
	}
	free(rl.target);
	xlsx_close(x);
	return NULL;
}

const char *
xlsx_sheet_name(const XlsxReader *x)
{
	return x->sheet;
}

const char *
xlsx_error(const XlsxReader *x)
{
	return x->err[0] ? x->err : "unknown error reading the workbook";
}

void
xlsx_close(XlsxReader *x)
{
	size_t i;

	if (x == NULL)
		return;
	if (x->reader)
		xmlFreeTextReader(x->reader);
	if (x->zf)
		zip_fclose(x->zf);
	if (x->zip)
		zip_discard(x->zip);
	for (i = 0; i < x->nstrings; i++)
		free(x->strings[i]);
	free(x->strings);
	free(x->buf);
	free(x->offs);
	free(x->cells);
	free(x->sheet);
	free(x);
}

void
xlsx_format_number(double v, char *out, size_t outlen)
{
	char   tmp[40];
	char   digits[20];
	int	   nd = 0;
	int	   exp10;
	char  *p;
	char  *e;
	size_t o = 0;
	int	   i;

	if (!isfinite(v))
	{
		snprintf(out, outlen, "%s", "");
		return;
	}
	if (v == 0)
	{
		snprintf(out, outlen, "0");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.14e", v);
	p = tmp;
	if (*p == '-')
		p++;
	e = strchr(p, 'e');
	exp10 = atoi(e + 1);
	for (; p < e; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

#define EMIT(c)             \
	do                      \
	{                       \
		if (o + 1 < outlen) \
			out[o++] = (c); \
	} while (0)
	if (v < 0)
		EMIT('-');
	if (exp10 >= 0)
	{
		for (i = 0; i <= exp10 || i < nd; i++)
		{
			if (i == exp10 + 1)
				EMIT('.');
			EMIT(i < nd ? digits[i] : '0');
		}
	}
	else
	{
		EMIT('0');
		EMIT('.');
		for (i = 0; i < -exp10 - 1; i++)
			EMIT('0');
		for (i = 0; i < nd; i++)
			EMIT(digits[i]);
	}
#undef EMIT
	out[o] = '\0';
}

/* Column index (0-based) from a reference like "AB12"; -1 if malformed. */
static int
ColumnOf(const char *ref)
{
	int col = 0;
	int n = 0;

	while (*ref >= 'A' && *ref <= 'Z')
	{
		col = col * 26 + (*ref - 'A' + 1);
		ref++;
		if (++n > 3)
			return -1;
	}
	return n == 0 ? -1 : col - 1;
}

/* Make room for column col in the current row. */
static int
EnsureColumns(XlsxReader *x, int col)
{
	if (col >= x->capcols)
	{
		int		newcap = x->capcols ? x->capcols : 32;
		size_t *no;
		char  **nc;
		int		i;

		while (newcap <= col)
			newcap *= 2;
		no = realloc(x->offs, newcap * sizeof(size_t));
		if (no == NULL)
			return -1;
		x->offs = no;
		nc = realloc(x->cells, newcap * sizeof(char *));
		if (nc == NULL)
			return -1;
		x->cells = nc;
		for (i = x->capcols; i < newcap; i++)
			x->offs[i] = (size_t) -1;
		x->capcols = newcap;
	}
	return 0;
}

/* Store text as the value of column col of the current row. */
static int
PutCell(XlsxReader *x, int col, const char *text)
{
	size_t l = strlen(text);

	if (EnsureColumns(x, col) < 0)
		return -1;
	if (x->used + l + 1 > x->bufcap)
	{
		size_t newcap = x->bufcap ? x->bufcap : 1024;
		char  *nb;

		while (x->used + l + 1 > newcap)
			newcap *= 2;
		nb = realloc(x->buf, newcap);
		if (nb == NULL)
			return -1;
		x->buf = nb;
		x->bufcap = newcap;
	}
	memcpy(x->buf + x->used, text, l + 1);
	x->offs[col] = x->used;
	x->used += l + 1;
	if (col + 1 > x->ncols)
		x->ncols = col + 1;
	return 0;
}

/* Turn a cell's raw value into text according to its type attribute. */
static int
StoreCell(XlsxReader *x, int col, const char *type, char *raw, long rownum)
{
	char		num[64];
	const char *text = raw;

	if (type == NULL || strcmp(type, "n") == 0)
	{
		char  *end;
		double v;

		if (raw[0] != '\0')
		{
			v = strtod(raw, &end);
			if (*end != '\0')
			{
				SetError(x, "sheet \"%s\" row %ld: numeric cell holds \"%.40s\"", x->sheet, rownum, raw);
				return -1;
			}
			xlsx_format_number(v, num, sizeof(num));
			text = num;
		}
	}
	else if (strcmp(type, "s") == 0)
	{
		char		 *end;
		unsigned long idx = strtoul(raw, &end, 10);

		if (raw[0] == '\0' || *end != '\0' || idx >= x->nstrings)
		{
			SetError(x, "sheet \"%s\" row %ld refers to shared string \"%.20s\", which the workbook does not have",
					 x->sheet, rownum, raw);
			return -1;
		}
		text = x->strings[idx];
	}
	else if (strcmp(type, "b") == 0)
		text = strcmp(raw, "1") == 0 ? "TRUE" : "FALSE";
	/* "str", "inlineStr", "e" (error such as #N/A) and "d" are text already */
	if (PutCell(x, col, text) < 0)
	{
		SetError(x, "out of memory reading sheet \"%s\" row %ld", x->sheet, rownum);
		return -1;
	}
	return 0;
}

/* Read one <c> element (reader positioned on it). */
static int
ReadCell(XlsxReader *x, int *nextcol, long rownum)
{
	xmlChar *ref = xmlTextReaderGetAttribute(x->reader, BAD_CAST "r");
	xmlChar *type = xmlTextReaderGetAttribute(x->reader, BAD_CAST "t");
	int		 col = ref ? ColumnOf((const char *) ref) : *nextcol;
	char	*raw = NULL;
	int		 rc = 0;

	xmlFree(ref);
	if (col < 0 || col >= MAX_COLUMNS)
	{
		xmlFree(type);
		SetError(x, "sheet \"%s\" row %ld has a cell with a bad reference", x->sheet, rownum);
		return -1;
	}
	*nextcol = col + 1;

	if (!xmlTextReaderIsEmptyElement(x->reader))
	{
		int depth = xmlTextReaderDepth(x->reader);

		for (;;)
		{
			int r = ReadNode(x);
			int nt;

			if (r <= 0)
			{
				if (r == 0)
					SetError(x, "sheet \"%s\" ends inside row %ld: the file is truncated", x->sheet, rownum);
				rc = -1;
				break;
			}
			nt = xmlTextReaderNodeType(x->reader);
			if (nt == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x->reader) == depth)
				break;
			if (nt != XML_READER_TYPE_ELEMENT)
				continue;
			if (IsElement(x, "v"))
			{
				xmlChar *s = xmlTextReaderReadString(x->reader);

				free(raw);
				raw = strdup(s ? (char *) s : "");
				xmlFree(s);
			}
			else if (IsElement(x, "is"))
			{
				free(raw);
				raw = ReadRichText(x, "is");
				if (raw == NULL)
				{
					rc = -1;
					break;
				}
			}
		}
	}
	if (rc == 0 && raw != NULL)
		rc = StoreCell(x, col, (const char *) type, raw, rownum);
	free(raw);
	xmlFree(type);
	return rc;
}

int
xlsx_next(XlsxReader *x, char ***cells, long *rownum)
{
	while (!x->done)
	{
		int rc = ReadNode(x);

		if (rc < 0)
			return -1;
		if (rc == 0)
		{
			x->done = 1;
			break;
		}
		if (xmlTextReaderNodeType(x->reader) == XML_READER_TYPE_ELEMENT && IsElement(x, "row"))
		{
			xmlChar *r = xmlTextReaderGetAttribute(x->reader, BAD_CAST "r");
			long	 num = r ? atol((const char *) r) : x->nextrow;
			int		 depth = xmlTextReaderDepth(x->reader);
			int		 nextcol = 0;
			int		 i;

			xmlFree(r);
			x->nextrow = num + 1;
			x->used = 0;
			x->ncols = 0;
			for (i = 0; i < x->capcols; i++)
				x->offs[i] = (size_t) -1;

			if (!xmlTextReaderIsEmptyElement(x->reader))
			{
				for (;;)
				{
					int nt;

					rc = ReadNode(x);
					if (rc <= 0)
					{
						if (rc == 0)
							SetError(x, "sheet \"%s\" ends inside row %ld: the file is truncated",
									 x->sheet, num);
						return -1;
					}
					nt = xmlTextReaderNodeType(x->reader);
					if (nt == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x->reader) == depth)
						break;
					if (nt == XML_READER_TYPE_ELEMENT && IsElement(x, "c") &&
						ReadCell(x, &nextcol, num) < 0)
						return -1;
				}
			}
			/* A row without cells carries no data; Excel writes them for formatting. */
			if (x->ncols == 0)
				continue;
			for (i = 0; i < x->ncols; i++)
				x->cells[i] = x->offs[i] == (size_t) -1 ? (char *) "" : x->buf + x->offs[i];
			*cells = x->cells;
			*rownum = num;
			return x->ncols;
		}
	}
	return 0;
}
