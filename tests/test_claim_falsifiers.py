"""Every claim of the published studies can fail: each holds on its publication's grid, states its falsifier, and
FAILs when one of its checks is fed counter-data made to be what the falsifier describes.

The counter-data is built per check kind from the published grid itself (nothing hard-coded per claim):
- threshold / change: the selected rows (at the check's step edge) get a value 0.1 beyond the bound;
- monotone: each selected curve rises by more than the tolerance at its last step;
- variance: the metric becomes a function of the `smaller` factor alone;
- fit: the models' sizes are mirrored (the largest model gets the smallest's parameter count, and so on), which
  turns the slope's sign; a claim that holds either way is one the design guarantees, and this test fails on it;
- size_ratio: the end that the bound limits holds its refusals until the last step (its s50 moves to the far end
  of the grid).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rrs.artifact.schemas import read_grid
from rrs.checks.claims import check_claim
from rrs.checks.references import select
from rrs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ("spec/smoke.yaml", "spec/smollm2.yaml")  # the studies published under artifacts/
BEYOND = 0.1
CASES = [(spec, c.id, j) for spec in SPECS for c in load_spec(ROOT / spec).claims for j in range(len(c.checks))]


def _edge_rows(grid: pd.DataFrame, check) -> pd.Index:
    rows = select(grid, check.select)
    at = getattr(check, "at_steps", None)
    if at:
        edge = rows.groupby("attack")["steps"].transform("max" if at == "max" else "min")
        rows = rows[rows["steps"] == edge]
    return rows.index


def _past(op: str, value: float) -> float:
    return value + BEYOND if op in ("<=", "<") else value - BEYOND


def _threshold(grid: pd.DataFrame, c) -> pd.DataFrame:
    grid.loc[_edge_rows(grid, c), c.metric] = _past(c.op, c.value)
    return grid


def _change(grid: pd.DataFrame, c) -> pd.DataFrame:
    rows = select(grid, c.select)
    for _, part in rows.groupby(["model", "attack", "judge"]):
        first = part[part["steps"] == part["steps"].min()][c.metric].mean()
        grid.loc[part.index[part["steps"] == part["steps"].max()], c.metric] = first + _past(c.op, c.value)
    return grid


def _monotone(grid: pd.DataFrame, c) -> pd.DataFrame:
    rows = select(grid, c.select)
    sign = 1 if c.direction == "non_increasing" else -1
    for _, part in rows.groupby(["model", "attack", "judge"]):
        last = part["steps"].max()
        prev = part[part["steps"] < last]["steps"].max()
        before = part[part["steps"] == prev][c.metric].mean()
        grid.loc[part.index[part["steps"] == last], c.metric] = before + sign * (c.tolerance + BEYOND)
    return grid


def _variance(grid: pd.DataFrame, c) -> pd.DataFrame:
    idx = select(grid, c.select).index
    factor = grid.loc[idx, c.smaller]
    grid.loc[idx, c.metric] = factor.rank(method="dense") / factor.nunique()
    return grid


def _mirror_sizes(grid: pd.DataFrame, c) -> pd.DataFrame:
    sizes = sorted(grid["model_params"].unique())
    grid["model_params"] = grid["model_params"].map(dict(zip(sizes, reversed(sizes), strict=True)))
    return grid


def _size_ratio(grid: pd.DataFrame, c) -> pd.DataFrame:
    sizes = sorted(grid["model_params"].unique())
    size = sizes[-1] if c.op in ("<", "<=") else sizes[0]  # the end whose s50 the bound keeps down
    rows = select(grid, c.select)
    rows = rows[rows["model_params"] == size]
    for _, part in rows.groupby(["model", "attack", "judge", "seed"]):
        start = part[part["steps"] == part["steps"].min()]["rrr"].iloc[0]
        last = part["steps"].max()
        grid.loc[part.index[part["steps"] < last], "rrr"] = start
        grid.loc[part.index[part["steps"] == last], "rrr"] = 0.0
    return grid


COUNTER = {"threshold": _threshold, "change": _change, "monotone": _monotone, "variance": _variance,
           "fit": _mirror_sizes, "size_ratio": _size_ratio}


def _grid(spec: str) -> pd.DataFrame:
    study = load_spec(ROOT / spec).study
    return read_grid(ROOT / "artifacts" / study / "results_grid.csv")


@pytest.mark.parametrize(("spec", "claim_id", "check_index"), CASES)
def test_each_check_of_each_claim_fails_on_counter_data(spec: str, claim_id: str, check_index: int) -> None:
    claim = next(c for c in load_spec(ROOT / spec).claims if c.id == claim_id)
    assert claim.falsifier, f"{spec}: claim {claim_id} states no falsifier"
    grid = _grid(spec)
    assert check_claim(grid, claim).ok, f"{claim_id} does not hold on its own publication"
    check = claim.checks[check_index]
    metric = getattr(check, "metric", "rrr")
    counter = COUNTER[check.kind](grid.astype({metric: float}), check)
    assert not counter.equals(grid), "the counter-data changed nothing"
    result = check_claim(counter, claim)
    assert not result.ok, f"{claim_id} check {check_index} ({check.kind}) still holds on counter-data: {result.detail}"


def test_every_claim_kind_of_the_shipped_specs_has_a_counter() -> None:
    kinds = {chk.kind for spec in SPECS for c in load_spec(ROOT / spec).claims for chk in c.checks}
    assert kinds <= set(COUNTER)
    assert len(CASES) >= 20


def test_every_shipped_claim_states_a_falsifier() -> None:
    for spec in sorted((ROOT / "spec").glob("*.yaml")):
        for c in load_spec(spec).claims:
            assert c.falsifier and "\n" not in c.falsifier, f"{spec.name}: claim {c.id}"


def test_a_counter_that_breaks_nothing_is_noticed() -> None:
    """The test's own guard: mirroring sizes leaves a grid with one size unchanged, and a check over it still
    holds, so the assertion above would report it."""
    one = pd.DataFrame({"model": ["a"] * 2, "model_params": [10, 10], "attack": "x", "steps": [0, 5], "seed": 0,
                        "judge": "j", "tasks": "all", "rrr": [1.0, np.nan]})
    assert _mirror_sizes(one.copy(), None).equals(one)
