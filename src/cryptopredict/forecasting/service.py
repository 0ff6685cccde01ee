"""Forecasting logic that needs the database: price series in, registered model versions out,
and forecasts served from the production version.

Glues ``training`` (pure: frames in, results out), the file side of the registry
(``registry``) and its database side (``ModelVersionRepository``). Other domains are reached
through their services only: coins through ``coins.service``, prices through
``prices.service``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.coins.schemas import CatalogueOrder
from cryptopredict.core import instruments
from cryptopredict.core.cache import FORECASTS_NAMESPACE, ResponseCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.core.errors import AppError, ConflictError, NotFoundError
from cryptopredict.forecasting import dataset, issuing, latest, live, registry, serving, training
from cryptopredict.forecasting.forecasters import forecaster_class
from cryptopredict.forecasting.inputs import forecast_with
from cryptopredict.forecasting.inputs import load_model as load_model  # re-exported
from cryptopredict.forecasting.inputs import load_prices as load_prices  # re-exported
from cryptopredict.forecasting.models import ModelEventKind, ModelStatus, ModelVersion
from cryptopredict.forecasting.repository import ModelVersionRepository
from cryptopredict.forecasting.schemas import CoinForecasts
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval
from cryptopredict.stream import service as stream_service

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)


@dataclass
class TrainingOutcome:
    """A training run's results and the versions it registered (promoted ones included)."""

    coin: Cryptocurrency
    result: training.TrainingResult
    versions: list[ModelVersion]
    promoted: list[ModelVersion]


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
    config: training.TrainingConfig | None = None,
    on_progress: training.ProgressCallback | None = None,
) -> TrainingOutcome:
    """Backtest, select, refit and calibrate (``training.train_coin``), register every refitted
    model as a candidate version (with the series' data-quality report and its conformal
    calibration) and promote the selected one per horizon. Does not commit."""
    result = training.train_coin(
        prices,
        coin=coin.coingecko_id,
        horizons=horizons,
        models=models,
        interval=interval.value,
        config=config,
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


@dataclass(frozen=True)
class ServedForecast:
    """A forecast of the production model, with what a reader needs to weigh it.

    Attributes:
        coin: CoinGecko id.
        interval: the series' interval.
        model: the production version's kind.
        version: its version number.
        skilled: whether its backtest beat naive significantly (Diebold-Mariano); False for
            naive itself, which is served when no model has skill.
        metrics: its backtest figures (the training report's row).
        forecast: the point forecast and its calibrated 80/95 % bounds.
        stale: whether the newest stored price is more than two intervals old.
    """

    coin: str
    interval: str
    model: str
    version: int
    skilled: bool
    metrics: dict[str, Any]
    forecast: latest.PointForecast
    stale: bool | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "coin": self.coin,
            "interval": self.interval,
            "model": self.model,
            "version": self.version,
            "skilled": self.skilled,
            "metrics": self.metrics,
            "forecast": self.forecast.to_dict(),
            "stale": self.stale,
        }


def forecast(
    *,
    session: Session,
    settings: Settings,
    coin: Cryptocurrency,
    horizon: int,
    interval: Interval = Interval.DAY,
    now: dt.datetime | None = None,
) -> ServedForecast:
    """Forecast a coin ``horizon`` steps ahead from its latest stored price with the
    production version (files hash-checked), inside the intervals calibrated when it was
    trained.

    Raises:
        NotFoundError: no production version, or no stored prices.
        ConflictError: the version's features or calibration no longer match the engine.
        RegistryError: the version's files are missing or changed.
    """
    version = production_version(session=session, coin=coin, horizon=horizon, interval=interval)
    model = load_model(settings=settings, version=version)
    prices = load_prices(session=session, coin=coin, interval=interval)
    data, quality = training.prepare(
        prices,
        coin=coin.coingecko_id,
        horizons=model.horizons,
        interval=interval.value,
        now=now or utcnow(),
    )
    point = forecast_with(version, model, data, step=dataset.interval_step(interval.value))
    return ServedForecast(
        coin=coin.coingecko_id,
        interval=interval.value,
        model=version.kind,
        version=version.version,
        skilled=bool(version.metrics.get("skilled", False)),
        metrics=dict(version.metrics),
        forecast=point,
        stale=quality["stale"],
    )


def issue_forecasts(
    *,
    session: Session,
    settings: Settings,
    now: dt.datetime,
    coin: str | None = None,
    interval: Interval = Interval.DAY,
) -> issuing.IssueReport:
    """Issue forecasts from the newest closed bar for one coin, or every coin with a
    production version (``issuing``); commits per coin, then announces each coin that got a
    new forecast on the live stream."""
    if coin is not None:
        coins = [resolve_coin(session=session, identifier=coin)]
    else:
        ids = issuing.coins_to_issue(session, interval)
        coins = list(coins_service.get_many_by_ids(session=session, ids=ids).values())
    report = issuing.issue_forecasts(
        session=session, settings=settings, coins=coins, now=now, interval=interval
    )
    for (horizon, kind), count in sorted(report.by_model.items()):
        instruments.forecasts_issued(count, horizon=horizon, model=kind)
    _announce(session, settings, report.issued_coins, "issued", now)
    return report


def score_predictions(
    *, session: Session, settings: Settings, now: dt.datetime
) -> live.ScoringReport:
    """Score due forecasts, refresh live records, demote failing production versions
    (``live``; commits), then announce each coin whose live record changed on the stream."""
    report = live.score_predictions(session=session, now=now)
    found = coins_service.get_many_by_ids(session=session, ids=report.coin_ids)
    instruments.predictions_scored(report.scored)
    for version, figures in report.records:
        coin = found.get(version.coin_id)
        if coin is not None:
            instruments.live_accuracy(
                coin.coingecko_id,
                version.horizon,
                version.kind,
                mae_ratio=figures["mae_ratio"],
                coverage_80=(figures["coverage_80"] or {}).get("observed"),
                coverage_95=(figures["coverage_95"] or {}).get("observed"),
            )
    _announce(session, settings, [coin.coingecko_id for coin in found.values()], "scored", now)
    return report


def _announce(
    session: Session, settings: Settings, coins: Sequence[str], reason: str, now: dt.datetime
) -> None:
    """A `forecast` stream event per coin: what GET /forecasts/{coin} answers now, and why
    it changed (`issued` or `scored`). A coin with nothing to serve is skipped."""
    for coin in coins:
        try:
            answer = serving.coin_forecasts(
                session=session,
                settings=settings,
                identifier=coin,
                horizons=training.DEFAULT_HORIZONS,
                now=now,
            )
        except AppError:
            continue
        stream_service.publish_forecast(
            coin, {"reason": reason, **answer.model_dump(mode="json")}, settings=settings
        )


def served_forecasts(
    *,
    session: Session,
    settings: Settings,
    identifier: str,
    horizons: Sequence[int],
    now: dt.datetime,
) -> CoinForecasts | None:
    """What GET /forecasts/{coin} serves for these horizons, or None where the coin has no
    forecast yet (other domains build on it: the portfolio's value band)."""
    try:
        return serving.coin_forecasts(
            session=session, settings=settings, identifier=identifier, horizons=horizons, now=now
        )
    except AppError:
        return None


def _admin_version(session: Session, model_id: int) -> ModelVersion:
    version = ModelVersionRepository(session).get(model_id)
    if version is None:
        raise NotFoundError(f"No model {model_id}", details={"model_id": model_id})
    return version


def promote_model(
    *,
    session: Session,
    settings: Settings,
    cache: ResponseCache,
    model_id: int,
    actor: str,
    now: dt.datetime,
) -> ModelVersion:
    """Put a version in production by an admin's decision (the one it replaces is archived),
    recorded on both model cards, and issue its forecast from the newest closed bar if it
    has none yet, so it serves from the next read. Commits.

    Raises:
        NotFoundError: no such version.
        ConflictError: another promotion for the same coin and horizon committed meanwhile.
    """
    versions = ModelVersionRepository(session)
    version = _admin_version(session, model_id)
    if version.status is ModelStatus.PRODUCTION:
        return version
    replaced = versions.production(version.coin_id, version.interval, version.horizon)
    try:
        versions.promote(version, at=now)
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConflictError(
            "another version of this coin and horizon was put in production at the same "
            "time; reload and try again",
            details={"model_id": model_id},
        ) from None
    if replaced is not None:
        live.record_event(
            session,
            replaced,
            ModelEventKind.ARCHIVED,
            source=live.ADMIN,
            reason=f"replaced by {version.kind} v{version.version}, put in production by an admin",
            now=now,
        )
    live.record_event(
        session,
        version,
        ModelEventKind.PROMOTED,
        source=live.ADMIN,
        reason="an admin put it in production",
        now=now,
    )
    session.commit()
    coin = coins_service.get_many_by_ids(session=session, ids=[version.coin_id])[version.coin_id]
    try:
        issuing.issue_for_coin(
            session=session,
            settings=settings,
            coin=coin,
            now=now,
            interval=Interval(version.interval),
        )
        session.commit()
    except NotFoundError:  # no closed bar: the next issuing run will do it
        session.rollback()
    cache.invalidate(FORECASTS_NAMESPACE)
    logger.info("model %d promoted by %s", model_id, actor)
    return version


def archive_model(
    *, session: Session, cache: ResponseCache, model_id: int, actor: str, now: dt.datetime
) -> ModelVersion:
    """Retire a version by an admin's decision; a production version's horizon is served by
    naive until another is promoted. Commits."""
    version = _admin_version(session, model_id)
    if version.status is not ModelStatus.ARCHIVED:
        ModelVersionRepository(session).archive(version)
        live.record_event(
            session,
            version,
            ModelEventKind.ARCHIVED,
            source=live.ADMIN,
            reason="an admin archived it",
            now=now,
        )
        session.commit()
        cache.invalidate(FORECASTS_NAMESPACE)
        logger.info("model %d archived by %s", model_id, actor)
    return version


# ---- retraining: which coins are due, and one coin trained on its stored series -----------


@dataclass(frozen=True)
class RetrainPlan:
    """The tracked coins a retraining round trains, and those it leaves out.

    Attributes:
        min_rows: daily rows a coin needs (``TrainingConfig.minimum_rows``).
        due: CoinGecko ids to train, best-ranked first: a default horizon has no production
            version, or the newest version was registered before the round's cut-off.
        too_short: ids with too little daily history, each with the reason.
        up_to_date: ids trained since the cut-off.
    """

    min_rows: int
    due: list[str]
    too_short: dict[str, str]
    up_to_date: list[str]


def _is_due(
    state: tuple[dt.datetime | None, frozenset[int]],
    horizons: Sequence[int],
    trained_before: dt.datetime | None,
) -> bool:
    """Whether a coin's models need training: a horizon unserved, or none newer than the
    cut-off (None: always)."""
    newest, serving = state
    if trained_before is None or newest is None or not set(horizons) <= serving:
        return True
    return newest < trained_before


def retrain_plan(
    *,
    session: Session,
    trained_before: dt.datetime | None,
    horizons: Sequence[int] = training.DEFAULT_HORIZONS,
    config: training.TrainingConfig | None = None,
    interval: Interval = Interval.DAY,
) -> RetrainPlan:
    """Which active coins with stored prices to train now (``RetrainPlan``). A coin's history
    is the span of its stored series on the interval's grid (gaps are filled or refused by
    the cleaning that training does)."""
    min_rows = (config or training.TrainingConfig()).minimum_rows(horizons)
    coins = coins_service.list_listings(
        session=session,
        order=CatalogueOrder.RANK,
        active=True,
        where=prices_service.has_prices,
    )
    extents = prices_service.extents(session=session, coin_ids=[coin.id for coin in coins])
    step = dataset.interval_step(interval.value).to_pytimedelta()
    enough = []
    too_short: dict[str, str] = {}
    for coin in coins:
        extent = extents.get(coin.id, {}).get(interval)
        rows = 0 if extent is None else (extent.last - extent.first) // step + 1
        if rows < min_rows:
            too_short[coin.coingecko_id] = f"{rows} {interval.value} rows, {min_rows} needed"
        else:
            enough.append(coin)
    state = ModelVersionRepository(session).training_state(
        [coin.id for coin in enough], interval.value
    )
    due: list[str] = []
    up_to_date: list[str] = []
    for coin in enough:
        chosen = due if _is_due(state[coin.id], horizons, trained_before) else up_to_date
        chosen.append(coin.coingecko_id)
    return RetrainPlan(min_rows=min_rows, due=due, too_short=too_short, up_to_date=up_to_date)


def needs_training(
    *,
    session: Session,
    coin: Cryptocurrency,
    trained_before: dt.datetime | None,
    horizons: Sequence[int] = training.DEFAULT_HORIZONS,
    interval: Interval = Interval.DAY,
) -> bool:
    """Whether one coin is due by the rule of ``retrain_plan`` (history aside)."""
    state = ModelVersionRepository(session).training_state([coin.id], interval.value)
    return _is_due(state[coin.id], horizons, trained_before)


def train_stored(
    *,
    session: Session,
    settings: Settings,
    coin: Cryptocurrency,
    interval: Interval = Interval.DAY,
    config: training.TrainingConfig | None = None,
) -> TrainingOutcome:
    """``train`` on the coin's stored series with the configured model kinds
    (``training_models``; every shipped one when empty).

    The transaction that read the series is committed before the fit (the session keeps
    its objects), so none stays open for the minutes a fit may take: PostgreSQL would hold
    an idle transaction, and SQLite a read snapshot that could not become a write once
    another connection has written. The versions are written in a new transaction, which
    the caller commits.

    Raises:
        ValueError: an unknown model kind, or a series training cannot use (too short).
        NotFoundError: no prices stored on the interval.
    """
    models = list(settings.training_models) or None
    for kind in models or ():
        forecaster_class(kind)  # an unknown kind fails before any work
    prices = load_prices(session=session, coin=coin, interval=interval)
    session.commit()
    return train(
        session=session,
        settings=settings,
        coin=coin,
        prices=prices,
        models=models,
        interval=interval,
        config=config,
    )


def _label(version: ModelVersion) -> str:
    return f"{version.kind} v{version.version}"


def outcome_summary(
    outcome: TrainingOutcome, *, replaced: Sequence[ModelVersion] = ()
) -> dict[str, Any]:
    """A JSON-ready account of one coin's training: versions registered, the one promoted
    per horizon, the production versions they replaced (archived, kept as fallbacks),
    the models left out and the backtest's wall time."""
    backtest = outcome.result.backtest
    return {
        "coin": outcome.coin.coingecko_id,
        "versions_registered": len(outcome.versions),
        "promoted": {str(v.horizon): _label(v) for v in outcome.promoted},
        "replaced": {str(v.horizon): _label(v) for v in replaced},
        "skipped_models": dict(backtest.skipped),
        "backtest_seconds": round(backtest.seconds, 3),
    }


def production_versions(
    *,
    session: Session,
    coin: Cryptocurrency,
    horizons: Sequence[int] = training.DEFAULT_HORIZONS,
    interval: Interval = Interval.DAY,
) -> list[ModelVersion]:
    """The versions serving a coin at these horizons now (those that have one)."""
    repository = ModelVersionRepository(session)
    found = [repository.production(coin.id, interval.value, h) for h in horizons]
    return [version for version in found if version is not None]
