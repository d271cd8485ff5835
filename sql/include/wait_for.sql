-- :wait_schema.wait_for(cond, timeout_s): polls the boolean query cond every
-- 0.2 s until it is true (true), or warns and gives up after timeout_s
-- seconds (false): for tests waiting on the background worker.  The file
-- that reads this names the schema (\set wait_schema ...).
CREATE FUNCTION :wait_schema.wait_for(cond text, timeout_s int DEFAULT 60) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
    t0 timestamptz := clock_timestamp();
BEGIN
    LOOP
        EXECUTE cond INTO ok;
        IF ok THEN RETURN true; END IF;
        IF clock_timestamp() - t0 > make_interval(secs => timeout_s) THEN
            RAISE WARNING 'timed out after % s waiting for: %', timeout_s, cond;
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
