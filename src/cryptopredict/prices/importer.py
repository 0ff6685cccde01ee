"""Price CSV import: each file is parsed and validated whole, then upserted in one transaction.

Two layouts are understood (see shared/data/SOURCES.md and snapshot/SNAPSHOT.md):

- daily: header `date,open,high,low,close,volume,market_cap`; `date` is a UTC day and
  `close` the price at its end. Stored as a `1d` bar at that day's 00:00 UTC, price = close.
- intraday: header `timestamp,open,high,low,close,volume,...`; `timestamp` is the bar's open
  instant in ISO 8601 (`Z`, an offset, or no offset meaning UTC). Stored at that instant.

Only the time column and `close` are required; other columns may be missing or empty
(unknown), and columns this table has no place for (`volume_base`, `trades`) are ignored.
A bad row makes the whole file fail with its line number, before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cryptopredict.coins import service as coins_service
from cryptopredict.prices.repository import PriceRepository, PriceTuple
from cryptopredict.prices.types import Interval
from cryptopredict.snapshot import load_coin_catalogue

SOURCE = "csv"
DEFAULT_BATCH_SIZE = 10_000
DAILY_COLUMN = "date"
INSTANT_COLUMN = "timestamp"
PRICE_COLUMNS = ("open", "high", "low", "close")
AMOUNT_COLUMNS = ("volume", "market_cap")
VALUE_COLUMNS = (*PRICE_COLUMNS, *AMOUNT_COLUMNS)

_COIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_STEM_INTERVAL = re.compile(r"^(?P<coin>.+)_(?P<interval>5m|1h|1d)$")
_INF = math.inf
_MIDNIGHT = dt.time()

# (price_at, open, high, low, close, volume, market_cap)
ParsedBar = tuple[
    dt.datetime,
    float | None,
    float | None,
    float | None,
    float,
    float | None,
    float | None,
]
ProgressCallback = Callable[[Path, int, int], None]


class PriceFileError(ValueError):
    """A price file that cannot be imported; names the file and, for a bad row, its line."""

    def __init__(self, path: Path, reason: str, *, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class ParsedPriceFile:
    """A fully validated file, ready to write."""

    path: Path
    interval: Interval
    bars: list[ParsedBar]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing one file did, for the per-file report."""

    path: Path
    coin: str
    interval: Interval
    rows_read: int
    rows_written: int
    seconds: float
    first_at: dt.datetime
    last_at: dt.datetime

    @property
    def rows_per_second(self) -> float:
        """Read throughput, the figure that matters for an idempotent re-import too."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """A file that was not imported (nothing from it was written) and why."""

    path: Path
    message: str
    line: int | None = None


@dataclass(slots=True)
class ImportReport:
    """Outcome of importing several files, each in its own transaction."""

    results: list[ImportResult] = field(default_factory=list)
    failures: list[ImportFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        """Data rows read from the files that were imported."""
        return sum(result.rows_read for result in self.results)

    @property
    def rows_written(self) -> int:
        """Rows inserted or changed; 0 when the same data is imported again."""
        return sum(result.rows_written for result in self.results)

    @property
    def rows_per_second(self) -> float:
        """Overall throughput across all files, failures' time included."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Whether every file was imported."""
        return not self.failures


# ---- naming -----------------------------------------------------------------------------


def normalise_coin_id(value: str) -> str:
    """A CoinGecko-style id (lower case, digits, `-`, `.`, `_`), or ValueError."""
    coin = value.strip().lower()
    if not _COIN_ID.match(coin):
        raise ValueError(
            f"{value!r} is not a valid coin id (lower-case letters, digits, '-', '.', '_')"
        )
    return coin


def _split_stem(path: Path) -> tuple[str, Interval | None]:
    """`bitcoin_1h.csv` -> ("bitcoin", 1h); `bitcoin.csv` -> ("bitcoin", None)."""
    match = _STEM_INTERVAL.match(path.stem)
    if match:
        return match["coin"], Interval(match["interval"])
    return path.stem, None


def coin_id_from_path(path: Path) -> str:
    """The coin a file is about, from its name: `bitcoin.csv` and `bitcoin_1h.csv` -> bitcoin."""
    stem, _ = _split_stem(path)
    try:
        return normalise_coin_id(stem)
    except ValueError as exc:
        raise PriceFileError(path, f"cannot derive a coin id from the file name ({exc})") from exc


# ---- parsing ----------------------------------------------------------------------------


def _column_index(header: Sequence[str]) -> dict[str, int]:
    """Position of each known column, by normalised header name."""
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        key = name.strip().lower()
        if key and key not in index:
            index[key] = position
    return index


def _read_number(text: str, column: str, line: int, path: Path) -> float | None:
    """One value column, with an error that says which column and why."""
    text = text.strip()
    if not text:
        if column == "close":
            raise PriceFileError(path, "close is empty (the price is required)", line=line)
        return None
    try:
        value = float(text)
    except ValueError:
        raise PriceFileError(path, f"{column} {text!r} is not a number", line=line) from None
    if column in PRICE_COLUMNS and not 0 < value < _INF:
        raise PriceFileError(path, f"{column} {text!r} is not a positive price", line=line)
    if column in AMOUNT_COLUMNS and not 0 <= value < _INF:
        raise PriceFileError(path, f"{column} {text!r} must be zero or more", line=line)
    return value


def _checked_values(
    path: Path, line: int, fields: Sequence[str], positions: Sequence[int | None], width: int
) -> tuple[float | None, float | None, float | None, float, float | None, float | None]:
    """The slow, precise reading of a row the fast path refused: its values, or the reason."""
    if len(fields) < width:
        raise PriceFileError(path, f"expected {width} fields, found {len(fields)}", line=line)
    values = {
        column: None if position is None else _read_number(fields[position], column, line, path)
        for column, position in zip(VALUE_COLUMNS, positions, strict=True)
    }
    low, high, close = values["low"], values["high"], values["close"]
    if low is not None and high is not None and low > high:
        raise PriceFileError(path, f"low {low!r} is above high {high!r}", line=line)
    if close is None:
        raise PriceFileError(path, "close is empty (the price is required)", line=line)
    return values["open"], high, low, close, values["volume"], values["market_cap"]


def _daily_instant(text: str) -> dt.datetime:
    """A `YYYY-MM-DD` UTC day as its 00:00 UTC instant."""
    return dt.datetime.combine(dt.date.fromisoformat(text), _MIDNIGHT, dt.UTC)


def _iso_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant in UTC; a value without offset is taken to be UTC already."""
    instant = dt.datetime.fromisoformat(text)
    if instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC)


def _infer_interval(path: Path, bars: Sequence[ParsedBar]) -> Interval:
    """The narrowest spacing between consecutive bars, which must be a known bar width."""
    instants = sorted(bar[0] for bar in bars)
    spacing = min(
        (int((b - a).total_seconds()) for a, b in zip(instants, instants[1:], strict=False)),
        default=None,
    )
    for interval in Interval:
        if spacing == interval.seconds:
            return interval
    known = ", ".join(i.value for i in Interval)
    found = "a single row" if spacing is None else f"rows {spacing} s apart"
    raise PriceFileError(
        path, f"cannot infer the interval from {found} (known: {known}); pass --interval"
    )


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a file's columns are, from its header, and how to read its time column."""

    time_column: str
    parse_instant: Callable[[str], dt.datetime]
    interval: Interval | None
    time_at: int
    positions: list[int | None]  # of VALUE_COLUMNS, None where the file has no such column
    close_at: int
    width: int  # fields a row needs


def _layout(path: Path, header: Sequence[str], interval: Interval | None) -> _Layout:
    """Read the header, or refuse the file (line 1) when it is not a price file."""
    columns = _column_index(header)
    if DAILY_COLUMN in columns:
        time_column, parse_instant = DAILY_COLUMN, _daily_instant
        if interval not in (None, Interval.DAY):
            raise PriceFileError(
                path,
                f"a file with a `date` column holds daily bars; it cannot be imported as "
                f"{interval}: use --interval 1d or auto",
                line=1,
            )
        interval = Interval.DAY
    elif INSTANT_COLUMN in columns:
        time_column, parse_instant = INSTANT_COLUMN, _iso_instant
    else:
        raise PriceFileError(
            path,
            f"header needs a `{DAILY_COLUMN}` or `{INSTANT_COLUMN}` column "
            f"and `close`; found {','.join(header)!r}",
            line=1,
        )
    if "close" not in columns:
        raise PriceFileError(path, "header has no `close` column", line=1)
    time_at = columns[time_column]
    positions = [columns.get(column) for column in VALUE_COLUMNS]
    width = max(p for p in (time_at, *positions) if p is not None) + 1
    return _Layout(
        time_column, parse_instant, interval, time_at, positions, columns["close"], width
    )


def _finish(
    path: Path, layout: _Layout, bars: list[ParsedBar], lines: Sequence[int]
) -> ParsedPriceFile:
    """The checks that need every row: there are some, the interval, bar alignment."""
    if not bars:
        raise PriceFileError(path, "the file has a header but no data rows")
    interval = layout.interval
    if interval is None:
        interval = _split_stem(path)[1] or _infer_interval(path, bars)
    if layout.time_column != DAILY_COLUMN:
        _check_alignment(path, bars, lines, interval)
    return ParsedPriceFile(path=path, interval=interval, bars=bars)


def parse_price_file(path: Path, *, interval: Interval | None = None) -> ParsedPriceFile:
    """Read and validate a whole price file; `interval=None` infers it (daily files are 1d).

    Raises PriceFileError naming the line of the first bad row: a bad date, a missing,
    non-numeric or non-positive price, low above high, or a repeated instant.
    """
    parsed = _parse_plain(path, interval)
    return parsed if parsed is not None else _parse_rows(path, interval)


def _parse_rows(path: Path, interval: Interval | None) -> ParsedPriceFile:
    """The reference reading, row by row through the csv module: any file, and the exact
    line and reason of the first problem."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise PriceFileError(path, "the file is empty", line=1)
        layout = _layout(path, header, interval)
        time_column, parse_instant = layout.time_column, layout.parse_instant
        time_at, positions, c_at, width = (
            layout.time_at,
            layout.positions,
            layout.close_at,
            layout.width,
        )
        o_at, h_at, l_at, _, v_at, m_at = positions

        bars: list[ParsedBar] = []
        lines: list[int] = []
        previous: dt.datetime | None = None
        seen: dict[dt.datetime, int] | None = None  # only built once rows arrive out of order
        for fields in reader:
            if not fields:
                continue
            line = reader.line_num
            try:
                # Fast path with the conversions inline; _checked_values() explains a refusal.
                o = float(fields[o_at]) if o_at is not None and fields[o_at] else None
                h = float(fields[h_at]) if h_at is not None and fields[h_at] else None
                lo = float(fields[l_at]) if l_at is not None and fields[l_at] else None
                c = float(fields[c_at])
                v = float(fields[v_at]) if v_at is not None and fields[v_at] else None
                m = float(fields[m_at]) if m_at is not None and fields[m_at] else None
                if not (
                    0 < c < _INF
                    and (o is None or 0 < o < _INF)
                    and (h is None or 0 < h < _INF)
                    and (lo is None or 0 < lo < _INF)
                    and (v is None or 0 <= v < _INF)
                    and (m is None or 0 <= m < _INF)
                    and (lo is None or h is None or lo <= h)
                ):
                    raise ValueError
            except (ValueError, IndexError):
                o, h, lo, c, v, m = _checked_values(path, line, fields, positions, width)
            stamp = fields[time_at]
            try:
                instant = parse_instant(stamp.strip())
            except ValueError:
                raise PriceFileError(
                    path, f"{time_column} {stamp!r} is not a valid {time_column}", line=line
                ) from None
            if seen is None and (previous is None or instant > previous):
                previous = instant
            else:
                if seen is None:
                    seen = {bar[0]: n for bar, n in zip(bars, lines, strict=True)}
                first = seen.setdefault(instant, line)
                if first != line:
                    raise PriceFileError(
                        path, f"{time_column} {stamp} repeats the row on line {first}", line=line
                    )
            bars.append((instant, o, h, lo, c, v, m))
            lines.append(line)

    return _finish(path, layout, bars, lines)


def _parse_plain(path: Path, interval: Interval | None) -> ParsedPriceFile | None:
    """The same reading, column by column, for the usual file: UTF-8, no quotes, `\\n` line
    ends, no blank lines, every row wide enough, every value valid, instants ascending.

    Returns None, having raised nothing, for any file it is not sure about (other than a bad
    header, which is read the same way): `_parse_rows` then reads it and names the problem.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError):
        return None
    if not text or '"' in text or "\r" in text or "\0" in text:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) < 2 or "" in lines:
        return None
    header = lines[0].split(",")
    layout = _layout(path, header, interval)
    body = lines[1:]
    columns: Sequence[Sequence[str]]
    if set(map(str.count, body, itertools.repeat(","))) == {len(header) - 1}:
        # Every row exactly as wide as the header: one split, then every n-th field.
        fields, width = ",".join(body).split(","), len(header)
        columns = [fields[position::width] for position in range(width)]
    else:
        rows = [line.split(",") for line in body]
        if min(map(len, rows)) < layout.width:
            return None
        columns = list(zip(*rows, strict=False))  # rows may be wider than the columns read
    values: list[list[float | None] | None] = []
    for name, position in zip(VALUE_COLUMNS, layout.positions, strict=True):
        if position is None:
            values.append(None)
            continue
        column = _plain_numbers(columns[position], name)
        if column is None:
            return None
        values.append(column)
    opens, highs, lows, closes, volumes, caps = values
    if closes is None or None in closes:
        return None
    if lows is not None and highs is not None:
        if None in lows or None in highs:
            ordered = all(
                lo is None or h is None or lo <= h for lo, h in zip(lows, highs, strict=True)
            )
        else:
            ordered = all(map(operator.le, cast(list[float], lows), cast(list[float], highs)))
        if not ordered:
            return None
    try:
        instants = list(map(layout.parse_instant, map(str.strip, columns[layout.time_at])))
    except ValueError:
        return None
    if not all(map(operator.lt, instants, itertools.islice(instants, 1, None))):
        return None  # repeated or unordered instants: let the row reader say where
    missing: list[None] = [None] * len(instants)
    bars: list[ParsedBar] = list(
        zip(
            instants,
            missing if opens is None else opens,
            missing if highs is None else highs,
            missing if lows is None else lows,
            cast(list[float], closes),
            missing if volumes is None else volumes,
            missing if caps is None else caps,
            strict=True,
        )
    )
    return _finish(path, layout, bars, range(2, len(bars) + 2))


def _plain_numbers(texts: Sequence[str], column: str) -> list[float | None] | None:
    """One value column read as `_parse_rows` reads it (empty means unknown), or None when
    a value is not a number or out of range for its column."""
    try:
        numbers: list[float | None] = list(map(float, texts))
        present = cast(list[float], numbers)
    except ValueError:
        try:
            numbers = [float(text) if text else None for text in texts]
        except ValueError:
            return None
        present = [number for number in numbers if number is not None]
    if present:
        # NaN compares false both ways, so min/max can pass over it; a NaN sum cannot.
        least, total = min(present), sum(present)
        in_range = least > 0 if column in PRICE_COLUMNS else least >= 0
        if not (in_range and max(present) < _INF and total == total):  # noqa: PLR0124
            return None
    return numbers


def _check_alignment(
    path: Path, bars: Sequence[ParsedBar], lines: Sequence[int], interval: Interval
) -> None:
    """Every bar must start on a UTC boundary of its interval, or the series is not one."""
    width = interval.seconds
    for bar, line in zip(bars, lines, strict=True):
        if int(bar[0].timestamp()) % width or bar[0].microsecond:
            raise PriceFileError(
                path, f"{bar[0].isoformat()} is not the start of a {interval} bar (UTC)", line=line
            )


# ---- writing ----------------------------------------------------------------------------


def _ensure_coin(session: Session, coin: str) -> int:
    """The coin's row id, creating it from the bundled catalogue (or its bare id) if needed."""
    known = load_coin_catalogue().get(coin)
    if known is not None:
        created = coins_service.ensure(
            session=session,
            coingecko_id=coin,
            symbol=known.symbol,
            name=known.name,
            market_cap_rank=known.market_cap_rank,
            image_url=known.image_url,
        )
    else:
        created = coins_service.ensure(
            session=session,
            coingecko_id=coin,
            symbol=coin[:50],
            name=coin.replace("-", " ").title(),
        )
    return created.id


def import_price_file(
    path: Path,
    *,
    session: Session,
    coin: str | None = None,
    interval: Interval | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Parse, validate and upsert one file in one transaction (committed, or rolled back).

    Rows identical to what is stored are not rewritten, so importing again writes 0.
    Raises PriceFileError for a file that cannot be imported; nothing is written then.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    coin_id = normalise_coin_id(coin) if coin is not None else coin_id_from_path(path)
    parsed = parse_price_file(path, interval=interval)
    bars, total = parsed.bars, len(parsed.bars)
    if on_progress is not None:
        on_progress(path, 0, total)
    try:
        coin_pk = _ensure_coin(session, coin_id)
        prices = PriceRepository(session)
        kind = parsed.interval.value
        written = 0
        for start in range(0, total, batch_size):
            # Plain tuples in the repository's column order: no PriceRow per bar.
            rows: list[PriceTuple] = [
                (coin_pk, kind, at, o, h, lo, c, c, v, m, SOURCE)
                for at, o, h, lo, c, v, m in bars[start : start + batch_size]
            ]
            written += prices.bulk_upsert_tuples(rows)
            if on_progress is not None:
                on_progress(path, min(start + batch_size, total), total)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    instants = [bar[0] for bar in bars]
    return ImportResult(
        path=path,
        coin=coin_id,
        interval=parsed.interval,
        rows_read=total,
        rows_written=written,
        seconds=time.perf_counter() - started,
        first_at=min(instants),
        last_at=max(instants),
    )


def _failure(path: Path, exc: Exception) -> ImportFailure:
    """Turn an expected per-file error into a line of the report."""
    if isinstance(exc, PriceFileError):
        return ImportFailure(path, str(exc), exc.line)
    if isinstance(exc, UnicodeDecodeError):
        return ImportFailure(path, f"{path}: not UTF-8 text ({exc.reason})")
    if isinstance(exc, OSError):
        return ImportFailure(path, f"{path}: cannot read ({exc.strerror or exc})")
    cause = str(getattr(exc, "orig", None) or exc).strip()
    detail = cause.splitlines()[0] if cause else type(exc).__name__
    return ImportFailure(path, f"{path}: database error: {detail}")


def import_price_files(
    paths: Iterable[Path],
    *,
    session: Session,
    coin: str | None = None,
    interval: Interval | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import several files, each all-or-nothing; a bad file is reported and the rest go on."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    files = list(paths)
    if coin is not None and len(files) > 1:
        raise ValueError("a coin id can only be given when importing a single file")
    coin = normalise_coin_id(coin) if coin is not None else None
    report = ImportReport()
    started = time.perf_counter()
    for path in files:
        try:
            result = import_price_file(
                path,
                session=session,
                coin=coin,
                interval=interval,
                batch_size=batch_size,
                on_progress=on_progress,
            )
        except (PriceFileError, UnicodeDecodeError, OSError, SQLAlchemyError) as exc:
            report.failures.append(_failure(path, exc))
        else:
            report.results.append(result)
    report.seconds = time.perf_counter() - started
    return report
