/*
 * xlsx.c
 *		Pure C streaming reader for one worksheet of an .xlsx workbook;
 *		see xlsx.h.
 */
#include "xlsx.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include <libxml/xmlreader.h>

/* What to do about a workbook refused at a cap, said after each such message. */
#define ADVICE "; if the workbook is genuine, save the sheet as CSV and load that"

typedef struct SheetInfo
{
	char *name;
	char *rid;
} SheetInfo;

struct XlsxReader
{
	MemBudget		 budget; /* all the reader's allocations but this struct */
	zip_source_t	*src;
	zip_t			*zip;
	zip_file_t		*zf; /* entry being streamed into reader */
	xmlTextReaderPtr reader;
	char			 part[128];	 /* its name, for messages */
	size_t			 part_cap;	 /* XLSX_MAX_PART_BYTES, or XLSX_MAX_INDEX_PART */
	size_t			 part_bytes; /* bytes of it decompressed so far */
	size_t			 node_start; /* part_bytes when the reader began on its next node */
	int				 scan;		 /* ScanTags' state */
	int				 attributes; /* '=' seen in the start tag being scanned */
	char			*sheet;

	/* shared strings: their text one after another, each NUL-terminated */
	char	 *sst;
	size_t	  sstcap;
	size_t	  sstused;
	uint32_t *sstoff; /* where each starts in sst */
	size_t	  sstoffcap;
	size_t	  nstrings;

	/* decimals each cell format (cellXfs index) shows, -1 for General */
	signed char *xfdec;
	size_t		 nxf;
	size_t		 xfcap;

	/* text of the element being read: a shared string or a cell's value */
	char  *text;
	size_t textcap;
	size_t textlen;

	/* current row */
	char   *buf;
	size_t	bufcap;
	size_t	used;
	size_t *offs; /* per column: offset into buf, or SIZE_MAX */
	int		capoffs;
	char  **cells;
	int		capcells;
	int		ncols;
	long	nextrow; /* row number if <row> lacks r= */
	int		done;

	ReadError errkind;
	char	  err[XLSX_ERRLEN];
	int		  xml_failed;
};

/* Record the first error (later ones are consequences). */
static void SetError(XlsxReader *x, ReadError kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
SetError(XlsxReader *x, ReadError kind, const char *fmt, ...)
{
	va_list ap;

	if (x->err[0] != '\0')
		return;
	x->errkind = kind;
	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above */
	va_end(ap);
}

/* An allocation while reading what failed: the budget refused it, or malloc did. */
static void
NoMemory(XlsxReader *x, const char *what)
{
	if (x->budget.refused)
		SetError(x, READ_LIMIT, "reading %s needs more than %zu bytes of memory, the xlsx reader's budget" ADVICE,
				 what, x->budget.limit);
	else
		SetError(x, READ_NO_MEMORY, "out of memory reading %s", what);
}

/* Grow *p (*cap bytes) to hold need bytes: doubling, but never past max (need <= max). */
static int
Grow(XlsxReader *x, void **p, size_t *cap, size_t need, size_t max, const char *what)
{
	size_t newcap = *cap ? *cap : 256;
	void  *n;

	if (need <= *cap)
		return 0;
	while (newcap < need)
		newcap *= 2;
	if (newcap > max)
		newcap = max;
	n = budget_realloc(&x->budget, *p, *cap, newcap);
	if (n == NULL)
	{
		NoMemory(x, what);
		return -1;
	}
	*p = n;
	*cap = newcap;
	return 0;
}

/* A copy of s counted against the budget (freed with strlen(s) + 1). */
static char *
BudgetStrdup(XlsxReader *x, const char *s, const char *what)
{
	size_t l = strlen(s) + 1;
	char  *d = budget_malloc(&x->budget, l);

	if (d == NULL)
		NoMemory(x, what);
	else
		memcpy(d, s, l);
	return d;
}

/* Free a BudgetStrdup copy (or nothing, for NULL). */
static void
BudgetFreeString(XlsxReader *x, char *s)
{
	if (s)
		budget_free(&x->budget, s, strlen(s) + 1);
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
	SetError(x, READ_MALFORMED, "malformed XML in part \"%s\" of the workbook at line %d: %s", x->part, error->line,
			 msg);
}

/*
 * libxml2 2.9's text reader parses its input 512 bytes at a time and
 * discards what it has parsed only when, as a node ends, at most that much
 * is left unparsed.  Handed 4 kB a read, a part laid out so that every node
 * ends with more left (text runs of 256 kB, say) makes it keep everything it
 * has read: 98 MB held for a 50 MB sheet, measured.  Handed at most 512
 * bytes a read, it discards after every node.
 */
#define XML_READ_CHUNK 512

/* Where ScanTags is: in text, after '<', in a tag, in a quoted value, after "<!", in <!...> or <?...?>. */
enum
{
	SCAN_TEXT,
	SCAN_LT,
	SCAN_TAG,
	SCAN_DQ,
	SCAN_SQ,
	SCAN_BANG,
	SCAN_MARKUP
};

/*
 * Look through bytes before libxml2 parses them: refuse a tag with more than
 * XLSX_MAX_ATTRIBUTES attributes (counted by their '='), because libxml2 2.9
 * checks a tag's attributes for duplicates pairwise, and a document type
 * declaration ("<!D"), because a DTD's attribute defaults cost the same on
 * every element.  Workbook parts never declare a document type (Open
 * Packaging forbids it).  Either is refused before libxml2 parses the chunk
 * that holds it, which for a DTD's defaults would be hundreds of elements.
 */
static int
ScanTags(XlsxReader *x, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
	{
		char c = p[i];

		switch (x->scan)
		{
			case SCAN_TEXT:
				if (c == '<')
					x->scan = SCAN_LT;
				break;
			case SCAN_LT:
				x->scan = c == '!' ? SCAN_BANG : c == '?' ? SCAN_MARKUP
											 : c == '>'	  ? SCAN_TEXT
														  : SCAN_TAG;
				x->attributes = 0;
				break;
			case SCAN_BANG:
				if (c == 'D')
				{
					SetError(x, READ_MALFORMED,
							 "part \"%s\" of the workbook has a document type declaration (<!DOCTYPE>), which workbook parts never have: the file is not a genuine workbook",
							 x->part);
					return -1;
				}
				x->scan = c == '>' ? SCAN_TEXT : SCAN_MARKUP;
				break;
			case SCAN_TAG:
				if (c == '"')
					x->scan = SCAN_DQ;
				else if (c == '\'')
					x->scan = SCAN_SQ;
				else if (c == '>')
					x->scan = SCAN_TEXT;
				else if (c == '=' && ++x->attributes > XLSX_MAX_ATTRIBUTES)
				{
					SetError(x, READ_LIMIT,
							 "part \"%s\" of the workbook has a tag with more than %d attributes, the most one may have (real ones have under 30)" ADVICE,
							 x->part, XLSX_MAX_ATTRIBUTES);
					return -1;
				}
				break;
			case SCAN_DQ:
				if (c == '"')
					x->scan = SCAN_TAG;
				break;
			case SCAN_SQ:
				if (c == '\'')
					x->scan = SCAN_TAG;
				break;
			default:
				if (c == '>')
					x->scan = SCAN_TEXT;
				break;
		}
	}
	return 0;
}

/*
 * libxml2 input callback: the next bytes of the part being streamed, counted
 * as they leave libzip.  Past the part's cap, past XLSX_MAX_NODE_BYTES while
 * libxml2 looks for the end of one node, or with what ScanTags refuses, the
 * part is refused (and nothing more is decompressed), whatever size the
 * archive declares.
 */
static int
ZipRead(void *ctx, char *buffer, int len)
{
	XlsxReader *x = ctx;
	zip_int64_t n;

	if (x->err[0] != '\0')
		return -1;
	n = zip_fread(x->zf, buffer, (zip_uint64_t) (len < XML_READ_CHUNK ? len : XML_READ_CHUNK));
	if (n < 0)
		return -1;
	x->part_bytes += (size_t) n;
	if (x->part_bytes > x->part_cap)
	{
		SetError(x, READ_LIMIT, "part \"%s\" of the workbook decompresses to more than %zu bytes, the most %s" ADVICE,
				 x->part, x->part_cap,
				 x->part_cap == XLSX_MAX_INDEX_PART ? "such a part may hold (real ones hold a few kB)"
													: "one part may hold (a real factor sheet holds under 30 MB)");
		return -1;
	}
	if (x->part_bytes - x->node_start > XLSX_MAX_NODE_BYTES)
	{
		SetError(x, READ_LIMIT,
				 "part \"%s\" of the workbook has more than %zu bytes in one XML node (a text or a tag), the most one may hold (the longest text Excel writes in a cell takes under 200 kB)" ADVICE,
				 x->part, XLSX_MAX_NODE_BYTES);
		return -1;
	}
	if (ScanTags(x, buffer, (size_t) n) < 0)
		return -1;
	return (int) n;
}

/* libxml2 close callback: the entry is closed by OpenPart and xlsx_close. */
static int
ZipClose(void *ctx)
{
	(void) ctx;
	return 0;
}

static const int XmlOptions = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_COMPACT;

/* Open the archive member name and start an XML reader on it, counting its bytes against cap. */
static int
OpenPart(XlsxReader *x, const char *name, int required, size_t cap)
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
	snprintf(x->part, sizeof(x->part), "%s", name);
	x->part_cap = cap;
	x->part_bytes = 0;
	x->node_start = 0;
	x->scan = SCAN_TEXT;
	x->zf = zip_fopen(x->zip, name, 0);
	if (x->zf == NULL)
	{
		if (required)
			SetError(x, READ_MALFORMED,
					 "the workbook has no part \"%s\": the file is not a complete .xlsx workbook", name);
		return -1;
	}
	x->reader = xmlReaderForIO(ZipRead, ZipClose, x, name, NULL, XmlOptions);
	if (x->reader == NULL)
	{
		NoMemory(x, x->part);
		return -1;
	}
	xmlTextReaderSetStructuredErrorHandler(x->reader, XmlErrorHandler, x);
	return 0;
}

/* Advance the reader; 1 = node, 0 = end, -1 = error (message set). */
static int
ReadNode(XlsxReader *x)
{
	int rc;

	x->node_start = x->part_bytes;
	rc = xmlTextReaderRead(x->reader);

	if (rc < 0 || x->xml_failed)
	{
		zip_error_t *ze = zip_file_get_error(x->zf);

		if (ze && zip_error_code_zip(ze) != ZIP_ER_OK)
			SetError(x, READ_MALFORMED, "the workbook is damaged or truncated: %s", zip_error_strerror(ze));
		SetError(x, READ_MALFORMED, "malformed XML in the workbook");
		return -1;
	}
	return rc;
}

/* Is the reader's current node named local (namespace prefixes ignored)? */
static int
IsElement(XlsxReader *x, const char *local)
{
	const xmlChar *n = xmlTextReaderConstLocalName(x->reader);

	return n && strcmp((const char *) n, local) == 0;
}

/*
 * Collect the text inside the current element into x->text (x->textlen
 * bytes and a NUL): all of it (a cell's <v>), or with only_t that of its <t>
 * elements outside phonetic runs (<rPh>), as in shared and inline strings.
 * Returns 0; 1 if the text runs past XLSX_MAX_STRING_BYTES (the caller says
 * where; nothing more of it is read); -1 with the error set.
 */
static int
ReadText(XlsxReader *x, const char *endname, int only_t)
{
	int depth = xmlTextReaderDepth(x->reader);
	int in_t = 0;
	int in_rph = 0;

	x->textlen = 0;
	if (Grow(x, (void **) &x->text, &x->textcap, 1, XLSX_MAX_STRING_BYTES + 1, x->part) < 0)
		return -1;
	x->text[0] = '\0';
	if (xmlTextReaderIsEmptyElement(x->reader))
		return 0;
	for (;;)
	{
		int rc = ReadNode(x);
		int type;

		if (rc <= 0)
		{
			if (rc == 0)
				SetError(x, READ_MALFORMED, "the workbook ends inside a <%s> element: the file is truncated", endname);
			return -1;
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
				 (!only_t || (in_t && !in_rph)))
		{
			const char *v = (const char *) xmlTextReaderConstValue(x->reader);
			size_t		vl;

			if (v == NULL)
				continue;
			vl = strlen(v);
			if (vl > XLSX_MAX_STRING_BYTES - x->textlen)
				return 1;
			if (Grow(x, (void **) &x->text, &x->textcap, x->textlen + vl + 1, XLSX_MAX_STRING_BYTES + 1,
					 x->part) < 0)
				return -1;
			memcpy(x->text + x->textlen, v, vl);
			x->textlen += vl;
			x->text[x->textlen] = '\0';
		}
	}
	return 0;
}

/* Append x->text to the shared strings, within their caps. */
static int
AddSharedString(XlsxReader *x)
{
	size_t need = x->textlen + 1;

	if (need > XLSX_MAX_SHARED_STRING_BYTES - x->sstused)
	{
		SetError(x, READ_LIMIT,
				 "the shared strings in xl/sharedStrings.xml pass %zu bytes of text at string %zu, the most a workbook may hold (real factor workbooks hold under 1 MB)" ADVICE,
				 XLSX_MAX_SHARED_STRING_BYTES, x->nstrings);
		return -1;
	}
	if (Grow(x, (void **) &x->sst, &x->sstcap, x->sstused + need, XLSX_MAX_SHARED_STRING_BYTES, x->part) < 0 ||
		Grow(x, (void **) &x->sstoff, &x->sstoffcap, (x->nstrings + 1) * sizeof(uint32_t),
			 XLSX_MAX_SHARED_STRINGS * sizeof(uint32_t), x->part) < 0)
		return -1;
	memcpy(x->sst + x->sstused, x->text, need);
	x->sstoff[x->nstrings++] = (uint32_t) x->sstused;
	x->sstused += need;
	return 0;
}

/* Read xl/sharedStrings.xml (optional) into x->sst. */
static int
LoadSharedStrings(XlsxReader *x)
{
	if (OpenPart(x, "xl/sharedStrings.xml", 0, XLSX_MAX_PART_BYTES) != 0)
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
			if (x->nstrings == XLSX_MAX_SHARED_STRINGS)
			{
				SetError(x, READ_LIMIT,
						 "xl/sharedStrings.xml has more than %zu shared strings, the most a workbook may have (real factor workbooks have under 20,000)" ADVICE,
						 XLSX_MAX_SHARED_STRINGS);
				return -1;
			}
			rc = ReadText(x, "si", 1);
			if (rc > 0)
				SetError(x, READ_LIMIT,
						 "shared string %zu in xl/sharedStrings.xml is longer than %zu bytes, the most one string may be (Excel's limit is 32,767 characters)" ADVICE,
						 x->nstrings, XLSX_MAX_STRING_BYTES);
			if (rc != 0 || AddSharedString(x) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * Stream an index part (workbook.xml, its relationships), calling fn for
 * every element named elem until fn returns non-zero (-1: an error).
 */
static int
ForEachElement(XlsxReader *x, const char *part, const char *elem, int (*fn)(XlsxReader *x, void *arg), void *arg)
{
	int rc;

	if (OpenPart(x, part, 1, XLSX_MAX_INDEX_PART) < 0)
		return -1;
	while ((rc = ReadNode(x)) == 1)
		if (xmlTextReaderNodeType(x->reader) == XML_READER_TYPE_ELEMENT && IsElement(x, elem))
		{
			int result = fn(x, arg);

			if (result != 0)
				return result < 0 ? -1 : 0;
		}
	return rc;
}

typedef struct SheetList
{
	SheetInfo sheets[XLSX_MAX_SHEETS];
	int		  n;
} SheetList;

/* A <sheet> of workbook.xml: keep its name and relationship id. */
static int
CollectSheet(XlsxReader *x, void *arg)
{
	xmlTextReaderPtr r = x->reader;
	SheetList		*l = arg;
	xmlChar			*name = xmlTextReaderGetAttribute(r, BAD_CAST "name");
	xmlChar			*rid = xmlTextReaderGetAttributeNs(r, BAD_CAST "id",
													   BAD_CAST "http://schemas.openxmlformats.org/officeDocument/2006/relationships");
	int				 rc = 0;

	if (rid == NULL)
		rid = xmlTextReaderGetAttribute(r, BAD_CAST "r:id");
	if (name != NULL && rid != NULL && l->n >= XLSX_MAX_SHEETS)
	{
		SetError(x, READ_LIMIT, "the workbook has more than %d sheets, the most it may have (Excel's default limit is 255)" ADVICE,
				 XLSX_MAX_SHEETS);
		rc = -1;
	}
	else if (name != NULL && rid != NULL)
	{
		l->sheets[l->n].name = BudgetStrdup(x, (char *) name, "xl/workbook.xml");
		l->sheets[l->n].rid = BudgetStrdup(x, (char *) rid, "xl/workbook.xml");
		if (l->sheets[l->n].name == NULL || l->sheets[l->n].rid == NULL)
		{
			BudgetFreeString(x, l->sheets[l->n].name);
			BudgetFreeString(x, l->sheets[l->n].rid);
			rc = -1;
		}
		else
			l->n++;
	}
	xmlFree(name);
	xmlFree(rid);
	return rc;
}

typedef struct RelLookup
{
	const char *rid;
	char	   *target; /* part name, counted in the budget */
} RelLookup;

/* A <Relationship>: if it is the one wanted, keep its target as a part name. */
static int
FindRel(XlsxReader *x, void *arg)
{
	xmlTextReaderPtr r = x->reader;
	RelLookup		*rl = arg;
	xmlChar			*id = xmlTextReaderGetAttribute(r, BAD_CAST "Id");
	xmlChar			*target = xmlTextReaderGetAttribute(r, BAD_CAST "Target");
	int				 rc = 0;

	if (id && target && strcmp((char *) id, rl->rid) == 0)
	{
		const char *t = (const char *) target;
		size_t		l = strlen(t) + 4;

		rl->target = budget_malloc(&x->budget, l);
		if (rl->target == NULL)
		{
			NoMemory(x, "xl/_rels/workbook.xml.rels");
			rc = -1;
		}
		else
		{
			if (t[0] == '/')
				strcpy(rl->target, t + 1);
			else
				snprintf(rl->target, l, "xl/%s", t);
			rc = 1;
		}
	}
	xmlFree(id);
	xmlFree(target);
	return rc;
}

int
xlsx_format_decimals(const char *code)
{
	const char *p = code;
	int			digits = 0;
	int			decimals = -1;

	for (; *p && *p != ';'; p++)
	{
		char c = *p;

		if (c == '"')
		{
			while (p[1] && p[1] != '"')
				p++;
			if (p[1])
				p++;
			continue;
		}
		if (c == '\\' || c == '_' || c == '*')
		{
			/* an escaped character, a space as wide as one, a fill character */
			if (p[1])
				p++;
			continue;
		}
		if (c == '[')
		{
			while (p[1] && p[1] != ']')
				p++;
			if (p[1])
				p++;
			continue;
		}
		switch (c)
		{
			case '0':
			case '#':
			case '?':
				digits++;
				if (decimals >= 0)
					decimals++;
				break;
			case '.':
				if (decimals >= 0)
					return -1;
				decimals = 0;
				break;
			case ',':
			case ' ':
			case '-':
			case '+':
			case '(':
			case ')':
			case '$':
				break;
			default:
				/* General, %, E+, dates and times, @ and other letters: not fixed-point */
				return -1;
		}
	}
	if (digits == 0)
		return -1;
	return decimals < 0 ? 0 : decimals;
}

/* Decimals of a built-in number format (ECMA-376 18.8.30), or -1. */
static int
BuiltinDecimals(long id)
{
	switch (id)
	{
		case 1:
		case 3:
		case 37:
		case 38:
			return 0;
		case 2:
		case 4:
		case 39:
		case 40:
			return 2;
		default:
			return -1;
	}
}

void
xlsx_format_fixed(double v, int decimals, char *out, size_t outlen)
{
	char		general[64];
	char		digits[64];
	const char *g;
	int			intlen = 0;
	int			nd = 0;
	int			keep;
	int			i;
	size_t		o = 0;
	int			negative;
	int			dot = -1;

	xlsx_format_number(v, general, sizeof(general));
	/* a format may ask for any number of zeros; a double has at most 17 digits to show */
	if (decimals > 40)
		decimals = 40;
	if (decimals < 0 || !isfinite(v) || fabs(v) >= 1e15)
	{
		snprintf(out, outlen, "%s", general);
		return;
	}
	/* the digits of the General text, and where its decimal point falls */
	negative = general[0] == '-';
	for (g = general + negative; *g; g++)
	{
		if (*g == '.')
			dot = nd;
		else if (nd < (int) sizeof(digits) - 2)
			digits[nd++] = *g;
	}
	intlen = dot < 0 ? nd : dot;
	keep = intlen + decimals;
	if (keep >= 0 && keep < nd)
	{
		/* round half away from zero at digit keep, in decimal */
		int carry = digits[keep] >= '5';

		nd = keep;
		for (i = keep - 1; carry && i >= 0; i--)
		{
			if (digits[i] == '9')
				digits[i] = '0';
			else
			{
				digits[i]++;
				carry = 0;
			}
		}
		if (carry)
		{
			memmove(digits + 1, digits, nd);
			digits[0] = '1';
			nd++;
			intlen++;
		}
	}
#define PUT(c)              \
	do                      \
	{                       \
		if (o + 1 < outlen) \
			out[o++] = (c); \
	} while (0)
	if (negative)
		PUT('-');
	if (intlen <= 0)
		PUT('0');
	for (i = 0; i < intlen; i++)
		PUT(i < nd ? digits[i] : '0');
	/* every decimal the format shows, trailing zeros included: 0.18400 is published as 0.18400 */
	if (decimals > 0)
	{
		PUT('.');
		for (i = intlen; i < intlen + decimals; i++)
			PUT(i >= 0 && i < nd ? digits[i] : '0');
	}
#undef PUT
	out[o] = '\0';
	/* -0.000001 at 5 decimals is 0.00000, not -0.00000 */
	if (negative && strspn(out + 1, "0.") == strlen(out + 1))
		memmove(out, out + 1, strlen(out));
}

typedef struct NumFmtList
{
	long		*ids;
	signed char *dec;
	size_t		 n;
	size_t		 cap;
	int			 in_cellxfs;
} NumFmtList;

/* Decimals of number format id: custom ones first, then built-in. */
static int
FormatDecimals(NumFmtList *l, long id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return l->dec[i];
	return BuiltinDecimals(id);
}

static long
LongAttribute(XlsxReader *x, const char *name)
{
	xmlChar *v = xmlTextReaderGetAttribute(x->reader, BAD_CAST name);
	char	*end = NULL;
	long	 n = v ? strtol((const char *) v, &end, 10) : -1;

	if (v == NULL || end == (char *) v || *end != '\0' || n < 0)
		n = -1;
	xmlFree(v);
	return n;
}

/*
 * Read xl/styles.xml (optional): the decimals of each cell format, from its
 * number format.  A workbook without styles shows every number as General.
 */
static int
LoadStyles(XlsxReader *x)
{
	NumFmtList l;
	int		   rc;
	int		   result = 0;

	memset(&l, 0, sizeof(l));
	if (OpenPart(x, "xl/styles.xml", 0, XLSX_MAX_INDEX_PART) != 0)
		return x->err[0] ? -1 : 0;
	while ((rc = ReadNode(x)) == 1)
	{
		int type = xmlTextReaderNodeType(x->reader);

		if (type == XML_READER_TYPE_END_ELEMENT && IsElement(x, "cellXfs"))
			l.in_cellxfs = 0;
		if (type != XML_READER_TYPE_ELEMENT)
			continue;
		if (IsElement(x, "cellXfs"))
			l.in_cellxfs = !xmlTextReaderIsEmptyElement(x->reader);
		else if (IsElement(x, "numFmt"))
		{
			xmlChar *code = xmlTextReaderGetAttribute(x->reader, BAD_CAST "formatCode");
			long	 id = LongAttribute(x, "numFmtId");

			if (l.n == XLSX_MAX_NUMBER_FORMATS)
			{
				xmlFree(code);
				SetError(x, READ_LIMIT, "xl/styles.xml has more than %d number formats, the most a workbook may have (real ones have under 20)" ADVICE,
						 XLSX_MAX_NUMBER_FORMATS);
				result = -1;
				break;
			}
			if (Grow(x, (void **) &l.ids, &l.cap, (l.n + 1) * sizeof(long), XLSX_MAX_NUMBER_FORMATS * sizeof(long),
					 "xl/styles.xml") < 0)
			{
				xmlFree(code);
				result = -1;
				break;
			}
			if (l.dec == NULL)
			{
				l.dec = budget_malloc(&x->budget, XLSX_MAX_NUMBER_FORMATS);
				if (l.dec == NULL)
				{
					xmlFree(code);
					NoMemory(x, "xl/styles.xml");
					result = -1;
					break;
				}
			}
			l.ids[l.n] = id;
			l.dec[l.n] = (signed char) (code ? xlsx_format_decimals((const char *) code) : -1);
			l.n++;
			xmlFree(code);
		}
		else if (l.in_cellxfs && IsElement(x, "xf"))
		{
			long id = LongAttribute(x, "numFmtId");

			if (x->nxf == XLSX_MAX_CELL_FORMATS)
			{
				SetError(x, READ_LIMIT, "xl/styles.xml has more than %d cell formats, the most a workbook may have (Excel's limit is 64,000)" ADVICE,
						 XLSX_MAX_CELL_FORMATS);
				result = -1;
				break;
			}
			if (Grow(x, (void **) &x->xfdec, &x->xfcap, x->nxf + 1, XLSX_MAX_CELL_FORMATS, "xl/styles.xml") < 0)
			{
				result = -1;
				break;
			}
			x->xfdec[x->nxf++] = (signed char) (id < 0 ? -1 : FormatDecimals(&l, id));
		}
	}
	if (rc < 0)
		result = -1;
	budget_free(&x->budget, l.ids, l.cap);
	if (l.dec)
		budget_free(&x->budget, l.dec, XLSX_MAX_NUMBER_FORMATS);
	return result;
}

int
xlsx_looks_like(const char *data, size_t len)
{
	return len >= 4 && memcmp(data, "PK\003\004", 4) == 0;
}

/* Free the sheet list and the relationship target of xlsx_open. */
static void
FreeOpenState(XlsxReader *x, SheetList *sl, RelLookup *rl)
{
	int i;

	if (sl)
	{
		for (i = 0; i < sl->n; i++)
		{
			BudgetFreeString(x, sl->sheets[i].name);
			BudgetFreeString(x, sl->sheets[i].rid);
		}
		budget_free(&x->budget, sl, sizeof(SheetList));
	}
	BudgetFreeString(x, rl->target);
}

XlsxReader *
xlsx_open(const char *data, size_t len, const char *want, char *err, size_t errlen, ReadError *kind)
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
		*kind = READ_NO_MEMORY;
		return NULL;
	}
	x->budget.limit = XLSX_MEMORY_BUDGET;
	if (len > XLSX_MAX_FILE_BYTES)
	{
		SetError(x, READ_LIMIT,
				 "the workbook is %zu bytes, more than the %zu an .xlsx file may be (the published factor workbooks are under 10 MB)" ADVICE,
				 len, XLSX_MAX_FILE_BYTES);
		goto fail;
	}
	zip_error_init(&ze);
	x->src = zip_source_buffer_create(data, len, 0, &ze);
	if (x->src == NULL)
	{
		SetError(x, READ_NO_MEMORY, "could not read the workbook: %s", zip_error_strerror(&ze));
		goto fail;
	}
	x->zip = zip_open_from_source(x->src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (x->zip == NULL)
	{
		SetError(x, READ_MALFORMED,
				 "the file is not a readable .xlsx workbook (zip: %s); it may be truncated or damaged",
				 zip_error_strerror(&ze));
		zip_source_free(x->src);
		x->src = NULL;
		goto fail;
	}

	sl = budget_malloc(&x->budget, sizeof(SheetList));
	if (sl == NULL)
	{
		NoMemory(x, "xl/workbook.xml");
		goto fail;
	}
	sl->n = 0;
	if (ForEachElement(x, "xl/workbook.xml", "sheet", CollectSheet, sl) < 0)
		goto fail;
	if (sl->n == 0)
	{
		SetError(x, READ_MALFORMED, "the workbook lists no sheets");
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
		SetError(x, READ_MALFORMED, "the workbook does not say where sheet \"%s\" is stored", sl->sheets[pick].name);
		goto fail;
	}
	x->sheet = BudgetStrdup(x, sl->sheets[pick].name, "xl/workbook.xml");
	if (x->sheet == NULL)
		goto fail;

	if (LoadSharedStrings(x) < 0 || LoadStyles(x) < 0)
		goto fail;
	if (OpenPart(x, rl.target, 1, XLSX_MAX_PART_BYTES) < 0)
		goto fail;
	x->nextrow = 1;
	FreeOpenState(x, sl, &rl);
	*kind = READ_OK;
	return x;

fail:
	snprintf(err, errlen, "%s", x->err[0] ? x->err : "could not open the workbook");
	*kind = x->err[0] ? x->errkind : READ_MALFORMED;
	FreeOpenState(x, sl, &rl);
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

ReadError
xlsx_error_kind(const XlsxReader *x)
{
	return x->errkind;
}

void
xlsx_close(XlsxReader *x)
{
	if (x == NULL)
		return;
	if (x->reader)
		xmlFreeTextReader(x->reader);
	if (x->zf)
		zip_fclose(x->zf);
	if (x->zip)
		zip_discard(x->zip);
	budget_free(&x->budget, x->sst, x->sstcap);
	budget_free(&x->budget, x->sstoff, x->sstoffcap);
	budget_free(&x->budget, x->text, x->textcap);
	budget_free(&x->budget, x->xfdec, x->xfcap);
	budget_free(&x->budget, x->buf, x->bufcap);
	budget_free(&x->budget, x->offs, x->capoffs * sizeof(size_t));
	budget_free(&x->budget, x->cells, x->capcells * sizeof(char *));
	BudgetFreeString(x, x->sheet);
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

/* Make room for column col (< XLSX_MAX_COLUMNS) in the current row. */
static int
EnsureColumns(XlsxReader *x, int col, long rownum)
{
	int		newcap = x->capoffs ? x->capoffs : 32;
	size_t *no;
	int		i;

	if (col < x->capoffs)
		return 0;
	while (newcap <= col)
		newcap *= 2;
	no = budget_realloc(&x->budget, x->offs, x->capoffs * sizeof(size_t), newcap * sizeof(size_t));
	if (no == NULL)
	{
		char what[200];

		snprintf(what, sizeof(what), "row %ld of sheet \"%s\"", rownum, x->sheet);
		NoMemory(x, what);
		return -1;
	}
	x->offs = no;
	for (i = x->capoffs; i < newcap; i++)
		x->offs[i] = (size_t) -1;
	x->capoffs = newcap;
	return 0;
}

/* Store text as the value of column col of the current row, within XLSX_MAX_ROW_BYTES. */
static int
PutCell(XlsxReader *x, int col, const char *text, long rownum)
{
	size_t l = strlen(text);
	char   what[200];

	if (EnsureColumns(x, col, rownum) < 0)
		return -1;
	if (l + 1 > XLSX_MAX_ROW_BYTES - x->used)
	{
		SetError(x, READ_LIMIT,
				 "row %ld of sheet \"%s\" holds more than %zu bytes of text, the most one row may (real factor rows hold under 2 kB)" ADVICE,
				 rownum, x->sheet, XLSX_MAX_ROW_BYTES);
		return -1;
	}
	snprintf(what, sizeof(what), "row %ld of sheet \"%s\"", rownum, x->sheet);
	if (Grow(x, (void **) &x->buf, &x->bufcap, x->used + l + 1, XLSX_MAX_ROW_BYTES, what) < 0)
		return -1;
	memcpy(x->buf + x->used, text, l + 1);
	x->offs[col] = x->used;
	x->used += l + 1;
	if (col + 1 > x->ncols)
		x->ncols = col + 1;
	return 0;
}

/* Turn a cell's raw value into text according to its type attribute. */
static int
StoreCell(XlsxReader *x, int col, const char *type, long style, const char *raw, long rownum)
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
				SetError(x, READ_MALFORMED, "sheet \"%s\" row %ld: numeric cell holds \"%.40s\"", x->sheet, rownum,
						 raw);
				return -1;
			}
			/* as the cell's number format shows it; General without one */
			xlsx_format_fixed(v, style >= 0 && (size_t) style < x->nxf ? x->xfdec[style] : -1, num, sizeof(num));
			text = num;
		}
	}
	else if (strcmp(type, "s") == 0)
	{
		char		 *end;
		unsigned long idx = strtoul(raw, &end, 10);

		if (raw[0] == '\0' || *end != '\0' || idx >= x->nstrings)
		{
			SetError(x, READ_MALFORMED,
					 "sheet \"%s\" row %ld refers to shared string \"%.20s\", which the workbook does not have",
					 x->sheet, rownum, raw);
			return -1;
		}
		text = x->sst + x->sstoff[idx];
	}
	else if (strcmp(type, "b") == 0)
		text = strcmp(raw, "1") == 0 ? "TRUE" : "FALSE";
	/* "str", "inlineStr", "e" (error such as #N/A) and "d" are text already */
	return PutCell(x, col, text, rownum);
}

/* Column letters of a 0-based column index (< 16,384: at most three). */
static void
ColumnName(int col, char out[4])
{
	char   rev[4];
	size_t n = 0;
	size_t i;

	for (col++; col > 0 && n < 3; col = (col - 1) / 26)
		rev[n++] = (char) ('A' + (col - 1) % 26);
	for (i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	out[n] = '\0';
}

/* Read one <c> element (reader positioned on it). */
static int
ReadCell(XlsxReader *x, int *nextcol, long rownum)
{
	xmlChar *ref = xmlTextReaderGetAttribute(x->reader, BAD_CAST "r");
	xmlChar *type = xmlTextReaderGetAttribute(x->reader, BAD_CAST "t");
	long	 style = LongAttribute(x, "s");
	int		 col = ref ? ColumnOf((const char *) ref) : *nextcol;
	int		 have = 0;
	int		 rc = 0;

	xmlFree(ref);
	if (col < 0 || col >= XLSX_MAX_COLUMNS)
	{
		xmlFree(type);
		SetError(x, READ_MALFORMED, "sheet \"%s\" row %ld has a cell with a bad reference", x->sheet, rownum);
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
					SetError(x, READ_MALFORMED, "sheet \"%s\" ends inside row %ld: the file is truncated", x->sheet,
							 rownum);
				rc = -1;
				break;
			}
			nt = xmlTextReaderNodeType(x->reader);
			if (nt == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x->reader) == depth)
				break;
			if (nt != XML_READER_TYPE_ELEMENT || !(IsElement(x, "v") || IsElement(x, "is")))
				continue;
			/* a value, or an inline string's runs */
			rc = IsElement(x, "v") ? ReadText(x, "v", 0) : ReadText(x, "is", 1);
			if (rc > 0)
			{
				char name[4];

				ColumnName(col, name);
				SetError(x, READ_LIMIT,
						 "cell %s%ld of sheet \"%s\" holds more than %zu bytes of text, the most one cell may (Excel's limit is 32,767 characters)" ADVICE,
						 name, rownum, x->sheet, XLSX_MAX_STRING_BYTES);
				rc = -1;
			}
			if (rc < 0)
				break;
			have = 1;
		}
	}
	if (rc == 0 && have)
		rc = StoreCell(x, col, (const char *) type, style, x->text, rownum);
	xmlFree(type);
	return rc;
}

/* Make x->cells as long as x->offs, for the caller's view of the row. */
static int
EnsureCells(XlsxReader *x, long rownum)
{
	char **nc;

	if (x->capcells >= x->capoffs)
		return 0;
	nc = budget_realloc(&x->budget, x->cells, x->capcells * sizeof(char *), x->capoffs * sizeof(char *));
	if (nc == NULL)
	{
		char what[200];

		snprintf(what, sizeof(what), "row %ld of sheet \"%s\"", rownum, x->sheet);
		NoMemory(x, what);
		return -1;
	}
	x->cells = nc;
	x->capcells = x->capoffs;
	return 0;
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
			char	*end = NULL;
			long	 num = r ? strtol((const char *) r, &end, 10) : x->nextrow;
			int		 depth = xmlTextReaderDepth(x->reader);
			int		 nextcol = 0;
			int		 i;

			if (r && (end == (char *) r || *end != '\0' || num < 1 || num > XLSX_MAX_ROWS))
			{
				SetError(x, READ_MALFORMED, "sheet \"%s\" has a row numbered \"%.20s\"; rows are numbered 1 to %d",
						 x->sheet, (const char *) r, XLSX_MAX_ROWS);
				xmlFree(r);
				return -1;
			}
			if (num > XLSX_MAX_ROWS)
			{
				SetError(x, READ_LIMIT, "sheet \"%s\" has more than %d rows, the most a sheet may have (Excel's limit)" ADVICE,
						 x->sheet, XLSX_MAX_ROWS);
				return -1;
			}
			xmlFree(r);
			x->nextrow = num + 1;
			x->used = 0;
			x->ncols = 0;
			for (i = 0; i < x->capoffs; i++)
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
							SetError(x, READ_MALFORMED, "sheet \"%s\" ends inside row %ld: the file is truncated",
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
			if (EnsureCells(x, num) < 0)
				return -1;
			for (i = 0; i < x->ncols; i++)
				x->cells[i] = x->offs[i] == (size_t) -1 ? (char *) "" : x->buf + x->offs[i];
			*cells = x->cells;
			*rownum = num;
			return x->ncols;
		}
	}
	return 0;
}
