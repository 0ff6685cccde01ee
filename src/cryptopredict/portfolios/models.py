"""Users' portfolios and the transactions that make up their holdings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, Enum, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cryptopredict.core.database import Base, WideDecimal, utcnow
from cryptopredict.portfolios.types import CostBasisMethod, TransactionKind

__all__ = [
    "CostBasisMethod",
    "Portfolio",
    "PortfolioHistoryDay",
    "PortfolioTransaction",
    "TransactionKind",
]


class Portfolio(Base):
    """A named set of holdings owned by one user."""

    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(1000))
    cost_basis_method: Mapped[CostBasisMethod] = mapped_column(
        Enum(
            CostBasisMethod,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=CostBasisMethod.FIFO,
        server_default=CostBasisMethod.FIFO.value,
    )
    #: Grows with every change to the transactions or the method (see `service`).
    ledger_version: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The first day whose stored history is out of date; None when none is.
    history_from: Mapped[dt.date | None] = mapped_column(Date)
    #: The last day of stored history; None before the first build.
    history_through: Mapped[dt.date | None] = mapped_column(Date)
    #: The day whose starting lots the history task last kept (``value_history``), and a
    #: count every write dated before that day bumps, so no process resumes from stale lots.
    snapshot_day: Mapped[dt.date | None] = mapped_column(Date)
    snapshot_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Bumped by every price sync's stale mark, so an update that ran meanwhile keeps it.
    history_mark: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    transactions: Mapped[list[PortfolioTransaction]] = relationship(
        back_populates="portfolio",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PortfolioTransaction.executed_at",
    )


class PortfolioTransaction(Base):
    """One buy, sell or transfer of a coin; quantities and prices are exact decimals."""

    __tablename__ = "portfolio_transactions"
    __table_args__ = (
        Index("ix_portfolio_transactions_portfolio_time", "portfolio_id", "executed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    coin_id: Mapped[int] = mapped_column(
        ForeignKey("cryptocurrencies.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[TransactionKind] = mapped_column(
        Enum(
            TransactionKind,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    quantity: Mapped[Decimal]
    price: Mapped[Decimal | None]
    fee: Mapped[Decimal] = mapped_column(default=Decimal(0))
    executed_at: Mapped[dt.datetime]
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    portfolio: Mapped[Portfolio] = relationship(back_populates="transactions")


class PortfolioHistoryDay(Base):
    """A portfolio at the end of one UTC day, kept by the history task (``value_history``):
    amounts in USD, rounded to 18 places."""

    __tablename__ = "portfolio_history"

    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[Decimal] = mapped_column(WideDecimal)
    net_invested: Mapped[Decimal] = mapped_column(WideDecimal)
    inflow: Mapped[Decimal] = mapped_column(WideDecimal)
    outflow: Mapped[Decimal] = mapped_column(WideDecimal)
    unpriced: Mapped[int]
