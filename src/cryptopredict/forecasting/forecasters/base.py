"""The one interface every forecaster implements, and the data it is given.

Every model forecasts **log returns** from an origin row ``t`` to ``t + h`` for each horizon
``h`` (in steps of the series' interval); prices come back as ``exp(log_price[t] + r)``.
Intervals are not the model's business: conformal calibration on out-of-sample residuals
(``forecasting.intervals``) wraps every model the same way.

No look-ahead, by construction:

- ``fit(data, end)`` may read feature rows ``< end`` and a target ``targets[t, j]`` only when
  ``t + horizons[j] < end`` (the target window closes before the cut: the embargo).
  ``training_rows`` gives exactly those rows.
- ``predict(data, origins)`` may read rows ``<= origin`` for each origin, nothing later.

``ForecastData`` is built once per series (features and targets computed once), and every
model, refit and origin of a walk-forward backtest reads slices of it, so backtests stay cheap.
Artifacts are plain files (JSON, ``.npz`` without pickle, LightGBM text, a torch
``state_dict`` loaded with ``weights_only=True``): never a pickle.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PARAMS_FILE = "params.json"


class NotEnoughDataError(ValueError):
    """Too few usable rows to fit or backtest; the message says how many are needed."""


@dataclass(frozen=True)
class ForecastData:
    """One regular series with its features and targets, aligned row by row.

    Attributes:
        index: the UTC timestamps of the rows, regular, ascending.
        log_price: natural log of the close price per row.
        features: ``(n_rows, n_features)``; row ``t`` uses only data at or before ``t``.
            NaN where a feature is not yet defined (warm-up).
        feature_names: one name per feature column.
        targets: ``(n_rows, n_horizons)`` log return from ``t`` to ``t + h``; NaN where
            ``t + h`` lies beyond the last row.
        horizons: the horizons in steps, ascending, matching the target columns.
    """

    index: pd.DatetimeIndex
    log_price: FloatArray
    features: FloatArray
    feature_names: tuple[str, ...]
    targets: FloatArray
    horizons: tuple[int, ...]
    name: str = field(default="")

    def __post_init__(self) -> None:
        n = len(self.index)
        if self.log_price.shape != (n,):
            raise ValueError("log_price must have one value per row")
        if self.features.shape != (n, len(self.feature_names)):
            raise ValueError("features must be (n_rows, len(feature_names))")
        if self.targets.shape != (n, len(self.horizons)):
            raise ValueError("targets must be (n_rows, len(horizons))")

    def __len__(self) -> int:
        return len(self.index)

    def horizon_column(self, horizon: int) -> int:
        """The target column of a horizon; a ValueError names the horizons there are."""
        try:
            return self.horizons.index(horizon)
        except ValueError:
            raise ValueError(f"horizon {horizon} not in {self.horizons}") from None


def training_rows(data: ForecastData, end: int, horizon: int) -> IntArray:
    """Rows whose features are complete and whose ``horizon`` target closes before ``end``."""
    last = end - horizon  # t + horizon < end  <=>  t < end - horizon
    if last <= 0:
        return np.empty(0, dtype=np.int64)
    rows = np.arange(last, dtype=np.int64)
    complete = ~np.isnan(data.features[:last]).any(axis=1) if data.features.size else None
    if complete is not None:
        rows = rows[complete]
    return rows


def resolve_end(data: ForecastData, end: int | None) -> int:
    """The cut as a row count within the series (all rows when None)."""
    n = len(data)
    if end is None:
        return n
    if not 0 <= end <= n:
        raise ValueError(f"end={end} outside 0..{n}")
    return int(end)


def check_origins(data: ForecastData, origins: IntArray) -> IntArray:
    """Origins as int64 row numbers, each a row of ``data``."""
    rows = np.asarray(origins, dtype=np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= len(data)):
        raise IndexError(f"origins must lie in 0..{len(data) - 1}")
    return rows


class Forecaster(ABC):
    """A model of future log returns over several horizons at once.

    Hyper-parameters are keyword arguments of ``__init__`` and come back from
    ``get_params``; learned state lives in attributes ending in ``_``.
    """

    kind: ClassVar[str]
    """Stable short name ("naive", "lightgbm", "lstm", ...) for reports and the registry."""

    def __init__(self, horizons: Sequence[int] = (1, 7, 30)) -> None:
        self.horizons = tuple(sorted(int(h) for h in horizons))
        self.fitted_ = False

    @abstractmethod
    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        """Learn from rows before ``end`` (all rows when None), respecting the embargo."""

    @abstractmethod
    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        """Predicted log returns, shape ``(len(origins), len(self.horizons))``.

        Row ``i`` uses only data at or before ``origins[i]``.
        """

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters, JSON-serialisable, enough to rebuild an unfitted twin: every
        ``__init__`` argument, read back from the attribute of the same name."""
        names = [
            name
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
            if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        params = {name: getattr(self, name) for name in names}
        params["horizons"] = list(self.horizons)
        return params

    @abstractmethod
    def save(self, directory: Path) -> list[Path]:
        """Write the fitted model as plain files under ``directory``; return the files written."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild a fitted model from files written by ``save``."""

    def _write_params(self, directory: Path, **state: Any) -> Path:
        """Write ``params.json``: kind, hyper-parameters and small learned state."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / PARAMS_FILE
        payload = {"kind": self.kind, "params": self.get_params(), "state": state}
        path.write_text(json.dumps(payload, sort_keys=True, indent=1))
        return path

    @classmethod
    def _read_params(cls, directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """Read ``params.json``, refusing one written for another kind of model."""
        payload = json.loads((directory / PARAMS_FILE).read_text())
        if payload.get("kind") != cls.kind:
            raise ValueError(f"artifact is a {payload.get('kind')!r} model, not {cls.kind!r}")
        return dict(payload["params"]), dict(payload["state"])

    def _check_features(self, data: ForecastData, fitted_on: tuple[str, ...]) -> None:
        """Refuse to predict from features other than those the model was fitted on."""
        if data.feature_names != fitted_on:
            raise ValueError(
                f"features {data.feature_names} differ from those fitted on {fitted_on}"
            )

    def _check_fitted(self) -> None:
        if not self.fitted_:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
