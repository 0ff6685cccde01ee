"""Failed logins are limited per account and per IP, in memory and shared through Redis."""

from __future__ import annotations

import uuid

import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.auth.throttle import MemoryFailureCounter, RedisFailureCounter
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, get_session
from cryptopredict.core.redis import connect_redis
from cryptopredict.main import create_app
from tests.factories import DEFAULT_PASSWORD, Factory


def _attempt(client: TestClient, email: str, password: str) -> int:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


def test_account_is_locked_after_max_failures(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    limit = client.app.state.settings.login_max_attempts  # type: ignore[attr-defined]
    for _ in range(limit):
        assert _attempt(client, user.email, "wrong-password") == 401
    blocked = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert blocked.json()["error"]["details"]["retry_after"] >= 1


def test_success_resets_the_account_counter(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    limit = client.app.state.settings.login_max_attempts  # type: ignore[attr-defined]
    for _ in range(limit - 1):
        _attempt(client, user.email, "wrong-password")
    assert _attempt(client, user.email, DEFAULT_PASSWORD) == 200
    for _ in range(limit - 1):
        assert _attempt(client, user.email, "wrong-password") == 401
    assert _attempt(client, user.email, DEFAULT_PASSWORD) == 200


def test_ip_is_limited_across_accounts(client: TestClient, factory: Factory) -> None:
    ip_limit = client.app.state.settings.login_ip_max_attempts  # type: ignore[attr-defined]
    for i in range(ip_limit):
        assert _attempt(client, f"nobody{i}@example.com", "wrong-password") == 401
    user = factory.user()
    assert _attempt(client, user.email, DEFAULT_PASSWORD) == 429


def test_memory_counter_window_expires() -> None:
    now = [1000.0]
    counter = MemoryFailureCounter(clock=lambda: now[0])
    for _ in range(3):
        counter.record_failure("k", window_seconds=60)
    assert counter.blocked_for("k", limit=3) == 60
    now[0] += 59.5
    assert counter.blocked_for("k", limit=3) == 1
    now[0] += 1
    assert counter.blocked_for("k", limit=3) == 0


def test_redis_counter_is_shared_between_app_instances(
    redis_url: str, settings: Settings, app_database: Database, db_session: Session
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url})
    email = f"shared-{uuid.uuid4().hex}@example.com"
    apps = [create_app(shared, database=app_database) for _ in range(2)]
    for app in apps:
        app.dependency_overrides[get_session] = lambda: db_session
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for i in range(shared.login_max_attempts):
            client = first if i % 2 == 0 else second
            assert _attempt(client, email, "wrong-password") == 401
        assert _attempt(first, email, "wrong-password") == 429
        assert _attempt(second, email, "wrong-password") == 429
    redis.Redis.from_url(redis_url).delete(f"cryptopredict:login:account:{email}")


def test_redis_counter_falls_back_to_memory_when_redis_is_down() -> None:
    dead = connect_redis("redis://127.0.0.1:1/0")
    assert dead is not None
    counter = RedisFailureCounter(dead)
    for _ in range(2):
        counter.record_failure("k", window_seconds=60)
    assert counter.blocked_for("k", limit=2) > 0
    counter.reset("k")
    assert counter.blocked_for("k", limit=2) == 0
