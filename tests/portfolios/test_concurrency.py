"""Two writers racing on one portfolio are checked one after the other (PostgreSQL row lock),
so two sells cannot both spend the same coins. Needs committed rows seen by two connections,
so this test commits for real and removes what it made."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session

from cryptopredict.auth.models import User
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.errors import ValidationFailedError
from cryptopredict.portfolios import service
from cryptopredict.portfolios.models import PortfolioTransaction, TransactionKind
from cryptopredict.portfolios.repository import PortfolioRepository, TransactionRepository
from cryptopredict.portfolios.schemas import PortfolioCreate, TransactionCreate
from tests.conftest import need_service

JAN = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FEB = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)


def _sell(coin: str) -> TransactionCreate:
    return TransactionCreate(
        coin=coin, kind=TransactionKind.SELL, quantity=Decimal(1), price=Decimal(1), executed_at=FEB
    )


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return bool(waiting)


@pytest.mark.services
def test_concurrent_sells_cannot_both_spend_the_same_coins(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        need_service("postgresql", "row locks are only observable on PostgreSQL")
    tag = f"race-{time.time_ns()}"
    with Session(engine) as setup:
        user = User(email=f"{tag}@example.com", hashed_password="x")  # noqa: S106
        coin = Cryptocurrency(coingecko_id=tag, symbol="race", name="Race")
        setup.add_all([user, coin])
        setup.commit()
        user_id, coin_id = user.id, coin.id
        portfolio = service.create(session=setup, user=user, data=PortfolioCreate(name="p"))
        portfolio_id = portfolio.id
        service.create_transaction(
            session=setup,
            portfolio=portfolio,
            data=TransactionCreate(
                coin=tag,
                kind=TransactionKind.BUY,
                quantity=Decimal(1),
                price=Decimal(1),
                executed_at=JAN,
            ),
        )
    outcome: list[BaseException | None] = []

    def second_writer() -> None:
        with Session(engine) as session:
            owner = session.get(User, user_id)
            assert owner is not None
            mine = service.get(session=session, user=owner, portfolio_id=portfolio_id)
            try:
                service.create_transaction(session=session, portfolio=mine, data=_sell(tag))
                outcome.append(None)
            except BaseException as exc:  # reported to the main thread
                outcome.append(exc)

    try:
        with Session(engine) as first:
            assert PortfolioRepository(first).lock(portfolio_id) is not None
            racer = threading.Thread(target=second_writer)
            racer.start()
            deadline = time.monotonic() + 10
            while racer.is_alive() and not _waiting_on_a_lock(engine):
                assert time.monotonic() < deadline, "second writer neither finished nor waited"
                time.sleep(0.02)
            assert racer.is_alive(), "the second writer did not wait for the first"
            TransactionRepository(first).create(
                portfolio_id=portfolio_id,
                coin_id=coin_id,
                kind=TransactionKind.SELL,
                quantity=Decimal(1),
                price=Decimal(1),
                fee=Decimal(0),
                executed_at=FEB,
            )
            first.commit()
        racer.join(timeout=10)
        assert not racer.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], ValidationFailedError), outcome
        assert outcome[0].details["available"] == "0"
        with Session(engine) as check:
            sells = check.scalar(
                select(func.count()).where(
                    PortfolioTransaction.portfolio_id == portfolio_id,
                    PortfolioTransaction.kind == TransactionKind.SELL,
                )
            )
            assert sells == 1
    finally:
        with Session(engine) as cleanup:
            cleanup.execute(delete(User).where(User.id == user_id))  # cascades to portfolios
            cleanup.execute(delete(Cryptocurrency).where(Cryptocurrency.id == coin_id))
            cleanup.commit()
