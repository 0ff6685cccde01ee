"""Value types of the prices domain that other domains pass to and get from its service.

Plain dataclasses, tuples and constants only (no SQLAlchemy), so importing them stays cheap.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptopredict.core.timegrid import from_micros

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]


class Interval(enum.StrEnum):
    """Bar widths we store; CoinGecko's automatic granularity maps onto these."""

    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def seconds(self) -> int:
        """Width of one bar in seconds."""
        return {"5m": 300, "1h": 3600, "1d": 86400}[self.value]


FINEST_FIRST: tuple[Interval, ...] = tuple(sorted(Interval, key=lambda interval: interval.seconds))
"""Every interval, narrowest bars first: the order readers prefer series in."""

VALUE_COLUMNS = ("open", "high", "low", "close", "price", "volume", "market_cap", "source")
"""The columns of a stored point besides its key: what an upsert compares and replaces."""
ALL_COLUMNS = ("coin_id", "interval", "price_at", *VALUE_COLUMNS)
"""Every column of a stored point, in the order `PriceRow` and `PriceTuple` hold them."""
POINT_COLUMNS = ("price_at", "open", "high", "low", "close", "price", "volume", "market_cap")
"""The columns of a `PointRow`, in its order."""

PointRow = tuple[
    dt.datetime,
    float | None,
    float | None,
    float | None,
    float | None,
    float,
    float | None,
    float | None,
]
"""(price_at, open, high, low, close, price, volume, market_cap): a Core row, read like a tuple."""


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One bar or point to write; the field order matches `ALL_COLUMNS`."""

    coin_id: int
    interval: str
    price_at: dt.datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    price: float
    volume: float | None
    market_cap: float | None
    source: str

    @property
    def key(self) -> tuple[int, str, dt.datetime]:
        """The natural key, unique per series and instant."""
        return (self.coin_id, self.interval, self.price_at)


PriceTuple = tuple[
    int,
    str,
    dt.datetime,
    float | None,
    float | None,
    float | None,
    float | None,
    float,
    float | None,
    float | None,
    str,
]
"""A `PriceRow`'s values as a plain tuple, in `ALL_COLUMNS` order."""


@dataclass(frozen=True, slots=True, eq=False)
class PriceColumns:
    """Points of one series to write, column-wise, as bulk writers build them from arrays.

    `price_at` holds instants in Unix microseconds (UTC); the value arrays are aligned with
    it, NaN meaning null; None stands for a column that is null throughout.
    """

    coin_id: int
    interval: str
    source: str
    price_at: npt.NDArray[np.int64]
    price: Floats
    volume: Floats | None = None
    market_cap: Floats | None = None
    open: Floats | None = None
    high: Floats | None = None
    low: Floats | None = None
    close: Floats | None = None

    def __len__(self) -> int:
        return len(self.price_at)

    def values(self) -> tuple[Floats | None, ...]:
        """The float columns in `ALL_COLUMNS` order (open .. market_cap)."""
        return (
            self.open,
            self.high,
            self.low,
            self.close,
            self.price,
            self.volume,
            self.market_cap,
        )

    def take(self, index: npt.NDArray[np.intp]) -> PriceColumns:
        """The rows at `index`, in that order."""

        def pick(column: Floats | None) -> Floats | None:
            return None if column is None else column[index]

        return PriceColumns(
            self.coin_id,
            self.interval,
            self.source,
            self.price_at[index],
            self.price[index],
            volume=pick(self.volume),
            market_cap=pick(self.market_cap),
            open=pick(self.open),
            high=pick(self.high),
            low=pick(self.low),
            close=pick(self.close),
        )

    def rows(self) -> list[PriceRow]:
        """The same points as `PriceRow`s (for row-wise writers and readers)."""
        op, hi, lo, cl, _, vo, mc = (
            [None] * len(self) if values is None else _nullable(values) for values in self.values()
        )
        columns = (self.price_at.tolist(), op, hi, lo, cl, self.price.tolist(), vo, mc)
        coin_id, interval, source = self.coin_id, self.interval, self.source
        return [
            PriceRow(coin_id, interval, from_micros(at), o, h, low, c, p, v, m, source)
            for at, o, h, low, c, p, v, m in zip(*columns, strict=True)
        ]


def _nullable(column: Floats) -> list[float | None]:
    return [None if value != value else value for value in column.tolist()]


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars between two present ones: `start` and `end` are the first and last
    missing bar starts, `missing` how many bars are absent."""

    start: dt.datetime
    end: dt.datetime
    missing: int


@dataclass(frozen=True, slots=True)
class SeriesGaps:
    """The missing bars of a series in a window, and its first present bar there (None when
    there is none) with that row's source."""

    gaps: list[Gap]
    first_at: dt.datetime | None
    first_source: str | None


@dataclass(frozen=True, slots=True)
class SeriesExtent:
    """First and last instant of one stored series."""

    first: dt.datetime
    last: dt.datetime


@dataclass(frozen=True, slots=True)
class PointLookup:
    """Ask for the newest point of a series at or before `at`."""

    coin_id: int
    interval: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Bar:
    """An aggregated OHLC bar produced by resampling."""

    price_at: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    points: int


@dataclass(frozen=True, slots=True)
class RollUp:
    """What one roll-up did: source rows aggregated and target bars created."""

    rows: int
    bars: int
