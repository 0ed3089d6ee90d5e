import numpy as np
import pytest
from scipy import stats

from inoculate.stats import correlation, diff_ci, mean_ci


def test_correlation_matches_scipy_on_known_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = 0.7 * x + rng.normal(scale=0.5, size=12)
    c = correlation(x, y)
    ref = stats.pearsonr(x, y)
    assert c.pearson.value == pytest.approx(ref.statistic, abs=1e-12)
    assert (c.pearson.low, c.pearson.high) == pytest.approx(tuple(ref.confidence_interval(0.95)), abs=1e-12)
    assert c.spearman.value == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert c.spearman.low <= c.spearman.value <= c.spearman.high
    perfect = correlation([1, 2, 3, 4, 5], [2, 4, 6, 8, 11])
    assert perfect.spearman.value == pytest.approx(1.0) and perfect.pearson.value > 0.99


def test_correlation_is_undefined_for_constant_or_tiny_inputs():
    assert correlation([1, 2, 3], [5, 5, 5]) is None
    assert correlation([1, 2], [3, 4]) is None


def test_mean_and_difference_intervals():
    est = mean_ci([0, 1] * 50)
    assert est.value == 0.5 and est.low < 0.5 < est.high
    d = diff_ci([1] * 30, [0] * 30)
    assert (d.value, d.low, d.high) == (1.0, 1.0, 1.0)
