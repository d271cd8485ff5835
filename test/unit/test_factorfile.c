/* Unit tests of the flat-file recogniser (src/factorfile.c), fed by the CSV reader. */
#include <ctype.h>

#include "tap.h"
#include "csv.h"
#include "factorfile.h"
#include "xlsx.h"

#define lengthof(a) (sizeof(a) / sizeof((a)[0]))

static void
classify(const char *label, FfKind want, const char *want_gas)
{
	const char *gas;
	char		canon[48];
	FfKind		k = ff_classify_unit(label, &gas, canon, sizeof(canon));

	OK(k == want && (want_gas == NULL ? gas == NULL : gas != NULL && strcmp(gas, want_gas) == 0),
	   "GHG/Unit \"%s\" is %s%s", label,
	   want == FF_KIND_GAS ? "kg of " : want == FF_KIND_CONVERSION ? "a conversion"
									: want == FF_KIND_NONE		   ? "no label"
																   : "unknown",
	   want_gas ? want_gas : "");
}

/*
 * Feed a whole CSV text through the recogniser as car.load_factors does: a
 * survey of the values, the number format settled, then every row.  Returns
 * the FactorFile; the last row loaded in *last, the last refused one's
 * reason in *why.
 */
static FactorFile
feed_with(const char *text, FactorRow *last, char decimal, char *why)
{
	CsvReader  r;
	FactorFile ff;
	NumFormat  fmt;
	char	 **f;
	int		   n;

	if (why)
		why[0] = '\0';
	csv_init(&r, text, strlen(text), 0);
	ff_init(&ff, r.delim);
	ff_survey(&ff);
	while ((n = csv_next(&r, &f)) > 0)
		if (ff_feed(&ff, f, n, r.record_line, NULL) == FF_ERROR)
			break;
	csv_free(&r);
	if (ff.err[0] != '\0' || ff_settle(&ff, decimal, NF_DETECT, &fmt) != 0)
		return ff;
	csv_init(&r, text, strlen(text), 0);
	ff_init(&ff, r.delim);
	ff_check_width(&ff); /* CSV text, as car.load_factors reads it */
	ff_use_format(&ff, &fmt);
	while ((n = csv_next(&r, &f)) > 0)
	{
		FactorRow row;
		FfResult  res = ff_feed(&ff, f, n, r.record_line, &row);

		if (res == FF_ERROR)
			break;
		if (res == FF_UNCLASSIFIED && why)
			snprintf(why, 400, "line %ld: %s", row.line, row.reason);
		if (res == FF_ROW && last)
		{
			/* keep copies: the cells die with the next record */
			static char keep[FF_NCOLUMNS][128];
			int			i;

			*last = row;
			for (i = 0; i < FF_NCOLUMNS; i++)
				if (row.cells[i])
				{
					snprintf(keep[i], sizeof(keep[i]), "%s", row.cells[i]);
					last->cells[i] = keep[i];
				}
		}
	}
	if (ff.err[0] == '\0')
		ff_finish(&ff);
	csv_free(&r);
	return ff;
}

static FactorFile
feed(const char *text, FactorRow *last)
{
	return feed_with(text, last, NF_DETECT, NULL);
}

/* Every real factor workbook: every data row loads or publishes no number; none is unclassified. */
static void
test_real_workbooks(void)
{
	static const struct
	{
		const char *file;
		int			year;
		long		rows;	  /* data rows after the header, END included */
		long		no_value; /* empty or text factor cells (SOURCES.md; counted with tools of their own) */
	} real[] = {
		{"desnz_flatfile/2016_Flat_format_file_v01-01.xlsx", 2016, 5483, 506},
		{"desnz_flatfile/ghg-conversion-factors-2021.excel-resave.xlsx", 2021, 7606, 874},
		{"desnz_flatfile/ghg-conversion-factors-2022-flat-format.xlsx", 2022, 8038, 1142},
		{"desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx", 2024, 8741, 1711},
	};
	size_t i;

	for (i = 0; i < lengthof(real); i++)
	{
		size_t		len;
		char	   *data = slurp(fixture(real[i].file), &len);
		char		err[XLSX_ERRLEN];
		ReadError	kind;
		XlsxReader *x = xlsx_open(data, len, "Factors by Category", err, sizeof(err), &kind);
		FactorFile	ff;
		FactorRow	row;
		char	  **cells;
		long		line;
		int			n;

		OK(x != NULL, "%s opens (%s)", real[i].file, x ? "" : err);
		if (x == NULL)
			continue;
		ff_init(&ff, ',');
		while ((n = xlsx_next(x, &cells, &line)) > 0)
			if (ff_feed(&ff, cells, n, line, &row) == FF_ERROR)
				break;
		xlsx_close(x);
		OK(ff.err[0] == '\0' && ff.year == real[i].year && ff.rows_unclassified == 0 &&
			   ff.rows_loaded + ff.rows_skipped == real[i].rows && ff.rows_no_value == real[i].no_value,
		   "%s: year %d, %ld loaded, %ld without a number, %ld unclassified (%s)", real[i].file, ff.year,
		   ff.rows_loaded, ff.rows_no_value, ff.rows_unclassified, ff.err);
		free(data);
	}
}

/*
 * The recogniser allocates nothing and works in fixed buffers; what bounds
 * a hostile file is its row source.  A factor file as car.load_factors reads
 * it: a header and 1,000 rows, then a 2 MB line, then more rows.  The CSV
 * reader's cap stops it at that line, the rows before it recognised.
 */
static void
test_caps(void)
{
	const char *header = "Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2022\n";
	const char *good = "Scope 2,UK electricity,Electricity generated,Electricity: UK,2020,,kWh,kg CO2e,0.19338\n";
	size_t		hl = strlen(header);
	size_t		gl = strlen(good);
	size_t		long_at = hl + 1000 * gl;
	size_t		len = long_at + 2 * CSV_MAX_RECORD + 1 + 10 * gl;
	char	   *data = malloc(len);
	CsvReader	r;
	FactorFile	ff;
	FactorRow	row;
	char	  **cells;
	int			n;
	int			i;

	memcpy(data, header, hl);
	for (i = 0; i < 1000; i++)
		memcpy(data + hl + i * gl, good, gl);
	memset(data + long_at, 'x', 2 * CSV_MAX_RECORD);
	data[long_at + 2 * CSV_MAX_RECORD] = '\n';
	for (i = 0; i < 10; i++)
		memcpy(data + long_at + 2 * CSV_MAX_RECORD + 1 + i * gl, good, gl);
	csv_init(&r, data, len, 0);
	ff_init(&ff, r.delim);
	while ((n = csv_next(&r, &cells)) > 0)
		if (ff_feed(&ff, cells, n, r.record_line, &row) == FF_ERROR)
			break;
	OK(n == -1 && r.errkind == READ_LIMIT && ff.rows_loaded == 1000,
	   "a factor file with a 2 MB line: 1,000 rows recognised, then refused as over a limit");
	IS_STR(r.err,
		   "line 1002 is longer than 1048576 bytes, the most a record may have (real meter and factor files have lines under 10 kB): check that the file is line-based CSV text",
		   "the CSV reader's message names the line");
	OK(r.pos == long_at + CSV_MAX_RECORD, "nothing read past the cap (stopped at byte %zu of %zu)", r.pos, len);
	csv_free(&r);
	free(data);

	/* a row of 20,000 cells: the header search's message keeps whole cells and says more followed */
	len = 20000 * 7;
	data = malloc(len);
	for (i = 0; i < 20000; i++)
		memcpy(data + 7 * i, i == 19999 ? "cell-x\n" : "cell-x,", 7);
	csv_init(&r, data, len, 0);
	ff_init(&ff, r.delim);
	n = csv_next(&r, &cells);
	OK(n == 20000 && ff_feed(&ff, cells, n, r.record_line, &row) == FF_PREAMBLE && ff_finish(&ff) == -1,
	   "a row of 20,000 cells is read and is no header");
	OK(strlen(ff.err) < FF_ERRLEN - 1 && strstr(ff.err, "\"cell-x\", ...") != NULL,
	   "the message lists the first cells only (%zu bytes)", strlen(ff.err));
	csv_free(&r);
	free(data);
}

/*
 * A factor row wider than its header (an unquoted decimal comma in a
 * comma-separated file: "...,kg CO2e,0,20705" would load 0), and a value cell
 * holding a number with other text ("0.20493 kg", "18%"), are unclassified:
 * the file is refused unless lenient.  Every position of the bad row among
 * four, and several decorations.
 */
static void
test_widths(void)
{
	static const char *const head = "ID,Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2024\n";
	static const char *const good[] = {
		"1,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.20705\n",
		"2,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,litres,kg CO2e,2.51279\n",
		"3,Scope 1,Fuels,Liquid fuels,Petrol (average biofuel blend),,,litres,kg CO2e,2.0844\n",
		"4,Scope 3,Water supply,Water supply,Water supply,,,cubic metres,kg CO2e,0.1913\n"};
	static const char *const bad[] = {
		"9,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0,20705\n",
		"9,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.20493 kg\n",
		"9,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,18%\n",
		"9,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,\"\xC2\xA3"
		"0.00118\"\n",
		"9,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.00094*\n"};
	char text[4096];
	char why[400];
	int	 b,
		at,
		k,
		wrong = 0,
		cases = 0;

	for (b = 0; b < (int) (sizeof(bad) / sizeof(bad[0])); b++)
		for (at = 0; at <= 4; at++)
		{
			FactorFile ff;

			strcpy(text, head);
			for (k = 0; k <= 4; k++)
			{
				if (k == at)
					strcat(text, bad[b]);
				if (k < 4)
					strcat(text, good[k]);
			}
			ff = feed_with(text, NULL, NF_DETECT, why);
			cases++;
			if (ff.rows_unclassified != 1 || ff.rows_loaded != 4 || why[0] == '\0')
				wrong++;
		}
	OK(wrong == 0, "%d files with one row wider than its header or a decorated number: unclassified, %d wrong (%s)",
	   cases, wrong, why);
	{
		FactorFile ff;

		ff = feed_with("Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2024,,\n"
					   "Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.20705,,\n",
					   NULL, NF_DETECT, why);
		OK(ff.rows_loaded == 1 && ff.rows_unclassified == 0, "rows padded with empty cells load (%s)", why);
	}
}

int
main(void)
{
	FactorRow  row;
	FactorFile ff;

	char why[400];

	test_widths();
	/* the labels of every year, and the forms copies spell them in */
	classify("kg CO2e", FF_KIND_GAS, "CO2e");
	classify("kgCO2e", FF_KIND_GAS, "CO2e");
	classify("KG CO2E", FF_KIND_GAS, "CO2e");
	classify("kg CO2-e", FF_KIND_GAS, "CO2e");
	classify("kg CO2eq", FF_KIND_GAS, "CO2e");
	classify("kg of CO2e", FF_KIND_GAS, "CO2e");
	classify("kg CO\xE2\x82\x82"
			 "e",
			 FF_KIND_GAS, "CO2e"); /* CO₂e */
	classify("kg CO2e of CH4 per unit", FF_KIND_GAS, "CH4");
	classify("kgCO2e of N2O per unit", FF_KIND_GAS, "N2O");
	classify("kg CO2e of CO2", FF_KIND_GAS, "CO2");
	classify("kg CO2e per unit", FF_KIND_GAS, "CO2e");
	classify("kWh (Net CV)", FF_KIND_CONVERSION, NULL);
	classify("kWh (net)", FF_KIND_CONVERSION, NULL);
	classify("KWH(GROSS CV)", FF_KIND_CONVERSION, NULL);
	classify("kWh", FF_KIND_CONVERSION, NULL);
	classify("`", FF_KIND_NONE, NULL);
	classify("", FF_KIND_NONE, NULL);
	classify("kg SF6", FF_KIND_UNKNOWN, NULL);
	classify("kg", FF_KIND_UNKNOWN, NULL);
	classify("tCO2e", FF_KIND_UNKNOWN, NULL);
	classify("g CO2e", FF_KIND_UNKNOWN, NULL);
	classify("kWh (Net CV) x", FF_KIND_UNKNOWN, NULL);

	/*
	 * Generated: every way of spelling a gas label from its parts ("kg",
	 * "of", the CO2e wordings, "CO2e of <gas>", "per unit" or "/unit"),
	 * each in four casings and with its spaces left out, doubled, or made
	 * no-break spaces: each names its gas, and the same labels with a gas
	 * car does not price (SF6, HFC, CO, NO2) name none.
	 */
	{
		static const char *const kg[] = {"kg", "KG", "Kg"};
		static const char *const of[] = {"", "of "};
		static const char *const co2e[] = {"CO2e", "CO2-e", "CO2eq", "CO\xE2\x82\x82"
																	 "e"};
		static const char *const gases[][2] = {{"CO2", "CO2"}, {"CH4", "CH4"}, {"N2O", "N2O"}, {"SF6", NULL}, {"HFC", NULL}, {"CO", NULL}, {"NO2", NULL}};
		static const char *const per[] = {"", " per unit", "/unit"};
		long					 labels = 0, wrong = 0;
		size_t					 a, b, c, g, e, k, sp;

		for (a = 0; a < lengthof(kg); a++)
			for (b = 0; b < lengthof(of); b++)
				for (c = 0; c < lengthof(co2e); c++)
					for (g = 0; g <= lengthof(gases); g++) /* the last: CO2e itself */
						for (e = 0; e < lengthof(per); e++)
							for (k = 0; k < 4; k++)
								for (sp = 0; sp < 4; sp++)
								{
									char		base[96], label[200], canon[48];
									const char *want = g < lengthof(gases) ? gases[g][1] : "CO2e", *gas, *p;
									size_t		o = 0;
									FfKind		kind;

									if (g < lengthof(gases))
										snprintf(base, sizeof(base), "%s %s%s of %s%s", kg[a], of[b], co2e[c], gases[g][0],
												 per[e]);
									else
										snprintf(base, sizeof(base), "%s %s%s%s", kg[a], of[b], co2e[c], per[e]);
									for (p = base; *p && o + 4 < sizeof(label); p++)
									{
										if (*p == ' ')
										{
											if (sp == 1)
												continue; /* no spaces */
											if (sp == 2)
												label[o++] = ' '; /* doubled */
											if (sp == 3)
											{
												label[o++] = '\xC2'; /* no-break */
												label[o++] = '\xA0';
												continue;
											}
										}
										label[o] = (char) (k == 1			   ? toupper((unsigned char) *p)
														   : k == 2			   ? tolower((unsigned char) *p)
														   : k == 3 && (o % 2) ? toupper((unsigned char) *p)
																			   : *p);
										o++;
									}
									label[o] = '\0';
									kind = ff_classify_unit(label, &gas, canon, sizeof(canon));
									labels++;
									if (want ? kind != FF_KIND_GAS || gas == NULL || strcmp(gas, want) != 0
											 : kind != FF_KIND_UNKNOWN || gas != NULL)
									{
										if (wrong++ < 5)
											printf("#   \"%s\": kind %d gas %s, want %s\n", label, (int) kind, gas ? gas : "none",
												   want ? want : "none");
									}
								}
		OK(wrong == 0, "%ld generated spellings of gas labels: each names its gas, or none for a gas car does not price (%ld wrong)",
		   labels, wrong);
	}

	IS_STR(ff_gas("kg CO2e"), "CO2e", "gas: kg CO2e");
	IS_STR(ff_gas("kg CO2"), "CO2", "gas 2021: kg CO2");
	IS_STR(ff_gas("kg CH4"), "CH4", "gas 2021: kg CH4");
	IS_STR(ff_gas("kg N2O"), "N2O", "gas 2021: kg N2O");
	IS_STR(ff_gas("kg CO2e of CH4"), "CH4", "gas 2022: kg CO2e of CH4");
	IS_STR(ff_gas("kg CO2e of N2O per unit"), "N2O", "gas 2023+: ... per unit");
	IS_STR(ff_gas("  KG  co2e OF co2  per unit "), "CO2", "gas: case and spacing");
	OK(ff_gas("kWh (Net CV)") == NULL, "conversion rows have no gas");
	OK(ff_gas("kg") == NULL && ff_gas("`") == NULL && ff_gas("kg SF6") == NULL, "unknown wording has no gas");

	ff = feed("Title line,,,\n"
			  ",,,\n"
			  "Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2022\n"
			  "Scope 2,UK electricity,Electricity generated,Electricity: UK,2020,,kWh,kg CO2e,0.19338\n"
			  ",,,,,,,,\n"
			  "Scope 2,UK electricity,Electricity generated,Electricity: UK,2020,,kWh,kg CO2e of CO2,0.19121\n"
			  "Scope 1,X,Y,Z,,,kWh,kg CO2e,\n"
			  "END,,,,,,,,\n",
			  &row);
	OK(ff.err[0] == '\0', "small 2022-style file recognised (%s)", ff.err);
	OK(ff.year == 2022 && ff.header_line == 3, "year %d from header on line %ld", ff.year, ff.header_line);
	OK(ff.rows_loaded == 2 && ff.rows_skipped == 2 && ff.rows_no_value == 1 && ff.rows_unclassified == 0,
	   "2 rows loaded, 2 not (an empty value, listed; END, structural); the blank row not counted");
	IS_STR(ff.title, "Title line", "title from the preamble");
	IS_STR(row.value, "0.19121", "value");
	IS_STR(row.gas, "CO2", "gas of the last row");
	IS_STR(row.cells[FF_LEVEL4], "2020", "level 4 verbatim");
	OK(row.cells[FF_COLUMN_TEXT] == NULL && row.cells[FF_ID] == NULL, "empty and absent cells are NULL");
	OK(row.line == 6, "line of the row (%ld)", row.line);

	ff = feed("\xEF\xBB\xBFUK Government GHG Conversion Factors;;;\r\n"
			  "ID;Scope;Level 1;Level 2;Level 3;Level 4;Column Text;UOM;GHG/Unit;GHG Conversion Factor 2023\r\n"
			  "1_1;Scope 1;Fuels;Gaseous fuels;Natural gas;;;tonnes;kg CO2e;2 562,57441\r\n",
			  &row);
	OK(ff.err[0] == '\0' && ff.year == 2023 && ff.rows_loaded == 1, "French-locale 2023 layout with ID column");
	IS_STR(row.value, "2562.57441", "space thousands and decimal comma");
	IS_STR(row.cells[FF_ID], "1_1", "ID column kept");

	ff = feed("Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG,GHG Conversion Factor\n"
			  "Scope 1,A,B,C,,,kWh,kg CO2e,1\n",
			  &row);
	OK(ff.err[0] == '\0' && ff.year == 0 && ff.rows_loaded == 1, "value column without a year: recognised, year unknown");

	ff = feed("date,meter,kWh\n2024-01-01,M1,3\n", NULL);
	OK(ff.err[0] != '\0' && strstr(ff.err, "Level 1") != NULL && strstr(ff.err, "GHG Conversion Factor YYYY") != NULL &&
		   strstr(ff.err, "\"meter\"") != NULL,
	   "no header: the error lists expected and found columns: %s", ff.err);

	ff = feed("Scope,Level 1,Level 2,Level 3,Column Text,UOM,GHG,GHG Conversion Factor 2021\n1,2,3\n", NULL);
	OK(ff.err[0] != '\0' && strstr(ff.err, "closest row (line 1)") != NULL,
	   "a header missing Level 4 is refused, naming the closest row: %s", ff.err);

	ff = feed("", NULL);
	OK(ff.err[0] != '\0' && strstr(ff.err, "no rows") != NULL, "empty input: %s", ff.err);

	{
		char many[4096] = "";
		int	 i;

		for (i = 0; i < 40; i++)
			strcat(many, "preamble,x\n");
		strcat(many, "Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG,GHG Conversion Factor 2021\n");
		ff = feed(many, NULL);
		OK(ff.err[0] != '\0' && strstr(ff.err, "first 30 rows") != NULL, "header too far down is refused");
	}

	/* a renamed label on some rows: they all load, with their gas */
	ff = feed("Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2024\n"
			  "Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kgCO2e,0.20705\n"
			  "Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,KG CO2E OF CO2 PER UNIT,0.20493\n",
			  &row);
	OK(ff.rows_loaded == 2 && ff.rows_unclassified == 0, "kgCO2e and KG CO2E OF CO2 PER UNIT load");
	IS_STR(row.gas, "CO2", "with their gas");
	/* a label that names nothing known: the row cannot be classified */
	ff = feed_with("Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2024\n"
				   "Scope 1,Refrigerant,Kyoto,SF6,,,kg,kg SF6,23500\n"
				   "Scope 1,Fuels,Gaseous fuels,Natural gas,,,kWh (Gross CV),kg CO2e,0.1829\n",
				   &row, NF_DETECT, why);
	OK(ff.rows_loaded == 1 && ff.rows_unclassified == 1 && strstr(why, "line 2") != NULL && strstr(why, "kg SF6") != NULL,
	   "kg SF6 with a number: unclassified: %s", why);
	/* a stray mark where the label should be: the label its group's rows agree on (the 2021 file's row 7598) */
	ff = feed_with("Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2021\n"
				   "Scope 2,SECR kWh UK electricity for EVs,Vans,Class III,,BEV,km,kWh,0.33\n"
				   "Scope 2,SECR kWh UK electricity for EVs,Vans,Class III,,BEV,km,`,0.33145\n"
				   "Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.21233\n"
				   "Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2,0.2\n"
				   "Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,`,0.1\n",
				   &row, NF_DETECT, why);
	OK(ff.rows_loaded == 4 && ff.rows_unclassified == 1 && strstr(why, "line 6") != NULL &&
		   strstr(why, "do not agree") != NULL,
	   "` in a group of kWh rows loads as a conversion; in a group of several gases it cannot: %s", why);
	/* a value not in the file's number format: never read another way */
	ff = feed_with("Scope;Level 1;Level 2;Level 3;Level 4;Column Text;UOM;GHG/Unit;GHG Conversion Factor 2023\n"
				   "Scope 2;UK electricity;Electricity generated;Electricity: UK;;;kWh;kg CO2e;0,20707\n"
				   "Scope 3;Transmission and distribution;T&D- UK electricity;Electricity: UK;;;kWh;kg CO2e;0,01792\n"
				   "Scope 1;Fuels;Gaseous fuels;Natural gas;;;kWh (Gross CV);kg CO2e;0.18293\n",
				   &row, NF_DETECT, why);
	OK(ff.rows_loaded == 2 && ff.rows_unclassified == 1 && strstr(why, "\"0.18293\"") != NULL,
	   "0.18293 in a decimal-comma file: unclassified: %s", why);
	/* the number format of a factor CSV that cannot tell: refused; the caller's separator settles it */
	ff = feed_with("Scope;Level 1;Level 2;Level 3;Level 4;Column Text;UOM;GHG/Unit;GHG Conversion Factor 2023\n"
				   "Scope 1;Fuels;Liquid fuels;Diesel;;;tonnes;kg CO2e;3,206\n",
				   &row, NF_DETECT, why);
	OK(ff.err[0] != '\0' && strstr(ff.err, "two ways") != NULL, "3,206 alone: the format is refused: %s", ff.err);
	ff = feed_with("Scope;Level 1;Level 2;Level 3;Level 4;Column Text;UOM;GHG/Unit;GHG Conversion Factor 2023\n"
				   "Scope 1;Fuels;Liquid fuels;Diesel;;;tonnes;kg CO2e;3,206\n",
				   &row, ',', why);
	IS_STR(row.value, "3.206", "decimal_separator ',' reads it as 3.206");

	/* every real CSV: the counts in SOURCES.md */
	{
		static const struct
		{
			const char *file;
			int			year;
			long		rows; /* data rows after the header, END included */
		} real[] = {
			{"desnz_flatfile/conversion-factors-2021-flat-file-automatic-processing.frlocale.csv", 2021, 7606},
			{"desnz_flatfile/ghg-conversion-factors-2022-flat-format.frlocale.csv", 2022, 8038},
			{"desnz_flatfile/ghg-conversion-factors-2023-flat-file-update.frlocale.csv", 2023, 8039},
			{"desnz_flatfile_derived_csv/ghg-conversion-factors-2021.factors-by-category.csv", 2021, 7606},
			{"desnz_flatfile_derived_csv/ghg-conversion-factors-2022.factors-by-category.csv", 2022, 8038},
			{"desnz_flatfile_derived_csv/ghg-conversion-factors-2024.factors-by-category.csv", 2024, 8741},
		};
		int i;

		for (i = 0; i < 6; i++)
		{
			size_t len;
			char  *data = slurp(fixture(real[i].file), &len);

			ff = feed(data, NULL);
			OK(ff.err[0] == '\0' && ff.year == real[i].year && ff.rows_unclassified == 0 &&
				   ff.rows_loaded + ff.rows_skipped == real[i].rows,
			   "%s: year %d, %ld loaded + %ld skipped (%ld without a number, none unclassified) = %ld", real[i].file,
			   ff.year, ff.rows_loaded, ff.rows_skipped, ff.rows_no_value, real[i].rows);
			free(data);
		}
	}
	test_real_workbooks();
	test_caps();
	printf("# unit tests done: factorfile\n");
	return tap_done();
}
