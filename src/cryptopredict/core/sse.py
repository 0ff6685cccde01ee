"""Server-Sent Events over ASGI: frames, and a response that sends them as they come and
tells its producer when the client has gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

HEARTBEAT_FRAME = b": heartbeat\n\n"
"""A comment line: ignored by EventSource, enough to keep proxies and idle timers from
closing the connection."""
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx (and proxies that follow it) would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


def retry_frame(milliseconds: int) -> bytes:
    """Tells EventSource how long to wait before reconnecting."""
    return b"retry: %d\n\n" % milliseconds


def event_frame(kind: str, data: bytes, event_id: str | None = None) -> bytes:
    """One event: `data` must be a single line (compact JSON is)."""
    head = b"id: %s\n" % event_id.encode() if event_id is not None else b""
    return head + b"event: %s\ndata: %s\n\n" % (kind.encode(), data)


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` from an async iterator of frames, sent as they come. A watcher
    reads the request side and calls `on_disconnect` once the client has gone, so the
    producer can end at once rather than at its next frame; when the frames end, the
    response ends."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncGenerator[bytes, None],
        *,
        on_disconnect: Callable[[], None],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(frames, headers={**STREAM_HEADERS, **(headers or {})})
        self.frames = frames
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head, then every frame; stop when the frames end or the client leaves."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # an ASGI 2.4 server telling us the client has gone
            self.on_disconnect()
        finally:
            watcher.cancel()
            with contextlib.suppress(Exception):
                await self.frames.aclose()

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.on_disconnect()
                return
