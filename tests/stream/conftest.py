"""Stream fixtures: the fake CoinGecko over real HTTP, and deployments made of real processes
(`cryptopredict serve`, `cryptopredict sync ...`) sharing one SQLite file in a temp folder."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko
from tests.conftest import answering_test_redis
from tests.serving import server_env

TOP_COINS = 10
FIVE_MINUTES = dt.timedelta(minutes=5)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the application."""
    return "asyncio"


@pytest.fixture(scope="module")
def fake_coingecko() -> Iterator[FakeCoinGecko]:
    """The fake CoinGecko (uvicorn in a thread of this process), one per module, its clock a
    day before the end of its data, so each later sync finds newer prices."""
    with running_fake_coingecko() as fake:
        fake.now = fake.now - dt.timedelta(days=1)
        yield fake


@pytest.fixture(scope="module")
def module_redis_url() -> str:
    """The test Redis, for module-scoped servers (as the `redis_url` fixture decides)."""
    return answering_test_redis()


@dataclass(frozen=True)
class Deployment:
    """The settings every process of one deployment shares, and its data folder."""

    data_dir: Path
    settings: dict[str, str]
    fake: FakeCoinGecko

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run `cryptopredict ARGS` as another process of the deployment (`extra`: settings
        for this process only); its output when it succeeded."""
        completed = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "cryptopredict.cli", *args],
            env=server_env(self.data_dir, self.settings | extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return completed

    def sync_prices(self, **extra: str) -> subprocess.CompletedProcess[str]:
        """`cryptopredict sync prices` in a process of its own, five minutes after the last
        one on the fake's clock, so it has new prices to store."""
        self.fake.now = self.fake.now + FIVE_MINUTES
        completed = self.cli("sync", "prices", "--no-migrate", **extra)
        assert re.search(r"succeeded: 1 call\(s\), [1-9]\d* row\(s\)", completed.stdout), (
            completed.stdout
        )
        return completed


def deployment(data_dir: Path, fake: FakeCoinGecko, **settings: str) -> Deployment:
    """A migrated database holding the top coins of the fake, for servers and syncs with
    these settings (and no scheduler: the tests run the syncs)."""
    shared = {
        "CRYPTOPREDICT_COINGECKO_BASE_URL": fake.base_url,
        "CRYPTOPREDICT_COINGECKO_CALLS_PER_MINUTE": "6000",
        "CRYPTOPREDICT_SCHEDULER": "off",
        "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
    }
    found = Deployment(data_dir, shared | settings, fake)
    found.cli("db", "upgrade")
    found.cli("sync", "discover", "--top", str(TOP_COINS), "--no-migrate")
    return found
