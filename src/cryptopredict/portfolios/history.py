"""A portfolio's value day by day, from its transactions and stored prices: pure, no database.

A day is a UTC calendar day, ``[d 00:00, d+1 00:00)``: a transaction belongs to the day its
instant falls in, and the day's value is what is held after its last transaction times each
coin's newest price at or before the day's end (``d+1 00:00``, the daily close), never a
price from a later day. A coin held with no price by then is left out of the value and
counted in ``unpriced``.

Money in and out, for the returns (``performance``): a buy brings in what it cost (fee
included), a sell takes out its proceeds (net of its fee), a transfer brings in or takes out
the coins' market value at its instant (its stated cost when no price is known by then), and
a transfer's fee is money paid in. ``net_invested`` is the lot engine's (``lots``).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from cryptopredict.core.timegrid import ONE_DAY
from cryptopredict.portfolios.lots import MONEY, ZERO, Entry, Ledger
from cryptopredict.portfolios.types import TransactionKind


def day_start(day: dt.date) -> dt.datetime:
    """The instant a UTC day starts (its midnight)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def day_end(day: dt.date) -> dt.datetime:
    """The instant a UTC day ends (the next day's midnight)."""
    return day_start(day + ONE_DAY)


def price_decimal(price: float) -> Decimal:
    """A stored float price as the decimal it prints as (no binary noise)."""
    return Decimal(repr(price))


def day_of(instant: dt.datetime) -> dt.date:
    """The UTC day an instant falls in."""
    return instant.astimezone(dt.UTC).date()


@dataclass(frozen=True, slots=True)
class HistoryDay:
    """One day of a portfolio's history (amounts in USD)."""

    day: dt.date
    value: Decimal
    net_invested: Decimal
    inflow: Decimal
    outflow: Decimal
    unpriced: int


class PriceBook:
    """Prices per coin, each with the instant it is the price of (a stored bar's end, see
    ``prices_service.prices_at``), oldest first, as exact decimals of their printed floats."""

    def __init__(self, points: Mapping[int, Sequence[tuple[dt.datetime, float]]]) -> None:
        self._stamps = {c: [t for t, _ in rows] for c, rows in points.items()}
        self._prices = {c: [price_decimal(p) for _, p in rows] for c, rows in points.items()}

    def at_or_before(self, coin_id: int, instant: dt.datetime) -> Decimal | None:
        stamps = self._stamps.get(coin_id)
        if not stamps:
            return None
        i = bisect.bisect_right(stamps, instant)
        return None if i == 0 else self._prices[coin_id][i - 1]

    def day_ends(self, coin_id: int, days: Sequence[dt.date]) -> list[Decimal | None]:
        """The price at each day's end, in one pass over the coin's points."""
        stamps, prices = self._stamps.get(coin_id, []), self._prices.get(coin_id, [])
        out: list[Decimal | None] = []
        i, last = 0, None
        for day in days:
            end = day_end(day)
            while i < len(stamps) and stamps[i] <= end:
                last = prices[i]
                i += 1
            out.append(last)
        return out


def flows_of(entry: Entry, prices: PriceBook) -> tuple[Decimal, Decimal]:
    """(in, out) of one transaction, as the module doc says."""
    kind = entry.kind
    if kind is TransactionKind.BUY:
        return entry.quantity * (entry.price or ZERO) + entry.fee, ZERO
    if kind is TransactionKind.SELL:
        return ZERO, entry.quantity * (entry.price or ZERO) - entry.fee
    market = prices.at_or_before(entry.coin_id, entry.executed_at)
    unit = market if market is not None else (entry.price or ZERO)
    if kind is TransactionKind.TRANSFER_IN:
        return entry.quantity * unit + entry.fee, ZERO
    return entry.fee, entry.quantity * unit


def build(
    entries: Iterable[Entry],
    ledger: Ledger,
    prices: PriceBook,
    days: Sequence[dt.date],
) -> list[HistoryDay]:
    """Apply ``entries`` (time order, none before ``days[0]``) to ``ledger`` (the replay of
    every earlier transaction) and record each of ``days`` (consecutive) at its end."""
    pending = iter(entries)
    upcoming = next(pending, None)
    ends: dict[int, list[Decimal | None]] = {}
    out: list[HistoryDay] = []
    with localcontext(MONEY):
        for index, day in enumerate(days):
            end = day_end(day)
            inflow = outflow = ZERO
            while upcoming is not None and upcoming.executed_at < end:
                money_in, money_out = flows_of(upcoming, prices)
                inflow += money_in
                outflow += money_out
                ledger.apply(upcoming)
                upcoming = next(pending, None)
            value, unpriced = ZERO, 0
            for coin_id, position in ledger.positions.items():
                if position.quantity == 0:
                    continue
                if coin_id not in ends:
                    ends[coin_id] = prices.day_ends(coin_id, days)
                price = ends[coin_id][index]
                if price is None:
                    unpriced += 1
                else:
                    value += position.quantity * price
            out.append(HistoryDay(day, value, ledger.net_invested, inflow, outflow, unpriced))
    return out


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last`` inclusive (none when ``last`` is earlier)."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
