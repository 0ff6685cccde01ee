"""The AR(p)-on-returns model: closed-form forecasts agree with statsmodels' own recursion."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.ar_model import AutoReg

from cryptopredict.forecasting.forecasters.base import ForecastData
from cryptopredict.forecasting.forecasters.statistical import (
    ArimaForecaster,
    cumulative_weights,
    is_stationary,
)
from tests.forecasting.conftest import DataBuilder


@pytest.fixture
def ar2_data(make_data: DataBuilder) -> ForecastData:
    rng = np.random.default_rng(3)
    returns = np.zeros(800)
    for t in range(2, 800):
        returns[t] = 0.002 + 0.5 * returns[t - 1] - 0.3 * returns[t - 2] + rng.normal(0, 0.01)
    return make_data(np.cumsum(returns))


def test_recovers_the_order_and_coefficients(ar2_data: ForecastData) -> None:
    model = ArimaForecaster(max_lag=6).fit(ar2_data, end=700)
    assert model.order_ == 2
    assert np.allclose(model.phi_, [0.5, -0.3], atol=0.08)
    assert model.const_ == pytest.approx(0.002, abs=0.001)


def test_multi_step_forecast_matches_statsmodels_recursion(ar2_data: ForecastData) -> None:
    model = ArimaForecaster(max_lag=6).fit(ar2_data, end=700)
    origins = np.array([699, 720, 790])
    ours = model.predict(ar2_data, origins)
    fitted = AutoReg(np.diff(ar2_data.log_price[:700]), lags=model.order_, trend="c").fit()
    for i, origin in enumerate(origins):
        # Condition the same fitted parameters on the returns up to the origin.
        history = np.diff(ar2_data.log_price[: origin + 1])
        refit = AutoReg(history, lags=model.order_, trend="c")
        steps = refit.predict(fitted.params, start=history.size, end=history.size + 29)
        assert np.allclose(ours[i], np.cumsum(steps)[[0, 6, 29]], atol=1e-12)


def test_order_zero_with_constant_is_drift() -> None:
    weights = cumulative_weights(0.01, np.zeros(0), (1, 7, 30))
    assert np.allclose(weights, [[0.01, 0.07, 0.30]])


def test_no_trend_has_no_constant(ar2_data: ForecastData) -> None:
    model = ArimaForecaster(max_lag=3, trend="n").fit(ar2_data)
    assert model.const_ == 0.0
    assert model.order_ >= 1


def test_missing_lags_use_the_training_mean(ar2_data: ForecastData) -> None:
    model = ArimaForecaster(max_lag=6).fit(ar2_data, end=700)
    first = model.predict(ar2_data, np.array([0]))
    mean_state = np.append(np.full(model.order_, model.fill_), 1.0)
    assert np.allclose(first[0], mean_state @ model.weights_)


def test_fits_on_the_finite_stretch_after_a_gap(ar2_data: ForecastData) -> None:
    gappy = ar2_data.log_price.copy()
    gappy[100] = np.nan
    data = ForecastData(
        index=ar2_data.index,
        log_price=gappy,
        features=ar2_data.features,
        feature_names=ar2_data.feature_names,
        targets=ar2_data.targets,
        horizons=ar2_data.horizons,
    )
    after_gap = ArimaForecaster(max_lag=6).fit(data, end=700)
    assert np.isfinite(after_gap.predict(data, np.array([101, 699]))).all()


def test_stationarity_check_tells_explosive_from_stable() -> None:
    assert is_stationary(np.array([0.5, -0.3]))
    assert is_stationary(np.zeros(0))
    assert not is_stationary(np.array([1.02]))
    assert not is_stationary(np.array([0.6, 0.5]))  # roots inside the unit circle


def test_an_explosive_fit_falls_back_to_drift(make_data: DataBuilder) -> None:
    # Returns that keep accelerating: least squares finds AR(2) roots inside the unit circle.
    rng = np.random.default_rng(1)
    returns = 0.001 * 1.03 ** np.arange(200) + rng.normal(0, 1e-4, 200)
    data = make_data(np.cumsum(returns))
    model = ArimaForecaster(max_lag=2).fit(data)
    assert model.order_ == 0
    assert model.const_ == pytest.approx(float(np.diff(data.log_price).mean()))
    forecast = model.predict(data, np.array([199]))
    assert np.allclose(forecast[0], model.const_ * np.array([1, 7, 30]))
