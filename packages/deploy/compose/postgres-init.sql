-- Runs once, when the compose Postgres volume is first created.
-- Each service owns its database and connects as its own role, so locally, as in
-- production, no service can read another's tables. A new service adds its two lines here.
-- (An existing postgres-data volume skips this script: `docker compose down -v` recreates it.)
CREATE ROLE patients LOGIN PASSWORD 'patients';
CREATE DATABASE patients OWNER patients;
CREATE ROLE auth LOGIN PASSWORD 'auth';
CREATE DATABASE auth OWNER auth;
-- scheduling's first migration creates the btree_gist extension: trusted on Postgres 13+, so
-- the owner of the database may create it.
CREATE ROLE scheduling LOGIN PASSWORD 'scheduling';
CREATE DATABASE scheduling OWNER scheduling;
CREATE ROLE messaging LOGIN PASSWORD 'messaging';
CREATE DATABASE messaging OWNER messaging;
CREATE ROLE billing LOGIN PASSWORD 'billing';
CREATE DATABASE billing OWNER billing;
