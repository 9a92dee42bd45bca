#!/usr/bin/env bash
# Runs one service's Deployment from deploy/k8s with podman (`podman kube play`), with its
# ConfigMap (portal-shared), its Secret and its probes, against the local infrastructure
# (deploy/local/infra.sh: PostgreSQL, Kafka, Redis on 127.0.0.1), waits until it is ready,
# shows what podman and /readyz say, and removes it again.
#
#   deploy/k8s/play-kube.sh [SERVICE]          # default: identity
#   KEEP=1 deploy/k8s/play-kube.sh billing     # leave it running (podman kube down var/play-kube/play.yaml)
#
# What is changed from `kustomize build deploy/k8s` to run on one machine (nothing else):
#   - only the service's Deployment, the ConfigMap and its Secret (built from
#     secrets.template.yaml with random values and a fresh database);
#   - one replica, host network, port PLAY_PORT (19290) instead of the service's own
#     (so it does not collide with `make run`), image PLAY_IMAGE
#     (localhost/portal-services:dev, `make images`) with PORTAL_SERVICE=<service>;
#   - ConfigMap: Kafka, Redis and the other services on 127.0.0.1; no OTLP collector;
#   - <SERVICE>_RUN_MIGRATIONS_ON_START=true (the migration Job is not run by podman);
#   - a consumer group of its own, so it does not take partitions from other consumers.
# Needs: podman (deploy/images/setup-podman.sh), kustomize (make check-k8s installs it),
# psql, and the local infrastructure running.
set -euo pipefail
service="${1:-identity}"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"
port="${PLAY_PORT:-19290}"
image="${PLAY_IMAGE:-localhost/portal-services:dev}"
pg_admin="${PLAY_POSTGRES_URL:-postgresql://portal:portal@127.0.0.1:5432}"
kustomize="${KUSTOMIZE:-$(go env GOPATH 2>/dev/null)/bin/kustomize}"
work="$REPO/var/play-kube"
mkdir -p "$work"
log() { printf '[play-kube] %s\n' "$*"; }

podman image exists "$image" || { echo "no image $image: run \`make images\`" >&2; exit 1; }
db="play_${service}_$(date +%s)"
psql -q "$pg_admin/postgres" -c "CREATE DATABASE $db"
log "database $db"
cleanup() {
  if [[ -z ${KEEP:-} ]]; then
    podman kube down "$work/play.yaml" >/dev/null 2>&1 || true
    podman secret rm "$service-secrets" >/dev/null 2>&1 || true
    psql -q "$pg_admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    log "removed the pod and the database"
  fi
}
trap cleanup EXIT

"$kustomize" build deploy/k8s >"$work/base.yaml"
SECRET_JSON="$work/secret.json" SERVICE="$service" PORT="$port" IMAGE="$image" DB_URL="postgresql+asyncpg://${pg_admin#postgresql://}/$db" \
  uv run python - "$work/base.yaml" deploy/k8s/secrets.template.yaml >"$work/play.yaml" <<'PY'
import json, os, secrets, sys
import yaml

service, port, image = os.environ["SERVICE"], int(os.environ["PORT"]), os.environ["IMAGE"]
prefix = service.upper()
base = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
template = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]

config = next(d for d in base if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "portal-shared")
data = config["data"]
data.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
data.update(
    KAFKA_BOOTSTRAP_SERVERS=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    TRUSTED_PROXIES="127.0.0.1",
    **{f"{s.upper()}_URL": f"http://127.0.0.1:{8001 + i}"
       for i, s in enumerate(("identity", "delegation", "billing", "fleet"))},
)
if service == "identity":
    data["IDENTITY_URL"] = f"http://127.0.0.1:{port}"

secret = next(d for d in template if d["metadata"]["name"] == f"{service}-secrets")
for key in secret["stringData"]:
    if key.endswith("DATABASE_URL"):
        secret["stringData"][key] = os.environ["DB_URL"]
    elif key.endswith("SERVICE_CLIENTS"):
        names = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
        secret["stringData"][key] = json.dumps({n: secrets.token_urlsafe(24) for n in names})
    else:
        secret["stringData"][key] = secrets.token_urlsafe(24)

deployment = next(d for d in base if d["kind"] == "Deployment" and d["metadata"]["name"] == service)
deployment["spec"]["replicas"] = 1
pod = deployment["spec"]["template"]["spec"]
pod["hostNetwork"] = True
pod.pop("topologySpreadConstraints", None)
(container,) = pod["containers"]
container["image"] = image
# Host network: podman refuses port mappings, so the probes name the port by number.
container.pop("ports", None)
for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    if probe in container:
        container[probe]["httpGet"]["port"] = port
overrides = {
    f"{prefix}_PORT": str(port),
    f"{prefix}_RUN_MIGRATIONS_ON_START": "true",
    f"{prefix}_CONSUMER_GROUP": f"play-kube-{service}-{secrets.token_hex(4)}",
    f"{prefix}_CONSUMER_OFFSET_RESET": "latest",
    "PORTAL_SERVICE": service,
}
env = [e for e in container["env"] if e["name"] not in overrides]
container["env"] = env + [{"name": k, "value": v} for k, v in overrides.items()]
# podman 4.3 stores a Secret document of the YAML as it is, then reads a secretRef as a
# podman secret holding a JSON map of key -> base64 value: the Secret goes in that way.
import base64
data = {k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}
with open(os.environ["SECRET_JSON"], "w") as out:
    json.dump(data, out)
os.chmod(os.environ["SECRET_JSON"], 0o600)
yaml.safe_dump_all([config, deployment], sys.stdout, sort_keys=False)
PY
podman secret rm "$service-secrets" >/dev/null 2>&1 || true
podman secret create "$service-secrets" "$work/secret.json" >/dev/null
rm -f "$work/secret.json"
log "podman kube play $work/play.yaml ($service on 127.0.0.1:$port; Secret $service-secrets as a podman secret)"
podman kube play --network host "$work/play.yaml"

deadline=$((SECONDS + 180))
until curl -fsS "http://127.0.0.1:$port/readyz" >"$work/readyz.json" 2>/dev/null; do
  if ((SECONDS > deadline)); then
    podman pod ps
    podman logs --tail 50 "$(podman ps -a --filter "label=app.kubernetes.io/name=$service" -q | head -1)" || true
    echo "$service not ready after 180s" >&2
    exit 1
  fi
  sleep 2
done
log "ready after $((SECONDS - deadline + 180))s: /readyz -> $(cat "$work/readyz.json")"
ctr="${service}-pod-0-${service}"
podman ps --filter "name=$ctr" --format '{{.Names}}  {{.Image}}  {{.Status}}'
podman inspect --format 'user={{.Config.User}} read-only-root={{.HostConfig.ReadonlyRootfs}} healthcheck={{.Config.Healthcheck.Test}}' "$ctr"
# The Deployment's probes, asked the way the kubelet asks them (an HTTP GET from outside
# the container): each must answer 2xx.
for probe in $(uv run python -c 'import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x and x["kind"] == "Deployment"][0]
c = d["spec"]["template"]["spec"]["containers"][0]
print(" ".join(k + "=" + c[k]["httpGet"]["path"] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c))' "$work/play.yaml"); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port${probe#*=}")
  log "${probe%%=*} GET ${probe#*=} -> $code"
  [[ $code == 2* ]] || exit 1
done
# podman turns the liveness probe into a health check that runs `curl` inside the
# container; the services image has no curl (the kubelet needs none), so podman's own
# verdict is shown for information only.
log "podman healthcheck run (curl inside the image): $(podman healthcheck run "$ctr" 2>&1 || true)"
