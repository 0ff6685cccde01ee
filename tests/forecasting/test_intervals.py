"""Conformal intervals cover as promised on i.i.d. noise, use only known residuals, and persist."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cryptopredict.forecasting.forecasters.base import FloatArray
from cryptopredict.forecasting.intervals import (
    ConformalCalibrator,
    conformal_bounds,
    ewma_volatility,
    horizon_volatility,
    intervals_for_origins,
    level_label,
    online_bounds,
)


@pytest.mark.parametrize("horizon", [1, 7])
def test_online_coverage_on_iid_noise_is_within_three_points(horizon: int) -> None:
    rng = np.random.default_rng(42 + horizon)
    n = 6000
    residuals = rng.standard_t(df=4, size=n) * 0.03
    origins = np.arange(n)
    bounds = online_bounds(residuals, origins, horizon, window=500, min_residuals=100)
    for level, (lo, hi) in bounds.items():
        ok = np.isfinite(lo)
        assert ok.sum() == n - 99 - horizon
        covered = (residuals[ok] >= lo[ok]) & (residuals[ok] <= hi[ok])
        assert abs(covered.mean() - level) < 0.03, (level, covered.mean())


def test_volatility_scaled_intervals_cover_heteroskedastic_noise_and_adapt() -> None:
    rng = np.random.default_rng(5)
    n = 6000
    regime = np.where((np.arange(n) // 500) % 2 == 0, 0.01, 0.05)
    returns = rng.normal(0.0, regime)
    log_price = np.cumsum(returns)
    sigma = ewma_volatility(log_price)
    residuals = np.full(n, np.nan)
    residuals[:-1] = returns[1:]  # naive 1-step forecast from origin t: residual = r[t+1]
    origins = np.arange(n)
    scaled = online_bounds(residuals / sigma, origins, 1, window=500, min_residuals=100)
    plain = online_bounds(residuals, origins, 1, window=500, min_residuals=100)
    lo_s, hi_s = scaled[0.8]
    ok = np.isfinite(lo_s) & np.isfinite(residuals) & np.isfinite(sigma)
    inside = (residuals >= sigma * lo_s) & (residuals <= sigma * hi_s)
    assert abs(inside[ok].mean() - 0.8) < 0.03
    calm = ok & (regime == 0.01)
    width_scaled = (sigma * (hi_s - lo_s))[calm].mean()
    width_plain = (plain[0.8][1] - plain[0.8][0])[calm].mean()
    assert width_scaled < 0.6 * width_plain


def test_only_residuals_whose_targets_are_known_are_used() -> None:
    residuals = np.arange(10, dtype=np.float64)
    bounds = online_bounds(residuals, np.arange(10), 3, levels=(0.5,), window=100, min_residuals=1)
    lo, hi = bounds[0.5]
    assert np.isnan(lo[:3]).all()  # at origin 2 no residual with s + 3 <= 2
    assert lo[3] == hi[3] == 0.0  # at origin 3 only residual 0 is known
    assert hi[9] <= 6.0  # at origin 9 residuals 0..6 are known, never 7..9
    poisoned = residuals.copy()
    poisoned[7:] = 1e9
    np.testing.assert_array_equal(
        online_bounds(poisoned, np.arange(10), 3)[0.8][1],
        online_bounds(residuals, np.arange(10), 3)[0.8][1],
    )


def test_conformal_bounds_use_finite_sample_ranks() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores
    # level 0.8: alpha/2 = 0.1 -> k_lo = floor(20 * 0.1) = 2, k_hi = ceil(20 * 0.9) = 18
    assert conformal_bounds(scores, 0.8) == (2.0, 18.0)
    assert conformal_bounds(scores[:3], 0.95) == (1.0, 3.0)
    assert np.isnan(conformal_bounds([np.nan], 0.8)[0])


def test_calibrator_rolls_its_window_and_round_trips_through_json() -> None:
    cal = ConformalCalibrator(horizons=(7, 1), window=100, min_residuals=10)
    assert cal.horizons == (1, 7)
    assert np.isnan(cal.bounds(1, 0.8)[0])
    cal.update(1, np.arange(150, dtype=np.float64))
    assert cal.scores[1].size == 100 and cal.scores[1][0] == 50.0
    out = cal.interval(1, np.array([0.0, 1.0]))
    lo, hi = out[0.8]
    assert (hi - lo > 0).all() and lo[1] - lo[0] == 1.0
    again = ConformalCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.to_dict() == cal.to_dict()
    with pytest.raises(ValueError):
        cal.update(3, [1.0])


def test_scaled_calibrator_needs_and_uses_sigma() -> None:
    cal = ConformalCalibrator(horizons=(4,), volatility_scaled=True, min_residuals=5)
    cal.update(4, np.linspace(-0.2, 0.2, 41), sigma=np.full(41, 0.05))
    with pytest.raises(ValueError, match="sigma"):
        cal.interval(4, 0.0)
    narrow = cal.interval(4, 0.0, sigma=0.01)[0.95]
    wide = cal.interval(4, 0.0, sigma=0.10)[0.95]
    assert (wide[1] - wide[0])[0] == pytest.approx(10 * (narrow[1] - narrow[0])[0])
    lp = np.log(np.linspace(100, 200, 60))
    via_series = intervals_for_origins(cal, 4, np.zeros(2), lp, np.array([30, 40]))
    assert via_series[0.8][0].shape == (2,)


def test_ewma_volatility_is_causal() -> None:
    lp = np.cumsum(np.random.default_rng(0).normal(0, 0.02, 100))
    changed = lp.copy()
    changed[60:] += 5.0
    np.testing.assert_array_equal(ewma_volatility(lp)[:60], ewma_volatility(changed)[:60])
    assert np.isnan(ewma_volatility(lp)[:9]).all()
    assert level_label(0.8) == "80" and level_label(0.975) == "97.5"
    assert isinstance(pd.Series(ewma_volatility(lp)).iloc[-1], float)


def _regime_walk(n: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Log prices whose daily volatility switches between calm (1 %) and stormy (5 %)."""
    regime = np.where((np.arange(n) // 400) % 2 == 0, 0.01, 0.05)
    return np.cumsum(np.random.default_rng(seed).normal(0.0, regime)), regime


def _coverage_by_regime(cal: ConformalCalibrator, horizon: int) -> dict[float, float]:
    """Online 80 % coverage of a naive forecast, in calm and stormy origins, as the backtest
    computes it (scores scaled by the calibrator's own sigma)."""
    log_price, regime = _regime_walk(8000, 11)
    n = log_price.size
    origins = np.arange(n - horizon)
    actual = log_price[origins + horizon] - log_price[origins]
    sigma = cal.sigma(log_price, horizon)
    scale = np.ones(origins.size) if sigma is None else sigma[origins] * np.sqrt(horizon)
    lo, hi = online_bounds(
        actual / scale,
        origins,
        horizon,
        window=cal.window_for(horizon),
        min_residuals=cal.min_residuals_for(horizon),
    )[0.8]
    ok = np.isfinite(lo) & (origins > 1000)
    inside = (actual >= scale * lo) & (actual <= scale * hi)
    return {vol: float(inside[ok & (regime[origins] == vol)].mean()) for vol in (0.01, 0.05)}


@pytest.mark.parametrize("horizon", [1, 7, 30])
def test_volatility_scaling_keeps_coverage_in_calm_and_stormy_regimes(horizon: int) -> None:
    # these regimes persist for 400 steps and never revert, so no long-run reversion here
    scaled = ConformalCalibrator((horizon,), volatility_scaled=True, long_run_lambda=None)
    by_regime = _coverage_by_regime(scaled, horizon)
    plain = _coverage_by_regime(ConformalCalibrator((horizon,)), horizon)
    assert all(abs(c - 0.8) < 0.04 for c in by_regime.values()), by_regime
    assert plain[0.01] > 0.95 and plain[0.05] < 0.65, plain  # too wide calm, too narrow storms


def test_horizon_volatility_reverts_to_the_long_run_level_and_is_causal() -> None:
    log_price, _ = _regime_walk(3000, 3)
    short = ewma_volatility(log_price)
    assert np.array_equal(horizon_volatility(log_price, 1), short, equal_nan=True)
    np.testing.assert_array_equal(horizon_volatility(log_price, 30, long_run_lambda=None), short)
    long_run = ewma_volatility(log_price, 0.995)
    s30 = horizon_volatility(log_price, 30)
    ok = np.isfinite(s30)
    lo, hi = np.minimum(short, long_run)[ok], np.maximum(short, long_run)[ok]
    assert ((s30[ok] >= lo - 1e-12) & (s30[ok] <= hi + 1e-12)).all()
    changed = log_price.copy()
    changed[2000:] += 1.0
    np.testing.assert_array_equal(
        horizon_volatility(changed, 30)[:2000], horizon_volatility(log_price, 30)[:2000]
    )


def test_long_horizons_keep_and_need_windows_counted_in_horizons() -> None:
    cal = ConformalCalibrator(horizons=(1, 30), window=500, min_residuals=50)
    assert (cal.window_for(1), cal.window_for(30)) == (500, 1500)  # 50 independent windows
    assert (cal.min_residuals_for(1), cal.min_residuals_for(30)) == (50, 300)
    cal.update(30, np.linspace(-1.0, 1.0, 299))
    assert np.isnan(cal.bounds(30, 0.8)[0])  # 299 overlapping 30-day residuals: ~10 windows
    cal.update(30, np.linspace(-1.0, 1.0, 2000))
    assert cal.scores[30].size == 1500 and np.isfinite(cal.bounds(30, 0.8)[0])


def test_calibrator_state_round_trips_and_old_state_keeps_its_meaning() -> None:
    cal = ConformalCalibrator(horizons=(7,), volatility_scaled=True, long_run_lambda=0.99)
    cal.update(7, np.linspace(-0.2, 0.2, 100), sigma=np.full(100, 0.02))
    again = ConformalCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.to_dict() == cal.to_dict()
    lp = np.cumsum(np.random.default_rng(1).normal(0, 0.02, 300))
    np.testing.assert_array_equal(
        intervals_for_origins(again, 7, [0.0], lp, np.array([299]))[0.8][1],
        intervals_for_origins(cal, 7, [0.0], lp, np.array([299]))[0.8][1],
    )
    legacy = cal.to_dict()
    for key in ("windows_per_horizon", "min_windows", "long_run_lambda"):
        del legacy[key]
    old = ConformalCalibrator.from_dict(legacy)
    assert (old.window_for(7), old.min_residuals_for(7), old.long_run_lambda) == (500, 50, None)
    np.testing.assert_array_equal(old.sigma(lp, 7), ewma_volatility(lp, 0.94))
