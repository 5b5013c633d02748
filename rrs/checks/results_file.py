"""results.json (rrs/results_json.py) in a result directory: valid against rrs/data/results.schema.json, and equal to
its rebuild from the directory's own files (so it cannot disagree with the results grid or the manifest)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rrs.artifact.contract import GRID
from rrs.checks.report import Failure
from rrs.errors import UserError

NAME = "results.json"
REL_TOL = 1e-5  # numbers are written at 6 significant digits


def missing_note(result_dir: Path) -> str | None:
    if (result_dir / NAME).is_file():
        return None
    return (f"{NAME} missing: the run predates it; republish (rrs run, then rrs publish) to add it, or build it "
            "with rrs.results_json.build")


def failures(result_dir: Path) -> list[Failure]:
    import jsonschema

    from rrs import results_json

    path = result_dir / NAME
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return [Failure(NAME, "-", "-", "-", f"valid JSON ({exc})")]
    validator = jsonschema.Draft202012Validator(results_json.schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        return [Failure(NAME, e.json_path, "-", _short(e.instance), f"results.schema.json: {e.message[:160]}")
                for e in errors[:20]]
    try:
        rebuilt = results_json.build(result_dir)
    except (OSError, ValueError, KeyError, UserError) as exc:
        return [Failure(NAME, "-", "-", "-", f"rebuildable from the directory's files ({exc})")]
    where = _first_difference(data, rebuilt, "$")
    if where is None:
        return []
    path_, got, want = where
    return [Failure(NAME, path_, "-", f"{_short(got)} vs rebuilt {_short(want)}",
                    f"equal to its rebuild from {GRID}, the scaling tables, spec.resolved.yaml and "
                    "manifest.json")]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys()):
            if k not in a or k not in b:
                return f"{path}.{k}", a.get(k, "<missing>"), b.get(k, "<missing>")
            found = _first_difference(a[k], b[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length)", len(a), len(b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return None if math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12) else (path, a, b)
    return None if a == b else (path, a, b)
