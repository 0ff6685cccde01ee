"""What the task-management API and the sync triggers (which run syncs as tasks) read and
write."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cryptopredict.coins.schemas import CoingeckoId
from cryptopredict.core.pagination import Page
from cryptopredict.core.validation import ByValue, JsonInteger, RequestModel
from cryptopredict.marketdata.types import DEFAULT_HISTORY_DAYS, MAX_HISTORY_DAYS
from cryptopredict.prices.types import Interval
from cryptopredict.tasks.models import TaskState

TASK_STATUS_ROUTE = "task_status"
"""The route name of `GET /tasks/runs/{task_id}`, for links to it (`url_path_for`)."""


class TaskRunRead(BaseModel):
    """One attempt of one task."""

    model_config = ConfigDict(from_attributes=True)

    task_id: str
    task: str
    status: TaskState
    attempt: int
    args: dict[str, Any]
    worker: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_seconds: float | None
    result: dict[str, Any] | None
    error: str | None


TaskRunPage = Page[TaskRunRead]


class TaskStatusRead(BaseModel):
    """Where a task stands: its newest attempt (`state` `retrying` means another follows)."""

    model_config = ConfigDict(from_attributes=True)

    task_id: str
    task: str
    state: TaskState
    attempt: int
    args: dict[str, Any]
    worker: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_seconds: float | None
    result: dict[str, Any] | None
    error: str | None


class TaskAccepted(TaskStatusRead):
    """A run handed to the task runner by another API (the sync triggers): where it stands
    now, which runner has it, and where to follow it (`GET /tasks/runs/{task_id}`)."""

    mode: str
    status_url: str


class TaskKindRead(BaseModel):
    """A registered task kind: its schedule, limits, newest run and next scheduled run."""

    name: str
    description: str
    every_seconds: float | None = Field(description="Period; null for on-demand tasks")
    exclusive: bool
    time_limit_seconds: int
    max_retries: int
    last_run: TaskStatusRead | None
    next_run_at: dt.datetime | None


class TaskKindList(BaseModel):
    """Every task kind, and which runner serves them (`embedded` or `celery`)."""

    mode: str
    items: list[TaskKindRead]


class TaskTrigger(RequestModel):
    """Keyword arguments of the run (see each task's job for the names)."""

    args: dict[str, Any] = Field(default_factory=dict)


class TaskSubmitted(BaseModel):
    """A queued run: follow it at `/tasks/runs/{task_id}`."""

    task_id: str
    task: str
    mode: str


class RevokeResult(BaseModel):
    """Whether the task was cancelled before it started, and where it stands now."""

    task_id: str
    revoked: bool
    state: TaskState


class WorkerRead(BaseModel):
    """One worker and its load."""

    name: str
    alive: bool
    active: int
    reserved: int


class WorkersRead(BaseModel):
    """The workers that can run tasks now."""

    mode: str
    workers: list[WorkerRead]


class QueuesRead(BaseModel):
    """Tasks waiting, per queue."""

    mode: str
    queues: dict[str, int]


# ---- sync triggers ----------------------------------------------------------------------


class DiscoverRequest(RequestModel):
    """How many coins by market cap to track; the configured `sync_top_coins` if omitted."""

    top: Annotated[int, Field(ge=1, le=5000), JsonInteger] | None = None


class HistoryRequest(RequestModel):
    """Which coin (all active coins if omitted), how many days back, which intervals."""

    coin: CoingeckoId | None = None
    days: Annotated[int, Field(ge=1, le=MAX_HISTORY_DAYS), JsonInteger] = DEFAULT_HISTORY_DAYS
    intervals: list[ByValue[Interval]] | None = Field(
        default=None, min_length=1, description="Intervals to fill; all (5m, 1h, 1d) if omitted"
    )
