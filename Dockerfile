# rrs — the pinned CUDA container that reproduces a GPU-scale study and checks the published artifacts.
#
#   docker build -t rrs-artifact .
#   docker run --gpus all -v "$PWD/out:/out" -v rrs-cache:/cache rrs-artifact reproduce spec/study.yaml --out /out
#   docker run rrs-artifact check
#
# Needs Docker Engine >= 25 (BuildKit with Dockerfile frontend >= 1.6, for `ADD --checksum`) and, to run on a GPU,
# an NVIDIA driver >= 580 (CUDA 13.0) with the NVIDIA Container Toolkit. The host directory mounted on /out must be
# writable by uid 1000 (or add `--user "$(id -u):$(id -g)"`).
#
# What is pinned, and how to re-pin:
# - base image: by digest (below);
# - Python: CPython 3.11.18 from python-build-standalone, by sha256 (below);
# - every Python package: requirements/docker.lock, exact versions with hashes (regenerate: scripts/lock.sh).

# CUDA 13.0 because torch==2.13.0's Linux wheel on PyPI depends on cuda-toolkit==13.0.3.0 (nvidia-cuda-runtime
# 13.0.96, nvidia-cudnn-cu13); torch loads those pip-installed CUDA libraries, the image supplies the driver contract.
# DIGEST NOT VERIFIED HERE: the machine that wrote this file has no Docker engine and no registry access. The digest is
# the one published for this tag in public build notes (reported there as read with docker pull + docker inspect).
# Verify it before the first build, and after any re-pin, on a machine with Docker:
#   docker buildx imagetools inspect nvidia/cuda:13.0.0-runtime-ubuntu22.04
# ("Digest:" must equal the sha256 below; replace it if it differs).
FROM nvidia/cuda:13.0.0-runtime-ubuntu22.04@sha256:3e7f34f5e9dd5315b67ab30d71a92e578c5911236e14370647df020bdee2ca8a

LABEL org.opencontainers.image.title="rrs" \
      org.opencontainers.image.description="Reproducible refusal-robustness (tampering) studies of LLMs" \
      org.opencontainers.image.licenses="MIT"

# Determinism: cuBLAS needs a fixed workspace for deterministic GEMMs under torch.use_deterministic_algorithms;
# a fixed hash seed, UTC and a C.UTF-8 locale make ordering, timestamps and text handling independent of the host.
ENV CUBLAS_WORKSPACE_CONFIG=:4096:8 \
    PYTHONHASHSEED=0 \
    TZ=UTC \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HOME=/cache/huggingface \
    RRS_CACHE=/cache/rrs

# Python 3.11 (pyproject: >=3.11,<3.12). Not from apt: Ubuntu 22.04's python3.11 package is 3.11.0~rc1, a release
# candidate, and the deadsnakes PPA keeps only its newest build, so a pinned apt version stops resolving. The sha256
# is the one uv 0.13.9 ships for this download (python-build-standalone's own checksum); `uv python list` shows it.
ADD --checksum=sha256:3288c54cea3db350052019b3f8b558dd8a3da8afa6fda573f5fd2bcb37635b4a \
    https://github.com/astral-sh/python-build-standalone/releases/download/20261110/cpython-3.11.18%2B20261110-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz \
    /tmp/python.tar.gz
RUN tar -xzf /tmp/python.tar.gz -C /opt \
    && rm /tmp/python.tar.gz \
    && /opt/python/bin/python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies: exactly the lock, every file checked against its hash; --no-deps so nothing unlisted comes in.
COPY requirements/docker.lock /tmp/docker.lock
RUN pip install --require-hashes --no-deps -r /tmp/docker.lock \
    && rm /tmp/docker.lock

# The project itself, built with the locked setuptools (no build isolation, so nothing is fetched), then checked:
# consistent dependency set, the CUDA build of the pinned torch, a working CLI.
COPY pyproject.toml README.md LICENSE /tmp/rrs-src/
COPY rrs /tmp/rrs-src/rrs
RUN pip install --no-deps --no-build-isolation /tmp/rrs-src \
    && rm -rf /tmp/rrs-src \
    && pip check \
    && python -c "import torch; assert torch.__version__ == '2.13.0', torch.__version__; assert torch.version.cuda and torch.version.cuda.startswith('13.'), torch.version.cuda" \
    && rrs --help > /dev/null

# Non-root user; caches (Hugging Face hub, rrs stage caches) on a volume so weights survive containers.
RUN useradd --create-home --uid 1000 --shell /bin/bash rrs \
    && mkdir -p /cache/huggingface /cache/rrs /out /home/rrs/work \
    && chown -R rrs:rrs /cache /out /home/rrs/work
VOLUME ["/cache"]

# The study specs, their data and the published artifacts: `rrs check` compares against artifacts/ in here; the
# directory is the user's, so a run without --out can write out/ beside them.
WORKDIR /home/rrs/work
COPY --chown=rrs:rrs spec ./spec
COPY --chown=rrs:rrs data ./data
COPY --chown=rrs:rrs artifacts ./artifacts

# Numeric, so that runtimes which check for a non-root user (runAsNonRoot) can see it is not root.
USER 1000:1000
ENTRYPOINT ["rrs"]
CMD ["reproduce"]
