"""The circuit breaker's states on both backends, one trial call in half-open state even
across breakers sharing Redis, and the fallback when Redis is unreachable."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.exceptions import CircuitOpenError
from tests.marketdata.conftest import MakeBreaker

pytestmark = pytest.mark.anyio


async def until_half_open(breaker: CircuitBreaker) -> None:
    """Wait (5 s at most) until the breaker itself reports that the next call is the trial."""
    async with asyncio.timeout(5):
        while True:  # the breaker's clock decides, so poll its own view
            if (await breaker.snapshot()).state == "half_open":
                return
            await asyncio.sleep(0.02)


async def allowed(breaker: CircuitBreaker) -> bool:
    try:
        await breaker.check()
    except CircuitOpenError:
        return False
    return True


async def test_opens_after_threshold_consecutive_failures(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(failure_threshold=3, reset_seconds=30)
    for _ in range(2):
        await breaker.record_failure()
    await breaker.record_success()  # consecutive failures only
    for _ in range(2):
        await breaker.record_failure()
    assert (await breaker.snapshot()).state == "closed"
    assert await allowed(breaker)
    await breaker.record_failure()
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.failures) == ("open", 3)
    assert snapshot.opened_at is not None and snapshot.next_attempt_at is not None
    assert (snapshot.next_attempt_at - snapshot.opened_at).total_seconds() == pytest.approx(30)
    with pytest.raises(CircuitOpenError) as refused:
        await breaker.check()
    assert refused.value.retry_at == snapshot.next_attempt_at
    await breaker.aclose()


async def test_half_open_lets_exactly_one_trial_through(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(failure_threshold=1, reset_seconds=0.2)
    await breaker.record_failure()
    await until_half_open(breaker)
    outcomes = await asyncio.gather(*(allowed(breaker) for _ in range(10)))
    assert outcomes.count(True) == 1
    await breaker.record_success()
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.failures, snapshot.opened_at) == ("closed", 0, None)
    assert all(await asyncio.gather(*(allowed(breaker) for _ in range(5))))
    await breaker.aclose()


async def test_failed_trial_opens_again_for_a_new_period(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(failure_threshold=2, reset_seconds=0.2)
    await breaker.record_failure()
    await breaker.record_failure()
    first = await breaker.snapshot()
    await until_half_open(breaker)
    assert await allowed(breaker)
    await breaker.record_failure()
    second = await breaker.snapshot()
    assert second.state == "open"
    assert second.opened_at is not None and first.opened_at is not None
    assert second.opened_at > first.opened_at
    assert not await allowed(breaker)
    await breaker.aclose()


async def test_a_trial_that_never_reports_expires(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(failure_threshold=1, reset_seconds=0.1, trial_lease_seconds=0.2)
    await breaker.record_failure()
    await until_half_open(breaker)
    assert await allowed(breaker)  # this caller "crashes" and never reports
    assert not await allowed(breaker)
    deadline = time.monotonic() + 5
    while not await allowed(breaker):
        assert time.monotonic() < deadline, "the lost trial was never given back"
        await asyncio.sleep(0.02)
    await breaker.aclose()


async def test_release_gives_the_trial_back(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(failure_threshold=1, reset_seconds=0.1)
    await breaker.record_failure()
    await until_half_open(breaker)
    assert await allowed(breaker)
    await breaker.release()  # e.g. the trial met CoinGecko's 429: no verdict
    assert await allowed(breaker)
    assert (await breaker.snapshot()).failures == 1
    await breaker.aclose()


async def test_reset_closes_by_hand(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(failure_threshold=1, reset_seconds=30)
    await breaker.record_failure()
    assert not await allowed(breaker)
    await breaker.reset()
    assert await allowed(breaker)
    assert breaker.snapshot_blocking().state == "closed"
    await breaker.aclose()


@pytest.mark.services
async def test_breakers_sharing_redis_share_state_and_the_single_trial(
    redis_url: str, redis_key: str
) -> None:
    workers = [
        CircuitBreaker(failure_threshold=2, reset_seconds=0.2, redis_url=redis_url, key=redis_key)
        for _ in range(3)
    ]
    await workers[0].record_failure()
    await workers[1].record_failure()
    for worker in workers:
        assert not await allowed(worker)
        assert (await worker.snapshot()).backend == "redis"
    await until_half_open(workers[2])
    outcomes = await asyncio.gather(*(allowed(w) for w in workers for _ in range(4)))
    assert outcomes.count(True) == 1
    await workers[2].record_success()
    assert all([await allowed(w) for w in workers])
    for worker in workers:
        await worker.aclose()


async def test_unreachable_redis_falls_back_to_a_local_breaker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    breaker = CircuitBreaker(
        failure_threshold=1, reset_seconds=30, redis_url="redis://127.0.0.1:1/0"
    )
    await breaker.record_failure()
    assert not await allowed(breaker)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.backend, snapshot.degraded) == ("open", "memory", True)
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
    await breaker.aclose()


def test_settings_shape_the_breaker() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    breaker = CircuitBreaker(failure_threshold=7, reset_seconds=12)
    snapshot = breaker.snapshot_blocking()
    assert (snapshot.failure_threshold, snapshot.reset_seconds, snapshot.backend) == (
        7,
        12,
        "memory",
    )
