-- The timed steps of bench/compact.sql in the database connected to, as
-- storage :storage, run :run.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'UTC';
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT clock_timestamp() AS t0 \gset
SELECT car.refresh(true) \g /dev/null
SELECT 'full_' || :'storage' || '_' || :'run', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s', meter_id, day, component, float8send(quantity), kg_co2e, periods_actual),
                      ',' ORDER BY meter_id, day, component)) AS md5_:storage
FROM car.emission_daily \gset
VACUUM ANALYZE car.emission_daily;
-- 1% of the meter-days (every tenth meter on every tenth day), queued by hand
INSERT INTO car.refresh_queue (meter_id, day)
SELECT m.id, d::date FROM car.meter m, generate_series('2023-01-01'::date, '2023-03-31', '1 day') d
WHERE m.id % 10 = 0 AND extract(day FROM d)::int % 10 = 0;
SELECT 'queued_meter_days', count(*) FROM car.refresh_queue;
SELECT clock_timestamp() AS t0 \gset
SELECT car.refresh() \g /dev/null
SELECT 'incr_' || :'storage' || '_' || :'run', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM (SELECT meter_id, sum(quantity) FROM car.reading
                      WHERE ts >= '2023-02-01' AND ts < '2023-03-01' GROUP BY meter_id) s \g /dev/null
SELECT 'scan_' || :'storage' || '_' || :'run', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
SELECT sum(d.q) FROM generate_series(1, 1000) i
CROSS JOIN LATERAL (SELECT sum(r.quantity) AS q FROM car.reading r WHERE r.meter_id = 1 + i % 200
                    AND r.ts >= '2023-02-01'::timestamptz + (i % 28) * interval '1 day'
                    AND r.ts < '2023-02-02'::timestamptz + (i % 28) * interval '1 day') d \g /dev/null
SELECT 'point_' || :'storage' || '_' || :'run', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
