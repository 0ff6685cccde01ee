"""The work behind every task kind: plain functions ``job(context, **kwargs) -> dict``.

Each job is named as its ``TaskSpec`` in ``schedule.py``, takes only JSON-friendly keyword
arguments (validated from its signature before it runs), calls the domain services and
returns a JSON-serialisable summary. Jobs are idempotent: the syncs fetch only what is
missing and upsert it, retention only ever touches data past its cut-off, so a rerun (a
retry, or a run whose lock expired) never writes anything twice.

A sync that ends failed raises: ``TemporaryTaskError`` when its fault may pass (CoinGecko
down, rate-limited, breaker open), ``TaskFailedError`` otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from cryptopredict.coins.schemas import CoingeckoId
from cryptopredict.core.cache import FORECASTS_NAMESPACE, ResponseCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, utcnow
from cryptopredict.forecasting import service as forecasting_service
from cryptopredict.marketdata import service as marketdata_service
from cryptopredict.marketdata.types import (
    DEFAULT_HISTORY_DAYS,
    MAX_HISTORY_DAYS,
    FailureKind,
    SyncStatus,
)
from cryptopredict.portfolios import service as portfolios_service
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval
from cryptopredict.tasks.errors import TaskFailedError, TemporaryTaskError
from cryptopredict.tasks.locks import TaskLocks
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.schedule import SCHEDULE

if TYPE_CHECKING:
    from cryptopredict.marketdata.models import SyncRun
    from cryptopredict.tasks.isolation import ChildProcess

Intervals = Annotated[list[Interval], Field(min_length=1)] | None
"""Which intervals a history sync fills; None: all of them (5m, 1h, 1d)."""

ABANDONED_AFTER = 2 * dt.timedelta(seconds=max(spec.time_limit_seconds for spec in SCHEDULE))
"""A task or sync run still `running` this long after it started has lost its process (every
task is stopped at its time limit): it is recorded as failed, not left running forever."""


@dataclass(slots=True)
class JobContext:
    """What jobs need from their process: settings, database, response cache, task locks and
    (in a long-lived process without Redis) the CoinGecko guards shared across runs.

    Attributes:
        settings: the process's settings.
        database: where jobs open their sessions (short transactions, committed per batch).
        cache_source: returns the response cache that writes invalidate (the server's own
            cache in embedded mode, so its readers see new prices at once).
        locks: one lock per task kind.
        guards: shared limiter and breaker; None builds fresh ones per run (with Redis their
            state lives in Redis anyway, and its asyncio clients must not cross event loops).
        clock: the current instant (retention cut-offs).
        submit: queues another task run through the process's runner (`submit(name,
            kwargs) -> task id`), for jobs that fan out (one training run per coin); None
            where no runner is at hand.
        offload: where CPU-heavy work runs; None: in the job's own thread (a Celery worker
            process). The server passes a child process, so training never competes with
            its requests for the GIL.
    """

    settings: Settings
    database: Database
    cache_source: Callable[[], ResponseCache]
    locks: TaskLocks
    guards: marketdata_service.Guards | None = None
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    submit: Callable[[str, Mapping[str, Any]], str] | None = None
    offload: ChildProcess | None = None

    @property
    def cache(self) -> ResponseCache:
        """The response cache now."""
        return self.cache_source()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one job, rolled back on error and always closed."""
        yield from self.database.session()


def sync_run_id(result: Mapping[str, Any] | None) -> int | None:
    """The `SyncRun` a sync task's result names: its run (one coin's: the history run), or,
    for a failed task, the run whose failure failed it; None when it names none."""
    if result is None:
        return None
    found = result.get("history", result).get("sync_run_id")
    return found if isinstance(found, int) else None


def _sync(context: JobContext, action: marketdata_service.SyncCall) -> dict[str, Any]:
    """Run one market-data sync on its own event loop and summarise its `SyncRun`; raise
    when it failed (module docstring)."""

    async def go(session: Session) -> SyncRun:
        guards = context.guards or marketdata_service.Guards.from_settings(context.settings)
        try:
            async with marketdata_service.open_client(context.settings, guards) as client:
                return await action(
                    session=session, client=client, cache=context.cache, settings=context.settings
                )
        finally:
            if context.guards is None:
                await guards.aclose()

    with context.session() as session:
        run = asyncio.run(go(session))
        summary = {
            "sync_run_id": run.id,
            "kind": str(run.kind),
            "coin": run.coin,
            "status": str(run.status),
            "calls_made": run.calls_made,
            "rows_written": run.rows_written,
            "error": run.error,
        }
    if run.status == SyncStatus.FAILED:
        message = f"sync {run.kind} #{run.id} failed: {run.error}"
        if run.failure_kind == FailureKind.TEMPORARY:
            raise TemporaryTaskError(message, result=summary)
        raise TaskFailedError(message, result=summary)
    return summary


def sync_all_prices(context: JobContext) -> dict[str, Any]:
    """Store the latest price of every tracked coin (one CoinGecko call per 250 coins)."""
    return _sync(context, marketdata_service.sync_prices)


def _marking_portfolios(
    context: JobContext, days: int, sync: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run a history sync and mark the stored history of portfolios holding a coin that
    gained daily bars stale from the earliest new bar: also when the sync fails part-way,
    since what it wrote before failing stays written."""
    since = context.clock() - dt.timedelta(days=days + 1)
    with context.session() as session:
        before = prices_service.daily_bars_since(session=session, since=since)
    summary: dict[str, Any] = {}
    try:
        summary = sync()
    finally:
        with context.session() as session:
            after = prices_service.daily_bars_since(session=session, since=since)
            changed = prices_service.changed_from(before, after)
            if changed:
                summary["portfolios_marked"] = portfolios_service.mark_history_stale(
                    session=session, since_by_coin={c: at.date() for c, at in changed.items()}
                )
    return summary


def sync_historical_data(
    context: JobContext,
    days: Annotated[int, Field(ge=1, le=MAX_HISTORY_DAYS)] = DEFAULT_HISTORY_DAYS,
    intervals: Intervals = None,
) -> dict[str, Any]:
    """Fill the gaps in every tracked coin's recent history (only what is missing); the
    stored history of portfolios holding a coin that gained daily bars is marked stale."""
    return _marking_portfolios(
        context,
        days,
        lambda: _sync(
            context, partial(marketdata_service.sync_history, days=days, intervals=intervals)
        ),
    )


def update_portfolio_history(context: JobContext) -> dict[str, Any]:
    """Rebuild each portfolio's stored daily history from its first out-of-date day, and
    extend every one to yesterday (UTC)."""
    with context.session() as session:
        return portfolios_service.update_history(session=session, today=context.clock().date())


def discover_new_cryptocurrencies(
    context: JobContext, top: Annotated[int | None, Field(ge=1, le=5000)] = None
) -> dict[str, Any]:
    """Add or update the top coins by market cap (default `sync_top_coins`)."""
    return _sync(context, partial(marketdata_service.discover, top=top))


def sync_specific_cryptocurrency(
    context: JobContext,
    coin_id: CoingeckoId,
    days: Annotated[int, Field(ge=1, le=MAX_HISTORY_DAYS)] = DEFAULT_HISTORY_DAYS,
    intervals: Intervals = None,
) -> dict[str, Any]:
    """Store one coin's latest price, then fill its missing history (adding the coin to the
    catalogue if it is new): what a user asking for the coin expects to see."""
    price = _sync(context, partial(marketdata_service.sync_prices, coins={coin_id}))
    history = _marking_portfolios(
        context,
        days,
        lambda: _sync(
            context,
            partial(marketdata_service.sync_history, coin=coin_id, days=days, intervals=intervals),
        ),
    )
    parts = (price, history)
    statuses = {part["status"] for part in parts}
    return {
        "coin": coin_id,
        "status": str(SyncStatus.PARTIAL if SyncStatus.PARTIAL in statuses else history["status"]),
        "calls_made": sum(part["calls_made"] for part in parts),
        "rows_written": sum(part["rows_written"] for part in parts),
        "price": price,
        "history": history,
    }


def abandon_stale_runs(database: Database, *, now: dt.datetime) -> dict[str, int]:
    """Record as failed the task and sync runs still `running` `ABANDONED_AFTER` after they
    started (their process ended mid-run); how many of each. Cleanup, the embedded runner's
    start and a Celery worker's start call it."""
    before = now - ABANDONED_AFTER
    with database.session_factory() as session:
        abandoned = {
            "task_runs_abandoned": TaskRunRepository(session).abandon(
                started_before=before,
                finished_at=now,
                error=marketdata_service.ABANDONED_ERROR,
            ),
            "sync_runs_abandoned": marketdata_service.abandon_runs(
                session=session, started_before=before
            ),
        }
        session.commit()
    return abandoned


def cleanup_old_data(context: JobContext) -> dict[str, Any]:
    """Downsample old prices into coarser bars (retention never just drops them), record runs
    left `running` by a process that ended as failed, and prune task and sync run records
    older than `task_run_retention_days`."""
    now = context.clock()
    cutoff = now - dt.timedelta(days=context.settings.task_run_retention_days)
    summary: dict[str, Any] = {"runs_before": cutoff.isoformat()}
    summary |= abandon_stale_runs(context.database, now=now)
    with context.session() as session:
        report = prices_service.apply_retention(
            session=session,
            settings=context.settings,
            now=now,
            cache=context.cache,
        )
        summary["prices"] = {
            key: value for key, value in report.as_dict().items() if key != "steps"
        }
        summary["prices"]["errors"] = [step.error for step in report.skipped][:20]
        summary["task_runs_deleted"] = TaskRunRepository(session).prune(before=cutoff)
        summary["sync_runs_deleted"] = marketdata_service.prune_runs(session=session, before=cutoff)
        session.commit()
    return summary


def issue_forecasts(context: JobContext, coin_id: CoingeckoId | None = None) -> dict[str, Any]:
    """Issue forecasts from the newest closed bar of one coin, or of every coin with a
    production model; each (coin, horizon, version, bar) is issued once however often it runs."""
    with context.session() as session:
        report = forecasting_service.issue_forecasts(
            session=session, settings=context.settings, now=context.clock(), coin=coin_id
        )
    if report.issued:
        context.cache.invalidate(FORECASTS_NAMESPACE)
    if report.failed and not report.coins:
        raise TaskFailedError(f"no coin could be issued: {report.failed}", result=report.to_dict())
    return report.to_dict()


def score_predictions(context: JobContext) -> dict[str, Any]:
    """Score forecasts whose target bar has closed, refresh live records, demote production
    models that are significantly worse than naive or miscalibrated."""
    with context.session() as session:
        report = forecasting_service.score_predictions(
            session=session, settings=context.settings, now=context.clock()
        )
    if report.scored or report.demoted:
        context.cache.invalidate(FORECASTS_NAMESPACE)
    return report.to_dict()


def health_check(context: JobContext) -> dict[str, Any]:
    """Prove a worker round trip: where and when it ran, and that it reached the database."""
    with context.session() as session:
        database = session.execute(text("SELECT 1")).scalar() == 1
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "time": context.clock().isoformat(),
        "database": database,
    }
