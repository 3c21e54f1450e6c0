#!/usr/bin/env bash
# Runs the version-ordering tests with their reference tools installed, showing the per-ecosystem
# counts (fixture pairs, differential pairs, disagreements) that the tests print.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo test -j 2 --test versions -- --nocapture 2>&1 |
  grep -E 'pairs|divergences|legacy strings|reference said|evaluated|test result'
