#!/usr/bin/env bash
# Build the container on this project's machines: scripts/image.sh cpu|cuda   (make image / make image-cuda)
#
#   1. a Docker daemon: the one that answers, else one started here (scripts/docker_lib.sh) and stopped at the end;
#   2. the base: IMAGE_BASE, by default rrs-base:bookworm, a Debian bookworm minbase made from Debian's archive with
#      mmdebstrap and imported into the daemon when it is missing (Docker Hub is not reachable here);
#      IMAGE_BASE= (empty) builds on the Dockerfile's own digest-pinned debian:bookworm-…-slim instead;
#   3. .docker-local/: the CA bundle this machine's pip trusts, and for cpu the CPU torch wheel of requirements/cpu.lock
#      from this machine's wheel folders, checked against the lock's sha256 (see .docker-local/README.md);
#   4. docker build --network host (pip reaches PyPI from the builder stage), tagged IMAGE_TAG (default rrs:VARIANT);
#   5. what was built: size, build time, Debian's python3.11, torch and its CUDA version.
#
# Environment: IMAGE_BASE, IMAGE_TAG, KEEP_DOCKERD=1 (leave a daemon started here running), DOCKER_BUILDKIT (default
# 0: the legacy builder, the only one this machine's Debian docker.io has; the Dockerfile needs no BuildKit feature).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/docker_lib.sh
source scripts/docker_lib.sh

variant="${1:-}"
case "$variant" in
  cpu | cuda) ;;
  *) fail "usage: scripts/image.sh cpu|cuda (got '$variant')" ;;
esac
base="${IMAGE_BASE-rrs-base:bookworm}"
tag="${IMAGE_TAG:-rrs:$variant}"
lock="requirements/$variant.lock"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

ensure_dockerd

# --- 2. the base ------------------------------------------------------------------------------------------------------
if [[ "$base" == rrs-base:bookworm ]] && ! docker image inspect "$base" > /dev/null 2>&1; then
  command -v mmdebstrap > /dev/null \
    || fail "base $base is missing and mmdebstrap is not installed (apt-get install -y mmdebstrap), or set IMAGE_BASE="
  tmp="$(mktemp -d)"
  echo "base $base is missing: building it from Debian's archive (mmdebstrap, bookworm minbase)"
  # Like debian:bookworm-slim: minbase, the three bookworm suites, no manuals, docs or translations.
  show nice -n 19 mmdebstrap --quiet --variant=minbase \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$tmp/base.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" \
    || { rm -rf "$tmp"; fail "mmdebstrap could not build the bookworm base (is deb.debian.org reachable?)"; }
  show docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tmp/base.tar" "$base" || { rm -rf "$tmp"; fail "docker import of the base failed"; }
  rm -rf "$tmp"
fi

# --- 3. .docker-local/ ------------------------------------------------------------------------------------------------
rm -rf .docker-local/ca.crt .docker-local/wheels
mkdir -p .docker-local/wheels

pip_config() {  # the value of a [global] setting in this machine's pip config files, or nothing
  python3 -m pip config list 2> /dev/null | sed -n "s/^global\.$1='\(.*\)'\$/\1/p" || true
}

cert="${PIP_CERT:-$(pip_config cert)}"
if [[ -n "$cert" ]]; then
  [[ -f "$cert" ]] || fail "pip is configured with the CA bundle $cert, which does not exist"
  cp "$cert" .docker-local/ca.crt
  echo "CA bundle for pip in the builder stage: $cert"
fi

build_args=(--build-arg "VARIANT=$variant")
if [[ "$variant" == cpu ]]; then
  version="$(sed -n 's/^torch==\([^ ]*\).*/\1/p' "$lock")"
  hashes="$(awk '/^torch==/ {f = 1; next} f && /--hash=sha256:/ {sub(/.*--hash=sha256:/, ""); sub(/[ \\]*$/, ""); print; next} f {exit}' "$lock")"
  [[ -n "$version" && -n "$hashes" ]] || fail "$lock has no hashed torch pin"
  # Candidate folders: pip's find-links, and the torch/ folder of every file:// index pip is configured with.
  folders=()
  for link in ${PIP_FIND_LINKS:-} $(pip_config find-links); do folders+=("${link#file://}"); done
  for index in ${PIP_EXTRA_INDEX_URL:-} $(pip_config extra-index-url) $(pip_config index-url); do
    if [[ "$index" == file://* ]]; then folders+=("${index#file://}/torch"); fi
  done
  wheel=""
  for folder in "${folders[@]}"; do
    for candidate in "$folder"/torch-"$version"-cp311-cp311-manylinux*_x86_64.whl; do
      [[ -f "$candidate" ]] || continue
      if grep -qx "$(sha256sum "$candidate" | cut -d' ' -f1)" <<< "$hashes"; then
        wheel="$candidate"
        break 2
      fi
      echo "skipped $candidate: its sha256 is not one of $lock's for torch==$version"
    done
  done
  if [[ -n "$wheel" ]]; then
    cp "$wheel" .docker-local/wheels/
    build_args+=(--build-arg TORCH_FIND_LINKS=/tmp/local/wheels)
    echo "CPU torch for the builder stage: $wheel (sha256 in $lock)"
  else
    echo "no local torch==$version wheel with $lock's sha256: the build reads download.pytorch.org"
  fi
fi

# --- 4. build ---------------------------------------------------------------------------------------------------------
if [[ -n "$base" ]]; then build_args+=(--build-arg "BASE=$base"); fi
revision="$(git rev-parse HEAD 2> /dev/null || echo unknown)"
if [[ "$revision" != unknown ]] && ! git diff --quiet HEAD 2> /dev/null; then revision="$revision-dirty"; fi
build_args+=(--build-arg "REVISION=$revision")
# OCI labels: the commit's date (not the build's: a rebuild of one commit labels the same), the package version and
# the clone's origin URL (none in a clone without a remote).
created="$(git log -1 --format=%cI 2> /dev/null || echo unknown)"
pkg_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)"
source_url="$(git config --get remote.origin.url 2> /dev/null || echo "unknown (a clone without a remote)")"
build_args+=(--build-arg "CREATED=$created" --build-arg "VERSION=${pkg_version:-unknown}" --build-arg "SOURCE=$source_url")

start=$SECONDS
show docker build --network host "${build_args[@]}" -t "$tag" . || fail "docker build of $tag ($variant) failed"
seconds=$((SECONDS - start))

# --- 5. what was built ------------------------------------------------------------------------------------------------
size="$(docker image inspect -f '{{.Size}}' "$tag")"
# One container (with vfs each container is a full copy of the image): Debian's python3.11; torch's distribution
# version (what the lock pins), its own __version__ (PyPI's CUDA wheel says 2.13.0+cu130) and its CUDA version.
probe="$(docker run --rm --network none --entrypoint sh "$tag" -c 'dpkg-query -W -f "\${Version} " python3.11 && python -c "
import importlib.metadata, torch
print(importlib.metadata.version(\"torch\"), torch.__version__, torch.version.cuda)"')" \
  || fail "$tag: cannot read python3.11's version or import torch"
read -r python_deb torch_dist torch_version torch_cuda <<< "$probe"
echo "built $tag ($variant) in ${seconds} s: $((size / 1000000)) MB; python3.11 $python_deb;" \
  "torch $torch_dist (torch.__version__ $torch_version); torch.version.cuda $torch_cuda"
locked_torch="$(sed -n 's/^torch==\([^ ]*\).*/\1/p' "$lock")"
[[ "$torch_dist" == "$locked_torch" ]] || fail "$tag: torch is $torch_dist, $lock pins $locked_torch"
if [[ "$variant" == cuda ]]; then
  # The CUDA version torch reports must be the one the lock pins (cuda-toolkit==MAJOR.MINOR.…).
  toolkit="$(sed -n 's/^cuda-toolkit==\([0-9]*\.[0-9]*\).*/\1/p' "$lock")"
  [[ "$torch_cuda" == "$toolkit" ]] || fail "$tag: torch.version.cuda is '$torch_cuda', $lock pins CUDA $toolkit"
else
  [[ "$torch_cuda" == None ]] || fail "$tag: the CPU variant's torch reports CUDA $torch_cuda"
fi
