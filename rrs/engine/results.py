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


def quality(responses: list[str], tasks: list[str] | None, target: str | None) -> Quality:
    return Quality(
        [q.degenerate(r) for r in responses],
        [q.on_topic(r, t) for r, t in zip(responses, tasks, strict=True)] if tasks else [None] * len(responses),
        [q.parroting(r, target) for r in responses] if target else None,
    )


def cell_results(plan: Plan, cell: Cell, step: int, embed) -> tuple[list[dict], list[dict]]:
    """(results rows, one per judge; sample rows) for one cell at one step."""
    d = plan.data
    nh = len(d.harmful.prompts)
    resp, base = _responses(plan, cell.gen_keys[step]), _responses(plan, cell.gen_keys[0])
    harmful, benign = resp[:nh], resp[nh:]
    drift = _drift(base[:nh], harmful, step, embed, seed=cell.seed)
    b_drift = _drift(base[nh:], benign, step, embed, seed=cell.seed) if benign else None
    qh = quality(harmful, d.harmful.tasks, d.attack.target)
    qb = quality(benign, d.benign.tasks, None) if benign else None
    info = _read_json(plan.store.model_info_path(cell.model_key))
    spec = plan.study.model(cell.model)
    head = {"model": cell.model, "model_kind": spec.kind, "model_params": getattr(spec, "params", None) or info["params"],
            "attack": cell.attack, "steps": step, "seed": cell.seed}
    shared = drift_fields(drift) | _degenerate_parroting(qh) | _benign_rd(b_drift, d)
    rows, labelled = [], {}
    for judge in plan.study.judges:
        labels, proba = label(judge, harmful)
        labelled[judge] = (labels, proba, *(label(judge, benign) if benign else ([], None)))
        rows.append(head | judge_metrics(judge, harmful, labels, proba) | shared
                    | _over_refusal(labelled[judge][2]) | rate_fields("compliance", _compliant(labels, qh))
                    | _benign_utility(labelled[judge][2], qb, d) | {"attack_eval_overlap": d.overlap})
    return [{k: r[k] for k in GRID_COLUMNS} for r in rows], _samples(plan, resp, labelled, drift, qh, qb)


def _compliant(labels: list[bool], qual: Quality) -> list[bool]:
    return [q.compliant(r, dg, ot) for r, dg, ot in zip(labels, qual.degenerate, qual.on_topic, strict=True)]


def _degenerate_parroting(qh: Quality) -> dict:
    out = rate_fields("degenerate", qh.degenerate)
    if qh.parroting is None:
        return out | undefined_rate("parroting", "the attack has no single training target (per-prompt targets)")
    return out | rate_fields("parroting", qh.parroting) | {"parroting_reason": ""}


def _benign_utility(labels: list[bool], qb: Quality | None, d) -> dict:
    if qb is None:
        return undefined_rate("benign_utility", "the study has no benign prompts")
    if d.benign.tasks is None:
        return undefined_rate("benign_utility", "the benign set does not say what each prompt asks for (no tasks), "
                              "so answers cannot be checked: see benign_rd")
    return rate_fields("benign_utility", _compliant(labels, qb)) | {"benign_utility_reason": ""}


def _benign_rd(b_drift: Drift | None, d) -> dict:
    if b_drift is None:
        return {"benign_rd": math.nan, "benign_rd_reason": "the study has no benign prompts"}
    return {"benign_rd": b_drift.median, "benign_rd_reason": b_drift.reason}


def _over_refusal(labels: list[bool]) -> dict:
    if not labels:
        return {"over_refusal_n": 0} | undefined_rate("over_refusal", "the study has no benign prompts")
    r = rate(labels)
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
                   "parroting": qual.parroting[j] if qual.parroting is not None else None}
            for judge, (hl, hp, bl, bp) in labelled.items():
                labels, proba = (hl, hp) if name == "harmful" else (bl, bp)
                row[f"refusal:{judge}"] = bool(labels[j])
                if proba is not None:
                    row[f"p_refusal:{judge}"] = float(proba[j])
            rows.append(row)
            i += 1
    return rows

