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
from cryptopredict.forecasting.inputs import calibrator_of
from cryptopredict.forecasting.intervals import level_label
from cryptopredict.forecasting.issuing import expired, served_version
from cryptopredict.forecasting.live import MONITORING, TRAINING
from cryptopredict.forecasting.models import (
    LiveScore,
    ModelEvent,
    ModelEventKind,
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
    IntervalRecord,
    LedgerEntry,
    ModelCard,
    ModelEventOut,
    ModelRef,
    ModelSummary,
    ProbabilityUp,
    Skill,
    Unavailable,
)
from cryptopredict.forecasting.scoring import MIN_DM_PAIRS, SIGNIFICANCE
from cryptopredict.forecasting.selection import NAIVE
from cryptopredict.prices import service as prices_service
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


def _issued(row: Prediction) -> dict[str, Any]:
    """What a ledger row says of its forecast, as both `Forecast` and `LedgerEntry` show it."""
    return {
        "origin_at": row.origin_at,
        "target_at": row.target_at,
        "issued_at": row.issued_at,
        "origin_price": row.origin_price,
        "point": row.point,
        "interval_80": _bounds(row.lower_80, row.upper_80),
        "interval_95": _bounds(row.lower_95, row.upper_95),
        "interval_method": row.interval_method,
        "quantiles": row.quantiles,
        "model": _ref(row),
    }


def _served_scores(row: Prediction, version: ModelVersion | None) -> dict[str, Any] | None:
    """The backtest scores stored with the version for the interval method that made the
    row's bounds (None when the row's bounds came from elsewhere, or none were stored)."""
    if version is None:
        return None
    stored = (version.calibration or {}).get("interval") or {}
    model = stored.get("model") or {}
    scores = stored.get("scores")
    if not scores or model.get("method") != row.interval_method:
        return None
    return dict(scores)


def _interval_record(row: Prediction, scores: dict[str, Any] | None) -> IntervalRecord | None:
    """The served interval method's record from its stored scores (``_served_scores``)."""
    if scores is None:
        return None
    return IntervalRecord(
        method=row.interval_method,
        coverage_80=(scores.get("coverage") or {}).get("80"),
        coverage_95=(scores.get("coverage") or {}).get("95"),
        winkler_ratio_80=(scores.get("winkler_ratio") or {}).get("80"),
        origins=int(scores.get("n") or 0),
    )


def _probability_up(row: Prediction, scores: dict[str, Any] | None) -> ProbabilityUp | None:
    """The row's P(up) next to its interval method's backtest Brier record (its stored
    scores), or None when either is missing: a probability is never served without it."""
    if row.p_up is None or scores is None:
        return None
    record = (scores.get("brier"), scores.get("climatology_brier"))
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in record):
        return None  # no finite record (stored as null): no probability either
    return ProbabilityUp(
        value=row.p_up,
        brier=scores["brier"],
        climatology_brier=scores["climatology_brier"],
        brier_skill=scores.get("brier_skill"),
        origins=scores["n"],
    )


def _figures(score: LiveScore | None) -> dict[str, Any] | None:
    return None if score is None else dict(score.figures)


def _live_words(live: dict[str, Any] | None) -> str:
    """The live record in words, claiming significance only where a test found it."""
    n = 0 if live is None else int(live.get("n", 0))
    ratio = None if live is None else live.get("mae_ratio")
    if n == 0 or ratio is None:
        return "no live record yet"
    said = f"live MAE {ratio:.2f} x naive's over {n} forecasts"
    dm = live.get("diebold_mariano") if live else None
    if dm is None:
        independent = int((live or {}).get("independent_n", 0))
        if independent < MIN_DM_PAIRS:
            return (
                f"{said}, too few to test ({independent} non-overlapping of the "
                f"{MIN_DM_PAIRS} a test needs)"
            )
        return f"{said}; the errors do not differ enough to test"
    judged = (
        "significantly better than naive"
        if dm["p_better"] < SIGNIFICANCE
        else "significantly worse than naive"
        if dm["p_worse"] < SIGNIFICANCE
        else "not significantly different from naive"
    )
    return f"{said}: {judged} (Diebold-Mariano on {dm['n']} non-overlapping forecasts)"


def verdict(
    *, kind: str, backtest: dict[str, Any] | None, live: dict[str, Any] | None, why_naive: str
) -> str:
    """The figures in plain words: never more skill than was measured. `why_naive` says why
    naive is served when it is."""
    if kind == NAIVE:
        return (
            "no measured skill: this is the naive forecast (the last close carried forward), "
            f"served because {why_naive}"
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
    parts.append(_live_words(live))
    return f"{kind} model: " + "; ".join(parts)


def _why_naive(
    session: Session,
    production: ModelVersion | None,
    rows: dict[int, Prediction],
    origin_at: dt.datetime,
    *,
    step: dt.timedelta,
    bars: int,
) -> tuple[str, bool]:
    """Why naive serves a horizon, and whether it is because the production model expired."""
    if production is None:
        return "no model is in production for this horizon", False
    if production.kind != NAIVE:
        if expired(production, origin_at, step=step, bars=bars):
            return (
                f"the {production.kind} model (v{production.version}) was trained on data "
                f"ending {production.train_end_at:%Y-%m-%d}, more than {bars} bars before "
                "this forecast, and has expired",
                True,
            )
        if production.id not in rows:
            return (
                f"the production {production.kind} model (v{production.version}) could not "
                "forecast from this bar",
                False,
            )
    promoted = ModelEventRepository(session).latest(production.id, ModelEventKind.PROMOTED)
    if promoted is not None and promoted.source != TRAINING:
        return promoted.reason, False
    return "no model beat it significantly in backtests", False


def _unavailable(horizon: int, production: ModelVersion | None, issued: bool) -> Unavailable:
    if production is None and not issued:
        reason = "no model is trained or in production for this horizon yet"
    elif not issued:
        reason = "no forecast is issued yet; issuing runs hourly and after each training"
    else:
        reason = "the production model could not forecast and there is no naive forecast"
    return Unavailable(horizon=horizon, reason=reason)


def _not_ready(
    session: Session, coin: Cryptocurrency, *, have_models: bool, have_production: bool
) -> NotReadyError:
    """409 for a coin without any forecast: too little history (with what is missing), or
    no model trained or issued yet. Counts bars; computes nothing."""
    bars = prices_service.bar_count(session=session, coin_id=coin.id, interval=INTERVAL)
    need = training.TrainingConfig().minimum_rows(training.DEFAULT_HORIZONS)
    details = {"coin": coin.coingecko_id, "bars": bars, "bars_needed": need}
    if not have_models and bars < need:
        return NotReadyError(
            f"{coin.coingecko_id!r} has too little history to train on: {bars} daily bars "
            f"stored, {need} needed to backtest and train (horizons up to "
            f"{max(training.DEFAULT_HORIZONS)} days)",
            details=details,
        )
    if not have_models:
        return NotReadyError(
            f"no model is trained for {coin.coingecko_id!r} yet; training runs in the "
            "background, so try again in a few minutes",
            details=details,
        )
    if not have_production:
        return NotReadyError(
            f"no model of {coin.coingecko_id!r} is in production (an admin archived them); "
            "the next training promotes one",
            details=details,
        )
    return NotReadyError(
        f"no forecast is issued for {coin.coingecko_id!r} yet; issuing runs hourly and after "
        "each training",
        details=details,
    )


def coin_forecasts(
    *,
    session: Session,
    settings: Settings,
    identifier: str,
    horizons: Sequence[int],
    now: dt.datetime,
) -> CoinForecasts:
    """A coin's served forecast per horizon, from its newest issued bar: the production
    model's unless it expired, could not forecast or is gone (then naive's, saying why),
    with skill, verdict, stale and expired.

    Raises:
        NotFoundError: unknown coin.
        NotReadyError: none of the horizons has a forecast (409, saying what is missing).
    """
    coin = coins_service.get_by_identifier(session=session, identifier=identifier)
    issued = PredictionRepository(session).newest_issued(coin.id, INTERVAL.value, horizons)
    versions = ModelVersionRepository(session).current(coin.id, INTERVAL.value, light=True)
    production = {v.horizon: v for v in versions if v.status is ModelStatus.PRODUCTION}
    by_id = {v.id: v for v in versions}
    step = dataset.interval_step(INTERVAL.value).to_pytimedelta()
    bars = settings.forecast_expiry_bars
    chosen: dict[int, tuple[Prediction, Prediction | None]] = {}
    unavailable = []
    for horizon in horizons:
        rows = issued.get(horizon, [])
        by_version = {row.model_version_id: row for row in rows}
        naive = next((row for row in rows if row.model_kind == NAIVE), None)  # newest version
        origin_at = rows[0].origin_at if rows else now
        serve = served_version(
            production.get(horizon),
            by_id.get(naive.model_version_id) if naive else None,
            set(by_version),
            origin_at,
            step=step,
            bars=bars,
        )
        if serve is None:
            unavailable.append(_unavailable(horizon, production.get(horizon), bool(rows)))
        else:
            chosen[horizon] = (by_version[serve], naive)
    if not chosen:
        raise _not_ready(
            session, coin, have_models=bool(versions), have_production=bool(production)
        )
    live = LiveScoreRepository(session).for_versions(
        [row.model_version_id for pair in chosen.values() for row in pair if row is not None]
    )
    forecasts = []
    for horizon, (row, naive) in sorted(chosen.items()):
        version = by_id.get(row.model_version_id)
        backtest = None if version is None else dict(version.metrics)
        own_live = _figures(live.get(row.model_version_id))
        interval_scores = _served_scores(row, version)
        why, was_expired = ("", False)
        if row.model_kind == NAIVE:
            why, was_expired = _why_naive(
                session,
                production.get(horizon),
                {r.model_version_id: r for r in issued[horizon]},
                row.origin_at,
                step=step,
                bars=bars,
            )
        forecasts.append(
            Forecast(
                horizon=horizon,
                **_issued(row),
                probability_up=_probability_up(row, interval_scores),
                skill=Skill(
                    backtest=backtest,
                    live=own_live,
                    naive_live=None
                    if naive is None
                    else _figures(live.get(naive.model_version_id)),
                    intervals=_interval_record(row, interval_scores),
                ),
                verdict=verdict(
                    kind=row.model_kind, backtest=backtest, live=own_live, why_naive=why
                ),
                stale=now - row.origin_at > (STALE_BARS + 1) * step,
                expired=was_expired,
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
        role=row.role,
        **_issued(row),
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
    statuses = ModelVersionRepository(session).statuses([row.model_version_id for row in rows])
    items = [
        AccuracyRow(
            coin=names.get(row.coin_id, str(row.coin_id)),
            interval=row.interval,
            horizon=row.horizon,
            model=ModelRef(id=row.model_version_id, kind=row.model_kind, version=row.model_version),
            status=statuses.get(row.model_version_id, ModelStatus.ARCHIVED),
            live=dict(row.figures),
            updated_at=row.updated_at,
        )
        for row in rows
    ]
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
