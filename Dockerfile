# rrs — one image, two variants: the embedded study and the checks on any x86_64 CPU, the paper's study on an
# NVIDIA GPU. Debian's Python, every Python package from a hashed lock, a non-root user, caches on a volume.
#
#   docker build -t rrs:cpu .                              # CPU torch (requirements/cpu.lock), the default; a laptop
#   docker build --build-arg VARIANT=cuda -t rrs:cuda .    # CUDA torch (requirements/cuda.lock); a GPU host
#   docker run --rm --network none rrs:cpu check           # rrs check --all: the published artifacts, inside the image
#   docker run --rm --network none -v "$PWD/out:/out" -v rrs-cache:/cache rrs:cpu reproduce   # → ./out/smoke
#
# The entrypoint (scripts/container_entrypoint.sh) runs under tini as PID 1, so signals reach rrs and no zombie is
# left; `check` with no arguments checks everything, and `run`/`reproduce` write to /out/<spec name> unless --out says
# otherwise, refusing in one line when /out is not mounted from the host (the results would vanish with the
# container), and printing the host folder when it is.
#
# `make image` / `make image-cuda` build the same file on this project's machines (scripts/image.sh: a local Debian
# base, the CA bundle pip trusts there, the CPU torch wheel from local disk); `make image-test` runs the image end to
# end. The legacy builder is enough: no BuildKit features are used. A GPU run needs an NVIDIA driver that supports
# CUDA 13.0 (>= 580) and the NVIDIA Container Toolkit (`--gpus all`): the driver comes from the host, CUDA itself from
# the torch wheel's pip dependencies (nvidia-* packages in requirements/cuda.lock), so no nvidia/cuda base is needed.
# The folders mounted on /out and /cache must be writable by uid 1000 (or add `--user "$(id -u):$(id -g)"`).
#
# What is pinned, and how to re-pin:
# - base image: by digest (BASE below); another Debian 12 base with the same python3 package works (--build-arg BASE);
# - Python: Debian's python3 package, by version (below);
# - every Python package: requirements/{cuda,cpu}.lock, exact versions with sha256 hashes (regenerate: scripts/lock.sh).

# debian:bookworm-20260918-slim, a dated (never re-pointed) tag. The digest is that of its multi-platform index as
# published by Docker's official-images team in docker-library/repo-info:
#   https://github.com/docker-library/repo-info/blob/43a0ed1e9fb9a76535ddf0c2040fb9223eac2b15/repos/debian/remote/bookworm-20260918-slim.md
# ("docker pull debian@sha256:3783cc01…"; linux/amd64 manifest sha256:f3034a6e…). NOT PULLED HERE: this project's
# machines cannot reach Docker Hub, so builds here pass --build-arg BASE=rrs-base:bookworm, a Debian bookworm minbase
# made with mmdebstrap from Debian's archive (scripts/image.sh). Check the digest on a machine that reaches Docker Hub:
#   docker buildx imagetools inspect debian:bookworm-20260918-slim   ("Digest:" must equal the sha256 below)
ARG BASE=debian:bookworm-20260918-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

# --- python: Debian's CPython 3.11 (pyproject: >=3.11,<3.12) -------------------------------------------------------
# python3 / python3-venv are bookworm's metapackages, 3.11.2-1+b1 for the whole release; the interpreter they pull in
# (python3.11, 3.11.2-6+deb12uN) is bookworm's current security update on the day of the build, so it is the one part
# of the image that is not pinned here: Debian's archive keeps only the newest update, and a pin on it would stop
# resolving at the next one. `docker run --rm --entrypoint dpkg-query IMAGE -W python3.11` shows the one installed
# (scripts/image.sh prints it after each build).
FROM ${BASE} AS python
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 python3-venv=3.11.2-1+b1 tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

# --- builder: the venv, from the lock of the chosen variant ---------------------------------------------------------
# Everything from the build context that exists only to build (the locks, .docker-local/: the CA bundle pip trusts on
# the build machine and local wheels) stays in this stage; the final stage copies /opt/venv and nothing else from it.
FROM python AS builder
ARG VARIANT=cpu
# Where pip finds the CPU torch wheel, which PyPI does not serve (VARIANT=cpu only); scripts/image.sh points it at the
# wheel it copied into .docker-local/wheels/. --require-hashes checks the file whichever place it came from.
ARG TORCH_FIND_LINKS=https://download.pytorch.org/whl/cpu/torch/
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements/cuda.lock requirements/cpu.lock /tmp/locks/
COPY .docker-local/ /tmp/local/
# Dependencies: exactly the lock, every file checked against its hash; --no-deps so nothing unlisted comes in.
RUN case "$VARIANT" in \
      cuda) ;; \
      cpu) export PIP_FIND_LINKS="$TORCH_FIND_LINKS" ;; \
      *) echo "VARIANT must be cpu or cuda, not '$VARIANT'" >&2; exit 2 ;; \
    esac \
    && if [ -f /tmp/local/ca.crt ]; then export PIP_CERT=/tmp/local/ca.crt; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r "/tmp/locks/$VARIANT.lock"

# The project itself, built with the locked setuptools (no build isolation, so nothing is fetched), then checked:
# a consistent dependency set, the torch build the variant asks for, a working CLI.
COPY pyproject.toml README.md LICENSE /tmp/rrs-src/
COPY rrs /tmp/rrs-src/rrs
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /tmp/rrs-src \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python -c "import sys, torch; cuda = torch.version.cuda; ok = (cuda or '').startswith('13.') if sys.argv[1] == 'cuda' else cuda is None; print('torch', torch.__version__, 'cuda', cuda); sys.exit(not ok)" "$VARIANT" \
    && /opt/venv/bin/rrs --help > /dev/null

# --- the image: Debian's python, the venv, the studies ---------------------------------------------------------------
FROM python

# Determinism: cuBLAS needs a fixed workspace for deterministic GEMMs under torch.use_deterministic_algorithms;
# a fixed hash seed, UTC and a C.UTF-8 locale make ordering, timestamps and text handling independent of the host.
# Offline by default (HF_HUB_OFFLINE=1): a run reads weights from the cache volume; `rrs fetch` needs
# `-e HF_HUB_OFFLINE=0` and the network.
ENV CUBLAS_WORKSPACE_CONFIG=:4096:8 \
    PYTHONHASHSEED=0 \
    TZ=UTC \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HOME=/cache/huggingface \
    RRS_CACHE=/cache/rrs \
    MPLCONFIGDIR=/tmp/matplotlib \
    PATH=/opt/venv/bin:$PATH

# Non-root user; caches (Hugging Face hub, rrs stage caches) on a volume so weights and stages survive containers,
# results on another (/out).
RUN useradd --create-home --uid 1000 --shell /bin/bash rrs \
    && mkdir -p /cache/huggingface /cache/rrs /out /home/rrs/work \
    && chown -R rrs:rrs /cache /out /home/rrs/work
# /out is not a volume: without a host folder mounted there, a run's results would land in an anonymous volume or
# the container and be lost, and the entrypoint refuses such a run; the cache may live in a named volume.
VOLUME ["/cache"]

# The study specs, their data and the published artifacts: `rrs check` compares against artifacts/ in here; the
# directory is the user's, so a run without --out can write out/ beside them.
WORKDIR /home/rrs/work
COPY --chown=rrs:rrs spec ./spec
COPY --chown=rrs:rrs data ./data
COPY --chown=rrs:rrs artifacts ./artifacts
COPY scripts/container_entrypoint.sh /usr/local/bin/rrs-entrypoint
# Metadata before the venv: the legacy builder runs every instruction in a container, and with the vfs storage driver
# (this project's machines) each container is a full copy of the image so far, so the ~2 GB venv comes last.
# OCI labels: scripts/image.sh passes the commit (REVISION), its date (CREATED: the commit's, so a rebuild of one
# commit labels the same), the package version (VERSION, pyproject.toml) and the clone's origin URL (SOURCE).
ARG VARIANT=cpu
ARG REVISION=unknown
ARG CREATED=unknown
ARG VERSION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="rrs" \
      org.opencontainers.image.description="Reproducible refusal-robustness (tampering) studies of LLMs" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$CREATED" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.source="$SOURCE" \
      io.github.rrs.variant="$VARIANT"

# Numeric, so that runtimes which check for a non-root user (runAsNonRoot) can see it is not root.
USER 1000:1000
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/rrs-entrypoint"]
# The embedded study into the host folder mounted on /out (-v "$PWD/out:/out"), resuming from /cache.
CMD ["reproduce", "spec/smoke.yaml", "--out", "/out/smoke"]

# The venv, owned by root: the user runs it and cannot change it.
COPY --from=builder /opt/venv /opt/venv
