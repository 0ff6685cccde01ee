"""The price time series: one row per coin, interval and bar start."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import CheckConstraint, Double, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from cryptopredict.core.database import Base


class PriceData(Base):
    """One bar (OHLC) or point (price only).

    The composite primary key (coin, interval, price_at) is both the uniqueness rule and the
    clustered index for range scans, so millions of rows need no second index.
    """

    __tablename__ = "price_data"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("interval IN ('5m', '1h', '1d')", name="interval_known"),
    )

    coin_id: Mapped[int] = mapped_column(
        ForeignKey("cryptocurrencies.id", ondelete="CASCADE"), primary_key=True
    )
    interval: Mapped[str] = mapped_column(String(3), primary_key=True)
    price_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    open: Mapped[float | None] = mapped_column(Double)
    high: Mapped[float | None] = mapped_column(Double)
    low: Mapped[float | None] = mapped_column(Double)
    close: Mapped[float | None] = mapped_column(Double)
    price: Mapped[float] = mapped_column(Double)
    volume: Mapped[float | None] = mapped_column(Double)
    market_cap: Mapped[float | None] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(32), default="coingecko")


PRICE_TABLE = cast(Table, PriceData.__table__)
"""The Core table: hot reads select tuples from it and never build ORM objects."""
