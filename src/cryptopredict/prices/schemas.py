"""Request and response bodies for price series, latest prices, OHLC, stats and bulk writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from cryptopredict.coins.schemas import CoingeckoId
from cryptopredict.core.timegrid import is_aligned
from cryptopredict.core.validation import AwareInstant, ByValue, RequestModel
from cryptopredict.prices.types import Interval

MAX_HISTORY_POINTS = 10_000
MAX_LATEST_COINS = 100
MAX_BULK_POINTS = 10_000
EARLIEST_BAR = dt.datetime(2009, 1, 1, tzinfo=dt.UTC)
MAX_PRICE = 1e15
"""The highest price (USD) a point may carry: ten orders of magnitude above any coin's."""
MIN_PRICE = 1e-12
"""The lowest price (USD) a point may carry: far below any traded coin's, and high enough
that a ratio of two prices stays a finite, positive float (returns, volatility)."""
MAX_AMOUNT = 1e18
"""The highest volume or market cap (USD) a point may carry: about 10,000 times the world's
yearly output, so a larger one is a unit mix-up (wei for ether, say)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """An inclusive [start, end] window in UTC; either side may be open."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class WindowKey:
    """One coin's series and window (`since` excluded, `until` included), and the instant of
    an earlier point whose market cap is wanted (None: not wanted)."""

    coin_id: int
    series: str
    since: dt.datetime
    until: dt.datetime
    reference_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Highest high and lowest low in a window (price-only points count with their price),
    and the market cap of the reference point (null when unknown)."""

    high: float | None
    low: float | None
    reference_market_cap: float | None


@dataclass(frozen=True, slots=True)
class Candle:
    """An OHLC candle of any width, identified by its UTC-epoch-aligned start (seconds)."""

    start: int
    open: float
    high: float
    low: float
    close: float


ChartRow = tuple[dt.datetime, float, float | None, float | None]
"""(price_at, price, market_cap, volume): one point of a market chart."""


PositivePrice = Annotated[float, Field(ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]


class PricePoint(BaseModel):
    """One point or bar of a series; OHLC fields are null for price-only points."""

    timestamp: dt.datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    price: float
    volume: float | None
    market_cap: float | None


class PriceHistory(BaseModel):
    """A stored series in a time range, oldest first."""

    coin: str = Field(description="CoinGecko id")
    interval: Interval
    truncated: bool = Field(
        description="True when the range held more than `limit` points; only the newest "
        "`limit` are returned (ask again with `end` before the first one for older data)"
    )
    points: list[PricePoint]


class LatestPrice(BaseModel):
    """The newest stored point of one coin and its change over the previous 24 hours."""

    coin: str
    symbol: str
    name: str
    interval: Interval = Field(description="The series the newest point comes from")
    timestamp: dt.datetime
    price: float
    volume: float | None
    market_cap: float | None
    price_change_24h: float | None = Field(
        description="price - reference_price; null without a point 24-48 h before `timestamp`"
    )
    price_change_percentage_24h: float | None = Field(
        description="100 * (price / reference_price - 1)"
    )
    reference_at: dt.datetime | None = Field(
        description="The point compared against: the newest at or before timestamp - 24 h"
    )
    reference_price: float | None


class LatestPrices(BaseModel):
    """Newest prices for the requested coins, in the order asked."""

    items: list[LatestPrice]
    missing: list[str] = Field(description="Requested ids that are not in the catalogue")
    no_data: list[str] = Field(description="Known coins without any stored price")


class OhlcBar(BaseModel):
    """One OHLC bar, identified by its UTC start."""

    timestamp: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    points: int | None = Field(
        description="How many source points a resampled bar aggregates (null for stored bars); "
        "fewer than expected means the bar is partial or the source has gaps"
    )


class OhlcSeries(BaseModel):
    """OHLC bars of one coin, stored or resampled from a finer series."""

    coin: str
    interval: Interval
    source_interval: Interval | None = Field(
        description="The stored series the bars come from (null when the coin has no data)"
    )
    resampled: bool
    truncated: bool
    bars: list[OhlcBar]


class PeriodReturn(BaseModel):
    """Simple return over a look-back period, with the point it was measured from."""

    value: float | None = Field(description="last_price / reference_price - 1 (0.05 is +5 %)")
    reference_at: dt.datetime | None
    reference_price: float | None


class Volatility(BaseModel):
    """Standard deviation of daily log returns over a trailing window."""

    window_days: int
    observations: int = Field(description="Daily log returns the estimate uses")
    daily: float | None = Field(description="Sample stdev of ln(p_t / p_(t-1)); null below 2")
    annualised: float | None = Field(description="daily * sqrt(365): crypto trades every day")


class PriceStats(BaseModel):
    """Summary statistics of one coin as of its newest stored point."""

    coin: str
    as_of: dt.datetime = Field(description="Instant of the newest point; periods end here")
    interval: Interval = Field(description="The series the newest point comes from")
    last_price: float
    return_24h: PeriodReturn
    return_7d: PeriodReturn
    return_30d: PeriodReturn
    volatility_7d: Volatility
    volatility_30d: Volatility


class GapRead(BaseModel):
    """A run of missing bars: first and last missing bar start, and how many."""

    start: dt.datetime
    end: dt.datetime
    missing: int


class GapReport(BaseModel):
    """Holes in one stored series, for operators deciding what to backfill."""

    coin: str
    interval: Interval
    start: dt.datetime | None
    end: dt.datetime | None
    missing_total: int
    gaps: list[GapRead]


class BulkPoint(RequestModel):
    """One point to write; instants must carry a timezone, are stored in UTC and start a bar
    of their interval on the UTC grid. Prices are at most 1e15, volumes and market caps at
    most 1e18."""

    coin: CoingeckoId
    interval: ByValue[Interval]
    timestamp: AwareInstant
    open: PositivePrice | None = None
    high: PositivePrice | None = None
    low: PositivePrice | None = None
    close: PositivePrice | None = None
    price: PositivePrice
    volume: NonNegative | None = None
    market_cap: NonNegative | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BulkPoint:
        """Reject bars that cannot be real: low above high, open or close outside the range,
        instants before Bitcoin existed (likely a unit mix-up), in the future or off the
        interval's grid (a daily bar at 13:17 would pass for the latest price)."""
        if self.timestamp < EARLIEST_BAR:
            raise ValueError("timestamp is before 2009-01-01")
        if self.timestamp > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
            raise ValueError("timestamp is in the future")
        if not is_aligned(self.timestamp, self.interval.seconds):
            raise ValueError(f"timestamp is not the start of a {self.interval.value} bar (UTC)")
        if self.low is not None and self.high is not None:
            if self.low > self.high:
                raise ValueError("low is above high")
            for name in ("open", "close"):
                value = getattr(self, name)
                if value is not None and not self.low <= value <= self.high:
                    raise ValueError(f"{name} is outside [low, high]")
        return self


class BulkPrices(RequestModel):
    """Points to write all together or not at all."""

    points: list[BulkPoint] = Field(min_length=1, max_length=MAX_BULK_POINTS)


class BulkResult(BaseModel):
    """What a bulk write did: rows inserted or changed, out of those received."""

    written: int = Field(description="Rows inserted or changed; 0 when re-posting the same data")
    received: int
