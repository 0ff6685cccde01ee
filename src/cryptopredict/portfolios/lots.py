"""The lot engine: a portfolio's transactions replayed into lots, disposals and positions under
one cost-basis method. Pure Decimal arithmetic; no database, no prices.

- **Acquisitions** (buys, transfers in) open a lot: its cost is quantity times price plus the
  fee. A transfer in without a price opens a lot with a **missing basis**: its cost is unknown,
  reported as such and never taken as zero.
- **Disposals** (sells, transfers out) consume open lots in the method's order: FIFO the
  oldest first, LIFO the newest first, HIFO the highest unit cost first (lots with a missing
  basis last), average cost every open lot pro rata, so each unit leaves at the pool's average.
  A sale realizes its proceeds (quantity times price, less the fee) minus the cost of the lots
  it consumed; a transfer out moves coins away at cost and realizes only its fee, as a loss.
- **Net invested** is money put in less money taken out: buys add what they cost, fees
  included; sells subtract their proceeds; a transfer in adds its stated cost, a transfer out
  subtracts the cost of the lots it removed and adds its fee. So at every moment
  ``realized + unrealized == value - net invested`` while every cost is known (a sale of
  units without one takes its full proceeds out of net invested but realizes only the known
  share).

Sums and products of stored amounts (38 digits, 18 after the point) are exact in the 80-digit
context; quotients (an average cost, a lot's pro-rata cost) are rounded there, half to even,
far below anything shown. Quantities stay exact: average cost rounds each lot's share to the
stored 18 places.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from cryptopredict.portfolios.types import CostBasisMethod, TransactionKind

MONEY = Context(prec=80, rounding=ROUND_HALF_EVEN)
ZERO = Decimal(0)
#: The stored precision of quantities: 18 places.
QUANTUM = Decimal(1).scaleb(-18)

__all__ = ["MONEY", "CostBasisMethod", "Disposal", "Entry", "Ledger", "Lot", "LotUse", "replay"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One transaction as the engine reads it; ``price`` is per coin, in USD."""

    transaction_id: int
    coin_id: int
    kind: TransactionKind
    quantity: Decimal
    price: Decimal | None
    fee: Decimal
    executed_at: dt.datetime


@dataclass(slots=True)
class Lot:
    """What is left of one acquisition.

    Attributes:
        transaction_id: the buy or transfer in that opened it.
        acquired_at: when.
        quantity: still held.
        cost: the cost of what is still held, fees included; None for a missing basis.
    """

    transaction_id: int
    coin_id: int
    acquired_at: dt.datetime
    quantity: Decimal
    cost: Decimal | None

    @property
    def unit_cost(self) -> Decimal | None:
        if self.cost is None or self.quantity == 0:
            return None
        with localcontext(MONEY):
            return self.cost / self.quantity

    def take(self, quantity: Decimal) -> LotUse:
        """Remove ``quantity`` (at most what is left) at this lot's own unit cost."""
        with localcontext(MONEY):
            if quantity >= self.quantity:
                cost = self.cost
                quantity = self.quantity
            else:
                cost = None if self.cost is None else self.cost * quantity / self.quantity
            self.quantity -= quantity
            if self.cost is not None and cost is not None:
                self.cost = self.cost - cost if self.quantity > 0 else ZERO
        return LotUse(self.transaction_id, self.acquired_at, quantity, cost)


@dataclass(frozen=True, slots=True)
class LotUse:
    """The part of one lot a disposal consumed: which acquisition, how much, at what cost
    (None where the acquisition's basis is missing)."""

    transaction_id: int
    acquired_at: dt.datetime
    quantity: Decimal
    cost: Decimal | None


@dataclass(frozen=True, slots=True)
class Disposal:
    """One sell or transfer out and the lots it consumed.

    Attributes:
        proceeds: a sale's quantity times price less its fee; None for a transfer out.
        cost: the consumed lots' cost; None when any of them has a missing basis.
        realized: proceeds less cost for a sale (None when the cost is unknown), minus the
            fee for a transfer out.
    """

    transaction_id: int
    coin_id: int
    kind: TransactionKind
    executed_at: dt.datetime
    quantity: Decimal
    price: Decimal | None
    fee: Decimal
    proceeds: Decimal | None
    cost: Decimal | None
    realized: Decimal | None
    lots: tuple[LotUse, ...]

    @property
    def missing_basis(self) -> bool:
        return self.cost is None


@dataclass(slots=True)
class Position:
    """One coin's running state.

    Attributes:
        quantity: held now.
        cost: the known cost of what is held (lots with a missing basis left out).
        missing_basis_quantity: held units whose cost is unknown.
        realized: realized gains and losses with a known cost.
        unknown_realized: disposals whose realized result is unknown (a missing basis).
        fees: every fee paid on this coin.
        transactions: how many transactions were replayed.
    """

    coin_id: int
    book: _Book = field(repr=False)
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    missing_basis_quantity: Decimal = ZERO
    realized: Decimal = ZERO
    unknown_realized: int = 0
    fees: Decimal = ZERO
    transactions: int = 0

    @property
    def open_lots(self) -> list[Lot]:
        """Open lots, oldest first."""
        return sorted(self.book.lots(), key=lambda lot: (lot.acquired_at, lot.transaction_id))

    @property
    def average_cost(self) -> Decimal | None:
        """The known cost per unit held, None when nothing is held or part of it has no
        basis."""
        if self.quantity == 0 or self.missing_basis_quantity > 0:
            return None
        with localcontext(MONEY):
            return self.cost / self.quantity


class _Book:
    """Open lots of one coin in the order a method consumes them."""

    def add(self, lot: Lot) -> None:
        raise NotImplementedError

    def consume(self, quantity: Decimal) -> list[LotUse]:
        raise NotImplementedError

    def lots(self) -> Iterator[Lot]:
        raise NotImplementedError


class _QueueBook(_Book):
    """FIFO (from the left) or LIFO (from the right)."""

    def __init__(self, newest_first: bool) -> None:
        self._lots: deque[Lot] = deque()
        self._newest_first = newest_first

    def add(self, lot: Lot) -> None:
        self._lots.append(lot)

    def consume(self, quantity: Decimal) -> list[LotUse]:
        used: list[LotUse] = []
        while quantity > 0 and self._lots:
            lot = self._lots[-1] if self._newest_first else self._lots[0]
            use = lot.take(quantity)
            used.append(use)
            quantity -= use.quantity
            if lot.quantity == 0:
                if self._newest_first:
                    self._lots.pop()
                else:
                    self._lots.popleft()
        return used

    def lots(self) -> Iterator[Lot]:
        return iter(self._lots)


class _HighestCostBook(_Book):
    """HIFO: the highest unit cost first, lots with a missing basis last, ties oldest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, Decimal, int, Lot]] = []
        self._sequence = 0

    def add(self, lot: Lot) -> None:
        unit = lot.unit_cost
        key = (1, ZERO) if unit is None else (0, -unit)
        heapq.heappush(self._heap, (key[0], key[1], self._sequence, lot))
        self._sequence += 1

    def consume(self, quantity: Decimal) -> list[LotUse]:
        used: list[LotUse] = []
        while quantity > 0 and self._heap:
            lot = self._heap[0][3]
            use = lot.take(quantity)
            used.append(use)
            quantity -= use.quantity
            if lot.quantity == 0:
                heapq.heappop(self._heap)
        return used

    def lots(self) -> Iterator[Lot]:
        return (entry[3] for entry in self._heap)


class _AverageBook(_Book):
    """Average cost: a disposal takes the same share of every open lot, so its cost is the
    pool's average times its quantity. Each lot's part is rounded to 18 places (the stored
    precision) and any last digits left over settled on other lots, so the lots always add
    up exactly to what is held."""

    def __init__(self) -> None:
        self._lots: list[Lot] = []

    def add(self, lot: Lot) -> None:
        self._lots.append(lot)

    def consume(self, quantity: Decimal) -> list[LotUse]:
        with localcontext(MONEY):
            held = sum((lot.quantity for lot in self._lots), ZERO)
            if held == 0:
                return []
            if quantity >= held:
                used = [lot.take(lot.quantity) for lot in self._lots]
                self._lots = []
                return used
            share = quantity / held
            parts = [(lot.quantity * share).quantize(QUANTUM) for lot in self._lots]
            # Rounding each part may leave the total a few last digits off: settle them on
            # lots with room (or with parts to spare).
            rest = quantity - sum(parts, ZERO)
            for i, lot in enumerate(self._lots):
                if rest == 0:
                    break
                change = min(rest, lot.quantity - parts[i]) if rest > 0 else max(rest, -parts[i])
                parts[i] += change
                rest -= change
            used = [lot.take(part) for lot, part in zip(self._lots, parts, strict=True) if part > 0]
            self._lots = [lot for lot in self._lots if lot.quantity > 0]
            return used

    def lots(self) -> Iterator[Lot]:
        return iter(self._lots)


def _book(method: CostBasisMethod) -> _Book:
    if method is CostBasisMethod.FIFO:
        return _QueueBook(newest_first=False)
    if method is CostBasisMethod.LIFO:
        return _QueueBook(newest_first=True)
    if method is CostBasisMethod.HIFO:
        return _HighestCostBook()
    return _AverageBook()


@dataclass
class Ledger:
    """The replay's result.

    Attributes:
        method: the cost-basis method used.
        positions: per coin id, its state after the last entry.
        disposals: every sell and transfer out, in replay order.
        net_invested: money put in less money taken out (see the module doc).
        missing_basis: transaction ids of transfers in without a stated cost.
    """

    method: CostBasisMethod
    positions: dict[int, Position] = field(default_factory=dict)
    disposals: list[Disposal] = field(default_factory=list)
    net_invested: Decimal = ZERO
    missing_basis: list[int] = field(default_factory=list)

    @property
    def realized(self) -> Decimal:
        with localcontext(MONEY):
            return sum((p.realized for p in self.positions.values()), ZERO)

    @property
    def cost_basis(self) -> Decimal:
        with localcontext(MONEY):
            return sum((p.cost for p in self.positions.values()), ZERO)

    @property
    def fees(self) -> Decimal:
        with localcontext(MONEY):
            return sum((p.fees for p in self.positions.values()), ZERO)

    def copy(self) -> Ledger:
        """An independent copy of the open lots and running totals, without the disposals
        (what a later replay resumes from)."""
        twin = Ledger(
            self.method, net_invested=self.net_invested, missing_basis=list(self.missing_basis)
        )
        for coin_id, position in self.positions.items():
            book = _book(self.method)
            # Acquisition order: HIFO breaks ties between equal unit costs by it.
            for lot in sorted(
                position.book.lots(), key=lambda x: (x.acquired_at, x.transaction_id)
            ):
                book.add(replace(lot))
            twin.positions[coin_id] = replace(position, book=book)
        return twin

    def apply(self, entry: Entry) -> Disposal | None:
        """Replay one more entry (entries must come in time order)."""
        position = self.positions.get(entry.coin_id)
        if position is None:
            position = Position(entry.coin_id, _book(self.method))
            self.positions[entry.coin_id] = position
        book = position.book
        position.transactions += 1
        with localcontext(MONEY):
            position.fees += entry.fee
            if entry.kind.adds_holdings:
                cost = entry.quantity * entry.price + entry.fee if entry.price is not None else None
                book.add(
                    Lot(
                        entry.transaction_id,
                        entry.coin_id,
                        entry.executed_at,
                        entry.quantity,
                        cost,
                    )
                )
                position.quantity += entry.quantity
                if cost is not None:
                    position.cost += cost
                    self.net_invested += cost
                else:
                    position.missing_basis_quantity += entry.quantity
                    self.missing_basis.append(entry.transaction_id)
                    # The fee is money paid even where the coins' cost is unknown.
                    self.net_invested += entry.fee
                    position.realized -= entry.fee
                return None
            return self._dispose(position, book, entry)

    def _dispose(self, position: Position, book: _Book, entry: Entry) -> Disposal:
        used = book.consume(entry.quantity)
        taken = sum((use.quantity for use in used), ZERO)
        if taken != entry.quantity:
            raise ValueError(
                f"transaction {entry.transaction_id} removes {entry.quantity} but only "
                f"{taken} is held"
            )
        known_cost = sum((use.cost for use in used if use.cost is not None), ZERO)
        missing = sum((use.quantity for use in used if use.cost is None), ZERO)
        cost = known_cost if missing == 0 else None
        position.quantity -= entry.quantity
        position.cost -= known_cost
        position.missing_basis_quantity -= missing
        if entry.kind is TransactionKind.SELL:
            if entry.price is None:
                raise ValueError(f"sale {entry.transaction_id} has no price")
            sold = entry.quantity * entry.price - entry.fee
            proceeds: Decimal | None = sold
            outflow = sold
            if cost is not None:
                realized: Decimal | None = sold - cost
                position.realized += sold - cost
            else:
                # Units with a known cost still realize their share of the proceeds.
                realized = None
                position.unknown_realized += 1
                position.realized += sold * (entry.quantity - missing) / entry.quantity
                position.realized -= known_cost
        else:
            # Coins leave at cost: nothing is realized but the fee.
            proceeds = None
            outflow = known_cost - entry.fee
            realized = -entry.fee
            position.realized -= entry.fee
        self.net_invested -= outflow
        disposal = Disposal(
            entry.transaction_id,
            entry.coin_id,
            entry.kind,
            entry.executed_at,
            entry.quantity,
            entry.price,
            entry.fee,
            proceeds,
            cost,
            realized,
            tuple(used),
        )
        self.disposals.append(disposal)
        return disposal


def replay(entries: Iterable[Entry], method: CostBasisMethod) -> Ledger:
    """Replay entries (in time order, ties by id) under a cost-basis method.

    Raises:
        ValueError: a removal beyond what is held, or a sale without a price (the service
            refuses both before they are stored).
    """
    ledger = Ledger(method)
    for entry in entries:
        ledger.apply(entry)
    return ledger
