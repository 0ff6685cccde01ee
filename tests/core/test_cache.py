"""The response cache: hits, TTL, LRU, generations that make writes visible at once, the
Redis backend shared between processes, and HTTP routes that invalidate on writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient

from cryptopredict.core.cache import (
    CacheLookup,
    MemoryCache,
    RedisCache,
    ResponseCache,
    cached_bytes,
    create_cache,
)
from tests.factories import Factory


def _lookup(cache: ResponseCache, namespace: str, key: str) -> CacheLookup:
    return asyncio.run(cache.lookup(namespace, key))


def _store(cache: ResponseCache, found: CacheLookup, value: bytes) -> None:
    asyncio.run(cache.store(found, value))


def test_memory_hit_miss_and_invalidation() -> None:
    cache = MemoryCache()
    miss = _lookup(cache, "prices", "k")
    assert miss.value is None
    _store(cache, miss, b"v1")
    assert _lookup(cache, "prices", "k").value == b"v1"
    assert _lookup(cache, "other", "k").value is None
    cache.invalidate("prices")
    assert _lookup(cache, "prices", "k").value is None


def test_memory_entry_expires_after_ttl() -> None:
    now = [0.0]
    cache = MemoryCache(ttl_seconds=10, clock=lambda: now[0])
    _store(cache, _lookup(cache, "n", "k"), b"v")
    now[0] = 9.9
    assert _lookup(cache, "n", "k").value == b"v"
    now[0] = 10.0
    assert _lookup(cache, "n", "k").value is None


def test_memory_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2)
    for key in ("a", "b"):
        _store(cache, _lookup(cache, "n", key), key.encode())
    assert _lookup(cache, "n", "a").value == b"a"  # "a" is now the most recent
    _store(cache, _lookup(cache, "n", "c"), b"c")
    assert _lookup(cache, "n", "b").value is None
    assert _lookup(cache, "n", "a").value == b"a"
    assert _lookup(cache, "n", "c").value == b"c"


def test_value_computed_across_a_write_is_never_served() -> None:
    cache = MemoryCache()
    before_write = _lookup(cache, "prices", "k")
    cache.invalidate("prices")  # a write commits while the old value is being computed
    _store(cache, before_write, b"stale")
    assert _lookup(cache, "prices", "k").value is None


def test_cached_bytes_computes_once_and_does_not_cache_errors() -> None:
    cache = MemoryCache()
    calls = []

    async def compute() -> bytes:
        calls.append(1)
        return b"body"

    async def failing() -> bytes:
        raise LookupError("not found")

    assert asyncio.run(cached_bytes(cache, "n", "k", compute)) == b"body"
    assert asyncio.run(cached_bytes(cache, "n", "k", compute)) == b"body"
    assert len(calls) == 1
    for _ in range(2):
        with pytest.raises(LookupError):
            asyncio.run(cached_bytes(cache, "n", "missing", failing))


def test_redis_cache_is_shared_and_invalidated_across_instances(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"

    async def scenario() -> None:
        first, second = RedisCache(redis_url), RedisCache(redis_url)
        try:
            miss = await first.lookup(namespace, "k")
            assert miss.value is None
            await first.store(miss, b"v1")
            assert (await second.lookup(namespace, "k")).value == b"v1"
            stale = await second.lookup(namespace, "other")
            second.invalidate(namespace)
            assert (await first.lookup(namespace, "k")).value is None
            await first.store(stale, b"stale")
            assert (await first.lookup(namespace, "other")).value is None
        finally:
            await first.aclose()
            await second.aclose()

    asyncio.run(scenario())


def test_redis_down_is_a_miss_not_an_error() -> None:
    async def scenario() -> None:
        cache = RedisCache("redis://127.0.0.1:1/0")
        found = await cache.lookup("n", "k")
        assert found.value is None
        await cache.store(found, b"v")
        cache.invalidate("n")
        await cache.aclose()

    asyncio.run(scenario())


def test_history_is_cached_until_a_price_write(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, [100.0, 101.0])
    url = "/api/v1/prices/bitcoin/history"
    assert [p["price"] for p in client.get(url).json()["points"]] == [100.0, 101.0]

    # A row written behind the API's back is not seen: the response came from the cache.
    factory.daily_prices(coin, [102.0], start=factory_day(2))
    assert len(client.get(url).json()["points"]) == 2

    # A write through the API starts a new generation, so the next read sees everything.
    admin = factory.admin()
    written = client.post(
        "/api/v1/prices/bulk",
        json={
            "points": [
                {
                    "coin": "bitcoin",
                    "interval": "1d",
                    "timestamp": "2024-01-04T00:00:00Z",
                    "price": 103.0,
                }
            ]
        },
        headers=factory.headers(admin),
    )
    assert written.status_code == 200 and written.json()["written"] == 1
    assert [p["price"] for p in client.get(url).json()["points"]] == [100.0, 101.0, 102.0, 103.0]


def test_deleting_a_coin_invalidates_its_cached_history(
    client: TestClient, factory: Factory
) -> None:
    coin = factory.coin("dogecoin", symbol="doge")
    factory.daily_prices(coin, [0.1])
    assert client.get("/api/v1/prices/doge/history").status_code == 200
    admin = factory.admin()
    assert (
        client.delete("/api/v1/coins/dogecoin", headers=factory.headers(admin)).status_code == 204
    )
    assert client.get("/api/v1/prices/doge/history").status_code == 404


def factory_day(offset: int) -> dt.datetime:
    """The start instant `offset` days after the factory's default first day."""

    return dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=offset)


def test_ttl_zero_switches_caching_off() -> None:
    cache = create_cache(None, ttl_seconds=0)
    found = _lookup(cache, "n", "k")
    _store(cache, found, b"v")
    assert _lookup(cache, "n", "k").value is None
    assert isinstance(create_cache(None, ttl_seconds=5), MemoryCache)


def test_concurrent_misses_share_one_computation() -> None:
    cache = MemoryCache()
    calls = []

    async def slow() -> bytes:
        calls.append(1)
        await asyncio.sleep(0.05)
        return b"body"

    async def many() -> list[bytes]:
        return list(await asyncio.gather(*(cached_bytes(cache, "n", "k", slow) for _ in range(8))))

    assert asyncio.run(many()) == [b"body"] * 8
    assert len(calls) == 1


def test_concurrent_misses_share_a_failure_and_the_next_call_retries() -> None:
    cache = MemoryCache()
    calls = []

    async def failing() -> bytes:
        calls.append(1)
        await asyncio.sleep(0.02)
        raise LookupError("boom")

    async def many() -> list[object]:
        tasks = (cached_bytes(cache, "n", "k", failing) for _ in range(4))
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    results = asyncio.run(many())
    assert all(isinstance(r, LookupError) for r in results) and len(calls) == 1
    asyncio.run(many())
    assert len(calls) == 2
