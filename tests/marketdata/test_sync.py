"""The sync service over real HTTP against the fake CoinGecko, into the test database:
catalogue discovery, latest prices, gap-free history, and faults that must degrade a run,
never corrupt the data it has already written."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import PRICES_NAMESPACE, MemoryCache
from cryptopredict.core.pagination import PageParams
from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.history import TIERS, history_window
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.repository import SyncRunRepository
from cryptopredict.marketdata.sync import MarketSync
from cryptopredict.marketdata.types import FailureKind, ProgressCallback, SyncKind, SyncStatus
from cryptopredict.prices.importer import import_price_file
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.types import Interval
from cryptopredict.snapshot import PRICES_DIR
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.factories import Factory
from tests.marketdata.conftest import MakeClient

# Bitcoin at the fake's clock (2021-07-07 00:00 UTC), 365 days: the settled bars per interval.
EXPECTED_BARS = {Interval.DAY: 364, Interval.HOUR: 2159, Interval.FIVE_MINUTES: 286}
CLEAN_ROWS = sum(EXPECTED_BARS.values())
ALL_CHARTS = len(EXPECTED_BARS)  # one request per interval fills a fresh coin

Action = Callable[[MarketSync], Awaitable[SyncRun]]
Snapshot = list[tuple[str, dt.datetime, float, float | None, float | None]]


@pytest.fixture
def cache() -> MemoryCache:
    """A response cache to watch for invalidations."""
    return MemoryCache()


@pytest.fixture
def sync(
    db_session: Session, make_client: MakeClient, cache: MemoryCache
) -> Callable[..., SyncRun]:
    """Run one sync to completion: `sync(lambda s: s.history(coin="bitcoin"), **client_opts)`.

    Each call gets a fresh client (on its own event loop) against the fake CoinGecko.
    """

    def run(
        action: Action,
        *,
        on_progress: ProgressCallback | None = None,
        breaker: CircuitBreaker | None = None,
        **client_options: Any,
    ) -> SyncRun:
        async def go() -> SyncRun:
            async with make_client(breaker=breaker, **client_options) as client:
                syncer = MarketSync(
                    session=db_session,
                    client=client,
                    cache=cache,
                    secrets=[str(client_options.get("coingecko_api_key") or "")],
                    on_progress=on_progress,
                )
                return await action(syncer)

        return asyncio.run(go())

    return run


def _coin_id(session: Session, coingecko_id: str) -> int:
    coin_id = session.scalar(
        select(Cryptocurrency.id).where(Cryptocurrency.coingecko_id == coingecko_id)
    )
    assert coin_id is not None
    return coin_id


def _count(session: Session, coin_id: int | None = None, interval: Interval | None = None) -> int:
    statement = select(func.count()).select_from(PriceData)
    if coin_id is not None:
        statement = statement.where(PriceData.coin_id == coin_id)
    if interval is not None:
        statement = statement.where(PriceData.interval == interval.value)
    return int(session.scalar(statement) or 0)


def _snapshot(session: Session, coin_id: int) -> Snapshot:
    rows = session.execute(
        select(
            PriceData.interval,
            PriceData.price_at,
            PriceData.price,
            PriceData.volume,
            PriceData.market_cap,
        )
        .where(PriceData.coin_id == coin_id)
        .order_by(PriceData.interval, PriceData.price_at)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _assert_no_gaps(session: Session, coin_id: int, now: dt.datetime) -> None:
    prices = PriceRepository(session)
    for interval, bars in EXPECTED_BARS.items():
        window = history_window(TIERS[interval], days=365, now=now)
        assert window is not None
        assert prices.find_gaps(coin_id, interval, start=window.start, end=window.end) == []
        assert _count(session, coin_id, interval) == bars


def _inject_after_first_chunk(fault: Callable[[], None]) -> ProgressCallback:
    """A progress hook that switches a fault on once the first chart chunk is committed."""

    def on_progress(label: str, done: int, total: int) -> None:
        if label.endswith(" 1d") and done == total == 1:
            fault()

    return on_progress


# ---- discover ---------------------------------------------------------------------------


def test_discover_upserts_the_top_coins_from_the_recorded_markets(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    factory: Factory,
    db_session: Session,
    cache: MemoryCache,
) -> None:
    stale = factory.coin("bitcoin", symbol="xbt", name="Old Bitcoin", rank=99, is_active=False)
    outside = factory.coin("0chain", symbol="old", name="Stale Name", rank=3)

    run = sync(lambda s: s.discover(top=250))

    assert (run.kind, run.status, run.error) == (SyncKind.DISCOVER, SyncStatus.SUCCEEDED, None)
    assert len(fake_coingecko.requests_to("/coins/list")) == 1
    markets = fake_coingecko.requests_to("/coins/markets")
    assert [(r.query["per_page"], r.query["page"]) for r in markets] == [("250", "1")]
    assert run.calls_made == 2
    coins = {c.coingecko_id: c for c in db_session.scalars(select(Cryptocurrency))}
    assert len(coins) == 251  # the top 250 and the coin outside it
    db_session.refresh(stale)
    assert (stale.symbol, stale.name, stale.market_cap_rank) == ("btc", "Bitcoin", 1)
    assert stale.image_url and stale.image_url.startswith("https://assets.coingecko.com/")
    assert stale.is_active is False  # the operator's choice is kept
    db_session.refresh(outside)
    assert (outside.symbol, outside.name, outside.is_active) == ("zcn", "Zus", True)
    assert coins["tether"].market_cap_rank == 3 and coins["tether"].is_active

    again = sync(lambda s: s.discover(top=250))
    assert again.status == SyncStatus.SUCCEEDED
    assert db_session.scalar(select(func.count()).select_from(Cryptocurrency)) == 251


# ---- latest prices ----------------------------------------------------------------------


def test_prices_of_all_tracked_coins_cost_one_call_per_250_and_repeat_writes_nothing(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    factory: Factory,
    db_session: Session,
    cache: MemoryCache,
) -> None:
    assert sync(lambda s: s.discover(top=250)).status == SyncStatus.SUCCEEDED
    for n in range(12):  # tracked, but CoinGecko has no market data for them
        factory.coin(f"unlisted-coin-{n}")
    factory.coin("retired-coin", is_active=False)
    tracked = db_session.scalar(
        select(func.count()).select_from(Cryptocurrency).where(Cryptocurrency.is_active)
    )
    assert tracked == 262
    fake_coingecko.controls.log.clear()
    cached = asyncio.run(cache.lookup(PRICES_NAMESPACE, "latest"))
    asyncio.run(cache.store(cached, b"stale"))

    run = sync(lambda s: s.prices())

    calls = fake_coingecko.requests_to("/coins/markets")
    assert len(calls) == run.calls_made == math.ceil(tracked / 250) == 2
    assert sorted(len(r.query["ids"].split(",")) for r in calls) == [12, 250]
    assert (run.status, run.rows_written) == (SyncStatus.SUCCEEDED, 250)
    assert _count(db_session, interval=Interval.FIVE_MINUTES) == 250  # one row per priced coin
    assert asyncio.run(cache.lookup(PRICES_NAMESPACE, "latest")).value is None
    bitcoin = db_session.scalars(
        select(PriceData).where(PriceData.coin_id == _coin_id(db_session, "bitcoin"))
    ).one()
    # The price at last_updated (on the grid here) closes the bar that ends there.
    assert bitcoin.price_at == fake_coingecko.now - dt.timedelta(minutes=5)
    assert bitcoin.price == pytest.approx(34235.19345116)
    assert (bitcoin.interval, bitcoin.source) == ("5m", "coingecko-latest")

    again = sync(lambda s: s.prices())

    assert (again.status, again.rows_written, again.calls_made) == (SyncStatus.SUCCEEDED, 0, 2)
    assert _count(db_session) == 250


def test_prices_of_given_coins_cost_one_call_add_new_coins_and_note_unknown_ones(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    factory: Factory,
    db_session: Session,
    cache: MemoryCache,
) -> None:
    retired = factory.coin("ethereum", symbol="eth", name="Ethereum", is_active=False)
    factory.coin("tether")  # tracked, not asked for: left alone

    run = sync(lambda s: s.prices(coins={"bitcoin", " Ethereum", "no-such-coin"}))

    [call] = fake_coingecko.requests_to("/coins/markets")
    assert sorted(call.query["ids"].split(",")) == ["bitcoin", "ethereum", "no-such-coin"]
    assert (run.kind, run.coin, run.calls_made) == (
        SyncKind.PRICES,
        "bitcoin,ethereum,no-such-coin",
        1,
    )
    assert (run.status, run.rows_written) == (SyncStatus.PARTIAL, 2)
    assert run.error == "no-such-coin: not known to CoinGecko"
    bitcoin = db_session.scalars(select(Cryptocurrency).filter_by(coingecko_id="bitcoin")).one()
    assert (bitcoin.symbol, bitcoin.market_cap_rank) == ("btc", 1)  # added to the catalogue
    priced = set(
        db_session.scalars(select(PriceData.coin_id).where(PriceData.source == "coingecko-latest"))
    )
    assert priced == {bitcoin.id, retired.id}  # asked for by name: priced even if inactive
    assert asyncio.run(cache.lookup(PRICES_NAMESPACE, "latest")).value is None

    again = sync(lambda s: s.prices(coins=["bitcoin"]))
    assert (again.status, again.coin, again.rows_written) == (SyncStatus.SUCCEEDED, "bitcoin", 0)

    unknown = sync(lambda s: s.prices(coins=["no-such-coin"]))
    assert unknown.status == SyncStatus.FAILED
    assert unknown.error is not None and "does not know" in unknown.error
    with pytest.raises(ValueError, match="at least one"):
        sync(lambda s: s.prices(coins=[]))


# ---- history ----------------------------------------------------------------------------


def test_history_fills_the_available_range_and_a_rerun_writes_and_fetches_nothing(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
    cache: MemoryCache,
) -> None:
    cached = asyncio.run(cache.lookup(PRICES_NAMESPACE, "history"))
    asyncio.run(cache.store(cached, b"stale"))

    run = sync(lambda s: s.history(coin="bitcoin"))

    assert (run.kind, run.coin, run.status, run.error) == (
        SyncKind.HISTORY,
        "bitcoin",
        SyncStatus.SUCCEEDED,
        None,
    )
    assert len(fake_coingecko.requests_to("/market_chart/range")) == ALL_CHARTS
    assert run.calls_made == len(fake_coingecko.requests) == ALL_CHARTS + 1  # + markets lookup
    assert run.rows_written == CLEAN_ROWS
    coin_id = _coin_id(db_session, "bitcoin")  # added to the catalogue from /coins/markets
    _assert_no_gaps(db_session, coin_id, fake_coingecko.now)
    assert _count(db_session, coin_id) == CLEAN_ROWS
    assert asyncio.run(cache.lookup(PRICES_NAMESPACE, "history")).value is None
    newest_daily = db_session.scalar(
        select(PriceData)
        .where(PriceData.coin_id == coin_id, PriceData.interval == "1d")
        .order_by(PriceData.price_at.desc())
        .limit(1)
    )
    assert newest_daily is not None
    # A bar is stored under its start with its close: the day's close, as the CSV importer
    # stores it, which CoinGecko (and the fake) stamps at the next midnight.
    assert newest_daily.price_at == dt.datetime(2021, 7, 6, tzinfo=dt.UTC)
    assert newest_daily.price == 34235.19345116  # the real 2021-07-06 close (CSV)
    day_before = db_session.scalars(
        select(PriceData).where(
            PriceData.coin_id == coin_id,
            PriceData.interval == "1d",
            PriceData.price_at == dt.datetime(2021, 7, 5, tzinfo=dt.UTC),
        )
    ).one()
    assert day_before.price == 33746.00245614  # 2021-07-05's close, served at 07-06 00:00
    fake_coingecko.controls.log.clear()

    rerun = sync(lambda s: s.history(coin="bitcoin"))

    assert (rerun.status, rerun.rows_written) == (SyncStatus.SUCCEEDED, 0)
    assert fake_coingecko.requests_to("/market_chart") == []
    assert rerun.calls_made == 1
    assert _count(db_session, coin_id) == CLEAN_ROWS
    runs = SyncRunRepository(db_session).recent(page=PageParams(limit=10))
    assert [(r.id, r.calls_made, r.rows_written) for r in runs] == [
        (rerun.id, 1, 0),
        (run.id, ALL_CHARTS + 1, CLEAN_ROWS),
    ]
    assert all(r.finished_at and r.finished_at >= r.started_at for r in runs)


def test_an_off_grid_now_stores_closes_only_never_the_live_point_and_a_rerun_calls_nothing(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
) -> None:
    fake_coingecko.now = dt.datetime(2021, 7, 6, 12, 32, 17, tzinfo=dt.UTC)
    series = fake_coingecko.controls.data.series["bitcoin"]

    run = sync(lambda s: s.history(coin="bitcoin"))

    assert run.status == SyncStatus.SUCCEEDED
    coin_id = _coin_id(db_session, "bitcoin")
    live = series.price_at(int(fake_coingecko.now.timestamp() * 1000))
    for interval, newest in [
        (Interval.DAY, dt.datetime(2021, 7, 5, tzinfo=dt.UTC)),
        (Interval.HOUR, dt.datetime(2021, 7, 6, 11, tzinfo=dt.UTC)),
        (Interval.FIVE_MINUTES, dt.datetime(2021, 7, 6, 12, 25, tzinfo=dt.UTC)),
    ]:
        width = dt.timedelta(seconds=interval.seconds)
        rows = db_session.scalars(
            select(PriceData).where(
                PriceData.coin_id == coin_id, PriceData.interval == interval.value
            )
        ).all()
        assert max(r.price_at for r in rows) == newest  # the bar the newest grid instant ends
        for row in rows:  # each holds the point at its end, never the live price
            close_ms = int((row.price_at + width).timestamp() * 1000)
            assert row.price == pytest.approx(series.price_at(close_ms), rel=1e-12)
        assert live not in {r.price for r in rows}
    fake_coingecko.controls.log.clear()

    rerun = sync(lambda s: s.history(coin="bitcoin"))

    assert (rerun.status, rerun.rows_written, rerun.calls_made) == (SyncStatus.SUCCEEDED, 0, 1)
    assert fake_coingecko.requests_to("/market_chart") == []


def test_synced_daily_bars_agree_with_the_csv_importers_bars_for_the_same_days(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
) -> None:
    run = sync(lambda s: s.history(coin="bitcoin", intervals=[Interval.DAY]))
    assert run.status == SyncStatus.SUCCEEDED
    imported = import_price_file(
        PRICES_DIR / "bitcoin.csv", session=db_session, coin="bitcoin-csv"
    )  # the CSV the fake serves bitcoin from, imported as a coin of its own

    def daily(coingecko_id: str) -> dict[dt.datetime, tuple[float, float | None]]:
        rows = db_session.execute(
            select(PriceData.price_at, PriceData.price, PriceData.market_cap).where(
                PriceData.coin_id == _coin_id(db_session, coingecko_id),
                PriceData.interval == "1d",
            )
        )
        return {at: (price, cap) for at, price, cap in rows}

    synced, csv_bars = daily("bitcoin"), daily("bitcoin-csv")
    assert len(synced) == EXPECTED_BARS[Interval.DAY]
    assert imported.last_at == max(synced) == dt.datetime(2021, 7, 6, tzinfo=dt.UTC)
    assert set(synced) <= set(csv_bars)  # the same days, under the same instants
    for at, (price, cap) in synced.items():
        assert price == pytest.approx(csv_bars[at][0], rel=1e-12), at
        assert cap == pytest.approx(csv_bars[at][1], rel=1e-12), at


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda f: f.garbage(path="market_chart"), id="garbage"),
        pytest.param(lambda f: f.truncated(path="market_chart"), id="truncated-json"),
        pytest.param(lambda f: f.wrong_shape(path="market_chart"), id="wrong-shape"),
        pytest.param(lambda f: f.server_error(20, path="market_chart"), id="500-burst"),
        pytest.param(lambda f: f.slow(20, delay=0.7, path="market_chart"), id="timeouts"),
    ],
)
def test_a_sync_interrupted_halfway_resumes_to_exactly_a_clean_runs_rows(
    fault: Callable[[Any], None],
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
) -> None:
    clean = sync(lambda s: s.history(coin="bitcoin"))
    coin_id = _coin_id(db_session, "bitcoin")
    expected = _snapshot(db_session, coin_id)
    assert clean.rows_written == len(expected) == CLEAN_ROWS
    db_session.execute(delete(PriceData).where(PriceData.coin_id == coin_id))
    db_session.commit()

    broken = sync(
        lambda s: s.history(coin="bitcoin"),
        on_progress=_inject_after_first_chunk(lambda: fault(fake_coingecko.faults)),
        coingecko_timeout_seconds=0.3,
    )

    assert broken.status == SyncStatus.FAILED
    assert broken.error and broken.error.split(":")[0] in {
        "MalformedResponseError",
        "UpstreamServerError",
        "UpstreamTimeoutError",
    }
    daily = EXPECTED_BARS[Interval.DAY]
    assert broken.rows_written == daily == _count(db_session, coin_id)  # first chunk kept
    assert _count(db_session, coin_id, Interval.DAY) == daily  # and nothing half-written
    fake_coingecko.faults.clear()

    resumed = sync(lambda s: s.history(coin="bitcoin"))

    assert (resumed.status, resumed.rows_written) == (SyncStatus.SUCCEEDED, CLEAN_ROWS - daily)
    assert len(fake_coingecko.requests_to("/market_chart/range")) >= 2 * ALL_CHARTS + 1
    assert _snapshot(db_session, coin_id) == expected  # no gaps, no duplicates, same values
    _assert_no_gaps(db_session, coin_id, fake_coingecko.now)


@pytest.mark.parametrize("html", [False, True], ids=["json-429", "cloudflare-html-429"])
def test_a_429_storm_is_waited_out_as_retry_after_asks(
    html: bool,
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
) -> None:
    fake_coingecko.faults.rate_limit(4, retry_after=0.15, html=html, path="market_chart")
    started = time.monotonic()

    run = sync(lambda s: s.history(coin="bitcoin"))

    assert time.monotonic() - started >= 4 * 0.15
    assert (run.status, run.rows_written) == (SyncStatus.SUCCEEDED, CLEAN_ROWS)
    statuses = [r.status for r in fake_coingecko.requests_to("/market_chart/range")]
    assert statuses == [429] * 4 + [200] * ALL_CHARTS
    assert run.calls_made == len(fake_coingecko.requests) == ALL_CHARTS + 5
    _assert_no_gaps(db_session, _coin_id(db_session, "bitcoin"), fake_coingecko.now)


def test_an_open_breaker_fails_the_run_clearly_and_corrupts_nothing(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=0.3)

    broken = sync(
        lambda s: s.history(coin="bitcoin"),
        breaker=breaker,
        on_progress=_inject_after_first_chunk(
            lambda: fake_coingecko.faults.server_error(50, status=503, path="market_chart")
        ),
    )

    assert broken.status == SyncStatus.FAILED
    assert broken.error and broken.error.startswith("CircuitOpenError: CoinGecko circuit is open")
    assert broken.calls_made == 1 + 1 + 2  # markets, the daily chunk, two 503s; then refused
    coin_id = _coin_id(db_session, "bitcoin")
    assert _count(db_session, coin_id) == _count(db_session, coin_id, Interval.DAY) == 364

    refused = sync(lambda s: s.history(coin="bitcoin"), breaker=breaker)

    assert refused.status == SyncStatus.FAILED and refused.calls_made == 0
    assert "CircuitOpenError" in (refused.error or "")
    fake_coingecko.faults.clear()
    time.sleep(0.35)  # the breaker lets a trial call through, which closes it

    resumed = sync(lambda s: s.history(coin="bitcoin"), breaker=breaker)

    assert (resumed.status, resumed.rows_written) == (SyncStatus.SUCCEEDED, CLEAN_ROWS - 364)
    assert asyncio.run(breaker.snapshot()).state == "closed"
    _assert_no_gaps(db_session, coin_id, fake_coingecko.now)


def test_history_older_than_a_demo_key_reaches_is_not_available_and_the_run_partial(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    db_session: Session,
) -> None:
    key = "CG-demo-key-for-tests-0123"

    run = sync(
        lambda s: s.history(coin="bitcoin", days=400, intervals=[Interval.DAY]),
        coingecko_api_key=key,
    )

    assert run.status == SyncStatus.PARTIAL
    assert run.error and "not available (401" in run.error and key not in run.error
    charts = fake_coingecko.requests_to("/market_chart/range")
    assert [r.status for r in charts] == [401, 200]  # the old range alone was refused
    assert all(r.key_type == "demo" for r in charts)
    coin_id = _coin_id(db_session, "bitcoin")
    assert run.rows_written == _count(db_session, coin_id) == EXPECTED_BARS[Interval.DAY]


def test_a_missing_key_fails_the_run_instead_of_hiding_as_not_available(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    factory: Factory,
    db_session: Session,
) -> None:
    factory.coin("bitcoin")
    fake_coingecko.require_key = True

    run = sync(lambda s: s.history(coin="bitcoin"))

    assert run.status == SyncStatus.FAILED
    assert run.error and "UpstreamAuthError" in run.error and "401" in run.error
    assert _count(db_session) == 0


def test_backfill_covers_every_active_coin_and_skips_what_coingecko_lacks(
    sync: Callable[..., SyncRun],
    fake_coingecko: FakeCoinGecko,
    factory: Factory,
    db_session: Session,
) -> None:
    for coin in ("bitcoin", "ethereum", "tether"):  # the fake has no chart for tether
        factory.coin(coin)
    factory.coin("dogecoin", is_active=False)
    factory.coin("unlisted-coin")  # not on CoinGecko at all: not even asked for

    run = sync(lambda s: s.history(days=365, intervals=[Interval.DAY]))

    assert (run.kind, run.coin, run.status) == (SyncKind.BACKFILL, None, SyncStatus.PARTIAL)
    assert run.error and run.error.startswith(
        "unlisted-coin: not known to CoinGecko; tether: UpstreamNotFoundError"
    )
    assert len(fake_coingecko.requests_to("/coins/markets")) == 1  # one lookup for all coins
    assert len(fake_coingecko.requests_to("/market_chart/range")) == 3
    for coin in ("bitcoin", "ethereum"):
        assert _count(db_session, _coin_id(db_session, coin)) == EXPECTED_BARS[Interval.DAY]
    assert _count(db_session, _coin_id(db_session, "dogecoin")) == 0
    assert run.rows_written == 2 * EXPECTED_BARS[Interval.DAY]


def test_an_unknown_coin_fails_the_run_with_a_clear_error(
    sync: Callable[..., SyncRun], db_session: Session
) -> None:
    run = sync(lambda s: s.history(coin="no-such-coin"))

    assert run.status == SyncStatus.FAILED
    assert run.error == "RunAborted: CoinGecko does not know coin 'no-such-coin'"
    assert run.calls_made == 1
    assert db_session.scalar(select(func.count()).select_from(Cryptocurrency)) == 0


def test_a_run_stopped_by_something_else_is_recorded_before_the_error_propagates(
    sync: Callable[..., SyncRun], db_session: Session
) -> None:
    def stop(label: str, done: int, total: int) -> None:
        if label == "bitcoin 1h" and done == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sync(lambda s: s.history(coin="bitcoin"), on_progress=stop)

    (run,) = SyncRunRepository(db_session).recent(page=PageParams(limit=5))
    assert (run.status, run.error) == (SyncStatus.FAILED, "aborted: KeyboardInterrupt")
    assert (run.calls_made, run.rows_written) == (2, EXPECTED_BARS[Interval.DAY])
    assert run.finished_at is not None


def test_history_replaces_a_latest_price_row_with_the_settled_close(
    sync: Callable[..., SyncRun], fake_coingecko: FakeCoinGecko, db_session: Session
) -> None:
    history_first = sync(lambda s: s.history(coin="bitcoin"))
    assert history_first.status == SyncStatus.SUCCEEDED
    coin_id = _coin_id(db_session, "bitcoin")
    bar_at = fake_coingecko.now - dt.timedelta(minutes=5)
    settled = db_session.scalars(
        select(PriceData).where(
            PriceData.coin_id == coin_id, PriceData.interval == "5m", PriceData.price_at == bar_at
        )
    ).one()
    settled_close = settled.price
    # A latest-price sync lands on that bar as a stand-in, marked as such.
    db_session.execute(
        update(PriceData)
        .where(
            PriceData.coin_id == coin_id, PriceData.interval == "5m", PriceData.price_at == bar_at
        )
        .values(price=settled_close * 1.01, source="coingecko-latest")
    )
    db_session.commit()

    again = sync(lambda s: s.history(coin="bitcoin"))

    assert again.status == SyncStatus.SUCCEEDED and again.rows_written == 1
    db_session.expire_all()
    replaced = db_session.get(PriceData, (coin_id, "5m", bar_at))
    assert replaced is not None
    assert (replaced.price, replaced.source) == (settled_close, "coingecko")
    third = sync(lambda s: s.history(coin="bitcoin"))
    assert third.rows_written == 0


def test_a_failed_run_stores_whether_its_fault_may_pass(
    sync: Callable[..., SyncRun], fake_coingecko: FakeCoinGecko, factory: Factory
) -> None:
    factory.coin("bitcoin")
    fake_coingecko.faults.server_error(50, status=503, path="market_chart")

    down = sync(lambda s: s.history(coin="bitcoin"), coingecko_max_retries=0)

    fake_coingecko.faults.clear()
    fake_coingecko.require_key = True
    refused = sync(lambda s: s.history(coin="bitcoin"))
    fake_coingecko.require_key = False
    fine = sync(lambda s: s.history(coin="bitcoin", intervals=[Interval.DAY]))

    assert (down.status, down.failure_kind) == (SyncStatus.FAILED, FailureKind.TEMPORARY)
    assert (refused.status, refused.failure_kind) == (SyncStatus.FAILED, FailureKind.PERMANENT)
    assert (fine.status, fine.failure_kind) == (SyncStatus.SUCCEEDED, None)


def test_a_run_failed_by_429s_records_the_fault_under_its_recorded_name(
    sync: Callable[..., SyncRun], fake_coingecko: FakeCoinGecko, factory: Factory
) -> None:
    factory.coin("bitcoin")
    fake_coingecko.faults.rate_limit(50, path="market_chart")

    run = sync(lambda s: s.history(coin="bitcoin"), coingecko_max_retries=0)

    assert (run.status, run.failure_kind) == (SyncStatus.FAILED, FailureKind.TEMPORARY)
    assert run.error and run.error.startswith("RateLimitedByUpstream: ")
