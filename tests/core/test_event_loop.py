"""`serve`'s event loop takes a burst of queued connections at once, where plain uvloop (libuv
1.45 and later) takes one per loop iteration, which left connections waiting seconds behind
a busy worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvloop

from cryptopredict.core.event_loop import ACCEPT_RETRY_SECONDS, BatchAcceptLoop, BatchAcceptServer

BURST = 200


class _Counting(asyncio.Protocol):
    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self._made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._made.append(transport)


@contextlib.contextmanager
def _queued_burst(count: int) -> Iterator[socket.socket]:
    """A listening socket with `count` connections completed by the kernel, none accepted."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=count + 16)
    clients = []
    try:
        for _ in range(count):
            clients.append(socket.create_connection(listener.getsockname()))
        yield listener
    finally:
        for client in clients:
            client.close()
        listener.close()


def _iterations_to_accept(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> int:
    """Loop iterations until a queued burst is fully accepted, each iteration kept busy."""

    async def scenario(listener: socket.socket) -> int:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        server = await loop.create_server(lambda: _Counting(made), sock=listener, backlog=BURST)
        iterations = 0
        try:
            while len(made) < BURST and iterations < 10 * BURST:
                iterations += 1
                await asyncio.sleep(0)  # one turn of the loop
            return iterations
        finally:
            for transport in made:
                transport.close()
            server.close()
            await server.wait_closed()

    with _queued_burst(BURST) as listener:
        return asyncio.Runner(loop_factory=loop_factory).run(scenario(listener))


def test_a_queued_burst_is_accepted_in_a_few_loop_iterations() -> None:
    assert _iterations_to_accept(BatchAcceptLoop) <= 5


def test_plain_uvloop_takes_one_connection_per_iteration() -> None:
    """Why BatchAcceptLoop exists: if this fails, libuv accepts in batches again and the
    subclass can go."""
    assert _iterations_to_accept(uvloop.new_event_loop) >= BURST // 2


def test_serving_on_host_and_port_answers_and_closing_stops_accepting() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        server = await loop.create_server(lambda: _Counting(made), "127.0.0.1", 0, backlog=8)
        assert server.is_serving()
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _until(lambda: len(made) == 1)
        writer.close()
        made[0].close()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)

    asyncio.Runner(loop_factory=BatchAcceptLoop).run(scenario())


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def _limit_leaving_free(free: int) -> int:
    """A descriptor limit under which only `free` more descriptors can be opened (one more in
    fact: the listing's own descriptor is counted as in use, and closed by now)."""
    in_use = {int(fd.name) for fd in Path("/proc/self/fd").iterdir()}
    limit = 0
    while free > 0:
        free -= limit not in in_use
        limit += 1
    return limit


def test_running_out_of_descriptors_pauses_accepting_then_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """EMFILE leaves the queued connections waiting (not dropped, no busy loop); once
    descriptors are free again they are all accepted."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = 20

    async def scenario(listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        resource.setrlimit(resource.RLIMIT_NOFILE, (_limit_leaving_free(3), hard))
        try:
            server = await loop.create_server(lambda: _Counting(made), sock=listener)
            await asyncio.sleep(0.2)
            assert len(made) < count
            assert "cannot accept connections" in caplog.text
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        await _until(lambda: len(made) == count, within=ACCEPT_RETRY_SECONDS + 5)
        for transport in made:
            transport.close()
        server.close()
        await server.wait_closed()

    caplog.set_level(logging.WARNING, logger="cryptopredict.core.event_loop")
    with _queued_burst(count) as listener:
        asyncio.Runner(loop_factory=BatchAcceptLoop).run(scenario(listener))


def test_options_it_does_not_handle_are_left_to_uvloop() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        server = await loop.create_server(lambda: _Counting(made), "127.0.0.1", 0, reuse_port=True)
        assert not isinstance(server, BatchAcceptServer)
        _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        await _until(lambda: len(made) == 1)
        writer.close()
        made[0].close()
        server.close()
        await server.wait_closed()

    asyncio.Runner(loop_factory=BatchAcceptLoop).run(scenario())
