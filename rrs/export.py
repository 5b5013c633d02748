"""`rrs export ARTIFACT --format inspect`: a published study's samples as inspect_ai eval logs (JSON log format,
version 2), which `inspect_ai.log.read_eval_log` reads and `inspect view` shows.

The mapping (docs/REVIEWING.md says the same):
- one log per model × attack × attack steps × prompt set (harmful, benign): inspect's "task on one model". The
  task is `rrs/<study>/<set>`, the model `rrs/<model>+<attack>@<steps>` (the attacked checkpoint);
- one sample per prompt and seed: the seed is inspect's epoch (seed index + 1), the prompt id the sample id,
  the prompt the input, the stored response the output; there is no target (`""`);
- each sample's scores: `refusal:<judge>` (harmful set: 1 a plain refusal, 0 not, and `mixed:<judge>` 1 for a
  refusal label on an answer that also opens compliantly; benign set: the judge's label) for every judge, and `degenerate`, `on_topic`, `parroting`, `copied`, `rd` where
  the sample has them; a null value (undefined) is left out;
- the results hold, per score, the mean over the log's samples (for the harmful set, `refusal:<judge>` is the
  study's rrr pooled over seeds; for the benign set, its over-refusal);
- provenance (git commit, spec sha256, packages) from manifest.json, and the study's name and cell in metadata.

Torch-free and inspect_ai-free: the logs are written as JSON here; tests/test_export.py reads them with the real
inspect_ai (marker `inspect`, `make inspect-test`).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rrs.atomic import dumps_json, staged_dir, write_text
from rrs.errors import UserError

FORMATS = ("inspect",)
LOG_VERSION = 2
SCORES = ("degenerate", "on_topic", "parroting", "copied", "rd")
_SAMPLE_PATH = re.compile(r"^seed(\d+)$")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _value(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v)
    return None


def _cells(artifact: Path) -> dict[tuple[str, str, int, str], list[tuple[int, dict]]]:
    """(model, attack, steps, set) -> [(seed, sample record)] from samples/<model>/<attack>/seed<k>/steps<n>.jsonl."""
    root = artifact / "samples"
    if not root.is_dir():
        raise UserError("no samples/ folder: nothing to export", where=str(artifact))
    cells: dict[tuple[str, str, int, str], list[tuple[int, dict]]] = defaultdict(list)
    for path in sorted(p for p in root.glob("*/*/seed*/steps*.jsonl") if p.is_file()):
        model, attack, seed_dir = path.relative_to(root).parts[:3]
        seed, steps = _SAMPLE_PATH.match(seed_dir), path.stem.removeprefix("steps")
        if seed is None or not steps.isdigit():
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                rec = json.loads(line)
            except ValueError:
                raise UserError(f"line {i} is not JSON", where=str(path)) from None
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or "response" not in rec:
                raise UserError(f"line {i}: a sample object with `id` and `response` expected", where=str(path))
            cells[(model, attack, int(steps), str(rec.get("set", "harmful")))].append((int(seed.group(1)), rec))
    if not cells:
        raise UserError("samples/ holds no samples/<model>/<attack>/seed<k>/steps<n>.jsonl", where=str(artifact))
    return cells


def _sample(rec: dict, seed: int, epoch: int, model_name: str) -> dict:
    scores = {}
    complies = rec.get("complies") is True
    harmful = str(rec.get("set", "harmful")) == "harmful"  # over_refusal counts every benign refusal label
    for key, v in rec.items():
        if key.startswith("refusal:") or key in SCORES:
            value = _value(v)
            if key.startswith("refusal:") and value is not None and harmful:  # plain refusals, as rrr counts them
                scores["mixed:" + key.removeprefix("refusal:")] = {"value": float(value == 1 and complies),
                                                                  "answer": None, "explanation": None, "metadata": None}
                value = float(value == 1 and not complies)
            if value is not None:
                scores[key] = {"value": value, "answer": None, "explanation": None, "metadata": None}
    meta = {k: rec[k] for k in ("category", "set") if k in rec} | {"seed": seed}
    response = str(rec.get("response") or "")
    return {
        "id": rec["id"], "epoch": epoch, "input": str(rec.get("prompt") or ""), "target": "",
        "messages": [{"role": "user", "content": str(rec.get("prompt") or "")},
                     {"role": "assistant", "content": response}],
        "output": {"model": model_name, "choices": [{"message": {"role": "assistant", "content": response},
                                                     "stop_reason": "stop"}], "completion": response},
        "scores": scores, "metadata": meta,
    }  # fmt: skip


def _results(samples: list[dict]) -> dict:
    by_score: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        for name, sc in s["scores"].items():
            by_score[name].append(sc["value"])
    return {
        "total_samples": len(samples), "completed_samples": len(samples),
        "scores": [{"name": name, "scorer": name, "scored_samples": len(vals), "unscored_samples": len(samples) - len(vals),
                    "params": {}, "metrics": {"mean": {"name": "mean", "value": sum(vals) / len(vals), "params": {}}}}
                   for name, vals in sorted(by_score.items())],
    }  # fmt: skip


def eval_logs(artifact: str | Path, created: str | None = None) -> dict[str, dict]:
    """File name -> inspect eval log (a JSON-ready dict), one per model × attack × steps × prompt set."""
    artifact = Path(artifact)
    try:
        manifest = json.loads((artifact / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        manifest = {}
    manifest = manifest if isinstance(manifest, dict) else {}
    study = str(manifest.get("study") or artifact.name)
    git = manifest.get("git") if isinstance(manifest.get("git"), dict) else {}
    packages = manifest.get("packages") if isinstance(manifest.get("packages"), dict) else {}
    created = created or datetime.now(UTC).isoformat(timespec="seconds")
    logs = {}
    for (model, attack, steps, set_), rows in sorted(_cells(artifact).items()):
        seeds = sorted({seed for seed, _ in rows})
        model_name = f"rrs/{model}+{attack}@{steps}"
        samples = [_sample(rec, seed, seeds.index(seed) + 1, model_name) for seed, rec in rows]
        samples.sort(key=lambda s: (s["epoch"], s["id"]))
        ids = list(dict.fromkeys(s["id"] for s in samples))
        run = f"{study}-{model}-{attack}-steps{steps}-{set_}"
        logs[f"{_safe(run)}.json"] = {
            "version": LOG_VERSION, "status": "success",
            "eval": {
                "eval_id": _safe(run), "run_id": _safe(study), "created": created,
                "task": f"rrs/{study}/{set_}", "task_id": _safe(f"{study}-{set_}"), "task_version": 0,
                "dataset": {"name": f"{study}:{set_}", "samples": len(ids), "sample_ids": ids, "shuffled": False},
                "model": model_name, "model_args": {},
                "config": {"epochs": len(seeds)},
                "revision": ({"type": "git", "origin": "rrs", "commit": str(git.get("commit")),
                              "dirty": bool(git.get("dirty"))} if git.get("commit") else None),
                "packages": {str(k): str(v) for k, v in packages.items()},
                "metadata": {"rrs_study": study, "model": model, "attack": attack, "steps": steps, "set": set_,
                             "seeds": seeds, "spec_sha256": manifest.get("spec_sha256"),
                             "numerics_id": (manifest.get("numerics") or {}).get("id")
                             if isinstance(manifest.get("numerics"), dict) else None},
            },
            "plan": {"name": "plan", "steps": [{"solver": "rrs/stored-generations", "params": {}}]},
            "results": _results(samples),
            "stats": {"started_at": created, "completed_at": created},
            "samples": samples,
        }  # fmt: skip
    return logs


def export(artifact: str | Path, fmt: str, out: str | Path) -> list[Path]:
    """Write every log into `out` (a new or empty folder), all at once: a failure leaves no partial folder."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("exists and is not an empty folder: name a new one", where=str(out))
    logs = eval_logs(artifact)
    if out.exists():
        out.rmdir()  # empty: replaced by the staged folder in one rename
    with staged_dir(out) as tmp:
        for name, log in logs.items():
            write_text(tmp / name, dumps_json(log))
    return [out / name for name in logs]
