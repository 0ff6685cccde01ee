"""The transaction CSV: reading it line by line and writing it (and the P&L report) back.

Format (UTF-8, comma-separated, a header line naming the columns in any order):

- ``executed_at``: ISO 8601 with a UTC offset (``2024-03-01T14:30:00Z``,
  ``2024-03-01T15:30:00+01:00``); a bare date (``2024-03-01``) means midnight UTC. A time
  without an offset is refused rather than guessed.
- ``coin``: CoinGecko id (``bitcoin``) or symbol (``btc``).
- ``kind``: ``buy``, ``sell``, ``transfer_in`` or ``transfer_out``.
- ``quantity``: coins, plain decimal notation (``0.5``), more than zero.
- ``price``: USD per coin; required for buys and sells; for a transfer in, its cost (empty:
  the cost is unknown, reported as a missing basis).
- ``fee``: USD, empty for none.
- ``note``: optional text.

Free text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) is written with a leading ``'``, which reading removes again (as
one before a note's own leading ``'``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

REQUIRED = ("executed_at", "coin", "kind", "quantity")
COLUMNS = ("executed_at", "coin", "kind", "quantity", "price", "fee", "note")
MAX_ROWS = 20_000
_BARE_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: What a spreadsheet may run as a formula at the start of a cell (OWASP's list).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data line: its number in the file (the header is line 1) and its fields."""

    line: int
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """What is wrong with a line (or the file, at line 0 or 1), in the error details."""

    line: int
    field: str | None
    message: str

    def detail(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "msg": self.message}


def _cell(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _instant(text: str) -> str:
    """A bare date is midnight UTC; anything else goes to the instant validator as it is."""
    return f"{text}T00:00:00Z" if _BARE_DATE.match(text) else text


def _unescaped(note: str) -> str:
    """Undo ``_safe``: one leading ``'`` before a formula character or another ``'``."""
    return note[1:] if note.startswith("'") and note[1:2] in (*_FORMULA, "'") else note


def read(text: str) -> tuple[list[CsvRow], list[CsvProblem]]:
    """The data lines as field dicts ready for ``TransactionCreate``, or what makes the file
    unreadable (no header, a missing column, too many lines, a line with extra cells)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):  # blank lines before the header
            header = next(reader)
    except StopIteration:
        return [], [CsvProblem(1, None, "The file is empty: a header line is required")]
    except csv.Error as exc:
        return [], [CsvProblem(1, None, f"Unreadable CSV: {exc}")]
    names = [h.strip().lower() for h in header]
    at = reader.line_num
    problems = [
        CsvProblem(at, name, f"Missing column {name!r}") for name in REQUIRED if name not in names
    ]
    unknown = [n for n in names if n not in COLUMNS]
    problems += [
        CsvProblem(at, name, f"Unknown column {name!r}; the columns are {', '.join(COLUMNS)}")
        for name in unknown
    ]
    if problems:
        return [], problems
    rows: list[CsvRow] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(rows) == MAX_ROWS:
                return [], [CsvProblem(line, None, f"More than {MAX_ROWS:,} transactions")]
            if len(cells) > len(names):
                problems.append(CsvProblem(line, None, "More cells than columns"))
                continue
            values = dict(zip(names, [*cells, *[""] * (len(names) - len(cells))], strict=True))
            fields: dict[str, Any] = {
                "executed_at": _instant(values["executed_at"].strip()),
                "coin": values["coin"].strip(),
                "kind": values["kind"].strip().lower(),
                "quantity": values["quantity"].strip(),
            }
            for name in ("price", "fee"):
                cell = _cell(values.get(name))
                if cell is not None:
                    fields[name] = cell
            note = _cell(values.get("note"))
            if note is not None:
                fields["note"] = _unescaped(note)
            rows.append(CsvRow(line, fields))
    except csv.Error as exc:
        return [], [CsvProblem(reader.line_num, None, f"Unreadable CSV: {exc}")]
    return rows, problems


def _safe(text: str) -> str:
    """A leading ``'`` before a formula character, or before a ``'`` that ``_unescaped``
    would otherwise take away, so every note reads back as written."""
    return f"'{text}" if text.startswith((*_FORMULA, "'")) else text


def write(header: Sequence[str], rows: Iterable[Sequence[object]], *, free_text: set[int]) -> str:
    """CSV text; the columns at ``free_text`` positions are escaped against formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                _safe(str(v)) if i in free_text and v is not None else ("" if v is None else v)
                for i, v in enumerate(row)
            ]
        )
    return out.getvalue()


def instant_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
