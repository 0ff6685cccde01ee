"""The LSTM: learns a noiseless sine, reproducible, naive where it has no window, tidy with
torch's global state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cryptopredict.forecasting.forecasters.base import ForecastData
from cryptopredict.forecasting.forecasters.lstm import LSTMForecaster
from tests.forecasting.conftest import DataBuilder

TINY = {"window": 8, "hidden_size": 8, "max_epochs": 5, "min_rows": 60}


@pytest.fixture
def sine_data(make_data: DataBuilder) -> ForecastData:
    """A noiseless sine log price (period 25 rows): every return is predictable."""
    return make_data(0.1 * np.sin(2 * np.pi * np.arange(400) / 25), horizons=(1, 5, 10))


def test_learns_a_noiseless_sine(sine_data: ForecastData) -> None:
    model = LSTMForecaster(
        horizons=(1, 5, 10), window=10, hidden_size=16, learning_rate=5e-3, max_epochs=40
    ).fit(sine_data, end=350)
    # Validation MSE in units of each target's variance; predicting zero scores about 1.
    assert model.validation_loss_ < 1e-2
    origins = np.arange(350, 390)
    error = np.abs(model.predict(sine_data, origins) - sine_data.targets[origins])
    naive_error = np.abs(sine_data.targets[origins])
    assert (error.mean(axis=0) < 0.1 * naive_error.mean(axis=0)).all()


def test_same_seed_same_model_other_seed_other_model(sine_data: ForecastData) -> None:
    origins = np.arange(0, 400, 9)
    first = LSTMForecaster((1, 5, 10), **TINY, seed=3).fit(sine_data, end=320)
    second = LSTMForecaster((1, 5, 10), **TINY, seed=3).fit(sine_data, end=320)
    other = LSTMForecaster((1, 5, 10), **TINY, seed=4).fit(sine_data, end=320)
    assert first.best_epoch_ > 0
    expected = first.predict(sine_data, origins)
    assert np.array_equal(second.predict(sine_data, origins), expected)
    assert not np.array_equal(other.predict(sine_data, origins), expected)


def test_stays_exactly_naive_when_no_epoch_beats_it(make_data: DataBuilder) -> None:
    rng = np.random.default_rng(8)
    data = make_data(np.cumsum(rng.standard_t(3, 300) * 0.02), horizons=(1, 7, 30))
    model = LSTMForecaster(**TINY).fit(data)  # heavy-tailed noise: nothing to learn
    assert (model.best_epoch_, model.epochs_) == (0, 5)
    assert np.array_equal(model.predict(data, np.arange(300)), np.zeros((300, 3)))


def test_origins_without_a_full_window_fall_back_to_naive(sine_data: ForecastData) -> None:
    model = LSTMForecaster((1, 5, 10), **TINY).fit(sine_data)
    assert model.best_epoch_ > 0
    # The 4 lagged returns are complete from row 4, so the first full 8-row window ends at 11.
    forecast = model.predict(sine_data, np.arange(0, 13))
    assert np.array_equal(forecast[:11], np.zeros((11, 3)))
    assert np.all(forecast[11:] != 0.0)
    gap = sine_data.features.copy()
    gap[200, 1] = np.nan
    holed = dataclasses.replace(sine_data, features=gap)
    around = model.predict(holed, np.array([199, 200, 207, 208]))
    assert np.all(around[0] != 0.0)
    assert np.array_equal(around[1:3], np.zeros((2, 3)))
    assert np.all(around[3] != 0.0)


def test_early_stopping_on_noise(make_data: DataBuilder) -> None:
    rng = np.random.default_rng(2)
    data = make_data(np.cumsum(rng.normal(0, 0.02, 400)), horizons=(1, 7))
    model = LSTMForecaster(
        horizons=(1, 7), window=8, hidden_size=16, max_epochs=100, patience=3, learning_rate=1e-2
    ).fit(data)
    assert model.epochs_ < 100
    assert model.best_epoch_ == model.epochs_ - 3


def test_leaves_torch_global_state_alone(ar_data: ForecastData) -> None:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.get_rng_state()
    model = LSTMForecaster(**TINY, num_threads=threads + 1).fit(ar_data)
    model.predict(ar_data, np.arange(50, 60))
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_scalers_come_from_training_rows(ar_data: ForecastData) -> None:
    model = LSTMForecaster(**TINY).fit(ar_data, end=200)
    train = ar_data.features[4:200]
    assert np.allclose(model.feature_mean_, train.mean(axis=0))
    assert np.allclose(model.feature_std_, train.std(axis=0))


def test_a_horizon_that_does_not_beat_naive_on_validation_is_naive(
    make_data: DataBuilder,
) -> None:
    rng = np.random.default_rng(11)  # a seed where the pooled loss beats naive, h=30 does not
    data = make_data(np.cumsum(rng.standard_t(3, 300) * 0.02), horizons=(1, 7, 30))
    model = LSTMForecaster(**TINY).fit(data)
    assert model.best_epoch_ > 0
    forecast = model.predict(data, np.arange(20, 300))
    assert np.all(forecast[:, 2] == 0.0)
    assert np.all(forecast[:, :2] != 0.0)
