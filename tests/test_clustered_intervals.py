"""The intervals issue 24 added: Wilson at the effective sample size of task-clustered responses, the OLS interval of
the scaling slope over size means, the hierarchical (organisms within size, seeds within organism) bootstrap and the
leave-one-size-out slopes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rrs.measure import scaling
from rrs.measure.intervals import wilson_ci
from rrs.measure.metrics import design_effect, rate


def test_unclustered_and_singleton_clusters_give_wilson() -> None:
    labels = [True] * 7 + [False] * 13
    plain = rate(labels)
    assert (plain.ci_low, plain.ci_high) == wilson_ci(7, 20)
    singletons = rate(labels, [str(i) for i in range(20)])
    assert (singletons.ci_low, singletons.ci_high) == (plain.ci_low, plain.ci_high)


def test_tasks_answered_alike_widen_the_interval() -> None:
    """5 tasks × 4 prompts, every prompt of a task labelled alike: the 4 prompts carry one task's information."""
    labels = [True] * 8 + [False] * 12
    tasks = [f"t{i // 4}" for i in range(20)]
    deff = design_effect(labels, tasks)
    assert deff == pytest.approx(4 * 5 / 4, rel=1e-9)  # g/(g-1) · m for identical answers within equal clusters
    clustered = rate(labels, tasks)
    lo, hi = wilson_ci(8 / deff, 20 / deff)
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx((lo, hi))
    assert clustered.ci_low < rate(labels).ci_low and clustered.ci_high > rate(labels).ci_high
    assert clustered.value == 0.4 and clustered.k == 8


def test_tasks_answered_across_never_narrow_the_interval() -> None:
    labels = [True, False] * 10  # every task half refused: no between-task variance
    tasks = [f"t{i // 4}" for i in range(20)]
    assert design_effect(labels, tasks) == 1.0
    assert design_effect([True] * 20, tasks) == 1.0  # no variance at all


def test_ols_interval_of_the_slope_by_hand() -> None:
    """log10 x = 0..4, log10 y = 0, 1, 1, 3, 3: slope 0.8, residual variance 0.8/3, Sxx 10, t(0.975, 3) 3.182446."""
    x = 10.0 ** np.arange(5)
    y = 10.0 ** np.array([0.0, 1.0, 1.0, 3.0, 3.0])
    lo, hi = scaling._ols_slope_ci(x, y)
    half = 3.182446 * math.sqrt(0.8 / 3 / 10)
    assert (lo, hi) == pytest.approx((0.8 - half, 0.8 + half), abs=1e-6)
    assert all(math.isnan(v) for v in scaling._ols_slope_ci(x[:2], y[:2]))


def _curves(s50: dict[int, list[list[float]]]) -> pd.DataFrame:
    """curves.csv rows: per size, per organism, per seed an s50 (auc 0.5 throughout)."""
    rows = []
    for size, organisms in s50.items():
        for o, seeds in enumerate(organisms):
            for seed, v in enumerate(seeds):
                rows.append({"model": f"m{size}-{o}", "model_params": size, "attack": "a", "judge": "j", "tasks": "all",
                             "seed": seed, "s50": v, "s50_from": v - 1, "s50_to": v + 1, "s50_reason": "", "auc": 0.5})
    return pd.DataFrame(rows)


def test_disagreeing_organisms_widen_the_slope_interval_beyond_the_seed_bootstrap() -> None:
    """Seeds agree within each organism, organisms of one size do not: resampling organisms shows it."""
    spread = {10**3: [[10, 10.2], [20, 20.2], [14, 14.1]], 10**4: [[14, 14.2], [26, 26.1], [18, 18.3]],
              10**5: [[18, 18.1], [34, 34.2], [24, 24.1]]}
    fit = scaling.fits(_curves(spread), n_boot=2000)
    row = fit[fit["quantity"] == "s50"].iloc[0]
    used = [m for m in scaling._model_values(_curves(spread), "s50") if not m[3]]
    x = np.array([m[1] for m in used], dtype=float)
    rng = np.random.default_rng(0)
    seed_only = np.column_stack([scaling._boot_means(m[2], rng, 2000) for m in used])
    b, _, _ = scaling._line_fits(x, seed_only)
    seed_lo, seed_hi = np.percentile(b, [2.5, 97.5])
    assert row.slope_ci_high - row.slope_ci_low > 3 * (seed_hi - seed_lo)
    assert row.n_models == 9 and row.n_sizes == 3 and row.ci_method == scaling.CI_METHOD


def test_leave_one_size_out_finds_the_size_that_carries_the_slope() -> None:
    """Four flat sizes and a fifth far above them: the slope is positive, and without the fifth it is ~0."""
    s50 = {10**k: [[20.0, 20.0], [20.0, 20.0], [20.0, 20.0]] for k in range(3, 7)}
    s50[10**7] = [[80.0, 80.0], [80.0, 80.0], [80.0, 80.0]]
    row = scaling.fits(_curves(s50), n_boot=200).query("quantity == 's50'").iloc[0]
    loo = dict(item.split(":") for item in row.loo_slopes.split(";"))
    assert row.slope > 0.1 and float(loo[str(10**7)]) == pytest.approx(0.0, abs=1e-12)
    assert row.loo_slope_min == pytest.approx(0.0, abs=1e-12) and row.loo_slope_max > row.slope
    assert len(loo) == row.n_sizes == 5
