-- The background worker against a real HTTP server on 127.0.0.1 (test/http_server.py)
\getenv port CAR_HTTP_PORT
\getenv httpdir CAR_HTTP_DIR
\getenv serverlog CAR_TEST_LOG
SET client_min_messages = warning;
-- files over 2 MB are refused (the test files are about 45 kB, the oversized ones 9 MB)
ALTER SYSTEM SET car.max_download_bytes = '2MB';
SELECT pg_reload_conf();
CREATE SCHEMA car_test;
-- wait (at most timeout_s) until a query says true
\set wait_schema car_test
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/wait_for.sql
-- the generator's totals for a month's file, as the server wrote them
CREATE FUNCTION car_test.totals(month date, OUT readings bigint, OUT kwh numeric) LANGUAGE sql AS $$
    SELECT sum(f[3]::int), sum(f[4]::numeric)
    FROM regexp_split_to_table(pg_read_file(current_setting('car_test.httpdir') || '/ministryofjustice_'
             || lower(to_char(month, 'mon')) || '-' || to_char(month, 'YYYY') || '.totals.csv'), E'\n') WITH ORDINALITY l(line, n),
         LATERAL string_to_array(l.line, ',') f
    WHERE n > 1 AND l.line <> '' AND f[1] NOT LIKE '(%' $$;
SELECT set_config('car_test.httpdir', :'httpdir', false) IS NOT NULL AS set;
SELECT set_config('car_test.port', :'port', false) IS NOT NULL AS set;
CREATE FUNCTION car_test.loaded(month date, org text) RETURNS TABLE (readings bigint, kwh numeric) LANGUAGE sql AS $$
    SELECT count(*), round(sum(r.quantity)::numeric, 3)
    FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    WHERE s.org = $2 AND (r.ts AT TIME ZONE 'Europe/London') >= $1
      AND (r.ts AT TIME ZONE 'Europe/London') < $1 + interval '1 month' $$;

-- the worker acts as car.worker_role, which car.grant_roles() makes (this file
-- does not count on an earlier one having made it)
SELECT car.grant_roles() IS NOT NULL AS roles;
-- the launcher is running, in this database
SELECT car_test.wait_for($$SELECT count(*) = 1 FROM car.worker_status WHERE role = 'launcher'$$) AS launcher;
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?reset=1&publish=2024-01" >/dev/null

-- An index page (eCMS "Viewfiles.asp"): its links matching the pattern are datasets
SELECT name, kind, format FROM car.add_source('moj', 'http://127.0.0.1:' || :'port' || '/eCMS/Viewfiles.asp?folder=MOJ', 'index', 'ecodriver',
    '{"pattern": "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", "org": "MoJ web"}', '1 second');
SELECT car_test.wait_for($$SELECT files_loaded = 1 FROM car.source_status WHERE name = 'moj'$$) AS first_file;
-- (not the dataset's state: the next poll, a second later, queues it again)
SELECT d.uri LIKE '%/eCMS/Files/MOJ/ministryofjustice_jan-2024.csv' AS resolved_link, d.last_error IS NULL AS no_error, f.status, f.rows_rejected
FROM car.dataset d JOIN car.source_file f ON f.id = d.file_id;
SELECT (l.readings, l.kwh) = (t.readings, t.kwh) AS totals_equal FROM car_test.loaded('2024-01-01', 'MoJ web') l, car_test.totals('2024-01-01') t;

-- A new file appearing on the index is ingested within a poll interval or two
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?publish=2024-02" >/dev/null
SELECT car_test.wait_for($$SELECT files_loaded = 2 FROM car.source_status WHERE name = 'moj'$$, 60) AS discovered;
SELECT (l.readings, l.kwh) = (t.readings, t.kwh) AS totals_equal FROM car_test.loaded('2024-02-01', 'MoJ web') l, car_test.totals('2024-02-01') t;

-- Unchanged files: the next polls get 304 Not Modified and load nothing again
SELECT car_test.wait_for($$SELECT bool_and(last_status = 304) FROM car.dataset$$, 60) AS not_modified;
SELECT files_loaded, consecutive_failures, last_error FROM car.source_status WHERE name = 'moj';
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_stats"; echo

-- The server fails (500): the backoff grows, the status says why; when it is
-- back, everything is ingested once.  Every failed attempt is logged by a
-- trigger in the worker's own transaction (attempts after it, that
-- transaction's now(), next_attempt_at), so the checks below do not depend on
-- when they run or on how fast the machine is.
CREATE TABLE car_test.failure (dataset_id bigint, uri text, attempts int, at timestamptz, next_attempt_at timestamptz, state text);
CREATE FUNCTION car_test.log_failure() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO car_test.failure VALUES (NEW.id, NEW.uri, NEW.attempts, now(), NEW.next_attempt_at, NEW.state);
    RETURN NULL;
END $$;
CREATE TRIGGER car_test_failure AFTER UPDATE ON car.dataset FOR EACH ROW WHEN (NEW.attempts > OLD.attempts)
    EXECUTE FUNCTION car_test.log_failure();
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=500&publish=2024-03" >/dev/null
-- March's file has failed three times (after the first, the worker waits 1 s, then 2 s)
SELECT car_test.wait_for($$SELECT count(*) >= 3 FROM car_test.failure WHERE uri LIKE '%mar-2024%'$$, 60) AS failing;
-- car.retry_delay is 1 s (test/pg.conf): the n-th failure in a row puts the next
-- attempt 1 s * 2^(n-1) after it (1 s, 2 s, 4 s, ...), and the dataset stays queued
SELECT count(*) FILTER (WHERE uri LIKE '%mar-2024%') >= 3 AS failed_thrice,
       bool_and(next_attempt_at - at = make_interval(secs => 2 ^ (attempts - 1))) AS backing_off,
       bool_and(state = 'queued') AS queued
FROM car_test.failure;
-- no attempt came before its time
SELECT count(*) >= 2 AS retries, bool_and(f.at >= p.next_attempt_at) AS waited
FROM car_test.failure f JOIN car_test.failure p ON p.dataset_id = f.dataset_id AND p.attempts = f.attempts - 1;
-- the status says why, counts every failure and shows the next retry (all read in one snapshot)
SELECT s.last_error LIKE '%HTTP status 500%' AS says_500,
       s.consecutive_failures = (SELECT count(*) FROM car_test.failure) AS every_failure_counted,
       s.next_retry_at IS NOT DISTINCT FROM
           (SELECT min(f.next_attempt_at) FROM car.dataset d JOIN car_test.failure f ON f.dataset_id = d.id AND f.attempts = d.attempts
            WHERE d.state = 'queued' AND d.attempts > 0) AS next_retry_shown
FROM car.source_status s WHERE s.name = 'moj';
-- the delay is capped at an hour: with car.retry_delay = 1 h, the next failure
-- (whenever the worker has reloaded its settings) puts the retry 1 h later, not 2 h or more
ALTER SYSTEM SET car.retry_delay = '1h';
SELECT pg_reload_conf();
SELECT car_test.wait_for($$SELECT count(*) > 0 FROM car_test.failure WHERE next_attempt_at - at >= interval '1 hour'$$, 60) AS long_delay;
SELECT bool_and(next_attempt_at - at = interval '1 hour') AS capped
FROM car_test.failure WHERE next_attempt_at - at >= interval '1 hour';
ALTER SYSTEM RESET car.retry_delay;
SELECT pg_reload_conf();
DROP TRIGGER car_test_failure ON car.dataset;
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=none" >/dev/null
SELECT car.wake() AS woke;
SELECT car_test.wait_for($$SELECT files_loaded = 3 AND consecutive_failures = 0 FROM car.source_status WHERE name = 'moj'$$, 60) AS recovered;
SELECT (l.readings, l.kwh) = (t.readings, t.kwh) AS march_once FROM car_test.loaded('2024-03-01', 'MoJ web') l, car_test.totals('2024-03-01') t;

-- A body cut off mid-file loads nothing
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=truncate&publish=2024-04" >/dev/null
SELECT car_test.wait_for($$SELECT last_error LIKE '%partial%' FROM car.dataset WHERE uri LIKE '%apr-2024%'$$, 60) AS truncated;
SELECT readings AS april_readings FROM car_test.loaded('2024-04-01', 'MoJ web');
-- a body over car.max_download_bytes loads nothing
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=oversize" >/dev/null
SELECT car_test.wait_for($$SELECT last_error LIKE '%larger than car.max_download_bytes%' FROM car.dataset WHERE uri LIKE '%apr-2024%'$$, 60) AS oversized;
-- a redirect loop is cut short
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=redirect_loop" >/dev/null
SELECT car_test.wait_for($$SELECT last_error LIKE '%redirect%' FROM car.dataset WHERE uri LIKE '%apr-2024%'$$, 60) AS redirects;
SELECT readings AS april_readings FROM car_test.loaded('2024-04-01', 'MoJ web');
SELECT count(*) AS april_files FROM car.source_file WHERE name LIKE '%apr-2024%';
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=none" >/dev/null
SELECT car.wake() AS woke;
SELECT car_test.wait_for($$SELECT files_loaded = 4 FROM car.source_status WHERE name = 'moj'$$, 60) AS april_loaded;
SELECT (l.readings, l.kwh) = (t.readings, t.kwh) AS april_once FROM car_test.loaded('2024-04-01', 'MoJ web') l, car_test.totals('2024-04-01') t;

-- A server that ignores ETags sends the same bytes again: nothing is loaded twice
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=etag_ignore" >/dev/null
SELECT car_test.wait_for($$SELECT bool_and(last_status = 200 AND last_fetched_at > now() - interval '2 seconds') FROM car.dataset WHERE uri LIKE '%jan-2024%'$$, 60) AS refetched;
SELECT files_loaded, (SELECT count(*) FROM car_test.loaded('2024-01-01', 'MoJ web') l, car_test.totals('2024-01-01') t WHERE l.readings = t.readings) AS jan_once
FROM car.source_status WHERE name = 'moj';
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?fault=none" >/dev/null

-- Credentials in a URI never show in the status
BEGIN;
SELECT name FROM car.add_source('secret', 'https://user:pa55@127.0.0.1:1/x.csv', 'file', 'long', '{"meter": "m"}', '1 day');
UPDATE car.source SET enabled = false WHERE name = 'secret';
COMMIT;
SELECT uri FROM car.source_status WHERE name = 'secret';

-- Factor files through the worker: a file: source (superuser only, and only
-- with file in car.allowed_url_schemes) in format desnz-factors
\getenv fixtures CAR_FIXTURES
ALTER SYSTEM SET car.allowed_url_schemes = 'https,http,file';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT name FROM car.add_source('factors-2022', 'file://' || :'fixtures' || '/desnz_flatfile/ghg-conversion-factors-2022-flat-format.frlocale.csv', 'file', 'desnz-factors');
SELECT car_test.wait_for($$SELECT count(*) = 1 FROM car.factor_set WHERE source_uri LIKE 'file://%2022-flat-format.frlocale.csv'$$, 60) AS factors_loaded;
-- the newest revision of 2022 (an earlier file may have loaded 2022 before), and current
SELECT year, revision = (SELECT max(f2.revision) FROM car.factor_set f2 WHERE f2.year = 2022) AS newest_revision,
       row_count + rows_skipped AS data_rows, superseded_by IS NULL AS current FROM car.factor_set WHERE source_uri LIKE 'file://%';
ALTER SYSTEM RESET car.allowed_url_schemes;
SELECT pg_reload_conf();

-- Backfill: 36 monthly files of a template source, fetched by parallel workers
BEGIN;
SELECT name FROM car.add_source('moj-archive', 'http://127.0.0.1:' || :'port' || '/eCMS/Files/MOJ/ministryofjustice_{mon}-{yyyy}.csv',
    'template', 'ecodriver', '{"org": "MoJ archive"}', '1 day');
UPDATE car.source SET enabled = false WHERE name = 'moj-archive';   -- only the backfill, not this month's poll
COMMIT;
SELECT car.backfill('moj-archive', '2021-01-01', '2023-12-01') AS queued;
SELECT car_test.wait_for($$SELECT files_loaded = 36 FROM car.source_status WHERE name = 'moj-archive'$$, 240) AS backfilled;
SELECT count(*) AS months, bool_and((l.readings, l.kwh) = (t.readings, t.kwh)) AS every_month_once
FROM generate_series('2021-01-01'::date, '2023-12-01', '1 month') m,
     LATERAL car_test.loaded(m::date, 'MoJ archive') l, LATERAL car_test.totals(m::date) t;
SELECT count(*) AS datasets, count(*) FILTER (WHERE state = 'done') AS done FROM car.dataset d JOIN car.source s ON s.id = d.source_id
WHERE s.name = 'moj-archive';
SELECT car.backfill('moj', '2021-01-01', '2021-02-01') AS index_backfill_is_a_poll;
SELECT car.backfill('nosuch', '2021-01-01', '2021-02-01');
SELECT car.backfill('moj-archive', '2021-01-01', 'infinity');
SELECT car.backfill('moj-archive', '1900-01-01', '2100-01-01');

-- Server-side request forgery: the worker connects only to ordinary addresses
-- and to those car.allowed_hosts lets through (test/pg.conf lists 127.0.0.1,
-- the test web server), checked at connect time on every hop; and a source's
-- links and redirects stay on its own host unless its follow_hosts option
-- names others.  127.0.0.2 plays an internal address: nothing listens there,
-- and car must refuse it before trying.
UPDATE car.source SET enabled = false WHERE name = 'moj';
SHOW car.allowed_hosts;
-- a redirect on the same host is followed, with the credentials
SELECT name FROM car.add_source('moved', 'http://car:secret@127.0.0.1:' || :'port' || '/eCMS/moved/ministryofjustice_may-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ moved"}', '1 day');
SELECT car_test.wait_for($$SELECT files_loaded = 1 FROM car.source_status WHERE name = 'moved'$$, 60) AS redirect_followed;
SELECT (l.readings, l.kwh) = (t.readings, t.kwh) AS may_loaded FROM car_test.loaded('2024-05-01', 'MoJ moved') l, car_test.totals('2024-05-01') t;
-- the URL that served the bytes is recorded, without the credentials
SELECT replace(d.final_uri, :'port', 'PORT') AS final_uri, replace(f.uri, :'port', 'PORT') AS file_uri, f.name AS file_name
FROM car.dataset d JOIN car.source s ON s.id = d.source_id JOIN car.source_file f ON f.id = d.file_id WHERE s.name = 'moved';
SELECT count(*) AS moj_files, count(*) FILTER (WHERE d.final_uri = d.uri AND f.uri = d.uri) AS recorded_as_fetched
FROM car.dataset d JOIN car.source s ON s.id = d.source_id JOIN car.source_file f ON f.id = d.file_id WHERE s.name = 'moj';
-- a redirect to another host is refused, and not retried
SELECT name FROM car.add_source('away', 'http://127.0.0.1:' || :'port' || '/eCMS/away/ministryofjustice_jun-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ away"}', '1 day');
SELECT car_test.wait_for($$SELECT d.state = 'failed' FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'away'$$, 60) AS redirect_refused;
SELECT d.state, d.attempts, replace(d.last_error, :'port', 'PORT') AS error
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'away';
-- ... and when follow_hosts lets it go to 127.0.0.2, the address is refused
SELECT name FROM car.add_source('away-followed', 'http://127.0.0.1:' || :'port' || '/eCMS/away/ministryofjustice_jun-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ away followed", "follow_hosts": ["127.0.0.2"]}', '1 day');
SELECT car_test.wait_for($$SELECT d.state = 'failed' FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'away-followed'$$, 60) AS address_refused;
SELECT d.state, d.attempts, replace(d.last_error, :'port', 'PORT') AS error
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'away-followed';
-- a redirect to a followed host that car.allowed_hosts allows (localhost is 127.0.0.1) works; the credentials stay behind
SELECT name FROM car.add_source('elsewhere', 'http://car:secret@127.0.0.1:' || :'port' || '/eCMS/elsewhere/ministryofjustice_nov-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ elsewhere", "follow_hosts": ["localhost"]}', '1 day');
SELECT car_test.wait_for($$SELECT files_loaded = 1 FROM car.source_status WHERE name = 'elsewhere'$$, 60) AS followed;
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_auth" | python3 -c 'import json, sys; a = json.load(sys.stdin); print("credentials sent: same host", a["may-2024"], "| other host", a["nov-2024"])'
SELECT replace(d.final_uri, :'port', 'PORT') AS final_uri
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'elsewhere';
-- an index page's links to other hosts are left out, with a note; those to its own host are fetched
SELECT name FROM car.add_source('mixed', 'http://127.0.0.1:' || :'port' || '/eCMS/Mixed.asp', 'index', 'ecodriver',
    '{"pattern": "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", "org": "MoJ mixed"}', '1 day');
SELECT car_test.wait_for($$SELECT files_loaded = 1 AND note IS NOT NULL FROM car.source_status WHERE name = 'mixed'$$, 60) AS index_polled;
SELECT replace(d.uri, :'port', 'PORT') AS link, d.state
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'mixed' ORDER BY d.uri;
SELECT note FROM car.source_status WHERE name = 'mixed';
-- with follow_hosts, links to localhost are fetched; the one to 127.0.0.2 is queued, and refused at connect time
SELECT name FROM car.add_source('mixed-followed', 'http://127.0.0.1:' || :'port' || '/eCMS/Mixed.asp', 'index', 'ecodriver',
    '{"pattern": "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", "org": "MoJ mixed followed", "follow_hosts": ["localhost", "127.0.0.2"]}', '1 day');
SELECT car_test.wait_for($$SELECT count(*) FILTER (WHERE d.state = 'done') = 2 AND count(*) FILTER (WHERE d.state = 'failed') = 1
                           FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'mixed-followed'$$, 60) AS index_polled;
SELECT replace(d.uri, :'port', 'PORT') AS link, d.state, replace(d.last_error, :'port', 'PORT') AS error
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'mixed-followed' ORDER BY d.uri;
SELECT note IS NULL AS nothing_left_out FROM car.source_status WHERE name = 'mixed-followed';
-- an index page that moved: its links are relative to where it was found
SELECT name FROM car.add_source('relocated', 'http://127.0.0.1:' || :'port' || '/old/listing', 'index', 'ecodriver',
    '{"pattern": "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", "org": "MoJ relocated"}', '1 day');
SELECT car_test.wait_for($$SELECT files_loaded = 1 FROM car.source_status WHERE name = 'relocated'$$, 60) AS relocated_index;
SELECT replace(d.uri, :'port', 'PORT') AS link, d.state
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'relocated';
-- A load that loses a conflict with another transaction (another loader's
-- locks: SQLSTATE 40P01 deadlock, 40001 serialization failure, 55P03 lock not
-- available) is retried with back-off; one that fails on the file is not.
-- A trigger on car.source_file raises each once, as the worker stores the file.
CREATE SEQUENCE car_test.conflicts;
CREATE FUNCTION car_test.conflict() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.name = 'ministryofjustice_nov-2024.csv' AND pg_catalog.nextval('car_test.conflicts') <= 3 THEN
        RAISE EXCEPTION 'car-test: lost a conflict (%)', pg_catalog.currval('car_test.conflicts')
            USING ERRCODE = (ARRAY['40P01', '40001', '55P03'])[pg_catalog.currval('car_test.conflicts')];
    ELSIF NEW.name = 'ministryofjustice_dec-2024.csv' THEN
        RAISE EXCEPTION 'car-test: a bad file' USING ERRCODE = 'invalid_text_representation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER car_test_conflict BEFORE INSERT ON car.source_file FOR EACH ROW EXECUTE FUNCTION car_test.conflict();
CREATE TRIGGER car_test_failure AFTER UPDATE ON car.dataset FOR EACH ROW WHEN (NEW.attempts > OLD.attempts)
    EXECUTE FUNCTION car_test.log_failure();
SELECT name FROM car.add_source('conflicted', 'http://127.0.0.1:' || :'port' || '/eCMS/Files/MOJ/ministryofjustice_nov-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ conflicted"}', '1 day');
SELECT name FROM car.add_source('bad-file', 'http://127.0.0.1:' || :'port' || '/eCMS/Files/MOJ/ministryofjustice_dec-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ bad file"}', '1 day');
SELECT car_test.wait_for($$SELECT bool_and(d.state = 'done') FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'conflicted'$$, 60) AS loaded_after_conflicts;
SELECT car_test.wait_for($$SELECT bool_and(d.state = 'failed') FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'bad-file'$$, 60) AS bad_file_failed;
-- the three conflicts: each queued the file again, 1 s, 2 s, 4 s later; the fourth load stored it once
SELECT f.attempts, f.state, f.next_attempt_at - f.at AS retry_after
FROM car_test.failure f JOIN car.dataset d ON d.id = f.dataset_id JOIN car.source s ON s.id = d.source_id
WHERE s.name = 'conflicted' ORDER BY f.attempts;
SELECT (l.readings, l.kwh) = (t.readings, t.kwh) AS totals_equal FROM car_test.loaded('2024-11-01', 'MoJ conflicted') l, car_test.totals('2024-11-01') t;
SELECT count(*) AS files_stored FROM car.source_file f JOIN car.source s ON s.id = f.source_id WHERE s.name = 'conflicted';
-- the bad file failed at once, for good: one attempt, queued no more
SELECT f.attempts, f.state FROM car_test.failure f JOIN car.dataset d ON d.id = f.dataset_id JOIN car.source s ON s.id = d.source_id
WHERE s.name = 'bad-file';
SELECT d.state, d.attempts, d.last_error LIKE '%car-test: a bad file%' AS says_why
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'bad-file';
DROP TRIGGER car_test_conflict ON car.source_file;
DROP TRIGGER car_test_failure ON car.dataset;
-- follow_hosts is an array of hosts
SELECT car.add_source('bad', 'http://127.0.0.1:1/x.csv', 'file', 'long', '{"follow_hosts": "localhost"}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/x.csv', 'file', 'long', '{"follow_hosts": [8080]}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/x.csv', 'file', 'long', '{"follow_hosts": ["http://127.0.0.2/"]}');
SELECT car.add_source('bad', 'http://127.0.0.1:1/x.csv', 'file', 'long', '{"follow_hosts": ["localhost:8080"]}');
-- car.allowed_hosts empty (the default): even 127.0.0.1 is refused
ALTER SYSTEM SET car.allowed_hosts = '';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW car.allowed_hosts;
SELECT name FROM car.add_source('closed', 'http://127.0.0.1:' || :'port' || '/eCMS/Files/MOJ/ministryofjustice_oct-2024.csv',
    'file', 'ecodriver', '{"org": "MoJ closed"}', '1 day');
SELECT car_test.wait_for($$SELECT d.state = 'failed' FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'closed'$$, 60) AS refused;
SELECT d.state, replace(d.last_error, :'port', 'PORT') AS error
FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'closed';
ALTER SYSTEM RESET car.allowed_hosts;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW car.allowed_hosts;
-- car.allowed_hosts loosens a check: only superusers set it, and only in the server's configuration
SELECT car.grant_roles() IS NOT NULL AS roles;
CREATE ROLE car_test_source_admin IN ROLE car_admin;
SET ROLE car_test_source_admin;
SET car.allowed_hosts = '127.0.0.2';
ALTER SYSTEM SET car.allowed_hosts = '127.0.0.2';
RESET ROLE;
DROP ROLE car_test_source_admin;
-- values are checked, entry by entry
ALTER SYSTEM SET car.allowed_hosts = '127.0.0.1, 127.0.0.0/33';
ALTER SYSTEM SET car.allowed_hosts = '127.0.0.1,,localhost';
ALTER SYSTEM SET car.allowed_hosts = 'http://127.0.0.2/';
ALTER SYSTEM SET car.allowed_hosts = 'localhost:0';
ALTER SYSTEM SET car.allowed_hosts = 'files.localhost, localhost:8443, 127.0.0.1, [::1]:8080, 127.0.0.0/8, ::1/128';
ALTER SYSTEM RESET car.allowed_hosts;

-- Dropping the extension while the worker runs: it goes quiet, no error loop
DO $$ BEGIN RAISE LOG 'car-test: dropping the extension'; END $$;
DROP EXTENSION car CASCADE;
SELECT pg_sleep(3);
SELECT count(*) AS errors_after_drop
FROM regexp_split_to_table(
       split_part(pg_read_file(:'serverlog'), 'car-test: dropping the extension', 2),
       E'\n') line
WHERE line LIKE '%ERROR%';
SELECT count(*) AS launcher_still_there FROM pg_stat_activity WHERE backend_type = 'car launcher';
ALTER SYSTEM RESET car.max_download_bytes;
SELECT pg_reload_conf();
