"""Benchmark of background tasks through Celery: real `cryptopredict worker` processes, a
redis-server of the benchmark's own (free loopback port, no persistence) as broker and result
backend, a fresh PostgreSQL database, and the fake CoinGecko (in a thread of this process, so
its request log gives the call times).

- round trip: `health_check` (a `SELECT 1` in the worker) sent one at a time to one worker
  (prefork, concurrency 1); enqueue -> result latency, p50 / p99, after a warm-up;
- sync throughput: `sync_specific_cryptocurrency` for every snapshot coin (a year of history:
  several CoinGecko calls each), all enqueued at once to 2 workers sharing the Redis rate
  limiter at a deliberately low budget; calls per minute observed against that budget, and
  how the runs ended: the kind is exclusive, so a run that finds another coin's sync holding
  the kind's lock is recorded as skipped; the benchmark enqueues those again until every coin
  has synced, as a client would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import redis

from bench.common import (
    CLI,
    BenchError,
    Section,
    clean_env,
    free_port,
    fresh_database,
    percentile,
)
from cryptopredict.core import migrations
from cryptopredict.core.config import Settings
from cryptopredict.marketdata.ratelimit import BucketConfig
from cryptopredict.tasks.celery_app import create_celery
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko

DATABASE = "cryptopredict_bench_tasks"
WARM_UP = 20
ROUND_TRIPS = 300
CALLS_PER_MINUTE = 60
"""Low on purpose: the limiter, not the fake, should set the pace."""
SYNC_WORKERS = 2
HISTORY_DAYS = 365
COINS = ("bitcoin", "ethereum", "cardano", "dogecoin", "litecoin", "ripple")


@contextlib.contextmanager
def _redis_server(directory: Path) -> Iterator[str]:
    """A redis-server on a free loopback port for the duration; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(directory)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                raise BenchError("redis-server did not answer within 10 s")
            time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def _workers(
    count: int, env: Mapping[str, str], log_dir: Path, start_timeout: float = 60
) -> Iterator[None]:
    """`count` workers (prefork, concurrency 1), waited for until ready, always stopped."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for index in range(count):
            log = log_dir / f"worker{index}-{time.monotonic_ns()}.log"
            with log.open("wb") as output:
                command = [
                    str(CLI),
                    "worker",
                    "--concurrency=1",
                    "--pool=prefork",
                    "--loglevel=INFO",
                ]
                command += [f"--hostname=bench{index}@%h", "--without-mingle", "--without-gossip"]
                popen = subprocess.Popen(
                    command,
                    env=dict(env),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((popen, log))
        deadline = time.monotonic() + start_timeout
        for popen, log in started:
            while " ready." not in log.read_text(errors="replace"):
                if popen.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-1500:]
                    raise BenchError(f"worker did not start:\n{tail}")
                time.sleep(0.1)
        yield
    finally:
        for popen, _ in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
        for popen, _ in started:
            try:
                popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=5)


def _round_trips(celery: Any) -> list[float]:
    """Seconds from enqueue to result, one task at a time."""
    task = celery.tasks["health_check"]
    for _ in range(WARM_UP):
        task.apply_async().get(timeout=30)
    latencies = []
    for _ in range(ROUND_TRIPS):
        sent = time.perf_counter()
        task.apply_async().get(timeout=30)
        latencies.append(time.perf_counter() - sent)
    return sorted(latencies)


def _busiest_minute(moments: list[float]) -> int:
    """The most calls that started within any 60 s window."""
    best, first = 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= 60:
            first += 1
        best = max(best, last - first + 1)
    return best


def _sync_throughput(celery: Any, fake: FakeCoinGecko) -> dict[str, Any]:
    """Enqueue one history sync per coin at once, wait for all; enqueue the skipped ones
    again (as a client would) until every coin has synced."""
    fake.reset()
    task = celery.tasks["sync_specific_cryptocurrency"]
    outcomes: Counter[str] = Counter()
    rows = rounds = 0
    pending = list(COINS)
    started = time.perf_counter()
    while pending:
        rounds += 1
        sent = {
            coin: task.apply_async(kwargs={"coin_id": coin, "days": HISTORY_DAYS})
            for coin in pending
        }
        pending = []
        for coin, result in sent.items():
            answer = result.get(timeout=600)
            if answer.get("skipped"):
                outcomes["skipped"] += 1
                pending.append(coin)
            else:
                outcomes[str(answer.get("status"))] += 1
                rows += int(answer.get("rows_written") or 0)
    elapsed = time.perf_counter() - started
    calls = sorted(record.at for record in fake.requests)
    span = calls[-1] - calls[0] if len(calls) > 1 else 0.0
    burst = int(BucketConfig.per_minute(CALLS_PER_MINUTE).capacity)
    after_burst = calls[burst:]
    steady_span = after_burst[-1] - after_burst[0] if len(after_burst) > 1 else 0.0
    return {
        "seconds": elapsed,
        "rounds": rounds,
        "outcomes": outcomes,
        "calls": len(calls),
        "rows": rows,
        "calls_per_minute": (len(calls) - 1) / span * 60 if span > 0 else float("nan"),
        "busiest_minute": _busiest_minute(calls),
        "burst": burst,
        "steady_per_minute": (len(after_burst) - 1) / steady_span * 60
        if steady_span > 0
        else float("nan"),
    }


def run() -> Section:
    """Run both measurements and describe them."""
    section = Section("Background tasks (Celery)")
    with (
        tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp,
        fresh_database(DATABASE) as database,
        _redis_server(Path(tmp)) as redis_url,
        running_fake_coingecko() as fake,
    ):
        migrations.upgrade(database)
        env = clean_env(
            {
                "CRYPTOPREDICT_REDIS_URL": redis_url,
                "CRYPTOPREDICT_DATABASE_URL": database,
                "CRYPTOPREDICT_DATA_DIR": tmp,
                "CRYPTOPREDICT_COINGECKO_BASE_URL": fake.base_url,
                "CRYPTOPREDICT_COINGECKO_CALLS_PER_MINUTE": str(CALLS_PER_MINUTE),
                "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
            }
        )
        celery = create_celery(
            Settings(redis_url=redis_url, database_url=database, data_dir=Path(tmp))
        )
        try:
            with _workers(1, env, Path(tmp)):
                latencies = _round_trips(celery)
            with _workers(SYNC_WORKERS, env, Path(tmp)):
                sync = _sync_throughput(celery, fake)
        finally:
            celery.close()

    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    outcomes = ", ".join(f"{count} {state}" for state, count in sorted(sync["outcomes"].items()))
    section.add(
        "Real `cryptopredict worker` processes (prefork, concurrency 1 each) with a "
        "redis-server of the benchmark's own as broker and result backend, PostgreSQL for "
        "the task records, the fake CoinGecko on loopback.",
        "",
        "| measurement | figure |",
        "|---|---:|",
        f"| `health_check` round trip, enqueue -> result (1 worker, {ROUND_TRIPS} sequential, "
        f"after {WARM_UP} warm-up), p50 | {p50:.1f} ms |",
        f"| same, p99 | {p99:.1f} ms |",
        f"| same, max | {latencies[-1] * 1000:.1f} ms |",
        f"| `sync_specific_cryptocurrency` ({len(COINS)} coins x {HISTORY_DAYS} days, "
        f"{SYNC_WORKERS} workers), wall time | {sync['seconds']:.1f} s |",
        f"| runs (skipped ones enqueued again; {sync['rounds']} rounds) | {outcomes} |",
        f"| CoinGecko calls made / rows written | {sync['calls']} / {sync['rows']:,} |",
        f"| calls per minute observed (first to last call) | {sync['calls_per_minute']:.1f} |",
        f"| same, after the limiter's initial burst of {sync['burst']} | "
        f"{sync['steady_per_minute']:.1f} |",
        f"| most calls in any 60 s window | {sync['busiest_minute']} |",
        f"| rate limit (`COINGECKO_CALLS_PER_MINUTE`, shared through Redis): a burst of "
        f"{sync['burst']} plus {CALLS_PER_MINUTE - sync['burst']}/min refill | "
        f"{CALLS_PER_MINUTE}/min |",
    )
    if sync["busiest_minute"] > CALLS_PER_MINUTE:
        raise BenchError(
            f"{sync['busiest_minute']} calls in one minute broke the {CALLS_PER_MINUTE}/min limit"
        )
    return section
