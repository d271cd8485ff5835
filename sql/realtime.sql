-- Real-time reports (issue 17 point 2).  The meter-days car.refresh() has
-- not recomputed yet (car.refresh_queue, car.refresh_year, or everything
-- when a full refresh is due) are priced when a report reads them, by the
-- refresh's own statement, and replace their stale car.emission_daily rows
-- (car.emission_current, under car.emission_live and every report).
--
-- The rule checked: every report read before car.refresh() equals the same
-- report read after it (EXCEPT both ways, figures to 6 decimals), over
-- rounds of generated changes: new readings, later values superseding
-- earlier ones, deleted readings (part of a day, whole days), a published
-- factor revised (its year queued), meters moved between sites and between
-- organisations, a full refresh due; report_monthly also read one month at
-- a time (car.emission_current then prices that month's days only).  Then
-- row-level security over the real-time rows, and a closed period keeping
-- its signed figures.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
-- (error: car.refresh() warns of the days earlier tests left unpriceable)
SET client_min_messages = error;
SET jit = off;
SELECT setseed(0.1717);

SELECT car.ensure_partitions('2022-01-01', '2024-01-01') >= 0 AS partitions;
-- two organisations, three sites each, an electricity and a gas meter a site
INSERT INTO car.site (name, org, floor_area_m2)
SELECT 'RT site ' || i, 'RT ' || chr(64 + 1 + i % 2), 500 + 10 * i FROM generate_series(1, 6) i;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, s.name || ' ' || a, a, 'kWh'
FROM car.site s, unnest('{electricity,natural_gas}'::text[]) a WHERE s.name LIKE 'RT site %';
-- four readings a UK day (00:00, 06:00, 12:00, 18:00) from 2022-12-01 to
-- 2023-02-28: 90 days, 12 meters
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, (d + h * interval '6 hours') AT TIME ZONE 'Europe/London', 10 + m.id % 5 + h + extract(day FROM d)
FROM car.meter m JOIN car.site s ON s.id = m.site_id,
     generate_series(date '2022-12-01', date '2023-02-28', interval '1 day') d, generate_series(0, 3) h
WHERE s.name LIKE 'RT site %';
SELECT car.refresh() >= 0 AS refreshed;
SELECT count(*) AS rt_days_left FROM car.refresh_pending() q JOIN car.meter m ON m.id = q.meter_id
JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'RT site %';

-- Every report as rows: its columns other than float8 and numeric ones
-- as one text key, its figures as an array, compared to a billionth (a
-- report adds float8 rows in no fixed order, so sums differ in their last
-- bits; figures with few decimals make any rounding of them land on ties).
-- The market-based columns of report_scope2 wait for the allocation: they
-- are checked apart below.
CREATE FUNCTION pg_temp.report_rows(report text, filter text DEFAULT 'true') RETURNS TABLE (key text, nums float8[]) LANGUAGE plpgsql AS $$
DECLARE
    keys text;
    nums text;
BEGIN
    SELECT string_agg(format('coalesce(r.%I::text, ''-'')', a.attname), ' || '' '' || ' ORDER BY a.attnum)
           FILTER (WHERE a.atttypid NOT IN ('float8'::regtype, 'numeric'::regtype)),
           string_agg(format('r.%I', a.attname), ', ' ORDER BY a.attnum)
           FILTER (WHERE a.atttypid IN ('float8'::regtype, 'numeric'::regtype)
                   AND NOT (report = 'report_scope2' AND a.attname LIKE 'market%'))
    INTO keys, nums
    FROM pg_attribute a WHERE a.attrelid = ('car.' || report)::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    RETURN QUERY EXECUTE format('SELECT %s, ARRAY[%s]::float8[] FROM car.%I r WHERE %s', keys, nums, report, filter);
END $$;
CREATE FUNCTION pg_temp.near(a float8[], b float8[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT cardinality(a) = cardinality(b)
           AND coalesce(bool_and(x IS NOT DISTINCT FROM y OR abs(x - y) <= 1e-9 * greatest(1, abs(x))), true)
    FROM unnest(a, b) u(x, y) $$;
CREATE TEMP TABLE rt_report (report text);
INSERT INTO rt_report VALUES ('report_monthly'), ('report_yearly'), ('report_scope'), ('report_intensity'),
    ('report_scope2'), ('report_ggc'), ('report_time_of_use');
CREATE TEMP TABLE rt_snap (round int, report text, stage text, key text, nums float8[]);
CREATE TEMP TABLE rt_current AS SELECT * FROM car.emission_current WHERE false;
CREATE TEMP TABLE rt_round (round int, kinds text, pending bigint, real_time_rows bigint, full_due boolean,
                            stale_differs boolean);
CREATE FUNCTION pg_temp.snap(rnd int, stage text, every_report boolean, by_month boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    FOR r IN SELECT report FROM rt_report WHERE every_report OR report = 'report_monthly' LOOP
        INSERT INTO rt_snap SELECT rnd, r, stage, l.key, l.nums FROM pg_temp.report_rows(r) l;
    END LOOP;
    -- report_monthly read one month at a time, as a dashboard does: the
    -- month reaches car.emission_current, which then prices that month's
    -- pending days only (two of RT's four months)
    INSERT INTO rt_snap
    SELECT rnd, 'report_monthly by month', stage, l.key, l.nums
    FROM unnest('{2022-12-01,2023-02-01}'::date[]) mo,
         pg_temp.report_rows('report_monthly', format('month = %L', mo)) l
    WHERE by_month;
END $$;

-- the published UK electricity rows of 2022 and 2023 as loaded (revised
-- below, restored at the end)
CREATE TEMP TABLE rt_factor AS
SELECT f.id, f.value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year IN (2022, 2023) AND f.level1 = 'UK electricity' AND f.gas = 'CO2e';
SELECT count(*) > 0 AS factor_rows FROM rt_factor;

-- 8 rounds, each making several kinds of change at once (so that they
-- meet: a move and a later file on the same days, deletions beside new
-- readings), then reading the reports (real time), refreshing, reading
-- them again.  Rounds 1, 3 and 4, which make every kind of change but the
-- two below, read all seven reports; the others report_monthly, whole
-- and month by month (every report reads car.emission_current through
-- car.emission_reported; each report read is costly, the earlier tests'
-- data included).  A whole day deleted alone (its stale rows just go: no
-- real-time rows); round 6 draws 2 or 3 kinds at random.  The two kinds
-- that make every day of the database pending, a factor year revised and
-- a full refresh due, come last, once each, with report_monthly whole
-- (every organisation's and month's lines): each reading then prices
-- every day of the database on the fly.  Each change picks one of the 12
-- meters and one of the 90 days at random (the seed above).
DO $$
DECLARE
    plan text[] := ARRAY['insert,supersede,delete_part', 'delete_day', 'move_site,supersede,insert',
                         'move_org,delete_part,delete_day', 'insert,move_org,supersede', NULL,
                         'factor,insert', 'full,move_org,supersede'];
    rnd int;
    kinds text[];
    k text;
    m int;
    d date;
    other int;
BEGIN
    FOR rnd IN 1 .. cardinality(plan) LOOP
        kinds := coalesce(string_to_array(plan[rnd], ','),
                          ARRAY(SELECT x FROM unnest('{insert,supersede,delete_part,delete_day,move_site,move_org}'::text[]) x
                                ORDER BY random() LIMIT 2 + floor(random() * 2)::int));
        FOREACH k IN ARRAY kinds LOOP
            SELECT m2.id INTO m FROM car.meter m2 JOIN car.site s ON s.id = m2.site_id
            WHERE s.name LIKE 'RT site %' ORDER BY random() LIMIT 1;
            d := date '2022-12-01' + floor(random() * 90)::int;
            CASE k
            WHEN 'insert' THEN
                -- a new half-hour on three days, and a day in March no reading had
                INSERT INTO car.reading (meter_id, ts, quantity)
                SELECT m, (d + i + time '03:30') AT TIME ZONE 'Europe/London', round((random() * 50)::numeric, 3)
                FROM generate_series(0, 2) i WHERE d + i <= date '2023-02-28'
                ON CONFLICT DO NOTHING;
                INSERT INTO car.reading (meter_id, ts, quantity)
                SELECT m, ((date '2023-03-01' + rnd) + time '09:00') AT TIME ZONE 'Europe/London', 7.5
                ON CONFLICT DO NOTHING;
            WHEN 'supersede' THEN
                -- a later file's values for two days of one meter
                UPDATE car.reading SET quantity = quantity * 1.5 + 1
                WHERE meter_id = m AND ts >= d::timestamp AT TIME ZONE 'Europe/London'
                  AND ts < (d + 2)::timestamp AT TIME ZONE 'Europe/London';
            WHEN 'delete_part' THEN
                DELETE FROM car.reading WHERE meter_id = m AND ts = (d + time '06:00') AT TIME ZONE 'Europe/London';
            WHEN 'delete_day' THEN
                DELETE FROM car.reading WHERE meter_id = m AND ts >= d::timestamp AT TIME ZONE 'Europe/London'
                  AND ts < (d + 1)::timestamp AT TIME ZONE 'Europe/London';
            WHEN 'factor' THEN
                -- a published row of the 2022 or 2023 set revised: its year is queued
                UPDATE car.factor f SET value = f.value * (1 + rnd / 100.0)
                FROM car.factor_set s
                WHERE s.id = f.set_id AND s.year = 2022 + rnd % 2 AND f.level1 = 'UK electricity' AND f.gas = 'CO2e';
            WHEN 'move_site' THEN
                -- to another site of the same organisation
                SELECT s2.id INTO other FROM car.site s2 JOIN car.meter m2 ON m2.id = m JOIN car.site s1 ON s1.id = m2.site_id
                WHERE s2.name LIKE 'RT site %' AND s2.org = s1.org AND s2.id <> s1.id ORDER BY random() LIMIT 1;
                UPDATE car.meter SET site_id = other WHERE id = m;
            WHEN 'move_org' THEN
                -- to a site of the other organisation
                SELECT s2.id INTO other FROM car.site s2 JOIN car.meter m2 ON m2.id = m JOIN car.site s1 ON s1.id = m2.site_id
                WHERE s2.name LIKE 'RT site %' AND s2.org <> s1.org ORDER BY random() LIMIT 1;
                UPDATE car.meter SET site_id = other WHERE id = m;
            WHEN 'full' THEN
                -- as a catalogue edit or a TRUNCATE leaves it: the next refresh is a full one
                UPDATE car.refresh_state SET full_needed = true;
            END CASE;
        END LOOP;
        -- RT's rows now (one reading of car.emission_current)
        DELETE FROM rt_current;
        INSERT INTO rt_current
        SELECT e.* FROM car.emission_current e JOIN car.meter m2 ON m2.id = e.meter_id JOIN car.site s ON s.id = m2.site_id
        WHERE s.name LIKE 'RT site %';
        INSERT INTO rt_round
        SELECT rnd, array_to_string(kinds, '+'), (SELECT count(*) FROM car.refresh_pending()),
               (SELECT count(*) FROM rt_current WHERE real_time), car.refresh_pending_full(),
               -- RT's rows before this change (still in car.emission_daily) differ from the real-time ones
               EXISTS (SELECT e.site_id, e.day, e.meter_id, e.component, round(e.kg_co2e::numeric, 6)
                       FROM car.emission_daily e JOIN car.meter m2 ON m2.id = e.meter_id JOIN car.site s ON s.id = m2.site_id
                       WHERE s.name LIKE 'RT site %'
                       EXCEPT SELECT site_id, day, meter_id, component, round(kg_co2e::numeric, 6) FROM rt_current)
               OR EXISTS (SELECT site_id, day, meter_id, component, round(kg_co2e::numeric, 6) FROM rt_current
                          EXCEPT SELECT e.site_id, e.day, e.meter_id, e.component, round(e.kg_co2e::numeric, 6)
                          FROM car.emission_daily e JOIN car.meter m2 ON m2.id = e.meter_id JOIN car.site s ON s.id = m2.site_id
                          WHERE s.name LIKE 'RT site %');
        PERFORM pg_temp.snap(rnd, 'real_time', rnd IN (1, 3, 4), rnd <= 6);
        PERFORM car.refresh();
        PERFORM pg_temp.snap(rnd, 'refreshed', rnd IN (1, 3, 4), rnd <= 6);
    END LOOP;
END $$;

-- each round: what it changed, that it left something to compute on the
-- fly (pending meter-days, or a full refresh due), whether real-time rows
-- came of it (none when whole days were deleted: their stale rows just go)
-- and that the change showed before the refresh (not for a full refresh
-- due alone, which changes no figure)
SELECT round, kinds, pending > 0 OR full_due AS pending, real_time_rows > 0 AS real_time_rows, full_due, stale_differs
FROM rt_round ORDER BY round;
-- every report equal, before and after the refresh, in every round: rows
-- of either reading without an equal row in the other (none), and the
-- same number of rows of each key in both
SELECT a.round, a.report, a.stage, a.key, a.nums FROM rt_snap a
WHERE NOT EXISTS (SELECT 1 FROM rt_snap b WHERE b.round = a.round AND b.report = a.report AND b.stage <> a.stage
                  AND b.key = a.key AND pg_temp.near(a.nums, b.nums))
ORDER BY 1, 2, 3, 4 LIMIT 10;
SELECT round, report, key, count(*) FILTER (WHERE stage = 'real_time') AS real_time,
       count(*) FILTER (WHERE stage = 'refreshed') AS refreshed
FROM rt_snap GROUP BY 1, 2, 3
HAVING count(*) FILTER (WHERE stage = 'real_time') <> count(*) FILTER (WHERE stage = 'refreshed')
ORDER BY 1, 2, 3 LIMIT 10;
-- the comparison compared something: the rounds in which each report had
-- rows, real time: every round it was read in (report_monthly 8, by month
-- 6, the others 3)
SELECT report, count(DISTINCT round) AS rounds_with_rows
FROM rt_snap WHERE stage = 'real_time' GROUP BY report ORDER BY report;

-- With nothing pending (but the days earlier tests left unpriceable, which
-- give no rows), car.emission_current is car.emission_daily.
SELECT car.refresh_pending_full() AS full_due,
       (SELECT count(*) FROM car.refresh_pending() q JOIN car.meter m ON m.id = q.meter_id
        JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'RT site %') AS rt_pending,
       (SELECT count(*) FROM car.emission_current WHERE real_time) AS real_time_rows,
       (SELECT count(*) FROM car.emission_current) = (SELECT count(*) FROM car.emission_daily) AS same_rows;

-- The market-based figures of a day the allocation does not price (no
-- instrument and no residual mix for RT's organisations) are there on the
-- fly, at the grid average, as the refresh writes them: a new day of an
-- electricity meter of RT A's (the first, wherever the moves left it),
-- read before and after the refresh.
CREATE TEMP TABLE rt_market AS
SELECT e.meter_id, e.component, e.kg_co2e_market, e.kg_co2e_market_half_hourly, e.market_basis, e.market_flagged, e.real_time
FROM car.emission_current e WHERE false;
SELECT min(m.id) AS rt_market_meter FROM car.meter m JOIN car.site s ON s.id = m.site_id
WHERE s.name LIKE 'RT site %' AND s.org = 'RT A' AND m.activity = 'electricity' \gset
INSERT INTO car.reading (meter_id, ts, quantity)
VALUES (:rt_market_meter, timestamptz '2023-02-15 12:15 Europe/London', 3);
INSERT INTO rt_market SELECT e.meter_id, e.component, e.kg_co2e_market, e.kg_co2e_market_half_hourly, e.market_basis, e.market_flagged, e.real_time
FROM car.emission_current e WHERE e.meter_id = :rt_market_meter AND e.day = '2023-02-15' AND e.scope = 2;
SELECT car.refresh() > 0 AS refreshed;
SELECT r.real_time, r.market_basis, r.market_flagged, r.kg_co2e_market > 0 AS priced,
       r.kg_co2e_market = e.kg_co2e_market AND r.kg_co2e_market_half_hourly = e.kg_co2e_market_half_hourly
       AND r.market_basis = e.market_basis AND r.market_flagged = e.market_flagged AS as_refreshed
FROM rt_market r JOIN car.emission_daily e ON e.meter_id = r.meter_id AND e.day = '2023-02-15' AND e.component = r.component
ORDER BY r.component;

-- Row-level security over the real-time rows: a reader with RT A's token
-- sees only RT A's sites' figures, real-time ones included, and the same
-- figures a superuser sees for RT A.
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('rt-test', 'HS256', 'rt-test-secret-of-32-bytes-at-least!!!');
CREATE ROLE car_test_rt_reader IN ROLE car_reader;
CREATE TEMP TABLE rt_seen (who text, what text, line text, kg float8);
GRANT INSERT, SELECT ON rt_seen TO car_test_rt_reader;
-- a day of new readings on every RT meter, both organisations: pending
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, timestamptz '2023-02-20 10:00 Europe/London', 100 + m.id % 3
FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'RT site %';
SELECT count(*) AS pending_meter_days FROM car.refresh_pending() q JOIN car.meter m ON m.id = q.meter_id
JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'RT site %';
-- car.emission_pending(month): that month's pending rows only.  All are
-- in February: 6 electricity meters in 4 rows (generation, T&D, WTT
-- generation, WTT T&D), 6 gas meters in 2 (combustion, WTT): 36 rows;
-- none in January; NULL: every month
SELECT (SELECT count(*) FROM car.emission_pending('2023-02-01')) AS february_rows,
       (SELECT count(*) FROM car.emission_pending('2023-01-01')) AS january_rows,
       (SELECT count(*) FROM car.emission_pending()) AS all_rows,
       (SELECT bool_and(month = '2023-02-01') FROM car.emission_pending('2023-02-01')) AS february_only;
INSERT INTO rt_seen SELECT 'superuser', 'report_monthly', concat_ws(' ', r.organisation, r.site, r.month, r.activity), r.kg_co2e
FROM car.report_monthly r WHERE r.organisation = 'RT A';
DO $$
BEGIN
    PERFORM car.authenticate(car.sign_jwt('{"org": "RT A", "exp": 4102444800}', 'rt-test'), true);
    SET LOCAL ROLE car_test_rt_reader;
    INSERT INTO rt_seen SELECT 'RT A', 'report_monthly', concat_ws(' ', r.organisation, r.site, r.month, r.activity), r.kg_co2e
    FROM car.report_monthly r WHERE r.site LIKE 'RT site %';
    INSERT INTO rt_seen SELECT 'RT A', 'real_time org', coalesce(e.org, '?') || ' ' || count(*)
    FROM car.emission_live e WHERE e.real_time GROUP BY e.org;
    INSERT INTO rt_seen SELECT 'RT A', 'emission_pending org', s.org || ' ' || count(*)
    FROM car.emission_pending() p JOIN car.site s ON s.id = p.site_id GROUP BY s.org;
    INSERT INTO rt_seen SELECT 'RT A', 'refresh_pending org', s.org || ' ' || count(*)
    FROM car.refresh_pending() q JOIN car.meter m ON m.id = q.meter_id JOIN car.site s ON s.id = m.site_id GROUP BY s.org;
    RESET ROLE;
END $$;
-- what RT A's reader saw of the real-time rows: RT A's only, a meter-day
-- for each meter at RT A's sites now (as the moves above left them,
-- counted here), electricity in 4 rows (generation, T&D, WTT generation,
-- WTT T&D), gas in 2 (combustion, WTT): 4 x electricity + 2 x gas rows
SELECT m.activity, count(*) AS meters_at_rt_a FROM car.meter m JOIN car.site s ON s.id = m.site_id
WHERE s.name LIKE 'RT site %' AND s.org = 'RT A' GROUP BY m.activity ORDER BY 1;
SELECT what, line FROM rt_seen WHERE who = 'RT A' AND what <> 'report_monthly' ORDER BY what, line;
SELECT (SELECT array_agg(line ORDER BY what) FROM rt_seen WHERE who = 'RT A' AND what <> 'report_monthly')
       = ARRAY['RT A ' || (4 * e + 2 * g), 'RT A ' || (4 * e + 2 * g), 'RT A ' || (e + g)] AS as_counted
FROM (SELECT count(*) FILTER (WHERE m.activity = 'electricity') AS e, count(*) FILTER (WHERE m.activity = 'natural_gas') AS g
      FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'RT site %' AND s.org = 'RT A') c;
-- its report: exactly the superuser's lines of RT A (kg CO2e to a billionth)
SELECT (SELECT count(*) FROM rt_seen WHERE who = 'RT A' AND what = 'report_monthly') AS reader_lines,
       (SELECT count(*) FROM rt_seen WHERE who = 'superuser') AS superuser_lines,
       (SELECT count(*) FROM rt_seen a JOIN rt_seen b ON b.line = a.line AND b.who = 'superuser'
        WHERE a.who = 'RT A' AND a.what = 'report_monthly' AND pg_temp.near(ARRAY[a.kg], ARRAY[b.kg])) AS equal_lines;
-- without claims, a reader sees no real-time row either
SET ROLE car_test_rt_reader;
SELECT count(*) AS pending_rows_without_claims FROM car.emission_pending();
SELECT count(*) AS pending_days_without_claims FROM car.refresh_pending();
RESET ROLE;
SELECT car.refresh() > 0 AS refreshed;

-- A closed period keeps its signed figures: RT B signs January 2023; a
-- late reading for RT B's January is pending (and shows in the live rows
-- and the restatement), while the reports keep the signed month.
SELECT month, round(kg_co2e::numeric, 6) AS kg_co2e INTO TEMP rt_before
FROM car.report_monthly WHERE organisation = 'RT B' AND month = '2023-01-01' AND site LIKE 'RT site %';
SELECT (car.close_period('RT B', '2023-01-01', '2023-01-31', 'January signed')).id IS NOT NULL AS closed;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, timestamptz '2023-01-10 13:00 Europe/London', 1000
FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'RT site %' AND s.org = 'RT B';
SELECT count(*) > 0 AS live_real_time_rows FROM car.emission_live
WHERE real_time AND org = 'RT B' AND month = '2023-01-01';
SELECT count(*) AS reported_real_time_rows FROM car.emission_reported
WHERE real_time AND org = 'RT B' AND month = '2023-01-01';
SELECT (SELECT count(*) FROM rt_before) AS lines,
       (SELECT count(*) FROM ((SELECT * FROM rt_before EXCEPT
                               SELECT month, round(kg_co2e::numeric, 6) FROM car.report_monthly
                               WHERE organisation = 'RT B' AND month = '2023-01-01' AND site LIKE 'RT site %')
                              UNION ALL
                              (SELECT month, round(kg_co2e::numeric, 6) FROM car.report_monthly
                               WHERE organisation = 'RT B' AND month = '2023-01-01' AND site LIKE 'RT site %'
                               EXCEPT SELECT * FROM rt_before)) x) AS changed_lines;
-- the restatement sees the late reading at once: live kg CO2e above signed
SELECT count(*) > 0 AS restated FROM car.restatement
WHERE organisation = 'RT B' AND month = '2023-01-01' AND live_kg_co2e > signed_kg_co2e;
SELECT car.refresh() > 0 AS refreshed;

-- the published factors as loaded again
UPDATE car.factor f SET value = r.value FROM rt_factor r WHERE r.id = f.id AND f.value <> r.value;
SELECT car.refresh() > 0 AS refreshed;
SELECT count(*) AS revised_rows_left FROM car.factor f JOIN rt_factor r ON r.id = f.id WHERE f.value <> r.value;

DELETE FROM car.jwt_key WHERE kid = 'rt-test';
REVOKE ALL ON rt_seen FROM car_test_rt_reader;
DROP ROLE car_test_rt_reader;
RESET client_min_messages;
