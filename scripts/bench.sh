#!/usr/bin/env bash
# Benchmarks, one section per subcommand; prints Markdown to paste into docs/BENCHMARKS.md.
#
#   scripts/bench.sh backup [SCALE]   base backup and WAL archiving on a ~1 GB cluster
#                                     (pgbench -s SCALE, default 60, plus 100 MiB of random bytes):
#                                     `stella-bundle backup` vs `pg_basebackup -Fp -Xs` vs
#                                     `pgbackrest backup --type=full`, and `wal push` per 16 MiB
#                                     segment vs `cp` + `sync`, all on the same disk.
#
# STELLA_BIN: the binary to measure (default: builds target/release/stella-bundle).
# BENCH_DIR: parent of the scratch folder (default /tmp; must be enterable by `postgres`).
# Needs root (the server runs as `postgres`), PostgreSQL >= 15 and the `pgbackrest` package.
set -euo pipefail
cd "$(dirname "$0")/.."

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
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

  cat <<MD
### Backup: $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(df -h "$W" | awk 'NR==2 {print $1}')

Command: \`scripts/bench.sh backup $scale\` with \`$(basename "$(dirname "$B")")\` binary; database $dbsize
(pgbench -s $scale + 100 MiB random bytes), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'),
pgBackRest $(pgbackrest version | awk '{print $2}'). Wall-clock seconds; sizes as stored on disk.

| base backup | seconds | stored MiB | notes |
| --- | ---: | ---: | --- |
| \`stella-bundle backup\` | $t_stella | $s_stella | pg_basebackup -Fp -Xs, pg_verifybackup, tar+zstd(3), fsync |
| \`pg_basebackup -Fp -Xs -c fast\` | $t_pgbb | $s_pgbb | plain copy, fsync, no verification, uncompressed |
| \`pgbackrest backup --type=full\` | $t_br | $s_br | zstd(3), process-max=2, checksums |

| archiving one 16 MiB segment | \`wal push\` ms | \`cp\` + \`sync\` ms | pushed MiB (10 segments) |
| --- | ---: | ---: | ---: |
| pgbench load (compressible) | $push_first | $cp_first | $stored_first |
| random bytes (incompressible) | $push_last | $cp_last | $stored_last |
MD
}

case "${1:-}" in
  backup) shift; bench_backup "$@" ;;
  *) echo "usage: scripts/bench.sh backup [SCALE]" >&2; exit 2 ;;
esac
