"""Coin look-ups that 404, shared by every route addressing a coin (prices included)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from cryptopredict.coins import service
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.dependencies import SessionDep

CoinPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        description="CoinGecko id (`bitcoin`), or else a ticker symbol (`btc`, best-ranked wins)",
        examples=["bitcoin"],
    ),
]


def valid_coin(coin: CoinPath, session: SessionDep) -> Cryptocurrency:
    """The coin named in the path, or 404 in the common error shape."""
    return service.get_by_identifier(session=session, identifier=coin)


CoinDep = Annotated[Cryptocurrency, Depends(valid_coin)]
