"""SQL for portfolios and their transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from cryptopredict.core.pagination import PageParams
from cryptopredict.core.repository import Repository
from cryptopredict.portfolios.models import (
    Portfolio,
    PortfolioHistoryDay,
    PortfolioTransaction,
    TransactionKind,
)


class PortfolioRepository(Repository[Portfolio]):
    """Portfolios, always looked up together with their owner."""

    model = Portfolio
    sortable = frozenset({"id", "name", "created_at"})

    def get_owned(self, portfolio_id: int, user_id: int) -> Portfolio | None:
        """The portfolio if it exists and belongs to `user_id`."""
        statement = select(Portfolio).where(
            Portfolio.id == portfolio_id, Portfolio.user_id == user_id
        )
        return self.session.scalars(statement).first()

    def name_taken(self, user_id: int, name: str, *, exclude_id: int | None = None) -> bool:
        """Whether the user already has another portfolio with this name."""
        statement = select(Portfolio.id).where(Portfolio.user_id == user_id, Portfolio.name == name)
        if exclude_id is not None:
            statement = statement.where(Portfolio.id != exclude_id)
        return self.session.scalars(statement.limit(1)).first() is not None

    def lock(self, portfolio_id: int) -> Portfolio | None:
        """Re-read the portfolio with a row lock (PostgreSQL), so concurrent writes to its
        transactions are checked one after another; SQLite serialises writers anyway."""
        statement = (
            select(Portfolio)
            .where(Portfolio.id == portfolio_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return self.session.scalars(statement).first()

    def mark_history_stale(self, since: dt.date, *, coin_id: int | None = None) -> int:
        """Move portfolios' first out-of-date day back to ``since`` at the latest and count
        the mark (only portfolios that ever held ``coin_id`` when given); how many."""
        statement = update(Portfolio)
        if coin_id is not None:
            held = select(PortfolioTransaction.portfolio_id).where(
                PortfolioTransaction.coin_id == coin_id
            )
            statement = statement.where(Portfolio.id.in_(held))
        statement = statement.values(
            history_from=case(
                (Portfolio.history_from.is_(None), since),
                (Portfolio.history_from > since, since),
                else_=Portfolio.history_from,
            ),
            history_mark=Portfolio.history_mark + 1,
        )
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)


class TransactionRepository(Repository[PortfolioTransaction]):
    """Transactions of one portfolio, in the order they happened (time, then id)."""

    model = PortfolioTransaction

    def get_in_portfolio(
        self, portfolio_id: int, transaction_id: int
    ) -> PortfolioTransaction | None:
        """The transaction if it belongs to this portfolio."""
        statement = select(PortfolioTransaction).where(
            PortfolioTransaction.id == transaction_id,
            PortfolioTransaction.portfolio_id == portfolio_id,
        )
        return self.session.scalars(statement).first()

    def page(
        self,
        portfolio_id: int,
        *,
        page: PageParams,
        coin_id: int | None = None,
        kind: TransactionKind | None = None,
    ) -> tuple[list[PortfolioTransaction], int]:
        """One page of the portfolio's transactions in time order, and the filtered total."""
        filters: dict[str, object] = {"portfolio_id": portfolio_id}
        if coin_id is not None:
            filters["coin_id"] = coin_id
        if kind is not None:
            filters["kind"] = kind
        items = self.list(filters=filters, sort="executed_at", page=page)
        return items, self.count(filters=filters)

    def timeline(
        self,
        portfolio_id: int,
        *,
        coin_ids: Collection[int] | None = None,
        until: dt.datetime | None = None,
        since: dt.datetime | None = None,
        before: dt.datetime | None = None,
    ) -> list[PortfolioTransaction]:
        """Every transaction of the portfolio in replay order; optionally only of some coins,
        or executed at or before ``until``, at or after ``since``, before ``before``."""
        statement = select(PortfolioTransaction).where(
            PortfolioTransaction.portfolio_id == portfolio_id
        )
        if until is not None:
            statement = statement.where(PortfolioTransaction.executed_at <= until)
        if since is not None:
            statement = statement.where(PortfolioTransaction.executed_at >= since)
        if before is not None:
            statement = statement.where(PortfolioTransaction.executed_at < before)
        if coin_ids is not None:
            statement = statement.where(PortfolioTransaction.coin_id.in_(list(coin_ids)))
        statement = statement.order_by(PortfolioTransaction.executed_at, PortfolioTransaction.id)
        return list(self.session.scalars(statement))

    def coin_ids(self, portfolio_id: int) -> list[int]:
        """Every coin the portfolio ever had a transaction in."""
        statement = (
            select(PortfolioTransaction.coin_id)
            .where(PortfolioTransaction.portfolio_id == portfolio_id)
            .distinct()
        )
        return list(self.session.scalars(statement))

    def first_executed_at(self, portfolio_id: int) -> dt.datetime | None:
        """When the portfolio's first transaction happened."""
        statement = select(func.min(PortfolioTransaction.executed_at)).where(
            PortfolioTransaction.portfolio_id == portfolio_id
        )
        return self.session.scalar(statement)


class HistoryRepository:
    """The stored day-by-day history of portfolios."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def days(
        self, portfolio_id: int, first: dt.date | None = None, last: dt.date | None = None
    ) -> list[PortfolioHistoryDay]:
        """Stored days in order, optionally from ``first`` to ``last`` inclusive."""
        statement = select(PortfolioHistoryDay).where(
            PortfolioHistoryDay.portfolio_id == portfolio_id
        )
        if first is not None:
            statement = statement.where(PortfolioHistoryDay.day >= first)
        if last is not None:
            statement = statement.where(PortfolioHistoryDay.day <= last)
        return list(self.session.scalars(statement.order_by(PortfolioHistoryDay.day)))

    def day_before(self, portfolio_id: int, day: dt.date) -> PortfolioHistoryDay | None:
        """The newest stored day before ``day``."""
        statement = (
            select(PortfolioHistoryDay)
            .where(PortfolioHistoryDay.portfolio_id == portfolio_id, PortfolioHistoryDay.day < day)
            .order_by(PortfolioHistoryDay.day.desc())
            .limit(1)
        )
        return self.session.scalars(statement).first()

    def replace_from(
        self, portfolio_id: int, first: dt.date, rows: Sequence[dict[str, object]]
    ) -> None:
        """Drop the stored days from ``first`` on and insert ``rows`` (each a full day)."""
        self.session.execute(
            delete(PortfolioHistoryDay).where(
                PortfolioHistoryDay.portfolio_id == portfolio_id, PortfolioHistoryDay.day >= first
            )
        )
        if rows:
            self.session.execute(insert(PortfolioHistoryDay), list(rows))

    def delete_before(self, portfolio_id: int, day: dt.date) -> None:
        """Drop the stored days before ``day``."""
        self.session.execute(
            delete(PortfolioHistoryDay).where(
                PortfolioHistoryDay.portfolio_id == portfolio_id, PortfolioHistoryDay.day < day
            )
        )

    def clear(self, portfolio_id: int) -> None:
        """Drop every stored day."""
        self.session.execute(
            delete(PortfolioHistoryDay).where(PortfolioHistoryDay.portfolio_id == portfolio_id)
        )

    def due(self, yesterday: dt.date) -> list[int]:
        """Portfolios whose stored history is out of date: with transactions, marked stale or
        short of ``yesterday``; without, still holding days. Oldest id first."""
        has_transactions = (
            select(PortfolioTransaction.id)
            .where(PortfolioTransaction.portfolio_id == Portfolio.id)
            .exists()
        )
        stale = or_(
            Portfolio.history_from.is_not(None),
            Portfolio.history_through.is_(None),
            Portfolio.history_through < yesterday,
        )
        emptied = and_(~has_transactions, Portfolio.history_through.is_not(None))
        statement = (
            select(Portfolio.id)
            .where(or_(and_(has_transactions, stale), emptied))
            .order_by(Portfolio.id)
        )
        return list(self.session.scalars(statement))
