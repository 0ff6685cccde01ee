"""CoinGecko-compatible answers built from our coins and price series (USD only).

Requests arrive checked (`mirror_queries`, which also holds the error table). Figures come
only from stored data; what we do not store (supply, all-time high and low, fully diluted
valuation, ROI) is null, never estimated. "24 h" figures are anchored at each coin's newest
stored point, like /api/v1/prices/latest, so a series that stopped updating still reports
honest changes next to the `last_updated` it refers to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.coins.schemas import CatalogueOrder, CoinBrief, CoinListing
from cryptopredict.core.errors import NotFoundError
from cryptopredict.core.timegrid import ONE_DAY, SECONDS_PER_DAY, ceil_instant, to_millis
from cryptopredict.marketdata.coingecko_format import market_entry
from cryptopredict.marketdata.mirror_queries import (
    CURRENCY,
    MARKET_ORDERS,
    PRICE_CHANGE_PERIODS,
    ChartQuery,
    CoinsListQuery,
    MarketsQuery,
    OhlcQuery,
    SimplePriceQuery,
    coin_not_found,
)
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.schemas import ChartRow, LatestPrice, WindowKey, WindowStats
from cryptopredict.prices.types import FINEST_FIRST, Interval, PointLookup, SeriesExtent

SUPPORTED_VS_CURRENCIES = [CURRENCY]
SPARKLINE_SPAN = 7 * ONE_DAY


def _rounded(value: float | None, precision: int | None) -> float | None:
    """`value` to `precision` decimal places (None keeps it as stored)."""
    if value is None or precision is None:
        return value
    return round(value, precision)


def _percent_change(new: float | None, old: float | None) -> float | None:
    """100 * (new / old - 1), null when either is unknown or `old` is zero."""
    if new is None or old is None or old == 0:
        return None
    return 100.0 * (new / old - 1.0)


# ---- shared reads -----------------------------------------------------------------------


def _coin(session: Session, coin_id: str) -> CoinBrief:
    """The coin with this CoinGecko id (ids only, as CoinGecko), or its 404."""
    found = coins_service.get_many(session=session, coingecko_ids=[coin_id.lower()])
    coin = found.get(coin_id.lower())
    if coin is None:
        raise coin_not_found()
    return coin


def _latest(session: Session, coingecko_ids: Sequence[str]) -> dict[str, LatestPrice]:
    """Newest point and 24 h change per coin id, from the prices service (four queries)."""
    if not coingecko_ids:
        return {}
    try:
        result = prices_service.latest(session=session, coingecko_ids=list(coingecko_ids))
    except NotFoundError:  # none of them is known
        return {}
    return {item.coin: item for item in result.items}


def _pick_series(
    extents: prices_service.Extents,
    candidates: Sequence[Interval],
    start: dt.datetime | None,
    end: dt.datetime | None,
    tolerance: dt.timedelta,
) -> Interval | None:
    """The first candidate reaching back to `start` (within `tolerance`); else the one with
    data reaching back furthest; None when no candidate has data in [start, end]."""
    overlapping = [
        interval
        for interval in candidates
        if (extent := extents.get(interval)) is not None
        and (end is None or extent.first <= end)
        and (start is None or extent.last >= start)
    ]
    if not overlapping:
        return None
    reach = start if start is not None else min(extents[i].first for i in overlapping)
    for interval in overlapping:
        if extents[interval].first <= reach + tolerance:
            return interval
    return min(overlapping, key=lambda interval: extents[interval].first)


# ---- /simple/price ----------------------------------------------------------------------


def simple_price(*, session: Session, query: SimplePriceQuery) -> dict[str, dict[str, Any]]:
    """Price (and optional market cap, 24 h volume and change, update time) per known coin.

    Unknown ids are left out and unsupported currencies are absent from the inner objects,
    as CoinGecko does; a known coin without stored prices maps to `{}`. The 24 h volume is
    the newest point's stored volume (CoinGecko's rolling 24 h volume for synced points, the
    day's volume for a daily bar).
    """
    try:
        found = prices_service.latest(session=session, coingecko_ids=list(query.ids))
    except NotFoundError:  # none of the ids is known
        return {}
    latest = {item.coin: item for item in found.items}
    unknown = set(found.missing)
    quoted = CURRENCY in query.vs_currencies
    body: dict[str, dict[str, Any]] = {}
    for coin_id in query.ids:
        if coin_id in unknown:
            continue
        item = latest.get(coin_id)
        entry: dict[str, Any] = {}
        if item is not None:
            if quoted:
                entry[CURRENCY] = _rounded(item.price, query.precision)
                if query.include_market_cap:
                    entry[f"{CURRENCY}_market_cap"] = item.market_cap
                if query.include_24hr_vol:
                    entry[f"{CURRENCY}_24h_vol"] = item.volume
                if query.include_24hr_change:
                    entry[f"{CURRENCY}_24h_change"] = item.price_change_percentage_24h
            if query.include_last_updated_at:
                entry["last_updated_at"] = int(item.timestamp.timestamp())
        body[coin_id] = entry
    return body


def simple_price_json(*, session: Session, query: SimplePriceQuery) -> bytes:
    """`simple_price`, serialised: what the cached route stores."""
    return orjson.dumps(simple_price(session=session, query=query))


# ---- /coins/list ------------------------------------------------------------------------


def coins_list_json(*, session: Session, query: CoinsListQuery) -> bytes:
    """Every coin's id, symbol and name by id; `platforms` is `{}` (we track no contracts)."""
    coins = coins_service.list_listings(
        session=session, order=CatalogueOrder.ID, active=query.active
    )
    if query.include_platform:
        entries: list[dict[str, Any]] = [
            {"id": c.coingecko_id, "symbol": c.symbol, "name": c.name, "platforms": {}}
            for c in coins
        ]
    else:
        entries = [{"id": c.coingecko_id, "symbol": c.symbol, "name": c.name} for c in coins]
    return orjson.dumps(entries)


# ---- /coins/markets ---------------------------------------------------------------------


def markets(*, session: Session, query: MarketsQuery) -> list[dict[str, Any]]:
    """One page of market entries in CoinGecko's shape, in a fixed number of queries.

    Only coins with stored prices are listed (an entry without market data could not fill
    CoinGecko's non-null `last_updated`). Market-cap orders follow the stored market-cap rank
    (unranked coins last); volume orders sort every matching coin by its newest stored volume
    (unknown last); `category` matches nothing because we store no categories. A missing
    image is `""`: CoinGecko's `image` is never null. Sparkline and extra price-change
    periods cost two more queries when asked for.
    """
    if query.category is not None:
        return []
    offset = (query.page - 1) * query.per_page
    order = MARKET_ORDERS[query.order]
    if query.order.startswith("volume"):
        candidates = coins_service.list_listings(
            session=session,
            order=order,
            coingecko_ids=query.ids,
            where=prices_service.has_prices,
        )
        latest = _latest(session, [coin.coingecko_id for coin in candidates])
        descending = query.order == "volume_desc"

        def volume_key(coin: CoinListing) -> tuple[bool, float]:
            volume = latest[coin.coingecko_id].volume if coin.coingecko_id in latest else None
            if volume is None:
                return (True, 0.0)
            return (False, -volume if descending else volume)

        coins = sorted(candidates, key=volume_key)[offset : offset + query.per_page]
    else:
        coins = coins_service.list_listings(
            session=session,
            order=order,
            coingecko_ids=query.ids,
            where=prices_service.has_prices,
            limit=query.per_page,
            offset=offset,
        )
        latest = _latest(session, [coin.coingecko_id for coin in coins])
    priced = [coin for coin in coins if coin.coingecko_id in latest]
    stats = dict(
        zip(
            (coin.id for coin in priced),
            prices_service.window_stats(
                session=session,
                keys=[_day_window(coin, latest[coin.coingecko_id]) for coin in priced],
            ),
            strict=True,
        )
    )
    extents: dict[int, dict[Interval, SeriesExtent]] = {}
    if priced and (query.sparkline or query.price_change_percentage):
        extents = prices_service.extents(session=session, coin_ids=[coin.id for coin in priced])
    changes = _period_changes(session, priced, latest, extents, query.price_change_percentage)
    sparklines = _sparklines(session, priced, latest, extents) if query.sparkline else {}

    entries = []
    for coin in coins:
        entry = _market_entry(coin, latest.get(coin.coingecko_id), stats.get(coin.id), query)
        if query.sparkline:
            entry["sparkline_in_7d"] = {"price": sparklines.get(coin.id, [])}
        for period in query.price_change_percentage:
            entry[f"price_change_percentage_{period}_in_currency"] = changes.get((coin.id, period))
        entries.append(entry)
    return entries


def markets_json(*, session: Session, query: MarketsQuery) -> bytes:
    """`markets`, serialised: what the cached route stores."""
    return orjson.dumps(markets(session=session, query=query))


def _day_window(coin: CoinListing, item: LatestPrice) -> WindowKey:
    """The 24 h before the newest point, in the newest point's series (a daily bar alone when
    the newest point is daily), and the 24 h reference point's instant."""
    return WindowKey(
        coin_id=coin.id,
        series=item.interval.value,
        since=item.timestamp - ONE_DAY,
        until=item.timestamp,
        reference_at=item.reference_at,
    )


def _market_entry(
    coin: CoinListing, item: LatestPrice | None, stats: WindowStats | None, query: MarketsQuery
) -> dict[str, Any]:
    """One coin in CoinGecko's `/coins/markets` shape from its newest point and 24 h window."""
    precision = query.precision
    market_cap = item.market_cap if item is not None else None
    reference_cap = stats.reference_market_cap if stats is not None else None
    cap_change = (
        market_cap - reference_cap if market_cap is not None and reference_cap is not None else None
    )
    return market_entry(
        coin_id=coin.coingecko_id,
        symbol=coin.symbol,
        name=coin.name,
        image=coin.image_url or "",
        current_price=_rounded(item.price, precision) if item is not None else None,
        market_cap=market_cap,
        market_cap_rank=coin.market_cap_rank,
        total_volume=item.volume if item is not None else None,
        high_24h=_rounded(stats.high, precision) if stats is not None else None,
        low_24h=_rounded(stats.low, precision) if stats is not None else None,
        price_change_24h=_rounded(item.price_change_24h, precision) if item is not None else None,
        price_change_percentage_24h=(
            item.price_change_percentage_24h if item is not None else None
        ),
        market_cap_change_24h=cap_change,
        market_cap_change_percentage_24h=_percent_change(market_cap, reference_cap),
        last_updated=item.timestamp if item is not None else None,
    )


def _period_changes(
    session: Session,
    coins: Sequence[CoinListing],
    latest: Mapping[str, LatestPrice],
    extents: Mapping[int, prices_service.Extents],
    periods: Sequence[str],
) -> dict[tuple[int, str], float | None]:
    """Percentage change over each period per coin: against the newest point at or before
    `newest - period` in the finest series reaching back that far, null when that point is
    older than `newest - 2 * period` (a gap would stretch the period)."""
    if not periods:
        return {}
    keys: list[tuple[int, str, float, dt.datetime]] = []
    lookups: list[PointLookup] = []
    for coin in coins:
        item = latest[coin.coingecko_id]
        for period in periods:
            span = PRICE_CHANGE_PERIODS[period]
            target = item.timestamp - span
            series = prices_service.reference_series(extents.get(coin.id, {}), target, span)
            if series is not None:
                keys.append((coin.id, period, item.price, item.timestamp - 2 * span))
                lookups.append(PointLookup(coin_id=coin.id, interval=series, at=target))
    changes: dict[tuple[int, str], float | None] = {}
    found = prices_service.at_or_before(session=session, lookups=lookups)
    for (coin_id, period, price, oldest), reference in zip(keys, found, strict=True):
        if reference is not None and reference[0] >= oldest:
            changes[(coin_id, period)] = _percent_change(price, reference[1])
    return changes


def _sparklines(
    session: Session,
    coins: Sequence[CoinListing],
    latest: Mapping[str, LatestPrice],
    extents: Mapping[int, prices_service.Extents],
) -> dict[int, list[float]]:
    """Hourly prices over the 7 days up to each coin's newest point: the hourly series, else
    the 5-minute one thinned to the first point of each hour, else daily points."""
    keys: list[WindowKey] = []
    thin: list[bool] = []
    for coin in coins:
        until = latest[coin.coingecko_id].timestamp
        since = until - SPARKLINE_SPAN
        coin_extents = extents.get(coin.id, {})
        for interval in (Interval.HOUR, Interval.FIVE_MINUTES, Interval.DAY):
            extent = coin_extents.get(interval)
            if extent is not None and extent.last > since and extent.first <= until:
                keys.append(WindowKey(coin.id, interval.value, since, until))
                thin.append(interval is Interval.FIVE_MINUTES)
                break
    lines: dict[int, list[float]] = {}
    for key, points, hourly in zip(
        keys, prices_service.window_points(session=session, keys=keys), thin, strict=True
    ):
        if hourly:
            seen: set[int] = set()
            kept = []
            for at, price in points:
                hour = int(at.timestamp()) // 3600
                if hour not in seen:
                    seen.add(hour)
                    kept.append(price)
            lines[key.coin_id] = kept
        else:
            lines[key.coin_id] = [price for _at, price in points]
    return lines


# ---- /coins/{id}/market_chart and /range ------------------------------------------------


def auto_granularity(span: dt.timedelta | None) -> Interval:
    """CoinGecko's automatic grid: up to 1 day 5-minutely, up to 90 days hourly, beyond (and
    `max`) daily."""
    if span is None or span > 90 * ONE_DAY:
        return Interval.DAY
    if span <= ONE_DAY:
        return Interval.FIVE_MINUTES
    return Interval.HOUR


def market_chart(*, session: Session, query: ChartQuery, now: dt.datetime) -> dict[str, Any]:
    """Prices, market caps and volumes on CoinGecko's grid for the requested window.

    The grid's series is used when it has data reaching back to the window's start; else a
    finer one is thinned to the grid (first point per bucket, values untouched); else the
    finest coarser one. A relative (`days`) chart ends, like CoinGecko's, with the newest
    stored point when it lies past the last grid point. Unknown market caps and volumes are
    null.
    """
    coin = _coin(session, query.coin)
    start, end = query.window(now)
    extents = prices_service.extents(session=session, coin_ids=[coin.id])[coin.id]
    if start is not None and start > end:
        return _chart_body([], query.precision)
    grid = query.interval or auto_granularity(None if start is None else end - start)
    finer = [i for i in reversed(FINEST_FIRST) if i.seconds < grid.seconds]
    coarser = [i for i in FINEST_FIRST if i.seconds > grid.seconds]
    source = _pick_series(
        extents, [grid, *finer, *coarser], start, end, dt.timedelta(seconds=grid.seconds)
    )
    rows: list[ChartRow] = []
    if source is not None and source.seconds < grid.seconds:
        rows = prices_service.first_per_bucket(
            session=session,
            coin_id=coin.id,
            series=source,
            width_seconds=grid.seconds,
            start=start,
            end=end,
        )
    elif source is not None:
        rows = [
            (at, price, market_cap, volume)
            for at, _o, _h, _l, _c, price, volume, market_cap in prices_service.points(
                session=session, coin_id=coin.id, interval=source, start=start, end=end
            )
        ]
    newest = prices_service.newest_series(extents)
    if query.start is None and newest is not None:
        interval, extent = newest
        in_window = extent.last <= end and (start is None or extent.last >= start)
        if in_window and (not rows or extent.last > rows[-1][0]):
            key = (coin.id, interval.value, extent.last)
            row = prices_service.points_at(session=session, keys=[key])[coin.id]
            rows.append((row[0], row[5], row[7], row[6]))
    return _chart_body(rows, query.precision)


def _chart_body(rows: Sequence[ChartRow], precision: int | None) -> dict[str, Any]:
    """CoinGecko's three parallel `[ms, value]` arrays, built in one pass (a `max` chart
    holds thousands of points)."""
    prices: list[list[Any]] = []
    market_caps: list[list[Any]] = []
    volumes: list[list[Any]] = []
    for at, price, market_cap, volume in rows:
        stamp = to_millis(at)
        prices.append([stamp, price if precision is None else round(price, precision)])
        market_caps.append([stamp, market_cap])
        volumes.append([stamp, volume])
    return {"prices": prices, "market_caps": market_caps, "total_volumes": volumes}


def market_chart_json(*, session: Session, query: ChartQuery, now: dt.datetime) -> bytes:
    """`market_chart`, serialised: what the cached route stores."""
    return orjson.dumps(market_chart(session=session, query=query, now=now))


# ---- /coins/{id}/ohlc -------------------------------------------------------------------


def candle_seconds(days: int | None) -> int:
    """CoinGecko's candle body: 30 minutes for 1-2 days, 4 hours for 3-30, else 4 days."""
    if days is not None and days <= 2:
        return 30 * 60
    if days is not None and days <= 30:
        return 4 * 3600
    return 4 * SECONDS_PER_DAY


def ohlc(*, session: Session, query: OhlcQuery, now: dt.datetime) -> list[list[float]]:
    """`[close_ms, open, high, low, close]` candles over the last `days`, oldest first.

    Candles are built in SQL from the coarsest stored series finer than the candle width,
    in UTC-epoch-aligned buckets starting at the first whole bucket of the window (the last
    candle may still be forming). When no finer series has data, the stored bars of the
    finest coarser series are returned as they are. Timestamps are candle close times.
    """
    coin = _coin(session, query.coin)
    width = candle_seconds(query.days)
    start = None
    if query.days is not None:
        first = now - dt.timedelta(days=query.days)
        start = ceil_instant(first.replace(microsecond=0), width)  # the window's whole seconds
    extents = prices_service.extents(session=session, coin_ids=[coin.id])[coin.id]
    finer = [i for i in reversed(FINEST_FIRST) if i.seconds < width]
    coarser = [i for i in FINEST_FIRST if i.seconds >= width]
    source = _pick_series(extents, [*finer, *coarser], start, now, dt.timedelta(seconds=width))
    if source is None:
        return []
    if source.seconds < width:
        candles = prices_service.candles(
            session=session,
            coin_id=coin.id,
            series=source,
            width_seconds=width,
            start=start,
            end=now,
        )
        return [
            _candle((c.start + width) * 1000, c.open, c.high, c.low, c.close, query.precision)
            for c in candles
        ]
    bars = prices_service.points(
        session=session, coin_id=coin.id, interval=source, start=start, end=now
    )
    step = dt.timedelta(seconds=source.seconds)
    return [
        _candle(
            to_millis(at + step),
            price if open_ is None else open_,
            price if high is None else high,
            price if low is None else low,
            price if close is None else close,
            query.precision,
        )
        for at, open_, high, low, close, price, _volume, _cap in bars
    ]


def _candle(
    close_ms: int, open_: float, high: float, low: float, close: float, precision: int | None
) -> list[float]:
    """CoinGecko's `[close_ms, open, high, low, close]`, prices to `precision` places."""
    prices = [open_, high, low, close]
    if precision is not None:
        prices = [round(value, precision) for value in prices]
    return [close_ms, *prices]


def ohlc_json(*, session: Session, query: OhlcQuery, now: dt.datetime) -> bytes:
    """`ohlc`, serialised: what the cached route stores."""
    return orjson.dumps(ohlc(session=session, query=query, now=now))
