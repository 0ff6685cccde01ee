"""SQL for the price time series: range scans, latest points, bulk upserts, gaps, resampling."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import psycopg
from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Double,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    column,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from cryptopredict.core.database import UTCDateTime
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.schemas import Candle, ChartRow, WindowKey, WindowStats
from cryptopredict.prices.types import FINEST_FIRST, Interval

UPSERT_BATCH_SIZE = 5_000
VALUE_COLUMNS = ("open", "high", "low", "close", "price", "volume", "market_cap", "source")
ALL_COLUMNS = ("coin_id", "interval", "price_at", *VALUE_COLUMNS)
POINT_COLUMNS = ("price_at", "open", "high", "low", "close", "price", "volume", "market_cap")

# Core columns: hot reads select tuples from the table and never build ORM objects.
_TABLE = cast(Table, PriceData.__table__)
_POINT = tuple(_TABLE.c[name] for name in POINT_COLUMNS)

PointRow = tuple[
    dt.datetime,
    float | None,
    float | None,
    float | None,
    float | None,
    float,
    float | None,
    float | None,
]
"""(price_at, open, high, low, close, price, volume, market_cap): a Core row, read like a tuple."""


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One bar or point to write; the field order matches `ALL_COLUMNS`."""

    coin_id: int
    interval: str
    price_at: dt.datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    price: float
    volume: float | None
    market_cap: float | None
    source: str

    @property
    def key(self) -> tuple[int, str, dt.datetime]:
        """The natural key, unique per series and instant."""
        return (self.coin_id, self.interval, self.price_at)


PriceTuple = tuple[
    int,
    str,
    dt.datetime,
    float | None,
    float | None,
    float | None,
    float | None,
    float,
    float | None,
    float | None,
    str,
]
"""A `PriceRow`'s values as a plain tuple, in `ALL_COLUMNS` order."""

_AS_TUPLE = cast(Callable[[PriceRow], PriceTuple], operator.attrgetter(*ALL_COLUMNS))
_KEY = operator.itemgetter(0, 1, 2)
_SERIES = operator.itemgetter(0, 1)
_COIN = operator.itemgetter(0)
_INTERVAL = operator.itemgetter(1)
_PRICE_AT = operator.itemgetter(2)


_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
Floats = npt.NDArray[np.float64]


def from_micros(micros: int) -> dt.datetime:
    """The UTC instant `micros` microseconds after the Unix epoch."""
    return _UNIX_EPOCH + dt.timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True, eq=False)
class PriceColumns:
    """Points of one series to write, column-wise, as bulk writers build them from arrays.

    `price_at` holds instants in Unix microseconds (UTC); the value arrays are aligned with
    it, NaN meaning null; None stands for a column that is null throughout.
    """

    coin_id: int
    interval: str
    source: str
    price_at: npt.NDArray[np.int64]
    price: Floats
    volume: Floats | None = None
    market_cap: Floats | None = None
    open: Floats | None = None
    high: Floats | None = None
    low: Floats | None = None
    close: Floats | None = None

    def __len__(self) -> int:
        return len(self.price_at)

    def values(self) -> tuple[Floats | None, ...]:
        """The float columns in `ALL_COLUMNS` order (open .. market_cap)."""
        return (
            self.open,
            self.high,
            self.low,
            self.close,
            self.price,
            self.volume,
            self.market_cap,
        )

    def take(self, index: npt.NDArray[np.intp]) -> PriceColumns:
        """The rows at `index`, in that order."""

        def pick(column: Floats | None) -> Floats | None:
            return None if column is None else column[index]

        return PriceColumns(
            self.coin_id,
            self.interval,
            self.source,
            self.price_at[index],
            self.price[index],
            volume=pick(self.volume),
            market_cap=pick(self.market_cap),
            open=pick(self.open),
            high=pick(self.high),
            low=pick(self.low),
            close=pick(self.close),
        )

    def rows(self) -> list[PriceRow]:
        """The same points as `PriceRow`s (for row-wise writers and readers)."""
        op, hi, lo, cl, _, vo, mc = (
            [None] * len(self) if values is None else _nullable(values) for values in self.values()
        )
        columns = (self.price_at.tolist(), op, hi, lo, cl, self.price.tolist(), vo, mc)
        coin_id, interval, source = self.coin_id, self.interval, self.source
        return [
            PriceRow(coin_id, interval, from_micros(at), o, h, low, c, p, v, m, source)
            for at, o, h, low, c, p, v, m in zip(*columns, strict=True)
        ]


def _nullable(column: Floats) -> list[float | None]:
    return [None if value != value else value for value in column.tolist()]


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars between two present ones: `start` and `end` are the first and last
    missing bar starts, `missing` how many bars are absent."""

    start: dt.datetime
    end: dt.datetime
    missing: int


@dataclass(frozen=True, slots=True)
class SeriesGaps:
    """The missing bars of a series in a window, and its first present bar there (None when
    there is none) with that row's source."""

    gaps: list[Gap]
    first_at: dt.datetime | None
    first_source: str | None


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


@dataclass(frozen=True, slots=True)
class SeriesExtent:
    """First and last instant of one stored series."""

    first: dt.datetime
    last: dt.datetime


@dataclass(frozen=True, slots=True)
class PointLookup:
    """Ask for the newest point of a series at or before `at`."""

    coin_id: int
    interval: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Bar:
    """An aggregated OHLC bar produced by resampling."""

    price_at: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    points: int


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


def _naive_instant() -> ValueError:
    return ValueError("naive (or missing) datetime given where a UTC instant is required")


def _series_spans(
    rows: Sequence[PriceTuple], ascending: bool
) -> tuple[list[int], list[str], list[dt.datetime], list[dt.datetime]]:
    """Each series (coin, interval) of a non-empty, deduplicated batch and its first and
    last instant, as four columns (coins, intervals, firsts, lasts); `ascending` says the
    batch is one series in ascending time (see `_single_ascending_series`).

    Naive instants are refused, as `UTCDateTime` refuses them, rather than given a zone.
    """
    spans: dict[tuple[int, str], tuple[dt.datetime, dt.datetime]] = {}
    try:
        if ascending:
            spans[_SERIES(rows[0])] = (rows[0][2], rows[-1][2])
        else:
            for row in rows:
                key, at = (row[0], row[1]), row[2]
                span = spans.get(key)
                if span is None:
                    spans[key] = (at, at)
                elif at < span[0]:
                    spans[key] = (at, span[1])
                elif at > span[1]:
                    spans[key] = (span[0], at)
    except TypeError:  # a naive instant among aware ones, or no instant at all
        raise _naive_instant() from None
    if any(
        getattr(first, "tzinfo", None) is None or getattr(last, "tzinfo", None) is None
        for first, last in spans.values()
    ):
        raise _naive_instant()
    return (
        [coin_id for coin_id, _ in spans],
        [interval for _, interval in spans],
        [first for first, _ in spans.values()],
        [last for _, last in spans.values()],
    )


# PostgreSQL write path: binary COPY (types in `ALL_COLUMNS` order; varchar takes text).
_COPY_TYPES = ("int4", "text", "timestamptz", *("float8",) * 7, "text")
_COLUMN_LIST = ", ".join(ALL_COLUMNS)
_COPY_DIRECT = f"COPY price_data ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
_COPY_STAGING = f"COPY price_data_staging ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
_PREPARE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS price_data_staging "
    "(LIKE price_data INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; "
    "DELETE FROM price_data_staging"
)
# Does any stored row fall inside the span of instants a batch brings for each series?
# One primary-key probe per series; "no" means no incoming key can conflict.
_ANY_STORED_IN_SPANS = (
    "SELECT EXISTS (SELECT FROM unnest(%s::int4[], %s::text[], %s::timestamptz[], "
    "%s::timestamptz[]) AS s (coin_id, interval, first_at, last_at) "
    "WHERE EXISTS (SELECT FROM price_data p WHERE p.coin_id = s.coin_id "
    "AND p.interval = s.interval AND p.price_at BETWEEN s.first_at AND s.last_at))"
)
_SAVEPOINT = "price_data_copy"
# New rows, and rows whose values differ from the stored ones, go to INSERT .. ON CONFLICT;
# identical rows are left out before it, so they are neither rewritten nor even row-locked.
# The ON CONFLICT .. WHERE still compares, for rows a concurrent writer changed meanwhile.
_MERGE_STAGING = (
    f"INSERT INTO price_data ({_COLUMN_LIST}) "  # noqa: S608 - column names are constants
    f"SELECT {', '.join(f's.{c}' for c in ALL_COLUMNS)} FROM price_data_staging s "
    "LEFT JOIN price_data p ON p.coin_id = s.coin_id AND p.interval = s.interval "
    "AND p.price_at = s.price_at "
    f"WHERE p.coin_id IS NULL OR ({', '.join(f'p.{c}' for c in VALUE_COLUMNS)}) "
    f"IS DISTINCT FROM ({', '.join(f's.{c}' for c in VALUE_COLUMNS)}) "
    "ON CONFLICT (coin_id, interval, price_at) DO UPDATE SET "
    f"{', '.join(f'{c} = EXCLUDED.{c}' for c in VALUE_COLUMNS)} "
    f"WHERE ({', '.join(f'price_data.{c}' for c in VALUE_COLUMNS)}) "
    f"IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in VALUE_COLUMNS)}); "
    "DELETE FROM price_data_staging"
)


def _copy_rows(cursor: psycopg.Cursor[Any], statement: str, rows: Iterable[PriceTuple]) -> None:
    """Stream rows through a binary COPY: psycopg's C dumpers, no text formatting."""
    with cursor.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        write = copy.write_row
        for row in rows:
            write(row)


_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
_BINARY_TRAILER = b"\xff\xff"
_PG_EPOCH_MICROS = 946_684_800_000_000  # PostgreSQL counts from 2000-01-01 00:00 UTC
_FLOAT_COLUMNS = ALL_COLUMNS[3:10]


def _binary_copy(batch: PriceColumns) -> bytes:
    """A batch's whole binary COPY stream (signature, rows, trailer), built by arrays.

    A row is a field count and, per field, a length (-1 for null) and the value in network
    byte order. Rows with the same nulls share one packed record layout, so each null
    pattern is one structured array; COPY takes rows in any order.
    """
    interval, source = batch.interval.encode(), batch.source.encode()
    columns = batch.values()
    pattern = np.zeros(len(batch), dtype=np.int64)
    for bit, values in enumerate(columns):
        if values is not None:
            pattern |= (~np.isnan(values)).astype(np.int64) << bit
    parts = [_BINARY_SIGNATURE]
    for code in np.unique(pattern).tolist():
        rows = np.flatnonzero(pattern == code)
        present = [bool(code >> bit & 1) for bit in range(len(columns))]
        layout = [
            ("fields", ">i2"),
            ("coin_id_len", ">i4"),
            ("coin_id", ">i4"),
            ("interval_len", ">i4"),
            ("interval", f"S{len(interval)}"),
            ("price_at_len", ">i4"),
            ("price_at", ">i8"),
        ]
        for name, here in zip(_FLOAT_COLUMNS, present, strict=True):
            layout += [(f"{name}_len", ">i4"), *([(name, ">f8")] if here else [])]
        layout += [("source_len", ">i4"), ("source", f"S{len(source)}")]
        record = np.empty(len(rows), dtype=np.dtype(layout))
        record["fields"] = len(ALL_COLUMNS)
        record["coin_id_len"], record["coin_id"] = 4, batch.coin_id
        record["interval_len"], record["interval"] = len(interval), interval
        record["price_at_len"] = 8
        record["price_at"] = batch.price_at[rows] - _PG_EPOCH_MICROS
        for name, values, here in zip(_FLOAT_COLUMNS, columns, present, strict=True):
            record[f"{name}_len"] = 8 if here else -1
            if here and values is not None:
                record[name] = values[rows]
        record["source_len"], record["source"] = len(source), source
        parts.append(record.tobytes())
    parts.append(_BINARY_TRAILER)
    return b"".join(parts)


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


def _write_copy(cursor: psycopg.Cursor[Any], statement: str, stream: bytes) -> None:
    """Send a whole binary COPY stream at once."""
    with cursor.copy(statement) as copy:
        copy.write(stream)


@lru_cache(maxsize=1)
def _series_window(
    coin_id: int,
    interval: Interval | str,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[ColumnElement[bool]]:
    """Conditions selecting one series' rows in [start, end] (either bound optional)."""
    conditions: list[ColumnElement[bool]] = [
        _TABLE.c.coin_id == coin_id,
        _TABLE.c.interval == str(interval),
    ]
    if start is not None:
        conditions.append(_TABLE.c.price_at >= start)
    if end is not None:
        conditions.append(_TABLE.c.price_at <= end)
    return conditions


def _generic_upsert_statement() -> SQLiteInsert:
    """INSERT .. ON CONFLICT DO UPDATE, only where a value changed (built once)."""
    statement = sqlite_insert(_TABLE)
    changed = tuple_(*(_TABLE.c[c] for c in VALUE_COLUMNS)).is_distinct_from(
        tuple_(*(statement.excluded[c] for c in VALUE_COLUMNS))
    )
    return statement.on_conflict_do_update(
        index_elements=["coin_id", "interval", "price_at"],
        set_={c: statement.excluded[c] for c in VALUE_COLUMNS},
        where=changed,
    )


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
            spans = _series_spans(unique, ascending)
            return self._upsert_postgresql(
                spans, len(unique), lambda cursor, copy: _copy_rows(cursor, copy, unique)
            )
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
            first, last = (from_micros(int(unique.price_at[i])) for i in (0, -1))
            spans = ([unique.coin_id], [unique.interval], [first], [last])
            return self._upsert_postgresql(
                spans,
                len(unique),
                lambda cursor, copy: _write_copy(cursor, copy, _binary_copy(unique)),
                check=not expect_new,
            )
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
            update(_TABLE)
            .where(*_series_window(coin_id, interval, price_at, price_at))
            .where(_TABLE.c.source == replacing)
            .values(source=source)
        )
        return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def _upsert_postgresql(
        self,
        spans: tuple[list[int], list[str], list[dt.datetime], list[dt.datetime]],
        count: int,
        copy_rows: Callable[[psycopg.Cursor[Any], str], None],
        *,
        check: bool = True,
    ) -> int:
        """Binary COPY: straight into price_data when no incoming key can be stored already
        (a new series, or a span of time it does not cover yet), else into a temporary
        staging table merged with one INSERT .. ON CONFLICT. `spans` are each series' first
        and last instant (see `_series_spans`), `count` the rows `copy_rows` sends; without
        `check`, the direct COPY is tried without asking first.

        The direct COPY runs under a savepoint: should a concurrent writer have stored one of
        the keys since the check, it is undone and the batch takes the merge instead.
        """
        if self.session.autoflush:
            self.session.flush()  # as session.execute() would: pending coins must exist
        driver = self.session.connection().connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            raise TypeError("bulk writes to PostgreSQL need psycopg 3 (postgresql+psycopg://)")
        statement = _ANY_STORED_IN_SPANS
        try:
            with driver.cursor() as cursor:
                stored = check and cast(tuple[bool], cursor.execute(statement, spans).fetchone())[0]
                if not stored:
                    statement = _COPY_DIRECT
                    cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
                    try:
                        copy_rows(cursor, statement)
                    except psycopg.errors.UniqueViolation:
                        cursor.execute(
                            f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}"
                        )
                    else:
                        cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                        return count
                statement = _PREPARE_STAGING
                cursor.execute(statement)
                statement = _COPY_STAGING
                copy_rows(cursor, statement)
                statement = _MERGE_STAGING
                cursor.execute(statement)
                return cursor.rowcount
        except psycopg.Error as exc:
            # What session.execute() would raise, so callers catch IntegrityError and co.
            raise DBAPIError.instance(
                statement, None, exc, psycopg.Error, dialect=self.session.get_bind().dialect
            ) from exc

    def _upsert_generic(self, rows: Sequence[PriceTuple]) -> int:
        """Batched INSERT .. ON CONFLICT DO UPDATE WHERE changed (SQLite)."""
        written = 0
        for start in range(0, len(rows), UPSERT_BATCH_SIZE):
            batch = rows[start : start + UPSERT_BATCH_SIZE]
            result = self.session.execute(
                _generic_upsert_statement(),
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
        statement = select(PriceData).where(*_series_window(coin_id, interval, start, end))
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
        statement = select(PriceData.price_at).where(*_series_window(coin_id, interval, start, end))
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
            select(_TABLE.c.interval, _TABLE.c.price_at, _TABLE.c.source)
            .where(_TABLE.c.coin_id == coin_id)
            .where(
                or_(
                    *(
                        and_(
                            _TABLE.c.interval == str(interval),
                            _TABLE.c.price_at >= start,
                            _TABLE.c.price_at <= end,
                        )
                        for interval, (start, end) in windows.items()
                    )
                )
            )
            .order_by(_TABLE.c.interval, _TABLE.c.price_at)
        )
        if provisional_source is not None:
            statement = statement.where(_TABLE.c.source != provisional_source)
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
        statement = _resample_statement(dialect, start is not None, end is not None)
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
            select(_TABLE.c.coin_id, _TABLE.c.interval, func.min(_TABLE.c.price_at))
            .where(
                or_(
                    *(
                        and_(_TABLE.c.interval == interval.value, _TABLE.c.price_at < end)
                        for interval, end in ends.items()
                    )
                )
            )
            .group_by(_TABLE.c.coin_id, _TABLE.c.interval)
            .order_by(_TABLE.c.coin_id, _TABLE.c.interval)
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
        params = _retention_params(coin_id, source, target, start, end)
        params |= {"label": label, "per_bar_source": per_bar_source}
        preview = self.session.execute(_rollup_statement(dialect, start is not None, True), params)
        _bars, rows = preview.one()
        if not rows:
            return RollUp(rows=0, bars=0)
        result = self.session.execute(_rollup_statement(dialect, start is not None, False), params)
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
        params = _retention_params(coin_id, source, target, start, end)
        result = self.session.execute(_delete_covered_statement(dialect, start is not None), params)
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
        return select(_TABLE.c.price_at).where(*_series_window(coin_id, interval, start, end))

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
                .with_only_columns(*_POINT)
                .order_by(_TABLE.c.price_at.desc())
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
        sql = _PG_POINTS_SQL[(start is not None, end is not None)]
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
        """The dialect's key-list source and its parameters (see `_key_source`)."""
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
        rows = self.session.execute(_points_at_statement(dialect), params)
        return {row[0]: cast(PointRow, tuple(row[1:])) for row in rows}

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
        for coin_id, *values in self.session.execute(_extents_statement(dialect), params):
            for index, interval in enumerate(Interval):
                first, last = values[2 * index], values[2 * index + 1]
                if first is not None and last is not None:
                    result[coin_id][interval] = SeriesExtent(first=first, last=last)
        return result

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
        for index, price_at, price in self.session.execute(
            _at_or_before_statement(dialect), params
        ):
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
            _window_stats_statement(dialect), params
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
            _window_points_statement(dialect), params
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
        params = _bucket_params(coin_id, series, width_seconds, start, end)
        dialect = self.session.get_bind().dialect.name
        statement = _first_per_bucket_statement(dialect, start is not None, end is not None)
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
        params = _bucket_params(coin_id, series, width_seconds, start, end)
        dialect = self.session.get_bind().dialect.name
        statement = _candles_statement(dialect, start is not None, end is not None)
        return [
            Candle(bucket, open_, high, low, close)
            for bucket, open_, high, low, close, *_ in self.session.execute(statement, params)
        ]

    def _window_keys(self, keys: Sequence[WindowKey]) -> tuple[str, dict[str, Any]]:
        """The dialect's window-key-list source and its parameters (see `_WINDOW_SOURCES`)."""
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
    return exists().where(_TABLE.c.coin_id == coin_id)


_PG_POINTS_SQL = {
    (has_start, has_end): (
        "SELECT price_at, open, high, low, close, price, volume, market_cap FROM price_data "  # noqa: S608
        "WHERE coin_id = %s AND interval = %s"
        + (" AND price_at >= %s" if has_start else "")
        + (" AND price_at <= %s" if has_end else "")
        + " ORDER BY price_at DESC LIMIT %s"
    )
    for has_start in (False, True)
    for has_end in (False, True)
}
# A session zone at UTC offset 0 in both January and July needs no conversion.
_ZONE_PROBES = (dt.datetime(2024, 1, 15), dt.datetime(2024, 7, 15))  # noqa: DTZ001


# ---- statements over a list of keys -------------------------------------------------------
#
# Many-key reads take the keys as a few parameters rather than one SELECT (or placeholder
# set) per key: PostgreSQL gets arrays expanded by unnest(), SQLite a JSON list read by
# json_each(). Either way the statement text is constant, so it is planned cheaply and
# cached by SQLAlchemy and the driver, whatever the number of keys. Both sources expose
# v(k, coin_id, series, at); `at` is in the column's stored form, so comparisons use the
# primary key.

_INSTANT = UTCDateTime()
_KEY_SOURCES = {
    "postgresql": (
        "unnest(CAST(:k AS integer[]), CAST(:c AS integer[]), CAST(:s AS varchar[]), "
        "CAST(:a AS timestamptz[])) AS v(k, coin_id, series, at)"
    ),
    "sqlite": (
        "(SELECT json_extract(value, '$[0]') AS k, json_extract(value, '$[1]') AS coin_id, "
        "json_extract(value, '$[2]') AS series, json_extract(value, '$[3]') AS at "
        "FROM json_each(:keys)) AS v"
    ),
}


@lru_cache(maxsize=8)
def _points_at_statement(dialect: str) -> TextualSelect:
    """coin_id and the point columns of each exactly keyed row."""
    columns = ", ".join(f"p.{name}" for name in POINT_COLUMNS)
    sql = (
        f"SELECT p.coin_id, {columns} FROM {_KEY_SOURCES[dialect]} "  # noqa: S608 - constants
        "JOIN price_data AS p ON p.coin_id = v.coin_id AND p.interval = v.series "
        "AND p.price_at = v.at"
    )
    return text(sql).columns(_TABLE.c.coin_id, *_POINT)


_EXTENT_LABELS = {
    (interval, aggregate): f"{aggregate}_{interval.name.lower()}"
    for interval in Interval
    for aggregate in ("min", "max")
}


@lru_cache(maxsize=8)
def _extents_statement(dialect: str) -> TextualSelect:
    """coin_id, then min and max instant of each interval's series, per listed coin."""
    bounds = [
        f"(SELECT {aggregate}(p.price_at) FROM price_data AS p "  # noqa: S608 - constants only
        f"WHERE p.coin_id = v.coin_id AND p.interval = '{interval.value}') AS {label}"
        for (interval, aggregate), label in _EXTENT_LABELS.items()
    ]
    sql = f"SELECT v.coin_id, {', '.join(bounds)} FROM {_KEY_SOURCES[dialect]}"  # noqa: S608
    return text(sql).columns(
        column("coin_id", Integer()),
        *(column(label, UTCDateTime()) for label in _EXTENT_LABELS.values()),
    )


@lru_cache(maxsize=8)
def _at_or_before_statement(dialect: str) -> TextualSelect:
    """Lookup index, instant and price of the newest point at or before each lookup time."""

    def probe(name: str) -> str:
        return (
            f"(SELECT p.{name} FROM price_data AS p WHERE p.coin_id = v.coin_id "  # noqa: S608
            "AND p.interval = v.series AND p.price_at <= v.at "
            "ORDER BY p.price_at DESC LIMIT 1)"
        )

    sql = (
        f"SELECT v.k, {probe('price_at')} AS price_at, {probe('price')} AS price "  # noqa: S608
        f"FROM {_KEY_SOURCES[dialect]}"
    )
    return text(sql).columns(
        column("k", Integer()), column("price_at", UTCDateTime()), column("price", Double())
    )


_BUCKET_EPOCH = {
    "postgresql": "CAST(floor(extract(epoch FROM price_at) / :width) AS bigint) * :width",
    # Whole seconds only: SQLite's date functions round fractions to milliseconds, which
    # would move an instant just before midnight into the next day.
    "sqlite": "CAST(strftime('%s', substr(price_at, 1, 19)) AS INTEGER) / :width * :width",
}


@lru_cache(maxsize=16)
def _resample_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """OHLC per UTC-epoch-aligned bucket, aggregated in the database.

    Open and close come from the bucket's first and last rows (found again by primary key);
    high and low fall back to the price for price-only points; volume is the sum of the
    known volumes (null when none is known); points counts the source rows.
    """
    bounds = (" AND price_at >= :start" if has_start else "") + (
        " AND price_at <= :end" if has_end else ""
    )
    same_series = "coin_id = :coin_id AND interval = :series"
    sql = (
        "WITH buckets AS ("  # noqa: S608 - only constant fragments are interpolated
        f"SELECT {_BUCKET_EPOCH[dialect]} AS bucket, min(price_at) AS first_at, "
        "max(price_at) AS last_at, max(coalesce(high, price)) AS high, "
        "min(coalesce(low, price)) AS low, sum(volume) AS volume, count(*) AS points "
        f"FROM price_data WHERE {same_series}{bounds} GROUP BY 1) "
        "SELECT b.bucket, coalesce(o.open, o.price) AS open, b.high, b.low, "
        "c.price AS close, b.volume, b.points FROM buckets AS b "
        "JOIN price_data AS o ON o.coin_id = :coin_id AND o.interval = :series "
        "AND o.price_at = b.first_at "
        "JOIN price_data AS c ON c.coin_id = :coin_id AND c.interval = :series "
        "AND c.price_at = b.last_at "
        "ORDER BY b.bucket"
    )
    statement = text(sql)
    if has_start:
        statement = statement.bindparams(bindparam("start", type_=UTCDateTime()))
    if has_end:
        statement = statement.bindparams(bindparam("end", type_=UTCDateTime()))
    return statement.columns(
        column("bucket", Integer()),
        column("open", Double()),
        column("high", Double()),
        column("low", Double()),
        column("close", Double()),
        column("volume", Double()),
        column("points", Integer()),
    )


# ---- market snapshot statements -----------------------------------------------------------
#
# Window keys travel like the keys above, with three instants each: both sources expose
# v(k, coin_id, series, since, until, ref_at), instants in the column's stored form.

_WINDOW_SOURCES = {
    "postgresql": (
        "unnest(CAST(:k AS integer[]), CAST(:c AS integer[]), CAST(:s AS varchar[]), "
        "CAST(:f AS timestamptz[]), CAST(:u AS timestamptz[]), CAST(:r AS timestamptz[])) "
        "AS v(k, coin_id, series, since, until, ref_at)"
    ),
    "sqlite": (
        "(SELECT json_extract(value, '$[0]') AS k, json_extract(value, '$[1]') AS coin_id, "
        "json_extract(value, '$[2]') AS series, json_extract(value, '$[3]') AS since, "
        "json_extract(value, '$[4]') AS until, json_extract(value, '$[5]') AS ref_at "
        "FROM json_each(:keys)) AS v"
    ),
}
_IN_WINDOW = (
    "p.coin_id = v.coin_id AND p.interval = v.series "
    "AND p.price_at > v.since AND p.price_at <= v.until"
)
_FINEST_FIRST_SQL = " ".join(
    f"WHEN '{interval.value}' THEN {rank}" for rank, interval in enumerate(FINEST_FIRST)
)
_INTERVALS_SQL = ", ".join(f"'{interval.value}'" for interval in Interval)


@lru_cache(maxsize=4)
def _window_stats_statement(dialect: str) -> TextualSelect:
    """Key index, window high, window low and the reference point's market cap (the finest
    series wins when several hold a point at that instant)."""
    sql = (
        "SELECT v.k, "  # noqa: S608 - only constant fragments are interpolated
        f"(SELECT max(coalesce(p.high, p.price)) FROM price_data AS p WHERE {_IN_WINDOW}) "
        "AS high, "
        f"(SELECT min(coalesce(p.low, p.price)) FROM price_data AS p WHERE {_IN_WINDOW}) "
        "AS low, "
        "(SELECT p.market_cap FROM price_data AS p WHERE p.coin_id = v.coin_id "
        f"AND p.interval IN ({_INTERVALS_SQL}) AND p.price_at = v.ref_at "
        f"ORDER BY CASE p.interval {_FINEST_FIRST_SQL} END LIMIT 1) AS market_cap "
        f"FROM {_WINDOW_SOURCES[dialect]}"
    )
    return text(sql).columns(
        column("k", Integer()),
        column("high", Double()),
        column("low", Double()),
        column("market_cap", Double()),
    )


@lru_cache(maxsize=4)
def _window_points_statement(dialect: str) -> TextualSelect:
    """Key index, instant and price of every point in each key's window."""
    sql = (
        "SELECT v.k, p.price_at, p.price "  # noqa: S608 - only constant fragments
        f"FROM {_WINDOW_SOURCES[dialect]} JOIN price_data AS p ON {_IN_WINDOW} "
        "ORDER BY v.k, p.price_at"
    )
    return text(sql).columns(
        column("k", Integer()), column("price_at", UTCDateTime()), column("price", Double())
    )


def _bucket_params(
    coin_id: int,
    series: Interval,
    width_seconds: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, Any]:
    """Parameters of the one-series bucket statements; absent bounds are left out."""
    params: dict[str, Any] = {"coin_id": coin_id, "series": series.value, "width": width_seconds}
    if start is not None:
        params["start"] = start
    if end is not None:
        params["end"] = end
    return params


def _bounded(sql: str, has_start: bool, has_end: bool) -> TextClause:
    """`sql` (with a `{where}` slot for one series in [start, end]) with typed :start and
    :end parameters where the statement uses them."""
    where = "coin_id = :coin_id AND interval = :series"
    where += (" AND price_at >= :start" if has_start else "") + (
        " AND price_at <= :end" if has_end else ""
    )
    statement = text(sql.format(where=where))
    if has_start:
        statement = statement.bindparams(bindparam("start", type_=UTCDateTime()))
    if has_end:
        statement = statement.bindparams(bindparam("end", type_=UTCDateTime()))
    return statement


# PostgreSQL reads first and last rows in the same single pass as the aggregates: joining the
# buckets back to price_data is planned as a quadratic nested loop while a freshly imported
# table has no statistics yet (seconds instead of milliseconds for a few thousand rows).
# SQLite always probes the primary key for those joins, and has no DISTINCT ON or array_agg.
_FIRST_PER_BUCKET = {
    "postgresql": (
        "SELECT DISTINCT ON (bucket) price_at, price, market_cap, volume FROM ("  # noqa: S608 - constants only
        f"SELECT {_BUCKET_EPOCH['postgresql']} AS bucket, price_at, price, market_cap, volume "
        "FROM price_data WHERE {where}) AS s ORDER BY bucket, price_at"
    ),
    "sqlite": (
        "WITH firsts AS (SELECT min(price_at) AS first_at FROM price_data WHERE {where} "  # noqa: S608 - constants only
        f"GROUP BY {_BUCKET_EPOCH['sqlite']}) "
        "SELECT p.price_at, p.price, p.market_cap, p.volume FROM firsts "
        "JOIN price_data AS p ON p.coin_id = :coin_id AND p.interval = :series "
        "AND p.price_at = firsts.first_at ORDER BY p.price_at"
    ),
}
_PG_CANDLES = (
    f"SELECT {_BUCKET_EPOCH['postgresql']} AS bucket, "  # noqa: S608 - constants only
    "(array_agg(coalesce(open, price) ORDER BY price_at))[1] AS open, "
    "max(coalesce(high, price)) AS high, min(coalesce(low, price)) AS low, "
    "(array_agg(price ORDER BY price_at DESC))[1] AS close "
    "FROM price_data WHERE {where} GROUP BY 1 ORDER BY 1"
)


@lru_cache(maxsize=16)
def _first_per_bucket_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """The stored row at the earliest instant of each bucket, oldest first."""
    return _bounded(_FIRST_PER_BUCKET[dialect], has_start, has_end).columns(
        column("price_at", UTCDateTime()),
        column("price", Double()),
        column("market_cap", Double()),
        column("volume", Double()),
    )


def _candles_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """Bucket, open, high, low and close (then any further columns) per bucket: a single
    pass on PostgreSQL (see `_FIRST_PER_BUCKET`); elsewhere `_resample_statement`, whose
    join back by primary key SQLite plans well."""
    if dialect != "postgresql":
        return _resample_statement(dialect, has_start, has_end)
    return _pg_candles_statement(has_start, has_end)


@lru_cache(maxsize=4)
def _pg_candles_statement(has_start: bool, has_end: bool) -> TextualSelect:
    """`_PG_CANDLES` over one series in [start, end]."""
    return _bounded(_PG_CANDLES, has_start, has_end).columns(
        column("bucket", Integer()),
        column("open", Double()),
        column("high", Double()),
        column("low", Double()),
        column("close", Double()),
    )


# ---- retention statements ----------------------------------------------------------------
#
# Buckets are `_BUCKET_EPOCH` (UTC-epoch seconds, as resampling aligns bars); `_FROM_EPOCH`
# turns one back into an instant in the column's stored form, so it compares with (and
# conflicts on) the primary key: a timestamptz on PostgreSQL, the text SQLAlchemy writes on
# SQLite (always with six fraction digits).

_FROM_EPOCH = {
    "postgresql": "to_timestamp({})",
    "sqlite": "(strftime('%Y-%m-%d %H:%M:%S', {}, 'unixepoch') || '.000000')",
}


@dataclass(frozen=True, slots=True)
class RollUp:
    """What one roll-up did: source rows aggregated and target bars created."""

    rows: int
    bars: int


def _retention_params(
    coin_id: int,
    source: Interval,
    target: Interval,
    start: dt.datetime | None,
    end: dt.datetime,
) -> dict[str, Any]:
    """Parameters shared by the retention statements."""
    params: dict[str, Any] = {"coin_id": coin_id, "series": source.value, "target": target.value}
    params |= {"width": target.seconds, "step": source.seconds, "end": end}
    if start is not None:
        params["start"] = start
    return params


def _bind_window(statement: TextClause, has_start: bool) -> TextClause:
    """Bind the window's instants as `UTCDateTime`, the column's own storage form."""
    statement = statement.bindparams(bindparam("end", type_=UTCDateTime()))
    if has_start:
        statement = statement.bindparams(bindparam("start", type_=UTCDateTime()))
    return statement


@lru_cache(maxsize=8)
def _rollup_statement(dialect: str, has_start: bool, preview: bool) -> TextClause:
    """The INSERT of missing bars (see `PriceRepository.roll_up`), or with `preview` the
    count of those bars and of their source rows."""
    at = _FROM_EPOCH[dialect]
    window = "price_at < :end" + (" AND price_at >= :start" if has_start else "")
    missing = (
        "SELECT b.bucket, b.first_at, b.last_at, b.high, b.low, b.volume, b.per_bar, "  # noqa: S608
        f"b.points FROM (SELECT {_BUCKET_EPOCH[dialect]} AS bucket, min(price_at) AS first_at, "
        "max(price_at) AS last_at, max(coalesce(high, price)) AS high, "
        "min(coalesce(low, price)) AS low, sum(volume) AS volume, "
        "min(CASE WHEN source = :per_bar_source THEN 1 ELSE 0 END) AS per_bar, "
        "count(*) AS points FROM price_data "
        f"WHERE coin_id = :coin_id AND interval = :series AND {window} GROUP BY 1) AS b "
        f"WHERE b.last_at >= {at.format('b.bucket + :width - :step')} "
        "AND NOT EXISTS (SELECT 1 FROM price_data AS t WHERE t.coin_id = :coin_id "
        f"AND t.interval = :target AND t.price_at = {at.format('b.bucket')})"
    )
    if preview:
        sql = f"SELECT count(*), coalesce(sum(n.points), 0) FROM ({missing}) AS n"  # noqa: S608
    else:
        sql = (
            f"INSERT INTO price_data ({_COLUMN_LIST}) "  # noqa: S608 - constants only
            f"SELECT :coin_id, :target, {at.format('n.bucket')}, coalesce(o.open, o.price), "
            "n.high, n.low, c.price, c.price, "
            "CASE WHEN n.per_bar = 1 THEN n.volume ELSE c.volume END, c.market_cap, "
            "CASE WHEN n.per_bar = 1 THEN :per_bar_source ELSE :label END "
            f"FROM ({missing}) AS n "
            "JOIN price_data AS o ON o.coin_id = :coin_id AND o.interval = :series "
            "AND o.price_at = n.first_at "
            "JOIN price_data AS c ON c.coin_id = :coin_id AND c.interval = :series "
            "AND c.price_at = n.last_at "
            # SQLite needs a WHERE before ON CONFLICT to parse an INSERT .. SELECT .. JOIN.
            "WHERE 1 = 1 ON CONFLICT (coin_id, interval, price_at) DO NOTHING"
        )
    return _bind_window(text(sql), has_start)


@lru_cache(maxsize=8)
def _delete_covered_statement(dialect: str, has_start: bool) -> TextClause:
    """The DELETE of `PriceRepository.delete_covered`: the window, the newest-row guard and
    the bucket's bar, all in one statement so a concurrent writer cannot slip between."""
    lower = " AND price_at >= :start" if has_start else ""
    bars_lower = " AND t.price_at >= :start" if has_start else ""
    sql = (
        "DELETE FROM price_data WHERE coin_id = :coin_id AND interval = :series "  # noqa: S608
        f"AND price_at < :end{lower} "
        "AND price_at < (SELECT max(l.price_at) FROM price_data AS l "
        "WHERE l.coin_id = :coin_id AND l.interval = :series) "
        f"AND {_FROM_EPOCH[dialect].format(_BUCKET_EPOCH[dialect])} IN "
        "(SELECT t.price_at FROM price_data AS t WHERE t.coin_id = :coin_id "
        f"AND t.interval = :target AND t.price_at < :end{bars_lower})"
    )
    return _bind_window(text(sql), has_start)
