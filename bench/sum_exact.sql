-- Cost of exact day sums (sum(car.float8_decimal(quantity))::float8, see
-- src/refresh.c EXACT) in a full refresh.  100 meters x 90 UK days of
-- half-hourly readings (431,800: the clock skips 2 half-hours on 2023-03-26),
-- from 3 files; then 5 rounds in one session, the order alternating: the full refresh's
-- grouping statement as it was (old: float8 sums), as it is (new: numeric
-- over car.float8_decimal), with PostgreSQL's float8::numeric instead
-- (pgcast), and car.refresh(true) itself (which runs new, then prices and
-- stores); then what summing the reports exactly would cost (car.report_monthly
-- as it is against a copy with exact sums).  Prints key|value lines (seconds).  Run by bench/run.sh (section
-- sumexact).
-- psql -X -q -d DB -f bench/sum_exact.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'UTC';
CREATE EXTENSION IF NOT EXISTS car;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2023, 2024) y) s \g /dev/null
SELECT car.ensure_partitions('2023-01-01', '2023-05-01') \g /dev/null
INSERT INTO car.site (name, org) SELECT 'B site ' || s, 'bench' FROM generate_series(1, 10) s;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, 'M' || k, CASE WHEN k <= 7 THEN 'electricity' ELSE 'natural_gas' END, 'kWh'
FROM car.site s CROSS JOIN generate_series(1, 10) k WHERE s.org = 'bench';
INSERT INTO car.source (name, kind) VALUES ('bench files', 'push');
INSERT INTO car.source_file (source_id, name, sha256, bytes, status)
SELECT s.id, 'b' || i || '.csv', repeat(to_hex(i), 64), 1, 'loaded' FROM car.source s, generate_series(1, 3) i;
-- meter-like values with 3 decimals, from one of 3 files per reading
INSERT INTO car.reading (meter_id, ts, quantity, file_id)
SELECT m.id, t, round((0.2 + random() * 5)::numeric, 3)::float8, (SELECT min(id) FROM car.source_file) + floor(random() * 3)::int
FROM car.meter m, generate_series(timestamp '2023-01-01' AT TIME ZONE 'Europe/London',
                                  timestamp '2023-04-01' AT TIME ZONE 'Europe/London' - interval '30 minutes', interval '30 minutes') t;
VACUUM ANALYZE car.reading;
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'readings', count(*) FROM car.reading;
SELECT car.refresh(true) \g /dev/null
SELECT 'meter_days', count(DISTINCT (meter_id, day)) FROM car.emission_daily;

-- The grouping statements (ALL_DAYS's f and d), as they were and as they are.
\set old 'WITH f AS (SELECT meter_id, (ts AT TIME ZONE ''Europe/London'')::date AS day, file_id, sum(quantity) AS q, sum(quantity) FILTER (WHERE quality = ''estimated'') AS qe, count(*) FILTER (WHERE quality = ''actual'') AS na, count(*) FILTER (WHERE quality = ''estimated'') AS ne FROM car.reading GROUP BY 1, 2, 3), d AS (SELECT meter_id, day, sum(q) AS quantity, coalesce(sum(qe), 0) AS quantity_estimated, sum(na)::int AS pa, sum(ne)::int AS pe, array_agg(file_id) FILTER (WHERE file_id IS NOT NULL) AS file_ids FROM f GROUP BY 1, 2) SELECT count(*), sum(quantity) FROM d'
\set new 'WITH f AS (SELECT meter_id, (ts AT TIME ZONE ''Europe/London'')::date AS day, file_id, sum(car.float8_decimal(quantity)) AS q, sum(car.float8_decimal(quantity)) FILTER (WHERE quality = ''estimated'') AS qe, count(*) FILTER (WHERE quality = ''actual'') AS na, count(*) FILTER (WHERE quality = ''estimated'') AS ne FROM car.reading GROUP BY 1, 2, 3), d AS (SELECT meter_id, day, sum(q)::float8 AS quantity, coalesce(sum(qe), 0)::float8 AS quantity_estimated, sum(na)::int AS pa, sum(ne)::int AS pe, array_agg(file_id ORDER BY file_id) FILTER (WHERE file_id IS NOT NULL) AS file_ids FROM f GROUP BY 1, 2) SELECT count(*), sum(quantity) FROM d'
\set pgcast 'WITH f AS (SELECT meter_id, (ts AT TIME ZONE ''Europe/London'')::date AS day, file_id, sum(quantity::numeric) AS q, sum(quantity::numeric) FILTER (WHERE quality = ''estimated'') AS qe, count(*) FILTER (WHERE quality = ''actual'') AS na, count(*) FILTER (WHERE quality = ''estimated'') AS ne FROM car.reading GROUP BY 1, 2, 3), d AS (SELECT meter_id, day, sum(q)::float8 AS quantity, coalesce(sum(qe), 0)::float8 AS quantity_estimated, sum(na)::int AS pa, sum(ne)::int AS pe, array_agg(file_id ORDER BY file_id) FILTER (WHERE file_id IS NOT NULL) AS file_ids FROM f GROUP BY 1, 2) SELECT count(*), sum(quantity) FROM d'
:old \g /dev/null
:new \g /dev/null
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
:old ;
SELECT clock_timestamp() AS t1 \gset
:new ;
SELECT clock_timestamp() AS t2 \gset
:pgcast ;
SELECT clock_timestamp() AS t3 \gset
SELECT car.refresh(true);
SELECT clock_timestamp() AS t4 \gset
\o
SELECT * FROM (VALUES ('old_1', extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)), ('new_1', extract(epoch FROM :'t2'::timestamptz - :'t1'::timestamptz)),
                       ('pgcast_1', extract(epoch FROM :'t3'::timestamptz - :'t2'::timestamptz)), ('refresh_1', extract(epoch FROM :'t4'::timestamptz - :'t3'::timestamptz))) v;
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
:new ;
SELECT clock_timestamp() AS t1 \gset
:old ;
SELECT clock_timestamp() AS t2 \gset
SELECT car.refresh(true);
SELECT clock_timestamp() AS t3 \gset
:pgcast ;
SELECT clock_timestamp() AS t4 \gset
\o
SELECT * FROM (VALUES ('old_2', extract(epoch FROM :'t2'::timestamptz - :'t1'::timestamptz)), ('new_2', extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)),
                       ('pgcast_2', extract(epoch FROM :'t4'::timestamptz - :'t3'::timestamptz)), ('refresh_2', extract(epoch FROM :'t3'::timestamptz - :'t2'::timestamptz))) v;
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
:old ;
SELECT clock_timestamp() AS t1 \gset
:new ;
SELECT clock_timestamp() AS t2 \gset
:pgcast ;
SELECT clock_timestamp() AS t3 \gset
SELECT car.refresh(true);
SELECT clock_timestamp() AS t4 \gset
\o
SELECT * FROM (VALUES ('old_3', extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)), ('new_3', extract(epoch FROM :'t2'::timestamptz - :'t1'::timestamptz)),
                       ('pgcast_3', extract(epoch FROM :'t3'::timestamptz - :'t2'::timestamptz)), ('refresh_3', extract(epoch FROM :'t4'::timestamptz - :'t3'::timestamptz))) v;
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
:new ;
SELECT clock_timestamp() AS t1 \gset
:old ;
SELECT clock_timestamp() AS t2 \gset
SELECT car.refresh(true);
SELECT clock_timestamp() AS t3 \gset
:pgcast ;
SELECT clock_timestamp() AS t4 \gset
\o
SELECT * FROM (VALUES ('old_4', extract(epoch FROM :'t2'::timestamptz - :'t1'::timestamptz)), ('new_4', extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)),
                       ('pgcast_4', extract(epoch FROM :'t4'::timestamptz - :'t3'::timestamptz)), ('refresh_4', extract(epoch FROM :'t3'::timestamptz - :'t2'::timestamptz))) v;
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
:old ;
SELECT clock_timestamp() AS t1 \gset
:new ;
SELECT clock_timestamp() AS t2 \gset
:pgcast ;
SELECT clock_timestamp() AS t3 \gset
SELECT car.refresh(true);
SELECT clock_timestamp() AS t4 \gset
\o
SELECT * FROM (VALUES ('old_5', extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)), ('new_5', extract(epoch FROM :'t2'::timestamptz - :'t1'::timestamptz)),
                       ('pgcast_5', extract(epoch FROM :'t3'::timestamptz - :'t2'::timestamptz)), ('refresh_5', extract(epoch FROM :'t4'::timestamptz - :'t3'::timestamptz))) v;

-- The reports sum car.emission_daily's rows in float8.  What summing them
-- exactly would cost: car.report_monthly as it is and a copy summing every
-- float8 column as sum(car.float8_decimal(x))::float8, of one month (January)
-- and of all three, 9 rounds alternating which runs first, each read whole.
\o /dev/null
CREATE VIEW public.report_monthly_exact WITH (security_invoker = true) AS
SELECT l.organisation, l.site_id, l.site, l.month, l.activity, l.unit, l.quantity, l.kg_co2e, l.kg_co2e / 1000 AS tonnes_co2e,
       l.scope1_kg_co2e, l.scope2_kg_co2e, l.scope3_kg_co2e, l.meters, l.days_with_data, l.factor_years,
       (100.0 * l.periods_actual / nullif(x.periods_expected, 0))::float8 AS coverage,
       (100.0 * l.kg_co2e_estimated / nullif(l.kg_co2e, 0))::float8 AS pct_estimated
FROM (
    SELECT e.org AS organisation, e.site_id, s.name AS site, e.month, e.activity, e.unit,
           (sum(car.float8_decimal(e.quantity)) FILTER (WHERE e.primary_row))::float8 AS quantity,
           sum(car.float8_decimal(e.kg_co2e))::float8 AS kg_co2e,
           coalesce(sum(car.float8_decimal(e.kg_co2e)) FILTER (WHERE e.scope = 1), 0)::float8 AS scope1_kg_co2e,
           coalesce(sum(car.float8_decimal(e.kg_co2e)) FILTER (WHERE e.scope = 2), 0)::float8 AS scope2_kg_co2e,
           coalesce(sum(car.float8_decimal(e.kg_co2e)) FILTER (WHERE e.scope = 3), 0)::float8 AS scope3_kg_co2e,
           count(DISTINCT e.meter_id) AS meters,
           count(DISTINCT e.day) AS days_with_data,
           string_agg(DISTINCT e.factor_year::text, ', ') AS factor_years,
           sum(e.periods_actual) FILTER (WHERE e.primary_row) AS periods_actual,
           sum(car.float8_decimal(e.kg_co2e_estimated))::float8 AS kg_co2e_estimated
    FROM car.emission_reported e
    LEFT JOIN car.site s ON s.id = e.site_id
    GROUP BY e.org, e.site_id, s.name, e.month, e.activity, e.unit) l
LEFT JOIN (SELECT coalesce(org, '') AS org, site_id, month, activity, unit, sum(periods_expected) AS periods_expected
           FROM car.expected_reported GROUP BY coalesce(org, ''), site_id, month, activity, unit) x
    ON x.org = coalesce(l.organisation, '') AND x.site_id = l.site_id AND x.month = l.month
    AND x.activity = l.activity AND x.unit = l.unit;
-- seconds to read every row of q
CREATE FUNCTION pg_temp.read_all(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    r  record;
BEGIN
    FOR r IN EXECUTE q LOOP
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
CREATE FUNCTION pg_temp.report_rounds(rounds int) RETURNS TABLE (key text, seconds float8) LANGUAGE plpgsql AS $$
DECLARE
    s text;
    v text;
BEGIN
    FOREACH s IN ARRAY ARRAY['rmonth', 'rall'] LOOP
        PERFORM pg_temp.read_all(format('SELECT * FROM %s %s', r, CASE s WHEN 'rmonth' THEN 'WHERE month = ''2023-01-01''' ELSE '' END))
        FROM unnest(ARRAY['car.report_monthly', 'public.report_monthly_exact']) r;
        FOR i IN 1 .. rounds LOOP
            FOREACH v IN ARRAY CASE WHEN i % 2 = 1 THEN ARRAY['float8', 'exact'] ELSE ARRAY['exact', 'float8'] END LOOP
                key := s || '_' || v || '_' || i;
                seconds := pg_temp.read_all(format('SELECT * FROM %s %s', CASE v WHEN 'float8' THEN 'car.report_monthly' ELSE 'public.report_monthly_exact' END,
                                                   CASE s WHEN 'rmonth' THEN 'WHERE month = ''2023-01-01''' ELSE '' END));
                RETURN NEXT;
            END LOOP;
        END LOOP;
    END LOOP;
END $$;
\o
SELECT 'rmonth_rows', count(*) FROM car.emission_daily WHERE month = '2023-01-01';
SELECT 'rall_rows', count(*) FROM car.emission_daily;
SELECT 'report_lines_differ', count(*) FROM car.report_monthly a JOIN public.report_monthly_exact b USING (site_id, month, activity, unit)
WHERE a.kg_co2e <> b.kg_co2e OR a.quantity IS DISTINCT FROM b.quantity;
SELECT 'report_lines', count(*) FROM car.report_monthly;
SELECT 'report_max_rel', max(abs(a.kg_co2e - b.kg_co2e) / abs(a.kg_co2e)) FROM car.report_monthly a JOIN public.report_monthly_exact b USING (site_id, month, activity, unit);
SELECT * FROM pg_temp.report_rounds(9);
