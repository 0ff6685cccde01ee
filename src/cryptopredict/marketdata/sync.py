"""Sync from CoinGecko into our tables: the coin catalogue, latest prices and gap-free history.

Every batch is upserted in one short transaction, committed, and announced to the response
cache before the next call is made. A fault (429 storm, 5xx, timeout, garbage JSON, breaker
open) stops the run: committed batches stay, nothing half-written is kept, the run is recorded
as failed, and the next run starts from the gaps that remain, so no range is fetched twice
and no row is duplicated. Which bars history wants and how charts become rows is planned in
`marketdata.history`; this module runs the calls and keeps the run's record.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.core.cache import PRICES_NAMESPACE, ResponseCache
from cryptopredict.core.database import utcnow
from cryptopredict.core.pagination import PageParams
from cryptopredict.core.redaction import scrub
from cryptopredict.core.timegrid import ONE_DAY, from_micros
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.coin_facts import CoinFacts
from cryptopredict.marketdata.coingecko_format import DEMO_HISTORY_DAYS, MAX_PER_PAGE
from cryptopredict.marketdata.exceptions import (
    TEMPORARY_FAULTS,
    CoinGeckoError,
    MalformedResponseError,
    RateLimitedByUpstreamError,
    RateLimitWaitExceededError,
    UpstreamAuthError,
    UpstreamNotFoundError,
)
from cryptopredict.marketdata.history import (
    EDGE_MARGIN,
    LATEST_SOURCE,
    ORIGIN_SOURCE,
    SOURCE,
    TIERS,
    Chunk,
    Tier,
    Window,
    chart_rows,
    history_window,
    market_rows,
    plan_chunks,
)
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.repository import SyncRunRepository
from cryptopredict.marketdata.schemas import ChartColumns, CoinListEntry, MarketEntry
from cryptopredict.marketdata.types import (
    DEFAULT_HISTORY_DAYS,
    FailureKind,
    ProgressCallback,
    SyncKind,
    SyncStatus,
)
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Gap, Interval, PriceColumns, PriceRow, SeriesGaps
from cryptopredict.stream.schemas import PriceEvent

if TYPE_CHECKING:
    from cryptopredict.coins.models import Cryptocurrency

logger = logging.getLogger(__name__)

# A series starts later than asked only when its first point is more than this many bars in:
# CoinGecko's points jitter, and a bar or two can be missing at any edge.
ORIGIN_SLACK_BARS = 2
COIN_LABEL_MAX_CHARS = 100  # SyncRun.coin
_LIST_PAGE = 500


# ---- run outcomes -----------------------------------------------------------------------


class RunAbortedError(Exception):
    """A fault that ends the run; committed batches stay (internal)."""


RECORDED_NAMES: dict[type[BaseException], str] = {
    RunAbortedError: "RunAborted",
    RateLimitedByUpstreamError: "RateLimitedByUpstream",
    RateLimitWaitExceededError: "RateLimitWaitExceeded",
}
"""How run records name faults whose classes later gained the Error suffix: the recorded
wording (read by operators and their scripts) stays as it was."""


def _describe(exc: BaseException) -> str:
    """A one-line reason naming the kind of fault."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = RECORDED_NAMES.get(type(exc), type(exc).__name__)
    return f"{kind}: {text}" if text else kind


@dataclass
class _Outcome:
    """What a run has done so far."""

    rows_written: int = 0
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None
    temporary: bool = False
    """Whether the fatal fault may pass on its own (stored as the run's failure kind)."""

    @property
    def status(self) -> SyncStatus:
        if self.fatal is not None:
            return SyncStatus.FAILED
        return SyncStatus.PARTIAL if self.problems else SyncStatus.SUCCEEDED

    def failure_kind(self) -> FailureKind | None:
        """For a failed run, whether its fault may pass; None when it did not fail."""
        if self.fatal is None:
            return None
        return FailureKind.TEMPORARY if self.temporary else FailureKind.PERMANENT

    def error(self) -> str | None:
        """Fatal reason first, then what was not available."""
        parts = ([self.fatal] if self.fatal else []) + self.problems[:20]
        if len(self.problems) > 20:
            parts.append(f"... and {len(self.problems) - 20} more")
        return "; ".join(parts) or None


# ---- coins and series -------------------------------------------------------------------


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
    `announce` hears of the latest prices of each batch a prices sync stored, once committed
    (the live stream publishes them).
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
        announce: Callable[[Sequence[PriceEvent]], object] | None = None,
    ) -> None:
        self.session = session
        self.client = client
        self.cache = cache
        self.secrets = tuple(secrets)
        self.clock = clock
        self.on_progress = on_progress
        self.announce = announce

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
        except (CoinGeckoError, RunAbortedError) as exc:
            outcome.fatal = _describe(exc)
            outcome.temporary = isinstance(exc, TEMPORARY_FAULTS)
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
            failure_kind=outcome.failure_kind(),
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
        pages = math.ceil(top / MAX_PER_PAGE)
        per_page = min(top, MAX_PER_PAGE)
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
        batches = [coins[i : i + MAX_PER_PAGE] for i in range(0, len(coins), MAX_PER_PAGE)]
        self._progress("latest prices", 0, len(batches))
        for done, batch in enumerate(batches, start=1):
            ids = {coin.coingecko_id: coin.id for coin in batch}
            entries = await self.client.coins_markets(ids=list(ids), page=1, per_page=MAX_PER_PAGE)
            outcome.rows_written += self._write_latest(entries, ids)
            missing = len(ids) - len({e.id for e in entries} & set(ids))
            if missing:
                logger.info("prices: CoinGecko returned no market data for %d coin(s)", missing)
            self._progress("latest prices", done, len(batches))

    async def _prices_of(self, outcome: _Outcome, coins: Sequence[str]) -> None:
        """The latest prices of the given coins, adding those new to the catalogue."""
        batches = [coins[i : i + MAX_PER_PAGE] for i in range(0, len(coins), MAX_PER_PAGE)]
        listed = 0
        self._progress("latest prices", 0, len(batches))
        for done, batch in enumerate(batches, start=1):
            entries = await self.client.coins_markets(
                ids=list(batch), page=1, per_page=MAX_PER_PAGE
            )
            asked = set(batch)
            entries = [entry for entry in entries if entry.id in asked]
            ids = self._ensure_coins(entries)
            outcome.rows_written += self._write_latest(entries, ids)
            listed += len(ids)
            for coin in sorted(asked - {entry.id for entry in entries}):
                outcome.problems.append(f"{coin}: not known to CoinGecko")
            self._progress("latest prices", done, len(batches))
        if not listed:
            raise RunAbortedError(f"CoinGecko does not know coin(s) {', '.join(coins)}")

    def _write_latest(self, entries: Sequence[MarketEntry], ids: dict[str, int]) -> int:
        """Store one batch of latest prices and, when it wrote any, announce them."""
        rows = market_rows(entries, ids)
        written = self._write(rows)
        if written and self.announce is not None:
            names = {coin_id: coingecko_id for coingecko_id, coin_id in ids.items()}
            updated = {entry.id: entry.last_updated for entry in entries}
            self.announce(
                [
                    PriceEvent(
                        coin=names[row.coin_id],
                        interval=row.interval,
                        timestamp=row.price_at,
                        price=row.price,
                        volume=row.volume,
                        market_cap=row.market_cap,
                        updated_at=updated.get(names[row.coin_id]),
                    )
                    for row in rows
                ]
            )
        return written

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
            raise RunAbortedError(f"CoinGecko does not know coin {coin!r}")
        known = coins_service.get_many(session=self.session, coingecko_ids=[coin])
        if coin in known:
            self.session.rollback()
            return CoinRef(known[coin].id, coin, entry.last_updated)
        facts = CoinFacts.from_market(entry)
        if facts is None:
            raise RunAbortedError(f"CoinGecko's entry for coin {coin!r} is unusable")
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
        for start in range(0, len(coins), MAX_PER_PAGE):
            batch = coins[start : start + MAX_PER_PAGE]
            entries = await self.client.coins_markets(
                ids=[c.coingecko_id for c in batch], page=1, per_page=MAX_PER_PAGE
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
        reachable = now - DEMO_HISTORY_DAYS * ONE_DAY + EDGE_MARGIN
        earliest = now - max(days, DEMO_HISTORY_DAYS) * ONE_DAY + EDGE_MARGIN
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
