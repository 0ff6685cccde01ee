"""Performance over a run of days, from day-end values and the money that moved: pure
functions, no database.

- **Time-weighted return (TWR)**, linked daily: money that comes in during a day is counted at
  the day's start and money that goes out at its end, so the day's return is
  ``(end value + outflow) / (previous end value + inflow) - 1``; the period's TWR is the
  product of ``1 + r`` over its days, less one. It measures the holdings, not the timing of
  deposits.
- **Money-weighted return (XIRR)**: the annual rate at which the period's flows (the start
  value and every inflow paid in, every outflow and the end value taken out) are worth zero,
  on a 365-day year; the period's own rate is ``(1 + r) ** (days / 365) - 1``.
- **Max drawdown**: the deepest fall of the TWR wealth index from a previous peak.
- **Volatility**: the standard deviation of the daily TWR returns times sqrt(365) (coins trade
  every day).

Rates are floats (ratios, not money); values and flows come in as Decimals and are converted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

#: Days per year for annualising: crypto trades every calendar day.
YEAR_DAYS = 365.0


@dataclass(frozen=True, slots=True)
class DayFlows:
    """One UTC day: the value at its end and the money that moved during it."""

    day: dt.date
    value: Decimal
    inflow: Decimal
    outflow: Decimal


def daily_returns(start_value: Decimal, days: Sequence[DayFlows]) -> list[float | None]:
    """Each day's return; None for a day that starts with nothing invested (no base)."""
    out: list[float | None] = []
    previous = start_value
    for flows in days:
        base = previous + flows.inflow
        out.append(None if base <= 0 else float((flows.value + flows.outflow) / base) - 1.0)
        previous = flows.value
    return out


def wealth_index(returns: Sequence[float | None]) -> list[float]:
    """Growth of 1 invested at the start, day by day (days without a base leave it as is)."""
    index, level = [], 1.0
    for r in returns:
        if r is not None:
            level *= 1.0 + r
        index.append(level)
    return index


def time_weighted_return(returns: Sequence[float | None]) -> float | None:
    """The linked return of the days; None when no day had anything invested."""
    if all(r is None for r in returns):
        return None
    return wealth_index(returns)[-1] - 1.0


def max_drawdown(index: Sequence[float], start: float = 1.0) -> float:
    """The deepest fall from a running peak, as a fraction (0 or negative)."""
    peak, worst = start, 0.0
    for level in index:
        peak = max(peak, level)
        if peak > 0:
            worst = min(worst, level / peak - 1.0)
    return worst


def volatility(returns: Sequence[float | None]) -> float | None:
    """Annualised standard deviation of the daily returns (sample, ddof 1); None for fewer
    than two."""
    known = [r for r in returns if r is not None]
    if len(known) < 2:
        return None
    mean = sum(known) / len(known)
    variance = sum((r - mean) ** 2 for r in known) / (len(known) - 1)
    return math.sqrt(variance) * math.sqrt(YEAR_DAYS)


def xirr(flows: Sequence[tuple[dt.datetime, float]]) -> float | None:
    """The annual rate ``r`` with ``sum(cf / (1 + r) ** (years since the first flow)) == 0``
    (positive flows to the investor, negative from). None without both signs or a root.

    Solved in ``x = log(1 + r)`` by bisection on the sum's sign, computed scaled so neither a
    rate near -100 % nor a huge one overflows. When the money paid in comes before the money
    taken out, as over a portfolio's period, the sum falls with ``x`` and the root is unique.
    """
    if not flows or all(cf >= 0 for _, cf in flows) or all(cf <= 0 for _, cf in flows):
        return None
    first = min(t for t, _ in flows)
    years = [((t - first).total_seconds() / 86400.0 / YEAR_DAYS, cf) for t, cf in flows]

    def sign(x: float) -> int:
        exponents = [-x * y for y, _ in years]
        top = max(exponents)
        total = sum(cf * math.exp(e - top) for e, (_, cf) in zip(exponents, years, strict=True))
        return (total > 0) - (total < 0)

    low, high = -1.0, 1.0
    s_low, s_high = sign(low), sign(high)
    while s_low == s_high and (low > -1e7 or high < 700.0):
        low, high = max(low * 2.0, -1e7), min(high * 2.0, 700.0)
        s_low, s_high = sign(low), sign(high)
    if s_low == 0:
        return math.expm1(low)
    if s_high == 0:
        return math.expm1(high)
    if s_low == s_high:
        return None
    for _ in range(300):
        mid = (low + high) / 2.0
        s_mid = sign(mid)
        if s_mid == 0 or high - low <= 1e-13 * max(1.0, abs(mid)):
            return math.expm1(mid)
        if s_mid == s_low:
            low = mid
        else:
            high = mid
    return math.expm1((low + high) / 2.0)


def period_rate(annual: float | None, start: dt.datetime, end: dt.datetime) -> float | None:
    """An annual rate over the days from ``start`` to ``end``; None where it is too large to
    hold in a float."""
    if annual is None:
        return None
    if annual <= -1.0:
        return -1.0
    exponent = math.log1p(annual) * (end - start).total_seconds() / 86400.0 / YEAR_DAYS
    return None if exponent > 700.0 else math.expm1(exponent)
