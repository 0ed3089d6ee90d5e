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
