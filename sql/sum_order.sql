-- A day's quantity does not depend on how it was computed (the soak found
-- the incremental car.refresh() and car.refresh(true) 1 ulp apart on 420
-- meter-days): readings are summed in numeric over car.float8_decimal, so
-- the order of the rows and the grouping (the full refresh sums per file
-- first, the incremental one in index order; car.emission_current prices
-- pending days on either path) change no bit.
--
-- Checked bit for bit (float8send) over generated meter-days whose float8
-- sums do depend on the order (values 0.1, 0.7, 1e-3, 1/3, 1e15 ...; the
-- test shows they do): incremental == full == real-time rows, then again
-- after the readings are written back in another physical order, after
-- later files supersede some of them, and after a CLUSTER.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = error;
SET jit = off;
SELECT setseed(0.4242);

-- car.float8_decimal: the shortest decimal that reads back as the float8.
-- By hand: 0.1 and 0.7 print as themselves; 25/12 = 2.08333... whose nearest
-- float8 prints as 2.0833333333333335 (17 digits, where float8::numeric keeps
-- 15: 2.08333333333333); 0.46337999999999996 is the float8 before 0.46338
-- (Excel's noise, docs/PITFALLS); 1e15 is exact; 5e-324 is the smallest subnormal.
SELECT car.float8_decimal(0.1) AS a, car.float8_decimal(0.7) AS b, car.float8_decimal(25 / 12::float8) AS c,
       (25 / 12::float8)::numeric AS c_pg_cast, car.float8_decimal(0.46337999999999996) AS d, 0.46337999999999996::float8 <> 0.46338::float8 AS d_not_0_46338,
       car.float8_decimal(1e15) AS e, car.float8_decimal(-0.001) AS f,
       car.float8_decimal(5e-324) = 5e-324::numeric AS g;
-- Every float8 comes back unchanged (float8::numeric does not: it rounds to 15 digits).
SELECT count(*) AS values_tried,
       count(*) FILTER (WHERE car.float8_decimal(x)::float8 <> x) AS changed,
       count(*) FILTER (WHERE x::numeric::float8 <> x) > 0 AS pg_cast_changes_some
FROM (SELECT (random() - 0.5) * 10 ^ (random() * 40 - 20) AS x FROM generate_series(1, 20000)) v;
-- Ten readings of 0.1 sum to exactly 1 (in float8, 0.1 added ten times is
-- 0.9999999999999999); 0.1 + 0.2 is 0.3 (float8: 0.30000000000000004).
SELECT sum(car.float8_decimal(0.1))::float8 = 1 AS ten_tenths, sum(0.1::float8) = 1 AS float8_ten_tenths,
       (SELECT sum(car.float8_decimal(x))::float8 FROM unnest('{0.1,0.2}'::float8[]) x) = 0.3 AS tenth_and_fifth
FROM generate_series(1, 10);

-- The estate: 24 meters (electricity and natural gas) on three sites, six UK
-- days around the spring clock change (2023-03-26: 46 half-hours), half-hourly
-- readings from three files, a tenth estimated, written in random order.
SELECT car.ensure_partitions('2023-03-01', '2023-05-01') >= 0 AS partitions;
INSERT INTO car.site (name, org) SELECT 'SO site ' || i, 'SO org' FROM generate_series(1, 3) i;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, s.name || ' ' || a || ' ' || k, a, 'kWh'
FROM car.site s, unnest('{electricity,natural_gas}'::text[]) a, generate_series(1, 4) k WHERE s.name LIKE 'SO site %';
INSERT INTO car.source (name, kind) VALUES ('SO files', 'push');
INSERT INTO car.source_file (source_id, name, sha256, bytes, status)
SELECT s.id, 'so-' || i || '.csv', repeat(to_hex(i), 64), 1, 'loaded' FROM car.source s, generate_series(1, 5) i WHERE s.name = 'SO files';
CREATE TEMP TABLE so_file AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM car.source_file WHERE name LIKE 'so-%.csv';
CREATE TEMP TABLE so_meter AS SELECT m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'SO site %';
-- values whose float8 sums round differently in different orders
CREATE TEMP TABLE so_reading AS
SELECT m.id AS meter_id, t.ts,
       ('{0.1, 0.7, 0.001, 0.3, 0.2, 1e15, 123.456, 1e-7, 7.7e13, 0.017}'::float8[]
        || ARRAY[1 / 3::float8, 2 / 3::float8, 25 / 12::float8, 1e15 + 0.125])[1 + floor(random() * 14)::int] AS quantity,
       (SELECT array_agg(id ORDER BY n) FROM so_file)[1 + floor(random() * 3)::int] AS file_id,
       random() < 0.1 AS estimated
FROM so_meter m,
     generate_series(timestamp '2023-03-24' AT TIME ZONE 'Europe/London', timestamp '2023-03-30' AT TIME ZONE 'Europe/London' - interval '30 minutes',
                     interval '30 minutes') t(ts);
SELECT count(*) AS readings, count(DISTINCT quantity) AS values, count(DISTINCT file_id) AS files,
       count(*) FILTER (WHERE estimated) > 0 AS some_estimated FROM so_reading;

-- The readings, in an order given by seed (physical order of the heap).
CREATE FUNCTION pg_temp.write_readings(seed float8) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    DELETE FROM car.reading WHERE meter_id IN (SELECT id FROM so_meter);
    INSERT INTO car.reading (meter_id, ts, quantity, file_id, quality, method)
    SELECT meter_id, ts, quantity, CASE WHEN NOT estimated THEN file_id END,
           CASE WHEN estimated THEN 'estimated' ELSE 'actual' END, CASE WHEN estimated THEN 'linear' END
    FROM so_reading ORDER BY random();
END $$;
-- Each emission row of the estate as bits: every float8 by float8send, the counts and files.
CREATE FUNCTION pg_temp.rows_of(rel regclass) RETURNS TABLE (meter_id int, day date, component text, bits text) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT e.meter_id, e.day, e.component, concat_ws('' '', float8send(e.quantity), float8send(e.quantity_estimated), '
        '  float8send(e.kg_co2e), float8send(e.kg_co2), float8send(e.kg_ch4), float8send(e.kg_n2o), float8send(e.kg_co2e_market), '
        '  e.periods_actual, e.periods_estimated, e.file_ids::text) '
        'FROM %s e WHERE e.meter_id IN (SELECT id FROM so_meter)', rel);
END $$;
CREATE TEMP TABLE so_snap (label text, meter_id int, day date, component text, bits text);
CREATE FUNCTION pg_temp.snap(label text, rel regclass DEFAULT 'car.emission_daily') RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO so_snap SELECT label, r.* FROM pg_temp.rows_of(rel) r;
    SELECT count(*) FROM so_snap s WHERE s.label = snap.label;
$$;
-- Rows of a that b lacks, and of b that a lacks (0 and 0: the same bits).
CREATE FUNCTION pg_temp.differ(a text, b text) RETURNS text LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM (SELECT meter_id, day, component, bits FROM so_snap WHERE label = a
                                  EXCEPT SELECT meter_id, day, component, bits FROM so_snap WHERE label = b) x)
           || ' / ' ||
           (SELECT count(*) FROM (SELECT meter_id, day, component, bits FROM so_snap WHERE label = b
                                  EXCEPT SELECT meter_id, day, component, bits FROM so_snap WHERE label = a) x);
$$;

-- 1. Written in random order, refreshed incrementally (the queued days).
SELECT pg_temp.write_readings(0.11);
-- The cases matter: on most meter-days a float8 sum in time order and one
-- in reverse time order differ, and one grouped by file (a test of sums
-- whose order does not matter could not fail).
SELECT count(*) AS meter_days, count(*) FILTER (WHERE by_time <> by_time_desc) > 50 AS float8_order_matters,
       count(*) FILTER (WHERE by_time <> by_file) > 50 AS float8_grouping_matters
FROM (SELECT r.meter_id, (r.ts AT TIME ZONE 'Europe/London')::date AS day,
             float8send(sum(r.quantity ORDER BY r.ts)) AS by_time, float8send(sum(r.quantity ORDER BY r.ts DESC)) AS by_time_desc,
             float8send(sum(r.quantity ORDER BY r.file_id, r.ts DESC)) AS by_file
      FROM car.reading r WHERE r.meter_id IN (SELECT id FROM so_meter) GROUP BY 1, 2) d;
-- Before the refresh, the real-time rows (car.emission_current prices the
-- queued days by the incremental statement).
SELECT pg_temp.snap('current 1', 'car.emission_current') AS current_rows;
SELECT car.refresh() >= 0 AS refreshed;
SELECT pg_temp.snap('incremental 1') AS rows;
-- by hand: 24 meters x 6 days = 144 meter-days; electricity gives 2
-- components (generation, T&D) and natural gas 1 at least, so > 144 rows
SELECT count(DISTINCT (meter_id, day)) AS meter_days FROM so_snap WHERE label = 'incremental 1';
SELECT car.refresh(true) >= 0 AS refreshed_in_full;
SELECT pg_temp.snap('full 1') AS rows;
SELECT pg_temp.differ('incremental 1', 'full 1') AS incremental_vs_full, pg_temp.differ('current 1', 'full 1') AS current_vs_full;
-- The day quantity is the sum of the decimals (computed apart, here in
-- time order) cast once, and the estimated part likewise.
SELECT count(*) AS meter_days,
       count(*) FILTER (WHERE float8send(e.quantity) <> float8send(x.q)) AS quantity_differs,
       count(*) FILTER (WHERE float8send(e.quantity_estimated) <> float8send(x.qe)) AS estimated_differs
FROM (SELECT DISTINCT meter_id, day, quantity, quantity_estimated FROM car.emission_daily
      WHERE meter_id IN (SELECT id FROM so_meter)) e
JOIN (SELECT r.meter_id, (r.ts AT TIME ZONE 'Europe/London')::date AS day,
             sum(car.float8_decimal(r.quantity) ORDER BY r.ts)::float8 AS q,
             coalesce(sum(car.float8_decimal(r.quantity) ORDER BY r.ts) FILTER (WHERE r.quality = 'estimated'), 0)::float8 AS qe
      FROM car.reading r WHERE r.meter_id IN (SELECT id FROM so_meter) GROUP BY 1, 2) x
  ON x.meter_id = e.meter_id AND x.day = e.day;

-- 2. The same readings written back in another order: incremental, then full.
SELECT pg_temp.write_readings(0.77);
SELECT pg_temp.snap('current 2', 'car.emission_current') AS current_rows;
SELECT car.refresh() >= 0 AS refreshed;
SELECT pg_temp.snap('incremental 2') AS rows;
SELECT car.refresh(true) >= 0 AS refreshed_in_full;
SELECT pg_temp.snap('full 2') AS rows;
SELECT pg_temp.differ('incremental 2', 'full 1') AS incremental_vs_before, pg_temp.differ('full 2', 'full 1') AS full_vs_before,
       pg_temp.differ('current 2', 'full 1') AS current_vs_before;

-- 3. Later files supersede a third of the actual readings (new values,
-- the file of the push), in random order, some out of time order: then a
-- CLUSTER rewrites the partition in key order.
UPDATE car.reading r SET quantity = u.quantity, file_id = u.file_id
FROM (SELECT r2.meter_id, r2.ts,
             ('{0.3, 1e15, 0.1, 0.7, 1e-3}'::float8[])[1 + floor(random() * 5)::int] AS quantity,
             (SELECT array_agg(id ORDER BY n) FROM so_file)[4 + floor(random() * 2)::int] AS file_id
      FROM car.reading r2 WHERE r2.meter_id IN (SELECT id FROM so_meter) AND r2.quality = 'actual' AND random() < 0.33
      ORDER BY random()) u
WHERE r.meter_id = u.meter_id AND r.ts = u.ts;
SELECT pg_temp.snap('current 3', 'car.emission_current') AS current_rows;
SELECT car.refresh() >= 0 AS refreshed;
SELECT pg_temp.snap('incremental 3') AS rows;
SELECT car.refresh(true) >= 0 AS refreshed_in_full;
SELECT pg_temp.snap('full 3') AS rows;
SELECT pg_temp.differ('incremental 3', 'full 3') AS incremental_vs_full, pg_temp.differ('current 3', 'full 3') AS current_vs_full,
       pg_temp.differ('full 3', 'full 1') <> '0 / 0' AS superseded_changed_days;
CLUSTER car.reading_p202303 USING reading_p202303_pkey;
SELECT car.refresh(true) >= 0 AS refreshed_in_full;
SELECT pg_temp.snap('clustered 3') AS rows;
SELECT pg_temp.differ('clustered 3', 'full 3') AS clustered_vs_full;
