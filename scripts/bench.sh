#!/usr/bin/env bash
# Benchmarks, one section per subcommand: scripts/bench.sh SECTION [...]. Each section prints a
# Markdown table to paste into docs/BENCHMARKS.md with the machine, date and command.
# Sections: queue
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/bench.sh queue   (env: SECONDS_PER_RUN=10 CLIENTS='1 2 4' JOBS=5000)" >&2; exit 2; }

# An embedded cluster in a throwaway home (stopped and removed on exit); sets URL and B.
start_cluster() {
  scripts/ensure-postgres.sh >/dev/null
  cargo build --locked --quiet --bin stella-bundle --example queue_bench
  B="$PWD/target/debug/stella-bundle"
  QB="$PWD/target/debug/examples/queue_bench"
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

queue() {
  start_cluster
  local secs="${SECONDS_PER_RUN:-10}" jobs="${JOBS:-5000}" script tenant
  script="$BENCH_HOME/claim.pgbench"
  "$QB" pgbench-script > "$script"
  tenant="$("$QB" tenant --url "$URL")"
  echo "## Queue"
  echo
  echo "Command: \`scripts/bench.sh queue\` (SECONDS_PER_RUN=$secs, JOBS=$jobs)"
  echo
  machine
  echo
  echo "| clients | stella cycle jobs/s | claim p50 ms | claim p99 ms | pgbench floor jobs/s | pgbench claim avg ms | worker --once jobs/s | worker claim p50 / p99 ms |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for n in ${CLIENTS:-1 2 4}; do
    local cyc pgb wrk
    cyc="$("$QB" cycle --url "$URL" --clients "$n" --seconds "$secs")"
    psql -q "$URL" -c "TRUNCATE job_queue, job_queue_state" -c "VACUUM ANALYZE job_queue_state" >/dev/null
    pgb="$(pgbench -n -M prepared -r -c "$n" -j "$n" -T "$secs" -f "$script" -D tenant="$tenant" "$URL" 2>&1)"
    local done_pg tps claim_ms
    done_pg="$(psql -qtA "$URL" -c "SELECT count(*) FROM job_queue_state WHERE status = 'done'")"
    tps="$(awk -v d="$done_pg" -v s="$secs" 'BEGIN { printf "%.0f", d / s }')"
    claim_ms="$(echo "$pgb" | awk '/WITH c AS/ { print $1; exit }')"
    wrk="$("$QB" worker --url "$URL" --clients "$n" --jobs "$jobs")"
    j() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p"; }
    printf '| %s | %.0f | %.2f | %.2f | %s | %s | %.0f | %.2f / %.2f |\n' "$n" \
      "$(j "$cyc" jobs_per_sec)" "$(j "$cyc" claim_p50_ms)" "$(j "$cyc" claim_p99_ms)" \
      "$tps" "$claim_ms" "$(j "$wrk" jobs_per_sec)" "$(j "$wrk" claim_p50_ms)" "$(j "$wrk" claim_p99_ms)"
  done
  echo
  echo "pgbench file (the library's ENQUEUE_SQL, CLAIM_JOB and COMPLETE_SQL):"
  echo
  echo '```'
  cat "$script"
  echo '```'
}

case "${1:-}" in
  queue) queue ;;
  *) usage ;;
esac
