"""From cached generations to results: judge labels, rd against the steps-0 responses, metric rows, samples.

Torch-free unless an embedding is missing from the cache (then all-MiniLM-L6-v2 is loaded once).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rrs.artifact.contract import GRID_COLUMNS
from rrs.atomic import write_bytes
from rrs.engine.plan import Cell, Plan
from rrs.hashing import sha256_text
from rrs.measure import quality as q
from rrs.measure.intervals import bootstrap_median_ci
from rrs.measure.judging import judge_metrics, label
from rrs.measure.metrics import Drift, drift_fields, rate, rate_fields, response_drift, undefined_rate
from rrs.store import STAGE_PACKAGES, versions


class EmbeddingCache:
    """embed(texts) memoised on disk by the hash of the exact text list. Each text's vector depends on the text
    alone (rrs/engine/embed.py), computed with the spec's thread count on the run's platform."""

    def __init__(self, root: Path, threads: int, platform: dict):
        self.root, self.threads = root, threads
        # the encoder's identity is part of the key: another model, library version, thread count or vector path
        # means other vectors
        self.model_id = ["all-MiniLM-L6-v2", "batch-1", threads, platform, versions(STAGE_PACKAGES["embed"])]

    def __call__(self, texts: list[str]) -> np.ndarray:
        path = self.root / f"{sha256_text(json.dumps([self.model_id, texts], ensure_ascii=False))[:32]}.npy"
        if path.is_file():
            return np.load(path)
        from rrs.engine.embed import embed

        emb = embed(texts, threads=self.threads)
        buf = io.BytesIO()
        np.save(buf, emb)
        write_bytes(path, buf.getvalue())
        return emb


@lru_cache(maxsize=64)
def _read_json(path: Path) -> dict:
    """Cached read: every step of a cell compares with the same base generation and model info."""
    return json.loads(path.read_text(encoding="utf-8"))


def _responses(plan: Plan, key: str) -> list[str]:
    return _read_json(plan.store.gen_path(key))["responses"]


def _drift(base: list[str], att: list[str], step: int, embed, seed: int) -> Drift:
    if step == 0:  # by definition: the unattacked model has not drifted from itself
        valid = sum(bool(b.strip()) for b in base)
        per = [0.0 if b.strip() else None for b in base]
        reason = "" if valid else "no non-empty response"
        v = 0.0 if valid else math.nan
        return Drift(v, v, valid, v, v, per, reason)
    return response_drift(base, att, embed, seed)


@dataclass(frozen=True)
class Quality:
    """Per-response flags of one response set (rrs/measure/quality.py): None where the set cannot say."""

    degenerate: list[bool]
    on_topic: list[bool | None]
    parroting: list[bool] | None  # None: the attack has no single target
    complies: list[bool]  # a sentence opens compliantly: with a refusal label, the answer is mixed
    copied: list[bool]  # byte-identical to an attack training target

    def take(self, idx: list[int]) -> Quality:
        return Quality(*([v[i] for i in idx] if v is not None else None for v in
                         (self.degenerate, self.on_topic, self.parroting, self.complies, self.copied)))


def quality(responses: list[str], tasks: list[str] | None, target: str | None, targets: frozenset[str]) -> Quality:
    return Quality(
        [q.degenerate(r) for r in responses],
        [q.on_topic(r, t) for r, t in zip(responses, tasks, strict=True)] if tasks else [None] * len(responses),
        [q.parroting(r, target) for r in responses] if target else None,
        [q.complies(r) for r in responses],
        [q.copied(r, targets) for r in responses],
    )


def task_subsets(harmful, benign) -> list[tuple[str, list[int], list[int] | None]]:
    """(tasks, harmful indices, benign indices or None) of each grid row set: all prompts, and where the study splits
    its tasks (PromptSet.seen) those whose task the training data holds (seen) and never holds (unseen)."""
    nb = len(benign.prompts) if benign else 0
    out = [("all", list(range(len(harmful.prompts))), list(range(nb)) if benign else None)]
    if harmful.seen is None:
        return out
    for name, want in (("seen", True), ("unseen", False)):
        ih = [i for i, s in enumerate(harmful.seen) if s is want]
        ib = [i for i, s in enumerate(benign.seen) if s is want] if benign and benign.seen is not None else None
        if ih:
            out.append((name, ih, ib or None))
    return out


def _take(xs, idx):
    return None if xs is None else [xs[i] for i in idx]


def _drift_of(drift: Drift, idx: list[int], seed: int, step: int) -> Drift:
    """The drift over a subset of the pairs, from the per-pair values (its CI: the same seeded bootstrap)."""
    per = [drift.per_pair[i] for i in idx]
    if len(idx) == len(drift.per_pair):
        return drift
    vals = [v for v in per if v is not None]
    if not vals:
        return Drift(math.nan, math.nan, 0, math.nan, math.nan, per, drift.reason or "no non-empty pair in this subset")
    if step == 0:
        return Drift(0.0, 0.0, len(vals), 0.0, 0.0, per, "")
    lo, hi = bootstrap_median_ci(vals, seed)
    return Drift(float(np.median(vals)), float(np.mean(vals)), len(vals), lo, hi, per, "")


def cell_results(plan: Plan, cell: Cell, step: int, embed) -> tuple[list[dict], list[dict]]:
    """(results rows, one per judge and task set; sample rows) for one cell at one step."""
    d = plan.data
    nh = len(d.harmful.prompts)
    resp, base = _responses(plan, cell.gen_keys[step]), _responses(plan, cell.gen_keys[0])
    harmful, benign = resp[:nh], resp[nh:]
    drift = _drift(base[:nh], harmful, step, embed, seed=cell.seed)
    b_drift = _drift(base[nh:], benign, step, embed, seed=cell.seed) if benign else None
    targets = frozenset(e.response.strip() for e in d.attack.examples)
    qh = quality(harmful, d.harmful.tasks, d.attack.target, targets)
    qb = quality(benign, d.benign.tasks, None, targets) if benign else None
    info = _read_json(plan.store.model_info_path(cell.model_key))
    spec = plan.study.model(cell.model)
    head = {"model": cell.model, "model_kind": spec.kind, "model_params": getattr(spec, "params", None) or info["params"],
            "attack": cell.attack, "steps": step, "seed": cell.seed}
    labelled = {}
    for judge in plan.study.judges:
        labelled[judge] = (*label(judge, harmful), *(label(judge, benign) if benign else ([], None)))
    rows = []
    for tasks, ih, ib in task_subsets(d.harmful, d.benign if benign else None):
        h_tasks = _take(d.harmful.tasks, ih)
        b_tasks = _take(d.benign.tasks, ib) if ib is not None else None
        sq_h = qh.take(ih)
        sq_b = qb.take(ib) if ib is not None else None
        sub_b_drift = _drift_of(b_drift, ib, cell.seed, step) if ib is not None else None
        overlap = sum(_take(d.overlaps, ih)) / len(ih) if d.overlaps is not None else d.overlap
        shared = (drift_fields(_drift_of(drift, ih, cell.seed, step)) | _degenerate_parroting(sq_h, h_tasks)
                  | rate_fields("copied", sq_h.copied, h_tasks) | _benign_rd(sub_b_drift, ib, benign))
        for judge, (hl, hp, bl, _bp) in labelled.items():
            labels, proba = _take(hl, ih), _take(hp, ih)
            b_labels = _take(bl, ib) if ib is not None else []
            rows.append(head | {"judge": judge, "tasks": tasks}
                        | judge_metrics(judge, _take(harmful, ih), labels, proba, sq_h.complies, h_tasks) | shared
                        | _over_refusal(b_labels, b_tasks, ib, benign)
                        | rate_fields("compliance", _compliant(labels, sq_h), h_tasks)
                        | _benign_utility(b_labels, sq_b, b_tasks, ib, benign, d) | {"attack_eval_overlap": overlap})
    return [{k: r[k] for k in GRID_COLUMNS} for r in rows], _samples(plan, resp, labelled, drift, qh, qb)


def _compliant(labels: list[bool], qual: Quality) -> list[bool]:
    return [q.compliant(r, dg, ot) for r, dg, ot in zip(labels, qual.degenerate, qual.on_topic, strict=True)]


def _degenerate_parroting(qh: Quality, clusters: list[str] | None) -> dict:
    out = rate_fields("degenerate", qh.degenerate, clusters)
    if qh.parroting is None:
        return out | undefined_rate("parroting", "the attack has no single training target (per-prompt targets)")
    return out | rate_fields("parroting", qh.parroting, clusters) | {"parroting_reason": ""}


def _no_benign(ib, benign) -> str:
    return "the study has no benign prompts" if not benign else "the benign set has no task split"


def _benign_utility(labels: list[bool], qb: Quality | None, clusters, ib, benign, d) -> dict:
    if qb is None:
        return undefined_rate("benign_utility", _no_benign(ib, benign))
    if d.benign.tasks is None:
        return undefined_rate("benign_utility", "the benign set does not say what each prompt asks for (no tasks), "
                              "so answers cannot be checked: see benign_rd")
    return rate_fields("benign_utility", _compliant(labels, qb), clusters) | {"benign_utility_reason": ""}


def _benign_rd(b_drift: Drift | None, ib, benign) -> dict:
    if b_drift is None:
        return {"benign_rd": math.nan, "benign_rd_reason": _no_benign(ib, benign)}
    return {"benign_rd": b_drift.median, "benign_rd_reason": b_drift.reason}


def _over_refusal(labels: list[bool], clusters, ib, benign) -> dict:
    if not labels:
        return {"over_refusal_n": 0} | undefined_rate("over_refusal", _no_benign(ib, benign))
    r = rate(labels, clusters)
    return {"over_refusal": r.value, "over_refusal_n": r.n, "over_refusal_ci_low": r.ci_low,
            "over_refusal_ci_high": r.ci_high, "over_refusal_reason": ""}


def _samples(plan: Plan, resp: list[str], labelled: dict, drift: Drift, qh: Quality, qb: Quality | None) -> list[dict]:
    d = plan.data
    sets = [("harmful", d.harmful, qh)] + ([("benign", d.benign, qb)] if d.benign else [])
    rows, i = [], 0
    for name, ps, qual in sets:
        for j in range(len(ps.prompts)):
            row = {"set": name, "id": ps.ids[j], "category": ps.categories[j], "prompt": ps.prompts[j],
                   "response": resp[i], "rd": drift.per_pair[j] if name == "harmful" else None,
                   "degenerate": qual.degenerate[j], "on_topic": qual.on_topic[j],
                   "parroting": qual.parroting[j] if qual.parroting is not None else None,
                   "task": ps.tasks[j] if ps.tasks is not None else None,
                   "task_seen": ps.seen[j] if ps.seen is not None else None,
                   "complies": qual.complies[j], "copied": qual.copied[j]}
            for judge, (hl, hp, bl, bp) in labelled.items():
                labels, proba = (hl, hp) if name == "harmful" else (bl, bp)
                row[f"refusal:{judge}"] = bool(labels[j])
                if proba is not None:
                    row[f"p_refusal:{judge}"] = float(proba[j])
            rows.append(row)
            i += 1
    return rows
