"""What CoinGecko says about a coin, checked and trimmed to what our catalogue accepts.

Both `/coins/list` and `/coins/markets` entries add or update catalogue coins; an id,
symbol or name the catalogue would refuse drops the entry, an unusable image only the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.coins.schemas import (
    COINGECKO_ID_MAX_LENGTH,
    COINGECKO_ID_PATTERN,
    IMAGE_URL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    SYMBOL_MAX_LENGTH,
)
from cryptopredict.marketdata.schemas import CoinListEntry, MarketEntry

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

_COINGECKO_ID = re.compile(COINGECKO_ID_PATTERN)
_IMAGE_URL = re.compile(r"^https?://\S+$")


@dataclass(frozen=True, slots=True)
class CoinFacts:
    """What CoinGecko says about a coin, trimmed to what the catalogue accepts."""

    coingecko_id: str
    symbol: str
    name: str
    market_cap_rank: int | None = None
    image_url: str | None = None

    @classmethod
    def build(
        cls,
        coingecko_id: str,
        symbol: str,
        name: str,
        rank: int | None = None,
        image: str | None = None,
    ) -> CoinFacts | None:
        """Normalised facts, or None when the id, symbol or name is unusable."""
        coingecko_id = coingecko_id.strip().lower()
        symbol = symbol.strip().lower()[:SYMBOL_MAX_LENGTH]
        name = name.strip()[:NAME_MAX_LENGTH]
        if (
            len(coingecko_id) > COINGECKO_ID_MAX_LENGTH
            or not _COINGECKO_ID.match(coingecko_id)
            or not symbol
            or not name
        ):
            return None
        if image is not None and (len(image) > IMAGE_URL_MAX_LENGTH or not _IMAGE_URL.match(image)):
            image = None
        return cls(coingecko_id, symbol, name, rank if rank and rank > 0 else None, image)

    @classmethod
    def from_market(cls, entry: MarketEntry) -> CoinFacts | None:
        """Facts of a `/coins/markets` entry, rank and image included."""
        return cls.build(entry.id, entry.symbol, entry.name, entry.market_cap_rank, entry.image)

    @classmethod
    def from_list(cls, entry: CoinListEntry) -> CoinFacts | None:
        """Facts of a `/coins/list` entry: identity only."""
        return cls.build(entry.id, entry.symbol, entry.name)

    def ensure(self, session: Session) -> Cryptocurrency:
        """The catalogue's coin, added with these facts if it is new."""
        return coins_service.ensure(
            session=session,
            coingecko_id=self.coingecko_id,
            symbol=self.symbol,
            name=self.name,
            market_cap_rank=self.market_cap_rank,
            image_url=self.image_url,
        )

    def apply(self, coin: Cryptocurrency, *, ranked: bool = True) -> bool:
        """Bring a stored coin up to date (rank and image too when `ranked`); True if changed.

        The active flag is the operator's decision and is never touched here.
        """
        wanted: dict[str, object] = {"symbol": self.symbol, "name": self.name}
        if ranked:
            wanted |= {"market_cap_rank": self.market_cap_rank, "image_url": self.image_url}
        changed = False
        for attribute, value in wanted.items():
            if getattr(coin, attribute) != value:
                setattr(coin, attribute, value)
                changed = True
        return changed
