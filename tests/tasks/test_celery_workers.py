"""Real worker and beat processes against a real Redis (the session's own redis-server) and the
fake CoinGecko: a round trip, a worker killed mid-task, Redis restarted under workers and beat,
a failing task retried and recorded, and a second beat started by mistake.

Schedules run on compressed clocks (CRYPTOPREDICT_TASK_PERIOD_OVERRIDES), redelivery on a 5 s
visibility timeout.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from cryptopredict.core.database import utcnow
from cryptopredict.tasks.celery_app import BEAT_LOCK_KEY
from cryptopredict.tasks.locks import DEFAULT_PREFIX
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.tasks.celery_support import Processes, RedisServer, periods, wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

SENT = "Sending due task sync_all_prices"


def runs_of(engine: Engine, task_id: str) -> list[TaskRun]:
    """Every attempt of one task, first first."""
    with Session(engine) as session:
        statement = select(TaskRun).where(TaskRun.task_id == task_id).order_by(TaskRun.attempt)
        return list(session.scalars(statement))


def runs_of_kind(engine: Engine, task: str, *, since: dt.datetime | None = None) -> list[TaskRun]:
    """Every attempt of one task kind (created after `since`), oldest first."""
    with Session(engine) as session:
        statement = select(TaskRun).where(TaskRun.task == task).order_by(TaskRun.id)
        if since is not None:
            statement = statement.where(TaskRun.created_at >= since)
        return list(session.scalars(statement))


def price_rows(engine: Engine, coin: str) -> tuple[int, int]:
    """(rows, distinct (interval, instant) keys) stored for one coin."""
    query = text(
        "SELECT count(*), count(DISTINCT (p.interval, p.price_at)) FROM price_data p "
        "JOIN cryptocurrencies c ON c.id = p.coin_id WHERE c.coingecko_id = :coin"
    )
    with engine.connect() as connection:
        rows, keys = connection.execute(query, {"coin": coin}).one()
    return int(rows), int(keys)


def send(celery: Any, name: str, **kwargs: Any) -> Any:
    """Enqueue one task by name."""
    return celery.tasks[name].apply_async(kwargs=kwargs)


def test_health_check_round_trip(
    processes: Processes, celery_client: Any, tasks_engine: Engine
) -> None:
    processes.worker("w1")
    result = send(celery_client, "health_check")
    assert result.get(timeout=30)["database"] is True
    [run] = runs_of(tasks_engine, result.id)
    assert run.status == TaskState.SUCCEEDED
    assert (run.worker, run.attempt) == ("w1@test", 1)


def test_worker_killed_mid_task_is_redelivered_without_duplicates(
    processes: Processes,
    celery_client: Any,
    tasks_engine: Engine,
    celery_fake_coingecko: FakeCoinGecko,
    redis_server: RedisServer,
) -> None:
    workers = {"w1@test": processes.worker("w1"), "w2@test": processes.worker("w2")}
    celery_fake_coingecko.faults.slow(times=1, delay=4, path="market_chart")
    result = send(celery_client, "sync_specific_cryptocurrency", coin_id="bitcoin", days=3)

    def running() -> TaskRun | None:
        runs = runs_of(tasks_engine, result.id)
        return runs[0] if runs and runs[0].status == TaskState.RUNNING else None

    first = wait_for(running, timeout=30, interval=0.05, what="the sync to start")
    wait_for(
        lambda: celery_fake_coingecko.requests_to("market_chart"),
        timeout=30,
        interval=0.05,
        what="a history request (held 4 s by the fake)",
    )
    victim = workers.pop(first.worker)
    victim.kill()  # mid-request; parent and pool child: nothing is acknowledged or rejected
    [(survivor_name, survivor)] = workers.items()
    lock = f"{DEFAULT_PREFIX}sync_specific_cryptocurrency:coin_id=bitcoin"
    assert redis_server.client().get(lock) == result.id.encode()  # left behind by the dead run

    # Redelivered after the 5 s visibility timeout; the lock is the task's own, so the
    # redelivery takes it back rather than being skipped.
    answer = result.get(timeout=60)
    assert answer["status"] == "succeeded" and answer["history"]["rows_written"] > 0
    [run] = runs_of(tasks_engine, result.id)  # the same attempt, taken over: no second row
    assert (run.status, run.worker, run.attempt) == (TaskState.SUCCEEDED, survivor_name, 1)
    rows, keys = price_rows(tasks_engine, "bitcoin")
    assert rows == keys > 0

    again = send(celery_client, "sync_specific_cryptocurrency", coin_id="bitcoin", days=3)
    # Nothing was missing, nothing twice: at most the newest bar, which the latest price
    # made provisional again, is closed again (same key).
    assert again.get(timeout=30)["history"]["rows_written"] <= 1
    assert price_rows(tasks_engine, "bitcoin") == (rows, keys)
    assert redis_server.client().get(lock) is None  # released by the run that finished
    assert survivor.alive()


def test_redis_restart_workers_and_beat_reconnect(
    processes: Processes, celery_client: Any, tasks_engine: Engine, redis_server: RedisServer
) -> None:
    fast = periods(sync_all_prices=1)
    processes.worker("w1", env=fast)
    beat = processes.beat(env=fast)
    wait_for(
        lambda: len(runs_of_kind(tasks_engine, "sync_all_prices")) >= 2,
        timeout=30,
        what="two scheduled runs before the restart",
    )

    redis_server.kill()
    time.sleep(2)
    restarted = utcnow()
    redis_server.start()  # empty: no persistence, so queues and locks are gone too

    def succeeded_since() -> list[TaskRun]:
        runs = runs_of_kind(tasks_engine, "sync_all_prices", since=restarted)
        return [run for run in runs if run.status == TaskState.SUCCEEDED]

    wait_for(lambda: len(succeeded_since()) >= 2, timeout=45, what="the schedule to resume")
    assert send(celery_client, "health_check").get(timeout=30)["database"] is True
    assert beat.alive() and all(process.alive() for process in processes.started)
    assert redis_server.client().get(BEAT_LOCK_KEY) is not None  # beat took its lock again


def test_failing_task_is_retried_recorded_and_the_schedule_goes_on(
    processes: Processes,
    celery_client: Any,
    tasks_engine: Engine,
    celery_fake_coingecko: FakeCoinGecko,
) -> None:
    processes.worker("w1")  # retries after 0.3 s, 0.6 s, 1.2 s (CRYPTOPREDICT_TASK_RETRY_...)
    assert send(celery_client, "discover_new_cryptocurrencies", top=5).get(timeout=30)
    faults = celery_fake_coingecko.faults

    faults.server_error(times=2, path="/coins/markets")
    recovered = send(celery_client, "sync_all_prices")
    assert recovered.get(timeout=30)["status"] == "succeeded"
    attempts = runs_of(tasks_engine, recovered.id)
    assert [run.status for run in attempts] == [
        TaskState.RETRYING,
        TaskState.RETRYING,
        TaskState.SUCCEEDED,
    ]
    assert "500" in (attempts[0].error or "") or "Server" in (attempts[0].error or "")

    faults.server_error(times=10, path="/coins/markets")
    failing = send(celery_client, "sync_all_prices")
    with pytest.raises(Exception, match="failed") as raised:
        failing.get(timeout=30)
    assert not isinstance(raised.value, CeleryTimeoutError)
    attempts = runs_of(tasks_engine, failing.id)
    assert [run.attempt for run in attempts] == [1, 2, 3, 4]  # max_retries=3
    assert [run.status for run in attempts[:-1]] == [TaskState.RETRYING] * 3
    assert attempts[-1].status == TaskState.FAILED and attempts[-1].error
    assert failing.state == "FAILURE"

    faults.clear()
    scheduled_from = utcnow()
    processes.beat(env=periods(sync_all_prices=1))

    def scheduled_success() -> bool:
        runs = runs_of_kind(tasks_engine, "sync_all_prices", since=scheduled_from)
        return any(run.status == TaskState.SUCCEEDED for run in runs)

    wait_for(scheduled_success, timeout=30, what="the next scheduled run")


def test_second_beat_stands_by_instead_of_doubling_the_schedule(
    processes: Processes, tasks_engine: Engine, redis_server: RedisServer
) -> None:
    fast = periods(sync_all_prices=1)
    processes.worker("w1", concurrency=2, env=fast)
    first = processes.beat("beat1", env=fast)
    wait_for(lambda: SENT in first.output(), timeout=30, what="beat1 to send")
    second = processes.beat("beat2", env=fast)
    wait_for(lambda: "standing by" in second.output(), timeout=30, what="beat2 to stand by")

    window_start = utcnow()
    time.sleep(5)
    window = runs_of_kind(tasks_engine, "sync_all_prices", since=window_start)
    assert second.output().count(SENT) == 0
    assert 3 <= len(window) <= 7  # one beat's worth at 1 s; two beats would make ~10
    with Session(tasks_engine) as session:
        states = dict(
            session.execute(
                select(TaskRun.status, func.count())
                .where(TaskRun.task == "sync_all_prices")
                .group_by(TaskRun.status)
            ).all()
        )
    assert states.get(TaskState.SUCCEEDED, 0) >= 3

    first.stop()  # a clean stop hands the lock over at once
    wait_for(lambda: SENT in second.output(), timeout=30, what="beat2 to take over")
    token = redis_server.client().get(BEAT_LOCK_KEY)
    assert token is not None and str(second.popen.pid).encode() in token
