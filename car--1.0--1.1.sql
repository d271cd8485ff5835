-- car 1.0 -> 1.1 (ALTER EXTENSION car UPDATE).  The fresh-install script
-- car--1.1.sql is car--1.0.sql followed by this file (see the Makefile).
\echo Use "ALTER EXTENSION car UPDATE TO '1.1'" to load this file. \quit


-------------------------------------------------------------------------------
-- No infinite or not-a-number quantities, and names without control
-- characters.  An older database holding such rows is not updated until
-- they are fixed (nothing is changed or dropped by guesswork).
-------------------------------------------------------------------------------
DO $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM car.reading
    WHERE NOT (quantity > '-Infinity'::float8 AND quantity < 'Infinity'::float8);
    IF n > 0 THEN
        RAISE EXCEPTION 'car.reading holds % reading(s) whose quantity is infinite or not a number', n
            USING HINT = 'Find them with SELECT * FROM car.reading WHERE NOT (quantity > ''-Infinity'' AND quantity < ''Infinity''), correct or delete them, then update car again.';
    END IF;
    SELECT count(*) INTO n FROM car.site WHERE name ~ '[[:cntrl:]]' OR org ~ '[[:cntrl:]]';
    IF n > 0 THEN
        RAISE EXCEPTION 'car.site holds % site(s) whose name or org has a control character', n
            USING HINT = 'Find them with SELECT * FROM car.site WHERE name ~ ''[[:cntrl:]]'' OR org ~ ''[[:cntrl:]]'', rename them, then update car again.';
    END IF;
    SELECT count(*) INTO n FROM car.meter WHERE name ~ '[[:cntrl:]]';
    IF n > 0 THEN
        RAISE EXCEPTION 'car.meter holds % meter(s) whose name has a control character', n
            USING HINT = 'Find them with SELECT * FROM car.meter WHERE name ~ ''[[:cntrl:]]'', rename them, then update car again.';
    END IF;
END $$;

ALTER TABLE car.reading ADD CONSTRAINT reading_quantity_finite
    CHECK (quantity > '-Infinity'::float8 AND quantity < 'Infinity'::float8);
ALTER TABLE car.emission_daily ADD CONSTRAINT emission_daily_finite
    CHECK (quantity > '-Infinity'::float8 AND quantity < 'Infinity'::float8
           AND (kg_co2e IS NULL OR kg_co2e > '-Infinity'::float8 AND kg_co2e < 'Infinity'::float8)
           AND (kg_co2 IS NULL OR kg_co2 > '-Infinity'::float8 AND kg_co2 < 'Infinity'::float8)
           AND (kg_ch4 IS NULL OR kg_ch4 > '-Infinity'::float8 AND kg_ch4 < 'Infinity'::float8)
           AND (kg_n2o IS NULL OR kg_n2o > '-Infinity'::float8 AND kg_n2o < 'Infinity'::float8));
COMMENT ON CONSTRAINT reading_quantity_finite ON car.reading IS 'Quantities are finite numbers: never Infinity or NaN.';
COMMENT ON CONSTRAINT emission_daily_finite ON car.emission_daily IS 'Quantities and kg are finite numbers: never Infinity or NaN.';

ALTER TABLE car.site ADD CONSTRAINT site_names_printable CHECK (name !~ '[[:cntrl:]]' AND org !~ '[[:cntrl:]]');
ALTER TABLE car.meter ADD CONSTRAINT meter_name_printable CHECK (name !~ '[[:cntrl:]]');
COMMENT ON CONSTRAINT site_names_printable ON car.site IS 'Site names and organisations hold no control characters (they are matched against token claims and file contents).';
COMMENT ON CONSTRAINT meter_name_printable ON car.meter IS 'Meter names hold no control characters.';

-- The calculator looks names up by keys of 63 bytes: longer ones are refused, never cut.
ALTER TABLE car.activity ADD CONSTRAINT activity_key_length CHECK (length(key) <= 63);
CREATE FUNCTION car.spellings_fit(spellings text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(bool_and(octet_length(s) <= 63), true) FROM unnest(spellings) s);
COMMENT ON FUNCTION car.spellings_fit(text[]) IS 'Whether every spelling is at most 63 bytes long (car.unit''s check): the calculator looks units up by keys of 63 bytes.';
ALTER TABLE car.unit ADD CONSTRAINT unit_spellings_length
    CHECK (octet_length(name) <= 63 AND car.spellings_fit(aliases));

-------------------------------------------------------------------------------
-- The change feed: what each committed transaction added, per site, read
-- under row-level security.  NOTIFY car_readings carries only its seq.
-------------------------------------------------------------------------------
CREATE SEQUENCE car.change_seq;
COMMENT ON SEQUENCE car.change_seq IS 'Change numbers: one per transaction that adds readings (car.change.seq).';
CREATE TABLE car.change (
    seq          bigint NOT NULL,
    site_id      int NOT NULL,
    rows         bigint NOT NULL CHECK (rows > 0),
    first_period timestamptz NOT NULL,
    last_period  timestamptz NOT NULL,
    kg_co2e      float8 NOT NULL CHECK (kg_co2e > '-Infinity'::float8 AND kg_co2e < 'Infinity'::float8),
    meters       int[] NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seq, site_id)
);
CREATE INDEX change_recorded_idx ON car.change (recorded_at);
COMMENT ON TABLE car.change IS 'The change feed: per transaction that added readings (seq, the number its NOTIFY car_readings carries) and per site, what it added. Row-level security shows each reader the sites it may see; car.maintenance() keeps car.keep_changes of it.';
COMMENT ON COLUMN car.change.seq IS 'The transaction''s change number: NOTIFY car_readings sends {"seq": N} when it commits.';
COMMENT ON COLUMN car.change.site_id IS 'The site (car.site.id) whose meters got readings.';
COMMENT ON COLUMN car.change.rows IS 'Readings added at the site (inserted, or written by COPY).';
COMMENT ON COLUMN car.change.first_period IS 'Start of the earliest period among them (UTC instant).';
COMMENT ON COLUMN car.change.last_period IS 'Start of the latest period among them (UTC instant).';
COMMENT ON COLUMN car.change.kg_co2e IS 'kg CO2e of the readings at each activity''s own factor (as car.co2e; NULL-free: readings that cannot be priced count 0).';
COMMENT ON COLUMN car.change.meters IS 'The meters (car.meter.id) that got readings, ascending.';
COMMENT ON COLUMN car.change.recorded_at IS 'When the transaction recorded it (its start time).';
ALTER TABLE car.change ENABLE ROW LEVEL SECURITY;
CREATE POLICY change_by_claims ON car.change USING (car.site_visible(site_id));
SELECT pg_catalog.pg_extension_config_dump('car.change', '');
SELECT pg_catalog.pg_extension_config_dump('car.change_seq', '');

CREATE FUNCTION car.changes_since(seq bigint) RETURNS SETOF car.change
    LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, car
    AS $$ SELECT c.* FROM car.change c WHERE c.seq > $1 ORDER BY c.seq, c.site_id $$;
COMMENT ON FUNCTION car.changes_since(bigint) IS 'What committed transactions with a change number above seq added, per site, as row-level security allows: read it when NOTIFY car_readings says {"seq": N} (car.changes_since(N - 1) includes N). Numbers are taken when a transaction first adds readings, so transactions may commit out of their order: after a gap, reread from a number below the last one seen.';

-------------------------------------------------------------------------------
-- Sources: credentials kept apart, and the rules on a source enforced on
-- every write to it (INSERT, UPDATE, COPY), not only in car.add_source.
-------------------------------------------------------------------------------
CREATE TABLE car.source_secret (
    source_id int PRIMARY KEY REFERENCES car.source (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    userinfo  text NOT NULL CHECK (userinfo <> '')
);
COMMENT ON TABLE car.source_secret IS 'The user:password a source''s URI carried, kept apart from car.source so that only car_admin and the background worker read it; the worker sends it with each request.';
COMMENT ON COLUMN car.source_secret.userinfo IS 'user or user:password (percent-encoded as in the URI).';
SELECT pg_catalog.pg_extension_config_dump('car.source_secret', '');

CREATE FUNCTION car.check_source() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    userinfo text;
BEGIN
    IF NEW.uri IS NOT NULL AND NEW.uri OPERATOR(pg_catalog.~*) '^file:' AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
        RAISE EXCEPTION 'only superusers may point a source at a file: URI (source "%")', NEW.name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The background worker would read a file of the server''s; ask a superuser to add or change this source.';
    END IF;
    IF NEW.uri IS NOT NULL AND NEW.uri OPERATOR(pg_catalog.~) '[[:cntrl:][:space:]]' THEN
        RAISE EXCEPTION 'the URI of source "%" holds white space or a control character', NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Percent-encode them.';
    END IF;
    userinfo := substring(NEW.uri FROM '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]*)@');
    IF userinfo IS NOT NULL THEN
        NEW.uri := regexp_replace(NEW.uri, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@', '\1');
        INSERT INTO car.source_secret AS s (source_id, userinfo) VALUES (NEW.id, userinfo)
        ON CONFLICT (source_id) DO UPDATE SET userinfo = excluded.userinfo;
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION car.check_source() IS 'Trigger on car.source: file: URIs only by superusers; no white space or control characters in a URI; a user:password in the URI moves to car.source_secret.';
CREATE TRIGGER source_checked BEFORE INSERT OR UPDATE OF uri ON car.source
    FOR EACH ROW EXECUTE FUNCTION car.check_source();
-- credentials already stored with a URI move now
UPDATE car.source SET uri = uri WHERE uri ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*@';
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
       s.uri,
       s.last_poll_at, s.last_success_at, s.next_poll_at,
       s.consecutive_failures, s.last_error,
       (SELECT count(*) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'queued') AS queued,
       (SELECT count(*) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'failed') AS failed,
       (SELECT min(d.next_attempt_at) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'queued' AND d.attempts > 0) AS next_retry_at,
       (SELECT count(*) FROM car.source_file f WHERE f.source_id = s.id) AS files_loaded,
       (SELECT coalesce(sum(f.rows_loaded), 0) FROM car.source_file f WHERE f.source_id = s.id) AS rows_loaded,
       s.last_note AS note
FROM car.source s;
ALTER VIEW car.source_status SET (security_invoker = true);
COMMENT ON VIEW car.source_status IS 'Per source: last poll, last success, next poll, consecutive failures, last error, queue, files and rows loaded, and what the last index poll left out.';
COMMENT ON COLUMN car.source_status.uri IS 'Where the source is fetched from (credentials are kept in car.source_secret, never here).';
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

-------------------------------------------------------------------------------
-- Meter files as real exports write them (issue 13): what a file's first pass
-- learnt (its preamble, the header's line, the number format, the half-hour
-- labels' reading...) is kept with the file; the new source options that
-- override the detection.
-------------------------------------------------------------------------------
ALTER TABLE car.source_file ADD COLUMN metadata jsonb;
COMMENT ON COLUMN car.source_file.metadata IS 'What loading learnt of the file, as a JSON object: preamble (the lines before the header, an array of text, each cut to 240 bytes; preamble_cut counts what was left out), header_line, encoding, line_endings (CRLF, CR, LF or a mixture), delimiter, decimal_separator and thousands_separator (the number format decided for the whole file), half_hour_labels (period starts, period ends or positions) and wall_clock_day_half_hours (46 or 50 for a clock-change day''s wall-clock labels), date_format. NULL for files loaded before car 1.1.';
COMMENT ON COLUMN car.source.options IS 'Format options: site, meter, site_column, meter_column, date_column, ts_column, value_column, unit_column, activity_column, unit, activity, date_format (fields YYYY YY MM Mon DD HH24 HH12 MI SS FF AM TZ; detected when absent), timezone, period (start or end; detected from the header when absent), interval_minutes, decimal_separator (. or ,) and thousands_separator (, . space '' or empty for none; both detected from all the file''s values when absent), header_line (the header''s line; searched in the first 50 lines when absent), org; for index sources pattern; for polled sources follow_hosts (hosts besides the source''s own that its index links and redirects may lead to).';

-------------------------------------------------------------------------------
-- Factor files: no silent skipping (issue 13).  Every row after the header
-- is loaded, or listed in car.factor_skipped with its reason: rows that
-- publish no number (an empty factor cell, or text such as "< 1"), and,
-- with lenient => true only, rows carrying a number that cannot be
-- classified (otherwise the file is refused).  The END row alone is skipped
-- silently.  A factor CSV's number format is decided once for the file; its
-- separators can be given.  A load must leave a set that prices the core
-- activities.
-------------------------------------------------------------------------------
ALTER TABLE car.factor_set ADD COLUMN rows_without_value int NOT NULL DEFAULT 0 CHECK (rows_without_value >= 0),
                           ADD COLUMN rows_unclassified int NOT NULL DEFAULT 0 CHECK (rows_unclassified >= 0);
COMMENT ON COLUMN car.factor_set.rows_skipped IS 'Rows after the header that were not loaded (blank rows not counted): the END row, rows_without_value and rows_unclassified.';
COMMENT ON COLUMN car.factor_set.rows_without_value IS 'Rows that publish no number (the factor cell empty, or holding text such as "< 1"): listed in car.factor_skipped, not loaded. 0 for sets loaded before car 1.1, which did not count them apart.';
COMMENT ON COLUMN car.factor_set.rows_unclassified IS 'Rows carrying a number that could not be classified (a value not in the file''s number format, a GHG/Unit label naming no gas and no conversion, no UOM or Level 1), skipped because the load was lenient; listed in car.factor_skipped. A load that is not lenient refuses such a file, so this is 0 for it.';

CREATE TABLE car.factor_skipped (
    set_id int NOT NULL REFERENCES car.factor_set (id) ON DELETE CASCADE,
    line   int NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('no value', 'unclassified')),
    reason text NOT NULL,
    cells  text[] NOT NULL,
    PRIMARY KEY (set_id, line)
);
COMMENT ON TABLE car.factor_skipped IS 'Every row of a loaded factor file that was not loaded, but the structural ones (preamble, blank rows, END), with the reason: the rows publishing no number, and those a lenient load (car.load_factors(..., lenient => true)) left out because it could not classify their number.';
COMMENT ON COLUMN car.factor_skipped.set_id IS 'The car.factor_set of the file.';
COMMENT ON COLUMN car.factor_skipped.line IS 'Line (CSV) or row (xlsx) of the file.';
COMMENT ON COLUMN car.factor_skipped.kind IS 'no value: the row publishes no number; unclassified: it carries a number car could not classify.';
COMMENT ON COLUMN car.factor_skipped.reason IS 'Why the row was not loaded, e.g. the GHG/Unit "kg SF6" is neither kg of CO2e, CO2, CH4 or N2O (in any year''s wording) nor an energy conversion.';
COMMENT ON COLUMN car.factor_skipped.cells IS 'The row''s cells as read (UTF-8 text; trailing empty cells left out; at most 32 cells of at most 500 bytes each).';
SELECT pg_catalog.pg_extension_config_dump('car.factor_skipped', '');

DROP FUNCTION car.load_factors(text, int);
CREATE FUNCTION car.load_factors(path_or_uri text, year int DEFAULT NULL, lenient boolean DEFAULT false,
                                 decimal_separator text DEFAULT NULL, thousands_separator text DEFAULT NULL)
    RETURNS car.factor_set
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_load_factors_path';
COMMENT ON FUNCTION car.load_factors(text, int, boolean, text, text) IS 'Load a DESNZ/BEIS flat file (.xlsx or .csv, any locale) from a server path. Needs superuser or pg_read_server_files. Same bytes twice return the existing set. A row carrying a number that cannot be classified refuses the file (the error gives the count and the first lines) unless lenient, which loads the rest and lists every skipped row in car.factor_skipped. A CSV''s number format is decided from all its values; decimal_separator (. or ,) and thousands_separator (, . space '' or empty) say it when the values cannot. The set must price electricity, natural gas (both CV bases), water, diesel and petrol, or nothing is loaded.';

DROP FUNCTION car.load_factors(bytea, text, int);
CREATE FUNCTION car.load_factors(content bytea, name text, year int DEFAULT NULL, lenient boolean DEFAULT false,
                                 decimal_separator text DEFAULT NULL, thousands_separator text DEFAULT NULL)
    RETURNS car.factor_set
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_load_factors_bytes';
COMMENT ON FUNCTION car.load_factors(bytea, text, int, boolean, text, text) IS 'Load a DESNZ/BEIS flat file from its bytes (e.g. sent by a client); name is kept as its source. lenient, decimal_separator and thousands_separator as for car.load_factors(path_or_uri, ...).';

-------------------------------------------------------------------------------
-- Last: nothing in schema car is PUBLIC's.  car.grant_roles() grants each of
-- car's roles what it needs, by name (src/roles.c), and a DBA grants those
-- roles to login roles.  Trigger functions run for whoever fires the
-- trigger and need no EXECUTE.
--
-- One statement takes EXECUTE from PUBLIC and from car's roles alike: an
-- extension script's grants and revokes are recorded as the objects'
-- initial privileges (pg_init_privs, which pg_dump leaves out), so the
-- functions must be the owner's alone when it runs, in an updated database
-- (where car 1.0 granted car_admin everything) as in a fresh one.  Then an
-- older car's roles get this version's privileges, granted as a DBA would
-- (car.grant_roles() records nothing as initial): the ALL on every table
-- that 1.0 granted car_admin, TRIGGER among it, is gone once the update
-- commits.
-------------------------------------------------------------------------------
DO $$
DECLARE
    roles text;
BEGIN
    SELECT string_agg(quote_ident(rolname), ', ') INTO roles FROM pg_catalog.pg_roles
    WHERE rolname IN ('car_reader', 'car_auditor', 'car_ingest', 'car_admin',
                      pg_catalog.current_setting('car.worker_role', true));
    EXECUTE 'REVOKE ALL ON ALL FUNCTIONS IN SCHEMA car FROM PUBLIC' || coalesce(', ' || roles, '');
    IF roles IS NOT NULL THEN
        PERFORM car.grant_roles(true);
    END IF;
END $$;
