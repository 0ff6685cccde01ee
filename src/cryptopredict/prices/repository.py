"""SQL for the price time series: range scans, latest points, bulk upserts, gaps, resampling."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass

from sqlalchemy import ColumnElement, Row, Table, and_, func, select, text, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cryptopredict.prices.models import Interval, PriceData

UPSERT_BATCH_SIZE = 5_000
VALUE_COLUMNS = ("open", "high", "low", "close", "price", "volume", "market_cap", "source")
ALL_COLUMNS = ("coin_id", "interval", "price_at", *VALUE_COLUMNS)


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


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars between two present ones: `start` and `end` are the first and last
    missing bar starts, `missing` how many bars are absent."""

    start: dt.datetime
    end: dt.datetime
    missing: int


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


def _dedupe(rows: Iterable[PriceRow]) -> list[PriceRow]:
    """Last write wins within one batch, as it would across batches."""
    return list({row.key: row for row in rows}.values())


def _copy_value(value: object) -> str:
    """Text COPY encoding: \\N for NULL, ISO for instants."""
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class PriceRepository:
    """Price queries; not a generic repository because the key is composite and hot."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- writes -------------------------------------------------------------------------

    def bulk_upsert(self, rows: Iterable[PriceRow]) -> int:
        """Insert new rows and update changed ones; returns how many were written.

        Unchanged rows are not rewritten, so re-importing the same data writes 0. Runs inside
        the caller's transaction: the caller commits or rolls back the whole request.
        """
        unique = _dedupe(rows)
        if not unique:
            return 0
        if self.session.get_bind().dialect.name == "postgresql":
            return self._upsert_postgresql(unique)
        return self._upsert_generic(unique)

    def _upsert_postgresql(self, rows: Sequence[PriceRow]) -> int:
        """COPY into a temporary staging table, then one INSERT .. ON CONFLICT."""
        self.session.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS price_data_staging "
                "(LIKE price_data INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        )
        self.session.execute(text("DELETE FROM price_data_staging"))
        driver_connection = self.session.connection().connection.driver_connection
        columns = ", ".join(ALL_COLUMNS)
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(_copy_value(v) for v in astuple(row)))
            buffer.write("\n")
        with (
            driver_connection.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f"COPY price_data_staging ({columns}) FROM STDIN") as copy,
        ):
            copy.write(buffer.getvalue())
        assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in VALUE_COLUMNS)
        current = ", ".join(f"price_data.{c}" for c in VALUE_COLUMNS)
        incoming = ", ".join(f"EXCLUDED.{c}" for c in VALUE_COLUMNS)
        result = self.session.execute(
            text(
                f"INSERT INTO price_data ({columns}) "  # noqa: S608 - column names are constants
                f"SELECT {columns} FROM price_data_staging "
                f"ON CONFLICT (coin_id, interval, price_at) DO UPDATE SET {assignments} "
                f"WHERE ({current}) IS DISTINCT FROM ({incoming})"
            )
        )
        self.session.execute(text("DELETE FROM price_data_staging"))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _upsert_generic(self, rows: Sequence[PriceRow]) -> int:
        """Batched INSERT .. ON CONFLICT DO UPDATE WHERE changed (SQLite)."""
        written = 0
        table = PriceData.__table__
        assert isinstance(table, Table)  # noqa: S101 - narrows the mapped table's type
        for start in range(0, len(rows), UPSERT_BATCH_SIZE):
            batch = rows[start : start + UPSERT_BATCH_SIZE]
            statement = sqlite_insert(table)
            changed = tuple_(*(table.c[c] for c in VALUE_COLUMNS)).is_distinct_from(
                tuple_(*(statement.excluded[c] for c in VALUE_COLUMNS))
            )
            statement = statement.on_conflict_do_update(
                index_elements=["coin_id", "interval", "price_at"],
                set_={c: statement.excluded[c] for c in VALUE_COLUMNS},
                where=changed,
            )
            result = self.session.execute(
                statement, [dict(zip(ALL_COLUMNS, astuple(row), strict=True)) for row in batch]
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
        statement = select(PriceData).where(
            PriceData.coin_id == coin_id, PriceData.interval == str(interval)
        )
        if start is not None:
            statement = statement.where(PriceData.price_at >= start)
        if end is not None:
            statement = statement.where(PriceData.price_at <= end)
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
    ) -> list[dt.datetime]:
        """Only the instants of a series, for gap detection."""
        statement = select(PriceData.price_at).where(
            PriceData.coin_id == coin_id, PriceData.interval == str(interval)
        )
        if start is not None:
            statement = statement.where(PriceData.price_at >= start)
        if end is not None:
            statement = statement.where(PriceData.price_at <= end)
        return list(self.session.scalars(statement.order_by(PriceData.price_at)))

    def find_gaps(
        self,
        coin_id: int,
        interval: Interval | str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[Gap]:
        """Runs of missing bars between the first and last present bar (or the given bounds).

        A bar counts as missing when the distance to the previous bar exceeds 1.5 bar widths,
        which tolerates the small timestamp jitter of CoinGecko's points.
        """
        width = dt.timedelta(seconds=Interval(str(interval)).seconds)
        instants = self.timestamps(coin_id, interval, start=start, end=end)
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
        bars: list[Bar] = []
        width = target.seconds
        for row in self.range(coin_id, source, start=start, end=end):
            bucket_epoch = int(row.price_at.timestamp()) // width * width
            bucket = dt.datetime.fromtimestamp(bucket_epoch, dt.UTC)
            first = row.open if row.open is not None else row.price
            high = row.high if row.high is not None else row.price
            low = row.low if row.low is not None else row.price
            if bars and bars[-1].price_at == bucket:
                last = bars[-1]
                volume = last.volume
                if row.volume is not None:
                    volume = (volume or 0.0) + row.volume
                bars[-1] = Bar(
                    price_at=bucket,
                    open=last.open,
                    high=max(last.high, high),
                    low=min(last.low, low),
                    close=row.price,
                    volume=volume,
                    points=last.points + 1,
                )
            else:
                bars.append(Bar(bucket, first, high, low, row.price, row.volume, points=1))
        return bars

    def series_bounds(
        self, coin_id: int, interval: Interval | str
    ) -> Row[tuple[dt.datetime, dt.datetime, int]] | None:
        """First instant, last instant and row count of one series."""
        statement = select(
            func.min(PriceData.price_at), func.max(PriceData.price_at), func.count()
        ).where(PriceData.coin_id == coin_id, PriceData.interval == str(interval))
        row = self.session.execute(statement).one()
        return None if row[2] == 0 else row  # type: ignore[return-value]
