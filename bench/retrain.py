"""Benchmark of retraining: `retrain_models` for the snapshot coins (every shipped model, the
default config), and what that gives for 250 coins against the 30-minute target.

- Celery: real `cryptopredict worker` processes (prefork, concurrency 1 each) with a
  redis-server of the benchmark's own and a fresh PostgreSQL database holding the snapshot's
  daily prices; one round with 1 worker, then (models deleted) one with 2, then one with 2
  and every model but the LSTM (`CRYPTOPREDICT_TRAINING_MODELS`). Wall time runs from
  sending `retrain_models` to the end of the last `train_coin_models` run; per coin is each
  run's own duration. 250 coins at the snapshot's mean per coin, spread evenly: mean x 250 /
  workers (the snapshot's histories run 3.8 to 8.2 years; younger coins train faster).
- Embedded first start: what `make run` does on a fresh SQLite database (`import-prices
  --snapshot`, then `serve`, no Redis): seconds from starting the server until every snapshot
  coin has a production version at every default horizon, and the latency of a catalogue
  request while training runs in the server's child process against before it starts.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.orm import Session

from bench.common import CLI, BenchError, Section, clean_env, fresh_database, percentile
from bench.common import running_server as _running_server
from bench.tasks import _redis_server, _workers
from cryptopredict.core import migrations
from cryptopredict.core.config import Settings
from cryptopredict.forecasting import training
from cryptopredict.forecasting.models import (
    LiveScore,
    ModelEvent,
    ModelStatus,
    ModelVersion,
    Prediction,
)
from cryptopredict.snapshot import PRICES_DIR
from cryptopredict.tasks.celery_app import create_celery
from cryptopredict.tasks.models import TaskRun

DATABASE = "cryptopredict_bench_retrain"
COINS = tuple(sorted(path.stem for path in PRICES_DIR.glob("*.csv")))
TARGET_COINS = 250
TARGET_MINUTES = 30
ROUND_TIMEOUT = 900
FIRST_START_TIMEOUT = 600
PROBE = "/api/v1/coins?limit=50"
WITHOUT_LSTM = "drift,mean,arima,lightgbm"
ROUNDS = ((1, ""), (2, ""), (2, WITHOUT_LSTM))
"""(workers, CRYPTOPREDICT_TRAINING_MODELS) of each Celery round; empty: every model."""


def _import_snapshot(env: dict[str, str]) -> None:
    completed = subprocess.run(  # noqa: S603 - our own CLI
        [str(CLI), "import-prices", "--snapshot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"import-prices exited {completed.returncode}: {completed.stderr[-500:]}")


def _served(engine: Engine) -> int:
    """Production versions stored."""
    with Session(engine) as session:
        statement = select(func.count()).where(ModelVersion.status == ModelStatus.PRODUCTION)
        return int(session.scalar(statement) or 0)


def _training_runs(engine: Engine) -> list[TaskRun]:
    with Session(engine) as session:
        statement = select(TaskRun).where(TaskRun.task == "train_coin_models")
        return list(session.scalars(statement))


def _round(celery: Any, engine: Engine, model_dir: Path) -> dict[str, Any]:
    """One `retrain_models` round on fresh models: wall time and per-coin durations."""
    with Session(engine) as session:
        for table in (Prediction, LiveScore, ModelEvent, ModelVersion, TaskRun):
            session.execute(delete(table))  # the ledger first: it keeps its versions
        session.commit()
    shutil.rmtree(model_dir, ignore_errors=True)
    started = time.perf_counter()
    summary = celery.tasks["retrain_models"].apply_async().get(timeout=60)
    if set(summary["queued"]) != set(COINS):
        raise BenchError(f"the round queued {sorted(summary['queued'])}, not {list(COINS)}")
    deadline = time.monotonic() + ROUND_TIMEOUT
    while True:
        runs = _training_runs(engine)
        if len(runs) >= len(COINS) and all(run.status.finished for run in runs):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"training did not finish within {ROUND_TIMEOUT} s")
        time.sleep(0.5)
    wall = time.perf_counter() - started
    failed = [
        f"{run.args.get('coin_id')}: {run.error}" for run in runs if run.status != "succeeded"
    ]
    if failed:
        raise BenchError(f"training failed: {failed}")
    return {
        "wall": wall,
        "per_coin": {str(run.args["coin_id"]): float(run.duration_seconds or 0) for run in runs},
        "workers": len({run.worker for run in runs}),
    }


def _celery_rounds(tmp: Path) -> dict[tuple[int, str], dict[str, Any]]:
    """A round per (workers, models) of `ROUNDS`."""
    rounds = {}
    with fresh_database(DATABASE) as database, _redis_server(tmp) as redis_url:
        migrations.upgrade(database)
        env = clean_env(
            {
                "CRYPTOPREDICT_REDIS_URL": redis_url,
                "CRYPTOPREDICT_DATABASE_URL": database,
                "CRYPTOPREDICT_DATA_DIR": str(tmp),
                "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
            }
        )
        _import_snapshot(env)
        engine = create_engine(database)
        celery = create_celery(Settings(redis_url=redis_url, database_url=database, data_dir=tmp))
        try:
            for count, models in ROUNDS:
                chosen = env | {"CRYPTOPREDICT_TRAINING_MODELS": models}
                with _workers(count, chosen, tmp):
                    rounds[count, models] = _round(celery, engine, tmp / "models")
        finally:
            celery.close()
            engine.dispose()
    return rounds


@contextlib.contextmanager
def _fresh_sqlite(tmp: Path) -> Iterator[tuple[str, Path]]:
    data_dir = tmp / "embedded"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'cryptopredict.db'}"
    _import_snapshot(clean_env({"CRYPTOPREDICT_DATA_DIR": str(data_dir)}))
    yield url, data_dir


def _first_start(tmp: Path) -> dict[str, Any]:
    """`make run` on a fresh SQLite database (module docstring)."""
    wanted = len(COINS) * len(training.DEFAULT_HORIZONS)
    idle: list[float] = []
    busy: list[float] = []
    with _fresh_sqlite(tmp) as (url, data_dir):
        engine = create_engine(url)
        started = time.perf_counter()
        offline = {"CRYPTOPREDICT_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3"}
        with (
            _running_server(url, data_dir, workers=1, extra_env=offline, schedule=True) as server,
            httpx.Client(base_url=server.base_url, timeout=10) as client,
        ):
            live = time.perf_counter() - started
            deadline = time.monotonic() + FIRST_START_TIMEOUT
            while _served(engine) < wanted:
                if time.monotonic() > deadline:
                    raise BenchError(f"no models within {FIRST_START_TIMEOUT} s of the start")
                training_now = any(run.status == "running" for run in _training_runs(engine))
                began = time.perf_counter()
                client.get(PROBE).raise_for_status()
                (busy if training_now else idle).append(time.perf_counter() - began)
                time.sleep(0.05)
            ready = time.perf_counter() - started
        engine.dispose()
    return {"live": live, "ready": ready, "idle": sorted(idle), "busy": sorted(busy)}


def _ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:.1f} ms" if values else "n/a"


def run() -> Section:
    """Measure the Celery rounds and the embedded first start, and describe them."""
    section = Section("Retraining (`retrain_models`)")
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        rounds = _celery_rounds(Path(tmp))
        first = _first_start(Path(tmp))
    lines = [
        f"`retrain_models` for the {len(COINS)} snapshot coins with the default training "
        "config (every shipped model; naive, drift, mean, ARIMA, LightGBM, LSTM), real "
        "`cryptopredict worker` processes (prefork, concurrency 1 each), PostgreSQL, a "
        "redis-server of the benchmark's own. The 250-coin figure assumes the snapshot's "
        "mean time per coin (histories of 3.8 to 8.2 years) spread evenly over the workers.",
        "",
        "| workers | models | wall time | per coin: mean / max | coins per minute | "
        f"250 coins (target {TARGET_MINUTES} min) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for (count, models), measured in rounds.items():
        per_coin = list(measured["per_coin"].values())
        mean = statistics.fmean(per_coin)
        estimate = mean * TARGET_COINS / count / 60
        verdict = "within" if estimate <= TARGET_MINUTES else "over"
        lines.append(
            f"| {count} ({measured['workers']} took runs) | {models or 'all'} | "
            f"{measured['wall']:.1f} s | {mean:.1f} s / {max(per_coin):.1f} s | "
            f"{len(per_coin) / measured['wall'] * 60:.1f} | {estimate:.1f} min ({verdict}) |"
        )
    slowest = max(rounds[1, ""]["per_coin"].items(), key=lambda item: item[1])
    lines += [
        "",
        f"Slowest coin with 1 worker and every model: {slowest[0]} ({slowest[1]:.1f} s). A "
        "worker's first run includes importing the forecasting stack (torch among it).",
        "",
        "Embedded first start (`make run` on a fresh SQLite database: `import-prices "
        "--snapshot`, then `serve`, CoinGecko unreachable): training is a task the scheduler "
        "starts on its own, in a child process of the server.",
        "",
        "| measurement | figure |",
        "|---|---:|",
        f"| `serve` answering `/health/live` | {first['live']:.1f} s |",
        f"| every snapshot coin served at horizons {training.DEFAULT_HORIZONS} | "
        f"{first['ready']:.1f} s |",
        f"| `GET {PROBE}` before training, p50 / p99 ({len(first['idle'])} requests) | "
        f"{_ms(first['idle'], 0.5)} / {_ms(first['idle'], 0.99)} |",
        f"| same while a coin trains, p50 / p99 ({len(first['busy'])} requests) | "
        f"{_ms(first['busy'], 0.5)} / {_ms(first['busy'], 0.99)} |",
    ]
    section.add(*lines)
    return section
