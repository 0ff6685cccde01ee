"""The hub and one client's stream, on a real in-process log: fan-out by coin, heartbeats,
slow clients let go, replays joined to live events without a gap or a repeat."""

from __future__ import annotations

import asyncio

import pytest

from cryptopredict.core.event_hub import EventHub, Signal, Subscriber
from cryptopredict.core.events import Draft, Event, MemoryEventLog
from cryptopredict.stream.service import LiveStream

pytestmark = pytest.mark.anyio


def _price(coin: str) -> Draft:
    return Draft("price", coin, b'{"coin":"%s"}' % coin.encode())


async def _settled() -> None:
    """Let callbacks the log scheduled on this loop run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_each_subscriber_gets_the_events_of_its_coins_in_order() -> None:
    log = MemoryEventLog()
    hub = EventHub(log, heartbeat_seconds=60)
    everything = await hub.subscribe(None)
    bitcoin = await hub.subscribe(frozenset({"bitcoin"}))
    both = await hub.subscribe(frozenset({"bitcoin", "ethereum"}))

    published = log.append([_price("bitcoin"), _price("ethereum"), _price("solana")])
    await _settled()

    assert await everything.take(0) == published
    assert await bitcoin.take(0) == published[:1]
    assert await both.take(0) == published[:2]
    assert await bitcoin.take(0.01) == []  # nothing more: the wait ends empty
    for subscriber in (everything, bitcoin, both):
        hub.unsubscribe(subscriber)


async def test_the_hub_runs_only_while_someone_listens() -> None:
    hub = EventHub(MemoryEventLog(), heartbeat_seconds=0.01)
    assert not hub.following

    first = await hub.subscribe(None)
    second = await hub.subscribe(frozenset({"bitcoin"}))
    items = await first.take()
    tasks = {task.get_name() for task in asyncio.all_tasks()}

    assert items and set(items) == {Signal.HEARTBEAT}
    assert {"event-hub-follower", "event-hub-heartbeat"} <= tasks
    hub.unsubscribe(first)
    assert hub.following and hub.subscribers == 1
    hub.unsubscribe(second)
    await _settled()
    assert not hub.following and hub.subscribers == 0
    assert not {t.get_name() for t in asyncio.all_tasks()} & {
        "event-hub-follower",
        "event-hub-heartbeat",
    }


async def test_a_subscriber_too_slow_for_its_queue_is_let_go() -> None:
    log = MemoryEventLog()
    hub = EventHub(log, heartbeat_seconds=60, queue_limit=3)
    slow = await hub.subscribe(None)

    log.append([_price(f"coin-{n}") for n in range(5)])
    await _settled()

    assert slow.closed
    assert [item.coin for item in await slow.take() if isinstance(item, Event)] == [
        "coin-0",
        "coin-1",
        "coin-2",
    ]
    assert await slow.take() == []  # closed and drained: the stream ends
    hub.unsubscribe(slow)


async def test_lost_events_and_closing_reach_every_stream() -> None:
    hub = EventHub(MemoryEventLog(), heartbeat_seconds=60)
    one, two = await hub.subscribe(None), await hub.subscribe(frozenset({"x"}))

    hub.lost()
    hub.close()
    late = await hub.subscribe(None)

    assert await one.take() == [Signal.MISSED] and await two.take() == [Signal.MISSED]
    assert one.closed and two.closed and late.closed
    assert await late.take() == []
    for subscriber in (one, two, late):
        hub.unsubscribe(subscriber)


async def test_a_stream_joins_its_replay_to_live_events_without_repeats() -> None:
    log = MemoryEventLog()
    hub = EventHub(log, heartbeat_seconds=60)
    keeper = await hub.subscribe(None)  # keeps the hub following between the streams
    a, b, c = log.append([_price("bitcoin"), _price("ethereum"), _price("bitcoin")])
    await _settled()

    live = LiveStream(hub, coins=frozenset({"bitcoin"}), after=a.id, timeout=None)
    frames = live.frames()
    head = await anext(frames)
    hub.deliver([b, c])  # the follower catching up with what the replay already sent
    d, e = log.append([_price("ethereum"), _price("bitcoin")])
    await _settled()
    nxt = await anext(frames)
    live.close()
    rest = [frame async for frame in frames]

    assert head == b"retry: 3000\n\n" + c.frame
    assert nxt == e.frame
    assert rest == []
    assert hub.subscribers == 1
    hub.unsubscribe(keeper)
    assert d.coin == "ethereum"


async def test_a_stream_older_than_the_buffer_starts_with_missed() -> None:
    log = MemoryEventLog(max_events=2)
    hub = EventHub(log, heartbeat_seconds=60)
    a, _, c, d = log.append([_price(coin) for coin in ("a", "b", "c", "d")])

    frames = [frame async for frame in LiveStream(hub, coins=None, after=a.id, timeout=0).frames()]

    assert frames == [
        b"retry: 3000\n\nevent: missed\n"
        b'data: {"last_event_id":"%s","message":"Events after last_event_id may be missing; '
        b'read the current state again"}\n\n' % str(a.id).encode() + c.frame + d.frame
    ]
    assert hub.subscribers == 0 and not hub.following


async def test_subscriber_wait_ends_when_closed() -> None:
    subscriber = Subscriber(None)
    waiting = asyncio.ensure_future(subscriber.take())
    await asyncio.sleep(0)
    subscriber.close()
    assert await waiting == []
