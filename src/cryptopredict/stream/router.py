"""`GET /api/v1/stream`: price and forecast events as Server-Sent Events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from cryptopredict.core.dependencies import SettingsDep
from cryptopredict.core.sse import EventStreamResponse
from cryptopredict.core.validation import PlainNumber
from cryptopredict.stream import service
from cryptopredict.stream.dependencies import ResumeAfterDep, StreamCoinsDep
from cryptopredict.stream.schemas import MissedEvent, PriceEvent

router = APIRouter(tags=["stream"])

MAX_TIMEOUT_SECONDS = 86_400
EXAMPLE = (
    "retry: 3000\n\n"
    "id: 1717171717171-0\nevent: price\n"
    'data: {"coin":"bitcoin","interval":"5m","timestamp":"2024-05-31T15:25:00Z",'
    '"price":67512.0,"volume":2.1e10,"market_cap":1.33e12,'
    '"updated_at":"2024-05-31T15:28:37.123000Z"}\n\n'
    ": heartbeat\n\n"
)
STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "An endless `text/event-stream` (unless `timeout`). Events: `price` "
        f"(data: {PriceEvent.__name__}), `forecast` (data: the forecast with its `coin`), "
        f"`missed` (data: {MissedEvent.__name__}, no id); `: heartbeat` comments between.",
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EXAMPLE}},
    }
}


@router.get(
    "/stream", response_class=EventStreamResponse, responses=STREAM_RESPONSES, response_model=None
)
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
    or scored. Ids are ordered across every server process; a client reconnecting with
    Last-Event-ID gets the events it missed from a bounded buffer, or a `missed` event
    first when some are no longer there. A heartbeat comment keeps idle connections open;
    proxies are told not to buffer (`X-Accel-Buffering: no`)."""
    live = service.LiveStream(
        service.app_hub(request.app.state, settings), coins=coins, after=after, timeout=seconds
    )
    return EventStreamResponse(live.frames(), on_disconnect=live.close)
