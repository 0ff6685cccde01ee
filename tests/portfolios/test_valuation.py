"""Valued holdings, the summary and realized disposals over HTTP: prices at an instant, every
cost-basis method on one ledger worked by hand (`test_lots`), and incomplete figures said."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from cryptopredict.coins.models import Cryptocurrency
from tests.factories import Factory
from tests.portfolios.helpers import BASE, Owner, assert_error

JAN_1 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
# BTC closes 1..31 January: 100, 101, ..., 130; ETH: 10, 11, ... A day's bar is stored under
# its start: its close is the price at the next midnight.
BTC_CLOSES = [100.0 + i for i in range(31)]
ETH_CLOSES = [10.0 + i for i in range(31)]


def day(n: int, hour: int = 12) -> str:
    """Noon on the n-th of January 2024."""
    return (JAN_1 + dt.timedelta(days=n - 1, hours=hour)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def priced(factory: Factory, bitcoin: Cryptocurrency, ethereum: Cryptocurrency) -> None:
    """Daily BTC and ETH prices for January 2024, at midnight UTC."""
    factory.daily_prices(bitcoin, BTC_CLOSES, start=JAN_1)
    factory.daily_prices(ethereum, ETH_CLOSES, start=JAN_1)


def summary(owner: Owner, pid: int, **params: Any) -> dict[str, Any]:
    response = owner.get(f"{BASE}/{pid}/summary", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def money(value: str | None) -> Decimal:
    assert value is not None
    return Decimal(value)


# The worked ledger of test_lots (coin A), on BTC: buys on the 2nd, 3rd and 4th, a sale on the
# 5th, a transfer out on the 6th, a buy on the 7th and a sale on the 8th.
WORKED = [
    ("buy", "10", "100", "10"),
    ("buy", "5", "200", "0"),
    ("buy", "5", "150", "5"),
    ("sell", "8", "300", "20"),
    ("transfer_out", "4", None, "1"),
    ("buy", "2", "50", "0"),
    ("sell", "3", "120", "0"),
]
# Per method: realized P&L, cost basis of the 7 BTC left, net invested (see test_lots).
EXPECTED = {
    "fifo": ("1331", "855", "-476"),
    "lifo": ("1183", "707", "-476"),
    "hifo": ("983", "605", "-378"),
    "average": ("1271.2", "844.2", "-427"),
}


@pytest.fixture
def worked(owner: Owner, priced: None) -> tuple[int, list[int]]:
    """A FIFO portfolio holding the worked ledger; returns its id and transaction ids."""
    pid: int = owner.create_portfolio()["id"]
    ids = []
    for n, (kind, quantity, price, fee) in enumerate(WORKED, start=2):
        ids.append(owner.added(pid, kind, quantity, price=price, fee=fee, at=day(n))["id"])
    return pid, ids


def test_a_new_portfolio_uses_fifo_and_says_so(owner: Owner) -> None:
    assert owner.create_portfolio()["cost_basis_method"] == "fifo"
    assert owner.create_portfolio("B", cost_basis_method="hifo")["cost_basis_method"] == "hifo"


def test_summary_values_the_holdings_at_the_price_of_the_instant(
    owner: Owner, worked: tuple[int, list[int]]
) -> None:
    pid, _ = worked
    at = day(20, hour=6)  # the newest price by then is 19 January's close (118), at midnight
    body = summary(owner, pid, at=at)
    (btc,) = body["holdings"]
    assert body["at"] == at and body["currency"] == "usd" and body["cost_basis_method"] == "fifo"
    assert (btc["quantity"], btc["price"]) == ("7", "118")
    assert btc["price_at"] == "2024-01-20T00:00:00Z" and btc["price_age_seconds"] == 6 * 3600
    assert btc["value"] == "826" and body["value"] == "826"
    realized, cost, invested = EXPECTED["fifo"]
    assert (body["realized_pnl"], body["cost_basis"], body["net_invested"]) == (
        realized,
        cost,
        invested,
    )
    assert body["unrealized_pnl"] == str(826 - 855) == btc["unrealized_pnl"]
    assert body["total_pnl"] == str(826 - 855 + 1331)
    # Realized plus unrealized is value less net invested.
    assert money(body["total_pnl"]) == money(body["value"]) - money(body["net_invested"])
    assert btc["allocation_percent"] == pytest.approx(100.0)
    assert btc["unrealized_pnl_percent"] == pytest.approx(-29 / 855 * 100)
    assert body["fees"] == "36" and body["warnings"] == []


@pytest.mark.parametrize("method", ["lifo", "hifo", "average"])
def test_changing_the_method_recomputes_every_figure(
    owner: Owner, worked: tuple[int, list[int]], method: str
) -> None:
    pid, _ = worked
    at = day(20, hour=6)
    assert summary(owner, pid, at=at)["realized_pnl"] == EXPECTED["fifo"][0]  # replay kept
    response = owner.patch(f"{BASE}/{pid}", {"cost_basis_method": method})
    assert response.status_code == 200 and response.json()["cost_basis_method"] == method
    for params in ({"at": at}, {}):
        body = summary(owner, pid, **params)
        assert body["cost_basis_method"] == method
        assert (body["realized_pnl"], body["cost_basis"], body["net_invested"]) == EXPECTED[method]


def test_a_new_transaction_shows_in_the_next_summary(
    owner: Owner, worked: tuple[int, list[int]]
) -> None:
    pid, _ = worked
    before = summary(owner, pid)
    owner.added(pid, "sell", "1", price="200", at=day(9))
    after = summary(owner, pid)
    assert (before["holdings"][0]["quantity"], after["holdings"][0]["quantity"]) == ("7", "6")
    # FIFO: the ninth sells one coin of the third buy, at 151: 49 realized.
    assert money(after["realized_pnl"]) - money(before["realized_pnl"]) == 49


def test_a_past_instant_sees_only_the_transactions_and_prices_up_to_it(
    owner: Owner, worked: tuple[int, list[int]]
) -> None:
    pid, _ = worked
    body = summary(owner, pid, at=day(5, hour=13))  # after the first sale, before the transfer
    (btc,) = body["holdings"]
    assert btc["quantity"] == "12" and btc["price"] == "103"  # 4 January's close
    assert body["realized_pnl"] == "1572" and body["value"] == str(12 * 103)
    before_any = summary(owner, pid, at=day(1))
    assert before_any["holdings"] == [] and before_any["value"] == "0"


def test_disposals_list_the_lots_each_consumed(owner: Owner, worked: tuple[int, list[int]]) -> None:
    pid, ids = worked
    response = owner.get(f"{BASE}/{pid}/disposals")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 3
    sale, transfer, last = page["items"]
    assert (sale["transaction_id"], sale["kind"], sale["proceeds"], sale["cost"]) == (
        ids[3],
        "sell",
        "2380",
        "808",
    )
    assert sale["realized_pnl"] == "1572" and sale["missing_basis"] is False
    assert [
        (lot["transaction_id"], lot["quantity"], lot["cost"], lot["unit_cost"])
        for lot in sale["lots"]
    ] == [(ids[0], "8", "808", "101")]
    assert transfer["proceeds"] is None and transfer["realized_pnl"] == "-1"
    assert [(lot["transaction_id"], lot["quantity"]) for lot in transfer["lots"]] == [
        (ids[0], "2"),
        (ids[1], "2"),
    ]
    assert last["lots"][0]["acquired_at"] == "2024-01-03T12:00:00Z"
    second = owner.get(f"{BASE}/{pid}/disposals", limit=1, offset=1).json()
    assert [d["transaction_id"] for d in second["items"]] == [ids[4]] and second["total"] == 3
    assert owner.get(f"{BASE}/{pid}/disposals", coin="eth").json()["total"] == 0
    assert owner.get(f"{BASE}/{pid}/disposals", coin="nosuchcoin").json()["total"] == 0


def test_a_coin_without_a_price_is_flagged_and_left_out_of_the_totals(
    owner: Owner, factory: Factory, priced: None
) -> None:
    factory.coin("obscure", symbol="obs", name="Obscure")
    pid: int = owner.create_portfolio()["id"]
    owner.added(pid, "buy", "2", price="100", at=day(2))
    owner.added(pid, "buy", "5", coin="obscure", price="3", at=day(2))
    body = summary(owner, pid, at=day(3, hour=1))
    held = {h["coin"]["coingecko_id"]: h for h in body["holdings"]}
    assert held["obscure"]["price"] is None and held["obscure"]["value"] is None
    assert held["obscure"]["unrealized_pnl"] is None and held["obscure"]["cost_basis"] == "15"
    assert held["obscure"]["allocation_percent"] is None
    assert body["value"] == "202" and body["cost_basis"] == "200"  # bitcoin only
    assert body["net_invested"] == "215"  # the money went in all the same
    (warning,) = body["warnings"]
    assert (warning["code"], warning["coin"]) == ("unpriced", "obscure")
    assert "left out of the totals" in warning["message"]


def test_an_old_price_is_used_with_a_warning(owner: Owner, worked: tuple[int, list[int]]) -> None:
    pid, _ = worked
    body = summary(owner, pid, at="2024-03-01T00:00:00Z")
    (btc,) = body["holdings"]
    assert btc["price"] == "130" and btc["price_at"] == "2024-02-01T00:00:00Z"
    assert [w["code"] for w in body["warnings"]] == ["stale_price"]
    assert "price of 2024-02-01 00:00 UTC" in body["warnings"][0]["message"]


def test_a_transfer_in_without_a_cost_is_reported_never_zero(owner: Owner, priced: None) -> None:
    pid: int = owner.create_portfolio()["id"]
    owner.added(pid, "buy", "1", price="100", at=day(2))
    owner.added(pid, "transfer_in", "1", price=None, at=day(3))
    body = summary(owner, pid, at=day(4, hour=1))
    (btc,) = body["holdings"]
    assert (btc["quantity"], btc["value"]) == ("2", str(2 * 102))
    assert btc["cost_basis"] is None and btc["average_cost"] is None
    assert (btc["known_cost_basis"], btc["missing_basis_quantity"]) == ("100", "1")
    assert btc["unrealized_pnl"] == "2"  # the coin with a known cost only
    assert body["net_invested"] == "100"
    (warning,) = body["warnings"]
    assert warning["code"] == "missing_basis" and "1 BTC held" in warning["message"]
    # FIFO sells the bought coin first: its gain is known; then the one without a cost.
    owner.added(pid, "sell", "1", price="110", at=day(5))
    owner.added(pid, "sell", "1", price="120", at=day(6))
    page = owner.get(f"{BASE}/{pid}/disposals").json()
    first, second = page["items"]
    assert (first["realized_pnl"], first["missing_basis"]) == ("10", False)
    assert (second["realized_pnl"], second["cost"], second["missing_basis"]) == (None, None, True)
    assert second["lots"][0]["cost"] is None and second["lots"][0]["unit_cost"] is None
    closed = summary(owner, pid, at=day(7))
    assert closed["realized_pnl"] == "10" and closed["holdings"] == []
    assert [w["code"] for w in closed["warnings"]] == ["missing_basis"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"at": "2999-01-01T00:00:00Z"}, "at"),
        ({"at": "2024-01-05T00:00:00"}, "at"),  # no timezone
        ({"at": "yesterday"}, "at"),
    ],
)
def test_a_bad_instant_is_a_clear_422(
    owner: Owner, worked: tuple[int, list[int]], params: dict[str, str], field: str
) -> None:
    pid, _ = worked
    for route in ("summary", "holdings"):
        error = assert_error(owner.get(f"{BASE}/{pid}/{route}", **params), 422, "validation_error")
        assert any(d["loc"][-1] == field for d in error["details"])


@pytest.mark.parametrize("method", ["fifo2", None, 3])
def test_an_unknown_method_is_refused_and_changes_nothing(
    owner: Owner, worked: tuple[int, list[int]], method: object
) -> None:
    pid, _ = worked
    assert_error(
        owner.patch(f"{BASE}/{pid}", {"cost_basis_method": method}), 422, "validation_error"
    )
    assert owner.get(f"{BASE}/{pid}").json()["cost_basis_method"] == "fifo"


def test_the_price_of_the_latest_instant_wins_whatever_the_series(
    owner: Owner, factory: Factory, bitcoin: Cryptocurrency, worked: tuple[int, list[int]]
) -> None:
    """A five-minute series that stopped on 30 January loses to the daily bar that ended on
    1 February; at an instant inside 30 January's last hours the five-minute price wins."""
    pid, _ = worked
    stalled = dt.datetime(2024, 1, 30, 18, tzinfo=dt.UTC)
    factory.daily_prices(
        bitcoin, [999.0], start=stalled, interval="5m", step=dt.timedelta(minutes=5)
    )
    (late,) = summary(owner, pid, at="2024-02-01T06:00:00Z")["holdings"]
    assert (late["price"], late["price_at"]) == ("130", "2024-02-01T00:00:00Z")
    (evening,) = summary(owner, pid, at="2024-01-30T20:00:00Z")["holdings"]
    assert (evening["price"], evening["price_at"]) == ("999", "2024-01-30T18:05:00Z")
