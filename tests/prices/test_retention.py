"""Retention: old 5-minute and hourly rows downsampled into coarser bars, on the real database
(SQLite, or PostgreSQL with CRYPTOPREDICT_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import PRICES_NAMESPACE, MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.retention import (
    ROLLUP_SOURCE,
    RetentionPolicy,
    RetentionReport,
    apply_retention,
)
from cryptopredict.prices.types import Interval, PriceRow
from tests.factories import Factory
from tests.prices.conftest import price_count

# A run at NOW: 5-minute rows are kept from 2024-02-23 00:30 (hours ending by 00:00 roll up),
# hourly rows from 2023-12-02 00:30 (days ending by 2023-12-02 00:00 roll up).
NOW = dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC)
FIVE = dt.timedelta(minutes=5)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
POLICY = RetentionPolicy(five_minute_days=7, hourly_days=90)

Snapshot = list[tuple[Any, ...]]


def _rows(
    coin: Cryptocurrency,
    interval: Interval,
    start: dt.datetime,
    prices: list[float],
    *,
    source: str = "coingecko",
) -> list[PriceRow]:
    """Consecutive price-only points, as the sync stores them: volume and market cap vary
    with the price so each bar's picks are visible."""
    width = dt.timedelta(seconds=interval.seconds)
    return [
        PriceRow(
            coin_id=coin.id,
            interval=interval.value,
            price_at=start + i * width,
            open=None,
            high=None,
            low=None,
            close=None,
            price=price,
            volume=price * 10,
            market_cap=price * 1000,
            source=source,
        )
        for i, price in enumerate(prices)
    ]


def _store(session: Session, rows: list[PriceRow]) -> None:
    PriceRepository(session).bulk_upsert(rows)
    session.commit()


def _snapshot(session: Session, coin: Cryptocurrency | None = None) -> Snapshot:
    statement = select(
        PriceData.coin_id,
        PriceData.interval,
        PriceData.price_at,
        PriceData.open,
        PriceData.high,
        PriceData.low,
        PriceData.close,
        PriceData.price,
        PriceData.volume,
        PriceData.market_cap,
        PriceData.source,
    ).order_by(PriceData.coin_id, PriceData.interval, PriceData.price_at)
    if coin is not None:
        statement = statement.where(PriceData.coin_id == coin.id)
    return [tuple(row) for row in session.execute(statement)]


def _series(session: Session, coin: Cryptocurrency, interval: Interval) -> list[PriceData]:
    return PriceRepository(session).range(coin.id, interval)


def _run(session: Session, cache: MemoryCache | None = None) -> RetentionReport:
    return apply_retention(session=session, policy=POLICY, now=NOW, cache=cache)


def _counts(report: RetentionReport) -> dict[tuple[int, str, str], tuple[int, int, int]]:
    return {
        (step.coin_id, step.interval.value, step.target.value): (
            step.rows_aggregated,
            step.bars_created,
            step.rows_deleted,
        )
        for step in report.steps
    }


def test_policy_from_settings_and_its_steps() -> None:
    settings = Settings(retention_5m_days=3, retention_1h_days=30)
    policy = RetentionPolicy.from_settings(settings)
    assert (policy.five_minute_days, policy.hourly_days) == (3, 30)
    hours_end = dt.datetime(2024, 2, 27, tzinfo=dt.UTC)  # NOW - 3 days, floored to the hour
    days_end = dt.datetime(2024, 1, 31, tzinfo=dt.UTC)  # NOW - 30 days, floored to the day
    assert [(s.source, s.target, s.start, s.end) for s in policy.steps(NOW)] == [
        (Interval.HOUR, Interval.DAY, None, days_end),
        (Interval.FIVE_MINUTES, Interval.DAY, None, days_end),
        (Interval.FIVE_MINUTES, Interval.HOUR, days_end, hours_end),
    ]
    with pytest.raises(ValueError, match="at least as long"):
        RetentionPolicy(five_minute_days=10, hourly_days=5)
    with pytest.raises(ValueError, match="naive"):
        policy.steps(NOW.replace(tzinfo=None))


def test_five_minute_rows_roll_into_hourly_bars(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    prices = [100.0 + i for i in range(24)]
    prices[5] = 150.0  # the first hour's high
    prices[17] = 50.0  # the second hour's low
    recent = _rows(coin, Interval.FIVE_MINUTES, NOW - HOUR, [300.0, 301.0])
    _store(db_session, _rows(coin, Interval.FIVE_MINUTES, ten, prices) + recent)

    report = _run(db_session)

    hourly = _series(db_session, coin, Interval.HOUR)
    assert [(b.price_at, b.open, b.high, b.low, b.close, b.price) for b in hourly] == [
        (ten, 100.0, 150.0, 100.0, 111.0, 111.0),
        (ten + HOUR, 112.0, 123.0, 50.0, 123.0, 123.0),
    ]
    # Volume and market cap of the closing row, as CoinGecko's hourly point carries them
    # (its volume is a rolling 24 h total: summing twelve of them would count it 12 times).
    assert [(b.volume, b.market_cap, b.source) for b in hourly] == [
        (1110.0, 111_000.0, ROLLUP_SOURCE),
        (1230.0, 123_000.0, ROLLUP_SOURCE),
    ]
    assert [r.price for r in _series(db_session, coin, Interval.FIVE_MINUTES)] == [300.0, 301.0]
    assert _counts(report) == {(coin.id, "5m", "1h"): (24, 2, 24)}
    assert report.skipped == []


def test_existing_hourly_bar_is_authoritative(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    stored = PriceRow(coin.id, "1h", ten, 1.0, 9.0, 0.5, 7.0, 7.0, 42.0, 4200.0, "csv")
    _store(db_session, [stored])
    _store(db_session, _rows(coin, Interval.FIVE_MINUTES, ten, [100.0 + i for i in range(24)]))
    _store(db_session, _rows(coin, Interval.FIVE_MINUTES, NOW - HOUR, [300.0]))

    report = _run(db_session)

    hourly = _series(db_session, coin, Interval.HOUR)
    first = hourly[0]
    assert (first.open, first.high, first.low, first.close, first.price) == (
        1.0,
        9.0,
        0.5,
        7.0,
        7.0,
    )
    assert (first.volume, first.market_cap, first.source) == (42.0, 4200.0, "csv")
    assert [b.price_at for b in hourly] == [ten, ten + HOUR]  # only the missing hour was made
    # Both hours are covered (one stored, one created): all 24 rows go.
    assert _counts(report) == {(coin.id, "5m", "1h"): (12, 1, 24)}
    assert len(_series(db_session, coin, Interval.FIVE_MINUTES)) == 1


def test_only_complete_hours_older_than_the_cutoff(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    # 22:00 to 00:55 around the cutoff (2024-02-23 00:30): the hours 22:00 and 23:00 end by
    # then; 00:00 straddles it, so its rows stay even though some are older than the cutoff.
    start = dt.datetime(2024, 2, 22, 22, tzinfo=dt.UTC)
    _store(db_session, _rows(coin, Interval.FIVE_MINUTES, start, [10.0 + i for i in range(36)]))
    newer = _snapshot(db_session)[24:]

    report = _run(db_session)

    assert [b.price_at for b in _series(db_session, coin, Interval.HOUR)] == [start, start + HOUR]
    assert _snapshot(db_session)[-12:] == newer
    assert len(_series(db_session, coin, Interval.FIVE_MINUTES)) == 12
    assert _counts(report) == {(coin.id, "5m", "1h"): (24, 2, 24)}


def test_hour_without_its_closing_row_keeps_its_rows(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    # 10:00 lacks 10:55: its close (the price at 11:00) is unknown, so no bar and no deletion.
    rows = _rows(coin, Interval.FIVE_MINUTES, ten, [100.0 + i for i in range(24)])
    del rows[11]
    _store(db_session, rows + _rows(coin, Interval.FIVE_MINUTES, NOW - HOUR, [300.0]))

    report = _run(db_session)

    assert [b.price_at for b in _series(db_session, coin, Interval.HOUR)] == [ten + HOUR]
    left = [r.price_at for r in _series(db_session, coin, Interval.FIVE_MINUTES)]
    assert left == [ten + i * FIVE for i in range(11)] + [NOW - HOUR]
    assert _counts(report) == {(coin.id, "5m", "1h"): (12, 1, 12)}

    # Once an hourly bar arrives for it (say the sync fills the hour), the next run clears it.
    _store(db_session, _rows(coin, Interval.HOUR, ten, [99.0]))
    again = _run(db_session)
    assert _counts(again) == {(coin.id, "5m", "1h"): (0, 0, 11)}
    assert _series(db_session, coin, Interval.HOUR)[0].price == 99.0


def test_csv_rows_sum_their_per_bar_volumes(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    rows = _rows(coin, Interval.FIVE_MINUTES, ten, [1.0] * 12, source="csv")
    _store(db_session, rows + _rows(coin, Interval.FIVE_MINUTES, NOW - HOUR, [300.0]))

    _run(db_session)

    (bar,) = _series(db_session, coin, Interval.HOUR)
    assert (bar.volume, bar.market_cap, bar.source) == (120.0, 1000.0, "csv")


def test_last_point_kept_however_old(db_session: Session, factory: Factory) -> None:
    only_hour = factory.coin()
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    _store(db_session, _rows(only_hour, Interval.FIVE_MINUTES, ten, [100.0 + i for i in range(12)]))
    ancient_day = factory.coin()
    day = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    day_prices = [1000.0 + i for i in range(288)]
    _store(db_session, _rows(ancient_day, Interval.FIVE_MINUTES, day, day_prices))
    single = factory.coin()
    _store(db_session, _rows(single, Interval.FIVE_MINUTES, day, [5.0]))

    report = _run(db_session)

    (kept,) = _series(db_session, only_hour, Interval.FIVE_MINUTES)
    assert (kept.price_at, kept.price) == (ten + 11 * FIVE, 111.0)
    assert [b.price for b in _series(db_session, only_hour, Interval.HOUR)] == [111.0]
    # 5-minute rows older than the hourly cutoff go straight into days.
    (kept,) = _series(db_session, ancient_day, Interval.FIVE_MINUTES)
    assert (kept.price_at, kept.price) == (day + 287 * FIVE, 1287.0)
    assert _series(db_session, ancient_day, Interval.HOUR) == []
    (daily,) = _series(db_session, ancient_day, Interval.DAY)
    assert (daily.price_at, daily.open, daily.high, daily.low, daily.price) == (
        day,
        1000.0,
        1287.0,
        1000.0,
        1287.0,
    )
    (kept,) = _series(db_session, single, Interval.FIVE_MINUTES)
    assert kept.price == 5.0
    assert _counts(report) == {
        (only_hour.id, "5m", "1h"): (12, 1, 11),
        (ancient_day.id, "5m", "1d"): (288, 1, 287),
        (ancient_day.id, "5m", "1h"): (0, 0, 0),
        (single.id, "5m", "1d"): (0, 0, 0),
        (single.id, "5m", "1h"): (0, 0, 0),
    }


def test_hourly_rows_roll_into_daily_bars(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    first, second = dt.datetime(2023, 11, 1, tzinfo=dt.UTC), dt.datetime(2023, 11, 2, tzinfo=dt.UTC)
    prices = [200.0 + i for i in range(48)]
    stored_day = PriceRow(coin.id, "1d", second, 1.0, 2.0, 0.5, 1.5, 1.5, 7.0, 70.0, "csv")
    recent = _rows(coin, Interval.HOUR, NOW - DAY, [500.0])
    _store(db_session, _rows(coin, Interval.HOUR, first, prices) + recent + [stored_day])

    report = _run(db_session)

    daily = _series(db_session, coin, Interval.DAY)
    assert [
        (b.price_at, b.open, b.high, b.low, b.price, b.volume, b.market_cap) for b in daily
    ] == [
        (first, 200.0, 223.0, 200.0, 223.0, 2230.0, 223_000.0),
        (second, 1.0, 2.0, 0.5, 1.5, 7.0, 70.0),  # the stored day, as it was
    ]
    assert [b.price_at for b in _series(db_session, coin, Interval.HOUR)] == [NOW - DAY]
    assert _counts(report) == {(coin.id, "1h", "1d"): (24, 1, 48)}


def test_second_run_changes_nothing(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    _store(
        db_session,
        _rows(coin, Interval.FIVE_MINUTES, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), [1.0] * 300),
    )
    _store(
        db_session,
        _rows(coin, Interval.FIVE_MINUTES, dt.datetime(2024, 2, 20, tzinfo=dt.UTC), [2.0] * 30),
    )
    _store(
        db_session, _rows(coin, Interval.HOUR, dt.datetime(2023, 1, 1, tzinfo=dt.UTC), [3.0] * 50)
    )
    other = factory.coin()
    _store(
        db_session, _rows(other, Interval.HOUR, dt.datetime(2023, 1, 1, tzinfo=dt.UTC), [4.0] * 30)
    )
    cache = MemoryCache()

    first = _run(db_session, cache)
    assert first.bars_created and first.rows_deleted
    after = _snapshot(db_session)
    stale = asyncio.run(cache.lookup(PRICES_NAMESPACE, "history"))
    asyncio.run(cache.store(stale, b"cached"))

    second = _run(db_session, cache)

    assert _snapshot(db_session) == after
    assert (second.rows_aggregated, second.bars_created, second.rows_deleted) == (0, 0, 0)
    assert second.skipped == []
    # Nothing written: the cached response is still valid.
    assert asyncio.run(cache.lookup(PRICES_NAMESPACE, "history")).value == b"cached"


def test_writes_invalidate_the_response_cache(db_session: Session, factory: Factory) -> None:
    coin = factory.coin()
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    _store(db_session, _rows(coin, Interval.FIVE_MINUTES, ten, [1.0] * 13))
    cache = MemoryCache()
    stale = asyncio.run(cache.lookup(PRICES_NAMESPACE, "history"))
    asyncio.run(cache.store(stale, b"stale"))

    _run(db_session, cache)

    assert asyncio.run(cache.lookup(PRICES_NAMESPACE, "history")).value is None


@pytest.fixture
def failing_delete(engine: Engine) -> Iterator[list[int]]:
    """Make the first DELETE from price_data fail as a lost connection would (the database is
    real; only that statement never reaches it). Yields the number of faults raised."""
    raised: list[int] = []

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("DELETE FROM price_data") and not raised:
            raised.append(1)
            raise OperationalError(statement, {}, Exception("injected fault"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield raised
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def test_fault_mid_step_rolls_that_step_back(
    db_session: Session, factory: Factory, failing_delete: list[int]
) -> None:
    ten = dt.datetime(2024, 2, 20, 10, tzinfo=dt.UTC)
    broken, fine = factory.coin(), factory.coin()  # steps run in coin order: broken first
    for coin in (broken, fine):
        _store(db_session, _rows(coin, Interval.FIVE_MINUTES, ten, [1.0 + i for i in range(25)]))
    before = _snapshot(db_session, broken)

    report = _run(db_session)

    assert failing_delete == [1]
    assert _snapshot(db_session, broken) == before  # its new bars went with the failed delete
    (skipped,) = report.skipped
    assert (skipped.coin_id, skipped.interval, skipped.target) == (broken.id, "5m", "1h")
    assert skipped.error is not None and "injected fault" in skipped.error
    assert _counts(report)[(fine.id, "5m", "1h")] == (24, 2, 24)
    assert price_count(db_session, fine.id) == 3

    # The next run finishes the job.
    again = _run(db_session)
    assert _counts(again)[(broken.id, "5m", "1h")] == (24, 2, 24)
    assert [r[1:] for r in _snapshot(db_session, broken)] == [
        r[1:] for r in _snapshot(db_session, fine)
    ]
    assert price_count(db_session, broken.id) == 3
