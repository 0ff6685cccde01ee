"""Input rules every route shares: ids bounded to what their columns hold, numbers and
booleans in one plain spelling, instants in a range every datetime operation can reach, and
text free of the control characters that the database refuses or that no honest input carries.

Numbers and booleans: a URL (path or query) spells an integer in plain ASCII digits, a
number as JSON does (`-0.5`, `5e-3`: what clients print for a float) and a boolean as `true`
or `false`; pydantic's lax forms (`1_000`, ` 1 `, `+1`, `1e3` for an integer, `inf`, `yes`,
`0`) are refused. JSON bodies are `RequestModel`s, validated strictly: no string where a
number or boolean is due, no 0/1 for a boolean; an integer may come as `5.0`, which JSON
Schema counts as one. Decimal amounts keep accepting a JSON number or a string, the string
in plain decimal notation.

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
import math
import re
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from starlette.convertors import IntegerConvertor, register_url_convertor

from cryptopredict.core.timegrid import EPOCH

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

EARLIEST_INSTANT = EPOCH
"""The earliest instant the API reads or stores (no market data is older)."""
LATEST_INSTANT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
"""The latest instant the API reads or stores: far enough for any forecast horizon."""

_URL_INTEGER = re.compile(r"[0-9]+")
_URL_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
_ISO_DATE = re.compile(r"[0-9]{4}-")


def _url_integer(value: Any) -> Any:
    """Only ASCII digits: `int()` would also take `+1`, ` 1 `, `1_000` and other scripts'
    digits, and pydantic `1.0`."""
    if isinstance(value, str) and not _URL_INTEGER.fullmatch(value):
        raise PydanticCustomError("int_parsing", "Input should be an integer in plain digits")
    return value


def _url_number(value: Any) -> Any:
    """A finite number in JSON's spelling: no `+`, spaces, underscores, `inf` or `nan`."""
    if isinstance(value, str) and not (
        _URL_NUMBER.fullmatch(value) and math.isfinite(float(value))
    ):
        raise PydanticCustomError("float_parsing", "Input should be a finite JSON number")
    return value


def _url_boolean(value: Any) -> Any:
    """`true` or `false` as JSON spells them, nothing pydantic would also read as one."""
    if isinstance(value, str) and value not in ("true", "false"):
        raise PydanticCustomError("bool_parsing", "Input should be `true` or `false`")
    return value


PlainInteger = BeforeValidator(_url_integer)
"""Marks an `int` read from a URL as plain ASCII digits (so non-negative). Put it after the
bounds, `Annotated[int, Query(ge=1, le=500), PlainInteger]`: bounds placed after a validator
would leave the OpenAPI schema without its minimum and maximum."""
PlainNumber = BeforeValidator(_url_number)
"""Marks a `float` read from a URL as a finite number in JSON's spelling; after the bounds,
as `PlainInteger`."""
PlainBoolean = BeforeValidator(_url_boolean)
"""Marks a `bool` read from a URL as `true` or `false`."""

IntId = Annotated[int, Field(ge=1, le=INT4_MAX), PlainInteger]
"""A database id held in an `Integer` column (users, portfolios, transactions, coins)."""
BigIntId = Annotated[int, Field(ge=1, le=INT8_MAX), PlainInteger]
"""A database id held in a `BigInteger` column (sync runs, task runs, predictions)."""

VISIBLE_CHARACTER = (
    r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
"""A character that is neither white space nor control, for patterns of one-word fields
(symbols, URLs). Spelt out rather than `\\s`, whose members differ between the server's
regex engine and JSON Schema's (U+0085 is white space to one, not the other); a bare
non-space class would also let control characters through."""


class RequestModel(BaseModel):
    """The base of every JSON request body: strict, so a JSON value must already have the
    field's type, and closed, so a misspelt field is an error rather than ignored."""

    model_config = ConfigDict(strict=True, extra="forbid")


def _integral_float(value: Any) -> Any:
    """5.0 as 5: JSON Schema counts it an integer, and clients may print one so."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInteger = BeforeValidator(_integral_float)
"""Marks an `int` field of a `RequestModel`, which strict mode would refuse as `5.0`; after
the bounds, as `PlainInteger`: `Annotated[int, Field(ge=1), JsonInteger]`."""

_EnumT = TypeVar("_EnumT")
ByValue = Annotated[_EnumT, Strict(False)]
"""An enum field of a `RequestModel`, read from its JSON value (strict wants a member)."""


def _plain_decimal_text(value: Any) -> Any:
    """Decimal amounts as text in plain notation: `Decimal()` also takes `1_000`, ` 1 `,
    `1e3` and other scripts' digits."""
    if isinstance(value, str) and not re.fullmatch(_DECIMAL_TEXT, value):
        raise PydanticCustomError("decimal_parsing", "Input should be a plain decimal number")
    return value


class _DecimalText:
    """Checks a decimal given as text and publishes the pattern on the string branch of its
    schema (a pydantic annotation: it wraps the decimal's own validation)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_plain_decimal_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        for branch in json_schema.get("anyOf", [json_schema]):
            if branch.get("type") == "string":
                branch["pattern"] = _DECIMAL_TEXT
        return json_schema


DecimalText = _DecimalText()
"""Marks a `Decimal` in a `RequestModel` as a JSON number or a string in plain decimal
notation (for more digits than a binary float holds). Put it after the bounds, as
`PlainInteger`, with `Strict(False)` before them (strict would want a `Decimal` object):
`Annotated[Decimal, Strict(False), Field(gt=0), DecimalText]`."""


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
AwareInstant = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_iso_text), AfterValidator(bounded_instant)
]
"""An instant to store: ISO 8601 with a timezone, in UTC, refused outside the range."""


_CALENDAR_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _day_text(value: Any) -> Any:
    """Days come as `YYYY-MM-DD` (or a date from Python callers): pydantic would also read a
    number as epoch seconds, or a full timestamp."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _CALENDAR_DAY.match(value):
        return value
    raise PydanticCustomError("date_parsing", "Input should be a date as YYYY-MM-DD")


def _bounded_day(value: dt.date) -> dt.date:
    if not EARLIEST_INSTANT.date() <= value <= LATEST_INSTANT.date():
        raise ValueError(
            f"Date must lie between {EARLIEST_INSTANT:%Y-%m-%d} and {LATEST_INSTANT:%Y-%m-%d}"
        )
    return value


CalendarDay = Annotated[
    dt.date,
    BeforeValidator(_day_text),
    AfterValidator(_bounded_day),
    Field(json_schema_extra={"pattern": _CALENDAR_DAY.pattern}),
]
"""A UTC calendar day as `YYYY-MM-DD`, within the instant range."""


class _IdConvertor(IntegerConvertor):
    """Path ids as at most 19 digits (a BigInteger's width): a route converter runs while
    paths are matched, before any validation, and `int()` of thousands of digits raises."""

    regex = "[0-9]{1,19}"


register_url_convertor("id", _IdConvertor())
"""`{user_id:id}`: a path segment that names a resource only when it is an id, so `/users/me`
is never read as one (another method there is a 405, not a 422 about the id)."""


def sent_length_at_most(max_length: int, *, strip: bool = False) -> BeforeValidator:
    """Refuse a string longer than `max_length` as sent, then (with `strip`) strip its white
    space: a documented `maxLength` counts what the client sends, so a stripped field that
    checked only its stripped length would accept bodies its schema forbids. Put it last in
    `Annotated`, after the length constraints it runs before."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if len(value) > max_length:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": max_length},
            )
        return value.strip() if strip else value

    return BeforeValidator(check)


NOT_BLANK: dict[str, Any] = {
    "pattern": "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*"
    "[^\\s\\u0000-\\u001f\\u007f]"
    "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
}
"""`json_schema_extra` documenting a body string that is stripped of white space and must not
end up empty: at least one visible character (the body's control-character rule kept), so the
document never allows a blank value the server refuses."""

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
