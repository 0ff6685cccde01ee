"""Metrics agree with hand-computed values and with scipy-computed references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cryptopredict.forecasting.metrics import (
    diebold_mariano,
    directional_accuracy,
    interval_coverage,
    mae,
    mape,
    mase,
    mean_interval_width,
    naive_scale,
    pinball_loss,
    relative_mae,
    rmse,
    smape,
    winkler_score,
)

ACTUAL = np.array([100.0, 110.0, 90.0, 105.0])
PRED = np.array([102.0, 100.0, 90.0, 110.0])


def test_point_errors_by_hand() -> None:
    # errors: -2, 10, 0, -5
    assert mae(ACTUAL, PRED) == pytest.approx(17 / 4)
    assert rmse(ACTUAL, PRED) == pytest.approx(np.sqrt((4 + 100 + 0 + 25) / 4))
    assert mape(ACTUAL, PRED) == pytest.approx(100 * (2 / 100 + 10 / 110 + 0 + 5 / 105) / 4)
    expected = 100 * (2 / 101 + 10 / 105 + 0 + 5 / 107.5) / 4
    assert smape(ACTUAL, PRED) == pytest.approx(expected)
    assert smape([0.0], [0.0]) == 0.0


def test_mase_scale_from_training_naive_errors_at_the_horizon() -> None:
    history = np.array([10.0, 12.0, 11.0, 15.0, 14.0])
    assert naive_scale(history, 1) == pytest.approx((2 + 1 + 4 + 1) / 4)
    assert naive_scale(history, 2) == pytest.approx((1 + 3 + 3) / 3)
    assert mase(ACTUAL, PRED, naive_scale(history, 2)) == pytest.approx((17 / 4) / (7 / 3))
    with pytest.raises(ValueError):
        naive_scale(history, 5)
    with pytest.raises(ValueError):
        mase(ACTUAL, PRED, 0.0)


def test_relative_mae_on_same_origins() -> None:
    naive = np.array([100.0, 100.0, 110.0, 90.0])  # errors 0, 10, -20, 15 -> MAE 11.25
    assert relative_mae(ACTUAL, PRED, naive) == pytest.approx(4.25 / 11.25)
    assert relative_mae(ACTUAL, ACTUAL, ACTUAL) == 1.0


def test_directional_accuracy_with_binomial_references() -> None:
    actual = np.array([0.1, -0.2, 0.3, 0.1, -0.1, 0.2, 0.0, 0.4, 0.1, -0.3])
    pred = np.array([0.2, 0.1, 0.1, 0.3, -0.2, 0.1, 0.5, 0.0, 0.2, -0.1])
    res = directional_accuracy(actual, pred)
    # scored rows: actual != 0 and pred != 0 -> indices 0,1,2,3,4,5,8,9 (8 calls)
    assert res.n == 8 and res.no_calls == 1
    assert res.hits == 7 and res.hit_rate == 7 / 8
    assert res.p_value == pytest.approx(stats.binomtest(7, 8, 0.5, alternative="greater").pvalue)
    up = 5 / 8  # among the 8 calls, the rows the hit rate is measured on
    assert res.up_share == pytest.approx(up)
    ref = stats.binomtest(7, 8, up, alternative="greater").pvalue
    assert res.p_value_vs_up == pytest.approx(ref)
    none = directional_accuracy([0.1, 0.2, -0.1], [0.0, 0.0, 0.0])
    assert none.n == 0 and np.isnan(none.hit_rate) and none.no_calls == 3


def test_always_up_share_is_measured_on_the_rows_the_model_called() -> None:
    # A model that calls only the first half (an LSTM whose head is naive in some refits):
    # always-up must be scored on that half too, or a rising half looks like skill.
    actual = np.array([0.1, 0.2, 0.1, -0.1, 0.3, -0.2, -0.1, -0.3, 0.1, -0.2])
    pred = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0])
    res = directional_accuracy(actual, pred)
    assert res.n == 5 and res.hits == 4 and res.no_calls == 5
    assert res.up_share == pytest.approx(4 / 5)
    ref = stats.binomtest(4, 5, 4 / 5, alternative="greater").pvalue
    assert res.p_value_vs_up == pytest.approx(ref)
    naive = directional_accuracy(actual, np.zeros_like(actual))  # no calls: the whole window
    assert naive.up_share == pytest.approx(5 / 10)


def test_dm_at_horizon_one_equals_a_one_sample_t_test() -> None:
    rng = np.random.default_rng(1)
    e1 = rng.normal(0, 1.0, 200)
    e2 = rng.normal(0, 1.3, 200)
    res = diebold_mariano(e1, e2, 1)
    ref = stats.ttest_1samp(np.abs(e1) - np.abs(e2), 0.0)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    less = diebold_mariano(e1, e2, 1, alternative="less")
    ref_less = stats.ttest_1samp(np.abs(e1) - np.abs(e2), 0.0, alternative="less")
    assert less.p_value == pytest.approx(ref_less.pvalue)
    sq = diebold_mariano(e1, e2, 1, loss="squared")
    assert sq.statistic == pytest.approx(stats.ttest_1samp(e1**2 - e2**2, 0.0).statistic)


def test_dm_with_hac_variance_and_harvey_correction_by_hand() -> None:
    d_pairs = np.array([[1.0, 0.5], [2.0, 2.5], [0.5, 1.5], [3.0, 1.0], [1.5, 1.0], [2.0, 0.0]])
    e1, e2 = d_pairs[:, 0], d_pairs[:, 1]
    h = 3
    d = np.abs(e1) - np.abs(e2)  # 0.5, -0.5, -1, 2, 0.5, 2
    n = d.size
    c = d - d.mean()
    gamma = [sum(c[t] * c[t - k] for t in range(k, n)) / n for k in range(h)]
    var = (gamma[0] + 2 * (gamma[1] + gamma[2])) / n
    dm = d.mean() / np.sqrt(var)
    dm_star = dm * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    res = diebold_mariano(e1, e2, h)
    assert res.statistic == pytest.approx(dm_star)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(dm_star), df=n - 1))
    assert res.mean_difference == pytest.approx(0.5833333333)


def test_dm_falls_back_to_bartlett_weights_when_the_variance_is_negative() -> None:
    d = np.array([1.5, -0.5] * 10)  # mean 0.5, centred +-1: gamma0 = 1, gamma1 = -19/20
    n, h = 20, 2
    res = diebold_mariano(2.0 + d, np.full(n, 2.0), h)
    bartlett = 1.0 + 2 * 0.5 * (-19 / 20)  # the rectangular 1 - 1.9 is negative
    expected = 0.5 / np.sqrt(bartlett / n) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    assert res.statistic == pytest.approx(expected)
    constant = diebold_mariano([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert np.isnan(constant.p_value) and constant.mean_difference == 1.0


def test_dm_needs_paired_errors() -> None:
    with pytest.raises(ValueError):
        diebold_mariano([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0])


def test_interval_scores_by_hand() -> None:
    actual = np.array([1.0, 5.0, 10.0, -3.0])
    lower = np.array([0.0, 0.0, 0.0, 0.0])
    upper = np.array([2.0, 4.0, 12.0, 1.0])
    assert interval_coverage(actual, lower, upper) == 0.5
    assert mean_interval_width(lower, upper) == pytest.approx((2 + 4 + 12 + 1) / 4)
    # alpha = 0.2 -> penalty 10 per unit miss: row 2 misses by 1, row 4 by 3
    expected = ((2 + 4 + 12 + 1) + 10 * (1 + 3)) / 4
    assert winkler_score(actual, lower, upper, 0.8) == pytest.approx(expected)
    # pinball at q = 0.9: rows (a - f): -1, 1, -2, -4 -> 0.1, 0.9, 0.2, 0.4
    f = np.array([2.0, 4.0, 12.0, 1.0])
    assert pinball_loss(actual, f, 0.9) == pytest.approx((0.1 + 0.9 + 0.2 + 0.4) / 4)
    with pytest.raises(ValueError):
        pinball_loss(actual, f, 1.0)
