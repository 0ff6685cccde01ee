"""The Celery runner: Redis as broker and result backend, one Celery task per ``TaskSpec``, and
a beat schedule built from ``SCHEDULE``.

Every Celery task only hands over to ``execution.execute``, so a run through Celery takes the
same lock, writes the same ``TaskRun`` and calls the same job as a run through the embedded
runner. What Celery adds is delivery:

- at least once: tasks are acknowledged after they finish (``task_acks_late``) and a task
  whose worker process died is handed back (``task_reject_on_worker_lost``); a task held by a
  worker that vanished altogether is redelivered by Redis after
  ``CRYPTOPREDICT_BROKER_VISIBILITY_TIMEOUT_SECONDS``. Jobs are idempotent and exclusive
  kinds take a lock, so a second delivery never writes a row twice;
- one task at a time per worker process (``worker_prefetch_multiplier=1``), so a long sync
  never holds a queue of short tasks hostage;
- a kind with a queue of its own (``TaskSpec.queue``: training) goes to
  ``cryptopredict.<queue>``; every worker consumes every queue, and Redis hands a free
  worker process the queues' messages in turn, so a long line of training runs never keeps
  a sync waiting for more than one run;
- the spec's time limit as Celery's hard limit, with a soft limit a little before it so the
  run is recorded as failed rather than vanishing;
- retries of temporary errors only (``TemporaryTaskError``), at most the spec's
  ``max_retries``, after the jittered exponential backoff ``execute`` asks for
  (``errors.retry_delay``, the embedded runner's too);
- beat sends each periodic kind once per period (``task_period_overrides`` replace periods),
  and the kinds marked ``at_start`` also once when it takes the lead; only the beat that
  holds the beat lock in Redis sends anything: a second beat started by mistake waits as a
  standby and takes over when the first one stops.

``celery -A cryptopredict.tasks.celery_app worker`` finds ``app``, built on first access from
``get_settings()``; code that has its own ``Settings`` calls ``create_celery(settings)``.
JSON is the only serialisation accepted.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from celery import Celery, Task, signals
from celery.beat import PersistentScheduler
from celery.exceptions import TimeLimitExceeded
from kombu.entity import Queue

from cryptopredict.core.config import Settings, get_settings
from cryptopredict.tasks.runner import period_of
from cryptopredict.tasks.schedule import SCHEDULE, TaskSpec

if TYPE_CHECKING:
    from cryptopredict.tasks.jobs import JobContext

logger = logging.getLogger(__name__)

QUEUE = "cryptopredict"
"""The one queue every task goes to (a name of our own, so another Celery app on the same
Redis database never takes our tasks)."""

BEAT_LOCK_KEY = "cryptopredict:beat:leader"
BEAT_LOOP_SECONDS = 5.0
"""Beat wakes at least this often, to renew its lock (or, as a standby, to try to take it)."""
BEAT_LOCK_TTL_SECONDS = 3 * BEAT_LOOP_SECONDS
"""A beat that stops renewing loses the lock after this long; a standby then takes over."""
BEAT_SCHEDULE_FILE = "celerybeat-schedule"

RESULT_EXPIRES_SECONDS = 24 * 3600


class CeleryNotConfiguredError(RuntimeError):
    """Raised when the Celery runner is asked for without ``CRYPTOPREDICT_REDIS_URL``."""


class CryptoCelery(Celery):  # type: ignore[misc]  # celery ships no type information
    """A Celery app that knows the settings it was built from."""

    settings: Settings


def queue_of(spec: TaskSpec) -> str:
    """The Celery queue a task kind's runs go to."""
    return QUEUE if spec.queue is None else f"{QUEUE}.{spec.queue}"


QUEUES = tuple(dict.fromkeys([QUEUE, *(queue_of(spec) for spec in SCHEDULE)]))
"""Every queue, the main one first; workers consume them all."""


# ---- schedule ---------------------------------------------------------------------------


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery beat's entries: one per periodic kind of ``SCHEDULE``.

    A run that waited a whole period in the queue (every worker down) expires instead of
    running late, so a backlog never turns into a burst of identical syncs.
    """
    entries: dict[str, dict[str, Any]] = {}
    for spec in SCHEDULE:
        period = period_of(spec, settings)
        if period is None:
            continue
        seconds = period.total_seconds()
        entries[spec.name] = {
            "task": spec.name,
            "schedule": seconds,
            "options": {"expires": seconds},
        }
    return entries


def soft_time_limit(hard_seconds: int) -> int:
    """The soft limit: a tenth of the hard one earlier (1 to 30 s), so the job can record
    its failure before the worker process is killed."""
    margin = max(1, min(30, hard_seconds // 10))
    return max(1, hard_seconds - margin)


def transport_options(visibility_timeout: int) -> dict[str, Any]:
    """Redis transport options: the visibility timeout, and a sweep for messages of dead
    workers about five times per timeout (kombu's default sweeps every 100 s, far too
    rarely for a short timeout), at least every second and at most every 100 s."""
    interval = max(1, min(10, visibility_timeout // 5))
    throttle = max(1, min(10, visibility_timeout // 5 // interval))
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": throttle,
    }


def _check_visibility_timeout(settings: Settings) -> None:
    """Warn when Redis may hand a task to a second worker while the first still runs it."""
    longest = max(spec.time_limit_seconds for spec in SCHEDULE)
    if settings.broker_visibility_timeout_seconds <= longest:
        logger.warning(
            "CRYPTOPREDICT_BROKER_VISIBILITY_TIMEOUT_SECONDS=%d is not longer than the longest "
            "task time limit (%d s): a task still running may be delivered again and run "
            "twice at once (its lock is the task's own; jobs are idempotent, so it costs "
            "API calls, not duplicate rows)",
            settings.broker_visibility_timeout_seconds,
            longest,
        )


# ---- the app ----------------------------------------------------------------------------


def create_celery(settings: Settings) -> CryptoCelery:
    """The Celery app of a deployment; refused without Redis."""
    if not settings.redis_url:
        raise CeleryNotConfiguredError(
            "Celery needs Redis: set CRYPTOPREDICT_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    _check_visibility_timeout(settings)
    celery = CryptoCelery("cryptopredict", set_as_current=False)
    celery.settings = settings
    celery.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        task_default_queue=QUEUE,
        task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        task_routes={spec.name: {"queue": queue_of(spec)} for spec in SCHEDULE if spec.queue},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        # A run still going when the broker connection drops completes and is recorded; its
        # acknowledgement is lost, so Redis may deliver it again, which jobs tolerate.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options=transport_options(settings.broker_visibility_timeout_seconds),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_expires=RESULT_EXPIRES_SECONDS,
        result_backend_always_retry=True,
        result_backend_max_retries=10,
        redis_socket_connect_timeout=5,
        redis_retry_on_timeout=True,
        beat_schedule=beat_schedule(settings),
        beat_scheduler=f"{__name__}:LeaderScheduler",
        beat_schedule_filename=str(settings.data_dir / BEAT_SCHEDULE_FILE),
        beat_max_loop_interval=BEAT_LOOP_SECONDS,
        worker_hijack_root_logger=True,
    )
    for spec in SCHEDULE:
        _register(celery, spec)
    return celery


def _register(celery: CryptoCelery, spec: TaskSpec) -> None:
    """One Celery task named after the spec, calling ``execute``."""

    def run(task: Task, **kwargs: Any) -> Any:
        return _run(task, spec, kwargs)

    run.__name__ = spec.name
    run.__doc__ = spec.description
    celery.task(
        run,
        name=spec.name,
        bind=True,
        shared=False,  # each app registers its own; a shared task would leak into others
        typing=False,
        max_retries=spec.max_retries,
        time_limit=spec.time_limit_seconds,
        soft_time_limit=soft_time_limit(spec.time_limit_seconds),
        acks_late=True,
        reject_on_worker_lost=True,
    )


def _run(task: Task, spec: TaskSpec, kwargs: dict[str, Any]) -> Any:
    """Execute one delivery (the task id owns the lock, so a redelivery takes it back); a
    temporary failure comes back after the delay ``execute`` chose (exponential in the
    attempt, jittered)."""
    from cryptopredict.tasks.errors import TemporaryTaskError
    from cryptopredict.tasks.execution import execute

    request = task.request
    try:
        return execute(
            spec,
            kwargs,
            task_id=request.id,
            context=_job_context(task.app),
            attempt=request.retries + 1,
            worker=request.hostname,
        )
    except TemporaryTaskError as exc:
        # execute raises this only while attempts remain, and has recorded the attempt.
        raise task.retry(exc=exc, countdown=exc.retry_in, max_retries=spec.max_retries) from None


# ---- per-process job context ------------------------------------------------------------

_context_lock = threading.Lock()
_contexts: dict[int, JobContext] = {}


def build_job_context(settings: Settings) -> JobContext:
    """What jobs get in a worker process: its database pool, the Redis response cache and the
    task locks in Redis (CoinGecko guards are made per run; their state lives in Redis)."""
    from cryptopredict.core.cache import create_cache
    from cryptopredict.core.database import Database
    from cryptopredict.core.redis import connect_redis
    from cryptopredict.tasks.jobs import JobContext
    from cryptopredict.tasks.locks import TaskLocks

    cache = create_cache(settings.redis_url, ttl_seconds=settings.cache_ttl_seconds)
    return JobContext(
        settings=settings,
        database=Database.from_settings(settings),
        cache_source=lambda: cache,
        locks=TaskLocks(connect_redis(settings.redis_url)),
    )


def _job_context(celery: CryptoCelery) -> JobContext:
    """The job context of this process, made on first use: prefork children build their own
    database pool after the fork, never sharing the parent's sockets. Jobs that queue
    further runs do so as the API does (``CeleryRunner.submit``)."""
    pid = os.getpid()
    found = _contexts.get(pid)
    if found is None:
        with _context_lock:
            found = _contexts.get(pid)
            if found is None:
                found = build_job_context(celery.settings)
                found.submit = _submitter(celery, found)
                _contexts.clear()  # an entry inherited from the parent is never used
                _contexts[pid] = found
    return found


def _submitter(
    celery: CryptoCelery, context: JobContext
) -> Callable[[str, Mapping[str, Any]], str]:
    """`JobContext.submit` in a worker: a Celery runner on this process's app, made on first
    use."""
    made: list[Any] = []

    def submit(name: str, kwargs: Mapping[str, Any]) -> str:
        if not made:
            from cryptopredict.tasks.celery_runner import CeleryRunner

            made.append(CeleryRunner(celery, context))
        task_id: str = made[0].submit(name, kwargs)
        return task_id

    return submit


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_job_context(**_: Any) -> None:
    """Release this process's database pool when the worker process stops."""
    found = _contexts.pop(os.getpid(), None)
    if found is not None:
        found.database.dispose()


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _abandon_stale_runs(sender: Any = None, **_: Any) -> None:
    """When a worker starts, record as failed the runs a dead process left running long past
    any time limit (``jobs.abandon_stale_runs``)."""
    app = getattr(sender, "app", None)
    if not isinstance(app, CryptoCelery):
        return
    from cryptopredict.core.database import Database, utcnow
    from cryptopredict.tasks.jobs import abandon_stale_runs

    # A pool of its own, closed at once (the pool children must not inherit connections).
    database = Database.from_settings(app.settings)
    try:
        abandoned = abandon_stale_runs(database, now=utcnow())
        if any(abandoned.values()):
            logger.warning("recorded abandoned runs as failed: %s", abandoned)
    except Exception as exc:
        logger.error("could not record abandoned runs: %s", type(exc).__name__)
    finally:
        database.dispose()


@signals.task_failure.connect  # type: ignore[untyped-decorator]
def _record_hard_time_limit(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **_: Any
) -> None:
    """A run killed at its hard time limit never records its end (its process is gone), so
    the worker's main process does: its row goes from running to failed."""
    app = getattr(sender, "app", None)
    if not isinstance(exception, TimeLimitExceeded) or not isinstance(app, CryptoCelery):
        return
    from cryptopredict.core.database import Database, utcnow
    from cryptopredict.tasks.models import TaskState
    from cryptopredict.tasks.repository import TaskRunRepository

    # A pool of its own, closed at once: the main process forks new pool children, which
    # must not inherit open database connections.
    database = Database.from_settings(app.settings)
    try:
        with database.session_factory() as session:
            runs = TaskRunRepository(session)
            run = runs.latest(task_id or "")
            if run is not None and run.status == TaskState.RUNNING:
                runs.update(
                    run,
                    status=TaskState.FAILED,
                    finished_at=utcnow(),
                    error=f"stopped at its hard time limit ({exception})",
                )
                session.commit()
    except Exception as exc:
        logger.error("could not record %s as failed: %s", task_id, type(exc).__name__)
    finally:
        database.dispose()


# ---- beat: one sender at a time ---------------------------------------------------------

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class BeatLock:
    """The beat lock in Redis: an owner token with an expiry, renewed on every beat tick."""

    def __init__(self, url: str, *, key: str = BEAT_LOCK_KEY, ttl: float = BEAT_LOCK_TTL_SECONDS):
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)

    def hold(self) -> bool | None:
        """Take or renew the lock: True when ours, False when another beat holds it, None
        when Redis cannot be asked (then nobody can send anyway)."""
        try:
            return bool(self._redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))
        except redis.RedisError as exc:
            logger.warning("beat lock: Redis unavailable (%s)", exc)
            return None

    def release(self) -> None:
        """Give the lock up at once (a clean stop), so a standby need not wait for expiry."""
        try:
            self._redis.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError:
            pass
        self._redis.close()


class LeaderScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery beat's persistent scheduler that sends only while it holds the beat lock.

    A standby opens no schedule file (two beats on one ``DATA_DIR`` would corrupt it) and
    sends nothing; it checks the lock every ``BEAT_LOOP_SECONDS`` and takes over within
    ``BEAT_LOCK_TTL_SECONDS`` of the leader's death (at once after a clean stop).
    """

    _store: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        app = kwargs.get("app") or args[0]
        self._beat_lock = BeatLock(app.conf.broker_url)
        self._leading = False
        self._standby: bool | None = None
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        """Deferred until this beat leads (see ``tick``)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Renew (or take) the lock, then do beat's work only if it is ours."""
        held = self._beat_lock.hold()
        if held is False and self._standby is not True:
            logger.warning("beat: another beat holds %s; standing by", BEAT_LOCK_KEY)
            self._stand_down()
        if held is not None:
            self._standby = not held
        if not held:
            return BEAT_LOOP_SECONDS if held is False else 1.0
        if not self._leading:
            logger.info("beat: holding %s, sending the schedule", BEAT_LOCK_KEY)
            Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
            super().setup_schedule()
            self._heap = None
            self._leading = True
            self._send_at_start()
        return float(min(super().tick(*args, **kwargs), BEAT_LOOP_SECONDS))

    def _send_at_start(self) -> None:
        """Send the periodic kinds marked `at_start` once, now that this beat leads."""
        settings: Settings = self.app.settings
        for spec in SCHEDULE:
            every = period_of(spec, settings)
            if not spec.at_start or every is None:
                continue
            try:
                self.app.tasks[spec.name].apply_async(expires=every.total_seconds())
            except Exception as exc:  # kombu/redis raise several unrelated types
                logger.warning("beat: could not send %s at start (%s)", spec.name, exc)
            else:
                logger.info("beat: sent %s at start", spec.name)

    def _stand_down(self) -> None:
        """Close the schedule file and stop sending."""
        self._leading = False
        if self._store is not None:
            self._store.close()
            self._store = None
        self._heap = None

    def close(self) -> None:
        """Save the schedule and release the lock."""
        try:
            if self._leading:
                super().close()
        finally:
            self._beat_lock.release()

    def sync(self) -> None:
        """Persist the schedule when it is open."""
        if self._store is not None:
            super().sync()

    @property
    def info(self) -> str:
        """Beat's banner line."""
        return f"    . db -> {self.schedule_filename} (sends while holding {BEAT_LOCK_KEY})"


# ---- the module-level app for `celery -A` -----------------------------------------------

_app: CryptoCelery | None = None
_app_lock = threading.Lock()


def get_celery() -> CryptoCelery:
    """The process's app, built from ``get_settings()`` on first use."""
    global _app
    if _app is None:
        with _app_lock:
            if _app is None:
                _app = create_celery(get_settings())
    return _app


def __getattr__(name: str) -> Any:
    """``app`` (what ``celery -A cryptopredict.tasks.celery_app`` looks up) is built lazily,
    so importing this module never reads settings or touches Redis."""
    if name in {"app", "celery"}:
        return get_celery()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
