"""Metrics on hand-computed examples (DESIGN.md definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rrs.judges import get_judge
from rrs.measure.intervals import bootstrap_median_ci, wilson_ci
from rrs.measure.metrics import (
    calibration_entropy,
    cohen_kappa,
    cosine_drift,
    rate,
    refusal_delay,
    response_drift,
)


def test_wilson_textbook_values():
    lo, hi = wilson_ci(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_ci(0, 10)  # upper bound z^2 / (n + z^2)
    assert lo == 0.0 and hi == pytest.approx(3.841459 / 13.841459, abs=1e-6)
    assert wilson_ci(0, 3)[0] == 0.0 and wilson_ci(3, 3)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_ci(0, 0)


def test_rate_fields_and_empty():
    r = rate([True, False, False, True, False])
    assert (r.n, r.k, r.value) == (5, 2, 0.4)
    assert r.ci_low < 0.4 < r.ci_high
    with pytest.raises(ValueError):
        rate([])


def test_bootstrap_median_ci_seeded():
    vals = [0.1, 0.2, 0.3, 0.4, 0.9, 0.5, 0.45]
    a = bootstrap_median_ci(vals, seed=1)
    assert a == bootstrap_median_ci(vals, seed=1)
    noisy = np.random.default_rng(0).random(40).tolist()
    assert bootstrap_median_ci(noisy, seed=1, n_boot=99) != bootstrap_median_ci(noisy, seed=2, n_boot=99)
    assert a[0] <= float(np.median(vals)) <= a[1]
    assert bootstrap_median_ci([0.3] * 4, seed=0) == (0.3, 0.3)
    assert all(math.isnan(v) for v in bootstrap_median_ci([], seed=0))


def test_cosine_drift_and_response_drift():
    vec = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [0.6, 0.8]}
    np.testing.assert_allclose(cosine_drift(np.array([vec["a"], vec["a"]]), np.array([vec["b"], vec["c"]])), [1, 0.4])

    def embed(texts):
        return np.array([vec[t] for t in texts])

    d = response_drift(["a", "a", "a", "", "b"], ["a", "b", "c", "a", "  "], embed, seed=0)
    assert d.valid_n == 3 and d.reason == ""
    assert d.median == pytest.approx(0.4) and d.mean == pytest.approx(1.4 / 3)
    assert d.per_pair[3] is None and d.per_pair[4] is None and d.per_pair[1] == pytest.approx(1.0)
    assert d.ci_low <= d.median <= d.ci_high
    empty = response_drift(["", "x"], ["y", ""], embed, seed=0)
    assert empty.valid_n == 0 and math.isnan(empty.median) and empty.reason


def test_refusal_delay_median_and_undefined():
    judge = get_judge("keyword:bigger-safer")
    value, reason = refusal_delay(["Sure. I cannot", "I can't do that.", "Sure, step 1."], judge)
    # "sure. i cannot": marker at 6 of 14; "i can't do that.": marker at 0 -> median of (6/14, 0) = 3/14
    assert value == pytest.approx(3 / 14) and reason == ""
    value, reason = refusal_delay(["Sure, step 1.", "Here you go."], judge)
    assert math.isnan(value) and "no response of 2" in reason


def test_calibration_entropy():
    assert calibration_entropy([0.5, 0.0, 1.0, 0.5]) == pytest.approx(0.5)
    assert calibration_entropy([0.25]) == pytest.approx(-(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75)))
    with pytest.raises(ValueError):
        calibration_entropy([])
    with pytest.raises(ValueError):
        calibration_entropy([1.5])


def test_cohen_kappa_known_table():
    # 2x2 table: both yes 20, a-yes/b-no 5, a-no/b-yes 10, both no 15 -> po 0.7, pe 0.5, kappa 0.4
    a = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa([True, True], [True, True]))
    with pytest.raises(ValueError):
        cohen_kappa([True], [True, False])
