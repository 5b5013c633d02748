"""Spec entries for published reference numbers and machine-checkable claims (pydantic only)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rrs.artifact.contract import GRID, NUMERIC_COLUMNS
from rrs.registry import did_you_mean

Factor = Literal["model", "model_kind", "model_params", "attack", "steps", "seed", "judge"]


def _known_metric(name: str) -> str:
    if name not in NUMERIC_COLUMNS:
        raise ValueError(
            f"unknown metric {name!r}: not a numeric column of {GRID}.{did_you_mean(name, NUMERIC_COLUMNS)}"
        )
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # a spec's finiteness: rrs.spec


class Selector(_Strict):
    """Rows of the results grid a reference or claim is about; a missing key means "any", except `tasks`: the rows
    measured on all eval tasks unless it names `seen` or `unseen` (a study that splits its tasks, data.corpus)."""

    model: str | None = None
    model_params: int | None = Field(None, description="every model of this size (several organisms may share one)")
    attack: str | None = None
    steps: int | None = None
    seed: int | None = None
    judge: str | None = None
    tasks: Literal["all", "seen", "unseen"] = "all"


class Reference(_Strict):
    metric: str
    select: Selector
    value: float
    tolerance: float = Field(ge=0)
    aggregate: Literal["mean", "only"] = Field("mean", description="mean over the selected rows, or exactly one row")
    source: str = Field(min_length=1, description="paper/table/commit the number comes from, and any definition caveat")
    comparable: bool = Field(
        True, description="false: the published number used another definition, judge or decoding than the spec; it "
        "is reported beside the fresh value but never fails a check (the source says why)")

    metric_is_known = field_validator("metric")(_known_metric)


class ThresholdClaim(_Strict):
    kind: Literal["threshold"]
    metric: str
    select: Selector = Selector()
    at_steps: Literal["max", "min"] | None = Field(None, description="restrict to the largest/smallest step")
    op: Literal["<=", ">=", "<", ">"]
    value: float
    over: Literal["every_model", "every_row"] = Field(
        "every_model",
        description="every_model: each (model, attack, judge, steps) mean over seeds; every_row: each row",
    )

    metric_is_known = field_validator("metric")(_known_metric)


class MonotoneClaim(_Strict):
    kind: Literal["monotone"]
    metric: str
    direction: Literal["non_increasing", "non_decreasing"]
    select: Selector = Selector()
    tolerance: float = Field(0.0, ge=0, description="largest step against the direction allowed (mean over seeds)")

    metric_is_known = field_validator("metric")(_known_metric)


class VarianceClaim(_Strict):
    kind: Literal["variance"]
    metric: str
    larger: Factor = Field(description="factor expected to explain more variance (eta squared), e.g. steps")
    smaller: Factor = Field(description="e.g. model_params")
    select: Selector = Selector()

    metric_is_known = field_validator("metric")(_known_metric)


class ChangeClaim(_Strict):
    """What the attack cost: (metric at each attack's largest step) − (at its smallest step), per model × attack ×
    judge, means over seeds; e.g. benign_utility change >= -0.1 ("within 10 points of the unattacked model")."""

    kind: Literal["change"]
    metric: str
    select: Selector = Selector()
    op: Literal["<=", ">=", "<", ">"]
    value: float

    metric_is_known = field_validator("metric")(_known_metric)


class CurveSelector(_Strict):
    """The robustness curves a fitted quantity is about (rrs/measure/scaling.py); a missing key means "any", except
    `tasks` (default: all eval tasks)."""

    attack: str | None = None
    judge: str | None = None
    tasks: Literal["all", "seen", "unseen"] = "all"


class FitClaim(_Strict):
    """A field of the log–log fit of a robustness quantity on parameter count (scaling.csv), e.g. slope <= 0.5 or
    slope_ci_low > 0 ("the slope's CI excludes 0"); every selected (attack, judge) fit must satisfy it."""

    kind: Literal["fit"]
    quantity: Literal["s50", "auc"]
    field: Literal["slope", "slope_ci_low", "slope_ci_high", "intercept", "r2", "ols_ci_low", "ols_ci_high",
                   "loo_slope_min", "loo_slope_max"]
    select: CurveSelector = CurveSelector()
    op: Literal["<=", ">=", "<", ">"]
    value: float


class SizeRatioClaim(_Strict):
    """mean quantity of the largest size / that of the smallest (robustness.csv; a size's mean is over its models),
    e.g. s50 ratio < 3."""

    kind: Literal["size_ratio"]
    quantity: Literal["s50", "auc"]
    select: CurveSelector = CurveSelector()
    op: Literal["<=", ">=", "<", ">"]
    value: float


ClaimCheck = Annotated[ThresholdClaim | MonotoneClaim | VarianceClaim | ChangeClaim | FitClaim | SizeRatioClaim,
                       Field(discriminator="kind")]


class Claim(_Strict):
    id: str
    text: str
    falsifier: str | None = Field(None, min_length=1, description="in one line: what result would make the claim "
                                  "false (the shipped specs' claims each have one, and a test that feeds the claim "
                                  "such data and sees it fail: tests/test_claim_falsifiers.py)")
    check: ClaimCheck | list[ClaimCheck] = Field(description="one check, or a list that must all hold")

    @property
    def checks(self) -> list:
        return self.check if isinstance(self.check, list) else [self.check]
