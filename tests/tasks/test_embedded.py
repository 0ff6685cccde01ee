"""The embedded runner and scheduler in-process, on a compressed clock: periods of a fraction
of a second through `task_period_overrides`, never sleeps of minutes."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import SyncKind, SyncStatus
from cryptopredict.tasks.embedded import EmbeddedRunner, EmbeddedScheduler
from cryptopredict.tasks.jobs import ABANDONED_AFTER, JobContext
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.schedule import HOUR, SCHEDULE, TaskSpec
from tests.tasks import sample_jobs

JOBS = "tests.tasks.sample_jobs"
TICK = TaskSpec("tick", HOUR, "echo every hour", job=f"{JOBS}:echo")
BOOM = TaskSpec("boom", HOUR, "fails every time", max_retries=0, job=f"{JOBS}:leak_and_fail")
SLOW = TaskSpec("slowpoke", HOUR, "slower than its period", job=f"{JOBS}:slow")
DOWN = TaskSpec("down", None, "upstream down", max_retries=2, job=f"{JOBS}:upstream_down")
GATE = TaskSpec("gate", None, "waits for the test", exclusive=False, job=f"{JOBS}:wait_for_gate")
FLAKY = TaskSpec("flaky", None, "waits, then fails", job=f"{JOBS}:wait_then_fail_temporarily")
TEST_SPECS = (TICK, BOOM, SLOW, DOWN, GATE, FLAKY)


@pytest.fixture(autouse=True)
def _sample_state() -> Iterator[None]:
    sample_jobs.calls.clear()
    sample_jobs.gate.clear()
    yield
    sample_jobs.gate.set()
    sample_jobs.calls.clear()


@pytest.fixture
def make_runner(job_context: JobContext) -> Iterator[Callable[..., EmbeddedRunner]]:
    """Runners over the schedule plus the test specs; closed after the test."""
    made: list[EmbeddedRunner] = []

    def make(
        periods: dict[str, float] | None = None,
        *,
        retry_base_seconds: float | None = None,
        **options: object,
    ) -> EmbeddedRunner:
        context = job_context
        changes: dict[str, object] = {}
        if periods is not None:
            changes["task_period_overrides"] = periods
        if retry_base_seconds is not None:
            changes["task_retry_base_seconds"] = retry_base_seconds
        if changes:
            settings = Settings(**(job_context.settings.model_dump() | changes))
            context = JobContext(
                settings=settings,
                database=job_context.database,
                cache_source=job_context.cache_source,
                locks=job_context.locks,
            )
        tasks = {spec.name: spec for spec in (*SCHEDULE, *TEST_SPECS)}
        runner = EmbeddedRunner(context, tasks=tasks, **options)  # type: ignore[arg-type]
        made.append(runner)
        return runner

    yield make
    sample_jobs.gate.set()
    for runner in made:
        if runner.scheduler is not None:
            runner.scheduler.stop()
        runner.close()


def _runs(context: JobContext, task: str | None = None) -> list[TaskRun]:
    with context.session() as session:
        runs = TaskRunRepository(session).list(
            filters=None if task is None else {"task": task}, sort="created_at"
        )
        return list(runs)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_the_scheduler_runs_each_kind_every_period_and_a_failing_job_does_not_stop_it(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner({"tick": 0.2, "boom": 0.2})
    scheduler = EmbeddedScheduler(runner, specs=[TICK, BOOM], startup_delay=0, stagger=0, tick=0.02)
    scheduler.start()

    _wait_for(lambda: sum(r.status == "failed" for r in _runs(job_context, "boom")) >= 3)
    _wait_for(lambda: sum(r.status == "succeeded" for r in _runs(job_context, "tick")) >= 3)
    scheduler.stop()

    booms = _runs(job_context, "boom")
    assert all(r.status == TaskState.FAILED for r in booms if r.status.finished)
    assert all(r.error and "ValueError" in r.error for r in booms if r.status.finished)
    ticks = [r.created_at for r in _runs(job_context, "tick")]
    gaps = [
        (later - earlier).total_seconds() for earlier, later in zip(ticks, ticks[1:], strict=False)
    ]
    assert gaps and min(gaps) >= 0.15  # one run per period, not a burst


def test_a_kind_slower_than_its_period_never_overlaps_itself(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner({"slowpoke": 0.05})
    scheduler = EmbeddedScheduler(runner, specs=[SLOW], startup_delay=0, stagger=0, tick=0.01)
    scheduler.start()

    _wait_for(lambda: sum(r.status == "succeeded" for r in _runs(job_context, "slowpoke")) >= 3)
    scheduler.stop()
    runner.close()

    runs = [r for r in _runs(job_context, "slowpoke") if r.status == TaskState.SUCCEEDED]
    spans = sorted((r.started_at, r.finished_at) for r in runs)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end is not None and start is not None and start >= end
    assert not [r for r in _runs(job_context, "slowpoke") if r.status == TaskState.SKIPPED]


def test_a_restart_plans_from_the_recorded_runs_catching_up_once(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    now = utcnow()
    with job_context.session() as session:
        runs = TaskRunRepository(session)
        recent = runs.queue(task_id="recent", task="tick", args={})
        overdue = runs.queue(task_id="overdue", task="boom", args={})
        runs.update(recent, status=TaskState.SUCCEEDED, created_at=now - dt.timedelta(minutes=10))
        runs.update(overdue, status=TaskState.FAILED, created_at=now - dt.timedelta(hours=3))
        session.commit()
    runner = make_runner()
    scheduler = EmbeddedScheduler(
        runner, specs=[BOOM, TICK, SLOW], startup_delay=0, stagger=60, tick=0.02
    )
    scheduler.start()

    _wait_for(lambda: len(scheduler.planned()) == 3)
    _wait_for(lambda: len(_runs(job_context, "boom")) == 2)  # the overdue kind ran once
    scheduler.stop()

    planned = scheduler.planned()
    assert abs((planned["tick"] - (now + dt.timedelta(minutes=50))).total_seconds()) < 2
    assert planned["boom"] > now + dt.timedelta(minutes=59)  # ran, next one a period later
    assert abs((planned["slowpoke"] - (now + dt.timedelta(seconds=120))).total_seconds()) < 5
    assert len(_runs(job_context, "tick")) == 1 and not _runs(job_context, "slowpoke")
    entries = {entry.spec.name: entry for entry in runner.schedule()}
    assert entries["tick"].next_run_at == planned["tick"]
    assert entries["tick"].last_run is not None and entries["tick"].last_run.task_id == "recent"
    assert entries["sync_specific_cryptocurrency"].next_run_at is None


def test_one_process_per_host_schedules(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    first = EmbeddedScheduler(make_runner({"tick": 0.1}), specs=[TICK], startup_delay=0)
    second = EmbeddedScheduler(make_runner({"tick": 0.1}), specs=[TICK], startup_delay=0)
    first.start()
    _wait_for(lambda: bool(first.planned()))
    second.start()
    time.sleep(0.3)

    assert not second.planned()
    first.stop()
    _wait_for(lambda: bool(second.planned()), timeout=10)  # takes over once the leader stops


def test_a_failure_to_take_the_scheduler_lock_does_not_end_the_scheduler(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner({"tick": 0.1})
    locks = runner.context.settings.data_dir / "locks"
    locks.write_text("not a directory")  # the lock file cannot be made for now
    scheduler = EmbeddedScheduler(runner, specs=[TICK], startup_delay=0, tick=0.02)
    scheduler.start()
    time.sleep(0.2)
    assert scheduler.running and not _runs(job_context, "tick")

    locks.unlink()
    _wait_for(lambda: bool(_runs(job_context, "tick")))
    assert scheduler.running


def test_temporary_failures_are_retried_with_backoff_until_the_retries_run_out(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner(retry_base_seconds=0.2)  # CRYPTOPREDICT_TASK_RETRY_BASE_SECONDS

    task_id = runner.submit("down")

    _wait_for(lambda: (status := runner.status(task_id)) is not None and status.attempt == 3)
    _wait_for(lambda: runner.status(task_id).state == TaskState.FAILED)  # type: ignore[union-attr]
    with job_context.session() as session:
        attempts = TaskRunRepository(session).attempts(task_id)
    assert [(a.attempt, a.status) for a in attempts] == [
        (1, TaskState.RETRYING),
        (2, TaskState.RETRYING),
        (3, TaskState.FAILED),
    ]
    # Each retry waits the jittered backoff: half to all of 0.2 s, then of 0.4 s.
    waits = [
        (later.started_at - earlier.finished_at).total_seconds()  # type: ignore[operator]
        for earlier, later in itertools.pairwise(attempts)
    ]
    assert 0.1 <= waits[0] < 0.2 + 0.5 and 0.2 <= waits[1] < 0.4 + 0.5


def test_runs_left_running_long_past_any_time_limit_are_abandoned_at_startup(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    long_ago = utcnow() - ABANDONED_AFTER - dt.timedelta(minutes=1)
    with job_context.session() as session:
        stale = SyncRun(kind=SyncKind.PRICES, status=SyncStatus.RUNNING, started_at=long_ago)
        recent = SyncRun(kind=SyncKind.PRICES, status=SyncStatus.RUNNING, started_at=utcnow())
        session.add_all([stale, recent])
        session.commit()
        ids = (stale.id, recent.id)

    make_runner().reap_orphans()  # what the scheduler does first

    with job_context.session() as session:
        stale, recent = (session.get(SyncRun, run_id) for run_id in ids)  # type: ignore[assignment]
        assert (stale.status, stale.error) == (SyncStatus.FAILED, "abandoned (process ended)")
        assert stale.finished_at is not None
        assert recent.status == SyncStatus.RUNNING


def test_a_queued_task_can_be_revoked_and_workers_and_queues_show_the_load(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner(threads=1)
    blocker = runner.submit("gate")
    _wait_for(lambda: runner.status(blocker).state == TaskState.RUNNING)  # type: ignore[union-attr]
    waiting = runner.submit("health_check")

    (worker,) = runner.workers()
    assert (worker.alive, worker.active, worker.reserved) == (True, 1, 1)
    assert runner.queues() == {"embedded": 1, "embedded.training": 0}
    assert runner.revoke(waiting) is True
    assert runner.revoke(blocker) is False  # running: it goes on
    assert runner.queues() == {"embedded": 0, "embedded.training": 0}

    sample_jobs.gate.set()
    _wait_for(lambda: runner.status(blocker).state == TaskState.SUCCEEDED)  # type: ignore[union-attr]
    assert runner.status(waiting).state == TaskState.REVOKED  # type: ignore[union-attr]
    assert [c["job"] for c in sample_jobs.calls] == ["wait_for_gate"]


def test_runs_left_unfinished_by_a_dead_server_process_are_recorded_as_failed(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext, tmp_path: Path
) -> None:
    runner = make_runner()
    host = runner.worker_name.removeprefix("embedded@").rpartition(":")[0]
    with job_context.session() as session:
        runs = TaskRunRepository(session)
        dead = runs.queue(task_id="dead", task="tick", args={}, worker=f"embedded@{host}:999999")
        runs.update(dead, status=TaskState.RUNNING)
        runs.queue(task_id="mine", task="tick", args={}, worker=runner.worker_name)
        session.commit()

    assert runner.reap_orphans() == 1
    assert runner.status("dead").state == TaskState.FAILED  # type: ignore[union-attr]
    assert runner.status("mine").state == TaskState.QUEUED  # type: ignore[union-attr]


def test_a_task_waiting_for_its_retry_keeps_its_error_when_revoked_or_stopped(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner()  # the default backoff: 15 s or more before the first retry
    ids = []
    for _ in range(2):  # one after the other: the kind is exclusive
        task_id = runner.submit("down")
        _wait_for(lambda t=task_id: runner.status(t).state == TaskState.RETRYING)  # type: ignore[misc, union-attr]
        ids.append(task_id)
    revoked, stopped = ids

    assert runner.revoke(revoked) is True
    runner.close()

    for task_id, state in ((revoked, TaskState.REVOKED), (stopped, TaskState.FAILED)):
        status = runner.status(task_id)
        assert status is not None and (status.state, status.attempt) == (state, 1)
        assert status.error == "UpstreamServerError: CoinGecko answered 503"


def test_a_run_failing_temporarily_while_the_runner_stops_is_failed_not_left_retrying(
    make_runner: Callable[..., EmbeddedRunner], job_context: JobContext
) -> None:
    runner = make_runner()
    task_id = runner.submit("flaky")
    _wait_for(lambda: runner.status(task_id).state == TaskState.RUNNING)  # type: ignore[union-attr]

    closing = threading.Thread(target=runner.close)
    closing.start()
    _wait_for(lambda: not runner.workers()[0].alive)  # closed: no retry will be scheduled
    sample_jobs.gate.set()
    closing.join()

    status = runner.status(task_id)
    assert status is not None and (status.state, status.attempt) == (TaskState.FAILED, 1)
    assert status.error == "UpstreamServerError: CoinGecko answered 503"
