"""GET /sync/freshness: how old the stored prices of active coins are, against the setting's
threshold, and how the last syncs that store prices went, for anyone (the dashboard's banner
for old data)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.marketdata import service
from cryptopredict.marketdata.types import SyncKind, SyncStatus
from tests.factories import Factory

FRESHNESS = "/api/v1/sync/freshness"
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def _instant(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _freshness(client: TestClient) -> dict[str, Any]:
    """The endpoint's body, asked for without credentials."""
    response = client.get(FRESHNESS)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_no_prices_is_stale_with_nothing_to_report(client: TestClient, factory: Factory) -> None:
    factory.coin("bitcoin")  # known, never priced

    assert _freshness(client) == {
        "newest_price_at": None,
        "age_seconds": None,
        "stale": True,
        "stale_after_seconds": 30 * 60,
        "last_sync": None,
        "last_success_at": None,
    }


def test_a_fresh_price_is_not_stale(client: TestClient, factory: Factory) -> None:
    stamped = utcnow().replace(microsecond=0) - MINUTE
    factory.daily_prices(factory.coin("bitcoin"), [100.0], start=stamped, interval="5m")

    body = _freshness(client)

    assert _instant(body["newest_price_at"]) == stamped
    assert 60 <= body["age_seconds"] < 120
    assert body["stale"] is False


def test_an_old_price_is_stale_and_says_how_old(client: TestClient, factory: Factory) -> None:
    stamped = utcnow().replace(microsecond=0) - 2 * HOUR
    factory.daily_prices(factory.coin("bitcoin"), [100.0, 101.0], start=stamped - HOUR, step=HOUR)

    body = _freshness(client)

    assert _instant(body["newest_price_at"]) == stamped
    assert 7200 <= body["age_seconds"] < 7260
    assert body["stale"] is True


def test_the_newest_price_of_any_interval_of_active_coins_counts(
    client: TestClient, factory: Factory
) -> None:
    now = utcnow().replace(microsecond=0)
    factory.daily_prices(factory.coin("bitcoin"), [100.0], start=now - 3 * HOUR)  # 1d series
    hourly = factory.coin("ethereum")
    factory.daily_prices(hourly, [10.0, 11.0], start=now - 3 * HOUR, interval="1h", step=HOUR)
    delisted = factory.coin("gone", is_active=False)
    factory.daily_prices(delisted, [1.0], start=now - MINUTE, interval="5m")

    body = _freshness(client)

    assert _instant(body["newest_price_at"]) == now - 2 * HOUR  # the hourly bar, not "gone"
    assert body["stale"] is True


def test_last_sync_reports_a_failed_runs_error(client: TestClient, factory: Factory) -> None:
    now = utcnow().replace(microsecond=0)
    factory.sync_run(SyncKind.PRICES, started_at=now - HOUR)
    factory.sync_run(
        SyncKind.PRICES,
        status=SyncStatus.FAILED,
        started_at=now - 10 * MINUTE,
        error="aborted: CircuitOpenError: CoinGecko circuit is open; not calling it until 12:00",
    )
    factory.sync_run(SyncKind.DISCOVER, started_at=now - MINUTE)  # stores no prices

    body = _freshness(client)

    assert body["last_sync"] == {
        "kind": "prices",
        "status": "failed",
        "started_at": (now - 10 * MINUTE).isoformat().replace("+00:00", "Z"),
        "finished_at": (now - 9 * MINUTE).isoformat().replace("+00:00", "Z"),
        "error": "CoinGecko is not called for a while after repeated failures",
    }
    assert _instant(body["last_success_at"]) == now - HOUR + MINUTE


def test_a_runs_own_error_text_stays_admin_only(client: TestClient, factory: Factory) -> None:
    """An aborted run records any exception, which may name hosts or SQL: the public answer
    says only that it failed, and where admins read why."""
    factory.sync_run(
        SyncKind.HISTORY,
        status=SyncStatus.FAILED,
        started_at=utcnow() - MINUTE,
        error="aborted: OperationalError: connection to server at db.internal (10.0.0.5) failed",
    )

    body = _freshness(client)

    assert body["last_sync"]["error"] == service.UNKNOWN_FAILURE
    assert "db.internal" not in json.dumps(body)


def test_last_success_is_the_newest_successful_run(client: TestClient, factory: Factory) -> None:
    now = utcnow().replace(microsecond=0)
    factory.sync_run(SyncKind.PRICES, started_at=now - 3 * HOUR)
    factory.sync_run(SyncKind.HISTORY, started_at=now - 2 * HOUR)
    factory.sync_run(SyncKind.BACKFILL, status=SyncStatus.PARTIAL, started_at=now - HOUR)
    factory.sync_run(SyncKind.PRICES, status=SyncStatus.FAILED, started_at=now - 30 * MINUTE)
    factory.sync_run(SyncKind.DISCOVER, started_at=now - 20 * MINUTE)
    factory.sync_run(SyncKind.PRICES, status=SyncStatus.RUNNING, started_at=now - MINUTE)

    body = _freshness(client)

    assert _instant(body["last_success_at"]) == now - 2 * HOUR + MINUTE  # the history run
    assert body["last_sync"]["status"] == "running"
    assert body["last_sync"]["finished_at"] is None
    assert body["last_sync"]["error"] is None


def test_the_threshold_comes_from_the_setting(db_session: Session, factory: Factory) -> None:
    stamped = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    factory.daily_prices(factory.coin("bitcoin"), [100.0], start=stamped)
    settings = factory.settings.model_copy(update={"stale_after_minutes": 5})

    def at(age: dt.timedelta) -> Any:
        return service.freshness(session=db_session, settings=settings, now=stamped + age)

    assert at(5 * MINUTE).model_dump(include={"age_seconds", "stale", "stale_after_seconds"}) == {
        "age_seconds": 300.0,
        "stale": False,
        "stale_after_seconds": 300,
    }
    assert at(5 * MINUTE + dt.timedelta(seconds=1)).stale is True
    assert at(-MINUTE).age_seconds == 0.0  # a price stamped ahead of this clock


def test_the_setting_is_read_from_the_environment_and_at_least_one_minute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRYPTOPREDICT_STALE_AFTER_MINUTES", "90")
    assert Settings(data_dir=tmp_path).stale_after_minutes == 90
    assert Settings(data_dir=tmp_path, stale_after_minutes=1).stale_after_minutes == 1
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, stale_after_minutes=0)
