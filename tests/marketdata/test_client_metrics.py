"""CoinGecko calls counted by endpoint and outcome (429s as `rate_limited`), calls the breaker
refused counted apart, and the breaker's state exposed, against the fake over real HTTP."""

from __future__ import annotations

import pytest

from cryptopredict.marketdata.breaker import CircuitBreaker
from cryptopredict.marketdata.exceptions import CircuitOpenError, MalformedResponseError
from cryptopredict.testing.fake_coingecko.server import FakeCoinGecko
from tests.marketdata.conftest import MakeClient
from tests.metrics_support import local, single, value

pytestmark = pytest.mark.anyio

CALLS = "cryptopredict_coingecko_requests_total"
TIMED = "cryptopredict_coingecko_request_duration_seconds_count"
REFUSED = "cryptopredict_coingecko_refused_total"


def _outcomes(text: str, endpoint: str) -> dict[str, float]:
    outcomes = ("ok", "rate_limited", "server_error", "malformed", "not_found")
    return {o: value(text, CALLS, endpoint=endpoint, outcome=o) for o in outcomes} | {
        "timed": value(text, TIMED, endpoint=endpoint)
    }


def _rise(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


async def test_429s_failures_and_successes_are_counted_per_endpoint(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    before = _outcomes(local(), "/ping")
    fake_coingecko.faults.rate_limit(2, retry_after=None)
    async with make_client() as client:
        await client.ping()
        fake_coingecko.faults.garbage(1)
        with pytest.raises(MalformedResponseError):
            await client.ping()

    assert [r.status for r in fake_coingecko.requests] == [429, 429, 200, 200]
    after = _outcomes(local(), "/ping")
    assert _rise(before, after) == {"rate_limited": 2, "ok": 1, "malformed": 1, "timed": 4}


async def test_an_open_circuit_is_exposed_and_its_refusals_counted(
    make_client: MakeClient, fake_coingecko: FakeCoinGecko
) -> None:
    text = local()
    before = _outcomes(text, "/ping")
    refused = value(text, REFUSED, reason="circuit_open")
    opened = value(text, "cryptopredict_coingecko_breaker_opened_total")
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=60)
    fake_coingecko.faults.server_error(10, status=503)
    async with make_client(breaker=breaker, coingecko_max_retries=5) as client:
        with pytest.raises(CircuitOpenError):
            await client.ping()

    text = local()
    assert len(fake_coingecko.requests) == 2
    assert _rise(before, _outcomes(text, "/ping")) == {"server_error": 2, "timed": 2}
    assert value(text, REFUSED, reason="circuit_open") - refused == 1
    assert value(text, "cryptopredict_coingecko_breaker_opened_total") - opened == 1
    assert single(text, "cryptopredict_coingecko_breaker_state") == 2  # open

    await breaker.reset()
    assert single(local(), "cryptopredict_coingecko_breaker_state") == 0
