-- Period close (issue 14, point 4), what a signature covers: the canonical
-- text whose SHA-256 a close keeps tells every two snapshots apart, and a
-- close signs under the reporting-year rule the database is configured with,
-- never one a session chose.  Runs after the tests that sign periods (close,
-- ggc, disclosure, estate), whose closes it recomputes, and adds its own
-- site, meter and closes after them.
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SET car_test.error_state = off;
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql

-- 1. Two snapshots the old canonical text ("car period close 1": fields
--    joined by "|" as they were, NULL as nothing) could not tell apart, and
--    the new one does.  A site whose name holds "|" and "\", a meter with no
--    readings, and two emission rows of 10 May 2023 written by hand (as a
--    superuser: car's refresh never writes a unit it does not know, but a
--    unit is any text a car_admin gives car.unit or car.meter): generation,
--    scope 2, 2.1233 kg, and T&D, no scope, 0.00001 kg.  Snapshot A signs both;
--    snapshot B signs one generation row whose unit is A's generation line
--    from its unit on, a newline, and A's T&D line up to its unit, with T&D's
--    figures: B's old text is A's, though B has one row and 0.00001 kg where
--    A has two and 2.12331 kg.  (The refreshes of these closes set aside days
--    of earlier tests' meters that no factor set prices: their warnings are
--    not shown.)
SET client_min_messages = error;
CREATE FUNCTION pg_temp.old_text(close_id int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(line || E'\n', '' ORDER BY part, k1, k2, k3 COLLATE "C") FROM (
        SELECT 0 AS part, 0::bigint AS k1, NULL::date AS k2, '' AS k3, 'car period close 1' AS line
        UNION ALL SELECT 0, 1, NULL, '', 'org|' || org FROM car.period_close WHERE id = $1
        UNION ALL SELECT 0, 2, NULL, '', 'period|' || to_char(lower(period), 'YYYY-MM-DD') || '|' || to_char(upper(period) - 1, 'YYYY-MM-DD')
                  FROM car.period_close WHERE id = $1
        UNION ALL
        SELECT 1, meter_id, day, component,
               concat_ws('|', 'emission', site_id, meter_id, to_char(day, 'YYYY-MM-DD'), activity, coalesce(scope::text, ''),
                         component, unit, quantity::text, quantity_estimated::text, periods_actual, periods_estimated,
                         coalesce(kg_co2e::text, ''), coalesce(kg_co2::text, ''), coalesce(kg_ch4::text, ''),
                         coalesce(kg_n2o::text, ''), coalesce(fy_kg_co2e::text, ''), coalesce(factor_set_id::text, ''),
                         coalesce(factor_year::text, ''), coalesce(factor_id::text, ''), coalesce(fy_factor_set_id::text, ''),
                         coalesce(fy_factor_year::text, ''), array_to_string(file_ids, ','))
        FROM car.closed_emission WHERE close_id = $1
        UNION ALL
        SELECT 2, meter_id, month, '', concat_ws('|', 'coverage', site_id, meter_id, to_char(month, 'YYYY-MM-DD'), activity, unit,
                                                 periods_expected)
        FROM car.closed_coverage WHERE close_id = $1
        UNION ALL SELECT 3, set_id, NULL, '', concat_ws('|', 'factor_set', set_id, year, revision, sha256)
                  FROM car.closed_factor_set WHERE close_id = $1
        UNION ALL SELECT 4, file_id, NULL, '', concat_ws('|', 'file', file_id, sha256) FROM car.closed_file WHERE close_id = $1) l
$$;
INSERT INTO car.site (name, org) VALUES ('Pipe | HQ \ East', 'Pipe Dept') RETURNING id AS pipe_site \gset
INSERT INTO car.meter (site_id, name, activity, unit) VALUES (:pipe_site, 'Pipe meter', 'electricity', 'kWh') RETURNING id AS pipe_meter \gset
SELECT car.fy_factor_set(2023) AS fy_set, car.fy_factor_year(2023) AS fy_year \gset
SELECT :fy_set IS NOT NULL AS a_2023_set, :fy_year AS fy_year;
INSERT INTO car.emission_daily (site_id, meter_id, day, month, activity, scope, component, quantity, unit, kg_co2e,
                                factor_set_id, factor_year, quantity_estimated, periods_actual, periods_estimated)
VALUES (:pipe_site, :pipe_meter, '2023-05-10', '2023-05-01', 'electricity', 2, 'generation', 10, 'kWh', 2.1233, :fy_set, :fy_year, 0, 48, 0),
       (:pipe_site, :pipe_meter, '2023-05-10', '2023-05-01', 'electricity', NULL, 'td', 10, 'kWh', 0.00001, :fy_set, :fy_year, 0, 48, 0);
SELECT id AS pipe_a, lines FROM car.close_period('Pipe Dept', '2023-05-01', '2023-05-31', 'A') \gset
SELECT :lines AS a_lines;
-- A's canonical text, written out by hand: the site's name escaped ("\|",
-- "\\"), NULL as \N (T&D's scope, kg_co2, kg_ch4, kg_n2o, factor_id), no file
-- (an empty last field), 0.00001 kg as PostgreSQL writes it (1e-05); kg under
-- the financial year's set is the row's own (it was priced by that set); the
-- set's line from car.factor_set; no coverage (the meter has no readings).
SELECT encode(sha256(convert_to(format(
           E'car period close 3\norg|Pipe Dept\nperiod|2023-05-01|2023-05-31\nreporting_year_start|1\n'
           || E'emission|Pipe Dept|%1$s|Pipe \\| HQ \\\\ East|%2$s|2023-05-10|2023-05-01|electricity|2|generation|kWh|10|0|48|0|2.1233|\\N|\\N|\\N|2.1233|%3$s|%4$s|\\N|%3$s|%4$s||\\N|\\N|\\N|\\N\n'
           || E'emission|Pipe Dept|%1$s|Pipe \\| HQ \\\\ East|%2$s|2023-05-10|2023-05-01|electricity|\\N|td|kWh|10|0|48|0|1e-05|\\N|\\N|\\N|1e-05|%3$s|%4$s|\\N|%3$s|%4$s||\\N|\\N|\\N|\\N\n'
           || E'factor_set|Pipe Dept|%3$s|%5$s|%6$s|%7$s|%8$s|%9$s\n',
           :pipe_site, :pipe_meter, f.id, f.year, f.publisher, f.year, f.revision, f.title, f.sha256), 'UTF8')), 'hex')
       = (SELECT sha256 FROM car.period_close WHERE id = :pipe_a) AS a_sha256_by_hand
FROM car.factor_set f WHERE f.id = :fy_set;
-- B: the forged unit, from A's old lines
WITH l AS (
    SELECT e.component, e.unit,
           (SELECT string_agg(x, E'\n') FROM regexp_split_to_table(pg_temp.old_text(:pipe_a), E'\n') x
            WHERE x LIKE 'emission|%|' || e.component || '|%') AS line,
           concat_ws('|', 'emission', e.site_id, e.meter_id, to_char(e.day, 'YYYY-MM-DD'), e.activity,
                     coalesce(e.scope::text, ''), e.component, '') AS prefix
    FROM car.closed_emission e WHERE e.close_id = :pipe_a)
SELECT g.unit || substr(g.line, length(g.prefix) + length(g.unit) + 1) || E'\n' || t.prefix || t.unit AS forged_unit
FROM l g, l t WHERE g.component = 'generation' AND t.component = 'td' \gset
SELECT (car.reopen_period(:pipe_a, 'sign B instead')).reopened_at IS NOT NULL AS a_reopened;
INSERT INTO car.emission_daily (site_id, meter_id, day, month, activity, scope, component, quantity, unit, kg_co2e,
                                factor_set_id, factor_year, quantity_estimated, periods_actual, periods_estimated)
SELECT g.site_id, g.meter_id, g.day, g.month, g.activity, g.scope, 'generation_b', t.quantity, :'forged_unit', t.kg_co2e,
       t.factor_set_id, t.factor_year, t.quantity_estimated, t.periods_actual, t.periods_estimated
FROM car.emission_daily g, car.emission_daily t
WHERE g.meter_id = :pipe_meter AND g.component = 'generation' AND t.meter_id = :pipe_meter AND t.component = 'td';
DELETE FROM car.emission_daily WHERE meter_id = :pipe_meter AND component IN ('generation', 'td');
UPDATE car.emission_daily SET component = 'generation' WHERE meter_id = :pipe_meter;
SELECT id AS pipe_b, lines FROM car.close_period('Pipe Dept', '2023-05-01', '2023-05-31', 'B') \gset
SELECT :lines AS b_lines,
       (SELECT sum(kg_co2e) FROM car.closed_emission WHERE close_id = :pipe_a) AS a_kg,
       (SELECT sum(kg_co2e) FROM car.closed_emission WHERE close_id = :pipe_b) AS b_kg,
       pg_temp.old_text(:pipe_a) = pg_temp.old_text(:pipe_b) AS old_texts_alike,
       sha256(convert_to(pg_temp.old_text(:pipe_a), 'UTF8')) = sha256(convert_to(pg_temp.old_text(:pipe_b), 'UTF8')) AS old_sha256_alike,
       (SELECT sha256 FROM car.period_close WHERE id = :pipe_a) <> (SELECT sha256 FROM car.period_close WHERE id = :pipe_b) AS new_sha256_differ;
-- B's one line as the new text writes it: the unit's "|" and newline escaped
SELECT position(E'\n' IN unit) > 0 AS unit_has_a_newline, length(unit) - length(replace(unit, '|', '')) AS bars_in_unit
FROM car.closed_emission WHERE close_id = :pipe_b;

-- 2. A close signs under car.reporting_year_start as the database is
--    configured (here the default, 1), never a value one session chose: a
--    SET, a SET LOCAL, a function's SET clause, the role's own setting, the
--    connection's options; the database's own setting is signed under and
--    recorded.
SET car.reporting_year_start = 4;
SELECT pg_temp.error_of($$SELECT car.close_period('Pipe Dept', '2023-06-01', '2023-06-30', 'April years')$$);
RESET car.reporting_year_start;
BEGIN;
SET LOCAL car.reporting_year_start = 7;
SELECT pg_temp.error_of($$SELECT car.close_period('Pipe Dept', '2023-06-01', '2023-06-30', 'July years')$$);
ROLLBACK;
CREATE FUNCTION pg_temp.close_in_april_years() RETURNS text LANGUAGE sql SET car.reporting_year_start = 4
    RETURN (SELECT period::text FROM car.close_period('Pipe Dept', '2023-06-01', '2023-06-30', 'April years'));
SELECT pg_temp.error_of($$SELECT pg_temp.close_in_april_years()$$);
-- the configured value set again in the session is the configured value: signed
SET car.reporting_year_start = 1;
SELECT period, reporting_year_start, lines FROM car.close_period('Pipe Dept', '2023-06-01', '2023-06-30', 'calendar years');
RESET car.reporting_year_start;
SELECT count(*) AS closes_of_june FROM car.period_close WHERE org = 'Pipe Dept' AND period @> '2023-06-15'::date;
-- a role's own setting (a role may ALTER ROLE itself SET), even of the configured value
ALTER ROLE CURRENT_USER SET car.reporting_year_start = 1;
\c
SET client_min_messages = error;
SET DateStyle = ISO;
SELECT car.close_period('Pipe Dept', '2023-07-01', '2023-07-31', 'role setting');
ALTER ROLE CURRENT_USER RESET car.reporting_year_start;
-- the connection's options (a client's choice at connect)
\c "dbname=contrib_regression options='-c car.reporting_year_start=1'"
SET client_min_messages = error;
SET DateStyle = ISO;
SELECT car.close_period('Pipe Dept', '2023-07-01', '2023-07-31', 'connection option');
\c "dbname=contrib_regression options=''"
-- the database's configuration: signed under it (a full refresh under the new
-- rule first), and recorded; rolled back, as is the refresh
SELECT format('ALTER DATABASE %I SET car.reporting_year_start = 4', current_database()) \gexec
\c
SET client_min_messages = error;
SET DateStyle = ISO;
SHOW car.reporting_year_start;
BEGIN;
SELECT period, reporting_year_start, lines FROM car.close_period('Pipe Dept', '2023-07-01', '2023-07-31', 'April years, configured');
SELECT reporting_year_start AS refreshed_under FROM car.refresh_state;
ROLLBACK;
SELECT format('ALTER DATABASE %I RESET car.reporting_year_start', current_database()) \gexec
\c
SET client_min_messages = error;
SET DateStyle = ISO;
SHOW car.reporting_year_start;
SELECT reporting_year_start AS refreshed_under FROM car.refresh_state;

-- 3. Every close's SHA-256 (those of the earlier tests too: files,
--    estimates, transfers), recomputed by README's block.
SELECT substring(pg_read_file(:'fixtures' || '/README.md'), '<!-- close-sha256 -->\n```sql\n(.*?)```') AS readme_sha256_sql \gset
:readme_sha256_sql
RESET extra_float_digits;
RESET client_min_messages;
