-- The emission calculator: car.co2e, car.emissions, factor-year selection
-- A fresh start: the cache must notice the extension being recreated.
DROP EXTENSION car;
CREATE EXTENSION car;
-- Reporting years start at local midnight: a UK organisation's clock.
SET TimeZone = 'Europe/London';
SET client_min_messages = warning;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2021, 2024) y) s;
RESET client_min_messages;

-- 1,000 kWh of UK electricity: 212.33 (2021), 193.38 (2022), 207.05 (2024)
SELECT y, round(car.co2e(1000, 'kWh', 'electricity', make_timestamptz(y, 6, 1, 0, 0, 0))::numeric, 6) AS kg_co2e
FROM (VALUES (2021), (2022), (2023), (2024)) v(y);

-- 2021 in full: generation 212.33 (CO2 210.16, CH4 0.80, N2O 1.37), T&D 18.79,
-- WTT generation 55.29, WTT T&D 4.89; each with the published row behind it
SELECT component, scope, round(kg_co2e::numeric, 6) AS kg_co2e, round(kg_co2::numeric, 6) AS kg_co2,
       round(kg_ch4::numeric, 6) AS kg_ch4, round(kg_n2o::numeric, 6) AS kg_n2o,
       factor_year, factor_value, factor_uom
FROM car.emissions(1000, 'kWh', 'electricity', '2021-03-01');
-- the audit trail points at the published rows
SELECT e.component, f.level1, f.level2, f.level3, f.gas, f.value = e.factor_value AS same_value,
       s.id = e.factor_set_id AND s.year = e.factor_year AS same_set
FROM car.emissions(1000, 'kWh', 'electricity', '2021-03-01') e
JOIN car.factor f ON f.id = e.factor_id JOIN car.factor_set s ON s.id = f.set_id;

-- natural gas, 10,000 kWh in 2021: Gross CV 1,831.60, Net CV 2,029.70
SELECT round(car.co2e(10000, 'kWh', 'natural_gas', '2021-07-01')::numeric, 6) AS gross_cv,
       round(car.co2e(10000, 'kWh', 'natural_gas_net_cv', '2021-07-01')::numeric, 6) AS net_cv,
       round(car.co2e(10000, 'kWh (Net CV)', 'natural_gas', '2021-07-01')::numeric, 6) AS net_cv_by_unit;
-- 1,000 m3 natural gas 2022 = 2,015.74 (the published cubic-metre row, in any spelling)
SELECT round(car.co2e(1000, 'm3', 'natural_gas', '2022-07-01')::numeric, 6) AS m3,
       round(car.co2e(1000, 'cubic metres', 'natural_gas', '2022-07-01')::numeric, 6) AS cubic_metres,
       round(car.co2e(1000000, 'litres', 'natural_gas', '2022-07-01')::numeric, 6) AS litres_converted;
-- 1,000 litres diesel 2021 = 2,512.33; 1,000 m3 water supply 2021 = 149
SELECT round(car.co2e(1000, 'litres', 'diesel', '2021-07-01')::numeric, 6) AS diesel,
       round(car.co2e(1000, 'm3', 'water_supply', '2021-07-01')::numeric, 6) AS water,
       round(car.co2e(1, 'million litres', 'water_supply', '2021-07-01')::numeric, 6) AS water_ml;
-- units the file does not publish are converted into the activity's row
SELECT round(car.co2e(5, 'MWh', 'electricity', '2021-07-01')::numeric, 6) AS mwh,
       round(car.co2e(100, 'therm', 'natural_gas', '2021-07-01')::numeric, 6) AS therms,
       round((100 * 29.3071070172 * 0.18316)::numeric, 6) AS therms_by_hand,
       round(car.co2e(36, 'GJ', 'electricity', '2021-07-01')::numeric, 6) AS gj,
       round(car.co2e(2000, 'kg', 'coal_industrial', '2021-07-01')::numeric, 6) AS kg_coal,
       round((2 * 2403.84)::numeric, 6) AS kg_coal_by_hand;
-- fuels: combustion plus well-to-tank
SELECT component, scope, round(kg_co2e::numeric, 6), factor_value, factor_uom
FROM car.emissions(10000, 'kWh', 'natural_gas', '2021-07-01');
SELECT component, scope, round(kg_co2e::numeric, 6), factor_value, factor_uom
FROM car.emissions(1000, 'litres', 'diesel', '2023-07-01');

-- Factor year.  A reading on 2022-02-10 with the reporting year starting in
-- April (Apr 2021 - Mar 2022) uses the 2021 set; starting in July
-- (Jul 2021 - Jun 2022) the newer 2022 set.
SELECT car.factor_year('2022-02-10') AS calendar;
SET car.reporting_year_start = 4;
SELECT car.factor_year('2022-02-10') AS april_start,
       (SELECT factor_year FROM car.emissions(1000, 'kWh', 'electricity', '2022-02-10') LIMIT 1) AS used,
       round(car.co2e(1000, 'kWh', 'electricity', '2022-02-10')::numeric, 6) AS kg;
SET car.reporting_year_start = 7;
SELECT car.factor_year('2022-02-10') AS july_start,
       (SELECT factor_year FROM car.emissions(1000, 'kWh', 'electricity', '2022-02-10') LIMIT 1) AS used,
       round(car.co2e(1000, 'kWh', 'electricity', '2022-02-10')::numeric, 6) AS kg;
-- boundaries: with an April start, 31 March is the old year, 1 April the new,
-- at London midnight (BST: 23:00 UTC)
SET car.reporting_year_start = 4;
SELECT ts, car.factor_year(ts), round(car.co2e(1000, 'kWh', 'electricity', ts)::numeric, 6) AS kg
FROM (VALUES ('2022-03-31 22:59:59+00'::timestamptz), ('2022-03-31 23:00:00+00'), ('2022-04-01 00:00:00+00')) v(ts);
-- the same in sessions on other clocks: the year is read on the UK calendar,
-- so 1 April 00:00 BST starts the new year whatever the session's time zone
SET TimeZone = 'UTC';
SELECT ts, car.factor_year(ts), round(car.co2e(1000, 'kWh', 'electricity', ts)::numeric, 6) AS kg
FROM (VALUES ('2022-03-31 22:59:59+00'::timestamptz), ('2022-03-31 23:00:00+00')) v(ts);
SET TimeZone = 'America/Los_Angeles';
SELECT car.factor_year('2022-03-31 22:59:59+00') AS last_of_march, car.factor_year('2022-03-31 23:00:00+00') AS first_of_april;
RESET car.reporting_year_start;
SELECT car.factor_year('2022-12-31 23:59:59+00') AS new_years_eve, car.factor_year('2023-01-01 00:00:00+00') AS new_year;
SET TimeZone = 'Europe/London';
SELECT ts, car.factor_year(ts), round(car.co2e(1000, 'kWh', 'electricity', ts)::numeric, 6) AS kg
FROM (VALUES ('2022-12-31 23:59:59.999999+00'::timestamptz), ('2023-01-01 00:00:00+00')) v(ts);
-- a reporting year starting in October uses its end year's set
SET car.reporting_year_start = 10;
SELECT car.factor_year('2021-09-30 12:00+01') AS sep_2021, car.factor_year('2021-10-01 12:00+01') AS oct_2021,
       car.factor_year('2022-09-30 12:00+01') AS sep_2022;
RESET car.reporting_year_start;

-- No set for the year: the newest earlier set, and the result says which.
SELECT DISTINCT factor_year FROM car.emissions(1000, 'kWh', 'electricity', '2026-05-01');
SELECT round(car.co2e(1000, 'kWh', 'electricity', '2026-05-01')::numeric, 6) AS uses_2024;
SET car.strict_factor_year = on;
SELECT car.co2e(1000, 'kWh', 'electricity', '2026-05-01');
SELECT round(car.co2e(1000, 'kWh', 'electricity', '2024-05-01')::numeric, 6) AS exact_year_ok;
RESET car.strict_factor_year;
-- none earlier at all
SELECT car.co2e(1000, 'kWh', 'electricity', '2019-05-01');
SELECT car.co2e(1000, 'kWh', 'electricity', 'infinity');

-- bad input
SELECT car.co2e(1000, 'kWh', 'unobtainium', '2021-05-01');
SELECT car.co2e(1000, 'furlongs', 'electricity', '2021-05-01');
SELECT car.co2e(1000, 'litres', 'electricity', '2021-05-01');
SELECT * FROM car.emissions(1000, 'kWh', 'unobtainium', '2021-05-01');
SELECT car.co2e(NULL, 'kWh', 'electricity', '2021-05-01') IS NULL AS strict;

-- user activities: cached lookups see new rows at once; ambiguity is explained
INSERT INTO car.activity (key, level1, level2, level3, description)
VALUES ('propane', 'Fuels', 'Gaseous fuels', 'Propane', 'Propane, either CV');
SELECT car.co2e(1000, 'kWh', 'propane', '2021-05-01');
SELECT round(car.co2e(1000, 'litres', 'propane', '2021-05-01')::numeric, 6) AS litres_ok,
       round(car.co2e(1000, 'kWh (Gross CV)', 'propane', '2021-05-01')::numeric, 6) AS gross_ok;
UPDATE car.activity SET uom_basis = 'Gross CV' WHERE key = 'propane';
SELECT round(car.co2e(1000, 'kWh', 'propane', '2021-05-01')::numeric, 6) AS after_update;
SELECT component, round(kg_co2e::numeric, 6) FROM car.emissions(1000, 'kWh', 'propane', '2021-05-01');
INSERT INTO car.activity (key, level1, description) VALUES ('nowhere', 'No such category', 'matches nothing');
SELECT car.co2e(1, 'kWh', 'nowhere', '2021-05-01');
DELETE FROM car.activity WHERE key IN ('propane', 'nowhere');

-- A revised factor set for a year replaces the old one in every backend's
-- cache, in the same session too; the superseded set stays for audit.
SELECT round(car.co2e(1000, 'kWh', 'electricity', '2023-05-01')::numeric, 6) AS before_revision;
-- (the 2023 file with its UK electricity generation factor 0,20707 made 0,3)
\getenv fixtures CAR_FIXTURES
SELECT year, revision FROM car.load_factors(convert_to(replace(
    convert_from(pg_read_binary_file(:'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2023-flat-file-update.frlocale.csv'), 'UTF8'),
    'Electricity: UK;kWh;;kWh;kg CO2e;0,20707', 'Electricity: UK;kWh;;kWh;kg CO2e;0,3'), 'UTF8'), 'revised-2023.csv');
SELECT round(car.co2e(1000, 'kWh', 'electricity', '2023-05-01')::numeric, 6) AS after_revision;
-- every component from the revision: generation 1000 x 0.3 = 300, the others as published
SELECT component, round(kg_co2e::numeric, 6) AS kg_co2e, factor_value FROM car.emissions(1000, 'kWh', 'electricity', '2023-05-01');
-- deleting the revision makes the set it superseded current again
DELETE FROM car.factor_set WHERE id = (SELECT max(id) FROM car.factor_set WHERE year = 2023);
SELECT year, revision, superseded_by FROM car.factor_set WHERE year = 2023;
SELECT round(car.co2e(1000, 'kWh', 'electricity', '2023-05-01')::numeric, 6) AS restored;

-- co2e agrees with the activity's own row of emissions (its first component)
SELECT a.key, y,
       car.co2e(123.4, 'kWh', a.key, make_timestamptz(y, 3, 1, 0, 0, 0))
         = (SELECT kg_co2e FROM car.emissions(123.4, 'kWh', a.key, make_timestamptz(y, 3, 1, 0, 0, 0)) LIMIT 1) AS agrees
FROM car.activity a, generate_series(2021, 2024) y
WHERE a.key IN ('electricity', 'natural_gas', 'lpg', 'coal_industrial')
ORDER BY 1, 2;

-- Over many readings spread across four years, summing car.co2e (the cached
-- fast path) equals the join a hand-written SQL model would use.
CREATE TEMP TABLE r AS
SELECT ('2021-01-01'::timestamptz + (i * interval '10 minutes 31 seconds')) AS ts,
       ((i * 7919) % 1000) / 10.0 AS q
FROM generate_series(1, 200000) i;
SELECT min(ts)::date, max(ts)::date, count(DISTINCT extract(year FROM ts)) AS years FROM r;
WITH bycar AS (SELECT extract(year FROM ts)::int AS y, sum(car.co2e(q, 'kWh', 'electricity', ts)) AS kg FROM r GROUP BY 1),
     byjoin AS (SELECT extract(year FROM r.ts)::int AS y, sum(r.q * f.value::float8) AS kg
                FROM r JOIN car.factor_set s ON s.year = extract(year FROM r.ts) AND s.superseded_by IS NULL
                JOIN car.factor f ON f.set_id = s.id AND f.level1 = 'UK electricity' AND f.level2 = 'Electricity generated'
                     AND f.level3 = 'Electricity: UK' AND f.gas = 'CO2e' AND f.uom = 'kWh'
                GROUP BY 1)
SELECT y, abs(bycar.kg - byjoin.kg) / byjoin.kg < 1e-12 AS equal FROM bycar JOIN byjoin USING (y) ORDER BY y;
-- The same sums with the rows in a scrambled order (the per-call cache keeps
-- several reporting years), and over 14 years, most of them falling back to
-- 2024's set (more years than the per-call cache holds).
WITH bycar AS (SELECT extract(year FROM ts)::int AS y, sum(car.co2e(q, 'kWh', 'electricity', ts)) AS kg
               FROM (SELECT * FROM r ORDER BY md5(ts::text)) shuffled GROUP BY 1),
     byjoin AS (SELECT extract(year FROM r.ts)::int AS y, sum(r.q * f.value::float8) AS kg
                FROM r JOIN car.factor_set s ON s.year = extract(year FROM r.ts) AND s.superseded_by IS NULL
                JOIN car.factor f ON f.set_id = s.id AND f.level1 = 'UK electricity' AND f.level2 = 'Electricity generated'
                     AND f.level3 = 'Electricity: UK' AND f.gas = 'CO2e' AND f.uom = 'kWh'
                GROUP BY 1)
SELECT y, abs(bycar.kg - byjoin.kg) / byjoin.kg < 1e-12 AS equal_shuffled FROM bycar JOIN byjoin USING (y) ORDER BY y;
CREATE TEMP TABLE r14 AS
SELECT ('2021-01-01'::timestamptz + (i * interval '1 hour 13 minutes')) AS ts, ((i::bigint * 104729) % 1000) / 10.0 AS q
FROM generate_series(1, 100000) i ORDER BY md5(i::text);
WITH bycar AS (SELECT extract(year FROM ts)::int AS y, sum(car.co2e(q, 'kWh', 'electricity', ts)) AS kg FROM r14 GROUP BY 1),
     byjoin AS (SELECT extract(year FROM r14.ts)::int AS y, sum(r14.q * f.value::float8) AS kg
                FROM r14 JOIN car.factor_set s ON s.year = least(extract(year FROM r14.ts), 2024) AND s.superseded_by IS NULL
                JOIN car.factor f ON f.set_id = s.id AND f.level1 = 'UK electricity' AND f.level2 = 'Electricity generated'
                     AND f.level3 = 'Electricity: UK' AND f.gas = 'CO2e' AND f.uom = 'kWh'
                GROUP BY 1)
SELECT count(*) AS years, bool_and(abs(bycar.kg - byjoin.kg) / byjoin.kg < 1e-12) AS all_equal
FROM bycar JOIN byjoin USING (y);
-- The per-call cache when the unit and activity change from row to row
-- (columns: their bytes are compared on every call), and in PL/pgSQL, which
-- evaluates one expression again and again with new variable values: every
-- call gives what car.emissions (no per-call cache) gives for its own row.
-- 400 rows, each of the 4 (unit, activity) pairs in each of 4 years: 16 kinds.
CREATE TEMP TABLE mixed AS
SELECT i, (i % 97) * 1.5 AS q, (ARRAY['kWh', 'MWh', 'kWh', 'litres'])[i % 4 + 1] AS unit,
       (ARRAY['electricity', 'electricity', 'natural_gas', 'diesel'])[i % 4 + 1] AS activity,
       make_timestamptz(2021 + (i / 4) % 4, 1 + (i * 5) % 12, 15, 12, 0, 0) AS ts
FROM generate_series(1, 400) i;
SELECT count(*) AS calls, count(DISTINCT (unit, activity, extract(year FROM ts))) AS kinds,
       bool_and(car.co2e(q, unit, activity, ts)
                = (SELECT kg_co2e FROM car.emissions(q, unit, activity, ts) LIMIT 1)) AS all_agree
FROM mixed;
CREATE FUNCTION pg_temp.co2e_each() RETURNS TABLE (i int, agrees bool) LANGUAGE plpgsql AS $$
DECLARE
    u text;
    a text;
    q float8;
    t timestamptz;
    kg float8;
BEGIN
    FOR i, q, u, a, t IN SELECT m.i, m.q, m.unit, m.activity, m.ts FROM mixed m ORDER BY m.i LOOP
        kg := car.co2e(q, u, a, t);
        agrees := kg = (SELECT e.kg_co2e FROM car.emissions(q, u, a, t) e LIMIT 1);
        RETURN NEXT;
    END LOOP;
END $$;
SELECT count(*) AS calls, bool_and(agrees) AS all_agree FROM pg_temp.co2e_each();
-- car.co2e's slot table (src/calc.c: one slot per 2^37 us, 38h10m38.95s, holds
-- the remembered year it lies wholly in) answers near every boundary what
-- car.emissions (no per-call cache) answers, rows in a scrambled order: each
-- UK reporting-year start for January, April (1 April 00:00 BST is 31 March
-- 23:00 UTC) and October starts, and each clock change (last Sundays of March
-- and October, 01:00 UTC), 1 us either side and one and two slot widths either
-- side, inside 2021-04-05 .. 2024-12-25 (years with a set, for all three
-- starts): 10 of the 12 year starts and 7 of the 8 clock changes, 7 offsets
-- each: 119 instants.  car.co2e prices electricity's own row, the generation
-- component of car.emissions.
CREATE TEMP TABLE edges AS
SELECT DISTINCT b + d AS ts, 1000.0::float8 AS q
FROM (SELECT make_date(y, m, 1)::timestamp AT TIME ZONE 'Europe/London' AS b
      FROM generate_series(2021, 2024) y, unnest(ARRAY[1, 4, 10]) m
      UNION ALL
      SELECT ((make_date(y, m, 31) - extract(dow FROM make_date(y, m, 31))::int) + time '01:00') AT TIME ZONE 'UTC'
      FROM generate_series(2021, 2024) y, unnest(ARRAY[3, 10]) m) bounds,
     unnest(ARRAY[interval '0', interval '1 microsecond', interval '-1 microsecond', interval '38:10:39',
                  interval '-38:10:39', interval '76:21:18', interval '-76:21:18']) d
WHERE b + d BETWEEN '2021-04-05' AND '2024-12-25';
SELECT count(*) AS instants, min(ts) > '2021-04-05' AS inside FROM edges;
CREATE FUNCTION pg_temp.edges_agree() RETURNS TABLE (start int, instants bigint, years bigint, agree bool)
LANGUAGE plpgsql AS $$
BEGIN
    FOREACH start IN ARRAY ARRAY[1, 4, 10] LOOP
        PERFORM set_config('car.reporting_year_start', start::text, true);
        SELECT count(*), count(DISTINCT car.factor_year(e.ts)),
               bool_and(car.co2e(e.q, 'kWh', 'electricity', e.ts)
                        = (SELECT x.kg_co2e FROM car.emissions(e.q, 'kWh', 'electricity', e.ts) x
                           WHERE x.component = 'generation'))
        INTO instants, years, agree
        FROM (SELECT * FROM edges ORDER BY md5(edges.ts::text)) e;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT * FROM pg_temp.edges_agree();
