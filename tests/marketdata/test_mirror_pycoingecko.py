"""Acceptance: the unchanged `pycoingecko` client, pointed at our mirror over real HTTP.

pycoingecko speaks through `requests`, so the app runs under uvicorn in a background thread.
It gets a database of its own, a temporary SQLite file migrated and seeded (committed) with
the real Bitcoin and Ethereum daily histories: the tests' rolled-back transaction would be
invisible to the server's connections, and this works the same on SQLite and PostgreSQL runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pycoingecko import CoinGeckoAPI
from sqlalchemy.orm import Session

from cryptopredict.core import migrations
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine
from cryptopredict.main import create_app
from cryptopredict.prices.importer import import_price_file
from tests.conftest import SNAPSHOT_PRICES, TEST_SECRET
from tests.marketdata.test_mirror import (
    assert_chart_shape,
    assert_entry_shape,
    kind,
    markets_nullable,
    recorded,
)

PRICES = SNAPSHOT_PRICES
COINS = ("bitcoin", "ethereum")


def daily_closes(coin: str) -> list[tuple[dt.datetime, float, float | None, float | None]]:
    """(day, close, market cap, volume) rows of a shared daily price file, oldest first."""
    with (PRICES / f"{coin}.csv").open(newline="", encoding="utf-8") as handle:
        return [
            (
                dt.datetime.fromisoformat(row["date"]).replace(tzinfo=dt.UTC),
                float(row["close"]),
                float(row["market_cap"]) if row["market_cap"] else None,
                float(row["volume"]) if row["volume"] else None,
            )
            for row in csv.DictReader(handle)
        ]


@pytest.fixture(scope="module")
def mirror_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of our app served by uvicorn on a free loopback port, over seeded data."""
    directory: Path = tmp_path_factory.mktemp("pycoingecko")
    url = f"sqlite:///{directory / 'mirror.db'}"
    migrations.upgrade(url)
    engine = create_db_engine(url)
    with Session(engine) as session:
        for coin in COINS:
            import_price_file(PRICES / f"{coin}.csv", session=session)
    settings = Settings(
        data_dir=directory, database_url=url, secret_key=TEST_SECRET, redis_url=None
    )
    app = create_app(settings, database=Database(engine))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="mirror-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture
def gecko(mirror_url: str) -> CoinGeckoAPI:
    """pycoingecko exactly as released; only its base URL points at us."""
    client = CoinGeckoAPI()
    client.api_base_url = f"{mirror_url}/api/v3/"
    return client


def test_ping(gecko: CoinGeckoAPI) -> None:
    assert gecko.ping() == recorded("ping.json")


def test_get_price(gecko: CoinGeckoAPI) -> None:
    body: dict[str, Any] = gecko.get_price(
        ids=["bitcoin", "ethereum", "no-such-coin"],
        vs_currencies="usd,eur",
        include_market_cap=True,
        include_24hr_vol=True,
        include_24hr_change=True,
        include_last_updated_at=True,
    )
    assert set(body) == set(COINS)
    example = recorded("simple_price_with_market_data.json")["bitcoin"]
    for coin in COINS:
        assert set(body[coin]) == set(example)
        assert {key: kind(value) for key, value in body[coin].items()} == {
            key: kind(value) for key, value in example.items()
        }
        rows = daily_closes(coin)
        (last_day, last_close, last_cap, _), (_, previous_close, _, _) = rows[-1], rows[-2]
        assert body[coin]["usd"] == last_close
        assert body[coin]["usd_market_cap"] == last_cap
        assert body[coin]["usd_24h_change"] == pytest.approx(
            100 * (last_close / previous_close - 1)
        )
        assert body[coin]["last_updated_at"] == int(last_day.timestamp())


def test_get_coins_markets(gecko: CoinGeckoAPI) -> None:
    body: list[dict[str, Any]] = gecko.get_coins_markets(vs_currency="usd")
    assert [entry["id"] for entry in body] == ["bitcoin", "ethereum"]  # by market-cap rank
    examples = recorded("coins_markets.json")
    for entry in body:
        assert_entry_shape(entry, examples, markets_nullable())
    bitcoin = body[0]
    rows = daily_closes("bitcoin")
    assert bitcoin["current_price"] == rows[-1][1]
    assert bitcoin["price_change_24h"] == pytest.approx(rows[-1][1] - rows[-2][1])
    assert bitcoin["last_updated"] == "2021-07-06T00:00:00.000Z"

    with_year = gecko.get_coins_markets(
        vs_currency="usd", ids="bitcoin,ethereum", price_change_percentage="1y"
    )
    for entry in with_year:
        assert_entry_shape(entry, recorded("coins_markets_btc_eth_1y.json"), markets_nullable())
        assert entry["price_change_percentage_1y_in_currency"] is not None

    with pytest.raises(ValueError, match="invalid vs_currency"):
        gecko.get_coins_markets(vs_currency="eur")


def test_get_coin_market_chart_by_id(gecko: CoinGeckoAPI) -> None:
    full = gecko.get_coin_market_chart_by_id(id="bitcoin", vs_currency="usd", days="max")
    assert_chart_shape(full)
    rows = daily_closes("bitcoin")
    assert len(full["prices"]) == len(rows)
    assert full["prices"][0] == [int(rows[0][0].timestamp()) * 1000, rows[0][1]]
    assert full["prices"][-1] == [int(rows[-1][0].timestamp()) * 1000, rows[-1][1]]
    assert {b[0] - a[0] for a, b in zip(full["prices"], full["prices"][1:], strict=False)} == {
        86_400_000
    }
    # Volumes the source lacks (2013) stay null: exactly the file's empty cells.
    assert [v for _, v in full["total_volumes"]] == [row[3] for row in rows]
    assert sum(v is None for _, v in full["total_volumes"]) == 242

    # Relative windows end at the wall clock; the shared history ends in 2021.
    recent = gecko.get_coin_market_chart_by_id(id="ethereum", vs_currency="usd", days=30)
    assert recent == {"prices": [], "market_caps": [], "total_volumes": []}

    january = gecko.get_coin_market_chart_range_by_id(
        id="ethereum", vs_currency="usd", from_timestamp=1609459200, to_timestamp=1612051200
    )
    assert_chart_shape(january)
    assert len(january["prices"]) == 31  # no hourly data stored: daily points

    ohlc = gecko.get_coin_ohlc_by_id(id="bitcoin", vs_currency="usd", days="max")
    assert {b[0] - a[0] for a, b in zip(ohlc, ohlc[1:], strict=False)} == {4 * 86_400_000}

    with pytest.raises(ValueError, match="coin not found"):
        gecko.get_coin_market_chart_by_id(id="no-such-coin", vs_currency="usd", days=1)
