"""Every way a bearer token must be refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_SECRET
from tests.factories import Factory


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "type": "access",
        "jti": "test-jti",
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _me(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})


def _assert_rejected(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_well_formed_token_is_accepted(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    token = jwt.encode(_claims(user.id), TEST_SECRET, algorithm="HS256")
    assert _me(client, token).status_code == 200


def test_missing_and_malformed_authorization(client: TestClient) -> None:
    _assert_rejected(client.get("/api/v1/users/me"))
    _assert_rejected(_me(client, "not.a.jwt"))
    _assert_rejected(
        client.get("/api/v1/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    )


def test_alg_none_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user.id))}."
    _assert_rejected(_me(client, unsigned))


def test_other_algorithm_with_same_key_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    token = jwt.encode(_claims(user.id), TEST_SECRET, algorithm="HS512")
    _assert_rejected(_me(client, token))


def test_wrong_key_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    token = jwt.encode(_claims(user.id), "another-secret-of-sufficient-length-000000", "HS256")
    _assert_rejected(_me(client, token))


def test_tampered_payload_is_rejected(client: TestClient, factory: Factory) -> None:
    victim = factory.user()
    attacker = factory.user()
    token = jwt.encode(_claims(attacker.id), TEST_SECRET, algorithm="HS256")
    header, _payload, signature = token.split(".")
    forged = f"{header}.{_b64(_claims(victim.id))}.{signature}"
    _assert_rejected(_me(client, forged))


def test_expired_token_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    token = jwt.encode(
        _claims(user.id, iat=int(past.timestamp()) - 60, exp=int(past.timestamp())),
        TEST_SECRET,
        algorithm="HS256",
    )
    response = _me(client, token)
    _assert_rejected(response)
    assert "expired" in response.json()["error"]["message"].lower()


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "jti", "type"])
def test_token_missing_a_required_claim_is_rejected(
    client: TestClient, factory: Factory, missing: str
) -> None:
    user = factory.user()
    claims = _claims(user.id)
    del claims[missing]
    _assert_rejected(_me(client, jwt.encode(claims, TEST_SECRET, algorithm="HS256")))


def test_wrong_token_type_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    token = jwt.encode(_claims(user.id, type="refresh"), TEST_SECRET, algorithm="HS256")
    _assert_rejected(_me(client, token))


def test_non_numeric_subject_is_rejected(client: TestClient, factory: Factory) -> None:
    factory.user()
    token = jwt.encode(_claims(0, sub="admin"), TEST_SECRET, algorithm="HS256")
    _assert_rejected(_me(client, token))


def test_token_of_deactivated_user_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user(is_active=False)
    _assert_rejected(_me(client, jwt.encode(_claims(user.id), TEST_SECRET, algorithm="HS256")))


def test_token_of_deleted_user_is_rejected(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    token = jwt.encode(_claims(user.id), TEST_SECRET, algorithm="HS256")
    factory.session.delete(user)
    factory.session.commit()
    _assert_rejected(_me(client, token))


def test_deactivated_user_cannot_log_in_or_refresh(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    admin = factory.admin()
    tokens = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct-horse-battery"}
    ).json()
    deactivate = client.post(f"/api/v1/users/{user.id}/deactivate", headers=factory.headers(admin))
    assert deactivate.status_code == 200
    _assert_rejected(_me(client, tokens["access_token"]))
    _assert_rejected(
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    )
    _assert_rejected(
        client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "correct-horse-battery"}
        )
    )
