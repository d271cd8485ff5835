-- Normalisers and targets (issue 14, point 7): car.normaliser values for
-- sites and organisations, weighted by days when they change in a year;
-- car.report_normalised divides emissions by any of them; car.target and
-- car.report_target follow a straight glidepath.  After sql/ggc.sql (its
-- 2017 factors and test fuel).
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
-- the reports' plans cost enough for JIT compilation, which takes longer than
-- running them on a test's few rows (these tests check figures, not timing)
SET jit = off;
CREATE FUNCTION pg_temp.read(meter int, ts text, quantity float8) RETURNS void LANGUAGE sql AS $$
    INSERT INTO car.reading (meter_id, ts, quantity) VALUES (meter, (ts::timestamp AT TIME ZONE 'Europe/London'), quantity) $$;
INSERT INTO car.site (name, org) VALUES ('T1', 'Target Dept'), ('T2', 'Target Dept');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, name || ' ' || a, a, 'kWh' FROM car.site, unnest('{test_fuel,electricity}'::text[]) a WHERE org = 'Target Dept';
SELECT m.id AS t1f FROM car.meter m WHERE m.name = 'T1 test_fuel' \gset
SELECT m.id AS t2f FROM car.meter m WHERE m.name = 'T2 test_fuel' \gset
SELECT m.id AS t1e FROM car.meter m WHERE m.name = 'T1 electricity' \gset
SELECT id AS t1 FROM car.site WHERE name = 'T1' \gset
SELECT id AS t2 FROM car.site WHERE name = 'T2' \gset

-- 1. Normalisers, weighted by days.  The reporting year here is the
--    calendar year (car.reporting_year_start 1): 2023 has 365 days.  Site T1
--    has 100 FTE from 1 January to 2 July (183 days) and 120 from 3 July (182
--    days): (100 x 183 + 120 x 182) / 365 = 109.9726...; T2 has 50 FTE all
--    year; the organisation has no FTE of its own, so its value is the sum of
--    its sites': 159.9726...  Floor area of the organisation, recorded for
--    itself: 2,000 m2.
INSERT INTO car.normaliser (site_id, kind, value, valid_from, valid_to) VALUES
    (:t1, 'fte', 100, '2023-01-01', '2023-07-02'), (:t1, 'fte', 120, '2023-07-03', NULL), (:t2, 'fte', 50, '2020-01-01', NULL);
INSERT INTO car.normaliser (org, kind, value, valid_from) VALUES ('Target Dept', 'floor_area', 2000, '2020-01-01');
-- overlapping values are refused; a kind must be known; site or organisation, not both
INSERT INTO car.normaliser (site_id, kind, value, valid_from) VALUES (:t1, 'fte', 130, '2023-12-01');
INSERT INTO car.normaliser (site_id, kind, value, valid_from) VALUES (:t1, 'tonnes_of_paper', 1, '2023-12-01');
INSERT INTO car.normaliser (site_id, org, kind, value, valid_from) VALUES (:t1, 'Target Dept', 'places', 1, '2023-12-01');
-- 2023: 36,500 kWh of electricity at T1 and none at T2 (2023 factors: 0.20707 generation, all components in the report)
SELECT pg_temp.read(:t1e, '2023-06-01 12:00', 36500);
SELECT car.refresh() > 0 AS refreshed;
SELECT organisation, site, reporting_year, kind, normaliser_unit, round(normaliser_value::numeric, 6) AS value, normaliser_days,
       round(kg_co2e::numeric, 6) AS kg, round(kg_co2e_per_unit::numeric, 6) AS per_unit
FROM car.report_normalised WHERE organisation = 'Target Dept' AND year = 2023 ORDER BY site NULLS LAST, kind;
SELECT round((100 * 183 + 120 * 182) / 365.0, 6) AS t1_fte, round((100 * 183 + 120 * 182) / 365.0 + 50, 6) AS org_fte,
       round(sum(kg_co2e)::numeric, 6) AS kg, round((sum(kg_co2e) / ((100 * 183 + 120 * 182) / 365.0))::numeric, 6) AS t1_per_fte,
       round((sum(kg_co2e) / 2000)::numeric, 6) AS org_per_m2
FROM car.emission_daily WHERE meter_id = :t1e;

-- 2. A target: a 400 t baseline in 2017 with -75% by 2037 puts the path at
--    400 x (1 - 0.75 x (2025 - 2017) / (2037 - 2017)) = 280 t in 2025; an
--    actual 290 t is 10 t off track.  400 t of test fuel in FY2017/18; 290 t
--    of electricity in FY2025/26 (no 2025 set: the 2024 set, 0.20705 kg/kWh,
--    is the newest earlier one): 290,000 / 0.20705 kWh.
SELECT pg_temp.read(:t1f, '2017-06-01 12:00', 300000), pg_temp.read(:t2f, '2017-09-01 12:00', 100000);
SELECT pg_temp.read(:t1e, '2025-06-01 12:00', 290000 / 0.20705);
SELECT car.refresh() > 0 AS refreshed;
INSERT INTO car.target (org, metric, base_year, target_year, reduction, note)
VALUES ('Target Dept', 'overall_ghg', 2017, 2037, 75, 'net zero path');
SELECT target_id > 0 AS target, organisation, metric, unit, base_year, target_year, reduction_pct, reporting_year,
       round(base_value::numeric, 6) AS base, round(path_value::numeric, 6) AS path, round(value::numeric, 6) AS actual,
       round(gap::numeric, 6) AS gap, on_track
FROM car.report_target WHERE organisation = 'Target Dept' ORDER BY financial_year;
SELECT round(400 * (1 - 0.75 * (2025 - 2017) / (2037 - 2017.0)), 6) AS path_2025, 290 - 280 AS off_by;
-- a target's years are financial years: the target year follows the base year
INSERT INTO car.target (org, metric, base_year, target_year, reduction) VALUES ('Target Dept', 'water', 2025, 2020, 10);
INSERT INTO car.target (org, metric, base_year, target_year, reduction) VALUES ('Target Dept', 'water', 2020, 2025, 120);
INSERT INTO car.target (org, metric, base_year, target_year, reduction) VALUES ('Target Dept', 'miles', 2020, 2025, 10);

-- 3. Who sees what: an organisation's normalisers and targets are its own.
CREATE ROLE car_test_target_reader IN ROLE car_reader;
SET ROLE car_test_target_reader;
SELECT count(*) AS targets_without_claims FROM car.target;
SELECT count(*) AS normalisers_without_claims FROM car.normaliser;
SELECT count(*) AS lines_without_claims FROM car.report_normalised;
RESET ROLE;
DROP ROLE car_test_target_reader;
RESET client_min_messages;
