"""Pure-ASGI middleware: security headers, a request body size limit, refusal of control
characters in URLs and bodies, and cached answers served before routing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any
from urllib.parse import unquote_plus

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptopredict.core.cache import ResponseCache
from cryptopredict.core.errors import ControlCharacterError, control_character_body, error_body
from cryptopredict.core.validation import Loc, form_loc, json_loc, multipart_loc, url_loc

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeadersMiddleware:
    """Adds the standard hardening headers to every HTTP response."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + ([HSTS_HEADER] if hsts else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap `send` to append headers on the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Answer with a ready JSON body straight from ASGI, for refusals made before routing."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Rejects bodies over `max_bytes` with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = orjson.dumps(
            error_body(
                "payload_too_large",
                f"Request body exceeds {self.max_bytes} bytes",
                {"max_bytes": self.max_bytes},
            )
        )
        await send_json(send, 413, body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length up front and count streamed bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing to our handler.
                    raise HTTPException(413, f"Request body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


Refusal = Callable[[Loc], tuple[int, dict[str, Any]]]
"""The status and JSON body that refuse a control character at a location, for a prefix
whose routes answer errors in their own shape."""

_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


def _body_check(scope: Scope) -> Callable[[bytes], Loc | None] | None:
    """The check for a body of this request's media type; None where no route parses it."""
    if scope["method"] in _BODILESS:
        return None
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            ):
                return json_loc
            if media == b"application/x-www-form-urlencoded":
                return form_loc
            if media == b"multipart/form-data":
                return multipart_loc
            return None
    return None


class ControlCharacterMiddleware:
    """Refuses control characters (the rules are in `core.validation`) in every request's
    path and query before routing or the cached-answer fast path sees them, and in JSON and
    form bodies as a route reads them (inside the body size limit). A URL is refused with 422
    in the one error shape, or by the `refusals` entry whose prefix starts the path; a body
    by raising `ControlCharacterError`, which FastAPI's body parsing lets through."""

    def __init__(self, app: ASGIApp, *, refusals: Mapping[str, Refusal] | None = None) -> None:
        self.app = app
        self.refusals = dict(refusals or {})

    def _refusal(self, path: str, loc: Loc) -> tuple[int, dict[str, Any]]:
        for prefix, refusal in self.refusals.items():
            if path.startswith(prefix):
                return refusal(loc)
        return 422, control_character_body(loc)

    async def _refuse(self, scope: Scope, send: Send, loc: Loc) -> None:
        status, content = self._refusal(scope["path"], loc)
        body = orjson.dumps(content)
        await send_json(send, status, body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a bad URL at once; check a parsed body once its last chunk has arrived."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loc = url_loc(scope["path"], scope["query_string"])
        if loc is not None:
            await self._refuse(scope, send, loc)
            return
        check = _body_check(scope)
        if check is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    found = check(b"".join(chunks))
                    chunks.clear()
                    if found is not None:
                        raise ControlCharacterError(found)
            return message

        await self.app(scope, checked_receive, send)


def canonical_query(query_string: bytes, names: frozenset[str]) -> str:
    """The pairs of a raw query string whose names (percent-decoded, as Starlette reads them)
    are in `names`, sorted by name with repeats kept in order: every request with the same
    canonical query gives a handler that reads only those names the same parameters."""
    kept: list[tuple[str, str]] = []
    for pair in query_string.decode("latin-1").split("&"):
        name = pair.partition("=")[0]
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if name in names:
            kept.append((name, pair))
    kept.sort(key=itemgetter(0))
    return "&".join(pair for _, pair in kept)


class CachedResponseMiddleware:
    """Answers a GET under `prefix` that a route already answered through `cached_bytes(...,
    alias=alias(scope))`, straight from the response cache's local tier, before routing,
    dependency resolution and parameter parsing. `alias` names the request as the routes
    read it, so requests they cannot tell apart share one remembered answer. The cache
    decides whether the body is still current (same generation, within its TTL); anything
    else goes to the routes unchanged.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cache: Callable[[], ResponseCache],
        alias: Callable[[Scope], str],
        prefix: str = "/",
    ) -> None:
        self.app = app
        self.cache = cache
        self.alias = alias
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the remembered body, or pass the request on."""
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(self.prefix)
        ):
            body = self.cache().peek(self.alias(scope))
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
