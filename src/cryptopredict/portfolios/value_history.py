"""The stored day-by-day history of each portfolio, kept up to date by a task, and what is
read from it (the history and performance answers).

Writes never rebuild the history: a transaction written, edited or deleted, or a change of
cost-basis method, only marks the first day out of date (``Portfolio.history_from``), as does
a history sync for portfolios holding a coin it added daily bars to. The
``update_portfolio_history`` task then rebuilds each portfolio that is due from that day on
(with its last ``REFRESH_DAYS`` days, where late or corrected prices land), replaying the lots
up to it or resuming from lots it kept, and extends every portfolio to yesterday. Today is
never stored: requests value it live, from the newest prices.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from cryptopredict.core.timegrid import ONE_DAY
from cryptopredict.portfolios.history import (
    HistoryDay,
    PriceBook,
    build,
    day_end,
    day_of,
    day_start,
    days_between,
)
from cryptopredict.portfolios.lots import Ledger, replay
from cryptopredict.portfolios.models import Portfolio
from cryptopredict.portfolios.repository import (
    HistoryRepository,
    PortfolioRepository,
    TransactionRepository,
)
from cryptopredict.portfolios.schemas import money_rounded
from cryptopredict.portfolios.valuation import entry_of
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.schemas import WindowKey
from cryptopredict.prices.types import Interval

logger = logging.getLogger(__name__)

#: The last days rebuilt on every run, whatever changed: prices arrive and are corrected late.
REFRESH_DAYS = 2
#: Before any transaction can have happened: "rebuild everything".
EVERYTHING = dt.date(2009, 1, 3)


@dataclass(frozen=True)
class _Snapshot:
    """The lots as they stood at the start of ``day``, kept when the portfolio's
    ``snapshot_epoch`` was ``epoch``."""

    day: dt.date
    epoch: int
    ledger: Ledger


#: Per (portfolio, creation time, method): the lots at the start of the last update's
#: refresh window, so the next run resumes there instead of replaying every earlier
#: transaction. The portfolio row says which day the newest snapshot is of
#: (``snapshot_day``, in any process) and a write dated before that day bumps its
#: ``snapshot_epoch``, so a process only resumes from lots no later write has changed.
_snapshots: dict[tuple[int, dt.datetime, str], _Snapshot] = {}
_snapshots_lock = threading.Lock()
_SNAPSHOTS_KEPT = 256


def _snapshot_key(portfolio: Portfolio) -> tuple[int, dt.datetime, str]:
    return (portfolio.id, portfolio.created_at, portfolio.cost_basis_method.value)


def _resume(session: Session, portfolio: Portfolio, first: dt.date) -> Ledger:
    """The lots at the start of ``first``: from a snapshot still valid, else a full replay."""
    transactions = TransactionRepository(session)
    start = day_start(first)
    with _snapshots_lock:
        snapshot = _snapshots.get(_snapshot_key(portfolio))
    if (
        snapshot is not None
        and snapshot.day <= first
        and snapshot.day == portfolio.snapshot_day
        and snapshot.epoch == portfolio.snapshot_epoch
    ):
        ledger = snapshot.ledger.copy()
        since = day_start(snapshot.day)
        for tx in transactions.timeline(portfolio.id, since=since, before=start):
            ledger.apply(entry_of(tx))
        return ledger
    earlier = transactions.timeline(portfolio.id, before=start)
    return replay((entry_of(tx) for tx in earlier), portfolio.cost_basis_method)


def _keep(portfolio: Portfolio, snapshot: _Snapshot) -> None:
    with _snapshots_lock:
        _snapshots[_snapshot_key(portfolio)] = snapshot
        while len(_snapshots) > _SNAPSHOTS_KEPT:
            del _snapshots[next(iter(_snapshots))]


def mark_stale(portfolio: Portfolio, *instants: dt.datetime) -> None:
    """Record that a write changed the ledger from the earliest of these instants' days on
    (committed with it): the stored history is out of date from there, and kept lots of a
    later day no longer hold. No instant means all of it."""
    first = min((day_of(i) for i in instants), default=EVERYTHING)
    if portfolio.history_from is None or first < portfolio.history_from:
        portfolio.history_from = first
    if portfolio.snapshot_day is not None and first < portfolio.snapshot_day:
        portfolio.snapshot_epoch += 1


@dataclass(frozen=True)
class UpdateResult:
    """What one portfolio's update did."""

    portfolio_id: int
    first: dt.date | None
    days: int
    seconds: float


def _rows(portfolio_id: int, days: Sequence[HistoryDay]) -> list[dict[str, object]]:
    return [
        {
            "portfolio_id": portfolio_id,
            "day": d.day,
            "value": money_rounded(d.value),
            "net_invested": money_rounded(d.net_invested),
            "inflow": money_rounded(d.inflow),
            "outflow": money_rounded(d.outflow),
            "unpriced": d.unpriced,
        }
        for d in days
    ]


def price_book(
    session: Session, coin_ids: Sequence[int], first: dt.date, last: dt.date
) -> PriceBook:
    """The prices a history from ``first`` to ``last`` reads, each at the instant it is the
    price of: each coin's daily closes (a bar's close is the price at its end), the newest
    price known when ``first`` starts, and the newest known at the end of each of the last
    ``REFRESH_DAYS`` days from any series (fresher than a daily close not yet stored)."""
    start = day_start(first)
    end = day_end(last)
    points: dict[int, dict[dt.datetime, float]] = {c: {} for c in coin_ids}
    keys = [WindowKey(c, Interval.DAY.value, start - ONE_DAY, end - ONE_DAY) for c in coin_ids]
    for coin_id, daily in zip(
        coin_ids, prices_service.window_points(session=session, keys=keys), strict=True
    ):
        points[coin_id].update((at + ONE_DAY, price) for at, price in daily)
    recent = days_between(max(first, last - dt.timedelta(days=REFRESH_DAYS - 1)), last)
    for instant in [start, *(day_end(day) for day in recent)]:
        found = prices_service.prices_at(session=session, coin_ids=coin_ids, at=instant)
        for coin_id, (at, price) in found.items():
            points[coin_id][at] = price
    return PriceBook({c: sorted(rows.items()) for c, rows in points.items()})


def update(*, session: Session, portfolio_id: int, today: dt.date) -> UpdateResult | None:
    """Bring one portfolio's stored history up to yesterday (see the module doc) and commit;
    None when it is gone or its ledger changed meanwhile (the next run takes it)."""
    started = time.perf_counter()
    portfolios = PortfolioRepository(session)
    portfolio = portfolios.get(portfolio_id)
    if portfolio is None:
        return None
    version, stale_read, mark = (
        portfolio.ledger_version,
        portfolio.history_from,
        portfolio.history_mark,
    )
    transactions = TransactionRepository(session)
    history = HistoryRepository(session)
    yesterday = today - dt.timedelta(days=1)
    first_at = transactions.first_executed_at(portfolio_id)
    first_day = None if first_at is None else day_of(first_at)
    first: dt.date | None = None
    rows: list[dict[str, object]] = []
    snapshot = None
    if first_day is not None and first_day <= yesterday:
        candidates = [yesterday - dt.timedelta(days=REFRESH_DAYS - 1)]
        if stale_read is not None:
            candidates.append(stale_read)
        if portfolio.history_through is not None:
            candidates.append(portfolio.history_through + dt.timedelta(days=1))
        else:
            candidates.append(EVERYTHING)
        first = max(min(candidates), first_day)
        ledger = _resume(session, portfolio, first)
        start = day_start(first)
        later = [
            entry_of(tx)
            for tx in transactions.timeline(portfolio_id, since=start, before=day_end(yesterday))
        ]
        prices = price_book(session, transactions.coin_ids(portfolio_id), first, yesterday)
        # Built in two parts so the lots at the start of the refresh window, where the next
        # run begins, can be kept.
        window = max(first, yesterday - dt.timedelta(days=REFRESH_DAYS - 1))
        window_start = day_start(window)
        days = build(
            [e for e in later if e.executed_at < window_start],
            ledger,
            prices,
            days_between(first, window - dt.timedelta(days=1)),
        )
        snapshot = _Snapshot(window, 0, ledger.copy())  # its epoch is set when it is kept
        days += build(
            [e for e in later if e.executed_at >= window_start],
            ledger,
            prices,
            days_between(window, yesterday),
        )
        rows = _rows(portfolio_id, days)
    # Write only if no transaction changed while this ran: the lock orders us after it.
    locked = portfolios.lock(portfolio_id)
    if locked is None or locked.ledger_version != version:
        session.rollback()
        return None
    # Days before the first transaction (it moved later, or is gone) hold nothing.
    if first_day is None:
        history.clear(portfolio_id)
    else:
        history.delete_before(portfolio_id, first_day)
    if first is not None:
        history.replace_from(portfolio_id, first, rows)
    # A price sync's mark made while this ran stays: these days may hold the old prices.
    if locked.history_mark == mark:
        locked.history_from = None
    locked.history_through = yesterday if first_day is not None else None
    if snapshot is not None:
        # A new epoch for every kept snapshot: lots another process kept earlier, of the
        # same day or not, never match again.
        locked.snapshot_epoch += 1
        locked.snapshot_day = snapshot.day
        snapshot = replace(snapshot, epoch=locked.snapshot_epoch)
    session.commit()
    if snapshot is not None:
        _keep(locked, snapshot)
    return UpdateResult(portfolio_id, first, len(rows), time.perf_counter() - started)


def update_all(*, session: Session, today: dt.date) -> dict[str, Any]:
    """Update every portfolio whose history is out of date or short of yesterday; one that
    fails is logged and left for the next run, and the others go on."""
    due = HistoryRepository(session).due(today - dt.timedelta(days=1))
    updated, skipped, failed, days = 0, 0, 0, 0
    for portfolio_id in due:
        try:
            result = update(session=session, portfolio_id=portfolio_id, today=today)
        except Exception:
            session.rollback()
            logger.exception("portfolio %s: history update failed", portfolio_id)
            failed += 1
            continue
        if result is None:
            skipped += 1
            continue
        updated += 1
        days += result.days
    if due:
        logger.info(
            "portfolio history: %s updated, %s skipped, %s failed, %s days",
            updated,
            skipped,
            failed,
            days,
        )
    return {
        "due": len(due),
        "updated": updated,
        "skipped": skipped,
        "failed": failed,
        "days_written": days,
    }
