"""Users only ever see and change their own portfolios: anyone else's answers 404, like an id
that does not exist, and is left untouched."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.portfolios.models import PortfolioTransaction
from tests.factories import Factory
from tests.portfolios.helpers import BASE, Owner, assert_error


@pytest.fixture
def a_portfolio(owner: Owner, bitcoin: Cryptocurrency) -> dict[str, Any]:
    """A's portfolio with one buy, plus a snapshot of everything A can see of it."""
    portfolio = owner.create_portfolio("A's", description="private")
    transaction = owner.added(portfolio["id"], "buy", "2", price="10")
    return {"portfolio": portfolio, "transaction": transaction}


def _snapshot(owner: Owner, portfolio_id: int) -> dict[str, Any]:
    return {
        "portfolio": owner.get(f"{BASE}/{portfolio_id}").json(),
        "transactions": owner.transactions(portfolio_id),
        "holdings": owner.holdings(portfolio_id),
    }


def _count_transactions(session: Session, portfolio_id: int) -> int:
    session.expire_all()
    statement = select(func.count()).where(PortfolioTransaction.portfolio_id == portfolio_id)
    return int(session.scalar(statement) or 0)


def test_another_user_gets_404_everywhere_and_changes_nothing(
    owner: Owner, intruder: Owner, a_portfolio: dict[str, Any], db_session: Session
) -> None:
    pid = a_portfolio["portfolio"]["id"]
    tid = a_portfolio["transaction"]["id"]
    before = _snapshot(owner, pid)
    tx_body = {
        "coin": "bitcoin",
        "kind": "sell",
        "quantity": "2",
        "price": "1",
        "executed_at": "2024-06-01T00:00:00Z",
    }

    assert intruder.get(BASE).json()["total"] == 0
    attempts = [
        intruder.get(f"{BASE}/{pid}"),
        intruder.patch(f"{BASE}/{pid}", {"name": "pwned"}),
        intruder.delete(f"{BASE}/{pid}"),
        intruder.get(f"{BASE}/{pid}/holdings"),
        intruder.get(f"{BASE}/{pid}/summary"),
        intruder.get(f"{BASE}/{pid}/disposals"),
        intruder.get(f"{BASE}/{pid}/history"),
        intruder.get(f"{BASE}/{pid}/performance"),
        intruder.get(f"{BASE}/{pid}/forecast"),
        intruder.get(f"{BASE}/{pid}/export/transactions.csv"),
        intruder.get(f"{BASE}/{pid}/export/pnl.csv"),
        intruder.client.post(
            f"{BASE}/{pid}/import",
            content=b"executed_at,coin,kind,quantity,price\n2024-01-01,bitcoin,sell,2,1\n",
            headers={**intruder.headers, "Content-Type": "text/csv"},
        ),
        intruder.patch(f"{BASE}/{pid}", {"cost_basis_method": "lifo"}),
        intruder.get(f"{BASE}/{pid}/transactions"),
        intruder.post(f"{BASE}/{pid}/transactions", tx_body),
        intruder.get(f"{BASE}/{pid}/transactions/{tid}"),
        intruder.patch(f"{BASE}/{pid}/transactions/{tid}", {"quantity": "0.001"}),
        intruder.delete(f"{BASE}/{pid}/transactions/{tid}"),
    ]
    for response in attempts:
        assert_error(response, 404, "not_found")

    assert _snapshot(owner, pid) == before
    assert _count_transactions(db_session, pid) == 1


def test_someone_elses_id_looks_exactly_like_a_missing_one(
    intruder: Owner, a_portfolio: dict[str, Any]
) -> None:
    pid = a_portfolio["portfolio"]["id"]
    theirs = intruder.get(f"{BASE}/{pid}").json()["error"]
    missing = intruder.get(f"{BASE}/{pid + 100000}").json()["error"]
    assert theirs["message"].replace(str(pid), "N") == missing["message"].replace(
        str(pid + 100000), "N"
    )


def test_own_portfolio_cannot_reach_another_users_transaction(
    owner: Owner, intruder: Owner, a_portfolio: dict[str, Any], db_session: Session
) -> None:
    pid = a_portfolio["portfolio"]["id"]
    tid = a_portfolio["transaction"]["id"]
    mine = intruder.create_portfolio("B's")["id"]
    url = f"{BASE}/{mine}/transactions/{tid}"
    assert_error(intruder.get(url), 404, "not_found")
    assert_error(intruder.patch(url, {"note": "mine now"}), 404, "not_found")
    assert_error(intruder.delete(url), 404, "not_found")
    assert owner.get(f"{BASE}/{pid}/transactions/{tid}").json() == a_portfolio["transaction"]
    assert _count_transactions(db_session, pid) == 1


def test_transaction_under_the_wrong_portfolio_of_the_same_user_is_404(
    owner: Owner, a_portfolio: dict[str, Any]
) -> None:
    other = owner.create_portfolio("Other")["id"]
    tid = a_portfolio["transaction"]["id"]
    assert_error(owner.get(f"{BASE}/{other}/transactions/{tid}"), 404, "not_found")
    assert_error(owner.delete(f"{BASE}/{other}/transactions/{tid}"), 404, "not_found")


def test_admins_get_no_special_access(
    client: TestClient, factory: Factory, owner: Owner, a_portfolio: dict[str, Any]
) -> None:
    user = factory.admin()
    admin = Owner(client, user, factory.headers(user))
    pid = a_portfolio["portfolio"]["id"]
    assert admin.get(BASE).json()["total"] == 0
    assert_error(admin.get(f"{BASE}/{pid}"), 404, "not_found")
    assert_error(admin.delete(f"{BASE}/{pid}"), 404, "not_found")
    assert owner.get(f"{BASE}/{pid}").status_code == 200
