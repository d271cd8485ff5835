-- Meter files as real exports write them (issue 13): every dialect car
-- accepts loads to the same readings; what cannot be read without guessing
-- is refused, naming the line and the option to set.
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql

-------------------------------------------------------------------------------
-- The issue's three files, as a new user would try them
-------------------------------------------------------------------------------
-- 1. ';' and decimal commas: the number format is decided once for the file
select (car.add_source('eu', NULL, 'push', 'long', '{"meter":"M10","timezone":"UTC","activity":"electricity"}')).name;
select rows_loaded, rows_rejected from car.push('eu', 'eu.csv', convert_to(E'Date;kWh\n15/01/2024 00:00;0,875\n15/01/2024 00:30;0,5\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'M10' ORDER BY r.ts;
-- 2. half-hour columns 00:30 ... 23:30, 00:00: period ends, the last one midnight at the day's end
select (car.add_source('e2', NULL, 'push', 'halfhourly', '{"meter":"M5","timezone":"UTC","activity":"electricity"}')).name;
select rows_loaded, rows_rejected from car.push('e2', 'e.csv', convert_to('Date,' ||
  (select string_agg(to_char(timestamp '2000-01-01' + i * interval '30 min', 'HH24:MI'), ',') from generate_series(1, 48) i)
  || E'\n15/01/2024,' || (select string_agg(i::text, ',') from generate_series(1, 48) i) || E'\n', 'UTF8'));
-- want 00:00 -> 1, 00:30 -> 2, ..., 23:30 -> 48: the quantity is the half-hour's position from midnight, plus 1
SELECT count(*) AS readings, min(r.ts) AS first, max(r.ts) AS last,
       count(*) FILTER (WHERE r.quantity <> extract(epoch FROM r.ts - '2024-01-15 00:00+00') / 1800 + 1) AS misplaced
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'M5';
-- 3. an MPAN column a spreadsheet saved as 2.00E+12 for two meters: refused, naming line 2 and the identifier
select (car.add_source('x', NULL, 'push', 'halfhourly', '{"site_column":"siteRef","meter_column":"MPAN","date_column":"ConsumptionDate"}')).name;
select pg_temp.error_of($$select car.push('x', 'x.csv', convert_to(E'siteRef,MPAN,ConsumptionDate,kWh_1,kWh_2\nS,2.00E+12,15/01/2024,1,1\nS,2.00E+12,15/01/2024,5,5\n', 'UTF8'))$$);
SELECT count(*) AS files_of_x FROM car.source_file f JOIN car.source s ON s.id = f.source_id WHERE s.name = 'x';

-------------------------------------------------------------------------------
-- The round trip: test/gen/dialects.py writes the same readings (3 meters,
-- 30 March, the spring day and the autumn day in Europe/London: 48 + 46 +
-- 50 = 144 half-hours each) in every dialect; each must load to exactly
-- them, (meter, ts, quantity) for (meter, ts, quantity).
-------------------------------------------------------------------------------
CREATE TEMP TABLE manifest AS
SELECT split_part(l, E'\t', 1) AS dialect, split_part(l, E'\t', 2) AS format, split_part(l, E'\t', 3)::jsonb AS options,
       split_part(l, E'\t', 4) AS file, n
FROM regexp_split_to_table(pg_read_file(:'fixtures' || '/generated/dialects/manifest.tsv'), E'\n') WITH ORDINALITY AS t(l, n)
WHERE l <> '';
CREATE TEMP TABLE expected AS
SELECT split_part(l, ',', 1) AS meter, split_part(l, ',', 2)::timestamptz AS ts, split_part(l, ',', 3)::float8 AS quantity
FROM regexp_split_to_table(pg_read_file(:'fixtures' || '/generated/dialects/expected.csv'), E'\n') WITH ORDINALITY AS t(l, n)
WHERE n > 1 AND l <> '';
-- 3 meters x (48 + 46 + 50) = 432 readings; of them 48 of 1,000 and more and
-- 130 under 1 (the generator's seed 13; counted again with Python's Decimal
-- from expected.csv): both separators are met in every dialect.
SELECT count(*) AS expected_readings, count(DISTINCT meter) AS meters,
       count(*) FILTER (WHERE quantity >= 1000) AS over_1000, count(*) FILTER (WHERE quantity < 1) AS under_1
FROM expected;
SELECT count(DISTINCT dialect) AS dialects, count(*) AS files FROM manifest;
-- a source per dialect (its organisation is the dialect, so no two share a meter)
SELECT count(*) AS sources_added
FROM (SELECT DISTINCT dialect, format, options FROM manifest) d, LATERAL car.add_source('d:' || d.dialect, NULL, 'push', d.format, d.options) s;
CREATE TEMP TABLE pushed AS
SELECT m.dialect, m.file, f.id AS file_id, f.rows_loaded, f.rows_rejected, f.metadata
FROM (SELECT * FROM manifest ORDER BY n) m,
     LATERAL car.push('d:' || m.dialect, m.file, pg_read_binary_file(:'fixtures' || '/generated/dialects/' || m.file)) f;
SELECT dialect, count(*) AS files, sum(rows_loaded) AS loaded, sum(rows_rejected) AS rejected FROM pushed GROUP BY 1 ORDER BY 1;
-- every dialect: exactly the expected readings, none missing, none extra, none other
WITH loaded AS (
    SELECT s.org AS dialect, m.name AS meter, r.ts, r.quantity
    FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    WHERE s.org IN (SELECT dialect FROM manifest))
SELECT d.dialect,
       (SELECT count(*) FROM loaded l WHERE l.dialect = d.dialect) AS readings,
       (SELECT count(*) FROM (SELECT meter, ts, quantity FROM loaded l WHERE l.dialect = d.dialect
                              EXCEPT ALL SELECT meter, ts, quantity FROM expected) x) AS extra,
       (SELECT count(*) FROM (SELECT meter, ts, quantity FROM expected
                              EXCEPT ALL SELECT meter, ts, quantity FROM loaded l WHERE l.dialect = d.dialect) x) AS missing
FROM (SELECT DISTINCT dialect FROM manifest) d ORDER BY 1;
-- the clock-change days in every dialect: 46 and 50 half-hours, each instant once
SELECT (r.ts AT TIME ZONE 'Europe/London')::date AS local_day, count(*) / 3 / (SELECT count(DISTINCT dialect) FROM manifest) AS half_hours
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.org IN (SELECT dialect FROM manifest) GROUP BY 1 ORDER BY 1;
-- what each file was read as (car.source_file.metadata)
SELECT p.file, p.metadata->>'encoding' AS encoding, p.metadata->>'line_endings' AS line_endings,
       p.metadata->>'delimiter' AS delim, p.metadata->>'decimal_separator' AS dec,
       p.metadata->>'thousands_separator' AS thousands, (p.metadata->>'header_line')::int AS header_line,
       jsonb_array_length(p.metadata->'preamble') AS preamble_lines, p.metadata->>'half_hour_labels' AS labels,
       p.metadata->>'date_format' AS date_format
FROM pushed p ORDER BY p.file;
SELECT p.metadata->'preamble' AS preamble FROM pushed p WHERE p.file = 'eco_start_every_ending_cr_preamble.csv';

-------------------------------------------------------------------------------
-- Finding the header
-------------------------------------------------------------------------------
-- a supplier report: 8 preamble lines, CR line ends, the header named by no option
SELECT (car.add_source('report', NULL, 'push', 'long', '{"meter": "R1", "activity": "electricity"}')).name;
SELECT rows_loaded, rows_rejected, metadata->'header_line' AS header_line, metadata->'preamble' AS preamble,
       metadata->>'line_endings' AS line_endings
FROM car.push('report', 'report.csv', convert_to(E'Energy report\rCustomer:,Acme Ltd\rSite:,Head office\rMeter:,R1\r' ||
    E'Period:,15/01/2024 - 15/01/2024\rUnits:,kWh\rGenerated:,17/01/2024 09:12\rPage 1 of 1\r' ||
    E'Date,Time,kWh\r15/01/2024,00:00,1.5\r15/01/2024,00:30,2.25\r', 'UTF8'));
-- header_line names it (a line that would otherwise be taken for the header comes first)
SELECT (car.add_source('report2', NULL, 'push', 'long', '{"meter": "R2", "activity": "electricity", "header_line": 3}')).name;
SELECT rows_loaded, metadata->'header_line' AS header_line, metadata->'preamble' AS preamble
FROM car.push('report2', 'report2.csv', convert_to(E'Date,kWh\n\nTimestamp,Reading\n2024-01-15 00:00,4\n', 'UTF8'));
SELECT car.add_source('bad', NULL, 'push', 'long', '{"header_line": 0}');
SELECT car.add_source('bad', NULL, 'push', 'long', '{"decimal_separator": ";"}');
SELECT car.add_source('bad', NULL, 'push', 'long', '{"decimal_separator": ",", "thousands_separator": ","}');
-- no header in the first 50 lines: refused, naming header_line
SELECT pg_temp.error_of(format($$SELECT car.push('report', 'deep.csv', convert_to(%L, 'UTF8'))$$,
    repeat(E'note,text\n', 60) || E'Date,kWh\n15/01/2024 00:00,1\n'));

-------------------------------------------------------------------------------
-- Period labels that fit neither reading, and numbers that fit two: refused
-- with the option to set; the option then settles it
-------------------------------------------------------------------------------
SELECT 'Date,' || string_agg(to_char(timestamp '2000-01-01' + i * interval '30 min', 'HH24:MI'), ',' ORDER BY i) AS labels_0030_2330
FROM generate_series(1, 47) i \gset
SELECT (car.add_source('amb-period', NULL, 'push', 'halfhourly', '{"meter": "AP", "activity": "electricity", "timezone": "UTC"}')).name;
SELECT pg_temp.error_of(format($$SELECT car.push('amb-period', 'p.csv', convert_to(%L, 'UTF8'))$$,
    :'labels_0030_2330' || E'\n15/01/2024,' || (SELECT string_agg(i::text, ',') FROM generate_series(1, 47) i) || E'\n'));
UPDATE car.source SET options = options || '{"period": "start"}' WHERE name = 'amb-period';
SELECT rows_loaded FROM car.push('amb-period', 'p.csv', convert_to(:'labels_0030_2330' || E'\n15/01/2024,' ||
    (SELECT string_agg(i::text, ',') FROM generate_series(1, 47) i) || E'\n', 'UTF8'));
-- as period starts the first column is 00:30-01:00 (value 1), the last 23:30-24:00 (value 47)
SELECT min(r.ts), max(r.ts), count(*) FILTER (WHERE r.quantity <> extract(epoch FROM r.ts - '2024-01-15 00:00+00') / 1800) AS misplaced
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'AP';
-- every value like 1,234 in a ';' file
SELECT (car.add_source('amb-number', NULL, 'push', 'long', '{"meter": "AN", "activity": "electricity", "timezone": "UTC"}')).name;
SELECT pg_temp.error_of($$SELECT car.push('amb-number', 'n.csv', convert_to(E'Date;kWh\n15/01/2024 00:00;1,234\n15/01/2024 00:30;2,500\n', 'UTF8'))$$);
UPDATE car.source SET options = options || '{"thousands_separator": ","}' WHERE name = 'amb-number';
SELECT rows_loaded, metadata->>'decimal_separator' AS dec, metadata->>'thousands_separator' AS thousands
FROM car.push('amb-number', 'n.csv', convert_to(E'Date;kWh\n15/01/2024 00:00;1,234\n15/01/2024 00:30;2,500\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'AN' ORDER BY r.ts;
-- a value not in the file's format is a bad row, never read another way
SET car.max_reject_ratio = 0.5;
SELECT rows_loaded, rows_rejected FROM car.push('eu', 'eu2.csv', convert_to(E'Date;kWh\n16/01/2024 00:00;0,875\n16/01/2024 00:30;0,5\n16/01/2024 01:00;1,25\n16/01/2024 01:30;0.5\n', 'UTF8'));
RESET car.max_reject_ratio;
SELECT e.line, e.raw, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'eu2.csv';

-------------------------------------------------------------------------------
-- Identifiers
-------------------------------------------------------------------------------
-- lost leading zeros: refused, naming the line
SELECT (car.add_source('ids', NULL, 'push', 'halfhourly', '{"activity": "electricity", "timezone": "UTC"}')).name;
SELECT pg_temp.error_of($$SELECT car.push('ids', 'z.csv', convert_to(E'Meter,Date,kWh_1\n0012345678,15/01/2024,1\n0087654321,15/01/2024,2\n12345678,16/01/2024,3\n', 'UTF8'))$$);
-- MPAN check digits and MPRN lengths: failing values are bad rows.
-- The check digit of an MPAN core: the first 12 digits times the primes
-- 3 5 7 13 17 19 23 29 31 37 41 43, summed, mod 11, mod 10.
--   233653309311: 6+15+21+78+85+57+69+0+279+111+41+43 = 805; 805 mod 11 = 2: 2336533093112 is valid,
--   so 2336533093113 (line 3) is not;
--   220001276732: 6+10+0+0+0+19+46+203+186+259+123+86 = 938; 938 mod 11 = 3: 2200012767323 is valid.
-- An MPRN is 6 to 10 digits: 7654321 (7) and 1234567890 (10) are, 76543 (5, line 3) is not.
SET car.max_reject_ratio = 0.5;
SELECT rows_loaded, rows_rejected FROM car.push('ids', 'mpan.csv', convert_to(E'MPAN,Date,kWh_1\n2336533093112,15/01/2024,1\n2336533093113,15/01/2024,2\n2200012767323,15/01/2024,3\n', 'UTF8'));
SELECT rows_loaded, rows_rejected FROM car.push('ids', 'mprn.csv', convert_to(E'MPRN,Date,kWh_1\n7654321,15/01/2024,1\n76543,15/01/2024,2\n1234567890,15/01/2024,3\n', 'UTF8'));
RESET car.max_reject_ratio;
SELECT f.name, e.line, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id
WHERE f.name IN ('mpan.csv', 'mprn.csv') ORDER BY 1, 2;
-- a meter-day repeated with other values: the later row is kept, the earlier recorded
SELECT (car.add_source('rep', NULL, 'push', 'long', '{"meter_column": "meter", "activity": "electricity", "timezone": "UTC"}')).name;
SELECT rows_loaded, rows_rejected FROM car.push('rep', 'rep.csv', convert_to(
    E'meter,ts,kWh\nQ1,2024-01-15 00:00,1\nQ1,2024-01-15 00:30,2\nQ1,2024-01-15 00:00,10\nQ1,2024-01-15 01:00,3\nQ1,2024-01-15 00:30,2\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'Q1' ORDER BY r.ts;
SELECT e.line, e.raw, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'rep.csv';

-------------------------------------------------------------------------------
-- Timestamps: the repeated autumn hour told apart by its offset, in any order
-------------------------------------------------------------------------------
-- (the zone, Asia/Tokyo, is not used: every stamp names its offset)
-- 01:30+00:00 = 01:30Z (4); 01:00+01:00 = 00:00Z (1); 01:30+01:00 = 00:30Z (2); 01:00Z (3)
SELECT (car.add_source('off', NULL, 'push', 'long', '{"meter": "O1", "activity": "electricity", "timezone": "Asia/Tokyo"}')).name;
SELECT rows_loaded, rows_rejected FROM car.push('off', 'off.csv', convert_to(
    E'ts,kWh\n2024-10-27T01:30:00+00:00,4\n2024-10-27T01:00:00+01:00,1\n2024-10-27T01:30:00+01:00,2\n2024-10-27T01:00:00Z,3\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'O1' ORDER BY r.ts;
-- a date_format naming a form: 12-hour clock with an offset
-- 1:30 AM +01:00 = 00:30Z (7); 1:30 AM +00:00 = 01:30Z (8)
SELECT (car.add_source('fmt', NULL, 'push', 'long', '{"meter": "F1", "activity": "electricity", "date_format": "DD/MM/YYYY HH12:MI AM TZ"}')).name;
SELECT rows_loaded FROM car.push('fmt', 'fmt.csv', convert_to(E'timestamp,kWh\n27/10/2024 1:30 AM +01:00,7\n27/10/2024 1:30 AM +00:00,8\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'F1' ORDER BY r.ts;

-- dates written month first: 01/13/2024 has no month 13, so the file is
-- refused naming the line and date_format (01/02/2024 alone would read both
-- ways); with date_format each date reads as written: 2 and 13 January
SELECT (car.add_source('us', NULL, 'push', 'long', '{"meter": "US1", "activity": "electricity", "timezone": "UTC"}')).name;
SELECT pg_temp.error_of($$SELECT car.push('us', 'us.csv', convert_to(E'Date,kWh\n01/02/2024 00:00,1\n01/13/2024 00:00,2\n', 'UTF8'))$$);
UPDATE car.source SET options = options || '{"date_format": "MM/DD/YYYY HH24:MI"}' WHERE name = 'us';
SELECT rows_loaded FROM car.push('us', 'us.csv', convert_to(E'Date,kWh\n01/02/2024 00:00,1\n01/13/2024 00:00,2\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'US1' ORDER BY r.ts;

-------------------------------------------------------------------------------
-- Clock-change days: a wall-clock header for another kind of day, and a
-- 48-column header for the 50-half-hour day, are refused row by row
-------------------------------------------------------------------------------
SELECT 'Meter,Date,' || string_agg(to_char(timestamp '2000-01-01' + i * interval '30 min', 'HH24:MI'), ',' ORDER BY i) AS h48
FROM generate_series(0, 47) i \gset
SELECT (car.add_source('cc', NULL, 'push', 'halfhourly', '{"activity": "electricity"}')).name;
SET car.max_reject_ratio = 0.6;
SELECT rows_loaded, rows_rejected FROM car.push('cc', 'cc.csv', convert_to(:'h48' || E'\nC1,26/10/2024,' ||
    (SELECT string_agg('1', ',') FROM generate_series(1, 48)) || E'\nC1,27/10/2024,' || (SELECT string_agg('1', ',') FROM generate_series(1, 48)) || E'\n', 'UTF8'));
RESET car.max_reject_ratio;
SELECT e.line, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'cc.csv';
-- a wall-clock header of the spring day (46 labels, 01:00 and 01:30 missing) for an ordinary day: refused
SELECT 'Meter,Date,00:00,00:30,' || string_agg(to_char(timestamp '2000-01-01' + i * interval '30 min', 'HH24:MI'), ',' ORDER BY i) AS h46
FROM generate_series(4, 47) i \gset
SET car.max_reject_ratio = 0.6;
SELECT rows_loaded, rows_rejected FROM car.push('cc', 'cc46.csv', convert_to(:'h46' || E'\nC2,31/03/2024,' ||
    (SELECT string_agg('2', ',') FROM generate_series(1, 46)) || E'\nC2,01/04/2024,' || (SELECT string_agg('2', ',') FROM generate_series(1, 46)) || E'\n', 'UTF8'));
RESET car.max_reject_ratio;
SELECT e.line, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'cc46.csv';
SELECT (r.ts AT TIME ZONE 'Europe/London')::date AS local_day, count(*), min(r.ts AT TIME ZONE 'Europe/London') AS first_local,
       max(r.ts AT TIME ZONE 'Europe/London') AS last_local
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'C2' GROUP BY 1;

-- Found by a hostile review: files that loaded plausible wrong numbers, each
-- now refused whole, saying why and what to set.
-- a long file newest first through the autumn's repeated hour (no offsets):
-- only the order could tell 01:30 BST from 01:30 GMT, and it runs backwards
select (car.add_source('autumn', NULL, 'push', 'long', '{"meter":"A1","timezone":"Europe/London","activity":"electricity"}')).name;
select pg_temp.error_of($$select car.push('autumn', 'newest-first.csv', convert_to(E'Timestamp,kWh\n27/10/2024 02:00,6\n27/10/2024 01:30,5\n27/10/2024 01:00,4\n27/10/2024 01:30,3\n27/10/2024 01:00,2\n27/10/2024 00:30,1\n', 'UTF8'))$$);
-- the same rows oldest first load, both 01:00 and both 01:30 (BST, then GMT)
select rows_loaded from car.push('autumn', 'oldest-first.csv', convert_to(E'Timestamp,kWh\n27/10/2024 00:30,1\n27/10/2024 01:00,2\n27/10/2024 01:30,3\n27/10/2024 01:00,4\n27/10/2024 01:30,5\n27/10/2024 02:00,6\n', 'UTF8'));
select to_char(r.ts AT TIME ZONE 'UTC', 'HH24:MI') AS utc, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE m.name = 'A1' ORDER BY r.ts;
-- an unquoted decimal comma in a comma-separated file: 0,875 would load 0
select pg_temp.error_of($$select car.push('eu', 'comma.csv', convert_to(E'Date,kWh\n15/01/2024 00:00,0,875\n15/01/2024 00:30,1,5\n', 'UTF8'))$$);
-- two columns that may hold the values: which is not guessed
select (car.add_source('rc', NULL, 'push', 'long', '{"timezone":"UTC","activity":"electricity"}')).name;
select pg_temp.error_of($$select car.push('rc', 'rc.csv', convert_to(E'Read Date,Meter,Reading,Consumption\n15/01/2024 00:00,M1,10234.5,0.5\n', 'UTF8'))$$);
-- 24:00 in a long file: period ends, unless the source says otherwise
select pg_temp.error_of($$select car.push('eu', 'end.csv', convert_to(E'Date;kWh\n15/01/2024 23:30;1\n15/01/2024 24:00;2\n', 'UTF8'))$$);
-- a factor CSV with an unquoted decimal comma, and a value with its unit in the cell
select pg_temp.error_of($$select car.load_factors(convert_to(E'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2019\nScope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0,2556\nScope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,litres,kg CO2e,2.59411 kg\n', 'UTF8'), 'comma-factors.csv')$$);
select count(*) AS sets_named_comma_factors FROM car.factor_set WHERE file_name = 'comma-factors.csv';
