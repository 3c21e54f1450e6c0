#!/usr/bin/env bash
# The main job end to end on the embedded default, in a fresh home: an embedded PostgreSQL
# cluster with WAL archiving, a base backup, signed bundles verified and imported (twice: the
# second time changes nothing), a scan with a signed manifest, its findings, a newer feed and a
# second scan, two exports with the same sha256, then `replay` of both scans (point-in-time recovery proves each result) and status.
# Installs PostgreSQL from Debian's packages if its binaries are missing.
# Usage: scripts/demo.sh [HOME_DIR]   (default: a new folder under /tmp, kept for inspection)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
scripts/ensure-postgres.sh
cargo build --locked --quiet
B="$ROOT/target/debug/stella-bundle"
H="${1:-$(mktemp -d /tmp/stella-demo.XXXXXX)}"
mkdir -p "$H"
chmod 711 "$H" 2>/dev/null || true
export STELLA_HOME="$H/home"
WORK="$H/work"
mkdir -p "$WORK"
cd "$WORK"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "stella-bundle $*"; "$B" "$@"; }

run db start
run db lint

# The connected side: a site key for scan manifests; the sample bundles are signed with the
# (public!) demo key in bundles/.
run keygen --out "$WORK/site"
run trust add "$ROOT/bundles/demo-key.pub"
run trust add "$WORK/site.pub"
run backup
run verify "$ROOT"/bundles/osv-demo.tar.zst "$ROOT"/bundles/sbom-demo.tar.zst "$ROOT"/bundles/vex-demo.tar.zst

run import "$ROOT"/bundles/osv-demo.tar.zst "$ROOT"/bundles/sbom-demo.tar.zst "$ROOT"/bundles/vex-demo.tar.zst
run import "$ROOT"/bundles/osv-demo.tar.zst   # again: already_imported, nothing changes

run scan --key "$WORK/site.key" --manifest-out "$WORK/scan-1.manifest.json"
run findings --status not_affected
run findings --artifact 'pkg:golang/github.com/protonmail/proton-bridge@v1.8.0' --limit 5

run import "$ROOT"/bundles/osv-demo-2.tar.zst  # a newer feed (sequence 2)
run scan --key "$WORK/site.key" --manifest-out "$WORK/scan-2.manifest.json"

# Data leaves the site as a signed snapshot: the same state gives the same bytes.
run export --key "$WORK/site.key" --out "$WORK/snapshot-a.tar.zst"
run export --key "$WORK/site.key" --out "$WORK/snapshot-b.tar.zst"
step "sha256sum snapshot-a.tar.zst snapshot-b.tar.zst"
sha256sum "$WORK/snapshot-a.tar.zst" "$WORK/snapshot-b.tar.zst"
cmp "$WORK/snapshot-a.tar.zst" "$WORK/snapshot-b.tar.zst"

# The auditor: each scan, proven by point-in-time recovery.
run replay "$WORK/scan-1.manifest.json"
run replay "$WORK/scan-2.manifest.json"
run status

printf '\nHome: %s (the embedded cluster keeps running; stop it with: STELLA_HOME=%s %s db stop)\n' "$STELLA_HOME" "$STELLA_HOME" "$B"
