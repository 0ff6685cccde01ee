"""GET /prices/{coin}/history: range filtering, ordering, limits and parameter errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.prices.conftest import HOUR, T0

CLOSES = [100.0, 102.0, 101.0, 105.0, 107.5, 106.0, 110.0, 111.0, 109.0, 112.0]


def _url(coin: str) -> str:
    return f"/api/v1/prices/{coin}/history"


def test_range_is_inclusive_and_oldest_first(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc", rank=1)
    factory.daily_prices(coin, CLOSES, start=T0)
    response = client.get(
        _url("bitcoin"), params={"start": "2024-01-03T00:00:00Z", "end": "2024-01-06T00:00:00Z"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["coin"], body["interval"], body["truncated"]) == ("bitcoin", "1d", False)
    assert [p["timestamp"] for p in body["points"]] == [
        "2024-01-03T00:00:00Z",
        "2024-01-04T00:00:00Z",
        "2024-01-05T00:00:00Z",
        "2024-01-06T00:00:00Z",
    ]
    assert [p["price"] for p in body["points"]] == CLOSES[2:6]
    third = body["points"][0]
    assert third == {
        "timestamp": "2024-01-03T00:00:00Z",
        "open": CLOSES[1],
        "high": max(CLOSES[1], CLOSES[2]),
        "low": min(CLOSES[1], CLOSES[2]),
        "close": CLOSES[2],
        "price": CLOSES[2],
        "volume": 1000.0,
        "market_cap": CLOSES[2] * 1_000_000,
    }


def test_naive_and_offset_instants_are_utc(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, CLOSES, start=T0)
    expected = CLOSES[7:]
    for start in ("2024-01-08T00:00:00", "2024-01-08", "2024-01-08T02:00:00+02:00"):
        body = client.get(_url("bitcoin"), params={"start": start}).json()
        assert [p["price"] for p in body["points"]] == expected, start
    # One second past midnight excludes that day's bar.
    later = client.get(_url("bitcoin"), params={"start": "2024-01-08T00:00:01Z"}).json()
    assert [p["price"] for p in later["points"]] == CLOSES[8:]


def test_default_is_the_whole_daily_series(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, CLOSES, start=T0)
    factory.daily_prices(coin, [1.0, 2.0, 3.0], start=T0, interval="1h", step=HOUR)
    other = factory.coin("ethereum", symbol="eth")
    factory.daily_prices(other, [5.0, 6.0], start=T0)
    body = client.get(_url("btc")).json()
    assert [p["price"] for p in body["points"]] == CLOSES
    hourly = client.get(_url("bitcoin"), params={"interval": "1h"}).json()
    assert [p["price"] for p in hourly["points"]] == [1.0, 2.0, 3.0]
    assert hourly["points"][1]["timestamp"] == "2024-01-01T01:00:00Z"


def test_limit_keeps_the_newest_points(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, CLOSES, start=T0)
    body = client.get(_url("bitcoin"), params={"limit": 3}).json()
    assert [p["price"] for p in body["points"]] == CLOSES[-3:]
    assert body["truncated"] is True
    exact = client.get(_url("bitcoin"), params={"limit": len(CLOSES)}).json()
    assert len(exact["points"]) == len(CLOSES) and exact["truncated"] is False
    ranged = client.get(_url("bitcoin"), params={"end": "2024-01-05T00:00:00Z", "limit": 2}).json()
    assert [p["price"] for p in ranged["points"]] == CLOSES[3:5]


def test_empty_range_and_parameter_errors(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, CLOSES, start=T0)
    empty = client.get(_url("bitcoin"), params={"start": "2030-01-01T00:00:00Z"}).json()
    assert empty["points"] == [] and empty["truncated"] is False

    inverted = client.get(
        _url("bitcoin"), params={"start": "2024-01-05T00:00:00Z", "end": "2024-01-04T00:00:00Z"}
    )
    assert inverted.status_code == 422
    error = inverted.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["query", "start"]

    for params in ({"interval": "2d"}, {"limit": 0}, {"limit": 10_001}, {"start": "yesterday"}):
        response = client.get(_url("bitcoin"), params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "validation_error"

    missing = client.get(_url("nope"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
