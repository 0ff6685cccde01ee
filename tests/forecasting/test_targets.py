"""Targets are log returns over each horizon, NaN past the end, and map back to prices."""

from __future__ import annotations

import numpy as np
import pytest

from cryptopredict.forecasting.targets import (
    log_return_targets,
    to_log_return,
    to_price,
    validate_horizons,
)


def test_targets_match_hand_computed_log_returns() -> None:
    lp = np.log([100.0, 110.0, 99.0, 120.0])
    out = log_return_targets(lp, (2, 1))
    assert out.shape == (4, 2)
    np.testing.assert_allclose(out[:3, 0], np.log([1.1, 0.9, 120 / 99]))
    np.testing.assert_allclose(out[:2, 1], np.log([0.99, 120 / 110]))
    assert np.isnan(out[3, 0]) and np.isnan(out[2:, 1]).all()


def test_horizon_longer_than_series_gives_all_nan() -> None:
    assert np.isnan(log_return_targets(np.zeros(3), (5,))).all()


def test_price_round_trip() -> None:
    lp = np.log(np.array([50.0, 200.0]))
    r = np.array([0.1, -0.3])
    np.testing.assert_allclose(to_log_return(lp, to_price(lp, r)), r)
    np.testing.assert_allclose(to_price(lp, r), [50 * np.exp(0.1), 200 * np.exp(-0.3)])


def test_horizons_are_validated() -> None:
    assert validate_horizons([30, 1, 7, 7]) == (1, 7, 30)
    for bad in ([], [0], [-1], [1.5]):
        with pytest.raises(ValueError):
            validate_horizons(bad)
