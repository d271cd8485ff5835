-- Benchmark of tokens and row-level security (issue 6).  Run by bench/run.sh
-- in a database of its own, with psql variables made with the openssl
-- command line (test/jwt/mktoken.py), never with car: hs_key (a file holding
-- the HS256 secret), rs_pub (the RS256 public key, PEM), tok_hs and tok_rs
-- (tokens of the same claims, org A, signed with them).  Prints key|value lines.
--   (a) car.verify_jwt calls per second on one backend, HS256 and RS256,
--       against the same loop calling length() (and md5()) on the same token;
--   (b) car.report_monthly for one organisation over 3 years, as a member of
--       car_admin and as a car_reader whose token grants that organisation
--       (row-level security filtering), and through car.report_monthly_for().
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET TimeZone = 'Europe/London';
CREATE EXTENSION IF NOT EXISTS car;
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'

INSERT INTO car.jwt_key (kid, alg, key) VALUES
    ('bench-hs', 'HS256', pg_read_file(:'hs_key')),
    ('bench-rs', 'RS256', pg_read_file(:'rs_pub'));

-------------------------------------------------------------------------------
-- (a) verify_jwt throughput.  The token comes from a table, so the call is
-- made on every row (verify_jwt is VOLATILE anyway: never folded).
-------------------------------------------------------------------------------
CREATE TEMP TABLE tok (alg text PRIMARY KEY, t text NOT NULL);
INSERT INTO tok VALUES ('HS256', :'tok_hs'), ('RS256', :'tok_rs');
ANALYZE tok;
SELECT 'claims_hs', car.verify_jwt(t)::text FROM tok WHERE alg = 'HS256';
SELECT 'claims_rs', car.verify_jwt(t)::text FROM tok WHERE alg = 'RS256';
SELECT 'token_bytes_hs', length(t) FROM tok WHERE alg = 'HS256';
SELECT 'token_bytes_rs', length(t) FROM tok WHERE alg = 'RS256';

-- seconds for n calls of expr over the token (t) of alg, in one statement
CREATE FUNCTION pg_temp.loop_seconds(expr text, alg text, n bigint) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    c bigint;
BEGIN
    t0 := clock_timestamp();
    EXECUTE format('SELECT count(%s) FROM (SELECT t FROM pg_temp.tok WHERE alg = %L) k CROSS JOIN generate_series(1, %s)',
                   expr, alg, n) INTO c;
    IF c <> n THEN
        RAISE EXCEPTION '% returned % values of %', expr, c, n;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
-- calls for about secs seconds (from a short trial after a warm-up), at least lo
CREATE FUNCTION pg_temp.calls_for(expr text, alg text, secs float8, lo bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    trial bigint := 2000;
    s float8;
BEGIN
    PERFORM pg_temp.loop_seconds(expr, alg, trial);
    s := pg_temp.loop_seconds(expr, alg, trial);
    RETURN greatest(lo, round(secs * trial / greatest(s, 1e-6) / 1000) * 1000)::bigint;
END $$;
SELECT pg_temp.calls_for('car.verify_jwt(t)', 'HS256', 2.0, 20000) AS n_hs \gset
SELECT pg_temp.calls_for('car.verify_jwt(t)', 'RS256', 2.0, 2000) AS n_rs \gset
SELECT 'verify_hs_calls', :n_hs;
SELECT 'verify_rs_calls', :n_rs;
-- five rounds, each timing every loop once (the baselines make as many calls as HS256)
CREATE FUNCTION pg_temp.verify_rounds(rounds int, n_hs bigint, n_rs bigint) RETURNS TABLE (k text, v float8)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. rounds LOOP
        k := 'verify_hs_' || i; v := pg_temp.loop_seconds('car.verify_jwt(t)', 'HS256', n_hs); RETURN NEXT;
        k := 'verify_rs_' || i; v := pg_temp.loop_seconds('car.verify_jwt(t)', 'RS256', n_rs); RETURN NEXT;
        k := 'base_length_' || i; v := pg_temp.loop_seconds('length(t)', 'HS256', n_hs); RETURN NEXT;
        k := 'base_md5_' || i; v := pg_temp.loop_seconds('md5(t)', 'HS256', n_hs); RETURN NEXT;
    END LOOP;
END $$;
SELECT k, v FROM pg_temp.verify_rounds(5, :n_hs, :n_rs);

-------------------------------------------------------------------------------
-- (b) row-level security on a report over 3 years: 3 organisations (A, B, C)
-- of 10 sites, each of 7 electricity and 3 natural gas meters (kWh),
-- half-hourly 2021-01-01 .. 2023-12-31 UK time, as bench/refresh.sql.
-------------------------------------------------------------------------------
INSERT INTO car.site (name, org, floor_area_m2)
SELECT format('Site %s', s), chr(ascii('A') + (s - 1) / 10), 1000 + 150 * s FROM generate_series(1, 30) s;
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT s.id, format('M%s', k), CASE WHEN k <= 7 THEN 'electricity' ELSE 'natural_gas' END, 'kWh'
FROM car.site s CROSS JOIN generate_series(1, 10) k
ORDER BY s.id, k;
SELECT count(*) FROM (SELECT car.load_factors(y) FROM generate_series(2021, 2023) y) s \g /dev/null
SELECT car.ensure_partitions('2021-01-01 00:00 Europe/London', '2023-12-31 00:00 Europe/London') \g /dev/null

-- one INSERT (and commit) a month, through car's change-tracking triggers
CREATE FUNCTION pg_temp.insert_readings(lo timestamptz, hi timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO car.reading (meter_id, ts, quantity)
    SELECT m.id, g.t,
           ((1 + m.id % 5) * CASE WHEN (g.i - 1) % 48 BETWEEN 14 AND 38 THEN 1.0::float8 ELSE 0.4::float8 END
            + ((m.id * 31 + g.i * 17) % 23) / 20.0::float8)
           * CASE WHEN m.activity = 'natural_gas' THEN 2.0::float8 ELSE 1.0::float8 END
    FROM car.meter m
    CROSS JOIN generate_series(lo, hi - interval '30 minutes', interval '30 minutes') WITH ORDINALITY g(t, i);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
SELECT clock_timestamp() AS t0 \gset
\o /dev/null
SELECT format('SELECT pg_temp.insert_readings(%L, %L)',
              d::timestamp AT TIME ZONE 'Europe/London', (d + interval '1 month')::timestamp AT TIME ZONE 'Europe/London')
FROM generate_series('2021-01-01'::timestamp, '2023-12-01', interval '1 month') d
ORDER BY d \gexec
\o
VACUUM ANALYZE car.reading;
SELECT car.refresh(true) AS days \gset
VACUUM ANALYZE car.emission_daily;
ANALYZE car.site;
SELECT 'load_seconds', round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1);
SELECT 'readings', count(*) FROM car.reading;
SELECT 'refreshed_days', :days;
SELECT 'emission_rows', count(*) FROM car.emission_daily;
SELECT 'emission_rows_a', count(*) FROM car.emission_daily e JOIN car.site s ON s.id = e.site_id WHERE s.org = 'A';

-- the roles: an analyst (car_reader, sees what its token grants) and an
-- administrator (car_admin, sees every organisation; row-level security
-- still applies to it, its policies pass every row)
SELECT car.grant_roles() \g /dev/null
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst') THEN
        CREATE ROLE analyst LOGIN IN ROLE car_reader;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'auditor_admin') THEN
        CREATE ROLE auditor_admin LOGIN IN ROLE car_admin;
    END IF;
END $$;

-- Time one query, as role (NULL: this superuser, whom row-level security
-- does not apply to), planning included; its result as text.
CREATE FUNCTION pg_temp.run_as(who text, query text, OUT seconds float8, OUT result text) LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    IF who IS NULL THEN
        RESET ROLE;
    ELSE
        EXECUTE format('SET ROLE %I', who);
    END IF;
    t0 := clock_timestamp();
    EXECUTE query INTO result;
    seconds := extract(epoch FROM clock_timestamp() - t0);
    RESET ROLE;
END $$;
-- the lines of a query's plan, as role
CREATE FUNCTION pg_temp.plan_as(who text, query text, options text DEFAULT 'COSTS OFF') RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    IF who IS NOT NULL THEN
        EXECUTE format('SET ROLE %I', who);
    END IF;
    FOR line IN EXECUTE format('EXPLAIN (%s) %s', options, query) LOOP
        RETURN NEXT line;
    END LOOP;
    RESET ROLE;
END $$;

-- without a token the analyst sees no row
SELECT 'rows_analyst_no_token', (pg_temp.run_as('analyst', 'SELECT count(*) FROM car.report_monthly')).result;
-- the analyst's session claims: org A (car.authenticate, as the analyst)
SET ROLE analyst;
SELECT 'authenticated', car.authenticate(:'tok_hs')::text;
RESET ROLE;

\set report 'SELECT count(*) || '' rows, '' || sum(meters) || '' meter-months, '' || round(sum(quantity)::numeric, 3) || '' kWh, '' || round(sum(kg_co2e)::numeric, 3) || '' kg CO2e'' FROM car.report_monthly WHERE organisation = ''A'''
SELECT format('SELECT count(*) || '' rows, '' || sum(meters) || '' meter-months, '' || round(sum(quantity)::numeric, 3) || '' kWh, '' || round(sum(kg_co2e)::numeric, 3) || '' kg CO2e'' FROM car.report_monthly_for(%L)', :'tok_hs') AS report_for \gset
-- the same rows, each of them (rounded to 6 decimals), in one digest
\set digest 'SELECT md5(string_agg(format(''%s|%s|%s|%s|%s|%s|%s|%s|%s|%s'', organisation, site_id, month, activity, unit, round(quantity::numeric, 6), round(kg_co2e::numeric, 6), meters, days_with_data, factor_years), E''\n'' ORDER BY site_id, month, activity)) FROM car.report_monthly WHERE organisation = ''A'''
SELECT replace(:'digest', 'FROM car.report_monthly WHERE organisation = ''A''', format('FROM car.report_monthly_for(%L)', :'tok_hs')) AS digest_for \gset

SELECT 'result_admin', (pg_temp.run_as('auditor_admin', :'report')).result;
SELECT 'result_analyst', (pg_temp.run_as('analyst', :'report')).result;
SELECT 'result_superuser', (pg_temp.run_as(NULL, :'report')).result;
SELECT 'result_for', (pg_temp.run_as('analyst', :'report_for')).result;
SELECT 'result_analyst_all', (pg_temp.run_as('analyst', 'SELECT count(*) || '' rows, all of organisation '' || string_agg(DISTINCT organisation, '', '') FROM car.report_monthly')).result;
SELECT 'digest_admin', (pg_temp.run_as('auditor_admin', :'digest')).result;
SELECT 'digest_analyst', (pg_temp.run_as('analyst', :'digest')).result;
SELECT 'digest_superuser', (pg_temp.run_as(NULL, :'digest')).result;
SELECT 'digest_for', (pg_temp.run_as('analyst', :'digest_for')).result;

-- rounds of the four, interleaved, after a warm-up round
CREATE FUNCTION pg_temp.report_rounds(rounds int, report text, report_for text) RETURNS TABLE (k text, v float8)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 0 .. rounds LOOP
        k := 'rls_admin_' || i; v := (pg_temp.run_as('auditor_admin', report)).seconds; IF i > 0 THEN RETURN NEXT; END IF;
        k := 'rls_analyst_' || i; v := (pg_temp.run_as('analyst', report)).seconds; IF i > 0 THEN RETURN NEXT; END IF;
        k := 'rls_superuser_' || i; v := (pg_temp.run_as(NULL, report)).seconds; IF i > 0 THEN RETURN NEXT; END IF;
        k := 'rls_for_' || i; v := (pg_temp.run_as('analyst', report_for)).seconds; IF i > 0 THEN RETURN NEXT; END IF;
    END LOOP;
END $$;
SELECT k, v FROM pg_temp.report_rounds(15, :'report', :'report_for');

-- rows of car.emission_daily that reach the join (the Append over its
-- partitions, from EXPLAIN ANALYZE), as role
CREATE FUNCTION pg_temp.append_rows(who text, query text) RETURNS bigint LANGUAGE sql AS $$
    SELECT (regexp_match(l, 'rows=([0-9]+)'))[1]::bigint
    FROM pg_temp.plan_as(who, query, 'ANALYZE, COSTS OFF, TIMING OFF') WITH ORDINALITY p(l, n)
    WHERE l ~ '->  Append' ORDER BY n LIMIT 1
$$;
SELECT 'append_rows_admin', pg_temp.append_rows('auditor_admin', :'report');
SELECT 'append_rows_analyst', pg_temp.append_rows('analyst', :'report');
SELECT 'append_rows_superuser', pg_temp.append_rows(NULL, :'report');
SELECT 'emission_partitions', count(*) FROM pg_inherits WHERE inhparent = 'car.emission_daily'::regclass;
-- the analyst's plan; then EXPLAIN ANALYZE of one run as each (for reading, not reported)
SELECT 'plan_analyst', l FROM pg_temp.plan_as('analyst', :'report') l;
SELECT 'analyze_admin', l FROM pg_temp.plan_as('auditor_admin', :'report', 'ANALYZE, BUFFERS') l;
SELECT 'analyze_analyst', l FROM pg_temp.plan_as('analyst', :'report', 'ANALYZE, BUFFERS') l;
SELECT 'analyze_superuser', l FROM pg_temp.plan_as(NULL, :'report', 'ANALYZE, BUFFERS') l;
