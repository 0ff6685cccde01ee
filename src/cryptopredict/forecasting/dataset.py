"""A clean, regular price series per coin and interval, and the ``ForecastData`` built from it.

Cleaning is explicit and reported, never silent:

- timestamps are made UTC (naive ones are taken as UTC; integers as epoch milliseconds) and
  floored onto the interval grid; several points in one grid cell keep the latest one, and
  every dropped row is counted in ``duplicates``;
- rows without a positive price are dropped (``invalid``);
- a gap of at most ``max_gap`` missing steps is filled by linear interpolation of the *log*
  price and flagged in the ``interpolated`` column (volume and market cap stay unknown);
- a longer gap is never bridged: only the most recent contiguous segment after the last long
  gap is kept, and the rows dropped before it are reported.

Interpolated rows use the first real point after the gap, so the few rows of a short gap carry
information from up to ``max_gap`` steps later; ``CleanSeries.interpolated`` counts them. That
is why ``build_forecast_data`` does not use them: in the ``ForecastData`` a filled row carries
the last observed price forward (what was known then), so no origin, feature or training row
reads a price from after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cryptopredict.forecasting.features import FeatureConfig, compute_features
from cryptopredict.forecasting.forecasters.base import ForecastData
from cryptopredict.forecasting.targets import (
    DEFAULT_HORIZONS,
    log_return_targets,
    validate_horizons,
)

INTERVALS: dict[str, pd.Timedelta] = {
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "30m": pd.Timedelta(minutes=30),
    "1h": pd.Timedelta(hours=1),
    "4h": pd.Timedelta(hours=4),
    "1d": pd.Timedelta(days=1),
}
"""Supported intervals and their grid step; grids are anchored at the Unix epoch (UTC)."""

DEFAULT_MAX_GAP = 3
TIME_COLUMNS = ("timestamp", "time", "date", "datetime", "recorded_at", "ts")
PRICE_COLUMNS = ("price", "close")
VOLUME_COLUMNS = ("volume", "total_volume")
MARKET_CAP_COLUMNS = ("market_cap", "marketcap")


def interval_step(interval: str) -> pd.Timedelta:
    """Grid step of an interval name; a ValueError lists the supported ones."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; use one of {sorted(INTERVALS)}") from None


@dataclass(frozen=True)
class Gap:
    """Missing grid steps between two observed points.

    Attributes:
        after_at: the last observed timestamp before the gap.
        before_at: the first observed timestamp after the gap.
        missing: number of missing grid steps in between.
        filled: True when interpolated (short gap), False when the series was cut there.
    """

    after_at: pd.Timestamp
    before_at: pd.Timestamp
    missing: int
    filled: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for reports."""
        return {
            "after_at": self.after_at.isoformat(),
            "before_at": self.before_at.isoformat(),
            "missing": self.missing,
            "filled": self.filled,
        }


@dataclass(frozen=True)
class CleanSeries:
    """A regular UTC series and the record of what cleaning did to the raw input.

    Attributes:
        frame: indexed by ``timestamp`` (UTC, regular, ascending) with columns ``price``,
            ``volume``, ``market_cap`` (NaN = unknown) and ``interpolated`` (bool).
        interval: the interval name (``"1d"``, ``"1h"``, ...).
        name: the series' name (coin id), for reports.
        raw_rows: rows in the input.
        duplicates: rows dropped because another point fell in the same grid cell.
        off_grid: input timestamps that were not on the grid and were floored onto it.
        invalid: rows dropped for a missing or non-positive price.
        gaps: every gap in the observed points (filled or cut), oldest first.
        dropped_rows: observed rows before the last long gap, cut from the series.
        raw_start_at: first observed grid timestamp before any cut (None if no data).
    """

    frame: pd.DataFrame
    interval: str
    name: str = ""
    raw_rows: int = 0
    duplicates: int = 0
    off_grid: int = 0
    invalid: int = 0
    gaps: tuple[Gap, ...] = field(default=())
    dropped_rows: int = 0
    raw_start_at: pd.Timestamp | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def interpolated(self) -> int:
        """Rows filled by interpolation in the kept segment."""
        return int(self.frame["interpolated"].sum())

    @property
    def step(self) -> pd.Timedelta:
        """Grid step of the interval."""
        return interval_step(self.interval)


def _pick(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    """First candidate column present (case-insensitive), to accept common spellings."""
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def _to_utc(values: pd.Series | pd.Index) -> pd.DatetimeIndex:
    """UTC timestamps from strings, datetimes or epoch milliseconds; naive means UTC."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.DatetimeIndex(pd.to_datetime(values, unit="ms", utc=True))
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True, format="ISO8601"))


def from_frame(
    frame: pd.DataFrame,
    interval: str = "1d",
    *,
    max_gap: int = DEFAULT_MAX_GAP,
    name: str = "",
) -> CleanSeries:
    """Clean a raw price frame into a regular series on the interval grid.

    Args:
        frame: one row per observation with a time column (``timestamp``/``date``/... or a
            DatetimeIndex), a price column (``price`` or ``close``) and optional ``volume``
            and ``market_cap`` columns.
        interval: grid interval name, one of ``INTERVALS``.
        max_gap: the longest run of missing steps that is interpolated; longer gaps cut.
        name: the series' name (coin id) for reports.

    Returns:
        The cleaned series with its cleaning record.

    Raises:
        ValueError: when no time or price column is found, or for an unknown interval.
    """
    step = interval_step(interval)
    if max_gap < 0:
        raise ValueError("max_gap must be >= 0")
    columns = [str(c) for c in frame.columns]
    time_col = _pick(columns, TIME_COLUMNS)
    if time_col is not None:
        times = _to_utc(frame[time_col])
    elif isinstance(frame.index, pd.DatetimeIndex):
        times = _to_utc(frame.index)
    else:
        raise ValueError(f"no time column: expected one of {TIME_COLUMNS} or a DatetimeIndex")
    price_col = _pick(columns, PRICE_COLUMNS)
    if price_col is None:
        raise ValueError(f"no price column: expected one of {PRICE_COLUMNS}")
    vol_col = _pick(columns, VOLUME_COLUMNS)
    cap_col = _pick(columns, MARKET_CAP_COLUMNS)

    def numeric(col: str | None) -> np.ndarray:
        if col is None:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)

    raw = pd.DataFrame(
        {"price": numeric(price_col), "volume": numeric(vol_col), "market_cap": numeric(cap_col)},
        index=times,
    )
    raw_rows = len(raw)
    valid_time = raw.index.notna()
    valid = valid_time & np.isfinite(raw["price"].to_numpy()) & (raw["price"].to_numpy() > 0)
    invalid = int((~valid).sum())
    raw = raw[valid]

    floored = raw.index.floor(step)
    off_grid = int((floored != raw.index).sum())
    raw.index = floored
    raw = raw.sort_index(kind="stable")
    keep = ~raw.index.duplicated(keep="last")
    duplicates = int((~keep).sum())
    raw = raw[keep]
    raw.index.name = "timestamp"

    empty = raw.iloc[:0].assign(interpolated=pd.Series(dtype=bool))
    if raw.empty:
        return CleanSeries(
            frame=empty,
            interval=interval,
            name=name,
            raw_rows=raw_rows,
            duplicates=duplicates,
            off_grid=off_grid,
            invalid=invalid,
        )

    ts = raw.index
    steps = np.asarray(((ts - ts[0]) // step), dtype=np.int64)
    jumps = np.diff(steps)
    gap_at = np.flatnonzero(jumps > 1)
    gaps = tuple(
        Gap(
            after_at=ts[i],
            before_at=ts[i + 1],
            missing=int(jumps[i] - 1),
            filled=bool(jumps[i] - 1 <= max_gap),
        )
        for i in gap_at
    )
    long_gaps = [g for g in gaps if not g.filled]
    start = long_gaps[-1].before_at if long_gaps else ts[0]
    kept = raw[raw.index >= start]
    dropped_rows = int((raw.index < start).sum())

    grid = pd.date_range(kept.index[0], kept.index[-1], freq=step, name="timestamp")
    regular = kept.reindex(grid)
    missing = regular["price"].isna()
    if missing.any():
        log_p = np.log(regular["price"])
        regular["price"] = np.exp(log_p.interpolate(method="linear", limit_area="inside"))
    regular["interpolated"] = missing.to_numpy()
    return CleanSeries(
        frame=regular,
        interval=interval,
        name=name,
        raw_rows=raw_rows,
        duplicates=duplicates,
        off_grid=off_grid,
        invalid=invalid,
        gaps=gaps,
        dropped_rows=dropped_rows,
        raw_start_at=ts[0],
    )


def load_csv(
    path: str | Path,
    interval: str = "1d",
    *,
    max_gap: int = DEFAULT_MAX_GAP,
    name: str | None = None,
) -> CleanSeries:
    """Read a price CSV (e.g. ``date,open,high,low,close,volume,market_cap``) and clean it.

    Args:
        path: CSV file with a time column and a ``close`` or ``price`` column.
        interval: grid interval name.
        max_gap: the longest run of missing steps that is interpolated.
        name: series name; the file stem (the coin id) when None.

    Returns:
        The cleaned series.
    """
    file = Path(path)
    frame = pd.read_csv(file)
    return from_frame(frame, interval, max_gap=max_gap, name=file.stem if name is None else name)


def build_forecast_data(
    series: CleanSeries,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    *,
    features: FeatureConfig | None = None,
) -> ForecastData:
    """Compute features and log-return targets once, for every model and backtest to share.

    Rows filled by interpolation carry the last observed price instead, so a filled row never
    holds the price after its gap (look-ahead at origins, features and training targets).

    Args:
        series: a cleaned series (``from_frame`` / ``load_csv``).
        horizons: forecast horizons in steps.
        features: feature choices; ``FeatureConfig()`` when None.

    Returns:
        The series' ``ForecastData``.

    Raises:
        ValueError: for an empty series.
    """
    if len(series) == 0:
        raise ValueError(f"series {series.name!r} is empty")
    hs = validate_horizons(horizons)
    frame = series.frame
    filled = frame["interpolated"].to_numpy(dtype=bool)
    if filled.any():
        frame = frame.assign(price=frame["price"].mask(filled).ffill())
    feats = compute_features(frame, features, intraday=series.step < pd.Timedelta(days=1))
    log_price = np.log(frame["price"].to_numpy(dtype=np.float64))
    return ForecastData(
        index=pd.DatetimeIndex(frame.index),
        log_price=log_price,
        features=feats.to_numpy(dtype=np.float64),
        feature_names=tuple(str(c) for c in feats.columns),
        targets=log_return_targets(log_price, hs),
        horizons=hs,
        name=series.name,
    )
