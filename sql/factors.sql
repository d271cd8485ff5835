-- Loading the official DESNZ/BEIS flat files
\getenv fixtures CAR_FIXTURES
SET client_min_messages = notice;
-- The fixtures' folder differs from run to run: errors that name a path under
-- it are shown by error_of(), with the folder written as $FIXTURES.
SELECT set_config('car_test.fixtures', :'fixtures', false) IS NOT NULL AS fixtures_set;
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql

-- the bundled official files, one per year
SELECT year, revision, publisher, row_count, rows_skipped, row_count + rows_skipped AS data_rows,
       sheet, header_line, source_uri, superseded_by IS NULL AS current
FROM generate_series(2021, 2024) AS y, car.load_factors(y) AS s ORDER BY year;

-- data rows (END included) match SOURCES.md: 7,606 / 8,038 / 8,039 / 8,741
SELECT s.year, s.row_count + s.rows_skipped = e.n AS count_ok
FROM car.factor_set s JOIN (VALUES (2021, 7606), (2022, 8038), (2023, 8039), (2024, 8741)) e(y, n) ON e.y = s.year
ORDER BY s.year;
-- every loaded row is in car.factor
SELECT s.year, s.row_count = count(f.*) AS rows_stored
FROM car.factor_set s JOIN car.factor f ON f.set_id = s.id GROUP BY s.id ORDER BY s.year;

-- no bundled file for 2019
SELECT car.load_factors(2019);

-- the same bytes load once: same set, nothing added
SELECT count(*) AS factors_before FROM car.factor \gset
SELECT id = (SELECT id FROM car.factor_set WHERE year = 2022) AS same_set FROM car.load_factors(2022);
SELECT count(*) = :factors_before AS nothing_added FROM car.factor;

-- values exactly as published, Excel float noise removed (0.46337999999999996 in the xlsx)
SELECT level1, level2, level3, column_text, uom, ghg_unit, gas, value
FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2022 AND f.line = 6 ORDER BY f.id;
SELECT external_id, scope, level3, uom, ghg_unit, gas, value
FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2024 AND level1 = 'UK electricity' ORDER BY f.id;

-- gas derived from each year's wording of the GHG / GHG/Unit column
SELECT s.year, f.ghg_unit, f.gas, count(*)
FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
GROUP BY 1, 2, 3 HAVING count(*) > 2 ORDER BY 1, 2;

-- Per-gas rows are already CO2e-weighted: CO2 + CH4 + N2O = CO2e in every group
-- publishing all four.  Per-tonne rows are published to 2 decimals, so the
-- tolerance is 1e-5 relative to the factor (1e-5 absolute below 1).
WITH g AS (
    SELECT set_id, concat_ws('|', level1, level2, level3, level4, column_text, uom) AS k,
           max(value) FILTER (WHERE gas = 'CO2e') AS co2e, max(value) FILTER (WHERE gas = 'CO2') AS co2,
           max(value) FILTER (WHERE gas = 'CH4') AS ch4, max(value) FILTER (WHERE gas = 'N2O') AS n2o
    FROM car.factor WHERE gas IS NOT NULL GROUP BY 1, 2)
SELECT s.year, count(*) > 1200 AS many_groups,
       count(*) FILTER (WHERE abs(co2 + ch4 + n2o - co2e) > 0.00001 * greatest(1, abs(co2e))) AS violations
FROM g JOIN car.factor_set s ON s.id = g.set_id
WHERE co2e IS NOT NULL AND co2 IS NOT NULL AND ch4 IS NOT NULL AND n2o IS NOT NULL
GROUP BY s.year ORDER BY s.year;

-- The French-locale CSV exports (BOM, ';', decimal comma, space thousands
-- separators) load as revisions of their year.
SELECT year, revision, row_count, rows_skipped, header_line, superseded_by IS NULL AS current
FROM car.load_factors(:'fixtures' || '/desnz_flatfile/conversion-factors-2021-flat-file-automatic-processing.frlocale.csv');
SELECT year, revision, row_count, rows_skipped, header_line
FROM car.load_factors(:'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2022-flat-format.frlocale.csv');
SELECT year, revision, superseded_by IS NOT NULL AS superseded FROM car.factor_set ORDER BY year, revision;
-- 1 041,8 with a space thousands separator
SELECT level3, uom, gas, value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2021 AND s.revision = 2 AND value BETWEEN 1041 AND 1042 ORDER BY f.id LIMIT 3;
-- the 2021 CSV has the xlsx's rows line for line; each value is the xlsx
-- value rounded to the decimals Excel displayed when it saved the CSV
SELECT count(*) AS rows_compared,
       count(*) FILTER (WHERE (x.scope, x.level1, x.level2, x.level3, x.level4, x.column_text, x.uom, x.ghg_unit, x.gas)
                        IS DISTINCT FROM (c.scope, c.level1, c.level2, c.level3, c.level4, c.column_text, c.uom, c.ghg_unit, c.gas)) AS text_differs,
       count(*) FILTER (WHERE abs(x.value - c.value) > 0.5 * 10 ^ (-scale(c.value))) AS value_differs,
       -- Excel wrote each number as its cell's format shows it, trailing zeros
       -- included (0,22240): car's xlsx reader stores the same figure, scale too
       count(*) FILTER (WHERE x.value::text <> c.value::text) AS published_text_differs
FROM car.factor x
JOIN car.factor_set xs ON xs.id = x.set_id AND xs.year = 2021 AND xs.revision = 1
JOIN car.factor_set cs ON cs.year = 2021 AND cs.revision = 2
JOIN car.factor c ON c.set_id = cs.id AND c.line = x.line;

-- The derived plain CSVs (another tool's dump of the same workbooks, every
-- number to 15 significant digits) give the rows the xlsx reader gives: text
-- identical, and each xlsx value (as its cell's number format shows it) is
-- the CSV's value rounded half away from zero to the format's decimals.
SELECT year, revision FROM car.load_factors(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2024.factors-by-category.csv');
SELECT year, revision FROM car.load_factors(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2021.factors-by-category.csv');
SELECT year, revision FROM car.load_factors(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2022.factors-by-category.csv');
SELECT xs.year, count(*) AS rows_compared,
       count(*) FILTER (WHERE (x.external_id, x.scope, x.level1, x.level2, x.level3, x.level4, x.column_text, x.uom_simple, x.uom,
                               x.ghg_unit, x.lookup, x.gas, x.value)
                        IS DISTINCT FROM (c.external_id, c.scope, c.level1, c.level2, c.level3, c.level4, c.column_text, c.uom_simple,
                                          c.uom, c.ghg_unit, c.lookup, c.gas, round(c.value, scale(x.value)))) AS differ,
       count(*) FILTER (WHERE x.value <> c.value) AS rounded_by_format
FROM car.factor_set xs
JOIN car.factor x ON x.set_id = xs.id
JOIN car.factor_set cs ON cs.year = xs.year AND cs.file_name LIKE '%factors-by-category.csv'
JOIN car.factor c ON c.set_id = cs.id AND c.line = x.line
WHERE xs.revision = 1 AND xs.year IN (2021, 2022, 2024)
GROUP BY xs.year ORDER BY xs.year;

-- Bad input: a clear error and nothing loaded.
SELECT count(*) AS sets_before FROM car.factor_set \gset
-- a truncated workbook
SELECT car.load_factors(substr(pg_read_binary_file(:'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx'), 1, 300000), 'cut.xlsx');
SELECT car.load_factors(substr(pg_read_binary_file(:'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx'), 1, 20), 'stub.xlsx');
-- a CSV without a recognisable header: expected and found columns listed
SELECT car.load_factors(convert_to(E'datetime,equipment load [kWh]\n2021-01-01 00:00:00,3.4\n', 'UTF8'), 'meter.csv');
-- a meter file from the shared data
SELECT car.load_factors(:'fixtures' || '/energy_sparks_amr/banes-example-file.csv');
-- binary garbage, and nothing at all
SELECT car.load_factors('\x000102030405ff00'::bytea, 'blob.bin');
SELECT car.load_factors(''::bytea, 'empty.csv');
-- a header but no values
SELECT car.load_factors(convert_to(E'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2020\nEND,,,,,,,,\n', 'UTF8'), 'empty2020.csv');
-- a year neither in the header nor given; and one contradicting the header
SELECT car.load_factors(convert_to(E'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor\nScope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.5\n', 'UTF8'), 'noyear.csv');
SELECT car.load_factors(convert_to(E'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2020\nScope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.5\n', 'UTF8'), 'y.csv', year => 2019);
-- a path that is not there, a directory, a URL
SELECT car.load_factors('/nonexistent/factors.xlsx');
SELECT pg_temp.error_of(format('SELECT car.load_factors(%L)', :'fixtures'));
SELECT car.load_factors('https://127.0.0.1/factors.xlsx');
-- Past the readers' caps (src/csv.h, src/xlsx.h): refused as over a limit
-- (54000), saying which cap and where.  Zip bombs made by test/gen/bombs.py:
-- shared strings of 100 MB of text in 110 kB (the cap on their text: 64 MB),
-- and a header, two factor rows and then 300 MB of sheet in 340 kB (the cap
-- on a part: 256 MB); then a factor CSV with a 2 MB line (the cap: 1 MB).
SELECT count(*) AS factor_rows_before FROM car.factor \gset
SELECT pg_temp.error_of(format('SELECT car.load_factors(pg_read_binary_file(%L), %L)',
                               :'fixtures' || '/generated/bombs/shared-strings.xlsx', 'strings-bomb.xlsx'));
SELECT pg_temp.error_of(format('SELECT car.load_factors(pg_read_binary_file(%L), %L)',
                               :'fixtures' || '/generated/bombs/sheet.xlsx', 'sheet-bomb.xlsx'));
SELECT pg_temp.error_of($$SELECT car.load_factors(convert_to(E'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2020\n'
                                                               || repeat('x', 2000000) || E'\n', 'UTF8'), 'longline.csv')$$);
SELECT count(*) = :sets_before AS nothing_loaded FROM car.factor_set;
SELECT count(*) = :factor_rows_before AS no_factor_rows FROM car.factor;

-- reading server files needs pg_read_server_files, as COPY does
CREATE ROLE car_test_analyst;
GRANT USAGE ON SCHEMA car TO car_test_analyst;
SET ROLE car_test_analyst;
-- nothing of car is PUBLIC's: without EXECUTE, not even the function
SELECT pg_temp.error_of(format('SELECT car.load_factors(%L)', :'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx'));
RESET ROLE;
GRANT EXECUTE ON FUNCTION car.load_factors(text, int, boolean, text, text) TO car_test_analyst;
SET ROLE car_test_analyst;
SELECT pg_temp.error_of(format('SELECT car.load_factors(%L)', :'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx'));
RESET ROLE;
DROP OWNED BY car_test_analyst;
DROP ROLE car_test_analyst;

-- A small complete flat file: a row for each component of the core
-- activities (electricity with T&D and well-to-tank, natural gas on both
-- bases with well-to-tank, water, diesel and petrol with well-to-tank), the
-- year in the header when given, then any extra rows.
CREATE FUNCTION pg_temp.core_csv(year text, electricity text DEFAULT '0.5', extra text DEFAULT '') RETURNS text
LANGUAGE sql AS $$
SELECT 'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor' || coalesce(' ' || year, '') || E'\n' ||
       'Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,' || electricity || E'\n' ||
       E'Scope 3,Transmission and distribution,T&D- UK electricity,Electricity: UK,,,kWh,kg CO2e,0.02\n' ||
       E'Scope 3,WTT- UK electricity,WTT- UK electricity (generation),Electricity: UK,,,kWh,kg CO2e,0.05\n' ||
       E'Scope 3,WTT- UK electricity,WTT- UK electricity (T&D),Electricity: UK,,,kWh,kg CO2e,0.004\n' ||
       E'Scope 1,Fuels,Gaseous fuels,Natural gas,,Energy - Gross CV,kWh (Gross CV),kg CO2e,0.18\n' ||
       E'Scope 1,Fuels,Gaseous fuels,Natural gas,,Energy - Net CV,kWh (Net CV),kg CO2e,0.2\n' ||
       E'Scope 3,WTT- fuels,WTT- gaseous fuels,Natural gas,,Energy - Gross CV,kWh (Gross CV),kg CO2e,0.03\n' ||
       E'Scope 3,WTT- fuels,WTT- gaseous fuels,Natural gas,,Energy - Net CV,kWh (Net CV),kg CO2e,0.034\n' ||
       E'Scope 3,Water supply,Water supply,Water supply,,,cubic metres,kg CO2e,0.15\n' ||
       E'Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,Volume,litres,kg CO2e,2.5\n' ||
       E'Scope 3,WTT- fuels,WTT- liquid fuels,Diesel (average biofuel blend),,Volume,litres,kg CO2e,0.6\n' ||
       E'Scope 1,Fuels,Liquid fuels,Petrol (average biofuel blend),,Volume,litres,kg CO2e,2.1\n' ||
       E'Scope 3,WTT- fuels,WTT- liquid fuels,Petrol (average biofuel blend),,Volume,litres,kg CO2e,0.6\n' || extra
$$;

-- The year can be given when the header lacks it; Windows-1252 text is read
-- as such (Excel's "CSV" export); gas-less conversion rows are kept.
SELECT year, revision, row_count, rows_skipped
FROM car.load_factors(convert_to(pg_temp.core_csv(NULL, extra => E'Scope 3,Café,Conversions,Natural gas,,,kWh (Gross CV),kWh (Net CV),0.9\n'), 'WIN1252'),
                      'win1252-2019.csv', year => 2019);
SELECT level1, level2, gas, value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2019 AND (level1 LIKE 'Caf%' OR level1 = 'UK electricity') ORDER BY f.id;

-------------------------------------------------------------------------------
-- No silent skipping (issue 13)
-------------------------------------------------------------------------------
-- The 2016 workbook: its year from the header, no END row; the empty and
-- "< 1" factor cells (504 + 2, SOURCES.md) listed, not loaded.
SELECT year, revision, row_count, rows_without_value, rows_unclassified, rows_skipped, header_line, sheet
FROM car.load_factors(:'fixtures' || '/desnz_flatfile/2016_Flat_format_file_v01-01.xlsx');
-- its UK electricity and natural gas, as SOURCES.md gives them (unrounded in the workbook)
SELECT level3, column_text, uom, gas, value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2016 AND gas = 'CO2e' AND (level1 = 'UK electricity' OR (level1 = 'Fuels' AND level3 = 'Natural gas' AND uom LIKE 'kWh%'))
ORDER BY f.line;
-- Every real factor file in test/data that car reads (the .xls ones are
-- FreeXL's, issue 14): no data row skipped; the rows without a number all
-- listed with their reason; the END row the only row left out unlisted.
SELECT s.year, s.revision, s.file_name, s.row_count, s.rows_without_value, s.rows_unclassified,
       s.rows_skipped - s.rows_without_value - s.rows_unclassified AS end_rows,
       (SELECT count(*) FROM car.factor_skipped k WHERE k.set_id = s.id) = s.rows_without_value AS all_listed
FROM car.factor_set s WHERE s.file_name NOT LIKE '%2019%' ORDER BY s.year, s.revision;
SELECT kind, reason, count(*) FROM car.factor_skipped k JOIN car.factor_set s ON s.id = k.set_id
WHERE s.year = 2022 AND s.revision = 1 GROUP BY 1, 2 ORDER BY 1, 2;
-- the 2021 file's row with the stray "`" for its GHG/Unit loads as the kWh
-- conversion its group's other rows are (gas NULL)
SELECT f.line, f.level1, f.level3, f.uom, f.ghg_unit, f.gas, f.value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2021 AND s.revision = 1 AND f.ghg_unit = '`';

-- A file whose GHG/Unit column spells the unit differently on some rows
-- (kgCO2e on UK electricity, KG CO2E OF CH4 PER UNIT everywhere): every
-- row loads, each with the gas the published file gives it.
SELECT year, revision, row_count, rows_without_value, rows_unclassified
FROM car.load_factors(convert_to(replace(regexp_replace(
        convert_from(pg_read_binary_file(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2024.factors-by-category.csv'), 'UTF8'),
        '(UK electricity,Electricity generated,[^\n]*),kg CO2e,', '\1,kgCO2e,', 'g'),
        ',kg CO2e of CH4 per unit,', ',KG CO2E OF CH4 PER UNIT,'), 'UTF8'), 'renamed-2024.csv');
SELECT count(*) AS rows_compared, count(*) FILTER (WHERE r.ghg_unit <> o.ghg_unit) AS renamed,
       count(*) FILTER (WHERE r.gas IS DISTINCT FROM o.gas OR r.value <> o.value) AS differ
FROM car.factor r JOIN car.factor_set rs ON rs.id = r.set_id AND rs.file_name = 'renamed-2024.csv'
JOIN car.factor_set os ON os.file_name = 'ghg-conversion-factors-2024.factors-by-category.csv'
JOIN car.factor o ON o.set_id = os.id AND o.line = r.line;
SELECT ghg_unit, gas, value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.file_name = 'renamed-2024.csv' AND level1 = 'UK electricity' ORDER BY f.line;

-- A label that names no gas and no conversion on rows carrying a number
-- (kg SF6 on the 2022 refrigerant rows): the whole file is refused, with
-- the count and the first lines; nothing is loaded.
SELECT count(*) AS sets_before FROM car.factor_set \gset
SELECT count(*) AS refrigerant_rows FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2022 AND s.revision = 1 AND f.level1 = 'Refrigerant & other' AND f.ghg_unit = 'kg CO2e';
SELECT replace(convert_from(pg_read_binary_file(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2022.factors-by-category.csv'), 'UTF8'),
               'GHG Conversion Factor 2022', 'GHG Conversion Factor 2020') AS f2022 \gset
SELECT regexp_replace(:'f2022', '(Refrigerant & other,[^\n]*),kg CO2e,', '\1,kg SF6,', 'g') AS sf6 \gset
SELECT pg_temp.error_of(format('SELECT car.load_factors(convert_to(%L, ''UTF8''), ''sf6.csv'')', :'sf6'));
SELECT count(*) = :sets_before AS nothing_loaded FROM car.factor_set;
-- lenient => true loads the rest and lists every skipped row, with its reason
SELECT year, row_count, rows_without_value, rows_unclassified, rows_skipped
FROM car.load_factors(convert_to(:'sf6', 'UTF8'), 'sf6.csv', lenient => true);
SELECT kind, reason, count(*), min(line), max(line), min(cells[2]) AS level1
FROM car.factor_skipped k JOIN car.factor_set s ON s.id = k.set_id
WHERE s.file_name = 'sf6.csv' AND kind = 'unclassified' GROUP BY 1, 2;
-- the skipped rows are the ones the published file loads (compared as
-- numbers: the derived CSV writes 15 significant digits, the workbook's
-- cells show their formats' decimals)
SELECT count(*) AS skipped_rows_match FROM car.factor_skipped k JOIN car.factor_set s ON s.id = k.set_id AND s.file_name = 'sf6.csv'
JOIN car.factor o ON o.line = k.line JOIN car.factor_set os ON os.id = o.set_id AND os.year = 2022 AND os.revision = 1
WHERE k.kind = 'unclassified' AND o.level1 = 'Refrigerant & other' AND k.cells[9]::numeric = o.value;
-- but a lenient load that leaves out UK electricity cannot price it: refused
SELECT pg_temp.error_of(format('SELECT car.load_factors(convert_to(%L, ''UTF8''), ''noelec.csv'', lenient => true)',
                               regexp_replace(:'f2022', '(UK electricity,[^\n]*),kg CO2e,', '\1,kg CO2 equiv,', 'g')));

-- A file that cannot price the core activities is refused (UK electricity alone)
SELECT pg_temp.error_of($$SELECT car.load_factors(convert_to(E'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2019\nScope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.5\n', 'UTF8'), 'elec-only.csv')$$);

-- A factor CSV's number format is decided once, from all its values: a ';'
-- file whose every value is like 1,250 is refused, naming the option; the
-- option settles it.
SELECT 'Scope;Level 1;Level 2;Level 3;Level 4;Column Text;UOM;GHG/Unit;GHG Conversion Factor 2018' || E'\n' ||
       string_agg(concat_ws(';', scope, l1, l2, l3, '', ct, uom, 'kg CO2e', v), E'\n' ORDER BY n) || E'\n' AS amb
FROM (VALUES (1, 'Scope 2', 'UK electricity', 'Electricity generated', 'Electricity: UK', '', 'kWh', '1,250'),
             (2, 'Scope 3', 'Transmission and distribution', 'T&D- UK electricity', 'Electricity: UK', '', 'kWh', '1,020'),
             (3, 'Scope 3', 'WTT- UK electricity', 'WTT- UK electricity (generation)', 'Electricity: UK', '', 'kWh', '1,050'),
             (4, 'Scope 3', 'WTT- UK electricity', 'WTT- UK electricity (T&D)', 'Electricity: UK', '', 'kWh', '1,004'),
             (5, 'Scope 1', 'Fuels', 'Gaseous fuels', 'Natural gas', 'Energy - Gross CV', 'kWh (Gross CV)', '1,180'),
             (6, 'Scope 1', 'Fuels', 'Gaseous fuels', 'Natural gas', 'Energy - Net CV', 'kWh (Net CV)', '1,200'),
             (7, 'Scope 3', 'WTT- fuels', 'WTT- gaseous fuels', 'Natural gas', 'Energy - Gross CV', 'kWh (Gross CV)', '1,030'),
             (8, 'Scope 3', 'WTT- fuels', 'WTT- gaseous fuels', 'Natural gas', 'Energy - Net CV', 'kWh (Net CV)', '1,034'),
             (9, 'Scope 3', 'Water supply', 'Water supply', 'Water supply', '', 'cubic metres', '1,150'),
             (10, 'Scope 1', 'Fuels', 'Liquid fuels', 'Diesel (average biofuel blend)', 'Volume', 'litres', '2,500'),
             (11, 'Scope 3', 'WTT- fuels', 'WTT- liquid fuels', 'Diesel (average biofuel blend)', 'Volume', 'litres', '1,600'),
             (12, 'Scope 1', 'Fuels', 'Liquid fuels', 'Petrol (average biofuel blend)', 'Volume', 'litres', '2,100'),
             (13, 'Scope 3', 'WTT- fuels', 'WTT- liquid fuels', 'Petrol (average biofuel blend)', 'Volume', 'litres', '1,600'))
     t(n, scope, l1, l2, l3, ct, uom, v) \gset
SELECT pg_temp.error_of(format('SELECT car.load_factors(convert_to(%L, ''UTF8''), ''amb.csv'')', :'amb'));
SELECT year, row_count, rows_unclassified FROM car.load_factors(convert_to(:'amb', 'UTF8'), 'amb.csv', decimal_separator => ',');
SELECT value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id WHERE s.file_name = 'amb.csv' AND f.level1 = 'UK electricity';
SELECT car.load_factors(convert_to(:'amb', 'UTF8'), 'amb2.csv', decimal_separator => ';');

-- The sets loaded for these tests go again: the later tests price the
-- earlier ones' readings with the official sets only (deleting a revision
-- makes the set it superseded current again).
SET client_min_messages = warning;
DELETE FROM car.factor_set WHERE file_name IN ('win1252-2019.csv', '2016_Flat_format_file_v01-01.xlsx', 'renamed-2024.csv', 'sf6.csv', 'amb.csv');
RESET client_min_messages;
SELECT year, revision, file_name, superseded_by IS NULL AS current FROM car.factor_set ORDER BY year, revision;
