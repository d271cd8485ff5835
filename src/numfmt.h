/*
 * numfmt.h
 *		Pure C: a file's number format, decided once for the whole file from
 *		all its values, and numbers read in that format only (no backend
 *		calls).  The meter reader (meterfile.c) and the factor recogniser
 *		(factorfile.c) share it.
 *
 * A format is a decimal separator ('.' or ',') and a thousands separator
 * (none, ',', '.', a space, or an apostrophe; the space stands for any of
 * the spaces spreadsheets write: ASCII, no-break, narrow no-break, thin).
 * That makes eight formats.  A value may leave out the thousands separator
 * (1234.5 is read in the format '.' / ','), but where it groups, the groups
 * are three digits and the first has one to three, not starting with 0.
 *
 * Detection: every value cell of the file is offered to a NumSurvey, which
 * counts, for each format, the cells it reads, and remembers the pairs of
 * formats that read some cell as two different numbers.  The file's format
 * is the one that reads the most cells.  When several read as many, they
 * must read every one of those cells alike (then the field separator's
 * locale picks among them: it changes no value); if two of them read a
 * cell differently ("1,234": 1234 or 1.234) the file is ambiguous and is
 * refused, naming the cell.  A format that goes against the field
 * separator's locale (a decimal point in a ';' file) must also win on the
 * evidence: where another format reads some cells as other numbers, the
 * cells only the winner reads must be at least as many as those, or the
 * file is refused (a ';' file of "1,250"s with one stray "2.5" is not read
 * as thousands).  A cell the chosen format does not read is a bad value:
 * it is never read in another format.
 *
 * Bounded: a survey is fixed-size, work per cell is linear in the cell,
 * and a cell over NF_MAX_LEN bytes is not a number.
 */
#ifndef CAR_NUMFMT_H
#define CAR_NUMFMT_H

#include <stddef.h>

#define NF_NFORMATS	  8
#define NF_MAX_LEN	  64 /* longest cell read as a number, in bytes */
#define NF_ERRLEN	  400
#define NF_GROUP_NONE '\0'
#define NF_DETECT	  '?' /* an option not given */

typedef struct NumFormat
{
	char decimal; /* '.' or ',' */
	char group;	  /* NF_GROUP_NONE, ',', '.', ' ' (any space) or '\'' */
} NumFormat;

extern const NumFormat nf_formats[NF_NFORMATS];

#define NF_MAX_RUNS 12 /* digit runs in a number: 1,234,567,890,123,456,789.5 has 8 */
#define NF_SHAPES	16

/* How a cell with separators looks to the formats (see NumSurvey). */
typedef struct NumShape
{
	unsigned char  nruns;
	unsigned char  lead;   /* the first run could start a grouping: 1 to 3 digits, not from 0 */
	unsigned short threes; /* bit i: run i has 3 digits */
	char		   sep[NF_MAX_RUNS];
	signed char	   where[NF_NFORMATS]; /* each format's Reading: -1, 0 (whole) or the fraction's run */
	long		   pending;			   /* cells of this shape since the first, not yet counted */
} NumShape;

typedef struct NumSurvey
{
	long		  numbers;								  /* cells that are a number in some format */
	long		  plain;								  /* of them, plain integers: every format reads them alike */
	long		  count[NF_NFORMATS];					  /* cells each format reads */
	long		  both[NF_NFORMATS][NF_NFORMATS];		  /* cells both formats read */
	unsigned char differ[NF_NFORMATS];					  /* bit j of differ[i]: i and j read a cell differently */
	long		  ndiffer[NF_NFORMATS][NF_NFORMATS];	  /* cells i and j read as different numbers */
	long		  example_line[NF_NFORMATS][NF_NFORMATS]; /* the first such cell, i < j */
	char		  example[NF_NFORMATS][NF_NFORMATS][24];
	/*
	 * The shapes of cells met (their separators, and which digit runs could
	 * be thousands groups: what decides how each format reads them), with
	 * each one's readings and the later cells of that shape not yet added
	 * to count, both and ndiffer (the first was counted in full).  A file's
	 * values come in a few shapes: most cells are matched here and need no
	 * format-by-format reading; nf_settle adds what is pending.
	 */
	NumShape	  shapes[NF_SHAPES];
	int			  nshapes;
	int			  next_shape; /* the slot to reuse when all are taken */
} NumSurvey;

/*
 * Read s in format f.  Returns 0 with the number as plain decimal text in
 * out ([-]digits[.digits][e[-]digits], separators gone, digits as written),
 * or -1 when s is not a number in f (or out is too short).
 */
extern int nf_read(const NumFormat *f, const char *s, char *out, size_t outlen);

/* As nf_read, as a finite double; 0 or -1. */
extern int nf_read_double(const NumFormat *f, const char *s, double *v);

/* Length of a space (ASCII blank or tab, NBSP, narrow NBSP, thin space) at p, else 0. */
extern int nf_space_at(const unsigned char *p);

/* Which formats read s (bit i for nf_formats[i]); 0 when s is no number at all. */
extern unsigned nf_readers(const char *s);

extern void nf_survey_init(NumSurvey *s);
extern void nf_survey_add(NumSurvey *s, const char *cell, long line);

/*
 * Decide the format.  decimal is '.', ',' or NF_DETECT; group is one of
 * the thousands separators or NF_DETECT.  delim is the field separator
 * (';' files come from locales with a decimal comma).  Returns 0 with *out
 * set, or -1 with err saying why (the values can be read two ways, and
 * how; or the two options contradict each other).  err names no option:
 * the caller says which to set.
 */
extern int nf_settle(const NumSurvey *s, char delim, char decimal, char group, NumFormat *out, char *err,
					 size_t errlen);

/* "decimal ',' and thousands separator ' '" and the like, for messages. */
extern const char *nf_describe(const NumFormat *f, char *buf, size_t len);

/* An option's text as a separator: "." and "," for decimal; also "", " " and "'" for thousands. 0 or -1. */
extern int nf_parse_separator(const char *text, int thousands, char *out);

#endif /* CAR_NUMFMT_H */
