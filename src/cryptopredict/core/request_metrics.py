"""`RequestMetricsMiddleware`: every HTTP request counted by method, route template and status,
and timed, as the outermost middleware, so answers given before routing (the response cache's
fast path, refusals of oversized or malformed requests) are counted like routed ones.

The route template (`/api/v1/prices/{coin}/history`, never the raw path, whose values are
unbounded) is found by matching the request against the app's routes as the router does, once
per method, path and status; later requests find their series in a bounded table.

Recording is the hot path's only added cost, so a request adds to plain numbers in memory
(about a microsecond) and a thread writes them to the metrics (files shared between workers,
a few microseconds a write) once per `FLUSH_SECONDS`, before each scrape this process answers
and when the app shuts down: a scrape sees another worker's requests at most that much later.
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptopredict.core.instruments import HTTP_BUCKETS, HTTP_DURATION, HTTP_REQUESTS
from cryptopredict.core.metrics import add_observations, flush_before_scrapes

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

UNMATCHED = "unmatched"
"""The route label of a request no route takes (a 404, a redirect to a slash variant)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods labelled as themselves; any other is `other` (a client may send any word)."""
MAX_REMEMBERED_SERIES = 10_000
FLUSH_SECONDS = 1.0


class _Series:
    """One label set's metrics and the requests not yet written to them."""

    __slots__ = ("buckets", "count", "duration", "requests", "total")

    def __init__(self, requests: Counter, duration: Histogram) -> None:
        self.requests = requests
        self.duration = duration
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(HTTP_BUCKETS) + 1)  # the last one is +Inf

    def add(self, seconds: float) -> None:
        """One more request that took `seconds`."""
        self.count += 1
        self.total += seconds
        self.buckets[bisect_left(HTTP_BUCKETS, seconds)] += 1

    def take(self) -> tuple[int, float, list[int]]:
        """What is pending, left at zero."""
        pending = self.count, self.total, self.buckets
        self.count, self.total, self.buckets = 0, 0.0, [0] * len(self.buckets)
        return pending


def _flush_every_second(middleware: weakref.ref[RequestMetricsMiddleware]) -> None:
    """The flushing thread's loop; it ends once its middleware is gone."""
    while True:
        time.sleep(FLUSH_SECONDS)
        alive = middleware()
        if alive is None:
            return
        alive.flush()
        del alive


class RequestMetricsMiddleware:
    """Counts and times each HTTP request (module docstring)."""

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._retired: list[_Series] = []
        """Series of a table that filled up, with requests still to write."""
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        flush_before_scrapes(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, note the status it is answered with, and record it."""
        if scope["type"] != "http":
            await self.app(scope, self._flushing_at_shutdown(receive), send)
            return
        status = 500  # what the server answers when the app raises before answering

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, noting_status)
        finally:
            self._record(scope, status, time.perf_counter() - began)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        """Add the request to its series, made on its first request (the route matched
        outside the lock); past `MAX_REMEMBERED_SERIES` the table starts afresh."""
        key = (scope["method"], scope["path"], status)
        with self._lock:
            series = self._series.get(key)
            if series is not None:
                series.add(seconds)
                return
        made = self._new_series(scope, status)
        with self._lock:
            if len(self._series) >= MAX_REMEMBERED_SERIES:
                self._retired.extend(old for old in self._series.values() if old.count)
                self._series = {}
            self._series.setdefault(key, made).add(seconds)

    def _flushing_at_shutdown(self, receive: Receive) -> Receive:
        """`receive` for a lifespan: what is pending is written when shutdown begins (the
        server has answered every request by then)."""

        async def flushing() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.flush()
            return message

        return flushing

    def flush(self) -> None:
        """Write the requests recorded since the last flush to the metrics."""
        with self._lock:
            active = [s for s in (*self._retired, *self._series.values()) if s.count]
            pending = [(s.requests, s.duration, *s.take()) for s in active]
            self._retired.clear()
        for requests, duration, count, total, buckets in pending:
            requests.inc(count)
            add_observations(duration, total, buckets)

    def _new_series(self, scope: Scope, status: int) -> _Series:
        """The metrics of this request's labels, and the flushing thread if none runs."""
        if self._flusher is None:
            with self._lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=_flush_every_second,
                        args=(weakref.ref(self),),
                        name="request-metrics",
                        daemon=True,
                    )
                    self._flusher.start()
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = self.template(scope)
        return _Series(
            HTTP_REQUESTS().labels(method, route, str(status)),
            HTTP_DURATION().labels(method, route),
        )

    def template(self, scope: Scope) -> str:
        """The path template of the route that takes this request's method and path (the
        first full match, else the first route of that path with other methods, as the
        router picks), or UNMATCHED."""
        probe: dict[str, Any] = {
            "type": "http",
            "method": scope["method"],
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
        }
        found: str | None = None
        for route in iter_route_contexts(self.routes()):
            match, _ = route.matches(probe)
            if match is Match.FULL:
                found = route.path_format
                break
            if match is Match.PARTIAL and found is None:
                found = route.path_format
        return found or UNMATCHED
