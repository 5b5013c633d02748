"""Intervals, with their constants in one place: the Wilson score interval of a proportion, the seeded percentile
bootstrap of a median, and the Student-t interval of a mean over seeds. numpy only.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: two-sided 95% intervals
CI_LEVEL = 95.0  # percent, for every interval rrs writes
N_BOOT = 2000  # bootstrap resamples, for the drift's CI and the scaling tables' CIs

# two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30 (scipy.stats.t.ppf, 6 decimals)
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)


def wilson_ci(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (n > 0; both may be effective, non-integer counts)."""
    if n <= 0:
        raise ValueError("wilson_ci needs n > 0")
    if not 0 <= k <= n:
        raise ValueError(f"wilson_ci needs 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact bounds at the ends (no 1e-17 rounding residue)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def wilson(k, n, z: float = Z95):
    """Wilson score interval of k successes in n trials (vectorised)."""
    p = k / n
    denom = 1 + z**2 / n
    center = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return center - half, center + half


def bootstrap_median_ci(values, seed: int, n_boot: int = N_BOOT, level: float = CI_LEVEL / 100) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median: n_boot resamples with replacement drawn from default_rng(seed).

    Empty input gives (nan, nan). Resamples are drawn in chunks of whole rows, so memory stays bounded and the
    result depends only on (values, seed, n_boot, level).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_boot, 2_000_000 // x.size))
    medians = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        medians[start:stop] = np.median(x[idx], axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def t975(df: int) -> float:
    """t(0.975, df): a table up to 30, then the Cornish-Fisher expansion (error < 1e-5)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = Z95
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def mean_ci(values: np.typing.ArrayLike) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite values; a 95% t-interval, degenerate (low = high = mean) for n < 2."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, m, m, n
    half = t975(n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half, n
