#!/usr/bin/env bash
# Builds every image of the system from Debian packages, PyPI (uv.lock) and Maven Central;
# no image registry needed. `make images` runs it. An image whose inputs (its
# Containerfile, the files it copies, deploy/local/versions.env, its base image) did not
# change since it was built is skipped (label portal.inputs).
#
#   deploy/images/build.sh [IMAGE...]    # default: all, in dependency order
#   IMAGES: debian python services kafka postgres redis sinks gateway prometheus
#   FORCE=1 deploy/images/build.sh kafka  # rebuild even if up to date
#
# Needs podman (deploy/images/setup-podman.sh) or docker (ENGINE=docker); as root, since
# the base image is made with debootstrap. The exact Debian package versions each image
# got are written to deploy/images/manifests/IMAGE.txt (commit them: the record of what
# a build contained).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../local/versions.env
source "$REPO/deploy/local/versions.env"
ENGINE="${ENGINE:-podman}"
BUILD_CA="${BUILD_CA-/etc/ssl/certs/ca-certificates.crt}"
CACHE="$HERE/.cache"
MANIFESTS="$HERE/manifests"
mkdir -p "$CACHE" "$MANIFESTS"

# The tags every compose file, script and test uses (keep in step with
# docker-compose.yml; tests/test_compose_file.py checks that they agree).
TAG_DEBIAN="localhost/portal-debian:$DEBIAN_SUITE"
TAG_PYTHON="localhost/portal-python:3.11-$DEBIAN_SUITE"
TAG_SERVICES="localhost/portal-services:dev"
TAG_KAFKA="localhost/portal-kafka:$KAFKA_VERSION"
TAG_POSTGRES="localhost/portal-postgres:$POSTGRES_MAJOR"
TAG_REDIS="localhost/portal-redis:7"
TAG_SINKS="localhost/portal-sinks:dev"
TAG_GATEWAY="localhost/portal-gateway:dev"
TAG_PROMETHEUS="localhost/portal-prometheus:dev"

log() { printf '[images] %s\n' "$*"; }
die() {
  printf '[images] ERROR: %s\n' "$*" >&2
  exit 1
}

image_id() { "$ENGINE" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { "$ENGINE" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# inputs_hash FILE_OR_DIR...: one hash over the contents (and names) of the inputs plus
# versions.env; git's view when possible so untracked caches do not count.
inputs_hash() {
  {
    cat "$REPO/deploy/local/versions.env"
    local p
    for p in "$@"; do
      if [[ -d $p ]]; then
        find "$p" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 | sort -z |
          xargs -0 sha256sum
      else
        sha256sum "$p"
      fi
    done
  } | sed "s#$REPO/##" | sha256sum | cut -c1-16
}

# up_to_date TAG HASH: the image exists with the same inputs hash (and FORCE is unset).
up_to_date() {
  [[ -z ${FORCE:-} ]] || return 1
  [[ "$(image_label "$1" portal.inputs)" == "$2" ]]
}

# build TAG HASH CONTAINERFILE CONTEXT [build args...]
build() {
  local tag=$1 hash=$2 file=$3 context=$4 t0=$SECONDS
  shift 4
  if up_to_date "$tag" "$hash"; then
    log "$tag: up to date"
    return 0
  fi
  log "$tag: building"
  local fmt=()
  # OCI images have no HEALTHCHECK field: keep podman's images in Docker's format.
  [[ $ENGINE == podman ]] && fmt=(--format docker)
  # The build host's CA bundle, mounted for RUN steps only (networks whose TLS goes
  # through an intercepting proxy); BUILD_CA= turns it off.
  local ca=()
  if [[ -n $BUILD_CA && -f $BUILD_CA ]]; then
    ca=(-v "$BUILD_CA:/run/build-ca.crt:ro" --build-arg BUILD_CA_FILE=/run/build-ca.crt)
  fi
  "$ENGINE" build "${fmt[@]}" --network=host --label "portal.inputs=$hash" "${ca[@]}" \
    -f "$file" -t "$tag" "$@" "$context"
  log "$tag: built in $((SECONDS - t0))s"
}

# manifest NAME TAG: record the Debian packages (and versions) inside the image.
# Skipped when it was written for this very image (a stamp under .cache: the committed
# file changes only when the packages do).
manifest() {
  local file="$MANIFESTS/$1.txt" stamp="$CACHE/manifest-$1.stamp" id
  id=$(image_id "$2")
  [[ -f $file && -f $stamp && "$(cat "$stamp")" == "$id" ]] && return 0
  # (podman without systemd complains about healthcheck timers on stderr: not ours)
  "$ENGINE" run --rm --entrypoint dpkg-query "$2" -W -f '${Package}\t${Version}\n' \
    2>/dev/null >"$file.tmp"
  mv "$file.tmp" "$file"
  echo "$id" >"$stamp"
}

# --------------------------------------------------------------------------- images

build_debian() {
  # The root of every image: a minimal Debian made with debootstrap.
  # Inputs: this function's own text and versions.env (not the rest of build.sh).
  local hash
  hash=$({ declare -f build_debian; cat "$REPO/deploy/local/versions.env"; } | sha256sum | cut -c1-16)
  if up_to_date "$TAG_DEBIAN" "$hash"; then
    log "$TAG_DEBIAN: up to date"
    return 0
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing: run deploy/images/setup-podman.sh"
  [[ $(id -u) == 0 ]] || die "debootstrap needs root"
  local rootfs="$CACHE/rootfs-$DEBIAN_SUITE" t0=$SECONDS
  rm -rf "$rootfs"
  log "$TAG_DEBIAN: debootstrap --variant=minbase $DEBIAN_SUITE ($DEBIAN_MIRROR)"
  debootstrap --variant=minbase --include=ca-certificates,passwd \
    "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    {
      tail -n 30 "$CACHE/debootstrap.log" >&2
      die "debootstrap failed; see $CACHE/debootstrap.log"
    }
  # Security and point-release updates for the apt-get of the images built on top.
  cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb http://deb.debian.org/debian-security $DEBIAN_SUITE-security main
SOURCES
  # Small images: no documentation, no apt lists or caches left behind.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-portal-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/01-portal-norecommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  # A fixed mtime for every file, so the same packages give the same layer contents.
  tar --sort=name --numeric-owner --mtime=@0 -C "$rootfs" -c . |
    "$ENGINE" import --change "LABEL portal.inputs=$hash" \
      --change 'CMD ["/bin/bash"]' - "$TAG_DEBIAN" >/dev/null
  rm -rf "$rootfs"
  manifest debian "$TAG_DEBIAN"
  log "$TAG_DEBIAN: built in $((SECONDS - t0))s"
}

base_hash() { image_id "$1" | cut -c1-16; }

build_python() {
  build "$TAG_PYTHON" "$(inputs_hash "$HERE/python.Containerfile")-$(base_hash "$TAG_DEBIAN")" \
    "$HERE/python.Containerfile" "$HERE" --build-arg "BASE=$TAG_DEBIAN"
  manifest python "$TAG_PYTHON"
}

build_services() {
  local fmt=()
  [[ $ENGINE == podman ]] && fmt=(--format docker)
  # The build context is the repository; .containerignore keeps caches and var/ out.
  local hash
  hash=$(inputs_hash "$REPO/deploy/docker" "$REPO/uv.lock" "$REPO/pyproject.toml" \
    "$REPO/libs" "$REPO/services" "$REPO/deploy/local/sinks.py")-$(base_hash "$TAG_PYTHON")
  build "$TAG_SERVICES" "$hash" "$REPO/deploy/docker/Dockerfile" "$REPO" \
    --build-arg "BASE=$TAG_PYTHON" --build-arg "UV_VERSION=$UV_VERSION" --target runtime
  build "$TAG_SINKS" "$hash" "$REPO/deploy/docker/Dockerfile" "$REPO" \
    --build-arg "BASE=$TAG_PYTHON" --build-arg "UV_VERSION=$UV_VERSION" \
    --build-arg "AIOSMTPD_VERSION=$AIOSMTPD_VERSION" --target sms-sink
  # One image per service name (what compose, Kubernetes and an SRE's `podman run`
  # use): the services image with PORTAL_SERVICE set, a configuration-only layer.
  local s base
  base=$(base_hash "$TAG_SERVICES")
  for s in identity delegation billing fleet einvoice notifier; do
    if up_to_date "localhost/portal-$s:dev" "$base"; then continue; fi
    printf 'FROM %s\nENV PORTAL_SERVICE=%s\nLABEL org.opencontainers.image.title=portal-%s\n' \
      "$TAG_SERVICES" "$s" "$s" |
      "$ENGINE" build "${fmt[@]}" -q --label "portal.inputs=$base" -t "localhost/portal-$s:dev" -f - "$CACHE" >/dev/null
    log "localhost/portal-$s:dev: tagged"
  done
}

kafka_libs() {
  # The broker jars the local runner uses (deploy/local/kafka/pom.xml), downloaded once.
  local dest="$CACHE/kafka-$KAFKA_VERSION/libs" local_cache
  local_cache="$REPO/deploy/local/.cache/kafka-$KAFKA_VERSION/libs"
  [[ -f $dest/kafka_$SCALA_BINARY_VERSION-$KAFKA_VERSION.jar ]] && return 0
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  if [[ -f $local_cache/kafka_$SCALA_BINARY_VERSION-$KAFKA_VERSION.jar ]]; then
    cp "$local_cache"/*.jar "$dest.tmp/"
  else
    command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven >/dev/null; }
    log "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central (mvn)"
    mvn -q -B -Dstyle.color=never -f "$REPO/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$SCALA_BINARY_VERSION" \
      -Dlog4j.version="$LOG4J_VERSION" -Dslf4j.version="$SLF4J_VERSION" \
      -Ddependency.plugin.version="$MAVEN_DEPENDENCY_PLUGIN_VERSION" \
      -DoutputDirectory="$dest.tmp" >"$CACHE/kafka-download.log" 2>&1 ||
      die "mvn could not fetch the Kafka jars; see $CACHE/kafka-download.log"
  fi
  mv "$dest.tmp" "$dest"
}

build_kafka() {
  kafka_libs
  local ctx="$CACHE/kafka-context"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -r "$CACHE/kafka-$KAFKA_VERSION/libs" "$ctx/libs"
  cp "$HERE/kafka/"* "$REPO/deploy/local/kafka/log4j2.xml" "$REPO/deploy/local/kafka_ready.py" "$ctx/"
  build "$TAG_KAFKA" "$(inputs_hash "$ctx")-$(base_hash "$TAG_PYTHON")" \
    "$ctx/Containerfile" "$ctx" --build-arg "BASE=$TAG_PYTHON" --build-arg "JRE_PACKAGE=$JRE_PACKAGE" \
    --build-arg "KAFKA_VERSION=$KAFKA_VERSION"
  manifest kafka "$TAG_KAFKA"
}

# build_dir NAME TAG [EXTRA_FILE...] [-- build args...]: an image whose context is
# deploy/images/NAME plus EXTRA_FILEs (copied into a scratch context under .cache).
build_dir() {
  local name=$1 tag=$2 ctx="$CACHE/$1-context"
  shift 2
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -r "$HERE/$name/." "$ctx/"
  while [[ $# -gt 0 && $1 != -- ]]; do
    cp "$1" "$ctx/"
    shift
  done
  [[ ${1:-} == -- ]] && shift
  build "$tag" "$(inputs_hash "$ctx")-$(base_hash "$TAG_DEBIAN")" \
    "$ctx/Containerfile" "$ctx" --build-arg "BASE=$TAG_DEBIAN" "$@"
  manifest "$name" "$tag"
}

build_postgres() { build_dir postgres "$TAG_POSTGRES" -- --build-arg "POSTGRES_MAJOR=$POSTGRES_MAJOR"; }
build_redis() { build_dir redis "$TAG_REDIS"; }
build_gateway() { build_dir gateway "$TAG_GATEWAY" "$HERE/http-probe.sh"; }
build_prometheus() {
  # The scrape configuration and the alert rules of deploy/monitoring travel in the image.
  build_dir prometheus "$TAG_PROMETHEUS" "$REPO/deploy/monitoring/alerts.yml" \
    "$REPO/deploy/monitoring/prometheus.yml" "$HERE/http-probe.sh"
}

ALL=(debian python services kafka postgres redis gateway prometheus)
declare -A DONE=()
ensure() { # build (or find up to date) an image once per run
  [[ -n ${DONE[$1]:-} ]] && return 0
  DONE[$1]=1
  "build_$1"
}
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${ALL[@]}")
t_all=$SECONDS
for img in "${wanted[@]}"; do
  [[ $img == sinks ]] && img=services
  declare -F "build_$img" >/dev/null || die "unknown image '$img' (one of: ${ALL[*]} sinks)"
  # Every image stands on the base images: make sure they exist (cheap when up to date).
  case "$img" in
    debian) ;;
    python | postgres | redis | gateway | prometheus) ensure debian ;;
    *) ensure debian && ensure python ;;
  esac
  ensure "$img"
done
log "done in $((SECONDS - t_all))s"
