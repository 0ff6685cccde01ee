"""The lot engine against ledgers worked by hand under every cost-basis method, and the
accounting identity on random ledgers."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptopredict.portfolios.lots import MONEY, CostBasisMethod, Entry, Ledger, replay
from cryptopredict.portfolios.models import TransactionKind

BUY, SELL = TransactionKind.BUY, TransactionKind.SELL
T_IN, T_OUT = TransactionKind.TRANSFER_IN, TransactionKind.TRANSFER_OUT
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
A, B = 1, 2


def entry(
    tx: int,
    coin: int,
    kind: TransactionKind,
    quantity: str,
    price: str | None,
    fee: str = "0",
) -> Entry:
    return Entry(
        tx,
        coin,
        kind,
        Decimal(quantity),
        None if price is None else Decimal(price),
        Decimal(fee),
        START + dt.timedelta(days=tx),
    )


# Coin A: three buys at different costs, a sale, a transfer out, a later buy, another sale.
COIN_A = [
    entry(1, A, BUY, "10", "100", "10"),  # lot 1: 1010, 101 each
    entry(2, A, BUY, "5", "200"),  # lot 2: 1000, 200 each
    entry(3, A, BUY, "5", "150", "5"),  # lot 3: 755, 151 each
    entry(4, A, SELL, "8", "300", "20"),  # proceeds 2380
    entry(5, A, T_OUT, "4", None, "1"),
    entry(6, A, BUY, "2", "50"),  # lot 6: 100, after the sale
    entry(7, A, SELL, "3", "120"),  # proceeds 360
]

# Per method: each disposal's (cost, realized, [(lot, quantity, cost)]), then what is left.
Uses = list[tuple[int, str, str]]
WORKED: dict[
    CostBasisMethod, tuple[list[tuple[str, str, Uses | None]], dict[str, str], Uses | None]
] = {
    CostBasisMethod.FIFO: (
        [
            ("808", "1572", [(1, "8", "808")]),
            ("602", "-1", [(1, "2", "202"), (2, "2", "400")]),
            ("600", "-240", [(2, "3", "600")]),
        ],
        {"realized": "1331", "cost": "855", "net_invested": "-476"},
        [(3, "5", "755"), (6, "2", "100")],
    ),
    CostBasisMethod.LIFO: (
        [
            ("1355", "1025", [(3, "5", "755"), (2, "3", "600")]),
            ("602", "-1", [(2, "2", "400"), (1, "2", "202")]),
            ("201", "159", [(6, "2", "100"), (1, "1", "101")]),
        ],
        {"realized": "1183", "cost": "707", "net_invested": "-476"},
        [(1, "7", "707")],
    ),
    CostBasisMethod.HIFO: (
        [
            ("1453", "927", [(2, "5", "1000"), (3, "3", "453")]),
            ("504", "-1", [(3, "2", "302"), (1, "2", "202")]),
            ("303", "57", [(1, "3", "303")]),
        ],
        {"realized": "983", "cost": "605", "net_invested": "-378"},
        [(1, "5", "505"), (6, "2", "100")],
    ),
    CostBasisMethod.AVERAGE: (
        [
            # 20 held at 2765: 138.25 each.
            ("1106", "1274", [(1, "4", "404"), (2, "2", "400"), (3, "2", "302")]),
            # 12 held at 1659: 138.25 each.
            ("553", "-1", None),
            # 8 left at 1106 plus the buy of 2 at 100: 10 at 120.6 each.
            ("361.8", "-1.8", None),
        ],
        {"realized": "1271.2", "cost": "844.2", "net_invested": "-427"},
        None,
    ),
}


@pytest.mark.parametrize("method", list(CostBasisMethod))
def test_a_worked_ledger_under_each_method(method: CostBasisMethod) -> None:
    disposals, totals, open_lots = WORKED[method]
    ledger = replay(COIN_A, method)
    assert len(ledger.disposals) == len(disposals)
    for disposal, (cost, realized, lots) in zip(ledger.disposals, disposals, strict=True):
        assert disposal.cost == Decimal(cost)
        assert disposal.realized == Decimal(realized)
        if lots is not None:
            assert [(u.transaction_id, u.quantity, u.cost) for u in disposal.lots] == [
                (tx, Decimal(q), Decimal(c)) for tx, q, c in lots
            ]
        assert sum(u.quantity for u in disposal.lots) == disposal.quantity
    position = ledger.positions[A]
    assert position.quantity == Decimal(7)
    assert position.realized == Decimal(totals["realized"])
    assert position.cost == Decimal(totals["cost"])
    assert ledger.net_invested == Decimal(totals["net_invested"])
    assert position.fees == Decimal(36)
    if open_lots is not None:
        assert [(lot.transaction_id, lot.quantity, lot.cost) for lot in position.open_lots] == [
            (tx, Decimal(q), Decimal(c)) for tx, q, c in open_lots
        ]


def test_the_sale_proceeds_are_net_of_the_fee_and_transfers_realize_only_their_fee() -> None:
    ledger = replay(COIN_A, CostBasisMethod.FIFO)
    sale, transfer, _ = ledger.disposals
    assert sale.proceeds == Decimal(2380)
    assert transfer.proceeds is None and transfer.realized == Decimal(-1)


COIN_B = [
    entry(8, B, T_IN, "1", None),  # a transfer in without its cost: a missing basis
    entry(9, B, T_IN, "2", "30", "1"),  # a transfer in with its stated cost: 61
    entry(10, B, SELL, "2", "40"),  # proceeds 80
]


@pytest.mark.parametrize(
    ("method", "cost", "realized", "known_realized", "left_missing"),
    [
        (CostBasisMethod.FIFO, None, None, "9.5", "0"),
        (CostBasisMethod.LIFO, "61", "19", "19", "1"),
        (CostBasisMethod.HIFO, "61", "19", "19", "1"),
    ],
)
def test_a_missing_basis_is_reported_never_taken_as_zero(
    method: CostBasisMethod,
    cost: str | None,
    realized: str | None,
    known_realized: str,
    left_missing: str,
) -> None:
    ledger = replay(COIN_B, method)
    assert ledger.missing_basis == [8]
    (sale,) = ledger.disposals
    assert sale.cost == (None if cost is None else Decimal(cost))
    assert sale.realized == (None if realized is None else Decimal(realized))
    assert sale.missing_basis is (cost is None)
    position = ledger.positions[B]
    assert position.realized == Decimal(known_realized)
    assert position.unknown_realized == (1 if cost is None else 0)
    assert position.missing_basis_quantity == Decimal(left_missing)
    # What is held with an unknown cost has no average cost.
    assert (position.average_cost is None) is (left_missing != "0")


def test_average_cost_takes_every_lot_pro_rata_including_a_missing_basis() -> None:
    ledger = replay(COIN_B, CostBasisMethod.AVERAGE)
    (sale,) = ledger.disposals
    assert sale.cost is None and sale.realized is None
    by_lot = {u.transaction_id: u for u in sale.lots}
    assert by_lot[8].cost is None
    # Two thirds of each lot, to the stored 18 places, adding up exactly to the 2 sold.
    assert by_lot[8].quantity + by_lot[9].quantity == Decimal(2)
    assert abs(by_lot[8].quantity * 3 - 2) < Decimal("1e-17")
    assert abs(by_lot[9].quantity * 3 - 4) < Decimal("1e-17")
    position = ledger.positions[B]
    # The known two thirds of the sale: 80 * 2/3 - 61 * 2/3.
    with localcontext(MONEY):
        assert abs(position.realized - Decimal(38) / 3) < Decimal("1e-15")


def test_removing_more_than_is_held_is_an_error() -> None:
    with pytest.raises(ValueError, match="only 1 is held"):
        replay([entry(1, A, BUY, "1", "10"), entry(2, A, SELL, "2", "10")], CostBasisMethod.FIFO)


# ---- the identity on random ledgers ----------------------------------------------------------

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2)
quantities = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(100_000), places=8)
fees = st.decimals(min_value=Decimal(0), max_value=Decimal(5), places=2)
shares = st.integers(min_value=1, max_value=7)  # a seventh to all of what is held
steps = st.tuples(st.sampled_from([BUY, SELL, T_IN, T_OUT]), st.sampled_from([A, B]), quantities,
                  amounts, fees, shares)  # fmt: skip


def random_ledger(
    draws: list[tuple[TransactionKind, int, Decimal, Decimal, Decimal, int]],
) -> list[Entry]:
    """Entries from draws, removals only of what is held (a share of it, cut to 8 places, or
    all of it), transfers in with a stated cost, and every coin sold out at the end."""
    held = {A: Decimal(0), B: Decimal(0)}
    entries: list[Entry] = []

    def record(
        kind: TransactionKind, coin: int, quantity: Decimal, price: Decimal | None, fee: Decimal
    ) -> None:
        held[coin] += quantity if kind.adds_holdings else -quantity
        n = len(entries) + 1
        entries.append(Entry(n, coin, kind, quantity, price, fee, START + dt.timedelta(hours=n)))

    for kind, coin, quantity, price, fee, share in draws:
        if not kind.adds_holdings:
            if held[coin] == 0:
                continue
            quantity = (held[coin] * share / 7).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
            quantity = quantity if 0 < quantity and share < 7 else held[coin]
        record(kind, coin, quantity, None if kind is T_OUT else price, fee)
    for coin in (A, B):
        if held[coin] > 0:
            record(SELL, coin, held[coin], Decimal(1), Decimal(0))
    return entries


def check_identity(ledger: Ledger, prices: dict[int, Decimal]) -> None:
    with localcontext(MONEY):
        value = sum(p.quantity * prices[c] for c, p in ledger.positions.items())
        unrealized = sum(p.quantity * prices[c] - p.cost for c, p in ledger.positions.items())
        gap = ledger.realized + unrealized - (value - ledger.net_invested)
    assert abs(gap) < Decimal("1e-60")


@settings(max_examples=60, deadline=None)
@given(draws=st.lists(steps, min_size=1, max_size=25), prices=st.tuples(amounts, amounts))
def test_realized_plus_unrealized_is_value_less_net_invested_after_every_entry(
    draws: list[tuple[TransactionKind, int, Decimal, Decimal, Decimal, int]],
    prices: tuple[Decimal, Decimal],
) -> None:
    entries = random_ledger(draws)
    marks = {A: prices[0], B: prices[1]}
    for method in CostBasisMethod:
        ledger = Ledger(method)
        for item in entries:
            ledger.apply(item)
            check_identity(ledger, marks)
        quantities = {c: p.quantity for c, p in ledger.positions.items()}
        assert quantities == {
            c: p.quantity for c, p in replay(entries, CostBasisMethod.FIFO).positions.items()
        }


@pytest.mark.parametrize("method", list(CostBasisMethod))
def test_a_copy_resumes_the_replay_and_leaves_the_original_alone(method: CostBasisMethod) -> None:
    entries = COIN_A + COIN_B
    entries.sort(key=lambda e: e.executed_at)
    half = Ledger(method)
    for item in entries[:5]:
        half.apply(item)
    before = {c: (p.quantity, p.cost, p.realized) for c, p in half.positions.items()}
    copied = half.copy()
    for item in entries[5:]:
        copied.apply(item)
    full = replay(entries, method)
    assert copied.net_invested == full.net_invested
    for coin, position in full.positions.items():
        twin = copied.positions[coin]
        assert (twin.quantity, twin.cost, twin.realized) == (
            position.quantity,
            position.cost,
            position.realized,
        )
        assert [(lot.transaction_id, lot.quantity) for lot in twin.open_lots] == [
            (lot.transaction_id, lot.quantity) for lot in position.open_lots
        ]
    assert {c: (p.quantity, p.cost, p.realized) for c, p in half.positions.items()} == before


def test_average_cost_lots_add_up_exactly_through_awkward_shares() -> None:
    """Pro-rata parts of lots once drifted from what was held, so selling the rest raised."""
    rows = [
        (BUY, "0.0373189", "471"),
        (BUY, "0.0196366", "667"),
        (BUY, "61604.1", "13"),
        (SELL, "27290.6415312865", "1"),
        (SELL, "15475.3954563202885", "1"),
        (BUY, "678.928", "261"),
        (SELL, "331.789815454184595500", "1"),
        (SELL, "748.225067945122049276", "1"),
        (SELL, "18437.033084493904855224", "1"),
    ]
    entries = [entry(i, A, kind, q, p) for i, (kind, q, p) in enumerate(rows, start=1)]
    ledger = replay(entries, CostBasisMethod.AVERAGE)
    assert ledger.positions[A].quantity == 0 and ledger.positions[A].open_lots == []
    for disposal in ledger.disposals:
        assert sum(use.quantity for use in disposal.lots) == disposal.quantity
