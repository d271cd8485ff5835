-- car 1.0 -> 1.1 (ALTER EXTENSION car UPDATE).  The fresh-install script
-- car--1.1.sql is car--1.0.sql followed by this file (see the Makefile).
\echo Use "ALTER EXTENSION car UPDATE TO '1.1'" to load this file. \quit
