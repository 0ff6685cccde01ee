"""One event hub per server process: it follows the event log once (`core.events`) and fans
each event out to the streams that want it, with one heartbeat timer for all of them.

A stream is a `Subscriber`: a bounded queue of what to send (events, heartbeats, notices that
events may have been missed) and the coins it wants (None: every coin). The hub starts its two
tasks, the follower and the heartbeat, with its first subscriber and stops them (closing the
feed's connections) when the last one leaves: an idle server holds nothing open, and a client
that goes away leaves nothing behind. A subscriber whose client reads too slowly for its
queue is closed; its client reconnects with Last-Event-ID and resumes from the buffer.

`close_hubs()` ends every stream of the process: the HTTP protocol calls it when the server
shuts down, since a server waits for open responses to finish and a stream never would.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptopredict.core.events import Event, EventId, EventLog, EventLogError, Feed, Replay

QUEUE_LIMIT = 5_000
"""Items one subscriber may have waiting; past it the client is too slow and is let go."""
READY_WAIT_SECONDS = 1.0
"""How long a first subscriber waits for the follower to be in step with the log (Redis
answering) before its stream starts anyway."""


class Signal(enum.Enum):
    """What a stream sends besides events."""

    HEARTBEAT = "heartbeat"
    MISSED = "missed"


Item = Event | Signal


class Subscriber:
    """One stream's queue and the coins it wants; used on the hub's event loop only."""

    __slots__ = ("_items", "_limit", "_waiter", "closed", "coins")

    def __init__(self, coins: frozenset[str] | None, limit: int = QUEUE_LIMIT) -> None:
        self.coins = coins
        self.closed = False
        self._items: deque[Item] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def wants(self, event: Event) -> bool:
        """Whether the event is about one of the subscriber's coins."""
        return self.coins is None or event.coin in self.coins

    def push(self, item: Item) -> None:
        """Queue an item; a full queue closes the subscriber instead."""
        if self.closed:
            return
        if len(self._items) >= self._limit:
            self.close()
            return
        self._items.append(item)
        self._wake()

    def close(self) -> None:
        """Stop taking items; a waiting `take` returns what is left."""
        self.closed = True
        self._wake()

    async def take(self, within: float | None = None) -> list[Item]:
        """Everything queued, waiting up to `within` seconds (None: without limit) for the
        first item; empty once closed and drained, or when the time is up."""
        if not self._items and not self.closed:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            timer = None if within is None else loop.call_later(within, _settle, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        items = list(self._items)
        self._items.clear()
        return items

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(slots=True)
class _Running:
    """The hub's follower and heartbeat on one event loop."""

    loop: asyncio.AbstractEventLoop
    feed: Feed
    ready: asyncio.Event
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


_hubs: weakref.WeakSet[EventHub] = weakref.WeakSet()


class EventHub:
    """Fans the events of one log out to this process's streams (module docstring)."""

    def __init__(
        self,
        log: EventLog,
        *,
        heartbeat_seconds: float,
        queue_limit: int = QUEUE_LIMIT,
        ready_wait_seconds: float = READY_WAIT_SECONDS,
    ) -> None:
        self._log = log
        self._heartbeat = heartbeat_seconds
        self._queue_limit = queue_limit
        self._ready_wait = ready_wait_seconds
        self._all: set[Subscriber] = set()
        self._everyone: set[Subscriber] = set()
        self._by_coin: dict[str, set[Subscriber]] = {}
        self._running: _Running | None = None
        self._closed = False
        _hubs.add(self)

    @property
    def subscribers(self) -> int:
        """Streams open now."""
        return len(self._all)

    @property
    def following(self) -> bool:
        """Whether the follower and heartbeat tasks are running."""
        return self._running is not None

    async def subscribe(self, coins: frozenset[str] | None) -> Subscriber:
        """A new stream's subscriber, registered before it returns (so no event published
        from then on passes it by); it is closed already once the hub has closed."""
        subscriber = Subscriber(coins, self._queue_limit)
        if self._closed:
            subscriber.close()
            return subscriber
        running = self._ensure_running()
        self._all.add(subscriber)
        if coins is None:
            self._everyone.add(subscriber)
        else:
            for coin in coins:
                self._by_coin.setdefault(coin, set()).add(subscriber)
        if not running.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(running.ready.wait(), self._ready_wait)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a stream; the last one leaving stops the follower and the heartbeat."""
        subscriber.close()
        if subscriber not in self._all:
            return
        self._all.discard(subscriber)
        self._everyone.discard(subscriber)
        for coin in subscriber.coins or ():
            wanting = self._by_coin.get(coin)
            if wanting is not None:
                wanting.discard(subscriber)
                if not wanting:
                    del self._by_coin[coin]
        if not self._all:
            self._stop()

    async def replay(self, after: EventId) -> Replay:
        """The buffered events after `after` (a subscriber must be open: it keeps the feed
        open); EventLogError when the log cannot be read."""
        if self._running is None:
            raise EventLogError("no stream is open to replay for")
        return await self._running.feed.replay(after)

    def close(self) -> None:
        """End every stream now and refuse new ones (the server is shutting down)."""
        self._closed = True
        for subscriber in list(self._all):
            subscriber.close()

    # ---- FeedSink -----------------------------------------------------------------------

    def deliver(self, events: Sequence[Event]) -> None:
        """Queue each event for the streams that want it."""
        everyone, by_coin = self._everyone, self._by_coin
        for event in events:
            for subscriber in everyone:
                subscriber.push(event)
            for subscriber in by_coin.get(event.coin, ()):
                subscriber.push(event)

    def lost(self) -> None:
        """Tell every stream it may have missed events."""
        for subscriber in self._all:
            subscriber.push(Signal.MISSED)

    def ready(self) -> None:
        """The follower is in step with the log."""
        if self._running is not None:
            self._running.ready.set()

    # ---- the tasks ----------------------------------------------------------------------

    def _ensure_running(self) -> _Running:
        loop = asyncio.get_running_loop()
        running = self._running
        if running is not None and running.loop is loop:
            return running
        self._stop()  # left on a loop that has ended (a test client's): start afresh here
        feed = self._log.feed()
        running = _Running(loop, feed, asyncio.Event())
        self._running = running
        running.tasks = [
            loop.create_task(self._follow(feed), name="event-hub-follower"),
            loop.create_task(self._beat(), name="event-hub-heartbeat"),
        ]
        return running

    async def _follow(self, feed: Feed) -> None:
        try:
            await feed.follow(self)
        finally:
            await feed.aclose()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            for subscriber in self._all:
                subscriber.push(Signal.HEARTBEAT)

    def _stop(self) -> None:
        running, self._running = self._running, None
        if running is None or running.loop.is_closed():
            return
        for task in running.tasks:
            if running.loop is _current_loop():
                task.cancel()
            else:  # another thread's loop, still open: cancel there
                with contextlib.suppress(RuntimeError):
                    running.loop.call_soon_threadsafe(task.cancel)


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def close_hubs() -> None:
    """End every stream of this process (the server is shutting down)."""
    for hub in list(_hubs):
        hub.close()
