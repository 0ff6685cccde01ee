"""Browser logins: the access token in the body only, the refresh token in an httpOnly,
SameSite=Strict cookie scoped to the session routes, rotated on refresh and cleared on
logout; the JSON token flow is unchanged for programmatic clients."""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi.testclient import TestClient

from tests.factories import DEFAULT_PASSWORD, Factory

SESSION = "/api/v1/auth/session"


def _set_cookie(response_headers: list[tuple[str, str]]) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for name, value in response_headers:
        if name.lower() == "set-cookie":
            cookie.load(value)
    return cookie


def _hold(client: TestClient, cookie: str | None) -> None:
    """The browser's cookie jar holding only this refresh cookie (or none)."""
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set("cp_refresh", cookie)


def _log_in(client: TestClient, factory: Factory) -> tuple[str, str]:
    """A browser login: (access token, refresh cookie value)."""
    user = factory.user()
    response = client.post(SESSION, json={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token
    morsel = _set_cookie(response.headers.multi_items())["cp_refresh"]
    assert morsel["httponly"] is True and morsel["samesite"] == "strict"
    assert morsel["path"] == SESSION and not morsel["secure"]  # plain HTTP here
    assert int(morsel["max-age"]) == factory.settings.refresh_token_days * 86400
    return body["access_token"], morsel.value


def test_a_browser_login_keeps_the_refresh_token_in_an_httponly_cookie(
    client: TestClient, factory: Factory
) -> None:
    access, _ = _log_in(client, factory)
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200


def test_refresh_rotates_the_cookie_and_a_reused_one_revokes_the_login(
    client: TestClient, factory: Factory
) -> None:
    _, first = _log_in(client, factory)
    _hold(client, first)
    refreshed = client.post(f"{SESSION}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    second = _set_cookie(refreshed.headers.multi_items())["cp_refresh"].value
    assert second != first and refreshed.json()["access_token"]
    _hold(client, first)
    reused = client.post(f"{SESSION}/refresh")
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "not_authenticated"
    _hold(client, second)
    after = client.post(f"{SESSION}/refresh")
    assert after.status_code == 401  # the whole login was revoked


def test_refresh_without_a_cookie_is_a_401_in_the_error_shape(client: TestClient) -> None:
    response = client.post(f"{SESSION}/refresh")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "No browser session: log in first"


def test_logout_revokes_the_login_and_clears_the_cookie_idempotently(
    client: TestClient, factory: Factory
) -> None:
    _, cookie = _log_in(client, factory)
    _hold(client, cookie)
    ended = client.delete(SESSION)
    assert ended.status_code == 204
    cleared = _set_cookie(ended.headers.multi_items())["cp_refresh"]
    assert cleared.value == "" and int(cleared["max-age"]) == 0
    _hold(client, cookie)
    assert client.post(f"{SESSION}/refresh").status_code == 401
    _hold(client, cookie)
    assert client.delete(SESSION).status_code == 204
    assert client.delete(SESSION).status_code == 204


def test_logout_clears_a_malformed_cookie_too(client: TestClient) -> None:
    _hold(client, "not a token; really {}")
    ended = client.delete(SESSION)
    assert ended.status_code == 204
    assert _set_cookie(ended.headers.multi_items())["cp_refresh"].value == ""


def test_over_https_the_cookie_is_secure(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    secure = TestClient(client.app, base_url="https://testserver")
    response = secure.post(SESSION, json={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert _set_cookie(response.headers.multi_items())["cp_refresh"]["secure"] is True
