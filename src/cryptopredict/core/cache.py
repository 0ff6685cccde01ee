"""Response cache for hot read endpoints, in Redis when configured, else in process memory.

Entries live under a namespace whose *generation* is bumped by every write that changes the
namespace's data. A lookup reads the current generation and the entry in one step, and an
entry computed while a write was committing is stored under the old generation, where no one
reads it again: a write is visible to the next read, never hidden by a stale entry. Without
Redis, generations are per process, so writes made by another process (a CLI import beside a
multi-worker server) show after at most the TTL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import redis
import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

PRICES_NAMESPACE = "prices"
KEY_PREFIX = "cryptopredict:cache:"


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """A cached value (or None) and the slot to store a freshly computed one under."""

    value: bytes | None
    slot: str


class ResponseCache(Protocol):
    """What the routes and the writers need from a cache."""

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """The entry for `key` in the namespace's current generation."""
        ...

    async def store(self, slot: str, value: bytes) -> None:
        """Keep `value` in `slot` for the TTL."""
        ...

    def invalidate(self, namespace: str) -> None:
        """Start a new generation: every entry of the namespace is gone for readers."""
        ...


class MemoryCache:
    """Bounded LRU in this process, with a TTL per entry."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 30.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._generations: dict[str, int] = {}
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """See `ResponseCache.lookup` (no I/O: safe on the event loop)."""
        with self._lock:
            slot = f"{namespace}:{self._generations.get(namespace, 0)}:{key}"
            entry = self._entries.get(slot)
            if entry is None:
                return CacheLookup(None, slot)
            expires, value = entry
            if expires <= self._clock():
                del self._entries[slot]
                return CacheLookup(None, slot)
            self._entries.move_to_end(slot)
            return CacheLookup(value, slot)

    async def store(self, slot: str, value: bytes) -> None:
        """See `ResponseCache.store`; evicts the least recently used entries when full."""
        with self._lock:
            self._entries[slot] = (self._clock() + self._ttl, value)
            self._entries.move_to_end(slot)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, namespace: str) -> None:
        """See `ResponseCache.invalidate`; old entries age out of the LRU."""
        with self._lock:
            self._generations[namespace] = self._generations.get(namespace, 0) + 1


class NullCache:
    """Caching switched off (`CRYPTOPREDICT_CACHE_TTL_SECONDS=0`): every lookup misses."""

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """Always a miss."""
        return CacheLookup(None, "")

    async def store(self, slot: str, value: bytes) -> None:
        """Keeps nothing."""

    def invalidate(self, namespace: str) -> None:
        """Nothing to invalidate."""


# One round trip: read the generation and the entry stored under it.
_LOOKUP_SCRIPT = """
local generation = redis.call('GET', KEYS[1]) or '0'
local slot = ARGV[1] .. generation .. ':' .. ARGV[2]
return {slot, redis.call('GET', slot)}
"""


class RedisCache:
    """Shared by every process; a Redis failure is a cache miss, never a failed request."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 30.0,
        retry_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._async = aioredis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._sync = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._lookup = self._async.register_script(_LOOKUP_SCRIPT)
        self._ttl_ms = int(ttl_seconds * 1000)
        self._retry_after = retry_after_seconds
        self._clock = clock
        self._down_until = 0.0

    def _usable(self) -> bool:
        return self._clock() >= self._down_until

    def _failed(self, action: str, exc: Exception) -> None:
        """Back off from Redis for a few seconds so requests don't each pay a timeout."""
        self._down_until = self._clock() + self._retry_after
        logger.warning("response cache %s failed, serving uncached: %s", action, exc)

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """See `ResponseCache.lookup`."""
        fallback = CacheLookup(None, "")
        if not self._usable():
            return fallback
        try:
            slot, value = await self._lookup(
                keys=[f"{KEY_PREFIX}{namespace}:generation"],
                args=[f"{KEY_PREFIX}{namespace}:", key],
            )
        except (redis.RedisError, OSError) as exc:
            self._failed("lookup", exc)
            return fallback
        return CacheLookup(value, slot.decode() if isinstance(slot, bytes) else str(slot))

    async def store(self, slot: str, value: bytes) -> None:
        """See `ResponseCache.store`."""
        if not slot or not self._usable():
            return
        try:
            await self._async.set(slot, value, px=self._ttl_ms)
        except (redis.RedisError, OSError) as exc:
            self._failed("store", exc)

    def invalidate(self, namespace: str) -> None:
        """See `ResponseCache.invalidate`; always tried, even while backing off."""
        try:
            self._sync.incr(f"{KEY_PREFIX}{namespace}:generation")
        except (redis.RedisError, OSError) as exc:
            self._failed("invalidate", exc)

    async def aclose(self) -> None:
        """Close both connection pools."""
        await self._async.aclose()
        self._sync.close()


def create_cache(
    redis_url: str | None, *, ttl_seconds: float
) -> MemoryCache | RedisCache | NullCache:
    """The cache for this deployment: shared through Redis when there is one, none at TTL 0."""
    if ttl_seconds == 0:
        return NullCache()
    if redis_url:
        return RedisCache(redis_url, ttl_seconds=ttl_seconds)
    return MemoryCache(ttl_seconds=ttl_seconds)


_inflight: dict[str, asyncio.Future[bytes]] = {}


async def cached_bytes(
    cache: ResponseCache,
    namespace: str,
    key: str,
    compute: Callable[[], Awaitable[bytes]],
) -> bytes:
    """The cached value for `key`, or compute, store and return it (errors are not cached).

    Concurrent misses for the same slot in one process share a single computation, so an
    expired entry under load costs one query, not one per waiting request.
    """
    found = await cache.lookup(namespace, key)
    if found.value is not None:
        return found.value
    flight_key = f"{id(cache)}:{found.slot or namespace + ':' + key}"
    pending = _inflight.get(flight_key)
    if pending is not None:
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.cancelled():
                raise  # this request itself was cancelled
            return await compute()  # the leader's request went away: compute for ourselves
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    _inflight[flight_key] = future
    try:
        value = await compute()
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: waiters re-raise it themselves
        raise
    finally:
        _inflight.pop(flight_key, None)
    future.set_result(value)
    await cache.store(found.slot, value)
    return value
