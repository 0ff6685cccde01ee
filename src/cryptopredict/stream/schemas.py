"""The events of the live stream and the data each carries (one line of JSON)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

PRICE_EVENT = "price"
FORECAST_EVENT = "forecast"
MISSED_EVENT = "missed"


class PriceEvent(BaseModel):
    """The data of a `price` event: one coin's latest price, as a prices sync stored it."""

    coin: str = Field(description="CoinGecko id", examples=["bitcoin"])
    interval: str = Field(description="The series the price was stored in", examples=["5m"])
    timestamp: dt.datetime = Field(
        description="Start of the bar the price was stored under (as /prices/latest says)"
    )
    price: float
    volume: float | None
    market_cap: float | None
    updated_at: dt.datetime | None = Field(description="CoinGecko's `last_updated` of the price")


class MissedEvent(BaseModel):
    """The data of a `missed` event: events after `last_event_id` may not all be sent (older
    than the buffer, or published while the server could not follow them); read the current
    state (e.g. /prices/latest) again."""

    last_event_id: str | None
    message: str
