"""The fake CoinGecko itself, spoken to with plain httpx: CoinGecko's status codes and error
bodies, key rules, faults, the request log, its clock, other price folders, and the CLI
entry point."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cryptopredict.marketdata.schemas import MARKETS
from cryptopredict.snapshot import PRICES_DIR
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko, running_fake_coingecko
from tests.conftest import SHARED_DATA

RECORDINGS = SHARED_DATA / "coingecko"


@pytest.fixture
def http(fake_coingecko: FakeCoinGecko) -> Iterator[httpx.Client]:
    """A plain HTTP client rooted at the fake's /api/v3."""
    with httpx.Client(base_url=fake_coingecko.base_url + "/", timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    "path",
    [
        "coins/nope/market_chart?vs_currency=usd&days=1",
        "coins/nope/market_chart/range?vs_currency=usd&from=1609459200&to=1612137600",
        "coins/nope/ohlc?vs_currency=usd&days=7",
    ],
)
def test_unknown_coin_is_coingeckos_404(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "coin not found"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("coins/markets", "Missing parameter vs_currency"),
        ("coins/markets?vs_currency=usd&per_page=251", None),
        ("coins/markets?vs_currency=usd&order=price_desc", "invalid order"),
        ("simple/price?ids=bitcoin", "Missing parameter vs_currencies"),
        ("coins/bitcoin/market_chart?vs_currency=usd", "Missing parameter days"),
        ("coins/bitcoin/market_chart?vs_currency=usd&days=abc", "invalid days"),
        ("coins/bitcoin/market_chart?vs_currency=zzz&days=1", "invalid vs_currency"),
        ("coins/bitcoin/market_chart/range?vs_currency=usd&from=1", "Missing parameter to"),
        ("coins/bitcoin/ohlc?vs_currency=usd&days=4", "invalid days"),
    ],
)
def test_bad_parameters_are_400_with_an_error_message(
    http: httpx.Client, path: str, message: str | None
) -> None:
    response = http.get(path)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    if message is not None:
        assert body["error"] == message


def test_unknown_path_is_404_json(http: httpx.Client) -> None:
    response = http.get("coins/bitcoin/tickers")
    assert response.status_code == 404
    assert "error" in response.json()


def test_shapes_of_lists_and_markets(http: httpx.Client) -> None:
    plain = http.get("coins/list").json()
    assert set(plain[0]) == {"id", "symbol", "name"}
    with_platforms = http.get("coins/list", params={"include_platform": "true"}).json()
    assert set(with_platforms[0]) == {"id", "symbol", "name", "platforms"}
    assert http.get("coins/list", params={"status": "inactive"}).json() == []
    recorded_keys = set(json.loads((RECORDINGS / "coins_markets.json").read_bytes())[0])
    markets = http.get("coins/markets", params={"vs_currency": "usd", "per_page": 250}).json()
    assert all(set(entry) == recorded_keys for entry in markets)
    assert response_type(http.get("ping")) == "application/json"


def response_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


def test_key_required_answers_10002_and_accepts_header_or_query_key(
    http: httpx.Client, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.require_key = True
    missing = http.get("ping")
    assert missing.status_code == 401
    status = missing.json()["status"]
    assert status["error_code"] == 10002
    assert status["error_message"].startswith("API Key Missing.")
    assert http.get("ping", headers={"x-cg-demo-api-key": "k1"}).status_code == 200
    assert http.get("ping", headers={"x-cg-pro-api-key": "k2"}).status_code == 200
    assert http.get("ping", params={"x_cg_demo_api_key": "k3"}).status_code == 200
    records = fake_coingecko.requests
    assert [r.key_type for r in records] == [None, "demo", "pro", "demo"]
    logged = json.dumps([[r.headers, r.query] for r in records])
    assert not any(secret in logged for secret in ("k1", "k2", "k3"))


def test_demo_key_history_limit_is_coingeckos_10012(
    http: httpx.Client, fake_coingecko: FakeCoinGecko
) -> None:
    demo = {"x-cg-demo-api-key": "demo"}
    old = {"vs_currency": "usd", "from": "1577836800", "to": "1580515200"}  # January 2020
    refused = http.get("coins/bitcoin/market_chart/range", params=old, headers=demo)
    assert refused.status_code == 401
    assert refused.json()["error"]["status"]["error_code"] == 10012
    year = http.get(
        "coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": 365}, headers=demo
    )
    assert year.status_code == 200
    maximum = {"vs_currency": "usd", "days": "max"}
    assert http.get("coins/bitcoin/ohlc", params=maximum, headers=demo).status_code == 401
    pro = {"x-cg-pro-api-key": "pro"}
    assert http.get("coins/bitcoin/market_chart/range", params=old, headers=pro).status_code == 200
    assert http.get("coins/bitcoin/market_chart/range", params=old).status_code == 200  # keyless
    fake_coingecko.controls.keyless_history_days = 365
    assert http.get("coins/bitcoin/market_chart/range", params=old).status_code == 401


def test_429_faults_json_and_html(http: httpx.Client, fake_coingecko: FakeCoinGecko) -> None:
    fake_coingecko.faults.rate_limit(1, retry_after=1)
    fake_coingecko.faults.rate_limit(1, retry_after=None, html=True)
    json_429 = http.get("ping")
    assert json_429.status_code == 429
    assert json_429.headers["retry-after"] == "1"
    assert json_429.content == (RECORDINGS / "error_429_rate_limit.json").read_bytes()
    html_429 = http.get("ping")
    assert html_429.status_code == 429
    assert "retry-after" not in html_429.headers
    assert response_type(html_429) == "text/html"
    assert http.get("ping").status_code == 200
    assert [r.fault for r in fake_coingecko.requests] == ["rate_limit", "rate_limit", None]


def test_5xx_truncated_garbage_and_wrong_shape(
    http: httpx.Client, fake_coingecko: FakeCoinGecko
) -> None:
    whole = http.get("coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": 2})
    faults = fake_coingecko.faults
    faults.server_error(1, status=500)
    faults.server_error(1, status=503)
    faults.truncated(1)
    faults.garbage(1)
    faults.wrong_shape(1)
    answers = [
        http.get("coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": 2})
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [500, 503, 200, 200, 200]
    assert response_type(answers[1]) == "text/html"
    truncated = answers[2].content
    assert 0 < len(truncated) < len(whole.content)
    assert whole.content.startswith(truncated)
    for broken in answers[2:4]:
        with pytest.raises(ValueError):  # JSONDecodeError, or UnicodeDecodeError for garbage
            json.loads(broken.content)
    assert "prices" not in answers[4].json()


def test_faults_can_target_one_endpoint_and_are_used_in_order(
    http: httpx.Client, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.faults.server_error(2, status=502, path="/coins/markets")
    fake_coingecko.faults.unauthorized(1)
    assert http.get("coins/markets", params={"vs_currency": "usd"}).status_code == 502
    assert http.get("ping").status_code == 401  # the unauthorized fault matches any path
    assert http.get("ping").status_code == 200
    assert http.get("coins/markets", params={"vs_currency": "usd"}).status_code == 502
    assert http.get("coins/markets", params={"vs_currency": "usd"}).status_code == 200
    assert fake_coingecko.faults.pending == []


def test_request_log_and_reset(http: httpx.Client, fake_coingecko: FakeCoinGecko) -> None:
    http.get("simple/price", params={"ids": "bitcoin", "vs_currencies": "usd"})
    http.get("ping")
    first, second = fake_coingecko.requests
    assert (first.method, first.path, first.endpoint) == (
        "GET",
        "/api/v3/simple/price",
        "/simple/price",
    )
    assert first.query == {"ids": "bitcoin", "vs_currencies": "usd"}
    assert first.status == 200 and first.received_at.tzinfo is not None
    assert second.at >= first.at
    assert [r.endpoint for r in fake_coingecko.requests_to("/ping")] == ["/ping"]
    fake_coingecko.faults.server_error(5)
    fake_coingecko.require_key = True
    fake_coingecko.now = datetime(2020, 1, 1, tzinfo=UTC)
    fake_coingecko.reset()
    assert fake_coingecko.requests == []
    assert fake_coingecko.faults.pending == []
    assert (fake_coingecko.require_key, fake_coingecko.now) == (
        False,
        datetime(2021, 7, 7, tzinfo=UTC),
    )


def test_clock_moves_every_price_endpoint(
    http: httpx.Client, fake_coingecko: FakeCoinGecko
) -> None:
    fake_coingecko.now = datetime(2021, 1, 1, tzinfo=UTC)
    close_2020 = 29001.72  # bitcoin's close of 2020-12-31 in the CSV, rounded
    chart = http.get("coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": 1})
    last_ms, last_price = chart.json()["prices"][-1]
    assert last_ms == 1609459200000
    assert last_price == pytest.approx(close_2020, abs=0.01)
    simple = http.get("simple/price", params={"ids": "bitcoin", "vs_currencies": "usd"}).json()
    assert simple["bitcoin"]["usd"] == last_price
    with pytest.raises(ValueError, match="timezone-aware"):
        fake_coingecko.now = datetime(2021, 1, 1)  # noqa: DTZ001


def test_other_price_folders(tmp_path: Path) -> None:
    shutil.copy(PRICES_DIR / "cardano.csv", tmp_path / "cardano.csv")
    lines = (PRICES_DIR / "ethereum.csv").read_text().splitlines()[:101]
    (tmp_path / "my-coin.csv").write_text("\n".join(lines) + "\n")
    with (
        running_fake_coingecko(tmp_path) as fake,
        httpx.Client(base_url=fake.base_url + "/") as http,
    ):
        assert fake.now == datetime(2021, 7, 7, tzinfo=UTC)  # cardano's last day + 1
        listed = {c["id"] for c in http.get("coins/list").json()}
        assert {"cardano", "my-coin"} <= listed
        markets = http.get("coins/markets", params={"vs_currency": "usd", "ids": "my-coin"})
        [entry] = MARKETS.validate_json(markets.content)
        assert entry.current_price == float(lines[-1].split(",")[4])
        chart = http.get("coins/my-coin/market_chart", params={"vs_currency": "usd", "days": "max"})
        assert len(chart.json()["prices"]) == 100
        missing = http.get("coins/bitcoin/ohlc", params={"vs_currency": "usd", "days": 1})
        assert missing.status_code == 404


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_fake_runs_in_the_foreground() -> None:
    port = free_port()
    code = (
        "from cryptopredict.testing.fake_coingecko.server import serve_fake; "
        f"serve_fake('127.0.0.1', {port})"
    )
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v3/ping", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "serve_fake never answered"
                time.sleep(0.1)
        assert answer.json() == {"gecko_says": "(V3) To the Moon!"}
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}/api/v3" in output
