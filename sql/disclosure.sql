-- Disclosure text (issue 14, point 8): car.methodology(org, fy) writes the
-- methodology paragraph from what was used; car.report_secr(org, fy) the
-- SECR table of a company.  After sql/ggc.sql and sql/targets.sql.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
-- the reports' plans cost enough for JIT compilation, which takes longer than
-- running them on a test's few rows (these tests check figures, not timing)
SET jit = off;

-- 1. The methodology of GGC Dept for 2023/24 (sql/ggc.sql): the 2023 set
--    (its title, publisher, revision and file's SHA-256 as loaded), the
--    financial-year rule, gross calorific value for natural gas, location-
--    based Scope 2, coverage and estimates, the T&D and well-to-tank
--    emissions left out (by hand: 80,000 kWh x T&D 0.01792 and x WTT (0.04590 +
--    0.00397) of electricity and 80,000 kWh x 0.03021 of gas, 2023 factors;
--    6,000 passenger.km of domestic flights x WTT 0.03350 = 201 kg, the 2023
--    well-to-tank row of car's air_domestic_rf; the water supply's Scope 3),
--    the baseline.
SELECT car.methodology('GGC Dept', 2023);
SELECT s.title, s.publisher, s.year, s.revision, position(s.sha256 IN car.methodology('GGC Dept', 2023)) > 0 AS sha256_quoted
FROM car.factor_set s WHERE s.year = 2023 AND s.superseded_by IS NULL;
SELECT round(80000 * 0.01792 / 1000, 2) AS td_t, round(80000 * (0.04590 + 0.00397) / 1000, 2) AS wtt_elec_t,
       round(80000 * 0.03021 / 1000, 2) AS wtt_gas_t;
SELECT f.level2, f.value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2023 AND s.superseded_by IS NULL AND f.gas = 'CO2e' AND f.level3 IN ('Electricity: UK', 'Natural gas')
AND (f.level1 IN ('Transmission and distribution', 'WTT- fuels') OR f.level1 LIKE 'WTT- UK%') AND f.uom IN ('kWh', 'kWh (Gross CV)')
ORDER BY 1;
-- estimated readings, signed figures: after estimating a day and signing the year, the paragraph says so
SELECT m.id AS dge FROM car.meter m WHERE m.name = 'Dept electricity' \gset
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:dge, '2023-08-01 10:00 Europe/London', 100), (:dge, '2023-08-01 11:30 Europe/London', 160);
SELECT periods_filled FROM car.estimate(:dge, '2023-08-01 10:30 Europe/London', '2023-08-01 11:30 Europe/London', 'linear');
SELECT lines > 0 AS signed FROM car.close_period('GGC Dept', '2023-04-01', '2024-03-31', 'annual report 2023-24');
SELECT car.methodology('GGC Dept', 2023) LIKE '%estimation methods: linear (2 periods)%' AS names_the_estimates,
       car.methodology('GGC Dept', 2023) ~ 'The figures were signed on [0-9/]+ \(close [0-9]+, SHA-256 [0-9a-f]{64}\)\.$' AS names_the_signature;
SELECT car.methodology('Nobody', 2023);

-- 2. SECR, for a company reporting calendar years (car.reporting_year_start
--    1): 2023 and the year before, kWh by type, Scope 1 and 2, an intensity
--    ratio per FTE, and the low energy user test.  Diesel in litres is put in
--    kWh by the 2023 factors (kg CO2e per litre / kg CO2e per kWh).
INSERT INTO car.site (name, org) VALUES ('Works', 'Widgets Ltd');
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, a || ' meter', a, u, NULL FROM car.site s,
       (VALUES ('electricity', 'kWh'), ('natural_gas', 'kWh'), ('diesel', 'litres')) v(a, u) WHERE s.name = 'Works';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, t::timestamptz, q FROM car.meter m JOIN car.site s ON s.id = m.site_id,
       (VALUES ('electricity', '2022-05-01 12:00+00', 12000), ('electricity', '2023-05-01 12:00+00', 20000),
               ('natural_gas', '2023-05-01 12:00+00', 15000), ('diesel', '2023-05-01 12:00+00', 1000)) v(a, t, q)
WHERE s.name = 'Works' AND m.activity = v.a;
INSERT INTO car.normaliser (org, kind, value, valid_from) VALUES ('Widgets Ltd', 'fte', 40, '2022-01-01');
SELECT car.refresh() > 0 AS refreshed;
SELECT line, measure, unit, round(value::numeric, 4) AS value, round(prior_year_value::numeric, 4) AS prior_year, note
FROM car.report_secr('Widgets Ltd', 2023);
-- by hand, 2023 factors: diesel 1,000 litres x (2.51206 kg/litre / 0.23908 kg/kWh) = 10,507.2 kWh;
-- total 20,000 + 15,000 + 10,507.2 = 45,507.2 kWh (above 40,000); Scope 1 15,000 x 0.18293 + 1,000 x 2.51206,
-- Scope 2 20,000 x 0.20707; 2022: 12,000 kWh of electricity (a low energy user), 12,000 x 0.19338
SELECT f.level3, f.uom, f.value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2023 AND s.superseded_by IS NULL AND f.gas = 'CO2e' AND f.level1 = 'Fuels'
AND f.level3 = 'Diesel (average biofuel blend)' AND f.uom IN ('litres', 'kWh (Gross CV)') ORDER BY 2;
SELECT round(1000 * 2.51206 / 0.23908, 4) AS diesel_kwh, round(20000 + 15000 + 1000 * 2.51206 / 0.23908, 4) AS total_kwh,
       round((15000 * 0.18293 + 1000 * 2.51206) / 1000, 4) AS scope1_t, round(20000 * 0.20707 / 1000, 4) AS scope2_t,
       round((15000 * 0.18293 + 1000 * 2.51206 + 20000 * 0.20707) / 1000 / 40, 4) AS t_per_fte,
       round(12000 * 0.19338 / 1000, 4) AS scope2_2022_t, round(12000 * 0.19338 / 1000 / 40, 4) AS t_per_fte_2022;
RESET client_min_messages;
