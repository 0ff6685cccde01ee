"""Typed, strict models of the CoinGecko v3 responses we use, so bad payloads stop here;
and, at the end, what the sync API shows (runs, limiter, breaker).

Validation is strict: numbers must be JSON numbers (no "1.5" strings, no NaN), keys that
CoinGecko always sends must be present (their values may be null where CoinGecko sends
null), timestamps become timezone-aware UTC datetimes. Unknown extra keys are ignored:
CoinGecko adds fields over time and that alone is no reason to distrust a payload.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, TypeAdapter

from cryptopredict.core.pagination import Page
from cryptopredict.core.timegrid import to_micros
from cryptopredict.marketdata.types import SyncKind, SyncStatus

_STRICT = ConfigDict(strict=True, allow_inf_nan=False, frozen=True, extra="ignore")


def _from_epoch_millis(value: Any) -> datetime:
    """CoinGecko charts stamp points in Unix milliseconds; anything else is malformed."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("timestamp must be a number of milliseconds")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _from_epoch_seconds(value: Any) -> datetime:
    """`last_updated_at` of /simple/price is Unix seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("timestamp must be a number of seconds")
    return datetime.fromtimestamp(value, tz=UTC)


EpochMillis = Annotated[datetime, BeforeValidator(_from_epoch_millis)]
NonNegative = Annotated[float, Field(ge=0)]


class Ping(BaseModel):
    """`/ping`: the server is up."""

    model_config = _STRICT

    gecko_says: str


class CoinListEntry(BaseModel):
    """One row of `/coins/list`; `platforms` only with `include_platform=true`."""

    model_config = _STRICT

    id: str = Field(min_length=1)
    symbol: str
    name: str
    platforms: dict[str, str | None] | None = None


class Roi(BaseModel):
    """Return on investment since an ICO, as CoinGecko reports it for some coins."""

    model_config = _STRICT

    times: float
    currency: str
    percentage: float


class MarketEntry(BaseModel):
    """One coin of `/coins/markets`: latest price, size and 24 h movement."""

    model_config = _STRICT

    id: str = Field(min_length=1)
    symbol: str
    name: str
    image: str | None
    current_price: NonNegative | None
    market_cap: NonNegative | None
    market_cap_rank: int | None
    total_volume: NonNegative | None
    high_24h: NonNegative | None
    low_24h: NonNegative | None
    price_change_24h: float | None
    price_change_percentage_24h: float | None
    last_updated: datetime | None
    fully_diluted_valuation: NonNegative | None = None
    market_cap_change_24h: float | None = None
    market_cap_change_percentage_24h: float | None = None
    circulating_supply: NonNegative | None = None
    total_supply: NonNegative | None = None
    max_supply: NonNegative | None = None
    ath: NonNegative | None = None
    ath_change_percentage: float | None = None
    ath_date: datetime | None = None
    atl: NonNegative | None = None
    atl_change_percentage: float | None = None
    atl_date: datetime | None = None
    roi: Roi | None = None
    price_change_percentage_1h_in_currency: float | None = None
    price_change_percentage_24h_in_currency: float | None = None
    price_change_percentage_7d_in_currency: float | None = None
    price_change_percentage_14d_in_currency: float | None = None
    price_change_percentage_30d_in_currency: float | None = None
    price_change_percentage_200d_in_currency: float | None = None
    price_change_percentage_1y_in_currency: float | None = None


class SimpleQuote(NamedTuple):
    """One coin in one currency from `/simple/price`, with the optional extras or None."""

    price: float | None
    market_cap: float | None
    volume_24h: float | None
    change_24h_percent: float | None
    last_updated_at: datetime | None


class SimplePrice(RootModel[dict[str, dict[str, float | None]]]):
    """`/simple/price`: {coin id: {"usd": p, "usd_market_cap": m, ..., "last_updated_at": s}}."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, frozen=True)

    def quote(self, coin_id: str, vs_currency: str = "usd") -> SimpleQuote | None:
        """The typed view of one coin and currency; None when CoinGecko left it out."""
        values = self.root.get(coin_id)
        if not values or vs_currency not in values:
            return None
        updated = values.get("last_updated_at")
        return SimpleQuote(
            price=values[vs_currency],
            market_cap=values.get(f"{vs_currency}_market_cap"),
            volume_24h=values.get(f"{vs_currency}_24h_vol"),
            change_24h_percent=values.get(f"{vs_currency}_24h_change"),
            last_updated_at=None if updated is None else _from_epoch_seconds(updated),
        )


class ChartPoint(NamedTuple):
    """A price at an instant (UTC)."""

    at: EpochMillis
    value: NonNegative


class ChartValue(NamedTuple):
    """A market cap or volume at an instant; CoinGecko sends null where it has none."""

    at: EpochMillis
    value: NonNegative | None


class MarketChart(BaseModel):
    """`/coins/{id}/market_chart[/range]`: three series on the same instants."""

    model_config = _STRICT

    prices: list[ChartPoint]
    market_caps: list[ChartValue]
    total_volumes: list[ChartValue]


class OhlcCandle(NamedTuple):
    """One `/coins/{id}/ohlc` candle, stamped at its close time like CoinGecko does."""

    closed_at: EpochMillis
    open: NonNegative
    high: NonNegative
    low: NonNegative
    close: NonNegative


class TrendingCoinData(BaseModel):
    """Display figures CoinGecko attaches to a trending coin (formatted strings included)."""

    model_config = _STRICT

    price: float | None = None
    price_btc: str | None = None
    price_change_percentage_24h: dict[str, float] = Field(default_factory=dict)
    market_cap: str | None = None
    total_volume: str | None = None
    sparkline: str | None = None


class TrendingCoinItem(BaseModel):
    """A coin people search for right now."""

    model_config = _STRICT

    id: str
    coin_id: int
    name: str
    symbol: str
    market_cap_rank: int | None
    thumb: str
    small: str | None = None
    large: str | None = None
    slug: str | None = None
    price_btc: float | None = None
    score: int
    data: TrendingCoinData | None = None


class TrendingCoin(BaseModel):
    """CoinGecko wraps each trending coin in {"item": ...}."""

    model_config = _STRICT

    item: TrendingCoinItem


class TrendingNft(BaseModel):
    """A trending NFT collection."""

    model_config = _STRICT

    id: str
    name: str
    symbol: str
    thumb: str | None = None
    nft_contract_id: int | None = None
    native_currency_symbol: str | None = None
    floor_price_in_native_currency: float | None = None
    floor_price_24h_percentage_change: float | None = None


class TrendingCategory(BaseModel):
    """A trending coin category."""

    model_config = _STRICT

    id: int
    name: str
    slug: str | None = None
    market_cap_1h_change: float | None = None
    coins_count: int | str | None = None


class Trending(BaseModel):
    """`/search/trending`: coins, NFTs and categories searched most in the last 24 h."""

    model_config = _STRICT

    coins: list[TrendingCoin]
    nfts: list[TrendingNft] = Field(default_factory=list)
    categories: list[TrendingCategory] = Field(default_factory=list)


PING = TypeAdapter(Ping)
COINS_LIST = TypeAdapter(list[CoinListEntry])
MARKETS = TypeAdapter(list[MarketEntry])
SIMPLE_PRICE = TypeAdapter(SimplePrice)
MARKET_CHART = TypeAdapter(MarketChart)
OHLC = TypeAdapter(list[OhlcCandle], config=ConfigDict(strict=True, allow_inf_nan=False))
TRENDING = TypeAdapter(Trending)


_CHART_SERIES = (("prices", False), ("market_caps", True), ("total_volumes", True))


def market_chart_fast(body: bytes) -> MarketChart | None:
    """A well-formed chart body as `MARKET_CHART` would give it, without pydantic per point.

    Checks exactly what the model checks (three arrays of [millis, value] pairs, numbers
    that are JSON numbers, finite, non-negative, null only for caps and volumes) and turns
    each distinct timestamp into a datetime once. Returns None for anything it does not
    accept, so the caller validates with `MARKET_CHART` and reports the same errors.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    moments: dict[int | float, datetime] = {}
    series: dict[str, list[Any]] = {}
    try:
        for key, nullable in _CHART_SERIES:
            raw = data.get(key)
            if type(raw) is not list:
                return None
            points: list[Any] = []
            make = ChartValue._make if nullable else ChartPoint._make
            for item in raw:
                if type(item) is not list or len(item) != 2:
                    return None
                millis, value = item
                kind = type(millis)
                if kind is not int and kind is not float:
                    return None
                at = moments.get(millis)
                if at is None:
                    at = moments[millis] = datetime.fromtimestamp(millis / 1000, tz=UTC)
                kind = type(value)
                if kind is float:
                    if not math.isfinite(value) or value < 0:
                        return None
                elif kind is int:
                    if value < 0:
                        return None
                    value = float(value)
                elif value is not None or not nullable:
                    return None
                points.append(make((at, value)))
            series[key] = points
    except (ValueError, OverflowError, OSError):
        return None
    return MarketChart.model_construct(
        prices=series["prices"],
        market_caps=series["market_caps"],
        total_volumes=series["total_volumes"],
    )


# ---- charts as columns -------------------------------------------------------------------

_CHART_KEYS = frozenset(key for key, _ in _CHART_SERIES)
# Instants a datetime can hold (years 1..9999), in Unix milliseconds; others are refused.
_MIN_MILLIS = -62_135_596_800_000
_MAX_MILLIS = 253_402_300_799_999


@dataclass(frozen=True, slots=True, eq=False)
class ChartSeries:
    """One chart series as two aligned arrays: instants in Unix microseconds (int64) and
    values (float64; NaN where CoinGecko sent null, which only caps and volumes may)."""

    micros: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.micros)


@dataclass(frozen=True, slots=True, eq=False)
class ChartColumns:
    """`/coins/{id}/market_chart[/range]` validated as `MarketChart` is, held as arrays so
    thousands of points cost a few array operations instead of objects per point."""

    prices: ChartSeries
    market_caps: ChartSeries
    total_volumes: ChartSeries

    @classmethod
    def from_chart(cls, chart: MarketChart) -> ChartColumns:
        """The columns of an already validated chart (exact: instants to the microsecond)."""

        def series(points: list[ChartPoint] | list[ChartValue]) -> ChartSeries:
            micros = np.fromiter(
                (to_micros(at) for at, _ in points), dtype=np.int64, count=len(points)
            )
            values = np.fromiter(
                (math.nan if value is None else value for _, value in points),
                dtype=np.float64,
                count=len(points),
            )
            return ChartSeries(micros, values)

        return cls(series(chart.prices), series(chart.market_caps), series(chart.total_volumes))


def _series_columns(raw: Any, nullable: bool) -> ChartSeries | None:
    """One series of [millis, value] pairs as arrays, or None when any pair is not what
    `MarketChart` accepts (or not what this fast path decides on: fractional millis)."""
    if type(raw) is not list:
        return None
    if not raw:
        return ChartSeries(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
    try:
        pairs = np.array(raw, dtype=np.float64)  # null becomes NaN; ragged shapes raise
    except (ValueError, TypeError):
        return None
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        return None
    millis, values = pairs[:, 0], pairs[:, 1]
    # NaN timestamps (null) fail both comparisons; fractional millis take the exact path.
    if not (
        bool(np.all(millis >= _MIN_MILLIS))
        and bool(np.all(millis <= _MAX_MILLIS))
        and bool(np.all(np.floor(millis) == millis))
    ):
        return None
    known = values[~np.isnan(values)] if nullable else values
    if not (bool(np.all(known >= 0)) and bool(np.all(np.isfinite(known)))):
        return None  # negative, infinite, or (prices) null
    return ChartSeries(millis.astype(np.int64) * 1000, np.ascontiguousarray(values))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a body is parsed: its thousands of small lists
    trigger collections that walk the whole heap (a full one costs ~100 ms in a server
    process), yet they hold no cycles and reference counting frees them right after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def chart_columns_fast(body: bytes) -> ChartColumns | None:
    """A chart body as `ChartColumns`, checked with array operations, or None for anything
    it does not accept (the caller then validates with `MARKET_CHART` for the same errors).

    JSON numbers, null, strings and booleans all convert to float64 in numpy, so strings and
    booleans are ruled out on the raw bytes first: a body whose only strings are the three
    keys holds exactly six quote characters, and `true`/`false` can then only be literals.
    NaN and infinity are not JSON (orjson refuses them, and numbers too large for a double).
    """
    if body.count(b'"') != 2 * len(_CHART_KEYS) or b"true" in body or b"false" in body:
        return None
    with _collector_paused():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(data) is not dict or data.keys() != _CHART_KEYS:
            return None
        found = [_series_columns(data[key], nullable) for key, nullable in _CHART_SERIES]
        del data
    prices, caps, volumes = found
    if prices is None or caps is None or volumes is None:
        return None
    return ChartColumns(prices, caps, volumes)


class MarketChartDecoder:
    """Validates chart bodies into `MarketChart`: `market_chart_fast`, else `MARKET_CHART`."""

    def validate_json(self, data: bytes, /) -> MarketChart:
        """The body's chart; `ValidationError` when it is not a valid chart."""
        fast = market_chart_fast(data)
        return fast if fast is not None else MARKET_CHART.validate_json(data)


class ChartColumnsDecoder:
    """Validates chart bodies into `ChartColumns`: the array fast path, else `MARKET_CHART`
    (which raises pydantic's `ValidationError` for a malformed body, as every adapter does)."""

    def validate_json(self, data: bytes, /) -> ChartColumns:
        """The body's columns; `ValidationError` when it is not a valid chart."""
        fast = chart_columns_fast(data)
        if fast is not None:
            return fast
        return ChartColumns.from_chart(MARKET_CHART.validate_json(data))


MARKET_CHART_FAST = MarketChartDecoder()
MARKET_CHART_COLUMNS = ChartColumnsDecoder()


# ---- what the sync API shows ------------------------------------------------------------

Backend = Literal["redis", "memory"]
"""Where shared limiter and breaker state lives: Redis, or this process when Redis is not
configured or down."""
State = Literal["closed", "open", "half_open"]
"""A circuit breaker's state."""


class LimiterSnapshot(BaseModel):
    """What the limiter looks like now, for `/health/ready` and the sync status API."""

    backend: Backend
    redis_configured: bool
    degraded: bool
    capacity: float
    tokens_available: float
    refill_per_second: float
    max_calls_per_minute: float


class BreakerSnapshot(BaseModel):
    """The breaker as `/health/ready` and the sync status API show it."""

    state: State
    failures: int
    failure_threshold: int
    reset_seconds: float
    opened_at: datetime | None
    next_attempt_at: datetime | None
    backend: Backend
    redis_configured: bool
    degraded: bool


class SyncRunRead(BaseModel):
    """A sync run as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: SyncKind
    coin: str | None
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    calls_made: int
    rows_written: int
    error: str | None


SyncRunPage = Page[SyncRunRead]


class SyncStatusRead(BaseModel):
    """The shared rate limiter and circuit breaker now, and the last run of each kind."""

    limiter: LimiterSnapshot
    breaker: BreakerSnapshot
    last_runs: dict[SyncKind, SyncRunRead]


class SyncRunBrief(BaseModel):
    """A sync run as anyone may see it: what it was and how it ended, not what it cost."""

    kind: SyncKind
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None = Field(description="Null while the run is still running")
    error: str | None = Field(
        description="Why it failed, as a fixed sentence for the kind of CoinGecko fault (the "
        "run's own error text is admin-only, under /api/v1/sync/runs); null when it "
        "succeeded or is running"
    )


class DataFreshness(BaseModel):
    """How old the stored prices are and how the syncs that refresh them are doing, so the
    dashboard can warn when it shows old data (the offline snapshot, or failing syncs)."""

    newest_price_at: datetime | None = Field(
        description="The newest stored price instant of any active coin, in any interval; "
        "null when no active coin has a price"
    )
    age_seconds: float | None = Field(
        description="Seconds from `newest_price_at` to now (0 for an instant ahead of the "
        "server's clock); null without a price"
    )
    stale: bool = Field(
        description="True when there is no price or `age_seconds` exceeds `stale_after_seconds`"
    )
    stale_after_seconds: int = Field(
        description="The age past which prices count as stale (setting `STALE_AFTER_MINUTES`)"
    )
    last_sync: SyncRunBrief | None = Field(
        description="The most recently started run that stores prices (prices, history or "
        "backfill; running ones included); null when none is on record"
    )
    last_success_at: datetime | None = Field(
        description="When the most recently started run of those kinds that succeeded "
        "finished (a `partial` run does not count); null when none is on record (runs are "
        "pruned after `TASK_RUN_RETENTION_DAYS`)"
    )
