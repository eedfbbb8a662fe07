# shellcheck shell=bash
# scripts/lib/pg.sh: throwaway PostgreSQL clusters for scripts. Source it.
#
#   pg_mktemp PREFIX        a new temp dir that PostgreSQL can reach; prints it
#   pg_start DIR            a cluster in DIR on a free port; prints the port
#                           (fsync off, unless XACT_PG_DURABLE=1)
#   pg_stop DIR             stop it at once (immediate); keeps DIR
#   pg_conninfo PORT        the libpq conninfo of a cluster
#   pg_psql PORT SQL        run SQL, print the rows unaligned
#   free_port [PORT...]     a TCP port nobody listens on, not one of PORT...
#   wait_port PORT SECS [PID]  until 127.0.0.1:PORT accepts (or PID exits)
#
# Same layout and settings as tests/integration/harness.c: the template is
# made once per build by initdb under flock ($XACT_PG_TEMPLATE, default
# <build>/pg-template, shared with the tests); a cluster is DIR/data, with
# its log in DIR/pg.log and its Unix socket in DIR. As root, PostgreSQL
# runs as the user postgres (initdb and pg_ctl refuse root).

_pg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_pg_template=${XACT_PG_TEMPLATE:-${XACT_BUILD_DIR:-$_pg_root/build}/pg-template}

# The PostgreSQL programs: $XACT_PG_BIN, the newest Debian one, or PATH.
_pg_bin() {
  local dir=${XACT_PG_BIN:-}
  if [ -z "$dir" ]; then
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    [ -d "$dir" ] || dir=""
  fi
  if [ -n "$dir" ]; then echo "$dir/$1"; else echo "$1"; fi
}

# Run a command as the owner of the clusters (from /, which it can read).
_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

_pg_own() {
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$@"; fi
}

pg_mktemp() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/$1-XXXXXX")
  chmod 755 "$dir" # postgres must reach its cluster dirs inside
  echo "$dir"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# shellcheck disable=SC2120 # the exclusions are for callers
free_port() {
  local port
  for _ in $(seq 1 200); do
    # below Linux's ephemeral range, where outgoing connections take ports
    port=$((20000 + RANDOM % 12000))
    case " $* " in *" $port "*) continue ;; esac
    port_open "$port" || { echo "$port"; return 0; }
  done
  echo "free_port: no free port found" >&2
  return 1
}

wait_port() {
  local port=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 20; i++)); do
    port_open "$port" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# initdb once, under a lock: into a temp dir postgres can write, then
# copied into place and renamed, so a half-made template is never seen.
_pg_make_template() {
  local tmp
  mkdir -p "$(dirname "$_pg_template")"
  (
    flock 9
    [ -f "$_pg_template/PG_VERSION" ] && exit 0
    tmp=$(pg_mktemp xact-initdb)
    _pg_own "$tmp"
    if ! _pg_as_owner "$(_pg_bin initdb)" -D "$tmp/data" -A trust -U postgres \
      -E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
      echo "pg: initdb failed:" >&2
      tail -n 20 "$tmp/initdb.log" >&2
      rm -rf "$tmp"
      exit 1
    fi
    rm -rf "$_pg_template.new" "$_pg_template"
    cp -a "$tmp/data" "$_pg_template.new"
    mv "$_pg_template.new" "$_pg_template"
    rm -rf "$tmp"
  ) 9>"$_pg_template.lock"
}

pg_start() {
  local dir=$1 port opts
  _pg_make_template || return 1
  mkdir "$dir"
  chmod 700 "$dir"
  _pg_own "$dir"
  cp -a "$_pg_template" "$dir/data"
  for _ in 1 2 3; do # a free port can be taken before PostgreSQL binds it
    port=$(free_port) || return 1
    opts="-p $port -c listen_addresses=127.0.0.1"
    opts+=" -c unix_socket_directories=$dir"
    opts+=" -c max_prepared_transactions=100 -c max_connections=200"
    if [ "${XACT_PG_DURABLE:-}" = 1 ]; then
      opts+=" -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    else
      opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    if _pg_as_owner "$(_pg_bin pg_ctl)" -w -D "$dir/data" -l "$dir/pg.log" \
      -o "$opts" start >>"$dir/pg_ctl.log" 2>&1; then
      echo "$port"
      return 0
    fi
  done
  echo "pg: PostgreSQL did not start in $dir:" >&2
  tail -n 20 "$dir/pg.log" >&2
  return 1
}

pg_stop() {
  [ -f "$1/data/postmaster.pid" ] || return 0
  _pg_as_owner "$(_pg_bin pg_ctl)" -D "$1/data" -m immediate -w stop \
    >>"$1/pg_ctl.log" 2>&1 || true
}

pg_conninfo() {
  echo "host=127.0.0.1 port=$1 dbname=postgres user=postgres"
}

pg_psql() {
  "$(_pg_bin psql)" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"
}
