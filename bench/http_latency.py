"""Benchmark: HTTP latency and throughput of two hot read endpoints under concurrent load.

`cryptopredict serve --workers 2` runs on PostgreSQL holding the daily CSVs plus one real
CoinGecko point (coins_markets.json, 2023-07-28) for each of 4 more coins, so `latest` has
10 coins to find. Each endpoint is checked for a 200 with plausible content first (any other
answer fails the benchmark loudly), warmed up, then loaded by wrk (C, when installed) and by
an httpx.AsyncClient load generator (Python). Both generators share the machine's cores with
the server, the Python one far more heavily, so the wrk figures are the closer estimate.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import (
    LOAD_CONNECTIONS,
    LOAD_TABLE_HEADER,
    SHARED_PRICES,
    BenchError,
    Load,
    Section,
    fresh_database,
    load_table_row,
    run_python_load,
    run_wrk,
    running_server,
    wrk_version,
)
from cryptopredict.coins import service as coins_service
from cryptopredict.core import migrations
from cryptopredict.core.database import create_db_engine
from cryptopredict.prices.importer import import_price_files
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.types import PriceRow

MARKETS = SHARED_PRICES.parent / "coingecko" / "coins_markets.json"
DAILY_COINS = ("bitcoin", "ethereum", "ripple", "litecoin", "cardano", "dogecoin")
EXTRA_COINS = ("tether", "binancecoin", "usd-coin", "solana")
HISTORY = (
    "/api/v1/prices/bitcoin/history?interval=1d&start=2020-07-06T00:00:00Z&end=2021-07-06T00:00:00Z"
)
LATEST = "/api/v1/prices/latest?coins=" + ",".join((*DAILY_COINS, *EXTRA_COINS))
ENDPOINTS = {"history (1 year, daily)": HISTORY, "latest (10 coins)": LATEST}
# Not judged: what the same server does with no database work, to separate endpoint cost
# from the framework's and the machine's.
BASELINE = {"baseline: /health/live": "/health/live"}

WORKERS = 2
CONNECTIONS = LOAD_CONNECTIONS
SECONDS = 10
WARMUP_SECONDS = 2
MAX_PYTHON_REQUESTS = 30_000
P99_TARGET_MS = 50
RPS_TARGET = 1_000


UNCACHED_ENV = {"CRYPTOPREDICT_CACHE_TTL_SECONDS": "0"}


def _seed(database: str) -> None:
    """Daily CSVs for 6 coins, plus each extra coin's real 2023-07-28 CoinGecko point."""
    migrations.upgrade(database)
    engine = create_db_engine(database)
    try:
        with Session(engine) as session:
            report = import_price_files(sorted(SHARED_PRICES.glob("*.csv")), session=session)
            if not report.ok:
                raise BenchError("; ".join(f.message for f in report.failures))
            markets = {entry["id"]: entry for entry in json.loads(MARKETS.read_text())}
            rows = []
            for coin_id in EXTRA_COINS:
                entry = markets[coin_id]
                coin = coins_service.ensure(
                    session=session,
                    coingecko_id=coin_id,
                    symbol=entry["symbol"],
                    name=entry["name"],
                    market_cap_rank=entry["market_cap_rank"],
                    image_url=entry["image"],
                )
                updated = dt.datetime.fromisoformat(entry["last_updated"])
                at = updated.replace(minute=updated.minute // 5 * 5, second=0, microsecond=0)
                rows.append(
                    PriceRow(
                        coin.id,
                        "5m",
                        at,
                        None,
                        None,
                        None,
                        None,
                        float(entry["current_price"]),
                        float(entry["total_volume"]),
                        float(entry["market_cap"]),
                        "coingecko",
                    )
                )
            PriceRepository(session).bulk_upsert(rows)
            session.commit()
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    finally:
        engine.dispose()


def _longest_list(value: Any) -> int:
    """Length of the longest JSON array anywhere in a document."""
    if isinstance(value, list):
        return max([len(value), *(_longest_list(item) for item in value)])
    if isinstance(value, dict):
        return max([0, *(_longest_list(item) for item in value.values())])
    return 0


def check_reads(base_url: str) -> dict[str, int]:
    """Refuse to measure wrong answers: a 200 with a year of bars, and all 10 coins."""
    sizes = {}
    for name, path in ENDPOINTS.items():
        response = httpx.get(base_url + path, timeout=10)
        if response.status_code != 200:
            raise BenchError(
                f"GET {path} answered {response.status_code}, not 200: {response.text[:300]}"
            )
        body = response.json()
        if path == HISTORY and _longest_list(body) < 365:
            raise BenchError(f"GET {path} returned fewer than 365 points: {response.text[:300]}")
        if path == LATEST:
            absent = [coin for coin in (*DAILY_COINS, *EXTRA_COINS) if coin not in response.text]
            if absent:
                raise BenchError(f"GET {path} lacks {absent}: {response.text[:300]}")
        sizes[name] = len(response.content)
    return sizes


def _run_python(url: str, seconds: float, max_requests: int) -> Load:
    return run_python_load(url, seconds, max_requests, CONNECTIONS)


def _run_wrk(url: str, seconds: int) -> Load:
    return run_wrk(url, seconds, CONNECTIONS)


def run() -> Section:
    """Measure and describe the HTTP latency of the two endpoints."""
    section = Section(f"HTTP latency (`cryptopredict serve --workers {WORKERS}` on PostgreSQL)")
    wrk = wrk_version()
    results: list[tuple[str, Load]] = []
    uncached: list[tuple[str, Load]] = []
    with (
        fresh_database() as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
    ):
        _seed(database)
        with running_server(database, Path(data_dir), workers=WORKERS) as server:
            sizes = check_reads(server.base_url)
            for name, path in (ENDPOINTS | BASELINE).items():
                url = server.base_url + path
                _run_python(url, WARMUP_SECONDS, MAX_PYTHON_REQUESTS)
                if wrk:
                    results.append((name, _run_wrk(url, SECONDS)))
                results.append((name, _run_python(url, SECONDS, MAX_PYTHON_REQUESTS)))
            command = " ".join(["cryptopredict", *server.command[1:]])
            check_reads(server.base_url)  # still answering correctly after the load
        # The same endpoints with the response cache off: what every cache miss costs.
        with running_server(
            database, Path(data_dir), workers=WORKERS, extra_env=UNCACHED_ENV
        ) as server:
            for name, path in ENDPOINTS.items():
                url = server.base_url + path
                _run_python(url, WARMUP_SECONDS, MAX_PYTHON_REQUESTS)
                if wrk:
                    uncached.append((name, _run_wrk(url, SECONDS)))
                else:
                    uncached.append((name, _run_python(url, SECONDS, MAX_PYTHON_REQUESTS)))
    failed = [(name, load) for name, load in results + uncached if load.bad]
    if failed:
        raise BenchError(
            "non-200 answers or socket errors under load: "
            + ", ".join(f"{name} via {load.generator}: {load.bad}" for name, load in failed)
        )

    section.add(
        f"Server: `{command}` (port chosen free on 127.0.0.1, access log off, "
        "log level WARNING, task schedule off), database holding the 6 daily CSVs (15 169 "
        "bars) and one real CoinGecko point for each of tether, binancecoin, usd-coin and solana.",
        "",
        "Endpoints:",
        "",
        *(f"- {name}: `GET {path}` ({sizes[name]:,} bytes)" for name, path in ENDPOINTS.items()),
        "- baseline, not judged: `GET /health/live` (no database work), to tell the cost of "
        "an endpoint from that of the framework and the machine",
        "",
        f"Load: {CONNECTIONS} concurrent keep-alive connections for {SECONDS} s per generator "
        f"and endpoint, after a {WARMUP_SECONDS} s warm-up. wrk: `wrk -t1 -c{CONNECTIONS} "
        f"-d{SECONDS}s --latency` ({wrk or 'not installed'}); Python: httpx.AsyncClient on "
        f"uvloop, {CONNECTIONS} tasks, at most {MAX_PYTHON_REQUESTS:,} requests. Latency is "
        "measured per request by the generator (wrk corrects nothing for coordinated "
        "omission at this closed-loop setting, nor does the Python one).",
        "",
        *LOAD_TABLE_HEADER,
        *(load_table_row(name, load) for name, load in results),
        "",
    )
    section.add(
        "The server answers these reads from its response cache (in-process here, as no "
        "Redis is configured; entries live until the next price write or the 30 s TTL), so "
        "after the warm-up nearly every request above is a cache hit. With the cache switched "
        "off (`CRYPTOPREDICT_CACHE_TTL_SECONDS=0`), every request reads PostgreSQL — the cost "
        "of a miss:",
        "",
        "| endpoint (uncached) | generator | requests | req/s | p50 ms | p90 ms | p99 ms "
        "| non-200 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *(load_table_row(name, load) for name, load in uncached),
        "",
    )
    baseline = {load.generator: load.rps for name, load in results if name in BASELINE}
    if "wrk (C)" in baseline and baseline["httpx (Python)"] < baseline["wrk (C)"] / 2:
        section.add(
            f"Note: on the baseline the Python generator reached "
            f"{baseline['httpx (Python)']:,.0f} req/s against wrk's {baseline['wrk (C)']:,.0f}, "
            "so its figures are bounded by the generator (sharing the cores with the server) "
            "as much as by the server.",
            "",
        )
    section.add(
        f"Targets: p99 < {P99_TARGET_MS} ms and > {RPS_TARGET:,} req/s on {WORKERS} workers "
        f"(judged on {'wrk' if wrk else 'the Python generator'}):",
        "",
    )
    judged = "wrk (C)" if wrk else "httpx (Python)"
    for name, load in results:
        if load.generator != judged or name not in ENDPOINTS:
            continue
        ok = load.p99_ms < P99_TARGET_MS and load.rps > RPS_TARGET
        section.add(
            f"- {name}: **{'meets' if ok else 'MISSES'}** "
            f"(p99 {load.p99_ms:.1f} ms, {load.rps:,.0f} req/s)"
        )
    return section
