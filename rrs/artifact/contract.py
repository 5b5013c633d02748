"""The output contract: what a run writes into --out, owned here and read by the store, the runner, publish and the
checks alike — results_grid.csv's columns and key, the samples files' paths, and the files and folders of a run.
"""

from __future__ import annotations

import re
from pathlib import Path

from rrs.artifact.metrics import METRICS

GRID_KEY = ("model", "attack", "steps", "seed", "judge")
# results_grid.csv columns: the row's key and counts, then each metric's columns in the metrics table's order
ROW_COLUMNS = ("model", "model_kind", "model_params", "attack", "steps", "seed", "judge", "n", "refusals")
GRID_COLUMNS = ROW_COLUMNS + tuple(c for m in METRICS for c in m.columns)
TEXT_COLUMNS = ("model", "model_kind", "attack", "judge") + tuple(c for c in GRID_COLUMNS if c.endswith("_reason"))
NUMERIC_COLUMNS = tuple(c for c in GRID_COLUMNS if c not in TEXT_COLUMNS)
SAMPLE_PATH = re.compile(r"^samples/(?P<model>[^/]+)/(?P<attack>[^/]+)/seed(?P<seed>\d+)/steps(?P<steps>\d+)\.jsonl$")
# what a run writes into --out: these files and everything under these folders belong to the run
OUTPUT_FILES = ("results_grid.csv", "curves.csv", "robustness.csv", "scaling.csv", "manifest.json",
                "spec.resolved.yaml")
OUTPUT_DIRS = ("samples", "figures")


def sample_path(model: str, attack: str, seed: int, steps: int) -> str:
    return f"samples/{model}/{attack}/seed{seed}/steps{steps}.jsonl"


def run_files(out: Path) -> set[Path]:
    """The files under `out` that belong to a run (OUTPUT_FILES, anything under OUTPUT_DIRS), relative to it."""
    found = {Path(n) for n in OUTPUT_FILES if (out / n).is_file()}
    for d in OUTPUT_DIRS:
        if (out / d).is_dir():
            found |= {p.relative_to(out) for p in (out / d).rglob("*") if p.is_file() or p.is_symlink()}
    return found
