"""results.json: a study's aggregates in one JSON file beside the results grid, for tools that read JSON (in the manner
of lm-eval's results file): per model × attack × steps × judge × task set the mean over seeds of every metric with its 95% CI,
whether a higher value of each metric is better (rrs/artifact/metrics.py), the robustness (s50, auc) and scaling fits, the digest of the resolved spec and the run's provenance.

It is derived from the files of the result directory alone (the grid, robustness.csv, scaling.csv,
spec.resolved.yaml, manifest.json): the runner writes it in its finishing step and `rrs check` validates it against
rrs/data/results.schema.json and rebuilds it to compare. Torch-free. Numbers carry the grid's 6 significant digits;
an undefined value is null with its reason.

Beside the aggregates, the same means in lm-evaluation-harness's layout, one "task" per cell
(`<model>/<attack>/steps<k>/<judge>/<tasks>`): `results[cell]` = {"alias": cell, "<metric>,none": mean over seeds,
"<metric>_stderr,none": its standard error (sample SD / sqrt(seeds); "N/A" for one seed or an undefined value)};
`configs[cell]` = what lm-eval's task config says (output_type generate_until, num_fewshot 0, the spec's decoding as
generation_kwargs, metric_list with aggregation "mean" over seeds and higher_is_better, repeats = seeds) plus the
cell's model, attack, steps, judge and task set; `versions[cell]` = SCHEMA_VERSION; `n-samples[cell]` = {"original",
"effective"}: the harmful prompts of one seed. A metric undefined for every seed is left out of `results`, as lm-eval
leaves out what it did not compute.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rrs.artifact.contract import GRID
from rrs.artifact.metrics import higher_is_better
from rrs.measure.intervals import mean_ci

SCHEMA_VERSION = 4  # 2: higher_is_better per metric; 3: aggregates per task set (tasks), mixed and copied;
# 4: lm-evaluation-harness's results/configs/versions/n-samples layout per cell
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "results.schema.json"
KEYS = ("model", "attack", "steps", "judge", "tasks")
METRICS = tuple(higher_is_better())  # the grid columns averaged over seeds, from the metrics table


def _num(x: Any) -> float | None:
    """A finite number at 6 significant digits (as the CSVs write them), else None."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _reason(part: pd.DataFrame, metric: str) -> str | None:
    col = f"{metric}_reason"
    if col not in part:
        return None
    found = [str(r) for r in part[col] if isinstance(r, str) and r]
    return found[0] if found else None


def _metric(part: pd.DataFrame, metric: str) -> dict:
    mean, low, high, n = mean_ci(part[metric])
    out: dict[str, Any] = {"mean": _num(mean), "ci_low": _num(low), "ci_high": _num(high), "n_seeds": n}
    if n >= 2:
        out["ci"] = "95% Student-t over seeds"
    elif n == 1 and f"{metric}_ci_low" in part:
        row = part[part[metric].notna()].iloc[0]
        out |= {"ci_low": _num(row[f"{metric}_ci_low"]), "ci_high": _num(row[f"{metric}_ci_high"]),
                "ci": "95% CI of the one seed's row (Wilson for a rate, bootstrap for a drift)"}
    else:
        out |= {"ci_low": None, "ci_high": None, "ci": None}
    if out["mean"] is None:
        out["reason"] = _reason(part, metric) or "undefined for every seed"
    return out


def aggregates(grid: pd.DataFrame) -> list[dict]:
    rows = []
    for key, part in grid.groupby(list(KEYS), sort=False):
        head = dict(zip(KEYS, key, strict=True))
        rows.append({**head, "steps": int(head["steps"]), "model_params": int(part["model_params"].iloc[0]),
                     "seeds": sorted(int(s) for s in part["seed"].unique()), "n": int(part["n"].iloc[0]),
                     "metrics": {m: _metric(part, m) for m in METRICS if m in part}})
    return rows


def _records(table: pd.DataFrame) -> list[dict]:
    out = []
    for rec in table.to_dict(orient="records"):
        out.append({k: (v if isinstance(v, str) else _num(v) if isinstance(v, float) else int(v))
                    for k, v in rec.items()})
    return out


def cell_name(model: str, attack: str, steps: int, judge: str, tasks: str) -> str:
    return f"{model}/{attack}/steps{int(steps)}/{judge}/{tasks}"


def _stderr(values: pd.Series) -> float | str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    se = _num(float(v.std(ddof=1)) / math.sqrt(len(v))) if len(v) >= 2 else None
    return "N/A" if se is None else se


def lm_eval_layout(grid: pd.DataFrame, decoding: dict) -> dict:
    """{"results", "configs", "versions", "n-samples"} keyed by cell name (the module docstring)."""
    better = higher_is_better()
    results, configs, versions, n_samples = {}, {}, {}, {}
    for key, part in grid.groupby(list(KEYS), sort=False):
        head = dict(zip(KEYS, key, strict=True))
        name = cell_name(head["model"], head["attack"], head["steps"], head["judge"], head["tasks"])
        row: dict[str, Any] = {"alias": name}
        for m in METRICS:
            if m not in part:
                continue
            mean = _num(pd.to_numeric(part[m], errors="coerce").mean())
            if mean is None:
                continue
            row[f"{m},none"] = mean
            row[f"{m}_stderr,none"] = _stderr(part[m])
        results[name] = row
        seeds = sorted(int(x) for x in part["seed"].unique())
        configs[name] = {
            "task": name, "model": head["model"], "attack": head["attack"], "steps": int(head["steps"]),
            "judge": head["judge"], "tasks": head["tasks"], "output_type": "generate_until", "num_fewshot": 0,
            "generation_kwargs": decoding, "repeats": len(seeds), "metadata": {"seeds": seeds},
            "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": better[m]}
                            for m in METRICS if m in part],
        }  # fmt: skip
        versions[name] = SCHEMA_VERSION
        n = int(part["n"].iloc[0])
        n_samples[name] = {"original": n, "effective": n}
    return {"results": results, "configs": configs, "versions": versions, "n-samples": n_samples}


def provenance(manifest: dict) -> dict:
    numerics = manifest.get("numerics") or {}
    return {"rrs_version": manifest.get("rrs_version"), "git": manifest.get("git"),
            "spec_path": manifest.get("spec_path"), "spec_sha256": manifest.get("spec_sha256"),
            "numerics_id": numerics.get("id"), "device": (manifest.get("device") or {}).get("kind"),
            "seeds": manifest.get("seeds"), "data": manifest.get("data"), "manifest": "manifest.json"}


def build(result_dir: str | Path) -> dict:
    """results.json of a result directory, from its files (see the module docstring)."""
    import yaml

    from rrs.artifact.scaling_schema import read_table
    from rrs.artifact.schemas import read_grid

    d = Path(result_dir)
    grid = read_grid(d / GRID)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    spec_text = (d / "spec.resolved.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(spec_text) or {}
    decoding = spec.get("decoding") if isinstance(spec, dict) and isinstance(spec.get("decoding"), dict) else {}
    digest = hashlib.sha256
    return {
        "schema_version": SCHEMA_VERSION,
        "study": manifest.get("study"),
        "spec": {"path": "spec.resolved.yaml", "sha256": digest((d / "spec.resolved.yaml").read_bytes()).hexdigest()},
        "results_grid": {"path": GRID, "rows": len(grid), "sha256": digest((d / GRID).read_bytes()).hexdigest()},
        "provenance": provenance(manifest),
        "higher_is_better": {m: better for m, better in higher_is_better().items() if m in grid},
        "aggregates": aggregates(grid),
        "robustness": _records(read_table(d / "robustness.csv")),
        "scaling": _records(read_table(d / "scaling.csv")),
    } | lm_eval_layout(grid, decoding)


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
