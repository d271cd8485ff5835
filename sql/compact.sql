-- Compact storage of closed months (issue 17, point 1): car.compact(month)
-- packs a month of car.reading into one row per meter and UK day
-- (car.reading_day), car.reading reads it back unchanged, car.uncompact
-- undoes it.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SELECT car.grant_roles() IS NOT NULL AS roles;
-- the 2023 factor set for the refreshes (the worker test before this one drops car)
SELECT count(*) > 0 AS factors FROM car.load_factors(2023);
INSERT INTO car.site (name, org) VALUES ('Cmp HQ', 'Compact Dept'), ('Cmp Annex', 'Compact Other');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, s.name || ' ' || k, 'electricity', 'kWh'
FROM car.site s, unnest('{half-hourly,hourly,daily,irregular,estimated,files,extremes}'::text[]) k
WHERE s.name LIKE 'Cmp %';
CREATE TEMP TABLE cmp_meter AS
SELECT m.id, split_part(m.name, ' ', 3) AS kind, s.name AS site FROM car.meter m JOIN car.site s ON s.id = m.site_id
WHERE s.name LIKE 'Cmp %';
SELECT car.ensure_partitions('2023-03-01', '2023-10-31') >= 0 AS partitions;

-- The months' readings as text, every float8 by its bits (float8send), for md5.
CREATE FUNCTION pg_temp.month_md5(month date) RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s', meter_id, ts, float8send(quantity), file_id, quality, method),
                               ',' ORDER BY meter_id, ts))
          FROM car.reading WHERE ts >= month AND ts < month + interval '1 month' $$;
CREATE FUNCTION pg_temp.month_count(month date) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM car.reading WHERE ts >= month AND ts < month + interval '1 month' $$;

-- 1. Readings of every shape, in March 2023 (clock change on Sunday 26 March:
--    a UK day of 46 half-hours) and October 2023 (Sunday 29 October: 50).
-- half-hourly, both sites: every half-hour of both months
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, t, round((1 + random() * 10)::numeric, 3)::float8, 900001
FROM cmp_meter m, generate_series('2023-03-01'::timestamptz, '2023-03-31 23:30', '30 min') t WHERE m.kind = 'half-hourly'
UNION ALL
SELECT m.id, t, random() * 10, NULL
FROM cmp_meter m, generate_series('2023-10-01'::timestamptz, '2023-10-31 23:30', '30 min') t WHERE m.kind = 'half-hourly';
-- hourly and daily (at UK midnight)
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, t, random() * 100, 900002 FROM cmp_meter m, generate_series('2023-03-01'::timestamptz, '2023-03-31 23:00', '1 hour') t
WHERE m.kind = 'hourly';
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, (d::timestamp AT TIME ZONE 'Europe/London'), random() * 1000, 900003
FROM cmp_meter m, generate_series('2023-03-01'::date, '2023-03-31', '1 day') d WHERE m.kind = 'daily';
-- irregular: 7 readings a UTC day at uneven times, some a microsecond off the second
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, d + o * interval '1 second' + (o % 3) * interval '1 microsecond', random(), 900004
FROM cmp_meter m, generate_series('2023-03-01'::timestamptz, '2023-03-31', '1 day') d,
     unnest('{0, 611, 7200, 7201, 40000, 50000, 86399}'::int[]) o
WHERE m.kind = 'irregular';
-- estimated readings with their methods, mixed with actual ones in a day
INSERT INTO car.reading (meter_id, ts, quantity, file_id, quality, method)
SELECT m.id, t, random(),
       CASE WHEN extract(hour FROM t) < 6 THEN NULL ELSE 900005 END,
       CASE WHEN extract(hour FROM t) < 6 THEN 'estimated' ELSE 'actual' END,
       CASE WHEN extract(hour FROM t) < 3 THEN 'linear' WHEN extract(hour FROM t) < 6 THEN 'same_weekday' END
FROM cmp_meter m, generate_series('2023-03-20'::timestamptz, '2023-03-28 23:30', '30 min') t WHERE m.kind = 'estimated';
-- several files in a day, and readings of no file (file ids far above
-- car.source_file's, which a pushed file takes below)
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, t, random(), CASE (extract(minute FROM t) + extract(hour FROM t))::int % 3 WHEN 0 THEN 900006 WHEN 1 THEN 900007 END
FROM cmp_meter m, generate_series('2023-03-25'::timestamptz, '2023-03-27 23:30', '30 min') t WHERE m.kind = 'files';
-- extreme quantities: negative, -0.0, subnormal, the largest and smallest float8, 0.1 + 0.2
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, '2023-03-05 00:00'::timestamptz + (k - 1) * interval '30 min', q, 900008
FROM cmp_meter m,
     unnest(ARRAY['-12.5', '-0', '0', '4.9e-324', '2.2250738585072014e-308', '1.7976931348623157e+308',
                  '-1.7976931348623157e+308', '0.30000000000000004']::float8[]) WITH ORDINALITY AS x(q, k)
WHERE m.kind = 'extremes';
-- the rows as written (hand counts): half-hourly 2 x 31 x 48 = 2976 in March
-- and 2976 in October; hourly 2 x 744; daily 2 x 31; irregular 2 x 31 x 7 =
-- 434; estimated 2 x 9 x 48 = 864; files 2 x 3 x 48 = 288; extremes 2 x 8.
-- March: 2976 + 1488 + 62 + 434 + 864 + 288 + 16 = 6128 of these meters.
SELECT count(*) AS march_rows FROM car.reading r JOIN cmp_meter m ON m.id = r.meter_id WHERE r.ts < '2023-04-01';
CREATE TEMP TABLE cmp_before AS
SELECT month, pg_temp.month_md5(month) AS md5, pg_temp.month_count(month) AS n
FROM unnest('{2023-03-01, 2023-10-01}'::date[]) month;
-- what a full and an incremental refresh make of them, to compare with
-- later (the two sum a day's readings in different orders: a full refresh
-- per file first, so their last bits may differ from each other)
SELECT car.refresh(true) > 0 AS refreshed;
CREATE TEMP TABLE cmp_emission_rows AS
SELECT e.* FROM car.emission_daily e JOIN cmp_meter m ON m.id = e.meter_id;
INSERT INTO car.refresh_queue (meter_id, day) SELECT DISTINCT meter_id, day FROM cmp_emission_rows;
SELECT car.refresh() = (SELECT count(DISTINCT (meter_id, day)) FROM cmp_emission_rows) AS incremental_refresh;
CREATE TEMP TABLE cmp_emission_incremental AS
SELECT e.* FROM car.emission_daily e JOIN cmp_meter m ON m.id = e.meter_id;

-- 2. Compaction: every reading of the month moves, the partition keeps none.
SELECT car.compact('2023-03-01') = (SELECT n FROM cmp_before WHERE month = '2023-03-01') AS march_all_compacted;
SELECT car.compact('2023-10-01') = (SELECT n FROM cmp_before WHERE month = '2023-10-01') AS october_all_compacted;
SELECT month, readings = (SELECT n FROM cmp_before b WHERE b.month = c.month) AS readings_recorded
FROM car.compacted_month c ORDER BY month;

-- 3. Lossless, bit for bit: every column of every reading (quality, method,
--    file, -0.0, subnormals) as before; the same after car.uncompact and after
--    compacting again.
SELECT b.month, pg_temp.month_md5(b.month) = b.md5 AS same_after_compact, pg_temp.month_count(b.month) = b.n AS same_count
FROM cmp_before b ORDER BY b.month;
-- the meter-days of the clock changes: 46 and 50 half-hours, in one row each
SELECT d.day, cardinality(d.quantity) AS readings, d.step_us / 1000000 / 60 AS step_minutes
FROM car.reading_day d JOIN cmp_meter m ON m.id = d.meter_id
WHERE m.kind = 'half-hourly' AND m.site = 'Cmp HQ' AND d.day IN ('2023-03-26', '2023-10-29') ORDER BY d.day;
-- The shapes stored (Cmp HQ's meters): a regular grid has a step and no
-- offsets; the irregular meter offsets; one file a day gives file_id, several
-- give file_ids; quality and method arrays only on days with estimates.
-- Hand counts: half-hourly March: local days 1 to 31 March and 1 April (23:00
-- and 23:30 UTC on 31 March are 1 April in BST) = 32 rows; hourly 32 rows
-- likewise (23:00 UTC on 31 March); daily: 31 (UK midnight is in the month);
-- irregular: 31 UTC days, whose readings at 23:xx UTC after 26 March fall
-- on the next UK day: 32 rows, the last (1 April) holding one reading, a
-- grid of one; estimated: 20 to 29 March = 10 rows, of which
-- the days with an hour before 06:00 UTC hold estimates: 20 to 28 March = 9;
-- files: 25 to 28 March = 4 rows.
SELECT m.kind, count(*) AS days, count(d.step_us) AS on_a_grid, count(d.offsets_us) AS with_offsets,
       count(d.file_id) AS one_file, count(d.file_ids) AS several_files, count(d.quality) AS with_quality,
       count(d.method) AS with_method, sum(cardinality(d.quantity)) AS readings
FROM car.reading_day d JOIN cmp_meter m ON m.id = d.meter_id
WHERE m.site = 'Cmp HQ' AND d.month = '2023-03-01' GROUP BY m.kind ORDER BY m.kind;
SELECT car.uncompact('2023-03-01') = (SELECT n FROM cmp_before WHERE month = '2023-03-01') AS march_all_back;
SELECT count(*) AS compact_rows_left FROM car.reading_day WHERE month = '2023-03-01';
SELECT b.month, pg_temp.month_md5(b.month) = b.md5 AS same_after_uncompact FROM cmp_before b ORDER BY b.month;
SELECT car.compact('2023-03-01') = (SELECT n FROM cmp_before WHERE month = '2023-03-01') AS march_compacted_again;
SELECT b.month, pg_temp.month_md5(b.month) = b.md5 AS same_after_compacting_again FROM cmp_before b ORDER BY b.month;
-- compacting a compacted month again changes nothing
SELECT car.compact('2023-03-01') = (SELECT n FROM cmp_before WHERE month = '2023-03-01') AS idempotent;
SELECT pg_temp.month_md5('2023-03-01') = (SELECT md5 FROM cmp_before WHERE month = '2023-03-01') AS still_same;

-- 4. Compaction changes no reading, so it queues no refresh work; a full and
--    an incremental refresh over the compacted months compute the very rows
--    they computed over rows (file_ids compared sorted: they are in no order).
SELECT count(*) AS queued_by_compaction FROM car.refresh_queue q JOIN cmp_meter m ON m.id = q.meter_id;
CREATE FUNCTION pg_temp.emission_md5(rel regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT md5(string_agg(format(%L, e.site_id, e.meter_id, e.day, e.component, float8send(e.quantity), e.kg_co2e, '
                   'e.factor_set_id, float8send(e.quantity_estimated), e.periods_actual, e.periods_estimated, '
                   '(SELECT array_agg(f ORDER BY f) FROM unnest(e.file_ids) f)), '','' ORDER BY e.meter_id, e.day, e.component)) '
                   'FROM %s e WHERE e.meter_id IN (SELECT id FROM cmp_meter)', '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', rel) INTO r;
    RETURN r;
END $$;
SELECT car.refresh(true) > 0 AS full_refresh;
SELECT pg_temp.emission_md5('car.emission_daily') = pg_temp.emission_md5('cmp_emission_rows') AS full_refresh_same,
       (SELECT count(*) FROM car.emission_daily WHERE meter_id IN (SELECT id FROM cmp_meter))
       = (SELECT count(*) FROM cmp_emission_rows) AS same_rows;
INSERT INTO car.refresh_queue (meter_id, day) SELECT DISTINCT meter_id, day FROM cmp_emission_rows;
SELECT car.refresh() = (SELECT count(DISTINCT (meter_id, day)) FROM cmp_emission_rows) AS incremental_refresh;
SELECT pg_temp.emission_md5('car.emission_daily') = pg_temp.emission_md5('cmp_emission_incremental') AS incremental_refresh_same;
-- the incremental refresh's shape: the meter and day come from outside as
-- parameters, and the scan reads only that meter's days through
-- car.reading_day's primary key (shown on March's partition alone: which
-- other partitions exist depends on the tests before)
EXPLAIN (COSTS OFF)
SELECT d.n FROM unnest(ARRAY[1], ARRAY['2023-03-26'::date]) w(meter_id, day)
CROSS JOIN LATERAL (SELECT count(*) AS n FROM car.reading_p202303 r WHERE r.meter_id = w.meter_id
                    AND r.ts >= (w.day::timestamp AT TIME ZONE 'Europe/London')
                    AND r.ts < ((w.day + 1)::timestamp AT TIME ZONE 'Europe/London')) d;
-- read that way, a meter's clock-change days have their 46 and 50 half-hours
SELECT w.day, d.n FROM (SELECT id FROM cmp_meter WHERE kind = 'half-hourly' AND site = 'Cmp HQ') m,
       unnest('{2023-03-26, 2023-10-29, 2023-04-01}'::date[]) w(day)
CROSS JOIN LATERAL (SELECT count(*) AS n FROM car.reading r WHERE r.meter_id = m.id
                    AND r.ts >= (w.day::timestamp AT TIME ZONE 'Europe/London')
                    AND r.ts < ((w.day + 1)::timestamp AT TIME ZONE 'Europe/London')) d ORDER BY w.day;

-- 5. Row-level security over a compacted month: a reader with a token for
--    Compact Dept sees Cmp HQ's readings (March: 6128 / 2 = 3064) and none of
--    Cmp Annex's (Compact Other).
CREATE ROLE car_test_cmp_reader IN ROLE car_reader;
GRANT SELECT ON cmp_meter TO car_test_cmp_reader;
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('cmp-test', 'HS256', 'cmp-test-secret-of-32-bytes-at-least!!');
SELECT car.sign_jwt('{"org": "Compact Dept", "exp": 4102444800}', 'cmp-test') AS tok \gset
BEGIN;
SELECT car.authenticate(:'tok', true) IS NOT NULL AS authenticated;
SET LOCAL ROLE car_test_cmp_reader;
SELECT m.site, count(r.*) AS readings_seen
FROM cmp_meter m LEFT JOIN car.reading r ON r.meter_id = m.id AND r.ts >= '2023-03-01' AND r.ts < '2023-04-01'
GROUP BY m.site ORDER BY m.site;
-- asked for the other organisation's meter by id: nothing
SELECT count(*) AS other_orgs_readings FROM car.reading
WHERE meter_id = (SELECT id FROM cmp_meter WHERE site = 'Cmp Annex' AND kind = 'half-hourly') AND ts < '2023-04-01';
-- no role reads the compact rows themselves
SELECT count(*) FROM car.reading_day;
ROLLBACK;
DELETE FROM car.jwt_key WHERE kid = 'cmp-test';

-- 6. A compacted month's rows are not changed in place: UPDATE, DELETE and
--    row locks are refused with what to do; other months are not affected.
\set VERBOSITY default
UPDATE car.reading SET quantity = 0 WHERE meter_id = (SELECT min(id) FROM cmp_meter) AND ts >= '2023-03-05' AND ts < '2023-03-06';
DELETE FROM car.reading WHERE meter_id = (SELECT min(id) FROM cmp_meter);
SELECT ts FROM car.reading WHERE ts >= '2023-10-01' AND ts < '2023-10-02' FOR UPDATE;
\set VERBOSITY terse
-- a month that is not compacted is updated as before
INSERT INTO car.reading (meter_id, ts, quantity) VALUES ((SELECT min(id) FROM cmp_meter), '2023-05-01 00:00', 1);
UPDATE car.reading SET quantity = 2 WHERE meter_id = (SELECT min(id) FROM cmp_meter) AND ts = '2023-05-01 00:00';
DELETE FROM car.reading WHERE meter_id = (SELECT min(id) FROM cmp_meter) AND ts = '2023-05-01 00:00';
-- an UPDATE or DELETE that reaches the compacted months (no condition on ts)
-- but matches none of their readings runs: the refusal comes when a
-- compacted month's scan yields a row to write.  A meter with one reading,
-- in May.
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, 'Cmp HQ spare', 'electricity', 'kWh' FROM car.site WHERE name = 'Cmp HQ' RETURNING id AS spare \gset
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:spare, '2023-05-02 00:00', 1);
UPDATE car.reading SET quantity = 4 WHERE meter_id = :spare;
SELECT ts, quantity FROM car.reading WHERE meter_id = :spare;
DELETE FROM car.reading WHERE meter_id = :spare;
SELECT count(*) AS spare_readings FROM car.reading WHERE meter_id = :spare;
-- months that are not closed, or have no partition, are refused
SELECT car.compact('2999-01-01');
SELECT car.compact('2023-03-02');
SELECT car.compact('1999-01-01');
SELECT car.uncompact('2023-04-01');
\set VERBOSITY default

-- 7. A late file for a compacted month: car.push of a correction to two
--    half-hours of Cmp HQ's meter on 10 March.  The meter-day goes back to
--    rows, the two readings are superseded, the rest of the month stays
--    compact; the refresh sees the change; car.compact packs the day again.
SELECT id AS hh FROM cmp_meter WHERE kind = 'half-hourly' AND site = 'Cmp HQ' \gset
CREATE TEMP TABLE cmp_old AS
SELECT ts, quantity FROM car.reading WHERE meter_id = :hh AND ts IN ('2023-03-10 10:00', '2023-03-10 10:30');
SELECT quantity AS day_before FROM car.emission_daily WHERE meter_id = :hh AND day = '2023-03-10' AND component = 'generation' \gset
SELECT (car.add_source('cmp-push', NULL, 'push', 'long',
        '{"site": "Cmp HQ", "meter": "Cmp HQ half-hourly", "timezone": "Europe/London", "activity": "electricity", "org": "Compact Dept"}')).name;
SELECT rows_loaded, rows_superseded FROM car.push('cmp-push', 'march-correction.csv',
       convert_to(E'ts,kWh\n2023-03-10 10:00,123.25\n2023-03-10 10:30,0.5\n', 'UTF8'));
SELECT id AS late_file FROM car.source_file WHERE name = 'march-correction.csv' \gset
-- the day is read with its new values and file, its other 46 readings as they were
SELECT count(*) AS day_readings, count(*) FILTER (WHERE file_id = :late_file) AS from_late_file,
       sum(quantity) FILTER (WHERE file_id = :late_file) AS late_quantity
FROM car.reading WHERE meter_id = :hh AND ts >= '2023-03-10' AND ts < '2023-03-11';
-- it is back in rows; the month's other readings stay compact (HQ's meter: 1488 - 48)
SELECT count(*) AS compact_rows_of_the_day FROM car.reading_day WHERE meter_id = :hh AND day = '2023-03-10';
SELECT sum(cardinality(quantity)) AS meter_readings_compact FROM car.reading_day WHERE meter_id = :hh AND month = '2023-03-01';
-- Real-time reports read compacted months too.  Pending now: the late
-- file's day (its rows back in the partition, the rest of March compact)
-- and, queued by hand, four days still wholly compact: HQ's half-hourly
-- meter on the clock change (26 March, 46 readings) and on 1 April (BST:
-- its two readings at 23:00 and 23:30 UTC on 31 March are in March's
-- compacted partition), the several-files meter on 26 March, the estimated
-- meter on 21 March (estimates and actuals in a day).
-- car.emission_current prices them on the fly from car.reading (through
-- the custom scan) and must equal, bit for bit, what car.refresh() then
-- writes to car.emission_daily.
INSERT INTO car.refresh_queue (meter_id, day)
SELECT m.id, d.day FROM cmp_meter m JOIN (VALUES ('half-hourly', '2023-03-26'::date), ('half-hourly', '2023-04-01'),
                                              ('files', '2023-03-26'), ('estimated', '2023-03-21')) d(kind, day)
                                      ON d.kind = m.kind
WHERE m.site = 'Cmp HQ';
SELECT count(*) AS compact_rows_of_the_queued_days
FROM car.reading_day d JOIN cmp_meter m ON m.id = d.meter_id
WHERE m.site = 'Cmp HQ' AND (m.kind, d.day) IN (('half-hourly', '2023-03-26'), ('half-hourly', '2023-04-01'),
                                                ('files', '2023-03-26'), ('estimated', '2023-03-21'));
CREATE TEMP TABLE cmp_current AS
SELECT * FROM car.emission_current WHERE meter_id IN (SELECT id FROM cmp_meter);
-- 5 meter-days x 4 electricity components (generation, T&D, and the WTT
-- of each) = 20 rows priced on the fly: 16 in March, 4 in April
SELECT count(*) FILTER (WHERE real_time) AS real_time_rows,
       count(DISTINCT (meter_id, day)) FILTER (WHERE real_time) AS real_time_meter_days,
       count(*) FILTER (WHERE real_time AND month = '2023-03-01') AS real_time_rows_in_march
FROM cmp_current;
-- a report of one month (WHERE month = ...: car.emission_pending(month)) reads the same rows
CREATE TEMP TABLE cmp_current_march AS
SELECT * FROM car.emission_current WHERE month = '2023-03-01' AND meter_id IN (SELECT id FROM cmp_meter);
CREATE TEMP VIEW cmp_current_march_whole AS SELECT * FROM cmp_current WHERE month = '2023-03-01';
SELECT (SELECT count(*) FROM cmp_current_march) = (SELECT count(*) FROM cmp_current_march_whole) AS march_same_rows,
       pg_temp.emission_md5('cmp_current_march') = pg_temp.emission_md5('cmp_current_march_whole') AS march_same;
-- the refresh: the day's quantity moves by (123.25 + 0.5) - the two old values
SELECT car.refresh() > 0 AS refreshed;
SELECT abs(e.quantity - (:day_before + 123.75 - (SELECT sum(quantity) FROM cmp_old))) < 1e-9 AS day_updated
FROM car.emission_daily e WHERE e.meter_id = :hh AND e.day = '2023-03-10' AND e.component = 'generation';
-- what the reports showed before the refresh is what it wrote
SELECT pg_temp.emission_md5('car.emission_daily') = pg_temp.emission_md5('cmp_current') AS current_was_refreshed,
       (SELECT count(*) FROM car.emission_daily WHERE meter_id IN (SELECT id FROM cmp_meter))
       = (SELECT count(*) FROM cmp_current) AS same_rows,
       (SELECT count(*) FROM car.refresh_queue WHERE meter_id IN (SELECT id FROM cmp_meter)) AS still_queued;
-- packed again: the day now comes from two files; nothing read differs
CREATE TEMP TABLE cmp_late AS SELECT pg_temp.month_md5('2023-03-01') AS md5, pg_temp.month_count('2023-03-01') AS n;
SELECT car.compact('2023-03-01') = (SELECT n FROM cmp_late) AS recompacted;
SELECT count(*) AS compact_rows_of_the_day, count(file_ids) AS with_file_ids
FROM car.reading_day WHERE meter_id = :hh AND day = '2023-03-10';
SELECT pg_temp.month_md5('2023-03-01') = (SELECT md5 FROM cmp_late) AS same_after_recompacting;
-- the same file again loads nothing: the day stays compact
SELECT id = :late_file AS the_same_file FROM car.push('cmp-push', 'march-correction.csv',
       convert_to(E'ts,kWh\n2023-03-10 10:00,123.25\n2023-03-10 10:30,0.5\n', 'UTF8'));
SELECT count(*) AS compact_rows_of_the_day FROM car.reading_day WHERE meter_id = :hh AND day = '2023-03-10';
-- car.estimate into a compacted month: Cmp HQ's hourly meter read as a
-- half-hourly one misses 10:30 on 7 March; linear interpolation between
-- 10:00 and 11:00 writes their mean there, and the day goes back to rows
SELECT id AS hourly FROM cmp_meter WHERE kind = 'hourly' AND site = 'Cmp HQ' \gset
UPDATE car.meter SET interval_minutes = 30 WHERE id = :hourly;
SELECT periods_filled FROM car.estimate(:hourly, '2023-03-07 10:30', '2023-03-07 11:00', 'linear');
SELECT abs(r.quantity - (SELECT avg(quantity) FROM car.reading WHERE meter_id = :hourly AND ts IN ('2023-03-07 10:00', '2023-03-07 11:00'))) < 1e-9
       AS the_mean, r.quality, r.method
FROM car.reading r WHERE r.meter_id = :hourly AND r.ts = '2023-03-07 10:30';
SELECT count(*) AS compact_rows_of_7_march FROM car.reading_day WHERE meter_id = :hourly AND day = '2023-03-07';
-- A file of new readings (nothing stored at its times) takes car.push's
-- COPY path, which writes each month's partition directly, except a
-- partition with triggers of its own: a compacted month's (its row trigger
-- car.compacted_insert) is written through car.reading, so the trigger
-- moves the meter-day back to rows before the reading goes in.  HQ's daily
-- meter: a reading at 12:00 UTC on 31 March (compacted March; UK day 31
-- March, whose midnight reading is compact) and one at 00:00 UTC on 1 April
-- (April's partition, not compacted: written directly).  Both are queued
-- for the refresh.  The trigger fires twice: for the March reading, and for
-- the day's one compact reading as it is written back to rows (where it
-- steps aside); April's partition has no trigger.
SELECT id AS daily FROM cmp_meter WHERE kind = 'daily' AND site = 'Cmp HQ' \gset
SELECT (car.add_source('cmp-push-daily', NULL, 'push', 'long',
        '{"site": "Cmp HQ", "meter": "Cmp HQ daily", "timezone": "UTC", "activity": "electricity", "org": "Compact Dept"}')).name;
SELECT count(*) AS compact_rows_of_31_march FROM car.reading_day WHERE meter_id = :daily AND day = '2023-03-31';
BEGIN;
SET LOCAL track_functions = 'all';
SELECT rows_loaded, rows_superseded FROM car.push('cmp-push-daily', 'new-readings.csv',
       convert_to(E'ts,kWh\n2023-03-31 12:00,11\n2023-04-01 00:00,12\n', 'UTF8'));
SELECT coalesce(sum(calls), 0) AS compacted_insert_calls
FROM pg_stat_xact_user_functions WHERE schemaname = 'car' AND funcname = 'compacted_insert';
COMMIT;
SELECT id AS new_file FROM car.source_file WHERE name = 'new-readings.csv' \gset
-- UK day 31 March: its compact midnight reading (23:00 UTC on 30 March)
-- and the new one, both rows now; 1 April: the new one
SELECT count(*) AS compact_rows_of_31_march FROM car.reading_day WHERE meter_id = :daily AND day = '2023-03-31';
SELECT tableoid::regclass AS partition, ts, file_id = :new_file AS from_the_file,
       CASE WHEN file_id = :new_file THEN quantity END AS new_quantity
FROM car.reading WHERE meter_id = :daily AND ts >= '2023-03-30 23:00' AND ts < '2023-04-02' ORDER BY ts;
SELECT day FROM car.refresh_queue WHERE meter_id = :daily ORDER BY day;

-- 8. Plain writes into a compacted month: an INSERT of a new reading and a
--    COPY move their meter-day back to rows first; a duplicate of a stored
--    reading is refused as without compaction; ON CONFLICT DO NOTHING skips it.
SELECT id AS daily FROM cmp_meter WHERE kind = 'daily' AND site = 'Cmp HQ' \gset
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:daily, '2023-03-15 12:00', 7);
SELECT count(*) AS daily_rows_of_15_march FROM car.reading WHERE meter_id = :daily AND ts >= '2023-03-15' AND ts < '2023-03-16';
SELECT count(*) AS compact_rows_of_15_march FROM car.reading_day WHERE meter_id = :daily AND day = '2023-03-15';
-- (the COPY, which names the meter's id, is not echoed: ids depend on the tests before)
\set ECHO none
SELECT format('COPY car.reading (meter_id, ts, quantity) FROM PROGRAM %L',
              format('printf ''%s\t2023-03-16 12:00:00+00\t8\n%s\t2023-03-16 13:00:00+00\t9\n''', :daily, :daily)) \gexec
\set ECHO all
SELECT count(*) AS daily_rows_of_16_march FROM car.reading WHERE meter_id = :daily AND ts >= '2023-03-16' AND ts < '2023-03-17';
SELECT count(*) AS compact_rows_of_16_march FROM car.reading_day WHERE meter_id = :daily AND day = '2023-03-16';
\set VERBOSITY terse
INSERT INTO car.reading (meter_id, ts, quantity) SELECT :daily, ts, 1 FROM car.reading WHERE meter_id = :daily AND ts = '2023-03-20 00:00';
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:daily, '2023-03-21 00:00', 1) ON CONFLICT DO NOTHING;
-- a limit: INSERT ... ON CONFLICT DO UPDATE of a stored reading of a
-- compacted month fails (the day's readings come back to rows inside the
-- statement, which cannot then update them); car.push, the sources and
-- car.estimate move the days first; by hand, car.uncompact first
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:daily, '2023-03-22 00:00', 1) ON CONFLICT (meter_id, ts) DO UPDATE SET quantity = excluded.quantity;
\set VERBOSITY default
SELECT count(*) AS daily_march_readings FROM car.reading WHERE meter_id = :daily AND ts < '2023-04-01';


-- 9. car.maintenance() compacts the months older than car.compact_after that
--    hold rows of their own: here March (uncompacted first) and October (a
--    late reading since); with 0 it compacts nothing.
CREATE TEMP TABLE cmp_s9 AS SELECT pg_temp.month_md5('2023-03-01') AS md5;
SELECT car.uncompact('2023-03-01') > 0 AS march_back_to_rows;
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:daily, '2023-10-10 12:00', 5);
SET car.compact_after = 0;
SELECT car.maintenance()->'months_compacted' AS months_compacted_when_0;
SELECT count(*) AS march_compacted FROM car.compacted_month WHERE month = '2023-03-01';
SET car.compact_after = 3;
SELECT (car.maintenance()->>'months_compacted')::int >= 2 AS compacted_them;
SELECT month FROM car.compacted_month WHERE month IN ('2023-03-01', '2023-10-01') ORDER BY month;
SELECT count(*) AS late_october_day_packed FROM car.reading_day WHERE meter_id = :daily AND day = '2023-10-10';
SELECT pg_temp.month_md5('2023-03-01') = (SELECT md5 FROM cmp_s9) AS march_as_before;
-- a later run empties the partitions of car.reading that months compacted
-- before left behind (their deleted rows' pages, their primary key's
-- entries) once no snapshot from before the compaction is left; they are
-- truncated (an index keeps its one metapage).  (Run until done, for up to
-- 10 s: another session's snapshot, an autoanalyze's, may delay it; a
-- background car-maintenance may do it first.)
SELECT pg_relation_size('car.reading_p202303') > 0 AS march_pages_before;
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        PERFORM car.maintenance();
        EXIT WHEN pg_relation_size('car.reading_p202303') = 0 AND pg_relation_size('car.reading_p202310') = 0;
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
SELECT pg_relation_size('car.reading_p202303') AS march_bytes, pg_relation_size('car.reading_p202310') AS october_bytes,
       pg_indexes_size('car.reading_p202303') AS march_index_bytes;
SELECT pg_temp.month_md5('2023-03-01') = (SELECT md5 FROM cmp_s9) AS march_still_as_before;
RESET car.compact_after;
-- who may compact: car.maintenance()'s worker role and car_admin, not a reader
\set VERBOSITY terse
SET ROLE car_reader;
SELECT car.compact('2023-03-01');
SELECT count(*) FROM car.compacted_month;
RESET ROLE;
\set VERBOSITY default
SELECT set_config('role', current_setting('car.worker_role'), false) IS NOT NULL AS as_worker;
CREATE TEMP TABLE cmp_s9_oct AS SELECT pg_temp.month_md5('2023-10-01') AS md5, pg_temp.month_count('2023-10-01') AS n;
-- (both in one statement: compact must see what uncompact wrote before it)
SELECT car.uncompact('2023-10-01') = (SELECT n FROM cmp_s9_oct) AS worker_uncompacts,
       car.compact('2023-10-01') = (SELECT n FROM cmp_s9_oct) AS worker_compacts;
RESET ROLE;
SELECT pg_temp.month_md5('2023-10-01') = (SELECT md5 FROM cmp_s9_oct) AS october_as_before,
       (SELECT readings FROM car.compacted_month WHERE month = '2023-10-01') = (SELECT n FROM cmp_s9_oct) AS recorded;

REVOKE SELECT ON cmp_meter FROM car_test_cmp_reader;
DROP ROLE car_test_cmp_reader;

-- Put things back for the tests after this one: every month compacted here
-- (March, October, and those car.maintenance() found older) back to rows,
-- since an UPDATE or DELETE of car.reading that reaches a compacted month is
-- refused; then these meters' readings deleted (their extreme quantities,
-- 1.797e308 among them, would fail a later test's CHECK on car.reading) and
-- refreshed away.
SELECT count(car.uncompact(month)) >= 2 AS uncompacted FROM car.compacted_month;
SELECT (SELECT count(*) FROM car.compacted_month) AS months_compacted, (SELECT count(*) FROM car.reading_day) AS compact_rows;
DELETE FROM car.reading WHERE meter_id IN (SELECT id FROM cmp_meter);
SELECT car.refresh() >= 0 AS refreshed;
SELECT (SELECT count(*) FROM car.reading WHERE meter_id IN (SELECT id FROM cmp_meter)) AS readings_left,
       (SELECT count(*) FROM car.emission_daily WHERE meter_id IN (SELECT id FROM cmp_meter)) AS emission_rows_left;
