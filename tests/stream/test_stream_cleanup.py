"""Clients that leave take everything of theirs with them: the app under uvicorn in a thread of
this process, so the hub and the server's tasks can be inspected after real HTTP clients go."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.core.event_hub import EventHub
from cryptopredict.main import create_app
from tests.stream.sse import STREAM_PATH, open_stream

HUB_TASKS = {"event-hub-follower", "event-hub-heartbeat"}


@dataclass(frozen=True)
class Running:
    """The app, its base URL and the loop uvicorn serves it on."""

    app: FastAPI
    base: str
    loop: asyncio.AbstractEventLoop

    def hub(self) -> EventHub:
        hub: EventHub = self.app.state.event_hub
        return hub

    def task_names(self) -> set[str]:
        """The names of the tasks alive on the server's loop."""

        async def names() -> set[str]:
            return {task.get_name() for task in asyncio.all_tasks()}

        return asyncio.run_coroutine_threadsafe(names(), self.loop).result(timeout=5)


@contextlib.contextmanager
def _running(settings: Settings, database: Database) -> Iterator[Running]:
    app = create_app(settings, database=database, scheduler=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Running(app, f"http://127.0.0.1:{sock.getsockname()[1]}", loop)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "not within 10 s"
        time.sleep(0.02)


def _xread_clients(url: str) -> int:
    """Connections blocked in XREAD on the test Redis database."""
    client = redis.Redis.from_url(url)
    database = client.connection_pool.connection_kwargs.get("db", 0)
    try:
        return sum(
            found["cmd"] == "xread" and int(found["db"]) == database
            for found in client.client_list()
        )
    finally:
        client.close()


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.services)])
def test_clients_that_leave_free_their_subscriptions_and_tasks(
    backend: str,
    request: pytest.FixtureRequest,
    settings: Settings,
    app_database: Database,
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    own = settings.model_copy(update={"redis_url": redis_url, "stream_heartbeat_seconds": 0.2})
    with _running(own, app_database) as running:
        with contextlib.ExitStack() as clients:
            for coins in (None, "bitcoin", "bitcoin,ethereum", None, "solana"):
                params = {"coins": coins} if coins else None
                clients.enter_context(open_stream(running.base, params))
            hub = running.hub()
            assert hub.subscribers == 5 and hub.following
            assert HUB_TASKS <= running.task_names()
            if redis_url is not None:
                assert _xread_clients(redis_url) >= 1
            before = running.task_names() - HUB_TASKS

        _eventually(lambda: hub.subscribers == 0)
        _eventually(lambda: not running.task_names() & HUB_TASKS)
        assert not hub.following
        # Nothing of the streams' is left, the connections' own tasks included.
        _eventually(lambda: len(running.task_names()) <= len(before) - 5)
        if redis_url is not None:
            _eventually(lambda: _xread_clients(redis_url) == 0)

        head = httpx.head(running.base + STREAM_PATH, timeout=5)
        assert head.status_code == 200 and head.content == b""
        _eventually(lambda: hub.subscribers == 0 and not hub.following)
