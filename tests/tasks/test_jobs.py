"""The real jobs over real HTTP against the fake CoinGecko, into the task database: rows are
written once, a second run writes nothing, and retention prunes old run records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.marketdata.history import LATEST_SOURCE
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import SyncKind, SyncStatus
from cryptopredict.prices.models import PriceData
from cryptopredict.tasks.errors import TaskFailedError, TemporaryTaskError
from cryptopredict.tasks.execution import execute
from cryptopredict.tasks.jobs import ABANDONED_AFTER, JobContext
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeCoinGecko]:
    """The fake CoinGecko over real HTTP, once per module."""
    with running_fake_coingecko() as fake:
        yield fake


@pytest.fixture
def context(job_context: JobContext, fake_server: FakeCoinGecko) -> Iterator[JobContext]:
    """A job context aimed at the fake, with a fresh fake state."""
    fake_server.reset()
    settings = Settings(
        **(
            job_context.settings.model_dump()
            | {
                "coingecko_base_url": fake_server.base_url,
                "coingecko_api_key": None,
                "coingecko_timeout_seconds": 0.5,
                "coingecko_max_retries": 0,
            }
        )
    )
    yield JobContext(
        settings=settings,
        database=job_context.database,
        cache_source=job_context.cache_source,
        locks=job_context.locks,
    )
    fake_server.reset()


def _count(context: JobContext, statement: object) -> int:
    with context.session() as session:
        return int(session.scalar(statement) or 0)  # type: ignore[call-overload]


def test_syncing_one_coin_writes_its_latest_price_and_history_once(
    context: JobContext, fake_server: FakeCoinGecko
) -> None:
    first = execute(
        "sync_specific_cryptocurrency",
        {"coin_id": "bitcoin", "days": 30},
        task_id="coin-1",
        context=context,
    )
    rows = _count(context, select(func.count()).select_from(PriceData))
    latest = select(func.count()).select_from(PriceData).where(PriceData.source == LATEST_SOURCE)

    assert first["status"] == "succeeded" and first["coin"] == "bitcoin"
    assert (first["price"]["kind"], first["price"]["coin"]) == (SyncKind.PRICES, "bitcoin")
    assert (first["price"]["rows_written"], first["price"]["calls_made"]) == (1, 1)
    assert first["history"]["kind"] == SyncKind.HISTORY and first["history"]["rows_written"] > 0
    assert first["rows_written"] == 1 + first["history"]["rows_written"]
    # At the fake's fixed clock the latest price's bar has settled, so history replaced the
    # provisional row with the bar's close: the same key, no second row.
    assert rows == first["history"]["rows_written"] and _count(context, latest) == 0
    markets = fake_server.requests_to("/coins/markets")
    assert markets and all(call.query.get("ids") == "bitcoin" for call in markets)
    second = execute(
        "sync_specific_cryptocurrency",
        {"coin_id": "bitcoin", "days": 30},
        task_id="coin-2",
        context=context,
    )
    # The latest price falls in a bar history has settled: a stand-in never overwrites a
    # settled bar, and history has no gap left, so nothing at all is written.
    assert second["price"]["rows_written"] == 0 and second["history"]["rows_written"] == 0
    assert _count(context, select(func.count()).select_from(PriceData)) == rows
    with context.session() as session:
        runs = session.scalars(select(TaskRun).order_by(TaskRun.id)).all()
        assert [(r.task_id, r.status) for r in runs] == [
            ("coin-1", TaskState.SUCCEEDED),
            ("coin-2", TaskState.SUCCEEDED),
        ]
        result = runs[0].result
        assert (
            result is not None
            and result["history"]["sync_run_id"] == first["history"]["sync_run_id"]
        )


def test_syncing_a_coin_coingecko_does_not_know_fails_for_good(context: JobContext) -> None:
    with pytest.raises(TaskFailedError, match="does not know"):
        execute(
            "sync_specific_cryptocurrency",
            {"coin_id": "no-such-coin"},
            task_id="coin-unknown",
            context=context,
        )
    assert _count(context, select(func.count()).select_from(PriceData)) == 0


def test_discovery_then_latest_prices(context: JobContext) -> None:
    found = execute("discover_new_cryptocurrencies", {"top": 5}, task_id="d", context=context)
    prices = execute("sync_all_prices", {}, task_id="p", context=context)

    assert found["kind"] == SyncKind.DISCOVER and found["status"] == SyncStatus.SUCCEEDED
    assert prices["kind"] == SyncKind.PRICES and prices["rows_written"] >= 5


def test_coingecko_down_is_a_temporary_failure_to_retry(
    context: JobContext, fake_server: FakeCoinGecko
) -> None:
    fake_server.faults.server_error(times=10, status=503)

    with pytest.raises(TemporaryTaskError, match="UpstreamServerError"):
        execute("discover_new_cryptocurrencies", {"top": 5}, task_id="down", context=context)

    with context.session() as session:
        (run,) = TaskRunRepository(session).attempts("down")
    assert run.status == TaskState.RETRYING and "503" in (run.error or "")


def test_cleanup_prunes_old_run_records_and_keeps_recent_ones(context: JobContext) -> None:
    old = utcnow() - dt.timedelta(days=context.settings.task_run_retention_days + 1)
    with context.session() as session:
        runs = TaskRunRepository(session)
        for task_id, created in (("old", old), ("new", utcnow())):
            run = runs.queue(task_id=task_id, task="health_check", args={})
            runs.update(run, status=TaskState.SUCCEEDED, created_at=created)
        session.add_all(
            [
                SyncRun(kind=SyncKind.PRICES, status=SyncStatus.SUCCEEDED, started_at=old),
                SyncRun(kind=SyncKind.PRICES, status=SyncStatus.SUCCEEDED, started_at=utcnow()),
            ]
        )
        session.commit()

    result = execute("cleanup_old_data", {}, task_id="cleanup", context=context)

    assert (result["task_runs_deleted"], result["sync_runs_deleted"]) == (1, 1)
    assert (result["task_runs_abandoned"], result["sync_runs_abandoned"]) == (0, 0)
    assert result["prices"]["rows_deleted"] == 0
    with context.session() as session:
        left = set(session.scalars(select(TaskRun.task_id)))
        assert left == {"new", "cleanup"}
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1


def test_cleanup_records_runs_left_running_by_a_dead_process_as_failed(
    context: JobContext,
) -> None:
    now = utcnow()
    long_ago = now - ABANDONED_AFTER - dt.timedelta(minutes=1)
    with context.session() as session:
        runs = TaskRunRepository(session)
        for task_id, started in (("dead", long_ago), ("busy", now)):
            run = runs.queue(task_id=task_id, task="sync_all_prices", args={})
            runs.update(run, status=TaskState.RUNNING, started_at=started)
        dead = SyncRun(kind=SyncKind.HISTORY, status=SyncStatus.RUNNING, started_at=long_ago)
        busy = SyncRun(kind=SyncKind.PRICES, status=SyncStatus.RUNNING, started_at=now)
        done = SyncRun(kind=SyncKind.PRICES, status=SyncStatus.SUCCEEDED, started_at=long_ago)
        session.add_all([dead, busy, done])
        session.commit()
        sync_ids = (dead.id, busy.id, done.id)

    result = execute("cleanup_old_data", {}, task_id="cleanup", context=context)

    assert (result["task_runs_abandoned"], result["sync_runs_abandoned"]) == (1, 1)
    with context.session() as session:
        states = [(r.status, r.error) for r in (session.get(SyncRun, i) for i in sync_ids) if r]
        assert states == [
            (SyncStatus.FAILED, "abandoned (process ended)"),
            (SyncStatus.RUNNING, None),
            (SyncStatus.SUCCEEDED, None),
        ]
        tasks = TaskRunRepository(session)
        dead_task, busy_task = tasks.latest("dead"), tasks.latest("busy")
        assert dead_task is not None and busy_task is not None
        assert (dead_task.status, dead_task.error) == (
            TaskState.FAILED,
            "abandoned (process ended)",
        )
        assert dead_task.finished_at is not None and busy_task.status == TaskState.RUNNING
