-- Benchmark of custom factors in car.refresh() (issue 15, point 1): the
-- pricing statement joins car.custom_factor per component row; how much does
-- that cost against the same refresh with no custom rows?  Prints key|value
-- lines.  100 electricity meters at 10 sites of one organisation, one year
-- (2024) of half-hourly readings: 1,756,800 readings, 36,600 meter-days,
-- 146,400 emission rows.  Full refreshes (after a VACUUM of car.emission_daily each, so that
-- the dead rows of the previous one do not count), median of 3, in three states:
--   (a) no custom rows (the baseline);
--   (b) 200 custom rows of other organisations and activities (probed, none applies);
--   (c) every generation row priced by a custom row: an organisation row for
--       the year, a site row for each site for one quarter, a meter row for
--       each meter for one month.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'Europe/London';
CREATE EXTENSION IF NOT EXISTS car;
SELECT car.load_factors(2024) \g /dev/null
INSERT INTO car.site (name, org) SELECT format('CF bench site %s', s), 'CF bench' FROM generate_series(1, 10) s;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, format('M%s', k), 'electricity', 'kWh' FROM car.site s CROSS JOIN generate_series(1, 10) k WHERE s.org = 'CF bench';
SELECT car.ensure_partitions('2024-01-01 00:00 Europe/London', '2025-01-01 00:00 Europe/London') \g /dev/null
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, g.t, 1 + (m.id * 31 + g.i * 17) % 23 / 20.0::float8
FROM car.meter m JOIN car.site s ON s.id = m.site_id AND s.org = 'CF bench'
CROSS JOIN generate_series('2024-01-01 00:00 Europe/London'::timestamptz, '2024-12-31 23:30 Europe/London', interval '30 minutes') WITH ORDINALITY g(t, i);
VACUUM ANALYZE car.reading;
INSERT INTO car.custom_factor_set (org, name, publisher) VALUES ('CF bench', 'bench', 'bench supplier'), ('CF other', 'other', 'other supplier');

CREATE FUNCTION pg_temp.full_refresh_seconds() RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM car.refresh(true);
    RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3);
END $$;

\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'readings', count(*) FROM car.reading;
SELECT 'a_warmup', pg_temp.full_refresh_seconds();
SELECT 'meter_days', count(DISTINCT (meter_id, day)) FROM car.emission_daily;
SELECT 'emission_rows', count(*) FROM car.emission_daily;
VACUUM car.emission_daily;
SELECT 'a_1', pg_temp.full_refresh_seconds();
VACUUM car.emission_daily;
SELECT 'a_2', pg_temp.full_refresh_seconds();
VACUUM car.emission_daily;
SELECT 'a_3', pg_temp.full_refresh_seconds();

-- (b) rows of another organisation: 100 organisation rows (one a year) and 100 for natural gas
INSERT INTO car.custom_factor (set_id, tier, org, activity, unit, value, valid_from, valid_to, document)
SELECT (SELECT id FROM car.custom_factor_set WHERE name = 'other'), 'organisation', 'CF other', a, 'kWh', 0.1,
       make_date(1990 + y, 1, 1), make_date(1990 + y, 12, 31), 'bench'
FROM generate_series(0, 99) y, unnest(ARRAY['electricity', 'natural_gas']) a;
ANALYZE car.custom_factor;
VACUUM car.emission_daily;
SELECT 'b_1', pg_temp.full_refresh_seconds();
VACUUM car.emission_daily;
SELECT 'b_2', pg_temp.full_refresh_seconds();
VACUUM car.emission_daily;
SELECT 'b_3', pg_temp.full_refresh_seconds();
SELECT 'b_custom_rows', count(*) FILTER (WHERE factor_tier <> 'published') FROM car.emission_daily;

-- (c) every generation row priced by a custom row, of each tier
INSERT INTO car.custom_factor (set_id, tier, org, activity, unit, value, valid_from, valid_to, document)
SELECT id, 'organisation', 'CF bench', 'electricity', 'kWh', 0.1, '2024-01-01', '2024-12-31', 'bench' FROM car.custom_factor_set WHERE name = 'bench';
INSERT INTO car.custom_factor (set_id, tier, site_id, activity, unit, value, valid_from, valid_to, document)
SELECT (SELECT id FROM car.custom_factor_set WHERE name = 'bench'), 'site', s.id, 'electricity', 'kWh', 0.08, '2024-04-01', '2024-06-30', 'bench'
FROM car.site s WHERE s.org = 'CF bench';
INSERT INTO car.custom_factor (set_id, tier, meter_id, activity, unit, value, valid_from, valid_to, document)
SELECT (SELECT id FROM car.custom_factor_set WHERE name = 'bench'), 'meter', m.id, 'electricity', 'kWh', 0.05, '2024-11-01', '2024-11-30', 'bench'
FROM car.meter m JOIN car.site s ON s.id = m.site_id AND s.org = 'CF bench';
ANALYZE car.custom_factor;
VACUUM car.emission_daily;
SELECT 'c_1', pg_temp.full_refresh_seconds();
VACUUM car.emission_daily;
SELECT 'c_2', pg_temp.full_refresh_seconds();
VACUUM car.emission_daily;
SELECT 'c_3', pg_temp.full_refresh_seconds();
SELECT 'c_rows_by_tier', string_agg(factor_tier || '=' || n, ' ' ORDER BY factor_tier)
FROM (SELECT factor_tier, count(*) AS n FROM car.emission_daily GROUP BY 1) t;
VACUUM car.emission_daily;
-- (d) the incremental refresh after a revision of the organisation row (re-queues the year)
SELECT clock_timestamp() AS t0 \gset
UPDATE car.custom_factor SET value = 0.12 WHERE tier = 'organisation' AND org = 'CF bench';
SELECT 'd_revision_queue_seconds', round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3);
SELECT 'd_queued', count(DISTINCT (meter_id, day)) FROM car.refresh_queue;
SELECT clock_timestamp() AS t0 \gset
SELECT 'd_refreshed_days', car.refresh();
SELECT 'd_incremental_seconds', round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3);
