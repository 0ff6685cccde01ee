"""Coin catalogue logic; other domains look coins up through these functions."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.coins.repository import CoinRepository
from cryptopredict.core.errors import NotFoundError


def get_by_identifier(*, session: Session, identifier: str) -> Cryptocurrency:
    """A coin by CoinGecko id, else by symbol; 404 when neither matches."""
    coins = CoinRepository(session)
    coin = coins.get_by_coingecko_id(identifier) or coins.get_by_symbol(identifier)
    if coin is None:
        raise NotFoundError(f"Unknown coin {identifier!r}", details={"coin": identifier})
    return coin


def ensure(
    *,
    session: Session,
    coingecko_id: str,
    symbol: str,
    name: str,
    market_cap_rank: int | None = None,
    image_url: str | None = None,
) -> Cryptocurrency:
    """The coin with this CoinGecko id, created if missing (does not commit)."""
    coins = CoinRepository(session)
    coin = coins.get_by_coingecko_id(coingecko_id)
    if coin is not None:
        return coin
    return coins.create(
        coingecko_id=coingecko_id.lower(),
        symbol=symbol.lower(),
        name=name,
        market_cap_rank=market_cap_rank,
        image_url=image_url,
    )
