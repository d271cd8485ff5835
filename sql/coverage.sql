-- Completeness per meter and UK local day (issue 14, point 2): the periods
-- expected (46, 48 or 50 half-hours on clock-change days, the meter's
-- interval), received and estimated, in car.coverage and on every report
-- line (coverage, pct_estimated).  Its own organisation and sites, next to
-- what the earlier tests loaded.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;

-- 1. Periods in a UK day: 48 half-hours, 46 on the spring change (2023-03-26,
--    clocks forward at 01:00 GMT), 50 on the autumn one (2023-10-29); hours:
--    24, 23, 25; one period a day for daily meters; whole ranges add up.
SELECT d, car.periods_in(30, d, d) AS half_hours, car.periods_in(60, d, d) AS hours,
       car.periods_in(15, d, d) AS quarter_hours, car.periods_in(1440, d, d) AS days
FROM unnest('{2023-03-25,2023-03-26,2023-10-29,2023-12-25}'::date[]) d;
-- a year: 365 x 48 half-hours, the two changes cancelling out (- 2 + 2)
SELECT car.periods_in(30, '2023-01-01', '2023-12-31') AS half_hours_2023, 365 * 48 AS by_hand,
       car.periods_in(30, '2023-03-01', '2023-03-31') AS march_2023, 31 * 48 - 2 AS march_by_hand,
       car.periods_in(30, '2023-05-02', '2023-05-01') AS empty;

-- 2. Meters take the interval of their source (interval_minutes): the
--    Cambridge files are hourly; without the option, half-hourly.  (The
--    files' timestamps are UTC, as in a UTC-stamped meter export.)
SELECT (car.add_source('cov-hh', NULL, 'push', 'long',
        '{"site": "Cov HQ", "meter": "Cov HQ electricity", "timezone": "UTC", "activity": "electricity", "org": "Coverage Dept", "interval_minutes": 30}')).name,
       (car.add_source('cov-hourly', NULL, 'push', 'long',
        '{"site": "Cov HQ", "meter": "Cov HQ gas", "timezone": "UTC", "activity": "natural_gas", "org": "Coverage Dept", "interval_minutes": "60"}')).name;
-- an interval that would not divide a UK day into whole periods is refused
SELECT car.add_source('cov-bad', NULL, 'push', 'long', '{"meter": "m", "activity": "electricity", "interval_minutes": 45}');
-- 2023-06-01: 42 of 48 half-hours (10:00-12:30 BST missing); 2023-10-29: 49 of
-- 50 (the second 01:00 missing: 01:00 GMT); 2023-03-26: all 46
CREATE TEMP TABLE hh AS
SELECT g FROM generate_series('2023-06-01 00:00 Europe/London'::timestamptz, '2023-06-01 23:30 Europe/London', '30 minutes') g
WHERE (g AT TIME ZONE 'Europe/London')::time NOT BETWEEN '10:00' AND '12:30'
UNION ALL
SELECT g FROM generate_series('2023-10-29 00:00 Europe/London'::timestamptz, '2023-10-29 23:30 Europe/London', '30 minutes') g
WHERE g <> '2023-10-29 01:00+00'
UNION ALL
SELECT g FROM generate_series('2023-03-26 00:00 Europe/London'::timestamptz, '2023-03-26 23:30 Europe/London', '30 minutes') g;
SELECT count(*) AS half_hours_pushed, 42 + 49 + 46 AS by_hand FROM hh;
SELECT rows_loaded FROM car.push('cov-hh', 'hh.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ',2', E'\n' ORDER BY g) FROM hh), 'UTF8'));
-- the hourly meter: the spring day, 23 hours, one missing
SELECT rows_loaded FROM car.push('cov-hourly', 'gas.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ',5', E'\n' ORDER BY g)
        FROM generate_series('2023-03-26 00:00 Europe/London'::timestamptz, '2023-03-26 23:00 Europe/London', '1 hour') g
        WHERE g <> '2023-03-26 12:00 Europe/London'), 'UTF8'));
SELECT name, interval_minutes FROM car.meter WHERE name LIKE 'Cov HQ%' ORDER BY name;

-- 3. car.coverage per meter and day: the hand values.  6 of 48 half-hours
--    missing is 87.5%; a 50-period autumn day missing one is 49/50.
SELECT meter, day, periods_expected, periods_actual, periods_estimated, periods_missing, coverage, quantity
FROM car.coverage
WHERE organisation = 'Coverage Dept' AND day IN ('2023-03-26', '2023-06-01', '2023-06-02', '2023-10-29')
ORDER BY meter, day;
SELECT 100.0 * 42 / 48 AS by_hand_june, 100.0 * 49 / 50 AS by_hand_autumn;

-- 4. Report lines.  The meters are expected from their first reading to
--    their removal: with removed_on set, the months' expected periods are
--    known, and each line's coverage is the actual periods over them.
UPDATE car.meter SET removed_on = '2023-10-31' WHERE name = 'Cov HQ electricity';
UPDATE car.meter SET removed_on = '2023-03-31' WHERE name = 'Cov HQ gas';
SELECT car.refresh() >= 0 AS refreshed;
SELECT m.name AS meter, first_day, last_day FROM car.meter_span s JOIN car.meter m ON m.id = s.meter_id
WHERE m.name LIKE 'Cov HQ%' ORDER BY m.name;
SELECT organisation, site, month, activity, quantity, round(coverage::numeric, 6) AS coverage, pct_estimated
FROM car.report_monthly WHERE organisation = 'Coverage Dept' ORDER BY month, activity;
-- by hand: March (electricity from the 26th): 46 + 5 x 48 = 286 expected, 46
-- received; June: 30 x 48 = 1440 expected, 42 received; October (to the 31st,
-- its removal): 30 x 48 + 50 = 1490 expected, 49 received; gas (hourly, 26-31
-- March): 23 + 5 x 24 = 143 expected, 22 received
SELECT round(100.0 * 46 / 286, 6) AS march, round(100.0 * 42 / 1440, 6) AS june,
       round(100.0 * 49 / 1490, 6) AS october, round(100.0 * 22 / 143, 6) AS gas_march;
-- the year: 46 + 42 + 49 received of 286 (March) + 183 x 48 (April to
-- September) + 1490 (October) expected; the site, with the gas meter: + 22 of 143
SELECT round(coverage::numeric, 6) AS electricity_2023,
       round(100.0 * (46 + 42 + 49) / (286 + 183 * 48 + 1490), 6) AS by_hand
FROM car.report_yearly WHERE organisation = 'Coverage Dept' AND activity = 'electricity' AND year = 2023;
SELECT DISTINCT component, round(coverage::numeric, 6) AS coverage FROM car.report_scope
WHERE organisation = 'Coverage Dept' AND month = '2023-06-01' ORDER BY 1;
SELECT round(coverage::numeric, 6) AS site_2023,
       round(100.0 * (46 + 42 + 49 + 22) / (286 + 183 * 48 + 1490 + 143), 6) AS by_hand
FROM car.report_intensity WHERE organisation = 'Coverage Dept';
-- a meter that is not an interval series has no coverage: NULL on its lines
UPDATE car.meter SET interval_minutes = NULL WHERE name = 'Cov HQ gas';
SELECT activity, coverage FROM car.report_monthly WHERE organisation = 'Coverage Dept' AND month = '2023-03-01' ORDER BY 1;
SELECT count(*) AS coverage_rows_of_gas FROM car.coverage WHERE meter = 'Cov HQ gas';
-- an interval the table does not know is refused
UPDATE car.meter SET interval_minutes = 45 WHERE name = 'Cov HQ gas';
UPDATE car.meter SET interval_minutes = 60 WHERE name = 'Cov HQ gas';
RESET client_min_messages;
