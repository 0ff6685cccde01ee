"""CeleryRunner, the task API's runner with Redis, against real workers and the session's own
redis-server: submit and status, revoke before start, workers and queues (also while Redis is
down), the stored schedule, and the hook the task service finds it by."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cryptopredict.core.cache import NullCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.core.errors import ServiceUnavailableError
from cryptopredict.tasks import service
from cryptopredict.tasks.celery_app import QUEUE, QUEUES
from cryptopredict.tasks.celery_runner import CeleryRunner
from cryptopredict.tasks.errors import UnknownTaskError
from cryptopredict.tasks.execution import InvalidArgumentsError
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.locks import TaskLocks
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.schedule import SCHEDULE
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.conftest import TEST_SECRET
from tests.tasks.celery_support import Processes, RedisServer, wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def runner(
    processes: Processes,
    redis_server: RedisServer,
    tasks_database_url: str,
    tasks_database: Database,
    tmp_path: Path,
) -> Iterator[CeleryRunner]:
    """The runner as the server builds it through the task service's hook."""
    settings = Settings(
        redis_url=redis_server.url,
        database_url=tasks_database_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        broker_visibility_timeout_seconds=5,
        scheduler="auto",
    )
    context = JobContext(
        settings=settings,
        database=tasks_database,
        cache_source=NullCache,
        locks=TaskLocks(),
    )
    found = service._celery_runner(settings, context)
    assert isinstance(found, CeleryRunner) and found.mode == "celery"
    try:
        yield found
    finally:
        found.close()


def finished(runner: CeleryRunner, task_id: str) -> TaskState | None:
    status = runner.status(task_id)
    return status.state if status is not None and status.state.finished else None


def test_submit_then_status_follows_the_run(processes: Processes, runner: CeleryRunner) -> None:
    processes.worker("w1")
    task_id = runner.submit("health_check")
    wait_for(lambda: finished(runner, task_id), timeout=30, what="the health check")
    status = runner.status(task_id)
    assert status is not None and status.state == TaskState.SUCCEEDED
    assert status.worker == "w1@test" and status.result and status.result["database"] is True
    assert runner.status("no-such-task") is None


def test_submit_refuses_unknown_tasks_and_bad_arguments(runner: CeleryRunner) -> None:
    with pytest.raises(UnknownTaskError):
        runner.submit("no_such_task")
    with pytest.raises(InvalidArgumentsError):
        runner.submit("sync_specific_cryptocurrency", {"coin_id": "bitcoin", "days": 0})
    assert runner.queues() == dict.fromkeys(QUEUES, 0)  # nothing was published


def test_queued_tasks_are_counted_and_revoked_before_they_start(
    processes: Processes, runner: CeleryRunner
) -> None:
    ids = [runner.submit("health_check") for _ in range(3)]
    assert runner.queues() == dict.fromkeys(QUEUES, 0) | {QUEUE: 3}
    assert runner.workers() == []
    assert runner.revoke(ids[0]) is True
    status = runner.status(ids[0])
    assert status is not None and status.state == TaskState.REVOKED

    processes.worker("w1")
    for task_id in ids[1:]:
        wait_for(lambda t=task_id: finished(runner, t), timeout=30, what="queued tasks")
        assert finished(runner, task_id) == TaskState.SUCCEEDED
    assert runner.queues() == dict.fromkeys(QUEUES, 0)
    status = runner.status(ids[0])
    assert status is not None and status.state == TaskState.REVOKED  # never ran
    assert runner.revoke(ids[1]) is False  # finished tasks are not revoked


def test_workers_report_active_tasks_and_nothing_while_redis_is_down(
    processes: Processes,
    runner: CeleryRunner,
    redis_server: RedisServer,
    celery_fake_coingecko: FakeCoinGecko,
) -> None:
    processes.worker("w1")
    celery_fake_coingecko.faults.slow(times=1, delay=3, path="market_chart")
    task_id = runner.submit("sync_specific_cryptocurrency", {"coin_id": "ethereum", "days": 2})
    wait_for(lambda: celery_fake_coingecko.requests_to("market_chart"), timeout=30, what="the sync")
    [worker] = runner.workers()
    assert (worker.name, worker.alive, worker.active, worker.reserved) == ("w1@test", True, 1, 0)
    wait_for(lambda: finished(runner, task_id), timeout=30, what="the sync to finish")

    redis_server.kill()
    try:
        started = time.monotonic()
        assert runner.workers() == []
        assert runner.queues() == {}
        assert time.monotonic() - started < 10
        with pytest.raises(ServiceUnavailableError):
            runner.submit("health_check")
    finally:
        redis_server.start()


def test_schedule_shows_every_kind_with_last_and_next_run(
    processes: Processes, runner: CeleryRunner
) -> None:
    processes.worker("w1")
    task_id = runner.submit("sync_all_prices")
    wait_for(lambda: finished(runner, task_id), timeout=30, what="the prices sync")
    entries = {entry.spec.name: entry for entry in runner.schedule()}
    assert set(entries) == {spec.name for spec in SCHEDULE}
    prices = entries["sync_all_prices"]
    assert prices.last_run is not None and prices.last_run.task_id == task_id
    assert (
        prices.every is not None and prices.next_run_at == prices.last_run.created_at + prices.every
    )
    assert entries["health_check"].next_run_at is None


def test_closing_an_unstarted_run_leaves_a_started_one_alone(
    runner: CeleryRunner, tasks_database: Database
) -> None:
    """Revoke decides on a read, then closes the row: a worker starting the task in between
    keeps its running row, and a retrying row keeps the error that made it retry."""
    with tasks_database.session_factory() as session:
        session.add_all(
            [
                TaskRun(task_id="started", task="health_check", args={}, status=TaskState.RUNNING),
                TaskRun(
                    task_id="waiting",
                    task="health_check",
                    args={},
                    status=TaskState.RETRYING,
                    error="UpstreamTimeout: CoinGecko timed out",
                ),
            ]
        )
        session.commit()

    assert runner._finish_unstarted("started", TaskState.REVOKED, "revoked before it ran") is False
    assert runner._finish_unstarted("waiting", TaskState.REVOKED, "revoked before it ran") is True
    with tasks_database.session_factory() as session:
        rows = {run.task_id: run for run in session.scalars(select(TaskRun))}
    assert rows["started"].status == TaskState.RUNNING and rows["started"].finished_at is None
    assert rows["waiting"].status == TaskState.REVOKED
    assert rows["waiting"].error == "UpstreamTimeout: CoinGecko timed out"
