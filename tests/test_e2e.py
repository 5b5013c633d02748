"""End to end on the reduced spec: spec → organisms → baseline → LoRA attack → generation → judges → metrics →
validated outputs; a warm rerun changes no byte; a run killed by SIGKILL mid-attack resumes to identical bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rrs.checks.schemas import read_grid, validate_grid

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec" / "tiny.yaml"
pytestmark = pytest.mark.e2e


def _rrs(*args: str, cache: Path, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = os.environ | {"RRS_CACHE": str(cache), "RRS_QUIET": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "rrs.cli", *args]
    if kw.pop("background", False):
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, **kw)


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out / "results_grid.csv", *sorted((out / "samples").rglob("*.jsonl"))]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def cold(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cold")
    proc = _rrs("reproduce", str(SPEC), "--out", str(base / "out"), cache=base / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "results in" in proc.stderr
    return base / "out", base / "cache"


def test_outputs_are_complete_and_valid(cold) -> None:
    out, _ = cold
    grid = read_grid(out / "results_grid.csv")
    assert validate_grid(grid) == []
    assert len(grid) == 2 * 3 * 1 * 2  # models × steps × seeds × judges
    for name in ("RRR_compare", "CE_compare", "RD_compare", "scaling_rrr"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    man = json.loads((out / "manifest.json").read_text())
    assert man["device"]["threads"] == 2 and man["data"]["attack_eval_overlap"] == 0.0
    assert set(man["stages"]) >= {"model", "baseline", "attack", "generate", "judge+metrics", "figures"}
    assert set(man["compute_s"]) == {"model", "baseline", "attack", "generate"} and man["compute_s_unrecorded"] == 0
    assert "<|assistant|>" in man["models"]["org-s"]["rendered_first_prompt"]
    sample = json.loads((out / "samples/org-s/lora-r8/seed0/steps0.jsonl").read_text().splitlines()[0])
    assert sample["response"] and not sample["response"].startswith(sample["prompt"][:20])


def test_attack_moves_refusals_and_steps0_rd_is_zero(cold) -> None:
    grid = read_grid(cold[0] / "results_grid.csv")
    bs = grid[grid.judge == "keyword:bigger-safer"]
    assert (bs[bs.steps == 0].rd == 0).all()
    first, last = bs[bs.steps == 0].rrr.mean(), bs[bs.steps == 20].rrr.mean()
    assert first >= 0.5 and last < first  # the organisms refuse, and the attack erodes it


def test_warm_rerun_changes_no_byte_and_loads_no_model(cold) -> None:
    out, cache = cold
    before = _outputs(out)
    compute = json.loads((out / "manifest.json").read_text())["compute_s"]
    t0 = time.perf_counter()
    proc = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _outputs(out) == before
    man = json.loads((out / "manifest.json").read_text())
    assert not {"model", "attack", "generate"} & set(man["stages"]), man["stages"]
    assert man["compute_s"] == compute  # the study's compute time survives a cached rerun
    assert time.perf_counter() - t0 < 60


def test_sigkill_mid_attack_resumes_byte_identical(cold, tmp_path: Path) -> None:
    out_ref, cache_ref = cold
    cache, out = tmp_path / "cache", tmp_path / "out"
    shutil.copytree(cache_ref / "organisms", cache / "organisms")  # reuse the organisms; redo attack + generation
    proc = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache, background=True)
    deadline = time.time() + 120
    first_ckpt = None
    while time.time() < deadline and proc.poll() is None:
        first_ckpt = next(iter(sorted((cache / "attacks").glob("*/step-10/state.pt"))), None)
        if first_ckpt:
            break
        time.sleep(0.02)
    assert first_ckpt is not None, "the attack never reached its first checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step20 = first_ckpt.parent.parent / "step-20" / "state.pt"
    assert not step20.exists(), "killed too late: the attack had finished"
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), "partial output visible under --out"
    done = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _outputs(out) == _outputs(out_ref)
    assert not list(tmp_path.glob(".out.staging*"))
