"""How history syncs are planned: windows on the grid, requests sized to CoinGecko's
granularity, recorded charts snapped to bars, and errors stored without secrets."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from cryptopredict.core.redaction import scrub
from cryptopredict.marketdata import schemas
from cryptopredict.marketdata.history import (
    TIERS,
    Chunk,
    chart_rows,
    history_window,
    plan_chunks,
)
from cryptopredict.prices.types import Gap, Interval
from tests.conftest import SHARED_DATA

RECORDED = SHARED_DATA / "coingecko"
NOW = dt.datetime(2026, 11, 25, 11, 32, 17, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
EARLIEST = NOW - 365 * DAY


def _chart(name: str) -> schemas.MarketChart:
    return schemas.MARKET_CHART.validate_json((RECORDED / name).read_bytes())


def _whole(interval: Interval, days: int = 365) -> tuple[Gap, dt.datetime, dt.datetime]:
    window = history_window(TIERS[interval], days=days, now=NOW)
    assert window is not None
    width = dt.timedelta(seconds=interval.seconds)
    missing = round((window.end - window.start) / width) + 1
    return Gap(window.start, window.end, missing), window.start, window.end


@pytest.mark.parametrize(
    ("interval", "start", "end"),
    [
        (
            Interval.DAY,
            dt.datetime(2025, 11, 26, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
        ),
        (
            Interval.HOUR,
            dt.datetime(2026, 8, 27, 12, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC),
        ),
        (
            Interval.FIVE_MINUTES,
            dt.datetime(2026, 11, 24, 11, 45, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 25, 11, 25, tzinfo=dt.UTC),
        ),
    ],
)
def test_windows_hold_only_settled_bars_within_reach(
    interval: Interval, start: dt.datetime, end: dt.datetime
) -> None:
    window = history_window(TIERS[interval], days=365, now=NOW)

    assert window is not None
    assert (window.start, window.end) == (start, end)
    assert window.start > NOW - 365 * DAY  # never older than a demo key reaches


def test_a_short_request_keeps_fine_intervals_to_their_own_lookback() -> None:
    assert history_window(TIERS[Interval.DAY], days=3, now=NOW) is not None
    hourly = history_window(TIERS[Interval.HOUR], days=3, now=NOW)
    assert hourly is not None and hourly.start > NOW - 3 * DAY


@pytest.mark.parametrize(
    ("interval", "shortest", "longest"),
    [
        (Interval.DAY, 91 * DAY, 365 * DAY),  # > 90 days: daily points
        (Interval.HOUR, 2 * DAY, 90 * DAY),  # 2..90 days: hourly points
        (Interval.FIVE_MINUTES, dt.timedelta(0), DAY),  # up to a day: 5-minute points
    ],
)
def test_an_empty_series_is_one_request_in_its_granularity(
    interval: Interval, shortest: dt.timedelta, longest: dt.timedelta
) -> None:
    gap, start, end = _whole(interval)
    width = dt.timedelta(seconds=interval.seconds)

    chunks = plan_chunks(TIERS[interval], [gap], now=NOW, earliest=EARLIEST)

    assert len(chunks) == 1
    chunk = chunks[0]
    assert shortest <= chunk.fetch_to - chunk.fetch_from <= longest
    # A bar's close is the point at its end: the request reaches from the first wanted
    # bar's end to the last one's, which is the newest settled grid instant.
    assert chunk.fetch_from <= start + width and chunk.fetch_to >= end + width
    assert chunk.fetch_from > start  # the point at the first bar's start closes an older bar
    assert end + width == chunk.settled <= NOW < end + 2 * width
    assert chunk.fetch_from >= EARLIEST and chunk.fetch_to <= NOW
    assert (chunk.first, chunk.last) == (start, end)


def test_a_short_daily_gap_is_fetched_in_a_range_long_enough_for_daily_points() -> None:
    gap = Gap(dt.datetime(2026, 11, 23, tzinfo=dt.UTC), dt.datetime(2026, 11, 24, tzinfo=dt.UTC), 2)

    (chunk,) = plan_chunks(TIERS[Interval.DAY], [gap], now=NOW, earliest=EARLIEST)

    assert chunk.fetch_to - chunk.fetch_from >= 91 * DAY
    assert chunk.fetch_from >= EARLIEST and chunk.fetch_to <= NOW
    assert chunk.wanted == ((gap.start, gap.end),)  # only the gap is written
    assert not chunk.wants(gap.start - DAY)


def test_long_gaps_are_split_and_nearby_gaps_share_a_request() -> None:
    tier = TIERS[Interval.HOUR]
    hour = dt.timedelta(hours=1)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    long_gap = Gap(t0, t0 + 200 * DAY, 4801)
    near_a = Gap(t0 + 300 * DAY, t0 + 300 * DAY + 2 * hour, 3)
    near_b = Gap(t0 + 310 * DAY, t0 + 310 * DAY, 1)

    chunks = plan_chunks(tier, [near_b, long_gap, near_a], now=t0 + 400 * DAY, earliest=t0)

    assert len(chunks) == 4  # 200 days in three requests of <= 90 days, then one for both
    assert all(c.fetch_to - c.fetch_from <= 90 * DAY for c in chunks)
    assert chunks[0].first == t0 and chunks[2].last == t0 + 200 * DAY
    covered = [c for c in chunks if c.wants(t0 + 150 * DAY)]
    assert len(covered) == 1
    assert chunks[3].wanted == ((near_a.start, near_a.end), (near_b.start, near_b.end))
    assert not chunks[3].wants(t0 + 305 * DAY)


def test_recorded_hourly_chart_snaps_to_the_hour_and_drops_the_live_point() -> None:
    chart = _chart("market_chart_bitcoin_7d.json")  # 168 hourly points + a live one
    hour = dt.timedelta(hours=1)
    first, live = chart.prices[0].at, chart.prices[-1].at
    assert live.minute != 0
    window = history_window(TIERS[Interval.HOUR], days=7, now=live)
    assert window is not None
    (chunk,) = plan_chunks(
        TIERS[Interval.HOUR], [Gap(first - hour, window.end, 168)], now=live, earliest=first
    )
    assert window.end == chunk.last == live.replace(minute=0, second=0, microsecond=0) - hour

    rows = chart_rows(chart, coin_id=7, chunk=chunk).rows()

    # The point at T closes the bar [T - 1h, T): the rows start an hour before the first.
    assert [r.price_at for r in rows] == [first - hour + i * hour for i in range(168)]
    assert all(r.price > 0 and r.market_cap and r.volume for r in rows)
    assert {(r.interval, r.source, r.open) for r in rows} == {("1h", "coingecko", None)}
    by_instant = {p.at: p.value for p in chart.prices}
    assert rows[0].price == by_instant[first]
    assert [r.price for r in rows] == [p.value for p in chart.prices[:-1]]  # never the live one

    # Even a chunk wanting the bars the live point is nearest to never stores it as a close.
    greedy = replace(chunk, wanted=((first - hour, window.end + 2 * hour),))
    assert chart_rows(chart, coin_id=7, chunk=greedy).rows() == rows


def test_recorded_jittery_five_minute_chart_fills_every_bar_once() -> None:
    chart = _chart("market_chart_matic-network_1d.json")  # 289 points, up to 90 s off grid
    live = chart.prices[-1].at  # 23:20:08, a few seconds past the newest grid instant
    window = history_window(TIERS[Interval.FIVE_MINUTES], days=1, now=live)
    assert window is not None
    start = dt.datetime(2023, 3, 14, 23, 15, tzinfo=dt.UTC)  # closed by the 23:21:09 point
    end = dt.datetime(2023, 3, 15, 23, 15, tzinfo=dt.UTC)
    assert window.end == end
    chunk = Chunk(
        Interval.FIVE_MINUTES, chart.prices[0].at, live, ((start, end),), settled=end + 5 * MINUTE
    )

    rows = chart_rows(chart, coin_id=1, chunk=chunk).rows()
    again = chart_rows(chart, coin_id=1, chunk=chunk).rows()

    assert len(rows) == 288  # every bar of the day, the live point left out
    assert len({r.price_at for r in rows}) == 288
    assert rows[0].price_at == start and rows[-1].price_at == end - 5 * MINUTE
    assert all(r.price_at.second == 0 and r.price_at.minute % 5 == 0 for r in rows)
    assert rows == again


def test_errors_are_stored_without_keys_and_cut_to_size() -> None:
    key = "CG-secretsecretsecret"
    message = (
        f"GET https://api.coingecko.com/api/v3/ping?x_cg_demo_api_key={key}&a=1 failed, "
        f"header x-cg-pro-api-key: {key}"
    )

    cleaned = scrub(message, [key])
    assert key not in cleaned and "***" in cleaned
    assert "x_cg_demo_api_key=***&a=1" in scrub(message)
    assert len(scrub("x" * 10_000)) == 2000
