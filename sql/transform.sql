-- car.emission_daily, car.refresh() and the reporting views, over every
-- reading the earlier tests loaded (Cambridge 2021-2023, Energy Sparks 2019-
-- 2023, the generator's files, the worker's downloads).
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
SET DateStyle = ISO;

-- Rows that cannot be priced: 2019 readings predate every loaded factor set.
SELECT count(*) > 0 AS some_2019_readings FROM car.reading WHERE ts < '2021-01-01 00:00 Europe/London';

-- 1. The first refresh computes everything (a full one: never refreshed).
--    The 2019 days are set aside with a warning and stay queued.
SELECT car.refresh() > 0 AS computed;
SELECT full_needed, last_full_at IS NOT NULL AS was_full, unpriced_days > 0 AS some_unpriced, problem
FROM car.refresh_state;
SELECT (SELECT count(*) FROM (SELECT DISTINCT meter_id, day FROM car.refresh_queue) q)
     = (SELECT unpriced_days FROM car.refresh_state) AS unpriced_stay_queued,
       (SELECT bool_and(day < '2021-01-01') FROM car.refresh_queue) AS only_2019_2020_queued;
SELECT count(*) AS rows_before_2021 FROM car.emission_daily WHERE day < '2021-01-01';

-- 2. Totals equal car.emissions() applied to every reading one by one, per
--    site, month and component, to 1e-9 relative (independent query).
CREATE TEMP TABLE one_by_one AS
SELECT m.site_id, date_trunc('month', r.ts AT TIME ZONE 'Europe/London')::date AS month, e.component,
       sum(e.kg_co2e) AS kg_co2e, sum(e.kg_co2) AS kg_co2, sum(e.kg_ch4) AS kg_ch4, sum(e.kg_n2o) AS kg_n2o,
       sum(r.quantity) AS quantity, count(*) AS readings
FROM car.reading r
JOIN car.meter m ON m.id = r.meter_id
CROSS JOIN LATERAL car.emissions(r.quantity, m.unit, m.activity, r.ts) e
WHERE r.ts >= '2021-01-01 00:00 Europe/London'
GROUP BY 1, 2, 3;
CREATE TEMP TABLE daily AS
SELECT site_id, month, component, sum(kg_co2e) AS kg_co2e, sum(kg_co2) AS kg_co2, sum(kg_ch4) AS kg_ch4,
       sum(kg_n2o) AS kg_n2o, sum(quantity) AS quantity
FROM car.emission_daily GROUP BY 1, 2, 3;
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b));
SELECT count(*) > 100 AS many_groups,
       count(*) FILTER (WHERE o.site_id IS NULL OR d.site_id IS NULL) AS unmatched_groups,
       count(*) FILTER (WHERE NOT pg_temp.close(o.kg_co2e, d.kg_co2e)) AS co2e_differs,
       count(*) FILTER (WHERE NOT (pg_temp.close(o.kg_co2, d.kg_co2) AND pg_temp.close(o.kg_ch4, d.kg_ch4)
                                   AND pg_temp.close(o.kg_n2o, d.kg_n2o))) AS gases_differ,
       count(*) FILTER (WHERE NOT pg_temp.close(o.quantity, d.quantity)) AS quantity_differs
FROM one_by_one o FULL JOIN daily d USING (site_id, month, component);
-- a known figure: b0 electricity in 2021 (the earlier tests corrected a few
-- of its values) at the 2021 UK generation factor, 0.21233 kg CO2e/kWh
SELECT round(sum(e.quantity)::numeric, 1) AS kwh, round(sum(e.kg_co2e)::numeric, 2) AS kg_co2e,
       (SELECT round(sum(r.quantity)::numeric, 1) FROM car.reading r WHERE r.meter_id = m.id
        AND r.ts >= '2021-01-01 00:00 Europe/London' AND r.ts < '2022-01-01 00:00 Europe/London') AS kwh_read,
       (SELECT round((sum(r.quantity) * 0.21233)::numeric, 2) FROM car.reading r WHERE r.meter_id = m.id
        AND r.ts >= '2021-01-01 00:00 Europe/London' AND r.ts < '2022-01-01 00:00 Europe/London') AS by_hand
FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id
WHERE m.name = 'b0 electricity' AND e.component = 'generation' AND e.day BETWEEN '2021-01-01' AND '2021-12-31'
GROUP BY m.id;
-- electricity: four components, with the scopes of the GHG Protocol
SELECT component, scope, factor_year FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id
WHERE m.name = 'b0 electricity' AND e.day = '2022-03-15' ORDER BY component;
-- each day lands in its month's partition
SELECT count(*) AS in_default FROM car.emission_daily_default;
SELECT count(DISTINCT tableoid) > 24 AS partitions_used FROM car.emission_daily;

-- 3. Nothing changed: nothing recomputed (the set-aside 2019 days are tried again and set aside again).
SET client_min_messages = error;
SELECT car.refresh() AS recomputed;
RESET client_min_messages;

-- 4. Append one day: only that day is recomputed, by any path (plain INSERT here).
CREATE TEMP TABLE before AS SELECT meter_id, day, component, xmin::text AS x, kg_co2e FROM car.emission_daily;
SELECT m.id AS b0 FROM car.meter m WHERE m.name = 'b0 electricity' \gset
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT :b0, g, 2.5 FROM generate_series('2024-03-01 00:00 Europe/London'::timestamptz,
                                        '2024-03-01 23:30 Europe/London', '30 minutes') g;
SET client_min_messages = error;
SELECT car.refresh() AS recomputed;
RESET client_min_messages;
SELECT e.day, e.component, e.quantity, round(e.kg_co2e::numeric, 6) AS kg_co2e, e.factor_year
FROM car.emission_daily e LEFT JOIN before b USING (meter_id, day, component)
WHERE b.x IS NULL OR b.x <> e.xmin::text ORDER BY 1, 2;
SELECT count(*) AS rows_lost FROM before b
WHERE NOT EXISTS (SELECT 1 FROM car.emission_daily e WHERE (e.meter_id, e.day, e.component) = (b.meter_id, b.day, b.component));
-- 2.5 kWh x 48 = 120 kWh at the 2024 generation factor (0.20705) by hand
SELECT round(120 * 0.20705, 6) AS by_hand;

-- 5. Corrections: an UPDATE, a superseding push and a DELETE are reflected.
UPDATE car.reading SET quantity = quantity + 10 WHERE meter_id = :b0 AND ts = '2024-03-01 12:00 Europe/London';
SET client_min_messages = error;
SELECT car.refresh() AS recomputed;
RESET client_min_messages;
SELECT quantity AS corrected_kwh FROM car.emission_daily WHERE meter_id = :b0 AND day = '2024-03-01' AND component = 'generation';
SELECT (car.add_source('transform-push', NULL, 'push', 'long', '{"site": "T site", "meter": "T electricity", "unit": "kWh", "timezone": "UTC", "activity": "electricity"}')).kind;
SELECT rows_loaded FROM car.push('transform-push', 'first.csv', convert_to(E'ts,kWh\n2023-05-02 10:00,1\n2023-05-02 10:30,2\n', 'UTF8'));
SET client_min_messages = error;
SELECT car.refresh() AS recomputed;
SELECT rows_loaded, rows_superseded FROM car.push('transform-push', 'second.csv', convert_to(E'ts,kWh\n2023-05-02 10:30,7\n', 'UTF8'));
SELECT car.refresh() AS recomputed;
RESET client_min_messages;
SELECT e.quantity AS superseded_total FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id
WHERE m.name = 'T electricity' AND e.component = 'generation';
DELETE FROM car.reading WHERE meter_id = :b0 AND ts >= '2024-03-01 00:00 Europe/London' AND ts < '2024-03-02 00:00 Europe/London';
SET client_min_messages = error;
SELECT car.refresh() AS recomputed;
RESET client_min_messages;
SELECT count(*) AS rows_left_for_deleted_day FROM car.emission_daily WHERE meter_id = :b0 AND day = '2024-03-01';

-- 6. A meter moved to another site: its days follow it.
SELECT m.id AS tmeter, s.id AS b0site FROM car.meter m, car.site s WHERE m.name = 'T electricity' AND s.name = 'UCam b0' \gset
UPDATE car.meter SET site_id = :b0site WHERE id = :tmeter;
SET client_min_messages = error;
SELECT car.refresh() AS recomputed;
RESET client_min_messages;
SELECT DISTINCT site_id = :b0site AS moved FROM car.emission_daily WHERE meter_id = :tmeter;

-- 7. Restatement: a revised 2022 set (UK grid generation 0.19338 -> 0.2)
--    restates the 2022 days and nothing else.
TRUNCATE before;
INSERT INTO before SELECT meter_id, day, component, xmin::text, kg_co2e FROM car.emission_daily;
SELECT count(DISTINCT (meter_id, day)) AS days_2022 FROM car.emission_daily WHERE factor_year = 2022 \gset
SET client_min_messages = warning;
SELECT year, revision FROM car.load_factors(convert_to(replace(
    convert_from(pg_read_binary_file(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2022.factors-by-category.csv'), 'UTF8'),
    'Electricity: UK,2020,,kWh,kg CO2e,0.19338', 'Electricity: UK,2020,,kWh,kg CO2e,0.2'), 'UTF8'), 'revised-2022.csv');
SET client_min_messages = error;
SELECT car.refresh() = :days_2022 AS restated_exactly_2022;
RESET client_min_messages;
SELECT e.factor_year, count(*) AS rows_rewritten
FROM car.emission_daily e JOIN before b USING (meter_id, day, component)
WHERE b.x <> e.xmin::text GROUP BY 1 ORDER BY 1;
SELECT count(*) AS generation_rows_2022,
       count(*) FILTER (WHERE abs(e.kg_co2e - e.quantity * 0.2) > 1e-9 * e.kg_co2e) AS not_at_0_2
FROM car.emission_daily e
WHERE e.factor_year = 2022 AND e.activity = 'electricity' AND e.component = 'generation';
-- taking the revision back restates 2022 again, to the published value
DELETE FROM car.factor_set WHERE file_name = 'revised-2022.csv';
SET client_min_messages = error;
SELECT car.refresh() = :days_2022 AS restated_again;
RESET client_min_messages;
SELECT count(*) FILTER (WHERE abs(e.kg_co2e - b.kg_co2e) > 1e-9 * abs(b.kg_co2e)) AS differ_from_before
FROM car.emission_daily e JOIN before b USING (meter_id, day, component);

-- 8. A full refresh gives what the increments built.
CREATE TEMP TABLE incremental AS SELECT * FROM car.emission_daily;
SET client_min_messages = error;
SELECT car.refresh(true) > 0 AS full_refresh;
RESET client_min_messages;
SELECT count(*) AS differences FROM (
    (SELECT site_id, meter_id, day, component, quantity, kg_co2e, factor_id FROM incremental
     EXCEPT SELECT site_id, meter_id, day, component, quantity, kg_co2e, factor_id FROM car.emission_daily)
    UNION ALL
    (SELECT site_id, meter_id, day, component, quantity, kg_co2e, factor_id FROM car.emission_daily
     EXCEPT SELECT site_id, meter_id, day, component, quantity, kg_co2e, factor_id FROM incremental)) d;

-- 9. Catalogue edits make the next refresh a full one (so does a TRUNCATE of
--    car.reading); so does
--    another reporting-year rule.
UPDATE car.unit SET aliases = aliases WHERE name = 'kWh';
SELECT full_needed FROM car.refresh_state;
SET client_min_messages = error;
SELECT car.refresh() > 0 AS full_again;
SET car.reporting_year_start = 4;
SELECT car.refresh() > 0 AS full_for_april_years;
SELECT reporting_year_start FROM car.refresh_state;
-- Feb 2022 belongs to the 2021/22 reporting year: 2021 factors
SELECT DISTINCT factor_year FROM car.emission_daily WHERE day BETWEEN '2022-02-01' AND '2022-02-28';
RESET car.reporting_year_start;
SELECT car.refresh() > 0 AS back_to_calendar_years;
RESET client_min_messages;
SELECT DISTINCT factor_year FROM car.emission_daily WHERE day BETWEEN '2022-02-01' AND '2022-02-28';

-- 10. Reporting views: the monthly report adds up to emission_daily, tonnes are kg / 1000.
SELECT abs((SELECT sum(kg_co2e) FROM car.report_monthly) - (SELECT sum(kg_co2e) FROM car.emission_daily))
       <= 1e-9 * (SELECT sum(kg_co2e) FROM car.emission_daily) AS monthly_adds_up,
       (SELECT bool_and(abs(tonnes_co2e * 1000 - kg_co2e) <= 1e-9 * abs(kg_co2e)) FROM car.report_monthly) AS tonnes,
       (SELECT bool_and(abs(scope1_kg_co2e + scope2_kg_co2e + scope3_kg_co2e - kg_co2e) <= 1e-9 * abs(kg_co2e))
        FROM car.report_monthly) AS scopes_add_up;
-- quantity counted once per meter-day, not once per component
SELECT round(quantity::numeric, 1) AS kwh, round(kg_co2e::numeric, 1) AS kg_co2e, meters, days_with_data, factor_years
FROM car.report_monthly WHERE site = 'UCam b0' AND activity = 'electricity' AND month = '2021-01-01';
SELECT round(sum(quantity)::numeric, 1) AS kwh_from_readings FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE m.name = 'b0 electricity' AND r.ts >= '2021-01-01 00:00 Europe/London' AND r.ts < '2021-02-01 00:00 Europe/London';
SELECT year, reporting_year, activity, round(quantity::numeric, 1) AS quantity
FROM car.report_yearly WHERE site = 'UCam b0' ORDER BY 1, 3;
SET car.reporting_year_start = 4;
SELECT DISTINCT reporting_year FROM car.report_yearly WHERE site = 'UCam b0' AND year = 2021;
RESET car.reporting_year_start;
SELECT scope, component, round(kg_co2e::numeric, 2) AS kg_co2e
FROM car.report_scope WHERE site = 'UCam b0' AND month = '2021-01-01' AND activity = 'electricity' ORDER BY 1, 2;
UPDATE car.site SET floor_area_m2 = 2500 WHERE name = 'UCam b0';
SELECT year, floor_area_m2, round(kg_co2e_per_m2::numeric, 3) AS intensity,
       round((kg_co2e / 2500)::numeric, 3) AS by_hand
FROM car.report_intensity WHERE site = 'UCam b0' ORDER BY 1;
-- a one-month report reads one partition
EXPLAIN (COSTS OFF) SELECT sum(kg_co2e) FROM car.report_monthly WHERE month = '2022-06-01';
-- every view and every column has a comment
SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE n.nspname = 'car' AND c.relname LIKE 'report_%' AND col_description(c.oid, a.attnum) IS NULL;
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'car' AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL;

-- 11. The read-only role pattern.  A car_reader sees the rows its verified
--     claims grant (none here: see test/jwt.sh for tokens); a car_auditor
--     sees every organisation.
SELECT car.grant_roles();
SELECT count(*) AS all_reports FROM car.report_monthly \gset
CREATE ROLE transform_bi LOGIN IN ROLE car_reader;
CREATE ROLE transform_auditor LOGIN IN ROLE car_auditor;
SET ROLE transform_bi;
SELECT count(*) AS reports_without_claims FROM car.report_monthly;
SELECT count(*) AS emissions_without_claims FROM car.emission_daily;
SELECT count(*) AS readings_without_claims FROM car.reading;
SELECT count(*) FROM car.source_file;
INSERT INTO car.site (name) VALUES ('nope');
SELECT car.refresh();
SET ROLE transform_auditor;
SELECT count(*) = :all_reports AS auditor_reads_all_reports FROM car.report_monthly;
SELECT count(*) > 0 AS auditor_reads_emissions FROM car.emission_daily;
INSERT INTO car.site (name) VALUES ('nope');
RESET ROLE;
SELECT (SELECT count(*) FROM car.report_monthly) > 0 AS superuser_sees_reports;
DROP ROLE transform_bi, transform_auditor;
