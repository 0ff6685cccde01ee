"""The live stream over real HTTP without Redis: `cryptopredict serve` streams what its own
process publishes (a sync it runs), resumes from its in-process buffer, answers HEAD at once
and ends its streams when it shuts down."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.serving import Served, serving
from tests.stream.conftest import TOP_COINS, Deployment, deployment
from tests.stream.sse import STREAM_PATH, heartbeats, of_kind, open_stream, replay

pytestmark = pytest.mark.slow

HEARTBEAT_SECONDS = 0.3
ADMIN = ("stream-admin@example.com", "stream-admin-password-1")


@pytest.fixture(scope="module")
def memory_deployment(
    tmp_path_factory: pytest.TempPathFactory, fake_coingecko: FakeCoinGecko
) -> Deployment:
    found = deployment(
        tmp_path_factory.mktemp("stream-memory"),
        fake_coingecko,
        CRYPTOPREDICT_STREAM_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
    )
    found.cli("create-admin", "--email", ADMIN[0], CRYPTOPREDICT_ADMIN_PASSWORD=ADMIN[1])
    return found


@pytest.fixture(scope="module")
def server(memory_deployment: Deployment) -> Iterator[Served]:
    with serving(memory_deployment.data_dir, memory_deployment.settings) as served:
        assert served.wait_until_live(), served.log.read_text(errors="replace")
        yield served


def _admin_headers(base: str) -> dict[str, str]:
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=30
    )
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_sync_the_server_runs_reaches_its_streams_and_its_buffer(server: Served) -> None:
    with open_stream(server.base) as every, open_stream(server.base, {"coins": "bitcoin"}) as one:
        synced = httpx.post(
            f"{server.base}/api/v1/sync/prices",
            params={"wait": "true", "timeout": "60"},
            headers=_admin_headers(server.base),
            timeout=90,
        )
        assert synced.status_code == 200, synced.text
        events = every.events("price", TOP_COINS)
        bitcoin = one.events("price", 1)

    ids = [event.id for event in events]
    assert len({event.json()["coin"] for event in events}) == TOP_COINS
    assert [event.json() for event in bitcoin] == [
        event.json() for event in events if event.json()["coin"] == "bitcoin"
    ]
    assert bitcoin[0].id in ids
    resumed = replay(server.base, headers={"Last-Event-ID": ids[3]})
    assert [frame.id for frame in resumed] == ids[4:]


def test_a_sync_in_another_process_does_not_reach_a_server_without_redis(
    server: Served, memory_deployment: Deployment
) -> None:
    with open_stream(server.base) as stream:
        started = time.monotonic()
        memory_deployment.sync_prices()
        # Heartbeats sent after the sync ended: any event it had published would be before.
        beats = math.ceil((time.monotonic() - started) / HEARTBEAT_SECONDS) + 2
        frames = stream.until(lambda got: heartbeats(got) >= beats)

    assert of_kind(frames, "price") == []


def test_head_answers_at_once_without_holding_a_stream(server: Served) -> None:
    response = httpx.head(server.base + STREAM_PATH, timeout=5)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.content == b""


def test_a_server_shutting_down_ends_its_streams(memory_deployment: Deployment) -> None:
    with serving(memory_deployment.data_dir, memory_deployment.settings) as served:
        assert served.wait_until_live(), served.log.read_text(errors="replace")
        with open_stream(served.base) as stream:
            served.process.terminate()
            rest = stream.rest()  # the stream ends properly (a clean end of chunked body)
            # uvicorn ends by raising the signal it caught again: a clean SIGTERM exit.
            assert served.process.wait(timeout=10) in {0, -signal.SIGTERM}

    assert of_kind(rest, "price") == []
    log = Path(served.log).read_text(errors="replace")
    assert "Traceback" not in log
