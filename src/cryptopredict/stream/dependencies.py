"""The stream's parameters: which coins, and where a reconnecting client left off."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query

from cryptopredict.coins.schemas import COINGECKO_ID_MAX_LENGTH
from cryptopredict.core.events import EVENT_ID_PATTERN, EventId
from cryptopredict.prices.dependencies import COIN_LIST_PATTERN, coin_ids
from cryptopredict.prices.schemas import MAX_LATEST_COINS

EVENT_ID_MAX_LENGTH = 41


async def stream_coins(
    coins: Annotated[
        str | None,
        Query(
            max_length=MAX_LATEST_COINS * (COINGECKO_ID_MAX_LENGTH + 1),
            description=f"Comma-separated CoinGecko ids (any case, spaces around commas), 1 to "
            f"{MAX_LATEST_COINS}: only events about these coins. Default: every coin. Ids "
            "are checked for form only: one the catalogue does not hold yet gets its events "
            "once a sync adds the coin",
            examples=["bitcoin,ethereum"],
            json_schema_extra={"pattern": COIN_LIST_PATTERN},
        ),
    ] = None,
) -> frozenset[str] | None:
    """The lower-cased ids asked for, or None for every coin (async: no I/O)."""
    return None if coins is None else frozenset(await coin_ids(coins))


async def resume_after(
    last_event_id: Annotated[
        str | None,
        # Described in the operation's text rather than listed: schemathesis 4.32 labels
        # cases that carry its type mutations of this header as schema-valid.
        Header(
            alias="Last-Event-ID",
            pattern=EVENT_ID_PATTERN,
            max_length=EVENT_ID_MAX_LENGTH,
            include_in_schema=False,
        ),
    ] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            pattern=EVENT_ID_PATTERN,
            max_length=EVENT_ID_MAX_LENGTH,
            description="The id of the last event received (as the Last-Event-ID header, "
            "which EventSource sends when it reconnects and which wins over this): the "
            "stream resumes after it",
            examples=["1717171717171-0"],
        ),
    ] = None,
) -> EventId | None:
    """Where the client left off, if it says (async: no I/O)."""
    given = last_event_id or last_event_id_query
    return None if given is None else EventId.parse(given)


StreamCoinsDep = Annotated[frozenset[str] | None, Depends(stream_coins)]
ResumeAfterDep = Annotated[EventId | None, Depends(resume_after)]
