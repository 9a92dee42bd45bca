#!/bin/bash
# First start (empty $PGDATA): initdb, a login role POSTGRES_USER/POSTGRES_PASSWORD and one
# database per name in POSTGRES_DATABASES (comma separated), owned by that role. Then
# PostgreSQL runs as PID 1 (SIGINT = fast shutdown), listening on every interface with
# password (scram-sha-256) authentication.
#
#   POSTGRES_USER (portal)  POSTGRES_PASSWORD (required)  POSTGRES_DATABASES (portal)
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
user="${POSTGRES_USER:-portal}"
databases="${POSTGRES_DATABASES:-$user}"

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  [[ -n ${POSTGRES_PASSWORD:-} ]] || {
    echo "postgres-entrypoint: set POSTGRES_PASSWORD" >&2
    exit 64
  }
  [[ $user =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "postgres-entrypoint: bad POSTGRES_USER" >&2; exit 64; }
  echo "postgres-entrypoint: initialising $PGDATA"
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" -w start >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 -q -h /run/postgresql -U postgres -d postgres)
  # psql quotes the values itself (:"name" identifier, :'value' literal).
  "${psql[@]}" -v user="$user" -v password="$POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
SQL
  IFS=',' read -ra names <<<"$databases"
  for db in "${names[@]}"; do
    [[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "postgres-entrypoint: bad database name '$db'" >&2; exit 64; }
    "${psql[@]}" -c "CREATE DATABASE \"$db\" OWNER \"$user\""
    echo "postgres-entrypoint: database $db"
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql \
  -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}"
