"""The async CoinGecko v3 client: typed answers, polite pacing, and retries only where they help.

Every HTTP attempt goes: circuit breaker check -> rate-limit token -> request -> classify.
Timeouts, connection errors and 5xx are retried with exponential backoff and full jitter;
a 429 waits CoinGecko's Retry-After (and holds back every process sharing the limiter)
before retrying; other 4xx and malformed payloads are never retried. See
`cryptopredict.marketdata.exceptions` for what each failure raises. The API key travels in
a header only and is never logged or shown in a repr.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from cryptopredict import __version__
from cryptopredict.core import instruments
from cryptopredict.core.config import Settings
from cryptopredict.marketdata import schemas
from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.coingecko_format import KEY_HEADERS, MAX_PER_PAGE
from cryptopredict.marketdata.exceptions import (
    CircuitOpenError,
    CoinGeckoError,
    MalformedResponseError,
    RateLimitedByUpstreamError,
    RateLimitWaitExceededError,
    TemporaryError,
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamConnectionError,
    UpstreamNotFoundError,
    UpstreamServerError,
    UpstreamTimeoutError,
)
from cryptopredict.marketdata.ratelimit import RateLimiter
from cryptopredict.marketdata.schemas import (
    ChartColumns,
    CoinListEntry,
    MarketChart,
    MarketEntry,
    OhlcCandle,
    Ping,
    SimplePrice,
    Trending,
)

logger = logging.getLogger(__name__)

OUTCOMES: tuple[tuple[type[CoinGeckoError], instruments.CoinGeckoOutcome], ...] = (
    (RateLimitedByUpstreamError, "rate_limited"),
    (UpstreamTimeoutError, "timeout"),
    (UpstreamConnectionError, "connection_error"),
    (UpstreamServerError, "server_error"),
    (UpstreamAuthError, "auth_error"),
    (UpstreamNotFoundError, "not_found"),
    (UpstreamClientError, "client_error"),
    (MalformedResponseError, "malformed"),
)
"""The outcome label of each failure of a sent request, subclasses before their bases."""

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Decoder(Protocol[T_co]):
    """What turns a body into a model: a pydantic `TypeAdapter`, or a decoder with the same
    `validate_json` that raises `ValidationError` for a malformed body."""

    def validate_json(self, data: bytes, /) -> T_co:
        """The validated model of a JSON body."""
        ...


MarketsOrder = Literal[
    "market_cap_desc", "market_cap_asc", "volume_desc", "volume_asc", "id_asc", "id_desc"
]
Days = int | Literal["max"]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _days(days: Days) -> str:
    if days == "max":
        return "max"
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("days must be a positive integer or 'max'")
    return str(days)


def _unix_seconds(moment: datetime, *, round_up: bool) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("market_chart_range needs timezone-aware datetimes (UTC)")
    seconds = moment.timestamp()
    return math.ceil(seconds) if round_up else math.floor(seconds)


def _range_params(start: datetime, end: datetime, vs_currency: str) -> dict[str, str]:
    """`market_chart/range` parameters: whole seconds covering [start, end]."""
    return {
        "vs_currency": vs_currency,
        "from": str(_unix_seconds(start, round_up=False)),
        "to": str(_unix_seconds(end, round_up=True)),
    }


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if usable."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    date_header = response.headers.get("date")
    try:
        now = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        now = None
    if now is None or when.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _error_detail(response: httpx.Response) -> tuple[str, int | None]:
    """CoinGecko's message and code from any of its error shapes, or a note on the body."""
    try:
        data: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        return f"non-JSON body ({kind}, {len(response.content)} bytes)", None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]
    if isinstance(data, dict):
        status = data.get("status")
        if isinstance(status, dict):
            code = status.get("error_code")
            message = str(status.get("error_message", ""))
            return message, code if isinstance(code, int) else None
        if isinstance(data.get("error"), str):
            return str(data["error"]), None
    return "unrecognised error body", None


def _reason(exc: ValidationError) -> str:
    """The first few problems pydantic found, short enough for one log line."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "<body>"
        parts.append(f"{where}: {error['msg']}")
    extra = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{extra} more)" if extra > 0 else "")


class CoinGeckoClient:
    """CoinGecko v3 over HTTP, paced by a (shared) rate limiter and guarded by a breaker.

    `calls_made` counts HTTP requests actually sent (retries included; calls refused by the
    breaker or never sent are not), which is what CoinGecko bills and SyncRun records.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_base_seconds: float = 1.0,
    ) -> None:
        self.settings = settings
        self.root = settings.coingecko_root
        self.limiter = limiter if limiter is not None else RateLimiter.from_settings(settings)
        self.breaker = breaker if breaker is not None else CircuitBreaker.from_settings(settings)
        self._owns_guards = limiter is None, breaker is None
        self._sleep = sleep
        self._backoff = wait_random_exponential(
            multiplier=backoff_base_seconds, max=settings.coingecko_max_backoff_seconds
        )
        self.calls_made = 0
        headers = {"accept": "application/json", "user-agent": f"cryptopredict/{__version__}"}
        if settings.coingecko_api_key is not None:
            key = settings.coingecko_api_key.get_secret_value()
            if key:
                headers[KEY_HEADERS[settings.coingecko_key_type]] = key
        self._http = httpx.AsyncClient(
            base_url=self.root + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.coingecko_timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        keyed = "with" if self.settings.coingecko_api_key else "without"
        return f"<CoinGeckoClient {self.root} {self.settings.coingecko_key_type} {keyed} key>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (and the limiter's and breaker's, if created here)."""
        await self._http.aclose()
        owns_limiter, owns_breaker = self._owns_guards
        if owns_limiter:
            await self.limiter.aclose()
        if owns_breaker:
            await self.breaker.aclose()

    # ---- plumbing -------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After for a 429 that gave one, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedByUpstreamError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _should_retry(self, exc: BaseException) -> bool:
        """Temporary failures only, and not a 429 asking for a longer pause than we allow."""
        if isinstance(exc, RateLimitedByUpstreamError) and exc.retry_after is not None:
            return exc.retry_after <= self.settings.coingecko_max_backoff_seconds
        return isinstance(exc, TemporaryError)

    def _log_retry(self, endpoint: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "CoinGecko %s failed (%s: %s); attempt %d of %d, retrying in %.2fs",
            endpoint,
            type(exc).__name__,
            exc,
            state.attempt_number,
            self.settings.coingecko_max_retries + 1,
            delay,
        )

    async def _get(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        adapter: Decoder[T],
    ) -> T:
        """One logical call: attempts with retries, returning the validated model."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.coingecko_max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(endpoint, state),
            reraise=True,
        )
        result: T | None = None
        async for attempt in retrying:
            with attempt:
                result = await self._attempt(endpoint, path, params, adapter)
        assert result is not None  # noqa: S101 - reraise=True: the loop either set it or raised
        return result

    async def _attempt(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        adapter: Decoder[T],
    ) -> T:
        """Breaker, token, request, classification, and the breaker told what happened."""
        try:
            await self.breaker.check()
        except CircuitOpenError:
            instruments.coingecko_refused("circuit_open")
            raise
        try:
            await self.limiter.acquire()
            result = await self._exchange(endpoint, path, params, adapter)
        except (
            UpstreamTimeoutError,
            UpstreamConnectionError,
            UpstreamServerError,
            MalformedResponseError,
        ):
            await self.breaker.record_failure()
            raise
        except UpstreamClientError:
            await self.breaker.record_success()  # it answered; the request was at fault
            raise
        except BaseException as exc:  # 429, cancellation, limiter refusal: no verdict on it
            if isinstance(exc, RateLimitWaitExceededError):
                instruments.coingecko_refused("rate_limit_wait")
            await self.breaker.release()
            raise
        await self.breaker.record_success()
        return result

    async def _exchange(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        adapter: Decoder[T],
    ) -> T:
        """Send one request, counted by how it ended, and timed."""
        self.calls_made += 1
        outcome: instruments.CoinGeckoOutcome = "cancelled"
        began = time.perf_counter()
        try:
            result = await self._send(endpoint, path, params, adapter)
        except CoinGeckoError as exc:
            outcome = next((label for kind, label in OUTCOMES if isinstance(exc, kind)), outcome)
            raise
        else:
            outcome = "ok"
            return result
        finally:
            instruments.coingecko_request(endpoint, outcome, time.perf_counter() - began)

    async def _send(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        adapter: Decoder[T],
    ) -> T:
        """Send one request and turn the answer into a model or one of our exceptions."""
        try:
            response = await self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(
                f"CoinGecko {endpoint}: no answer within "
                f"{self.settings.coingecko_timeout_seconds}s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(
                f"CoinGecko {endpoint}: connection failed ({type(exc).__name__}: {exc})"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            return self._parse(endpoint, response, adapter)
        message, code = _error_detail(response)
        text = f"CoinGecko {endpoint}: HTTP {status}: {message}"
        if status == 429:
            delay = _retry_after(response)
            if delay is not None:
                await self.limiter.penalize(delay)
            raise RateLimitedByUpstreamError(text, retry_after=delay)
        if status == 408:
            raise UpstreamTimeoutError(text)
        if status >= 500:
            raise UpstreamServerError(text, status_code=status)
        if status in (401, 403):
            raise UpstreamAuthError(text, status_code=status, error_code=code)
        if status == 404:
            raise UpstreamNotFoundError(text, status_code=status, error_code=code)
        raise UpstreamClientError(text, status_code=status, error_code=code)

    def _parse(self, endpoint: str, response: httpx.Response, adapter: Decoder[T]) -> T:
        """Validate the body; a payload that does not fit is logged and never returned."""
        body = response.content
        try:
            return adapter.validate_json(body)
        except ValidationError as exc:
            reason = _reason(exc)
            logger.warning(
                "CoinGecko %s: rejected malformed payload (%s); %d bytes of %s starting %r",
                endpoint,
                reason,
                len(body),
                response.headers.get("content-type", "unknown type"),
                body[:80],
            )
            raise MalformedResponseError(
                f"CoinGecko {endpoint}: malformed payload: {reason}",
                endpoint=endpoint,
                reason=reason,
            ) from None

    # ---- endpoints ------------------------------------------------------------------------

    async def ping(self) -> Ping:
        """Check that CoinGecko answers.

        Returns:
            CoinGecko's greeting.

        Raises:
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        return await self._get("/ping", "ping", {}, schemas.PING)

    async def coins_list(self, include_platform: bool = False) -> list[CoinListEntry]:
        """Every coin CoinGecko knows: id, symbol, name (about 17 000 rows, one call).

        Args:
            include_platform: also return each token's contract addresses by platform.

        Returns:
            One entry per coin, in CoinGecko's order.

        Raises:
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        params = {"include_platform": _flag(include_platform)}
        return await self._get("/coins/list", "coins/list", params, schemas.COINS_LIST)

    async def coins_markets(
        self,
        vs_currency: str = "usd",
        ids: Sequence[str] | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
        order: MarketsOrder = "market_cap_desc",
    ) -> list[MarketEntry]:
        """Latest price, market cap, volume and 24 h change for up to 250 coins per call.

        Args:
            vs_currency: the quote currency, e.g. "usd".
            ids: restrict to these CoinGecko ids; None for all coins.
            page: 1-based page of `per_page` coins in `order`.
            per_page: coins per page, 1 to 250.
            order: sort order, CoinGecko's names.

        Returns:
            The page's coins; an empty list past the last page.

        Raises:
            ValueError: `page` or `per_page` out of range.
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            raise ValueError(f"per_page must be 1..{MAX_PER_PAGE} and page >= 1")
        params = {
            "vs_currency": vs_currency,
            "order": order,
            "per_page": str(per_page),
            "page": str(page),
        }
        if ids is not None:
            params["ids"] = ",".join(ids)
        return await self._get("/coins/markets", "coins/markets", params, schemas.MARKETS)

    async def simple_price(
        self,
        ids: Sequence[str],
        vs_currencies: Sequence[str] = ("usd",),
        include_market_cap: bool = False,
        include_24hr_vol: bool = False,
        include_24hr_change: bool = False,
        include_last_updated_at: bool = False,
    ) -> SimplePrice:
        """Current prices of several coins in several currencies, in one call.

        Args:
            ids: CoinGecko coin ids.
            vs_currencies: quote currencies, e.g. ("usd", "eur").
            include_market_cap: add `<vs>_market_cap`.
            include_24hr_vol: add `<vs>_24h_vol`.
            include_24hr_change: add `<vs>_24h_change` (percent).
            include_last_updated_at: add `last_updated_at` (Unix seconds).

        Returns:
            The mapping CoinGecko sent; `SimplePrice.quote(id, vs)` gives a typed view.
            Unknown ids are simply absent.

        Raises:
            ValueError: no ids or no currencies.
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        if not ids or not vs_currencies:
            raise ValueError("simple_price needs at least one id and one currency")
        params = {
            "ids": ",".join(ids),
            "vs_currencies": ",".join(vs_currencies),
            "include_market_cap": _flag(include_market_cap),
            "include_24hr_vol": _flag(include_24hr_vol),
            "include_24hr_change": _flag(include_24hr_change),
            "include_last_updated_at": _flag(include_last_updated_at),
        }
        return await self._get("/simple/price", "simple/price", params, schemas.SIMPLE_PRICE)

    async def market_chart(
        self,
        coin_id: str,
        days: Days,
        vs_currency: str = "usd",
        interval: Literal["daily", "hourly"] | None = None,
    ) -> MarketChart:
        """Price, market cap and volume series for the last `days` days.

        CoinGecko picks the granularity: 5-minute points for 1 day, hourly for 2 to 90
        days, daily (00:00 UTC) beyond; the last point is the live value. A Demo key
        reaches 365 days back at most (older ranges answer 401).

        Args:
            coin_id: CoinGecko id, e.g. "bitcoin".
            days: how far back, or "max".
            vs_currency: the quote currency.
            interval: force "daily" (or, on paid plans, "hourly") points.

        Returns:
            The three series, timestamps as UTC datetimes.

        Raises:
            ValueError: `days` not a positive integer or "max".
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`
                (`UpstreamNotFoundError` for an unknown coin).
        """
        params = {"vs_currency": vs_currency, "days": _days(days)}
        if interval is not None:
            params["interval"] = interval
        path = f"coins/{quote(coin_id, safe='')}/market_chart"
        return await self._get("/coins/{id}/market_chart", path, params, schemas.MARKET_CHART_FAST)

    async def market_chart_range(
        self,
        coin_id: str,
        start: datetime,
        end: datetime,
        vs_currency: str = "usd",
    ) -> MarketChart:
        """Price, market cap and volume series between two instants.

        Granularity follows the span: up to 1 day 5-minute points, up to 90 days hourly,
        beyond that daily.

        Args:
            coin_id: CoinGecko id.
            start: first instant, timezone-aware (rounded down to the second).
            end: last instant, timezone-aware (rounded up to the second).
            vs_currency: the quote currency.

        Returns:
            The three series within [start, end].

        Raises:
            ValueError: naive datetimes.
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        params = _range_params(start, end, vs_currency)
        path = f"coins/{quote(coin_id, safe='')}/market_chart/range"
        return await self._get(
            "/coins/{id}/market_chart/range", path, params, schemas.MARKET_CHART_FAST
        )

    async def market_chart_range_columns(
        self,
        coin_id: str,
        start: datetime,
        end: datetime,
        vs_currency: str = "usd",
    ) -> ChartColumns:
        """`market_chart_range` as arrays, for bulk writers: the same request and the same
        validation, without an object per point.

        Args:
            coin_id: CoinGecko id.
            start: first instant, timezone-aware (rounded down to the second).
            end: last instant, timezone-aware (rounded up to the second).
            vs_currency: the quote currency.

        Returns:
            The three series within [start, end], instants in Unix microseconds.

        Raises:
            ValueError: naive datetimes.
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        params = _range_params(start, end, vs_currency)
        path = f"coins/{quote(coin_id, safe='')}/market_chart/range"
        return await self._get(
            "/coins/{id}/market_chart/range", path, params, schemas.MARKET_CHART_COLUMNS
        )

    async def ohlc(self, coin_id: str, days: Days, vs_currency: str = "usd") -> list[OhlcCandle]:
        """OHLC candles for the last `days` days, each stamped at its close time.

        Candle width follows `days`: 1-2 days 30 minutes, 3-30 days 4 hours, 31 and more
        4 days. CoinGecko documents days = 1, 7, 14, 30, 90, 180, 365 or "max".

        Args:
            coin_id: CoinGecko id.
            days: how far back, or "max".
            vs_currency: the quote currency.

        Returns:
            Candles in time order.

        Raises:
            ValueError: `days` not a positive integer or "max".
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        params = {"vs_currency": vs_currency, "days": _days(days)}
        path = f"coins/{quote(coin_id, safe='')}/ohlc"
        return await self._get("/coins/{id}/ohlc", path, params, schemas.OHLC)

    async def trending(self) -> Trending:
        """The coins, NFTs and categories most searched on CoinGecko in the last 24 hours.

        Returns:
            CoinGecko's trending lists.

        Raises:
            CoinGeckoError: any failure from `cryptopredict.marketdata.exceptions`.
        """
        return await self._get("/search/trending", "search/trending", {}, schemas.TRENDING)
