"""Shared benchmark plumbing: a throw-away PostgreSQL database, machine facts, the server.

Everything here talks to loopback addresses only and is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import redis
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
# The Redis database the servers under test cache in; emptied before and after each use.
REDIS_URL = os.environ.get("CRYPTOPREDICT_BENCH_REDIS", "redis://127.0.0.1:6379/13")
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


@contextlib.contextmanager
def flushed_redis() -> Iterator[redis.Redis]:
    """A client of the benchmark's Redis database, emptied before (an earlier run's entries
    would turn first requests into hits) and after, whatever happens."""
    require_loopback(REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        try:
            client.flushdb()
        except redis.RedisError as exc:
            raise BenchError(f"Redis at {REDIS_URL} does not answer: {exc}") from exc
        yield client
    finally:
        with contextlib.suppress(redis.RedisError):
            client.flushdb()
        client.close()


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


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any CRYPTOPREDICT_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPREDICT_")}
    return env | dict(extra or {})


@contextlib.contextmanager
def running_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    ready_url: str,
    start_timeout: float = 90,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command` in its own session, wait until `ready_url` answers 200, and always
    stop it (SIGTERM to its process group, SIGKILL after 15 s)."""
    require_loopback(ready_url)
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise BenchError(f"{command[1]} exited with {process.returncode}: {_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{command[1]} did not answer within {start_timeout:.0f} s")
            time.sleep(0.25)
        yield process
    finally:
        _stop(process)


@contextlib.contextmanager
def running_server(
    database: str,
    data_dir: Path,
    *,
    workers: int,
    start_timeout: float = 90,
    extra_env: Mapping[str, str] | None = None,
    schedule: bool = False,
) -> Iterator[Server]:
    """Start the server as a user would, wait until it answers, and always stop it.

    Without `schedule` its task schedule is off (`CRYPTOPREDICT_SCHEDULER=off`): without
    Redis the server would run the schedule's start-up tasks (price syncs, issuing, training)
    in its own processes during the load, and what is measured is serving; background work
    has its own sections."""
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
    env = clean_env(extra_env) | {
        "CRYPTOPREDICT_DATABASE_URL": database,
        "CRYPTOPREDICT_DATA_DIR": str(data_dir),
        "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
    }
    if not schedule:
        env["CRYPTOPREDICT_SCHEDULER"] = "off"
    log = data_dir / "server.log"
    base_url = f"http://127.0.0.1:{port}"
    with running_process(
        command, env=env, log=log, ready_url=f"{base_url}/health/live", start_timeout=start_timeout
    ) as process:
        yield Server(process, base_url, command, log)


@contextlib.contextmanager
def running_fake_coingecko_process(log_dir: Path, start_timeout: float = 60) -> Iterator[str]:
    """`cryptopredict fake-coingecko` (bundled snapshot, recordings beside the checkout) on a
    free loopback port, in its own process so it does not share the GIL with the measured
    client; yields the API root to configure as CRYPTOPREDICT_COINGECKO_BASE_URL."""
    port = free_port()
    command = [str(CLI), "fake-coingecko", "--host", "127.0.0.1", "--port", str(port)]
    root = f"http://127.0.0.1:{port}/api/v3"
    with running_process(
        command,
        env=clean_env(),
        log=log_dir / "fake-coingecko.log",
        ready_url=f"{root}/ping",
        start_timeout=start_timeout,
    ):
        yield root


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


def raise_open_files_limit(needed: int) -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to at least `needed`, so the server and wrk
    it starts (which inherit it) can hold that many sockets; returns (before, after).

    Raises BenchError when the hard limit is lower: only root could lift it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise BenchError(
                f"the open-files limit is {soft} (hard {hard}), below the {needed} this "
                "benchmark needs; raise it (`ulimit -Hn`) and run again"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- load generators ------------------------------------------------------------------------

LOAD_CONNECTIONS = 16


@dataclass(frozen=True)
class SocketErrors:
    """wrk's socket error counts; `timeout` counts, every 2 s, each connection whose request
    has waited longer than wrk's --timeout (so one slow request can count more than once)."""

    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        """All socket errors together."""
        return self.connect + self.read + self.write + self.timeout

    def __str__(self) -> str:
        return (
            f"connect {self.connect}, read {self.read}, write {self.write}, timeout {self.timeout}"
        )


@dataclass(frozen=True)
class Load:
    """What one load run measured."""

    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    # Answers with an error status: not 200 for httpx; for wrk, status 400 or above (the only
    # ones wrk counts, under the name "Non-2xx or 3xx responses").
    bad_status: int
    socket_errors: SocketErrors = SocketErrors()

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds

    @property
    def bad(self) -> int:
        """Bad statuses and socket errors together: what no healthy run has."""
        return self.bad_status + self.socket_errors.total


LOAD_TABLE_HEADER = (
    "| endpoint | generator | requests | req/s | p50 ms | p90 ms | p99 ms | non-200 |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
)


def load_table_row(name: str, load: Load) -> str:
    """One row under LOAD_TABLE_HEADER."""
    return (
        f"| {name} | {load.generator} | {load.requests:,} | {load.rps:,.0f} "
        f"| {load.p50_ms:.1f} | {load.p90_ms:.1f} | {load.p99_ms:.1f} | {load.bad} |"
    )


async def _python_load(url: str, seconds: float, max_requests: int, connections: int) -> Load:
    """`connections` tasks on one httpx.AsyncClient, each sending requests back to back."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while len(latencies) < max_requests and time.perf_counter() < deadline:
                sent = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - sent)
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Load(
        generator="httpx (Python)",
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p90_ms=percentile(latencies, 0.90) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        bad_status=sum(count for status, count in statuses.items() if status != 200),
    )


def run_python_load(
    url: str, seconds: float, max_requests: int, connections: int = LOAD_CONNECTIONS
) -> Load:
    """The httpx load generator, on uvloop when available, as the server runs."""
    require_loopback(url)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(_python_load(url, seconds, max_requests, connections))
    return uvloop.run(_python_load(url, seconds, max_requests, connections))


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text_value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text_value)
    if not match:
        raise BenchError(f"unexpected wrk latency {text_value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_command(seconds: int, connections: int = LOAD_CONNECTIONS) -> list[str]:
    """wrk with one thread and `connections` connections, with its latency distribution."""
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]


def run_wrk(url: str, seconds: int, connections: int = LOAD_CONNECTIONS) -> Load:
    """Load `url` with wrk (see `wrk_command`) and read its figures."""
    require_loopback(url)
    completed = subprocess.run(
        [*wrk_command(seconds, connections), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    out = completed.stdout
    if completed.returncode != 0:
        raise BenchError(f"wrk failed: {completed.stderr.strip() or out[-300:]}")
    distribution = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if len(distribution) != 3 or total is None:
        raise BenchError(f"could not read wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    duration = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    return Load(
        generator="wrk (C)",
        requests=int(total.group(1)),
        seconds=duration,
        p50_ms=_wrk_ms(distribution["50"]),
        p90_ms=_wrk_ms(distribution["90"]),
        p99_ms=_wrk_ms(distribution["99"]),
        bad_status=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=SocketErrors(*map(int, errors.groups())) if errors else SocketErrors(),
    )
