#!/usr/bin/env bash
# docker/demo.sh: the xact demo as a docker-compose cluster.
#
# Three PostgreSQL 15 containers, a participant container beside each, one
# coordinator container and a workload container (xact-bank) that moves
# money between the databases, each transfer one global transaction. In
# the middle of the run the coordinator container is killed (docker kill:
# SIGKILL) and started again. At the end the money is all there, no balance
# is negative and pg_prepared_xacts is empty in every database. Exit 0 only
# then.
#
# It installs what is missing (docker.io, docker-compose; debootstrap when
# a base image must be made), starts dockerd if no engine answers, makes the
# base images where no registry is reachable (docker/base-images.sh),
# builds the xact image, and on exit, Ctrl-C or kill removes the cluster
# and its volumes. A dockerd it started is left running.
#
# Knobs: DEMO_SECONDS (default 20), DEMO_CLIENTS (8), DEMO_PROTOCOL (2pc or
# 3pc), DEMO_ACCOUNTS (accounts per database, 100); XACT_IMAGE (default
# xact:local), XACT_POSTGRES_IMAGE (default: postgres:15, else a local
# build), XACT_PG_PASSWORD (the databases' password, xact),
# XACT_COMPOSE_PROJECT (xact-demo), XACT_KEEP=1 (leave the cluster up),
# XACT_PULL_TIMEOUT (seconds per docker pull, 30).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=base-images.sh
. "$here/base-images.sh"

readonly N=3 BALANCE=1000
readonly ACCOUNTS=${DEMO_ACCOUNTS:-100}
readonly RUN_SECONDS=${DEMO_SECONDS:-20} CLIENTS=${DEMO_CLIENTS:-8}
readonly PROTOCOL=${DEMO_PROTOCOL:-2pc}
readonly KILL_AFTER=$((RUN_SECONDS * 2 / 5)) # docker kill the coordinator then
readonly RESTART_AFTER=1                     # and start it at least this much later
readonly DRAIN_SECONDS=60                    # for in-doubt branches to resolve
readonly EXPECT=$((N * ACCOUNTS * BALANCE))
readonly PROJECT=${XACT_COMPOSE_PROJECT:-xact-demo}
# Read by docker-compose.yml.
export XACT_IMAGE=${XACT_IMAGE:-xact:local} DEMO_SECONDS=$RUN_SECONDS \
  DEMO_CLIENTS=$CLIENTS DEMO_PROTOCOL=$PROTOCOL DEMO_ACCOUNTS=$ACCOUNTS

compose=()  # docker compose or docker-compose, with the file and project
up=0        # 1 once the cluster may exist: taken down on exit
logdir=""   # logs of the build and of compose
failures=() # checks that failed, reported at the end
fatal=""    # why the demo stopped early, said last

step() { printf '==> %s\n' "$*"; }
fail() { fatal=$*; exit 1; }
indent() { sed 's/^/    /'; }
# compose's own progress lines ("Creating xact-demo_workload_run ... done").
quiet() { grep -v -E '^(Creating|Starting|Pulling) .*\.\.\.|^\[\+\]|^ *(Container|Network|Volume) ' || true; }

# Sleep in the background so that a signal interrupts us at once.
pause() { sleep "$1" & wait $! || true; }

show_logs() {
  step "last log lines of the cluster"
  "${compose[@]}" logs --no-color --tail 15 coordinator bank1 bank2 bank3 2>&1 | indent
}

# Remove the containers, the network and the volumes (XACT_KEEP=1: not).
teardown() {
  up=0
  if [ "${XACT_KEEP:-}" = 1 ]; then
    step "XACT_KEEP=1: the cluster stays up; remove it with: ${compose[*]} --profile workload down -v"
    return 0
  fi
  step "removing the cluster and its volumes"
  "${compose[@]}" --profile workload down -v --remove-orphans -t 5 >"$logdir/down.log" 2>&1 ||
    { indent <"$logdir/down.log" >&2; echo "demo: compose down failed" >&2; }
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  bi_cleanup
  if ((up)); then
    case $rc in 0 | 130 | 143) ;; *) show_logs ;; esac
    teardown
  fi
  [ -n "$logdir" ] && rm -rf "$logdir"
  case $rc in
    0) ;;
    130 | 143) echo "demo: interrupted" >&2 ;;
    *) echo "demo: FAILED: ${fatal:-exit $rc}" >&2 ;;
  esac
  exit "$rc"
}

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  step "installing $* (apt-get)"
  { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"; } \
    >"$logdir/apt.log" 2>&1 || { tail -n 15 "$logdir/apt.log" >&2; fail "apt-get install $* failed"; }
}

engine_up() { docker info >/dev/null 2>&1; }

# Start dockerd in the background, its log in /var/log/dockerd.log; poll
# until the engine answers. 0 when it does, 1 when dockerd exited.
start_dockerd() {
  local pid
  setsid dockerd "$@" >>/var/log/dockerd.log 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 120); do
    engine_up && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  fail "dockerd (pid $pid) runs but does not answer after 60s (log /var/log/dockerd.log)"
}

# docker, compose and a running engine.
setup_docker() {
  local -a want=()
  command -v docker >/dev/null || want+=(docker.io)
  if ! engine_up && ! command -v dockerd >/dev/null; then want+=(docker.io); fi
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    want+=(docker-compose)
  fi
  if ((${#want[@]})); then mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u); apt_install "${want[@]}"; fi

  if ! engine_up; then
    [ "$(id -u)" -eq 0 ] || fail "no Docker engine answers, and only root can start dockerd"
    step "starting dockerd (log /var/log/dockerd.log)"
    if ! start_dockerd; then
      tail -n 5 /var/log/dockerd.log | indent >&2
      step "dockerd did not start: trying again with --storage-driver=vfs (slower, more disk)"
      start_dockerd --storage-driver=vfs ||
        { tail -n 10 /var/log/dockerd.log | indent >&2; fail "dockerd does not start (log /var/log/dockerd.log)"; }
    fi
  fi
  step "Docker engine $(docker version -f '{{.Server.Version}}'), storage $(docker info -f '{{.Driver}}')"

  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  else
    compose=(docker-compose)
  fi
  step "compose: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || echo '?'))"
  compose+=(-f "$here/docker-compose.yml" -p "$PROJECT")
}

# debootstrap is needed only when debian:bookworm-slim cannot be pulled.
base() {
  if ! bi_exists "$BI_DEBIAN" && ! command -v debootstrap >/dev/null; then
    apt_install debootstrap
  fi
  base_images
}

# docker build [ARG...] of docker/Dockerfile. The context is sent as a tar
# of exactly the paths that docker/Dockerfile.dockerignore keeps: the
# classic builder reads no ignore file but the context root's.
build() {
  local -a paths
  mapfile -t paths < <(sed -n 's/^!\(.*\)/\1/p' "$here/Dockerfile.dockerignore")
  tar -C "$root" -cf - "${paths[@]}" |
    docker build -f docker/Dockerfile "$@" - >>"$logdir/build.log" 2>&1
}

# The xact image; its builder stage is tagged too ($XACT_IMAGE-build), so
# that it stays as the cache of the next build, and the images of earlier
# builds (untagged now, labelled xact.image) are removed.
build_image() {
  local t=$SECONDS
  step "building $XACT_IMAGE (docker/Dockerfile: cmake in a bookworm builder, then a runtime image)"
  if ! build --target build -t "$XACT_IMAGE-build" || ! build -t "$XACT_IMAGE"; then
    tail -n 25 "$logdir/build.log" >&2
    fail "building $XACT_IMAGE failed"
  fi
  docker image prune -f --filter label=xact.image >/dev/null 2>&1 || true
  step "$XACT_IMAGE: $(docker image inspect -f '{{.Size}}' "$XACT_IMAGE" |
    awk '{ printf "%.0f MB", $1 / 1e6 }'), in $((SECONDS - t))s"
}

# cid SERVICE: the id of the service's container (not the one-off ones),
# as remember_ids found it, else asked for.
declare -A ids=()
cid() {
  if [ -n "${ids[$1]:-}" ]; then echo "${ids[$1]}"; return 0; fi
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" \
    --filter "label=com.docker.compose.oneoff=False" | head -n 1
}

# remember_ids SERVICE...: so that later steps need not ask (a kill and a
# start keep the id).
remember_ids() {
  local s
  for s in "$@"; do
    ids[$s]=$(cid "$s")
    [ -n "${ids[$s]}" ] || fail "no container for $s"
  done
}

# wait_healthy SERVICE SECS
wait_healthy() {
  local id state="" i
  id=$(cid "$1")
  [ -n "$id" ] || fail "no container for $1"
  for ((i = 0; i < $2 * 2; i++)); do
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
    case $state in
      "running healthy") return 0 ;;
      running*) ;;
      *) fail "$1 is $state" ;;
    esac
    pause 0.5
  done
  fail "$1 not healthy after $2 s ($state)"
}

db_args() {
  local i
  for ((i = 1; i <= N; i++)); do
    printf -- '--db\nhost=db%d port=5432 dbname=bank user=postgres\n' "$i"
  done
}

# bank ARG...: xact-bank in a one-off container of the workload service,
# its output (stdout and stderr) in $logdir/bank.log.
bank() {
  "${compose[@]}" --profile workload run --rm --no-deps -T workload xact-bank "$@" \
    >"$logdir/bank.log" 2>&1
}

# psql_db I SQL: one row, unaligned, from database I.
psql_db() {
  docker exec "$(cid "db$1")" psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -U postgres -d bank -c "$2"
}

# "db1 N, db2 N, db3 N": the databases asked at once.
prepared_counts() {
  local i sep=""
  for ((i = 1; i <= N; i++)); do
    psql_db "$i" 'SELECT count(*) FROM pg_prepared_xacts' >"$logdir/prepared$i" 2>&1 &
  done
  wait
  for ((i = 1; i <= N; i++)); do
    printf '%sdb%d %s' "$sep" "$i" "$(grep -E '^[0-9]+$' "$logdir/prepared$i" || echo '?')"
    sep=", "
  done
}

start_cluster() {
  step "starting the cluster: db1-3 (PostgreSQL 15, $XACT_POSTGRES_IMAGE), bank1-3, coordinator"
  up=1
  "${compose[@]}" up -d >"$logdir/up.log" 2>&1 || { indent <"$logdir/up.log" >&2; fail "compose up failed"; }
  remember_ids db1 db2 db3 bank1 bank2 bank3 coordinator
  wait_healthy coordinator 120
  step "cluster up: the coordinator and its three participants answer"
  docker exec "$(cid coordinator)" xactctl -c /etc/xact/coordinator.yaml list | indent
}

# The workload in its container, the coordinator killed under it.
run_workload() {
  local wid coord rc since pause_pid counts
  step "workload: $CLIENTS clients for ${RUN_SECONDS}s ($PROTOCOL), in the container workload"
  "${compose[@]}" --profile workload up -d --no-deps workload >"$logdir/workload-up.log" 2>&1 ||
    { indent <"$logdir/workload-up.log" >&2; fail "the workload did not start"; }
  remember_ids workload
  wid=$(cid workload)
  coord=$(cid coordinator)

  pause "$KILL_AFTER"
  step "docker kill coordinator (SIGKILL) in the middle of the workload"
  docker kill "$coord" >/dev/null
  # Down for RESTART_AFTER seconds, or as long as counting takes.
  sleep "$RESTART_AFTER" &
  pause_pid=$!
  counts=$(prepared_counts)
  wait "$pause_pid" || true
  step "prepared branches in doubt while it is down: $counts"
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  docker start "$coord" >/dev/null
  step "coordinator started again: it replays its decision log"
  wait_healthy coordinator 60
  docker logs --since "$since" "$coord" >"$logdir/coordinator.log" 2>&1 || true
  grep 'listening' "$logdir/coordinator.log" | indent
  step "$(grep -c ' recovered' "$logdir/coordinator.log" || true) transactions recovered from its decision log"

  step "waiting for the workload to finish"
  rc=$(docker wait "$wid")
  docker logs "$wid" 2>&1 | indent
  [ "$rc" -eq 0 ] || failures+=("the workload reported a problem (exit $rc)")
}

check() {
  local rc=0 i sum neg prepared total=0 row resolved
  local -a args
  step "checking: money conserved, no negative balance, the journal matches, no prepared left (waiting up to ${DRAIN_SECONDS}s)"
  mapfile -t args < <(db_args)
  bank check "${args[@]}" --expect-total "$EXPECT" --wait "$DRAIN_SECONDS" \
    --participants bank1,bank2,bank3 --journal /var/lib/xact/journal || rc=$?
  quiet <"$logdir/bank.log" | indent
  [ "$rc" -eq 0 ] || failures+=("xact-bank check failed (exit $rc)")

  step "each database, with psql"
  printf '    %-4s %10s %9s %9s\n' db balance negative prepared
  for ((i = 1; i <= N; i++)); do
    row=$(psql_db "$i" "SELECT (SELECT sum(balance) FROM accounts), (SELECT count(*) FROM accounts WHERE balance < 0), (SELECT count(*) FROM pg_prepared_xacts)") ||
      { failures+=("db$i does not answer"); continue; }
    read -r sum neg prepared <<<"$row"
    [[ "$sum $neg $prepared" =~ ^-?[0-9]+\ [0-9]+\ [0-9]+$ ]] ||
      { failures+=("db$i: unexpected answer \"$row\""); continue; }
    printf '    %-4s %10s %9s %9s\n' "db$i" "$sum" "$neg" "$prepared"
    total=$((total + sum))
    [ "$neg" -eq 0 ] || failures+=("db$i has $neg negative balances")
    [ "$prepared" -eq 0 ] || failures+=("db$i has $prepared transactions left in pg_prepared_xacts")
  done
  printf '    %-4s %10s (expected %s)\n' all "$total" "$EXPECT"
  [ "$total" -eq "$EXPECT" ] || failures+=("the balances sum to $total, not $EXPECT")

  resolved=0
  for ((i = 1; i <= N; i++)); do
    resolved=$((resolved + $(docker logs "$(cid "bank$i")" 2>&1 | grep -c ' in doubt: ' || true)))
  done
  step "prepared branches the participants' sweepers resolved by asking the coordinator, over the run: $resolved"
}

main() {
  local start=$SECONDS
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  logdir=$(mktemp -d "${TMPDIR:-/tmp}/docker-demo.XXXXXX")
  setup_docker
  base
  build_image
  # A cluster left by an earlier run (XACT_KEEP=1) is replaced.
  "${compose[@]}" --profile workload down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
  start_cluster
  step "creating $ACCOUNTS accounts x $BALANCE in each database"
  local -a args
  mapfile -t args < <(db_args)
  bank init "${args[@]}" --accounts "$ACCOUNTS" --balance "$BALANCE" ||
    { quiet <"$logdir/bank.log" | indent >&2; fail "xact-bank init failed"; }
  quiet <"$logdir/bank.log" | indent
  run_workload
  check
  ((${#failures[@]} == 0)) || show_logs
  teardown
  if ((${#failures[@]})); then
    printf 'demo: FAILED: %s\n' "${failures[@]}" >&2
    exit 1
  fi
  echo "demo: OK, all checks passed ($((SECONDS - start))s)"
}

main "$@"
