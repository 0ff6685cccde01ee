"""Benchmark: many concurrent keep-alive connections on the cached reads and the mirror.

The target ("Hardening the API"): 500 concurrent keep-alive connections for 60 s on the
cached /api/v1 reads and on the /api/v3 mirror, wrk over loopback against 2 workers, with
zero socket errors and zero error statuses. One `cryptopredict serve --workers 2` on
PostgreSQL with the Redis response cache, seeded as the mirror benchmark seeds it (the daily
CSVs, a discover of the top 250 and a prices sync from the fake CoinGecko), which also gives
`latest` its 10 coins. Each endpoint is checked for a plausible 200 before and after (the
checks of the HTTP and mirror sections), warmed up, then loaded by wrk. A miss of the target
fails the section with the figures in its message instead of a table that looks fine.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import (
    LOAD_CONNECTIONS,
    REDIS_URL,
    BenchError,
    Load,
    Section,
    flushed_redis,
    fresh_database,
    raise_open_files_limit,
    run_python_load,
    run_wrk,
    running_server,
    wrk_command,
    wrk_version,
)
from bench.http_latency import ENDPOINTS as READ_ENDPOINTS
from bench.http_latency import check_reads
from bench.marketdata import MIRROR_ENDPOINTS, check_mirror, seed_mirror

CONNECTIONS = 500
SECONDS = 60
WORKERS = 2
WARMUP_SECONDS = 2
WARMUP_MAX_REQUESTS = 30_000
# Room for everything else a process holds (database pool, Redis, logs, modules) beside the
# sockets: the worst case is one worker, or wrk, holding all CONNECTIONS at once.
OPEN_FILES_NEEDED = CONNECTIONS + 1024
LOAD_DATABASE = "cryptopredict_bench_load"
ENDPOINTS = READ_ENDPOINTS | MIRROR_ENDPOINTS

TABLE_HEADER = (
    "| endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | status ≥ 400 "
    "| socket errors: connect, read, write, timeout |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
)


def _table_row(name: str, load: Load) -> str:
    return (
        f"| {name} | {load.requests:,} | {load.rps:,.0f} | {load.p50_ms:.1f} "
        f"| {load.p90_ms:.1f} | {load.p99_ms:.1f} | {load.bad_status} | {load.socket_errors} |"
    )


def _log_lines(log: Path) -> list[str]:
    """The server's log (level WARNING, access log off): empty on a healthy run."""
    return log.read_text(errors="replace").splitlines() if log.exists() else []


def _summary(log: list[str], most: int = 4) -> str:
    """The most frequent log lines with their counts, for a failure message."""
    if not log:
        return "empty"
    common = Counter(line.strip() for line in log).most_common(most)
    return f"{len(log)} lines, most often " + " | ".join(f"{n} x {line}" for line, n in common)


def run() -> Section:
    """Hold CONNECTIONS connections on each endpoint for SECONDS and judge the target."""
    wrk = wrk_version()
    if not wrk:
        raise BenchError("wrk is not installed; the target is stated for wrk")
    open_files_before, open_files = raise_open_files_limit(OPEN_FILES_NEEDED)
    section = Section(
        f"Load: {CONNECTIONS} keep-alive connections for {SECONDS} s "
        f"(`cryptopredict serve --workers {WORKERS}`, PostgreSQL + Redis cache)"
    )
    results: list[tuple[str, Load]] = []
    with (
        flushed_redis() as store,
        fresh_database(LOAD_DATABASE) as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
    ):
        discover, prices = seed_mirror(database, Path(data_dir))
        with running_server(
            database,
            Path(data_dir),
            workers=WORKERS,
            extra_env={"CRYPTOPREDICT_REDIS_URL": REDIS_URL},
        ) as server:
            sizes = check_reads(server.base_url) | check_mirror(server.base_url)
            for name, path in ENDPOINTS.items():
                url = server.base_url + path
                run_python_load(url, WARMUP_SECONDS, WARMUP_MAX_REQUESTS)
                results.append((name, run_wrk(url, SECONDS, CONNECTIONS)))
            check_reads(server.base_url)  # still answering correctly after the load
            check_mirror(server.base_url)
            redis_keys = int(store.dbsize())
            command = " ".join(["cryptopredict", *server.command[1:]])
        log = _log_lines(server.log)
    if redis_keys == 0:
        raise BenchError("the server wrote nothing to Redis: the cache was not in use")
    if any(load.bad for _, load in results):
        raise BenchError(
            f"target missed at {CONNECTIONS} connections: "
            + "; ".join(
                f"{name}: {load.requests:,} requests, {load.bad_status} with status ≥ 400, "
                f"socket errors {load.socket_errors}, p99 {load.p99_ms:,.0f} ms"
                for name, load in results
            )
            + f". Server log: {_summary(log)}"
        )

    raised = (
        f"raised from {open_files_before} by the benchmark"
        if open_files != open_files_before
        else f"at least the {OPEN_FILES_NEEDED} needed, left as found"
    )
    section.add(
        f"Server: `{command}` with `CRYPTOPREDICT_REDIS_URL={REDIS_URL}` (flushed before and "
        f"after; {redis_keys} keys in it after the load), port chosen free on 127.0.0.1, "
        "access log off, log level WARNING. Data as in the mirror section: the 6 daily CSVs, "
        f"then from the fake CoinGecko a discover of the top 250 ({discover.calls} calls) and "
        f"a prices sync ({prices.calls} call, {prices.rows} rows), which gives `latest` its "
        "10 coins.",
        "",
        "Endpoints (each answered 200 with plausible content before and after the load):",
        "",
        *(f"- {name}: `GET {path}` ({sizes[name]:,} bytes)" for name, path in ENDPOINTS.items()),
        "",
        f"Load: `{' '.join(wrk_command(SECONDS, CONNECTIONS))}` ({wrk}) per endpoint, after a "
        f"{WARMUP_SECONDS} s warm-up (httpx, {LOAD_CONNECTIONS} connections) that fills the "
        f"caches. One wrk thread: its epoll loop holds the {CONNECTIONS} sockets easily, and a "
        f"second one would take CPU from the {WORKERS} workers on this {os.cpu_count()}-core "
        "machine. Open-files limit (RLIMIT_NOFILE, soft; the server and wrk inherit it): "
        f"{open_files}, {raised}. "
        'Status ≥ 400 is what wrk counts as "Non-2xx or 3xx responses": it cannot see a 3xx '
        "without a Lua response hook, which copies every body and slows it down several "
        "times on coins/markets. A wrk timeout is a connection whose request has waited "
        "more than 5 s, counted at each of wrk's 2 s checks.",
        "",
        *TABLE_HEADER,
        *(_table_row(name, load) for name, load in results),
        "",
        f"Server log during the run: {len(log)} lines at WARNING or above.",
        "",
        f"Target: zero socket errors and zero error statuses at {CONNECTIONS} connections for "
        f"{SECONDS} s on every endpoint: **meets** (the section fails instead when it does "
        "not).",
    )
    return section
