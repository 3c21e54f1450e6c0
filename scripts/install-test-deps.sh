#!/usr/bin/env bash
# Installs the reference implementations that tests/versions.rs compares against:
#   python3-rpm (rpm.labelCompare, system python), dpkg (dpkg --compare-versions),
#   libmaven3-core-java (maven-artifact ComparableVersion), ruby (Gem::Version), Python
#   `packaging` (latest, and 21.3 for LegacyVersion), npm `semver`.
# Idempotent and quiet: checks before installing; prints only on failure.
set -euo pipefail

CACHE="${STELLA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-bundle}"
mkdir -p "$CACHE"

apt_updated=""
apt_install() { # packages...
  local sudo="" log
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  if ! { { [ -n "$apt_updated" ] || $sudo apt-get update -qq; } &&
    $sudo apt-get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "install-test-deps: apt-get install $* failed" >&2
    exit 1
  fi
  apt_updated=1
  rm -f "$log"
}

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in dpkg python3-rpm libmaven3-core-java; do
  have_pkg "$p" || missing+=("$p")
done
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
PY="${STELLA_PYTHON:-python3}"
need_py=""
for d in packaging-latest packaging-21; do
  [ -f "$CACHE/py/$d/.installed" ] || need_py=1
done
if [ -n "$need_py" ]; then
  "$PY" -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
fi
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
pip_flags=(-q --no-warn-script-location)
# Installing into a private --target folder is safe even on an externally managed Python.
if [ -n "$need_py" ] && "$PY" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
  pip_flags+=(--break-system-packages)
fi
py_target() { # dir requirement
  if [ ! -f "$CACHE/py/$1/.installed" ]; then
    rm -rf "$CACHE/py/$1"
    "$PY" -m pip install "${pip_flags[@]}" --target "$CACHE/py/$1" "$2" >/dev/null
    touch "$CACHE/py/$1/.installed"
  fi
}
py_target packaging-latest packaging
py_target packaging-21 'packaging==21.3'

if [ ! -f "$CACHE/npm/node_modules/semver/package.json" ]; then
  mkdir -p "$CACHE/npm"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" semver@7 >/dev/null
fi

# Report schemas for `findings --format sarif|openvex|cyclonedx` (tests/it/report.rs): Python
# `jsonschema`, and the official SARIF 2.1.0 schema as shipped in the npm package
# @microsoft/jest-sarif (packed, not installed: only the schema file is kept). The CycloneDX and
# OpenVEX schemas are in shared/fixtures.
if ! "$PY" -c 'import jsonschema' >/dev/null 2>&1 && [ ! -f "$CACHE/py/jsonschema/.installed" ]; then
  "$PY" -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  if "$PY" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    pip_flags+=(--break-system-packages)
  fi
  py_target jsonschema 'jsonschema>=4.18'
fi
SARIF_SCHEMA="$CACHE/schemas/sarif-2.1.0-rtm.5.json"
if [ ! -f "$SARIF_SCHEMA" ]; then
  mkdir -p "$CACHE/schemas"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null &&
    tar xzf microsoft-jest-sarif-1.0.0-beta.0.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json)
  mv "$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$SARIF_SCHEMA"
  rm -rf "$tmp"
fi
