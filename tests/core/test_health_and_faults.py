"""Readiness reports each backing service; a database or Redis outage degrades cleanly."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine
from cryptopredict.main import create_app
from tests.factories import Factory

UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=1"


def test_live_and_ready(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "redis": "disabled"}
    assert body["coingecko_breaker"]["state"] == "closed"


def test_version_reports_no_secrets(client: TestClient) -> None:
    body = client.get("/api/v1/system/version").json()
    assert body["name"] == "cryptopredict" and body["version"]
    assert "secret" not in str(body).lower()


def test_system_stats_for_admin(client: TestClient, factory: Factory) -> None:
    stats = client.get("/api/v1/system/stats", headers=factory.headers(factory.admin())).json()
    assert stats["cpu_count"] >= 1
    assert 0 < stats["memory_available_bytes"] <= stats["memory_total_bytes"]
    assert stats["process_rss_bytes"] > 0


def test_database_down_gives_503_not_a_stack_trace(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": UNREACHABLE_POSTGRES})
    app = create_app(down, database=Database(create_db_engine(UNREACHABLE_POSTGRES)))
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "down"
        assert client.get("/health/live").status_code == 200
        login = client.post(
            "/api/v1/auth/login", json={"email": "a@example.com", "password": "whatever1"}
        )
        assert login.status_code == 503
        assert login.json()["error"]["code"] == "service_unavailable"
        assert "Traceback" not in login.text and "psycopg" not in login.text


def test_redis_down_makes_readiness_fail_but_logins_still_work(
    settings: Settings, app_database: Database, client: TestClient, factory: Factory
) -> None:
    user = factory.user()
    with_dead_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(with_dead_redis, database=app_database)
    app.dependency_overrides = client.app.dependency_overrides  # type: ignore[attr-defined]
    with TestClient(app) as degraded:
        ready = degraded.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "redis": "down"}
        login = degraded.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "correct-horse-battery"}
        )
        assert login.status_code == 200


def test_ready_checks_redis_when_configured(settings: Settings, app_database: Database) -> None:
    url = os.environ.get("CRYPTOPREDICT_TEST_REDIS_URL")
    if not url:
        from tests.conftest import need_service

        need_service("redis", "CRYPTOPREDICT_TEST_REDIS_URL is not set")
    configured = settings.model_copy(update={"redis_url": url})
    with TestClient(create_app(configured, database=app_database)) as client:
        assert client.get("/health/ready").json()["checks"]["redis"] == "ok"
