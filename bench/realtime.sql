-- Benchmark of the real-time reports (issue 17 point 2).  Run by
-- bench/run.sh in a database of its own; prints key|value lines.
--   300 meters (30 sites x 7 electricity + 3 natural gas, kWh) of
--   half-hourly readings over May and June 2023, refreshed; then
--   (a) a one-month car.report_monthly (June) with nothing queued,
--   (b) the same with 1% of June's meter-days queued (their readings
--       revised, so car.emission_current prices them on the fly),
--   (c) freshness: a new day of readings committed, then the report read
--       until it shows it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'Europe/London';
CREATE EXTENSION IF NOT EXISTS car;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2022, 2023) y) s \g /dev/null

INSERT INTO car.site (name, org, floor_area_m2)
SELECT format('Site %s', s), 'bench', 1000 + 150 * s FROM generate_series(1, 30) s;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, format('M%s', k), CASE WHEN k <= 7 THEN 'electricity' ELSE 'natural_gas' END, 'kWh'
FROM car.site s CROSS JOIN generate_series(1, 10) k ORDER BY s.id, k;
SELECT car.ensure_partitions('2023-05-01 00:00 Europe/London', '2023-08-01 00:00 Europe/London') \g /dev/null
-- half-hour i of the range: a day/night profile plus deterministic jitter, doubled for gas
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, g.t,
       ((1 + m.id % 5) * CASE WHEN (g.i - 1) % 48 BETWEEN 14 AND 38 THEN 1.0::float8 ELSE 0.4::float8 END
        + ((m.id * 31 + g.i * 17) % 23) / 20.0::float8)
       * CASE WHEN m.activity = 'natural_gas' THEN 2.0::float8 ELSE 1.0::float8 END
FROM car.meter m
CROSS JOIN generate_series(timestamptz '2023-05-01 00:00 Europe/London', timestamptz '2023-06-30 23:30 Europe/London',
                           interval '30 minutes') WITH ORDINALITY g(t, i);
SELECT car.refresh(true) \g /dev/null
VACUUM ANALYZE;

\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'readings', count(*) FROM car.reading;
SELECT 'june_meter_days', count(DISTINCT (meter_id, day)) FROM car.emission_daily WHERE month = '2023-06-01';
SELECT 'june_rows', count(*) FROM car.emission_daily WHERE month = '2023-06-01';

-- the query: a one-month car.report_monthly, every line fetched
CREATE FUNCTION pg_temp.report_ms() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM (SELECT * FROM car.report_monthly WHERE month = '2023-06-01') r;
    RETURN 1000 * extract(epoch FROM clock_timestamp() - t0);
END $$;
CREATE FUNCTION pg_temp.report_digest() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(concat_ws(' ', site_id, activity, round(kg_co2e::numeric, 6), round(quantity::numeric, 6)), ','
                          ORDER BY site_id, activity))
    FROM car.report_monthly WHERE month = '2023-06-01' $$;
-- warm-up
SELECT pg_temp.report_ms() \g /dev/null
SELECT pg_temp.report_ms() \g /dev/null

-- (a) and (b) take turns, 15 rounds: each round queues 1% of June's
-- meter-days (their readings revised by a statement, as a late file's
-- upsert does), times the report queued, refreshes, times it refreshed
CREATE TEMP TABLE timing (what text, round int, ms float8);
DO $$
DECLARE
    r int;
BEGIN
    FOR r IN 1 .. 15 LOOP
        PERFORM setseed(r / 20.0);
        UPDATE car.reading x SET quantity = x.quantity + 0.001
        FROM (SELECT meter_id, day FROM (SELECT DISTINCT meter_id, day FROM car.emission_daily
                                         WHERE month = '2023-06-01') d
              ORDER BY random() LIMIT (SELECT count(DISTINCT (meter_id, day)) / 100 FROM car.emission_daily
                                       WHERE month = '2023-06-01')) q
        WHERE x.meter_id = q.meter_id AND x.ts >= q.day::timestamp AT TIME ZONE 'Europe/London'
          AND x.ts < (q.day + 1)::timestamp AT TIME ZONE 'Europe/London';
        INSERT INTO timing SELECT 'queued', r, pg_temp.report_ms();
        PERFORM car.refresh();
        INSERT INTO timing SELECT 'refreshed', r, pg_temp.report_ms();
    END LOOP;
END $$;
SELECT 'queued_' || round, round(ms::numeric, 3) FROM timing WHERE what = 'queued' ORDER BY round;
SELECT 'refreshed_' || round, round(ms::numeric, 3) FROM timing WHERE what = 'refreshed' ORDER BY round;

-- what one round queued, and that the queued report equals the refreshed one
UPDATE car.reading x SET quantity = x.quantity + 0.001
FROM (SELECT meter_id, day FROM (SELECT DISTINCT meter_id, day FROM car.emission_daily WHERE month = '2023-06-01') d
      ORDER BY meter_id, day LIMIT (SELECT count(DISTINCT (meter_id, day)) / 100 FROM car.emission_daily
                                    WHERE month = '2023-06-01')) q
WHERE x.meter_id = q.meter_id AND x.ts >= q.day::timestamp AT TIME ZONE 'Europe/London'
  AND x.ts < (q.day + 1)::timestamp AT TIME ZONE 'Europe/London';
SELECT 'queued_meter_days', count(*) FROM car.refresh_pending();
SELECT 'real_time_rows', count(*) FROM car.emission_current WHERE real_time;
SELECT pg_temp.report_digest() AS digest_queued \gset
SELECT car.refresh() \g /dev/null
SELECT 'same_report', pg_temp.report_digest() = :'digest_queued';

-- (c) freshness: a new meter-day of readings (48 half-hours: an INSERT
-- statement, as car.push ends with, through the same trigger) committed,
-- then car.report_monthly read at once: the time from the commit to the
-- report showing it, and whether it did; 7 meter-days, one at a time
CREATE TABLE fresh (n int, commit_to_visible_ms float8, visible boolean);
CREATE PROCEDURE fresh_run() LANGUAGE plpgsql AS $$
DECLARE
    k int;
    m int;
    before float8;
    committed timestamptz;
    after float8;
BEGIN
    SELECT min(id) INTO m FROM car.meter;
    FOR k IN 0 .. 6 LOOP
        SELECT coalesce(sum(kg_co2e), 0) INTO before FROM car.report_monthly WHERE month = '2023-07-01';
        INSERT INTO car.reading (meter_id, ts, quantity)
        SELECT m + k, g, 1.5
        FROM generate_series(timestamptz '2023-07-02 00:00 Europe/London' + k * interval '1 day',
                             timestamptz '2023-07-02 23:30 Europe/London' + k * interval '1 day', interval '30 minutes') g;
        COMMIT;
        committed := clock_timestamp();
        SELECT coalesce(sum(kg_co2e), 0) INTO after FROM car.report_monthly WHERE month = '2023-07-01';
        INSERT INTO fresh VALUES (k + 1, 1000 * extract(epoch FROM clock_timestamp() - committed), after > before);
        COMMIT;
    END LOOP;
END $$;
CALL fresh_run();
SELECT 'fresh_' || n, round(commit_to_visible_ms::numeric, 3) FROM fresh ORDER BY n;
SELECT 'fresh_all_visible', bool_and(visible) FROM fresh;
SELECT 'fresh_queued_meter_days', count(*) FROM car.refresh_pending();
