-- The GGC return (issue 14, point 5): car.report_ggc per organisation,
-- financial year and quarter, each year priced with its own year's factors
-- whatever car.reporting_year_start says; the 2017/18 baseline, which moves
-- with the sites between bodies (car.site_org, car.transfer_site) and logs
-- it; car.ggc_csv.  Its own organisations, next to the earlier tests'.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
-- the reports' plans cost enough for JIT compilation, which takes longer than
-- running them on a test's few rows (these tests check figures, not timing)
SET jit = off;

-- The 2017 rows these tests need, written by hand rather than the bundled
-- 2017 set (car.load_factors(2017)) so that the arithmetic stays simple: the
-- published UK electricity
-- generation (0.35156) and T&D (0.03287) and natural gas, Gross CV (0.18416)
-- factors, and R410A's 2,088 kg CO2e per kg; the other values are made up for
-- the test (well-to-tank rows, in no GGC figure; water supply; flights, rail,
-- grey fleet, heat and steam; "Test fuel", 1 kg CO2e per kWh, so that kWh of
-- it are kg).  Below those, rows copied as published in the bundled 2017
-- set (car.load_factors(2017)): the well-to-tank and distribution rows of the
-- activities car ships, and the core rows every set must price (natural gas
-- Net CV, diesel, petrol and their well-to-tank), none of them in a GGC figure.
SELECT year, revision, row_count FROM car.load_factors(convert_to(
'Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2017
Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.35156
Scope 3,Transmission and distribution,T&D- UK electricity,Electricity: UK,,,kWh,kg CO2e,0.03287
Scope 3,WTT- UK & overseas elec,WTT- UK electricity (generation),Electricity: UK,,,kWh,kg CO2e,0.05
Scope 3,WTT- UK & overseas elec,WTT- UK electricity (T&D),Electricity: UK,,,kWh,kg CO2e,0.005
Scope 1,Fuels,Gaseous fuels,Natural gas,,Energy - Gross CV,kWh (Gross CV),kg CO2e,0.18416
Scope 3,WTT- fuels,WTT- gaseous fuels,Natural gas,,Energy - Gross CV,kWh (Gross CV),kg CO2e,0.025
Scope 3,Water supply,Water supply,Water supply,,,cubic metres,kg CO2e,0.344
Scope 3,Business travel- air,Flights,"Domestic, to/from UK",Average passenger,With RF,passenger.km,kg CO2e,0.29832
Scope 3,Business travel- air,Flights,"Long-haul, to/from UK",Average passenger,With RF,passenger.km,kg CO2e,0.2
Scope 3,Business travel- land,Rail,National rail,,,passenger.km,kg CO2e,0.04
Scope 3,WTT- pass vehs & travel- land,WTT- rail,National rail,,,passenger.km,kg CO2e,0.005
Scope 3,Business travel- land,Cars (by size),Average car,,Unknown,km,kg CO2e,0.18
Scope 2,Heat and steam,Heat and steam,District heat and steam,,,kWh,kg CO2e,0.2
Scope 1,Refrigerant & other,Kyoto protocol- blends,R410A,,,kg,kg CO2e,2088
Scope 1,Fuels,Gaseous fuels,Test fuel,,Energy - Gross CV,kWh (Gross CV),kg CO2e,1
Scope 3,WTT- business travel- air,WTT- flights,"Domestic, to/from UK",Average passenger,With RF,passenger.km,kg CO2e,0.02930
Scope 3,WTT- business travel- air,WTT- flights,"Long-haul, to/from UK",Average passenger,With RF,passenger.km,kg CO2e,0.02163
Scope 3,WTT- pass vehs & travel- land,WTT- cars (by size),Average car,,Unknown,km,kg CO2e,0.04669
Scope 3,WTT- heat and steam,WTT- heat and steam,District heat and steam,,,kWh,kg CO2e,0.02722
Scope 3,Transmission and distribution,Distribution - district heat & steam,5% loss,,,kWh,kg CO2e,0.01039
Scope 3,WTT- heat and steam,WTT- district heat & steam distribution,5% loss,,,kWh,kg CO2e,0.00143
Scope 1,Fuels,Gaseous fuels,Natural gas,,Energy - Net CV,kWh (Net CV),kg CO2e,0.20463
Scope 3,WTT- fuels,WTT- gaseous fuels,Natural gas,,Energy - Net CV,kWh (Net CV),kg CO2e,0.03094
Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,Volume,litres,kg CO2e,2.60016
Scope 3,WTT- fuels,WTT- liquid fuels,Diesel (average biofuel blend),,Volume,litres,kg CO2e,0.61977
Scope 1,Fuels,Liquid fuels,Petrol (average biofuel blend),,Volume,litres,kg CO2e,2.19835
Scope 3,WTT- fuels,WTT- liquid fuels,Petrol (average biofuel blend),,Volume,litres,kg CO2e,0.59772
', 'UTF8'), 'ggc-test-2017.csv');
-- The GGC metrics take activities in by their keys (car.ggc_classification:
-- air_*, rail_*, grey_fleet_*, Scope 1 and 2 whatever the key, never a
-- well-to-tank row or key).  The business-travel, heat and refrigerant
-- activities are made here, under the keys car ships them with where it
-- does (ON CONFLICT: then its own are used), on the published rows' paths.
INSERT INTO car.activity (key, level1, level2, level3, level4, column_text, uom_basis, scope, description) VALUES
    ('air_domestic_rf', 'Business travel- air', 'Flights', 'Domestic, to/from UK', 'Average passenger', 'With RF', NULL, 3,
     'Test: domestic flights with radiative forcing'),
    ('air_long_haul_rf', 'Business travel- air', 'Flights', 'Long-haul, to/from UK', 'Average passenger', 'With RF', NULL, 3,
     'Test: long-haul flights with radiative forcing'),
    ('rail_national', 'Business travel- land', 'Rail', 'National rail', NULL, NULL, NULL, 3, 'Test: national rail'),
    ('rail_national_wtt', 'WTT- pass vehs & travel- land', 'WTT- rail', 'National rail', NULL, NULL, NULL, 3,
     'Test: well-to-tank emissions of national rail'),
    ('grey_fleet_car', 'Business travel- land', 'Cars (by size)', 'Average car', NULL, 'Unknown', NULL, 3, 'Test: grey fleet, average car'),
    ('heat_steam', 'Heat and steam', 'Heat and steam', 'District heat and steam', NULL, NULL, NULL, 2, 'Test: district heat and steam'),
    ('refrigerant_r410a', 'Refrigerant & other', 'Kyoto protocol- blends', 'R410A', NULL, NULL, NULL, 1, 'Test: R410A leaked (kg)')
ON CONFLICT (key) DO NOTHING;
INSERT INTO car.activity (key, level1, level2, level3, level4, column_text, uom_basis, scope, description) VALUES
    ('test_fuel', 'Fuels', 'Gaseous fuels', 'Test fuel', NULL, NULL, 'Gross CV', 1, 'Test: a fuel of 1 kg CO2e per kWh (2017 only)');
-- the vectors of the issue, on the bundled 2021 set: 10 kg of R410A leaked
-- is 10 x 2,088 = 20,880 kg CO2e; 1,000 kWh of heat and steam is 1,000 x
-- 0.17073 = 170.73 kg CO2e
SELECT car.co2e(10, 'kg', 'refrigerant_r410a', '2021-06-01 12:00+00') AS r410a_kg, 10 * 2088 AS by_hand,
       round(car.co2e(1000, 'kWh', 'heat_steam', '2021-06-01 12:00+00')::numeric, 6) AS heat_steam_kg, 1000 * 0.17073 AS by_hand;
SELECT car.ensure_partitions('2017-04-01', '2024-04-01') >= 0 AS partitions;
CREATE FUNCTION pg_temp.meter(site text, org text, meter text, activity text, unit text, interval_minutes int DEFAULT 30)
    RETURNS int LANGUAGE sql AS $$
    INSERT INTO car.site (name, org) VALUES (site, org) ON CONFLICT (org, name) DO NOTHING;
    INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
    SELECT id, meter, activity, unit, interval_minutes FROM car.site s WHERE s.name = site AND s.org = org;
    SELECT m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name = site AND s.org = org AND m.name = meter $$;
CREATE FUNCTION pg_temp.read(meter int, ts text, quantity float8) RETURNS void LANGUAGE sql AS $$
    INSERT INTO car.reading (meter_id, ts, quantity) VALUES (meter, (ts::timestamp AT TIME ZONE 'Europe/London'), quantity) $$;

-- 1. The hand values: 1,000,000 kWh of electricity in FY2017/18 is
--    1,000,000 x 0.35156 = 351,560 kg; 900,000 kWh in FY2023/24 is 900,000 x
--    0.20707 = 186,363 kg; the change is (186,363 - 351,560) / 351,560 =
--    -46.99%.  A quarter of it in each quarter, February 2018 and 2024
--    included: car.reporting_year_start is 1 (calendar years) here, so
--    car.emission_daily prices February 2024 with the 2024 set, and the GGC
--    return still with the 2023 one.
SELECT pg_temp.meter('Elec HQ', 'GGC Elec', 'Elec HQ electricity', 'electricity', 'kWh') AS e \gset
SELECT pg_temp.read(:e, d || ' 12:00', 250000) FROM unnest('{2017-05-15,2017-08-15,2017-11-15,2018-02-15}'::text[]) d;
SELECT pg_temp.read(:e, d || ' 12:00', 225000) FROM unnest('{2023-05-15,2023-08-15,2023-11-15,2024-02-15}'::text[]) d;
SELECT car.refresh() > 0 AS refreshed;
SHOW car.reporting_year_start;
SELECT day, factor_year, round(kg_co2e::numeric, 6) AS kg_co2e FROM car.emission_daily
WHERE meter_id = :e AND component = 'generation' AND day IN ('2018-02-15', '2024-02-15') ORDER BY day;
SELECT reporting_year, quarter, metric, unit, round(value::numeric, 6) AS value, baseline_year,
       round(baseline_value::numeric, 6) AS baseline_value, round(change_pct::numeric, 4) AS change_pct, factor_years,
       quarters_reported
FROM car.report_ggc WHERE organisation = 'GGC Elec' AND quarter IS NULL ORDER BY financial_year, metric;
SELECT round(1000000 * 0.35156, 6) AS fy2017_kg, round(900000 * 0.20707, 6) AS fy2023_kg,
       round(100 * (900000 * 0.20707 - 1000000 * 0.35156) / (1000000 * 0.35156), 4) AS change_pct;
-- per quarter: 225,000 x 0.20707 against 250,000 x 0.35156, the same change
SELECT quarter, period_start, period_end, round(value::numeric, 6) AS value, round(baseline_value::numeric, 6) AS baseline_value,
       round(change_pct::numeric, 4) AS change_pct
FROM car.report_ggc WHERE organisation = 'GGC Elec' AND financial_year = 2023 AND metric = 'overall_ghg' ORDER BY quarter;
SELECT round(225000 * 0.20707 / 1000, 6) AS quarter_t, round(250000 * 0.35156 / 1000, 6) AS baseline_quarter_t;
-- the calendar-year report prices 2024 with 2024 factors, as it should
SELECT year, round(scope2_kg_co2e::numeric, 6) AS scope2 FROM car.report_yearly WHERE organisation = 'GGC Elec' ORDER BY year;
SELECT round(3 * 225000 * 0.20707 + 250000 * 0.35156, 6) AS by_hand_2023_on_its_own,
       round(225000 * 0.20705, 6) AS by_hand_2024;

-- 2. The metrics: overall = Scope 1 + Scope 2 + business travel, without
--    T&D or well-to-tank; direct = Scope 1; domestic flights; water (m3).
SELECT pg_temp.meter('Dept HQ', 'GGC Dept', 'Dept electricity', 'electricity', 'kWh') AS de,
       pg_temp.meter('Dept HQ', 'GGC Dept', 'Dept gas', 'natural_gas', 'kWh') AS dg,
       pg_temp.meter('Dept HQ', 'GGC Dept', 'Dept water', 'water_supply', 'm3', 1440) AS dw,
       pg_temp.meter('Dept HQ', 'GGC Dept', 'Dept flights', 'air_domestic_rf', 'passenger.km', NULL) AS df \gset
SELECT pg_temp.read(:de, '2017-05-15 12:00', 100000), pg_temp.read(:dg, '2017-06-15 12:00', 100000),
       pg_temp.read(:dw, '2017-07-15 00:00', 5000), pg_temp.read(:df, '2017-09-15 12:00', 10000),
       pg_temp.read(:de, '2023-05-15 12:00', 80000), pg_temp.read(:dg, '2023-06-15 12:00', 80000),
       pg_temp.read(:dw, '2023-07-15 00:00', 4600), pg_temp.read(:df, '2023-09-15 12:00', 6000);
SELECT car.refresh() > 0 AS refreshed;
SELECT reporting_year, metric, unit, round(value::numeric, 6) AS value, round(baseline_value::numeric, 6) AS baseline_value,
       round(change_pct::numeric, 4) AS change_pct, commitment
FROM car.report_ggc WHERE organisation = 'GGC Dept' AND quarter IS NULL ORDER BY financial_year, metric;
-- by hand (2023 set: electricity 0.20707, natural gas 0.18293, domestic flight with RF 0.27258)
SELECT 2017 AS fy, round((100000 * 0.35156 + 100000 * 0.18416 + 10000 * 0.29832) / 1000, 6) AS overall,
       round(100000 * 0.18416 / 1000, 6) AS direct, round(10000 * 0.29832 / 1000, 6) AS flights, 5000 AS water
UNION ALL
SELECT 2023, round((80000 * 0.20707 + 80000 * 0.18293 + 6000 * 0.27258) / 1000, 6), round(80000 * 0.18293 / 1000, 6),
       round(6000 * 0.27258 / 1000, 6), 4600;
SELECT value FROM car.factor f JOIN car.factor_set s ON s.id = f.set_id
WHERE s.year = 2023 AND s.superseded_by IS NULL AND f.level3 = 'Natural gas' AND f.level1 = 'Fuels' AND f.uom = 'kWh (Gross CV)' AND f.gas = 'CO2e';
-- what the overall figure leaves out: the T&D and well-to-tank rows are in car.emission_daily
SELECT component, scope FROM car.emission_daily WHERE meter_id IN (:de, :dg) AND day = '2017-05-15' ORDER BY 1;

-- 2b. Each activity in the metrics GGC asks for, by its key, in FY2017/18
--    (2017 rows above): overall = flights (domestic 1,000 passenger.km x
--    0.29832 = 298.32 kg, long-haul 5,000 x 0.2 = 1,000 kg) + rail (2,000
--    passenger.km x 0.04 = 80 kg; not its well-to-tank row, 2,000 x 0.005) +
--    grey fleet (1,000 km x 0.18 = 180 kg) + heat and steam (Scope 2, 1,000
--    kWh x 0.2 = 200 kg) + refrigerant (Scope 1, 10 kg x 2,088 = 20,880 kg) =
--    22,638.32 kg; direct = the refrigerant, 20,880 kg; domestic flights
--    298.32 kg.
SELECT count(pg_temp.meter('Travel HQ', 'GGC Travel', a, a, u, NULL)) AS meters
FROM (VALUES ('air_domestic_rf', 'passenger.km'), ('air_long_haul_rf', 'passenger.km'), ('rail_national', 'passenger.km'),
             ('rail_national_wtt', 'passenger.km'), ('grey_fleet_car', 'km'), ('heat_steam', 'kWh'), ('refrigerant_r410a', 'kg')) v(a, u);
SELECT pg_temp.read(m.id, '2017-10-02 12:00', v.q)
FROM (VALUES ('air_domestic_rf', 1000), ('air_long_haul_rf', 5000), ('rail_national', 2000), ('rail_national_wtt', 2000),
             ('grey_fleet_car', 1000), ('heat_steam', 1000), ('refrigerant_r410a', 10)) v(a, q)
JOIN car.meter m ON m.name = v.a JOIN car.site s ON s.id = m.site_id AND s.org = 'GGC Travel';
SELECT car.refresh() > 0 AS refreshed;
SELECT metric, round(value::numeric, 6) AS value_t FROM car.report_ggc
WHERE organisation = 'GGC Travel' AND financial_year = 2017 AND quarter IS NULL ORDER BY metric;
SELECT round((1000 * 0.29832 + 5000 * 0.2 + 2000 * 0.04 + 1000 * 0.18 + 1000 * 0.2 + 10 * 2088) / 1000, 6) AS overall_t,
       round(10 * 2088 / 1000.0, 6) AS direct_t, round(1000 * 0.29832 / 1000, 6) AS domestic_flights_t;
-- the rows behind them, in car.emission_daily, with the Scope 3 rows in no GGC
-- figure: car's activities add their well-to-tank (and heat's distribution)
-- components, priced from the 2017 rows copied above: domestic flights 298.32
-- + 1,000 x 0.02930 = 327.62 kg; long-haul 1,000 + 5,000 x 0.02163 =
-- 1,108.15; grey fleet 180 + 1,000 x 0.04669 = 226.69; rail 80 + 2,000 x 0.005
-- = 90; heat and steam Scope 3 1,000 x (0.02722 + 0.01039 + 0.00143) = 39.04;
-- the separate well-to-tank rail meter 2,000 x 0.005 = 10
SELECT activity, scope, round(sum(kg_co2e)::numeric, 6) AS kg FROM car.emission_daily e JOIN car.site s ON s.id = e.site_id
WHERE s.org = 'GGC Travel' GROUP BY 1, 2 ORDER BY 1;

-- 3. Coverage and estimates on the return's lines: the water meter is daily
--    (one period a UK day), from its first reading to its removal.
UPDATE car.meter SET installed_on = '2023-07-01', removed_on = '2023-07-31' WHERE id = :dw;
SELECT quarter, metric, round(coverage::numeric, 6) AS coverage, round(100.0 / 31, 6) AS by_hand
FROM car.report_ggc WHERE organisation = 'GGC Dept' AND financial_year = 2023 AND metric = 'water' ORDER BY quarter NULLS LAST;

-- 4. The return is the same whatever car.reporting_year_start says: with
--    April years, car.emission_daily prices February 2024 with the 2023 set
--    too, and car.report_ggc does not move.
CREATE TEMP TABLE ggc_calendar AS SELECT * FROM car.report_ggc WHERE organisation IN ('GGC Elec', 'GGC Dept');
SET car.reporting_year_start = 4;
SELECT car.refresh() > 0 AS refreshed_for_april_years;
SELECT day, factor_year FROM car.emission_daily WHERE meter_id = :e AND component = 'generation' AND day = '2024-02-15';
SELECT count(*) AS lines,
       count(*) FILTER (WHERE c.value IS DISTINCT FROM a.value AND NOT (abs(c.value - a.value) <= 1e-9 * abs(a.value))) AS values_differ,
       count(*) FILTER (WHERE c.baseline_value IS DISTINCT FROM a.baseline_value
                        AND NOT (abs(c.baseline_value - a.baseline_value) <= 1e-9 * abs(a.baseline_value))) AS baselines_differ,
       count(*) FILTER (WHERE a.organisation IS NULL OR c.organisation IS NULL) AS unmatched
FROM ggc_calendar c FULL JOIN (SELECT * FROM car.report_ggc WHERE organisation IN ('GGC Elec', 'GGC Dept')) a
  ON a.organisation = c.organisation AND a.financial_year = c.financial_year AND a.quarter IS NOT DISTINCT FROM c.quarter
  AND a.metric = c.metric;
RESET car.reporting_year_start;
SELECT car.refresh() > 0 AS refreshed_for_calendar_years;

-- 5. car.ggc_csv: the return as CSV, byte for byte (written by hand).
SELECT car.ggc_csv('GGC Dept', 2023) = E'Organisation,Commitment,Measure,Unit,2017 to 2018 (baseline),2023 to 2024,Change from baseline (%)\r\n'
    || E'GGC Dept,Greenhouse gas emissions,"Total greenhouse gas emissions (scope 1, scope 2 and business travel)",tCO2e,57,33,-41.9\r\n'
    || E'GGC Dept,Greenhouse gas emissions,Direct greenhouse gas emissions from estate and operations (scope 1),tCO2e,18,15,-20.5\r\n'
    || E'GGC Dept,Greenhouse gas emissions,Emissions from domestic business flights,tCO2e,3,2,-45.2\r\n'
    || E'GGC Dept,Water,Water consumption,m3,5000,4600,-8.0\r\n' AS byte_for_byte;
SELECT car.ggc_csv('GGC Dept', 2023);
-- by hand: 2017 overall 35.156 + 18.416 + 2.9832 = 56.5552 t (57), 2023 16.5656 +
-- 14.6344 + 1.63548 = 32.83548 t (33); direct 18.416 (18) and 14.6344 (15);
-- flights 2.9832 (3) and 1.63548 (2); the changes, to one decimal place:
SELECT round(100 * (32.83548 - 56.5552) / 56.5552, 1) AS overall_change, round(100 * (14.6344 - 18.416) / 18.416, 1) AS direct_change,
       round(100 * (1.63548 - 2.9832) / 2.9832, 1) AS flights_change, round(100 * (4600 - 5000) / 5000.0, 1) AS water_change;
-- (the measure holding commas is quoted); an unknown organisation or year is an error
SELECT car.ggc_csv('Nobody', 2023);
SELECT car.ggc_csv('GGC Dept', 2030);

-- 6. Structural change.  Body A's FY2017/18 baseline is 400 t: site S1 300 t,
--    S2 100 t; body B's 50 t (S3).  S2 moves to B on 1 April 2022: from
--    FY2022/23 A's baseline is 300 t and B's 150 t; FY2021/22 is as before;
--    the recalculation of both is logged.  A site new to the estate adds
--    nothing: S4 (no figures in 2017/18) and S5 (figures, but owned by no
--    body then).  (Test fuel: 1 kg CO2e per kWh, in the 2017 set only; the
--    later years have electricity, so that the bodies have lines.)
SELECT pg_temp.meter('S1', 'Body A', 'S1 fuel', 'test_fuel', 'kWh') AS s1f, pg_temp.meter('S2', 'Body A', 'S2 fuel', 'test_fuel', 'kWh') AS s2f,
       pg_temp.meter('S3', 'Body B', 'S3 fuel', 'test_fuel', 'kWh') AS s3f, pg_temp.meter('S5', 'Body B', 'S5 fuel', 'test_fuel', 'kWh') AS s5f,
       pg_temp.meter('S1', 'Body A', 'S1 electricity', 'electricity', 'kWh') AS s1e,
       pg_temp.meter('S2', 'Body A', 'S2 electricity', 'electricity', 'kWh') AS s2e,
       pg_temp.meter('S3', 'Body B', 'S3 electricity', 'electricity', 'kWh') AS s3e,
       pg_temp.meter('S4', 'Body B', 'S4 electricity', 'electricity', 'kWh') AS s4e \gset
SELECT pg_temp.read(:s1f, '2017-06-01 12:00', 300000), pg_temp.read(:s2f, '2017-06-01 12:00', 100000),
       pg_temp.read(:s3f, '2017-06-01 12:00', 50000), pg_temp.read(:s5f, '2017-06-01 12:00', 70000);
SELECT pg_temp.read(m, y || '-06-01 12:00', 1000) FROM unnest(ARRAY[:s1e, :s2e, :s3e, :s4e]) m, unnest('{2021,2022}'::text[]) y;
SELECT id AS s2 FROM car.site WHERE name = 'S2' AND org = 'Body A' \gset
SELECT id AS s5 FROM car.site WHERE name = 'S5' \gset
-- S5 was bought in April 2022: its periods of ownership start then
INSERT INTO car.site_org (site_id, org, valid_from, note) VALUES (:s5, 'Body B', '2022-04-01', 'bought from outside government');
SELECT car.refresh() > 0 AS refreshed;
SELECT organisation, reporting_year, metric, round(baseline_value::numeric, 6) AS baseline_t
FROM car.report_ggc WHERE organisation IN ('Body A', 'Body B') AND quarter IS NULL AND metric = 'overall_ghg'
ORDER BY organisation, financial_year;
-- the baseline year is signed for A; the transfer does not touch its days
SELECT lines > 0 AS signed FROM car.close_period('Body A', '2017-04-01', '2018-03-31', 'baseline year');
-- a transfer dated inside the signed year is refused
SELECT car.transfer_site(:s2, 'Body B', '2017-10-01', 'too early');
SELECT site_id, org, valid_from, valid_to FROM car.transfer_site(:s2, 'Body B', '2022-04-01', 'machinery of government change');
SELECT name, org FROM car.site WHERE id = :s2;
SELECT organisation, reporting_year, metric, round(baseline_value::numeric, 6) AS baseline_t
FROM car.report_ggc WHERE organisation IN ('Body A', 'Body B') AND quarter IS NULL AND metric = 'overall_ghg'
ORDER BY organisation, financial_year;
SELECT org, car.financial_year_label(financial_year) AS fy, metric, round(value_before::numeric, 6) AS before_t,
       round(value_after::numeric, 6) AS after_t, unit, site_ids = ARRAY[:s2] AS s2, cause
FROM car.baseline_recalculation WHERE org IN ('Body A', 'Body B') AND financial_year IN (2021, 2022)
ORDER BY financial_year, org, metric;
SELECT min(financial_year) AS from_fy, max(financial_year) = car.financial_year(current_date) AS to_this_fy, count(DISTINCT org) AS bodies
FROM car.baseline_recalculation WHERE org IN ('Body A', 'Body B');
-- A's signed baseline year still reads as signed, S2 included
SELECT organisation, round(value::numeric, 6) AS fy2017_t, signed FROM car.report_ggc
WHERE organisation = 'Body A' AND financial_year = 2017 AND quarter IS NULL AND metric = 'overall_ghg';
-- a site new to the estate added nothing: B's 150 t are S3 and S2 (S4 has no
-- 2017/18 figures; S5's 70 t were nobody's then)
-- periods of a site never overlap; the owner of a site with periods changes only through them
INSERT INTO car.site_org (site_id, org, valid_from) VALUES (:s2, 'Body C', '2023-01-01');
UPDATE car.site SET org = 'Body C' WHERE id = :s2;
SELECT count(*) AS periods_of_s2 FROM car.site_org WHERE site_id = :s2;
-- the rule is on the data, not on who writes: the same change made by a
-- car_admin from a trigger of its own (on a table of its own, so at trigger
-- depth 2, which a check of pg_trigger_depth() = 1 let through) is refused
-- alike, and S2 stays Body B's
CREATE ROLE car_test_site_admin IN ROLE car_admin;
SET ROLE car_test_site_admin;
CREATE TEMP TABLE move_request (site int);
CREATE FUNCTION pg_temp.move_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE car.site SET org = 'Body C' WHERE id = NEW.site;
    RETURN NEW;
END $$;
CREATE TRIGGER move_site AFTER INSERT ON move_request FOR EACH ROW EXECUTE FUNCTION pg_temp.move_site();
\set VERBOSITY terse
INSERT INTO move_request VALUES (:s2);
\set VERBOSITY default
DROP TABLE move_request;
DROP FUNCTION pg_temp.move_site();
RESET ROLE;
DROP ROLE car_test_site_admin;
SELECT name, org, car.site_present_owner(id) AS present_owner FROM car.site WHERE id = :s2;
-- the owner car.site names is the owner of the latest period, the site's
-- present owner: a transfer dated a month ahead makes S4 Body C's at once
-- (Body B is an earlier owner of its days until then), and Body B cannot be
-- written back
BEGIN;
SELECT id AS s4 FROM car.site WHERE name = 'S4' \gset
SELECT org, valid_to IS NULL AS open FROM car.transfer_site(:s4, 'Body C', current_date + 30, 'a month ahead');
SELECT org AS s4_present_owner FROM car.site WHERE id = :s4;
UPDATE car.site SET org = 'Body B' WHERE id = :s4;
ROLLBACK;

-- 7. Who sees what: a body's return, baselines and their log are its own;
--    the token functions of BI tools filter the same way.
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('ggc-test', 'HS256', 'ggc-test-secret-of-32-bytes-at-least!!');
CREATE ROLE car_test_ggc_reader IN ROLE car_reader;
SELECT car.sign_jwt('{"org": "Body A", "exp": 4102444800}', 'ggc-test') AS token_a \gset
BEGIN;
SELECT car.authenticate(:'token_a', true) IS NOT NULL AS body_a;
SET LOCAL ROLE car_test_ggc_reader;
SELECT DISTINCT organisation FROM car.report_ggc ORDER BY 1;
SELECT DISTINCT org FROM car.baseline_recalculation ORDER BY 1;
SELECT count(*) AS closes_of_a FROM car.period_close;
-- S2 was A's until 31 March 2022 (B's since): A still reads S2's days of
-- then, as its own, in the reports and the tables below them: the fuel of
-- June 2017 (100,000 kWh) and the electricity of June 2021 (1,000 kWh), not
-- B's reading of June 2022 (row-level security follows who owned the site
-- that day, car.site_visible_on, car.meter_visible_at)
SELECT organisation, site, month, activity, quantity FROM car.report_monthly WHERE site_id = :s2 ORDER BY month, activity;
SELECT m.name AS meter, r.ts, r.quantity FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.site_id = :s2 ORDER BY r.ts;
SELECT max(day) <= '2022-03-31' AS none_after_march_2022, count(DISTINCT day) AS days FROM car.emission_daily WHERE site_id = :s2;
SELECT car.ggc_csv('Body B', 2022);
COMMIT;
-- Body B owns S2 from April 2022: B's token reads S2's days from then on,
-- never the days S2 was Body A's (row-level security lets S2's rows through
-- for its present owner; the days of an earlier owner are that owner's)
SELECT car.sign_jwt('{"org": "Body B", "exp": 4102444800}', 'ggc-test') AS token_b \gset
BEGIN;
SELECT car.authenticate(:'token_b', true) IS NOT NULL AS body_b;
SET LOCAL ROLE car_test_ggc_reader;
-- (a line without an organisation is a day no body owned its site: S5's
-- before it joined the estate, which B owns now)
SELECT DISTINCT organisation, site FROM car.report_monthly ORDER BY 1, 2;
SELECT DISTINCT organisation FROM car.report_ggc ORDER BY 1;
SELECT DISTINCT organisation, site FROM car.coverage ORDER BY 1, 2;
SELECT DISTINCT org FROM car.closed_emission ORDER BY 1;
SELECT min(month) >= '2022-04-01' AS s2_from_april_2022 FROM car.report_monthly WHERE site_id = :s2;
COMMIT;
SET ROLE car_test_ggc_reader;
SELECT count(*) AS lines_without_claims FROM car.report_ggc;
SELECT DISTINCT organisation FROM car.report_ggc_for(:'token_a');
RESET ROLE;
-- called by a superuser, the token still decides
SELECT DISTINCT organisation FROM car.report_ggc_for(:'token_a');
DELETE FROM car.jwt_key WHERE kid = 'ggc-test';
DROP ROLE car_test_ggc_reader;
RESET client_min_messages;
