-- Benchmark and estate check (issue 15, point 4): car.report_time_of_use
-- over a year of half-hourly readings, against the same report priced with
-- the annual factor; and its figures against an independent join of the
-- readings to the intensities, to 1e-9.
--   psql -v meters=300 -f bench/time_of_use.sql      (300 meters: 5.3 M readings; 856: 15.0 M)
-- The estate: :meters half-hourly electricity meters (10 a site; every
-- fifth site priced with London's intensities), every half-hour of 2024
-- (17,568), the GB and London intensities of every half-hour (GB actuals,
-- but forecasts only on one half-hour in 17 and nothing on one in 101;
-- London forecasts only), the bundled 2024 factors.  Loads peak in the
-- evening, as intensities do, so the load-weighting ratio is above 1.
-- Output: key|value lines (milliseconds: medians of 5 runs, the two reports
-- taking turns first).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET jit = off;
CREATE EXTENSION IF NOT EXISTS car CASCADE;
SELECT count(*) FROM car.load_factors(2024) \g /dev/null
SELECT car.ensure_partitions('2024-01-01', '2025-01-01') >= 0 \g /dev/null
INSERT INTO car.site (name, org, grid_region)
SELECT 'ToU site ' || i, 'ToU Bench', CASE WHEN i % 5 = 0 THEN '13' END FROM generate_series(1, (:meters + 9) / 10) i;
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, s.name || ' meter ' || k, 'electricity', 'kWh', 30
FROM car.site s CROSS JOIN generate_series(1, 10) k WHERE s.org = 'ToU Bench'
ORDER BY s.id, k LIMIT :meters;
SELECT 'meters|' || count(*) FROM car.meter;
-- a half-hour's number n (seconds since 1970 / 1800), its hour of the day h
CREATE TABLE half_hour AS
SELECT t, extract(epoch FROM t)::bigint / 1800 AS n, (extract(epoch FROM t)::bigint / 1800) % 48 / 2 AS h
FROM generate_series('2024-01-01 00:00+00'::timestamptz, '2024-12-31 23:30+00', interval '30 minutes') t;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, hh.t, 2 + ((m.id * 7 + hh.n) % 13) * 0.25 + CASE WHEN hh.h BETWEEN 16 AND 19 THEN 6 WHEN hh.h BETWEEN 8 AND 15 THEN 3 ELSE 0 END
FROM car.meter m CROSS JOIN half_hour hh;
SELECT 'readings|' || count(*) FROM car.reading;
INSERT INTO car.grid_intensity (region, period_start, forecast, actual, index)
SELECT 'GB', t, g + 4, CASE WHEN n % 17 <> 0 THEN g END, 'moderate'
FROM (SELECT t, n, 120 + (n * 37) % 60 + CASE WHEN h BETWEEN 16 AND 19 THEN 90 WHEN h BETWEEN 7 AND 15 THEN 40 ELSE 0 END AS g
      FROM half_hour) x
WHERE n % 101 <> 0
UNION ALL
SELECT '13', t, 90 + (n * 53) % 80 + CASE WHEN h BETWEEN 16 AND 19 THEN 70 ELSE 0 END, NULL, 'low' FROM half_hour;
SELECT 'intensities|' || count(*) FROM car.grid_intensity;
VACUUM ANALYZE;
-- the statutory figures (not timed)
SELECT 'refreshed_days|' || car.refresh(true);

-- 1. The estate check: every line of the report against the same figures
--    joined here, reading by reading, with nothing of the report's query.
CREATE TABLE by_hand AS
SELECT r.meter_id, date_trunc('month', r.ts AT TIME ZONE 'Europe/London')::date AS month,
       sum(r.quantity) AS kwh,
       sum(r.quantity * coalesce(g.actual, g.forecast)) / 1000 AS kg,
       avg(coalesce(g.actual, g.forecast)) AS mean,
       count(*) FILTER (WHERE g.actual IS NULL AND g.forecast IS NOT NULL) AS periods_forecast,
       count(*) FILTER (WHERE g.region IS NULL) AS periods_none
FROM car.reading r
JOIN car.meter m ON m.id = r.meter_id
JOIN car.site s ON s.id = m.site_id
LEFT JOIN car.grid_intensity g ON g.region = coalesce(s.grid_region, 'GB') AND g.period_start = r.ts
GROUP BY 1, 2;
CREATE TABLE report AS SELECT * FROM car.report_time_of_use;
SELECT 'estate_lines|' || count(*) FROM report;
SELECT 'estate_lines_equal|' || count(*) FILTER (WHERE abs(r.kg_co2_time_of_use - b.kg) <= 1e-9 * abs(b.kg)
                                               AND abs(r.kwh - b.kwh) <= 1e-9 * abs(b.kwh)
                                               AND abs(r.mean_gco2_per_kwh - b.mean) <= 1e-9 * abs(b.mean)
                                               AND r.periods_forecast = b.periods_forecast
                                               AND r.periods_without_intensity = b.periods_none)
FROM report r JOIN by_hand b USING (meter_id, month);
SELECT 'estate_max_relative_difference|' || max(abs(r.kg_co2_time_of_use - b.kg) / b.kg) FROM report r JOIN by_hand b USING (meter_id, month);
SELECT 'estate_kg_co2_time_of_use|' || round(sum(kg_co2_time_of_use)::numeric, 3) FROM report;
SELECT 'estate_kg_co2_simple_mean|' || round(sum(kg_co2_simple_mean)::numeric, 3) FROM report;
SELECT 'estate_statutory_kg_co2e|' || round(sum(statutory_kg_co2e)::numeric, 3) FROM report;
SELECT 'estate_load_weighting_ratio|' || round((sum(kg_co2_time_of_use) / sum(kg_co2_simple_mean))::numeric, 4) FROM report;

-- 2. The time-of-use report against the same report priced with the annual
--    factor: the view's own query with the half-hourly match replaced by
--    the 2024 DESNZ factor (207.05 g/kWh) for every reading, everything else
--    (ownership, months, the statutory join, the aggregates) the same.
SELECT regexp_replace(pg_get_viewdef('car.report_time_of_use'::regclass),
                      'LEFT JOIN car\.grid_intensity g ON \(\(\(g\.region = mt\.grid_region\) AND \(g\.period_start = r\.ts\)\)\)',
                      'CROSS JOIN (SELECT 207.05::double precision AS actual, NULL::double precision AS forecast) g') AS annual_sql \gset
SELECT 'annual_query_differs|' || (:'annual_sql' <> pg_get_viewdef('car.report_time_of_use'::regclass));
SELECT set_config('bench.annual_sql', :'annual_sql', false) IS NOT NULL \g /dev/null
CREATE TEMP TABLE t (what text, run int, ms float8);
CREATE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    t0 := clock_timestamp();
    EXECUTE q;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
DO $$
DECLARE
    tou text := 'SELECT count(*), sum(kg_co2_time_of_use), sum(statutory_kg_co2e) FROM car.report_time_of_use';
    annual text := format('SELECT count(*), sum(kg_co2_time_of_use), sum(statutory_kg_co2e) FROM (%s) r',
                          rtrim(current_setting('bench.annual_sql'), ';'));
BEGIN
    FOR r IN 1 .. 5 LOOP
        IF r % 2 = 1 THEN
            INSERT INTO t SELECT 'time_of_use', r, pg_temp.ms(tou);
            INSERT INTO t SELECT 'annual_factor', r, pg_temp.ms(annual);
        ELSE
            INSERT INTO t SELECT 'annual_factor', r, pg_temp.ms(annual);
            INSERT INTO t SELECT 'time_of_use', r, pg_temp.ms(tou);
        END IF;
    END LOOP;
END $$;
SELECT what || '|' || round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || '|'
       || string_agg(round(ms::numeric, 1)::text, ', ' ORDER BY run)
FROM t GROUP BY what ORDER BY what;
SELECT 'ratio_time_of_use_to_annual|' || round((SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'time_of_use')::numeric
       / (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'annual_factor')::numeric, 2);
