/* Unit tests of the meter-layout reader (src/meterfile.c), fed by the CSV reader. */
#include "tap.h"
#include "csv.h"
#include "meterfile.h"

/* Read text with options; return records in recs (up to max), rejects in *bad, header error in err. */
static int
Read(const char *text, const MfOptions *o, MfRecord *recs, int max, int *bad, char *err)
{
	CsvReader r;
	MeterFile mf;
	char	**cells;
	int		  n,
		nrec = 0;
	char rowerr[MF_ERRLEN];

	*bad = 0;
	err[0] = '\0';
	csv_init(&r, text, strlen(text), 0);
	mf_init(&mf, o);
	n = csv_next(&r, &cells);
	if (mf_header(&mf, cells, n, r.record_line) != 0)
	{
		strcpy(err, mf.err);
		csv_free(&r);
		return -1;
	}
	while ((n = csv_next(&r, &cells)) > 0)
	{
		MfRecord rec;
		int		 rc = mf_row(&mf, cells, n, r.record_line, &rec, rowerr, sizeof(rowerr));

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
	}
	csv_free(&r);
	return nrec;
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
	mf_init(&mf, &o);
	n = csv_next(&r, &cells);
	OK(n == CSV_MAX_FIELDS, "a header of %d columns is read", n);
	OK(mf_header(&mf, cells, n, r.record_line) == -1, "and refused by the layout");
	IS_STR(mf.err, "the header on line 1 has more than 50 half-hour columns", "with the layout's message");
	csv_free(&r);

	/* a good file but for one 2 MB line */
	len = 0;
	len += sprintf(data + len, "Site,Meter,Unit,Date,00:00,00:30\n");
	for (i = 0; i < 3; i++)
		len += sprintf(data + len, "HQ,Main,kWh,0%d/10/2024,1,2\n", i + 1);
	memset(data + len, 'x', 2 * CSV_MAX_RECORD);
	len += 2 * CSV_MAX_RECORD;
	len += sprintf(data + len, "\nHQ,Main,kWh,09/10/2024,1,2\n");
	csv_init(&r, data, len, 0);
	mf_init(&mf, &o);
	n = csv_next(&r, &cells);
	OK(mf_header(&mf, cells, n, r.record_line) == 0, "a short header is read");
	while ((n = csv_next(&r, &cells)) > 0)
		rows += mf_row(&mf, cells, n, r.record_line, &rec, rowerr, sizeof(rowerr)) == 1;
	OK(n == -1 && r.errkind == READ_LIMIT && rows == 3, "3 rows read, then the 2 MB line refused as over a limit");
	OK(strncmp(r.err, "line 5 is longer than 1048576 bytes", 35) == 0, "at its line: %s", r.err);
	csv_free(&r);
	free(data);
}

int
main(void)
{
	MfOptions  o;
	MfRecord   recs[8];
	MfDateTime dt;
	char	   err[MF_ERRLEN];
	int		   bad,
		n;
	double v;

	/* dates */
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
	IS_STR(mf_detect_date_format("10/12/2019", 0), "DD/MM/YYYY", "detect: day first (UK)");
	IS_STR(mf_detect_date_format("12/11/18", 0), "DD/MM/YY", "detect: two-digit year");
	IS_STR(mf_detect_date_format("2021-01-01 00:00:00", 1), "YYYY-MM-DD HH24:MI:SS", "detect: ISO timestamp");
	OK(mf_detect_date_format("yesterday", 1) == NULL, "detect: nonsense");

	/* values and activities */
	OK(mf_parse_value("6.25000000", &v) == 0 && v == 6.25, "plain value");
	OK(mf_parse_value("1 041,5", &v) == 0 && v == 1041.5, "locale value");
	OK(mf_parse_value("n/a", &v) != 0 && mf_parse_value("inf", &v) != 0 && mf_parse_value("nan", &v) != 0,
	   "junk, inf and nan refused");
	IS_STR(mf_infer_activity("Natural Gas"), "natural_gas", "gas");
	IS_STR(mf_infer_activity("Electricity"), "electricity", "electricity");
	IS_STR(mf_infer_activity("MPR"), "natural_gas", "MPR header is gas");
	IS_STR(mf_infer_activity("MPAN"), "electricity", "MPAN header is electricity");
	IS_STR(mf_infer_activity("Mains Water"), "water_supply", "water");
	OK(mf_infer_activity("K0229111D6") == NULL, "a serial says nothing");

	/* ecodriver: period-start labels, 50 columns, blanks */
	memset(&o, 0, sizeof(o));
	o.format = MF_ECODRIVER;
	n = Read("Site,Meter,Unit,Date,00:00,00:30,01:00,24:00,24:30\n"
			 "HQ,Electricity main,kWh,27/10/2024,1,2,,4,5\n"
			 "HQ,Electricity main,kWh,28/10/2024,1,2,3,,\n"
			 "HQ,Electricity main,kWh,28/13/2024,1,2,3,,\n"
			 "HQ,Electricity main,kWh,29/10/2024,1,x,3,,\n",
			 &o, recs, 8, &bad, err);
	OK(n == 2 && bad == 2, "ecodriver: 2 rows read, 2 refused (%d, %d)", n, bad);
	OK(recs[0].nvalues == 4 && recs[0].slot[0] == 0 && recs[0].slot[2] == 48 && recs[0].slot[3] == 49,
	   "start labels: 00:00 is slot 0, 24:30 is slot 49; blank skipped");
	IS_STR(recs[0].site, "HQ", "site");
	IS_STR(recs[0].unit, "kWh", "unit");
	OK(strstr(err, "\"x\"") != NULL, "bad value named: %s", err);

	/* older daily variant: Site Name, Date, Type, 00:30 ... 24:00 (period ends) */
	n = Read("Site Name,Date,Type,00:30,01:00,24:00\nDepot,01/02/2024,Gas,1,2,3\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].slot[0] == 0 && recs[0].slot[2] == 47, "end labels: 00:30 is slot 0, 24:00 is slot 47");
	IS_STR(recs[0].meter, "Gas", "Type is the meter");

	/* halfhourly: kWh_N positions, kVArh columns ignored, Sheffield style */
	o.format = MF_HALFHOURLY;
	n = Read("siteRef,MPAN,ConsumptionDate,kWh_1,kWh_2,kVArh_1,kVArh_2\nSchool,123,10/12/2019,6.25,6.2,,\n", &o, recs,
			 8, &bad, err);
	OK(n == 1 && recs[0].nvalues == 2 && recs[0].slot[1] == 1, "kWh_N columns are positions");
	IS_STR(recs[0].meter, "123", "MPAN is the meter");
	IS_STR(recs[0].site, "School", "siteRef is the site");

	/* header problems */
	n = Read("Site,Meter,Date,foo\nA,B,01/01/2024,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "half-hour columns") != NULL, "no half-hour columns: %s", err);
	o.date_column = "Day";
	n = Read("Site,Meter,Date,00:00\nA,B,01/01/2024,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "\"Day\"") != NULL && strstr(err, "\"Date\"") != NULL,
	   "a named column that is missing: %s", err);
	o.date_column = NULL;
	n = Read("Site,Meter,Date,00:30,01:00\nA,B,01/01/2024,1,2\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "period") != NULL, "neither 00:00 nor 24:00: ask for period: %s", err);
	o.period = MF_PERIOD_END;
	n = Read("Site,Meter,Date,00:30,01:00\nA,B,01/01/2024,1,2\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].slot[0] == 0, "period option settles it");
	o.period = MF_PERIOD_DETECT;
	n = Read("Site,Meter,Date,00:00,00:00\nA,B,01/01/2024,1,2\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "same period") != NULL, "duplicate half-hour columns: %s", err);
	n = Read("Site,Date,00:00\nA,01/01/2024,1\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "meter") != NULL, "no meter column and no meter option: %s", err);

	/* long: timestamp + value, unit from the header, fixed meter */
	memset(&o, 0, sizeof(o));
	o.format = MF_LONG;
	o.meter = "b0";
	n = Read("datetime,equipment load [kWh]\n2021-01-01 00:00:00,10.8\n2021-01-01 01:00:00,\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].value[0] == 10.8 && recs[0].when.year == 2021, "long: one value, blank skipped");
	IS_STR(recs[0].unit, "kWh", "unit from the value header");
	IS_STR(recs[0].site, "b0", "site defaults to the meter");
	o.meter = NULL;
	n = Read("MPR,ReadDatetime,kWh,ReadType\n1710035168313,26 Aug 2019 00:30:00,14.4,Actual\n", &o, recs, 8, &bad, err);
	OK(n == 1 && recs[0].value[0] == 14.4, "Highland long layout");
	IS_STR(recs[0].meter, "1710035168313", "MPR is the meter");
	n = Read("a,b,c\n1,2,3\n", &o, recs, 8, &bad, err);
	OK(n < 0 && strstr(err, "timestamp") != NULL, "long without a timestamp column: %s", err);

	test_caps();
	printf("# unit tests done: meterfile\n");
	return tap_done();
}
