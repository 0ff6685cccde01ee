"""Background work without Redis: the schedule and the task API served from the server itself.

``EmbeddedRunner`` runs submitted tasks on a few daemon threads through ``execute`` (lock,
``TaskRun`` record, job), retries temporary failures after the backoff ``execute`` asks for
(``errors.retry_delay``, as Celery does), and cancels tasks that have not started. A kind
with a queue of its own (``TaskSpec.queue``: training) waits in that queue for a thread of
its own, so a long line of its runs never holds up the syncs.
``EmbeddedScheduler`` is one thread that submits every periodic task of ``SCHEDULE`` (periods
from ``task_period_overrides``) to the runner:

- the next run of a kind is one period after its newest recorded run, so a restart neither
  reruns everything at once nor forgets a run that fell due while the server was down (that
  one runs once, soon after start, kinds staggered a few seconds apart); a kind marked
  ``at_start`` runs soon after every start;
- a kind whose previous run is still queued, running or waiting for a retry is not submitted
  again (no pile-up behind a slow run); its lock also keeps out runs from the API;
- a run that fails is recorded as failed and changes nothing about the next one;
- of several server processes on one host (``serve --workers N``), one schedules: the one
  holding ``DATA_DIR/locks/scheduler.lock``; the others stand by and take over if it ends.

On shutdown the scheduler stops at once, queued tasks are recorded as revoked, and running
jobs get a few seconds to finish (their threads are daemons: a job still running when the
process exits is recorded as failed by the next start, which finds its row orphaned).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptopredict.core.database import utcnow
from cryptopredict.tasks.errors import TaskError, TemporaryTaskError
from cryptopredict.tasks.execution import execute, resolve, validate_kwargs
from cryptopredict.tasks.jobs import JobContext, abandon_stale_runs
from cryptopredict.tasks.locks import LocalLocks, new_token
from cryptopredict.tasks.models import TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.runner import (
    ScheduleEntry,
    TaskStatus,
    WorkerInfo,
    period_of,
    stored_schedule,
    stored_status,
)
from cryptopredict.tasks.schedule import SCHEDULE, TaskSpec

logger = logging.getLogger(__name__)

WORKER_PREFIX = "embedded@"
QUEUE_NAME = "embedded"
SHUTDOWN_GRACE_SECONDS = 5.0


def _queue_name(lane: str | None) -> str:
    """How `queues()` names a queue: `embedded`, or `embedded.<queue>`."""
    return QUEUE_NAME if lane is None else f"{QUEUE_NAME}.{lane}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class _Item:
    """One attempt waiting for (or on) a worker thread."""

    task_id: str
    spec: TaskSpec
    kwargs: dict[str, Any]
    attempt: int = 1

    @property
    def queue(self) -> str | None:
        """The queue it waits in (None: the main one)."""
        return self.spec.queue


class EmbeddedRunner:
    """Runs tasks on daemon threads of this process (threads start on first use)."""

    mode = "embedded"

    def __init__(
        self,
        context: JobContext,
        *,
        threads: int = 2,
        tasks: Mapping[str, TaskSpec] | None = None,
    ) -> None:
        """`tasks` maps names to specs (the schedule's by default); `threads` serve the main
        queue, one more each queue of its own that a kind names."""
        self.context = context
        self.threads = threads
        self.tasks = dict(tasks) if tasks is not None else {s.name: s for s in SCHEDULE}
        self.worker_name = f"{WORKER_PREFIX}{socket.gethostname()}:{os.getpid()}"
        self.scheduler: EmbeddedScheduler | None = None
        self.lanes: dict[str | None, int] = {None: threads}
        self.lanes |= {spec.queue: 1 for spec in self.tasks.values() if spec.queue is not None}
        self._queues: dict[str | None, queue.Queue[_Item | None]] = {
            lane: queue.Queue() for lane in self.lanes
        }
        self._guard = threading.Lock()
        self._waiting: dict[str, _Item] = {}
        self._running: dict[str, _Item] = {}
        self._retries: dict[str, threading.Timer] = {}
        self._workers: dict[str | None, list[threading.Thread]] = {lane: [] for lane in self.lanes}
        self._closed = False

    # ---- TaskRunner -----------------------------------------------------------------------

    def submit(self, name: str, kwargs: Mapping[str, Any] | None = None) -> str:
        """Record the task as queued and hand it to a worker thread; its id."""
        spec = resolve(name, self.tasks)
        validate_kwargs(spec, kwargs)
        args = dict(kwargs or {})
        task_id = uuid.uuid4().hex
        with self.context.session() as session:
            TaskRunRepository(session).queue(
                task_id=task_id, task=spec.name, args=args, worker=self.worker_name
            )
            session.commit()
        self._enqueue(_Item(task_id, spec, args))
        return task_id

    def status(self, task_id: str) -> TaskStatus | None:
        """The newest recorded attempt."""
        return stored_status(self.context.database, task_id)

    def revoke(self, task_id: str) -> bool:
        """Cancel a task that is queued or waiting for a retry; running ones go on."""
        with self._guard:
            item = self._waiting.pop(task_id, None)
            timer = self._retries.pop(task_id, None)
        if timer is not None:
            timer.cancel()
        if item is None and timer is None:
            return self._revoke_stored(task_id)
        if item is not None:
            self._mark_revoked(task_id, "revoked before it ran")
        else:  # the failed attempt keeps its error; no retry follows
            self._mark_revoked(task_id, None, state=TaskState.REVOKED)
        return True

    def workers(self) -> list[WorkerInfo]:
        """This process, as the one worker."""
        with self._guard:
            threads = [thread for lane in self._workers.values() for thread in lane]
            alive = not self._closed and all(thread.is_alive() for thread in threads)
            return [
                WorkerInfo(
                    name=self.worker_name,
                    alive=alive,
                    active=len(self._running),
                    reserved=len(self._waiting) + len(self._retries),
                )
            ]

    def queues(self) -> dict[str, int]:
        """Tasks waiting for a thread, per queue (`embedded`, `embedded.<queue>`)."""
        with self._guard:
            waiting = [item.queue for item in self._waiting.values()]
        return {_queue_name(lane): waiting.count(lane) for lane in self.lanes}

    def schedule(self) -> list[ScheduleEntry]:
        """Every task kind; next runs as the scheduler plans them when it runs here."""
        planned = self.scheduler.planned() if self.scheduler is not None else None
        return stored_schedule(
            self.context.database,
            self.context.settings,
            specs=list(self.tasks.values()),
            planned=planned,
        )

    def close(self, *, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Revoke what has not started, let running jobs finish for `grace_seconds`."""
        with self._guard:
            self._closed = True
            waiting = list(self._waiting)
            self._waiting.clear()
            timers = list(self._retries.items())
            self._retries.clear()
            workers = {lane: list(threads) for lane, threads in self._workers.items()}
        for _, timer in timers:
            timer.cancel()
        for task_id in waiting:
            self._mark_revoked(task_id, "the server stopped before it ran")
        for task_id, _ in timers:  # its retry will not come: the attempt stays failed
            self._mark_revoked(task_id, None, state=TaskState.FAILED)
        for lane, threads in workers.items():
            for _ in threads:
                self._queues[lane].put(None)
        everyone = [thread for threads in workers.values() for thread in threads]
        for thread in everyone:
            thread.join(grace_seconds / max(1, len(everyone)))
        if self.context.offload is not None:  # a training still running there fails now
            self.context.offload.close()

    # ---- bookkeeping for the scheduler ----------------------------------------------------

    def pending(self, task_id: str) -> bool:
        """Whether a task is queued, running or waiting for a retry here."""
        with self._guard:
            return task_id in self._waiting or task_id in self._running or task_id in self._retries

    def reap_orphans(self) -> int:
        """Record as failed the unfinished runs of embedded workers on this host whose
        process has ended (a server stopped or killed mid-run), and every task or sync run
        left running long past any time limit (`jobs.abandon_stale_runs`); how many of the
        former."""
        try:
            abandoned = abandon_stale_runs(self.context.database, now=self.context.clock())
        except Exception as exc:
            logger.warning("could not record abandoned runs: %s", type(exc).__name__)
        else:
            if any(abandoned.values()):
                logger.warning("recorded abandoned runs as failed: %s", abandoned)
        prefix = f"{WORKER_PREFIX}{socket.gethostname()}:"
        reaped = 0
        with self.context.session() as session:
            runs = TaskRunRepository(session)
            for run in runs.unfinished(worker_prefix=prefix):
                pid = (run.worker or "").rpartition(":")[2]
                if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
                    continue
                now = utcnow()
                runs.update(
                    run,
                    status=TaskState.FAILED,
                    finished_at=now,
                    error="interrupted: the server process running it ended",
                )
                reaped += 1
            session.commit()
        if reaped:
            logger.warning("recorded %d interrupted task run(s) as failed", reaped)
        return reaped

    # ---- internals ------------------------------------------------------------------------

    def _enqueue(self, item: _Item) -> None:
        lane = item.queue if item.queue in self.lanes else None
        with self._guard:
            if self._closed:
                raise RuntimeError("the embedded task runner is closed")
            self._retries.pop(item.task_id, None)
            self._waiting[item.task_id] = item
            workers = [thread for thread in self._workers[lane] if thread.is_alive()]
            prefix = "cryptopredict-task" if lane is None else f"cryptopredict-{lane}"
            for index in range(self.lanes[lane] - len(workers)):
                thread = threading.Thread(
                    target=self._work, args=(lane,), name=f"{prefix}-{index}", daemon=True
                )
                thread.start()
                workers.append(thread)
            self._workers[lane] = workers
        self._queues[lane].put(item)

    def _work(self, lane: str | None) -> None:
        while True:
            item = self._queues[lane].get()
            if item is None:
                return
            with self._guard:
                if self._waiting.pop(item.task_id, None) is None:
                    continue  # revoked meanwhile
                self._running[item.task_id] = item
            try:
                self._run(item)
            finally:
                with self._guard:
                    self._running.pop(item.task_id, None)

    def _run(self, item: _Item) -> None:
        try:
            execute(
                item.spec,
                item.kwargs,
                task_id=item.task_id,
                context=self.context,
                attempt=item.attempt,
                worker=self.worker_name,
            )
        except TemporaryTaskError as exc:
            self._retry_later(item, exc.retry_in)
        except TaskError:
            pass  # recorded by execute
        except Exception:
            logger.exception("task %s[%s] crashed the runner", item.spec.name, item.task_id)

    def _retry_later(self, item: _Item, delay: float) -> None:
        following = replace(item, attempt=item.attempt + 1)
        timer = threading.Timer(delay, self._fire_retry, args=(following,))
        timer.daemon = True
        with self._guard:
            closed = self._closed
            if not closed:
                self._retries[item.task_id] = timer
        if closed:  # stopped meanwhile: no retry will come, so the attempt stays failed
            self._mark_revoked(item.task_id, None, state=TaskState.FAILED)
            return
        timer.start()

    def _fire_retry(self, item: _Item) -> None:
        with self._guard:
            if self._retries.get(item.task_id) is None or self._closed:
                return
        try:
            self._enqueue(item)
        except RuntimeError:
            pass  # closed meanwhile

    def _mark_revoked(
        self, task_id: str, reason: str | None, *, state: TaskState = TaskState.REVOKED
    ) -> None:
        """End a task that will not run (again): a queued attempt gets `reason` as its error,
        an attempt waiting for its retry keeps its own."""
        values: dict[str, Any] = {"status": state}
        if reason is not None:
            values |= {"finished_at": utcnow(), "error": reason}
        try:
            with self.context.session() as session:
                TaskRunRepository(session).set_state(
                    task_id, only=[TaskState.QUEUED, TaskState.RETRYING], **values
                )
                session.commit()
        except Exception as exc:
            logger.warning("could not record task %s as revoked: %s", task_id, type(exc).__name__)

    def _revoke_stored(self, task_id: str) -> bool:
        """A task queued by a process that is gone: revoke it if it never started."""
        with self.context.session() as session:
            revoked = TaskRunRepository(session).set_state(
                task_id,
                only=[TaskState.QUEUED],
                status=TaskState.REVOKED,
                finished_at=utcnow(),
                error="revoked before it ran",
            )
            session.commit()
        return revoked > 0


class EmbeddedScheduler:
    """Submits every periodic task kind to an embedded runner on time (module docstring)."""

    def __init__(
        self,
        runner: EmbeddedRunner,
        *,
        specs: Sequence[TaskSpec] | None = None,
        startup_delay: float = 5.0,
        stagger: float = 5.0,
        tick: float = 1.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        """`startup_delay` seconds pass before the first database read (the server comes up
        first); `tick` bounds every wait, so a stop or a leadership change is seen soon."""
        self.runner = runner
        self.settings = runner.context.settings
        chosen = specs if specs is not None else list(runner.tasks.values())
        self.periods = {
            spec.name: every
            for spec in chosen
            if (every := period_of(spec, self.settings)) is not None
        }
        self.specs = [spec for spec in chosen if spec.name in self.periods]
        self.startup_delay = startup_delay
        self.stagger = dt.timedelta(seconds=stagger)
        self.tick = tick
        self.clock = clock
        self._leader = LocalLocks(self.settings.data_dir / "locks")
        self._token = new_token()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._next: dict[str, dt.datetime] = {}
        self._submitted: dict[str, str] = {}
        runner.scheduler = self

    def start(self) -> None:
        """Start the scheduler thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="cryptopredict-scheduler")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling (running tasks are the runner's business)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._leader.release("scheduler", self._token)

    @property
    def running(self) -> bool:
        """Whether the scheduler thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def planned(self) -> dict[str, dt.datetime]:
        """The next run of each periodic kind, as planned now (empty before the first plan
        or while another process schedules)."""
        with self._guard:
            return dict(self._next)

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        if self._stop.wait(self.startup_delay):
            return
        while not self._stop.is_set():
            try:
                if not self._lead():
                    self._stop.wait(max(self.tick, 5.0))
                    continue
                if not self._next:
                    self._plan()
                self._fire_due()
            except Exception:
                logger.exception("embedded scheduler: this round failed; trying again")
                self._stop.wait(max(self.tick, 5.0))
                continue
            self._stop.wait(self._wait())

    def _lead(self) -> bool:
        """Whether this process schedules (the per-host scheduler lock is ours)."""
        if self._leader.owner("scheduler") == self._token:
            return True
        if self._leader.acquire("scheduler", self._token):
            logger.info("embedded scheduler running in process %d", os.getpid())
            return True
        return False

    def _plan(self) -> None:
        """Next runs from the newest recorded runs (module docstring)."""
        self.runner.reap_orphans()
        with self.runner.context.session() as session:
            last = TaskRunRepository(session).last_per_task(list(self.periods))
            newest = {name: run.created_at for name, run in last.items()}
        now = self.clock()
        plan = {}
        for index, spec in enumerate(self.specs):
            soonest = now + index * self.stagger
            previous = newest.get(spec.name)
            due = soonest if previous is None else previous + self.periods[spec.name]
            if spec.at_start:
                due = min(due, soonest)
            plan[spec.name] = soonest if due < now else due
        with self._guard:
            self._next = plan
        logger.info(
            "embedded scheduler: %s",
            ", ".join(f"{name} next at {due:%H:%M:%S}" for name, due in plan.items()),
        )

    def _fire_due(self) -> None:
        now = self.clock()
        for spec in self.specs:
            with self._guard:
                due = self._next[spec.name]
            if due > now:
                continue
            every = self.periods[spec.name]
            previous = self._submitted.get(spec.name)
            if previous is not None and self.runner.pending(previous):
                logger.info("%s is still running or queued; not submitted again", spec.name)
            else:
                try:
                    self._submitted[spec.name] = self.runner.submit(spec.name)
                except Exception as exc:
                    logger.warning("could not submit %s: %s", spec.name, type(exc).__name__)
                    every = min(every, dt.timedelta(seconds=30))
            following = due + every
            with self._guard:
                self._next[spec.name] = following if following > now else now + every

    def _wait(self) -> float:
        with self._guard:
            soonest = min(self._next.values(), default=None)
        if soonest is None:
            return self.tick
        seconds = (soonest - self.clock()).total_seconds()
        return min(self.tick, max(0.0, seconds))
