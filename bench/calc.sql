-- Benchmark of the emission calculator (issue 2).  Run by bench/run.sh.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'Europe/London';
CREATE EXTENSION IF NOT EXISTS car;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2021, 2024) y) s;

-- 10 million half-hourly readings over 2021-2024, in time order (as ingested);
-- psql -v rows=N for another number (make bench: BENCH_CALC_ROWS)
\if :{?rows}
\else
\set rows 10000000
\endif
DROP TABLE IF EXISTS bench_reading;
CREATE UNLOGGED TABLE bench_reading AS
SELECT '2021-01-01 00:00+00'::timestamptz + (i % 70128) * interval '30 minutes' AS ts,
       ((i % 143) / 10.0 + 0.5)::float8 AS q
FROM generate_series(0, :rows - 1) i
ORDER BY 1;
VACUUM ANALYZE bench_reading;
-- the same rows in a scrambled order
DROP TABLE IF EXISTS bench_reading_shuffled;
CREATE UNLOGGED TABLE bench_reading_shuffled AS SELECT * FROM bench_reading ORDER BY md5(ts::text || q::text);
VACUUM ANALYZE bench_reading_shuffled;

-- this backend's CPU time so far, in seconds (Linux: /proc/self/schedstat's
-- first field, nanoseconds on a CPU), or NULL where it cannot be read.  On a
-- machine shared with other work the wall clock counts the time spent waiting
-- for a CPU; CPU time does not, so it is the steadier of the two.
CREATE OR REPLACE FUNCTION pg_temp.cpu_seconds() RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
    RETURN split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::float8 / 1e9;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END $$;

-- median of n runs of a query: wall seconds|backend CPU seconds
CREATE OR REPLACE FUNCTION pg_temp.timeit(query text, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c0 float8;
    times float8[] := '{}';
    cpus float8[] := '{}';
    dummy text;
BEGIN
    EXECUTE query INTO dummy;		-- warm up
    FOR i IN 1 .. n LOOP
        c0 := pg_temp.cpu_seconds();
        t0 := clock_timestamp();
        EXECUTE query INTO dummy;
        times := times || extract(epoch FROM clock_timestamp() - t0)::float8;
        cpus := cpus || (pg_temp.cpu_seconds() - c0);
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x) || '|' ||
           coalesce((SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 6)::text
                     FROM unnest(cpus) x WHERE x IS NOT NULL), '');
END $$;

\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'rows', count(*) FROM bench_reading;
SELECT 'a_co2e', pg_temp.timeit($q$SELECT sum(car.co2e(q, 'kWh', 'electricity', ts)) FROM bench_reading$q$, 5);
SELECT 'b_bare', pg_temp.timeit($q$SELECT sum(q * 0.21233) FROM bench_reading$q$, 5);
SELECT 'c_join', pg_temp.timeit($q$
    SELECT sum(r.q * f.value)
    FROM bench_reading r
    JOIN car.factor_set s ON s.year = extract(year FROM r.ts) AND s.superseded_by IS NULL
    JOIN car.factor f ON f.set_id = s.id AND f.level1 = 'UK electricity' AND f.level2 = 'Electricity generated'
         AND f.level3 = 'Electricity: UK' AND f.gas = 'CO2e' AND f.uom = 'kWh'$q$, 3);
SELECT 'a_co2e_shuffled', pg_temp.timeit($q$SELECT sum(car.co2e(q, 'kWh', 'electricity', ts)) FROM bench_reading_shuffled$q$, 5);
SELECT 'b_bare_shuffled', pg_temp.timeit($q$SELECT sum(q * 0.21233) FROM bench_reading_shuffled$q$, 5);
-- correctness of what was timed: (a) and (c) agree
SELECT 'agree', (SELECT sum(car.co2e(q, 'kWh', 'electricity', ts)) FROM bench_reading) /
    (SELECT sum(r.q * f.value::float8) FROM bench_reading r
     JOIN car.factor_set s ON s.year = extract(year FROM r.ts) AND s.superseded_by IS NULL
     JOIN car.factor f ON f.set_id = s.id AND f.level1 = 'UK electricity' AND f.level2 = 'Electricity generated'
          AND f.level3 = 'Electricity: UK' AND f.gas = 'CO2e' AND f.uom = 'kWh');

-- loading the 2024 workbook (541 kB, 8,741 rows): a fresh load each time
CREATE TEMP TABLE wb AS SELECT pg_read_binary_file(:'xlsx') AS b;
CREATE OR REPLACE FUNCTION pg_temp.time_loads(n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
BEGIN
    FOR i IN 1 .. n LOOP
        DELETE FROM car.factor_set WHERE sha256 = encode(sha256((SELECT b FROM wb)), 'hex');
        t0 := clock_timestamp();
        PERFORM car.load_factors((SELECT b FROM wb), 'bench.xlsx');
        times := times || extract(epoch FROM clock_timestamp() - t0)::float8;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;
SELECT 'load_2024_xlsx', pg_temp.time_loads(5);
DROP TABLE bench_reading, bench_reading_shuffled;
