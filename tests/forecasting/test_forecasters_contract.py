"""Every model in the zoo against the interface contract: no look-ahead, exact round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cryptopredict.forecasting.forecasters import FORECASTERS, load_forecaster, make_forecaster
from cryptopredict.forecasting.forecasters.base import ForecastData, Forecaster, NotEnoughDataError
from cryptopredict.forecasting.forecasters.lstm import LSTMForecaster
from tests.forecasting.conftest import DataBuilder

SMALL: dict[str, dict[str, Any]] = {
    "naive": {},
    "drift": {},
    "mean": {"window": 120},
    "arima": {"max_lag": 3},
    "lightgbm": {"max_rounds": 40, "early_stopping_rounds": 10, "min_rows": 60},
    "lstm": {"window": 8, "hidden_size": 8, "max_epochs": 4, "batch_size": 64, "min_rows": 60},
}
"""Hyper-parameters that keep every test fast."""

KINDS = sorted(SMALL)
END = 300
ORIGINS = np.array([0, 3, 40, 120, 250, 299, 330, 399])


def small(kind: str, horizons: tuple[int, ...] = (1, 7, 30)) -> Forecaster:
    return make_forecaster(kind, horizons, **SMALL[kind])


def poison_after_cut(data: ForecastData, end: int) -> ForecastData:
    """Rows from ``end`` on, and every target whose window crosses ``end``, made unusable."""
    log_price = data.log_price.copy()
    log_price[end:] = np.inf
    features = data.features.copy()
    features[end:] = np.nan
    features[end + 1 :: 2] = np.inf
    targets = data.targets.copy()
    rows = np.arange(len(data))[:, None]
    targets[rows + np.asarray(data.horizons)[None, :] >= end] = np.nan
    return dataclasses.replace(data, log_price=log_price, features=features, targets=targets)


def poison_after_origin(data: ForecastData, origin: int) -> ForecastData:
    """Rows after ``origin`` and all targets made unusable: predict must not read them."""
    log_price = data.log_price.copy()
    log_price[origin + 1 :] = np.nan
    features = data.features.copy()
    features[origin + 1 :] = np.inf
    targets = np.full_like(data.targets, np.nan)
    return dataclasses.replace(data, log_price=log_price, features=features, targets=targets)


def test_every_kind_is_registered() -> None:
    assert set(FORECASTERS) == set(KINDS)
    for kind, cls in FORECASTERS.items():
        assert cls.kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_params_rebuild_an_equal_twin(kind: str) -> None:
    model = small(kind, horizons=(7, 1))
    params = model.get_params()
    assert params["horizons"] == [1, 7]
    twin = make_forecaster(kind, **params)
    assert twin.get_params() == params


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: .*naive"):
        make_forecaster("prophet")


@pytest.mark.parametrize("kind", KINDS)
def test_unfitted_model_refuses_to_predict(kind: str, ar_data: ForecastData) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        small(kind).predict(ar_data, np.array([10]))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_gives_identical_predictions(
    kind: str, ar_data: ForecastData, tmp_path: Path
) -> None:
    model = small(kind).fit(ar_data, end=END)
    written = model.save(tmp_path)
    assert all(path.is_file() and path.parent == tmp_path for path in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    loaded = load_forecaster(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    expected = model.predict(ar_data, ORIGINS)
    assert expected.shape == (ORIGINS.size, 3)
    assert np.isfinite(expected).all()
    assert np.array_equal(loaded.predict(ar_data, ORIGINS), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_reads_nothing_after_the_cut(kind: str, ar_data: ForecastData) -> None:
    clean = small(kind).fit(ar_data, end=END)
    poisoned = small(kind).fit(poison_after_cut(ar_data, END), end=END)
    everywhere = np.arange(len(ar_data))
    assert np.array_equal(clean.predict(ar_data, everywhere), poisoned.predict(ar_data, everywhere))


@pytest.mark.parametrize("kind", KINDS)
def test_predict_reads_nothing_after_the_origin(kind: str, ar_data: ForecastData) -> None:
    model = small(kind).fit(ar_data, end=END)
    together = model.predict(ar_data, ORIGINS)
    for i, origin in enumerate(ORIGINS):
        alone = model.predict(poison_after_origin(ar_data, int(origin)), np.array([origin]))
        assert np.allclose(alone[0], together[i], rtol=1e-6, atol=1e-9), origin
        assert np.array_equal(alone, model.predict(ar_data, np.array([origin])))


@pytest.mark.parametrize("kind", KINDS)
def test_no_origins_gives_an_empty_forecast(kind: str, ar_data: ForecastData) -> None:
    model = small(kind).fit(ar_data, end=END)
    assert model.predict(ar_data, np.array([], dtype=np.int64)).shape == (0, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_too_little_data_says_how_much_is_needed(kind: str, make_data: DataBuilder) -> None:
    tiny = make_data(np.linspace(0.0, 0.1, 25))
    end = {"naive": 0, "drift": 1}.get(kind, 25)
    with pytest.raises(NotEnoughDataError, match=rf"^{kind} needs (more than|at least) \d+"):
        small(kind).fit(tiny, end=end)


def test_loading_another_kind_is_refused(ar_data: ForecastData, tmp_path: Path) -> None:
    small("drift").fit(ar_data).save(tmp_path)
    with pytest.raises(ValueError, match="'drift' model, not 'lstm'"):
        LSTMForecaster.load(tmp_path)
