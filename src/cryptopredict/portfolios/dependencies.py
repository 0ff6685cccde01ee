"""Lookups that 404 unless the caller owns what the path names, so routes read like sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from cryptopredict.auth.dependencies import CurrentUser
from cryptopredict.core.dependencies import SessionDep
from cryptopredict.core.validation import IntId
from cryptopredict.portfolios import service
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction

PortfolioId = Annotated[IntId, Path(description="A portfolio of the caller")]
TransactionId = Annotated[IntId, Path(description="A transaction of the portfolio")]


def owned_portfolio(portfolio_id: PortfolioId, user: CurrentUser, session: SessionDep) -> Portfolio:
    """The caller's portfolio, or 404 (also for other users' ids, so they do not leak)."""
    return service.get(session=session, user=user, portfolio_id=portfolio_id)


PortfolioDep = Annotated[Portfolio, Depends(owned_portfolio)]


def owned_transaction(
    transaction_id: TransactionId, portfolio: PortfolioDep, session: SessionDep
) -> PortfolioTransaction:
    """A transaction of the caller's portfolio named in the path, or 404."""
    return service.get_transaction(
        session=session, portfolio=portfolio, transaction_id=transaction_id
    )


TransactionDep = Annotated[PortfolioTransaction, Depends(owned_transaction)]
