#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (>= 15) and psql are present; install Debian's
# `postgresql` package when they are missing. Idempotent and quiet when nothing is needed.
set -euo pipefail

have_server() {
  if [ -n "${STELLA_PG_BIN:-}" ] && [ -x "$STELLA_PG_BIN/postgres" ] && [ -x "$STELLA_PG_BIN/initdb" ]; then
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    local d
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then return 0; fi
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then return 0; fi
  done
  return 1
}

if have_server && command -v psql >/dev/null 2>&1 && command -v zstd >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "PostgreSQL server binaries are missing and this user cannot install them:" >&2
    echo "  run as root: apt-get install postgresql zstd" >&2
    exit 1
  fi
fi
echo "installing PostgreSQL from Debian's packages ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# policy-rc.d keeps the package from starting its own cluster: stella-bundle runs its own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib zstd >/dev/null
have_server || { echo "PostgreSQL installation did not provide server binaries" >&2; exit 1; }
