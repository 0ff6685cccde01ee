"""`GET /metrics`: admins only, the Prometheus text format, and every HTTP request counted
and timed under its method, route template (never the raw path) and status, those answered
before routing (the response cache's fast path, refusals, HEAD) included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.core.database import get_session
from tests.factories import Factory
from tests.metrics_support import samples, scrape, value

REQUESTS = "cryptopredict_http_requests_total"
DURATIONS = "cryptopredict_http_request_duration_seconds_count"
HISTORY = "/api/v1/prices/{coin}/history"


@pytest.fixture
def admin(factory: Factory) -> dict[str, str]:
    return factory.headers(factory.admin())


def test_anonymous_callers_get_401_and_users_403(client: TestClient, factory: Factory) -> None:
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert set(anonymous.json()) == {"error"}
    user = client.get("/metrics", headers=factory.headers(factory.user()))
    assert user.status_code == 403
    assert set(user.json()) == {"error"}


def test_an_admin_gets_the_text_format_with_every_family_documented(
    client: TestClient, admin: dict[str, str]
) -> None:
    text = scrape(client, admin)

    names = {sample.name for sample in samples(text)}
    assert REQUESTS in names and DURATIONS in names
    assert "# HELP cryptopredict_http_requests_total HTTP requests answered" in text
    assert "# TYPE cryptopredict_http_request_duration_seconds histogram" in text


def test_requests_are_counted_under_their_route_template_never_the_raw_path(
    client: TestClient, factory: Factory, admin: dict[str, str]
) -> None:
    factory.daily_prices(factory.coin("bitcoin"), [1.0, 2.0])
    before = scrape(client, admin)
    for coin in ("bitcoin", "bitcoin", "no-such-coin"):
        client.get(f"/api/v1/prices/{coin}/history")
    after = scrape(client, admin)

    def rise(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert rise(REQUESTS, method="GET", route=HISTORY, status="200") == 2
    assert rise(REQUESTS, method="GET", route=HISTORY, status="404") == 1
    assert rise(DURATIONS, method="GET", route=HISTORY) == 3
    routes = {sample.labels.get("route") for sample in samples(after)}
    assert not any("bitcoin" in route or "no-such-coin" in route for route in routes if route)


def test_unrouted_paths_share_one_label_and_odd_methods_are_other(
    client: TestClient, admin: dict[str, str]
) -> None:
    before = scrape(client, admin)
    for n in range(3):
        client.get(f"/no/such/path/{n}")
    client.request("BREW", "/health/live")
    after = scrape(client, admin)

    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, REQUESTS, **unmatched) - value(before, REQUESTS, **unmatched) == 3
    brewed = {"method": "other", "route": "/health/live", "status": "405"}
    assert value(after, REQUESTS, **brewed) - value(before, REQUESTS, **brewed) == 1
    assert not any("/no/such/path" in str(s.labels.get("route")) for s in samples(after))


def test_head_and_refusals_before_routing_are_counted_on_their_route(
    client: TestClient, admin: dict[str, str]
) -> None:
    before = scrape(client, admin)
    assert client.head("/health/live").status_code == 200
    assert client.get("/api/v1/prices/bit%01coin/history").status_code == 422  # control char
    after = scrape(client, admin)

    head = {"method": "HEAD", "route": "/health/live", "status": "200"}
    assert value(after, REQUESTS, **head) - value(before, REQUESTS, **head) == 1
    refused = {"method": "GET", "route": HISTORY, "status": "422"}
    assert value(after, REQUESTS, **refused) - value(before, REQUESTS, **refused) == 1


def _unreachable() -> Iterator[Session]:
    raise AssertionError("the route was reached")
    yield  # pragma: no cover


def test_answers_from_the_cache_fast_path_are_counted(
    client: TestClient, factory: Factory, admin: dict[str, str], db_session: Session
) -> None:
    factory.daily_prices(factory.coin("fast", symbol="fst"), [10.0, 11.0])
    price = "/api/v3/simple/price?ids=fast&vs_currencies=usd"
    before = scrape(client, admin)
    assert client.get(price).status_code == 200
    # From now on a request reaching the route fails: the next two come from the fast path.
    client.app.dependency_overrides[get_session] = _unreachable  # type: ignore[attr-defined]
    assert client.get(price).status_code == 200
    assert client.get(price + "&_=cache-buster").status_code == 200
    client.app.dependency_overrides[get_session] = lambda: db_session  # type: ignore[attr-defined]
    after = scrape(client, admin)

    labels = {"method": "GET", "route": "/api/v3/simple/price", "status": "200"}
    assert value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels) == 3
    duration = {"method": "GET", "route": "/api/v3/simple/price"}
    assert value(after, DURATIONS, **duration) - value(before, DURATIONS, **duration) == 3
