#!/usr/bin/env bash
# The main job end to end on the embedded default: an embedded PostgreSQL cluster in a fresh
# home, its schema migrated and linted. Installs PostgreSQL from Debian's packages if missing.
# Usage: scripts/demo.sh [HOME_DIR]   (default: a new folder under /tmp, kept for inspection)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
cargo build --locked --quiet
B="$PWD/target/debug/stella-bundle"
H="${1:-$(mktemp -d /tmp/stella-demo.XXXXXX)}"
chmod 711 "$H" 2>/dev/null || true
export STELLA_HOME="$H"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step stella-bundle db start
"$B" db start
step stella-bundle db lint
"$B" db lint
step stella-bundle db status
"$B" db status

printf '\nThe embedded cluster keeps running; stop it with:\n  STELLA_HOME=%s %s db stop\n' "$H" "$B"
