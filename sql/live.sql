-- Live data: car.simulate(), car.live and car.live_json() (notifications: specs/notify.spec)
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;

SELECT name, activity, unit FROM car.simulate_setup(2, 4, 'Sim test') ORDER BY name;
SELECT array_agg(m.id ORDER BY m.id) AS meters FROM car.meter m JOIN car.site s ON s.id = m.site_id WHERE s.org = 'Sim test' \gset
SELECT count(*) = 8 AS setup_again_reuses FROM car.simulate_setup(2, 4, 'Sim test');

-- 1. The same seed gives the same rows; another seed others; a row does not
--    depend on the range asked for.
SELECT (SELECT md5(string_agg(format('%s %s %s', meter_id, ts, quantity), ',' ORDER BY meter_id, ts))
        FROM car.simulate(:'meters', '2024-01-01', '2024-01-08', '30 minutes', 7))
     = (SELECT md5(string_agg(format('%s %s %s', meter_id, ts, quantity), ',' ORDER BY meter_id, ts))
        FROM car.simulate(:'meters', '2024-01-01', '2024-01-08', '30 minutes', 7)) AS same_seed_same_rows,
       (SELECT md5(string_agg(format('%s %s %s', meter_id, ts, quantity), ',' ORDER BY meter_id, ts))
        FROM car.simulate(:'meters', '2024-01-01', '2024-01-08', '30 minutes', 7))
     <> (SELECT md5(string_agg(format('%s %s %s', meter_id, ts, quantity), ',' ORDER BY meter_id, ts))
        FROM car.simulate(:'meters', '2024-01-01', '2024-01-08', '30 minutes', 8)) AS other_seed_other_rows;
SELECT count(*) AS differences FROM (
    (SELECT * FROM car.simulate(:'meters', '2024-01-01', '2024-01-08', '30 minutes', 7)
     EXCEPT (SELECT * FROM car.simulate(:'meters', '2024-01-01', '2024-01-03 13:00', '30 minutes', 7)
             UNION ALL SELECT * FROM car.simulate(:'meters', '2024-01-03 13:00', '2024-01-08', '30 minutes', 7)))
    UNION ALL
    (SELECT * FROM car.simulate(:'meters', '2024-01-01', '2024-01-03 13:00', '30 minutes', 7)
     UNION ALL SELECT * FROM car.simulate(:'meters', '2024-01-03 13:00', '2024-01-08', '30 minutes', 7)
     EXCEPT SELECT * FROM car.simulate(:'meters', '2024-01-01', '2024-01-08', '30 minutes', 7))) d;
-- on the grid, inside [from, to), and about one period in 200 missing
SELECT count(*) FILTER (WHERE extract(epoch FROM ts)::bigint % 1800 <> 0) AS off_grid,
       count(*) FILTER (WHERE ts < '2024-01-01' OR ts >= '2024-02-01') AS outside,
       count(*) BETWEEN 8 * 31 * 48 * 0.99 AND 8 * 31 * 48 * 0.999 AS about_half_a_percent_missing
FROM car.simulate(:'meters', '2024-01-01', '2024-02-01', '30 minutes', 7);
-- quantities scale with the step: a day at 10-second steps sums near a day at 30 minutes
SELECT round(((SELECT sum(quantity) FROM car.simulate(:'meters', '2024-01-10', '2024-01-11', '10 seconds', 7))
           / (SELECT sum(quantity) FROM car.simulate(:'meters', '2024-01-10', '2024-01-11', '30 minutes', 7)))::numeric, 2) AS ratio;
SELECT car.simulate(ARRAY[999999], '2024-01-01', '2024-01-02');
SELECT car.simulate(:'meters', '2024-01-01', '2024-01-02', '1 day 1 hour');

-- 2. The output goes straight into car.reading.
INSERT INTO car.reading SELECT * FROM car.simulate(:'meters', '2023-01-01 00:00 Europe/London', '2024-01-01 00:00 Europe/London', '30 minutes', 7);
SELECT count(*) = (SELECT count(*) FROM car.simulate(:'meters', '2023-01-01 00:00 Europe/London', '2024-01-01 00:00 Europe/London', '30 minutes', 7)) AS all_inserted
FROM car.reading WHERE meter_id = ANY (:'meters');

-- 3. Totals fall in the ranges the profiles promise (see car.simulate's comment):
--    electricity: night base B in 5-40 kW, weekday peak B x 2-4 08:00-18:00
--    (ramps 07-08, 18-19), weekends B x 1.3 10:00-16:00, noise +-10%:
--    a weekday is B (24 + 11 (peak - 1)): 175 .. 2,280 kWh (+-10%), a weekend
--    day 25.8 B: 129 .. 1,032 kWh (+-10%); water: a weekday 12 x (0.5..3) +
--    12 x (0.05..0.3) m3 = 6.6 .. 39.6 m3 (+-10%).
CREATE TEMP TABLE sim_days AS
SELECT r.meter_id, m.activity, (r.ts AT TIME ZONE 'Europe/London')::date AS day, sum(r.quantity) AS total, count(*) AS n
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
WHERE r.meter_id = ANY (:'meters')
GROUP BY 1, 2, 3;
SELECT activity, extract(isodow FROM day) >= 6 AS weekend,
       count(*) AS days,
       bool_and(total BETWEEN CASE activity WHEN 'electricity' THEN CASE WHEN extract(isodow FROM day) >= 6 THEN 129 ELSE 175 END * 0.9
                                            WHEN 'water_supply' THEN 6.6 * 0.9 END * (n / 48.0) * 0.98
                          AND CASE activity WHEN 'electricity' THEN CASE WHEN extract(isodow FROM day) >= 6 THEN 1032 ELSE 2280 END * 1.1
                                            WHEN 'water_supply' THEN 39.6 * 1.1 END) AS in_range
FROM sim_days WHERE activity IN ('electricity', 'water_supply') AND n >= 46
  AND (activity = 'electricity' OR extract(isodow FROM day) < 6)
GROUP BY 1, 2 ORDER BY 1, 2;
-- gas follows the season: every meter's January days use over twice its July days
SELECT bool_and(jan > 2 * jul) AS winter_over_twice_summer
FROM (SELECT meter_id, avg(total) FILTER (WHERE extract(month FROM day) = 1) AS jan,
             avg(total) FILTER (WHERE extract(month FROM day) = 7) AS jul
      FROM sim_days WHERE activity = 'natural_gas' GROUP BY 1) g;
-- weekday and weekend daytime (10:00-16:00) means differ as designed: peak / 1.3, 1.54 .. 3.08
SELECT bool_and(ratio BETWEEN 1.54 * 0.9 AND 3.08 * 1.1) AS daytime_ratio_as_designed, count(*) AS meters
FROM (SELECT r.meter_id,
             avg(r.quantity) FILTER (WHERE extract(isodow FROM r.ts AT TIME ZONE 'Europe/London') < 6)
           / avg(r.quantity) FILTER (WHERE extract(isodow FROM r.ts AT TIME ZONE 'Europe/London') >= 6) AS ratio
      FROM car.reading r JOIN car.meter m ON m.id = r.meter_id
      WHERE r.meter_id = ANY (:'meters') AND m.activity = 'electricity'
        AND extract(hour FROM r.ts AT TIME ZONE 'Europe/London') BETWEEN 10 AND 15
      GROUP BY 1) w;

-- 4. car.live and car.live_json equal hand-written queries over the same
--    readings (in one transaction: now() stays put).  A site with an
--    electricity meter (kWh) and a water meter (not energy: left out).
BEGIN;
INSERT INTO car.site (name, org) VALUES ('Live test', 'Live org');
INSERT INTO car.meter (site_id, name, activity, unit)
SELECT id, 'Live elec', 'electricity', 'kWh' FROM car.site WHERE name = 'Live test'
UNION ALL SELECT id, 'Live water', 'water_supply', 'm3' FROM car.site WHERE name = 'Live test';
INSERT INTO car.reading (meter_id, ts, quantity)
SELECT m.id, now() - make_interval(mins => k), k / 10.0
FROM car.meter m, generate_series(1, 40) k WHERE m.name IN ('Live elec', 'Live water');
-- by hand: readings in the last 15 minutes, k = 1..15 (k = 15 at the bound included), at the 2024
-- UK generation factor 0.20705 (2026 falls back to the newest set, 2024), whatever the time of day
-- (just after UK midnight too: the 15 minutes reach back before it); today's kWh and the last
-- reading today: the readings of k = 1..40 at or after UK midnight (at 00:10, k = 1..10; none at 00:00:30)
SELECT site, round(kw_now::numeric, 6) AS kw_now, round((sum_k15 / 10.0 / 0.25)::numeric, 6) AS by_hand,
       round(kg_co2e_per_hour_now::numeric, 6) AS kg_per_h, round((sum_k15 / 10.0 / 0.25 * 0.20705)::numeric, 6) AS kg_by_hand,
       round(kwh_today::numeric, 6) = round((SELECT coalesce(sum(k / 10.0), 0) FROM generate_series(1, 40) k
                                             WHERE now() - make_interval(mins => k)
                                                   >= date_trunc('day', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London'), 6) AS kwh_today_ok,
       abs(kg_co2e_today - kwh_today * 0.20705) < 1e-9 AS kg_today_ok,
       last_reading_at IS NOT DISTINCT FROM (SELECT max(now() - make_interval(mins => k)) FROM generate_series(1, 40) k
                                             WHERE now() - make_interval(mins => k)
                                                   >= date_trunc('day', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London') AS last_ok
FROM car.live, (SELECT sum(k) AS sum_k15 FROM generate_series(1, 15) k) h
WHERE site = 'Live test';
SELECT (p->>'t')::timestamptz = date_bin('5 minutes', now() - interval '1 minute', timestamptz '2000-01-01 00:00+00') AS last_bucket_ok,
       jsonb_array_length(s->'points') = (SELECT count(DISTINCT floor(extract(epoch FROM now() - make_interval(mins => k)) / 300))
                                           FROM generate_series(1, 40) k) AS one_point_a_bucket,
       round((SELECT sum((x->>'kwh')::float8) FROM jsonb_array_elements(s->'points') x)::numeric, 6) AS kwh_in_hour,
       round((SELECT sum(k / 10.0) FROM generate_series(1, 40) k)::numeric, 6) AS by_hand,
       (SELECT bool_and(abs((x->>'kw')::float8 - (x->>'kwh')::float8 * 12) < 1e-9
                        AND abs((x->>'kg_co2e')::float8 - (x->>'kwh')::float8 * 0.20705) < 1e-9)
        FROM jsonb_array_elements(s->'points') x) AS kw_and_kg_ok
FROM jsonb_array_elements(car.live_json('1 hour', '5 minutes')->'series') s,
     LATERAL (SELECT s->'points'->(jsonb_array_length(s->'points') - 1) AS p) last
WHERE s->>'site' = 'Live test';
-- each point against a hand-made bucket
SELECT count(*) FILTER (WHERE j.t IS NULL OR h.t IS NULL) AS unmatched, count(*) FILTER (WHERE abs(j.kwh - h.kwh) > 1e-9) AS differ
FROM (SELECT (x->>'t')::timestamptz AS t, (x->>'kwh')::float8 AS kwh
      FROM jsonb_array_elements(car.live_json('1 hour', '5 minutes')->'series') s,
           jsonb_array_elements(s->'points') x WHERE s->>'site' = 'Live test') j
FULL JOIN (SELECT to_timestamp(floor(extract(epoch FROM now() - make_interval(mins => k)) / 300) * 300) AS t, sum(k / 10.0) AS kwh
           FROM generate_series(1, 40) k GROUP BY 1) h USING (t);
ROLLBACK;
RESET client_min_messages;
