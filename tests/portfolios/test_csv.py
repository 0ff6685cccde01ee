"""CSV import (dry run, all or nothing, line-numbered errors, duplicates) and the exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.portfolios.models import Portfolio
from tests.portfolios.helpers import BASE, Owner, assert_error

HEADER = "executed_at,coin,kind,quantity,price,fee,note\n"
GOOD = HEADER + (
    "2024-01-02T10:00:00Z,bitcoin,buy,2,100,1,first\n"
    "2024-01-03,eth,buy,10,20,,\n"  # a bare date: midnight UTC
    "2024-01-04T09:00:00+01:00,btc,sell,0.5,150,0.5,\n"
    "2024-01-05T00:00:00Z,bitcoin,transfer_in,1,,,from my wallet\n"
)


@pytest.fixture
def pid(owner: Owner, bitcoin: Cryptocurrency, ethereum: Cryptocurrency) -> int:
    portfolio_id: int = owner.create_portfolio()["id"]
    return portfolio_id


def post_csv(owner: Owner, pid: int, text: str | bytes, **params: str) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    response: httpx.Response = owner.client.post(
        f"{BASE}/{pid}/import",
        content=body,
        params=params,
        headers={**owner.headers, "Content-Type": "text/csv"},
    )
    return response


def imported(owner: Owner, pid: int, text: str, **params: str) -> dict[str, Any]:
    response = post_csv(owner, pid, text, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_dry_run_shows_what_would_change_and_writes_nothing(owner: Owner, pid: int) -> None:
    body = imported(owner, pid, GOOD, dry_run="true")
    assert body["dry_run"] is True and body["lines"] == 4 and body["created"] == 4
    assert [t["line"] for t in body["transactions"]] == [2, 3, 4, 5]
    eth = body["transactions"][1]
    assert (
        eth["executed_at"] == "2024-01-03T00:00:00Z" and eth["coin"]["coingecko_id"] == "ethereum"
    )
    assert body["transactions"][2]["executed_at"] == "2024-01-04T08:00:00Z"
    changes = {h["coin"]["coingecko_id"]: (h["before"], h["after"]) for h in body["holdings"]}
    assert changes == {"bitcoin": ("0", "2.5"), "ethereum": ("0", "10")}
    assert owner.transactions(pid)["total"] == 0


def test_an_import_records_every_line_and_the_export_reads_back(owner: Owner, pid: int) -> None:
    body = imported(owner, pid, GOOD)
    assert body["dry_run"] is False and body["created"] == 4
    assert owner.transactions(pid)["total"] == 4
    held = owner.holdings(pid)
    assert held["bitcoin"]["quantity"] == "2.5" and held["bitcoin"]["missing_basis_quantity"] == "1"
    exported = owner.get(f"{BASE}/{pid}/export/transactions.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    text = exported.text
    assert text.splitlines()[0] == HEADER.strip()
    assert "2024-01-04T08:00:00Z,bitcoin,sell,0.5,150,0.5," in text
    # The export imports into another portfolio unchanged, and exports the same again.
    other: int = owner.create_portfolio("Copy")["id"]
    assert imported(owner, other, text)["created"] == 4
    assert owner.get(f"{BASE}/{other}/export/transactions.csv").text == text
    # Into the same portfolio it is all duplicates: nothing recorded twice.
    again = imported(owner, pid, text)
    assert again["created"] == 0 and len(again["duplicates"]) == 4
    assert {d["transaction_id"] is not None for d in again["duplicates"]} == {True}
    assert owner.transactions(pid)["total"] == 4


def test_every_bad_line_is_reported_and_nothing_is_written(owner: Owner, pid: int) -> None:
    text = HEADER + (
        "2024-01-02T10:00:00Z,bitcoin,buy,2,100,,\n"  # fine
        "2024-01-03T10:00:00Z,nosuchcoin,buy,1,1,,\n"
        "2024-01-04T10:00:00Z,bitcoin,buy,-1,100,,\n"
        "2024-01-05T10:00:00Z,bitcoin,sell,1,,,\n"  # a sale without a price
        "2024-01-06T10:00:00,bitcoin,buy,1,100,,\n"  # no offset
        "2999-01-01T00:00:00Z,bitcoin,buy,1,100,,\n"
        "2024-01-08T10:00:00Z,bitcoin,swap,1,100,,\n"
        "2024-01-09T10:00:00Z,bitcoin,buy,1,1e3,,\n"
    )
    error = assert_error(post_csv(owner, pid, text), 422, "validation_error")
    found = {(d["line"], d["field"]) for d in error["details"]}
    assert found == {
        (3, "coin"),
        (4, "quantity"),
        (5, "price"),
        (6, "executed_at"),
        (7, "executed_at"),
        (8, "kind"),
        (9, "price"),
    }
    assert "first on line 3" in error["message"]
    assert owner.transactions(pid)["total"] == 0


def test_a_removal_beyond_what_was_held_refuses_the_file(owner: Owner, pid: int) -> None:
    owner.added(pid, "buy", "1", price="100", at="2024-01-01T00:00:00Z")
    text = HEADER + (
        "2024-01-10T00:00:00Z,bitcoin,buy,1,100,,\n"
        "2024-01-05T00:00:00Z,bitcoin,sell,1.5,100,,\n"  # before the buy above: only 1 held
    )
    error = assert_error(post_csv(owner, pid, text), 422, "validation_error")
    (detail,) = error["details"]
    assert detail["line"] == 3 and "only 1 is held" in detail["msg"]
    assert owner.transactions(pid)["total"] == 1


def test_repeated_lines_are_left_out_and_listed(owner: Owner, pid: int) -> None:
    line = "2024-01-02T10:00:00Z,bitcoin,buy,2,100,1,\n"
    body = imported(owner, pid, HEADER + line + line + line.replace(",2,", ",3,"))
    assert body["created"] == 2
    assert body["duplicates"] == [{"line": 3, "transaction_id": None, "same_as_line": 2}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Field required"),  # no body at all
        ("\n\n", "empty"),
        ("coin,kind,quantity\nbitcoin,buy,1\n", "Missing column 'executed_at'"),
        (HEADER.strip() + ",colour\n", "Unknown column 'colour'"),
        (HEADER + "2024-01-02T10:00:00Z,bitcoin,buy,2,100,1,a,extra\n", "More cells than columns"),
    ],
)
def test_an_unreadable_file_is_a_clear_422(owner: Owner, pid: int, text: str, message: str) -> None:
    error = assert_error(post_csv(owner, pid, text), 422, "validation_error")
    assert any(message in d["msg"] for d in error["details"])


def test_a_file_that_is_not_utf8_is_refused(owner: Owner, pid: int) -> None:
    error = assert_error(post_csv(owner, pid, b"executed_at\xff\n"), 422, "validation_error")
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize(
    "note", ['=HYPERLINK("http://evil.example","x")', "@SUM(A1)", "-2+3", "'=already quoted"]
)
def test_notes_that_look_like_formulas_are_escaped_and_read_back(
    owner: Owner, pid: int, note: str
) -> None:
    owner.added(pid, "buy", "1", price="100", note=note)
    text = owner.get(f"{BASE}/{pid}/export/transactions.csv").text
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["note"] == "'" + note
    other: int = owner.create_portfolio("Other")["id"]
    assert imported(owner, other, text)["transactions"][0]["note"] == note


def test_a_file_with_nothing_new_changes_nothing(
    owner: Owner, pid: int, db_session: Session
) -> None:
    imported(owner, pid, GOOD)
    db_session.expire_all()
    version = db_session.get(Portfolio, pid).ledger_version  # type: ignore[union-attr]
    for text in (HEADER, GOOD):  # no lines, then only lines already recorded
        assert imported(owner, pid, text)["created"] == 0
    db_session.expire_all()
    assert db_session.get(Portfolio, pid).ledger_version == version  # type: ignore[union-attr]


def test_the_pnl_report_lists_each_lot_a_sale_consumed(owner: Owner, pid: int) -> None:
    imported(
        owner,
        pid,
        HEADER
        + "2024-01-01T00:00:00Z,bitcoin,buy,10,100,10,\n"
        + "2024-01-02T00:00:00Z,bitcoin,buy,5,200,,\n"
        + "2024-01-04T00:00:00Z,bitcoin,sell,12,300,20,\n",
    )
    rows = list(csv.DictReader(io.StringIO(owner.get(f"{BASE}/{pid}/export/pnl.csv").text)))
    assert [(r["lot_quantity"], r["lot_cost"]) for r in rows] == [("10", "1010"), ("2", "400")]
    first = rows[0]
    assert (first["proceeds"], first["cost"], first["realized_pnl"]) == ("3580", "1410", "2170")
    assert first["cost_basis_method"] == "fifo" and first["coin"] == "bitcoin"
    owner.patch(f"{BASE}/{pid}", {"cost_basis_method": "lifo"})
    lifo = list(csv.DictReader(io.StringIO(owner.get(f"{BASE}/{pid}/export/pnl.csv").text)))
    assert [(r["lot_quantity"], r["lot_cost"]) for r in lifo] == [("5", "1000"), ("7", "707")]
