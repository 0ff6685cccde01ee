"""Repeated mirror requests answered from the cache before routing: the same bytes and
headers as the route's answer, never an error or a body from before a write, and over Redis a
write through one application reaches another's in-process copies."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import DEFAULT_STALENESS_SECONDS, RedisCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine, get_session
from cryptopredict.main import create_app
from cryptopredict.marketdata import mirror
from tests.factories import Factory

API = "/api/v3"
PRICE = f"{API}/simple/price?ids=fast&vs_currencies=usd"


def _unreachable() -> Iterator[Session]:
    raise AssertionError("the route was reached")
    yield  # pragma: no cover


@pytest.fixture
def priced(factory: Factory) -> Cryptocurrency:
    coin = factory.coin("fast", symbol="fst")
    factory.daily_prices(coin, [10.0, 11.0])
    return coin


def test_repeat_is_answered_before_routing_with_the_same_bytes_and_headers(
    client: TestClient, priced: Cryptocurrency
) -> None:
    routed = client.get(PRICE)
    assert routed.status_code == 200 and routed.json() == {"fast": {"usd": 11.0}}
    client.app.dependency_overrides[get_session] = _unreachable  # type: ignore[attr-defined]
    repeated = client.get(PRICE)
    assert repeated.status_code == 200
    assert repeated.content == routed.content
    assert repeated.headers.items() == routed.headers.items()
    # A request never answered before still goes to the route (which now fails loudly).
    with pytest.raises(AssertionError, match="route was reached"):
        client.get(f"{PRICE}&precision=2")


def test_reordered_and_unknown_parameters_are_answered_before_routing(
    client: TestClient, priced: Cryptocurrency
) -> None:
    """No route reads a parameter it does not declare, so a cache-buster or a reordered query
    is the same request; one the routes do read is never dropped, however it is spelled."""
    routed = client.get(PRICE)
    client.app.dependency_overrides[get_session] = _unreachable  # type: ignore[attr-defined]
    for variant in (
        f"{API}/simple/price?vs_currencies=usd&ids=fast",
        f"{PRICE}&x=1",
        f"{PRICE}&_=1712345678901",
        f"{API}/simple/price?&utm_source=feed&ids=fast&junk&vs_currencies=usd&",
    ):
        repeated = client.get(variant)
        assert (repeated.status_code, repeated.content) == (200, routed.content), variant
    for different in (
        f"{PRICE}&%69ds=other",  # `ids` percent-encoded: the route reads `other`
        f"{PRICE}&ids=other",  # a repeated parameter: the route reads the last one
        f"{API}/simple/price?ids=other&vs_currencies=usd&ids=fast",
    ):
        with pytest.raises(AssertionError, match="route was reached"):
            client.get(different)


def test_errors_are_never_answered_before_routing(
    client: TestClient, priced: Cryptocurrency
) -> None:
    bad = f"{PRICE}&precision=banana"
    for _ in range(2):
        response = client.get(bad)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid precision"}


def test_a_write_ends_the_repeat(
    client: TestClient, factory: Factory, priced: Cryptocurrency
) -> None:
    assert client.get(PRICE).json() == {"fast": {"usd": 11.0}}
    written = client.post(
        "/api/v1/prices/bulk",
        json={
            "points": [
                {"coin": "fast", "interval": "1d", "timestamp": "2024-01-03T00:00:00Z", "price": 12}
            ]
        },
        headers=factory.headers(factory.admin()),
    )
    assert written.status_code == 200, written.text
    assert client.get(PRICE).json() == {"fast": {"usd": 12.0}}


def test_write_through_one_app_reaches_another_apps_copies_over_redis(
    db_session: Session,
    settings: Settings,
    database_url: str,
    factory: Factory,
    priced: Cryptocurrency,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reading app stands for one worker, `writer` for a sync in another process."""
    monkeypatch.setattr(mirror, "PRICES_NAMESPACE", f"prices-{uuid.uuid4().hex}")
    app = create_app(settings, database=Database(create_db_engine(database_url)))
    app.dependency_overrides[get_session] = lambda: db_session
    reader_cache, writer = RedisCache(redis_url), RedisCache(redis_url)
    app.state.cache = reader_cache
    with TestClient(app) as reader:  # one event loop for the whole block
        try:
            deadline = time.monotonic() + 3
            while not (reader.get(PRICE).status_code == 200 and reader_cache.in_step):
                assert time.monotonic() < deadline, "never got in step with Redis"
                time.sleep(0.01)
            assert reader.get(PRICE).json() == {"fast": {"usd": 11.0}}
            assert reader_cache.peek(PRICE) is not None  # held in this process
            factory.daily_prices(priced, [13.0], start=dt.datetime(2024, 1, 3, tzinfo=dt.UTC))
            writer.invalidate(mirror.PRICES_NAMESPACE)
            written = time.monotonic()
            while reader.get(PRICE).json() != {"fast": {"usd": 13.0}}:
                assert time.monotonic() - written < DEFAULT_STALENESS_SECONDS
                time.sleep(0.005)
        finally:
            reader.portal.call(reader_cache.aclose)  # type: ignore[union-attr]
    asyncio.run(writer.aclose())
