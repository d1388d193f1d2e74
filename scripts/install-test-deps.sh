#!/usr/bin/env bash
# Installs the Debian packages the tests need (tests/system-packages.txt, the one list) when they are
# missing. As root it installs them with apt-get; otherwise it names them and the command to run, and
# the tests that need them skip, naming the package. Used by `make test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

list=tests/system-packages.txt
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-test-deps: not a Debian system; install the equivalents of: ${wanted[*]} (see $list)" >&2
  exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing system packages: ${missing[*]}" >&2
  echo "install-test-deps: as root run: apt-get install -y ${missing[*]}   (the tests that need them skip, naming them)" >&2
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
