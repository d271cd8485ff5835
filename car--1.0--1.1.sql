-- car 1.0 -> 1.1 (ALTER EXTENSION car UPDATE).  The fresh-install script
-- car--1.1.sql is car--1.0.sql followed by this file (see the Makefile).
\echo Use "ALTER EXTENSION car UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- Index polls say what they left out (security issue 12, point 7): an index
-- page's links are capped (fetch.h, FETCH_MAX_LINKS distinct matching links,
-- the first in page order kept), and overlong links are dropped; the poll
-- records that here instead of leaving it silent.
-------------------------------------------------------------------------------
ALTER TABLE car.source ADD COLUMN last_note text;
COMMENT ON COLUMN car.source.last_note IS 'What the last successful poll of an index page left out (links to other hosts or schemes, links past the cap, overlong links), or NULL when it queued every matching link.';

CREATE OR REPLACE VIEW car.source_status AS
SELECT s.name, s.kind, s.format, s.enabled,
       regexp_replace(s.uri, '^([a-z]+://)[^/@]*@', '\1') AS uri,
       s.last_poll_at, s.last_success_at, s.next_poll_at,
       s.consecutive_failures, s.last_error,
       (SELECT count(*) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'queued') AS queued,
       (SELECT count(*) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'failed') AS failed,
       (SELECT min(d.next_attempt_at) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'queued' AND d.attempts > 0) AS next_retry_at,
       (SELECT count(*) FROM car.source_file f WHERE f.source_id = s.id) AS files_loaded,
       (SELECT coalesce(sum(f.rows_loaded), 0) FROM car.source_file f WHERE f.source_id = s.id) AS rows_loaded,
       s.last_note AS note
FROM car.source s;
COMMENT ON VIEW car.source_status IS 'Per source: last poll, last success, next poll, consecutive failures, last error, queue, files and rows loaded, and what the last index poll left out.';
COMMENT ON COLUMN car.source_status.note IS 'What the last poll of an index page left out (links to other hosts or schemes, links past the cap, overlong links), or NULL.';

-------------------------------------------------------------------------------
-- The same-host rule (security issue 12, point 8): a source's index links and
-- redirects lead only to its own host unless its new follow_hosts option
-- lists others (checked by car.add_source; see README, "The background
-- worker").
-------------------------------------------------------------------------------
COMMENT ON COLUMN car.source.options IS 'Format options: site, meter, site_column, meter_column, date_column, ts_column, value_column, unit_column, activity_column, unit, activity, date_format, timezone, period, interval_minutes, org; for index sources pattern; for polled sources follow_hosts (hosts besides the source''s own that its index links and redirects may lead to).';

-------------------------------------------------------------------------------
-- The URL that served a file's bytes (security issue 12, point 8): redirects
-- may lead elsewhere than the dataset's URI, so the worker records where the
-- bytes came from, always without user:password.
-------------------------------------------------------------------------------
ALTER TABLE car.dataset ADD COLUMN final_uri text;
COMMENT ON COLUMN car.dataset.final_uri IS 'The URL that served the bytes last loaded (the dataset''s URI, or where its redirects led), without user:password; NULL until a download is loaded.';
COMMENT ON COLUMN car.source_file.uri IS 'Where the file came from: for a fetched file the URL that served its bytes (after redirects, without user:password); for a pushed file the name it was pushed as.';
