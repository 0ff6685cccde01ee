"""Benchmarks of the CoinGecko side: history backfill throughput, the /api/v3 mirror under
load, and calls per latest-prices sync. All of it runs against the fake CoinGecko on a
loopback port (`cryptopredict.testing.fake_coingecko`), never the real one.

- backfill: `MarketSync.history()` (what `cryptopredict sync history` runs) for the 6 snapshot
  coins, every interval it fills, from `cryptopredict fake-coingecko` in its own process into
  PostgreSQL. The deliberate rate limit is taken out of the figures by configuring the
  largest budget the settings accept (10,000 calls/min: a burst of 1,000 calls, more than a
  run makes, so the limiter never waits). Time is split by instrumenting public seams: an
  httpx transport around the client's HTTP, the client's methods, `PriceRepository`'s bulk upserts
  and `Session.commit`.
- mirror: `cryptopredict serve --workers 2` on PostgreSQL with the Redis response cache,
  seeded by the CSV import plus a discover (top 250) and a prices sync from the fake, loaded
  with wrk and with the httpx generator on `/api/v3/simple/price` (10 ids) and
  `/api/v3/coins/markets` (250 per page); then once more with the cache off, for the cost of a
  miss.
- sync-calls: discover the top 250, then count the requests the fake logs for
  `/coins/markets` during one prices sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.common import (
    LOAD_TABLE_HEADER,
    REDIS_URL,
    SHARED_PRICES,
    BenchError,
    Load,
    Section,
    Server,
    flushed_redis,
    fresh_database,
    load_table_row,
    require_loopback,
    run_python_load,
    run_wrk,
    running_fake_coingecko_process,
    running_server,
    wrk_command,
    wrk_version,
)
from bench.http_latency import DAILY_COINS, EXTRA_COINS, MARKETS
from cryptopredict.coins import service as coins_service
from cryptopredict.core import migrations
from cryptopredict.core.cache import MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import create_db_engine
from cryptopredict.core.pagination import PageParams
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.service import Guards
from cryptopredict.marketdata.sync import MarketSync
from cryptopredict.marketdata.types import SyncStatus
from cryptopredict.prices.importer import import_price_files
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.testing.fake_coingecko.server import running_fake_coingecko

T = TypeVar("T")

# The largest budget `coingecko_calls_per_minute` accepts (le=10_000): a burst of 1,000 calls.
CALLS_PER_MINUTE = 10_000
TOP_COINS = 250
BACKFILL_ROUNDS = 3
BACKFILL_TARGET_ROWS_PER_SECOND = 50_000
# Its own database, so the backfill can run beside another benchmark without either
# dropping the other's.
BACKFILL_DATABASE = "cryptopredict_bench_backfill"

MIRROR_IDS = (*DAILY_COINS, *EXTRA_COINS)
SIMPLE_PRICE = "/api/v3/simple/price?ids=" + ",".join(MIRROR_IDS) + "&vs_currencies=usd"
MARKETS_PAGE = f"/api/v3/coins/markets?vs_currency=usd&per_page={TOP_COINS}"
MIRROR_ENDPOINTS = {
    "simple/price (10 ids)": SIMPLE_PRICE,
    f"coins/markets ({TOP_COINS} per page)": MARKETS_PAGE,
}
MIRROR_BASELINE = {"baseline: /api/v3/ping": "/api/v3/ping"}
MIRROR_WORKERS = 2
MIRROR_SECONDS = 10
MIRROR_WARMUP_SECONDS = 2
MIRROR_MAX_PYTHON_REQUESTS = 30_000
MIRROR_P99_TARGET_MS = 30
MIRROR_DATABASE = "cryptopredict_bench_mirror"
# A second, lighter load (not judged): how much of the -c16 tail is queueing on 2 cores.
MIRROR_LIGHT_CONNECTIONS = 4


# ---- shared plumbing ------------------------------------------------------------------------


def _settings(root: str, data_dir: Path, database: str) -> Settings:
    """Settings aimed at a fake CoinGecko, with no Redis and the largest call budget."""
    require_loopback(root)
    return Settings(
        data_dir=data_dir,
        database_url=database,
        redis_url=None,
        coingecko_base_url=root,
        coingecko_api_key=None,
        coingecko_calls_per_minute=CALLS_PER_MINUTE,
    )


@dataclass
class Timings:
    """Seconds spent at each instrumented seam of one run."""

    http: float = 0.0  # request sent .. whole body received (the fake's own work included)
    client: float = 0.0  # CoinGeckoClient methods: limiter, breaker, HTTP, JSON validation
    upsert: float = 0.0  # PriceRepository.bulk_upsert and bulk_upsert_columns
    commit: float = 0.0  # Session.commit (batches and run bookkeeping)


class TimedTransport(httpx.AsyncBaseTransport):
    """httpx's transport, timing each exchange up to the last byte of the body."""

    def __init__(self, timings: Timings) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._timings = timings

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        try:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        self._timings.http += time.perf_counter() - started
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _timed_async(
    method: Callable[..., Awaitable[T]], add: Callable[[float], None]
) -> Callable[..., Awaitable[T]]:
    async def timed(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            add(time.perf_counter() - started)

    return timed


def _timed(method: Callable[..., T], add: Callable[[float], None]) -> Callable[..., T]:
    def timed(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            add(time.perf_counter() - started)

    return timed


@dataclass(frozen=True)
class RunResult:
    """One sync run as recorded, with the wall time of the call that ran it."""

    kind: str
    status: str
    calls: int
    rows: int
    error: str | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Rows written per wall second."""
        return self.rows / self.seconds if self.seconds else 0.0


Action = Callable[[MarketSync], Awaitable[SyncRun]]


async def _sync(
    engine: Engine, settings: Settings, action: Action, timings: Timings | None = None
) -> RunResult:
    """Run one sync as the CLI does (fresh guards and client), timing only the run itself."""
    guards = Guards.from_settings(settings)
    transport = TimedTransport(timings) if timings is not None else None
    try:
        async with CoinGeckoClient(
            settings, limiter=guards.limiter, breaker=guards.breaker, transport=transport
        ) as client:
            with Session(engine) as session, contextlib.ExitStack() as stack:
                session.execute(text("SELECT 1"))  # connect before the clock starts
                session.rollback()
                if timings is not None:

                    def add_client(seconds: float) -> None:
                        timings.client += seconds

                    def add_upsert(seconds: float) -> None:
                        timings.upsert += seconds

                    def add_commit(seconds: float) -> None:
                        timings.commit += seconds

                    for name in (
                        "coins_list",
                        "coins_markets",
                        "market_chart_range",
                        "market_chart_range_columns",
                    ):
                        setattr(client, name, _timed_async(getattr(client, name), add_client))
                    setattr(session, "commit", _timed(session.commit, add_commit))  # noqa: B010
                    for name in ("bulk_upsert", "bulk_upsert_columns"):
                        method = getattr(PriceRepository, name)
                        stack.enter_context(
                            mock.patch.object(PriceRepository, name, _timed(method, add_upsert))
                        )
                syncer = MarketSync(session=session, client=client, cache=MemoryCache())
                started = time.perf_counter()
                run = await action(syncer)
                seconds = time.perf_counter() - started
                return RunResult(
                    str(run.kind),
                    str(run.status),
                    run.calls_made,
                    run.rows_written,
                    run.error,
                    seconds,
                )
    finally:
        await guards.aclose()


def _run_sync(
    engine: Engine, settings: Settings, action: Action, timings: Timings | None = None
) -> RunResult:
    result = asyncio.run(_sync(engine, settings, action, timings))
    if result.status == SyncStatus.FAILED:
        raise BenchError(f"{result.kind} sync failed: {result.error}")
    return result


@contextlib.contextmanager
def _migrated_engine(database: str) -> Iterator[Engine]:
    migrations.upgrade(database)
    engine = create_db_engine(database)
    try:
        yield engine
    finally:
        engine.dispose()


def _analyze(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


# ---- backfill ----------------------------------------------------------------------------------


def _add_snapshot_coins(engine: Engine) -> None:
    """The 6 coins the fake has price series for, as a discover sync would add them."""
    markets = {entry["id"]: entry for entry in json.loads(MARKETS.read_text())}
    with Session(engine) as session:
        for coin_id in DAILY_COINS:
            entry = markets[coin_id]
            coins_service.ensure(
                session=session,
                coingecko_id=coin_id,
                symbol=entry["symbol"],
                name=entry["name"],
                market_cap_rank=entry["market_cap_rank"],
                image_url=entry["image"],
            )
        session.commit()


def _empty_prices(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE price_data"))


@dataclass(frozen=True)
class BackfillRound:
    """One backfill into empty price tables and where its time went."""

    result: RunResult
    timings: Timings

    @property
    def other(self) -> float:
        """Wall time outside the client, the upserts and the commits."""
        t = self.timings
        return self.result.seconds - t.client - t.upsert - t.commit


def _backfill_rounds(engine: Engine, settings: Settings, days: int) -> list[BackfillRound]:
    rounds = []
    for _ in range(BACKFILL_ROUNDS):
        _empty_prices(engine)
        timings = Timings()
        result = _run_sync(engine, settings, _history(days), timings)
        if result.status != SyncStatus.SUCCEEDED or result.error:
            raise BenchError(f"backfill ended {result.status}: {result.error}")
        rounds.append(BackfillRound(result, timings))
    if len({r.result.rows for r in rounds}) != 1 or not rounds[0].result.rows:
        raise BenchError(f"rounds wrote different row counts: {[r.result.rows for r in rounds]}")
    return rounds


def _history(days: int) -> Action:
    """A backfill of every active coin over the last `days`."""
    return lambda syncer: syncer.history(days=days)


def _median_round(rounds: list[BackfillRound]) -> BackfillRound:
    return sorted(rounds, key=lambda r: r.result.seconds)[len(rounds) // 2]


def _split_row(label: str, seconds: float, wall: float) -> str:
    return f"| {label} | {seconds * 1000:,.1f} | {seconds / wall:.0%} |"


def run_backfill() -> Section:
    """Measure backfill throughput from the fake CoinGecko into PostgreSQL."""
    section = Section("Backfill from (fake) CoinGecko into PostgreSQL (`sync history`)")
    variants = (365, 3650)
    measured: dict[int, list[BackfillRound]] = {}
    reruns: dict[int, RunResult] = {}
    with (
        fresh_database(BACKFILL_DATABASE) as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
        running_fake_coingecko_process(Path(data_dir)) as root,
        _migrated_engine(database) as engine,
    ):
        settings = _settings(root, Path(data_dir), database)
        _add_snapshot_coins(engine)
        _analyze(engine)
        # One untimed run first: imports, pools and the fake's chart cache warmed.
        _run_sync(engine, settings, _history(variants[0]))
        for days in variants:
            measured[days] = _backfill_rounds(engine, settings, days)
            reruns[days] = _run_sync(engine, settings, _history(days))
    for days, rerun in reruns.items():
        if rerun.rows:
            raise BenchError(f"a rerun of the {days}-day backfill wrote {rerun.rows} rows")

    burst = CALLS_PER_MINUTE // 10
    most_calls = max(r.result.calls for rounds in measured.values() for r in rounds)
    if most_calls >= burst:
        raise BenchError(f"{most_calls} calls per run: the limiter may have waited")
    section.add(
        f"`MarketSync.history(days=N)` — the backfill `cryptopredict sync history` runs — for "
        f"the {len(DAILY_COINS)} snapshot coins ({', '.join(DAILY_COINS)}), every interval it "
        "fills (1d over N days, 1h over the last 90, 5m over the last day), from "
        "`cryptopredict fake-coingecko` (its own process, loopback, fixed clock 2021-07-07) "
        "into PostgreSQL. The deliberate rate limit is excluded: "
        f"`CRYPTOPREDICT_COINGECKO_CALLS_PER_MINUTE={CALLS_PER_MINUTE}` (the largest value "
        f"the settings accept; 100,000 is refused) gives a burst of {burst:,} calls, and a "
        f"run makes at most {most_calls}, so the limiter never waits. {BACKFILL_ROUNDS} "
        "rounds per N, each into an emptied `price_data` after one untimed warm-up run; "
        "seconds are the wall time of the run in-process (run records, gap queries, HTTP, "
        "JSON validation, upserts and commits; not interpreter start-up).",
        "",
        "| N days | rows written | calls | median s | median rows/s | best rows/s "
        "| rerun: rows, calls |",
        "|---:|---:|---:|---:|---:|---:|---|",
    )
    for days, rounds in measured.items():
        median = statistics.median(r.result.seconds for r in rounds)
        best = min(r.result.seconds for r in rounds)
        rows, calls = rounds[0].result.rows, rounds[0].result.calls
        section.add(
            f"| {days} | {rows:,} | {calls} | {median:.3f} | {rows / median:,.0f} "
            f"| {rows / best:,.0f} | {reruns[days].rows}, {reruns[days].calls} |"
        )
    for days, rounds in measured.items():
        chosen = _median_round(rounds)
        t, wall = chosen.timings, chosen.result.seconds
        db = t.upsert + t.commit
        section.add(
            "",
            f"Where the time went, N = {days} (the median round, {wall * 1000:,.1f} ms):",
            "",
            "| part | ms | share |",
            "|---|---:|---:|",
            _split_row(
                "HTTP exchanges (send to last body byte, the fake's work included)", t.http, wall
            ),
            _split_row(
                "client around HTTP (limiter, breaker, JSON validation)", t.client - t.http, wall
            ),
            _split_row("`PriceRepository` bulk upserts (binary COPY)", t.upsert, wall),
            _split_row("`Session.commit` (batches and run records)", t.commit, wall),
            _split_row(
                "the rest (gap queries, chunk planning, rows from charts, run records)",
                chosen.other,
                wall,
            ),
            "",
            f"Upserts and commits alone: {chosen.result.rows / db:,.0f} rows/s.",
        )
    median_365 = measured[365][0].result.rows / statistics.median(
        r.result.seconds for r in measured[365]
    )
    verdict = "meets" if median_365 > BACKFILL_TARGET_ROWS_PER_SECOND else "MISSES"
    section.add(
        "",
        f"Target > {BACKFILL_TARGET_ROWS_PER_SECOND:,} rows/s (N = 365, the default; median): "
        f"**{verdict}** ({median_365:,.0f} rows/s).",
    )
    return section


# ---- mirror ------------------------------------------------------------------------------------


def seed_mirror(database: str, data_dir: Path) -> tuple[RunResult, RunResult]:
    """The daily CSVs, then the top 250 coins and their latest prices from the fake."""
    with _migrated_engine(database) as engine:
        with Session(engine) as session:
            report = import_price_files(sorted(SHARED_PRICES.glob("*.csv")), session=session)
            if not report.ok:
                raise BenchError("; ".join(f.message for f in report.failures))
        with running_fake_coingecko() as fake:
            settings = _settings(fake.base_url, data_dir, database)
            discover = _run_sync(engine, settings, lambda s: s.discover(top=TOP_COINS))
            prices = _run_sync(engine, settings, lambda s: s.prices())
        _analyze(engine)
    return discover, prices


def check_mirror(base_url: str) -> dict[str, int]:
    """Refuse to measure wrong answers: a USD price for all 10 ids, and a full page."""
    sizes = {}
    for name, path in MIRROR_ENDPOINTS.items():
        response = httpx.get(base_url + path, timeout=10)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        if path == SIMPLE_PRICE:
            absent = [i for i in MIRROR_IDS if "usd" not in body.get(i, {})]
            if absent:
                raise BenchError(f"GET {path} has no USD price for {absent}: {response.text[:300]}")
        elif len(body) != TOP_COINS:
            raise BenchError(f"GET {path} returned {len(body)} coins, not {TOP_COINS}")
        sizes[name] = len(response.content)
    return sizes


def _server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server process and all its workers."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _load_all(
    server: Server,
    paths: dict[str, str],
    *,
    wrk: bool,
    python: bool = True,
    cpu: dict[str, float] | None = None,
    light: list[tuple[str, Load]] | None = None,
) -> list[tuple[str, Load]]:
    """Warm each path up, then load it with wrk (when installed) and/or the httpx generator
    (always when there is no wrk). With `cpu`, record the server's CPU microseconds per
    request during each wrk run; with `light`, also run wrk at MIRROR_LIGHT_CONNECTIONS."""
    results = []
    for name, path in paths.items():
        url = server.base_url + path
        run_python_load(url, MIRROR_WARMUP_SECONDS, MIRROR_MAX_PYTHON_REQUESTS)
        if wrk:
            used = _server_cpu_seconds(server.process.pid)
            load = run_wrk(url, MIRROR_SECONDS)
            if cpu is not None:
                cpu[name] = (_server_cpu_seconds(server.process.pid) - used) / load.requests * 1e6
            results.append((name, load))
            if light is not None:
                light.append((name, run_wrk(url, MIRROR_SECONDS, MIRROR_LIGHT_CONNECTIONS)))
        if python or not wrk:
            results.append((name, run_python_load(url, MIRROR_SECONDS, MIRROR_MAX_PYTHON_REQUESTS)))
    return results


def run_mirror() -> Section:
    """Measure the /api/v3 mirror's hot endpoints under load, with the Redis cache."""
    section = Section(
        f"CoinGecko mirror (`/api/v3`, `cryptopredict serve --workers {MIRROR_WORKERS}`, "
        "PostgreSQL + Redis cache)"
    )
    wrk = wrk_version()
    redis_env = {"CRYPTOPREDICT_REDIS_URL": REDIS_URL}
    cpu: dict[str, float] = {}
    uncached_cpu: dict[str, float] = {}
    light: list[tuple[str, Load]] = []
    with (
        flushed_redis() as store,
        fresh_database(MIRROR_DATABASE) as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
    ):
        discover, prices = seed_mirror(database, Path(data_dir))
        with running_server(
            database, Path(data_dir), workers=MIRROR_WORKERS, extra_env=redis_env
        ) as server:
            sizes = check_mirror(server.base_url)
            cached = _load_all(
                server,
                MIRROR_ENDPOINTS | MIRROR_BASELINE,
                wrk=bool(wrk),
                cpu=cpu,
                light=light,
            )
            check_mirror(server.base_url)
            redis_keys = int(store.dbsize())
            command = " ".join(["cryptopredict", *server.command[1:]])
        store.flushdb()
        uncached_env = redis_env | {"CRYPTOPREDICT_CACHE_TTL_SECONDS": "0"}
        with running_server(
            database, Path(data_dir), workers=MIRROR_WORKERS, extra_env=uncached_env
        ) as server:
            uncached = _load_all(
                server, MIRROR_ENDPOINTS, wrk=bool(wrk), python=False, cpu=uncached_cpu
            )
    if redis_keys == 0:
        raise BenchError("the server wrote nothing to Redis: the cache was not in use")
    failed = [(name, load) for name, load in cached + uncached + light if load.bad]
    if failed:
        raise BenchError(
            "non-200 answers or socket errors under load: "
            + ", ".join(f"{name} via {load.generator}: {load.bad}" for name, load in failed)
        )

    section.add(
        f"Server: `{command}` with `CRYPTOPREDICT_REDIS_URL={REDIS_URL}` (that database is "
        f"flushed before and after; {redis_keys} keys were in it after the load), port chosen "
        "free on 127.0.0.1, access log off. Data: the 6 daily CSVs imported, then from the "
        f"fake CoinGecko a discover of the top {TOP_COINS} ({discover.calls} calls) and a "
        f"prices sync ({prices.calls} call, {prices.rows} rows).",
        "",
        "Endpoints:",
        "",
        *(
            f"- {name}: `GET {path}` ({sizes[name]:,} bytes)"
            for name, path in MIRROR_ENDPOINTS.items()
        ),
        "- baseline, not judged: `GET /api/v3/ping` (no database or cache work)",
        "",
        f"Load: {MIRROR_SECONDS} s per generator and endpoint after a {MIRROR_WARMUP_SECONDS} s "
        f"warm-up; wrk: `{' '.join(wrk_command(MIRROR_SECONDS))}` ({wrk or 'not installed'}); "
        "Python: httpx.AsyncClient on uvloop, same connection count, at most "
        f"{MIRROR_MAX_PYTHON_REQUESTS:,} requests. After the warm-up nearly every request is a "
        "cache hit answered from the worker's in-process copy (kept in step with Redis by "
        "pub/sub, at most 1 s stale in other workers), before routing. Server, wrk, Redis and "
        "PostgreSQL share the machine's cores, so figures vary between runs; the httpx rows "
        "are bound by the Python generator's own CPU (compare its ping row) and say little "
        "about the server.",
        "",
        *LOAD_TABLE_HEADER,
        *(load_table_row(name, load) for name, load in cached),
        "",
        "Server CPU per request during each wrk run above (user + system of the server and "
        "its workers, divided by the requests wrk completed; independent of queueing):",
        "",
        "| endpoint | server CPU µs/request |",
        "|---|---:|",
        *(f"| {name} | {micros:,.0f} |" for name, micros in cpu.items()),
        "",
        f"Not judged: the same server under a lighter load, wrk `-c{MIRROR_LIGHT_CONNECTIONS}` "
        "(otherwise the same command), to show how much of the -c16 tail is requests queueing "
        "for the shared cores rather than work per request:",
        "",
        *LOAD_TABLE_HEADER,
        *(load_table_row(f"{name}, -c{MIRROR_LIGHT_CONNECTIONS}", load) for name, load in light),
        "",
        "The same endpoints with the response cache off (`CRYPTOPREDICT_CACHE_TTL_SECONDS=0`), "
        "every request reading PostgreSQL — the cost of a miss:",
        "",
        *LOAD_TABLE_HEADER,
        *(load_table_row(f"{name}, uncached", load) for name, load in uncached),
        "",
        *(
            f"- {name}, uncached: {micros:,.0f} µs server CPU per request"
            for name, micros in uncached_cpu.items()
        ),
        "",
        f"Target: p99 < {MIRROR_P99_TARGET_MS} ms with the Redis cache (judged on "
        f"{'wrk' if wrk else 'the Python generator'}):",
        "",
    )
    judged = "wrk (C)" if wrk else "httpx (Python)"
    for name, load in cached:
        if load.generator == judged and name in MIRROR_ENDPOINTS:
            ok = load.p99_ms < MIRROR_P99_TARGET_MS
            section.add(
                f"- {name}: **{'meets' if ok else 'MISSES'}** "
                f"(p99 {load.p99_ms:.1f} ms, p50 {load.p50_ms:.1f} ms, {load.rps:,.0f} req/s)"
            )
    return section


# ---- calls per prices sync ---------------------------------------------------------------------


def run_sync_calls() -> Section:
    """Count the requests one latest-prices sync of the top 250 coins costs."""
    section = Section(f"Calls per latest-prices sync of the top {TOP_COINS} coins")
    with (
        fresh_database() as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
        _migrated_engine(database) as engine,
        running_fake_coingecko() as fake,
    ):
        settings = _settings(fake.base_url, Path(data_dir), database)
        discover = _run_sync(engine, settings, lambda s: s.discover(top=TOP_COINS))
        discover_requests = len(fake.requests)
        with Session(engine) as session:
            tracked = coins_service.list_coins(
                session=session, page=PageParams(limit=1), is_active=True
            )[1]
        runs: list[tuple[RunResult, list[int]]] = []
        for _ in range(2):  # a first sync, and a repeat that finds nothing new
            fake.controls.log.clear()
            result = _run_sync(engine, settings, lambda s: s.prices())
            markets = fake.requests_to("/coins/markets")
            if len(fake.requests) != len(markets):
                raise BenchError(f"unexpected requests: {[r.path for r in fake.requests]}")
            runs.append((result, [len(r.query.get("ids", "").split(",")) for r in markets]))
    first = runs[0][0]
    section.add(
        f"A discover sync of the top {TOP_COINS} ({discover.calls} calls, {discover_requests} "
        f"requests logged by the fake, {tracked} active coins tracked), then "
        "`MarketSync.prices()` (`cryptopredict sync prices`) twice against the fake CoinGecko "
        "(in-process, loopback), counting the requests the fake logged during each.",
        "",
        "| prices sync | `/coins/markets` requests (fake's log) | ids per request "
        "| calls recorded | rows written | seconds |",
        "|---|---:|---|---:|---:|---:|",
    )
    for label, (result, ids) in zip(("first", "repeat"), runs, strict=True):
        section.add(
            f"| {label} | {len(ids)} | {', '.join(map(str, ids))} | {result.calls} "
            f"| {result.rows} | {result.seconds:.3f} |"
        )
    calls = len(runs[0][1])
    section.add(
        "",
        f"Target: 1 call per sync of the top {TOP_COINS}: "
        f"**{'meets' if calls == 1 == first.calls else 'MISSES'}** ({calls} call(s)).",
    )
    return section
