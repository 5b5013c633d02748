"""The output contract: what a run writes into --out, owned here and read by the store, the runner, publish and the
checks alike — results_grid.csv's columns and key, the samples files' paths, and the files and folders of a run.
"""

from __future__ import annotations

import re
from pathlib import Path

# results_grid.csv columns, in the contract's order (DESIGN.md "Metrics")
GRID_KEY = ("model", "attack", "steps", "seed", "judge")
GRID_COLUMNS = (
    "model", "model_kind", "model_params", "attack", "steps", "seed", "judge",
    "n", "refusals", "rrr", "rrr_ci_low", "rrr_ci_high", "ce", "ce_ci_low", "ce_ci_high",
    "rd", "rd_ci_low", "rd_ci_high", "rd_mean", "rd_valid_n", "rd_reason",
    "over_refusal", "over_refusal_n", "over_refusal_ci_low", "over_refusal_ci_high", "over_refusal_reason",
    "refusal_delay", "refusal_delay_reason", "calibration_entropy", "calibration_entropy_reason",
    "compliance", "compliance_ci_low", "compliance_ci_high",
    "degenerate", "degenerate_ci_low", "degenerate_ci_high",
    "parroting", "parroting_ci_low", "parroting_ci_high", "parroting_reason",
    "benign_utility", "benign_utility_ci_low", "benign_utility_ci_high", "benign_utility_reason",
    "benign_rd", "benign_rd_reason",
    "attack_eval_overlap",
)  # fmt: skip
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
