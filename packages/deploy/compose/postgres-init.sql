-- Runs once, when the compose Postgres volume is first created.
-- Each service owns its database and connects as its own role, so locally, as in
-- production, no service can read another's tables. A new service adds its two lines here.
CREATE ROLE patients LOGIN PASSWORD 'patients';
CREATE DATABASE patients OWNER patients;
