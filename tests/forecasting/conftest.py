"""Fixtures for the forecasting tests: synthetic series built straight into ``ForecastData``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

from cryptopredict.forecasting.forecasters.base import FloatArray, ForecastData

DataBuilder = Callable[..., ForecastData]


def build_forecast_data(
    log_price: Sequence[float] | FloatArray,
    horizons: Sequence[int] = (1, 7, 30),
    n_lags: int = 4,
    name: str = "synthetic",
) -> ForecastData:
    """A daily series whose features are its last ``n_lags`` one-step log returns."""
    lp = np.asarray(log_price, dtype=np.float64)
    n = lp.size
    returns = np.full(n, np.nan)
    returns[1:] = np.diff(lp)
    features = np.full((n, n_lags), np.nan)
    for k in range(n_lags):
        features[k:, k] = returns[: n - k]
    targets = np.full((n, len(horizons)), np.nan)
    for j, h in enumerate(horizons):
        if n > h:
            targets[: n - h, j] = lp[h:] - lp[: n - h]
    return ForecastData(
        index=pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
        log_price=lp,
        features=features,
        feature_names=tuple(f"return_lag{k}" for k in range(n_lags)),
        targets=targets,
        horizons=tuple(horizons),
        name=name,
    )


@pytest.fixture
def make_data() -> DataBuilder:
    """Builder of synthetic ``ForecastData`` from a log-price path."""
    return build_forecast_data


@pytest.fixture
def ar_data() -> ForecastData:
    """400 daily rows of a log price whose returns follow an AR(1) with drift."""
    rng = np.random.default_rng(7)
    returns = np.empty(400)
    returns[0] = 0.0
    for t in range(1, 400):
        returns[t] = 0.001 + 0.3 * returns[t - 1] + rng.normal(0.0, 0.02)
    return build_forecast_data(np.log(100.0) + np.cumsum(returns))
