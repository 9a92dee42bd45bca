#!/usr/bin/env bash
# Runs docker-compose.yml with whichever compose is here: `docker compose` when Docker
# works, else podman-compose (the version pinned in deploy/local/versions.env, run with
# uvx: nothing installed globally). Arguments go to compose unchanged.
#
#   deploy/images/compose.sh up -d | ps | logs billing | down -v
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../local/versions.env
source "$REPO/deploy/local/versions.env"
cd "$REPO"
if [[ ${ENGINE:-} != podman ]] && command -v docker >/dev/null 2>&1 &&
  ! docker --version 2>/dev/null | grep -qi podman && docker compose version >/dev/null 2>&1; then
  exec docker compose -f docker-compose.yml "$@"
fi
command -v uvx >/dev/null 2>&1 || { echo "uvx not found: run 'make install' first" >&2; exit 1; }
exec uvx --quiet --from "podman-compose==$PODMAN_COMPOSE_VERSION" podman-compose -f docker-compose.yml "$@"
