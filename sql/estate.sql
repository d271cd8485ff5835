-- A year-long test estate (issue 14, "Must hold"): financial year 2023/24,
-- across the autumn (29 October 2023) and spring (31 March 2024) clock
-- changes; two bodies, three sites, four meters; gaps filled by each method
-- (linear, same weekday, a bill); a site moving between the bodies in
-- February 2024; the year signed; then a late actual file and a factor
-- revision.  report_ggc, the baseline, coverage and the restatement are
-- checked against values computed here from the raw readings with plain SQL
-- and the published factors, to 1e-9; the signed figures never move.
-- After sql/ggc.sql (its 2017 factors).
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
-- the reports' plans cost enough for JIT compilation, which takes longer than
-- running them on a test's few rows (these tests check figures, not timing)
SET jit = off;
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b));
-- the factors by hand: 2023 (the bundled set) and 2017 (sql/ggc.sql's rows)
CREATE TEMP TABLE f (year int, activity text, kg_per_kwh numeric);
INSERT INTO f VALUES (2023, 'electricity', 0.20707), (2023, 'natural_gas', 0.18293),
                     (2017, 'electricity', 0.35156), (2017, 'natural_gas', 0.18416);

-- 1. The estate.  Meter files in UTC, one reading a period, deterministic:
--    q = 1 + site number + 0.25 x (period number mod 7).  Left out of them:
--    E1 electricity 10:00-11:00 UTC on 10 May 2023 (3 half-hours: linear);
--    E2 electricity all of 14 June 2023 (same weekday); E3 electricity 6-12
--    November 2023 (a bill); E1 gas 01:00 UTC on 29 October 2023 (the second
--    01:00 of the autumn day: left missing); E2 electricity 10:00 and 10:30
--    UTC on 31 March 2024 (a 46-period day: left missing).
SELECT (car.add_source('estate-' || v.meter, NULL, 'push', 'long', jsonb_build_object(
            'site', v.site, 'meter', v.meter, 'activity', v.activity, 'timezone', 'UTC', 'org', v.org,
            'interval_minutes', v.minutes))).name
FROM (VALUES ('E1', 'E1 electricity', 'electricity', 'Estate Dept', 30), ('E1', 'E1 gas', 'natural_gas', 'Estate Dept', 60),
             ('E2', 'E2 electricity', 'electricity', 'Estate Dept', 30), ('E3', 'E3 electricity', 'electricity', 'Estate Agency', 30)) v(site, meter, activity, org, minutes)
ORDER BY 1;
CREATE TEMP TABLE file_rows AS
SELECT v.meter, g AS ts, 1 + v.n + 0.25 * ((extract(epoch FROM g) / (60 * v.minutes))::bigint % 7) AS q
FROM (VALUES ('E1 electricity', 1, 30), ('E1 gas', 1, 60), ('E2 electricity', 2, 30), ('E3 electricity', 3, 30)) v(meter, n, minutes),
     LATERAL generate_series('2023-04-01 00:00 Europe/London'::timestamptz, '2024-04-01 00:00 Europe/London'::timestamptz - v.minutes * interval '1 minute',
                             v.minutes * interval '1 minute') g
WHERE NOT (v.meter = 'E1 electricity' AND g BETWEEN '2023-05-10 10:00+00' AND '2023-05-10 11:00+00')
AND NOT (v.meter = 'E2 electricity' AND g >= '2023-06-14 00:00 Europe/London' AND g < '2023-06-15 00:00 Europe/London')
AND NOT (v.meter = 'E3 electricity' AND g >= '2023-11-06 00:00 Europe/London' AND g < '2023-11-13 00:00 Europe/London')
AND NOT (v.meter = 'E1 gas' AND g = '2023-10-29 01:00+00')
AND NOT (v.meter = 'E2 electricity' AND g IN ('2024-03-31 10:00+00', '2024-03-31 10:30+00'));
SELECT meter, count(*) AS readings FROM file_rows GROUP BY 1 ORDER BY 1;
SELECT s.name, f.rows_loaded, f.rows_rejected
FROM car.source s, LATERAL car.push(s.name, s.name || '-fy2023.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(r.ts, 'YYYY-MM-DD HH24:MI') || ',' || r.q, E'\n' ORDER BY r.ts)
        FROM file_rows r WHERE 'estate-' || r.meter = s.name), 'UTF8')) f
WHERE s.name LIKE 'estate-%' ORDER BY 1;
SELECT m.name, m.interval_minutes, m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id
WHERE s.org IN ('Estate Dept', 'Estate Agency') ORDER BY 1;
SELECT id AS e1e FROM car.meter WHERE name = 'E1 electricity' \gset
SELECT id AS e1g FROM car.meter WHERE name = 'E1 gas' \gset
SELECT id AS e2e FROM car.meter WHERE name = 'E2 electricity' \gset
SELECT id AS e3e FROM car.meter WHERE name = 'E3 electricity' \gset
SELECT id AS e2 FROM car.site WHERE name = 'E2' \gset
-- the baseline year: 2017/18 readings of each meter, one a quarter
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m, d::timestamp AT TIME ZONE 'Europe/London', q
FROM (VALUES (:e1e, 10000), (:e1g, 20000), (:e2e, 5000), (:e3e, 8000)) v(m, q),
     unnest('{2017-06-01 12:00,2017-09-01 12:00,2017-12-01 12:00,2018-02-01 12:00}'::text[]) d;
UPDATE car.meter SET removed_on = '2024-03-31' WHERE id IN (:e1e, :e1g, :e2e, :e3e);

-- 2. The gaps, filled: linear, same weekday, a bill (by the meter's profile).
SELECT method, periods_filled, round(quantity_estimated::numeric, 6) AS quantity
FROM car.estimate(:e1e, '2023-05-10 10:00+00', '2023-05-10 11:30+00', 'linear');
SELECT method, periods_filled, short_history, round(quantity_estimated::numeric, 6) AS quantity
FROM car.estimate(:e2e, '2023-06-14 00:00 Europe/London', '2023-06-15 00:00 Europe/London', 'same_weekday');
SELECT method, periods_filled, round(billed_quantity::numeric, 6) AS billed, round(actual_quantity::numeric, 6) AS actual,
       round(quantity_estimated::numeric, 6) AS quantity
FROM car.bill(:e3e, '2023-11-06 00:00 Europe/London', '2023-11-13 00:00 Europe/London', 2000);
-- by hand: linear between the readings at 09:30 and 11:30 UTC; same weekday: the mean of 7, 14, 21 and 28 days before
SELECT round((SELECT sum(a.quantity + (b.quantity - a.quantity) * k / 4.0) FROM car.reading a, car.reading b, generate_series(1, 3) k
              WHERE a.meter_id = :e1e AND a.ts = '2023-05-10 09:30+00' AND b.meter_id = :e1e AND b.ts = '2023-05-10 11:30+00')::numeric, 6) AS linear,
       round((SELECT sum(x.quantity) / 4 FROM car.reading x WHERE x.meter_id = :e2e AND x.quality = 'actual'
              AND (x.ts AT TIME ZONE 'Europe/London')::date IN ('2023-06-07', '2023-05-31', '2023-05-24', '2023-05-17'))::numeric, 6) AS same_weekday;

-- 3. E2 moves to the agency on 1 February 2024; then the year is signed by both bodies.
SELECT org, valid_from, valid_to FROM car.transfer_site(:e2, 'Estate Agency', '2024-02-01', 'estate test');
SELECT car.refresh() > 0 AS refreshed;
CREATE TEMP TABLE at_close AS SELECT meter_id, ts, quantity, quality FROM car.reading
WHERE meter_id IN (:e1e, :e1g, :e2e, :e3e);
SELECT org, lines > 0 AS signed FROM car.close_period('Estate Dept', '2023-04-01', '2024-03-31', 'FY2023/24');
SELECT org, lines > 0 AS signed FROM car.close_period('Estate Agency', '2023-04-01', '2024-03-31', 'FY2023/24');

-- 4. The figures, computed here from the raw readings: each reading of the
--    financial year priced with the 2023 factors, for the body owning its
--    site that day (E2: the department until 31 January 2024).
CREATE TEMP TABLE owner (site text, org text, first_day date, last_day date);
INSERT INTO owner VALUES ('E1', 'Estate Dept', '-infinity', 'infinity'), ('E3', 'Estate Agency', '-infinity', 'infinity'),
                         ('E2', 'Estate Dept', '-infinity', '2024-01-31'), ('E2', 'Estate Agency', '2024-02-01', 'infinity');
CREATE FUNCTION pg_temp.quarter(day date) RETURNS int LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN extract(month FROM day) BETWEEN 4 AND 6 THEN 1 WHEN extract(month FROM day) BETWEEN 7 AND 9 THEN 2
                WHEN extract(month FROM day) BETWEEN 10 AND 12 THEN 3 ELSE 4 END;
CREATE TEMP TABLE by_hand AS
SELECT o.org, pg_temp.quarter((r.ts AT TIME ZONE 'Europe/London')::date) AS quarter,
       sum(r.quantity * f.kg_per_kwh) / 1000 AS overall_t,
       sum(r.quantity * f.kg_per_kwh) FILTER (WHERE m.activity = 'natural_gas') / 1000 AS direct_t,
       sum(r.quantity * f.kg_per_kwh) FILTER (WHERE r.quality = 'estimated') / 1000 AS estimated_t
FROM at_close r
JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
JOIN owner o ON o.site = s.name AND (r.ts AT TIME ZONE 'Europe/London')::date BETWEEN o.first_day AND o.last_day
JOIN f ON f.year = 2023 AND f.activity = m.activity
WHERE r.ts >= '2023-04-01 00:00 Europe/London' AND r.ts < '2024-04-01 00:00 Europe/London'
GROUP BY 1, 2;
-- the baseline: each site's 2017/18 figure per quarter (2017 factors), the
-- department owning E2 for 31 of the 91 days of January-March 2024 (leap
-- year) and the agency for 60
CREATE TEMP TABLE base_by_hand AS
WITH site_base AS (
    SELECT s.name AS site, pg_temp.quarter((r.ts AT TIME ZONE 'Europe/London')::date) AS quarter,
           sum(r.quantity * f.kg_per_kwh) / 1000 AS overall_t,
           sum(r.quantity * f.kg_per_kwh) FILTER (WHERE m.activity = 'natural_gas') / 1000 AS direct_t
    FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    JOIN f ON f.year = 2017 AND f.activity = m.activity
    WHERE r.meter_id IN (:e1e, :e1g, :e2e, :e3e) AND r.ts < '2018-04-01 00:00 Europe/London'
    GROUP BY 1, 2),
shares (site, org, quarter, share) AS (
    VALUES ('E1', 'Estate Dept', 1, 1.0), ('E1', 'Estate Dept', 2, 1.0), ('E1', 'Estate Dept', 3, 1.0), ('E1', 'Estate Dept', 4, 1.0),
           ('E2', 'Estate Dept', 1, 1.0), ('E2', 'Estate Dept', 2, 1.0), ('E2', 'Estate Dept', 3, 1.0), ('E2', 'Estate Dept', 4, 31 / 91.0),
           ('E2', 'Estate Agency', 4, 60 / 91.0),
           ('E3', 'Estate Agency', 1, 1.0), ('E3', 'Estate Agency', 2, 1.0), ('E3', 'Estate Agency', 3, 1.0), ('E3', 'Estate Agency', 4, 1.0))
SELECT sh.org, sh.quarter, sum(b.overall_t * sh.share) AS overall_t, sum(coalesce(b.direct_t, 0) * sh.share) AS direct_t
FROM shares sh JOIN site_base b ON b.site = sh.site AND b.quarter = sh.quarter
GROUP BY 1, 2;
-- coverage: the periods of every UK day of the year (counted by stepping
-- through each day in its meter's interval), over the days the body owns
-- the meter's site; received: its actual readings
CREATE TEMP TABLE cov_by_hand AS
WITH days AS (
    SELECT m.id AS meter_id, s.name AS site, m.interval_minutes, d::date AS day
    FROM car.meter m JOIN car.site s ON s.id = m.site_id, generate_series('2023-04-01'::date, '2024-03-31', '1 day') d
    WHERE m.id IN (:e1e, :e1g, :e2e, :e3e)),
expected AS (
    SELECT d.meter_id, d.site, d.day,
           (SELECT count(*) FROM generate_series(d.day::timestamp AT TIME ZONE 'Europe/London',
                                                 (d.day + 1)::timestamp AT TIME ZONE 'Europe/London' - d.interval_minutes * interval '1 minute',
                                                 d.interval_minutes * interval '1 minute')) AS periods
    FROM days d),
received AS (
    SELECT r.meter_id, (r.ts AT TIME ZONE 'Europe/London')::date AS day, count(*) AS periods
    FROM at_close r WHERE r.quality = 'actual' GROUP BY 1, 2)
SELECT o.org, pg_temp.quarter(e.day) AS quarter, sum(e.periods) AS expected, sum(coalesce(x.periods, 0)) AS received
FROM expected e JOIN owner o ON o.site = e.site AND e.day BETWEEN o.first_day AND o.last_day
LEFT JOIN received x ON x.meter_id = e.meter_id AND x.day = e.day
GROUP BY 1, 2;
SELECT org, sum(expected) AS periods_expected, sum(received) AS periods_received FROM cov_by_hand GROUP BY 1 ORDER BY 1;
-- the clock changes in the count: 29 October (50 half-hours, 25 hours), 31 March (46, 23)
SELECT day, periods_expected, periods_actual, periods_missing FROM car.coverage
WHERE meter_id IN (:e1g, :e2e) AND day IN ('2023-10-29', '2024-03-31') ORDER BY meter_id, day;

-- report_ggc against them, per body, quarter and the year, to 1e-9
CREATE TEMP TABLE ggc_at_close AS
SELECT * FROM car.report_ggc WHERE organisation IN ('Estate Dept', 'Estate Agency') AND financial_year = 2023;
SELECT g.organisation, g.quarter, g.metric,
       pg_temp.close(g.value, CASE g.metric WHEN 'overall_ghg' THEN h.overall_t ELSE h.direct_t END) AS value_ok,
       pg_temp.close(g.baseline_value, CASE g.metric WHEN 'overall_ghg' THEN b.overall_t ELSE b.direct_t END) AS baseline_ok,
       pg_temp.close(g.coverage, 100.0 * c.received / c.expected) AS coverage_ok,
       pg_temp.close(g.pct_estimated, CASE g.metric WHEN 'overall_ghg' THEN 100 * coalesce(h.estimated_t, 0) / h.overall_t ELSE 0 END)
           AS pct_estimated_ok,
       g.signed
FROM ggc_at_close g
LEFT JOIN (SELECT org, quarter, overall_t, direct_t, estimated_t FROM by_hand
           UNION ALL SELECT org, NULL, sum(overall_t), sum(direct_t), sum(estimated_t) FROM by_hand GROUP BY org) h
  ON h.org = g.organisation AND h.quarter IS NOT DISTINCT FROM g.quarter
LEFT JOIN (SELECT org, quarter, overall_t, direct_t FROM base_by_hand
           UNION ALL SELECT org, NULL, sum(overall_t), sum(direct_t) FROM base_by_hand GROUP BY org) b
  ON b.org = g.organisation AND b.quarter IS NOT DISTINCT FROM g.quarter
LEFT JOIN (SELECT org, quarter, expected, received FROM cov_by_hand WHERE org IS NOT NULL
           UNION ALL SELECT org, NULL, sum(expected), sum(received) FROM cov_by_hand GROUP BY org) c
  ON c.org = g.organisation AND c.quarter IS NOT DISTINCT FROM g.quarter AND g.metric = 'overall_ghg'
WHERE g.metric IN ('overall_ghg', 'direct_ghg')
ORDER BY 1, 2 NULLS LAST, 3;
-- (direct_ghg: the gas meter, hourly, is the department's only Scope 1; its coverage is checked by the overall line's meters)
SELECT organisation, quarter, metric, round(value::numeric, 4) AS value_t, round(baseline_value::numeric, 4) AS baseline_t,
       round(change_pct::numeric, 2) AS change_pct
FROM ggc_at_close WHERE metric = 'overall_ghg' ORDER BY 1, 2 NULLS LAST;

-- 5. After the close: the late actual readings of 14 June (replacing the
--    estimates), and a revised 2023 set (UK generation 0.20707 -> 0.21000).
CREATE TEMP TABLE monthly_at_close AS
SELECT * FROM car.report_monthly WHERE organisation IN ('Estate Dept', 'Estate Agency') AND month BETWEEN '2023-04-01' AND '2024-03-01';
SELECT rows_loaded, rows_superseded FROM car.push('estate-E2 electricity', 'E2-june14.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g, 'YYYY-MM-DD HH24:MI') || ',4', E'\n' ORDER BY g)
        FROM generate_series('2023-06-14 00:00 Europe/London'::timestamptz, '2023-06-14 23:30 Europe/London', '30 minutes') g), 'UTF8'));
SELECT id AS june14 FROM car.source_file WHERE name = 'E2-june14.csv' \gset
-- the department's source names E2, which the agency owns now: the file is
-- that site's (no second E2 is made), and its readings replaced the estimates
SELECT count(*) AS sites_named_e2 FROM car.site WHERE name = 'E2';
SELECT quality, count(*), sum(quantity) FROM car.reading WHERE meter_id = :e2e
AND ts >= '2023-06-14 00:00 Europe/London' AND ts < '2023-06-15 00:00 Europe/London' GROUP BY 1;
-- ... but only for the days the department owned E2 (to 31 January 2024):
-- a file of its source with a reading of 1 February 2024 on, the agency's
-- days, is refused whole, naming them; the agency's readings are untouched
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql
CREATE TEMP TABLE e2_after AS SELECT ts, quantity, file_id FROM car.reading WHERE meter_id = :e2e AND ts >= '2024-01-31 00:00 Europe/London';
SELECT pg_temp.error_of(format('SELECT car.push(%L, %L, %L::bytea)', 'estate-E2 electricity', 'E2-feb.csv',
       convert_to(E'ts,kWh\n2024-02-10 12:00,999\n', 'UTF8')));
SELECT pg_temp.error_of(format('SELECT car.push(%L, %L, %L::bytea)', 'estate-E2 electricity', 'E2-span.csv',
       convert_to(E'ts,kWh\n2024-01-31 23:30,999\n2024-02-01 00:00,999\n', 'UTF8')));
SELECT count(*) AS changed FROM (SELECT ts, quantity, file_id FROM car.reading WHERE meter_id = :e2e AND ts >= '2024-01-31 00:00 Europe/London'
                                 EXCEPT SELECT * FROM e2_after) c;
SELECT id AS rev FROM car.load_factors(convert_to(replace(
    convert_from(pg_read_binary_file(:'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2023-flat-file-update.frlocale.csv'), 'UTF8'),
    'Electricity generated;Electricity: UK;kWh;;kWh;kg CO2e;0,20707', 'Electricity generated;Electricity: UK;kWh;;kWh;kg CO2e;0,21000'), 'UTF8'),
    'revised-2023.csv') \gset
SELECT car.refresh() > 0 AS refreshed;
-- the signed figures did not move (sums of the same stored figures, to 1e-9:
-- the order a GROUP BY adds floats in is not fixed)
SELECT count(*) AS ggc_lines,
       count(*) FILTER (WHERE NOT (pg_temp.close(a.value, g.value) AND pg_temp.close(a.baseline_value, g.baseline_value)
                                   AND pg_temp.close(a.coverage, g.coverage) AND pg_temp.close(a.pct_estimated, g.pct_estimated)
                                   AND a.signed = g.signed AND a.factor_years = g.factor_years)) AS moved
FROM ggc_at_close a JOIN car.report_ggc g ON g.organisation = a.organisation AND g.financial_year = a.financial_year
     AND g.quarter IS NOT DISTINCT FROM a.quarter AND g.metric = a.metric;
SELECT count(*) AS monthly_lines,
       count(*) FILTER (WHERE NOT (pg_temp.close(a.quantity, m.quantity) AND pg_temp.close(a.kg_co2e, m.kg_co2e)
                                   AND pg_temp.close(a.scope1_kg_co2e, m.scope1_kg_co2e) AND pg_temp.close(a.scope2_kg_co2e, m.scope2_kg_co2e)
                                   AND pg_temp.close(a.scope3_kg_co2e, m.scope3_kg_co2e) AND pg_temp.close(a.coverage, m.coverage)
                                   AND pg_temp.close(a.pct_estimated, m.pct_estimated) AND a.meters = m.meters
                                   AND a.days_with_data = m.days_with_data AND a.factor_years = m.factor_years)) AS moved,
       (SELECT count(*) FROM car.report_monthly m WHERE m.organisation IN ('Estate Dept', 'Estate Agency')
        AND m.month BETWEEN '2023-04-01' AND '2024-03-01') AS lines_now
FROM monthly_at_close a JOIN car.report_monthly m USING (organisation, site_id, month, activity, unit);
-- the restatement, against the readings now priced with the revised factor less the signed figures, per body and month
CREATE TEMP TABLE restated_by_hand AS
WITH now_kg AS (
    SELECT o.org, date_trunc('month', r.ts AT TIME ZONE 'Europe/London')::date AS month, sum(r.quantity * 0.21000) AS kg
    FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    JOIN owner o ON o.site = s.name AND (r.ts AT TIME ZONE 'Europe/London')::date BETWEEN o.first_day AND o.last_day
    WHERE m.activity = 'electricity' AND m.id IN (:e1e, :e2e, :e3e)
    AND r.ts >= '2023-04-01 00:00 Europe/London' AND r.ts < '2024-01-01 00:00 Europe/London'
    GROUP BY 1, 2),
signed_kg AS (
    SELECT o.org, date_trunc('month', r.ts AT TIME ZONE 'Europe/London')::date AS month, sum(r.quantity * 0.20707) AS kg
    FROM at_close r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    JOIN owner o ON o.site = s.name AND (r.ts AT TIME ZONE 'Europe/London')::date BETWEEN o.first_day AND o.last_day
    WHERE m.activity = 'electricity'
    AND r.ts >= '2023-04-01 00:00 Europe/London' AND r.ts < '2024-01-01 00:00 Europe/London'
    GROUP BY 1, 2)
SELECT n.org, n.month, n.kg - s.kg AS delta, s.kg AS signed FROM now_kg n JOIN signed_kg s USING (org, month);
SELECT count(*) AS months,
       count(*) FILTER (WHERE NOT pg_temp.close(r.delta, h.delta)) AS delta_differs,
       count(*) FILTER (WHERE NOT pg_temp.close(r.signed, h.signed)) AS signed_differs
FROM (SELECT organisation AS org, month, sum(delta_kg_co2e) AS delta, sum(signed_kg_co2e) AS signed FROM car.restatement
      WHERE organisation IN ('Estate Dept', 'Estate Agency') AND component = 'generation' AND month < '2024-01-01'
      GROUP BY 1, 2) r
JOIN restated_by_hand h USING (org, month);
-- (January to March 2024 are priced with the 2024 set in car.emission_daily under calendar years: the 2023 revision does not touch them)
SELECT organisation, month, causes, file_ids = ARRAY[:june14] AS late_file, factor_set_ids = ARRAY[:rev] AS revised_set,
       significant, round(delta_pct::numeric, 4) AS pct
FROM car.restatement
WHERE organisation IN ('Estate Dept', 'Estate Agency') AND component = 'generation' AND month IN ('2023-06-01', '2023-07-01', '2024-02-01')
ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE delta_kg_co2e <> 0) AS lines_moved, count(*) FILTER (WHERE significant) AS significant_lines
FROM car.restatement WHERE organisation IN ('Estate Dept', 'Estate Agency');
-- the financial-year figures move with the 2023 revision in January to March too (under the 2023 set there)
SELECT count(*) FILTER (WHERE delta_fy_kg_co2e <> 0 AND month >= '2024-01-01') > 0 AS q4_restated_for_ggc
FROM car.restatement WHERE organisation IN ('Estate Dept', 'Estate Agency') AND component = 'generation';
-- the revision taken back for the tests that follow
DELETE FROM car.factor_set WHERE id = :rev;
SELECT car.refresh() > 0 AS refreshed;
RESET client_min_messages;
