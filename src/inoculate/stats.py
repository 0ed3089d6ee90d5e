"""Confidence intervals.

Trait rates and differences between arms come from a table of cell means, one row per training
seed and one column per evaluation prompt (the samples of one prompt are correlated, so the
prompt is the unit; with several seeds the seed is the first unit). Their variance is the one of
a crossed seeds x prompts design (two-way random-effects ANOVA), with Satterthwaite degrees of
freedom. A rate's interval is a Wilson score interval on the effective sample size that variance
implies (design effect >= 1), with the t quantile: unlike a percentile bootstrap it does not
collapse at 0 or 1 (0 of 32 prompts gives [0, 0.11]). A difference between two arms, paired by
prompt and seed, combines the two rates' intervals by the MOVER method (Newcombe's hybrid score
interval) with their estimated correlation, so it stays honest near 0 and 1 too.
tests/test_stats.py checks the coverage of both by simulation.

Other estimates (surprise reduction per example, correlations) use the percentile bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
from scipy import special, stats

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


def _quantile(df: float) -> float:
    """The two-sided t quantile (normal for infinite df); scipy.special's, ~100x faster than stats.t."""
    q = 0.5 + CONFIDENCE / 2
    return float(special.ndtri(q) if math.isinf(df) else special.stdtrit(df, q))


def _crossed(table: np.ndarray) -> tuple[float, float, float]:
    """(mean, variance of the mean, degrees of freedom) of a seeds x prompts table of cell means.

    Prompts missing for any seed are left out; the mean is over seeds of the mean over prompts."""
    table = table[:, ~np.isnan(table).any(axis=0)]
    s, p = table.shape
    mean = float(table.mean())
    if s == 1:  # t quantile on few prompts; from 30 on, t and the normal differ by under 4%
        return mean, (float(table.var(ddof=1)) / p if p > 1 else 0.0), (max(p - 1, 1) if p < 30 else math.inf)
    rows, cols = table.mean(axis=1), table.mean(axis=0)
    ms_seed = p * float(((rows - mean) ** 2).sum()) / (s - 1)
    ms_prompt = s * float(((cols - mean) ** 2).sum()) / (p - 1) if p > 1 else 0.0
    resid = table - rows[:, None] - cols[None, :] + mean
    ms_resid = float((resid ** 2).sum()) / ((s - 1) * (p - 1)) if p > 1 else 0.0
    # E[ms_seed + ms_prompt - ms_resid] / (s p) = var_seed / s + var_prompt / p + var_resid / (s p); it is
    # never below either main effect's own mean square, which the floor keeps when noise makes it so.
    combo = ms_seed + ms_prompt - ms_resid
    terms = [(ms_seed, s - 1), (ms_prompt, p - 1), (-ms_resid, (s - 1) * (p - 1))]
    if combo < max(ms_seed, ms_prompt):
        combo, terms = max((ms_seed, [terms[0]]), (ms_prompt, [terms[1]]))
    denom = sum(m * m / df for m, df in terms if df > 0)
    df = combo * combo / denom if denom > 0 else s - 1
    # Satterthwaite's df runs high when a term on few df dominates, as the seeds' does when seeds
    # differ more than prompts: where the seeds' own variance (beyond the residual noise in their
    # means) is most of the total, the seeds' s - 1 is what the variance rests on.
    seed_share = max(ms_seed - ms_resid, 0.0) / combo if combo > 0 else 0.0
    return mean, combo / (s * p), max(1.0, min(df, s - 1) if seed_share >= 0.5 else df)


def _score_limits(p: float, var: float, df: float, units: int, observations: int) -> tuple[float, float]:
    """Wilson score limits for a mean of values in [0, 1] with variance `var` estimated on `df` degrees
    of freedom: on the effective sample size p(1-p)/var (at most `observations`, so never narrower than
    independent samples would give), with the t quantile (Korn and Graubard's adjustment for survey
    proportions comes to the same). Where no spread was seen (all 0 or all 1), each unit counts once."""
    if var > 0 and 0 < p < 1:
        n = min(p * (1 - p) / var, observations)
        # near-binomial spread (design effect under 1.5): the variance is then p(1-p)/n, known given p,
        # not a few components estimated on few df
        z = _quantile(math.inf if n >= observations / 1.5 else df)
    else:
        n, z = units, _quantile(math.inf)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))  # rounding never leaves p out


def rate_ci(table, observations: int) -> Estimate:
    """A rate (mean of values in [0, 1]) from a seeds x prompts table of cell means (NaN: no value),
    `observations` the samples behind it; the interval is over prompts, and over seeds first."""
    table = np.atleast_2d(np.asarray(table, dtype=float))
    p, var, df = _crossed(table)
    low, high = _score_limits(p, var, df, table.shape[1], observations)
    return Estimate(p, low, high, table.shape[1])


def paired_diff_ci(a, b, observations_a: int, observations_b: int) -> Estimate:
    """rate(a) - rate(b) for two seeds x prompts tables over the same prompts (columns) and seeds
    (rows; a one-row table, the untrained model's, is compared with every row of the other): MOVER
    limits from each rate's score interval and their correlation across the paired cells."""
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    keep = ~(np.isnan(a).any(axis=0) | np.isnan(b).any(axis=0))
    a, b = a[:, keep], b[:, keep]
    (pa, va, _), (pb, vb, _), (d, vd, df) = _crossed(a), _crossed(b), _crossed(np.subtract(*np.broadcast_arrays(a, b)))
    # both at the difference's own df: what the two arms share (a seed's effect) cancels in it
    la, ua = _score_limits(pa, va, df, a.shape[1], observations_a)
    lb, ub = _score_limits(pb, vb, df, b.shape[1], observations_b)
    phi = float(np.clip((va + vb - vd) / (2 * np.sqrt(va * vb)), -1, 1)) if va > 0 and vb > 0 else 0.0
    low = d - np.sqrt(max((pa - la) ** 2 + (ub - pb) ** 2 - 2 * phi * (pa - la) * (ub - pb), 0.0))
    high = d + np.sqrt(max((ua - pa) ** 2 + (pb - lb) ** 2 - 2 * phi * (ua - pa) * (pb - lb), 0.0))
    return Estimate(d, float(low), float(high), a.shape[1])


def mean_ci(values, seed: int = 0) -> Estimate:
    """Mean with a 95% percentile-bootstrap interval."""
    x = np.asarray(values, dtype=float)
    low, high = _bootstrap((x,), lambda a, axis=-1: np.mean(a, axis=axis), seed)
    return Estimate(float(x.mean()), low, high, len(x))


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
