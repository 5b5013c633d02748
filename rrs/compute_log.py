"""The record of each cached stage output: how long it took and on which numerics platform (rrs/numerics.py), kept
beside the cache so a run that reuses the cache still reports the study's compute time (manifest `compute_s`) and
the platform that computed its numbers (manifest `numerics`), not those of the process that happens to finish."""

from __future__ import annotations

import json
from pathlib import Path

from rrs.atomic import write_json


def _path(cache: Path, stage: str, key: str) -> Path:
    return cache / "compute" / f"{stage}-{key}.json"


def record(cache: Path, stage: str, key: str, seconds: float, fingerprint: dict, *, add: bool = False) -> None:
    """Record the seconds spent computing one stage output; `add` accumulates (an attack resumed in pieces)."""
    path = _path(cache, stage, key)
    before = json.loads(path.read_text())["seconds"] if add and path.is_file() else 0.0
    write_json(path, {"seconds": round(before + seconds, 3), "fingerprint": fingerprint})


def fingerprints(cache: Path, outputs: list[tuple[str, str]]) -> list[dict]:
    """The distinct numerics fingerprints recorded for `outputs` (one, when the run is sound)."""
    seen: dict[str, dict] = {}
    for stage, key in dict.fromkeys(outputs):
        path = _path(cache, stage, key)
        if path.is_file():
            fp = json.loads(path.read_text()).get("fingerprint")
            if fp:
                seen.setdefault(json.dumps(fp, sort_keys=True), fp)
    return list(seen.values())


def totals(cache: Path, outputs: list[tuple[str, str]]) -> tuple[dict[str, float], int]:
    """(seconds per stage summed over `outputs` [(stage, key)], how many outputs have no record)."""
    sums: dict[str, float] = {}
    missing = 0
    for stage, key in dict.fromkeys(outputs):  # an output shared by several cells counts once
        path = _path(cache, stage, key)
        if path.is_file():
            sums[stage] = round(sums.get(stage, 0.0) + json.loads(path.read_text())["seconds"], 3)
        else:
            missing += 1
    return dict(sorted(sums.items())), missing
