"""uvicorn's httptools HTTP protocol with bounded request heads and JSON refusals.

httptools (llhttp) is uvicorn's fastest parser but sets no limit on a request's head, and keeps
a header's value in memory until the value ends: one endless header grows the process without
bound. This protocol counts the request target and the header fields as they are parsed and
answers 414 or 431 once a limit is passed, then closes the connection; it also answers
malformed HTTP with a JSON 400 instead of uvicorn's text. Bodies are in the error shape of the
request's path, as the application's own refusals are (`core.errors.ErrorShapes`).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from cryptopredict.core.config import get_settings
from cryptopredict.core.errors import AppError, BadRequestError, ErrorShapes
from cryptopredict.core.event_hub import close_hubs
from cryptopredict.core.middleware import (
    HEADER_FIELD_FRAMING,
    header_fields_too_large,
    security_headers,
    uri_too_long,
)


class _HeadRefusedError(Exception):
    """Raised from a parser callback to stop parsing; the refusal is kept on the protocol."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol refusing a request target over `max_url_bytes` (414) or
    a header section over `max_header_bytes` (431) while reading it, both from the settings.

    The URL arrives in pieces and is counted exactly; a header field reaches Python only
    whole, so the bytes of data received wholly inside an unfinished head are counted too:
    a head is never held longer than both limits together plus one read from the socket.
    """

    error_shapes: ClassVar[ErrorShapes] = ErrorShapes()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.max_url_bytes = settings.max_url_bytes
        self.max_header_bytes = settings.max_header_bytes
        self.refusal_headers = security_headers(hsts=settings.env == "production")
        self.url = b""
        self.reading_head = False
        self.header_bytes = 0
        self.unparsed_head_bytes = 0
        self.refusal: AppError | None = None

    def data_received(self, data: bytes) -> None:
        """Parse, as uvicorn does, answering what the parser refuses in JSON; once refused,
        the rest of the connection is discarded unread."""
        if self.refusal is not None:
            return
        head_continues = self.reading_head
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self.refusal is None:
                self.refusal = BadRequestError("Invalid HTTP request")
            self._refuse()
            return
        if head_continues and self.reading_head:
            self.unparsed_head_bytes += len(data)
            if self.unparsed_head_bytes > self.max_url_bytes + self.max_header_bytes:
                self.refusal = header_fields_too_large(self.max_header_bytes)
                self._refuse()

    def on_message_begin(self) -> None:
        """Start counting a new request's head."""
        super().on_message_begin()
        self.reading_head = True
        self.header_bytes = 0
        self.unparsed_head_bytes = 0

    def on_url(self, url: bytes) -> None:
        """Collect a piece of the request target, refusing it past the limit."""
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            self.refusal = uri_too_long(self.max_url_bytes)
            raise _HeadRefusedError

    def on_header(self, name: bytes, value: bytes) -> None:
        """Collect a header field, refusing the head once the fields pass the limit."""
        self.header_bytes += len(name) + len(value) + HEADER_FIELD_FRAMING
        if self.header_bytes > self.max_header_bytes:
            self.refusal = header_fields_too_large(self.max_header_bytes)
            raise _HeadRefusedError
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is whole: hand the request to the application."""
        self.reading_head = False
        super().on_headers_complete()

    def shutdown(self) -> None:
        """The server is shutting down: end the live streams first. uvicorn waits for every
        response in progress to finish, and a stream never would; an ended stream completes
        its response, and the connection then closes as uvicorn's others do."""
        close_hubs()
        super().shutdown()

    def on_response_complete(self) -> None:
        """Send a refusal held back while earlier pipelined requests were being answered."""
        super().on_response_complete()
        if self.refusal is not None and not self.transport.is_closing():
            self._refuse()

    def _refuse(self) -> None:
        """Answer the refusal and close, once every earlier request has been answered."""
        if self.refusal is None or (self.cycle is not None and not self.cycle.response_complete):
            return
        path = self.url.partition(b"?")[0].decode("latin-1")
        status, content = self.error_shapes.for_path(path).for_error(self.refusal)
        body = orjson.dumps(content)
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.refusal_headers,
        ]
        self.logger.warning("Refused a request: %s", self.refusal.message)
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[status] + head + b"\r\n" + body)
        self.transport.close()
