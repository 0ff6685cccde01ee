"""Retraining through Celery: real `cryptopredict worker` and `beat` processes on the session's
redis-server and the task database. A round's per-coin runs go to the training queue and are
spread over two workers; two runs of one coin at once leave one skipped by the coin's lock in
Redis; a beat that takes the lead sends `retrain_models` at once, so a fresh deployment trains
without waiting a day.

Small training configs (CRYPTOPREDICT_TRAINING_MODELS=drift, a few hundred days per coin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.forecasting import training
from cryptopredict.forecasting.models import ModelStatus, ModelVersion
from cryptopredict.tasks.celery_app import QUEUE, QUEUES, create_celery
from cryptopredict.tasks.models import TaskRun, TaskState
from tests.conftest import SNAPSHOT_PRICES, TEST_SECRET
from tests.factories import Factory
from tests.tasks.celery_support import Processes, wait_for

SMALL = {"CRYPTOPREDICT_TRAINING_MODELS": "drift"}
COINS = ("bitcoin", "ethereum", "cardano", "dogecoin", "litecoin", "ripple")


def _store(database: Database, days: int) -> None:
    """Every snapshot coin with its last `days` daily closes, committed."""
    with database.session_factory() as session:
        factory = Factory(session, None)  # type: ignore[arg-type]  # rows only, no HTTP
        for coin in COINS:
            closes = training.load_csv_prices(SNAPSHOT_PRICES, coin)["close"].iloc[-days:]
            factory.daily_prices(factory.coin(coin), [float(close) for close in closes])


def _runs(engine: Engine, task: str) -> list[TaskRun]:
    with Session(engine) as session:
        statement = select(TaskRun).where(TaskRun.task == task).order_by(TaskRun.id)
        return list(session.scalars(statement))


def _served_coins(engine: Engine) -> dict[int, set[int]]:
    """Per coin row id, the horizons a production version serves."""
    with Session(engine) as session:
        statement = select(ModelVersion.coin_id, ModelVersion.horizon).where(
            ModelVersion.status == ModelStatus.PRODUCTION
        )
        served: dict[int, set[int]] = {}
        for coin_id, horizon in session.execute(statement):
            served.setdefault(coin_id, set()).add(horizon)
        return served


def _all_finished(engine: Engine, count: int) -> list[TaskRun] | None:
    runs = _runs(engine, "train_coin_models")
    return runs if len(runs) >= count and all(run.status.finished for run in runs) else None


def test_training_runs_go_to_a_queue_of_their_own_that_workers_consume(tmp_path: Path) -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path, secret_key=TEST_SECRET
    )
    celery = create_celery(settings)

    route = celery.amqp.router.route({}, "train_coin_models")
    assert route["queue"].name == f"{QUEUE}.training"
    assert celery.amqp.router.route({}, "sync_all_prices")["queue"].name == QUEUE
    assert set(celery.amqp.queues) == set(QUEUES) == {QUEUE, f"{QUEUE}.training"}
    celery.close()


@pytest.mark.services
@pytest.mark.slow
def test_a_round_is_spread_over_two_workers_and_a_coin_trains_once_at_a_time(
    processes: Processes, celery_client: Any, tasks_engine: Engine, tasks_database: Database
) -> None:
    _store(tasks_database, 400)
    processes.worker("w1", env=SMALL)
    processes.worker("w2", env=SMALL)

    round_ = celery_client.tasks["retrain_models"].apply_async().get(timeout=60)

    assert set(round_["queued"]) == set(COINS) and round_["too_short"] == {}
    runs = wait_for(lambda: _all_finished(tasks_engine, len(COINS)), timeout=120, what="training")
    assert [run.status for run in runs] == [TaskState.SUCCEEDED] * len(COINS)
    assert {run.worker for run in runs} == {"w1@test", "w2@test"}
    assert {run.task_id for run in runs} == set(round_["queued"].values())
    served = _served_coins(tasks_engine)
    assert len(served) == len(COINS)
    assert all(horizons == set(training.DEFAULT_HORIZONS) for horizons in served.values())

    # Two runs of one coin at once (the trigger pressed twice): the coin's lock in Redis
    # lets one train while the other, on the other worker, is recorded as skipped.
    twice = [
        celery_client.tasks["train_coin_models"].apply_async(kwargs={"coin_id": "bitcoin"})
        for _ in range(2)
    ]
    results = [result.get(timeout=60) for result in twice]
    assert sorted(results, key=lambda r: "skipped" in r)[0]["trained"] is True
    assert {
        "skipped": True,
        "reason": "another run of train_coin_models:coin_id=bitcoin holds its lock",
    } in results


@pytest.mark.services
@pytest.mark.slow
def test_a_beat_taking_the_lead_starts_a_round_at_once(
    processes: Processes, tasks_engine: Engine, tasks_database: Database
) -> None:
    _store(tasks_database, 300)
    processes.worker("w1", env=SMALL)
    beat = processes.beat(env=SMALL)

    wait_for(lambda: "sent retrain_models at start" in beat.output(), timeout=30, what="the round")
    runs = wait_for(lambda: _all_finished(tasks_engine, len(COINS)), timeout=120, what="training")
    assert all(run.status == TaskState.SUCCEEDED for run in runs)
    [round_] = _runs(tasks_engine, "retrain_models")
    assert round_.status == TaskState.SUCCEEDED and round_.worker == "w1@test"
    assert len(_served_coins(tasks_engine)) == len(COINS)
