"""A token bucket that keeps every process together under CoinGecko's calls-per-minute.

With Redis configured, the bucket lives in one Redis hash (tokens, last refill instant) and
is changed only by one Lua script that reads the server's own clock (`TIME`), so workers
on different hosts with skewed clocks still share one budget and no two can take the same
token. Without Redis, or while Redis is unreachable, each process keeps its own bucket
(with a warning: N processes may then make N times the calls) and goes back to Redis on
its own once Redis answers again.

Tokens are *reserved*: a caller that finds the bucket empty takes a token that will exist
in `wait` seconds (the count may go negative) and sleeps exactly that long. Waiters are
thus served in arrival order, with no herd of retries, and the grant instants obey the
bucket's bound: in any window of `w` seconds at most `capacity + refill_per_second * w`
calls start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

import redis
import redis.asyncio as aioredis

from cryptopredict.core.config import Settings
from cryptopredict.marketdata.exceptions import RateLimitWaitExceededError
from cryptopredict.marketdata.schemas import Backend, LimiterSnapshot

logger = logging.getLogger(__name__)

DEFAULT_KEY = "cryptopredict:marketdata:ratelimit:coingecko"
REDIS_ERRORS = (redis.RedisError, OSError)


# KEYS[1] bucket hash; ARGV: capacity, refill per second, mode, argument.
# mode "take": reserve one token unless the wait would exceed ARGV[4] (negative = no limit);
# mode "peek": report only; mode "penalize": no token for ARGV[4] seconds (CoinGecko's 429).
# Returns {granted 0/1, wait seconds, tokens left, server time} as strings: Lua numbers
# would be truncated to integers on the way out.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local mode = ARGV[3]
local arg = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / rate
end
local function fmt(x) return string.format('%.17g', x) end
if mode == 'peek' then
  return {'1', fmt(wait), fmt(tokens), fmt(now)}
end
local granted = '1'
if mode == 'penalize' then
  local floor = 1 - arg * rate
  if tokens > floor then tokens = floor end
elseif arg >= 0 and wait > arg then
  granted = '0'
else
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'ts', fmt(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(((capacity - tokens) / rate + 60) * 1000))
return {granted, fmt(wait), fmt(tokens), fmt(now)}
"""


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """Size of the bucket and how fast it refills."""

    capacity: float
    refill_per_second: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.refill_per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive refill rate")

    @classmethod
    def per_minute(cls, calls_per_minute: int, *, capacity: int | None = None) -> BucketConfig:
        """A bucket that never starts more than `calls_per_minute` calls in any 60 s window.

        A bucket allows `capacity + rate * 60` calls per minute, so the burst (a tenth of the
        budget unless given) is taken out of the refill rate: 30/min gives bursts of 3 and
        27 refills per minute. Only a budget of 1/min, where nothing can be taken out, may
        reach 2 calls in a minute.
        """
        burst = capacity if capacity is not None else max(1, calls_per_minute // 10)
        refill = calls_per_minute - burst if calls_per_minute > burst else calls_per_minute
        return cls(capacity=float(burst), refill_per_second=refill / 60.0)


class Reservation(NamedTuple):
    """The outcome of asking for a token: granted or not, and how long until it is usable."""

    granted: bool
    wait: float
    tokens: float
    now: float


class Grant(NamedTuple):
    """A token taken: how long the caller waited, and when (in the backend's clock) the
    token became usable. `ready_at` is Redis server time for the Redis backend and this
    process's monotonic clock for the memory backend."""

    waited: float
    ready_at: float
    backend: Backend


class MemoryBucket:
    """The in-process bucket: safe across threads and event loops (a plain lock, no I/O)."""

    def __init__(self, config: BucketConfig, *, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._clock = clock
        self._tokens = config.capacity
        self._ts = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        if now > self._ts:
            self._tokens = min(
                self.config.capacity,
                self._tokens + (now - self._ts) * self.config.refill_per_second,
            )
            self._ts = now

    def _wait(self) -> float:
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.config.refill_per_second

    def take(self, max_wait: float | None = None) -> Reservation:
        """Reserve one token unless it is further away than `max_wait` seconds."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            wait = self._wait()
            if max_wait is not None and wait > max_wait:
                return Reservation(False, wait, self._tokens, now)
            self._tokens -= 1
            return Reservation(True, wait, self._tokens, now)

    def peek(self) -> Reservation:
        """The current state without taking anything."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            return Reservation(True, self._wait(), self._tokens, now)

    def penalize(self, seconds: float) -> None:
        """Hand out no token for `seconds` (CoinGecko told us to back off)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 1 - seconds * self.config.refill_per_second)


class RedisFallback:
    """Whether shared state in Redis is usable now; logs each change of mind once.

    After a failure Redis is left alone for `retry_after` seconds, so calls do not each pay
    a connection timeout while it is down; the first call after that tries again.
    """

    def __init__(
        self, what: str, *, retry_after: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._what = what
        self._retry_after = retry_after
        self._clock = clock
        self._down_until: float | None = None

    @property
    def degraded(self) -> bool:
        """Whether the last attempt to use Redis failed."""
        return self._down_until is not None

    def usable(self) -> bool:
        """Whether to try Redis for this call."""
        return self._down_until is None or self._clock() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        """Redis did not answer: fall back for a while, warning on the first failure."""
        if self._down_until is None:
            logger.warning(
                "%s: Redis unavailable (%s: %s); falling back to this process's own state "
                "until it answers again",
                self._what,
                type(exc).__name__,
                exc,
            )
        self._down_until = self._clock() + self._retry_after

    def succeeded(self) -> None:
        """Redis answered: shared state again."""
        if self._down_until is not None:
            logger.info("%s: Redis is reachable again; state is shared again", self._what)
        self._down_until = None


class LoopBoundRedis:
    """An asyncio Redis client per event loop: redis.asyncio connections must not cross loops
    (a Celery task or CLI command may run each job under its own `asyncio.run`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync: redis.Redis | None = None

    def get(self) -> aioredis.Redis:
        """The client for the running loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
            self._loop = loop
        return self._client

    def get_sync(self) -> redis.Redis:
        """A blocking client, for callers outside any event loop (a sync health check)."""
        if self._sync is None:
            self._sync = redis.Redis.from_url(
                self.url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
        return self._sync

    async def aclose(self) -> None:
        """Close the client of the running loop (others are dropped with their loops)."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._loop = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None


def _parse(reply: list[bytes | str]) -> Reservation:
    granted, wait, tokens, now = (float(v) for v in reply)
    return Reservation(granted == 1.0, wait, tokens, now)


class RateLimiter:
    """The limiter the client uses: the shared Redis bucket when possible, else the local one."""

    def __init__(
        self,
        config: BucketConfig,
        *,
        redis_url: str | None = None,
        key: str = DEFAULT_KEY,
        retry_redis_after: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.key = key
        self._memory = MemoryBucket(config)
        self._redis = LoopBoundRedis(redis_url) if redis_url else None
        self._fallback = RedisFallback("CoinGecko rate limiter", retry_after=retry_redis_after)
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings, *, key: str = DEFAULT_KEY) -> RateLimiter:
        """The deployment's limiter: `coingecko_calls_per_minute`, shared when Redis is set."""
        return cls(
            BucketConfig.per_minute(settings.coingecko_calls_per_minute),
            redis_url=settings.redis_url,
            key=key,
        )

    def _args(self, mode: str, argument: float) -> list[str]:
        return [
            repr(self.config.capacity),
            repr(self.config.refill_per_second),
            mode,
            repr(argument),
        ]

    async def _call(self, mode: str, argument: float) -> tuple[Reservation, Backend] | None:
        """Run the bucket script in Redis, or None when Redis is not in use right now."""
        if self._redis is None or not self._fallback.usable():
            return None
        try:
            reply = await self._redis.get().eval(
                _BUCKET_SCRIPT, 1, self.key, *self._args(mode, argument)
            )
        except REDIS_ERRORS as exc:
            self._fallback.failed(exc)
            return None
        self._fallback.succeeded()
        return _parse(reply), "redis"

    async def _take(self, max_wait: float | None) -> tuple[Reservation, Backend]:
        shared = await self._call("take", -1.0 if max_wait is None else max_wait)
        if shared is not None:
            return shared
        return self._memory.take(max_wait), "memory"

    async def acquire(self, *, max_wait: float | None = None) -> Grant:
        """Wait for a token and take it.

        Raises RateLimitWaitExceededError, without taking anything, when the token is further
        away than `max_wait` seconds.
        """
        reservation, backend = await self._take(max_wait)
        if not reservation.granted:
            raise RateLimitWaitExceededError(
                f"next CoinGecko call allowed in {reservation.wait:.2f}s, "
                f"over the {max_wait}s the caller would wait",
                wait_seconds=reservation.wait,
            )
        if reservation.wait > 0:
            await self._sleep(reservation.wait)
        return Grant(reservation.wait, reservation.now + reservation.wait, backend)

    async def penalize(self, seconds: float) -> None:
        """Give out no token for `seconds`, in every process: CoinGecko said "slow down"."""
        if seconds <= 0:
            return
        if await self._call("penalize", seconds) is None:
            self._memory.penalize(seconds)

    def _snapshot(self, found: tuple[Reservation, Backend] | None) -> LimiterSnapshot:
        reservation, backend = found if found is not None else (self._memory.peek(), "memory")
        return LimiterSnapshot(
            backend=backend,
            redis_configured=self._redis is not None,
            degraded=self._fallback.degraded,
            capacity=self.config.capacity,
            tokens_available=max(0.0, reservation.tokens),
            refill_per_second=self.config.refill_per_second,
            max_calls_per_minute=self.config.capacity + self.config.refill_per_second * 60,
        )

    async def snapshot(self) -> LimiterSnapshot:
        """The state shown by the status API (reads Redis when in use)."""
        return self._snapshot(await self._call("peek", 0.0))

    def snapshot_blocking(self) -> LimiterSnapshot:
        """`snapshot()` for synchronous callers such as a sync readiness route."""
        found: tuple[Reservation, Backend] | None = None
        if self._redis is not None and self._fallback.usable():
            try:
                client = self._redis.get_sync()
                reply = client.eval(_BUCKET_SCRIPT, 1, self.key, *self._args("peek", 0.0))
                found = _parse(reply), "redis"
                self._fallback.succeeded()
            except REDIS_ERRORS as exc:
                self._fallback.failed(exc)
        return self._snapshot(found)

    async def aclose(self) -> None:
        """Release Redis connections."""
        if self._redis is not None:
            await self._redis.aclose()
