#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Local infrastructure for machines without Docker: Kafka (KRaft, from Maven Central
# jars), Redis, PostgreSQL and an SMTP + SMS-gateway sink. Idempotent: `up` twice is
# harmless; `down` keeps all data (everything lives under $REPO/var/).
#
#   deploy/local/infra.sh up | down | status | kafka-start | kafka-stop | postgres-restart | smoke
#
# Environment (all optional):
#   KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), REDIS_PORT (6379),
#   SINK_SMTP_PORT (1025), SINK_HTTP_PORT (8025)
#   KAFKA_BOOTSTRAP_SERVERS set  -> do not start Kafka (we are pointed elsewhere)
#   REDIS_URL set                -> do not start Redis
#   POSTGRES_EXTERNAL=1          -> do not start/configure the local PostgreSQL
#   NOTIFIER_SMTP_HOST set       -> do not start the mail/SMS sinks
#   INFRA_SKIP_TOPICS=1          -> do not run `python -m servicekit.topics ensure` nor
#                                   `python -m servicekit.kafka_acl apply`
#   KAFKA_ADMIN_PASSWORD         -> the broker admin's password (before the first format)
# Kafka listens with SASL_PLAINTEXT (SCRAM-SHA-512) only, with ACLs (docs/adr/0024).
# Written for Debian 12 as root (CI runs it on a fresh clone); installs what is
# missing with apt-get / pip.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
source "$HERE/versions.env"

VAR="$REPO/var"
RUN="$VAR/run"
LOGS="$VAR/log"
CACHE="$HERE/.cache"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
KAFKA_DIR="$VAR/kafka"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx768m}"
# SASL/SCRAM-SHA-512 principals of the local broker (ADR 24): the super user `admin` (infra
# scripts, topic creation, ACLs, the tests' own clients), one per service and `network` (the
# usage feed). Their passwords are local-only values, "<user>-local-only" (the defaults of
# servicekit.kafka); production refuses them. KAFKA_ADMIN_PASSWORD changes the admin's, but
# only before the broker's storage is formatted (it is then a SCRAM credential in its data).
KAFKA_ADMIN_USERNAME=admin
KAFKA_ADMIN_PASSWORD="${KAFKA_ADMIN_PASSWORD:-admin-local-only}"
export KAFKA_ADMIN_USERNAME KAFKA_ADMIN_PASSWORD
KAFKA_USERS=(admin identity delegation billing fleet einvoice notifier network)
# Which users the storage holds, written when they were added (at format or by migration).
KAFKA_USERS_MARKER="$KAFKA_DIR/scram-users"
REDIS_PORT="${REDIS_PORT:-6379}"
SINK_SMTP_PORT="${SINK_SMTP_PORT:-1025}"
SINK_HTTP_PORT="${SINK_HTTP_PORT:-8025}"
PG_DATABASES=(identity delegation billing fleet einvoice notifier)
PG_USER=portal
PG_PASSWORD=portal
PG_PORT=5432 # replaced by the cluster's real port in pg_find_cluster

export DEBIAN_FRONTEND=noninteractive

log() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[infra] ERROR: %s\n' "$*" >&2
  exit 1
}

# ------------------------------------------------------------------------ helpers

# pid_alive PIDFILE PATTERN: the pid file names a live (non-zombie) process whose
# command line contains PATTERN. The pattern guards against a recycled pid after a
# reboot or a machine that was handed back to us with stale files in var/run.
pid_alive() {
  local pidfile=$1 pattern=$2 pid state
  [[ -s $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ $state != Z && -n $state ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

pid_of() { tr -dc '0-9' <"$1"; }

# stop_pid NAME PIDFILE PATTERN TIMEOUT: SIGTERM, wait for the exit, SIGKILL last.
stop_pid() {
  local name=$1 pidfile=$2 pattern=$3 timeout=$4 pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  pid=$(pid_of "$pidfile")
  log "$name: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 5; i++)); do
    pid_alive "$pidfile" "$pattern" || break
    sleep 0.2
  done
  if pid_alive "$pidfile" "$pattern"; then
    warn "$name did not exit within ${timeout}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$pidfile"
  log "$name: stopped"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() {
  python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
with opener.open(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  apt-get install -y -qq "$@" >/dev/null
}

UV=()
ensure_uv() {
  [[ ${#UV[@]} -gt 0 ]] && return 0
  if command -v uv >/dev/null; then
    UV=(uv)
    return 0
  fi
  log "uv not found: pip install uv==$UV_VERSION"
  # Debian's own python3 is "externally managed" (PEP 668); allow it there.
  python3 -m pip install -q "uv==$UV_VERSION" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "uv==$UV_VERSION"
  hash -r
  if command -v uv >/dev/null; then UV=(uv); else UV=(python3 -m uv); fi
}

# ------------------------------------------------------------------------- kafka

JAVA=java
ensure_java() {
  local v major
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA="$JAVA_HOME/bin/java"; fi
  v=$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}' || true)
  major=${v%%.*}
  if [[ -z $major || $major -lt 17 ]]; then
    # Kafka 4 brokers need Java 17+.
    log "Java 17+ not found (got '${v:-none}'): installing openjdk-17-jre-headless"
    apt_install openjdk-17-jre-headless
    JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
    [[ -x $JAVA ]] || JAVA=java
  fi
}

kafka_fingerprint() {
  echo "kafka=$KAFKA_VERSION scala=$SCALA_BINARY_VERSION log4j=$LOG4J_VERSION slf4j=$SLF4J_VERSION"
}

# Download the broker jars once into deploy/local/.cache/kafka-$VERSION/libs.
# A marker with the versions is written last, so an interrupted download is redone.
ensure_kafka_libs() {
  local marker="$KAFKA_HOME/.complete" tmp
  if [[ -f $marker && "$(cat "$marker")" == "$(kafka_fingerprint)" ]]; then return 0; fi
  command -v mvn >/dev/null || apt_install maven
  log "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central (mvn)"
  tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp" "$KAFKA_HOME/libs"
  mkdir -p "$tmp"
  mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$SCALA_BINARY_VERSION" \
    -Dlog4j.version="$LOG4J_VERSION" -Dslf4j.version="$SLF4J_VERSION" \
    -Ddependency.plugin.version="$MAVEN_DEPENDENCY_PLUGIN_VERSION" \
    -DoutputDirectory="$tmp" >"$LOGS/kafka-download.log" 2>&1 || {
    tail -n 40 "$LOGS/kafka-download.log" >&2
    die "mvn could not fetch the Kafka jars; see $LOGS/kafka-download.log"
  }
  [[ -f $tmp/kafka_${SCALA_BINARY_VERSION}-$KAFKA_VERSION.jar ]] || die "kafka jar missing in $tmp"
  mv "$tmp" "$KAFKA_HOME/libs"
  kafka_fingerprint >"$marker"
}

kafka_password() { if [[ $1 == admin ]]; then echo "$KAFKA_ADMIN_PASSWORD"; else echo "$1-local-only"; fi; }

# The listeners, written by write_kafka_config. SASL (default): one SASL_PLAINTEXT listener
# for every client, SCRAM-SHA-512 against the users in the metadata log; the controller
# listener takes only the admin (SASL PLAIN with the password in this file: SCRAM credentials
# live in the metadata the controller serves, so they cannot authenticate the controller's
# own connections). PLAINTEXT: the broker as it was before ADR 24, no authentication and no
# authorizer, used only briefly to add the SCRAM users to storage formatted without them.
kafka_listener_config() {
  local mode=$1 pw
  pw=$KAFKA_ADMIN_PASSWORD
  if [[ $mode == plaintext ]]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
EOF
    return 0
  fi
  cat <<EOF
listeners=SASL_PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$pw";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$pw" user_admin="$pw";

# Every request is authorized: the admin may do anything, the services only what the ACLs
# generated from the topic catalogue allow (python -m servicekit.kafka_acl apply).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
EOF
}

# Rewritten on every start so that KAFKA_PORT overrides apply; the data and the
# cluster id (in $KAFKA_DIR/data/meta.properties) are kept. It holds the admin's local-only
# password (the JAAS lines), hence mode 600.
write_kafka_config() {
  local mode=${1:-sasl}
  mkdir -p "$KAFKA_DIR/data"
  (
    umask 077
    {
      echo "# Generated by deploy/local/infra.sh -- edits are overwritten on the next start."
      echo "process.roles=broker,controller"
      echo "node.id=1"
      echo "controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT"
      kafka_listener_config "$mode"
      cat <<EOF
log.dirs=$KAFKA_DIR/data

# Single node: every internal topic has one replica.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Topics are created deliberately (servicekit.topics ensure), never by a typo.
auto.create.topics.enable=false
num.partitions=6
# Tests start consumers often; do not wait 3 s for more members to join.
group.initial.rebalance.delay.ms=0

# Small machine: the cleaner's default 128 MiB buffer does not fit a small heap.
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
log.retention.hours=168
EOF
    } >"$KAFKA_DIR/server.properties.tmp"
  )
  mv "$KAFKA_DIR/server.properties.tmp" "$KAFKA_DIR/server.properties"
}

# Format new storage with every SCRAM user (a KRaft cluster gets its first users this way).
kafka_format() {
  local cluster_id u args=()
  # As Kafka's own Uuid.randomUuid: never one starting with "-", which the storage tool
  # would read as an option (1 id in 64; it failed a CI run).
  cluster_id=$(python3 -c 'import base64, uuid
while (i := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(i)')
  for u in "${KAFKA_USERS[@]}"; do
    args+=(--add-scram "SCRAM-SHA-512=[name=$u,iterations=8192,password=$(kafka_password "$u")]")
  done
  log "kafka: formatting storage in $KAFKA_DIR/data (cluster id $cluster_id, SCRAM users ${KAFKA_USERS[*]})"
  "$JAVA" -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" "${args[@]}" \
    >>"$LOGS/kafka-format.log" 2>&1 || die "kafka storage format failed; see $LOGS/kafka-format.log"
  printf '%s\n' "${KAFKA_USERS[@]}" >"$KAFKA_USERS_MARKER"
}

# kafka_add_users [plaintext]: add the SCRAM users the storage does not hold yet (the marker
# lists those it holds) through the running broker: python -m servicekit.kafka_users (the
# tool compose and Kubernetes run too), as the admin, or without authentication while the
# broker runs without SASL (then the admin's own credential is added as well).
kafka_add_users() {
  local mode=${1:-sasl} u missing=() args=(--local-defaults)
  for u in "${KAFKA_USERS[@]}"; do
    grep -qx -- "$u" "$KAFKA_USERS_MARKER" 2>/dev/null || missing+=("$u")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  ensure_uv
  log "kafka: adding SCRAM users ${missing[*]}"
  local protocol=SASL_PLAINTEXT
  if [[ $mode == plaintext ]]; then
    protocol=PLAINTEXT
    args+=(--with-admin)
  fi
  (cd "$REPO" && KAFKA_SECURITY_PROTOCOL=$protocol KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT" \
    "${UV[@]}" run python -m servicekit.kafka_users ensure "${args[@]}") >>"$LOGS/kafka-users.log" 2>&1 ||
    die "kafka: could not add the SCRAM users; see $LOGS/kafka-users.log"
  printf '%s\n' "${KAFKA_USERS[@]}" >"$KAFKA_USERS_MARKER"
}

kafka_ready() { python3 "$HERE/kafka_ready.py" "127.0.0.1:$KAFKA_PORT" "$@"; }

# kafka_launch MODE: start the broker process and wait until a Metadata request (as the
# admin over SASL, or without authentication in plaintext mode) lists it.
kafka_launch() {
  local mode=$1 pidfile="$RUN/kafka.pid" pid i t0=$SECONDS probe=()
  [[ $mode == plaintext ]] && probe=(--plaintext)
  write_kafka_config "$mode"
  log "kafka: starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT ($mode)"
  printf '\n===== %s infra.sh: starting kafka %s (%s) =====\n' "$(date -Is)" "$KAFKA_VERSION" "$mode" >>"$LOGS/kafka.log"
  # shellcheck disable=SC2086 # KAFKA_HEAP may hold several JVM flags
  nohup "$JAVA" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -Dkafka.logs.dir="$LOGS" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$LOGS/kafka.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  # Ready = a Metadata request lists the broker (not a log line, not an open port).
  # 180 s: a cold start on a busy 2-core machine took ~40 s here.
  for ((i = 0; i < 360; i++)); do
    if ! pid_alive "$pidfile" kafka.Kafka; then
      tail -n 30 "$LOGS/kafka.log" >&2 || true
      rm -f "$pidfile"
      die "kafka exited during start-up; see $LOGS/kafka.log"
    fi
    if kafka_ready "${probe[@]}"; then
      log "kafka: ready after $((SECONDS - t0))s (pid $pid)"
      return 0
    fi
    sleep 0.5
  done
  die "kafka did not become ready within 180s; see $LOGS/kafka.log"
}

# Storage formatted before ADR 24 has no SCRAM users, and a SASL-only broker on it would
# let nobody in. Its data is kept: the broker is started once more as it used to run
# (plaintext, loopback only, no authorizer), the users are added, it is stopped, and from
# then on it runs with SASL. Nothing is reformatted or deleted.
kafka_migrate_to_sasl() {
  log "kafka: $KAFKA_DIR/data was formatted without SCRAM users; adding them (data kept)"
  kafka_launch plaintext
  kafka_add_users plaintext
  stop_pid kafka "$RUN/kafka.pid" kafka.Kafka 90
}

kafka_start() {
  # `up` leaves Kafka alone when we are pointed elsewhere. An explicit `kafka-start`
  # restarts the local broker even then, mirroring `kafka-stop`: the test runner exports
  # KAFKA_BOOTSTRAP_SERVERS for the very local broker its outage test stops and starts.
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] && [[ ${1:-} != explicit ]]; then
    log "kafka: KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is set, not starting a local broker"
    return 0
  fi
  local pidfile="$RUN/kafka.pid"
  if pid_alive "$pidfile" kafka.Kafka; then
    if ! kafka_ready --wait 60; then
      if kafka_ready --plaintext; then
        die "kafka (pid $(pid_of "$pidfile")) still runs without SASL (started before ADR 24); restart it once: deploy/local/infra.sh kafka-stop && deploy/local/infra.sh up (data kept)"
      fi
      die "kafka (pid $(pid_of "$pidfile")) runs but does not answer (as $KAFKA_ADMIN_USERNAME over SASL); see $LOGS/kafka.log"
    fi
    log "kafka: already running (pid $(pid_of "$pidfile")) on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  rm -f "$pidfile"
  if port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT"; then
    die "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT is in use by a process infra.sh did not start; stop it or set KAFKA_PORT / KAFKA_BOOTSTRAP_SERVERS"
  fi
  ensure_java
  ensure_kafka_libs
  write_kafka_config sasl
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    kafka_format
  elif [[ ! -f $KAFKA_USERS_MARKER ]]; then
    kafka_migrate_to_sasl
  fi
  kafka_launch sasl
  kafka_add_users # a user added to KAFKA_USERS since the storage was formatted
}

kafka_stop() {
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] && [[ ! -f $RUN/kafka.pid ]]; then
    log "kafka: external (KAFKA_BOOTSTRAP_SERVERS is set), nothing to stop"
    return 0
  fi
  # A clean SIGTERM shutdown flushes the logs; data in var/kafka/data is kept.
  stop_pid kafka "$RUN/kafka.pid" kafka.Kafka 90
}

# ------------------------------------------------------------------------- nginx

# The API gateway of `make run` (deploy/local/stack.py) and of its tests; Debian's nginx
# is in /usr/sbin, which is not on every user's PATH.
ensure_nginx() {
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || apt_install nginx
}

# ------------------------------------------------------------------------- redis

redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_start() {
  if [[ -n ${REDIS_URL:-} ]]; then
    log "redis: REDIS_URL=$REDIS_URL is set, not starting a local redis"
    return 0
  fi
  local pidfile="$RUN/redis.pid" i
  command -v redis-server >/dev/null || apt_install redis-server
  if pid_alive "$pidfile" redis-server; then
    for ((i = 0; i < 50; i++)); do redis_ping && break; sleep 0.2; done
    redis_ping || die "redis (pid $(pid_of "$pidfile")) does not answer PING; see $LOGS/redis.log"
    log "redis: already running (pid $(pid_of "$pidfile")) on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  rm -f "$pidfile"
  if port_open "$REDIS_PORT"; then
    die "port $REDIS_PORT is in use by a process infra.sh did not start (Debian's redis-server service? 'service redis-server stop'), or set REDIS_URL / REDIS_PORT"
  fi
  mkdir -p "$VAR/redis"
  # Our own instance, not Debian's service: data (append-only file) under var/redis.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --dir "$VAR/redis" --pidfile "$pidfile" --logfile "$LOGS/redis.log" \
    --save "" --appendonly yes
  for ((i = 0; i < 100; i++)); do
    if redis_ping; then
      log "redis: ready on 127.0.0.1:$REDIS_PORT (pid $(pid_of "$pidfile" 2>/dev/null || echo '?'))"
      return 0
    fi
    sleep 0.2
  done
  die "redis did not answer PING within 20s; see $LOGS/redis.log"
}

redis_stop() {
  # SIGTERM: redis fsyncs the append-only file and exits.
  stop_pid redis "$RUN/redis.pid" redis-server 30
}

# ---------------------------------------------------------------------- postgres

PG_VER="" PG_NAME="" PG_STATUS=""
pg_find_cluster() {
  local line
  line=$(pg_lsclusters -h 2>/dev/null | head -n 1 || true)
  [[ -n $line ]] || return 1
  read -r PG_VER PG_NAME PG_PORT PG_STATUS _ <<<"$line"
}

# psql as the postgres superuser over the local socket (peer auth).
pg_admin() {
  (cd / && runuser -u postgres -- psql -p "$PG_PORT" -X -q -A -t -v ON_ERROR_STOP=1 "$@")
}

pg_start() {
  if [[ ${POSTGRES_EXTERNAL:-} == 1 ]]; then
    log "postgres: POSTGRES_EXTERNAL=1, not starting or configuring a local cluster"
    return 0
  fi
  command -v pg_lsclusters >/dev/null || apt_install postgresql
  if ! pg_find_cluster; then
    local ver
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
    [[ -n $ver ]] || die "postgres: no server version under /usr/lib/postgresql"
    log "postgres: creating cluster $ver main"
    pg_createcluster "$ver" main >/dev/null
    pg_find_cluster || die "postgres: pg_lsclusters shows no cluster"
  fi
  if [[ $PG_STATUS != online* ]]; then
    log "postgres: starting cluster $PG_VER/$PG_NAME"
    # pg_ctlcluster switches to the postgres user by itself.
    pg_ctlcluster "$PG_VER" "$PG_NAME" start
    # Remember that we started it: `down` stops only a cluster that we started.
    echo "$PG_VER $PG_NAME" >"$RUN/postgres.started-by-infra"
  else
    log "postgres: cluster $PG_VER/$PG_NAME already running on port $PG_PORT"
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.5
  done
  pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres does not accept connections on 127.0.0.1:$PG_PORT"
  pg_setup
}

pg_setup() {
  local db
  if [[ "$(pg_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != 1 ]]; then
    log "postgres: creating role $PG_USER"
    pg_admin -c "CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
  else
    # Re-asserted every time, so a changed password or a lost attribute is repaired.
    pg_admin -c "ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
  fi
  for db in "${PG_DATABASES[@]}"; do
    if [[ "$(pg_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
      log "postgres: creating database $db"
      pg_admin -c "CREATE DATABASE $db OWNER $PG_USER"
    fi
  done
  # The services use password auth over TCP; Debian's default pg_hba.conf allows
  # scram-sha-256 for 127.0.0.1/32 -- check it really works for every database.
  for db in "${PG_DATABASES[@]}"; do
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" \
      -U "$PG_USER" -d "$db" -c 'SELECT 1' >/dev/null ||
      die "postgres: $PG_USER cannot log in to $db with a password over 127.0.0.1:$PG_PORT (check pg_hba.conf)"
  done
  log "postgres: role $PG_USER and databases ${PG_DATABASES[*]} ready on 127.0.0.1:$PG_PORT"
}

pg_stop() {
  local marker="$RUN/postgres.started-by-infra" ver name
  if [[ ! -f $marker ]]; then
    log "postgres: not started by infra.sh, leaving it as it is"
    return 0
  fi
  read -r ver name <"$marker"
  log "postgres: stopping cluster $ver/$name (infra.sh started it)"
  if pg_ctlcluster "$ver" "$name" stop; then log "postgres: stopped"; else warn "pg_ctlcluster $ver $name stop failed"; fi
  rm -f "$marker"
}

# ------------------------------------------------------------------------- sinks

sinks_start() {
  if [[ -n ${NOTIFIER_SMTP_HOST:-} ]]; then
    log "sinks: NOTIFIER_SMTP_HOST=$NOTIFIER_SMTP_HOST is set, not starting the mail/SMS sinks"
    return 0
  fi
  local pidfile="$RUN/sinks.pid" url="http://127.0.0.1:$SINK_HTTP_PORT/healthz" launcher i t0=$SECONDS
  if pid_alive "$pidfile" sinks.py; then
    for ((i = 0; i < 50; i++)); do http_ok "$url" && break; sleep 0.2; done
    http_ok "$url" || die "sinks (pid $(pid_of "$pidfile")) do not answer HTTP; see $LOGS/sinks.log"
    log "sinks: already running (pid $(pid_of "$pidfile"))"
    return 0
  fi
  rm -f "$pidfile"
  if port_open "$SINK_SMTP_PORT" || port_open "$SINK_HTTP_PORT"; then
    die "port $SINK_SMTP_PORT or $SINK_HTTP_PORT is in use by a process infra.sh did not start; stop it or set SINK_SMTP_PORT / SINK_HTTP_PORT"
  fi
  ensure_uv
  log "sinks: starting SMTP 127.0.0.1:$SINK_SMTP_PORT, HTTP 127.0.0.1:$SINK_HTTP_PORT"
  # --no-project --isolated: independent of the workspace and its .venv (which other
  # tools sync or rebuild while we run). sinks.py writes its own pid (the python
  # process, not uv's) to the pid file.
  SINK_SMTP_PORT=$SINK_SMTP_PORT SINK_HTTP_PORT=$SINK_HTTP_PORT SINK_DATA_DIR="$VAR/sinks" \
    nohup "${UV[@]}" run --no-project --isolated --quiet --with "aiosmtpd==$AIOSMTPD_VERSION" \
    python "$HERE/sinks.py" --pidfile "$pidfile" >>"$LOGS/sinks.log" 2>&1 </dev/null &
  launcher=$!
  # The first run downloads aiosmtpd into uv's cache, hence the generous limit.
  for ((i = 0; i < 600; i++)); do
    if http_ok "$url" && pid_alive "$pidfile" sinks.py; then
      log "sinks: ready after $((SECONDS - t0))s (pid $(pid_of "$pidfile"))"
      return 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      tail -n 20 "$LOGS/sinks.log" >&2 || true
      die "sinks exited during start-up; see $LOGS/sinks.log"
    fi
    sleep 0.2
  done
  die "sinks did not answer within 120s; see $LOGS/sinks.log"
}

sinks_stop() { stop_pid sinks "$RUN/sinks.pid" sinks.py 20; }

# ------------------------------------------------------------------------ topics

ensure_topics() {
  if [[ ${INFRA_SKIP_TOPICS:-} == 1 ]]; then
    log "topics: INFRA_SKIP_TOPICS=1, not creating topics"
    return 0
  fi
  if [[ ! -f $REPO/libs/servicekit/src/servicekit/topics.py ]]; then
    log "topics: libs/servicekit/src/servicekit/topics.py does not exist yet; not creating topics"
    return 0
  fi
  ensure_uv
  log "topics: uv run python -m servicekit.topics ensure"
  (cd "$REPO" && KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}" \
    "${UV[@]}" run python -m servicekit.topics ensure) ||
    die "topics: 'python -m servicekit.topics ensure' failed"
  # The services' rights on the bus, from the same catalogue (ADR 24); idempotent. A broker
  # without authentication (KAFKA_SECURITY_PROTOCOL=PLAINTEXT, pointed elsewhere) has no
  # authorizer to hold them.
  if [[ ${KAFKA_SECURITY_PROTOCOL:-} == PLAINTEXT ]]; then
    log "acls: KAFKA_SECURITY_PROTOCOL=PLAINTEXT, the broker authorizes nothing; no ACLs applied"
    return 0
  fi
  log "acls: uv run python -m servicekit.kafka_acl apply"
  (cd "$REPO" && KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}" \
    "${UV[@]}" run python -m servicekit.kafka_acl apply) ||
    die "acls: 'python -m servicekit.kafka_acl apply' failed"
}

# ------------------------------------------------------------------------ status

print_addresses() {
  local pg="postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/<service>   (${PG_DATABASES[*]})"
  [[ ${POSTGRES_EXTERNAL:-} == 1 ]] && pg="external (POSTGRES_EXTERNAL=1)"
  echo
  echo "Local infrastructure:"
  echo "  Kafka        ${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT} (SASL_PLAINTEXT, SCRAM-SHA-512; users ${KAFKA_USERS[*]}; passwords <user>-local-only)"
  echo "  Redis        ${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
  echo "  PostgreSQL   $pg"
  if [[ -n ${NOTIFIER_SMTP_HOST:-} ]]; then
    echo "  SMTP         external (NOTIFIER_SMTP_HOST=$NOTIFIER_SMTP_HOST); mail/SMS sinks not started"
  else
    echo "  SMTP         127.0.0.1:$SINK_SMTP_PORT"
    echo "  SMS gateway  POST http://127.0.0.1:$SINK_HTTP_PORT/api/sms"
    echo "  Mails / SMS  http://127.0.0.1:$SINK_HTTP_PORT/"
  fi
  echo "  Logs         $LOGS/"
}

status() {
  local all=0
  line() { printf '  %-11s %-9s %s\n' "$1" "$2" "$3"; }
  echo "Local infrastructure status:"
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
    line kafka external "$KAFKA_BOOTSTRAP_SERVERS"
  elif pid_alive "$RUN/kafka.pid" kafka.Kafka && kafka_ready; then
    line kafka up "127.0.0.1:$KAFKA_PORT (pid $(pid_of "$RUN/kafka.pid"), Kafka $KAFKA_VERSION)"
  else
    line kafka down "127.0.0.1:$KAFKA_PORT"
    all=1
  fi
  if [[ -n ${REDIS_URL:-} ]]; then
    line redis external "$REDIS_URL"
  elif pid_alive "$RUN/redis.pid" redis-server && command -v redis-cli >/dev/null && redis_ping; then
    line redis up "redis://127.0.0.1:$REDIS_PORT/0 (pid $(pid_of "$RUN/redis.pid"))"
  else
    line redis down "redis://127.0.0.1:$REDIS_PORT/0"
    all=1
  fi
  if [[ ${POSTGRES_EXTERNAL:-} == 1 ]]; then
    line postgres external "POSTGRES_EXTERNAL=1"
  else
    if command -v pg_lsclusters >/dev/null; then pg_find_cluster || true; fi
    if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
      local by="already running before infra.sh up"
      [[ -f $RUN/postgres.started-by-infra ]] && by="started by infra.sh"
      line postgres up "postgresql://$PG_USER:***@127.0.0.1:$PG_PORT/<service> (cluster ${PG_VER:-?}/${PG_NAME:-?}, $by)"
    else
      line postgres down "127.0.0.1:$PG_PORT"
      all=1
    fi
  fi
  if [[ -n ${NOTIFIER_SMTP_HOST:-} ]]; then
    line sinks external "NOTIFIER_SMTP_HOST=$NOTIFIER_SMTP_HOST"
  elif pid_alive "$RUN/sinks.pid" sinks.py && http_ok "http://127.0.0.1:$SINK_HTTP_PORT/healthz"; then
    line sinks up "SMTP 127.0.0.1:$SINK_SMTP_PORT, HTTP http://127.0.0.1:$SINK_HTTP_PORT/ (pid $(pid_of "$RUN/sinks.pid"))"
  else
    line sinks down "SMTP 127.0.0.1:$SINK_SMTP_PORT, HTTP http://127.0.0.1:$SINK_HTTP_PORT/"
    all=1
  fi
  return "$all"
}

# -------------------------------------------------------------------------- main

usage() {
  cat <<EOF
usage: $0 COMMAND
  up           start Kafka, Redis, PostgreSQL (role/databases) and the mail/SMS sinks;
               create the topics (servicekit.topics ensure); idempotent
  down         stop what 'up' started (PostgreSQL only if 'up' started it); data kept
  status       one line per component; exit status 1 if something is down
  kafka-stop   stop only the Kafka broker (data kept)
  kafka-start  start only the Kafka broker
  postgres-restart  restart the local PostgreSQL cluster (fast shutdown, data kept)
  postgres-stop / postgres-start   stop (fast) or start the local cluster, for fault tests
  redis-stop / redis-start         stop or start the local Redis, for fault tests
  smoke        check every component for real (deploy/local/smoke.py)
  test-tools   install what the end-to-end tests need besides the above (faketime)
EOF
}

# One infra.sh changes things at a time (parallel test runners may call `up`).
# The script re-executes itself under `flock -o`: the flock process holds the lock
# and the script, and the daemons it starts, do NOT inherit the locked descriptor
# (with a plain `exec 9>lock; flock 9`, Kafka/Redis/PostgreSQL would inherit fd 9
# and keep the lock for as long as they run).
with_lock() {
  if [[ ${INFRA_SH_LOCKED:-} != 1 ]]; then
    mkdir -p "$RUN"
    local rc=0
    INFRA_SH_LOCKED=1 flock -o -E 75 -w 900 "$RUN/infra.lock" bash "$HERE/infra.sh" "$@" || rc=$?
    [[ $rc != 75 ]] || die "another infra.sh held $RUN/infra.lock for 15 minutes"
    exit "$rc"
  fi
  unset INFRA_SH_LOCKED
}

main() {
  local cmd=${1:-}
  case $cmd in up | down | kafka-start | kafka-stop | redis-start | redis-stop) with_lock "$@" ;; esac
  mkdir -p "$RUN" "$LOGS"
  case $cmd in
  up)
    local t0=$SECONDS
    pg_start
    redis_start
    ensure_nginx
    sinks_start
    kafka_start
    ensure_topics
    log "up: done in $((SECONDS - t0))s"
    print_addresses
    ;;
  down)
    sinks_stop
    kafka_stop
    redis_stop
    pg_stop
    ;;
  status) status ;;
  test-tools)
    # What the end-to-end tests need beyond the infrastructure: libfaketime runs one
    # notifier instance with its clock off (tests-e2e/test_instances.py).
    command -v faketime >/dev/null || apt_install faketime
    ;;
  kafka-start)
    kafka_start explicit
    ;;
  kafka-stop)
    kafka_stop
    ;;
  postgres-restart)
    # For the database-restart test: a fast restart of the local cluster, data kept.
    pg_find_cluster || die "postgres: no local cluster"
    pg_ctlcluster "$PG_VER" "$PG_NAME" restart -m fast
    log "postgres: cluster $PG_VER/$PG_NAME restarted"
    ;;
  postgres-stop)
    pg_find_cluster || die "postgres: no local cluster"
    pg_ctlcluster "$PG_VER" "$PG_NAME" stop -m fast
    log "postgres: cluster $PG_VER/$PG_NAME stopped"
    ;;
  postgres-start)
    pg_find_cluster || die "postgres: no local cluster"
    pg_ctlcluster "$PG_VER" "$PG_NAME" start
    log "postgres: cluster $PG_VER/$PG_NAME started"
    ;;
  redis-stop)
    redis_stop
    ;;
  redis-start)
    unset REDIS_URL # the tests export it; this command is about the local instance
    redis_start
    ;;
  smoke)
    ensure_uv
    KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}" \
      REDIS_PORT=$REDIS_PORT PG_PORT=$PG_PORT SINK_SMTP_PORT=$SINK_SMTP_PORT \
      SINK_HTTP_PORT=$SINK_HTTP_PORT \
      "${UV[@]}" run --no-project --isolated --quiet --with "aiokafka==$AIOKAFKA_VERSION" \
      python "$HERE/smoke.py"
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
  esac
}

main "$@"
