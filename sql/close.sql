-- Period close and the restatement register (issue 14, point 4):
-- car.close_period(org, from, to, note) signs an organisation's figures;
-- every report reads them from then on; car.restatement shows live minus
-- signed, line by line, with the cause; reopening needs car_admin and a
-- reason and is recorded.  Its own organisations, next to the earlier tests'.
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SELECT car.grant_roles() IS NOT NULL AS roles;
-- errors that name a time of this run (now, or when something was signed) show it as <now>
SET car_test.error_state = off;
SET car_test.error_now = on;
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b));

-- 1. FY2021/22 holding 1,000 kWh of electricity: a meter file of 24
--    half-hours of 25 kWh on 15 June 2021 and 16 of 22 kWh on 10 November 2021
--    (952 kWh), and a bill of 48 kWh for 16 June, which has no readings
--    (estimated, spread evenly: no history for a Wednesday).
SELECT (car.add_source('close-push', NULL, 'push', 'long',
        '{"site": "Close HQ", "meter": "Close HQ electricity", "timezone": "Europe/London", "activity": "electricity", "org": "Close Dept"}')).name;
SELECT rows_loaded FROM car.push('close-push', 'fy2021.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g, 'YYYY-MM-DD HH24:MI') || ',' || q, E'\n' ORDER BY g)
        FROM (SELECT generate_series('2021-06-15 08:00'::timestamp, '2021-06-15 19:30', '30 minutes') g, 25 AS q
              UNION ALL SELECT generate_series('2021-11-10 09:00'::timestamp, '2021-11-10 16:30', '30 minutes'), 22) t), 'UTF8'));
SELECT id AS m FROM car.meter WHERE name = 'Close HQ electricity' \gset
SELECT id AS hq FROM car.site WHERE name = 'Close HQ' \gset
SELECT method, periods_filled, quantity_estimated
FROM car.bill(:m, '2021-06-16 00:00 Europe/London', '2021-06-17 00:00 Europe/London', 48);
-- the close: refreshes first, then signs; 1,000 kWh x 0.21233 = 212.33 kg Scope 2
SELECT id AS c1, org, period, note, lines, reporting_year_start, sha256 ~ '^[0-9a-f]{64}$' AS has_sha256,
       closed_by, reopened_at
FROM car.close_period('Close Dept', '2021-04-01', '2022-03-31', 'FY2021/22, signed by the board') \gset
SELECT :c1 > 0 AS closed, :'org' AS org, :'period' AS period, :lines AS lines, :reporting_year_start AS rys,
       :'has_sha256' AS has_sha256, :'closed_by' AS closed_by;
SELECT round(sum(quantity)::numeric, 6) AS kwh, round(sum(scope2_kg_co2e)::numeric, 6) AS scope2_kg,
       round(1000 * 0.21233, 6) AS by_hand
FROM car.report_monthly WHERE organisation = 'Close Dept';
SELECT count(*) AS snapshot_rows, count(DISTINCT component) AS components, sum(cardinality(file_ids)) AS file_refs
FROM car.closed_emission WHERE close_id = :c1;
SELECT f.name, f.source, f.sha256 = sf.sha256 AS sha256_of_the_file FROM car.closed_file f
JOIN car.source_file sf ON sf.id = f.file_id WHERE f.close_id = :c1;
SELECT year, revision, publisher FROM car.closed_factor_set WHERE close_id = :c1;
SELECT event, by, note FROM car.period_close_event WHERE close_id = :c1;

-- 2. The SHA-256, recomputed in plain SQL from the closed_* tables by the
--    block README gives for it ("Period close"), read from README.md and run
--    as it stands there (what an auditor would run).
SELECT substring(pg_read_file(:'fixtures' || '/README.md'), '<!-- close-sha256 -->\n```sql\n(.*?)```') AS readme_sha256_sql \gset
:readme_sha256_sql
RESET extra_float_digits;

-- 3. A revised 2021 set (UK generation 0.21233 -> 0.21300): the report still
--    says 212.33; the restatement shows +0.67 kg (+0.3155%), not significant,
--    caused by the revision (set id).
SELECT id AS rev, year, revision FROM car.load_factors(convert_to(replace(
    convert_from(pg_read_binary_file(:'fixtures' || '/desnz_flatfile_derived_csv/ghg-conversion-factors-2021.factors-by-category.csv'), 'UTF8'),
    'Electricity: UK,,,kWh,kWh,kg CO2e,Electricity: UK,0.21233', 'Electricity: UK,,,kWh,kWh,kg CO2e,Electricity: UK,0.21300'), 'UTF8'),
    'revised-2021.csv') \gset
SELECT :year AS year, :revision AS revision;
SELECT car.refresh() > 0 AS refreshed;
SELECT round(sum(scope2_kg_co2e)::numeric, 6) AS report_still_says FROM car.report_monthly WHERE organisation = 'Close Dept';
SELECT round(sum(kg_co2e)::numeric, 6) AS live_now, round(1000 * 0.21300, 6) AS by_hand
FROM car.emission_daily WHERE meter_id = :m AND component = 'generation';
SELECT month, component, round(signed_kg_co2e::numeric, 6) AS signed, round(live_kg_co2e::numeric, 6) AS live,
       round(delta_kg_co2e::numeric, 6) AS delta, round(delta_pct::numeric, 4) AS pct, significant, causes,
       factor_set_ids = ARRAY[:rev] AS the_revised_set, file_ids
FROM car.restatement WHERE close_id = :c1 AND component = 'generation' ORDER BY month;
SELECT round(sum(delta_kg_co2e)::numeric, 6) AS delta, round((100 * sum(delta_kg_co2e) / sum(signed_kg_co2e))::numeric, 4) AS pct,
       bool_or(significant) AS significant, round(1000 * (0.21300 - 0.21233), 6) AS by_hand,
       round(100 * (0.21300 - 0.21233) / 0.21233, 4) AS pct_by_hand
FROM car.restatement WHERE close_id = :c1 AND component = 'generation';
-- the other components are unchanged in the revised file: delta 0, but priced by the new set
SELECT component, sum(delta_kg_co2e) AS delta, bool_and(causes = '{factor revision}') AS revision_named
FROM car.restatement WHERE close_id = :c1 AND component <> 'generation' GROUP BY 1 ORDER BY 1;
-- the revision taken back: the delta is 0 and nothing is named
DELETE FROM car.factor_set WHERE id = :rev;
SELECT car.refresh() > 0 AS refreshed;
SELECT count(*) AS lines, sum(abs(delta_kg_co2e)) AS total_abs_delta, bool_or(significant) AS significant,
       max(cardinality(causes)) AS causes
FROM car.restatement WHERE close_id = :c1;

-- 4. Late and replaced files, and an estimate replaced by an actual reading:
--    the reports keep the signed figures, the restatement names the cause.
--    16 June's actual readings arrive (1.5 kWh a half-hour: 72 kWh for the 48
--    estimated); November's file again, at 26 kWh a half-hour (416 for 352); a
--    reading for 1 July 2021, a day nothing was signed for (10 kWh).
SELECT rows_loaded, rows_superseded FROM car.push('close-push', 'june16.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g, 'YYYY-MM-DD HH24:MI') || ',1.5', E'\n' ORDER BY g)
        FROM generate_series('2021-06-16 00:00'::timestamp, '2021-06-16 23:30', '30 minutes') g), 'UTF8'));
SELECT id AS june16 FROM car.source_file WHERE name = 'june16.csv' \gset
SELECT rows_loaded, rows_superseded FROM car.push('close-push', 'nov-again.csv', convert_to('ts,kWh' || E'\n' ||
       (SELECT string_agg(to_char(g, 'YYYY-MM-DD HH24:MI') || ',26', E'\n' ORDER BY g)
        FROM generate_series('2021-11-10 09:00'::timestamp, '2021-11-10 16:30', '30 minutes') g), 'UTF8'));
SELECT id AS nov FROM car.source_file WHERE name = 'nov-again.csv' \gset
SELECT rows_loaded FROM car.push('close-push', 'july.csv', convert_to(E'ts,kWh\n2021-07-01 12:00,10\n', 'UTF8'));
SELECT id AS july FROM car.source_file WHERE name = 'july.csv' \gset
SELECT car.refresh() > 0 AS refreshed;
SELECT month, round(signed_kg_co2e::numeric, 6) AS signed, round(live_kg_co2e::numeric, 6) AS live,
       round(delta_kg_co2e::numeric, 6) AS delta, round(delta_pct::numeric, 4) AS pct, significant, causes,
       file_ids = ARRAY[:june16] AS june16_file, file_ids = ARRAY[:nov] AS november_file, file_ids = ARRAY[:july] AS july_file
FROM car.restatement WHERE close_id = :c1 AND component = 'generation' ORDER BY month;
-- by hand, at 0.21233 kg/kWh: June signed (600 + 48) kWh, + 24 kWh (+3.7%, under
-- 5%); July signed nothing, + 10 kWh (no percentage: significant); November
-- signed 352 kWh, + 64 kWh (+18.2%)
SELECT round(648 * 0.21233, 6) AS june_signed, round(24 * 0.21233, 6) AS june_delta, round(100 * 24 / 648.0, 4) AS june_pct,
       round(10 * 0.21233, 6) AS july_delta,
       round(352 * 0.21233, 6) AS november_signed, round(64 * 0.21233, 6) AS november_delta, round(100 * 64 / 352.0, 4) AS november_pct;
-- the reports did not move: still 212.33 (and no July line)
SELECT round(sum(scope2_kg_co2e)::numeric, 6) AS report_still_says, round(sum(quantity)::numeric, 6) AS kwh,
       round(100 * 48 / 1000.0, 4) AS pct_estimated_by_hand,
       round((sum(kg_co2e * pct_estimated) / sum(kg_co2e))::numeric, 4) AS pct_estimated
FROM car.report_monthly WHERE organisation = 'Close Dept';
SELECT month, round(scope2_kg_co2e::numeric, 6) AS scope2 FROM car.report_monthly WHERE organisation = 'Close Dept' ORDER BY 1;
SELECT year, round(scope2_kg_co2e::numeric, 6) AS scope2 FROM car.report_yearly WHERE organisation = 'Close Dept' ORDER BY 1;
SELECT month, round(sum(kg_co2e)::numeric, 6) AS kg FROM car.report_scope
WHERE organisation = 'Close Dept' AND component = 'generation' GROUP BY 1 ORDER BY 1;
-- a stricter threshold (superuser only) makes June significant too
SET car.significance_threshold = 0.03;
SELECT month, significant FROM car.restatement WHERE close_id = :c1 AND component = 'generation' ORDER BY month;
RESET car.significance_threshold;

-- 5. Refusals: the same period again, an overlapping one, a period that is
--    not whole months, no such organisation; reopening without car_admin or
--    without a reason, or twice.
SELECT pg_temp.error_of($$SELECT car.close_period('Close Dept', '2021-04-01', '2022-03-31', 'again')$$);
SELECT pg_temp.error_of($$SELECT car.close_period('Close Dept', '2022-01-01', '2022-06-30', 'overlapping')$$);
SELECT car.close_period('Close Dept', '2022-04-02', '2022-06-30', NULL);
SELECT car.close_period('Close Dept', '2022-04-01', '2022-06-29', NULL);
SELECT car.close_period('Close Dept', '2022-07-01', '2022-06-30', NULL);
SELECT car.close_period('Nobody', '2022-04-01', '2022-06-30', NULL);
SELECT car.close_period('Close Dept', '0001-12-01 BC', '0001-12-31 BC', NULL);
CREATE ROLE car_test_signer IN ROLE car_ingest;
SET ROLE car_test_signer;
SELECT car.close_period('Close Dept', '2022-04-01', '2022-06-30', NULL);
SELECT car.reopen_period(:c1, 'I want to');
UPDATE car.closed_emission SET kg_co2e = 0 WHERE close_id = :c1;
DELETE FROM car.period_close WHERE id = :c1;
RESET ROLE;
-- not even car's owner (or a superuser) deletes a close with signed figures:
-- its record and other rows refer to it by foreign keys, and its emission
-- rows (which have none, for speed) by the trigger that stands for one
SELECT pg_temp.error_of($$DELETE FROM car.period_close WHERE id = $$ || :c1);
BEGIN;
DELETE FROM car.period_close_event WHERE close_id = :c1;
DELETE FROM car.closed_coverage WHERE close_id = :c1;
DELETE FROM car.closed_factor_set WHERE close_id = :c1;
DELETE FROM car.closed_file WHERE close_id = :c1;
SELECT pg_temp.error_of($$DELETE FROM car.period_close WHERE id = $$ || :c1);
ROLLBACK;
-- nor empties them with TRUNCATE, which fires no row trigger (the delete
-- guard above never sees it): TRUNCATE car.period_close CASCADE used to
-- empty the closes and the tables with a key to them and leave the signed
-- emission rows behind, and a TRUNCATE of a closed_* table left closes in
-- force without their figures.  Refused on all six tables while any close
-- exists (car.period_close alone its foreign keys already refuse); the
-- superuser runs this: only the owner may TRUNCATE them.
SELECT count(*) AS closes, (SELECT count(*) FROM car.closed_emission) AS signed_rows FROM car.period_close \gset before_
SELECT pg_temp.error_of('TRUNCATE car.period_close CASCADE');
SELECT t AS truncate, split_part(pg_temp.error_of('TRUNCATE ' || t), E'\n', 1) AS refused
FROM unnest(ARRAY['car.period_close', 'car.closed_emission', 'car.closed_coverage', 'car.closed_factor_set',
                  'car.closed_file', 'car.period_close_event', 'car.closed_emission, car.closed_file',
                  'car.closed_emission CASCADE', 'car.period_close, car.closed_emission CASCADE']) t;
SELECT count(*) = :before_closes AS closes_kept, (SELECT count(*) FROM car.closed_emission) = :before_signed_rows AS signed_rows_kept
FROM car.period_close;
-- with no close (all deleted, the figures first), a TRUNCATE runs
BEGIN;
DELETE FROM car.closed_emission;
DELETE FROM car.closed_coverage;
DELETE FROM car.closed_factor_set;
DELETE FROM car.closed_file;
DELETE FROM car.period_close_event;
DELETE FROM car.period_close;
SELECT pg_temp.error_of('TRUNCATE car.period_close CASCADE') AS no_close_period_close,
       pg_temp.error_of('TRUNCATE car.closed_emission') AS no_close_closed_emission;
ROLLBACK;
CREATE ROLE car_test_closer IN ROLE car_admin;
SET ROLE car_test_closer;
UPDATE car.closed_emission SET kg_co2e = 0 WHERE close_id = :c1;
UPDATE car.period_close SET reopened_at = now() WHERE id = :c1;
SELECT car.reopen_period(:c1, '   ');
-- the next quarter, signed by a car_admin
SELECT org, period, lines FROM car.close_period('Close Dept', '2022-04-01', '2022-06-30', 'Q1 2022/23 (no data)');
-- reopening, with a reason: recorded; the months read live figures again
SELECT reopened_by, reopen_reason, reopened_at IS NOT NULL AS reopened
FROM car.reopen_period(:c1, 'late June and November files: restate FY2021/22');
SELECT pg_temp.error_of($$SELECT car.reopen_period($$ || :c1 || $$, 'again')$$);
RESET ROLE;
SELECT event, by, note FROM car.period_close_event WHERE close_id = :c1 ORDER BY id;
SELECT round(sum(scope2_kg_co2e)::numeric, 6) AS live_again, round((600 + 72 + 416 + 10) * 0.21233, 6) AS by_hand
FROM car.report_monthly WHERE organisation = 'Close Dept';
SELECT count(*) AS restatement_lines_of_reopened FROM car.restatement WHERE close_id = :c1;
-- signed again, with the new figures
SELECT id AS c2 FROM car.close_period('Close Dept', '2021-04-01', '2022-03-31', 'FY2021/22 restated') \gset
SELECT round(kg_co2e::numeric, 6) AS signed_total FROM car.period_close WHERE id = :c2;
SELECT round(sum(kg_co2e)::numeric, 6) AS report_total FROM car.report_monthly WHERE organisation = 'Close Dept';

-- 6. Who sees what: an organisation's closes and signed figures are its own
--    (claims set for one transaction at a time).
INSERT INTO car.site (name, org) VALUES ('Other HQ', 'Other Dept');
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('close-test', 'HS256', 'close-test-secret-of-32-bytes-at-least');
CREATE ROLE car_test_close_reader IN ROLE car_reader;
SET ROLE car_test_close_reader;
SELECT count(*) AS closes_without_claims FROM car.period_close;
SELECT count(*) AS closed_rows_without_claims FROM car.closed_emission;
RESET ROLE;
BEGIN;
SELECT car.authenticate(car.sign_jwt('{"org": "Other Dept", "exp": 4102444800}', 'close-test'), true) IS NOT NULL AS other;
SET LOCAL ROLE car_test_close_reader;
SELECT count(*) AS closes_of_close_dept_seen_by_other FROM car.period_close WHERE org = 'Close Dept';
SELECT count(*) AS lines_of_close_dept_seen_by_other FROM car.restatement;
SELECT count(*) AS months_seen_by_other FROM car.closed_months();
SELECT count(*) AS report_lines_seen_by_other FROM car.report_monthly WHERE organisation = 'Close Dept';
COMMIT;
BEGIN;
SELECT car.authenticate(car.sign_jwt('{"org": "Close Dept", "exp": 4102444800}', 'close-test'), true) IS NOT NULL AS close_dept;
SET LOCAL ROLE car_test_close_reader;
SELECT count(*) AS closes_seen, count(*) FILTER (WHERE reopened_at IS NULL) AS in_force FROM car.period_close;
SELECT round(sum(kg_co2e)::numeric, 6) AS report_total_seen FROM car.report_monthly WHERE organisation = 'Close Dept';
SELECT count(*) > 0 AS restatement_lines_seen FROM car.restatement;
COMMIT;
-- a token narrowed to a site sees the site's signed rows, not the organisation's closes
BEGIN;
SELECT car.authenticate(car.sign_jwt(format('{"org": "Close Dept", "sites": [%s], "exp": 4102444800}', :hq)::jsonb, 'close-test'), true) IS NOT NULL AS narrowed;
SET LOCAL ROLE car_test_close_reader;
SELECT count(*) AS closes_seen_narrowed FROM car.period_close;
SELECT count(*) > 0 AS signed_rows_of_the_site FROM car.closed_emission;
SELECT round(sum(kg_co2e)::numeric, 6) AS report_total_narrowed FROM car.report_monthly WHERE organisation = 'Close Dept';
COMMIT;
DELETE FROM car.jwt_key WHERE kid = 'close-test';
DROP ROLE car_test_close_reader;
DROP ROLE car_test_signer;
DROP ROLE car_test_closer;
RESET client_min_messages;

