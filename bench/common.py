"""Shared benchmark plumbing: a throw-away PostgreSQL database, machine facts, the server.

Everything here talks to loopback addresses only and is bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_PRICES = REPO_ROOT.parent / "shared" / "data" / "prices"
CLI = Path(sys.executable).parent / "cryptopredict"

# The PostgreSQL server to benchmark against (a maintenance database on it, not a data one).
POSTGRES_ADMIN_URL = os.environ.get(
    "CRYPTOPREDICT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1/postgres"
)
BENCH_DATABASE = "cryptopredict_bench"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class BenchError(RuntimeError):
    """A benchmark could not produce honest figures (wrong answers, server down, ...)."""


@dataclass
class Section:
    """One benchmark's part of BENCHMARKS.md."""

    title: str
    lines: list[str] = field(default_factory=list)
    failed: str | None = None

    def add(self, *lines: str) -> None:
        """Append markdown lines."""
        self.lines.extend(lines)


def require_loopback(url: str) -> None:
    """Refuse anything but a loopback server: benchmarks must never leave this machine."""
    host = make_url(url).host or "localhost"
    if host not in LOOPBACK:
        raise BenchError(f"benchmarks only run against loopback addresses, not {host!r}")


def database_url(name: str = BENCH_DATABASE) -> str:
    """The SQLAlchemy URL of a database on the benchmark server."""
    admin = make_url(POSTGRES_ADMIN_URL)
    return admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )


def _admin_conninfo() -> str:
    return make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql").render_as_string(False)


@contextlib.contextmanager
def fresh_database(name: str = BENCH_DATABASE) -> Iterator[str]:
    """Create an empty database for one benchmark and drop it afterwards, whatever happens."""
    require_loopback(POSTGRES_ADMIN_URL)
    statement_drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5) as admin:
        admin.execute(statement_drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5) as admin:
            admin.execute(statement_drop)


def postgres_version() -> str:
    """The server's version string, e.g. `15.20 (Debian 15.20-0+deb12u1)`."""
    with psycopg.connect(_admin_conninfo(), connect_timeout=5) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def cpu_model() -> str:
    """The CPU model name as the kernel reports it."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, str]:
    """What the figures were measured on."""
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "CPU": cpu_model(),
        "Cores": f"{os.cpu_count()} logical ({psutil.cpu_count(logical=False)} physical)",
        "RAM": f"{memory:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "PostgreSQL": postgres_version(),
        "Load average at start (1, 5, 15 min)": load,
    }


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise BenchError("no measurements")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


@dataclass
class Server:
    """A `cryptopredict serve` process on a loopback port."""

    process: subprocess.Popen[bytes]
    base_url: str
    command: list[str]
    log: Path


@contextlib.contextmanager
def running_server(
    database: str,
    data_dir: Path,
    *,
    workers: int,
    start_timeout: float = 90,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Start the server as a user would, wait until it answers, and always stop it."""
    port = free_port()
    command = [
        str(CLI),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPREDICT_")}
    env |= dict(extra_env or {})
    env |= {
        "CRYPTOPREDICT_DATABASE_URL": database,
        "CRYPTOPREDICT_DATA_DIR": str(data_dir),
        "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
    }
    log = data_dir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", command, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise BenchError(f"server exited with {process.returncode}: {_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.base_url}/health/live", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"server did not answer within {start_timeout:.0f} s")
            time.sleep(0.25)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after 15 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _tail(path: Path, lines: int = 15) -> str:
    """The end of a log, for an error message."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def library_versions() -> str:
    """Versions of the parts that dominate the figures."""
    from importlib.metadata import version

    names = ("uvicorn", "fastapi", "sqlalchemy", "psycopg", "httpx")
    return ", ".join(f"{name} {version(name)}" for name in names)


def wrk_version() -> str | None:
    """wrk's version line, or None when wrk is not installed."""
    try:
        completed = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"wrk \S+", completed.stdout + completed.stderr)
    return match.group(0) if match else None
