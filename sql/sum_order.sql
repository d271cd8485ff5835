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
-- later files supersede some of them, and after a CLUSTER.  Then the
-- half-hourly sums (4): car.report_time_of_use's lines and the market-based
-- half-hourly matching (src/market.c) likewise, whatever the physical order
-- of the readings and the plan that reads them.
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

-- 4. Half-hours.  car.report_time_of_use sums each meter-day's readings,
-- kWh x the intensity of their half-hour, in numeric; the market-based
-- half-hourly matching sums the readings of each half-hour of meters of
-- 30 minutes or less (src/market.c) likewise.  Their figures must not
-- depend on the physical order of the readings nor on the plan.
-- GB intensity of every half-hour of the six days (gCO2/kWh, any float8
-- between 50 and 350): a tenth forecast only, a twentieth missing.
INSERT INTO car.grid_intensity (region, period_start, forecast, actual)
SELECT 'GB', t, 50 + 300 * random(), CASE WHEN random() >= 0.1 THEN 50 + 300 * random() END
FROM generate_series(timestamp '2023-03-24' AT TIME ZONE 'Europe/London', timestamp '2023-03-30' AT TIME ZONE 'Europe/London' - interval '30 minutes',
                     interval '30 minutes') t
WHERE random() >= 0.05
ON CONFLICT (region, period_start) DO UPDATE SET forecast = excluded.forecast, actual = excluded.actual;
-- The time-of-use lines of the estate's half-hourly electricity meters as
-- bits (all but the statutory columns, a report's sum over car.emission_daily
-- rows: see the README, "Exact sums").
CREATE FUNCTION pg_temp.snap_tou(label text) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO so_snap
    SELECT label, t.meter_id, t.month, 'time of use',
           concat_ws(' ', float8send(t.kwh), float8send(t.kwh_priced), float8send(t.kg_co2_time_of_use), float8send(t.load_weighted_gco2_per_kwh),
                     float8send(t.mean_gco2_per_kwh), float8send(t.kg_co2_simple_mean), float8send(t.load_weighting_ratio),
                     t.periods, t.periods_forecast, t.periods_without_intensity)
    FROM car.report_time_of_use t WHERE t.meter_id IN (SELECT id FROM so_meter);
    SELECT count(*) FROM so_snap s WHERE s.label = snap_tou.label;
$$;
SELECT pg_temp.write_readings(0.11);
SELECT pg_temp.snap_tou('tou 1') AS lines;
-- The cases matter: in float8, a meter-day's kWh x intensity summed in
-- time order and in reverse differ on most of them.
SELECT count(*) FILTER (WHERE a <> b) > 20 AS float8_order_matters
FROM (SELECT float8send(sum(r.quantity * coalesce(g.actual, g.forecast) ORDER BY r.ts)) AS a,
             float8send(sum(r.quantity * coalesce(g.actual, g.forecast) ORDER BY r.ts DESC)) AS b
      FROM car.reading r JOIN car.meter m ON m.id = r.meter_id AND m.activity = 'electricity'
      JOIN car.grid_intensity g ON g.region = 'GB' AND g.period_start = r.ts
      WHERE r.meter_id IN (SELECT id FROM so_meter) GROUP BY r.meter_id, (r.ts AT TIME ZONE 'Europe/London')::date) d;
SELECT pg_temp.write_readings(0.77);
SELECT pg_temp.snap_tou('tou 2') AS lines;
CLUSTER car.reading_p202303 USING reading_p202303_pkey;
SET enable_hashagg = off;
SELECT pg_temp.snap_tou('tou 3') AS lines;
RESET enable_hashagg;
SELECT pg_temp.differ('tou 1', 'tou 2') AS reordered, pg_temp.differ('tou 1', 'tou 3') AS clustered_sorted;
-- By hand: each line's kWh and kg CO2 are the sums of the decimals
-- (computed apart, in time order) cast once: kWh = sum(q); kg = sum(q x g) / 1000
-- over the half-hours with an intensity (the actual, else the forecast).
SELECT count(*) AS lines,
       count(*) FILTER (WHERE float8send(t.kwh) <> float8send(x.kwh)) AS kwh_differs,
       count(*) FILTER (WHERE float8send(t.kg_co2_time_of_use) <> float8send(x.kg)) AS kg_differs,
       count(*) FILTER (WHERE t.periods_forecast > 0 AND t.periods_without_intensity > 0) = count(*) AS every_line_has_both
FROM car.report_time_of_use t
JOIN (SELECT r.meter_id, sum(car.float8_decimal(r.quantity) ORDER BY r.ts)::float8 AS kwh,
             coalesce(sum(car.float8_decimal(r.quantity * coalesce(g.actual, g.forecast)) ORDER BY r.ts), 0)::float8 / 1000 AS kg
      FROM car.reading r LEFT JOIN car.grid_intensity g ON g.region = 'GB' AND g.period_start = r.ts
      WHERE r.meter_id IN (SELECT id FROM so_meter) GROUP BY r.meter_id) x ON x.meter_id = t.meter_id
WHERE t.meter_id IN (SELECT id FROM so_meter);

-- Half-hourly matching: two 5-minute electricity meters (six readings a
-- half-hour) at the first site, and a time-stamped certificate on every
-- third half-hour, of up to 200 kWh: one in three for the whole
-- organisation (its half-hourly meters too: shared out pro rata), the others
-- for one of the 5-minute meters (some cover their half-hour whole).
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, 'SO 5-minute ' || k, 'electricity', 'kWh', 5 FROM car.site s, generate_series(1, 2) k WHERE s.name = 'SO site 1';
CREATE TEMP TABLE so_fine AS
SELECT m.id AS meter_id, t.ts,
       ('{0.1, 0.7, 0.001, 0.3, 0.2, 123.456, 1e-7, 0.017, 7.7e3}'::float8[]
        || ARRAY[1 / 3::float8, 2 / 3::float8, 25 / 12::float8])[1 + floor(random() * 12)::int] AS quantity
FROM car.meter m,
     generate_series(timestamp '2023-03-24' AT TIME ZONE 'Europe/London', timestamp '2023-03-30' AT TIME ZONE 'Europe/London' - interval '5 minutes',
                     interval '5 minutes') t(ts)
WHERE m.name LIKE 'SO 5-minute %';
CREATE FUNCTION pg_temp.write_fine(seed float8) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    DELETE FROM car.reading WHERE meter_id IN (SELECT meter_id FROM so_fine);
    INSERT INTO car.reading (meter_id, ts, quantity) SELECT meter_id, ts, quantity FROM so_fine ORDER BY random();
END $$;
INSERT INTO car.instrument (org, kind, meter_id, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
SELECT 'SO org', 'certificate', (SELECT array_agg(DISTINCT meter_id ORDER BY meter_id) FROM so_fine)[nullif(n % 3, 0)], '2023-03-01', '2023-03-31', t,
       round((0.5 + 200 * random())::numeric, 3), 0.0123, '2023-04-15', 'SO stamped ' || n
FROM generate_series(timestamp '2023-03-24' AT TIME ZONE 'Europe/London', timestamp '2023-03-30' AT TIME ZONE 'Europe/London' - interval '30 minutes',
                     interval '90 minutes') WITH ORDINALITY AS h(t, n);
-- The market figures of the organisation as bits: the day rows' market
-- columns, car.market_allocation's rows, what each certificate applied.
CREATE FUNCTION pg_temp.snap_market(label text) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO so_snap
    SELECT label, e.meter_id, e.day, e.component, concat_ws(' ', float8send(e.kg_co2e_market), float8send(e.kg_co2e_market_half_hourly), e.market_basis)
    FROM car.emission_daily e JOIN car.site s ON s.id = e.site_id WHERE s.org = 'SO org' AND e.scope = 2
    UNION ALL
    SELECT label, a.meter_id, a.day, concat_ws(' ', a.matching, a.basis, a.instrument_id), concat_ws(' ', float8send(a.kwh), float8send(a.kg_co2e))
    FROM car.market_allocation a WHERE a.org = 'SO org'
    UNION ALL
    SELECT label, NULL, p.first_day, concat_ws(' ', p.instrument_id, p.matching), concat_ws(' ', float8send(p.kwh), p.meter_days, p.last_day)
    FROM car.instrument_applied p WHERE p.org = 'SO org';
    SELECT count(*) FROM so_snap s WHERE s.label = snap_market.label;
$$;
SELECT pg_temp.write_fine(0.21);
-- The cases matter: a half-hour's six readings summed in float8 in time
-- order and in reverse differ on many half-hours.  By hand: 2 meters x
-- (6 days x 48 - 2 half-hours the clock skips on 2023-03-26) = 572 half-hours.
SELECT count(*) AS half_hours, count(*) FILTER (WHERE a <> b) > 20 AS float8_order_matters
FROM (SELECT float8send(sum(quantity ORDER BY ts)) AS a, float8send(sum(quantity ORDER BY ts DESC)) AS b
      FROM car.reading WHERE meter_id IN (SELECT meter_id FROM so_fine) GROUP BY meter_id, date_bin('30 minutes', ts, timestamptz '2000-01-01')) h;
SELECT car.refresh(true) >= 0 AS refreshed_in_full;
SELECT pg_temp.snap_market('market 1') > 0 AS rows;
-- certificates matched half-hours of both kinds of meter, some pro rata
SELECT count(DISTINCT a.meter_id) FILTER (WHERE a.meter_id IN (SELECT meter_id FROM so_fine)) AS fine_meters_matched,
       count(DISTINCT a.meter_id) FILTER (WHERE a.meter_id IN (SELECT id FROM so_meter)) > 0 AS half_hourly_meters_matched,
       (SELECT count(*) FILTER (WHERE p.kwh < i.volume_kwh) > 0 AND count(*) FILTER (WHERE p.kwh < i.volume_kwh) < count(*)
        FROM car.instrument_applied p JOIN car.instrument i ON i.id = p.instrument_id WHERE i.org = 'SO org') AS some_cover_whole_some_pro_rata
FROM car.market_allocation a WHERE a.org = 'SO org' AND a.matching = 'half_hourly' AND a.basis = 'certificate';
-- Written in another order, read in physical order (a bitmap heap scan
-- instead of the index's time order), refreshed in full, then incrementally.
SELECT pg_temp.write_fine(0.88);
SET enable_indexscan = off;
SELECT car.refresh(true) >= 0 AS refreshed_in_full;
SELECT pg_temp.snap_market('market 2') > 0 AS rows;
SELECT pg_temp.write_fine(0.55);
SELECT car.refresh() >= 0 AS refreshed;
SELECT pg_temp.snap_market('market 3') > 0 AS rows;
RESET enable_indexscan;
SELECT pg_temp.differ('market 1', 'market 2') AS reordered_full, pg_temp.differ('market 1', 'market 3') AS reordered_incremental;
