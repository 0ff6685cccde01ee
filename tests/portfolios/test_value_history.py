"""The stored daily history (built by the task, marked stale by writes, caught up inline when
short) and the performance figures over HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import pyxirr
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.database import utcnow
from cryptopredict.portfolios import service, value_history
from cryptopredict.portfolios.models import Portfolio
from tests.factories import Factory
from tests.portfolios.helpers import BASE, Owner, assert_error

JAN_1 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def iso(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def get(owner: Owner, pid: int, route: str, **params: Any) -> dict[str, Any]:
    response = owner.get(f"{BASE}/{pid}/{route}", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def run_task(session: Session) -> dict[str, Any]:
    """What the `update_portfolio_history` task does, today."""
    session.expire_all()
    return service.update_history(session=session, today=utcnow().date())


@pytest.fixture
def january(owner: Owner, factory: Factory, bitcoin: Cryptocurrency) -> int:
    """BTC closes 100, 101, ... over January 2024; 2 BTC bought on the 2nd at 150."""
    factory.daily_prices(bitcoin, [100.0 + i for i in range(31)], start=JAN_1)
    pid: int = owner.create_portfolio()["id"]
    owner.added(pid, "buy", "2", price="150", at=iso(JAN_1 + dt.timedelta(days=1, hours=9)))
    return pid


def test_the_task_stores_every_day_from_the_first_transaction_to_yesterday(
    owner: Owner, january: int, db_session: Session
) -> None:
    pending = get(owner, january, "history")
    assert pending["pending_from"] == "2024-01-02" and pending["days"] == []  # years behind
    summary = run_task(db_session)
    assert summary["updated"] == 1
    yesterday = utcnow().date() - dt.timedelta(days=1)
    body = get(owner, january, "history")
    assert body["pending_from"] is None and body["stored_through"] == yesterday.isoformat()
    days = body["days"]
    assert days[0]["day"] == "2024-01-02" and days[-1]["day"] == yesterday.isoformat()
    assert len(days) == (yesterday - dt.date(2024, 1, 2)).days + 1
    # The 2nd ends at its own close (101, the bar stamped 2 January 00:00: a bar's close is
    # the price at its end); the money came in that day.
    first = days[0]
    assert (first["value"], first["inflow"], first["net_invested"]) == ("202", "300", "300")
    assert first["cumulative_gain"] == "-98"
    # After the last stored price every day keeps the 31 January close (130).
    assert days[-1]["value"] == "260" and days[-1]["inflow"] == "0"
    # Today is valued live, from the newest price.
    assert body["today"]["day"] == utcnow().date().isoformat()
    assert body["today"]["value"] == "260"
    window = get(owner, january, "history", start="2024-01-05", end="2024-01-06")
    assert [d["day"] for d in window["days"]] == ["2024-01-05", "2024-01-06"]
    assert window["today"] is None
    assert run_task(db_session)["due"] == 0  # nothing left to do


def test_a_transaction_marks_its_day_and_the_task_rebuilds_from_there(
    owner: Owner, january: int, db_session: Session
) -> None:
    run_task(db_session)
    before = {d["day"]: d for d in get(owner, january, "history", end="2024-01-31")["days"]}
    owner.added(january, "sell", "1", price="120", at=iso(JAN_1 + dt.timedelta(days=9, hours=3)))
    stale = get(owner, january, "history", end="2024-01-31")
    assert stale["pending_from"] == "2024-01-10"
    run_task(db_session)
    after = {d["day"]: d for d in get(owner, january, "history", end="2024-01-31")["days"]}
    assert after["2024-01-09"] == before["2024-01-09"]
    assert after["2024-01-10"]["outflow"] == "120" and after["2024-01-10"]["value"] == "109"
    assert after["2024-01-31"]["value"] == "130"


def test_changing_the_method_rebuilds_the_whole_history(
    owner: Owner, january: int, db_session: Session
) -> None:
    owner.added(january, "buy", "1", price="50", at=iso(JAN_1 + dt.timedelta(days=2)))
    owner.added(january, "transfer_out", "1", price=None, at=iso(JAN_1 + dt.timedelta(days=3)))
    run_task(db_session)
    fifo = get(owner, january, "history", start="2024-01-04", end="2024-01-04")["days"][0]
    assert fifo["net_invested"] == "200"  # 350 in, one coin at 150 out at cost
    owner.patch(f"{BASE}/{january}", {"cost_basis_method": "lifo"})
    assert get(owner, january, "history", end="2024-01-04")["pending_from"] == "2024-01-02"
    run_task(db_session)
    lifo = get(owner, january, "history", start="2024-01-04", end="2024-01-04")["days"][0]
    assert lifo["net_invested"] == "300"  # the coin bought at 50 leaves instead


def test_a_short_gap_is_caught_up_by_the_request(
    owner: Owner, factory: Factory, bitcoin: Cryptocurrency, db_session: Session
) -> None:
    today = utcnow().date()
    start = dt.datetime.combine(today - dt.timedelta(days=10), dt.time(), tzinfo=dt.UTC)
    factory.daily_prices(bitcoin, [200.0 + 5 * i for i in range(11)], start=start)
    pid: int = owner.create_portfolio()["id"]
    owner.added(pid, "buy", "1", price="200", at=iso(start + dt.timedelta(hours=1)))
    body = get(owner, pid, "history")
    assert body["pending_from"] is None
    assert len(body["days"]) == 10 and body["days"][0]["value"] == "200"
    db_session.expire_all()
    stored = db_session.get(Portfolio, pid)
    assert stored is not None and stored.history_through == today - dt.timedelta(days=1)


@pytest.fixture
def recent(owner: Owner, factory: Factory, bitcoin: Cryptocurrency) -> tuple[int, list[float]]:
    """40 daily BTC bars, the newest stamped today (a bar's close is the price at its end); 1
    BTC bought 30 days ago and 2 more 10 days ago, each at the price known then, the close of
    the day before (so the holdings' return is the price's)."""
    today = utcnow().date()
    first = dt.datetime.combine(today - dt.timedelta(days=39), dt.time(), tzinfo=dt.UTC)
    closes = [100.0 * (1.0 + 0.01 * ((i % 7) - 3)) + i for i in range(40)]
    factory.daily_prices(bitcoin, closes, start=first)
    pid: int = owner.create_portfolio()["id"]
    for days_ago, quantity in ((30, "1"), (10, "2")):
        index = 39 - days_ago
        at = first + dt.timedelta(days=index, hours=6)
        owner.added(pid, "buy", quantity, price=repr(closes[index - 1]), at=iso(at))
    return pid, closes


def test_twr_of_a_held_coin_is_its_price_return(
    owner: Owner, recent: tuple[int, list[float]], db_session: Session
) -> None:
    pid, closes = recent
    run_task(db_session)
    body = get(owner, pid, "performance", range="7D", benchmarks="bitcoin,btc")
    assert body["days"] == 7 and body["range"] == "7D"
    (benchmark,) = body["benchmarks"]  # bitcoin and btc are one coin
    assert benchmark["coin"]["coingecko_id"] == "bitcoin"
    # The window starts from the end of the day before its first: the close of 7 days ago.
    assert body["twr"] == pytest.approx(closes[-1] / closes[-8] - 1.0, rel=1e-12)
    assert body["twr"] == pytest.approx(benchmark["total_return"], rel=1e-12)
    assert body["max_drawdown"] == pytest.approx(benchmark["max_drawdown"], abs=1e-12)
    assert body["volatility"] == pytest.approx(benchmark["volatility"], rel=1e-9)
    assert Decimal(body["start_value"]) == 3 * Decimal(repr(closes[-8]))
    assert Decimal(body["end_value"]) == 3 * Decimal(repr(closes[-1]))
    assert Decimal(body["absolute_gain"]) == Decimal(body["end_value"]) - Decimal(
        body["start_value"]
    ) - Decimal(body["net_invested"])
    assert set(body["definitions"]) >= {"twr", "mwr_annualized", "max_drawdown", "volatility"}
    # Day by day, the portfolio's wealth index follows the coin's price.
    assert len(body["series_days"]) == len(body["growth"]) == len(benchmark["growth"]) == 7
    assert body["series_days"][-1] == utcnow().date().isoformat()
    assert body["growth"] == pytest.approx(benchmark["growth"], rel=1e-12)
    assert body["growth"][-1] - 1 == pytest.approx(body["twr"], rel=1e-12)
    # Over the whole history the money came in twice: TWR is still the price's return.
    everything = get(owner, pid, "performance", range="ALL")
    assert everything["twr"] == pytest.approx(closes[-1] / closes[8] - 1.0, rel=1e-12)
    assert Decimal(everything["inflow"]) == Decimal(repr(closes[8])) + 2 * Decimal(repr(closes[28]))


def test_money_weighted_return_agrees_with_pyxirr(
    owner: Owner, recent: tuple[int, list[float]], db_session: Session
) -> None:
    pid, closes = recent
    run_task(db_session)
    today = utcnow().date()
    first, yesterday = today - dt.timedelta(days=30), today - dt.timedelta(days=1)
    # A window of whole days, so every flow falls on a midnight as pyxirr's dates do.
    body = get(
        owner,
        pid,
        "performance",
        range="custom",
        start=first.isoformat(),
        end=yesterday.isoformat(),
    )
    assert body["end"] == yesterday.isoformat() and body["days"] == 30
    dates = [first, today - dt.timedelta(days=10), today]
    amounts = [-closes[8], -2 * closes[28], float(body["end_value"])]
    assert Decimal(body["end_value"]) == 3 * Decimal(repr(closes[-2]))
    expected = pyxirr.xirr(dates, amounts)
    assert expected is not None
    assert body["mwr_annualized"] == pytest.approx(expected, rel=1e-6)
    assert body["mwr_period"] == pytest.approx((1 + expected) ** (30 / 365) - 1, rel=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        {"range": "custom"},  # no start
        {"range": "custom", "start": "2024-02-02", "end": "2024-02-01"},
        {"range": "7D", "start": "2024-01-01"},
        {"range": "2W"},
        {"benchmarks": "nosuchcoin"},
        {"benchmarks": ",".join(f"c{i}" for i in range(11))},
        {"range": "custom", "start": "2024-13-01"},
        {"range": "custom", "start": "2099-01-01", "end": "2099-01-02"},  # in the future
    ],
)
def test_bad_performance_requests_are_clear_422s(
    owner: Owner, january: int, params: dict[str, str]
) -> None:
    assert_error(owner.get(f"{BASE}/{january}/performance", **params), 422, "validation_error")


def test_bad_history_windows_are_clear_422s(owner: Owner, january: int) -> None:
    assert_error(
        owner.get(f"{BASE}/{january}/history", start="2024-02-01", end="2024-01-01"),
        422,
        "validation_error",
    )
    assert_error(owner.get(f"{BASE}/{january}/history", start="yesterday"), 422, "validation_error")


def test_an_empty_portfolio_has_no_history_and_no_returns(owner: Owner) -> None:
    pid: int = owner.create_portfolio()["id"]
    assert get(owner, pid, "history") == {
        "portfolio_id": pid,
        "currency": "usd",
        "cost_basis_method": "fifo",
        "days": [],
        "today": None,
        "stored_through": None,
        "pending_from": None,
    }
    body = get(owner, pid, "performance", range="30D")
    assert body["twr"] is None and body["mwr_annualized"] is None and body["end_value"] == "0"


def test_an_update_resumed_from_kept_lots_equals_a_full_rebuild(
    owner: Owner, recent: tuple[int, list[float]], db_session: Session
) -> None:
    pid, closes = recent
    run_task(db_session)  # keeps the lots at the start of the refresh window
    yesterday = utcnow().date() - dt.timedelta(days=1)
    evening = dt.datetime.combine(yesterday, dt.time(18), tzinfo=dt.UTC)
    owner.added(pid, "sell", "1.5", price=repr(closes[-3]), at=iso(evening))
    run_task(db_session)  # resumes from the kept lots
    resumed = get(owner, pid, "history")["days"]
    assert resumed[-1]["outflow"] != "0"
    value_history._snapshots.clear()
    service.mark_history_stale(session=db_session, since=dt.date(2009, 1, 3))
    run_task(db_session)  # replays everything
    assert get(owner, pid, "history")["days"] == resumed


def test_a_history_of_very_large_amounts_is_stored_exactly(
    owner: Owner, factory: Factory, bitcoin: Cryptocurrency, db_session: Session
) -> None:
    """Amounts of 20 whole digits and more (a billion coins at a trillion dollars) are summed
    and stored whole, not rounded nor refused."""
    factory.daily_prices(bitcoin, [1e12, 1e12], start=JAN_1)
    pid: int = owner.create_portfolio()["id"]
    owner.added(pid, "buy", "1000000000.000000000000000001", price="1000000000000", at=iso(JAN_1))
    assert run_task(db_session)["updated"] == 1
    first = get(owner, pid, "history", start="2024-01-01", end="2024-01-01")["days"][0]
    assert first["value"] == "1000000000000000000000.000001"  # 1e21, and 1e-18 coin: 1e-6
    assert first["inflow"] == "1000000000000000000000.000001"


def test_the_period_return_runs_from_the_first_money_in_and_never_overflows(
    owner: Owner, factory: Factory, bitcoin: Cryptocurrency, db_session: Session
) -> None:
    """A buy three days ago now worth ten times as much: a rate per year too large for a
    float, but over the days the money was in, simply +900 %."""
    today = utcnow().date()
    first = dt.datetime.combine(today - dt.timedelta(days=5), dt.time(), tzinfo=dt.UTC)
    factory.daily_prices(bitcoin, [100.0, 100.0, 100.0, 1000.0, 1000.0, 1000.0], start=first)
    pid: int = owner.create_portfolio()["id"]
    bought = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(), tzinfo=dt.UTC)
    owner.added(pid, "buy", "1", price="100", at=iso(bought))
    five_years = (today - dt.timedelta(days=5 * 365)).isoformat()
    body = get(owner, pid, "performance", range="custom", start=five_years)
    assert body["mwr_annualized"] > 1e100
    assert body["mwr_period"] == pytest.approx(9.0, rel=1e-9)
    assert body["absolute_gain"] == "900"


def test_one_portfolio_failing_leaves_the_others_updated(
    owner: Owner, january: int, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    other: int = owner.create_portfolio("Other")["id"]
    owner.added(other, "buy", "1", price="100", at=iso(JAN_1 + dt.timedelta(days=3)))
    real = value_history._resume

    def broken(session: Session, portfolio: Portfolio, first: dt.date) -> Any:
        if portfolio.id == january:
            raise RuntimeError("a ledger that cannot be replayed")
        return real(session, portfolio, first)

    monkeypatch.setattr(value_history, "_resume", broken)
    summary = run_task(db_session)
    assert (summary["failed"], summary["updated"]) == (1, 1)
    assert get(owner, other, "history")["stored_through"] is not None
    # The failing one stays due, and its reads say so instead of failing.
    assert get(owner, january, "history")["pending_from"] == "2024-01-02"


def test_lots_kept_by_another_process_are_not_resumed_after_an_earlier_write(
    owner: Owner, recent: tuple[int, list[float]], db_session: Session
) -> None:
    """Process A keeps the lots of the refresh window; a back-dated write and a rebuild
    happen elsewhere; A must not resume from its old lots afterwards."""
    pid, closes = recent
    run_task(db_session)
    process_a = dict(value_history._snapshots)
    owner.added(pid, "sell", "1", price="100", at=iso(utcnow() - dt.timedelta(days=20)))
    run_task(db_session)  # "process B" rebuilds from 20 days ago and keeps new lots
    value_history._snapshots.clear()
    value_history._snapshots.update(process_a)  # back in process A's memory
    yesterday = utcnow().date() - dt.timedelta(days=1)
    evening = dt.datetime.combine(yesterday, dt.time(20), tzinfo=dt.UTC)
    owner.added(pid, "buy", "0.5", price=repr(closes[-3]), at=iso(evening))
    run_task(db_session)
    resumed = get(owner, pid, "history")["days"]
    value_history._snapshots.clear()
    service.mark_history_stale(session=db_session, since=dt.date(2009, 1, 3))
    run_task(db_session)
    assert get(owner, pid, "history")["days"] == resumed


def test_days_before_the_first_transaction_are_dropped_when_it_moves_or_goes(
    owner: Owner, january: int, db_session: Session
) -> None:
    run_task(db_session)
    (buy,) = owner.transactions(january)["items"]
    later = iso(JAN_1 + dt.timedelta(days=9))
    assert (
        owner.patch(
            f"{BASE}/{january}/transactions/{buy['id']}", {"executed_at": later}
        ).status_code
        == 200
    )
    run_task(db_session)
    days = get(owner, january, "history", end="2024-01-31")["days"]
    assert days[0]["day"] == "2024-01-10"
    everything = get(owner, january, "performance", range="ALL")
    assert everything["start"] == "2024-01-10" and everything["start_value"] == "0"
    assert owner.delete(f"{BASE}/{january}/transactions/{buy['id']}").status_code == 204
    body = get(owner, january, "history")  # caught up by the request: nothing left
    assert body["days"] == [] and body["stored_through"] is None


def test_new_prices_of_a_coin_mark_only_the_portfolios_that_held_it(
    owner: Owner, january: int, ethereum: Cryptocurrency, db_session: Session
) -> None:
    other: int = owner.create_portfolio("Ether only")["id"]
    owner.added(other, "buy", "1", coin="eth", price="10", at=iso(JAN_1))
    run_task(db_session)
    bitcoin_id = owner.transactions(january)["items"][0]["coin"]["id"]
    marked = service.mark_history_stale(
        session=db_session, since_by_coin={bitcoin_id: dt.date(2024, 1, 20)}
    )
    assert marked == 1
    assert get(owner, january, "history", end="2024-01-31")["pending_from"] == "2024-01-20"
    assert get(owner, other, "history", end="2024-01-31")["pending_from"] is None


def test_a_price_mark_made_while_an_update_runs_is_kept(
    owner: Owner, january: int, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_task(db_session)
    owner.added(january, "buy", "1", price="110", at=iso(JAN_1 + dt.timedelta(days=20)))
    real = value_history.price_book
    bitcoin_id = owner.transactions(january)["items"][0]["coin"]["id"]

    def with_a_sync(session: Session, *args: Any) -> Any:
        book = real(session, *args)  # the update has read its prices; a sync then lands
        service.mark_history_stale(
            session=session, since_by_coin={bitcoin_id: dt.date(2024, 1, 25)}
        )
        return book

    monkeypatch.setattr(value_history, "price_book", with_a_sync)
    run_task(db_session)
    monkeypatch.setattr(value_history, "price_book", real)
    assert get(owner, january, "history", end="2024-01-31")["pending_from"] == "2024-01-21"
    run_task(db_session)
    assert get(owner, january, "history", end="2024-01-31")["pending_from"] is None
