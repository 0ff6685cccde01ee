"""Metrics of a real `cryptopredict serve --workers 2`: whichever worker answers a scrape, it
reports the sum over both workers (through `/metrics` as an admin and through the
CRYPTOPREDICT_METRICS_ADDRESS listener alike), and a task run in a worker is counted there."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from cryptopredict.core.request_metrics import FLUSH_SECONDS
from tests.metrics_support import checked, risen, value
from tests.serving import Served, free_port, server_env, serving

pytestmark = pytest.mark.slow

ADMIN = ("metrics-admin@example.com", "admin-password-1")
LIVE = {"method": "GET", "route": "/health/live", "status": "200"}
REQUESTS = "cryptopredict_http_requests_total"


class MetricsServer(NamedTuple):
    """A served app, its metrics listener and an admin's headers."""

    served: Served
    listener: str
    admin: dict[str, str]
    data_dir: Path


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsServer]:
    data_dir = tmp_path_factory.mktemp("metrics-serve")
    listener = f"127.0.0.1:{free_port()}"
    settings = {"CRYPTOPREDICT_SCHEDULER": "off", "CRYPTOPREDICT_METRICS_ADDRESS": listener}
    env = server_env(data_dir, settings | {"CRYPTOPREDICT_ADMIN_PASSWORD": ADMIN[1]})
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cryptopredict.cli", "create-admin", "--email", ADMIN[0]],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    with serving(data_dir, settings, workers=2) as served:
        assert served.wait_until_live(60), served.log.read_text(errors="replace")
        login = httpx.post(
            f"{served.base}/api/v1/auth/login",
            json={"email": ADMIN[0], "password": ADMIN[1]},
            timeout=30,
        )
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield MetricsServer(served, f"http://{listener}/metrics", admin, data_dir)


def _scrape(url: str, headers: dict[str, str] | None = None) -> str:
    """One scrape on a connection of its own (so any worker may take it)."""
    return checked(httpx.get(url, headers=headers, timeout=30))


def _live_per_worker(data_dir: Path) -> list[float]:
    """/health/live answers each worker process recorded, read from its own counter file."""
    files = sorted((data_dir / "metrics").glob("serve-*/counter_*.db"))
    counts = []
    for file in files:
        for metric in MultiProcessCollector.merge([str(file)]):
            counts += [s.value for s in metric.samples if s.labels == LIVE]
    return counts


def test_counts_add_up_over_both_workers_whichever_answers_the_scrape(
    metrics_server: MetricsServer,
) -> None:
    base = metrics_server.served.base
    time.sleep(2 * FLUSH_SECONDS)  # until requests made before this test reach the metrics
    before = _scrape(metrics_server.listener)
    sent = 0
    # Each request on a new connection, until both workers have answered some.
    while sent < 20 or len([n for n in _live_per_worker(metrics_server.data_dir) if n]) < 2:
        assert sent < 1000, "one worker answered every request"
        assert httpx.get(f"{base}/health/live", timeout=10).status_code == 200
        sent += 1

    risen(lambda: _scrape(metrics_server.listener), before, (REQUESTS, LIVE, sent))
    for _ in range(6):  # each scrape on a new connection: both workers answer some
        scraped = _scrape(f"{base}/metrics", metrics_server.admin)
        assert value(scraped, REQUESTS, **LIVE) - value(before, REQUESTS, **LIVE) == sent


def test_a_task_run_in_a_worker_process_is_counted_by_outcome(
    metrics_server: MetricsServer,
) -> None:
    base, admin = metrics_server.served.base, metrics_server.admin
    labels = {"task": "health_check", "outcome": "succeeded"}
    before = value(_scrape(metrics_server.listener), "cryptopredict_task_runs_total", **labels)
    submitted = httpx.post(f"{base}/api/v1/tasks/health_check/run", headers=admin, timeout=30)
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}/api/v1/tasks/runs/{task_id}", headers=admin, timeout=30)
        if state.json()["state"] == "succeeded":
            break
        time.sleep(0.1)

    after = value(_scrape(metrics_server.listener), "cryptopredict_task_runs_total", **labels)
    assert after - before == 1


def test_serve_stops_with_a_clear_error_when_the_metrics_address_is_taken(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = {"CRYPTOPREDICT_METRICS_ADDRESS": f"127.0.0.1:{port}"}
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "cryptopredict.cli", "serve", "--port", str(free_port())],
            env=server_env(tmp_path, settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert result.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
