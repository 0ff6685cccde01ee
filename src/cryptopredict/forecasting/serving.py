"""What the forecast routes answer: issued forecasts with their measured skill and a verdict,
the ledger, the live scoreboard, model cards and monitoring events. Reads only: nothing here
fits a model or computes a feature."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.config import Settings
from cryptopredict.core.errors import AppError, ConflictError, NotFoundError
from cryptopredict.core.pagination import Page, PageParams
from cryptopredict.forecasting import dataset, training
from cryptopredict.forecasting.forecasters.base import NotEnoughDataError
from cryptopredict.forecasting.inputs import calibrator_of, load_prices
from cryptopredict.forecasting.intervals import level_label
from cryptopredict.forecasting.issuing import expired
from cryptopredict.forecasting.live import MONITORING
from cryptopredict.forecasting.models import (
    LiveScore,
    ModelEvent,
    ModelStatus,
    ModelVersion,
    Prediction,
)
from cryptopredict.forecasting.repository import (
    LiveScoreRepository,
    ModelEventRepository,
    ModelVersionRepository,
    PredictionRepository,
)
from cryptopredict.forecasting.schemas import (
    AccuracyRow,
    Bounds,
    CoinForecasts,
    Forecast,
    LedgerEntry,
    ModelCard,
    ModelEventOut,
    ModelRef,
    ModelSummary,
    Skill,
    Unavailable,
)
from cryptopredict.forecasting.selection import NAIVE
from cryptopredict.prices.types import Interval

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

INTERVAL = Interval.DAY
STALE_BARS = 2


class NotReadyError(ConflictError):
    """No forecast can be served yet (history too short, or no model trained yet)."""

    code = "forecast_not_ready"


def _bounds(lower: float | None, upper: float | None) -> Bounds | None:
    return None if lower is None or upper is None else Bounds(lower=lower, upper=upper)


def _ref(row: Prediction) -> ModelRef:
    return ModelRef(id=row.model_version_id, kind=row.model_kind, version=row.model_version)


def _figures(score: LiveScore | None) -> dict[str, Any] | None:
    return None if score is None else dict(score.figures)


def verdict(
    *,
    kind: str,
    backtest: dict[str, Any] | None,
    live: dict[str, Any] | None,
    expired_version: ModelVersion | None,
) -> str:
    """The figures in plain words: never more skill than was measured."""
    if expired_version is not None:
        return (
            f"no measured skill: this is the naive forecast, served because the "
            f"{expired_version.kind} model (v{expired_version.version}) was trained on data "
            f"ending {expired_version.train_end_at:%Y-%m-%d} and has expired"
        )
    if kind == NAIVE:
        return (
            "no measured skill: this is the naive forecast (tomorrow's price is today's); "
            "no model beat it significantly in backtests"
        )
    parts = []
    if backtest and backtest.get("relative_mae") is not None:
        parts.append(
            f"in backtests its MAE was {backtest['relative_mae']:.2f} x naive's"
            + (
                f" (Diebold-Mariano p = {backtest['dm_pvalue']:.3f})"
                if backtest.get("dm_pvalue") is not None
                else ""
            )
        )
    n = 0 if live is None else int(live.get("n", 0))
    dm = None if live is None else live.get("diebold_mariano")
    ratio = None if live is None else live.get("mae_ratio")
    if n == 0 or ratio is None:
        parts.append("no live record yet")
    elif dm is None:
        parts.append(
            f"live MAE {ratio:.2f} x naive's over {n} forecasts, too few to be significant"
        )
    else:
        judged = (
            "significantly better than naive"
            if dm["p_better"] < 0.05
            else "significantly worse than naive"
            if dm["p_worse"] < 0.05
            else "not significantly different from naive"
        )
        parts.append(f"live MAE {ratio:.2f} x naive's over {n} forecasts: {judged}")
    return f"{kind} model: " + "; ".join(parts)


def _unavailable_reason(horizon: int, production: ModelVersion | None) -> str:
    if production is None:
        return f"no model trained yet for horizon {horizon}; training runs in the background"
    return f"no forecast issued yet for horizon {horizon}; issuing runs hourly"


def _not_ready(session: Session, coin: Cryptocurrency, have_models: bool) -> NotReadyError:
    """409 for a coin without any forecast: too little history (with what is missing), or
    no model trained or issued yet."""
    if not have_models:
        try:
            prices = load_prices(session=session, coin=coin, interval=INTERVAL)
        except NotFoundError:
            return NotReadyError(
                f"{coin.coingecko_id!r} has no daily prices yet",
                details={"coin": coin.coingecko_id, "bars": 0},
            )
        try:
            data, _ = training.prepare(
                prices, coin=coin.coingecko_id, horizons=training.DEFAULT_HORIZONS
            )
            training.common_plans(data, [NAIVE], training.TrainingConfig())
        except (NotEnoughDataError, ValueError) as exc:
            return NotReadyError(
                f"{coin.coingecko_id!r} has too little history to train on: {exc}",
                details={"coin": coin.coingecko_id, "bars": len(prices)},
            )
        return NotReadyError(
            f"no model is trained for {coin.coingecko_id!r} yet; training runs in the "
            "background, so try again in a few minutes",
            details={"coin": coin.coingecko_id, "bars": len(prices)},
        )
    return NotReadyError(
        f"no forecast is issued for {coin.coingecko_id!r} yet; issuing runs hourly and after "
        "each training",
        details={"coin": coin.coingecko_id},
    )


def coin_forecasts(
    *,
    session: Session,
    settings: Settings,
    identifier: str,
    horizons: Sequence[int],
    now: dt.datetime,
) -> CoinForecasts:
    """A coin's newest served forecast per horizon with skill, verdict, stale and expired.

    Raises:
        NotFoundError: unknown coin.
        NotReadyError: none of the horizons has a forecast (409, saying what is missing).
    """
    coin = coins_service.get_by_identifier(session=session, identifier=identifier)
    ledger = PredictionRepository(session)
    versions = ModelVersionRepository(session)
    served = {row.horizon: row for row in ledger.served(coin.id, INTERVAL.value, horizons)}
    all_versions = versions.for_coin(coin.id, interval=INTERVAL.value)
    production = {v.horizon: v for v in all_versions if v.status is ModelStatus.PRODUCTION}
    by_id = {v.id: v for v in all_versions}
    if not served:
        raise _not_ready(session, coin, have_models=bool(all_versions))
    naive_rows = {h: ledger.naive_beside(row) for h, row in served.items()}
    live = LiveScoreRepository(session).for_versions(
        [row.model_version_id for row in served.values()]
        + [row.model_version_id for row in naive_rows.values() if row is not None]
    )
    step = dataset.interval_step(INTERVAL.value).to_pytimedelta()
    forecasts, unavailable = [], []
    for horizon in horizons:
        row = served.get(horizon)
        if row is None:
            reason = _unavailable_reason(horizon, production.get(horizon))
            unavailable.append(Unavailable(horizon=horizon, reason=reason))
            continue
        current = production.get(horizon)
        expired_version = (
            current
            if current is not None
            and current.id != row.model_version_id
            and expired(current, row.origin_at, step=step, bars=settings.forecast_expiry_bars)
            else None
        )
        version = by_id.get(row.model_version_id)
        backtest = None if version is None else dict(version.metrics)
        naive_row = naive_rows.get(horizon)
        own_live = _figures(live.get(row.model_version_id))
        forecasts.append(
            Forecast(
                horizon=horizon,
                origin_at=row.origin_at,
                target_at=row.target_at,
                issued_at=row.issued_at,
                origin_price=row.origin_price,
                point=row.point,
                interval_80=_bounds(row.lower_80, row.upper_80),
                interval_95=_bounds(row.lower_95, row.upper_95),
                interval_method=row.interval_method,
                model=_ref(row),
                skill=Skill(
                    backtest=backtest,
                    live=own_live,
                    naive_live=None
                    if naive_row is None
                    else _figures(live.get(naive_row.model_version_id)),
                ),
                verdict=verdict(
                    kind=row.model_kind,
                    backtest=backtest,
                    live=own_live,
                    expired_version=expired_version,
                ),
                stale=now - row.origin_at > (STALE_BARS + 1) * step,
                expired=expired_version is not None,
            )
        )
    return CoinForecasts(
        coin=coin.coingecko_id,
        interval=INTERVAL.value,
        forecasts=forecasts,
        unavailable=unavailable,
    )


def ledger_entry(row: Prediction) -> LedgerEntry:
    """A ledger row as the API shows it."""
    return LedgerEntry(
        id=row.id,
        horizon=row.horizon,
        model=_ref(row),
        role=row.role,
        origin_at=row.origin_at,
        target_at=row.target_at,
        issued_at=row.issued_at,
        origin_price=row.origin_price,
        point=row.point,
        interval_80=_bounds(row.lower_80, row.upper_80),
        interval_95=_bounds(row.lower_95, row.upper_95),
        interval_method=row.interval_method,
        actual=row.actual,
        error=row.error,
        abs_log_error=row.abs_log_error,
        inside_80=row.inside_80,
        inside_95=row.inside_95,
        winkler_80=row.winkler_80,
        winkler_95=row.winkler_95,
        scored_at=row.scored_at,
    )


def coin_ledger(
    *,
    session: Session,
    identifier: str,
    page: PageParams,
    horizon: int | None = None,
    model: str | None = None,
    scored: bool | None = None,
) -> Page[LedgerEntry]:
    """A coin's ledger, newest origin first, optionally one horizon, model kind, scored or not."""
    coin = coins_service.get_by_identifier(session=session, identifier=identifier)
    filters: dict[str, Any] = {"coin_id": coin.id, "interval": INTERVAL.value}
    if horizon is not None:
        filters["horizon"] = horizon
    if model is not None:
        filters["model_kind"] = model
    conditions = []
    if scored is not None:
        conditions.append(
            Prediction.scored_at.is_not(None) if scored else Prediction.scored_at.is_(None)
        )
    ledger = PredictionRepository(session)
    rows = ledger.list(filters=filters, conditions=conditions, sort="-origin_at", page=page)
    total = ledger.count(filters=filters, conditions=conditions)
    return Page(
        items=[ledger_entry(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def _coin_names(session: Session, coin_ids: Sequence[int]) -> dict[int, str]:
    found = coins_service.get_many_by_ids(session=session, ids=set(coin_ids))
    return {coin_id: coin.coingecko_id for coin_id, coin in found.items()}


def accuracy(
    *,
    session: Session,
    page: PageParams,
    coin: str | None = None,
    horizon: int | None = None,
) -> Page[AccuracyRow]:
    """The live scoreboard: each scored version's record next to naive's, by coin and
    horizon."""
    filters: dict[str, Any] = {"interval": INTERVAL.value}
    if coin is not None:
        filters["coin_id"] = coins_service.get_by_identifier(session=session, identifier=coin).id
    if horizon is not None:
        filters["horizon"] = horizon
    scores = LiveScoreRepository(session)
    rows = scores.list(filters=filters, sort="horizon", page=page)
    total = scores.count(filters=filters)
    names = _coin_names(session, [row.coin_id for row in rows])
    versions = ModelVersionRepository(session)
    items = []
    for row in rows:
        version = versions.get(row.model_version_id)
        items.append(
            AccuracyRow(
                coin=names.get(row.coin_id, str(row.coin_id)),
                interval=row.interval,
                horizon=row.horizon,
                model=ModelRef(
                    id=row.model_version_id, kind=row.model_kind, version=row.model_version
                ),
                status=version.status if version is not None else ModelStatus.ARCHIVED,
                live=dict(row.figures),
                updated_at=row.updated_at,
            )
        )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


def _summary(version: ModelVersion, coin: str) -> dict[str, Any]:
    return {
        "id": version.id,
        "coin": coin,
        "interval": version.interval,
        "horizon": version.horizon,
        "kind": version.kind,
        "version": version.version,
        "status": version.status,
        "created_at": version.created_at,
        "promoted_at": version.promoted_at,
        "train_start_at": version.train_start_at,
        "train_end_at": version.train_end_at,
    }


def list_models(
    *,
    session: Session,
    page: PageParams,
    coin: str | None = None,
    status: ModelStatus | None = None,
    horizon: int | None = None,
    kind: str | None = None,
) -> Page[ModelSummary]:
    """Registered versions, newest first, optionally narrowed."""
    filters: dict[str, Any] = {}
    if coin is not None:
        filters["coin_id"] = coins_service.get_by_identifier(session=session, identifier=coin).id
    for name, value in (("status", status), ("horizon", horizon), ("kind", kind)):
        if value is not None:
            filters[name] = value
    versions = ModelVersionRepository(session)
    rows = versions.list(filters=filters, sort="-created_at", page=page)
    names = _coin_names(session, [row.coin_id for row in rows])
    return Page(
        items=[ModelSummary(**_summary(row, names.get(row.coin_id, ""))) for row in rows],
        total=versions.count(filters=filters),
        limit=page.limit,
        offset=page.offset,
    )


def _version(session: Session, model_id: int) -> ModelVersion:
    version = ModelVersionRepository(session).get(model_id)
    if version is None:
        raise NotFoundError(f"No model {model_id}", details={"model_id": model_id})
    return version


def _event(event: ModelEvent) -> ModelEventOut:
    return ModelEventOut(
        id=event.id,
        model_id=event.model_version_id,
        occurred_at=event.occurred_at,
        kind=event.kind,
        source=event.source,
        reason=event.reason,
        figures=dict(event.figures),
    )


def _calibration_summary(version: ModelVersion) -> dict[str, Any]:
    """Per horizon the residuals held and the conformal bounds (log return) per level."""
    try:
        calibrator = calibrator_of(version)
    except AppError:
        return {}
    summary: dict[str, Any] = {}
    for horizon in calibrator.horizons:
        bounds = {}
        for level in calibrator.levels:
            low, high = calibrator.bounds(horizon, level)
            finite = math.isfinite(low) and math.isfinite(high)
            bounds[level_label(level)] = [low, high] if finite else None
        summary[str(horizon)] = {
            "residuals": int(len(calibrator.scores.get(horizon, ()))),
            "log_return_bounds": bounds,
        }
    return summary


def model_card(*, session: Session, model_id: int) -> ModelCard:
    """Everything known of one version."""
    version = _version(session, model_id)
    names = _coin_names(session, [version.coin_id])
    live = LiveScoreRepository(session).for_versions([version.id]).get(version.id)
    return ModelCard(
        **_summary(version, names.get(version.coin_id, "")),
        params=dict(version.params),
        features=list(version.features),
        data_quality=dict(version.data_quality),
        backtest=dict(version.metrics),
        calibration=_calibration_summary(version),
        live=_figures(live),
        history=[_event(e) for e in ModelEventRepository(session).for_version(version.id)],
    )


def monitoring_events(*, session: Session, page: PageParams) -> Page[ModelEventOut]:
    """Live monitoring's events, newest first."""
    events = ModelEventRepository(session)
    filters = {"source": MONITORING}
    rows = events.list(filters=filters, sort="-occurred_at", page=page)
    return Page(
        items=[_event(row) for row in rows],
        total=events.count(filters=filters),
        limit=page.limit,
        offset=page.offset,
    )
