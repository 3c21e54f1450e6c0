#!/usr/bin/env bash
# Benchmarks, one section per subcommand: scripts/bench.sh SECTION [...]. Each section prints a
# Markdown table to paste into docs/BENCHMARKS.md with the machine, date and command.
# Sections: queue
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/bench.sh db|bundles [MIB]|export [SBOMS COMPONENTS ADVISORIES]|scan|import [SBOMS COMPONENTS ADVISORIES]|queue|backup [SCALE]   (queue env: SECONDS_PER_RUN=6 CLIENTS='1 2 4' JOBS=3000 ROUNDS=3)" >&2; exit 2; }

# An embedded cluster in a throwaway home (stopped and removed on exit); sets URL and B.
start_cluster() {
  scripts/ensure-postgres.sh >/dev/null
  cargo build --release --locked --quiet --bin stella-bundle
  B="$PWD/target/release/stella-bundle"
  QB="$(cargo bench --locked --quiet --bench queue_bench --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "queue_bench":
        print(m["executable"])' | tail -1)"
  BENCH_HOME="$(mktemp -d /tmp/stella-bench.XXXXXX)"
  chmod 711 "$BENCH_HOME"
  trap '"$B" --home "$BENCH_HOME" db stop >/dev/null 2>&1 || true; rm -rf "$BENCH_HOME"' EXIT
  "$B" --home "$BENCH_HOME" -q db start
  URL="$("$B" --home "$BENCH_HOME" db status --json | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')"
}

machine() {
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "- PostgreSQL: $(pg_config --version 2>/dev/null || "$B" --home "$BENCH_HOME" db status --json | sed -n 's/.*"server_version":"\([^"]*\)".*/\1/p'), embedded cluster with the product's settings"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
}

# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# A numeric field of a one-line JSON object.
field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p"; }

# One table: every configuration ROUNDS times, interleaved (the machine's load drifts), medians.
queue_table() {
  local url="$1" secs="$2" jobs="$3" rounds="$4" script="$5" tenant="$6"
  echo "| clients | stella cycle jobs/s | cycle, prepared enqueue jobs/s | pgbench floor jobs/s | worker --once jobs/s | cycle claim p50 / p99 ms | pgbench claim avg ms | worker claim p50 / p99 ms |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for n in ${CLIENTS:-1 2 4}; do
    local -a cyc=() cycp=() c50=() c99=() pg=() pgl=() wk=() w50=() w99=()
    for _ in $(seq "$rounds"); do
      local out done_pg
      out="$("$QB" cycle --url "$url" --clients "$n" --seconds "$secs")"
      cyc+=("$(field "$out" jobs_per_sec)"); c50+=("$(field "$out" claim_p50_ms)"); c99+=("$(field "$out" claim_p99_ms)")
      out="$("$QB" cycle --url "$url" --clients "$n" --seconds "$secs" --prepared-enqueue)"
      cycp+=("$(field "$out" jobs_per_sec)")
      psql -q "$url" -c "TRUNCATE job_queue, job_queue_state" -c "VACUUM ANALYZE job_queue_state" >/dev/null
      out="$(pgbench -n -M prepared -r -c "$n" -j "$n" -T "$secs" -f "$script" -D tenant="$tenant" "$url" 2>&1)"
      pgl+=("$(echo "$out" | awk '/WITH c AS/ { print $1; exit }')")
      done_pg="$(psql -qtA "$url" -c "SELECT count(*) FROM job_queue_state WHERE status = 'done'")"
      pg+=("$(awk -v d="$done_pg" -v s="$secs" 'BEGIN { print d / s }')")
      out="$("$QB" worker --url "$url" --clients "$n" --jobs "$jobs")"
      wk+=("$(field "$out" jobs_per_sec)"); w50+=("$(field "$out" claim_p50_ms)"); w99+=("$(field "$out" claim_p99_ms)")
    done
    printf '| %s | %.0f | %.0f | %.0f | %.0f | %.2f / %.2f | %.2f | %.2f / %.2f |\n' "$n" \
      "$(median "${cyc[@]}")" "$(median "${cycp[@]}")" "$(median "${pg[@]}")" "$(median "${wk[@]}")" \
      "$(median "${c50[@]}")" "$(median "${c99[@]}")" "$(median "${pgl[@]}")" \
      "$(median "${w50[@]}")" "$(median "${w99[@]}")"
  done
}

queue() {
  start_cluster
  local secs="${SECONDS_PER_RUN:-6}" jobs="${JOBS:-3000}" rounds="${ROUNDS:-3}" script tenant nosync
  script="$BENCH_HOME/claim.pgbench"
  "$QB" pgbench-script > "$script"
  tenant="$("$QB" tenant --url "$URL")"
  # The same server, sessions with synchronous_commit off: commits stop waiting for the disk, so
  # the figures show the queue's own cost (CPU, round trips, locks) rather than fsync latency.
  case "$URL" in *\?*) nosync="$URL&options=-csynchronous_commit%3Doff" ;; *) nosync="$URL?options=-csynchronous_commit%3Doff" ;; esac
  echo "## Queue"
  echo
  echo "Command: \`scripts/bench.sh queue\` (SECONDS_PER_RUN=$secs, JOBS=$jobs, ROUNDS=$rounds; medians of interleaved rounds)"
  echo
  machine
  echo
  echo "### Durable (the product's settings: every commit waits for fsync)"
  echo
  queue_table "$URL" "$secs" "$jobs" "$rounds" "$script" "$tenant"
  echo
  echo "### synchronous_commit = off (the queue's own cost)"
  echo
  queue_table "$nosync" "$secs" "$jobs" "$rounds" "$script" "$tenant"
  echo
  echo "pgbench file (the library's ENQUEUE_SQL, CLAIM_JOB and COMPLETE_SQL):"
  echo
  echo '```'
  cat "$script"
  echo '```'
}

# The embedded cluster's start (initdb included) and the test harness's per-test database.
db() {
  scripts/ensure-postgres.sh >/dev/null
  cargo build --release --locked --quiet --bin stella-bundle
  B="$PWD/target/release/stella-bundle"
  DB_BENCH_HOME="$(mktemp -d /tmp/stella-bench.XXXXXX)"
  local h="$DB_BENCH_HOME"
  chmod 711 "$h"
  trap '"$B" --home "$DB_BENCH_HOME" db stop >/dev/null 2>&1 || true; rm -rf "$DB_BENCH_HOME"' EXIT
  echo "## db"
  echo
  BENCH_HOME="$h" machine
  local t0 t1 url admin
  t0=$(date +%s%3N); "$B" --home "$h" -q db start; t1=$(date +%s%3N)
  echo "- \`db start\` on a fresh home (initdb, start, migrate): $((t1 - t0)) ms"
  "$B" --home "$h" -q db stop
  t0=$(date +%s%3N); "$B" --home "$h" -q db start; t1=$(date +%s%3N)
  echo "- \`db start\` of an existing, stopped cluster: $((t1 - t0)) ms"
  url="$("$B" --home "$h" db status --json | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')"
  admin="${url/\/stella\?//postgres?}"
  psql -q "$admin" -c "CREATE DATABASE tmpl TEMPLATE stella"
  for fsync in on off; do
  if [ "$fsync" = off ]; then
    # The test harness's cluster runs with fsync=off: measure what a test waits for there.
    psql -q "$admin" -c "ALTER SYSTEM SET fsync = off" -c "ALTER SYSTEM SET synchronous_commit = off"
    "$B" --home "$h" -q db stop; "$B" --home "$h" -q db start
  fi
  for strategy in WAL_LOG FILE_COPY; do
    t0=$(date +%s%3N)
    for i in $(seq 1 20); do psql -q "$admin" -c "CREATE DATABASE t_${strategy}_${fsync}_$i TEMPLATE tmpl STRATEGY $strategy"; done
    t1=$(date +%s%3N)
    echo "- per-test database, \`CREATE DATABASE ... TEMPLATE\` (migrated), STRATEGY $strategy, fsync=$fsync: $(( (t1 - t0) / 20 )) ms each (20 runs, psql start included)"
  done
  done
  t0=$(date +%s%3N)
  for i in $(seq 1 20); do psql -q "$admin" -c "SELECT 1" >/dev/null; done
  t1=$(date +%s%3N)
  echo "- psql start and one query alone: $(( (t1 - t0) / 20 )) ms"
}

# --- backup: base backups and WAL archiving on a ~1 GB cluster -------------------------------
# scripts/bench.sh backup [SCALE]: `stella-bundle backup` vs `pg_basebackup -Fp -Xs` vs
# `pgbackrest backup --type=full`, `wal push` per 16 MiB segment vs `cp` + `sync`, and `replay`
# of a scan made after the backups (restore, recovery, scan) vs `pgbackrest restore` to its LSN.
# STELLA_BIN: the binary to measure (default: builds target/release/stella-bundle).
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mib() { du -sm "$1" | awk '{ print $1 }'; }

bench_backup() {
  local scale="${1:-60}"
  B="${STELLA_BIN:-}"
  if [ -z "$B" ]; then
    cargo build --release --locked --quiet
    B="$PWD/target/release/stella-bundle"
  fi
  B="$(readlink -f "$B")"
  command -v pgbackrest >/dev/null || { echo "install pgbackrest: apt-get install pgbackrest" >&2; exit 1; }
  local PGBIN
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  W="$(mktemp -d "${BENCH_DIR:-/tmp}/stella-bench.XXXXXX")"
  chmod 711 "$W"
  H="$W/home"
  trap '"$B" --home "$H" -q db stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
  as_pg() { su postgres -s /bin/sh -c "$*"; }

  echo "== setting up a cluster of about 1 GB (pgbench -s $scale + 100 MiB random) in $W" >&2
  "$B" --home "$H" -q db start
  local URL="postgresql:///postgres?host=$H/run&port=5432&user=postgres"
  as_pg "$PGBIN/pgbench -q -i -s $scale '$URL'" >/dev/null 2>&1
  head -c $((100 * 1024 * 1024)) /dev/urandom >"$W/random.bin"
  chmod 644 "$W/random.bin"
  psql -q "$URL" <<SQL
CREATE TABLE noise (id int, b bytea);
ALTER TABLE noise ALTER COLUMN b SET STORAGE EXTERNAL;
INSERT INTO noise SELECT i, pg_read_binary_file('$W/random.bin', i::bigint * 1048576, 1048576)
  FROM generate_series(0, 99) i;
CHECKPOINT;
SQL
  rm -f "$W/random.bin"
  local dbsize
  dbsize=$(psql -Atc "SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database" "$URL")
  # Let the archiver catch up with the load before measuring backups.
  psql -qAtc "SELECT pg_switch_wal()" "$URL" >/dev/null
  while [ "$(psql -Atc "SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready'" "$URL")" != 0 ]; do sleep 1; done

  echo "== stella-bundle backup" >&2
  local t0 t1
  t0=$(now); "$B" --home "$H" -q backup; t1=$(now)
  local t_stella s_stella
  t_stella=$(secs "$t0" "$t1"); s_stella=$(mib "$H/repo/backups")

  echo "== pg_basebackup -Fp -Xs" >&2
  mkdir -p "$W/pgbb" && chown postgres "$W/pgbb"
  t0=$(now); as_pg "$PGBIN/pg_basebackup -D '$W/pgbb/data' -Fp -Xs -c fast -d '$URL'"; t1=$(now)
  local t_pgbb s_pgbb
  t_pgbb=$(secs "$t0" "$t1"); s_pgbb=$(mib "$W/pgbb")
  rm -rf "$W/pgbb"

  echo "== pgbackrest backup --type=full" >&2
  mkdir -p "$W/pgbr/log" && chown -R postgres "$W/pgbr"
  cat >"$W/pgbr/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/pgbr/repo
log-path=$W/pgbr/log
lock-path=$W/pgbr/lock
log-level-console=warn
start-fast=y
archive-check=n
compress-type=zst
compress-level=3
process-max=2
repo1-retention-full=1

[bench]
pg1-path=$H/pg
pg1-socket-path=$H/run
pg1-port=5432
CONF
  chown postgres "$W/pgbr/pgbackrest.conf"
  local BR="pgbackrest --config=$W/pgbr/pgbackrest.conf --stanza=bench"
  as_pg "$BR stanza-create" >/dev/null
  local br_start
  br_start=$(psql -Atc "SELECT pg_walfile_name(pg_current_wal_lsn())" "$URL")
  t0=$(now); as_pg "$BR backup --type=full"; t1=$(now)
  local t_br s_br
  t_br=$(secs "$t0" "$t1"); s_br=$(mib "$W/pgbr/repo/backup")

  echo "== wal push vs cp + sync, per 16 MiB segment" >&2
  # 10 segments of the pgbench load (compressible) and the 10 newest (the random bytes).
  mkdir -p "$W/segs"
  local all
  all=$(find "$H/repo/wal" -name '0000000[0-9]*[0-9A-F]-*.zst' ! -name '*.backup-*' ! -name '*.partial-*' -printf '%f\n' | sed 's/-.*//' | sort)
  local first last
  first=$(echo "$all" | sed -n '3,12p'); last=$(echo "$all" | tail -12 | head -10)
  for set in first last; do
    local names="${!set}" n=0 tp=0 tc=0 stored=0
    for name in $names; do
      "$B" --repo "$H/repo" -q wal fetch "$name" "$W/segs/$name"
    done
    cat "$W/segs"/* >/dev/null
    for name in $names; do
      n=$((n + 1))
      t0=$(now); "$B" --repo "$W/push-$set" -q wal push "$W/segs/$name" "$name"; t1=$(now)
      tp=$(awk -v s="$tp" -v a="$t0" -v b="$t1" 'BEGIN { print s + b - a }')
      mkdir -p "$W/cp-$set"
      t0=$(now); cp "$W/segs/$name" "$W/cp-$set/$name" && sync "$W/cp-$set/$name"; t1=$(now)
      tc=$(awk -v s="$tc" -v a="$t0" -v b="$t1" 'BEGIN { print s + b - a }')
    done
    stored=$(mib "$W/push-$set/wal")
    eval "push_$set=\$(awk -v s=$tp -v n=$n 'BEGIN { printf \"%.0f\", 1000 * s / n }')"
    eval "cp_$set=\$(awk -v s=$tc -v n=$n 'BEGIN { printf \"%.0f\", 1000 * s / n }')"
    eval "stored_$set=$stored"
    rm -f "$W/segs"/*
  done

  echo "== replay of a scan vs pgbackrest restore to the same LSN" >&2
  # WAL after both backups (pgbench transactions), then bundles, a scan and its restore point.
  as_pg "$PGBIN/pgbench -n -c 2 -j 2 -t ${REPLAY_TX:-3000} '$URL'" >/dev/null 2>&1
  "$B" --home "$H" -q trust add bundles/demo-key.pub
  "$B" --home "$H" -q import bundles/osv-demo.tar.zst bundles/sbom-demo.tar.zst bundles/vex-demo.tar.zst
  local scan_json lsn
  scan_json=$("$B" --home "$H" scan --json --key bundles/demo-key.key --manifest-out "$W/scan.json")
  lsn=$(echo "$scan_json" | sed -n 's/.*"lsn":"\([^"]*\)".*/\1/p')
  local replay_json
  replay_json=$("$B" --home "$H" replay --json "$W/scan.json")
  local r_total r_restore r_unpack r_recovery r_scan
  r_total=$(printf '%.1f' "$(field "$replay_json" seconds)")
  r_restore=$(printf '%.1f' "$(field "$replay_json" restore_seconds)")
  r_unpack=$(printf '%.1f' "$(field "$replay_json" unpack_seconds)")
  r_recovery=$(printf '%.1f' "$(field "$replay_json" recovery_seconds)")
  r_scan=$(printf '%.2f' "$(field "$replay_json" scan_seconds)")
  echo "$replay_json" | grep -q '"identical":true' || { echo "replay did not say identical: $replay_json" >&2; exit 1; }
  # pgBackRest restores from its own archive: give it the WAL from its backup on (not timed;
  # archive_command would have pushed it as it was written).
  mkdir -p "$W/pgbr/wal" && chown postgres "$W/pgbr/wal"
  local seg
  for seg in $(find "$H/repo/wal" -name '0000000[0-9]*[0-9A-F]-*.zst' ! -name '*.backup-*' ! -name '*.partial-*' -printf '%f\n' | sed 's/-.*//' | sort); do
    [[ "$seg" < "$br_start" ]] && continue
    "$B" --repo "$H/repo" -q wal fetch "$seg" "$W/pgbr/wal/$seg"
    chown postgres "$W/pgbr/wal/$seg"
    as_pg "$BR archive-push '$W/pgbr/wal/$seg'" >/dev/null
    rm -f "$W/pgbr/wal/$seg"
  done
  mkdir -p "$W/pgbr/restore" "$W/pgbr/sock" && chown postgres "$W/pgbr/restore" "$W/pgbr/sock" && chmod 700 "$W/pgbr/restore"
  local t2
  t0=$(now)
  as_pg "$BR restore --pg1-path='$W/pgbr/restore' --type=lsn --target='$lsn' --target-action=pause" >/dev/null
  t1=$(now)
  as_pg "$PGBIN/pg_ctl start -w -s -D '$W/pgbr/restore' -l '$W/pgbr/restore.log' -o \"-p 5433 -c listen_addresses='' -c unix_socket_directories='$W/pgbr/sock' -c archive_mode=off -c hot_standby=on\""
  local rurl="postgresql:///postgres?host=$W/pgbr/sock&port=5433&user=postgres"
  until [ "$(psql -Atc "SELECT pg_get_wal_replay_pause_state()" "$rurl" 2>/dev/null)" = paused ]; do sleep 0.1; done
  t2=$(now)
  local br_reached
  br_reached=$(psql -Atc "SELECT pg_last_wal_replay_lsn()" "$rurl")
  as_pg "$PGBIN/pg_ctl stop -m immediate -s -D '$W/pgbr/restore'"
  local b_restore b_recovery b_total
  b_restore=$(secs "$t0" "$t1"); b_recovery=$(secs "$t1" "$t2"); b_total=$(secs "$t0" "$t2")

  cat <<MD
### Backup: $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(df -h "$W" | awk 'NR==2 {print $1}')

Command: \`scripts/bench.sh backup $scale\` with \`$(basename "$(dirname "$B")")\` binary; database $dbsize
(pgbench -s $scale + 100 MiB random bytes), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'),
pgBackRest $(pgbackrest version | awk '{print $2}'). Wall-clock seconds; sizes as stored on disk.

| base backup | seconds | stored MiB | notes |
| --- | ---: | ---: | --- |
| \`stella-bundle backup\` | $t_stella | $s_stella | pg_basebackup -Ft -Xs server-zstd(1), every file checked against the manifest, pg_waldump, fsync |
| \`pg_basebackup -Fp -Xs -c fast\` | $t_pgbb | $s_pgbb | plain copy, fsync, no verification, uncompressed |
| \`pgbackrest backup --type=full\` | $t_br | $s_br | zstd(3), process-max=2, checksums |

| archiving one 16 MiB segment | \`wal push\` ms | \`cp\` + \`sync\` ms | pushed MiB (10 segments) |
| --- | ---: | ---: | ---: |
| pgbench load (compressible) | $push_first | $cp_first | $stored_first |
| random bytes (incompressible) | $push_last | $cp_last | $stored_last |

Restore to a scan's LSN ($lsn, after \`pgbench -t ${REPLAY_TX:-3000} -c 2\` since the backups;
pgBackRest reached $br_reached), seconds:

| restore to the scan's LSN | restore (unpack) | recovery (start, WAL replayed, paused) | scan | total |
| --- | ---: | ---: | ---: | ---: |
| \`stella-bundle replay\` | $r_restore ($r_unpack) | $r_recovery | $r_scan | $r_total |
| \`pgbackrest restore --type=lsn\` + start | $b_restore | $b_recovery | - | $b_total |
MD
}

# --- bundles: create and verify of a ~1 GiB bundle against tar + zstd + sha256 floors ----------
# scripts/bench.sh bundles [MIB]: MIB of OSV records (default 1024) whose large `details` fields
# are base64 of random bytes (poorly compressible), bundled and verified.
bundles() {
  local mib="${1:-1024}"
  cargo build --release --locked --quiet --bin stella-bundle
  B="$PWD/target/release/stella-bundle"
  local w
  w="$(mktemp -d /tmp/stella-bench.XXXXXX)"
  trap 'rm -rf "$w"' EXIT
  mkdir -p "$w/in"
  local n=$(( mib / 16 ))
  echo "== generating $n OSV records of 16 MiB in $w/in" >&2
  python3 - "$w/in" "$n" <<'PY'
import base64, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    rec = {"schema_version": "1.6.0", "id": "BENCH-%05d" % i, "modified": "2026-11-01T00:00:00Z",
           "summary": "benchmark record %d" % i, "details": base64.b64encode(os.urandom(12 * 1024 * 1024)).decode(),
           "affected": [{"package": {"ecosystem": "npm", "name": "bench-%d" % i},
                         "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}]}]}
    with open(os.path.join(d, "BENCH-%05d.json" % i), "w") as f:
        json.dump(rec, f)
PY
  "$B" keygen --out "$w/k" >/dev/null
  sync
  local t0 t1 t_create t_tar t_verify t_floor t_floor_ossl t_ossl rss
  t0=$(date +%s%N); /usr/bin/time -f "%M" -o "$w/rss.create" "$B" bundle create --kind feed --source bench --key "$w/k.key" \
      --out "$w/b.tar.zst" --created 2026-11-01T00:00:00Z "$w/in" >/dev/null; t1=$(date +%s%N)
  t_create=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); tar --zstd -cf "$w/floor.tar.zst" -C "$w" in && sha256sum "$w"/in/* >/dev/null; t1=$(date +%s%N)
  t_tar=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); /usr/bin/time -f "%M" -o "$w/rss.verify" "$B" --home "$w/h" verify --trust "$w/k.pub" "$w/b.tar.zst" >/dev/null; t1=$(date +%s%N)
  t_verify=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); zstd -dc "$w/b.tar.zst" | sha256sum >/dev/null; t1=$(date +%s%N)
  t_floor=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); zstd -dc "$w/b.tar.zst" | openssl dgst -sha256 >/dev/null; t1=$(date +%s%N)
  t_floor_ossl=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); openssl dgst -sha256 "$w/b.tar.zst" >/dev/null; t1=$(date +%s%N)
  t_ossl=$(( (t1 - t0) / 1000000 ))
  local size in_mib
  size=$(( $(stat -c %s "$w/b.tar.zst") / 1048576 ))
  in_mib=$(du -sm "$w/in" | cut -f1)
  echo "## Bundles"
  echo
  BENCH_HOME="$w/h" machine 2>/dev/null || true
  echo "- command: \`scripts/bench.sh bundles $mib\` ($in_mib MiB of OSV JSON, base64 random details; bundle $size MiB)"
  echo
  echo "| operation | ms | floor | floor ms | ratio | peak RSS |"
  echo "| --- | ---: | --- | ---: | ---: | ---: |"
  echo "| \`bundle create\` (validate + hash + tar + zstd + sign) | $t_create | \`tar --zstd -cf\` + \`sha256sum\` of the inputs | $t_tar | $(awk -v a="$t_create" -v b="$t_tar" 'BEGIN { printf "%.2f", a / b }') | $(( $(cat "$w/rss.create") / 1024 )) MiB |"
  echo "| \`verify\` (decompress, every digest, signature, file sha256) | $t_verify | \`zstd -dc FILE \\| sha256sum\` | $t_floor | $(awk -v a="$t_verify" -v b="$t_floor" 'BEGIN { printf "%.2f", a / b }') | $(( $(cat "$w/rss.verify") / 1024 )) MiB |"
  echo "| | | \`zstd -dc FILE \\| openssl dgst -sha256\` | $t_floor_ossl | $(awk -v a="$t_verify" -v b="$t_floor_ossl" 'BEGIN { printf "%.2f", a / b }') | |"
  echo "| | | \`openssl dgst -sha256 FILE\` (no decompression) | $t_ossl | | |"
}

# --- import: generated SBOMs and OSV advisories against a raw COPY floor -------------------------
# scripts/bench.sh import [SBOMS] [COMPONENTS] [ADVISORIES] (defaults 100 5000 50000)
bench_import() {
  local sboms="${1:-100}" comps="${2:-5000}" advs="${3:-50000}"
  LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  start_cluster
  local w="$BENCH_HOME/data"
  mkdir -p "$w/sbom" "$w/feed"
  echo "== generating $sboms SBOMs x $comps components and $advs advisories" >&2
  python3 scripts/bench_data.py import "$w" "$sboms" "$comps" "$advs"
  "$B" keygen --out "$w/k" >/dev/null
  "$B" --home "$BENCH_HOME" -q trust add "$w/k.pub"
  "$B" bundle create --kind sbom --source bench-sboms --key "$w/k.key" --out "$w/sboms.tar.zst" --created 2026-11-01T00:00:00Z "$w/sbom" >/dev/null
  local feeds=()
  for d in "$w"/feed/b*; do
    "$B" bundle create --kind feed --source "bench-$(basename "$d")" --key "$w/k.key" --out "$d.tar.zst" --created 2026-11-01T00:00:00Z "$d" >/dev/null
    feeds+=("$d.tar.zst")
  done
  sync
  local t0 t1 t_sbom t_feed t_reimport t_sha t_ossl t_floor_c t_floor_a
  t0=$(date +%s%N); /usr/bin/time -f "%M" -o "$w/rss.sbom" "$B" --home "$BENCH_HOME" -q import "$w/sboms.tar.zst"; t1=$(date +%s%N)
  t_sbom=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); /usr/bin/time -f "%M" -o "$w/rss.feed" "$B" --home "$BENCH_HOME" -q import "${feeds[@]}"; t1=$(date +%s%N)
  t_feed=$(( (t1 - t0) / 1000000 ))
  # The floors: COPY of the same extracted rows (CSV made above) into copies of the tables, first
  # unindexed (the physical floor), then with the indexes, defaults and generated columns of the
  # live tables (CREATE TABLE ... LIKE ... INCLUDING ...), which separates PostgreSQL's own index
  # and tsvector cost from the import's overhead. The CSV columns are the tables' columns; the
  # indexed copies take the tenant id and the columns the CSV does not carry from defaults.
  # The component floors load the SBOM documents (sbom_document's content_hash, artifact_purl, doc,
  # raw: what the import stores, lz4-compressed as in the live table) and then the components,
  # timed together; the advisory floors load advisory (with doc and raw) and advisory_affected.
  local tenant
  tenant="$(psql -qtA "$URL" -c "SELECT tenant_id FROM tenant LIMIT 1")"
  psql -q "$URL" -c "CREATE TABLE x_document (sbom int, content_hash bytea, artifact_purl text, doc jsonb COMPRESSION lz4, raw bytea COMPRESSION lz4)" \
       -c "CREATE TABLE x_component (sbom int, ordinal int, bom_ref text, name text, version text, purl text, package_purl text, ecosystem text, package_name text)" \
       -c "CREATE TABLE x_advisory (n int, advisory_id text, modified timestamptz, aliases text[], summary text, details text COMPRESSION lz4, doc jsonb COMPRESSION lz4, raw bytea COMPRESSION lz4, content_hash bytea)" \
       -c "CREATE TABLE x_affected (n int, ordinal int, ecosystem text, ecosystem_base text, package_name text, purl text, ranges jsonb, versions text[])" \
       -c "CREATE TABLE xi_document (LIKE sbom_document INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES INCLUDING COMPRESSION)" \
       -c "ALTER TABLE xi_document ALTER tenant_id SET DEFAULT '$tenant', ALTER first_import_id SET DEFAULT 0" \
       -c "CREATE TABLE xi_component (LIKE sbom_component INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES)" \
       -c "ALTER TABLE xi_component ALTER tenant_id SET DEFAULT '$tenant'" \
       -c "CREATE TABLE xi_advisory (LIKE advisory INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES INCLUDING COMPRESSION)" \
       -c "ALTER TABLE xi_advisory ALTER tenant_id SET DEFAULT '$tenant', ALTER raw_format SET DEFAULT 'json', ALTER first_import_id SET DEFAULT 0" \
       -c "ALTER TABLE xi_advisory DROP COLUMN search, ADD COLUMN search tsvector GENERATED ALWAYS AS (stella_advisory_search(advisory_id, aliases, summary, details)) STORED" \
       -c "CREATE INDEX ON xi_advisory USING gin (tenant_id, search)" \
       -c "CREATE TABLE xi_affected (LIKE advisory_affected INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES)" \
       -c "ALTER TABLE xi_affected ALTER tenant_id SET DEFAULT '$tenant'"
  local dcols="id, content_hash, artifact_purl, doc, raw"
  local ccols="sbom_id, ordinal, bom_ref, name, version, purl, package_purl, ecosystem, package_name"
  local acols="id, advisory_id, modified, aliases, summary, details, doc, raw, content_hash"
  local fcols="advisory_pk, ordinal, ecosystem, ecosystem_base, package_name, purl, ranges, versions"
  local t_floori_c t_floori_a
  t0=$(date +%s%N); psql -q "$URL" -c "\\copy x_document FROM '$w/documents.csv' CSV" -c "\\copy x_component FROM '$w/components.csv' CSV"; t1=$(date +%s%N); t_floor_c=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); psql -q "$URL" -c "\\copy x_advisory FROM '$w/advisories.csv' CSV" -c "\\copy x_affected FROM '$w/affected.csv' CSV"; t1=$(date +%s%N); t_floor_a=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); psql -q "$URL" -c "\\copy xi_document ($dcols) FROM '$w/documents.csv' CSV" -c "\\copy xi_component ($ccols) FROM '$w/components.csv' CSV"; t1=$(date +%s%N); t_floori_c=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); psql -q "$URL" -c "\\copy xi_advisory ($acols) FROM '$w/advisories.csv' CSV" -c "\\copy xi_affected ($fcols) FROM '$w/affected.csv' CSV"; t1=$(date +%s%N); t_floori_a=$(( (t1 - t0) / 1000000 ))
  local dindexes cindexes aindexes
  dindexes="$(psql -qtA "$URL" -c "SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'sbom_document'")"
  cindexes="$(psql -qtA "$URL" -c "SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'sbom_component'")"
  aindexes="$(psql -qtA "$URL" -c "SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE tablename IN ('advisory', 'advisory_affected')")"

  # Re-import of an already imported ~1 GiB bundle (REIMPORT_MIB, default 1024): SBOMs padded with
  # 12 MiB of base64 random bytes each (poorly compressible, so the bundle file is about the size
  # of its input), imported once, then imported again: the ledger must answer after one sha256
  # pass over the file. Medians of 3 runs, the file in the page cache for every tool alike.
  local big_mib="${REIMPORT_MIB:-1024}"
  local nbig=$(( (big_mib + 11) / 12 ))
  mkdir -p "$w/big"
  echo "== generating $nbig padded SBOMs for a ~$big_mib MiB bundle" >&2
  python3 - "$w/big" "$nbig" <<'PY'
import base64, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
           "metadata": {"component": {"type": "application", "name": "big-%d" % i, "version": "1.0.0",
                                      "purl": "pkg:npm/big-%d@1.0.0" % i,
                                      "description": base64.b64encode(os.urandom(12 * 1024 * 1024)).decode()}},
           "components": [{"type": "library", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0"}]}
    with open(os.path.join(d, "big-%04d.json" % i), "w") as f:
        json.dump(doc, f)
PY
  "$B" bundle create --kind sbom --source bench-big --key "$w/k.key" --out "$w/big.tar.zst" --created 2026-11-01T00:00:00Z "$w/big" >/dev/null
  rm -rf "$w/big"
  local t_bigimport
  t0=$(date +%s%N); "$B" --home "$BENCH_HOME" -q import "$w/big.tar.zst"; t1=$(date +%s%N); t_bigimport=$(( (t1 - t0) / 1000000 ))
  local -a r_small=() r_big=() r_sha=() r_ossl=()
  for _ in 1 2 3; do
    t0=$(date +%s%N); "$B" --home "$BENCH_HOME" -q import "$w/sboms.tar.zst"; t1=$(date +%s%N); r_small+=($(( (t1 - t0) / 1000000 )))
    t0=$(date +%s%N); "$B" --home "$BENCH_HOME" -q import "$w/big.tar.zst"; t1=$(date +%s%N); r_big+=($(( (t1 - t0) / 1000000 )))
    t0=$(date +%s%N); sha256sum "$w/big.tar.zst" >/dev/null; t1=$(date +%s%N); r_sha+=($(( (t1 - t0) / 1000000 )))
    t0=$(date +%s%N); openssl dgst -sha256 "$w/big.tar.zst" >/dev/null; t1=$(date +%s%N); r_ossl+=($(( (t1 - t0) / 1000000 )))
  done
  t_reimport="$(median "${r_small[@]}")"
  local t_big t_bigsha t_bigossl
  t_big="$(median "${r_big[@]}")"; t_bigsha="$(median "${r_sha[@]}")"; t_bigossl="$(median "${r_ossl[@]}")"
  t0=$(date +%s%N); sha256sum "$w/sboms.tar.zst" >/dev/null; t1=$(date +%s%N); t_sha=$(( (t1 - t0) / 1000000 ))
  t0=$(date +%s%N); openssl dgst -sha256 "$w/sboms.tar.zst" >/dev/null; t1=$(date +%s%N); t_ossl=$(( (t1 - t0) / 1000000 ))
  local ratio='BEGIN { printf "%.2f", a / b }'
  local ncomp=$(( sboms * comps ))
  echo "## Import"
  echo
  machine
  echo "- load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- command: \`scripts/bench.sh import $sboms $comps $advs\`; sboms bundle $(( $(stat -c %s "$w/sboms.tar.zst") / 1048576 )) MiB, re-import bundle $(( $(stat -c %s "$w/big.tar.zst") / 1048576 )) MiB"
  echo "- unindexed floor (\\copy of the benchmark's CSV into plain tables, no index, key or generated column): components = the $sboms sbom_document rows (content_hash, artifact_purl, doc jsonb, raw bytea; doc and raw lz4 as in the live table, $(( $(stat -c %s "$w/documents.csv") / 1048576 )) MiB of CSV) then the $ncomp sbom_component rows, timed together; advisories = the $advs advisory rows (with doc, raw and details lz4 as in the live table) then their advisory_affected rows"
  echo "- indexed floor (the same rows into CREATE TABLE ... LIKE ... INCLUDING DEFAULTS, GENERATED, INDEXES copies): sbom_document (also INCLUDING COMPRESSION) with $dindexes (and its generated bom_format, spec_version), then sbom_component with $cindexes; advisory (also INCLUDING COMPRESSION) and advisory_affected with $aindexes (and advisory's search vector as a generated column of stella_advisory_search(), as advisory had it until migration 0010, computed by the COPY's backend, the fastest way PostgreSQL computes it in one backend; the import computes it on a helper connection)"
  echo
  echo "| what | stella-bundle ms | rate | floor: COPY unindexed ms | ratio | floor: COPY with the live indexes ms | ratio | peak RSS |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  echo "| $sboms SBOMs, $ncomp components | $t_sbom | $(( ncomp * 1000 / (t_sbom + 1) )) components/s | $t_floor_c | $(awk -v a="$t_sbom" -v b="$t_floor_c" "$ratio") | $t_floori_c | $(awk -v a="$t_sbom" -v b="$t_floori_c" "$ratio") | $(( $(cat "$w/rss.sbom") / 1024 )) MiB |"
  echo "| $advs advisories in ${#feeds[@]} bundles | $t_feed | $(( advs * 1000 / (t_feed + 1) )) advisories/s | $t_floor_a | $(awk -v a="$t_feed" -v b="$t_floor_a" "$ratio") | $t_floori_a | $(awk -v a="$t_feed" -v b="$t_floori_a" "$ratio") | $(( $(cat "$w/rss.feed") / 1024 )) MiB |"
  echo
  echo "| re-import of an already imported bundle (median of 3) | $(( $(stat -c %s "$w/big.tar.zst") / 1048576 )) MiB bundle ms | ratio | $(( $(stat -c %s "$w/sboms.tar.zst") / 1048576 )) MiB bundle ms |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| \`stella-bundle import\` (ledger answers from the file's sha256) | $t_big | | $t_reimport |"
  echo "| \`sha256sum FILE\` | $t_bigsha | $(awk -v a="$t_big" -v b="$t_bigsha" "$ratio") | $t_sha |"
  echo "| \`openssl dgst -sha256 FILE\` | $t_bigossl | $(awk -v a="$t_big" -v b="$t_bigossl" "$ratio") | $t_ossl |"
  echo
  echo "(first import of the $(( $(stat -c %s "$w/big.tar.zst") / 1048576 )) MiB bundle: $t_bigimport ms)"
}

# --- export: snapshot bundles vs pg_dump | zstd and zstd over the same bytes ---------------------
binary() {
  B="${STELLA_BIN:-}"
  if [ -z "$B" ]; then
    cargo build --release --locked --quiet --bin stella-bundle
    B="$PWD/target/release/stella-bundle"
  fi
  B="$(readlink -f "$B")"
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
  local sboms="${1:-100}" comps="${2:-5000}" advs="${3:-50000}"
  binary
  scripts/ensure-postgres.sh >/dev/null
  W="$(mktemp -d "${BENCH_DIR:-/tmp}/stella-bench.XXXXXX")"
  chmod 711 "$W"
  H="$W/home"
  trap '"$B" --home "$H" -q db stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
  echo "== the import benchmark's dataset: $sboms SBOMs x $comps components, $advs advisories, imported into a fresh embedded cluster in $W" >&2
  "$B" --home "$H" -q db start
  local URL
  URL="$("$B" --home "$H" db status --json | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')"
  "$B" -q keygen --out "$W/k"
  python3 scripts/bench_data.py import "$W/docs" "$sboms" "$comps" "$advs"
  rm -f "$W"/docs/*.csv
  local bundles=()
  "$B" -q bundle create --kind sbom --source bench-sboms --key "$W/k.key" --out "$W/sboms.tar.zst" \
    --created 2026-11-01T00:00:00Z "$W/docs/sbom"
  bundles+=("$W/sboms.tar.zst")
  for d in "$W"/docs/feed/b*; do
    "$B" -q bundle create --kind feed --source "bench-$(basename "$d")" --key "$W/k.key" --out "$W/$(basename "$d").tar.zst" \
      --created 2026-11-01T00:00:00Z "$d"
    bundles+=("$W/$(basename "$d").tar.zst")
  done
  "$B" --home "$H" -q import --trust "$W/k.pub" "${bundles[@]}"
  psql -qtA "$URL" -c "VACUUM ANALYZE" >/dev/null
  local raw_mib ndocs
  raw_mib="$(du -sm --apparent-size "$W/docs" | cut -f1)"
  ndocs="$(find "$W/docs" -type f | wc -l)"
  sync

  echo "== measuring (${ROUNDS:-5} rounds, interleaved; medians)" >&2
  local -a e_s=() e_r=() dz_s=() dz_r=() d_s=() d_r=() z_s=() z_r=()
  local r out
  for r in $(seq "${ROUNDS:-5}"); do
    out="$(timed "$B" --home "$H" -q export --key "$W/k.key" --out "$W/snap$r.tar.zst")"
    e_s+=("${out% *}"); e_r+=("${out#* }")
    [ "$r" = 1 ] || cmp -s "$W/snap1.tar.zst" "$W/snap$r.tar.zst" || { echo "export is not deterministic" >&2; exit 1; }
    out="$(timed sh -c "pg_dump -d '$URL' -t advisory -t sbom_document -t vex_document -t scan_manifest | zstd -q -3 -f -o '$W/dump-docs.sql.zst'")"
    dz_s+=("${out% *}"); dz_r+=("${out#* }")
    out="$(timed sh -c "pg_dump -d '$URL' -t advisory -t advisory_affected -t sbom_document -t sbom_component -t vex_document -t vex_statement -t scan_manifest -t bundle_import -t bundle_document | zstd -q -3 -f -o '$W/dump.sql.zst'")"
    d_s+=("${out% *}"); d_r+=("${out#* }")
    out="$(timed sh -c "tar -C '$W/docs' -cf - . | zstd -q -3 -f -o '$W/docs.tar.zst'")"
    z_s+=("${out% *}"); z_r+=("${out#* }")
  done
  local e dz d z
  e="$(median "${e_s[@]}") $(median "${e_r[@]}")"
  dz="$(median "${dz_s[@]}") $(median "${dz_r[@]}")"
  d="$(median "${d_s[@]}") $(median "${d_r[@]}")"
  z="$(median "${z_s[@]}") $(median "${z_r[@]}")"

  echo "## Export"
  echo
  echo "Command: \`scripts/bench.sh export $sboms $comps $advs\` (the import benchmark's dataset: $ndocs documents, $raw_mib MiB on disk, imported from $((${#bundles[@]})) bundles)"
  echo
  machine
  echo "- load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| what (median of ${ROUNDS:-5}) | wall s | peak RSS MiB | output MiB |"
  echo "| --- | ---: | ---: | ---: |"
  set -- $e; echo "| \`export\` (signed snapshot; every round byte-identical, checked with cmp) | $1 | $2 | $(mib_of "$W/snap1.tar.zst") |"
  set -- $dz; echo "| \`pg_dump\` of the 4 document tables \\| \`zstd -3\` | $1 | $2 | $(mib_of "$W/dump-docs.sql.zst") |"
  set -- $d; echo "| \`pg_dump\` of the documents, child rows and ledger \\| \`zstd -3\` | $1 | $2 | $(mib_of "$W/dump.sql.zst") |"
  set -- $z; echo "| \`tar\` \\| \`zstd -3\` of the same documents already on disk | $1 | $2 | $(mib_of "$W/docs.tar.zst") |"
  echo
  echo "Ratios (median wall): export / \`pg_dump\` of the documents \\| \`zstd -3\` $(awk -v a="${e% *}" -v b="${dz% *}" 'BEGIN { printf "%.2f", a / b }'); export / everything \\| \`zstd -3\` $(awk -v a="${e% *}" -v b="${d% *}" 'BEGIN { printf "%.2f", a / b }'); export / the \`zstd -3\` floor $(awk -v a="${e% *}" -v b="${z% *}" 'BEGIN { printf "%.2f", a / b }')."
  echo
  echo "Peak RSS of a pipeline is its largest process (\`/usr/bin/time -v\` of \`sh -c\`, which reports the largest child)."
}


# --- scan: 500,000 components against 50,000 advisories vs a single join ---------------------

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
  local p_match p_store p_index p_mv
  p_match=$(phase match)
  p_store=$(phase "evaluate and store findings")
  p_index=$(phase "index findings")
  p_mv=$(phase "refresh mv_artifact_risk")
  # The storage floors: the same findings inserted again by bare SQL (rolled back), once into
  # the live table row by row (as a scan below the bulk threshold stores them), once as a large
  # scan stores them (a bare table, then its three indexes built).
  local store_floor bulk_floor
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
  bulk_floor=$(psql_ -tA <<'SQL' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | python3 -c 'import sys; print("%.2f" % (sum(float(l) for l in sys.stdin) / 1000))'
BEGIN;
CREATE TEMP TABLE src ON COMMIT DROP AS SELECT * FROM finding
  WHERE scan_id = (SELECT scan_id FROM scan_run ORDER BY finished_at DESC LIMIT 1);
CREATE TABLE bulk_floor (LIKE finding);
\timing on
INSERT INTO bulk_floor SELECT * FROM src;
ALTER TABLE bulk_floor ADD PRIMARY KEY (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, bulk);
CREATE INDEX ON bulk_floor (tenant_id, advisory_id);
CREATE INDEX ON bulk_floor (tenant_id, component_purl);
\timing off
ROLLBACK;
SQL
  )
  local nfound
  nfound=$(echo "$out" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["findings"])')

  # 1,000,000 findings: synthetic scans of 200 artifacts x 5,000 findings, then the hot reads.
  # Written as scans write them: each scan's findings together, in canonical (artifact,
  # component, advisory) order (until 2026-11-24 they were interleaved, each artifact's 5,000
  # findings on 5,000 heap pages, a layout no scan produces).
  psql_ <<SQL
SET synchronous_commit = off;
INSERT INTO scan_run (tenant_id, scan_id, status, started_at, finished_at, engine_version, engine_rules)
SELECT tenant_id, md5('bench-scan-' || s)::uuid, 'done', now(), now(), 'bench', 'bench' FROM tenant, generate_series(1, 4) s;
INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status)
SELECT * FROM (
SELECT t.tenant_id, md5('bench-scan-' || (1 + a % 4))::uuid AS s, 'pkg:generic/fleet/app' || a || '@1.0.0' AS a,
       'pkg:npm/pkg-' || ((a * 7 + f) % 30000) || '@1.' || (f % 10) || '.0' AS c, 'BENCH-' || (1 + (a * 131 + f * 17) % $advs) AS v,
       ARRAY['CVE-2026-' || (100001 + (a * 131 + f * 17) % $advs)],
       (ARRAY['affected', 'not_affected', 'fixed', 'under_investigation'])[1 + f % 4]
FROM tenant t, generate_series(1, 200) a, generate_series(1, $nfind / 200) f) x
ORDER BY s, a COLLATE "C", c COLLATE "C", v COLLATE "C";
INSERT INTO scan_artifact (tenant_id, scan_id, artifact_purl, sbom_id, affected, under_investigation, resolved)
SELECT f.tenant_id, f.scan_id, f.artifact_purl, (SELECT min(id) FROM sbom_document),
       count(*) FILTER (WHERE f.status = 'affected'), count(*) FILTER (WHERE f.status = 'under_investigation'),
       count(*) FILTER (WHERE f.status IN ('not_affected', 'fixed'))
FROM finding f WHERE f.artifact_purl LIKE 'pkg:generic/fleet/%' GROUP BY 1, 2, 3;
REFRESH MATERIALIZED VIEW mv_artifact_risk;
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
  local T S
  T=$(psql_ -tA -c "SELECT tenant_id FROM tenant LIMIT 1")
  # The hot queries name the scans they read: each artifact's latest (src/db/hot_queries.rs).
  S=$(psql_ -tA -c "SELECT array_agg(DISTINCT scan_id)::text FROM mv_artifact_risk")
  hot_queries() { # $1: the hot() function to use
    $1 "artifacts affected by advisory X" "SELECT DISTINCT artifact_purl FROM finding WHERE tenant_id = '$T' AND advisory_id = 'BENCH-4242' AND scan_id = ANY('$S'::uuid[])"
    # As hot_queries::FINDINGS_BY_ALIAS: the alias resolves through the advisory_alias projection.
    $1 "findings by alias (CVE)" "SELECT f.scan_id, f.artifact_purl, f.component_purl, f.advisory_id FROM finding f WHERE f.tenant_id = '$T' AND f.scan_id = ANY('$S'::uuid[]) AND f.aliases @> ARRAY['CVE-2026-104242'] AND f.advisory_id IN (SELECT aa.advisory_id FROM advisory_alias aa WHERE aa.tenant_id = '$T' AND aa.alias = 'CVE-2026-104242')"
    $1 "findings of a component" "SELECT scan_id, artifact_purl, advisory_id, status FROM finding WHERE tenant_id = '$T' AND component_purl = 'pkg:npm/pkg-707@1.0.0' AND scan_id = ANY('$S'::uuid[])"
    $1 "open findings of an artifact in a scan" "SELECT component_purl, advisory_id, status FROM finding WHERE tenant_id = '$T' AND artifact_purl = 'pkg:generic/fleet/app77@1.0.0' AND status IN ('affected', 'under_investigation') AND scan_id = md5('bench-scan-2')::uuid"
  }
  local hot_rows
  hot_rows=$(hot_queries hot)
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

  # A year of nightly large scans: BENCH_PARTITIONS more scans of 100 artifacts x 50 findings,
  # each stored as a large scan stores it (a partition of its own, indexes built, attached),
  # the newest the artifacts' latest; then the same reads, planning time included.
  local nparts=${BENCH_PARTITIONS:-365}
  psql_ <<SQL
SET synchronous_commit = off;
DO \$\$
DECLARE s uuid; t text;
BEGIN
  FOR i IN 1..$nparts LOOP
    s := ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid;
    t := 'finding_scan_' || replace(s::text, '-', '');
    INSERT INTO scan_run (tenant_id, scan_id, status, started_at, finished_at, engine_version, engine_rules)
    SELECT tenant_id, s, 'done', now(), now() + interval '1 second' * i, 'bench', 'bench' FROM tenant;
    INSERT INTO scan_artifact (tenant_id, scan_id, artifact_purl, sbom_id, affected, under_investigation, resolved)
    SELECT tenant_id, s, 'pkg:generic/fleet/app' || a || '@1.0.0', (SELECT min(id) FROM sbom_document), 50, 0, 0
    FROM tenant, generate_series(1, 100) a;
    EXECUTE format('CREATE TABLE %I (LIKE finding INCLUDING DEFAULTS INCLUDING CONSTRAINTS, CONSTRAINT %I CHECK (bulk AND scan_id = %L))', t, t || '_bound', s);
    EXECUTE format('INSERT INTO %I SELECT tenant_id, %L, ''pkg:generic/fleet/app'' || (1 + g %% 100) || ''@1.0.0'', ''pkg:npm/pkg-'' || ((g * 7 + %s) %% 30000) || ''@1.0.0'', ''BENCH-'' || (1 + (g * 131 + %s) %% $advs), ARRAY[''CVE-2026-'' || (100001 + (g * 131 + %s) %% $advs)], ''affected'', NULL, NULL, true FROM tenant, generate_series(1, 5000) g', t, s, i, i, i);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, bulk)', t, t || '_pkey');
    EXECUTE format('CREATE INDEX %I ON %I (tenant_id, advisory_id)', t || '_advisory_id', t);
    EXECUTE format('CREATE INDEX %I ON %I (tenant_id, component_purl)', t || '_component', t);
    EXECUTE format('ALTER TABLE finding_bulk ATTACH PARTITION %I FOR VALUES IN (%L)', t, s);
  END LOOP;
END \$\$;
REFRESH MATERIALIZED VIEW mv_artifact_risk;
ANALYZE;
SQL
  local nbulk
  nbulk=$(psql_ -tA -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'finding_bulk'::regclass")
  S=$(psql_ -tA -c "SELECT array_agg(DISTINCT scan_id)::text FROM mv_artifact_risk")
  hot_planned() { # name sql -> planning + execution ms (median of 5)
    local name=$1 sql=$2 ms=()
    for i in 1 2 3 4 5; do
      ms+=("$(psql_ -tA -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" | python3 -c 'import json,sys; j = json.load(sys.stdin)[0]; print("%.3f" % (j["Planning Time"] + j["Execution Time"]))')")
    done
    printf '| %s | %s ms |\n' "$name" "$(printf '%s\n' "${ms[@]}" | sort -n | sed -n 3p)"
  }
  local part_rows part_cli
  part_rows=$(hot_queries hot_planned)
  part_cli=$(
    cli "--advisory BENCH-4242" --advisory BENCH-4242
    cli "--component pkg:npm/pkg-707@1.0.0" --component pkg:npm/pkg-707@1.0.0
  )
  local nall
  nall=$(psql_ -tA -c "SELECT count(*) FROM finding")

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
| of which: reading and matching (join, range evaluation) | ${p_match}s ($(python3 -c "print('%.1f' % ($p_match / $floor))")x the join floor) |
| of which: assembling the findings (VEX) and hashing the result digest while the server stores them (binary COPY) | ${p_store}s |
| of which: indexing a large scan's partition and attaching it | ${p_index}s |
| storage floor, bulk: the same findings by bare \`INSERT ... SELECT\` into a bare table, then its 3 indexes built | ${bulk_floor}s |
| storage floor, row by row: the same findings by bare \`INSERT ... SELECT\` into \`finding\` (as scans below the bulk threshold) | ${store_floor}s |
| of which: \`REFRESH MATERIALIZED VIEW CONCURRENTLY mv_artifact_risk\` | ${p_mv}s |

Hot reads at $nfindings findings (EXPLAIN ANALYZE execution time, median of 5):

| query | time |
| --- | --- |
$hot_rows
$cli_rows

With $nbulk partitions of large scans in finding_bulk ($nparts of them a year of nightly scans of
100 artifacts), $nall findings; planning plus execution (EXPLAIN ANALYZE, median of 5), the
queries naming each artifact's latest scan as \`findings\` does:

| query | time |
| --- | --- |
$part_rows
$part_cli
EOF
}


case "${1:-}" in
  bundles) shift; bundles "$@" ;;
  scan) shift; bench_scan "$@" ;;
  export) shift; bench_export "$@" ;;
  import) shift; bench_import "$@" ;;
  queue) queue ;;
  db) db ;;
  backup) shift; bench_backup "$@" ;;
  *) usage ;;
esac
