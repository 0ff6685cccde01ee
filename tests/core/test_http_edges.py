"""HTTP at the framework's edges: oversized URLs and headers, routes and methods that do not
exist, HEAD and OPTIONS, server errors and slash redirects all answer in the error shape of
the path (the one JSON shape, CoinGecko's under /api/v3), under any ASGI server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, get_session
from cryptopredict.core.routing import install_routing_rules
from cryptopredict.main import create_app

V1 = "/api/v1"
V3 = "/api/v3"


def assert_api_error(response: Any, status: int, code: str) -> None:
    """Answered in the one JSON error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def assert_coingecko_error(response: Any, status: int) -> None:
    """Answered in CoinGecko's `{"error": "..."}` shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str) and body["error"]


def allowed(response: Any) -> set[str]:
    """The methods an Allow header lists."""
    return {method.strip() for method in response.headers["allow"].split(",")}


@pytest.fixture
def http(client: TestClient) -> Iterator[TestClient]:
    """A client that answers a server error as a 500 response instead of raising it."""
    with TestClient(client.app, raise_server_exceptions=False) as bare:
        yield bare


# ---- URL and header limits --------------------------------------------------------------


def test_a_long_url_is_refused_with_414(client: TestClient, settings: Settings) -> None:
    too_long = "x" * settings.max_url_bytes
    assert_api_error(client.get(f"{V1}/coins", params={"q": too_long}), 414, "uri_too_long")
    assert_coingecko_error(client.get(f"{V3}/ping", params={"q": too_long}), 414)
    assert client.get(f"{V3}/ping", params={"q": "x" * 1000}).status_code == 200


def test_the_url_limit_admits_every_documented_parameter_length(
    client: TestClient, settings: Settings
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    longest = 0
    for path, item in paths.items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                most = parameter["schema"].get("maxLength")
                if parameter["in"] == "query" and most is not None:
                    longest = max(longest, len(path) + len(parameter["name"]) + 2 + most)
    assert 1000 < longest <= settings.max_url_bytes


def test_oversized_headers_are_refused_with_431(client: TestClient, settings: Settings) -> None:
    big = {"x-filler": "a" * settings.max_header_bytes}
    assert_api_error(
        client.get("/health/live", headers=big), 431, "request_header_fields_too_large"
    )
    assert_coingecko_error(client.get(f"{V3}/ping", headers=big), 431)
    many = {f"x-filler-{i}": "a" * 100 for i in range(settings.max_header_bytes // 100)}
    assert_api_error(
        client.get("/health/live", headers=many), 431, "request_header_fields_too_large"
    )
    assert client.get("/health/live", headers={"x-filler": "a" * 4000}).status_code == 200


def test_the_limits_are_settings(
    settings: Settings, app_database: Database, db_session: Session
) -> None:
    small = settings.model_copy(update={"max_url_bytes": 300, "max_header_bytes": 2048})
    app = create_app(small, database=app_database)
    app.dependency_overrides[get_session] = lambda: db_session
    with TestClient(app) as client:
        assert client.get("/health/live", params={"q": "x" * 200}).status_code == 200
        assert client.get("/health/live", params={"q": "x" * 300}).status_code == 414
        assert client.get("/health/live", headers={"x-a": "a" * 1500}).status_code == 200
        assert client.get("/health/live", headers={"x-a": "a" * 2048}).status_code == 431


def test_every_native_operation_documents_the_limits(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    native = {path: item for path, item in paths.items() if not path.startswith(V3)}

    assert native
    for path, item in native.items():
        for method, operation in item.items():
            assert {"414", "431"} <= set(operation["responses"]), (method, path)


# ---- every framework error in the path's shape ------------------------------------------


def test_unknown_routes_answer_404_in_the_shape_of_their_prefix(client: TestClient) -> None:
    assert_api_error(client.get(f"{V1}/nothing-here"), 404, "not_found")
    assert_api_error(client.get("/nothing-here"), 404, "not_found")
    assert_coingecko_error(client.get(f"{V3}/nothing-here"), 404)
    assert_coingecko_error(client.get(V3), 404)


def test_405_in_the_shape_of_its_prefix(client: TestClient) -> None:
    assert_api_error(client.put(f"{V1}/coins"), 405, "method_not_allowed")
    assert_coingecko_error(client.put(f"{V3}/ping"), 405)
    assert_coingecko_error(client.post(f"{V3}/simple/price", json={}), 405)


def test_an_oversized_body_under_the_mirror_gets_coingeckos_shape(
    settings: Settings, app_database: Database
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    with TestClient(create_app(small, database=app_database)) as client:
        assert_coingecko_error(client.post(f"{V3}/ping", content=b"x" * 2000), 413)


def test_an_unhandled_exception_is_a_500_in_the_shape_of_its_prefix(
    settings: Settings, app_database: Database
) -> None:
    app = create_app(settings, database=app_database)

    def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route(f"{V1}/explode", explode)
    app.add_api_route(f"{V3}/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        inside = client.get(f"{V1}/explode")
        mirror = client.get(f"{V3}/explode")
    assert_api_error(inside, 500, "internal_error")
    assert_coingecko_error(mirror, 500)
    assert "secret" not in inside.text + mirror.text


# ---- HEAD, OPTIONS and Allow ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health/live", f"{V3}/ping", f"{V1}/coins"])
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    get = client.get(path)
    head = client.head(path)

    assert get.status_code == head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "x-content-type-options"):
        assert head.headers[name] == get.headers[name]


def test_405_lists_every_method_of_the_path_in_allow(client: TestClient) -> None:
    # GET and POST on /portfolios are separate routes: Allow must name both.
    response = client.delete(f"{V1}/portfolios")
    assert_api_error(response, 405, "method_not_allowed")
    assert allowed(response) == {"GET", "HEAD", "OPTIONS", "POST"}
    post_only = client.get(f"{V1}/auth/login")
    assert_api_error(post_only, 405, "method_not_allowed")
    assert allowed(post_only) == {"POST", "OPTIONS"}


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/health/live", {"GET", "HEAD", "OPTIONS"}),
        (f"{V1}/portfolios", {"GET", "HEAD", "OPTIONS", "POST"}),
        (f"{V1}/portfolios/7", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
        # /users/{user_id} matches this path too, but /users/me is the resource it names.
        (f"{V1}/users/me", {"GET", "HEAD", "OPTIONS", "PATCH"}),
        (f"{V1}/users/7", {"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"}),
        (f"{V3}/ping", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_options_answers_204_with_allow(client: TestClient, path: str, methods: set[str]) -> None:
    response = client.options(path)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert allowed(response) == methods


def test_options_on_an_unknown_path_is_404(client: TestClient) -> None:
    assert_api_error(client.options(f"{V1}/nothing-here"), 404, "not_found")


# ---- slash redirects --------------------------------------------------------------------


def test_slash_redirects_are_relative_whatever_the_host(client: TestClient) -> None:
    hostile = {"host": "evil.example"}
    response = client.get(f"{V1}/coins/?limit=5", headers=hostile, follow_redirects=False)

    assert response.status_code == 307
    assert response.headers["location"] == f"{V1}/coins?limit=5"
    mirror = client.get(f"{V3}/ping/", headers=hostile, follow_redirects=False)
    assert mirror.status_code == 307
    assert mirror.headers["location"] == f"{V3}/ping"
    assert client.get(f"{V1}/coins/", follow_redirects=True).status_code == 200


def test_a_redirect_never_points_to_another_host() -> None:
    app = FastAPI()
    install_routing_rules(app)

    @app.get("/{rest:path}/file")
    def anything(rest: str) -> str:
        return rest

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("//evil.example/file/", follow_redirects=False)
        backslash = client.get("/\\evil.example/file/", follow_redirects=False)
        fine = client.get("/a/b/file/", follow_redirects=False)

    assert response.status_code == 404
    assert backslash.status_code == 404
    assert fine.status_code == 307
    assert fine.headers["location"] == "/a/b/file"


def test_ids_of_thousands_of_digits_name_no_resource(client: TestClient) -> None:
    huge = "1" * 5000
    for method, path in [("GET", f"/api/v1/users/{huge}"), ("OPTIONS", f"/api/v1/users/{huge}")]:
        response = client.request(method, path)
        assert response.status_code == 404, response.text
    assert client.get(f"/api/v1/users/{huge}/", follow_redirects=False).status_code == 404


def test_an_escaped_final_slash_is_not_redirected_in_a_loop(client: TestClient) -> None:
    response = client.get("/api/v1/coins%2F", follow_redirects=False)
    assert response.status_code == 404
    assert client.get("/api/v1/coins/", follow_redirects=False).status_code == 307
