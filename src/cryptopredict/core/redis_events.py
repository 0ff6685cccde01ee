"""The event log in Redis (see `core.events`): a stream trimmed to the buffer's size, ids
made by Redis, one blocking reader per server process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

from cryptopredict.core.events import (
    NO_EVENT,
    Draft,
    Event,
    EventId,
    EventLogError,
    FeedSink,
    Replay,
)

logger = logging.getLogger(__name__)

STREAM_KEY = "cryptopredict:events"
HORIZON_KEY = "cryptopredict:events:horizon"
"""The newest id trimmed out of the stream: a replay after an older id may miss events."""
BLOCK_MS = 5_000
"""How long one XREAD waits for new events before asking again."""
READ_COUNT = 1_000
RETRY_SECONDS = 1.0
"""The follower's pause between attempts while Redis is down."""
PUBLISH_RETRY_SECONDS = 5.0
"""After a failed publish, later ones are dropped at once for this long, so a sync does not
pay a connection timeout per batch while Redis is down."""
QUERY_CONNECTIONS = 8

# Add the events in order, trimming to ARGV[1] entries and remembering the newest id trimmed.
_APPEND_SCRIPT = """
local max = tonumber(ARGV[1])
local length = redis.call('XLEN', KEYS[1])
local ids = {}
for i = 2, #ARGV, 3 do
  if length >= max then
    local trimmed = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', length - max + 1)
    if #trimmed > 0 then redis.call('SET', KEYS[2], trimmed[#trimmed][1]) end
    length = max - 1
  end
  ids[#ids + 1] = redis.call(
    'XADD', KEYS[1], 'MAXLEN', max, '*', 'k', ARGV[i], 'c', ARGV[i + 1], 'd', ARGV[i + 2])
  length = length + 1
end
return ids
"""


def _event(entry: tuple[bytes, dict[bytes, bytes]]) -> Event:
    """An event from a stream entry as redis-py returns it."""
    raw_id, fields = entry
    return Event.of(
        EventId.parse(raw_id), fields[b"k"].decode(), fields[b"c"].decode(), fields[b"d"]
    )


class RedisEventLog:
    """Events in a Redis stream shared by every process configured with the same Redis."""

    def __init__(
        self,
        url: str,
        *,
        max_events: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._max_events = max_events
        self._clock = clock
        self._client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
        self._append = self._client.register_script(_APPEND_SCRIPT)
        self._down_until = 0.0

    def append(self, drafts: Sequence[Draft]) -> list[Event]:
        """See `EventLog.append`: one round trip for the batch."""
        if not drafts:
            return []
        if self._clock() < self._down_until:
            raise EventLogError("Redis failed moments ago; events are dropped until it is back")
        args: list[Any] = [self._max_events]
        for draft in drafts:
            args += [draft.kind, draft.coin, draft.data]
        try:
            ids = self._append(keys=[STREAM_KEY, HORIZON_KEY], args=args)
        except (redis.RedisError, OSError) as exc:
            self._down_until = self._clock() + PUBLISH_RETRY_SECONDS
            raise EventLogError(f"Redis did not take the events: {exc}") from exc
        return [
            Event.of(EventId.parse(raw), draft.kind, draft.coin, draft.data)
            for raw, draft in zip(ids, drafts, strict=True)
        ]

    def feed(self) -> RedisFeed:
        """See `EventLog.feed`."""
        return RedisFeed(self._url, max_events=self._max_events)


class RedisFeed:
    """One event loop's connections to the stream: one for the blocking reader, a small pool
    for replays."""

    def __init__(self, url: str, *, max_events: int) -> None:
        self._max_events = max_events
        self._reader = aioredis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=BLOCK_MS / 1000 + 2
        )
        self._queries = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=QUERY_CONNECTIONS,
                timeout=2.0,
                socket_connect_timeout=0.5,
                socket_timeout=1.0,
            )
        )

    async def replay(self, after: EventId) -> Replay:
        """See `Feed.replay`: the horizon and the events after `after`, read atomically."""
        try:
            async with self._queries.pipeline(transaction=True) as pipe:
                pipe.get(HORIZON_KEY)
                pipe.xrange(STREAM_KEY, min=f"({after}", max="+", count=self._max_events)
                horizon, entries = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise EventLogError(f"Redis did not answer the replay: {exc}") from exc
        oldest_kept = NO_EVENT if horizon is None else EventId.parse(horizon)
        return Replay([_event(entry) for entry in entries], complete=after >= oldest_kept)

    async def follow(self, sink: FeedSink) -> None:
        """See `Feed.follow`: from the stream's newest entry on; after an outage, from where it
        stopped, telling the sink events may have been missed (publishes failed meanwhile), as
        it does when events were trimmed before it could read them."""
        position: EventId | None = None
        cut_off = False
        while True:
            try:
                if position is None:
                    newest: Any = await self._reader.xrevrange(STREAM_KEY, count=1)
                    position = EventId.parse(newest[0][0]) if newest else NO_EVENT
                if cut_off:
                    logger.info("live stream: Redis is back, following from %s", position)
                    sink.lost()
                    cut_off = False
                sink.ready()
                while True:
                    reply: Any = await self._reader.xread(
                        {STREAM_KEY: str(position)}, count=READ_COUNT, block=BLOCK_MS
                    )
                    events = [_event(entry) for _, entries in reply or () for entry in entries]
                    if events:
                        if await self._trimmed_after(position):
                            sink.lost()  # a burst overran the buffer before it was read
                        position = events[-1].id
                        sink.deliver(events)
            except (redis.RedisError, OSError) as exc:
                if not cut_off:
                    logger.warning(
                        "live stream lost Redis, retrying every %s s: %s", RETRY_SECONDS, exc
                    )
                cut_off = True
            await asyncio.sleep(RETRY_SECONDS)

    async def _trimmed_after(self, position: EventId) -> bool:
        """Whether an event after `position` was trimmed away (XREAD skips such events)."""
        horizon = await self._reader.get(HORIZON_KEY)
        return horizon is not None and EventId.parse(horizon) > position

    async def aclose(self) -> None:
        """Close both connections."""
        await self._reader.aclose()
        await self._queries.aclose()
