"""The price time series' queries: range scans, latest points, bulk upserts, gaps, resampling.

The SQL lives in `statements` and PostgreSQL's COPY write path in `pgcopy`; this class picks
the dialect's path, binds parameters and shapes the rows into the prices value types.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Row,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from cryptopredict.core.database import UTCDateTime
from cryptopredict.prices import pgcopy
from cryptopredict.prices.models import PRICE_TABLE, PriceData
from cryptopredict.prices.schemas import Candle, ChartRow, WindowKey, WindowStats
from cryptopredict.prices.statements import (
    PG_POINTS_SQL,
    POINT,
    at_or_before_statement,
    bucket_params,
    candles_statement,
    delete_covered_statement,
    extents_statement,
    first_per_bucket_statement,
    points_at_statement,
    resample_statement,
    retention_params,
    rollup_statement,
    series_window,
    upsert_statement,
    window_points_statement,
    window_stats_statement,
)
from cryptopredict.prices.types import (
    ALL_COLUMNS,
    Bar,
    Gap,
    Interval,
    PointLookup,
    PointRow,
    PriceColumns,
    PriceRow,
    PriceTuple,
    RollUp,
    SeriesExtent,
    SeriesGaps,
)

UPSERT_BATCH_SIZE = 5_000
"""Rows per INSERT .. ON CONFLICT statement on the generic (SQLite) write path."""

_AS_TUPLE = cast(Callable[[PriceRow], PriceTuple], operator.attrgetter(*ALL_COLUMNS))
_KEY = operator.itemgetter(0, 1, 2)
_COIN = operator.itemgetter(0)
_INTERVAL = operator.itemgetter(1)
_PRICE_AT = operator.itemgetter(2)
_INSTANT = UTCDateTime()
# A session zone at UTC offset 0 in both January and July needs no conversion.
_ZONE_PROBES = (dt.datetime(2024, 1, 15), dt.datetime(2024, 7, 15))  # noqa: DTZ001


def _gaps(
    instants: list[dt.datetime],
    interval: Interval,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[Gap]:
    """The runs of missing bars among ascending `instants` (see `PriceRepository.find_gaps`)."""
    width = dt.timedelta(seconds=interval.seconds)
    instants = list(instants)
    if start is not None and (not instants or instants[0] - start >= width):
        instants.insert(0, start - width)
    if end is not None and (not instants or end - instants[-1] >= width):
        instants.append(end + width)
    gaps = []
    for previous, current in zip(instants, instants[1:], strict=False):
        distance = current - previous
        if distance > width * 1.5:
            missing = round(distance / width) - 1
            gaps.append(Gap(start=previous + width, end=current - width, missing=missing))
    return gaps


def _dedupe(rows: list[PriceTuple]) -> list[PriceTuple]:
    """Last write wins within one batch, as it would across batches (at the first's place)."""
    unique = dict(zip(map(_KEY, rows), rows, strict=True))
    return rows if len(unique) == len(rows) else list(unique.values())


def _single_ascending_series(rows: Sequence[PriceTuple]) -> bool:
    """Whether every row is of one coin and interval, each instant after the one before:
    what the importer sends, unique without the cost of hashing every instant."""
    if len(set(map(_COIN, rows))) > 1 or len(set(map(_INTERVAL, rows))) > 1:
        return False
    instants = list(map(_PRICE_AT, rows))
    try:
        return all(map(operator.lt, instants, itertools.islice(instants, 1, None)))
    except TypeError:  # naive among aware instants: let the general path refuse them
        return False


def _ordered_unique(batch: PriceColumns) -> PriceColumns:
    """The batch in ascending time, the last of repeated instants kept (as `_dedupe`);
    ValueError for a price that is not a positive finite number."""
    price = batch.price
    if not bool(np.all(np.isfinite(price))) or not bool(np.all(price > 0)):
        raise ValueError("every price must be a positive finite number")
    at = batch.price_at
    if len(at) < 2 or bool(np.all(at[1:] > at[:-1])):
        return batch
    order = np.argsort(at, kind="stable")
    ordered = at[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = ordered[1:] != ordered[:-1]
    return batch.take(order[last])


class PriceRepository:
    """Price queries; not a generic repository because the key is composite and hot."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- writes -------------------------------------------------------------------------

    def settled_keys(
        self, rows: Sequence[PriceRow], *, provisional_source: str
    ) -> set[tuple[int, str, dt.datetime]]:
        """Keys of these rows already stored from a source other than `provisional_source`:
        bars a provisional writer must leave alone."""
        keys = list({row.key for row in rows})
        if not keys:
            return set()
        statement = select(PriceData.coin_id, PriceData.interval, PriceData.price_at).where(
            tuple_(PriceData.coin_id, PriceData.interval, PriceData.price_at).in_(keys),
            PriceData.source != provisional_source,
        )
        found = self.session.execute(statement)
        return {(coin_id, interval, at) for coin_id, interval, at in found}

    def bulk_upsert(self, rows: Iterable[PriceRow]) -> int:
        """Insert new rows and update changed ones; returns how many were written.

        Unchanged rows are not rewritten, so re-importing the same data writes 0. Runs inside
        the caller's transaction: the caller commits or rolls back the whole request.
        """
        return self.bulk_upsert_tuples(map(_AS_TUPLE, rows))

    def bulk_upsert_tuples(self, rows: Iterable[PriceTuple]) -> int:
        """`bulk_upsert` for rows given as plain tuples in `ALL_COLUMNS` order, which bulk
        writers (the CSV importer) build several times cheaper than `PriceRow`s."""
        batch = rows if isinstance(rows, list) else list(rows)
        if not batch:
            return 0
        ascending = _single_ascending_series(batch)
        unique = batch if ascending else _dedupe(batch)
        if self.session.get_bind().dialect.name == "postgresql":
            return pgcopy.upsert_tuples(self.session, unique, ascending=ascending)
        return self._upsert_generic(unique)

    def bulk_upsert_columns(self, batch: PriceColumns, *, expect_new: bool = False) -> int:
        """`bulk_upsert` for one series given as arrays (bulk writers parsing into numpy):
        on PostgreSQL the COPY stream is built from the arrays, with no object per row.

        Repeated instants keep the last; a price that is not positive and finite is a
        ValueError before anything is written. `expect_new` says the caller asks for keys
        it found missing: PostgreSQL then skips the check for stored keys and tries the
        direct COPY at once (a stored key still sends the batch to the merge, as a key
        stored concurrently does).
        """
        if not len(batch):
            return 0
        unique = _ordered_unique(batch)
        if self.session.get_bind().dialect.name == "postgresql":
            return pgcopy.upsert_columns(self.session, unique, check=not expect_new)
        return self._upsert_generic(list(map(_AS_TUPLE, unique.rows())))

    def set_source(
        self,
        coin_id: int,
        interval: Interval | str,
        price_at: dt.datetime,
        source: str,
        *,
        replacing: str,
    ) -> bool:
        """Relabel one stored row's source, if it still has the source `replacing`."""
        statement = (
            update(PRICE_TABLE)
            .where(*series_window(coin_id, interval, price_at, price_at))
            .where(PRICE_TABLE.c.source == replacing)
            .values(source=source)
        )
        return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def _upsert_generic(self, rows: Sequence[PriceTuple]) -> int:
        """Batched INSERT .. ON CONFLICT DO UPDATE WHERE changed (SQLite)."""
        written = 0
        for start in range(0, len(rows), UPSERT_BATCH_SIZE):
            batch = rows[start : start + UPSERT_BATCH_SIZE]
            result = self.session.execute(
                upsert_statement(),
                [dict(zip(ALL_COLUMNS, row, strict=True)) for row in batch],
            )
            written += int(result.rowcount)  # type: ignore[attr-defined]
        return written

    # ---- reads --------------------------------------------------------------------------

    def range(
        self,
        coin_id: int,
        interval: Interval | str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[PriceData]:
        """Bars of one series in [start, end], oldest first unless `newest_first`."""
        statement = select(PriceData).where(*series_window(coin_id, interval, start, end))
        order = PriceData.price_at.desc() if newest_first else PriceData.price_at.asc()
        statement = statement.order_by(order)
        if limit is not None:
            statement = statement.limit(limit)
        return list(self.session.scalars(statement))

    def latest(
        self, coin_ids: Sequence[int], interval: Interval | str | None = None
    ) -> dict[int, PriceData]:
        """The newest row per coin (of one interval, or the newest of any interval)."""
        if not coin_ids:
            return {}
        conditions: list[ColumnElement[bool]] = [PriceData.coin_id.in_(coin_ids)]
        if interval is not None:
            conditions.append(PriceData.interval == str(interval))
        newest = (
            select(PriceData.coin_id, func.max(PriceData.price_at).label("price_at"))
            .where(*conditions)
            .group_by(PriceData.coin_id)
            .subquery()
        )
        statement = (
            select(PriceData)
            .join(
                newest,
                and_(
                    PriceData.coin_id == newest.c.coin_id,
                    PriceData.price_at == newest.c.price_at,
                ),
            )
            .where(*conditions)
        )
        result: dict[int, PriceData] = {}
        for row in self.session.scalars(statement):
            best = result.get(row.coin_id)
            # Several intervals can share the newest instant; prefer the finest one.
            if best is None or Interval(row.interval).seconds < Interval(best.interval).seconds:
                result[row.coin_id] = row
        return result

    def timestamps(
        self,
        coin_id: int,
        interval: Interval | str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        provisional_source: str | None = None,
    ) -> list[dt.datetime]:
        """Only the instants of a series, for gap detection; rows from `provisional_source`
        (stand-ins until the bar's real close is fetched) are left out."""
        statement = select(PriceData.price_at).where(*series_window(coin_id, interval, start, end))
        if provisional_source is not None:
            statement = statement.where(PriceData.source != provisional_source)
        return list(self.session.scalars(statement.order_by(PriceData.price_at)))

    def find_gaps(
        self,
        coin_id: int,
        interval: Interval | str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        provisional_source: str | None = None,
    ) -> list[Gap]:
        """Runs of missing bars between the first and last present bar (or the given bounds).

        A bar counts as missing when the distance to the previous bar exceeds 1.5 bar widths,
        which tolerates the small timestamp jitter of CoinGecko's points. Bars holding only a
        row from `provisional_source` count as missing too.
        """
        instants = self.timestamps(
            coin_id, interval, start=start, end=end, provisional_source=provisional_source
        )
        return _gaps(instants, Interval(str(interval)), start, end)

    def series_gaps(
        self,
        coin_id: int,
        windows: Mapping[Interval, tuple[dt.datetime, dt.datetime]],
        *,
        provisional_source: str | None = None,
    ) -> dict[Interval, SeriesGaps]:
        """`find_gaps` of several series of one coin, each in its [start, end], in one query,
        with the first present row of each window and its source."""
        if not windows:
            return {}
        statement = (
            select(PRICE_TABLE.c.interval, PRICE_TABLE.c.price_at, PRICE_TABLE.c.source)
            .where(PRICE_TABLE.c.coin_id == coin_id)
            .where(
                or_(
                    *(
                        and_(
                            PRICE_TABLE.c.interval == str(interval),
                            PRICE_TABLE.c.price_at >= start,
                            PRICE_TABLE.c.price_at <= end,
                        )
                        for interval, (start, end) in windows.items()
                    )
                )
            )
            .order_by(PRICE_TABLE.c.interval, PRICE_TABLE.c.price_at)
        )
        if provisional_source is not None:
            statement = statement.where(PRICE_TABLE.c.source != provisional_source)
        present: dict[str, list[dt.datetime]] = {}
        firsts: dict[str, str] = {}
        for interval, price_at, source in self.session.execute(statement):
            instants = present.get(interval)
            if instants is None:
                instants = present[interval] = []
                firsts[interval] = source
            instants.append(price_at)
        result = {}
        for interval, (start, end) in windows.items():
            instants = present.get(str(interval), [])
            first = instants[0] if instants else None
            gaps = _gaps(instants, Interval(interval), start, end)
            result[Interval(interval)] = SeriesGaps(gaps, first, firsts.get(str(interval)))
        return result

    def resample(
        self,
        coin_id: int,
        source: Interval,
        target: Interval,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[Bar]:
        """Aggregate a finer series into coarser OHLC bars aligned to UTC epoch boundaries."""
        if target.seconds <= source.seconds:
            raise ValueError("resampling goes from a finer to a coarser interval")
        params: dict[str, Any] = {"coin_id": coin_id, "series": source.value}
        params |= {"width": target.seconds, "start": start, "end": end}
        params = {name: value for name, value in params.items() if value is not None}
        dialect = self.session.get_bind().dialect.name
        statement = resample_statement(dialect, start is not None, end is not None)
        return [
            Bar(dt.datetime.fromtimestamp(bucket, dt.UTC), *values)
            for bucket, *values in self.session.execute(statement, params)
        ]

    # ---- retention (downsampling old rows into coarser bars) ----------------------------

    def retention_series(
        self, ends: Mapping[Interval, dt.datetime]
    ) -> list[tuple[int, Interval, dt.datetime]]:
        """(coin, interval, first instant) of every series holding rows before its
        interval's bound in `ends`: the series a retention run has work or a guard for."""
        if not ends:
            return []
        statement = (
            select(PRICE_TABLE.c.coin_id, PRICE_TABLE.c.interval, func.min(PRICE_TABLE.c.price_at))
            .where(
                or_(
                    *(
                        and_(PRICE_TABLE.c.interval == interval.value, PRICE_TABLE.c.price_at < end)
                        for interval, end in ends.items()
                    )
                )
            )
            .group_by(PRICE_TABLE.c.coin_id, PRICE_TABLE.c.interval)
            .order_by(PRICE_TABLE.c.coin_id, PRICE_TABLE.c.interval)
        )
        return [
            (coin_id, Interval(interval), first)
            for coin_id, interval, first in self.session.execute(statement)
        ]

    def roll_up(
        self,
        coin_id: int,
        source: Interval,
        target: Interval,
        *,
        start: dt.datetime | None,
        end: dt.datetime,
        label: str,
        per_bar_source: str,
    ) -> RollUp:
        """Create the missing `target` bars of one coin from its `source` rows in
        [start, end) (both aligned to `target`), in the caller's transaction.

        One INSERT .. SELECT .. GROUP BY bucket .. ON CONFLICT DO NOTHING, so a stored
        `target` bar (CoinGecko's, a CSV's, an earlier run's) is never changed. A bucket
        gets a bar only when it holds its closing sub-bar (the one ending at the bucket's
        end), as a bar's price is its close at its end instant. The bar, stored under its
        start like every bar: open of its first row (its price when it has no open), highest
        high and lowest low (prices for price-only rows), price and close of its closing
        row, market cap of its closing row, and the closing row's volume (CoinGecko's
        rolling 24 h volume, as its own hourly and daily points carry), except in buckets
        made only of `per_bar_source` rows, whose volumes are per bar and are summed; such a
        bar keeps that source, so a later roll-up sums it again. Other bars are `label`led.
        The rows counted are those of the buckets found missing just before the insert.
        """
        dialect = self.session.get_bind().dialect.name
        params = retention_params(coin_id, source, target, start, end)
        params |= {"label": label, "per_bar_source": per_bar_source}
        preview = self.session.execute(rollup_statement(dialect, start is not None, True), params)
        _bars, rows = preview.one()
        if not rows:
            return RollUp(rows=0, bars=0)
        result = self.session.execute(rollup_statement(dialect, start is not None, False), params)
        return RollUp(rows=int(rows), bars=int(result.rowcount))  # type: ignore[attr-defined]

    def delete_covered(
        self,
        coin_id: int,
        source: Interval,
        target: Interval,
        *,
        start: dt.datetime | None,
        end: dt.datetime,
    ) -> int:
        """Delete one coin's `source` rows in [start, end) whose `target` bucket holds a
        stored bar, except the series' newest row, in the caller's transaction; returns how
        many went. Rows of buckets without a bar stay: nothing is deleted uncovered."""
        dialect = self.session.get_bind().dialect.name
        params = retention_params(coin_id, source, target, start, end)
        result = self.session.execute(delete_covered_statement(dialect, start is not None), params)
        return int(result.rowcount)  # type: ignore[attr-defined]

    def series_bounds(
        self, coin_id: int, interval: Interval | str
    ) -> Row[tuple[dt.datetime, dt.datetime, int]] | None:
        """First instant, last instant and row count of one series."""
        statement = select(
            func.min(PriceData.price_at), func.max(PriceData.price_at), func.count()
        ).where(PriceData.coin_id == coin_id, PriceData.interval == str(interval))
        row = self.session.execute(statement).one()
        return None if row[2] == 0 else row  # type: ignore[return-value]

    # ---- lean reads (Core tuples, bounded query counts) ---------------------------------

    @staticmethod
    def _series(
        coin_id: int,
        interval: Interval | str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> Select[Any]:
        """The WHERE clause of one series in [start, end], as a Core select of its key."""
        return select(PRICE_TABLE.c.price_at).where(*series_window(coin_id, interval, start, end))

    def points(
        self,
        coin_id: int,
        interval: Interval | str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[PointRow]:
        """The newest `limit` points of a series in [start, end] as tuples, oldest first.

        This is the charting hot path: one index range scan read backwards, no ORM objects.
        On PostgreSQL the rows come through psycopg's binary protocol, which parses instants
        and floats about three times cheaper than text (see `_points_postgresql`).
        """
        if self.session.get_bind().dialect.name == "postgresql":
            rows = self._points_postgresql(coin_id, str(interval), start, end, limit)
        else:
            statement = (
                self._series(coin_id, interval, start=start, end=end)
                .with_only_columns(*POINT)
                .order_by(PRICE_TABLE.c.price_at.desc())
            )
            if limit is not None:
                statement = statement.limit(limit)
            rows = cast(list[PointRow], self.session.execute(statement).all())
        rows.reverse()
        return rows

    def _points_postgresql(
        self,
        coin_id: int,
        interval: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
        limit: int | None,
    ) -> list[PointRow]:
        """`points` newest first on the session's own connection and transaction, through a
        binary cursor; instants are handed back in UTC whatever the session time zone."""
        sql = PG_POINTS_SQL[(start is not None, end is not None)]
        params = [coin_id, interval, *(b for b in (start, end) if b is not None), limit]
        driver_connection = self.session.connection().connection.driver_connection
        with driver_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
            rows: list[PointRow] = cursor.execute(sql, params).fetchall()
            zone = driver_connection.info.timezone  # type: ignore[union-attr]
        if any(zone.utcoffset(probe) for probe in _ZONE_PROBES):
            return [(row[0].astimezone(dt.UTC), *row[1:]) for row in rows]
        return rows

    def _keys(
        self, rows: Sequence[tuple[int, str, dt.datetime | None]]
    ) -> tuple[str, dict[str, Any]]:
        """The dialect's name and the parameters of its key-list source (see `statements`)."""
        dialect = self.session.get_bind().dialect
        if dialect.name == "postgresql":
            return "postgresql", {
                "k": list(range(len(rows))),
                "c": [row[0] for row in rows],
                "s": [row[1] for row in rows],
                "a": [row[2] for row in rows],
            }
        to_text = _INSTANT.dialect_impl(dialect).bind_processor(dialect)
        encoded = [
            [k, coin_id, series, None if at is None or to_text is None else to_text(at)]
            for k, (coin_id, series, at) in enumerate(rows)
        ]
        return "sqlite", {"keys": json.dumps(encoded)}

    def points_at(self, keys: Sequence[tuple[int, str, dt.datetime]]) -> dict[int, PointRow]:
        """The rows with these exact (coin, interval, instant) keys, by coin, in one query."""
        if not keys:
            return {}
        dialect, params = self._keys(keys)
        rows = self.session.execute(points_at_statement(dialect), params)
        return {row[0]: cast(PointRow, tuple(row[1:])) for row in rows}

    def bar_count(self, coin_id: int, interval: Interval) -> int:
        """How many bars one series holds (a primary-key range count)."""
        statement = (
            select(func.count())
            .select_from(PRICE_TABLE)
            .where(PRICE_TABLE.c.coin_id == coin_id, PRICE_TABLE.c.interval == str(interval))
        )
        return int(self.session.scalar(statement) or 0)

    def extents(self, coin_ids: Sequence[int]) -> dict[int, dict[Interval, SeriesExtent]]:
        """First and last instant of every stored series of these coins, in one query.

        Each min/max is a correlated subquery that the primary key answers with one index
        probe, so the cost grows with the number of coins, not the number of rows.
        """
        unique = list(dict.fromkeys(coin_ids))
        if not unique:
            return {}
        dialect, params = self._keys([(coin_id, "", None) for coin_id in unique])
        result: dict[int, dict[Interval, SeriesExtent]] = {coin_id: {} for coin_id in unique}
        for coin_id, *values in self.session.execute(extents_statement(dialect), params):
            for index, interval in enumerate(Interval):
                first, last = values[2 * index], values[2 * index + 1]
                if first is not None and last is not None:
                    result[coin_id][interval] = SeriesExtent(first=first, last=last)
        return result

    def series_starts(self, interval: Interval, since: dt.datetime) -> dict[int, set[dt.datetime]]:
        """Per coin, the starts of its bars of one interval at or after ``since``."""
        statement = select(PriceData.coin_id, PriceData.price_at).where(
            PriceData.interval == interval.value, PriceData.price_at >= since
        )
        found: dict[int, set[dt.datetime]] = {}
        for coin_id, price_at in self.session.execute(statement):
            found.setdefault(coin_id, set()).add(price_at)
        return found

    def newest_price_at(self, coin_ids: Select[int]) -> dt.datetime | None:
        """The newest instant stored for any of these coins in any interval, in one statement.

        The newest bar of each (coin, interval) series is one primary-key probe, and the
        maximum is taken over those probes, so the cost grows with the coins, not the rows
        (a plain max over the table would scan it: no index leads with the instant).
        """
        coins = coin_ids.subquery()
        coin_id = coins.c[0]
        per_series = union_all(
            *(
                select(
                    select(func.max(PRICE_TABLE.c.price_at))
                    .where(
                        PRICE_TABLE.c.coin_id == coin_id,
                        PRICE_TABLE.c.interval == interval.value,
                    )
                    .scalar_subquery()
                    .label("newest")
                ).select_from(coins)
                for interval in Interval
            )
        ).subquery()
        newest: dt.datetime | None = self.session.scalar(select(func.max(per_series.c.newest)))
        return newest

    def at_or_before(
        self, lookups: Sequence[PointLookup]
    ) -> list[tuple[dt.datetime, float] | None]:
        """For each lookup, the (instant, price) of the newest point at or before its time.

        One statement of index probes (ORDER BY .. DESC LIMIT 1), however many lookups.
        """
        if not lookups:
            return []
        dialect, params = self._keys([(x.coin_id, x.interval, x.at) for x in lookups])
        found: list[tuple[dt.datetime, float] | None] = [None] * len(lookups)
        for index, price_at, price in self.session.execute(at_or_before_statement(dialect), params):
            if price_at is not None:
                found[index] = (price_at, price)
        return found

    # ---- market snapshots (the CoinGecko mirror's listings and charts) -------------------

    def window_stats(self, keys: Sequence[WindowKey]) -> list[WindowStats]:
        """High, low and reference market cap for each key, in the keys' order, in one
        statement of index probes."""
        if not keys:
            return []
        dialect, params = self._window_keys(keys)
        found = [WindowStats(None, None, None)] * len(keys)
        for index, high, low, market_cap in self.session.execute(
            window_stats_statement(dialect), params
        ):
            found[index] = WindowStats(high=high, low=low, reference_market_cap=market_cap)
        return found

    def window_points(self, keys: Sequence[WindowKey]) -> list[list[tuple[dt.datetime, float]]]:
        """The (instant, price) points of each key's series in its window, oldest first, in
        one statement."""
        found: list[list[tuple[dt.datetime, float]]] = [[] for _ in keys]
        if not keys:
            return found
        dialect, params = self._window_keys(keys)
        for index, price_at, price in self.session.execute(
            window_points_statement(dialect), params
        ):
            found[index].append((price_at, price))
        return found

    def first_per_bucket(
        self,
        coin_id: int,
        series: Interval,
        width_seconds: int,
        *,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[ChartRow]:
        """The first point of every UTC-aligned bucket of `width_seconds` in [start, end]:
        a coarser chart grid from a finer stored series, values untouched."""
        params = bucket_params(coin_id, series, width_seconds, start, end)
        dialect = self.session.get_bind().dialect.name
        statement = first_per_bucket_statement(dialect, start is not None, end is not None)
        return [
            (at, price, cap, volume)
            for at, price, cap, volume in self.session.execute(statement, params)
        ]

    def candles(
        self,
        coin_id: int,
        series: Interval,
        width_seconds: int,
        *,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[Candle]:
        """OHLC candles of any width (CoinGecko's 30 min, 4 h and 4 days, which `resample`
        cannot target) from a finer series, per UTC-epoch-aligned bucket with data in
        [start, end]: first open (or price), highest high, lowest low, last price."""
        params = bucket_params(coin_id, series, width_seconds, start, end)
        dialect = self.session.get_bind().dialect.name
        statement = candles_statement(dialect, start is not None, end is not None)
        return [
            Candle(bucket, open_, high, low, close)
            for bucket, open_, high, low, close, *_ in self.session.execute(statement, params)
        ]

    def _window_keys(self, keys: Sequence[WindowKey]) -> tuple[str, dict[str, Any]]:
        """The dialect's name and the parameters of its window-key source (see `statements`)."""
        dialect = self.session.get_bind().dialect
        if dialect.name == "postgresql":
            return "postgresql", {
                "k": list(range(len(keys))),
                "c": [key.coin_id for key in keys],
                "s": [key.series for key in keys],
                "f": [key.since for key in keys],
                "u": [key.until for key in keys],
                "r": [key.reference_at for key in keys],
            }
        to_text = _INSTANT.dialect_impl(dialect).bind_processor(dialect)

        def stored(at: dt.datetime | None) -> Any:
            return None if at is None or to_text is None else to_text(at)

        encoded = [
            [k, key.coin_id, key.series, *map(stored, (key.since, key.until, key.reference_at))]
            for k, key in enumerate(keys)
        ]
        return "sqlite", {"keys": json.dumps(encoded)}


def coin_has_prices(coin_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
    """A condition for a query on another table: the coin with this id has at least one
    stored price (one primary-key probe per coin)."""
    return exists().where(PRICE_TABLE.c.coin_id == coin_id)
