"""The fake's switchable state, shared between the server thread and tests: the fault queue,
the request log, the clock and the key rules."""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal

from cryptopredict.core import timegrid
from cryptopredict.testing.fake_coingecko.data import FakeData

FaultKind = Literal[
    "rate_limit", "server_error", "slow", "garbage", "truncated", "wrong_shape", "unauthorized"
]


@dataclass(frozen=True, slots=True)
class Fault:
    """One switched-on misbehaviour and how many more responses it spoils."""

    kind: FaultKind
    remaining: int
    path: str | None = None
    status: int = 500
    retry_after: float | None = None
    html: bool = False
    delay: float = 0.0

    def matches(self, endpoint: str) -> bool:
        """Whether this fault applies to a request for `endpoint` (e.g. "/coins/markets")."""
        return self.path is None or self.path in endpoint


class FaultController:
    """Thread-safe queue of faults: tests switch them on, the server consumes them in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()

    def _add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault must apply to at least one response")
        with self._lock:
            self._faults.append(fault)

    def rate_limit(
        self,
        times: int = 1,
        *,
        retry_after: float | None = 1,
        html: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer 429: CoinGecko's JSON body (or a Cloudflare HTML page), with Retry-After."""
        self._add(Fault("rate_limit", times, path, 429, retry_after, html))

    def server_error(self, times: int = 1, *, status: int = 500, path: str | None = None) -> None:
        """Answer 5xx (500 JSON, 502/503/504 a gateway's HTML page)."""
        if not 500 <= status <= 599:
            raise ValueError("server_error needs a 5xx status")
        self._add(Fault("server_error", times, path, status))

    def slow(self, times: int = 1, *, delay: float = 2.0, path: str | None = None) -> None:
        """Sleep `delay` seconds before answering normally (past a client's timeout)."""
        self._add(Fault("slow", times, path, delay=delay))

    def garbage(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 200 with bytes that are not JSON at all."""
        self._add(Fault("garbage", times, path))

    def truncated(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 200 with the real body cut in half (a complete HTTP message, broken JSON)."""
        self._add(Fault("truncated", times, path))

    def wrong_shape(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 200 with valid JSON of the wrong shape."""
        self._add(Fault("wrong_shape", times, path))

    def unauthorized(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 401 "API Key Missing" (CoinGecko error 10002)."""
        self._add(Fault("unauthorized", times, path, 401))

    def take(self, endpoint: str) -> Fault | None:
        """The fault for this request, if any, counting it as used."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(endpoint):
                    if fault.remaining <= 1:
                        del self._faults[index]
                    else:
                        self._faults[index] = replace(fault, remaining=fault.remaining - 1)
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Behave again."""
        with self._lock:
            self._faults.clear()


@dataclass(slots=True)
class RequestRecord:
    """One request as the fake saw it (API keys removed, only their kind kept)."""

    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    headers: dict[str, str]
    key_type: Literal["demo", "pro"] | None
    at: float
    received_at: dt.datetime
    status: int = 0
    fault: FaultKind | None = None


class RequestLog:
    """Thread-safe list of requests, newest last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        """Append a request."""
        with self._lock:
            self._records.append(record)

    def all(self, endpoint: str | None = None) -> list[RequestRecord]:
        """A copy of the log, optionally only requests whose endpoint contains `endpoint`."""
        with self._lock:
            records = list(self._records)
        return [r for r in records if endpoint is None or endpoint in r.endpoint]

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._records.clear()


class FakeControls:
    """The fake's switchable state, shared between the server thread and tests."""

    def __init__(
        self,
        data: FakeData,
        *,
        now: dt.datetime | None,
        require_key: bool,
        keyless_history_days: int | None,
    ) -> None:
        self.data = data
        self.faults = FaultController()
        self.log = RequestLog()
        self._defaults = (now, require_key, keyless_history_days)
        self.now = now or timegrid.from_micros(data.default_now_ms * 1000)
        self.require_key = require_key
        self.keyless_history_days = keyless_history_days
        self._markets_cache: tuple[int, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    @property
    def now_ms(self) -> int:
        """The fake clock in Unix milliseconds."""
        return timegrid.to_millis(self.now)

    def reset(self) -> None:
        """Clear faults and the log and restore the clock and key rules given at creation."""
        self.faults.clear()
        self.log.clear()
        now, self.require_key, self.keyless_history_days = self._defaults
        self.now = now or timegrid.from_micros(self.data.default_now_ms * 1000)

    def markets(self) -> list[dict[str, Any]]:
        """Markets entries at the current clock, CSV coins patched, in market-cap order."""
        now = self.now_ms
        with self._lock:
            if self._markets_cache is not None and self._markets_cache[0] == now:
                return self._markets_cache[1]
        entries = self.data.markets_at(now)
        with self._lock:
            self._markets_cache = (now, entries)
        return entries
