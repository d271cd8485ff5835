/* Unit tests of the meter-layout reader (src/meterfile.c), fed by the CSV reader. */
#include "tap.h"
#include "csv.h"
#include "meterfile.h"

static MeterFile last; /* the reader of the last Read, for its header and preamble */

/*
 * Read text as the backend does: find the header (with the search), survey
 * every row, settle, then read the rows.  Returns the records in recs (up to
 * max), rejects in *bad and -1 with the message in err when the file is
 * refused (header, number format, or a mangled identifier: then *bad holds
 * -2's line).
 */
static int
Read(const char *text, const MfOptions *o, MfRecord *recs, int max, int *bad, char *err)
{
	CsvReader r;
	char	**cells;
	int		  n,
		nrec = 0,
		rc = 0;
	char rowerr[MF_ERRLEN];

	*bad = 0;
	err[0] = '\0';
	csv_init(&r, text, strlen(text), 0);
	mf_init(&last, o, r.delim);
	while ((n = csv_next(&r, &cells)) > 0 && (rc = mf_offer_header(&last, cells, n, r.record_line)) == 0)
		;
	if (n == 0)
		rc = mf_no_header(&last);
	if (rc != 1)
	{
		strcpy(err, last.err);
		csv_free(&r);
		return -1;
	}
	while ((n = csv_next(&r, &cells)) > 0)
		mf_survey(&last, cells, n, r.record_line);
	csv_free(&r);
	if (mf_settle(&last) != 0)
	{
		strcpy(err, last.err);
		return -1;
	}
	csv_init(&r, text, strlen(text), 0);
	while ((n = csv_next(&r, &cells)) > 0 && r.record_line <= last.header_line)
		;
	do
	{
		MfRecord rec;

		if (n <= 0)
			break;
		rc = mf_row(&last, cells, n, r.record_line, &rec, rowerr, sizeof(rowerr));
		if (rc == -2)
		{
			strcpy(err, rowerr);
			csv_free(&r);
			return -1;
		}
		if (rc < 0)
		{
			(*bad)++;
			strcpy(err, rowerr);
		}
		else if (rc > 0 && nrec < max)
		{
			static char keep[8][3][64];

			recs[nrec] = rec;
			snprintf(keep[nrec % 8][0], 64, "%s", rec.site);
			snprintf(keep[nrec % 8][1], 64, "%s", rec.meter);
			snprintf(keep[nrec % 8][2], 64, "%s", rec.unit);
			recs[nrec].site = keep[nrec % 8][0];
			recs[nrec].meter = keep[nrec % 8][1];
			recs[nrec].unit = keep[nrec % 8][2];
			nrec++;
		}
	} while ((n = csv_next(&r, &cells)) > 0);
	csv_free(&r);
	return nrec;
}

/* A wide header: prefix, then labels made by label(i) for i in [0, count), joined by delim. */
static char *
Header(char *buf, const char *prefix, int count, const char *(*label)(int), char delim)
{
	size_t o = strlen(prefix);
	int	   i;

	strcpy(buf, prefix);
	for (i = 0; i < count; i++)
		o += sprintf(buf + o, "%c%s", delim, label(i));
	buf[o++] = '\n';
	buf[o] = '\0';
	return buf;
}

static const char *
Clock(int minutes)
{
	static char b[8][16];
	static int	k;

	k = (k + 1) % 8;
	snprintf(b[k], sizeof(b[k]), "%02d:%02d", (minutes / 60) % 100, minutes % 60);
	return b[k];
}

static const char *
StartLabel(int i)
{
	return Clock(i * 30);
} /* 00:00 ... */
static const char *
EndLabel(int i)
{
	return Clock((i + 1) * 30);
} /* 00:30 ... 24:00 */
static const char *
EndMidnightLabel(int i)
{
	return Clock(((i + 1) * 30) % 1440);
} /* ... 23:30, 00:00, 00:30 */
static const char *
HourLabel(int i)
{
	return Clock(i * 60);
} /* 00:00, 01:00 ... */
static const char *
SpringStart(int i)
{
	return Clock(i < 2 ? i * 30 : (i + 2) * 30);
} /* 00:00, 00:30, 02:00 ... */
static const char *
AutumnStart(int i)
{
	return Clock(i < 4 ? i * 30 : (i - 2) * 30);
} /* ... 01:30, 01:00, 01:30 ... */
static const char *
SpringEnd(int i)
{
	return Clock(i < 1 ? 30 : ((i + 3) * 30) % 1440);
} /* 00:30, 02:00 ... 00:00 */
static const char *
Bracketed(int i)
{
	static char b[8][24];
	static int	k;

	k = (k + 1) % 8;
	snprintf(b[k], sizeof(b[k]), "[%s]", Clock((i + 1) * 30));
	return b[k];
}
static const char *
Range(int i)
{
	static char b[8][40];
	static int	k;

	k = (k + 1) % 8;
	snprintf(b[k], sizeof(b[k]), "%s-%s", Clock(i * 30), Clock(((i + 1) * 30) % 1440));
	return b[k];
}

/* Values 1..count for a row after prefix. */
static char *
Row(char *buf, const char *prefix, int count, char delim)
{
	size_t o = strlen(prefix);
	int	   i;

	strcpy(buf, prefix);
	for (i = 0; i < count; i++)
		o += sprintf(buf + o, "%c%d", delim, i + 1);
	buf[o++] = '\n';
	buf[o] = '\0';
	return buf;
}

/* The half-hour labels: every way the header says start or end, and the refusals. */
static void
test_labels(void)
{
	MfOptions o;
	MfRecord  recs[4];
	char	  text[8192],
		h[4096],
		r[2048],
		err[MF_ERRLEN];
	int bad,
		n;

	memset(&o, 0, sizeof(o));
	o.format = MF_HALFHOURLY;
	o.meter = "M";
	o.decimal_separator = o.thousands_separator = NF_DETECT;

#define WIDE(nlabels, label, nvalues) \
	(sprintf(text, "%s%s", Header(h, "Date", nlabels, label, ','), Row(r, "15/01/2024", nvalues, ',')), text)

	n = Read(WIDE(48, StartLabel, 48), &o, recs, 4, &bad, err);
	OK(n == 1 && last.period == MF_PERIOD_START && recs[0].slot[0] == 0 && recs[0].slot[47] == 47,
	   "00:00 ... 23:30: period starts (%s)", err);
	n = Read(WIDE(48, EndLabel, 48), &o, recs, 4, &bad, err);
	OK(n == 1 && last.period == MF_PERIOD_END && recs[0].slot[0] == 0 && recs[0].slot[47] == 47,
	   "00:30 ... 24:00: period ends (%s)", err);
	/* the file: 00:30 ... 23:30, 00:00, values 1..48: 00:00-00:30 holds 1, 23:30-24:00 holds 48 */
	n = Read(WIDE(48, EndMidnightLabel, 48), &o, recs, 4, &bad, err);
	OK(n == 1 && last.period == MF_PERIOD_END && recs[0].slot[0] == 0 && recs[0].value[0] == 1 &&
		   recs[0].slot[47] == 47 && recs[0].value[47] == 48,
	   "00:30 ... 23:30, 00:00: period ends, the final 00:00 is midnight at the day's end (%s)", err);
	n = Read(WIDE(48, Bracketed, 48), &o, recs, 4, &bad, err);
	OK(n == 1 && last.period == MF_PERIOD_END && recs[0].slot[47] == 47, "[00:30] ... [24:00]: period ends");
	n = Read(WIDE(48, Range, 48), &o, recs, 4, &bad, err);
	OK(n == 1 && last.period == MF_PERIOD_START && recs[0].slot[47] == 47, "00:00-00:30 ... 23:30-00:00: ranges (%s)",
	   err);
	n = Read(WIDE(50, StartLabel, 50), &o, recs, 4, &bad, err);
	OK(n == 1 && recs[0].slot[49] == 49 && last.wallclock == 0, "00:00 ... 24:30: 50 positions from midnight");
	n = Read(WIDE(50, EndMidnightLabel, 50), &o, recs, 4, &bad, err);
	OK(n == 1 && last.period == MF_PERIOD_END && recs[0].slot[49] == 49,
	   "00:30 ... 23:30, 00:00, 00:30, 01:00: ends, on past midnight (%s)", err);
	/* clock-change days written as wall-clock times */
	n = Read(WIDE(46, SpringStart, 46), &o, recs, 4, &bad, err);
	OK(n == 1 && last.wallclock == 46 && last.period == MF_PERIOD_START && recs[0].slot[2] == 2 &&
		   last.slot_wall[2] == 120,
	   "46 wall-clock labels 00:00, 00:30, 02:00 ...: a spring day, slots by position (%s)", err);
	n = Read(WIDE(50, AutumnStart, 50), &o, recs, 4, &bad, err);
	OK(n == 1 && last.wallclock == 50 && recs[0].slot[4] == 4 && last.slot_wall[4] == 60,
	   "50 wall-clock labels with 01:00 and 01:30 twice: an autumn day (%s)", err);
	n = Read(WIDE(46, SpringEnd, 46), &o, recs, 4, &bad, err);
	OK(n == 1 && last.wallclock == 46 && last.period == MF_PERIOD_END && last.slot_wall[45] == 0,
	   "46 wall-clock period ends 00:30, 02:00 ... 00:00: a spring day (%s)", err);

	/* labels that fit neither reading: refused, naming the option */
	n = Read(WIDE(47, EndLabel, 47), &o, recs, 4, &bad, err);
	OK(n < 0 && strstr(err, "fit neither reading") != NULL && strstr(err, "options->>'period'") != NULL,
	   "00:30 ... 23:30 (no 00:00, no 24:00): refused: %s", err);
	o.period = MF_PERIOD_START;
	n = Read(WIDE(47, EndLabel, 47), &o, recs, 4, &bad, err);
	OK(n == 1 && recs[0].slot[0] == 1 && recs[0].slot[46] == 47, "period start makes the same labels starts");
	o.period = MF_PERIOD_END;
	n = Read(WIDE(48, EndMidnightLabel, 48), &o, recs, 4, &bad, err);
	OK(n == 1 && recs[0].slot[47] == 47, "period end accepts the final 00:00");
	n = Read(WIDE(48, StartLabel, 48), &o, recs, 4, &bad, err);
	OK(n < 0 && strstr(err, "cannot be period ends") != NULL, "period end refuses labels from 00:00: %s", err);
	o.period = MF_PERIOD_DETECT;
	n = Read(WIDE(24, HourLabel, 24), &o, recs, 4, &bad, err);
	OK(n < 0 && strstr(err, "fit neither reading") != NULL, "hourly columns: refused, not spread over half-hours");
	n = Read("Date,00:00,00:15,00:30\n15/01/2024,1,2,3\n", &o, recs, 4, &bad, err);
	OK(n < 0 && strstr(err, "\"00:15\"") != NULL && strstr(err, "not on the half-hour") != NULL,
	   "a quarter-hour column: refused: %s", err);
	n = Read("Date,00:00,00:00\n15/01/2024,1,2\n", &o, recs, 4, &bad, err);
	OK(n < 0, "00:00 twice: refused");
	/* kWh_N: positions */
	n = Read("siteRef,Meter,ConsumptionDate,kWh_1,kWh_2,kVArh_1,kVArh_2\nSchool,123,10/12/2019,6.25,6.2,,\n", &o, recs,
			 4, &bad, err);
	OK(n == 1 && recs[0].nvalues == 2 && recs[0].slot[1] == 1, "kWh_N columns are positions; kVArh ignored");
	n = Read("Date,kWh_1,00:30\n15/01/2024,1,2\n", &o, recs, 4, &bad, err);
	OK(n < 0 && strstr(err, "mixes") != NULL, "kWh_N and HH:MM mixed: refused");
#undef WIDE

	/*
	 * Generated: every run of n contiguous half-hour labels starting at
	 * half-hour s (s + n <= 50), written as HH:MM at the periods' starts,
	 * at their ends, and at their ends with midnight as 00:00; each read
	 * with the period detected, given as start, and given as end.
	 * Detected: a run is read only when it covers the day from its first
	 * half-hour (then the column of label i is half-hour i), else refused
	 * naming the period option: never placed half an hour off.  Given: the
	 * labels are starts or ends as told, whenever they can be.
	 */
	{
		long runs = 0, detected = 0, detected_wrong = 0, refused_unnamed = 0, told = 0, told_wrong = 0;
		int	 style, s0, len, mode;

		for (style = 0; style < 3; style++)
			for (s0 = 0; s0 < 50; s0++)
				for (len = 1; s0 + len <= 50; len++)
					for (mode = 0; mode < 3; mode++)
					{
						size_t w = (size_t) sprintf(text, "Date");
						int	   i, ok = 1;

						for (i = 0; i < len; i++)
						{
							int m = (s0 + i + (style > 0)) * 30; /* minutes of the label */

							w += (size_t) sprintf(text + w, ",%s", Clock(style == 2 ? m % 1440 : m));
						}
						w += (size_t) sprintf(text + w, "\n15/01/2024");
						for (i = 0; i < len; i++)
							w += (size_t) sprintf(text + w, ",%d", i + 1);
						sprintf(text + w, "\n");
						o.period = mode == 0 ? MF_PERIOD_DETECT : mode == 1 ? MF_PERIOD_START
																			: MF_PERIOD_END;
						runs++;
						n = Read(text, &o, recs, 4, &bad, err);
						if (mode == 0)
						{
							if (n == 1)
							{
								detected++;
								for (i = 0; i < recs[0].nvalues; i++)
									ok &= recs[0].slot[i] == i && recs[0].value[i] == i + 1;
								ok &= recs[0].nvalues == len && len >= 48;
								detected_wrong += !ok;
							}
							else
								refused_unnamed += strstr(err, "options->>'period'") == NULL;
						}
						else
						{
							/* as told: a start label's half-hour is its minutes / 30, an end label's one before */
							int first = s0 + (style > 0) - (mode == 2);

							/*
							 * a run of midnight-wrapped labels that starts past the wrap
							 * ("00:30, 01:00" for the 49th and 50th) is the text of the
							 * day's first half-hours: no truth to check it against
							 */
							if (style == 2 && s0 + 1 >= 48)
								continue;
							if (n == 1)
							{
								told++;
								for (i = 0; i < recs[0].nvalues; i++)
									ok &= recs[0].slot[i] == first + i;
								told_wrong += !ok || recs[0].nvalues != len;
							}
							else if (first >= 0 && first + len <= 50)
							{
								told_wrong++; /* labels that fit what the option says must be read */
								if (told_wrong < 6)
									printf("#   style %d from %d, %d labels, period %s: %s\n", style, s0, len,
										   mode == 1 ? "start" : "end", err);
							}
						}
					}
		o.period = MF_PERIOD_DETECT;
		OK(detected_wrong == 0 && detected > 0,
		   "%ld generated label runs: %ld read with the period detected, each from the day's first half-hour (%ld wrong)",
		   runs, detected, detected_wrong);
		OK(refused_unnamed == 0, "every run refused with the period detected names options->>'period' (%ld do not)",
		   refused_unnamed);
		OK(told_wrong == 0 && told > 0, "%ld read as the period option says, each label in its half-hour (%ld wrong)",
		   told, told_wrong);
	}
}

/* The header search: preamble lines, CR-only line ends, header_line, and what is never a header. */
static void
test_header_search(void)
{
	MfOptions o;
	MfRecord  recs[8];
	char	  err[MF_ERRLEN];
	char	  text[8192];
	int		  bad,
		n,
		i;

	memset(&o, 0, sizeof(o));
	o.format = MF_LONG;
	o.meter = "M1";
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	/* a supplier report: 8 preamble lines, CR line ends */
	n = Read("Energy report\rCustomer:,Acme Ltd\rSite:,Head office\rMPAN:,2336533093112\r"
			 "Period:,15/01/2024 - 16/01/2024\rUnits:,kWh\rGenerated:,17/01/2024 09:12\r\r"
			 "Date,Time,kWh\r15/01/2024,00:00,1.5\r15/01/2024,00:30,2.25\r",
			 &o, recs, 8, &bad, err);
	OK(n == 2 && last.header_line == 9 && bad == 0, "8 preamble lines and CR line ends: header on line 9 (%s)", err);
	OK(n == 2 && recs[1].when.hour == 0 && recs[1].when.minute == 30 && recs[1].value[0] == 2.25,
	   "date and time columns read together");
	OK(last.preamble_lines == 7 && strncmp(last.preamble, "Energy report\nCustomer:,Acme Ltd\n", 33) == 0,
	   "the preamble kept as metadata: %d lines", last.preamble_lines);
	/* LF, CRLF and CR mixed */
	n = Read("Report\r\nDate,kWh\n15/01/2024 00:00,1\r15/01/2024 00:30,2\r\n", &o, recs, 8, &bad, err);
	OK(n == 2 && last.header_line == 2, "mixed line ends (%s)", err);
	/* a preamble line that names a date, then the date: data, not a header */
	n = Read("Date,15/01/2024\nTimestamp,kWh\n2024-01-15 00:00,1\n", &o, recs, 8, &bad, err);
	OK(n == 1 && last.header_line == 2, "\"Date,15/01/2024\" is not taken for the header (%s)", err);
	/* header_line names it */
	o.header_line = 3;
	n = Read("x,y\nDate,kWh\nDate,Reading\n2024-01-15 00:00,1\n", &o, recs, 8, &bad, err);
	OK(n == 1 && last.header_line == 3 && last.preamble_lines == 2, "header_line 3 (%s)", err);
	o.header_line = 2;
	n = Read("x,y\nfoo,bar\n2024-01-15 00:00,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "header_line") != NULL && strstr(err, "line 2") != NULL,
	   "header_line on a line that is no header: %s", err);
	o.header_line = 0;
	/* no header in the first 50 lines */
	text[0] = '\0';
	for (i = 0; i < 55; i++)
		strcat(text, "note,a longer preamble line of text, as a report's notes may have, so that 55 of them pass 4 kB\n");
	strcat(text, "Date,kWh\n15/01/2024 00:00,1\n");
	n = Read(text, &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "first 50") != NULL && strstr(err, "options->>'header_line'") != NULL,
	   "no header in the first 50 lines: refused, naming header_line: %s", err);
	o.header_line = 56;
	n = Read(text, &o, recs, 8, &bad, err);
	OK(n == 1 && last.preamble_lines > 0 && last.preamble_cut > 0, "header_line 56 reads it; long preamble cut (%s)",
	   err);
	o.header_line = 0;
	/*
	 * A preamble line cut at MF_PREAMBLE_LINE bytes never splits a UTF-8
	 * character: k ASCII bytes then a 2-, 3- or 4-byte character, for every k
	 * around the cut; what is kept is the longest prefix of whole characters
	 * that fits, and a character the cut would split goes whole.
	 */
	{
		static const char *const wide[] = {"\xC2\xA3", "\xE2\x82\xAC", "\xF0\x9F\x94\x8B"}; /* £ € 🔋 */
		int						 w,
			k,
			wrong = 0,
			cases = 0;

		for (w = 0; w < 3; w++)
			for (k = MF_PREAMBLE_LINE - 6; k <= MF_PREAMBLE_LINE + 1; k++)
			{
				size_t wl = strlen(wide[w]);
				size_t want = (size_t) k + wl <= MF_PREAMBLE_LINE ? (size_t) k + wl : (size_t) (k < MF_PREAMBLE_LINE ? k : MF_PREAMBLE_LINE);

				memset(text, 'A', k);
				strcpy(text + k, wide[w]);
				strcat(text, "\nDate,kWh\n15/01/2024 00:00,1\n");
				n = Read(text, &o, recs, 8, &bad, err);
				cases++;
				if (n != 1 || strlen(last.preamble) != want || memcmp(last.preamble, text, want) != 0)
					wrong++;
			}
		OK(wrong == 0, "%d preamble lines cut at the %d-byte limit around a 2-, 3- or 4-byte character: %d wrong",
		   cases, MF_PREAMBLE_LINE, wrong);
	}
}

/* Identifiers a spreadsheet mangled, and MPAN / MPRN formats. */
static void
test_identifiers(void)
{
	MfOptions o;
	MfRecord  recs[8];
	char	  err[MF_ERRLEN];
	int		  bad,
		n;

	memset(&o, 0, sizeof(o));
	o.format = MF_HALFHOURLY;
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	o.site_column = "siteRef";
	o.meter_column = "MPAN";
	o.date_column = "ConsumptionDate";
	/* the file: two meters saved as 2.00E+12 */
	n = Read("siteRef,MPAN,ConsumptionDate,kWh_1,kWh_2\nS,2.00E+12,15/01/2024,1,1\nS,2.00E+12,15/01/2024,5,5\n", &o,
			 recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "line 2") != NULL && strstr(err, "\"2.00E+12\"") != NULL &&
		   strstr(err, "scientific notation") != NULL,
	   "2.00E+12: the file is refused, naming line 2 and the identifier: %s", err);
	/* MPAN check digits (2336533093112 passes, ...113 does not) */
	n = Read("siteRef,MPAN,ConsumptionDate,kWh_1\nS,2336533093112,15/01/2024,1\nS,2336533093113,15/01/2024,1\n"
			 "S,23 3653 3093 112,16/01/2024,1\nS,0118011000012336533093112,17/01/2024,1\n",
			 &o, recs, 8, &bad, err);
	OK(n == 2 && bad == 2 && strstr(err, "not an MPAN") != NULL,
	   "MPAN check digit: 2 good (one with spaces), a wrong check digit and 25 digits bad: %s", err);
	OK(mf_valid_mpan("00801100123"
					 "2336533093112") == 0 &&
		   mf_valid_mpan("01801100"
						 "2336533093112") == 1,
	   "a full 21-digit MPAN is checked by its core");
	OK(mf_valid_mprn("123456") && mf_valid_mprn("1234567890") && !mf_valid_mprn("12345") &&
		   !mf_valid_mprn("12345678901") && !mf_valid_mprn("12A456"),
	   "MPRN: 6 to 10 digits");
	/* a meter column named MPRN; and MPR (either format) */
	o.meter_column = "MPRN";
	n = Read("siteRef,MPRN,ConsumptionDate,kWh_1\nS,7654321,15/01/2024,1\nS,76543,15/01/2024,1\n", &o, recs, 8, &bad,
			 err);
	OK(n == 1 && bad == 1 && strstr(err, "not an MPRN") != NULL, "MPRN of 5 digits: a bad row: %s", err);
	o.meter_column = "MPR";
	n = Read("siteRef,MPR,ConsumptionDate,kWh_1\nS,1710035168313,15/01/2024,1\nS,7654321,15/01/2024,1\n"
			 "S,1710035168314,16/01/2024,1\n",
			 &o, recs, 8, &bad, err);
	OK(n == 2 && bad == 1, "MPR: an MPAN core or an MPRN (Highland's file names MPANs so)");
	/* lost leading zeros: the column's other values keep theirs */
	o.meter_column = "Meter";
	n = Read("siteRef,Meter,ConsumptionDate,kWh_1\nS,0012345678,15/01/2024,1\nS,0087654321,15/01/2024,1\n"
			 "S,12345678,16/01/2024,1\n",
			 &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "line 4") != NULL && strstr(err, "\"12345678\"") != NULL &&
		   strstr(err, "leading zeros") != NULL,
	   "12345678 among 10-digit zero-padded ids: the file is refused: %s", err);
	n = Read("siteRef,Meter,ConsumptionDate,kWh_1\nS,12345678,15/01/2024,1\nS,87654321,16/01/2024,1\n", &o, recs, 8,
			 &bad, err);
	OK(n == 2, "ids without leading zeros anywhere: nothing to compare");

	/*
	 * Generated: 5,000 random MPAN cores.  Exactly one check digit passes
	 * (the one computed here as the published rule says: the first 12
	 * digits times 3 5 7 13 17 19 23 29 31 37 41 43, summed, mod 11, mod
	 * 10), with or without spaces and as the core of a 21-digit MPAN; and
	 * each core as a spreadsheet shows a long number (1 to 4 decimals,
	 * E+12) refuses its file, naming the line.
	 */
	{
		static const int primes[12] = {3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43};
		unsigned		 seed = 2024;
		long			 cores = 0, check_wrong = 0, sci_missed = 0;
		int				 t;
		char			 text[512];

		o.meter_column = "MPAN";
		for (t = 0; t < 5000; t++)
		{
			char core[14], spaced[24], full[40];
			int	 sum = 0, i, d, passes = 0;

			for (i = 0; i < 12; i++)
			{
				seed = seed * 1103515245u + 12345u;
				core[i] = (char) ('0' + (i == 0 ? 1 + (seed >> 16) % 9 : (seed >> 16) % 10));
				sum += (core[i] - '0') * primes[i];
			}
			core[13] = '\0';
			for (d = 0; d < 10; d++)
			{
				core[12] = (char) ('0' + d);
				if (mf_valid_mpan(core))
					passes += d == sum % 11 % 10 ? 1 : 100;
			}
			core[12] = (char) ('0' + sum % 11 % 10);
			snprintf(spaced, sizeof(spaced), "%.2s %.4s %.4s %.3s", core, core + 2, core + 6, core + 10);
			snprintf(full, sizeof(full), "0%d%03d%03d%s", 1 + t % 8, t % 1000, (t * 7) % 1000, core);
			cores++;
			check_wrong += passes != 1 || !mf_valid_mpan(spaced) || !mf_valid_mpan(full);
			/* as a spreadsheet writes it: 2.34E+12 */
			snprintf(text, sizeof(text),
					 "siteRef,MPAN,ConsumptionDate,kWh_1\nS,%s,15/01/2024,1\nS,%c.%.*sE+12,16/01/2024,1\n", core, core[0],
					 1 + t % 4, core + 1);
			n = Read(text, &o, recs, 8, &bad, err);
			sci_missed += !(n < 0 && strstr(err, "line 3") && strstr(err, "scientific notation"));
		}
		OK(check_wrong == 0, "%ld random MPAN cores: exactly the computed check digit passes, spaced or in a full MPAN (%ld not)",
		   cores, check_wrong);
		OK(sci_missed == 0, "each written as a spreadsheet shows it (d.dddE+12) refuses its file at line 3 (%ld not)",
		   sci_missed);
	}
}

/* Dates and times as exporters write them. */
static void
test_dates(void)
{
	MfDateTime dt;
	char	   f[64];

#define DETECT(s) (mf_detect_date_format(s, 1, f, sizeof(f)) == 0 ? f : "(none)")
	OK(mf_parse_datetime("DD/MM/YYYY", "13/11/2019", &dt) == 0 && dt.year == 2019 && dt.month == 11 && dt.day == 13,
	   "DD/MM/YYYY");
	OK(mf_parse_datetime("DD/MM/YY", "12/11/18", &dt) == 0 && dt.year == 2018, "DD/MM/YY is 20YY");
	OK(mf_parse_datetime("Mon DD YYYY HH12:MIAM", "Nov 13 2019 12:00AM", &dt) == 0 && dt.hour == 0 && dt.day == 13,
	   "12:00AM is midnight");
	OK(mf_parse_datetime("Mon DD YYYY HH12:MIAM", "Nov 13 2019 12:30PM", &dt) == 0 && dt.hour == 12 && dt.minute == 30,
	   "12:30PM is half past noon");
	OK(mf_parse_datetime("DD Mon YYYY HH24:MI:SS", "26 Aug 2019 00:30:00", &dt) == 0 && dt.minute == 30, "Highland stamps");
	OK(mf_parse_datetime("DD/MM/YYYY", "31/02/2020", &dt) != 0, "31 February refused");
	OK(mf_parse_datetime("DD/MM/YYYY", "29/02/2020", &dt) == 0 && mf_parse_datetime("DD/MM/YYYY", "29/02/2021", &dt) != 0,
	   "leap years");
	OK(mf_parse_datetime("YYYY-MM-DD HH24:MI", "2024-01-01 24:00", &dt) == 0 && dt.hour == 24, "24:00 allowed");
	OK(mf_parse_datetime("YYYY-MM-DD HH24:MI", "2024-01-01 24:30", &dt) != 0, "24:30 refused");
	OK(mf_parse_datetime("DD/MM/YYYY", "13/11/2019 x", &dt) != 0, "trailing text refused");
	OK(mf_parse_datetime("YYYY-MM-DDTHH24:MI:SSTZ", "2024-10-27T01:30:00+01:00", &dt) == 0 && dt.has_offset &&
		   dt.offset == 3600 && dt.hour == 1,
	   "an explicit offset +01:00");
	OK(mf_parse_datetime("YYYY-MM-DDTHH24:MI:SSTZ", "2024-10-27T01:30:00-0530", &dt) == 0 && dt.offset == -19800,
	   "an offset -0530");
	OK(mf_parse_datetime("YYYY-MM-DDTHH24:MI:SSZ", "2024-10-27T01:30:00Z", &dt) == 0 && dt.has_offset && dt.offset == 0,
	   "a literal Z is UTC");
	OK(mf_parse_datetime("YYYY-MM-DD HH24:MI:SS.FF", "2024-10-27 01:30:00.250", &dt) == 0 && dt.usec == 250000,
	   "fractional seconds");
	OK(mf_parse_datetime("YYYY-MM-DD HH24:MI:SS.FF", "2024-10-27 01:30:00.0000001", &dt) != 0,
	   "a fraction finer than a microsecond refused, not rounded");
	OK(mf_parse_datetime("DD/MM/YYYY HH12:MI AM", "27/10/2024 1:30 p.m.", &dt) == 0 && dt.hour == 13, "1:30 p.m.");
	OK(mf_parse_datetime("DD Mon YYYY", "15 January 2024", &dt) == 0 && dt.month == 1, "a month's full name");
	IS_STR(DETECT("10/12/2019"), "DD/MM/YYYY", "detect: day first (UK)");
	IS_STR(DETECT("12/11/18"), "DD/MM/YY", "detect: two-digit year");
	IS_STR(DETECT("2021-01-01 00:00:00"), "YYYY-MM-DD HH24:MI:SS", "detect: ISO timestamp");
	IS_STR(DETECT("2024-10-27T01:30:00+01:00"), "YYYY-MM-DDTHH24:MI:SSTZ", "detect: T and an offset");
	IS_STR(DETECT("2024-10-27T00:30:00Z"), "YYYY-MM-DDTHH24:MI:SSTZ", "detect: Z");
	IS_STR(DETECT("2024-10-27 00:30:00.000 +0000"), "YYYY-MM-DD HH24:MI:SS.FF TZ", "detect: fraction and offset");
	IS_STR(DETECT("27/10/2024 1:30 AM"), "DD/MM/YYYY HH12:MI AM", "detect: 12-hour clock");
	IS_STR(DETECT("Nov 13 2019 12:00AM"), "Mon DD YYYY HH12:MIAM", "detect: B&NES");
	IS_STR(DETECT("26 Aug 2019 00:30:00"), "DD Mon YYYY HH24:MI:SS", "detect: Highland");
	IS_STR(DETECT("31-Mar-2024 24:00"), "DD-Mon-YYYY HH24:MI", "detect: 24:00");
	IS_STR(DETECT("yesterday"), "(none)", "detect: nonsense");
	IS_STR(DETECT("12/31/2024"), "(none)", "detect: month first is not a UK date");
#undef DETECT

	/*
	 * Generated: 20,000 random instants, each written in a random one of
	 * the forms common exporters write (a day-first or ISO date, a space
	 * or T, a 24- or 12-hour clock, with or without seconds and their
	 * fraction, with or without a UTC offset: Z, +HH:MM, +HHMM, +HH, UTC):
	 * the form is detected and reads back the same date, time, fraction
	 * and offset.
	 */
	{
		static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
											 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
		static const int		 mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		unsigned				 seed = 5;
		long					 stamps = 0, wrong = 0;
		int						 t;

#define R(n) ((int) ((seed = seed * 1103515245u + 12345u) >> 16) % (n))
		for (t = 0; t < 20000; t++)
		{
			int y = 2000 + R(31), mo = 1 + R(12), d = 1 + R(mdays[mo - 1]), h = R(24), mi = R(60), se = R(60),
				us = R(1000) * 1000, date_form = R(5), clock = R(4), tz = R(6), off = 0, use_t;
			char   st[96], f[64];
			size_t w = 0;
			int	   ok;

			if (mo == 2 && d == 29 && y % 4 != 0)
				d = 28;
			use_t = date_form == 0 && clock != 3 && R(2); /* T after an ISO date, with a 24-hour clock */
			if (date_form == 0)
				w += (size_t) sprintf(st + w, "%04d-%02d-%02d", y, mo, d);
			else if (date_form == 1)
				w += (size_t) sprintf(st + w, "%02d/%02d/%04d", d, mo, y);
			else if (date_form == 2)
				w += (size_t) sprintf(st + w, "%02d-%02d-%04d", d, mo, y);
			else if (date_form == 3)
				w += (size_t) sprintf(st + w, "%02d.%02d.%04d", d, mo, y);
			else
				w += (size_t) sprintf(st + w, "%02d %s %04d", d, months[mo - 1], y);
			st[w++] = use_t ? 'T' : ' ';
			if (clock == 0)
				w += (size_t) sprintf(st + w, "%02d:%02d", h, mi);
			else if (clock == 1)
				w += (size_t) sprintf(st + w, "%02d:%02d:%02d", h, mi, se);
			else if (clock == 2)
				w += (size_t) sprintf(st + w, "%02d:%02d:%02d.%03d", h, mi, se, us / 1000);
			else
				w += (size_t) sprintf(st + w, "%d:%02d %s", (h + 11) % 12 + 1, mi, h < 12 ? "AM" : "PM");
			if (tz == 1)
				w += (size_t) sprintf(st + w, "Z");
			else if (tz >= 2)
			{
				int oh = R(15), om = R(2) * 30, sign = R(2) ? 1 : -1;

				off = sign * (oh * 3600 + om * 60);
				if (tz == 2)
					w += (size_t) sprintf(st + w, "%c%02d:%02d", sign > 0 ? '+' : '-', oh, om);
				else if (tz == 3)
					w += (size_t) sprintf(st + w, " %c%02d%02d", sign > 0 ? '+' : '-', oh, om);
				else if (tz == 4 && om == 0)
					w += (size_t) sprintf(st + w, "%c%02d", sign > 0 ? '+' : '-', oh);
				else
				{
					off = 0;
					w += (size_t) sprintf(st + w, " UTC");
				}
			}
			st[w] = '\0';
			stamps++;
			ok = mf_detect_date_format(st, 1, f, sizeof(f)) == 0 && mf_parse_datetime(f, st, &dt) == 0;
			ok = ok && dt.year == y && dt.month == mo && dt.day == d && dt.hour == h && dt.minute == mi &&
				 dt.second == (clock == 1 || clock == 2 ? se : 0) && dt.usec == (clock == 2 ? us : 0) &&
				 dt.has_offset == (tz != 0) && dt.offset == off;
			if (!ok && wrong++ < 5)
				printf("#   \"%s\": format %s\n", st, mf_detect_date_format(st, 1, f, sizeof(f)) == 0 ? f : "(none)");
		}
#undef R
		OK(wrong == 0, "%ld random stamps in the forms exporters write: each detected and read back exactly (%ld not)",
		   stamps, wrong);
	}

	/*
	 * A file that writes its dates month first: every date of it that reads
	 * both ways would be read day first, 02/01 as 2 January, not 1 February.
	 * One date whose second field is over 12 shows the order: the file is
	 * refused, naming the line and date_format; with it, each date reads as
	 * written.  Generated: each month of 2024, its 1st to 12th day (both
	 * readings possible) with one day over 12 at a random place.
	 */
	{
		MfOptions o = {0};
		MfRecord  recs[16];
		int		  bad,
			month,
			refused = 0, named = 0, read_right = 0;
		char	 err[MF_ERRLEN], text[2048];
		unsigned seed = 7;

		o.format = MF_LONG;
		o.meter = "M";
		o.decimal_separator = o.thousands_separator = NF_DETECT;
		for (month = 1; month <= 12; month++)
		{
			int late = 1 + (int) ((seed = seed * 1103515245u + 12345u) >> 16) % 12; /* where the 13th+ goes */
			int day,
				k = 0;
			size_t w = (size_t) sprintf(text, "Date,kWh\n");

			for (day = 1; day <= 12; day++)
				w += (size_t) sprintf(text + w, "%02d/%02d/2024,%d\n", month, day == late ? 13 + (int) (seed % 16) : day,
									  day);
			o.date_format = NULL;
			if (Read(text, &o, recs, 16, &bad, err) == -1 && strstr(err, "month first") &&
				strstr(err, "date_format") != NULL)
			{
				refused++;
				char want[64];

				/* the line of the date past the 12th (the header is line 1) and the date itself */
				snprintf(want, sizeof(want), "line %d: the date \"%02d/%02d/2024\"", late + 1, month, 13 + (int) (seed % 16));
				named += strstr(err, want) != NULL;
			}
			o.date_format = "MM/DD/YYYY";
			if (Read(text, &o, recs, 16, &bad, err) == 12 && bad == 0)
			{
				int ok = 1;

				for (k = 0; k < 12; k++)
					ok &= recs[k].when.month == month && recs[k].when.year == 2024 &&
						  recs[k].when.day == (k + 1 == late ? 13 + (int) (seed % 16) : k + 1);
				read_right += ok;
			}
		}
		OK(refused == 12 && named == 12, "12 month-first files (one date past the 12th in each): all refused naming date_format (%d), and the line and date (%d)",
		   refused, named);
		OK(read_right == 12, "with date_format MM/DD/YYYY every date reads as written (%d of 12)", read_right);
		o.date_format = NULL;
		OK(Read("Date,kWh\n13/01/2024,1\n01/02/2024,2\n", &o, recs, 16, &bad, err) == 2 && recs[1].when.month == 2 &&
			   recs[1].when.day == 1,
		   "a day-first file (13/01 in it): 01/02/2024 is 1 February");
		OK(Read("Date,kWh\n01/02/2024,1\n03/04/2024,2\n", &o, recs, 16, &bad, err) == 2 && recs[0].when.month == 2,
		   "no date past the 12th: read day first, as documented (01/02/2024 is 1 February)");
		OK(Read("Date,kWh\n2024-01-13,1\n", &o, recs, 16, &bad, err) == 1, "ISO dates: no order to tell");
	}
}

/*
 * The layout reader allocates nothing and works in fixed buffers; what
 * bounds a hostile file is the CSV reader.  A header of 20,000 columns is
 * refused in the layout's own terms, and a 2 MB data line by the CSV
 * reader's cap, at its line, the rows before it read.
 */
static void
test_caps(void)
{
	size_t	  len;
	char	 *data = malloc(2 * CSV_MAX_RECORD + 32 * 1024);
	CsvReader r;
	MeterFile mf;
	MfOptions o;
	MfRecord  rec;
	char	**cells;
	char	  rowerr[MF_ERRLEN];
	int		  n;
	int		  i;
	int		  rows = 0;

	memset(&o, 0, sizeof(o));
	o.format = MF_ECODRIVER;
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	/* Site, Meter, Date, 60 half-hours and empty columns: 20,000 columns */
	memcpy(data, "Site,Meter,Date", 15);
	len = 15;
	for (i = 0; i < 60; i++)
	{
		char label[16];

		snprintf(label, sizeof(label), ",%02d:%02d", (i / 2) % 100, 30 * (i % 2));
		memcpy(data + len, label, 6);
		len += 6;
	}
	memset(data + len, ',', CSV_MAX_FIELDS - 63);
	len += CSV_MAX_FIELDS - 63;
	data[len++] = '\n';
	csv_init(&r, data, len, ',');
	mf_init(&mf, &o, ',');
	n = csv_next(&r, &cells);
	OK(n == CSV_MAX_FIELDS, "a header of %d columns is read", n);
	OK(mf_header(&mf, cells, n, r.record_line) == -1, "and refused by the layout");
	IS_STR(mf.err, "the header on line 1 has more than 50 half-hour columns", "with the layout's message");
	csv_free(&r);

	/* a good file but for one 2 MB line */
	len = 0;
	len += sprintf(data + len, "Site,Meter,Unit,Date");
	for (i = 0; i < 48; i++)
		len += sprintf(data + len, ",%s", StartLabel(i));
	len += sprintf(data + len, "\n");
	for (i = 0; i < 3; i++)
		len += sprintf(data + len, "HQ,Main,kWh,0%d/10/2024,1,2\n", i + 1);
	memset(data + len, 'x', 2 * CSV_MAX_RECORD);
	len += 2 * CSV_MAX_RECORD;
	len += sprintf(data + len, "\nHQ,Main,kWh,09/10/2024,1,2\n");
	csv_init(&r, data, len, 0);
	mf_init(&mf, &o, r.delim);
	n = csv_next(&r, &cells);
	OK(mf_offer_header(&mf, cells, n, r.record_line) == 1, "a short header is read");
	while ((n = csv_next(&r, &cells)) > 0)
		rows += mf_row(&mf, cells, n, r.record_line, &rec, rowerr, sizeof(rowerr)) == 1;
	OK(n == -1 && r.errkind == READ_LIMIT && rows == 3, "3 rows read, then the 2 MB line refused as over a limit");
	OK(strncmp(r.err, "line 5 is longer than 1048576 bytes", 35) == 0, "at its line: %s", r.err);
	csv_free(&r);
	free(data);
}

/*
 * Rows wider than their header (an unquoted decimal comma in a comma-separated
 * file: "15/01/2024 00:00,0,875") are refused for the whole file, whatever the
 * layout and however many fields a value splits into; rows padded with empty
 * cells are not.  And a long file with two columns named for a value
 * (Reading and Consumption) is refused, naming value_column.
 */
static void
test_widths(void)
{
	MfOptions o;
	MfRecord  recs[8];
	char	  err[MF_ERRLEN];
	char	  text[8192];
	int		  bad,
		n,
		k,
		wrong = 0,
		cases = 0;

	memset(&o, 0, sizeof(o));
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	o.meter = "M1";
	o.format = MF_LONG;
	for (k = 1; k <= 4; k++)
	{
		int j;

		/* the k-th row splits its value into two fields; the others are integers */
		strcpy(text, "Date,kWh\n");
		for (j = 1; j <= 4; j++)
			sprintf(text + strlen(text), j == k ? "15/01/2024 0%d:00,0,875\n" : "15/01/2024 0%d:00,%d\n", j, j);
		n = Read(text, &o, recs, 8, &bad, err);
		cases++;
		if (n >= 0 || strstr(err, "fields") == NULL || strstr(err, "quoted") == NULL)
			wrong++;
	}
	/* trailing empty cells are padding, not fields */
	n = Read("Date,kWh,\n15/01/2024 01:00,1,,\n15/01/2024 02:00,2,\n", &o, recs, 8, &bad, err);
	OK(n == 2 && bad == 0, "rows padded with empty cells load (%s)", err);
	/* the wide layout: a 48-column header, rows of 96 fields */
	o.format = MF_HALFHOURLY;
	o.meter = "M1";
	for (k = 0; k < 2; k++)
	{
		int j;

		strcpy(text, "Date");
		for (j = 1; j <= 48; j++)
			sprintf(text + strlen(text), ",%02d:%02d", (j - 1) / 2, (j - 1) % 2 * 30);
		strcat(text, "\n15/01/2024");
		for (j = 1; j <= 48; j++)
			strcat(text, k == 0 || j == 48 ? ",0,25" : ",1");
		strcat(text, "\n");
		n = Read(text, &o, recs, 8, &bad, err);
		cases++;
		if (n >= 0 || strstr(err, "fields") == NULL)
			wrong++;
	}
	OK(wrong == 0, "%d files with a row wider than the header refused, naming the fields: %d wrong (%s)", cases, wrong,
	   err);

	o.format = MF_LONG;
	n = Read("Read Date,Meter,Reading,Consumption\n15/01/2024 00:00,M1,10234.5,0.5\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "value_column") != NULL && strstr(err, "Reading") != NULL,
	   "Reading and Consumption: refused, naming value_column: %s", err);
	o.value_column = "Consumption";
	n = Read("Read Date,Meter,Reading,Consumption\n15/01/2024 00:00,M1,10234.5,0.5\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].value[0] == 0.5, "value_column names it: 0.5 (%s)", err);
	o.value_column = NULL;

	/* a long file that stamps 24:00 writes period ends: refused unless period says which */
	n = Read("Timestamp,kWh\n15/01/2024 23:30,47\n15/01/2024 24:00,48\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "'period'") != NULL && strstr(err, "line 3") != NULL, "24:00 in a long file: %s", err);
	o.period = MF_PERIOD_END;
	n = Read("Timestamp,kWh\n15/01/2024 23:30,47\n15/01/2024 24:00,48\n", &o, recs, 8, &bad, err);
	OK(n == 2 && recs[1].when.hour == 24, "with period end it loads (%s)", err);
	o.period = MF_PERIOD_DETECT;
}

int
main(void)
{
	MfOptions o;
	MfRecord  recs[8];
	char	  err[MF_ERRLEN];
	char	  text[8192],
		h[4096],
		r1[1024],
		r2[1024];
	int bad,
		n;

	test_dates();
	test_widths();

	/* activities */
	IS_STR(mf_infer_activity("Natural Gas"), "natural_gas", "gas");
	IS_STR(mf_infer_activity("Electricity"), "electricity", "electricity");
	IS_STR(mf_infer_activity("MPR"), "natural_gas", "MPR header is gas");
	IS_STR(mf_infer_activity("MPAN"), "electricity", "MPAN header is electricity");
	IS_STR(mf_infer_activity("Mains Water"), "water_supply", "water");
	OK(mf_infer_activity("K0229111D6") == NULL, "a serial says nothing");

	/* ecodriver: period-start labels, 50 columns, blanks, bad rows */
	memset(&o, 0, sizeof(o));
	o.format = MF_ECODRIVER;
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	sprintf(text, "%s%s%s%s%s", Header(h, "Site,Meter,Unit,Date", 50, StartLabel, ','),
			"HQ,Electricity main,kWh,27/10/2024,1,2,,4\n", "HQ,Electricity main,kWh,28/10/2024,1,2,3\n",
			"HQ,Electricity main,kWh,28/13/2024,1,2,3\n", "HQ,Electricity main,kWh,29/10/2024,1,x,3\n");
	n = Read(text, &o, recs, 8, &bad, err);
	OK(n == 2 && bad == 2, "ecodriver: 2 rows read, 2 refused (%d, %d)", n, bad);
	OK(recs[0].nvalues == 3 && recs[0].slot[0] == 0 && recs[0].slot[2] == 3, "start labels: blank skipped");
	IS_STR(recs[0].site, "HQ", "site");
	IS_STR(recs[0].unit, "kWh", "unit");
	OK(strstr(err, "\"x\"") != NULL, "bad value named: %s", err);

	/* older daily variant: Site Name, Date, Type, 00:30 ... 24:00 (period ends) */
	sprintf(text, "%s%s", Header(h, "Site Name,Date,Type", 48, EndLabel, ','), "Depot,01/02/2024,Gas,1,2,3\n");
	n = Read(text, &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].slot[0] == 0 && recs[0].slot[2] == 2, "end labels: 00:30 is slot 0");
	IS_STR(recs[0].meter, "Gas", "Type is the meter");

	/* numbers: decided once per file (the first file), and only read in that format */
	memset(&o, 0, sizeof(o));
	o.format = MF_LONG;
	o.meter = "M10";
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	n = Read("Date;kWh\n15/01/2024 00:00;0,875\n15/01/2024 00:30;0,5\n", &o, recs, 8, &bad, err);
	OK(n == 2 && recs[0].value[0] == 0.875 && recs[1].value[0] == 0.5, "0,875 and 0,5 in a ';' file: 0.875 and 0.5");
	n = Read("Date;kWh\n15/01/2024 00:00;0,875\n15/01/2024 00:30;0,5\n15/01/2024 01:00;1,25\n15/01/2024 01:30;0.5\n",
			 &o, recs, 8, &bad, err);
	OK(n == 3 && bad == 1 && strstr(err, "\"0.5\"") != NULL && strstr(err, "decimal separator ','") != NULL,
	   "0.5 in a decimal-comma file: a bad row, not read another way: %s", err);
	n = Read("Date;kWh\n15/01/2024 00:00;1,234\n15/01/2024 00:30;2,500\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "two ways") != NULL && strstr(err, "options->>'decimal_separator'") != NULL,
	   "every value like 1,234: refused, naming the option: %s", err);
	o.decimal_separator = ',';
	n = Read("Date;kWh\n15/01/2024 00:00;1,234\n15/01/2024 00:30;2,500\n", &o, recs, 8, &bad, err);
	OK(n == 2 && recs[0].value[0] == 1.234, "decimal_separator ',' reads 1,234 as 1.234");
	o.decimal_separator = NF_DETECT;
	o.thousands_separator = ',';
	n = Read("Date;kWh\n15/01/2024 00:00;1,234\n15/01/2024 00:30;2,500\n", &o, recs, 8, &bad, err);
	OK(n == 2 && recs[0].value[0] == 1234, "thousands_separator ',' reads it as 1234");
	o.thousands_separator = NF_DETECT;
	/* wide, ';' and decimal commas with thousands points */
	memset(&o, 0, sizeof(o));
	o.format = MF_HALFHOURLY;
	o.meter = "M";
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	sprintf(text, "%s%s%s", Header(h, "Date", 48, StartLabel, ';'), Row(r1, "15/01/2024;1.234,5;0,5", 0, ';'),
			Row(r2, "16/01/2024;2.000;12", 0, ';'));
	n = Read(text, &o, recs, 8, &bad, err);
	OK(n == 2 && recs[0].value[0] == 1234.5 && recs[0].value[1] == 0.5 && recs[1].value[0] == 2000,
	   "1.234,5 and 0,5: the point groups thousands (%s)", err);

	/* long: timestamp + value, unit from the header, fixed meter */
	memset(&o, 0, sizeof(o));
	o.format = MF_LONG;
	o.meter = "b0";
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	n = Read("datetime,equipment load [kWh]\n2021-01-01 00:00:00,10.8\n2021-01-01 01:00:00,\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].value[0] == 10.8 && recs[0].when.year == 2021, "long: one value, blank skipped");
	IS_STR(recs[0].unit, "kWh", "unit from the value header");
	IS_STR(recs[0].site, "b0", "site defaults to the meter");
	/* Excel writes midnight as the date alone */
	n = Read("timestamp,kWh\n15/01/2024,1\n15/01/2024 00:30,2\n16/01/2024,3\n", &o, recs, 8, &bad, err);
	OK(n == 3 && bad == 0 && recs[1].when.minute == 30 && recs[2].when.day == 16 && recs[2].when.hour == 0,
	   "a date alone is midnight, before and after stamps with a time (%s)", err);
	o.meter = NULL;
	n = Read("MPR,ReadDatetime,kWh,ReadType\n1710035168313,26 Aug 2019 00:30:00,14.4,Actual\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].value[0] == 14.4, "Highland long layout");
	IS_STR(recs[0].meter, "1710035168313", "MPR is the meter");
	n = Read("a,b,c\n1,2,3\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "timestamp") != NULL, "long without a timestamp column: %s", err);
	o.meter = "m";
	n = Read("ts,kWh\n2024-10-27T01:30:00+01:00,1\n2024-10-27T01:30:00+00:00,2\n", &o, recs, 8, &bad, err);
	OK(n == 2 && recs[0].when.offset == 3600 && recs[1].when.offset == 0 && recs[1].when.has_offset,
	   "the autumn hour twice, told apart by the offsets");

	/* header problems */
	memset(&o, 0, sizeof(o));
	o.format = MF_HALFHOURLY;
	o.decimal_separator = o.thousands_separator = NF_DETECT;
	n = Read("Site,Meter,Date,foo\nA,B,01/01/2024,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "half-hour columns") != NULL, "no half-hour columns: %s", err);
	o.date_column = "Day";
	n = Read("Site,Meter,Date,00:00\nA,B,01/01/2024,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "\"Day\"") != NULL && strstr(err, "\"Date\"") != NULL,
	   "a named column that is missing: %s", err);
	o.date_column = NULL;
	n = Read("Site,Date,00:00\nA,01/01/2024,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "meter") != NULL, "no meter column and no meter option: %s", err);

	test_labels();
	test_header_search();
	test_identifiers();
	test_caps();
	printf("# unit tests done: meterfile\n");
	return tap_done();
}
