"""The admin sync API: its triggers run the syncs as tasks on the app's embedded runner
against the fake CoinGecko (202 and a task to follow, or the finished run with `wait`), the
task locks keep a second run out, past runs and the shared limiter and breaker read back,
and it is closed to everyone but admins.

The runner's threads commit, so these tests use the task tests' own migrated database (emptied
after each test), not the rolled-back transaction of the other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.main import create_app
from cryptopredict.prices.models import PriceData
from cryptopredict.tasks import service as tasks_service
from cryptopredict.tasks.embedded import EmbeddedRunner
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.factories import Factory
from tests.tasks.api_support import TASK_RUNS, admin, factory, settled
from tests.tasks.conftest import (
    tasks_database,
    tasks_database_url,
    tasks_engine,
    tasks_settings,
)

TASK_DATABASE_FIXTURES = (tasks_database_url, tasks_engine, tasks_database, tasks_settings)
"""The task tests' database and settings, used here by name (its runner's threads commit)."""
TASK_API_FIXTURES = (factory, admin)
"""Users committed to that database."""

SYNC = "/api/v1/sync"


@pytest.fixture
def sync_app(
    tasks_settings: Settings, tasks_database: Database, fake_coingecko: FakeCoinGecko
) -> FastAPI:
    """An app on the task database calling the fake CoinGecko, with a limiter fast enough not
    to slow the tests, a retry backoff short enough to see, and no scheduler."""
    aimed = tasks_settings.model_copy(
        update={
            "coingecko_base_url": fake_coingecko.base_url,
            "coingecko_calls_per_minute": 6000,
            "coingecko_api_key": None,
            "task_retry_base_seconds": 0.1,
        }
    )
    return create_app(aimed, database=tasks_database, scheduler=False)


@pytest.fixture
def api(sync_app: FastAPI) -> Iterator[TestClient]:
    """A client with the app's lifespan on (its runner is closed at the end)."""
    with TestClient(sync_app) as client:
        yield client


def _accepted(response: Any, task: str) -> str:
    """The task id of a 202, checked against its link and body."""
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["task"] == task and body["mode"] == "embedded"
    assert body["state"] in ("queued", "running", "succeeded", "failed", "skipped")  # as it is now
    assert response.headers["location"] == body["status_url"] == f"{TASK_RUNS}/{body['task_id']}"
    return str(body["task_id"])


def _price_rows(database: Database, interval: str) -> int:
    with database.session_factory() as session:
        query = select(func.count()).select_from(PriceData).where(PriceData.interval == interval)
        return int(session.execute(query).scalar_one())


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/discover", None),
        ("POST", "/prices", None),
        ("POST", "/history", {"coin": "bitcoin"}),
        ("POST", "/history?wait=true", {"coin": "bitcoin"}),
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
    factory: Factory,
    admin: dict[str, str],
    fake_coingecko: FakeCoinGecko,
) -> None:
    user = factory.headers(factory.user())

    anonymous = api.request(method, SYNC + path, json=body)
    member = api.request(method, SYNC + path, json=body, headers=user)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert member.status_code == 403
    assert member.json()["error"]["code"] == "permission_denied"
    assert api.get(TASK_RUNS, headers=admin).json()["total"] == 0  # no task was queued
    assert fake_coingecko.requests == []  # refused before anything reached CoinGecko


def test_triggers_queue_tasks_whose_runs_write_the_rows(
    api: TestClient, admin: dict[str, str], tasks_database: Database
) -> None:
    discover = _accepted(
        api.post(f"{SYNC}/discover", json={"top": 20}, headers=admin),
        "discover_new_cryptocurrencies",
    )
    done = settled(api, admin, discover)
    assert done["state"] == "succeeded" and done["args"] == {"top": 20}
    assert (done["result"]["kind"], done["result"]["calls_made"]) == ("discover", 2)

    prices = settled(
        api, admin, _accepted(api.post(f"{SYNC}/prices", headers=admin), "sync_all_prices")
    )
    assert prices["state"] == "succeeded"
    assert (prices["result"]["rows_written"], prices["result"]["calls_made"]) == (20, 1)

    history = settled(
        api,
        admin,
        _accepted(
            api.post(f"{SYNC}/history", json={"days": 30, "intervals": ["1d"]}, headers=admin),
            "sync_historical_data",
        ),
    )
    assert history["state"] == "succeeded", history
    assert history["args"] == {"days": 30, "intervals": ["1d"]}
    assert history["result"]["kind"] == "backfill" and history["result"]["rows_written"] > 20
    assert _price_rows(tasks_database, "1d") == history["result"]["rows_written"]
    assert _price_rows(tasks_database, "1h") == 0  # only the intervals asked for

    one = settled(
        api,
        admin,
        _accepted(
            api.post(
                f"{SYNC}/history", json={"coin": "bitcoin", "intervals": ["1h"]}, headers=admin
            ),
            "sync_specific_cryptocurrency",
        ),
    )
    assert one["state"] == "succeeded", one
    assert one["result"]["coin"] == "bitcoin" and one["result"]["history"]["rows_written"] > 0
    assert _price_rows(tasks_database, "1h") == one["result"]["history"]["rows_written"]

    runs = api.get(f"{SYNC}/runs", headers=admin).json()
    ids = {run["id"] for run in runs["items"]}
    for summary in (done["result"], prices["result"], history["result"], one["result"]["history"]):
        assert summary["sync_run_id"] in ids


def test_wait_answers_the_finished_run(api: TestClient, admin: dict[str, str]) -> None:
    discovered = api.post(f"{SYNC}/discover?wait=true", json={"top": 20}, headers=admin)
    assert discovered.status_code == 200, discovered.text
    assert discovered.json()["status"] == "succeeded"
    assert discovered.json()["calls_made"] == 2

    prices = api.post(f"{SYNC}/prices", params={"wait": True, "timeout": 30}, headers=admin)
    assert prices.status_code == 200
    assert (prices.json()["rows_written"], prices.json()["calls_made"]) == (20, 1)

    history = api.post(
        f"{SYNC}/history?wait=true",
        json={"coin": "bitcoin", "days": 30, "intervals": ["1d"]},
        headers=admin,
    )
    assert history.status_code == 200, history.text
    body = history.json()
    assert (body["kind"], body["coin"], body["status"]) == ("history", "bitcoin", "succeeded")
    assert (body["calls_made"], body["rows_written"], body["error"]) == (2, 29, None)
    assert body["finished_at"] >= body["started_at"]

    page = api.get(f"{SYNC}/runs", params={"limit": 2}, headers=admin).json()
    assert page["total"] == 4 and page["limit"] == 2  # bitcoin's latest price came first
    assert [(run["kind"], run["coin"]) for run in page["items"]] == [
        ("history", "bitcoin"),
        ("prices", "bitcoin"),
    ]
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
    assert status["last_runs"]["discover"]["id"] == discovered.json()["id"]
    assert status["last_runs"]["history"]["id"] == body["id"]


def test_a_failed_sync_is_reported_in_the_run_and_the_task_not_as_a_server_error(
    api: TestClient, admin: dict[str, str], fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.garbage(times=2, path="market_chart")
    request = {"coin": "bitcoin", "intervals": ["1d"]}

    waited = api.post(f"{SYNC}/history?wait=true", json=request, headers=admin)
    queued = _accepted(
        api.post(f"{SYNC}/history", json=request, headers=admin), "sync_specific_cryptocurrency"
    )

    assert waited.status_code == 200
    assert waited.json()["status"] == "failed"
    assert waited.json()["error"].startswith("MalformedResponseError: CoinGecko")
    task = settled(api, admin, queued)
    assert (task["state"], task["attempt"]) == ("failed", 1)  # no retry
    # The failed task keeps the summary of the sync run that failed it.
    assert task["result"]["kind"] == "history" and task["result"]["status"] == "failed"
    assert task["error"].startswith(f"sync history #{task['result']['sync_run_id']} failed")
    assert "MalformedResponseError: CoinGecko" in task["error"]
    status = api.get(f"{SYNC}/status", headers=admin).json()
    assert status["last_runs"]["history"]["status"] == "failed"


def test_a_coin_coingecko_does_not_know_fails_its_run(
    api: TestClient, admin: dict[str, str]
) -> None:
    response = api.post(f"{SYNC}/history?wait=true", json={"coin": "no-such-coin"}, headers=admin)

    assert response.status_code == 200
    body = response.json()
    assert (body["coin"], body["status"]) == ("no-such-coin", "failed")
    assert "does not know" in body["error"]


def test_a_trigger_while_another_run_holds_the_lock_is_recorded_as_skipped(
    api: TestClient, sync_app: FastAPI, admin: dict[str, str], fake_coingecko: FakeCoinGecko
) -> None:
    runner = tasks_service.app_runner(sync_app.state, sync_app.state.settings)
    assert isinstance(runner, EmbeddedRunner)
    lease = runner.context.locks.acquire("sync_all_prices", ttl_seconds=60, token="scheduled")
    assert lease is not None

    waited = api.post(f"{SYNC}/prices?wait=true", headers=admin)
    queued = _accepted(api.post(f"{SYNC}/prices", headers=admin), "sync_all_prices")

    assert waited.status_code == 409
    error = waited.json()["error"]
    assert error["code"] == "conflict" and "holds its lock" in error["message"]
    assert error["details"]["state"] == "skipped"
    assert error["details"]["status_url"] == f"{TASK_RUNS}/{error['details']['task_id']}"
    skipped = settled(api, admin, queued)
    assert skipped["state"] == "skipped" and "holds its lock" in skipped["error"]
    assert fake_coingecko.requests == []
    runner.context.locks.release(lease)
    assert api.post(f"{SYNC}/prices?wait=true", headers=admin).status_code == 200


def test_a_wait_that_runs_out_answers_the_task(
    api: TestClient, admin: dict[str, str], fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.slow(delay=1.0, path="markets")

    response = api.post(
        f"{SYNC}/discover", params={"wait": True, "timeout": 0.2}, json={"top": 5}, headers=admin
    )

    task_id = _accepted(response, "discover_new_cryptocurrencies")
    assert response.json()["state"] in ("queued", "running")
    assert settled(api, admin, task_id)["state"] == "succeeded"


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("", {"coin": "bitcoin", "days": 0}),
        ("", {"coin": "Not A Coin"}),
        ("", {"coin": "bitcoin", "intervals": ["2h"]}),
        ("", {"coin": "bitcoin", "intervals": []}),
        ("", {"coin": "bitcoin", "surprise": True}),
        ("?wait=true&timeout=0", {"coin": "bitcoin"}),
        ("?wait=true&timeout=100000", {"coin": "bitcoin"}),
    ],
)
def test_history_requests_are_validated(
    query: str,
    body: dict[str, object],
    api: TestClient,
    admin: dict[str, str],
    fake_coingecko: FakeCoinGecko,
) -> None:
    response = api.post(f"{SYNC}/history{query}", json=body, headers=admin)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert api.get(TASK_RUNS, headers=admin).json()["total"] == 0
    assert fake_coingecko.requests == []
