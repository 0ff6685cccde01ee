"""Coin catalogue logic; other domains look coins up through these functions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.coins.repository import CoinRepository, active_coin_ids
from cryptopredict.coins.schemas import (
    CatalogueOrder,
    CoinBrief,
    CoinCreate,
    CoinListing,
    CoinSort,
    CoinUpdate,
)
from cryptopredict.core.cache import PRICES_NAMESPACE, ResponseCache
from cryptopredict.core.errors import ConflictError, NotFoundError
from cryptopredict.core.pagination import PageParams

logger = logging.getLogger(__name__)


def get_by_identifier(*, session: Session, identifier: str) -> Cryptocurrency:
    """A coin by CoinGecko id, else by symbol; 404 when neither matches."""
    coins = CoinRepository(session)
    coin = coins.get_by_coingecko_id(identifier) or coins.get_by_symbol(identifier)
    if coin is None:
        raise NotFoundError(f"Unknown coin {identifier!r}", details={"coin": identifier})
    return coin


def get_many_by_ids(*, session: Session, ids: Iterable[int]) -> dict[int, Cryptocurrency]:
    """Coins by primary key in one query, for domains that store only the coin's id."""
    return {coin.id: coin for coin in CoinRepository(session).get_many_by_ids(ids)}


def get_many(*, session: Session, coingecko_ids: Sequence[str]) -> dict[str, CoinBrief]:
    """Coins keyed by CoinGecko id in one lean query; unknown ids are simply absent."""
    found = CoinRepository(session).briefs_by_coingecko_ids(coingecko_ids)
    return {coin.coingecko_id: coin for coin in found}


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


def list_coins(
    *,
    session: Session,
    page: PageParams,
    search: str | None = None,
    is_active: bool | None = None,
    sort: CoinSort = CoinSort.RANK,
) -> tuple[list[Cryptocurrency], int]:
    """A page of the catalogue and the total across pages, for browsing and search boxes."""
    coins = CoinRepository(session)
    conditions: list[ColumnElement[bool]] = []
    if search:
        conditions.append(coins.search_condition(search))
    if is_active is not None:
        conditions.append(Cryptocurrency.is_active.is_(is_active))
    items = coins.list_ordered(conditions=conditions, sort=sort.value, page=page)
    return items, coins.count(conditions=conditions)


def list_listings(
    *,
    session: Session,
    order: CatalogueOrder,
    coingecko_ids: Sequence[str] | None = None,
    active: bool | None = True,
    where: Callable[[ColumnExpressionArgument[int]], ColumnElement[bool]] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[CoinListing]:
    """A page of lean listing rows in one query, for public listings; `where` is a condition
    on the coin's id that another domain's service builds (the prices service's
    `has_prices`), so "only coins with prices" stays one paged statement while neither
    domain reads the other's table."""
    return CoinRepository(session).listings(
        order=order,
        coingecko_ids=coingecko_ids,
        active=active,
        where=where,
        limit=limit,
        offset=offset,
    )


def active_ids() -> Select[int]:
    """The active coins' ids as a statement another domain's service embeds in its own query
    (the prices service's newest price), keeping it one statement without either domain
    reading the other's table."""
    return active_coin_ids()


def create(*, session: Session, cache: ResponseCache, data: CoinCreate) -> Cryptocurrency:
    """Add a coin; a CoinGecko id already in the catalogue is a 409."""
    coins = CoinRepository(session)
    if coins.get_by_coingecko_id(data.coingecko_id) is not None:
        raise _duplicate(data.coingecko_id)
    try:
        coin = coins.create(**data.model_dump())
        session.commit()
    except IntegrityError as exc:  # lost a race with a concurrent create
        session.rollback()
        raise _duplicate(data.coingecko_id) from exc
    cache.invalidate(PRICES_NAMESPACE)  # a symbol may now resolve to this coin
    logger.info("coin created: %s", coin.coingecko_id)
    return coin


def _duplicate(coingecko_id: str) -> ConflictError:
    return ConflictError(
        f"Coin {coingecko_id!r} already exists", details={"coingecko_id": coingecko_id}
    )


def update(
    *, session: Session, cache: ResponseCache, coin: Cryptocurrency, data: CoinUpdate
) -> Cryptocurrency:
    """Change the fields the request set (PATCH semantics)."""
    CoinRepository(session).update(coin, **data.model_dump(exclude_unset=True))
    session.commit()
    cache.invalidate(PRICES_NAMESPACE)
    return coin


def delete(*, session: Session, cache: ResponseCache, coin: Cryptocurrency) -> None:
    """Remove a coin with its prices and predictions; coins held in portfolios are kept (409)."""
    coingecko_id = coin.coingecko_id
    try:
        CoinRepository(session).delete(coin)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(
            f"Coin {coingecko_id!r} is referenced by portfolio transactions",
            details={"coingecko_id": coingecko_id},
        ) from exc
    cache.invalidate(PRICES_NAMESPACE)
    logger.info("coin deleted: %s", coingecko_id)
