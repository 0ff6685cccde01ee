"""Typed, strict models of the CoinGecko v3 responses we use, so bad payloads stop here.

Validation is strict: numbers must be JSON numbers (no "1.5" strings, no NaN), keys that
CoinGecko always sends must be present (their values may be null where CoinGecko sends
null), timestamps become timezone-aware UTC datetimes. Unknown extra keys are ignored:
CoinGecko adds fields over time and that alone is no reason to distrust a payload.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, TypeAdapter

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
