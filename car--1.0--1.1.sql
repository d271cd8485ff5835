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
