-- Compact storage of closed months (issue 17, point 1): car.compact(month)
-- packs a month of car.reading into one row per meter and UK day
-- (car.reading_day), car.reading reads it back unchanged, car.uncompact
-- undoes it.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SELECT car.grant_roles() IS NOT NULL AS roles;
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
SELECT m.id, t, round((1 + random() * 10)::numeric, 3)::float8, 1
FROM cmp_meter m, generate_series('2023-03-01'::timestamptz, '2023-03-31 23:30', '30 min') t WHERE m.kind = 'half-hourly'
UNION ALL
SELECT m.id, t, random() * 10, NULL
FROM cmp_meter m, generate_series('2023-10-01'::timestamptz, '2023-10-31 23:30', '30 min') t WHERE m.kind = 'half-hourly';
-- hourly and daily (at UK midnight)
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, t, random() * 100, 2 FROM cmp_meter m, generate_series('2023-03-01'::timestamptz, '2023-03-31 23:00', '1 hour') t
WHERE m.kind = 'hourly';
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, (d::timestamp AT TIME ZONE 'Europe/London'), random() * 1000, 3
FROM cmp_meter m, generate_series('2023-03-01'::date, '2023-03-31', '1 day') d WHERE m.kind = 'daily';
-- irregular: 7 readings a UTC day at uneven times, some a microsecond off the second
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, d + o * interval '1 second' + (o % 3) * interval '1 microsecond', random(), 4
FROM cmp_meter m, generate_series('2023-03-01'::timestamptz, '2023-03-31', '1 day') d,
     unnest('{0, 611, 7200, 7201, 40000, 50000, 86399}'::int[]) o
WHERE m.kind = 'irregular';
-- estimated readings with their methods, mixed with actual ones in a day
INSERT INTO car.reading (meter_id, ts, quantity, file_id, quality, method)
SELECT m.id, t, random(),
       CASE WHEN extract(hour FROM t) < 6 THEN NULL ELSE 5 END,
       CASE WHEN extract(hour FROM t) < 6 THEN 'estimated' ELSE 'actual' END,
       CASE WHEN extract(hour FROM t) < 3 THEN 'linear' WHEN extract(hour FROM t) < 6 THEN 'same_weekday' END
FROM cmp_meter m, generate_series('2023-03-20'::timestamptz, '2023-03-28 23:30', '30 min') t WHERE m.kind = 'estimated';
-- several files in a day, and readings of no file
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, t, random(), CASE (extract(minute FROM t) + extract(hour FROM t))::int % 3 WHEN 0 THEN 6 WHEN 1 THEN 7 END
FROM cmp_meter m, generate_series('2023-03-25'::timestamptz, '2023-03-27 23:30', '30 min') t WHERE m.kind = 'files';
-- extreme quantities: negative, -0.0, subnormal, the largest and smallest float8, 0.1 + 0.2
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, '2023-03-05 00:00'::timestamptz + (k - 1) * interval '30 min', q, 8
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
-- what the refresh made of them, to compare with later
SELECT car.refresh(true) > 0 AS refreshed;
CREATE TEMP TABLE cmp_emission_rows AS
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
