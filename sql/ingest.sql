-- Meter files through the push API, monthly partitions, quarantine
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
SET client_min_messages = warning;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2021, 2024) y) s;
RESET client_min_messages;

-- sources: one per layout, checked when defined
SELECT name, kind, format, options FROM (VALUES
    (car.add_source('cambridge-b0-elec', NULL, 'push', 'long', '{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity"}')),
    (car.add_source('cambridge-b0-gas', NULL, 'push', 'long', '{"site": "UCam b0", "meter": "b0 gas", "timezone": "UTC", "activity": "natural_gas"}')),
    (car.add_source('cambridge-b25-elec', NULL, 'push', 'long', '{"site": "UCam b25", "meter": "b25 electricity", "timezone": "UTC", "activity": "electricity"}')),
    (car.add_source('cambridge-b25-gas', NULL, 'push', 'long', '{"site": "UCam b25", "meter": "b25 gas", "timezone": "UTC", "activity": "natural_gas"}')),
    (car.add_source('banes', NULL, 'push', 'halfhourly', '{"site_column": "Location", "meter_column": "ID", "activity_column": "Type", "org": "B&NES"}')),
    (car.add_source('sheffield', NULL, 'push', 'halfhourly', '{"org": "Sheffield"}')),
    (car.add_source('highland', NULL, 'push', 'long', '{"period": "end", "org": "Highland"}')),
    (car.add_source('row-per-day', NULL, 'push', 'halfhourly', '{"activity": "electricity"}')),
    (car.add_source('ecms', NULL, 'push', 'ecodriver', '{"org": "MoJ"}'))
) v(s), LATERAL (SELECT (v.s).*) x;

-- bad source definitions
SELECT car.add_source('x', NULL, 'push', 'csv');
SELECT car.add_source('x', NULL, 'push', 'long', '{"timezone": "Mars/Olympus"}');
SELECT car.add_source('x', NULL, 'push', 'long', '{"colour": "blue"}');
SELECT car.add_source('x', NULL, 'push', 'long', '{"period": "middle"}');
SELECT car.add_source('x', NULL, 'push', 'long', '{"activity": "unobtainium"}');
SELECT car.add_source('x', NULL, 'ftp', 'long');
SELECT car.add_source('x', NULL, 'file', 'long');
SELECT car.add_source('banes', NULL, 'push', 'long');
-- only superusers and car_admin may add sources; only superusers may use file: URIs
SET client_min_messages = warning;
SELECT car.grant_roles();
RESET client_min_messages;
CREATE ROLE car_test_admin IN ROLE car_admin;
CREATE ROLE car_test_nobody;
GRANT USAGE ON SCHEMA car TO car_test_nobody;
SET ROLE car_test_nobody;
SELECT car.add_source('x', 'http://127.0.0.1:1/a.csv', 'file', 'long');
-- a role given EXECUTE on it still may not add sources: the function checks too
RESET ROLE;
GRANT EXECUTE ON FUNCTION car.add_source(text, text, text, text, jsonb, interval) TO car_test_nobody;
SET ROLE car_test_nobody;
SELECT car.add_source('x', 'http://127.0.0.1:1/a.csv', 'file', 'long');
SET ROLE car_test_admin;
SELECT car.add_source('x', 'file:///etc/passwd', 'file', 'long');
SELECT (car.add_source('by-admin', NULL, 'push', 'long', '{"meter": "m"}')).name;
-- nor can car_admin point a source at a file by changing it afterwards, however it writes
UPDATE car.source SET uri = 'file:///etc/passwd', kind = 'file' WHERE name = 'by-admin';
UPDATE car.source SET uri = 'FILE:/etc/passwd', kind = 'file' WHERE name = 'by-admin';
INSERT INTO car.source (name, uri, kind, format) VALUES ('by-insert', 'file:///etc/passwd', 'file', 'long');
SELECT name, kind, uri FROM car.source WHERE name IN ('by-admin', 'by-insert');
RESET ROLE;
SELECT car.remove_source('by-admin');
DROP OWNED BY car_test_admin, car_test_nobody;
DROP ROLE car_test_admin, car_test_nobody;

-- Every Cambridge file: 8,760 hourly readings each, kWh totals as in SOURCES.md
CREATE TEMP TABLE expected (file text, source text, readings int, kwh numeric);
INSERT INTO expected VALUES
    ('UCam_Building_b0_electricity_2021.csv', 'cambridge-b0-elec', 8760, 164392.8),
    ('UCam_Building_b0_electricity_2022.csv', 'cambridge-b0-elec', 8760, 173172.7),
    ('UCam_Building_b0_electricity_2023.csv', 'cambridge-b0-elec', 8760, 179059.5),
    ('UCam_Building_b0_gas_2021.csv', 'cambridge-b0-gas', 8760, 33802.8),
    ('UCam_Building_b0_gas_2022.csv', 'cambridge-b0-gas', 8760, 25789.8),
    ('UCam_Building_b25_electricity_2021.csv', 'cambridge-b25-elec', 8760, 553782.6),
    ('UCam_Building_b25_electricity_2022.csv', 'cambridge-b25-elec', 8760, 611035.4),
    ('UCam_Building_b25_gas_2021.csv', 'cambridge-b25-gas', 8760, 47750.9),
    ('UCam_Building_b25_gas_2022.csv', 'cambridge-b25-gas', 8760, 44155.9);
CREATE TEMP TABLE pushed AS
SELECT e.*, f.id AS file_id, f.status, f.rows_loaded, f.rows_rejected
FROM expected e, LATERAL car.push(e.source, e.file, pg_read_binary_file(:'fixtures' || '/cambridge_estates/' || e.file)) f;
SELECT p.file, p.status, p.rows_loaded = p.readings AS count_ok, p.rows_rejected,
       count(r.*) = p.readings AS stored_ok, round(sum(r.quantity)::numeric, 1) = p.kwh AS kwh_ok
FROM pushed p JOIN car.reading r ON r.file_id = p.file_id
GROUP BY p.file, p.status, p.rows_loaded, p.readings, p.rows_rejected, p.kwh ORDER BY p.file;
-- stored by month: 8,760 hourly readings of 2021 make twelve partitions
SELECT r.tableoid::regclass AS partition, count(*)
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE m.name = 'b0 electricity' AND ts < '2021-04-01' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS rows_in_default FROM car.reading_default;

-- The Energy Sparks layouts.  Expected values computed independently from the
-- files with python3's csv and decimal modules (readings = non-empty value
-- cells; kWh = their sum); B&NES's own "Total Units" column agrees.
SELECT 'banes' AS layout, rows_loaded = 240 AS count_ok, rows_rejected FROM car.push('banes', 'banes.csv', pg_read_binary_file(:'fixtures' || '/energy_sparks_amr/banes-example-file.csv'));
SELECT 'sheffield' AS layout, rows_loaded = 96 AS count_ok, rows_rejected FROM car.push('sheffield', 'sheffield.csv', pg_read_binary_file(:'fixtures' || '/energy_sparks_amr/example-sheffield-file.csv'));
SELECT 'highland' AS layout, rows_loaded = 480 AS count_ok, rows_rejected FROM car.push('highland', 'highland.csv', pg_read_binary_file(:'fixtures' || '/energy_sparks_amr/highlands-example.csv'));
SELECT 'row-per-day' AS layout, rows_loaded = 48 AS count_ok, rows_rejected FROM car.push('row-per-day', 'rpd.csv', pg_read_binary_file(:'fixtures' || '/energy_sparks_amr/row-per-day-valid.csv'));
SELECT so.name, count(*) AS readings, round(sum(r.quantity)::numeric, 6) AS kwh,
       round(sum(r.quantity)::numeric, 6) = CASE so.name WHEN 'banes' THEN 1114.429 WHEN 'sheffield' THEN 1099.849
            WHEN 'highland' THEN 4468.5 WHEN 'row-per-day' THEN 901.889218 END AS kwh_ok
FROM car.reading r JOIN car.source_file f ON f.id = r.file_id JOIN car.source so ON so.id = f.source_id
WHERE so.name IN ('banes', 'sheffield', 'highland', 'row-per-day') GROUP BY 1 ORDER BY 1;
-- B&NES per site equals the file's own "Total Units"; labels [00:30]..[24:00] are period ends
SELECT s.name, round(sum(r.quantity)::numeric, 3) AS kwh, min(r.ts) AS first_period_start, max(r.ts) AS last_period_start
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.org = 'B&NES' GROUP BY 1 ORDER BY 1;
-- sites and meters made from the files: activity from the Type column, the
-- MPAN/MPR header, or options; the MPAN/MPR kept as the external reference
SELECT s.org, count(DISTINCT s.id) AS sites, count(*) AS meters, string_agg(DISTINCT m.activity, ',') AS activities,
       count(m.external_ref) AS with_ref
FROM car.meter m JOIN car.site s ON s.id = m.site_id GROUP BY 1 ORDER BY 1;
-- Highland: "26 Aug 2019 00:30:00" ends the first half-hour, in BST: it started 23:00 UTC the day before
SELECT m.name, min(r.ts), max(r.ts), count(*) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE m.name = '1710035168313' GROUP BY 1;

-- The same bytes again: nothing loaded twice
SELECT count(*) AS readings_before FROM car.reading \gset
SELECT status, rows_loaded FROM car.push('cambridge-b0-elec', 'again.csv', pg_read_binary_file(:'fixtures' || '/cambridge_estates/UCam_Building_b0_electricity_2021.csv'));
SELECT count(*) = :readings_before AS unchanged FROM car.reading;

-- A corrected file supersedes: three hours of b0 2021 restated
SELECT id AS fid, rows_loaded, rows_superseded FROM car.push('cambridge-b0-elec', 'b0-2021-corrected.csv',
    convert_to(E'datetime,equipment load [kWh]\n2021-01-01 00:00:00,100.5\n2021-01-01 01:00:00,101.5\n2021-01-01 02:00:00,18.4\n2021-01-01 03:00:00,103.5\n', 'UTF8')) \gset
SELECT :rows_loaded AS rows_loaded, :rows_superseded AS rows_superseded;
SELECT r.ts, r.quantity, r.file_id = :fid AS from_correction
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE m.name = 'b0 electricity' AND r.ts < '2021-01-01 04:00' ORDER BY r.ts;
SELECT count(*) = :readings_before AS no_new_rows FROM car.reading;

-- Generated ecodriver files (test/gen/ecodriver.py): several sites and meters,
-- the spring day (46 half-hours) and the autumn day (50), blanks, junk rows.
-- Loaded totals equal the generator's own.
CREATE TEMP TABLE gen_totals (file text, site text, meter text, readings int, kwh numeric);
INSERT INTO gen_totals
SELECT 'eco_a', f[1], f[2], f[3]::int, f[4]::numeric
FROM regexp_split_to_table(pg_read_file(:'fixtures' || '/generated/eco_a.totals.csv'), E'\n') WITH ORDINALITY AS l(line, n),
     LATERAL string_to_array(l.line, ',') AS f
WHERE n > 1 AND l.line <> '';
SELECT status, rows_loaded, rows_rejected FROM car.push('ecms', 'eco_a.csv', pg_read_binary_file(:'fixtures' || '/generated/eco_a.csv'));
SELECT g.site, g.meter, g.readings, count(r.*) = g.readings AS count_ok, round(sum(r.quantity)::numeric, 3) = g.kwh AS kwh_ok
FROM gen_totals g
JOIN car.site s ON s.name = g.site AND s.org = 'MoJ'
JOIN car.meter m ON m.site_id = s.id AND m.name = g.meter
JOIN car.reading r ON r.meter_id = m.id
WHERE g.site NOT LIKE '(%' GROUP BY g.site, g.meter, g.readings, g.kwh ORDER BY 1, 2;
SELECT (SELECT readings FROM gen_totals WHERE site = '(rejected rows)') AS generator_junk,
       (SELECT count(*) FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'eco_a.csv') AS quarantined;
SELECT e.line, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'eco_a.csv' ORDER BY 1;
-- clock changes: 46 half-hours on 31 March 2024, 50 on 27 October, each stored once
SELECT (r.ts AT TIME ZONE 'Europe/London')::date AS local_day, count(*) AS half_hours, count(DISTINCT r.ts) AS distinct_ts
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.org = 'MoJ' AND s.name = 'Site 2' AND m.name = 'Gas meter 2'
  AND (r.ts AT TIME ZONE 'Europe/London')::date IN ('2024-03-30', '2024-03-31', '2024-10-27')
GROUP BY 1 ORDER BY 1;
-- car.push COPYs straight into the monthly partitions (src/ingest_write.c),
-- where car.reading's change-tracking trigger does not fire: it queues the
-- file's meter-days itself, exactly the (meter, UK day)s of its readings,
-- clock-change days included, and no other day of those meters.
SELECT count(*) > 0 AS some_meter_days, count(*) FILTER (WHERE q.meter_id IS NULL) AS not_queued
FROM (SELECT DISTINCT r.meter_id, (r.ts AT TIME ZONE 'Europe/London')::date AS day
      FROM car.reading r JOIN car.source_file f ON f.id = r.file_id WHERE f.name = 'eco_a.csv') d
LEFT JOIN (SELECT DISTINCT meter_id, day FROM car.refresh_queue) q USING (meter_id, day);
SELECT count(*) AS queued_without_readings FROM (SELECT DISTINCT meter_id, day FROM car.refresh_queue) q
WHERE q.meter_id IN (SELECT r.meter_id FROM car.reading r JOIN car.source_file f ON f.id = r.file_id WHERE f.name = 'eco_a.csv')
  AND NOT EXISTS (SELECT 1 FROM car.reading r WHERE r.meter_id = q.meter_id AND (r.ts AT TIME ZONE 'Europe/London')::date = q.day);

-- The header of an eCMS file: Site, Meter, Unit, Date, 00:00 ... 23:30 (a whole day's period starts)
SELECT 'Site,Meter,Unit,Date,' || string_agg(to_char(timestamp '2000-01-01' + i * interval '30 min', 'HH24:MI'), ',' ORDER BY i) AS eco_header
FROM generate_series(0, 47) i \gset
-- A file that gives the same meter-day twice: the later line wins (the upsert
-- path keeps the last of each meter and half-hour), and the earlier line is
-- recorded as repeated in the file (it does not count against the reject ratio)
SELECT rows_loaded, rows_rejected FROM car.push('ecms', 'twice.csv', convert_to(:'eco_header' || E'\nSite 9,Electricity meter 1,kWh,01/02/2024,1,2' || repeat(',', 46) ||
    E'\nSite 9,Electricity meter 1,kWh,01/02/2024,10,20' || repeat(',', 46) || E'\nSite 9,Electricity meter 1,kWh,02/02/2024,3,4' || repeat(',', 46) || E'\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.name = 'Site 9' ORDER BY r.ts;
SELECT e.line, e.raw, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'twice.csv';

-- A meter's readings stay in one unit: a row in another unit is refused, not rescaled
SELECT (car.add_source('units', NULL, 'push', 'long', '{"unit_column": "unit", "meter_column": "meter", "activity": "electricity", "timezone": "UTC"}')).name;
SET car.max_reject_ratio = 0.5;
SELECT rows_loaded, rows_rejected FROM car.push('units', 'units.csv', convert_to(E'meter,time,unit,value\nU1,2024-05-01 00:00,kWh,1\nU1,2024-05-01 00:30,Wh,2000\nU1,2024-05-01 01:00,kWh,3\n', 'UTF8'));
RESET car.max_reject_ratio;
SELECT e.line, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'units.csv';
-- only push sources take pushes
BEGIN;
SELECT name FROM car.add_source('units-polled', 'http://127.0.0.1:1/x.csv', 'file', 'long');
UPDATE car.source SET enabled = false WHERE name = 'units-polled';
COMMIT;
SELECT car.push('units-polled', 'x.csv', '\x41'::bytea);
-- partition upkeep is not for everyone
CREATE ROLE car_test_plain;
GRANT USAGE ON SCHEMA car TO car_test_plain;
SET ROLE car_test_plain;
SELECT car.ensure_partitions('2030-01-01', '2030-01-31');
SELECT car.maintenance();
RESET ROLE;
REVOKE USAGE ON SCHEMA car FROM car_test_plain;
DROP ROLE car_test_plain;

-- A file that is 60% junk is refused whole: nothing of it stays
SELECT count(*) AS files_before FROM car.source_file \gset
SELECT count(*) AS readings_before_junk FROM car.reading \gset
SELECT car.push('ecms', 'eco_junk.csv', pg_read_binary_file(:'fixtures' || '/generated/eco_junk.csv'));
SELECT (SELECT count(*) FROM car.source_file) = :files_before AS nothing_landed,
       (SELECT count(*) FROM car.reading) = :readings_before_junk AS no_readings;

-- truncated, binary, empty, header-only, wrong layout
SELECT car.push('ecms', 'cut.csv', substr(pg_read_binary_file(:'fixtures' || '/generated/eco_b.csv'), 1, 2500));
SELECT car.push('ecms', 'quote.csv', convert_to(E'Site,Meter,Unit,Date,00:00\n"Site 1,M,kWh,01/01/2024,1\n', 'UTF8'));
SELECT car.push('ecms', 'pic.png', '\x89504e470d0a1a0a0000000d49484452'::bytea);
SELECT car.push('ecms', 'empty.csv', ''::bytea);
SELECT car.push('ecms', 'header.csv', convert_to(:'eco_header' || E'\n', 'UTF8'));
SELECT car.push('ecms', 'long.csv', pg_read_binary_file(:'fixtures' || '/cambridge_estates/UCam_Building_b0_gas_2021.csv'));
SELECT car.push('nosuch', 'x.csv', '\x41'::bytea);
SELECT count(*) = :files_before AS still_nothing_landed FROM car.source_file;
-- Past the CSV reader's caps (src/csv.h): a 2 MB line after a good row, and
-- a row of 20,006 fields.  Refused as over a limit (54000) at their line;
-- nothing lands.
SET car_test.error_detail = off;
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql
SELECT count(*) AS readings_before_caps FROM car.reading \gset
SELECT pg_temp.error_of(format($$SELECT car.push('ecms', 'longline.csv', convert_to(%L || E'\nHQ,Main,kWh,01/10/2024,1,2\n'
                                                                   || repeat('x', 2000000) || E'\nHQ,Main,kWh,02/10/2024,1,2\n', 'UTF8'))$$, :'eco_header'));
SELECT pg_temp.error_of(format($$SELECT car.push('ecms', 'wide.csv', convert_to(%L || E'\nHQ,Main,kWh,01/10/2024,1,2'
                                                               || repeat(',', 20000) || E'\n', 'UTF8'))$$, :'eco_header'));
SELECT (SELECT count(*) FROM car.source_file) = :files_before AS nothing_landed_past_caps,
       (SELECT count(*) FROM car.reading) = :readings_before_caps AS no_readings_past_caps;

-- A reading dated 2090 is quarantined, not partitioned (1 row of 21: under the reject ratio)
SELECT status, rows_loaded, rows_rejected FROM car.push('highland', 'future.csv', convert_to(
    E'MPR,ReadDatetime,kWh\n1710035168313,26 Aug 2090 00:30:00,5\n' ||
    (SELECT string_agg(format('1710035168313,%s,1', to_char(t, 'DD Mon YYYY HH24:MI:SS')), E'\n')
     FROM generate_series('2019-08-28 00:30'::timestamp, '2019-08-28 10:30', '30 minutes') t), 'UTF8'));
SELECT e.line, e.raw, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'future.csv';
SELECT count(*) AS partitions_after_2030 FROM pg_class WHERE relname ~ '^reading_p20[3-9]';

-- Long files across clock changes (local times, period start).  In autumn
-- local 01:00 and 01:30 happen twice: in order, both are kept.  In spring
-- 01:00-02:00 does not exist: a reading stamped 01:30 is refused.
SELECT (car.add_source('local-long', NULL, 'push', 'long', '{"meter_column": "meter", "activity": "electricity", "period": "start"}')).name;
SELECT rows_loaded, rows_rejected FROM car.push('local-long', 'autumn.csv', convert_to(E'meter,time,kWh\nL1,2024-10-27 00:30,1\nL1,2024-10-27 01:00,2\nL1,2024-10-27 01:30,3\nL1,2024-10-27 01:00,4\nL1,2024-10-27 01:30,5\nL1,2024-10-27 02:00,6\n', 'UTF8'));
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'L1' ORDER BY r.ts;
SET car.max_reject_ratio = 0.5;
SELECT rows_loaded, rows_rejected FROM car.push('local-long', 'spring.csv', convert_to(E'meter,time,kWh\nL2,2024-03-31 00:30,1\nL2,2024-03-31 01:30,2\nL2,2024-03-31 02:00,3\n', 'UTF8'));
RESET car.max_reject_ratio;
SELECT r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'L2' ORDER BY r.ts;
SELECT e.line, e.message FROM car.ingest_error e JOIN car.source_file f ON f.id = e.file_id WHERE f.name = 'spring.csv';

-- Partitions: ensure_partitions makes the missing months (and only those);
-- rows sitting in the default partition are moved into their month, none lost
SELECT car.ensure_partitions('2021-01-01', '2021-03-31') AS already_there;
INSERT INTO car.reading VALUES ((SELECT id FROM car.meter WHERE name = 'b0 gas'), '2015-05-05 10:00+00', 7.5, NULL),
                               ((SELECT id FROM car.meter WHERE name = 'b0 gas'), '2015-06-05 10:00+00', 2.5, NULL);
SELECT tableoid::regclass, count(*) FROM car.reading WHERE ts < '2016-01-01' GROUP BY 1;
SELECT car.ensure_partitions('2015-05-01', '2015-05-31') AS made;
SELECT tableoid::regclass, count(*), sum(quantity) FROM car.reading WHERE ts < '2016-01-01' GROUP BY 1 ORDER BY 1;
-- maintenance moves the rest, premakes months ahead of now(), and reports
SET car.premake_months = 2;
SELECT (m->>'rows_moved')::int AS rows_moved, (m->>'partitions_created')::int >= 1 AS made_some FROM car.maintenance() m;
SELECT tableoid::regclass, count(*), sum(quantity) FROM car.reading WHERE ts < '2016-01-01' GROUP BY 1 ORDER BY 1;
SELECT count(*) = 3 AS premade FROM pg_class
WHERE relname IN (to_char(now(), '"reading_p"YYYYMM'), to_char(now() + interval '1 month', '"reading_p"YYYYMM'),
                  to_char(now() + interval '2 months', '"reading_p"YYYYMM'));
SELECT car.maintenance()->'rows_moved' AS nothing_left;
-- a range that would need hundreds of partitions is refused
SELECT car.ensure_partitions('1900-01-01', '2200-01-01');
-- partitions belong to the extension's owner, not to whoever triggered them
SELECT count(*) FILTER (WHERE c.relowner <> p.relowner) AS foreign_owned
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'reading';

-- the emission calculator over what was loaded: b0's 2021 electricity
SELECT round(sum(car.co2e(r.quantity, m.unit, m.activity, r.ts))::numeric, 2) AS kg_co2e_2021
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE m.name = 'b0 electricity' AND r.ts >= '2021-01-01' AND r.ts < '2022-01-01';

-- removing a source removes its landed files (and their quarantine rows), not the readings
SELECT car.remove_source('row-per-day');
SELECT car.remove_source('row-per-day');
