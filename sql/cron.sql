-- car.schedule() / car.unschedule() with pg_cron, which really runs car-refresh.
-- pg_cron lives in contrib_regression (cron.database_name); a second
-- database with car schedules through cron.schedule_in_database.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

-- a change for the job to pick up (made before the job exists): one more day for b0 electricity
SELECT m.id AS b0 FROM car.meter m WHERE m.name = 'b0 electricity' \gset
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT :b0, g, 1 FROM generate_series('2024-04-02 00:00 Europe/London'::timestamptz,
                                      '2024-04-02 23:30 Europe/London', '30 minutes') g;
SELECT count(*) AS queued FROM car.refresh_queue WHERE meter_id = :b0 AND day = '2024-04-02';

-- maintenance once a year, so that it cannot run in the middle of the tests
SELECT job, schedule, database = current_database() AS here FROM car.schedule('* * * * *', '0 0 1 1 *') ORDER BY job;
SELECT jobname, schedule, command, database = current_database() AS here, active FROM cron.job ORDER BY jobname;
-- again: the same two jobs, updated in place
SELECT count(*) AS jobs FROM car.schedule('* * * * *', '0 0 1 1 *');
SELECT count(*) AS jobs_in_cron FROM cron.job;

-- wait for pg_cron's minute to come (at most 150 s)
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'car-refresh' AND d.status IN ('succeeded', 'failed'));
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
SELECT d.status, d.return_message, d.command FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'car-refresh' ORDER BY d.start_time LIMIT 1;
-- what it did: the new day is in the end-user table, and off the queue
SELECT quantity, factor_year FROM car.emission_daily WHERE meter_id = :b0 AND day = '2024-04-02' AND component = 'generation';
SELECT count(*) AS still_queued FROM car.refresh_queue WHERE meter_id = :b0 AND day = '2024-04-02';
SELECT last_refresh_at > now() - interval '5 minutes' AS refreshed_lately FROM car.refresh_state;

-- the maintenance job's purge of run history, as the job runs it: as the
-- worker role, which has no right on schema cron (pg_cron's jobs of its own
-- would come with one); car.maintenance() purges as car's owner
SELECT current_setting('car.worker_role') AS worker \gset
SET car.job_history_keep = '0 seconds';
SET ROLE :"worker";
SELECT has_schema_privilege('cron', 'USAGE') AS worker_may_use_cron;
SELECT (car.maintenance()->>'job_runs_purged')::int > 0 AS purged;
RESET ROLE;
RESET car.job_history_keep;
SELECT count(*) AS car_refresh_runs_left FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'car-refresh' AND d.end_time IS NOT NULL;

-- car in a database without pg_cron: jobs go to pg_cron's database through
-- cron.schedule_in_database.  pg_cron names jobs per role, so this role must
-- first give up contrib_regression's.
CREATE DATABASE car_other;
\c car_other
SET client_min_messages = warning;
CREATE EXTENSION car;
RESET client_min_messages;
SELECT car.schedule('* * * * *', '0 0 1 1 *');
\c contrib_regression
SELECT car.unschedule() AS removed;
\c car_other
SELECT job, schedule, database FROM car.schedule('* * * * *', '0 0 1 1 *') ORDER BY job;
\c contrib_regression
-- car's two jobs run as the worker role; the purge of their history, which
-- reads and deletes in schema cron, as the superuser who scheduled
SELECT jobname, database, username = current_setting('car.worker_role') AS as_worker_role,
       username = current_user AS as_scheduler, command
FROM cron.job ORDER BY jobname;
-- the purge every minute too, to see it run
SELECT count(cron.alter_job(jobid, schedule := '* * * * *')) AS purge_every_minute FROM cron.job WHERE jobname = 'car-purge-history';
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'car-refresh' AND j.database = 'car_other'
                          AND d.status IN ('succeeded', 'failed'));
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
SELECT d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'car-refresh' AND j.database = 'car_other' ORDER BY d.start_time LIMIT 1;
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'car-purge-history' AND d.status IN ('succeeded', 'failed'));
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
SELECT d.status, d.return_message LIKE 'DELETE %' AS deleted FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'car-purge-history' ORDER BY d.start_time LIMIT 1;
\c car_other
SELECT last_refresh_at IS NOT NULL AS refreshed_by_cron FROM car.refresh_state;
SELECT car.unschedule() AS removed;
\c contrib_regression
SELECT count(*) AS jobs_left FROM cron.job;
DROP DATABASE car_other;
