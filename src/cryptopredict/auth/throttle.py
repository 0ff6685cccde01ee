"""Failed-login counting and holds, in Redis when shared between processes, else in memory.

Counters count failures per key in fixed windows (`blocked_for` once a limit is reached);
holds make one key wait a given number of seconds (the login's progressive slow-down).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

logger = logging.getLogger(__name__)


class FailureCounter(Protocol):
    """Counts failures per key in fixed windows."""

    def blocked_for(self, key: str, limit: int) -> int:
        """Seconds until `key` may try again (0 if not blocked)."""
        ...

    def record_failure(self, key: str, window_seconds: int) -> int:
        """Count one failure for `key`; the failures in its window so far."""
        ...

    def reset(self, key: str) -> None:
        """Forget the failures and any hold for `key` (after a successful login)."""
        ...

    def hold(self, key: str, seconds: int) -> None:
        """Make `key` wait `seconds` before its next attempt."""
        ...

    def held_for(self, key: str) -> int:
        """Seconds left of `key`'s hold (0 if none)."""
        ...


SWEEP_EVERY_WRITES = 1024
"""How often the memory counter drops expired keys: made-up emails from many addresses would
otherwise leave keys that are never read again."""


class MemoryFailureCounter:
    """Per-process counter; enough for the embedded single-process server."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[int, float]] = {}
        self._holds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._writes = 0

    def __len__(self) -> int:
        """Keys held (counts and holds), expired ones not yet swept included."""
        return len(self._entries) + len(self._holds)

    def _wrote(self) -> None:
        """Count a write; every `SWEEP_EVERY_WRITES` drop what has expired (lock held)."""
        self._writes += 1
        if self._writes % SWEEP_EVERY_WRITES:
            return
        now = self._clock()
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        self._holds = {k: until for k, until in self._holds.items() if until > now}

    def blocked_for(self, key: str, limit: int) -> int:
        """Seconds left in the window once the failure count reached `limit`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0
            count, expires = entry
            remaining = expires - self._clock()
            if remaining <= 0:
                del self._entries[key]
                return 0
            return math.ceil(remaining) if count >= limit else 0

    def record_failure(self, key: str, window_seconds: int) -> int:
        """Increment, starting a new window when the old one has passed."""
        with self._lock:
            now = self._clock()
            count, expires = self._entries.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + window_seconds
            self._entries[key] = (count + 1, expires)
            self._wrote()
            return count + 1

    def reset(self, key: str) -> None:
        """Drop the key's count and hold."""
        with self._lock:
            self._entries.pop(key, None)
            self._holds.pop(key, None)

    def hold(self, key: str, seconds: int) -> None:
        """Hold the key until `seconds` from now."""
        with self._lock:
            self._holds[key] = self._clock() + seconds
            self._wrote()

    def held_for(self, key: str) -> int:
        """Whole seconds left of the hold, rounded up."""
        with self._lock:
            until = self._holds.get(key)
            if until is None:
                return 0
            remaining = until - self._clock()
            if remaining <= 0:
                del self._holds[key]
                return 0
            return math.ceil(remaining)


class RedisFailureCounter:
    """Counter shared by every server process; falls back to memory while Redis is down."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "cryptopredict:login:",
        *,
        retry_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._fallback = MemoryFailureCounter(clock)
        self._clock = clock
        self._retry_after = retry_after_seconds
        self._down_until = 0.0

    def _redis_usable(self) -> bool:
        """Skip Redis for a few seconds after a failure, so each login doesn't pay a timeout."""
        return self._clock() >= self._down_until

    def _warn(self, exc: redis.RedisError) -> None:
        self._down_until = self._clock() + self._retry_after
        logger.warning("Redis unavailable for login throttling, using memory: %s", exc)

    def blocked_for(self, key: str, limit: int) -> int:
        """Blocked while the window's counter is at or over `limit`."""
        if not self._redis_usable():
            return self._fallback.blocked_for(key, limit)
        try:
            pipe = self._client.pipeline()
            pipe.get(self._prefix + key)
            pipe.ttl(self._prefix + key)
            raw_count, ttl = pipe.execute()
        except redis.RedisError as exc:
            self._warn(exc)
            return self._fallback.blocked_for(key, limit)
        if raw_count is None or int(raw_count) < limit:
            return 0
        return max(1, int(ttl))

    def record_failure(self, key: str, window_seconds: int) -> int:
        """INCR, and set the expiry when the window starts."""
        if not self._redis_usable():
            return self._fallback.record_failure(key, window_seconds)
        try:
            pipe = self._client.pipeline()
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, window_seconds, nx=True)
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            self._warn(exc)
            return self._fallback.record_failure(key, window_seconds)
        return int(count)

    def reset(self, key: str) -> None:
        """DEL the key."""
        self._fallback.reset(key)
        if not self._redis_usable():
            return
        try:
            self._client.delete(self._prefix + key, self._hold_key(key))
        except redis.RedisError as exc:
            self._warn(exc)

    def _hold_key(self, key: str) -> str:
        return f"{self._prefix}hold:{key}"

    def hold(self, key: str, seconds: int) -> None:
        """SET the hold key with `seconds` to live."""
        if not self._redis_usable():
            self._fallback.hold(key, seconds)
            return
        try:
            self._client.set(self._hold_key(key), 1, ex=max(1, seconds))
        except redis.RedisError as exc:
            self._warn(exc)
            self._fallback.hold(key, seconds)

    def held_for(self, key: str) -> int:
        """The hold key's time to live."""
        if not self._redis_usable():
            return self._fallback.held_for(key)
        try:
            ttl = int(self._client.ttl(self._hold_key(key)))
        except redis.RedisError as exc:
            self._warn(exc)
            return self._fallback.held_for(key)
        return max(0, ttl)
