"""Benchmark: the live stream (`GET /api/v1/stream`) holding many clients on one worker.

The target ("Forecasts in service", item 7): 500 concurrent Server-Sent Events clients held
for 60 s on one worker, memory per client, and price-event fan-out latency p99 < 1 s.

One `cryptopredict serve --workers 1` with Redis (the deployment where syncs run in other
processes), on SQLite: a stream reads no database. The benchmark process opens the clients
(plain asyncio sockets parsing the chunked event stream, on uvloop), then publishes prices
as a sync of the top `SYNC_COINS` coins would, one batch every `BATCH_SECONDS`, through
`stream.service.publish_prices` into the same Redis. Most clients watch a few coins, some
every coin. A client notes when each event's bytes arrive; the latency of an event at a
client is that instant minus the instant just before its batch was published (one clock:
both happen in this process). Memory per client is the worker's RSS with every client
connected minus its RSS with one, divided by the clients. The section fails instead of
showing figures when a client is dropped or misses an event, or when p99 misses the target.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.common import (
    REDIS_URL,
    BenchError,
    Section,
    flushed_redis,
    percentile,
    raise_open_files_limit,
    running_server,
)
from cryptopredict.core.config import Settings
from cryptopredict.stream import service as stream_service
from cryptopredict.stream.schemas import PriceEvent

CLIENTS = 500
EVERY_COIN_CLIENTS = 100
"""Clients that take every coin; the others take `WATCHED_COINS` each."""
WATCHED_COINS = 3
SECONDS = 60
SYNC_COINS = 250
BATCH_SECONDS = 5
TARGET_P99_SECONDS = 1.0
CONNECT_CONCURRENCY = 50
OPEN_FILES_NEEDED = CLIENTS + 1024
PATH = "/api/v1/stream"
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FIVE_MINUTES = dt.timedelta(minutes=5)


@dataclass
class _Client:
    """One connection's view: when each event id arrived, and what else it saw."""

    coins: frozenset[str] | None
    arrivals: list[tuple[bytes, float]] = field(default_factory=list)
    heartbeats: int = 0
    ended: str | None = None


def _coins() -> list[str]:
    return [f"coin-{rank:03d}" for rank in range(1, SYNC_COINS + 1)]


async def _follow(host: str, port: int, client: _Client, connected: asyncio.Event) -> None:
    """Hold one stream, noting event arrivals until cancelled."""
    query = "" if client.coins is None else "?coins=" + ",".join(sorted(client.coins))
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET {PATH}{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise BenchError(f"the stream answered {head.splitlines()[0]!r}")
        pending = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                client.ended = "the server ended the stream"
                return
            chunk = (await reader.readexactly(size + 2))[:-2]
            arrived = time.time()
            frames = (pending + chunk).split(b"\n\n")
            pending = frames.pop()
            for frame in frames:
                if frame.startswith(b"id: "):
                    client.arrivals.append((frame[4 : frame.index(b"\n")], arrived))
                elif frame == b": heartbeat":
                    client.heartbeats += 1
                elif frame.startswith(b"retry:"):
                    connected.set()
    except (OSError, asyncio.IncompleteReadError) as exc:
        client.ended = f"{type(exc).__name__}: {exc}"
    finally:
        writer.close()


def _worker_rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def _worker_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@dataclass
class _Run:
    clients: list[_Client]
    published: dict[bytes, tuple[float, str]]
    batches: int
    rss_one: int
    rss_all: int
    connect_seconds: float
    cpu_seconds: float
    """The worker's CPU time (user + system) while the clients were held."""


async def _hold(host: str, port: int, pid: int) -> _Run:
    """Connect the clients, publish batches for SECONDS, then let every client go."""
    coins = _coins()
    pick = random.Random(20261206)
    clients = [_Client(None) for _ in range(EVERY_COIN_CLIENTS)] + [
        _Client(frozenset(pick.sample(coins, WATCHED_COINS)))
        for _ in range(CLIENTS - EVERY_COIN_CLIENTS)
    ]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks: list[asyncio.Task[None]] = []

    async def start(client: _Client) -> None:
        async with gate:
            connected = asyncio.Event()
            tasks.append(asyncio.create_task(_follow(host, port, client, connected)))
            await asyncio.wait_for(connected.wait(), 30)

    await start(clients[0])
    await asyncio.sleep(1)
    rss_one = _worker_rss(pid)
    started = time.perf_counter()
    await asyncio.gather(*(start(client) for client in clients[1:]))
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1)
    rss_all = _worker_rss(pid)
    cpu_before = _worker_cpu(pid)

    settings = Settings(redis_url=REDIS_URL)
    published: dict[bytes, tuple[float, str]] = {}
    batches = 0
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        prices = [
            PriceEvent(
                coin=coin,
                interval="5m",
                timestamp=EPOCH + batches * FIVE_MINUTES,
                price=100.0 + batches,
                volume=None,
                market_cap=None,
                updated_at=None,
            )
            for coin in coins
        ]
        sent = time.time()
        ids = await asyncio.to_thread(stream_service.publish_prices, prices, settings=settings)
        if len(ids) != len(prices):
            raise BenchError("Redis did not take the published events")
        for event_id, price in zip(ids, prices, strict=True):
            published[event_id.encode()] = (sent, price.coin)
        batches += 1
        await asyncio.sleep(min(BATCH_SECONDS, max(0.0, deadline - time.monotonic())))
    await asyncio.sleep(2)  # the last batch's stragglers
    cpu_seconds = _worker_cpu(pid) - cpu_before
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _Run(clients, published, batches, rss_one, rss_all, connect_seconds, cpu_seconds)


def _run_clients(host: str, port: int, pid: int) -> _Run:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(_hold(host, port, pid))
    return uvloop.run(_hold(host, port, pid))


def _judge(run: _Run) -> tuple[list[float], list[float], list[float]]:
    """Latencies of all deliveries, of every-coin clients, of few-coin clients; raises when
    a client was dropped or an event did not reach a client that wanted it."""
    dropped = [client.ended for client in run.clients if client.ended]
    if dropped:
        raise BenchError(f"{len(dropped)} client(s) dropped: {Counter(dropped).most_common(3)}")
    everything: list[float] = []
    by_kind: dict[bool, list[float]] = {True: [], False: []}
    missing = 0
    for client in run.clients:
        wanted = {
            event_id
            for event_id, (_, coin) in run.published.items()
            if client.coins is None or coin in client.coins
        }
        arrived = dict(client.arrivals)
        missing += len(wanted - arrived.keys())
        for event_id in wanted & arrived.keys():
            latency = arrived[event_id] - run.published[event_id][0]
            everything.append(latency)
            by_kind[client.coins is None].append(latency)
    if missing:
        raise BenchError(f"{missing} event deliveries never arrived")
    for values in (everything, *by_kind.values()):
        values.sort()
    return everything, by_kind[True], by_kind[False]


def _ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:,.0f}"


def run() -> Section:
    """Hold the clients, publish, measure, judge the target."""
    open_files_before, open_files = raise_open_files_limit(OPEN_FILES_NEEDED)
    section = Section(
        f"Live stream: {CLIENTS} clients for {SECONDS} s on one worker "
        "(`cryptopredict serve --workers 1`, Redis)"
    )
    with (
        flushed_redis(),
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
    ):
        database = f"sqlite:///{Path(data_dir) / 'stream.db'}"
        with running_server(
            database, Path(data_dir), workers=1, extra_env={"CRYPTOPREDICT_REDIS_URL": REDIS_URL}
        ) as server:
            host, port = server.base_url.removeprefix("http://").split(":")
            run = _run_clients(host, int(port), server.process.pid)
            command = " ".join(["cryptopredict", *server.command[1:]])
    everything, every_coin, few_coins = _judge(run)
    p99 = percentile(everything, 0.99)
    if p99 >= TARGET_P99_SECONDS:
        raise BenchError(
            f"target missed: fan-out p99 {p99 * 1000:,.0f} ms (max {everything[-1] * 1000:,.0f}"
            f" ms) over {len(everything):,} deliveries"
        )
    per_client = (run.rss_all - run.rss_one) / (CLIENTS - 1)
    heartbeats = min(client.heartbeats for client in run.clients)
    section.add(
        f"Server: `{command}` with `CRYPTOPREDICT_REDIS_URL={REDIS_URL}` (flushed before and "
        "after), port chosen free on 127.0.0.1, access log off, log level WARNING, default "
        f"heartbeat (15 s) and buffer. Open-files limit: {open_files} (was "
        f"{open_files_before}).",
        "",
        f"Clients: {CLIENTS} connections from one asyncio process (uvloop, raw sockets "
        f"parsing the chunked stream), {EVERY_COIN_CLIENTS} on every coin and "
        f"{CLIENTS - EVERY_COIN_CLIENTS} on {WATCHED_COINS} coins each, connected in "
        f"{run.connect_seconds:.1f} s and held {SECONDS} s; none dropped, every client got "
        f"at least {heartbeats} heartbeats. Events: {run.batches} batches of {SYNC_COINS} "
        f"price events (a prices sync of the top {SYNC_COINS}), one every {BATCH_SECONDS} s, "
        "published from the benchmark process through `stream.service.publish_prices`; "
        f"{len(everything):,} deliveries, every one that was due arrived.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| fan-out latency p50 / p90 / p99 / max, ms | {_ms(everything, 0.5)} / "
        f"{_ms(everything, 0.9)} / {_ms(everything, 0.99)} / {everything[-1] * 1000:,.0f} |",
        f"| p99 for every-coin clients ({len(every_coin):,} deliveries), ms "
        f"| {_ms(every_coin, 0.99)} |",
        f"| p99 for {WATCHED_COINS}-coin clients ({len(few_coins):,} deliveries), ms "
        f"| {_ms(few_coins, 0.99)} |",
        f"| worker RSS with 1 client / with {CLIENTS}, MiB "
        f"| {run.rss_one / 2**20:,.1f} / {run.rss_all / 2**20:,.1f} |",
        f"| memory per client (RSS delta / {CLIENTS - 1}), KiB | {per_client / 1024:,.1f} |",
        f"| worker CPU time while the clients were held (user + system), s "
        f"| {run.cpu_seconds:,.1f} of {SECONDS + 2} |",
        "",
        "Latency is publish → bytes read by the client, so it includes the client process's "
        "own delays on this shared machine (it parses every delivery in Python).",
        "",
        f"Target: fan-out p99 < {TARGET_P99_SECONDS * 1000:,.0f} ms with {CLIENTS} clients "
        f"held {SECONDS} s on one worker: **meets** (the section fails instead when it does "
        "not).",
    )
    return section
