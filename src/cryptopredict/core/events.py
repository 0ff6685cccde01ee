"""Events for the live stream: ids ordered across processes, a bounded replay buffer, and a
feed through which a server process follows what any process publishes.

Two logs, chosen as the response cache chooses its backend (`event_log`):

- `RedisEventLog` (`CRYPTOPREDICT_REDIS_URL` set, `core.redis_events`): a Redis stream
  trimmed to the buffer's size, so ids are Redis's `<ms>-<seq>`, ordered across every
  process that publishes (server workers, Celery workers, a CLI sync), and the stream is
  the replay buffer. Each server process follows it with one blocking XREAD: unlike a
  PUBLISH, which a subscriber that lost its connection never sees, a follower that comes
  back resumes from the last id it saw and misses nothing still in the buffer.
- `MemoryEventLog` (no Redis): a deque in this process with ids `<ms>-<seq>` made here;
  events published in another process (a CLI sync) never reach it.

Publishing never fails the publisher: a log that cannot take events raises
`EventLogError`, which the publishing service logs and drops. A reader whose last id is
older than the buffer learns it may have missed events (`Replay.complete` is False).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptopredict.core.sse import event_frame

logger = logging.getLogger(__name__)

EVENT_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
"""An event id as sent in `id:` lines: `<milliseconds>-<sequence>`, both backends alike."""
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
DEFAULT_MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True, order=True)
class EventId:
    """An event's place in the log: the millisecond it was added and its sequence within it."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, text: str | bytes) -> EventId:
        """The id written as `<ms>-<seq>`; ValueError for anything else."""
        value = text.decode("ascii", "replace") if isinstance(text, bytes) else text
        if not _EVENT_ID.fullmatch(value):
            raise ValueError(f"not an event id: {value!r}")
        ms, _, seq = value.partition("-")
        return cls(int(ms), int(seq))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


NO_EVENT = EventId(0, 0)
"""Below every id a log hands out."""


@dataclass(frozen=True, slots=True)
class Draft:
    """An event to publish: its kind (the SSE event name), the coin it is about and its data
    (one line of JSON)."""

    kind: str
    coin: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Event:
    """A published event, with its SSE frame encoded once for every stream that sends it."""

    id: EventId
    kind: str
    coin: str
    data: bytes
    frame: bytes = field(repr=False, compare=False)

    @classmethod
    def of(cls, event_id: EventId, kind: str, coin: str, data: bytes) -> Event:
        """The event, its frame built from its parts."""
        return cls(event_id, kind, coin, data, event_frame(kind, data, str(event_id)))


@dataclass(frozen=True, slots=True)
class Replay:
    """The buffered events after an id, oldest first. `complete` is False when events after
    that id may have been dropped (older than the buffer, or the log could not be read)."""

    events: list[Event]
    complete: bool


class EventLogError(Exception):
    """The log could not take or give events (Redis down)."""


class FeedSink(Protocol):
    """What a feed tells its follower (`core.event_hub.EventHub`), on the follower's loop."""

    def deliver(self, events: Sequence[Event]) -> None:
        """Newly published events, in order."""
        ...

    def lost(self) -> None:
        """Events may have been missed (the feed was cut off longer than the buffer lasts)."""
        ...

    def ready(self) -> None:
        """From now on every event published reaches `deliver`."""
        ...


class Feed(Protocol):
    """One event loop's access to a log: replays for new streams, and following."""

    async def replay(self, after: EventId) -> Replay:
        """The buffered events after `after`; EventLogError when the log cannot be read."""
        ...

    async def follow(self, sink: FeedSink) -> None:
        """Hand every event published from now on to `sink` until cancelled, riding out
        failures of the log (a Redis outage) without raising."""
        ...

    async def aclose(self) -> None:
        """Release the feed's connections."""
        ...


class EventLog(Protocol):
    """Where events are published, process-wide (`event_log`)."""

    def append(self, drafts: Sequence[Draft]) -> list[Event]:
        """Add events in order, from any thread; EventLogError when the log cannot take them."""
        ...

    def feed(self) -> Feed:
        """A feed for the running event loop."""
        ...


class MemoryEventLog:
    """The events of this process, the newest `max_events` kept for replays."""

    def __init__(
        self, *, max_events: int = DEFAULT_MAX_EVENTS, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._events: deque[Event] = deque(maxlen=max_events)
        self._ids: deque[EventId] = deque(maxlen=max_events)
        started = EventId(int(clock() * 1000), 0)
        self._last = started
        # No event at or before it is held: published before this process began, or dropped.
        self._horizon = started
        self._listeners: list[Callable[[list[Event]], None]] = []
        self._lock = threading.Lock()

    def append(self, drafts: Sequence[Draft]) -> list[Event]:
        """See `EventLog.append`; listeners hear of the events in the order they were added."""
        with self._lock:
            events = [Event.of(self._next_id(), d.kind, d.coin, d.data) for d in drafts]
            for event in events:
                if len(self._events) == self._events.maxlen:
                    self._horizon = self._ids[0]
                self._events.append(event)
                self._ids.append(event.id)
            for listener in list(self._listeners):
                listener(events)
        return events

    def feed(self) -> MemoryFeed:
        """See `EventLog.feed`."""
        return MemoryFeed(self)

    def replay(self, after: EventId) -> Replay:
        """The held events after `after`."""
        with self._lock:
            start = bisect.bisect_right(self._ids, after)
            events = [self._events[i] for i in range(start, len(self._events))]
            return Replay(events, complete=after >= self._horizon)

    def listen(self, listener: Callable[[list[Event]], None]) -> Callable[[], None]:
        """Call `listener` (under the log's lock, from the publishing thread) with every batch
        added from now on; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def _next_id(self) -> EventId:
        now = int(self._clock() * 1000)
        last = self._last
        self._last = EventId(now, 0) if now > last.ms else EventId(last.ms, last.seq + 1)
        return self._last


class MemoryFeed:
    """A loop's feed of a `MemoryEventLog`: publishers on any thread hand their events over
    with `call_soon_threadsafe`."""

    def __init__(self, log: MemoryEventLog) -> None:
        self._log = log

    async def replay(self, after: EventId) -> Replay:
        """See `Feed.replay` (no I/O)."""
        return self._log.replay(after)

    async def follow(self, sink: FeedSink) -> None:
        """See `Feed.follow`."""
        loop = asyncio.get_running_loop()

        def listener(events: list[Event]) -> None:
            try:
                loop.call_soon_threadsafe(sink.deliver, events)
            except RuntimeError:  # the loop has closed: nobody is following any more
                pass

        stop = self._log.listen(listener)
        sink.ready()
        try:
            await loop.create_future()  # until cancelled
        finally:
            stop()

    async def aclose(self) -> None:
        """Nothing to release."""


_logs: dict[tuple[str | None, int], EventLog] = {}
_logs_lock = threading.Lock()


def event_log(redis_url: str | None, *, max_events: int = DEFAULT_MAX_EVENTS) -> EventLog:
    """This process's log for the deployment: one per Redis URL (or the in-process one), so
    every publisher in the process (the server's routes, its embedded scheduler's jobs) and
    every stream share it."""
    key = (redis_url or None, max_events)
    with _logs_lock:
        found = _logs.get(key)
        if found is None:
            if redis_url:
                from cryptopredict.core.redis_events import RedisEventLog

                found = RedisEventLog(redis_url, max_events=max_events)
            else:
                found = MemoryEventLog(max_events=max_events)
            _logs[key] = found
        return found
