"""What forecasting reads from the rest of the system: a coin's stored series as a frame, and
a registered version's fitted model (files hash-checked). Shared by training, issuing and
serving; ``service`` re-exports both for other domains."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.errors import ConflictError, NotFoundError
from cryptopredict.forecasting import latest, registry
from cryptopredict.forecasting.forecasters.base import ForecastData, Forecaster
from cryptopredict.forecasting.interval_models import IntervalModel
from cryptopredict.forecasting.intervals import ConformalCalibrator
from cryptopredict.forecasting.models import ModelVersion
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.schemas import TimeRange
from cryptopredict.prices.types import Interval

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

MAX_SERIES_POINTS = 1_000_000


def load_prices(
    *, session: Session, coin: Cryptocurrency, interval: Interval = Interval.DAY
) -> pd.DataFrame:
    """A coin's stored series as a frame indexed by UTC instant, oldest first, with the
    columns of a price CSV (open, high, low, close, volume, market_cap)."""
    payload = prices_service.history(
        session=session, coin=coin, interval=interval, window=TimeRange(), limit=MAX_SERIES_POINTS
    )
    points = payload["points"]
    if not points:
        raise NotFoundError(
            f"No {interval.value} prices stored for {coin.coingecko_id!r}",
            details={"coin": coin.coingecko_id, "interval": interval.value},
        )
    frame = pd.DataFrame.from_records(points)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), utc=True), name="date")
    frame["close"] = frame["close"].fillna(frame.pop("price"))
    return frame[["open", "high", "low", "close", "volume", "market_cap"]].astype(float)


def load_model(*, settings: Settings, version: ModelVersion) -> Forecaster:
    """The fitted forecaster of a registered version, after checking its files' hashes."""
    return registry.load_artifact(
        settings.resolved_model_dir, version.artifact_path, version.artifact_sha256
    )


def calibrator_of(version: ModelVersion) -> ConformalCalibrator:
    """The version's stored conformal state; a version without one must be retrained."""
    try:
        return ConformalCalibrator.from_dict(version.calibration)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConflictError(
            f"{version.kind} v{version.version} has no usable interval calibration; retrain it",
            details={"version_id": version.id},
        ) from exc


def forecast_with(
    version: ModelVersion, model: Forecaster, data: ForecastData, *, step: pd.Timedelta
) -> latest.PointForecast:
    """`version`'s forecast from the newest row of `data`, inside its calibrated intervals.

    Raises:
        ConflictError: the version's features or calibration no longer match the engine.
    """
    if list(data.feature_names) != list(version.features):
        raise ConflictError(
            f"{version.kind} v{version.version} was trained on other features than the engine "
            "computes now; retrain it",
            details={"version_id": version.id},
        )
    return latest.forecast_latest(
        model,
        data,
        version.horizon,
        calibrator_of(version),
        step=step,
        interval_model=interval_model_of(version),
    )


def interval_model_of(version: ModelVersion) -> IntervalModel | None:
    """The interval method chosen for the version's horizon when it was trained (None for a
    version trained before they were chosen, or one that was not the selected model)."""
    stored = (version.calibration or {}).get("interval")
    if not stored:
        return None
    try:
        return IntervalModel.from_dict(stored["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConflictError(
            f"{version.kind} v{version.version} has an unreadable interval model; retrain it",
            details={"version_id": version.id},
        ) from exc
