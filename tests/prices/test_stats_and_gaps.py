"""GET /prices/{coin}/stats (numbers checked against independent arithmetic) and /gaps."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.prices.conftest import DAY, HOUR, T0

CLOSES = [round(100 * 1.01**i * (1 + 0.03 * (-1) ** i + 0.01 * (i % 5)), 6) for i in range(40)]


def _sample_stdev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_stats_numbers(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, CLOSES, start=T0)
    response = client.get("/api/v1/prices/bitcoin/stats")
    assert response.status_code == 200, response.text
    body = response.json()
    last = CLOSES[-1]
    assert body["last_price"] == last
    assert body["as_of"] == "2024-02-09T00:00:00Z"  # T0 + 39 days
    assert body["interval"] == "1d"

    for key, days_back in (("return_24h", 1), ("return_7d", 7), ("return_30d", 30)):
        reference = CLOSES[-1 - days_back]
        assert body[key]["reference_price"] == reference
        assert body[key]["value"] == pytest.approx(last / reference - 1, rel=1e-12)

    log_returns = [math.log(CLOSES[i] / CLOSES[i - 1]) for i in range(1, len(CLOSES))]
    for key, window in (("volatility_7d", 7), ("volatility_30d", 30)):
        expected = _sample_stdev(log_returns[-window:])
        assert body[key]["observations"] == window
        assert body[key]["daily"] == pytest.approx(expected, rel=1e-9)
        assert body[key]["annualised"] == pytest.approx(expected * math.sqrt(365), rel=1e-9)


def test_stats_with_little_data_are_null_not_invented(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, [100.0, 110.0, 99.0], start=T0)
    body = client.get("/api/v1/prices/bitcoin/stats").json()
    assert body["return_24h"]["value"] == pytest.approx(99.0 / 110.0 - 1)
    assert body["return_7d"] == {"value": None, "reference_at": None, "reference_price": None}
    assert body["return_30d"]["value"] is None
    two_returns = [math.log(110 / 100), math.log(99 / 110)]
    assert body["volatility_7d"]["observations"] == 2
    assert body["volatility_7d"]["daily"] == pytest.approx(_sample_stdev(two_returns))

    single = factory.coin("single", symbol="sgl")
    factory.daily_prices(single, [5.0, 6.0], start=T0)
    one = client.get("/api/v1/prices/single/stats").json()
    assert one["volatility_7d"] == {
        "window_days": 7,
        "observations": 1,
        "daily": None,
        "annualised": None,
    }

    factory.coin("empty", symbol="mty")
    none = client.get("/api/v1/prices/empty/stats")
    assert none.status_code == 404
    assert none.json()["error"]["code"] == "not_found"


def test_stats_use_finest_series_for_the_latest_price(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, CLOSES[:10], start=T0)
    # Hourly bars through day 9 up to 12:00, the newest data overall.
    hourly = [200.0 + i for i in range(37)]
    factory.daily_prices(coin, hourly, start=T0 + 8 * DAY, interval="1h", step=HOUR)
    body = client.get("/api/v1/prices/bitcoin/stats").json()
    assert body["interval"] == "1h"
    assert body["as_of"] == "2024-01-10T12:00:00Z"
    assert body["last_price"] == hourly[-1]
    # 24 h earlier is 2024-01-09T12:00, hourly bar 12.
    assert body["return_24h"]["reference_price"] == hourly[12]
    # 7 days earlier the hourly series does not reach; the daily close of 2024-01-03 does.
    assert body["return_7d"]["reference_at"] == "2024-01-03T00:00:00Z"
    assert body["return_7d"]["value"] == pytest.approx(hourly[-1] / CLOSES[2] - 1)


def test_gaps(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    for offset in (0, 1, 2, 5, 6, 8, 9):  # days 3-4 and 7 are missing
        factory.daily_prices(coin, [100.0 + offset], start=T0 + offset * DAY)
    body = client.get("/api/v1/prices/bitcoin/gaps").json()
    assert body["gaps"] == [
        {"start": "2024-01-04T00:00:00Z", "end": "2024-01-05T00:00:00Z", "missing": 2},
        {"start": "2024-01-08T00:00:00Z", "end": "2024-01-08T00:00:00Z", "missing": 1},
    ]
    assert body["missing_total"] == 3

    bounded = client.get(
        "/api/v1/prices/bitcoin/gaps",
        params={"start": "2023-12-30T00:00:00Z", "end": "2024-01-12T00:00:00Z"},
    ).json()
    assert bounded["gaps"][0] == {
        "start": "2023-12-30T00:00:00Z",
        "end": "2023-12-31T00:00:00Z",
        "missing": 2,
    }
    assert bounded["gaps"][-1] == {
        "start": "2024-01-11T00:00:00Z",
        "end": "2024-01-12T00:00:00Z",
        "missing": 2,
    }
    assert bounded["missing_total"] == 7

    hourly = client.get("/api/v1/prices/bitcoin/gaps", params={"interval": "1h"}).json()
    assert hourly["gaps"] == [] and hourly["missing_total"] == 0
    inverted = client.get(
        "/api/v1/prices/bitcoin/gaps",
        params={"start": "2024-01-05T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
    )
    assert inverted.status_code == 422
