"""Sync runs for the API and the CLI: one limiter and breaker per process, a client per run,
the runs themselves, what operators read back (recent runs, current state), and how fresh
the stored prices are for everyone."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Protocol

from sqlalchemy.orm import Session

from cryptopredict.core.cache import ResponseCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.core.errors import NotFoundError
from cryptopredict.core.pagination import PageParams
from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.exceptions import TEMPORARY_FAULTS
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.ratelimit import RateLimiter
from cryptopredict.marketdata.repository import SyncRunRepository
from cryptopredict.marketdata.schemas import (
    BreakerSnapshot,
    DataFreshness,
    LimiterSnapshot,
    SyncRunBrief,
)
from cryptopredict.marketdata.sync import MarketSync
from cryptopredict.marketdata.types import (
    DEFAULT_HISTORY_DAYS,
    PRICE_SYNC_KINDS,
    ProgressCallback,
    SyncKind,
    SyncStatus,
)
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval
from cryptopredict.stream import service as stream_service

GUARDS_STATE_KEY = "coingecko_guards"
_guards_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Guards:
    """The rate limiter and circuit breaker every client of one process shares."""

    limiter: RateLimiter
    breaker: CircuitBreaker

    @classmethod
    def from_settings(cls, settings: Settings) -> Guards:
        """Guards for this deployment, shared with other processes through Redis if set."""
        return cls(RateLimiter.from_settings(settings), CircuitBreaker.from_settings(settings))

    async def aclose(self) -> None:
        """Release their Redis connections."""
        await self.limiter.aclose()
        await self.breaker.aclose()


def app_guards(state: Any, settings: Settings) -> Guards:
    """The guards kept on an application's `state`, created on first use, so the sync API,
    the status API and `/health/ready` all see the same limiter and breaker."""
    guards: Guards | None = getattr(state, GUARDS_STATE_KEY, None)
    if guards is None:
        with _guards_lock:
            guards = getattr(state, GUARDS_STATE_KEY, None)
            if guards is None:
                guards = Guards.from_settings(settings)
                setattr(state, GUARDS_STATE_KEY, guards)
    return guards


class SyncCall(Protocol):
    """One of the sync functions below with its own arguments bound (`functools.partial`):
    what a runner (the CLI, a background job) awaits once it has opened the rest."""

    def __call__(
        self,
        *,
        session: Session,
        client: CoinGeckoClient,
        cache: ResponseCache,
        settings: Settings,
        on_progress: ProgressCallback | None = None,
    ) -> Awaitable[SyncRun]: ...


@asynccontextmanager
async def open_client(settings: Settings, guards: Guards) -> AsyncIterator[CoinGeckoClient]:
    """A client for one run (its HTTP pool lives on the running event loop only)."""
    async with CoinGeckoClient(settings, limiter=guards.limiter, breaker=guards.breaker) as client:
        yield client


def _secrets(settings: Settings) -> tuple[str, ...]:
    """Values that must never be stored in a run's error text."""
    key = settings.coingecko_api_key
    return (key.get_secret_value(),) if key is not None else ()


def _syncer(
    *,
    session: Session,
    client: CoinGeckoClient,
    cache: ResponseCache,
    settings: Settings,
    on_progress: ProgressCallback | None,
) -> MarketSync:
    return MarketSync(
        session=session,
        client=client,
        cache=cache,
        secrets=_secrets(settings),
        on_progress=on_progress,
        announce=partial(stream_service.publish_prices, settings=settings),
    )


async def discover(
    *,
    session: Session,
    client: CoinGeckoClient,
    cache: ResponseCache,
    settings: Settings,
    top: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun:
    """Refresh the catalogue with the top coins by market cap (default `sync_top_coins`)."""
    syncer = _syncer(
        session=session, client=client, cache=cache, settings=settings, on_progress=on_progress
    )
    return await syncer.discover(top=top or settings.sync_top_coins)


async def sync_prices(
    *,
    session: Session,
    client: CoinGeckoClient,
    cache: ResponseCache,
    settings: Settings,
    coins: Collection[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun:
    """Store the latest price of every active coin (or of the given CoinGecko ids, new ones
    added to the catalogue) in as few calls as CoinGecko allows."""
    syncer = _syncer(
        session=session, client=client, cache=cache, settings=settings, on_progress=on_progress
    )
    return await syncer.prices(coins=coins)


async def sync_history(
    *,
    session: Session,
    client: CoinGeckoClient,
    cache: ResponseCache,
    settings: Settings,
    coin: str | None = None,
    days: int = DEFAULT_HISTORY_DAYS,
    intervals: Sequence[Interval] | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun:
    """Fill the gaps of one coin's (or every active coin's) recent history."""
    syncer = _syncer(
        session=session, client=client, cache=cache, settings=settings, on_progress=on_progress
    )
    return await syncer.history(coin=coin, days=days, intervals=intervals)


def list_runs(
    *, session: Session, page: PageParams, kind: SyncKind | None = None
) -> tuple[list[SyncRun], int]:
    """A page of runs, newest first, and the total across pages."""
    runs = SyncRunRepository(session)
    return runs.recent(page=page, kind=kind), runs.total(kind=kind)


def get(*, session: Session, run_id: int) -> SyncRun:
    """One run by id; 404 when there is none."""
    run = SyncRunRepository(session).get(run_id)
    if run is None:
        raise NotFoundError(f"No sync run {run_id}", details={"run_id": run_id})
    return run


def prune_runs(*, session: Session, before: dt.datetime) -> int:
    """Delete finished run records started before the cut-off (flushed, not committed);
    how many went. The retention task calls it."""
    return SyncRunRepository(session).prune(before=before)


ABANDONED_ERROR = "abandoned (process ended)"


def is_temporary_fault(exc: BaseException) -> bool:
    """Whether a market-data fault may pass on its own, so a run it failed is worth retrying."""
    return isinstance(exc, TEMPORARY_FAULTS)


def abandon_runs(*, session: Session, started_before: dt.datetime) -> int:
    """Record as failed the runs still `running` that started before the cut-off (flushed,
    not committed); how many. A run's process that died (killed, out of memory) never
    records its end, and without this the run would show as running forever."""
    return SyncRunRepository(session).abandon(started_before=started_before, error=ABANDONED_ERROR)


class SyncState(NamedTuple):
    """What the status API shows: the guards now and the latest run of each kind."""

    limiter: LimiterSnapshot
    breaker: BreakerSnapshot
    last_runs: dict[SyncKind, SyncRun]


async def status(*, session: Session, guards: Guards) -> SyncState:
    """Limiter and breaker state, and the last run of each kind."""
    return SyncState(
        limiter=await guards.limiter.snapshot(),
        breaker=await guards.breaker.snapshot(),
        last_runs=SyncRunRepository(session).last_per_kind(),
    )


PUBLIC_FAILURES: tuple[tuple[str, str], ...] = (
    ("CircuitOpenError", "CoinGecko is not called for a while after repeated failures"),
    ("RateLimitedByUpstream", "CoinGecko's rate limit was reached"),
    ("RateLimitWaitExceeded", "CoinGecko's rate limit was reached"),
    ("UpstreamTimeoutError", "CoinGecko did not answer in time"),
    ("UpstreamConnectionError", "CoinGecko could not be reached"),
    ("UpstreamServerError", "CoinGecko answered with a server error"),
    ("UpstreamAuthError", "CoinGecko refused the API key"),
    ("UpstreamNotFoundError", "CoinGecko does not know a tracked coin"),
    ("UpstreamClientError", "CoinGecko refused a request"),
    ("MalformedResponseError", "CoinGecko answered with data that could not be read"),
)
"""Fault kinds named in stored run errors, in the order they are looked for, and what anyone
may be told about each."""
UNKNOWN_FAILURE = "an unexpected error (admins see it under /api/v1/sync/runs)"


def public_failure(error: str | None) -> str | None:
    """What a public page may say about a run's stored error: a fixed sentence for the first
    known kind of CoinGecko fault in it. The stored text may name hosts, SQL or paths (an
    aborted run records any exception), so it stays admin-only."""
    if error is None:
        return None
    for kind, sentence in PUBLIC_FAILURES:
        if re.search(rf"\b{kind}\b", error):
            return sentence
    return UNKNOWN_FAILURE


def freshness(
    *, session: Session, settings: Settings, now: dt.datetime | None = None
) -> DataFreshness:
    """How old the stored prices are and how the runs that store them went, so the dashboard
    can warn that it shows old data. At most three cheap reads: the newest price (one
    statement of index probes) and the newest run, and newest successful run, of the kinds
    that store prices (each read backwards along the start-time index)."""
    newest = prices_service.newest_price_at(session=session)
    runs = SyncRunRepository(session)
    last = runs.newest(kinds=PRICE_SYNC_KINDS)
    success = (
        last
        if last is None or last.status == SyncStatus.SUCCEEDED
        else runs.newest(kinds=PRICE_SYNC_KINDS, status=SyncStatus.SUCCEEDED)
    )
    threshold = settings.stale_after_minutes * 60
    # A provisional latest price carries CoinGecko's clock, which may run slightly ahead.
    age = None if newest is None else max(0.0, ((now or utcnow()) - newest).total_seconds())
    return DataFreshness(
        newest_price_at=newest,
        age_seconds=age,
        stale=age is None or age > threshold,
        stale_after_seconds=threshold,
        last_sync=None
        if last is None
        else SyncRunBrief(
            kind=last.kind,
            status=last.status,
            started_at=last.started_at,
            finished_at=last.finished_at,
            error=public_failure(last.error),
        ),
        last_success_at=None if success is None else success.finished_at,
    )
