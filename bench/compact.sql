-- Benchmark of compacted months (issue 17, point 1).  Run by bench/run.sh in a
-- database of its own (bench_compact), which it copies; prints key|value lines.
--   200 meters x 3 months (January to March 2023) of half-hourly readings
--   (864,000 rows) in bench_compact; a copy of it, bench_compact_packed, has
--   the three months compacted (car.compact).  Bytes per reading on disk
--   (table and indexes); then, alternating between the two databases run by
--   run (a machine shared with other work drifts), (a) full refreshes, (b)
--   incremental refreshes of 1% of the meter-days, (c) an analyst's scan (per
--   meter, a month's sum) and (d) one meter-day read 1,000 times, as the
--   incremental refresh reads them.  The compacted figures are ratios to the
--   row ones of the same run.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'UTC';
CREATE EXTENSION IF NOT EXISTS car;
SELECT count(*) FROM car.load_factors(2023) \g /dev/null

-- 20 sites x 10 meters: 7 electricity and 3 natural gas a site, in kWh
INSERT INTO car.site (name, org, floor_area_m2)
SELECT format('Site %s', s), 'bench', 1000 + 150 * s FROM generate_series(1, 20) s;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, format('M%s', k), CASE WHEN k <= 7 THEN 'electricity' ELSE 'natural_gas' END, 'kWh'
FROM car.site s CROSS JOIN generate_series(1, 10) k ORDER BY s.id, k;
SELECT car.ensure_partitions('2023-01-01', '2023-04-30') \g /dev/null

-- one INSERT a month; quantities to 3 decimals (what meter files carry), a
-- day/night profile with deterministic jitter, every reading from one file
CREATE FUNCTION pg_temp.insert_month(lo timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO car.reading (meter_id, ts, quantity, file_id)
    SELECT m.id, g.t,
           round((((1 + m.id % 5) * CASE WHEN (g.i - 1) % 48 BETWEEN 14 AND 38 THEN 1.0 ELSE 0.4 END
                   + ((m.id * 31 + g.i * 17) % 23) / 20.0)
                  * CASE WHEN m.activity = 'natural_gas' THEN 2 ELSE 1 END)::numeric, 3)::float8,
           1000 + extract(month FROM lo)::int
    FROM car.meter m
    CROSS JOIN generate_series(lo, lo + interval '1 month' - interval '30 minutes', interval '30 minutes')
        WITH ORDINALITY g(t, i);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
SELECT pg_temp.insert_month('2023-01-01') + pg_temp.insert_month('2023-02-01') + pg_temp.insert_month('2023-03-01') AS n \gset
VACUUM ANALYZE car.reading;
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'readings', :n;
SELECT 'meters', count(*) FROM car.meter;
CREATE FUNCTION pg_temp.month_bytes(prefix text) RETURNS bigint LANGUAGE sql AS $$
    SELECT sum(pg_total_relation_size(format('car.%s_p2023%s', prefix, m)::regclass))::bigint
    FROM unnest('{01,02,03}'::text[]) m $$;
SELECT 'rows_bytes', pg_temp.month_bytes('reading');
SELECT 'rows_bytes_per_reading', round(pg_temp.month_bytes('reading')::numeric / :n, 2);

-- the copy, compacted; then VACUUM (the partitions' deleted rows go)
\c postgres
DROP DATABASE IF EXISTS bench_compact_packed;
CREATE DATABASE bench_compact_packed TEMPLATE bench_compact;
\c bench_compact_packed
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT clock_timestamp() AS t0 \gset
SELECT car.compact('2023-01-01') + car.compact('2023-02-01') + car.compact('2023-03-01') AS packed \gset
SELECT 'compact_seconds', round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2);
SELECT 'compacted_readings', :packed;
VACUUM ANALYZE car.reading;
VACUUM ANALYZE car.reading_day;
CREATE FUNCTION pg_temp.month_bytes(prefix text) RETURNS bigint LANGUAGE sql AS $$
    SELECT sum(pg_total_relation_size(format('car.%s_p2023%s', prefix, m)::regclass))::bigint
    FROM unnest('{01,02,03}'::text[]) m $$;
SELECT 'compact_bytes', pg_temp.month_bytes('reading_day');
SELECT 'compact_bytes_per_reading', round(pg_temp.month_bytes('reading_day')::numeric / :n, 2);
-- with the emptied partitions of car.reading: their pages and indexes after
-- VACUUM, then after car.maintenance() truncated them (no snapshot from
-- before the compaction is left)
SELECT 'compact_bytes_per_reading_vacuumed', round((pg_temp.month_bytes('reading_day') + pg_temp.month_bytes('reading'))::numeric / :n, 2);
SET car.compact_after = 0;
SELECT 'partitions_emptied', car.maintenance()->'compacted_partitions_emptied';
RESET car.compact_after;
SELECT 'compact_bytes_per_reading_all', round((pg_temp.month_bytes('reading_day') + pg_temp.month_bytes('reading'))::numeric / :n, 2);
SELECT 'meter_days', sum(meter_days) FROM car.compacted_month;

-- the timed runs, alternating: rows (bench_compact), then compacted
\set run 1
\ir compact_runs.sql
\set run 2
\ir compact_runs.sql
\set run 3
\ir compact_runs.sql
SELECT 'same_emissions', :'md5_rows' = :'md5_compact';
\c postgres
DROP DATABASE bench_compact_packed;
