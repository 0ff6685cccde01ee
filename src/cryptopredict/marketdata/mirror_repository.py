"""SQL the CoinGecko mirror needs beyond the public methods of the coins and prices repositories.

Every read here costs one statement, whatever the number of coins or points:

- `coins`: the catalogue rows a listing shows (rank and image included), filtered (priced
  coins only, for markets) and ordered in SQL, so `/coins/markets` pages without reading
  every coin;
- `window_stats`: per coin, the high and low over a window and the market cap of an exact
  earlier point (the 24 h figures of `/coins/markets`);
- `window_points`: per coin, the points of one series in a window (the 7-day sparkline);
- `first_per_bucket`: one series thinned to the first point of each UTC-aligned bucket (a
  coarser `market_chart` grid from a finer stored series, values untouched);
- `resample`: OHLC candles of any width (CoinGecko's 30 min, 4 h and 4 days, which
  `PriceRepository.resample` cannot produce because it only targets stored intervals).

Many-coin reads pass their keys as arrays (PostgreSQL `unnest`) or one JSON list (SQLite
`json_each`), like `PriceRepository`, so the statement text stays constant and cached.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Double, Integer, bindparam, column, exists, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.database import UTCDateTime
from cryptopredict.prices.models import Interval, PriceData

_INSTANT = UTCDateTime()
_FINEST_FIRST_SQL = " ".join(
    f"WHEN '{interval.value}' THEN {rank}"
    for rank, interval in enumerate(sorted(Interval, key=lambda i: i.seconds))
)
_INTERVALS_SQL = ", ".join(f"'{interval.value}'" for interval in Interval)


class CoinOrder(enum.StrEnum):
    """Orders the catalogue can be read in; unranked coins come last either way."""

    RANK = "rank"
    RANK_DESC = "rank_desc"
    ID = "id"
    ID_DESC = "id_desc"


@dataclass(frozen=True, slots=True)
class MarketCoin:
    """What a CoinGecko listing shows about a coin besides its prices."""

    id: int
    coingecko_id: str
    symbol: str
    name: str
    market_cap_rank: int | None
    image_url: str | None


@dataclass(frozen=True, slots=True)
class WindowKey:
    """One coin's series and window (`since` excluded, `until` included), and the instant of
    an earlier point whose market cap is wanted (None: not wanted)."""

    coin_id: int
    series: str
    since: dt.datetime
    until: dt.datetime
    reference_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Highest high and lowest low in a window (price-only points count with their price),
    and the market cap of the reference point (null when unknown)."""

    high: float | None
    low: float | None
    reference_market_cap: float | None


@dataclass(frozen=True, slots=True)
class Candle:
    """An OHLC candle of any width, identified by its UTC-epoch-aligned start (seconds)."""

    start: int
    open: float
    high: float
    low: float
    close: float


ChartRow = tuple[dt.datetime, float, float | None, float | None]
"""(price_at, price, market_cap, volume): one point of a market chart."""


class MirrorRepository:
    """Reads for the CoinGecko-compatible routes; never writes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def coins(
        self,
        *,
        order: CoinOrder,
        ids: Sequence[str] | None = None,
        active: bool | None = True,
        priced: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[MarketCoin]:
        """A page of the catalogue, optionally only the given CoinGecko ids, or only coins
        with at least one stored price (one primary-key probe per coin)."""
        statement = select(
            Cryptocurrency.id,
            Cryptocurrency.coingecko_id,
            Cryptocurrency.symbol,
            Cryptocurrency.name,
            Cryptocurrency.market_cap_rank,
            Cryptocurrency.image_url,
        )
        if ids is not None:
            statement = statement.where(Cryptocurrency.coingecko_id.in_(list(ids)))
        if active is not None:
            statement = statement.where(Cryptocurrency.is_active.is_(active))
        if priced:
            statement = statement.where(exists().where(PriceData.coin_id == Cryptocurrency.id))
        rank = Cryptocurrency.market_cap_rank
        if order is CoinOrder.RANK:
            statement = statement.order_by(rank.is_(None), rank.asc(), Cryptocurrency.coingecko_id)
        elif order is CoinOrder.RANK_DESC:
            statement = statement.order_by(rank.is_(None), rank.desc(), Cryptocurrency.coingecko_id)
        elif order is CoinOrder.ID:
            statement = statement.order_by(Cryptocurrency.coingecko_id.asc())
        else:
            statement = statement.order_by(Cryptocurrency.coingecko_id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        if offset:
            statement = statement.offset(offset)
        return [MarketCoin(*row) for row in self.session.execute(statement)]

    def window_stats(self, keys: Sequence[WindowKey]) -> list[WindowStats]:
        """High, low and reference market cap for each key, in the keys' order."""
        if not keys:
            return []
        params = self._key_params(keys)
        found = [WindowStats(None, None, None)] * len(keys)
        for index, high, low, market_cap in self.session.execute(
            _window_stats_statement(self._dialect), params
        ):
            found[index] = WindowStats(high=high, low=low, reference_market_cap=market_cap)
        return found

    def window_points(self, keys: Sequence[WindowKey]) -> list[list[tuple[dt.datetime, float]]]:
        """The (instant, price) points of each key's series in its window, oldest first."""
        found: list[list[tuple[dt.datetime, float]]] = [[] for _ in keys]
        if not keys:
            return found
        params = self._key_params(keys)
        for index, price_at, price in self.session.execute(
            _window_points_statement(self._dialect), params
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
        """The first point of every UTC-aligned bucket of `width_seconds` in [start, end]."""
        params = _series_params(coin_id, series, width_seconds, start, end)
        statement = _first_per_bucket_statement(self._dialect, start is not None, end is not None)
        return [
            (at, price, cap, volume)
            for at, price, cap, volume in self.session.execute(statement, params)
        ]

    def resample(
        self,
        coin_id: int,
        series: Interval,
        width_seconds: int,
        *,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[Candle]:
        """OHLC candles of `width_seconds` from a finer series: first open (or price), highest
        high, lowest low, last price, per UTC-epoch-aligned bucket with data in [start, end]."""
        params = _series_params(coin_id, series, width_seconds, start, end)
        statement = _resample_statement(self._dialect, start is not None, end is not None)
        return [Candle(*row) for row in self.session.execute(statement, params)]

    def _key_params(self, keys: Sequence[WindowKey]) -> dict[str, Any]:
        """The dialect's key-list parameters (see `_KEY_SOURCES`)."""
        if self._dialect == "postgresql":
            return {
                "k": list(range(len(keys))),
                "c": [key.coin_id for key in keys],
                "s": [key.series for key in keys],
                "f": [key.since for key in keys],
                "u": [key.until for key in keys],
                "r": [key.reference_at for key in keys],
            }
        dialect = self.session.get_bind().dialect
        to_text = _INSTANT.dialect_impl(dialect).bind_processor(dialect)

        def stored(at: dt.datetime | None) -> Any:
            return None if at is None or to_text is None else to_text(at)

        encoded = [
            [
                k,
                key.coin_id,
                key.series,
                stored(key.since),
                stored(key.until),
                stored(key.reference_at),
            ]
            for k, key in enumerate(keys)
        ]
        return {"keys": json.dumps(encoded)}


def _series_params(
    coin_id: int,
    series: Interval,
    width_seconds: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, Any]:
    """Parameters of the one-series statements; absent bounds are left out."""
    params: dict[str, Any] = {"coin_id": coin_id, "series": series.value, "width": width_seconds}
    if start is not None:
        params["start"] = start
    if end is not None:
        params["end"] = end
    return params


# Both sources expose v(k, coin_id, series, since, until, ref_at); instants are in the column's
# stored form, so comparisons with price_at use the primary key.
_KEY_SOURCES = {
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
        f"FROM {_KEY_SOURCES[dialect]}"
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
        f"FROM {_KEY_SOURCES[dialect]} JOIN price_data AS p ON {_IN_WINDOW} "
        "ORDER BY v.k, p.price_at"
    )
    return text(sql).columns(
        column("k", Integer()), column("price_at", UTCDateTime()), column("price", Double())
    )


_BUCKET = {
    "postgresql": "CAST(floor(extract(epoch FROM price_at) / :width) AS bigint) * :width",
    # Whole seconds only, as in PriceRepository: SQLite's date functions round fractions.
    "sqlite": "CAST(strftime('%s', substr(price_at, 1, 19)) AS INTEGER) / :width * :width",
}


def _bounded(sql: str, has_start: bool, has_end: bool) -> Any:
    """`sql` with typed :start / :end parameters where the statement uses them."""
    statement = text(sql)
    if has_start:
        statement = statement.bindparams(bindparam("start", type_=UTCDateTime()))
    if has_end:
        statement = statement.bindparams(bindparam("end", type_=UTCDateTime()))
    return statement


def _bounds(has_start: bool, has_end: bool) -> str:
    return (" AND price_at >= :start" if has_start else "") + (
        " AND price_at <= :end" if has_end else ""
    )


_SAME_SERIES = "coin_id = :coin_id AND interval = :series"


# PostgreSQL reads first and last rows in the same single pass as the aggregates: joining the
# buckets back to price_data is planned as a quadratic nested loop while a freshly imported
# table has no statistics yet (seconds instead of milliseconds for a few thousand rows).
# SQLite always probes the primary key for those joins, and has no DISTINCT ON or array_agg.
_FIRST_PER_BUCKET = {
    "postgresql": (
        "SELECT DISTINCT ON (bucket) price_at, price, market_cap, volume FROM ("  # noqa: S608 - constants only
        f"SELECT {_BUCKET['postgresql']} AS bucket, price_at, price, market_cap, volume "
        "FROM price_data WHERE {where}) AS s ORDER BY bucket, price_at"
    ),
    "sqlite": (
        "WITH firsts AS (SELECT min(price_at) AS first_at FROM price_data WHERE {where} "  # noqa: S608 - constants only
        f"GROUP BY {_BUCKET['sqlite']}) "
        "SELECT p.price_at, p.price, p.market_cap, p.volume FROM firsts "
        "JOIN price_data AS p ON p.coin_id = :coin_id AND p.interval = :series "
        "AND p.price_at = firsts.first_at ORDER BY p.price_at"
    ),
}
_RESAMPLE = {
    "postgresql": (
        f"SELECT {_BUCKET['postgresql']} AS bucket, "  # noqa: S608 - constants only
        "(array_agg(coalesce(open, price) ORDER BY price_at))[1] AS open, "
        "max(coalesce(high, price)) AS high, min(coalesce(low, price)) AS low, "
        "(array_agg(price ORDER BY price_at DESC))[1] AS close "
        "FROM price_data WHERE {where} GROUP BY 1 ORDER BY 1"
    ),
    "sqlite": (
        f"WITH buckets AS (SELECT {_BUCKET['sqlite']} AS bucket, "  # noqa: S608 - constants only
        "min(price_at) AS first_at, "
        "max(price_at) AS last_at, max(coalesce(high, price)) AS high, "
        "min(coalesce(low, price)) AS low FROM price_data WHERE {where} GROUP BY 1) "
        "SELECT b.bucket, coalesce(o.open, o.price) AS open, b.high, b.low, c.price AS close "
        "FROM buckets AS b "
        "JOIN price_data AS o ON o.coin_id = :coin_id AND o.interval = :series "
        "AND o.price_at = b.first_at "
        "JOIN price_data AS c ON c.coin_id = :coin_id AND c.interval = :series "
        "AND c.price_at = b.last_at "
        "ORDER BY b.bucket"
    ),
}


@lru_cache(maxsize=16)
def _first_per_bucket_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """The stored row at the earliest instant of each bucket, oldest first."""
    where = _SAME_SERIES + _bounds(has_start, has_end)
    statement: TextualSelect = _bounded(
        _FIRST_PER_BUCKET[dialect].format(where=where), has_start, has_end
    ).columns(
        column("price_at", UTCDateTime()),
        column("price", Double()),
        column("market_cap", Double()),
        column("volume", Double()),
    )
    return statement


@lru_cache(maxsize=16)
def _resample_statement(dialect: str, has_start: bool, has_end: bool) -> TextualSelect:
    """OHLC per bucket: open from the first row (its open, else its price), close from the
    last row's price, high and low falling back to the price for price-only points."""
    where = _SAME_SERIES + _bounds(has_start, has_end)
    statement: TextualSelect = _bounded(
        _RESAMPLE[dialect].format(where=where), has_start, has_end
    ).columns(
        column("bucket", Integer()),
        column("open", Double()),
        column("high", Double()),
        column("low", Double()),
        column("close", Double()),
    )
    return statement
