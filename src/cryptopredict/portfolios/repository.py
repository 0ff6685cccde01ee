"""SQL for portfolios and their transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import select

from cryptopredict.core.pagination import PageParams
from cryptopredict.core.repository import Repository
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction, TransactionKind


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
    ) -> list[PortfolioTransaction]:
        """Every transaction of the portfolio (optionally of some coins, or executed at or
        before ``until``) in replay order."""
        statement = select(PortfolioTransaction).where(
            PortfolioTransaction.portfolio_id == portfolio_id
        )
        if until is not None:
            statement = statement.where(PortfolioTransaction.executed_at <= until)
        if coin_ids is not None:
            statement = statement.where(PortfolioTransaction.coin_id.in_(list(coin_ids)))
        statement = statement.order_by(PortfolioTransaction.executed_at, PortfolioTransaction.id)
        return list(self.session.scalars(statement))
