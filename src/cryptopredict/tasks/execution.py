"""``execute``: the one path every task run takes, whichever runner triggered it.

1. Validate the arguments against the job's signature (bad ones fail the run, never retry).
2. Take the task kind's lock (exclusive kinds; per argument value with ``lock_args``) with
   the task id as its owner token; if another task holds it, record this attempt as
   ``skipped`` and return without doing the work. The same task id takes its own lock back
   (a delivery that died mid-run left it behind; its redelivery or retry must still run).
3. Record the attempt as ``running`` (an attempt queued earlier, or revoked meanwhile, is
   picked up by ``task_id`` and ``attempt``), call the job, record the outcome.
4. Release the lock.

Outcomes: a result dict (succeeded, skipped or revoked), or ``TemporaryTaskError`` (recorded
as ``retrying``: the runner should run attempt + 1 after ``retry_in`` seconds, the jittered
exponential backoff of ``errors.retry_delay`` on ``task_retry_base_seconds``) or
``TaskFailedError`` (recorded as ``failed``: final). Error texts are scrubbed of secrets
(API key, passwords in URLs, the signing key) before they are stored or raised, and raised
without the original exception chained, so no secret reaches a result backend either.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from sqlalchemy import func, literal
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cryptopredict.core import instruments
from cryptopredict.core.config import Settings
from cryptopredict.core.database import UTCDateTime, utcnow
from cryptopredict.core.redaction import scrub
from cryptopredict.tasks.errors import (
    TaskError,
    TaskFailedError,
    TemporaryTaskError,
    UnknownTaskError,
    is_temporary,
    retry_delay,
)
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.locks import Lease
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.schedule import TASKS, TaskSpec

logger = logging.getLogger(__name__)

LOCK_GRACE_SECONDS = 60.0
"""A lock outlives its run's time limit by this much before it expires on its own."""

Job = Callable[..., dict[str, Any]]
_jobs: dict[str, tuple[Job, type[BaseModel]]] = {}
_jobs_lock = threading.Lock()


class InvalidArgumentsError(TaskFailedError):
    """The arguments do not fit the job's signature; `errors` says where and why."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


def resolve(spec_or_name: TaskSpec | str, tasks: Mapping[str, TaskSpec] = TASKS) -> TaskSpec:
    """The spec itself, or the spec of that name (UnknownTaskError when there is none)."""
    if isinstance(spec_or_name, TaskSpec):
        return spec_or_name
    try:
        return tasks[spec_or_name]
    except KeyError:
        known = ", ".join(sorted(tasks))
        raise UnknownTaskError(f"unknown task {spec_or_name!r}; known: {known}") from None


def _job(spec: TaskSpec) -> tuple[Job, type[BaseModel]]:
    """The job function of a spec and a model of its keyword arguments (imported once)."""
    with _jobs_lock:
        found = _jobs.get(spec.job)
        if found is None:
            module_name, _, function_name = spec.job.partition(":")
            function: Job = getattr(importlib.import_module(module_name), function_name)
            found = (function, _arguments_model(spec.name, function))
            _jobs[spec.job] = found
        return found


def _arguments_model(name: str, function: Job) -> type[BaseModel]:
    """A strict pydantic model of a job's parameters after its context."""
    hints = get_type_hints(function, include_extras=True)
    fields: dict[str, Any] = {}
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model: type[BaseModel] = create_model(
        f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


def validate_kwargs(
    spec_or_name: TaskSpec | str, kwargs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The arguments as the job will get them; InvalidArgumentsError names each problem."""
    spec = resolve(spec_or_name)
    _, model = _job(spec)
    try:
        parsed = model.model_validate(dict(kwargs or {}))
    except ValidationError as exc:
        errors = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        raise InvalidArgumentsError(
            f"invalid arguments for task {spec.name!r}", errors=errors
        ) from None
    return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def default_worker_name() -> str:
    """`host:pid`, naming where an attempt ran."""
    return f"{socket.gethostname()}:{os.getpid()}"


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """Values that must never appear in a stored or raised error text."""
    found: list[str] = []
    for secret in (settings.coingecko_api_key, settings.secret_key):
        if secret is not None and secret.get_secret_value():
            found.append(secret.get_secret_value())
    for url in (settings.database_url, settings.redis_url):
        if not url:
            continue
        with contextlib.suppress(ArgumentError, ValueError):
            password = make_url(url).password
            if password:
                found.append(str(password))
    return tuple(found)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TaskError):
        return exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Recorder:
    """Writes one attempt's row in its own short transactions."""

    def __init__(
        self,
        context: JobContext,
        *,
        spec: TaskSpec,
        task_id: str,
        attempt: int,
        args: dict[str, Any],
        worker: str,
    ) -> None:
        self.context = context
        self.spec = spec
        self.task_id = task_id
        self.attempt = attempt
        self.args = args
        self.worker = worker

    def _insert(self, runs: TaskRunRepository, **values: Any) -> None:
        run = runs.queue(
            task_id=self.task_id,
            task=self.spec.name,
            args=self.args,
            attempt=self.attempt,
            worker=self.worker,
        )
        runs.update(run, **values)

    def start(self) -> TaskState | None:
        """Mark the attempt running; the state that stops it instead (revoked), if any."""
        values: dict[str, Any] = {
            "status": TaskState.RUNNING,
            "worker": self.worker,
            "started_at": utcnow(),
            "finished_at": None,
            "error": None,
        }
        with self.context.session() as session:
            runs = TaskRunRepository(session)
            changed = runs.set_state(
                self.task_id, attempt=self.attempt, exclude=[TaskState.REVOKED], **values
            )
            if not changed:
                if runs.attempt(self.task_id, self.attempt) is not None:
                    return TaskState.REVOKED
                latest = runs.latest(self.task_id)
                if latest is not None and latest.status == TaskState.REVOKED:
                    return TaskState.REVOKED  # revoked while waiting for this retry
                self._insert(runs, **values)
            session.commit()
        return None

    def finish(
        self,
        status: TaskState,
        *,
        duration: float | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how the attempt ended."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": status,
            "worker": self.worker,
            "finished_at": now,
            "duration_seconds": duration,
            "result": result,
            "error": error,
        }
        with self.context.session() as session:
            runs = TaskRunRepository(session)
            started = func.coalesce(TaskRun.started_at, literal(now, UTCDateTime()))
            if not runs.set_state(self.task_id, attempt=self.attempt, started_at=started, **values):
                self._insert(runs, started_at=now, **values)
            session.commit()


@contextlib.contextmanager
def _maybe_lock(
    context: JobContext, spec: TaskSpec, arguments: Mapping[str, Any], task_id: str
) -> Iterator[Lease | None]:
    """The run's lock, owned by its task id, or a stand-in lease for kinds that may run
    side by side."""
    if not spec.exclusive:
        yield Lease(spec.name, "not-exclusive")
        return
    ttl = spec.time_limit_seconds + LOCK_GRACE_SECONDS
    with context.locks.hold(spec.lock_name(arguments), ttl_seconds=ttl, token=task_id) as lease:
        yield lease


def execute(
    spec_or_name: TaskSpec | str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    task_id: str,
    context: JobContext,
    attempt: int = 1,
    worker: str | None = None,
) -> dict[str, Any]:
    """Run one attempt of a task under its lock and record it (module docstring).

    Raises:
        TemporaryTaskError: the attempt failed in a way that may pass and `attempt` is
            within the spec's `max_retries`: run attempt + 1 after `retry_in` seconds.
        TaskFailedError: the attempt failed for good (bad arguments included).
        UnknownTaskError: no task kind of that name (nothing is recorded).
    """
    spec = resolve(spec_or_name)
    secrets = secrets_of(context.settings)
    recorder = _Recorder(
        context,
        spec=spec,
        task_id=task_id,
        attempt=attempt,
        args=dict(kwargs or {}),
        worker=worker or default_worker_name(),
    )
    try:
        arguments = validate_kwargs(spec, kwargs)
    except InvalidArgumentsError as exc:
        recorder.finish(TaskState.FAILED, error=f"{exc.message}: {exc.errors}")
        instruments.task_run(spec.name, TaskState.FAILED)
        raise
    job, _ = _job(spec)
    backoff = context.settings.task_retry_base_seconds
    with _maybe_lock(context, spec, arguments, task_id) as lease:
        if lease is None:
            reason = f"another run of {spec.lock_name(arguments)} holds its lock"
            logger.info("task %s[%s] skipped: %s", spec.name, task_id, reason)
            _record_quietly(recorder, TaskState.SKIPPED, duration=0.0, error=reason)
            return {"skipped": True, "reason": reason}
        try:
            stopped = recorder.start()
        except Exception as exc:
            raise _as_task_error(exc, spec, attempt, secrets, backoff) from None
        if stopped is not None:
            instruments.task_run(spec.name, TaskState.REVOKED)
            return {"revoked": True}
        began = time.perf_counter()
        try:
            result = job(context, **arguments)
        except Exception as exc:
            duration = time.perf_counter() - began
            error = _as_task_error(exc, spec, attempt, secrets, backoff)
            state = (
                TaskState.RETRYING if isinstance(error, TemporaryTaskError) else TaskState.FAILED
            )
            _log_failure(spec, task_id, attempt, error, exc)
            _record_quietly(
                recorder, state, duration=duration, result=error.result, error=error.message
            )
            raise error from None
        duration = time.perf_counter() - began
        if duration > spec.time_limit_seconds:
            message = (
                f"{spec.name} ran {duration:.1f} s, over its limit of {spec.time_limit_seconds} s"
            )
            _record_quietly(
                recorder, TaskState.FAILED, duration=duration, result=result, error=message
            )
            raise TaskFailedError(message)
        _record_quietly(recorder, TaskState.SUCCEEDED, duration=duration, result=result)
        logger.info("task %s[%s] succeeded in %.2f s", spec.name, task_id, duration)
        return result


def _as_task_error(
    exc: BaseException,
    spec: TaskSpec,
    attempt: int,
    secrets: tuple[str, ...],
    backoff: float,
) -> TaskError:
    """The scrubbed task error an exception becomes, retryable while the spec allows (after
    the attempt's backoff on `backoff` seconds, or longer if the job asked for longer)."""
    message = scrub(_describe(exc), secrets)
    result = exc.result if isinstance(exc, TaskError) else None
    if is_temporary(exc) and attempt <= spec.max_retries:
        delay = retry_delay(attempt, base=backoff)
        if isinstance(exc, TemporaryTaskError) and exc.asked_retry_in is not None:
            delay = max(delay, exc.asked_retry_in)
        return TemporaryTaskError(message, retry_in=delay, result=result)
    if isinstance(exc, TaskFailedError) and exc.message == message:
        return exc
    return TaskFailedError(message, result=result)


def _log_failure(
    spec: TaskSpec, task_id: str, attempt: int, error: TaskError, exc: BaseException
) -> None:
    retrying = isinstance(error, TemporaryTaskError)
    logger.warning(
        "task %s[%s] attempt %d failed%s: %s",
        spec.name,
        task_id,
        attempt,
        f" (retry in {error.retry_in:.0f} s)" if isinstance(error, TemporaryTaskError) else "",
        error.message,
    )
    if not retrying and not isinstance(exc, TaskError) and not is_temporary(exc):
        # Likely a bug: keep the traceback for whoever fixes it (logs, not the database).
        logger.debug("task %s[%s] traceback", spec.name, task_id, exc_info=exc)


def _record_quietly(
    recorder: _Recorder,
    status: TaskState,
    *,
    duration: float | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record an outcome, and count it; a database that fails now must not hide the outcome
    itself."""
    instruments.task_run(
        recorder.spec.name, status, None if status is TaskState.SKIPPED else duration
    )
    try:
        recorder.finish(status, duration=duration, result=result, error=error)
    except Exception as exc:
        logger.error(
            "could not record task %s[%s] as %s: %s",
            recorder.spec.name,
            recorder.task_id,
            status,
            type(exc).__name__,
        )
