"""Jobs for task tests, addressed by `TaskSpec(job="tests.tasks.sample_jobs:...")`."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from pydantic import Field

from cryptopredict.marketdata.exceptions import UpstreamServerError
from cryptopredict.tasks.jobs import JobContext

calls: list[dict[str, Any]] = []
"""Every call of every sample job, in order."""

gate = threading.Event()
"""`wait_for_gate` blocks until a test sets it."""


def echo(context: JobContext, value: Annotated[int, Field(ge=0)] = 1) -> dict[str, Any]:
    """Returns its argument."""
    calls.append({"job": "echo", "value": value})
    return {"value": value}


def leak_and_fail(context: JobContext) -> dict[str, Any]:
    """Fails with the API key in its message, as a careless library might."""
    calls.append({"job": "leak_and_fail"})
    key = context.settings.coingecko_api_key
    raise ValueError(f"request to https://x/?x_cg_demo_api_key={key and key.get_secret_value()}")


def upstream_down(context: JobContext) -> dict[str, Any]:
    """Fails the way CoinGecko being down does."""
    calls.append({"job": "upstream_down"})
    raise UpstreamServerError("CoinGecko answered 503", status_code=503)


def slow(context: JobContext, seconds: float = 0.3) -> dict[str, Any]:
    """Takes a while."""
    calls.append({"job": "slow", "started": time.monotonic()})
    time.sleep(seconds)
    calls.append({"job": "slow", "finished": time.monotonic()})
    return {"slept": seconds}


def wait_for_gate(context: JobContext) -> dict[str, Any]:
    """Blocks until the test opens the gate (at most 10 s)."""
    calls.append({"job": "wait_for_gate"})
    gate.wait(10)
    return {"gate": gate.is_set()}


def wait_for_coin(context: JobContext, coin_id: str) -> dict[str, Any]:
    """Blocks until the test opens the gate (at most 10 s), for one coin."""
    calls.append({"job": "wait_for_coin", "coin_id": coin_id})
    gate.wait(10)
    return {"coin_id": coin_id}


def wait_then_fail_temporarily(context: JobContext) -> dict[str, Any]:
    """Blocks until the test opens the gate (at most 10 s), then fails as CoinGecko down."""
    calls.append({"job": "wait_then_fail_temporarily"})
    gate.wait(10)
    raise UpstreamServerError("CoinGecko answered 503", status_code=503)
