"""Coins whose CoinGecko history starts after the range asked for: the sync learns where each
series begins and never asks for the empty range before it again, so a rerun with nothing
new costs one call (the markets lookup) however many days are asked for. Over real HTTP
against a fake CoinGecko serving short CSVs."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.history import ORIGIN_SOURCE, SOURCE
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.sync import MarketSync
from cryptopredict.marketdata.types import SyncStatus
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.types import Interval
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko
from tests.factories import Factory
from tests.marketdata.conftest import fast_limiter, lenient_breaker

LAST_DAY = dt.date(2021, 7, 6)  # the fake's clock: the next midnight
YOUNG_LISTED = dt.date(2021, 6, 20)  # young for every interval: 17 days of history
MID_LISTED = dt.date(2020, 1, 1)  # older than a year, younger than ten

Sync = Callable[..., SyncRun]


def _write_csv(path: Path, first: dt.date, last: dt.date = LAST_DAY) -> None:
    lines = ["date,open,high,low,close,volume,market_cap"]
    day, index = first, 0
    while day <= last:
        close = 10.0 + index * 0.25
        lines.append(f"{day},{close},{close + 1},{close - 1},{close},{1e6 + index},{1e9 + index}")
        day += dt.timedelta(days=1)
        index += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def young_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCoinGecko]:
    """A fake CoinGecko knowing two coins listed recently."""
    data_dir = tmp_path_factory.mktemp("young-coins")
    _write_csv(data_dir / "youngcoin.csv", YOUNG_LISTED)
    _write_csv(data_dir / "midcoin.csv", MID_LISTED)
    with running_fake_coingecko(data_dir) as fake:
        yield fake


@pytest.fixture
def fake(young_fake: FakeCoinGecko) -> Iterator[FakeCoinGecko]:
    young_fake.reset()
    yield young_fake
    young_fake.reset()


@pytest.fixture
def sync(db_session: Session, fake: FakeCoinGecko, tmp_path: Path) -> Sync:
    """Run one sync against the fake, from an empty request log: `sync(days=.., coin=..)`."""
    settings = Settings(
        data_dir=tmp_path,
        redis_url=None,
        coingecko_base_url=fake.base_url,
        coingecko_api_key=None,
        coingecko_timeout_seconds=2,
    )

    def run(**options: object) -> SyncRun:
        fake.controls.log.clear()

        async def go() -> SyncRun:
            async with CoinGeckoClient(
                settings, limiter=fast_limiter(), breaker=lenient_breaker()
            ) as client:
                syncer = MarketSync(session=db_session, client=client, cache=MemoryCache())
                return await syncer.history(**options)  # type: ignore[arg-type]

        return asyncio.run(go())

    return run


def _first_bars(session: Session, coingecko_id: str) -> dict[str, tuple[dt.datetime, str]]:
    """Each interval's first stored bar and its source."""
    coin_id = session.scalar(
        select(Cryptocurrency.id).where(Cryptocurrency.coingecko_id == coingecko_id)
    )
    found: dict[str, tuple[dt.datetime, str]] = {}
    rows = session.execute(
        select(PriceData.interval, PriceData.price_at, PriceData.source)
        .where(PriceData.coin_id == coin_id)
        .order_by(PriceData.price_at)
    )
    for interval, price_at, source in rows:
        found.setdefault(interval, (price_at, source))
    return found


def _at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def test_a_young_coins_rerun_over_ten_years_makes_one_call_and_writes_nothing(
    sync: Sync, fake: FakeCoinGecko, db_session: Session
) -> None:
    first = sync(coin="youngcoin", days=3650)

    assert (first.status, first.error) == (SyncStatus.SUCCEEDED, None)
    assert first.rows_written > 0
    assert len(fake.requests_to("/market_chart/range")) >= 10  # ten years of empty ranges
    # Where CoinGecko's history begins is kept on the first bar of each series: the day's
    # close is served at the next midnight, hourly points start at that first close.
    assert _first_bars(db_session, "youngcoin") == {
        "1d": (_at(YOUNG_LISTED), ORIGIN_SOURCE),
        "1h": (_at(YOUNG_LISTED, 23), ORIGIN_SOURCE),
        "5m": (_at(LAST_DAY, 0) + dt.timedelta(minutes=10), SOURCE),  # a full day: no edge
    }

    rerun = sync(coin="youngcoin", days=3650)

    assert (rerun.status, rerun.rows_written, rerun.calls_made) == (SyncStatus.SUCCEEDED, 0, 1)
    assert fake.requests_to("/market_chart") == []


def test_a_backfill_rerun_makes_one_call_for_all_coins(
    sync: Sync, fake: FakeCoinGecko, factory: Factory
) -> None:
    factory.coin("youngcoin")
    factory.coin("midcoin")

    first = sync(days=3650)
    rerun = sync(days=3650)

    assert first.status == SyncStatus.SUCCEEDED and first.calls_made > 20
    assert (rerun.status, rerun.rows_written, rerun.calls_made) == (SyncStatus.SUCCEEDED, 0, 1)
    assert [r.path for r in fake.requests] == ["/api/v3/coins/markets"]


def test_the_start_is_learnt_when_a_longer_range_is_first_asked_for(
    sync: Sync, fake: FakeCoinGecko, db_session: Session
) -> None:
    assert sync(coin="midcoin", days=365).rows_written > 0
    # A year's history is there from its first day: nothing says where the coin starts.
    assert {source for _, source in _first_bars(db_session, "midcoin").values()} == {SOURCE}
    assert sync(coin="midcoin", days=365).calls_made == 1

    longer = sync(coin="midcoin", days=3650)

    assert longer.status == SyncStatus.SUCCEEDED and longer.rows_written > 0
    assert _first_bars(db_session, "midcoin")["1d"] == (_at(MID_LISTED), ORIGIN_SOURCE)
    assert sync(coin="midcoin", days=3650).calls_made == 1
    assert fake.requests_to("/market_chart") == []


def test_bars_stored_before_the_start_was_known_are_marked_once_the_empty_range_is_asked(
    sync: Sync, fake: FakeCoinGecko, db_session: Session
) -> None:
    assert sync(coin="youngcoin", days=3650).status == SyncStatus.SUCCEEDED
    # As a database synced before this knowledge was kept would hold them.
    db_session.execute(
        update(PriceData).where(PriceData.source == ORIGIN_SOURCE).values(source=SOURCE)
    )
    db_session.commit()

    relearn = sync(coin="youngcoin", days=3650)

    assert (relearn.status, relearn.rows_written) == (SyncStatus.SUCCEEDED, 0)
    assert relearn.calls_made > 1  # the empty ranges, asked once more
    assert _first_bars(db_session, "youngcoin")["1d"] == (_at(YOUNG_LISTED), ORIGIN_SOURCE)
    assert sync(coin="youngcoin", days=3650).calls_made == 1


def test_a_range_refused_to_a_demo_key_teaches_nothing(
    sync: Sync, fake: FakeCoinGecko, db_session: Session
) -> None:
    fake.controls.keyless_history_days = 365  # keyless callers reach a year back, like demo

    first = sync(coin="midcoin", days=3650, intervals=[Interval.DAY])
    again = sync(coin="midcoin", days=3650, intervals=[Interval.DAY])

    assert first.status == again.status == SyncStatus.PARTIAL
    assert first.error and "not available (401" in first.error
    assert _first_bars(db_session, "midcoin")["1d"][1] == SOURCE
    assert again.calls_made > 1 and again.rows_written == 0  # asked again: it may exist
