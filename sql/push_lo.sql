-- car.push_lo (issue 16, point 7): a file a client streamed in as a large
-- object loads exactly as car.push of the same bytes, read, hashed, parsed and
-- landed in pieces; a retry loads nothing; a bad file leaves nothing; a large
-- object the caller cannot read is refused; the landed bytes are car's.
\getenv fixtures CAR_FIXTURES
SET TimeZone = 'UTC';
\getenv sqldir CAR_TEST_SQL
\i :sqldir/include/error_of.sql
SET client_min_messages = warning;
SELECT car.grant_roles() IS NOT NULL AS granted;
RESET client_min_messages;

-------------------------------------------------------------------------------
-- Every dialect (test/gen/dialects.py: the same 432 readings in every
-- encoding, line ending, delimiter and layout car reads, UTF-16 among them),
-- pushed through a large object and as a bytea, each to a source of its own
-- (the organisation tells them apart, so no two share a meter)
-------------------------------------------------------------------------------
CREATE TEMP TABLE lo_manifest AS
SELECT split_part(l, E'\t', 1) AS dialect, split_part(l, E'\t', 2) AS format, split_part(l, E'\t', 3)::jsonb AS options,
       split_part(l, E'\t', 4) AS file, n
FROM regexp_split_to_table(pg_read_file(:'fixtures' || '/generated/dialects/manifest.tsv'), E'\n') WITH ORDINALITY AS t(l, n)
WHERE l <> '';
CREATE TEMP TABLE lo_expected AS
SELECT split_part(l, ',', 1) AS meter, split_part(l, ',', 2)::timestamptz AS ts, split_part(l, ',', 3)::float8 AS quantity
FROM regexp_split_to_table(pg_read_file(:'fixtures' || '/generated/dialects/expected.csv'), E'\n') WITH ORDINALITY AS t(l, n)
WHERE n > 1 AND l <> '';
SELECT count(*) AS sources_added
FROM (SELECT DISTINCT dialect, format, options FROM lo_manifest) d,
     LATERAL (VALUES ('lo:'), ('bytea:')) AS via(prefix),
     LATERAL car.add_source(via.prefix || d.dialect, NULL, 'push', d.format,
                            d.options || jsonb_build_object('org', via.prefix || d.dialect)) s;
-- the large objects, as a client's \lo_import would make them
CREATE TEMP TABLE lo_of AS
SELECT m.file, lo_from_bytea(0, pg_read_binary_file(:'fixtures' || '/generated/dialects/' || m.file)) AS lo
FROM lo_manifest m;
CREATE TEMP TABLE lo_pushed AS
SELECT m.dialect, m.file, 'lo' AS via, f.*
FROM (SELECT * FROM lo_manifest ORDER BY n) m JOIN lo_of o USING (file),
     LATERAL car.push_lo('lo:' || m.dialect, m.file, o.lo) f;
INSERT INTO lo_pushed
SELECT m.dialect, m.file, 'bytea', f.*
FROM (SELECT * FROM lo_manifest ORDER BY n) m,
     LATERAL car.push('bytea:' || m.dialect, m.file, pg_read_binary_file(:'fixtures' || '/generated/dialects/' || m.file)) f;
SELECT via, count(*) AS files, sum(rows_loaded) AS loaded, sum(rows_rejected) AS rejected,
       count(*) FILTER (WHERE content IS NULL) AS content_not_sent_back
FROM lo_pushed GROUP BY via ORDER BY via;
-- the large object's record of each file is the bytea's: hash, size, counts and what was learnt of it
SELECT count(*) AS files,
       count(*) FILTER (WHERE l.sha256 = b.sha256 AND l.bytes = b.bytes AND l.rows_loaded = b.rows_loaded
                        AND l.rows_rejected = b.rows_rejected AND l.rows_superseded = b.rows_superseded
                        AND l.metadata = b.metadata AND l.status = b.status) AS same_record,
       count(*) FILTER (WHERE l.sha256 = encode(sha256(pg_read_binary_file(:'fixtures' || '/generated/dialects/' || l.file)), 'hex')
                        AND l.bytes = length(pg_read_binary_file(:'fixtures' || '/generated/dialects/' || l.file))) AS hash_and_size_of_the_file
FROM lo_pushed l JOIN lo_pushed b ON b.file = l.file AND b.via = 'bytea' WHERE l.via = 'lo';
-- every dialect, either way: exactly the expected readings, none missing, none extra
WITH loaded AS (
    SELECT s.org, m.name AS meter, r.ts, r.quantity
    FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
    WHERE s.org LIKE 'lo:%' OR s.org LIKE 'bytea:%')
SELECT split_part(o.org, ':', 1) AS via, count(*) AS dialects,
       sum((SELECT count(*) FROM loaded l WHERE l.org = o.org)) AS readings,
       sum((SELECT count(*) FROM (SELECT meter, ts, quantity FROM loaded l WHERE l.org = o.org
                                  EXCEPT ALL SELECT meter, ts, quantity FROM lo_expected) x)) AS extra,
       sum((SELECT count(*) FROM (SELECT meter, ts, quantity FROM lo_expected
                                  EXCEPT ALL SELECT meter, ts, quantity FROM loaded l WHERE l.org = o.org) x)) AS missing
FROM (SELECT DISTINCT org FROM loaded) o GROUP BY 1 ORDER BY 1;
-- the landed bytes are the file's, in order, in pieces of at most 1 MB
SELECT count(*) AS files,
       count(*) FILTER (WHERE (SELECT string_agg(c.bytes, ''::bytea ORDER BY c.seq) FROM car.source_file_chunk c WHERE c.file_id = p.id)
                        = pg_read_binary_file(:'fixtures' || '/generated/dialects/' || p.file)) AS bytes_as_sent
FROM lo_pushed p;

-------------------------------------------------------------------------------
-- A file of several pieces and windows: 60,000 readings of 16 meters in
-- about 9.5 MB (a quoted note of 100 bytes a row, every 997th over two lines),
-- so its records, quoted fields and CRLFs cross the 1 MB pieces and the CSV
-- reader's 4 MB window
-------------------------------------------------------------------------------
SELECT (car.add_source('lo-long', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "lo-long"}')).name;
SELECT (car.add_source('bytea-long', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "bytea-long"}')).name;
CREATE TEMP TABLE long_file AS
SELECT convert_to('Site,Meter,ReadDatetime,kWh,Note' || E'\r\n' ||
                  string_agg(format('S%s,M%s,%s,%s,"reading %s,%s %s"',
                                    i % 4, i % 16, to_char(timestamp '2024-01-01' + (i / 16) * interval '30 min', 'YYYY-MM-DD HH24:MI:SS'),
                                    (i * 7919) % 10000 / 10.0, i, CASE WHEN i % 997 = 0 THEN E' over\r\ntwo lines' ELSE '' END,
                                    repeat('x', 100)), E'\r\n' ORDER BY i) || E'\r\n', 'UTF8') AS bytes
FROM generate_series(0, 59999) i;
-- the readings' sum, computed from the generator's rule: value_i = ((i * 7919) mod 10000) / 10
SELECT length(bytes) > 7000000 AS over_7_mb, (SELECT sum((i * 7919) % 10000 / 10.0) FROM generate_series(0, 59999) i) AS kwh_by_rule
FROM long_file;
SELECT lo_from_bytea(0, bytes) AS long_lo FROM long_file \gset
SELECT f.bytes > 7000000 AS over_7_mb, f.rows_loaded, f.rows_rejected, f.metadata->>'line_endings' AS line_endings
FROM car.push_lo('lo-long', 'long.csv', :long_lo) f;
SELECT f.rows_loaded FROM long_file, LATERAL car.push('bytea-long', 'long.csv', long_file.bytes) f;
SELECT s.org, count(*) AS readings, count(DISTINCT r.meter_id) AS meters, sum(r.quantity)::numeric(12, 1) AS kwh
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.org IN ('lo-long', 'bytea-long') GROUP BY s.org ORDER BY s.org;
SELECT count(*) AS pieces, max(length(c.bytes)) AS largest, sum(length(c.bytes)) = (SELECT length(bytes) FROM long_file) AS whole,
       string_agg(c.bytes, ''::bytea ORDER BY c.seq) = (SELECT bytes FROM long_file) AS bytes_as_sent
FROM car.source_file_chunk c JOIN car.source_file f ON f.id = c.file_id JOIN car.source s ON s.id = f.source_id
WHERE s.name = 'lo-long';

-------------------------------------------------------------------------------
-- Encodings decided over the whole file, read a piece at a time: a UTF-8
-- file whose "é" (C3 A9) the end of the first 1 MB piece cuts in two is still
-- UTF-8; a Windows-1252 file is converted as it is read
-------------------------------------------------------------------------------
SELECT (car.add_source('lo-enc', NULL, 'push', 'long', '{"timezone": "UTC", "activity": "electricity", "org": "lo-enc"}')).name;
-- rows of 1,000 bytes after a 25-byte header: 1,048 of them end at byte 1,048,025; the next row's
-- 23 bytes of site, meter, date and value and 527 x's put its first "é" at bytes 1,048,575 and 1,048,576
CREATE TEMP TABLE cut_utf8 AS
SELECT convert_to('Site,Meter,Date,kWh,Note' || E'\n' ||
                  (SELECT string_agg(format(E'S,M,%s,1,%s\n', to_char(timestamp '2024-03-01' + i * interval '30 min', 'YYYY-MM-DD HH24:MI'),
                                            repeat('x', 976)), '' ORDER BY i) FROM generate_series(0, 1047) i) ||
                  format(E'S,M,%s,1,%s\n', '2024-03-22 20:00', repeat('x', 527) || 'éé') ||
                  (SELECT string_agg(format(E'S,M,%s,1,%s\n', to_char(timestamp '2024-03-22 20:30' + i * interval '30 min', 'YYYY-MM-DD HH24:MI'),
                                            'é'), '' ORDER BY i) FROM generate_series(0, 99) i), 'UTF8') AS bytes;
SELECT length(bytes) AS bytes, get_byte(bytes, 1048575) = 195 AND get_byte(bytes, 1048576) = 169 AS e_acute_cut_at_1_mb
FROM cut_utf8;
SELECT lo_from_bytea(0, bytes) AS cut_utf8_lo FROM cut_utf8 \gset
SELECT rows_loaded, rows_rejected, metadata->>'encoding' AS encoding FROM car.push_lo('lo-enc', 'cut-utf8.csv', :cut_utf8_lo);
-- Windows-1252: "Café" (E9) and "£" (A3) become UTF-8
SELECT lo_from_bytea(0, convert_to(E'Site,Meter,Date,kWh,Note\nCafé,£ meter,2024-03-01 00:00,2.5,ok\n', 'WIN1252')) AS cp1252_lo \gset
SELECT rows_loaded, metadata->>'encoding' AS encoding FROM car.push_lo('lo-enc', 'cp1252.csv', :cp1252_lo);
SELECT s.name AS site, m.name AS meter, r.quantity
FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
WHERE s.org = 'lo-enc' AND s.name <> 'S';

-------------------------------------------------------------------------------
-- A retry loads nothing: the same large object again, or the same bytes as a
-- bytea, give the first file back (with a notice, whose file id depends on
-- the tests run before)
-------------------------------------------------------------------------------
SET client_min_messages = warning;
SELECT f.id = (SELECT p.id FROM car.source_file p JOIN car.source s ON s.id = p.source_id WHERE s.name = 'lo-long') AS same_file
FROM car.push_lo('lo-long', 'long-again.csv', :long_lo) f;
SELECT f.id = (SELECT p.id FROM car.source_file p JOIN car.source s ON s.id = p.source_id WHERE s.name = 'lo-long') AS same_file
FROM long_file, LATERAL car.push('lo-long', 'long-as-bytea.csv', long_file.bytes) f;
RESET client_min_messages;
SELECT count(*) AS files, sum(f.rows_loaded) AS loaded,
       (SELECT count(*) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
        WHERE s.org = 'lo-long') AS readings
FROM car.source_file f JOIN car.source s ON s.id = f.source_id WHERE s.name = 'lo-long';

-------------------------------------------------------------------------------
-- A bad file leaves nothing behind (no file, no bytes, no readings), and
-- says where it is bad
-------------------------------------------------------------------------------
SELECT (car.add_source('lo-bad', NULL, 'push', 'long', '{"meter": "LO bad", "timezone": "UTC", "activity": "electricity"}')).name;
-- the last row cut short, past a 1 MB piece
SELECT lo_from_bytea(0, convert_to('Date,kWh,Note' || E'\n' ||
    (SELECT string_agg(format('%s,1.5,%s', to_char(timestamp '2024-02-01' + i * interval '30 min', 'YYYY-MM-DD HH24:MI'), repeat('n', 40)), E'\n' ORDER BY i)
     FROM generate_series(0, 29999) i) || E'\n2024-03-20 00:00', 'UTF8')) AS cut_lo \gset
SELECT pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-bad', 'cut.csv', :cut_lo));
-- an unclosed quote on line 3: refused when it runs past the most a record may have (1 MB)
SELECT lo_from_bytea(0, convert_to(E'Date,kWh,Note\n2024-02-01 00:00,1,ok\n2024-02-01 00:30,2,"open\n' ||
    repeat(E'2024-02-01 01:00,3,more\n', 60000), 'UTF8')) AS quote_lo \gset
SELECT pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-bad', 'quote.csv', :quote_lo));
-- most rows bad: refused whole, naming the first bad line
SELECT lo_from_bytea(0, convert_to(E'Date,kWh\n2024-02-01 00:00,1\n2024-02-01 00:30,lots\n2024-02-01 01:00,many\n', 'UTF8')) AS bad_lo \gset
SELECT pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-bad', 'bad.csv', :bad_lo));
SELECT (SELECT count(*) FROM car.source_file f JOIN car.source s ON s.id = f.source_id WHERE s.name = 'lo-bad') AS files,
       (SELECT count(*) FROM car.source_file_chunk c WHERE c.file_id NOT IN (SELECT id FROM car.source_file)) AS orphan_pieces,
       (SELECT count(*) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'LO bad') AS readings;
-- a binary file, and an empty one
SELECT lo_from_bytea(0, '\x89504e470d0a1a0a00000000'::bytea) AS png_lo, lo_from_bytea(0, ''::bytea) AS empty_lo \gset
SELECT pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-bad', 'x.png', :png_lo));
SELECT pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-bad', 'empty.csv', :empty_lo));

-------------------------------------------------------------------------------
-- Who may push what: the caller must be able to read the large object; car
-- never reads one on its own rights
-------------------------------------------------------------------------------
CREATE ROLE lo_test_pusher IN ROLE car_ingest;
CREATE ROLE lo_test_stranger;
CREATE ROLE lo_test_reader IN ROLE car_reader;
SELECT (car.add_source('lo-priv', NULL, 'push', 'long', '{"meter": "LO priv", "timezone": "UTC", "activity": "electricity"}')).name;
-- a large object of the superuser's: the pusher may not read it, so car does not either
SELECT lo_from_bytea(0, convert_to(E'Date,kWh\n2024-01-15 00:00,1.5\n2024-01-15 00:30,2\n', 'UTF8')) AS su_lo \gset
SET ROLE lo_test_pusher;
SELECT replace(pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-priv', 'su.csv', :su_lo)), :'su_lo', '<lo>');
SELECT replace(pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %L, %s)', 'no-token', 'lo-priv', 'su.csv', :su_lo)), :'su_lo', '<lo>') LIKE 'ERROR%' AS token_variant_refused;
RESET ROLE;
-- once granted, it may (and so may its own large objects)
GRANT SELECT ON LARGE OBJECT :su_lo TO lo_test_pusher;
SET ROLE lo_test_pusher;
SELECT rows_loaded, content IS NULL AS content_not_sent_back FROM car.push_lo('lo-priv', 'su.csv', :su_lo);
SELECT lo_from_bytea(0, convert_to(E'Date,kWh\n2024-01-16 00:00,3\n', 'UTF8')) AS own_lo \gset
SELECT rows_loaded FROM car.push_lo('lo-priv', 'own.csv', :own_lo);
SELECT lo_unlink(:own_lo);
-- a large object that does not exist
SELECT pg_temp.error_of('SELECT car.push_lo(''lo-priv'', ''none.csv'', 4000000000)');
-- the landed bytes belong to car: no role but car's owner may change them
SELECT pg_temp.error_of('DELETE FROM car.source_file_chunk');
SELECT pg_temp.error_of('UPDATE car.source_file_chunk SET bytes = ''\x00''');
RESET ROLE;
-- a role without car_ingest may not push, nor read the landed bytes; an analyst (car_reader) may not read them
SET ROLE lo_test_stranger;
SELECT pg_temp.error_of(format('SELECT car.push_lo(%L, %L, %s)', 'lo-priv', 'su.csv', :su_lo));
RESET ROLE;
SET ROLE lo_test_reader;
SELECT pg_temp.error_of('SELECT count(*) FROM car.source_file_chunk');
RESET ROLE;
SELECT (SELECT tableowner FROM pg_tables WHERE schemaname = 'car' AND tablename = 'source_file_chunk')
       = (SELECT extowner::regrole::name FROM pg_extension WHERE extname = 'car') AS chunks_owned_by_cars_owner,
       (SELECT count(*) FROM car.reading r JOIN car.meter m ON m.id = r.meter_id WHERE m.name = 'LO priv') AS readings_pushed;
-- the caller's large objects are left as they were
SELECT count(*) AS large_objects_kept FROM pg_largeobject_metadata WHERE oid IN (:su_lo, :long_lo);

-------------------------------------------------------------------------------
-- Removing a file removes its bytes
-------------------------------------------------------------------------------
DELETE FROM car.source_file f USING car.source s WHERE s.id = f.source_id AND s.name = 'lo-priv';
SELECT count(*) AS orphan_pieces FROM car.source_file_chunk c WHERE c.file_id NOT IN (SELECT id FROM car.source_file);

-- tidy up
SELECT count(lo_unlink(lo)) AS unlinked FROM lo_of;
SELECT lo_unlink(:cut_utf8_lo), lo_unlink(:cp1252_lo), lo_unlink(:long_lo), lo_unlink(:cut_lo), lo_unlink(:quote_lo), lo_unlink(:bad_lo), lo_unlink(:png_lo), lo_unlink(:empty_lo), lo_unlink(:su_lo);
DROP ROLE lo_test_pusher, lo_test_stranger, lo_test_reader;
