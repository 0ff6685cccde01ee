"""Task locks: in-process and per host without Redis, owner tokens and expiry in Redis, and a
Redis outage degrading to the local lock rather than to no lock."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cryptopredict.tasks.locks import LocalLocks, RedisLocks, TaskLocks


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the test Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A lock key prefix private to this test; its keys are deleted afterwards."""
    value = f"cryptopredict:test:{uuid.uuid4().hex}:lock:"
    yield value
    for key in redis_client.scan_iter(f"{value}*"):
        redis_client.delete(key)


def test_a_local_lock_is_exclusive_per_name_and_only_its_owner_releases_it() -> None:
    locks = LocalLocks()

    assert locks.acquire("sync_all_prices", "a")
    assert not locks.acquire("sync_all_prices", "b")
    assert locks.acquire("discover_new_cryptocurrencies", "b")
    assert not locks.release("sync_all_prices", "b")
    assert locks.owner("sync_all_prices") == "a"
    assert locks.release("sync_all_prices", "a")
    assert locks.acquire("sync_all_prices", "b")


def test_a_token_takes_its_own_lock_back_and_another_token_still_finds_it_taken(
    tmp_path: Path,
) -> None:
    for locks in (LocalLocks(), LocalLocks(tmp_path)):
        assert locks.acquire("sync_all_prices", "task-1")
        assert locks.acquire("sync_all_prices", "task-1")  # retried or delivered again
        assert not locks.acquire("sync_all_prices", "task-2")
        assert locks.release("sync_all_prices", "task-1")
        assert locks.acquire("sync_all_prices", "task-2")


def test_a_lock_file_held_by_another_process_is_taken_back_only_by_its_own_token(
    tmp_path: Path,
) -> None:
    first, second = LocalLocks(tmp_path), LocalLocks(tmp_path)  # two processes, one host

    assert first.acquire("sync_specific_cryptocurrency:coin_id=bitcoin", "task-1")
    assert not second.acquire("sync_specific_cryptocurrency:coin_id=bitcoin", "task-2")
    assert second.acquire("sync_specific_cryptocurrency:coin_id=bitcoin", "task-1")
    assert second.acquire("sync_specific_cryptocurrency:coin_id=ethereum", "task-2")
    path = first.path("sync_specific_cryptocurrency:coin_id=bitcoin")
    assert path is not None and path.parent == tmp_path and path.read_bytes() == b"task-1"


def test_file_locks_keep_two_processes_of_one_host_apart(tmp_path: Path) -> None:
    # Two tables on one directory stand for two server processes: flock conflicts between
    # separately opened files even within one process.
    first, second = LocalLocks(tmp_path), LocalLocks(tmp_path)

    assert first.acquire("sync_all_prices", "a")
    assert not second.acquire("sync_all_prices", "b")
    assert first.release("sync_all_prices", "a")
    assert second.acquire("sync_all_prices", "b")


def test_hold_yields_none_while_held_and_releases_on_error() -> None:
    locks = TaskLocks()

    with pytest.raises(RuntimeError), locks.hold("cleanup_old_data", ttl_seconds=5) as lease:
        assert lease is not None and lease.backend == "local"
        with locks.hold("cleanup_old_data", ttl_seconds=5) as second:
            assert second is None
        raise RuntimeError("the run failed")
    with locks.hold("cleanup_old_data", ttl_seconds=5) as again:
        assert again is not None


@pytest.mark.services
def test_redis_lock_keeps_out_another_process_and_only_its_owner_releases_it(
    redis_client: redis.Redis, prefix: str
) -> None:
    mine = TaskLocks(redis_client, prefix=prefix)
    theirs = TaskLocks(redis_client, prefix=prefix)  # another worker: its own local table

    lease = mine.acquire("sync_all_prices", ttl_seconds=30)
    assert lease is not None and lease.backend == "redis"
    assert theirs.acquire("sync_all_prices", ttl_seconds=30) is None
    intruder = RedisLocks(redis_client, prefix=prefix)
    assert not intruder.release("sync_all_prices", "not-the-owner")
    assert not intruder.extend("sync_all_prices", "not-the-owner", ttl_seconds=60)
    assert redis_client.get(f"{prefix}sync_all_prices") == lease.token.encode()
    assert 0 < redis_client.pttl(f"{prefix}sync_all_prices") <= 30_000

    mine.release(lease)
    assert redis_client.exists(f"{prefix}sync_all_prices") == 0
    assert theirs.acquire("sync_all_prices", ttl_seconds=30) is not None


@pytest.mark.services
def test_a_redelivered_task_takes_its_own_redis_lock_back_and_refreshes_it(
    redis_client: redis.Redis, prefix: str
) -> None:
    dead = TaskLocks(redis_client, prefix=prefix)  # killed mid-run: never releases
    survivor = TaskLocks(redis_client, prefix=prefix)
    key = f"{prefix}sync_specific_cryptocurrency:coin_id=bitcoin"
    left = dead.acquire("sync_specific_cryptocurrency:coin_id=bitcoin", ttl_seconds=5, token="t1")
    assert left is not None and left.token == "t1"

    other = survivor.acquire("sync_specific_cryptocurrency:coin_id=bitcoin", ttl_seconds=60)
    assert other is None  # another task: skipped
    again = survivor.acquire(
        "sync_specific_cryptocurrency:coin_id=bitcoin", ttl_seconds=60, token="t1"
    )
    assert again is not None and again.backend == "redis"
    assert redis_client.get(key) == b"t1" and redis_client.pttl(key) > 5_000  # refreshed

    survivor.release(again)
    assert redis_client.exists(key) == 0


@pytest.mark.services
def test_an_expired_redis_lock_frees_the_task_and_its_late_owner_cannot_touch_the_new_one(
    redis_client: redis.Redis, prefix: str
) -> None:
    dead = TaskLocks(redis_client, prefix=prefix)  # a worker that dies holding the lock
    alive = TaskLocks(redis_client, prefix=prefix)
    stale = dead.acquire("sync_historical_data", ttl_seconds=0.2)
    assert stale is not None
    assert alive.acquire("sync_historical_data", ttl_seconds=30) is None

    time.sleep(0.3)
    fresh = alive.acquire("sync_historical_data", ttl_seconds=30)
    assert fresh is not None

    assert not stale.extend(30)
    dead.release(stale)  # too late: the lock is someone else's now
    assert redis_client.get(f"{prefix}sync_historical_data") == fresh.token.encode()
    assert fresh.extend(60)
    assert redis_client.pttl(f"{prefix}sync_historical_data") > 30_000


def test_a_redis_outage_degrades_to_the_local_lock_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    locks = TaskLocks(down, prefix="cryptopredict:test:down:")

    with caplog.at_level(logging.WARNING, logger="cryptopredict.tasks.locks"):
        lease = locks.acquire("sync_all_prices", ttl_seconds=30)
    assert lease is not None and lease.backend == "local"
    assert "holding it locally only" in caplog.text
    assert locks.acquire("sync_all_prices", ttl_seconds=30) is None  # still one at a time
    locks.release(lease)
    assert locks.acquire("sync_all_prices", ttl_seconds=30) is not None
