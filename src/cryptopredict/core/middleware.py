"""Pure-ASGI middleware: security headers, request size limits (URL, headers, body), refusal
of control characters in URLs and bodies, HEAD answered as GET, and cached answers served
before routing. Each refusal answers in the error shape of its path (`core.errors`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from operator import itemgetter
from urllib.parse import unquote_plus

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptopredict.core.cache import ResponseCache
from cryptopredict.core.errors import (
    AppError,
    ControlCharacterError,
    ErrorShapes,
    HeaderFieldsTooLargeError,
    PayloadTooLargeError,
    UriTooLongError,
)
from cryptopredict.core.validation import Loc, form_loc, json_loc, multipart_loc, url_loc

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
HEADER_FIELD_FRAMING = len(b": \r\n")
"""Bytes a header field takes on the wire besides its name and value."""


def security_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The hardening headers every response carries; HSTS only where TLS is certain."""
    return SECURITY_HEADERS + ([HSTS_HEADER] if hsts else [])


class SecurityHeadersMiddleware:
    """Adds the standard hardening headers to every HTTP response."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = security_headers(hsts=hsts)

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


def uri_too_long(max_bytes: int) -> UriTooLongError:
    """The refusal of a request target over the limit."""
    return UriTooLongError(
        f"Request URL exceeds {max_bytes} bytes", details={"max_bytes": max_bytes}
    )


def header_fields_too_large(max_bytes: int) -> HeaderFieldsTooLargeError:
    """The refusal of a header section over the limit."""
    return HeaderFieldsTooLargeError(
        f"Request headers exceed {max_bytes} bytes", details={"max_bytes": max_bytes}
    )


class RequestLimitsMiddleware:
    """Refuses a request target (path and query) over `max_url_bytes` with 414, a header
    section over `max_header_bytes` with 431 and a body over `max_body_bytes` with 413,
    before the application reads them. `serve` refuses the first two while reading the
    request (`core.http_protocol`); this makes any ASGI server answer the same."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_url_bytes: int,
        max_header_bytes: int,
        max_body_bytes: int,
        shapes: ErrorShapes,
    ) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.shapes = shapes

    async def _refuse(self, scope: Scope, send: Send, error: AppError) -> None:
        status, content = self.shapes.for_path(scope["path"]).for_error(error)
        await send_json(send, status, orjson.dumps(content))

    def _head_refusal(self, scope: Scope) -> AppError | None:
        """The refusal of an oversized URL or header section, or of a declared body."""
        query = scope["query_string"]
        path = scope.get("raw_path") or scope["path"].encode()
        target = len(path) + (1 + len(query) if query else 0)  # path ? query
        if target > self.max_url_bytes:
            return uri_too_long(self.max_url_bytes)
        headers = scope["headers"]
        size = HEADER_FIELD_FRAMING * len(headers)
        declared = 0
        for name, value in headers:
            size += len(name) + len(value)
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
        if size > self.max_header_bytes:
            return header_fields_too_large(self.max_header_bytes)
        if declared > self.max_body_bytes:
            return PayloadTooLargeError(
                f"Request body exceeds {self.max_body_bytes} bytes",
                details={"max_bytes": self.max_body_bytes},
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the URL, the headers and Content-Length up front, and count streamed body
        bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._head_refusal(scope)
        if refusal is not None:
            await self._refuse(scope, send, refusal)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # An HTTPException passes through FastAPI's body parsing to our handler.
                    raise HTTPException(413, f"Request body exceeds {self.max_body_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


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
    form bodies as a route reads them (inside the body size limit). A URL is refused as the
    error shape of its path says (422 in the one JSON shape); a body by raising
    `ControlCharacterError`, which FastAPI's body parsing lets through."""

    def __init__(self, app: ASGIApp, *, shapes: ErrorShapes) -> None:
        self.app = app
        self.shapes = shapes

    async def _refuse(self, scope: Scope, send: Send, loc: Loc) -> None:
        status, content = self.shapes.for_path(scope["path"]).control_character(loc)
        await send_json(send, status, orjson.dumps(content))

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


class HeadAsGetMiddleware:
    """Answers HEAD as the GET of the same URL with the body left out, so every GET route
    (and the cached-answer fast path) answers HEAD with the same headers: FastAPI's routes
    take only the methods they declare, and declaring HEAD would double the OpenAPI.

    The answer is complete at the GET's first body message: a streamed GET (the live
    stream, which never ends by itself) is then told its client has gone, through `receive`,
    and whatever it still sends is dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route a HEAD as GET, in a copy of the scope (the server's own says HEAD)."""
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = asyncio.Event()

        async def send_without_body(message: Message) -> None:
            if answered.is_set():
                return
            if message["type"] == "http.response.body":
                answered.set()
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        async def receive_until_answered() -> Message:
            if answered.is_set():
                return {"type": "http.disconnect"}
            received = asyncio.ensure_future(receive())
            finished = asyncio.ensure_future(answered.wait())
            await asyncio.wait((received, finished), return_when=asyncio.FIRST_COMPLETED)
            finished.cancel()
            if received.done():
                return received.result()
            received.cancel()
            return {"type": "http.disconnect"}

        await self.app({**scope, "method": "GET"}, receive_until_answered, send_without_body)


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
