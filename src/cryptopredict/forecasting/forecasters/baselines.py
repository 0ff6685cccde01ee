"""The baselines every other model must beat: naive, drift and mean return.

On daily crypto prices the naive forecast ("tomorrow = today", a zero log return) is the bar
that published comparisons rarely see beaten, so it is computed here exactly and cheaply. All
three read only ``log_price``; none uses features, so none loses rows to feature warm-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np

from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
    NotEnoughDataError,
    check_origins,
    resolve_end,
)


class NaiveForecaster(Forecaster):
    """Tomorrow equals today: a zero log return at every horizon.

    Fitting learns nothing; it only checks that there is a price to carry forward.

    Args:
        horizons: steps ahead to forecast.
    """

    kind = "naive"

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        """Check there is at least one price before ``end``."""
        if resolve_end(data, end) < 1:
            raise NotEnoughDataError("naive needs at least 1 row before the cut, got 0")
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        """Zero log return for every origin and horizon."""
        self._check_fitted()
        rows = check_origins(data, origins)
        return np.zeros((rows.size, len(self.horizons)), dtype=np.float64)

    def save(self, directory: Path) -> list[Path]:
        """Write ``params.json``."""
        self._check_fitted()
        return [self._write_params(directory)]

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild from ``params.json``."""
        params, _ = cls._read_params(directory)
        model = cls(**params)
        model.fitted_ = True
        return model


class DriftForecaster(Forecaster):
    """The random walk with drift: ``h`` times the mean one-step log return.

    The drift is the mean one-step log return over the training window, i.e.
    ``(log_price[end-1] - log_price[start]) / (end - 1 - start)``: the slope of the line
    from the window's first price to its last. Every horizon scales that one number.

    Args:
        horizons: steps ahead to forecast.
        window: how many of the last training rows to use; None uses all of them.
    """

    kind = "drift"

    def __init__(self, horizons: Sequence[int] = (1, 7, 30), window: int | None = None) -> None:
        super().__init__(horizons)
        if window is not None and window < 2:
            raise ValueError("window must be at least 2 rows (one return)")
        self.window = window
        self.drift_: float = 0.0

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        """Learn the mean one-step log return over the rows before ``end``."""
        stop = resolve_end(data, end)
        start = 0 if self.window is None else max(0, stop - self.window)
        if stop - start < 2:
            raise NotEnoughDataError(
                f"drift needs at least 2 rows before the cut (one return), got {stop - start}"
            )
        returns = np.diff(data.log_price[start:stop])
        returns = returns[np.isfinite(returns)]
        if returns.size == 0:
            raise NotEnoughDataError("drift found no finite one-step return before the cut")
        self.drift_ = float(returns.mean())
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        """``drift * h`` for every origin."""
        self._check_fitted()
        rows = check_origins(data, origins)
        forecast = self.drift_ * np.asarray(self.horizons, dtype=np.float64)
        return np.tile(forecast, (rows.size, 1))

    def save(self, directory: Path) -> list[Path]:
        """Write ``params.json`` holding the drift."""
        self._check_fitted()
        return [self._write_params(directory, drift=self.drift_)]

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild from ``params.json``."""
        params, state = cls._read_params(directory)
        model = cls(**params)
        model.drift_ = float(state["drift"])
        model.fitted_ = True
        return model


class MeanReturnForecaster(Forecaster):
    """The mean ``h``-step log return over a trailing window of the training data.

    How it differs from drift: drift fits one slope over its window and multiplies it by
    ``h``. This model averages the realised ``h``-step returns ``log_price[t+h] -
    log_price[t]`` with both ends inside the last ``window`` training rows, one mean per
    horizon. The overlapping ``h``-step returns weight the one-step returns near the
    window's edges less than those in the middle, and the default trailing window (a year of
    daily rows) follows the recent regime instead of the whole history. With the same window
    and ``h = 1`` it equals drift.

    Args:
        horizons: steps ahead to forecast.
        window: trailing rows whose ``h``-step returns are averaged; None uses all rows.
    """

    kind = "mean"

    def __init__(self, horizons: Sequence[int] = (1, 7, 30), window: int | None = 365) -> None:
        super().__init__(horizons)
        if window is not None and window < 2:
            raise ValueError("window must be at least 2 rows")
        self.window = window
        self.means_: FloatArray = np.zeros(len(self.horizons), dtype=np.float64)

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        """Average each horizon's realised returns that close before ``end``."""
        stop = resolve_end(data, end)
        start = 0 if self.window is None else max(0, stop - self.window)
        prices = data.log_price[start:stop]
        means = np.empty(len(self.horizons), dtype=np.float64)
        for j, h in enumerate(self.horizons):
            returns = prices[h:] - prices[:-h] if prices.size > h else np.empty(0)
            returns = returns[np.isfinite(returns)]
            if returns.size == 0:
                raise NotEnoughDataError(
                    f"mean needs more than {h} rows in its window before the cut for horizon "
                    f"{h}, got {prices.size}"
                )
            means[j] = returns.mean()
        self.means_ = means
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        """The learned mean per horizon for every origin."""
        self._check_fitted()
        rows = check_origins(data, origins)
        return np.tile(self.means_, (rows.size, 1))

    def save(self, directory: Path) -> list[Path]:
        """Write ``params.json`` holding the means."""
        self._check_fitted()
        return [self._write_params(directory, means=self.means_.tolist())]

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild from ``params.json``."""
        params, state = cls._read_params(directory)
        model = cls(**params)
        model.means_ = np.asarray(state["means"], dtype=np.float64)
        model.fitted_ = True
        return model
