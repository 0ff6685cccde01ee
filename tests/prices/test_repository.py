"""PriceRepository directly against the database: upserts, gaps, resampling, latest, look-ups."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from cryptopredict.prices.models import Interval
from cryptopredict.prices.repository import PointLookup, PriceRepository, PriceRow
from tests.factories import Factory
from tests.prices.conftest import DAY, HOUR, T0, price_count


def _row(coin_id: int, day: int, price: float, interval: str = "1d") -> PriceRow:
    return PriceRow(
        coin_id=coin_id,
        interval=interval,
        price_at=T0 + day * DAY,
        open=None,
        high=None,
        low=None,
        close=price,
        price=price,
        volume=None,
        market_cap=None,
        source="test",
    )


def test_bulk_upsert_counts_only_real_changes(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    rows = [_row(coin.id, day, 100.0 + day) for day in range(3)]
    assert prices.bulk_upsert(rows) == 3
    assert prices.bulk_upsert(rows) == 0
    changed = [*rows[:2], dataclasses.replace(rows[2], price=1.5)]
    assert prices.bulk_upsert(changed) == 1
    # Within one batch the last row for a key wins.
    assert prices.bulk_upsert([_row(coin.id, 5, 1.0), _row(coin.id, 5, 2.0)]) == 1
    db_session.commit()
    stored = prices.range(coin.id, Interval.DAY)
    assert [r.price for r in stored] == [100.0, 101.0, 1.5, 2.0]
    assert price_count(db_session, coin.id) == 4


def test_find_gaps(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    prices.bulk_upsert([_row(coin.id, day, 10.0) for day in (0, 1, 4, 5, 7)])
    gaps = prices.find_gaps(coin.id, Interval.DAY)
    assert [(g.start, g.end, g.missing) for g in gaps] == [
        (T0 + 2 * DAY, T0 + 3 * DAY, 2),
        (T0 + 6 * DAY, T0 + 6 * DAY, 1),
    ]
    assert prices.find_gaps(coin.id, Interval.DAY, start=T0 + 4 * DAY, end=T0 + 5 * DAY) == []


def test_resample_hourly_to_daily(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    closes = [float(10 + (i * 5) % 13) for i in range(30)]  # 24 h of day one, 6 h of day two
    factory.daily_prices(coin, closes, start=T0, interval="1h", step=HOUR, volume=2.0)
    bars = PriceRepository(db_session).resample(coin.id, Interval.HOUR, Interval.DAY)
    assert [b.price_at for b in bars] == [T0, T0 + DAY]
    first, second = bars
    opens = [closes[0], *closes[:-1]]  # the factory opens each bar at the previous close
    assert first.open == closes[0]
    assert first.close == closes[23]
    assert first.high == max(max(o, c) for o, c in zip(opens[:24], closes[:24], strict=True))
    assert first.low == min(min(o, c) for o, c in zip(opens[:24], closes[:24], strict=True))
    assert (first.volume, first.points) == (48.0, 24)
    assert (second.open, second.close, second.points) == (closes[23], closes[29], 6)


def test_resample_buckets_unaligned_instants_by_utc_epoch(
    db_session: Session, factory: Factory
) -> None:
    coin = factory.coin("bitcoin")
    instants = [
        T0 + dt.timedelta(minutes=3, seconds=17),
        T0 + DAY - dt.timedelta(microseconds=500),  # still day one
        T0 + DAY,  # first instant of day two
        T0 + DAY + dt.timedelta(hours=5, microseconds=1),
    ]
    rows = [
        dataclasses.replace(_row(coin.id, 0, price, "5m"), price_at=at, volume=volume)
        for at, price, volume in zip(
            instants, [5.0, 9.0, 7.0, 3.0], [None, 2.5, None, None], strict=True
        )
    ]
    prices = PriceRepository(db_session)
    prices.bulk_upsert(rows)
    bars = prices.resample(coin.id, Interval.FIVE_MINUTES, Interval.DAY)
    assert [(b.price_at, b.open, b.high, b.low, b.close, b.volume, b.points) for b in bars] == [
        (T0, 5.0, 9.0, 5.0, 9.0, 2.5, 2),
        (T0 + DAY, 7.0, 7.0, 3.0, 3.0, None, 2),
    ]
    later = prices.resample(coin.id, Interval.FIVE_MINUTES, Interval.DAY, start=T0 + DAY)
    assert [b.points for b in later] == [2]
    hourly = prices.resample(coin.id, Interval.FIVE_MINUTES, Interval.HOUR, end=T0 + DAY)
    assert [b.price_at for b in hourly] == [T0, T0 + 23 * HOUR, T0 + DAY]


def test_latest_prefers_newest_then_finest(db_session: Session, factory: Factory) -> None:
    bitcoin, ethereum, empty = factory.coin("bitcoin"), factory.coin("ethereum"), factory.coin()
    factory.daily_prices(bitcoin, [1.0, 2.0, 3.0], start=T0)
    factory.daily_prices(bitcoin, [3.5], start=T0 + 2 * DAY, interval="5m")
    factory.daily_prices(ethereum, [7.0, 8.0], start=T0, interval="1h", step=HOUR)
    prices = PriceRepository(db_session)
    latest = prices.latest([bitcoin.id, ethereum.id, empty.id])
    assert set(latest) == {bitcoin.id, ethereum.id}
    assert (latest[bitcoin.id].interval, latest[bitcoin.id].price) == ("5m", 3.5)
    assert (latest[ethereum.id].price_at, latest[ethereum.id].price) == (T0 + HOUR, 8.0)

    extents = prices.extents([bitcoin.id, empty.id])
    assert extents[empty.id] == {}
    assert extents[bitcoin.id][Interval.DAY].first == T0
    assert extents[bitcoin.id][Interval.DAY].last == T0 + 2 * DAY
    assert set(extents[bitcoin.id]) == {Interval.DAY, Interval.FIVE_MINUTES}


def test_points_and_at_or_before(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    factory.daily_prices(coin, [10.0, 20.0, 30.0, 40.0], start=T0)
    prices = PriceRepository(db_session)
    newest_two = prices.points(coin.id, Interval.DAY, limit=2)
    assert [(r[0], r[5]) for r in newest_two] == [(T0 + 2 * DAY, 30.0), (T0 + 3 * DAY, 40.0)]
    found = prices.at_or_before(
        [
            PointLookup(coin.id, "1d", T0 + 2 * DAY + HOUR),
            PointLookup(coin.id, "1d", T0 - HOUR),
            PointLookup(coin.id, "1h", T0 + 9 * DAY),
            PointLookup(coin.id, "1d", T0),
        ]
    )
    assert found == [(T0 + 2 * DAY, 30.0), None, None, (T0, 10.0)]


def test_points_are_utc_whatever_the_session_time_zone(
    db_session: Session, factory: Factory
) -> None:
    coin = factory.coin("bitcoin")
    factory.daily_prices(coin, [1.0, 2.0], start=T0)
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
    rows = PriceRepository(db_session).points(coin.id, Interval.DAY, start=T0, end=T0 + DAY)
    assert [row[0] for row in rows] == [T0, T0 + DAY]
    assert all(row[0].utcoffset() == dt.timedelta(0) for row in rows)
