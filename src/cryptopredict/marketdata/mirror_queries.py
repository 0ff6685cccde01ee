"""Checked requests of the CoinGecko-compatible mirror, and the errors it answers with.

Parameters arrive as raw strings and are checked here, so a bad value gets CoinGecko's error
body rather than FastAPI's validation error. Errors, as `MirrorRequestError(status, message)`,
leave as `{"error": message}`:

    404  coin not found             unknown coin id
    400  invalid vs_currency        a quote currency other than usd (/coins/markets,
                                    market_chart, ohlc)
    422  Missing parameter <name>   a required parameter is absent or blank
    400  invalid <parameter>        any other refused value, a control character in it
                                    included (404 coin not found for one in the path)

The first three are CoinGecko's bodies and statuses as quoted from live calls in public
client code and reports (its OpenAPI spec documents no error bodies); the last applies the
same pattern where CoinGecko's exact text is not known. The routes declare as required the
parameters CoinGecko requires, so the OpenAPI document says so, `validation_refusal` turns
FastAPI's presence check into the 422 above, and `coingecko_error_responses` documents each
status in this shape. Each checked request is a frozen value whose fields make its cache key.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from typing import Any

import orjson
from pydantic import BaseModel, Field

from cryptopredict.coins.schemas import CatalogueOrder
from cryptopredict.core.timegrid import ONE_DAY
from cryptopredict.core.validation import INT8_MAX, Loc, clamp_epoch_seconds, clamp_instant
from cryptopredict.marketdata.coingecko_format import MAX_PER_PAGE, OHLC_DAYS
from cryptopredict.prices.types import Interval

CURRENCY = "usd"
HOUR = dt.timedelta(hours=1)
MAX_DAYS = 36_500  # more days than any coin has existed: read as "max"
MAX_IDS = 1_000
DEFAULT_PER_PAGE = 100
MAX_PAGE = INT8_MAX // MAX_PER_PAGE
"""The last page whose rows (offset plus limit) a 64-bit SQL OFFSET/LIMIT can still address."""

PRICE_CHANGE_PERIODS = {
    "1h": HOUR,
    "24h": ONE_DAY,
    "7d": 7 * ONE_DAY,
    "14d": 14 * ONE_DAY,
    "30d": 30 * ONE_DAY,
    "200d": 200 * ONE_DAY,
    "1y": 365 * ONE_DAY,
}
MARKET_ORDERS = {
    "market_cap_desc": CatalogueOrder.RANK,
    "market_cap_asc": CatalogueOrder.RANK_DESC,
    "id_asc": CatalogueOrder.ID,
    "id_desc": CatalogueOrder.ID_DESC,
    "volume_desc": CatalogueOrder.ID,
    "volume_asc": CatalogueOrder.ID,
}
CHART_INTERVALS = {"daily": Interval.DAY, "hourly": Interval.HOUR}


# ---- errors -----------------------------------------------------------------------------


class MirrorRequestError(Exception):
    """A failure answered with CoinGecko's status and `{"error": message}` body."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message

    @property
    def body(self) -> dict[str, str]:
        """CoinGecko's error body."""
        return {"error": self.message}


def missing(name: str) -> MirrorRequestError:
    """A required parameter is absent."""
    return MirrorRequestError(422, f"Missing parameter {name}")


def invalid(name: str) -> MirrorRequestError:
    """A parameter has a value CoinGecko would refuse."""
    return MirrorRequestError(400, f"invalid {name}")


def coin_not_found() -> MirrorRequestError:
    """The coin id is not in our catalogue."""
    return MirrorRequestError(404, "coin not found")


def control_character_refusal(loc: Loc) -> tuple[int, dict[str, Any]]:
    """CoinGecko's answer to a control character in the URL (see `core.validation`): the
    only variable path segment is a coin id, which then names no coin."""
    if loc[0] == "path":
        error = coin_not_found()
    else:
        error = invalid(str(loc[1]) if len(loc) > 1 else "parameter")
    return error.status_code, error.body


def validation_refusal(errors: Sequence[Mapping[str, Any]]) -> MirrorRequestError:
    """FastAPI's check of the declared parameters in CoinGecko's terms: the first required
    one absent (in declaration order) is missing, any other failure an invalid value."""
    first = errors[0] if errors else {}
    loc = first.get("loc") or ("query", "parameter")
    name = str(loc[-1])
    return missing(name) if first.get("type") == "missing" else invalid(name)


class CoinGeckoError(BaseModel):
    """CoinGecko's error body: every refusal of a mirror route has this shape."""

    error: str = Field(examples=["coin not found"])


_ERROR_DESCRIPTIONS: dict[int | str, str] = {
    400: "`invalid <parameter>`: a refused value (a control character included)",
    404: "`coin not found`: no coin has this id",
    422: "`Missing parameter <name>`: a required parameter is absent or blank",
    503: "The database is unavailable; try again shortly",
    "4XX": "Any other refusal, in the same shape",
}


def coingecko_error_responses(*statuses: int | str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting these statuses in CoinGecko's error shape."""
    return {
        status: {"model": CoinGeckoError, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


# ---- parameters -------------------------------------------------------------------------


def _required(value: str | None, name: str) -> str:
    """The stripped value, or CoinGecko's missing-parameter error."""
    if value is None or not value.strip():
        raise missing(name)
    return value.strip()


def _flag(value: str | None) -> bool:
    """CoinGecko's booleans: only `true` switches an option on."""
    return value is not None and value.strip().lower() == "true"


def _names(value: str) -> tuple[str, ...]:
    """Distinct lower-cased names of a comma-separated list, sorted: the order they are asked
    in changes no answer's content, so every spelling of one request shares a cache key."""
    return tuple(sorted({part.strip().lower() for part in value.split(",") if part.strip()}))


def _ids(value: str) -> tuple[str, ...]:
    """Distinct coin ids of a comma-separated list (`_names`), at most `MAX_IDS`."""
    ids = _names(value)
    if len(ids) > MAX_IDS:
        raise invalid("ids")
    return ids


def _precision(value: str | None) -> int | None:
    """Decimal places for prices: None keeps full precision (`full` or absent)."""
    if value is None or value.strip() in ("", "full"):
        return None
    text = value.strip()
    # ASCII digits only: `isdigit` is true for `²`, which `int` refuses.
    if text.isascii() and text.isdigit() and int(text) <= 18:
        return int(text)
    raise invalid("precision")


def _usd(value: str | None) -> None:
    """Only USD is stored: any other quote currency is refused as CoinGecko refuses one."""
    if _required(value, "vs_currency").lower() != CURRENCY:
        raise invalid("vs_currency")


def _integer(value: str | None, name: str, default: int) -> int:
    """An integer parameter, or the default when absent."""
    if value is None or not value.strip():
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise invalid(name) from None


def _page(value: str | None) -> int:
    """The page number, 1 or more (as CoinGecko reads 0 or less), up to `MAX_PAGE`."""
    number = max(_integer(value, "page", 1), 1)
    if number > MAX_PAGE:
        raise invalid("page")
    return number


def _instant(value: str | None, name: str) -> dt.datetime:
    """A UNIX timestamp in seconds (or an ISO date/time, read as UTC) as an aware instant,
    clamped to the API's instant range: `to=9999999999` is a common way to say "up to now"."""
    text = _required(value, name)
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    try:
        if seconds is not None:
            if not math.isfinite(seconds):
                raise ValueError(text)
            return clamp_epoch_seconds(seconds)
        return clamp_instant(dt.datetime.fromisoformat(text))
    except ValueError:
        raise invalid(name) from None


def _cache_key(query: Any) -> str:
    """An unambiguous cache key from a checked request's fields (JSON-encoded, so no id or
    value containing a separator can make two requests share a key)."""
    return f"coingecko:{type(query).__name__}:{orjson.dumps(astuple(query)).decode()}"


def _chart_interval(value: str | None) -> Interval | None:
    """`daily` or `hourly` force a grid; absent or empty means CoinGecko's automatic one."""
    if value is None or not value.strip():
        return None
    interval = CHART_INTERVALS.get(value.strip().lower())
    if interval is None:
        raise invalid("interval")
    return interval


# ---- requests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimplePriceQuery:
    """A checked `/simple/price` request."""

    ids: tuple[str, ...]
    vs_currencies: tuple[str, ...]
    include_market_cap: bool
    include_24hr_vol: bool
    include_24hr_change: bool
    include_last_updated_at: bool
    precision: int | None

    @classmethod
    def parse(
        cls,
        *,
        ids: str | None,
        vs_currencies: str | None,
        include_market_cap: str | None,
        include_24hr_vol: str | None,
        include_24hr_change: str | None,
        include_last_updated_at: str | None,
        precision: str | None,
    ) -> SimplePriceQuery:
        """Check the raw parameters (vs_currencies first, as CoinGecko requires it)."""
        currencies = _required(vs_currencies, "vs_currencies")
        return cls(
            ids=_ids(_required(ids, "ids")),
            vs_currencies=_names(currencies),
            include_market_cap=_flag(include_market_cap),
            include_24hr_vol=_flag(include_24hr_vol),
            include_24hr_change=_flag(include_24hr_change),
            include_last_updated_at=_flag(include_last_updated_at),
            precision=_precision(precision),
        )

    @property
    def cache_key(self) -> str:
        """Every field of the checked request, so each distinct body has its own key."""
        return _cache_key(self)


@dataclass(frozen=True, slots=True)
class CoinsListQuery:
    """A checked `/coins/list` request."""

    include_platform: bool
    active: bool

    @classmethod
    def parse(cls, *, include_platform: str | None, status: str | None) -> CoinsListQuery:
        """`status` is `active` (default) or `inactive`."""
        state = (status or "active").strip().lower() or "active"
        if state not in ("active", "inactive"):
            raise invalid("status")
        return cls(include_platform=_flag(include_platform), active=state == "active")

    @property
    def cache_key(self) -> str:
        """Every field of the checked request, so each distinct body has its own key."""
        return _cache_key(self)


@dataclass(frozen=True, slots=True)
class MarketsQuery:
    """A checked `/coins/markets` request (extra price-change periods, unknown ones dropped,
    in `PRICE_CHANGE_PERIODS` order)."""

    ids: tuple[str, ...] | None
    order: str
    per_page: int
    page: int
    sparkline: bool
    price_change_percentage: tuple[str, ...]
    precision: int | None
    category: str | None

    @classmethod
    def parse(
        cls,
        *,
        vs_currency: str | None,
        ids: str | None,
        category: str | None,
        order: str | None,
        per_page: str | None,
        page: str | None,
        sparkline: str | None,
        price_change_percentage: str | None,
        precision: str | None,
    ) -> MarketsQuery:
        """Check the raw parameters; `per_page` is held to 1-250 and `page` to 1 or more;
        a page beyond any stored row a 64-bit offset can reach is refused."""
        _usd(vs_currency)
        sort = (order or "market_cap_desc").strip().lower() or "market_cap_desc"
        if sort not in MARKET_ORDERS:
            raise invalid("order")
        asked = set(_names(price_change_percentage or ""))
        periods = tuple(period for period in PRICE_CHANGE_PERIODS if period in asked)
        return cls(
            ids=_ids(ids) if ids is not None and ids.strip() else None,
            order=sort,
            per_page=min(max(_integer(per_page, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE),
            page=_page(page),
            sparkline=_flag(sparkline),
            price_change_percentage=periods,
            precision=_precision(precision),
            category=category.strip() if category and category.strip() else None,
        )

    @property
    def cache_key(self) -> str:
        """Every field of the checked request, so each distinct body has its own key."""
        return _cache_key(self)


@dataclass(frozen=True, slots=True)
class ChartQuery:
    """A checked market-chart request: the last `days` (None: all) before the request, or
    the absolute range [start, end] when `start` is set (a cached relative chart lags the
    clock by at most the cache's TTL)."""

    coin: str
    days: float | None
    start: dt.datetime | None
    end: dt.datetime | None
    interval: Interval | None
    precision: int | None

    @classmethod
    def parse_days(
        cls,
        *,
        coin: str,
        vs_currency: str | None,
        days: str | None,
        interval: str | None,
        precision: str | None,
    ) -> ChartQuery:
        """`days` is a positive number (fractions allowed, as CoinGecko) or `max`."""
        _usd(vs_currency)
        text = _required(days, "days").lower()
        count: float | None
        if text == "max":
            count = None
        else:
            try:
                count = float(text)
            except ValueError:
                raise invalid("days") from None
            if not math.isfinite(count) or count <= 0:
                raise invalid("days")
            if count > MAX_DAYS:
                count = None
        return cls(
            coin=coin.lower(),
            days=count,
            start=None,
            end=None,
            interval=_chart_interval(interval),
            precision=_precision(precision),
        )

    @classmethod
    def parse_range(
        cls,
        *,
        coin: str,
        vs_currency: str | None,
        start: str | None,
        end: str | None,
        interval: str | None,
        precision: str | None,
    ) -> ChartQuery:
        """`from` and `to` are UNIX seconds (ISO dates accepted too); an inverted range is
        empty, not an error."""
        _usd(vs_currency)
        return cls(
            coin=coin.lower(),
            days=None,
            start=_instant(start, "from"),
            end=_instant(end, "to"),
            interval=_chart_interval(interval),
            precision=_precision(precision),
        )

    @property
    def cache_key(self) -> str:
        """Every field of the checked request, so each distinct body has its own key."""
        return _cache_key(self)

    def window(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
        """[start, end] of the request; start None means from the first stored point."""
        if self.start is not None and self.end is not None:
            return self.start, self.end
        if self.days is None:
            return None, now
        return now - dt.timedelta(days=self.days), now


@dataclass(frozen=True, slots=True)
class OhlcQuery:
    """A checked `/coins/{id}/ohlc` request; `days` None means `max`."""

    coin: str
    days: int | None
    precision: int | None

    @classmethod
    def parse(
        cls, *, coin: str, vs_currency: str | None, days: str | None, precision: str | None
    ) -> OhlcQuery:
        """`days` is one of CoinGecko's values: 1, 7, 14, 30, 90, 180, 365 or max."""
        _usd(vs_currency)
        text = _required(days, "days").lower()
        if text not in OHLC_DAYS:
            raise invalid("days")
        return cls(
            coin=coin.lower(),
            days=None if text == "max" else int(text),
            precision=_precision(precision),
        )

    @property
    def cache_key(self) -> str:
        """Every field of the checked request, so each distinct body has its own key."""
        return _cache_key(self)
