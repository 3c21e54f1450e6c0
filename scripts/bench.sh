#!/usr/bin/env bash
# Benchmarks, one section per subcommand: scripts/bench.sh SECTION [OPTIONS]
#   scan   500,000 components (100 SBOMs x 5,000) against 50,000 advisories on an embedded
#          cluster in a fresh home; the scan's wall time against the floor (the bare SQL join of
#          components to advisory_affected on (ecosystem, name)), then the hot `findings`
#          queries at 1,000,000 findings.
# Sizes: BENCH_SBOMS, BENCH_COMPONENTS (per SBOM), BENCH_ADVISORIES, BENCH_FINDINGS.
# Needs a release build (built here) and PostgreSQL (scripts/ensure-postgres.sh).
# Prints a Markdown block to paste into docs/BENCHMARKS.md. Keeps the home when BENCH_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 scan" >&2; exit 2; }
[ $# -ge 1 ] || usage

now() { date +%s.%N; }
secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

bench_scan() {
  local sboms=${BENCH_SBOMS:-100} per=${BENCH_COMPONENTS:-5000} advs=${BENCH_ADVISORIES:-50000}
  local nfind=${BENCH_FINDINGS:-1000000}
  scripts/ensure-postgres.sh
  cargo build --release --locked --quiet
  B="$PWD/target/release/stella-bundle"
  H=$(mktemp -d /tmp/stella-bench-scan.XXXXXX)
  chmod 711 "$H"
  export STELLA_HOME="$H"
  trap '"$B" db stop >/dev/null 2>&1 || true; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$H"' EXIT
  "$B" db start >/dev/null
  "$B" db migrate >/dev/null
  local url
  url=$("$B" db status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
  psql_() { psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }

  # A real (tiny) import first: the tenant row and an import ledger row the bulk rows refer to.
  "$B" keygen --out "$H/k" >/dev/null
  mkdir -p "$H/seed"
  printf '{"schema_version":"1.6.0","id":"SEED-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"seed"},"versions":["1.0.0"]}]}' >"$H/seed/seed.json"
  "$B" bundle create --kind feed --source bench --key "$H/k.key" --out "$H/seed.tar.zst" \
    --created 2026-11-01T00:00:00Z "$H/seed" >/dev/null
  "$B" import --trust "$H/k.pub" "$H/seed.tar.zst" >/dev/null

  local t0 t1
  t0=$(now)
  psql_ <<SQL
\set sboms $sboms
\set per $per
\set advs $advs
SET synchronous_commit = off;
CREATE TEMP TABLE v AS SELECT tenant_id AS t, (SELECT import_id FROM bundle_import LIMIT 1) AS imp FROM tenant LIMIT 1;
-- 30,000 package names over four ecosystems; advisories name the first 20,000, so two thirds of
-- the components' names have advisories (several each), one third none.
CREATE TEMP TABLE names AS
SELECT i, CASE i % 4 WHEN 0 THEN 'npm' WHEN 1 THEN 'PyPI' WHEN 2 THEN 'Maven' ELSE 'Go' END AS eco,
       CASE i % 4 WHEN 0 THEN 'pkg-' || i WHEN 1 THEN 'py-pkg-' || i
                  WHEN 2 THEN 'org.example:art' || i ELSE 'github.com/ex/mod' || i END AS name,
       CASE i % 4 WHEN 0 THEN 'pkg:npm/pkg-' || i WHEN 1 THEN 'pkg:pypi/py-pkg-' || i
                  WHEN 2 THEN 'pkg:maven/org.example/art' || i ELSE 'pkg:golang/github.com/ex/mod' || i END AS purl
FROM generate_series(1, 30000) i;
INSERT INTO advisory (tenant_id, content_hash, advisory_id, modified, aliases, summary, details, doc, raw, raw_format, first_import_id)
SELECT v.t, sha256(('bench-adv-' || i)::bytea), 'BENCH-' || i, '2026-01-01', ARRAY['CVE-2026-' || (100000 + i)],
       'synthetic advisory ' || i || ' heap overflow in parser', 'details of ' || i,
       jsonb_build_object('id', 'BENCH-' || i), convert_to('{"id":"BENCH-' || i || '"}', 'UTF8'), 'json', v.imp
FROM v, generate_series(1, :advs) i;
-- One affected package per advisory, a second one for every fifth; ranges "introduced 0 or 1.0.0,
-- fixed M.m.0" in the package's ecosystem.
INSERT INTO advisory_affected (tenant_id, advisory_pk, ordinal, ecosystem, ecosystem_base, package_name, ranges, versions)
SELECT a.tenant_id, a.id, o, n.eco, n.eco, lower(n.name),
       jsonb_build_array(jsonb_build_object('type', CASE WHEN n.eco = 'Go' THEN 'SEMVER' ELSE 'ECOSYSTEM' END, 'events',
         jsonb_build_array(jsonb_build_object('introduced', CASE WHEN k % 3 = 0 THEN '1.0.0' ELSE '0' END),
                           jsonb_build_object('fixed', (1 + k % 4) || '.' || (k % 10) || '.0')))),
       '{}'
FROM (SELECT * FROM advisory WHERE advisory_id LIKE 'BENCH-%') a
CROSS JOIN LATERAL (SELECT substr(a.advisory_id, 7)::int AS k) kk
CROSS JOIN LATERAL (VALUES (0), (1)) ord(o)
JOIN names n ON n.i = 1 + ((k * 37 + o * 7919) % 20000)
WHERE o = 0 OR k % 5 = 0;
INSERT INTO advisory_current (tenant_id, advisory_id, advisory_pk, modified, content_hash, withdrawn)
SELECT tenant_id, advisory_id, id, modified, content_hash, false FROM advisory WHERE advisory_id LIKE 'BENCH-%';
INSERT INTO sbom_document (tenant_id, content_hash, artifact_purl, doc, raw, first_import_id)
SELECT v.t, sha256(('bench-sbom-' || j)::bytea), 'pkg:generic/bench/app' || j || '@1.0.0', '{}', '', v.imp
FROM v, generate_series(1, :sboms) j;
-- Each SBOM: :per distinct names, versions from a few per package (as real fleets share them).
INSERT INTO sbom_component (tenant_id, sbom_id, ordinal, name, version, purl, package_purl, ecosystem, package_name)
SELECT d.tenant_id, d.id, k, n.name, ver, n.purl || '@' || CASE WHEN n.eco = 'Go' THEN 'v' ELSE '' END || ver,
       n.purl, n.eco, lower(n.name)
FROM sbom_document d
CROSS JOIN generate_series(0, :per - 1) k
CROSS JOIN LATERAL (SELECT 1 + ((d.id * 131 + k * 7) % 30000) AS ni) x
JOIN names n ON n.i = x.ni
CROSS JOIN LATERAL (SELECT (1 + (ni + d.id) % 4) || '.' || ((ni * 3 + d.id) % 10) || '.' || ((d.id) % 3) AS ver) vv;
ANALYZE;
SQL
  t1=$(now)
  local gen
  gen=$(secs "$t0" "$t1")
  local ncomp nadv ncand
  ncomp=$(psql_ -tA -c "SELECT count(*) FROM sbom_component")
  nadv=$(psql_ -tA -c "SELECT count(*) FROM advisory_current")

  # The floor: the bare candidate join, rows shipped to the client (psql \copy to /dev/null),
  # best of three; and its row count.
  local floor_sql="SELECT sc.sbom_id, sc.purl, sc.version, sc.ecosystem, af.advisory_pk, af.ecosystem, af.ranges, af.versions
    FROM sbom_component sc JOIN advisory_affected af
      ON af.tenant_id = sc.tenant_id AND af.ecosystem_base = split_part(sc.ecosystem, ':', 1) AND af.package_name = sc.package_name"
  ncand=$(psql_ -tA -c "SELECT count(*) FROM ($floor_sql) s")
  local best=999999 i t
  for i in 1 2 3; do
    t0=$(now)
    psql_ -c "\\copy ($floor_sql) TO '/dev/null'"
    t1=$(now)
    t=$(secs "$t0" "$t1")
    best=$(python3 -c "print(min($best, $t))")
  done
  local floor=$best

  # The scan, twice (the second with warm caches counts); its phases from -vv.
  local scan_s out
  for i in 1 2; do
    t0=$(now)
    out=$("$B" -vv scan --json --key "$H/k.key" --manifest-out "$H/m$i.json" --archive-wait 30 2>"$H/scan$i.log")
    t1=$(now)
    scan_s=$(secs "$t0" "$t1")
    echo "scan run $i: ${scan_s}s" >&2
  done
  phase() { sed -n "s/.*scan phase $1: \([0-9.]*\)s/\1/p" "$H/scan2.log"; }
  local p_eval p_store p_mv
  p_eval=$(phase evaluate)
  p_store=$(phase "store findings")
  p_mv=$(phase "refresh mv_artifact_risk")
  # The storage floor: the same findings inserted again by bare SQL (rolled back).
  local store_floor
  store_floor=$(psql_ -tA <<'SQL' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
BEGIN;
CREATE TEMP TABLE src ON COMMIT DROP AS SELECT * FROM finding
  WHERE scan_id = (SELECT scan_id FROM scan_run ORDER BY finished_at DESC LIMIT 1);
INSERT INTO scan_run (tenant_id, scan_id, status, started_at, engine_version, engine_rules)
  SELECT tenant_id, '00000000-0000-0000-0000-000000000001', 'done', now(), 'x', 'x' FROM tenant;
\timing on
INSERT INTO finding SELECT tenant_id, '00000000-0000-0000-0000-000000000001', artifact_purl, component_purl,
  advisory_id, aliases, status, justification, severity FROM src;
\timing off
ROLLBACK;
SQL
  )
  store_floor=$(python3 -c "print('%.2f' % ($store_floor / 1000))")
  local nfound
  nfound=$(echo "$out" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["findings"])')

  # 1,000,000 findings: synthetic scans of 200 artifacts x 5,000 findings, then the hot reads.
  psql_ <<SQL
SET synchronous_commit = off;
INSERT INTO scan_run (tenant_id, scan_id, status, started_at, finished_at, engine_version, engine_rules)
SELECT tenant_id, md5('bench-scan-' || s)::uuid, 'done', now(), now(), 'bench', 'bench' FROM tenant, generate_series(1, 4) s;
INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status)
SELECT t.tenant_id, md5('bench-scan-' || (1 + a % 4))::uuid, 'pkg:generic/fleet/app' || a || '@1.0.0',
       'pkg:npm/pkg-' || ((a * 7 + f) % 30000) || '@1.' || (f % 10) || '.0', 'BENCH-' || (1 + (a * 131 + f * 17) % $advs),
       ARRAY['CVE-2026-' || (100001 + (a * 131 + f * 17) % $advs)],
       (ARRAY['affected', 'not_affected', 'fixed', 'under_investigation'])[1 + f % 4]
FROM tenant t, generate_series(1, 200) a, generate_series(1, $nfind / 200) f;
INSERT INTO scan_artifact (tenant_id, scan_id, artifact_purl, sbom_id)
SELECT DISTINCT f.tenant_id, f.scan_id, f.artifact_purl, (SELECT min(id) FROM sbom_document)
FROM finding f WHERE f.artifact_purl LIKE 'pkg:generic/fleet/%';
ANALYZE;
SQL
  local nfindings
  nfindings=$(psql_ -tA -c "SELECT count(*) FROM finding")
  hot() { # name sql -> execution time in ms (median of 5 EXPLAIN ANALYZE runs)
    local name=$1 sql=$2 ms=()
    for i in 1 2 3 4 5; do
      ms+=("$(psql_ -tA -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Execution Time"])')")
    done
    printf '| %s | %s ms |\n' "$name" "$(printf '%s\n' "${ms[@]}" | sort -n | sed -n 3p)"
  }
  local T
  T=$(psql_ -tA -c "SELECT tenant_id FROM tenant LIMIT 1")
  local hot_rows
  hot_rows=$(
    hot "artifacts affected by advisory X" "SELECT DISTINCT artifact_purl FROM finding WHERE tenant_id = '$T' AND advisory_id = 'BENCH-4242'"
    hot "findings by alias (CVE)" "SELECT scan_id, artifact_purl, component_purl, advisory_id FROM finding WHERE tenant_id = '$T' AND aliases @> ARRAY['CVE-2026-104242']"
    hot "findings of a component" "SELECT scan_id, artifact_purl, advisory_id, status FROM finding WHERE tenant_id = '$T' AND component_purl = 'pkg:npm/pkg-707@1.0.0'"
    hot "open findings of an artifact in a scan" "SELECT component_purl, advisory_id, status FROM finding WHERE tenant_id = '$T' AND artifact_purl = 'pkg:generic/fleet/app77@1.0.0' AND status IN ('affected', 'under_investigation') AND scan_id = md5('bench-scan-2')::uuid"
  )
  cli() { # label args... -> wall ms of the CLI (best of 3)
    local label=$1 best=999999 t
    shift
    for i in 1 2 3; do
      t0=$(now)
      "$B" findings --json "$@" >/dev/null
      t1=$(now)
      t=$(python3 -c "print(round(($t1 - $t0) * 1000))")
      best=$((t < best ? t : best))
    done
    printf '| `findings %s` (CLI, wall) | %s ms |\n' "$label" "$best"
  }
  local cli_rows
  cli_rows=$(
    cli "--advisory BENCH-4242" --advisory BENCH-4242
    cli "--advisory CVE-2026-104242" --advisory CVE-2026-104242
    cli "--component pkg:npm/pkg-707@1.0.0" --component pkg:npm/pkg-707@1.0.0
    cli "--artifact pkg:generic/fleet/app77@1.0.0 --status affected" --artifact pkg:generic/fleet/app77@1.0.0 --status affected
  )

  local ratio
  ratio=$(python3 -c "print('%.1f' % ($scan_s / $floor))")
  cat <<EOF
### Scan ($(date -u +%Y-%m-%d), $(nproc) cores shared, $(uname -m), PostgreSQL $(psql_ -tA -c 'SHOW server_version'))
Command: \`scripts/bench.sh scan\` (BENCH_SBOMS=$sboms BENCH_COMPONENTS=$per BENCH_ADVISORIES=$advs BENCH_FINDINGS=$nfind)

| what | figure |
| --- | --- |
| components / current advisories | $ncomp / $nadv |
| candidate (component, affected entry) rows | $ncand |
| findings | $nfound |
| data generation (SQL) | ${gen}s |
| floor: bare candidate join shipped to a client (best of 3) | ${floor}s |
| \`stella-bundle scan\` (whole command, warm) | ${scan_s}s |
| whole scan / join floor | ${ratio}x |
| of which: engine (join, range evaluation, VEX, digest) | ${p_eval}s ($(python3 -c "print('%.1f' % ($p_eval / $floor))")x the join floor) |
| of which: storing the findings (binary COPY) | ${p_store}s |
| storage floor: the same findings by bare \`INSERT ... SELECT\` | ${store_floor}s |
| of which: \`REFRESH MATERIALIZED VIEW CONCURRENTLY mv_artifact_risk\` | ${p_mv}s |

Hot reads at $nfindings findings (EXPLAIN ANALYZE execution time, median of 5):

| query | time |
| --- | --- |
$hot_rows
$cli_rows
EOF
}

case "$1" in
  scan) shift; bench_scan "$@" ;;
  *) usage ;;
esac
