"""A circuit breaker, so a failing CoinGecko is left alone instead of being hammered.

closed     calls go through; each failure counts, a success resets the count; at
           `failure_threshold` consecutive failures the circuit opens
open       calls are refused locally (CircuitOpenError) until `reset_seconds` have passed
half_open  the first caller after that gets the one trial call; everyone else is refused
           until it reports: success closes the circuit, failure opens it again, `release`
           (a 429 or a cancelled call: no verdict) hands the trial to the next caller. A
           trial that never reports (its process died) expires after `trial_lease_seconds`.

The client reports timeouts, connection errors, 5xx and malformed payloads as failures; a
4xx proves CoinGecko answered and is reported as a success.

With Redis configured the state is one Redis hash shared by every process, and every
transition is one Lua script using the Redis server's clock, so two workers cannot both
take the trial call. Without Redis, or while it is unreachable, each process keeps its
own breaker (and says so in the log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptopredict.core import instruments
from cryptopredict.core.config import Settings
from cryptopredict.marketdata.exceptions import CircuitOpenError
from cryptopredict.marketdata.ratelimit import REDIS_ERRORS, LoopBoundRedis, RedisFallback
from cryptopredict.marketdata.schemas import Backend, BreakerSnapshot, State

logger = logging.getLogger(__name__)

DEFAULT_KEY = "cryptopredict:marketdata:breaker:coingecko"

_STATES: tuple[State, ...] = ("closed", "open", "half_open")

# KEYS[1] breaker hash; ARGV: op (check|success|failure|release|peek|reset), threshold,
# reset seconds, trial lease seconds. Returns, as strings: allowed (0/1), state before,
# state after, failures, opened_at, next_attempt_at, trial_until, now ('' = none).
_BREAKER_SCRIPT = """
local op = ARGV[1]
local threshold = tonumber(ARGV[2])
local reset = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'next_at', 'trial_until')
local state = h[1] or 'closed'
local failures = tonumber(h[2]) or 0
local opened_at = tonumber(h[3])
local next_at = tonumber(h[4])
local trial_until = tonumber(h[5])
local before = state
local allowed = 1
if op == 'check' then
  if state == 'open' and next_at ~= nil and now < next_at then
    allowed = 0
  elseif state == 'half_open' and trial_until ~= nil and now < trial_until then
    allowed = 0
  elseif state ~= 'closed' then
    state = 'half_open'
    trial_until = now + lease
  end
elseif op == 'success' or op == 'reset' then
  state = 'closed'
  failures = 0
  opened_at = nil
  next_at = nil
  trial_until = nil
elseif op == 'release' then
  if state == 'half_open' then trial_until = nil end
elseif op == 'failure' then
  failures = failures + 1
  if state == 'half_open' or (state == 'closed' and failures >= threshold) then
    state = 'open'
    opened_at = now
    next_at = now + reset
    trial_until = nil
  end
end
local function fmt(x) if x == nil then return '' end return string.format('%.17g', x) end
if op ~= 'peek' then
  redis.call('DEL', KEYS[1])
  if state ~= 'closed' or failures > 0 then
    redis.call('HSET', KEYS[1], 'state', state, 'failures', failures)
    if opened_at ~= nil then redis.call('HSET', KEYS[1], 'opened_at', fmt(opened_at)) end
    if next_at ~= nil then redis.call('HSET', KEYS[1], 'next_at', fmt(next_at)) end
    if trial_until ~= nil then redis.call('HSET', KEYS[1], 'trial_until', fmt(trial_until)) end
    redis.call('PEXPIRE', KEYS[1], math.ceil((reset + lease + 86400) * 1000))
  end
end
return {tostring(allowed), before, state, tostring(failures), fmt(opened_at), fmt(next_at),
        fmt(trial_until), fmt(now)}
"""


@dataclass(slots=True)
class _Record:
    """One breaker's state; the same fields as the Redis hash."""

    state: State = "closed"
    failures: int = 0
    opened_at: float | None = None
    next_at: float | None = None
    trial_until: float | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    allowed: bool
    before: State
    record: _Record
    now: float


def _step(record: _Record, op: str, now: float, threshold: int, reset: float, lease: float) -> bool:
    """The state machine of the Lua script, for the in-process breaker; True if allowed."""
    if op == "check":
        if record.state == "open" and record.next_at is not None and now < record.next_at:
            return False
        if record.state == "half_open" and record.trial_until is not None:
            if now < record.trial_until:
                return False
        if record.state != "closed":
            record.state = "half_open"
            record.trial_until = now + lease
    elif op in ("success", "reset"):
        record.state, record.failures = "closed", 0
        record.opened_at = record.next_at = record.trial_until = None
    elif op == "release":
        if record.state == "half_open":
            record.trial_until = None
    elif op == "failure":
        record.failures += 1
        if record.state == "half_open" or (
            record.state == "closed" and record.failures >= threshold
        ):
            record.state = "open"
            record.opened_at, record.next_at, record.trial_until = now, now + reset, None
    return True


def _instant(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def _optional(raw: bytes | str) -> float | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return float(text) if text else None


def _state(raw: bytes | str) -> State:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return next((s for s in _STATES if s == text), "closed")


def _parse(reply: list[bytes | str]) -> _Outcome:
    allowed, before, after, failures, opened_at, next_at, trial_until, now = reply
    record = _Record(
        state=_state(after),
        failures=int(float(_optional(failures) or 0)),
        opened_at=_optional(opened_at),
        next_at=_optional(next_at),
        trial_until=_optional(trial_until),
    )
    return _Outcome(_optional(allowed) == 1.0, _state(before), record, _optional(now) or 0.0)


class CircuitBreaker:
    """The breaker the client consults before every request and informs after it."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 60.0,
        trial_lease_seconds: float | None = None,
        redis_url: str | None = None,
        key: str = DEFAULT_KEY,
        retry_redis_after: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if failure_threshold < 1 or reset_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_seconds > 0")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.trial_lease_seconds = trial_lease_seconds or max(reset_seconds, 30.0)
        self.key = key
        self._clock = clock
        self._local = _Record()
        self._lock = threading.Lock()
        self._redis = LoopBoundRedis(redis_url) if redis_url else None
        self._fallback = RedisFallback("CoinGecko circuit breaker", retry_after=retry_redis_after)

    @classmethod
    def from_settings(cls, settings: Settings, *, key: str = DEFAULT_KEY) -> CircuitBreaker:
        """The deployment's breaker: `breaker_*` settings, shared when Redis is set."""
        return cls(
            failure_threshold=settings.breaker_failure_threshold,
            reset_seconds=settings.breaker_reset_seconds,
            redis_url=settings.redis_url,
            key=key,
        )

    def _args(self, op: str) -> list[str]:
        return [
            op,
            str(self.failure_threshold),
            repr(self.reset_seconds),
            repr(self.trial_lease_seconds),
        ]

    def _local_step(self, op: str) -> _Outcome:
        with self._lock:
            now = self._clock()
            before = self._local.state
            allowed = _step(
                self._local,
                op,
                now,
                self.failure_threshold,
                self.reset_seconds,
                self.trial_lease_seconds,
            )
            snapshot = _Record(**{f: getattr(self._local, f) for f in _Record.__slots__})
            return _Outcome(allowed, before, snapshot, now)

    async def _run(self, op: str) -> tuple[_Outcome, Backend]:
        if self._redis is not None and self._fallback.usable():
            try:
                reply = await self._redis.get().eval(_BREAKER_SCRIPT, 1, self.key, *self._args(op))
            except REDIS_ERRORS as exc:
                self._fallback.failed(exc)
            else:
                self._fallback.succeeded()
                return _parse(reply), "redis"
        return self._local_step(op), "memory"

    def _log_transition(self, outcome: _Outcome) -> None:
        record = outcome.record
        instruments.breaker_state(
            record.state, opened=record.state == "open" and outcome.before != "open"
        )
        if record.state == outcome.before:
            return
        if record.state == "open":
            logger.warning(
                "CoinGecko circuit opened after %d consecutive failures; next attempt at %s",
                record.failures,
                _instant(record.next_at),
            )
        else:
            logger.info("CoinGecko circuit %s -> %s", outcome.before, record.state)

    async def check(self) -> None:
        """Let a call through, or raise CircuitOpenError while the circuit is open.

        In half-open state the first caller gets the trial call; it must then report
        `record_success()` or `record_failure()`.
        """
        outcome, _ = await self._run("check")
        self._log_transition(outcome)
        if not outcome.allowed:
            record = outcome.record
            retry_at = record.next_at if record.state == "open" else record.trial_until
            raise CircuitOpenError(
                f"CoinGecko circuit is {record.state}; not calling it until {_instant(retry_at)}",
                retry_at=_instant(retry_at),
            )

    async def record_success(self) -> None:
        """CoinGecko answered properly: close the circuit and forget past failures."""
        self._log_transition((await self._run("success"))[0])

    async def record_failure(self) -> None:
        """CoinGecko failed (timeout, connection, 5xx, garbage): count it, maybe open."""
        self._log_transition((await self._run("failure"))[0])

    async def release(self) -> None:
        """The call proved nothing either way (CoinGecko's 429, a cancelled call): give the
        half-open trial back so the next caller can make it, count nothing."""
        self._log_transition((await self._run("release"))[0])

    async def reset(self) -> None:
        """Close the circuit by hand (an admin action)."""
        self._log_transition((await self._run("reset"))[0])

    def _snapshot(self, outcome: _Outcome, backend: Backend) -> BreakerSnapshot:
        record = outcome.record
        state = record.state
        if state == "open" and record.next_at is not None and outcome.now >= record.next_at:
            state = "half_open"  # the next call will be the trial
        return BreakerSnapshot(
            state=state,
            failures=record.failures,
            failure_threshold=self.failure_threshold,
            reset_seconds=self.reset_seconds,
            opened_at=_instant(record.opened_at),
            next_attempt_at=_instant(record.next_at),
            backend=backend,
            redis_configured=self._redis is not None,
            degraded=self._fallback.degraded,
        )

    async def snapshot(self) -> BreakerSnapshot:
        """The state shown by `/health/ready` and the sync status API."""
        return self._snapshot(*await self._run("peek"))

    def snapshot_blocking(self) -> BreakerSnapshot:
        """`snapshot()` for synchronous callers such as a sync readiness route."""
        if self._redis is not None and self._fallback.usable():
            try:
                client = self._redis.get_sync()
                reply = client.eval(_BREAKER_SCRIPT, 1, self.key, *self._args("peek"))
            except REDIS_ERRORS as exc:
                self._fallback.failed(exc)
            else:
                self._fallback.succeeded()
                return self._snapshot(_parse(reply), "redis")
        return self._snapshot(self._local_step("peek"), "memory")

    async def aclose(self) -> None:
        """Release Redis connections."""
        if self._redis is not None:
            await self._redis.aclose()
