"""Input rules every route shares: ids bounded to what their columns hold, instants in a
range every datetime operation can reach, and text free of the control characters that the
database refuses or that no honest input carries.

Instants: [EARLIEST_INSTANT, LATEST_INSTANT] in UTC. A range bound beyond it is clamped to
it (asking from year 1 means from the beginning); a stored instant beyond it is refused.
Either way the check runs before any conversion, so year 1 or 9999 with an offset cannot
overflow. Instants are ISO 8601 text, never epoch numbers (the CoinGecko mirror's own
parameters excepted, which clamp their epoch seconds the same way).

Control characters: URLs (path, query names and values) may hold none of C0 (U+0000-U+001F)
or DEL (U+007F); request bodies (JSON strings and keys, form fields) may hold tab, line feed
and carriage return, which free text such as a description uses, but no other C0 control,
no DEL and, in JSON, no lone UTF-16 surrogate (text that cannot be encoded to store).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from cryptopredict.core.timegrid import EPOCH

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

EARLIEST_INSTANT = EPOCH
"""The earliest instant the API reads or stores (no market data is older)."""
LATEST_INSTANT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
"""The latest instant the API reads or stores: far enough for any forecast horizon."""

_ISO_DATE = re.compile(r"[0-9]{4}-")


IntId = Annotated[int, Field(ge=1, le=INT4_MAX)]
"""A database id held in an `Integer` column (users, portfolios, transactions, coins)."""
BigIntId = Annotated[int, Field(ge=1, le=INT8_MAX)]
"""A database id held in a `BigInteger` column (sync runs, task runs, predictions)."""

VISIBLE_CHARACTER = r"[^\s\x00-\x1f\x7f]"
"""A character that is neither white space nor control, for patterns of one-word fields
(symbols, URLs); a bare non-space class would let control characters through."""


def _utc(value: dt.datetime) -> dt.datetime | None:
    """`value` in UTC (a naive one read as UTC), or None when its wall clock is a year or
    more outside the instant range: no conversion then runs, which near year 1 or 9999
    would overflow."""
    if not EARLIEST_INSTANT.year - 1 <= value.year <= LATEST_INSTANT.year:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def clamp_instant(value: dt.datetime) -> dt.datetime:
    """`value` in UTC, held to [EARLIEST_INSTANT, LATEST_INSTANT] (for range bounds)."""
    utc = _utc(value)
    if utc is None:
        return EARLIEST_INSTANT if value.year < EARLIEST_INSTANT.year else LATEST_INSTANT
    return min(max(utc, EARLIEST_INSTANT), LATEST_INSTANT)


def bounded_instant(value: dt.datetime) -> dt.datetime:
    """`value` in UTC; a ValueError outside [EARLIEST_INSTANT, LATEST_INSTANT]."""
    utc = _utc(value)
    if utc is None or not EARLIEST_INSTANT <= utc <= LATEST_INSTANT:
        raise ValueError(
            f"Timestamp must lie between {EARLIEST_INSTANT:%Y-%m-%d} and "
            f"{LATEST_INSTANT:%Y-%m-%d} (UTC)"
        )
    return utc


def clamp_epoch_seconds(seconds: float) -> dt.datetime:
    """The UTC instant `seconds` after the epoch, held to the instant range (for range
    bounds given as UNIX seconds, which may be negative or beyond any calendar)."""
    lowest = (EARLIEST_INSTANT - EPOCH).total_seconds()
    highest = (LATEST_INSTANT - EPOCH).total_seconds()
    return dt.datetime.fromtimestamp(min(max(seconds, lowest), highest), dt.UTC)


def _iso_text(value: Any) -> Any:
    """Instants come as ISO 8601 text (or a datetime from Python callers): pydantic would
    also read a number, or a string of one, as epoch seconds."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise PydanticCustomError("datetime_parsing", "Input should be an ISO 8601 date and time")


InstantBound = Annotated[dt.datetime, BeforeValidator(_iso_text), AfterValidator(clamp_instant)]
"""A range bound: ISO 8601, naive read as UTC, clamped to the instant range."""
AwareInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(bounded_instant)]
"""An instant to store: ISO 8601 with a timezone, in UTC, refused outside the range."""

Loc = tuple[str | int, ...]
"""Where a refused value sits, as in a validation error: ("query", "q"), ("body", "name")."""

_URL_TEXT = re.compile(r"[\x00-\x1f\x7f]")
_URL_BYTES = re.compile(rb"[\x00-\x1f\x7f]|%(?:[01][0-9a-fA-F]|7[fF])")
_BODY_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_BODY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORM_BYTES = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|%(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])"
)
# In valid JSON a control character or a surrogate inside a string is always escaped
# (`\u0000`, `\ud800`, or `\b` and `\f` for backspace and form feed) and DEL may stand as
# itself; anything else is left to the parser.
_JSON_SUSPECT = re.compile(rb"\\(?:u(?:00[01][0-9a-fA-F]|007[fF]|[dD][89a-fA-F])|[bf])|\x7f")


def url_loc(path: str, query_string: bytes) -> Loc | None:
    """Where the request's URL holds a control character: ("path",), ("query", name) or
    ("query",) when the name itself holds one; None for a clean URL (the usual, cheap case)."""
    if _URL_TEXT.search(path):
        return ("path",)
    if not _URL_BYTES.search(query_string):
        return None
    return _pairs_loc("query", query_string, _URL_TEXT) or ("query",)


def form_loc(body: bytes) -> Loc | None:
    """Where an `application/x-www-form-urlencoded` body holds a refused character."""
    if not _FORM_BYTES.search(body):
        return None
    return _pairs_loc("body", body, _BODY_TEXT) or ("body",)


def multipart_loc(body: bytes) -> Loc | None:
    """("body",) when a `multipart/form-data` body holds a refused byte anywhere: no route
    takes files, so every part is text, and the framing itself uses only CR and LF."""
    return ("body",) if _BODY_BYTES.search(body) else None


def json_loc(body: bytes) -> Loc | None:
    """Where a JSON body holds a string (value or key) with a refused character; None also
    for a body that does not parse, which the route then refuses as malformed."""
    if not _JSON_SUSPECT.search(body):
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return _json_value_loc(document)


def _pairs_loc(where: str, encoded: bytes, refused: re.Pattern[str]) -> Loc | None:
    """The first name=value pair of a URL-encoded string with a refused character, decoded
    as Starlette decodes it (Latin-1 bytes, then percent-escapes as UTF-8)."""
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if refused.search(name):
            return (where,)
        if refused.search(value):
            return (where, name)
    return None


def _json_value_loc(document: Any) -> Loc | None:
    """Walk the parsed document without recursion (it may be deeply nested)."""
    pending: list[tuple[Loc, Any]] = [(("body",), document)]
    while pending:
        loc, value = pending.pop()
        if isinstance(value, str):
            if _BODY_TEXT.search(value):
                return loc
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if _BODY_TEXT.search(key):
                    return loc
                pending.append(((*loc, key), item))
        elif isinstance(value, list):
            pending.extend(
                ((*loc, index), item) for index, item in reversed(list(enumerate(value)))
            )
    return None
