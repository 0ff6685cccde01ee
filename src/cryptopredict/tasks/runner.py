"""The one interface the task API talks to, whichever runner is behind it.

``EmbeddedRunner`` (``embedded.py``) runs tasks in a small thread pool inside the server;
the Celery runner (``celery_app.py``) hands them to workers through Redis. Both record every
attempt as a ``TaskRun`` through ``execution.execute``, so status and history read the same
rows; the helpers here (``stored_status``, ``stored_schedule``) are shared by both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.schedule import SCHEDULE, TaskSpec


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """Where one task stands: its newest attempt."""

    task_id: str
    task: str
    state: TaskState
    attempt: int
    args: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    worker: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_seconds: float | None

    @classmethod
    def of(cls, run: TaskRun) -> TaskStatus:
        """The status a stored attempt shows."""
        return cls(
            task_id=run.task_id,
            task=run.task,
            state=run.status,
            attempt=run.attempt,
            args=dict(run.args or {}),
            result=run.result,
            error=run.error,
            worker=run.worker,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_seconds=run.duration_seconds,
        )


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker: whether it answers, and how many tasks it runs and holds in reserve."""

    name: str
    alive: bool
    active: int
    reserved: int


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One task kind with its effective period, newest run and next scheduled run."""

    spec: TaskSpec
    every: dt.timedelta | None
    last_run: TaskStatus | None
    next_run_at: dt.datetime | None


class TaskRunner(Protocol):
    """Submit, follow and cancel tasks; report workers, queues and the schedule."""

    mode: str
    """`embedded` or `celery`."""

    def submit(self, name: str, kwargs: Mapping[str, Any] | None = None) -> str:
        """Queue a run of task `name`; its task id. Raises UnknownTaskError and
        InvalidArgumentsError before anything is queued."""
        ...

    def status(self, task_id: str) -> TaskStatus | None:
        """The newest attempt of a task, or None for an unknown id."""
        ...

    def revoke(self, task_id: str) -> bool:
        """Cancel a task that has not started; whether it was cancelled."""
        ...

    def workers(self) -> list[WorkerInfo]:
        """The workers that can run tasks now."""
        ...

    def queues(self) -> dict[str, int]:
        """Tasks waiting per queue."""
        ...

    def schedule(self) -> list[ScheduleEntry]:
        """Every task kind with its last and next run."""
        ...

    def close(self) -> None:
        """Stop taking work and release resources."""
        ...


def period_of(spec: TaskSpec, settings: Settings) -> dt.timedelta | None:
    """A task kind's period: the schedule's, unless `task_period_overrides` names it."""
    override = settings.task_period_overrides.get(spec.name)
    if override is not None:
        return dt.timedelta(seconds=override)
    return spec.every


def stored_status(database: Database, task_id: str) -> TaskStatus | None:
    """The status the database records for a task id."""
    with database.session_factory() as session:
        run = TaskRunRepository(session).latest(task_id)
        return None if run is None else TaskStatus.of(run)


def stored_schedule(
    database: Database,
    settings: Settings,
    *,
    specs: Sequence[TaskSpec] = SCHEDULE,
    planned: Mapping[str, dt.datetime] | None = None,
) -> list[ScheduleEntry]:
    """Every task kind with its newest recorded run; the next run is `planned`'s when given
    (the scheduler knows it), else one period after the newest run."""
    with database.session_factory() as session:
        last = TaskRunRepository(session).last_per_task([spec.name for spec in specs])
        statuses = {name: TaskStatus.of(run) for name, run in last.items()}
    entries = []
    for spec in specs:
        every = period_of(spec, settings)
        status = statuses.get(spec.name)
        next_run = (planned or {}).get(spec.name)
        if next_run is None and every is not None and status is not None:
            next_run = status.created_at + every
        entries.append(ScheduleEntry(spec, every, status, next_run if every else None))
    return entries
