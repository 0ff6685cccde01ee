"""Baselines against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from cryptopredict.forecasting.forecasters.base import NotEnoughDataError
from cryptopredict.forecasting.forecasters.baselines import (
    DriftForecaster,
    MeanReturnForecaster,
    NaiveForecaster,
)
from tests.forecasting.conftest import DataBuilder

PRICES = np.log([100.0, 110.0, 99.0, 121.0, 125.0, 130.0, 128.0])
ORIGINS = np.array([3, 6])


def test_naive_predicts_zero_return(make_data: DataBuilder) -> None:
    data = make_data(PRICES, horizons=(1, 2))
    forecast = NaiveForecaster(horizons=(2, 1)).fit(data).predict(data, ORIGINS)
    assert forecast.shape == (2, 2)
    assert np.array_equal(forecast, np.zeros((2, 2)))


def test_drift_is_mean_one_step_return_times_h(make_data: DataBuilder) -> None:
    data = make_data(PRICES, horizons=(1, 3))
    model = DriftForecaster(horizons=(1, 3)).fit(data, end=5)
    slope = (np.log(125.0) - np.log(100.0)) / 4
    assert model.drift_ == pytest.approx(slope)
    assert np.allclose(model.predict(data, ORIGINS), [[slope, 3 * slope]] * 2)


def test_drift_window_uses_last_rows_only(make_data: DataBuilder) -> None:
    data = make_data(PRICES, horizons=(1,))
    model = DriftForecaster(horizons=(1,), window=3).fit(data, end=6)
    assert model.drift_ == pytest.approx((np.log(130.0) - np.log(121.0)) / 2)


def test_mean_return_averages_realised_h_step_returns(make_data: DataBuilder) -> None:
    data = make_data(PRICES, horizons=(1, 2))
    model = MeanReturnForecaster(horizons=(1, 2), window=4).fit(data, end=6)
    # the window holds rows 2..5: prices 99, 121, 125, 130
    two_step = np.mean([np.log(125.0 / 99.0), np.log(130.0 / 121.0)])
    one_step = (np.log(130.0) - np.log(99.0)) / 3
    assert np.allclose(model.means_, [one_step, two_step])
    assert np.allclose(model.predict(data, ORIGINS), [[one_step, two_step]] * 2)


def test_mean_return_equals_drift_at_one_step(make_data: DataBuilder) -> None:
    data = make_data(PRICES, horizons=(1,))
    mean = MeanReturnForecaster(horizons=(1,), window=None).fit(data)
    drift = DriftForecaster(horizons=(1,)).fit(data)
    assert mean.means_[0] == pytest.approx(drift.drift_)


def test_baselines_need_enough_rows(make_data: DataBuilder) -> None:
    data = make_data(PRICES, horizons=(1, 7))
    with pytest.raises(NotEnoughDataError, match="at least 1 row"):
        NaiveForecaster(horizons=(1, 7)).fit(data, end=0)
    with pytest.raises(NotEnoughDataError, match="at least 2 rows"):
        DriftForecaster(horizons=(1, 7)).fit(data, end=1)
    with pytest.raises(NotEnoughDataError, match="horizon 7"):
        MeanReturnForecaster(horizons=(1, 7)).fit(data)
