"""The client against a misbehaving fake, over real HTTP: what is retried, what is not, what
the breaker does, and that the API key never reaches a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from pydantic import SecretStr

from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.exceptions import (
    CircuitOpenError,
    MalformedResponseError,
    RateLimitedByUpstreamError,
    RateLimitWaitExceededError,
    UpstreamAuthError,
    UpstreamNotFoundError,
    UpstreamServerError,
    UpstreamTimeoutError,
)
from cryptopredict.marketdata.ratelimit import BucketConfig, Grant, RateLimiter
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.marketdata.conftest import MakeBreaker, MakeClient

pytestmark = pytest.mark.anyio


def arrival_gaps(fake: FakeCoinGecko) -> list[float]:
    """Seconds between consecutive requests as the fake received them."""
    return [b.at - a.at for a, b in pairwise(fake.requests)]


async def test_429_storm_waits_retry_after_then_succeeds(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.rate_limit(2, retry_after=1)
    async with make_client() as client:
        ping = await client.ping()
    assert ping.gecko_says
    assert [r.status for r in fake_coingecko.requests] == [429, 429, 200]
    assert all(gap >= 1.0 for gap in arrival_gaps(fake_coingecko))
    assert client.calls_made == 3


async def test_html_429_is_handled_like_json_429(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.rate_limit(1, retry_after=1, html=True)
    fake_coingecko.faults.rate_limit(1, retry_after=None, html=True)  # no header: backoff
    async with make_client() as client:
        markets = await client.coins_markets(per_page=3)
    assert [m.id for m in markets] == ["bitcoin", "ethereum", "tether"]
    assert [r.status for r in fake_coingecko.requests] == [429, 429, 200]
    assert arrival_gaps(fake_coingecko)[0] >= 1.0


async def test_retry_after_beyond_the_backoff_cap_is_raised_and_holds_the_limiter(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.rate_limit(1, retry_after=120)
    limiter = RateLimiter(BucketConfig(capacity=100, refill_per_second=100))
    async with make_client(limiter=limiter, coingecko_max_backoff_seconds=5) as client:
        with pytest.raises(RateLimitedByUpstreamError) as caught:
            await client.ping()
    assert caught.value.retry_after == 120
    assert len(fake_coingecko.requests) == 1
    assert (await limiter.snapshot()).tokens_available == 0
    with pytest.raises(RateLimitWaitExceededError):  # every caller sharing it now holds back
        await limiter.acquire(max_wait=1)


async def test_endless_429_gives_up_after_max_retries(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.rate_limit(10, retry_after=None)
    async with make_client(coingecko_max_retries=2) as client:
        with pytest.raises(RateLimitedByUpstreamError):
            await client.ping()
    assert len(fake_coingecko.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_burst_is_retried_and_recovered(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko, status: int
) -> None:
    fake_coingecko.faults.server_error(3, status=status)
    async with make_client() as client:
        chart = await client.market_chart("bitcoin", 1)
    assert len(chart.prices) == 289
    assert [r.status for r in fake_coingecko.requests] == [status] * 3 + [200]
    assert client.calls_made == 4


async def test_5xx_beyond_max_retries_raises_server_error(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.server_error(10, status=503)
    async with make_client(coingecko_max_retries=2) as client:
        with pytest.raises(UpstreamServerError) as caught:
            await client.ping()
    assert caught.value.status_code == 503
    assert len(fake_coingecko.requests) == 3


async def test_timeout_is_retried_then_succeeds(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.slow(1, delay=1.5)
    async with make_client(coingecko_timeout_seconds=0.3) as client:
        coins = await client.coins_markets(ids=["bitcoin"])
    assert [c.id for c in coins] == ["bitcoin"]
    assert [r.fault for r in fake_coingecko.requests] == ["slow", None]
    assert client.calls_made == 2


async def test_timeouts_beyond_max_retries_raise(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.slow(2, delay=1.5)
    async with make_client(coingecko_timeout_seconds=0.3, coingecko_max_retries=1) as client:
        with pytest.raises(UpstreamTimeoutError):
            await client.ping()
    assert len(fake_coingecko.requests) == 2


@pytest.mark.parametrize("kind", ["garbage", "truncated", "wrong_shape"])
async def test_malformed_payload_is_rejected_logged_and_not_retried(
    make_client: MakeClient,
    fake_coingecko: FakeCoinGecko,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    getattr(fake_coingecko.faults, kind)(1)
    result = None
    async with make_client() as client:
        with pytest.raises(MalformedResponseError) as caught:
            result = await client.market_chart("bitcoin", 7)
    assert result is None
    assert caught.value.endpoint == "/coins/{id}/market_chart"
    assert caught.value.reason
    assert len(fake_coingecko.requests) == 1
    [warning] = [r for r in caplog.records if "rejected malformed payload" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert caught.value.reason in warning.getMessage()


async def test_401_is_not_retried(make_client: MakeClient, fake_coingecko: FakeCoinGecko) -> None:
    fake_coingecko.faults.unauthorized(1)
    async with make_client() as client:
        with pytest.raises(UpstreamAuthError) as caught:
            await client.trending()
        assert (await client.ping()).gecko_says  # the fault was one response only
    assert caught.value.error_code == 10002
    assert [r.status for r in fake_coingecko.requests] == [401, 200]


async def wait_for_state(breaker: CircuitBreaker, state: str) -> None:
    """Poll the breaker's own view (5 s at most) until it reports `state`."""
    async with asyncio.timeout(5):
        while True:  # the breaker's clock decides, so poll its own view
            if (await breaker.snapshot()).state == state:
                return
            await asyncio.sleep(0.02)


async def test_breaker_opens_refuses_without_calling_and_recovers(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko, make_breaker: MakeBreaker
) -> None:
    breaker = make_breaker(failure_threshold=3, reset_seconds=0.3)
    fake_coingecko.faults.server_error(100, status=503)
    async with make_client(breaker=breaker, coingecko_max_retries=6) as client:
        with pytest.raises(CircuitOpenError) as caught:
            await client.ping()
        assert len(fake_coingecko.requests) == 3
        with pytest.raises(CircuitOpenError):
            await client.coins_markets()
        assert len(fake_coingecko.requests) == 3  # refused locally, the fake saw nothing
        snapshot = await breaker.snapshot()
        assert (snapshot.state, snapshot.failures) == ("open", 3)
        assert caught.value.retry_at == snapshot.next_attempt_at

        fake_coingecko.faults.clear()
        await wait_for_state(breaker, "half_open")
        assert (await client.ping()).gecko_says  # the one trial call
    assert len(fake_coingecko.requests) == 4
    closed = await breaker.snapshot()
    assert (closed.state, closed.failures, closed.opened_at) == ("closed", 0, None)
    await breaker.aclose()


async def test_failed_half_open_trial_opens_the_circuit_again(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko, make_breaker: MakeBreaker
) -> None:
    breaker = make_breaker(failure_threshold=2, reset_seconds=0.3)
    fake_coingecko.faults.server_error(2, status=500)
    async with make_client(breaker=breaker) as client:
        with pytest.raises(CircuitOpenError):
            await client.ping()
        await wait_for_state(breaker, "half_open")
        fake_coingecko.faults.garbage(1)  # a malformed answer is a failed trial too
        with pytest.raises(MalformedResponseError):
            await client.ping()
        assert (await breaker.snapshot()).state == "open"
        with pytest.raises(CircuitOpenError):
            await client.ping()
    assert len(fake_coingecko.requests) == 3
    await breaker.aclose()


class RecordingLimiter(RateLimiter):
    """A real limiter that also keeps the grants it handed out."""

    def __init__(self, config: BucketConfig) -> None:
        super().__init__(config)
        self.grants: list[Grant] = []

    async def acquire(self, *, max_wait: float | None = None) -> Grant:
        grant = await super().acquire(max_wait=max_wait)
        self.grants.append(grant)
        return grant


async def test_every_attempt_waits_for_its_token_before_reaching_the_wire(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    capacity, rate = 2, 20.0
    limiter = RecordingLimiter(BucketConfig(capacity=capacity, refill_per_second=rate))
    fake_coingecko.faults.server_error(2, status=503)  # retries take tokens too
    async with make_client(limiter=limiter) as client:
        await asyncio.gather(*(client.ping() for _ in range(10)))
    assert len(limiter.grants) == client.calls_made == len(fake_coingecko.requests) == 12
    ready = sorted(g.ready_at for g in limiter.grants)  # same monotonic clock as the log
    arrivals = sorted(r.at for r in fake_coingecko.requests)
    # the k-th request can only arrive once k tokens were usable
    assert all(arrived >= usable for arrived, usable in zip(arrivals, ready, strict=True))
    for i, first in enumerate(ready):
        for j in range(i, len(ready)):
            assert j - i + 1 <= capacity + rate * (ready[j] - first) + 1e-9


@pytest.fixture
def secret_key() -> Iterator[str]:
    yield "CG-demo-never-log-me-7c0ffee"


async def test_api_key_never_reaches_logs_reprs_or_errors(
    make_client: MakeClient,
    fake_coingecko: FakeCoinGecko,
    caplog: pytest.LogCaptureFixture,
    secret_key: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    faults = fake_coingecko.faults
    faults.rate_limit(1, retry_after=0)
    faults.server_error(1, status=503)
    faults.slow(1, delay=1.0)
    async with make_client(
        coingecko_api_key=SecretStr(secret_key), coingecko_timeout_seconds=0.3
    ) as client:
        await client.ping()
        faults.garbage(1)
        with pytest.raises(MalformedResponseError) as malformed:
            await client.coins_list()
        with pytest.raises(UpstreamNotFoundError) as missing:
            await client.market_chart("no-such-coin", 1)
        shown = " ".join([repr(client), str(malformed.value), str(missing.value)])
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert secret_key not in caplog.text
    assert secret_key not in shown
    assert all(r.key_type == "demo" for r in fake_coingecko.requests)
    assert len(fake_coingecko.requests) == 6


@pytest.mark.parametrize("kind", ["garbage", "truncated", "wrong_shape"])
async def test_malformed_payload_is_rejected_the_same_way_as_columns(
    make_client: MakeClient,
    fake_coingecko: FakeCoinGecko,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    getattr(fake_coingecko.faults, kind)(1)
    start = datetime(2021, 6, 1, tzinfo=UTC)
    async with make_client() as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.market_chart_range_columns("bitcoin", start, start + timedelta(days=7))
    assert caught.value.endpoint == "/coins/{id}/market_chart/range"
    assert caught.value.reason
    assert len(fake_coingecko.requests) == 1
    [warning] = [r for r in caplog.records if "rejected malformed payload" in r.getMessage()]
    assert caught.value.reason in warning.getMessage()
