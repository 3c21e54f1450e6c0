#!/usr/bin/env bash
# Installs the reference implementations that tests/versions.rs compares against:
#   python3-rpm (rpm.labelCompare, system python), dpkg (dpkg --compare-versions),
#   libmaven3-core-java (maven-artifact ComparableVersion), ruby (Gem::Version), Python
#   `packaging` (latest, and 21.3 for LegacyVersion), npm `semver`.
# Idempotent and quiet: checks before installing.
set -euo pipefail

CACHE="${STELLA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stella-bundle}"
mkdir -p "$CACHE"

apt_missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in dpkg python3-rpm libmaven3-core-java; do
  have_pkg "$p" || apt_missing+=("$p")
done
command -v java >/dev/null 2>&1 || apt_missing+=(default-jre-headless)
command -v ruby >/dev/null 2>&1 || apt_missing+=(ruby)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs npm)
if ((${#apt_missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends \
      "${apt_missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "install-test-deps: apt-get install ${apt_missing[*]} failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

PY="${STELLA_PYTHON:-python3}"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
py_target() { # dir spec
  if [ ! -f "$CACHE/py/$1/.installed" ]; then
    rm -rf "$CACHE/py/$1"
    "$PY" -m pip install -q --disable-pip-version-check --no-warn-script-location \
      --target "$CACHE/py/$1" "$2" >/dev/null
    touch "$CACHE/py/$1/.installed"
  fi
}
py_target packaging-latest packaging
py_target packaging-21 'packaging==21.3'

if [ ! -f "$CACHE/npm/node_modules/semver/package.json" ]; then
  mkdir -p "$CACHE/npm"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" semver@7 >/dev/null
fi
