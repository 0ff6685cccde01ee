"""A fake CoinGecko v3 over real HTTP, so the client, sync and benchmarks never need the internet.

It answers in CoinGecko's exact shapes, from real data:

* `/ping`, `/coins/list`, `/coins/markets`, `/search/trending` come from responses recorded
  from the real API (`shared/data/coingecko/`, see SOURCES.md there); the coins that have a
  price CSV are patched so their current price is the CSV's close at the fake's clock.
  Without recordings the catalogue bundled in `cryptopredict.snapshot` stands in.
* `/simple/price`, `/coins/{id}/market_chart`, `/coins/{id}/market_chart/range` and
  `/coins/{id}/ohlc` are built from the daily price CSVs (the bundled snapshot by default).
  Following CoinGecko, the daily point stamped D 00:00 UTC is the close of day D-1. Finer
  points (5-minute, hourly; CoinGecko's automatic granularity) are linear interpolations
  between those daily closes: deterministic, shape-faithful fake data made from real
  closes, not real intraday prices. Unknown volume or market cap is served as 0, as
  CoinGecko does for early history. 4-day candles are real daily OHLC aggregated; 30-minute
  and 4-hour candles come from the interpolated path.

The fake's "now" is a fixed clock (default: the day after the last CSV day, 00:00 UTC) so
that `days=365` lands inside the data. Demo-key rules are enforced: with `require_key` a
request without `x-cg-demo-api-key`/`x-cg-pro-api-key` gets CoinGecko's 401 (10002), and a
Demo key asking for more than 365 days of history gets CoinGecko's 401 (10012).

Faults are switched on through `FakeCoinGecko.faults` (thread-safe): 429 with Retry-After
(JSON or Cloudflare-style HTML), 5xx bursts, responses slower than a client's timeout,
truncated or garbage or wrong-shaped JSON, and 401. Every request is logged (method, path,
query, headers without API keys, arrival time) so tests can count calls.
"""

from __future__ import annotations

import asyncio
import csv
import math
import os
import socket
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cryptopredict.snapshot import PRICES_DIR, load_coin_catalogue, snapshot_price_files

API_PREFIX = "/api/v3"
RECORDINGS_ENV = "CRYPTOPREDICT_FAKE_COINGECKO_RECORDINGS"
DEMO_HISTORY_DAYS = 365
FIVE_MINUTES_MS = 5 * 60 * 1000
HOUR_MS = 60 * 60 * 1000
DAY_MS = 24 * HOUR_MS
OHLC_DAYS = ("1", "7", "14", "30", "90", "180", "365", "max")
MARKETS_ORDERS = (
    "market_cap_desc",
    "market_cap_asc",
    "volume_desc",
    "volume_asc",
    "id_asc",
    "id_desc",
)
KEY_HEADERS = {"x-cg-demo-api-key": "demo", "x-cg-pro-api-key": "pro"}
KEY_QUERY = {"x_cg_demo_api_key": "demo", "x_cg_pro_api_key": "pro"}
JSON_TYPE = "application/json; charset=utf-8"

PING_BODY = {"gecko_says": "(V3) To the Moon!"}
RATE_LIMIT_BODY = (
    b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit. Please visit'
    b" https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate"
    b' limits."}}'
)
RATE_LIMIT_HTML = (
    b"<!DOCTYPE html><html><head><title>Access denied | api.coingecko.com used Cloudflare to"
    b" restrict access</title></head><body><h1>Error 1015</h1><h2>You are being rate limited"
    b"</h2></body></html>"
)
GATEWAY_HTML = (
    b"<html><head><title>%d</title></head><body><center><h1>%d</h1></center></body></html>"
)
KEY_MISSING_MESSAGE = (
    "API Key Missing. Please make sure you're using the right authentication method. "
    "For more information, please refer to our documentation."
)
HISTORY_LIMIT_MESSAGE = (
    "Your request exceeds the allowed time range. Public API users are limited to querying "
    "historical data within the past 365 days. Upgrade to a paid plan to enjoy full "
    "historical data access: https://www.coingecko.com/en/api/pricing. "
)


# ---- data ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One CSV row: a UTC day's OHLC, volume and market cap (None where unknown)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    market_cap: float | None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _day_ms(day: date) -> int:
    return _ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


def read_price_csv(path: Path) -> list[DailyRow]:
    """Rows of a `date,open,high,low,close,volume,market_cap` file, in date order."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [
            DailyRow(
                day=date.fromisoformat(raw["date"]),
                open=float(raw["open"]),
                high=float(raw["high"]),
                low=float(raw["low"]),
                close=float(raw["close"]),
                volume=_optional_float(raw.get("volume") or ""),
                market_cap=_optional_float(raw.get("market_cap") or ""),
            )
            for raw in csv.DictReader(handle)
        ]
    rows.sort(key=lambda row: row.day)
    if not rows:
        raise ValueError(f"{path} has no rows")
    return rows


@dataclass(frozen=True, slots=True, eq=False)
class PriceSeries:
    """One coin's daily anchors in CoinGecko's convention: D+1 00:00 UTC carries D's close."""

    coin_id: str
    rows: tuple[DailyRow, ...]
    row_starts: tuple[int, ...]
    times: tuple[int, ...]
    prices: tuple[float, ...]
    market_caps: tuple[float, ...]
    volumes: tuple[float, ...]

    @classmethod
    def from_rows(cls, coin_id: str, rows: list[DailyRow]) -> PriceSeries:
        """Anchor each row's close at the next midnight, as CoinGecko stamps daily points."""
        return cls(
            coin_id=coin_id,
            rows=tuple(rows),
            row_starts=tuple(_day_ms(row.day) for row in rows),
            times=tuple(_day_ms(row.day) + DAY_MS for row in rows),
            prices=tuple(row.close for row in rows),
            market_caps=tuple(row.market_cap or 0.0 for row in rows),
            volumes=tuple(row.volume or 0.0 for row in rows),
        )

    @property
    def first_ms(self) -> int:
        """The earliest instant with a value."""
        return self.times[0]

    @property
    def last_ms(self) -> int:
        """The latest instant with a value."""
        return self.times[-1]

    def _interpolate(self, values: tuple[float, ...], at: int) -> float:
        index = bisect_left(self.times, at)
        if index < len(self.times) and self.times[index] == at:
            return values[index]
        if index == 0:
            return values[0]
        if index >= len(self.times):
            return values[-1]
        t0, t1 = self.times[index - 1], self.times[index]
        weight = (at - t0) / (t1 - t0)
        return values[index - 1] + (values[index] - values[index - 1]) * weight

    def price_at(self, at: int) -> float:
        """The (interpolated) price at `at` ms."""
        return self._interpolate(self.prices, at)

    def volume_at(self, at: int) -> float:
        """The (interpolated) 24 h volume at `at` ms."""
        return self._interpolate(self.volumes, at)

    def chart(self, start: int, end: int, step: int, now: int) -> dict[str, list[list[float]]]:
        """CoinGecko's market_chart body for [start, end] on a `step` grid, plus the live
        point at `now` when the range reaches it."""
        low = max(start, self.first_ms)
        high = min(end, now, self.last_ms)
        instants: list[int] = []
        if low <= high:
            first = -(-low // step) * step
            instants = list(range(first, high + 1, step))
            if end >= now and now <= self.last_ms and (not instants or instants[-1] != now):
                instants.append(now)
        return {
            "prices": [[t, self._interpolate(self.prices, t)] for t in instants],
            "market_caps": [[t, self._interpolate(self.market_caps, t)] for t in instants],
            "total_volumes": [[t, self._interpolate(self.volumes, t)] for t in instants],
        }

    def candles(self, width: int, start: int, now: int) -> list[list[float]]:
        """OHLC candles of `width` ms closing in (start, now], stamped at their close."""
        end = min(now, self.last_ms)
        end -= end % min(width, DAY_MS)
        candles: list[list[float]] = []
        for close in range(end, start, -width):
            if width >= DAY_MS:
                candle = self._daily_candle(close - width, close)
            elif close - width >= self.first_ms:
                opening, closing = self.price_at(close - width), self.price_at(close)
                candle = [opening, max(opening, closing), min(opening, closing), closing]
            else:
                break
            if not candle:
                break
            candles.append([close, *candle])
        candles.reverse()
        return candles

    def _daily_candle(self, begin: int, end: int) -> list[float]:
        """Real OHLC of the whole days in [begin, end)."""
        days = self.rows[bisect_left(self.row_starts, begin) : bisect_left(self.row_starts, end)]
        if not days:
            return []
        return [
            days[0].open,
            max(row.high for row in days),
            min(row.low for row in days),
            days[-1].close,
        ]


def _iso(moment_ms: int) -> str:
    moment = datetime.fromtimestamp(moment_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str | None) -> int | None:
    if not text:
        return None
    return _ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def default_recordings_dir() -> Path | None:
    """Where the recorded CoinGecko responses are: $CRYPTOPREDICT_FAKE_COINGECKO_RECORDINGS,
    else `shared/data/coingecko` beside a source checkout, else None (snapshot only)."""
    configured = os.environ.get(RECORDINGS_ENV)
    if configured:
        return Path(configured)
    beside_checkout = Path(__file__).resolve().parents[4] / "shared" / "data" / "coingecko"
    return beside_checkout if beside_checkout.is_dir() else None


@dataclass(frozen=True)
class FakeData:
    """Everything the fake serves, loaded once: price series and recorded bodies."""

    series: dict[str, PriceSeries]
    markets: list[dict[str, Any]]
    coins_list_body: bytes = field(repr=False)
    coins_list_platform_body: bytes = field(repr=False)
    trending: bytes = field(repr=False)
    ping: bytes = field(repr=False)
    rate_limit_body: bytes = field(repr=False)

    @property
    def default_now_ms(self) -> int:
        """The day after the last CSV day, 00:00 UTC: the last daily close is "now"."""
        return max(s.last_ms for s in self.series.values())


def _read_json(directory: Path | None, name: str) -> Any:
    if directory is None or not (directory / name).is_file():
        return None
    return orjson.loads((directory / name).read_bytes())


def _read_bytes(directory: Path | None, name: str) -> bytes | None:
    if directory is None or not (directory / name).is_file():
        return None
    return (directory / name).read_bytes()


def _price_files(data_dir: Path | None) -> list[Path]:
    if data_dir is None:
        return snapshot_price_files()
    files = sorted(data_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no price CSVs (<coingecko-id>.csv) in {data_dir}")
    return files


def _catalogue_markets() -> list[dict[str, Any]]:
    """Minimal markets entries from the bundled catalogue, for when no recording exists."""
    entries = []
    for coin in load_coin_catalogue().values():
        entries.append(
            {
                "id": coin.coingecko_id,
                "symbol": coin.symbol,
                "name": coin.name,
                "image": coin.image_url,
                "market_cap_rank": coin.market_cap_rank,
            }
        )
    return entries


def _market_entry(base: dict[str, Any] | None, coin_id: str) -> dict[str, Any]:
    """A /coins/markets entry with every key CoinGecko sends, starting from `base`."""
    entry: dict[str, Any] = {
        "id": coin_id,
        "symbol": coin_id[:4],
        "name": coin_id.replace("-", " ").title(),
        "image": None,
        "current_price": None,
        "market_cap": None,
        "market_cap_rank": None,
        "fully_diluted_valuation": None,
        "total_volume": None,
        "high_24h": None,
        "low_24h": None,
        "price_change_24h": None,
        "price_change_percentage_24h": None,
        "market_cap_change_24h": None,
        "market_cap_change_percentage_24h": None,
        "circulating_supply": None,
        "total_supply": None,
        "max_supply": None,
        "ath": None,
        "ath_change_percentage": None,
        "ath_date": None,
        "atl": None,
        "atl_change_percentage": None,
        "atl_date": None,
        "roi": None,
        "last_updated": None,
    }
    entry.update(base or {})
    return entry


@lru_cache(maxsize=8)
def load_fake_data(data_dir: Path | None, recordings_dir: Path | None) -> FakeData:
    """Read the CSVs and recordings once per (data, recordings) pair."""
    series: dict[str, PriceSeries] = {}
    for path in _price_files(data_dir):
        series[path.stem] = PriceSeries.from_rows(path.stem, read_price_csv(path))

    listed = _read_json(recordings_dir, "coins_list_include_platform.json")
    if listed is None:
        plain = _read_json(recordings_dir, "coins_list.json")
        listed = [{**e, "platforms": {}} for e in plain] if plain is not None else []
    known = {entry["id"] for entry in listed}
    catalogue = load_coin_catalogue()
    for coin_id in series:
        if coin_id not in known:
            coin = catalogue.get(coin_id)
            listed.append(
                {
                    "id": coin_id,
                    "symbol": coin.symbol if coin else coin_id[:4],
                    "name": coin.name if coin else coin_id.replace("-", " ").title(),
                    "platforms": {},
                }
            )

    recorded = _read_json(recordings_dir, "coins_markets.json") or _catalogue_markets()
    by_id = {entry["id"]: entry for entry in recorded}
    markets = [_market_entry(entry, entry["id"]) for entry in recorded]
    for coin_id in series:
        if coin_id not in by_id:
            markets.append(_market_entry(None, coin_id))

    trending = _read_bytes(recordings_dir, "search_trending.json")
    return FakeData(
        series=series,
        markets=markets,
        coins_list_body=orjson.dumps([{k: e[k] for k in ("id", "symbol", "name")} for e in listed]),
        coins_list_platform_body=orjson.dumps(listed),
        trending=trending or b'{"coins":[],"nfts":[],"categories":[]}',
        ping=_read_bytes(recordings_dir, "ping.json") or orjson.dumps(PING_BODY),
        rate_limit_body=_read_bytes(recordings_dir, "error_429_rate_limit.json") or RATE_LIMIT_BODY,
    )


def _patched_entry(entry: dict[str, Any], series: PriceSeries, now: int) -> dict[str, Any]:
    """The coin's markets entry with price figures taken from its CSV at the fake's clock."""
    at = min(now, series.last_ms)
    price = series.price_at(at)
    before = series.price_at(at - DAY_MS)
    day = datetime.fromtimestamp(at / 1000, tz=UTC).date() - timedelta(days=1)
    row = next((r for r in reversed(series.rows) if r.day <= day), series.rows[0])
    change = price - before
    return {
        **entry,
        "current_price": price,
        "high_24h": max(row.high, price),
        "low_24h": min(row.low, price),
        "total_volume": series.volume_at(at),
        "price_change_24h": change,
        "price_change_percentage_24h": 100 * change / before if before else None,
        "last_updated": _iso(at),
    }


# ---- faults and request log -----------------------------------------------------------------

FaultKind = Literal[
    "rate_limit", "server_error", "slow", "garbage", "truncated", "wrong_shape", "unauthorized"
]


@dataclass(frozen=True, slots=True)
class Fault:
    """One switched-on misbehaviour and how many more responses it spoils."""

    kind: FaultKind
    remaining: int
    path: str | None = None
    status: int = 500
    retry_after: float | None = None
    html: bool = False
    delay: float = 0.0

    def matches(self, endpoint: str) -> bool:
        """Whether this fault applies to a request for `endpoint` (e.g. "/coins/markets")."""
        return self.path is None or self.path in endpoint


class FaultController:
    """Thread-safe queue of faults: tests switch them on, the server consumes them in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()

    def _add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault must apply to at least one response")
        with self._lock:
            self._faults.append(fault)

    def rate_limit(
        self,
        times: int = 1,
        *,
        retry_after: float | None = 1,
        html: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer 429: CoinGecko's JSON body (or a Cloudflare HTML page), with Retry-After."""
        self._add(Fault("rate_limit", times, path, 429, retry_after, html))

    def server_error(self, times: int = 1, *, status: int = 500, path: str | None = None) -> None:
        """Answer 5xx (500 JSON, 502/503/504 a gateway's HTML page)."""
        if not 500 <= status <= 599:
            raise ValueError("server_error needs a 5xx status")
        self._add(Fault("server_error", times, path, status))

    def slow(self, times: int = 1, *, delay: float = 2.0, path: str | None = None) -> None:
        """Sleep `delay` seconds before answering normally (past a client's timeout)."""
        self._add(Fault("slow", times, path, delay=delay))

    def garbage(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 200 with bytes that are not JSON at all."""
        self._add(Fault("garbage", times, path))

    def truncated(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 200 with the real body cut in half (a complete HTTP message, broken JSON)."""
        self._add(Fault("truncated", times, path))

    def wrong_shape(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 200 with valid JSON of the wrong shape."""
        self._add(Fault("wrong_shape", times, path))

    def unauthorized(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer 401 "API Key Missing" (CoinGecko error 10002)."""
        self._add(Fault("unauthorized", times, path, 401))

    def take(self, endpoint: str) -> Fault | None:
        """The fault for this request, if any, counting it as used."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(endpoint):
                    if fault.remaining <= 1:
                        del self._faults[index]
                    else:
                        self._faults[index] = replace(fault, remaining=fault.remaining - 1)
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Behave again."""
        with self._lock:
            self._faults.clear()


@dataclass(slots=True)
class RequestRecord:
    """One request as the fake saw it (API keys removed, only their kind kept)."""

    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    headers: dict[str, str]
    key_type: Literal["demo", "pro"] | None
    at: float
    received_at: datetime
    status: int = 0
    fault: FaultKind | None = None


class RequestLog:
    """Thread-safe list of requests, newest last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        """Append a request."""
        with self._lock:
            self._records.append(record)

    def all(self, endpoint: str | None = None) -> list[RequestRecord]:
        """A copy of the log, optionally only requests whose endpoint contains `endpoint`."""
        with self._lock:
            records = list(self._records)
        return [r for r in records if endpoint is None or endpoint in r.endpoint]

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._records.clear()


class FakeControls:
    """The fake's switchable state, shared between the server thread and tests."""

    def __init__(
        self,
        data: FakeData,
        *,
        now: datetime | None,
        require_key: bool,
        keyless_history_days: int | None,
    ) -> None:
        self.data = data
        self.faults = FaultController()
        self.log = RequestLog()
        self._defaults = (now, require_key, keyless_history_days)
        self.now = now or datetime.fromtimestamp(data.default_now_ms / 1000, tz=UTC)
        self.require_key = require_key
        self.keyless_history_days = keyless_history_days
        self._markets_cache: tuple[int, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    @property
    def now_ms(self) -> int:
        """The fake clock in Unix milliseconds."""
        return _ms(self.now)

    def reset(self) -> None:
        """Clear faults and the log and restore the clock and key rules given at creation."""
        self.faults.clear()
        self.log.clear()
        now, self.require_key, self.keyless_history_days = self._defaults
        self.now = now or datetime.fromtimestamp(self.data.default_now_ms / 1000, tz=UTC)

    def markets(self) -> list[dict[str, Any]]:
        """Markets entries at the current clock, CSV coins patched, in market-cap order."""
        now = self.now_ms
        with self._lock:
            if self._markets_cache is not None and self._markets_cache[0] == now:
                return self._markets_cache[1]
        entries = [
            _patched_entry(e, self.data.series[e["id"]], now) if e["id"] in self.data.series else e
            for e in self.data.markets
        ]
        with self._lock:
            self._markets_cache = (now, entries)
        return entries


# ---- HTTP ----------------------------------------------------------------------------------


class Refused(Exception):
    """An answer other than 200, already in CoinGecko's shape."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, headers=headers, media_type=JSON_TYPE)


def _error(message: str, status: int = 400) -> Refused:
    return Refused(status, {"error": message})


def _status_body(code: int, message: str) -> dict[str, Any]:
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return {"status": {"timestamp": timestamp, "error_code": code, "error_message": message}}


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler needs: the query, the caller's key type and the fake's state."""

    request: Request
    controls: FakeControls
    key_type: Literal["demo", "pro"] | None

    def get(self, name: str) -> str | None:
        """A query parameter, or None."""
        return self.request.query_params.get(name)

    def need(self, name: str) -> str:
        """A required query parameter (CoinGecko's 400 when missing)."""
        value = self.get(name)
        if value is None or value == "":
            raise _error(f"Missing parameter {name}")
        return value

    def flag(self, name: str) -> bool:
        """A boolean parameter, CoinGecko style ("true" / anything else)."""
        return (self.get(name) or "").lower() == "true"

    def integer(self, name: str, default: int) -> int:
        """An integer parameter with a default."""
        raw = self.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise _error(f"Invalid value for {name}") from None

    def usd(self, name: str = "vs_currency") -> None:
        """The fake prices in USD only; other currencies are refused like unknown ones."""
        if self.need(name).lower() != "usd":
            raise _error(f"invalid {name}")

    def series(self, coin_id: str) -> PriceSeries:
        """The coin's price series, or CoinGecko's 404."""
        found = self.controls.data.series.get(coin_id)
        if found is None:
            raise Refused(404, {"error": "coin not found"})
        return found

    def check_history(self, start_ms: float) -> None:
        """Demo keys (and keyless callers, if so configured) see only recent history."""
        limit = DEMO_HISTORY_DAYS if self.key_type == "demo" else None
        if self.key_type is None:
            limit = self.controls.keyless_history_days
        if limit is not None and start_ms < self.controls.now_ms - limit * DAY_MS:
            raise Refused(401, {"error": _status_body(10012, HISTORY_LIMIT_MESSAGE)})


def _ping(call: Call) -> Response:
    return _json(call.controls.data.ping)


def _coins_list(call: Call) -> Response:
    if (call.get("status") or "active") == "inactive":
        return _json(b"[]")
    data = call.controls.data
    return _json(
        data.coins_list_platform_body if call.flag("include_platform") else data.coins_list_body
    )


def _coins_markets(call: Call) -> Response:
    call.usd()
    order = call.get("order") or "market_cap_desc"
    if order not in MARKETS_ORDERS:
        raise _error("invalid order")
    per_page = call.integer("per_page", 100)
    page = call.integer("page", 1)
    if not 1 <= per_page <= 250 or page < 1:
        raise _error("per_page must be 1 to 250 and page at least 1")
    entries = call.controls.markets()
    ids = call.get("ids")
    if ids:
        wanted = {i.strip() for i in ids.split(",")}
        entries = [e for e in entries if e["id"] in wanted]
    descending = order.endswith("desc")
    field_name = {"market": "market_cap", "volume": "total_volume", "id": "id"}[order.split("_")[0]]
    known = [e for e in entries if e[field_name] is not None]
    unknown = [e for e in entries if e[field_name] is None]  # last in both directions
    entries = sorted(known, key=lambda e: e[field_name], reverse=descending) + unknown
    start = (page - 1) * per_page
    return _json(entries[start : start + per_page])


def _simple_price(call: Call) -> Response:
    ids = call.need("ids")
    currencies = [c.strip().lower() for c in call.need("vs_currencies").split(",")]
    by_id = {e["id"]: e for e in call.controls.markets()}
    body: dict[str, dict[str, Any]] = {}
    for coin_id in dict.fromkeys(i.strip() for i in ids.split(",")):
        entry = by_id.get(coin_id)
        if entry is None:
            continue
        values: dict[str, Any] = {}
        if "usd" in currencies:
            values["usd"] = entry["current_price"]
            if call.flag("include_market_cap"):
                values["usd_market_cap"] = entry["market_cap"]
            if call.flag("include_24hr_vol"):
                values["usd_24h_vol"] = entry["total_volume"]
            if call.flag("include_24hr_change"):
                values["usd_24h_change"] = entry["price_change_percentage_24h"]
        if call.flag("include_last_updated_at"):
            updated = _parse_iso(entry.get("last_updated"))
            values["last_updated_at"] = None if updated is None else updated // 1000
        body[coin_id] = values
    return _json(body)


def _step_for(span_ms: float) -> int:
    """CoinGecko's automatic granularity: <= 1 day 5-minute, <= 90 days hourly, else daily."""
    if span_ms <= DAY_MS:
        return FIVE_MINUTES_MS
    if span_ms <= 90 * DAY_MS:
        return HOUR_MS
    return DAY_MS


def _days(call: Call, series: PriceSeries) -> float:
    raw = call.need("days").strip().lower()
    if raw == "max":
        return math.ceil((call.controls.now_ms - series.first_ms) / DAY_MS) + 1
    try:
        days = float(raw)
    except ValueError:
        raise _error("invalid days") from None
    if not math.isfinite(days) or days <= 0:
        raise _error("invalid days")
    return days


def _market_chart(call: Call) -> Response:
    series = call.series(call.request.path_params["coin_id"])
    call.usd()
    days = _days(call, series)
    now = call.controls.now_ms
    start = now - days * DAY_MS
    call.check_history(start)
    interval = call.get("interval")
    if interval not in (None, "", "daily", "hourly"):
        raise _error("invalid interval")
    step = {"daily": DAY_MS, "hourly": HOUR_MS}.get(interval or "", _step_for(days * DAY_MS))
    return _json(_cached_chart(series, int(start), now, step, now))


def _timestamp(call: Call, name: str) -> float:
    try:
        value = float(call.need(name))
    except ValueError:
        raise _error(f"invalid {name}") from None
    if not math.isfinite(value):
        raise _error(f"invalid {name}")
    return value


def _market_chart_range(call: Call) -> Response:
    series = call.series(call.request.path_params["coin_id"])
    call.usd()
    start, end = _timestamp(call, "from") * 1000, _timestamp(call, "to") * 1000
    call.check_history(start)
    if start > end:
        return _json({"prices": [], "market_caps": [], "total_volumes": []})
    step = _step_for(end - start)
    now = call.controls.now_ms
    return _json(_cached_chart(series, math.ceil(start), math.floor(end), step, now))


@lru_cache(maxsize=128)
def _cached_chart(series: PriceSeries, start: int, end: int, step: int, now: int) -> bytes:
    """Charts are pure functions of their inputs; benchmarks ask for the same ones often."""
    return orjson.dumps(series.chart(start, end, step, now))


def _ohlc(call: Call) -> Response:
    series = call.series(call.request.path_params["coin_id"])
    call.usd()
    raw = call.need("days").strip().lower()
    if raw not in OHLC_DAYS:
        raise _error("invalid days")
    days = _days(call, series)
    now = call.controls.now_ms
    start = now - days * DAY_MS
    call.check_history(start)
    if days <= 2:
        width = 30 * 60 * 1000
    elif days <= 30:
        width = 4 * HOUR_MS
    else:
        width = 4 * DAY_MS
    return _json(series.candles(width, int(start), now))


def _trending(call: Call) -> Response:
    return _json(call.controls.data.trending)


def _key_type(request: Request) -> Literal["demo", "pro"] | None:
    for header, kind in KEY_HEADERS.items():
        if request.headers.get(header):
            return "demo" if kind == "demo" else "pro"
    for param, kind in KEY_QUERY.items():
        if request.query_params.get(param):
            return "demo" if kind == "demo" else "pro"
    return None


def _fault_response(fault: Fault, body: bytes) -> Response:
    """The spoiled answer for `fault` (slow faults are handled before this)."""
    if fault.kind == "rate_limit":
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        if fault.html:
            return Response(RATE_LIMIT_HTML, 429, headers=headers, media_type="text/html")
        return Response(body, 429, headers=headers, media_type=JSON_TYPE)
    if fault.kind == "server_error":
        if fault.status == 500:
            return _json({"error": "Internal Server Error"}, 500)
        return Response(
            GATEWAY_HTML % (fault.status, fault.status), fault.status, media_type="text/html"
        )
    if fault.kind == "unauthorized":
        return _json(_status_body(10002, KEY_MISSING_MESSAGE), 401)
    if fault.kind == "wrong_shape":
        return _json({"status": "ok", "data": [{"id": 1, "price": "not a number"}]})
    return _json(b"\x1f\x8b\x08\x00 this is not JSON }{")  # garbage


Handler = Callable[[Call], Response]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with the request log, key rules, faults and CoinGecko's error shapes."""

    async def endpoint(request: Request) -> Response:
        controls: FakeControls = request.app.state.controls
        key_type = _key_type(request)
        path = request.url.path
        record = RequestRecord(
            method=request.method,
            path=path,
            endpoint=path.removeprefix(API_PREFIX) or "/",
            query={k: v for k, v in request.query_params.items() if k not in KEY_QUERY},
            headers={k: v for k, v in request.headers.items() if k.lower() not in KEY_HEADERS},
            key_type=key_type,
            at=time.monotonic(),
            received_at=datetime.now(UTC),
        )
        controls.log.add(record)
        fault = controls.faults.take(record.endpoint)
        record.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            fault = None
        response = _answer(handler, Call(request, controls, key_type), fault)
        record.status = response.status_code
        return response

    return endpoint


def _answer(handler: Handler, call: Call, fault: Fault | None) -> Response:
    if fault is not None and fault.kind not in ("truncated",):
        return _fault_response(fault, call.controls.data.rate_limit_body)
    if call.controls.require_key and call.key_type is None:
        return _json(_status_body(10002, KEY_MISSING_MESSAGE), 401)
    try:
        response = handler(call)
    except Refused as refused:
        return _json(refused.body, refused.status)
    if fault is not None:  # truncated: a complete HTTP answer carrying half the JSON
        body = bytes(response.body)
        return Response(body[: max(1, len(body) // 2)], 200, media_type=JSON_TYPE)
    return response


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return _json({"error": "Incorrect path. Please check https://www.coingecko.com/api/"}, 404)


def create_fake_app(
    data_dir: Path | None = None,
    recordings_dir: Path | None = None,
    *,
    now: datetime | None = None,
    require_key: bool = False,
    keyless_history_days: int | None = None,
) -> Starlette:
    """The fake CoinGecko as an ASGI app; its controls are at `app.state.controls`.

    Args:
        data_dir: folder of `<coingecko-id>.csv` daily price files; None for the snapshot
            bundled with the package.
        recordings_dir: folder of recorded CoinGecko responses; None for
            `default_recordings_dir()` (and the bundled catalogue if there is none).
        now: the fake's clock; None for the day after the last CSV day, 00:00 UTC.
        require_key: answer 401 (10002) to requests without an API key.
        keyless_history_days: limit keyless callers' history like a Demo key's (None: no
            limit, so a keyless sync can backfill everything).
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    recordings = recordings_dir if recordings_dir is not None else default_recordings_dir()
    data = load_fake_data(
        data_dir.resolve() if data_dir else None, recordings.resolve() if recordings else None
    )
    routes = [
        Route(f"{API_PREFIX}/ping", _endpoint(_ping)),
        Route(f"{API_PREFIX}/coins/list", _endpoint(_coins_list)),
        Route(f"{API_PREFIX}/coins/markets", _endpoint(_coins_markets)),
        Route(f"{API_PREFIX}/simple/price", _endpoint(_simple_price)),
        Route(f"{API_PREFIX}/coins/{{coin_id}}/market_chart", _endpoint(_market_chart)),
        Route(f"{API_PREFIX}/coins/{{coin_id}}/market_chart/range", _endpoint(_market_chart_range)),
        Route(f"{API_PREFIX}/coins/{{coin_id}}/ohlc", _endpoint(_ohlc)),
        Route(f"{API_PREFIX}/search/trending", _endpoint(_trending)),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.state.controls = FakeControls(
        data, now=now, require_key=require_key, keyless_history_days=keyless_history_days
    )
    return app


# ---- running it -----------------------------------------------------------------------------


class FakeCoinGecko:
    """A running fake: where it listens and the switches tests use."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.controls: FakeControls = app.state.controls

    @property
    def base_url(self) -> str:
        """The API root to configure as `coingecko_base_url`."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def faults(self) -> FaultController:
        """Switch misbehaviour on for the next responses."""
        return self.controls.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received since the last reset, oldest first."""
        return self.controls.log.all()

    def requests_to(self, endpoint: str) -> list[RequestRecord]:
        """Requests whose endpoint (path after /api/v3) contains `endpoint`."""
        return self.controls.log.all(endpoint)

    @property
    def now(self) -> datetime:
        """The fake's clock."""
        return self.controls.now

    @now.setter
    def now(self, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.controls.now = value

    @property
    def require_key(self) -> bool:
        """Whether requests without an API key get 401."""
        return self.controls.require_key

    @require_key.setter
    def require_key(self, value: bool) -> None:
        self.controls.require_key = value

    def reset(self) -> None:
        """Faults cleared, log emptied, clock and key rules as created."""
        self.controls.reset()


def _free_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def running_fake_coingecko(
    data_dir: Path | None = None,
    recordings_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    now: datetime | None = None,
    require_key: bool = False,
    keyless_history_days: int | None = None,
    startup_timeout: float = 10.0,
) -> Iterator[FakeCoinGecko]:
    """Serve the fake with uvicorn in a background thread on a free port until the block ends."""
    app = create_fake_app(
        data_dir,
        recordings_dir,
        now=now,
        require_key=require_key,
        keyless_history_days=keyless_history_days,
    )
    sock = _free_socket(host)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-coingecko", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the fake CoinGecko server did not start")
        time.sleep(0.01)
    try:
        yield FakeCoinGecko(app, host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_fake(host: str = "127.0.0.1", port: int = 8001, data_dir: Path | None = None) -> None:
    """Serve the fake CoinGecko in the foreground (`cryptopredict fake-coingecko`) until Ctrl-C."""
    app = create_fake_app(data_dir)
    controls: FakeControls = app.state.controls
    print(  # the command's own output, whatever logging is configured
        f"Fake CoinGecko at http://{host}:{port}{API_PREFIX}: {len(controls.data.series)} "
        f"coins from {data_dir or PRICES_DIR}, clock fixed at {controls.now.isoformat()}"
    )
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
