"""Performance figures on textbook cases, and XIRR against an independent implementation
(pyxirr, used only here)."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import Decimal

import pytest
import pyxirr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cryptopredict.portfolios.performance import (
    DayFlows,
    daily_returns,
    max_drawdown,
    period_rate,
    time_weighted_return,
    volatility,
    wealth_index,
    xirr,
)

D0 = dt.date(2024, 1, 1)
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def days(*rows: tuple[str, str, str]) -> list[DayFlows]:
    """(value, inflow, outflow) per day from 2 January."""
    return [
        DayFlows(D0 + dt.timedelta(days=i + 1), Decimal(v), Decimal(i_), Decimal(o))
        for i, (v, i_, o) in enumerate(rows)
    ]


def test_twr_ignores_when_and_how_much_money_came_in() -> None:
    # +10 % on day one; 100 deposited at the start of day two, which also gains 10 %.
    returns = daily_returns(Decimal(100), days(("110", "0", "0"), ("231", "100", "0")))
    assert returns == pytest.approx([0.1, 0.1])
    assert time_weighted_return(returns) == pytest.approx(0.21)
    # The same holdings with a deposit ten times larger: the same TWR.
    big = daily_returns(Decimal(100), days(("110", "0", "0"), ("1221", "1000", "0")))
    assert time_weighted_return(big) == pytest.approx(0.21)


def test_an_outflow_counts_at_the_end_of_its_day() -> None:
    # 200 at the start; the day ends at 100 after 154 was taken out: (100 + 154) / 200 - 1.
    returns = daily_returns(Decimal(200), days(("100", "0", "154")))
    assert returns == pytest.approx([0.27])


def test_without_flows_twr_is_the_change_in_value() -> None:
    rows = days(("120", "0", "0"), ("90", "0", "0"), ("150", "0", "0"))
    assert time_weighted_return(daily_returns(Decimal(100), rows)) == pytest.approx(0.5)


def test_a_day_with_nothing_invested_has_no_return() -> None:
    returns = daily_returns(Decimal(0), days(("0", "0", "0"), ("105", "100", "0")))
    assert returns[0] is None and returns[1] == pytest.approx(0.05)
    assert time_weighted_return([None, None]) is None


def test_max_drawdown_is_the_deepest_fall_from_a_peak() -> None:
    assert max_drawdown([1.0, 1.2, 0.9, 1.3, 1.04]) == pytest.approx(-0.25)
    assert max_drawdown([1.0, 1.1, 1.2]) == 0.0
    assert max_drawdown(wealth_index([-0.5, 0.5])) == pytest.approx(-0.5)


def test_volatility_is_the_annualised_sample_deviation() -> None:
    returns = [0.01, -0.01, 0.02, None]
    assert volatility(returns) == pytest.approx(
        statistics.stdev([0.01, -0.01, 0.02]) * math.sqrt(365)
    )
    assert volatility([0.01]) is None


def test_xirr_textbook_cases() -> None:
    one_year = T0 + dt.timedelta(days=365)
    assert xirr([(T0, -1000.0), (one_year, 1100.0)]) == pytest.approx(0.1)
    # Doubling in half a year is 300 % a year.
    assert xirr([(T0, -100.0), (T0 + dt.timedelta(days=182.5), 200.0)]) == pytest.approx(3.0)
    assert xirr([(T0, -100.0), (one_year, 50.0)]) == pytest.approx(-0.5)
    assert xirr([(T0, 100.0), (one_year, 50.0)]) is None  # no money ever paid in
    assert period_rate(0.21, T0, T0 + dt.timedelta(days=730)) == pytest.approx(0.4641)


flows = st.lists(
    st.tuples(st.integers(min_value=1, max_value=2000), st.floats(min_value=1.0, max_value=1e6)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(
    paid=flows,
    back=st.floats(min_value=1.0, max_value=1e6),
    after=st.integers(min_value=1, max_value=400),
)
def test_xirr_agrees_with_pyxirr(paid: list[tuple[int, float]], back: float, after: int) -> None:
    """Deposits on some days, one withdrawal after the last: a portfolio's period."""
    last = max(day for day, _ in paid)
    cashflows = [(T0 + dt.timedelta(days=d), -amount) for d, amount in paid]
    cashflows.append((T0 + dt.timedelta(days=last + after), back))
    expected = pyxirr.xirr([t.date() for t, _ in cashflows], [cf for _, cf in cashflows])
    ours = xirr(cashflows)
    # Cases where pyxirr gives no finite root of a sensible size are not a comparison.
    assume(expected is not None and math.isfinite(expected) and abs(expected) < 1e6)
    assert ours is not None
    assert ours == pytest.approx(expected, rel=1e-6, abs=1e-9)
