"""Task management for the API, and the server's task runner and embedded scheduler.

Which runner serves the API: without Redis, the embedded runner (tasks run in this process);
with Redis, the Celery runner (tasks go to workers), found through the hook
``create_runner(settings, context) -> TaskRunner`` in ``cryptopredict.tasks.celery_runner``
or ``cryptopredict.tasks.celery_app``; until one exists the embedded runner stands in.

Whether the server schedules (``should_schedule``): ``scheduler=embedded`` always,
``scheduler=auto`` only without Redis (with Redis, Celery beat does), ``scheduler=off`` never.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.errors import NotFoundError, ValidationFailedError
from cryptopredict.core.pagination import PageParams
from cryptopredict.marketdata import service as marketdata_service
from cryptopredict.tasks.embedded import EmbeddedRunner, EmbeddedScheduler
from cryptopredict.tasks.errors import UnknownTaskError
from cryptopredict.tasks.execution import InvalidArgumentsError
from cryptopredict.tasks.isolation import ChildProcess
from cryptopredict.tasks.jobs import JobContext, sync_run_id
from cryptopredict.tasks.locks import TaskLocks
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.runner import ScheduleEntry, TaskRunner, TaskStatus, WorkerInfo

logger = logging.getLogger(__name__)

ENDED = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED, TaskState.REVOKED})
"""States after which nothing more happens to a task (`retrying`: another attempt follows)."""
NOT_RUN = frozenset({TaskState.SKIPPED, TaskState.REVOKED})
"""Ended without running its job: another run held the lock, or it was cancelled."""
WAIT_POLL_MAX_SECONDS = 0.5

RUNNER_STATE_KEY = "task_runner"
SCHEDULER_STATE_KEY = "task_scheduler"
CELERY_RUNNER_HOOKS = ("cryptopredict.tasks.celery_runner", "cryptopredict.tasks.celery_app")
_runner_lock = threading.Lock()


# ---- the server's runner and scheduler ----------------------------------------------------


def should_schedule(settings: Settings) -> bool:
    """Whether the server process runs the schedule itself (module docstring)."""
    if settings.scheduler == "embedded":
        return True
    return settings.scheduler == "auto" and not settings.redis_url


def server_job_context(state: Any, settings: Settings) -> JobContext:
    """Jobs in the server see its database, its response cache (so its readers see new
    prices at once) and, without Redis, its CoinGecko guards; they queue further runs on
    the server's runner, and train in a child process (started on first use)."""
    return JobContext(
        settings=settings,
        database=state.database,
        cache_source=lambda: state.cache,
        locks=TaskLocks(getattr(state, "redis", None), directory=settings.data_dir / "locks"),
        guards=None if settings.redis_url else marketdata_service.app_guards(state, settings),
        submit=lambda name, kwargs: app_runner(state, settings).submit(name, kwargs),
        offload=ChildProcess(name="cryptopredict-training"),
    )


def _celery_runner(settings: Settings, context: JobContext) -> TaskRunner | None:
    """The Celery runner from its module's `create_runner` hook, or None if not built."""
    for name in CELERY_RUNNER_HOOKS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        factory = getattr(module, "create_runner", None)
        if factory is not None:
            runner: TaskRunner = factory(settings, context)
            return runner
    return None


def app_runner(state: Any, settings: Settings) -> TaskRunner:
    """The runner kept on an application's `state`, made on first use."""
    runner: TaskRunner | None = getattr(state, RUNNER_STATE_KEY, None)
    if runner is None:
        with _runner_lock:
            runner = getattr(state, RUNNER_STATE_KEY, None)
            if runner is None:
                runner = _create_runner(state, settings)
                setattr(state, RUNNER_STATE_KEY, runner)
    return runner


def _create_runner(state: Any, settings: Settings) -> TaskRunner:
    context = server_job_context(state, settings)
    if settings.redis_url and not should_schedule(settings):
        celery = _celery_runner(settings, context)
        if celery is not None:
            return celery
        logger.warning("no Celery runner available: tasks run in this process")
    return EmbeddedRunner(context)


def start_scheduler(state: Any, settings: Settings, **options: Any) -> EmbeddedScheduler:
    """Start the embedded scheduler on the application's (embedded) runner."""
    runner = app_runner(state, settings)
    if not isinstance(runner, EmbeddedRunner):
        raise RuntimeError("the embedded scheduler needs the embedded runner")
    scheduler = EmbeddedScheduler(runner, **options)
    scheduler.start()
    setattr(state, SCHEDULER_STATE_KEY, scheduler)
    return scheduler


def shutdown(state: Any) -> None:
    """Stop the scheduler, then the runner (queued tasks are revoked)."""
    scheduler: EmbeddedScheduler | None = getattr(state, SCHEDULER_STATE_KEY, None)
    if scheduler is not None:
        scheduler.stop()
        setattr(state, SCHEDULER_STATE_KEY, None)
    runner: TaskRunner | None = getattr(state, RUNNER_STATE_KEY, None)
    if runner is not None:
        runner.close()
        setattr(state, RUNNER_STATE_KEY, None)


# ---- what the API asks ----------------------------------------------------------------------


def list_kinds(*, runner: TaskRunner) -> list[ScheduleEntry]:
    """Every registered task kind with its schedule and last and next run."""
    return runner.schedule()


def trigger(*, runner: TaskRunner, name: str, args: Mapping[str, Any]) -> str:
    """Queue a run now; its task id (404 unknown task, 422 bad arguments)."""
    try:
        return runner.submit(name, args)
    except UnknownTaskError as exc:
        raise NotFoundError(exc.message, details={"task": name}) from None
    except InvalidArgumentsError as exc:
        raise ValidationFailedError(exc.message, details=exc.errors) from None


def get(*, runner: TaskRunner, task_id: str) -> TaskStatus:
    """Where a task stands; 404 for an unknown id."""
    status = runner.status(task_id)
    if status is None:
        raise NotFoundError(f"No task {task_id!r}", details={"task_id": task_id})
    return status


async def wait(*, runner: TaskRunner, task_id: str) -> TaskStatus:
    """A task's status once it has ended, for callers that want an outcome without polling
    (bound it with `asyncio.timeout`); the status is read off the event loop."""
    pause = 0.02
    while True:
        status = await asyncio.to_thread(get, runner=runner, task_id=task_id)
        if status.state in ENDED:
            return status
        await asyncio.sleep(pause)
        pause = min(2 * pause, WAIT_POLL_MAX_SECONDS)


def sync_run_of(status: TaskStatus) -> int | None:
    """The id of the market-data `SyncRun` a sync task produced (the one that failed it, if
    it failed); None for a task that ran no sync (skipped, revoked, not a sync task)."""
    return sync_run_id(status.result)


def revoke(*, runner: TaskRunner, task_id: str) -> tuple[bool, TaskState]:
    """Cancel a task that has not started; whether it was, and its state now."""
    get(runner=runner, task_id=task_id)
    revoked = runner.revoke(task_id)
    return revoked, get(runner=runner, task_id=task_id).state


def list_runs(
    *,
    session: Session,
    page: PageParams,
    task: str | None = None,
    status: TaskState | None = None,
) -> tuple[list[TaskRun], int]:
    """A page of attempts, newest first, and the total across pages."""
    runs = TaskRunRepository(session)
    return runs.recent(page=page, task=task, status=status), runs.total(task=task, status=status)


def workers(*, runner: TaskRunner) -> list[WorkerInfo]:
    """The workers that can run tasks now."""
    return runner.workers()


def queues(*, runner: TaskRunner) -> dict[str, int]:
    """Tasks waiting per queue."""
    return runner.queues()
