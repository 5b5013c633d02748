#!/usr/bin/env bash
# Regenerate every lock (`make lock` runs this), the exact dependency sets of every environment the project builds:
#   requirements/cuda.lock  the container, VARIANT=cuda: the gpu extra included; torch is PyPI's Linux wheel, the CUDA
#                           build, which brings CUDA itself as pip packages (nvidia-*, cuda-toolkit);
#   requirements/cpu.lock   the container, VARIANT=cpu: no gpu extra; torch is the CPU build (+cpu) of the same version,
#                           which PyPI does not serve: it comes from --find-links, by default PyTorch's CPU page;
#   requirements/dev.lock   `make setup` (.venv): cpu.lock's set plus every extra of pyproject.toml but gpu (dev, and any
#                           other, e.g. smollm2), each shared pin equal to cpu.lock's (cpu.lock constrains it);
#   requirements/check.lock `make check` (.venv-check): pyproject's `check` dependency group, no torch, constrained by
#                           cpu.lock too, so a figure drawn in either environment uses the same matplotlib/pillow.
#   requirements/inspect.lock `make inspect-test` (.venv-inspect): pyproject's `inspect` group (inspect_ai) alone.
#   requirements/tools.lock uv, which this script runs (every platform's wheel hashed).
# Every package pinned with ==, with the sha256 of every file its source serves for that version, resolved for
# linux x86_64 with glibc 2.36 (Debian bookworm, the base image) and CPython 3.11 (bookworm's python3).
#
#   scripts/lock.sh                          # keep current pins where still valid; needs PyPI (metadata only,
#   scripts/lock.sh --upgrade-package NAME   #   no wheels downloaded, except that uv reads the CPU torch wheel to
#   scripts/lock.sh --upgrade                #   hash it); extra arguments go to every `uv pip compile` run
#
#   TORCH_CPU_LINKS=/opt/wheels scripts/lock.sh   # where the CPU torch wheel lies when PyTorch's page is unreachable
#
# Then run: .venv/bin/pytest tests/test_container.py -q   (checks both locks agree with pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TORCH_CPU_LINKS="${TORCH_CPU_LINKS:-https://download.pytorch.org/whl/cpu/torch/}"
tool="$(mktemp -d)"
trap 'rm -rf "$tool" requirements/.*.lock.tmp' EXIT

# uv itself from requirements/tools.lock (every platform's wheel hashed; written below), hashes required.
python3 -m venv "$tool/venv"
"$tool/venv/bin/python" -m pip install -q --require-hashes --no-deps -r requirements/tools.lock
[[ "$("$tool/venv/bin/uv" --version)" == "uv ${UV_VERSION} "* ]] || { echo "requirements/tools.lock does not hold uv ${UV_VERSION}: edit it to 'uv==${UV_VERSION}' without hashes and install uv by hand once" >&2; exit 2; }

# Resolve into a copy of the current lock (uv keeps its pins as preferences), then rename: a failed resolve never
# leaves a half-written lock.
compile() {  # [SRC=FILE] [PLATFORM=P] compile VARIANT [uv arguments...]
  # SRC: default pyproject.toml, empty with --group; PLATFORM: default the image's, empty with --universal
  local variant="$1" src="${SRC-pyproject.toml}" platform="${PLATFORM-x86_64-manylinux_2_36}"
  local tmp="requirements/.$1.lock.tmp"
  shift
  if [[ -f "requirements/$variant.lock" ]]; then cp "requirements/$variant.lock" "$tmp"; fi
  "$tool/venv/bin/uv" pip compile ${src:+"$src"} \
    --python-version 3.11 \
    ${platform:+--python-platform "$platform"} \
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
# Every extra but gpu (bitsandbytes is for CUDA hosts), read from pyproject.toml, so a new extra is locked too.
mapfile -t extras < <(python3 -c 'import tomllib; print(*sorted(set(tomllib.load(open("pyproject.toml", "rb"))["project"].get("optional-dependencies", {})) - {"gpu"}), sep="\n")')
extra_args=()
for e in "${extras[@]}"; do [[ -n "$e" ]] && extra_args+=(--extra "$e"); done
compile dev "${extra_args[@]}" --find-links "$TORCH_CPU_LINKS" -c requirements/cpu.lock "$@"
SRC="" compile check --group pyproject.toml:check -c requirements/cpu.lock "$@"
# inspect_ai alone (`make inspect-test`): not constrained by cpu.lock, whose fsspec it excludes.
SRC="" compile inspect --group pyproject.toml:inspect "$@"
echo "uv==${UV_VERSION}" > "$tool/tools.in"
SRC="$tool/tools.in" PLATFORM="" compile tools --universal
