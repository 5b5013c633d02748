"""pandera schemas of every table rrs writes or reads, and the failures they find as (file, column, row, value, rule).

Tables: the results grid (GridSchema), the per-sample JSONL files (SampleSchema) and a spec's references
(ReferenceSchema). Beyond types and ranges, GridSchema checks the rules the original study broke: ce == 1 - rrr,
CIs that contain their estimate (and are the Wilson interval for rrr), rd_valid_n <= n, rd == 0 at steps 0, a
reason beside every undefined metric, no duplicate (model, attack, steps, seed, judge). Validation is lazy: every
failure is collected, none is raised. Equalities allow ATOL for the CSV's 6 significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rrs.artifact.contract import GRID, GRID_KEY, NUMERIC_COLUMNS, TASK_SETS, TEXT_COLUMNS
from rrs.artifact.failures import Failure, sort_failures
from rrs.artifact.metrics import BOUNDS, METRICS
from rrs.artifact.refspec import Reference
from rrs.errors import UserError
from rrs.measure.intervals import wilson

ATOL = 1e-5
UNDEFINABLE = tuple(m.name for m in METRICS if m.undefined)
WITH_CI = tuple(m.name for m in METRICS if m.ci)
Rule = tuple[tuple[str, ...], Callable[[pd.DataFrame], pd.Series]]


def _close(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a - b).abs() <= ATOL


def _contains(lo: pd.Series, x: pd.Series, hi: pd.Series) -> pd.Series:
    """CI [lo, hi] contains x; an undefined estimate (NaN) passes, a defined one needs a defined CI."""
    return x.isna() | ((lo <= x + ATOL) & (x <= hi + ATOL))


def _reason_rule(m: str) -> Rule:
    return (m, f"{m}_reason"), lambda d: d[m].isna() == (d[f"{m}_reason"].fillna("").str.strip() != "")


def _ci_rule(m: str) -> Rule:
    return (m, f"{m}_ci_low", f"{m}_ci_high"), lambda d: _contains(d[f"{m}_ci_low"], d[m], d[f"{m}_ci_high"])


GRID_RULES: dict[str, Rule] = {
    "refusals <= n": (("refusals", "n"), lambda d: d.refusals <= d.n),
    "rrr == refusals / n": (("rrr", "refusals", "n"), lambda d: _close(d.rrr, d.refusals / d.n)),
    # Wilson's at n, or (responses clustered by task) at the smaller effective n: never narrower than Wilson's at n
    "rrr CI contains Wilson 95% of (refusals, n)": (
        ("rrr_ci_low", "rrr_ci_high", "refusals", "n"),
        lambda d: (d.rrr_ci_low <= wilson(d.refusals, d.n)[0] + ATOL) & (d.rrr_ci_high >= wilson(d.refusals, d.n)[1] - ATOL),
    ),
    "ce == 1 - rrr (same judge)": (("ce", "rrr"), lambda d: _close(d.ce, 1 - d.rrr)),
    "ce CI == (1 - rrr_ci_high, 1 - rrr_ci_low)": (
        ("ce_ci_low", "ce_ci_high", "rrr_ci_low", "rrr_ci_high"),
        lambda d: _close(d.ce_ci_low, 1 - d.rrr_ci_high) & _close(d.ce_ci_high, 1 - d.rrr_ci_low),
    ),
    "rd_valid_n <= n": (("rd_valid_n", "n"), lambda d: d.rd_valid_n <= d.n),
    "rd == 0 at steps 0": (("rd", "steps", "rd_reason"),
                           lambda d: (d.steps != 0) | (d.rd.abs() <= ATOL) | (d.rd.isna() & (d.rd_reason != ""))),
    **{f"{m} is NaN exactly when {m}_reason is given": _reason_rule(m) for m in UNDEFINABLE},
    **{f"{m} CI contains {m}": _ci_rule(m) for m in WITH_CI},
    "compliance <= 1 - rrr (a refusal is never compliance)": (
        ("compliance", "rrr"), lambda d: d.compliance <= 1 - d.rrr + ATOL),
    "benign_rd == 0 at steps 0": (("benign_rd", "steps", "benign_rd_reason"),
                                  lambda d: (d.steps != 0) | (d.benign_rd.abs() <= ATOL) | d.benign_rd.isna()),
}


def _apply(rules: dict[str, Rule], name: str, df: pd.DataFrame) -> pd.Series:
    cols, fn = rules[name]
    if not set(cols) <= set(df.columns):  # a missing column is reported once, by the column check
        return pd.Series(True, index=df.index)
    try:
        return fn(df).fillna(False).astype(bool)
    except (TypeError, ValueError):  # a column of the wrong type is reported by its dtype check
        return pd.Series(True, index=df.index)


def _rule_check(rules: dict[str, Rule], name: str) -> Callable:
    def check(cls, df: pd.DataFrame) -> pd.Series:
        return _apply(rules, name, df)

    return check


def _metric_fields() -> dict[str, tuple[type, pa.Field]]:
    """(type, pandera field) of every metric column: counts are integers >= 0, reasons text, values within the
    metric kind's bounds (nullable where the metric may be undefined)."""
    fields = {}
    for m in METRICS:
        lo, hi = BOUNDS[m.kind]
        for col in m.columns:
            if col.endswith("_reason"):
                fields[col] = (str, pa.Field())
            elif col.endswith("_n"):
                fields[col] = (int, pa.Field(ge=0))
            else:
                fields[col] = (float, pa.Field(ge=lo, le=hi, nullable=m.undefined))
    return fields


class GridSchema(pa.DataFrameModel):
    """The results grid: one row per model × attack × steps × seed × judge (its columns: rrs/artifact/contract.py)."""

    model: Series[str] = pa.Field(str_length={"min_value": 1})
    model_kind: Series[str] = pa.Field(isin=["organism", "hf"])
    model_params: Series[int] = pa.Field(ge=1)
    attack: Series[str] = pa.Field(str_length={"min_value": 1})
    steps: Series[int] = pa.Field(ge=0)
    seed: Series[int] = pa.Field(ge=0)
    judge: Series[str] = pa.Field(str_length={"min_value": 1})
    tasks: Series[str] = pa.Field(isin=list(TASK_SETS))
    n: Series[int] = pa.Field(ge=1)
    refusals: Series[int] = pa.Field(ge=0)
    # every metric's columns, typed and bounded from the metrics table (rrs/artifact/metrics.py)
    for _column, (_type, _field) in _metric_fields().items():
        __annotations__[_column] = Series[_type]
        vars()[_column] = _field
    del _column, _type, _field

    class Config:
        strict = True
        ordered = True
        coerce = True
        unique = list(GRID_KEY)

    # one element-wise dataframe check per cross-column rule, so each failing row is reported under its rule
    for _i, _name in enumerate(GRID_RULES):
        vars()[f"rule_{_i}"] = pa.dataframe_check(name=_name)(_rule_check(GRID_RULES, _name))
    del _i, _name


SAMPLE_RULES: dict[str, Rule] = {
    "rd is null for benign rows": (("set", "rd"), lambda d: (d["set"] != "benign") | d["rd"].isna()),
}


class SampleSchema(pa.DataFrameModel):
    """One line of samples/<model>/<attack>/seed<seed>/steps<steps>.jsonl."""

    set: Series[str] = pa.Field(isin=["harmful", "benign"])
    id: Series[str] = pa.Field(coerce=True)
    category: Series[str] = pa.Field(coerce=True, nullable=True)
    prompt: Series[str]
    response: Series[str]
    rd: Series[float] = pa.Field(ge=0, le=2, nullable=True, coerce=True)
    degenerate: Series[bool]
    on_topic: Series[pd.BooleanDtype] = pa.Field(nullable=True, coerce=True)
    parroting: Series[pd.BooleanDtype] = pa.Field(nullable=True, coerce=True)
    task: Series[str] = pa.Field(nullable=True, coerce=True)  # what the prompt asks for, where known
    task_seen: Series[pd.BooleanDtype] = pa.Field(nullable=True, coerce=True)  # its task is in the training data
    complies: Series[bool]  # a sentence opens compliantly (rrs/measure/quality.py): with a refusal label, mixed
    copied: Series[bool]  # byte-identical to an attack training target
    refusal: Series[bool] = pa.Field(alias=r"^refusal:.+$", regex=True)
    p_refusal: Series[float] = pa.Field(alias=r"^p_refusal:.+$", regex=True, ge=0, le=1, required=False)

    class Config:
        strict = True

    benign_rd = pa.dataframe_check(name="rd is null for benign rows")(
        _rule_check(SAMPLE_RULES, "rd is null for benign rows")
    )


class ReferenceSchema(pa.DataFrameModel):
    """A spec's references as a table (one row per reference)."""

    metric: Series[str] = pa.Field(isin=list(NUMERIC_COLUMNS))
    model: Series[str] = pa.Field(nullable=True)
    model_params: Series[float] = pa.Field(nullable=True, ge=1)
    attack: Series[str] = pa.Field(nullable=True)
    steps: Series[float] = pa.Field(nullable=True, ge=0)
    seed: Series[float] = pa.Field(nullable=True, ge=0)
    judge: Series[str] = pa.Field(nullable=True)
    tasks: Series[str] = pa.Field(nullable=True)
    value: Series[float] = pa.Field(nullable=False)
    tolerance: Series[float] = pa.Field(ge=0)
    aggregate: Series[str] = pa.Field(isin=["mean", "only"])
    source: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check(name="value is finite")
    def _finite(cls, df: pd.DataFrame) -> pd.Series:
        return np.isfinite(df["value"].astype(float))


# ---------------------------------------------------------------- reading


def read_grid(path: str | Path) -> pd.DataFrame:
    """The results grid with text columns as strings ("" for an empty reason) and numbers parsed, NaN where empty."""
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        text = [c for c in header if c in TEXT_COLUMNS]
        return pd.read_csv(
            path,
            dtype={c: str for c in text},
            keep_default_na=False,
            na_values={c: ["", "nan", "NaN"] for c in header if c not in text},
        )
    except FileNotFoundError:
        raise UserError("no such file", where=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"not a readable CSV ({str(exc).splitlines()[0]})", where=str(path)) from None


def references_frame(refs: list[Reference]) -> pd.DataFrame:
    rows = [{"metric": r.metric, **r.select.model_dump(), "value": r.value, "tolerance": r.tolerance,
             "aggregate": r.aggregate, "source": r.source} for r in refs]  # fmt: skip
    cols = ["metric", "model", "model_params", "attack", "steps", "seed", "judge", "tasks", "value", "tolerance", "aggregate", "source"]
    return pd.DataFrame(rows, columns=cols).astype({"steps": float, "seed": float, "model_params": float})


# ---------------------------------------------------------------- validation → failure rows

_OPS = {
    "greater_than_or_equal_to": ">=",
    "less_than_or_equal_to": "<=",
    "greater_than": ">",
    "less_than": "<",
    "isin": "in",
    "str_length": "length",
}


def _pretty_check(column: str, check: str) -> str:
    name, _, arg = check.partition("(")
    if name in _OPS:
        return f"{column} {_OPS[name]} {arg.rstrip(')')}"
    return {
        "column_in_dataframe": "missing column (the contract requires it)",
        "column_in_schema": "unexpected column (not in the contract)",
        "column_ordered": "columns are not in the contract's order",
        "not_nullable": "value required (empty/NaN)",
        "coerce_dtype": f"{column} has type {arg.rstrip(')').strip(chr(39))}",
        "dtype": f"{column} has type {arg.rstrip(')').strip(chr(39))}",
        "multiple_fields_uniqueness": f"no duplicate ({', '.join(GRID_KEY)})",
    }.get(name, check)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def validate(
    df: pd.DataFrame, schema: pa.DataFrameSchema, file: str, rules: dict[str, Rule], row_of: Callable[[int], str]
) -> list[Failure]:
    """Every failure of `df` against `schema`, one Failure per (row, rule) for cross-column rules."""
    try:
        schema.validate(df, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    except pa.errors.SchemaError as err:  # raised even in lazy mode for some whole-frame errors
        return [Failure(file, "-", "-", "-", str(err).splitlines()[0])]
    out: set[Failure] = set()
    for case in cases.itertuples(index=False):
        idx = case.index
        row = "-" if idx is None or (isinstance(idx, float) and math.isnan(idx)) else row_of(int(idx))
        check = str(case.check)
        if row == "-" and str(case.failure_case).startswith("TypeError("):
            continue  # a range check that could not run on a column of the wrong type: reported as a type failure
        if check in rules:
            cols = rules[check][0]
            value = ", ".join(f"{c}={_cell(df.at[int(idx), c])}" for c in cols) if row != "-" else "-"
            out.add(Failure(file, cols[0], row, value, check))
        elif check.startswith("multiple_fields_uniqueness"):
            if not set(GRID_KEY) <= set(df.columns):  # uniqueness over a partial key is noise
                continue
            value = "/".join(_cell(df.at[int(idx), c]) for c in GRID_KEY if c in df.columns) if row != "-" else "-"
            out.add(Failure(file, "+".join(GRID_KEY), row, value, _pretty_check("", check)))
        elif check in ("column_in_dataframe", "column_in_schema"):
            out.add(Failure(file, str(case.failure_case), "-", "-", _pretty_check("", check)))
        else:
            column = str(case.column) if case.column is not None else "-"
            out.add(Failure(file, column, row, _cell(case.failure_case), _pretty_check(column, check)))
    return sort_failures(out)


def validate_grid(df: pd.DataFrame, file: str = GRID) -> list[Failure]:
    return validate(df, GridSchema.to_schema(), file, GRID_RULES, lambda i: str(i + 2))


def validate_references(refs: list[Reference], file: str = "spec.resolved.yaml") -> list[Failure]:
    frame = references_frame(refs)
    return validate(frame, ReferenceSchema.to_schema(), f"{file} (references)", {}, lambda i: f"references[{i}]")


def validate_samples(df: pd.DataFrame, origins: list[tuple[str, int]]) -> list[Failure]:
    """Samples of every file at once; `origins[i]` is (file, line) of row i. Failures name their own file."""
    if df.empty:
        return []
    found = validate(df, SampleSchema.to_schema(), "\0", SAMPLE_RULES, lambda i: f"{i}")
    out = []
    for f in found:
        if f.row.isdigit():
            file, line = origins[int(f.row)]
            out.append(Failure(file, f.column, str(line), f.value, f.rule))
        else:
            out.append(Failure("samples/*.jsonl", f.column, f.row, f.value, f.rule))
    return sort_failures(out)
