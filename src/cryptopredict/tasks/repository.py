"""SQL for task run records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from cryptopredict.core.pagination import PageParams
from cryptopredict.core.repository import Repository
from cryptopredict.tasks.models import TaskRun, TaskState


class TaskRunRepository(Repository[TaskRun]):
    """Queue, start, finish, list and prune task run records (flushed, never committed)."""

    model = TaskRun
    sortable = frozenset({"created_at", "id"})

    def attempt(self, task_id: str, attempt: int) -> TaskRun | None:
        """One attempt of one task, or None."""
        statement = select(TaskRun).where(TaskRun.task_id == task_id, TaskRun.attempt == attempt)
        return self.session.scalars(statement).first()

    def attempts(self, task_id: str) -> list[TaskRun]:
        """Every attempt of one task, first attempt first."""
        statement = select(TaskRun).where(TaskRun.task_id == task_id).order_by(TaskRun.attempt)
        return list(self.session.scalars(statement))

    def latest(self, task_id: str) -> TaskRun | None:
        """The newest attempt of one task, or None when the id is unknown."""
        statement = (
            select(TaskRun)
            .where(TaskRun.task_id == task_id)
            .order_by(TaskRun.attempt.desc())
            .limit(1)
        )
        return self.session.scalars(statement).first()

    def queue(
        self,
        *,
        task_id: str,
        task: str,
        args: dict[str, Any],
        attempt: int = 1,
        worker: str | None = None,
    ) -> TaskRun:
        """A new attempt waiting for a worker."""
        return self.create(
            task_id=task_id,
            task=task,
            args=args,
            attempt=attempt,
            worker=worker,
            status=TaskState.QUEUED,
        )

    def set_state(
        self,
        task_id: str,
        *,
        attempt: int | None = None,
        only: Sequence[TaskState] | None = None,
        exclude: Sequence[TaskState] | None = None,
        **values: Any,
    ) -> int:
        """Update the attempt (or every attempt) of a task in one statement, optionally only
        in or not in some states; how many rows changed.

        One UPDATE rather than read-then-write: it takes SQLite's write lock up front, so
        concurrent recorders wait for each other instead of failing on a stale snapshot.
        """
        statement = update(TaskRun).where(TaskRun.task_id == task_id)
        if attempt is not None:
            statement = statement.where(TaskRun.attempt == attempt)
        if only is not None:
            statement = statement.where(TaskRun.status.in_(only))
        if exclude is not None:
            statement = statement.where(TaskRun.status.not_in(exclude))
        result = self.session.execute(statement.values(**values))
        return int(getattr(result, "rowcount", 0) or 0)

    def recent(
        self,
        *,
        page: PageParams,
        task: str | None = None,
        status: TaskState | None = None,
    ) -> list[TaskRun]:
        """Attempts newest first, optionally of one task kind or in one state."""
        statement = select(TaskRun).where(*self._filters(task, status))
        statement = statement.order_by(TaskRun.created_at.desc(), TaskRun.id.desc())
        return list(self.session.scalars(statement.limit(page.limit).offset(page.offset)))

    def total(self, *, task: str | None = None, status: TaskState | None = None) -> int:
        """How many attempts match."""
        return self.count(conditions=self._filters(task, status))

    @staticmethod
    def _filters(task: str | None, status: TaskState | None) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if task is not None:
            conditions.append(TaskRun.task == task)
        if status is not None:
            conditions.append(TaskRun.status == status)
        return conditions

    def last_per_task(self, tasks: Sequence[str] | None = None) -> dict[str, TaskRun]:
        """The newest attempt of each task kind (by creation), in one query."""
        newest = select(TaskRun.task, func.max(TaskRun.id).label("id")).group_by(TaskRun.task)
        if tasks is not None:
            newest = newest.where(TaskRun.task.in_(tasks))
        subquery = newest.subquery()
        statement = select(TaskRun).join(subquery, TaskRun.id == subquery.c.id)
        return {run.task: run for run in self.session.scalars(statement)}

    def unfinished(self, *, worker_prefix: str) -> list[TaskRun]:
        """Attempts still queued or running on workers whose names start with the prefix."""
        statement = select(TaskRun).where(
            TaskRun.status.in_((TaskState.QUEUED, TaskState.RUNNING)),
            TaskRun.worker.startswith(worker_prefix, autoescape=True),
        )
        return list(self.session.scalars(statement))

    def prune(self, *, before: dt.datetime) -> int:
        """Delete finished attempts created before the cut-off; how many went."""
        finished = [state for state in TaskState if state.finished]
        statement = delete(TaskRun).where(TaskRun.created_at < before, TaskRun.status.in_(finished))
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    def abandon(self, *, started_before: dt.datetime, finished_at: dt.datetime, error: str) -> int:
        """Mark as failed, with `error`, the attempts still `running` that started before the
        cut-off (their process ended without recording an outcome); how many."""
        statement = (
            update(TaskRun)
            .where(TaskRun.status == TaskState.RUNNING, TaskRun.started_at < started_before)
            .values(status=TaskState.FAILED, finished_at=finished_at, error=error)
        )
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)
