"""Data-quality report per series, so a forecast can say what it was built on.

Outliers are flagged in one-step log returns with a robust z-score (median and MAD), which a
few extreme moves cannot inflate the way they inflate a standard deviation. They are reported,
not removed: in crypto a 40 % day is usually real.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from cryptopredict.forecasting.dataset import CleanSeries, Gap

MAD_TO_SIGMA = 1.4826
"""MAD times this estimates the standard deviation of normal data."""


@dataclass(frozen=True)
class Outlier:
    """A one-step log return far from the series' typical move.

    Attributes:
        at: timestamp of the row the return ends at.
        log_return: the return.
        robust_z: ``(r - median) / (1.4826 * MAD)``.
    """

    at: pd.Timestamp
    log_return: float
    robust_z: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"at": self.at.isoformat(), "log_return": self.log_return, "robust_z": self.robust_z}


@dataclass(frozen=True)
class QualityReport:
    """What a series looks like before any model sees it.

    Attributes:
        name: series name (coin id).
        interval: interval name.
        length: rows in the cleaned series.
        raw_rows: rows in the input.
        first_at: first timestamp of the cleaned series (None when empty).
        last_at: last timestamp of the cleaned series (None when empty).
        expected_rows: grid steps from the first to the last observed raw point.
        missing_ratio: share of those grid steps with no observation.
        gaps: every gap found, filled or cut.
        duplicate_count: rows dropped as duplicates within one grid cell.
        off_grid_count: timestamps floored onto the grid.
        invalid_count: rows dropped for a missing or non-positive price.
        interpolated_count: rows filled by interpolation in the kept series.
        dropped_rows: observed rows cut before the last long gap.
        volume_missing_ratio: share of kept rows without volume.
        outliers: returns with ``|robust z| > outlier_threshold``.
        outlier_threshold: the threshold used.
        staleness_steps: intervals between the last point's timestamp and ``now`` (None
            without ``now``); measured from the grid label, so a daily close labelled with its
            day is at least 1 step old once that day has ended.
        stale: True when the last point is more than ``max_stale_steps`` intervals old.
        now: the reference time for staleness.
    """

    name: str
    interval: str
    length: int
    raw_rows: int
    first_at: pd.Timestamp | None
    last_at: pd.Timestamp | None
    expected_rows: int
    missing_ratio: float
    gaps: tuple[Gap, ...]
    duplicate_count: int
    off_grid_count: int
    invalid_count: int
    interpolated_count: int
    dropped_rows: int
    volume_missing_ratio: float
    outliers: tuple[Outlier, ...]
    outlier_threshold: float
    staleness_steps: float | None = None
    stale: bool | None = None
    now: pd.Timestamp | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (timestamps as ISO 8601 strings)."""

        def iso(ts: pd.Timestamp | None) -> str | None:
            return None if ts is None else ts.isoformat()

        return {
            "name": self.name,
            "interval": self.interval,
            "length": self.length,
            "raw_rows": self.raw_rows,
            "first_at": iso(self.first_at),
            "last_at": iso(self.last_at),
            "expected_rows": self.expected_rows,
            "missing_ratio": self.missing_ratio,
            "gaps": [g.to_dict() for g in self.gaps],
            "duplicate_count": self.duplicate_count,
            "off_grid_count": self.off_grid_count,
            "invalid_count": self.invalid_count,
            "interpolated_count": self.interpolated_count,
            "dropped_rows": self.dropped_rows,
            "volume_missing_ratio": self.volume_missing_ratio,
            "outliers": [o.to_dict() for o in self.outliers],
            "outlier_threshold": self.outlier_threshold,
            "staleness_steps": self.staleness_steps,
            "stale": self.stale,
            "now": iso(self.now),
        }


def robust_z_scores(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Robust z-scores ``(x - median) / (1.4826 * MAD)``; NaN stays NaN, zero MAD gives 0/inf.

    Args:
        values: the sample (NaN ignored for the median and MAD).

    Returns:
        One score per value.
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.isfinite(x).any():
        return np.full_like(x, np.nan)
    med = np.nanmedian(x)
    mad = np.nanmedian(np.abs(x - med)) * MAD_TO_SIGMA
    dev = x - med
    if mad == 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(dev == 0, 0.0, np.sign(dev) * np.inf)
    return np.asarray(dev / mad, dtype=np.float64)


def quality_report(
    series: CleanSeries,
    *,
    now: dt.datetime | pd.Timestamp | None = None,
    outlier_threshold: float = 6.0,
    max_stale_steps: float = 2.0,
) -> QualityReport:
    """Measure a cleaned series: size, holes, duplicates, outliers and staleness.

    Args:
        series: the cleaned series with its cleaning record.
        now: reference time for staleness (aware, or naive meaning UTC); skipped when None.
        outlier_threshold: ``|robust z|`` above which a log return is an outlier.
        max_stale_steps: the last point may be this many intervals old before ``stale``.

    Returns:
        The report.
    """
    frame = series.frame
    step = series.step
    n = len(frame)
    first_at = frame.index[0] if n else None
    last_at = frame.index[-1] if n else None
    start = series.raw_start_at if series.raw_start_at is not None else first_at
    expected = int((last_at - start) // step) + 1 if start is not None and last_at else 0
    observed_missing = sum(g.missing for g in series.gaps)
    missing_ratio = observed_missing / expected if expected else 0.0

    outliers: tuple[Outlier, ...] = ()
    if n > 2:
        log_ret = np.diff(np.log(frame["price"].to_numpy(dtype=np.float64)))
        real = ~(frame["interpolated"].to_numpy(dtype=bool)[1:])
        z = np.full(n - 1, np.nan)
        z[real] = robust_z_scores(log_ret[real])
        times = pd.DatetimeIndex(frame.index)
        hits = np.flatnonzero(np.abs(z) > outlier_threshold)
        outliers = tuple(
            Outlier(
                at=pd.Timestamp(times[i + 1]), log_return=float(log_ret[i]), robust_z=float(z[i])
            )
            for i in hits.tolist()
        )
    volume = frame["volume"].to_numpy(dtype=np.float64) if n else np.empty(0)
    volume_missing_ratio = float(np.isnan(volume).mean()) if n else 0.0

    now_ts: pd.Timestamp | None = None
    staleness: float | None = None
    stale: bool | None = None
    if now is not None:
        now_ts = pd.Timestamp(now)
        now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
        if last_at is not None:
            staleness = float((now_ts - last_at) / step)
            stale = staleness > max_stale_steps

    return QualityReport(
        name=series.name,
        interval=series.interval,
        length=n,
        raw_rows=series.raw_rows,
        first_at=first_at,
        last_at=last_at,
        expected_rows=expected,
        missing_ratio=float(missing_ratio),
        gaps=series.gaps,
        duplicate_count=series.duplicates,
        off_grid_count=series.off_grid,
        invalid_count=series.invalid,
        interpolated_count=series.interpolated,
        dropped_rows=series.dropped_rows,
        volume_missing_ratio=volume_missing_ratio,
        outliers=outliers,
        outlier_threshold=outlier_threshold,
        staleness_steps=staleness,
        stale=stale,
        now=now_ts,
    )
