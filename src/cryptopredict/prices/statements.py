"""The SQL of the price reads, the generic upsert and retention, built once per dialect.

Hot statements are text with constant fragments (no per-call compilation) and are cached per
dialect and per shape of their optional bounds; callers pass only parameters.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Double, Integer, bindparam, column, text, tuple_
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from cryptopredict.core.database import UTCDateTime
from cryptopredict.prices.models import PRICE_TABLE
from cryptopredict.prices.types import (
    ALL_COLUMNS,
    FINEST_FIRST,
    POINT_COLUMNS,
    VALUE_COLUMNS,
    Interval,
)

POINT = tuple(PRICE_TABLE.c[name] for name in POINT_COLUMNS)
"""The Core columns of a `PointRow`, in its order."""
_COLUMN_LIST = ", ".join(ALL_COLUMNS)


@lru_cache(maxsize=1)
def series_window(
    coin_id: int,
    interval: Interval | str,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[ColumnElement[bool]]:
    """Conditions selecting one series' rows in [start, end] (either bound optional)."""
    conditions: list[ColumnElement[bool]] = [
        PRICE_TABLE.c.coin_id == coin_id,
        PRICE_TABLE.c.interval == str(interval),
    ]
    if start is not None:
        conditions.append(PRICE_TABLE.c.price_at >= start)
    if end is not None:
        conditions.append(PRICE_TABLE.c.price_at <= end)
    return conditions


def upsert_statement() -> SQLiteInsert:
    """INSERT .. ON CONFLICT DO UPDATE, only where a value changed (built once)."""
    statement = sqlite_insert(PRICE_TABLE)
    changed = tuple_(*(PRICE_TABLE.c[c] for c in VALUE_COLUMNS)).is_distinct_from(
        tuple_(*(statement.excluded[c] for c in VALUE_COLUMNS))
    )
    return statement.on_conflict_do_update(
        index_elements=["coin_id", "interval", "price_at"],
        set_={c: statement.excluded[c] for c in VALUE_COLUMNS},
        where=changed,
    )


PG_POINTS_SQL = {
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
"""The newest points of one series, by which bounds are given: psycopg's own placeholders,
for the binary cursor of the charting hot path."""


# ---- statements over a list of keys -------------------------------------------------------
#
# Many-key reads take the keys as a few parameters rather than one SELECT (or placeholder
# set) per key: PostgreSQL gets arrays expanded by unnest(), SQLite a JSON list read by
# json_each(). Either way the statement text is constant, so it is planned cheaply and
# cached by SQLAlchemy and the driver, whatever the number of keys. Both sources expose
# v(k, coin_id, series, at); `at` is in the column's stored form, so comparisons use the
# primary key.

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
def points_at_statement(dialect: str) -> TextualSelect:
    """coin_id and the point columns of each exactly keyed row."""
    columns = ", ".join(f"p.{name}" for name in POINT_COLUMNS)
    sql = (
        f"SELECT p.coin_id, {columns} FROM {_KEY_SOURCES[dialect]} "  # noqa: S608 - constants
        "JOIN price_data AS p ON p.coin_id = v.coin_id AND p.interval = v.series "
        "AND p.price_at = v.at"
    )
    return text(sql).columns(PRICE_TABLE.c.coin_id, *POINT)


_EXTENT_LABELS = {
    (interval, aggregate): f"{aggregate}_{interval.name.lower()}"
    for interval in Interval
    for aggregate in ("min", "max")
}


@lru_cache(maxsize=8)
def extents_statement(dialect: str) -> TextualSelect:
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
def at_or_before_statement(dialect: str) -> TextualSelect:
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
def resample_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
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
def window_stats_statement(dialect: str) -> TextualSelect:
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
def window_points_statement(dialect: str) -> TextualSelect:
    """Key index, instant and price of every point in each key's window."""
    sql = (
        "SELECT v.k, p.price_at, p.price "  # noqa: S608 - only constant fragments
        f"FROM {_WINDOW_SOURCES[dialect]} JOIN price_data AS p ON {_IN_WINDOW} "
        "ORDER BY v.k, p.price_at"
    )
    return text(sql).columns(
        column("k", Integer()), column("price_at", UTCDateTime()), column("price", Double())
    )


def bucket_params(
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
def first_per_bucket_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """The stored row at the earliest instant of each bucket, oldest first."""
    return _bounded(_FIRST_PER_BUCKET[dialect], has_start, has_end).columns(
        column("price_at", UTCDateTime()),
        column("price", Double()),
        column("market_cap", Double()),
        column("volume", Double()),
    )


def candles_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """Bucket, open, high, low and close (then any further columns) per bucket: a single
    pass on PostgreSQL (see `_FIRST_PER_BUCKET`); elsewhere `resample_statement`, whose
    join back by primary key SQLite plans well."""
    if dialect != "postgresql":
        return resample_statement(dialect, has_start, has_end)
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


def retention_params(
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
def rollup_statement(dialect: str, has_start: bool, preview: bool) -> TextClause:
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
def delete_covered_statement(dialect: str, has_start: bool) -> TextClause:
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
