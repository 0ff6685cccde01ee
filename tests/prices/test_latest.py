"""GET /prices/latest: newest point per coin, 24 h change, missing ids, constant query count."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.prices.conftest import DAY, HOUR, T0

LATEST = "/api/v1/prices/latest"


def test_latest_for_several_coins_with_missing_ones(client: TestClient, factory: Factory) -> None:
    bitcoin = factory.coin("bitcoin", symbol="btc", name="Bitcoin")
    daily = [100.0, 104.0, 103.0, 108.0]
    factory.daily_prices(bitcoin, daily, start=T0)

    ethereum = factory.coin("ethereum", symbol="eth", name="Ethereum")
    hourly = [50.0 + i for i in range(30)]  # 30 hourly bars from T0 + 5 days
    factory.daily_prices(ethereum, hourly, start=T0 + 5 * DAY, interval="1h", step=HOUR)

    factory.coin("solana", symbol="sol")  # known, never priced
    lonely = factory.coin("lonely", symbol="lnl")
    factory.daily_prices(lonely, [7.0], start=T0)

    response = client.get(LATEST, params={"coins": "ethereum, BITCOIN,dogecoin,solana,lonely"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["missing"] == ["dogecoin"]
    assert body["no_data"] == ["solana"]
    items = {item["coin"]: item for item in body["items"]}
    assert [item["coin"] for item in body["items"]] == ["ethereum", "bitcoin", "lonely"]

    btc = items["bitcoin"]
    assert btc["timestamp"] == "2024-01-04T00:00:00Z"
    assert (btc["price"], btc["interval"], btc["symbol"]) == (108.0, "1d", "btc")
    assert btc["reference_at"] == "2024-01-03T00:00:00Z"
    assert btc["price_change_24h"] == pytest.approx(108.0 - 103.0)
    assert btc["price_change_percentage_24h"] == pytest.approx(100 * (108.0 / 103.0 - 1))

    eth = items["ethereum"]
    # Newest bar: T0 + 5 days + 29 h; 24 h earlier is bar 5 of the series.
    assert eth["timestamp"] == "2024-01-07T05:00:00Z"
    assert eth["interval"] == "1h"
    assert eth["reference_price"] == hourly[5]
    assert eth["price_change_percentage_24h"] == pytest.approx(100 * (hourly[29] / hourly[5] - 1))

    assert items["lonely"]["price"] == 7.0
    assert items["lonely"]["price_change_24h"] is None


def test_change_is_null_when_the_reference_is_too_old(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("gappy", symbol="gap")
    factory.daily_prices(coin, [10.0], start=T0)
    factory.daily_prices(coin, [20.0], start=T0 + 3 * DAY)
    item = client.get(LATEST, params={"coins": "gappy"}).json()["items"][0]
    assert item["price"] == 20.0
    assert item["price_change_24h"] is None and item["reference_at"] is None


def test_finest_series_wins_when_instants_tie(client: TestClient, factory: Factory) -> None:
    coin = factory.coin("bitcoin", symbol="btc")
    factory.daily_prices(coin, [100.0, 110.0], start=T0)
    factory.daily_prices(coin, [111.0], start=T0 + DAY, interval="1h", step=HOUR)
    item = client.get(LATEST, params={"coins": "bitcoin"}).json()["items"][0]
    assert (item["interval"], item["price"]) == ("1h", 111.0)
    # No hourly data a day earlier, so the daily series supplies the reference.
    assert item["reference_price"] == 100.0


def test_none_known_is_404_and_bad_lists_are_422(client: TestClient, factory: Factory) -> None:
    factory.coin("bitcoin", symbol="btc")
    unknown = client.get(LATEST, params={"coins": "nope,nada"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"] == {"missing": ["nope", "nada"]}
    too_many = ",".join(f"coin-{i}" for i in range(101))
    for coins in ("", " , ", too_many, "bit coin", "bitcoin,<script>"):
        response = client.get(LATEST, params={"coins": coins})
        assert response.status_code == 422, coins
        assert response.json()["error"]["details"][0]["loc"] == ["query", "coins"]
    assert client.get(LATEST).status_code == 422
    duplicates = client.get(LATEST, params={"coins": "bitcoin,bitcoin,BITCOIN"})
    assert duplicates.status_code == 200
    assert duplicates.json()["no_data"] == ["bitcoin"]


def test_query_count_does_not_grow_with_coins(
    client: TestClient, factory: Factory, count_queries: Callable[[], Any]
) -> None:
    names = [f"coin-{i}" for i in range(12)]
    for i, name in enumerate(names):
        coin = factory.coin(name)
        factory.daily_prices(coin, [10.0 + i, 11.0 + i, 12.0 + i], start=T0)

    def queries_for(coins: list[str]) -> int:
        with count_queries() as statements:
            response = client.get(LATEST, params={"coins": ",".join(coins)})
        assert response.status_code == 200
        assert len(response.json()["items"]) == len(coins)
        return sum(1 for sql in statements if sql.lstrip().upper().startswith("SELECT"))

    few, many = queries_for(names[:2]), queries_for(names)
    assert few == many <= 4


@pytest.mark.parametrize(
    "coins",
    [
        "bitcoin",
        "Bitcoin , ETHEREUM",
        "a,,b",
        ",bitcoin",
        "bitcoin,",
        "bit coin",
        "\u212a",  # KELVIN SIGN lower-cases to an ASCII k
        "x" * 100,
        "x" * 101,
        ",".join(["a"] * 100),
        ",".join(["a"] * 101),
        "a.b_c-d",
        "-a",
    ],
)
def test_the_documented_pattern_is_what_the_server_accepts(client: TestClient, coins: str) -> None:
    parameter = next(
        p
        for p in client.app.openapi()["paths"]["/api/v1/prices/latest"]["get"]["parameters"]  # type: ignore[attr-defined]
        if p["name"] == "coins"
    )
    documented = re.fullmatch(parameter["schema"]["pattern"], coins) is not None

    response = client.get(LATEST, params={"coins": coins})

    assert response.status_code != 500
    assert (response.status_code != 422) == documented, (coins, response.text)
