"""What the tests of the task API and of the sync API (whose triggers run as tasks) share: an
app's runner commits, so their users are committed to the task database, and they wait for a
task to settle by polling its status route."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cryptopredict.core.database import Database
from tests.factories import Factory

TASK_RUNS = "/api/v1/tasks/runs"
UNSETTLED = ("queued", "running", "retrying")


@pytest.fixture
def factory(api: TestClient, tasks_database: Database) -> Iterator[Factory]:
    """Users committed to the task database (the module defines `api`)."""
    session = tasks_database.session_factory()
    yield Factory(session, api)
    session.close()


@pytest.fixture
def admin(factory: Factory) -> dict[str, str]:
    """Headers of a signed-in admin."""
    return factory.headers(factory.admin())


def settled(
    api: TestClient, headers: dict[str, str], task_id: str, *, timeout: float = 20
) -> dict[str, Any]:
    """The task's status once nothing more will happen to it."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.get(f"{TASK_RUNS}/{task_id}", headers=headers).json()
        if body["state"] not in UNSETTLED:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"task still {body['state']}")
        time.sleep(0.02)
