"""The verdict of `rrs check --json`: one JSON object for scripts and CI, built from the same CheckReports as the
tables and the markdown report. NaN (an undefined value) becomes null."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from rrs.checks.report import CheckReport

VERDICT_VERSION = 1


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _one(r: CheckReport) -> dict:
    refs = [r_ for r_ in r.references if r_.comparable]
    return _clean({
        "study": r.study,
        "result_dir": r.result_dir,
        "ok": r.ok,
        "summary": r.summary(),
        "notes": list(r.notes),
        "counts": {"failures": len(r.failures), "claims_ok": sum(c.ok for c in r.claims), "claims": len(r.claims),
                   "references_ok": sum(x.ok for x in refs), "references": len(refs),
                   "figures_ok": sum(f.ok for f in r.figures), "figures": len(r.figures)},
        "claims": [dataclasses.asdict(c) for c in r.claims],
        "references": [dataclasses.asdict(x) | {"delta": x.delta} for x in r.references],
        "failures": [dataclasses.asdict(f) for f in r.failures],
        "figures": [dataclasses.asdict(f) for f in r.figures],
        "fresh": None if r.fresh is None else _one(r.fresh) | {
            "compare_mode": r.compare_mode, "compare_rule": r.compare_rule,
            "comparison": [dataclasses.asdict(f) for f in r.comparison]},
        "seconds": round(r.seconds, 3),
    })


def verdict(reports: list[CheckReport], report_path: Path, notes: list[str] | None = None) -> dict:
    return {"verdict_version": VERDICT_VERSION, "ok": all(r.ok for r in reports), "report": str(report_path),
            "notes": list(notes or []), "studies": [_one(r) for r in reports]}
