"""Published reference numbers against a result grid, and a fresh run's grid against the published one.

A reference selects rows (a missing selector key means any) and compares their mean (aggregate "mean", e.g. over
seeds) or their single row (aggregate "only") with its value: PASS when |value - reference| <= tolerance. A
selection with an undefined (NaN) value fails and names the reason written beside it.

A fresh run matches the published one when both have the same rows, the same counts (n, over_refusal_n,
model_params, model_kind) and every other numeric column within the tolerance of the references that select the
row for that column (the largest one), else within DEFAULT_TOL (absolute; every such column is on a 0–1 scale
except rd, whose 0–2 range is used near 0–0.6 in practice). refusals and rd_valid_n are compared as fractions of
n. Reasons are text and not compared.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rrs.artifact.contract import GRID_KEY, NUMERIC_COLUMNS
from rrs.artifact.refspec import Reference, Selector
from rrs.checks.report import Failure, RefResult

DEFAULT_TOL = 0.05
EXACT = ("n", "over_refusal_n", "model_params")
AS_FRACTION_OF_N = ("refusals", "rd_valid_n")


def select(grid: pd.DataFrame, sel: Selector) -> pd.DataFrame:
    mask = pd.Series(True, index=grid.index)
    for key, want in sel.model_dump(exclude_none=True).items():
        mask &= grid[key] == want
    return grid[mask]


def describe(sel: Selector) -> str:
    items = {k: v for k, v in sel.model_dump(exclude_none=True).items() if (k, v) != ("tasks", "all")}
    return ", ".join(f"{k}={v}" for k, v in items.items()) or "all rows"


def check_reference(grid: pd.DataFrame, ref: Reference) -> RefResult:
    keys = ref.select.model_dump(exclude_none=True)
    rows = select(grid, ref.select) if set(keys) <= set(grid.columns) else None
    base = {"metric": ref.metric, "select": describe(ref.select), "reference": ref.value,
            "tolerance": ref.tolerance, "source": ref.source, "comparable": ref.comparable}  # fmt: skip
    if ref.metric not in grid.columns:
        return RefResult(value=math.nan, ok=False, note=f"no column {ref.metric}", **base)
    if rows is None:
        return RefResult(value=math.nan, ok=False, note="the grid lacks a selector column", **base)
    if rows.empty:
        return RefResult(value=math.nan, ok=False, note="no row matches", **base)
    if ref.aggregate == "only" and len(rows) != 1:
        return RefResult(value=math.nan, ok=False, note=f"{len(rows)} rows match, 'only' needs one", **base)
    values = pd.to_numeric(rows[ref.metric], errors="coerce")
    if values.isna().any():
        reasons = rows.get(f"{ref.metric}_reason", pd.Series(dtype=str))
        why = next((r for r in reasons if isinstance(r, str) and r), "no reason given")
        note = f"{int(values.isna().sum())} of {len(values)} rows undefined: {why}"
        return RefResult(value=math.nan, ok=False, note=note, **base)
    value = float(values.mean())
    note = f"mean of {len(rows)} rows" if len(rows) > 1 else ""
    return RefResult(value=value, ok=abs(value - ref.value) <= ref.tolerance + 1e-12, note=note, **base)


def check_references(grid: pd.DataFrame, refs: list[Reference]) -> list[RefResult]:
    return [check_reference(grid, r) for r in refs]


# ---------------------------------------------------------------- fresh vs published


def tolerances(grid: pd.DataFrame, refs: list[Reference], column: str, default: float) -> tuple[pd.Series, pd.Series]:
    """Per row of `grid`: the tolerance for `column` and whether a reference set it."""
    tol = pd.Series(np.nan, index=grid.index)
    for ref in refs:
        if ref.metric == column and ref.comparable:  # another definition's tolerance says nothing about this run
            idx = select(grid, ref.select).index
            tol.loc[idx] = np.fmax(tol.loc[idx], ref.tolerance)
    return tol.fillna(default), tol.notna()


def compare_grids(
    fresh: pd.DataFrame, published: pd.DataFrame, refs: list[Reference], *, file: str, default: float = DEFAULT_TOL,
    keys_only: bool = False,
) -> list[Failure]:
    """Rows present in one grid and not the other; then (unless keys_only) every numeric column within tolerance."""
    key = list(GRID_KEY)
    missing = sorted({c for c in key if c not in fresh.columns or c not in published.columns})
    if missing:
        return [Failure(file, ", ".join(missing), "-", "-", "both grids have the key columns (cannot compare rows)")]
    f = fresh.reset_index(names="row_")
    p = published.reset_index(names="row_")
    both = f.merge(p, on=key, how="outer", suffixes=("", "_pub"), indicator="side_")
    out = []
    for r in both[both["side_"] != "both"].to_dict("records"):
        where, rule = ("-", "row of the published run is missing") if r["side_"] == "right_only" else (
            str(int(r["row_"]) + 2), "row is not in the published run")  # fmt: skip
        out.append(Failure(file, "+".join(key), where, "/".join(str(r[k]) for k in key), rule))
    both = both[both["side_"] == "both"].astype({"row_": int}).set_index("row_")
    if both.empty or keys_only:
        return out
    for col in [c for c in NUMERIC_COLUMNS if c not in key and c in fresh.columns and c in published.columns]:
        out += _compare_column(both, col, refs, file, default, fresh)
    if "model_kind" in both.columns:
        bad = both[both["model_kind"] != both["model_kind_pub"]]
        out += [Failure(file, "model_kind", str(int(i) + 2), f"{a} vs published {b}", "equal to the published run")
                for i, a, b in zip(bad.index, bad["model_kind"], bad["model_kind_pub"], strict=True)]  # fmt: skip
    return out


def _compare_column(
    both: pd.DataFrame, col: str, refs: list[Reference], file: str, default: float, fresh: pd.DataFrame
) -> list[Failure]:
    a = pd.to_numeric(both[col], errors="coerce").astype(float)
    b = pd.to_numeric(both[f"{col}_pub"], errors="coerce").astype(float)
    if col in AS_FRACTION_OF_N:
        a, b = a / both["n"], b / both["n_pub"]
    if col in EXACT:
        tol, from_ref = pd.Series(0.0, index=both.index), pd.Series(False, index=both.index)
    else:
        ref_col = "rrr" if col == "refusals" else col
        tol, from_ref = tolerances(fresh.loc[both.index], refs, ref_col, default)
    nan_a, nan_b = a.isna(), b.isna()
    bad = (nan_a != nan_b) | (~nan_a & ~nan_b & ((a - b).abs() > tol + 1e-9))
    out = []
    for i in both.index[bad]:
        what = "exact" if col in EXACT else ("reference" if from_ref[i] else "default")
        value = f"fresh {a[i]:.6g} vs published {b[i]:.6g}" + ("" if nan_a[i] or nan_b[i] else f" (Δ {a[i] - b[i]:+.3g})")
        unit = " of n" if col in AS_FRACTION_OF_N else ""
        out.append(Failure(file, col, str(int(i) + 2), value, f"|Δ| <= {tol[i]:g}{unit} ({what} tolerance)"))
    return out
