"""Task runs in a real `cryptopredict worker`'s pool are counted in its processes, into a run
directory under the data directory's metrics root, which a `serve` on the same data directory
adds to its scrape (read here as it would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from cryptopredict.core.metrics import live_runs, runs_registry
from tests.metrics_support import value
from tests.tasks.celery_support import Processes

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_runs_in_the_worker_pool_are_counted_where_serve_reads_them(
    processes: Processes, celery_client: Any, tmp_path: Path
) -> None:
    worker = processes.worker("w1", concurrency=2)
    results = [celery_client.tasks["health_check"].apply_async() for _ in range(3)]
    assert all(result.get(timeout=30)["database"] is True for result in results)

    root = tmp_path / "metrics"  # the worker's data directory is tmp_path
    assert [run.name.split("-")[:2] for run in live_runs(root)] == [
        ["worker", str(worker.popen.pid)]
    ]
    text = generate_latest(runs_registry(root)).decode()
    succeeded = {"task": "health_check", "outcome": "succeeded"}
    assert value(text, "cryptopredict_task_runs_total", **succeeded) == 3
    assert value(text, "cryptopredict_task_run_duration_seconds_count", task="health_check") == 3
