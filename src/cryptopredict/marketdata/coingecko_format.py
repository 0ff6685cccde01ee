"""Facts of the CoinGecko v3 API, and response shapes more than one of our CoinGecko
look-alikes answer in, so the client, the mirror and the fake agree on them.

Our mirror (`/api/v3`) and the fake CoinGecko the tests run against both build
`/coins/markets` entries; they build them here so both carry every key CoinGecko sends, in
its order, null where a figure is unknown, and stamp instants the way CoinGecko does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

MAX_PER_PAGE = 250
"""The most coins one `/coins/markets` page holds."""
DEMO_HISTORY_DAYS = 365
"""How far back a demo key reaches in chart history; older ranges answer 401."""
OHLC_DAYS = ("1", "7", "14", "30", "90", "180", "365", "max")
"""The `days` values `/coins/{id}/ohlc` accepts."""
KEY_HEADERS: dict[Literal["demo", "pro"], str] = {
    "demo": "x-cg-demo-api-key",
    "pro": "x-cg-pro-api-key",
}
"""The request header that carries each kind of API key."""
PING_BODY = {"gecko_says": "(V3) To the Moon!"}
"""What `/ping` answers."""


def iso_millis(instant: dt.datetime) -> str:
    """CoinGecko's `2023-07-28T20:03:29.093Z`: UTC, milliseconds, Z."""
    utc = instant.astimezone(dt.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def market_entry(
    *,
    coin_id: str,
    symbol: str,
    name: str,
    image: str | None = None,
    current_price: float | None = None,
    market_cap: float | None = None,
    market_cap_rank: int | None = None,
    total_volume: float | None = None,
    high_24h: float | None = None,
    low_24h: float | None = None,
    price_change_24h: float | None = None,
    price_change_percentage_24h: float | None = None,
    market_cap_change_24h: float | None = None,
    market_cap_change_percentage_24h: float | None = None,
    last_updated: dt.datetime | None = None,
) -> dict[str, Any]:
    """One coin as `/coins/markets` lists it; what we do not know or store (supply, all-time
    high and low, fully diluted valuation, ROI) is null, never estimated."""
    return {
        "id": coin_id,
        "symbol": symbol,
        "name": name,
        "image": image,
        "current_price": current_price,
        "market_cap": market_cap,
        "market_cap_rank": market_cap_rank,
        "fully_diluted_valuation": None,
        "total_volume": total_volume,
        "high_24h": high_24h,
        "low_24h": low_24h,
        "price_change_24h": price_change_24h,
        "price_change_percentage_24h": price_change_percentage_24h,
        "market_cap_change_24h": market_cap_change_24h,
        "market_cap_change_percentage_24h": market_cap_change_percentage_24h,
        "circulating_supply": None,
        "total_supply": None,
        "max_supply": None,
        "ath": None,
        "ath_change_percentage": None,
        "ath_date": None,
        "atl": None,
        "atl_change_percentage": None,
        "atl_date": None,
        "roi": None,
        "last_updated": None if last_updated is None else iso_millis(last_updated),
    }
