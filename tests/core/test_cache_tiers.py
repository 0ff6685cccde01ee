"""The Redis cache's local tier over a real Redis: hits answered in process, invalidations
pushed to every instance and process within the staleness bound, and no local copy served
once the process can no longer prove it is in step (lost connection, missed heartbeat)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import redis

from cryptopredict.core.cache import DEFAULT_STALENESS_SECONDS, RedisCache, cached_bytes

pytestmark = pytest.mark.services

BOUND = DEFAULT_STALENESS_SECONDS
T = TypeVar("T")


def _run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run a scenario on a fresh loop, failing rather than hanging after 20 s."""
    return asyncio.run(asyncio.wait_for(scenario, 20))


def _namespace() -> str:
    return f"test-{uuid.uuid4().hex}"


async def _until(condition: Callable[[], Awaitable[bool]], within: float = 3.0) -> float:
    """Seconds until `condition` holds (polled on the running loop); fails after `within` s."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.002)
    return time.monotonic() - started


async def _in_step(cache: RedisCache) -> None:
    async def ready() -> bool:
        await cache.lookup("warm-up", "k")  # starts the listener
        return cache.in_step

    await _until(ready)


async def _warm(cache: RedisCache, namespace: str, key: str, value: bytes) -> None:
    """Put `value` in Redis and in this instance's local tier."""
    await _in_step(cache)
    body = await cached_bytes(cache, namespace, key, _constant(value), alias=f"/{key}")
    assert body == value
    assert cache.peek(f"/{key}") == value


def _constant(value: bytes) -> Callable[[], Awaitable[bytes]]:
    async def compute() -> bytes:
        return value

    return compute


async def _missing(cache: RedisCache, namespace: str, key: str) -> bool:
    return (await cache.lookup(namespace, key)).value is None


def test_local_hits_need_no_redis_round_trip(redis_url: str) -> None:
    namespace = _namespace()

    async def scenario() -> None:
        cache = RedisCache(redis_url)
        try:
            await _warm(cache, namespace, "k", b"v1")
            redis.Redis.from_url(redis_url).delete(*_entry_keys(redis_url, namespace))
            # Gone from Redis, yet answered: the hit came from this process.
            assert (await cache.lookup(namespace, "k")).value == b"v1"
            assert cache.peek("/k") == b"v1"
            cache.invalidate(namespace)  # a write in this process shows here at once
            assert cache.peek("/k") is None
            assert await _missing(cache, namespace, "k")
        finally:
            await cache.aclose()

    _run(scenario())


def _entry_keys(redis_url: str, namespace: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    return [
        key
        for key in client.scan_iter(f"cryptopredict:cache:{namespace}:*")
        if not key.endswith(b":generation")
    ]


def test_write_through_another_instance_reaches_the_local_tier_within_the_bound(
    redis_url: str,
) -> None:
    namespace = _namespace()

    async def scenario() -> float:
        reader, writer = RedisCache(redis_url), RedisCache(redis_url)
        try:
            await _warm(reader, namespace, "k", b"old")
            writer.invalidate(namespace)
            delay = await _until(lambda: _missing(reader, namespace, "k"), within=BOUND)
            assert reader.peek("/k") is None
            return delay
        finally:
            await reader.aclose()
            await writer.aclose()

    assert _run(scenario()) < BOUND


def test_a_blocked_event_loop_keeps_the_local_tier_in_step(redis_url: str) -> None:
    """The listener runs beside the event loop: a loop busy for longer than the bound (as
    under hundreds of connections) neither turns the local tier off nor misses a write."""
    namespace = _namespace()

    async def scenario() -> None:
        reader, writer = RedisCache(redis_url), RedisCache(redis_url)
        try:
            await _warm(reader, namespace, "k", b"old")
            time.sleep(2 * BOUND)  # noqa: ASYNC251 -- blocks this loop on purpose: no task runs
            assert reader.in_step
            assert reader.peek("/k") == b"old"
            writer.invalidate(namespace)
            time.sleep(BOUND / 2)  # noqa: ASYNC251 -- still blocked, yet the write is applied
            assert reader.in_step
            assert reader.peek("/k") is None
        finally:
            await reader.aclose()
            await writer.aclose()

    _run(scenario())


_WRITER = """
import sys
from cryptopredict.core.cache import RedisCache
RedisCache(sys.argv[1]).invalidate(sys.argv[2])
"""


def test_write_in_another_process_reaches_the_local_tier_within_the_bound(
    redis_url: str,
) -> None:
    namespace = _namespace()

    async def scenario() -> float:
        reader = RedisCache(redis_url)
        try:
            await _warm(reader, namespace, "k", b"old")
            writer = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _WRITER, redis_url, namespace, env=dict(os.environ)
            )
            assert await writer.wait() == 0
            written = time.monotonic()  # the write is complete once the process has exited
            await _until(lambda: _missing(reader, namespace, "k"), within=BOUND)
            return time.monotonic() - written
        finally:
            await reader.aclose()

    assert _run(scenario()) < BOUND


def test_value_computed_across_a_write_is_not_kept_locally(redis_url: str) -> None:
    namespace = _namespace()

    async def scenario() -> None:
        reader, writer = RedisCache(redis_url), RedisCache(redis_url)
        try:
            await _in_step(reader)
            before_write = await reader.lookup(namespace, "k")
            writer.invalidate(namespace)  # commits while the reader computes the old body
            await _until(lambda: _generation_seen(reader, namespace, before_write.generation))
            await reader.store(before_write, b"stale")
            reader.remember("/k", before_write)
            assert await _missing(reader, namespace, "k")
            assert reader.peek("/k") is None
        finally:
            await reader.aclose()
            await writer.aclose()

    _run(scenario())


async def _generation_seen(cache: RedisCache, namespace: str, old: int | None) -> bool:
    found = await cache.lookup(namespace, "probe")
    return found.generation is not None and old is not None and found.generation > old


def test_local_copy_expires_with_the_redis_entry(redis_url: str) -> None:
    namespace = _namespace()

    async def scenario() -> None:
        cache = RedisCache(redis_url, ttl_seconds=1.0)
        try:
            await _warm(cache, namespace, "k", b"v")
            await asyncio.sleep(1.05)
            assert cache.peek("/k") is None
            assert await _missing(cache, namespace, "k")
        finally:
            await cache.aclose()

    _run(scenario())


def test_no_local_copy_is_served_once_the_heartbeat_is_older_than_the_bound(
    redis_url: str,
) -> None:
    namespace = _namespace()
    skew = [0.0]

    async def scenario() -> None:
        cache = RedisCache(redis_url, clock=lambda: time.monotonic() + skew[0])
        try:
            await _warm(cache, namespace, "k", b"v")
            # Time passes without the listener running (a stalled connection or loop): the
            # local tier stops answering at once, and lookups go back to Redis.
            skew[0] += BOUND + 0.01
            assert not cache.in_step
            assert cache.peek("/k") is None
            assert (await cache.lookup(namespace, "k")).value == b"v"  # from Redis
            await _until(lambda: _is_in_step(cache))  # the next heartbeat restores it
            await cached_bytes(cache, namespace, "k", _constant(b"unused"), alias="/k")
            assert cache.peek("/k") == b"v"
        finally:
            await cache.aclose()

    _run(scenario())


async def _is_in_step(cache: RedisCache) -> bool:
    return cache.in_step


@contextlib.asynccontextmanager
async def _proxy(target_host: str, target_port: int, port: int = 0) -> AsyncIterator[int]:
    """A TCP relay to Redis; leaving the block closes it and every connection through it."""
    writers: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(target_host, target_port)
        writers.extend((client_w, server_w))
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(relay, "127.0.0.1", port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def test_lost_connection_turns_the_local_tier_off_until_back_in_step(redis_url: str) -> None:
    namespace = _namespace()
    parsed = urlsplit(redis_url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    db = parsed.path.strip("/") or "0"

    async def scenario() -> None:
        writer = RedisCache(redis_url)
        async with _proxy(host, port) as proxy_port:
            via_proxy = f"redis://127.0.0.1:{proxy_port}/{db}"
            cache = RedisCache(via_proxy, retry_after_seconds=0.1)
            await _warm(cache, namespace, "k", b"old")
        # Redis unreachable: the listener notices, the local tier is dropped.
        await _until(lambda: _not_in_step(cache), within=BOUND)
        assert cache.peek("/k") is None
        writer.invalidate(namespace)  # a write this process cannot hear about
        assert await _missing(cache, namespace, "k")  # uncached, never the old copy
        async with _proxy(host, port, proxy_port):
            await _until(lambda: _is_in_step(cache))
            assert await _missing(cache, namespace, "k")  # the new generation
            assert cache.peek("/k") is None
            await cache.aclose()
        await writer.aclose()

    _run(scenario())


async def _not_in_step(cache: RedisCache) -> bool:
    return not cache.in_step


def test_invalidations_in_another_redis_database_are_not_applied(redis_url: str) -> None:
    """Channels are server-wide; generations are per database, so the channel is too."""
    namespace = _namespace()
    parsed = urlsplit(redis_url)
    other_db = (int(parsed.path.strip("/") or "0") + 1) % 16
    other_url = parsed._replace(path=f"/{other_db}").geturl()

    async def scenario() -> None:
        cache, elsewhere = RedisCache(redis_url), RedisCache(other_url)
        try:
            await _warm(cache, namespace, "k", b"v")
            elsewhere.invalidate(namespace)
            await asyncio.sleep(0.1)
            assert cache.peek("/k") == b"v"
            assert (await cache.lookup(namespace, "k")).generation == 0
        finally:
            redis.Redis.from_url(other_url).delete(f"cryptopredict:cache:{namespace}:generation")
            await cache.aclose()
            await elsewhere.aclose()

    _run(scenario())


def test_hundreds_of_concurrent_lookups_wait_for_a_connection_instead_of_failing(
    redis_url: str,
) -> None:
    """More concurrent requests than the pool has connections (and than redis-py's default of
    100) all read Redis, and none turns the cache off as if Redis were down."""
    namespace = _namespace()

    async def scenario() -> list[bytes | None]:
        cache = RedisCache(redis_url, staleness_seconds=0)  # no local tier: every read is Redis
        try:
            await cached_bytes(cache, namespace, "k", _constant(b"v"))
            found = await asyncio.gather(*(cache.lookup(namespace, "k") for _ in range(300)))
            after = await cache.lookup(namespace, "k")
            return [f.value for f in found] + [after.value]
        finally:
            await cache.aclose()

    assert _run(scenario()) == [b"v"] * 301
