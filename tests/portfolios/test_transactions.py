"""Recording, reading, filtering, editing and deleting transactions, and input validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.portfolios.models import PortfolioTransaction
from tests.factories import Factory
from tests.portfolios.helpers import BASE, Owner, assert_error


@pytest.fixture
def pid(owner: Owner, bitcoin: Cryptocurrency, ethereum: Cryptocurrency) -> int:
    """An empty portfolio of the owner; BTC and ETH exist."""
    portfolio_id: int = owner.create_portfolio()["id"]
    return portfolio_id


def _count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(PortfolioTransaction)) or 0)


def test_create_returns_decimals_as_strings_and_utc_time(
    owner: Owner, pid: int, bitcoin: Cryptocurrency
) -> None:
    body = owner.added(
        pid,
        "buy",
        "0.123456789012345678",
        price="43210.50",
        fee="1.25",
        at="2024-03-01T12:30:00+02:00",
        note="first",
    )
    assert body["coin"] == {
        "id": bitcoin.id,
        "coingecko_id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
    }
    assert body["portfolio_id"] == pid
    assert (body["kind"], body["quantity"], body["price"], body["fee"]) == (
        "buy",
        "0.123456789012345678",
        "43210.5",
        "1.25",
    )
    assert dt.datetime.fromisoformat(body["executed_at"]) == dt.datetime(
        2024, 3, 1, 10, 30, tzinfo=dt.UTC
    )
    assert body["executed_at"].endswith(("Z", "+00:00"))
    assert body["note"] == "first"
    assert owner.get(f"{BASE}/{pid}/transactions/{body['id']}").json() == body


def test_json_numbers_are_accepted_and_symbols_resolve(owner: Owner, pid: int) -> None:
    body = owner.post(
        f"{BASE}/{pid}/transactions",
        {
            "coin": "ETH",
            "kind": "buy",
            "quantity": 1.5,
            "price": 2000,
            "executed_at": "2024-01-01T00:00:00Z",
        },
    )
    assert body.status_code == 201, body.text
    created = body.json()
    assert created["coin"]["coingecko_id"] == "ethereum"
    assert (created["quantity"], created["price"], created["fee"]) == ("1.5", "2000", "0")
    assert dt.datetime.fromisoformat(created["executed_at"]) == dt.datetime(
        2024, 1, 1, tzinfo=dt.UTC
    )


def test_transfers_need_no_price(owner: Owner, pid: int) -> None:
    created = owner.added(pid, "transfer_in", "3", price=None)
    assert created["price"] is None
    out = owner.added(pid, "transfer_out", "1", price=None, at="2024-01-02T00:00:00Z")
    assert out["kind"] == "transfer_out"


def test_large_amounts_round_trip_exactly(owner: Owner, pid: int) -> None:
    quantity = "12345678901234567890.123456789012345678"  # 38 significant digits
    created = owner.added(pid, "buy", quantity, price="0.000000000000000001")
    fetched = owner.get(f"{BASE}/{pid}/transactions/{created['id']}").json()
    assert (fetched["quantity"], fetched["price"]) == (quantity, "0.000000000000000001")
    assert Decimal(fetched["quantity"]) == Decimal(quantity)


VALID: dict[str, Any] = {
    "coin": "bitcoin",
    "kind": "buy",
    "quantity": "1",
    "price": "100",
    "executed_at": "2024-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": "0.0000000000000000001"}, "quantity"),  # 19 decimal places
        ({"quantity": "123456789012345678901"}, "quantity"),  # 21 whole digits
        ({"quantity": True}, "quantity"),
        ({"fee": "-0.01"}, "fee"),
        ({"price": "-5"}, "price"),
        ({"kind": "steal"}, "kind"),
        ({"kind": None}, "kind"),
        ({"executed_at": "2024-01-01T00:00:00"}, "executed_at"),  # naive: refused, not guessed
        ({"executed_at": "1999-01-01T00:00:00Z"}, "executed_at"),
        ({"executed_at": "0001-01-01T00:00:00+01:00"}, "executed_at"),
        ({"note": "x" * 501}, "note"),
        ({"coin": ""}, "coin"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_bodies_are_422_and_write_nothing(
    owner: Owner, pid: int, db_session: Session, change: dict[str, Any], field: str
) -> None:
    before = _count(db_session)
    error = assert_error(
        owner.post(f"{BASE}/{pid}/transactions", {**VALID, **change}), 422, "validation_error"
    )
    assert any(entry["loc"][-1] == field for entry in error["details"]), error
    assert _count(db_session) == before


def test_future_timestamps_are_refused_beyond_clock_skew(owner: Owner, pid: int) -> None:
    now = dt.datetime.now(dt.UTC)
    late = (now + dt.timedelta(minutes=5)).isoformat()
    error = assert_error(owner.add(pid, "buy", "1", at=late), 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "executed_at"]
    within_skew = (now + dt.timedelta(seconds=20)).isoformat()
    assert owner.add(pid, "buy", "1", at=within_skew).status_code == 201


@pytest.mark.parametrize("kind", ["buy", "sell"])
def test_trades_without_a_price_are_422(owner: Owner, pid: int, kind: str) -> None:
    error = assert_error(owner.add(pid, kind, "1", price=None), 422, "validation_error")
    assert error["details"] == [
        {"loc": ["body", "price"], "msg": f"price is required for a {kind}", "type": "missing"}
    ]


def test_unknown_coin_is_422(owner: Owner, pid: int, db_session: Session) -> None:
    error = assert_error(owner.add(pid, "buy", "1", coin="notacoin"), 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "coin"]
    assert _count(db_session) == 0


def test_list_is_in_time_order_filterable_and_paginated(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", at="2024-03-01T00:00:00Z")
    owner.added(pid, "buy", "5", coin="eth", at="2024-01-01T00:00:00Z")
    owner.added(pid, "sell", "0.5", at="2024-04-01T00:00:00Z")
    owner.added(pid, "buy", "2", at="2024-02-01T00:00:00Z")
    owner.added(pid, "transfer_in", "1", at="2024-02-01T00:00:00Z", price=None)  # tie: by id

    page = owner.transactions(pid)
    assert page["total"] == 5
    assert [(t["coin"]["symbol"], t["kind"], t["quantity"]) for t in page["items"]] == [
        ("eth", "buy", "5"),
        ("btc", "buy", "2"),
        ("btc", "transfer_in", "1"),
        ("btc", "buy", "1"),
        ("btc", "sell", "0.5"),
    ]
    second = owner.transactions(pid, limit=2, offset=2)
    assert second["total"] == 5
    assert [t["id"] for t in second["items"]] == [t["id"] for t in page["items"][2:4]]

    btc = owner.transactions(pid, coin="btc")
    assert btc["total"] == 4
    assert {t["coin"]["coingecko_id"] for t in btc["items"]} == {"bitcoin"}
    btc_buys = owner.transactions(pid, coin="bitcoin", kind="buy", limit=1)
    assert btc_buys["total"] == 2
    assert btc_buys["items"][0]["quantity"] == "2"
    assert owner.transactions(pid, kind="transfer_out")["total"] == 0

    assert_error(owner.get(f"{BASE}/{pid}/transactions", kind="steal"), 422, "validation_error")
    # A coin nobody knows is a filter that matches nothing, not an invalid request.
    unknown = owner.get(f"{BASE}/{pid}/transactions", coin="nope")
    assert (unknown.status_code, unknown.json()["total"]) == (200, 0)


def test_patch_changes_only_what_is_sent(owner: Owner, pid: int) -> None:
    created = owner.added(pid, "buy", "1", price="100", fee="2", note="n")
    url = f"{BASE}/{pid}/transactions/{created['id']}"
    response = owner.patch(url, {"price": "150.5", "note": None})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["price"], updated["note"]) == ("150.5", None)
    assert (updated["quantity"], updated["fee"], updated["kind"]) == ("1", "2", "buy")
    assert owner.get(url).json() == updated


def test_patch_validation(owner: Owner, pid: int) -> None:
    created = owner.added(pid, "transfer_in", "1", price=None)
    url = f"{BASE}/{pid}/transactions/{created['id']}"
    for body in (
        {"quantity": "0"},
        {"quantity": None},
        {"fee": None},
        {"executed_at": None},
        {"coin": None},
        {"executed_at": "2024-01-01T00:00:00"},
        {"executed_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()},
    ):
        assert_error(owner.patch(url, body), 422, "validation_error")
    nulled = assert_error(owner.patch(url, {"quantity": None}), 422, "validation_error")
    assert nulled["details"] == [
        {"loc": ["body", "quantity"], "msg": "quantity cannot be null", "type": "not_null"}
    ]
    error = assert_error(owner.patch(url, {"kind": "buy"}), 422, "validation_error")
    assert error["details"] == [
        {"loc": ["body", "price"], "msg": "price is required for a buy", "type": "missing"}
    ]
    assert_error(owner.patch(url, {"coin": "nope"}), 422, "validation_error")
    assert owner.get(url).json() == created
    assert owner.patch(url, {"kind": "buy", "price": "10"}).json()["kind"] == "buy"
    assert_error(owner.patch(url, {"price": None}), 422, "validation_error")


def test_patch_can_move_a_transaction_to_another_coin(owner: Owner, pid: int) -> None:
    created = owner.added(pid, "buy", "1")
    response = owner.patch(f"{BASE}/{pid}/transactions/{created['id']}", {"coin": "eth"})
    assert response.status_code == 200, response.text
    assert response.json()["coin"]["coingecko_id"] == "ethereum"
    assert set(owner.holdings(pid)) == {"ethereum"}


def test_delete_a_transaction(owner: Owner, pid: int, db_session: Session) -> None:
    keep = owner.added(pid, "buy", "1")
    gone = owner.added(pid, "buy", "2")
    response = owner.delete(f"{BASE}/{pid}/transactions/{gone['id']}")
    assert response.status_code == 204
    assert_error(owner.get(f"{BASE}/{pid}/transactions/{gone['id']}"), 404, "not_found")
    assert [t["id"] for t in owner.transactions(pid)["items"]] == [keep["id"]]
    assert _count(db_session) == 1
    assert_error(owner.delete(f"{BASE}/{pid}/transactions/{gone['id']}"), 404, "not_found")


def test_transactions_of_inactive_coins_can_still_be_recorded(
    owner: Owner, pid: int, factory: Factory
) -> None:
    factory.coin("old-coin", symbol="old", is_active=False)
    assert owner.add(pid, "buy", "1", coin="old-coin").status_code == 201
