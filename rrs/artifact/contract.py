"""The output contract: what a run writes into --out, owned here and read by the store, the runner, publish and the
checks alike: the files of a result directory (FILES), the grid's columns and key, and the samples files' paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rrs.artifact.metrics import METRICS

GRID_KEY = ("model", "attack", "steps", "seed", "judge", "tasks")
# which eval tasks a row is measured on: all of them, or (where the study splits its tasks) those the training data
# holds (seen) or never holds (unseen)
TASK_SETS = ("all", "seen", "unseen")
# results_grid.csv columns: the row's key and counts, then each metric's columns in the metrics table's order
ROW_COLUMNS = ("model", "model_kind", "model_params", "attack", "steps", "seed", "judge", "tasks", "n", "refusals")
GRID_COLUMNS = ROW_COLUMNS + tuple(c for m in METRICS for c in m.columns)
TEXT_COLUMNS = ("model", "model_kind", "attack", "judge", "tasks") + tuple(c for c in GRID_COLUMNS if c.endswith("_reason"))
NUMERIC_COLUMNS = tuple(c for c in GRID_COLUMNS if c not in TEXT_COLUMNS)
SAMPLE_PATH = re.compile(r"^samples/(?P<model>[^/]+)/(?P<attack>[^/]+)/seed(?P<seed>\d+)/steps(?P<steps>\d+)\.jsonl$")


@dataclass(frozen=True)
class ArtifactFile:
    """One file (or folder) of a result directory."""

    name: str
    kind: str  # table (CSV), json, yaml, or folder
    schema: str  # what holds it to the contract ("-": nothing beyond being present)
    by_run: bool  # written by `rrs run` (False: added when a run is published)
    required: bool  # a result directory must have it


GRID = "results_grid.csv"
FILES = (
    ArtifactFile(GRID, "table", "rrs/artifact/schemas.py GridSchema", True, True),
    ArtifactFile("curves.csv", "table", "rrs/artifact/scaling_schema.py CurvesSchema", True, True),
    ArtifactFile("robustness.csv", "table", "rrs/artifact/scaling_schema.py RobustnessSchema", True, True),
    ArtifactFile("scaling.csv", "table", "rrs/artifact/scaling_schema.py ScalingSchema", True, True),
    ArtifactFile("results.json", "json", "rrs/data/results.schema.json", True, True),
    ArtifactFile("manifest.json", "json", "-", True, True),
    ArtifactFile("spec.resolved.yaml", "yaml", "rrs/spec.py Study", True, True),
    ArtifactFile("samples", "folder", "rrs/artifact/schemas.py SampleSchema", True, True),
    ArtifactFile("figures", "folder", "-", True, True),
    ArtifactFile("variation.csv", "table", "-", False, False),
    ArtifactFile("reproductions.csv", "table", "-", False, False),
    ArtifactFile("evidence", "folder", "rrs/checks/evidence.py", False, False),  # the runs behind the two above
)
# what a run writes into --out: these files and everything under these folders belong to the run
OUTPUT_FILES = tuple(f.name for f in FILES if f.by_run and f.kind != "folder")
OUTPUT_DIRS = tuple(f.name for f in FILES if f.by_run and f.kind == "folder")
REQUIRED = tuple(f.name for f in FILES if f.required)


def sample_path(model: str, attack: str, seed: int, steps: int) -> str:
    return f"samples/{model}/{attack}/seed{seed}/steps{steps}.jsonl"


def run_files(out: Path) -> set[Path]:
    """The files under `out` that belong to a run (OUTPUT_FILES, anything under OUTPUT_DIRS), relative to it."""
    found = {Path(n) for n in OUTPUT_FILES if (out / n).is_file()}
    for d in OUTPUT_DIRS:
        if (out / d).is_dir():
            found |= {p.relative_to(out) for p in (out / d).rglob("*") if p.is_file() or p.is_symlink()}
    return found
