"""The token bucket: its bound holds for concurrent tasks, threads and several processes
sharing Redis (measured on the recorded grant instants), and it survives Redis going away."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest

from cryptopredict.marketdata.exceptions import RateLimitWaitExceededError
from cryptopredict.marketdata.ratelimit import BucketConfig, Grant, RateLimiter

# Nothing closer than 127.0.0.1 port 1: connecting is refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


def assert_within_bucket(instants: list[float], capacity: float, rate: float) -> None:
    """No window [a, b] holds more than capacity + rate * (b - a) grants (give or take 10 us:
    Unix instants as doubles carry about 0.2 us of rounding)."""
    ordered = sorted(instants)
    for i, first in enumerate(ordered):
        for j in range(i, len(ordered)):
            allowed = capacity + rate * (ordered[j] - first + 1e-5)
            assert j - i + 1 <= allowed, (
                f"{j - i + 1} grants within {ordered[j] - first:.4f}s, bucket allows {allowed:.2f}"
            )


def test_per_minute_budget_is_never_exceeded_in_any_minute() -> None:
    config = BucketConfig.per_minute(30)
    assert (config.capacity, config.refill_per_second) == (3, 27 / 60)
    assert config.capacity + config.refill_per_second * 60 == 30
    assert BucketConfig.per_minute(600, capacity=5).refill_per_second == 595 / 60
    with pytest.raises(ValueError, match="capacity"):
        BucketConfig(capacity=0.5, refill_per_second=1)


@pytest.mark.anyio
async def test_concurrent_tasks_get_tokens_within_the_bound_and_wait_for_them() -> None:
    capacity, rate = 3, 50.0
    limiter = RateLimiter(BucketConfig(capacity, rate))
    done: list[tuple[Grant, float]] = []

    async def worker() -> None:
        for _ in range(5):
            grant = await limiter.acquire()
            done.append((grant, time.monotonic()))

    await asyncio.gather(*(worker() for _ in range(6)))
    assert len(done) == 30
    assert {grant.backend for grant, _ in done} == {"memory"}
    assert_within_bucket([grant.ready_at for grant, _ in done], capacity, rate)
    # nobody went ahead before its token existed (same monotonic clock; 1 ms for the timer)
    assert all(returned >= grant.ready_at - 1e-3 for grant, returned in done)


def test_threads_each_with_their_own_loop_share_one_bucket() -> None:
    capacity, rate = 2, 60.0
    limiter = RateLimiter(BucketConfig(capacity, rate))

    async def burst() -> list[Grant]:
        return [await limiter.acquire() for _ in range(6)]

    with ThreadPoolExecutor(4) as pool:
        grants = [g for batch in pool.map(lambda _: asyncio.run(burst()), range(4)) for g in batch]
    assert len(grants) == 24
    assert_within_bucket([g.ready_at for g in grants], capacity, rate)


@pytest.mark.anyio
async def test_max_wait_refuses_without_taking_a_token() -> None:
    limiter = RateLimiter(BucketConfig(capacity=1, refill_per_second=10))
    await limiter.acquire()
    with pytest.raises(RateLimitWaitExceededError) as refused:
        await limiter.acquire(max_wait=0.001)
    assert 0 < refused.value.wait_seconds <= 0.1
    grant = await limiter.acquire(max_wait=1)
    assert grant.waited <= 0.1 + 1e-9  # had the refusal taken a token, this would be ~0.2


@pytest.mark.anyio
async def test_penalize_holds_every_caller_back() -> None:
    limiter = RateLimiter(BucketConfig(capacity=5, refill_per_second=100))
    asked = time.monotonic()
    await limiter.penalize(0.3)
    assert (await limiter.snapshot()).tokens_available == 0
    grant = await limiter.acquire()
    assert grant.ready_at >= asked + 0.3


@pytest.mark.anyio
async def test_snapshot_without_redis() -> None:
    limiter = RateLimiter(BucketConfig.per_minute(30))
    await limiter.acquire()
    snapshot = await limiter.snapshot()
    assert snapshot.backend == "memory"
    assert (snapshot.redis_configured, snapshot.degraded) == (False, False)
    assert (snapshot.capacity, snapshot.max_calls_per_minute) == (3, 30)
    assert 2 <= snapshot.tokens_available < 2.1
    assert limiter.snapshot_blocking().backend == "memory"


@pytest.mark.anyio
async def test_unreachable_redis_falls_back_to_this_process_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cryptopredict.marketdata.ratelimit")
    limiter = RateLimiter(BucketConfig(2, 100), redis_url=DEAD_REDIS_URL, retry_redis_after=60)
    grants = [await limiter.acquire() for _ in range(5)]
    assert {g.backend for g in grants} == {"memory"}
    assert_within_bucket([g.ready_at for g in grants], 2, 100)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "Redis unavailable" in warnings[0]
    snapshot = await limiter.snapshot()
    assert (snapshot.backend, snapshot.redis_configured, snapshot.degraded) == (
        "memory",
        True,
        True,
    )
    await limiter.aclose()


# ---- Redis ----------------------------------------------------------------------------------


def acquire_in_process(
    redis_url: str, key: str, capacity: float, rate: float, tasks: int, each: int, start_at: float
) -> list[tuple[float, float, str]]:
    """One worker process: `tasks` concurrent tasks taking `each` tokens from the shared
    bucket; returns (wall clock after the grant, grant instant in Redis time, backend)."""

    async def main() -> list[tuple[float, float, str]]:
        limiter = RateLimiter(BucketConfig(capacity, rate), redis_url=redis_url, key=key)
        taken: list[tuple[float, float, str]] = []

        async def task() -> None:
            for _ in range(each):
                grant = await limiter.acquire()
                taken.append((time.time(), grant.ready_at, grant.backend))

        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(task() for _ in range(tasks)))
        await limiter.aclose()
        return taken

    return asyncio.run(main())


@pytest.mark.services
@pytest.mark.slow
def test_processes_sharing_the_redis_bucket_never_exceed_it(redis_url: str, redis_key: str) -> None:
    capacity, rate = 4, 20.0  # 1 200 calls per minute, small bursts: about 3 s of work
    processes, tasks, each = 3, 3, 6
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 1.0  # let every process import first, then start together
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [
            pool.submit(
                acquire_in_process, redis_url, redis_key, capacity, rate, tasks, each, start_at
            )
            for _ in range(processes)
        ]
        results = [future.result(timeout=60) for future in futures]
    taken = [entry for result in results for entry in result]
    assert len(taken) == processes * tasks * each
    assert {backend for *_, backend in taken} == {"redis"}
    granted = [ready for _, ready, _ in taken]
    assert_within_bucket(granted, capacity, rate)
    assert max(granted) - min(granted) >= (len(granted) - capacity) / rate - 1e-6
    if urlsplit(redis_url).hostname in ("127.0.0.1", "localhost"):  # same clock as Redis
        assert all(wall >= ready - 0.01 for wall, ready, _ in taken)


@pytest.mark.services
@pytest.mark.anyio
async def test_limiters_with_one_key_share_one_bucket(redis_url: str, redis_key: str) -> None:
    config = BucketConfig(capacity=3, refill_per_second=0.01)
    first = RateLimiter(config, redis_url=redis_url, key=redis_key)
    second = RateLimiter(config, redis_url=redis_url, key=redis_key)
    await first.acquire()
    await first.acquire()
    assert (await second.acquire()).backend == "redis"
    with pytest.raises(RateLimitWaitExceededError):
        await first.acquire(max_wait=1)
    snapshot = await second.snapshot()
    assert (snapshot.backend, snapshot.degraded) == ("redis", False)
    assert snapshot.tokens_available < 1
    assert second.snapshot_blocking().tokens_available < 1
    await first.aclose()
    await second.aclose()


class TcpProxy:
    """A TCP relay in front of the real Redis that a test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones."""
        self._open.clear()
        with self._lock:
            for end in self._sockets:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
            self._sockets.clear()

    def restore(self) -> None:
        """Relay again."""
        self._open.set()

    def close(self) -> None:
        """Stop listening."""
        self.cut()
        self._server.close()


@pytest.mark.services
@pytest.mark.anyio
async def test_limiter_falls_back_while_redis_is_cut_and_returns_to_it(
    redis_url: str, redis_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cryptopredict.marketdata.ratelimit")
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
    proxied = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    limiter = RateLimiter(
        BucketConfig(100, 100), redis_url=proxied, key=redis_key, retry_redis_after=0.2
    )
    try:
        assert (await limiter.acquire()).backend == "redis"
        proxy.cut()
        assert (await limiter.acquire()).backend == "memory"
        assert (await limiter.snapshot()).degraded
        proxy.restore()
        deadline = time.monotonic() + 5
        while (await limiter.acquire()).backend != "redis":
            assert time.monotonic() < deadline, "the limiter never went back to Redis"
            await asyncio.sleep(0.05)
        assert not (await limiter.snapshot()).degraded
    finally:
        await limiter.aclose()
        proxy.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("Redis unavailable" in m for m in messages)
    assert any("reachable again" in m for m in messages)
