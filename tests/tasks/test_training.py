"""Retraining as background tasks in the embedded mode, on the task database (SQLite, or
PostgreSQL when configured): `retrain_models` queues one `train_coin_models` run per coin
that is due and names the coins with too little history; the per-coin lock (in process, or
in Redis across processes) skips a second run of the same coin; a scheduler runs the
`at_start` kinds at every start; the admin trigger `POST /forecasts/{coin}/train`; training
in a child process of the server (`ChildProcess`).

Training configs are small (drift, with naive as the bar, on a few hundred days), so each
coin trains in well under a second."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from cryptopredict.core.cache import FORECASTS_NAMESPACE, ResponseCache, cached_bytes
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine, utcnow
from cryptopredict.forecasting import service as forecasting_service
from cryptopredict.forecasting import training
from cryptopredict.main import create_app
from cryptopredict.tasks import service as tasks_service
from cryptopredict.tasks.embedded import EmbeddedRunner, EmbeddedScheduler
from cryptopredict.tasks.errors import TaskFailedError
from cryptopredict.tasks.execution import execute
from cryptopredict.tasks.isolation import ChildProcess, ChildTimeoutError
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.locks import TaskLocks
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.runner import TaskStatus
from cryptopredict.tasks.schedule import HOUR, SCHEDULE, TaskSpec
from tests.conftest import SNAPSHOT_PRICES
from tests.factories import Factory
from tests.serving import server_env, serving
from tests.tasks import child_functions
from tests.tasks.api_support import admin, factory, settled

API_FIXTURES = (factory, admin)
"""Users committed to the task database, used here by name."""

MINIMUM = training.TrainingConfig().minimum_rows()
DAY = dt.timedelta(days=1)
LOCK = "train_coin_models:coin_id=litecoin"


def _store(
    database: Database, coin: str, days: int, *, source: str = "litecoin", symbol: str | None = None
) -> None:
    """A coin with the last `days` daily closes of a snapshot CSV, committed."""
    closes = training.load_csv_prices(SNAPSHOT_PRICES, source)["close"].iloc[-days:]
    with database.session_factory() as session:
        factory = Factory(session, None)  # type: ignore[arg-type]  # rows only, no HTTP
        stored = factory.coin(coin, symbol=symbol)
        factory.daily_prices(stored, [float(close) for close in closes])


def _wait(condition: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
    return value


def _finished(runner: EmbeddedRunner, task_id: str) -> TaskStatus | None:
    status = runner.status(task_id)
    return status if status is not None and status.state.finished else None


def _serving(database: Database, coin: str) -> dict[int, tuple[str, int]]:
    """The production version per horizon of a coin: (kind, version)."""
    with database.session_factory() as session:
        found = forecasting_service.resolve_coin(session=session, identifier=coin)
        versions = forecasting_service.production_versions(session=session, coin=found)
        return {v.horizon: (v.kind, v.version) for v in versions}


@pytest.fixture
def small_settings(tasks_settings: Settings) -> Settings:
    """The task settings with a small training config: drift against naive."""
    return tasks_settings.model_copy(update={"training_models": ["drift"]})


@pytest.fixture
def context(job_context: JobContext, small_settings: Settings) -> Iterator[JobContext]:
    """A job context on the task database whose jobs queue their runs on an embedded runner
    (`runner` below), training in the job's thread."""
    made = JobContext(
        settings=small_settings,
        database=job_context.database,
        cache_source=job_context.cache_source,
        locks=job_context.locks,
    )
    yield made
    if made.offload is not None:
        made.offload.close()


@pytest.fixture
def runner(context: JobContext) -> Iterator[EmbeddedRunner]:
    """The schedule's kinds on an embedded runner that `context.submit` queues on."""
    made = EmbeddedRunner(context)
    context.submit = made.submit
    yield made
    made.close()


def _run(runner: EmbeddedRunner, name: str, args: dict[str, Any] | None = None) -> TaskStatus:
    task_id = runner.submit(name, args)
    status: TaskStatus = _wait(lambda: _finished(runner, task_id))
    return status


def test_a_round_queues_one_run_per_due_coin_and_names_those_too_young(
    runner: EmbeddedRunner, context: JobContext
) -> None:
    _store(context.database, "litecoin", 300)
    _store(context.database, "ripple", MINIMUM, source="ripple")
    _store(context.database, "young", MINIMUM - 1)

    first = _run(runner, "retrain_models")

    assert first.state == TaskState.SUCCEEDED, first.error
    assert first.result is not None
    assert set(first.result["queued"]) == {"litecoin", "ripple"}
    assert first.result["too_short"] == {"young": f"{MINIMUM - 1} 1d rows, {MINIMUM} needed"}
    assert first.result["min_rows"] == MINIMUM
    runs: dict[str, TaskStatus] = {
        coin: _wait(lambda t=task_id: _finished(runner, t))
        for coin, task_id in first.result["queued"].items()
    }
    for coin, run in runs.items():
        assert run.result is not None
        assert (run.task, run.state, run.args["coin_id"]) == (
            "train_coin_models",
            "succeeded",
            coin,
        )
        assert run.result["trained"] is True and run.result["replaced"] == {}
        assert run.worker == runner.worker_name
        assert set(_serving(context.database, coin)) == set(training.DEFAULT_HORIZONS)
    assert _serving(context.database, "litecoin")[1][1] == 1

    # Trained since the cut-off: the next round (a restart, say) queues nothing.
    second = _run(runner, "retrain_models")
    assert second.result is not None
    assert (second.result["queued"], sorted(second.result["up_to_date"])) == (
        {},
        ["litecoin", "ripple"],
    )
    # A run queued by the first round, delivered again, does nothing either.
    again = _run(runner, "train_coin_models", runs["litecoin"].args)
    assert again.result == {
        "coin": "litecoin",
        "trained": False,
        "reason": "trained since the cut-off",
    }

    # A day later every coin is due again; the new versions replace the old ones.
    context.clock = lambda: utcnow() + dt.timedelta(days=1)
    third = _run(runner, "retrain_models")
    assert third.result is not None and set(third.result["queued"]) == {"litecoin", "ripple"}
    rerun = _wait(lambda: _finished(runner, third.result["queued"]["litecoin"]))  # type: ignore[index]
    assert rerun.result is not None
    assert set(rerun.result["replaced"]) == set(rerun.result["promoted"]) == {"1", "7", "30"}
    assert all(label.endswith(" v1") for label in rerun.result["replaced"].values())
    assert {version for _, version in _serving(context.database, "litecoin").values()} == {2}


@pytest.mark.parametrize("where", ["process", "redis"])
def test_a_run_finding_its_coin_locked_is_skipped(
    request: pytest.FixtureRequest, context: JobContext, where: str, tmp_path: Path
) -> None:
    _store(context.database, "litecoin", 300)
    if where == "redis":  # two processes, as two Celery workers on one Redis are
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        prefix = f"cryptopredict:test:{uuid.uuid4().hex}:lock:"
        holder, ours = TaskLocks(client, prefix=prefix), TaskLocks(client, prefix=prefix)
    else:  # two server processes on one host share the lock directory
        holder = TaskLocks(directory=tmp_path / "locks")
        ours = TaskLocks(directory=tmp_path / "locks")
    context.locks = ours

    with holder.hold(LOCK, ttl_seconds=60, token="the-other-run") as lease:
        assert lease is not None
        skipped = execute(
            "train_coin_models", {"coin_id": "litecoin"}, task_id="second", context=context
        )
    trained = execute(
        "train_coin_models", {"coin_id": "litecoin"}, task_id="third", context=context
    )

    assert skipped == {"skipped": True, "reason": f"another run of {LOCK} holds its lock"}
    assert trained["trained"] is True
    with context.session() as session:
        states = {run.task_id: run.status for run in TaskRunRepository(session).list()}
    assert states == {"second": TaskState.SKIPPED, "third": TaskState.SUCCEEDED}
    if where == "redis":
        client.close()


def test_training_runs_in_a_child_process_when_offloaded(context: JobContext) -> None:
    _store(context.database, "litecoin", 300)
    context.offload = ChildProcess(name="test-training")

    result = execute("train_coin_models", {"coin_id": "litecoin"}, task_id="child", context=context)

    assert result["trained"] is True and result["coin"] == "litecoin"
    assert context.offload.pid not in (None, os.getpid())  # started, and still there for more
    assert set(_serving(context.database, "litecoin")) == set(training.DEFAULT_HORIZONS)


def test_a_round_needs_a_runner_to_queue_on(context: JobContext) -> None:
    with pytest.raises(TaskFailedError, match="needs a task runner"):
        execute("retrain_models", {}, task_id="alone", context=context)


def test_an_unknown_model_kind_fails_the_run_with_its_name(context: JobContext) -> None:
    _store(context.database, "litecoin", 300)
    context.settings = context.settings.model_copy(update={"training_models": ["prophet"]})

    with pytest.raises(TaskFailedError, match="prophet"):
        execute("train_coin_models", {"coin_id": "litecoin"}, task_id="bad", context=context)
    assert _serving(context.database, "litecoin") == {}


def test_a_scheduler_runs_the_at_start_kinds_at_every_start(
    context: JobContext, runner: EmbeddedRunner
) -> None:
    kick = TaskSpec(
        "kick", HOUR, "at every start", job="tests.tasks.sample_jobs:echo", at_start=True
    )
    tick = TaskSpec("tick", HOUR, "every hour", job="tests.tasks.sample_jobs:echo")
    now = utcnow()
    with context.session() as session:
        runs = TaskRunRepository(session)
        for name in ("kick", "tick"):
            run = runs.queue(task_id=name, task=name, args={})
            runs.update(run, status=TaskState.SUCCEEDED, created_at=now - dt.timedelta(minutes=10))
        session.commit()
    runner.tasks |= {"kick": kick, "tick": tick}
    scheduler = EmbeddedScheduler(runner, specs=[kick, tick], startup_delay=0, stagger=0, tick=0.02)
    scheduler.start()
    try:
        _wait(lambda: len(_recorded(context, "kick")) == 2)
        planned = scheduler.planned()
    finally:
        scheduler.stop()

    assert len(_recorded(context, "tick")) == 1  # ran 10 minutes ago: next one in 50
    assert abs((planned["tick"] - (now + dt.timedelta(minutes=50))).total_seconds()) < 5
    assert abs((planned["kick"] - (now + HOUR)).total_seconds()) < 5  # ran now, next in an hour
    assert next(spec for spec in SCHEDULE if spec.name == "retrain_models").at_start


def _recorded(context: JobContext, task: str) -> list[str]:
    with context.session() as session:
        return [run.task_id for run in TaskRunRepository(session).list(filters={"task": task})]


# ---- the child process ----------------------------------------------------------------


@pytest.fixture
def child() -> Iterator[ChildProcess]:
    made = ChildProcess(name="test-child")
    yield made
    made.close()


def test_a_child_runs_calls_at_low_priority_and_raises_what_they_raise(child: ChildProcess) -> None:
    where = child.call(child_functions.whereabouts)

    assert where["pid"] != os.getpid() and where["pid"] == child.pid
    assert where["niceness"] >= os.nice(0) + 10 or where["niceness"] == 19
    assert child.call(child_functions.whereabouts)["pid"] == where["pid"]  # reused
    with pytest.raises(ValueError, match="bad input"):
        child.call(child_functions.fail, message="bad input")
    with pytest.raises(RuntimeError, match="_StubbornError: stubborn: no pickle"):
        child.call(child_functions.fail_stubbornly)
    assert child.call(child_functions.sleep, seconds=0.01) == 0.01


def test_a_child_that_dies_or_overruns_is_replaced_by_the_next_call(child: ChildProcess) -> None:
    first = child.call(child_functions.whereabouts)["pid"]

    with pytest.raises(ChildProcessError, match="exit code 9"):
        child.call(child_functions.die)
    second = child.call(child_functions.whereabouts)["pid"]
    with pytest.raises(ChildTimeoutError, match="no answer within 0 s"):
        child.call(child_functions.sleep, timeout=0.3, seconds=30)
    third = child.call(child_functions.whereabouts)["pid"]

    assert len({first, second, third}) == 3


def test_closing_a_child_ends_the_call_in_progress(child: ChildProcess) -> None:
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            child.call(child_functions.sleep, seconds=30)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    _wait(lambda: child.pid is not None)
    time.sleep(0.2)
    child.close()
    caller.join(10)

    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ChildProcessError)
    with pytest.raises(ChildProcessError, match="closed"):
        child.call(child_functions.whereabouts)


# ---- the admin trigger ----------------------------------------------------------------

TRAIN = "/api/v1/forecasts/{}/train"


@pytest.fixture
def api(small_settings: Settings, tasks_database: Database) -> Iterator[TestClient]:
    """An app on the task database as the server builds it (its runner trains in a child
    process), the scheduler off."""
    app = create_app(small_settings, database=tasks_database, scheduler=False)
    with TestClient(app) as client:
        yield client


def test_the_train_trigger_is_for_admins_and_knows_its_coins(
    api: TestClient, factory: Factory, admin: dict[str, str]
) -> None:
    user = factory.headers(factory.user())

    assert api.post(TRAIN.format("bitcoin")).status_code == 401
    denied = api.post(TRAIN.format("bitcoin"), headers=user)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    unknown = api.post(TRAIN.format("no-such-coin"), headers=admin)
    assert unknown.status_code == 404, unknown.text
    assert set(unknown.json()) == {"error"} and unknown.json()["error"]["code"] == "not_found"
    runs = api.get("/api/v1/tasks/runs", headers=admin).json()
    assert runs["total"] == 0  # nothing was queued


def test_the_train_trigger_queues_a_run_that_trains_in_a_child_process(
    api: TestClient, admin: dict[str, str], tasks_database: Database
) -> None:
    _store(tasks_database, "litecoin", 300, symbol="ltc")

    accepted = api.post(TRAIN.format("ltc"), headers=admin)  # a symbol names the coin too

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["task"] == "train_coin_models" and body["mode"] == "embedded"
    assert body["args"] == {"coin_id": "litecoin"}
    assert body["state"] in ("queued", "running")
    assert accepted.headers["location"] == body["status_url"]
    assert body["status_url"] == f"/api/v1/tasks/runs/{body['task_id']}"
    status = settled(api, admin, body["task_id"], timeout=120)
    assert status["state"] == "succeeded", status["error"]
    assert status["result"]["trained"] is True
    assert set(_serving(tasks_database, "litecoin")) == set(training.DEFAULT_HORIZONS)
    runner = tasks_service.app_runner(api.app.state, api.app.state.settings)  # type: ignore[attr-defined]
    assert isinstance(runner, EmbeddedRunner) and runner.context.offload is not None
    assert runner.context.offload.pid not in (None, os.getpid())


# ---- first start ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_fresh_server_trains_the_snapshot_coins_by_itself(tmp_path: Path) -> None:
    """`make run` on a fresh SQLite database: import the snapshot, serve, nothing else."""
    settings = {
        "CRYPTOPREDICT_TRAINING_MODELS": "drift",
        "CRYPTOPREDICT_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",  # nothing listens
    }
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cryptopredict.cli", "import-prices", "--snapshot"],
        env=server_env(tmp_path, settings),
        check=True,
        timeout=300,
        capture_output=True,
    )
    database = Database(create_db_engine(f"sqlite:///{tmp_path / 'cryptopredict.db'}"))
    coins = [path.stem for path in SNAPSHOT_PRICES.glob("*.csv")]
    try:
        with serving(tmp_path, settings) as served:
            assert served.wait_until_live(), served.log.read_text(errors="replace")
            assert all(_serving(database, coin) == {} for coin in coins)  # start did not wait

            def trained() -> bool:
                return all(len(_serving(database, coin)) == 3 for coin in coins)

            _wait(trained, timeout=240)
            assert httpx.get(f"{served.base}/health/live", timeout=5).status_code == 200

            def forecast_served() -> bool:  # issued right after each coin's training
                answers = [
                    httpx.get(f"{served.base}/api/v1/forecasts/{c}", timeout=10) for c in coins
                ]
                return all(a.status_code == 200 for a in answers)

            _wait(forecast_served, timeout=60)
            answer = httpx.get(f"{served.base}/api/v1/forecasts/{coins[0]}", timeout=10).json()
            assert sorted(f["horizon"] for f in answer["forecasts"]) == [1, 7, 30]
            assert all(f["verdict"] and "skill" in f for f in answer["forecasts"])
        with database.session_factory() as session:
            runs = TaskRunRepository(session).list(filters={"task": "train_coin_models"})
        # A retried attempt, or a run queued twice that finds its coin trained since its
        # cut-off, is by design; what must hold is one training per coin, every run ending well.
        attempts = [(r.args["coin_id"], r.attempt, r.status, r.error, r.result) for r in runs]
        trainings = [r.args["coin_id"] for r in runs if (r.result or {}).get("trained")]
        assert sorted(trainings) == sorted(coins), attempts
        newest: dict[str, TaskRun] = {}
        for run in runs:
            if run.task_id not in newest or run.attempt > newest[run.task_id].attempt:
                newest[run.task_id] = run
        assert {run.status for run in newest.values()} == {TaskState.SUCCEEDED}, attempts
        assert "Traceback" not in served.log.read_text(errors="replace")
    finally:
        database.dispose()


def _cached(cache: ResponseCache) -> bytes | None:
    """The probe entry of the forecasts namespace, or None once it was dropped."""
    return asyncio.run(cache.lookup(FORECASTS_NAMESPACE, "probe")).value


def _cache_probe(cache: ResponseCache) -> None:
    async def store() -> bytes:
        async def compute() -> bytes:
            return b"cached forecast"

        return await cached_bytes(cache, FORECASTS_NAMESPACE, "probe", compute)

    asyncio.run(store())


def test_runs_that_write_forecasts_or_scores_drop_the_cached_answers(
    runner: EmbeddedRunner, context: JobContext
) -> None:
    _store(context.database, "litecoin", 300)
    trained = _run(runner, "train_coin_models", {"coin_id": "litecoin"})
    assert trained.state == TaskState.SUCCEEDED, trained.error
    newest = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + 299 * DAY
    context.clock = lambda: newest + DAY + HOUR  # the newest bar has closed
    _cache_probe(context.cache)

    idle = _run(runner, "issue_forecasts")  # issued after training: nothing new
    assert idle.result is not None and idle.result["issued"] == 0
    idle_scoring = _run(runner, "score_predictions")  # no target bar stored yet
    assert idle_scoring.result is not None and idle_scoring.result["scored"] == 0
    assert _cached(context.cache) == b"cached forecast"

    with context.database.session_factory() as session:  # the next bar closes
        stored = forecasting_service.resolve_coin(session=session, identifier="litecoin")
        Factory(session, None).daily_prices(stored, [100.0], start=newest + DAY)  # type: ignore[arg-type]
    context.clock = lambda: newest + 2 * DAY + HOUR
    scored = _run(runner, "score_predictions")  # the 1-day forecasts' target is stored
    assert scored.result is not None and scored.result["scored"] > 0
    assert _cached(context.cache) is None
    _cache_probe(context.cache)
    issued = _run(runner, "issue_forecasts")
    assert issued.result is not None and issued.result["issued"] > 0
    assert _cached(context.cache) is None
