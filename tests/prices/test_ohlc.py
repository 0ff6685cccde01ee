"""GET /prices/{coin}/ohlc and /resampled: stored bars, resampling correctness, alignment."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.prices.conftest import DAY, HOUR, T0, Bar, WriteBars


def _hourly_bars(hours: int) -> list[Bar]:
    """Deterministic, irregular hourly bars starting at T0."""
    bars: list[Bar] = []
    price = 100.0
    for i in range(hours):
        o = price
        c = round(o * (1 + ((i * 7) % 11 - 5) / 200), 6)
        h = round(max(o, c) + (i % 3) * 0.25, 6)
        low = round(min(o, c) - (i % 4) * 0.5, 6)
        bars.append((T0 + i * HOUR, o, h, low, c, 10.0 + i))
        price = c
    return bars


def _expected_daily(bars: list[Bar]) -> list[dict[str, object]]:
    """Daily OHLC computed here independently: group by calendar day of the UTC start."""
    days: dict[dt.date, list[Bar]] = {}
    for bar in bars:
        days.setdefault(bar[0].date(), []).append(bar)
    return [
        {
            "timestamp": f"{day.isoformat()}T00:00:00Z",
            "open": group[0][1],
            "high": max(b[2] for b in group),
            "low": min(b[3] for b in group),
            "close": group[-1][4],
            "volume": sum(b[5] or 0.0 for b in group),
            "points": len(group),
        }
        for day, group in sorted(days.items())
    ]


def test_hourly_bars_resample_to_daily_ohlc(
    client: TestClient, factory: Factory, write_bars: WriteBars
) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    bars = _hourly_bars(24 * 2 + 3)  # two full days and three hours of a third
    write_bars(coin, "1h", bars)
    response = client.get("/api/v1/prices/bitcoin/ohlc", params={"interval": "1d"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["interval"], body["source_interval"], body["resampled"]) == ("1d", "1h", True)
    expected = _expected_daily(bars)
    assert [b["points"] for b in body["bars"]] == [24, 24, 3]
    for got, want in zip(body["bars"], expected, strict=True):
        assert got["timestamp"] == want["timestamp"]
        for key in ("open", "high", "low", "close", "volume"):
            assert abs(got[key] - want[key]) < 1e-9, (key, got, want)


def test_resampled_endpoint_and_range_alignment(
    client: TestClient, factory: Factory, write_bars: WriteBars
) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    bars = _hourly_bars(24 * 3)
    write_bars(coin, "1h", bars)
    expected = _expected_daily(bars)
    # Bars are those whose start lies in [start, end]: a start at noon skips day one.
    body = client.get(
        "/api/v1/prices/bitcoin/resampled",
        params={"source": "1h", "target": "1d", "start": "2024-01-01T12:00:00Z"},
    ).json()
    assert [b["timestamp"] for b in body["bars"]] == [
        expected[1]["timestamp"],
        expected[2]["timestamp"],
    ]
    assert body["bars"][0]["open"] == expected[1]["open"]
    assert body["bars"][0]["points"] == 24

    ended = client.get(
        "/api/v1/prices/bitcoin/resampled",
        params={"source": "1h", "target": "1d", "end": "2024-01-02T00:00:00Z"},
    ).json()
    assert [b["close"] for b in ended["bars"]] == [expected[0]["close"], expected[1]["close"]]
    assert ended["bars"][1]["points"] == 24  # the whole bar, not only its first hour

    limited = client.get(
        "/api/v1/prices/bitcoin/ohlc", params={"interval": "1d", "limit": 1}
    ).json()
    assert limited["truncated"] is True
    assert [b["timestamp"] for b in limited["bars"]] == [expected[2]["timestamp"]]
    assert limited["bars"][0]["points"] == 24

    two = client.get(
        "/api/v1/prices/bitcoin/resampled", params={"source": "1h", "target": "1d", "limit": 2}
    ).json()
    assert [b["timestamp"] for b in two["bars"]] == [e["timestamp"] for e in expected[1:]]

    for source, target in (("1d", "1h"), ("1h", "1h")):
        response = client.get(
            "/api/v1/prices/bitcoin/resampled", params={"source": source, "target": target}
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["loc"] == ["query", "target"]


def test_stored_bars_win_over_resampling(
    client: TestClient, factory: Factory, write_bars: WriteBars
) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    write_bars(coin, "1h", _hourly_bars(48))
    stored = [
        (T0, 1.0, 3.0, 0.5, 2.0, 5.0),
        (T0 + DAY, 2.0, 2.5, 1.5, 1.75, None),
    ]
    write_bars(coin, "1d", stored)
    body = client.get("/api/v1/prices/bitcoin/ohlc").json()
    assert (body["source_interval"], body["resampled"]) == ("1d", False)
    assert body["bars"] == [
        {
            "timestamp": "2024-01-01T00:00:00Z",
            "open": 1.0,
            "high": 3.0,
            "low": 0.5,
            "close": 2.0,
            "volume": 5.0,
            "points": None,
        },
        {
            "timestamp": "2024-01-02T00:00:00Z",
            "open": 2.0,
            "high": 2.5,
            "low": 1.5,
            "close": 1.75,
            "volume": None,
            "points": None,
        },
    ]


def test_price_only_points_and_no_data(client: TestClient, factory: Factory) -> None:
    factory.coin("bitcoin", symbol="btc")
    admin = factory.headers(factory.admin())
    points = [
        {"coin": "bitcoin", "interval": "1d", "timestamp": "2024-01-01T00:00:00Z", "price": 42.0}
    ]
    assert (
        client.post("/api/v1/prices/bulk", json={"points": points}, headers=admin).json()["written"]
        == 1
    )
    bar = client.get("/api/v1/prices/bitcoin/ohlc").json()["bars"][0]
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (42.0, 42.0, 42.0, 42.0)

    factory.coin("ethereum", symbol="eth")
    empty = client.get("/api/v1/prices/ethereum/ohlc").json()
    assert empty["bars"] == [] and empty["source_interval"] is None
    # With only 5-minute data, hourly bars are resampled from it.
    five_minute_only = factory.coin("solana", symbol="sol")
    factory.daily_prices(
        five_minute_only, [1.0, 2.0, 4.0], start=T0, interval="5m", step=dt.timedelta(minutes=5)
    )
    five_minute = client.get("/api/v1/prices/solana/ohlc", params={"interval": "1h"}).json()
    assert five_minute["source_interval"] == "5m"
    assert five_minute["bars"][0]["open"] == 1.0
    assert five_minute["bars"][0]["close"] == 4.0
    assert five_minute["bars"][0]["high"] == 4.0
    assert five_minute["bars"][0]["volume"] == 3000.0
