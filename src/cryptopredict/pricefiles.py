"""The one reader of price CSV files, shared by the importer, forecasting and the fake CoinGecko.

Two layouts are understood (see shared/data/SOURCES.md and snapshot/SNAPSHOT.md):

- daily: header `date,open,high,low,close,volume,market_cap`; `date` is a UTC day and
  `close` the price at its end. Read as that day's 00:00 UTC instant.
- intraday: header `timestamp,open,high,low,close,volume,...`; `timestamp` is the bar's open
  instant in ISO 8601 (`Z`, an offset, or no offset meaning UTC).

Only the time column and `close` are required; other columns may be missing or empty
(unknown), and columns with no place here (`volume_base`, `trades`) are ignored. A bad row
makes the whole file fail with its line number. This module imports no domain package, no
web framework and no database layer, so the pure forecasting core can read files with it too.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

DAILY_COLUMN = "date"
INSTANT_COLUMN = "timestamp"
PRICE_COLUMNS = ("open", "high", "low", "close")
AMOUNT_COLUMNS = ("volume", "market_cap")
VALUE_COLUMNS = (*PRICE_COLUMNS, *AMOUNT_COLUMNS)

_INF = math.inf
_MIDNIGHT = dt.time()

PriceBar = tuple[
    dt.datetime,
    float | None,
    float | None,
    float | None,
    float,
    float | None,
    float | None,
]
"""(instant, open, high, low, close, volume, market_cap); None where a value is unknown."""

TimeColumnCheck = Callable[[Path, str], None]
"""Called with the file and its time column as soon as the header names it; raises
PriceFileError (line 1) to refuse the file before any row is read."""


class PriceFileError(ValueError):
    """A price file that cannot be read; names the file and, for a bad row, its line."""

    def __init__(self, path: Path, reason: str, *, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class PriceLayout:
    """Where a file's columns are, from its header, and how to read its time column."""

    time_column: str
    parse_instant: Callable[[str], dt.datetime]
    time_at: int
    positions: list[int | None]  # of VALUE_COLUMNS, None where the file has no such column
    close_at: int
    width: int  # fields a row needs

    @property
    def daily(self) -> bool:
        """Whether the file holds UTC days (a `date` column) rather than instants."""
        return self.time_column == DAILY_COLUMN


@dataclass(frozen=True, slots=True)
class PriceTable:
    """A whole validated file: its bars in file order, instants unique, and their lines."""

    path: Path
    layout: PriceLayout
    bars: list[PriceBar]
    lines: Sequence[int]


def read_price_file(path: Path, *, check: TimeColumnCheck | None = None) -> PriceTable:
    """Read and validate a whole price file, column-wise when it can and row by row otherwise.

    Raises PriceFileError naming the line of the first bad row: a bad date, a missing,
    non-numeric or non-positive price, low above high, or a repeated instant.
    """
    table = read_columns(path, check=check)
    return table if table is not None else read_rows(path, check=check)


def read_daily_file(path: Path) -> PriceTable:
    """Read a daily price file (a `date` column); a file of instants is refused on line 1."""
    return read_price_file(path, check=_require_daily)


def _require_daily(path: Path, time_column: str) -> None:
    """Refuse a file whose rows are not UTC days."""
    if time_column != DAILY_COLUMN:
        raise PriceFileError(
            path,
            f"expected a daily file with a `{DAILY_COLUMN}` column, found `{time_column}`",
            line=1,
        )


# ---- the header ---------------------------------------------------------------------------


def _column_index(header: Sequence[str]) -> dict[str, int]:
    """Position of each known column, by normalised header name."""
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        key = name.strip().lower()
        if key and key not in index:
            index[key] = position
    return index


def _daily_instant(text: str) -> dt.datetime:
    """A `YYYY-MM-DD` UTC day as its 00:00 UTC instant."""
    return dt.datetime.combine(dt.date.fromisoformat(text), _MIDNIGHT, dt.UTC)


def _iso_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant in UTC; a value without offset is taken to be UTC already."""
    instant = dt.datetime.fromisoformat(text)
    if instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC)


def _layout(path: Path, header: Sequence[str], check: TimeColumnCheck | None) -> PriceLayout:
    """Read the header, or refuse the file (line 1) when it is not a price file."""
    columns = _column_index(header)
    parse_instant: Callable[[str], dt.datetime]
    if DAILY_COLUMN in columns:
        time_column, parse_instant = DAILY_COLUMN, _daily_instant
    elif INSTANT_COLUMN in columns:
        time_column, parse_instant = INSTANT_COLUMN, _iso_instant
    else:
        raise PriceFileError(
            path,
            f"header needs a `{DAILY_COLUMN}` or `{INSTANT_COLUMN}` column "
            f"and `close`; found {','.join(header)!r}",
            line=1,
        )
    if check is not None:
        check(path, time_column)
    if "close" not in columns:
        raise PriceFileError(path, "header has no `close` column", line=1)
    time_at = columns[time_column]
    positions = [columns.get(column) for column in VALUE_COLUMNS]
    width = max(p for p in (time_at, *positions) if p is not None) + 1
    return PriceLayout(time_column, parse_instant, time_at, positions, columns["close"], width)


def _table(
    path: Path, layout: PriceLayout, bars: list[PriceBar], lines: Sequence[int]
) -> PriceTable:
    """The whole-file check both readers end with: there is at least one row."""
    if not bars:
        raise PriceFileError(path, "the file has a header but no data rows")
    return PriceTable(path=path, layout=layout, bars=bars, lines=lines)


# ---- row by row ---------------------------------------------------------------------------


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


def read_rows(path: Path, *, check: TimeColumnCheck | None = None) -> PriceTable:
    """The reference reading, row by row through the csv module: any file, and the exact
    line and reason of the first problem."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise PriceFileError(path, "the file is empty", line=1)
        layout = _layout(path, header, check)
        time_column, parse_instant = layout.time_column, layout.parse_instant
        time_at, positions, c_at, width = (
            layout.time_at,
            layout.positions,
            layout.close_at,
            layout.width,
        )
        o_at, h_at, l_at, _, v_at, m_at = positions

        bars: list[PriceBar] = []
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

    return _table(path, layout, bars, lines)


# ---- column by column ---------------------------------------------------------------------


def read_columns(path: Path, *, check: TimeColumnCheck | None = None) -> PriceTable | None:
    """The same reading, column by column, for the usual file: UTF-8, no quotes, `\\n` line
    ends, no blank lines, every row wide enough, every value valid, instants ascending.

    Returns None, having raised nothing, for any file it is not sure about (other than a bad
    header, which is read the same way): `read_rows` then reads it and names the problem.
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
    layout = _layout(path, header, check)
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
    bars: list[PriceBar] = list(
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
    return _table(path, layout, bars, range(2, len(bars) + 2))


def _plain_numbers(texts: Sequence[str], column: str) -> list[float | None] | None:
    """One value column read as `read_rows` reads it (empty means unknown), or None when
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
