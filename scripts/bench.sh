#!/usr/bin/env bash
# Benchmarks, one section per subcommand; each prints Markdown (machine, date, command, figures)
# to paste into docs/BENCHMARKS.md.
#
#   scripts/bench.sh export [RECORDS]   `export` of a generated tenant (RECORDS OSV records,
#                                       default 20000, in 4 feed bundles, plus SBOMs and VEX) vs
#                                       `pg_dump` of the same tables piped through `zstd -3`, vs
#                                       `zstd -3` over the same document bytes already on disk;
#                                       wall time and peak RSS (`/usr/bin/time -v`).
#
# STELLA_BIN: the binary to measure (default: builds target/release/stella-bundle).
# BENCH_DIR: parent of the scratch folder (default /tmp; must be enterable by the server user).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,14p' "$0" >&2; exit 2; }

binary() {
  B="${STELLA_BIN:-}"
  if [ -z "$B" ]; then
    cargo build --release --locked --quiet --bin stella-bundle
    B="$PWD/target/release/stella-bundle"
  fi
  B="$(readlink -f "$B")"
}

machine() {
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); shared with other jobs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
}

# Runs "$@" under /usr/bin/time -v; prints "seconds max_rss_mib".
timed() {
  local log
  log="$(mktemp)"
  /usr/bin/time -v -o "$log" "$@" >/dev/null
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
              /Maximum resident set size/ { r = $2 / 1024 }
              END { printf "%.2f %.1f\n", s, r }' "$log"
  rm -f "$log"
}

mib_of() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

bench_export() {
  local records="${1:-20000}"
  binary
  scripts/ensure-postgres.sh >/dev/null
  W="$(mktemp -d "${BENCH_DIR:-/tmp}/stella-bench.XXXXXX")"
  chmod 711 "$W"
  H="$W/home"
  trap '"$B" --home "$H" -q db stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
  echo "== generating $records OSV records and importing them into a fresh embedded cluster in $W" >&2
  "$B" --home "$H" -q db start
  local URL
  URL="$("$B" --home "$H" db status --json | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')"
  "$B" -q keygen --out "$W/k"
  python3 - "$W/docs" "$records" <<'PY'
import json, os, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = "buffer overflow in parser allows remote attackers to execute arbitrary code via crafted input when handling untrusted data denial of service memory corruption".split()
for feed in range(4):
    d = os.path.join(out, "feed%d" % feed)
    os.makedirs(d, exist_ok=True)
    for i in range(feed, n, 4):
        name = "pkg-%d" % (i % 5000)
        rec = {
            "schema_version": "1.6.0",
            "id": "GEN-%07d" % i,
            "modified": "2026-%02d-%02dT00:00:00Z" % (1 + i % 12, 1 + i % 28),
            "published": "2025-01-01T00:00:00Z",
            "aliases": ["CVE-2026-%05d" % i],
            "summary": " ".join(rnd.choice(words) for _ in range(8)),
            "details": " ".join(rnd.choice(words) for _ in range(120)),
            "affected": [{
                "package": {"ecosystem": "npm", "name": name, "purl": "pkg:npm/%s" % name},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "%d.%d.%d" % (1 + i % 9, i % 7, i % 13)}]}],
                "versions": ["0.%d.0" % v for v in range(i % 10)],
            }],
            "references": [{"type": "ADVISORY", "url": "https://example.org/advisories/GEN-%07d" % i}],
        }
        with open(os.path.join(d, "GEN-%07d.json" % i), "w") as f:
            json.dump(rec, f, indent=2)
PY
  mkdir -p "$W/docs/sbom" "$W/docs/vex"
  local fx="${STELLA_SHARED_DIR:-../shared}/fixtures"
  for f in dropwizard-1.3.15.bom.json juice-shop-v11.1.2.bom.json laravel-7.12.0.bom.1.4.json proton-bridge-v1.8.0.bom.json; do
    [ -f "$fx/cyclonedx/bom-examples/$f" ] && cp "$fx/cyclonedx/bom-examples/$f" "$W/docs/sbom/"
  done
  [ -f "$fx/openvex/go-vex_v0.2.0.json" ] && cp "$fx/openvex/go-vex_v0.2.0.json" "$W/docs/vex/"
  local bundles=()
  for feed in 0 1 2 3; do
    "$B" -q bundle create --kind feed --source "gen-$feed" --key "$W/k.key" --out "$W/feed$feed.tar.zst" \
      --created "2026-11-0$((feed + 1))T00:00:00Z" "$W/docs/feed$feed"
    bundles+=("$W/feed$feed.tar.zst")
  done
  if [ -n "$(ls "$W/docs/sbom")" ]; then
    "$B" -q bundle create --kind sbom --source apps --key "$W/k.key" --out "$W/sbom.tar.zst" --created 2026-11-01T00:00:00Z "$W/docs/sbom"
    bundles+=("$W/sbom.tar.zst")
  fi
  if [ -n "$(ls "$W/docs/vex")" ]; then
    "$B" -q bundle create --kind vex --source vendor --key "$W/k.key" --out "$W/vex.tar.zst" --created 2026-11-01T00:00:00Z "$W/docs/vex"
    bundles+=("$W/vex.tar.zst")
  fi
  "$B" --home "$H" -q import --trust "$W/k.pub" "${bundles[@]}"
  psql -qtA "$URL" -c "VACUUM ANALYZE" >/dev/null
  local raw_mib
  raw_mib="$(du -sm --apparent-size "$W/docs" | cut -f1)"

  echo "== measuring" >&2
  local e1 e2 d z
  e1="$(timed "$B" --home "$H" -q export --key "$W/k.key" --out "$W/snap.tar.zst")"
  e2="$(timed "$B" --home "$H" -q export --key "$W/k.key" --out "$W/snap2.tar.zst")"
  cmp -s "$W/snap.tar.zst" "$W/snap2.tar.zst" || { echo "export is not deterministic" >&2; exit 1; }
  d="$(timed sh -c "pg_dump -d '$URL' -t advisory -t advisory_affected -t sbom_document -t sbom_component -t vex_document -t vex_statement -t scan_manifest -t bundle_import -t bundle_document | zstd -q -3 -o '$W/dump.sql.zst'")"
  z="$(timed sh -c "tar -C '$W/docs' -cf - . | zstd -q -3 -o '$W/docs.tar.zst'")"
  local dz
  dz="$(timed sh -c "pg_dump -d '$URL' -t advisory -t sbom_document -t vex_document -t scan_manifest | zstd -q -3 -o '$W/dump-docs.sql.zst'")"

  echo "## Export"
  echo
  echo "Command: \`scripts/bench.sh export $records\` ($records generated OSV records in 4 feed bundles, 4 CycloneDX SBOMs, 1 OpenVEX document; $raw_mib MiB of documents on disk)"
  echo
  machine
  echo
  echo "| what | wall s | peak RSS MiB | output MiB |"
  echo "| --- | ---: | ---: | ---: |"
  set -- $e1; echo "| \`export\` (signed snapshot, zstd level 10) | $1 | $2 | $(mib_of "$W/snap.tar.zst") |"
  set -- $e2; echo "| \`export\` again (byte-identical: checked with cmp) | $1 | $2 | $(mib_of "$W/snap2.tar.zst") |"
  set -- $dz; echo "| \`pg_dump\` of the 4 document tables \\| \`zstd -3\` | $1 | $2 | $(mib_of "$W/dump-docs.sql.zst") |"
  set -- $d; echo "| \`pg_dump\` of the documents, child rows and ledger \\| \`zstd -3\` | $1 | $2 | $(mib_of "$W/dump.sql.zst") |"
  set -- $z; echo "| \`tar\` \\| \`zstd -3\` of the same documents already on disk | $1 | $2 | $(mib_of "$W/docs.tar.zst") |"
  echo
  echo "Peak RSS of a pipeline is its largest process (\`/usr/bin/time -v\` of \`sh -c\`, which reports the largest child)."
}

case "${1:-}" in
  export) shift; bench_export "$@" ;;
  *) usage ;;
esac
