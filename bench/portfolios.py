"""Benchmark: portfolio analytics on a large ledger — 50 coins, 10,000 transactions over five
years (PostgreSQL).

Setup: the 6 daily CSVs, each coin's last five years shifted to end yesterday, copied into 50
coins; one user's portfolio of 10,000 buys and sells (never short) spread over those years at
each day's close. Measured:

- `GET /portfolios/{id}/summary` on `cryptopredict serve --workers 2`: one client, keep-alive,
  after each worker's first request (which replays the ledger; shown apart);
- a full rebuild of the stored daily history (every day from the first transaction), in
  process, as the history task runs it;
- the task's incremental update after one new transaction dated yesterday.

Targets (issue 14): summary p99 < 50 ms, rebuild < 2 s, incremental update < 100 ms.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from bench.common import (
    SHARED_PRICES,
    BenchError,
    Section,
    fresh_database,
    percentile,
    running_server,
)
from cryptopredict.auth.models import User
from cryptopredict.coins import service as coins_service
from cryptopredict.core import migrations
from cryptopredict.core.database import create_db_engine, utcnow
from cryptopredict.portfolios import value_history
from cryptopredict.portfolios.models import Portfolio, PortfolioHistoryDay, PortfolioTransaction
from cryptopredict.portfolios.schemas import TransactionCreate
from cryptopredict.portfolios.service import create_transaction
from cryptopredict.portfolios.types import TransactionKind
from cryptopredict.prices.importer import import_price_files

DATABASE = "cryptopredict_bench_portfolios"
COINS = 50
TRANSACTIONS = 10_000
YEARS_DAYS = 5 * 365
SOURCES = ("bitcoin", "ethereum", "ripple", "litecoin", "cardano", "dogecoin")
SUMMARY_REQUESTS = 300
SUMMARY_P99_MS, REBUILD_S, INCREMENTAL_MS = 50.0, 2.0, 100.0
EMAIL, PASSWORD = "bench-portfolio@example.com", "bench-password-1234"
WORKERS = 2


def _coins(engine: Engine, yesterday: dt.date) -> list[int]:
    """COINS coins, each the last five years of one source series shifted to end yesterday."""
    ids = []
    with Session(engine) as session:
        sources = {
            name: coins_service.get_by_identifier(session=session, identifier=name).id
            for name in SOURCES
        }
        for number in range(COINS):
            name = f"bench-asset-{number:02d}"
            coin = coins_service.ensure(
                session=session, coingecko_id=name, symbol=f"a{number:02d}", name=name
            )
            source = sources[SOURCES[number % len(SOURCES)]]
            newest = session.scalar(
                text("SELECT max(price_at) FROM price_data WHERE coin_id = :c AND interval = '1d'"),
                {"c": source},
            )
            shift = dt.datetime.combine(yesterday, dt.time(), tzinfo=dt.UTC) - newest
            session.execute(
                text(
                    "INSERT INTO price_data (coin_id, interval, price_at, open, high, low, close, "
                    "price, volume, market_cap, source) SELECT :new, interval, price_at + :shift, "
                    "open, high, low, close, price, volume, market_cap, source FROM price_data "
                    "WHERE coin_id = :source AND interval = '1d' AND price_at >= :since"
                ),
                {
                    "new": coin.id,
                    "source": source,
                    "shift": shift,
                    "since": newest - dt.timedelta(days=YEARS_DAYS),
                },
            )
            ids.append(coin.id)
        session.commit()
    return ids


def _ledger(engine: Engine, user_id: int, coin_ids: list[int], yesterday: dt.date) -> int:
    """One portfolio of TRANSACTIONS buys and sells at the day's close, never short."""
    rng = random.Random(14)
    first = yesterday - dt.timedelta(days=YEARS_DAYS - 1)
    with Session(engine) as session:
        closes: dict[int, dict[dt.date, float]] = {}
        for coin_id in coin_ids:
            rows = session.execute(
                text(
                    "SELECT price_at, price FROM price_data WHERE coin_id = :c AND interval = '1d'"
                ),
                {"c": coin_id},
            )
            closes[coin_id] = {at.date(): price for at, price in rows}
        portfolio = Portfolio(user_id=user_id, name="Bench", description="10,000 transactions")
        session.add(portfolio)
        session.flush()
        held = dict.fromkeys(coin_ids, Decimal(0))
        rows_out: list[dict[str, Any]] = []
        # In time order, so a sale only ever takes what was bought before it.
        for offset in sorted(rng.randrange(YEARS_DAYS) for _ in range(2 * TRANSACTIONS)):
            if len(rows_out) == TRANSACTIONS:
                break
            day = first + dt.timedelta(days=offset)
            priced = [c for c in coin_ids if day in closes[c]]  # cardano's copies start later
            coin_id = rng.choice(priced)
            price = closes[coin_id][day]
            sell = held[coin_id] > 0 and rng.random() < 0.35
            if sell:
                quantity = (held[coin_id] * rng.randint(1, 4) / 4).quantize(Decimal("1e-8"))
            else:
                spend = Decimal(rng.randint(10, 20_000))
                quantity = (spend / Decimal(repr(price))).quantize(Decimal("1e-8"))
            if quantity <= 0:
                continue
            held[coin_id] += -quantity if sell else quantity
            rows_out.append(
                {
                    "portfolio_id": portfolio.id,
                    "coin_id": coin_id,
                    "kind": TransactionKind.SELL if sell else TransactionKind.BUY,
                    "quantity": quantity,
                    "price": Decimal(repr(price)),
                    "fee": Decimal("0.5"),
                    "executed_at": dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
                }
            )
        session.execute(insert(PortfolioTransaction), rows_out)
        portfolio.ledger_version = 1
        portfolio.history_from = value_history.EVERYTHING
        session.commit()
        return portfolio.id


def _summary_latencies(
    database: str, data_dir: Path, portfolio_id: int
) -> tuple[list[float], list[float], str]:
    with running_server(database, data_dir, workers=WORKERS) as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            registered = client.post(
                "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}
            )
            if registered.status_code != 201:
                raise BenchError(f"register: {registered.status_code} {registered.text}")
            login = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
            token = login.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            _claim(database, portfolio_id)
            url = f"/api/v1/portfolios/{portfolio_id}/summary"
            cold = []
            for _ in range(2 * WORKERS):  # every worker's first request replays the ledger
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                cold.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or len(response.json()["holdings"]) < COINS // 2:
                    raise BenchError(f"summary: {response.status_code} {response.text[:300]}")
            warm = []
            for _ in range(SUMMARY_REQUESTS):
                started = time.perf_counter()
                client.get(url, headers=headers).raise_for_status()
                warm.append((time.perf_counter() - started) * 1000)
        command = " ".join(["cryptopredict", *server.command[1:]])
    return cold, warm, command


def _claim(database: str, portfolio_id: int) -> None:
    """Give the bench portfolio to the user the server just registered."""
    engine = create_db_engine(database)
    try:
        with Session(engine) as session:
            session.execute(
                text(
                    "UPDATE portfolios SET user_id = (SELECT id FROM users WHERE email = :e) "
                    "WHERE id = :p"
                ),
                {"e": EMAIL, "p": portfolio_id},
            )
            session.commit()
    finally:
        engine.dispose()


def run() -> Section:
    """Summary latency, full rebuild and incremental update on the large ledger."""
    section = Section("Portfolio analytics: 50 coins, 10,000 transactions over five years")
    today = utcnow().date()
    yesterday = today - dt.timedelta(days=1)
    with (
        fresh_database(DATABASE) as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
    ):
        migrations.upgrade(database)
        engine = create_db_engine(database)
        try:
            with Session(engine) as session:
                report = import_price_files(sorted(SHARED_PRICES.glob("*.csv")), session=session)
                if not report.ok:
                    raise BenchError("; ".join(f.message for f in report.failures))
                # Owns the ledger while it is built; the server's registered user takes it over.
                placeholder = User(email="owner@bench.example", hashed_password="!")  # noqa: S106
                session.add(placeholder)
                session.commit()
                owner = placeholder.id
            coin_ids = _coins(engine, yesterday)
            portfolio_id = _ledger(engine, int(owner), coin_ids, yesterday)
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE")
                )
            with Session(engine) as session:
                count = session.scalar(select(func.count()).select_from(PortfolioTransaction))
                started = time.perf_counter()
                rebuilt = value_history.update(
                    session=session, portfolio_id=portfolio_id, today=today
                )
                rebuild_s = time.perf_counter() - started
                if rebuilt is None or rebuilt.days < YEARS_DAYS - 5:
                    raise BenchError(f"the rebuild wrote {rebuilt}")
                days = session.scalar(
                    select(func.count())
                    .select_from(PortfolioHistoryDay)
                    .where(PortfolioHistoryDay.portfolio_id == portfolio_id)
                )
            incremental = []
            for attempt in range(5):
                with Session(engine) as session:
                    portfolio = session.get(Portfolio, portfolio_id)
                    assert portfolio is not None
                    create_transaction(
                        session=session,
                        portfolio=portfolio,
                        data=TransactionCreate(
                            coin=f"bench-asset-{attempt:02d}",
                            kind=TransactionKind.BUY,
                            quantity=Decimal("0.01"),
                            price=Decimal(100),
                            executed_at=dt.datetime.combine(yesterday, dt.time(18), tzinfo=dt.UTC),
                        ),
                    )
                    started = time.perf_counter()
                    result = value_history.update(
                        session=session, portfolio_id=portfolio_id, today=today
                    )
                    incremental.append((time.perf_counter() - started) * 1000)
                    if result is None or result.first != yesterday - dt.timedelta(days=1):
                        raise BenchError(f"incremental update: {result}")
            cold, warm, command = _summary_latencies(database, Path(data_dir), portfolio_id)
        finally:
            engine.dispose()
    warm.sort()
    p50, p99 = percentile(warm, 0.5), percentile(warm, 0.99)
    inc = statistics.median(incremental)

    def judged(ok: bool) -> str:
        return "met" if ok else "**missed**"

    section.add(
        f"{COINS} coins (the 6 daily series, last five years shifted to end yesterday), one "
        f"portfolio of {count:,} buys and sells (FIFO) from "
        f"{yesterday - dt.timedelta(days=YEARS_DAYS - 1)} to {yesterday}, PostgreSQL.",
        "",
        "| measure | figure | target |",
        "|---|---:|---|",
        f"| `GET /portfolios/{{id}}/summary`, p50 / p99 of {SUMMARY_REQUESTS} (one client) "
        f"| {p50:.1f} / {p99:.1f} ms "
        f"| p99 < {SUMMARY_P99_MS:.0f} ms, {judged(p99 < SUMMARY_P99_MS)} |",
        f"| summary, each worker's first request (replays the ledger) | "
        f"{', '.join(f'{c:.0f}' for c in cold)} ms | not judged |",
        f"| full history rebuild ({days:,} days) | {rebuild_s:.2f} s | < {REBUILD_S:.0f} s, "
        f"{judged(rebuild_s < REBUILD_S)} |",
        f"| incremental update after one new transaction (median of 5) | {inc:.0f} ms "
        f"(all: {', '.join(f'{v:.0f}' for v in incremental)}) | < {INCREMENTAL_MS:.0f} ms, "
        f"{judged(inc < INCREMENTAL_MS)} |",
        "",
        f"Server: `{command}`.",
        "",
    )
    return section
