-- One run of bench/compact.sql's timed steps (:run), over row storage
-- (bench_compact) and then the compacted copy (bench_compact_packed), each
-- step in its own statement; keys <step>_<rows|compact>_<run>.
\set storage rows
\c bench_compact
\ir compact_steps.sql
\set storage compact
\c bench_compact_packed
\ir compact_steps.sql
