"""The event logs: ids ordered across publishers, bounded replay buffers that say when a
reader is older than them, and publishing that never fails its caller."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from cryptopredict.core.config import Settings
from cryptopredict.core.events import NO_EVENT, Draft, EventId, EventLogError, MemoryEventLog
from cryptopredict.core.redis_events import RedisEventLog
from cryptopredict.stream import service
from tests.serving import free_port


def _drafts(*coins: str) -> list[Draft]:
    return [Draft("price", coin, b'{"coin":"%s"}' % coin.encode()) for coin in coins]


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_event_ids_parse_print_and_order() -> None:
    assert EventId.parse("1717171717171-12") == EventId(1717171717171, 12)
    assert str(EventId(5, 0)) == "5-0"
    assert EventId(5, 9) < EventId(6, 0) < EventId(6, 1)
    for bad in ("", "5", "5-", "-1", "a-1", "1-1-1", "1 -1", "1-1\n"):
        with pytest.raises(ValueError, match="not an event id"):
            EventId.parse(bad)


def test_memory_ids_stay_ordered_when_the_clock_stands_still_or_goes_back() -> None:
    clock = _Clock(1000.0)
    log = MemoryEventLog(clock=clock)

    first = log.append(_drafts("a", "b"))
    clock.now = 999.0  # a clock stepped back
    second = log.append(_drafts("c"))
    clock.now = 1001.0
    third = log.append(_drafts("d"))

    ids = [event.id for event in first + second + third]
    assert ids == [EventId(1_000_000, 1), EventId(1_000_000, 2), EventId(1_000_000, 3)] + [
        EventId(1_001_000, 0)
    ]
    assert first[0].frame == b'id: 1000000-1\nevent: price\ndata: {"coin":"a"}\n\n'


def test_a_memory_replay_is_complete_only_after_the_oldest_event_dropped() -> None:
    clock = _Clock(1000.0)
    log = MemoryEventLog(max_events=3, clock=clock)
    events = log.append(_drafts("a", "b", "c", "d", "e"))  # a and b are dropped

    after_b = log.replay(events[1].id)
    after_a = log.replay(events[0].id)
    before_start = log.replay(EventId(999_999, 7))  # an id from before this process

    assert [event.coin for event in after_b.events] == ["c", "d", "e"]
    assert after_b.complete
    assert [event.coin for event in after_a.events] == ["c", "d", "e"]
    assert not after_a.complete
    assert not before_start.complete
    assert log.replay(events[-1].id) == type(after_b)([], complete=True)


@pytest.mark.services
def test_redis_logs_of_two_processes_share_one_order_and_buffer(redis_url: str) -> None:
    first = RedisEventLog(redis_url, max_events=4)
    second = RedisEventLog(redis_url, max_events=4)

    one = first.append(_drafts("a", "b"))
    two = second.append(_drafts("c"))
    three = first.append(_drafts("d", "e", "f"))  # trims a and b (and older entries)

    ids = [event.id for event in one + two + three]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert three[0].frame.startswith(b"id: %s\nevent: price\n" % str(three[0].id).encode())


@pytest.mark.services
@pytest.mark.anyio
async def test_a_redis_replay_reads_the_buffer_and_knows_what_was_trimmed(redis_url: str) -> None:
    log = RedisEventLog(redis_url, max_events=3)
    events = log.append(_drafts("a", "b", "c", "d", "e"))
    feed = log.feed()
    try:
        after_b = await feed.replay(events[1].id)
        after_a = await feed.replay(events[0].id)
        after_e = await feed.replay(events[-1].id)
    finally:
        await feed.aclose()

    assert [event.coin for event in after_b.events] == ["c", "d", "e"]
    assert [event.id for event in after_b.events] == [event.id for event in events[2:]]
    assert after_b.complete
    assert [event.coin for event in after_a.events] == ["c", "d", "e"]
    assert not after_a.complete
    assert after_e.events == [] and after_e.complete


def test_a_redis_log_that_cannot_reach_redis_raises_then_backs_off() -> None:
    log = RedisEventLog(f"redis://127.0.0.1:{free_port()}/0", max_events=10)

    with pytest.raises(EventLogError, match="did not take"):
        log.append(_drafts("a"))
    with pytest.raises(EventLogError, match="moments ago"):
        log.append(_drafts("b"))
    assert log.append([]) == []


class _Forecast(BaseModel):
    horizon_days: int
    median: float


def test_publish_forecast_sends_the_payload_with_its_coin() -> None:
    settings = Settings(redis_url=None, stream_buffer_events=1234)  # a log of its own
    log = service.event_log(settings)
    assert isinstance(log, MemoryEventLog)

    from_model = service.publish_forecast(
        "bitcoin", _Forecast(horizon_days=7, median=1.5), settings=settings
    )
    from_mapping = service.publish_forecast(
        "ethereum", {"coin": "other", "x": [1]}, settings=settings
    )

    published = log.replay(NO_EVENT).events
    assert [str(event.id) for event in published] == [from_model, from_mapping]
    assert [(event.kind, event.coin, event.data) for event in published] == [
        ("forecast", "bitcoin", b'{"horizon_days":7,"median":1.5,"coin":"bitcoin"}'),
        ("forecast", "ethereum", b'{"coin":"ethereum","x":[1]}'),
    ]
    for bad in ("Bitcoin", "", "bit coin", "x" * 101):
        with pytest.raises(ValueError, match="not a CoinGecko id"):
            service.publish_forecast(bad, {}, settings=settings)


def test_publishing_without_redis_drops_the_events_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")

    with caplog.at_level(logging.WARNING, logger="cryptopredict.stream.service"):
        assert service.publish_forecast("bitcoin", {"median": 1.0}, settings=settings) is None
        assert service.publish_prices([], settings=settings) == []

    assert "live stream: 1 event(s) not published" in caplog.text
