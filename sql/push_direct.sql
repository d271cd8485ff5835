-- car.push's direct path (issue 17 point 3) against the path through
-- car.reading.  When car's own statement triggers are the only INSERT
-- triggers of car.reading, car.push COPYs each batch straight into the
-- monthly partitions and queues the batch's meter-days itself
-- (src/ingest_write.c); otherwise everything goes through car.reading, whose
-- trigger car.track_changes queues them.  Both must leave exactly the same
-- readings, file counts, queued meter-days and change feed.
--
-- Generated cases: the same random files pushed to two sources of two
-- organisations (so two sets of sites and meters with the same names), one
-- side with a harmless statement trigger of a user on car.reading (which
-- sends every push through car.reading), the other without.  The files
-- repeat readings within a file and across files (the later value
-- supersedes), carry bad lines, and fall on the clock-change nights of 2022
-- (27 March, 30 October: UK days of 46 and 50 half-hours), on month ends
-- (a UTC month's partition against the UK day), in a month whose partition
-- is detached (the default partition takes those readings), in a month whose
-- partition has a row trigger of its own, and in a month whose partition was
-- replaced by a table of a user's with another default for method (a COPY
-- into it would take that default; through car.reading the parent's).
SET TimeZone = 'UTC';
SET client_min_messages = warning;
SET track_functions = 'all';
SELECT cardinality(car.grant_roles()) AS roles;
SELECT car.ensure_partitions('2022-03-01', '2022-12-01') >= 0 AS partitions_made;

SELECT (car.add_source('direct-a', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "DirA"}')).name;
SELECT (car.add_source('direct-b', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "DirB"}')).name;

-- June 2022: no partition (its table detached), so the default partition
ALTER TABLE car.reading DETACH PARTITION car.reading_p202206;
-- July 2022: a partition with a row trigger of its own
CREATE FUNCTION public.direct_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER direct_keep BEFORE INSERT ON car.reading_p202207 FOR EACH ROW EXECUTE FUNCTION public.direct_keep();
-- August 2022: the partition replaced by a user's table whose method defaults to 'manual'
-- (car.reading's CHECK reading_quality refuses an actual reading with a method)
ALTER TABLE car.reading DETACH PARTITION car.reading_p202208;
CREATE TABLE public.direct_aug (LIKE car.reading INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE public.direct_aug ALTER COLUMN method SET DEFAULT 'manual';
ALTER TABLE car.reading ATTACH PARTITION public.direct_aug FOR VALUES FROM ('2022-08-01 00:00+00') TO ('2022-09-01 00:00+00');
-- the harmless trigger that sends side A's pushes through car.reading
CREATE FUNCTION public.direct_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;

-- A random long-layout file: lines of (site, meter, UTC instant, kWh), some repeating an
-- earlier (meter, instant) with another value, some bad.
CREATE FUNCTION public.direct_file(c int, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    bases timestamptz[] := ARRAY['2022-03-26 22:00', '2022-03-31 21:00', '2022-06-14 10:00', '2022-07-31 21:30',
                                 '2022-08-15 00:00', '2022-10-29 22:00', '2022-10-31 22:00', '2022-11-30 23:00'];
    -- one or two of those places a file (one of the plain partitions' half the time)
    mine timestamptz[] := ARRAY[bases[1 + floor(random() * 8)::int], bases[1 + floor(random() * 8)::int]];
    lines text[] := ARRAY['Site,Meter,ReadDatetime,kWh'];
    meter int;
    ts timestamptz;
    prev text[] := ARRAY[]::text[];
    r float8;
BEGIN
    IF random() < 0.5 THEN
        mine := ARRAY[bases[(ARRAY[1, 2, 6, 7, 8])[1 + floor(random() * 5)::int]]];
    END IF;
    FOR i IN 1 .. n LOOP
        r := random();
        IF r < 0.03 AND cardinality(prev) > 0 THEN
            -- an earlier line's meter and instant again, another value
            lines := lines || (prev[1 + floor(random() * cardinality(prev))::int] || ',' || round((random() * 100)::numeric, 1));
        ELSIF r < 0.05 THEN
            lines := lines || 'S1,M1,not a time,1'::text;
        ELSE
            -- the case's own three meters, at two sites
            meter := 1 + floor(random() * 3)::int;
            ts := mine[1 + floor(random() * cardinality(mine))::int] + floor(random() * 10)::int * interval '30 minutes';
            prev := prev || format('S%s,M%s_%s,%s', 1 + meter % 2, c, meter, to_char(ts, 'YYYY-MM-DD HH24:MI:SS'));
            lines := lines || (prev[cardinality(prev)] || ',' || round((random() * 100)::numeric, 1));
        END IF;
    END LOOP;
    RETURN array_to_string(lines, E'\n') || E'\n';
END $$;

CREATE TABLE public.direct_result (
    c int, k int, side text, outcome text, loaded bigint, rejected bigint, superseded bigint,
    tracked bigint,  -- calls of car.track_changes during the push
    queued text[]    -- the distinct (site, meter, UK day) the push queued in car.refresh_queue
);

DO $$
DECLARE
    file text;
    side text;
    src text;
    v_org text;
    calls0 bigint;
    outcome text;
    f car.source_file;
BEGIN
    PERFORM setseed(0.17);
    FOR c IN 1 .. 60 LOOP
        FOR k IN 1 .. 3 LOOP
            file := public.direct_file(c, 3 + floor(random() * 30)::int);
            FOREACH side IN ARRAY ARRAY['a', 'b'] LOOP
                src := 'direct-' || side;
                v_org := CASE side WHEN 'a' THEN 'DirA' ELSE 'DirB' END;
                IF side = 'a' THEN
                    CREATE TRIGGER direct_noop AFTER INSERT ON car.reading FOR EACH STATEMENT EXECUTE FUNCTION public.direct_noop();
                END IF;
                DELETE FROM car.refresh_queue q USING car.meter m JOIN car.site s ON s.id = m.site_id
                    WHERE q.meter_id = m.id AND s.org = v_org;
                SELECT coalesce(sum(calls), 0) INTO calls0 FROM pg_stat_xact_user_functions WHERE schemaname = 'car' AND funcname = 'track_changes';
                BEGIN
                    SELECT * INTO f FROM car.push(src, format('f%s_%s.csv', c, k), convert_to(file, 'UTF8'));
                    outcome := f.status;
                EXCEPTION WHEN OTHERS THEN
                    outcome := SQLSTATE;
                    f := NULL;
                END;
                INSERT INTO public.direct_result
                SELECT c, k, side, outcome, f.rows_loaded, f.rows_rejected, f.rows_superseded,
                       (SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE schemaname = 'car' AND funcname = 'track_changes') - calls0,
                       ARRAY(SELECT DISTINCT s.name || '/' || m.name || '/' || to_char(q.day, 'YYYY-MM-DD') FROM car.refresh_queue q
                             JOIN car.meter m ON m.id = q.meter_id JOIN car.site s ON s.id = m.site_id
                             WHERE s.org = v_org ORDER BY 1);
                IF side = 'a' THEN
                    DROP TRIGGER direct_noop ON car.reading;
                END IF;
            END LOOP;
        END LOOP;
    END LOOP;
END $$;

-- every push ended the same way on both sides, with the same counts and the same meter-days queued
SELECT outcome, count(*) AS pushes FROM public.direct_result WHERE side = 'a' GROUP BY outcome ORDER BY outcome;
SELECT a.c, a.k, a.outcome, b.outcome, a.loaded, b.loaded, a.superseded, b.superseded, a.queued, b.queued
FROM public.direct_result a JOIN public.direct_result b ON b.c = a.c AND b.k = a.k AND b.side = 'b'
WHERE a.side = 'a' AND (a.outcome, a.loaded, a.rejected, a.superseded, a.queued)
                       IS DISTINCT FROM (b.outcome, b.loaded, b.rejected, b.superseded, b.queued);
-- the paths were the ones meant: car.track_changes fires for car.meter's statements on both
-- sides, and for car.reading's on side A only where side B wrote everything directly
-- (a new file whose readings all lie in plain partitions), so A's count exceeds B's there
SELECT count(*) FILTER (WHERE a.tracked > b.tracked) > 10 AS direct_pushes, count(*) FILTER (WHERE a.tracked < b.tracked) AS fewer_on_a,
       count(*) FILTER (WHERE a.tracked = b.tracked AND a.loaded > 0) > 20 AS same_path_pushes
FROM public.direct_result a JOIN public.direct_result b ON b.c = a.c AND b.k = a.k AND b.side = 'b' WHERE a.side = 'a';
-- what each push queued: every (meter, UK day) of its readings, as car.track_changes queues them
-- (side A), clock-change days among them
SELECT count(*) FILTER (WHERE q LIKE '%/2022-03-27') > 0 AS spring_day_queued,
       count(*) FILTER (WHERE q LIKE '%/2022-10-30') > 0 AS autumn_day_queued
FROM public.direct_result, unnest(queued) q WHERE side = 'b';

-- the same readings (site, meter, instant, value, label, file) on both sides
WITH r AS (
    SELECT s.org, s.name AS site, m.name AS meter, r.ts, r.quantity, r.quality, r.method, f.name AS file, r.tableoid::regclass::text AS part
    FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    JOIN car.source_file f ON f.id = r.file_id WHERE s.org IN ('DirA', 'DirB'))
SELECT (SELECT count(*) FROM r WHERE org = 'DirA') AS readings_a, (SELECT count(*) FROM r WHERE org = 'DirB') AS readings_b,
       (SELECT count(*) FROM ((SELECT site, meter, ts, quantity, quality, method, file, part FROM r WHERE org = 'DirA'
                               EXCEPT SELECT site, meter, ts, quantity, quality, method, file, part FROM r WHERE org = 'DirB')
                              UNION ALL
                              (SELECT site, meter, ts, quantity, quality, method, file, part FROM r WHERE org = 'DirB'
                               EXCEPT SELECT site, meter, ts, quantity, quality, method, file, part FROM r WHERE org = 'DirA')) d) AS differing,
       (SELECT array_agg(DISTINCT part ORDER BY part) FROM r) AS partitions,
       (SELECT count(*) FROM r WHERE method IS NOT NULL) AS with_method;
-- the change feed: per site, the same readings counted, span and kg CO2e
SELECT s.name, count(DISTINCT s.org) AS orgs,
       count(DISTINCT (c.rows, c.first_period, c.last_period, round(c.kg_co2e::numeric, 6))) AS distinct_figures
FROM car.change c JOIN car.site s ON s.id = c.site_id WHERE s.org IN ('DirA', 'DirB')
GROUP BY s.name ORDER BY s.name;

-- Row-level security of car.reading holds on both paths, as for an INSERT: a policy
-- whose check is a function of meter_id and ts (car's own: car.meter_visible_at(meter_id, ts);
-- here also one taking (ts, meter_id)) is applied to every reading COPYed, and
-- a policy of any other shape sends the file through INSERT, where PostgreSQL applies it.
CREATE ROLE car_test_direct IN ROLE car_ingest;
CREATE FUNCTION public.direct_before_2022_11(ts timestamptz, meter_id int) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$ SELECT ts < '2022-11-01' $$;
CREATE POLICY direct_before_nov ON car.reading AS RESTRICTIVE FOR INSERT TO car_test_direct
    WITH CHECK (public.direct_before_2022_11(ts, meter_id));
SET ROLE car_test_direct;
-- a new file with a reading of November 2022: refused whole (direct path)
SELECT status FROM car.push('direct-b', 'rls1.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-10-31 23:30:00,1\nS9,M9,2022-11-01 00:00:00,2\n', 'UTF8'));
-- one of October only: loaded
SELECT status, rows_loaded FROM car.push('direct-b', 'rls2.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-10-31 23:30:00,1\n', 'UTF8'));
RESET ROLE;
-- through car.reading (a user's trigger): refused as well
CREATE TRIGGER direct_noop AFTER INSERT ON car.reading FOR EACH STATEMENT EXECUTE FUNCTION public.direct_noop();
SET ROLE car_test_direct;
SELECT status FROM car.push('direct-b', 'rls3.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-11-02 00:00:00,2\n', 'UTF8'));
RESET ROLE;
DROP TRIGGER direct_noop ON car.reading;
-- a policy of another shape (a constant): the file goes through INSERT, which refuses it
\set VERBOSITY terse
CREATE POLICY direct_none ON car.reading AS RESTRICTIVE FOR INSERT TO car_test_direct WITH CHECK (false);
SET ROLE car_test_direct;
SELECT status FROM car.push('direct-b', 'rls4.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-10-01 00:00:00,2\n', 'UTF8'));
RESET ROLE;
SELECT count(*) AS s9_readings FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.org = 'DirB' AND s.name = 'S9';
DROP POLICY direct_none ON car.reading;
DROP POLICY direct_before_nov ON car.reading;
\set VERBOSITY default

-- An error as a query raises it: SQLSTATE, message and the context lines COPY and car add
-- (those of PL/pgSQL and of the statements run left out)
CREATE FUNCTION public.direct_error(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    ctx text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ': ' || msg || coalesce(' | ' || (SELECT string_agg(l, ' | ') FROM regexp_split_to_table(ctx, E'\n') l
                                                   WHERE l ~ '^(COPY |")'), '');
END $$;

-- A policy check that returns NULL refuses the reading, as PostgreSQL's INSERT counts a NULL
-- WITH CHECK result as failed: 42501 and the same message on the COPY paths as from an INSERT
CREATE FUNCTION public.direct_unknown(meter_id int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE POLICY direct_null ON car.reading AS RESTRICTIVE FOR INSERT TO car_test_direct WITH CHECK (public.direct_unknown(meter_id));
SET ROLE car_test_direct;
SELECT public.direct_error($q$INSERT INTO car.reading (meter_id, ts, quantity)
    SELECT m.id, '2022-10-01 00:00+00', 2 FROM car.meter m JOIN car.site s ON s.id = m.site_id
    WHERE s.org = 'DirB' AND s.name = 'S9' AND m.name = 'M9'$q$) AS insert;
SELECT public.direct_error($q$SELECT car.push('direct-b', 'null1.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-10-01 00:00:00,2\n', 'UTF8'))$q$) AS direct_path;
RESET ROLE;
CREATE TRIGGER direct_noop AFTER INSERT ON car.reading FOR EACH STATEMENT EXECUTE FUNCTION public.direct_noop();
SET ROLE car_test_direct;
SELECT public.direct_error($q$SELECT car.push('direct-b', 'null2.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-10-01 00:00:00,2\n', 'UTF8'))$q$) AS through_reading;
RESET ROLE;
DROP TRIGGER direct_noop ON car.reading;
DROP POLICY direct_null ON car.reading;

-- An error while COPY writes a row names the file's line.  Line 5 breaks a CHECK of
-- car.reading; on the direct path it is the second row of the COPY into October's partition
-- (lines 3 and 5; lines 2 and 4 go to September's), so COPY's own context says line 2
ALTER TABLE car.reading ADD CONSTRAINT direct_not_huge CHECK (quantity < 1000000);
SELECT public.direct_error($q$SELECT car.push('direct-b', 'ctx1.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\n'
    'S9,M9,2022-09-03 00:00:00,1\nS9,M9,2022-10-03 00:00:00,2\nS9,M9,2022-09-03 00:30:00,3\nS9,M9,2022-10-03 00:30:00,2000000\n', 'UTF8'))$q$) AS direct_path;
-- through car.reading (a user's trigger): one COPY of every row, line 5 its fourth row
CREATE TRIGGER direct_noop AFTER INSERT ON car.reading FOR EACH STATEMENT EXECUTE FUNCTION public.direct_noop();
SELECT public.direct_error($q$SELECT car.push('direct-b', 'ctx2.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\n'
    'S9,M9,2022-09-03 00:00:00,1\nS9,M9,2022-10-03 00:00:00,2\nS9,M9,2022-09-03 00:30:00,3\nS9,M9,2022-10-03 00:30:00,2000000\n', 'UTF8'))$q$) AS through_reading;
DROP TRIGGER direct_noop ON car.reading;
ALTER TABLE car.reading DROP CONSTRAINT direct_not_huge;

-- Rules of car.reading (only its owner can make one) are applied as an INSERT applies them:
-- COPY leaves rules out, so a file under them goes through a plain INSERT
CREATE TABLE public.direct_rule_log (meter_id int, ts timestamptz, quantity float8);
CREATE RULE direct_log AS ON INSERT TO car.reading DO ALSO
    INSERT INTO public.direct_rule_log VALUES (NEW.meter_id, NEW.ts, NEW.quantity);
SELECT status, rows_loaded FROM car.push('direct-b', 'rule1.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\n'
    'S9,M9,2022-09-04 00:00:00,1\nS9,M9,2022-09-04 00:30:00,2\nS9,M9,2022-10-04 00:00:00,3\n', 'UTF8'));
-- the rule saw the three readings (1 + 2 + 3 = 6 kWh), each as stored
SELECT count(*) AS logged, sum(quantity) AS kwh,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM car.reading r WHERE r.meter_id = l.meter_id AND r.ts = l.ts AND r.quantity = l.quantity)) AS as_stored
FROM public.direct_rule_log l;
-- a file overlapping stored readings needs INSERT ... ON CONFLICT, which PostgreSQL refuses under rules
SELECT public.direct_error($q$SELECT car.push('direct-b', 'rule2.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-09-04 00:00:00,5\n', 'UTF8'))$q$) AS overlapping;
DROP RULE direct_log ON car.reading;
DROP TABLE public.direct_rule_log;
\set VERBOSITY terse

-- A CHECK constraint of car.reading holds on its partitions on the direct path
ALTER TABLE car.reading ADD CONSTRAINT direct_not_huge CHECK (quantity < 1000000);
SELECT status FROM car.push('direct-b', 'big.csv', convert_to(E'Site,Meter,ReadDatetime,kWh\nS9,M9,2022-09-01 00:00:00,2000000\n', 'UTF8'));
ALTER TABLE car.reading DROP CONSTRAINT direct_not_huge;
\set VERBOSITY default

-- put things back: no readings of these organisations, the partitions as they were
DELETE FROM car.reading r USING car.meter m JOIN car.site s ON s.id = m.site_id
WHERE r.meter_id = m.id AND s.org IN ('DirA', 'DirB');
DELETE FROM car.refresh_queue q USING car.meter m JOIN car.site s ON s.id = m.site_id
WHERE q.meter_id = m.id AND s.org IN ('DirA', 'DirB');
DELETE FROM car.change c USING car.site s WHERE s.id = c.site_id AND s.org IN ('DirA', 'DirB');
DELETE FROM car.meter m USING car.site s WHERE s.id = m.site_id AND s.org IN ('DirA', 'DirB');
DELETE FROM car.site WHERE org IN ('DirA', 'DirB');
DELETE FROM car.source WHERE name IN ('direct-a', 'direct-b');
ALTER TABLE car.reading DETACH PARTITION public.direct_aug;
DROP TABLE public.direct_aug;
ALTER TABLE car.reading ATTACH PARTITION car.reading_p202208 FOR VALUES FROM ('2022-08-01 00:00+00') TO ('2022-09-01 00:00+00');
ALTER TABLE car.reading ATTACH PARTITION car.reading_p202206 FOR VALUES FROM ('2022-06-01 00:00+00') TO ('2022-07-01 00:00+00');
DROP TRIGGER direct_keep ON car.reading_p202207;
DROP FUNCTION public.direct_keep(), public.direct_noop(), public.direct_file(int, int), public.direct_before_2022_11(timestamptz, int),
    public.direct_error(text), public.direct_unknown(int);
DROP TABLE public.direct_result;
DROP ROLE car_test_direct;
RESET track_functions;
RESET client_min_messages;
