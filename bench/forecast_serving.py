"""Benchmark: forecasts in service — issuing for 250 coins, scoring 100,000 ledger rows, and
`GET /forecasts/{coin}` under load.

Setup (PostgreSQL): the 6 daily CSVs; bitcoin trained once with every shipped model on its
last 5 years (horizons 1, 7, 30); then 250 coins, each a copy of one of the 6 series with
bitcoin's versions registered for it (the same verified artifact files), so issuing does for
every coin what it does for a real one: read the series, build the features once, load each
version's model (hash-checked, first use) and forecast every horizon from every model.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
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
    wrk_command,
    wrk_version,
)
from cryptopredict.coins import service as coins_service
from cryptopredict.core import migrations
from cryptopredict.core.config import Settings
from cryptopredict.core.database import create_db_engine
from cryptopredict.forecasting import service as forecasting_service
from cryptopredict.forecasting.models import ModelVersion, Prediction, PredictionRole
from cryptopredict.forecasting.repository import PredictionRepository
from cryptopredict.prices.importer import import_price_files

COINS = 250
HORIZONS = (1, 7, 30)
TRAIN_DAYS = 5 * 365 + 1
SCORED_ROWS = 100_000
ISSUE_TARGET_SECONDS = 60.0
SCORE_TARGET_SECONDS = 10.0
P99_TARGET_MS = 20.0
RPS_TARGET = 1_000
SECONDS = 10
WORKERS = 2
DATABASE = "cryptopredict_bench_serving"
SOURCES = ("bitcoin", "ethereum", "ripple", "litecoin", "cardano", "dogecoin")
DAY = dt.timedelta(days=1)


def _clone_coins(engine: Engine, versions: list[dict[str, Any]], model_dir: Path) -> list[str]:
    """COINS coins, each a copy of one source series, with bitcoin's versions registered
    on copies of their artifact files (so no coin reuses another's loaded model)."""
    names = []
    with Session(engine) as session:
        sources = {
            name: coins_service.get_by_identifier(session=session, identifier=name).id
            for name in SOURCES
        }
        for number in range(COINS):
            name = f"bench-coin-{number:03d}"
            coin = coins_service.ensure(
                session=session, coingecko_id=name, symbol=f"b{number:03d}", name=name
            )
            session.execute(
                text(
                    "INSERT INTO price_data (coin_id, interval, price_at, open, high, low, "
                    "close, price, volume, market_cap, source) SELECT :new, interval, price_at, "
                    "open, high, low, close, price, volume, market_cap, source FROM price_data "
                    "WHERE coin_id = :source AND interval = '1d'"
                ),
                {"new": coin.id, "source": sources[SOURCES[number % len(SOURCES)]]},
            )
            for version in versions:
                relative = f"{name}/{version['artifact_path']}"
                shutil.copytree(model_dir / version["artifact_path"], model_dir / relative)
                session.add(
                    ModelVersion(**(version | {"coin_id": coin.id, "artifact_path": relative}))
                )
            names.append(name)
        session.commit()
    _settle(engine)
    return names


def _settle(engine: Engine) -> None:
    """Vacuum and analyse, as a long-running database is: otherwise autovacuum, started by
    the rows just loaded, competes with the timed work for the 2 cores."""
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def _train_bitcoin(engine: Engine, settings: Settings) -> tuple[list[dict[str, Any]], float]:
    """Bitcoin's versions (their columns, bar id and coin) and the training time."""
    with Session(engine) as session:
        coin = coins_service.get_by_identifier(session=session, identifier="bitcoin")
        prices = forecasting_service.load_prices(session=session, coin=coin).iloc[-TRAIN_DAYS:]
        started = time.perf_counter()
        outcome = forecasting_service.train(
            session=session, settings=settings, coin=coin, prices=prices, horizons=HORIZONS
        )
        seconds = time.perf_counter() - started
        session.commit()
        columns = [c for c in ModelVersion.__table__.columns.keys() if c not in {"id", "coin_id"}]
        versions = [{c: getattr(v, c) for c in columns} for v in outcome.versions]
        return versions, seconds


def _newest_bar(session: Session) -> dt.datetime:
    newest: dt.datetime | None = session.scalar(
        select(func.max(text("price_at"))).select_from(text("price_data"))
    )
    if newest is None:
        raise BenchError("no price bars were imported")
    return newest


def _ledger_for_scoring(engine: Engine, coins: list[str], now: dt.datetime) -> int:
    """SCORED_ROWS forecasts (two models, horizon 1) on the newest bars of the cloned coins,
    all with their target bar stored, ready to score."""
    per_coin = SCORED_ROWS // (2 * len(coins))
    with Session(engine) as session:
        found = coins_service.get_many(session=session, coingecko_ids=coins)
        ids = {name: brief.id for name, brief in found.items()}
        versions = {
            (row.coin_id, row.kind): row
            for row in session.scalars(
                select(ModelVersion).where(
                    ModelVersion.horizon == 1, ModelVersion.kind.in_(["naive", "drift"])
                )
            )
        }
        newest = _newest_bar(session)
        rows: list[dict[str, Any]] = []
        for name in coins:
            for kind in ("naive", "drift"):
                version = versions[(ids[name], kind)]
                for day in range(per_coin):
                    origin = newest - (day + 2) * DAY
                    rows.append(
                        {
                            "coin_id": ids[name],
                            "interval": "1d",
                            "horizon": 1,
                            "model_version_id": version.id,
                            "model_kind": kind,
                            "model_version": version.version,
                            "role": PredictionRole.SERVED
                            if kind == "drift"
                            else PredictionRole.SHADOW,
                            "origin_at": origin,
                            "target_at": origin + DAY,
                            "issued_at": now,
                            "origin_price": 100.0,
                            "point": 100.0 + day % 7,
                            "lower_80": 90.0,
                            "upper_80": 110.0,
                            "lower_95": 80.0,
                            "upper_95": 120.0,
                            "interval_method": "conformal",
                        }
                    )
        session.execute(text("DELETE FROM predictions"))
        ledger = PredictionRepository(session)
        for start in range(0, len(rows), 10_000):
            ledger.issue(rows[start : start + 10_000])
        session.commit()
    _settle(engine)
    return len(rows)


def _http(database: str, data_dir: Path, coin: str) -> tuple[list[tuple[str, Load]], str]:
    paths = {
        "GET /forecasts/{coin} (1, 7, 30)": f"/api/v1/forecasts/{coin}",
        "baseline: /health/live": "/health/live",
    }
    results = []
    with running_server(database, data_dir, workers=WORKERS) as server:
        for name, path in paths.items():
            url = server.base_url + path
            run_python_load(url, 2, 30_000)
            results.append((name, run_wrk(url, SECONDS)))
        command = " ".join(["cryptopredict", *server.command[1:]])
    return results, command


def _judge(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def run() -> Section:
    """Issue, score and serve, each against its target."""
    wrk = wrk_version()
    if not wrk:
        raise BenchError("wrk is not installed; the HTTP target is stated for wrk")
    section = Section("Forecasts in service")
    with (
        fresh_database(DATABASE) as database,
        tempfile.TemporaryDirectory(prefix="cp-bench-") as data_dir,
    ):
        settings = Settings(
            database_url=database, data_dir=Path(data_dir), model_dir=Path(data_dir) / "models"
        )
        migrations.upgrade(database)
        engine = create_db_engine(database)
        try:
            with Session(engine) as session:
                report = import_price_files(sorted(SHARED_PRICES.glob("*.csv")), session=session)
                if not report.ok:
                    raise BenchError("; ".join(f.message for f in report.failures))
            versions, train_seconds = _train_bitcoin(engine, settings)
            coins = _clone_coins(engine, versions, settings.resolved_model_dir)
            with Session(engine) as session:
                newest = _newest_bar(session)
            now = newest + DAY + dt.timedelta(hours=1)
            with Session(engine) as session:
                started = time.perf_counter()
                issued = forecasting_service.issue_forecasts(
                    session=session, settings=settings, now=now
                )
                issue_seconds = time.perf_counter() - started
                again_started = time.perf_counter()
                again = forecasting_service.issue_forecasts(
                    session=session, settings=settings, now=now
                )
                again_seconds = time.perf_counter() - again_started
            if issued.failed or issued.coins != COINS + 1:
                raise BenchError(f"issuing failed: {issued.to_dict()}")
            with Session(engine) as session:
                served = session.scalar(
                    select(func.count())
                    .select_from(Prediction)
                    .where(Prediction.role == PredictionRole.SERVED)
                )
            _settle(engine)
            http, command = _http(database, Path(data_dir), coins[0])
            ledger_rows = _ledger_for_scoring(engine, coins, now)
            with Session(engine) as session:
                started = time.perf_counter()
                scored = forecasting_service.score_predictions(
                    session=session, settings=settings, now=now + 5 * DAY
                )
                score_seconds = time.perf_counter() - started
        finally:
            engine.dispose()
    if scored.scored != ledger_rows:
        raise BenchError(f"scored {scored.scored} of {ledger_rows} rows")
    bad = [(name, load) for name, load in http if load.bad]
    if bad:
        raise BenchError(f"errors under load: {[(name, load.bad) for name, load in bad]}")
    kinds = sorted({v["kind"] for v in versions})
    forecast_load = http[0][1]
    baseline = http[1][1]
    section.add(
        f"Bitcoin trained once on its last {TRAIN_DAYS:,} daily bars with {', '.join(kinds)} at "
        f"horizons {', '.join(map(str, HORIZONS))} ({train_seconds:.0f} s, not judged here), "
        f"its {len(versions)} versions then registered for {COINS} coins, each a copy of one "
        "of the 6 daily CSV series (PostgreSQL). Timed in process around the service calls the "
        "scheduled tasks make.",
        "",
        "| measure | figure | target |",
        "|---|---:|---|",
        f"| `issue_forecasts`, {COINS + 1} coins x {len(HORIZONS)} horizons x {len(kinds)} "
        f"models ({issued.issued:,} rows, {served:,} served) | {issue_seconds:.1f} s | "
        f"< {ISSUE_TARGET_SECONDS:.0f} s: **{_judge(issue_seconds < ISSUE_TARGET_SECONDS)}** |",
        f"| the same run again (every row exists: {again.issued} written) "
        f"| {again_seconds:.1f} s | |",
        f"| `score_predictions` over {ledger_rows:,} ledger rows (and the live records of "
        f"{scored.versions_updated} versions) | {score_seconds:.1f} s | "
        f"< {SCORE_TARGET_SECONDS:.0f} s: **{_judge(score_seconds < SCORE_TARGET_SECONDS)}** |",
        "",
        f"HTTP: `{command}` with `CRYPTOPREDICT_SCHEDULER=off` (without Redis the server "
        "would run the schedule's start-up tasks in its own processes during the load; they "
        f"are measured above), `{' '.join(wrk_command(SECONDS))}` ({wrk}) per endpoint after a "
        f"2 s warm-up ({LOAD_CONNECTIONS} connections); the forecast is answered from the "
        "response cache after the first request (until the next issue or scoring run).",
        "",
        *LOAD_TABLE_HEADER,
        *(load_table_row(name, load) for name, load in http),
        "",
    )
    meets = (
        forecast_load.p99_ms < P99_TARGET_MS
        and forecast_load.rps >= RPS_TARGET
        and forecast_load.rps >= baseline.rps / 2
    )
    section.add(
        f"Target: p99 < {P99_TARGET_MS:.0f} ms, ≥ {RPS_TARGET:,} req/s and at least half of "
        f"`/health/live`'s throughput: **{'meets' if meets else 'MISSES'}** (p99 "
        f"{forecast_load.p99_ms:.1f} ms, {forecast_load.rps:,.0f} req/s, "
        f"{forecast_load.rps / baseline.rps:.0%} of the baseline)."
    )
    return section
