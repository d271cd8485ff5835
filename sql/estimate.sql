-- Estimation, always labelled (issue 14, point 3): car.estimate(meter, from,
-- to, method) and car.bill(meter, from, to, quantity) fill missing periods
-- with readings of quality estimated and their method, never over an actual
-- reading; a later actual replaces an estimate; the refresh prices estimates
-- like actuals and keeps them apart; every call is logged.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SELECT car.grant_roles() IS NOT NULL AS roles;
INSERT INTO car.site (name, org) VALUES ('Est HQ', 'Estimate Dept');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, 'Est electricity', 'electricity', 'kWh' FROM car.site WHERE name = 'Est HQ';
SELECT id AS m FROM car.meter WHERE name = 'Est electricity' \gset
SELECT car.ensure_partitions('2023-01-01', '2023-12-31') >= 0 AS partitions;
-- errors that name a time of this run (now, or when something was signed) show it as <now>
SET car_test.error_state = off;
SET car_test.error_now = on;
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql
CREATE FUNCTION pg_temp.uk(ts timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
    RETURN to_char(ts AT TIME ZONE 'Europe/London', 'YYYY-MM-DD HH24:MI');
CREATE FUNCTION pg_temp.readings(meter int, lo timestamptz, hi timestamptz)
    RETURNS TABLE (uk text, quantity float8, quality text, method text) LANGUAGE sql
    AS $$ SELECT pg_temp.uk(ts), quantity, quality, method FROM car.reading
          WHERE meter_id = meter AND ts >= lo AND ts < hi ORDER BY ts $$;

-- 1. Linear interpolation, the hand value: a gap at 10:30 and 11:00 between
--    10 kWh (10:00) and 16 kWh (11:30) gives 10 + 6 x 1/3 = 12 and
--    10 + 6 x 2/3 = 14.
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:m, '2023-05-02 10:00 Europe/London', 10), (:m, '2023-05-02 11:30 Europe/London', 16);
SELECT method, pg_temp.uk(period_start) AS period_start, pg_temp.uk(period_end) AS period_end, requested_by,
       periods_missing, periods_filled, periods_replaced, quantity_estimated, billed_quantity, short_history
FROM car.estimate(:m, '2023-05-02 10:30 Europe/London', '2023-05-02 11:30 Europe/London', 'linear');
SELECT * FROM pg_temp.readings(:m, '2023-05-02 10:00 Europe/London', '2023-05-02 12:00 Europe/London');
-- the window may take in the gap's actual ends: they are kept, and counted nowhere
SELECT periods_missing, periods_filled, periods_replaced FROM car.estimate(:m, '2023-05-02 10:00 Europe/London', '2023-05-02 12:00 Europe/London');

-- refused: a gap longer than car.max_interpolation_gap (2 h by default), named
-- with the setting; a gap with no actual reading at one end; a window off the
-- meter's half-hour grid; an unknown method; the future; an empty window; a
-- meter that does not exist, or that is not an interval series
SHOW car.max_interpolation_gap;
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:m, '2023-05-03 08:00 Europe/London', 4), (:m, '2023-05-03 11:00 Europe/London', 9);
SELECT car.estimate(:m, '2023-05-03 08:30 Europe/London', '2023-05-03 11:00 Europe/London', 'linear');
SELECT car.estimate(:m, '2023-05-03 11:30 Europe/London', '2023-05-03 12:00 Europe/London', 'linear');
SELECT car.estimate(:m, '2023-05-03 08:10 Europe/London', '2023-05-03 09:00 Europe/London', 'linear');
SELECT car.estimate(:m, '2023-05-03 08:30 Europe/London', '2023-05-03 09:00 Europe/London', 'guess');
SELECT pg_temp.error_of($$SELECT car.estimate($$ || :m || $$, now() + interval '1 day', now() + interval '2 days', 'linear')$$);
SELECT car.estimate(:m, '2023-05-03 09:00 Europe/London', '2023-05-03 09:00 Europe/London', 'linear');
SELECT car.estimate(-1, '2023-05-03 08:30 Europe/London', '2023-05-03 09:00 Europe/London', 'linear');
UPDATE car.meter SET interval_minutes = NULL WHERE id = :m;
SELECT car.estimate(:m, '2023-05-03 08:30 Europe/London', '2023-05-03 09:00 Europe/London', 'linear');
UPDATE car.meter SET interval_minutes = 30 WHERE id = :m;
SELECT count(*) AS nothing_written FROM car.reading WHERE meter_id = :m AND ts >= '2023-05-03' AND ts < '2023-05-04' AND quality = 'estimated';
-- a superuser may allow longer gaps (nobody else may): 5 periods between 4 and 9
SET car.max_interpolation_gap = '3h';
SELECT periods_filled, quantity_estimated, 5 * 4 + (9 - 4) * (1 + 2 + 3 + 4 + 5) / 6.0 AS by_hand
FROM car.estimate(:m, '2023-05-03 08:30 Europe/London', '2023-05-03 11:00 Europe/London', 'linear');
RESET car.max_interpolation_gap;
CREATE ROLE car_test_loader IN ROLE car_ingest;
SET ROLE car_test_loader;
SET car.max_interpolation_gap = '10h';
RESET ROLE;

-- 2. Same time, same weekday, previous 4 weeks: 10, 12, 14 and 12 kWh at
--    09:00 on the four Tuesdays before 2023-06-06 give (10 + 12 + 14 + 12) / 4
--    = 12.0.  With fewer weeks, the mean of those there are (counted in
--    short_history); with none, refused.  Across the spring clock change the
--    clock time is kept (09:00 GMT weeks for a 09:00 BST period).
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:m, '2023-05-09 09:00 Europe/London', 10), (:m, '2023-05-16 09:00 Europe/London', 12),
    (:m, '2023-05-23 09:00 Europe/London', 14), (:m, '2023-05-30 09:00 Europe/London', 12);
SELECT periods_filled, quantity_estimated, short_history
FROM car.estimate(:m, '2023-06-06 09:00 Europe/London', '2023-06-06 09:30 Europe/London', 'same_weekday');
SELECT * FROM pg_temp.readings(:m, '2023-06-06 09:00 Europe/London', '2023-06-06 09:30 Europe/London');
-- 2023-06-13: the four weeks before are 05-16, 05-23, 05-30 and the estimate of
-- 06-06, which does not count: (12 + 14 + 12) / 3
SELECT periods_filled, quantity_estimated, short_history, round((12 + 14 + 12) / 3.0, 12) AS by_hand
FROM car.estimate(:m, '2023-06-13 09:00 Europe/London', '2023-06-13 09:30 Europe/London', 'same_weekday');
SELECT car.estimate(:m, '2023-06-13 10:00 Europe/London', '2023-06-13 10:30 Europe/London', 'same_weekday');
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:m, '2023-03-07 09:00 Europe/London', 7), (:m, '2023-03-14 09:00 Europe/London', 8),
    (:m, '2023-03-21 09:00 Europe/London', 9);
SELECT quantity_estimated, short_history FROM car.estimate(:m, '2023-03-28 09:00 Europe/London', '2023-03-28 09:30 Europe/London', 'same_weekday');

-- 3. Re-estimating replaces earlier estimates, never an actual reading: the
--    11:30 reading corrected to 22 kWh, the gap becomes 14 and 18.
UPDATE car.reading SET quantity = 22 WHERE meter_id = :m AND ts = '2023-05-02 11:30 Europe/London';
SELECT periods_missing, periods_filled, periods_replaced, quantity_estimated
FROM car.estimate(:m, '2023-05-02 10:00 Europe/London', '2023-05-02 12:00 Europe/London', 'linear');
SELECT * FROM pg_temp.readings(:m, '2023-05-02 10:00 Europe/London', '2023-05-02 12:00 Europe/London');

-- 4. A later actual replaces an estimate: a pushed file's reading takes the
--    estimate's place (quality actual, no method), even with the same value.
SELECT (car.add_source('est-push', NULL, 'push', 'long',
        '{"site": "Est HQ", "meter": "Est electricity", "timezone": "Europe/London", "activity": "electricity", "org": "Estimate Dept"}')).name;
SELECT rows_loaded, rows_superseded FROM car.push('est-push', 'late.csv',
       convert_to(E'ts,kWh\n2023-05-02 10:30,12\n', 'UTF8'));
SELECT * FROM pg_temp.readings(:m, '2023-05-02 10:00 Europe/London', '2023-05-02 12:00 Europe/London');

-- 5. A bill: the actual readings in the window count towards it, the rest is
--    spread over the missing periods by the meter's own profile (mean actual
--    reading per weekday and UK time over the 8 weeks before), or evenly when
--    that history is missing.  A whole day billed at 100 kWh with 24 actual
--    half-hours of 1 kWh: 76 kWh over the other 24.
INSERT INTO car.site (name, org) VALUES ('Est Annex', 'Estimate Dept');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, 'Annex electricity', 'electricity', 'kWh' FROM car.site WHERE name = 'Est Annex';
SELECT id AS b FROM car.meter WHERE name = 'Annex electricity' \gset
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT :b, g, 1 FROM generate_series('2023-08-01 00:00 Europe/London'::timestamptz, '2023-08-01 11:30 Europe/London', '30 minutes') g;
SELECT method, periods_missing, periods_filled, billed_quantity, actual_quantity, quantity_estimated
FROM car.bill(:b, '2023-08-01 00:00 Europe/London', '2023-08-02 00:00 Europe/London', 100);
SELECT quantity, count(*) FROM car.reading WHERE meter_id = :b AND quality = 'estimated' GROUP BY 1;
-- a bill (or estimate) runs only inside the range pushed files may fill
-- (car.accept_from 2000-01-01, car.accept_ahead 7 days): twenty years ahead,
-- or before 2000, is refused, nothing written and no partition made
SELECT count(*) AS partitions_before FROM pg_inherits WHERE inhparent = 'car.reading'::regclass \gset
SELECT pg_temp.error_of($$SELECT car.bill($$ || :b || $$, date_trunc('month', now()), date_trunc('month', now()) + interval '20 years', 1000)$$) ~ 'outside the range car accepts readings in' AS ahead_refused;
SELECT pg_temp.error_of($$SELECT car.bill($$ || :b || $$, '1990-01-01 00:00+00', '1990-01-02 00:00+00', 10)$$) ~ 'outside the range car accepts readings in' AS before_2000_refused;
SELECT count(*) = :partitions_before AS no_partition_made FROM pg_inherits WHERE inhparent = 'car.reading'::regclass;
SELECT sum(quantity) AS day_total FROM car.reading WHERE meter_id = :b
AND ts >= '2023-08-01 00:00 Europe/London' AND ts < '2023-08-02 00:00 Europe/London';
-- with a history: the Tuesdays of the 8 weeks before 15 August read 1 kWh a
-- half-hour before noon and 3 after (1 August: 1 before noon, its afternoon
-- only estimated, which does not count), so 15 August billed at 120 kWh with
-- nothing read is 24 x 1 k + 24 x 3 k = 120: k = 120 / 96, that is 1.25 kWh
-- before noon and 3.75 after
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT :b, g, CASE WHEN (g AT TIME ZONE 'Europe/London')::time < '12:00' THEN 1 ELSE 3 END
FROM unnest('{2023-06-20,2023-06-27,2023-07-04,2023-07-11,2023-07-18,2023-07-25,2023-08-08}'::date[]) d,
     LATERAL generate_series(d::timestamp AT TIME ZONE 'Europe/London', (d + 1)::timestamp AT TIME ZONE 'Europe/London' - interval '30 minutes', '30 minutes') g;
SELECT method, periods_filled, quantity_estimated FROM car.bill(:b, '2023-08-15 00:00 Europe/London', '2023-08-16 00:00 Europe/London', 120);
SELECT (ts AT TIME ZONE 'Europe/London')::time < '12:00' AS before_noon, quantity, method, count(*)
FROM car.reading WHERE meter_id = :b AND ts >= '2023-08-15 00:00 Europe/London' AND ts < '2023-08-16 00:00 Europe/London'
GROUP BY 1, 2, 3 ORDER BY 1 DESC;
-- refused: a bill smaller than the actual readings already in its window; a
-- window without missing periods whose readings do not add up to the bill
SELECT car.bill(:b, '2023-08-08 00:00 Europe/London', '2023-08-09 00:00 Europe/London', 50);
SELECT car.bill(:b, '2023-08-08 00:00 Europe/London', '2023-08-09 00:00 Europe/London', 97);
SELECT periods_filled FROM car.bill(:b, '2023-08-08 00:00 Europe/London', '2023-08-09 00:00 Europe/London', 96);

-- 6. The refresh prices estimates like actuals and keeps them apart: per
--    meter-day the estimated quantity and the periods by quality; the
--    reports' pct_estimated is the estimated share of kg CO2e.
SELECT car.refresh() >= 0 AS refreshed;
SELECT e.day, e.quantity, e.quantity_estimated, e.periods_actual, e.periods_estimated, cardinality(e.file_ids) AS files
FROM car.emission_daily e WHERE e.meter_id = :b AND e.component = 'generation' AND e.day IN ('2023-08-01', '2023-08-15')
ORDER BY e.day;
SELECT month, quantity, round(pct_estimated::numeric, 6) AS pct_estimated FROM car.report_monthly
WHERE site = 'Est Annex' ORDER BY month;
-- by hand, August: 76 + 120 kWh estimated of the month's 100 + 96 + 120
SELECT round(100.0 * (76 + 120) / (100 + 96 + 120), 6) AS by_hand;
SELECT day, periods_expected, periods_actual, periods_estimated, periods_missing, round(coverage::numeric, 3) AS coverage
FROM car.coverage WHERE meter_id = :b AND day IN ('2023-08-01', '2023-08-15') ORDER BY day;
-- an actual replacing an estimate re-prices the day: pushed actuals for 15 August
SELECT (car.add_source('est-annex', NULL, 'push', 'long',
        '{"site": "Est Annex", "meter": "Annex electricity", "timezone": "Europe/London", "activity": "electricity", "org": "Estimate Dept"}')).name;
SELECT rows_loaded, rows_superseded FROM car.push('est-annex', 'aug15.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g AT TIME ZONE 'Europe/London', 'YYYY-MM-DD HH24:MI') || ',2', E'\n')
        FROM generate_series('2023-08-15 00:00 Europe/London'::timestamptz, '2023-08-15 23:30 Europe/London', '30 minutes') g), 'UTF8'));
SELECT car.refresh() > 0 AS refreshed;
SELECT e.quantity, e.quantity_estimated, e.periods_actual, e.periods_estimated, round(e.kg_co2e::numeric, 6) AS kg_co2e,
       round(96 * 0.20707, 6) AS by_hand
FROM car.emission_daily e WHERE e.meter_id = :b AND e.component = 'generation' AND e.day = '2023-08-15';

-- 7. The log: every call, who made it; row-level security as for meters.
SELECT method, count(*), sum(periods_filled) AS filled, sum(periods_replaced) AS replaced
FROM car.estimate_log WHERE meter_id IN (:m, :b) GROUP BY method ORDER BY method;
-- a loader may estimate (as itself) but not write the log or the readings' quality by any other way
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:m, '2023-05-04 12:00 Europe/London', 2), (:m, '2023-05-04 13:00 Europe/London', 4);
SELECT id AS late_file FROM car.source_file WHERE name = 'late.csv' \gset
SET ROLE car_test_loader;
SELECT requested_by, method, periods_filled, quantity_estimated FROM car.estimate(:m, '2023-05-04 12:30 Europe/London', '2023-05-04 13:00 Europe/London', 'linear');
INSERT INTO car.estimate_log (meter_id, period_start, period_end, method, requested_by, periods_missing, periods_filled, periods_replaced, quantity_estimated)
VALUES (:m, now(), now() + interval '1 hour', 'linear', 'someone else', 0, 0, 0, 0);
UPDATE car.estimate_log SET requested_by = 'someone else';
-- the label is not the loader's to change by hand, though it may UPDATE the
-- column (the ingest path runs as the loader and sets it): the estimate just
-- made at 12:30 does not become actual by an UPDATE, nor with the id of a
-- file landed earlier (late.csv, part 4), nor through INSERT ... ON CONFLICT;
-- an actual reading does not become an estimate
UPDATE car.reading SET quality = 'actual', method = NULL WHERE meter_id = :m AND ts = '2023-05-04 12:30 Europe/London';
UPDATE car.reading SET quality = 'actual', method = NULL, file_id = :late_file WHERE meter_id = :m AND ts = '2023-05-04 12:30 Europe/London';
INSERT INTO car.reading AS r (meter_id, ts, quantity, file_id) VALUES (:m, '2023-05-04 12:30 Europe/London', 3, :late_file)
ON CONFLICT (meter_id, ts) DO UPDATE SET quality = 'actual', method = NULL, file_id = excluded.file_id;
UPDATE car.reading SET quality = 'estimated', method = 'linear' WHERE meter_id = :m AND ts = '2023-05-04 12:00 Europe/London';
-- what the grants are for still works: an estimate's quantity corrected (it
-- stays estimated), and a pushed actual replacing the estimate, as the loader
UPDATE car.reading SET quantity = 3.5 WHERE meter_id = :m AND ts = '2023-05-04 12:30 Europe/London';
SELECT * FROM pg_temp.readings(:m, '2023-05-04 12:00 Europe/London', '2023-05-04 13:30 Europe/London');
SELECT rows_loaded, rows_superseded FROM car.push('est-push', 'late-12-30.csv',
       convert_to(E'ts,kWh\n2023-05-04 12:30,3.25\n', 'UTF8'));
SELECT r.quantity, r.quality, r.method, f.name AS file FROM car.reading r JOIN car.source_file f ON f.id = r.file_id
WHERE r.meter_id = :m AND r.ts = '2023-05-04 12:30 Europe/London';
RESET ROLE;
-- the rule is on the data, not the role: a superuser is refused alike; and
-- code that runs while a file is being written (here a trigger of the
-- test's own on car.reading, as a function the loader's search_path put
-- before pg_catalog's would) cannot pass another meter's estimate off as
-- actual with that file's id: the file has no reading of that meter
UPDATE car.reading SET quality = 'actual', method = NULL, file_id = :late_file WHERE meter_id = :b AND ts = '2023-08-01 12:00 Europe/London';
CREATE FUNCTION pg_temp.relabel_annex() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        UPDATE car.reading SET quality = 'actual', method = NULL, file_id = NEW.file_id
        WHERE meter_id = (SELECT id FROM car.meter WHERE name = 'Annex electricity') AND ts = '2023-08-01 12:00 Europe/London';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_relabel_annex BEFORE UPDATE ON car.reading FOR EACH ROW EXECUTE FUNCTION pg_temp.relabel_annex();
-- (a file overlapping stored readings takes the upsert path, where the trigger fires)
SELECT pg_temp.error_of($$SELECT car.push('est-push', 'late-13-00.csv', convert_to(E'ts,kWh\n2023-05-04 13:00,4.5\n', 'UTF8'))$$) ~ 'is estimated and cannot be relabelled actual' AS hijack_refused;
DROP TRIGGER test_relabel_annex ON car.reading;
SELECT quality, method FROM car.reading WHERE meter_id = :b AND ts = '2023-08-01 12:00 Europe/London';
SELECT count(*) AS nothing_of_the_file_landed FROM car.source_file WHERE name = 'late-13-00.csv';
-- a reader can read the log (of the meters it may see) but not estimate
CREATE ROLE car_test_estimate_reader IN ROLE car_reader;
SET ROLE car_test_estimate_reader;
SELECT count(*) AS log_rows_seen_without_claims FROM car.estimate_log;
SELECT car.estimate(:m, '2023-05-04 12:30 Europe/London', '2023-05-04 13:00 Europe/London', 'linear');
RESET ROLE;
DROP ROLE car_test_estimate_reader;
DROP ROLE car_test_loader;
RESET client_min_messages;
