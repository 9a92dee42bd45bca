-- One database per service, all owned by the `portal` role the postgres image creates
-- from POSTGRES_USER (docker-compose only: in production each service gets its own
-- role and database, see docs/deploy.md). Runs once, on an empty data volume.
CREATE DATABASE identity OWNER portal;
CREATE DATABASE delegation OWNER portal;
CREATE DATABASE billing OWNER portal;
CREATE DATABASE fleet OWNER portal;
CREATE DATABASE einvoice OWNER portal;
CREATE DATABASE notifier OWNER portal;
