"""The portfolio value band: one coin reproduces its own forecast; correlation widens it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cryptopredict.portfolios.band import BAND_PROBS, CoinForecast, band, correlation, simulate


def normal_coin(value: float, sigma: float) -> CoinForecast:
    """A coin whose served quantiles are those of N(0, sigma^2) log returns."""
    return CoinForecast(value, BAND_PROBS, tuple(sigma * stats.norm.ppf(p) for p in BAND_PROBS))


def test_one_coin_gives_back_its_own_quantiles() -> None:
    coin = normal_coin(1000.0, 0.1)
    values = simulate([coin], np.eye(1), 0.0, simulations=200_000, seed=1)
    for p, q in band(values).items():
        assert q == pytest.approx(1000.0 * math.exp(0.1 * stats.norm.ppf(p)), rel=0.01)


def test_the_tails_continue_the_end_segments() -> None:
    coin = CoinForecast(1.0, (0.05, 0.5, 0.95), (-0.2, 0.0, 0.3))
    z95 = stats.norm.ppf(0.95)
    far = coin.returns_at(np.array([-2 * z95, 0.0, 2 * z95]))
    assert far == pytest.approx([-0.4, 0.0, 0.6])


def test_coins_that_move_together_make_a_wider_band() -> None:
    coins = [normal_coin(500.0, 0.1), normal_coin(500.0, 0.1)]
    together = band(simulate(coins, np.array([[1.0, 0.9], [0.9, 1.0]]), 0.0, seed=2))
    apart = band(simulate(coins, np.eye(2), 0.0, seed=2))
    assert together[0.95] - together[0.05] > 1.3 * (apart[0.95] - apart[0.05])
    # Held without a forecast: a constant added to every draw.
    shifted = band(simulate(coins, np.eye(2), 250.0, seed=2))
    assert shifted[0.5] == pytest.approx(apart[0.5] + 250.0)


def test_correlation_is_measured_on_common_days_and_kept_valid() -> None:
    rng = np.random.default_rng(3)
    common = rng.standard_normal(400)
    returns = np.column_stack(
        [common, common + 0.5 * rng.standard_normal(400), rng.standard_normal(400)]
    )
    returns[:390, 2] = np.nan  # only 10 days in common with the others: left uncorrelated
    corr = correlation(returns)
    assert corr[0, 1] == pytest.approx(1 / math.sqrt(1.25), abs=0.05)
    assert corr[0, 2] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(np.diag(corr), 1.0)
    assert np.linalg.eigvalsh(corr).min() > 0
