"""`cryptopredict sync ...` against the fake CoinGecko with a throw-away SQLite database.

The first test is the issue's acceptance check, run as a real subprocess: `sync history
--coin bitcoin` fills the full history with no gaps, and running it again writes 0 rows.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cryptopredict.cli.app import app
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.database import create_db_engine
from cryptopredict.marketdata.history import TIERS, history_window
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import SyncStatus
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.types import Interval
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.conftest import TEST_SECRET

EXPECTED_BARS = {Interval.DAY: 364, Interval.HOUR: 2159, Interval.FIVE_MINUTES: 286}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands install a log handler and level; later tests get the originals back."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    handlers, level, alembic_level = list(root.handlers), root.level, alembic.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    alembic.setLevel(alembic_level)


def _environment(tmp_path: Path, fake: FakeCoinGecko) -> dict[str, str]:
    """The command's configuration: its own SQLite file, aimed at the fake, no throttling."""
    return {
        "CRYPTOPREDICT_DATABASE_URL": f"sqlite:///{tmp_path / 'sync.db'}",
        "CRYPTOPREDICT_DATA_DIR": str(tmp_path / "data"),
        "CRYPTOPREDICT_SECRET_KEY": TEST_SECRET,
        "CRYPTOPREDICT_COINGECKO_BASE_URL": fake.base_url,
        "CRYPTOPREDICT_COINGECKO_CALLS_PER_MINUTE": "6000",
        "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
    }


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPREDICT_")}
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cryptopredict.cli", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _engine(env: dict[str, str]) -> Engine:
    return create_db_engine(env["CRYPTOPREDICT_DATABASE_URL"])


@pytest.mark.slow
def test_sync_history_fills_bitcoin_without_gaps_and_a_rerun_writes_nothing(
    tmp_path: Path, fake_coingecko: FakeCoinGecko
) -> None:
    env = _environment(tmp_path, fake_coingecko)

    first = _run_cli(env, "sync", "history", "--coin", "bitcoin")

    total = sum(EXPECTED_BARS.values())
    assert first.returncode == 0, first.stderr
    assert f"succeeded: 4 call(s), {total} row(s) written" in first.stdout
    engine = _engine(env)
    with Session(engine) as session:
        coin_id = session.scalar(
            select(Cryptocurrency.id).where(Cryptocurrency.coingecko_id == "bitcoin")
        )
        assert coin_id is not None
        prices = PriceRepository(session)
        for interval, bars in EXPECTED_BARS.items():
            window = history_window(TIERS[interval], days=365, now=fake_coingecko.now)
            assert window is not None
            assert prices.find_gaps(coin_id, interval, start=window.start, end=window.end) == []
            count = session.scalar(
                select(func.count())
                .select_from(PriceData)
                .where(PriceData.coin_id == coin_id, PriceData.interval == interval.value)
            )
            assert count == bars
    fake_coingecko.controls.log.clear()

    again = _run_cli(env, "sync", "history", "--coin", "bitcoin", "--no-migrate")

    assert again.returncode == 0, again.stderr
    assert "succeeded: 1 call(s), 0 row(s) written" in again.stdout
    assert fake_coingecko.requests_to("/market_chart") == []
    with Session(engine) as session:
        runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
        assert [(r.status, r.calls_made, r.rows_written) for r in runs] == [
            (SyncStatus.SUCCEEDED, 4, total),
            (SyncStatus.SUCCEEDED, 1, 0),
        ]
        assert session.scalar(select(func.count()).select_from(PriceData)) == total
    engine.dispose()


def test_sync_discover_then_prices(tmp_path: Path, fake_coingecko: FakeCoinGecko) -> None:
    env = _environment(tmp_path, fake_coingecko)
    runner = CliRunner()

    discovered = runner.invoke(app, ["sync", "discover", "--top", "10"], env=env)
    prices = runner.invoke(app, ["sync", "prices", "--no-migrate"], env=env)

    assert discovered.exit_code == 0, discovered.output
    assert "Sync discover #1 succeeded: 2 call(s)" in discovered.stdout
    assert prices.exit_code == 0, prices.output
    assert "Sync prices #2 succeeded: 1 call(s), 10 row(s) written" in prices.stdout
    engine = _engine(env)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Cryptocurrency)) == 10
    engine.dispose()


def test_sync_failures_exit_1_with_the_reason(
    tmp_path: Path, fake_coingecko: FakeCoinGecko
) -> None:
    env = _environment(tmp_path, fake_coingecko)
    runner = CliRunner()

    unknown = runner.invoke(app, ["sync", "history", "--coin", "no-such-coin"], env=env)
    fake_coingecko.faults.garbage(path="market_chart")
    garbage = runner.invoke(
        app, ["sync", "history", "--coin", "bitcoin", "--interval", "1d"], env=env
    )
    invalid = runner.invoke(app, ["sync", "history", "--coin", "Not A Coin"], env=env)

    assert unknown.exit_code == 1
    assert "Error: RunAborted: CoinGecko does not know coin 'no-such-coin'" in unknown.stderr
    assert garbage.exit_code == 1
    assert "failed: 2 call(s), 0 row(s) written" in garbage.stdout
    assert "Error: MalformedResponseError" in garbage.stderr
    assert "Traceback" not in garbage.output
    assert invalid.exit_code == 2
