#!/usr/bin/env bash
# docker/base-images.sh: the base images of the compose demo.
#
#   debian:bookworm-slim  pulled; where no registry answers, made here:
#                         debootstrap --variant=minbase, then docker import
#   PostgreSQL 15         $XACT_POSTGRES_IMAGE if set (pulled if absent);
#                         else postgres:15 or xact-postgres:15 if either is
#                         there; else postgres:15 pulled; where that fails,
#                         xact-postgres:15 is built from docker/postgres/ on
#                         debian:bookworm-slim. XACT_POSTGRES_IMAGE names
#                         the one chosen.
#
# An image that is already there is used as it is. docker/demo.sh sources
# this file and calls base_images; run by itself, it makes both images and
# prints the PostgreSQL image to use (XACT_POSTGRES_IMAGE=...).
#
# Knobs: XACT_PULL_TIMEOUT (seconds for each docker pull, default 30),
# XACT_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# XACT_DEBIAN_SECURITY (default http://deb.debian.org/debian-security).
set -euo pipefail

_bi_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly BI_DEBIAN=debian:bookworm-slim
readonly BI_PG_OFFICIAL=postgres:15
readonly BI_PG_SUBSTITUTE=xact-postgres:15
bi_rootfs="" # the debootstrap dir while it exists (removed by bi_cleanup)

bi_step() { printf '==> %s\n' "$*"; }
# The caller's fail (docker/demo.sh), if it has one, says why last.
bi_fail() {
  if declare -F fail >/dev/null; then fail "$*"; fi
  printf 'base-images: FAILED: %s\n' "$*" >&2
  exit 1
}

bi_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# bi_pull IMAGE: 0 when pulled within XACT_PULL_TIMEOUT seconds.
bi_pull() {
  local out secs=${XACT_PULL_TIMEOUT:-30}
  if out=$(timeout "$secs" docker pull -q "$1" 2>&1); then
    bi_step "$1: pulled"
    return 0
  fi
  out=${out##*$'\n'}
  bi_step "$1: cannot pull (${out:-timed out after ${secs}s})"
  return 1
}

# Remove the debootstrap dir, unmounting first what debootstrap mounted in
# it (proc, sys) if it was interrupted; never crosses into another mount.
bi_cleanup() {
  local m
  [ -n "$bi_rootfs" ] && [ -d "$bi_rootfs" ] || return 0
  awk -v d="$bi_rootfs/" 'index($2, d) == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$bi_rootfs"
  bi_rootfs=""
}

# Make the debootstrapped tree look like the registry's slim image: its
# apt sources, no documentation (dpkg path excludes), no apt caches.
bi_slim_rootfs() {
  local dir=$1
  cat >"$dir/etc/apt/sources.list" <<EOF
deb ${XACT_DEBIAN_MIRROR:-http://deb.debian.org/debian} bookworm main
deb ${XACT_DEBIAN_MIRROR:-http://deb.debian.org/debian} bookworm-updates main
deb ${XACT_DEBIAN_SECURITY:-http://deb.debian.org/debian-security} bookworm-security main
EOF
  # A dated snapshot of the archive has expired Release files: where the
  # host's apt accepts them, so does the image's.
  if apt-config dump 2>/dev/null | grep -qi '^Acquire::Check-Valid-Until "false"'; then
    cat >"$dir/etc/apt/apt.conf.d/99check-valid-until" <<'EOF'
// As on the host that built this image: the archive is a dated snapshot.
Acquire::Check-Valid-Until "false";
EOF
  fi
  cat >"$dir/etc/dpkg/dpkg.cfg.d/01-slim" <<'EOF'
# No documentation, manual pages or translations in this image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir"/usr/share/{man,info,groff,lintian,locale}/*
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
    "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/*.log
  : >"$dir/etc/resolv.conf" # Docker provides its own
  : >"$dir/etc/hostname"
}

bi_debian() {
  local log
  if bi_exists "$BI_DEBIAN"; then
    bi_step "$BI_DEBIAN: present"
    return 0
  fi
  bi_pull "$BI_DEBIAN" && return 0
  command -v debootstrap >/dev/null || bi_fail "debootstrap is missing (apt-get install debootstrap)"
  bi_rootfs=$(mktemp -d "${TMPDIR:-/tmp}/bookworm-rootfs.XXXXXX")
  log=$bi_rootfs.log
  bi_step "$BI_DEBIAN: debootstrap --variant=minbase bookworm (a few minutes; log $log)"
  if ! debootstrap --variant=minbase bookworm "$bi_rootfs" \
    "${XACT_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    bi_cleanup
    bi_fail "debootstrap failed (log $log)"
  fi
  bi_slim_rootfs "$bi_rootfs"
  bi_step "$BI_DEBIAN: docker import"
  tar --numeric-owner -C "$bi_rootfs" -c . |
    docker import --change 'CMD ["bash"]' - "$BI_DEBIAN" >/dev/null ||
    { bi_cleanup; bi_fail "docker import of the debootstrapped tree failed"; }
  bi_cleanup
  rm -f "$log"
  bi_step "$BI_DEBIAN: made ($(docker image inspect -f '{{.Size}}' "$BI_DEBIAN" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# Sets XACT_POSTGRES_IMAGE to an image that is there.
bi_postgres() {
  local want=${XACT_POSTGRES_IMAGE:-} log
  if [ -n "$want" ]; then
    # Chosen by the caller: that one or nothing.
    bi_exists "$want" || bi_pull "$want" || bi_fail "PostgreSQL image $want is not available"
    bi_step "PostgreSQL image: $want"
    return 0
  fi
  # What is there first: no registry is asked when a run has made one.
  if bi_exists "$BI_PG_OFFICIAL"; then
    XACT_POSTGRES_IMAGE=$BI_PG_OFFICIAL
  elif bi_exists "$BI_PG_SUBSTITUTE"; then
    XACT_POSTGRES_IMAGE=$BI_PG_SUBSTITUTE
  elif bi_pull "$BI_PG_OFFICIAL"; then
    XACT_POSTGRES_IMAGE=$BI_PG_OFFICIAL
  else
    bi_step "$BI_PG_SUBSTITUTE: building (Debian's postgresql-15 on $BI_DEBIAN)"
    log=$(mktemp "${TMPDIR:-/tmp}/postgres-image-build.XXXXXX")
    docker build -t "$BI_PG_SUBSTITUTE" "$_bi_dir/postgres" >"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; bi_fail "building $BI_PG_SUBSTITUTE failed (log $log)"; }
    rm -f "$log"
    XACT_POSTGRES_IMAGE=$BI_PG_SUBSTITUTE
  fi
  export XACT_POSTGRES_IMAGE
  bi_step "PostgreSQL image: $XACT_POSTGRES_IMAGE"
}

base_images() {
  bi_debian
  bi_postgres
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  trap bi_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  base_images
  echo "XACT_POSTGRES_IMAGE=$XACT_POSTGRES_IMAGE"
fi
