"""The real jobs over real HTTP against the fake CoinGecko, into the task database: rows are
written once, a second run writes nothing, and retention prunes old run records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.marketdata.fake_server import FakeCoinGecko, running_fake_coingecko
from cryptopredict.marketdata.models import SyncKind, SyncRun, SyncStatus
from cryptopredict.prices.models import PriceData
from cryptopredict.tasks.errors import TemporaryTaskError
from cryptopredict.tasks.execution import execute
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository


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


def test_syncing_one_coin_writes_its_history_once_and_a_rerun_writes_nothing(
    context: JobContext,
) -> None:
    first = execute(
        "sync_specific_cryptocurrency",
        {"coin_id": "bitcoin", "days": 30},
        task_id="coin-1",
        context=context,
    )
    rows = _count(context, select(func.count()).select_from(PriceData))

    assert first["status"] == "succeeded" and first["coin"] == "bitcoin"
    assert first["rows_written"] == rows > 0
    second = execute(
        "sync_specific_cryptocurrency",
        {"coin_id": "bitcoin", "days": 30},
        task_id="coin-2",
        context=context,
    )
    assert second["rows_written"] == 0
    assert _count(context, select(func.count()).select_from(PriceData)) == rows
    with context.session() as session:
        runs = session.scalars(select(TaskRun).order_by(TaskRun.id)).all()
        assert [(r.task_id, r.status) for r in runs] == [
            ("coin-1", TaskState.SUCCEEDED),
            ("coin-2", TaskState.SUCCEEDED),
        ]
        assert runs[0].result is not None and runs[0].result["sync_run_id"] == first["sync_run_id"]


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
    assert result["prices"]["rows_deleted"] == 0
    with context.session() as session:
        left = set(session.scalars(select(TaskRun.task_id)))
        assert left == {"new", "cleanup"}
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1
