"""Loaded first for every test run from the repository root: PORTAL_TEST_INFRA=containers
starts Kafka, PostgreSQL and Redis in containers (servicekit.testinfra) right here, before the
test directories' conftest files read TEST_POSTGRES_URL, KAFKA_BOOTSTRAP_SERVERS and
REDIS_URL; the default uses the local processes of deploy/local/infra.sh."""

from servicekit import testinfra

testinfra.start_if_requested()

pytest_plugins = ("servicekit.testinfra",)
