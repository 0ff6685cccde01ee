"""The fake's endpoints in CoinGecko's shapes, and the wrapper that logs each request and
applies the key rules, the switched-on faults and CoinGecko's error bodies."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cryptopredict.core import timegrid
from cryptopredict.marketdata.coingecko_format import DEMO_HISTORY_DAYS, KEY_HEADERS, OHLC_DAYS
from cryptopredict.testing.fake_coingecko.controls import FakeControls, Fault, RequestRecord
from cryptopredict.testing.fake_coingecko.series import (
    DAY_MS,
    FIVE_MINUTES_MS,
    HOUR_MS,
    PriceSeries,
)

API_PREFIX = "/api/v3"
MARKETS_ORDERS = (
    "market_cap_desc",
    "market_cap_asc",
    "volume_desc",
    "volume_asc",
    "id_asc",
    "id_desc",
)
KEY_KINDS = {header: kind for kind, header in KEY_HEADERS.items()}
"""Which kind of key each key header carries."""
KEY_QUERY = {"x_cg_demo_api_key": "demo", "x_cg_pro_api_key": "pro"}
JSON_TYPE = "application/json; charset=utf-8"

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


class RefusedError(Exception):
    """An answer other than 200, already in CoinGecko's shape."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, headers=headers, media_type=JSON_TYPE)


def _error(message: str, status: int = 400) -> RefusedError:
    return RefusedError(status, {"error": message})


def _status_body(code: int, message: str) -> dict[str, Any]:
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
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
            raise RefusedError(404, {"error": "coin not found"})
        return found

    def check_history(self, start_ms: float) -> None:
        """Demo keys (and keyless callers, if so configured) see only recent history."""
        limit = DEMO_HISTORY_DAYS if self.key_type == "demo" else None
        if self.key_type is None:
            limit = self.controls.keyless_history_days
        if limit is not None and start_ms < self.controls.now_ms - limit * DAY_MS:
            raise RefusedError(401, {"error": _status_body(10012, HISTORY_LIMIT_MESSAGE)})


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


def _parse_iso(text: str | None) -> int | None:
    """A recorded ISO instant in Unix milliseconds, or None."""
    if not text:
        return None
    return timegrid.to_millis(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def _trending(call: Call) -> Response:
    return _json(call.controls.data.trending)


def _key_type(request: Request) -> Literal["demo", "pro"] | None:
    for header, kind in KEY_KINDS.items():
        if request.headers.get(header):
            return kind
    for param, named in KEY_QUERY.items():
        if request.query_params.get(param):
            return "demo" if named == "demo" else "pro"
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
            headers={k: v for k, v in request.headers.items() if k.lower() not in KEY_KINDS},
            key_type=key_type,
            at=time.monotonic(),
            received_at=dt.datetime.now(dt.UTC),
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
    except RefusedError as refused:
        return _json(refused.body, refused.status)
    if fault is not None:  # truncated: a complete HTTP answer carrying half the JSON
        body = bytes(response.body)
        return Response(body[: max(1, len(body) // 2)], 200, media_type=JSON_TYPE)
    return response


async def not_found(_request: Request, _exc: Exception) -> Response:
    """CoinGecko's 404 body for a path it does not serve."""
    return _json({"error": "Incorrect path. Please check https://www.coingecko.com/api/"}, 404)


def fake_routes() -> list[Route]:
    """Every endpoint the fake serves, each wrapped by `_endpoint`."""
    return [
        Route(f"{API_PREFIX}/ping", _endpoint(_ping)),
        Route(f"{API_PREFIX}/coins/list", _endpoint(_coins_list)),
        Route(f"{API_PREFIX}/coins/markets", _endpoint(_coins_markets)),
        Route(f"{API_PREFIX}/simple/price", _endpoint(_simple_price)),
        Route(f"{API_PREFIX}/coins/{{coin_id}}/market_chart", _endpoint(_market_chart)),
        Route(f"{API_PREFIX}/coins/{{coin_id}}/market_chart/range", _endpoint(_market_chart_range)),
        Route(f"{API_PREFIX}/coins/{{coin_id}}/ohlc", _endpoint(_ohlc)),
        Route(f"{API_PREFIX}/search/trending", _endpoint(_trending)),
    ]
