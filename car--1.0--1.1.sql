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
-- Completeness (issue 14, point 2): readings carry their quality, meters
-- their interval, and emission_daily keeps actual and estimated apart.
--
-- ADD COLUMN with a constant default is a catalogue change only: the
-- partitions of car.reading are not rewritten (test/upgrade.sh checks
-- their files); existing rows read as actual.
-------------------------------------------------------------------------------
ALTER TABLE car.reading ADD COLUMN quality text NOT NULL DEFAULT 'actual';
ALTER TABLE car.reading ADD COLUMN method text;
ALTER TABLE car.reading ADD CONSTRAINT reading_quality
    CHECK (quality IN ('actual', 'estimated')
           AND (quality = 'actual') = (method IS NULL)
           AND (method IS NULL OR method IN ('linear', 'same_weekday', 'bill_profile', 'bill_flat')));
COMMENT ON COLUMN car.reading.quality IS 'actual (read from a meter file or pushed) or estimated (filled by car.estimate() or car.bill()). A later actual always replaces an estimate.';
COMMENT ON COLUMN car.reading.method IS 'How an estimated quantity was made: linear (interpolation across a short gap), same_weekday (the same time on the same weekday over the previous 4 weeks), bill_profile or bill_flat (a bill spread over missing periods by the meter''s own profile, or evenly); NULL for actual readings. car.estimate_log records each call.';
COMMENT ON CONSTRAINT reading_quality ON car.reading IS 'quality is actual or estimated; estimated readings name their method, actual ones have none.';

ALTER TABLE car.meter ADD COLUMN interval_minutes int DEFAULT 30
    CHECK (interval_minutes IN (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 1440));
ALTER TABLE car.meter ADD COLUMN installed_on date;
ALTER TABLE car.meter ADD COLUMN removed_on date;
ALTER TABLE car.meter ADD CONSTRAINT meter_service_dates CHECK (removed_on >= installed_on);
COMMENT ON COLUMN car.meter.interval_minutes IS 'Minutes each reading covers: 30 for half-hourly meters, 60 for hourly ones (the Cambridge files), 1440 for one reading a UK day; NULL for activity records that are not an interval series (bills, travel, refrigerant top-ups), which have no coverage. A divisor of 60, or 1440, so that every UK day (23, 24 or 25 hours) holds a whole number of periods. Meters made from a file take the source''s interval_minutes option.';
COMMENT ON COLUMN car.meter.installed_on IS 'First UK day the meter is expected to report; NULL: the day of its first reading.';
COMMENT ON COLUMN car.meter.removed_on IS 'Last UK day the meter is expected to report (removed, de-energised, replaced); NULL: still expected today.';

ALTER TABLE car.emission_daily ADD COLUMN quantity_estimated float8 NOT NULL DEFAULT 0;
ALTER TABLE car.emission_daily ADD COLUMN periods_actual int NOT NULL DEFAULT 0;
ALTER TABLE car.emission_daily ADD COLUMN periods_estimated int NOT NULL DEFAULT 0;
ALTER TABLE car.emission_daily ADD COLUMN file_ids int[];
COMMENT ON COLUMN car.emission_daily.quantity IS 'The day''s summed readings, actual and estimated, in unit (the same on every component row of a meter-day).';
COMMENT ON COLUMN car.emission_daily.quantity_estimated IS 'Of quantity, what estimated readings make up, in unit (priced like actual readings).';
COMMENT ON COLUMN car.emission_daily.periods_actual IS 'Readings of the day with quality actual (periods received).';
COMMENT ON COLUMN car.emission_daily.periods_estimated IS 'Readings of the day with quality estimated.';
COMMENT ON COLUMN car.emission_daily.file_ids IS 'The car.source_file ids whose readings make up the day (estimates and readings written by hand have none), in no particular order.';
-- the new columns are filled by the next refresh: a full one
UPDATE car.refresh_state SET full_needed = true;

-- The periods a UK local day (Europe/London: 23, 24 or 25 hours) holds.
CREATE FUNCTION car.periods_in(interval_minutes int, first_day date, last_day date) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN last_day < first_day THEN 0
                WHEN interval_minutes = 1440 THEN last_day - first_day + 1
                ELSE (extract(epoch FROM ((last_day + 1)::timestamp AT TIME ZONE 'Europe/London')
                                         - (first_day::timestamp AT TIME ZONE 'Europe/London'))::bigint
                      / 60 / interval_minutes) END;
COMMENT ON FUNCTION car.periods_in(int, date, date) IS 'Periods of interval_minutes in the UK local days first_day..last_day (Europe/London: a day has 46, 48 or 50 half-hours, 23, 24 or 25 hours); 0 when last_day is before first_day. interval_minutes must be a divisor of 60 or 1440 (car.meter.interval_minutes).';

-- The UK days a meter is expected to report: from its installation (or first
-- reading) to its removal (or today, or its last reading if that is later).
CREATE VIEW car.meter_span WITH (security_invoker = true) AS
SELECT m.id AS meter_id, m.site_id, m.activity, m.unit, m.interval_minutes,
       coalesce(m.installed_on, (f.ts AT TIME ZONE 'Europe/London')::date) AS first_day,
       coalesce(m.removed_on, greatest((now() AT TIME ZONE 'Europe/London')::date,
                                       (l.ts AT TIME ZONE 'Europe/London')::date)) AS last_day
FROM car.meter m
LEFT JOIN LATERAL (SELECT r.ts FROM car.reading r WHERE r.meter_id = m.id ORDER BY r.ts LIMIT 1) f ON true
LEFT JOIN LATERAL (SELECT r.ts FROM car.reading r WHERE r.meter_id = m.id ORDER BY r.ts DESC LIMIT 1) l ON true
WHERE m.interval_minutes IS NOT NULL AND (m.installed_on IS NOT NULL OR f.ts IS NOT NULL);
COMMENT ON VIEW car.meter_span IS 'Per interval meter, the UK local days it is expected to report: from installed_on (else its first reading) to removed_on (else today, or its last reading when later). Meters without an interval or without readings and installation date are absent.';
COMMENT ON COLUMN car.meter_span.first_day IS 'First UK day expected: car.meter.installed_on, else the day of the first reading.';
COMMENT ON COLUMN car.meter_span.last_day IS 'Last UK day expected: car.meter.removed_on, else the later of today (UK) and the day of the last reading.';

CREATE VIEW car.coverage WITH (security_invoker = true) AS
SELECT st.org AS organisation, m.site_id, st.name AS site, m.meter_id, mt.name AS meter, m.activity,
       d.day::date AS day, m.interval_minutes,
       car.periods_in(m.interval_minutes, d.day::date, d.day::date) AS periods_expected,
       coalesce(r.actual, 0) AS periods_actual,
       coalesce(r.estimated, 0) AS periods_estimated,
       greatest(car.periods_in(m.interval_minutes, d.day::date, d.day::date) - coalesce(r.actual, 0) - coalesce(r.estimated, 0), 0) AS periods_missing,
       (100.0 * coalesce(r.actual, 0) / car.periods_in(m.interval_minutes, d.day::date, d.day::date))::float8 AS coverage,
       (100.0 * coalesce(r.estimated, 0) / car.periods_in(m.interval_minutes, d.day::date, d.day::date))::float8 AS pct_estimated,
       coalesce(r.quantity, 0) AS quantity,
       coalesce(r.quantity_estimated, 0) AS quantity_estimated,
       mt.unit
FROM car.meter_span m
JOIN car.meter mt ON mt.id = m.meter_id
JOIN car.site st ON st.id = m.site_id
CROSS JOIN LATERAL generate_series(m.first_day::timestamp, m.last_day::timestamp, interval '1 day') d(day)
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE x.quality = 'actual') AS actual,
           count(*) FILTER (WHERE x.quality = 'estimated') AS estimated,
           sum(x.quantity) AS quantity,
           coalesce(sum(x.quantity) FILTER (WHERE x.quality = 'estimated'), 0) AS quantity_estimated
    FROM car.reading x
    WHERE x.meter_id = m.meter_id
    AND x.ts >= d.day::date::timestamp AT TIME ZONE 'Europe/London'
    AND x.ts < (d.day::date + 1)::timestamp AT TIME ZONE 'Europe/London') r ON true;
COMMENT ON VIEW car.coverage IS 'Completeness per interval meter and UK local day (Europe/London), from installation (or first reading) to removal (or today): the periods expected (46, 48 or 50 half-hours; 23, 24 or 25 hours), received as actual readings, estimated, and missing. Filter on meter_id and day: each row counts its readings.';
COMMENT ON COLUMN car.coverage.organisation IS 'Organisation owning the site that day.';
COMMENT ON COLUMN car.coverage.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.coverage.site IS 'Site name.';
COMMENT ON COLUMN car.coverage.meter_id IS 'Meter number (car.meter.id).';
COMMENT ON COLUMN car.coverage.meter IS 'Meter name.';
COMMENT ON COLUMN car.coverage.activity IS 'What the meter measures (car.activity key).';
COMMENT ON COLUMN car.coverage.day IS 'UK local day (Europe/London).';
COMMENT ON COLUMN car.coverage.interval_minutes IS 'Minutes a reading covers (car.meter.interval_minutes).';
COMMENT ON COLUMN car.coverage.periods_expected IS 'Periods in the day: 48 half-hours (46 on the spring clock change, 50 on the autumn one), 24 hours (23, 25), 1 for daily meters.';
COMMENT ON COLUMN car.coverage.periods_actual IS 'Periods received as actual readings.';
COMMENT ON COLUMN car.coverage.periods_estimated IS 'Periods filled by estimates (car.estimate, car.bill).';
COMMENT ON COLUMN car.coverage.periods_missing IS 'Periods with no reading at all: expected - actual - estimated (never below 0).';
COMMENT ON COLUMN car.coverage.coverage IS 'Actual readings as a share of the periods expected, % (100 * periods_actual / periods_expected; 6 of 48 half-hours missing: 87.5).';
COMMENT ON COLUMN car.coverage.pct_estimated IS 'Estimated readings as a share of the periods expected, %.';
COMMENT ON COLUMN car.coverage.quantity IS 'The day''s readings, actual and estimated, in unit.';
COMMENT ON COLUMN car.coverage.quantity_estimated IS 'Of quantity, the estimated part, in unit.';
COMMENT ON COLUMN car.coverage.unit IS 'Unit of quantity (the meter''s unit).';


-------------------------------------------------------------------------------
-- Estimation, always labelled (issue 14, point 3): car.estimate() and
-- car.bill() fill missing periods of interval meters with readings of
-- quality estimated, never over an actual reading, and log every call
-- (src/estimate.c).
-------------------------------------------------------------------------------
CREATE TABLE car.estimate_log (
    id                 bigserial PRIMARY KEY,
    meter_id           int NOT NULL,
    period_start       timestamptz NOT NULL,
    period_end         timestamptz NOT NULL CHECK (period_end > period_start),
    method             text NOT NULL CHECK (method IN ('linear', 'same_weekday', 'bill_profile', 'bill_flat')),
    requested_by       text NOT NULL,
    requested_at       timestamptz NOT NULL DEFAULT now(),
    periods_missing    int NOT NULL CHECK (periods_missing >= 0),
    periods_filled     bigint NOT NULL CHECK (periods_filled >= 0),
    periods_replaced   bigint NOT NULL CHECK (periods_replaced >= 0),
    quantity_estimated float8 NOT NULL,
    billed_quantity    float8,
    actual_quantity    float8,
    short_history      int
);
CREATE INDEX estimate_log_meter_idx ON car.estimate_log (meter_id, period_start);
COMMENT ON TABLE car.estimate_log IS 'One row per car.estimate() or car.bill() call: who asked, when, for which meter and window, by which method, and how many periods it filled. Written by those functions only (as car''s owner); row-level security shows the meters a session may see.';
COMMENT ON COLUMN car.estimate_log.meter_id IS 'The meter (car.meter.id).';
COMMENT ON COLUMN car.estimate_log.period_start IS 'Start of the window: the first period considered (UTC instant).';
COMMENT ON COLUMN car.estimate_log.period_end IS 'End of the window (exclusive): the end of its last period.';
COMMENT ON COLUMN car.estimate_log.method IS 'linear, same_weekday, bill_profile (a bill spread by the meter''s own profile) or bill_flat (spread evenly); the readings written carry it in car.reading.method.';
COMMENT ON COLUMN car.estimate_log.requested_by IS 'The role that called the function.';
COMMENT ON COLUMN car.estimate_log.requested_at IS 'When (the transaction''s start).';
COMMENT ON COLUMN car.estimate_log.periods_missing IS 'Periods of the window without an actual reading (missing, or holding an earlier estimate).';
COMMENT ON COLUMN car.estimate_log.periods_filled IS 'Estimated readings written where there was none.';
COMMENT ON COLUMN car.estimate_log.periods_replaced IS 'Earlier estimates replaced.';
COMMENT ON COLUMN car.estimate_log.quantity_estimated IS 'Sum of the estimated readings written, in the meter''s unit.';
COMMENT ON COLUMN car.estimate_log.billed_quantity IS 'car.bill(): the billed total for the window, in the meter''s unit.';
COMMENT ON COLUMN car.estimate_log.actual_quantity IS 'car.bill(): the actual readings already in the window, which count towards the bill.';
COMMENT ON COLUMN car.estimate_log.short_history IS 'same_weekday: periods estimated from fewer than 4 previous weeks (the mean of those found).';
ALTER TABLE car.estimate_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY estimate_log_by_claims ON car.estimate_log USING (car.meter_visible(meter_id));
SELECT pg_catalog.pg_extension_config_dump('car.estimate_log', '');
SELECT pg_catalog.pg_extension_config_dump('car.estimate_log_id_seq', '');

CREATE FUNCTION car.estimate(meter int, "from" timestamptz, "to" timestamptz, method text DEFAULT 'linear')
    RETURNS car.estimate_log
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_estimate';
COMMENT ON FUNCTION car.estimate(int, timestamptz, timestamptz, text) IS 'Fill the periods of an interval meter in [from, to) that have no actual reading, with readings of quality estimated: method linear (a straight line between the actual readings either side of each gap; a gap longer than car.max_interpolation_gap, or without an actual reading on a side, is an error) or same_weekday (the mean of the actual readings at the same UK time on the same weekday over the previous 4 weeks; fewer weeks: the mean of those found; none: an error). Earlier estimates in the window are replaced, actual readings never. from and to fall on the meter''s period grid. Returns the car.estimate_log row of the call.';

CREATE FUNCTION car.bill(meter int, "from" timestamptz, "to" timestamptz, quantity float8)
    RETURNS car.estimate_log
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_bill';
COMMENT ON FUNCTION car.bill(int, timestamptz, timestamptz, float8) IS 'A billed total (in the meter''s unit) for [from, to): the actual readings in the window count towards it, and the rest is spread over the window''s periods without an actual reading, in proportion to the meter''s profile (mean actual reading per weekday and UK time over the 8 weeks before the window; method bill_profile) or, when that history lacks a period or has no positive consumption, evenly (bill_flat). A bill smaller than the actual readings already there is an error. Returns the car.estimate_log row of the call.';


-------------------------------------------------------------------------------
-- Period close and the restatement register (issue 14, point 4): signed
-- figures that never move, and what changed since (src/close.c).
-------------------------------------------------------------------------------
CREATE FUNCTION car.org_visible(org text) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_org_visible';
COMMENT ON FUNCTION car.org_visible(text) IS 'Whether this session may see an organisation''s own figures (closes, baselines, targets, normalisers): its claims grant the organisation (org, orgs) and do not narrow it to some sites (sites), or it is admin (claim admin, role car_admin, car_ingest or car_auditor).';

-- Which organisation owns a site on a day (car.site.org; car.site_org adds
-- periods of ownership below).
CREATE VIEW car.site_ownership WITH (security_invoker = true) AS
SELECT s.id AS site_id, s.org, '-infinity'::date AS valid_from, 'infinity'::date AS valid_to
FROM car.site s;
COMMENT ON VIEW car.site_ownership IS 'Which organisation owns each site over which UK days (valid_from to valid_to, both included): the periods of car.site_org, or, for a site without any, its car.site.org for all time.';

-- Financial years (April to March), named by the calendar year they start in.
CREATE FUNCTION car.financial_year(day date) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN extract(year FROM day - interval '3 months')::int;
COMMENT ON FUNCTION car.financial_year(date) IS 'The UK financial year (1 April to 31 March) holding a day, named by the calendar year it starts in: 2017 for 2017/18.';
CREATE FUNCTION car.financial_year_label(fy int) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN fy::text || '/' || lpad(((fy + 1) % 100)::text, 2, '0');
COMMENT ON FUNCTION car.financial_year_label(int) IS 'How a financial year is written: 2017/18.';
CREATE FUNCTION car.financial_quarter(month date) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (extract(month FROM month)::int + 8) % 12 / 3 + 1;
COMMENT ON FUNCTION car.financial_quarter(date) IS 'The quarter of the financial year holding a day: 1 April-June, 2 July-September, 3 October-December, 4 January-March.';

CREATE FUNCTION car.fy_factor_set(fy int) RETURNS int
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_fy_factor_set';
COMMENT ON FUNCTION car.fy_factor_set(int) IS 'The factor set (car.factor_set.id) a financial year is priced with in the GGC reports: the current set of the calendar year it starts in (FY2017/18: 2017), else the newest earlier one unless car.strict_factor_year; NULL when there is none. The same whatever car.reporting_year_start says.';
CREATE FUNCTION car.fy_factor_year(fy int) RETURNS int
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_fy_factor_year';
COMMENT ON FUNCTION car.fy_factor_year(int) IS 'The year of the factor set car.fy_factor_set(fy) picks (fy, or the earlier year it falls back to); NULL when there is none.';
CREATE FUNCTION car.fy_co2e(kg_co2e float8, factor_set_id int, quantity float8, unit text, activity text, component text, fy int)
    RETURNS float8
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_fy_co2e';
COMMENT ON FUNCTION car.fy_co2e(float8, int, float8, text, text, text, int) IS 'kg CO2e of an emission row under its financial year''s factors (car.fy_factor_set): kg_co2e itself when factor_set_id is that set, else the quantity (in unit) priced again with that set''s row for the component; NULL when the financial year has no set. What car.report_ggc adds up, whatever car.reporting_year_start priced car.emission_daily with.';

CREATE TABLE car.period_close (
    id                   serial PRIMARY KEY,
    org                  text NOT NULL CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    period               daterange NOT NULL
                         CHECK (lower_inc(period) AND NOT upper_inc(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
                                AND extract(day FROM lower(period)) = 1 AND extract(day FROM upper(period)) = 1),
    note                 text,
    closed_at            timestamptz NOT NULL DEFAULT now(),
    closed_by            text NOT NULL,
    reporting_year_start int NOT NULL CHECK (reporting_year_start BETWEEN 1 AND 12),
    lines                bigint NOT NULL,
    kg_co2e              float8 NOT NULL,
    sha256               text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    site_ids             int[] NOT NULL,
    reopened_at          timestamptz,
    reopened_by          text,
    reopen_reason        text,
    CHECK ((reopened_at IS NULL) = (reopened_by IS NULL) AND (reopened_at IS NULL) = (reopen_reason IS NULL))
);
CREATE INDEX period_close_org_idx ON car.period_close (org);
COMMENT ON TABLE car.period_close IS 'Signed reporting periods (car.close_period): an organisation''s figures for whole months, as reported when signed, kept in car.closed_emission and read by every report instead of the live figures. Written by car.close_period() and car.reopen_period() only.';
COMMENT ON COLUMN car.period_close.org IS 'The organisation whose figures were signed.';
COMMENT ON COLUMN car.period_close.period IS 'The UK days signed: [first day of the first month, first day after the last month).';
COMMENT ON COLUMN car.period_close.note IS 'What the signer wrote (e.g. "GGC return FY2021/22, approved by the Board").';
COMMENT ON COLUMN car.period_close.closed_at IS 'When it was signed.';
COMMENT ON COLUMN car.period_close.closed_by IS 'The role that signed it.';
COMMENT ON COLUMN car.period_close.reporting_year_start IS 'car.reporting_year_start in force when signed: the factor-year rule kg_co2e was priced under (fy_kg_co2e follows the financial-year rule).';
COMMENT ON COLUMN car.period_close.lines IS 'Emission rows signed (car.closed_emission: per meter, UK day and component).';
COMMENT ON COLUMN car.period_close.kg_co2e IS 'Their total, kg CO2e, all scopes and components.';
COMMENT ON COLUMN car.period_close.sha256 IS 'SHA-256 (hex) of the close''s canonical text: README, "Period close", says how to recompute it in plain SQL from the closed_* tables.';
COMMENT ON COLUMN car.period_close.site_ids IS 'The sites whose figures were signed.';
COMMENT ON COLUMN car.period_close.reopened_at IS 'When it was reopened (car.reopen_period); NULL while in force. A reopened close is kept, with its figures, for the record.';
COMMENT ON COLUMN car.period_close.reopened_by IS 'The role that reopened it (a car_admin).';
COMMENT ON COLUMN car.period_close.reopen_reason IS 'Why it was reopened.';

CREATE TABLE car.closed_emission (
    close_id           int NOT NULL REFERENCES car.period_close (id),
    org                text NOT NULL,
    site_id            int NOT NULL,
    site               text,
    meter_id           int NOT NULL,
    day                date NOT NULL,
    month              date NOT NULL,
    activity           text NOT NULL,
    scope              int,
    component          text NOT NULL,
    unit               text NOT NULL,
    quantity           float8 NOT NULL,
    quantity_estimated float8 NOT NULL,
    periods_actual     int NOT NULL,
    periods_estimated  int NOT NULL,
    kg_co2e            float8,
    kg_co2             float8,
    kg_ch4             float8,
    kg_n2o             float8,
    fy_kg_co2e         float8,
    factor_set_id      int,
    factor_year        int,
    factor_id          bigint,
    fy_factor_set_id   int,
    fy_factor_year     int,
    file_ids           int[] NOT NULL,
    PRIMARY KEY (close_id, meter_id, day, component)
);
CREATE INDEX closed_emission_month_idx ON car.closed_emission (org, month);
COMMENT ON TABLE car.closed_emission IS 'The figures of each period close as signed: the car.emission_daily rows of the organisation''s days in the period, per meter, UK day and component. The reports read these for closed months.';
COMMENT ON COLUMN car.closed_emission.close_id IS 'The close (car.period_close.id).';
COMMENT ON COLUMN car.closed_emission.org IS 'The organisation that owned the site that day.';
COMMENT ON COLUMN car.closed_emission.site IS 'The site''s name when signed.';
COMMENT ON COLUMN car.closed_emission.quantity IS 'The day''s readings, actual and estimated, in unit.';
COMMENT ON COLUMN car.closed_emission.quantity_estimated IS 'Of quantity, the estimated part.';
COMMENT ON COLUMN car.closed_emission.periods_actual IS 'Actual readings of the day.';
COMMENT ON COLUMN car.closed_emission.periods_estimated IS 'Estimated readings of the day.';
COMMENT ON COLUMN car.closed_emission.kg_co2e IS 'kg CO2e of the component as signed (the factor-year rule of car.period_close.reporting_year_start).';
COMMENT ON COLUMN car.closed_emission.fy_kg_co2e IS 'kg CO2e of the component under the financial year''s factors (car.fy_co2e), as car.report_ggc shows it.';
COMMENT ON COLUMN car.closed_emission.factor_set_id IS 'The factor set that priced kg_co2e.';
COMMENT ON COLUMN car.closed_emission.factor_year IS 'Its year.';
COMMENT ON COLUMN car.closed_emission.factor_id IS 'The published factor row (car.factor) behind kg_co2e.';
COMMENT ON COLUMN car.closed_emission.fy_factor_set_id IS 'The factor set that priced fy_kg_co2e.';
COMMENT ON COLUMN car.closed_emission.fy_factor_year IS 'Its year.';
COMMENT ON COLUMN car.closed_emission.file_ids IS 'The files (car.source_file) whose readings made the day, ascending.';

CREATE TABLE car.closed_coverage (
    close_id         int NOT NULL REFERENCES car.period_close (id),
    org              text NOT NULL,
    site_id          int NOT NULL,
    meter_id         int NOT NULL,
    activity         text NOT NULL,
    unit             text NOT NULL,
    month            date NOT NULL,
    periods_expected bigint NOT NULL,
    PRIMARY KEY (close_id, meter_id, month)
);
COMMENT ON TABLE car.closed_coverage IS 'For each period close, the periods each interval meter was expected to report per month when signed: the denominators of the signed coverage figures.';
COMMENT ON COLUMN car.closed_coverage.periods_expected IS 'Periods expected in the month (car.periods_in over the meter''s days of the month while the organisation owned its site).';

CREATE TABLE car.closed_factor_set (
    close_id  int NOT NULL REFERENCES car.period_close (id),
    org       text NOT NULL,
    set_id    int NOT NULL,
    publisher text,
    year      int NOT NULL,
    revision  int NOT NULL,
    title     text,
    sha256    text NOT NULL,
    PRIMARY KEY (close_id, set_id)
);
COMMENT ON TABLE car.closed_factor_set IS 'The factor sets behind each period close''s figures (kg_co2e and fy_kg_co2e), as they were: a set deleted later stays named here.';
COMMENT ON COLUMN car.closed_factor_set.sha256 IS 'SHA-256 of the official file the set was loaded from.';

CREATE TABLE car.closed_file (
    close_id    int NOT NULL REFERENCES car.period_close (id),
    org         text NOT NULL,
    file_id     int NOT NULL,
    source      text NOT NULL,
    name        text NOT NULL,
    sha256      text NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (close_id, file_id)
);
COMMENT ON TABLE car.closed_file IS 'The files (car.source_file) whose readings make each period close''s figures, as they were when signed.';
COMMENT ON COLUMN car.closed_file.sha256 IS 'SHA-256 of the file''s bytes.';

CREATE TABLE car.period_close_event (
    id       bigserial PRIMARY KEY,
    close_id int NOT NULL REFERENCES car.period_close (id),
    org      text NOT NULL,
    event    text NOT NULL CHECK (event IN ('closed', 'reopened')),
    at       timestamptz NOT NULL DEFAULT now(),
    by       text NOT NULL,
    note     text
);
COMMENT ON TABLE car.period_close_event IS 'The record of every close and reopening: who, when, and the note or reason.';
COMMENT ON COLUMN car.period_close_event.note IS 'The close''s note, or the reason given for reopening.';

ALTER TABLE car.period_close ENABLE ROW LEVEL SECURITY;
CREATE POLICY period_close_by_claims ON car.period_close USING (car.org_visible(org));
ALTER TABLE car.closed_emission ENABLE ROW LEVEL SECURITY;
CREATE POLICY closed_emission_by_claims ON car.closed_emission USING (car.org_visible(org) OR car.site_visible(site_id));
ALTER TABLE car.closed_coverage ENABLE ROW LEVEL SECURITY;
CREATE POLICY closed_coverage_by_claims ON car.closed_coverage USING (car.org_visible(org) OR car.site_visible(site_id));
ALTER TABLE car.closed_factor_set ENABLE ROW LEVEL SECURITY;
CREATE POLICY closed_factor_set_by_claims ON car.closed_factor_set USING (car.org_visible(org));
ALTER TABLE car.closed_file ENABLE ROW LEVEL SECURITY;
CREATE POLICY closed_file_by_claims ON car.closed_file USING (car.org_visible(org));
ALTER TABLE car.period_close_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY period_close_event_by_claims ON car.period_close_event USING (car.org_visible(org));
SELECT pg_catalog.pg_extension_config_dump('car.period_close', '');
SELECT pg_catalog.pg_extension_config_dump('car.period_close_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.closed_emission', '');
SELECT pg_catalog.pg_extension_config_dump('car.closed_coverage', '');
SELECT pg_catalog.pg_extension_config_dump('car.closed_factor_set', '');
SELECT pg_catalog.pg_extension_config_dump('car.closed_file', '');
SELECT pg_catalog.pg_extension_config_dump('car.period_close_event', '');
SELECT pg_catalog.pg_extension_config_dump('car.period_close_event_id_seq', '');

CREATE FUNCTION car.closed_months(OUT close_id int, OUT org text, OUT month date) RETURNS SETOF record
    LANGUAGE c STABLE PARALLEL RESTRICTED ROWS 100 AS 'MODULE_PATHNAME', 'car_closed_months';
COMMENT ON FUNCTION car.closed_months() IS 'The months of the period closes in force that this session may see (the organisation''s, or holding a site it may see), one row per close and month: the reports read these organisation-months from the signed figures.';

CREATE FUNCTION car.close_period(org text, "from" date, "to" date, note text DEFAULT NULL) RETURNS car.period_close
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_close_period';
COMMENT ON FUNCTION car.close_period(text, date, date, text) IS 'Sign an organisation''s figures for whole months, from the first day of a month to the last day of a month (a quarter, a financial year): refreshes car.emission_daily, then keeps the figures as reported (per site, meter, UK day, scope, component and activity), the periods expected, the factor sets and the files behind them, and a SHA-256 of them, in car.period_close and the closed_* tables. Every report reads the signed figures from then on; car.restatement shows what changed since. A period overlapping one in force for the organisation is refused (reopen it first). For car_admin. Returns the car.period_close row.';
CREATE FUNCTION car.reopen_period(close_id int, reason text) RETURNS car.period_close
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_reopen_period';
COMMENT ON FUNCTION car.reopen_period(int, text) IS 'Reopen a signed period: its months read live figures again and may be signed anew. Needs car_admin and a reason; the close is kept, marked reopened, and the reopening is recorded in car.period_close_event.';

-- Internal: every car.emission_daily row with what the reports derive from it.
CREATE VIEW car.emission_live WITH (security_invoker = true) AS
SELECT o.org, e.site_id, e.meter_id, e.day, e.month, e.activity, e.scope, e.component, e.unit,
       e.quantity, e.quantity_estimated, e.periods_actual, e.periods_estimated,
       e.kg_co2e, e.kg_co2, e.kg_ch4, e.kg_n2o, e.factor_set_id, e.factor_year, e.factor_id, e.file_ids,
       car.fy_co2e(e.kg_co2e, e.factor_set_id, e.quantity, e.unit, e.activity, e.component, car.financial_year(e.day)) AS fy_kg_co2e,
       car.fy_factor_set(car.financial_year(e.day)) AS fy_factor_set_id,
       car.fy_factor_year(car.financial_year(e.day)) AS fy_factor_year
FROM car.emission_daily e
LEFT JOIN car.site_ownership o ON o.site_id = e.site_id AND e.day >= o.valid_from AND e.day <= o.valid_to;
COMMENT ON VIEW car.emission_live IS 'Internal: the rows of car.emission_daily with the organisation owning the site that day and the kg CO2e under the financial year''s factors, before any period close.';

-- Internal: the rows every report adds up: live ones, except for signed
-- organisation-months, which come from the signed copy.
CREATE VIEW car.emission_reported WITH (security_invoker = true) AS
SELECT r.*, r.component = coalesce(p.kind, r.activity) AS primary_row,
       CASE WHEN r.quantity <> 0 THEN r.kg_co2e * r.quantity_estimated / r.quantity ELSE 0 END AS kg_co2e_estimated,
       CASE WHEN r.quantity <> 0 THEN r.fy_kg_co2e * r.quantity_estimated / r.quantity ELSE 0 END AS fy_kg_co2e_estimated
FROM (
    SELECT l.org, l.site_id, l.meter_id, l.day, l.month, l.activity, l.scope, l.component, l.unit,
           l.quantity, l.quantity_estimated, l.periods_actual, l.periods_estimated,
           l.kg_co2e, l.kg_co2, l.kg_ch4, l.kg_n2o, l.factor_set_id, l.factor_year, l.factor_id, l.file_ids,
           l.fy_kg_co2e, l.fy_factor_set_id, l.fy_factor_year, NULL::int AS close_id
    FROM car.emission_live l
    WHERE NOT EXISTS (SELECT 1 FROM car.closed_months() c WHERE c.org = l.org AND c.month = l.month)
    UNION ALL
    SELECT c.org, c.site_id, c.meter_id, c.day, c.month, c.activity, c.scope, c.component, c.unit,
           c.quantity, c.quantity_estimated, c.periods_actual, c.periods_estimated,
           c.kg_co2e, c.kg_co2, c.kg_ch4, c.kg_n2o, c.factor_set_id, c.factor_year, c.factor_id, c.file_ids,
           c.fy_kg_co2e, c.fy_factor_set_id, c.fy_factor_year, c.close_id
    FROM car.closed_emission c
    WHERE c.close_id IN (SELECT m.close_id FROM car.closed_months() m)) r
LEFT JOIN car.activity_primary_component p ON p.activity = r.activity;
COMMENT ON VIEW car.emission_reported IS 'Internal: the emission rows the reports add up: car.emission_daily''s, except for organisation-months signed by car.close_period, which come from car.closed_emission (close_id says which close). With whether the row carries the meter''s own use (primary_row: quantities are counted once) and the kg CO2e of its estimated part.';

-- Internal: the periods each interval meter is expected to report per month,
-- for the organisation owning its site those days.
CREATE VIEW car.expected_live WITH (security_invoker = true) AS
SELECT o.org, m.site_id, m.meter_id, m.activity, m.unit, mo.month::date AS month,
       car.periods_in(m.interval_minutes,
                      greatest(mo.month::date, m.first_day, o.valid_from),
                      least((mo.month + interval '1 month - 1 day')::date, m.last_day, o.valid_to)) AS periods_expected
FROM car.meter_span m
JOIN car.site_ownership o ON o.site_id = m.site_id AND o.valid_from <= m.last_day AND o.valid_to >= m.first_day
CROSS JOIN LATERAL generate_series(date_trunc('month', greatest(m.first_day, o.valid_from)::timestamp),
                                   least(m.last_day, o.valid_to)::timestamp, interval '1 month') mo(month);
COMMENT ON VIEW car.expected_live IS 'Internal: per interval meter, owning organisation and month, the periods expected (the days of car.meter_span the organisation owned the site, car.periods_in).';
CREATE VIEW car.expected_reported WITH (security_invoker = true) AS
SELECT x.org, x.site_id, x.meter_id, x.activity, x.unit, x.month, x.periods_expected
FROM car.expected_live x
WHERE NOT EXISTS (SELECT 1 FROM car.closed_months() c WHERE c.org = x.org AND c.month = x.month)
UNION ALL
SELECT c.org, c.site_id, c.meter_id, c.activity, c.unit, c.month, c.periods_expected
FROM car.closed_coverage c
WHERE c.close_id IN (SELECT m.close_id FROM car.closed_months() m);
COMMENT ON VIEW car.expected_reported IS 'Internal: the periods expected per interval meter and month that the reports'' coverage divides by: live, or as signed for closed organisation-months.';

-------------------------------------------------------------------------------
-- The reports read emission_reported (signed figures for closed months) and
-- carry coverage and pct_estimated on every line.  Their expected periods are
-- joined on keys that make the join removable when a query does not ask for
-- coverage (org NULL reads as '').
-------------------------------------------------------------------------------
CREATE OR REPLACE VIEW car.report_monthly WITH (security_invoker = true) AS
SELECT l.organisation, l.site_id, l.site, l.month, l.activity, l.unit, l.quantity, l.kg_co2e, l.kg_co2e / 1000 AS tonnes_co2e,
       l.scope1_kg_co2e, l.scope2_kg_co2e, l.scope3_kg_co2e, l.meters, l.days_with_data, l.factor_years,
       (100.0 * l.periods_actual / nullif(x.periods_expected, 0))::float8 AS coverage,
       (100.0 * l.kg_co2e_estimated / nullif(l.kg_co2e, 0))::float8 AS pct_estimated
FROM (
    SELECT e.org AS organisation, e.site_id, s.name AS site, e.month, e.activity, e.unit,
           sum(e.quantity) FILTER (WHERE e.primary_row) AS quantity,
           sum(e.kg_co2e) AS kg_co2e,
           coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 1), 0) AS scope1_kg_co2e,
           coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 2), 0) AS scope2_kg_co2e,
           coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 3), 0) AS scope3_kg_co2e,
           count(DISTINCT e.meter_id) AS meters,
           count(DISTINCT e.day) AS days_with_data,
           string_agg(DISTINCT e.factor_year::text, ', ') AS factor_years,
           sum(e.periods_actual) FILTER (WHERE e.primary_row) AS periods_actual,
           sum(e.kg_co2e_estimated) AS kg_co2e_estimated
    FROM car.emission_reported e
    LEFT JOIN car.site s ON s.id = e.site_id
    GROUP BY e.org, e.site_id, s.name, e.month, e.activity, e.unit) l
LEFT JOIN (SELECT coalesce(org, '') AS org, site_id, month, activity, unit, sum(periods_expected) AS periods_expected
           FROM car.expected_reported GROUP BY coalesce(org, ''), site_id, month, activity, unit) x
    ON x.org = coalesce(l.organisation, '') AND x.site_id = l.site_id AND x.month = l.month
    AND x.activity = l.activity AND x.unit = l.unit;
COMMENT ON COLUMN car.report_monthly.organisation IS 'Organisation owning the site in the month.';
COMMENT ON COLUMN car.report_monthly.coverage IS 'Completeness of the line''s interval meters, %: actual readings received / periods expected in the month (car.coverage). NULL when none of its meters is an interval meter. Signed months (car.close_period) show it as signed.';
COMMENT ON COLUMN car.report_monthly.pct_estimated IS 'Share of kg_co2e that comes from estimated readings (car.estimate, car.bill), %.';

CREATE OR REPLACE VIEW car.report_yearly WITH (security_invoker = true) AS
SELECT l.organisation, l.site_id, l.site, l.year, car.reporting_year_label(l.year) AS reporting_year, l.activity, l.unit,
       l.quantity, l.kg_co2e, l.kg_co2e / 1000 AS tonnes_co2e,
       l.scope1_kg_co2e, l.scope2_kg_co2e, l.scope3_kg_co2e, l.meters, l.days_with_data, l.factor_years,
       (100.0 * l.periods_actual / nullif(x.periods_expected, 0))::float8 AS coverage,
       (100.0 * l.kg_co2e_estimated / nullif(l.kg_co2e, 0))::float8 AS pct_estimated
FROM (
    SELECT e.org AS organisation, e.site_id, s.name AS site, car.reporting_year(e.month) AS year, e.activity, e.unit,
           sum(e.quantity) FILTER (WHERE e.primary_row) AS quantity,
           sum(e.kg_co2e) AS kg_co2e,
           coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 1), 0) AS scope1_kg_co2e,
           coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 2), 0) AS scope2_kg_co2e,
           coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 3), 0) AS scope3_kg_co2e,
           count(DISTINCT e.meter_id) AS meters,
           count(DISTINCT e.day) AS days_with_data,
           string_agg(DISTINCT e.factor_year::text, ', ') AS factor_years,
           sum(e.periods_actual) FILTER (WHERE e.primary_row) AS periods_actual,
           sum(e.kg_co2e_estimated) AS kg_co2e_estimated
    FROM car.emission_reported e
    LEFT JOIN car.site s ON s.id = e.site_id
    GROUP BY e.org, e.site_id, s.name, car.reporting_year(e.month), e.activity, e.unit) l
LEFT JOIN (SELECT coalesce(org, '') AS org, site_id, car.reporting_year(month) AS year, activity, unit,
                  sum(periods_expected) AS periods_expected
           FROM car.expected_reported GROUP BY coalesce(org, ''), site_id, car.reporting_year(month), activity, unit) x
    ON x.org = coalesce(l.organisation, '') AND x.site_id = l.site_id AND x.year = l.year
    AND x.activity = l.activity AND x.unit = l.unit;
COMMENT ON COLUMN car.report_yearly.organisation IS 'Organisation owning the site in the year.';
COMMENT ON COLUMN car.report_yearly.coverage IS 'Completeness of the line''s interval meters, %: actual readings received / periods expected in the year (car.coverage). NULL when none of its meters is an interval meter.';
COMMENT ON COLUMN car.report_yearly.pct_estimated IS 'Share of kg_co2e that comes from estimated readings (car.estimate, car.bill), %.';

CREATE OR REPLACE VIEW car.report_scope WITH (security_invoker = true) AS
SELECT l.organisation, l.site_id, l.site, l.month, l.scope, l.activity, l.component, l.kg_co2e, l.kg_co2e / 1000 AS tonnes_co2e,
       l.kg_co2, l.kg_ch4, l.kg_n2o,
       (100.0 * a.periods_actual / nullif(x.periods_expected, 0))::float8 AS coverage,
       (100.0 * l.kg_co2e_estimated / nullif(l.kg_co2e, 0))::float8 AS pct_estimated
FROM (
    SELECT e.org AS organisation, e.site_id, s.name AS site, e.month, e.scope, e.activity, e.component,
           sum(e.kg_co2e) AS kg_co2e, sum(e.kg_co2) AS kg_co2, sum(e.kg_ch4) AS kg_ch4, sum(e.kg_n2o) AS kg_n2o,
           sum(e.kg_co2e_estimated) AS kg_co2e_estimated
    FROM car.emission_reported e
    LEFT JOIN car.site s ON s.id = e.site_id
    GROUP BY e.org, e.site_id, s.name, e.month, e.scope, e.activity, e.component) l
LEFT JOIN (SELECT coalesce(org, '') AS org, site_id, month, activity, sum(periods_actual) AS periods_actual
           FROM car.emission_reported WHERE primary_row GROUP BY coalesce(org, ''), site_id, month, activity) a
    ON a.org = coalesce(l.organisation, '') AND a.site_id = l.site_id AND a.month = l.month AND a.activity = l.activity
LEFT JOIN (SELECT coalesce(org, '') AS org, site_id, month, activity, sum(periods_expected) AS periods_expected
           FROM car.expected_reported GROUP BY coalesce(org, ''), site_id, month, activity) x
    ON x.org = coalesce(l.organisation, '') AND x.site_id = l.site_id AND x.month = l.month AND x.activity = l.activity;
COMMENT ON COLUMN car.report_scope.organisation IS 'Organisation owning the site in the month.';
COMMENT ON COLUMN car.report_scope.coverage IS 'Completeness of the activity''s interval meters at the site in the month, %: actual readings received / periods expected (the same on every component line of the activity). NULL when none of its meters is an interval meter.';
COMMENT ON COLUMN car.report_scope.pct_estimated IS 'Share of kg_co2e that comes from estimated readings (car.estimate, car.bill), %.';

CREATE OR REPLACE VIEW car.report_intensity WITH (security_invoker = true) AS
SELECT l.organisation, l.site_id, l.site, l.year, car.reporting_year_label(l.year) AS reporting_year, l.floor_area_m2,
       l.kg_co2e, l.kg_co2e / 1000 AS tonnes_co2e, (l.kg_co2e / l.floor_area_m2)::float8 AS kg_co2e_per_m2,
       (100.0 * l.periods_actual / nullif(x.periods_expected, 0))::float8 AS coverage,
       (100.0 * l.kg_co2e_estimated / nullif(l.kg_co2e, 0))::float8 AS pct_estimated
FROM (
    SELECT e.org AS organisation, e.site_id, s.name AS site, car.reporting_year(e.month) AS year, s.floor_area_m2,
           sum(e.kg_co2e) AS kg_co2e,
           sum(e.periods_actual) FILTER (WHERE e.primary_row) AS periods_actual,
           sum(e.kg_co2e_estimated) AS kg_co2e_estimated
    FROM car.emission_reported e
    LEFT JOIN car.site s ON s.id = e.site_id
    GROUP BY e.org, e.site_id, s.name, car.reporting_year(e.month), s.floor_area_m2) l
LEFT JOIN (SELECT coalesce(org, '') AS org, site_id, car.reporting_year(month) AS year, sum(periods_expected) AS periods_expected
           FROM car.expected_reported GROUP BY coalesce(org, ''), site_id, car.reporting_year(month)) x
    ON x.org = coalesce(l.organisation, '') AND x.site_id = l.site_id AND x.year = l.year;
COMMENT ON COLUMN car.report_intensity.organisation IS 'Organisation owning the site in the year.';
COMMENT ON COLUMN car.report_intensity.coverage IS 'Completeness of the site''s interval meters, %: actual readings received / periods expected in the year. NULL when the site has no interval meter.';
COMMENT ON COLUMN car.report_intensity.pct_estimated IS 'Share of kg_co2e that comes from estimated readings (car.estimate, car.bill), %.';

-- The token-taking report functions return the views' new columns too.
CREATE OR REPLACE FUNCTION car.report_monthly_for(token text) RETURNS SETOF car.report_monthly
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_monthly') AS r(organisation text, site_id int, site text, month date,
          activity text, unit text, quantity float8, kg_co2e float8, tonnes_co2e float8, scope1_kg_co2e float8,
          scope2_kg_co2e float8, scope3_kg_co2e float8, meters bigint, days_with_data bigint, factor_years text,
          coverage float8, pct_estimated float8) $$;
CREATE OR REPLACE FUNCTION car.report_yearly_for(token text) RETURNS SETOF car.report_yearly
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_yearly') AS r(organisation text, site_id int, site text, year int,
          reporting_year text, activity text, unit text, quantity float8, kg_co2e float8, tonnes_co2e float8,
          scope1_kg_co2e float8, scope2_kg_co2e float8, scope3_kg_co2e float8, meters bigint, days_with_data bigint,
          factor_years text, coverage float8, pct_estimated float8) $$;
CREATE OR REPLACE FUNCTION car.report_scope_for(token text) RETURNS SETOF car.report_scope
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_scope') AS r(organisation text, site_id int, site text, month date,
          scope int, activity text, component text, kg_co2e float8, tonnes_co2e float8, kg_co2 float8, kg_ch4 float8,
          kg_n2o float8, coverage float8, pct_estimated float8) $$;

-------------------------------------------------------------------------------
-- The restatement register: for every line of every close in force, live
-- minus signed, with the cause.
-------------------------------------------------------------------------------
CREATE VIEW car.restatement WITH (security_invoker = true) AS
WITH months AS (SELECT * FROM car.closed_months()),
signed AS (
    SELECT c.* FROM car.closed_emission c WHERE c.close_id IN (SELECT close_id FROM months)),
live AS (
    SELECT m.close_id, l.* FROM car.emission_live l JOIN months m ON m.org = l.org AND m.month = l.month),
pairs AS (
    SELECT coalesce(s.close_id, l.close_id) AS close_id, coalesce(s.org, l.org) AS org,
           coalesce(s.site_id, l.site_id) AS site_id, coalesce(s.month, l.month) AS month,
           coalesce(s.activity, l.activity) AS activity, coalesce(s.scope, l.scope) AS scope,
           coalesce(s.component, l.component) AS component,
           s.kg_co2e AS signed_kg, l.kg_co2e AS live_kg, s.fy_kg_co2e AS signed_fy_kg, l.fy_kg_co2e AS live_fy_kg,
           l.factor_set_id AS live_set,
           CASE WHEN s.meter_id IS NULL THEN 'added'
                WHEN l.meter_id IS NULL THEN 'removed' END AS presence,
           s.meter_id IS NOT NULL AND l.meter_id IS NOT NULL AND l.factor_set_id IS DISTINCT FROM s.factor_set_id AS revised,
           ARRAY(SELECT f FROM unnest(l.file_ids) f EXCEPT SELECT f FROM unnest(s.file_ids) f) AS new_files,
           coalesce(l.periods_estimated, 0) - coalesce(s.periods_estimated, 0) AS more_estimated,
           l.quantity_estimated IS DISTINCT FROM s.quantity_estimated AS estimate_changed,
           l.quantity IS DISTINCT FROM s.quantity AS quantity_changed,
           l.kg_co2e IS DISTINCT FROM s.kg_co2e AS kg_changed
    FROM signed s
    FULL JOIN live l ON l.close_id = s.close_id AND l.meter_id = s.meter_id AND l.day = s.day AND l.component = s.component),
lines AS (
    SELECT close_id, org, site_id, month, activity, scope, component,
           coalesce(sum(signed_kg), 0) AS signed_kg_co2e,
           coalesce(sum(live_kg), 0) AS live_kg_co2e,
           coalesce(sum(coalesce(live_kg, 0) - coalesce(signed_kg, 0)), 0) AS delta_kg_co2e,
           coalesce(sum(signed_fy_kg), 0) AS signed_fy_kg_co2e,
           coalesce(sum(live_fy_kg), 0) AS live_fy_kg_co2e,
           coalesce(sum(coalesce(live_fy_kg, 0) - coalesce(signed_fy_kg, 0)), 0) AS delta_fy_kg_co2e,
           bool_or(revised) AS revised,
           bool_or(cardinality(new_files) > 0 AND more_estimated < 0) AS estimate_replaced,
           bool_or(cardinality(new_files) > 0 AND more_estimated >= 0) AS late_file,
           bool_or(cardinality(new_files) = 0 AND estimate_changed AND presence IS DISTINCT FROM 'removed') AS estimate_changed,
           bool_or(cardinality(new_files) = 0 AND NOT estimate_changed AND quantity_changed
                   AND presence IS DISTINCT FROM 'removed') AS edited,
           bool_or(presence = 'removed') AS removed,
           bool_or(kg_changed AND NOT revised AND NOT quantity_changed AND presence IS NULL) AS catalogue,
           array_agg(DISTINCT live_set ORDER BY live_set) FILTER (WHERE revised) AS factor_set_ids
    FROM pairs
    GROUP BY close_id, org, site_id, month, activity, scope, component),
files AS (
    SELECT p.close_id, p.org, p.site_id, p.month, p.activity, p.scope, p.component, array_agg(DISTINCT f ORDER BY f) AS file_ids
    FROM pairs p CROSS JOIN LATERAL unnest(p.new_files) f
    GROUP BY p.close_id, p.org, p.site_id, p.month, p.activity, p.scope, p.component)
SELECT l.close_id, l.org AS organisation, l.site_id, s.name AS site, l.month, l.activity, l.scope, l.component,
       l.signed_kg_co2e, l.live_kg_co2e, l.delta_kg_co2e,
       (100 * l.delta_kg_co2e / nullif(l.signed_kg_co2e, 0))::float8 AS delta_pct,
       l.delta_kg_co2e <> 0 AND abs(l.delta_kg_co2e) >= abs(l.signed_kg_co2e)
           * coalesce(nullif(current_setting('car.significance_threshold', true), '')::float8, 0.05) AS significant,
       array_remove(ARRAY[CASE WHEN l.revised THEN 'factor revision' END,
                          CASE WHEN l.estimate_replaced THEN 'estimate replaced by actual' END,
                          CASE WHEN l.late_file THEN 'late or replaced file' END,
                          CASE WHEN l.estimate_changed THEN 'estimate added or changed' END,
                          CASE WHEN l.edited THEN 'readings edited or added' END,
                          CASE WHEN l.removed THEN 'readings removed' END,
                          CASE WHEN l.catalogue THEN 'catalogue change' END], NULL) AS causes,
       coalesce(l.factor_set_ids, '{}') AS factor_set_ids,
       coalesce(f.file_ids, '{}') AS file_ids,
       l.signed_fy_kg_co2e, l.live_fy_kg_co2e, l.delta_fy_kg_co2e
FROM lines l
LEFT JOIN files f ON f.close_id = l.close_id AND f.org = l.org AND f.site_id = l.site_id AND f.month = l.month
     AND f.activity = l.activity AND f.scope IS NOT DISTINCT FROM l.scope AND f.component = l.component
LEFT JOIN car.site s ON s.id = l.site_id;
COMMENT ON VIEW car.restatement IS 'The restatement register: for every line of every period close in force (per close, site, month, activity, scope and component), the live figure minus the signed one, and why it moved: a factor revision (factor_set_ids: the sets now used), a late or replaced file or an estimate replaced by an actual reading (file_ids: the files since), an estimate added or changed, readings edited, added or removed, or a catalogue change. Lines whose change reaches car.significance_threshold of the signed figure are significant. Signed figures themselves never change: the reports keep showing them.';
COMMENT ON COLUMN car.restatement.close_id IS 'The close (car.period_close.id).';
COMMENT ON COLUMN car.restatement.organisation IS 'The organisation whose figures were signed.';
COMMENT ON COLUMN car.restatement.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.restatement.site IS 'Site name.';
COMMENT ON COLUMN car.restatement.month IS 'Calendar month (its first day), in UK local time.';
COMMENT ON COLUMN car.restatement.activity IS 'What was used (car.activity key).';
COMMENT ON COLUMN car.restatement.scope IS 'GHG Protocol scope of the component.';
COMMENT ON COLUMN car.restatement.component IS 'Part of the activity''s emissions: generation, td, wtt_*, combustion...';
COMMENT ON COLUMN car.restatement.signed_kg_co2e IS 'kg CO2e as signed.';
COMMENT ON COLUMN car.restatement.live_kg_co2e IS 'kg CO2e computed from the readings and factors now (car.emission_daily as of the last car.refresh()).';
COMMENT ON COLUMN car.restatement.delta_kg_co2e IS 'live - signed, kg CO2e: the restatement the line would need.';
COMMENT ON COLUMN car.restatement.delta_pct IS '100 * delta / signed, %; NULL when the signed figure is 0.';
COMMENT ON COLUMN car.restatement.significant IS 'abs(delta) / abs(signed) >= car.significance_threshold (a fraction, 0.05 by default), and delta is not 0.';
COMMENT ON COLUMN car.restatement.causes IS 'Why the line moved: factor revision, estimate replaced by actual, late or replaced file, estimate added or changed, readings edited or added, readings removed, catalogue change (empty when it did not).';
COMMENT ON COLUMN car.restatement.factor_set_ids IS 'For a factor revision: the factor sets (car.factor_set.id) the live figure uses instead of the signed ones.';
COMMENT ON COLUMN car.restatement.file_ids IS 'For a late or replaced file, or an estimate replaced by an actual reading: the files (car.source_file.id) that arrived since.';
COMMENT ON COLUMN car.restatement.signed_fy_kg_co2e IS 'kg CO2e as signed under the financial year''s factors (car.report_ggc).';
COMMENT ON COLUMN car.restatement.live_fy_kg_co2e IS 'The same, live.';
COMMENT ON COLUMN car.restatement.delta_fy_kg_co2e IS 'live - signed under the financial year''s factors, kg CO2e.';

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
