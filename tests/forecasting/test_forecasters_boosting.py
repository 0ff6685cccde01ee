"""LightGBM: deterministic, early-stopped per horizon, saved as LightGBM text models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cryptopredict.forecasting.forecasters.base import ForecastData, NotEnoughDataError
from cryptopredict.forecasting.forecasters.boosting import LightGBMForecaster
from tests.forecasting.conftest import DataBuilder

FAST = {"max_rounds": 60, "early_stopping_rounds": 10, "min_rows": 60}


@pytest.fixture
def sticky_data(make_data: DataBuilder) -> ForecastData:
    """Returns with strong momentum (AR(1) with phi 0.8): yesterday's return is informative."""
    rng = np.random.default_rng(11)
    returns = np.zeros(600)
    for t in range(1, 600):
        returns[t] = 0.8 * returns[t - 1] + rng.normal(0, 0.01)
    return make_data(np.cumsum(returns), horizons=(1, 3))


def test_two_fits_are_identical(ar_data: ForecastData) -> None:
    origins = np.arange(50, 400, 7)
    first = LightGBMForecaster(**FAST).fit(ar_data, end=350).predict(ar_data, origins)
    second = LightGBMForecaster(**FAST).fit(ar_data, end=350).predict(ar_data, origins)
    assert np.array_equal(first, second)


def test_beats_naive_where_there_is_signal(sticky_data: ForecastData) -> None:
    model = LightGBMForecaster(horizons=(1, 3), **FAST).fit(sticky_data, end=450)
    origins = np.arange(450, 590)
    error = np.abs(model.predict(sticky_data, origins) - sticky_data.targets[origins])
    naive_error = np.abs(sticky_data.targets[origins])
    ratio = error.mean(axis=0) / naive_error.mean(axis=0)
    assert ratio[0] < 0.85  # the best possible is about 0.6
    assert ratio[1] < 1.0


def test_early_stopping_cuts_rounds_on_noise(make_data: DataBuilder) -> None:
    rng = np.random.default_rng(5)
    data = make_data(np.cumsum(rng.normal(0, 0.02, 500)), horizons=(1,))
    model = LightGBMForecaster(horizons=(1,), max_rounds=300, early_stopping_rounds=10).fit(data)
    assert model.rounds_[0] < 300


def test_saves_one_text_model_per_horizon(ar_data: ForecastData, tmp_path: Path) -> None:
    model = LightGBMForecaster(**FAST).fit(ar_data)
    names = sorted(path.name for path in model.save(tmp_path))
    assert names == ["lightgbm_h1.txt", "lightgbm_h30.txt", "lightgbm_h7.txt", "params.json"]
    assert (tmp_path / "lightgbm_h7.txt").read_text().startswith("tree\n")


def test_refuses_other_features(ar_data: ForecastData) -> None:
    model = LightGBMForecaster(**FAST).fit(ar_data)
    renamed = dataclasses.replace(
        ar_data, feature_names=tuple(f"x{i}" for i in range(len(ar_data.feature_names)))
    )
    with pytest.raises(ValueError, match="differ from those fitted"):
        model.predict(renamed, np.array([100]))


def test_missing_features_at_the_origin_still_predict(ar_data: ForecastData) -> None:
    model = LightGBMForecaster(**FAST).fit(ar_data)
    assert np.isfinite(model.predict(ar_data, np.array([0, 1, 2]))).all()


def test_no_training_row_left_after_the_purge(ar_data: ForecastData) -> None:
    model = LightGBMForecaster(horizons=(30,), min_rows=20, validation_fraction=0.4)
    with pytest.raises(NotEnoughDataError, match="no 30-step training row left"):
        model.fit(ar_data, end=70)
