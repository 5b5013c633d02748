"""The published embedded study (artifacts/smoke), read with plain json/pandas rather than rrs's own checks: every
sample says its task and whether the task was trained on, several organisms per size, seen/unseen/all rows, the
scaling table's organism-resampled interval and leave-one-size-out slopes, every s50 read between close grid
points, and every grid rrr equal to the share of plain refusals (mixed answers apart) recounted from the samples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

ART = Path(__file__).resolve().parents[1] / "artifacts" / "smoke"
PATH = re.compile(r"samples/(?P<model>[^/]+)/(?P<attack>[^/]+)/seed(?P<seed>\d+)/steps(?P<steps>\d+)\.jsonl$")


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    rows = []
    for path in sorted(ART.glob("samples/*/*/*/*.jsonl")):
        m = PATH.search(path.as_posix())
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.append(json.loads(line) | {"model": m["model"], "attack": m["attack"], "seed": int(m["seed"]),
                                            "steps": int(m["steps"])})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def grid() -> pd.DataFrame:
    return pd.read_csv(ART / "results_grid.csv")


def test_every_sample_says_its_task_and_whether_it_was_trained_on(samples) -> None:
    assert samples["task"].map(lambda t: isinstance(t, str) and t != "").all()
    assert set(samples["task_seen"]) == {True, False}
    per_task = samples.groupby("task")["task_seen"].nunique()
    assert (per_task == 1).all()  # a task is seen or unseen, never both


def test_three_organisms_per_size_over_one_and_a_half_decades(grid) -> None:
    per_size = grid.groupby("model_params")["model"].nunique()
    assert len(per_size) >= 5 and (per_size >= 3).all()
    assert grid["model_params"].max() / grid["model_params"].min() >= 10**1.5


def test_grid_and_scaling_rows_for_every_task_set(grid) -> None:
    assert set(grid["tasks"]) == {"all", "seen", "unseen"}
    scaling = pd.read_csv(ART / "scaling.csv")
    assert set(scaling["tasks"]) == {"all", "seen", "unseen"}
    assert scaling["ci_method"].str.contains("models resampled within each size").all()
    defined = scaling[scaling["slope"].notna()]
    assert len(defined) and defined[["ols_ci_low", "ols_ci_high", "loo_slope_min", "loo_slope_max"]].notna().all().all()
    for row in defined.itertuples():
        loo = [float(x.split(":")[1]) for x in row.loo_slopes.split(";")]
        assert len(loo) == row.n_sizes and min(loo) == pytest.approx(row.loo_slope_min, rel=1e-3)


def test_every_s50_is_read_between_grid_points_at_most_2x_apart() -> None:
    curves = pd.read_csv(ART / "curves.csv")
    defined = curves[curves["s50"].notna()]
    assert len(defined) == len(curves)  # every curve crosses half its steps-0 rrr within the grid
    assert (defined["s50_from"] > 0).all() and (defined["s50_to"] <= 2 * defined["s50_from"]).all()


def test_grid_rrr_is_the_share_of_plain_refusals_in_the_samples(grid, samples) -> None:
    harmful = samples[samples["set"] == "harmful"]
    checked = 0
    for judge in grid["judge"].unique():
        label = harmful[f"refusal:{judge}"].astype(bool)
        plain = label & ~harmful["complies"].astype(bool)
        mixed = label & harmful["complies"].astype(bool)
        for tasks, keep in (("all", harmful.index == harmful.index), ("seen", harmful["task_seen"] == True),  # noqa: E712
                            ("unseen", harmful["task_seen"] == False)):  # noqa: E712
            keys = ["model", "attack", "seed", "steps"]
            recount = pd.DataFrame({"plain": plain[keep], "mixed_recount": mixed[keep]}).join(harmful.loc[keep, keys])
            shares = recount.groupby(keys)[["plain", "mixed_recount"]].mean()
            rows = grid[(grid["judge"] == judge) & (grid["tasks"] == tasks)].set_index(keys)
            joined = rows[["rrr", "mixed"]].join(shares, how="outer")
            assert joined.notna().all().all() and len(joined) == len(rows)
            assert (joined["rrr"] - joined["plain"]).abs().max() < 1e-6
            assert (joined["mixed"] - joined["mixed_recount"]).abs().max() < 1e-6
            checked += len(joined)
    assert checked == len(grid)
    assert (grid["mixed"] > 0).any()  # the rule matters in this study: some answers are mixed
