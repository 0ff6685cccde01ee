"""Helpers for price tests: bars with chosen OHLC and volume, and a SQL statement counter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.types import PriceRow

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# (instant, open, high, low, close, volume); close doubles as the point's price.
Bar = tuple[dt.datetime, float, float, float, float, float | None]
WriteBars = Callable[[Cryptocurrency, str, list[Bar]], int]


@pytest.fixture
def write_bars(db_session: Session) -> WriteBars:
    """Store bars with exactly the given values and commit (inside the test transaction)."""

    def write(coin: Cryptocurrency, interval: str, bars: list[Bar]) -> int:
        rows = [
            PriceRow(
                coin_id=coin.id,
                interval=interval,
                price_at=at,
                open=o,
                high=h,
                low=low,
                close=c,
                price=c,
                volume=v,
                market_cap=None,
                source="test",
            )
            for at, o, h, low, c, v in bars
        ]
        written = PriceRepository(db_session).bulk_upsert(rows)
        db_session.commit()
        return written

    return write


def price_count(session: Session, coin_id: int | None = None) -> int:
    """Rows in price_data, for one coin or all."""
    statement = select(func.count()).select_from(PriceData)
    if coin_id is not None:
        statement = statement.where(PriceData.coin_id == coin_id)
    return int(session.scalar(statement) or 0)


@pytest.fixture
def count_queries(engine: Engine) -> Callable[[], Any]:
    """A context manager yielding a list that collects the SQL statements run inside it
    (savepoints included, so callers count the statements they care about)."""

    @contextmanager
    def counting() -> Iterator[list[str]]:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    return counting
