-- The login role BI tools (Metabase, Looker, Grafana) connect as: a member of
-- car_auditor (made by car.grant_roles() in scripts/demo.sql), a car_reader
-- that row-level security lets see every organisation, so it reads the
-- reporting views, car.emission_daily, car.live and the readings, sites, meters
-- and factors, and nothing else; its sessions are read-only.  (To serve each organisation only its
-- own rows, use car_reader and the token-taking car.report_*_for(token).)  Run by docker/init.sh with the psql
-- variables bi_user and bi_password; safe to run again (sets the password).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'bi_user') AS missing \gset
\if :missing
CREATE ROLE :"bi_user" LOGIN;
\endif
ALTER ROLE :"bi_user" LOGIN PASSWORD :'bi_password';
ALTER ROLE :"bi_user" SET default_transaction_read_only = on;
ALTER ROLE :"bi_user" SET search_path = car, public;
GRANT car_auditor TO :"bi_user";
