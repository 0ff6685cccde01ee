"""Issuing forecasts into the ledger: once per closed bar, from every model a coin has.

For each horizon with a production version, the served forecast and, in shadow on the same
origin, naive's and each challenger's (the newest version of every other kind) are written in
one idempotent insert. A production version whose training data ends more than
`forecast_expiry_bars` bars before the origin is expired: naive is served instead and the
response says why. Requests only read these rows; nothing here runs per request.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.errors import AppError, NotFoundError
from cryptopredict.forecasting import dataset, latest, training
from cryptopredict.forecasting.forecasters.base import ForecastData, Forecaster
from cryptopredict.forecasting.inputs import forecast_with, load_model, load_prices
from cryptopredict.forecasting.models import ModelStatus, ModelVersion, PredictionRole
from cryptopredict.forecasting.registry import RegistryError
from cryptopredict.forecasting.repository import ModelVersionRepository, PredictionRepository
from cryptopredict.forecasting.selection import NAIVE
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)

BUSY_ATTEMPTS = 3
BUSY_PAUSE_SECONDS = 1.0
LOADED_MODELS = 256
"""Fitted models kept in memory per process between runs (hash-verified when first loaded)."""


@dataclass(slots=True)
class IssueReport:
    """What one issuing run did."""

    issued: int = 0
    by_model: Counter[tuple[int, str]] = field(default_factory=Counter)
    """New forecasts per (horizon, model kind)."""
    coins: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    issued_coins: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a task's result)."""
        return {
            "issued": self.issued,
            "coins": self.coins,
            "issued_coins": self.issued_coins,
            "skipped": self.skipped,
            "failed": self.failed,
        }


class _ModelCache:
    """Loaded forecasters by artifact (registry, path and manifest hash: the same verified
    files are the same model), least recently used dropped."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._models: OrderedDict[tuple[str, str, str], Forecaster] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, settings: Settings, version: ModelVersion) -> Forecaster:
        key = (str(settings.resolved_model_dir), version.artifact_path, version.artifact_sha256)
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
                return found
        model = load_model(settings=settings, version=version)
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model


_models = _ModelCache(LOADED_MODELS)


def expired(
    version: ModelVersion, origin_at: dt.datetime, *, step: dt.timedelta, bars: int
) -> bool:
    """Whether `version`'s training data ends more than `bars` bars before `origin_at`.
    Naive has nothing to go stale (it is the last close), so it never expires."""
    if version.kind == NAIVE:
        return False
    return origin_at - version.train_end_at > bars * step


def closed_bars(prices: pd.DataFrame, *, step: pd.Timedelta, now: dt.datetime) -> pd.DataFrame:
    """The bars that have ended by `now` (a bar is stored under its start)."""
    return prices.loc[prices.index <= pd.Timestamp(now) - step]


def _newest_closed_bar(
    session: Session,
    coin: Cryptocurrency,
    interval: Interval,
    step: dt.timedelta,
    now: dt.datetime,
) -> dt.datetime | None:
    """The newest stored bar, when it has ended by `now` (else None: the full path, which
    drops open bars, decides)."""
    extent = prices_service.extents(session=session, coin_ids=[coin.id]).get(coin.id, {})
    series = extent.get(interval)
    if series is None:
        return None
    return series.last if series.last + step <= now else None


def _newest(versions: Iterable[ModelVersion]) -> dict[tuple[int, str], ModelVersion]:
    """The newest version per (horizon, kind) among `versions` (`current()` has left out the
    demoted ones)."""
    newest: dict[tuple[int, str], ModelVersion] = {}
    for version in versions:
        key = (version.horizon, version.kind)
        if key not in newest or version.version > newest[key].version:
            newest[key] = version
    return newest


def _row(
    coin: Cryptocurrency,
    version: ModelVersion,
    point: latest.PointForecast,
    role: PredictionRole,
    issued_at: dt.datetime,
) -> dict[str, Any]:
    bounds_80 = point.bounds.get("80")
    bounds_95 = point.bounds.get("95")
    return {
        "coin_id": coin.id,
        "interval": version.interval,
        "horizon": version.horizon,
        "model_version_id": version.id,
        "model_kind": version.kind,
        "model_version": version.version,
        "role": role,
        "origin_at": point.origin_at,
        "target_at": point.target_at,
        "issued_at": issued_at,
        "origin_price": point.origin_price,
        "point": point.price,
        "lower_80": bounds_80[0] if bounds_80 else None,
        "upper_80": bounds_80[1] if bounds_80 else None,
        "lower_95": bounds_95[0] if bounds_95 else None,
        "upper_95": bounds_95[1] if bounds_95 else None,
        "interval_method": point.interval_method,
        "quantiles": dict(point.quantiles) or None,
        "p_up": point.p_up,
    }


def _forecast(
    settings: Settings, version: ModelVersion, data: ForecastData, step: pd.Timedelta
) -> latest.PointForecast:
    """One version's forecast from the newest row (the model loaded once per process)."""
    return forecast_with(version, _models.get(settings, version), data, step=step)


def issue_for_coin(
    *,
    session: Session,
    settings: Settings,
    coin: Cryptocurrency,
    now: dt.datetime,
    interval: Interval = Interval.DAY,
) -> list[tuple[int, str]]:
    """Issue every horizon of `coin` from its newest closed bar; the (horizon, model kind)
    of each new forecast.

    Raises:
        NotFoundError: no production version or no closed bar to forecast from.
    """
    versions = ModelVersionRepository(session).current(coin.id, interval.value)
    production = {v.horizon: v for v in versions if v.status is ModelStatus.PRODUCTION}
    if not production:
        raise NotFoundError(f"{coin.coingecko_id!r} has no production model yet")
    step = dataset.interval_step(interval.value)
    newest = _newest(versions)
    # The shortcut waits only for what can be served (a challenger that keeps failing must
    # not make every hourly run take the full path).
    expected = {v.id for v in production.values()} | {
        naive.id for h in production if (naive := newest.get((h, NAIVE))) is not None
    }
    origin = _newest_closed_bar(session, coin, interval, step.to_pytimedelta(), now)
    ledger = PredictionRepository(session)
    if origin is not None and ledger.issued_versions(coin.id, interval.value, origin) >= expected:
        return []  # this bar is issued already: the hourly rerun costs two queries
    prices = closed_bars(
        load_prices(session=session, coin=coin, interval=interval), step=step, now=now
    )
    if prices.empty:
        raise NotFoundError(f"{coin.coingecko_id!r} has no closed {interval.value} bar")
    horizons = sorted({*training.DEFAULT_HORIZONS, *(v.horizon for v in versions)})
    data, _ = training.prepare(
        prices, coin=coin.coingecko_id, horizons=horizons, interval=interval.value
    )
    origin_at = pd.Timestamp(data.index[-1]).to_pydatetime()
    rows: list[dict[str, Any]] = []
    for horizon, current in sorted(production.items()):
        naive = newest.get((horizon, NAIVE))
        candidates = {
            current.id: current,
            **{v.id: v for (h, _), v in newest.items() if h == horizon},
        }
        forecasts: dict[int, latest.PointForecast] = {}
        for version in candidates.values():
            try:
                forecasts[version.id] = _forecast(settings, version, data, step)
            except (AppError, ValueError, RegistryError) as exc:
                logger.warning(
                    "no %s v%d forecast for %s h=%d: %s",
                    version.kind,
                    version.version,
                    coin.coingecko_id,
                    horizon,
                    exc,
                )
        serve = served_version(
            current, naive, set(forecasts), origin_at, step=step, bars=settings.forecast_expiry_bars
        )
        for version_id, point in forecasts.items():
            role = PredictionRole.SERVED if version_id == serve else PredictionRole.SHADOW
            rows.append(_row(coin, candidates[version_id], point, role, now))
    return ledger.issue(rows)


def served_version(
    production: ModelVersion | None,
    naive: ModelVersion | None,
    forecast: set[int],
    origin_at: dt.datetime,
    *,
    step: dt.timedelta,
    bars: int,
) -> int | None:
    """Which version's forecast from `origin_at` is served: production's while it is not
    expired and did forecast, else naive's, else none. `forecast`: versions that did."""
    if (
        production is not None
        and production.id in forecast
        and not expired(production, origin_at, step=step, bars=bars)
    ):
        return production.id
    if naive is not None and naive.id in forecast:
        return naive.id
    return None


def coins_to_issue(session: Session, interval: Interval = Interval.DAY) -> list[int]:
    """Ids of the coins with a production version at `interval`."""
    return ModelVersionRepository(session).coins_in_production(interval.value)


def _issue_retrying(
    session: Session,
    settings: Settings,
    coin: Cryptocurrency,
    now: dt.datetime,
    interval: Interval,
) -> list[tuple[int, str]]:
    """`issue_for_coin`, committed, tried again after a database error that may pass (SQLite
    busy while a training process commits, a dropped connection)."""
    for attempt in range(1, BUSY_ATTEMPTS + 1):
        try:
            new = issue_for_coin(
                session=session, settings=settings, coin=coin, now=now, interval=interval
            )
            session.commit()
            return new
        except OperationalError:
            session.rollback()
            if attempt == BUSY_ATTEMPTS:
                raise
            time.sleep(BUSY_PAUSE_SECONDS * attempt)
    raise AssertionError("unreachable")


def issue_forecasts(
    *,
    session: Session,
    settings: Settings,
    coins: Sequence[Cryptocurrency],
    now: dt.datetime,
    interval: Interval = Interval.DAY,
) -> IssueReport:
    """Issue for each coin, committing per coin so one failure loses nothing else."""
    report = IssueReport()
    for coin in coins:
        try:
            new = _issue_retrying(session, settings, coin, now, interval)
        except NotFoundError as exc:
            session.rollback()
            report.skipped[coin.coingecko_id] = exc.message
            continue
        except OperationalError as exc:  # the database stayed unavailable: the next run
            session.rollback()
            logger.warning("issuing forecasts for %s failed: %s", coin.coingecko_id, exc.orig)
            report.failed[coin.coingecko_id] = f"{type(exc).__name__}: {exc.orig}"
            continue
        except Exception as exc:  # one coin's failure must not stop the others
            session.rollback()
            logger.exception("issuing forecasts for %s failed", coin.coingecko_id)
            report.failed[coin.coingecko_id] = f"{type(exc).__name__}: {exc}"
            continue
        report.coins += 1
        report.issued += len(new)
        report.by_model.update(new)
        if new:
            report.issued_coins.append(coin.coingecko_id)
    return report
