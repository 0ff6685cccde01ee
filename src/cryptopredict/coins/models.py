"""The catalogue of tracked cryptocurrencies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from cryptopredict.core.database import Base, utcnow


class Cryptocurrency(Base):
    """A coin as CoinGecko knows it; `coingecko_id` is the public identifier."""

    __tablename__ = "cryptocurrencies"
    __table_args__ = (
        Index("ix_cryptocurrencies_symbol", "symbol"),
        Index("ix_cryptocurrencies_market_cap_rank", "market_cap_rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coingecko_id: Mapped[str] = mapped_column(String(100), unique=True)
    symbol: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    market_cap_rank: Mapped[int | None]
    image_url: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    metadata_updated_at: Mapped[dt.datetime | None]
