"""Response cache for hot read endpoints, in Redis when configured, else in process memory.

Entries live under a namespace whose *generation* is bumped by every write that changes the
namespace's data. A lookup reads the current generation and the entry in one step, and an
entry computed while a write was committing is stored under the old generation, where no one
reads it again: a write is visible to the next read, never hidden by a stale entry. Without
Redis, generations are per process, so writes made by another process (a CLI import beside a
multi-worker server) show after at most the TTL.

With Redis, each process also keeps a *local tier*: copies of the bodies it read or stored,
tagged with their generation, answered without a round trip. A local copy is served only
while the process is provably in step with Redis's generations: every bump is published on a
channel the process listens to, and the listener pings Redis on the same connection every
`staleness_seconds / 4`. Redis answers a PING after delivering every message published
before it, so once the reply to a PING sent at time `s` is in, every invalidation Redis
accepted before `s` has been applied here. Local copies are trusted only while that `s` is
less than `staleness_seconds` old, so a write made through any process is hidden from this
one for at most `staleness_seconds` (and not at all in the writing process). A lost
connection, a missed heartbeat or a Redis failure drops the local tier at once and reads go
to Redis (or, while it is down, to the database) until the listener is back in step. The
listener is a thread of its own: an event loop busy with hundreds of connections would
otherwise delay invalidations, and age the heartbeat until the local tier turned off just
when it saves the most.

Each tier also remembers, for the requests it answered (`cached_bytes(alias=...)`, an alias
naming the request as its route reads it), which entry answered them, so `peek(alias)` can
serve a repeated request from memory before any routing or parameter parsing (see
`core.middleware.CachedResponseMiddleware`); it applies the same generation and TTL checks
as a lookup. Aliases are bounded like the entries (least recently remembered dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

PRICES_NAMESPACE = "prices"
FORECASTS_NAMESPACE = "forecasts"
KEY_PREFIX = "cryptopredict:cache:"
INVALIDATION_CHANNEL = f"{KEY_PREFIX}invalidations:"  # + the database number: channels
# are server-wide, generations are per database
DEFAULT_STALENESS_SECONDS = 1.0
REDIS_POOL_CONNECTIONS = 64
"""Connections per process for cache reads and writes. Requests beyond it wait for one (up to
`REDIS_POOL_WAIT_SECONDS`) instead of failing: under hundreds of concurrent requests a failure
would read as Redis being down and send every request to the database for seconds."""
REDIS_POOL_WAIT_SECONDS = 2.0
LOCAL_MAX_ENTRIES = 2048
LOCAL_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """A cached value (or None) and the slot to store a freshly computed one under.

    `namespace` and `generation` say which generation the slot belongs to (None: the
    backend could not tell, so nothing computed for it is kept in process).
    """

    value: bytes | None
    slot: str
    namespace: str = ""
    generation: int | None = None


class ResponseCache(Protocol):
    """What the routes and the writers need from a cache."""

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """The entry for `key` in the namespace's current generation."""
        ...

    async def store(self, found: CacheLookup, value: bytes) -> None:
        """Keep `value` in the slot `found` named, for the TTL."""
        ...

    def invalidate(self, namespace: str) -> None:
        """Start a new generation: every entry of the namespace is gone for readers."""
        ...

    def remember(self, alias: str, found: CacheLookup) -> None:
        """Note that the request `alias` was answered by the entry `found` names."""
        ...

    def peek(self, alias: str) -> bytes | None:
        """The body last served for the request `alias`, while it is still current (no I/O)."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    namespace: str
    generation: int
    expires: float
    value: bytes


class _LocalTier:
    """Bodies held in this process: an LRU bounded in entries and bytes, each entry tagged
    with its namespace's generation, plus the exact requests each one answered."""

    def __init__(self, *, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._aliases: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, slot: str) -> _Entry | None:
        """The unexpired entry in `slot`."""
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                self._drop(slot)
                return None
            self._entries.move_to_end(slot)
            return entry

    def by_alias(self, alias: str) -> _Entry | None:
        """The unexpired entry that last answered the request `alias`."""
        slot = self._aliases.get(alias)
        return None if slot is None else self.get(slot)

    def put(self, slot: str, entry: _Entry) -> None:
        """Keep `entry`, evicting the least recently used ones beyond the bounds."""
        size = len(entry.value)
        if size > self._max_bytes // 4:
            return
        with self._lock:
            self._drop(slot)
            self._entries[slot] = entry
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.value)

    def alias(self, alias: str, slot: str) -> None:
        """Remember that `slot` answered the request `alias` (when it is held here)."""
        with self._lock:
            if slot not in self._entries:
                return
            self._aliases[alias] = slot
            self._aliases.move_to_end(alias)
            while len(self._aliases) > self._max_entries:
                self._aliases.popitem(last=False)

    def drop_older(self, namespace: str, generation: int) -> None:
        """Free the entries of `namespace` from generations before `generation`."""
        with self._lock:
            stale = [
                slot
                for slot, entry in self._entries.items()
                if entry.namespace == namespace and entry.generation < generation
            ]
            for slot in stale:
                self._drop(slot)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._aliases.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, slot: str) -> None:
        entry = self._entries.pop(slot, None)
        if entry is not None:
            self._bytes -= len(entry.value)


class MemoryCache:
    """Bounded LRU in this process, with a TTL per entry."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 30.0,
        max_entries: int = LOCAL_MAX_ENTRIES,
        max_bytes: int = LOCAL_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._generations: dict[str, int] = {}
        self._local = _LocalTier(max_entries=max_entries, max_bytes=max_bytes, clock=clock)
        self._lock = threading.Lock()

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """See `ResponseCache.lookup` (no I/O: safe on the event loop)."""
        generation = self._generations.get(namespace, 0)
        slot = f"{namespace}:{generation}:{key}"
        entry = self._local.get(slot)
        return CacheLookup(None if entry is None else entry.value, slot, namespace, generation)

    async def store(self, found: CacheLookup, value: bytes) -> None:
        """See `ResponseCache.store`; a value computed across a write is not kept."""
        if found.generation is None or found.generation != self._generations.get(
            found.namespace, 0
        ):
            return
        entry = _Entry(found.namespace, found.generation, self._clock() + self._ttl, value)
        self._local.put(found.slot, entry)

    def invalidate(self, namespace: str) -> None:
        """See `ResponseCache.invalidate`."""
        with self._lock:
            generation = self._generations.get(namespace, 0) + 1
            self._generations[namespace] = generation
        self._local.drop_older(namespace, generation)

    def remember(self, alias: str, found: CacheLookup) -> None:
        """See `ResponseCache.remember`."""
        self._local.alias(alias, found.slot)

    def peek(self, alias: str) -> bytes | None:
        """See `ResponseCache.peek`."""
        entry = self._local.by_alias(alias)
        if entry is None or entry.generation != self._generations.get(entry.namespace, 0):
            return None
        return entry.value


class NullCache:
    """Caching switched off (`CRYPTOPREDICT_CACHE_TTL_SECONDS=0`): every lookup misses."""

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """Always a miss."""
        return CacheLookup(None, "")

    async def store(self, found: CacheLookup, value: bytes) -> None:
        """Keeps nothing."""

    def invalidate(self, namespace: str) -> None:
        """Nothing to invalidate."""

    def remember(self, alias: str, found: CacheLookup) -> None:
        """Nothing to remember."""

    def peek(self, alias: str) -> bytes | None:
        """Always a miss."""
        return None


# One round trip: read the generation, the entry stored under it and how long it has left.
_LOOKUP_SCRIPT = """
local generation = redis.call('GET', KEYS[1]) or '0'
local slot = ARGV[1] .. generation .. ':' .. ARGV[2]
local value = redis.call('GET', slot)
local ttl = -2
if value then ttl = redis.call('PTTL', slot) end
return {slot, value, generation, ttl}
"""

# Bump the generation and tell every listening process, atomically.
_INVALIDATE_SCRIPT = """
local generation = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ':' .. generation)
return generation
"""

_MAX_UNANSWERED_PINGS = 8


class RedisCache:
    """Shared by every process, with a local tier kept in step by pub/sub (module docstring);
    a Redis failure is a cache miss, never a failed request."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 30.0,
        retry_after_seconds: float = 5.0,
        staleness_seconds: float = DEFAULT_STALENESS_SECONDS,
        local_max_entries: int = LOCAL_MAX_ENTRIES,
        local_max_bytes: int = LOCAL_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # `from_pool`: the client owns the pool and closes it with itself.
        self._async = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=REDIS_POOL_CONNECTIONS,
                timeout=REDIS_POOL_WAIT_SECONDS,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
            )
        )
        # Its own connection, so the listener never waits behind requests for the pool.
        self._subscriber = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._sync = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._lookup = self._async.register_script(_LOOKUP_SCRIPT)
        self._invalidate = self._sync.register_script(_INVALIDATE_SCRIPT)
        database = self._sync.connection_pool.connection_kwargs.get("db", 0)
        self._channel = f"{INVALIDATION_CHANNEL}{database}"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._retry_after = retry_after_seconds
        self._clock = clock
        self._down_until = 0.0
        self._staleness = staleness_seconds
        self._local = _LocalTier(
            max_entries=local_max_entries, max_bytes=local_max_bytes, clock=clock
        )
        # In step with Redis: the listener's connection epoch (None while out of step), the
        # generations it has seen and the send time of the newest answered heartbeat.
        self._lock = threading.Lock()
        self._epoch: int | None = None
        self._epochs = 0
        self._generations: dict[str, int] = {}
        self._confirmed_at = float("-inf")
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- ResponseCache ------------------------------------------------------------------

    async def lookup(self, namespace: str, key: str) -> CacheLookup:
        """See `ResponseCache.lookup`: the local tier first, then Redis."""
        self._ensure_listener()
        generation = self._trusted_generation(namespace)
        if generation is not None:
            slot = f"{KEY_PREFIX}{namespace}:{generation}:{key}"
            entry = self._local.get(slot)
            if entry is not None:
                return CacheLookup(entry.value, slot, namespace, generation)
        fallback = CacheLookup(None, "")
        if not self._usable():
            return fallback
        epoch = self._epoch
        try:
            raw_slot, value, raw_generation, ttl_ms = await self._lookup(
                keys=[f"{KEY_PREFIX}{namespace}:generation"],
                args=[f"{KEY_PREFIX}{namespace}:", key],
            )
        except (redis.RedisError, OSError) as exc:
            self._failed("lookup", exc)
            return fallback
        generation = int(raw_generation)
        slot = raw_slot.decode() if isinstance(raw_slot, bytes) else str(raw_slot)
        found = CacheLookup(value, slot, namespace, generation)
        if epoch is not None:
            self._seed(namespace, generation, epoch)
        if value is not None and ttl_ms > 0:
            self._keep(found, value, self._clock() + ttl_ms / 1000)
        return found

    async def store(self, found: CacheLookup, value: bytes) -> None:
        """See `ResponseCache.store`."""
        if not found.slot or not self._usable():
            return
        try:
            await self._async.set(found.slot, value, px=self._ttl_ms)
        except (redis.RedisError, OSError) as exc:
            self._failed("store", exc)
            return
        self._keep(found, value, self._clock() + self._ttl_ms / 1000)

    def invalidate(self, namespace: str) -> None:
        """See `ResponseCache.invalidate`; always tried, even while backing off. Visible in
        this process at once, in the others within `staleness_seconds`."""
        try:
            generation = int(
                self._invalidate(
                    keys=[f"{KEY_PREFIX}{namespace}:generation"],
                    args=[self._channel, namespace],
                )
            )
        except (redis.RedisError, OSError) as exc:
            self._failed("invalidate", exc)
            self._local.clear()  # at least this process stops serving what it wrote over
            return
        self._advance(namespace, generation)

    def remember(self, alias: str, found: CacheLookup) -> None:
        """See `ResponseCache.remember`."""
        self._local.alias(alias, found.slot)

    def peek(self, alias: str) -> bytes | None:
        """See `ResponseCache.peek`: only from the local tier, only while in step."""
        entry = self._local.by_alias(alias)
        if entry is None or self._trusted_generation(entry.namespace) != entry.generation:
            return None
        return entry.value

    @property
    def in_step(self) -> bool:
        """Whether local copies may be served now (the listener's heartbeat is fresh)."""
        return self._epoch is not None and (self._clock() - self._confirmed_at <= self._staleness)

    async def aclose(self) -> None:
        """Stop listening and close the connection pools."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            await asyncio.to_thread(listener.join, 5 * self._staleness)
        await self._async.aclose()
        self._subscriber.close()
        self._sync.close()

    # ---- failures -----------------------------------------------------------------------

    def _usable(self) -> bool:
        return self._clock() >= self._down_until

    def _failed(self, action: str, exc: Exception) -> None:
        """Back off from Redis for a few seconds so requests don't each pay a timeout (the
        local tier stays only as long as the listener's heartbeat keeps proving it current).
        A pool with no free connection is load, not failure: that request alone misses."""
        if isinstance(exc, redis.ConnectionError) and isinstance(exc.__cause__, TimeoutError):
            logger.debug("response cache %s found no free Redis connection", action)
            return
        self._down_until = self._clock() + self._retry_after
        logger.warning("response cache %s failed, serving uncached: %s", action, exc)

    # ---- staying in step ----------------------------------------------------------------

    def _trusted_generation(self, namespace: str) -> int | None:
        """The namespace's generation if this process is provably in step, else None."""
        return self._generations.get(namespace) if self.in_step else None

    def _seed(self, namespace: str, generation: int, epoch: int) -> None:
        """Learn a generation read while subscribed: later bumps will all arrive."""
        with self._lock:
            if self._epoch == epoch:
                current = self._generations.get(namespace, generation)
                self._generations[namespace] = max(current, generation)

    def _advance(self, namespace: str, generation: int) -> None:
        """A bump seen by this process (its own write or a message): older copies are dead."""
        with self._lock:
            if self._epoch is None:
                return
            current = self._generations.get(namespace, generation)
            self._generations[namespace] = max(current, generation)
        self._local.drop_older(namespace, generation)

    def _keep(self, found: CacheLookup, value: bytes, expires: float) -> None:
        """Hold a copy locally when it belongs to the generation this process trusts."""
        if found.generation is None or self._trusted_generation(found.namespace) is None:
            return
        if self._generations.get(found.namespace) == found.generation:
            self._local.put(found.slot, _Entry(found.namespace, found.generation, expires, value))

    def _out_of_step(self) -> None:
        """Forget the generations and every local copy until the listener is back."""
        with self._lock:
            self._epoch = None
            self._generations.clear()
            self._confirmed_at = float("-inf")
        self._local.clear()

    def _ensure_listener(self) -> None:
        """Start the listener thread in this process (again after a fork, which drops it)."""
        if self._staleness <= 0 or self._stopping.is_set():
            return
        listener = self._listener
        if listener is None or not listener.is_alive():
            self._out_of_step()
            self._listener = threading.Thread(
                target=self._listen, name="response-cache-listener", daemon=True
            )
            self._listener.start()

    def _listen(self) -> None:
        """Apply published invalidations and heartbeat, reconnecting after failures."""
        while not self._stopping.is_set():
            pubsub: Any = self._subscriber.pubsub()  # type: ignore[no-untyped-call]
            try:
                self._follow(pubsub)
            except Exception as exc:  # any failure only turns the local tier off for a while
                logger.warning("response cache listener lost Redis, local tier off: %s", exc)
            finally:
                self._out_of_step()
                with contextlib.suppress(Exception):
                    pubsub.close()
            self._stopping.wait(min(self._retry_after, 1.0))

    def _follow(self, pubsub: Any) -> None:
        """Subscribe, then read messages and heartbeat replies until the connection fails or
        the cache closes."""
        heartbeat = self._staleness / 4
        subscribed_at = self._clock()
        pubsub.subscribe(self._channel)
        while True:
            message = pubsub.get_message(timeout=self._staleness)
            if message is None:
                raise redis.ConnectionError("no subscription confirmation")
            if message["type"] == "subscribe":
                break
        with self._lock:
            self._epochs += 1
            self._epoch = self._epochs
            self._generations.clear()
            self._confirmed_at = subscribed_at
        pings: dict[int, float] = {}
        sequence = 0
        next_ping = self._clock()
        while not self._stopping.is_set():
            now = self._clock()
            if now >= next_ping:
                if len(pings) >= _MAX_UNANSWERED_PINGS:
                    raise redis.ConnectionError("heartbeat unanswered")
                sequence += 1
                pings[sequence] = now
                pubsub.ping(str(sequence))
                next_ping = now + heartbeat
            message = pubsub.get_message(timeout=max(0.0, next_ping - self._clock()))
            if message is None:
                continue
            if message["type"] == "message":
                namespace, _, generation = message["data"].decode().rpartition(":")
                self._advance(namespace, int(generation))
            elif message["type"] == "pong":
                answered = int(message["data"])
                sent = pings.get(answered)
                for number in [n for n in pings if n <= answered]:
                    del pings[number]
                if sent is not None:
                    self._confirmed_at = sent


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
    *,
    alias: str | None = None,
) -> bytes:
    """The cached value for `key`, or compute, store and return it (errors are not cached).

    Concurrent misses for the same slot in one process share a single computation, so an
    expired entry under load costs one query, not one per waiting request. With `alias` (the
    request being answered, as `CachedResponseMiddleware` names it), the cache can answer that
    request again via `peek`.
    """
    found = await cache.lookup(namespace, key)
    if found.value is not None:
        if alias is not None:
            cache.remember(alias, found)
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
    await cache.store(found, value)
    if alias is not None:
        cache.remember(alias, found)
    return value
