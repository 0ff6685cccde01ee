"""Query parameters shared by the price routes: a checked time range and a list of coins."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query

from cryptopredict.coins.schemas import COINGECKO_ID_MAX_LENGTH
from cryptopredict.core.validation import InstantBound
from cryptopredict.prices.schemas import MAX_LATEST_COINS, TimeRange
from cryptopredict.prices.service import query_error

_INSTANT_HELP = (
    "ISO 8601 instant, e.g. `2024-01-01T00:00:00Z` (encode `+` as `%2B`); a value without a "
    "timezone, including a bare date, is read as UTC; one before 1970 or after 2100 is read "
    "as that edge"
)
_ID_ANY_CASE = f"[A-Za-z0-9][A-Za-z0-9._-]{{0,{COINGECKO_ID_MAX_LENGTH - 1}}}"
_LISTED = re.compile(_ID_ANY_CASE)
_LISTED_ID = f" *{_ID_ANY_CASE} *"
COIN_LIST_PATTERN = rf"^{_LISTED_ID}(,{_LISTED_ID}){{0,{MAX_LATEST_COINS - 1}}}$"
"""What `coin_ids` accepts, as documented (checked in code: a regex engine with bounded
repetition inside bounded repetition would compile to something huge)."""


async def time_range(
    start: Annotated[
        InstantBound | None, Query(description="Inclusive lower bound. " + _INSTANT_HELP)
    ] = None,
    end: Annotated[
        InstantBound | None, Query(description="Inclusive upper bound. " + _INSTANT_HELP)
    ] = None,
) -> TimeRange:
    """`start`/`end` in UTC within the instant range; an inverted window is a 422 (async
    because it does no I/O: FastAPI then runs it on the event loop instead of a worker
    thread)."""
    if start is not None and end is not None and start > end:
        raise query_error("start", "start must not be after end")
    return TimeRange(start=start, end=end)


TimeRangeDep = Annotated[TimeRange, Depends(time_range)]


async def coin_ids(
    coins: Annotated[
        str,
        Query(
            max_length=MAX_LATEST_COINS * (COINGECKO_ID_MAX_LENGTH + 1),
            description=f"Comma-separated CoinGecko ids (any case, spaces around commas), "
            f"1 to {MAX_LATEST_COINS}",
            examples=["bitcoin,ethereum"],
            json_schema_extra={"pattern": COIN_LIST_PATTERN},
        ),
    ],
) -> list[str]:
    """The distinct, lower-cased ids of a comma-separated list, in the order given (async for
    the same reason as `time_range`)."""
    parts = [part.strip(" ") for part in coins.split(",")]
    if len(parts) > MAX_LATEST_COINS:
        raise query_error("coins", f"at most {MAX_LATEST_COINS} coin ids are allowed")
    malformed = [position for position, value in enumerate(parts) if not _LISTED.fullmatch(value)]
    if malformed:
        raise query_error("coins", f"malformed coin ids at positions {malformed[:20]}")
    return list(dict.fromkeys(part.lower() for part in parts))


CoinIdsDep = Annotated[list[str], Depends(coin_ids)]
