#!/usr/bin/env bash
# Benchmarks, one section per subcommand: scripts/bench.sh SECTION [...]. Each section prints a
# Markdown table to paste into docs/BENCHMARKS.md with the machine, date and command.
# Sections: queue
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/bench.sh db|queue   (queue env: SECONDS_PER_RUN=6 CLIENTS='1 2 4' JOBS=3000 ROUNDS=3)" >&2; exit 2; }

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
  local h
  h="$(mktemp -d /tmp/stella-bench.XXXXXX)"
  chmod 711 "$h"
  trap '"$B" --home "$h" db stop >/dev/null 2>&1 || true; rm -rf "$h"' EXIT
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
  for strategy in WAL_LOG FILE_COPY; do
    t0=$(date +%s%3N)
    for i in $(seq 1 20); do psql -q "$admin" -c "CREATE DATABASE t_${strategy}_$i TEMPLATE tmpl STRATEGY $strategy"; done
    t1=$(date +%s%3N)
    echo "- per-test database, \`CREATE DATABASE ... TEMPLATE\` (migrated), STRATEGY $strategy: $(( (t1 - t0) / 20 )) ms each (20 runs, psql start included)"
  done
}

case "${1:-}" in
  queue) queue ;;
  db) db ;;
  *) usage ;;
esac
