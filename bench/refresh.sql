-- Benchmark of car.refresh() and the monthly report (issue 5).  Run by
-- bench/run.sh in a database of its own; prints key|value lines.
--   3 years x 300 meters of half-hourly readings (15,768,000 rows, loaded
--   through car's change-tracking triggers in monthly statements), then
--   (a) full refreshes, (b) incremental refreshes after appending one day,
--   (c) a one-month car.report_monthly with and without partition pruning.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'Europe/London';
CREATE EXTENSION IF NOT EXISTS car;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2021, 2024) y) s \g /dev/null

-- 30 sites x 10 meters: 7 electricity and 3 natural gas meters a site, all in kWh
INSERT INTO car.site (name, org, floor_area_m2)
SELECT format('Site %s', s), 'bench', 1000 + 150 * s FROM generate_series(1, 30) s;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, format('M%s', k), CASE WHEN k <= 7 THEN 'electricity' ELSE 'natural_gas' END, 'kWh'
FROM car.site s CROSS JOIN generate_series(1, 10) k
WHERE s.org = 'bench'
ORDER BY s.id, k;
-- partitions of car.reading and car.emission_daily, up to the appended days
SELECT car.ensure_partitions('2021-01-01 00:00 Europe/London', '2024-01-31 00:00 Europe/London') \g /dev/null

-- Insert the readings of every bench meter for [lo, hi) in one statement (so
-- car's statement trigger queues its meter-days once).  Half-hour i of the
-- range (from 1): a day/night profile plus deterministic jitter, doubled for
-- gas; cheap integer and float arithmetic.
CREATE FUNCTION pg_temp.insert_readings(lo timestamptz, hi timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO car.reading (meter_id, ts, quantity)
    SELECT m.id, g.t,
           ((1 + m.id % 5) * CASE WHEN (g.i - 1) % 48 BETWEEN 14 AND 38 THEN 1.0::float8 ELSE 0.4::float8 END
            + ((m.id * 31 + g.i * 17) % 23) / 20.0::float8)
           * CASE WHEN m.activity = 'natural_gas' THEN 2.0::float8 ELSE 1.0::float8 END
    FROM car.meter m
    JOIN car.site s ON s.id = m.site_id AND s.org = 'bench'
    CROSS JOIN generate_series(lo, hi - interval '30 minutes', interval '30 minutes') WITH ORDINALITY g(t, i);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- 2021-01-01 .. 2023-12-31 (UK local days), one INSERT (and commit) a month
SELECT clock_timestamp() AS t0 \gset
\o /dev/null
SELECT format('SELECT pg_temp.insert_readings(%L, %L)',
              d::timestamp AT TIME ZONE 'Europe/London', (d + interval '1 month')::timestamp AT TIME ZONE 'Europe/London')
FROM generate_series('2021-01-01'::timestamp, '2023-12-01', interval '1 month') d
ORDER BY d \gexec
\o
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'load_seconds', round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1);
SELECT 'readings', count(*) FROM car.reading;
SELECT 'queued_meter_days', count(*) FROM car.refresh_queue;
SELECT clock_timestamp() AS t0 \gset
VACUUM ANALYZE car.reading;
SELECT 'vacuum_seconds', round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1);
SELECT 'reading_mb', sum(pg_total_relation_size(inhrelid))::bigint / 1048576 FROM pg_inherits WHERE inhparent = 'car.reading'::regclass;

-- (a) full refresh, three times, each its own statement and transaction
SELECT clock_timestamp() AS t0 \gset
SELECT car.refresh(true) AS days \gset
SELECT 'full_1', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT 'full_days', :days;
SELECT clock_timestamp() AS t0 \gset
SELECT car.refresh(true) AS days \gset
SELECT 'full_2', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
SELECT car.refresh(true) AS days \gset
SELECT 'full_3', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT 'emission_rows', count(*) FROM car.emission_daily;
-- the state autovacuum would reach: the repeated full refreshes left dead rows
VACUUM ANALYZE car.emission_daily;
VACUUM ANALYZE car.refresh_queue;

-- (b) append one day (300 meters x 48 half-hours), then an incremental
-- refresh; three successive days, 2024-01-01 .. 2024-01-03 (and a fourth).  A failing
-- refresh is reported (incr_error) rather than ending the benchmark.
SELECT clock_timestamp() AS t0 \gset
SELECT pg_temp.insert_readings('2024-01-01 00:00', '2024-01-02 00:00') AS appended \gset
SELECT 'append_1', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT 'appended_readings', :appended;
SELECT 'appended_queued', count(*) FROM car.refresh_queue;
SELECT clock_timestamp() AS t0 \gset
\set ON_ERROR_STOP 0
SELECT car.refresh() AS days \gset
\set ON_ERROR_STOP 1
\if :ERROR
SELECT 'incr_error', :'LAST_ERROR_MESSAGE';
\else
SELECT 'incr_1', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT 'incr_days', :days;
\endif

SELECT clock_timestamp() AS t0 \gset
SELECT pg_temp.insert_readings('2024-01-02 00:00', '2024-01-03 00:00') AS appended \gset
SELECT 'append_2', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
\set ON_ERROR_STOP 0
SELECT car.refresh() AS days \gset
\set ON_ERROR_STOP 1
\if :ERROR
SELECT 'incr_error', :'LAST_ERROR_MESSAGE';
\else
SELECT 'incr_2', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
\endif

SELECT clock_timestamp() AS t0 \gset
SELECT pg_temp.insert_readings('2024-01-03 00:00', '2024-01-04 00:00') AS appended \gset
SELECT 'append_3', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
\set ON_ERROR_STOP 0
SELECT car.refresh() AS days \gset
\set ON_ERROR_STOP 1
\if :ERROR
SELECT 'incr_error', :'LAST_ERROR_MESSAGE';
\else
SELECT 'incr_3', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
\endif

-- once more with JIT on, the server default (as a car-refresh pg_cron job runs);
-- the runs above, like the other benchmarks, have it off
SET jit = on;
SELECT clock_timestamp() AS t0 \gset
SELECT pg_temp.insert_readings('2024-01-04 00:00', '2024-01-05 00:00') AS appended \gset
SELECT 'append_4', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
\set ON_ERROR_STOP 0
SELECT car.refresh() AS days \gset
\set ON_ERROR_STOP 1
\if :ERROR
SELECT 'incr_error', :'LAST_ERROR_MESSAGE';
\else
SELECT 'incr_jit', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
\endif
SET jit = off;
-- what the incremental refreshes wrote: 300 meter-days a day, 7 x 4 + 3 x 2 components a site
SELECT 'incr_rows', count(*) FROM car.emission_daily WHERE day BETWEEN '2024-01-01' AND '2024-01-04';
SELECT 'incr_meter_days', count(DISTINCT (meter_id, day)) FROM car.emission_daily WHERE day BETWEEN '2024-01-01' AND '2024-01-04';
SELECT 'queue_left', count(*) FROM car.refresh_queue;
SELECT 'emission_partitions', count(*) FROM pg_inherits WHERE inhparent = 'car.emission_daily'::regclass;

-- (c) a one-month report, with and without partition pruning
CREATE OR REPLACE FUNCTION pg_temp.timeit(query text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
BEGIN
    EXECUTE query;		-- warm up
    FOR i IN 1 .. n LOOP
        t0 := clock_timestamp();
        EXECUTE query;
        times := times || extract(epoch FROM clock_timestamp() - t0)::float8;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;
-- the lines of a query's plan
CREATE OR REPLACE FUNCTION pg_temp.plan_lines(query text, options text DEFAULT 'COSTS OFF') RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE format('EXPLAIN (%s) %s', options, query) LOOP
        RETURN NEXT line;
    END LOOP;
END $$;
-- the partitions of car.emission_daily a plan reads (not their indexes)
CREATE OR REPLACE FUNCTION pg_temp.partitions_read(query text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(DISTINCT m[1]) FROM pg_temp.plan_lines(query) l,
        regexp_match(l, ' on (emission_daily_(?:p[0-9]{6}|default))\M') m
$$;
-- 8 kB pages the query touches (shared hit + read, from its plan's top node)
CREATE OR REPLACE FUNCTION pg_temp.pages_touched(query text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((regexp_match(l, 'hit=([0-9]+)'))[1]::bigint, 0) + coalesce((regexp_match(l, 'read=([0-9]+)'))[1]::bigint, 0)
    FROM pg_temp.plan_lines(query, 'ANALYZE, BUFFERS, TIMING OFF') WITH ORDINALITY p(l, n)
    WHERE l ~ '^ *Buffers: shared' ORDER BY n LIMIT 1
$$;
\set report 'SELECT * FROM car.report_monthly WHERE month = ''2022-06-01'''
SELECT 'report_rows', count(*) FROM (:report) r;
SET enable_partition_pruning = on;
SELECT 'report_pruned', round(pg_temp.timeit(:'report', 20)::numeric, 4);
SELECT 'report_pruned_partitions', pg_temp.partitions_read(:'report');
SELECT 'report_pruned_pages', pg_temp.pages_touched(:'report');
SELECT 'plan_pruned', l FROM pg_temp.plan_lines(:'report') l;
SET enable_partition_pruning = off;
SELECT 'report_unpruned', round(pg_temp.timeit(:'report', 20)::numeric, 4);
SELECT 'report_unpruned_partitions', pg_temp.partitions_read(:'report');
SELECT 'report_unpruned_pages', pg_temp.pages_touched(:'report');
SELECT 'plan_unpruned', l FROM pg_temp.plan_lines(:'report') l;
RESET enable_partition_pruning;
