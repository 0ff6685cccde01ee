"""Admin routes that start CoinGecko syncs: each runs its sync as a background task.

The same path as `POST /tasks/{name}/run` (the task's lock keeps it from overlapping a
scheduled run: a second one is recorded as skipped): `202` with the task's status and a link
to follow it, or with `?wait=true` the finished `SyncRun` (`200`) when it ends within
`timeout` seconds. The sync runs themselves are read under the same `/sync` prefix from the
market-data router.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.core.config import Settings
from cryptopredict.core.dependencies import SessionDep, SettingsDep
from cryptopredict.core.errors import AppError, ConflictError, error_responses
from cryptopredict.core.validation import PlainBoolean, PlainNumber
from cryptopredict.marketdata import service as marketdata_service
from cryptopredict.marketdata.schemas import SyncRunRead
from cryptopredict.tasks import service
from cryptopredict.tasks.runner import TaskRunner
from cryptopredict.tasks.schemas import (
    TASK_STATUS_ROUTE,
    DiscoverRequest,
    HistoryRequest,
    TaskAccepted,
    TaskStatusRead,
)

router = APIRouter(prefix="/sync", tags=["sync"], responses=error_responses(401, 403, 422))

DEFAULT_WAIT_SECONDS = 60.0
MAX_WAIT_SECONDS = 300.0


# ---- dependencies -----------------------------------------------------------------------


class SyncTrigger:
    """How a sync trigger answers: at once (`202`, the task's status), or, with `wait`,
    once the sync has ended (`200`, its run) unless `timeout` seconds pass first (`202`)."""

    def __init__(
        self,
        request: Request,
        response: Response,
        session: SessionDep,
        settings: SettingsDep,
        wait: Annotated[
            bool,
            Query(description="Answer the finished run (200) instead of the task (202)"),
            PlainBoolean,
        ] = False,
        timeout: Annotated[
            float,
            Query(
                gt=0,
                le=MAX_WAIT_SECONDS,
                description="With `wait`: seconds to wait before answering 202 after all",
            ),
            PlainNumber,
        ] = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.request = request
        self.response = response
        self.session = session
        self.settings = settings
        self.wait = wait
        self.timeout = timeout

    async def run(self, task: str, args: dict[str, Any]) -> SyncRunRead | TaskAccepted:
        """Hand the sync to the task runner and answer as asked (class docstring); a run
        skipped for another holding the lock, or revoked, is a 409 when waited for."""
        runner, task_id, link = await queue_task(self.request, self.settings, task, args)
        if self.wait:
            if self.session.get_transaction() is not None:  # no idle connection while waiting
                await asyncio.to_thread(self.session.close)
            try:
                async with asyncio.timeout(self.timeout):
                    ended = await service.wait(runner=runner, task_id=task_id)
            except TimeoutError:
                pass
            else:
                details = {"task_id": task_id, "state": ended.state, "status_url": link}
                run_id = service.sync_run_of(ended)
                if run_id is None and ended.state in service.NOT_RUN:
                    raise ConflictError(f"{task} {ended.state}: {ended.error}", details=details)
                if run_id is None:
                    raise AppError(f"{task} failed: {ended.error}", details=details)
                run = await asyncio.to_thread(
                    marketdata_service.get, session=self.session, run_id=run_id
                )
                self.response.status_code = status.HTTP_200_OK
                return SyncRunRead.model_validate(run)
        return await accepted(self.response, runner, task_id, link)


async def queue_task(
    request: Request, settings: Settings, task: str, args: dict[str, Any]
) -> tuple[TaskRunner, str, str]:
    """Hand a run to the application's task runner: the runner, the task id and the link
    to its status."""
    runner = service.app_runner(request.app.state, settings)
    task_id = await asyncio.to_thread(service.trigger, runner=runner, name=task, args=args)
    return runner, task_id, str(request.app.url_path_for(TASK_STATUS_ROUTE, task_id=task_id))


async def accepted(response: Response, runner: TaskRunner, task_id: str, link: str) -> TaskAccepted:
    """The `202` answer of a trigger: the task's status now, and its link (also as
    `Location`)."""
    now = await asyncio.to_thread(service.get, runner=runner, task_id=task_id)
    response.headers["Location"] = link
    return TaskAccepted(
        **TaskStatusRead.model_validate(now).model_dump(), mode=runner.mode, status_url=link
    )


SyncTriggerDep = Annotated[SyncTrigger, Depends()]

TRIGGER_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_200_OK: {"model": SyncRunRead, "description": "With `wait`: the finished run"},
    status.HTTP_202_ACCEPTED: {"model": TaskAccepted, "description": "The sync's task"},
    **error_responses(409, 500),
}


# ---- routes -----------------------------------------------------------------------------


@router.post(
    "/discover",
    status_code=status.HTTP_202_ACCEPTED,
    responses=TRIGGER_RESPONSES,
    response_model=None,
)
async def discover(
    _admin: AdminUser, trigger: SyncTriggerDep, data: DiscoverRequest | None = None
) -> SyncRunRead | TaskAccepted:
    """Add or update the top coins by market cap (admin only): task
    `discover_new_cryptocurrencies`."""
    return await trigger.run("discover_new_cryptocurrencies", {"top": data.top if data else None})


@router.post(
    "/prices",
    status_code=status.HTTP_202_ACCEPTED,
    responses=TRIGGER_RESPONSES,
    response_model=None,
)
async def sync_prices(_admin: AdminUser, trigger: SyncTriggerDep) -> SyncRunRead | TaskAccepted:
    """Store the latest price of every active coin (admin only): task `sync_all_prices`."""
    return await trigger.run("sync_all_prices", {})


@router.post(
    "/history",
    status_code=status.HTTP_202_ACCEPTED,
    responses=TRIGGER_RESPONSES,
    response_model=None,
)
async def sync_history(
    _admin: AdminUser, trigger: SyncTriggerDep, data: HistoryRequest
) -> SyncRunRead | TaskAccepted:
    """Fill the missing history of every active coin (task `sync_historical_data`), or of
    one coin after storing its latest price (task `sync_specific_cryptocurrency`; a coin
    new to the catalogue is added, one CoinGecko does not know fails the run) (admin only)."""
    args: dict[str, Any] = {
        "days": data.days,
        "intervals": None if data.intervals is None else [str(i) for i in data.intervals],
    }
    if data.coin is None:
        return await trigger.run("sync_historical_data", args)
    return await trigger.run("sync_specific_cryptocurrency", {"coin_id": data.coin, **args})
