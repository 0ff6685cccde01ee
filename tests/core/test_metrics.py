"""`GET /metrics`: admins only, the Prometheus text format, and every HTTP request counted
and timed under its method, route template (never the raw path) and status, those answered
before routing (the response cache's fast path, refusals, HEAD) included."""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import Histogram
from sqlalchemy.orm import Session

from cryptopredict.core.database import get_session
from cryptopredict.core.instruments import HTTP_BUCKETS, HTTP_DURATION
from cryptopredict.core.metrics import add_observations
from tests.factories import Factory
from tests.metrics_support import risen, samples, scrape

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
    documented = client.app.openapi()["paths"]["/metrics"]["get"]["responses"]  # type: ignore[attr-defined]
    assert list(documented["200"]["content"]) == ["text/plain"]
    assert all(list(documented[s]["content"]) == ["application/json"] for s in ("401", "403"))


def test_requests_are_counted_under_their_route_template_never_the_raw_path(
    client: TestClient, factory: Factory, admin: dict[str, str]
) -> None:
    factory.daily_prices(factory.coin("bitcoin"), [1.0, 2.0])
    before = scrape(client, admin)
    for coin in ("bitcoin", "bitcoin", "no-such-coin"):
        client.get(f"/api/v1/prices/{coin}/history")

    after = risen(
        lambda: scrape(client, admin),
        before,
        (REQUESTS, {"method": "GET", "route": HISTORY, "status": "200"}, 2),
        (REQUESTS, {"method": "GET", "route": HISTORY, "status": "404"}, 1),
        (DURATIONS, {"method": "GET", "route": HISTORY}, 3),
    )
    routes = {sample.labels.get("route") for sample in samples(after)}
    assert not any("bitcoin" in route or "no-such-coin" in route for route in routes if route)


def test_unrouted_paths_share_one_label_and_odd_methods_are_other(
    client: TestClient, admin: dict[str, str]
) -> None:
    before = scrape(client, admin)
    for n in range(3):
        client.get(f"/no/such/path/{n}")
    client.request("BREW", "/health/live")

    after = risen(
        lambda: scrape(client, admin),
        before,
        (REQUESTS, {"method": "GET", "route": "unmatched", "status": "404"}, 3),
        (REQUESTS, {"method": "other", "route": "/health/live", "status": "405"}, 1),
    )
    assert not any("/no/such/path" in str(s.labels.get("route")) for s in samples(after))


def test_head_and_refusals_before_routing_are_counted_on_their_route(
    client: TestClient, admin: dict[str, str]
) -> None:
    before = scrape(client, admin)
    assert client.head("/health/live").status_code == 200
    assert client.get("/api/v1/prices/bit%01coin/history").status_code == 422  # control char

    risen(
        lambda: scrape(client, admin),
        before,
        (REQUESTS, {"method": "HEAD", "route": "/health/live", "status": "200"}, 1),
        (REQUESTS, {"method": "GET", "route": HISTORY, "status": "422"}, 1),
    )


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

    price_route = {"method": "GET", "route": "/api/v3/simple/price"}
    risen(
        lambda: scrape(client, admin),
        before,
        (REQUESTS, price_route | {"status": "200"}, 3),
        (DURATIONS, price_route, 3),
    )


def test_batched_observations_land_in_the_buckets_observe_would_use() -> None:
    """The middleware writes requests once a second with `add_observations`; the histogram
    must read as if each had been observed one by one."""
    one_by_one = HTTP_DURATION().labels("GET", f"/observed/{uuid.uuid4().hex}")
    batched = HTTP_DURATION().labels("GET", f"/batched/{uuid.uuid4().hex}")
    durations = [0.0001, 0.0005, 0.003, 0.003, 0.7, 42.0]
    buckets = [0] * (len(HTTP_BUCKETS) + 1)
    for seconds in durations:
        one_by_one.observe(seconds)
        buckets[bisect_left(HTTP_BUCKETS, seconds)] += 1
    add_observations(batched, sum(durations), buckets)

    def read(child: Histogram) -> list[tuple[str, dict[str, str], float]]:
        samples = child.collect()[0].samples
        return [(s.name, s.labels, s.value) for s in samples if not s.name.endswith("_created")]

    assert read(batched) == read(one_by_one)
    with pytest.raises(ValueError, match="bucket counts"):
        add_observations(batched, 1.0, [1])
