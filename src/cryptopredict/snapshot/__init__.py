"""Offline snapshot shipped inside the package, so a fresh install has data without internet.

These are historical files (daily prices up to 2021-07-06, a coin list captured 2023-07-28),
not live market data; see SNAPSHOT.md next to this module for their sources and licences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SNAPSHOT_DIR = Path(__file__).resolve().parent
PRICES_DIR = SNAPSHOT_DIR / "prices"
CATALOGUE_PATH = SNAPSHOT_DIR / "coins.json"

# CoinGecko ids of the bundled daily price files, by market-cap rank at capture time.
SNAPSHOT_COINS = ("bitcoin", "ethereum", "ripple", "cardano", "dogecoin", "litecoin")


@dataclass(frozen=True, slots=True)
class CatalogueCoin:
    """What the bundled catalogue knows about one coin, enough to create it offline."""

    coingecko_id: str
    symbol: str
    name: str
    market_cap_rank: int | None
    image_url: str | None


def snapshot_price_files() -> list[Path]:
    """The bundled daily price CSVs, one per coin, named by CoinGecko id."""
    return [PRICES_DIR / f"{coin}.csv" for coin in SNAPSHOT_COINS]


@lru_cache(maxsize=1)
def load_coin_catalogue() -> dict[str, CatalogueCoin]:
    """The bundled coin list keyed by CoinGecko id, read once: names and ranks for imports."""
    entries = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    return {
        entry["id"]: CatalogueCoin(
            coingecko_id=entry["id"],
            symbol=entry["symbol"],
            name=entry["name"],
            market_cap_rank=entry.get("market_cap_rank"),
            image_url=entry.get("image") or None,
        )
        for entry in entries
    }
