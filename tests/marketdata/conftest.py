"""Market-data fixtures: one fake CoinGecko per test module over real HTTP, reset per test;
clients, limiters and breakers pointed at it; Redis keys private to each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from cryptopredict.core.config import Settings
from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.ratelimit import BucketConfig, RateLimiter
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko

TEST_REDIS_ENV = "CRYPTOPREDICT_TEST_REDIS_URL"

MakeClient = Callable[..., CoinGeckoClient]
MakeBreaker = Callable[..., CircuitBreaker]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the application."""
    return "asyncio"


@pytest.fixture(scope="module")
def fake_coingecko_server() -> Iterator[FakeCoinGecko]:
    """The fake CoinGecko (uvicorn in a thread), started once per test module."""
    with running_fake_coingecko() as fake:
        yield fake


@pytest.fixture
def fake_coingecko(fake_coingecko_server: FakeCoinGecko) -> Iterator[FakeCoinGecko]:
    """The module's fake with no faults, an empty request log and its default clock and key
    rules, so no test sees another's switches. Point a client at `fake_coingecko.base_url`."""
    fake_coingecko_server.reset()
    yield fake_coingecko_server
    fake_coingecko_server.reset()


@pytest.fixture
def fake_coingecko_settings(fake_coingecko: FakeCoinGecko, tmp_path: Any) -> Settings:
    """Settings aimed at the fake: short timeout, quick backoff cap, no Redis."""
    return Settings(
        data_dir=tmp_path,
        redis_url=None,
        coingecko_base_url=fake_coingecko.base_url,
        coingecko_api_key=None,
        coingecko_timeout_seconds=0.5,
        coingecko_max_retries=4,
        coingecko_max_backoff_seconds=5.0,
    )


def fast_limiter() -> RateLimiter:
    """An in-process limiter generous enough never to slow a functional test."""
    return RateLimiter(BucketConfig(capacity=1000, refill_per_second=1000))


def lenient_breaker() -> CircuitBreaker:
    """An in-process breaker that only opens when a test means it to."""
    return CircuitBreaker(failure_threshold=1000, reset_seconds=60)


@pytest.fixture
def make_client(fake_coingecko_settings: Settings) -> MakeClient:
    """Build a client for the fake: `make_client(limiter=..., breaker=..., **settings)`.

    Use it as `async with make_client() as client:`; backoff starts at 10 ms so retry tests
    stay fast while still exercising tenacity's real waits.
    """

    def make(
        *,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        backoff_base_seconds: float = 0.01,
        **overrides: Any,
    ) -> CoinGeckoClient:
        settings = Settings(**(fake_coingecko_settings.model_dump() | overrides))
        return CoinGeckoClient(
            settings,
            limiter=limiter or fast_limiter(),
            breaker=breaker or lenient_breaker(),
            backoff_base_seconds=backoff_base_seconds,
        )

    return make


@pytest.fixture
def redis_key(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"cryptopredict:test:{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def make_breaker(request: pytest.FixtureRequest) -> MakeBreaker:
    """Build breakers on each backend in turn (the Redis run needs the test Redis); every
    breaker of one test shares one Redis key, like the workers of one deployment."""
    if request.param == "memory":
        return CircuitBreaker
    url = request.getfixturevalue("redis_url")
    key = request.getfixturevalue("redis_key")

    def make(**options: Any) -> CircuitBreaker:
        return CircuitBreaker(redis_url=url, key=f"{key}:breaker", **options)

    return make
