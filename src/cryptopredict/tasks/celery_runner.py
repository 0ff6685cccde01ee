"""``CeleryRunner``: the task API's ``TaskRunner`` when tasks go to Celery workers through Redis.

- ``submit`` validates the arguments, records the attempt as ``queued`` and publishes it
  (a broker that cannot be reached marks the row failed and answers 503);
- ``status`` reads the ``TaskRun`` rows, which ``execute`` keeps on the worker, and overlays
  what only Celery knows: a run its worker could not record (killed by the hard time limit)
  shows as failed with Celery's error;
- ``revoke`` cancels a task that has not started: workers drop it (Celery's revoke) and the
  row says ``revoked``, which ``execute`` also honours if a worker never heard the broadcast.
  Running tasks are not terminated: a killed job records nothing and keeps its lock until
  the lock expires, while letting it finish costs at most its time limit;
- ``workers`` asks the workers over the broker (ping, then active and reserved), and is
  empty, not an error, while Redis or every worker is down;
- ``queues`` counts the messages waiting in Redis per queue (``LLEN`` of its priority lists);
- ``schedule`` is the stored schedule: last run from ``TaskRun``, next one period later.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import redis
from sqlalchemy import func

from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.core.errors import ServiceUnavailableError
from cryptopredict.tasks.celery_app import QUEUES, CryptoCelery, create_celery
from cryptopredict.tasks.execution import resolve, validate_kwargs
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.runner import (
    ScheduleEntry,
    TaskStatus,
    WorkerInfo,
    stored_schedule,
    stored_status,
)

logger = logging.getLogger(__name__)

INSPECT_TIMEOUT_SECONDS = 1.0
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
"""kombu's Redis transport keeps one list per priority step: `queue` for 0, else
`queue + separator + step`."""
BEAT_NODE_PREFIX = "celerybeat@"
"""Beat answers pings too (Celery 5.7); it is not a worker."""
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
"""An API request waits about half a second for a broker that is down, not Celery's 3 s."""


class CeleryRunner:
    """Tasks run by Celery workers (module docstring)."""

    mode = "celery"

    def __init__(self, celery: CryptoCelery, context: JobContext) -> None:
        self.celery = celery
        self.context = context
        self._redis = redis.Redis.from_url(
            celery.conf.broker_url, socket_connect_timeout=1, socket_timeout=2
        )

    # ---- TaskRunner -----------------------------------------------------------------------

    def submit(self, name: str, kwargs: Mapping[str, Any] | None = None) -> str:
        """Record the task as queued, then publish it; its id."""
        spec = resolve(name)
        validate_kwargs(spec, kwargs)
        args = dict(kwargs or {})
        task_id = str(uuid.uuid4())
        with self.context.session() as session:
            TaskRunRepository(session).queue(task_id=task_id, task=spec.name, args=args)
            session.commit()
        try:
            self.celery.tasks[spec.name].apply_async(
                kwargs=args, task_id=task_id, retry_policy=PUBLISH_RETRY
            )
        except Exception as exc:  # kombu/redis raise several unrelated types
            reason = f"could not queue the task: broker unreachable ({type(exc).__name__})"
            self._finish_unstarted(task_id, TaskState.FAILED, reason)
            raise ServiceUnavailableError(reason) from None
        return task_id

    def status(self, task_id: str) -> TaskStatus | None:
        """The newest recorded attempt, corrected by Celery's own outcome when the worker
        could not record it."""
        status = stored_status(self.context.database, task_id)
        if status is None or status.state.finished:
            return status
        try:
            result = self.celery.AsyncResult(task_id)
            state, info = result.state, result.info
        except Exception:  # the result backend is down: the row is all there is
            return status
        if state != "FAILURE":
            return status
        error = f"{type(info).__name__}: {info}" if isinstance(info, BaseException) else state
        return dataclasses.replace(status, state=TaskState.FAILED, error=error)

    def revoke(self, task_id: str) -> bool:
        """Cancel a task that has not started (running ones finish: module docstring)."""
        with self.context.session() as session:
            run = TaskRunRepository(session).latest(task_id)
            waiting = run is not None and run.status in (TaskState.QUEUED, TaskState.RETRYING)
        if not waiting:
            return False
        try:
            self.celery.control.revoke(task_id)
        except Exception as exc:
            logger.warning("revoke of %s not broadcast (%s)", task_id, type(exc).__name__)
        return self._finish_unstarted(task_id, TaskState.REVOKED, "revoked before it ran")

    def workers(self) -> list[WorkerInfo]:
        """The workers answering a ping within a second, with their active and reserved
        tasks; empty while Redis (or every worker) is down."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=INSPECT_TIMEOUT_SECONDS)
                inspect = self.celery.control.inspect(
                    timeout=INSPECT_TIMEOUT_SECONDS, connection=connection
                )
                names = sorted(
                    name for name in (inspect.ping() or {}) if not name.startswith(BEAT_NODE_PREFIX)
                )
                if not names:
                    return []
                inspect = self.celery.control.inspect(
                    destination=names,
                    timeout=INSPECT_TIMEOUT_SECONDS,
                    connection=connection,
                    limit=len(names),
                )
                active = inspect.active() or {}
                reserved = inspect.reserved() or {}
        except Exception as exc:
            logger.warning("workers: broker unreachable (%s)", type(exc).__name__)
            return []
        return [
            WorkerInfo(
                name=name,
                alive=True,
                active=len(active.get(name) or []),
                reserved=len(reserved.get(name) or []),
            )
            for name in names
        ]

    def queues(self) -> dict[str, int]:
        """Messages waiting in Redis, per queue; empty while Redis is down."""
        keys = [
            name if step == 0 else f"{name}{PRIORITY_SEPARATOR}{step}"
            for name in QUEUES
            for step in PRIORITY_STEPS
        ]
        try:
            pipeline = self._redis.pipeline(transaction=False)
            for key in keys:
                pipeline.llen(key)
            lengths = pipeline.execute()
        except redis.RedisError as exc:
            logger.warning("queues: Redis unreachable (%s)", type(exc).__name__)
            return {}
        steps = len(PRIORITY_STEPS)
        return {
            name: sum(int(length) for length in lengths[index * steps : (index + 1) * steps])
            for index, name in enumerate(QUEUES)
        }

    def schedule(self) -> list[ScheduleEntry]:
        """Every task kind with its newest run and the next one a period later (beat keeps
        its exact plan in its own process)."""
        return stored_schedule(self.context.database, self.context.settings)

    def close(self) -> None:
        """Release the broker and Redis connections."""
        self._redis.close()
        self.celery.close()

    # ---- helpers --------------------------------------------------------------------------

    def _finish_unstarted(self, task_id: str, state: TaskState, reason: str) -> bool:
        """Close a row that never started (revoked, or never reached the broker); whether it
        was still unstarted. One conditional UPDATE, so a worker starting the task meanwhile
        keeps its row; a retrying row keeps the error that made it retry."""
        with self.context.session() as session:
            runs = TaskRunRepository(session)
            run = runs.latest(task_id)
            if run is None:
                return False
            changed = runs.set_state(
                task_id,
                attempt=run.attempt,
                only=(TaskState.QUEUED, TaskState.RETRYING),
                status=state,
                finished_at=utcnow(),
                error=func.coalesce(TaskRun.error, reason),
            )
            session.commit()
        return changed > 0


def create_runner(settings: Settings, context: JobContext) -> CeleryRunner:
    """The hook ``tasks.service`` looks for: the runner of a server that has Redis."""
    return CeleryRunner(create_celery(settings), context)
