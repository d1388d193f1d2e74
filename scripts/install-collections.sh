#!/usr/bin/env bash
# Install the Ansible collections malloc-lab needs (amazon.aws) into ./collections without Ansible
# Galaxy: the `ansible` package on PyPI bundles amazon.aws, so pip fetches that wheel (hash-pinned),
# we extract the collection and `ansible-galaxy` installs it from the directory.
# Idempotent: does nothing when the pinned version is already installed.
#
# Usage: scripts/install-collections.sh        (from anywhere; paths are relative to the repo)
# Env:   LAB_PYTHON    the controller's python (default: .venv/bin/python, else python3)
#        LAB_CACHE_DIR where the wheel is kept between runs (default: build/cache)
set -euo pipefail

# Keep these three in step with collections/requirements.yml.
ANSIBLE_PACKAGE_VERSION=12.3.0   # the community package that matches ansible-core 2.19
ANSIBLE_WHEEL_SHA256=cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414
AMAZON_AWS_VERSION=10.1.2        # the amazon.aws that ansible 12.3.0 bundles

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${LAB_PYTHON:-}
if [[ -z $python ]]; then
  if [[ -x $repo/.venv/bin/python ]]; then python=$repo/.venv/bin/python; else python=python3; fi
fi
galaxy=$(dirname "$(command -v "$python")")/ansible-galaxy
[[ -x $galaxy ]] || galaxy=ansible-galaxy
cache=${LAB_CACHE_DIR:-$repo/build/cache}
dest=$repo/collections
manifest=$dest/ansible_collections/amazon/aws/MANIFEST.json

installed_version() {
  [[ -f $manifest ]] || return 0
  "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' "$manifest"
}

if [[ $(installed_version) == "$AMAZON_AWS_VERSION" ]]; then
  echo "amazon.aws $AMAZON_AWS_VERSION already installed in $dest"
  exit 0
fi

mkdir -p "$cache"
wheel=$cache/ansible-$ANSIBLE_PACKAGE_VERSION-py3-none-any.whl
if [[ ! -f $wheel ]]; then
  # --require-hashes needs a requirements file: the hash pins the exact bytes we extract from.
  reqs=$(mktemp)
  trap 'rm -f "$reqs"' EXIT
  echo "ansible==$ANSIBLE_PACKAGE_VERSION --hash=sha256:$ANSIBLE_WHEEL_SHA256" >"$reqs"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r "$reqs" -d "$cache"
fi

work=$(mktemp -d)
trap 'rm -rf "$work" ${reqs:+"$reqs"}' EXIT
# Extract only amazon.aws (the wheel holds ~100 collections); zipfile avoids needing unzip.
"$python" - "$wheel" "$work" <<'PY'
import sys
import zipfile

wheel, out = sys.argv[1], sys.argv[2]
prefix = "ansible_collections/amazon/aws/"
with zipfile.ZipFile(wheel) as zf:
    members = [n for n in zf.namelist() if n.startswith(prefix)]
    if not members:
        sys.exit(f"{wheel} holds no {prefix}")
    zf.extractall(out, members)
PY

bundled=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$work/ansible_collections/amazon/aws/MANIFEST.json")
if [[ $bundled != "$AMAZON_AWS_VERSION" ]]; then
  echo "ansible $ANSIBLE_PACKAGE_VERSION bundles amazon.aws $bundled, expected $AMAZON_AWS_VERSION" >&2
  exit 1
fi

# --force replaces another installed version; the directory install needs no network.
"$galaxy" collection install --force -p "$dest" "$work/ansible_collections/amazon/aws"
echo "installed amazon.aws $(installed_version) in $dest"
