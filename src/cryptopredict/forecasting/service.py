"""Forecasting logic that needs the database: price series in, registered model versions out.

Glues ``training`` (pure: frames in, results out), the file side of the registry
(``registry``) and its database side (``ModelVersionRepository``). Other domains are reached
through their services only: coins through ``coins.service``, prices through
``prices.service``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.core.errors import NotFoundError
from cryptopredict.forecasting import registry, training
from cryptopredict.forecasting.forecasters.base import Forecaster
from cryptopredict.forecasting.models import ModelVersion
from cryptopredict.forecasting.repository import ModelVersionRepository
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.models import Interval
from cryptopredict.prices.schemas import TimeRange

logger = logging.getLogger(__name__)

MAX_SERIES_POINTS = 1_000_000


@dataclass
class TrainingOutcome:
    """A training run's results and the versions it registered (promoted ones included)."""

    coin: Cryptocurrency
    result: training.TrainingResult
    versions: list[ModelVersion]
    promoted: list[ModelVersion]


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


def resolve_coin(*, session: Session, identifier: str, create: bool = False) -> Cryptocurrency:
    """A coin by id or symbol; with ``create`` an unknown CoinGecko id is added to the
    catalogue (offline training from CSV files names coins the database may not know)."""
    try:
        return coins_service.get_by_identifier(session=session, identifier=identifier)
    except NotFoundError:
        if not create:
            raise
    return coins_service.ensure(
        session=session,
        coingecko_id=identifier,
        symbol=identifier[:10],
        name=identifier.replace("-", " ").title(),
    )


def register(
    *,
    session: Session,
    model_dir: Path,
    coin: Cryptocurrency,
    interval: str,
    trained: training.TrainedModel,
    quality: dict[str, object],
) -> ModelVersion:
    """Save one refitted model as the next version of its coin, interval, horizon and kind,
    and record it as a candidate. The files are removed again if the row cannot be written."""
    versions = ModelVersionRepository(session)
    number = versions.next_version(coin.id, interval, trained.horizon, trained.kind)
    relative = registry.artifact_path(
        coin=coin.coingecko_id,
        interval=interval,
        horizon=trained.horizon,
        kind=trained.kind,
        version=number,
    )
    saved = registry.save_artifact(
        trained.forecaster,
        model_dir,
        relative,
        metadata={
            "coin": coin.coingecko_id,
            "interval": interval,
            "horizon": trained.horizon,
            "kind": trained.kind,
            "version": number,
            "train_start_at": trained.train_start_at.isoformat(),
            "train_end_at": trained.train_end_at.isoformat(),
        },
    )
    try:
        with session.begin_nested():
            return versions.register(
                coin_id=coin.id,
                interval=interval,
                horizon=trained.horizon,
                kind=trained.kind,
                version=number,
                params=trained.params,
                features=trained.features,
                train_start_at=trained.train_start_at,
                train_end_at=trained.train_end_at,
                data_quality=quality,
                metrics=trained.metrics,
                calibration=trained.calibration,
                artifact_path=saved.path,
                artifact_sha256=saved.sha256,
            )
    except Exception:
        registry.delete_artifact(model_dir, saved.path)
        raise


def train(
    *,
    session: Session,
    settings: Settings,
    coin: Cryptocurrency,
    prices: pd.DataFrame,
    horizons: Sequence[int] = training.DEFAULT_HORIZONS,
    models: Sequence[str] | None = None,
    interval: Interval = Interval.DAY,
    on_progress: training.ProgressCallback | None = None,
) -> TrainingOutcome:
    """Backtest, select, refit and calibrate (``training.train_coin``), register every refitted
    model as a candidate version and promote the selected one per horizon. Does not commit."""
    result = training.train_coin(
        prices,
        coin=coin.coingecko_id,
        horizons=horizons,
        models=models,
        interval=interval.value,
        on_progress=on_progress,
    )
    model_dir = settings.resolved_model_dir
    repository = ModelVersionRepository(session)
    registered, promoted = [], []
    for trained in result.models:
        version = register(
            session=session,
            model_dir=model_dir,
            coin=coin,
            interval=interval.value,
            trained=trained,
            quality=result.quality,
        )
        registered.append(version)
        if trained.selected:
            promoted.append(repository.promote(version))
    logger.info(
        "Trained %s: %d version(s) registered, %d promoted",
        coin.coingecko_id,
        len(registered),
        len(promoted),
    )
    return TrainingOutcome(coin=coin, result=result, versions=registered, promoted=promoted)


def load_model(*, settings: Settings, version: ModelVersion) -> Forecaster:
    """The fitted forecaster of a registered version, after checking its files' hashes."""
    return registry.load_artifact(
        settings.resolved_model_dir, version.artifact_path, version.artifact_sha256
    )


def production_version(
    *, session: Session, coin: Cryptocurrency, horizon: int, interval: Interval = Interval.DAY
) -> ModelVersion:
    """The version serving a coin and horizon; 404 when none was promoted."""
    found = ModelVersionRepository(session).production(coin.id, interval.value, horizon)
    if found is None:
        raise NotFoundError(
            f"No production model for {coin.coingecko_id!r} at horizon {horizon}",
            details={"coin": coin.coingecko_id, "horizon": horizon, "interval": interval.value},
        )
    return found
