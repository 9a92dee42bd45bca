"""Loaded for every test run from the repository root: PORTAL_TEST_INFRA=containers starts
Kafka, PostgreSQL and Redis in containers (servicekit.testinfra); the default uses the
local processes of deploy/local/infra.sh."""

pytest_plugins = ("servicekit.testinfra",)
