"""CoinGecko-compatible mirror under /api/v3, answered from our database through the cache.

An unchanged CoinGecko client pointed at `<our base>/api/v3/` works: same paths, parameter
names, response shapes and error bodies (see `mirror_queries` for the error table). These are
the only routes that answer errors in CoinGecko's `{"error": "..."}` shape: their parameters
are read as plain strings and checked by `mirror_queries`, and `CoinGeckoRoute` turns a
`MirrorRequestError` into its response before the application's handlers could rewrite it.
Bodies are cached under the prices namespace, so every price or coin write invalidates them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from cryptopredict.core.cache import PRICES_NAMESPACE, ResponseCache, cached_bytes
from cryptopredict.core.database import utcnow
from cryptopredict.core.dependencies import CacheDep, SessionDep
from cryptopredict.core.middleware import canonical_query
from cryptopredict.marketdata import mirror_queries as queries
from cryptopredict.marketdata import mirror_service as service
from cryptopredict.marketdata.coingecko_format import OHLC_DAYS, PING_BODY
from cryptopredict.marketdata.mirror_queries import MirrorRequestError, coingecko_error_responses

clock: Callable[[], dt.datetime] = utcnow
"""The instant relative windows (`days`) end at: the wall clock, pinned by tests."""


class CoinGeckoRoute(APIRoute):
    """A route whose `MirrorRequestError`, or FastAPI's refusal of its declared parameters,
    leaves with CoinGecko's status and body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler so the app-wide error handlers never see CoinGecko errors."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except MirrorRequestError as exc:
                return JSONResponse(exc.body, status_code=exc.status_code)
            except RequestValidationError as exc:
                error = queries.validation_refusal(exc.errors())
                return JSONResponse(error.body, status_code=error.status_code)

        return answer


MIRROR_PREFIX = "/api/v3"
router = APIRouter(
    prefix=MIRROR_PREFIX,
    tags=["coingecko mirror"],
    route_class=CoinGeckoRoute,
    # A control character anywhere in the query is refused on every route (`core.validation`).
    responses=coingecko_error_responses(400, "4XX"),
)


def _documented(
    description: str,
    *,
    values: Iterable[str] = (),
    form: str | None = None,
    longest: int | None = None,
) -> Any:
    """A plain-string query parameter documenting the values (`enum`) or the form (`pattern`)
    it accepts. FastAPI enforces neither: `mirror_queries` checks the value, more leniently
    (case, spaces, other numbers), so what the schema allows is always answered and every
    refusal keeps CoinGecko's shape."""
    extra: dict[str, Any] = {"enum": list(values)} if values else {"pattern": form}
    if longest is not None:  # documented only: the URL limit refuses longer ones (414)
        extra["maxLength"] = longest
    return Query(description=description, json_schema_extra=extra)


def _list_of(item: str, *, most: int | None = None) -> str:
    """The pattern of a comma-separated list of `item`s (at most `most` of them)."""
    repeat = "*" if most is None else f"{{0,{most - 1}}}"
    return f"^{item}(,{item}){repeat}$"


COIN_ID_LONGEST = 100
"""The longest coin id documented (the catalogue's own limit on CoinGecko ids)."""

# Parameters are plain strings, checked by `mirror_queries` into CoinGecko's errors; those
# CoinGecko requires are declared required (absent: 422 `Missing parameter <name>`).
Text = str | None
CoinIdPath = Annotated[
    str,
    Path(
        description="CoinGecko coin id",
        examples=["bitcoin"],
        json_schema_extra={"maxLength": COIN_ID_LONGEST},
    ),
]
VsCurrency = Annotated[
    str, _documented("Quote currency; only `usd` is stored", values=[queries.CURRENCY])
]
Precision = Annotated[
    Text,
    _documented("`full` or 0-18 decimal places for prices", values=["full", *map(str, range(19))]),
]
Flag = Annotated[Text, _documented("`true` switches it on", values=["true", "false"])]
Interval = Annotated[
    Text, _documented("Absent: automatic, as CoinGecko", values=queries.CHART_INTERVALS)
]
COIN_IDS_FORM = _list_of("[a-z0-9-]+", most=queries.MAX_IDS)
IDS_LONGEST = 8_192
"""The longest `ids` documented: half the URL limit, so any documented request fits in it."""
COUNT_FORM = "^[0-9]{1,9}$"
# UNIX seconds as clients print them; an ISO date/time is read too (see `mirror_queries`),
# and instants outside 1970-2100 are held to those edges.
_SECONDS: dict[str, Any] = {"json_schema_extra": {"pattern": r"^[0-9]{1,12}(\.[0-9]{1,9})?$"}}


def cache_alias(scope: Scope) -> str:
    """A mirror request as the cache remembers it: the path and only the parameters some
    mirror route reads, in canonical order, so a reordered query or a cache-buster (`_=...`)
    is answered before routing too. Sound because no route reads a parameter it does not
    declare; the route's own key (`mirror_queries`) then merges what only parsing can tell
    alike (case, list order, defaults)."""
    return f"{scope['path']}?{canonical_query(scope['query_string'], QUERY_NAMES)}"


def _json(content: bytes) -> Response:
    """Bytes already serialised by orjson."""
    return Response(content=content, media_type="application/json")


async def _cached(
    request: Request, cache: ResponseCache, key: str, compute: Callable[[], bytes]
) -> Response:
    """The cached body for `key`, or compute it in a worker thread (errors are not cached).
    The request's alias is remembered with it, so `CachedResponseMiddleware` can answer it
    again before routing while the body stays current."""
    body = await cached_bytes(
        cache,
        PRICES_NAMESPACE,
        key,
        lambda: run_in_threadpool(compute),
        alias=cache_alias(request.scope),
    )
    return _json(body)


@router.get("/ping")
async def ping() -> Response:
    """CoinGecko clients call this to check the server is up."""
    return JSONResponse(PING_BODY)


@router.get("/simple/supported_vs_currencies")
async def supported_vs_currencies() -> Response:
    """The quote currencies we can answer in (USD only), so clients can check first."""
    return JSONResponse(service.SUPPORTED_VS_CURRENCIES)


@router.get("/simple/price", responses=coingecko_error_responses(422, 503))
async def simple_price(
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    # Declared first: with both absent the 422 names vs_currencies, as `parse` checks them.
    vs_currencies: Annotated[
        str, _documented("Comma-separated currencies", form=_list_of("[a-z]+"))
    ],
    ids: Annotated[
        str, _documented("Comma-separated coin ids", form=COIN_IDS_FORM, longest=IDS_LONGEST)
    ],
    include_market_cap: Flag = None,
    include_24hr_vol: Flag = None,
    include_24hr_change: Flag = None,
    include_last_updated_at: Flag = None,
    precision: Precision = None,
) -> Response:
    """Newest price per coin, optionally with market cap, 24 h volume and change (the hot
    path: a fixed number of queries for any number of coins, then served from the cache)."""
    query = queries.SimplePriceQuery.parse(
        ids=ids,
        vs_currencies=vs_currencies,
        include_market_cap=include_market_cap,
        include_24hr_vol=include_24hr_vol,
        include_24hr_change=include_24hr_change,
        include_last_updated_at=include_last_updated_at,
        precision=precision,
    )
    return await _cached(
        request,
        cache,
        query.cache_key,
        lambda: service.simple_price_json(session=session, query=query),
    )


@router.get("/coins/list", responses=coingecko_error_responses(503))
async def coins_list(
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    include_platform: Flag = None,
    status: Annotated[
        Text, _documented("`active` (default) or `inactive`", values=["active", "inactive"])
    ] = None,
) -> Response:
    """Every coin's id, symbol and name, for clients mapping symbols to ids."""
    query = queries.CoinsListQuery.parse(include_platform=include_platform, status=status)
    return await _cached(
        request,
        cache,
        query.cache_key,
        lambda: service.coins_list_json(session=session, query=query),
    )


@router.get("/coins/markets", responses=coingecko_error_responses(422, 503))
async def coins_markets(
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    vs_currency: VsCurrency,
    ids: Annotated[
        Text, _documented("Comma-separated coin ids", form=COIN_IDS_FORM, longest=IDS_LONGEST)
    ] = None,
    category: Annotated[
        Text, _documented("A category id (we store none: nothing matches)", form="^[a-z0-9-]*$")
    ] = None,
    order: Annotated[
        Text, _documented("Default `market_cap_desc`", values=queries.MARKET_ORDERS)
    ] = None,
    per_page: Annotated[
        Text, _documented("1-250 (others held to it), default 100", form=COUNT_FORM)
    ] = None,
    page: Annotated[Text, _documented("From 1 (0 reads as 1)", form=COUNT_FORM)] = None,
    sparkline: Flag = None,
    price_change_percentage: Annotated[
        Text,
        _documented(
            "Comma-separated extra periods",
            form=_list_of(f"({'|'.join(queries.PRICE_CHANGE_PERIODS)})"),
        ),
    ] = None,
    precision: Precision = None,
) -> Response:
    """A page of coins with price, market cap, volume and 24 h figures (a hot path: a fixed
    number of queries per page, then served from the cache)."""
    query = queries.MarketsQuery.parse(
        vs_currency=vs_currency,
        ids=ids,
        category=category,
        order=order,
        per_page=per_page,
        page=page,
        sparkline=sparkline,
        price_change_percentage=price_change_percentage,
        precision=precision,
    )
    return await _cached(
        request, cache, query.cache_key, lambda: service.markets_json(session=session, query=query)
    )


@router.get("/coins/{coin}/market_chart", responses=coingecko_error_responses(404, 422, 503))
async def market_chart(
    coin: CoinIdPath,
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    vs_currency: VsCurrency,
    days: Annotated[
        str,
        _documented(
            "Number of days (fractions allowed) or `max`",
            form=r"^(max|[1-9][0-9]{0,5}(\.[0-9]{1,3})?)$",
        ),
    ],
    interval: Interval = None,
    precision: Precision = None,
) -> Response:
    """Prices, market caps and volumes over the last `days`, on CoinGecko's grid."""
    query = queries.ChartQuery.parse_days(
        coin=coin, vs_currency=vs_currency, days=days, interval=interval, precision=precision
    )
    return await _cached(
        request,
        cache,
        query.cache_key,
        lambda: service.market_chart_json(session=session, query=query, now=clock()),
    )


@router.get("/coins/{coin}/market_chart/range", responses=coingecko_error_responses(404, 422, 503))
async def market_chart_range(
    coin: CoinIdPath,
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    vs_currency: VsCurrency,
    from_: Annotated[str, Query(alias="from", description="Start, UNIX seconds", **_SECONDS)],
    to: Annotated[str, Query(description="End, UNIX seconds", **_SECONDS)],
    interval: Interval = None,
    precision: Precision = None,
) -> Response:
    """Prices, market caps and volumes between two instants, on CoinGecko's grid."""
    query = queries.ChartQuery.parse_range(
        coin=coin,
        vs_currency=vs_currency,
        start=from_,
        end=to,
        interval=interval,
        precision=precision,
    )
    return await _cached(
        request,
        cache,
        query.cache_key,
        lambda: service.market_chart_json(session=session, query=query, now=clock()),
    )


@router.get("/coins/{coin}/ohlc", responses=coingecko_error_responses(404, 422, 503))
async def coins_ohlc(
    coin: CoinIdPath,
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    vs_currency: VsCurrency,
    days: Annotated[str, _documented("Candle span in days", values=OHLC_DAYS)],
    precision: Precision = None,
) -> Response:
    """OHLC candles with CoinGecko's widths, resampled from our stored series."""
    query = queries.OhlcQuery.parse(
        coin=coin, vs_currency=vs_currency, days=days, precision=precision
    )
    return await _cached(
        request,
        cache,
        query.cache_key,
        lambda: service.ohlc_json(session=session, query=query, now=clock()),
    )


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route (with its dependencies) reads."""
    names = {param.alias for param in dependant.query_params}
    return names.union(*(_query_names(sub) for sub in dependant.dependencies))


QUERY_NAMES = frozenset(
    name
    for route in router.routes
    if isinstance(route, APIRoute)
    for name in _query_names(route.dependant)
)
"""Every query parameter a mirror route reads (the routes above are all declared by now)."""
