"""Spec entries for published reference numbers and machine-checkable claims (pydantic only)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rrs.registry import did_you_mean

# results_grid.csv columns, in the contract's order (docs: /work/helpers/contracts.md, DESIGN.md "Metrics")
GRID_KEY = ("model", "attack", "steps", "seed", "judge")
GRID_COLUMNS = (
    "model", "model_kind", "model_params", "attack", "steps", "seed", "judge",
    "n", "refusals", "rrr", "rrr_ci_low", "rrr_ci_high", "ce", "ce_ci_low", "ce_ci_high",
    "rd", "rd_ci_low", "rd_ci_high", "rd_mean", "rd_valid_n", "rd_reason",
    "over_refusal", "over_refusal_n", "over_refusal_ci_low", "over_refusal_ci_high", "over_refusal_reason",
    "refusal_delay", "refusal_delay_reason", "calibration_entropy", "calibration_entropy_reason",
    "attack_eval_overlap",
)  # fmt: skip
TEXT_COLUMNS = ("model", "model_kind", "attack", "judge") + tuple(c for c in GRID_COLUMNS if c.endswith("_reason"))
NUMERIC_COLUMNS = tuple(c for c in GRID_COLUMNS if c not in TEXT_COLUMNS)
Factor = Literal["model", "model_kind", "model_params", "attack", "steps", "seed", "judge"]


def _known_metric(name: str) -> str:
    if name not in NUMERIC_COLUMNS:
        raise ValueError(
            f"unknown metric {name!r}: not a numeric column of results_grid.csv.{did_you_mean(name, NUMERIC_COLUMNS)}"
        )
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selector(_Strict):
    """Rows of results_grid.csv a reference or claim is about; a missing key means "any"."""

    model: str | None = None
    attack: str | None = None
    steps: int | None = None
    seed: int | None = None
    judge: str | None = None


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


ClaimCheck = Annotated[ThresholdClaim | MonotoneClaim | VarianceClaim, Field(discriminator="kind")]


class Claim(_Strict):
    id: str
    text: str
    check: ClaimCheck
