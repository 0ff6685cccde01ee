"""No sell or transfer out beyond what was held at its own moment: the running quantity per
coin, replayed in time order (ties by id), never goes negative after any insert, edit or delete,
and a refused change writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.portfolios.models import PortfolioTransaction
from tests.portfolios.helpers import BASE, Owner, assert_error

JAN, FEB, MAR, APR = (f"2024-0{m}-01T00:00:00Z" for m in (1, 2, 3, 4))


@pytest.fixture
def pid(owner: Owner, bitcoin: Cryptocurrency, ethereum: Cryptocurrency) -> int:
    """An empty portfolio of the owner; BTC and ETH exist."""
    portfolio_id: int = owner.create_portfolio()["id"]
    return portfolio_id


def _stored(session: Session) -> list[tuple[Any, ...]]:
    """Every stored transaction, read straight from the database."""
    session.expire_all()
    rows = session.execute(
        select(
            PortfolioTransaction.id,
            PortfolioTransaction.coin_id,
            PortfolioTransaction.kind,
            PortfolioTransaction.quantity,
            PortfolioTransaction.executed_at,
        ).order_by(PortfolioTransaction.id)
    )
    return [tuple(row) for row in rows]


def _refused(response: Any, *, available: str, requested: str, coin: str = "bitcoin") -> str:
    error = assert_error(response, 422, "validation_error")
    details = error["details"]
    assert (details["coin"], details["available"], details["requested"]) == (
        coin,
        available,
        requested,
    )
    message: str = error["message"]
    return message


def test_sell_beyond_holdings_is_refused_and_nothing_is_written(
    owner: Owner, pid: int, db_session: Session
) -> None:
    owner.added(pid, "buy", "1.5", at=JAN)
    before = _stored(db_session)
    message = _refused(
        owner.add(pid, "sell", "1.500000001", at=FEB), available="1.5", requested="1.500000001"
    )
    assert "BTC" in message and "1.5" in message
    _refused(
        owner.add(pid, "transfer_out", "2", price=None, at=FEB), available="1.5", requested="2"
    )
    assert _stored(db_session) == before
    assert owner.transactions(pid)["total"] == 1


def test_selling_exactly_everything_is_allowed(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "0.1", at=JAN)
    owner.added(pid, "buy", "0.2", at=FEB)
    owner.added(pid, "sell", "0.3", at=MAR)
    assert owner.holdings(pid) == {}
    _refused(
        owner.add(pid, "sell", "0.000000000000000001", at=APR),
        available="0",
        requested="0.000000000000000001",
    )


def test_holdings_of_one_coin_do_not_cover_another(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "10", coin="eth", at=JAN)
    _refused(owner.add(pid, "sell", "1", at=FEB), available="0", requested="1")


def test_holdings_of_another_portfolio_do_not_count(owner: Owner, pid: int) -> None:
    other = owner.create_portfolio("Other")["id"]
    owner.added(other, "buy", "5", at=JAN)
    _refused(owner.add(pid, "sell", "1", at=FEB), available="0", requested="1")


def test_backdated_sell_before_the_buy_is_refused(
    owner: Owner, pid: int, db_session: Session
) -> None:
    owner.added(pid, "buy", "1", at=MAR)
    before = _stored(db_session)
    _refused(owner.add(pid, "sell", "1", at=FEB), available="0", requested="1")
    assert _stored(db_session) == before
    assert owner.add(pid, "sell", "1", at=APR).status_code == 201


def test_backdated_sell_that_starves_a_later_sell_is_refused(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "2", at=JAN)
    later = owner.added(pid, "sell", "1.5", at=MAR)
    # On its own date the new sell is covered (2 held), but the March sell would then lack 1.
    message = _refused(owner.add(pid, "sell", "1", at=FEB), available="1", requested="1.5")
    assert "2024-03-01T00:00:00Z" in message and f"transaction {later['id']}" in message
    assert owner.transactions(pid)["total"] == 2
    assert owner.get(f"{BASE}/{pid}/transactions/{later['id']}").status_code == 200


def test_same_instant_sell_recorded_after_its_buy_is_fine(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", at=JAN)
    owner.added(pid, "sell", "1", at=JAN)
    assert owner.holdings(pid) == {}


def test_deleting_a_buy_a_later_sell_depends_on_is_refused(
    owner: Owner, pid: int, db_session: Session
) -> None:
    first = owner.added(pid, "buy", "1", at=JAN)
    owner.added(pid, "buy", "1", at=FEB)
    owner.added(pid, "sell", "1.5", at=MAR)
    before = _stored(db_session)
    message = _refused(
        owner.delete(f"{BASE}/{pid}/transactions/{first['id']}"), available="1", requested="1.5"
    )
    assert message.startswith("Cannot delete this transaction")
    assert _stored(db_session) == before


def test_deleting_a_buy_nothing_depends_on_is_allowed(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", at=JAN)
    spare = owner.added(pid, "buy", "1", at=FEB)
    owner.added(pid, "sell", "1", at=MAR)
    assert owner.delete(f"{BASE}/{pid}/transactions/{spare['id']}").status_code == 204


def test_deleting_a_sell_is_always_allowed(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", at=JAN)
    sell = owner.added(pid, "sell", "1", at=FEB)
    assert owner.delete(f"{BASE}/{pid}/transactions/{sell['id']}").status_code == 204
    assert owner.holdings(pid)["bitcoin"]["quantity"] == "1"


@pytest.mark.parametrize(
    ("change", "available", "requested"),
    [
        ({"quantity": "0.5"}, "0.5", "0.8"),  # buy less than the later sell needs
        ({"executed_at": APR}, "0", "0.8"),  # move the buy after the sell
        ({"coin": "eth"}, "0", "0.8"),  # move the buy to another coin
        ({"kind": "sell", "price": "1"}, "0", "1"),  # turn it into a sell: itself short first
        ({"kind": "transfer_out"}, "0", "1"),
    ],
)
def test_editing_a_buy_a_later_sell_depends_on_is_refused(
    owner: Owner,
    pid: int,
    db_session: Session,
    change: dict[str, str],
    available: str,
    requested: str,
) -> None:
    buy = owner.added(pid, "buy", "1", at=JAN)
    owner.added(pid, "sell", "0.8", at=MAR)
    before = _stored(db_session)
    url = f"{BASE}/{pid}/transactions/{buy['id']}"
    _refused(owner.patch(url, change), available=available, requested=requested)
    assert _stored(db_session) == before
    assert owner.get(url).json() == buy


def test_editing_a_sell_beyond_what_was_held_is_refused(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", at=JAN)
    sell = owner.added(pid, "sell", "0.5", at=MAR)
    url = f"{BASE}/{pid}/transactions/{sell['id']}"
    message = _refused(owner.patch(url, {"quantity": "1.2"}), available="1", requested="1.2")
    assert message.startswith("Cannot sell 1.2 BTC")
    _refused(
        owner.patch(url, {"executed_at": "2023-12-01T00:00:00Z"}), available="0", requested="0.5"
    )
    assert owner.patch(url, {"quantity": "1"}).json()["quantity"] == "1"


def test_edits_that_keep_every_sell_covered_are_allowed(owner: Owner, pid: int) -> None:
    buy = owner.added(pid, "buy", "1", at=JAN)
    owner.added(pid, "sell", "0.8", at=MAR)
    url = f"{BASE}/{pid}/transactions/{buy['id']}"
    assert owner.patch(url, {"quantity": "0.8", "executed_at": FEB}).status_code == 200
    assert owner.patch(url, {"note": "fine", "price": "1"}).status_code == 200
    assert owner.holdings(pid, include_closed="true")["bitcoin"]["quantity"] == "0"


def test_moving_a_sell_to_a_coin_not_held_is_refused(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", at=JAN)
    sell = owner.added(pid, "sell", "1", at=FEB)
    url = f"{BASE}/{pid}/transactions/{sell['id']}"
    _refused(owner.patch(url, {"coin": "ethereum"}), available="0", requested="1", coin="ethereum")
