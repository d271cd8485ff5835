-- The demo database, made by `make demo` (scripts/demo.sh) and by the Docker
-- image on its first start (docker/init.sh): pg_cron and car, the official
-- DESNZ/BEIS factors bundled with car, a real building's meter files pushed
-- through car.push, car.emission_daily computed, the roles car_reader,
-- car_ingest and car_admin, and the pg_cron jobs that keep it all fresh.
--
-- Run as a superuser in pg_cron's database (cron.database_name), with the
-- psql variable sample naming the folder of data/sample (the server reads it):
--     psql -v sample=/path/to/car/data/sample -f scripts/demo.sql car_demo
-- Safe to run again: the same files load nothing twice, refresh only does what
-- changed, the roles are granted again and the pg_cron jobs are replaced.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS car CASCADE;

\echo == loading the official DESNZ/BEIS factors bundled with car
SELECT year, revision, publisher, row_count AS factors, source_uri
FROM generate_series(2021, 2024) AS y, car.load_factors(y) ORDER BY year;

\echo == pushing the meter files of a real building: Cambridge University Estates b0, 2021 (hourly)
SELECT (car.add_source(name, NULL, 'push', 'long', options)).name AS "source added"
FROM (VALUES ('ucam-b0-electricity', '{"site": "UCam b0", "meter": "b0 electricity", "timezone": "UTC", "activity": "electricity", "org": "University of Cambridge"}'::jsonb),
             ('ucam-b0-gas', '{"site": "UCam b0", "meter": "b0 gas", "timezone": "UTC", "activity": "natural_gas", "org": "University of Cambridge"}'::jsonb)) v(name, options)
WHERE NOT EXISTS (SELECT 1 FROM car.source s WHERE s.name = v.name);
SELECT f.name AS file, f.status, f.rows_loaded, f.rows_rejected
FROM (VALUES ('ucam-b0-electricity', 'UCam_Building_b0_electricity_2021.csv'),
             ('ucam-b0-gas', 'UCam_Building_b0_gas_2021.csv')) v(source, file),
     LATERAL car.push(v.source, v.file, pg_read_binary_file(:'sample' || '/' || v.file)) f;

\echo == computing car.emission_daily: car.refresh()
SELECT car.refresh() AS "meter-days computed";

\echo == roles for logins: car.grant_roles()
SELECT car.grant_roles() AS "roles granted to";

\echo == pg_cron jobs that keep the database fresh: car.schedule()
SELECT job, schedule, database FROM car.schedule();
