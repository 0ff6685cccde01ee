"""Registration costs the same whether or not the email is taken."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cryptopredict.auth import service
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
