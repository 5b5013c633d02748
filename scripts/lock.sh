#!/usr/bin/env bash
# Regenerate the container's two locks, the exact dependency sets of the Dockerfile's two variants:
#   requirements/cuda.lock  VARIANT=cuda: the gpu extra included; torch is PyPI's Linux wheel, the CUDA build, which
#                           brings CUDA itself as pip packages (nvidia-*, cuda-toolkit);
#   requirements/cpu.lock   VARIANT=cpu: no gpu extra; torch is the CPU build (+cpu) of the same version, which PyPI
#                           does not serve: it comes from --find-links, by default PyTorch's CPU page.
# Every package pinned with ==, with the sha256 of every file its source serves for that version, resolved for
# linux x86_64 with glibc 2.36 (Debian bookworm, the base image) and CPython 3.11 (bookworm's python3).
#
#   scripts/lock.sh                          # keep current pins where still valid; needs PyPI (metadata only,
#   scripts/lock.sh --upgrade-package NAME   #   no wheels downloaded, except that uv reads the CPU torch wheel to
#   scripts/lock.sh --upgrade                #   hash it); extra arguments go to both `uv pip compile` runs
#
#   TORCH_CPU_LINKS=/opt/wheels scripts/lock.sh   # where the CPU torch wheel lies when PyTorch's page is unreachable
#
# Then run: .venv/bin/pytest tests/test_container.py -q   (checks both locks agree with pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TORCH_CPU_LINKS="${TORCH_CPU_LINKS:-https://download.pytorch.org/whl/cpu/torch/}"
tool="$(mktemp -d)"
trap 'rm -rf "$tool" requirements/.cuda.lock.tmp requirements/.cpu.lock.tmp' EXIT

python3 -m venv "$tool/venv"
"$tool/venv/bin/python" -m pip install -q "uv==${UV_VERSION}"

# Resolve into a copy of the current lock (uv keeps its pins as preferences), then rename: a failed resolve never
# leaves a half-written lock.
compile() {  # compile VARIANT [uv arguments...]
  local variant="$1" tmp="requirements/.$1.lock.tmp"
  shift
  if [[ -f "requirements/$variant.lock" ]]; then cp "requirements/$variant.lock" "$tmp"; fi
  "$tool/venv/bin/uv" pip compile pyproject.toml \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_36 \
    --generate-hashes \
    --no-config \
    --custom-compile-command "scripts/lock.sh" \
    --quiet \
    -o "$tmp" \
    "$@"
  mv "$tmp" "requirements/$variant.lock"
  echo "wrote requirements/$variant.lock ($(grep -c '^[a-z0-9]' "requirements/$variant.lock") packages)"
}

compile cuda --extra gpu "$@"
# uv prefers the local version 2.13.0+cpu from the find-links page over PyPI's 2.13.0 for pyproject's torch==2.13.0.
compile cpu --find-links "$TORCH_CPU_LINKS" "$@"
