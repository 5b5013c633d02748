"""pandera schemas of the scaling tables (curves.csv, robustness.csv, scaling.csv) and a table-vs-recomputation diff.

Failures are (file, column, row, value, rule) rows from rrs.artifact.schemas.validate; `row` is the line in the
CSV (header = line 1). Beyond types and ranges: a reason exactly beside every undefined value, CIs that contain
their estimate, no duplicate key. Keys are checked by a rule of their own (the generic uniqueness check of
`validate` knows the grid's key only).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rrs.artifact.contract import GRID, TASK_SETS
from rrs.artifact.failures import Failure, sort_failures
from rrs.artifact.schemas import Rule, _contains, _rule_check, validate
from rrs.errors import UserError
from rrs.measure.scaling import CURVE_KEY, QUANTITIES, ROBUSTNESS_KEY, SCALING_KEY, TABLES

RTOL = 1e-6
ATOL = 1e-9
SIG_DIGITS = 6  # the tables are written with float_format "%.6g": both sides are compared as written
TEXT_COLUMNS = ("model", "attack", "judge", "tasks", "quantity", "s50_reason", "reason", "ci_method", "loo_slopes")
KEYS = {"curves.csv": CURVE_KEY, "robustness.csv": ROBUSTNESS_KEY, "scaling.csv": SCALING_KEY}


def _unique_rule(key: tuple[str, ...]) -> tuple[str, Rule]:
    return f"no duplicate ({', '.join(key)})", (key, lambda d: ~d.duplicated(list(key), keep=False))


def _ci_rule(est: str, lo: str, hi: str) -> tuple[str, Rule]:
    return f"{est} CI [{lo}, {hi}] contains {est}", ((est, lo, hi), lambda d: _contains(d[lo], d[est], d[hi]))


def _ci_nan_rule(est: str, lo: str, hi: str) -> tuple[str, Rule]:
    return f"{lo}, {hi} are NaN when {est} is", ((est, lo, hi), lambda d: d[est].notna() | (d[lo].isna() & d[hi].isna()))


def _reason_of(est: str, reason: str) -> tuple[str, Rule]:
    return f"{est} is NaN exactly when {reason} is given", (
        (est, reason), lambda d: d[est].isna() == (d[reason].fillna("").str.strip() != ""))


def _rules(*pairs: tuple[str, Rule]) -> dict[str, Rule]:
    return dict(pairs)


CURVE_RULES = _rules(
    _reason_of("s50", "s50_reason"),
    ("s50_from <= s50 <= s50_to, both NaN exactly when s50 is",
     (("s50", "s50_from", "s50_to"), lambda d: (d.s50.isna() & d.s50_from.isna() & d.s50_to.isna())
      | ((d.s50_from <= d.s50 + ATOL) & (d.s50 <= d.s50_to + ATOL)))),
    _unique_rule(CURVE_KEY),
)
ROBUSTNESS_RULES = _rules(
    _reason_of("s50_mean", "s50_reason"),
    _ci_rule("s50_mean", "s50_ci_low", "s50_ci_high"),
    _ci_nan_rule("s50_mean", "s50_ci_low", "s50_ci_high"),
    _ci_rule("auc_mean", "auc_ci_low", "auc_ci_high"),
    _ci_nan_rule("auc_mean", "auc_ci_low", "auc_ci_high"),
    _unique_rule(ROBUSTNESS_KEY),
)  # fmt: skip
SCALING_RULES = _rules(
    _reason_of("slope", "reason"),
    ("intercept and r2 are NaN exactly when slope is",
     (("intercept", "r2", "slope"), lambda d: (d.intercept.isna() == d.slope.isna()) & (d.r2.isna() == d.slope.isna()))),
    ("a defined fit uses >= 3 models", (("n_models", "slope"), lambda d: d.slope.isna() | (d.n_models >= 3))),
    _ci_rule("slope", "slope_ci_low", "slope_ci_high"),
    _ci_nan_rule("slope", "slope_ci_low", "slope_ci_high"),
    _ci_rule("intercept", "intercept_ci_low", "intercept_ci_high"),
    _ci_nan_rule("intercept", "intercept_ci_low", "intercept_ci_high"),
    ("loo_slope_min <= loo_slope_max", (("loo_slope_min", "loo_slope_max"),
                                        lambda d: d.loo_slope_min.isna() | (d.loo_slope_min <= d.loo_slope_max))),
    ("a defined fit spans >= 2 sizes", (("n_sizes", "slope"), lambda d: d.slope.isna() | (d.n_sizes >= 2))),
    _unique_rule(SCALING_KEY),
)  # fmt: skip


def _text(nonempty: bool = True):
    return pa.Field(str_length={"min_value": 1}) if nonempty else pa.Field()


def _steps(nullable: bool = True):
    return pa.Field(ge=0, nullable=nullable)


def _unit(nullable: bool = True):
    return pa.Field(ge=0, le=1, nullable=nullable)


def _add_rules(namespace: dict, rules: dict[str, Rule]) -> None:
    """One dataframe check per cross-column rule, so each failing row is reported under its rule's name."""
    for i, name in enumerate(rules):
        namespace[f"rule_{i}"] = pa.dataframe_check(name=name)(_rule_check(rules, name))


class CurvesSchema(pa.DataFrameModel):
    """curves.csv: one row per (model, attack, judge, tasks, seed) rrr-over-steps curve."""

    model: Series[str] = _text()
    model_params: Series[int] = pa.Field(ge=1)
    attack: Series[str] = _text()
    judge: Series[str] = _text()
    tasks: Series[str] = pa.Field(isin=list(TASK_SETS))
    seed: Series[int] = pa.Field(ge=0)
    s50: Series[float] = _steps()
    s50_from: Series[float] = _steps()
    s50_to: Series[float] = _steps()
    s50_reason: Series[str] = _text(False)
    auc: Series[float] = _unit()

    class Config:
        strict = True
        ordered = True
        coerce = True

    _add_rules(vars(), CURVE_RULES)


class RobustnessSchema(pa.DataFrameModel):
    """robustness.csv: one row per (model, attack, judge, tasks), mean over seeds with a bootstrap 95% CI."""

    model: Series[str] = _text()
    model_params: Series[int] = pa.Field(ge=1)
    attack: Series[str] = _text()
    judge: Series[str] = _text()
    tasks: Series[str] = pa.Field(isin=list(TASK_SETS))
    n_seeds: Series[int] = pa.Field(ge=1)
    s50_mean: Series[float] = _steps()
    s50_ci_low: Series[float] = _steps()
    s50_ci_high: Series[float] = _steps()
    s50_reason: Series[str] = _text(False)
    auc_mean: Series[float] = _unit()
    auc_ci_low: Series[float] = _unit()
    auc_ci_high: Series[float] = _unit()

    class Config:
        strict = True
        ordered = True
        coerce = True

    _add_rules(vars(), ROBUSTNESS_RULES)


class ScalingSchema(pa.DataFrameModel):
    """scaling.csv: one row per (attack, judge, tasks, quantity), log10(quantity) = intercept + slope · log10(params)."""

    attack: Series[str] = _text()
    judge: Series[str] = _text()
    tasks: Series[str] = pa.Field(isin=list(TASK_SETS))
    quantity: Series[str] = pa.Field(isin=list(QUANTITIES))
    n_models: Series[int] = pa.Field(ge=0)
    n_sizes: Series[int] = pa.Field(ge=0)
    slope: Series[float] = pa.Field(nullable=True)
    slope_ci_low: Series[float] = pa.Field(nullable=True)
    slope_ci_high: Series[float] = pa.Field(nullable=True)
    intercept: Series[float] = pa.Field(nullable=True)
    intercept_ci_low: Series[float] = pa.Field(nullable=True)
    intercept_ci_high: Series[float] = pa.Field(nullable=True)
    r2: Series[float] = pa.Field(le=1, nullable=True)
    ci_method: Series[str] = _text()
    ols_ci_low: Series[float] = pa.Field(nullable=True)
    ols_ci_high: Series[float] = pa.Field(nullable=True)
    loo_slope_min: Series[float] = pa.Field(nullable=True)
    loo_slope_max: Series[float] = pa.Field(nullable=True)
    loo_slopes: Series[str] = _text(False)
    reason: Series[str] = _text(False)

    class Config:
        strict = True
        ordered = True
        coerce = True

    _add_rules(vars(), SCALING_RULES)


def _line(i: int) -> str:
    return str(i + 2)


def validate_curves(df: pd.DataFrame, file: str = "curves.csv") -> list[Failure]:
    return validate(df, CurvesSchema.to_schema(), file, CURVE_RULES, _line)


def validate_robustness(df: pd.DataFrame, file: str = "robustness.csv") -> list[Failure]:
    return validate(df, RobustnessSchema.to_schema(), file, ROBUSTNESS_RULES, _line)


def validate_scaling(df: pd.DataFrame, file: str = "scaling.csv") -> list[Failure]:
    return validate(df, ScalingSchema.to_schema(), file, SCALING_RULES, _line)


VALIDATORS = dict(zip(TABLES, (validate_curves, validate_robustness, validate_scaling), strict=True))


def read_table(path: str | Path) -> pd.DataFrame:
    """A scaling table as written: text columns as strings ("" for an empty reason), numbers NaN where empty."""
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        text = [c for c in header if c in TEXT_COLUMNS]
        return pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False,
                           na_values={c: ["", "nan", "NaN"] for c in header if c not in text})  # fmt: skip
    except FileNotFoundError:
        raise UserError("no such file", where=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"not a readable CSV ({str(exc).splitlines()[0]})", where=str(path)) from None


def _key_of(df: pd.DataFrame, file: str) -> tuple[str, ...]:
    name = Path(file).name
    if name in KEYS and set(KEYS[name]) <= set(df.columns):
        return KEYS[name]
    for key in KEYS.values():
        if set(key) <= set(df.columns):
            return key
    return ()


def _text_cell(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _num_cell(v: float) -> str:
    return "NaN" if math.isnan(v) else f"{v:.6g}"


def _as_written(values: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.{SIG_DIGITS}g}") for v in values], dtype=float)


def compare_tables(fresh: pd.DataFrame, recomputed: pd.DataFrame, file: str) -> list[Failure]:
    """Rows and values of `fresh` (a written table) that differ from `recomputed` beyond RTOL·|recomputed| + ATOL.

    Numbers are compared as the CSV holds them: both sides rounded to SIG_DIGITS significant digits first
    (rounding alone moves a value by up to 5e-6 relative, more than RTOL). Rows are matched on the table's key
    (by file name, else the first known key both frames have), else by position; `row` is the line in the
    written file. NaN equals NaN; text compares exactly ("" equals NaN).
    """
    rule = f"equals its recomputation from {GRID} (rtol {RTOL:g}, atol {ATOL:g})"
    if list(fresh.columns) != list(recomputed.columns):
        only_f = [c for c in fresh.columns if c not in recomputed.columns]
        only_r = [c for c in recomputed.columns if c not in fresh.columns]
        value = f"extra: {', '.join(only_f) or '-'}; missing: {', '.join(only_r) or '-'}"
        return [Failure(file, "-", "-", value if only_f or only_r else "same columns, other order", f"columns {rule}")]
    key = _key_of(fresh, file)
    f = fresh.reset_index(drop=True)
    r = recomputed.reset_index(drop=True)
    f_keys = [tuple(_text_cell(x) for x in t) for t in f[list(key)].itertuples(index=False)] if key else list(range(len(f)))
    r_keys = [tuple(_text_cell(x) for x in t) for t in r[list(key)].itertuples(index=False)] if key else list(range(len(r)))
    r_pos = {k: i for i, k in enumerate(r_keys)}
    f_pos = {k: i for i, k in enumerate(f_keys)}
    key_name = "+".join(key) if key else "row"
    out: list[Failure] = []
    for i, k in enumerate(f_keys):
        if k not in r_pos:
            out.append(Failure(file, key_name, _line(i), "/".join(map(str, k)) if key else str(k),
                               f"row not in the recomputation ({rule})"))  # fmt: skip
    for k in r_keys:
        if k not in f_pos:
            out.append(Failure(file, key_name, "-", "/".join(map(str, k)) if key else str(k),
                               f"recomputed row missing from the written table ({rule})"))  # fmt: skip
    pairs = [(i, r_pos[k]) for i, k in enumerate(f_keys) if k in r_pos]
    for col in fresh.columns:
        if col in key:
            continue
        a = f[col].iloc[[i for i, _ in pairs]].to_numpy()
        b = r[col].iloc[[j for _, j in pairs]].to_numpy()
        numeric = pd.api.types.is_numeric_dtype(f[col]) and pd.api.types.is_numeric_dtype(r[col])
        if numeric:
            a, b = _as_written(a.astype(float)), _as_written(b.astype(float))
            with np.errstate(invalid="ignore"):
                same = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= RTOL * np.abs(b) + ATOL)
            cells = [f"{_num_cell(x)} vs recomputed {_num_cell(y)}" for x, y in zip(a, b, strict=True)]
        else:
            same = np.array([_text_cell(x) == _text_cell(y) for x, y in zip(a, b, strict=True)], dtype=bool)
            cells = [f"{_text_cell(x)!r} vs recomputed {_text_cell(y)!r}" for x, y in zip(a, b, strict=True)]
        for (i, _), ok, cell in zip(pairs, same, cells, strict=True):
            if not ok:
                out.append(Failure(file, col, _line(i), cell, rule))
    return sort_failures(out)
