"""Routing rules every path shares: which methods a path allows, and slash redirects whose
Location never depends on the client's Host header."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

IMPLICIT_METHODS = ("HEAD", "OPTIONS")
"""Answered for every GET route (HEAD, by `HeadAsGetMiddleware`) and every path (OPTIONS)."""


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of the resource this request's path names, HEAD with GET and OPTIONS
    where any is; sorted, for an Allow header. The resource is the path template of the
    first route that matches (`/users/me`, not the later `/users/{user_id}`), as the OpenAPI
    document lists it; Starlette's own Allow names only that first route's methods."""
    template: str | None = None
    methods: set[str] = set()
    # Each route of the included routers, as FastAPI matches it (under its prefix).
    for route in iter_route_contexts(routes):
        if not route.methods or (template is not None and route.path != template):
            continue
        if route.matches(scope)[0] is not Match.NONE:
            template = route.path
            methods.update(route.methods)
    if methods:
        methods.add("OPTIONS")
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _relative_location(scope: Scope) -> str:
    """The request's own path with its trailing slash added or removed, and its query: no
    scheme or host, and never `//` or `/\\`, which a browser would read as another host."""
    raw = scope.get("raw_path") or scope["path"].encode()
    toggled = raw.rstrip(b"/") if raw.endswith(b"/") else raw + b"/"
    location = toggled.decode("latin-1")
    if not location.startswith("/") or location[1:2] in ("/", "\\"):
        return ""
    query = scope["query_string"].decode("latin-1")
    return f"{location}?{query}" if query else location


class SlashRedirect:
    """The router's answer when no route matches: a 307 to the path with its trailing slash
    added or removed when a route takes that, else 404. Starlette's own redirect copies the
    Host header into an absolute Location (an open redirect and a cache-poisoning vector);
    this one is relative."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes

    def _matches_toggled(self, scope: Scope) -> bool:
        path = scope["path"]
        toggled = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        return any(route.matches(toggled)[0] is not Match.NONE for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Redirect, or raise the 404 the error handlers answer."""
        raw = scope.get("raw_path") or scope["path"].encode()
        # An escaped final slash (`%2F`) is a slash to routing but not in the raw path:
        # toggling the raw one would redirect back and forth forever.
        if (
            scope["type"] == "http"
            and scope["path"] != "/"
            and raw.endswith(b"/") == scope["path"].endswith("/")
            and self._matches_toggled(scope)
        ):
            location = _relative_location(scope)
            if location:
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        raise HTTPException(404)


def install_routing_rules(app: FastAPI) -> None:
    """Replace Starlette's slash redirects by relative ones."""
    app.router.redirect_slashes = False
    app.router.default = SlashRedirect(app.router.routes)
