"""Confidence intervals: percentile bootstrap via scipy, at the level the data was drawn.

Across seeds when a grid has several (each seed's run is one draw of the training process);
across samples when there is one seed, which describes sampling noise only and says nothing
about seed-to-seed variation. Callers record which level they used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

N_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int  # number of units the interval was drawn over

    def fmt(self, digits: int = 2) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _bootstrap(data: tuple[np.ndarray, ...], statistic, seed: int) -> tuple[float, float]:
    if any(len(d) < 2 for d in data) or all(np.ptp(d) == 0 for d in data):
        point = float(statistic(*data))
        return point, point  # nothing to resample: the interval collapses to the point
    res = stats.bootstrap(data, statistic, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE,
                          method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean_ci(values, seed: int = 0) -> Estimate:
    """Mean with a 95% percentile-bootstrap interval."""
    x = np.asarray(values, dtype=float)
    low, high = _bootstrap((x,), lambda a, axis=-1: np.mean(a, axis=axis), seed)
    return Estimate(float(x.mean()), low, high, len(x))


def diff_ci(a, b, seed: int = 0) -> Estimate:
    """mean(a) - mean(b), the two groups resampled independently."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    low, high = _bootstrap((x, y), lambda p, q, axis=-1: np.mean(p, axis=axis) - np.mean(q, axis=axis), seed)
    return Estimate(float(x.mean() - y.mean()), low, high, min(len(x), len(y)))


@dataclass(frozen=True)
class Correlation:
    pearson: Estimate  # r with a Fisher-z 95% interval (needs n >= 4)
    spearman: Estimate  # rho with a 95% percentile-bootstrap interval over points
    n: int


def correlation(x, y, seed: int = 0) -> Correlation | None:
    """Pearson and Spearman correlation of paired values, with 95% intervals; None under 3 points or
    when either side is constant (the correlation is undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    pr = stats.pearsonr(x, y)
    low, high = pr.confidence_interval(CONFIDENCE) if n >= 4 else (-1.0, 1.0)
    rho = stats.spearmanr(x, y).statistic

    def spearman(a, b, axis=-1):
        ranks_a, ranks_b = stats.rankdata(a, axis=axis), stats.rankdata(b, axis=axis)
        ranks_a = ranks_a - ranks_a.mean(axis=axis, keepdims=True)
        ranks_b = ranks_b - ranks_b.mean(axis=axis, keepdims=True)
        denom = np.sqrt((ranks_a ** 2).sum(axis=axis) * (ranks_b ** 2).sum(axis=axis))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, (ranks_a * ranks_b).sum(axis=axis) / denom, 0.0)

    boot = stats.bootstrap((x, y), spearman, paired=True, vectorized=True, n_resamples=N_RESAMPLES,
                           confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(seed))
    return Correlation(Estimate(float(pr.statistic), float(low), float(high), n),
                       Estimate(float(rho), float(boot.confidence_interval.low), float(boot.confidence_interval.high), n),
                       n)
