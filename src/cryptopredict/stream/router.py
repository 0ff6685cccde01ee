"""`GET /api/v1/stream`: price and forecast events as Server-Sent Events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from cryptopredict.core.dependencies import SettingsDep
from cryptopredict.core.events import EVENT_ID_PATTERN
from cryptopredict.core.sse import EventStreamResponse
from cryptopredict.core.validation import PlainNumber
from cryptopredict.stream import service
from cryptopredict.stream.dependencies import ResumeAfterDep, StreamCoinsDep
from cryptopredict.stream.schemas import (
    FORECAST_EVENT,
    MISSED_EVENT,
    PRICE_EVENT,
    MissedEvent,
    PriceEvent,
)

router = APIRouter(tags=["stream"])

MAX_TIMEOUT_SECONDS = 86_400


def _fields(model: type[BaseModel]) -> str:
    return "`{" + ", ".join(model.model_fields) + "}`"


EXAMPLE = (
    "retry: 3000\n\n"
    "id: 1717171717171-0\nevent: price\n"
    'data: {"coin":"bitcoin","interval":"5m","timestamp":"2024-05-31T15:25:00Z",'
    '"price":67512.0,"volume":2.1e10,"market_cap":1.33e12,'
    '"updated_at":"2024-05-31T15:28:37.123000Z"}\n\n'
    ": heartbeat\n\n"
)
EVENT_SCHEMA = {
    "description": "One event of the stream (Open API 3.1 reads an event stream's schema as "
    "each event's), as EventSource hands it over",
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": [PRICE_EVENT, FORECAST_EVENT, MISSED_EVENT]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string", "pattern": EVENT_ID_PATTERN},
        "retry": {"type": "integer", "minimum": 0},
    },
}
STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "An endless `text/event-stream` (unless `timeout`). Events: `price` "
        f"(data: {_fields(PriceEvent)}), `forecast` (data: the forecast, with its `coin`), "
        f"`missed` (no id; data: {_fields(MissedEvent)}); `: heartbeat` comments between.",
        "content": {"text/event-stream": {"schema": EVENT_SCHEMA, "example": EXAMPLE}},
    }
}


# The route answers an EventStreamResponse; declared as a plain Response (no media type) so
# FastAPI documents only the stream for 200 and keeps the error statuses in JSON.
@router.get("/stream", response_class=Response, responses=STREAM_RESPONSES, response_model=None)
async def stream(
    request: Request,
    settings: SettingsDep,
    coins: StreamCoinsDep,
    after: ResumeAfterDep,
    seconds: Annotated[
        float | None,
        Query(
            alias="timeout",
            ge=0,
            le=MAX_TIMEOUT_SECONDS,
            description="End the stream after this many seconds (0: send what is buffered "
            "after Last-Event-ID, then end). Default: never",
        ),
        PlainNumber,
    ] = None,
) -> EventStreamResponse:
    """Live events as Server-Sent Events, public like the price reads: a `price` event per
    coin after each prices sync that stored prices, a `forecast` event per forecast issued
    or scored. Ids are ordered across every server process; a client reconnecting with a
    `Last-Event-ID` header (or `last_event_id`; same form, 422 otherwise) gets the events it
    missed from a bounded buffer, or a `missed` event first when some are no longer there.
    A heartbeat comment keeps idle connections open; proxies are told not to buffer
    (`X-Accel-Buffering: no`)."""
    live = service.LiveStream(
        service.app_hub(request.app.state, settings), coins=coins, after=after, timeout=seconds
    )
    return EventStreamResponse(live.frames(), on_disconnect=live.close)
