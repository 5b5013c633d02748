#!/usr/bin/env bash
# A fresh virtual environment holding exactly one lock, then rrs itself (editable). `make setup` and `make check-setup`
# run it:
#   scripts/venv.sh .venv requirements/dev.lock          # torch's CPU build, the dev tools
#   scripts/venv.sh .venv-check requirements/check.lock  # the checks only: no torch, transformers or peft
# pip installs with --require-hashes (every file must match the lock's sha256) and --no-deps (nothing unlisted comes
# in); rrs is built with the locked setuptools without build isolation, so nothing else is fetched.
# torch's CPU build is not on PyPI: pip looks for it at TORCH_FIND_LINKS (default PyTorch's CPU page) as well as in
# its own find-links (PIP_FIND_LINKS, kept). The page is probed once: unreachable, it is left out with a note (pip
# would otherwise retry it for every package) and the wheel must come from PIP_FIND_LINKS.
#
# The interpreter: $PYTHON if set, else the first of python3 and python3.11 on PATH that is CPython 3.11, the one
# version pyproject's requires-python admits and the locks are resolved for (their wheels: cp311, e.g. torch's CPU
# build). None found: one line naming what was tried, exit 2, nothing removed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1" lock="$2"
want="$(sed -n 's/^requires-python = ">=\([0-9]*\.[0-9]*\),<.*/\1/p' pyproject.toml)"
python="" tried=()
for candidate in ${PYTHON:-python3 python$want}; do
  version="$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2> /dev/null || echo missing)"
  tried+=("$candidate ($version)")
  if [[ "$version" == "$want" ]]; then python="$candidate"; break; fi
done
if [[ -z "$python" ]]; then
  echo "scripts/venv.sh: needs CPython $want (pyproject.toml requires-python; the locks hold its wheels); tried: ${tried[*]}. Install python$want or set PYTHON=/path/to/python$want" >&2
  exit 2
fi
links="${TORCH_FIND_LINKS-https://download.pytorch.org/whl/cpu/torch/}"

if ! grep -q '^torch==.*+cpu' "$lock"; then
  links=""
elif [[ "$links" == http* ]] && ! python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=30)' "$links" 2>/dev/null; then
  echo "note: $links is unreachable: torch's CPU wheel ($(grep -m1 -o '^torch==[^ ]*' "$lock")) must be in PIP_FIND_LINKS (${PIP_FIND_LINKS:-unset})" >&2
  links=""
fi

rm -rf "$venv"
"$python" -m venv "$venv"
PIP_FIND_LINKS="$links ${PIP_FIND_LINKS:-}" "$venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$lock"
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
