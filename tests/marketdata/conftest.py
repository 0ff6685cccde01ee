"""Market-data fixtures: one fake CoinGecko per test module over real HTTP, reset per test;
clients, limiters and breakers pointed at it; Redis keys private to each test."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.client import CoinGeckoClient
from cryptopredict.marketdata.ratelimit import BucketConfig, RateLimiter
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko
from tests.factories import Factory

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


# ---- a small market for the mirror's tests ----------------------------------------------

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
IMAGE = "https://assets.coingecko.com/coins/images/1/large/bitcoin.png?1547033579"


def set_image(session: Session, *coins: Cryptocurrency) -> None:
    """Give coins an image URL, as discovery from CoinGecko does."""
    for coin in coins:
        coin.image_url = IMAGE
    session.commit()


HOURLY_CLOSES = [100.0 + k for k in range(30)]
HOURLY_CLOSES[10] = 90.0  # a dip inside the last 24 h
HOURLY_CLOSES[20] = 150.0  # and a spike


@pytest.fixture
def market(factory: Factory, db_session: Session) -> dict[str, Cryptocurrency]:
    """alpha: 30 hourly bars from T0 (rank 1); beta: 3 daily bars (rank 2, more volume);
    gamma: known but never priced (unranked); delta: inactive."""
    alpha = factory.coin("alpha", symbol="alp", name="Alpha", rank=1)
    beta = factory.coin("beta", symbol="bet", name="Beta", rank=2)
    gamma = factory.coin("gamma", symbol="gam", name="Gamma")
    delta = factory.coin("delta", symbol="del", name="Delta", rank=3, is_active=False)
    set_image(db_session, alpha, beta, gamma, delta)
    factory.daily_prices(alpha, HOURLY_CLOSES, start=T0, interval="1h", step=HOUR)
    factory.daily_prices(beta, [50.0, 60.0, 55.0], start=T0, volume=5000.0)
    factory.daily_prices(delta, [1.0], start=T0)
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}
