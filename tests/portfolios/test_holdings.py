"""Holdings: quantity per coin and average-cost basis, replayed exactly from transactions
(the other methods are checked in `test_lots` and `test_valuation`)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest

from cryptopredict.coins.models import Cryptocurrency
from tests.portfolios.helpers import Owner

JAN, FEB, MAR, APR = (f"2024-0{m}-01T00:00:00Z" for m in (1, 2, 3, 4))


@pytest.fixture
def pid(owner: Owner, bitcoin: Cryptocurrency, ethereum: Cryptocurrency) -> int:
    """An empty average-cost portfolio of the owner; BTC and ETH exist."""
    portfolio_id: int = owner.create_portfolio(cost_basis_method="average")["id"]
    return portfolio_id


def _at_18_places(value: Fraction) -> Decimal:
    """Round independently of the service: Decimal division with a wide context."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN)


def test_empty_portfolio_has_no_holdings(owner: Owner, pid: int) -> None:
    assert owner.holdings(pid) == {}


def test_quantities_add_up_exactly(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "0.1", price="10", at=JAN)
    owner.added(pid, "buy", "0.2", price="10", at=FEB)
    btc = owner.holdings(pid)["bitcoin"]
    assert Decimal(btc["quantity"]) == Decimal("0.3")
    assert btc["quantity"] == "0.3"
    assert Decimal(btc["cost_basis"]) == Decimal("3")
    assert Decimal(btc["average_cost"]) == Decimal("10")
    assert btc["transactions"] == 2


def test_average_cost_includes_buy_fees_and_survives_sells(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", price="100", fee="1", at=JAN)
    owner.added(pid, "buy", "2", price="130", fee="2", at=FEB)
    owner.added(pid, "sell", "1.2", price="500", fee="9", at=MAR)
    paid = Fraction(1 * 100 + 1) + Fraction(2 * 130 + 2)  # 363 for 3 coins
    remaining = Fraction(3) - Fraction(12, 10)
    expected_cost = paid * remaining / 3  # the sell removes its share at the average
    btc = owner.holdings(pid)["bitcoin"]
    assert Decimal(btc["quantity"]) == Decimal("1.8")
    assert Decimal(btc["cost_basis"]) == _at_18_places(expected_cost)
    assert Decimal(btc["average_cost"]) == _at_18_places(paid / 3)  # unchanged by the sell
    assert btc["average_cost"] == "121"


def test_non_terminating_average_is_rounded_to_18_places(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", price="10", at=JAN)
    owner.added(pid, "buy", "2", price="20", at=FEB)
    btc = owner.holdings(pid)["bitcoin"]
    assert btc["cost_basis"] == "50"
    assert btc["average_cost"] == "16.666666666666666667"


def test_holdings_follow_time_order_not_insertion_order(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", price="300", at=MAR)
    owner.added(pid, "buy", "1", price="100", at=JAN)
    owner.added(pid, "sell", "1", price="1", at=FEB)  # sells the January coin at its cost
    btc = owner.holdings(pid)["bitcoin"]
    assert btc["quantity"] == "1"
    assert btc["cost_basis"] == "300"  # the position was empty before the March buy


def test_one_entry_per_coin(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1.5", price="100", at=JAN)
    owner.added(pid, "buy", "20", coin="eth", price="5", at=FEB)
    owner.added(pid, "transfer_out", "5", coin="eth", price=None, at=MAR)
    held = owner.holdings(pid)
    assert [h["quantity"] for h in held.values()] == ["1.5", "15"]
    assert held["ethereum"]["cost_basis"] == "75"
    assert held["ethereum"]["coin"]["symbol"] == "eth"


def test_unpriced_transfer_in_makes_cost_unknown_not_zero(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", price="100", at=JAN)
    owner.added(pid, "transfer_in", "1", price=None, at=FEB)
    btc = owner.holdings(pid)["bitcoin"]
    assert btc["quantity"] == "2"
    assert btc["cost_basis"] is None and btc["average_cost"] is None
    # Once the position is closed, later buys have a known cost again.
    owner.added(pid, "sell", "2", price="150", at=MAR)
    owner.added(pid, "buy", "4", price="25", at=APR)
    btc = owner.holdings(pid)["bitcoin"]
    assert (btc["quantity"], btc["cost_basis"], btc["average_cost"]) == ("4", "100", "25")


def test_priced_transfer_in_counts_at_its_price(owner: Owner, pid: int) -> None:
    owner.added(pid, "transfer_in", "2", price="50", fee="0.5", at=JAN)
    btc = owner.holdings(pid)["bitcoin"]
    assert (btc["cost_basis"], btc["average_cost"]) == ("100.5", "50.25")


def test_closed_positions_only_on_request(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "0.7", at=JAN)
    owner.added(pid, "sell", "0.3", at=FEB)
    owner.added(pid, "sell", "0.4", at=MAR)
    assert owner.holdings(pid) == {}
    closed = owner.holdings(pid, include_closed="true")["bitcoin"]
    assert (closed["quantity"], closed["cost_basis"], closed["average_cost"]) == ("0", "0", None)
    assert closed["transactions"] == 3


def test_tiny_and_large_amounts_stay_exact(owner: Owner, pid: int) -> None:
    big = "98765432109876543210"  # 20 whole digits
    tiny = "0.000000000000000001"
    owner.added(pid, "buy", big, price="0", at=JAN)
    owner.added(pid, "buy", tiny, coin="eth", price="1", at=JAN)
    owner.added(pid, "buy", tiny, coin="eth", price="1", at=FEB)
    held = owner.holdings(pid)
    assert held["bitcoin"]["quantity"] == big
    assert held["ethereum"]["quantity"] == "0.000000000000000002"
    assert held["ethereum"]["average_cost"] == "1"
