-- Benchmark (issue 14): car.report_ggc against car.report_yearly over the
-- same data, and car.close_period of a financial year against one refresh of
-- that year.  300 meters (210 electricity, 90 natural gas; 30 sites of one
-- department) with a reading a UK day from April 2017 to March 2025: eight
-- financial years, 876,600 readings.  Factor sets: the bundled 2021-2024;
-- 2017-2020 are the 2023 file under those years' names (timing only: the
-- figures are not the published ones).
--   psql -v csv=/path/to/desnz-factors-2023.csv -f bench/ggc.sql
-- Output: key|value lines (milliseconds, medians of 5 runs, and ratios).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET jit = off;
CREATE EXTENSION IF NOT EXISTS car CASCADE;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2021, 2024) y) s \g /dev/null
SELECT count(*) FROM (
    SELECT car.load_factors(convert_to(replace(convert_from(pg_read_binary_file(:'csv'), 'UTF8'),
                                               'GHG Conversion Factor 2023', 'GHG Conversion Factor ' || y), 'UTF8'),
                            'bench-' || y || '.csv')
    FROM generate_series(2017, 2020) y) s \g /dev/null
SELECT car.ensure_partitions('2017-04-01', '2025-04-01') >= 0 \g /dev/null
INSERT INTO car.site (name, org) SELECT 'Bench site ' || i, 'Bench Dept' FROM generate_series(1, 30) i;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, s.name || ' meter ' || k, CASE WHEN k <= 7 THEN 'electricity' ELSE 'natural_gas' END, 'kWh'
FROM car.site s CROSS JOIN generate_series(1, 10) k WHERE s.org = 'Bench Dept';
SELECT 'meters|' || count(*) FROM car.meter;
SELECT 'electricity_meters|' || count(*) FILTER (WHERE activity = 'electricity') FROM car.meter;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, (d::date + time '12:00') AT TIME ZONE 'Europe/London', 100 + (m.id * 7 + extract(doy FROM d)::int) % 50
FROM car.meter m CROSS JOIN generate_series('2017-04-01'::date, '2025-03-31', '1 day') d;
SELECT 'readings|' || count(*) FROM car.reading;

CREATE TEMP TABLE t (what text, run int, ms float8);
CREATE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    t0 := clock_timestamp();
    EXECUTE q;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- the first refresh computes everything (not timed: the baseline is one year's refresh below)
SELECT 'refresh_all_days|' || car.refresh(true);
SELECT 'emission_rows|' || count(*) FROM car.emission_daily;

-- reports: each run reads every line (count(*) of a view that aggregates all rows)
DO $$
BEGIN
    FOR r IN 1 .. 5 LOOP
        IF r % 2 = 1 THEN
            INSERT INTO t SELECT 'report_yearly', r, pg_temp.ms('SELECT count(*), sum(kg_co2e) FROM car.report_yearly');
            INSERT INTO t SELECT 'report_ggc', r, pg_temp.ms('SELECT count(*), sum(value) FROM car.report_ggc');
        ELSE
            INSERT INTO t SELECT 'report_ggc', r, pg_temp.ms('SELECT count(*), sum(value) FROM car.report_ggc');
            INSERT INTO t SELECT 'report_yearly', r, pg_temp.ms('SELECT count(*), sum(kg_co2e) FROM car.report_yearly');
        END IF;
    END LOOP;
END $$;

-- one refresh of FY2023/24 (its meter-days queued by rewriting their readings), then its close
DO $$
BEGIN
    FOR r IN 1 .. 5 LOOP
        UPDATE car.reading SET quantity = quantity
        WHERE ts >= '2023-04-01 00:00 Europe/London' AND ts < '2024-04-01 00:00 Europe/London';
        INSERT INTO t SELECT 'refresh_fy2023', r, pg_temp.ms('SELECT car.refresh()');
        INSERT INTO t SELECT 'close_period_fy2023', r,
            pg_temp.ms($q$SELECT car.close_period('Bench Dept', '2023-04-01', '2024-03-31', 'bench')$q$);
        DELETE FROM car.closed_emission; DELETE FROM car.closed_coverage; DELETE FROM car.closed_factor_set;
        DELETE FROM car.closed_file; DELETE FROM car.period_close_event; DELETE FROM car.period_close;
    END LOOP;
END $$;

SELECT what || '|' || round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || '|'
       || string_agg(round(ms::numeric, 1)::text, ', ' ORDER BY run)
FROM t GROUP BY what ORDER BY what;
SELECT 'ratio_ggc_to_yearly|' || round((SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'report_ggc')::numeric
       / (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'report_yearly')::numeric, 2);
SELECT 'ratio_close_to_refresh|' || round((SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'close_period_fy2023')::numeric
       / (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'refresh_fy2023')::numeric, 2);
