"""The task-management API in embedded mode: admin only, trigger -> id -> status -> result,
recent runs, revocation, workers and queues, in the one error shape."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cryptopredict.core.database import Database
from cryptopredict.main import create_app
from cryptopredict.tasks import service
from cryptopredict.tasks.embedded import EmbeddedRunner
from cryptopredict.tasks.schedule import SCHEDULE, TaskSpec
from tests.factories import Factory
from tests.tasks import sample_jobs
from tests.tasks.api_support import admin, factory, settled

TASK_API_FIXTURES = (factory, admin)
"""Users committed to the task database, used here by name."""

GATE = TaskSpec(
    "gate", None, "waits for the test", exclusive=False, job="tests.tasks.sample_jobs:wait_for_gate"
)


@pytest.fixture
def api(tasks_settings: Any, tasks_database: Database) -> Iterator[TestClient]:
    """An app on the task database with an embedded runner of one thread (lifespan on, the
    scheduler off)."""
    app = create_app(tasks_settings, database=tasks_database, scheduler=False)
    context = service.server_job_context(app.state, tasks_settings)
    tasks = {spec.name: spec for spec in (*SCHEDULE, GATE)}
    app.state.task_runner = EmbeddedRunner(context, threads=1, tasks=tasks)
    sample_jobs.gate.clear()
    with TestClient(app) as client:
        yield client
    sample_jobs.gate.set()


def test_every_route_is_for_admins_only(api: TestClient, factory: Factory) -> None:
    user = factory.headers(factory.user())
    routes = [
        ("get", "/api/v1/tasks"),
        ("post", "/api/v1/tasks/health_check/run"),
        ("get", "/api/v1/tasks/runs"),
        ("get", "/api/v1/tasks/runs/x"),
        ("post", "/api/v1/tasks/runs/x/revoke"),
        ("get", "/api/v1/tasks/workers"),
        ("get", "/api/v1/tasks/queues"),
    ]
    for method, path in routes:
        assert api.request(method, path).status_code == 401, path
        denied = api.request(method, path, headers=user)
        assert denied.status_code == 403, path
        assert denied.json()["error"]["code"] == "permission_denied"


def test_trigger_returns_an_id_whose_status_ends_with_the_result(
    api: TestClient, admin: dict[str, str]
) -> None:
    submitted = api.post("/api/v1/tasks/health_check/run", headers=admin)

    assert submitted.status_code == 202, submitted.text
    body = submitted.json()
    assert body["task"] == "health_check" and body["mode"] == "embedded"
    status = settled(api, admin, body["task_id"])
    assert status["state"] == "succeeded" and status["attempt"] == 1
    assert status["result"]["pid"] == os.getpid() and status["result"]["database"] is True
    assert status["started_at"] and status["finished_at"] and status["duration_seconds"] >= 0
    assert status["worker"].startswith("embedded@")


def test_unknown_tasks_and_bad_arguments_are_refused_in_the_error_shape(
    api: TestClient, admin: dict[str, str]
) -> None:
    unknown = api.post("/api/v1/tasks/no_such_task/run", headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"

    bad = api.post(
        "/api/v1/tasks/sync_specific_cryptocurrency/run",
        json={"args": {"coin_id": "Not A Coin!", "surprise": 1}},
        headers=admin,
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "validation_error"
    assert {tuple(e["loc"]) for e in error["details"]} == {("coin_id",), ("surprise",)}
    missing = api.post("/api/v1/tasks/sync_specific_cryptocurrency/run", headers=admin)
    assert missing.status_code == 422

    nothing = api.get("/api/v1/tasks/runs/no-such-id", headers=admin)
    assert nothing.status_code == 404 and nothing.json()["error"]["code"] == "not_found"
    assert api.post("/api/v1/tasks/runs/no-such-id/revoke", headers=admin).status_code == 404
    assert api.get("/api/v1/tasks/runs?state=bogus", headers=admin).status_code == 422


def test_tasks_are_listed_with_schedules_and_last_runs_and_runs_are_paginated(
    api: TestClient, admin: dict[str, str]
) -> None:
    ids = [
        api.post("/api/v1/tasks/health_check/run", headers=admin).json()["task_id"]
        for _ in range(3)
    ]
    for task_id in ids:
        settled(api, admin, task_id)

    kinds = api.get("/api/v1/tasks", headers=admin).json()
    assert kinds["mode"] == "embedded"
    by_name = {item["name"]: item for item in kinds["items"]}
    assert {spec.name for spec in SCHEDULE} <= set(by_name)
    assert by_name["sync_all_prices"]["every_seconds"] == 300
    assert by_name["sync_specific_cryptocurrency"]["every_seconds"] is None
    assert by_name["health_check"]["last_run"]["task_id"] == ids[-1]
    assert by_name["sync_all_prices"]["last_run"] is None

    page = api.get("/api/v1/tasks/runs?limit=2&task=health_check", headers=admin).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [item["task_id"] for item in page["items"]] == ids[::-1][:2]
    assert page["items"][0]["status"] == "succeeded"
    rest = api.get("/api/v1/tasks/runs?limit=2&offset=2", headers=admin).json()
    assert [item["task_id"] for item in rest["items"]] == ids[:1]
    failed = api.get("/api/v1/tasks/runs?state=failed", headers=admin).json()
    assert failed["total"] == 0


def test_a_queued_task_is_revoked_and_workers_and_queues_show_the_load(
    api: TestClient, admin: dict[str, str]
) -> None:
    blocker = api.post("/api/v1/tasks/gate/run", headers=admin).json()["task_id"]
    deadline = time.monotonic() + 10
    while api.get(f"/api/v1/tasks/runs/{blocker}", headers=admin).json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    waiting = api.post("/api/v1/tasks/health_check/run", headers=admin).json()["task_id"]

    workers = api.get("/api/v1/tasks/workers", headers=admin).json()
    assert workers["mode"] == "embedded"
    (worker,) = workers["workers"]
    assert (worker["alive"], worker["active"], worker["reserved"]) == (True, 1, 1)
    assert api.get("/api/v1/tasks/queues", headers=admin).json()["queues"] == {
        "embedded": 1,
        "embedded.training": 0,
    }

    revoked = api.post(f"/api/v1/tasks/runs/{waiting}/revoke", headers=admin).json()
    assert revoked == {"task_id": waiting, "revoked": True, "state": "revoked"}
    running = api.post(f"/api/v1/tasks/runs/{blocker}/revoke", headers=admin).json()
    assert running["revoked"] is False and running["state"] == "running"

    sample_jobs.gate.set()
    assert settled(api, admin, blocker)["state"] == "succeeded"
    assert settled(api, admin, waiting)["state"] == "revoked"
    assert api.get("/api/v1/tasks/queues", headers=admin).json()["queues"] == {
        "embedded": 0,
        "embedded.training": 0,
    }


def test_the_server_runs_the_schedule_itself_only_without_redis_or_when_asked(
    tasks_settings: Any, tasks_database: Database
) -> None:
    def settings(**changes: Any) -> Any:
        return type(tasks_settings)(**(tasks_settings.model_dump() | changes))

    assert service.should_schedule(settings(scheduler="auto"))
    assert not service.should_schedule(settings(scheduler="auto", redis_url="redis://x:1/0"))
    assert service.should_schedule(settings(scheduler="embedded", redis_url="redis://x:1/0"))
    assert not service.should_schedule(settings(scheduler="off"))

    app = create_app(settings(scheduler="auto"), database=tasks_database)
    with TestClient(app):
        assert app.state.task_scheduler.running
        assert isinstance(app.state.task_runner, EmbeddedRunner)
    assert app.state.task_scheduler is None and app.state.task_runner is None
    quiet = create_app(settings(scheduler="auto"), database=tasks_database, scheduler=False)
    with TestClient(quiet):
        assert getattr(quiet.state, "task_scheduler", None) is None
