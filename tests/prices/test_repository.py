"""PriceRepository directly against the database: upserts, gaps, resampling, latest, look-ups."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.coins.schemas import CatalogueOrder
from cryptopredict.prices import pgcopy
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.schemas import WindowKey, WindowStats
from cryptopredict.prices.types import ALL_COLUMNS, Interval, PointLookup, PriceColumns, PriceRow
from tests.conftest import need_service
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


# ---- PostgreSQL write paths: straight COPY into price_data, or staging + merge ------------


def _require_postgresql(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        need_service("postgresql", "set CRYPTOPREDICT_TEST_DATABASE_URL to a PostgreSQL URL")


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where each binary COPY went: 'price_data' (the direct path) or 'staging' (the merge)."""
    used: list[str] = []
    original = pgcopy._copy_rows

    def spy(cursor: Any, statement: str, rows: Any) -> None:
        used.append("staging" if "price_data_staging" in statement else "price_data")
        original(cursor, statement, rows)

    monkeypatch.setattr(pgcopy, "_copy_rows", spy)
    return used


def _bar(coin_id: int, day: int, interval: str = "1d") -> PriceRow:
    """A full bar with values that differ per day, some of them unknown."""
    close = 100.0 + day * 1.25
    return PriceRow(
        coin_id=coin_id,
        interval=interval,
        price_at=T0 + day * DAY,
        open=None if day % 4 == 0 else close - 0.5,
        high=close + 1.0 / 3.0,
        low=close - 2.0,
        close=close,
        price=close,
        volume=None if day % 3 == 0 else day * 1e9 + 0.1,
        market_cap=day * 7.0,
        source="test",
    )


def _stored(session: Session, coin_id: int) -> list[tuple[Any, ...]]:
    """Everything stored for a coin but the coin itself, oldest first."""
    columns = ", ".join(c for c in ALL_COLUMNS if c != "coin_id")
    statement = text(
        f"SELECT {columns} FROM price_data WHERE coin_id = :coin "  # noqa: S608 - constants
        "ORDER BY interval, price_at"
    )
    return [tuple(row) for row in session.execute(statement, {"coin": coin_id})]


def test_direct_copy_and_merge_store_the_same_rows_and_count_writes(
    db_session: Session, factory: Factory, copies: list[str]
) -> None:
    _require_postgresql(db_session)
    direct, merged = factory.coin("bitcoin"), factory.coin("ethereum")
    prices = PriceRepository(db_session)

    # A series with nothing stored in the batch's span: COPY straight into price_data.
    assert prices.bulk_upsert([_bar(direct.id, day) for day in range(12)]) == 12
    assert copies == ["price_data"]
    # One stored bar inside the span: the whole batch goes through staging and the merge.
    assert prices.bulk_upsert([_bar(merged.id, 5)]) == 1
    assert prices.bulk_upsert([_bar(merged.id, day) for day in range(12)]) == 11
    assert copies == ["price_data", "price_data", "staging"]
    db_session.commit()
    assert len(_stored(db_session, direct.id)) == 12
    assert _stored(db_session, direct.id) == _stored(db_session, merged.id)

    # Importing again writes nothing; one changed value (to unknown, too) writes one row.
    for coin in (direct, merged):
        assert prices.bulk_upsert([_bar(coin.id, day) for day in range(12)]) == 0
        changed = [_bar(coin.id, day) for day in range(12)]
        changed[7] = dataclasses.replace(changed[7], high=999.0, volume=None)
        assert prices.bulk_upsert(changed) == 1
    assert copies[3:] == ["staging"] * 4
    # Bars after the last stored one (the series grows): straight COPY again.
    assert prices.bulk_upsert([_bar(direct.id, day) for day in range(12, 15)]) == 3
    assert copies[-1] == "price_data"
    db_session.commit()
    assert _stored(db_session, direct.id)[:12] == _stored(db_session, merged.id)
    assert _stored(db_session, direct.id)[7][2:7] == (
        _bar(0, 7).open,
        999.0,
        _bar(0, 7).low,
        _bar(0, 7).close,
        _bar(0, 7).price,
    )


def test_one_batch_of_several_series_takes_the_merge_when_any_has_stored_rows(
    db_session: Session, factory: Factory, copies: list[str]
) -> None:
    _require_postgresql(db_session)
    bitcoin, ethereum = factory.coin("bitcoin"), factory.coin("ethereum")
    prices = PriceRepository(db_session)
    assert prices.bulk_upsert([_bar(bitcoin.id, 2)]) == 1

    batch = [_bar(coin.id, day) for coin in (bitcoin, ethereum) for day in range(4)]
    batch += [_bar(bitcoin.id, day, "1h") for day in range(4)]  # another series, same coin
    batch.append(dataclasses.replace(_bar(ethereum.id, 1), price=5.0))  # last one wins

    assert prices.bulk_upsert(batch) == 11
    assert copies == ["price_data", "staging"]
    assert prices.bulk_upsert(batch) == 0
    # Series whose spans hold nothing yet, in one batch: straight COPY.
    assert prices.bulk_upsert([_bar(c.id, 9, "5m") for c in (bitcoin, ethereum)]) == 2
    assert copies[-1] == "price_data"
    db_session.commit()
    assert price_count(db_session) == 14
    assert [r.price for r in prices.range(ethereum.id, Interval.DAY)][:2] == [100.0, 5.0]


def test_a_key_stored_after_the_check_sends_the_batch_to_the_merge(
    db_session: Session, factory: Factory, copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a concurrent writer could cause: the COPY meets a stored key, its savepoint is
    rolled back and the same batch is merged instead, in the same transaction."""
    _require_postgresql(db_session)
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    assert prices.bulk_upsert([_bar(coin.id, day) for day in range(3)]) == 3
    monkeypatch.setattr(
        pgcopy,
        "_ANY_STORED_IN_SPANS",
        "SELECT false FROM (SELECT %s::int4[], %s::text[], %s::timestamptz[], "
        "%s::timestamptz[]) AS ignored",
    )

    batch = [_bar(coin.id, day) for day in range(5)]
    batch[1] = dataclasses.replace(batch[1], price=1.5)
    assert prices.bulk_upsert(batch) == 3  # days 3 and 4 are new, day 1 changed

    assert copies == ["price_data", "price_data", "staging"]
    db_session.commit()
    assert [r.price for r in prices.range(coin.id, Interval.DAY)] == [
        100.0,
        1.5,
        102.5,
        103.75,
        105.0,
    ]


@pytest.mark.parametrize("stored_first", [False, True], ids=["direct", "merge"])
def test_constraint_violations_are_integrity_errors_on_both_paths(
    db_session: Session, factory: Factory, copies: list[str], stored_first: bool
) -> None:
    _require_postgresql(db_session)
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    if stored_first:
        prices.bulk_upsert([_bar(coin.id, 1)])
        db_session.commit()
    bad = [_bar(coin.id, 0), dataclasses.replace(_bar(coin.id, 2), price=0.0)]

    with pytest.raises(IntegrityError, match="price_positive"):
        prices.bulk_upsert(bad)
    db_session.rollback()

    assert copies[-1] == ("staging" if stored_first else "price_data")
    with pytest.raises(IntegrityError, match="foreign key"):
        prices.bulk_upsert([_bar(coin.id + 1000, 0)])
    db_session.rollback()
    assert price_count(db_session, coin.id) == (1 if stored_first else 0)


def test_naive_instants_are_refused_before_anything_is_written(
    db_session: Session, factory: Factory
) -> None:
    _require_postgresql(db_session)
    coin = factory.coin("bitcoin")
    naive = dataclasses.replace(_bar(coin.id, 1), price_at=dt.datetime(2024, 1, 2))  # noqa: DTZ001

    with pytest.raises(ValueError, match="naive"):
        PriceRepository(db_session).bulk_upsert([_bar(coin.id, 0), naive])

    assert price_count(db_session, coin.id) == 0


def test_rows_as_tuples_are_written_like_price_rows(db_session: Session, factory: Factory) -> None:
    bitcoin, ethereum = factory.coin("bitcoin"), factory.coin("ethereum")
    prices = PriceRepository(db_session)
    rows = [_bar(bitcoin.id, day) for day in range(6)]
    tuples = [dataclasses.astuple(_bar(ethereum.id, day)) for day in range(6)]

    assert prices.bulk_upsert(rows) == prices.bulk_upsert_tuples(tuples) == 6
    assert prices.bulk_upsert_tuples(iter(tuples)) == 0
    assert prices.bulk_upsert_tuples([]) == 0
    db_session.commit()
    assert _stored(db_session, bitcoin.id) == _stored(db_session, ethereum.id)


# ---- column-wise writes (arrays, as the history sync builds them) ---------------------------


def _columns(coin_id: int, bars: list[PriceRow]) -> PriceColumns:
    """The bars as one series' arrays, None as NaN."""

    def floats(name: str) -> npt.NDArray[np.float64]:
        values = [getattr(bar, name) for bar in bars]
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

    return PriceColumns(
        coin_id=coin_id,
        interval=bars[0].interval,
        source=bars[0].source,
        price_at=np.array(
            [(bar.price_at - EPOCH) // dt.timedelta(microseconds=1) for bar in bars],
            dtype=np.int64,
        ),
        price=floats("price"),
        volume=floats("volume"),
        market_cap=floats("market_cap"),
        open=floats("open"),
        high=floats("high"),
        low=floats("low"),
        close=floats("close"),
    )


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_columns_are_written_like_rows_nulls_repeats_and_order_included(
    db_session: Session, factory: Factory
) -> None:
    bitcoin, ethereum = factory.coin("bitcoin"), factory.coin("ethereum")
    prices = PriceRepository(db_session)
    bars = [_bar(ethereum.id, day) for day in range(12)]
    shuffled = [bars[i] for i in (5, 0, 11, 3, 1, 2, 4, 6, 7, 8, 9, 10)]
    repeated = [*shuffled, dataclasses.replace(bars[5], price=1.0), bars[5]]  # last one wins

    assert prices.bulk_upsert([_bar(bitcoin.id, day) for day in range(12)]) == 12
    assert prices.bulk_upsert_columns(_columns(ethereum.id, repeated)) == 12
    db_session.commit()
    assert _stored(db_session, bitcoin.id) == _stored(db_session, ethereum.id)
    assert _columns(ethereum.id, bars).rows() == bars

    # Again: nothing written; one changed value (to unknown, too) and one new bar: two.
    assert prices.bulk_upsert_columns(_columns(ethereum.id, bars)) == 0
    changed = [*bars, _bar(ethereum.id, 12)]
    changed[7] = dataclasses.replace(changed[7], high=999.0, volume=None)
    assert prices.bulk_upsert_columns(_columns(ethereum.id, changed)) == 2
    db_session.commit()
    assert _stored(db_session, ethereum.id)[7][3] == 999.0
    assert _stored(db_session, ethereum.id)[7][7] is None


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_columns_with_an_unusable_price_are_refused_before_anything_is_written(
    db_session: Session, factory: Factory, price: float
) -> None:
    coin = factory.coin("bitcoin")
    bars = [_bar(coin.id, 0), dataclasses.replace(_bar(coin.id, 1), price=price)]
    batch = _columns(coin.id, bars)

    with pytest.raises(ValueError, match="positive finite"):
        PriceRepository(db_session).bulk_upsert_columns(batch)

    assert price_count(db_session, coin.id) == 0


def test_series_gaps_of_several_intervals_in_one_query_with_the_first_row_and_its_source(
    db_session: Session, factory: Factory
) -> None:
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    days = [_bar(coin.id, day) for day in (2, 3, 6)]
    prices.bulk_upsert([dataclasses.replace(days[0], source="first"), *days[1:]])
    prices.bulk_upsert([dataclasses.replace(_bar(coin.id, 0, "1h"), source="provisional")])
    db_session.commit()
    windows = {
        Interval.DAY: (T0, T0 + 7 * DAY),
        Interval.HOUR: (T0, T0 + 2 * HOUR),
        Interval.FIVE_MINUTES: (T0, T0 + DAY),
    }

    found = prices.series_gaps(coin.id, windows, provisional_source="provisional")

    daily = found[Interval.DAY]
    assert (daily.first_at, daily.first_source) == (T0 + 2 * DAY, "first")
    assert daily.gaps == prices.find_gaps(coin.id, Interval.DAY, start=T0, end=T0 + 7 * DAY)
    assert [(g.start, g.end, g.missing) for g in daily.gaps] == [
        (T0, T0 + DAY, 2),
        (T0 + 4 * DAY, T0 + 5 * DAY, 2),
        (T0 + 7 * DAY, T0 + 7 * DAY, 1),
    ]
    hourly = found[Interval.HOUR]  # the provisional row counts as missing
    assert (hourly.first_at, hourly.first_source) == (None, None)
    assert [(g.start, g.end) for g in hourly.gaps] == [(T0, T0 + 2 * HOUR)]
    assert set(found) == set(windows)


def test_set_source_relabels_one_row_only_from_the_expected_source(
    db_session: Session, factory: Factory
) -> None:
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    prices.bulk_upsert([_bar(coin.id, day) for day in range(3)])

    assert prices.set_source(coin.id, Interval.DAY, T0 + DAY, "origin", replacing="test")
    assert not prices.set_source(coin.id, Interval.DAY, T0 + DAY, "other", replacing="test")
    assert not prices.set_source(coin.id, Interval.HOUR, T0, "origin", replacing="test")

    assert [row[-1] for row in _stored(db_session, coin.id)] == ["test", "origin", "test"]


def test_columns_expected_new_still_merge_when_a_key_is_stored(
    db_session: Session, factory: Factory
) -> None:
    """A writer that found bars missing skips the check; a key stored meanwhile (or a
    stand-in row it replaces) sends the batch to the merge, with the right count."""
    coin = factory.coin("bitcoin")
    prices = PriceRepository(db_session)
    prices.bulk_upsert([dataclasses.replace(_bar(coin.id, 2), price=1.0)])
    bars = [_bar(coin.id, day) for day in range(5)]

    assert prices.bulk_upsert_columns(_columns(coin.id, bars), expect_new=True) == 5
    assert prices.bulk_upsert_columns(_columns(coin.id, bars), expect_new=True) == 0
    more = [_bar(coin.id, day) for day in range(5, 8)]
    assert prices.bulk_upsert_columns(_columns(coin.id, more), expect_new=True) == 3
    db_session.commit()
    assert [r.price for r in prices.range(coin.id, Interval.DAY)] == [b.price for b in bars + more]


def test_candles_of_any_width_agree_with_resample(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    closes = [float(10 + (i * 7) % 11) for i in range(30)]
    factory.daily_prices(coin, closes, start=T0, interval="1h", step=HOUR)
    prices = PriceRepository(db_session)
    daily = prices.candles(coin.id, Interval.HOUR, 86_400, start=None, end=None)
    bars = prices.resample(coin.id, Interval.HOUR, Interval.DAY)
    assert [(c.start, c.open, c.high, c.low, c.close) for c in daily] == [
        (int(b.price_at.timestamp()), b.open, b.high, b.low, b.close) for b in bars
    ]
    # A width no stored interval has, within bounds: 4 h buckets from 08:00 to 15:00.
    four = prices.candles(coin.id, Interval.HOUR, 4 * 3600, start=T0 + 8 * HOUR, end=T0 + 15 * HOUR)
    assert [c.start for c in four] == [int((T0 + h * HOUR).timestamp()) for h in (8, 12)]
    assert (four[1].open, four[1].close) == (closes[11], closes[15])


def test_first_per_bucket_keeps_stored_values(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    closes = [float(100 + i) for i in range(10)]
    start = T0 + dt.timedelta(minutes=30)
    factory.daily_prices(coin, closes, start=start, interval="1h", step=HOUR)
    rows = PriceRepository(db_session).first_per_bucket(
        coin.id, Interval.HOUR, 3 * 3600, start=T0 + HOUR, end=None
    )
    assert rows == [
        (start + h * HOUR, closes[h], closes[h] * 1_000_000, 1000.0) for h in (1, 3, 6, 9)
    ]


def test_window_stats_and_points(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    closes = [5.0, 8.0, 3.0, 6.0]
    factory.daily_prices(coin, closes, start=T0, interval="1h", step=HOUR)
    factory.daily_prices(coin, [7.0], start=T0, volume=None)  # a daily bar at T0 too
    keys = [
        WindowKey(coin.id, "1h", since=T0, until=T0 + 2 * HOUR, reference_at=T0),
        WindowKey(coin.id, "1h", since=T0 + 5 * HOUR, until=T0 + 9 * HOUR),
    ]
    prices = PriceRepository(db_session)
    # The hourly bar at T0 is outside (since is excluded); its market cap is the finest.
    assert prices.window_stats(keys) == [
        WindowStats(high=8.0, low=3.0, reference_market_cap=5_000_000.0),
        WindowStats(high=None, low=None, reference_market_cap=None),
    ]
    assert prices.window_points(keys) == [[(T0 + HOUR, 8.0), (T0 + 2 * HOUR, 3.0)], []]
    assert prices.window_stats([]) == []
    assert prices.window_points([]) == []


def test_listings_only_priced_coins_by_rank(db_session: Session, factory: Factory) -> None:
    priced = factory.coin("bitcoin")
    factory.coin("ethereum")
    factory.daily_prices(priced, [1.0])
    listings = coins_service.list_listings(
        session=db_session, order=CatalogueOrder.RANK, where=prices_service.has_prices
    )
    assert [coin.coingecko_id for coin in listings] == ["bitcoin"]
    everything = coins_service.list_listings(session=db_session, order=CatalogueOrder.ID_DESC)
    assert [coin.coingecko_id for coin in everything] == ["ethereum", "bitcoin"]
