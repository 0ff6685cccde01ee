"""Registration costs the same whether or not the email is taken, and is limited per address,
in memory and shared through Redis."""

from __future__ import annotations

import re
import uuid

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.auth import service
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, get_session
from cryptopredict.main import create_app
from tests.factories import Factory

REGISTER = "/api/v1/auth/register"


def _register(client: TestClient, email: str) -> int:
    return client.post(REGISTER, json={"email": email, "password": "s3cret-pass"}).status_code


def test_a_taken_email_costs_the_same_password_hashing_as_a_new_one(
    client: TestClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    real_hash = service.hash_password

    def counting_hash(password: str) -> str:
        hashed.append(password)
        return real_hash(password)

    monkeypatch.setattr(service, "hash_password", counting_hash)
    taken = factory.user()

    assert _register(client, "fresh@example.com") == 201
    assert hashed == ["s3cret-pass"]
    hashed.clear()
    assert _register(client, taken.email.upper()) == 409
    assert hashed == ["s3cret-pass"]


def test_registrations_from_one_address_are_limited(
    client: TestClient, factory: Factory, db_session: Session
) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    taken = factory.user()
    for i in range(settings.register_max_attempts):  # conflicts count as attempts too
        if i % 2:
            assert _register(client, taken.email) == 409
        else:
            assert _register(client, f"new{i}@example.com") == 201

    refused = client.post(REGISTER, json={"email": "late@example.com", "password": "s3cret-pass"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= settings.register_window_seconds
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= refused.json()["error"]["details"]["retry_after"]
    assert service.get_by_email(session=db_session, email="late@example.com") is None

    elsewhere = TestClient(client.app, client=("203.0.113.9", 40000))
    assert _register(elsewhere, "late@example.com") == 201


def test_the_registration_limit_is_shared_between_app_instances(
    redis_url: str, settings: Settings, app_database: Database, db_session: Session
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url})
    address = f"reg-{uuid.uuid4().hex}"
    apps = [create_app(shared, database=app_database) for _ in range(2)]
    for app in apps:
        app.dependency_overrides[get_session] = lambda: db_session
    try:
        with (
            TestClient(apps[0], client=(address, 40000)) as first,
            TestClient(apps[1], client=(address, 40000)) as second,
        ):
            for i in range(shared.register_max_attempts):
                client = first if i % 2 == 0 else second
                assert _register(client, f"shared{i}-{address}@example.com") == 201
            assert _register(first, f"late-{address}@example.com") == 429
            assert _register(second, f"late-{address}@example.com") == 429
    finally:
        keys = redis.Redis.from_url(redis_url)
        stale = list(keys.scan_iter(f"cryptopredict:*{address}*"))
        if stale:
            keys.delete(*stale)


def test_the_openapi_documents_the_registration_limit(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"][REGISTER]["post"]["responses"]
    assert {"201", "409", "429"} <= set(responses)


@pytest.mark.parametrize("email", ["a@b.test", "a@x.LOCALHOST", "a@example.com"])
def test_reserved_domains_are_refused_as_documented(client: TestClient, email: str) -> None:
    schema = client.app.openapi()["components"]["schemas"]["UserCreate"]  # type: ignore[attr-defined]
    documented = re.search(schema["properties"]["email"]["pattern"], email) is not None

    response = client.post(
        "/api/v1/auth/register", json={"email": email, "password": "a-long-password"}
    )

    assert response.status_code == (201 if documented else 422), response.text
