"""`serve`'s event loop takes a backlog of queued connections at once, where plain uvloop
(libuv 1.45 and later) takes one per loop iteration, which left connections waiting seconds
behind a busy worker; while the queue keeps up it takes one per wake-up, so that the workers
woken by the same listening socket share a burst."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvloop

from cryptopredict.core.event_loop import (
    ACCEPT_RETRY_SECONDS,
    BACKLOG_GRACE_SECONDS,
    BatchAcceptLoop,
    BatchAcceptServer,
)

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


BUSY_SECONDS = 0.01
"""How long each loop iteration of a busy worker takes here (its requests' work)."""


def _accepted_by_iteration(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], *, busy: bool, iterations: int
) -> list[tuple[float, int]]:
    """After each loop iteration (each taking BUSY_SECONDS if `busy`): the seconds since the
    server started and how many connections of a queued burst were set up by then."""

    async def scenario(listener: socket.socket) -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        made: list[asyncio.BaseTransport] = []
        started = loop.time()
        server = await loop.create_server(lambda: _Counting(made), sock=listener, backlog=BURST)
        steps: list[tuple[float, int]] = []
        try:
            while len(steps) < iterations and (not steps or steps[-1][1] < BURST):
                if busy:
                    time.sleep(BUSY_SECONDS)  # noqa: ASYNC251 - blocking is the busy work
                await asyncio.sleep(0)  # one turn of the loop
                steps.append((loop.time() - started, len(made)))
            return steps
        finally:
            for transport in made:
                transport.close()
            server.close()
            await server.wait_closed()

    with _queued_burst(BURST) as listener:
        return asyncio.Runner(loop_factory=loop_factory).run(scenario(listener))


def test_a_busy_worker_takes_a_lasting_backlog_at_once() -> None:
    """One connection per wake-up within the grace; past it, one wake-up takes the queue (a
    few more iterations set them up)."""
    steps = _accepted_by_iteration(BatchAcceptLoop, busy=True, iterations=BURST)
    assert steps[-1][1] == BURST
    within = [count for seconds, count in steps if seconds < BACKLOG_GRACE_SECONDS]
    assert within and all(count <= turn for turn, count in enumerate(within, start=1))
    assert sum(seconds >= BACKLOG_GRACE_SECONDS for seconds, _ in steps) <= 5


def test_a_worker_leaves_part_of_a_burst_to_the_others() -> None:
    """Two workers' loops on one listening socket split a burst of 16. Here they are threads,
    so the one running holds the interpreter as a worker holds its core, and would take every
    connection (one per iteration, microseconds apart) unless it paused after each."""
    count = 16
    made: tuple[list[asyncio.BaseTransport], ...] = ([], [])

    def worker(share: list[asyncio.BaseTransport], listener: socket.socket) -> None:
        async def scenario() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(functools.partial(_Counting, share), sock=listener)
            deadline = loop.time() + 10
            while len(made[0]) + len(made[1]) < count and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0)  # busy: never waits for the other thread
            for transport in share:
                transport.close()
            server.close()
            await server.wait_closed()

        asyncio.Runner(loop_factory=BatchAcceptLoop).run(scenario())

    with _queued_burst(count) as listener:
        threads = [
            threading.Thread(target=worker, args=(share, sock))
            for share, sock in zip(made, (listener, listener.dup()), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    shares = [len(share) for share in made]
    assert sum(shares) == count and min(shares) >= count // 4, shares


def test_plain_uvloop_takes_one_connection_per_iteration() -> None:
    """Why BatchAcceptLoop exists: if this fails, libuv accepts in batches again and the
    subclass can go."""
    steps = _accepted_by_iteration(uvloop.new_event_loop, busy=True, iterations=BURST // 2)
    assert steps[-1][1] < BURST


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
