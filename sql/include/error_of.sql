-- pg_temp.error_of(q): runs q and shows the error it raises ('no error' when
-- none), for the tests to print refusals in full: the SQLSTATE (unless
-- car_test.error_state is off), the message, the detail (unless
-- car_test.error_detail is off) and the hint.  With car_test.error_now on, a
-- time of this run (now, or when something was signed) shows as <now>; the
-- fixtures' folder (car_test.fixtures) shows as $FIXTURES.
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s text; m text; d text; h text; r text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    r := concat_ws(E'\n',
                   CASE WHEN current_setting('car_test.error_state', true) = 'off' THEN 'ERROR: ' ELSE 'ERROR ' || s || ': ' END || m,
                   CASE WHEN current_setting('car_test.error_detail', true) IS DISTINCT FROM 'off' THEN 'DETAIL: ' || nullif(d, '') END,
                   'HINT: ' || nullif(h, ''));
    IF current_setting('car_test.error_now', true) = 'on' THEN
        r := regexp_replace(r, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?(\+\d\d| UTC)', '<now>', 'g');
    END IF;
    IF coalesce(current_setting('car_test.fixtures', true), '') <> '' THEN
        r := replace(r, current_setting('car_test.fixtures'), '$FIXTURES');
    END IF;
    RETURN r;
END $$;
