"""Every client endpoint over real HTTP against the fake, parsed into models whose values
match the recorded CoinGecko responses and the daily price CSVs they were built from."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from cryptopredict.marketdata.exceptions import (
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamNotFoundError,
)
from cryptopredict.marketdata.schemas import MARKETS, ChartColumns
from cryptopredict.snapshot import PRICES_DIR, SNAPSHOT_COINS
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.conftest import SHARED_DATA
from tests.marketdata.conftest import MakeClient

pytestmark = pytest.mark.anyio

RECORDINGS = SHARED_DATA / "coingecko"
NOW = datetime(2021, 7, 7, tzinfo=UTC)  # the fake's clock: the day after the last CSV day
FIVE_MINUTES, HOUR, DAY = timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)


def csv_rows(coin: str) -> dict[date, dict[str, float | None]]:
    """The snapshot CSV of a coin, read independently of the fake's own parser."""
    with (PRICES_DIR / f"{coin}.csv").open(newline="") as handle:
        return {
            date.fromisoformat(row["date"]): {
                k: float(v) if v else None for k, v in row.items() if k != "date"
            }
            for row in csv.DictReader(handle)
        }


def close_before(rows: dict[date, dict[str, float | None]], at: datetime) -> float | None:
    """CoinGecko stamps the close of day D at D+1 00:00 UTC."""
    return rows[(at - DAY).date()]["close"]


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_bytes())


def steps(instants: list[datetime]) -> set[timedelta]:
    return {b - a for a, b in zip(instants, instants[1:], strict=False)}


async def test_ping_returns_the_recorded_greeting(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    async with make_client() as client:
        ping = await client.ping()
    assert ping.gecko_says == recording("ping.json")["gecko_says"]
    assert client.calls_made == 1
    [request] = fake_coingecko.requests
    assert (request.method, request.endpoint, request.status) == ("GET", "/ping", 200)


async def test_coins_list_is_the_recorded_list_plus_price_coins(make_client: MakeClient) -> None:
    recorded = recording("coins_list_include_platform.json")
    async with make_client() as client:
        plain = await client.coins_list()
        with_platforms = await client.coins_list(include_platform=True)
    assert [(c.id, c.symbol, c.name) for c in plain] == [
        (r["id"], r["symbol"], r["name"]) for r in recorded
    ]
    assert all(c.platforms is None for c in plain)
    assert {c.id: c.platforms for c in with_platforms} == {
        r["id"]: r["platforms"] for r in recorded
    }
    assert set(SNAPSHOT_COINS) <= {c.id for c in plain}


async def test_coins_markets_matches_recording_and_csv_prices(make_client: MakeClient) -> None:
    recorded = MARKETS.validate_json((RECORDINGS / "coins_markets.json").read_bytes())
    async with make_client() as client:
        entries = await client.coins_markets()
    assert [e.id for e in entries] == [r.id for r in recorded]
    for entry, original in zip(entries, recorded, strict=True):
        if entry.id not in SNAPSHOT_COINS:
            assert entry == original
            continue
        rows = csv_rows(entry.id)
        last_day = max(rows)
        assert entry.current_price == rows[last_day]["close"]
        assert entry.high_24h == rows[last_day]["high"]
        assert entry.low_24h == rows[last_day]["low"]
        assert entry.total_volume == rows[last_day]["volume"]
        assert entry.price_change_24h == pytest.approx(
            rows[last_day]["close"] - rows[last_day - DAY]["close"]  # type: ignore[operator]
        )
        assert entry.last_updated == NOW
        assert (entry.symbol, entry.name, entry.market_cap, entry.market_cap_rank) == (
            original.symbol,
            original.name,
            original.market_cap,
            original.market_cap_rank,
        )


async def test_coins_markets_pages_filters_and_orders(make_client: MakeClient) -> None:
    recorded_ids = [r["id"] for r in recording("coins_markets.json")]
    async with make_client() as client:
        second = await client.coins_markets(page=2, per_page=100)
        third = await client.coins_markets(page=3, per_page=100)
        beyond = await client.coins_markets(page=4, per_page=100)
        chosen = await client.coins_markets(ids=["litecoin", "bitcoin", "no-such-coin"])
        by_id = await client.coins_markets(per_page=5, order="id_asc")
        with pytest.raises(ValueError, match="per_page"):
            await client.coins_markets(per_page=251)
    assert [e.id for e in second] == recorded_ids[100:200]
    assert [e.id for e in third] == recorded_ids[200:250]
    assert beyond == []
    assert [e.id for e in chosen] == ["bitcoin", "litecoin"]
    assert [e.id for e in by_id] == sorted(recorded_ids)[:5]
    assert client.calls_made == 5  # the bad per_page never left the client


async def test_simple_price_agrees_with_markets_and_csv(make_client: MakeClient) -> None:
    async with make_client() as client:
        prices = await client.simple_price(
            ["bitcoin", "ethereum", "no-such-coin"],
            ["usd"],
            include_market_cap=True,
            include_24hr_vol=True,
            include_24hr_change=True,
            include_last_updated_at=True,
        )
        markets = {e.id: e for e in await client.coins_markets(ids=["bitcoin", "ethereum"])}
        bare = await client.simple_price(["bitcoin"])
    assert set(prices.root) == {"bitcoin", "ethereum"}
    for coin in ("bitcoin", "ethereum"):
        quote = prices.quote(coin)
        assert quote is not None
        rows = csv_rows(coin)
        assert quote.price == rows[max(rows)]["close"] == markets[coin].current_price
        assert quote.market_cap == markets[coin].market_cap
        assert quote.volume_24h == markets[coin].total_volume
        assert quote.change_24h_percent == markets[coin].price_change_percentage_24h
        assert quote.last_updated_at == NOW
    assert bare.root == {"bitcoin": {"usd": csv_rows("bitcoin")[date(2021, 7, 6)]["close"]}}


@pytest.mark.parametrize(
    ("days", "points", "step"),
    [(1, 289, FIVE_MINUTES), (7, 169, HOUR), (90, 90 * 24 + 1, HOUR), (365, 366, DAY)],
)
async def test_market_chart_follows_coingecko_granularity(
    make_client: MakeClient, days: int, points: int, step: timedelta
) -> None:
    async with make_client() as client:
        chart = await client.market_chart("bitcoin", days)
    instants = [p.at for p in chart.prices]
    assert len(instants) == points
    assert steps(instants) == {step}
    assert (instants[0], instants[-1]) == (NOW - days * DAY, NOW)
    assert [v.at for v in chart.market_caps] == [v.at for v in chart.total_volumes] == instants
    rows = csv_rows("bitcoin")
    for point in chart.prices:
        if point.at.hour == point.at.minute == 0:  # the daily anchors are the real closes
            assert point.value == close_before(rows, point.at)


async def test_market_chart_max_is_the_whole_daily_history(make_client: MakeClient) -> None:
    rows = csv_rows("ethereum")
    async with make_client() as client:
        chart = await client.market_chart("ethereum", "max")
    assert len(chart.prices) == len(rows)
    assert chart.prices[0].at == datetime.combine(min(rows) + DAY, datetime.min.time(), UTC)
    assert [p.value for p in chart.prices] == [r["close"] for r in rows.values()]
    assert [v.value for v in chart.market_caps] == [r["market_cap"] for r in rows.values()]


async def test_market_chart_interval_daily_and_interpolated_hours(make_client: MakeClient) -> None:
    async with make_client() as client:
        daily = await client.market_chart("cardano", 30, interval="daily")
        hourly = await client.market_chart("cardano", 2)
    assert len(daily.prices) == 31
    assert steps([p.at for p in daily.prices]) == {DAY}
    by_instant = {p.at: p.value for p in hourly.prices}
    midnight = NOW - DAY
    noon = midnight + 12 * HOUR
    expected = (by_instant[midnight] + by_instant[NOW]) / 2
    assert by_instant[noon] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [
        (datetime(2021, 3, 1, 18, tzinfo=UTC), datetime(2021, 3, 2, 6, tzinfo=UTC), FIVE_MINUTES),
        (datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 3, 31, tzinfo=UTC), HOUR),
        (datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC), DAY),
    ],
)
async def test_market_chart_range_granularity_and_values(
    make_client: MakeClient, start: datetime, end: datetime, step: timedelta
) -> None:
    async with make_client() as client:
        chart = await client.market_chart_range("ripple", start, end)
    instants = [p.at for p in chart.prices]
    assert (instants[0], instants[-1]) == (start, end)
    assert steps(instants) == {step}
    rows = csv_rows("ripple")
    series = zip(chart.prices, chart.market_caps, chart.total_volumes, strict=True)
    anchors = [(p, m, v) for p, m, v in series if p.at.hour == 0 == p.at.minute]
    assert anchors
    for price, cap, volume in anchors:
        day = rows[(price.at - DAY).date()]
        assert (price.value, cap.value, volume.value) == (
            day["close"],
            day["market_cap"],
            day["volume"],
        )


async def test_unknown_volumes_are_zero_as_in_early_coingecko_history(
    make_client: MakeClient,
) -> None:
    start, end = datetime(2013, 5, 1, tzinfo=UTC), datetime(2013, 6, 1, tzinfo=UTC)
    async with make_client() as client:
        chart = await client.market_chart_range("bitcoin", start, end)
    assert csv_rows("bitcoin")[date(2013, 5, 1)]["volume"] is None
    assert {v.value for v in chart.total_volumes} == {0.0}


@pytest.mark.parametrize(("days", "count", "width"), [(1, 48, 30 * 60), (14, 84, 4 * 3600)])
async def test_ohlc_intraday_candles(
    make_client: MakeClient, days: int, count: int, width: int
) -> None:
    async with make_client() as client:
        candles = await client.ohlc("dogecoin", days)
    assert len(candles) == count
    assert candles[-1].closed_at == NOW
    assert steps([c.closed_at for c in candles]) == {timedelta(seconds=width)}
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
    assert candles[-1].close == csv_rows("dogecoin")[date(2021, 7, 6)]["close"]


async def test_ohlc_four_day_candles_aggregate_the_real_daily_rows(
    make_client: MakeClient,
) -> None:
    rows = csv_rows("litecoin")
    async with make_client() as client:
        candles = await client.ohlc("litecoin", 90)
    assert steps([c.closed_at for c in candles]) == {4 * DAY}
    for candle in candles:
        days = [rows[(candle.closed_at - n * DAY).date()] for n in (4, 3, 2, 1)]
        assert candle.open == days[0]["open"]
        assert candle.high == max(d["high"] for d in days)  # type: ignore[type-var]
        assert candle.low == min(d["low"] for d in days)  # type: ignore[type-var]
        assert candle.close == days[-1]["close"]


async def test_trending_matches_recording(make_client: MakeClient) -> None:
    recorded = recording("search_trending.json")
    async with make_client() as client:
        trending = await client.trending()
    assert [c.item.id for c in trending.coins] == [c["item"]["id"] for c in recorded["coins"]]
    assert [n.id for n in trending.nfts] == [n["id"] for n in recorded["nfts"]]
    assert [c.name for c in trending.categories] == [c["name"] for c in recorded["categories"]]
    first = trending.coins[0].item
    assert first.price_btc == recorded["coins"][0]["item"]["price_btc"]


async def test_unknown_coin_is_not_found_and_never_retried(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    async with make_client() as client:
        with pytest.raises(UpstreamNotFoundError, match="coin not found") as caught:
            await client.market_chart("no-such-coin", 1)
    assert caught.value.status_code == 404
    assert len(fake_coingecko.requests) == 1


async def test_bad_parameters_are_fatal_400(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    async with make_client() as client:
        with pytest.raises(UpstreamClientError, match="invalid vs_currency") as caught:
            await client.coins_markets(vs_currency="not-a-currency")
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.market_chart_range("bitcoin", datetime(2021, 1, 1), NOW)  # noqa: DTZ001
        with pytest.raises(ValueError, match="days"):
            await client.market_chart("bitcoin", 0)
    assert caught.value.status_code == 400
    assert len(fake_coingecko.requests) == 1


async def test_demo_key_is_sent_in_its_header_and_limited_to_365_days(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    key = SecretStr("CG-demo-test-key")
    async with make_client(coingecko_api_key=key, coingecko_key_type="demo") as client:
        assert len((await client.market_chart("bitcoin", 365)).prices) == 366
        with pytest.raises(UpstreamAuthError, match="365 days") as too_old:
            await client.market_chart("bitcoin", 366)
        with pytest.raises(UpstreamAuthError):
            await client.market_chart_range("bitcoin", NOW - 400 * DAY, NOW - 300 * DAY)
    assert (too_old.value.status_code, too_old.value.error_code) == (401, 10012)
    assert [r.key_type for r in fake_coingecko.requests] == ["demo"] * 3
    assert all("x-cg-demo-api-key" not in r.headers for r in fake_coingecko.requests)


async def test_pro_key_reaches_the_whole_history(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    key = SecretStr("CG-pro-test-key")
    async with make_client(coingecko_api_key=key, coingecko_key_type="pro") as client:
        chart = await client.market_chart("litecoin", "max")
    assert len(chart.prices) == len(csv_rows("litecoin"))
    assert [r.key_type for r in fake_coingecko.requests] == ["pro"]


async def test_missing_key_answers_10002_and_is_not_retried(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.require_key = True
    async with make_client() as client:
        with pytest.raises(UpstreamAuthError, match="API Key Missing") as caught:
            await client.ping()
    assert (caught.value.status_code, caught.value.error_code) == (401, 10002)
    assert len(fake_coingecko.requests) == 1


async def test_market_chart_range_columns_hold_exactly_the_charts_values(
    make_client: MakeClient,
) -> None:
    start, end = datetime(2013, 5, 1, tzinfo=UTC), datetime(2021, 7, 7, tzinfo=UTC)
    async with make_client() as client:
        chart = await client.market_chart_range("bitcoin", start, end)
        columns = await client.market_chart_range_columns("bitcoin", start, end)
    assert len(columns.prices) == len(chart.prices) > 2000
    exact = ChartColumns.from_chart(chart)
    for name in ("prices", "market_caps", "total_volumes"):
        got, want = getattr(columns, name), getattr(exact, name)
        assert got.micros.tolist() == want.micros.tolist()
        assert got.values.tolist() == want.values.tolist()
    assert columns.prices.micros[0] == start.timestamp() * 1_000_000
    assert columns.prices.values.tolist() == [p.value for p in chart.prices]
