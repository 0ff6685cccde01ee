"""Runs sharing a metrics root (`serve` and a `worker` on one data directory): a scrape adds
up the live runs' files, leaves out a run whose process has gone, and the next run to start
removes that run's directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from cryptopredict.core.metrics import MULTIPROC_ENV, live_runs, runs_registry
from tests.metrics_support import value

RUN = """
import sys
from pathlib import Path
from cryptopredict.core import instruments, metrics
metrics.enable_multiprocess(Path(sys.argv[1]), sys.argv[2])
instruments.task_run("echo", "succeeded", 0.5)
instruments.task_run("echo", "succeeded", 0.5)
print("ready", flush=True)
sys.stdin.readline()
"""
SUCCEEDED = {"task": "echo", "outcome": "succeeded"}


class Runs:
    """Processes that each start a run under `root`, record two task runs and wait."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[subprocess.Popen[str]] = []

    def start(self, role: str) -> subprocess.Popen[str]:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
        run = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", RUN, str(self.root), role],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert run.stdout is not None and run.stdout.readline() == "ready\n"
        self.started.append(run)
        return run

    @staticmethod
    def stop(run: subprocess.Popen[str]) -> None:
        assert run.stdin is not None
        run.stdin.close()
        run.wait(timeout=30)

    def scraped(self) -> float:
        text = generate_latest(runs_registry(self.root)).decode()
        return value(text, "cryptopredict_task_runs_total", **SUCCEEDED)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    started = Runs(tmp_path / "metrics")
    yield started
    for run in started.started:
        if run.poll() is None:
            started.stop(run)


def test_live_runs_add_up_and_a_gone_run_is_left_out_then_removed(runs: Runs) -> None:
    serve = runs.start("serve")
    worker = runs.start("worker")
    assert runs.scraped() == 4
    assert {run.name.split("-")[0] for run in live_runs(runs.root)} == {"serve", "worker"}

    runs.stop(worker)
    assert runs.scraped() == 2
    gone = [run for run in runs.root.iterdir() if run.name.startswith("worker-")]
    assert len(gone) == 1 and gone[0].is_dir()  # still on disk until the next run starts

    runs.start("worker")
    assert not gone[0].exists()
    assert runs.scraped() == 4
    assert serve.poll() is None


def test_a_directory_named_after_a_reused_pid_is_not_a_live_run(runs: Runs) -> None:
    runs.start("serve")
    impostor = runs.root / f"worker-{runs.started[0].pid}-12345"  # right pid, wrong start
    impostor.mkdir()
    assert [run.name.split("-")[0] for run in live_runs(runs.root)] == ["serve"]
    assert MULTIPROC_ENV not in os.environ  # the test process itself keeps values in memory
