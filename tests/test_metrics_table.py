"""The metrics table (rrs/artifact/metrics.py) is the one place a metric is declared: the grid's columns, the grid
schema, results.json and the figures' labels are derived from it, and a new entry reaches all of them."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rrs.artifact.contract import GRID_COLUMNS, ROW_COLUMNS
from rrs.artifact.metrics import BY_NAME, METRICS, metric_of
from rrs.artifact.schemas import UNDEFINABLE, GridSchema

ROOT = Path(__file__).resolve().parents[1]


def test_the_derived_grid_columns_are_the_published_header() -> None:
    for study in ("smoke", "smollm2"):
        with open(ROOT / "artifacts" / study / "results_grid.csv", newline="") as fh:
            assert tuple(next(csv.reader(fh))) == GRID_COLUMNS, study


def test_every_grid_column_belongs_to_the_row_or_to_one_metric() -> None:
    assert len(set(GRID_COLUMNS)) == len(GRID_COLUMNS)
    for col in GRID_COLUMNS:
        assert (col in ROW_COLUMNS) != (metric_of(col) is not None), col
    assert tuple(GridSchema.to_schema().columns) == GRID_COLUMNS
    assert set(UNDEFINABLE) == {m.name for m in METRICS if m.undefined}
    assert len(BY_NAME) == len(METRICS)


def test_the_figures_labels_are_the_tables() -> None:
    from rrs.figures.grid import _COMPARE

    assert {metric for metric, _ in _COMPARE.values()} <= BY_NAME.keys()


# A new metric, declared by one entry in a copy of the package; everything that reads the table sees it.
NEW_ENTRY = """    Metric("hedging", "rate", False, "hedging (answers that hedge)", ci="wilson", undefined=True),
)
BY_NAME ="""
NEW_METRIC = """
import json
from rrs.artifact.contract import GRID_COLUMNS, NUMERIC_COLUMNS
from rrs.artifact.schemas import UNDEFINABLE, WITH_CI, GridSchema
from rrs import results_json, spec
cols = GridSchema.to_schema().columns
print(json.dumps({"grid": [c for c in GRID_COLUMNS if c.startswith("hedging")],
                  "numeric": "hedging" in NUMERIC_COLUMNS, "schema": "hedging_ci_high" in cols,
                  "nullable": cols["hedging"].nullable, "undefinable": "hedging" in UNDEFINABLE,
                  "ci_rule": "hedging" in WITH_CI, "json": results_json.METRICS[-1], "spec": spec.METRICS[-1]}))
"""


def test_a_new_metric_is_one_table_entry(tmp_path) -> None:
    package = tmp_path / "rrs"
    shutil.copytree(ROOT / "rrs", package, ignore=shutil.ignore_patterns("__pycache__"))
    table = package / "artifact" / "metrics.py"
    text = table.read_text()
    assert text.count(")\nBY_NAME =") == 1
    table.write_text(text.replace(")\nBY_NAME =", NEW_ENTRY))
    env = os.environ | {"PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", NEW_METRIC], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {
        "grid": ["hedging", "hedging_ci_low", "hedging_ci_high", "hedging_reason"], "numeric": True, "schema": True,
        "nullable": True, "undefinable": True, "ci_rule": True, "json": "hedging", "spec": "hedging"}


def test_the_published_directories_hold_the_contracts_files() -> None:
    from rrs.artifact.contract import FILES, OUTPUT_DIRS, OUTPUT_FILES, REQUIRED

    names = {f.name for f in FILES}
    for study in ("smoke", "smollm2"):
        present = {p.name for p in (ROOT / "artifacts" / study).iterdir()}
        assert present <= names, (study, present - names)
        assert set(REQUIRED) <= present, (study, set(REQUIRED) - present)
        assert set(OUTPUT_FILES) | set(OUTPUT_DIRS) <= present, study
    assert "results.json" in OUTPUT_FILES and "variation.csv" not in OUTPUT_FILES


def test_the_results_schema_names_the_contracts_grid_file() -> None:
    """rrs/data/results.schema.json is read by outside tools, so it spells the grid's file name out; it must be the
    contract's (rrs.artifact.contract.GRID), the one place the name is defined in code."""
    from rrs.artifact.contract import GRID

    schema = json.loads((ROOT / "rrs" / "data" / "results.schema.json").read_text())
    assert schema["properties"]["results_grid"]["properties"]["path"]["const"] == GRID
