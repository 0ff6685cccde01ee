"""The event loop `serve` runs on: uvloop, accepting in batches once connections queue up.

libuv, under uvloop, accepts a single connection per loop iteration (since libuv 1.45). On a
worker busy with hundreds of keep-alive connections one iteration takes tens of milliseconds,
so a burst of new connections waits seconds in the kernel's queue: 500 opened at once took
14 s to be accepted by two workers, and the last ones timed out. asyncio's own loop accepts a
batch per wake-up but answers small cached responses about 40% slower.

Always taking a batch is unfair between workers, though: every worker is woken by the shared
listening socket, and the first to run takes the whole queue, so 16 connections opened at
once often landed on one of two workers and halved the throughput (plain uvloop too, taking
one per iteration at a few microseconds each). So while the queue keeps up, a worker takes one
connection and leaves the queue to the others for `SHARE_PAUSE_SECONDS`; once connections have
kept waiting for `BACKLOG_GRACE_SECONDS` (the workers are falling behind), a wake-up takes up
to `ACCEPT_BATCH`. TLS and unusual options are left to uvloop's own server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import select
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import uvloop

logger = logging.getLogger(__name__)

ACCEPT_BATCH = 256
"""Connections taken from a backlogged queue per wake-up; the rest wait one loop iteration."""
BACKLOG_GRACE_SECONDS = 0.05
"""How long the queue may stay non-empty, taken one connection per wake-up (fair between
workers), before wake-ups take batches (fast): far below a client's patience, far above the
time idle workers need to share a burst."""
BACKLOG_STALE_SECONDS = 1.0
"""A backlog last seen longer ago than this was taken by other workers: it no longer counts."""
SHARE_PAUSE_SECONDS = 0.001
"""How long a worker that took a connection leaves the rest of the queue to the other
workers woken with it (the first to run would otherwise take them all, one per iteration)."""
ACCEPT_RETRY_SECONDS = 1.0
"""Pause after the process ran out of descriptors or memory, as asyncio does."""
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class BatchAcceptServer(asyncio.AbstractServer):
    """Listening sockets served by accepting one connection per readiness, or up to
    ACCEPT_BATCH once the queue has stayed non-empty for BACKLOG_GRACE_SECONDS."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: Sequence[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sockets = list(sockets)
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._serving = False
        self._closed = asyncio.Event()
        self._handshakes: set[asyncio.Task[Any]] = set()
        self._backlogs: dict[int, tuple[float, float]] = {}
        """Per listening descriptor that had connections waiting after its last accept: since
        when (loop time) they have, and when that was last seen."""

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._serving or self._closed.is_set():
            return
        self._serving = True
        for listener in self._sockets:
            listener.setblocking(False)
            listener.listen(self._backlog)
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    async def serve_forever(self) -> None:
        await self.start_serving()
        await self._closed.wait()

    def close(self) -> None:
        """Stop accepting and close the listening sockets; open connections are the
        protocol's to finish (uvicorn drains them itself)."""
        if self._closed.is_set():
            return
        self._closed.set()
        for listener in self._sockets:
            if self._serving and listener.fileno() != -1:
                self._loop.remove_reader(listener.fileno())
            listener.close()
        self._serving = False

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _accept(self, listener: socket.socket) -> None:
        descriptor = listener.fileno()
        now = self._loop.time()
        since, seen = self._backlogs.get(descriptor, (now, -math.inf))
        behind = now - since >= BACKLOG_GRACE_SECONDS and now - seen < BACKLOG_STALE_SECONDS
        for _ in range(ACCEPT_BATCH if behind else 1):
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                self._backlogs.pop(descriptor, None)
                return
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                logger.warning("cannot accept connections (%s); retrying shortly", exc)
                self._pause(listener, ACCEPT_RETRY_SECONDS)
                return
            connection.setblocking(False)
            handshake = self._loop.create_task(
                self._loop.connect_accepted_socket(self._protocol_factory, connection)
            )
            self._handshakes.add(handshake)
            handshake.add_done_callback(self._handshake_done)
        if not _has_queued(listener):
            self._backlogs.pop(descriptor, None)
            return
        self._backlogs[descriptor] = (since if now - seen < BACKLOG_STALE_SECONDS else now, now)
        if not behind:
            self._pause(listener, SHARE_PAUSE_SECONDS)

    def _pause(self, listener: socket.socket, seconds: float) -> None:
        """Stop accepting on `listener` for `seconds`."""
        self._loop.remove_reader(listener.fileno())
        self._loop.call_later(seconds, self._resume, listener)

    def _resume(self, listener: socket.socket) -> None:
        if self._serving and listener.fileno() != -1:
            if not _has_queued(listener):  # the other workers took what was waiting
                self._backlogs.pop(listener.fileno(), None)
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    def _handshake_done(self, handshake: asyncio.Task[Any]) -> None:
        self._handshakes.discard(handshake)
        if not handshake.cancelled() and (exc := handshake.exception()) is not None:
            logger.debug("connection dropped before it was set up: %s", exc)


def _has_queued(listener: socket.socket) -> bool:
    """Whether connections wait in the listening socket's queue (it polls readable)."""
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _listening_sockets(host: str | Iterable[str] | None, port: int) -> list[socket.socket]:
    """Sockets bound to every address `host` resolves to, as `loop.create_server` binds."""
    hosts: list[str | None] = (
        [None] if host in (None, "") else [host] if isinstance(host, str) else list(host)
    )
    addresses = {
        (family, kind, proto, address)
        for name in hosts
        for family, kind, proto, _, address in socket.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    }
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, address in sorted(addresses, key=str):
            listener = socket.socket(family, kind, proto)
            sockets.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
    except OSError:
        for listener in sockets:
            listener.close()
        raise
    return sockets


class BatchAcceptLoop(uvloop.Loop):
    """uvloop with plain TCP servers that accept in batches (module docstring)."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        start_serving: bool = True,
        **options: Any,
    ) -> asyncio.AbstractServer:
        if ssl is not None or any(value is not None for value in options.values()):
            return await super().create_server(
                protocol_factory,
                host,
                port,  # type: ignore[arg-type]  # the stubs' overloads split host from sock
                sock=sock,  # type: ignore[arg-type]
                backlog=backlog,
                ssl=ssl,
                start_serving=start_serving,
                **options,
            )
        sockets = [sock] if sock is not None else _listening_sockets(host, port or 0)
        server = BatchAcceptServer(self, sockets, protocol_factory, backlog)
        if start_serving:
            await server.start_serving()
        return server
