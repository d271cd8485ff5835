-- Market-based Scope 2 beside location-based (issue 15, points 2 and 5):
-- contractual instruments (car.instrument) and the residual mix
-- (car.residual_mix) allocated by car.refresh() in the GHG Protocol's order
-- (certificates, contracts, supplier rate, residual mix, grid average
-- flagged), by annual and by half-hourly matching; the quality checks; the
-- dual report, the SECR lines and the signed copy; row-level security; and a
-- 300-meter, one-year half-hourly estate against an allocation written here
-- in plain SQL.  Sites, meters and organisations are this file's own ("MK
-- ...", "MKE ...").  Factor set: the bundled 2021 one, whose UK electricity
-- generation factor is 0.21233 kg CO2e/kWh.
SET TimeZone = 'UTC';
SET DateStyle = ISO;
-- errors only: car.refresh() warns of days earlier files left unpriced
SET client_min_messages = error;
SET jit = off;
\getenv sqldir CAR_TEST_SQL
\set ECHO none
\i :sqldir/include/error_of.sql
\set ECHO all
SELECT count(*) AS sets FROM car.load_factors(2021);
SELECT component, factor_year, factor_value FROM car.emissions(1, 'kWh', 'electricity', '2021-06-15 12:00+00') WHERE component = 'generation';
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b), 1e-9);

-- 1. The issue's hand values.  Meters A and B of site MK1 (organisation MK
--    Org) use 100,000 kWh each in June 2021: ten readings of 10,000 kWh.
--    Location-based: 200,000 x 0.21233 = 42,466 kg.
INSERT INTO car.site (name, org) VALUES ('MK1', 'MK Org');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, v, 'electricity', 'kWh' FROM car.site s, unnest(ARRAY['MK A', 'MK B']) v WHERE s.name = 'MK1';
CREATE TEMP TABLE mk AS SELECT name, id FROM car.meter WHERE name LIKE 'MK %';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT mk.id, '2021-06-01 12:00+00'::timestamptz + (d - 1) * interval '1 day', 10000 FROM mk, generate_series(1, 10) d;
SELECT car.refresh() > 0 AS refreshed;
-- with no instrument and no residual mix, market-based is the grid average, flagged
SELECT round(sum(kg_co2e)::numeric, 6) AS location_kg, round(sum(kg_co2e_market)::numeric, 6) AS market_kg,
       bool_and(market_flagged) AS flagged, string_agg(DISTINCT market_basis, ',') AS basis
FROM car.emission_daily WHERE meter_id IN (SELECT id FROM mk) AND scope = 2;
-- car.refresh() wrote those figures when it priced the rows, in the same
-- INSERT: nothing to allocate, no allocation rows, no second write
SELECT count(*) AS allocation_rows FROM car.market_allocation WHERE meter_id IN (SELECT id FROM mk);
-- only Scope 2 rows carry a market-based figure: T&D and well-to-tank are
-- Scope 3 and stay location-based
SELECT scope, component, count(kg_co2e_market) AS with_market FROM car.emission_daily
WHERE meter_id IN (SELECT id FROM mk) GROUP BY scope, component ORDER BY scope, component;

-- 60,000 kWh of REGOs on A (vintage April 2021 to March 2022, retired), the
-- rest of A at its supplier's rate of 0.150, B on a residual mix of 0.300:
--   A: 60,000 x 0 + 40,000 x 0.150 = 6,000 kg; B: 100,000 x 0.300 = 30,000 kg
--   market-based 36,000 kg, location-based still 42,466 kg
INSERT INTO car.instrument (org, kind, scheme, meter_id, valid_from, valid_to, volume_kwh, value, retired_on, evidence, supplier)
SELECT 'MK Org', 'certificate', 'REGO', id, '2021-04-01', '2022-03-31', 60000, 0, '2021-09-30',
       'REGO certificates R00001-R00060 (Ofgem register)', 'Wind Co' FROM mk WHERE name = 'MK A';
INSERT INTO car.instrument (org, kind, meter_id, valid_from, valid_to, value, evidence, supplier)
SELECT 'MK Org', 'supplier_rate', id, '2021-04-01', '2022-03-31', 0.150, 'Supplier X fuel mix disclosure 2020/21', 'Supplier X'
FROM mk WHERE name = 'MK A';
INSERT INTO car.residual_mix (valid_from, valid_to, value, publisher, document)
VALUES ('2021-01-01', '2021-12-31', 0.300, 'AIB', 'European Residual Mix 2021 (test figure)');
-- the changes queued the meter-days they cover
SELECT count(DISTINCT (meter_id, day)) AS queued FROM car.refresh_queue WHERE meter_id IN (SELECT id FROM mk);
SELECT car.refresh() > 0 AS refreshed;
SELECT mk.name, round(sum(e.kg_co2e)::numeric, 6) AS location_kg, round(sum(e.kg_co2e_market)::numeric, 6) AS market_kg,
       bool_or(e.market_flagged) AS flagged, string_agg(DISTINCT e.market_basis, ',') AS basis
FROM car.emission_daily e JOIN mk ON mk.id = e.meter_id WHERE e.scope = 2 GROUP BY mk.name ORDER BY mk.name;
SELECT round(sum(kg_co2e)::numeric, 6) AS location_kg, round(sum(kg_co2e_market)::numeric, 6) AS market_kg
FROM car.emission_daily WHERE meter_id IN (SELECT id FROM mk) AND scope = 2;
-- the split: the certificate spread pro rata over A's ten days (6,000 kWh a day)
SELECT mk.name, a.matching, a.basis, count(*) AS days, round(sum(a.kwh)::numeric, 6) AS kwh,
       round(sum(a.kg_co2e)::numeric, 6) AS kg, round(min(a.kwh)::numeric, 6) AS min_kwh, round(max(a.kwh)::numeric, 6) AS max_kwh
FROM car.market_allocation a JOIN mk ON mk.id = a.meter_id
GROUP BY mk.name, a.matching, a.basis ORDER BY mk.name, a.matching, a.basis;
-- the dual report and the SECR lines (tCO2e)
SELECT organisation, site, month, kwh, round(location_based_kg_co2e::numeric, 6) AS location_kg,
       round(market_based_kg_co2e::numeric, 6) AS market_kg, market_bases, market_flagged, meter_days_at_grid_average
FROM car.report_scope2 WHERE organisation = 'MK Org';
SELECT line, measure, unit, round(value::numeric, 6) AS value, note FROM car.report_secr('MK Org', 2021) WHERE line BETWEEN 7 AND 9;

-- No residual mix: B falls back to the grid average, 100,000 x 0.21233 =
-- 21,233 kg, and the total is 6,000 + 21,233 = 27,233 kg, flagged.
DELETE FROM car.residual_mix WHERE document = 'European Residual Mix 2021 (test figure)';
SELECT car.refresh() > 0 AS refreshed;
SELECT round(sum(kg_co2e_market)::numeric, 6) AS market_kg, bool_or(market_flagged) AS flagged,
       string_agg(DISTINCT market_basis, ',' ORDER BY market_basis) AS bases
FROM car.emission_daily WHERE meter_id IN (SELECT id FROM mk) AND scope = 2;
SELECT market_flagged, meter_days_at_grid_average FROM car.report_scope2 WHERE organisation = 'MK Org';
SELECT line, round(value::numeric, 6) AS value, note FROM car.report_secr('MK Org', 2021) WHERE line = 8;
INSERT INTO car.residual_mix (valid_from, valid_to, value, publisher, document)
VALUES ('2021-01-01', '2021-12-31', 0.300, 'AIB', 'European Residual Mix 2021 (test figure)');

-- 120,000 kWh of REGOs on A: 100,000 applied, 20,000 reported unused and
-- never carried (B still 30,000 kg on the residual mix); A's supplier rate
-- has nothing left to cover.
UPDATE car.instrument SET volume_kwh = 120000 WHERE kind = 'certificate' AND org = 'MK Org';
SELECT car.refresh() > 0 AS refreshed;
SELECT kind, applied_kwh, unused_kwh, problems FROM car.instrument_status WHERE org = 'MK Org' ORDER BY id;
SELECT mk.name, round(sum(e.kg_co2e_market)::numeric, 6) AS market_kg
FROM car.emission_daily e JOIN mk ON mk.id = e.meter_id WHERE e.scope = 2 GROUP BY mk.name ORDER BY mk.name;
UPDATE car.instrument SET volume_kwh = 60000 WHERE kind = 'certificate' AND org = 'MK Org';

-- 2. Quality checks: certificates for B that fail one are recorded and
--    reported, never applied (B stays 30,000 kg): not retired, issued in
--    another market, a vintage that ends before June 2021.
INSERT INTO car.instrument (org, kind, scheme, market, meter_id, valid_from, valid_to, volume_kwh, value, retired_on, evidence)
SELECT 'MK Org', 'certificate', v.scheme, v.market, mk.id, v.vfrom, v.vto, 50000, 0, v.retired, v.evidence
FROM mk, (VALUES ('REGO', 'GB', '2021-04-01'::date, '2022-03-31'::date, NULL::date, 'not retired yet'),
                 ('GO', 'NL', '2021-01-01', '2021-12-31', '2021-10-01', 'a Dutch guarantee of origin'),
                 ('REGO', 'GB', '2020-04-01', '2021-03-31', '2021-05-01', 'last year''s vintage')) v(scheme, market, vfrom, vto, retired, evidence)
WHERE mk.name = 'MK B';
SELECT car.refresh() > 0 AS refreshed;
SELECT evidence, applied_kwh, unused_kwh, problems FROM car.instrument_status WHERE org = 'MK Org' AND meter_id = (SELECT id FROM mk WHERE name = 'MK B') ORDER BY id;
SELECT mk.name, round(sum(e.kg_co2e_market)::numeric, 6) AS market_kg
FROM car.emission_daily e JOIN mk ON mk.id = e.meter_id WHERE e.scope = 2 GROUP BY mk.name ORDER BY mk.name;
-- once retired, the first one applies: B's 100,000 kWh less 50,000 at 0.300 = 15,000 kg
UPDATE car.instrument SET retired_on = '2021-12-01' WHERE evidence = 'not retired yet';
SELECT car.refresh() > 0 AS refreshed;
SELECT round(sum(e.kg_co2e_market)::numeric, 6) AS b_market_kg
FROM car.emission_daily e JOIN mk ON mk.id = e.meter_id WHERE e.scope = 2 AND mk.name = 'MK B';
DELETE FROM car.instrument WHERE org = 'MK Org' AND meter_id = (SELECT id FROM mk WHERE name = 'MK B');

-- What the tables refuse: a certificate without a volume, a supplier rate
-- with one, a retired contract, a time-stamped certificate off the
-- half-hour or outside its vintage, a gas meter, overlapping supplier rates
-- of one meter, overlapping residual mixes of one market.
\set VERBOSITY terse
INSERT INTO car.instrument (org, kind, valid_from, valid_to, value, evidence) VALUES ('MK Org', 'certificate', '2021-01-01', '2021-12-31', 0, 'x');
INSERT INTO car.instrument (org, kind, valid_from, valid_to, volume_kwh, value, evidence) VALUES ('MK Org', 'supplier_rate', '2021-01-01', '2021-12-31', 5, 0.1, 'x');
INSERT INTO car.instrument (org, kind, valid_from, valid_to, value, retired_on, evidence) VALUES ('MK Org', 'contract', '2021-01-01', '2021-12-31', 0.1, '2021-02-01', 'x');
INSERT INTO car.instrument (org, kind, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
VALUES ('MK Org', 'certificate', '2021-01-01', '2021-12-31', '2021-06-01 12:10+00', 5, 0, '2021-07-01', 'x');
INSERT INTO car.instrument (org, kind, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
VALUES ('MK Org', 'certificate', '2021-01-01', '2021-05-31', '2021-06-01 12:00+00', 5, 0, '2021-07-01', 'x');
INSERT INTO car.meter (site_id, name, activity, unit) SELECT id, 'MK gas', 'natural_gas', 'kWh' FROM car.site WHERE name = 'MK1';
-- (meter numbers depend on the files run before this one: shown as <id>)
SELECT regexp_replace(pg_temp.error_of($$INSERT INTO car.instrument (org, kind, meter_id, valid_from, valid_to, value, evidence)
    SELECT 'MK Org', 'supplier_rate', id, '2021-01-01', '2021-12-31', 0.1, 'x' FROM car.meter WHERE name = 'MK gas'$$), 'meter \d+', 'meter <id>', 'g') AS gas_meter;
SELECT regexp_replace(pg_temp.error_of($$INSERT INTO car.instrument (org, kind, meter_id, valid_from, valid_to, value, evidence)
    SELECT 'MK Org', 'supplier_rate', id, '2022-03-01', '2022-12-31', 0.1, 'x' FROM pg_temp.mk WHERE name = 'MK A'$$), 'meter \d+', 'meter <id>', 'g') AS overlap;
INSERT INTO car.residual_mix (valid_from, valid_to, value, publisher, document) VALUES ('2021-12-01', '2022-12-31', 0.3, 'AIB', 'x');
\set VERBOSITY default

-- 3. Half-hourly matching (point 5).  Meter MK HH (half-hourly) uses 30 kWh
--    in the half-hour from 12:00Z on 15 June 2021 and nothing else; its
--    organisation holds 20 kWh of certificates time-stamped to that
--    half-hour and 10 kWh time-stamped to the next (when it used nothing).
--      half-hourly: 20 kWh matched, 10 kWh on the residual mix x 0.300 = 3.0 kg
--      annual: 30 kWh of certificates in the vintage cover the 30 kWh: 0 kg
INSERT INTO car.site (name, org) VALUES ('MK2', 'MK HH Org');
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes) SELECT id, 'MK HH', 'electricity', 'kWh', 30 FROM car.site WHERE name = 'MK2';
INSERT INTO mk SELECT name, id FROM car.meter WHERE name = 'MK HH';
INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2021-06-15 12:00+00', 30 FROM mk WHERE name = 'MK HH';
INSERT INTO car.instrument (org, kind, scheme, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
VALUES ('MK HH Org', 'certificate', 'REGO', '2021-04-01', '2022-03-31', '2021-06-15 12:00+00', 20, 0, '2021-07-01', 'solar, 12:00Z'),
       ('MK HH Org', 'certificate', 'REGO', '2021-04-01', '2022-03-31', '2021-06-15 12:30+00', 10, 0, '2021-07-01', 'solar, 12:30Z');
SELECT car.refresh() > 0 AS refreshed;
SELECT round(kg_co2e_market::numeric, 9) AS annual_kg, round(kg_co2e_market_half_hourly::numeric, 9) AS half_hourly_kg, market_basis
FROM car.emission_daily WHERE meter_id = (SELECT id FROM mk WHERE name = 'MK HH') AND scope = 2;
-- (one row per part of the day: the two certificates share the annual row)
SELECT matching, basis, instrument_id IS NOT NULL AS by_instrument, kwh, round(kg_co2e::numeric, 9) AS kg
FROM car.market_allocation WHERE meter_id = (SELECT id FROM mk WHERE name = 'MK HH') ORDER BY matching, basis, kwh;
SELECT evidence, applied_kwh, unused_kwh, applied_half_hourly_kwh, unused_half_hourly_kwh
FROM car.instrument_status WHERE org = 'MK HH Org' ORDER BY id;
SELECT round(market_based_kg_co2e::numeric, 9) AS annual, round(market_based_half_hourly_kg_co2e::numeric, 9) AS half_hourly
FROM car.report_scope2 WHERE organisation = 'MK HH Org';

-- 4. A close signs both methods; an instrument recorded after it changes
--    the live figures (car.emission_daily) and not the signed ones.
SELECT car.grant_roles() IS NOT NULL AS roles;
SELECT lines > 0 AS signed FROM car.close_period('MK Org', '2021-06-01', '2021-06-30', 'June 2021');
SELECT round(sum(kg_co2e)::numeric, 6) AS location_kg, round(sum(kg_co2e_market)::numeric, 6) AS market_kg,
       count(*) FILTER (WHERE market_basis IS NOT NULL) AS rows_with_basis
FROM car.closed_emission WHERE org = 'MK Org' AND scope = 2;
INSERT INTO car.instrument (org, kind, meter_id, valid_from, valid_to, value, evidence)
SELECT 'MK Org', 'contract', id, '2021-06-01', '2021-06-30', 0, 'PPA for the whole supply of B, June' FROM mk WHERE name = 'MK B';
SELECT car.refresh() > 0 AS refreshed;
SELECT round(sum(kg_co2e_market)::numeric, 6) AS live_market_kg FROM car.emission_daily WHERE meter_id IN (SELECT id FROM mk WHERE name IN ('MK A', 'MK B')) AND scope = 2;
SELECT round(market_based_kg_co2e::numeric, 6) AS reported_market_kg FROM car.report_scope2 WHERE organisation = 'MK Org';
CREATE ROLE car_test_mk_closer IN ROLE car_admin;
SET ROLE car_test_mk_closer;
SELECT car.reopen_period(id, 'test over') IS NOT NULL AS reopened FROM car.period_close WHERE org = 'MK Org';
RESET ROLE;
DROP ROLE car_test_mk_closer;
SELECT round(market_based_kg_co2e::numeric, 6) AS reported_market_kg FROM car.report_scope2 WHERE organisation = 'MK Org';

-- 5. Row-level security: a token of one organisation sees its instruments,
--    its allocation and its report lines, nothing of another's.
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('mk-test', 'HS256', 'mk-test-secret-of-32-bytes-at-least!!!');
CREATE ROLE car_test_mk_reader IN ROLE car_reader;
SET ROLE car_test_mk_reader;
SELECT count(*) AS instruments_without_claims FROM car.instrument;
SELECT count(*) AS allocations_without_claims FROM car.market_allocation;
\set VERBOSITY terse
INSERT INTO car.instrument (org, kind, valid_from, valid_to, value, evidence) VALUES ('MK Org', 'supplier_rate', '2030-01-01', '2030-12-31', 0, 'x');
INSERT INTO car.residual_mix (valid_from, valid_to, value, publisher, document) VALUES ('2030-01-01', '2030-12-31', 0, 'x', 'x');
\set VERBOSITY default
RESET ROLE;
BEGIN;
SELECT car.authenticate(car.sign_jwt('{"org": "MK HH Org", "exp": 4102444800}', 'mk-test'), true) IS NOT NULL AS hh_org;
SET LOCAL ROLE car_test_mk_reader;
SELECT DISTINCT org FROM car.instrument;
SELECT DISTINCT org FROM car.market_allocation;
SELECT DISTINCT org FROM car.instrument_status;
SELECT organisation, round(market_based_half_hourly_kg_co2e::numeric, 9) AS half_hourly FROM car.report_scope2;
COMMIT;
SELECT organisation, round(market_based_kg_co2e::numeric, 6) AS market_kg
FROM car.report_scope2_for(car.sign_jwt('{"org": "MK Org", "exp": 4102444800}', 'mk-test'));
DELETE FROM car.jwt_key WHERE kid = 'mk-test';
DROP ROLE car_test_mk_reader;

-- 6. An estate: 60 sites (MKE1-MKE60) of 5 half-hourly electricity meters, one year
--    (2021, UK days), 5,256,000 readings; meter k's reading in half-hour n
--    (seconds since 1970 / 1800) is 0.5 + 0.25 x ((7k + n) mod 13) kWh.
--    Sites MKE1-MKE30 are MKE Org 1's, MKE31-MKE60 MKE Org 2's, and MKE30 moves to MKE Org 2
--    on 1 July 2021.  Instruments (each organisation's own, on the days it
--    owns the sites):
--      every third meter: a REGO of 5,000 x (1 + k mod 7) kWh, vintage
--        April 2021 to March 2022 (some exceed the meter's use);
--      each organisation: a REGO for all its meters, vintage 2021: MKE Org 1
--        300,000 kWh, MKE Org 2 2,000,000 kWh;
--      MKE Org 2: 100 certificates time-stamped to the half-hours
--        2021-06-01 00:00Z + 7j hours (j = 0..99), 50 + j kWh each, vintage June 2021;
--      every fifth meter: a supplier rate of 0.10 + 0.01 x (k mod 7) for 2021;
--      MKE Org 1: a supplier rate of 0.180 for all its meters, July to December;
--    and a residual mix of 0.300 from January to September only (the rest
--    falls to the grid average, flagged).
--    The allocation below is written from the GHG Protocol order as car
--    documents it, independently of src/market.c: a volume is spread pro
--    rata to what each meter-day has left, so each instrument scales the
--    days it covers by one factor: 1 - min(1, volume / what they have left).
INSERT INTO car.site (name, org) SELECT 'MKE' || i, CASE WHEN i <= 30 THEN 'MKE Org 1' ELSE 'MKE Org 2' END FROM generate_series(1, 60) i;
INSERT INTO car.site_org (site_id, org, valid_from, valid_to)
SELECT id, 'MKE Org 1', '-infinity'::date, '2021-06-30'::date FROM car.site WHERE name = 'MKE30'
UNION ALL SELECT id, 'MKE Org 2', '2021-07-01'::date, NULL::date FROM car.site WHERE name = 'MKE30';
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, s.name || '/' || k, 'electricity', 'kWh', 30 FROM car.site s, generate_series(1, 5) k WHERE s.name ~ '^MKE[0-9]+$';
CREATE TEMP TABLE em AS
SELECT m.id, m.site_id, s.name AS site, CASE WHEN s.name = 'MKE30' OR substr(s.name, 4)::int <= 30 THEN 'MKE Org 1' ELSE 'MKE Org 2' END AS first_org,
       row_number() OVER (ORDER BY substr(s.name, 4)::int, m.name)::int AS k   -- the meter's number in the estate, 1-300
FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name ~ '^MKE[0-9]+$';
SELECT count(*) AS meters FROM em;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT em.id, t, 0.5 + 0.25 * ((7 * em.k + extract(epoch FROM t)::bigint / 1800) % 13)
FROM em, generate_series('2021-01-01 00:00 Europe/London'::timestamptz,
                         '2022-01-01 00:00 Europe/London'::timestamptz - interval '30 minutes', '30 minutes') t;
INSERT INTO car.instrument (org, kind, scheme, meter_id, valid_from, valid_to, volume_kwh, value, retired_on, evidence)
SELECT first_org, 'certificate', 'REGO', id, '2021-04-01'::date, '2022-03-31'::date, 5000 * (1 + k % 7), 0, '2022-01-15'::date, 'REGO meter ' || k
FROM em WHERE k % 3 = 0
UNION ALL
SELECT o, 'certificate', 'REGO', NULL, '2021-01-01', '2021-12-31', v, 0, '2022-01-15', 'REGO pool ' || o
FROM (VALUES ('MKE Org 1', 300000), ('MKE Org 2', 2000000)) p(o, v);
INSERT INTO car.instrument (org, kind, scheme, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
SELECT 'MKE Org 2', 'certificate', 'REGO', '2021-06-01', '2021-06-30', '2021-06-01 00:00+00'::timestamptz + j * interval '7 hours', 50 + j, 0,
       '2021-07-15', 'stamped ' || j
FROM generate_series(0, 99) j;
INSERT INTO car.instrument (org, kind, meter_id, valid_from, valid_to, value, evidence)
SELECT first_org, 'supplier_rate', id, '2021-01-01'::date, '2021-12-31'::date, 0.10 + 0.01 * (k % 7), 'FMD meter ' || k FROM em WHERE k % 5 = 0
UNION ALL
SELECT 'MKE Org 1', 'supplier_rate', NULL, '2021-07-01', '2021-12-31', 0.180, 'FMD MKE Org 1';
DELETE FROM car.residual_mix WHERE document = 'European Residual Mix 2021 (test figure)';
INSERT INTO car.residual_mix (valid_from, valid_to, value, publisher, document)
VALUES ('2021-01-01', '2021-09-30', 0.300, 'AIB', 'estate test figure');
SELECT car.refresh() > 0 AS refreshed;

-- the hand-written allocation: per meter-day, its owner, kWh and location kg
CREATE TEMP TABLE hd AS
SELECT e.meter_id, e.day, e.quantity AS kwh, e.kg_co2e, so.org, e.kg_co2e_market, e.kg_co2e_market_half_hourly
FROM car.emission_daily e JOIN em ON em.id = e.meter_id
JOIN car.site_ownership so ON so.site_id = e.site_id AND e.day BETWEEN so.valid_from AND so.valid_to
WHERE e.scope = 2;
SELECT count(*) AS meter_days, count(DISTINCT org) AS orgs FROM hd;
-- annual matching, step by step
CREATE TEMP TABLE h1 AS   -- meter certificates
SELECT hd.*, hd.kwh * CASE WHEN c.id IS NOT NULL AND hd.day BETWEEN c.valid_from AND c.valid_to AND hd.org = c.org
                           THEN 1 - least(1, c.volume_kwh::float8 / sum(hd.kwh) FILTER (WHERE hd.day BETWEEN c.valid_from AND c.valid_to AND hd.org = c.org)
                                                                        OVER (PARTITION BY hd.meter_id))
                           ELSE 1 END AS left1
FROM hd LEFT JOIN car.instrument c ON c.meter_id = hd.meter_id AND c.kind = 'certificate';
CREATE TEMP TABLE h2 AS   -- pooled certificates of the year
SELECT h1.*, h1.left1 * (1 - least(1, c.volume_kwh::float8 / sum(h1.left1) OVER (PARTITION BY h1.org))) AS left2
FROM h1 JOIN car.instrument c ON c.org = h1.org AND c.meter_id IS NULL AND c.kind = 'certificate' AND c.half_hour IS NULL;
CREATE TEMP TABLE h3 AS   -- MKE Org 2's time-stamped certificates, counted by their June vintage
SELECT h2.*, CASE WHEN h2.org = 'MKE Org 2' AND h2.day BETWEEN '2021-06-01' AND '2021-06-30'
                  THEN h2.left2 * greatest(0, t.june - t.volume) / t.june ELSE h2.left2 END AS left3
FROM h2, (SELECT (SELECT sum(left2) FROM h2 WHERE org = 'MKE Org 2' AND day BETWEEN '2021-06-01' AND '2021-06-30') AS june,
                 (SELECT sum(volume_kwh)::float8 FROM car.instrument WHERE half_hour IS NOT NULL AND org = 'MKE Org 2') AS volume) t;
-- the rest of a day: the meter's supplier rate, the organisation's, the residual mix, the grid average
CREATE FUNCTION pg_temp.rest_kg(left_kwh float8, r hd) RETURNS float8 LANGUAGE sql STABLE RETURN
    left_kwh * coalesce((SELECT c.value::float8 FROM car.instrument c WHERE c.kind = 'supplier_rate' AND c.meter_id = r.meter_id
                           AND c.org = r.org AND r.day BETWEEN c.valid_from AND c.valid_to),
                        (SELECT c.value::float8 FROM car.instrument c WHERE c.kind = 'supplier_rate' AND c.meter_id IS NULL
                           AND c.org = r.org AND r.day BETWEEN c.valid_from AND c.valid_to),
                        (SELECT x.value::float8 FROM car.residual_mix x WHERE r.day BETWEEN x.valid_from AND x.valid_to),
                        r.kg_co2e / r.kwh);
-- half-hourly matching: each stamped certificate against the readings of
-- its half-hour on MKE Org 2's meters that day, pro rata; no other certificate
CREATE TEMP TABLE hh AS
SELECT y.meter_id, (y.ts AT TIME ZONE 'Europe/London')::date AS day, sum(y.matched) AS matched
FROM (SELECT x.meter_id, x.ts, x.quantity * least(1, x.volume / sum(x.quantity) OVER (PARTITION BY x.id)) AS matched
      FROM (SELECT c.id, c.volume_kwh::float8 AS volume, r.meter_id, r.ts, r.quantity
            FROM car.instrument c
            JOIN car.site_ownership so ON so.org = c.org
                 AND (c.half_hour AT TIME ZONE 'Europe/London')::date BETWEEN so.valid_from AND so.valid_to
            JOIN em ON em.site_id = so.site_id
            CROSS JOIN LATERAL (SELECT * FROM car.reading r WHERE r.meter_id = em.id AND r.ts = c.half_hour) r
            WHERE c.half_hour IS NOT NULL AND c.org LIKE 'MKE Org _') x) y
GROUP BY y.meter_id, (y.ts AT TIME ZONE 'Europe/London')::date;
SELECT count(*) AS meter_days_with_stamped_matches, round(sum(matched)::numeric, 6) AS kwh_matched,
       (SELECT sum(volume_kwh) FROM car.instrument WHERE half_hour IS NOT NULL) AS stamped_volume FROM hh;
CREATE TEMP TABLE hand AS
SELECT h3.meter_id, h3.day, h3.org, h3.kg_co2e_market, h3.kg_co2e_market_half_hourly,
       pg_temp.rest_kg(h3.left3, ROW(h3.meter_id, h3.day, h3.kwh, h3.kg_co2e, h3.org, h3.kg_co2e_market, h3.kg_co2e_market_half_hourly)::hd) AS annual,
       pg_temp.rest_kg(h3.kwh - coalesce(hh.matched, 0), ROW(h3.meter_id, h3.day, h3.kwh, h3.kg_co2e, h3.org, h3.kg_co2e_market, h3.kg_co2e_market_half_hourly)::hd) AS half_hourly
FROM h3 LEFT JOIN hh ON hh.meter_id = h3.meter_id AND hh.day = h3.day;
-- totals per organisation, and every meter-day, to 1e-9
SELECT org, pg_temp.close(sum(kg_co2e_market), sum(annual)) AS annual_equal,
       pg_temp.close(sum(kg_co2e_market_half_hourly), sum(half_hourly)) AS half_hourly_equal,
       round(sum(annual)::numeric / 1000, 3) AS annual_t, round(sum(half_hourly)::numeric / 1000, 3) AS half_hourly_t
FROM hand GROUP BY org ORDER BY org;
SELECT count(*) AS meter_days, count(*) FILTER (WHERE NOT pg_temp.close(kg_co2e_market, annual)) AS annual_differ,
       count(*) FILTER (WHERE NOT pg_temp.close(kg_co2e_market_half_hourly, half_hourly)) AS half_hourly_differ
FROM hand;
-- the certificates' unused volume: what exceeds the use they could cover
SELECT count(*) AS meter_certificates, count(*) FILTER (WHERE unused_kwh > 0.001) AS with_unused,
       bool_and(pg_temp.close(applied_kwh + unused_kwh, volume_kwh::float8)) AS applied_plus_unused_is_volume,
       bool_and(pg_temp.close(applied_kwh, least(volume_kwh::float8,
           (SELECT sum(h.kwh) FROM hd h WHERE h.meter_id = s.meter_id AND h.org = s.org AND h.day BETWEEN s.valid_from AND s.valid_to)))) AS applied_is_least_of_volume_and_use
FROM car.instrument_status s WHERE s.kind = 'certificate' AND s.meter_id IN (SELECT id FROM em);
-- an incremental refresh gives the same: a late reading on one meter of
-- MKE Org 2 in June re-allocates the days its instruments spread over
UPDATE car.reading SET quantity = quantity + 100 WHERE meter_id = (SELECT id FROM em WHERE k = 300) AND ts = '2021-06-10 10:00+00';
SELECT car.refresh() > 0 AS refreshed;
CREATE TEMP TABLE after_incremental AS
SELECT meter_id, day, kg_co2e_market, kg_co2e_market_half_hourly FROM car.emission_daily WHERE meter_id IN (SELECT id FROM em) AND scope = 2;
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT count(*) AS meter_days,
       count(*) FILTER (WHERE NOT pg_temp.close(a.kg_co2e_market, e.kg_co2e_market)
                           OR NOT pg_temp.close(a.kg_co2e_market_half_hourly, e.kg_co2e_market_half_hourly)) AS differ_from_full
FROM after_incremental a JOIN car.emission_daily e ON e.meter_id = a.meter_id AND e.day = a.day AND e.scope = 2;

-- a move of site MKE1 to MKE Org 2 from 1 October queues its days: whose
-- instruments they take changes, and the incremental refresh equals a full one
SELECT count(*) > 0 AS moved FROM car.site s, car.transfer_site(s.id, 'MKE Org 2', '2021-10-01', 'market test move') t WHERE s.name = 'MKE1';
SELECT count(*) > 0 AS queued FROM car.refresh_queue q JOIN em ON em.id = q.meter_id WHERE em.site = 'MKE1';
SELECT car.refresh() > 0 AS refreshed;
CREATE TEMP TABLE after_move AS
SELECT meter_id, day, kg_co2e_market, kg_co2e_market_half_hourly FROM car.emission_daily WHERE meter_id IN (SELECT id FROM em) AND scope = 2;
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT count(*) AS meter_days,
       count(*) FILTER (WHERE NOT pg_temp.close(a.kg_co2e_market, e.kg_co2e_market)
                           OR NOT pg_temp.close(a.kg_co2e_market_half_hourly, e.kg_co2e_market_half_hourly)) AS differ_from_full,
       count(*) FILTER (WHERE NOT pg_temp.close(a.kg_co2e_market, b.kg_co2e_market)) AS moved_by_the_transfer
FROM after_move a JOIN car.emission_daily e ON e.meter_id = a.meter_id AND e.day = a.day AND e.scope = 2
JOIN after_incremental b ON b.meter_id = a.meter_id AND b.day = a.day;

-- the estate out of the way of the files after this one
DELETE FROM car.instrument WHERE org IN ('MKE Org 1', 'MKE Org 2');
DELETE FROM car.residual_mix WHERE document = 'estate test figure';
DELETE FROM car.reading WHERE meter_id IN (SELECT id FROM em);
SELECT car.refresh() IS NOT NULL AS refreshed;
SELECT count(*) AS estate_rows_left FROM car.emission_daily WHERE meter_id IN (SELECT id FROM em);

-- 7. Review cases (each: incremental refresh against a full one, and the
--    figures by hand).  Organisations "MKR ...", sites "MKR S...", meters
--    "MKR ..."; no residual mix covers 2021 any more, so what no instrument
--    covers is at the grid average, 0.21233 kg CO2e/kWh.
CREATE FUNCTION pg_temp.mkr_kwh() RETURNS TABLE (meter text, matching text, basis text, kwh numeric) LANGUAGE sql AS $$
    SELECT m.name, a.matching, a.basis, round(sum(a.kwh)::numeric, 6) FROM car.market_allocation a JOIN car.meter m ON m.id = a.meter_id
    WHERE m.name LIKE 'MKR %' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 $$;
CREATE TEMP TABLE mkr_before (meter_id int, day date, kg_co2e_market float8, kg_co2e_market_half_hourly float8);
CREATE FUNCTION pg_temp.mkr_snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM pg_temp.mkr_before;
    INSERT INTO pg_temp.mkr_before SELECT e.meter_id, e.day, e.kg_co2e_market, e.kg_co2e_market_half_hourly
    FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name LIKE 'MKR %' AND e.scope = 2 $$;
-- meter-days whose incremental figures differ from a full refresh's (run after it)
CREATE FUNCTION pg_temp.mkr_differ() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_temp.mkr_before b
    FULL JOIN (SELECT e.* FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name LIKE 'MKR %' AND e.scope = 2) e
      ON e.meter_id = b.meter_id AND e.day = b.day
    WHERE NOT pg_temp.close(b.kg_co2e_market, e.kg_co2e_market)
       OR NOT pg_temp.close(b.kg_co2e_market_half_hourly, e.kg_co2e_market_half_hourly) $$;

-- 7a. A site changes hands.  Sites MKR S1 and MKR S2 of MKR X, one meter
--     each, 100 kWh a day on 1-10 October 2021; MKR X holds a pooled REGO
--     of 1,000 kWh, vintage October: pro rata, 500 kWh on each meter.  S1
--     moves to MKR Y from 1 October: MKR X's 1,000 kWh now fall on S2 alone
--     (its 1,000 kWh all covered), S1 is at the grid average.  The
--     incremental refresh re-allocates the island of the day's previous
--     owner too (it left S2 at 500 kWh and 500 kWh "unused").  Site MKR
--     S3 of MKR Z has a meter MKR m3 of the same use and no instrument: at
--     the grid average throughout.
INSERT INTO car.site (name, org) VALUES ('MKR S1', 'MKR X'), ('MKR S2', 'MKR X'), ('MKR S3', 'MKR Z');
INSERT INTO car.meter (site_id, name, activity, unit) SELECT id, replace(name, ' S', ' m'), 'electricity', 'kWh' FROM car.site WHERE name LIKE 'MKR S_';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, '2021-10-01 12:00+00'::timestamptz + d * interval '1 day', 100 FROM car.meter m, generate_series(0, 9) d WHERE m.name LIKE 'MKR m_';
INSERT INTO car.instrument (org, kind, scheme, valid_from, valid_to, volume_kwh, value, retired_on, evidence)
VALUES ('MKR X', 'certificate', 'REGO', '2021-10-01', '2021-10-31', 1000, 0, '2021-11-01', 'MKR pool');
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE matching = 'annual';
SELECT count(*) > 0 AS moved FROM car.site s, car.transfer_site(s.id, 'MKR Y', '2021-10-01', 'review test') t WHERE s.name = 'MKR S1';
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE matching = 'annual';
SELECT applied_kwh, unused_kwh, problems FROM car.instrument_status WHERE org = 'MKR X';
SELECT pg_temp.mkr_snapshot();
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT pg_temp.mkr_differ() AS differ_from_full;

-- 7b. A meter moves: MKR m2 goes to site MKR S3 (MKR Z's).  MKR X has no
--     meter-day left in October: the REGO covers nothing (1,000 kWh
--     unused), MKR m2 is at the grid average, 1,000 x 0.21233 = 212.33 kg.
UPDATE car.meter SET site_id = (SELECT id FROM car.site WHERE name = 'MKR S3') WHERE name = 'MKR m2';
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE matching = 'annual';
SELECT applied_kwh, unused_kwh FROM car.instrument_status WHERE org = 'MKR X';
SELECT round(sum(kg_co2e_market)::numeric, 6) AS m2_market_kg FROM car.emission_daily
WHERE meter_id = (SELECT id FROM car.meter WHERE name = 'MKR m2') AND scope = 2;
SELECT pg_temp.mkr_snapshot();
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT pg_temp.mkr_differ() AS differ_from_full;

-- 7c. Half-hourly matching covers grid electricity only.  Site MKR S4 of
--     MKR W: a half-hourly electricity meter and a half-hourly heat and
--     steam meter, 30 kWh each in the half-hour from 12:00Z on 15 June
--     2021; a pooled certificate of 30 kWh time-stamped to it covers the
--     electricity's 30 kWh (half-hourly 0 kg) and none of the heat (it gave
--     half to the heat meter, leaving 15 kWh of electricity at the grid
--     average and 45 kWh allocated on a 30 kWh heat day).
INSERT INTO car.site (name, org) VALUES ('MKR S4', 'MKR W');
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, v.name, v.activity, 'kWh', 30 FROM car.site s, (VALUES ('MKR hh elec', 'electricity'), ('MKR hh heat', 'heat_steam')) v(name, activity)
WHERE s.name = 'MKR S4';
INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2021-06-15 12:00+00', 30 FROM car.meter WHERE name LIKE 'MKR hh %';
INSERT INTO car.instrument (org, kind, scheme, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
VALUES ('MKR W', 'certificate', 'REGO', '2021-06-15', '2021-06-15', '2021-06-15 12:00+00', 30, 0, '2021-07-01', 'MKR stamped');
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE meter LIKE 'MKR hh %';
SELECT m.name, round(e.kg_co2e_market_half_hourly::numeric, 6) AS half_hourly_kg, round(e.kg_co2e::numeric, 6) AS location_kg
FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name LIKE 'MKR hh %' AND e.scope = 2 ORDER BY 1;

-- 7d. Its interval decides whether a meter's half-hours count: MKR hh2, an
--     hourly electricity meter, uses 30 kWh from 12:00Z on 16 June 2021;
--     its own certificate of 30 kWh time-stamped to that half-hour takes
--     nothing of it by half-hourly matching while the meter is hourly;
--     made half-hourly, its day is queued and takes all 30 kWh.
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT id, 'MKR hh2', 'electricity', 'kWh', 60 FROM car.site WHERE name = 'MKR S4';
INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2021-06-16 12:00+00', 30 FROM car.meter WHERE name = 'MKR hh2';
INSERT INTO car.instrument (org, kind, scheme, meter_id, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
SELECT 'MKR W', 'certificate', 'REGO', id, '2021-06-16', '2021-06-16', '2021-06-16 12:00+00', 30, 0, '2021-07-01', 'MKR stamped 2' FROM car.meter WHERE name = 'MKR hh2';
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE meter = 'MKR hh2' AND matching = 'half_hourly';
UPDATE car.meter SET interval_minutes = 30 WHERE name = 'MKR hh2';
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE meter = 'MKR hh2' AND matching = 'half_hourly';
SELECT pg_temp.mkr_snapshot();
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT pg_temp.mkr_differ() AS differ_from_full;

-- 7e. A negative half-hour takes no certificate and does not shrink the
--     others' share.  MKR n1 uses 30 kWh in the half-hour from 12:00Z on
--     17 June 2021, MKR n2 -10 kWh (a correction) and 100 kWh at 13:00Z;
--     a pooled certificate of 20 kWh on 12:00Z covers 20 kWh of n1 (it
--     gave n1 all 30: 20 + -10 = 20 seemed to be the half-hour's use).
--     Annual matching: 20 kWh over the day's 30 + 90 kWh, pro rata: 5 on
--     n1, 15 on n2.
INSERT INTO car.site (name, org) VALUES ('MKR S5', 'MKR V');
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT id, 'MKR n' || k, 'electricity', 'kWh', 30 FROM car.site, generate_series(1, 2) k WHERE name = 'MKR S5';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT id, '2021-06-17 12:00+00'::timestamptz, CASE name WHEN 'MKR n1' THEN 30 ELSE -10 END FROM car.meter WHERE name LIKE 'MKR n_'
UNION ALL SELECT id, '2021-06-17 13:00+00', 100 FROM car.meter WHERE name = 'MKR n2';
INSERT INTO car.instrument (org, kind, scheme, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
VALUES ('MKR V', 'certificate', 'REGO', '2021-06-17', '2021-06-17', '2021-06-17 12:00+00', 20, 0, '2021-07-01', 'MKR stamped 3');
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkr_kwh() WHERE meter LIKE 'MKR n_';
SELECT applied_kwh, applied_half_hourly_kwh, unused_half_hourly_kwh FROM car.instrument_status WHERE org = 'MKR V';

-- 7f. A net negative day (an export or a correction) is priced like any
--     kWh, never dropped, and never stops car.refresh(): -30 kWh of
--     electricity and -30 kWh of heat on 18 June 2021, at the grid average:
--     market-based equals location-based (it was 0 for the electricity and
--     the heat made car.refresh() fail on a check constraint).
INSERT INTO car.reading (meter_id, ts, quantity) SELECT id, '2021-06-18 12:00+00', -30 FROM car.meter WHERE name IN ('MKR hh elec', 'MKR hh heat');
SELECT car.refresh() > 0 AS refreshed;
SELECT m.name, e.quantity, round(e.kg_co2e::numeric, 6) AS location_kg, round(e.kg_co2e_market::numeric, 6) AS market_kg,
       round(e.kg_co2e_market_half_hourly::numeric, 6) AS half_hourly_kg, e.market_basis, e.market_flagged
FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name LIKE 'MKR hh %' AND e.day = '2021-06-18' AND e.scope = 2 ORDER BY 1;

-- the review cases out of the way
DELETE FROM car.instrument WHERE org LIKE 'MKR _';
DELETE FROM car.reading WHERE meter_id IN (SELECT id FROM car.meter WHERE name LIKE 'MKR %');
SELECT car.refresh() IS NOT NULL AS refreshed;
-- 8. The allocation stays bounded by the meter-days, whatever the number of
--    instruments reaching them.  Organisation MKB Org: 50 half-hourly
--    electricity meters (site MKB, "MKB 1".."MKB 50") using 1 kWh in every
--    half-hour of June 2021 (UK days; British Summer Time, so UK day d runs
--    from 23:00Z the day before): 50 x 30 = 1,500 meter-days of 48 kWh,
--    72,000 kWh, location-based 72,000 x 0.21233 = 15,287.76 kg.  2,000
--    pooled certificates of 30 kWh, vintage June 2021, certificate j
--    (j = 0..1999) time-stamped to the half-hour 2021-06-01 00:00Z + (j mod
--    1000) x 30 minutes: two on each of the half-hours 0..999.  No residual
--    mix covers 2021: the rest is at the grid average.
--      annual: 60,000 kWh of certificates <= 72,000 kWh, each spread pro
--        rata over all 1,500 meter-days and all applied (30 kWh each);
--        12,000 kWh at 0.21233 = 2,547.96 kg.
--      half-hourly: each half-hour 0..999 uses 50 kWh (50 meters x 1) and
--        has 60 kWh of certificates: the lower-numbered one applies its 30,
--        the other 20 (10 unused); 1,000 x 50 = 50,000 kWh matched,
--        22,000 kWh at 0.21233 = 4,671.26 kg.
--    Rows of car.market_allocation, a row per meter-day, matching and part:
--      annual: every meter-day has a certificate part and a grid-average
--        part (48 x 12,000 / 72,000 = 8 kWh left a day): 1,500 x 2 = 3,000;
--      half-hourly: half-hours 0..999 fall on UK days 1-21 (half-hour 999
--        starts 2021-06-21 19:30Z), so 21 x 50 = 1,050 certificate parts;
--        grid-average parts on the days with a half-hour unmatched: day 1
--        (its 23:00Z and 23:30Z half-hours of 31 May), day 21 (half-hours
--        1,000-1,005) and days 22-30: 11 x 50 = 550;
--      4,600 rows, under the bound 1,500 meter-days x 2 matchings x 5 parts
--      = 15,000; one row per (certificate, meter-day) would have been
--      2,000 x 1,500 + 2,000 x 50 = 3,100,000 plus the grid parts.
--    car.instrument_applied: one row per certificate and matching, 4,000.
INSERT INTO car.site (name, org) VALUES ('MKB', 'MKB Org');
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, 'MKB ' || k, 'electricity', 'kWh', 30 FROM car.site s, generate_series(1, 50) k WHERE s.name = 'MKB';
-- the certificates first: no priced day to queue yet
INSERT INTO car.instrument (org, kind, scheme, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
SELECT 'MKB Org', 'certificate', 'REGO', '2021-06-01', '2021-06-30', '2021-06-01 00:00+00'::timestamptz + (j % 1000) * interval '30 minutes',
       30, 0, '2021-07-15', 'MKB stamped ' || j
FROM generate_series(0, 1999) j ORDER BY j;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, t, 1 FROM car.meter m, generate_series('2021-06-01 00:00 Europe/London'::timestamptz,
                                                     '2021-07-01 00:00 Europe/London'::timestamptz - interval '30 minutes', '30 minutes') t
WHERE m.name LIKE 'MKB %';
SELECT car.refresh() > 0 AS refreshed;
CREATE FUNCTION pg_temp.mkb() RETURNS TABLE (meter_days bigint, kwh numeric, location_kg numeric, annual_kg numeric, half_hourly_kg numeric,
                                             allocation_rows bigint, annual_rows bigint, half_hourly_rows bigint, applied_rows bigint)
LANGUAGE sql AS $$
    SELECT count(*), round(sum(e.quantity)::numeric, 6), round(sum(e.kg_co2e)::numeric, 6), round(sum(e.kg_co2e_market)::numeric, 6),
           round(sum(e.kg_co2e_market_half_hourly)::numeric, 6),
           (SELECT count(*) FROM car.market_allocation a JOIN car.meter m ON m.id = a.meter_id WHERE m.name LIKE 'MKB %'),
           (SELECT count(*) FROM car.market_allocation a JOIN car.meter m ON m.id = a.meter_id WHERE m.name LIKE 'MKB %' AND a.matching = 'annual'),
           (SELECT count(*) FROM car.market_allocation a JOIN car.meter m ON m.id = a.meter_id WHERE m.name LIKE 'MKB %' AND a.matching = 'half_hourly'),
           (SELECT count(*) FROM car.instrument_applied WHERE org = 'MKB Org')
    FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name LIKE 'MKB %' AND e.scope = 2 $$;
SELECT * FROM pg_temp.mkb();
-- the split by matching and basis: 60,000 + 12,000 and 50,000 + 22,000 kWh
SELECT a.matching, a.basis, count(*) AS rows, count(DISTINCT a.day) AS days, round(sum(a.kwh)::numeric, 6) AS kwh, round(sum(a.kg_co2e)::numeric, 6) AS kg
FROM car.market_allocation a JOIN car.meter m ON m.id = a.meter_id WHERE m.name LIKE 'MKB %' GROUP BY 1, 2 ORDER BY 1, 2;
-- per certificate: annual 30 kWh each over the 1,500 meter-days of June;
-- half-hourly 30 kWh (certificates 0-999) or 20 kWh and 10 unused
-- (1,000-1,999), each over its half-hour's 50 meter-days
SELECT (substr(s.evidence, 13)::int >= 1000) AS second_of_its_half_hour, count(DISTINCT s.id) AS certificates,
       round(min(s.applied_kwh)::numeric, 6) AS min_applied, round(max(s.applied_kwh)::numeric, 6) AS max_applied,
       round(max(s.unused_kwh)::numeric, 6) AS max_unused,
       round(min(s.applied_half_hourly_kwh)::numeric, 6) AS min_applied_hh, round(max(s.applied_half_hourly_kwh)::numeric, 6) AS max_applied_hh,
       round(min(s.unused_half_hourly_kwh)::numeric, 6) AS min_unused_hh, round(max(s.unused_half_hourly_kwh)::numeric, 6) AS max_unused_hh,
       min(x.meter_days) FILTER (WHERE x.matching = 'annual') AS annual_meter_days,
       max(x.meter_days) FILTER (WHERE x.matching = 'half_hourly') AS half_hourly_meter_days,
       min(x.first_day) AS first_day, max(x.last_day) AS last_day
FROM car.instrument_status s JOIN car.instrument_applied x ON x.instrument_id = s.id
WHERE s.org = 'MKB Org' GROUP BY 1 ORDER BY 1;
-- an incremental refresh equals a full one: 100 kWh more in half-hour 5
-- of meter MKB 1 (2021-06-01 02:30Z, matched) re-allocates the island of
-- the June vintage, all 1,500 meter-days.  Annual: 72,100 kWh, 12,100
-- left at the grid average = 2,569.193 kg; half-hourly: half-hour 5 now
-- uses 150 kWh and its 60 kWh of certificates all apply, 10 more matched:
-- 72,100 - 50,010 = 22,090 kWh x 0.21233 = 4,690.3697 kg.
UPDATE car.reading SET quantity = 101 WHERE meter_id = (SELECT id FROM car.meter WHERE name = 'MKB 1') AND ts = '2021-06-01 02:30+00';
SELECT car.refresh() > 0 AS refreshed;
SELECT * FROM pg_temp.mkb();
CREATE TEMP TABLE mkb_before AS
SELECT e.meter_id, e.day, e.kg_co2e_market, e.kg_co2e_market_half_hourly FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id
WHERE m.name LIKE 'MKB %' AND e.scope = 2;
CREATE TEMP TABLE mkb_applied_before AS SELECT * FROM car.instrument_applied WHERE org = 'MKB Org';
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT * FROM pg_temp.mkb();
SELECT count(*) AS meter_days,
       count(*) FILTER (WHERE NOT pg_temp.close(b.kg_co2e_market, e.kg_co2e_market)
                           OR NOT pg_temp.close(b.kg_co2e_market_half_hourly, e.kg_co2e_market_half_hourly)) AS differ_from_full
FROM mkb_before b FULL JOIN (SELECT e.* FROM car.emission_daily e JOIN car.meter m ON m.id = e.meter_id WHERE m.name LIKE 'MKB %' AND e.scope = 2) e
  ON e.meter_id = b.meter_id AND e.day = b.day;
SELECT count(*) AS applied_rows, count(*) FILTER (WHERE b.instrument_id IS NULL OR a.instrument_id IS NULL OR NOT pg_temp.close(a.kwh, b.kwh)
                                                  OR a.meter_days <> b.meter_days OR a.first_day <> b.first_day OR a.last_day <> b.last_day) AS differ_from_full
FROM mkb_applied_before b FULL JOIN (SELECT * FROM car.instrument_applied WHERE org = 'MKB Org') a USING (instrument_id, matching);
-- a certificate deleted takes its row of car.instrument_applied with it at
-- the next refresh (the days it covered are queued): 1,999 x 2 rows left
DELETE FROM car.instrument WHERE evidence = 'MKB stamped 1999';
SELECT car.refresh() > 0 AS refreshed;
SELECT count(*) AS applied_rows, count(*) FILTER (WHERE instrument_id NOT IN (SELECT id FROM car.instrument)) AS orphans
FROM car.instrument_applied WHERE org = 'MKB Org';
DELETE FROM car.instrument WHERE org = 'MKB Org';
DELETE FROM car.reading WHERE meter_id IN (SELECT id FROM car.meter WHERE name LIKE 'MKB %');
SELECT car.refresh() IS NOT NULL AS refreshed;
SELECT count(*) AS mkb_applied_left FROM car.instrument_applied WHERE org = 'MKB Org';

-- 9. Every column that carries a market-based figure, in a table or a
--    view (car.emission_live and car.emission_reported among them), has a
--    comment saying what it holds.
SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'car'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
  AND (a.attname LIKE '%market%' OR c.relname IN ('market_allocation', 'instrument_applied', 'instrument_status'))
  AND col_description(c.oid, a.attnum) IS NULL ORDER BY 1, 2;

RESET client_min_messages;
