#!/usr/bin/env bash
# `make run`: local infrastructure + the six services; Ctrl-C or SIGTERM stops it all.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"

# `make run` uses one SQLite file per service unless <SERVICE>_DATABASE_URL points
# elsewhere, so PostgreSQL is only started when a service is configured to use it.
if ! env | grep -qE '^[A-Z]+_DATABASE_URL=postgres'; then
  export POSTGRES_EXTERNAL=1
fi

stopped=0
cleanup() {
  [ "$stopped" = 1 ] && return
  stopped=1
  echo "stopping local infrastructure..."
  deploy/local/infra.sh down || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

deploy/local/infra.sh up
uv run portal-topics ensure
# The stack handles SIGINT/SIGTERM itself and stops the services before returning.
uv run python deploy/local/stack.py &
stack_pid=$!
trap 'kill -TERM $stack_pid 2>/dev/null; wait $stack_pid; exit 130' INT
trap 'kill -TERM $stack_pid 2>/dev/null; wait $stack_pid; exit 143' TERM
if [[ -n ${PORTAL_SUPERVISOR_PID:-} ]]; then
  # Started by make, which dies on SIGTERM without telling us: follow it.
  script_pid=$$
  (
    while kill -0 "$PORTAL_SUPERVISOR_PID" 2>/dev/null; do sleep 1; done
    kill -TERM "$script_pid" 2>/dev/null
  ) &
fi
wait $stack_pid
