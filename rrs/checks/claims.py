"""Claims as code: each spec claim is evaluated on the results table and reports the numbers that decide it.

- threshold: `metric op value` on the selected rows (optionally only at each attack's largest/smallest step), for
  every model (the mean over seeds of each model × attack × judge × steps) or every row. An undefined value fails.
- monotone: per model × attack × judge, the mean over seeds at consecutive steps never moves against `direction`
  by more than `tolerance`.
- variance: eta squared (between-group sum of squares / total sum of squares) of the metric by `larger` exceeds
  that by `smaller`, on the selected rows with a defined value.
- change: (mean over seeds at each attack's largest step) − (at its smallest step) `op value`, per model.
- fit: a field of each selected (attack, judge) log–log fit in scaling.csv (recomputed from the grid).
- size_ratio: mean quantity (s50 or auc) of the largest size / that of the smallest (a size's mean: over its
  models), per (attack, judge).
A claim may list several checks: it holds when every one does.
"""

from __future__ import annotations

import operator

import pandas as pd

from rrs.artifact.contract import GRID
from rrs.artifact.refspec import (
    ChangeClaim,
    Claim,
    CurveSelector,
    FitClaim,
    MonotoneClaim,
    SizeRatioClaim,
    ThresholdClaim,
    VarianceClaim,
)
from rrs.checks.references import describe, select
from rrs.checks.report import ClaimResult
from rrs.measure import scaling

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
GROUP = ["model", "attack", "judge"]
SHOWN = 3  # offending groups named per failing claim


def _label(key: tuple, names: list[str]) -> str:
    return "/".join(str(k) for k in key) if len(names) > 1 else str(key)


def _threshold(grid: pd.DataFrame, c: ThresholdClaim) -> tuple[bool, str]:
    rows = select(grid, c.select)
    if rows.empty:
        return False, f"no row matches {describe(c.select)}"
    if c.at_steps:
        edge = rows.groupby("attack")["steps"].transform("max" if c.at_steps == "max" else "min")
        rows = rows[rows["steps"] == edge]
    if c.over == "every_model":
        names = [*GROUP, "steps"]
        values = rows.groupby(names, sort=False)[c.metric].mean()  # NaN only when every seed is undefined
    else:
        names = [*GROUP, "steps", "seed"]
        values = rows.set_index(names)[c.metric]
    holds = OPS[c.op](values, c.value) & values.notna()
    worst = values.max() if c.op in ("<=", "<") else values.min()
    if holds.all():
        return True, f"{len(values)} of {len(values)} hold; worst {worst:.4g} {c.op} {c.value:g}"
    bad = values[~holds]
    named = "; ".join(f"{_label(k, names)}: {v:.4g}" for k, v in bad.head(SHOWN).items())
    more = f" (+{len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
    return False, f"{len(bad)} of {len(values)} break {c.metric} {c.op} {c.value:g}: {named}{more}"


def _monotone(grid: pd.DataFrame, c: MonotoneClaim) -> tuple[bool, str]:
    rows = select(grid, c.select)
    if rows.empty:
        return False, f"no row matches {describe(c.select)}"
    means = rows.groupby([*GROUP, "steps"], sort=True)[c.metric].mean()
    sign = 1.0 if c.direction == "non_increasing" else -1.0
    breaks, worst = [], 0.0
    for key, curve in means.groupby(level=GROUP, sort=False):
        curve = curve.droplevel(GROUP).dropna()
        steps, vals = curve.index.tolist(), curve.tolist()
        for i in range(1, len(vals)):
            against = sign * (vals[i] - vals[i - 1])  # > 0: a move against the claimed direction
            worst = max(worst, against)
            if against > c.tolerance + 1e-12:
                breaks.append(f"{_label(key, GROUP)}: {vals[i - 1]:.4g} → {vals[i]:.4g} at steps {steps[i - 1]}→{steps[i]}")
    n_curves = means.groupby(level=GROUP).ngroups
    if not breaks:
        return True, f"{n_curves} curves; largest move against the direction {worst:.4g} <= tolerance {c.tolerance:g}"
    more = f" (+{len(breaks) - SHOWN} more)" if len(breaks) > SHOWN else ""
    return False, f"{len(breaks)} moves beyond tolerance {c.tolerance:g}: " + "; ".join(breaks[:SHOWN]) + more


def eta_squared(rows: pd.DataFrame, metric: str, factor: str) -> float:
    """Share of the total sum of squares of `metric` explained by the group means of `factor` (NaN if none)."""
    y = rows[metric].astype(float)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0.0:
        return float("nan")
    group_mean = y.groupby(rows[factor]).transform("mean")
    return float(((group_mean - y.mean()) ** 2).sum()) / total


def _variance(grid: pd.DataFrame, c: VarianceClaim) -> tuple[bool, str]:
    rows = select(grid, c.select).dropna(subset=[c.metric])
    if rows.empty:
        return False, f"no row with a defined {c.metric} matches {describe(c.select)}"
    big, small = eta_squared(rows, c.metric, c.larger), eta_squared(rows, c.metric, c.smaller)
    if big != big:  # NaN: the metric is constant
        return False, f"{c.metric} is constant over {len(rows)} rows: no variance to explain"
    detail = f"eta²({c.larger}) = {big:.3f} vs eta²({c.smaller}) = {small:.3f} over {len(rows)} rows"
    return big > small, detail


def _change(grid: pd.DataFrame, c: ChangeClaim) -> tuple[bool, str]:
    rows = select(grid, c.select)
    if rows.empty:
        return False, f"no row matches {describe(c.select)}"
    means = rows.groupby([*GROUP, "steps"], sort=True)[c.metric].mean()
    deltas = means.groupby(level=GROUP, sort=False).agg(lambda v: v.iloc[-1] - v.iloc[0])
    holds = OPS[c.op](deltas, c.value) & deltas.notna()
    worst = deltas.min() if c.op in (">=", ">") else deltas.max()
    if holds.all():
        return True, f"{len(deltas)} of {len(deltas)} hold; worst change {worst:+.4g} {c.op} {c.value:+g}"
    bad = deltas[~holds]
    named = "; ".join(f"{_label(k, GROUP)}: {v:+.4g}" for k, v in bad.head(SHOWN).items())
    return False, f"{len(bad)} of {len(deltas)} break change of {c.metric} {c.op} {c.value:+g}: {named}"


def _scaling_rows(table: pd.DataFrame, sel: CurveSelector) -> pd.DataFrame:
    for key, want in sel.model_dump(exclude_none=True).items():
        table = table[table[key] == want]
    return table


def _fit(grid: pd.DataFrame, c: FitClaim, tables: dict) -> tuple[bool, str]:
    rows = _scaling_rows(tables["scaling.csv"], c.select)
    rows = rows[rows["quantity"] == c.quantity]
    if rows.empty:
        return False, f"no fit of {c.quantity} matches {c.select.model_dump(exclude_none=True) or 'any'}"
    parts, ok = [], True
    for r in rows.itertuples(index=False):
        v = getattr(r, c.field)
        good = bool(v == v and OPS[c.op](v, c.value))
        ok &= good
        why = f" ({r.reason})" if v != v else ""
        parts.append(f"{r.attack}/{r.judge}/{r.tasks} tasks: {c.quantity} slope {r.slope:.3g} "
                     f"[{r.slope_ci_low:.3g}, {r.slope_ci_high:.3g}] (OLS over size means [{r.ols_ci_low:.3g}, "
                     f"{r.ols_ci_high:.3g}], leave-one-size-out {r.loo_slope_min:.3g}…{r.loo_slope_max:.3g}), R² "
                     f"{r.r2:.3g} over {r.n_models} models of {r.n_sizes} sizes; {c.field} {v:.4g} {c.op} "
                     f"{c.value:g}{why}")
    return ok, "; ".join(parts)


def _size_ratio(grid: pd.DataFrame, c: SizeRatioClaim, tables: dict) -> tuple[bool, str]:
    rob = _scaling_rows(tables["robustness.csv"], c.select)
    if rob.empty:
        return False, f"no robustness row matches {c.select.model_dump(exclude_none=True) or 'any'}"
    parts, ok = [], True
    col = f"{c.quantity}_mean"
    for (attack, judge), part in rob.groupby(["attack", "judge"], sort=False):
        by_size = part.groupby("model_params")[col].apply(lambda v: v.mean() if v.notna().all() else float("nan"))
        lo_p, hi_p = by_size.index.min(), by_size.index.max()
        ratio = by_size[hi_p] / by_size[lo_p]
        good = bool(ratio == ratio and OPS[c.op](ratio, c.value))
        ok &= good
        k = part.groupby("model_params")["model"].nunique()
        parts.append(f"{attack}/{judge}: {c.quantity} at {hi_p} params ({k[hi_p]} models) {by_size[hi_p]:.4g} / at "
                     f"{lo_p} ({k[lo_p]} models) {by_size[lo_p]:.4g} = {ratio:.3g} {c.op} {c.value:g}")
    return ok, "; ".join(parts)


CHECKS = {"threshold": _threshold, "monotone": _monotone, "variance": _variance, "change": _change}
TABLE_CHECKS = {"fit": _fit, "size_ratio": _size_ratio}


def _one(grid: pd.DataFrame, check, tables) -> tuple[bool, str]:
    if check.kind in TABLE_CHECKS:
        return TABLE_CHECKS[check.kind](grid, check, tables())
    if check.metric not in grid.columns:
        return False, f"{GRID} has no column {check.metric}"
    return CHECKS[check.kind](grid, check)


def check_claim(grid: pd.DataFrame, claim: Claim, tables=None) -> ClaimResult:
    """`tables` returns the scaling tables of `grid` (computed once for all claims that need them)."""
    tables = tables or (lambda: scaling.tables(grid))
    results = []
    for check in claim.checks:
        try:
            results.append(_one(grid, check, tables))
        except (KeyError, TypeError, ValueError) as exc:  # a malformed grid: the schema section names the cause
            results.append((False, f"cannot evaluate on this grid ({type(exc).__name__}: {exc})"))
    ok = all(r[0] for r in results)
    return ClaimResult(claim.id, claim.text, ok, " AND ".join(r[1] for r in results))


def check_claims(grid: pd.DataFrame, claims: list[Claim], tables=None) -> list[ClaimResult]:
    """`tables`: as for check_claim; by default the scaling tables of `grid`, computed at most once."""
    memo: dict = {}

    def computed() -> dict:
        if "t" not in memo:
            memo["t"] = scaling.tables(grid)
        return memo["t"]

    return [check_claim(grid, c, tables or computed) for c in claims]
