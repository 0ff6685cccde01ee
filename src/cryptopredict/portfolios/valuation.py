"""Valued holdings, the portfolio summary and realized disposals: the lot engine's replay of
the transactions (``lots``) meets stored prices at a valuation instant.

A replay of the whole ledger is kept per (portfolio, ledger version, method), so a summary
after the first reads it instead of replaying thousands of transactions again; every write to
the transactions or the method bumps the version (``service``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.database import utcnow
from cryptopredict.core.errors import NotFoundError
from cryptopredict.core.pagination import PageParams
from cryptopredict.portfolios.history import price_decimal
from cryptopredict.portfolios.lots import MONEY, ZERO, Disposal, Entry, Ledger, Position, replay
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction
from cryptopredict.portfolios.repository import TransactionRepository
from cryptopredict.portfolios.schemas import (
    CoinRef,
    DisposalRead,
    HoldingRead,
    LotUseRead,
    PortfolioSummary,
    PortfolioWarning,
    decimal_text,
)
from cryptopredict.prices import service as prices_service

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

#: A price older than this at the valuation instant is used, with a warning.
STALE_AFTER = dt.timedelta(days=2)
_KEPT = 64

_ledgers: OrderedDict[tuple[int, dt.datetime, int, str], Ledger] = OrderedDict()
_ledgers_lock = threading.Lock()


def entry_of(transaction: PortfolioTransaction) -> Entry:
    """What the lot engine reads of a stored transaction."""
    return Entry(
        transaction.id,
        transaction.coin_id,
        transaction.kind,
        transaction.quantity,
        transaction.price,
        transaction.fee,
        transaction.executed_at,
    )


def ledger(*, session: Session, portfolio: Portfolio, at: dt.datetime | None = None) -> Ledger:
    """The portfolio's transactions up to ``at`` (all when None) replayed under its method."""
    method = portfolio.cost_basis_method
    # The creation time tells apart a portfolio that reuses an id (a database restored or
    # recreated under a running process).
    key = (portfolio.id, portfolio.created_at, portfolio.ledger_version, method.value)
    if at is None:
        with _ledgers_lock:
            found = _ledgers.get(key)
            if found is not None:
                _ledgers.move_to_end(key)
                return found
    timeline = TransactionRepository(session).timeline(portfolio.id, until=at)
    replayed = replay((entry_of(tx) for tx in timeline), method)
    if at is None:
        with _ledgers_lock:
            _ledgers[key] = replayed
            while len(_ledgers) > _KEPT:
                _ledgers.popitem(last=False)
    return replayed


def _percent(part: Decimal, whole: Decimal) -> float | None:
    return None if whole == 0 else float(part / whole * 100)


def _holding(
    coin: CoinRef,
    position: Position,
    point: tuple[dt.datetime, float] | None,
    at: dt.datetime,
) -> HoldingRead:
    known_quantity = position.quantity - position.missing_basis_quantity
    price = None if point is None else price_decimal(point[1])
    value = None if price is None else position.quantity * price
    unrealized = None if price is None else known_quantity * price - position.cost
    complete = position.missing_basis_quantity == 0
    return HoldingRead(
        coin=coin,
        quantity=position.quantity,
        cost_basis=position.cost if complete else None,
        average_cost=position.average_cost,
        known_cost_basis=position.cost,
        missing_basis_quantity=position.missing_basis_quantity,
        price=price,
        price_at=None if point is None else point[0],
        price_age_seconds=None if point is None else int((at - point[0]).total_seconds()),
        value=value,
        unrealized_pnl=unrealized,
        unrealized_pnl_percent=(
            None if unrealized is None else _percent(unrealized, position.cost)
        ),
        realized_pnl=position.realized,
        fees=position.fees,
        allocation_percent=None,
        transactions=position.transactions,
    )


def _when(instant: dt.datetime) -> str:
    """An instant as a warning says it: ``2021-07-07 00:00 UTC``."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _warnings(
    coin: Cryptocurrency,
    position: Position,
    point: tuple[dt.datetime, float] | None,
    at: dt.datetime,
) -> list[PortfolioWarning]:
    symbol = coin.symbol.upper()
    found = []
    if position.quantity > 0 and point is None:
        found.append(
            PortfolioWarning(
                code="unpriced",
                coin=coin.coingecko_id,
                message=f"No price for {symbol} at {_when(at)}: left out of the totals",
            )
        )
    if point is not None and position.quantity > 0 and at - point[0] > STALE_AFTER:
        found.append(
            PortfolioWarning(
                code="stale_price",
                coin=coin.coingecko_id,
                message=f"{symbol} is valued at its price of {_when(point[0])}, the newest known",
            )
        )
    if position.missing_basis_quantity > 0 or position.unknown_realized > 0:
        parts = []
        if position.missing_basis_quantity > 0:
            parts.append(f"{decimal_text(position.missing_basis_quantity)} {symbol} held")
        if position.unknown_realized > 0:
            parts.append(f"{position.unknown_realized} disposal(s)")
        found.append(
            PortfolioWarning(
                code="missing_basis",
                coin=coin.coingecko_id,
                message=(
                    f"No stated cost for {' and '.join(parts)} (a transfer in without a price): "
                    "their gain or loss is unknown and left out"
                ),
            )
        )
    return found


def valued(
    *,
    session: Session,
    portfolio: Portfolio,
    at: dt.datetime | None = None,
    include_closed: bool = False,
) -> tuple[Ledger, list[HoldingRead], list[PortfolioWarning], dt.datetime]:
    """The replay up to ``at`` (now when None), every held coin valued at its price then, the
    warnings, and the instant used."""
    instant = at or utcnow()
    replayed = ledger(session=session, portfolio=portfolio, at=at)
    positions = replayed.positions
    coins = coins_service.get_many_by_ids(session=session, ids=positions)
    held = [c for c, p in positions.items() if p.quantity > 0]
    points = prices_service.prices_at(session=session, coin_ids=held, at=at)
    holdings: list[HoldingRead] = []
    warnings: list[PortfolioWarning] = []
    with localcontext(MONEY):
        for coin_id, position in sorted(positions.items(), key=lambda i: coins[i[0]].coingecko_id):
            coin, point = coins[coin_id], points.get(coin_id)
            warnings.extend(_warnings(coin, position, point, instant))
            if position.quantity > 0 or include_closed:
                holdings.append(_holding(CoinRef.model_validate(coin), position, point, instant))
        total = sum((h.value for h in holdings if h.value is not None), ZERO)
        holdings = [
            h.model_copy(
                update={"allocation_percent": None if h.value is None else _percent(h.value, total)}
            )
            for h in holdings
        ]
    return replayed, holdings, warnings, instant


def summary(*, session: Session, portfolio: Portfolio, at: dt.datetime | None) -> PortfolioSummary:
    """The portfolio valued at ``at`` (now when None): holdings, P&L and net invested."""
    replayed, holdings, warnings, instant = valued(session=session, portfolio=portfolio, at=at)
    with localcontext(MONEY):
        priced = [h for h in holdings if h.value is not None]
        value = sum((h.value for h in priced if h.value is not None), ZERO)
        cost = sum((h.known_cost_basis for h in priced), ZERO)
        unrealized = sum((h.unrealized_pnl for h in priced if h.unrealized_pnl is not None), ZERO)
        realized = replayed.realized
        return PortfolioSummary(
            portfolio_id=portfolio.id,
            at=instant,
            cost_basis_method=portfolio.cost_basis_method,
            value=value,
            cost_basis=cost,
            unrealized_pnl=unrealized,
            realized_pnl=realized,
            total_pnl=unrealized + realized,
            net_invested=replayed.net_invested,
            fees=replayed.fees,
            holdings=holdings,
            warnings=warnings,
        )


def _disposal_read(disposal: Disposal, coin: CoinRef) -> DisposalRead:
    with localcontext(MONEY):
        return DisposalRead(
            transaction_id=disposal.transaction_id,
            coin=coin,
            kind=disposal.kind,
            executed_at=disposal.executed_at,
            quantity=disposal.quantity,
            price=disposal.price,
            fee=disposal.fee,
            proceeds=disposal.proceeds,
            cost=disposal.cost,
            realized_pnl=disposal.realized,
            missing_basis=disposal.missing_basis,
            lots=[
                LotUseRead(
                    transaction_id=use.transaction_id,
                    acquired_at=use.acquired_at,
                    quantity=use.quantity,
                    cost=use.cost,
                    unit_cost=None if use.cost is None else use.cost / use.quantity,
                )
                for use in disposal.lots
            ],
        )


def disposals(
    *, session: Session, portfolio: Portfolio, page: PageParams, coin: str | None = None
) -> tuple[list[DisposalRead], int]:
    """A page of the sells and transfers out in the order they happened, each with the lots it
    consumed; filtering by a coin nobody knows finds nothing."""
    found: Sequence[Disposal] = ledger(session=session, portfolio=portfolio).disposals
    if coin:
        try:
            coin_id = coins_service.get_by_identifier(session=session, identifier=coin).id
        except NotFoundError:
            return [], 0
        found = [d for d in found if d.coin_id == coin_id]
    window = found[page.offset : page.offset + page.limit]
    coins = coins_service.get_many_by_ids(session=session, ids={d.coin_id for d in window})
    items = [_disposal_read(d, CoinRef.model_validate(coins[d.coin_id])) for d in window]
    return items, len(found)
