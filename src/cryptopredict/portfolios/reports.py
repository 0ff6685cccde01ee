"""The history and performance answers: stored days (``value_history``) plus today valued
live, turned into the figures of ``performance``.

A request never rebuilds years: when the stored history is behind by less than
``INLINE_DAYS`` days it catches up inline (the task's own update, idempotent); a longer gap is
left to the task and said in ``pending_from``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.errors import NotFoundError, ValidationFailedError
from cryptopredict.core.timegrid import ONE_DAY
from cryptopredict.portfolios import valuation, value_history
from cryptopredict.portfolios.history import (
    PriceBook,
    day_end,
    day_of,
    day_start,
    flows_of,
    price_decimal,
)
from cryptopredict.portfolios.lots import MONEY, ZERO
from cryptopredict.portfolios.models import Portfolio, PortfolioHistoryDay
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
from cryptopredict.portfolios.repository import HistoryRepository, TransactionRepository
from cryptopredict.portfolios.schemas import (
    EARLIEST_EXECUTED_AT,
    BenchmarkPerformance,
    CoinRef,
    HistoryPoint,
    PerformanceRange,
    PortfolioHistory,
    PortfolioPerformance,
)
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)

#: A stored history at most this many days behind is brought up to date by the request.
INLINE_DAYS = 31
_RANGE_DAYS = {
    PerformanceRange.D1: 1,
    PerformanceRange.D7: 7,
    PerformanceRange.D30: 30,
    PerformanceRange.D90: 90,
    PerformanceRange.Y1: 365,
}


def _caught_up(
    session: Session, portfolio: Portfolio, today: dt.date, first_at: dt.datetime | None
) -> dt.date | None:
    """Bring a short gap in the stored history up to yesterday (and drop days left from
    transactions since deleted); the first day still out of date afterwards (None: none).
    A failure there leaves the stored days as they are, said as pending, never a 500."""
    yesterday = today - dt.timedelta(days=1)
    if first_at is None:
        if portfolio.history_through is not None:
            _update_inline(session, portfolio, today)
        return None
    first_day = day_of(first_at)
    through = portfolio.history_through
    candidates = [] if portfolio.history_from is None else [portfolio.history_from]
    if through is None:
        candidates.append(first_day)
    elif through < yesterday:
        candidates.append(through + dt.timedelta(days=1))
    if not candidates:
        return None
    gap = max(min(candidates), first_day)
    if gap > yesterday:
        return None
    if (yesterday - gap).days < INLINE_DAYS and _update_inline(session, portfolio, today):
        if portfolio.history_from is None and portfolio.history_through == yesterday:
            return None
    return gap


def _update_inline(session: Session, portfolio: Portfolio, today: dt.date) -> bool:
    """The task's update of one portfolio, run by a request; False when it failed."""
    try:
        value_history.update(session=session, portfolio_id=portfolio.id, today=today)
    except Exception:
        session.rollback()
        logger.exception("portfolio %s: inline history update failed", portfolio.id)
        return False
    session.refresh(portfolio)
    return True


def _point(row: PortfolioHistoryDay) -> HistoryPoint:
    with localcontext(MONEY):
        gain = row.value - row.net_invested
    return HistoryPoint(
        day=row.day,
        value=row.value,
        net_invested=row.net_invested,
        cumulative_gain=gain,
        inflow=row.inflow,
        outflow=row.outflow,
        unpriced=row.unpriced,
    )


def _today(session: Session, portfolio: Portfolio, now: dt.datetime) -> HistoryPoint:
    """Today so far: the live summary's value and net invested, and today's money in and out
    (transfers at the market price of their instant)."""
    summary = valuation.summary(session=session, portfolio=portfolio, at=None)
    today = now.date()
    moved = TransactionRepository(session).timeline(portfolio.id, since=day_start(today))
    coin_ids = sorted({tx.coin_id for tx in moved})
    points: dict[int, list[tuple[dt.datetime, float]]] = {c: [] for c in coin_ids}
    for tx in moved:
        found = prices_service.prices_at(session=session, coin_ids=[tx.coin_id], at=tx.executed_at)
        if tx.coin_id in found:
            points[tx.coin_id].append(found[tx.coin_id])
    book = PriceBook({c: sorted(set(rows)) for c, rows in points.items()})
    inflow = outflow = ZERO
    with localcontext(MONEY):
        for tx in moved:
            money_in, money_out = flows_of(valuation.entry_of(tx), book)
            inflow += money_in
            outflow += money_out
        value, invested = Decimal(summary.value), Decimal(summary.net_invested)
        return HistoryPoint(
            day=today,
            value=value,
            net_invested=invested,
            cumulative_gain=value - invested,
            inflow=inflow,
            outflow=outflow,
            unpriced=sum(w.code == "unpriced" for w in summary.warnings),
        )


def history(
    *,
    session: Session,
    portfolio: Portfolio,
    now: dt.datetime,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> PortfolioHistory:
    """Stored days from ``start`` to ``end`` (everything when None), and today live when the
    window reaches it."""
    today = now.date()
    if start is not None and end is not None and start > end:
        raise ValidationFailedError(
            "start must not be after end",
            details=[{"loc": ["query", "start"], "msg": "after end", "type": "value_error"}],
        )
    first_at = TransactionRepository(session).first_executed_at(portfolio.id)
    pending = _caught_up(session, portfolio, today, first_at)
    # Days before the first transaction (left from one deleted, until the task drops them).
    floor = day_of(first_at) if first_at is not None else None
    rows = [
        row
        for row in HistoryRepository(session).days(portfolio.id, start, end)
        if floor is not None and row.day >= floor
    ]
    live = None
    if end is None or end >= today:
        live = _today(session, portfolio, now) if first_at is not None else None
    return PortfolioHistory(
        portfolio_id=portfolio.id,
        cost_basis_method=portfolio.cost_basis_method,
        days=[_point(row) for row in rows if row.day < today],
        today=live,
        stored_through=portfolio.history_through,
        pending_from=pending,
    )


def _window(
    range_: PerformanceRange,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
    first_day: dt.date | None,
) -> tuple[dt.date, dt.date]:
    """The first and last day a range counts."""
    if range_ is PerformanceRange.CUSTOM:
        if start is None:
            raise ValidationFailedError(
                "a custom range needs start (and may have end)",
                details=[{"loc": ["query", "start"], "msg": "required", "type": "missing"}],
            )
        last = end or today
        if start > today:
            raise ValidationFailedError(
                "start must not be in the future",
                details=[
                    {"loc": ["query", "start"], "msg": "in the future", "type": "value_error"}
                ],
            )
        if start > last:
            raise ValidationFailedError(
                "start must not be after end",
                details=[{"loc": ["query", "start"], "msg": "after end", "type": "value_error"}],
            )
        return start, last
    if start is not None or end is not None:
        raise ValidationFailedError(
            "start and end go with range=custom only",
            details=[{"loc": ["query", "range"], "msg": "not custom", "type": "value_error"}],
        )
    if range_ is PerformanceRange.YTD:
        first = dt.date(today.year, 1, 1)
    elif range_ is PerformanceRange.ALL:
        first = first_day or today
    else:
        first = today - dt.timedelta(days=_RANGE_DAYS[range_] - 1)
    return first, today


def _benchmark_coins(session: Session, identifiers: Sequence[str]) -> list[Cryptocurrency]:
    """The coins named, each once (an id and its symbol are one coin); an unknown one is a
    422."""
    found: dict[int, Cryptocurrency] = {}
    for identifier in identifiers:
        try:
            coin = coins_service.get_by_identifier(session=session, identifier=identifier)
        except NotFoundError as exc:
            raise ValidationFailedError(
                f"Unknown benchmark coin {identifier!r}",
                details=[
                    {"loc": ["query", "benchmarks"], "msg": "Unknown coin", "type": "unknown_coin"}
                ],
            ) from exc
        found.setdefault(coin.id, coin)
    return list(found.values())


def _benchmark(
    session: Session,
    coin: Cryptocurrency,
    first: dt.date,
    last: dt.date,
    now: dt.datetime,
    days: Sequence[dt.date],
) -> BenchmarkPerformance:
    today = now.date()
    start_at = day_start(first)
    end_at = None if last >= today else day_end(last)
    begin = prices_service.prices_at(session=session, coin_ids=[coin.id], at=start_at).get(coin.id)
    finish = prices_service.prices_at(session=session, coin_ids=[coin.id], at=end_at, now=now).get(
        coin.id
    )
    # A daily bar's close is the price at its end.
    points = {
        row[0] + ONE_DAY: row[5]
        for row in prices_service.points(
            session=session,
            coin_id=coin.id,
            interval=Interval.DAY,
            start=start_at - ONE_DAY,
            end=day_end(last) - ONE_DAY,
        )
        if start_at < row[0] + ONE_DAY <= (end_at or now)
    }
    if begin is not None:
        points[begin[0]] = begin[1]
    if finish is not None:
        points[finish[0]] = finish[1]
    ordered = [(at, price) for at, price in sorted(points.items()) if price > 0]
    series = [price for _, price in ordered]
    returns: list[float | None] = [b / a - 1.0 for a, b in zip(series, series[1:], strict=False)]
    growth: list[float | None] = []
    index, latest = 0, None
    for day in days:
        end = day_end(day) if day < today else dt.datetime.max.replace(tzinfo=dt.UTC)
        while index < len(ordered) and ordered[index][0] <= end:
            latest = ordered[index][1]
            index += 1
        growth.append(None if latest is None or begin is None else latest / begin[1])
    start_price = None if begin is None else price_decimal(begin[1])
    end_price = None if finish is None else price_decimal(finish[1])
    total = (
        None
        if start_price is None or end_price is None or start_price == 0
        else float(end_price / start_price) - 1.0
    )
    return BenchmarkPerformance(
        coin=CoinRef.model_validate(coin),
        start_price=start_price,
        end_price=end_price,
        total_return=total,
        max_drawdown=max_drawdown(wealth_index(returns)) if returns else None,
        # Full days only, as the portfolio's: a part of today would dilute it.
        volatility=volatility(
            returns[:-1] if ordered and ordered[-1][0] > day_start(today) else returns
        ),
        growth=growth,
    )


def performance(
    *,
    session: Session,
    portfolio: Portfolio,
    now: dt.datetime,
    range_: PerformanceRange,
    start: dt.date | None = None,
    end: dt.date | None = None,
    benchmarks: Sequence[str] = (),
) -> PortfolioPerformance:
    """The portfolio's figures over a window (see ``performance`` and the schema)."""
    today = now.date()
    first_at = TransactionRepository(session).first_executed_at(portfolio.id)
    first_day = None if first_at is None else day_of(first_at)
    first, last = _window(range_, start, end, today, first_day)
    if first < EARLIEST_EXECUTED_AT.date():
        first = EARLIEST_EXECUTED_AT.date()
    pending = _caught_up(session, portfolio, today, first_at)
    history_rows = HistoryRepository(session)
    before = history_rows.day_before(portfolio.id, first)
    # Days before the first transaction hold nothing, whatever a stale row still says.
    if before is not None and (first_day is None or before.day < first_day):
        before = None
    start_value = before.value if before is not None else ZERO
    stored = [
        r
        for r in history_rows.days(portfolio.id, first, last)
        if r.day < today and first_day is not None and r.day >= first_day
    ]
    days = [DayFlows(r.day, r.value, r.inflow, r.outflow) for r in stored]
    end_instant = day_end(last)
    if last >= today and first_at is not None:
        live = _today(session, portfolio, now)
        days.append(DayFlows(today, live.value, live.inflow, live.outflow))
        end_instant = now
    with localcontext(MONEY):
        inflow = sum((d.inflow for d in days), ZERO)
        outflow = sum((d.outflow for d in days), ZERO)
        end_value = days[-1].value if days else start_value
        returns = daily_returns(start_value, days)
        flows = [(day_start(first), -float(start_value))] if start_value > 0 else []
        for d in days:
            if d.inflow:
                flows.append((day_start(d.day), -float(d.inflow)))
            if d.outflow:
                flows.append((min(day_end(d.day), end_instant), float(d.outflow)))
        flows.append((end_instant, float(end_value)))
        annual = xirr(flows)
        return PortfolioPerformance(
            portfolio_id=portfolio.id,
            range=range_,
            start=first,
            end=last,
            start_value=start_value,
            end_value=end_value,
            inflow=inflow,
            outflow=outflow,
            net_invested=inflow - outflow,
            absolute_gain=end_value - start_value - (inflow - outflow),
            twr=time_weighted_return(returns),
            mwr_annualized=annual,
            # Over the days money was in: from the first flow, not the window's empty start.
            mwr_period=period_rate(annual, min(t for t, _ in flows), end_instant),
            max_drawdown=max_drawdown(wealth_index(returns)) if days else None,
            # Full days only: today's live part-day return would dilute it.
            volatility=volatility(returns[:-1] if end_instant == now else returns),
            days=len(days),
            series_days=[d.day for d in days],
            growth=wealth_index(returns),
            benchmarks=[
                _benchmark(session, coin, first, last, now, [d.day for d in days])
                for coin in _benchmark_coins(session, benchmarks)
            ],
            pending_from=pending,
        )
