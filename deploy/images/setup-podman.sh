#!/usr/bin/env bash
# Installs and configures a container engine on a Debian 12 machine without Docker and
# without a reachable image registry (the kind CI runs on), as root. Idempotent.
#
#   deploy/images/setup-podman.sh
#
# - Debian's podman + runc (crun refuses this machine kind's hybrid cgroup set-up) and
#   debootstrap (deploy/images/build.sh makes the base image with it);
# - /etc/containers/containers.conf.d/50-portal.conf: runc, cgroupfs, no default ulimits
#   (podman's default nofile limit exceeds the machine's hard limit), no pids limit;
# - podman-compose is not installed globally: deploy/images/compose.sh runs the pinned
#   version (PODMAN_COMPOSE_VERSION in versions.env) with `uvx`.
# Skips all of this when `docker` is present and works (Docker users need none of it).
set -euo pipefail

log() { printf '[setup-podman] %s\n' "$*"; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && ! docker --version 2>/dev/null | grep -qi podman; then
  log "docker works here: nothing to set up"
  exit 0
fi

missing=()
for cmd in podman runc debootstrap; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
# openssl makes the gateway's self-signed certificate (deploy/images/build.sh).
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) == 0 ]] || { echo "run as root to install: ${missing[*]}" >&2; exit 1; }
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

conf_dir=/etc/containers/containers.conf.d
conf="$conf_dir/50-portal.conf"
want='# Written by deploy/images/setup-podman.sh (the portal repository).
[containers]
default_ulimits = []
pids_limit = 0

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'
if [[ ! -f $conf || "$(cat "$conf")" != "$want" ]]; then
  log "writing $conf"
  mkdir -p "$conf_dir"
  printf '%s\n' "$want" >"$conf"
fi

# The settings are effective (podman reads the drop-in directory).
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}')
cgroups=$(podman info --format '{{.Host.CgroupManager}}')
[[ $runtime == runc && $cgroups == cgroupfs ]] || {
  echo "podman uses runtime=$runtime cgroup manager=$cgroups, expected runc/cgroupfs" >&2
  exit 1
}
log "podman $(podman version --format '{{.Client.Version}}') ready (runtime $runtime, cgroups $cgroups)"
