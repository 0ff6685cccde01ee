"""History planning: which bars a sync wants, which requests fetch them, and which rows the
answers become.

History follows CoinGecko's automatic granularity of `market_chart/range`: a range of up to
one day answers in 5-minute points, 2 to 90 days in hourly points, longer in daily points.
Each of our intervals is filled from requests sized to land in its granularity (`TIERS`),
points are snapped to the interval's UTC grid (CoinGecko's timestamps jitter), and only bars
that are settled (ended by the newest grid instant) and still missing are written, so a
rerun writes nothing and, with no gaps left, calls nothing. Where a coin's history starts
later than the range asked for, the first bar CoinGecko has is stored marked as such
(`ORIGIN_SOURCE`), and the empty range before it is not asked for again.

Charts are handled as arrays (`ChartColumns` in, `PriceColumns` out): thousands of points
per request are validated, snapped to the grid and written without an object per point.

A bar is stored under its START with its CLOSE as `price`, as the CSV importer stores a
day's close under the day: CoinGecko's point at T is the price at T, the close of the bar
[T - width, T) (its daily point stamped D+1 00:00 is day D's close), so it is stored under
T - width, and a request for bars [first, last] asks for points [first + width, last + width].
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cryptopredict.core.timegrid import ONE_DAY, ceil_instant, floor_instant, to_micros
from cryptopredict.marketdata.schemas import ChartColumns, ChartSeries, MarketChart, MarketEntry
from cryptopredict.prices.types import Gap, Interval, PriceColumns, PriceRow

logger = logging.getLogger(__name__)

SOURCE = "coingecko"
# Latest-price rows hold the price so far of a bar still open; history replaces them with the
# bar's real close once it has settled, so gap finding does not count them as present.
LATEST_SOURCE = "coingecko-latest"
# The first bar CoinGecko has of a series (a coin listed after the range asked for): history
# asks for nothing older. Otherwise a plain CoinGecko bar, so it counts as present.
ORIGIN_SOURCE = "coingecko-origin"
# Requests never start closer than this to the oldest instant asked for, so a range at the
# edge of what the plan allows is not refused because a few milliseconds passed in transit.
EDGE_MARGIN = dt.timedelta(minutes=10)


# ---- tiers and windows ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """How one of our intervals is filled from `market_chart/range`.

    `lookback` caps how far back this interval is kept (None: as far as asked); a request
    spanning between `min_span` and `max_span` answers at this interval's granularity.
    """

    interval: Interval
    lookback: dt.timedelta | None
    min_span: dt.timedelta
    max_span: dt.timedelta

    @property
    def width(self) -> dt.timedelta:
        """One bar."""
        return dt.timedelta(seconds=self.interval.seconds)

    @property
    def pad(self) -> dt.timedelta:
        """Slack on each side of a request, so jittered points at the edges still arrive."""
        return min(self.width / 2, dt.timedelta(minutes=5))


TIERS: dict[Interval, Tier] = {
    Interval.DAY: Tier(Interval.DAY, None, min_span=91 * ONE_DAY, max_span=365 * ONE_DAY),
    Interval.HOUR: Tier(Interval.HOUR, 90 * ONE_DAY, min_span=2 * ONE_DAY, max_span=90 * ONE_DAY),
    Interval.FIVE_MINUTES: Tier(
        Interval.FIVE_MINUTES, ONE_DAY, min_span=dt.timedelta(0), max_span=ONE_DAY
    ),
}


@dataclass(frozen=True, slots=True)
class Window:
    """The bars of one interval a history run wants: [start, end] on the grid."""

    interval: Interval
    start: dt.datetime
    end: dt.datetime


def settled_instant(tier: Tier, now: dt.datetime) -> dt.datetime:
    """The newest grid instant at or before `now`: the close of the newest settled bar.

    Chart points later than it (the live last point, or a 5-minute point jittered past it)
    are never used, so the live price is never stored as a bar's close.
    """
    return floor_instant(now, tier.interval.seconds)


def history_window(tier: Tier, *, days: int, now: dt.datetime) -> Window | None:
    """Settled bars within the last `days` (capped by the tier's lookback), or None if none.

    A bar is settled once its close instant (its end) is at or before `now`: the newest
    wanted bar ends at `settled_instant`. The oldest starts within the lookback, so its
    closing point (a bar later) is within reach of the plan too.
    """
    lookback = days * ONE_DAY if tier.lookback is None else min(days * ONE_DAY, tier.lookback)
    seconds = tier.interval.seconds
    end = settled_instant(tier, now) - tier.width
    start = ceil_instant(now - lookback + EDGE_MARGIN, seconds)
    return Window(tier.interval, start, end) if start <= end else None


# ---- chunks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    """One `market_chart/range` request and the missing bars it is meant to fill.

    `settled` is the newest grid instant whose point may be used (`settled_instant`); later
    points are ignored. None: the close of the newest wanted bar.
    """

    interval: Interval
    fetch_from: dt.datetime
    fetch_to: dt.datetime
    wanted: tuple[tuple[dt.datetime, dt.datetime], ...]
    settled: dt.datetime | None = None

    @property
    def first(self) -> dt.datetime:
        """The oldest wanted bar."""
        return self.wanted[0][0]

    @property
    def last(self) -> dt.datetime:
        """The newest wanted bar."""
        return self.wanted[-1][1]

    @property
    def horizon(self) -> dt.datetime:
        """The newest instant a usable point may have: later ones are live, not closes."""
        if self.settled is not None:
            return self.settled
        return self.last + dt.timedelta(seconds=Interval(self.interval).seconds)

    def wants(self, instant: dt.datetime) -> bool:
        """Whether the bar starting at `instant` is one this chunk should write."""
        return any(start <= instant <= end for start, end in self.wanted)


def plan_chunks(
    tier: Tier,
    gaps: Iterable[Gap],
    *,
    now: dt.datetime,
    earliest: dt.datetime,
    split_at: dt.datetime | None = None,
) -> list[Chunk]:
    """The fewest requests that cover every gap at the tier's granularity, oldest first.

    A bar's close is the point at its end, so a request for bars [first, last] asks for
    [first + width - pad, last + width + pad] (never past `now`). Gaps are split where a
    request would span more than `max_span` and at `split_at` (the oldest instant the plan
    surely reaches: bars from the first one starting there have their closing points
    within reach, so a refused older range costs no newer bars), neighbouring gaps share a
    request when they fit in one, and a short request is widened (forwards, up to now, then
    backwards, never before `earliest`) to `min_span` so it keeps the granularity.
    """
    width, pad = tier.width, tier.pad
    most = (tier.max_span - 2 * pad) // width * width  # first-to-last bar span per request
    if most < dt.timedelta(0):
        raise ValueError(f"{tier.interval} requests cannot hold a single bar")
    edge = None if split_at is None else ceil_instant(split_at, tier.interval.seconds)
    settled = settled_instant(tier, now)
    ranges: list[tuple[dt.datetime, dt.datetime]] = []
    for gap in sorted(gaps, key=lambda g: g.start):
        if edge is not None and gap.start < edge <= gap.end:
            ranges += [(gap.start, edge - width), (edge, gap.end)]
        else:
            ranges.append((gap.start, gap.end))
    pieces: list[tuple[dt.datetime, dt.datetime]] = []
    for first, last in ranges:
        start = first
        while start <= last:
            end = min(last, start + most)
            pieces.append((start, end))
            start = end + width
    groups: list[list[tuple[dt.datetime, dt.datetime]]] = []
    for piece in pieces:
        if groups:
            head = groups[-1][0][0]
            same_side = edge is None or (piece[0] < edge) == (head < edge)
            if same_side and piece[1] - head <= most:
                groups[-1].append(piece)
                continue
        groups.append([piece])
    chunks = []
    for group in groups:
        # A bar's close is the point at its end, so fetch one bar width later than its start.
        fetch_from = group[0][0] + width - pad
        fetch_to = min(group[-1][1] + width + pad, max(now, group[-1][1] + width))
        if fetch_to - fetch_from < tier.min_span:
            fetch_to = max(fetch_to, min(now, fetch_from + tier.min_span))
        if fetch_to - fetch_from < tier.min_span:
            fetch_from = max(earliest, fetch_to - tier.min_span)
        chunks.append(Chunk(tier.interval, fetch_from, fetch_to, tuple(group), settled))
    return chunks


# ---- chart payloads to rows -------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    """A usable number, or None for missing, NaN, infinite or negative figures."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


Micros = npt.NDArray[np.int64]
Indices = npt.NDArray[np.intp]


def _wanted_mask(chunk: Chunk, starts: Micros) -> npt.NDArray[np.bool_]:
    """`chunk.wants` for each bar start (epoch microseconds), by binary search."""
    spans = sorted((to_micros(start), to_micros(end)) for start, end in chunk.wanted)
    firsts = np.array([start for start, _ in spans], dtype=np.int64)
    # The furthest end among the ranges starting at or before each one.
    reach = np.maximum.accumulate(np.array([end for _, end in spans], dtype=np.int64))
    index = np.searchsorted(firsts, starts, side="right") - 1
    return (index >= 0) & (starts <= reach[np.maximum(index, 0)])


def _assign(moments: Micros, chunk: Chunk) -> tuple[Micros, Indices]:
    """The wanted bars (starts, ascending) and the index of the point that closes each.

    Each point (epoch microseconds) goes to the grid instant nearest it; where several are
    nearest the same instant, the closest (then the earliest) keeps it and the others are
    displaced, in the order a scan of the points would displace them (`_displace`). Which
    point closes which bar depends on the timestamps alone, so the three series of a chart,
    which share their timestamps, are assigned once.
    """
    width = Interval(chunk.interval).seconds * 1_000_000
    horizon = to_micros(chunk.horizon)
    kept = np.flatnonzero(moments <= horizon)
    at = moments[kept]
    slots = (at + width // 2) // width * width
    distance = np.abs(at - slots)
    order = np.lexsort((kept, distance, slots))  # by slot, nearest first, then earliest
    ordered = slots[order]
    heads = np.ones(len(order), dtype=bool)
    heads[1:] = ordered[1:] != ordered[:-1]
    taken, points = ordered[heads], kept[order[heads]]
    if not heads.all():
        moved = _displace(at, slots, distance, kept, order, heads, taken, width, horizon)
        if moved:
            taken = np.concatenate([taken, np.array([slot for slot, _ in moved], np.int64)])
            points = np.concatenate([points, np.array([index for _, index in moved], np.intp)])
    # A point at T is the close of the bar [T - width, T): stored under that bar's start, as
    # the CSV importer stores a day's close under the day (CoinGecko stamps it D+1 00:00).
    starts = taken - width
    wanted = _wanted_mask(chunk, starts)
    starts, points = starts[wanted], points[wanted]
    ascending = np.argsort(starts)
    return starts[ascending], points[ascending]


def _displace(
    at: Micros,
    slots: Micros,
    distance: Micros,
    kept: Indices,
    order: Indices,
    heads: npt.NDArray[np.bool_],
    taken: Micros,
    width: int,
    horizon: int,
) -> list[tuple[int, int]]:
    """(slot, point index) of displaced points moved to a free neighbouring slot.

    A scan of the points in order lets the nearer of two points keep a slot (the earlier on
    a tie) and displaces the other at that moment; displaced points then take the free slot
    beside theirs (on their side of it, up to the horizon) in the order they were displaced.
    Only contested slots are replayed here, so the usual chart costs no Python loop.
    """
    bounds = np.flatnonzero(heads).tolist() + [len(order)]
    displaced: list[tuple[int, int]] = []  # (when, position in `kept`)
    for first, end in itertools.pairwise(bounds):
        if end - first < 2:
            continue
        holder: int | None = None
        for position in sorted(order[first:end].tolist(), key=lambda p: int(kept[p])):
            when = int(kept[position])
            if holder is None:
                holder = position
            elif distance[position] < distance[holder]:
                displaced.append((when, holder))
                holder = position
            else:
                displaced.append((when, position))
    occupied = set(taken.tolist())
    moved = []
    for _, position in sorted(displaced):
        point, slot = int(at[position]), int(slots[position])
        if point == slot:
            continue
        neighbour = slot - width if point < slot else slot + width
        if neighbour not in occupied and neighbour <= horizon:
            occupied.add(neighbour)
            moved.append((neighbour, int(kept[position])))
    return moved


def _values_at(
    series: ChartSeries, prices: ChartSeries, starts: Micros, points: Indices, chunk: Chunk
) -> npt.NDArray[np.float64]:
    """A cap or volume series' value for each bar (NaN where none), reusing the prices'
    assignment when the series has the same timestamps."""
    if np.array_equal(series.micros, prices.micros):
        return series.values[points]
    own_starts, own_points = _assign(series.micros, chunk)
    values = np.full(len(starts), np.nan)
    if len(own_starts):
        index = np.minimum(np.searchsorted(own_starts, starts), len(own_starts) - 1)
        hit = own_starts[index] == starts
        values[hit] = series.values[own_points[index[hit]]]
    return values


def chart_rows(chart: ChartColumns | MarketChart, *, coin_id: int, chunk: Chunk) -> PriceColumns:
    """Price points for the chunk's missing bars, snapped to the grid (no OHLC: points),
    ascending; each bar takes the point nearest its end, never one past the horizon."""
    if isinstance(chart, MarketChart):
        chart = ChartColumns.from_chart(chart)
    prices = chart.prices
    starts, points = _assign(prices.micros, chunk)
    price = prices.values[points]
    usable = price > 0
    caps = _values_at(chart.market_caps, prices, starts, points, chunk)
    volumes = _values_at(chart.total_volumes, prices, starts, points, chunk)
    return PriceColumns(
        coin_id=coin_id,
        interval=str(chunk.interval),
        source=SOURCE,
        price_at=starts[usable],
        price=price[usable],
        volume=volumes[usable],
        market_cap=caps[usable],
    )


def market_rows(entries: Iterable[MarketEntry], coin_ids: dict[str, int]) -> list[PriceRow]:
    """One 5-minute bar per known coin: the price at CoinGecko's `last_updated` T is the
    (running) close of the bar ending at the first grid instant at or after T, so it is
    stored under that bar's start, as the history sync stores a point at T; syncing again
    within the same five minutes rewrites the same row."""
    five = Interval.FIVE_MINUTES.seconds
    rows = []
    for entry in entries:
        coin_id = coin_ids.get(entry.id)
        price = _finite(entry.current_price)
        if coin_id is None or price is None or price <= 0 or entry.last_updated is None:
            logger.info("no usable latest price for %s; skipped", entry.id)
            continue
        rows.append(
            PriceRow(
                coin_id=coin_id,
                interval=Interval.FIVE_MINUTES.value,
                price_at=ceil_instant(entry.last_updated, five) - dt.timedelta(seconds=five),
                open=None,
                high=None,
                low=None,
                close=None,
                price=price,
                volume=_finite(entry.total_volume),
                market_cap=_finite(entry.market_cap),
                source=LATEST_SOURCE,
            )
        )
    return rows
