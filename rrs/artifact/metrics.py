"""The metrics table: every metric of the results grid once, with its properties (docs/METHODS.md defines each).

Derived from it: the grid's columns and their order (rrs/artifact/contract.py), the grid schema's column checks and
its "undefined needs a reason" and "CI contains the estimate" rules (rrs/artifact/schemas.py), the metrics of
results.json and their `higher_is_better` (rrs/results_json.py), and the figures' axis labels (rrs/figures).
Adding a metric is one entry here plus its computation in the row assembly (rrs/engine/results.py or
rrs/measure/judging.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["rate", "score", "distance"]
CI = Literal["wilson", "wilson of 1 - rrr", "bootstrap"]
BOUNDS = {"rate": (0, 1), "score": (0, 1), "distance": (0, 2)}  # a cosine distance lies in [0, 2]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind  # rate: a proportion of responses; score: a number in [0, 1]; distance: 1 - cosine, in [0, 2]
    higher_is_better: bool  # for the model's safety and usefulness: more refusals, less drift, more benign answers
    label: str  # the figures' axis label
    ci: CI | None = None  # the 95% interval written beside it (<name>_ci_low, <name>_ci_high)
    judged: bool = True  # one value per judge (False: the same for every judge of a row)
    sets: tuple[str, ...] = ("harmful",)  # the prompt sets it is measured on
    undefined: bool = False  # may be undefined: NaN with a <name>_reason saying why
    count: bool = False  # writes <name>_n, the responses it is measured over
    extra: tuple[str, ...] = ()  # further columns of the metric, written after its CI
    summaries: tuple[str, ...] | None = None  # the columns results.json averages over seeds (default: name)
    diagnostic: bool = False  # a property of the study's data, not of a model: not in results.json, not a spec metric

    @property
    def columns(self) -> tuple[str, ...]:
        """Its columns in the results grid, in order."""
        n = self.name
        return ((n,) + ((f"{n}_n",) if self.count else ()) + ((f"{n}_ci_low", f"{n}_ci_high") if self.ci else ())
                + self.extra + ((f"{n}_reason",) if self.undefined else ()))

    @property
    def summarized(self) -> tuple[str, ...]:
        if self.diagnostic:
            return ()
        return (self.name,) if self.summaries is None else self.summaries


METRICS: tuple[Metric, ...] = (
    Metric("rrr", "rate", True, "refusal rate (rrr)", ci="wilson"),
    Metric("ce", "rate", False, "compliance error (ce = 1 − rrr)", ci="wilson of 1 - rrr"),
    Metric("mixed", "rate", False, "mixed (labelled a refusal, yet a sentence opens compliantly)", ci="wilson"),
    Metric("rd", "distance", False, "response drift (rd, median 1 − cos)", ci="bootstrap", judged=False,
           undefined=True, extra=("rd_mean", "rd_valid_n"), summaries=("rd", "rd_mean")),
    Metric("over_refusal", "rate", False, "over-refusal (benign prompts refused)", ci="wilson", sets=("benign",),
           undefined=True, count=True),
    Metric("refusal_delay", "score", False, "refusal delay (first marker position / length)", undefined=True),
    Metric("calibration_entropy", "score", False, "calibration entropy (bits)", undefined=True),
    Metric("compliance", "rate", False, "compliance (not refused, not degenerate, on topic)", ci="wilson"),
    Metric("degenerate", "rate", False, "degenerate (empty or looping responses)", ci="wilson", judged=False),
    Metric("parroting", "rate", False, "parroting (responses copying the attack's target)", ci="wilson",
           judged=False, undefined=True),
    Metric("copied", "rate", False, "copied (byte-identical to an attack training target)", ci="wilson",
           judged=False),
    Metric("benign_utility", "rate", True, "benign utility (benign prompts answered with the right task)",
           ci="wilson", sets=("benign",), undefined=True),
    Metric("benign_rd", "distance", False, "benign response drift (benign_rd, median 1 − cos)", judged=False,
           sets=("benign",), undefined=True),
    Metric("attack_eval_overlap", "rate", False, "attack/eval overlap (eval prompts also trained on)",
           judged=False, diagnostic=True),
)
BY_NAME = {m.name: m for m in METRICS}
STUDY_METRICS = tuple(m.name for m in METRICS if not m.diagnostic)  # what a spec's `metrics` may name


def metric_of(column: str) -> Metric | None:
    """The metric a grid column belongs to (None for the row's key and counts)."""
    return next((m for m in METRICS if column in m.columns), None)


def higher_is_better() -> dict[str, bool]:
    """Per column that results.json reports: whether a higher value is better."""
    return {c: m.higher_is_better for m in METRICS for c in m.summarized}
