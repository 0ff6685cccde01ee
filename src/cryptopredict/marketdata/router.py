"""Admin routes to list past sync runs and see the shared limiter and breaker, and the public
freshness of the stored prices.

Starting a sync is a task: its trigger routes (`POST /sync/discover|prices|history`) live
with the tasks domain, in `tasks/sync_triggers.py`, under the same prefix.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.core.dependencies import SessionDep, SettingsDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.pagination import PageDep
from cryptopredict.core.validation import BigIntId
from cryptopredict.marketdata import service
from cryptopredict.marketdata.schemas import (
    DataFreshness,
    SyncRunPage,
    SyncRunRead,
    SyncStatusRead,
)
from cryptopredict.marketdata.types import SyncKind

router = APIRouter(prefix="/sync", tags=["sync"], responses=error_responses(401, 403, 422))
public_router = APIRouter(prefix="/sync", tags=["sync"])
"""Routes anyone may call: no 401 or 403 to document."""


# ---- dependencies -----------------------------------------------------------------------


def guards(request: Request, settings: SettingsDep) -> service.Guards:
    """The application's shared limiter and breaker."""
    return service.app_guards(request.app.state, settings)


GuardsDep = Annotated[service.Guards, Depends(guards)]


# ---- routes -----------------------------------------------------------------------------


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
def get_run(_admin: AdminUser, session: SessionDep, run_id: BigIntId) -> SyncRunRead:
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


@public_router.get("/freshness")
def data_freshness(session: SessionDep, settings: SettingsDep) -> DataFreshness:
    """How old the stored prices are and how the last syncs that store prices went (anyone):
    `stale` tells the dashboard to warn that it shows old data (the offline snapshot, or
    syncs failing). Not cached: the age grows with every second."""
    return service.freshness(session=session, settings=settings)
