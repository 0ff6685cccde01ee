"""Price logic: series reads, latest prices, OHLC resampling, summary stats and bulk writes.

Every read costs a fixed number of queries (the hot ones: two for a history, four for the
latest prices of up to 100 coins), never one per coin or per point.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import ColumnElement, ColumnExpressionArgument
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.cache import PRICES_NAMESPACE, ResponseCache
from cryptopredict.core.config import Settings
from cryptopredict.core.errors import NotFoundError, ValidationFailedError
from cryptopredict.core.timegrid import ONE_DAY, ceil_instant, floor_instant
from cryptopredict.prices import retention
from cryptopredict.prices.repository import PriceRepository, coin_has_prices
from cryptopredict.prices.schemas import (
    BulkPrices,
    BulkResult,
    Candle,
    ChartRow,
    GapRead,
    GapReport,
    LatestPrice,
    LatestPrices,
    OhlcBar,
    OhlcSeries,
    PeriodReturn,
    PriceStats,
    TimeRange,
    Volatility,
    WindowKey,
    WindowStats,
)
from cryptopredict.prices.types import (
    FINEST_FIRST,
    Interval,
    PointLookup,
    PointRow,
    PriceColumns,
    PriceRow,
    SeriesExtent,
    SeriesGaps,
)

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)

RETURN_PERIODS = {"24h": ONE_DAY, "7d": 7 * ONE_DAY, "30d": 30 * ONE_DAY}
VOLATILITY_WINDOWS_DAYS = (7, 30)
DAYS_PER_YEAR = 365
BULK_SOURCE = "api"

Extents = Mapping[Interval, SeriesExtent]
"""The stored series of one coin and the span each covers (what `extents` gives per coin)."""


# ---- helpers ----------------------------------------------------------------------------


def query_error(field: str, message: str, kind: str = "value_error") -> ValidationFailedError:
    """A 422 whose details match FastAPI's own validation errors, so clients parse one shape."""
    return ValidationFailedError(
        message, details=[{"loc": ["query", field], "msg": message, "type": kind}]
    )


def newest_series(extents: Extents) -> tuple[Interval, SeriesExtent] | None:
    """The series holding the newest instant; the finest one when several share it."""
    best: tuple[Interval, SeriesExtent] | None = None
    for interval in FINEST_FIRST:
        extent = extents.get(interval)
        if extent is not None and (best is None or extent.last > best[1].last):
            best = (interval, extent)
    return best


def reference_series(extents: Extents, target: dt.datetime, horizon: dt.timedelta) -> str | None:
    """The finest series that has data at or before `target` and not too long before it."""
    for interval in FINEST_FIRST:
        extent = extents.get(interval)
        if extent is not None and extent.first <= target and extent.last >= target - horizon:
            return interval.value
    return None


# ---- reads ------------------------------------------------------------------------------


def history(
    *,
    session: Session,
    coin: Cryptocurrency,
    interval: Interval,
    window: TimeRange,
    limit: int,
) -> dict[str, Any]:
    """A series in [start, end] as plain data ready for orjson (the charting hot path).

    Reads `limit + 1` rows newest first to learn whether the range held more than `limit`.
    """
    rows = PriceRepository(session).points(
        coin.id, interval, start=window.start, end=window.end, limit=limit + 1
    )
    truncated = len(rows) > limit
    if truncated:
        rows = rows[1:]
    return {
        "coin": coin.coingecko_id,
        "interval": interval.value,
        "truncated": truncated,
        "points": [
            {
                "timestamp": at,
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "price": price,
                "volume": volume,
                "market_cap": market_cap,
            }
            for at, open_, high, low, close, price, volume, market_cap in rows
        ],
    }


def history_json(
    *, session: Session, identifier: str, interval: Interval, window: TimeRange, limit: int
) -> bytes:
    """`history` for a coin id or symbol, serialised: what the cached route stores."""
    coin = coins_service.get_by_identifier(session=session, identifier=identifier)
    payload = history(session=session, coin=coin, interval=interval, window=window, limit=limit)
    return orjson.dumps(payload, option=orjson.OPT_UTC_Z)


def latest_json(*, session: Session, coingecko_ids: Sequence[str]) -> bytes:
    """`latest`, serialised: what the cached route stores."""
    return latest(session=session, coingecko_ids=coingecko_ids).model_dump_json().encode()


def latest(*, session: Session, coingecko_ids: Sequence[str]) -> LatestPrices:
    """Newest point and 24 h change per coin in four queries, whatever the number of coins.

    The 24 h change compares the newest point with the newest point at or before 24 h
    earlier, from the finest series reaching back that far; no such point within a further
    24 h means the change is null rather than measured over some longer, unstated period.
    """
    coins = coins_service.get_many(session=session, coingecko_ids=coingecko_ids)
    missing = [i for i in coingecko_ids if i not in coins]
    if not coins:
        raise NotFoundError("None of the requested coins is known", details={"missing": missing})
    known = [coins[i] for i in coingecko_ids if i in coins]
    prices = PriceRepository(session)
    extents = prices.extents([coin.id for coin in known])
    newest = {
        coin.id: found for coin in known if (found := newest_series(extents[coin.id])) is not None
    }
    rows = prices.points_at(
        [(coin_id, interval.value, extent.last) for coin_id, (interval, extent) in newest.items()]
    )
    lookups: list[PointLookup] = []
    for coin_id, (_interval, extent) in newest.items():
        target = extent.last - ONE_DAY
        series = reference_series(extents[coin_id], target, ONE_DAY)
        if series is not None:
            lookups.append(PointLookup(coin_id=coin_id, interval=series, at=target))
    references = dict(
        zip((lookup.coin_id for lookup in lookups), prices.at_or_before(lookups), strict=True)
    )

    items: list[LatestPrice] = []
    no_data: list[str] = []
    for coin in known:
        row = rows.get(coin.id)
        if row is None:
            no_data.append(coin.coingecko_id)
            continue
        interval = newest[coin.id][0]
        price = row[5]
        reference = references.get(coin.id)
        if reference is not None and reference[0] < row[0] - 2 * ONE_DAY:
            reference = None
        items.append(
            LatestPrice(
                coin=coin.coingecko_id,
                symbol=coin.symbol,
                name=coin.name,
                interval=interval,
                timestamp=row[0],
                price=price,
                volume=row[6],
                market_cap=row[7],
                price_change_24h=None if reference is None else price - reference[1],
                price_change_percentage_24h=(
                    None if reference is None else 100.0 * (price / reference[1] - 1.0)
                ),
                reference_at=None if reference is None else reference[0],
                reference_price=None if reference is None else reference[1],
            )
        )
    return LatestPrices(items=items, missing=missing, no_data=no_data)


def ohlc(
    *,
    session: Session,
    coin: Cryptocurrency,
    interval: Interval,
    window: TimeRange,
    limit: int,
    source: Interval | None = None,
) -> OhlcSeries:
    """OHLC bars whose start lies in [start, end], the newest `limit` of them.

    Without `source`, stored bars of `interval` are used when that series exists, and
    otherwise the finest finer stored series is resampled (first open, highest high, lowest
    low, last price as close, summed volume per UTC-aligned bucket). With `source`, that
    series is always resampled.
    """
    if source is not None and source.seconds >= interval.seconds:
        raise query_error("target", "target must be a coarser interval than source")
    prices = PriceRepository(session)
    extents = prices.extents([coin.id])[coin.id]
    if source is None:
        finer = [i for i in FINEST_FIRST if i in extents and i.seconds <= interval.seconds]
        source = interval if interval in extents else (finer[0] if finer else None)
    if source is None:
        return OhlcSeries(
            coin=coin.coingecko_id,
            interval=interval,
            source_interval=None,
            resampled=False,
            truncated=False,
            bars=[],
        )
    if source == interval:
        rows = prices.points(coin.id, interval, start=window.start, end=window.end, limit=limit + 1)
        bars = [
            OhlcBar(
                timestamp=price_at,
                open=price if open_ is None else open_,
                high=price if high is None else high,
                low=price if low is None else low,
                close=price if close is None else close,
                volume=volume,
                points=None,
            )
            for price_at, open_, high, low, close, price, volume, _cap in rows
        ]
    else:
        bars = _resampled_bars(prices, coin.id, source, interval, window, limit, extents)
    truncated = len(bars) > limit
    return OhlcSeries(
        coin=coin.coingecko_id,
        interval=interval,
        source_interval=source,
        resampled=source != interval,
        truncated=truncated,
        bars=bars[-limit:],
    )


def _resampled_bars(
    prices: PriceRepository,
    coin_id: int,
    source: Interval,
    target: Interval,
    window: TimeRange,
    limit: int,
    extents: Extents,
) -> list[OhlcBar]:
    """Up to `limit + 1` resampled bars, reading only the source rows those bars need."""
    width = target.seconds
    start = ceil_instant(window.start, width) if window.start is not None else None
    end = None
    if window.end is not None:
        end = floor_instant(window.end, width) + dt.timedelta(seconds=width, microseconds=-1)
    extent = extents.get(source)
    if extent is not None:
        newest_bar = floor_instant(min(extent.last, end) if end is not None else extent.last, width)
        earliest_needed = newest_bar - dt.timedelta(seconds=width * limit)
        start = earliest_needed if start is None else max(start, earliest_needed)
    return [
        OhlcBar(
            timestamp=bar.price_at,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            points=bar.points,
        )
        for bar in prices.resample(coin_id, source, target, start=start, end=end)
    ]


def stats(*, session: Session, coin: Cryptocurrency) -> PriceStats:
    """Last price, returns and volatility as of the newest stored point.

    Anchoring at the newest point (not the wall clock) keeps the numbers meaningful for a
    series that stopped updating; `as_of` says which instant that is.

    - Return over a period P: `last_price / p_ref - 1`, where `p_ref` is the newest point at
      or before `as_of - P` in the finest series reaching back that far; null when there is
      none, or when it is older than `as_of - 2P` (a gap would silently stretch the period).
    - Volatility over N days, from daily closes (the stored 1d series, or one resampled from
      the finest series when no daily series exists): log returns `r_t = ln(p_t / p_(t-1))`
      between consecutive closes 12-36 h apart whose later close lies within N days of the
      newest close; `daily` is their sample standard deviation (n - 1 denominator, null with
      fewer than two returns) and `annualised = daily * sqrt(365)`.
    """
    prices = PriceRepository(session)
    extents = prices.extents([coin.id])[coin.id]
    found = newest_series(extents)
    if found is None:
        raise NotFoundError(
            f"No prices stored for {coin.coingecko_id!r}", details={"coin": coin.coingecko_id}
        )
    interval, extent = found
    as_of = extent.last
    last_price = prices.points_at([(coin.id, interval.value, as_of)])[coin.id][5]

    lookups: dict[str, PointLookup] = {}
    for name, period in RETURN_PERIODS.items():
        series = reference_series(extents, as_of - period, period)
        if series is not None:
            lookups[name] = PointLookup(coin_id=coin.id, interval=series, at=as_of - period)
    references = dict(zip(lookups, prices.at_or_before(list(lookups.values())), strict=True))

    def period_return(name: str) -> PeriodReturn:
        reference = references.get(name)
        if reference is None or reference[0] < as_of - 2 * RETURN_PERIODS[name]:
            return PeriodReturn(value=None, reference_at=None, reference_price=None)
        return PeriodReturn(
            value=last_price / reference[1] - 1.0,
            reference_at=reference[0],
            reference_price=reference[1],
        )

    closes = _daily_closes(prices, coin.id, extents, max(VOLATILITY_WINDOWS_DAYS))
    return PriceStats(
        coin=coin.coingecko_id,
        as_of=as_of,
        interval=interval,
        last_price=last_price,
        return_24h=period_return("24h"),
        return_7d=period_return("7d"),
        return_30d=period_return("30d"),
        volatility_7d=volatility(closes, VOLATILITY_WINDOWS_DAYS[0]),
        volatility_30d=volatility(closes, VOLATILITY_WINDOWS_DAYS[1]),
    )


def _daily_closes(
    prices: PriceRepository, coin_id: int, extents: Extents, days: int
) -> list[tuple[dt.datetime, float]]:
    """The last `days + 1` days of daily closes, stored or resampled from the finest series."""
    daily = extents.get(Interval.DAY)
    if daily is not None:
        rows = prices.points(
            coin_id, Interval.DAY, start=daily.last - days * ONE_DAY, end=daily.last
        )
        return [(row[0], row[5]) for row in rows]
    finest = next((i for i in FINEST_FIRST if i in extents), None)
    if finest is None:
        return []
    start = floor_instant(extents[finest].last, Interval.DAY.seconds) - days * ONE_DAY
    bars = prices.resample(coin_id, finest, Interval.DAY, start=start)
    return [(bar.price_at, bar.close) for bar in bars]


def volatility(closes: Sequence[tuple[dt.datetime, float]], window_days: int) -> Volatility:
    """Stdev of daily log returns ending within `window_days` of the last close (see stats)."""
    if not closes:
        return Volatility(window_days=window_days, observations=0, daily=None, annualised=None)
    since = closes[-1][0] - window_days * ONE_DAY
    returns = [
        math.log(price / previous_price)
        for (previous_at, previous_price), (at, price) in zip(closes, closes[1:], strict=False)
        if at > since
        and ONE_DAY / 2 <= at - previous_at <= ONE_DAY * 1.5
        # Rows from before the bounds on stored prices may hold anything: skip what has no log.
        and previous_price > 0
        and math.isfinite(price / previous_price)
        and price / previous_price > 0
    ]
    daily = statistics.stdev(returns) if len(returns) >= 2 else None
    return Volatility(
        window_days=window_days,
        observations=len(returns),
        daily=daily,
        annualised=None if daily is None else daily * math.sqrt(DAYS_PER_YEAR),
    )


def gaps(
    *, session: Session, coin: Cryptocurrency, interval: Interval, window: TimeRange
) -> GapReport:
    """Runs of missing bars in one series, between its ends or the given bounds."""
    found = PriceRepository(session).find_gaps(
        coin.id, interval, start=window.start, end=window.end
    )
    return GapReport(
        coin=coin.coingecko_id,
        interval=interval,
        start=window.start,
        end=window.end,
        missing_total=sum(gap.missing for gap in found),
        gaps=[GapRead(start=gap.start, end=gap.end, missing=gap.missing) for gap in found],
    )


# ---- writes -----------------------------------------------------------------------------


def bulk_write(*, session: Session, cache: ResponseCache, data: BulkPrices) -> BulkResult:
    """Write every point or none: unknown coins and duplicate keys are reported by index.

    Points are upserted, so re-posting the same data writes 0 rows and changed values
    replace stored ones.
    """
    points = data.points
    coins = coins_service.get_many(
        session=session, coingecko_ids=list(dict.fromkeys(point.coin for point in points))
    )
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, dt.datetime], int] = {}
    for index, point in enumerate(points):
        if point.coin not in coins:
            errors.append(_point_error(index, "coin", "unknown coin", "unknown_coin"))
        key = (point.coin, point.interval.value, point.timestamp)
        if key in seen:
            message = f"same coin, interval and timestamp as point {seen[key]}"
            errors.append(_point_error(index, "timestamp", message, "duplicate_point"))
        else:
            seen[key] = index
    if errors:
        raise _rejected(errors, len(points))
    rows = [
        PriceRow(
            coin_id=coins[point.coin].id,
            interval=point.interval.value,
            price_at=point.timestamp,
            open=point.open,
            high=point.high,
            low=point.low,
            close=point.close,
            price=point.price,
            volume=point.volume,
            market_cap=point.market_cap,
            source=BULK_SOURCE,
        )
        for point in points
    ]
    try:
        written = PriceRepository(session).bulk_upsert(rows)
        session.commit()
    except IntegrityError as exc:  # a constraint the schema checks missed
        session.rollback()
        raise _rejected([], len(points)) from exc
    if written:
        cache.invalidate(PRICES_NAMESPACE)
    logger.info("bulk prices: %d written of %d received", written, len(points))
    return BulkResult(written=written, received=len(points))


def write_rows(*, session: Session, rows: Sequence[PriceRow]) -> int:
    """Upsert rows in the caller's transaction (rows equal to stored ones are not rewritten);
    returns how many were written. For writers that own their transactions, like the sync."""
    return PriceRepository(session).bulk_upsert(rows)


def write_provisional_rows(
    *, session: Session, rows: Sequence[PriceRow], provisional_source: str
) -> int:
    """`write_rows` for stand-in values (a latest price): a bar already stored from any other
    source is settled and never overwritten by one."""
    settled = PriceRepository(session).settled_keys(rows, provisional_source=provisional_source)
    return write_rows(session=session, rows=[row for row in rows if row.key not in settled])


def write_columns(*, session: Session, batch: PriceColumns, expect_new: bool = False) -> int:
    """`write_rows` for one series given as arrays: the cheap path for thousands of points.
    `expect_new`: the caller writes bars it found missing (see `bulk_upsert_columns`)."""
    return PriceRepository(session).bulk_upsert_columns(batch, expect_new=expect_new)


def relabel(
    *,
    session: Session,
    coin_id: int,
    interval: Interval,
    price_at: dt.datetime,
    source: str,
    replacing: str,
) -> bool:
    """Change the source of one stored row that still has the source `replacing`, in the
    caller's transaction; True if it did."""
    return PriceRepository(session).set_source(
        coin_id, interval, price_at, source, replacing=replacing
    )


def series_gaps(
    *,
    session: Session,
    coin_id: int,
    windows: Mapping[Interval, tuple[dt.datetime, dt.datetime]],
    provisional_source: str | None = None,
) -> dict[Interval, SeriesGaps]:
    """The missing bars of several series of one coin, each within its [start, end], and
    the first bar present in each, in one query; rows from `provisional_source` count as
    missing."""
    return PriceRepository(session).series_gaps(
        coin_id, windows, provisional_source=provisional_source
    )


def apply_retention(
    *, session: Session, settings: Settings, now: dt.datetime, cache: ResponseCache | None = None
) -> retention.RetentionReport:
    """Downsample old prices as this deployment's retention settings say (`retention`)."""
    return retention.apply_retention(
        session=session,
        policy=retention.RetentionPolicy.from_settings(settings),
        now=now,
        cache=cache,
    )


# ---- lean reads for other domains (the CoinGecko mirror): one statement each -------------


def bar_count(*, session: Session, coin_id: int, interval: Interval) -> int:
    """How many bars one series holds."""
    return PriceRepository(session).bar_count(coin_id, interval)


def extents(
    *, session: Session, coin_ids: Sequence[int]
) -> dict[int, dict[Interval, SeriesExtent]]:
    """First and last instant of every stored series of these coins, so a caller picks the
    series that covers a window before reading it."""
    return PriceRepository(session).extents(coin_ids)


def newest_price_at(*, session: Session) -> dt.datetime | None:
    """The newest stored instant of any active coin in any interval (None with no prices),
    so a reader can tell how fresh the store is; one statement of index probes."""
    return PriceRepository(session).newest_price_at(coins_service.active_ids())


def points(
    *,
    session: Session,
    coin_id: int,
    interval: Interval,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[PointRow]:
    """Every point of one series in [start, end] as tuples, oldest first (no ORM objects)."""
    return PriceRepository(session).points(coin_id, interval, start=start, end=end)


def points_at(
    *, session: Session, keys: Sequence[tuple[int, str, dt.datetime]]
) -> dict[int, PointRow]:
    """The points with these exact (coin, interval, instant) keys, by coin."""
    return PriceRepository(session).points_at(keys)


def at_or_before(
    *, session: Session, lookups: Sequence[PointLookup]
) -> list[tuple[dt.datetime, float] | None]:
    """For each lookup, the (instant, price) of the newest point at or before its time."""
    return PriceRepository(session).at_or_before(lookups)


def prices_at(
    *,
    session: Session,
    coin_ids: Sequence[int],
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[int, tuple[dt.datetime, float]]:
    """Per coin, the newest stored price known at ``at`` (the newest of all when None) and the
    instant it is the price of. A bar is stored under its start with its close as price, so
    its price is the price at its end: a bar counts at ``at`` only once it has ended by then,
    and a bar still running is the price at ``now`` at the latest. Every series is asked (one
    query for the extents, one of index probes) and the price of the latest instant wins, the
    finest series on a tie. Coins with no price by then are absent."""
    now = now or dt.datetime.now(dt.UTC)
    prices = PriceRepository(session)
    all_extents = prices.extents(list(coin_ids))
    lookups: list[PointLookup] = []
    widths: list[dt.timedelta] = []
    for coin_id in coin_ids:
        extents = all_extents.get(coin_id, {})
        for interval in FINEST_FIRST:
            extent = extents.get(interval)
            width = dt.timedelta(seconds=interval.seconds)
            if extent is None or (at is not None and extent.first > at - width):
                continue
            lookups.append(
                PointLookup(coin_id, interval.value, extent.last if at is None else at - width)
            )
            widths.append(width)
    found: dict[int, tuple[dt.datetime, float]] = {}
    for lookup, width, point in zip(lookups, widths, prices.at_or_before(lookups), strict=True):
        if point is None:
            continue
        known = (min(point[0] + width, now), point[1])
        if lookup.coin_id not in found or known[0] > found[lookup.coin_id][0]:
            found[lookup.coin_id] = known
    return found


def daily_bars_since(*, session: Session, since: dt.datetime) -> dict[int, set[dt.datetime]]:
    """Per coin, the starts of its daily bars from ``since`` on: taken before and after a
    write, they tell which bars it added (``changed_from``)."""
    return PriceRepository(session).series_starts(Interval.DAY, since)


def changed_from(
    before: Mapping[int, set[dt.datetime]], after: Mapping[int, set[dt.datetime]]
) -> dict[int, dt.datetime]:
    """Per coin whose daily bars a write added, the start of the earliest new one."""
    changed: dict[int, dt.datetime] = {}
    for coin_id, starts in after.items():
        new = starts - before.get(coin_id, set())
        if new:
            changed[coin_id] = min(new)
    return changed


def window_stats(*, session: Session, keys: Sequence[WindowKey]) -> list[WindowStats]:
    """High, low and reference market cap of each key's window, in the keys' order."""
    return PriceRepository(session).window_stats(keys)


def window_points(
    *, session: Session, keys: Sequence[WindowKey]
) -> list[list[tuple[dt.datetime, float]]]:
    """The (instant, price) points of each key's window, oldest first, in the keys' order."""
    return PriceRepository(session).window_points(keys)


def first_per_bucket(
    *,
    session: Session,
    coin_id: int,
    series: Interval,
    width_seconds: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[ChartRow]:
    """One series thinned to the first point of each UTC-aligned bucket of `width_seconds`
    in [start, end], values untouched (a coarser chart grid from a finer series)."""
    return PriceRepository(session).first_per_bucket(
        coin_id, series, width_seconds, start=start, end=end
    )


def candles(
    *,
    session: Session,
    coin_id: int,
    series: Interval,
    width_seconds: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[Candle]:
    """OHLC candles of any width from a finer series, per UTC-epoch-aligned bucket with data
    in [start, end] (widths that are not a stored interval, unlike `ohlc`)."""
    return PriceRepository(session).candles(coin_id, series, width_seconds, start=start, end=end)


def has_prices(coin_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
    """A filter for another domain's query on its coins (the coins service's catalogue):
    the coin has at least one stored price. Keeps that query one paged statement without
    the other domain reading the prices table itself."""
    return coin_has_prices(coin_id)


def _point_error(index: int, field: str, message: str, kind: str) -> dict[str, Any]:
    """One entry in the shape of FastAPI's validation errors, pointing at the bad point."""
    return {"loc": ["body", "points", index, field], "msg": message, "type": kind}


def _rejected(errors: list[dict[str, Any]], received: int) -> ValidationFailedError:
    """The all-or-nothing refusal: nothing was written."""
    bad = len({error["loc"][2] for error in errors})
    return ValidationFailedError(
        f"{bad} of {received} points are invalid; nothing was written", details=errors
    )
