"""Sync from CoinGecko into our tables: the coin catalogue, latest prices and gap-free history.

Every batch is upserted in one short transaction, committed, and announced to the response
cache before the next call is made. A fault (429 storm, 5xx, timeout, garbage JSON, breaker
open) stops the run: committed batches stay, nothing half-written is kept, the run is recorded
as failed, and the next run starts from the gaps that remain, so no range is fetched twice
and no row is duplicated.

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
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.coins.schemas import (
    COINGECKO_ID_MAX_LENGTH,
    COINGECKO_ID_PATTERN,
    IMAGE_URL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    SYMBOL_MAX_LENGTH,
)
from cryptopredict.core.cache import PRICES_NAMESPACE, ResponseCache
from cryptopredict.core.database import utcnow
from cryptopredict.core.pagination import PageParams
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.exceptions import (
    CoinGeckoError,
    MalformedResponseError,
    UpstreamAuthError,
    UpstreamNotFoundError,
)
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.repository import SyncRunRepository
from cryptopredict.marketdata.schemas import (
    ChartColumns,
    ChartSeries,
    CoinListEntry,
    MarketChart,
    MarketEntry,
)
from cryptopredict.marketdata.types import (
    DEFAULT_HISTORY_DAYS,
    ProgressCallback,
    SyncKind,
    SyncStatus,
)
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.service import Gap, PriceColumns, PriceRow, SeriesGaps, from_micros
from cryptopredict.prices.types import Interval

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)

SOURCE = "coingecko"
# Latest-price rows hold the price so far of a bar still open; history replaces them with the
# bar's real close once it has settled, so gap finding does not count them as present.
LATEST_SOURCE = "coingecko-latest"
# The first bar CoinGecko has of a series (a coin listed after the range asked for): history
# asks for nothing older. Otherwise a plain CoinGecko bar, so it counts as present.
ORIGIN_SOURCE = "coingecko-origin"
# A series starts later than asked only when its first point is more than this many bars in:
# CoinGecko's points jitter, and a bar or two can be missing at any edge.
ORIGIN_SLACK_BARS = 2
MARKETS_PAGE_SIZE = 250
DEMO_HISTORY_DAYS = 365
ERROR_MAX_CHARS = 2000
COIN_LABEL_MAX_CHARS = 100  # SyncRun.coin
# Requests never start closer than this to the oldest instant asked for, so a range at the
# edge of what the plan allows is not refused because a few milliseconds passed in transit.
EDGE_MARGIN = dt.timedelta(minutes=10)
_COINGECKO_ID = re.compile(COINGECKO_ID_PATTERN)
_IMAGE_URL = re.compile(r"^https?://\S+$")
_KEY_IN_URL = re.compile(r"(x[-_]cg[-_](?:demo|pro)[-_]api[-_]key[=:]\s*)[^&\s\"']+", re.I)
_LIST_PAGE = 500


# ---- the time grid ----------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def floor_instant(instant: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the UTC-epoch-aligned bar of `seconds` holding `instant`."""
    offset = (instant - _EPOCH) // dt.timedelta(seconds=seconds)
    return _EPOCH + offset * dt.timedelta(seconds=seconds)


def ceil_instant(instant: dt.datetime, seconds: int) -> dt.datetime:
    """The first bar start at or after `instant`."""
    floored = floor_instant(instant, seconds)
    return floored if floored == instant else floored + dt.timedelta(seconds=seconds)


def nearest_instant(instant: dt.datetime, seconds: int) -> dt.datetime:
    """The bar start closest to `instant` (CoinGecko's points jitter around the grid)."""
    return floor_instant(instant + dt.timedelta(seconds=seconds) / 2, seconds)


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


DAY = dt.timedelta(days=1)
TIERS: dict[Interval, Tier] = {
    Interval.DAY: Tier(Interval.DAY, None, min_span=91 * DAY, max_span=365 * DAY),
    Interval.HOUR: Tier(Interval.HOUR, 90 * DAY, min_span=2 * DAY, max_span=90 * DAY),
    Interval.FIVE_MINUTES: Tier(Interval.FIVE_MINUTES, DAY, min_span=dt.timedelta(0), max_span=DAY),
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
    lookback = days * DAY if tier.lookback is None else min(days * DAY, tier.lookback)
    seconds = tier.interval.seconds
    end = settled_instant(tier, now) - tier.width
    start = ceil_instant(now - lookback + EDGE_MARGIN, seconds)
    return Window(tier.interval, start, end) if start <= end else None


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


def _finite(value: float | None) -> float | None:
    """A usable number, or None for missing, NaN, infinite or negative figures."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _micros(instant: dt.datetime) -> int:
    """Microseconds since the UTC epoch: exact, so grid arithmetic on ints equals datetimes."""
    since = instant - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


Micros = npt.NDArray[np.int64]
Indices = npt.NDArray[np.intp]


def _wanted_mask(chunk: Chunk, starts: Micros) -> npt.NDArray[np.bool_]:
    """`chunk.wants` for each bar start (epoch microseconds), by binary search."""
    spans = sorted((_micros(start), _micros(end)) for start, end in chunk.wanted)
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
    horizon = _micros(chunk.horizon)
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


# ---- errors -----------------------------------------------------------------------------


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """The message without API keys (configured ones, or any in a URL) and cut to size."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = _KEY_IN_URL.sub(r"\1***", message)
    if len(message) > ERROR_MAX_CHARS:
        message = message[: ERROR_MAX_CHARS - 1] + "…"
    return message


def _describe(exc: BaseException) -> str:
    """A one-line reason naming the kind of fault."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RunAborted(Exception):
    """A fault that ends the run; committed batches stay (internal)."""


@dataclass
class _Outcome:
    """What a run has done so far."""

    rows_written: int = 0
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None

    @property
    def status(self) -> SyncStatus:
        if self.fatal is not None:
            return SyncStatus.FAILED
        return SyncStatus.PARTIAL if self.problems else SyncStatus.SUCCEEDED

    def error(self) -> str | None:
        """Fatal reason first, then what was not available."""
        parts = ([self.fatal] if self.fatal else []) + self.problems[:20]
        if len(self.problems) > 20:
            parts.append(f"... and {len(self.problems) - 20} more")
        return "; ".join(parts) or None


@dataclass(frozen=True, slots=True)
class CoinRef:
    """A tracked coin: its row id, CoinGecko id and, once asked, CoinGecko's newest instant
    for it (`last_updated`), which bounds the history there is to fetch."""

    id: int
    coingecko_id: str
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SeriesOrigin:
    """The first bar CoinGecko has of one series: nothing older is asked for again."""

    coin_id: int
    interval: Interval
    price_at: dt.datetime

    def mark(self, session: Session) -> None:
        """Mark the stored bar (a plain CoinGecko one) as the series' first, in the
        session's transaction."""
        marked = prices_service.relabel(
            session=session,
            coin_id=self.coin_id,
            interval=self.interval,
            price_at=self.price_at,
            source=ORIGIN_SOURCE,
            replacing=SOURCE,
        )
        if marked:
            logger.info(
                "history: CoinGecko's %s series of coin #%d starts at %s; nothing older is "
                "asked for again",
                self.interval,
                self.coin_id,
                self.price_at.isoformat(),
            )


@dataclass(slots=True)
class _StartSearch:
    """Finds where CoinGecko's history of a series begins while a run fills the bars before
    the first one stored (the leading gap), so later runs skip what it does not have.

    Chunks come oldest first. The first point found in the leading gap is the series' first
    if it lies more than `ORIGIN_SLACK_BARS` after the gap's start (every older range was
    answered, empty); a leading gap answered empty throughout makes the stored bar after it
    the first, if CoinGecko wrote it. A refused range (a demo key's limit) or a fault ends
    the search without a verdict, so the range is asked again next time.
    """

    coin_id: int
    interval: Interval
    leading: Gap | None  # the leading gap while its answers are awaited
    after: dt.datetime | None  # the stored bar right after it, if CoinGecko wrote it
    slack: dt.timedelta
    known: Gap | None = None  # a leading gap CoinGecko is known to have nothing for

    @classmethod
    def of(cls, coin_id: int, tier: Tier, window: Window, series: SeriesGaps) -> _StartSearch:
        """The search for one series, from its gaps and its first stored bar in the window."""
        leading = series.gaps[0] if series.gaps else None
        if leading is not None and leading.start != window.start:
            leading = None  # bars are stored from the window's start: nothing to learn
        if leading is not None and series.first_at is not None:
            if leading.end + tier.width != series.first_at:
                leading = None
        slack = ORIGIN_SLACK_BARS * tier.width
        if leading is not None and series.first_source == ORIGIN_SOURCE:
            return cls(coin_id, tier.interval, None, None, slack, known=leading)
        after = series.first_at if series.first_source == SOURCE else None
        return cls(coin_id, tier.interval, leading, after, slack)

    def gaps_to_fetch(self, gaps: Sequence[Gap]) -> list[Gap]:
        """The gaps to ask for: all but a leading gap CoinGecko is known to have nothing for."""
        return [gap for gap in gaps if gap != self.known]

    def observe(self, chunk: Chunk, batch: PriceColumns | None) -> SeriesOrigin | None:
        """Take one chunk's answer (None: refused); the bar to mark as the series' first,
        if this answer shows it."""
        leading = self.leading
        if leading is None or chunk.first > leading.end:
            return None
        if batch is None:
            self.leading = None
            return None
        if not len(batch):
            return None
        first = from_micros(int(batch.price_at[0]))
        if first > leading.end:
            return None  # rows of a later gap in the same request; the leading one is empty
        self.leading = None
        if first - leading.start <= self.slack:
            return None
        return SeriesOrigin(self.coin_id, self.interval, first)

    def stored_origin(self) -> SeriesOrigin | None:
        """After the last chunk: the stored bar after a leading gap answered empty."""
        leading, after = self.leading, self.after
        self.leading = None
        if leading is None or after is None or after - leading.start <= self.slack:
            return None
        return SeriesOrigin(self.coin_id, self.interval, after)


# ---- the service ------------------------------------------------------------------------


class MarketSync:
    """Runs syncs with one client, session and cache, recording each as a `SyncRun`.

    The session is used for short transactions only: the run record, then one per batch.
    """

    def __init__(
        self,
        *,
        session: Session,
        client: CoinGeckoClient,
        cache: ResponseCache,
        secrets: Sequence[str] = (),
        clock: Callable[[], dt.datetime] = utcnow,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.session = session
        self.client = client
        self.cache = cache
        self.secrets = tuple(secrets)
        self.clock = clock
        self.on_progress = on_progress

    # ---- public runs ----

    async def discover(self, *, top: int) -> SyncRun:
        """Refresh the catalogue from `/coins/list` and add or update the top `top` coins
        by market cap; coins outside the top keep their active flag."""
        return await self._run(SyncKind.DISCOVER, None, lambda out: self._discover(out, top))

    async def prices(self, *, coins: Collection[str] | None = None) -> SyncRun:
        """Store the latest price of every active coin, 250 coins per call; or of the given
        CoinGecko ids only (one call per 250; a coin new to the catalogue is added, one
        CoinGecko does not list is noted, and the run fails if it lists none of them)."""
        if coins is None:
            return await self._run(SyncKind.PRICES, None, self._prices)
        wanted = sorted({coin.strip().lower() for coin in coins})
        if not wanted:
            raise ValueError("coins must name at least one coin")
        label = ",".join(wanted)
        if len(label) > COIN_LABEL_MAX_CHARS:
            label = f"{len(wanted)} coins"
        return await self._run(SyncKind.PRICES, label, lambda out: self._prices_of(out, wanted))

    async def history(
        self,
        *,
        coin: str | None = None,
        days: int = DEFAULT_HISTORY_DAYS,
        intervals: Sequence[Interval] | None = None,
    ) -> SyncRun:
        """Fill the missing bars of the last `days` for one coin (kind `history`) or every
        active coin (kind `backfill`), per interval, fetching only the gaps."""
        if days < 1:
            raise ValueError("days must be at least 1")
        wanted = [TIERS[Interval(i)] for i in (intervals or TIERS)]
        kind = SyncKind.BACKFILL if coin is None else SyncKind.HISTORY
        label = None if coin is None else coin.strip().lower()
        return await self._run(kind, label, lambda out: self._history(out, label, days, wanted))

    # ---- run bookkeeping ----

    async def _run(
        self,
        kind: SyncKind,
        coin: str | None,
        work: Callable[[_Outcome], Awaitable[None]],
    ) -> SyncRun:
        """Record a run around `work`; a client fault ends it as failed, never as a crash."""
        runs = SyncRunRepository(self.session)
        run = runs.start(kind, coin)
        self.session.commit()
        run_id = run.id
        calls_before = self.client.calls_made
        outcome = _Outcome()
        try:
            await work(outcome)
        except (CoinGeckoError, RunAborted) as exc:
            outcome.fatal = _describe(exc)
            logger.warning("%s sync failed: %s", kind, scrub(outcome.fatal, self.secrets))
        except BaseException as exc:  # cancelled, interrupted, or the database failed
            outcome.fatal = f"aborted: {_describe(exc)}"
            try:
                self._finish(run, outcome, calls_before)
            except Exception:
                logger.exception("could not record the end of sync run #%d", run_id)
            raise
        return self._finish(run, outcome, calls_before)

    def _finish(self, run: SyncRun, outcome: _Outcome, calls_before: int) -> SyncRun:
        """Write the outcome on the run record and commit."""
        self.session.rollback()
        error = outcome.error()
        SyncRunRepository(self.session).finish(
            run,
            status=outcome.status,
            calls_made=self.client.calls_made - calls_before,
            rows_written=outcome.rows_written,
            error=None if error is None else scrub(error, self.secrets),
        )
        self.session.commit()
        logger.info(
            "sync %s #%d %s: %d call(s), %d row(s) written",
            run.kind,
            run.id,
            run.status,
            run.calls_made,
            run.rows_written,
        )
        return run

    def _progress(self, label: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(label, done, total)

    def _write(
        self, rows: Sequence[PriceRow] | PriceColumns, origin: SeriesOrigin | None = None
    ) -> int:
        """Upsert one batch in its own transaction, commit, then drop cached prices; with
        `origin`, mark that bar as the first CoinGecko has of its series, in the same one."""
        try:
            if isinstance(rows, PriceColumns):  # bars found missing: expected to be new
                written = prices_service.write_columns(
                    session=self.session, batch=rows, expect_new=True
                )
            elif rows and all(row.source == LATEST_SOURCE for row in rows):
                written = prices_service.write_provisional_rows(
                    session=self.session, rows=rows, provisional_source=LATEST_SOURCE
                )
            else:
                written = prices_service.write_rows(session=self.session, rows=rows)
            if origin is not None:
                origin.mark(self.session)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if written:
            self.cache.invalidate(PRICES_NAMESPACE)
        return written

    # ---- discover ----

    async def _discover(self, outcome: _Outcome, top: int) -> None:
        listed = {entry.id: entry for entry in await self.client.coins_list()}
        self._progress("coins list", 1, 1)
        pages = math.ceil(top / MARKETS_PAGE_SIZE)
        per_page = min(top, MARKETS_PAGE_SIZE)
        ranked: dict[str, MarketEntry] = {}
        for page in range(1, pages + 1):
            entries = await self.client.coins_markets(page=page, per_page=per_page)
            for entry in entries:
                ranked.setdefault(entry.id, entry)
            self._progress("top coins", page, pages)
            if len(entries) < per_page:
                break
        top_entries = list(ranked.values())[:top]
        created, updated = self._upsert_coins(top_entries, listed)
        logger.info(
            "discover: %d coin(s) listed, %d in the top %d: %d added, %d updated",
            len(listed),
            len(top_entries),
            top,
            created,
            updated,
        )

    def _upsert_coins(
        self, entries: Sequence[MarketEntry], listed: dict[str, CoinListEntry]
    ) -> tuple[int, int]:
        """Add or update the top coins, and correct symbol and name of every other tracked
        coin that `/coins/list` knows, in one transaction."""
        created = updated = 0
        try:
            known = coins_service.get_many(
                session=self.session, coingecko_ids=[e.id for e in entries]
            )
            top: set[str] = set()
            for entry in entries:
                facts = CoinFacts.from_market(entry)
                if facts is None:
                    logger.warning("discover: unusable coin entry %r skipped", entry.id)
                    continue
                top.add(facts.coingecko_id)
                coin = facts.ensure(self.session)
                if facts.coingecko_id not in known:
                    created += 1
                elif facts.apply(coin):
                    updated += 1
            for coin in self._catalogue(active_only=False):
                listing = listed.get(coin.coingecko_id)
                if coin.coingecko_id in top or listing is None:
                    continue
                facts = CoinFacts.from_list(listing)
                if facts is not None and facts.apply(coin, ranked=False):
                    updated += 1
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if created or updated:
            self.cache.invalidate(PRICES_NAMESPACE)
        return created, updated

    # ---- latest prices ----

    def _catalogue(self, *, active_only: bool) -> list[Cryptocurrency]:
        """Every coin in the catalogue (or only the active ones), best-ranked first."""
        found: list[Cryptocurrency] = []
        offset = 0
        while True:
            page, _ = coins_service.list_coins(
                session=self.session,
                page=PageParams(limit=_LIST_PAGE, offset=offset),
                is_active=True if active_only else None,
            )
            found.extend(page)
            if len(page) < _LIST_PAGE:
                return found
            offset += _LIST_PAGE

    def _tracked(self) -> list[CoinRef]:
        """The active coins whose prices we keep."""
        return [CoinRef(c.id, c.coingecko_id) for c in self._catalogue(active_only=True)]

    async def _prices(self, outcome: _Outcome) -> None:
        coins = self._tracked()
        self.session.rollback()  # hold no transaction open across the calls
        if not coins:
            logger.warning("prices: no active coins to price; run a discover sync first")
        batches = [
            coins[i : i + MARKETS_PAGE_SIZE] for i in range(0, len(coins), MARKETS_PAGE_SIZE)
        ]
        self._progress("latest prices", 0, len(batches))
        for done, batch in enumerate(batches, start=1):
            ids = {coin.coingecko_id: coin.id for coin in batch}
            entries = await self.client.coins_markets(
                ids=list(ids), page=1, per_page=MARKETS_PAGE_SIZE
            )
            outcome.rows_written += self._write(market_rows(entries, ids))
            missing = len(ids) - len({e.id for e in entries} & set(ids))
            if missing:
                logger.info("prices: CoinGecko returned no market data for %d coin(s)", missing)
            self._progress("latest prices", done, len(batches))

    async def _prices_of(self, outcome: _Outcome, coins: Sequence[str]) -> None:
        """The latest prices of the given coins, adding those new to the catalogue."""
        batches = [
            coins[i : i + MARKETS_PAGE_SIZE] for i in range(0, len(coins), MARKETS_PAGE_SIZE)
        ]
        listed = 0
        self._progress("latest prices", 0, len(batches))
        for done, batch in enumerate(batches, start=1):
            entries = await self.client.coins_markets(
                ids=list(batch), page=1, per_page=MARKETS_PAGE_SIZE
            )
            asked = set(batch)
            entries = [entry for entry in entries if entry.id in asked]
            ids = self._ensure_coins(entries)
            outcome.rows_written += self._write(market_rows(entries, ids))
            listed += len(ids)
            for coin in sorted(asked - {entry.id for entry in entries}):
                outcome.problems.append(f"{coin}: not known to CoinGecko")
            self._progress("latest prices", done, len(batches))
        if not listed:
            raise RunAborted(f"CoinGecko does not know coin(s) {', '.join(coins)}")

    def _ensure_coins(self, entries: Sequence[MarketEntry]) -> dict[str, int]:
        """The catalogue ids of the coins of these entries, adding the new ones (one
        transaction); entries whose facts are unusable are left out."""
        try:
            known = coins_service.get_many(
                session=self.session, coingecko_ids=[entry.id for entry in entries]
            )
            ids = {coingecko_id: coin.id for coingecko_id, coin in known.items()}
            created = False
            for entry in entries:
                if entry.id in ids:
                    continue
                facts = CoinFacts.from_market(entry)
                if facts is None:
                    logger.warning("prices: unusable coin entry %r skipped", entry.id)
                    continue
                ids[entry.id] = facts.ensure(self.session).id
                created = True
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if created:
            self.cache.invalidate(PRICES_NAMESPACE)
        return ids

    # ---- history ----

    async def _resolve(self, coin: str) -> CoinRef:
        """The coin with CoinGecko's newest instant for it, added to the catalogue if new."""
        entries = await self.client.coins_markets(ids=[coin], page=1, per_page=1)
        entry = next((e for e in entries if e.id == coin), None)
        if entry is None:
            raise RunAborted(f"CoinGecko does not know coin {coin!r}")
        known = coins_service.get_many(session=self.session, coingecko_ids=[coin])
        if coin in known:
            self.session.rollback()
            return CoinRef(known[coin].id, coin, entry.last_updated)
        facts = CoinFacts.from_market(entry)
        if facts is None:
            raise RunAborted(f"CoinGecko's entry for coin {coin!r} is unusable")
        try:
            created = facts.ensure(self.session)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        self.cache.invalidate(PRICES_NAMESPACE)
        return CoinRef(created.id, created.coingecko_id, entry.last_updated)

    async def _anchor(self, outcome: _Outcome, coins: Sequence[CoinRef]) -> list[CoinRef]:
        """The coins CoinGecko lists, each with its newest instant there, 250 per call;
        coins it does not list are skipped (and noted) rather than asked for charts."""
        anchored: list[CoinRef] = []
        for start in range(0, len(coins), MARKETS_PAGE_SIZE):
            batch = coins[start : start + MARKETS_PAGE_SIZE]
            entries = await self.client.coins_markets(
                ids=[c.coingecko_id for c in batch], page=1, per_page=MARKETS_PAGE_SIZE
            )
            updated = {e.id: e.last_updated for e in entries}
            for coin in batch:
                if coin.coingecko_id in updated:
                    anchored.append(replace(coin, updated_at=updated[coin.coingecko_id]))
                else:
                    outcome.problems.append(f"{coin.coingecko_id}: not known to CoinGecko")
        return anchored

    async def _history(
        self, outcome: _Outcome, coin: str | None, days: int, tiers: Sequence[Tier]
    ) -> None:
        coins = [await self._resolve(coin)] if coin is not None else self._tracked()
        self.session.rollback()
        if coin is None:
            coins = await self._anchor(outcome, coins)
        for ref in coins:
            try:
                await self._coin_history(outcome, ref, days, tiers)
            except (MalformedResponseError, UpstreamNotFoundError) as exc:
                if coin is not None:
                    raise
                outcome.problems.append(f"{ref.coingecko_id}: {_describe(exc)}")
                logger.warning("history of %s skipped: %s", ref.coingecko_id, exc)

    async def _coin_history(
        self, outcome: _Outcome, coin: CoinRef, days: int, tiers: Sequence[Tier]
    ) -> None:
        """Fill one coin's gaps, interval by interval, up to CoinGecko's newest instant.

        "Now" is CoinGecko's `last_updated` for the coin when that is earlier than our
        clock: there is nothing newer to fetch, and a coin whose updates stopped (or a
        fake CoinGecko with a fixed clock) is filled up to where its data ends. The gaps of
        every interval are found with one query.
        """
        now = self.clock()
        if coin.updated_at is not None:
            now = min(now, coin.updated_at)
        reachable = now - DEMO_HISTORY_DAYS * DAY + EDGE_MARGIN
        earliest = now - max(days, DEMO_HISTORY_DAYS) * DAY + EDGE_MARGIN
        windows = {
            tier.interval: window
            for tier in tiers
            if (window := history_window(tier, days=days, now=now)) is not None
        }
        found = prices_service.series_gaps(
            session=self.session,
            coin_id=coin.id,
            windows={interval: (w.start, w.end) for interval, w in windows.items()},
            provisional_source=LATEST_SOURCE,
        )
        self.session.rollback()
        for tier in tiers:
            if tier.interval not in windows:
                continue
            series = found[tier.interval]
            start = _StartSearch.of(coin.id, tier, windows[tier.interval], series)
            gaps = start.gaps_to_fetch(series.gaps)
            chunks = plan_chunks(tier, gaps, now=now, earliest=earliest, split_at=reachable)
            label = f"{coin.coingecko_id} {tier.interval}"
            self._progress(label, 0, len(chunks))
            for done, chunk in enumerate(chunks, start=1):
                chart = await self._fetch_chart(outcome, coin, chunk, reachable)
                batch = None if chart is None else chart_rows(chart, coin_id=coin.id, chunk=chunk)
                origin = start.observe(chunk, batch)
                if batch is not None and len(batch):
                    outcome.rows_written += self._write(batch, origin)
                self._progress(label, done, len(chunks))
            origin = start.stored_origin()
            if origin is not None:
                self._write([], origin)

    async def _fetch_chart(
        self, outcome: _Outcome, coin: CoinRef, chunk: Chunk, reachable: dt.datetime
    ) -> ChartColumns | None:
        """The chart for a chunk, or None when CoinGecko refuses a range older than a demo
        key reaches (a pro key reaches it: that is why it is asked at all)."""
        try:
            return await self.client.market_chart_range_columns(
                coin.coingecko_id, chunk.fetch_from, chunk.fetch_to
            )
        except UpstreamAuthError as exc:
            if exc.status_code != 401 or chunk.fetch_from >= reachable:
                raise
            reason = (
                f"{coin.coingecko_id} {chunk.interval} {chunk.first:%Y-%m-%d %H:%M}.."
                f"{chunk.last:%Y-%m-%d %H:%M} not available (401: older than the "
                f"{DEMO_HISTORY_DAYS} days a demo key reaches)"
            )
            outcome.problems.append(reason)
            logger.warning("%s", reason)
            return None


@dataclass(frozen=True, slots=True)
class CoinFacts:
    """What CoinGecko says about a coin, trimmed to what the catalogue accepts."""

    coingecko_id: str
    symbol: str
    name: str
    market_cap_rank: int | None = None
    image_url: str | None = None

    @classmethod
    def build(
        cls,
        coingecko_id: str,
        symbol: str,
        name: str,
        rank: int | None = None,
        image: str | None = None,
    ) -> CoinFacts | None:
        """Normalised facts, or None when the id, symbol or name is unusable."""
        coingecko_id = coingecko_id.strip().lower()
        symbol = symbol.strip().lower()[:SYMBOL_MAX_LENGTH]
        name = name.strip()[:NAME_MAX_LENGTH]
        if (
            len(coingecko_id) > COINGECKO_ID_MAX_LENGTH
            or not _COINGECKO_ID.match(coingecko_id)
            or not symbol
            or not name
        ):
            return None
        if image is not None and (len(image) > IMAGE_URL_MAX_LENGTH or not _IMAGE_URL.match(image)):
            image = None
        return cls(coingecko_id, symbol, name, rank if rank and rank > 0 else None, image)

    @classmethod
    def from_market(cls, entry: MarketEntry) -> CoinFacts | None:
        """Facts of a `/coins/markets` entry, rank and image included."""
        return cls.build(entry.id, entry.symbol, entry.name, entry.market_cap_rank, entry.image)

    @classmethod
    def from_list(cls, entry: CoinListEntry) -> CoinFacts | None:
        """Facts of a `/coins/list` entry: identity only."""
        return cls.build(entry.id, entry.symbol, entry.name)

    def ensure(self, session: Session) -> Cryptocurrency:
        """The catalogue's coin, added with these facts if it is new."""
        return coins_service.ensure(
            session=session,
            coingecko_id=self.coingecko_id,
            symbol=self.symbol,
            name=self.name,
            market_cap_rank=self.market_cap_rank,
            image_url=self.image_url,
        )

    def apply(self, coin: Cryptocurrency, *, ranked: bool = True) -> bool:
        """Bring a stored coin up to date (rank and image too when `ranked`); True if changed.

        The active flag is the operator's decision and is never touched here.
        """
        wanted: dict[str, object] = {"symbol": self.symbol, "name": self.name}
        if ranked:
            wanted |= {"market_cap_rank": self.market_cap_rank, "image_url": self.image_url}
        changed = False
        for attribute, value in wanted.items():
            if getattr(coin, attribute) != value:
                setattr(coin, attribute, value)
                changed = True
        return changed
