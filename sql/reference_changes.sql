-- Changes to what emissions are computed from, other than readings: meters
-- (deleted, inserted, renumbered, moved, re-classified), sites and their
-- owners, published factor rows, and what cascades from them (a meter's
-- custom factors and instruments).  Each either is refused with a clear
-- error or reaches the next incremental car.refresh(): after it, the whole
-- of car.emission_daily and car.market_allocation equals what
-- car.refresh(true) gives (0 rows differ), and the rows the change should
-- move moved.
--
-- In a database of its own, holding this estate only: every case runs two
-- refreshes, one of them full, which over the readings the other files
-- leave would take minutes.
CREATE DATABASE car_reference_changes;
\c car_reference_changes
SET client_min_messages = error;
CREATE EXTENSION car;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SELECT year FROM car.load_factors(2023);

-- The estate: organisation RC Org with sites RC S1, RC S2 and RC S4 (no
-- meter), RC Other with RC S3.  Electricity meters RC e1 (S1), RC e2 (S2),
-- RC e3 (S3), RC e4 (S1, half-hourly) and a gas meter RC g1 (S1).  Readings:
-- 10 kWh at 12:00Z on each of 1-10 June and 1-10 July 2023 (20 meter-days a
-- meter, 100 in all; electricity has 4 components, generation, T&D and
-- their well-to-tank, gas 2, combustion and well-to-tank: 4 x 20 x 4 + 20 x
-- 2 = 360 rows).  RC Org holds, for June, a pooled REGO of 150 kWh (spread pro
-- rata over the June days of e1, e2 and e4), one of 5 kWh time-stamped to the
-- half-hour from 12:00Z on 3 June, a contract of 50 kWh for e1 alone and a
-- supplier rate.  July has no instrument: its days are at the residual mix,
-- and their allocation names the day's owner.
INSERT INTO car.site (name, org) VALUES ('RC S1', 'RC Org'), ('RC S2', 'RC Org'), ('RC S3', 'RC Other'), ('RC S4', 'RC Org');
INSERT INTO car.meter (site_id, name, activity, unit, interval_minutes)
SELECT s.id, v.meter, v.activity, 'kWh', v.iv
FROM (VALUES ('RC S1', 'RC e1', 'electricity', NULL), ('RC S2', 'RC e2', 'electricity', NULL),
             ('RC S3', 'RC e3', 'electricity', NULL), ('RC S1', 'RC e4', 'electricity', 30),
             ('RC S1', 'RC g1', 'natural_gas', NULL)) v(site, meter, activity, iv)
JOIN car.site s ON s.name = v.site;
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, d + interval '12 hours', 10
FROM car.meter m, (SELECT generate_series('2023-06-01'::timestamptz, '2023-06-10', '1 day') d
                   UNION ALL SELECT generate_series('2023-07-01'::timestamptz, '2023-07-10', '1 day')) g
WHERE m.name LIKE 'RC %';
INSERT INTO car.instrument (org, kind, scheme, meter_id, valid_from, valid_to, half_hour, volume_kwh, value, retired_on, evidence)
VALUES ('RC Org', 'certificate', 'REGO', NULL, '2023-06-01', '2023-06-30', NULL, 150, 0, '2023-07-15', 'RC pool'),
       ('RC Org', 'certificate', 'REGO', NULL, '2023-06-03', '2023-06-03', '2023-06-03 12:00+00', 5, 0, '2023-07-15', 'RC stamped'),
       ('RC Org', 'contract', NULL, (SELECT id FROM car.meter WHERE name = 'RC e1'), '2023-06-01', '2023-06-30', NULL, 50, 0.05, NULL, 'RC PPA'),
       ('RC Org', 'supplier_rate', NULL, NULL, '2023-06-01', '2023-06-30', NULL, NULL, 0.15, NULL, 'RC FMD');
-- July's residual mix: car.market_allocation holds rows only for the days an
-- instrument or a residual mix can price (the others are at the grid average
-- on car.emission_daily alone), so that July's days have rows naming their owner
INSERT INTO car.residual_mix (valid_from, valid_to, value, publisher, document)
VALUES ('2023-07-01', '2023-07-31', 0.3, 'RC', 'RC residual mix (test figure)');
SELECT car.refresh(true) > 0 AS refreshed_in_full;
SELECT count(*) AS rc_emission_rows, count(DISTINCT (meter_id, day)) AS rc_meter_days
FROM car.emission_daily WHERE meter_id IN (SELECT id FROM car.meter WHERE name LIKE 'RC %');
-- annual matching: the allocation holds RC Org's June (3 meters x 10 days x
-- 10 kWh = 300 kWh: RC Other has no instrument and June no residual mix) and
-- July's residual mix days (4 meters x 10 days x 10 kWh = 400 kWh): 700 kWh,
-- of which certificates cover 155 (150 + 5 of RC Org's 300 June kWh)
SELECT round(sum(kwh)::numeric, 6) AS annual_kwh,
       round((sum(kwh) FILTER (WHERE basis = 'certificate'))::numeric, 6) AS certificate_kwh
FROM car.market_allocation
WHERE meter_id IN (SELECT id FROM car.meter WHERE name LIKE 'RC %') AND matching = 'annual';

-- The comparison.  Floats are equal to 1e-9 (relative); everything else
-- exactly (file_ids as sets).  Market rows are compared per meter-day,
-- matching, basis, instrument and residual mix (summed).
CREATE FUNCTION pg_temp.near(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (a IS NULL AND b IS NULL) OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b), 1e-6) $$;
CREATE FUNCTION pg_temp.same_set(a int[], b int[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (a IS NULL AND b IS NULL) OR (a @> b AND a <@ b) $$;
CREATE TEMP TABLE ed_a AS SELECT * FROM car.emission_daily WITH NO DATA;
CREATE TEMP TABLE ed_b AS SELECT * FROM car.emission_daily WITH NO DATA;
CREATE TEMP TABLE ma_a (meter_id int, day date, month date, site_id int, org text, matching text, basis text,
                        instrument_id bigint, residual_mix_id int, kwh float8, kg_co2e float8, n bigint);
CREATE TEMP TABLE ma_b (LIKE ma_a);
CREATE FUNCTION pg_temp.ma_now() RETURNS SETOF ma_a LANGUAGE sql AS $$
    SELECT meter_id, day, month, site_id, coalesce(org, ''), matching, basis, coalesce(instrument_id, 0), coalesce(residual_mix_id, 0),
           sum(kwh), sum(kg_co2e), count(*)
    FROM car.market_allocation GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 $$;
-- rows of x that y lacks or has otherwise (x, y: relations, or queries in
-- brackets)
CREATE FUNCTION pg_temp.ed_differ(x text, y text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format($q$
    SELECT count(*) FROM %s i FULL JOIN %s e ON e.meter_id = i.meter_id AND e.day = i.day AND e.component = i.component
    WHERE i.meter_id IS NULL OR e.meter_id IS NULL
       OR (i.site_id, i.month, i.activity, i.scope, i.unit, i.factor_set_id, i.factor_year, i.factor_id, i.periods_actual,
           i.periods_estimated, i.factor_tier, i.custom_factor_set_id, i.custom_factor_id, i.market_basis, i.market_flagged)
          IS DISTINCT FROM
          (e.site_id, e.month, e.activity, e.scope, e.unit, e.factor_set_id, e.factor_year, e.factor_id, e.periods_actual,
           e.periods_estimated, e.factor_tier, e.custom_factor_set_id, e.custom_factor_id, e.market_basis, e.market_flagged)
       OR NOT coalesce(pg_temp.same_set(i.file_ids, e.file_ids), false)
       OR NOT pg_temp.near(i.quantity, e.quantity) OR NOT pg_temp.near(i.quantity_estimated, e.quantity_estimated)
       OR NOT pg_temp.near(i.kg_co2e, e.kg_co2e) OR NOT pg_temp.near(i.kg_co2, e.kg_co2)
       OR NOT pg_temp.near(i.kg_ch4, e.kg_ch4) OR NOT pg_temp.near(i.kg_n2o, e.kg_n2o)
       OR NOT pg_temp.near(i.kg_co2e_market, e.kg_co2e_market)
       OR NOT pg_temp.near(i.kg_co2e_market_half_hourly, e.kg_co2e_market_half_hourly)$q$, x, y) INTO n;
    RETURN n;
END $$;
CREATE FUNCTION pg_temp.ma_differ(x text, y text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format($q$
    SELECT count(*) FROM %s i FULL JOIN %s e
      ON (e.meter_id, e.day, e.month, e.site_id, e.org, e.matching, e.basis, e.instrument_id, e.residual_mix_id)
       = (i.meter_id, i.day, i.month, i.site_id, i.org, i.matching, i.basis, i.instrument_id, i.residual_mix_id)
    WHERE i.meter_id IS NULL OR e.meter_id IS NULL OR i.n <> e.n
       OR NOT pg_temp.near(i.kwh, e.kwh) OR NOT pg_temp.near(i.kg_co2e, e.kg_co2e)$q$, x, y) INTO n;
    RETURN n;
END $$;
-- One case: the tables as they are (a full refresh's, kept in a), the
-- change, an incremental refresh (the tables kept in b), a full refresh;
-- then whether the change moved rows (a against b) and how many rows the
-- incremental refresh left otherwise than the full one (b against the
-- tables now): 0 every time.
CREATE FUNCTION pg_temp.rc(change text, OUT moved_emission_rows boolean, OUT moved_market_rows boolean,
                            OUT differ_emission bigint, OUT differ_market bigint) LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pg_temp.ed_a; DELETE FROM pg_temp.ma_a;
    INSERT INTO pg_temp.ed_a SELECT * FROM car.emission_daily;
    INSERT INTO pg_temp.ma_a SELECT * FROM pg_temp.ma_now();
    EXECUTE change;
    PERFORM car.refresh();
    DELETE FROM pg_temp.ed_b; DELETE FROM pg_temp.ma_b;
    INSERT INTO pg_temp.ed_b SELECT * FROM car.emission_daily;
    INSERT INTO pg_temp.ma_b SELECT * FROM pg_temp.ma_now();
    PERFORM car.refresh(true);
    moved_emission_rows := pg_temp.ed_differ('pg_temp.ed_a', 'pg_temp.ed_b') > 0;
    moved_market_rows := pg_temp.ma_differ('pg_temp.ma_a', 'pg_temp.ma_b') > 0;
    differ_emission := pg_temp.ed_differ('pg_temp.ed_b', 'car.emission_daily');
    differ_market := pg_temp.ma_differ('pg_temp.ma_b', '(SELECT * FROM pg_temp.ma_now())');
END $$;

-- Refused: a meter that still has readings cannot be deleted or renumbered
-- (readings have no foreign key; they would be left without a meter), and
-- a site with meters cannot be deleted.
-- (The numbers of the meter and site are shown as their names.)
CREATE FUNCTION pg_temp.refused(change text) RETURNS TABLE (code text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    e2 text := (SELECT id FROM car.meter WHERE name = 'RC e2');
    s2 text := (SELECT id FROM car.site WHERE name = 'RC S2');
BEGIN
    EXECUTE change;
    RAISE EXCEPTION 'not refused: %', change;
EXCEPTION WHEN foreign_key_violation THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    message := replace(replace(message, 'meter ' || e2 || ' ', 'meter <RC e2> '), 'meter_id = ' || e2, 'meter_id = <RC e2>');
    detail := replace(detail, '(' || s2 || ')', '(<RC S2>)');
    hint := replace(hint, 'meter_id = ' || e2, 'meter_id = <RC e2>');
    RETURN NEXT;
END $$;
\x on
SELECT * FROM pg_temp.refused($$DELETE FROM car.meter WHERE name = 'RC e2'$$);
SELECT * FROM pg_temp.refused($$UPDATE car.meter SET id = -id WHERE name = 'RC e2'$$);
SELECT * FROM pg_temp.refused($$DELETE FROM car.site WHERE name = 'RC S2'$$);
\x off
SELECT count(*) AS rc_meters_still_there FROM car.meter WHERE name LIKE 'RC %';

-- The cases.  Meters: RC e2 moved to another organisation's site (its
-- rows' site and its kWh's organisation move) and back; RC e3's unit kWh to
-- MWh (the same readings are 1000 times the energy) and its activity to
-- natural gas (its Scope 2 rows and their allocation go); RC e4 made hourly
-- (half-hourly matching no longer counts its 3 June half-hour).
SELECT * FROM pg_temp.rc($$UPDATE car.meter SET site_id = (SELECT id FROM car.site WHERE name = 'RC S3') WHERE name = 'RC e2'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.meter SET site_id = (SELECT id FROM car.site WHERE name = 'RC S2') WHERE name = 'RC e2'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.meter SET unit = 'MWh' WHERE name = 'RC e3'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.meter SET activity = 'natural_gas' WHERE name = 'RC e3'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.meter SET interval_minutes = 60 WHERE name = 'RC e4'$$);
-- Owners.  RC S2, without periods, to RC Other and back: its days' kWh no
-- longer take RC Org's instruments, and the July allocations, which no
-- instrument covers, name the new owner.  RC S1 transferred to RC Other from
-- 5 July (only the allocations of 5-10 July change: nothing prices by
-- organisation), then from 3 June (June days leave RC Org's instruments);
-- its open period ended on 7 June (the days after belong to nobody: only
-- allocations change), then its periods removed (back to car.site.org,
-- RC Other since the transfer, from the start).
SELECT * FROM pg_temp.rc($$UPDATE car.site SET org = 'RC Other' WHERE name = 'RC S2'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.site SET org = 'RC Org' WHERE name = 'RC S2'$$);
SELECT * FROM pg_temp.rc($$SELECT car.transfer_site(id, 'RC Other', '2023-07-05', 'rc') FROM car.site WHERE name = 'RC S1'$$);
SELECT * FROM pg_temp.rc($$SELECT car.transfer_site(id, 'RC Other', '2023-06-03', 'rc') FROM car.site WHERE name = 'RC S1'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.site_org SET valid_to = '2023-06-07' WHERE site_id = (SELECT id FROM car.site WHERE name = 'RC S1') AND valid_to IS NULL$$);
SELECT * FROM pg_temp.rc($$DELETE FROM car.site_org WHERE site_id = (SELECT id FROM car.site WHERE name = 'RC S1')$$);
-- A published factor row edited outside car.load_factors and put back (UK
-- electricity generation, 2023 set): its year is restated.  No allocation
-- row moves: June's and July's days are priced by instruments and the
-- residual mix, and grid-average days have no allocation rows.
SELECT * FROM pg_temp.rc($$UPDATE car.factor f SET value = f.value * 2 FROM car.factor_set s WHERE s.id = f.set_id AND s.year = 2023 AND f.level1 = 'UK electricity' AND f.level3 = 'Electricity: UK' AND f.ghg_unit = 'kg CO2e'$$);
SELECT * FROM pg_temp.rc($$UPDATE car.factor f SET value = f.value / 2 FROM car.factor_set s WHERE s.id = f.set_id AND s.year = 2023 AND f.level1 = 'UK electricity' AND f.level3 = 'Electricity: UK' AND f.ghg_unit = 'kg CO2e'$$);
-- Readings: a day of RC e2's removed (RC S2 is still RC Org's: its June days take the instruments), then all of RC g1's (gas: no
-- allocation).
SELECT * FROM pg_temp.rc($$DELETE FROM car.reading WHERE meter_id = (SELECT id FROM car.meter WHERE name = 'RC e2') AND ts = '2023-06-02 12:00+00'$$);
SELECT * FROM pg_temp.rc($$DELETE FROM car.reading WHERE meter_id = (SELECT id FROM car.meter WHERE name = 'RC g1')$$);
-- Meters deleted: RC e1 with its readings in the same transaction, with a
-- meter-tier custom factor and its own contract, which cascade (what the
-- pooled certificate gave it goes to e2 and e4); RC g1, whose rows a refresh
-- removed already (nothing moves); RC e5, new and without readings,
-- renumbered (nothing to move).
SELECT * FROM pg_temp.rc($$
    INSERT INTO car.custom_factor_set (org, name, publisher) VALUES ('RC Org', 'RC set', 'RC supplier');
    INSERT INTO car.custom_factor (set_id, tier, meter_id, activity, unit, value, valid_from, document)
    SELECT s.id, 'meter', m.id, 'electricity', 'kWh', 0.1, '2023-01-01', 'RC doc' FROM car.custom_factor_set s, car.meter m
    WHERE s.name = 'RC set' AND m.name = 'RC e1';
    SELECT car.refresh();
    DELETE FROM car.reading WHERE meter_id = (SELECT id FROM car.meter WHERE name = 'RC e1');
    DELETE FROM car.meter WHERE name = 'RC e1'$$);
SELECT * FROM pg_temp.rc($$DELETE FROM car.meter WHERE name = 'RC g1'$$);
SELECT * FROM pg_temp.rc($$
    INSERT INTO car.meter (site_id, name, activity, unit) SELECT id, 'RC e5', 'electricity', 'kWh' FROM car.site WHERE name = 'RC S4';
    UPDATE car.meter SET id = id + 1000000 WHERE name = 'RC e5'$$);
-- Readings of a meter id that does not exist (left by an older car, or
-- written before their meter) count for nothing, then count once a meter
-- takes the id.
SELECT * FROM pg_temp.rc($$
    INSERT INTO car.reading (meter_id, ts, quantity) SELECT 1999999, d + interval '12 hours', 7
    FROM generate_series('2023-06-01'::timestamptz, '2023-06-05', '1 day') d$$);
SELECT * FROM pg_temp.rc($$
    INSERT INTO car.meter (id, site_id, name, activity, unit) SELECT 1999999, id, 'RC e6', 'electricity', 'kWh' FROM car.site WHERE name = 'RC S2'$$);
-- RC S3's meter (RC e3, gas since above: no allocation) deleted with its
-- readings, then the site.
SELECT * FROM pg_temp.rc($$
    DELETE FROM car.reading WHERE meter_id IN (SELECT m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name = 'RC S3');
    DELETE FROM car.meter WHERE site_id = (SELECT id FROM car.site WHERE name = 'RC S3');
    DELETE FROM car.site WHERE name = 'RC S3'$$);

-- what the deletions left: nothing of the meters and the site
SELECT count(*) AS rows_of_deleted_meters FROM car.emission_daily e WHERE e.meter_id NOT IN (SELECT id FROM car.meter);
SELECT count(*) AS allocations_of_deleted_meters FROM car.market_allocation a WHERE a.meter_id NOT IN (SELECT id FROM car.meter);
SELECT count(*) AS instruments_of_deleted_meters FROM car.instrument WHERE meter_id IS NOT NULL AND meter_id NOT IN (SELECT id FROM car.meter);

\c contrib_regression
DROP DATABASE car_reference_changes;
