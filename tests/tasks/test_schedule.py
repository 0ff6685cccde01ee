"""The one schedule table: every kind has its job, periodic kinds run without arguments, and
adding a kind is one `TaskSpec` line that the runner, scheduler and API all pick up."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import time

import pytest

from cryptopredict.core.timegrid import ONE_DAY
from cryptopredict.tasks import jobs, training_jobs
from cryptopredict.tasks.embedded import EmbeddedRunner, EmbeddedScheduler
from cryptopredict.tasks.execution import validate_kwargs
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.models import TaskState
from cryptopredict.tasks.runner import period_of
from cryptopredict.tasks.schedule import HOUR, MINUTE, SCHEDULE, TASKS, TaskSpec, get_spec


def test_every_kind_has_a_job_of_its_name_and_periodic_kinds_need_no_arguments() -> None:
    for spec in SCHEDULE:
        module, _, name = spec.job.partition(":")
        assert name == spec.name and module in (jobs.__name__, training_jobs.__name__)
        job = getattr(importlib.import_module(module), name)
        assert callable(job)
        parameters = inspect.signature(job).parameters
        assert set(spec.lock_args) <= set(parameters) - {"context"}
        if spec.every is not None:
            validate_kwargs(spec, {})
    assert {spec.name: spec.every for spec in SCHEDULE if spec.every} == {
        "sync_all_prices": 5 * MINUTE,
        "sync_historical_data": HOUR,
        "discover_new_cryptocurrencies": ONE_DAY,
        "cleanup_old_data": 7 * ONE_DAY,
        "issue_forecasts": HOUR,
        "score_predictions": HOUR,
        "retrain_models": ONE_DAY,
        "update_portfolio_history": MINUTE,
    }
    assert get_spec("health_check") is TASKS["health_check"]
    with pytest.raises(KeyError, match="known: "):
        get_spec("nope")


def test_period_overrides_replace_the_schedules_periods(job_context: JobContext) -> None:
    settings = type(job_context.settings)(
        **(job_context.settings.model_dump() | {"task_period_overrides": {"sync_all_prices": 2}})
    )
    assert period_of(TASKS["sync_all_prices"], settings) == dt.timedelta(seconds=2)
    assert period_of(TASKS["sync_historical_data"], settings) == HOUR
    assert period_of(TASKS["health_check"], settings) is None


def test_one_line_adds_a_scheduled_task(job_context: JobContext) -> None:
    schedule = (
        *SCHEDULE,
        TaskSpec("heartbeat", MINUTE, "A new kind", job="tests.tasks.sample_jobs:echo"),
    )
    settings = type(job_context.settings)(
        **(job_context.settings.model_dump() | {"task_period_overrides": {"heartbeat": 0.1}})
    )
    context = JobContext(
        settings=settings,
        database=job_context.database,
        cache_source=job_context.cache_source,
        locks=job_context.locks,
    )
    runner = EmbeddedRunner(context, tasks={spec.name: spec for spec in schedule})
    scheduler = EmbeddedScheduler(runner, startup_delay=0, stagger=0, tick=0.02)
    assert [spec.name for spec in scheduler.specs if spec.name == "heartbeat"] == ["heartbeat"]
    runner_only = EmbeddedScheduler(runner, specs=[schedule[-1]], startup_delay=0, tick=0.02)
    try:
        runner_only.start()
        deadline = time.monotonic() + 10
        while not any(
            e.spec.name == "heartbeat"
            and e.last_run is not None
            and e.last_run.state == TaskState.SUCCEEDED
            for e in runner.schedule()
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        runner_only.stop()
        runner.close()
    (entry,) = [e for e in runner.schedule() if e.spec.name == "heartbeat"]
    assert entry.every == dt.timedelta(seconds=0.1) and entry.next_run_at is not None
