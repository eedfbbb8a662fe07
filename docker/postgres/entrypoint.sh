#!/usr/bin/env bash
# Entrypoint of xact-postgres:15 (docker/postgres/Dockerfile).
#
# `postgres [ARG...]` (or arguments starting with "-", taken as postgres
# arguments): make a cluster in $PGDATA if there is none, then run the
# server in the foreground as the user postgres, with ARG... (for example
# `postgres -c max_prepared_transactions=100`). Any other command runs as
# it is.
#
# At the first start, as the official image:
#   POSTGRES_PASSWORD          password of the superuser; required unless
#                              POSTGRES_HOST_AUTH_METHOD is trust
#   POSTGRES_USER              the superuser (default postgres)
#   POSTGRES_DB                a database made for it (default: its name)
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP connections from
#                              anywhere (default scram-sha-256)
#   POSTGRES_INITDB_ARGS       more initdb arguments
# A cluster that is there already is started as it is.
set -euo pipefail

say() { printf 'entrypoint: %s\n' "$*"; }

init_cluster() {
  local user=${POSTGRES_USER:-postgres} auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  local db=${POSTGRES_DB:-${POSTGRES_USER:-postgres}} pwfile
  local -a args=()
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "entrypoint: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi
  say "initdb in $PGDATA (superuser $user, database $db, TCP auth $auth)"
  pwfile=$(mktemp)
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    args+=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
  initdb -D "$PGDATA" -U "$user" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth" "${args[@]}" ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # On the Unix socket only, so that nobody sees the server before it is
    # ready (a health check over TCP fails until the real start).
    pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses=''" start
    createdb -U "$user" -- "$db"
    pg_ctl -D "$PGDATA" -w -s -m fast stop
  fi
  say "cluster ready"
}

if [ "${1:-}" = "" ] || [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ]; then
  if [ "$(id -u)" = 0 ]; then
    # The volume may be new and owned by root.
    install -d -o postgres -g postgres -m 700 "$PGDATA"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
  [ -s "$PGDATA/PG_VERSION" ] || init_cluster
fi
exec "$@"
