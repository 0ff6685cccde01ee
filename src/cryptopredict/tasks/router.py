"""Admin routes to see and drive background work: task kinds and their schedule, runs on
demand, status and results, revocation, recent runs, workers and queues.

The same routes serve both runners: the embedded one (tasks in this process, no Redis) and
Celery's (tasks on workers through Redis).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.core.dependencies import SessionDep, SettingsDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.pagination import PageDep
from cryptopredict.tasks import service
from cryptopredict.tasks.models import TaskState
from cryptopredict.tasks.runner import TaskRunner
from cryptopredict.tasks.schemas import (
    TASK_STATUS_ROUTE,
    QueuesRead,
    RevokeResult,
    TaskKindList,
    TaskKindRead,
    TaskRunPage,
    TaskRunRead,
    TaskStatusRead,
    TaskSubmitted,
    TaskTrigger,
    WorkerRead,
    WorkersRead,
)

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=error_responses(401, 403, 422))


def task_runner(request: Request, settings: SettingsDep) -> TaskRunner:
    """The application's task runner."""
    return service.app_runner(request.app.state, settings)


RunnerDep = Annotated[TaskRunner, Depends(task_runner)]


@router.get("")
def list_tasks(_admin: AdminUser, runner: RunnerDep) -> TaskKindList:
    """Every registered task kind with its period, limits, last run and next run (admin)."""
    items = [
        TaskKindRead(
            name=entry.spec.name,
            description=entry.spec.description,
            every_seconds=entry.every.total_seconds() if entry.every else None,
            exclusive=entry.spec.exclusive,
            time_limit_seconds=entry.spec.time_limit_seconds,
            max_retries=entry.spec.max_retries,
            last_run=TaskStatusRead.model_validate(entry.last_run) if entry.last_run else None,
            next_run_at=entry.next_run_at,
        )
        for entry in service.list_kinds(runner=runner)
    ]
    return TaskKindList(mode=runner.mode, items=items)


@router.post("/{name}/run", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(404))
def run_task(
    _admin: AdminUser, runner: RunnerDep, name: str, data: TaskTrigger | None = None
) -> TaskSubmitted:
    """Queue a run of a task now (admin); follow it at `/tasks/runs/{task_id}`."""
    task_id = service.trigger(runner=runner, name=name, args=data.args if data else {})
    return TaskSubmitted(task_id=task_id, task=name, mode=runner.mode)


@router.get("/runs")
def list_task_runs(
    _admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    task: Annotated[str | None, Query(max_length=100, description="Only this task")] = None,
    state: Annotated[TaskState | None, Query(description="Only runs in this state")] = None,
) -> TaskRunPage:
    """Recent runs, newest first, with duration, outcome and error (admin)."""
    items, total = service.list_runs(session=session, page=page, task=task, status=state)
    return TaskRunPage(
        items=[TaskRunRead.model_validate(run) for run in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/runs/{task_id}", name=TASK_STATUS_ROUTE, responses=error_responses(404))
def get_run(_admin: AdminUser, runner: RunnerDep, task_id: str) -> TaskStatusRead:
    """Where a task stands, with its result or error (admin)."""
    return TaskStatusRead.model_validate(service.get(runner=runner, task_id=task_id))


@router.post("/runs/{task_id}/revoke", responses=error_responses(404))
def revoke_run(_admin: AdminUser, runner: RunnerDep, task_id: str) -> RevokeResult:
    """Cancel a task that has not started yet (admin); a running one goes on."""
    revoked, state = service.revoke(runner=runner, task_id=task_id)
    return RevokeResult(task_id=task_id, revoked=revoked, state=state)


@router.get("/workers")
def list_workers(_admin: AdminUser, runner: RunnerDep) -> WorkersRead:
    """The workers that answer, with their active and reserved task counts (admin)."""
    workers = [
        WorkerRead(name=w.name, alive=w.alive, active=w.active, reserved=w.reserved)
        for w in service.workers(runner=runner)
    ]
    return WorkersRead(mode=runner.mode, workers=workers)


@router.get("/queues")
def list_queues(_admin: AdminUser, runner: RunnerDep) -> QueuesRead:
    """How many tasks wait in each queue (admin)."""
    return QueuesRead(mode=runner.mode, queues=service.queues(runner=runner))
