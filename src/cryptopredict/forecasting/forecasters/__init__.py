"""The model zoo: every forecaster by kind, and one way to build or load any of them.

Importing this package is cheap: statsmodels, LightGBM and torch load only when a model that
needs them is fitted or loaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptopredict.forecasting.forecasters.base import PARAMS_FILE, Forecaster
from cryptopredict.forecasting.forecasters.baselines import (
    DriftForecaster,
    MeanReturnForecaster,
    NaiveForecaster,
)
from cryptopredict.forecasting.forecasters.boosting import LightGBMForecaster
from cryptopredict.forecasting.forecasters.lstm import LSTMForecaster
from cryptopredict.forecasting.forecasters.statistical import ArimaForecaster

FORECASTERS: dict[str, type[Forecaster]] = {
    cls.kind: cls
    for cls in (
        NaiveForecaster,
        DriftForecaster,
        MeanReturnForecaster,
        ArimaForecaster,
        LightGBMForecaster,
        LSTMForecaster,
    )
}
"""Every shipped forecaster class by its ``kind``."""


def forecaster_class(kind: str) -> type[Forecaster]:
    """The class of a kind; a ValueError lists the kinds there are."""
    try:
        return FORECASTERS[kind]
    except KeyError:
        raise ValueError(
            f"unknown forecaster kind {kind!r}; known: {sorted(FORECASTERS)}"
        ) from None


def make_forecaster(kind: str, horizons: Sequence[int] = (1, 7, 30), **params: Any) -> Forecaster:
    """An unfitted forecaster of ``kind`` with these horizons and hyper-parameters."""
    return forecaster_class(kind)(horizons=horizons, **params)


def load_forecaster(directory: Path) -> Forecaster:
    """Load a saved forecaster of any kind, dispatching on the kind in ``params.json``."""
    payload = json.loads((Path(directory) / PARAMS_FILE).read_text())
    return forecaster_class(str(payload.get("kind"))).load(Path(directory))
