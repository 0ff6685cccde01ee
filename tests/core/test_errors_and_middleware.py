"""One error shape for every error class; security headers, CORS and body limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, get_session
from cryptopredict.main import create_app
from tests.factories import Factory


def _assert_error_shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


def test_400_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register",
        content=b'{"email": "a@b.co", "password": ',
        headers={"content-type": "application/json"},
    )
    _assert_error_shape(response, 400, "malformed_json")


def test_401_without_token(client: TestClient) -> None:
    _assert_error_shape(client.get("/api/v1/users/me"), 401, "not_authenticated")


def test_403_user_on_admin_route(client: TestClient, factory: Factory) -> None:
    response = client.get("/api/v1/users", headers=factory.headers(factory.user()))
    _assert_error_shape(response, 403, "permission_denied")


def test_404_unknown_route_and_unknown_resource(client: TestClient, factory: Factory) -> None:
    _assert_error_shape(client.get("/api/v1/nothing-here"), 404, "not_found")
    admin = factory.admin()
    _assert_error_shape(
        client.get("/api/v1/users/999999", headers=factory.headers(admin)), 404, "not_found"
    )


def test_405_wrong_method(client: TestClient) -> None:
    _assert_error_shape(client.delete("/health/live"), 405, "method_not_allowed")


def test_409_duplicate(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    response = client.post(
        "/api/v1/auth/register", json={"email": user.email, "password": "long-enough-1"}
    )
    _assert_error_shape(response, 409, "conflict")


def test_422_wrong_types_and_out_of_range_pagination(client: TestClient, factory: Factory) -> None:
    headers = factory.headers(factory.admin())
    wrong_type = client.post("/api/v1/auth/register", json={"email": 5, "password": ["x"]})
    details = _assert_error_shape(wrong_type, 422, "validation_error")["details"]
    assert {tuple(d["loc"]) for d in details} >= {("body", "email"), ("body", "password")}
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}):
        _assert_error_shape(
            client.get("/api/v1/users", params=params, headers=headers), 422, "validation_error"
        )
    # A user id is matched as digits: anything else names no route.
    _assert_error_shape(client.get("/api/v1/users/not-a-number", headers=headers), 404, "not_found")


def test_validation_errors_do_not_echo_passwords(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register", json={"email": "x@example.com", "password": "Zq9x"}
    )
    assert response.status_code == 422
    assert "Zq9x" not in response.text


def test_413_oversized_body(
    settings: Settings, app_database: Database, db_session: Session
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    app = create_app(small, database=app_database)
    app.dependency_overrides[get_session] = lambda: db_session
    with TestClient(app) as client:
        big = {"email": "a@example.com", "password": "p" * 2000}
        _assert_error_shape(
            client.post("/api/v1/auth/register", json=big), 413, "payload_too_large"
        )

        def chunks() -> Iterator[bytes]:
            yield b'{"email": "a@example.com", "password": "'
            for _ in range(10):
                yield b"p" * 200
            yield b'"}'

        streamed = client.post(
            "/api/v1/auth/register", content=chunks(), headers={"content-type": "application/json"}
        )
        _assert_error_shape(streamed, 413, "payload_too_large")
        ok = client.post(
            "/api/v1/auth/register", json={"email": "a@example.com", "password": "fine-pass"}
        )
        assert ok.status_code == 201


def test_security_headers_on_success_and_error(client: TestClient) -> None:
    for response in (client.get("/health/live"), client.get("/missing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "referrer-policy" in response.headers
        assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize("origin", ["https://dash.example.com"])
def test_cors_allows_only_configured_origins(
    settings: Settings, app_database: Database, origin: str
) -> None:
    configured = settings.model_copy(update={"cors_origins": [origin]})
    with TestClient(create_app(configured, database=app_database)) as client:
        allowed = client.options(
            "/api/v1/coins",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert allowed.headers["access-control-allow-origin"] == origin
        denied = client.get("/health/live", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in denied.headers


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/auth/login" in schema["paths"]
    assert "ErrorResponse" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200
