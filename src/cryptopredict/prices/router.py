"""Routes for price series: history, latest, OHLC, resampled bars, stats, gaps, bulk writes."""

from __future__ import annotations

import inspect
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.coins.dependencies import CoinDep, CoinPath
from cryptopredict.core.cache import PRICES_NAMESPACE, cached_bytes
from cryptopredict.core.dependencies import CacheDep, SessionDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.validation import PlainInteger
from cryptopredict.prices import service
from cryptopredict.prices.dependencies import CoinIdsDep, TimeRangeDep
from cryptopredict.prices.schemas import (
    MAX_HISTORY_POINTS,
    BulkPrices,
    BulkResult,
    GapReport,
    LatestPrices,
    OhlcSeries,
    PriceHistory,
    PriceStats,
)
from cryptopredict.prices.types import Interval

router = APIRouter(prefix="/prices", tags=["prices"], responses=error_responses(422))

_NOT_FOUND = error_responses(404)

IntervalQuery = Annotated[Interval, Query(description="Bar width of the series")]
LimitQuery = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_HISTORY_POINTS,
        description="At most this many items; when the range holds more, the newest are kept",
    ),
    PlainInteger,
]


def _json(content: bytes) -> Response:
    """A response from bytes serialised by orjson or pydantic, skipping re-validation."""
    return Response(content=content, media_type="application/json")


@router.get("/latest", response_model=LatestPrices, responses=_NOT_FOUND)
async def latest(coins: CoinIdsDep, session: SessionDep, cache: CacheDep) -> Response:
    """Newest price and 24 h change for 1-100 coins; unknown ids are listed in `missing`
    (404 only when none of them is known). Cached until the next price write."""
    body = await cached_bytes(
        cache,
        PRICES_NAMESPACE,
        "latest:" + ",".join(coins),
        lambda: run_in_threadpool(service.latest_json, session=session, coingecko_ids=coins),
    )
    return _json(body)


@router.get("/{coin}/history", response_model=PriceHistory, responses=_NOT_FOUND)
async def history(
    coin: CoinPath,
    session: SessionDep,
    cache: CacheDep,
    window: TimeRangeDep,
    interval: IntervalQuery = Interval.DAY,
    limit: LimitQuery = MAX_HISTORY_POINTS,
) -> Response:
    """Points of one stored series in [start, end], oldest first (the charting hot path).
    Cached until the next price write."""
    key = f"history:{coin.lower()}:{interval.value}:{window.start}:{window.end}:{limit}"
    body = await cached_bytes(
        cache,
        PRICES_NAMESPACE,
        key,
        lambda: run_in_threadpool(
            service.history_json,
            session=session,
            identifier=coin,
            interval=interval,
            window=window,
            limit=limit,
        ),
    )
    return _json(body)


@router.get("/{coin}/ohlc", response_model=OhlcSeries, responses=_NOT_FOUND)
def ohlc(
    coin: CoinDep,
    session: SessionDep,
    window: TimeRangeDep,
    interval: IntervalQuery = Interval.DAY,
    limit: LimitQuery = MAX_HISTORY_POINTS,
) -> Response:
    """OHLC bars starting in [start, end]: stored bars of `interval` when that series exists,
    else resampled from the finest stored series."""
    series = service.ohlc(session=session, coin=coin, interval=interval, window=window, limit=limit)
    return _json(series.model_dump_json().encode())


@router.get("/{coin}/resampled", response_model=OhlcSeries, responses=_NOT_FOUND)
def resampled(
    coin: CoinDep,
    session: SessionDep,
    window: TimeRangeDep,
    source: Annotated[Interval, Query(description="Stored series to aggregate")],
    target: Annotated[Interval, Query(description="Coarser bar width to produce")],
    limit: LimitQuery = MAX_HISTORY_POINTS,
) -> Response:
    """A finer stored series aggregated into coarser UTC-aligned OHLC bars (422 unless
    `target` is coarser than `source`); `points` counts the source points per bar."""
    series = service.ohlc(
        session=session, coin=coin, interval=target, window=window, limit=limit, source=source
    )
    return _json(series.model_dump_json().encode())


@router.get(
    "/{coin}/stats", responses=_NOT_FOUND, description=inspect.cleandoc(service.stats.__doc__ or "")
)
def stats(coin: CoinDep, session: SessionDep) -> PriceStats:
    """Last price, 24h/7d/30d returns and 7d/30d volatility; formulas in service.stats."""
    return service.stats(session=session, coin=coin)


@router.get("/{coin}/gaps", responses=_NOT_FOUND)
def gaps(
    coin: CoinDep,
    session: SessionDep,
    window: TimeRangeDep,
    interval: IntervalQuery = Interval.DAY,
) -> GapReport:
    """Runs of missing bars in one series, to decide what to backfill."""
    return service.gaps(session=session, coin=coin, interval=interval, window=window)


@router.post("/bulk", responses=error_responses(401, 403, 413))
def bulk(_admin: AdminUser, data: BulkPrices, session: SessionDep, cache: CacheDep) -> BulkResult:
    """Write up to 10,000 points all together or not at all (admin only); re-posting the
    same points writes 0 rows. A 422 lists every offending point by index in `loc`."""
    return service.bulk_write(session=session, cache=cache, data=data)
