#!/usr/bin/env bash
# Regenerate requirements/docker.lock, the exact dependency set of the GPU container (Dockerfile):
# every package pinned with ==, with the sha256 of every file PyPI serves for that version, resolved for
# linux x86_64 with glibc 2.35 (Ubuntu 22.04, the base image) and CPython 3.11; the gpu extra included.
# torch resolves to its CUDA build (PyPI's default Linux wheel) of the version pyproject.toml pins.
#
#   scripts/lock.sh                          # keep current pins where still valid; needs PyPI only (metadata,
#   scripts/lock.sh --upgrade-package NAME   #   no wheels downloaded); extra arguments go to `uv pip compile`
#   scripts/lock.sh --upgrade
#
# Then run: .venv/bin/pytest tests/test_container.py -q   (checks the lock agrees with pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
tool="$(mktemp -d)"
tmp=requirements/.docker.lock.tmp
trap 'rm -rf "$tool" "$tmp"' EXIT

python3 -m venv "$tool/venv"
"$tool/venv/bin/python" -m pip install -q "uv==${UV_VERSION}"

# Resolve into a copy of the current lock (uv keeps its pins as preferences), then rename: a failed resolve never
# leaves a half-written lock.
if [[ -f requirements/docker.lock ]]; then cp requirements/docker.lock "$tmp"; fi
"$tool/venv/bin/uv" pip compile pyproject.toml \
  --extra gpu \
  --python-version 3.11 \
  --python-platform x86_64-manylinux_2_35 \
  --generate-hashes \
  --no-config \
  --custom-compile-command "scripts/lock.sh" \
  --quiet \
  -o "$tmp" \
  "$@"
mv "$tmp" requirements/docker.lock
echo "wrote requirements/docker.lock ($(grep -c '^[a-z0-9]' requirements/docker.lock) packages)"
