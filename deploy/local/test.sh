#!/usr/bin/env bash
# `make test`: starts what the tests need (Kafka, PostgreSQL, Redis, SMTP/SMS sinks) and
# runs unit, integration and end-to-end tests. Exits non-zero when any test fails.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"
what="${1:-all}"

# The UBL 2.1 XSDs and the Peppol BIS 3.0 rules the billing tests validate against (cached).
tools/peppol_rules.sh

# PORTAL_TEST_INFRA=containers: pytest starts Kafka, PostgreSQL and Redis itself
# (servicekit.testinfra); the local processes are the default.
if [ "$what" != unit ] && [ "${PORTAL_TEST_INFRA:-local}" != containers ]; then
  deploy/local/infra.sh up
  uv run portal-topics ensure
fi
if [ "$what" = e2e ] || [ "$what" = all ]; then
  deploy/local/infra.sh test-tools
fi

export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgresql+asyncpg://portal:portal@127.0.0.1:5432/postgres}"
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export SINK_URL="${SINK_URL:-http://127.0.0.1:8025}"

# tests/integration: the gateway (real nginx in front of stub upstreams).
unit_dirs=(tests --ignore=tests/integration libs/contracts/tests libs/servicekit/tests/unit)
integration_dirs=(tests/integration libs/servicekit/tests/integration)
for svc in services/*/; do
  [ -d "${svc}tests/unit" ] && unit_dirs+=("${svc}tests/unit")
  [ -d "${svc}tests/integration" ] && integration_dirs+=("${svc}tests/integration")
done

status=0
run() { uv run pytest -p no:cacheprovider "$@" || status=$?; }

case "$what" in
  unit) run "${unit_dirs[@]}" ;;
  integration) run "${integration_dirs[@]}" ;;
  e2e) run tests-e2e ;;
  all)
    run "${unit_dirs[@]}" "${integration_dirs[@]}"
    run tests-e2e
    ;;
  *) echo "usage: $0 unit|integration|e2e|all" >&2; exit 2 ;;
esac
exit "$status"
