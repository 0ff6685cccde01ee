"""A fitted model's forecast from the newest row of a series, inside the intervals saved with
its version: the chosen interval method's (bounds, quantile fan, P(up)) or, for a version
trained before those were chosen, its conformal calibrator's. Pure: issuing calls it with
what it loaded."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cryptopredict.forecasting.forecasters.base import FloatArray, ForecastData, Forecaster
from cryptopredict.forecasting.interval_models import IntervalModel
from cryptopredict.forecasting.intervals import (
    ConformalCalibrator,
    intervals_for_origins,
    level_label,
)
from cryptopredict.forecasting.predictive import FAN_PROBS


@dataclass(frozen=True)
class PointForecast:
    """A forecast from the newest row of a series, with calibrated intervals.

    Attributes:
        horizon: steps ahead.
        origin_at: the newest row's timestamp (the forecast's origin).
        target_at: the instant forecast.
        origin_price: the price at the origin.
        predicted_log_return: the model's log return from origin to target.
        price: the point forecast, ``origin_price * exp(predicted_log_return)``.
        bounds: per level label (``"80"``, ``"95"``), ``(lower, upper)`` prices; None when
            the calibrator holds too few residuals for that horizon.
        interval_method: the interval method that made the bounds.
        quantiles: per percent label (``"5"`` ... ``"95"``), the fan's prices (empty for a
            version trained before interval methods were chosen).
        p_up: the probability that the price is higher at the target (None: not known).
    """

    horizon: int
    origin_at: dt.datetime
    target_at: dt.datetime
    origin_price: float
    predicted_log_return: float
    price: float
    bounds: dict[str, tuple[float, float] | None]
    interval_method: str = "conformal"
    quantiles: dict[str, float] = field(default_factory=dict)
    p_up: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "horizon": self.horizon,
            "origin_at": self.origin_at.isoformat(),
            "target_at": self.target_at.isoformat(),
            "origin_price": self.origin_price,
            "predicted_log_return": self.predicted_log_return,
            "price": self.price,
            "bounds": {k: None if v is None else list(v) for k, v in self.bounds.items()},
            "interval_method": self.interval_method,
            "quantiles": dict(self.quantiles),
            "p_up": self.p_up,
        }


def forecast_latest(
    forecaster: Forecaster,
    data: ForecastData,
    horizon: int,
    calibrator: ConformalCalibrator,
    *,
    step: pd.Timedelta,
    interval_model: IntervalModel | None = None,
) -> PointForecast:
    """Forecast ``horizon`` steps from the last row and put intervals around it (log space,
    as in the backtest): the chosen interval method's, or else the calibrator's.

    Args:
        forecaster: a fitted model whose horizons include ``horizon``.
        data: the series up to now (features as the model was fitted on).
        horizon: steps ahead.
        calibrator: conformal state saved with the model's version.
        step: the series' interval, to date the target.
        interval_model: the interval method chosen for this horizon, saved with the version
            (bounds, quantile fan and P(up) come from it).

    Raises:
        ValueError: a horizon the model or calibrator does not know, or no finite forecast.
    """
    if horizon not in forecaster.horizons:
        raise ValueError(f"the model forecasts horizons {forecaster.horizons}, not {horizon}")
    if horizon not in calibrator.horizons:
        raise ValueError(f"the calibration covers horizons {calibrator.horizons}, not {horizon}")
    origin = np.array([len(data) - 1], dtype=np.int64)
    predicted = float(forecaster.predict(data, origin)[0, forecaster.horizons.index(horizon)])
    if not math.isfinite(predicted):
        raise ValueError(f"{forecaster.kind} gave no forecast from {data.index[-1]}")
    log_origin = float(data.log_price[origin[0]])
    origin_at = pd.Timestamp(data.index[-1])
    if interval_model is not None:
        return _with_interval_model(
            interval_model, data, horizon, predicted, origin_at.to_pydatetime(), step
        )
    log_bounds = intervals_for_origins(calibrator, horizon, [predicted], data.log_price, origin)
    bounds = _price_bounds(log_origin, log_bounds)
    return PointForecast(
        horizon=horizon,
        origin_at=origin_at.to_pydatetime(),
        target_at=(origin_at + step * horizon).to_pydatetime(),
        origin_price=math.exp(log_origin),
        predicted_log_return=predicted,
        price=math.exp(log_origin + predicted),
        bounds=bounds,
    )


def _price_bounds(
    log_origin: float, log_bounds: Mapping[float, tuple[FloatArray, FloatArray]]
) -> dict[str, tuple[float, float] | None]:
    """Per level label, the first row's log-return bounds as prices (None when not finite)."""
    bounds: dict[str, tuple[float, float] | None] = {}
    for level, (lower, upper) in log_bounds.items():
        low, high = float(lower[0]), float(upper[0])
        finite = math.isfinite(low) and math.isfinite(high)
        bounds[level_label(level)] = (
            (math.exp(log_origin + low), math.exp(log_origin + high)) if finite else None
        )
    return bounds


def _with_interval_model(
    model: IntervalModel,
    data: ForecastData,
    horizon: int,
    predicted: float,
    origin_at: dt.datetime,
    step: pd.Timedelta,
) -> PointForecast:
    """The forecast with the interval method's bounds, quantile fan and P(up)."""
    if model.horizon != horizon:
        raise ValueError(f"the interval model serves horizon {model.horizon}, not {horizon}")
    log_origin = float(data.log_price[-1])
    predictive = model.predictive(data.log_price, predicted)
    bounds = _price_bounds(log_origin, {level: predictive.bounds(level) for level in (0.8, 0.95)})
    fan = predictive.quantiles(FAN_PROBS)[0]
    quantiles = {
        level_label(p): math.exp(log_origin + float(q))
        for p, q in zip(FAN_PROBS, fan, strict=True)
        if math.isfinite(q)
    }
    p_up = float(predictive.prob_up()[0])
    return PointForecast(
        horizon=horizon,
        origin_at=origin_at,
        target_at=origin_at + step.to_pytimedelta() * horizon,
        origin_price=math.exp(log_origin),
        predicted_log_return=predicted,
        price=math.exp(log_origin + predicted),
        bounds=bounds,
        interval_method=model.method,
        quantiles=quantiles,
        p_up=p_up if math.isfinite(p_up) else None,
    )
