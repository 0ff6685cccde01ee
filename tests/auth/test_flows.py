"""Register, login, refresh with rotation and reuse detection, logout, me, password change."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import DEFAULT_PASSWORD, Factory


def _login(client: TestClient, email: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_then_login_then_me(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "Alice@Example.COM", "password": "s3cret-pass", "full_name": "Alice"},
    )
    assert response.status_code == 201
    created = response.json()
    assert created["email"] == "alice@example.com"
    assert created["role"] == "user"
    assert "password" not in response.text and "hashed" not in response.text

    tokens = _login(client, "ALICE@example.com", "s3cret-pass")
    assert tokens["token_type"] == "bearer"
    me = client.get("/api/v1/users/me", headers=_bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == created["id"]
    assert me.json()["last_login_at"] is not None


def test_register_duplicate_email_any_case_is_conflict(client: TestClient) -> None:
    body = {"email": "bob@example.com", "password": "s3cret-pass"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    again = client.post("/api/v1/auth/register", json={**body, "email": "BOB@example.com"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_register_rejects_bad_email_and_short_password(client: TestClient) -> None:
    bad_email = client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": "s3cret-pass"}
    )
    assert bad_email.status_code == 422
    assert bad_email.json()["error"]["details"][0]["loc"] == ["body", "email"]
    short = client.post("/api/v1/auth/register", json={"email": "c@example.com", "password": "x"})
    assert short.status_code == 422


def test_oauth2_form_login(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    response = client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    me = client.get("/api/v1/users/me", headers=_bearer(response.json()["access_token"]))
    assert me.json()["email"] == user.email


def test_wrong_password_is_401_with_bearer_challenge(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    response = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_unknown_email_is_the_same_401(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "whatever1"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Incorrect email or password"


def test_refresh_rotates_and_old_token_stops_working(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    first = _login(client, user.email)
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        client.get("/api/v1/users/me", headers=_bearer(second["access_token"])).status_code == 200
    )
    # The rotated token keeps working for the next rotation.
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_family(
    client: TestClient, factory: Factory
) -> None:
    user = factory.user()
    first = _login(client, user.email)
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    # The legitimate newest token of that family is now revoked too.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    # Another login (another family) is unaffected.
    other = _login(client, user.email)
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
        ).status_code
        == 200
    )


def test_logout_revokes_refresh_token(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    tokens = _login(client, user.email)
    out = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def test_access_token_is_not_a_refresh_token(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    tokens = _login(client, user.email)
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert response.status_code == 401
    assert (
        client.get("/api/v1/users/me", headers=_bearer(tokens["refresh_token"])).status_code == 401
    )


def test_change_password_invalidates_old_credentials(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    tokens = _login(client, user.email)
    wrong = client.post(
        "/api/v1/users/me/password",
        json={"current_password": "not-it-at-all", "new_password": "brand-new-pass"},
        headers=_bearer(tokens["access_token"]),
    )
    assert wrong.status_code == 401
    changed = client.post(
        "/api/v1/users/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-pass"},
        headers=_bearer(tokens["access_token"]),
    )
    assert changed.status_code == 204
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    old_login = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert old_login.status_code == 401
    _login(client, user.email, "brand-new-pass")


def test_update_own_profile(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    response = client.patch(
        "/api/v1/users/me", json={"full_name": "New Name"}, headers=factory.headers(user)
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "New Name"
    sneaky = client.patch("/api/v1/users/me", json={"role": "admin"}, headers=factory.headers(user))
    assert sneaky.status_code == 422
