"""POST /prices/bulk: admin only, validated, idempotent and all-or-nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import Factory
from tests.prices.conftest import price_count

BULK = "/api/v1/prices/bulk"


def _point(
    coin: str = "bitcoin", day: int = 1, price: float = 100.0, **extra: Any
) -> dict[str, Any]:
    return {
        "coin": coin,
        "interval": "1d",
        "timestamp": f"2024-01-{day:02d}T00:00:00Z",
        "open": price,
        "high": price * 1.1,
        "low": price * 0.9,
        "close": price,
        "price": price,
        "volume": 1234.5,
        "market_cap": price * 1e6,
        **extra,
    }


@pytest.fixture
def admin(factory: Factory) -> dict[str, str]:
    factory.coin("bitcoin", symbol="btc")
    factory.coin("ethereum", symbol="eth")
    return factory.headers(factory.admin())


def test_bulk_write_then_read_back_and_idempotent(
    client: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    points = [_point("bitcoin", day, 100.0 + day) for day in range(1, 4)]
    points += [_point("ethereum", day, 10.0 + day) for day in range(1, 3)]
    response = client.post(BULK, json={"points": points}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"written": 5, "received": 5}
    assert price_count(db_session) == 5

    history = client.get("/api/v1/prices/bitcoin/history").json()["points"]
    assert [p["price"] for p in history] == [101.0, 102.0, 103.0]
    assert history[0]["high"] == pytest.approx(101.0 * 1.1)
    assert history[0]["volume"] == 1234.5

    again = client.post(BULK, json={"points": points}, headers=admin)
    assert again.json() == {"written": 0, "received": 5}

    changed = [*points[:-1], _point("ethereum", 2, 99.0)]
    assert client.post(BULK, json={"points": changed}, headers=admin).json()["written"] == 1
    assert price_count(db_session) == 5
    eth = client.get("/api/v1/prices/ethereum/history").json()["points"]
    assert eth[-1]["price"] == 99.0


def test_timestamps_are_stored_in_utc(client: TestClient, admin: dict[str, str]) -> None:
    point = _point(timestamp="2024-01-01T02:00:00+02:00")
    assert client.post(BULK, json={"points": [point]}, headers=admin).json()["written"] == 1
    history = client.get("/api/v1/prices/bitcoin/history").json()["points"]
    assert history[0]["timestamp"] == "2024-01-01T00:00:00Z"
    # The same instant written in UTC is the same row, so nothing changes.
    assert client.post(BULK, json={"points": [_point()]}, headers=admin).json()["written"] == 0


INVALID = [
    ({"price": -1.0}, "price", "greater_than_equal"),
    ({"price": 0.0}, "price", "greater_than_equal"),
    ({"price": float("nan")}, "price", "finite_number"),
    ({"low": 200.0}, None, "value_error"),  # low above high
    ({"open": 500.0}, None, "value_error"),  # open outside [low, high]
    ({"timestamp": "2024-01-09T00:00:00"}, "timestamp", "timezone_aware"),
    ({"timestamp": "2999-01-01T00:00:00Z"}, None, "value_error"),
    ({"timestamp": "1970-01-02T00:00:00Z"}, None, "value_error"),
    ({"interval": "1w"}, "interval", "enum"),
    ({"volume": -5.0}, "volume", "greater_than_equal"),
    ({"coin": "Bitcoin"}, "coin", "string_pattern_mismatch"),
    ({"source": "x"}, "source", "extra_forbidden"),
    # Bars start on their interval's UTC grid: a daily bar at 13:17 is no daily bar.
    ({"timestamp": "2024-01-05T13:17:00Z"}, None, "value_error"),
    ({"timestamp": "2024-01-05T00:00:00.5Z"}, None, "value_error"),
    ({"timestamp": "2024-01-05T00:30:00+01:00"}, None, "value_error"),
    ({"interval": "1h", "timestamp": "2024-01-05T10:30:00Z"}, None, "value_error"),
    ({"interval": "5m", "timestamp": "2024-01-05T10:02:30Z"}, None, "value_error"),
    # Finite is not enough: values beyond the documented ceilings are unit mix-ups.
    (
        {"price": 1e308, "open": None, "high": None, "low": None, "close": None},
        "price",
        "less_than_equal",
    ),
    ({"high": 1e16}, "high", "less_than_equal"),
    ({"volume": 1e300}, "volume", "less_than_equal"),
    ({"market_cap": 1e19}, "market_cap", "less_than_equal"),
    ({"price": "100"}, "price", "float_type"),
]


def test_one_invalid_point_rejects_the_batch(
    client: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    for change, field, kind in INVALID:
        bad = {**_point(day=5), **change}
        points = [_point(day=1), _point(day=2), bad, _point("ethereum", day=3)]
        # Python's json writes NaN as the bare token NaN, which some clients do send.
        response = client.post(BULK, content=json.dumps({"points": points}), headers=headers)
        assert response.status_code == 422, (change, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert len(error["details"]) == 1, change
        detail = error["details"][0]
        assert detail["loc"][:3] == ["body", "points", 2], change
        if field is not None:
            assert detail["loc"][3] == field
        assert detail["type"] == kind, change
        assert price_count(db_session) == 0


def test_unknown_coins_and_duplicates_are_listed_and_nothing_is_written(
    client: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    points = [
        _point("bitcoin", 1),
        _point("no-such-coin", 1),
        _point("ethereum", 1),
        _point("bitcoin", 1, price=101.0),
        _point("also-unknown", 2),
    ]
    response = client.post(BULK, json={"points": points}, headers=admin)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "3 of 5 points are invalid; nothing was written"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [
        (["body", "points", 1, "coin"], "unknown_coin"),
        (["body", "points", 3, "timestamp"], "duplicate_point"),
        (["body", "points", 4, "coin"], "unknown_coin"),
    ]
    assert price_count(db_session) == 0


def test_bulk_limits_and_permissions(
    client: TestClient, factory: Factory, admin: dict[str, str], db_session: Session
) -> None:
    assert client.post(BULK, json={"points": []}, headers=admin).status_code == 422
    too_many = [_point(interval="5m", timestamp="2024-01-01T00:00:00Z") for _ in range(10_001)]
    response = client.post(BULK, json={"points": too_many}, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "points"]

    body = {"points": [_point()]}
    anonymous = client.post(BULK, json=body)
    assert anonymous.status_code == 401
    user = client.post(BULK, json=body, headers=factory.headers(factory.user()))
    assert user.status_code == 403
    assert user.json()["error"]["code"] == "permission_denied"
    assert price_count(db_session) == 0


def test_bars_on_their_grid_and_at_the_ceilings_are_written(
    client: TestClient, admin: dict[str, str], db_session: Session
) -> None:
    points = [
        _point(interval="5m", timestamp="2024-01-01T10:05:00Z"),
        _point(interval="1h", timestamp="2024-01-01T11:00:00+01:00"),
        _point(timestamp="2024-01-02T05:30:00+05:30"),
        _point(day=3, price=1e15, open=None, high=None, low=None, close=None, market_cap=1e18),
        _point(day=4, price=1e-12, low=1e-12, volume=1e18, market_cap=None),
    ]
    response = client.post(BULK, json={"points": points}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"written": 5, "received": 5}
    assert price_count(db_session) == 5


def test_the_ceilings_are_in_the_openapi_document(client: TestClient) -> None:
    point = client.get("/openapi.json").json()["components"]["schemas"]["BulkPoint"]
    maxima = {
        name: field.get("anyOf", [field])[0].get("maximum")
        for name, field in point["properties"].items()
    }
    assert maxima == {
        "coin": None,
        "interval": None,
        "timestamp": None,
        "open": 1e15,
        "high": 1e15,
        "low": 1e15,
        "close": 1e15,
        "price": 1e15,
        "volume": 1e18,
        "market_cap": 1e18,
    }


def test_prices_below_the_floor_are_refused_and_extremes_keep_stats_answering(
    client: TestClient, admin: dict[str, str]
) -> None:
    tiny = _point(price=5e-324, open=None, high=None, low=None, close=None, market_cap=None)
    response = client.post(BULK, json={"points": [tiny]}, headers=admin)
    assert response.status_code == 422, response.text

    extremes = [
        _point(
            day=day,
            price=1e-12 if day % 2 else 1e15,
            open=None,
            high=None,
            low=None,
            close=None,
            market_cap=None,
        )
        for day in range(1, 8)
    ]
    assert client.post(BULK, json={"points": extremes}, headers=admin).status_code == 200
    stats = client.get("/api/v1/prices/bitcoin/stats")
    assert stats.status_code == 200, stats.text
