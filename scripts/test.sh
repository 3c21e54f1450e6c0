#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with nothing but Rust: installs what the tests
# need (PostgreSQL from Debian's packages, reference version comparators), then runs every test.
# Tests start their own throwaway PostgreSQL clusters; no server needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
if [ -x scripts/install-test-deps.sh ]; then scripts/install-test-deps.sh; fi
cargo test --locked --all-targets "$@"
