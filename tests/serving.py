"""`cryptopredict serve` in a subprocess on a free port, for tests that need a real server
(uvicorn's own behaviour, proxy headers, fuzzing over real HTTP)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx

from tests.conftest import TEST_SECRET


class Served(NamedTuple):
    """A running `serve`: its base URL, its process and its log file."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_until_live(self, timeout: float = 30) -> bool:
        """Poll /health/live until it answers; False if the server died or never answered."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/health/live", timeout=1)
                return True
            except httpx.TransportError:
                time.sleep(0.2)
        return False


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(data_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any CRYPTOPREDICT_ setting, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPREDICT_")}
    env |= {"CRYPTOPREDICT_DATA_DIR": str(data_dir), "CRYPTOPREDICT_SECRET_KEY": TEST_SECRET}
    return env | (extra_env or {})


@contextmanager
def serving(
    data_dir: Path, extra_env: dict[str, str] | None = None, *, workers: int = 1
) -> Iterator[Served]:
    """`cryptopredict serve` on a free port with only these settings, stopped on exit."""
    port = free_port()
    log = data_dir / "serve.log"
    command = [sys.executable, "-m", "cryptopredict.cli", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, env=server_env(data_dir, extra_env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield Served(f"http://127.0.0.1:{port}", server, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # busy draining work: the test is over anyway
            server.kill()
            server.wait(timeout=10)
