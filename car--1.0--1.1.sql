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

-- Sums of readings are taken in numeric, over the shortest decimal of each
-- float8: exact, so a day's quantity is the same whatever the order of the
-- rows and however the refresh groups them (float8 addition is not
-- associative: the full and the incremental refresh differed in the last bit).
CREATE FUNCTION car.float8_decimal(value float8) RETURNS numeric
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'car_float8_decimal';
COMMENT ON FUNCTION car.float8_decimal(float8) IS 'The shortest decimal that reads back as the same float8 (0.1 for the float8 read from "0.1"; 2.0833333333333335 for 25/12), as float8out prints it with extra_float_digits > 0 whatever the session sets. car sums readings as sum(car.float8_decimal(quantity))::float8: numeric addition is exact, so the result does not depend on the order or grouping of the rows, and is the correctly rounded sum of the decimals. Unlike float8::numeric, which keeps 15 significant digits, it loses nothing: car.float8_decimal(x)::float8 = x for every finite x. NaN and infinities give numeric NaN and infinities. No errors.';

-- car.live: the last 15 minutes are read whole even just after UK midnight
-- (1.0 read only the readings since midnight, so from 00:00 to 00:15 kw_now
-- left out those before it), and its sums, like car.live_json's, are exact
-- (car.float8_decimal): the same readings give the same bits in any order.
CREATE OR REPLACE VIEW car.live WITH (security_invoker = true) AS
WITH bounds AS (
    SELECT now() - interval '15 minutes' AS recent,
           date_trunc('day', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London' AS midnight
), r AS (
    SELECT e.* FROM bounds b, car.energy_readings(least(b.recent, b.midnight), now()) e
)
SELECT s.id AS site_id, s.name AS site, s.org AS organisation,
       coalesce(sum(car.float8_decimal(r.kwh)) FILTER (WHERE r.ts >= b.recent), 0)::float8 / 0.25 AS kw_now,
       coalesce(sum(car.float8_decimal(r.kg)) FILTER (WHERE r.ts >= b.recent), 0)::float8 / 0.25 AS kg_co2e_per_hour_now,
       coalesce(sum(car.float8_decimal(r.kwh)) FILTER (WHERE r.ts >= b.midnight), 0)::float8 AS kwh_today,
       coalesce(sum(car.float8_decimal(r.kg)) FILTER (WHERE r.ts >= b.midnight), 0)::float8 AS kg_co2e_today,
       max(r.ts) FILTER (WHERE r.ts >= b.midnight) AS last_reading_at
FROM r JOIN car.site s ON s.id = r.site_id CROSS JOIN bounds b
GROUP BY s.id, s.name, s.org;
COMMENT ON VIEW car.live IS 'Per site, now: power and emission rate over the last 15 minutes (before UK midnight too), energy and emissions since UK midnight, and the last reading today. Energy meters only; a site appears when it has a reading in either span. Sums are exact (car.float8_decimal), whatever the order of the rows.';
COMMENT ON COLUMN car.live.last_reading_at IS 'Start of the latest reading today (NULL when the only readings are from the 15 minutes before UK midnight).';

CREATE OR REPLACE FUNCTION car.live_json("window" interval DEFAULT '1 hour', bucket interval DEFAULT '5 minutes') RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, car
    AS $$
    WITH r AS (
        SELECT site_id, date_bin(bucket, ts, timestamptz '2000-01-01 00:00+00') AS t, kwh, kg
        FROM car.energy_readings(now() - "window", now())
    ), points AS (
        SELECT site_id, t, sum(car.float8_decimal(kwh))::float8 AS kwh, coalesce(sum(car.float8_decimal(kg)), 0)::float8 AS kg
        FROM r GROUP BY site_id, t
    ), hours AS (
        SELECT extract(epoch FROM bucket) / 3600 AS h
    )
    SELECT jsonb_build_object(
        'generated_at', now(),
        'window', "window",
        'bucket', bucket,
        'series', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'site_id', s.id, 'site', s.name, 'organisation', s.org,
                       'points', (SELECT jsonb_agg(jsonb_build_object(
                                      't', p.t, 'kwh', p.kwh, 'kw', p.kwh / hours.h,
                                      'kg_co2e', p.kg, 'kg_co2e_per_hour', p.kg / hours.h) ORDER BY p.t)
                                  FROM points p, hours WHERE p.site_id = s.id))
                   ORDER BY s.id)
            FROM car.site s WHERE s.id IN (SELECT site_id FROM points)), '[]'::jsonb))
    $$;
COMMENT ON FUNCTION car.live_json(interval, interval) IS 'The live data as one JSON document for a chart: per site, a series of points (bucket start t, kWh, kW, kg CO2e, kg CO2e per hour) over the last window. Energy meters only. Each point''s sums are exact (car.float8_decimal), whatever the order of the rows.';

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
-- Factor sets 2016-2018 and the activities the Greening Government
-- Commitments need (issue 14, points 1 and 6).
-------------------------------------------------------------------------------
ALTER TABLE car.factor_set ADD COLUMN rows_skipped_by jsonb;
COMMENT ON COLUMN car.factor_set.rows_skipped_by IS 'The rows without a value and the END row by reason: {"empty": rows without a value, "bound": values published as a bound such as ''< 1'' (not a figure), "end": the END marker row, "text": other text}; rows_unclassified are counted apart. NULL for sets loaded before car 1.1.';
COMMENT ON COLUMN car.factor_set.publisher IS 'BEIS (2016-2022: the 2016-2018 front pages say "produced for BEIS and Defra") or DESNZ (2023 on).';
COMMENT ON TABLE car.factor IS 'Every factor row of every loaded file, value as published: as the cell''s number format shows it (xlsx; 0.1839968181812754 under 0.00000 is 0.184), the text of a CSV, Excel''s 15 digits of a legacy .xls (FreeXL reads no formats). Text verbatim, except that the path labels (scope, level1-level4, column_text) are trimmed of leading and trailing white space (2016-2018 cells carry some, e.g. "R1234yf ").';
COMMENT ON COLUMN car.factor.line IS 'Line (CSV) or row (xlsx, xls) of the file the factor came from.';
COMMENT ON COLUMN car.factor.value IS 'The factor as published (as its cell''s number format shows it): kg of the gas (as CO2e) per unit of uom.';
COMMENT ON TABLE car.activity IS 'Friendly activity keys and the factor path each maps onto. Path columns are case-insensitive LIKE patterns (% for any text); NULL matches anything. A factor year that names its rows differently gets a row in car.activity_path, which then applies instead.';
COMMENT ON FUNCTION car.load_factors(int) IS 'Load the official flat file for that year bundled with car (2016-2018, 2021-2024; 2017 and 2018 as CSVs derived from the official .xls, see README).';

CREATE TABLE car.activity_path (
    activity    text NOT NULL REFERENCES car.activity (key) ON UPDATE CASCADE ON DELETE CASCADE,
    from_year   int NOT NULL CHECK (from_year BETWEEN 1990 AND 2100),
    to_year     int NOT NULL CHECK (to_year BETWEEN 1990 AND 2100),
    level1      text NOT NULL,
    level2      text,
    level3      text,
    level4      text,
    column_text text,
    builtin     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (activity, from_year),
    CHECK (from_year <= to_year)
);
COMMENT ON TABLE car.activity_path IS 'Per-year paths of activities: in factor years from_year..to_year the activity maps onto this path instead of car.activity''s (for years whose flat file names the rows differently, e.g. 2022''s "WTT- business travel (air)"). Where two rows cover a year, the one starting later applies. Path columns as in car.activity: case-insensitive LIKE patterns, NULL matches anything.';
COMMENT ON COLUMN car.activity_path.activity IS 'The car.activity key.';
COMMENT ON COLUMN car.activity_path.from_year IS 'First factor year (car.factor_set.year) the path applies to.';
COMMENT ON COLUMN car.activity_path.to_year IS 'Last factor year the path applies to.';
COMMENT ON COLUMN car.activity_path.level1 IS 'Level 1 of the factor rows in those years (LIKE pattern).';
COMMENT ON COLUMN car.activity_path.level2 IS 'Level 2 (LIKE pattern; NULL: any).';
COMMENT ON COLUMN car.activity_path.level3 IS 'Level 3 (LIKE pattern; NULL: any).';
COMMENT ON COLUMN car.activity_path.level4 IS 'Level 4 (LIKE pattern; NULL: any).';
COMMENT ON COLUMN car.activity_path.column_text IS 'Column Text (LIKE pattern; NULL: any).';
COMMENT ON COLUMN car.activity_path.builtin IS 'Row shipped with car (not dumped by pg_dump; recreated by CREATE EXTENSION).';
SELECT pg_catalog.pg_extension_config_dump('car.activity_path', 'WHERE NOT builtin');
CREATE TRIGGER activity_path_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.activity_path
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER activity_path_changed_refresh AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.activity_path
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();

-- The builtin activities below are new keys, which no reading of 1.0 can use:
-- adding them changes no emission already computed, so they do not mark a
-- full refresh due (their cache-invalidation triggers still fire).
ALTER TABLE car.activity DISABLE TRIGGER activity_changed_refresh;
ALTER TABLE car.activity_component DISABLE TRIGGER activity_component_changed_refresh;
ALTER TABLE car.activity_path DISABLE TRIGGER activity_path_changed_refresh;

-- Business travel by air: average passenger, passenger.km, with or without
-- radiative forcing (the choice is in the key), each with its well-to-tank row.
INSERT INTO car.activity (key, level1, level2, level3, level4, column_text, uom_basis, scope, description, builtin)
SELECT k || rf.suffix, 'Business travel- air', 'Flights', h.level3, 'Average passenger', rf.column_text, NULL, 3,
       format('Business travel by air, %s flights, average passenger, %s radiative forcing (passenger.km; kg CO2e per passenger.km)',
              h.label, rf.word), true
FROM (VALUES ('air_domestic', 'Domestic, to/from UK', 'domestic'),
             ('air_short_haul', 'Short-haul, to/from UK', 'short-haul (to/from UK)'),
             ('air_long_haul', 'Long-haul, to/from UK', 'long-haul (to/from UK)'),
             ('air_international', 'International, to/from non-UK', 'international (between non-UK airports)')) h(k, level3, label)
CROSS JOIN (VALUES ('_rf', 'With RF', 'with'), ('_no_rf', 'Without RF', 'without')) rf(suffix, column_text, word)
UNION ALL
SELECT k || rf.suffix || '_wtt', 'WTT- business travel- air', 'WTT- flights', h.level3, 'Average passenger', rf.column_text, NULL, 3,
       format('Well-to-tank emissions of business travel by air, %s flights, average passenger (passenger.km; kg CO2e per passenger.km)', h.label), true
FROM (VALUES ('air_domestic', 'Domestic, to/from UK', 'domestic'),
             ('air_short_haul', 'Short-haul, to/from UK', 'short-haul'),
             ('air_long_haul', 'Long-haul, to/from UK', 'long-haul'),
             ('air_international', 'International, to/from non-UK', 'international')) h(k, level3, label)
CROSS JOIN (VALUES ('_rf', 'With RF'), ('_no_rf', 'Without RF')) rf(suffix, column_text);

-- Rail, passenger.km, and grey fleet (employees' own average cars), km.
INSERT INTO car.activity (key, level1, level2, level3, level4, column_text, uom_basis, scope, description, builtin) VALUES
    ('rail_national', 'Business travel- land', 'Rail', 'National rail', NULL, NULL, NULL, 3,
        'Business travel by national rail (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_international', 'Business travel- land', 'Rail', 'International rail', NULL, NULL, NULL, 3,
        'Business travel by international rail (Eurostar) (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_light_tram', 'Business travel- land', 'Rail', 'Light rail and tram', NULL, NULL, NULL, 3,
        'Business travel by light rail and tram (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_underground', 'Business travel- land', 'Rail', 'London Underground', NULL, NULL, NULL, 3,
        'Business travel by London Underground (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_national_wtt', 'WTT- pass vehs & travel- land', 'WTT- rail', 'National rail', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of national rail (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_international_wtt', 'WTT- pass vehs & travel- land', 'WTT- rail', 'International rail', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of international rail (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_light_tram_wtt', 'WTT- pass vehs & travel- land', 'WTT- rail', 'Light rail and tram', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of light rail and tram (passenger.km; kg CO2e per passenger.km)', true),
    ('rail_underground_wtt', 'WTT- pass vehs & travel- land', 'WTT- rail', 'London Underground', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of London Underground (passenger.km; kg CO2e per passenger.km)', true),
    ('grey_fleet_car', 'Business travel- land', 'Cars (by size)', 'Average car', NULL, 'Unknown', NULL, 3,
        'Grey fleet: employees'' own cars on business, average car of unknown fuel (km or miles; kg CO2e per km)', true),
    ('grey_fleet_car_petrol', 'Business travel- land', 'Cars (by size)', 'Average car', NULL, 'Petrol', NULL, 3,
        'Grey fleet: employees'' own cars on business, average petrol car (km or miles; kg CO2e per km)', true),
    ('grey_fleet_car_diesel', 'Business travel- land', 'Cars (by size)', 'Average car', NULL, 'Diesel', NULL, 3,
        'Grey fleet: employees'' own cars on business, average diesel car (km or miles; kg CO2e per km)', true),
    ('grey_fleet_car_wtt', 'WTT- pass vehs & travel- land', 'WTT- cars (by size)', 'Average car', NULL, 'Unknown', NULL, 3,
        'Well-to-tank emissions of an average car of unknown fuel (km or miles; kg CO2e per km)', true),
    ('grey_fleet_car_petrol_wtt', 'WTT- pass vehs & travel- land', 'WTT- cars (by size)', 'Average car', NULL, 'Petrol', NULL, 3,
        'Well-to-tank emissions of an average petrol car (km or miles; kg CO2e per km)', true),
    ('grey_fleet_car_diesel_wtt', 'WTT- pass vehs & travel- land', 'WTT- cars (by size)', 'Average car', NULL, 'Diesel', NULL, 3,
        'Well-to-tank emissions of an average diesel car (km or miles; kg CO2e per km)', true),
    -- district heat and steam, its well-to-tank row, its distribution losses (5%) and their well-to-tank row
    ('heat_steam', 'Heat and steam', 'Heat and steam', 'District heat and steam', NULL, NULL, NULL, 2,
        'District heat and steam bought (kWh; kg CO2e per kWh)', true),
    ('heat_steam_wtt', 'WTT- heat and steam', 'WTT- heat and steam', 'District heat and steam', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of district heat and steam (kWh; kg CO2e per kWh)', true),
    ('heat_steam_distribution', 'Transmission and distribution', 'Distribution - district heat & steam', '5% loss', NULL, NULL, NULL, 3,
        'Distribution losses of district heat and steam, 5% of the heat (kWh of heat bought; kg CO2e per kWh)', true),
    ('heat_steam_distribution_wtt', 'WTT- heat and steam', 'WTT- district heat & steam distribution', '5% loss', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of the distribution losses of district heat and steam (kWh of heat bought; kg CO2e per kWh)', true),
    -- refrigerant leakage: kg leaked times the published GWP row (Kyoto-only emissions from 2022 on)
    ('refrigerant_r410a', 'Refrigerant & other', 'Blends', 'R410A', NULL, 'Emissions including only Kyoto products', NULL, 1,
        'Refrigerant R410A leaked (kg; kg CO2e per kg)', true),
    ('refrigerant_r404a', 'Refrigerant & other', 'Blends', 'R404A', NULL, 'Emissions including only Kyoto products', NULL, 1,
        'Refrigerant R404A leaked (kg; kg CO2e per kg)', true),
    ('refrigerant_r407c', 'Refrigerant & other', 'Blends', 'R407C', NULL, 'Emissions including only Kyoto products', NULL, 1,
        'Refrigerant R407C leaked (kg; kg CO2e per kg)', true),
    ('refrigerant_r134a', 'Refrigerant & other', 'Kyoto protocol products', 'HFC-134a', NULL, 'Emissions including only Kyoto products', NULL, 1,
        'Refrigerant R134a (HFC-134a) leaked (kg; kg CO2e per kg)', true),
    ('refrigerant_r32', 'Refrigerant & other', 'Kyoto protocol products', 'HFC-32', NULL, 'Emissions including only Kyoto products', NULL, 1,
        'Refrigerant R32 (HFC-32) leaked (kg; kg CO2e per kg)', true),
    ('refrigerant_r22', 'Refrigerant & other', 'Montreal protocol products', 'HCFC-22/R22 = chlorodifluoromethane', NULL,
        'Total emissions including non-Kyoto products', NULL, 1,
        'Refrigerant R22 (HCFC-22) leaked (kg; kg CO2e per kg): a Montreal Protocol gas, outside the Kyoto basket, published by DESNZ for reporting apart', true);

INSERT INTO car.activity_component (activity, kind, component, position, builtin)
SELECT a.key, c.kind, CASE c.kind WHEN 'wtt' THEN a.key || '_wtt' ELSE a.key END, c.position, true
FROM car.activity a
CROSS JOIN (VALUES ('travel', 1), ('wtt', 2)) c(kind, position)
WHERE a.builtin AND (a.key ~ '^air_.*rf$' OR a.key ~ '^rail_[a-z_]+$' AND a.key !~ '_wtt$' OR a.key ~ '^grey_fleet_car' AND a.key !~ '_wtt$')
UNION ALL
SELECT 'heat_steam', kind, component, position, true
FROM (VALUES ('heat', 'heat_steam', 1), ('wtt', 'heat_steam_wtt', 2), ('distribution', 'heat_steam_distribution', 3),
             ('wtt_distribution', 'heat_steam_distribution_wtt', 4)) c(kind, component, position)
UNION ALL
SELECT key, 'leakage', key, 1, true FROM car.activity WHERE builtin AND key ~ '^refrigerant_';
COMMENT ON COLUMN car.activity_component.kind IS 'Component name as car.emissions reports it (generation, td, wtt_generation, wtt_td, combustion, wtt, supply, treatment, travel, heat, distribution, wtt_distribution, leakage).';

-- The years whose flat files name these rows otherwise.
INSERT INTO car.activity_path (activity, from_year, to_year, level1, level2, level3, level4, column_text, builtin)
-- 2022 wrote "WTT- business travel (air)" and "WTT- pass vehs & travel (land)"
SELECT key, 2022, 2022, 'WTT- business travel (air)', level2, level3, level4, column_text, true
FROM car.activity WHERE builtin AND key ~ '^air_.*_wtt$'
UNION ALL
SELECT key, 2022, 2022, 'WTT- pass vehs & travel (land)', level2, level3, level4, column_text, true
FROM car.activity WHERE builtin AND (key ~ '^rail_.*_wtt$' OR key ~ '^grey_fleet_car.*_wtt$')
-- to 2021 the refrigerants were "Kyoto protocol- blends", "Kyoto protocol - standard" and
-- "Montreal protocol - standard", one row each without the Kyoto/non-Kyoto column
UNION ALL
SELECT key, 1990, 2021, 'Refrigerant & other',
       CASE WHEN level2 = 'Blends' THEN 'Kyoto protocol- blends'
            WHEN level2 = 'Kyoto protocol products' THEN 'Kyoto protocol - standard'
            ELSE 'Montreal protocol - standard' END,
       level3, NULL, NULL, true
FROM car.activity WHERE builtin AND key ~ '^refrigerant_';
ALTER TABLE car.activity ENABLE TRIGGER activity_changed_refresh;
ALTER TABLE car.activity_component ENABLE TRIGGER activity_component_changed_refresh;
ALTER TABLE car.activity_path ENABLE TRIGGER activity_path_changed_refresh;

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
COMMENT ON FUNCTION car.load_factors(text, int, boolean, text, text) IS 'Load a DESNZ/BEIS flat file (.xlsx, legacy .xls read with FreeXL, or .csv in any locale; recognised by its bytes, never its name) from a server path. Needs superuser or pg_read_server_files. Same bytes twice return the existing set. Raises 54000 for a file past the readers'' limits, 22P03 for a damaged workbook. A row carrying a number that cannot be classified refuses the file (the error gives the count and the first lines) unless lenient, which loads the rest and lists every skipped row in car.factor_skipped. A CSV''s number format is decided from all its values; decimal_separator (. or ,) and thousands_separator (, . space '' or empty) say it when the values cannot. The set must price electricity, natural gas (both CV bases), water, diesel and petrol, or nothing is loaded.';

DROP FUNCTION car.load_factors(bytea, text, int);
CREATE FUNCTION car.load_factors(content bytea, name text, year int DEFAULT NULL, lenient boolean DEFAULT false,
                                 decimal_separator text DEFAULT NULL, thousands_separator text DEFAULT NULL)
    RETURNS car.factor_set
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_load_factors_bytes';
COMMENT ON FUNCTION car.load_factors(bytea, text, int, boolean, text, text) IS 'Load a DESNZ/BEIS flat file (.xlsx, .xls or .csv) from its bytes (e.g. sent by a client); name is kept as its source, never used to tell the format. lenient, decimal_separator and thousands_separator as for car.load_factors(path_or_uri, ...).';

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

-- A reading's label changes only the ways car changes it.  car_ingest may
-- UPDATE quality (the ingest path's INSERT ... ON CONFLICT DO UPDATE runs as
-- the pushing role and sets it), so the rule is checked on the data written,
-- not on who writes it: an estimate becomes actual only with the id of the
-- file this backend's ingest path is writing, for that file's meter and span
-- (set from C: no SQL passes for it); an actual reading never becomes an
-- estimate.  The WHEN clause keeps every other update free of the call.
CREATE FUNCTION car.check_reading_quality() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'car_check_reading_quality';
COMMENT ON FUNCTION car.check_reading_quality() IS 'Trigger on car.reading (BEFORE UPDATE OF quality): an estimated reading becomes actual only when a meter file''s reading replaces it, written by car.push or a source''s fetch with that file''s id (a file of that meter and span, whose id differs from the estimate''s); an actual reading never becomes estimated. Anything else is refused (SQLSTATE 23000), whoever runs it.';
CREATE TRIGGER reading_quality_checked BEFORE UPDATE OF quality ON car.reading
    FOR EACH ROW WHEN (OLD.quality IS DISTINCT FROM NEW.quality) EXECUTE FUNCTION car.check_reading_quality();

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
COMMENT ON COLUMN car.emission_daily.file_ids IS 'The car.source_file ids whose readings make up the day (estimates and readings written by hand have none), ascending.';
-- the new columns are filled by the next refresh: a full one
UPDATE car.refresh_state SET full_needed = true;

-- The periods a UK local day (Europe/London: 23, 24 or 25 hours) holds.
CREATE FUNCTION car.periods_in(interval_minutes int, first_day date, last_day date) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
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

-- Which organisation owns a site on a day: periods of ownership, recorded
-- when sites move between bodies (the GGC baseline follows them).
CREATE TABLE car.site_org (
    site_id     int NOT NULL REFERENCES car.site (id) ON DELETE CASCADE,
    org         text NOT NULL CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    valid_from  date NOT NULL CHECK (valid_from = '-infinity' OR valid_from BETWEEN '1900-01-01' AND '2199-12-31'),
    valid_to    date CHECK (valid_to >= valid_from AND valid_to BETWEEN '1900-01-01' AND '2199-12-31'),
    note        text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, valid_from)
);
COMMENT ON TABLE car.site_org IS 'Which organisation owned a site over which UK days: a site''s periods of ownership, which do not overlap (a site without any belongs to its car.site.org for all time). car.transfer_site() records a move between bodies; every change recalculates the baselines of the bodies concerned and logs it in car.baseline_recalculation. Ownership of days inside a signed period (car.close_period) cannot change.';
COMMENT ON COLUMN car.site_org.site_id IS 'The site (car.site.id).';
COMMENT ON COLUMN car.site_org.org IS 'The organisation owning it.';
COMMENT ON COLUMN car.site_org.valid_from IS 'First UK day of ownership (-infinity: since always; else 1900-01-01 to 2199-12-31).';
COMMENT ON COLUMN car.site_org.valid_to IS 'Last UK day of ownership (1900-01-01 to 2199-12-31); NULL while it lasts.';
COMMENT ON COLUMN car.site_org.note IS 'Why (e.g. "machinery of government change, 1 April 2022").';
COMMENT ON COLUMN car.site_org.recorded_at IS 'When the period was recorded.';
ALTER TABLE car.site_org ENABLE ROW LEVEL SECURITY;

-- Day-aware row-level security: a site's rows of the days an earlier owner
-- had it are that owner's figures as well as the site's.
CREATE FUNCTION car.site_visible_on(site_id int, day date) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_site_visible_on';
COMMENT ON FUNCTION car.site_visible_on(int, date) IS 'Whether this session may see the site''s figures of a UK day (of any day when day is NULL): car.site_visible(site_id), or the day falls in a period of car.site_org whose organisation (not the site''s present owner, the owner of its latest period) the claims grant (org, orgs; a sites claim narrows earlier owners'' sites by id only: a site''s name now may be another body''s choice). The policies of car.site, car.meter and car.emission_daily.';
CREATE FUNCTION car.meter_visible_at(meter_id int, ts timestamptz) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_meter_visible_at';
COMMENT ON FUNCTION car.meter_visible_at(int, timestamptz) IS 'Whether this session may see the meter''s reading of an instant: car.meter_visible(meter_id), or the instant falls in a UK day of an earlier owner''s period the claims grant (as car.site_visible_on). The policy of car.reading.';
CREATE FUNCTION car.site_visible_as(site_id int, org text) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_site_visible_as';
COMMENT ON FUNCTION car.site_visible_as(int, text) IS 'Whether this session may see the site''s figures of the days org owned it: the present owner''s days with car.site_visible(site_id), an earlier owner''s when the claims grant that organisation (as car.site_visible_on); org NULL (days no body owned the site) as the present owner''s. The reports'' and signed copies'' filter.';
ALTER POLICY site_by_claims ON car.site USING (car.site_visible_on(id, NULL));
ALTER POLICY meter_by_claims ON car.meter USING (car.site_visible_on(site_id, NULL));
ALTER POLICY reading_by_claims ON car.reading USING (car.meter_visible_at(meter_id, ts));
ALTER POLICY emission_daily_by_claims ON car.emission_daily USING (car.site_visible_on(site_id, day));
CREATE POLICY site_org_by_claims ON car.site_org USING (car.org_visible(org) OR car.site_visible(site_id) OR car.site_visible_as(site_id, org));
SELECT pg_catalog.pg_extension_config_dump('car.site_org', '');

CREATE VIEW car.site_ownership WITH (security_invoker = true) AS
SELECT so.site_id, so.org, so.valid_from, coalesce(so.valid_to, 'infinity') AS valid_to
FROM car.site_org so
UNION ALL
SELECT s.id, s.org, '-infinity'::date, 'infinity'::date
FROM car.site s
WHERE NOT EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = s.id);
COMMENT ON VIEW car.site_ownership IS 'Which organisation owns each site over which UK days (valid_from to valid_to, both included, infinite at open ends): the periods of car.site_org, or, for a site without any, its car.site.org for all time.';

-- Internal: the periods of ownership with whether this session may see the
-- figures of their days.  Row-level security lets a site's rows through for
-- its present owner; the days an earlier owner had the site are that owner's
-- figures, shown only to who may see that organisation.  Evaluated once per
-- period, not per emission row.
CREATE VIEW car.site_ownership_shown WITH (security_invoker = true) AS
SELECT o.site_id, o.org, o.valid_from, o.valid_to, car.site_visible_as(o.site_id, o.org) AS shown
FROM car.site_ownership o;
COMMENT ON VIEW car.site_ownership_shown IS 'Internal: car.site_ownership with shown: whether this session may see the figures of those days (car.site_visible_as: the site''s present owner''s days to who sees the site, an earlier owner''s to who the claims grant that organisation). The reports and car.coverage leave out the days not shown.';
COMMENT ON COLUMN car.site_ownership_shown.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.site_ownership_shown.org IS 'Organisation owning the site over the period.';
COMMENT ON COLUMN car.site_ownership_shown.valid_from IS 'First UK day of the period (-infinity: since always).';
COMMENT ON COLUMN car.site_ownership_shown.valid_to IS 'Last UK day of the period (infinity: open).';
COMMENT ON COLUMN car.site_ownership_shown.shown IS 'car.site_visible_as(site_id, org): true for the present owner''s periods when the session sees the site, for an earlier owner''s when its claims grant that organisation; false otherwise.';

CREATE VIEW car.coverage WITH (security_invoker = true) AS
SELECT o.org AS organisation, m.site_id, st.name AS site, m.meter_id, mt.name AS meter, m.activity,
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
LEFT JOIN car.site_ownership_shown o ON o.site_id = m.site_id AND d.day::date >= o.valid_from AND d.day::date <= o.valid_to
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE x.quality = 'actual') AS actual,
           count(*) FILTER (WHERE x.quality = 'estimated') AS estimated,
           sum(car.float8_decimal(x.quantity))::float8 AS quantity,
           coalesce(sum(car.float8_decimal(x.quantity)) FILTER (WHERE x.quality = 'estimated'), 0)::float8 AS quantity_estimated
    FROM car.reading x
    WHERE x.meter_id = m.meter_id
    AND x.ts >= d.day::date::timestamp AT TIME ZONE 'Europe/London'
    AND x.ts < (d.day::date + 1)::timestamp AT TIME ZONE 'Europe/London') r ON true
WHERE coalesce(o.shown, car.site_visible_on(m.site_id, d.day::date));
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


-- Financial years (April to March), named by the calendar year they start in.
-- These helpers have SQL-standard bodies (RETURN ...), bound to their objects
-- when created, so search_path cannot change what they call; they carry no
-- SET clause, which would stop the planner inlining them into the reports
-- (a SET makes every call a separate function call with a GUC save/restore).
CREATE FUNCTION car.financial_year(day date) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN extract(year FROM day - interval '3 months')::int;
COMMENT ON FUNCTION car.financial_year(date) IS 'The UK financial year (1 April to 31 March) holding a day, named by the calendar year it starts in: 2017 for 2017/18.';
CREATE FUNCTION car.financial_year_label(fy int) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN fy::text || '/' || lpad(((fy + 1) % 100)::text, 2, '0');
COMMENT ON FUNCTION car.financial_year_label(int) IS 'How a financial year is written: 2017/18.';
CREATE FUNCTION car.financial_quarter(month date) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
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
COMMENT ON COLUMN car.period_close.reporting_year_start IS 'car.reporting_year_start as the database was configured when signed (never a value a session, its connection or its role chose): the factor-year rule kg_co2e was priced under (fy_kg_co2e follows the financial-year rule).';
COMMENT ON COLUMN car.period_close.lines IS 'Emission rows signed (car.closed_emission: per meter, UK day and component).';
COMMENT ON COLUMN car.period_close.kg_co2e IS 'Their total, kg CO2e, all scopes and components.';
COMMENT ON COLUMN car.period_close.sha256 IS 'SHA-256 (hex) of the close''s canonical text (format "car period close 3": with the market-based Scope 2 columns of car.closed_emission): its org, period and reporting_year_start, then every column of its rows in car.closed_emission, closed_coverage, closed_factor_set and closed_file, each field escaped. README, "Period close", gives the SQL that recomputes it from those tables.';
COMMENT ON COLUMN car.period_close.site_ids IS 'The sites whose figures were signed.';
COMMENT ON COLUMN car.period_close.reopened_at IS 'When it was reopened (car.reopen_period); NULL while in force. A reopened close is kept, with its figures, for the record.';
COMMENT ON COLUMN car.period_close.reopened_by IS 'The role that reopened it (a car_admin).';
COMMENT ON COLUMN car.period_close.reopen_reason IS 'Why it was reopened.';

-- close_id names its close without a foreign key: the key's check, one
-- lookup and row lock a row, took longer than the rest of a year's close
-- (bench/ggc.sql).  Only car.close_period writes these rows, for the close it
-- has just made; the trigger on car.period_close below keeps a close whose
-- figures are here from being deleted, as the key's other half did.
CREATE TABLE car.closed_emission (
    close_id           int NOT NULL,
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
    -- month (a function of day) leads: a report of a signed month reads its
    -- rows by the key, and a close writes them in the key's order (the
    -- canonical order of its hash)
    PRIMARY KEY (close_id, month, meter_id, day, component)
);
COMMENT ON TABLE car.closed_emission IS 'The figures of each period close as signed: the car.emission_daily rows of the organisation''s days in the period, per meter, UK day and component. The reports read these for closed months.';
COMMENT ON COLUMN car.closed_emission.close_id IS 'The close (car.period_close.id; a close with figures cannot be deleted).';
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

-- Trigger on car.period_close: the delete half of a foreign key from
-- car.closed_emission (which has none, for speed: see there).
CREATE FUNCTION car.period_close_deleted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id int;
BEGIN
    SELECT o.id INTO v_id FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM car.closed_emission e WHERE e.close_id OPERATOR(pg_catalog.=) o.id)
    ORDER BY o.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'period close % has signed figures in car.closed_emission and cannot be deleted', v_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Reopen it instead (car.reopen_period, car_admin): a reopened close is kept, with its figures, for the record.';
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION car.period_close_deleted() IS 'Trigger on car.period_close: refuses to delete a close whose figures are in car.closed_emission (foreign_key_violation).';
CREATE TRIGGER period_close_deleted AFTER DELETE ON car.period_close REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_deleted();

ALTER TABLE car.period_close ENABLE ROW LEVEL SECURITY;
CREATE POLICY period_close_by_claims ON car.period_close USING (car.org_visible(org));
ALTER TABLE car.closed_emission ENABLE ROW LEVEL SECURITY;
CREATE POLICY closed_emission_by_claims ON car.closed_emission USING (car.org_visible(org) OR car.site_visible_as(site_id, org));
ALTER TABLE car.closed_coverage ENABLE ROW LEVEL SECURITY;
CREATE POLICY closed_coverage_by_claims ON car.closed_coverage USING (car.org_visible(org) OR car.site_visible_as(site_id, org));
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
COMMENT ON FUNCTION car.close_period(text, date, date, text) IS 'Sign an organisation''s figures for whole months, from the first day of a month to the last day of a month (a quarter, a financial year), under car.reporting_year_start as the database is configured (a session that set another value, or whose role or connection sets it, is refused: object_not_in_prerequisite_state): refreshes car.emission_daily, then keeps the figures as reported (per site, meter, UK day, scope, component and activity), the periods expected, the factor sets and the files behind them, and a SHA-256 of them, in car.period_close and the closed_* tables. Every report reads the signed figures from then on; car.restatement shows what changed since. A period overlapping one in force for the organisation is refused (reopen it first). For car_admin. Returns the car.period_close row.';
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
LEFT JOIN car.site_ownership_shown o ON o.site_id = e.site_id AND e.day >= o.valid_from AND e.day <= o.valid_to
WHERE o.shown IS NOT FALSE;
COMMENT ON VIEW car.emission_live IS 'Internal: the rows of car.emission_daily with the organisation owning the site that day and the kg CO2e under the financial year''s factors, before any period close. The days a site had another owner than today''s show only to sessions that may see that organisation (car.site_ownership_shown).';

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
JOIN car.site_ownership_shown o ON o.site_id = m.site_id AND o.valid_from <= m.last_day AND o.valid_to >= m.first_day AND o.shown
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
-- The GGC return (issue 14, point 5): sites' periods of ownership, the GGC
-- metrics, the 2017/18 baseline that moves with structural change, and
-- car.report_ggc and car.ggc_csv.
-------------------------------------------------------------------------------
CREATE TABLE car.ggc_metric (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 63),
    commitment  text NOT NULL,
    label       text NOT NULL,
    unit        text NOT NULL CHECK (unit IN ('tCO2e', 'm3')),
    position    int NOT NULL DEFAULT 0,
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE car.ggc_metric IS 'The figures the GGC return reports (car.report_ggc): overall greenhouse gas emissions, direct emissions from estate and operations, domestic flights, water. Users may add metrics; car.ggc_classification says what each adds up.';
COMMENT ON COLUMN car.ggc_metric.commitment IS 'The GGC headline commitment it belongs to (Greenhouse gas emissions, Water...).';
COMMENT ON COLUMN car.ggc_metric.label IS 'What the return calls the figure.';
COMMENT ON COLUMN car.ggc_metric.unit IS 'tCO2e (kg CO2e of the rows classified, / 1000, under the financial year''s factors) or m3 (the quantity of the activities classified, converted to cubic metres).';
COMMENT ON COLUMN car.ggc_metric.position IS 'Order in the return.';
COMMENT ON COLUMN car.ggc_metric.builtin IS 'Row shipped with car (not dumped by pg_dump; recreated by CREATE EXTENSION).';
INSERT INTO car.ggc_metric (key, commitment, label, unit, position, description, builtin) VALUES
    ('overall_ghg', 'Greenhouse gas emissions', 'Total greenhouse gas emissions (scope 1, scope 2 and business travel)', 'tCO2e', 1,
     'Scope 1 and Scope 2 (location-based) emissions of the estate and operations, and business travel: flights, rail and grey fleet, without their well-to-tank emissions, electricity''s transmission and distribution losses or other Scope 3.', true),
    ('direct_ghg', 'Greenhouse gas emissions', 'Direct greenhouse gas emissions from estate and operations (scope 1)', 'tCO2e', 2,
     'Scope 1: fuel burnt in buildings and fleet vehicles, refrigerant leakage.', true),
    ('domestic_flights', 'Greenhouse gas emissions', 'Emissions from domestic business flights', 'tCO2e', 3,
     'Domestic flights (activities air_domestic_*), with or without radiative forcing as each meter''s activity says, without well-to-tank emissions.', true),
    ('water', 'Water', 'Water consumption', 'm3', 4,
     'Mains water supplied (activity water_supply), in cubic metres.', true);

CREATE TABLE car.ggc_classification (
    id        serial PRIMARY KEY,
    metric    text NOT NULL REFERENCES car.ggc_metric (key) ON UPDATE CASCADE ON DELETE CASCADE,
    activity  text NOT NULL DEFAULT '%' CHECK (activity <> ''),
    scope     int CHECK (scope BETWEEN 1 AND 3),
    component text NOT NULL DEFAULT '%' CHECK (component <> ''),
    include   boolean NOT NULL DEFAULT true,
    note      text,
    builtin   boolean NOT NULL DEFAULT false,
    UNIQUE NULLS NOT DISTINCT (metric, activity, scope, component, include)
);
COMMENT ON TABLE car.ggc_classification IS 'What each GGC metric adds up: an emission row (activity, scope, component) counts towards a metric when a rule with include matches it and none without include does. activity and component are LIKE patterns (case-sensitive; % any text, \_ a literal underscore); scope NULL matches any scope. For m3 metrics the activity''s quantity counts. Users may add rules (an activity of their own, a Scope 3 category); built-in rules come with car.';
COMMENT ON COLUMN car.ggc_classification.metric IS 'The metric (car.ggc_metric.key).';
COMMENT ON COLUMN car.ggc_classification.activity IS 'LIKE pattern on the activity key (car.activity).';
COMMENT ON COLUMN car.ggc_classification.scope IS 'The emission row''s GHG Protocol scope, or NULL for any.';
COMMENT ON COLUMN car.ggc_classification.component IS 'LIKE pattern on the component (generation, td, wtt, combustion...).';
COMMENT ON COLUMN car.ggc_classification.include IS 'true: rows matching count; false: rows matching never count (exclusions win).';
COMMENT ON COLUMN car.ggc_classification.note IS 'Why the rule is there.';
COMMENT ON COLUMN car.ggc_classification.builtin IS 'Rule shipped with car (not dumped by pg_dump; recreated by CREATE EXTENSION).';
INSERT INTO car.ggc_classification (metric, activity, scope, component, include, note, builtin) VALUES
    ('overall_ghg', '%', 1, '%', true, 'Scope 1: fuels burnt in buildings and vehicles, refrigerant leakage', true),
    ('overall_ghg', '%', 2, '%', true, 'Scope 2, location-based: electricity, heat and steam', true),
    ('overall_ghg', 'air\_%', 3, '%', true, 'business travel: flights', true),
    ('overall_ghg', 'rail\_%', 3, '%', true, 'business travel: rail', true),
    ('overall_ghg', 'grey\_fleet\_%', 3, '%', true, 'business travel: grey fleet (own cars used for work)', true),
    ('overall_ghg', '%', NULL, 'wtt%', false, 'well-to-tank emissions are not in the GGC figures', true),
    ('overall_ghg', '%\_wtt', NULL, '%', false, 'nor activities that are well-to-tank rows themselves (rail_national_wtt...)', true),
    ('direct_ghg', '%', 1, '%', true, 'Scope 1', true),
    ('domestic_flights', 'air\_domestic\_%', 3, '%', true, 'domestic flights, with or without radiative forcing', true),
    ('domestic_flights', '%', NULL, 'wtt%', false, 'well-to-tank emissions are not in the GGC figures', true),
    ('domestic_flights', '%\_wtt', NULL, '%', false, 'nor activities that are well-to-tank rows themselves', true),
    ('water', 'water\_supply', NULL, '%', true, 'mains water supplied, m3', true);
SELECT pg_catalog.pg_extension_config_dump('car.ggc_metric', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('car.ggc_classification', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('car.ggc_classification_id_seq', '');

CREATE FUNCTION car.ggc_baseline_year() RETURNS int
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(nullif(current_setting('car.ggc_baseline_year', true), ''), '2017')::int;
COMMENT ON FUNCTION car.ggc_baseline_year() IS 'The GGC baseline financial year, by the year it starts in (car.ggc_baseline_year, 2017 by default: April 2017 to March 2018).';

-- Internal: which activities each metric takes in (for the coverage of GGC
-- lines: the interval meters of those activities).
CREATE VIEW car.ggc_metric_activity WITH (security_invoker = true) AS
SELECT DISTINCT m.key AS metric, a.key AS activity
FROM car.ggc_metric m
JOIN car.activity a ON EXISTS (SELECT 1 FROM car.ggc_classification c WHERE c.metric = m.key AND c.include AND a.key LIKE c.activity)
WHERE NOT EXISTS (SELECT 1 FROM car.ggc_classification c WHERE c.metric = m.key AND NOT c.include
                  AND a.key LIKE c.activity AND c.scope IS NULL AND c.component = '%');
COMMENT ON VIEW car.ggc_metric_activity IS 'Internal: the activities a GGC metric takes in (a rule including it and none excluding the whole activity): their interval meters make the coverage of the metric''s lines.';

-- Internal: per organisation, site, financial year, quarter and metric, the
-- figure as reported (signed or live), under the financial year's factors.
CREATE VIEW car.ggc_site_quarter WITH (security_invoker = true) AS
WITH rows AS (
    SELECT e.org, e.site_id, car.financial_year(e.month) AS financial_year, car.financial_quarter(e.month) AS quarter,
           e.activity, e.scope, e.component, e.unit,
           sum(e.fy_kg_co2e) AS kg_co2e,
           sum(e.fy_kg_co2e_estimated) AS kg_co2e_estimated,
           count(*) FILTER (WHERE e.fy_kg_co2e IS NULL AND e.kg_co2e IS NOT NULL) AS unpriced,
           sum(e.quantity) FILTER (WHERE e.primary_row) AS quantity,
           sum(e.quantity_estimated) FILTER (WHERE e.primary_row) AS quantity_estimated,
           sum(e.periods_actual) FILTER (WHERE e.primary_row) AS periods_actual,
           bool_and(e.close_id IS NOT NULL) AS signed,
           min(e.fy_factor_year) AS first_factor_year,
           max(e.fy_factor_year) AS last_factor_year
    FROM car.emission_reported e
    GROUP BY e.org, e.site_id, car.financial_year(e.month), car.financial_quarter(e.month), e.activity, e.scope, e.component, e.unit),
classified AS (
    SELECT r.*, m.key AS metric, m.unit AS metric_unit
    FROM rows r
    JOIN car.ggc_metric m
      ON EXISTS (SELECT 1 FROM car.ggc_classification c WHERE c.metric = m.key AND c.include
                 AND r.activity LIKE c.activity AND (c.scope IS NULL OR c.scope = r.scope) AND r.component LIKE c.component)
     AND NOT EXISTS (SELECT 1 FROM car.ggc_classification c WHERE c.metric = m.key AND NOT c.include
                     AND r.activity LIKE c.activity AND (c.scope IS NULL OR c.scope = r.scope) AND r.component LIKE c.component)),
figures AS (
    SELECT c.org, c.site_id, c.financial_year, c.quarter, c.metric, c.metric_unit AS unit,
           CASE WHEN c.metric_unit = 'tCO2e' THEN sum(c.kg_co2e) / 1000
                ELSE sum(car.convert(c.quantity, c.unit, 'm3')) FILTER (WHERE c.metric_unit = 'm3') END AS value,
           CASE WHEN c.metric_unit = 'tCO2e' THEN sum(c.kg_co2e_estimated) / 1000
                ELSE sum(car.convert(c.quantity_estimated, c.unit, 'm3')) FILTER (WHERE c.metric_unit = 'm3') END AS value_estimated,
           coalesce(sum(c.unpriced) FILTER (WHERE c.metric_unit = 'tCO2e'), 0) AS unpriced,
           bool_and(c.signed) AS signed,
           min(c.first_factor_year) AS first_factor_year,
           max(c.last_factor_year) AS last_factor_year
    FROM classified c
    GROUP BY c.org, c.site_id, c.financial_year, c.quarter, c.metric, c.metric_unit),
periods AS (
    SELECT r.org, r.site_id, r.financial_year, r.quarter, ma.metric, sum(r.periods_actual) AS periods_actual
    FROM rows r JOIN car.ggc_metric_activity ma ON ma.activity = r.activity
    WHERE r.periods_actual IS NOT NULL
    GROUP BY r.org, r.site_id, r.financial_year, r.quarter, ma.metric)
SELECT f.*, coalesce(p.periods_actual, 0) AS periods_actual
FROM figures f
LEFT JOIN periods p ON p.site_id = f.site_id AND p.financial_year = f.financial_year AND p.quarter = f.quarter
     AND p.metric = f.metric AND p.org IS NOT DISTINCT FROM f.org;
COMMENT ON VIEW car.ggc_site_quarter IS 'Internal: per organisation owning the site, site, financial year, quarter and GGC metric, the figure as reported (signed or live) under the financial year''s factors: the sum of the emission rows car.ggc_classification puts in the metric (tCO2e), or their activities'' quantity (m3).';

-- Internal: the baseline of each organisation, financial year, quarter and
-- metric: every site's figure in the same quarter of the baseline year, in
-- proportion to the days of the quarter the organisation owns the site.
CREATE VIEW car.ggc_baseline WITH (security_invoker = true) AS
WITH base AS (
    SELECT site_id, quarter, metric, sum(value) AS value
    FROM car.ggc_site_quarter
    WHERE financial_year = car.ggc_baseline_year() AND org IS NOT NULL
    GROUP BY site_id, quarter, metric),
years AS (
    SELECT DISTINCT org, financial_year FROM car.ggc_site_quarter WHERE org IS NOT NULL
    UNION
    SELECT DISTINCT o.org, car.ggc_baseline_year() FROM car.site_ownership o WHERE o.org IS NOT NULL),
quarters AS (
    SELECT y.org, y.financial_year, q.quarter,
           (make_date(y.financial_year, 4, 1) + (q.quarter - 1) * interval '3 months')::date AS first_day,
           (make_date(y.financial_year, 4, 1) + q.quarter * interval '3 months' - interval '1 day')::date AS last_day
    FROM years y CROSS JOIN generate_series(1, 4) q(quarter)),
shares AS (
    SELECT q.org, q.financial_year, q.quarter, o.site_id,
           sum(least(q.last_day, o.valid_to) - greatest(q.first_day, o.valid_from) + 1)::float8
               / (q.last_day - q.first_day + 1) AS share
    FROM quarters q
    JOIN car.site_ownership o ON o.org = q.org AND o.valid_from <= q.last_day AND o.valid_to >= q.first_day
    GROUP BY q.org, q.financial_year, q.quarter, q.first_day, q.last_day, o.site_id)
SELECT s.org, s.financial_year, s.quarter, b.metric, sum(b.value * s.share) AS value
FROM shares s
JOIN base b ON b.site_id = s.site_id AND b.quarter = s.quarter
GROUP BY s.org, s.financial_year, s.quarter, b.metric;
COMMENT ON VIEW car.ggc_baseline IS 'Internal: the GGC baseline per organisation, financial year, quarter and metric: the sum, over the sites the organisation owns in the quarter, of each site''s figure in the same quarter of the baseline year (car.ggc_baseline_year), weighted by the share of the quarter''s days it owns the site. A site moved between bodies moves its baseline with it; a site new to the estate (no figure in the baseline year while owned by any body) adds nothing.';

CREATE VIEW car.report_ggc WITH (security_invoker = true) AS
WITH sq AS MATERIALIZED (
    SELECT * FROM car.ggc_site_quarter WHERE org IS NOT NULL),
figures AS (
    SELECT org, financial_year, quarter, metric, sum(value) AS value, sum(value_estimated) AS value_estimated,
           sum(unpriced) AS unpriced, bool_and(signed) AS signed, sum(periods_actual) AS periods_actual,
           min(first_factor_year) AS first_factor_year, max(last_factor_year) AS last_factor_year
    FROM sq GROUP BY org, financial_year, quarter, metric),
periods AS (
    SELECT DISTINCT org, financial_year, quarter FROM sq WHERE financial_year >= car.ggc_baseline_year()),
base AS (
    SELECT site_id, quarter, metric, sum(value) AS value
    FROM sq WHERE financial_year = car.ggc_baseline_year()
    GROUP BY site_id, quarter, metric),
quarters AS (
    SELECT y.org, y.financial_year, q.quarter,
           (make_date(y.financial_year, 4, 1) + (q.quarter - 1) * interval '3 months')::date AS first_day,
           (make_date(y.financial_year, 4, 1) + q.quarter * interval '3 months' - interval '1 day')::date AS last_day
    FROM (SELECT DISTINCT org, financial_year FROM periods) y CROSS JOIN generate_series(1, 4) q(quarter)),
shares AS (
    SELECT q.org, q.financial_year, q.quarter, o.site_id,
           sum(least(q.last_day, o.valid_to) - greatest(q.first_day, o.valid_from) + 1)::float8
               / (q.last_day - q.first_day + 1) AS share
    FROM quarters q
    JOIN car.site_ownership o ON o.org = q.org AND o.valid_from <= q.last_day AND o.valid_to >= q.first_day
    GROUP BY q.org, q.financial_year, q.quarter, q.first_day, q.last_day, o.site_id),
baseline AS (
    SELECT s.org, s.financial_year, s.quarter, b.metric, sum(b.value * s.share) AS value
    FROM shares s JOIN base b ON b.site_id = s.site_id AND b.quarter = s.quarter
    GROUP BY s.org, s.financial_year, s.quarter, b.metric),
expected AS (
    SELECT x.org, car.financial_year(x.month) AS financial_year, car.financial_quarter(x.month) AS quarter, ma.metric,
           sum(x.periods_expected) AS periods_expected
    FROM car.expected_reported x JOIN car.ggc_metric_activity ma ON ma.activity = x.activity
    WHERE x.org IS NOT NULL
    GROUP BY x.org, car.financial_year(x.month), car.financial_quarter(x.month), ma.metric),
lines AS (
    SELECT p.org, p.financial_year, p.quarter, m.key AS metric,
           CASE WHEN f.unpriced > 0 THEN NULL ELSE coalesce(f.value, 0) END AS value,
           coalesce(f.value_estimated, 0) AS value_estimated,
           b.value AS baseline_value, coalesce(f.signed, true) AS signed,
           coalesce(f.periods_actual, 0) AS periods_actual, x.periods_expected,
           f.first_factor_year, f.last_factor_year
    FROM periods p
    CROSS JOIN car.ggc_metric m
    LEFT JOIN figures f ON f.org = p.org AND f.financial_year = p.financial_year AND f.quarter = p.quarter AND f.metric = m.key
    LEFT JOIN baseline b ON b.org = p.org AND b.financial_year = p.financial_year AND b.quarter = p.quarter AND b.metric = m.key
    LEFT JOIN expected x ON x.org = p.org AND x.financial_year = p.financial_year AND x.quarter = p.quarter AND x.metric = m.key
    WHERE f.metric IS NOT NULL OR b.metric IS NOT NULL),
years AS (
    SELECT l.org, l.financial_year, NULL::int AS quarter, l.metric,
           CASE WHEN bool_or(l.value IS NULL) THEN NULL ELSE sum(l.value) END AS value,
           sum(l.value_estimated) AS value_estimated,
           (SELECT sum(b.value) FROM baseline b WHERE b.org = l.org AND b.financial_year = l.financial_year AND b.metric = l.metric)
               AS baseline_value,
           bool_and(l.signed) AS signed, sum(l.periods_actual) AS periods_actual, sum(l.periods_expected) AS periods_expected,
           min(l.first_factor_year) AS first_factor_year, max(l.last_factor_year) AS last_factor_year,
           count(*) AS quarters_reported
    FROM lines l GROUP BY l.org, l.financial_year, l.metric)
SELECT r.org AS organisation, r.financial_year, car.financial_year_label(r.financial_year) AS reporting_year, r.quarter,
       (make_date(r.financial_year, 4, 1) + (coalesce(r.quarter, 1) - 1) * interval '3 months')::date AS period_start,
       (make_date(r.financial_year, 4, 1) + coalesce(r.quarter, 4) * interval '3 months' - interval '1 day')::date AS period_end,
       m.key AS metric, m.commitment, m.label AS metric_label, m.unit, r.value,
       car.financial_year_label(car.ggc_baseline_year()) AS baseline_year, r.baseline_value,
       (100 * (r.value - r.baseline_value) / nullif(r.baseline_value, 0))::float8 AS change_pct,
       (100.0 * r.periods_actual / nullif(r.periods_expected, 0))::float8 AS coverage,
       (100 * r.value_estimated / nullif(r.value, 0))::float8 AS pct_estimated,
       r.signed,
       r.first_factor_year::text || CASE WHEN r.last_factor_year <> r.first_factor_year THEN ', ' || r.last_factor_year ELSE '' END
           AS factor_years,
       r.quarters_reported
FROM (SELECT *, 1::bigint AS quarters_reported FROM lines UNION ALL SELECT * FROM years) r
JOIN car.ggc_metric m ON m.key = r.metric;
COMMENT ON VIEW car.report_ggc IS 'The Greening Government Commitments return: per organisation, financial year (April to March) and quarter (and the whole year, quarter NULL), each GGC metric (car.ggc_metric: overall greenhouse gas emissions, direct emissions from estate and operations, domestic flights, water), with the baseline year''s figure for the same estate and the change from it. Every financial year is priced with its own year''s factors (FY2017/18 with the 2017 set) whatever car.reporting_year_start says; signed periods read as signed; the baseline follows sites between bodies (car.site_org). Filter on organisation and financial_year.';
COMMENT ON COLUMN car.report_ggc.organisation IS 'The body (the organisation owning the sites that quarter).';
COMMENT ON COLUMN car.report_ggc.financial_year IS 'Financial year, as the calendar year it starts in (2023 for 2023/24).';
COMMENT ON COLUMN car.report_ggc.reporting_year IS 'The financial year as written: 2023/24.';
COMMENT ON COLUMN car.report_ggc.quarter IS 'Quarter of the financial year: 1 April-June, 2 July-September, 3 October-December, 4 January-March; NULL for the whole year.';
COMMENT ON COLUMN car.report_ggc.period_start IS 'First day of the quarter (or year).';
COMMENT ON COLUMN car.report_ggc.period_end IS 'Last day of the quarter (or year).';
COMMENT ON COLUMN car.report_ggc.metric IS 'The metric (car.ggc_metric.key): overall_ghg, direct_ghg, domestic_flights, water...';
COMMENT ON COLUMN car.report_ggc.commitment IS 'The GGC headline commitment: Greenhouse gas emissions, Water...';
COMMENT ON COLUMN car.report_ggc.metric_label IS 'What the return calls the figure.';
COMMENT ON COLUMN car.report_ggc.unit IS 'tCO2e (tonnes CO2 equivalent) or m3 (cubic metres).';
COMMENT ON COLUMN car.report_ggc.value IS 'The figure for the period, in unit, under the financial year''s factors; NULL when some of its rows cannot be priced that way (no factor set for the year or earlier).';
COMMENT ON COLUMN car.report_ggc.baseline_year IS 'The baseline financial year (car.ggc_baseline_year): 2017/18.';
COMMENT ON COLUMN car.report_ggc.baseline_value IS 'The same period (quarter, or year) of the baseline year for the sites the body owns in this period, weighted by the days it owns them, in unit; a site new to the estate adds nothing. For the whole year: all four quarters.';
COMMENT ON COLUMN car.report_ggc.change_pct IS 'Change from the baseline, %: 100 * (value - baseline_value) / baseline_value (negative: a reduction).';
COMMENT ON COLUMN car.report_ggc.coverage IS 'Completeness of the metric''s interval meters in the period, %: actual readings received / periods expected. NULL when none of them is an interval meter.';
COMMENT ON COLUMN car.report_ggc.pct_estimated IS 'Share of the figure that comes from estimated readings (car.estimate, car.bill), %.';
COMMENT ON COLUMN car.report_ggc.signed IS 'Whether the whole figure comes from signed periods (car.close_period).';
COMMENT ON COLUMN car.report_ggc.factor_years IS 'Year(s) of the conversion factor sets used (the financial year''s start, or the earlier year it fell back to).';
COMMENT ON COLUMN car.report_ggc.quarters_reported IS 'Quarters with data in the period (1 on a quarter''s line; up to 4 on the year''s line).';

-- The GGC return as a CSV file, in the shape of the data tables Defra
-- publishes with the GGC reports: one table per headline commitment with
-- the 2017 to 2018 baseline, the year and the change from the baseline
-- (https://www.gov.uk/government/publications/greening-government-commitments-april-2021-to-march-2024-report:
-- "Data is linked in each section as CSV files"; financial years written
-- "2017 to 2018"; "The baseline year for this framework was the 2017 to 2018
-- financial year").  The exact column headings of Defra's files were not
-- available to check against; the columns below follow the report's tables:
-- organisation, commitment, measure, unit, baseline, year, change (%).
-- RFC 4180: comma-separated, CRLF line ends, fields quoted when they hold a
-- comma, quote or line break; figures rounded to whole units (tCO2e, m3),
-- the change to one decimal place; an unknown figure is an empty field.
CREATE FUNCTION car.csv_field(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN CASE WHEN value IS NULL THEN ''
                WHEN value ~ '[",\r\n]' THEN '"' || replace(value, '"', '""') || '"'
                ELSE value END;
COMMENT ON FUNCTION car.csv_field(text) IS 'A value as one RFC 4180 CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break; NULL as nothing.';

CREATE FUNCTION car.ggc_csv(org text, fy int) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_csv text;
    v_fy  text := fy::text || ' to ' || (fy + 1)::text;
    v_by  int := car.ggc_baseline_year();
BEGIN
    SELECT string_agg(concat_ws(',', car.csv_field(r.organisation), car.csv_field(r.commitment), car.csv_field(r.metric_label),
                                car.csv_field(r.unit), coalesce(round(r.baseline_value)::text, ''),
                                coalesce(round(r.value)::text, ''), coalesce(round(r.change_pct::numeric, 1)::text, '')) || E'\r\n',
                      '' ORDER BY m.position, m.key)
    INTO v_csv
    FROM car.report_ggc r JOIN car.ggc_metric m ON m.key = r.metric
    WHERE r.organisation = org AND r.financial_year = fy AND r.quarter IS NULL;
    IF v_csv IS NULL THEN
        RAISE EXCEPTION 'no GGC figures of organisation "%" for the financial year % (that you may see)', org, car.financial_year_label(fy)
            USING ERRCODE = 'no_data_found',
                  HINT = 'car.report_ggc lists the organisations and financial years with figures.';
    END IF;
    RETURN 'Organisation,Commitment,Measure,Unit,' || v_by || ' to ' || (v_by + 1) || ' (baseline),' || v_fy
           || ',Change from baseline (%)' || E'\r\n' || v_csv;
END $$;
COMMENT ON FUNCTION car.ggc_csv(text, int) IS 'The GGC return of an organisation for a financial year (by the year it starts in: 2023 for 2023/24) as CSV text, laid out after the tables of Defra''s GGC reports (its column headings are car''s own: no CSV file Defra publishes could be checked against them): a header line, then one line per GGC metric (car.report_ggc, whole year) with organisation, commitment, measure, unit, the baseline year''s figure, the year''s figure (whole tCO2e or m3) and the change from the baseline (%, one decimal place). RFC 4180, CRLF line ends. An error when there are no figures.';

CREATE FUNCTION car.report_ggc_for(token text) RETURNS SETOF car.report_ggc
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_ggc') AS r(organisation text, financial_year int, reporting_year text,
          quarter int, period_start date, period_end date, metric text, commitment text, metric_label text, unit text,
          value float8, baseline_year text, baseline_value float8, change_pct float8, coverage float8, pct_estimated float8,
          signed boolean, factor_years text, quarters_reported bigint) $$;
COMMENT ON FUNCTION car.report_ggc_for(text) IS 'car.report_ggc as the token''s claims allow (the organisations it grants whole).';

-------------------------------------------------------------------------------
-- Structural change: site transfers recalculate both bodies' baselines, and
-- say so.
-------------------------------------------------------------------------------
CREATE TABLE car.baseline_recalculation (
    id             bigserial PRIMARY KEY,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    recorded_by    text NOT NULL,
    org            text NOT NULL,
    financial_year int NOT NULL,
    metric         text NOT NULL,
    baseline_year  int NOT NULL,
    value_before   float8 NOT NULL,
    value_after    float8 NOT NULL,
    unit           text NOT NULL,
    site_ids       int[] NOT NULL,
    cause          text NOT NULL
);
CREATE INDEX baseline_recalculation_org_idx ON car.baseline_recalculation (org, financial_year);
COMMENT ON TABLE car.baseline_recalculation IS 'The log of baseline recalculations: every change of car.site_org that moves a baseline writes, per body, financial year (from the baseline year to the current one) and GGC metric concerned, the baseline before and after. Written by car only.';
COMMENT ON COLUMN car.baseline_recalculation.recorded_by IS 'The role whose change of car.site_org caused it.';
COMMENT ON COLUMN car.baseline_recalculation.org IS 'The body whose baseline moved.';
COMMENT ON COLUMN car.baseline_recalculation.financial_year IS 'The financial year whose baseline moved (the calendar year it starts in).';
COMMENT ON COLUMN car.baseline_recalculation.metric IS 'The GGC metric (car.ggc_metric.key).';
COMMENT ON COLUMN car.baseline_recalculation.baseline_year IS 'The baseline financial year (car.ggc_baseline_year).';
COMMENT ON COLUMN car.baseline_recalculation.value_before IS 'The body''s baseline for the year before the change, in unit.';
COMMENT ON COLUMN car.baseline_recalculation.value_after IS 'After the change, in unit.';
COMMENT ON COLUMN car.baseline_recalculation.unit IS 'tCO2e or m3.';
COMMENT ON COLUMN car.baseline_recalculation.site_ids IS 'The sites whose ownership changed.';
COMMENT ON COLUMN car.baseline_recalculation.cause IS 'The change, as recorded: each site''s periods of ownership after it.';
ALTER TABLE car.baseline_recalculation ENABLE ROW LEVEL SECURITY;
CREATE POLICY baseline_recalculation_by_claims ON car.baseline_recalculation USING (car.org_visible(org));
SELECT pg_catalog.pg_extension_config_dump('car.baseline_recalculation', '');
SELECT pg_catalog.pg_extension_config_dump('car.baseline_recalculation_id_seq', '');

-- The owner car.site.org names for a site with periods of ownership: the
-- organisation of its latest period, the site's present owner (row-level
-- security lets its tokens see the whole site).  car.site_org_changed keeps
-- car.site.org so, and car.check_site_org lets it change to nothing else:
-- one definition for both.
CREATE FUNCTION car.site_present_owner(site int) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT so.org FROM car.site_org so
    WHERE so.site_id OPERATOR(pg_catalog.=) $1
    ORDER BY so.valid_from DESC
    LIMIT 1
    $$;
COMMENT ON FUNCTION car.site_present_owner(int) IS 'The organisation car.site.org must name for a site with periods of ownership in car.site_org: that of its latest period (a move recorded ahead of its day names the new owner at once); NULL for a site without periods (its car.site.org is then the only record). Internal: read by car.site_org_changed and car.check_site_org, executable by no role of car''s.';

-- Trigger on car.site_org (one per statement kind: transition tables): checks
-- that a site's periods do not overlap and that no signed day changes hands;
-- keeps car.site.org the owner of the site's latest period (its present owner); logs the baselines that moved.  It
-- runs as car's owner (the log is written by nobody else); every name and
-- operator in it is qualified.
CREATE FUNCTION car.site_org_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_old    car.site_org[] := '{}';
    v_new    car.site_org[] := '{}';
    v_after  car.site_org[];
    v_before car.site_org[];
    v_sites  int[];
    r        record;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'car.site_org'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'car.site_org_changed() fired on %, which is not car.site_org', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    -- a period being closed meanwhile waits for this change, or this for it
    -- (close_period holds SHARE ROW EXCLUSIVE on car.period_close)
    LOCK TABLE car.period_close IN SHARE MODE;
    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
        SELECT coalesce(pg_catalog.array_agg(o), '{}') INTO v_old FROM old_rows o;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        SELECT coalesce(pg_catalog.array_agg(n), '{}') INTO v_new FROM new_rows n;
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT s.site_id) INTO v_sites
    FROM (SELECT o.site_id FROM pg_catalog.unnest(v_old) o UNION ALL SELECT n.site_id FROM pg_catalog.unnest(v_new) n) s;
    IF v_sites IS NULL THEN
        RETURN NULL;
    END IF;

    -- a site's periods of ownership do not overlap
    SELECT a.site_id, a.org AS org_a, a.valid_from AS from_a, a.valid_to AS to_a, b.org AS org_b, b.valid_from AS from_b
    INTO r
    FROM car.site_org a JOIN car.site_org b
      ON b.site_id OPERATOR(pg_catalog.=) a.site_id AND b.valid_from OPERATOR(pg_catalog.>) a.valid_from
     AND b.valid_from OPERATOR(pg_catalog.<=) coalesce(a.valid_to, 'infinity'::date)
    WHERE a.site_id OPERATOR(pg_catalog.=) ANY (v_sites) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'site % would belong to two organisations at once: to % from % to %, and to % from %',
            r.site_id, r.org_a, r.from_a, coalesce(r.to_a::text, 'open'), r.org_b, r.from_b
            USING ERRCODE = 'exclusion_violation',
                  HINT = 'End the earlier period (valid_to) the day before the later one starts, or use car.transfer_site(site, org, from_date).';
    END IF;

    -- each changed site's ownership after and before the statement (a site
    -- without periods belongs to its car.site.org, not yet updated here)
    SELECT pg_catalog.array_agg(x) INTO v_after FROM (
        SELECT so.site_id, so.org, so.valid_from, coalesce(so.valid_to, 'infinity'::date), NULL::text, NULL::timestamptz
        FROM car.site_org so WHERE so.site_id OPERATOR(pg_catalog.=) ANY (v_sites)
        UNION ALL
        SELECT s.id, s.org, '-infinity'::date, 'infinity'::date, NULL, NULL FROM car.site s
        WHERE s.id OPERATOR(pg_catalog.=) ANY (v_sites)
        AND NOT EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id OPERATOR(pg_catalog.=) s.id)) x;
    WITH before AS (
        (SELECT so.site_id, so.org, so.valid_from, so.valid_to FROM car.site_org so
         WHERE so.site_id OPERATOR(pg_catalog.=) ANY (v_sites)
         EXCEPT ALL
         SELECT n.site_id, n.org, n.valid_from, n.valid_to FROM pg_catalog.unnest(v_new) n)
        UNION ALL
        SELECT o.site_id, o.org, o.valid_from, o.valid_to FROM pg_catalog.unnest(v_old) o)
    SELECT pg_catalog.array_agg(x) INTO v_before FROM (
        SELECT b.site_id, b.org, b.valid_from, coalesce(b.valid_to, 'infinity'::date), NULL::text, NULL::timestamptz FROM before b
        UNION ALL
        SELECT s.id, s.org, '-infinity'::date, 'infinity'::date, NULL, NULL FROM car.site s
        WHERE s.id OPERATOR(pg_catalog.=) ANY (v_sites)
        AND NOT EXISTS (SELECT 1 FROM before b WHERE b.site_id OPERATOR(pg_catalog.=) s.id)) x;

    -- no signed day changes hands: for every close in force, the days of its
    -- period on which its organisation owns each changed site are the same
    SELECT p.id, p.org, p.period, sp.site_id INTO r
    FROM car.period_close p
    CROSS JOIN pg_catalog.unnest(v_sites) sp(site_id)
    WHERE p.reopened_at IS NULL
    AND (SELECT coalesce(pg_catalog.range_agg(pg_catalog.daterange(x.valid_from, x.valid_to, '[]') OPERATOR(pg_catalog.*) p.period),
                         '{}'::pg_catalog.datemultirange)
         FROM pg_catalog.unnest(v_after) x
         WHERE x.site_id OPERATOR(pg_catalog.=) sp.site_id AND x.org OPERATOR(pg_catalog.=) p.org)
        OPERATOR(pg_catalog.<>)
        (SELECT coalesce(pg_catalog.range_agg(pg_catalog.daterange(x.valid_from, x.valid_to, '[]') OPERATOR(pg_catalog.*) p.period),
                         '{}'::pg_catalog.datemultirange)
         FROM pg_catalog.unnest(v_before) x
         WHERE x.site_id OPERATOR(pg_catalog.=) sp.site_id AND x.org OPERATOR(pg_catalog.=) p.org)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'site % would change hands on days of % signed by close % (%)', r.site_id, r.period, r.id, r.org
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Signed figures do not move: reopen the close (car.reopen_period, car_admin) or date the change after the signed period.';
    END IF;

    -- car.site.org: the owner of the latest period, the site's present
    -- owner for row-level security (a move recorded ahead of its day makes
    -- the new owner the present one at once, and the old one an earlier
    -- owner of the days it had the site; no session's date or time zone
    -- enters into it).  A site with no period left keeps its car.site.org.
    UPDATE car.site s SET org = t.org
    FROM (SELECT v.site_id, car.site_present_owner(v.site_id) AS org FROM pg_catalog.unnest(v_sites) v(site_id)) t
    WHERE s.id OPERATOR(pg_catalog.=) t.site_id AND t.org IS NOT NULL AND s.org IS DISTINCT FROM t.org;

    -- the baselines that moved, per body concerned, financial year (from the
    -- baseline year to the current one) and metric: after, every site the
    -- body owns now; before, the same less the changed sites as they are
    -- now, plus them as they were
    INSERT INTO car.baseline_recalculation (recorded_by, org, financial_year, metric, baseline_year, value_before, value_after,
                                            unit, site_ids, cause)
    WITH quarters AS (
        SELECT y AS financial_year, q AS quarter,
               (pg_catalog.make_date(y, 4, 1) OPERATOR(pg_catalog.+)
                ((q OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) interval '3 months'))::date AS first_day,
               ((pg_catalog.make_date(y, 4, 1) OPERATOR(pg_catalog.+) (q OPERATOR(pg_catalog.*) interval '3 months'))
                OPERATOR(pg_catalog.-) interval '1 day')::date AS last_day
        FROM pg_catalog.generate_series(car.ggc_baseline_year(), greatest(car.ggc_baseline_year(), car.financial_year(CURRENT_DATE))) y,
             pg_catalog.generate_series(1, 4) q),
    spans AS (
        SELECT o.site_id, o.org, o.valid_from, o.valid_to, true AS in_after, 1 AS sign
        FROM car.site_ownership o
        WHERE o.org OPERATOR(pg_catalog.=) ANY (SELECT x.org FROM pg_catalog.unnest(v_after) x
                                               UNION SELECT x.org FROM pg_catalog.unnest(v_before) x)
        UNION ALL
        SELECT x.site_id, x.org, x.valid_from, x.valid_to, false, -1 FROM pg_catalog.unnest(v_after) x
        UNION ALL
        SELECT x.site_id, x.org, x.valid_from, x.valid_to, false, 1 FROM pg_catalog.unnest(v_before) x),
    shares AS (
        SELECT s.org, q.financial_year, q.quarter, s.site_id, s.in_after,
               s.sign OPERATOR(pg_catalog.*)
               (least(q.last_day, s.valid_to) OPERATOR(pg_catalog.-) greatest(q.first_day, s.valid_from) OPERATOR(pg_catalog.+) 1)::float8
               OPERATOR(pg_catalog./) (q.last_day OPERATOR(pg_catalog.-) q.first_day OPERATOR(pg_catalog.+) 1) AS share
        FROM spans s
        JOIN quarters q ON s.valid_from OPERATOR(pg_catalog.<=) q.last_day AND s.valid_to OPERATOR(pg_catalog.>=) q.first_day
        WHERE s.org IS NOT NULL),
    base AS (
        SELECT g.site_id, g.quarter, g.metric, g.unit, pg_catalog.sum(g.value) AS value
        FROM car.ggc_site_quarter g
        WHERE g.financial_year OPERATOR(pg_catalog.=) car.ggc_baseline_year() AND g.org IS NOT NULL
        AND g.site_id OPERATOR(pg_catalog.=) ANY (SELECT DISTINCT s.site_id FROM shares s)
        GROUP BY g.site_id, g.quarter, g.metric, g.unit),
    totals AS (
        SELECT s.org, s.financial_year, b.metric, b.unit,
               coalesce(pg_catalog.sum(b.value OPERATOR(pg_catalog.*) s.share) FILTER (WHERE s.in_after), 0) AS value_after,
               coalesce(pg_catalog.sum(b.value OPERATOR(pg_catalog.*) s.share), 0) AS value_before
        FROM shares s JOIN base b ON b.site_id OPERATOR(pg_catalog.=) s.site_id AND b.quarter OPERATOR(pg_catalog.=) s.quarter
        GROUP BY s.org, s.financial_year, b.metric, b.unit)
    SELECT session_user, t.org, t.financial_year, t.metric, car.ggc_baseline_year(), t.value_before, t.value_after, t.unit, v_sites,
           (SELECT pg_catalog.string_agg(pg_catalog.format('site %s: %s', x.site_id, x.periods), '; ' ORDER BY x.site_id)
            FROM (SELECT y.site_id, pg_catalog.string_agg(pg_catalog.format('%s from %s to %s', coalesce(y.org, '(none)'),
                                                                          y.valid_from, y.valid_to), ', ' ORDER BY y.valid_from) AS periods
                  FROM pg_catalog.unnest(v_after) y GROUP BY y.site_id) x)
    FROM totals t
    WHERE pg_catalog.abs(t.value_after OPERATOR(pg_catalog.-) t.value_before)
          OPERATOR(pg_catalog.>) (1e-9 OPERATOR(pg_catalog.*) greatest(pg_catalog.abs(t.value_after), pg_catalog.abs(t.value_before)));
    RETURN NULL;
END $$;
COMMENT ON FUNCTION car.site_org_changed() IS 'Trigger on car.site_org: refuses overlapping periods of a site and changes of hands on signed days; keeps car.site.org the owner of today; logs the baselines that moved in car.baseline_recalculation.';
CREATE TRIGGER site_org_inserted AFTER INSERT ON car.site_org REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.site_org_changed();
CREATE TRIGGER site_org_updated AFTER UPDATE ON car.site_org REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.site_org_changed();
CREATE TRIGGER site_org_deleted AFTER DELETE ON car.site_org REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.site_org_changed();

CREATE FUNCTION car.transfer_site(site int, org text, from_date date, note text DEFAULT NULL) RETURNS SETOF car.site_org
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_current text;
BEGIN
    IF site IS NULL OR org IS NULL OR from_date IS NULL THEN
        RAISE EXCEPTION 'car.transfer_site needs a site, the organisation receiving it and the first day it owns it'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT s.org INTO v_current FROM car.site s WHERE s.id OPERATOR(pg_catalog.=) site;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'site % does not exist', site USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id OPERATOR(pg_catalog.=) site) THEN
        -- its first recorded periods: its present owner since always, until the day before
        INSERT INTO car.site_org (site_id, org, valid_from, valid_to, note)
        VALUES (site, v_current, '-infinity', from_date OPERATOR(pg_catalog.-) 1, 'before the transfer'),
               (site, transfer_site.org, from_date, NULL, note);
    ELSE
        UPDATE car.site_org so SET valid_to = from_date OPERATOR(pg_catalog.-) 1
        WHERE so.site_id OPERATOR(pg_catalog.=) site AND so.valid_from OPERATOR(pg_catalog.<) from_date
        AND coalesce(so.valid_to, 'infinity'::date) OPERATOR(pg_catalog.>=) from_date;
        DELETE FROM car.site_org so WHERE so.site_id OPERATOR(pg_catalog.=) site AND so.valid_from OPERATOR(pg_catalog.>=) from_date;
        INSERT INTO car.site_org (site_id, org, valid_from, valid_to, note) VALUES (site, transfer_site.org, from_date, NULL, note);
    END IF;
    RETURN QUERY SELECT so.* FROM car.site_org so WHERE so.site_id OPERATOR(pg_catalog.=) site ORDER BY so.valid_from;
END $$;
COMMENT ON FUNCTION car.transfer_site(int, text, date, text) IS 'Move a site to another organisation from a day on (machinery of government change): ends its current period of ownership the day before and opens one for org (a site without periods gets its present owner until then). The baselines of both bodies are recalculated and logged (car.baseline_recalculation). Returns the site''s periods of ownership. For car_admin (it writes car.site_org).';

-- A site's owner is changed through car.site_org once it has periods there.
-- The rule is on the data, not on the caller: car.site.org of a site with
-- periods may change only to the owner those periods give it today
-- (car.site_present_owner), which is what car.site_org_changed writes, from
-- whatever trigger depth a change comes.  It reads car.site_org as car's
-- owner, so that row-level security cannot hide a site's periods from it.
CREATE FUNCTION car.check_site_org() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_owner text;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'car.site'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'car.check_site_org() fired on %, which is not car.site', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF NEW.org IS DISTINCT FROM OLD.org THEN
        v_owner := car.site_present_owner(OLD.id);
        IF v_owner IS NOT NULL AND NEW.org IS DISTINCT FROM v_owner THEN
            RAISE EXCEPTION 'the owner of site % ("%") is recorded in car.site_org: its present owner is %, not %',
                OLD.id, OLD.name, v_owner, coalesce(NEW.org, 'none')
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Move it with car.transfer_site(site, org, from_date): its periods of ownership and the baselines follow.';
        END IF;
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION car.check_site_org() IS 'Trigger on car.site: the org of a site with periods in car.site_org is the owner they give it today (car.site_present_owner); it changes only through them (car.transfer_site, or car.site_org written by car_admin), whoever writes car.site and from whatever trigger. Any other change is refused (SQLSTATE 55000).';
CREATE TRIGGER site_org_checked BEFORE UPDATE OF org ON car.site FOR EACH ROW EXECUTE FUNCTION car.check_site_org();

-------------------------------------------------------------------------------
-- Normalisers and targets (issue 14, point 7).
-------------------------------------------------------------------------------
CREATE TABLE car.normaliser_kind (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 63),
    label       text NOT NULL,
    unit        text NOT NULL,
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE car.normaliser_kind IS 'What emissions can be divided by (car.normaliser, car.report_normalised): full-time equivalent staff, floor area, places, spend. Users may add kinds.';
COMMENT ON COLUMN car.normaliser_kind.unit IS 'Unit of the normaliser''s values: FTE, m2, places, GBP...';
COMMENT ON COLUMN car.normaliser_kind.builtin IS 'Row shipped with car (not dumped by pg_dump; recreated by CREATE EXTENSION).';
INSERT INTO car.normaliser_kind (key, label, unit, description, builtin) VALUES
    ('fte', 'Full-time equivalent staff', 'FTE', 'Staff, in full-time equivalents (the GGC and SECR intensity per FTE).', true),
    ('floor_area', 'Floor area', 'm2', 'Gross internal floor area, square metres.', true),
    ('places', 'Places', 'places', 'Places served: prison places, beds, pupils, desks...', true),
    ('spend', 'Spend', 'GBP', 'Spend or budget, pounds sterling.', true);
SELECT pg_catalog.pg_extension_config_dump('car.normaliser_kind', 'WHERE NOT builtin');

CREATE TABLE car.normaliser (
    id         serial PRIMARY KEY,
    site_id    int REFERENCES car.site (id) ON DELETE CASCADE,
    org        text CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    kind       text NOT NULL REFERENCES car.normaliser_kind (key) ON UPDATE CASCADE,
    value      float8 NOT NULL CHECK (value >= 0 AND value < 'Infinity'),
    valid_from date NOT NULL,
    valid_to   date CHECK (valid_to >= valid_from),
    note       text,
    CONSTRAINT normaliser_site_or_org CHECK ((site_id IS NULL) <> (org IS NULL))
);
CREATE INDEX normaliser_site_idx ON car.normaliser (site_id, kind);
CREATE INDEX normaliser_org_idx ON car.normaliser (org, kind);
COMMENT ON TABLE car.normaliser IS 'A normaliser''s value for a site or an organisation over UK days (valid_from to valid_to): FTE, floor area, places, spend (car.normaliser_kind). When it changes in the year, reports weight each value by its days. Periods of one site or organisation and kind do not overlap.';
COMMENT ON COLUMN car.normaliser.site_id IS 'The site (car.site.id), or NULL for an organisation-wide value.';
COMMENT ON COLUMN car.normaliser.org IS 'The organisation, for an organisation-wide value (else NULL).';
COMMENT ON COLUMN car.normaliser.kind IS 'What it measures (car.normaliser_kind.key).';
COMMENT ON COLUMN car.normaliser.value IS 'Its value over the period, in the kind''s unit.';
COMMENT ON COLUMN car.normaliser.valid_from IS 'First UK day the value holds.';
COMMENT ON COLUMN car.normaliser.valid_to IS 'Last UK day it holds; NULL while it does.';
COMMENT ON CONSTRAINT normaliser_site_or_org ON car.normaliser IS 'A value is a site''s (site_id) or an organisation''s (org), not both.';
ALTER TABLE car.normaliser ENABLE ROW LEVEL SECURITY;
CREATE POLICY normaliser_by_claims ON car.normaliser USING (CASE WHEN site_id IS NOT NULL THEN car.site_visible(site_id) ELSE car.org_visible(org) END);
SELECT pg_catalog.pg_extension_config_dump('car.normaliser', '');
SELECT pg_catalog.pg_extension_config_dump('car.normaliser_id_seq', '');

CREATE FUNCTION car.check_normaliser() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    -- one writer of a site's or organisation's values at a time, so that two cannot both pass the check
    PERFORM pg_catalog.pg_advisory_xact_lock(1667330675, pg_catalog.hashtext(coalesce(NEW.site_id::text, 'org:' || NEW.org) || '/' || NEW.kind));
    SELECT n.id, n.value, n.valid_from, n.valid_to INTO r FROM car.normaliser n
    WHERE n.kind OPERATOR(pg_catalog.=) NEW.kind AND n.id OPERATOR(pg_catalog.<>) NEW.id
    AND (n.site_id OPERATOR(pg_catalog.=) NEW.site_id OR n.org OPERATOR(pg_catalog.=) NEW.org)
    AND n.valid_from OPERATOR(pg_catalog.<=) coalesce(NEW.valid_to, 'infinity'::date)
    AND NEW.valid_from OPERATOR(pg_catalog.<=) coalesce(n.valid_to, 'infinity'::date)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% of % from % overlaps the value % from % to % (normaliser %)', NEW.kind,
            coalesce('site ' || NEW.site_id, 'organisation ' || NEW.org), NEW.valid_from, r.value, r.valid_from,
            coalesce(r.valid_to::text, 'open'), r.id
            USING ERRCODE = 'exclusion_violation',
                  HINT = 'End the earlier value (valid_to) the day before the new one starts.';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION car.check_normaliser() IS 'Trigger on car.normaliser: the periods of one site''s or organisation''s values of a kind do not overlap.';
CREATE TRIGGER normaliser_checked BEFORE INSERT OR UPDATE ON car.normaliser FOR EACH ROW EXECUTE FUNCTION car.check_normaliser();

-- The bounds of a reporting year (car.reporting_year_start) as dates.
CREATE FUNCTION car.reporting_year_days(year int, OUT first_day date, OUT last_day date)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (make_date(year, coalesce(nullif(current_setting('car.reporting_year_start', true), ''), '1')::int, 1),
            (make_date(year, coalesce(nullif(current_setting('car.reporting_year_start', true), ''), '1')::int, 1)
             + interval '1 year - 1 day')::date);
COMMENT ON FUNCTION car.reporting_year_days(int) IS 'First and last UK day of a reporting year (named by the calendar year it starts in, under car.reporting_year_start).';

-- Internal: each normaliser's day-weighted value per reporting year, for
-- sites and for organisations (an organisation without values of its own:
-- the sum of its sites', each weighted by the share of the year the
-- organisation owned the site).
CREATE VIEW car.normaliser_yearly WITH (security_invoker = true) AS
WITH years AS (
    SELECT y AS year, d.first_day, d.last_day
    FROM (SELECT min(car.reporting_year(valid_from)) AS lo,
                 max(car.reporting_year(greatest(coalesce(valid_to, current_date), valid_from))) AS hi
          FROM car.normaliser) b
    CROSS JOIN LATERAL generate_series(b.lo, b.hi) y
    CROSS JOIN LATERAL car.reporting_year_days(y) d),
spans AS (
    SELECT n.site_id, n.org, n.kind, n.value, y.year, y.last_day - y.first_day + 1 AS year_days,
           least(y.last_day, coalesce(n.valid_to, 'infinity'::date)) - greatest(y.first_day, n.valid_from) + 1 AS days
    FROM car.normaliser n
    JOIN years y ON n.valid_from <= y.last_day AND coalesce(n.valid_to, 'infinity'::date) >= y.first_day),
sites AS (
    SELECT site_id, kind, year, sum(value * days) / sum(days) AS value, sum(days) AS days
    FROM spans WHERE site_id IS NOT NULL GROUP BY site_id, kind, year),
orgs AS (
    SELECT org, kind, year, sum(value * days) / sum(days) AS value, sum(days) AS days
    FROM spans WHERE org IS NOT NULL GROUP BY org, kind, year),
from_sites AS (
    SELECT o.org, s.kind, s.year,
           sum(s.value * (least(y.last_day, o.valid_to) - greatest(y.first_day, o.valid_from) + 1)::float8
               / (y.last_day - y.first_day + 1)) AS value
    FROM sites s
    CROSS JOIN LATERAL car.reporting_year_days(s.year) y
    JOIN car.site_ownership o ON o.site_id = s.site_id AND o.valid_from <= y.last_day AND o.valid_to >= y.first_day
    WHERE o.org IS NOT NULL
    GROUP BY o.org, s.kind, s.year)
SELECT NULL::text AS org, s.site_id, s.kind, s.year, s.value, s.days FROM sites s
UNION ALL
SELECT o.org, NULL, o.kind, o.year, o.value, o.days FROM orgs o
UNION ALL
SELECT f.org, NULL, f.kind, f.year, f.value, NULL FROM from_sites f
WHERE NOT EXISTS (SELECT 1 FROM orgs o WHERE o.org = f.org AND o.kind = f.kind AND o.year = f.year);
COMMENT ON VIEW car.normaliser_yearly IS 'Internal: per site or organisation, kind and reporting year, the normaliser''s value weighted by its days (the mean over the days it holds; days counts them), or for an organisation without values of its own the sum of its sites'' (days NULL).';

CREATE VIEW car.report_normalised WITH (security_invoker = true) AS
WITH e AS (
    SELECT r.org, r.site_id, car.reporting_year(r.month) AS year, sum(r.kg_co2e) AS kg_co2e,
           sum(r.periods_actual) FILTER (WHERE r.primary_row) AS periods_actual, sum(r.kg_co2e_estimated) AS kg_co2e_estimated
    FROM car.emission_reported r WHERE r.org IS NOT NULL
    GROUP BY r.org, r.site_id, car.reporting_year(r.month)),
x AS (
    SELECT org, site_id, car.reporting_year(month) AS year, sum(periods_expected) AS periods_expected
    FROM car.expected_reported WHERE org IS NOT NULL GROUP BY org, site_id, car.reporting_year(month)),
lines AS (
    SELECT e.org, e.site_id, e.year, e.kg_co2e, e.periods_actual, e.kg_co2e_estimated, x.periods_expected
    FROM e LEFT JOIN x ON x.org = e.org AND x.site_id = e.site_id AND x.year = e.year
    UNION ALL
    SELECT e.org, NULL, e.year, sum(e.kg_co2e), sum(e.periods_actual), sum(e.kg_co2e_estimated),
           (SELECT sum(x.periods_expected) FROM x WHERE x.org = e.org AND x.year = e.year)
    FROM e GROUP BY e.org, e.year)
SELECT l.org AS organisation, l.site_id, s.name AS site, l.year, car.reporting_year_label(l.year) AS reporting_year,
       n.kind, k.label AS normaliser, k.unit AS normaliser_unit, n.value AS normaliser_value, n.days AS normaliser_days,
       l.kg_co2e, l.kg_co2e / 1000 AS tonnes_co2e,
       (l.kg_co2e / nullif(n.value, 0))::float8 AS kg_co2e_per_unit,
       (100.0 * l.periods_actual / nullif(l.periods_expected, 0))::float8 AS coverage,
       (100.0 * l.kg_co2e_estimated / nullif(l.kg_co2e, 0))::float8 AS pct_estimated
FROM lines l
JOIN car.normaliser_yearly n ON n.year = l.year
     AND ((l.site_id IS NOT NULL AND n.site_id = l.site_id) OR (l.site_id IS NULL AND n.org = l.org))
JOIN car.normaliser_kind k ON k.key = n.kind
LEFT JOIN car.site s ON s.id = l.site_id;
COMMENT ON VIEW car.report_normalised IS 'Carbon intensity by any normaliser: per organisation (site_id NULL) or site, reporting year (car.reporting_year_start) and normaliser kind (FTE, floor area, places, spend, or one of the user''s), the emissions in kg CO2e divided by the normaliser''s value weighted by its days in the year. Only where a value is recorded (car.normaliser).';
COMMENT ON COLUMN car.report_normalised.organisation IS 'The organisation owning the site(s) in the year.';
COMMENT ON COLUMN car.report_normalised.site_id IS 'Site number (car.site.id); NULL for the whole organisation.';
COMMENT ON COLUMN car.report_normalised.site IS 'Site name; NULL for the whole organisation.';
COMMENT ON COLUMN car.report_normalised.year IS 'Reporting year, as the calendar year it starts in.';
COMMENT ON COLUMN car.report_normalised.reporting_year IS 'Reporting year as written: 2023, or 2023/24.';
COMMENT ON COLUMN car.report_normalised.kind IS 'Normaliser kind (car.normaliser_kind.key): fte, floor_area, places, spend...';
COMMENT ON COLUMN car.report_normalised.normaliser IS 'What the kind measures.';
COMMENT ON COLUMN car.report_normalised.normaliser_unit IS 'Its unit: FTE, m2, places, GBP...';
COMMENT ON COLUMN car.report_normalised.normaliser_value IS 'The normaliser''s value for the year: each recorded value weighted by the days it holds in the year (100 FTE for 183 days and 120 for 182: 109.97); for an organisation without values of its own, the sum of its sites''.';
COMMENT ON COLUMN car.report_normalised.normaliser_days IS 'Days of the year the values cover (NULL when summed from sites).';
COMMENT ON COLUMN car.report_normalised.kg_co2e IS 'Emissions in the year, kg CO2e, all scopes and components (signed periods as signed).';
COMMENT ON COLUMN car.report_normalised.tonnes_co2e IS 'The same in tonnes CO2e.';
COMMENT ON COLUMN car.report_normalised.kg_co2e_per_unit IS 'kg CO2e per unit of the normaliser: the intensity.';
COMMENT ON COLUMN car.report_normalised.coverage IS 'Completeness of the interval meters, %: actual readings received / periods expected in the year.';
COMMENT ON COLUMN car.report_normalised.pct_estimated IS 'Share of kg_co2e that comes from estimated readings, %.';

-- Targets: a reduction from a base year by a target year, along a straight line.
CREATE TABLE car.target (
    id          serial PRIMARY KEY,
    org         text NOT NULL CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    metric      text NOT NULL REFERENCES car.ggc_metric (key) ON UPDATE CASCADE,
    base_year   int NOT NULL CHECK (base_year BETWEEN 1990 AND 2100),
    target_year int NOT NULL CHECK (target_year BETWEEN 1990 AND 2100),
    reduction   numeric NOT NULL CHECK (reduction > 0 AND reduction <= 100),
    note        text,
    CONSTRAINT target_year_after_base_year CHECK (target_year > base_year),
    UNIQUE (org, metric, target_year)
);
COMMENT ON TABLE car.target IS 'Reduction targets of organisations: a GGC metric (car.ggc_metric) reduced by reduction % from its base financial year by its target financial year, along a straight glidepath; car.report_target says each year whether the body is on track.';
COMMENT ON COLUMN car.target.org IS 'The organisation.';
COMMENT ON COLUMN car.target.metric IS 'The metric (car.ggc_metric.key): overall_ghg, direct_ghg, domestic_flights, water...';
COMMENT ON COLUMN car.target.base_year IS 'Base financial year, by the year it starts in (2017 for 2017/18). When it is the GGC baseline year (car.ggc_baseline_year), the base value is the baseline of the year assessed, which follows the sites between bodies; otherwise the organisation''s figure for the base year.';
COMMENT ON COLUMN car.target.target_year IS 'Financial year by which the reduction is due.';
COMMENT ON COLUMN car.target.reduction IS 'The reduction due by the target year, % of the base value (75 for -75%).';
COMMENT ON CONSTRAINT target_year_after_base_year ON car.target IS 'The target financial year comes after the base year.';
ALTER TABLE car.target ENABLE ROW LEVEL SECURITY;
CREATE POLICY target_by_claims ON car.target USING (car.org_visible(org));
SELECT pg_catalog.pg_extension_config_dump('car.target', '');
SELECT pg_catalog.pg_extension_config_dump('car.target_id_seq', '');

CREATE VIEW car.report_target WITH (security_invoker = true) AS
SELECT t.id AS target_id, t.org AS organisation, t.metric, m.label AS metric_label, m.unit,
       car.financial_year_label(t.base_year) AS base_year, car.financial_year_label(t.target_year) AS target_year,
       t.reduction AS reduction_pct, g.financial_year, g.reporting_year,
       b.base_value,
       (b.base_value * (1 - t.reduction / 100 * (g.financial_year - t.base_year) / (t.target_year - t.base_year)))::float8 AS path_value,
       g.value,
       (g.value - b.base_value * (1 - t.reduction / 100 * (g.financial_year - t.base_year) / (t.target_year - t.base_year)))::float8 AS gap,
       g.value <= b.base_value * (1 - t.reduction / 100 * (g.financial_year - t.base_year) / (t.target_year - t.base_year)) AS on_track,
       g.coverage, g.pct_estimated, g.signed
FROM car.target t
JOIN car.ggc_metric m ON m.key = t.metric
JOIN car.report_ggc g ON g.organisation = t.org AND g.metric = t.metric AND g.quarter IS NULL
     AND g.financial_year BETWEEN t.base_year AND t.target_year
CROSS JOIN LATERAL (
    SELECT CASE WHEN t.base_year = car.ggc_baseline_year() THEN g.baseline_value
                ELSE (SELECT b.value FROM car.report_ggc b WHERE b.organisation = t.org AND b.metric = t.metric
                      AND b.quarter IS NULL AND b.financial_year = t.base_year) END AS base_value) b;
COMMENT ON VIEW car.report_target IS 'Each target (car.target) against the figures (car.report_ggc, whole financial years from the base year to the target year): the base value, the straight glidepath to the target (path_value = base * (1 - reduction% * (year - base year) / (target year - base year))), the year''s figure, the gap and whether the body is on track. A 400 t base in 2017 with -75% by 2037 puts the path at 280 t in 2025; 290 t is 10 t off track.';
COMMENT ON COLUMN car.report_target.target_id IS 'The target (car.target.id).';
COMMENT ON COLUMN car.report_target.organisation IS 'The organisation.';
COMMENT ON COLUMN car.report_target.metric IS 'The metric (car.ggc_metric.key).';
COMMENT ON COLUMN car.report_target.metric_label IS 'What the return calls it.';
COMMENT ON COLUMN car.report_target.unit IS 'tCO2e or m3.';
COMMENT ON COLUMN car.report_target.base_year IS 'Base financial year, as written (2017/18).';
COMMENT ON COLUMN car.report_target.target_year IS 'Target financial year, as written.';
COMMENT ON COLUMN car.report_target.reduction_pct IS 'The reduction due by the target year, %.';
COMMENT ON COLUMN car.report_target.financial_year IS 'The financial year assessed, as the calendar year it starts in.';
COMMENT ON COLUMN car.report_target.reporting_year IS 'The same as written: 2025/26.';
COMMENT ON COLUMN car.report_target.base_value IS 'The base value, in unit: the GGC baseline of the year assessed (the same estate) when the base year is the GGC baseline year, else the organisation''s figure for the base year.';
COMMENT ON COLUMN car.report_target.path_value IS 'Where the glidepath stands in the year assessed, in unit.';
COMMENT ON COLUMN car.report_target.value IS 'The year''s figure (car.report_ggc), in unit.';
COMMENT ON COLUMN car.report_target.gap IS 'value - path_value, in unit: above 0, off track by that much.';
COMMENT ON COLUMN car.report_target.on_track IS 'Whether the figure is at or below the glidepath.';
COMMENT ON COLUMN car.report_target.coverage IS 'Completeness of the figure''s interval meters, %.';
COMMENT ON COLUMN car.report_target.pct_estimated IS 'Share of the figure from estimated readings, %.';
COMMENT ON COLUMN car.report_target.signed IS 'Whether the figure comes from signed periods.';

CREATE FUNCTION car.report_target_for(token text) RETURNS SETOF car.report_target
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_target') AS r(target_id int, organisation text, metric text,
          metric_label text, unit text, base_year text, target_year text, reduction_pct numeric, financial_year int,
          reporting_year text, base_value float8, path_value float8, value float8, gap float8, on_track boolean,
          coverage float8, pct_estimated float8, signed boolean) $$;
COMMENT ON FUNCTION car.report_target_for(text) IS 'car.report_target as the token''s claims allow.';
CREATE FUNCTION car.report_normalised_for(token text) RETURNS SETOF car.report_normalised
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_normalised') AS r(organisation text, site_id int, site text, year int,
          reporting_year text, kind text, normaliser text, normaliser_unit text, normaliser_value float8,
          normaliser_days bigint, kg_co2e float8, tonnes_co2e float8, kg_co2e_per_unit float8, coverage float8,
          pct_estimated float8) $$;
COMMENT ON FUNCTION car.report_normalised_for(text) IS 'car.report_normalised as the token''s claims allow (the organisations it grants whole).';

-------------------------------------------------------------------------------
-- Disclosure text (issue 14, point 8): the methodology paragraph of an annual
-- report, from what was used, and the SECR table of bodies that are companies.
-------------------------------------------------------------------------------
CREATE FUNCTION car.methodology(org text, fy int) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_first  date := make_date(fy, 4, 1);
    v_last   date := make_date(fy + 1, 3, 31);
    v_sets   text;
    v_rule   text;
    v_basis  text;
    v_cov    float8;
    v_est    float8;
    v_methods text;
    v_excl   text;
    v_signed text;
    v_base   text;
    v_moves  bigint;
    v_any    boolean;
BEGIN
    SELECT count(*) > 0 INTO v_any FROM car.report_ggc g
    WHERE g.organisation = org AND g.financial_year = fy AND g.quarter IS NULL;
    IF NOT v_any THEN
        RAISE EXCEPTION 'no GGC figures of organisation "%" for the financial year % (that you may see)', org, car.financial_year_label(fy)
            USING ERRCODE = 'no_data_found', HINT = 'car.report_ggc lists the organisations and financial years with figures.';
    END IF;
    -- the factor sets that priced the year (as signed, for signed months)
    WITH used AS (
        SELECT DISTINCT e.fy_factor_set_id AS set_id, e.close_id
        FROM car.emission_reported e
        WHERE e.org = methodology.org AND e.month BETWEEN v_first AND v_last AND e.fy_factor_set_id IS NOT NULL),
    sets AS (
        SELECT DISTINCT coalesce(f.title, c.title, 'conversion factors') AS title, coalesce(f.year, c.year) AS year,
               coalesce(f.revision, c.revision) AS revision, coalesce(f.sha256, c.sha256) AS sha256,
               coalesce(f.publisher, c.publisher) AS publisher
        FROM used u
        LEFT JOIN car.factor_set f ON f.id = u.set_id
        LEFT JOIN car.closed_factor_set c ON c.set_id = u.set_id AND c.close_id = u.close_id)
    SELECT string_agg(format('%s (%s, %s, revision %s, SHA-256 %s)', s.title, coalesce(s.publisher, 'DESNZ'), s.year, s.revision, s.sha256),
                      '; ' ORDER BY s.year, s.revision),
           CASE WHEN min(s.year) = fy AND max(s.year) = fy
                THEN format('the factors published for %s, the calendar year in which the financial year starts', fy)
                ELSE format('the factors of %s, the latest published for or before %s, the calendar year in which the financial year starts',
                            string_agg(DISTINCT s.year::text, ' and '), fy) END
    INTO v_sets, v_rule FROM sets s;
    -- the calorific-value basis of the fuels used
    SELECT string_agg(DISTINCT CASE a.uom_basis WHEN 'Gross CV' THEN 'gross' ELSE 'net' END || ' calorific value (' || a.key || ')', ', ')
    INTO v_basis
    FROM car.activity a
    WHERE a.uom_basis IS NOT NULL AND EXISTS (
        SELECT 1 FROM car.emission_reported e WHERE e.org = methodology.org AND e.month BETWEEN v_first AND v_last
        AND e.activity = a.key);
    -- coverage and estimates of the overall figure
    SELECT g.coverage, g.pct_estimated INTO v_cov, v_est FROM car.report_ggc g
    WHERE g.organisation = org AND g.financial_year = fy AND g.quarter IS NULL AND g.metric = 'overall_ghg';
    SELECT string_agg(format('%s (%s periods)', l.method, l.filled), ', ' ORDER BY l.method) INTO v_methods
    FROM (SELECT el.method, sum(el.periods_filled + el.periods_replaced) AS filled
          FROM car.estimate_log el
          JOIN car.meter m ON m.id = el.meter_id
          JOIN car.site_ownership o ON o.site_id = m.site_id AND o.org = methodology.org
               AND o.valid_from <= v_last AND o.valid_to >= v_first
          WHERE el.period_start < (v_last + 1)::timestamp AT TIME ZONE 'Europe/London'
          AND el.period_end > v_first::timestamp AT TIME ZONE 'Europe/London'
          GROUP BY el.method) l;
    -- what the GGC figures leave out, with how much
    SELECT string_agg(format('%s %s (%s tCO2e)', x.what, x.activity, to_char(x.t, 'FM999999990.00')), ', ' ORDER BY x.what, x.activity)
    INTO v_excl
    FROM (SELECT CASE WHEN e.component LIKE 'wtt%' THEN 'well-to-tank emissions of'
                      WHEN e.component = 'td' THEN 'transmission and distribution losses of'
                      ELSE 'Scope ' || coalesce(e.scope::text, '?') || ' emissions of' END AS what,
                 e.activity, sum(e.fy_kg_co2e) / 1000 AS t
          FROM car.emission_reported e
          WHERE e.org = methodology.org AND e.month BETWEEN v_first AND v_last
          AND NOT EXISTS (SELECT 1 FROM car.ggc_metric m
                          WHERE m.unit = 'tCO2e'
                          AND EXISTS (SELECT 1 FROM car.ggc_classification c WHERE c.metric = m.key AND c.include
                                      AND e.activity LIKE c.activity AND (c.scope IS NULL OR c.scope = e.scope)
                                      AND e.component LIKE c.component)
                          AND NOT EXISTS (SELECT 1 FROM car.ggc_classification c WHERE c.metric = m.key AND NOT c.include
                                          AND e.activity LIKE c.activity AND (c.scope IS NULL OR c.scope = e.scope)
                                          AND e.component LIKE c.component))
          GROUP BY 1, 2) x;
    -- signed?
    SELECT string_agg(format('signed on %s (close %s, SHA-256 %s)', to_char(p.closed_at AT TIME ZONE 'Europe/London', 'DD/MM/YYYY'),
                             p.id, p.sha256), '; ' ORDER BY p.id)
    INTO v_signed
    FROM car.period_close p
    WHERE p.org = methodology.org AND p.reopened_at IS NULL AND p.period && daterange(v_first, v_last, '[]');
    SELECT count(DISTINCT b.site_ids) INTO v_moves FROM car.baseline_recalculation b
    WHERE b.org = methodology.org AND b.financial_year = fy;
    v_base := format('Each figure is compared with the %s baseline year for the same estate', car.financial_year_label(car.ggc_baseline_year()))
              || CASE WHEN v_moves > 0 THEN format(', restated for %s change(s) in the sites the organisation owns', v_moves) ELSE '' END
              || '; sites new to the estate add nothing to the baseline.';

    RETURN format('Greenhouse gas emissions of %s for the financial year %s (1 April %s to 31 March %s) were calculated from metered '
                  'and billed activity data with the UK Government GHG Conversion Factors for Company Reporting: %s. '
                  'Each financial year is priced with %s. ',
                  org, car.financial_year_label(fy), fy, fy + 1, coalesce(v_sets, 'none'), coalesce(v_rule, 'no factors'))
        || CASE WHEN v_basis IS NOT NULL THEN format('Fuel quantities in kWh are on a %s basis. ', v_basis) ELSE '' END
        || 'Scope 2 emissions of purchased electricity, heat and steam are location-based (the UK grid average factor); '
        || 'no market-based instruments are applied. '
        || CASE WHEN v_cov IS NOT NULL
                THEN format('Interval meters reported %s%% of the periods expected as actual readings; ', to_char(v_cov, 'FM990.0'))
                ELSE '' END
        || format('%s%% of the total greenhouse gas emissions come from estimated readings', to_char(coalesce(v_est, 0), 'FM990.0'))
        || CASE WHEN v_methods IS NOT NULL THEN format(' (estimation methods: %s)', v_methods) ELSE '' END || '. '
        || 'The GGC figures comprise Scope 1, Scope 2 and business travel'
        || CASE WHEN v_excl IS NOT NULL THEN format('; excluded: %s', v_excl) ELSE '' END || '. '
        || v_base
        || CASE WHEN v_signed IS NOT NULL THEN format(' The figures were %s.', v_signed) ELSE ' The figures are not signed.' END;
END $$;
COMMENT ON FUNCTION car.methodology(text, int) IS 'The methodology paragraph of an annual report for an organisation''s financial year (by the year it starts in), written from what car used: the factor sets (title, publisher, year, revision, SHA-256 of the file), the financial-year rule, the calorific-value basis of the fuels, location-based Scope 2, the coverage and the share estimated (with the estimation methods), what the GGC figures exclude (with the tonnes left out), the baseline and its restatements, and the signature of the period. An error when there are no figures.';

CREATE FUNCTION car.report_secr(org text, fy int, normaliser text DEFAULT 'fte')
    RETURNS TABLE (line int, measure text, unit text, value float8, prior_year_value float8, note text)
    LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH e AS (
        SELECT car.reporting_year(r.month) AS year,
               CASE WHEN r.activity LIKE 'electricity%' THEN 'electricity'
                    WHEN r.activity LIKE 'natural\_gas%' THEN 'gas'
                    WHEN r.activity IN ('diesel', 'petrol') OR r.activity LIKE 'grey\_fleet\_%' THEN 'transport fuel'
                    ELSE 'other fuels' END AS energy,
               r.activity, r.unit, r.scope, r.primary_row, r.quantity, r.kg_co2e, r.day
        FROM car.emission_reported r
        WHERE r.org = report_secr.org AND car.reporting_year(r.month) IN (fy, fy - 1)),
    kwh AS (
        -- energy: kWh as metered, or from another unit by the activity's own factors (kg per unit / kg per kWh)
        SELECT e.year, e.energy,
               sum(CASE WHEN u.dimension = 'energy' THEN car.convert(e.quantity, e.unit, 'kWh')
                        WHEN car.can_price(e.activity, 'kWh', e.day::timestamp AT TIME ZONE 'Europe/London')
                        THEN car.co2e(e.quantity, e.unit, e.activity, e.day::timestamp AT TIME ZONE 'Europe/London')
                             / nullif(car.co2e(1, 'kWh', e.activity, e.day::timestamp AT TIME ZONE 'Europe/London'), 0) END) AS kwh,
               bool_or(u.dimension IS DISTINCT FROM 'energy'
                       AND NOT car.can_price(e.activity, 'kWh', e.day::timestamp AT TIME ZONE 'Europe/London')) AS unconverted
        FROM e
        JOIN car.activity a ON a.key = e.activity
        LEFT JOIN car.unit u ON u.name = car.unit_name(e.unit)
        WHERE e.primary_row AND (u.dimension = 'energy' OR a.uom_basis IS NOT NULL OR e.energy <> 'other fuels')
        AND e.activity NOT LIKE 'water%'
        GROUP BY e.year, e.energy),
    scopes AS (
        SELECT e.year, sum(e.kg_co2e) FILTER (WHERE e.scope = 1) / 1000 AS s1, sum(e.kg_co2e) FILTER (WHERE e.scope = 2) / 1000 AS s2
        FROM e GROUP BY e.year),
    norm AS (
        SELECT n.year, n.value, k.label, k.unit FROM car.normaliser_yearly n JOIN car.normaliser_kind k ON k.key = n.kind
        WHERE n.org = report_secr.org AND n.kind = report_secr.normaliser AND n.year IN (fy, fy - 1)),
    total AS (
        SELECT year, sum(kwh) AS kwh FROM kwh GROUP BY year),
    lines AS (
        SELECT 1 AS line, 'UK energy use: electricity' AS measure, 'kWh' AS unit,
               (SELECT kwh FROM kwh WHERE year = fy AND energy = 'electricity') AS value,
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'electricity') AS prior_year_value, NULL::text AS note
        UNION ALL
        SELECT 2, 'UK energy use: gas', 'kWh', (SELECT kwh FROM kwh WHERE year = fy AND energy = 'gas'),
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'gas'), NULL
        UNION ALL
        SELECT 3, 'UK energy use: transport fuel', 'kWh', (SELECT kwh FROM kwh WHERE year = fy AND energy = 'transport fuel'),
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'transport fuel'),
               CASE WHEN (SELECT unconverted FROM kwh WHERE year = fy AND energy = 'transport fuel')
                    THEN 'some quantities could not be put in kWh (no kWh factor for the activity)' END
        UNION ALL
        SELECT 4, 'UK energy use: other fuels', 'kWh', (SELECT kwh FROM kwh WHERE year = fy AND energy = 'other fuels'),
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'other fuels'),
               CASE WHEN (SELECT unconverted FROM kwh WHERE year = fy AND energy = 'other fuels')
                    THEN 'some quantities could not be put in kWh (no kWh factor for the activity)' END
        UNION ALL
        SELECT 5, 'UK energy use: total', 'kWh', (SELECT kwh FROM total WHERE year = fy), (SELECT kwh FROM total WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 6, 'Scope 1 emissions', 'tCO2e', (SELECT s1 FROM scopes WHERE year = fy), (SELECT s1 FROM scopes WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 7, 'Scope 2 emissions (location-based)', 'tCO2e', (SELECT s2 FROM scopes WHERE year = fy),
               (SELECT s2 FROM scopes WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 8, 'Scope 1 and 2 emissions', 'tCO2e', (SELECT coalesce(s1, 0) + coalesce(s2, 0) FROM scopes WHERE year = fy),
               (SELECT coalesce(s1, 0) + coalesce(s2, 0) FROM scopes WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 9, 'Intensity ratio: Scope 1 and 2 emissions per ' || coalesce((SELECT k.label FROM car.normaliser_kind k WHERE k.key = normaliser), normaliser),
               'tCO2e/' || coalesce((SELECT k.unit FROM car.normaliser_kind k WHERE k.key = normaliser), normaliser),
               (SELECT (coalesce(s.s1, 0) + coalesce(s.s2, 0)) / nullif(n.value, 0) FROM scopes s, norm n WHERE s.year = fy AND n.year = fy),
               (SELECT (coalesce(s.s1, 0) + coalesce(s.s2, 0)) / nullif(n.value, 0) FROM scopes s, norm n WHERE s.year = fy - 1 AND n.year = fy - 1),
               CASE WHEN NOT EXISTS (SELECT 1 FROM norm WHERE year = fy) THEN 'no ' || normaliser || ' recorded for the year (car.normaliser)' END
        UNION ALL
        SELECT 10, 'Low energy user (40,000 kWh or less in the year)', 'boolean',
               CASE WHEN (SELECT kwh FROM total WHERE year = fy) <= 40000 THEN 1 ELSE 0 END,
               CASE WHEN (SELECT kwh FROM total WHERE year = fy - 1) <= 40000 THEN 1 ELSE 0 END,
               CASE WHEN coalesce((SELECT kwh FROM total WHERE year = fy), 0) <= 40000
                    THEN 'a low energy user: the report states that its energy and carbon information is not disclosed for that reason'
                    ELSE 'above 40,000 kWh: the energy and carbon information is disclosed' END)
    SELECT * FROM lines ORDER BY line
    $$;
COMMENT ON FUNCTION car.report_secr(text, int, text) IS 'The Streamlined Energy and Carbon Reporting table of an organisation that is a company, for a reporting year (car.reporting_year_start, by the year it starts in) and the year before: UK energy use in kWh by type (electricity, gas, transport fuel, other fuels, total; quantities in litres or other units are put in kWh by the activity''s own factors, kg per unit / kg per kWh), Scope 1 and location-based Scope 2 in tCO2e, an intensity ratio (tCO2e per unit of the normaliser kind, FTE by default), and the low energy user test: 40,000 kWh or less in the year, when the report states that the information is not disclosed for that reason. One row per measure: value for the year, prior_year_value, note.';

-------------------------------------------------------------------------------
-- Half-hourly grid carbon intensity and time-of-use emissions (issue 15,
-- points 3 and 4).  A source of kind carbon-intensity makes the background
-- worker fetch the GB Carbon Intensity API (NESO, formerly National Grid
-- ESO, with Environmental Defense Fund Europe, the University of Oxford and
-- WWF; CC BY 4.0: see README) in windows of 14 days at most, national and
-- regional, into car.grid_intensity; car.report_time_of_use
-- prices each half-hourly electricity meter's readings with the intensity
-- of their own half-hour, beside the statutory DESNZ figure.
-------------------------------------------------------------------------------
CREATE TABLE car.grid_region (
    region text PRIMARY KEY CHECK (region ~ '^(GB|[1-9][0-9]?)$'),
    name   text NOT NULL
);
COMMENT ON TABLE car.grid_region IS 'The regions the GB Carbon Intensity API publishes intensities for: GB (the national figure, its /intensity endpoints) and the regional ones by their regionid (1-17, its /regional endpoints), named as its documentation names them.';
COMMENT ON COLUMN car.grid_region.region IS 'GB for Great Britain as a whole, or the API''s regionid as text (''13'' is London).';
COMMENT ON COLUMN car.grid_region.name IS 'The region''s short name in the API''s documentation.';
INSERT INTO car.grid_region (region, name) VALUES
    ('GB', 'Great Britain'), ('1', 'North Scotland'), ('2', 'South Scotland'), ('3', 'North West England'),
    ('4', 'North East England'), ('5', 'Yorkshire'), ('6', 'North Wales'), ('7', 'South Wales'),
    ('8', 'West Midlands'), ('9', 'East Midlands'), ('10', 'East England'), ('11', 'South West England'),
    ('12', 'South England'), ('13', 'London'), ('14', 'South East England'), ('15', 'England'),
    ('16', 'Scotland'), ('17', 'Wales');

CREATE TABLE car.grid_intensity (
    region       text NOT NULL REFERENCES car.grid_region (region),
    period_start timestamptz NOT NULL CHECK (extract(epoch FROM period_start) % 1800 = 0),
    forecast     float8 CHECK (forecast >= 0 AND forecast <= 2000),
    actual       float8 CHECK (actual >= 0 AND actual <= 2000),
    index        text CHECK (index IN ('very low', 'low', 'moderate', 'high', 'very high')),
    fetched_at   timestamptz NOT NULL DEFAULT now(),
    file_id      int,
    PRIMARY KEY (region, period_start),
    CHECK (forecast IS NOT NULL OR actual IS NOT NULL)
);
COMMENT ON TABLE car.grid_intensity IS 'Carbon intensity of GB grid electricity per half-hour and region, as the GB Carbon Intensity API published it (NESO, formerly National Grid ESO, with Environmental Defense Fund Europe, the University of Oxford and WWF; licensed CC BY 4.0), fetched by the background worker from sources of kind carbon-intensity. A later actual replaces a forecast; a later forecast never replaces an actual. Written by the worker only.';
COMMENT ON COLUMN car.grid_intensity.region IS 'car.grid_region: GB (national) or a regionid of the API.';
COMMENT ON COLUMN car.grid_intensity.period_start IS 'Start of the half-hour (UTC instant; the API''s "from"); the period ends 30 minutes later.';
COMMENT ON COLUMN car.grid_intensity.forecast IS 'Forecast carbon intensity, gCO2/kWh (CO2 of generation only, per kWh consumed), as published; NULL when none was.';
COMMENT ON COLUMN car.grid_intensity.actual IS 'Estimated actual carbon intensity, gCO2/kWh, as published; NULL while only a forecast is (the regional endpoints publish forecasts only).';
COMMENT ON COLUMN car.grid_intensity.index IS 'The API''s band for the half-hour: very low, low, moderate, high or very high.';
COMMENT ON COLUMN car.grid_intensity.fetched_at IS 'When the worker fetched the values stored (a fetch that changes nothing leaves it).';
COMMENT ON COLUMN car.grid_intensity.file_id IS 'The car.source_file holding the response the values came from (the raw bytes are kept for car.keep_raw); the values stay when their source is removed.';
SELECT pg_catalog.pg_extension_config_dump('car.grid_intensity', '');

-- Which region's intensity prices a site's electricity (NULL: the national figure).
ALTER TABLE car.site ADD COLUMN grid_region text REFERENCES car.grid_region (region);
COMMENT ON COLUMN car.site.grid_region IS 'The car.grid_region whose half-hourly intensity car.report_time_of_use prices the site''s electricity with; NULL for the national (GB) figure.';

-- A source of kind carbon-intensity: its URI is the API's base URL, its
-- options say which regions and from when; it has no format.
ALTER TABLE car.source DROP CONSTRAINT source_kind_check;
ALTER TABLE car.source ADD CONSTRAINT source_kind_check
    CHECK (kind IN ('file', 'index', 'template', 'push', 'carbon-intensity'));
ALTER TABLE car.source ADD CONSTRAINT source_intensity_format CHECK (kind <> 'carbon-intensity' OR format IS NULL);
COMMENT ON CONSTRAINT source_intensity_format ON car.source IS 'A carbon-intensity source reads the API''s JSON: it has no file format.';
CREATE FUNCTION car.check_intensity_source() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'car_check_intensity_source';
COMMENT ON FUNCTION car.check_intensity_source() IS 'Trigger on car.source: the options of a carbon-intensity source are checked on every write (regions: an array of car.grid_region keys, default ["GB"]; from: the first UTC day to fetch, YYYY-MM-DD; refetch_days: 0-30, default 2), as car.add_source checks them.';
CREATE TRIGGER source_intensity_checked BEFORE INSERT OR UPDATE OF kind, options ON car.source
    FOR EACH ROW WHEN (NEW.kind = 'carbon-intensity') EXECUTE FUNCTION car.check_intensity_source();
COMMENT ON COLUMN car.source.kind IS 'push (files sent with car.push), file (one URI), index (an HTML page whose links are datasets), template (a URI with {yyyy} {mm} {mon} {dd}), carbon-intensity (the GB Carbon Intensity API at the URI, fetched in windows of 14 days into car.grid_intensity).';
COMMENT ON COLUMN car.source.options IS 'Format options: site, meter, site_column, meter_column, date_column, ts_column, value_column, unit_column, activity_column, unit, activity, date_format (fields YYYY YY MM Mon DD HH24 HH12 MI SS FF AM TZ; detected when absent), timezone, period (start or end; detected from the header when absent), interval_minutes, decimal_separator (. or ,) and thousands_separator (, . space '' or empty for none; both detected from all the file''s values when absent), header_line (the header''s line; searched in the first 50 lines when absent), org; for index sources pattern; for polled sources follow_hosts (hosts besides the source''s own that its index links and redirects may lead to); for carbon-intensity sources regions (car.grid_region keys, default ["GB"]), from (the first UTC day, YYYY-MM-DD) and refetch_days (0-30, default 2), and no others.';
COMMENT ON FUNCTION car.add_source(text, text, text, text, jsonb, interval) IS 'Define a source: kind push (files sent with car.push), file, index or template (meter or factor files in a format, options checked now), or carbon-intensity (the GB Carbon Intensity API at the URI, options regions, from and refetch_days; no format).';
COMMENT ON FUNCTION car.backfill(text, date, date) IS 'Queue every period of a template source between the dates (or every link of an index source; or every 14-day window of a carbon-intensity source overlapping the days, fetched again even if done); up to car.max_parallel_fetches workers fetch them. Returns how many were queued.';
-- A removal waits for the worker's writes to car.dataset to end and holds
-- new ones off until it commits: a fetch locks its dataset row, then the
-- source row (landing a file); the cascade from car.source would take them
-- the other way round, and the two deadlocked.
CREATE OR REPLACE FUNCTION car.remove_source(name text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE car.dataset IN SHARE ROW EXCLUSIVE MODE;
    WITH gone AS (DELETE FROM car.source s WHERE s.name OPERATOR(pg_catalog.=) remove_source.name RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN n OPERATOR(pg_catalog.>) 0;
END $$;
COMMENT ON FUNCTION car.remove_source(text) IS 'Remove a source and its landed files (readings and grid intensities already loaded stay).';

-- The windows of a carbon-intensity source are datasets of the worker's queue.
ALTER TABLE car.dataset ADD COLUMN region text;
ALTER TABLE car.dataset ADD COLUMN period_from timestamptz;
ALTER TABLE car.dataset ADD COLUMN period_to timestamptz;
ALTER TABLE car.dataset ADD CONSTRAINT dataset_window
    CHECK ((region IS NULL) = (period_from IS NULL) AND (region IS NULL) = (period_to IS NULL)
           AND (period_to IS NULL OR (period_to > period_from AND period_to <= period_from + interval '336 hours')));
COMMENT ON COLUMN car.dataset.region IS 'For a window of a carbon-intensity source: the car.grid_region it fetches; NULL for files.';
COMMENT ON COLUMN car.dataset.period_from IS 'For a window of a carbon-intensity source: its start (UTC, the {from} of the request); NULL for files.';
COMMENT ON COLUMN car.dataset.period_to IS 'For a window of a carbon-intensity source: its end (UTC, the {to} of the request; at most 14 days, 336 hours, after period_from: the API''s limit); NULL for files.';
COMMENT ON CONSTRAINT dataset_window ON car.dataset IS 'A carbon-intensity window has a region and both bounds, and lasts at most 336 hours (14 days of 24 hours, whatever the session''s time zone); a file has none of them.';

CREATE FUNCTION car.grid_intensity_periods(body text, region text, window_from timestamptz, window_to timestamptz,
    OUT period_start timestamptz, OUT forecast float8, OUT actual float8, OUT index text)
    RETURNS SETOF record
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'car_grid_intensity_periods';
COMMENT ON FUNCTION car.grid_intensity_periods(text, text, timestamptz, timestamptz) IS 'The half-hours a response of the GB Carbon Intensity API holds, checked as the background worker checks them before storing any: a national body {"data": [{"from", "to", "intensity": {"forecast", "actual", "index"}}]} for region GB, a regional one {"data": {"regionid", "data": [...]}} (or that object in an array) for a regionid. An error names what is wrong and where (not JSON, with its line; a period''s from not YYYY-MM-DDThh:mmZ on a half-hour, or to not 30 minutes later; a value not a number from 0 to 2,000 gCO2/kWh; an unknown index; a period outside the window asked for, which may begin 30 minutes before window_from; more periods than the window holds; another region''s body). Periods published twice with different values are left out, with a warning; periods with neither a forecast nor an actual are left out.';

-- One line per half-hourly electricity meter, organisation and month: the
-- readings of each UK day are summed with the intensity of their own
-- half-hour first (one pass over car.reading), then the days of each
-- organisation's months, beside the statutory figure of the same meter-month.
-- Summed in numeric (car.float8_decimal), cast to float8 once per line: the
-- figures do not depend on the order of the rows.
CREATE VIEW car.report_time_of_use WITH (security_invoker = true) AS
SELECT o.org AS organisation, d.site_id, s.name AS site, d.meter_id, m.name AS meter,
       date_trunc('month', d.day::timestamp)::date AS month, d.grid_region,
       sum(d.kwh)::float8 AS kwh,
       coalesce(sum(d.kwh_priced)::float8, 0) AS kwh_priced,
       coalesce(sum(d.g_kwh)::float8, 0) / 1000 AS kg_co2_time_of_use,
       sum(d.g_kwh)::float8 / nullif(sum(d.kwh_priced)::float8, 0) AS load_weighted_gco2_per_kwh,
       sum(d.g_sum)::float8 / nullif(sum(d.periods_priced), 0) AS mean_gco2_per_kwh,
       coalesce(sum(d.kwh_priced)::float8 * (sum(d.g_sum)::float8 / nullif(sum(d.periods_priced), 0)) / 1000, 0) AS kg_co2_simple_mean,
       (sum(d.g_kwh)::float8 / nullif(sum(d.kwh_priced)::float8, 0)) / nullif(sum(d.g_sum)::float8 / nullif(sum(d.periods_priced), 0), 0)
           AS load_weighting_ratio,
       st.kg_co2e AS statutory_kg_co2e,
       st.kg_co2 AS statutory_kg_co2,
       st.factor_years AS statutory_factor_years,
       sum(d.periods) AS periods,
       sum(d.periods_forecast) AS periods_forecast,
       sum(d.periods) - sum(d.periods_priced) AS periods_without_intensity,
       (sum(d.periods_forecast) > 0 OR sum(d.periods) > sum(d.periods_priced)) AS flagged
FROM (
    SELECT r.meter_id, mt.site_id, mt.grid_region, (r.ts AT TIME ZONE 'Europe/London')::date AS day,
           count(*) AS periods,
           count(coalesce(g.actual, g.forecast)) AS periods_priced,
           count(*) FILTER (WHERE g.actual IS NULL AND g.forecast IS NOT NULL) AS periods_forecast,
           sum(car.float8_decimal(r.quantity * mt.to_kwh)) AS kwh,
           sum(car.float8_decimal(r.quantity * mt.to_kwh)) FILTER (WHERE coalesce(g.actual, g.forecast) IS NOT NULL) AS kwh_priced,
           sum(car.float8_decimal(r.quantity * mt.to_kwh * coalesce(g.actual, g.forecast))) AS g_kwh,
           sum(car.float8_decimal(coalesce(g.actual, g.forecast))) AS g_sum
    FROM car.reading r
    JOIN (SELECT mm.id, mm.site_id, coalesce(si.grid_region, 'GB') AS grid_region, car.convert(1, mm.unit, 'kWh') AS to_kwh
          FROM car.meter mm
          JOIN car.site si ON si.id = mm.site_id
          JOIN car.activity a ON a.key = mm.activity
          WHERE mm.interval_minutes = 30 AND a.level1 = 'UK electricity') mt ON mt.id = r.meter_id
    LEFT JOIN car.grid_intensity g ON g.region = mt.grid_region AND g.period_start = r.ts
    GROUP BY r.meter_id, mt.site_id, mt.grid_region, (r.ts AT TIME ZONE 'Europe/London')::date) d
LEFT JOIN car.site_ownership_shown o ON o.site_id = d.site_id AND d.day >= o.valid_from AND d.day <= o.valid_to
LEFT JOIN car.site s ON s.id = d.site_id
LEFT JOIN car.meter m ON m.id = d.meter_id
LEFT JOIN (SELECT coalesce(e.org, '') AS org, e.meter_id, e.month, sum(e.kg_co2e) AS kg_co2e, sum(e.kg_co2) AS kg_co2,
                  string_agg(DISTINCT e.factor_year::text, ', ') AS factor_years
           FROM car.emission_reported e
           WHERE e.primary_row
           GROUP BY coalesce(e.org, ''), e.meter_id, e.month) st
    ON st.org = coalesce(o.org, '') AND st.meter_id = d.meter_id AND st.month = date_trunc('month', d.day::timestamp)::date
WHERE o.shown IS NOT FALSE
GROUP BY o.org, d.site_id, s.name, d.meter_id, m.name, date_trunc('month', d.day::timestamp)::date, d.grid_region,
         st.kg_co2e, st.kg_co2, st.factor_years;
COMMENT ON VIEW car.report_time_of_use IS 'Time-of-use emissions, a management figure beside the statutory one (see README): per half-hourly electricity meter (interval_minutes 30, activity priced with the UK electricity generation factor), organisation owning its site and UK month, each reading priced with the grid carbon intensity of its own half-hour (car.grid_intensity of the site''s grid_region, GB when none; matched on the period''s UTC start; the actual when published, else the forecast), against the same kWh at the simple mean intensity of those half-hours, and the statutory DESNZ location-based figure of the same meter-month. Half-hours priced with a forecast or without any intensity are counted and flag the line. Intensities are CO2 only; the statutory figure is CO2e.';
COMMENT ON COLUMN car.report_time_of_use.organisation IS 'Organisation owning the site on the days of the line.';
COMMENT ON COLUMN car.report_time_of_use.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.report_time_of_use.site IS 'Site name.';
COMMENT ON COLUMN car.report_time_of_use.meter_id IS 'Meter number (car.meter.id).';
COMMENT ON COLUMN car.report_time_of_use.meter IS 'Meter name.';
COMMENT ON COLUMN car.report_time_of_use.month IS 'Calendar month (its first day), in UK local time: a reading belongs to the UK day its half-hour starts in.';
COMMENT ON COLUMN car.report_time_of_use.grid_region IS 'The car.grid_region whose intensities price the meter (the site''s grid_region, GB when it has none).';
COMMENT ON COLUMN car.report_time_of_use.kwh IS 'Electricity used in the month, kWh (every reading, estimated ones too).';
COMMENT ON COLUMN car.report_time_of_use.kwh_priced IS 'The part of kwh whose half-hours have an intensity, kWh: what the kg CO2 figures price.';
COMMENT ON COLUMN car.report_time_of_use.kg_co2_time_of_use IS 'kg CO2: the sum over the priced half-hours of kWh x gCO2/kWh of that half-hour / 1000.';
COMMENT ON COLUMN car.report_time_of_use.load_weighted_gco2_per_kwh IS 'Load-weighted mean intensity, gCO2/kWh: kg_co2_time_of_use x 1000 / kwh_priced. NULL when nothing was priced.';
COMMENT ON COLUMN car.report_time_of_use.mean_gco2_per_kwh IS 'Simple mean intensity of the same half-hours (those with a reading and an intensity, each counted once), gCO2/kWh. NULL when nothing was priced.';
COMMENT ON COLUMN car.report_time_of_use.kg_co2_simple_mean IS 'kg CO2 of kwh_priced at mean_gco2_per_kwh: what the same use would emit spread evenly over the half-hours.';
COMMENT ON COLUMN car.report_time_of_use.load_weighting_ratio IS 'load_weighted_gco2_per_kwh / mean_gco2_per_kwh (= kg_co2_time_of_use / kg_co2_simple_mean): above 1 when the meter uses more in the dirtier half-hours. NULL when nothing was priced.';
COMMENT ON COLUMN car.report_time_of_use.statutory_kg_co2e IS 'The statutory figure: kg CO2e of the meter-month at the DESNZ UK electricity generation factor (location-based Scope 2; car.emission_daily, as signed for closed months). NULL until car.refresh() has priced the month.';
COMMENT ON COLUMN car.report_time_of_use.statutory_kg_co2 IS 'The CO2 part of statutory_kg_co2e, kg CO2, where the factor set publishes it: the DESNZ figure closest in kind to the intensities.';
COMMENT ON COLUMN car.report_time_of_use.statutory_factor_years IS 'Year(s) of the DESNZ factor sets behind the statutory figures.';
COMMENT ON COLUMN car.report_time_of_use.periods IS 'Readings (half-hours) of the meter in the month.';
COMMENT ON COLUMN car.report_time_of_use.periods_forecast IS 'Half-hours priced with a forecast intensity, no actual having been published (yet).';
COMMENT ON COLUMN car.report_time_of_use.periods_without_intensity IS 'Half-hours with a reading but no intensity: left out of the kg CO2 figures (their kWh are in kwh, not in kwh_priced).';
COMMENT ON COLUMN car.report_time_of_use.flagged IS 'true when any half-hour was priced with a forecast or had no intensity: the figure is provisional or partial.';
-- Custom and supplier factor sets (issue 15, point 1): factors of an
-- organisation's own (a supplier's fuel-mix disclosure, a contract, an
-- on-site generator's metered intensity) priced ahead of the published DESNZ
-- row, by tier: meter over site over organisation over published.  They live
-- apart from car.factor_set and car.factor, which hold the published files
-- only and are never written here.  car.refresh() joins them in its pricing
-- statement (src/refresh.c); a change queues the meter-days it can move.
-------------------------------------------------------------------------------
CREATE TABLE car.custom_factor_set (
    id         serial PRIMARY KEY,
    org        text NOT NULL CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    name       text NOT NULL CHECK (name <> '' AND name !~ '[[:cntrl:]]'),
    publisher  text NOT NULL CHECK (publisher <> '' AND publisher !~ '[[:cntrl:]]'
                                    AND upper(btrim(publisher)) NOT IN ('DESNZ', 'BEIS', 'DEFRA')),
    title      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org, name)
);
COMMENT ON TABLE car.custom_factor_set IS 'A factor set of an organisation''s own (custom or supplier-specific), whose rows (car.custom_factor) price its meters ahead of the published DESNZ/BEIS factors. Published sets are car.factor_set''s and never change here.';
COMMENT ON COLUMN car.custom_factor_set.id IS 'Set number: car.emission_daily.custom_factor_set_id of the rows it priced.';
COMMENT ON COLUMN car.custom_factor_set.org IS 'The organisation whose set it is (car.site.org spelling); its organisation-tier rows are for this organisation. Row-level security shows the set to sessions that may see the organisation or one of the set''s rows.';
COMMENT ON COLUMN car.custom_factor_set.name IS 'The set''s name, unique within the organisation (e.g. "Supplier X fuel mix 2024/25").';
COMMENT ON COLUMN car.custom_factor_set.publisher IS 'Who publishes the figures: the supplier, the organisation itself, a consultant. Never DESNZ, BEIS or Defra (the published sets are loaded with car.load_factors).';
COMMENT ON COLUMN car.custom_factor_set.title IS 'Free description.';
COMMENT ON COLUMN car.custom_factor_set.created_at IS 'When the set was recorded.';

CREATE TABLE car.custom_factor (
    id          bigserial PRIMARY KEY,
    set_id      int NOT NULL REFERENCES car.custom_factor_set (id) ON DELETE CASCADE,
    tier        text NOT NULL CHECK (tier IN ('organisation', 'site', 'meter')),
    org         text CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    site_id     int REFERENCES car.site (id) ON DELETE CASCADE,
    meter_id    int REFERENCES car.meter (id) ON DELETE CASCADE,
    activity    text NOT NULL REFERENCES car.activity (key) ON UPDATE CASCADE,
    component   text NOT NULL CHECK (component ~ '^[a-z][a-z0-9_]*$'),
    unit        text NOT NULL REFERENCES car.unit (name) ON UPDATE CASCADE,
    value       numeric NOT NULL CHECK (value >= 0 AND value < 1e9),
    valid_from  date NOT NULL CHECK (valid_from BETWEEN '1990-01-01' AND '2199-12-31'),
    valid_to    date,
    document    text NOT NULL CHECK (document <> ''),
    supplier    text,
    vintage     text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT custom_factor_dates CHECK (valid_to >= valid_from AND valid_to <= '2199-12-31'),
    CONSTRAINT custom_factor_one_target CHECK (CASE tier WHEN 'organisation' THEN org IS NOT NULL AND site_id IS NULL AND meter_id IS NULL
                     WHEN 'site' THEN site_id IS NOT NULL AND org IS NULL AND meter_id IS NULL
                     ELSE meter_id IS NOT NULL AND org IS NULL AND site_id IS NULL END)
);
COMMENT ON CONSTRAINT custom_factor_dates ON car.custom_factor IS 'valid_to is on or after valid_from and no later than 2199-12-31.';
COMMENT ON CONSTRAINT custom_factor_one_target ON car.custom_factor IS 'Exactly the target column of the tier is set: org for organisation, site_id for site, meter_id for meter.';
-- a target's rows, one index per tier (car.refresh() joins the table by target)
CREATE INDEX custom_factor_meter_idx ON car.custom_factor (meter_id, activity, component, valid_from) WHERE meter_id IS NOT NULL;
CREATE INDEX custom_factor_site_idx ON car.custom_factor (site_id, activity, component, valid_from) WHERE site_id IS NOT NULL;
CREATE INDEX custom_factor_org_idx ON car.custom_factor (org, activity, component, valid_from) WHERE org IS NOT NULL;
CREATE INDEX custom_factor_set_idx ON car.custom_factor (set_id);
COMMENT ON TABLE car.custom_factor IS 'Rows of the custom and supplier factor sets: a kg CO2e per unit figure for one component of one activity, at one tier (a meter, a site, or an organisation''s sites on the days it owns them), over UK days valid_from to valid_to. car.refresh() prices each meter-day component with the row of the highest tier that covers it: meter over site over organisation over the published DESNZ row (car.emission_daily.factor_tier says which). Rows of one target, activity and component never overlap in time (refused by car.check_custom_factor). Any change re-queues the meter-days it can move for the next car.refresh().';
COMMENT ON COLUMN car.custom_factor.id IS 'Row number: car.emission_daily.custom_factor_id of the rows it priced.';
COMMENT ON COLUMN car.custom_factor.set_id IS 'The car.custom_factor_set it belongs to.';
COMMENT ON COLUMN car.custom_factor.tier IS 'organisation, site or meter: which of org, site_id or meter_id names the target (exactly that one is set). Precedence: meter over site over organisation over published.';
COMMENT ON COLUMN car.custom_factor.org IS 'For the organisation tier: the organisation (the set''s own); it applies to every site on the UK days the organisation owns it (car.site_ownership). NULL at the other tiers.';
COMMENT ON COLUMN car.custom_factor.site_id IS 'For the site tier: the site (car.site.id), whoever owns it. NULL at the other tiers.';
COMMENT ON COLUMN car.custom_factor.meter_id IS 'For the meter tier (a meter or a contract that supplies it): the meter (car.meter.id). NULL at the other tiers.';
COMMENT ON COLUMN car.custom_factor.activity IS 'The activity (car.activity key) of the meters it prices.';
COMMENT ON COLUMN car.custom_factor.component IS 'Which component of the activity it replaces (a car.activity_component kind of the activity, or the activity itself when it has none). Left out on INSERT: the activity''s primary component (car.activity_primary_component: generation for electricity, the Scope 2 part). The other components (T&D, well-to-tank) keep their published, location-based rows unless rows of their own name them.';
COMMENT ON COLUMN car.custom_factor.unit IS 'The unit the value is per (car.unit name, e.g. kWh). A meter whose unit does not convert into it (another dimension) keeps the published row.';
COMMENT ON COLUMN car.custom_factor.value IS 'The factor: kg CO2e per unit, as the document gives it (CO2e only: car.emission_daily''s per-gas columns stay NULL on rows it prices).';
COMMENT ON COLUMN car.custom_factor.valid_from IS 'First UK local day it applies to (1990-01-01 to 2199-12-31).';
COMMENT ON COLUMN car.custom_factor.valid_to IS 'Last UK local day it applies to, included; NULL while it lasts.';
COMMENT ON COLUMN car.custom_factor.document IS 'Provenance: the document the figure comes from (a fuel mix disclosure, a contract and its clause, a metering report).';
COMMENT ON COLUMN car.custom_factor.supplier IS 'Provenance: the supplier the figure is for, where there is one.';
COMMENT ON COLUMN car.custom_factor.vintage IS 'Provenance: the period the figure describes as its document says (e.g. "FMD 2023/24"), which may differ from valid_from..valid_to.';
COMMENT ON COLUMN car.custom_factor.recorded_at IS 'When the row was recorded or last changed.';

-- Who owned a site on a UK day (car.site_ownership: the period covering it,
-- or car.site.org for a site without periods).
CREATE FUNCTION car.site_owner_on(site int, day date) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT o.org FROM car.site_ownership o
    WHERE o.site_id OPERATOR(pg_catalog.=) $1 AND o.valid_from OPERATOR(pg_catalog.<=) $2
    AND o.valid_to OPERATOR(pg_catalog.>=) $2
    LIMIT 1
    $$;
COMMENT ON FUNCTION car.site_owner_on(int, date) IS 'The organisation owning a site on a UK day: the car.site_org period covering the day, or the site''s car.site.org for a site without periods; NULL when none does. What an organisation-tier car.custom_factor follows. Reads under the caller''s row-level security.';

-- Trigger on car.custom_factor (BEFORE, per row): the default component,
-- checks a row's component and its organisation.  Then, per statement, car.custom_factor_changed.
CREATE FUNCTION car.check_custom_factor() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'car.custom_factor'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'car.check_custom_factor() fired on %, which is not car.custom_factor', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF NEW.component IS NULL THEN
        NEW.component := coalesce((SELECT p.kind FROM car.activity_primary_component p
                                   WHERE p.activity OPERATOR(pg_catalog.=) NEW.activity), NEW.activity);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM car.activity_component c
                   WHERE c.activity OPERATOR(pg_catalog.=) NEW.activity AND c.kind OPERATOR(pg_catalog.=) NEW.component)
       AND NOT (NEW.component OPERATOR(pg_catalog.=) NEW.activity
                AND NOT EXISTS (SELECT 1 FROM car.activity_component c WHERE c.activity OPERATOR(pg_catalog.=) NEW.activity)) THEN
        RAISE EXCEPTION 'car.custom_factor: activity % has no component %', NEW.activity, NEW.component
            USING ERRCODE = 'check_violation',
                  DETAIL = 'Its components are: ' || coalesce((SELECT pg_catalog.string_agg(c.kind, ', ' ORDER BY c.position, c.kind)
                                                              FROM car.activity_component c WHERE c.activity OPERATOR(pg_catalog.=) NEW.activity), NEW.activity) || '.',
                  HINT = 'Name one of them, or leave component out for the primary one.';
    END IF;
    IF NEW.tier OPERATOR(pg_catalog.=) 'organisation'
       AND NEW.org OPERATOR(pg_catalog.<>) (SELECT s.org FROM car.custom_factor_set s WHERE s.id OPERATOR(pg_catalog.=) NEW.set_id) THEN
        RAISE EXCEPTION 'car.custom_factor: an organisation-tier row of set % must be for the set''s organisation, not %',
            NEW.set_id, NEW.org
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        NEW.recorded_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION car.check_custom_factor() IS 'Trigger on car.custom_factor (before each row): fills in the activity''s primary component when none is named, refuses a component the activity does not have and an organisation-tier row for another organisation than its set''s; stamps recorded_at on an update.';

-- Trigger on car.custom_factor (per statement, one per kind: transition
-- tables): refuses overlapping validity per target, activity and component,
-- and queues for car.refresh() the meter-days the changed rows can price
-- (old and new).  It runs as car's owner, so that it sees every row and may
-- write car.refresh_queue; every name and operator in it is qualified.
CREATE FUNCTION car.custom_factor_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'car.custom_factor'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'car.custom_factor_changed() fired on %, which is not car.custom_factor', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF TG_WHEN OPERATOR(pg_catalog.=) 'BEFORE' THEN
        -- one writer at a time, so that two transactions cannot each add half of an overlap
        LOCK TABLE car.custom_factor IN SHARE ROW EXCLUSIVE MODE;
        RETURN NULL;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        SELECT a.id AS a_id, b.id AS b_id, a.tier,
               coalesce(pg_catalog.quote_literal(a.org),
                        (SELECT pg_catalog.quote_literal(s.name) FROM car.site s WHERE s.id OPERATOR(pg_catalog.=) a.site_id),
                        (SELECT pg_catalog.quote_literal(mt.name) || ' at site ' || pg_catalog.quote_literal(s.name)
                         FROM car.meter mt JOIN car.site s ON s.id OPERATOR(pg_catalog.=) mt.site_id
                         WHERE mt.id OPERATOR(pg_catalog.=) a.meter_id)) AS target,
               a.activity, a.component, a.valid_from AS a_from, a.valid_to AS a_to, b.valid_from AS b_from, b.valid_to AS b_to
        INTO r
        FROM new_rows a JOIN car.custom_factor b
          ON b.id OPERATOR(pg_catalog.<>) a.id AND b.tier OPERATOR(pg_catalog.=) a.tier
         AND b.activity OPERATOR(pg_catalog.=) a.activity AND b.component OPERATOR(pg_catalog.=) a.component
         AND b.org IS NOT DISTINCT FROM a.org AND b.site_id IS NOT DISTINCT FROM a.site_id
         AND b.meter_id IS NOT DISTINCT FROM a.meter_id
         AND b.valid_from OPERATOR(pg_catalog.<=) coalesce(a.valid_to, 'infinity'::date)
         AND a.valid_from OPERATOR(pg_catalog.<=) coalesce(b.valid_to, 'infinity'::date)
        ORDER BY a.id, b.id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'car.custom_factor: row % (% %, %, %) valid % to % overlaps row % valid % to %',
                r.a_id, r.tier, r.target, r.activity, r.component, pg_catalog.to_char(r.a_from, 'YYYY-MM-DD'),
                coalesce(pg_catalog.to_char(r.a_to, 'YYYY-MM-DD'), 'open'),
                r.b_id, pg_catalog.to_char(r.b_from, 'YYYY-MM-DD'), coalesce(pg_catalog.to_char(r.b_to, 'YYYY-MM-DD'), 'open')
                USING ERRCODE = 'exclusion_violation',
                      HINT = 'End the other row (its valid_to the day before) first or in the same statement: a target''s rows for one activity and component never overlap.';
        END IF;
    END IF;
    -- the meter-days priced so far that an old or new row covers (days not
    -- yet priced are queued already, or wait for a full refresh)
    EXECUTE 'INSERT INTO car.refresh_queue (meter_id, day) '
         || 'SELECT DISTINCT e.meter_id, e.day FROM ('
         || CASE TG_OP WHEN 'INSERT' THEN 'SELECT * FROM new_rows'
                       WHEN 'DELETE' THEN 'SELECT * FROM old_rows'
                       ELSE 'SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows' END
         || ') c JOIN car.emission_daily e ON e.activity OPERATOR(pg_catalog.=) c.activity '
         || 'AND e.day OPERATOR(pg_catalog.>=) c.valid_from AND e.day OPERATOR(pg_catalog.<=) coalesce(c.valid_to, ''infinity''::date) '
         || 'JOIN car.meter m ON m.id OPERATOR(pg_catalog.=) e.meter_id '
         || 'WHERE (c.tier OPERATOR(pg_catalog.=) ''meter'' AND e.meter_id OPERATOR(pg_catalog.=) c.meter_id) '
         || 'OR (c.tier OPERATOR(pg_catalog.=) ''site'' AND m.site_id OPERATOR(pg_catalog.=) c.site_id) '
         || 'OR (c.tier OPERATOR(pg_catalog.=) ''organisation'' AND EXISTS (SELECT 1 FROM car.site_ownership o '
         || '    WHERE o.site_id OPERATOR(pg_catalog.=) m.site_id AND o.org OPERATOR(pg_catalog.=) c.org '
         || '    AND o.valid_from OPERATOR(pg_catalog.<=) e.day AND o.valid_to OPERATOR(pg_catalog.>=) e.day))';
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION car.custom_factor_changed() IS 'Trigger on car.custom_factor (per statement): before, locks the table against other writers; after, refuses rows whose validity overlaps another row of the same tier, target, activity and component (exclusion_violation, naming both rows), and queues in car.refresh_queue the meter-days of car.emission_daily the old and new rows cover, so that the next car.refresh() prices them again.';

CREATE TRIGGER custom_factor_check BEFORE INSERT OR UPDATE ON car.custom_factor
    FOR EACH ROW EXECUTE FUNCTION car.check_custom_factor();
CREATE TRIGGER custom_factor_lock BEFORE INSERT OR UPDATE OR DELETE ON car.custom_factor
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_changed();
CREATE TRIGGER custom_factor_inserted AFTER INSERT ON car.custom_factor REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_changed();
CREATE TRIGGER custom_factor_updated AFTER UPDATE ON car.custom_factor REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_changed();
CREATE TRIGGER custom_factor_deleted AFTER DELETE ON car.custom_factor REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_changed();

ALTER TABLE car.custom_factor ENABLE ROW LEVEL SECURITY;
CREATE POLICY custom_factor_by_claims ON car.custom_factor USING (
    CASE tier WHEN 'organisation' THEN car.org_visible(org)
              WHEN 'site' THEN car.site_visible(site_id)
              ELSE car.meter_visible(meter_id) END);
ALTER TABLE car.custom_factor_set ENABLE ROW LEVEL SECURITY;
CREATE POLICY custom_factor_set_by_claims ON car.custom_factor_set USING (
    car.org_visible(org) OR EXISTS (SELECT 1 FROM car.custom_factor f WHERE f.set_id = custom_factor_set.id));
SELECT pg_catalog.pg_extension_config_dump('car.custom_factor_set', '');
SELECT pg_catalog.pg_extension_config_dump('car.custom_factor_set_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.custom_factor', '');
SELECT pg_catalog.pg_extension_config_dump('car.custom_factor_id_seq', '');

-- A move of a site between organisations changes which organisation's rows
-- price its days, whose instruments its Scope 2 days take (car.instrument,
-- below) and whose allocation they are (car.market_allocation.org): queue
-- those days.
CREATE FUNCTION car.custom_factor_owner_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_sites text;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.=) 'car.site_org'::pg_catalog.regclass THEN
        v_sites := CASE TG_OP WHEN 'INSERT' THEN 'SELECT site_id FROM new_rows'
                              WHEN 'DELETE' THEN 'SELECT site_id FROM old_rows'
                              ELSE 'SELECT site_id FROM old_rows UNION SELECT site_id FROM new_rows' END;
    ELSIF TG_RELID OPERATOR(pg_catalog.=) 'car.site'::pg_catalog.regclass AND TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        v_sites := 'SELECT n.id FROM old_rows o JOIN new_rows n ON n.id OPERATOR(pg_catalog.=) o.id AND n.org IS DISTINCT FROM o.org';
    ELSE
        RAISE EXCEPTION 'car.custom_factor_owner_changed() fired on % (%), which is not a change of car.site_org or an update of car.site',
            TG_RELID::pg_catalog.regclass, TG_OP
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    -- every Scope 2 day's allocation names the organisation that owned the
    -- day (car.market_allocation.org): the days whose owner is another now
    EXECUTE 'INSERT INTO car.refresh_queue (meter_id, day) '
         || 'SELECT DISTINCT a.meter_id, a.day FROM (' || v_sites || ') s(site_id) '
         || 'JOIN car.meter m ON m.site_id OPERATOR(pg_catalog.=) s.site_id '
         || 'JOIN car.market_allocation a ON a.meter_id OPERATOR(pg_catalog.=) m.id '
         || 'LEFT JOIN car.site_ownership o ON o.site_id OPERATOR(pg_catalog.=) m.site_id '
         || '    AND o.valid_from OPERATOR(pg_catalog.<=) a.day AND o.valid_to OPERATOR(pg_catalog.>=) a.day '
         || 'WHERE a.org IS DISTINCT FROM o.org';
    -- nothing more to do while no organisation-tier row and no instrument exists (the common case)
    IF NOT EXISTS (SELECT 1 FROM car.custom_factor c WHERE c.tier OPERATOR(pg_catalog.=) 'organisation')
       AND NOT EXISTS (SELECT 1 FROM car.instrument) THEN
        RETURN NULL;
    END IF;
    EXECUTE 'INSERT INTO car.refresh_queue (meter_id, day) '
         || 'SELECT DISTINCT e.meter_id, e.day FROM (' || v_sites || ') s(site_id) '
         || 'JOIN car.meter m ON m.site_id OPERATOR(pg_catalog.=) s.site_id '
         || 'JOIN car.emission_daily e ON e.meter_id OPERATOR(pg_catalog.=) m.id '
         || 'WHERE EXISTS (SELECT 1 FROM car.custom_factor c WHERE c.tier OPERATOR(pg_catalog.=) ''organisation'' '
         || '    AND c.activity OPERATOR(pg_catalog.=) e.activity AND c.valid_from OPERATOR(pg_catalog.<=) e.day '
         || '    AND coalesce(c.valid_to, ''infinity''::date) OPERATOR(pg_catalog.>=) e.day) '
         -- the owner of a day decides whose instruments its Scope 2 kWh take
         || 'OR (e.scope OPERATOR(pg_catalog.=) 2 AND EXISTS (SELECT 1 FROM car.instrument i '
         || '    WHERE i.valid_from OPERATOR(pg_catalog.<=) e.day AND i.valid_to OPERATOR(pg_catalog.>=) e.day))';
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION car.custom_factor_owner_changed() IS 'Trigger on car.site_org (any change) and car.site (an update of org), per statement: queues in car.refresh_queue the meter-days of the sites concerned whose car.market_allocation rows name another organisation than the day''s owner now, the priced days that an organisation-tier car.custom_factor row of their activity covers, and their Scope 2 days in the vintage or term of any car.instrument, since which organisation owns a day decides whose rows price it, whose instruments it takes and whose allocation it is.';
CREATE TRIGGER site_org_inserted_custom_factor AFTER INSERT ON car.site_org REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_owner_changed();
CREATE TRIGGER site_org_updated_custom_factor AFTER UPDATE ON car.site_org REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_owner_changed();
CREATE TRIGGER site_org_deleted_custom_factor AFTER DELETE ON car.site_org REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_owner_changed();
CREATE TRIGGER site_updated_custom_factor AFTER UPDATE ON car.site REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.custom_factor_owner_changed();

-- The GGC return is on the published factors: car.fy_co2e prices a row with
-- no published set (a custom factor's) again with the financial year's set.
ALTER FUNCTION car.fy_co2e(float8, int, float8, text, text, text, int) CALLED ON NULL INPUT;
COMMENT ON FUNCTION car.fy_co2e(float8, int, float8, text, text, text, int) IS 'kg CO2e of an emission row under its financial year''s factors (car.fy_factor_set): kg_co2e itself when factor_set_id is that set, else the quantity (in unit) priced again with that set''s row for the component (also when factor_set_id is NULL: a row priced by a custom factor, car.custom_factor, so the GGC return stays on the published DESNZ factors); NULL when the financial year has no set or another argument is NULL. What car.report_ggc adds up, whatever car.reporting_year_start priced car.emission_daily with.';

-- The audit columns: which tier and which set priced each row.
ALTER TABLE car.emission_daily ADD COLUMN factor_tier text NOT NULL DEFAULT 'published'
    CHECK (factor_tier IN ('published', 'organisation', 'site', 'meter'));
ALTER TABLE car.emission_daily ADD COLUMN custom_factor_set_id int;
ALTER TABLE car.emission_daily ADD COLUMN custom_factor_id bigint;
COMMENT ON COLUMN car.emission_daily.factor_tier IS 'Which factor priced kg_co2e: published (the DESNZ/BEIS row factor_id, location-based), or a car.custom_factor row of the organisation, site or meter tier (custom_factor_id), chosen meter over site over organisation over published.';
COMMENT ON COLUMN car.emission_daily.custom_factor_set_id IS 'For a custom tier: the car.custom_factor_set that priced the row; NULL when published.';
COMMENT ON COLUMN car.emission_daily.custom_factor_id IS 'For a custom tier: the car.custom_factor row behind kg_co2e (kg_co2e = quantity converted into its unit x its value); NULL when published.';
COMMENT ON COLUMN car.emission_daily.factor_set_id IS 'car.factor_set the published factor came from; NULL on a row priced by a custom factor (factor_tier, custom_factor_set_id).';
COMMENT ON COLUMN car.emission_daily.factor_year IS 'Year of that factor set (earlier than the day''s reporting year when car fell back to an older set); NULL on a row priced by a custom factor.';
COMMENT ON COLUMN car.emission_daily.factor_id IS 'The published car.factor row (CO2e) behind kg_co2e: the audit trail; NULL on a row priced by a custom factor (custom_factor_id).';
COMMENT ON COLUMN car.emission_daily.kg_co2 IS 'kg CO2 (as CO2e) of this component, where the factor file publishes it; NULL on a row priced by a custom factor (CO2e only).';

-------------------------------------------------------------------------------
-- Market-based Scope 2 beside location-based (issue 15, points 2 and 5).
-- The GHG Protocol's Scope 2 Guidance asks for both figures where an
-- organisation holds contractual instruments.  car.instrument holds them
-- (energy attribute certificates such as REGOs, power purchase agreements,
-- supplier-specific rates from the fuel mix disclosure), car.residual_mix
-- the residual mix by period.  car.refresh() allocates them to each Scope 2
-- meter-day in the Protocol's order (src/market.c): certificates, contracts,
-- supplier rate, residual mix, and only then the grid average, flagged.  It
-- writes the result on car.emission_daily's Scope 2 rows
-- (kg_co2e_market, by annual matching, and kg_co2e_market_half_hourly, by
-- half-hourly matching) and the split in car.market_allocation.  T&D and
-- well-to-tank are Scope 3 and stay location-based.
-------------------------------------------------------------------------------
CREATE TABLE car.residual_mix (
    id          serial PRIMARY KEY,
    market      text NOT NULL DEFAULT 'GB' CHECK (market ~ '^[A-Z]{2}$'),
    valid_from  date NOT NULL CHECK (valid_from BETWEEN '1990-01-01' AND '2199-12-31'),
    valid_to    date NOT NULL,
    value       numeric NOT NULL CHECK (value >= 0 AND value < 10),
    publisher   text NOT NULL CHECK (publisher <> '' AND publisher !~ '[[:cntrl:]]'),
    document    text NOT NULL CHECK (document <> ''),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT residual_mix_dates CHECK (valid_to >= valid_from AND valid_to <= '2199-12-31')
);
COMMENT ON TABLE car.residual_mix IS 'The residual mix of an electricity market by period: the emission factor of the electricity left once every tracked attribute (certificates, contracts, supplier claims) has been taken out, as its publisher computes it (in Great Britain: the AIB European Residual Mix, or the residual mix in the suppliers'' fuel mix disclosure data). car.refresh() prices with it the kWh of GB electricity meters that no instrument covers (market-based Scope 2); where none covers a day, the grid average (location-based factor) is used and flagged. Periods of one market never overlap (refused by car.residual_mix_changed). For car_admin; every session may read it.';
COMMENT ON COLUMN car.residual_mix.id IS 'Row number: car.market_allocation.residual_mix_id of the kWh it priced.';
COMMENT ON COLUMN car.residual_mix.market IS 'The electricity market (ISO 3166 alpha-2 style code): GB, the only market car''s meters are in.';
COMMENT ON COLUMN car.residual_mix.valid_from IS 'First UK local day it prices.';
COMMENT ON COLUMN car.residual_mix.valid_to IS 'Last UK local day it prices, included.';
COMMENT ON COLUMN car.residual_mix.value IS 'kg CO2e per kWh, as published (e.g. 0.300 for 300 gCO2e/kWh).';
COMMENT ON COLUMN car.residual_mix.publisher IS 'Who publishes the figure (e.g. AIB).';
COMMENT ON COLUMN car.residual_mix.document IS 'Provenance: the publication and edition the figure comes from.';
COMMENT ON COLUMN car.residual_mix.recorded_at IS 'When the row was recorded or last changed.';

CREATE TABLE car.instrument (
    id          bigserial PRIMARY KEY,
    org         text NOT NULL CHECK (org <> '' AND org !~ '[[:cntrl:]]'),
    kind        text NOT NULL CHECK (kind IN ('certificate', 'contract', 'supplier_rate')),
    scheme      text CHECK (scheme <> '' AND scheme !~ '[[:cntrl:]]'),
    market      text NOT NULL DEFAULT 'GB' CHECK (market ~ '^[A-Z]{2}$'),
    meter_id    int REFERENCES car.meter (id) ON DELETE CASCADE,
    valid_from  date NOT NULL CHECK (valid_from BETWEEN '1990-01-01' AND '2199-12-31'),
    valid_to    date NOT NULL,
    half_hour   timestamptz,
    volume_kwh  numeric CHECK (volume_kwh > 0 AND volume_kwh < 1e15),
    value       numeric NOT NULL CHECK (value >= 0 AND value < 10),
    retired_on  date CHECK (retired_on BETWEEN '1990-01-01' AND '2199-12-31'),
    evidence    text NOT NULL CHECK (evidence <> ''),
    supplier    text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT instrument_dates CHECK (valid_to >= valid_from AND valid_to <= '2199-12-31'),
    CONSTRAINT instrument_volume CHECK (CASE kind WHEN 'certificate' THEN volume_kwh IS NOT NULL
                                                  WHEN 'supplier_rate' THEN volume_kwh IS NULL AND retired_on IS NULL
                                                  ELSE retired_on IS NULL END),
    CONSTRAINT instrument_half_hour CHECK (half_hour IS NULL OR (kind = 'certificate'
        AND extract(epoch FROM half_hour)::numeric % 1800 = 0
        AND (half_hour AT TIME ZONE 'Europe/London')::date BETWEEN valid_from AND valid_to))
);
COMMENT ON CONSTRAINT instrument_dates ON car.instrument IS 'valid_to is on or after valid_from and no later than 2199-12-31.';
COMMENT ON CONSTRAINT instrument_volume ON car.instrument IS 'A certificate has a volume; a supplier rate has none and is not retired; only certificates are retired.';
COMMENT ON CONSTRAINT instrument_half_hour ON car.instrument IS 'A time-stamped certificate starts on a half-hour (UTC :00 or :30) that falls in its vintage (valid_from to valid_to, UK days).';
CREATE INDEX instrument_org_idx ON car.instrument (org, valid_from);
CREATE INDEX instrument_meter_idx ON car.instrument (meter_id) WHERE meter_id IS NOT NULL;
COMMENT ON TABLE car.instrument IS 'The contractual instruments of an organisation for market-based Scope 2 (GHG Protocol Scope 2 Guidance): energy attribute certificates (REGOs in Great Britain) with vintage, volume, retirement and evidence; power purchase agreements and other contracts; supplier-specific rates from the supplier''s fuel mix disclosure. car.refresh() applies them to the organisation''s electricity meters (one meter, or all its meters on the days it owns their sites) in the Protocol''s order: certificates, then contracts, then the supplier rate, then car.residual_mix, and only then the grid average (flagged). A volume is applied pro rata over the consumption it covers and never beyond it: the excess is reported (car.instrument_status), never carried. Any change re-queues the meter-days it covers for the next car.refresh(). Row-level security shows an organisation''s instruments to who may see the organisation.';
COMMENT ON COLUMN car.instrument.id IS 'Instrument number: car.market_allocation.instrument_id of the kWh it covered.';
COMMENT ON COLUMN car.instrument.org IS 'The organisation holding it (car.site.org spelling).';
COMMENT ON COLUMN car.instrument.kind IS 'certificate (an energy attribute certificate: REGO, GO...; applied first), contract (a power purchase agreement or other contract for electricity with its attributes; second) or supplier_rate (the supplier''s specific emission rate, from its fuel mix disclosure; third).';
COMMENT ON COLUMN car.instrument.scheme IS 'For a certificate: the scheme (REGO, GO, I-REC...).';
COMMENT ON COLUMN car.instrument.market IS 'The market it was issued in and applies to: only GB instruments are applied to car''s meters (a quality check; others are reported, not applied).';
COMMENT ON COLUMN car.instrument.meter_id IS 'The meter it is assigned to (car.meter.id), or NULL for all the organisation''s electricity meters on the days it owns their sites. A meter''s own instruments are applied before the organisation''s.';
COMMENT ON COLUMN car.instrument.valid_from IS 'First UK day of consumption it may cover: for a certificate, the start of its vintage (the generation period, e.g. the REGO obligation period 1 April to 31 March); for a contract or rate, the start of its term.';
COMMENT ON COLUMN car.instrument.valid_to IS 'Last UK day of consumption it may cover, included. A certificate covers only consumption inside its vintage (a quality check).';
COMMENT ON COLUMN car.instrument.half_hour IS 'For a time-stamped certificate: the UTC start of the half-hour whose generation it certifies. Half-hourly matching applies it to that half-hour''s consumption only (readings of meters of 30 minutes or less); annual matching applies it like any certificate of its vintage. NULL otherwise.';
COMMENT ON COLUMN car.instrument.volume_kwh IS 'kWh it covers: required for a certificate; for a contract the contracted volume, or NULL for the whole consumption of its meters over its term; NULL for a supplier rate (all the rest of the consumption).';
COMMENT ON COLUMN car.instrument.value IS 'kg CO2e per kWh of the electricity it covers: 0 for renewable certificates, the generator''s rate for a contract, the disclosed rate for a supplier (e.g. 0.150).';
COMMENT ON COLUMN car.instrument.retired_on IS 'For a certificate: the day it was retired (redeemed) for the organisation. A certificate not retired is not applied (a quality check).';
COMMENT ON COLUMN car.instrument.evidence IS 'Provenance: certificate numbers and registry, contract reference, fuel mix disclosure document.';
COMMENT ON COLUMN car.instrument.supplier IS 'The supplier or generator, where there is one.';
COMMENT ON COLUMN car.instrument.recorded_at IS 'When the row was recorded or last changed.';

-- The kWh each basis priced, per Scope 2 meter-day and way of matching:
-- what car.refresh() allocated.  A row per part of the day, however many
-- instruments reach it (bounded by the meter-days, not by instruments x
-- meter-days); what each instrument with a volume applied is kept per
-- instrument in car.instrument_applied.
CREATE TABLE car.market_allocation (
    meter_id        int NOT NULL,
    day             date NOT NULL,
    month           date NOT NULL,
    site_id         int NOT NULL,
    org             text,
    matching        text NOT NULL CHECK (matching IN ('annual', 'half_hourly')),
    basis           text NOT NULL CHECK (basis IN ('certificate', 'contract', 'supplier_rate', 'residual_mix', 'grid_average')),
    instrument_id   bigint,
    residual_mix_id int,
    kwh             float8 NOT NULL CHECK (kwh > '-Infinity' AND kwh < 'Infinity'),
    kg_co2e         float8 NOT NULL CHECK (kg_co2e > '-Infinity' AND kg_co2e < 'Infinity')
);
-- at most one row per part: certificates, contracts with a volume, the instrument for the rest of the day, residual mix, grid average
CREATE UNIQUE INDEX market_allocation_day_idx ON car.market_allocation (meter_id, day, matching, basis, (instrument_id IS NOT NULL));
CREATE INDEX market_allocation_instrument_idx ON car.market_allocation (instrument_id) WHERE instrument_id IS NOT NULL;
COMMENT ON INDEX car.market_allocation_day_idx IS 'One row per meter-day, matching and part: certificates, contracts with a volume (instrument_id NULL), the instrument for the rest of the day (instrument_id set), residual mix, grid average. So the table holds at most 5 rows per Scope 2 meter-day and matching, whatever the number of instruments.';
COMMENT ON TABLE car.market_allocation IS 'How car.refresh() priced the kWh of each Scope 2 meter-day that the market-based allocation prices (UK electricity in an energy unit, on a day a residual mix or an instrument of the day''s owner covers), per way of matching (annual: the GHG Protocol''s practice today; half_hourly: time-stamped certificates matched to the consumption of their own half-hour, ready for the Protocol''s Scope 2 revision) and basis, in the Protocol''s order: one row per part of the day (all its certificates; all its contracts with a volume; the contract for the whole supply or the supplier rate that took the rest; the residual mix; the grid average), at most 5 per meter-day and matching. Its kg CO2e add up to car.emission_daily.kg_co2e_market and kg_co2e_market_half_hourly of those rows; every other Scope 2 row is at the grid average (kg_co2e_market = kg_co2e, market_flagged) and has no row here. What each instrument with a volume applied is in car.instrument_applied. Rewritten for the days a refresh recomputes, by car.refresh() as the table''s owner (no role may write it); row-level security as car.emission_daily.';
COMMENT ON COLUMN car.market_allocation.meter_id IS 'car.meter.id.';
COMMENT ON COLUMN car.market_allocation.day IS 'UK local day.';
COMMENT ON COLUMN car.market_allocation.month IS 'First day of the day''s month.';
COMMENT ON COLUMN car.market_allocation.site_id IS 'The meter''s site when the day was computed.';
COMMENT ON COLUMN car.market_allocation.org IS 'The organisation owning the site that day, whose instruments were applied (NULL: none owns it).';
COMMENT ON COLUMN car.market_allocation.matching IS 'annual (certificates matched to consumption anywhere in their vintage) or half_hourly (only time-stamped certificates, each matched to its own half-hour; the rest goes down the same order).';
COMMENT ON COLUMN car.market_allocation.basis IS 'What priced these kWh: certificate or contract (the instruments with a volume that reach the day, together: car.instrument_applied has each one''s kWh), contract or supplier_rate for the instrument without a volume that took the rest of the day (instrument_id), residual_mix (car.residual_mix) or grid_average (the location-based factor of the row: no market figure covered them; flagged).';
COMMENT ON COLUMN car.market_allocation.instrument_id IS 'The car.instrument without a volume (a contract for the whole supply, a supplier rate) that priced the rest of the day; NULL on other rows (the certificates and contracts with a volume of a day share one row: car.instrument_applied has what each applied).';
COMMENT ON COLUMN car.market_allocation.residual_mix_id IS 'The car.residual_mix row for residual_mix; NULL otherwise.';
COMMENT ON COLUMN car.market_allocation.kwh IS 'kWh priced so: negative for what a net negative meter-day (an export or a correction reading) gives back, which no certificate covers and the rest of the order prices like any kWh.';
COMMENT ON COLUMN car.market_allocation.kg_co2e IS 'kg CO2e of those kWh: the sum over the instruments of their kWh x their kg CO2e per kWh, or kwh x the residual mix''s or the grid average''s.';

-- What each instrument with a volume applied: one row per instrument and
-- way of matching.  car.refresh() allocates such an instrument again whole
-- (with the island of overlapping vintages and terms of its organisation
-- that holds it) or not at all, so the row is replaced whole.
CREATE TABLE car.instrument_applied (
    instrument_id bigint NOT NULL,
    matching      text NOT NULL CHECK (matching IN ('annual', 'half_hourly')),
    org           text NOT NULL,
    kwh           float8 NOT NULL CHECK (kwh >= 0 AND kwh < 'Infinity'),
    meter_days    int NOT NULL CHECK (meter_days > 0),
    first_day     date NOT NULL,
    last_day      date NOT NULL CHECK (last_day >= first_day),
    PRIMARY KEY (instrument_id, matching)
);
COMMENT ON TABLE car.instrument_applied IS 'What car.refresh() applied of each car.instrument with a volume (certificates, contracts with a contracted volume), per way of matching: kWh, over how many meter-days, first and last day. No row: it applied nothing (car.instrument_status says why). Instruments without a volume are in car.market_allocation (instrument_id), one row per meter-day they priced. Written by car.refresh() as the table''s owner (no role may write it); row-level security as car.instrument.';
COMMENT ON COLUMN car.instrument_applied.instrument_id IS 'car.instrument.id.';
COMMENT ON COLUMN car.instrument_applied.matching IS 'annual or half_hourly (time-stamped certificates only), as car.market_allocation.matching.';
COMMENT ON COLUMN car.instrument_applied.org IS 'The organisation holding the instrument (car.instrument.org when it was applied).';
COMMENT ON COLUMN car.instrument_applied.kwh IS 'kWh it priced, kWh: never more than its volume_kwh.';
COMMENT ON COLUMN car.instrument_applied.meter_days IS 'How many Scope 2 meter-days took some of it.';
COMMENT ON COLUMN car.instrument_applied.first_day IS 'First UK day it priced.';
COMMENT ON COLUMN car.instrument_applied.last_day IS 'Last UK day it priced, included.';

ALTER TABLE car.emission_daily ADD COLUMN kg_co2e_market float8 CHECK (kg_co2e_market > '-Infinity' AND kg_co2e_market < 'Infinity');
ALTER TABLE car.emission_daily ADD COLUMN kg_co2e_market_half_hourly float8
    CHECK (kg_co2e_market_half_hourly > '-Infinity' AND kg_co2e_market_half_hourly < 'Infinity');
ALTER TABLE car.emission_daily ADD COLUMN market_basis text;
ALTER TABLE car.emission_daily ADD COLUMN market_flagged boolean;
COMMENT ON COLUMN car.emission_daily.kg_co2e IS 'kg CO2e of this component. On Scope 2 rows, the location-based figure (grid average: the DESNZ factor, or a custom factor''s: factor_tier).';
COMMENT ON COLUMN car.emission_daily.kg_co2e_market IS 'Market-based kg CO2e of a Scope 2 row (GHG Protocol dual reporting), by annual matching: car.instrument in the Protocol''s order, then car.residual_mix, then the grid average (market_flagged). NULL on rows of other scopes, which have one figure under both methods (kg_co2e: T&D and well-to-tank stay location-based). car.market_allocation has the split.';
COMMENT ON COLUMN car.emission_daily.kg_co2e_market_half_hourly IS 'Market-based kg CO2e of a Scope 2 row by half-hourly matching: only time-stamped certificates count, each for the consumption of its own half-hour; the rest as kg_co2e_market. A management figure ahead of the GHG Protocol''s Scope 2 revision. NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_daily.market_basis IS 'On Scope 2 rows: what priced kg_co2e_market, the bases used in the Protocol''s order joined by "+" (certificate, contract, supplier_rate, residual_mix, grid_average). NULL on other rows.';
COMMENT ON COLUMN car.emission_daily.market_flagged IS 'On Scope 2 rows: true when some kWh of kg_co2e_market were priced at the grid average, no instrument or residual mix covering them. NULL on other rows.';

ALTER TABLE car.closed_emission ADD COLUMN kg_co2e_market float8;
ALTER TABLE car.closed_emission ADD COLUMN kg_co2e_market_half_hourly float8;
ALTER TABLE car.closed_emission ADD COLUMN market_basis text;
ALTER TABLE car.closed_emission ADD COLUMN market_flagged boolean;
COMMENT ON COLUMN car.closed_emission.kg_co2e_market IS 'Market-based kg CO2e of a Scope 2 row as signed (car.emission_daily.kg_co2e_market); NULL on other scopes.';
COMMENT ON COLUMN car.closed_emission.kg_co2e_market_half_hourly IS 'Market-based kg CO2e by half-hourly matching as signed; NULL on other scopes.';
COMMENT ON COLUMN car.closed_emission.market_basis IS 'What priced kg_co2e_market, as signed.';
COMMENT ON COLUMN car.closed_emission.market_flagged IS 'Whether the grid average priced part of kg_co2e_market, as signed.';

-- Triggers: checks per row, then per statement the refresh queue.
CREATE FUNCTION car.check_instrument() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'car.instrument'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'car.check_instrument() fired on %, which is not car.instrument', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF NEW.meter_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM car.meter m JOIN car.activity a ON a.key OPERATOR(pg_catalog.=) m.activity
        WHERE m.id OPERATOR(pg_catalog.=) NEW.meter_id AND a.level1 OPERATOR(pg_catalog.=) 'UK electricity') THEN
        RAISE EXCEPTION 'car.instrument: meter % is not a UK grid electricity meter', NEW.meter_id
            USING ERRCODE = 'check_violation',
                  HINT = 'Contractual instruments apply to electricity: assign the instrument to an electricity meter, or to none (all the organisation''s).';
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        NEW.recorded_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION car.check_instrument() IS 'Trigger on car.instrument (before each row): refuses a meter that is not a UK grid electricity meter (check_violation); stamps recorded_at on an update.';

CREATE FUNCTION car.check_residual_mix() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'car.residual_mix'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'car.check_residual_mix() fired on %, which is not car.residual_mix', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        NEW.recorded_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION car.check_residual_mix() IS 'Trigger on car.residual_mix (before each row): stamps recorded_at on an update.';

-- Per statement (transition tables): refuses overlaps where the order needs
-- one row (a residual mix per market and day; an unlimited contract or a
-- supplier rate per organisation, meter and day), and queues for
-- car.refresh() the priced meter-days the old and new rows cover.  Runs as
-- car's owner (it sees every row and writes car.refresh_queue); every name
-- and operator in it is qualified.
CREATE FUNCTION car.market_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    v_rows text;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) ALL (ARRAY['car.instrument'::pg_catalog.regclass, 'car.residual_mix'::pg_catalog.regclass]) THEN
        RAISE EXCEPTION 'car.market_changed() fired on %, which is neither car.instrument nor car.residual_mix', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'triggered_action_exception';
    END IF;
    IF TG_WHEN OPERATOR(pg_catalog.=) 'BEFORE' THEN
        -- one writer at a time, so that two transactions cannot each add half of an overlap
        EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', TG_RELID::pg_catalog.regclass);
        RETURN NULL;
    END IF;
    v_rows := CASE TG_OP WHEN 'INSERT' THEN 'SELECT * FROM new_rows'
                         WHEN 'DELETE' THEN 'SELECT * FROM old_rows'
                         ELSE 'SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows' END;
    IF TG_RELID OPERATOR(pg_catalog.=) 'car.residual_mix'::pg_catalog.regclass THEN
        IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
            SELECT a.id AS a_id, b.id AS b_id, a.market, a.valid_from AS a_from, a.valid_to AS a_to,
                   b.valid_from AS b_from, b.valid_to AS b_to
            INTO r
            FROM new_rows a JOIN car.residual_mix b
              ON b.id OPERATOR(pg_catalog.<>) a.id AND b.market OPERATOR(pg_catalog.=) a.market
             AND b.valid_from OPERATOR(pg_catalog.<=) a.valid_to AND a.valid_from OPERATOR(pg_catalog.<=) b.valid_to
            ORDER BY a.id, b.id LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'car.residual_mix: row % (%) valid % to % overlaps row % valid % to %',
                    r.a_id, r.market, r.a_from, r.a_to, r.b_id, r.b_from, r.b_to
                    USING ERRCODE = 'exclusion_violation',
                          HINT = 'A market has one residual mix a day: end the other row first or in the same statement.';
            END IF;
        END IF;
        EXECUTE 'INSERT INTO car.refresh_queue (meter_id, day) '
             || 'SELECT DISTINCT e.meter_id, e.day FROM (' || v_rows || ') c '
             || 'JOIN car.emission_daily e ON e.scope OPERATOR(pg_catalog.=) 2 '
             || 'AND e.day OPERATOR(pg_catalog.>=) c.valid_from AND e.day OPERATOR(pg_catalog.<=) c.valid_to '
             || 'AND e.month OPERATOR(pg_catalog.>=) pg_catalog.date_trunc(''month'', c.valid_from::timestamp)::date '
             || 'AND e.month OPERATOR(pg_catalog.<=) c.valid_to';
        RETURN NULL;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        SELECT a.id AS a_id, b.id AS b_id, a.kind, a.org, a.meter_id, a.valid_from AS a_from, a.valid_to AS a_to,
               b.valid_from AS b_from, b.valid_to AS b_to
        INTO r
        FROM new_rows a JOIN car.instrument b
          ON b.id OPERATOR(pg_catalog.<>) a.id AND b.kind OPERATOR(pg_catalog.=) a.kind AND b.org OPERATOR(pg_catalog.=) a.org
         AND b.meter_id IS NOT DISTINCT FROM a.meter_id AND b.volume_kwh IS NULL AND a.volume_kwh IS NULL
         AND b.valid_from OPERATOR(pg_catalog.<=) a.valid_to AND a.valid_from OPERATOR(pg_catalog.<=) b.valid_to
        ORDER BY a.id, b.id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'car.instrument: % % of % (%) valid % to % overlaps % valid % to %',
                pg_catalog.replace(r.kind, '_', ' '), r.a_id, r.org, coalesce('meter ' || r.meter_id, 'all meters'),
                r.a_from, r.a_to, r.b_id, r.b_from, r.b_to
                USING ERRCODE = 'exclusion_violation',
                      HINT = 'A contract without a volume, or a supplier rate, covers all the rest of its meters'' use: one a day per organisation and meter (end the other first).';
        END IF;
    END IF;
    EXECUTE 'INSERT INTO car.refresh_queue (meter_id, day) '
         || 'SELECT DISTINCT e.meter_id, e.day FROM (' || v_rows || ') c '
         || 'JOIN car.site_ownership o ON o.org OPERATOR(pg_catalog.=) c.org '
         || 'JOIN car.meter m ON m.site_id OPERATOR(pg_catalog.=) o.site_id '
         || 'AND (c.meter_id IS NULL OR m.id OPERATOR(pg_catalog.=) c.meter_id) '
         || 'JOIN car.emission_daily e ON e.meter_id OPERATOR(pg_catalog.=) m.id AND e.scope OPERATOR(pg_catalog.=) 2 '
         || 'AND e.day OPERATOR(pg_catalog.>=) greatest(c.valid_from, o.valid_from) '
         || 'AND e.day OPERATOR(pg_catalog.<=) least(c.valid_to, o.valid_to) '
         || 'AND e.month OPERATOR(pg_catalog.>=) pg_catalog.date_trunc(''month'', c.valid_from::timestamp)::date '
         || 'AND e.month OPERATOR(pg_catalog.<=) c.valid_to';
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION car.market_changed() IS 'Trigger on car.instrument and car.residual_mix (per statement): before, locks the table against other writers; after, refuses overlapping residual mixes of one market and overlapping unlimited contracts or supplier rates of one organisation and meter (exclusion_violation, naming both rows), and queues in car.refresh_queue the priced Scope 2 meter-days the old and new rows cover, so that the next car.refresh() allocates them again.';

CREATE TRIGGER instrument_check BEFORE INSERT OR UPDATE ON car.instrument
    FOR EACH ROW EXECUTE FUNCTION car.check_instrument();
CREATE TRIGGER instrument_lock BEFORE INSERT OR UPDATE OR DELETE ON car.instrument
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER instrument_inserted AFTER INSERT ON car.instrument REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER instrument_updated AFTER UPDATE ON car.instrument REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER instrument_deleted AFTER DELETE ON car.instrument REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER residual_mix_check BEFORE INSERT OR UPDATE ON car.residual_mix
    FOR EACH ROW EXECUTE FUNCTION car.check_residual_mix();
CREATE TRIGGER residual_mix_lock BEFORE INSERT OR UPDATE OR DELETE ON car.residual_mix
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER residual_mix_inserted AFTER INSERT ON car.residual_mix REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER residual_mix_updated AFTER UPDATE ON car.residual_mix REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();
CREATE TRIGGER residual_mix_deleted AFTER DELETE ON car.residual_mix REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.market_changed();

ALTER TABLE car.instrument ENABLE ROW LEVEL SECURITY;
CREATE POLICY instrument_by_claims ON car.instrument USING (car.org_visible(org));
ALTER TABLE car.market_allocation ENABLE ROW LEVEL SECURITY;
CREATE POLICY market_allocation_by_claims ON car.market_allocation USING (car.site_visible_on(site_id, day));
ALTER TABLE car.instrument_applied ENABLE ROW LEVEL SECURITY;
CREATE POLICY instrument_applied_by_claims ON car.instrument_applied USING (car.org_visible(org));
SELECT pg_catalog.pg_extension_config_dump('car.instrument', '');
SELECT pg_catalog.pg_extension_config_dump('car.instrument_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.residual_mix', '');
SELECT pg_catalog.pg_extension_config_dump('car.residual_mix_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.market_allocation', '');
SELECT pg_catalog.pg_extension_config_dump('car.instrument_applied', '');


-- The reports' rows carry both methods.
CREATE OR REPLACE VIEW car.emission_live WITH (security_invoker = true) AS
SELECT o.org, e.site_id, e.meter_id, e.day, e.month, e.activity, e.scope, e.component, e.unit,
       e.quantity, e.quantity_estimated, e.periods_actual, e.periods_estimated,
       e.kg_co2e, e.kg_co2, e.kg_ch4, e.kg_n2o, e.factor_set_id, e.factor_year, e.factor_id, e.file_ids,
       car.fy_co2e(e.kg_co2e, e.factor_set_id, e.quantity, e.unit, e.activity, e.component, car.financial_year(e.day)) AS fy_kg_co2e,
       car.fy_factor_set(car.financial_year(e.day)) AS fy_factor_set_id,
       car.fy_factor_year(car.financial_year(e.day)) AS fy_factor_year,
       e.kg_co2e_market, e.kg_co2e_market_half_hourly, e.market_basis, e.market_flagged
FROM car.emission_daily e
LEFT JOIN car.site_ownership_shown o ON o.site_id = e.site_id AND e.day >= o.valid_from AND e.day <= o.valid_to
WHERE o.shown IS NOT FALSE;

CREATE OR REPLACE VIEW car.emission_reported WITH (security_invoker = true) AS
SELECT r.org, r.site_id, r.meter_id, r.day, r.month, r.activity, r.scope, r.component, r.unit,
       r.quantity, r.quantity_estimated, r.periods_actual, r.periods_estimated,
       r.kg_co2e, r.kg_co2, r.kg_ch4, r.kg_n2o, r.factor_set_id, r.factor_year, r.factor_id, r.file_ids,
       r.fy_kg_co2e, r.fy_factor_set_id, r.fy_factor_year, r.close_id,
       r.component = coalesce(p.kind, r.activity) AS primary_row,
       CASE WHEN r.quantity <> 0 THEN r.kg_co2e * r.quantity_estimated / r.quantity ELSE 0 END AS kg_co2e_estimated,
       CASE WHEN r.quantity <> 0 THEN r.fy_kg_co2e * r.quantity_estimated / r.quantity ELSE 0 END AS fy_kg_co2e_estimated,
       r.kg_co2e_market, r.kg_co2e_market_half_hourly, r.market_basis, r.market_flagged
FROM (
    SELECT l.org, l.site_id, l.meter_id, l.day, l.month, l.activity, l.scope, l.component, l.unit,
           l.quantity, l.quantity_estimated, l.periods_actual, l.periods_estimated,
           l.kg_co2e, l.kg_co2, l.kg_ch4, l.kg_n2o, l.factor_set_id, l.factor_year, l.factor_id, l.file_ids,
           l.fy_kg_co2e, l.fy_factor_set_id, l.fy_factor_year, NULL::int AS close_id,
           l.kg_co2e_market, l.kg_co2e_market_half_hourly, l.market_basis, l.market_flagged
    FROM car.emission_live l
    WHERE NOT EXISTS (SELECT 1 FROM car.closed_months() c WHERE c.org = l.org AND c.month = l.month)
    UNION ALL
    SELECT c.org, c.site_id, c.meter_id, c.day, c.month, c.activity, c.scope, c.component, c.unit,
           c.quantity, c.quantity_estimated, c.periods_actual, c.periods_estimated,
           c.kg_co2e, c.kg_co2, c.kg_ch4, c.kg_n2o, c.factor_set_id, c.factor_year, c.factor_id, c.file_ids,
           c.fy_kg_co2e, c.fy_factor_set_id, c.fy_factor_year, c.close_id,
           c.kg_co2e_market, c.kg_co2e_market_half_hourly, c.market_basis, c.market_flagged
    FROM car.closed_emission c
    WHERE c.close_id IN (SELECT m.close_id FROM car.closed_months() m)) r
LEFT JOIN car.activity_primary_component p ON p.activity = r.activity;
COMMENT ON COLUMN car.emission_live.kg_co2e_market IS 'Market-based kg CO2e of a Scope 2 row by annual matching (car.emission_daily.kg_co2e_market: instruments in the GHG Protocol''s order, then the residual mix, then the grid average, flagged); NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_live.kg_co2e_market_half_hourly IS 'Market-based kg CO2e of a Scope 2 row by half-hourly matching (car.emission_daily.kg_co2e_market_half_hourly); NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_live.market_basis IS 'What priced kg_co2e_market, "+"-joined in the Protocol''s order (car.emission_daily.market_basis); NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_live.market_flagged IS 'true when part of kg_co2e_market is at the grid average (car.emission_daily.market_flagged); NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_reported.kg_co2e_market IS 'Market-based kg CO2e of a Scope 2 row by annual matching: car.emission_live''s, or as signed (car.closed_emission) for a closed month; NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_reported.kg_co2e_market_half_hourly IS 'Market-based kg CO2e of a Scope 2 row by half-hourly matching: live, or as signed for a closed month; NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_reported.market_basis IS 'What priced kg_co2e_market, "+"-joined in the Protocol''s order: live, or as signed; NULL on rows of other scopes.';
COMMENT ON COLUMN car.emission_reported.market_flagged IS 'true when part of kg_co2e_market is at the grid average: live, or as signed; NULL on rows of other scopes.';

-- Scope 2 by both methods, per site and month.
CREATE VIEW car.report_scope2 WITH (security_invoker = true) AS
SELECT l.organisation, l.site_id, l.site, l.month, l.kwh, l.location_based_kg_co2e, l.market_based_kg_co2e,
       l.market_based_half_hourly_kg_co2e,
       (SELECT string_agg(DISTINCT x, '+' ORDER BY x) FROM unnest(l.bases) b, unnest(string_to_array(b, '+')) x) AS market_bases,
       l.market_flagged, l.meter_days_at_grid_average, l.meter_days_unallocated
FROM (
    SELECT e.org AS organisation, e.site_id, s.name AS site, e.month,
           sum(car.convert(e.quantity, e.unit, 'kWh')) FILTER (WHERE u.dimension = 'energy') AS kwh,
           sum(e.kg_co2e) AS location_based_kg_co2e,
           sum(e.kg_co2e_market) AS market_based_kg_co2e,
           sum(e.kg_co2e_market_half_hourly) AS market_based_half_hourly_kg_co2e,
           array_agg(DISTINCT e.market_basis) FILTER (WHERE e.market_basis IS NOT NULL) AS bases,
           coalesce(bool_or(e.market_flagged), false) AS market_flagged,
           count(*) FILTER (WHERE e.market_flagged) AS meter_days_at_grid_average,
           count(*) FILTER (WHERE e.kg_co2e_market IS NULL) AS meter_days_unallocated
    FROM car.emission_reported e
    LEFT JOIN car.site s ON s.id = e.site_id
    LEFT JOIN car.unit u ON u.name = car.unit_name(e.unit)
    WHERE e.scope = 2
    GROUP BY e.org, e.site_id, s.name, e.month) l;
COMMENT ON VIEW car.report_scope2 IS 'Scope 2 dual reporting (GHG Protocol Scope 2 Guidance), per organisation owning the site, site and month: location-based kg CO2e (grid average: the DESNZ UK electricity generation factor, or a custom factor''s) beside market-based kg CO2e (car.instrument in the Protocol''s order, then car.residual_mix, then the grid average, flagged), by annual matching and by half-hourly matching. Signed months (car.close_period) show their signed figures. T&D and well-to-tank are Scope 3 and the same under both methods (car.report_scope).';
COMMENT ON COLUMN car.report_scope2.organisation IS 'Organisation owning the site in the month.';
COMMENT ON COLUMN car.report_scope2.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.report_scope2.site IS 'Site name.';
COMMENT ON COLUMN car.report_scope2.month IS 'Calendar month (its first day), UK local days.';
COMMENT ON COLUMN car.report_scope2.kwh IS 'Energy of the Scope 2 meters in the month, kWh (those metered in an energy unit).';
COMMENT ON COLUMN car.report_scope2.location_based_kg_co2e IS 'Location-based Scope 2, kg CO2e.';
COMMENT ON COLUMN car.report_scope2.market_based_kg_co2e IS 'Market-based Scope 2 by annual matching (the Protocol''s practice today), kg CO2e. NULL until car.refresh() has allocated the month.';
COMMENT ON COLUMN car.report_scope2.market_based_half_hourly_kg_co2e IS 'Market-based Scope 2 by half-hourly matching (time-stamped certificates against the consumption of their own half-hour; ready for the Protocol''s revision), kg CO2e: a management figure beside the annual one.';
COMMENT ON COLUMN car.report_scope2.market_bases IS 'The bases behind market_based_kg_co2e, "+"-joined in byte order: certificate, contract, grid_average, residual_mix, supplier_rate.';
COMMENT ON COLUMN car.report_scope2.market_flagged IS 'true when part of market_based_kg_co2e is at the grid average: no instrument or residual mix covered those kWh.';
COMMENT ON COLUMN car.report_scope2.meter_days_at_grid_average IS 'Scope 2 meter-days priced partly or wholly at the grid average under the market-based method.';
COMMENT ON COLUMN car.report_scope2.meter_days_unallocated IS 'Scope 2 meter-days without a market-based figure (priced before car 1.1 allocated any: car.refresh(true) allocates them).';

CREATE FUNCTION car.report_scope2_for(token text) RETURNS SETOF car.report_scope2
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_scope2') AS r(organisation text, site_id int, site text, month date,
          kwh float8, location_based_kg_co2e float8, market_based_kg_co2e float8, market_based_half_hourly_kg_co2e float8,
          market_bases text, market_flagged boolean, meter_days_at_grid_average bigint, meter_days_unallocated bigint) $$;
COMMENT ON FUNCTION car.report_scope2_for(text) IS 'car.report_scope2 as a JWT''s claims allow (one organisation''s sites, say), for a BI tool holding a token: verified with car.verify_jwt, raising invalid_authorization_specification when it does not verify.';

-- What each instrument covered, what it could not, and why.
CREATE VIEW car.instrument_status WITH (security_invoker = true) AS
SELECT i.id, i.org, i.kind, i.scheme, i.market, i.meter_id, i.valid_from, i.valid_to, i.half_hour, i.volume_kwh, i.value,
       i.retired_on, i.evidence, i.supplier,
       coalesce(a.kwh, 0) AS applied_kwh,
       CASE WHEN i.volume_kwh IS NOT NULL THEN i.volume_kwh::float8 - coalesce(a.kwh, 0) END AS unused_kwh,
       coalesce(h.kwh, 0) AS applied_half_hourly_kwh,
       CASE WHEN i.volume_kwh IS NOT NULL AND i.half_hour IS NOT NULL THEN i.volume_kwh::float8 - coalesce(h.kwh, 0) END
           AS unused_half_hourly_kwh,
       array_remove(ARRAY[
           CASE WHEN i.market <> 'GB' THEN 'market ' || i.market || ' is not GB: not applied' END,
           CASE WHEN i.kind = 'certificate' AND i.retired_on IS NULL THEN 'not retired: not applied' END,
           CASE WHEN i.market = 'GB' AND (i.kind <> 'certificate' OR i.retired_on IS NOT NULL) AND coalesce(a.kwh, 0) = 0
                THEN 'no consumption of its meters in its ' || CASE WHEN i.kind = 'certificate' THEN 'vintage' ELSE 'term' END
                     || ' was left to cover' END,
           CASE WHEN i.volume_kwh IS NOT NULL AND coalesce(a.kwh, 0) > 0 AND i.volume_kwh::float8 - a.kwh > 1e-6 * i.volume_kwh::float8
                THEN 'volume beyond the consumption it covers: the excess is reported, not carried' END], NULL) AS problems
FROM car.instrument i
-- with a volume: car.instrument_applied; without one (a row per meter-day it priced): car.market_allocation
LEFT JOIN LATERAL (SELECT CASE WHEN i.volume_kwh IS NOT NULL
                               THEN (SELECT x.kwh FROM car.instrument_applied x WHERE x.instrument_id = i.id AND x.matching = 'annual')
                               ELSE (SELECT sum(x.kwh) FROM car.market_allocation x WHERE x.instrument_id = i.id AND x.matching = 'annual')
                          END AS kwh) a ON true
LEFT JOIN LATERAL (SELECT CASE WHEN i.volume_kwh IS NOT NULL
                               THEN (SELECT x.kwh FROM car.instrument_applied x WHERE x.instrument_id = i.id AND x.matching = 'half_hourly')
                               ELSE (SELECT sum(x.kwh) FROM car.market_allocation x WHERE x.instrument_id = i.id AND x.matching = 'half_hourly')
                          END AS kwh) h ON true;
COMMENT ON VIEW car.instrument_status IS 'Each car.instrument with what car.refresh() applied of it (car.instrument_applied for one with a volume, car.market_allocation for one without) and the quality checks: the GB market, retirement, consumption in its vintage or term, and the volume left over (the excess is reported here and never carried to another period or meter). Row-level security as car.instrument''s. As of the last car.refresh().';
COMMENT ON COLUMN car.instrument_status.id IS 'car.instrument.id; the columns up to supplier are the instrument''s.';
COMMENT ON COLUMN car.instrument_status.org IS 'The organisation holding it.';
COMMENT ON COLUMN car.instrument_status.kind IS 'certificate, contract or supplier_rate.';
COMMENT ON COLUMN car.instrument_status.scheme IS 'Certificate scheme (REGO...).';
COMMENT ON COLUMN car.instrument_status.market IS 'Market of issue.';
COMMENT ON COLUMN car.instrument_status.meter_id IS 'Meter assigned, NULL for all the organisation''s.';
COMMENT ON COLUMN car.instrument_status.valid_from IS 'Start of vintage or term (UK day).';
COMMENT ON COLUMN car.instrument_status.valid_to IS 'End of vintage or term (UK day, included).';
COMMENT ON COLUMN car.instrument_status.half_hour IS 'UTC start of a time-stamped certificate''s half-hour.';
COMMENT ON COLUMN car.instrument_status.volume_kwh IS 'Volume, kWh (NULL: unlimited).';
COMMENT ON COLUMN car.instrument_status.value IS 'kg CO2e per kWh.';
COMMENT ON COLUMN car.instrument_status.retired_on IS 'Day retired (certificates).';
COMMENT ON COLUMN car.instrument_status.evidence IS 'Provenance.';
COMMENT ON COLUMN car.instrument_status.supplier IS 'Supplier or generator.';
COMMENT ON COLUMN car.instrument_status.applied_kwh IS 'kWh it priced by annual matching, kWh.';
COMMENT ON COLUMN car.instrument_status.unused_kwh IS 'volume_kwh - applied_kwh, kWh: the volume no consumption was left to take (annual matching); NULL when unlimited.';
COMMENT ON COLUMN car.instrument_status.applied_half_hourly_kwh IS 'kWh it priced by half-hourly matching (time-stamped certificates only), kWh.';
COMMENT ON COLUMN car.instrument_status.unused_half_hourly_kwh IS 'For a time-stamped certificate: volume_kwh - applied_half_hourly_kwh, kWh.';
COMMENT ON COLUMN car.instrument_status.problems IS 'Quality findings, empty when none: not GB, not retired, nothing to cover, volume left over.';

CREATE OR REPLACE FUNCTION car.report_secr(org text, fy int, normaliser text DEFAULT 'fte')
    RETURNS TABLE (line int, measure text, unit text, value float8, prior_year_value float8, note text)
    LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH e AS (
        SELECT car.reporting_year(r.month) AS year,
               CASE WHEN r.activity LIKE 'electricity%' THEN 'electricity'
                    WHEN r.activity LIKE 'natural\_gas%' THEN 'gas'
                    WHEN r.activity IN ('diesel', 'petrol') OR r.activity LIKE 'grey\_fleet\_%' THEN 'transport fuel'
                    ELSE 'other fuels' END AS energy,
               r.activity, r.unit, r.scope, r.primary_row, r.quantity, r.kg_co2e, r.day, r.kg_co2e_market, r.market_flagged
        FROM car.emission_reported r
        WHERE r.org = report_secr.org AND car.reporting_year(r.month) IN (fy, fy - 1)),
    kwh AS (
        -- energy: kWh as metered, or from another unit by the activity's own factors (kg per unit / kg per kWh)
        SELECT e.year, e.energy,
               sum(CASE WHEN u.dimension = 'energy' THEN car.convert(e.quantity, e.unit, 'kWh')
                        WHEN car.can_price(e.activity, 'kWh', e.day::timestamp AT TIME ZONE 'Europe/London')
                        THEN car.co2e(e.quantity, e.unit, e.activity, e.day::timestamp AT TIME ZONE 'Europe/London')
                             / nullif(car.co2e(1, 'kWh', e.activity, e.day::timestamp AT TIME ZONE 'Europe/London'), 0) END) AS kwh,
               bool_or(u.dimension IS DISTINCT FROM 'energy'
                       AND NOT car.can_price(e.activity, 'kWh', e.day::timestamp AT TIME ZONE 'Europe/London')) AS unconverted
        FROM e
        JOIN car.activity a ON a.key = e.activity
        LEFT JOIN car.unit u ON u.name = car.unit_name(e.unit)
        WHERE e.primary_row AND (u.dimension = 'energy' OR a.uom_basis IS NOT NULL OR e.energy <> 'other fuels')
        AND e.activity NOT LIKE 'water%'
        GROUP BY e.year, e.energy),
    scopes AS (
        SELECT e.year, sum(e.kg_co2e) FILTER (WHERE e.scope = 1) / 1000 AS s1, sum(e.kg_co2e) FILTER (WHERE e.scope = 2) / 1000 AS s2,
               sum(e.kg_co2e_market) FILTER (WHERE e.scope = 2) / 1000 AS s2m,
               bool_or(e.market_flagged) FILTER (WHERE e.scope = 2) AS s2m_flagged,
               count(*) FILTER (WHERE e.scope = 2 AND e.kg_co2e_market IS NULL) AS s2m_missing
        FROM e GROUP BY e.year),
    norm AS (
        SELECT n.year, n.value, k.label, k.unit FROM car.normaliser_yearly n JOIN car.normaliser_kind k ON k.key = n.kind
        WHERE n.org = report_secr.org AND n.kind = report_secr.normaliser AND n.year IN (fy, fy - 1)),
    total AS (
        SELECT year, sum(kwh) AS kwh FROM kwh GROUP BY year),
    lines AS (
        SELECT 1 AS line, 'UK energy use: electricity' AS measure, 'kWh' AS unit,
               (SELECT kwh FROM kwh WHERE year = fy AND energy = 'electricity') AS value,
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'electricity') AS prior_year_value, NULL::text AS note
        UNION ALL
        SELECT 2, 'UK energy use: gas', 'kWh', (SELECT kwh FROM kwh WHERE year = fy AND energy = 'gas'),
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'gas'), NULL
        UNION ALL
        SELECT 3, 'UK energy use: transport fuel', 'kWh', (SELECT kwh FROM kwh WHERE year = fy AND energy = 'transport fuel'),
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'transport fuel'),
               CASE WHEN (SELECT unconverted FROM kwh WHERE year = fy AND energy = 'transport fuel')
                    THEN 'some quantities could not be put in kWh (no kWh factor for the activity)' END
        UNION ALL
        SELECT 4, 'UK energy use: other fuels', 'kWh', (SELECT kwh FROM kwh WHERE year = fy AND energy = 'other fuels'),
               (SELECT kwh FROM kwh WHERE year = fy - 1 AND energy = 'other fuels'),
               CASE WHEN (SELECT unconverted FROM kwh WHERE year = fy AND energy = 'other fuels')
                    THEN 'some quantities could not be put in kWh (no kWh factor for the activity)' END
        UNION ALL
        SELECT 5, 'UK energy use: total', 'kWh', (SELECT kwh FROM total WHERE year = fy), (SELECT kwh FROM total WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 6, 'Scope 1 emissions', 'tCO2e', (SELECT s1 FROM scopes WHERE year = fy), (SELECT s1 FROM scopes WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 7, 'Scope 2 emissions (location-based)', 'tCO2e', (SELECT s2 FROM scopes WHERE year = fy),
               (SELECT s2 FROM scopes WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 8, 'Scope 2 emissions (market-based)', 'tCO2e',
               (SELECT CASE WHEN s2m_missing = 0 THEN s2m END FROM scopes WHERE year = fy),
               (SELECT CASE WHEN s2m_missing = 0 THEN s2m END FROM scopes WHERE year = fy - 1),
               CASE WHEN (SELECT s2m_missing FROM scopes WHERE year = fy) > 0
                    THEN 'not allocated for every day yet: run car.refresh()'
                    WHEN (SELECT s2m_flagged FROM scopes WHERE year = fy)
                    THEN 'part of it at the grid average (location-based factor): no contractual instrument or residual mix covered those kWh' END
        UNION ALL
        SELECT 9, 'Scope 1 and 2 emissions (location-based)', 'tCO2e', (SELECT coalesce(s1, 0) + coalesce(s2, 0) FROM scopes WHERE year = fy),
               (SELECT coalesce(s1, 0) + coalesce(s2, 0) FROM scopes WHERE year = fy - 1), NULL
        UNION ALL
        SELECT 10, 'Intensity ratio: Scope 1 and 2 emissions (location-based) per ' || coalesce((SELECT k.label FROM car.normaliser_kind k WHERE k.key = normaliser), normaliser),
               'tCO2e/' || coalesce((SELECT k.unit FROM car.normaliser_kind k WHERE k.key = normaliser), normaliser),
               (SELECT (coalesce(s.s1, 0) + coalesce(s.s2, 0)) / nullif(n.value, 0) FROM scopes s, norm n WHERE s.year = fy AND n.year = fy),
               (SELECT (coalesce(s.s1, 0) + coalesce(s.s2, 0)) / nullif(n.value, 0) FROM scopes s, norm n WHERE s.year = fy - 1 AND n.year = fy - 1),
               CASE WHEN NOT EXISTS (SELECT 1 FROM norm WHERE year = fy) THEN 'no ' || normaliser || ' recorded for the year (car.normaliser)' END
        UNION ALL
        SELECT 11, 'Low energy user (40,000 kWh or less in the year)', 'boolean',
               CASE WHEN (SELECT kwh FROM total WHERE year = fy) <= 40000 THEN 1 ELSE 0 END,
               CASE WHEN (SELECT kwh FROM total WHERE year = fy - 1) <= 40000 THEN 1 ELSE 0 END,
               CASE WHEN coalesce((SELECT kwh FROM total WHERE year = fy), 0) <= 40000
                    THEN 'a low energy user: the report states that its energy and carbon information is not disclosed for that reason'
                    ELSE 'above 40,000 kWh: the energy and carbon information is disclosed' END)
    SELECT * FROM lines ORDER BY line
    $$;
COMMENT ON FUNCTION car.report_secr(text, int, text) IS 'The Streamlined Energy and Carbon Reporting table of an organisation that is a company, for a reporting year (car.reporting_year_start, by the year it starts in) and the year before: UK energy use in kWh by type (electricity, gas, transport fuel, other fuels, total; quantities in litres or other units are put in kWh by the activity''s own factors, kg per unit / kg per kWh), Scope 1, location-based Scope 2 and market-based Scope 2 (car.report_scope2; NULL with a note while some day is not allocated, noted when part is at the grid average) in tCO2e, an intensity ratio (tCO2e per unit of the normaliser kind, FTE by default), and the low energy user test: 40,000 kWh or less in the year, when the report states that the information is not disclosed for that reason. One row per measure: value for the year, prior_year_value, note.';
-- Security fix: no TRUNCATE empties signed figures.  A TRUNCATE fires no row
-- or DELETE trigger, so car.period_close_deleted (which stands for the
-- foreign key car.closed_emission does not have) never saw one: TRUNCATE
-- car.period_close CASCADE emptied the closes and every closed_* table with
-- a key to them, and left car.closed_emission's signed figures behind with
-- no close; a TRUNCATE of closed_emission (or of another closed_* table)
-- left closes in force whose figures were gone, and the reports read those
-- months from the signed copy.  Only the tables' owner (or a superuser) may
-- TRUNCATE them: no role is granted it (src/roles.c).
-------------------------------------------------------------------------------
CREATE FUNCTION car.period_close_truncated() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_closes bigint;
BEGIN
    SELECT count(*) INTO v_closes FROM car.period_close;
    IF v_closes OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'cannot truncate %.%: car.period_close holds % period close(s), whose signed figures it would lose',
                        TG_TABLE_SCHEMA, TG_TABLE_NAME, v_closes
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A TRUNCATE of car.period_close, car.closed_emission, car.closed_coverage, car.closed_factor_set, '
                           'car.closed_file or car.period_close_event (CASCADE included) would leave closes without their '
                           'figures, or figures without their close.',
                  HINT = 'Signed periods are kept for the record: reopen one with car.reopen_period (car_admin), which keeps '
                         'it and its figures. DROP EXTENSION car removes car whole.';
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION car.period_close_truncated() IS 'Trigger (BEFORE TRUNCATE, per statement) on car.period_close, car.closed_emission, car.closed_coverage, car.closed_factor_set, car.closed_file and car.period_close_event: refuses the TRUNCATE (foreign_key_violation, 23503) while car.period_close holds any close, reopened ones included, so that no close loses its signed figures and no figures lose their close; with no close it lets the TRUNCATE run. The truncation counterpart of car.period_close_deleted.';
CREATE TRIGGER period_close_truncated BEFORE TRUNCATE ON car.period_close
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_truncated();
CREATE TRIGGER closed_emission_truncated BEFORE TRUNCATE ON car.closed_emission
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_truncated();
CREATE TRIGGER closed_coverage_truncated BEFORE TRUNCATE ON car.closed_coverage
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_truncated();
CREATE TRIGGER closed_factor_set_truncated BEFORE TRUNCATE ON car.closed_factor_set
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_truncated();
CREATE TRIGGER closed_file_truncated BEFORE TRUNCATE ON car.closed_file
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_truncated();
CREATE TRIGGER period_close_event_truncated BEFORE TRUNCATE ON car.period_close_event
    FOR EACH STATEMENT EXECUTE FUNCTION car.period_close_truncated();

-------------------------------------------------------------------------------
-- Every change to what car.emission_daily and car.market_allocation are
-- computed from reaches the next incremental car.refresh(), which then gives
-- what car.refresh(true) gives (sql/reference_changes.sql):
--  * car.meter: an update that moves a meter or changes its activity, unit or
--    interval queues its days (car 1.0); an insert queues the readings
--    already under its id; a delete (or a new id) queues its computed days,
--    whose rows the refresh removes, and is refused while the meter has
--    readings (car.reading has no foreign key: this is its check); a
--    TRUNCATE makes the next refresh a full one.
--  * car.factor: a published row added, edited or removed queues its set's
--    year (a new or removed set's year is queued by car.factor_set's
--    trigger); a TRUNCATE makes the next refresh a full one.
--  * car.site and car.site_org: a change of owner queues the Scope 2 days
--    whose allocation names another organisation than the day's owner now,
--    as well as those an organisation's custom factors or instruments
--    cover (car.custom_factor_owner_changed below).  A site with meters
--    cannot be deleted (car.meter's foreign key).
-------------------------------------------------------------------------------
CREATE TRIGGER meter_inserted AFTER INSERT ON car.meter REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER meter_deleted AFTER DELETE ON car.meter REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER meter_truncated AFTER TRUNCATE ON car.meter
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER factor_inserted_refresh AFTER INSERT ON car.factor REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER factor_updated_refresh AFTER UPDATE ON car.factor REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER factor_deleted_refresh AFTER DELETE ON car.factor REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER factor_truncated_refresh AFTER TRUNCATE ON car.factor
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
COMMENT ON FUNCTION car.track_changes() IS 'Trigger: records what car.refresh() must recompute: the meter-days of changed readings (car.reading) and of meters inserted, moved, re-classified or deleted (car.meter; a meter that still has readings cannot be deleted or renumbered: foreign_key_violation, naming it and how many), the factor years of changed sets and published rows (car.factor_set, car.factor), or a full refresh (catalogue edits, TRUNCATE).';
COMMENT ON TABLE car.refresh_queue IS 'Meter-days car.refresh() must recompute (written by triggers on car.reading, car.meter, car.site, car.site_org, car.custom_factor, car.instrument and car.residual_mix): a day whose readings or meter are gone has its rows removed.';

-- Running across servers (issue 16): a federation of complete cars on
-- PostgreSQL's logical replication.  Shards ingest and refresh their
-- organisations' readings; a hub subscribes to their results and publishes
-- the reference data loaded on it.  car.node_role (a server setting, see
-- src/node.c) says which a server is.
-------------------------------------------------------------------------------

-- On a hub, the tables its shards fill are written by replication only.
-- Logical replication's apply fires no statement trigger, so this one never
-- stops it; car.push and car.refresh() refuse on a hub before they get here.
CREATE FUNCTION car.refuse_on_hub() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'car_refuse_on_hub_trigger';
COMMENT ON FUNCTION car.refuse_on_hub() IS 'Trigger (BEFORE INSERT, UPDATE, DELETE or TRUNCATE, per statement) on car.reading, car.site, car.meter, car.site_org, car.emission_daily and the period close tables (car.period_close, closed_emission, closed_coverage, closed_factor_set, closed_file, period_close_event): on a hub (car.node_role = hub) refuses the write (SQLSTATE 55000), since a hub''s rows of these tables are its shards'', fed only by logical replication (whose apply fires no statement trigger). Does nothing on a single car or a shard.';
CREATE TRIGGER reading_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.reading
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER site_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.site
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER meter_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.meter
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER site_org_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.site_org
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER emission_daily_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.emission_daily
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
-- a period is closed (signed) and reopened on the shard that holds its
-- figures; the hub reports the signed figures it receives
CREATE TRIGGER period_close_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.period_close
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER closed_emission_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.closed_emission
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER closed_coverage_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.closed_coverage
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER closed_factor_set_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.closed_factor_set
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER closed_file_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.closed_file
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();
CREATE TRIGGER period_close_event_refused_on_hub BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.period_close_event
    FOR EACH STATEMENT EXECUTE FUNCTION car.refuse_on_hub();

-- Id blocks: each shard makes its sites, meters, sources and files in a
-- range of ids of its own, so that they are unique on the hub, which holds
-- every shard's sites and meters in one table.  A block is 10,000,000 ids:
-- readable (block 3 is ids 30,000,000-39,999,999) and enough for ten
-- thousand files a day for over two years per shard, or 1,000 a day for 27
-- years; the ids are int4, so blocks 1 to 213 fit (213 * 10^7 + 10^7 - 1 =
-- 2,139,999,999 < 2^31).  Block 0 (ids below 10,000,000) is a single car's.
CREATE FUNCTION car.id_block_size() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN 10000000;
COMMENT ON FUNCTION car.id_block_size() IS 'Ids in one shard''s id block (car.set_id_block): 10,000,000. Block n holds the ids n * 10,000,000 to n * 10,000,000 + 9,999,999 of car.site, car.meter, car.source, car.source_file, car.period_close and car.period_close_event.';

CREATE TABLE car.id_block (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    block    int NOT NULL CHECK (block BETWEEN 1 AND 213),
    first_id bigint GENERATED ALWAYS AS (block::bigint * 10000000) STORED,
    last_id  bigint GENERATED ALWAYS AS (block::bigint * 10000000 + 9999999) STORED,
    set_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE car.id_block IS 'One row on a shard: its id block (car.set_id_block). Kept by pg_dump; restoring the row bounds the sequences of car.site, car.meter, car.source, car.source_file, car.period_close and car.period_close_event to the block again (trigger id_block_applied), since pg_dump does not keep an extension''s sequence bounds.';
COMMENT ON COLUMN car.id_block.id IS 'Always true: the table has one row at most.';
COMMENT ON COLUMN car.id_block.block IS 'The block number, 1 to 213, unique in the federation.';
COMMENT ON COLUMN car.id_block.first_id IS 'First id of the block (block * 10,000,000).';
COMMENT ON COLUMN car.id_block.last_id IS 'Last id of the block (first_id + 9,999,999).';
COMMENT ON COLUMN car.id_block.set_at IS 'When the block was set (or set again).';
SELECT pg_catalog.pg_extension_config_dump('car.id_block', '');

-- The sequences a block bounds, with their tables.
CREATE FUNCTION car.id_block_sequences(OUT table_name text, OUT sequence_name text) RETURNS SETOF record
    LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 6
    AS $$ VALUES ('site', 'site_id_seq'), ('meter', 'meter_id_seq'), ('source', 'source_id_seq'),
                 ('source_file', 'source_file_id_seq'), ('period_close', 'period_close_id_seq'),
                 ('period_close_event', 'period_close_event_id_seq') $$;
COMMENT ON FUNCTION car.id_block_sequences() IS 'The tables whose ids an id block bounds, with their sequences (in schema car): site, meter, source, source_file, period_close and period_close_event (a shard''s period closes reach the hub with its sites).';

CREATE FUNCTION car.apply_id_block() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lo bigint := NEW.block::bigint OPERATOR(pg_catalog.*) car.id_block_size();
    hi bigint := NEW.block::bigint OPERATOR(pg_catalog.*) car.id_block_size() OPERATOR(pg_catalog.+) car.id_block_size() OPERATOR(pg_catalog.-) 1;
    t text;
    s text;
    v bigint;
    used bigint;
BEGIN
    FOR t, s IN SELECT table_name, sequence_name FROM car.id_block_sequences() LOOP
        EXECUTE format('SELECT last_value FROM car.%I', s) INTO v;
        EXECUTE format('SELECT max(id) FROM car.%I WHERE id OPERATOR(pg_catalog.>=) $1 AND id OPERATOR(pg_catalog.<=) $2', t)
            INTO used USING lo, hi;
        -- a restore may have set the sequence already (its last value is in the block, past the
        -- table's ids): keep it; else go on after the ids the table holds in the block
        IF v OPERATOR(pg_catalog.>=) lo AND v OPERATOR(pg_catalog.<=) hi AND v OPERATOR(pg_catalog.>=) coalesce(used, lo) THEN
            EXECUTE format('ALTER SEQUENCE car.%I MINVALUE %s MAXVALUE %s START %s NO CYCLE', s, lo, hi, lo);
        ELSIF used OPERATOR(pg_catalog.=) hi THEN
            RAISE EXCEPTION 'id block % is full in car.%: its last id % is taken', NEW.block, t, hi
                USING ERRCODE = 'sequence_generator_limit_exceeded',
                      HINT = 'Give this shard''s new organisations to a new shard with a block of its own.';
        ELSE
            EXECUTE format('ALTER SEQUENCE car.%I MINVALUE %s MAXVALUE %s START %s RESTART %s NO CYCLE', s, lo, hi, lo,
                           coalesce(used OPERATOR(pg_catalog.+) 1, lo));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION car.apply_id_block() IS 'Trigger (AFTER INSERT OR UPDATE, per row) on car.id_block: bounds the sequences of car.site, car.meter, car.source, car.source_file, car.period_close and car.period_close_event to the block (MINVALUE first_id, MAXVALUE last_id, NO CYCLE). A sequence whose last value is outside the block, or behind the highest id its table holds in the block, restarts after that id (at first_id when the table has none there); a block whose last id is taken is an error (2200H). Fires when car.set_id_block sets the block and when pg_restore restores the row.';
CREATE TRIGGER id_block_applied AFTER INSERT OR UPDATE ON car.id_block
    FOR EACH ROW EXECUTE FUNCTION car.apply_id_block();

CREATE FUNCTION car.set_id_block(block int) RETURNS car.id_block
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lo bigint := block::bigint OPERATOR(pg_catalog.*) car.id_block_size();
    hi bigint := block::bigint OPERATOR(pg_catalog.*) car.id_block_size() OPERATOR(pg_catalog.+) car.id_block_size() OPERATOR(pg_catalog.-) 1;
    t text;
    outside bigint;
    result car.id_block;
BEGIN
    IF pg_catalog.current_setting('car.node_role') OPERATOR(pg_catalog.<>) 'shard' THEN
        RAISE EXCEPTION 'car.set_id_block is for a shard; this server''s car.node_role is %', pg_catalog.current_setting('car.node_role')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER SYSTEM SET car.node_role = ''shard''; SELECT pg_reload_conf(); then call it again.';
    END IF;
    IF block OPERATOR(pg_catalog.<) 1 OR block OPERATOR(pg_catalog.>) 213 THEN
        RAISE EXCEPTION 'id block % is out of range: blocks are 1 to 213 (10,000,000 int4 ids each)', block
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR t IN SELECT table_name FROM car.id_block_sequences() LOOP
        EXECUTE format('SELECT count(*) FROM car.%I WHERE id OPERATOR(pg_catalog.<) $1 OR id OPERATOR(pg_catalog.>) $2', t)
            INTO outside USING lo, hi;
        IF outside OPERATOR(pg_catalog.>) 0 THEN
            RAISE EXCEPTION 'car.% holds % row(s) whose id is outside id block % (% to %)', t, outside, block, lo, hi
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Their ids could be another shard''s on the hub.',
                      HINT = 'Set the block on a new shard, before it loads anything (or set again the block it has).';
        END IF;
    END LOOP;
    INSERT INTO car.id_block AS b (block) VALUES (block)
        ON CONFLICT (id) DO UPDATE SET block = excluded.block, set_at = pg_catalog.now()
        RETURNING b.* INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION car.set_id_block(int) IS 'On a shard (car.node_role = shard), for a superuser: make ids of car.site, car.meter, car.source, car.source_file, car.period_close and car.period_close_event in block n only (1 to 213; ids n * 10,000,000 to n * 10,000,000 + 9,999,999), so that they are unique across the federation: records the block in car.id_block and bounds the six sequences to it (NO CYCLE: a full block is an error, never a wrap). Refused (55000) on a hub or single car, and when a table already holds ids outside the block. Setting the same block again repairs the sequences. Returns the car.id_block row.';

CREATE FUNCTION car.check_id_block(OUT sequence text, OUT block int, OUT min_value bigint, OUT max_value bigint,
    OUT last_value bigint, OUT problem text) RETURNS SETOF record
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b car.id_block;
    t text;
    lowest bigint;
    highest bigint;
    next_id bigint;
BEGIN
    SELECT * INTO b FROM car.id_block;
    FOR t, sequence IN SELECT table_name, 'car.' OPERATOR(pg_catalog.||) sequence_name FROM car.id_block_sequences() LOOP
        block := b.block;
        SELECT s.seqmin, s.seqmax INTO min_value, max_value FROM pg_catalog.pg_sequence s WHERE s.seqrelid = sequence::regclass;
        last_value := pg_catalog.pg_sequence_last_value(sequence::regclass);
        -- the id nextval gives next (a sequence just restarted has no last value yet)
        EXECUTE format('SELECT CASE WHEN is_called THEN last_value OPERATOR(pg_catalog.+) 1 ELSE last_value END FROM %s', sequence)
            INTO next_id;
        EXECUTE format('SELECT min(id), max(id) FROM car.%I', t) INTO lowest, highest;
        problem := CASE
            WHEN b.block IS NULL AND pg_catalog.current_setting('car.node_role') OPERATOR(pg_catalog.=) 'shard' THEN
                'this shard has no id block (car.set_id_block): its ids may be another shard''s'
            WHEN b.block IS NULL THEN NULL
            WHEN min_value OPERATOR(pg_catalog.<>) b.first_id OR max_value OPERATOR(pg_catalog.<>) b.last_id THEN
                format('%s is bounded to %s..%s, not to id block %s (%s..%s)', sequence, min_value, max_value, b.block, b.first_id, b.last_id)
            WHEN last_value OPERATOR(pg_catalog.<) b.first_id OR last_value OPERATOR(pg_catalog.>) b.last_id THEN
                format('%s last gave %s, outside id block %s (%s..%s)', sequence, last_value, b.block, b.first_id, b.last_id)
            WHEN lowest OPERATOR(pg_catalog.<) b.first_id OR highest OPERATOR(pg_catalog.>) b.last_id THEN
                format('car.%s holds ids %s..%s, outside id block %s (%s..%s)', t, lowest, highest, b.block, b.first_id, b.last_id)
            WHEN next_id OPERATOR(pg_catalog.<=) highest THEN
                format('%s would give %s next, an id car.%s holds already (up to %s)', sequence, next_id, t, highest)
        END;
        RETURN NEXT;
    END LOOP;
END $$;
COMMENT ON FUNCTION car.check_id_block() IS 'The id block check, one row per sequence a block bounds (car.site_id_seq, car.meter_id_seq, car.source_id_seq, car.source_file_id_seq, car.period_close_id_seq, car.period_close_event_id_seq): the block (NULL when none is set), the sequence''s bounds and last value, and the problem, if any (NULL: none): a shard without a block, a sequence not bounded to the block (after a restore that did not bring car.id_block back, say), a last value or a table''s ids outside it, a sequence whose next id its table holds already. The background worker runs it at start-up and logs each problem as a WARNING.';

CREATE FUNCTION car.id_in_block() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b car.id_block;
BEGIN
    SELECT * INTO b FROM car.id_block;
    IF b.block IS NOT NULL AND (NEW.id OPERATOR(pg_catalog.<) b.first_id OR NEW.id OPERATOR(pg_catalog.>) b.last_id) THEN
        RAISE EXCEPTION 'car.% id % is outside this shard''s id block % (% to %)', TG_TABLE_NAME, NEW.id, b.block, b.first_id, b.last_id
            USING ERRCODE = 'check_violation',
                  DETAIL = 'An id outside the block could be another shard''s on the hub.',
                  HINT = 'Let the sequence give the id; if the sequence is outside the block, a superuser runs car.set_id_block with this shard''s block again (see car.check_id_block()).';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION car.id_in_block() IS 'Trigger (BEFORE INSERT OR UPDATE OF id, per row) on car.site, car.meter, car.source, car.source_file, car.period_close and car.period_close_event: on a server with an id block (car.id_block), refuses a row whose id is outside it (check_violation, 23514). Nothing to do without a block.';
CREATE TRIGGER site_id_in_block BEFORE INSERT OR UPDATE OF id ON car.site FOR EACH ROW EXECUTE FUNCTION car.id_in_block();
CREATE TRIGGER meter_id_in_block BEFORE INSERT OR UPDATE OF id ON car.meter FOR EACH ROW EXECUTE FUNCTION car.id_in_block();
CREATE TRIGGER source_id_in_block BEFORE INSERT OR UPDATE OF id ON car.source FOR EACH ROW EXECUTE FUNCTION car.id_in_block();
CREATE TRIGGER source_file_id_in_block BEFORE INSERT OR UPDATE OF id ON car.source_file FOR EACH ROW EXECUTE FUNCTION car.id_in_block();
CREATE TRIGGER period_close_id_in_block BEFORE INSERT OR UPDATE OF id ON car.period_close FOR EACH ROW EXECUTE FUNCTION car.id_in_block();
CREATE TRIGGER period_close_event_id_in_block BEFORE INSERT OR UPDATE OF id ON car.period_close_event
    FOR EACH ROW EXECUTE FUNCTION car.id_in_block();

-- Reference data arrives on a shard by logical replication, whose apply
-- fires row triggers enabled REPLICA (or ALWAYS) and no statement trigger:
-- these row triggers do there what the statement triggers do for a local
-- write (drop every backend's cached factors; queue the years or the full
-- restatement car.refresh() owes).  REPLICA, not ALWAYS: a local write
-- already fires the statement triggers, and would pay for a row trigger too.
CREATE TRIGGER factor_set_applied AFTER INSERT OR UPDATE OR DELETE ON car.factor_set
    FOR EACH ROW EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER factor_set_applied_refresh AFTER INSERT OR UPDATE OR DELETE ON car.factor_set
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER factor_applied AFTER INSERT OR UPDATE OR DELETE ON car.factor
    FOR EACH ROW EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER factor_applied_refresh AFTER INSERT OR UPDATE OR DELETE ON car.factor
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER unit_applied AFTER INSERT OR UPDATE OR DELETE ON car.unit
    FOR EACH ROW EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER unit_applied_refresh AFTER INSERT OR UPDATE OR DELETE ON car.unit
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER activity_applied AFTER INSERT OR UPDATE OR DELETE ON car.activity
    FOR EACH ROW EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER activity_applied_refresh AFTER INSERT OR UPDATE OR DELETE ON car.activity
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER activity_component_applied AFTER INSERT OR UPDATE OR DELETE ON car.activity_component
    FOR EACH ROW EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER activity_component_applied_refresh AFTER INSERT OR UPDATE OR DELETE ON car.activity_component
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER activity_path_applied AFTER INSERT OR UPDATE OR DELETE ON car.activity_path
    FOR EACH ROW EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER activity_path_applied_refresh AFTER INSERT OR UPDATE OR DELETE ON car.activity_path
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
ALTER TABLE car.factor_set ENABLE REPLICA TRIGGER factor_set_applied;
ALTER TABLE car.factor_set ENABLE REPLICA TRIGGER factor_set_applied_refresh;
ALTER TABLE car.factor ENABLE REPLICA TRIGGER factor_applied;
ALTER TABLE car.factor ENABLE REPLICA TRIGGER factor_applied_refresh;
ALTER TABLE car.unit ENABLE REPLICA TRIGGER unit_applied;
ALTER TABLE car.unit ENABLE REPLICA TRIGGER unit_applied_refresh;
ALTER TABLE car.activity ENABLE REPLICA TRIGGER activity_applied;
ALTER TABLE car.activity ENABLE REPLICA TRIGGER activity_applied_refresh;
ALTER TABLE car.activity_component ENABLE REPLICA TRIGGER activity_component_applied;
ALTER TABLE car.activity_component ENABLE REPLICA TRIGGER activity_component_applied_refresh;
ALTER TABLE car.activity_path ENABLE REPLICA TRIGGER activity_path_applied;
ALTER TABLE car.activity_path ENABLE REPLICA TRIGGER activity_path_applied_refresh;

-- The row filter "NOT builtin" of publication car_reference must be covered
-- by the tables' replica identity for updates and deletes to replicate: the
-- whole row (these catalogues are small).
ALTER TABLE car.unit REPLICA IDENTITY FULL;
ALTER TABLE car.activity REPLICA IDENTITY FULL;
ALTER TABLE car.activity_component REPLICA IDENTITY FULL;
ALTER TABLE car.activity_path REPLICA IDENTITY FULL;

CREATE FUNCTION car.publish_reference() RETURNS text
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.current_setting('car.node_role') OPERATOR(pg_catalog.<>) 'hub' THEN
        RAISE EXCEPTION 'car.publish_reference runs on a hub; this server''s car.node_role is %', pg_catalog.current_setting('car.node_role')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER SYSTEM SET car.node_role = ''hub''; SELECT pg_reload_conf(); then call it again.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname OPERATOR(pg_catalog.=) 'car_reference') THEN
        CREATE PUBLICATION car_reference
            FOR TABLE car.factor_set, car.factor,
                      car.unit WHERE (NOT builtin), car.activity WHERE (NOT builtin),
                      car.activity_component WHERE (NOT builtin), car.activity_path WHERE (NOT builtin)
            WITH (publish = 'insert, update, delete');
    END IF;
    RETURN 'car_reference';
END $$;
COMMENT ON FUNCTION car.publish_reference() IS 'On the hub, for a superuser (CREATE PUBLICATION; PostgreSQL 15): publish the reference data loaded on it to every shard, as publication car_reference: car.factor_set and car.factor whole, and the rows of car.unit, car.activity, car.activity_component and car.activity_path that are not built in (PostgreSQL 15 row filters; built-in rows come with CREATE EXTENSION everywhere). Inserts, updates and deletes; never TRUNCATE, which would ignore the row filter. Returns the publication''s name; does nothing when it exists. Refused (55000) off a hub.';

CREATE FUNCTION car.publish_shard() RETURNS text
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t text;
BEGIN
    IF pg_catalog.current_setting('car.node_role') OPERATOR(pg_catalog.<>) 'shard' THEN
        RAISE EXCEPTION 'car.publish_shard runs on a shard; this server''s car.node_role is %', pg_catalog.current_setting('car.node_role')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER SYSTEM SET car.node_role = ''shard''; SELECT pg_reload_conf(); then car.set_id_block(n), then call it again.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM car.id_block) THEN
        RAISE EXCEPTION 'this shard has no id block'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT car.set_id_block(n), n a block no other shard has, then call it again.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname OPERATOR(pg_catalog.=) 'car_shard') THEN
        CREATE PUBLICATION car_shard FOR TABLE car.site, car.meter, car.site_org, car.emission_daily
            WITH (publish = 'insert, update, delete', publish_via_partition_root = true);
    END IF;
    -- the period closes: the hub's reports read a signed month's figures as
    -- signed, as the shard's do (added to a publication an earlier car made;
    -- the hub then runs ALTER SUBSCRIPTION ... REFRESH PUBLICATION)
    FOR t IN SELECT x FROM pg_catalog.unnest(ARRAY['period_close', 'closed_emission', 'closed_coverage', 'closed_factor_set',
                                                    'closed_file', 'period_close_event']) x
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables p
                               WHERE p.pubname OPERATOR(pg_catalog.=) 'car_shard' AND p.schemaname OPERATOR(pg_catalog.=) 'car'
                               AND p.tablename OPERATOR(pg_catalog.=) x) LOOP
        EXECUTE format('ALTER PUBLICATION car_shard ADD TABLE car.%I', t);
    END LOOP;
    RETURN 'car_shard';
END $$;
COMMENT ON FUNCTION car.publish_shard() IS 'On a shard with an id block, for a superuser (CREATE PUBLICATION; PostgreSQL 15): publish what the hub reports from, as publication car_shard: car.site, car.meter, car.site_org (the periods of ownership the reports and row-level security read), car.emission_daily, through its partitioned root (publish_via_partition_root, so the hub''s months may be partitioned otherwise), and the period closes (car.period_close, closed_emission, closed_coverage, closed_factor_set, closed_file, period_close_event), so the hub reports signed months as signed. Inserts, updates and deletes; never TRUNCATE, which on the hub would empty every shard''s rows. Returns the publication''s name; when it exists, adds the tables it lacks. Refused (55000) off a shard or without an id block.';

CREATE FUNCTION car.subscribe_reference(conninfo text) RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_subscribe_reference';
COMMENT ON FUNCTION car.subscribe_reference(text) IS 'On a shard with an id block, for a superuser (replication slots and CREATE SUBSCRIPTION; PostgreSQL 15): subscribe to the hub''s publication car_reference (car.publish_reference on the hub), as subscription car_reference, copying what the hub holds first. conninfo is a libpq connection string to the hub''s car database, for a role with REPLICATION and BYPASSRLS that may read the published tables (car_reader); it is kept only in pg_subscription.subconninfo, which only superusers read. The slot on the hub is car_ref_block_<n>. Errors: not a shard, no id block, the hub unreachable or not a hub, no publication, a slot of that name already there. Returns the subscription''s name.';

CREATE TABLE car.shard (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    subscription text NOT NULL UNIQUE,
    slot         text NOT NULL,
    id_block     int NOT NULL UNIQUE CHECK (id_block BETWEEN 1 AND 213),
    added_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE car.shard IS 'On the hub: its shards, one row each, written by car.add_shard. No connection string: that, and any password in it, is kept only in pg_subscription.subconninfo, which only superusers read.';
COMMENT ON COLUMN car.shard.name IS 'The shard''s name (lower-case letters, digits, _).';
COMMENT ON COLUMN car.shard.subscription IS 'The hub''s subscription to the shard''s publication car_shard: car_shard_<name>.';
COMMENT ON COLUMN car.shard.slot IS 'The replication slot on the shard the subscription streams from: car_hub_<name>.';
COMMENT ON COLUMN car.shard.id_block IS 'The shard''s id block (car.set_id_block on the shard), unique among the hub''s shards.';
COMMENT ON COLUMN car.shard.added_at IS 'When car.add_shard added it.';
SELECT pg_catalog.pg_extension_config_dump('car.shard', '');

CREATE FUNCTION car.add_shard(name text, conninfo text) RETURNS car.shard
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_add_shard';
COMMENT ON FUNCTION car.add_shard(text, text) IS 'On the hub, for a superuser (replication slots and CREATE SUBSCRIPTION; PostgreSQL 15): subscribe to a shard''s publication car_shard (car.publish_shard on the shard), copying what it holds first, as subscription car_shard_<name> streaming from slot car_hub_<name> made on the shard. conninfo is a libpq connection string to the shard''s car database, for a role with REPLICATION and BYPASSRLS that may read the published tables (car_reader); it is kept only in pg_subscription.subconninfo, which only superusers read, never in car''s tables. Errors (55000 unless said): not a hub, a bad name (22023), the shard unreachable (08006), not a shard, without publication or id block, a name or id block another shard has (42710). Returns the car.shard row.';

CREATE FUNCTION car.shard_slot(name text, OUT slot_bytes bigint, OUT pending_bytes bigint, OUT error text) RETURNS record
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_shard_slot';
COMMENT ON FUNCTION car.shard_slot(text) IS 'On the hub: its replication slot on a shard, asked of the shard over the subscription''s own connection (never shown): slot_bytes, the WAL the slot keeps on the shard (bytes, from restart_lsn to the shard''s current WAL position); pending_bytes, what the hub has not yet confirmed (bytes, from confirmed_flush_lsn); or, with NULLs, why they could not be read (error).';

CREATE VIEW car.shard_status WITH (security_invoker = true) AS
SELECT sh.name AS shard, sh.subscription, sh.id_block, s.subenabled AS enabled, st.pid AS apply_pid,
       st.received_lsn, st.latest_end_lsn, st.last_msg_send_time, st.last_msg_receipt_time,
       st.latest_end_time AS last_apply_at,
       st.last_msg_receipt_time - st.last_msg_send_time AS lag,
       sl.slot_bytes, sl.pending_bytes, sl.error AS slot_error
FROM car.shard sh
LEFT JOIN pg_catalog.pg_subscription s ON s.subname OPERATOR(pg_catalog.=) sh.subscription
     AND s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid OPERATOR(pg_catalog.=) s.oid AND st.relid IS NULL
CROSS JOIN LATERAL car.shard_slot(sh.name) sl;
COMMENT ON VIEW car.shard_status IS 'On the hub: one row per shard (car.shard), from the hub''s pg_stat_subscription and, for the slot, from the shard itself (car.shard_slot, one connection per shard per query).';
COMMENT ON COLUMN car.shard_status.shard IS 'The shard''s name.';
COMMENT ON COLUMN car.shard_status.subscription IS 'The hub''s subscription to it (car_shard_<name>).';
COMMENT ON COLUMN car.shard_status.id_block IS 'The shard''s id block.';
COMMENT ON COLUMN car.shard_status.enabled IS 'Whether the subscription is enabled (NULL: it is gone).';
COMMENT ON COLUMN car.shard_status.apply_pid IS 'Process id of the apply worker; NULL when none runs (the shard unreachable, the subscription disabled or failing).';
COMMENT ON COLUMN car.shard_status.received_lsn IS 'Last WAL position received from the shard.';
COMMENT ON COLUMN car.shard_status.latest_end_lsn IS 'Last WAL position the hub reported back to the shard as applied.';
COMMENT ON COLUMN car.shard_status.last_msg_send_time IS 'When the shard sent the last message the hub received.';
COMMENT ON COLUMN car.shard_status.last_msg_receipt_time IS 'When the hub received it.';
COMMENT ON COLUMN car.shard_status.last_apply_at IS 'When the hub last reported an applied position to the shard (pg_stat_subscription.latest_end_time).';
COMMENT ON COLUMN car.shard_status.lag IS 'Transport lag of the last message: received minus sent (an interval; clocks of the two servers must agree).';
COMMENT ON COLUMN car.shard_status.slot_bytes IS 'WAL the hub''s slot keeps on the shard, bytes (read on the shard).';
COMMENT ON COLUMN car.shard_status.pending_bytes IS 'WAL written on the shard that the hub has not confirmed, bytes (read on the shard): the apply lag in bytes.';
COMMENT ON COLUMN car.shard_status.slot_error IS 'Why slot_bytes and pending_bytes are NULL (the shard unreachable, no slot), else NULL.';

-- On a hub there are no readings: a meter's span of days comes from its
-- days in car.emission_daily (the UK days of its readings, replicated from
-- its shard).  On a single car or a shard nothing changes: the readings
-- give it, and car.emission_daily is not read.
CREATE OR REPLACE VIEW car.meter_span WITH (security_invoker = true) AS
SELECT m.id AS meter_id, m.site_id, m.activity, m.unit, m.interval_minutes,
       coalesce(m.installed_on, (f.ts AT TIME ZONE 'Europe/London')::date,
                CASE WHEN pg_catalog.current_setting('car.node_role') = 'hub'
                     THEN (SELECT min(e.day) FROM car.emission_daily e WHERE e.meter_id = m.id) END) AS first_day,
       coalesce(m.removed_on, greatest((now() AT TIME ZONE 'Europe/London')::date,
                                       (l.ts AT TIME ZONE 'Europe/London')::date,
                                       CASE WHEN pg_catalog.current_setting('car.node_role') = 'hub'
                                            THEN (SELECT max(e.day) FROM car.emission_daily e WHERE e.meter_id = m.id) END)) AS last_day
FROM car.meter m
LEFT JOIN LATERAL (SELECT r.ts FROM car.reading r WHERE r.meter_id = m.id ORDER BY r.ts LIMIT 1) f ON true
LEFT JOIN LATERAL (SELECT r.ts FROM car.reading r WHERE r.meter_id = m.id ORDER BY r.ts DESC LIMIT 1) l ON true
WHERE m.interval_minutes IS NOT NULL
  AND (m.installed_on IS NOT NULL OR f.ts IS NOT NULL
       OR pg_catalog.current_setting('car.node_role') = 'hub' AND EXISTS (SELECT 1 FROM car.emission_daily e WHERE e.meter_id = m.id));
COMMENT ON VIEW car.meter_span IS 'Per interval meter, the UK local days it is expected to report: from installed_on (else its first reading; on a hub, which holds no readings, its first day in car.emission_daily) to removed_on (else today, or its last reading, or on a hub its last day in car.emission_daily, when later). Meters without an interval, or with neither readings (on a hub: days in car.emission_daily) nor an installation date, are absent.';
COMMENT ON COLUMN car.meter_span.first_day IS 'First UK day expected: car.meter.installed_on, else the day of the first reading (on a hub: the meter''s first day in car.emission_daily).';
COMMENT ON COLUMN car.meter_span.last_day IS 'Last UK day expected: car.meter.removed_on, else the later of today (UK) and the day of the last reading (on a hub: the meter''s last day in car.emission_daily).';

-- Routing (issue 16): a hub forwards car.push to the shard its source's
-- organisation is placed on (src/node.c, car_route_push).
CREATE TABLE car.placement (
    org       text PRIMARY KEY CHECK (org <> ''),
    shard     text NOT NULL REFERENCES car.shard (name),
    placed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE car.placement IS 'On the hub: which shard holds each organisation, one row each, written by a car_admin. car.push on the hub forwards a file to the shard of its source''s organisation (the source''s options->>''org''), so a push writes one shard only. Changing a row moves no data: moving an organisation is an offline procedure (README, Running across servers).';
COMMENT ON COLUMN car.placement.org IS 'The organisation, as in car.site.org and a push source''s options->>''org''.';
COMMENT ON COLUMN car.placement.shard IS 'The shard holding its sites, meters, readings and files (car.shard.name).';
COMMENT ON COLUMN car.placement.placed_at IS 'When the row was written.';
SELECT pg_catalog.pg_extension_config_dump('car.placement', '');
COMMENT ON FUNCTION car.push(text, text, bytea) IS 'The push API: land a file for a push source and load it in this transaction. Bad rows go to car.ingest_error; a file over car.max_reject_ratio is refused whole; the same bytes again load nothing. Returns the car.source_file row (its content column NULL: the bytes are stored, not sent back). On a hub (car.node_role = hub) nothing is landed here: the caller''s authority is checked on the hub first, as on a single car (EXECUTE on car.push; for car.push(token, ...) the token''s scope push and its organisation, against the hub''s car.source); the source must be defined on the hub too (kind push, options naming its org); the file is forwarded, in one transaction of that shard''s, to the shard its organisation is placed on (car.placement), over the hub''s subscription connection (whose role on the shard needs car_ingest), and the shard''s row is returned. Errors on a hub: no such source on the hub (42704), not a push source (42809), no org or no placement or no subscription (55000), the shard''s refusal (22000, with the shard''s message).';

-- Drill-down into raw readings from the hub (issue 16): a shard-side view
-- with the UK month as a plain column, one postgres_fdw foreign table per
-- shard over it, and car.reading_remote on the hub, their union, filtered by
-- the caller's visible meters passed as one array parameter.
CREATE VIEW car.reading_month WITH (security_invoker = true) AS
SELECT r.meter_id, r.ts, (pg_catalog.date_trunc('month', r.ts AT TIME ZONE 'Europe/London'))::date AS month,
       r.quantity, r.quality, r.file_id
FROM car.reading r;
COMMENT ON VIEW car.reading_month IS 'car.reading with its UK local month as a plain column (the hub''s foreign tables read this on each shard, so a GROUP BY month is computed on the shard, in the shard''s own rules: Europe/London, never the hub session''s time zone). Row-level security of car.reading applies (security_invoker).';
COMMENT ON COLUMN car.reading_month.meter_id IS 'The meter (car.meter.id).';
COMMENT ON COLUMN car.reading_month.ts IS 'Start of the period the quantity covers (UTC instant).';
COMMENT ON COLUMN car.reading_month.month IS 'First day of the UK local (Europe/London) month of ts.';
COMMENT ON COLUMN car.reading_month.quantity IS 'Quantity used in the period, in the meter''s unit.';
COMMENT ON COLUMN car.reading_month.quality IS 'actual or estimated.';
COMMENT ON COLUMN car.reading_month.file_id IS 'car.source_file that supplied the value.';

CREATE FUNCTION car.visible_meter_ids() RETURNS int[]
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
    SET search_path = pg_catalog, car
    AS $$ SELECT coalesce(array_agg(m.id ORDER BY m.id), '{}') FROM car.meter m $$;
COMMENT ON FUNCTION car.visible_meter_ids() IS 'The ids of the meters this session sees (car.meter under its row-level security), sorted; empty when none. car.reading_remote passes it to every shard as one array parameter.';

-- Empty until car.add_reading_remote adds a shard (it replaces the view,
-- keeping its columns, owner and grants).
CREATE VIEW car.reading_remote AS
SELECT NULL::text AS shard, NULL::int AS meter_id, NULL::timestamptz AS ts, NULL::date AS month,
       NULL::float8 AS quantity, NULL::text AS quality, NULL::int AS file_id
WHERE false;
COMMENT ON VIEW car.reading_remote IS 'On the hub: the raw readings of every shard, read where they are (a postgres_fdw foreign table car.reading_remote_<shard> per shard, over the shard''s car.reading_month; made by car.add_reading_remote), one branch per shard, limited to the meters this session sees (meter_id = ANY (car.visible_meter_ids()), evaluated once on the hub and sent to each shard as an array parameter, so the filter runs on the shard), then on the hub by the instant as car.reading''s own policy does (car.meter_visible_at: a site''s readings of the days another organisation owned it are that organisation''s). Aggregates over the union are computed on the hub, and that hub-side filter keeps PostgreSQL 15 from scanning the shards asynchronously (async_capable is set for queries on one shard''s table); a superuser''s query on one shard''s foreign table groups on the shard. Empty on a car with no shards.';
COMMENT ON COLUMN car.reading_remote.shard IS 'The shard the reading is on (car.shard.name).';
COMMENT ON COLUMN car.reading_remote.meter_id IS 'The meter (car.meter.id, in the shard''s id block).';
COMMENT ON COLUMN car.reading_remote.ts IS 'Start of the period the quantity covers (UTC instant).';
COMMENT ON COLUMN car.reading_remote.month IS 'First day of the UK local month of ts, computed on the shard.';
COMMENT ON COLUMN car.reading_remote.quantity IS 'Quantity used in the period, in the meter''s unit.';
COMMENT ON COLUMN car.reading_remote.quality IS 'actual or estimated.';
COMMENT ON COLUMN car.reading_remote.file_id IS 'car.source_file on the shard that supplied the value.';

CREATE FUNCTION car.add_reading_remote(shard text, conninfo text) RETURNS regclass
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$
DECLARE
    srv text := 'car_fdw_' || shard;
    ft text := 'reading_remote_' || shard;
    kv text[];
    srvopts text := 'async_capable ''true'', fetch_size ''10000'', batch_size ''1000''';
    umopts text := '';
    branches text;
    want int;
    got int;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'car.add_reading_remote needs a superuser' USING ERRCODE = '42501';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM car.shard s WHERE s.name = add_reading_remote.shard) THEN
        RAISE EXCEPTION 'no shard "%" on this hub', shard USING ERRCODE = '55000', HINT = 'Add it with car.add_shard first.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'postgres_fdw') THEN
        RAISE EXCEPTION 'car.add_reading_remote needs the extension postgres_fdw' USING ERRCODE = '55000',
            HINT = 'CREATE EXTENSION postgres_fdw; (a superuser, on the hub)';
    END IF;
    FOR kv IN SELECT regexp_matches(conninfo, '([a-z_]+)\s*=\s*(\S+)', 'g') LOOP
        IF kv[1] IN ('user', 'password') THEN
            umopts := umopts || CASE WHEN umopts = '' THEN '' ELSE ', ' END || quote_ident(kv[1]) || ' ' || quote_literal(kv[2]);
        ELSE
            srvopts := srvopts || ', ' || quote_ident(kv[1]) || ' ' || quote_literal(kv[2]);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = srv) THEN
        -- made again: first the view leaves the foreign tables (it is rebuilt below from all of them)
        CREATE OR REPLACE VIEW car.reading_remote AS
        SELECT NULL::text AS shard, NULL::int AS meter_id, NULL::timestamptz AS ts, NULL::date AS month,
               NULL::float8 AS quantity, NULL::text AS quality, NULL::int AS file_id
        WHERE false;
        EXECUTE format('DROP SERVER %I CASCADE', srv);
    END IF;
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (%s)', srv, srvopts);
    -- the view reads the foreign tables as its owner, a superuser: one mapping for PUBLIC
    EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (%s)', srv, umopts);
    -- the server must be that shard: its id block is the one the hub subscribed to
    -- (a foreign table over the shard's car.id_block, for this check only)
    EXECUTE format('CREATE FOREIGN TABLE car.%I (block int) SERVER %I OPTIONS (schema_name ''car'', table_name ''id_block'')',
                   ft || '_id_block', srv);
    EXECUTE format('SELECT max(block) FROM car.%I', ft || '_id_block') INTO got;
    EXECUTE format('DROP FOREIGN TABLE car.%I', ft || '_id_block');
    SELECT s.id_block INTO want FROM car.shard s WHERE s.name = add_reading_remote.shard;
    IF got IS DISTINCT FROM want THEN
        RAISE EXCEPTION 'the server conninfo names is not shard "%": its id block is %, the hub''s shard "%" has block %',
                        shard, coalesce(got::text, 'none'), shard, want
            USING ERRCODE = '55000',
                  HINT = 'Give the connection string of that shard''s car database (car.shard_status lists the shards and their blocks).';
    END IF;
    EXECUTE format('CREATE FOREIGN TABLE car.%I (meter_id int NOT NULL, ts timestamptz NOT NULL, month date NOT NULL, '
                   'quantity float8 NOT NULL, quality text NOT NULL, file_id int) SERVER %I '
                   'OPTIONS (schema_name ''car'', table_name ''reading_month'')', ft, srv);
    EXECUTE format('COMMENT ON FOREIGN TABLE car.%I IS %L', ft,
                   'Shard ' || shard || '''s car.reading_month, read over postgres_fdw (server ' || srv
                   || '). Read through car.reading_remote; nobody but a superuser reads it directly.');
    EXECUTE format('REVOKE ALL ON car.%I FROM PUBLIC', ft);
    SELECT string_agg(format('SELECT %L::text AS shard, r.meter_id, r.ts, r.month, r.quantity, r.quality, r.file_id '
                             'FROM car.%I r WHERE r.meter_id = ANY ((SELECT car.visible_meter_ids())::int[]) '
                             'AND car.meter_visible_at(r.meter_id, r.ts)',
                             c.sh, c.relname), ' UNION ALL ' ORDER BY c.relname)
    INTO branches
    FROM (SELECT substr(t.relname, length('reading_remote_') + 1) AS sh, t.relname::text AS relname
          FROM pg_catalog.pg_class t JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = t.oid
          WHERE t.relnamespace = 'car'::regnamespace AND t.relname LIKE 'reading\_remote\_%') c;
    EXECUTE 'CREATE OR REPLACE VIEW car.reading_remote AS ' || branches;
    RETURN ('car.' || quote_ident(ft))::regclass;
END $$;
COMMENT ON FUNCTION car.add_reading_remote(text, text) IS 'On the hub, for a superuser, with the extension postgres_fdw: make (again) the foreign server car_fdw_<shard> (options async_capable true, fetch_size 10000, batch_size 1000, and the other keys of conninfo: host, port, dbname...) with a user mapping for PUBLIC holding conninfo''s user and password (pg_user_mappings shows them to superusers only; the view reads as its owner), the foreign table car.reading_remote_<shard> over the shard''s car.reading_month, and car.reading_remote again with a branch per shard. conninfo: space-separated key=value pairs without quotes, for a role that may read car.reading_month on the shard (car_reader with BYPASSRLS). Checks that the server reached is that shard (its car.id_block is the block the hub subscribed to). Errors: not a superuser (42501), no such shard, no postgres_fdw, or another server than the shard (55000). Returns the foreign table.';

-------------------------------------------------------------------------------
-- Landed files of any size (issue 16, point 7): raw bytes in pieces, and the
-- push of a large object
-------------------------------------------------------------------------------
-- A landed file's bytes are rows of 1 MB, written and read a piece at a time:
-- a file of any size is landed without holding it whole (car 1.0 formed one
-- tuple of the whole file, copying it again, and a bytea stops at 1 GB).  A
-- table rather than large objects: its rows are dumped with car's other
-- records (pg_extension_config_dump), removed with their file (ON DELETE
-- CASCADE), shown only as far as the file's record is (row-level security),
-- published by logical replication like any table, and never readable by
-- everyone, which large objects are once a superuser sets lo_compat_privileges.
CREATE TABLE car.source_file_chunk (
    file_id int NOT NULL REFERENCES car.source_file (id) ON DELETE CASCADE,
    seq     int NOT NULL CHECK (seq >= 0),
    bytes   bytea NOT NULL CHECK (pg_catalog.octet_length(bytes) BETWEEN 1 AND 1048576),
    PRIMARY KEY (file_id, seq)
);
-- stored as they are: no compressed copy of a piece is made on the way in
ALTER TABLE car.source_file_chunk ALTER COLUMN bytes SET STORAGE EXTERNAL;
COMMENT ON TABLE car.source_file_chunk IS 'The raw bytes of each landed file (car.source_file), as sent, in pieces of 1 MB (1,048,576 bytes; the last one shorter): the file is string_agg(bytes, ''''::bytea ORDER BY seq), whose SHA-256 is car.source_file.sha256 and whose length is car.source_file.bytes. Written by car only (car.push, car.push_lo, a source''s fetch), as the table''s owner; removed with their file, or by car.maintenance() after car.keep_raw. Visible as far as the file''s record is (row-level security on car.source_file).';
COMMENT ON COLUMN car.source_file_chunk.file_id IS 'The car.source_file whose bytes these are.';
COMMENT ON COLUMN car.source_file_chunk.seq IS 'The piece''s place in the file, from 0: piece seq holds bytes seq * 1048576 to seq * 1048576 + octet_length(bytes) - 1 of the file (counted from 0).';
COMMENT ON COLUMN car.source_file_chunk.bytes IS 'The piece''s bytes, as sent (no transcoding): 1 to 1,048,576 bytes.';
ALTER TABLE car.source_file_chunk ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_file_chunk_by_claims ON car.source_file_chunk
    USING (file_id IN (SELECT f.id FROM car.source_file f));
SELECT pg_catalog.pg_extension_config_dump('car.source_file_chunk', '');

-- files landed by car 1.0 keep their bytes, as pieces
INSERT INTO car.source_file_chunk (file_id, seq, bytes)
SELECT f.id, g.seq, pg_catalog.substring(f.content, g.seq * 1048576 + 1, 1048576)
FROM car.source_file f,
     pg_catalog.generate_series(0, (pg_catalog.octet_length(f.content) - 1) / 1048576) AS g(seq)
WHERE f.content IS NOT NULL AND pg_catalog.octet_length(f.content) > 0;
UPDATE car.source_file SET content = NULL WHERE content IS NOT NULL;

COMMENT ON TABLE car.source_file IS 'Every file received (pushed or fetched), what loading it did, and its identity (sha256, bytes); its raw bytes are kept in car.source_file_chunk for replay (see car.keep_raw).';
COMMENT ON COLUMN car.source_file.content IS 'Always NULL since car 1.1: the raw bytes are in car.source_file_chunk (car 1.0 kept them here; the update moved them there).';
COMMENT ON COLUMN car.source_file.bytes IS 'The file''s length in bytes, as sent.';
COMMENT ON COLUMN car.source_file.sha256 IS 'SHA-256 of the file''s bytes as sent, in hex: a source loads the same bytes once.';
COMMENT ON FUNCTION car.push(text, text, bytea) IS 'The push API: land a file for a push source and load it in this transaction; its bytes are read in place, a piece at a time (no copy of the payload is made), and landed in car.source_file_chunk. Bad rows go to car.ingest_error; a file over car.max_reject_ratio is refused whole, saying which line was wrong; the same bytes again load nothing. Returns the car.source_file row (its content column NULL). For files over a few hundred MB, or over the 1 GB a bytea can hold, use car.push_lo.';

CREATE FUNCTION car.push_lo(source text, filename text, lo oid) RETURNS car.source_file
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_push_lo';
COMMENT ON FUNCTION car.push_lo(text, text, oid) IS 'car.push of a large object''s bytes (one the client streamed in, e.g. psql''s \lo_import): the same checks, rows and result as car.push(source, filename, the bytes), for a file of any size in bounded memory (read, hashed, parsed and landed in pieces of 1 MB; readings written in batches). The large object is opened as the caller, who must be able to read it (SQLSTATE 42501 otherwise; 42704 when it does not exist); car copies its bytes into car.source_file_chunk and leaves it as it was: unlink it (lo_unlink) once pushed, or import, push and unlink in one transaction.';

CREATE FUNCTION car.push_lo(token text, source text, filename text, lo oid) RETURNS car.source_file
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT car.check_push_token($1, $2); SELECT * FROM car.push_lo($2, $3, $4) $$;
COMMENT ON FUNCTION car.push_lo(text, text, text, oid) IS 'car.push_lo behind a token: its scope must include "push" and it must grant the source''s organisation; then as car.push_lo(source, filename, lo).';

-- Real-time reports (issue 17 point 2): the meter-days car.refresh() has
-- not recomputed yet are priced when a report reads them, by the refresh's
-- own statement (src/refresh.c), and replace their stale rows.  Every report
-- reads car.emission_live, which now reads car.emission_current.
CREATE FUNCTION car.refresh_pending_full() RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_refresh_pending_full';
COMMENT ON FUNCTION car.refresh_pending_full() IS 'Whether the next car.refresh() recomputes every meter-day (a full refresh: car never refreshed, car.refresh_state.full_needed after a catalogue edit or a TRUNCATE, or this session''s car.reporting_year_start is not the one car.emission_daily was priced under); then car.emission_current prices every day of car.reading on the fly, which costs what a full refresh''s reading does. false on a hub (car.node_role), which never refreshes. Raises object_not_in_prerequisite_state on car 1.0''s tables.';
CREATE FUNCTION car.refresh_pending() RETURNS TABLE (meter_id int, day date)
    LANGUAGE c STABLE PARALLEL RESTRICTED ROWS 100 AS 'MODULE_PATHNAME', 'car_refresh_pending';
COMMENT ON FUNCTION car.refresh_pending() IS 'The meter-days (car.meter.id, UK local day) the next incremental car.refresh() recomputes: those in car.refresh_queue, and the days of the factor years in car.refresh_year (priced with that year''s set, or with an older one although their reporting year is that year or later). Read as car.emission_daily''s owner and shown where car.site_visible_on says the session may see the meter''s site, or a site its rows of the day are under, on that day. No rows when a full refresh is due (car.refresh_pending_full) and on a hub. Each (meter, day) once, in no particular order.';
CREATE FUNCTION car.emission_pending(month date DEFAULT NULL) RETURNS SETOF car.emission_daily
    LANGUAGE c STABLE PARALLEL UNSAFE ROWS 300 AS 'MODULE_PATHNAME', 'car_emission_pending';
COMMENT ON FUNCTION car.emission_pending(date) IS 'The rows the next car.refresh() would write to car.emission_daily for the meter-days it recomputes (car.refresh_pending; every day of car.reading when car.refresh_pending_full), of the calendar month month (its first day; NULL: every month), computed now by the refresh''s own pricing statement (published or custom factors, tiers, the grid-average market-based figures) without writing anything: kWh or the meter''s unit, kg CO2e, per meter, UK day and component. The market-based columns of the rows car.market_allocation prices (a residual mix or an instrument of the day''s owner covers the day) are NULL until the refresh allocates them; days it could not price give no rows. Only the rows car.site_visible_on(site_id, day) lets the session see, as the policy of car.emission_daily. Raises object_not_in_prerequisite_state on car 1.0''s tables. PARALLEL UNSAFE: it prices through car.can_price, which traps pricing errors in subtransactions, and a parallel query allows none, so queries reading it (every report, through car.emission_current) run without parallel workers.';

CREATE VIEW car.emission_current WITH (security_invoker = true) AS
SELECT        e.site_id, e.meter_id, e.day, e.month, e.activity, e.scope, e.component, e.quantity, e.unit,
       e.kg_co2e, e.kg_co2, e.kg_ch4, e.kg_n2o, e.factor_set_id, e.factor_year, e.factor_id,
       e.quantity_estimated, e.periods_actual, e.periods_estimated, e.file_ids, e.factor_tier,
       e.custom_factor_set_id, e.custom_factor_id, e.kg_co2e_market, e.kg_co2e_market_half_hourly,
       e.market_basis, e.market_flagged,
       false AS real_time
FROM car.emission_daily e
WHERE NOT car.refresh_pending_full()
  AND NOT EXISTS (SELECT 1 FROM car.refresh_pending() q WHERE q.meter_id = e.meter_id AND q.day = e.day)
UNION ALL
-- month by month, so that a query of some months (WHERE month = ...)
-- prices only their pending days: its filter reaches m.month
SELECT        p.site_id, p.meter_id, p.day, m.month, p.activity, p.scope, p.component, p.quantity, p.unit,
       p.kg_co2e, p.kg_co2, p.kg_ch4, p.kg_n2o, p.factor_set_id, p.factor_year, p.factor_id,
       p.quantity_estimated, p.periods_actual, p.periods_estimated, p.file_ids, p.factor_tier,
       p.custom_factor_set_id, p.custom_factor_id, p.kg_co2e_market, p.kg_co2e_market_half_hourly,
       p.market_basis, p.market_flagged,
       true AS real_time
FROM (SELECT DISTINCT date_trunc('month', q.day::timestamp)::date AS month FROM car.refresh_pending() q) m
CROSS JOIN LATERAL car.emission_pending(m.month) p
UNION ALL
-- a full refresh due: every day, priced at once
SELECT        p.site_id, p.meter_id, p.day, p.month, p.activity, p.scope, p.component, p.quantity, p.unit,
       p.kg_co2e, p.kg_co2, p.kg_ch4, p.kg_n2o, p.factor_set_id, p.factor_year, p.factor_id,
       p.quantity_estimated, p.periods_actual, p.periods_estimated, p.file_ids, p.factor_tier,
       p.custom_factor_set_id, p.custom_factor_id, p.kg_co2e_market, p.kg_co2e_market_half_hourly,
       p.market_basis, p.market_flagged,
       true AS real_time
FROM car.emission_pending(NULL) p
WHERE car.refresh_pending_full();
COMMENT ON VIEW car.emission_current IS 'Internal: car.emission_daily as car.refresh() would leave it if it ran now: its rows, except those of the meter-days the next refresh recomputes (car.refresh_pending, or all of them: car.refresh_pending_full), plus those days priced on the fly (car.emission_pending, real_time), month by month: a query filtering on month prices only the pending days of its months. Columns as car.emission_daily''s; row-level security as car.emission_daily''s on both parts. What every report reads, through car.emission_live: a committed push shows in the reports at once.';
-- its other columns are car.emission_daily's: their comments too
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT a.attname, pg_catalog.col_description('car.emission_daily'::pg_catalog.regclass, a.attnum) AS d
             FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = 'car.emission_daily'::pg_catalog.regclass AND a.attnum OPERATOR(pg_catalog.>) 0
               AND NOT a.attisdropped ORDER BY a.attnum LOOP
        EXECUTE pg_catalog.format('COMMENT ON COLUMN car.emission_current.%I IS %L', c.attname,
            'car.emission_daily.' OPERATOR(pg_catalog.||) c.attname
            OPERATOR(pg_catalog.||) ' (on a real-time row, as car.refresh() would write it): ' OPERATOR(pg_catalog.||) c.d);
    END LOOP;
END $$;
COMMENT ON COLUMN car.emission_current.real_time IS 'true on a row computed on the fly from car.reading (its meter-day waits for car.refresh()); its market-based columns are NULL where car.market_allocation prices the day (instruments, residual mix) until the refresh allocates it. false on a row of car.emission_daily.';

-- The reports' rows, real-time.
CREATE OR REPLACE VIEW car.emission_live WITH (security_invoker = true) AS
SELECT o.org, e.site_id, e.meter_id, e.day, e.month, e.activity, e.scope, e.component, e.unit,
       e.quantity, e.quantity_estimated, e.periods_actual, e.periods_estimated,
       e.kg_co2e, e.kg_co2, e.kg_ch4, e.kg_n2o, e.factor_set_id, e.factor_year, e.factor_id, e.file_ids,
       car.fy_co2e(e.kg_co2e, e.factor_set_id, e.quantity, e.unit, e.activity, e.component, car.financial_year(e.day)) AS fy_kg_co2e,
       car.fy_factor_set(car.financial_year(e.day)) AS fy_factor_set_id,
       car.fy_factor_year(car.financial_year(e.day)) AS fy_factor_year,
       e.kg_co2e_market, e.kg_co2e_market_half_hourly, e.market_basis, e.market_flagged, e.real_time
FROM car.emission_current e
LEFT JOIN car.site_ownership_shown o ON o.site_id = e.site_id AND e.day >= o.valid_from AND e.day <= o.valid_to
WHERE o.shown IS NOT FALSE;
COMMENT ON VIEW car.emission_live IS 'Internal: the rows of car.emission_current (car.emission_daily, with the meter-days car.refresh() has not recomputed yet priced on the fly) with the organisation owning the site that day and the kg CO2e under the financial year''s factors, before any period close. The days a site had another owner than today''s show only to sessions that may see that organisation (car.site_ownership_shown).';
COMMENT ON COLUMN car.emission_live.real_time IS 'true on a row priced on the fly (car.emission_current.real_time): its meter-day waits for car.refresh().';

CREATE OR REPLACE VIEW car.emission_reported WITH (security_invoker = true) AS
SELECT r.org, r.site_id, r.meter_id, r.day, r.month, r.activity, r.scope, r.component, r.unit,
       r.quantity, r.quantity_estimated, r.periods_actual, r.periods_estimated,
       r.kg_co2e, r.kg_co2, r.kg_ch4, r.kg_n2o, r.factor_set_id, r.factor_year, r.factor_id, r.file_ids,
       r.fy_kg_co2e, r.fy_factor_set_id, r.fy_factor_year, r.close_id,
       r.component = coalesce(p.kind, r.activity) AS primary_row,
       CASE WHEN r.quantity <> 0 THEN r.kg_co2e * r.quantity_estimated / r.quantity ELSE 0 END AS kg_co2e_estimated,
       CASE WHEN r.quantity <> 0 THEN r.fy_kg_co2e * r.quantity_estimated / r.quantity ELSE 0 END AS fy_kg_co2e_estimated,
       r.kg_co2e_market, r.kg_co2e_market_half_hourly, r.market_basis, r.market_flagged, r.real_time
FROM (
    SELECT l.org, l.site_id, l.meter_id, l.day, l.month, l.activity, l.scope, l.component, l.unit,
           l.quantity, l.quantity_estimated, l.periods_actual, l.periods_estimated,
           l.kg_co2e, l.kg_co2, l.kg_ch4, l.kg_n2o, l.factor_set_id, l.factor_year, l.factor_id, l.file_ids,
           l.fy_kg_co2e, l.fy_factor_set_id, l.fy_factor_year, NULL::int AS close_id,
           l.kg_co2e_market, l.kg_co2e_market_half_hourly, l.market_basis, l.market_flagged, l.real_time
    FROM car.emission_live l
    WHERE NOT EXISTS (SELECT 1 FROM car.closed_months() c WHERE c.org = l.org AND c.month = l.month)
    UNION ALL
    SELECT c.org, c.site_id, c.meter_id, c.day, c.month, c.activity, c.scope, c.component, c.unit,
           c.quantity, c.quantity_estimated, c.periods_actual, c.periods_estimated,
           c.kg_co2e, c.kg_co2, c.kg_ch4, c.kg_n2o, c.factor_set_id, c.factor_year, c.factor_id, c.file_ids,
           c.fy_kg_co2e, c.fy_factor_set_id, c.fy_factor_year, c.close_id,
           c.kg_co2e_market, c.kg_co2e_market_half_hourly, c.market_basis, c.market_flagged, false
    FROM car.closed_emission c
    WHERE c.close_id IN (SELECT m.close_id FROM car.closed_months() m)) r
LEFT JOIN car.activity_primary_component p ON p.activity = r.activity;
COMMENT ON VIEW car.emission_reported IS 'Internal: the emission rows the reports add up: car.emission_live''s (car.emission_daily, the meter-days car.refresh() has not recomputed yet priced on the fly), except for organisation-months signed by car.close_period, which come from car.closed_emission (close_id says which close). With whether the row carries the meter''s own use (primary_row: quantities are counted once) and the kg CO2e of its estimated part.';
COMMENT ON COLUMN car.emission_reported.real_time IS 'true on a row priced on the fly (car.emission_current.real_time); false on car.emission_daily''s rows and on signed rows of closed months.';
COMMENT ON COLUMN car.report_scope2.market_based_kg_co2e IS 'Market-based Scope 2 by annual matching (the Protocol''s practice today), kg CO2e. NULL until car.refresh() has allocated the month; meter-days waiting for the refresh on a day an instrument or residual mix covers add nothing until it allocates them (meter_days_unallocated counts them).';
COMMENT ON COLUMN car.report_scope2.meter_days_unallocated IS 'Scope 2 meter-days without a market-based figure: priced before car 1.1 allocated any (car.refresh(true) allocates them), or priced on the fly since the last car.refresh() on a day car.market_allocation prices (an instrument or a residual mix of the owner covers it), until the next car.refresh().';

-- A hub refuses car.refresh(): car.schedule() there schedules no car-refresh
-- (src/schedule.c).
COMMENT ON FUNCTION car.schedule(text, text) IS 'For superusers: register car''s pg_cron jobs for this database, run as car.worker_role: car-refresh (SELECT car.refresh(), on refresh_cron) and car-maintenance (SELECT car.maintenance(), on maintenance_cron), in pg_cron''s database (cron.database_name) if that is another one, with car-purge-history there. On a hub (car.node_role = hub), which refuses car.refresh(), car-maintenance only: a car-refresh of this database made before is removed, and a NOTICE says so (schedule car-refresh on the shards). Returns one row per job now scheduled: its name, pg_cron job id, schedule and database. Errors: not a superuser (42501); pg_cron not loaded (0A000), its database missing (3D000) or the extension not installed there (42704); a caller without LOGIN when pg_cron is in another database (42501); car.worker_role missing (42704) or a superuser, BYPASSRLS or unable to log in (22023); the worker role already holding car''s jobs for another database (42710).';

-- Compact storage of closed months (issue 17, point 1; src/compact.c,
-- src/compact_scan.c).  car.reading stays a table: a compacted month's
-- partition holds no rows of its own, its readings are kept one row per
-- meter and UK local day in car.reading_day, and a custom scan reads them
-- back through car.reading.  No role is granted car.reading_day: its rows
-- are readings, which only car.reading (under row-level security) shows.
CREATE TABLE car.reading_day (
    month      date NOT NULL,
    meter_id   int NOT NULL,
    day        date NOT NULL,
    file_id    int,
    ts_first   timestamptz NOT NULL,
    step_us    bigint,
    offsets_us bigint[],
    quantity   float8[] NOT NULL,
    file_ids   int[],
    quality    text[],
    method     text[],
    PRIMARY KEY (meter_id, day, month),
    CONSTRAINT reading_day_grid CHECK ((step_us IS NULL) <> (offsets_us IS NULL))
) PARTITION BY RANGE (month);
COMMENT ON TABLE car.reading_day IS 'The readings of compacted months (car.compact): one row per meter, UK local day and month partition of car.reading, the day''s readings in arrays ordered by ts. car.reading shows them as rows; read them there. Partitioned by month (car.reading_day_pYYYYMM, made by car.compact).';
COMMENT ON COLUMN car.reading_day.month IS 'First day of the UTC month whose partition of car.reading (car.reading_pYYYYMM) the readings belong to. A UK day of British Summer Time starts at 23:00 UTC the day before, so a day at a month''s edge has a row in each month.';
COMMENT ON COLUMN car.reading_day.meter_id IS 'The meter (car.meter.id).';
COMMENT ON COLUMN car.reading_day.day IS 'The UK local day (Europe/London) the readings start in.';
COMMENT ON COLUMN car.reading_day.file_id IS 'The car.source_file every reading of the row came from, when one file made them all; NULL when they came from several (see file_ids) or from none.';
COMMENT ON COLUMN car.reading_day.ts_first IS 'Start of the first reading''s period (UTC instant).';
COMMENT ON COLUMN car.reading_day.step_us IS 'Readings on a regular grid: reading k (from 0) starts at ts_first + k * step_us microseconds. NULL when the grid is irregular (see offsets_us).';
COMMENT ON COLUMN car.reading_day.offsets_us IS 'Irregular readings: each one''s start minus ts_first, in microseconds. NULL on a regular grid.';
COMMENT ON COLUMN car.reading_day.quantity IS 'The readings'' quantities in the meter''s unit, bit for bit as car.reading held them, in ts order.';
COMMENT ON COLUMN car.reading_day.file_ids IS 'Per reading, its car.source_file (NULL elements for readings of no file), when the readings came from more than one; else NULL.';
COMMENT ON COLUMN car.reading_day.quality IS 'Per reading, actual or estimated, when some reading is estimated; NULL when every reading is actual.';
COMMENT ON COLUMN car.reading_day.method IS 'Per reading, the estimation method (NULL elements for actual readings), when some reading has one; else NULL.';
COMMENT ON CONSTRAINT reading_day_grid ON car.reading_day IS 'A row''s times are either a regular grid (step_us) or offsets (offsets_us), never both or neither.';

CREATE TABLE car.compacted_month (
    month        date PRIMARY KEY CHECK (pg_catalog.date_trunc('month', month) = month),
    readings     bigint NOT NULL,
    meter_days   int NOT NULL,
    compacted_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE car.compacted_month IS 'The months of car.reading stored compactly (car.compact): their partition car.reading_pYYYYMM holds only readings written since, and car.reading_day_pYYYYMM the rest. car.uncompact removes the month.';
COMMENT ON COLUMN car.compacted_month.month IS 'First day of the UTC month (the partition car.reading_pYYYYMM).';
COMMENT ON COLUMN car.compacted_month.readings IS 'Readings held compactly when the month was last compacted.';
COMMENT ON COLUMN car.compacted_month.meter_days IS 'Rows of car.reading_day for the month (meter and UK day) when it was last compacted.';
COMMENT ON COLUMN car.compacted_month.compacted_at IS 'When car.compact last packed the month.';
SELECT pg_catalog.pg_extension_config_dump('car.compacted_month', '');

CREATE FUNCTION car.compact(month date) RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_compact';
COMMENT ON FUNCTION car.compact(date) IS 'Store a closed month of car.reading compactly: its readings move, unchanged to the bit, into car.reading_day (one row per meter and UK day) and are read back through car.reading as before; readings that arrived since the last compaction are packed in with their day. No refresh work is queued (no reading changes). month is the first of a UTC month before the current one; readings for it must not be waiting in car.reading_default. Writers of the month wait meanwhile; readers do not. Returns the readings the month holds compactly. Errors: not the first of a month or not a closed month (22023), no partition for it (42P01), readings of it in car.reading_default or car not in shared_preload_libraries (55000). car.maintenance() runs it for months older than car.compact_after.';

CREATE FUNCTION car.uncompact(month date) RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_uncompact';
COMMENT ON FUNCTION car.uncompact(date) IS 'Undo car.compact for a month: its readings go back to rows of car.reading_pYYYYMM, unchanged to the bit, so that they can be updated or deleted (which a compacted month refuses). Returns the readings moved back (0 when the month was not compacted). Errors as car.compact.';

COMMENT ON FUNCTION car.maintenance() IS 'Periodic upkeep (run by pg_cron as car.worker_role): premake car.premake_months of partitions, move rows out of default partitions, drop raw file bytes older than car.keep_raw, purge car''s pg_cron job history older than car.job_history_keep and the change feed older than car.keep_changes, compact (car.compact) every month of car.reading older than car.compact_after months that holds rows of its own, truncate the partitions compaction emptied and drop the compact partitions of uncompacted months once no snapshot can see their rows. Returns what it did, as one jsonb object of counts: partitions_created (monthly partitions of car.reading and car.emission_daily made, ahead of now or for rows found in a default partition), months_compacted (months compacted or packed again with readings that arrived since), compacted_partitions_emptied (partitions car.reading_pYYYYMM of compacted months truncated: their deleted rows'' pages and index entries freed), compact_partitions_dropped (partitions car.reading_day_pYYYYMM of uncompacted months dropped), rows_moved (rows moved out of the default partitions of car.reading and car.emission_daily into their months), rows_outside_accepted_range (rows left in those default partitions outside car.accept_from .. now() + car.accept_ahead), raw_files_dropped (landed files whose raw bytes were dropped), job_runs_purged (rows of cron.job_run_details deleted), changes_purged (rows of car.change deleted). Errors: a caller without EXECUTE (42501).';

CREATE FUNCTION car.compacted_insert() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'car_compacted_insert';
COMMENT ON FUNCTION car.compacted_insert() IS 'Trigger on a compacted month''s partition of car.reading (BEFORE INSERT FOR EACH ROW, made by car.compact): moves the new reading''s meter-day back to rows first, so that a late file or an INSERT is checked against the stored readings (primary key, ON CONFLICT) as without compaction; the next car.compact packs the day again.';

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
