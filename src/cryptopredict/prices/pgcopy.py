"""PostgreSQL's write path for prices: binary COPY, straight in or through a staging merge.

Rows travel as a binary COPY stream (psycopg's C dumpers for tuples, or a stream built from
numpy arrays for column batches), never as formatted text or one INSERT per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cryptopredict.core.timegrid import from_micros
from cryptopredict.prices.types import ALL_COLUMNS, VALUE_COLUMNS, PriceColumns, PriceTuple

Spans = tuple[list[int], list[str], list[dt.datetime], list[dt.datetime]]
"""Each series of a batch and its first and last instant, as four columns (coins,
intervals, firsts, lasts): the arrays of the stored-key probe."""

# Types in `ALL_COLUMNS` order; varchar takes text.
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

_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
_BINARY_TRAILER = b"\xff\xff"
_PG_EPOCH_MICROS = 946_684_800_000_000  # PostgreSQL counts from 2000-01-01 00:00 UTC
_FLOAT_COLUMNS = ALL_COLUMNS[3:10]


def upsert_tuples(session: Session, rows: Sequence[PriceTuple], *, ascending: bool) -> int:
    """Upsert a non-empty, deduplicated batch of tuples; `ascending` says it is one series
    in ascending time (the spans then need no scan). Returns how many rows were written."""
    spans = _series_spans(rows, ascending)
    return _upsert(session, spans, len(rows), lambda cursor, copy: _copy_rows(cursor, copy, rows))


def upsert_columns(session: Session, batch: PriceColumns, *, check: bool = True) -> int:
    """Upsert a non-empty batch of one series in ascending time, without repeated instants;
    without `check`, the direct COPY is tried without asking for stored keys first."""
    first, last = (from_micros(int(batch.price_at[i])) for i in (0, -1))
    spans = ([batch.coin_id], [batch.interval], [first], [last])
    return _upsert(
        session,
        spans,
        len(batch),
        lambda cursor, copy: _write_copy(cursor, copy, _binary_copy(batch)),
        check=check,
    )


def _upsert(
    session: Session,
    spans: Spans,
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
    if session.autoflush:
        session.flush()  # as session.execute() would: pending coins must exist
    driver = session.connection().connection.driver_connection
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
            statement, None, exc, psycopg.Error, dialect=session.get_bind().dialect
        ) from exc


def _naive_instant() -> ValueError:
    return ValueError("naive (or missing) datetime given where a UTC instant is required")


def _series_spans(rows: Sequence[PriceTuple], ascending: bool) -> Spans:
    """Each series (coin, interval) of a non-empty, deduplicated batch and its first and
    last instant; `ascending` says the batch is one series in ascending time.

    Naive instants are refused, as `UTCDateTime` refuses them, rather than given a zone.
    """
    spans: dict[tuple[int, str], tuple[dt.datetime, dt.datetime]] = {}
    try:
        if ascending:
            spans[(rows[0][0], rows[0][1])] = (rows[0][2], rows[-1][2])
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


def _copy_rows(cursor: psycopg.Cursor[Any], statement: str, rows: Iterable[PriceTuple]) -> None:
    """Stream rows through a binary COPY: psycopg's C dumpers, no text formatting."""
    with cursor.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        write = copy.write_row
        for row in rows:
            write(row)


def _write_copy(cursor: psycopg.Cursor[Any], statement: str, stream: bytes) -> None:
    """Send a whole binary COPY stream at once."""
    with cursor.copy(statement) as copy:
        copy.write(stream)


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
