-- Legacy .xls flat files, read with FreeXL in car's helper program
-- (car-xls-reader; src/xls.c says why it is a separate program).  The
-- workbooks are written by test/gen/xls.py with Debian's python3-xlwt; the
-- official 2017 and 2018 ones are in test/data/desnz_flatfile.  In a
-- database of its own, so that these sets stay out of other tests.
\getenv fixtures CAR_FIXTURES
\getenv serverlog CAR_TEST_LOG
CREATE DATABASE car_xls;
\c car_xls
SET client_min_messages = warning;
CREATE EXTENSION car;
RESET client_min_messages;
SELECT set_config('car_test.fixtures', :'fixtures', false) IS NOT NULL AS fixtures_set;
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql
-- the backend's child processes (a helper not reaped would be listed, as a zombie)
CREATE FUNCTION pg_temp.children() RETURNS text LANGUAGE sql AS $$
    SELECT pg_read_file(format('/proc/%s/task/%s/children', pg_backend_pid(), pg_backend_pid()))
$$;
DO $$ BEGIN RAISE WARNING 'car-test: xls files start'; END $$;

-- A small flat file FreeXL can read, every data row with a value: it loads.
-- Rows 1-4 are titles and the Category/HIDE markers, the header is on row 5,
-- row 7 says "< 1" (a bound, skipped), row 10 is END.  FreeXL exposes no
-- number formats, so a number is stored as Excel shows a General cell:
-- 0.1839968181812754 as 0.183996818181275 (15 significant digits).
SELECT year, publisher, title, sheet, header_line, row_count, rows_skipped, rows_skipped_by
FROM car.load_factors(pg_read_binary_file(:'fixtures' || '/generated/xls/flat-2019-values.xls'), 'flat-2019-values.xls');
SELECT f.line, f.scope, f.level1, f.level2, f.level3, f.uom, f.ghg_unit, f.gas, f.value
FROM car.factor f ORDER BY f.line;
-- " R410A " in the workbook is trimmed, so the activity finds it: 10 kg x 2,088 = 20,880 kg
SELECT car.co2e(10, 'kg', 'refrigerant_r410a', '2019-06-01') AS r410a_10kg_2019;
-- the same file by server path: the same bytes, so the same set, nothing added
SELECT count(*) AS sets, (SELECT count(*) FROM car.factor) AS factors FROM car.factor_set;
SELECT year FROM car.load_factors(:'fixtures' || '/generated/xls/flat-2019-values.xls');
SELECT count(*) AS sets, (SELECT count(*) FROM car.factor) AS factors FROM car.factor_set;
SELECT pg_temp.children() AS helpers_left;

-- An empty value cell in a .xls may be a formula whose number FreeXL could
-- not read (it reads no FORMULA record): the load is refused, naming the
-- rows (row 7 holds a formula with a cached result of 0.2046266545304161;
-- row 10 is really empty), and nothing is loaded.
SELECT pg_temp.error_of(format('SELECT car.load_factors(pg_read_binary_file(%L), %L)',
                               :'fixtures' || '/generated/xls/flat-2019.xls', 'flat-2019.xls'));
SELECT count(*) AS sets, (SELECT count(*) FROM car.factor) AS factors FROM car.factor_set;

-- The official 2017 and 2018 flat files: FreeXL 1.0.6 cannot open them.
-- The error says why and names the way out (the bundled set derived from
-- that very file); nothing is loaded.
SELECT pg_temp.error_of(format('SELECT car.load_factors(%L)',
    :'fixtures' || '/desnz_flatfile/Conversion_factors_2017_-_Flat_file__for_automatic_processing_only.xls'));
SELECT pg_temp.error_of(format('SELECT car.load_factors(pg_read_binary_file(%L), %L)',
    :'fixtures' || '/desnz_flatfile/Conversion_factors_2018_-_Flat_file__for_automatic_processing_only__v01-01.xls',
    'conversion-factors-2018.xls'));
SELECT count(*) AS sets FROM car.factor_set;
-- ... and the way out works: the derived 2017 set prices the 2017 vector
SELECT year, row_count FROM car.load_factors(2017);
SELECT car.co2e(1, 'kWh', 'electricity', '2017-06-01') AS electricity_2017;

-- Hostile and damaged workbooks are refused with an error, in the helper's
-- process; the server is unharmed (checked below in its log).
-- a DIMENSIONS record claiming 16,777,216 rows x 256 columns (FreeXL 1.0.6
-- multiplies them in 32 bits and writes past its array)
SELECT pg_temp.error_of(format('SELECT car.load_factors(pg_read_binary_file(%L), %L)',
                               :'fixtures' || '/generated/xls/dimension-bomb.xls', 'dimension-bomb.xls'));
-- an empty string in the shared-string table (as in the official 2017 and 2018 files)
SELECT pg_temp.error_of(format('SELECT car.load_factors(pg_read_binary_file(%L), %L)',
                               :'fixtures' || '/generated/xls/empty-string.xls', 'empty-string.xls'));
-- cut short, and the OLE2 signature followed by junk
SELECT pg_temp.error_of(format('SELECT car.load_factors(substr(pg_read_binary_file(%L), 1, 3000), %L)',
                               :'fixtures' || '/generated/xls/flat-2019-values.xls', 'cut.xls'));
SELECT pg_temp.error_of($q$SELECT car.load_factors('\xd0cf11e0a1b11ae1'::bytea || convert_to(repeat('junk', 200), 'UTF8'), 'junk.xls')$q$);
-- past the 32 MB cap of an .xls: refused before anything is written or run
SELECT pg_temp.error_of($q$SELECT car.load_factors('\xd0cf11e0a1b11ae1'::bytea || convert_to(repeat('x', 33554432), 'UTF8'), 'big.xls')$q$);
SELECT count(*) AS sets FROM car.factor_set;
SELECT pg_temp.children() AS helpers_left;
-- no process of the server ended by a signal since this test started
SELECT count(*) AS crashes
FROM regexp_split_to_table(split_part(pg_read_file(:'serverlog'), 'car-test: xls files start', 2), E'\n') line
WHERE line ~ 'terminated by signal|was terminated|server process .* exited';

\c contrib_regression
DROP DATABASE car_xls;
