"""Portfolios, their transactions and holdings; the routers only call these functions.

The rule every write keeps: replaying a portfolio's transactions in `executed_at` order (ties by
id), the quantity held of each coin never drops below zero. A sell or transfer out is checked
against what was held at its own moment, not today, so inserting, editing or deleting a
transaction in the past is refused when it would leave any later one short. Every write to the
transactions, and every change of cost-basis method, bumps the portfolio's `ledger_version`,
which keys the replays `valuation` keeps. Valuation, P&L and lots live in `valuation`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, localcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.errors import ConflictError, NotFoundError, ValidationFailedError
from cryptopredict.core.pagination import PageParams
from cryptopredict.portfolios import value_history
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction, TransactionKind
from cryptopredict.portfolios.repository import PortfolioRepository, TransactionRepository
from cryptopredict.portfolios.schemas import (
    CoinRef,
    PortfolioCreate,
    PortfolioUpdate,
    TransactionCreate,
    TransactionRead,
    TransactionUpdate,
    decimal_text,
    missing_price,
    price_required,
)

if TYPE_CHECKING:
    from cryptopredict.auth.models import User
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)

# Sums of stored amounts fit easily; the traps turn any rounding into a loud error.
_EXACT = Context(prec=100, traps=[Inexact])
_UNSAVED_ID = 2**63  # a new row gets an id above every existing one, so it sorts last on ties


# --- portfolios -------------------------------------------------------------------------------


def list_portfolios(
    *, session: Session, user: User, page: PageParams
) -> tuple[list[Portfolio], int]:
    """The caller's portfolios by name; nobody lists anyone else's."""
    portfolios = PortfolioRepository(session)
    filters = {"user_id": user.id}
    items = portfolios.list(filters=filters, sort="name", page=page)
    return items, portfolios.count(filters=filters)


def get(*, session: Session, user: User, portfolio_id: int) -> Portfolio:
    """The caller's portfolio; someone else's is a 404 too, so ids reveal nothing."""
    portfolio = PortfolioRepository(session).get_owned(portfolio_id, user.id)
    if portfolio is None:
        raise NotFoundError(f"Portfolio {portfolio_id} not found")
    return portfolio


def _duplicate_name(name: str) -> ConflictError:
    return ConflictError(
        f"You already have a portfolio named {name!r}", details={"field": "name", "name": name}
    )


def create(*, session: Session, user: User, data: PortfolioCreate) -> Portfolio:
    """Create a portfolio; a name the user already uses is a 409."""
    portfolios = PortfolioRepository(session)
    if portfolios.name_taken(user.id, data.name):
        raise _duplicate_name(data.name)
    try:
        portfolio = portfolios.create(
            user_id=user.id,
            name=data.name,
            description=data.description,
            cost_basis_method=data.cost_basis_method,
        )
        session.commit()
    except IntegrityError as exc:  # lost a race with a concurrent create of the same name
        session.rollback()
        raise _duplicate_name(data.name) from exc
    logger.info("portfolio created: id=%s user=%s", portfolio.id, user.id)
    return portfolio


def update(*, session: Session, portfolio: Portfolio, data: PortfolioUpdate) -> Portfolio:
    """Rename or re-describe a portfolio, keeping names unique per user."""
    changes = data.changes()
    portfolios = PortfolioRepository(session)
    name = changes.get("name")
    if name is not None and portfolios.name_taken(portfolio.user_id, name, exclude_id=portfolio.id):
        raise _duplicate_name(name)
    method = changes.get("cost_basis_method")
    if method is not None and method != portfolio.cost_basis_method:
        # Under the writers' lock, as a transaction write: net invested moves with the lots
        # a transfer out removes, so every day may change.
        lock_for_write(session, portfolio)
    try:
        portfolios.update(portfolio, **changes)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise _duplicate_name(str(name)) from exc
    return portfolio


def delete(*, session: Session, portfolio: Portfolio) -> None:
    """Delete a portfolio; the database cascades to its transactions."""
    PortfolioRepository(session).delete(portfolio)
    session.commit()
    logger.info("portfolio deleted: id=%s", portfolio.id)


# --- the replay -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Movement:
    """What the quantity check needs to know about one transaction."""

    transaction_id: int | None
    coin_id: int
    kind: TransactionKind
    quantity: Decimal
    executed_at: dt.datetime

    @classmethod
    def of(cls, transaction: PortfolioTransaction) -> Movement:
        """The movement a stored transaction makes."""
        return cls(
            transaction.id,
            transaction.coin_id,
            transaction.kind,
            transaction.quantity,
            transaction.executed_at,
        )

    @property
    def order(self) -> tuple[dt.datetime, int]:
        """Replay order: time, then id (unsaved rows last)."""
        return self.executed_at, (
            _UNSAVED_ID if self.transaction_id is None else self.transaction_id
        )


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The first removal that asks for more than was held at its moment."""

    movement: Movement
    available: Decimal


def first_shortfall(movements: Iterable[Movement]) -> Shortfall | None:
    """Replay movements in time order and report the first one that would go below zero."""
    held: dict[int, Decimal] = {}
    with localcontext(_EXACT):
        for movement in sorted(movements, key=lambda m: m.order):
            available = held.get(movement.coin_id, Decimal(0))
            if movement.kind.adds_holdings:
                held[movement.coin_id] = available + movement.quantity
            elif movement.quantity > available:
                return Shortfall(movement, available)
            else:
                held[movement.coin_id] = available - movement.quantity
    return None


# --- transactions -----------------------------------------------------------------------------


def _named_coin(session: Session, identifier: str) -> Cryptocurrency:
    """A coin named in a request; an unknown one makes the request invalid (422), not absent."""
    try:
        return coins_service.get_by_identifier(session=session, identifier=identifier)
    except NotFoundError as exc:
        raise ValidationFailedError(
            f"Unknown coin {identifier!r}",
            details=[{"loc": ["body", "coin"], "msg": "Unknown coin", "type": "unknown_coin"}],
        ) from exc


def _describe(
    session: Session, transactions: Sequence[PortfolioTransaction]
) -> list[TransactionRead]:
    """Response bodies for transactions, with their coins fetched in one query."""
    coins = coins_service.get_many_by_ids(session=session, ids=(tx.coin_id for tx in transactions))
    return [
        TransactionRead(
            id=tx.id,
            portfolio_id=tx.portfolio_id,
            coin=CoinRef.model_validate(coins[tx.coin_id]),
            kind=tx.kind,
            quantity=tx.quantity,
            price=tx.price,
            fee=tx.fee,
            executed_at=tx.executed_at,
            note=tx.note,
            created_at=tx.created_at,
        )
        for tx in transactions
    ]


def read_transaction(*, session: Session, transaction: PortfolioTransaction) -> TransactionRead:
    """One transaction as the API shows it."""
    return _describe(session, [transaction])[0]


def get_transaction(
    *, session: Session, portfolio: Portfolio, transaction_id: int
) -> PortfolioTransaction:
    """A transaction of this portfolio; one of another portfolio is a 404."""
    transaction = TransactionRepository(session).get_in_portfolio(portfolio.id, transaction_id)
    if transaction is None:
        raise NotFoundError(f"Transaction {transaction_id} not found")
    return transaction


def list_transactions(
    *,
    session: Session,
    portfolio: Portfolio,
    page: PageParams,
    coin: str | None = None,
    kind: TransactionKind | None = None,
) -> tuple[list[TransactionRead], int]:
    """A page of the portfolio's transactions in the order they happened; filtering by a
    coin nobody knows finds nothing, like any other coin the portfolio never held."""
    coin_id = None
    if coin:
        try:
            coin_id = coins_service.get_by_identifier(session=session, identifier=coin).id
        except NotFoundError:
            return [], 0
    items, total = TransactionRepository(session).page(
        portfolio.id, page=page, coin_id=coin_id, kind=kind
    )
    return _describe(session, items), total


def lock_portfolio(session: Session, portfolio: Portfolio) -> None:
    """Serialise writers of one portfolio so two sells cannot both spend the same coins."""
    if PortfolioRepository(session).lock(portfolio.id) is None:
        raise NotFoundError(f"Portfolio {portfolio.id} not found")


def mark_changed(portfolio: Portfolio, *changed: dt.datetime) -> None:
    """Mark the ledger changed and its history out of date from the earliest `changed`
    instant (committed with the write, or rolled back with it)."""
    portfolio.ledger_version += 1
    value_history.mark_stale(portfolio, *changed)


def lock_for_write(session: Session, portfolio: Portfolio, *changed: dt.datetime) -> None:
    """``lock_portfolio`` then ``mark_changed``: what every single write does first."""
    lock_portfolio(session, portfolio)
    mark_changed(portfolio, *changed)


def _ensure_never_short(
    session: Session,
    portfolio: Portfolio,
    *,
    coin_ids: set[int],
    action: str,
    drop: int | None = None,
    add: Movement | None = None,
) -> None:
    """Refuse (422, nothing written) a change after which some coin's running quantity would
    go negative; `drop` and `add` describe the change against what is stored."""
    stored = TransactionRepository(session).timeline(portfolio.id, coin_ids=coin_ids)
    movements = [Movement.of(tx) for tx in stored if tx.id != drop]
    if add is not None:
        movements.append(add)
    shortfall = first_shortfall(movements)
    if shortfall is None:
        return
    moved = shortfall.movement
    coin = coins_service.get_many_by_ids(session=session, ids=[moved.coin_id])[moved.coin_id]
    symbol = coin.symbol.upper()
    when = moved.executed_at.isoformat().replace("+00:00", "Z")
    available, requested = decimal_text(shortfall.available), decimal_text(moved.quantity)
    if moved is add:
        message = (
            f"Cannot {moved.kind.value.replace('_', ' ')} {requested} {symbol} at {when}: "
            f"only {available} held at that time"
        )
    else:
        message = (
            f"Cannot {action} this transaction: the {moved.kind.value.replace('_', ' ')} of "
            f"{requested} {symbol} at {when} (transaction {moved.transaction_id}) "
            f"would exceed the {available} held at that time"
        )
    raise ValidationFailedError(
        message,
        details={
            "coin": coin.coingecko_id,
            "symbol": coin.symbol,
            "available": available,
            "requested": requested,
            "kind": moved.kind.value,
            "executed_at": when,
            "transaction_id": moved.transaction_id,
        },
    )


def create_transaction(
    *, session: Session, portfolio: Portfolio, data: TransactionCreate
) -> TransactionRead:
    """Record a transaction, refusing a removal beyond what was held at its moment."""
    coin = _named_coin(session, data.coin)
    lock_for_write(session, portfolio, data.executed_at)
    movement = Movement(None, coin.id, data.kind, data.quantity, data.executed_at)
    _ensure_never_short(session, portfolio, coin_ids={coin.id}, action="record", add=movement)
    transaction = record(session, portfolio, coin.id, data)
    session.commit()
    return read_transaction(session=session, transaction=transaction)


def record(
    session: Session, portfolio: Portfolio, coin_id: int, data: TransactionCreate
) -> PortfolioTransaction:
    """Add one checked transaction to the session (the caller commits)."""
    return TransactionRepository(session).create(
        portfolio_id=portfolio.id,
        coin_id=coin_id,
        kind=data.kind,
        quantity=data.quantity,
        price=data.price,
        fee=data.fee,
        executed_at=data.executed_at,
        note=data.note,
    )


def update_transaction(
    *,
    session: Session,
    portfolio: Portfolio,
    transaction: PortfolioTransaction,
    data: TransactionUpdate,
) -> TransactionRead:
    """Change a transaction; the result must be valid and keep every later removal covered."""
    changes = data.changes()
    if "coin" in changes:
        changes["coin_id"] = _named_coin(session, changes.pop("coin")).id
    kind: TransactionKind = changes.get("kind", transaction.kind)
    price: Decimal | None = changes.get("price", transaction.price)
    if price is None and price_required(kind):
        error = missing_price(kind)
        raise ValidationFailedError(
            error.message(),
            details=[{"loc": ["body", "price"], "msg": error.message(), "type": error.type}],
        )
    lock_portfolio(session, portfolio)
    try:
        session.refresh(transaction)  # as it stands under the lock, not as first read
    except InvalidRequestError as exc:  # deleted meanwhile
        raise NotFoundError(f"Transaction {transaction.id} not found") from exc
    kind = changes.get("kind", transaction.kind)
    mark_changed(
        portfolio, transaction.executed_at, changes.get("executed_at", transaction.executed_at)
    )
    after = Movement(
        transaction.id,
        changes.get("coin_id", transaction.coin_id),
        kind,
        changes.get("quantity", transaction.quantity),
        changes.get("executed_at", transaction.executed_at),
    )
    if after != Movement.of(transaction):
        _ensure_never_short(
            session,
            portfolio,
            coin_ids={transaction.coin_id, after.coin_id},
            action="update",
            drop=transaction.id,
            add=after,
        )
    TransactionRepository(session).update(transaction, **changes)
    session.commit()
    return read_transaction(session=session, transaction=transaction)


def delete_transaction(
    *, session: Session, portfolio: Portfolio, transaction: PortfolioTransaction
) -> None:
    """Delete a transaction unless a later removal depends on the coins it brought in."""
    lock_for_write(session, portfolio, transaction.executed_at)
    if transaction.kind.adds_holdings:
        _ensure_never_short(
            session,
            portfolio,
            coin_ids={transaction.coin_id},
            action="delete",
            drop=transaction.id,
        )
    TransactionRepository(session).delete(transaction)
    session.commit()


# --- the stored history -----------------------------------------------------------------------


def update_history(*, session: Session, today: dt.date) -> dict[str, Any]:
    """Bring every out-of-date portfolio history up to the day before ``today`` (the task)."""
    return value_history.update_all(session=session, today=today)


def mark_history_stale(
    *,
    session: Session,
    since: dt.date | None = None,
    since_by_coin: Mapping[int, dt.date] | None = None,
) -> int:
    """Mark stored histories out of date from a day on (prices written for those days): every
    portfolio's from ``since``, and those that ever held a coin of ``since_by_coin`` from its
    day; how many portfolios were marked."""
    portfolios = PortfolioRepository(session)
    marked = 0
    if since is not None:
        marked += portfolios.mark_history_stale(since)
    for coin_id, day in (since_by_coin or {}).items():
        marked += portfolios.mark_history_stale(day, coin_id=coin_id)
    session.commit()
    return marked
