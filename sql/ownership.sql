-- Day-aware row-level security (issue 14): a site's rows follow who owned it
-- that day.  The present owner sees all of its site's rows (the GGC baseline
-- follows a site to the body that has it now); an earlier owner sees the
-- site's rows of the days it owned it: car.emission_daily by UK day,
-- car.reading by the instant, the site and its meters; the reports show a
-- body's lines of the days it owned a site, to whoever may see that body.
--
-- Generated estate: sites moving between four bodies at random days
-- (car.transfer_site), one site with days no body owned, one moving on a
-- day still to come (recorded ahead).  For each token (one body, two, one
-- body narrowed to some sites, sites by id without a body, admin), what the
-- token sees through the tables, the reports and the token-taking report
-- function is compared with the rule worked out in plain SQL over the
-- unfiltered rows (as superuser).
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SET jit = off;
SELECT setseed(0.1414);

SELECT car.ensure_partitions('2021-01-01', '2024-01-01') >= 0 AS partitions;
-- 9 sites, each with an electricity meter read at noon (UK) every 3rd day of
-- 2021 to 2023 (priced by the bundled 2021 to 2023 sets the earlier tests load)
INSERT INTO car.site (name, org)
SELECT 'Own site ' || i, 'Own ' || chr(64 + 1 + (i % 4)) FROM generate_series(1, 9) i;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, s.name || ' electricity', 'electricity', 'kWh' FROM car.site s WHERE s.name LIKE 'Own site %';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, (d + time '12:00') AT TIME ZONE 'Europe/London', 100 + m.id % 7 + extract(doy FROM d)
FROM car.meter m JOIN car.site s ON s.id = m.site_id,
     generate_series(date '2021-01-01', date '2023-12-31', interval '3 days') d
WHERE s.name LIKE 'Own site %';
-- moves: sites 1 to 7 change hands one to three times, on random days, to a
-- random other body; site 8 joined the estate (Own A) only in June 2022 (no
-- body owned its days before); site 9 never moves (no periods)
DO $$
DECLARE
    s record;
    n int;
    day date;
    owner text;
BEGIN
    FOR s IN SELECT x.id, x.org FROM car.site x WHERE name LIKE 'Own site %' AND name NOT IN ('Own site 8', 'Own site 9') ORDER BY id LOOP
        n := 1 + floor(random() * 3)::int;
        day := date '2021-02-01';
        owner := s.org;
        FOR k IN 1 .. n LOOP
            day := day + 30 + floor(random() * 300)::int;
            owner := 'Own ' || chr(65 + ((ascii(substr(owner, 5, 1)) - 65 + 1 + floor(random() * 3)::int) % 4));
            PERFORM car.transfer_site(s.id, owner, day, 'test move ' || k);
        END LOOP;
    END LOOP;
END $$;
INSERT INTO car.site_org (site_id, org, valid_from, note)
SELECT id, 'Own A', '2022-06-01', 'joined the estate' FROM car.site WHERE name = 'Own site 8';
-- site 9 (Own B's) moves to Own D ten days from now, recorded today: D is
-- its present owner at once (car.site.org is the owner of the latest
-- period, whatever day and time zone the session has), B an earlier owner
-- of its days until then; a reading of D's days is D's, never B's
SET TimeZone = 'Etc/GMT+12';
SELECT (now() AT TIME ZONE 'Europe/London')::date + 10 AS move_day \gset
SELECT count(*) AS periods FROM car.transfer_site((SELECT id FROM car.site WHERE name = 'Own site 9'), 'Own D', :'move_day', 'recorded ahead');
SELECT org AS present_owner_of_site_9 FROM car.site WHERE name = 'Own site 9';
SET TimeZone = 'UTC';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, (:'move_day'::date + 2 + time '12:00') AT TIME ZONE 'Europe/London', 42
FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.name = 'Own site 9';
SELECT car.refresh() > 0 AS refreshed;
-- the moves made: every site 1 to 7 has had 2 to 4 owners, site 9 two
SELECT count(*) FILTER (WHERE periods BETWEEN 2 AND 4) AS moved_sites, count(*) FILTER (WHERE periods = 0) AS never_moved
FROM (SELECT s.id, count(so.site_id) AS periods FROM car.site s LEFT JOIN car.site_org so ON so.site_id = s.id
      WHERE s.name LIKE 'Own site %' AND s.name <> 'Own site 8' GROUP BY s.id) x;

-- The rule, worked out as superuser over the unfiltered rows.  owner_on: the
-- body owning the site that day (car.site_org; a site without periods: its
-- owner; NULL: a day no body owned it); present: the owner of its latest
-- period (or of a site without periods, car.site.org).
CREATE FUNCTION pg_temp.owner_on(site int, day date) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = site)
                THEN (SELECT s.org FROM car.site s WHERE s.id = site)
                ELSE (SELECT so.org FROM car.site_org so WHERE so.site_id = site AND day >= so.valid_from
                      AND day <= coalesce(so.valid_to, 'infinity')) END $$;
CREATE FUNCTION pg_temp.present(site int) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT so.org FROM car.site_org so WHERE so.site_id = site ORDER BY so.valid_from DESC LIMIT 1),
                    (SELECT s.org FROM car.site s WHERE s.id = site)) $$;
CREATE TEMP TABLE own_day AS
SELECT e.site_id, e.meter_id, e.day, e.month, pg_temp.present(e.site_id) AS present, pg_temp.owner_on(e.site_id, e.day) AS owner_on,
       sum(e.kg_co2e) AS kg_co2e
FROM car.emission_daily e JOIN car.site s ON s.id = e.site_id
WHERE s.name LIKE 'Own site %'
GROUP BY e.site_id, e.meter_id, e.day, e.month;
-- every reading with its UK day, for the rule on car.reading
CREATE TEMP TABLE own_reading AS
SELECT r.meter_id, r.ts, m.site_id, pg_temp.present(m.site_id) AS present,
       pg_temp.owner_on(m.site_id, (r.ts AT TIME ZONE 'Europe/London')::date) AS owner_on
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.name LIKE 'Own site %';
SELECT count(*) FILTER (WHERE owner_on IS DISTINCT FROM present AND owner_on IS NOT NULL) > 0 AS earlier_owners_days,
       count(*) FILTER (WHERE owner_on IS NULL) > 0 AS unowned_days,
       count(*) FILTER (WHERE owner_on = 'Own D' AND quantity_of_future) = 1 AS the_reading_of_d_days
FROM (SELECT o.*, r.quantity = 42 AND r.ts > now() AS quantity_of_future
      FROM own_reading o JOIN car.reading r ON r.meter_id = o.meter_id AND r.ts = o.ts) x;

-- The tokens: name, claims, and the claims as the rule reads them (orgs,
-- site ids listed, site names listed, admin).
CREATE TEMP TABLE own_token (name text, claims jsonb, orgs text[], ids int[], names text[], admin boolean);
INSERT INTO car.jwt_key (kid, alg, key) VALUES ('own-test', 'HS256', 'own-test-secret-of-32-bytes-at-least!!');
INSERT INTO own_token
SELECT 'body ' || o, jsonb_build_object('org', 'Own ' || o), ARRAY['Own ' || o], NULL, NULL, false FROM unnest('{A,B,C,D}'::text[]) o;
INSERT INTO own_token VALUES ('bodies B and C', '{"orgs": ["Own B", "Own C"]}', '{Own B,Own C}', NULL, NULL, false);
-- a body narrowed to two sites: one by id, one by name
INSERT INTO own_token
SELECT 'body C, two sites', jsonb_build_object('org', 'Own C', 'sites', jsonb_build_array(min(id), 'Own site 5')),
       '{Own C}', ARRAY[min(id)], '{Own site 5}', false
FROM car.site WHERE name IN ('Own site 2', 'Own site 3');
-- sites by id without a body: those sites, whoever has them
INSERT INTO own_token
SELECT 'two sites by id', jsonb_build_object('sites', jsonb_agg(id)), NULL, array_agg(id), NULL, false
FROM car.site WHERE name IN ('Own site 4', 'Own site 8');
INSERT INTO own_token VALUES ('admin', '{"admin": true}', NULL, NULL, NULL, true);
UPDATE own_token SET claims = claims || '{"exp": 4102444800}';

-- whether a token grants the site's present owner's days, and an
-- organisation's days of it
CREATE FUNCTION pg_temp.listed(t own_token, site int) RETURNS boolean LANGUAGE sql AS $$
    SELECT t.ids IS NULL AND t.names IS NULL OR site = ANY (coalesce(t.ids, '{}'))
           OR (SELECT s.name FROM car.site s WHERE s.id = site) = ANY (coalesce(t.names, '{}')) $$;
CREATE FUNCTION pg_temp.present_ok(t own_token, site int, present text) RETURNS boolean LANGUAGE sql AS $$
    SELECT t.admin OR CASE WHEN t.orgs IS NULL THEN site = ANY (coalesce(t.ids, '{}'))
                           ELSE present = ANY (t.orgs) AND pg_temp.listed(t, site) END $$;
-- (an earlier owner's site is listed by id only: its name now may be
-- another body's choice)
CREATE FUNCTION pg_temp.org_ok(t own_token, site int, org text) RETURNS boolean LANGUAGE sql AS $$
    SELECT t.admin OR (t.orgs IS NOT NULL AND org = ANY (t.orgs)
                       AND (org = pg_temp.present(site) AND pg_temp.listed(t, site)
                            OR t.ids IS NULL AND t.names IS NULL OR site = ANY (coalesce(t.ids, '{}')))) $$;
-- the rows of the tables: the present owner's token sees all of a site's
-- days, an earlier owner's the days it owned it
CREATE FUNCTION pg_temp.table_ok(t own_token, site int, present text, owner_on text) RETURNS boolean LANGUAGE sql AS $$
    SELECT pg_temp.present_ok(t, site, present) OR pg_temp.org_ok(t, site, owner_on) $$;
-- the lines of the reports: a body's days to who may see that body (a day
-- no body owned, the present owner's)
CREATE FUNCTION pg_temp.report_ok(t own_token, site int, present text, owner_on text) RETURNS boolean LANGUAGE sql AS $$
    SELECT CASE WHEN owner_on IS NULL OR owner_on = present THEN pg_temp.present_ok(t, site, present)
                ELSE pg_temp.org_ok(t, site, owner_on) END $$;

CREATE ROLE car_test_own_reader IN ROLE car_reader;
CREATE TEMP TABLE own_result (token text, what text, seen text, expected text, seen_rows bigint, earlier_owner_rows bigint);
GRANT INSERT, SELECT ON own_result TO car_test_own_reader;
DO $$
DECLARE
    t own_token;
    tok text;
BEGIN
    FOR t IN SELECT * FROM own_token ORDER BY name LOOP
        tok := car.sign_jwt(t.claims, 'own-test');
        -- what the token sees, as a reader
        PERFORM car.authenticate(tok, true);
        SET LOCAL ROLE car_test_own_reader;
        INSERT INTO own_result (token, what, seen, seen_rows)
        SELECT t.name, 'emission_daily', md5(string_agg(e.site_id || ' ' || e.meter_id || ' ' || e.day, ',' ORDER BY e.site_id, e.meter_id, e.day)), count(*)
        FROM (SELECT DISTINCT site_id, meter_id, day FROM car.emission_daily e JOIN car.site s ON s.id = e.site_id
              WHERE s.name LIKE 'Own site %') e;
        INSERT INTO own_result (token, what, seen, seen_rows)
        SELECT t.name, 'reading', md5(string_agg(r.meter_id || ' ' || r.ts, ',' ORDER BY r.meter_id, r.ts)), count(*)
        FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id WHERE s.name LIKE 'Own site %';
        INSERT INTO own_result (token, what, seen, seen_rows)
        SELECT t.name, 'site', md5(string_agg(s.id::text, ',' ORDER BY s.id)), count(*) FROM car.site s WHERE s.name LIKE 'Own site %';
        INSERT INTO own_result (token, what, seen, seen_rows)
        SELECT t.name, 'site_org', md5(string_agg(so.site_id || ' ' || so.valid_from, ',' ORDER BY so.site_id, so.valid_from)), count(*)
        FROM car.site_org so JOIN car.site s ON s.id = so.site_id WHERE s.name LIKE 'Own site %';
        INSERT INTO own_result (token, what, seen, seen_rows)
        SELECT t.name, 'report_monthly', md5(string_agg(concat_ws(' ', r.organisation, r.site_id, r.month, round(r.kg_co2e::numeric, 6)), ','
                                                        ORDER BY r.organisation, r.site_id, r.month)), count(*)
        FROM car.report_monthly r WHERE r.site LIKE 'Own site %';
        RESET ROLE;
        -- the token-taking report function, called by a superuser: the token decides
        INSERT INTO own_result (token, what, seen, seen_rows)
        SELECT t.name, 'report_monthly_for', md5(string_agg(concat_ws(' ', r.organisation, r.site_id, r.month, round(r.kg_co2e::numeric, 6)), ','
                                                            ORDER BY r.organisation, r.site_id, r.month)), count(*)
        FROM car.report_monthly_for(tok) r WHERE r.site LIKE 'Own site %';
        -- what the rule says, over the unfiltered rows
        UPDATE own_result o SET expected = x.h, earlier_owner_rows = x.earlier FROM (
            SELECT md5(string_agg(d.site_id || ' ' || d.meter_id || ' ' || d.day, ',' ORDER BY d.site_id, d.meter_id, d.day)) AS h,
                   count(*) FILTER (WHERE NOT pg_temp.present_ok(t, d.site_id, d.present)) AS earlier
            FROM own_day d WHERE pg_temp.table_ok(t, d.site_id, d.present, d.owner_on)) x
        WHERE o.token = t.name AND o.what = 'emission_daily';
        UPDATE own_result o SET expected = x.h, earlier_owner_rows = x.earlier FROM (
            SELECT md5(string_agg(r.meter_id || ' ' || r.ts, ',' ORDER BY r.meter_id, r.ts)) AS h,
                   count(*) FILTER (WHERE NOT pg_temp.present_ok(t, r.site_id, r.present)) AS earlier
            FROM own_reading r WHERE pg_temp.table_ok(t, r.site_id, r.present, r.owner_on)) x
        WHERE o.token = t.name AND o.what = 'reading';
        UPDATE own_result o SET expected = x.h, earlier_owner_rows = x.earlier FROM (
            SELECT md5(string_agg(s.id::text, ',' ORDER BY s.id)) AS h,
                   count(*) FILTER (WHERE NOT pg_temp.present_ok(t, s.id, pg_temp.present(s.id))) AS earlier
            FROM car.site s WHERE s.name LIKE 'Own site %'
            AND (pg_temp.present_ok(t, s.id, pg_temp.present(s.id))
                 OR EXISTS (SELECT 1 FROM car.site_org so WHERE so.site_id = s.id AND pg_temp.org_ok(t, s.id, so.org)))) x
        WHERE o.token = t.name AND o.what = 'site';
        -- periods of ownership: a body's own (unless narrowed to some sites),
        -- all of a site its token sees as present owner's, an earlier
        -- owner's own periods of the sites it may see
        UPDATE own_result o SET expected = x.h, earlier_owner_rows = x.earlier FROM (
            SELECT md5(string_agg(so.site_id || ' ' || so.valid_from, ',' ORDER BY so.site_id, so.valid_from)) AS h,
                   count(*) FILTER (WHERE NOT pg_temp.present_ok(t, so.site_id, pg_temp.present(so.site_id))) AS earlier
            FROM car.site_org so JOIN car.site s ON s.id = so.site_id WHERE s.name LIKE 'Own site %'
            AND (t.admin OR (so.org = ANY (coalesce(t.orgs, '{}')) AND t.ids IS NULL AND t.names IS NULL)
                 OR pg_temp.present_ok(t, so.site_id, pg_temp.present(so.site_id)) OR pg_temp.org_ok(t, so.site_id, so.org))) x
        WHERE o.token = t.name AND o.what = 'site_org';
        UPDATE own_result o SET expected = x.h, earlier_owner_rows = x.earlier FROM (
            SELECT md5(string_agg(concat_ws(' ', l.owner_on, l.site_id, l.month, round(l.kg::numeric, 6)), ','
                                  ORDER BY l.owner_on, l.site_id, l.month)) AS h,
                   count(*) FILTER (WHERE l.earlier) AS earlier
            FROM (SELECT d.owner_on, d.site_id, d.month, sum(d.kg_co2e) AS kg,
                         bool_or(d.owner_on IS DISTINCT FROM d.present AND d.owner_on IS NOT NULL) AS earlier
                  FROM own_day d WHERE pg_temp.report_ok(t, d.site_id, d.present, d.owner_on)
                  GROUP BY d.owner_on, d.site_id, d.month) l) x
        WHERE o.token = t.name AND o.what IN ('report_monthly', 'report_monthly_for');
    END LOOP;
END $$;
-- every view of every token is what the rule says
SELECT count(*) AS checks, count(*) FILTER (WHERE seen = expected) AS as_the_rule_says FROM own_result;
SELECT token, what, seen_rows, earlier_owner_rows FROM own_result WHERE seen IS DISTINCT FROM expected;
-- and the checks are not empty: per token, rows seen and rows of earlier
-- owners' days (none for the sites by id: a token without a body sees its
-- sites' days as their present owner's, never an earlier owner's lines)
SELECT token, bool_and(seen_rows > 0) AS sees_rows, bool_or(earlier_owner_rows > 0) AS sees_earlier_owners_days
FROM own_result GROUP BY token ORDER BY token;

-- A token-taking report returns the view's columns, and only them: a caller's
-- column list of other types or another count is refused, never read from
-- the view's rows
SELECT car.sign_jwt('{"org": "Own A", "exp": 4102444800}', 'own-test') AS tok_a \gset
SELECT count(*) FROM car.report_for(:'tok_a', 'report_monthly') AS t(organisation bigint, site_id int, site bigint);
SELECT count(*) FROM car.report_for(:'tok_a', 'report_monthly') AS t(organisation text, site text);
SELECT count(*) FROM car.report_for(:'tok_a', 'report_monthly') AS t(c1 text, c2 int, c3 text, c4 date, c5 text, c6 text, c7 text,
    c8 text, c9 text, c10 text, c11 text, c12 text, c13 text);
SELECT count(*) > 0 AS the_view_s_own_columns FROM car.report_monthly_for(:'tok_a');
-- days of ownership stay within what a timestamp holds (-infinity: since always)
\set VERBOSITY terse
INSERT INTO car.site_org (site_id, org, valid_from) SELECT id, 'Own A', '300000-01-01' FROM car.site WHERE name = 'Own site 9';
INSERT INTO car.site_org (site_id, org, valid_from, valid_to) SELECT id, 'Own A', '2199-01-01', '5874897-12-31' FROM car.site WHERE name = 'Own site 9';
\set VERBOSITY default

-- a session without claims sees nothing
SET ROLE car_test_own_reader;
SELECT count(*) AS rows_without_claims FROM car.emission_daily;
RESET ROLE;

DELETE FROM car.jwt_key WHERE kid = 'own-test';
REVOKE ALL ON own_result FROM car_test_own_reader;
DROP ROLE car_test_own_reader;
RESET client_min_messages;
