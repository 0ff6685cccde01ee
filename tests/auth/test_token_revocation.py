"""Access tokens stop working the moment the login, password, role or account behind them ends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cryptopredict.auth import security, service
from cryptopredict.core import migrations
from tests.conftest import TEST_SECRET
from tests.factories import DEFAULT_PASSWORD, Factory

ME = "/api/v1/users/me"


def _login(client: TestClient, email: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _me(client: TestClient, access_token: str) -> Any:
    return client.get(ME, headers={"Authorization": f"Bearer {access_token}"})


def _assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "not_authenticated"


def test_logout_ends_the_access_token(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    tokens = _login(client, user.email)
    assert _me(client, tokens["access_token"]).status_code == 200
    out = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    _assert_refused(_me(client, tokens["access_token"]))


def test_another_login_refreshes_after_logout(client: TestClient, factory: Factory) -> None:
    """Logout ends every access token of the user at once, but only the one login's refresh
    tokens: the other device gets one 401 and carries on after a refresh."""
    user = factory.user()
    phone, laptop = _login(client, user.email), _login(client, user.email)
    client.post("/api/v1/auth/logout", json={"refresh_token": phone["refresh_token"]})
    _assert_refused(_me(client, laptop["access_token"]))
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    assert _me(client, renewed.json()["access_token"]).status_code == 200
    _assert_refused(
        client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    )


def test_refresh_reuse_ends_the_family_access_tokens(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    first = _login(client, user.email)
    stolen = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 200
    thief_access = stolen.json()["access_token"]
    assert _me(client, thief_access).status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    _assert_refused(_me(client, thief_access))
    _assert_refused(_me(client, first["access_token"]))
    assert _me(client, _login(client, user.email)["access_token"]).status_code == 200


def test_password_change_in_the_same_second_ends_older_tokens(
    client: TestClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is signed at 0.1 s and the password changed at 0.6 s of one second."""
    second = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock = [second + dt.timedelta(milliseconds=100)]
    monkeypatch.setattr(security, "utcnow", lambda: clock[0])
    monkeypatch.setattr(service, "utcnow", lambda: clock[0])
    user = factory.user()
    old = _login(client, user.email)
    clock[0] = second + dt.timedelta(milliseconds=600)
    changed = client.post(
        "/api/v1/users/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-pass"},
        headers={"Authorization": f"Bearer {old['access_token']}"},
    )
    assert changed.status_code == 204
    _assert_refused(_me(client, old["access_token"]))
    clock[0] = second + dt.timedelta(milliseconds=900)
    new = _login(client, user.email, "brand-new-pass")
    assert _me(client, new["access_token"]).status_code == 200


def test_role_change_ends_the_access_token(client: TestClient, factory: Factory) -> None:
    admin, user = factory.admin(), factory.user()
    tokens = _login(client, user.email)
    promoted = client.patch(
        f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=factory.headers(admin)
    )
    assert promoted.status_code == 200, promoted.text
    _assert_refused(_me(client, tokens["access_token"]))
    assert _me(client, _login(client, user.email)["access_token"]).status_code == 200


def test_name_change_by_an_admin_keeps_the_access_token(
    client: TestClient, factory: Factory
) -> None:
    admin, user = factory.admin(), factory.user()
    tokens = _login(client, user.email)
    renamed = client.patch(
        f"/api/v1/users/{user.id}", json={"full_name": "Renamed"}, headers=factory.headers(admin)
    )
    assert renamed.status_code == 200
    assert _me(client, tokens["access_token"]).status_code == 200


def test_deactivation_ends_the_access_token_for_good(client: TestClient, factory: Factory) -> None:
    """Re-activating the account does not bring tokens issued before deactivation back."""
    admin, user = factory.admin(), factory.user()
    tokens = _login(client, user.email)
    headers = factory.headers(admin)
    assert client.post(f"/api/v1/users/{user.id}/deactivate", headers=headers).status_code == 200
    _assert_refused(_me(client, tokens["access_token"]))
    assert client.post(f"/api/v1/users/{user.id}/activate", headers=headers).status_code == 200
    _assert_refused(_me(client, tokens["access_token"]))
    assert _me(client, _login(client, user.email)["access_token"]).status_code == 200


def _unmarked_token(user_id: int, **extra: Any) -> str:
    """An access token as signed before generations existed (no `gen` claim)."""
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "type": "access", "jti": "old", "iat": now, **extra}
    claims["exp"] = now + dt.timedelta(minutes=5)
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def test_token_without_generation_counts_as_generation_zero(
    client: TestClient, factory: Factory
) -> None:
    user = factory.user()
    unmarked = _unmarked_token(user.id)
    assert _me(client, unmarked).status_code == 200
    tokens = _login(client, user.email)
    client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    _assert_refused(_me(client, unmarked))


@pytest.mark.parametrize("generation", ["0", 0.0, True, -1, None])
def test_malformed_generation_is_refused(
    client: TestClient, factory: Factory, generation: object
) -> None:
    user = factory.user()
    _assert_refused(_me(client, _unmarked_token(user.id, gen=generation)))


def test_migration_starts_users_who_changed_password_at_generation_one(tmp_path: Path) -> None:
    """Unmarked tokens used to be refused when older than a password change; after the upgrade
    those users' unmarked tokens are refused outright (generation 1), the others' still work."""
    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    migrations.upgrade(url, "0005")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (email, hashed_password, role, is_active, "
                    "password_changed_at) VALUES ('kept@x.io', 'h', 'user', 1, NULL), "
                    "('changed@x.io', 'h', 'user', 1, '2026-01-01 00:00:00')"
                )
            )
        migrations.upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT email, token_generation FROM users")).all()
    finally:
        engine.dispose()
    assert dict(rows) == {"kept@x.io": 0, "changed@x.io": 1}
