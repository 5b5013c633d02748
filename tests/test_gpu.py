"""On a CUDA machine (`pytest -m gpu`): the reduced spec runs on the GPU through `device: auto`, twice from empty
caches, with byte-identical results and samples, and the manifest names the GPU."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.gpu


def _digest(out: Path) -> dict[str, str]:
    files = [out / "results_grid.csv", *sorted((out / "samples").rglob("*.jsonl"))]
    return {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _run(spec: Path, out: Path, cache: Path) -> None:
    env = os.environ | {"RRS_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-m", "rrs.cli", "reproduce", str(spec), "--out", str(out)],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]


def test_cuda_runs_are_byte_identical_and_named(tmp_path):
    import torch

    assert torch.cuda.is_available(), "the gpu marker needs a CUDA device"
    spec = tmp_path / "tiny-gpu.yaml"
    spec.write_text((ROOT / "spec" / "tiny.yaml").read_text().replace("device: cpu", "device: auto"))
    _run(spec, tmp_path / "a", tmp_path / "cache-a")
    _run(spec, tmp_path / "b", tmp_path / "cache-b")
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) > 1
    assert a == b, sorted(k for k in a if a[k] != b.get(k))
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["device"]["kind"] == "cuda"
    assert manifest["device"]["cuda"]["names"], manifest["device"]
