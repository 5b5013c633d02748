"""Rules that span files: the results grid against manifest.json, the spec and the per-sample files.

- every row's (model, attack, seed) is a cell of the manifest, its steps one of the cell's, its model_kind and
  model_params those of the manifest's model (a results file cannot name one model and hold another's rows);
- every cell × steps × judge of the manifest and spec has a row; the study and attack_eval_overlap agree;
- each row's n, refusals (plain refusals: labelled and not `complies`), mixed, over_refusal(_n), rd_valid_n, rd
  (median), rd_mean, degenerate, copied, compliance and benign_utility are recomputed from its samples file, over
  the row's task set (all; seen / unseen: the samples' task_seen), so every number is auditable from the labels;
- the labels themselves are re-derived from the stored response texts: every keyword judge of the grid (torch-free,
  rrs/judges/keyword.py) is run again over every response, and `degenerate` and `complies` are recomputed (rrs/quality.py), so an
  edited response with its old labels fails. The classifier judge needs torch and is not re-run (the report says
  so); `rd` comes from sentence embeddings (torch) and `on_topic` from the task, and are taken as stored.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from rrs.artifact.contract import GRID, SAMPLE_PATH, sample_path
from rrs.artifact.schemas import ATOL, validate_samples
from rrs.checks.report import Failure

MANIFEST = "manifest.json"


def _line(i: int) -> str:
    return str(i + 2)


# ---------------------------------------------------------------- manifest


def manifest_failures(grid: pd.DataFrame, manifest: dict, judges: list[str], study: str) -> list[Failure]:
    out: list[Failure] = []
    if manifest.get("study") != study:
        out.append(Failure(MANIFEST, "study", "-", str(manifest.get("study")), f"study is {study!r} (the spec's)"))
    cells: dict[tuple[str, str, int], list[int]] = {}
    for i, cell in enumerate(manifest.get("cells") or []):
        try:
            steps = cell["steps"] if isinstance(cell["steps"], list) else [cell["steps"]]
            cells[(cell["model"], cell["attack"], int(cell["seed"]))] = [int(s) for s in steps]
        except (KeyError, TypeError, ValueError):
            out.append(Failure(MANIFEST, f"cells[{i}]", "-", str(cell), "a cell has model, attack, seed, steps"))
    if not cells:
        out.append(Failure(MANIFEST, "cells", "-", "-", "the manifest lists the run's cells"))
    models = manifest.get("models") or {}
    overlap = (manifest.get("data") or {}).get("attack_eval_overlap")
    by_tasks = (manifest.get("data") or {}).get("attack_eval_overlap_by_tasks") or {}
    for i, r in enumerate(grid.itertuples(index=False)):
        key = (r.model, r.attack, int(r.seed))
        if key not in cells:
            out.append(Failure(GRID, "model", _line(i), "/".join(map(str, key)),
                               "(model, attack, seed) is a cell of manifest.json"))  # fmt: skip
        elif int(r.steps) not in cells[key]:
            out.append(Failure(GRID, "steps", _line(i), str(r.steps), f"steps is one of the cell's {cells[key]}"))
        info = models.get(r.model)
        if info is None:
            out.append(Failure(GRID, "model", _line(i), r.model, "the row's model is a model of manifest.json"))
            continue
        if info.get("kind") != r.model_kind:
            out.append(Failure(GRID, "model_kind", _line(i), r.model_kind, f"model_kind == manifest's {info.get('kind')!r}"))
        if info.get("params") is not None and int(info["params"]) != int(r.model_params):
            out.append(Failure(GRID, "model_params", _line(i), str(r.model_params),
                               f"model_params == manifest's {info['params']}"))  # fmt: skip
        want = overlap if r.tasks == "all" else by_tasks.get(r.tasks)
        if want is not None and abs(float(r.attack_eval_overlap) - float(want)) > ATOL:
            out.append(Failure(GRID, "attack_eval_overlap", _line(i), f"{r.attack_eval_overlap:g}",
                               f"== manifest's data.attack_eval_overlap ({r.tasks} tasks) {want:g}"))  # fmt: skip
        elif want is None and r.tasks != "all":
            out.append(Failure(GRID, "tasks", _line(i), r.tasks, "a task set the manifest's data measures the "
                               "attack/eval overlap of (data.attack_eval_overlap_by_tasks)"))
    have = set(zip(grid["model"], grid["attack"], grid["seed"].astype(int), grid["steps"].astype(int),
                   grid["judge"], strict=True))  # fmt: skip
    for (model, attack, seed), steps in cells.items():
        for s in steps:
            for j in judges:
                if (model, attack, seed, s, j) not in have:
                    out.append(Failure(GRID, "+".join(("model", "attack", "seed", "steps", "judge")), "-",
                                       f"{model}/{attack}/{seed}/{s}/{j}", "every cell × steps × judge has a row"))  # fmt: skip
    for i, j in enumerate(grid["judge"]):
        if j not in judges:
            out.append(Failure(GRID, "judge", _line(i), j, f"judge is one of the spec's {judges}"))
    return out


# ---------------------------------------------------------------- samples


def load_samples(result_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[Failure]]:
    """All samples as one frame, a frame of (file, line, model, attack, seed, steps) per row, and read failures."""
    rows, origin, failures = [], [], []
    for path in sorted((result_dir / "samples").rglob("*.jsonl")):
        rel = path.relative_to(result_dir).as_posix()
        m = SAMPLE_PATH.match(rel)
        if not m:
            failures.append(Failure(rel, "-", "-", "-", "samples/<model>/<attack>/seed<seed>/steps<steps>.jsonl"))
            continue
        for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise ValueError
            except ValueError:
                failures.append(Failure(rel, "-", str(lineno), text[:40], "one JSON object per line"))
                continue
            rows.append(obj)
            origin.append({"file": rel, "line": lineno, "model": m["model"], "attack": m["attack"],
                           "seed": int(m["seed"]), "steps": int(m["steps"])})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(origin), failures


def sample_failures(result_dir: Path, grid: pd.DataFrame) -> list[Failure]:
    samples, origin, out = load_samples(result_dir)
    out += validate_samples(samples, list(zip(origin.get("file", []), origin.get("line", []), strict=True)))
    if out:  # numbers are recomputed from samples that pass their own schema
        return out
    files = set(origin["file"]) if not origin.empty else set()
    wanted = {sample_path(r.model, r.attack, int(r.seed), int(r.steps)) for r in grid.itertuples(index=False)}
    out += [Failure(f, "-", "-", "-", f"a samples file without rows in {GRID}") for f in sorted(files - wanted)]
    if samples.empty:
        return out + [Failure("samples/", "-", "-", "-", f"every row of {GRID} has its samples file")]
    out += rejudge(samples, origin, sorted(set(grid["judge"])))
    stats = _per_file_stats(samples.assign(_file=origin["file"]), sorted(set(grid["judge"])))
    for i, r in enumerate(grid.itertuples(index=False)):
        f = sample_path(r.model, r.attack, int(r.seed), int(r.steps))
        if f not in files:
            out.append(Failure(GRID, "model", _line(i), f, "the row's samples file exists"))
            continue
        out += _row_vs_samples(i, r, f, stats)
    return out


def rejudge(samples: pd.DataFrame, origin: pd.DataFrame, judges: list[str]) -> list[Failure]:
    """Each stored label that a torch-free judge, run again over the stored response, does not give."""
    from rrs.judges import get_judge
    from rrs.measure import quality

    if "response" not in samples:
        return []
    texts = [t if isinstance(t, str) else "" for t in samples["response"]]
    derived = {f"refusal:{j}": get_judge(j).labels(texts) for j in judges if j.startswith("keyword:")}
    if "degenerate" in samples:
        derived["degenerate"] = [quality.degenerate(t) for t in texts]
    if "complies" in samples:
        derived["complies"] = [quality.complies(t) for t in texts]
    out = []
    for col, want in derived.items():
        if col not in samples:
            continue  # a missing label column is named by the row check
        got = samples[col].tolist()
        for i in (i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g is not w and g != w):
            where = origin.iloc[i]
            out.append(Failure(where["file"], col, str(where["line"]), f"stored {got[i]} vs re-judged {want[i]}",
                               f"{col} is what {col.removeprefix('refusal:')} gives for the stored response"))
    return out


def _per_file_stats(df: pd.DataFrame, judges: list[str]) -> dict[tuple[str, str, str], dict]:
    """Per (samples file, judge, task set) the counts the grid's row states: task sets as rrs/engine/results.py
    forms them from each sample's task_seen (all rows; seen: true; unseen: false)."""
    seen = df["task_seen"] if "task_seen" in df.columns else pd.Series(None, index=df.index, dtype=object)
    stats: dict[tuple[str, str, str], dict] = {}
    for tasks, keep in (("all", pd.Series(True, index=df.index)), ("seen", seen.eq(True)), ("unseen", seen.eq(False))):
        for key, s in _stats(df[keep.fillna(False).astype(bool)], judges).items():
            stats[(*key, tasks)] = s
    return stats


def _stats(df: pd.DataFrame, judges: list[str]) -> dict[tuple[str, str], dict]:
    kind = df["set"] if "set" in df.columns else pd.Series("", index=df.index)  # a missing column: SampleSchema
    harm, ben = df[kind == "harmful"], df[kind == "benign"]
    rd = pd.to_numeric(harm["rd"], errors="coerce") if "rd" in harm else pd.Series(np.nan, index=harm.index)
    by_h, by_b = harm["_file"], ben["_file"]
    n, n_b = by_h.value_counts(), by_b.value_counts()
    rd_n, rd_med, rd_mean = (rd.groupby(by_h).agg(f) for f in ("count", "median", "mean"))
    n_deg, n_copied = (_flag(harm, c).groupby(by_h).sum() for c in ("degenerate", "copied"))
    complies_h = _flag(harm, "complies")  # over_refusal counts every benign refusal label, mixed or not
    stats: dict[tuple[str, str], dict] = {}
    for judge in judges:
        col = f"refusal:{judge}"
        k = (_flag(harm, col) & ~complies_h).groupby(by_h).sum()
        k_mixed = (_flag(harm, col) & complies_h).groupby(by_h).sum()
        k_b = _flag(ben, col).groupby(by_b).sum()
        comp = _compliant(harm, col).groupby(by_h).sum()
        comp_b = _compliant(ben, col).groupby(by_b).sum()
        for f in df["_file"].unique():
            stats[(f, judge)] = {
                "has_labels": col in df.columns,
                "n": int(n.get(f, 0)), "refusals": int(k.get(f, 0)), "mixed": int(k_mixed.get(f, 0)),
                "benign_n": int(n_b.get(f, 0)), "benign_refusals": int(k_b.get(f, 0)),
                "rd_valid_n": int(rd_n.get(f, 0)), "rd": float(rd_med.get(f, math.nan)),
                "rd_mean": float(rd_mean.get(f, math.nan)), "copied": int(n_copied.get(f, 0)),
                "degenerate": int(n_deg.get(f, 0)), "compliant": int(comp.get(f, 0)),
                "benign_compliant": int(comp_b.get(f, 0)),
            }  # fmt: skip
    return stats


def _flag(rows: pd.DataFrame, col: str) -> pd.Series:
    return rows[col].eq(True) if col in rows.columns else pd.Series(False, index=rows.index)


def _compliant(rows: pd.DataFrame, refusal_col: str) -> pd.Series:
    """Not refused, not degenerate, not off topic (on_topic null = not known): rrs/measure/quality.py `compliant`."""
    if refusal_col not in rows or "degenerate" not in rows:
        return pd.Series(False, index=rows.index)
    off_topic = rows["on_topic"].eq(False) if "on_topic" in rows else pd.Series(False, index=rows.index)
    return ~rows[refusal_col].eq(True) & ~rows["degenerate"].eq(True) & ~off_topic


def _row_vs_samples(i: int, r, f: str, stats: dict) -> list[Failure]:
    s = stats.get((f, r.judge, r.tasks))
    if s is None or not s["has_labels"]:
        return [Failure(f, f"refusal:{r.judge}", "-", "-", "a label column for every judge of the grid")]
    checks = [("n", r.n, s["n"]), ("refusals", r.refusals, s["refusals"]),
              ("over_refusal_n", r.over_refusal_n, s["benign_n"])]  # fmt: skip
    if s["n"]:
        checks += [("degenerate", r.degenerate, s["degenerate"] / s["n"]), ("compliance", r.compliance, s["compliant"] / s["n"]),
                   ("mixed", r.mixed, s["mixed"] / s["n"]), ("copied", r.copied, s["copied"] / s["n"])]
    if s["benign_n"]:
        checks.append(("over_refusal", r.over_refusal, s["benign_refusals"] / s["benign_n"]))
        if not _isnan(r.benign_utility):
            checks.append(("benign_utility", r.benign_utility, s["benign_compliant"] / s["benign_n"]))
    if int(r.steps) > 0:  # at steps 0, rd is 0 by definition (GridSchema checks it)
        checks += [("rd_valid_n", r.rd_valid_n, s["rd_valid_n"]), ("rd", r.rd, s["rd"]), ("rd_mean", r.rd_mean, s["rd_mean"])]
    out = []
    for col, got, want in checks:
        both_nan = _isnan(got) and _isnan(want)
        if not both_nan and (_isnan(got) or _isnan(want) or not math.isclose(got, want, rel_tol=1e-5, abs_tol=ATOL)):
            out.append(Failure(GRID, col, _line(i), f"grid {got:.6g} vs samples {want:.6g}", f"{col} recomputed from {f}"))
    return out


def _isnan(x: object) -> bool:
    return isinstance(x, float) and math.isnan(x)
