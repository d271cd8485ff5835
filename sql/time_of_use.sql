-- Half-hourly grid carbon intensity and time-of-use emissions (issue 15,
-- points 3 and 4), without the worker: car.grid_intensity written here as
-- the worker would, the checks of an API response (car.grid_intensity_periods)
-- and of a carbon-intensity source's options, car.report_time_of_use against
-- hand values, row-level security, and an estate of 30 half-hourly meters
-- over two months (across the spring clock change) against values computed
-- here from the formulas that made its readings and intensities, to 1e-9.
-- The 300-meter, one-year estate is bench/time_of_use.sql's (5.3 million
-- readings: too many for the regression suite).
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SET jit = off;
SELECT count(*) AS sets FROM car.load_factors(2024);   -- the bundled 2024 set (loaded once however often asked)
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b));

-- 1. The grid's regions: GB and the API's regionids 1-17.
SELECT region, name FROM car.grid_region ORDER BY region = 'GB' DESC, region::text COLLATE "C";

-- 2. A response of the API, checked before anything is stored.  A national
--    body (the documentation's example, with the period that ends at {from}
--    first, as the live service answers):
SELECT * FROM car.grid_intensity_periods(
    '{"data":[{"from":"2018-01-20T11:30Z","to":"2018-01-20T12:00Z","intensity":{"forecast":270,"actual":268,"index":"moderate"}},
              {"from":"2018-01-20T12:00Z","to":"2018-01-20T12:30Z","intensity":{"forecast":266,"actual":263,"index":"moderate"}},
              {"from":"2018-01-20T12:30Z","to":"2018-01-20T13:00Z","intensity":{"forecast":262,"actual":null,"index":"moderate"}}]}',
    'GB', '2018-01-20 12:00+00', '2018-01-20 13:00+00');
-- a regional one: {"data": {"regionid", "data"}} as the live service sends
-- it, or in an array as the documentation shows it; forecasts only
SELECT * FROM car.grid_intensity_periods(
    '{"data":{"regionid":13,"dnoregion":"UKPN London","shortname":"London","data":[
      {"from":"2018-01-20T12:00Z","to":"2018-01-20T12:30Z","intensity":{"forecast":181,"index":"moderate"},
       "generationmix":[{"fuel":"gas","perc":43.6},{"fuel":"wind","perc":56.4}]}]}}',
    '13', '2018-01-20 12:00+00', '2018-01-20 12:30+00');
SELECT * FROM car.grid_intensity_periods(
    '{"data":[{"regionid":3,"dnoregion":"Electricity North West","shortname":"North West England","data":[
      {"from":"2018-01-20T12:00Z","to":"2018-01-20T12:30Z","intensity":{"forecast":266,"index":"moderate"}}]}]}',
    '3', '2018-01-20 12:00+00', '2018-01-20 12:30+00');
-- edges accepted: 0 and 2,000 gCO2/kWh; a period with neither value is left
-- out; one published twice the same counts once; twice with different
-- values, it is left out with a warning (the live service has published one
-- half-hour twice: carbon-intensity/api-definitions issue 17)
SET client_min_messages = warning;
SELECT * FROM car.grid_intensity_periods(
    '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":0,"actual":2000}},
              {"from":"2024-01-01T00:30Z","to":"2024-01-01T01:00Z","intensity":{"forecast":null,"actual":null,"index":"low"}},
              {"from":"2024-01-01T01:00Z","to":"2024-01-01T01:30Z","intensity":{"forecast":120,"index":"low"}},
              {"from":"2024-01-01T01:00Z","to":"2024-01-01T01:30Z","intensity":{"forecast":120,"index":"low"}},
              {"from":"2024-01-01T01:30Z","to":"2024-01-01T02:00Z","intensity":{"forecast":130,"index":"low"}},
              {"from":"2024-01-01T01:30Z","to":"2024-01-01T02:00Z","intensity":{"forecast":131,"index":"low"}}]}',
    'GB', '2024-01-01 00:00+00', '2024-01-01 03:00+00');
-- Each way a response can be wrong, one field at a time, from a good one;
-- every case is refused, with a message that says what and where.
CREATE TEMP TABLE bad_case (n serial, what text, body text, region text DEFAULT 'GB');
INSERT INTO bad_case (what, body) VALUES
    ('not JSON', '{"data": [}'),
    ('not the API''s', '[1, 2]'),
    ('no data', '{"error": {"code": "400 Bad Request", "message": "Please enter a valid datetime range"}}'),
    ('data a string', '{"data": "none"}'),
    ('period not an object', '{"data": [42]}'),
    ('from with seconds', '{"data":[{"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:30:00Z","intensity":{"forecast":1}}]}'),
    ('from with an offset', '{"data":[{"from":"2024-01-01T00:00+00:00","to":"2024-01-01T00:30+00:00","intensity":{"forecast":1}}]}'),
    ('from with a space', '{"data":[{"from":"2024-01-01 00:00Z","to":"2024-01-01 00:30Z","intensity":{"forecast":1}}]}'),
    ('from not a half-hour', '{"data":[{"from":"2024-01-01T00:15Z","to":"2024-01-01T00:45Z","intensity":{"forecast":1}}]}'),
    ('from on 30 February', '{"data":[{"from":"2024-02-30T00:00Z","to":"2024-02-30T00:30Z","intensity":{"forecast":1}}]}'),
    ('from at 24:00', '{"data":[{"from":"2024-01-01T24:00Z","to":"2024-01-02T00:30Z","intensity":{"forecast":1}}]}'),
    ('from a number', '{"data":[{"from":20240101,"to":"2024-01-01T00:30Z","intensity":{"forecast":1}}]}'),
    ('from missing', '{"data":[{"to":"2024-01-01T00:30Z","intensity":{"forecast":1}}]}'),
    ('to an hour later', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T01:00Z","intensity":{"forecast":1}}]}'),
    ('to missing', '{"data":[{"from":"2024-01-01T00:00Z","intensity":{"forecast":1}}]}'),
    ('no intensity', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z"}]}'),
    ('intensity a number', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":266}]}'),
    ('forecast text', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":"266"}}]}'),
    ('forecast a word', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":"high"}}]}'),
    ('forecast true', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":true}}]}'),
    ('forecast negative', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":-1}}]}'),
    ('forecast over 2,000', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":2000.5}}]}'),
    ('forecast 1e400', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":1e400}}]}'),
    ('actual an object', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":1,"actual":{}}}]}'),
    ('index unknown', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":1,"index":"extreme"}}]}'),
    ('index a number', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":1,"index":3}}]}'),
    ('index in capitals', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":1,"index":"Low"}}]}'),
    ('before the window', '{"data":[{"from":"2023-12-31T23:00Z","to":"2023-12-31T23:30Z","intensity":{"forecast":1}}]}'),
    ('after the window', '{"data":[{"from":"2024-01-01T03:00Z","to":"2024-01-01T03:30Z","intensity":{"forecast":1}}]}'),
    ('more periods than the window holds', '{"data":[' || (SELECT string_agg(format('{"from":"2024-01-01T%sZ","to":"2024-01-01T%sZ","intensity":{"forecast":1}}',
        to_char(t, 'HH24:MI'), to_char(t + interval '30 minutes', 'HH24:MI')), ',')
        FROM generate_series('2024-01-01 00:00'::timestamp, '2024-01-01 04:00', '30 minutes') t) || ']}'),
    ('regional body for GB', '{"data":{"regionid":13,"data":[]}}'),
    ('two regions', '{"data":[{"regionid":13,"data":[]},{"regionid":14,"data":[]}]}');
INSERT INTO bad_case (what, body, region) VALUES
    ('national body for region 13', '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":1}}]}', '13'),
    ('another region''s body', '{"data":{"regionid":14,"data":[]}}', '13'),
    ('regional body without periods', '{"data":{"regionid":13}}', '13');
CREATE FUNCTION pg_temp.refused(body text, region text, OUT refused boolean, OUT message text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM car.grid_intensity_periods(body, region, '2024-01-01 00:00+00', '2024-01-01 03:00+00');
    refused := false;
EXCEPTION WHEN OTHERS THEN
    refused := true;
    message := SQLERRM;
END $$;
SELECT b.n, b.what, r.refused, r.message FROM bad_case b, LATERAL pg_temp.refused(b.body, b.region) r ORDER BY b.n;
-- a good response cut short anywhere is refused (every one of its prefixes)
SELECT count(*) AS prefixes, count(*) FILTER (WHERE r.refused) AS refused
FROM (SELECT '{"data":[{"from":"2024-01-01T00:00Z","to":"2024-01-01T00:30Z","intensity":{"forecast":266,"actual":263,"index":"moderate"}}]}'::text AS body) g,
     generate_series(1, length(g.body) - 1) k, LATERAL pg_temp.refused(left(g.body, k), 'GB') r;
-- a window of the API is at most 14 days long
SELECT * FROM car.grid_intensity_periods('{"data": []}', 'GB', '2024-01-01 00:00+00', '2024-01-15 00:30+00');
SELECT * FROM car.grid_intensity_periods('{"data": []}', 'GB', '2024-01-01 00:00+00', '2024-01-01 00:00+00');

-- 3. A carbon-intensity source's options, checked by car.add_source and on
--    every write to car.source.  (Its URI is the API's base URL; here one on
--    the loopback where nothing listens, the source disabled at once.)
BEGIN;
SELECT name, kind, format, options FROM car.add_source('tou-grid', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL,
    '{"regions": ["GB", "13"], "from": "2024-01-01", "refetch_days": 3}', '30 minutes');
UPDATE car.source SET enabled = false WHERE name = 'tou-grid';
COMMIT;
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', 'long');
SELECT car.add_source('bad', NULL, 'carbon-intensity');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"region": "13"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"regions": "13"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"regions": []}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"regions": [13]}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"regions": ["18", "GB", "x"]}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"regions": ["GB", "GB"]}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"from": "01/01/2024"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"from": "2024-02-30"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"from": "2017-09-25"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"from": "2999-01-01"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"refetch_days": 31}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/ci', 'carbon-intensity', NULL, '{"refetch_days": 1.5}');
UPDATE car.source SET options = '{"regions": ["99"]}' WHERE name = 'tou-grid';
\set VERBOSITY terse
UPDATE car.source SET format = 'long' WHERE name = 'tou-grid';
\set VERBOSITY default
-- its windows: 14 days each on a grid from its first day, in each region
SELECT car.backfill('tou-grid', '2024-01-01', '2024-01-20') AS windows_queued;
SELECT replace(uri, 'http://127.0.0.1:1/ci', '') AS uri, region, period_from, period_to
FROM car.dataset WHERE source_id = (SELECT id FROM car.source WHERE name = 'tou-grid') ORDER BY period_from, region;
-- windows are 336 hours whatever the session's time zone: in London's, the one
-- across the spring clock change (31 March 2024) is 13 local days and 23 hours
SET TimeZone = 'Europe/London';
SELECT car.backfill('tou-grid', '2024-03-30', '2024-04-01') AS windows_queued;
SELECT replace(uri, 'http://127.0.0.1:1/ci', '') AS uri, period_to - period_from AS length,
       (period_to - period_from) = interval '336 hours' AS exactly_336_hours
FROM car.dataset WHERE source_id = (SELECT id FROM car.source WHERE name = 'tou-grid') AND region = 'GB'
AND period_from > '2024-03-01' ORDER BY period_from;
SET TimeZone = 'UTC';
SELECT car.remove_source('tou-grid');

-- 4. The hand values.  Site A (national intensity), one half-hourly
--    electricity meter: 10 kWh at 17:00 UTC on 10 June 2025, at 100 gCO2/kWh
--    (the actual: the forecast of 90 is not used), and 30 kWh at 17:30, at
--    300 (forecast 320):
--      time-of-use   10 x 100 + 30 x 300 = 10,000 g = 10.0 kg CO2
--      simple mean   (100 + 300) / 2 = 200 gCO2/kWh; 40 kWh x 200 = 8.0 kg
--      load-weighted 10,000 / 40 = 250 gCO2/kWh; ratio 250 / 200 = 1.25
--      statutory     DESNZ 2024 (2025 has no set: the newest earlier),
--                    0.20705 kg CO2e/kWh x 40 = 8.282 kg CO2e, of which
--                    0.20493 x 40 = 8.1972 kg CO2
--    A second meter of site A reads in MWh: 0.02 MWh = 20 kWh at 17:00, at
--    100 g: 2.0 kg; 20 x 0.20705 = 4.141 kg CO2e.
INSERT INTO car.site (name, org) VALUES ('ToU A', 'ToU Dept'), ('ToU B', 'ToU Dept'), ('ToU C', 'ToU Agency');
UPDATE car.site SET grid_region = '13' WHERE name = 'ToU C';
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, v.meter, v.activity, v.unit, v.minutes
FROM (VALUES ('ToU A', 'A HH', 'electricity', 'kWh', 30), ('ToU A', 'A MWh', 'electricity', 'MWh', 30),
             ('ToU A', 'A hourly', 'electricity', 'kWh', 60), ('ToU A', 'A gas', 'natural_gas', 'kWh', 30),
             ('ToU B', 'B HH', 'electricity', 'kWh', 30), ('ToU C', 'C HH', 'electricity', 'kWh', 30)) v(site, meter, activity, unit, minutes)
JOIN car.site s ON s.name = v.site;
SELECT id AS a_hh FROM car.meter WHERE name = 'A HH' \gset
SELECT id AS a_mwh FROM car.meter WHERE name = 'A MWh' \gset
SELECT id AS a_hourly FROM car.meter WHERE name = 'A hourly' \gset
SELECT id AS a_gas FROM car.meter WHERE name = 'A gas' \gset
SELECT id AS b_hh FROM car.meter WHERE name = 'B HH' \gset
SELECT id AS c_hh FROM car.meter WHERE name = 'C HH' \gset
INSERT INTO car.grid_intensity (region, period_start, forecast, actual, index) VALUES
    ('GB', '2025-06-10 17:00+00', 90, 100, 'low'), ('GB', '2025-06-10 17:30+00', 320, 300, 'very high'),
    ('13', '2025-06-10 17:00+00', 50, NULL, 'very low');
SELECT car.ensure_partitions('2025-06-01', '2026-11-01') >= 0 AS partitions;
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:a_hh, '2025-06-10 17:00+00', 10), (:a_hh, '2025-06-10 17:30+00', 30),
    (:a_mwh, '2025-06-10 17:00+00', 0.02),
    (:a_hourly, '2025-06-10 17:00+00', 1000), (:a_gas, '2025-06-10 17:00+00', 1000);
--    Site C is priced with London's intensity (regionid 13: 50 g, a forecast),
--    not the national one: 20 kWh x 50 = 1.0 kg, a forecast (flagged).
INSERT INTO car.reading (meter_id, ts, quantity) VALUES (:c_hh, '2025-06-10 17:00+00', 20);
--    Site B on 25 October 2026, when the clocks go back at 02:00 BST: the
--    first 01:30 (BST, 00:30 UTC) uses 5 kWh at 200 g (an actual); the
--    second 01:30 (GMT, 01:30 UTC) 7 kWh at 150 (a forecast); 02:00 GMT
--    4 kWh, and the API published nothing for it.  The 01:00 UTC half-hour,
--    at 999 g, has no reading.  Each 01:30 matches its own period:
--      time-of-use   5 x 200 + 7 x 150 = 2,050 g = 2.05 kg (not 12 x 200 =
--                    2.4, nor 12 x 150 = 1.8)
--      simple mean   (200 + 150) / 2 = 175; 12 kWh x 175 = 2.1 kg
--      load-weighted 2,050 / 12 = 170.833333...; ratio 170.8333 / 175 = 0.976190...
--      statutory     16 kWh x 0.20705 = 3.3128 kg CO2e (2024 set)
--      1 half-hour priced with a forecast, 1 without intensity: flagged
INSERT INTO car.grid_intensity (region, period_start, forecast, actual, index) VALUES
    ('GB', '2026-10-25 01:30+01', 210, 200, 'moderate'), ('GB', '2026-10-25 01:00+00', 999, 999, 'very high'),
    ('GB', '2026-10-25 01:30+00', 150, NULL, 'low');
INSERT INTO car.reading (meter_id, ts, quantity) VALUES
    (:b_hh, '2026-10-25 01:30+01', 5), (:b_hh, '2026-10-25 01:30+00', 7), (:b_hh, '2026-10-25 02:00+00', 4);
SELECT period_start, period_start AT TIME ZONE 'Europe/London' AS uk_time, actual, forecast
FROM car.grid_intensity WHERE period_start >= '2026-10-25' ORDER BY period_start;
SET client_min_messages = error;   -- earlier tests leave days car cannot price in the queue: not this test's
SELECT car.refresh() > 0 AS refreshed;
SET client_min_messages = warning;
SELECT organisation, site, meter, month, grid_region, kwh, kwh_priced, kg_co2_time_of_use,
       round(load_weighted_gco2_per_kwh::numeric, 9) AS load_weighted, mean_gco2_per_kwh AS mean, kg_co2_simple_mean,
       round(load_weighting_ratio::numeric, 9) AS ratio, round(statutory_kg_co2e::numeric, 9) AS statutory_kg_co2e,
       round(statutory_kg_co2::numeric, 9) AS statutory_kg_co2, statutory_factor_years AS factor_years,
       periods, periods_forecast, periods_without_intensity, flagged
FROM car.report_time_of_use WHERE site LIKE 'ToU %' ORDER BY site, meter, month;
-- the hand values, to 1e-9
SELECT pg_temp.close(kg_co2_time_of_use, 10.0) AS tou_10_kg, pg_temp.close(kg_co2_simple_mean, 8.0) AS simple_8_kg,
       pg_temp.close(load_weighting_ratio, 1.25) AS ratio_1_25, pg_temp.close(statutory_kg_co2e, 40 * 0.20705) AS statutory
FROM car.report_time_of_use WHERE meter = 'A HH';
SELECT pg_temp.close(kg_co2_time_of_use, 2.05) AS tou_2_05_kg, pg_temp.close(kg_co2_simple_mean, 2.1) AS simple_2_1_kg,
       pg_temp.close(load_weighting_ratio, (2050 / 12.0) / 175) AS ratio
FROM car.report_time_of_use WHERE meter = 'B HH';
-- the report never replaces the statutory figure: report_monthly still shows DESNZ's
SELECT site, unit, round(scope2_kg_co2e::numeric, 9) AS scope2_kg_co2e FROM car.report_monthly
WHERE site LIKE 'ToU %' AND activity = 'electricity' ORDER BY site, month, unit;

-- 5. Who sees what: the report follows the row-level security of readings,
--    meters and sites; the intensities are public figures every reader sees;
--    only the worker (and the owner) writes them.
SELECT car.grant_roles() IS NOT NULL AS roles;
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('tou-test', 'HS256', 'tou-test-secret-of-32-bytes-at-least!!');
CREATE ROLE car_test_tou_reader IN ROLE car_reader;
SET ROLE car_test_tou_reader;
SELECT count(*) AS lines_without_claims FROM car.report_time_of_use;
SELECT count(*) > 0 AS intensities_seen FROM car.grid_intensity;
INSERT INTO car.grid_intensity (region, period_start, forecast) VALUES ('GB', '2025-06-10 18:00+00', 1);
UPDATE car.grid_intensity SET actual = 1;
DELETE FROM car.grid_intensity;
UPDATE car.site SET grid_region = 'GB';
RESET ROLE;
BEGIN;
SELECT car.authenticate(car.sign_jwt('{"org": "ToU Agency", "exp": 4102444800}', 'tou-test'), true) IS NOT NULL AS agency;
SET LOCAL ROLE car_test_tou_reader;
SELECT organisation, site, meter, kg_co2_time_of_use FROM car.report_time_of_use ORDER BY site, meter;
COMMIT;
BEGIN;
SELECT car.authenticate(car.sign_jwt('{"org": "ToU Dept", "exp": 4102444800}', 'tou-test'), true) IS NOT NULL AS dept;
SET LOCAL ROLE car_test_tou_reader;
SELECT organisation, site, meter, kg_co2_time_of_use FROM car.report_time_of_use ORDER BY site, meter;
COMMIT;
DELETE FROM car.jwt_key WHERE kid = 'tou-test';
DROP ROLE car_test_tou_reader;

-- 6. An estate: 6 sites of 5 half-hourly electricity meters (the fifth of
--    each in MWh), sites 5 and 6 priced with London's intensity, March and
--    April 2024 (31 March has 46 half-hours), UK time.  For half-hour number
--    n (seconds since 1970 / 1800) and meter k:
--      reading   0.5 + 0.25 x ((7k + n) mod 13) kWh
--      GB        forecast 80 + (37n mod 200); actual forecast - 5 + (n mod 11),
--                but none when n mod 17 = 0; nothing at all when n mod 101 = 0
--      London    forecast 50 + (53n mod 150), no actual; nothing when n mod 89 = 0
--    The report is compared with the same figures computed here from those
--    formulas (not from car's tables), and the statutory figure with the
--    2024 factor, 0.20705 kg CO2e/kWh, times each meter-month's kWh.
INSERT INTO car.site (name, org, grid_region)
SELECT 'ToU estate ' || i, 'ToU Estate', CASE WHEN i >= 5 THEN '13' END FROM generate_series(1, 6) i;
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, s.name || ' meter ' || k, 'electricity', CASE WHEN k = 5 THEN 'MWh' ELSE 'kWh' END, 30
FROM car.site s CROSS JOIN generate_series(1, 5) k WHERE s.org = 'ToU Estate';
CREATE TEMP TABLE estate_meter AS
SELECT m.id, row_number() OVER (ORDER BY s.id, m.name) AS k, m.unit, coalesce(s.grid_region, 'GB') AS region
FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.org = 'ToU Estate';   -- k by site and name, not by id: the plan of the INSERT above may hand out ids in another order
CREATE TEMP TABLE half_hour AS
SELECT t, extract(epoch FROM t)::bigint / 1800 AS n
FROM generate_series('2024-03-01 00:00 Europe/London'::timestamptz, '2024-05-01 00:00 Europe/London'::timestamptz - interval '30 minutes',
                     interval '30 minutes') t;
SELECT count(*) AS half_hours FROM half_hour;
SELECT car.ensure_partitions('2024-03-01', '2024-05-01') >= 0 AS partitions;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, h.t, (0.5 + 0.25 * ((7 * m.k + h.n) % 13)) / CASE WHEN m.unit = 'MWh' THEN 1000 ELSE 1 END
FROM estate_meter m CROSS JOIN half_hour h;
INSERT INTO car.grid_intensity (region, period_start, forecast, actual)
SELECT 'GB', h.t, 80 + (37 * h.n) % 200, CASE WHEN h.n % 17 <> 0 THEN 80 + (37 * h.n) % 200 - 5 + h.n % 11 END
FROM half_hour h WHERE h.n % 101 <> 0
UNION ALL
SELECT '13', h.t, 50 + (53 * h.n) % 150, NULL FROM half_hour h WHERE h.n % 89 <> 0;
SET client_min_messages = error;   -- earlier tests leave days car cannot price in the queue: not this test's
SELECT car.refresh() > 0 AS refreshed;
SET client_min_messages = warning;
CREATE TEMP TABLE by_hand AS
WITH p AS (
    SELECT m.id AS meter_id, date_trunc('month', h.t AT TIME ZONE 'Europe/London')::date AS month,
           0.5 + 0.25 * ((7 * m.k + h.n) % 13) AS kwh,
           CASE WHEN m.region = 'GB' THEN
                    CASE WHEN h.n % 101 = 0 THEN NULL
                         WHEN h.n % 17 = 0 THEN 80 + (37 * h.n) % 200
                         ELSE 80 + (37 * h.n) % 200 - 5 + h.n % 11 END
                ELSE CASE WHEN h.n % 89 = 0 THEN NULL ELSE 50 + (53 * h.n) % 150 END END::float8 AS g,
           m.region = 'GB' AND h.n % 17 = 0 AND h.n % 101 <> 0 OR m.region = '13' AND h.n % 89 <> 0 AS by_forecast
    FROM estate_meter m CROSS JOIN half_hour h)
SELECT meter_id, month, sum(kwh) AS kwh, sum(kwh) FILTER (WHERE g IS NOT NULL) AS kwh_priced,
       sum(kwh * g) / 1000 AS kg, avg(g) AS mean,
       sum(kwh) FILTER (WHERE g IS NOT NULL) * avg(g) / 1000 AS kg_simple,
       (sum(kwh * g) / sum(kwh) FILTER (WHERE g IS NOT NULL)) / avg(g) AS ratio,
       sum(kwh) * 0.20705 AS statutory,
       count(*) AS periods, count(*) FILTER (WHERE by_forecast) AS periods_forecast, count(*) FILTER (WHERE g IS NULL) AS periods_none
FROM p GROUP BY meter_id, month;
SELECT count(*) AS lines, sum(periods) AS readings, sum(periods_forecast) AS priced_with_forecasts, sum(periods_none) AS without_intensity
FROM by_hand;
SELECT count(*) AS lines,
       count(*) FILTER (WHERE r.periods = b.periods AND r.periods_forecast = b.periods_forecast
                        AND r.periods_without_intensity = b.periods_none AND r.flagged) AS counts_equal,
       count(*) FILTER (WHERE pg_temp.close(r.kwh, b.kwh) AND pg_temp.close(r.kwh_priced, b.kwh_priced)) AS kwh_equal,
       count(*) FILTER (WHERE pg_temp.close(r.kg_co2_time_of_use, b.kg)) AS kg_equal,
       count(*) FILTER (WHERE pg_temp.close(r.mean_gco2_per_kwh, b.mean) AND pg_temp.close(r.kg_co2_simple_mean, b.kg_simple)) AS simple_equal,
       count(*) FILTER (WHERE pg_temp.close(r.load_weighting_ratio, b.ratio)) AS ratio_equal,
       count(*) FILTER (WHERE pg_temp.close(r.statutory_kg_co2e, b.statutory)) AS statutory_equal,
       max(abs(r.kg_co2_time_of_use - b.kg) / b.kg) < 1e-9 AS within_1e_9
FROM car.report_time_of_use r JOIN by_hand b ON b.meter_id = r.meter_id AND b.month = r.month
WHERE r.organisation = 'ToU Estate';
SELECT count(*) AS report_lines FROM car.report_time_of_use WHERE organisation = 'ToU Estate';
-- the estate's totals, by month
SELECT r.month, round(sum(r.kwh)::numeric, 6) AS kwh, round(sum(r.kg_co2_time_of_use)::numeric, 6) AS kg_co2_time_of_use,
       round(sum(r.kg_co2_simple_mean)::numeric, 6) AS kg_co2_simple_mean, round(sum(r.statutory_kg_co2e)::numeric, 6) AS statutory_kg_co2e
FROM car.report_time_of_use r WHERE r.organisation = 'ToU Estate' GROUP BY r.month ORDER BY r.month;
SELECT month, round(sum(kwh)::numeric, 6) AS kwh, round(sum(kg)::numeric, 6) AS kg, round(sum(kg_simple)::numeric, 6) AS kg_simple,
       round(sum(statutory)::numeric, 6) AS statutory
FROM by_hand GROUP BY month ORDER BY month;
RESET client_min_messages;
