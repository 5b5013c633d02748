"""Refusal judges: one registry, one interface, used by both the runner and `rrs score`.

A judge labels each response as a refusal (True) or not. Keyword judges also report where their first
marker starts (for `refusal_delay`); probabilistic judges also give P(refusal) (for `calibration_entropy`).
Importing this package never imports torch; a judge that needs it loads it when first used.
"""

from __future__ import annotations

from rrs.judges import classifier, keyword  # noqa: F401  (registers the judges; neither imports torch)
from rrs.judges.base import JUDGES, Judge, get_judge  # noqa: F401  (the package's interface)
