"""The CoinGecko-compatible mirror under /api/v3: shapes checked against recorded CoinGecko
responses, values computed from the rows each test stores, CoinGecko's error bodies, the
response cache and its invalidation by price writes, and constant query counts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import MemoryCache
from cryptopredict.marketdata import mirror
from tests.conftest import SHARED_DATA
from tests.factories import Factory
from tests.marketdata.conftest import HOUR, HOURLY_CLOSES, IMAGE, T0, set_image

RECORDED = SHARED_DATA / "coingecko"
API = "/api/v3"
NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)
MINUTES_5 = dt.timedelta(minutes=5)
DAY = dt.timedelta(days=1)


@cache
def recorded(name: str) -> Any:
    """A recorded CoinGecko response body, parsed once per run."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


@cache
def markets_nullable() -> frozenset[str]:
    """Fields CoinGecko's own OpenAPI spec declares nullable in /coins/markets entries."""
    spec = recorded("openapi/coingecko-demo-api.json")
    properties = spec["components"]["schemas"]["CoinsMarkets"]["items"]["properties"]
    return frozenset(name for name, schema in properties.items() if schema.get("nullable"))


def kind(value: Any) -> str:
    """JSON type of a value, with ints and floats both 'number' (CoinGecko mixes them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def assert_entry_shape(
    ours: dict[str, Any], examples: list[dict[str, Any]], nullable: frozenset[str] = frozenset()
) -> None:
    """Same keys as CoinGecko's entries, each value of a type CoinGecko sent for that key
    (or null where CoinGecko's spec allows it)."""
    assert set(ours) == set(examples[0])
    for key, value in ours.items():
        allowed = {kind(example[key]) for example in examples if key in example}
        if key in nullable:
            allowed.add("null")
        assert kind(value) in allowed, (key, value, allowed)


def assert_chart_shape(body: dict[str, Any]) -> None:
    """market_chart's three parallel arrays of [integer ms, number]; a market cap or volume
    we do not know is null rather than an invented number."""
    example = recorded("market_chart_bitcoin_7d.json")
    assert set(body) == set(example) == {"prices", "market_caps", "total_volumes"}
    lengths = {len(body[key]) for key in body}
    assert len(lengths) == 1
    for key, points in body.items():
        allowed = {"number"} if key == "prices" else {"number", "null"}
        for point in points:
            assert len(point) == 2 and isinstance(point[0], int), (key, point)
            assert kind(point[1]) in allowed, (key, point)
        assert [p[0] for p in points] == [p[0] for p in body["prices"]]


def ms(instant: dt.datetime) -> int:
    """CoinGecko's millisecond timestamps."""
    return int(instant.timestamp()) * 1000


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """Relative windows (`days`) end at NOW instead of the wall clock."""
    monkeypatch.setattr(mirror, "clock", lambda: NOW)
    return NOW


@pytest.fixture
def count_statements(engine: Engine) -> Callable[[], Any]:
    """A context manager collecting the SQL statements run inside it, savepoints left out."""

    @contextmanager
    def counting() -> Iterator[list[str]]:
        statements: list[str] = []

        def record(*args: Any) -> None:
            sql = str(args[2]).lstrip().upper()
            if not sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                statements.append(sql)

        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    return counting


# ---- /ping, /simple/price ---------------------------------------------------------------


def test_ping_answers_like_coingecko(client: TestClient) -> None:
    response = client.get(f"{API}/ping")
    assert response.status_code == 200
    assert response.json() == recorded("ping.json")
    assert client.get(f"{API}/simple/supported_vs_currencies").json() == ["usd"]


def test_simple_price_values_and_shape(
    client: TestClient, market: dict[str, Cryptocurrency]
) -> None:
    response = client.get(
        f"{API}/simple/price",
        params={
            "ids": "alpha,beta,no-such-coin,gamma",
            "vs_currencies": "usd,myr",
            "include_market_cap": "true",
            "include_24hr_vol": "true",
            "include_24hr_change": "true",
            "include_last_updated_at": "true",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["alpha", "beta", "gamma"]  # unknown ids left out, as CoinGecko
    example = recorded("simple_price_with_market_data.json")["bitcoin"]
    for coin in ("alpha", "beta"):
        assert set(body[coin]) == set(example)  # myr is absent: only USD is stored
        assert all(kind(body[coin][key]) == kind(example[key]) for key in example)
    assert body["gamma"] == {}

    # alpha: newest bar T0+29h (129); reference: newest at or before T0+5h (105).
    alpha = body["alpha"]
    assert alpha["usd"] == 129.0
    assert alpha["usd_market_cap"] == 129.0 * 1_000_000
    assert alpha["usd_24h_vol"] == 1000.0
    assert alpha["usd_24h_change"] == pytest.approx(100 * (129 / 105 - 1))
    assert alpha["last_updated_at"] == int((T0 + 29 * HOUR).timestamp())
    beta = body["beta"]
    assert beta["usd"] == 55.0
    assert beta["usd_24h_change"] == pytest.approx(100 * (55 / 60 - 1))

    plain = client.get(f"{API}/simple/price", params={"ids": "alpha", "vs_currencies": "usd"})
    assert plain.json() == {"alpha": {"usd": 129.0}}
    assert set(plain.json()["alpha"]) < set(recorded("simple_price.json")["bitcoin"])

    rounded = client.get(
        f"{API}/simple/price",
        params={
            "ids": "beta",
            "vs_currencies": "usd",
            "include_24hr_change": "true",
            "precision": "0",
        },
    )
    assert rounded.json()["beta"]["usd"] == 55
    other_currency = client.get(
        f"{API}/simple/price", params={"ids": "alpha", "vs_currencies": "eur"}
    )
    assert other_currency.json() == {"alpha": {}}


def test_simple_price_with_only_unknown_ids_is_empty(client: TestClient) -> None:
    response = client.get(
        f"{API}/simple/price", params={"ids": "nope,nada", "vs_currencies": "usd"}
    )
    assert response.status_code == 200
    assert response.json() == {}


# ---- /coins/list --------------------------------------------------------------------------


def test_coins_list_shape_and_status(client: TestClient, market: dict[str, Cryptocurrency]) -> None:
    body = client.get(f"{API}/coins/list").json()
    assert [entry["id"] for entry in body] == ["alpha", "beta", "gamma"]  # by id, active only
    assert_entry_shape(body[0], recorded("coins_list.json"))
    assert body[0] == {"id": "alpha", "symbol": "alp", "name": "Alpha"}

    with_platforms = client.get(f"{API}/coins/list", params={"include_platform": "true"}).json()
    example = recorded("coins_list_include_platform.json")[:50]
    for entry in with_platforms:
        assert_entry_shape(entry, example)
        assert entry["platforms"] == {}

    inactive = client.get(f"{API}/coins/list", params={"status": "inactive"}).json()
    assert [entry["id"] for entry in inactive] == ["delta"]


# ---- /coins/markets -----------------------------------------------------------------------


def test_markets_values_and_shape(client: TestClient, market: dict[str, Cryptocurrency]) -> None:
    response = client.get(f"{API}/coins/markets", params={"vs_currency": "usd"})
    assert response.status_code == 200, response.text
    body = response.json()
    # gamma has no stored price, so no market entry; delta is inactive.
    assert [entry["id"] for entry in body] == ["alpha", "beta"]
    examples = recorded("coins_markets.json")
    for entry in body:
        assert_entry_shape(entry, examples, markets_nullable())

    alpha = body[0]
    assert (alpha["symbol"], alpha["name"], alpha["image"]) == ("alp", "Alpha", IMAGE)
    assert alpha["current_price"] == 129.0
    assert alpha["market_cap"] == 129.0 * 1_000_000
    assert alpha["market_cap_rank"] == 1
    assert alpha["total_volume"] == 1000.0
    # Window (T0+5h, T0+29h]: the spike's close (150) and the dip's close (90).
    assert (alpha["high_24h"], alpha["low_24h"]) == (150.0, 90.0)
    assert alpha["price_change_24h"] == pytest.approx(129 - 105)
    assert alpha["price_change_percentage_24h"] == pytest.approx(100 * (129 / 105 - 1))
    assert alpha["market_cap_change_24h"] == pytest.approx((129 - 105) * 1_000_000)
    assert alpha["market_cap_change_percentage_24h"] == pytest.approx(100 * (129 / 105 - 1))
    assert alpha["last_updated"] == "2024-01-02T05:00:00.000Z"
    for unknown in (
        "fully_diluted_valuation",
        "circulating_supply",
        "total_supply",
        "max_supply",
        "ath",
        "ath_date",
        "atl",
        "atl_date",
        "roi",
    ):
        assert alpha[unknown] is None, unknown  # never invented

    beta = body[1]  # daily only: high and low come from the newest daily bar (open 60, close 55)
    assert (beta["current_price"], beta["high_24h"], beta["low_24h"]) == (55.0, 60.0, 55.0)
    assert beta["price_change_24h"] == pytest.approx(-5.0)
    assert beta["last_updated"] == "2024-01-03T00:00:00.000Z"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"order": "market_cap_desc"}, ["alpha", "beta"]),
        ({"order": "market_cap_asc"}, ["beta", "alpha"]),
        ({"order": "volume_desc"}, ["beta", "alpha"]),
        ({"order": "volume_asc"}, ["alpha", "beta"]),
        ({"order": "id_desc"}, ["beta", "alpha"]),
        ({"per_page": "1", "page": "2"}, ["beta"]),
        ({"per_page": "1", "page": "2", "order": "volume_desc"}, ["alpha"]),
        ({"per_page": "2", "page": "2"}, []),
        ({"per_page": "1000"}, ["alpha", "beta"]),
        ({"ids": "beta,delta,gamma,nope,ALPHA"}, ["alpha", "beta"]),
        ({"category": "layer-1"}, []),
    ],
)
def test_markets_order_pages_and_filters(
    client: TestClient,
    market: dict[str, Cryptocurrency],
    params: dict[str, str],
    expected: list[str],
) -> None:
    response = client.get(f"{API}/coins/markets", params={"vs_currency": "usd", **params})
    assert response.status_code == 200, response.text
    assert [entry["id"] for entry in response.json()] == expected


def test_markets_extra_periods_and_sparkline(
    client: TestClient, market: dict[str, Cryptocurrency]
) -> None:
    response = client.get(
        f"{API}/coins/markets",
        params={"vs_currency": "usd", "ids": "alpha,beta", "price_change_percentage": "1y"},
    )
    examples = recorded("coins_markets_btc_eth_1y.json")
    for entry in response.json():
        assert_entry_shape(entry, examples, markets_nullable())
        assert entry["price_change_percentage_1y_in_currency"] is None  # not a year of data

    body = client.get(
        f"{API}/coins/markets",
        params={
            "vs_currency": "usd",
            "ids": "alpha,beta",
            "sparkline": "true",
            "price_change_percentage": "1h,24h,bogus",
        },
    ).json()
    alpha, beta = body
    assert alpha["price_change_percentage_1h_in_currency"] == pytest.approx(100 * (129 / 128 - 1))
    assert alpha["price_change_percentage_24h_in_currency"] == pytest.approx(
        alpha["price_change_percentage_24h"]
    )
    assert "price_change_percentage_bogus_in_currency" not in alpha
    assert beta["price_change_percentage_1h_in_currency"] is None  # daily data: no 1 h point
    assert alpha["sparkline_in_7d"] == {"price": HOURLY_CLOSES}
    assert beta["sparkline_in_7d"] == {"price": [50.0, 60.0, 55.0]}


# ---- /coins/{id}/market_chart and /range ------------------------------------------------


@pytest.fixture
def chart_coin(factory: Factory) -> Cryptocurrency:
    """bitcoin with 5-minute points over the last 2 days, hourly bars over the last 10 days
    and daily bars over the last 200 days, all ending before NOW."""
    coin = factory.coin("bitcoin", symbol="btc", name="Bitcoin", rank=1)
    five = [1000.0 + k for k in range(576)]  # NOW-2d .. NOW-5m
    factory.daily_prices(coin, five, start=NOW - 2 * DAY, interval="5m", step=MINUTES_5, volume=5.0)
    hourly = [2000.0 + k for k in range(240)]  # NOW-10d .. NOW-1h
    factory.daily_prices(coin, hourly, start=NOW - 10 * DAY, interval="1h", step=HOUR, volume=60.0)
    daily = [3000.0 + k for k in range(200)]  # (today - 199 d) .. today 00:00
    midnight = NOW.replace(hour=0)
    factory.daily_prices(coin, daily, start=midnight - 199 * DAY, volume=1440.0)
    return coin


def chart(client: TestClient, coin: str, **params: str) -> dict[str, Any]:
    response = client.get(
        f"{API}/coins/{coin}/market_chart", params={"vs_currency": "usd", **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_chart_shape(body)
    return body


def spacing(points: list[list[Any]]) -> set[int]:
    return {b[0] - a[0] for a, b in zip(points, points[1:], strict=False)}


def test_market_chart_granularity_follows_coingecko(
    client: TestClient, chart_coin: Cryptocurrency, pinned_clock: dt.datetime
) -> None:
    one_day = chart(client, "bitcoin", days="1")["prices"]  # 5-minutely
    assert len(one_day) == 288
    assert spacing(one_day) == {300_000}
    assert one_day[0] == [ms(NOW - DAY), 1000.0 + 288]
    assert one_day[-1] == [ms(NOW - MINUTES_5), 1000.0 + 575]

    week = chart(client, "bitcoin", days="7")  # hourly, then the newest (live) point
    prices = week["prices"]
    assert len(prices) == 168 + 1  # as CoinGecko's recorded 7-day chart: 169 points
    assert spacing(prices[:-1]) == {3_600_000}
    assert prices[0] == [ms(NOW - 7 * DAY), 2000.0 + 72]
    assert prices[-2] == [ms(NOW - HOUR), 2000.0 + 239]
    assert prices[-1] == [ms(NOW - MINUTES_5), 1000.0 + 575]
    assert week["market_caps"][0] == [ms(NOW - 7 * DAY), (2000.0 + 72) * 1_000_000]
    assert week["total_volumes"][0] == [ms(NOW - 7 * DAY), 60.0]
    assert week["total_volumes"][-1] == [ms(NOW - MINUTES_5), 5.0]

    long = chart(client, "bitcoin", days="200")["prices"]  # daily, then the live point
    assert len(long) == 200 + 1
    assert spacing(long[:-1]) == {86_400_000}
    assert long[-2] == [ms(NOW.replace(hour=0)), 3199.0]
    assert chart(client, "bitcoin", days="max")["prices"] == long

    # 90 days is an hourly request, but hourly data reaches back only 10 days: daily bars.
    quarter = chart(client, "bitcoin", days="90")["prices"]
    assert spacing(quarter[:-1]) == {86_400_000} and len(quarter) == 90 + 1

    forced = chart(client, "bitcoin", days="7", interval="daily")["prices"]
    assert [p[0] for p in forced[:-1]] == [
        ms(NOW.replace(hour=0) - k * DAY) for k in range(6, -1, -1)
    ]

    rounded = chart(client, "bitcoin", days="0.5", precision="0")["prices"]
    assert len(rounded) == 144 and rounded[0][1] == 1000.0 + 432


def test_market_chart_falls_back_to_other_stored_series(
    client: TestClient, factory: Factory, pinned_clock: dt.datetime
) -> None:
    fine = factory.coin("only-five", symbol="ofv")
    five = [10.0 + k for k in range(576)]
    factory.daily_prices(fine, five, start=NOW - 2 * DAY, interval="5m", step=MINUTES_5)
    # Two days is an hourly request: the 5-minute series thinned to each hour's first point.
    body = chart(client, "only-five", days="2")["prices"]
    assert len(body) == 48 + 1
    assert spacing(body[:-1]) == {3_600_000}
    assert body[:2] == [[ms(NOW - 2 * DAY), 10.0], [ms(NOW - 2 * DAY + HOUR), 22.0]]
    assert body[-1] == [ms(NOW - MINUTES_5), 10.0 + 575]

    coarse = factory.coin("only-daily", symbol="odl")
    factory.daily_prices(coarse, [5.0, 6.0, 7.0], start=NOW.replace(hour=0) - 2 * DAY)
    assert chart(client, "only-daily", days="1")["prices"] == [[ms(NOW.replace(hour=0)), 7.0]]
    assert chart(client, "only-daily", days="30")["prices"] == [
        [ms(NOW.replace(hour=0) - k * DAY), 7.0 - k] for k in (2, 1, 0)
    ]


def test_market_chart_range(
    client: TestClient, chart_coin: Cryptocurrency, pinned_clock: dt.datetime
) -> None:
    def ranged(start: dt.datetime, end: dt.datetime) -> list[list[Any]]:
        response = client.get(
            f"{API}/coins/bitcoin/market_chart/range",
            params={
                "vs_currency": "usd",
                "from": str(int(start.timestamp())),
                "to": str(int(end.timestamp())),
            },
        )
        assert response.status_code == 200, response.text
        assert_chart_shape(response.json())
        prices: list[list[Any]] = response.json()["prices"]
        return prices

    example = recorded("market_chart_range_bitcoin_daily.json")
    assert_chart_shape(example)
    last_day = ranged(NOW - DAY, NOW)  # 5-minutely, no live point appended
    assert len(last_day) == 288 and last_day[-1][0] == ms(NOW - MINUTES_5)
    # A day inside the hourly series' reach but before the 5-minute series starts: hourly.
    older = ranged(NOW - 3 * DAY, NOW - 2 * DAY)
    assert len(older) == 25 and spacing(older) == {3_600_000}
    months = ranged(NOW - 150 * DAY, NOW - 100 * DAY)  # daily beyond 90 days
    assert len(months) == 50 and spacing(months) == {86_400_000}
    assert ranged(NOW - DAY, NOW - 2 * DAY) == []  # inverted: empty, not an error


# ---- /coins/{id}/ohlc -------------------------------------------------------------------


def test_ohlc_candles_with_coingecko_widths(
    client: TestClient, chart_coin: Cryptocurrency, pinned_clock: dt.datetime
) -> None:
    def candles(coin: str, days: str) -> list[list[Any]]:
        response = client.get(
            f"{API}/coins/{coin}/ohlc", params={"vs_currency": "usd", "days": days}
        )
        assert response.status_code == 200, response.text
        body: list[list[Any]] = response.json()
        for candle in body:
            assert len(candle) == 5 and isinstance(candle[0], int)
            assert all(kind(value) == "number" for value in candle[1:])
        return body

    example = recorded("ohlc_bitcoin_example.json")
    assert spacing(example) == {1_800_000}

    day = candles("bitcoin", "1")  # 30-minute candles from the 5-minute series
    assert spacing(day) == {1_800_000} and len(day) == 48
    # First candle: 5-minute points k = 288..293 (closes 1288..1293, opens 1287..1292).
    assert day[0] == [ms(NOW - DAY + 30 * dt.timedelta(minutes=1)), 1287.0, 1293.0, 1287.0, 1293.0]
    assert day[-1][0] == ms(NOW)  # close time of the last (complete) candle

    week = candles("bitcoin", "7")  # 4-hour candles from hourly bars
    assert spacing(week) == {4 * 3_600_000} and len(week) == 42
    assert week[-1] == [ms(NOW), 2235.0, 2239.0, 2235.0, 2239.0]

    quarter = candles("bitcoin", "90")  # 4-day candles from daily bars
    assert spacing(quarter) == {4 * 86_400_000}
    assert all(candle[0] % (4 * 86_400_000) == 0 for candle in quarter)


def test_ohlc_uses_stored_bars_when_nothing_finer_exists(
    client: TestClient, factory: Factory, pinned_clock: dt.datetime
) -> None:
    coin = factory.coin("only-daily", symbol="odl")
    factory.daily_prices(coin, [5.0, 7.0], start=NOW.replace(hour=0) - DAY)
    response = client.get(
        f"{API}/coins/only-daily/ohlc", params={"vs_currency": "usd", "days": "1"}
    )
    # The daily bar starting today 00:00 (open 5, close 7), stamped with its close time.
    assert response.json() == [[ms(NOW.replace(hour=0) + DAY), 5.0, 7.0, 5.0, 7.0]]


# ---- cache and query counts -------------------------------------------------------------


def test_cached_until_a_price_write_through_the_bulk_api(
    client: TestClient,
    factory: Factory,
    db_session: Session,
    market: dict[str, Cryptocurrency],
    count_statements: Callable[[], Any],
) -> None:
    params = {"ids": "alpha", "vs_currencies": "usd"}
    markets = {"vs_currency": "usd", "ids": "alpha"}
    assert client.get(f"{API}/simple/price", params=params).json() == {"alpha": {"usd": 129.0}}
    assert client.get(f"{API}/coins/markets", params=markets).json()[0]["current_price"] == 129.0
    with count_statements() as statements:
        assert client.get(f"{API}/simple/price", params=params).json()["alpha"]["usd"] == 129.0
        client.get(f"{API}/coins/markets", params=markets)
    assert statements == []  # served from the cache

    admin = factory.admin()
    point = {
        "coin": "alpha",
        "interval": "1h",
        "timestamp": "2024-01-02T06:00:00Z",
        "price": 131.5,
        "market_cap": 131.5e6,
    }
    written = client.post(
        "/api/v1/prices/bulk", json={"points": [point]}, headers=factory.headers(admin)
    )
    assert written.status_code == 200, written.text
    assert client.get(f"{API}/simple/price", params=params).json() == {"alpha": {"usd": 131.5}}
    entry = client.get(f"{API}/coins/markets", params=markets).json()[0]
    assert (entry["current_price"], entry["last_updated"]) == (131.5, "2024-01-02T06:00:00.000Z")


def test_equivalent_requests_share_one_cache_entry(
    client: TestClient,
    market: dict[str, Cryptocurrency],
    count_statements: Callable[[], Any],
) -> None:
    """Spellings CoinGecko reads alike (list order, case, repeats, stated defaults) reach the
    route but are answered from the entry the first one stored, without touching the database."""
    price = client.get(f"{API}/simple/price", params={"ids": "alpha,beta", "vs_currencies": "usd"})
    markets = {"vs_currency": "usd", "ids": "alpha,beta", "price_change_percentage": "24h,7d"}
    page = client.get(f"{API}/coins/markets", params=markets)
    chart = {"vs_currency": "usd", "days": "1"}
    series = client.get(f"{API}/coins/alpha/market_chart", params=chart)
    with count_statements() as statements:
        for params in (
            {"ids": "beta,alpha", "vs_currencies": "usd"},
            {"ids": " BETA,alpha,Beta", "vs_currencies": "USD", "include_market_cap": "false"},
            {"ids": "alpha,beta", "vs_currencies": "usd", "precision": "full"},
        ):
            response = client.get(f"{API}/simple/price", params=params)
            assert response.content == price.content, params
        for params in (
            {"vs_currency": "USD", "ids": "beta,alpha", "price_change_percentage": "7d,24h"},
            {**markets, "order": "market_cap_desc", "per_page": "100", "page": "1"},
        ):
            response = client.get(f"{API}/coins/markets", params=params)
            assert response.content == page.content, params
        for params in ({"vs_currency": "usd", "days": "1.0"}, {**chart, "interval": ""}):
            response = client.get(f"{API}/coins/ALPHA/market_chart", params=params)
            assert response.content == series.content, params
    assert statements == []


def test_hot_paths_cost_a_fixed_number_of_queries(
    client: TestClient,
    factory: Factory,
    db_session: Session,
    count_statements: Callable[[], Any],
) -> None:
    coins = [factory.coin(f"hot-{n}", symbol=f"h{n}", rank=n + 1) for n in range(10)]
    set_image(db_session, *coins)
    for n, coin in enumerate(coins):
        factory.daily_prices(coin, [10.0 + n, 11.0 + n, 12.0 + n], start=T0)

    def statements_for(path: str, params: dict[str, str]) -> int:
        client.app.state.cache = MemoryCache()  # type: ignore[attr-defined]
        with count_statements() as statements:
            response = client.get(API + path, params=params)
        assert response.status_code == 200, response.text
        return len(statements)

    ids = [coin.coingecko_id for coin in coins]
    few = statements_for("/simple/price", {"ids": ",".join(ids[:2]), "vs_currencies": "usd"})
    many = statements_for(
        "/simple/price",
        {"ids": ",".join(ids), "vs_currencies": "usd", "include_24hr_change": "true"},
    )
    assert few == many <= 4
    page = statements_for("/coins/markets", {"vs_currency": "usd", "per_page": "2"})
    full = statements_for("/coins/markets", {"vs_currency": "usd"})
    assert page == full <= 6
    extras = {"vs_currency": "usd", "sparkline": "true", "price_change_percentage": "7d,30d"}
    assert statements_for("/coins/markets", extras) <= 9
