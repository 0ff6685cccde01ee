"""Routes for served forecasts, the ledger and live accuracy, model cards and monitoring."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.coins.dependencies import CoinPath
from cryptopredict.core.cache import FORECASTS_NAMESPACE, cached_bytes
from cryptopredict.core.database import utcnow
from cryptopredict.core.dependencies import CacheDep, SessionDep, SettingsDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.middleware import canonical_query
from cryptopredict.core.pagination import Page, PageDep
from cryptopredict.core.validation import BigIntId, PlainBoolean, PlainInteger
from cryptopredict.forecasting import service, serving
from cryptopredict.forecasting.models import ModelStatus
from cryptopredict.forecasting.schemas import (
    SERVED_HORIZONS,
    AccuracyRow,
    CoinForecasts,
    LedgerEntry,
    ModelCard,
    ModelEventOut,
    ModelSummary,
)

forecasts_router = APIRouter(
    prefix="/forecasts", tags=["forecasts"], responses=error_responses(422)
)
models_router = APIRouter(prefix="/models", tags=["models"], responses=error_responses(422))
monitoring_router = APIRouter(prefix="/monitoring", tags=["models"], responses=error_responses(422))

_SERVED = ",".join(str(h) for h in SERVED_HORIZONS)
_ONE_SERVED = "(" + "|".join(str(h) for h in SERVED_HORIZONS) + ")"
HorizonsQuery = Annotated[
    str,
    Query(
        pattern=rf"^{_ONE_SERVED}(,{_ONE_SERVED}){{0,9}}$",
        description=f"Comma-separated horizons in days, each one of {_SERVED}",
        examples=[_SERVED],
    ),
]
HorizonQuery = Annotated[
    int | None,
    Query(ge=1, le=max(SERVED_HORIZONS), description="Only this horizon (days)"),
    PlainInteger,
]
KindQuery = Annotated[
    str | None,
    Query(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Only this model kind"),
]
CoinQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="Only this coin (CoinGecko id or symbol)"),
]


def _horizons(raw: str) -> list[int]:
    """The requested horizons (the pattern admits only served ones), sorted, each once."""
    return sorted({int(part) for part in raw.split(",")})


_READ_PARAMETERS = frozenset({"horizons"})


def cache_alias(scope: Scope) -> str:
    """A forecast request as the response cache remembers it for `CachedResponseMiddleware`:
    its path and the only parameter the route reads."""
    return f"{scope['path']}?{canonical_query(scope['query_string'], _READ_PARAMETERS)}"


@forecasts_router.get("/accuracy", responses=error_responses(404))
def accuracy(
    session: SessionDep,
    page: PageDep,
    coin: CoinQuery = None,
    horizon: HorizonQuery = None,
) -> Page[AccuracyRow]:
    """The live scoreboard: every scored model's record per coin and horizon, next to naive's
    on the same origins (MAE ratio, coverage with its binomial band, Winkler, Diebold-Mariano
    once 30 forecasts are scored)."""
    return serving.accuracy(session=session, page=page, coin=coin, horizon=horizon)


@forecasts_router.get("/{coin}", response_model=CoinForecasts, responses=error_responses(404, 409))
async def coin_forecasts(
    request: Request,
    coin: CoinPath,
    session: SessionDep,
    settings: SettingsDep,
    cache: CacheDep,
    horizons: HorizonsQuery = _SERVED,
) -> Response:
    """The newest issued forecast per horizon: point, 80/95 % intervals, the model and its
    measured skill next to naive's, a plain-words verdict, and whether it is stale or its
    model expired. 409 when nothing can be served yet, saying what is missing. Cached until
    the next issue or scoring run (and answered before routing once it is)."""
    wanted = _horizons(horizons)

    def compute() -> bytes:
        found = serving.coin_forecasts(
            session=session, settings=settings, identifier=coin, horizons=wanted, now=utcnow()
        )
        return found.model_dump_json().encode()

    key = f"coin:{coin.lower()}:{','.join(map(str, wanted))}"
    body = await cached_bytes(
        cache,
        FORECASTS_NAMESPACE,
        key,
        lambda: run_in_threadpool(compute),
        alias=cache_alias(request.scope),
    )
    return Response(content=body, media_type="application/json")


@forecasts_router.get("/{coin}/history", responses=error_responses(404))
def coin_ledger(
    coin: CoinPath,
    session: SessionDep,
    page: PageDep,
    horizon: HorizonQuery = None,
    model: KindQuery = None,
    scored: Annotated[
        bool | None, Query(description="Only scored (true) or pending (false)"), PlainBoolean
    ] = None,
) -> Page[LedgerEntry]:
    """The coin's forecast ledger, newest origin first: served forecasts and naive's and the
    challengers' in shadow on the same origins, with actuals and scores once known."""
    return serving.coin_ledger(
        session=session, identifier=coin, page=page, horizon=horizon, model=model, scored=scored
    )


@models_router.get("", responses=error_responses(404))
def list_models(
    session: SessionDep,
    page: PageDep,
    coin: CoinQuery = None,
    status: Annotated[ModelStatus | None, Query(description="Only this status")] = None,
    horizon: HorizonQuery = None,
    kind: KindQuery = None,
) -> Page[ModelSummary]:
    """Registered model versions, newest first."""
    return serving.list_models(
        session=session, page=page, coin=coin, status=status, horizon=horizon, kind=kind
    )


@models_router.get("/{model_id:id}", responses=error_responses(404))
def model_card(model_id: BigIntId, session: SessionDep) -> ModelCard:
    """A version's card: parameters, features, training window, data quality, backtest
    figures, calibration, live record and status history."""
    return serving.model_card(session=session, model_id=model_id)


@models_router.post("/{model_id:id}/promote", responses=error_responses(401, 403, 404, 409))
def promote_model(
    model_id: BigIntId,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    cache: CacheDep,
) -> ModelCard:
    """Put a version in production for its coin and horizon (admin only); the one it
    replaces is archived, and its forecast from the newest closed bar is issued if missing,
    so it serves at once. 409 if another promotion for the same coin and horizon won a
    race."""
    service.promote_model(
        session=session,
        settings=settings,
        cache=cache,
        model_id=model_id,
        actor=admin.email,
        now=utcnow(),
    )
    return serving.model_card(session=session, model_id=model_id)


@models_router.post("/{model_id:id}/archive", responses=error_responses(401, 403, 404))
def archive_model(
    model_id: BigIntId, admin: AdminUser, session: SessionDep, cache: CacheDep
) -> ModelCard:
    """Retire a version (admin only); a production version's horizon is served by naive
    until another is promoted."""
    service.archive_model(
        session=session, cache=cache, model_id=model_id, actor=admin.email, now=utcnow()
    )
    return serving.model_card(session=session, model_id=model_id)


@monitoring_router.get("/events")
def monitoring_events(session: SessionDep, page: PageDep) -> Page[ModelEventOut]:
    """Live monitoring's decisions, newest first: each demotion with the figures behind it."""
    return serving.monitoring_events(session=session, page=page)
