"""The admin sync API: runs syncs against the fake CoinGecko inside the request, lists runs,
shows the shared limiter and breaker, and is closed to everyone but admins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.core.cache import MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, get_session
from cryptopredict.main import create_app
from cryptopredict.marketdata.fake_server import FakeCoinGecko
from cryptopredict.marketdata.service import GUARDS_STATE_KEY
from tests.factories import Factory

SYNC = "/api/v1/sync"


@pytest.fixture(scope="module")
def sync_app(
    settings: Settings, app_database: Database, fake_coingecko_server: FakeCoinGecko
) -> FastAPI:
    """The application configured to call the fake CoinGecko, with a limiter fast enough
    not to slow the tests."""
    aimed = settings.model_copy(
        update={
            "coingecko_base_url": fake_coingecko_server.base_url,
            "coingecko_calls_per_minute": 6000,
        }
    )
    return create_app(aimed, database=app_database)


@pytest.fixture
def api(
    sync_app: FastAPI, db_session: Session, fake_coingecko: FakeCoinGecko
) -> Iterator[TestClient]:
    """A client on the test's rolled-back transaction, with a fresh cache, limiter and breaker."""
    sync_app.dependency_overrides[get_session] = lambda: db_session
    sync_app.state.cache = MemoryCache()
    if hasattr(sync_app.state, GUARDS_STATE_KEY):
        delattr(sync_app.state, GUARDS_STATE_KEY)
    try:
        yield TestClient(sync_app)
    finally:
        sync_app.dependency_overrides.clear()


@pytest.fixture
def admin(db_session: Session, api: TestClient) -> dict[str, str]:
    """Headers of a signed-in admin."""
    factory = Factory(db_session, api)
    return factory.headers(factory.admin())


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/discover", None),
        ("POST", "/prices", None),
        ("POST", "/history", {"coin": "bitcoin"}),
        ("GET", "/runs", None),
        ("GET", "/runs/1", None),
        ("GET", "/status", None),
    ],
)
def test_only_admins_may_sync_or_look(
    method: str,
    path: str,
    body: dict[str, str] | None,
    api: TestClient,
    db_session: Session,
    fake_coingecko: FakeCoinGecko,
) -> None:
    factory = Factory(db_session, api)
    user = factory.headers(factory.user())

    anonymous = api.request(method, SYNC + path, json=body)
    member = api.request(method, SYNC + path, json=body, headers=user)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert member.status_code == 403
    assert member.json()["error"]["code"] == "permission_denied"
    assert fake_coingecko.requests == []  # refused before anything reached CoinGecko


def test_admin_runs_syncs_and_reads_them_back(
    api: TestClient, admin: dict[str, str], fake_coingecko: FakeCoinGecko
) -> None:
    discovered = api.post(f"{SYNC}/discover", json={"top": 20}, headers=admin)
    assert discovered.status_code == 201, discovered.text
    assert discovered.json()["status"] == "succeeded"
    assert discovered.json()["calls_made"] == 2

    prices = api.post(f"{SYNC}/prices", headers=admin)
    assert prices.status_code == 201
    assert (prices.json()["rows_written"], prices.json()["calls_made"]) == (20, 1)

    history = api.post(
        f"{SYNC}/history", json={"coin": "bitcoin", "days": 30, "intervals": ["1d"]}, headers=admin
    )
    assert history.status_code == 201, history.text
    body = history.json()
    assert (body["kind"], body["coin"], body["status"]) == ("history", "bitcoin", "succeeded")
    assert (body["calls_made"], body["rows_written"], body["error"]) == (2, 29, None)
    assert body["finished_at"] >= body["started_at"]

    page = api.get(f"{SYNC}/runs", params={"limit": 2}, headers=admin).json()
    assert page["total"] == 3 and page["limit"] == 2
    assert [run["kind"] for run in page["items"]] == ["history", "prices"]
    only = api.get(f"{SYNC}/runs", params={"kind": "discover"}, headers=admin).json()
    assert [run["id"] for run in only["items"]] == [discovered.json()["id"]]
    one = api.get(f"{SYNC}/runs/{body['id']}", headers=admin)
    assert one.json() == body
    assert api.get(f"{SYNC}/runs/999999", headers=admin).status_code == 404

    status = api.get(f"{SYNC}/status", headers=admin).json()
    assert status["breaker"]["state"] == "closed"
    assert status["breaker"]["failure_threshold"] == 5
    assert status["limiter"]["backend"] == "memory"
    assert status["limiter"]["refill_per_second"] * 60 > 1000  # the configured 6000/min
    assert {kind: run["id"] for kind, run in status["last_runs"].items()} == {
        "discover": discovered.json()["id"],
        "prices": prices.json()["id"],
        "history": body["id"],
    }


def test_a_failed_sync_is_reported_in_the_run_not_as_a_server_error(
    api: TestClient, admin: dict[str, str], fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.garbage(path="market_chart")

    response = api.post(
        f"{SYNC}/history", json={"coin": "bitcoin", "intervals": ["1d"]}, headers=admin
    )

    assert response.status_code == 201
    assert response.json()["status"] == "failed"
    assert response.json()["error"].startswith("MalformedResponseError: CoinGecko")
    status = api.get(f"{SYNC}/status", headers=admin).json()
    assert status["last_runs"]["history"]["status"] == "failed"


@pytest.mark.parametrize(
    "body",
    [
        {"coin": "bitcoin", "days": 0},
        {"coin": "Not A Coin"},
        {"coin": "bitcoin", "intervals": ["2h"]},
        {"coin": "bitcoin", "surprise": True},
    ],
)
def test_history_requests_are_validated(
    body: dict[str, object],
    api: TestClient,
    admin: dict[str, str],
    fake_coingecko: FakeCoinGecko,
) -> None:
    response = api.post(f"{SYNC}/history", json=body, headers=admin)

    assert response.status_code == 422
    assert fake_coingecko.requests == []
