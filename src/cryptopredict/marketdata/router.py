"""Admin routes to run CoinGecko syncs now, list past runs and see the limiter and breaker.

A sync runs inside the request (background workers arrive with the task queue); each
request gets its own client, and all share the application's limiter and breaker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.coins.schemas import CoingeckoId
from cryptopredict.core.dependencies import CacheDep, SessionDep, SettingsDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.pagination import Page, PageDep
from cryptopredict.marketdata import service
from cryptopredict.marketdata.breaker import BreakerSnapshot
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.models import SyncKind, SyncStatus
from cryptopredict.marketdata.ratelimit import LimiterSnapshot
from cryptopredict.marketdata.sync import DEFAULT_HISTORY_DAYS
from cryptopredict.prices.models import Interval

router = APIRouter(prefix="/sync", tags=["sync"], responses=error_responses(401, 403, 422))

MAX_HISTORY_DAYS = 3650


# ---- schemas ----------------------------------------------------------------------------


class SyncRunRead(BaseModel):
    """A sync run as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: SyncKind
    coin: str | None
    status: SyncStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None
    calls_made: int
    rows_written: int
    error: str | None


SyncRunPage = Page[SyncRunRead]


class DiscoverRequest(BaseModel):
    """How many coins by market cap to track; the configured `sync_top_coins` if omitted."""

    model_config = ConfigDict(extra="forbid")

    top: int | None = Field(default=None, ge=1, le=5000)


class HistoryRequest(BaseModel):
    """Which coin (all active coins if omitted), how many days back, which intervals."""

    model_config = ConfigDict(extra="forbid")

    coin: CoingeckoId | None = None
    days: int = Field(default=DEFAULT_HISTORY_DAYS, ge=1, le=MAX_HISTORY_DAYS)
    intervals: list[Interval] | None = Field(
        default=None, min_length=1, description="Intervals to fill; all (5m, 1h, 1d) if omitted"
    )


class SyncStatusRead(BaseModel):
    """The shared rate limiter and circuit breaker now, and the last run of each kind."""

    limiter: LimiterSnapshot
    breaker: BreakerSnapshot
    last_runs: dict[SyncKind, SyncRunRead]


# ---- dependencies -----------------------------------------------------------------------


def guards(request: Request, settings: SettingsDep) -> service.Guards:
    """The application's shared limiter and breaker."""
    return service.app_guards(request.app.state, settings)


GuardsDep = Annotated[service.Guards, Depends(guards)]


async def coingecko_client(
    settings: SettingsDep, shared: GuardsDep
) -> AsyncIterator[CoinGeckoClient]:
    """A CoinGecko client for this request, closed when the request ends."""
    async with service.open_client(settings, shared) as client:
        yield client


ClientDep = Annotated[CoinGeckoClient, Depends(coingecko_client)]


# ---- routes -----------------------------------------------------------------------------


@router.post("/discover", status_code=status.HTTP_201_CREATED)
async def discover(
    _admin: AdminUser,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    settings: SettingsDep,
    data: DiscoverRequest | None = None,
) -> SyncRunRead:
    """Add or update the top coins by market cap now (admin only); returns the run."""
    run = await service.discover(
        session=session,
        client=client,
        cache=cache,
        settings=settings,
        top=data.top if data else None,
    )
    return SyncRunRead.model_validate(run)


@router.post("/prices", status_code=status.HTTP_201_CREATED)
async def sync_prices(
    _admin: AdminUser,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    settings: SettingsDep,
) -> SyncRunRead:
    """Store the latest price of every active coin now (admin only); returns the run."""
    run = await service.sync_prices(session=session, client=client, cache=cache, settings=settings)
    return SyncRunRead.model_validate(run)


@router.post("/history", status_code=status.HTTP_201_CREATED)
async def sync_history(
    _admin: AdminUser,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    settings: SettingsDep,
    data: HistoryRequest,
) -> SyncRunRead:
    """Fill the missing history of one coin, or of every active coin, now (admin only)."""
    run = await service.sync_history(
        session=session,
        client=client,
        cache=cache,
        settings=settings,
        coin=data.coin,
        days=data.days,
        intervals=data.intervals,
    )
    return SyncRunRead.model_validate(run)


@router.get("/runs")
def list_runs(
    _admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    kind: Annotated[SyncKind | None, Query(description="Only runs of this kind")] = None,
) -> SyncRunPage:
    """Past and running syncs, newest first (admin only)."""
    items, total = service.list_runs(session=session, page=page, kind=kind)
    return SyncRunPage(
        items=[SyncRunRead.model_validate(run) for run in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/runs/{run_id}", responses=error_responses(404))
def get_run(_admin: AdminUser, session: SessionDep, run_id: int) -> SyncRunRead:
    """One sync run (admin only)."""
    return SyncRunRead.model_validate(service.get(session=session, run_id=run_id))


@router.get("/status")
async def sync_status(_admin: AdminUser, session: SessionDep, shared: GuardsDep) -> SyncStatusRead:
    """The rate limiter and circuit breaker now, and the last run of each kind (admin only)."""
    state = await service.status(session=session, guards=shared)
    return SyncStatusRead(
        limiter=state.limiter,
        breaker=state.breaker,
        last_runs={kind: SyncRunRead.model_validate(run) for kind, run in state.last_runs.items()},
    )
