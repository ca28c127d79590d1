"""Paired significance of two methods on the same videos: McNemar and a paired bootstrap.

Both take per-video correctness of methods A and B on one evaluation set, aligned so that
position i is the same video for both (see :func:`biasbench.reports.compare.paired_correctness`).

- McNemar looks only at the discordant videos: ``only_a`` (A right, B wrong) and ``only_b``.
  Under the null hypothesis (equal accuracy) each discordant video is a fair coin. With fewer
  than ``exact_below`` (25) discordant videos the exact two-sided binomial test is used
  (``p = min(1, 2 * P[X <= min(only_a, only_b)])``, X ~ Bin(only_a + only_b, 1/2)); otherwise
  the chi-square statistic with continuity correction ``(|only_a - only_b| - 1)^2 /
  (only_a + only_b)`` on one degree of freedom.
- The bootstrap resamples videos with replacement and reports the percentile interval of
  the accuracy difference B - A (percentage points). The per-video difference takes few
  distinct values (-1, 0, 1 for one seed), so a resample's mean depends only on how often
  each value is drawn: those counts are drawn from a multinomial, which is the same
  distribution as resampling indices and costs O(n_boot) instead of O(n_boot x N). Seeded
  with ``numpy.random.default_rng(seed)``: the same inputs and seed give the same interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemarResult:
    """Discordant counts, the statistic, the two-sided p-value, and which test gave it."""

    only_a: int
    only_b: int
    statistic: float
    p_value: float
    method: str  # "exact" (binomial) or "chi2-cc" (chi-square, continuity-corrected)


@dataclass(frozen=True)
class BootstrapResult:
    """Accuracy difference B - A in points with its percentile confidence interval."""

    diff: float
    low: float
    high: float
    level: float
    n_boot: int
    seed: int


def mcnemar(
    correct_a: np.ndarray, correct_b: np.ndarray, exact_below: int = EXACT_BELOW
) -> McNemarResult:
    """McNemar's test on paired boolean correctness (exact for few discordant pairs)."""
    a, b = _paired(correct_a, correct_b)
    a, b = a.astype(bool), b.astype(bool)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    n = only_a + only_b
    if n == 0:
        return McNemarResult(0, 0, 0.0, 1.0, "exact")
    if n < exact_below:
        k = min(only_a, only_b)
        p = min(1.0, 2.0 * float(stats.binom.cdf(k, n, 0.5)))
        return McNemarResult(only_a, only_b, float(k), p, "exact")
    stat = (abs(only_a - only_b) - 1.0) ** 2 / n
    return McNemarResult(only_a, only_b, stat, float(stats.chi2.sf(stat, 1)), "chi2-cc")


def paired_bootstrap(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile bootstrap CI of mean(B) - mean(A) in points, resampling videos.

    Inputs are per-video correctness (bool) or per-video mean correctness in [0, 1].
    """
    a, b = _paired(correct_a, correct_b)
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if a.size == 0:
        nan = float("nan")
        return BootstrapResult(nan, nan, nan, level, n_boot, seed)
    d = b.astype(float) - a.astype(float)
    values, counts = np.unique(d, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(d.size, counts / d.size, size=n_boot)  # [n_boot, distinct]
    means = 100.0 * (draws @ values) / d.size
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return BootstrapResult(100.0 * float(d.mean()), float(low), float(high), level, n_boot, seed)


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired inputs differ in length: {a.size} vs {b.size}")
    return a, b


def format_p(p: float) -> str:
    """p-values as papers print them: 3 significant digits, ``<1e-4`` below that."""
    if math.isnan(p):
        return "–"
    return "<1e-4" if p < 1e-4 else f"{p:.3g}"
