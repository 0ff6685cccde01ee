"""`RequestMetricsMiddleware`: every HTTP request counted by method, route template and status,
and timed, as the outermost middleware, so answers given before routing (the response cache's
fast path, refusals of oversized or malformed requests) are counted like routed ones.

The route template (`/api/v1/prices/{coin}/history`, never the raw path, whose values are
unbounded) is found by matching the request against the app's routes as the router does, once
per method, path and status: later requests take the labelled series from a bounded table, so
the hot paths pay a dictionary lookup and three increments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptopredict.core.instruments import HTTP_DURATION, HTTP_REQUESTS

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

UNMATCHED = "unmatched"
"""The route label of a request no route takes (a 404, a redirect to a slash variant)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods labelled as themselves; any other is `other` (a client may send any word)."""
MAX_REMEMBERED_SERIES = 10_000


class RequestMetricsMiddleware:
    """Counts and times each HTTP request (module docstring)."""

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, note the status it is answered with, and record it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
            elapsed = time.perf_counter() - began
            method = scope["method"]
            key = (method, scope["path"], status)
            series = self._series.get(key)
            if series is None:
                series = self._new_series(scope, status)
            requests, duration = series
            requests.inc()
            duration.observe(elapsed)

    def _new_series(self, scope: Scope, status: int) -> tuple[Counter, Histogram]:
        """The counter and histogram children of this request's labels, remembered per
        method, path and status (bounded: past the limit the table starts afresh)."""
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = self.template(scope)
        series = (
            HTTP_REQUESTS().labels(method, route, str(status)),
            HTTP_DURATION().labels(method, route),
        )
        if len(self._series) >= MAX_REMEMBERED_SERIES:
            self._series.clear()
        self._series[(scope["method"], scope["path"], status)] = series
        return series

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
