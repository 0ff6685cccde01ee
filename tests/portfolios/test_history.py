"""The day-by-day history builder: UTC day boundaries, day-end prices, money in and out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cryptopredict.portfolios.history import PriceBook, build, day_end, days_between
from cryptopredict.portfolios.lots import CostBasisMethod, Entry, Ledger, replay
from cryptopredict.portfolios.models import TransactionKind

BUY, SELL = TransactionKind.BUY, TransactionKind.SELL
T_IN, T_OUT = TransactionKind.TRANSFER_IN, TransactionKind.TRANSFER_OUT
MIDNIGHT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BTC, ETH = 1, 2


def at(day: int, hour: float = 0.0) -> dt.datetime:
    """Day ``day`` of January 2024 at ``hour`` UTC."""
    return MIDNIGHT + dt.timedelta(days=day - 1, hours=hour)


def entry(
    tx: int,
    coin: int,
    kind: TransactionKind,
    q: str,
    p: str | None,
    when: dt.datetime,
    fee: str = "0",
) -> Entry:
    return Entry(tx, coin, kind, Decimal(q), None if p is None else Decimal(p), Decimal(fee), when)


# BTC closes at midnight: 1 Jan 100, 2 Jan 110, 3 Jan 120, ... (10 more a day).
PRICES = PriceBook({BTC: [(at(d), 90.0 + 10 * d) for d in range(1, 11)]})
JANUARY = days_between(dt.date(2024, 1, 1), dt.date(2024, 1, 6))


def test_a_day_ends_at_the_next_midnight_and_uses_that_close() -> None:
    assert day_end(dt.date(2024, 1, 1)) == at(2)
    entries = [entry(1, BTC, BUY, "2", "105", at(2, 10))]
    days = build(entries, Ledger(CostBasisMethod.FIFO), PRICES, JANUARY)
    # Nothing held on the 1st; on the 2nd, 2 BTC at the close stamped 3 January 00:00 (120).
    assert [d.value for d in days[:3]] == [Decimal(0), Decimal(240), Decimal(260)]
    assert (days[1].inflow, days[1].outflow, days[1].net_invested) == (
        Decimal(210),
        Decimal(0),
        Decimal(210),
    )
    assert days[2].inflow == 0


def test_a_transaction_at_midnight_belongs_to_the_day_it_starts() -> None:
    entries = [entry(1, BTC, BUY, "1", "100", at(3))]  # 3 January 00:00:00 exactly
    days = build(entries, Ledger(CostBasisMethod.FIFO), PRICES, JANUARY)
    assert [d.day for d in days if d.inflow] == [dt.date(2024, 1, 3)]
    assert days[1].value == 0 and days[2].value == Decimal(130)


def test_sales_take_out_their_proceeds_and_transfers_their_market_value() -> None:
    entries = [
        entry(1, BTC, BUY, "3", "100", at(1, 12), fee="1"),
        entry(2, BTC, SELL, "1", "125", at(2, 12), fee="2"),
        entry(3, BTC, T_OUT, "1", None, at(3, 6), fee="0.5"),  # market then: 120 (3 Jan close)
        entry(4, BTC, T_IN, "2", "50", at(4, 6)),  # market then: 130
    ]
    days = build(entries, Ledger(CostBasisMethod.FIFO), PRICES, JANUARY)
    flows = [(d.inflow, d.outflow) for d in days[:4]]
    D = Decimal
    assert flows == [(D(301), D(0)), (D(0), D(123)), (D("0.5"), D(120)), (D(260), D(0))]
    assert [d.value for d in days[:4]] == [Decimal(330), Decimal(240), Decimal(130), Decimal(420)]
    # Net invested is the lot engine's: the transfer out leaves at cost, the transfer in at its
    # stated cost.
    assert days[3].net_invested == replay(entries, CostBasisMethod.FIFO).net_invested


def test_a_coin_without_a_price_is_counted_not_valued() -> None:
    entries = [entry(1, BTC, BUY, "1", "100", at(1, 1)), entry(2, ETH, BUY, "5", "10", at(1, 2))]
    (first,) = build(entries, Ledger(CostBasisMethod.FIFO), PRICES, JANUARY[:1])
    assert (first.value, first.unpriced, first.net_invested) == (Decimal(110), 1, Decimal(150))


def test_building_from_a_ledger_replayed_to_the_day_before_gives_the_same_days() -> None:
    entries = [
        entry(1, BTC, BUY, "3", "100", at(1, 12)),
        entry(2, BTC, SELL, "1", "125", at(3, 12)),
        entry(3, BTC, BUY, "1", "90", at(5, 1)),
    ]
    full = build(entries, Ledger(CostBasisMethod.HIFO), PRICES, JANUARY)
    earlier = [e for e in entries if e.executed_at < at(3)]
    resumed = build(
        [e for e in entries if e.executed_at >= at(3)],
        replay(earlier, CostBasisMethod.HIFO),
        PRICES,
        JANUARY[2:],
    )
    assert resumed == full[2:]
