"""The live stream over real HTTP with Redis: `cryptopredict serve` streams the price events
of `cryptopredict sync prices` run in another process, on every worker, in one id order,
resumable after Last-Event-ID, and rides out a Redis outage."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from cryptopredict.core.events import EventId
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.conftest import need_service
from tests.serving import Served, free_port, serving
from tests.stream.conftest import TOP_COINS, Deployment, deployment
from tests.stream.sse import SseReader, heartbeats, of_kind, open_stream, replay
from tests.tasks.celery_support import RedisServer

pytestmark = [pytest.mark.services, pytest.mark.slow]

HEARTBEAT_SECONDS = "0.3"


@pytest.fixture(scope="module")
def redis_deployment(
    tmp_path_factory: pytest.TempPathFactory, fake_coingecko: FakeCoinGecko, module_redis_url: str
) -> Deployment:
    return deployment(
        tmp_path_factory.mktemp("stream-redis"),
        fake_coingecko,
        CRYPTOPREDICT_REDIS_URL=module_redis_url,
        CRYPTOPREDICT_STREAM_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
    )


@pytest.fixture(scope="module")
def server(redis_deployment: Deployment) -> Iterator[Served]:
    with serving(redis_deployment.data_dir, redis_deployment.settings) as served:
        assert served.wait_until_live(), served.log.read_text(errors="replace")
        yield served


def _ids(frames: list[object]) -> list[str]:
    return [str(getattr(frame, "id", None)) for frame in frames]


def test_a_sync_in_another_process_streams_a_price_event_per_wanted_coin(
    server: Served, redis_deployment: Deployment
) -> None:
    with open_stream(server.base, {"coins": " Bitcoin,ethereum "}) as stream:
        redis_deployment.sync_prices()
        events = stream.events("price", 2)
        # The sync published all its events at once: any other coin's would come before
        # the next heartbeat.
        following = stream.until(lambda got: heartbeats(got) >= 1)

    assert of_kind(following, "price") == []
    assert sorted(event.json()["coin"] for event in events) == ["bitcoin", "ethereum"]
    ids = [EventId.parse(event.id or "") for event in events]
    assert ids == sorted(ids) and len(set(ids)) == 2
    latest = httpx.get(
        f"{server.base}/api/v1/prices/latest", params={"coins": "bitcoin,ethereum"}, timeout=10
    ).json()["items"]
    stored = {item["coin"]: item for item in latest}
    for event in events:
        data = event.json()
        assert data["price"] == stored[data["coin"]]["price"]
        assert data["interval"] == stored[data["coin"]]["interval"] == "5m"
        assert dt.datetime.fromisoformat(data["timestamp"]) == dt.datetime.fromisoformat(
            stored[data["coin"]]["timestamp"]
        )
        assert data["updated_at"] is not None


def test_streams_resume_after_last_event_id_from_the_buffer(
    server: Served, redis_deployment: Deployment
) -> None:
    with open_stream(server.base) as stream:
        redis_deployment.sync_prices()
        events = stream.events("price", TOP_COINS)
    ids = _ids(events)
    assert len({event.json()["coin"] for event in events}) == TOP_COINS

    by_header = replay(server.base, headers={"Last-Event-ID": ids[4]})
    by_query = replay(server.base, {"last_event_id": ids[4]})
    header_first = replay(server.base, {"last_event_id": ids[0]}, {"Last-Event-ID": ids[7]})
    one_coin = replay(server.base, {"coins": events[9].json()["coin"]}, {"Last-Event-ID": ids[0]})

    assert _ids(by_header) == _ids(by_query) == ids[5:]
    assert [frame.event for frame in by_header] == ["price"] * 5
    assert [frame.data for frame in by_header] == [event.data for event in events[5:]]
    assert _ids(header_first) == ids[8:]
    assert _ids(one_coin) == ids[9:]


def test_a_client_older_than_the_buffer_is_told_it_missed_events(
    server: Served, redis_deployment: Deployment
) -> None:
    with open_stream(server.base) as stream:
        redis_deployment.sync_prices()
        earlier = _ids(stream.events("price", TOP_COINS))
        # A publisher keeping 3 events trims 7 of its own before the server reads them.
        redis_deployment.sync_prices(CRYPTOPREDICT_STREAM_BUFFER_EVENTS="3")
        live = stream.until(lambda got: len(of_kind(got, "price")) >= 3)

    ids = _ids(of_kind(live, "price"))
    too_old = replay(server.base, headers={"Last-Event-ID": earlier[-1]})
    still_held = replay(server.base, headers={"Last-Event-ID": ids[0]})

    assert [frame.event for frame in live if frame.event] == ["missed", "price", "price", "price"]
    assert live[-4].json()["last_event_id"] == earlier[-1]
    assert too_old[0].event == "missed" and too_old[0].id is None
    assert too_old[0].json()["last_event_id"] == earlier[-1]
    assert _ids(too_old[1:]) == ids
    assert _ids(still_held) == ids[1:]


def test_heartbeats_keep_an_idle_stream_alive(server: Served) -> None:
    with open_stream(server.base, {"coins": "no-such-coin"}) as stream:
        frames = stream.until(lambda got: len(got) >= 3)

    assert [frame.comment for frame in frames] == ["heartbeat"] * 3


def _workers_holding_streams(served: Served) -> set[int]:
    """The worker processes with an established connection on the server's port."""
    port = int(served.base.rsplit(":", 1)[1])
    holding = set()
    for worker in psutil.Process(served.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            for connection in worker.net_connections(kind="tcp"):
                if connection.laddr.port == port and connection.status == psutil.CONN_ESTABLISHED:
                    holding.add(worker.pid)
    return holding


def test_streams_on_two_workers_get_the_same_events(redis_deployment: Deployment) -> None:
    with serving(redis_deployment.data_dir, redis_deployment.settings, workers=2) as served:
        assert served.wait_until_live(), served.log.read_text(errors="replace")
        with contextlib.ExitStack() as streams:
            readers: list[SseReader] = []
            while len(_workers_holding_streams(served)) < 2:
                assert len(readers) < 30, "the kernel kept every connection on one worker"
                readers.append(streams.enter_context(open_stream(served.base)))
            redis_deployment.sync_prices()
            received = [_ids(reader.events("price", TOP_COINS)) for reader in readers]

    assert len(received) >= 2
    assert all(ids == received[0] for ids in received)
    assert len(set(received[0])) == TOP_COINS


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it kills and starts again."""
    binary = shutil.which("redis-server")
    if binary is None:
        need_service("redis-server", "no redis-server binary on PATH")
        raise AssertionError("unreachable")
    server = RedisServer(binary, free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_the_stream_rides_out_a_redis_outage(
    tmp_path: Path, fake_coingecko: FakeCoinGecko, own_redis: RedisServer
) -> None:
    own = deployment(
        tmp_path,
        fake_coingecko,
        CRYPTOPREDICT_REDIS_URL=own_redis.url,
        CRYPTOPREDICT_STREAM_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
    )
    with serving(tmp_path, own.settings) as served:
        assert served.wait_until_live(), served.log.read_text(errors="replace")
        with open_stream(served.base) as stream:
            own.sync_prices()
            before = _ids(stream.events("price", TOP_COINS))

            own_redis.kill()
            down = stream.until(lambda got: heartbeats(got) >= 3)  # heartbeats go on
            synced_while_down = own.sync_prices()  # stores prices, drops the events
            while_down = replay(served.base, headers={"Last-Event-ID": before[-1]})

            own_redis.start()
            back = stream.until(lambda got: len(of_kind(got, "missed")) >= 1)
            own.sync_prices()
            after = _ids(stream.events("price", TOP_COINS))
    log = served.log.read_text(errors="replace")

    assert of_kind(down, "price") == []
    assert "event(s) not published" in synced_while_down.stderr
    assert [frame.event for frame in while_down] == ["missed"]
    assert of_kind(back, "price") == []
    assert EventId.parse(after[0]) > EventId.parse(before[-1])
    assert "live stream lost Redis" in log
    assert "Traceback" not in log
