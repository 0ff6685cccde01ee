"""Price retention: old fine-grained rows are downsampled into coarser bars, never just dropped.

The policy (`RetentionPolicy`, from the settings `retention_5m_days` and `retention_1h_days`)
keeps 5-minute rows for a week, hourly rows for 90 days and daily bars forever;
`apply_retention` (the weekly `cleanup_old_data` task's work) documents the rules.

The sync keeps 5-minute history for a day and hourly history for 90 days (its tiers'
lookbacks); retention periods at least that long never delete what it would fetch again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cryptopredict.core.cache import PRICES_NAMESPACE, ResponseCache
from cryptopredict.core.timegrid import ONE_DAY, floor_instant
from cryptopredict.prices.importer import SOURCE as CSV_SOURCE
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.types import Interval

if TYPE_CHECKING:
    from cryptopredict.core.config import Settings

logger = logging.getLogger(__name__)

ROLLUP_SOURCE = "rollup"
"""The source of bars a retention run creates (unless made only of CSV rows, see `roll_up`)."""
ERROR_MAX_CHARS = 300


@dataclass(frozen=True, slots=True)
class RetentionStep:
    """One downsampling step: `source` rows in [start, end) into `target` bars; both bounds
    are aligned to `target`, `start` None meaning from the beginning."""

    source: Interval
    target: Interval
    start: dt.datetime | None
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each fine interval is kept before it is downsampled (daily bars: forever)."""

    five_minute_days: int = 7
    hourly_days: int = 90

    def __post_init__(self) -> None:
        if self.five_minute_days < 1 or self.hourly_days < 1:
            raise ValueError("retention periods are whole days, at least 1")
        if self.hourly_days < self.five_minute_days:
            raise ValueError("hourly rows must be kept at least as long as 5-minute rows")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        """The policy the settings configure."""
        return cls(
            five_minute_days=settings.retention_5m_days, hourly_days=settings.retention_1h_days
        )

    def steps(self, now: dt.datetime) -> list[RetentionStep]:
        """The steps of a run at `now`, in the order they run (see the module docstring)."""
        if now.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        days_end = floor_instant(now - self.hourly_days * ONE_DAY, Interval.DAY.seconds)
        hours_end = floor_instant(now - self.five_minute_days * ONE_DAY, Interval.HOUR.seconds)
        return [
            RetentionStep(Interval.HOUR, Interval.DAY, None, days_end),
            RetentionStep(Interval.FIVE_MINUTES, Interval.DAY, None, days_end),
            RetentionStep(Interval.FIVE_MINUTES, Interval.HOUR, days_end, hours_end),
        ]


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did to one coin's series; `error` is set when it was rolled back."""

    coin_id: int
    interval: Interval
    target: Interval
    rows_aggregated: int = 0
    bars_created: int = 0
    rows_deleted: int = 0
    error: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the step wrote anything."""
        return bool(self.bars_created or self.rows_deleted)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """Every step run, per coin and interval: rows aggregated, bars created, rows deleted;
    the steps skipped (rolled back after a fault) carry their error."""

    now: dt.datetime
    steps: tuple[StepResult, ...]

    @property
    def skipped(self) -> list[StepResult]:
        """Steps that failed and were rolled back: their series are as they were."""
        return [step for step in self.steps if step.error is not None]

    @property
    def rows_aggregated(self) -> int:
        """Source rows that went into new bars, over all steps."""
        return sum(step.rows_aggregated for step in self.steps)

    @property
    def bars_created(self) -> int:
        """New coarser bars, over all steps."""
        return sum(step.bars_created for step in self.steps)

    @property
    def rows_deleted(self) -> int:
        """Rows deleted, over all steps."""
        return sum(step.rows_deleted for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for a task's result or a log line)."""
        return {
            "now": self.now.isoformat(),
            "rows_aggregated": self.rows_aggregated,
            "bars_created": self.bars_created,
            "rows_deleted": self.rows_deleted,
            "skipped": len(self.skipped),
            "steps": [
                {
                    "coin_id": step.coin_id,
                    "interval": step.interval.value,
                    "target": step.target.value,
                    "rows_aggregated": step.rows_aggregated,
                    "bars_created": step.bars_created,
                    "rows_deleted": step.rows_deleted,
                    "error": step.error,
                }
                for step in self.steps
            ],
        }


def apply_retention(
    *,
    session: Session,
    policy: RetentionPolicy,
    now: dt.datetime,
    cache: ResponseCache | None = None,
) -> RetentionReport:
    """Downsample every series as the policy says, so old data costs less but stays usable.

    The run works in UTC-aligned buckets that end at or before a cutoff:

    - hours ending by `now - policy.five_minute_days` (and not in a day handled below): the
      missing hourly bars are created from their 5-minute rows, then the covered 5-minute
      rows are deleted;
    - days ending by `now - policy.hourly_days`: the missing daily bars are created from
      their hourly rows, then from their 5-minute rows (hours that old are not kept, so
      5-minute rows that old go straight to days), then the covered rows of both are deleted.
      Daily bars are kept forever.

    A stored coarser bar (CoinGecko's, a CSV's, an earlier run's) is authoritative and kept
    as it is. A bucket gets a new bar only when it holds its closing sub-bar, because a bar
    is stored under its start with its close, the price at its end instant, as `price`: the
    bar takes the first row's open, the highest high, the lowest low, and the closing row's
    price, market cap and volume (CoinGecko's volume is a rolling 24 h total, so an hour's
    is the one at its end, as CoinGecko's own hourly point has); buckets made only of CSV
    rows, whose volumes are per bar, sum them instead and keep the source `csv`. Other new
    bars have the source `rollup` (see `PriceRepository.roll_up`).

    Rows are deleted only where a coarser bar covers their bucket: a bucket that neither
    has a bar nor could make one keeps its rows until one arrives (say the sync fills that
    hour). The newest row of every series is never deleted, however old.

    Each coin x step is one transaction (insert, then delete), committed on its own: a
    database fault rolls that step back (the old rows stay, no new bar), is logged and
    reported in `skipped`, and the run goes on. A second run finds nothing to do, and two
    runs at once write nothing twice (the insert skips stored bars, the delete finds its rows
    gone). The session's transactions are the run's own. The response cache is invalidated
    after every step that wrote something.
    """
    steps = policy.steps(now)
    prices = PriceRepository(session)
    ends: dict[Interval, dt.datetime] = {}
    for step in steps:
        ends[step.source] = max(step.end, ends.get(step.source, step.end))
    series = prices.retention_series(ends)
    session.rollback()  # end the read: each step below is its own transaction
    results: list[StepResult] = []
    for coin_id, interval, first_at in series:
        for step in steps:
            if step.source == interval and first_at < step.end:
                result = _run_step(session, prices, coin_id, step)
                results.append(result)
                if result.changed and cache is not None:
                    cache.invalidate(PRICES_NAMESPACE)
    report = RetentionReport(now=now, steps=tuple(results))
    logger.info(
        "retention: %d rows aggregated into %d new bars, %d rows deleted, %d steps skipped",
        report.rows_aggregated,
        report.bars_created,
        report.rows_deleted,
        len(report.skipped),
    )
    return report


def _run_step(
    session: Session, prices: PriceRepository, coin_id: int, step: RetentionStep
) -> StepResult:
    """One coin x step in one transaction: create the missing bars, delete what they cover."""
    try:
        rolled = prices.roll_up(
            coin_id,
            step.source,
            step.target,
            start=step.start,
            end=step.end,
            label=ROLLUP_SOURCE,
            per_bar_source=CSV_SOURCE,
        )
        deleted = prices.delete_covered(
            coin_id, step.source, step.target, start=step.start, end=step.end
        )
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        logger.warning(
            "retention of coin %d %s into %s rolled back: %s",
            coin_id,
            step.source.value,
            step.target.value,
            exc,
        )
        return StepResult(coin_id, step.source, step.target, error=str(exc)[:ERROR_MAX_CHARS])
    return StepResult(
        coin_id,
        step.source,
        step.target,
        rows_aggregated=rolled.rows,
        bars_created=rolled.bars,
        rows_deleted=deleted,
    )
