"""Fixtures and helpers of the Celery tests (``test_celery_*``), made available to them by
``conftest.py``: a ``redis-server`` of the session's own on a free port (so a test may kill
and restart it), worker processes on the task database (they commit for real), a fake
CoinGecko they reach over HTTP, and ``Processes`` to start ``cryptopredict worker`` and
``cryptopredict beat`` subprocesses that are always stopped afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko
from tests.conftest import TEST_SECRET, need_service

CLI = Path(sys.executable).parent / "cryptopredict"


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll until `condition()` is truthy and return it; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


# ---- Redis ------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A throw-away redis-server (no persistence) that tests may kill and restart."""

    binary: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL workers are given."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A short-timeout client."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def running(self) -> bool:
        """Whether the server process is up."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start on the fixed port and wait until it answers."""
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
                [
                    *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = self.client()

        def up() -> bool:
            with contextlib.suppress(redis.RedisError):
                return bool(client.ping())
            return False

        try:
            wait_for(up, timeout=10, interval=0.05, what=f"redis-server on port {self.port}")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: every connection drops and, without persistence, every key is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's own redis-server (the binary on PATH), stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        need_service("redis-server", "no redis-server binary on PATH")
        raise AssertionError("unreachable")  # need_service skips or fails
    server = RedisServer(binary, free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def celery_fake_coingecko() -> Iterator[FakeCoinGecko]:
    """The fake CoinGecko in a thread of the test process (workers reach it over HTTP)."""
    with running_fake_coingecko() as fake:
        yield fake


# ---- worker and beat processes ----------------------------------------------------------


@dataclass
class Process:
    """A started `cryptopredict worker|beat`."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Its log so far."""
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Signal its whole process group (the worker and its pool children)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL it and its children at once: no clean shutdown, no acknowledgement."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (warm shutdown), SIGKILL whatever is left after `timeout`."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.signal(signal.SIGKILL)  # pool children orphaned by a killed parent, if any


def worker_env(
    *,
    redis_url: str,
    database_url: str,
    coingecko_url: str,
    data_dir: Path,
    visibility_timeout: int = 5,
) -> dict[str, str]:
    """The environment of a worker or beat: this process's, minus every CRYPTOPREDICT_*
    setting, plus the test services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPREDICT_")}
    return env | {
        "CRYPTOPREDICT_REDIS_URL": redis_url,
        "CRYPTOPREDICT_DATABASE_URL": database_url,
        "CRYPTOPREDICT_DATA_DIR": str(data_dir),
        "CRYPTOPREDICT_SECRET_KEY": TEST_SECRET,
        "CRYPTOPREDICT_COINGECKO_BASE_URL": coingecko_url,
        "CRYPTOPREDICT_COINGECKO_CALLS_PER_MINUTE": "10000",
        "CRYPTOPREDICT_COINGECKO_TIMEOUT_SECONDS": "5",
        "CRYPTOPREDICT_COINGECKO_MAX_RETRIES": "0",
        "CRYPTOPREDICT_CACHE_TTL_SECONDS": "0",
        "CRYPTOPREDICT_BROKER_VISIBILITY_TIMEOUT_SECONDS": str(visibility_timeout),
        # Retry backoff compressed a hundredfold, as the periods are: 0.3 s, 0.6 s, 1.2 s ...
        "CRYPTOPREDICT_TASK_RETRY_BASE_SECONDS": "0.3",
        "CRYPTOPREDICT_LOG_LEVEL": "INFO",
    }


def periods(**seconds: float) -> dict[str, str]:
    """Environment that compresses the schedule: `periods(sync_all_prices=1)`."""
    return {"CRYPTOPREDICT_TASK_PERIOD_OVERRIDES": json.dumps(seconds)}


@dataclass
class Processes:
    """Starts workers and beats against the session's Redis and the task database."""

    directory: Path
    env: dict[str, str]
    started: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None) -> Process:
        log = self.directory / f"{name}.log"
        with log.open("wb") as output:
            popen = subprocess.Popen(  # noqa: S603 - our own CLI
                [str(CLI), *args],
                env=self.env | dict(env or {}),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.directory,
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def worker(
        self,
        name: str,
        *,
        concurrency: int = 1,
        pool: str = "prefork",
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Process:
        """`cryptopredict worker` named `name@test`, waited for until it is ready."""
        args = ["worker", f"--concurrency={concurrency}", f"--pool={pool}", "--loglevel=INFO"]
        args += [f"--hostname={name}@test", "--without-mingle", "--without-gossip"]
        process = self._spawn(name, args, env)
        if wait:
            self.wait_ready(process)
        return process

    def beat(self, name: str = "beat", *, env: Mapping[str, str] | None = None) -> Process:
        """`cryptopredict beat`, its schedule file in a data dir of its own."""
        data_dir = self.directory / name
        data_dir.mkdir(exist_ok=True)
        extra = {"CRYPTOPREDICT_DATA_DIR": str(data_dir)} | dict(env or {})
        return self._spawn(name, ["beat", "--loglevel=INFO"], extra)

    def wait_ready(self, process: Process, timeout: float = 60) -> None:
        """Until the worker logs that it is ready; its log on failure."""

        def ready() -> bool:
            if not process.alive():
                pytest.fail(f"{process.name} exited:\n{process.output()[-3000:]}")
            return " ready." in process.output()

        wait_for(ready, timeout=timeout, interval=0.1, what=f"{process.name} to be ready")

    def stop_all(self) -> None:
        """Stop everything started, newest first."""
        for process in reversed(self.started):
            process.stop()


@pytest.fixture
def processes(
    tmp_path: Path,
    redis_server: RedisServer,
    tasks_database_url: str,
    tasks_database: Database,
    celery_fake_coingecko: FakeCoinGecko,
) -> Iterator[Processes]:
    """Worker and beat launcher for one test, on a flushed Redis and the task database
    (emptied afterwards); everything is stopped at the end and its log printed (shown when
    the test failed)."""
    if not redis_server.running():
        redis_server.start()  # a test that failed midway may have left it down
    client = redis_server.client()
    client.flushall()
    client.close()
    celery_fake_coingecko.reset()
    env = worker_env(
        redis_url=redis_server.url,
        database_url=tasks_database_url,
        coingecko_url=celery_fake_coingecko.base_url,
        data_dir=tmp_path,
    )
    launched = Processes(tmp_path, env)
    try:
        yield launched
    finally:
        launched.stop_all()
        for process in launched.started:
            print(f"---- {process.name} ----\n{process.output()[-4000:]}")


@pytest.fixture
def celery_client(
    processes: Processes, redis_server: RedisServer, tasks_database_url: str, tmp_path: Path
) -> Iterator[Any]:
    """The Celery app as the API process builds it, for sending tasks and reading results."""
    from cryptopredict.tasks.celery_app import create_celery

    settings = Settings(
        redis_url=redis_server.url,
        database_url=tasks_database_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        broker_visibility_timeout_seconds=5,
    )
    celery = create_celery(settings)
    try:
        yield celery
    finally:
        celery.close()
