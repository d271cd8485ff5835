-- The privilege matrix: for PUBLIC and every role car documents, and every
-- table, view, sequence, function and the schema of car, the privileges the
-- role holds (through its memberships too), read from the catalogue.  Any
-- new grant shows here as a difference.  Letters as in PostgreSQL's ACLs:
-- r SELECT, a INSERT, w UPDATE, d DELETE, D TRUNCATE, x REFERENCES,
-- t TRIGGER; U USAGE (schema, sequence), C CREATE; X EXECUTE; w(col, ...)
-- UPDATE of those columns only; - nothing.  Runs after the tests that make
-- partitions, sources and roles (and before worker, which drops car).
SET client_min_messages = warning;
SELECT car.grant_roles() IS NOT NULL AS granted;  -- as an administrator runs it after any update
RESET client_min_messages;

CREATE TEMP TABLE matrix_role (role text, position int);
INSERT INTO matrix_role VALUES ('public', 1), ('car_reader', 2), ('car_auditor', 3), ('car_ingest', 4),
    (current_setting('car.worker_role'), 5), ('car_admin', 6);

-- what a role holds on one relation
CREATE FUNCTION pg_temp.rel_privs(role text, rel oid) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(nullif(
        CASE WHEN c.relkind = 'S' THEN
                 concat(CASE WHEN has_sequence_privilege(role, rel, 'USAGE') THEN 'U' END,
                        CASE WHEN has_sequence_privilege(role, rel, 'SELECT') THEN 'r' END,
                        CASE WHEN has_sequence_privilege(role, rel, 'UPDATE') THEN 'w' END)
             ELSE
                 concat(CASE WHEN has_table_privilege(role, rel, 'SELECT') THEN 'r' END,
                        CASE WHEN has_table_privilege(role, rel, 'INSERT') THEN 'a' END,
                        CASE WHEN has_table_privilege(role, rel, 'UPDATE') THEN 'w'
                             ELSE (SELECT 'w(' || string_agg(a.attname, ',' ORDER BY a.attnum) || ')'
                                   FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                                   AND has_column_privilege(role, rel, a.attnum, 'UPDATE')) END,
                        CASE WHEN has_table_privilege(role, rel, 'DELETE') THEN 'd' END,
                        CASE WHEN has_table_privilege(role, rel, 'TRUNCATE') THEN 'D' END,
                        CASE WHEN has_table_privilege(role, rel, 'REFERENCES') THEN 'x' END,
                        CASE WHEN has_table_privilege(role, rel, 'TRIGGER') THEN 't' END)
        END, ''), '-')
    FROM pg_class c WHERE c.oid = rel
$$;

-- the schema
SELECT r.role, concat(CASE WHEN has_schema_privilege(r.role, 'car', 'USAGE') THEN 'U' END,
                      CASE WHEN has_schema_privilege(r.role, 'car', 'CREATE') THEN 'C' END) AS schema_car
FROM matrix_role r ORDER BY r.position;

-- tables, views and sequences (partitions apart, below)
SELECT c.relname AS object,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' END AS kind,
       max(pg_temp.rel_privs(r.role, c.oid)) FILTER (WHERE r.position = 1) AS public,
       max(pg_temp.rel_privs(r.role, c.oid)) FILTER (WHERE r.position = 2) AS reader,
       max(pg_temp.rel_privs(r.role, c.oid)) FILTER (WHERE r.position = 3) AS auditor,
       max(pg_temp.rel_privs(r.role, c.oid)) FILTER (WHERE r.position = 4) AS ingest,
       max(pg_temp.rel_privs(r.role, c.oid)) FILTER (WHERE r.position = 5) AS worker,
       max(pg_temp.rel_privs(r.role, c.oid)) FILTER (WHERE r.position = 6) AS admin
FROM pg_class c CROSS JOIN matrix_role r
WHERE c.relnamespace = 'car'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S') AND NOT c.relispartition
GROUP BY c.relname, c.relkind ORDER BY kind, c.relname COLLATE "C";

-- partitions, default ones included: read through their parent only, whose
-- row-level security a partition would bypass, so nobody holds anything
SELECT p.inhparent::regclass AS parent, count(DISTINCT p.inhrelid) > 1 AS several_partitions,
       string_agg(DISTINCT pg_temp.rel_privs(r.role, p.inhrelid), ',') AS privileges_held
FROM pg_inherits p CROSS JOIN matrix_role r
WHERE p.inhparent IN ('car.reading'::regclass, 'car.emission_daily'::regclass)
GROUP BY p.inhparent ORDER BY 1;

-- functions
SELECT p.oid::regprocedure AS function,
       string_agg(CASE WHEN has_function_privilege(r.role, p.oid, 'EXECUTE') THEN 'X' ELSE '-' END, ' ' ORDER BY r.position)
           AS "public reader auditor ingest worker admin"
FROM pg_proc p CROSS JOIN matrix_role r
WHERE p.pronamespace = 'car'::regnamespace
GROUP BY p.oid ORDER BY p.oid::regprocedure::text COLLATE "C";

-- SECURITY DEFINER functions: what runs with the owner's rights, and with what search_path
SELECT p.oid::regprocedure AS function, p.proconfig AS settings
FROM pg_proc p WHERE p.pronamespace = 'car'::regnamespace AND p.prosecdef ORDER BY 1;

-- settings: who may change each (user: any role; superuser: superusers only;
-- sighup, postmaster: the server's configuration)
SELECT name, context FROM pg_settings WHERE name LIKE 'car.%' ORDER BY name;

-- role attributes: none of car's roles is a superuser or bypasses row-level
-- security; only the worker role logs in (pg_cron's workers log in as it)
SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcanlogin, r.rolcreaterole, r.rolcreatedb,
       coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m
                 JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '') AS member_of
FROM pg_roles r JOIN matrix_role mr ON mr.role = r.rolname ORDER BY mr.position;

-- The role that refreshes cannot make up the market-based allocation: it
-- holds no write on car.market_allocation or car.instrument_applied, nor
-- UPDATE of the market columns of car.emission_daily (car.refresh() writes
-- them as the tables' owner, src/market.c), and car.refresh() still works
-- for it.
SELECT set_config('role', current_setting('car.worker_role'), false) IS NOT NULL AS as_worker;
\set VERBOSITY terse
INSERT INTO car.market_allocation (meter_id, day, month, site_id, org, matching, basis, kwh, kg_co2e)
VALUES (1, '2021-06-01', '2021-06-01', 1, 'x', 'annual', 'certificate', 1000000, 0);
DELETE FROM car.market_allocation;
INSERT INTO car.instrument_applied (instrument_id, matching, org, kwh, meter_days, first_day, last_day)
VALUES (1, 'annual', 'x', 1000000, 1, '2021-06-01', '2021-06-01');
DELETE FROM car.instrument_applied;
UPDATE car.emission_daily SET kg_co2e_market = 0;
\set VERBOSITY default
-- (days earlier files left unpriced only warn)
SET client_min_messages = error;
SELECT car.refresh() IS NOT NULL AS refreshed_as_worker;
RESET client_min_messages;
RESET ROLE;
