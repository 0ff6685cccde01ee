"""Every model on a real coin's features from ``forecasting.dataset`` (the shared CSVs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryptopredict.forecasting.dataset import build_forecast_data, load_csv
from cryptopredict.forecasting.forecasters import load_forecaster, make_forecaster
from cryptopredict.forecasting.forecasters.base import ForecastData
from tests.conftest import SNAPSHOT_PRICES
from tests.forecasting.test_forecasters_contract import (
    KINDS,
    SMALL,
    poison_after_cut,
    poison_after_origin,
)

PRICES = SNAPSHOT_PRICES


def real_data(coin: str) -> ForecastData:
    return build_forecast_data(load_csv(PRICES / f"{coin}.csv"))


@pytest.fixture(scope="module")
def cardano() -> ForecastData:
    return real_data("cardano")


@pytest.mark.parametrize("kind", KINDS)
def test_fits_and_round_trips_on_real_features(
    kind: str, cardano: ForecastData, tmp_path: Path
) -> None:
    end = 1000
    model = make_forecaster(kind, cardano.horizons, **SMALL[kind]).fit(cardano, end=end)
    origins = np.arange(end, len(cardano), 17)
    forecast = model.predict(cardano, origins)
    assert np.isfinite(forecast).all()
    # Daily log returns: anything beyond +-100 % in 30 days would be a broken model.
    assert np.abs(forecast).max() < 1.0
    model.save(tmp_path)
    assert np.array_equal(load_forecaster(tmp_path).predict(cardano, origins), forecast)

    poisoned = make_forecaster(kind, cardano.horizons, **SMALL[kind])
    poisoned.fit(poison_after_cut(cardano, end), end=end)
    assert np.array_equal(poisoned.predict(cardano, origins), forecast)
    origin = int(origins[3])
    alone = model.predict(poison_after_origin(cardano, origin), np.array([origin]))
    assert np.array_equal(alone, model.predict(cardano, np.array([origin])))
    assert np.allclose(alone[0], forecast[3], rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_lstm_fits_five_years_of_bitcoin() -> None:
    """Time and memory are measured by `python -m bench forecast`, never asserted here."""
    full = real_data("bitcoin")
    data = _tail(full, max(0, len(full) - (5 * 365 + 1)))
    model = make_forecaster("lstm", data.horizons).fit(data)
    forecast = model.predict(data, np.arange(len(data)))
    assert forecast.shape == (len(data), len(data.horizons))
    assert np.isfinite(forecast).all()
    assert np.abs(forecast).max() < 1.0


def _tail(data: ForecastData, start: int) -> ForecastData:
    return ForecastData(
        index=data.index[start:],
        log_price=data.log_price[start:],
        features=data.features[start:],
        feature_names=data.feature_names,
        targets=data.targets[start:],
        horizons=data.horizons,
        name=data.name,
    )
