-- The background worker and the GB Carbon Intensity API (sources of kind
-- carbon-intensity, issue 15 point 3), against test/http_server.py's /ci on
-- 127.0.0.1, whose responses test/gen/intensity.py makes in the API's
-- recorded shapes: a backfill of 60 days in windows of 14 days, forecasts
-- replaced by actuals (never the reverse), half-hours the API left out,
-- malformed responses refused with nothing stored, the server down and back,
-- a restart in the middle of a backfill.  Every response the server sent is
-- in ci-served.jsonl, the record what car stored is compared with.  After
-- worker.sql, which drops car: a car of its own.
\getenv port CAR_HTTP_PORT
\getenv httpdir CAR_HTTP_DIR
SET client_min_messages = warning;
CREATE EXTENSION car CASCADE;
SELECT car.grant_roles() IS NOT NULL AS roles;
CREATE SCHEMA ci_test;
SELECT set_config('ci_test.httpdir', :'httpdir', false) IS NOT NULL AS set;
-- wait (at most timeout_s) until a query says true
\set wait_schema ci_test
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/wait_for.sql
-- The responses the server sent (ci-served.jsonl, in order), one row per half-hour of each.
CREATE FUNCTION ci_test.served_periods(OUT line bigint, OUT path text, OUT region text, OUT period_start timestamptz,
                                       OUT forecast float8, OUT actual float8, OUT index text) RETURNS SETOF record
LANGUAGE sql AS $$
    WITH l AS (
        SELECT n, x::jsonb AS j
        FROM regexp_split_to_table(pg_read_file(current_setting('ci_test.httpdir') || '/ci-served.jsonl'), E'\n')
             WITH ORDINALITY t(x, n)
        WHERE x <> '')
    SELECT l.n, l.j->>'path',
           CASE WHEN jsonb_typeof(l.j->'body'->'data') = 'object' THEN l.j->'body'->'data'->>'regionid' ELSE 'GB' END,
           (e->>'from')::timestamptz, (e->'intensity'->>'forecast')::float8, (e->'intensity'->>'actual')::float8,
           e->'intensity'->>'index'
    FROM l, jsonb_array_elements(CASE WHEN jsonb_typeof(l.j->'body'->'data') = 'object' THEN l.j->'body'->'data'->'data'
                                      ELSE l.j->'body'->'data' END) e $$;
-- What car must hold for a region after those responses, by the rule of
-- car.grid_intensity: a half-hour's last response with an actual, else its
-- last response.
CREATE FUNCTION ci_test.expected(want text) RETURNS TABLE (period_start timestamptz, forecast float8, actual float8, index text)
LANGUAGE sql AS $$
    SELECT DISTINCT ON (p.period_start) p.period_start, p.forecast, p.actual, p.index
    FROM ci_test.served_periods() p WHERE p.region = want
    ORDER BY p.period_start, p.actual IS NOT NULL DESC, p.line DESC $$;
CREATE FUNCTION ci_test.stored(want text) RETURNS TABLE (period_start timestamptz, forecast float8, actual float8, index text)
LANGUAGE sql AS $$ SELECT g.period_start, g.forecast, g.actual, g.index FROM car.grid_intensity g WHERE g.region = want $$;
-- rows of one not in the other, both ways
CREATE FUNCTION ci_test.differences(want text) RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM (SELECT * FROM ci_test.expected(want) EXCEPT SELECT * FROM ci_test.stored(want)) a)
         + (SELECT count(*) FROM (SELECT * FROM ci_test.stored(want) EXCEPT SELECT * FROM ci_test.expected(want)) b) $$;
-- the table's contents, as one checksum
CREATE FUNCTION ci_test.checksum() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s', region, period_start, forecast, actual, index, fetched_at, file_id),
                          E'\n' ORDER BY region, period_start)) FROM car.grid_intensity $$;

-- the launcher is running, in this database (it looks for car every 10 s while there is none)
SELECT ci_test.wait_for($$SELECT count(*) = 1 FROM car.worker_status WHERE role = 'launcher'$$) AS launcher;

-- 1. A backfill of 60 days.  The server publishes actuals for the half-hours
--    that ended a day ago or more, forecasts for the next 48 hours, and
--    leaves out the half-hours whose number (seconds since 1970 / 1800) is a
--    multiple of 997 (2 or 3 of the 2,880 half-hours of 60 days).
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_reset=1&ci_actual_lag_hours=24&ci_gap_modulus=997" >/dev/null
SELECT name, kind, format FROM car.add_source('grid-gb', 'http://127.0.0.1:' || :'port' || '/ci', 'carbon-intensity', NULL,
    jsonb_build_object('from', to_char(current_date - 60, 'YYYY-MM-DD')), '1 hour');
SELECT ci_test.wait_for($$SELECT count(*) = 5 AND bool_and(state = 'done') FROM car.dataset$$) AS backfilled;
-- five windows of 14 days (the API's most), one after another from the first
-- day to the one that holds now + 96 hours, each asked for once
SELECT count(*) AS windows, bool_and(period_to - period_from = interval '14 days') AS each_14_days,
       min(period_from) = (current_date - 60)::timestamp AT TIME ZONE 'UTC' AS from_the_first_day,
       max(period_from) <= now() + interval '96 hours' AND max(period_to) > now() + interval '96 hours' AS to_the_horizon,
       count(DISTINCT period_from) = count(*) AND max(period_from) - min(period_from) = interval '56 days' AS contiguous,
       bool_and(region = 'GB' AND last_status = 200 AND file_id IS NOT NULL) AS loaded
FROM car.dataset;
SELECT count(*) AS requests, count(DISTINCT path) AS windows,
       bool_and(path ~ '^/ci/intensity/\d{4}-\d\d-\d\dT00:00Z/\d{4}-\d\d-\d\dT00:00Z$') AS national_paths,
       bool_and(substring(path FROM '/([^/]+)$')::timestamptz - substring(path FROM '^/ci/intensity/([^/]+)/')::timestamptz
                = interval '14 days') AS each_14_days
FROM (SELECT DISTINCT line, path FROM ci_test.served_periods()) r;
SELECT (SELECT count(*) FROM car.grid_intensity) > 2800 AS stored, ci_test.differences('GB') AS differences_from_served;
-- the half-hours left out by the server are missing, and no other: every
-- half-hour from the first day until 48 hours ahead
SELECT count(*) FILTER (WHERE g.period_start IS NULL) AS missing,
       count(*) FILTER (WHERE g.period_start IS NULL AND (extract(epoch FROM t)::bigint / 1800) % 997 <> 0) AS missing_not_left_out,
       count(*) FILTER (WHERE g.period_start IS NOT NULL AND (extract(epoch FROM t)::bigint / 1800) % 997 = 0) AS stored_left_out
FROM generate_series((current_date - 60)::timestamp AT TIME ZONE 'UTC', now() + interval '47 hours', interval '30 minutes') t
LEFT JOIN car.grid_intensity g ON g.region = 'GB' AND g.period_start = t
\gset
SELECT :missing > 0 AS some_missing, :missing_not_left_out AS missing_not_left_out, :stored_left_out AS stored_left_out;
-- actuals up to a day ago, forecasts since
SELECT bool_and(actual IS NOT NULL) FILTER (WHERE period_start < now() - interval '25 hours') AS actuals_before,
       bool_and(actual IS NULL AND forecast IS NOT NULL) FILTER (WHERE period_start > now() - interval '23 hours') AS forecasts_since,
       count(*) FILTER (WHERE actual IS NULL AND period_start < now() - interval '1 hour') > 40 AS past_forecasts
FROM car.grid_intensity;
-- the responses are kept as landed files, with what loading them learnt: of
-- the windows over by a day, the half-hours the server left out
SELECT count(*) AS files, sum(f.rows_loaded) = (SELECT count(*) FROM car.grid_intensity) AS rows_loaded,
       bool_and(f.metadata->>'region' = 'GB') AS region,
       sum((f.metadata->>'past_half_hours_missing')::int) FILTER (WHERE d.period_to < now() - interval '1 day')
       = (SELECT count(*) FROM car.dataset w, generate_series(w.period_from, w.period_to - interval '30 minutes', interval '30 minutes') t
          WHERE w.period_to < now() - interval '1 day' AND (extract(epoch FROM t)::bigint / 1800) % 997 = 0) AS missing_counted
FROM car.source_file f JOIN car.dataset d ON d.file_id = f.id;

-- 2. A later actual replaces a forecast: the server now publishes actuals up
--    to an hour ago; the next poll fetches the windows that ended less than
--    two days ago again (refetch_days), and the half-hours of the last day
--    get theirs.
CREATE TEMP TABLE before AS SELECT * FROM car.grid_intensity;
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_actual_lag_hours=1" >/dev/null
SELECT car.wake() AS woke;
SELECT ci_test.wait_for($$SELECT bool_and(actual IS NOT NULL) FROM car.grid_intensity
                          WHERE period_start < now() - interval '2 hours' AND period_start > now() - interval '23 hours'$$) AS actuals_came;
SELECT ci_test.wait_for($$SELECT count(*) = 0 FROM car.dataset WHERE state <> 'done'$$) AS settled;
SELECT count(*) > 40 AS forecasts_replaced,
       bool_and(g.fetched_at > b.fetched_at) AS refetched
FROM before b JOIN car.grid_intensity g USING (region, period_start)
WHERE b.actual IS NULL AND g.actual IS NOT NULL;
SELECT ci_test.differences('GB') AS differences_from_served;
-- the windows that ended before refetch_days were not asked for again
SELECT count(*) AS old_windows, bool_and(n = 1) AS asked_once
FROM (SELECT d.uri, count(DISTINCT r.line) AS n
      FROM car.dataset d JOIN (SELECT DISTINCT line, path FROM ci_test.served_periods()) r ON d.uri LIKE '%' || r.path
      WHERE d.period_to < now() - interval '2 days' GROUP BY d.uri) w;

-- 3. A later forecast never replaces an actual: the server loses its actuals
--    and revises every forecast by +5.  Half-hours with an actual keep it
--    (and the forecast that came with it); those without take the new
--    forecast.
DROP TABLE before;
CREATE TEMP TABLE before AS SELECT * FROM car.grid_intensity;
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_forecast_only=1&ci_forecast_shift=5" >/dev/null
SELECT car.wake() AS woke;
SELECT ci_test.wait_for($$SELECT count(*) > 0 AND bool_and(g.forecast = b.forecast + 5) FROM before b JOIN car.grid_intensity g
                          USING (region, period_start) WHERE b.actual IS NULL$$) AS forecasts_revised;
SELECT ci_test.wait_for($$SELECT count(*) = 0 FROM car.dataset WHERE state <> 'done'$$) AS settled;
SELECT count(*) > 100 AS with_actuals, bool_and((g.forecast, g.actual, g.index, g.fetched_at, g.file_id)
                                               IS NOT DISTINCT FROM (b.forecast, b.actual, b.index, b.fetched_at, b.file_id)) AS actuals_kept
FROM before b JOIN car.grid_intensity g USING (region, period_start)
WHERE b.actual IS NOT NULL AND b.period_start > now() - interval '3 days';
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_forecast_only=0&ci_forecast_shift=0" >/dev/null

-- 4. Malformed responses are refused whole, nothing of them stored, and the
--    source says why: the JSON cut off halfway, then a forecast of "high".
SELECT ci_test.checksum() AS checksum, (SELECT count(*) FROM car.source_file) AS files \gset before_
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_fault=malformed" >/dev/null
SELECT car.wake() AS woke;
SELECT ci_test.wait_for($$SELECT count(*) > 0 AND bool_and(state = 'failed') FROM car.dataset
                          WHERE period_to > now() - interval '2 days'$$) AS refused;
SELECT d.state, regexp_replace(d.last_error, '^loading \S+ failed: ', '') AS error
FROM car.dataset d WHERE d.period_to > now() - interval '2 days' ORDER BY d.period_from;
SELECT ci_test.checksum() = :'before_checksum' AS nothing_stored, (SELECT count(*) FROM car.source_file) = :before_files AS no_file_landed;
SELECT consecutive_failures > 0 AS failing, last_error LIKE '%the response is not JSON: The input string ended unexpectedly.%' AS says_why
FROM car.source_status WHERE name = 'grid-gb';
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_fault=wrong_value" >/dev/null
SELECT car.wake() AS woke;
SELECT ci_test.wait_for($$SELECT count(*) > 0 AND bool_and(state = 'failed' AND last_error LIKE '%intensity.forecast%')
                          FROM car.dataset WHERE period_to > now() - interval '2 days'$$) AS refused;
SELECT regexp_replace(regexp_replace(d.last_error, '^loading \S+ failed: ', ''), 'period \d+ \(from \d{4}-\d\d-\d\dT\d\d:\d\dZ\)', 'period N (from T)') AS error
FROM car.dataset d WHERE d.period_to > now() - interval '2 days' ORDER BY d.period_from;
SELECT ci_test.checksum() = :'before_checksum' AS nothing_stored, (SELECT count(*) FROM car.source_file) = :before_files AS no_file_landed;
-- a half-hour published twice with different values is left out, the rest is stored
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_fault=duplicate" >/dev/null
SELECT car.wake() AS woke;
SELECT ci_test.wait_for($$SELECT count(*) > 0 AND bool_and(state = 'done') FROM car.dataset WHERE period_to > now() - interval '2 days'$$) AS loaded;
SELECT note LIKE 'Region GB: 1 half-hour published twice with different values left out (____-__-__T__:__Z).%' AS note_says
FROM car.source_status WHERE name = 'grid-gb';
SELECT bool_and((metadata->>'periods_conflicting')::int = 1) AS conflict_recorded
FROM car.source_file WHERE id IN (SELECT file_id FROM car.dataset WHERE period_to > now() - interval '2 days');
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_fault=none" >/dev/null

-- 5. The server down, and back.  While nothing listens on its port, a
--    source for London (regionid 13, its last 20 days) is added: its windows
--    fail, are retried, and nothing is stored; when the server listens
--    again, the next attempt fetches them and fills the gap.
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?down_seconds=8" >/dev/null
SELECT pg_sleep(0.5);
SELECT name FROM car.add_source('grid-london', 'http://127.0.0.1:' || :'port' || '/ci', 'carbon-intensity', NULL,
    jsonb_build_object('regions', jsonb_build_array('13'), 'from', to_char(current_date - 20, 'YYYY-MM-DD')), '1 hour');
SELECT ci_test.wait_for($$SELECT consecutive_failures >= 2 FROM car.source_status WHERE name = 'grid-london'$$, 7) AS failing;
SELECT last_error ~ 'Couldn''t connect|Connection refused' AS connection_refused,
       (SELECT count(*) FROM car.grid_intensity WHERE region = '13') AS stored
FROM car.source_status WHERE name = 'grid-london';
SELECT pg_sleep(8);
SELECT car.wake() AS woke;
SELECT ci_test.wait_for($$SELECT count(*) = 2 AND bool_and(d.state = 'done') FROM car.dataset d JOIN car.source s ON s.id = d.source_id
                          WHERE s.name = 'grid-london'$$) AS back;
SELECT consecutive_failures, last_error FROM car.source_status WHERE name = 'grid-london';
SELECT count(*) > 20 * 48 AS stored, ci_test.differences('13') AS differences_from_served,
       count(*) FILTER (WHERE actual IS NOT NULL) AS actuals, bool_and(forecast IS NOT NULL) AS forecasts
FROM car.grid_intensity WHERE region = '13';
SELECT count(*) AS missing
FROM generate_series((current_date - 20)::timestamp AT TIME ZONE 'UTC', now() + interval '47 hours', interval '30 minutes') t
WHERE NOT EXISTS (SELECT 1 FROM car.grid_intensity g WHERE g.region = '13' AND g.period_start = t)
AND (extract(epoch FROM t)::bigint / 1800) % 997 <> 0;

-- 6. car.backfill fetches the windows of a range again, done or not: with the
--    server's gaps filled, the days 60 to 31 ago (three windows) are complete;
--    later days keep theirs.
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?ci_gap_modulus=0" >/dev/null
SELECT car.backfill('grid-gb', current_date - 60, current_date - 31) AS queued;
SELECT ci_test.wait_for($$SELECT count(*) = 0 FROM car.dataset WHERE state <> 'done'$$) AS settled;
SELECT count(*) FILTER (WHERE x.missing AND x.t < (current_date - 18)::timestamp AT TIME ZONE 'UTC') AS missing_in_range,
       bool_and(x.missing = ((extract(epoch FROM x.t)::bigint / 1800) % 997 = 0))
           FILTER (WHERE x.t >= (current_date - 18)::timestamp AT TIME ZONE 'UTC') AS later_gaps_kept
FROM (SELECT t, NOT EXISTS (SELECT 1 FROM car.grid_intensity g WHERE g.region = 'GB' AND g.period_start = t) AS missing
      FROM generate_series((current_date - 60)::timestamp AT TIME ZONE 'UTC', (current_date - 4)::timestamp AT TIME ZONE 'UTC'
                           - interval '30 minutes', interval '30 minutes') t) x;

-- 7. Stopped in the middle of a backfill (every car worker terminated, as a
--    crash or a restart would), the worker goes on where the queue stood:
--    the windows done before are not fetched again, every window is done.
--    Wales (regionid 17), 150 days and 96 hours ahead: 12 windows, each
--    answered after 1.5 s, 4 at a time (car.max_parallel_fetches).
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?latency_ms=1500" >/dev/null
SELECT name FROM car.add_source('grid-wales', 'http://127.0.0.1:' || :'port' || '/ci', 'carbon-intensity', NULL,
    jsonb_build_object('regions', jsonb_build_array('17'), 'from', to_char(current_date - 150, 'YYYY-MM-DD')), '1 hour');
SELECT ci_test.wait_for($$SELECT count(*) >= 3 FROM car.dataset d JOIN car.source s ON s.id = d.source_id
                          WHERE s.name = 'grid-wales' AND d.state = 'done'$$) AS some_done;
CREATE TEMP TABLE done_before AS
SELECT d.uri FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'grid-wales' AND d.state = 'done';
SELECT count(*) > 0 AS terminated FROM car.worker_status w, LATERAL pg_terminate_backend(w.pid) t WHERE t;
SELECT count(*) BETWEEN 3 AND 11 AS some_done_before FROM done_before;
SELECT ci_test.wait_for($$SELECT count(*) = 12 AND bool_and(d.state = 'done') FROM car.dataset d JOIN car.source s ON s.id = d.source_id
                          WHERE s.name = 'grid-wales'$$, 90) AS all_done;
SELECT bool_and(n = 1) AS done_before_fetched_once
FROM (SELECT b.uri, (SELECT count(DISTINCT p.line) FROM ci_test.served_periods() p WHERE b.uri LIKE '%' || p.path) AS n
      FROM done_before b) x;
SELECT ci_test.differences('17') AS differences_from_served;
\! curl -sf "http://127.0.0.1:$CAR_HTTP_PORT/_control?latency_ms=0" >/dev/null

-- done: the sources and what they stored go
SELECT car.remove_source(name) FROM car.source ORDER BY name;
SELECT count(*) AS datasets_left FROM car.dataset;
