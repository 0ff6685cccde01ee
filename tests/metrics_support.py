"""Reading a Prometheus scrape in tests, with prometheus_client's own parser."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cryptopredict.core.metrics import exposition


def samples(text: str) -> list[Sample]:
    """Every sample of a scrape; the parser raises on anything that is not the text format."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include these (0 when none)."""
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def single(text: str, name: str, **labels: str) -> float:
    """The one sample called `name` with these labels (NaN kept as NaN)."""
    (found,) = [
        s.value for s in samples(text) if s.name == name and labels.items() <= s.labels.items()
    ]
    return found


def local() -> str:
    """This process's own metrics (tests run in one process, in memory)."""
    return exposition().decode()


def checked(response: httpx.Response) -> str:
    """The body of a scrape's answer, checked to be a 200 in the Prometheus text format."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def scrape(client: httpx.Client, headers: dict[str, str]) -> str:
    """GET /metrics as the holder of `headers` (a TestClient is an httpx.Client)."""
    return checked(client.get("/metrics", headers=headers))


Rise = tuple[str, dict[str, str], float]
"""A metric's name, the labels its samples must have, and how much their sum should rise."""


def risen(read: Callable[[], str], before: str, *expected: Rise, timeout: float = 10) -> str:
    """Scrape with `read` until every expected sum has risen from `before` at least as much
    (HTTP requests reach the metrics within a second), check it rose exactly that much, and
    return that scrape."""
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        rises = [
            value(text, name, **labels) - value(before, name, **labels)
            for name, labels, _ in expected
        ]
        wanted = [amount for _, _, amount in expected]
        if all(rise >= amount for rise, amount in zip(rises, wanted, strict=True)):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rises == wanted, [(name, labels) for name, labels, _ in expected]
    return text


def is_nan(number: float) -> bool:
    """Whether a sample is NaN (the parser reads the text `NaN` as float NaN)."""
    return math.isnan(number)
