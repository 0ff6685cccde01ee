"""Routes for the coin catalogue: browse and search for everyone, edits for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.coins import service
from cryptopredict.coins.dependencies import CoinDep
from cryptopredict.coins.schemas import CoinCreate, CoinPage, CoinRead, CoinSort, CoinUpdate
from cryptopredict.core.dependencies import CacheDep, SessionDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.pagination import PageDep
from cryptopredict.core.validation import PlainBoolean

router = APIRouter(prefix="/coins", tags=["coins"], responses=error_responses(422))

_ADMIN_ERRORS = (401, 403)


@router.get("")
def list_coins(
    session: SessionDep,
    page: PageDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Case-insensitive prefix of the name, symbol or CoinGecko id",
        ),
    ] = None,
    is_active: Annotated[
        bool | None, Query(description="Only active or inactive coins"), PlainBoolean
    ] = None,
    sort: Annotated[
        CoinSort, Query(description="Sort key, `-` for descending; unranked coins come last")
    ] = CoinSort.RANK,
) -> CoinPage:
    """The catalogue, searchable and sortable, one page at a time."""
    items, total = service.list_coins(
        session=session, page=page, search=q, is_active=is_active, sort=sort
    )
    return CoinPage(
        items=[CoinRead.model_validate(coin) for coin in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{coin}", responses=error_responses(404))
def get_coin(coin: CoinDep) -> CoinRead:
    """One coin by CoinGecko id, or else by ticker symbol."""
    return CoinRead.model_validate(coin)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*_ADMIN_ERRORS, 409),
)
def create_coin(
    _admin: AdminUser, data: CoinCreate, session: SessionDep, cache: CacheDep
) -> CoinRead:
    """Add a coin to the catalogue (admin only); a known CoinGecko id is a 409."""
    return CoinRead.model_validate(service.create(session=session, cache=cache, data=data))


@router.patch("/{coin}", responses=error_responses(*_ADMIN_ERRORS, 404))
def update_coin(
    _admin: AdminUser, coin: CoinDep, data: CoinUpdate, session: SessionDep, cache: CacheDep
) -> CoinRead:
    """Change a coin's symbol, name, rank, image or active flag (admin only)."""
    updated = service.update(session=session, cache=cache, coin=coin, data=data)
    return CoinRead.model_validate(updated)


@router.delete(
    "/{coin}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*_ADMIN_ERRORS, 404, 409),
)
def delete_coin(_admin: AdminUser, coin: CoinDep, session: SessionDep, cache: CacheDep) -> None:
    """Delete a coin and its price history (admin only); 409 if portfolios hold it."""
    service.delete(session=session, cache=cache, coin=coin)
