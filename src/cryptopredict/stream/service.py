"""Publishing the live stream's events, and serving one client's stream.

Publishers call `publish_prices` (a prices sync, in whatever process runs it) and
`publish_forecast` (the forecast ledger); neither raises when the event log cannot take the
events (Redis down): the events are dropped and logged, and the work that produced them goes
on. Streams see the events through their process's hub (`core.event_hub`), in id order, each
once, replayed after Last-Event-ID from the bounded buffer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from cryptopredict.coins.schemas import COINGECKO_ID_MAX_LENGTH, COINGECKO_ID_PATTERN
from cryptopredict.core.config import Settings
from cryptopredict.core.event_hub import EventHub, Signal
from cryptopredict.core.events import Draft, Event, EventId, EventLog, EventLogError, Replay
from cryptopredict.core.events import event_log as shared_event_log
from cryptopredict.core.sse import HEARTBEAT_FRAME, event_frame, retry_frame
from cryptopredict.stream.schemas import (
    FORECAST_EVENT,
    MISSED_EVENT,
    PRICE_EVENT,
    MissedEvent,
    PriceEvent,
)

logger = logging.getLogger(__name__)

RECONNECT_MILLISECONDS = 3_000
"""The `retry:` a stream starts with: how long EventSource waits before reconnecting."""
HUB_STATE_KEY = "event_hub"
_COIN_ID = re.compile(COINGECKO_ID_PATTERN)
_hub_lock = threading.Lock()


def event_log(settings: Settings) -> EventLog:
    """This process's event log for the deployment (Redis when configured)."""
    return shared_event_log(settings.redis_url, max_events=settings.stream_buffer_events)


def _publish(settings: Settings, drafts: Sequence[Draft]) -> list[str]:
    """Append the events; their ids, or none when the log could not take them (logged)."""
    if not drafts:
        return []
    try:
        events = event_log(settings).append(drafts)
    except EventLogError as exc:
        logger.warning("live stream: %d event(s) not published: %s", len(drafts), exc)
        return []
    return [str(event.id) for event in events]


def publish_prices(prices: Sequence[PriceEvent], *, settings: Settings) -> list[str]:
    """One `price` event per coin, in the order given; the ids they got (none when the log
    could not take them)."""
    drafts = [Draft(PRICE_EVENT, price.coin, price.model_dump_json().encode()) for price in prices]
    return _publish(settings, drafts)


def publish_forecast(
    coin: str, payload: Mapping[str, Any] | BaseModel, *, settings: Settings
) -> str | None:
    """A `forecast` event about `coin` (a CoinGecko id), its data the payload's JSON with
    `coin` set; the event's id, or None when the log could not take it (logged, never
    raised). ValueError for a malformed coin id, TypeError for a payload JSON cannot hold."""
    if len(coin) > COINGECKO_ID_MAX_LENGTH or not _COIN_ID.match(coin):
        raise ValueError(f"not a CoinGecko id: {coin!r}")
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
    body["coin"] = coin
    ids = _publish(settings, [Draft(FORECAST_EVENT, coin, orjson.dumps(body))])
    return ids[0] if ids else None


def app_hub(state: Any, settings: Settings) -> EventHub:
    """The hub kept on an application's `state`, made on first use."""
    hub: EventHub | None = getattr(state, HUB_STATE_KEY, None)
    if hub is None:
        with _hub_lock:
            hub = getattr(state, HUB_STATE_KEY, None)
            if hub is None:
                hub = EventHub(
                    event_log(settings), heartbeat_seconds=settings.stream_heartbeat_seconds
                )
                setattr(state, HUB_STATE_KEY, hub)
    return hub


def _nothing() -> None:
    """Closes nothing: the stream has no subscriber yet."""


def _missed(last: EventId | None) -> bytes:
    notice = MissedEvent(
        last_event_id=None if last is None else str(last),
        message="Events after last_event_id may be missing; read the current state again",
    )
    return event_frame(MISSED_EVENT, notice.model_dump_json().encode())


class LiveStream:
    """One client's stream: the buffered events after `after` (with a `missed` event first
    when some may be gone), then live events, each once and in id order, heartbeats and
    `missed` notices, until the client leaves, `timeout` seconds pass or the server shuts
    down. `coins` (None: all) filters events by the coin they are about."""

    def __init__(
        self,
        hub: EventHub,
        *,
        coins: frozenset[str] | None,
        after: EventId | None,
        timeout: float | None,
    ) -> None:
        self._hub = hub
        self._coins = coins
        self._after = after
        self._timeout = timeout
        self._closed = False
        self._close_subscriber: Callable[[], None] = _nothing

    def close(self) -> None:
        """End the stream (its client has gone)."""
        self._closed = True
        self._close_subscriber()

    async def frames(self) -> AsyncGenerator[bytes, None]:
        """The stream's SSE frames, batched as they arrive."""
        subscriber = await self._hub.subscribe(self._coins)
        self._close_subscriber = subscriber.close
        if self._closed:
            subscriber.close()
        try:
            last = self._after
            head = [retry_frame(RECONNECT_MILLISECONDS)]
            if last is not None:
                replay = await self._replay(last)
                if not replay.complete:
                    head.append(_missed(last))
                head += [event.frame for event in replay.events if subscriber.wants(event)]
                if replay.events:
                    last = max(last, replay.events[-1].id)
            yield b"".join(head)
            loop = asyncio.get_running_loop()
            deadline = None if self._timeout is None else loop.time() + self._timeout
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                items = await subscriber.take(remaining)
                if not items:  # closed, or the time is up
                    return
                chunk: list[bytes] = []
                for item in items:
                    if isinstance(item, Event):
                        if last is not None and item.id <= last:
                            continue  # sent in the replay already
                        last = item.id
                        chunk.append(item.frame)
                    elif item is Signal.MISSED:
                        chunk.append(_missed(last))
                    else:
                        chunk.append(HEARTBEAT_FRAME)
                if chunk:
                    yield b"".join(chunk)
        finally:
            self._hub.unsubscribe(subscriber)

    async def _replay(self, after: EventId) -> Replay:
        try:
            return await self._hub.replay(after)
        except EventLogError as exc:
            logger.info("live stream: no replay after %s: %s", after, exc)
            return Replay([], complete=False)
