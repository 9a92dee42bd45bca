#!/usr/bin/env bash
# `make compose-test`: the whole system from docker-compose.yml, exercised through its one
# origin. Builds the images (skips what is up to date), brings the stack up in stages,
# waits for every healthcheck, runs the end-to-end journeys (tests-e2e access + invoice)
# THROUGH THE GATEWAY at http://127.0.0.1:$GATEWAY_HTTP_PORT, checks HTTPS on the gateway
# and that Prometheus scrapes all six services with the alert rules loaded, prints a
# summary and tears everything down (volumes too), also on failure or Ctrl-C.
#
#   deploy/images/compose-test.sh          # KEEP=1 leaves the stack running afterwards
#
# Works with podman (set up by setup-podman.sh) or Docker. On failure the state and the
# logs of every container are saved under var/log/compose-test/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"

export GATEWAY_HTTP_PORT="${GATEWAY_HTTP_PORT:-8080}" GATEWAY_HTTPS_PORT="${GATEWAY_HTTPS_PORT:-8443}"
export PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
export PORTAL_PUBLIC_URL="http://127.0.0.1:$GATEWAY_HTTP_PORT"
# The operator the journeys log in as (tests-e2e/e2e_stack.py).
export IDENTITY_OPERATOR_EMAIL=operator-e2e@portal.local IDENTITY_OPERATOR_PASSWORD='Operator-e2e-Passw0rd!'
PROJECT=portal
LOGS="$REPO/var/log/compose-test"
SERVICES=(identity delegation billing fleet einvoice notifier)
T0=$SECONDS
declare -a SUMMARY=()

log() { printf '[compose-test %4ss] %s\n' "$((SECONDS - T0))" "$*"; }
die() {
  printf '[compose-test] ERROR: %s\n' "$*" >&2
  exit 1
}
note() { SUMMARY+=("$(printf '%-28s %s' "$1" "$2")"); }
phase_start=0
phase() { phase_start=$SECONDS; log "$*"; }
phase_done() { note "$1" "$((SECONDS - phase_start)) s${2:+  ($2)}"; }

# ------------------------------------------------------------------ engine, images
if command -v docker >/dev/null 2>&1 && ! docker --version 2>/dev/null | grep -qi podman &&
  docker info >/dev/null 2>&1; then
  ENGINE=docker
else
  ENGINE=podman
  "$HERE/setup-podman.sh"
fi
export ENGINE
compose() { "$HERE/compose.sh" "$@"; }

for port in "$GATEWAY_HTTP_PORT" "$GATEWAY_HTTPS_PORT" "$PROMETHEUS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "host port $port is in use (another gateway? a stack left running?): free it or set GATEWAY_HTTP_PORT / GATEWAY_HTTPS_PORT / PROMETHEUS_PORT"
  fi
done

phase "building the images (up-to-date ones are skipped)"
"$HERE/build.sh"
phase_done "images"

# ------------------------------------------------------------------------ teardown
containers() { "$ENGINE" ps -a -q --filter "label=com.docker.compose.project=$PROJECT"; }
name_of() { "$ENGINE" inspect --format '{{.Name}}' "$1" | sed 's#^/##'; }
service_of() { "$ENGINE" inspect --format '{{ index .Config.Labels "com.docker.compose.service" }}' "$1"; }
container_of() { # SERVICE -> container id
  "$ENGINE" ps -a -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" | head -n 1
}

status=1
teardown() {
  local rc=$? c
  trap - EXIT INT TERM
  # Ended before the last check without an error code (it cannot, but be sure).
  if [[ $status != 0 && $rc == 0 ]]; then rc=1; fi
  if [[ $rc != 0 ]]; then
    mkdir -p "$LOGS"
    log "failed: saving container states and logs to $LOGS"
    "$ENGINE" ps -a --filter "label=com.docker.compose.project=$PROJECT" >"$LOGS/ps.txt" 2>&1 || true
    for c in $(containers); do
      "$ENGINE" logs --tail 300 "$c" >"$LOGS/$(name_of "$c").log" 2>&1 || true
    done
  fi
  if [[ -n ${KEEP:-} ]]; then
    log "KEEP is set: the stack keeps running (deploy/images/compose.sh down -v to stop it)"
  else
    phase "tearing down (containers, network, volumes)"
    compose down -v -t 20 >"$LOGS.down.log" 2>&1 || log "compose down reported errors: $LOGS.down.log"
    # Whatever compose left behind (a failed start can leave created containers).
    for c in $(containers); do "$ENGINE" rm -f -v "$c" >/dev/null 2>&1 || true; done
    phase_done "teardown"
  fi
  echo
  echo "==================== compose-test summary ===================="
  printf '%s\n' "${SUMMARY[@]}"
  printf '%-28s %s\n' "total" "$((SECONDS - T0)) s"
  printf '%-28s %s\n' "result" "$([[ $rc == 0 ]] && echo PASSED || echo "FAILED (exit $rc)")"
  echo "=============================================================="
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# A stack left running by an earlier KEEP=1 run (or a crash) would hold the names.
if [[ -n "$(containers)" ]]; then
  log "removing a previous stack of project $PROJECT"
  compose down -v -t 10 >/dev/null 2>&1 || true
  for c in $(containers); do "$ENGINE" rm -f -v "$c" >/dev/null 2>&1 || true; done
fi
mkdir -p "$(dirname "$LOGS")"
rm -rf "$LOGS"

# ------------------------------------------------------------------------- health
# healthy SERVICE: its container's healthcheck passes. Podman 4.3 runs healthchecks from
# systemd timers, which a machine without systemd as PID 1 does not have: run the check
# ourselves (it also updates the status `podman ps` shows). Docker runs its own.
healthy() {
  local c
  c=$(container_of "$1")
  [[ -n $c ]] || return 1
  if [[ $ENGINE == podman ]]; then
    podman healthcheck run "$c" >/dev/null 2>&1
  else
    [[ "$(docker inspect --format '{{.State.Health.Status}}' "$c")" == healthy ]]
  fi
}

# wait_healthy TIMEOUT SERVICE...: every one healthy, or fail naming the missing ones.
wait_healthy() {
  local timeout=$1 deadline s pending
  shift
  deadline=$((SECONDS + timeout))
  while true; do
    pending=()
    for s in "$@"; do healthy "$s" || pending+=("$s"); done
    [[ ${#pending[@]} -gt 0 ]] || return 0
    if ((SECONDS > deadline)); then
      die "not healthy after ${timeout}s: ${pending[*]}"
    fi
    sleep 3
  done
}

# ------------------------------------------------------------------------ bring up
# In stages, each waiting for the health of the one before. Docker's compose would order
# this from depends_on alone; podman-compose before podman 4.6 ignores service_healthy.
up() { compose up -d --no-deps "$@" >>"$LOGS.up.log" 2>&1 || die "compose up $* failed: see $LOGS.up.log"; }
: >"$LOGS.up.log"

phase "infrastructure: 3 Kafka brokers, PostgreSQL, Redis, sinks, Prometheus"
up kafka-1 kafka-2 kafka-3 postgres redis sinks prometheus
wait_healthy 300 postgres redis sinks kafka-1 kafka-2 kafka-3 prometheus
phase_done "infrastructure healthy"

phase "topics: portal-topics ensure (3 replicas, min.insync.replicas=2)"
up topics
c=$(container_of topics)
"$ENGINE" wait "$c" >/dev/null
rc=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$c")
[[ $rc == 0 ]] || { "$ENGINE" logs "$c" | tail -n 20 >&2; die "topics exited with $rc"; }
phase_done "topics created" "$("$ENGINE" logs "$c" 2>&1 | grep -oE '[0-9]+ declared, [0-9]+ created' | tail -n 1)"

phase "the six services"
up "${SERVICES[@]}"
wait_healthy 420 "${SERVICES[@]}"
phase_done "services healthy"

phase "gateway on :$GATEWAY_HTTP_PORT and :$GATEWAY_HTTPS_PORT"
up gateway
wait_healthy 120 gateway
phase_done "gateway healthy"

# ----------------------------------------------------------------------- the checks
phase "HTTPS on the gateway (self-signed certificate)"
tls=$(python3 - "$GATEWAY_HTTPS_PORT" <<'PY'
import http.client, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the compose certificate is self-signed
conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=10)
conn.connect()
version = conn.sock.version()
conn.request("GET", "/.well-known/jwks.json")
reply = conn.getresponse()
body = reply.read()
print(f"{reply.status} {len(body)} bytes of JWKS over {version}")
sys.exit(0 if reply.status == 200 and b'"keys"' in body else 1)
PY
) || die "HTTPS through the gateway failed"
phase_done "gateway HTTPS" "$tls"

sink_ip=$("$ENGINE" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(container_of sinks)")
[[ -n $sink_ip ]] || die "no address for the sinks container"

phase "end-to-end journeys through the gateway (tests-e2e access + invoice)"
set +e
E2E_STACK_URL="http://127.0.0.1:$GATEWAY_HTTP_PORT" SINK_URL="http://$sink_ip:8025" \
  NO_PROXY="127.0.0.1,$sink_ip${NO_PROXY:+,$NO_PROXY}" \
  uv run pytest -p no:cacheprovider -q tests-e2e/test_access_journey.py \
  tests-e2e/test_invoice_journey.py 2>&1 | tee "$LOGS.pytest.log"
pytest_rc=${PIPESTATUS[0]}
set -e
phase_done "journeys (pytest)" "$(grep -E '(passed|failed|error)' "$LOGS.pytest.log" | tail -n 1 | tr -d '=' | xargs)"
[[ $pytest_rc == 0 ]] || die "the journeys failed (exit $pytest_rc)"

phase "Prometheus: targets and rules"
prom=$(python3 - "$PROMETHEUS_PORT" <<'PY'
import json, sys, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
base = f"http://127.0.0.1:{sys.argv[1]}/api/v1"
deadline = time.monotonic() + 60
while True:  # the first scrape comes within one scrape_interval
    targets = json.load(opener.open(f"{base}/targets", timeout=5))["data"]["activeTargets"]
    portal = [t for t in targets if t["labels"]["job"] == "portal"]
    up = sorted(t["labels"]["portal_service"] for t in portal if t["health"] == "up")
    if len(up) == 6 or time.monotonic() > deadline:
        break
    time.sleep(2)
groups = json.load(opener.open(f"{base}/rules", timeout=5))["data"]["groups"]
rules = sum(len(g["rules"]) for g in groups)
series = json.load(opener.open(f"{base}/query?query=count(http_requests_total)", timeout=5))["data"]["result"]
print(f"{len(up)}/6 services up, {rules} alert rules loaded, {series[0]['value'][1] if series else 0} http_requests_total series")
sys.exit(0 if len(up) == 6 and rules > 0 else 1)
PY
) || die "Prometheus: $prom"
phase_done "prometheus" "$prom"

status=0
