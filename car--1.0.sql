-- car: Carbon Analyser & Reporter
\echo Use "CREATE EXTENSION car CASCADE" to load this file. \quit

COMMENT ON SCHEMA car IS 'car: UK GHG conversion factors, energy readings and emissions reporting';

-------------------------------------------------------------------------------
-- Units of measure
-------------------------------------------------------------------------------
CREATE TABLE car.unit (
    name        text PRIMARY KEY,
    dimension   text NOT NULL CHECK (dimension <> ''),
    to_base     float8 NOT NULL CHECK (to_base > 0 AND to_base < 'Infinity'),
    aliases     text[] NOT NULL DEFAULT '{}',
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE car.unit IS 'Units of measure car can convert between; spellings are matched case-insensitively, by name or alias.';
COMMENT ON COLUMN car.unit.name IS 'Canonical spelling of the unit (as in the factor files where they use it).';
COMMENT ON COLUMN car.unit.dimension IS 'What the unit measures: energy, volume, mass, distance... Only units of one dimension convert into each other.';
COMMENT ON COLUMN car.unit.to_base IS 'Multiply a quantity in this unit by to_base to get it in the dimension''s base unit (kWh, m3, kg, km).';
COMMENT ON COLUMN car.unit.aliases IS 'Other spellings of the unit, e.g. "cubic metres" for m3.';
COMMENT ON COLUMN car.unit.builtin IS 'Row shipped with car (not dumped by pg_dump; recreated by CREATE EXTENSION).';

INSERT INTO car.unit (name, dimension, to_base, aliases, builtin) VALUES
    ('kWh',   'energy', 1,                 '{kilowatt hour,kilowatt hours,kilowatt-hour,kilowatt-hours}', true),
    ('Wh',    'energy', 0.001,             '{watt hour,watt hours}', true),
    ('MWh',   'energy', 1000,              '{megawatt hour,megawatt hours}', true),
    ('GWh',   'energy', 1000000,           '{gigawatt hour,gigawatt hours}', true),
    ('MJ',    'energy', 1 / 3.6,           '{megajoule,megajoules}', true),
    ('GJ',    'energy', 1000 / 3.6,        '{gigajoule,gigajoules}', true),
    -- 1 Btu (International Table) = 1055.05585262 J; the UK therm is 100,000 Btu.
    ('therm', 'energy', 105505585.262 / 3600000, '{therms,thm}', true),
    ('kBtu',  'energy', 1055055.85262 / 3600000, '{thousand btu}', true),
    ('mmBtu', 'energy', 1055055852.62 / 3600000, '{MMBtu,million btu}', true),
    ('m3',    'volume', 1,                 '{cubic metres,cubic metre,cubic meters,cubic meter,m^3,cu m}', true),
    ('litres','volume', 0.001,             '{litre,liters,liter,l}', true),
    ('million litres', 'volume', 1000,     '{megalitres,megalitre,megaliters}', true),
    ('kg',    'mass',   1,                 '{kilogram,kilograms,kgs}', true),
    ('tonnes','mass',   1000,              '{tonne,t,metric tonnes,metric tons}', true),
    ('km',    'distance', 1,               '{kilometre,kilometres,kilometer,kilometers}', true),
    ('miles', 'distance', 1.609344,        '{mile,mi}', true);

-------------------------------------------------------------------------------
-- Official factor sets
-------------------------------------------------------------------------------
CREATE TABLE car.factor_set (
    id            serial PRIMARY KEY,
    publisher     text NOT NULL,
    year          int NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    revision      int NOT NULL CHECK (revision >= 1),
    title         text,
    source_uri    text,
    sha256        text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    row_count     int NOT NULL,
    rows_skipped  int NOT NULL DEFAULT 0,
    file_name     text,
    sheet         text,
    header_line   int,
    superseded_by int REFERENCES car.factor_set (id) ON DELETE SET NULL,
    UNIQUE (year, revision)
);
COMMENT ON TABLE car.factor_set IS 'One row per loaded official conversion-factor file; the same bytes load once. The current set of a year is the one not superseded.';
COMMENT ON COLUMN car.factor_set.publisher IS 'BEIS (to 2022) or DESNZ (2023 on).';
COMMENT ON COLUMN car.factor_set.year IS 'Factor year, read from the file''s "GHG Conversion Factor YYYY" column.';
COMMENT ON COLUMN car.factor_set.revision IS '1 for the first file loaded for the year, then 2, 3... for revisions.';
COMMENT ON COLUMN car.factor_set.sha256 IS 'SHA-256 of the file''s bytes.';
COMMENT ON COLUMN car.factor_set.row_count IS 'Factor rows loaded (rows with a numeric factor).';
COMMENT ON COLUMN car.factor_set.rows_skipped IS 'Rows after the header without a numeric factor (blank, END, text): counted, not loaded.';
COMMENT ON COLUMN car.factor_set.superseded_by IS 'The later set for the same year that replaced this one; NULL for the current set. Deleting a revision makes the set it replaced current again.';

CREATE TABLE car.factor (
    id          bigserial PRIMARY KEY,
    set_id      int NOT NULL REFERENCES car.factor_set (id) ON DELETE CASCADE,
    line        int NOT NULL,
    external_id text,
    scope       text,
    level1      text,
    level2      text,
    level3      text,
    level4      text,
    column_text text,
    uom_simple  text,
    uom         text,
    ghg_unit    text,
    lookup      text,
    gas         text CHECK (gas IN ('CO2e', 'CO2', 'CH4', 'N2O')),
    value       numeric NOT NULL
);
CREATE INDEX factor_path_idx ON car.factor (set_id, level1, level2, level3, level4);
COMMENT ON TABLE car.factor IS 'Every factor row of every loaded file, text verbatim and value exactly as published.';
COMMENT ON COLUMN car.factor.line IS 'Line (CSV) or row (xlsx) of the file the factor came from.';
COMMENT ON COLUMN car.factor.external_id IS 'The file''s own ID column (2023 on).';
COMMENT ON COLUMN car.factor.ghg_unit IS 'The GHG (to 2021) or GHG/Unit (2022 on) cell, verbatim.';
COMMENT ON COLUMN car.factor.gas IS 'CO2e, CO2, CH4 or N2O, derived from ghg_unit; NULL for rows that are not emission factors (e.g. kWh (Net CV) conversions). Per-gas values are already CO2e-weighted.';
COMMENT ON COLUMN car.factor.value IS 'The factor as published: kg of the gas (as CO2e) per unit of uom.';

-------------------------------------------------------------------------------
-- Activities: friendly keys mapped onto factor paths
-------------------------------------------------------------------------------
CREATE TABLE car.activity (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    level1      text NOT NULL,
    level2      text,
    level3      text,
    level4      text,
    column_text text,
    uom_basis   text CHECK (uom_basis IN ('Gross CV', 'Net CV')),
    scope       int CHECK (scope BETWEEN 1 AND 3),
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE car.activity IS 'Friendly activity keys and the factor path each maps onto. Path columns are case-insensitive LIKE patterns (% for any text); NULL matches anything. The paths hold across the 2019+ flat files.';
COMMENT ON COLUMN car.activity.uom_basis IS 'For fuels: which calorific-value basis a kWh quantity is on (meters and bills report Gross CV).';
COMMENT ON COLUMN car.activity.scope IS 'GHG Protocol scope of the activity''s own emissions.';

CREATE TABLE car.activity_component (
    activity    text NOT NULL REFERENCES car.activity (key) ON UPDATE CASCADE ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    component   text NOT NULL REFERENCES car.activity (key) ON UPDATE CASCADE,
    position    int NOT NULL DEFAULT 0,
    builtin     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (activity, kind)
);
COMMENT ON TABLE car.activity_component IS 'What an activity drags along: electricity brings T&D losses and well-to-tank rows; fuels their well-to-tank row. car.emissions returns one row per component.';
COMMENT ON COLUMN car.activity_component.kind IS 'Component name as car.emissions reports it (generation, td, wtt_generation, wtt_td, combustion, wtt, supply, treatment).';
COMMENT ON COLUMN car.activity_component.component IS 'The activity whose factor gives this component.';

INSERT INTO car.activity (key, level1, level2, level3, level4, column_text, uom_basis, scope, description, builtin) VALUES
    ('electricity', 'UK electricity', 'Electricity generated', 'Electricity: UK', NULL, NULL, NULL, 2,
        'UK grid electricity consumed (location-based generation factor)', true),
    ('electricity_td', 'Transmission and distribution', 'T&D- UK electricity', 'Electricity: UK', NULL, NULL, NULL, 3,
        'Transmission and distribution losses of UK grid electricity', true),
    ('electricity_wtt_generation', 'WTT- UK%', 'WTT- UK electricity (generation)', 'Electricity: UK', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of generating UK grid electricity', true),
    ('electricity_wtt_td', 'WTT- UK%', 'WTT- UK electricity (T&D)', 'Electricity: UK', NULL, NULL, NULL, 3,
        'Well-to-tank emissions of UK grid electricity lost in T&D', true),
    ('natural_gas', 'Fuels', 'Gaseous fuels', 'Natural gas', NULL, NULL, 'Gross CV', 1,
        'Natural gas burnt (kWh on a gross calorific value basis, as billed)', true),
    ('natural_gas_net_cv', 'Fuels', 'Gaseous fuels', 'Natural gas', NULL, NULL, 'Net CV', 1,
        'Natural gas burnt (kWh on a net calorific value basis)', true),
    ('natural_gas_wtt', 'WTT- fuels', '%gaseous fuels', 'Natural gas', NULL, NULL, 'Gross CV', 3,
        'Well-to-tank emissions of natural gas (gross CV)', true),
    ('natural_gas_net_cv_wtt', 'WTT- fuels', '%gaseous fuels', 'Natural gas', NULL, NULL, 'Net CV', 3,
        'Well-to-tank emissions of natural gas (net CV)', true),
    ('lpg', 'Fuels', 'Gaseous fuels', 'LPG', NULL, NULL, 'Gross CV', 1, 'LPG burnt', true),
    ('lpg_wtt', 'WTT- fuels', '%gaseous fuels', 'LPG', NULL, NULL, 'Gross CV', 3, 'Well-to-tank emissions of LPG', true),
    ('diesel', 'Fuels', 'Liquid fuels', 'Diesel (average biofuel blend)', NULL, NULL, 'Gross CV', 1,
        'Diesel, average biofuel blend, burnt', true),
    ('diesel_wtt', 'WTT- fuels', '%liquid fuels', 'Diesel (average biofuel blend)', NULL, NULL, 'Gross CV', 3,
        'Well-to-tank emissions of diesel (average biofuel blend)', true),
    ('petrol', 'Fuels', 'Liquid fuels', 'Petrol (average biofuel blend)', NULL, NULL, 'Gross CV', 1,
        'Petrol, average biofuel blend, burnt', true),
    ('petrol_wtt', 'WTT- fuels', '%liquid fuels', 'Petrol (average biofuel blend)', NULL, NULL, 'Gross CV', 3,
        'Well-to-tank emissions of petrol (average biofuel blend)', true),
    ('gas_oil', 'Fuels', 'Liquid fuels', 'Gas oil', NULL, NULL, 'Gross CV', 1, 'Gas oil (red diesel) burnt', true),
    ('gas_oil_wtt', 'WTT- fuels', '%liquid fuels', 'Gas oil', NULL, NULL, 'Gross CV', 3, 'Well-to-tank emissions of gas oil', true),
    ('burning_oil', 'Fuels', 'Liquid fuels', 'Burning oil', NULL, NULL, 'Gross CV', 1, 'Burning oil (kerosene heating oil) burnt', true),
    ('burning_oil_wtt', 'WTT- fuels', '%liquid fuels', 'Burning oil', NULL, NULL, 'Gross CV', 3, 'Well-to-tank emissions of burning oil', true),
    ('coal_industrial', 'Fuels', 'Solid fuels', 'Coal (industrial)', NULL, NULL, 'Gross CV', 1, 'Industrial coal burnt', true),
    ('coal_industrial_wtt', 'WTT- fuels', '%solid fuels', 'Coal (industrial)', NULL, NULL, 'Gross CV', 3, 'Well-to-tank emissions of industrial coal', true),
    ('water_supply', 'Water supply', 'Water supply', 'Water supply', NULL, NULL, NULL, 3, 'Mains water supplied', true),
    ('water_treatment', 'Water treatment', 'Water treatment', 'Water treatment', NULL, NULL, NULL, 3, 'Waste water treated', true);

INSERT INTO car.activity_component (activity, kind, component, position, builtin) VALUES
    ('electricity', 'generation', 'electricity', 1, true),
    ('electricity', 'td', 'electricity_td', 2, true),
    ('electricity', 'wtt_generation', 'electricity_wtt_generation', 3, true),
    ('electricity', 'wtt_td', 'electricity_wtt_td', 4, true),
    ('natural_gas', 'combustion', 'natural_gas', 1, true),
    ('natural_gas', 'wtt', 'natural_gas_wtt', 2, true),
    ('natural_gas_net_cv', 'combustion', 'natural_gas_net_cv', 1, true),
    ('natural_gas_net_cv', 'wtt', 'natural_gas_net_cv_wtt', 2, true),
    ('lpg', 'combustion', 'lpg', 1, true),
    ('lpg', 'wtt', 'lpg_wtt', 2, true),
    ('diesel', 'combustion', 'diesel', 1, true),
    ('diesel', 'wtt', 'diesel_wtt', 2, true),
    ('petrol', 'combustion', 'petrol', 1, true),
    ('petrol', 'wtt', 'petrol_wtt', 2, true),
    ('gas_oil', 'combustion', 'gas_oil', 1, true),
    ('gas_oil', 'wtt', 'gas_oil_wtt', 2, true),
    ('burning_oil', 'combustion', 'burning_oil', 1, true),
    ('burning_oil', 'wtt', 'burning_oil_wtt', 2, true),
    ('coal_industrial', 'combustion', 'coal_industrial', 1, true),
    ('coal_industrial', 'wtt', 'coal_industrial_wtt', 2, true),
    ('water_supply', 'supply', 'water_supply', 1, true),
    ('water_treatment', 'treatment', 'water_treatment', 1, true);

-- pg_dump keeps what users loaded or added; built-in rows come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('car.unit', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('car.activity', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('car.activity_component', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('car.factor_set', '');
SELECT pg_catalog.pg_extension_config_dump('car.factor_set_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.factor', '');
SELECT pg_catalog.pg_extension_config_dump('car.factor_id_seq', '');

-------------------------------------------------------------------------------
-- Cache invalidation: every backend caches the catalogues above
-------------------------------------------------------------------------------
CREATE FUNCTION car.invalidate_factor_cache() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'car_invalidate_factor_cache';
COMMENT ON FUNCTION car.invalidate_factor_cache() IS 'Trigger: tells every backend to drop its cached units, activities and factors.';

CREATE TRIGGER unit_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.unit
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER activity_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.activity
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER activity_component_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.activity_component
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER factor_set_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.factor_set
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();
CREATE TRIGGER factor_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.factor
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();

-------------------------------------------------------------------------------
-- Loading factors
-------------------------------------------------------------------------------
CREATE FUNCTION car.load_factors(path_or_uri text, year int DEFAULT NULL) RETURNS car.factor_set
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_load_factors_path';
COMMENT ON FUNCTION car.load_factors(text, int) IS 'Load a DESNZ/BEIS flat file (.xlsx or .csv, any locale) from a server path. Needs superuser or pg_read_server_files. Same bytes twice return the existing set.';

CREATE FUNCTION car.load_factors(content bytea, name text, year int DEFAULT NULL) RETURNS car.factor_set
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_load_factors_bytes';
COMMENT ON FUNCTION car.load_factors(bytea, text, int) IS 'Load a DESNZ/BEIS flat file from its bytes (e.g. sent by a client); name is kept as its source.';

CREATE FUNCTION car.load_factors(year int) RETURNS car.factor_set
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_load_factors_year';
COMMENT ON FUNCTION car.load_factors(int) IS 'Load the official flat file for that year bundled with car (2021-2024).';

-------------------------------------------------------------------------------
-- Calculator
-------------------------------------------------------------------------------
CREATE FUNCTION car.convert(value float8, from_unit text, to_unit text) RETURNS float8
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'car_convert';
COMMENT ON FUNCTION car.convert(float8, text, text) IS 'Convert a quantity between units of car.unit; units of different dimensions are an error.';

CREATE FUNCTION car.factor_year(at timestamptz) RETURNS int
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'car_factor_year';
COMMENT ON FUNCTION car.factor_year(timestamptz) IS 'The factor year that applies at a time under car.reporting_year_start (before any fallback to an earlier set).';

CREATE FUNCTION car.co2e(quantity float8, unit text, activity text, at timestamptz) RETURNS float8
    LANGUAGE c STABLE STRICT PARALLEL SAFE COST 5 AS 'MODULE_PATHNAME', 'car_co2e';
COMMENT ON FUNCTION car.co2e(float8, text, text, timestamptz) IS 'kg CO2e of a quantity of an activity at a time, from the activity''s own factor row only (e.g. Scope 2 generation for electricity).';

CREATE FUNCTION car.emissions(quantity float8, unit text, activity text, at timestamptz,
    OUT component text, OUT scope int, OUT kg_co2e float8, OUT kg_co2 float8, OUT kg_ch4 float8,
    OUT kg_n2o float8, OUT factor_id bigint, OUT factor_set_id int, OUT factor_year int,
    OUT factor_value numeric, OUT factor_uom text) RETURNS SETOF record
    LANGUAGE c STABLE STRICT PARALLEL SAFE ROWS 4 AS 'MODULE_PATHNAME', 'car_emissions';
COMMENT ON FUNCTION car.emissions(float8, text, text, timestamptz) IS 'Emissions of a quantity, one row per component (generation, T&D, WTT...), with the per-gas split and the published factor row behind each number.';

-------------------------------------------------------------------------------
-- Sites, meters and readings
-------------------------------------------------------------------------------
CREATE TABLE car.site (
    id            serial PRIMARY KEY,
    name          text NOT NULL CHECK (name <> ''),
    org           text,
    region        text,
    floor_area_m2 numeric CHECK (floor_area_m2 > 0),
    postcode      text,
    UNIQUE NULLS NOT DISTINCT (org, name)
);
COMMENT ON TABLE car.site IS 'A building or place whose energy use is reported. Created from meter files (by name, within the source''s org) or by hand.';
COMMENT ON COLUMN car.site.org IS 'Organisation owning the site; access is granted per org.';
COMMENT ON COLUMN car.site.floor_area_m2 IS 'Gross internal floor area, for kg CO2e per m2 reporting.';

CREATE TABLE car.meter (
    id           serial PRIMARY KEY,
    site_id      int NOT NULL REFERENCES car.site (id),
    name         text NOT NULL CHECK (name <> ''),
    activity     text NOT NULL REFERENCES car.activity (key) ON UPDATE CASCADE,
    unit         text NOT NULL,
    external_ref text,
    UNIQUE (site_id, name)
);
COMMENT ON TABLE car.meter IS 'A meter at a site: what it measures (activity) and in which unit its readings are.';
COMMENT ON COLUMN car.meter.activity IS 'Key of car.activity whose factors apply (inferred from the file when created by ingestion).';
COMMENT ON COLUMN car.meter.unit IS 'Unit of the meter''s readings (a car.unit spelling).';
COMMENT ON COLUMN car.meter.external_ref IS 'Supplier reference such as an MPAN or MPR.';

-- Readings are range-partitioned by month.  car.ensure_partitions() makes the
-- monthly partitions (named reading_pYYYYMM); the default partition catches
-- anything else until car.maintenance() moves it into its month.  There is no
-- foreign key to car.meter: bulk loads would pay a trigger per row; ingestion
-- only writes readings for meters it has made or found.
CREATE TABLE car.reading (
    meter_id int NOT NULL,
    ts       timestamptz NOT NULL,
    quantity float8 NOT NULL,
    file_id  int,
    PRIMARY KEY (meter_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE car.reading_default PARTITION OF car.reading DEFAULT;
COMMENT ON TABLE car.reading IS 'Meter readings: the quantity used in the period starting at ts (in the meter''s unit). Partitioned by month.';
COMMENT ON COLUMN car.reading.ts IS 'Start of the period the quantity covers (UTC instant).';
COMMENT ON COLUMN car.reading.file_id IS 'car.source_file that supplied (or last superseded) this value.';

-------------------------------------------------------------------------------
-- Sources, landed files, quarantine
-------------------------------------------------------------------------------
CREATE TABLE car.source (
    id                   serial PRIMARY KEY,
    name                 text NOT NULL UNIQUE CHECK (name <> ''),
    uri                  text,
    kind                 text NOT NULL DEFAULT 'file' CHECK (kind IN ('file', 'index', 'template', 'push')),
    format               text CHECK (format IN ('ecodriver', 'halfhourly', 'long', 'desnz-factors')),
    options              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    poll_interval        interval NOT NULL DEFAULT '1 hour' CHECK (poll_interval > '0'),
    enabled              boolean NOT NULL DEFAULT true,
    etag                 text,
    last_modified        text,
    next_poll_at         timestamptz,
    last_poll_at         timestamptz,
    last_success_at      timestamptz,
    consecutive_failures int NOT NULL DEFAULT 0,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'push' OR uri IS NOT NULL)
);
COMMENT ON TABLE car.source IS 'Where meter or factor files come from, and how to read them (format, options).';
COMMENT ON COLUMN car.source.options IS 'Format options: site, meter, site_column, meter_column, date_column, ts_column, value_column, unit_column, activity_column, unit, activity, date_format, timezone, period, interval_minutes, org.';

CREATE TABLE car.source_file (
    id              serial PRIMARY KEY,
    source_id       int NOT NULL REFERENCES car.source (id) ON DELETE CASCADE,
    name            text NOT NULL,
    uri             text,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes           bigint NOT NULL,
    content         bytea,
    received_at     timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL CHECK (status IN ('loaded', 'rejected')),
    rows_loaded     bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    rows_superseded bigint NOT NULL DEFAULT 0,
    error           text,
    UNIQUE (source_id, sha256)
);
COMMENT ON TABLE car.source_file IS 'Every file received (pushed or fetched), its raw bytes kept for replay (see car.keep_raw), and what loading it did.';
COMMENT ON COLUMN car.source_file.rows_loaded IS 'Readings written (new or replacing another file''s value).';
COMMENT ON COLUMN car.source_file.rows_rejected IS 'Rows quarantined in car.ingest_error.';
COMMENT ON COLUMN car.source_file.rows_superseded IS 'Readings whose earlier value this file replaced.';

-- Landed files are stored uncompressed and out of line: TOAST then writes them
-- chunk by chunk, with no compressed copy of a large file in memory.
ALTER TABLE car.source_file ALTER COLUMN content SET STORAGE EXTERNAL;

CREATE TABLE car.ingest_error (
    id      bigserial PRIMARY KEY,
    file_id int NOT NULL REFERENCES car.source_file (id) ON DELETE CASCADE,
    line    int,
    raw     text,
    message text NOT NULL
);
CREATE INDEX ingest_error_file_idx ON car.ingest_error (file_id);
COMMENT ON TABLE car.ingest_error IS 'Quarantine: rows of loaded files that were not loaded, with their line and the reason.';

SELECT pg_catalog.pg_extension_config_dump('car.site', '');
SELECT pg_catalog.pg_extension_config_dump('car.site_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.meter', '');
SELECT pg_catalog.pg_extension_config_dump('car.meter_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.reading_default', '');
SELECT pg_catalog.pg_extension_config_dump('car.source', '');
SELECT pg_catalog.pg_extension_config_dump('car.source_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.source_file', '');
SELECT pg_catalog.pg_extension_config_dump('car.source_file_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('car.ingest_error', '');
SELECT pg_catalog.pg_extension_config_dump('car.ingest_error_id_seq', '');

-------------------------------------------------------------------------------
-- Partitions and upkeep
-------------------------------------------------------------------------------
CREATE FUNCTION car.ensure_partitions(from_ts timestamptz, to_ts timestamptz) RETURNS int
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_ensure_partitions';
COMMENT ON FUNCTION car.ensure_partitions(timestamptz, timestamptz) IS 'Create the missing monthly partitions of car''s time-partitioned tables covering [from_ts, to_ts]; returns how many were made. Rows already in the default partition for those months are moved in.';

CREATE FUNCTION car.maintenance() RETURNS jsonb
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_maintenance';
REVOKE EXECUTE ON FUNCTION car.ensure_partitions(timestamptz, timestamptz), car.maintenance() FROM PUBLIC;
COMMENT ON FUNCTION car.maintenance() IS 'Periodic upkeep (run by pg_cron): premake car.premake_months of partitions, move rows out of default partitions, drop raw file bytes older than car.keep_raw. Returns what it did.';

-------------------------------------------------------------------------------
-- Ingestion: sources and the push API
-------------------------------------------------------------------------------
CREATE FUNCTION car.add_source(name text, uri text, kind text DEFAULT 'file', format text DEFAULT NULL,
                               options jsonb DEFAULT '{}', poll_interval interval DEFAULT '1 hour')
    RETURNS car.source
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_add_source';
COMMENT ON FUNCTION car.add_source(text, text, text, text, jsonb, interval) IS 'Define a source of files: kind push (files sent with car.push), file, index or template; its format and options are checked now.';

CREATE FUNCTION car.remove_source(name text) RETURNS boolean
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ WITH gone AS (DELETE FROM car.source s WHERE s.name = $1 RETURNING 1) SELECT count(*) > 0 FROM gone $$;
COMMENT ON FUNCTION car.remove_source(text) IS 'Remove a source and its landed files (readings already loaded stay).';

CREATE FUNCTION car.push(source text, filename text, payload bytea) RETURNS car.source_file
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_push';
COMMENT ON FUNCTION car.push(text, text, bytea) IS 'The push API: land a file for a push source and load it in this transaction. Bad rows go to car.ingest_error; a file over car.max_reject_ratio is refused whole; the same bytes again load nothing. Returns the car.source_file row (its content column NULL: the bytes are stored, not sent back).';

-------------------------------------------------------------------------------
-- The background worker: datasets to fetch, status
-------------------------------------------------------------------------------
-- One row per remote file a source has led to (its URI, or a link of its index
-- page, or a period of its template), with what the last fetch learnt.
CREATE TABLE car.dataset (
    id              bigserial PRIMARY KEY,
    source_id       int NOT NULL REFERENCES car.source (id) ON DELETE CASCADE,
    uri             text NOT NULL,
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_by      int,
    etag            text,
    last_modified   text,
    last_fetched_at timestamptz,
    last_status     int,
    file_id         int,
    last_error      text,
    UNIQUE (source_id, uri)
);
CREATE INDEX dataset_queue_idx ON car.dataset (next_attempt_at) WHERE state = 'queued';
COMMENT ON TABLE car.dataset IS 'The background worker''s queue and memory: every remote file of every source, its conditional-GET validators, attempts and backoff.';
SELECT pg_catalog.pg_extension_config_dump('car.dataset', '');
SELECT pg_catalog.pg_extension_config_dump('car.dataset_id_seq', '');

CREATE FUNCTION car.wake() RETURNS boolean
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_wake';
COMMENT ON FUNCTION car.wake() IS 'Make every enabled source due now and wake the background worker when this transaction commits. False when the worker is not running (car not in shared_preload_libraries).';

CREATE FUNCTION car.backfill(source text, from_date date, to_date date) RETURNS int
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_backfill';
COMMENT ON FUNCTION car.backfill(text, date, date) IS 'Queue every period of a template source between the dates (or every link of an index source); up to car.max_parallel_fetches workers fetch them. Returns how many were queued.';

CREATE FUNCTION car.worker_status(OUT pid int, OUT role text, OUT state text, OUT source text, OUT uri text,
                                  OUT bytes bigint, OUT rows_loaded bigint, OUT started_at timestamptz)
    RETURNS SETOF record
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_worker_status_fn';
CREATE VIEW car.worker_status AS SELECT * FROM car.worker_status();
COMMENT ON VIEW car.worker_status IS 'One row per running car background worker (launcher and fetchers), live from shared memory.';
COMMENT ON COLUMN car.worker_status.state IS 'idle, polling, fetching, loading.';
COMMENT ON COLUMN car.worker_status.uri IS 'The dataset being worked on (credentials removed).';
COMMENT ON COLUMN car.worker_status.bytes IS 'Bytes downloaded so far of the current dataset.';
COMMENT ON COLUMN car.worker_status.rows_loaded IS 'Readings written so far from the current dataset.';

CREATE VIEW car.source_status AS
SELECT s.name, s.kind, s.format, s.enabled,
       regexp_replace(s.uri, '^([a-z]+://)[^/@]*@', '\1') AS uri,
       s.last_poll_at, s.last_success_at, s.next_poll_at,
       s.consecutive_failures, s.last_error,
       (SELECT count(*) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'queued') AS queued,
       (SELECT count(*) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'failed') AS failed,
       (SELECT min(d.next_attempt_at) FROM car.dataset d WHERE d.source_id = s.id AND d.state = 'queued' AND d.attempts > 0) AS next_retry_at,
       (SELECT count(*) FROM car.source_file f WHERE f.source_id = s.id) AS files_loaded,
       (SELECT coalesce(sum(f.rows_loaded), 0) FROM car.source_file f WHERE f.source_id = s.id) AS rows_loaded
FROM car.source s;
COMMENT ON VIEW car.source_status IS 'Per source: last poll, last success, next poll, consecutive failures, last error, queue, files and rows loaded.';
COMMENT ON COLUMN car.source_status.uri IS 'Where the source is fetched from, with any user:password removed.';
COMMENT ON COLUMN car.source_status.consecutive_failures IS 'Failed fetches or loads since the last success; retries back off exponentially.';
COMMENT ON COLUMN car.source_status.next_retry_at IS 'When the next retry of a failed dataset is due.';

-------------------------------------------------------------------------------
-- Transforms: the end-user emissions table, kept fresh by car.refresh()
-------------------------------------------------------------------------------
-- One row per meter, UK local day and component, computed by the C calculator
-- from the day's summed readings at the day's start (reporting years begin at
-- a London midnight, so a day never straddles two factor years).  Partitioned
-- by month on the "month" column, so a report filtered on a month reads one
-- partition.
CREATE TABLE car.emission_daily (
    site_id       int NOT NULL,
    meter_id      int NOT NULL,
    day           date NOT NULL,
    month         date NOT NULL,
    activity      text NOT NULL,
    scope         int,
    component     text NOT NULL,
    quantity      float8 NOT NULL,
    unit          text NOT NULL,
    kg_co2e       float8,
    kg_co2        float8,
    kg_ch4        float8,
    kg_n2o        float8,
    factor_set_id int,
    factor_year   int,
    factor_id     bigint,
    PRIMARY KEY (meter_id, day, component, month),
    CHECK (month = date_trunc('month', day::timestamp)::date)
) PARTITION BY RANGE (month);
CREATE TABLE car.emission_daily_default PARTITION OF car.emission_daily DEFAULT;
CREATE INDEX emission_daily_site_idx ON car.emission_daily (site_id, month);
COMMENT ON TABLE car.emission_daily IS 'Emissions per meter, UK local day and component (generation, T&D, WTT...), with the factor used. Kept up to date by car.refresh(); partitioned by month.';
COMMENT ON COLUMN car.emission_daily.site_id IS 'The meter''s site (car.site.id) when the day was computed.';
COMMENT ON COLUMN car.emission_daily.meter_id IS 'car.meter.id.';
COMMENT ON COLUMN car.emission_daily.day IS 'Local day in the UK (Europe/London): 46, 48 or 50 half-hours.';
COMMENT ON COLUMN car.emission_daily.month IS 'First day of the day''s month: the partition key; filter on it to read one partition.';
COMMENT ON COLUMN car.emission_daily.activity IS 'The meter''s activity (car.activity key).';
COMMENT ON COLUMN car.emission_daily.scope IS 'GHG Protocol scope of this component (1, 2 or 3).';
COMMENT ON COLUMN car.emission_daily.component IS 'Which part of the activity''s emissions: generation, td, wtt_generation, wtt_td, combustion, wtt, supply, treatment.';
COMMENT ON COLUMN car.emission_daily.quantity IS 'The day''s summed readings, in unit (the same on every component row of a meter-day).';
COMMENT ON COLUMN car.emission_daily.unit IS 'Unit of quantity: the meter''s unit.';
COMMENT ON COLUMN car.emission_daily.kg_co2e IS 'kg CO2e of this component.';
COMMENT ON COLUMN car.emission_daily.kg_co2 IS 'kg CO2 (as CO2e) of this component, where the factor file publishes it.';
COMMENT ON COLUMN car.emission_daily.kg_ch4 IS 'kg CH4 (as CO2e) of this component, where published.';
COMMENT ON COLUMN car.emission_daily.kg_n2o IS 'kg N2O (as CO2e) of this component, where published.';
COMMENT ON COLUMN car.emission_daily.factor_set_id IS 'car.factor_set the factor came from.';
COMMENT ON COLUMN car.emission_daily.factor_year IS 'Year of that factor set (earlier than the day''s reporting year when car fell back to an older set).';
COMMENT ON COLUMN car.emission_daily.factor_id IS 'The published car.factor row (CO2e) behind kg_co2e: the audit trail.';

-- What changed since the last refresh.  Rows are only ever added by the
-- triggers below and taken by car.refresh(); duplicates are fine (a refresh
-- takes what its snapshot sees, so a change committed meanwhile stays queued).
CREATE TABLE car.refresh_queue (
    meter_id int NOT NULL,
    day      date NOT NULL
);
COMMENT ON TABLE car.refresh_queue IS 'Meter-days whose readings changed since car.refresh() last ran (written by triggers on car.reading and car.meter).';
CREATE TABLE car.refresh_year (
    year int NOT NULL
);
COMMENT ON TABLE car.refresh_year IS 'Factor years whose set was loaded, revised or removed since car.refresh() last ran: their days are restated.';
CREATE TABLE car.refresh_state (
    id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
    full_needed          boolean NOT NULL DEFAULT false,
    reporting_year_start int,
    last_refresh_at      timestamptz,
    last_full_at         timestamptz,
    last_days            bigint,
    unpriced_days        bigint,
    problem              text
);
COMMENT ON TABLE car.refresh_state IS 'One row: when car.refresh() last ran, under which car.reporting_year_start, and whether a full refresh is due (catalogue edits, TRUNCATE).';
COMMENT ON COLUMN car.refresh_state.last_days IS 'Meter-days the last refresh recomputed.';
COMMENT ON COLUMN car.refresh_state.unpriced_days IS 'Meter-days the last refresh could not price (no factor set for their year...): they stay queued.';
COMMENT ON COLUMN car.refresh_state.problem IS 'Why, for one of them.';

SELECT pg_catalog.pg_extension_config_dump('car.emission_daily_default', '');
SELECT pg_catalog.pg_extension_config_dump('car.refresh_queue', '');
SELECT pg_catalog.pg_extension_config_dump('car.refresh_year', '');
SELECT pg_catalog.pg_extension_config_dump('car.refresh_state', '');

CREATE FUNCTION car.track_changes() RETURNS trigger
    LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'car_track_changes';
COMMENT ON FUNCTION car.track_changes() IS 'Trigger: records the meter-days (car.reading, car.meter) or factor years (car.factor_set) car.refresh() must recompute.';

CREATE TRIGGER reading_inserted AFTER INSERT ON car.reading REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER reading_updated AFTER UPDATE ON car.reading REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER reading_deleted AFTER DELETE ON car.reading REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER reading_truncated AFTER TRUNCATE ON car.reading
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER meter_updated AFTER UPDATE ON car.meter REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER factor_set_changed_refresh AFTER INSERT OR UPDATE OR DELETE ON car.factor_set
    FOR EACH ROW EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER unit_changed_refresh AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.unit
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER activity_changed_refresh AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.activity
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();
CREATE TRIGGER activity_component_changed_refresh AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.activity_component
    FOR EACH STATEMENT EXECUTE FUNCTION car.track_changes();

CREATE FUNCTION car.can_price(activity text, unit text, at timestamptz) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_can_price';
COMMENT ON FUNCTION car.can_price(text, text, timestamptz) IS 'Whether car.emissions() can price this activity and unit at that time (a factor set for the year or earlier, a convertible unit) instead of raising an error.';

CREATE FUNCTION car.refresh("full" boolean DEFAULT false) RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE SET jit = off AS 'MODULE_PATHNAME', 'car_refresh';
COMMENT ON FUNCTION car.refresh(boolean) IS 'Bring car.emission_daily up to date: recompute the meter-days whose readings changed and the days of factor years whose set changed (everything when full). Returns the meter-days recomputed; 0 at once if another refresh is running.';

CREATE FUNCTION car.schedule(refresh_cron text DEFAULT '*/5 * * * *', maintenance_cron text DEFAULT '17 * * * *',
                             OUT job text, OUT jobid bigint, OUT schedule text, OUT database text)
    RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_schedule';
COMMENT ON FUNCTION car.schedule(text, text) IS 'Register the pg_cron jobs car-refresh (SELECT car.refresh()) and car-maintenance (SELECT car.maintenance()) for this database, in pg_cron''s database if that is another one.';

CREATE FUNCTION car.unschedule() RETURNS int
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_unschedule';
COMMENT ON FUNCTION car.unschedule() IS 'Remove car''s pg_cron jobs for this database; returns how many were removed.';

-------------------------------------------------------------------------------
-- Reporting views (for analysts and BI tools)
-------------------------------------------------------------------------------
-- The reporting year a month belongs to, named by the calendar year it starts
-- in (car.reporting_year_start: 1 = calendar years, 4 = April to March...).
CREATE FUNCTION car.reporting_year(month date) RETURNS int
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN extract(year FROM month - make_interval(months =>
        coalesce(nullif(current_setting('car.reporting_year_start', true), ''), '1')::int - 1))::int;
COMMENT ON FUNCTION car.reporting_year(date) IS 'The reporting year holding a date, named by the calendar year it starts in (under car.reporting_year_start).';

CREATE FUNCTION car.reporting_year_label(year int) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE WHEN coalesce(nullif(current_setting('car.reporting_year_start', true), ''), '1') = '1'
                THEN year::text
                ELSE year::text || '/' || lpad(((year + 1) % 100)::text, 2, '0') END;
COMMENT ON FUNCTION car.reporting_year_label(int) IS 'How a reporting year is written: 2023 for calendar years, 2023/24 for years starting in another month.';

-- The component whose quantity is the meter's own use (position 1), so that
-- quantities are counted once however many components an activity has.
CREATE VIEW car.activity_primary_component WITH (security_invoker = true) AS
SELECT DISTINCT ON (activity) activity, kind
FROM car.activity_component
ORDER BY activity, position, kind;
COMMENT ON VIEW car.activity_primary_component IS 'For each activity, the component row that carries its own use (reports count quantity once, from this row).';

CREATE VIEW car.report_monthly WITH (security_invoker = true) AS
SELECT s.org AS organisation,
       s.id AS site_id,
       s.name AS site,
       e.month,
       e.activity,
       e.unit,
       sum(e.quantity) FILTER (WHERE e.component = coalesce(p.kind, e.activity)) AS quantity,
       sum(e.kg_co2e) AS kg_co2e,
       sum(e.kg_co2e) / 1000 AS tonnes_co2e,
       coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 1), 0) AS scope1_kg_co2e,
       coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 2), 0) AS scope2_kg_co2e,
       coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 3), 0) AS scope3_kg_co2e,
       count(DISTINCT e.meter_id) AS meters,
       count(DISTINCT e.day) AS days_with_data,
       string_agg(DISTINCT e.factor_year::text, ', ') AS factor_years
FROM car.emission_daily e
JOIN car.site s ON s.id = e.site_id
LEFT JOIN car.activity_primary_component p ON p.activity = e.activity
GROUP BY s.org, s.id, s.name, e.month, e.activity, e.unit;
COMMENT ON VIEW car.report_monthly IS 'Energy use and emissions per site, month and activity: the monthly carbon report. Filter on month to read one partition.';
COMMENT ON COLUMN car.report_monthly.organisation IS 'Organisation owning the site.';
COMMENT ON COLUMN car.report_monthly.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.report_monthly.site IS 'Site name.';
COMMENT ON COLUMN car.report_monthly.month IS 'Calendar month (its first day), in UK local time.';
COMMENT ON COLUMN car.report_monthly.activity IS 'What was used: electricity, natural_gas, water_supply...';
COMMENT ON COLUMN car.report_monthly.unit IS 'Unit of quantity (the meters'' unit: kWh, m3...).';
COMMENT ON COLUMN car.report_monthly.quantity IS 'Amount used in the month, in unit.';
COMMENT ON COLUMN car.report_monthly.kg_co2e IS 'Greenhouse gas emissions in kg CO2 equivalent, all scopes and components.';
COMMENT ON COLUMN car.report_monthly.tonnes_co2e IS 'The same in tonnes CO2 equivalent (kg_co2e / 1000).';
COMMENT ON COLUMN car.report_monthly.scope1_kg_co2e IS 'kg CO2e of direct emissions (Scope 1: fuel burnt on site).';
COMMENT ON COLUMN car.report_monthly.scope2_kg_co2e IS 'kg CO2e of purchased electricity generation (Scope 2).';
COMMENT ON COLUMN car.report_monthly.scope3_kg_co2e IS 'kg CO2e of indirect emissions (Scope 3: transmission losses, well-to-tank, water).';
COMMENT ON COLUMN car.report_monthly.meters IS 'Meters with data in the month.';
COMMENT ON COLUMN car.report_monthly.days_with_data IS 'Days of the month with at least one reading.';
COMMENT ON COLUMN car.report_monthly.factor_years IS 'Year(s) of the official conversion factors used.';

CREATE VIEW car.report_yearly WITH (security_invoker = true) AS
SELECT s.org AS organisation,
       s.id AS site_id,
       s.name AS site,
       car.reporting_year(e.month) AS year,
       car.reporting_year_label(car.reporting_year(e.month)) AS reporting_year,
       e.activity,
       e.unit,
       sum(e.quantity) FILTER (WHERE e.component = coalesce(p.kind, e.activity)) AS quantity,
       sum(e.kg_co2e) AS kg_co2e,
       sum(e.kg_co2e) / 1000 AS tonnes_co2e,
       coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 1), 0) AS scope1_kg_co2e,
       coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 2), 0) AS scope2_kg_co2e,
       coalesce(sum(e.kg_co2e) FILTER (WHERE e.scope = 3), 0) AS scope3_kg_co2e,
       count(DISTINCT e.meter_id) AS meters,
       count(DISTINCT e.day) AS days_with_data,
       string_agg(DISTINCT e.factor_year::text, ', ') AS factor_years
FROM car.emission_daily e
JOIN car.site s ON s.id = e.site_id
LEFT JOIN car.activity_primary_component p ON p.activity = e.activity
GROUP BY s.org, s.id, s.name, car.reporting_year(e.month), e.activity, e.unit;
COMMENT ON VIEW car.report_yearly IS 'Energy use and emissions per site, reporting year and activity (reporting years start in the month car.reporting_year_start names).';
COMMENT ON COLUMN car.report_yearly.organisation IS 'Organisation owning the site.';
COMMENT ON COLUMN car.report_yearly.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.report_yearly.site IS 'Site name.';
COMMENT ON COLUMN car.report_yearly.year IS 'Reporting year, as the calendar year it starts in.';
COMMENT ON COLUMN car.report_yearly.reporting_year IS 'Reporting year as written in reports: 2023, or 2023/24 for years starting after January.';
COMMENT ON COLUMN car.report_yearly.activity IS 'What was used: electricity, natural_gas, water_supply...';
COMMENT ON COLUMN car.report_yearly.unit IS 'Unit of quantity (the meters'' unit: kWh, m3...).';
COMMENT ON COLUMN car.report_yearly.quantity IS 'Amount used in the year, in unit.';
COMMENT ON COLUMN car.report_yearly.kg_co2e IS 'Greenhouse gas emissions in kg CO2 equivalent, all scopes and components.';
COMMENT ON COLUMN car.report_yearly.tonnes_co2e IS 'The same in tonnes CO2 equivalent (kg_co2e / 1000).';
COMMENT ON COLUMN car.report_yearly.scope1_kg_co2e IS 'kg CO2e of direct emissions (Scope 1: fuel burnt on site).';
COMMENT ON COLUMN car.report_yearly.scope2_kg_co2e IS 'kg CO2e of purchased electricity generation (Scope 2).';
COMMENT ON COLUMN car.report_yearly.scope3_kg_co2e IS 'kg CO2e of indirect emissions (Scope 3: transmission losses, well-to-tank, water).';
COMMENT ON COLUMN car.report_yearly.meters IS 'Meters with data in the year.';
COMMENT ON COLUMN car.report_yearly.days_with_data IS 'Days of the year with at least one reading.';
COMMENT ON COLUMN car.report_yearly.factor_years IS 'Year(s) of the official conversion factors used.';

CREATE VIEW car.report_scope WITH (security_invoker = true) AS
SELECT s.org AS organisation,
       s.id AS site_id,
       s.name AS site,
       e.month,
       e.scope,
       e.activity,
       e.component,
       sum(e.kg_co2e) AS kg_co2e,
       sum(e.kg_co2e) / 1000 AS tonnes_co2e,
       sum(e.kg_co2) AS kg_co2,
       sum(e.kg_ch4) AS kg_ch4,
       sum(e.kg_n2o) AS kg_n2o
FROM car.emission_daily e
JOIN car.site s ON s.id = e.site_id
GROUP BY s.org, s.id, s.name, e.month, e.scope, e.activity, e.component;
COMMENT ON VIEW car.report_scope IS 'Emissions per site and month broken down by GHG Protocol scope and component, with the per-gas split.';
COMMENT ON COLUMN car.report_scope.organisation IS 'Organisation owning the site.';
COMMENT ON COLUMN car.report_scope.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.report_scope.site IS 'Site name.';
COMMENT ON COLUMN car.report_scope.month IS 'Calendar month (its first day), in UK local time.';
COMMENT ON COLUMN car.report_scope.scope IS 'GHG Protocol scope: 1 direct, 2 purchased electricity, 3 other indirect.';
COMMENT ON COLUMN car.report_scope.activity IS 'What was used: electricity, natural_gas, water_supply...';
COMMENT ON COLUMN car.report_scope.component IS 'Part of the activity''s emissions: generation, td (transmission and distribution losses), wtt_* (well-to-tank), combustion, supply, treatment.';
COMMENT ON COLUMN car.report_scope.kg_co2e IS 'kg CO2 equivalent.';
COMMENT ON COLUMN car.report_scope.tonnes_co2e IS 'Tonnes CO2 equivalent (kg_co2e / 1000).';
COMMENT ON COLUMN car.report_scope.kg_co2 IS 'Of which carbon dioxide, kg (where the factors publish the split).';
COMMENT ON COLUMN car.report_scope.kg_ch4 IS 'Of which methane, kg CO2e (where published).';
COMMENT ON COLUMN car.report_scope.kg_n2o IS 'Of which nitrous oxide, kg CO2e (where published).';

CREATE VIEW car.report_intensity WITH (security_invoker = true) AS
SELECT s.org AS organisation,
       s.id AS site_id,
       s.name AS site,
       car.reporting_year(e.month) AS year,
       car.reporting_year_label(car.reporting_year(e.month)) AS reporting_year,
       s.floor_area_m2,
       sum(e.kg_co2e) AS kg_co2e,
       sum(e.kg_co2e) / 1000 AS tonnes_co2e,
       (sum(e.kg_co2e) / s.floor_area_m2)::float8 AS kg_co2e_per_m2
FROM car.emission_daily e
JOIN car.site s ON s.id = e.site_id
GROUP BY s.org, s.id, s.name, car.reporting_year(e.month), s.floor_area_m2;
COMMENT ON VIEW car.report_intensity IS 'Carbon intensity per site and reporting year: kg CO2e per square metre of floor area (empty where the site has no floor area).';
COMMENT ON COLUMN car.report_intensity.organisation IS 'Organisation owning the site.';
COMMENT ON COLUMN car.report_intensity.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.report_intensity.site IS 'Site name.';
COMMENT ON COLUMN car.report_intensity.year IS 'Reporting year, as the calendar year it starts in.';
COMMENT ON COLUMN car.report_intensity.reporting_year IS 'Reporting year as written in reports: 2023, or 2023/24.';
COMMENT ON COLUMN car.report_intensity.floor_area_m2 IS 'Gross internal floor area of the site, m2.';
COMMENT ON COLUMN car.report_intensity.kg_co2e IS 'Emissions in the year, kg CO2 equivalent, all scopes.';
COMMENT ON COLUMN car.report_intensity.tonnes_co2e IS 'The same in tonnes CO2 equivalent.';
COMMENT ON COLUMN car.report_intensity.kg_co2e_per_m2 IS 'kg CO2e per m2 of floor area: the intensity to compare buildings by.';

-------------------------------------------------------------------------------
-- Access: JSON Web Tokens, claims, row-level security
-------------------------------------------------------------------------------
CREATE TABLE car.jwt_key (
    kid         text PRIMARY KEY CHECK (kid <> '' AND length(kid) <= 255),
    alg         text NOT NULL CHECK (alg IN ('HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384')),
    key         text NOT NULL CHECK (key <> ''),
    private_key text CHECK (private_key <> ''),
    issuer      text,
    audience    text,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (alg LIKE 'HS%' OR key LIKE '-----BEGIN PUBLIC KEY-----%'),
    CHECK (alg NOT LIKE 'HS%' OR private_key IS NULL)
);
COMMENT ON TABLE car.jwt_key IS 'Keys that sign the tokens car accepts. Each key pins one algorithm; a token must name its key (kid) in its header. Readable by car_admin only.';
COMMENT ON COLUMN car.jwt_key.kid IS 'Key id: the token header''s "kid".';
COMMENT ON COLUMN car.jwt_key.alg IS 'The only algorithm tokens of this key may use.';
COMMENT ON COLUMN car.jwt_key.key IS 'HS*: the shared secret. RS*/ES*: the public key, PEM (-----BEGIN PUBLIC KEY-----).';
COMMENT ON COLUMN car.jwt_key.private_key IS 'RS*/ES*: the private key, PEM, only where car.sign_jwt() must sign with it.';
COMMENT ON COLUMN car.jwt_key.issuer IS 'When set, a token''s "iss" must equal it.';
COMMENT ON COLUMN car.jwt_key.audience IS 'When set, a token''s "aud" must name it.';
COMMENT ON COLUMN car.jwt_key.enabled IS 'Disabled keys verify nothing (rotate by adding a key, then disabling the old one).';
REVOKE ALL ON car.jwt_key FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('car.jwt_key', '');
CREATE TRIGGER jwt_key_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON car.jwt_key
    FOR EACH STATEMENT EXECUTE FUNCTION car.invalidate_factor_cache();

CREATE FUNCTION car.verify_jwt(token text) RETURNS jsonb
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_verify_jwt';
COMMENT ON FUNCTION car.verify_jwt(text) IS 'Verify a token (signature with its kid''s pinned algorithm, exp, nbf, iat, iss, aud) and return its claims; an error with SQLSTATE 28000 says why a token is refused.';

CREATE FUNCTION car.authenticate(token text, local boolean DEFAULT false) RETURNS jsonb
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_authenticate';
COMMENT ON FUNCTION car.authenticate(text, boolean) IS 'Verify a token and make its claims this session''s (local: until the transaction ends), for row-level security. A refused token leaves no claims.';

CREATE FUNCTION car.claims() RETURNS jsonb
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_claims';
COMMENT ON FUNCTION car.claims() IS 'The verified claims of this session, or NULL.';

CREATE FUNCTION car.claim(name text) RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_claim';
COMMENT ON FUNCTION car.claim(text) IS 'One verified claim of this session, as text, or NULL.';

CREATE FUNCTION car.sign_jwt(claims jsonb, kid text) RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_sign_jwt';
COMMENT ON FUNCTION car.sign_jwt(jsonb, text) IS 'Sign claims with a key of car.jwt_key (HS*, or RS*/ES* with a stored private key). For car_admin.';

CREATE FUNCTION car.metabase_embed_url(site_url text, dashboard int, params jsonb DEFAULT '{}',
                                       ttl interval DEFAULT '10 minutes', kid text DEFAULT 'metabase')
    RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_metabase_embed_url';
COMMENT ON FUNCTION car.metabase_embed_url(text, int, jsonb, interval, text) IS 'A Metabase static-embedding URL for a dashboard, its locked parameters signed HS256 with the embedding secret stored as key kid, valid for ttl.';
REVOKE EXECUTE ON FUNCTION car.sign_jwt(jsonb, text), car.metabase_embed_url(text, int, jsonb, interval, text) FROM PUBLIC;

-- Row visibility under the session's claims (see access.c); used by the policies.
CREATE FUNCTION car.site_visible(site_id int) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_site_visible';
COMMENT ON FUNCTION car.site_visible(int) IS 'Whether this session may see the site: its claims grant the site''s org (org, orgs) or the site (sites), or it is admin (claim admin, role car_admin, car_ingest or car_auditor).';
CREATE FUNCTION car.meter_visible(meter_id int) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_meter_visible';
COMMENT ON FUNCTION car.meter_visible(int) IS 'Whether this session may see the meter (through its site).';
CREATE FUNCTION car.source_visible(source_id int) RETURNS boolean
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'car_source_visible';
COMMENT ON FUNCTION car.source_visible(int) IS 'Whether this session may see the source and its files (the source''s options->>''org'' is granted).';

ALTER TABLE car.site ENABLE ROW LEVEL SECURITY;
CREATE POLICY site_by_claims ON car.site USING (car.site_visible(id));
ALTER TABLE car.meter ENABLE ROW LEVEL SECURITY;
CREATE POLICY meter_by_claims ON car.meter USING (car.site_visible(site_id));
ALTER TABLE car.reading ENABLE ROW LEVEL SECURITY;
CREATE POLICY reading_by_claims ON car.reading USING (car.meter_visible(meter_id));
ALTER TABLE car.emission_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY emission_daily_by_claims ON car.emission_daily USING (car.site_visible(site_id));
ALTER TABLE car.source ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_by_claims ON car.source USING (car.source_visible(id));
ALTER TABLE car.source_file ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_file_by_claims ON car.source_file USING (car.source_visible(source_id));

-- For BI tools that cannot run car.authenticate() first.
CREATE FUNCTION car.report_for(token text, report text) RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_report_for';
COMMENT ON FUNCTION car.report_for(text, text) IS 'Internal: a reporting view''s rows as a token''s claims allow.';
CREATE FUNCTION car.report_monthly_for(token text) RETURNS SETOF car.report_monthly
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_monthly') AS r(organisation text, site_id int, site text, month date,
          activity text, unit text, quantity float8, kg_co2e float8, tonnes_co2e float8, scope1_kg_co2e float8,
          scope2_kg_co2e float8, scope3_kg_co2e float8, meters bigint, days_with_data bigint, factor_years text) $$;
COMMENT ON FUNCTION car.report_monthly_for(text) IS 'car.report_monthly as the token''s claims allow: for a Metabase native question with a locked parameter or a Looker derived table with a user attribute.';
CREATE FUNCTION car.report_yearly_for(token text) RETURNS SETOF car.report_yearly
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_yearly') AS r(organisation text, site_id int, site text, year int,
          reporting_year text, activity text, unit text, quantity float8, kg_co2e float8, tonnes_co2e float8,
          scope1_kg_co2e float8, scope2_kg_co2e float8, scope3_kg_co2e float8, meters bigint, days_with_data bigint,
          factor_years text) $$;
COMMENT ON FUNCTION car.report_yearly_for(text) IS 'car.report_yearly as the token''s claims allow.';
CREATE FUNCTION car.report_scope_for(token text) RETURNS SETOF car.report_scope
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT * FROM car.report_for($1, 'report_scope') AS r(organisation text, site_id int, site text, month date,
          scope int, activity text, component text, kg_co2e float8, tonnes_co2e float8, kg_co2 float8, kg_ch4 float8,
          kg_n2o float8) $$;
COMMENT ON FUNCTION car.report_scope_for(text) IS 'car.report_scope as the token''s claims allow.';

CREATE FUNCTION car.check_push_token(token text, source text) RETURNS void
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_check_push_token';
COMMENT ON FUNCTION car.check_push_token(text, text) IS 'Refuse unless the token is valid, has the scope "push" and grants the source''s organisation.';
CREATE FUNCTION car.push(token text, source text, filename text, payload bytea) RETURNS car.source_file
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT car.check_push_token($1, $2); SELECT * FROM car.push($2, $3, $4) $$;
COMMENT ON FUNCTION car.push(text, text, text, bytea) IS 'The push API behind a token: its scope must include "push" and it must grant the source''s organisation; then as car.push(source, filename, payload).';

-------------------------------------------------------------------------------
-- Real time: simulator, notifications, live views
-------------------------------------------------------------------------------
CREATE FUNCTION car.simulate(meters int[], "from" timestamptz, "to" timestamptz, step interval DEFAULT '30 minutes',
                             seed int DEFAULT 1, OUT meter_id int, OUT ts timestamptz, OUT quantity float8)
    RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED ROWS 1000 AS 'MODULE_PATHNAME', 'car_simulate';
COMMENT ON FUNCTION car.simulate(int[], timestamptz, timestamptz, interval, int) IS 'Plausible, deterministic readings for the meters: periods starting in [from, to) on a grid of step, in each meter''s unit. Electricity: a working-day profile (night base 5-40 kW, weekday peak 2-4x base 08:00-18:00, weekends 1.3x base 10:00-16:00); gas: hot water plus heating following a seasonal temperature curve; water: a weekday daytime draw. +-10% noise, one period in 200 missing. The same seed always gives the same rows. INSERT INTO car.reading SELECT * FROM car.simulate(...).';

CREATE FUNCTION car.simulate_setup(sites int, meters_per_site int DEFAULT 3, org text DEFAULT 'Simulation')
    RETURNS SETOF car.meter
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, car
    AS $$
    INSERT INTO car.site (name, org, floor_area_m2)
    SELECT format('Sim site %s', s), org, 500 + (s * 7919) % 4500
    FROM generate_series(1, sites) s
    ON CONFLICT (org, name) DO NOTHING;
    INSERT INTO car.meter (site_id, name, activity, unit)
    SELECT st.id, format('%s %s%s', st.name, k.label, x.suffix), k.activity, k.unit
    FROM car.site st
    JOIN generate_series(1, sites) s ON st.name = format('Sim site %s', s) AND st.org IS NOT DISTINCT FROM org
    CROSS JOIN generate_series(1, meters_per_site) m
    JOIN (VALUES (0, 'electricity', 'electricity', 'kWh'), (1, 'gas', 'natural_gas', 'kWh'),
                 (2, 'water', 'water_supply', 'm3')) k(n, label, activity, unit) ON k.n = (m - 1) % 3
    CROSS JOIN LATERAL (SELECT CASE WHEN m > 3 THEN format(' %s', (m - 1) / 3 + 1) ELSE '' END AS suffix) x
    ON CONFLICT (site_id, name) DO NOTHING;
    SELECT mt.* FROM car.meter mt JOIN car.site st ON st.id = mt.site_id
    WHERE st.org IS NOT DISTINCT FROM org AND st.name = ANY (SELECT format('Sim site %s', s) FROM generate_series(1, sites) s)
    ORDER BY mt.id
    $$;
COMMENT ON FUNCTION car.simulate_setup(int, int, text) IS 'Make simulated sites (Sim site 1..N, in org) with meters_per_site meters each: electricity, gas and water in turn; returns the meters (existing ones are reused).';

CREATE FUNCTION car.unit_name(spelling text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, car
    AS $$ SELECT name FROM car.unit WHERE lower(name) = lower(spelling) OR lower(spelling) = ANY (SELECT lower(a) FROM unnest(aliases) a) LIMIT 1 $$;
COMMENT ON FUNCTION car.unit_name(text) IS 'The canonical name of a unit spelling (car.unit name or alias), or NULL.';

-- The energy readings of a time range, per site, in kWh and kg CO2e (the
-- activity's own factor; NULL where car cannot price them): what car.live and
-- car.live_json() add up.  Plain SQL, so the planner inlines it and prunes
-- partitions; row-level security applies to whoever calls it.
CREATE FUNCTION car.energy_readings("from" timestamptz, "to" timestamptz,
                                    OUT site_id int, OUT ts timestamptz, OUT kwh float8, OUT kg float8)
    RETURNS SETOF record
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS $$
    SELECT m.site_id, r.ts, car.convert(r.quantity, m.unit, 'kWh'),
           CASE WHEN car.can_price(m.activity, m.unit, r.ts) THEN car.co2e(r.quantity, m.unit, m.activity, r.ts) END
    FROM car.reading r
    JOIN car.meter m ON m.id = r.meter_id
    JOIN car.unit u ON u.name = car.unit_name(m.unit) AND u.dimension = 'energy'
    WHERE r.ts >= $1 AND r.ts <= $2
    $$;
COMMENT ON FUNCTION car.energy_readings(timestamptz, timestamptz) IS 'Energy meters'' readings starting in [from, to], per site: kWh, and kg CO2e at the activity''s own factor (NULL where car cannot price them).';

-- What a live dashboard shows, per site: readings whose period started in the
-- last 15 minutes (now), and since local (UK) midnight.  kg CO2e here is the
-- activity's own factor (car.co2e: Scope 1 fuel, Scope 2 electricity); the
-- reports add T&D and well-to-tank.
CREATE VIEW car.live WITH (security_invoker = true) AS
WITH bounds AS (
    SELECT now() - interval '15 minutes' AS recent,
           date_trunc('day', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London' AS midnight
), r AS (
    SELECT e.* FROM bounds b, car.energy_readings(b.midnight, now()) e
)
SELECT s.id AS site_id, s.name AS site, s.org AS organisation,
       coalesce(sum(r.kwh) FILTER (WHERE r.ts >= b.recent), 0) / 0.25 AS kw_now,
       coalesce(sum(r.kg) FILTER (WHERE r.ts >= b.recent), 0) / 0.25 AS kg_co2e_per_hour_now,
       coalesce(sum(r.kwh), 0) AS kwh_today,
       coalesce(sum(r.kg), 0) AS kg_co2e_today,
       max(r.ts) AS last_reading_at
FROM r JOIN car.site s ON s.id = r.site_id CROSS JOIN bounds b
GROUP BY s.id, s.name, s.org;
COMMENT ON VIEW car.live IS 'Per site, now: power and emission rate over the last 15 minutes, energy and emissions since UK midnight, and the last reading. Energy meters only.';
COMMENT ON COLUMN car.live.site_id IS 'Site number (car.site.id).';
COMMENT ON COLUMN car.live.site IS 'Site name.';
COMMENT ON COLUMN car.live.organisation IS 'Organisation owning the site.';
COMMENT ON COLUMN car.live.kw_now IS 'Average power over the last 15 minutes, kW (kWh of readings starting in them / 0.25 h).';
COMMENT ON COLUMN car.live.kg_co2e_per_hour_now IS 'Emission rate over the last 15 minutes, kg CO2e per hour (activity''s own factor).';
COMMENT ON COLUMN car.live.kwh_today IS 'Energy since midnight UK time, kWh.';
COMMENT ON COLUMN car.live.kg_co2e_today IS 'Emissions since midnight UK time, kg CO2e (activity''s own factor).';
COMMENT ON COLUMN car.live.last_reading_at IS 'Start of the latest reading today.';

CREATE FUNCTION car.live_json("window" interval DEFAULT '1 hour', bucket interval DEFAULT '5 minutes') RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, car
    AS $$
    WITH r AS (
        SELECT site_id, date_bin(bucket, ts, timestamptz '2000-01-01 00:00+00') AS t, kwh, kg
        FROM car.energy_readings(now() - "window", now())
    ), points AS (
        SELECT site_id, t, sum(kwh) AS kwh, coalesce(sum(kg), 0) AS kg FROM r GROUP BY site_id, t
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
COMMENT ON FUNCTION car.live_json(interval, interval) IS 'The live data as one JSON document for a chart: per site, a series of points (bucket start t, kWh, kW, kg CO2e, kg CO2e per hour) over the last window. Energy meters only.';

-------------------------------------------------------------------------------
-- Roles
-------------------------------------------------------------------------------
CREATE FUNCTION car.grant_roles(create_missing boolean DEFAULT true) RETURNS text[]
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'car_grant_roles';
COMMENT ON FUNCTION car.grant_roles(boolean) IS 'Create (if missing and asked) the NOLOGIN roles car_reader, car_auditor, car_ingest and car_admin and grant them car''s privileges; grant a role to your login roles (GRANT car_reader TO metabase). Returns the roles granted to.';
REVOKE EXECUTE ON FUNCTION car.grant_roles(boolean), car.refresh(boolean), car.schedule(text, text), car.unschedule() FROM PUBLIC;
