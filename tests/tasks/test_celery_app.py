"""The Celery app's configuration, built without a broker: serialisation, delivery guarantees,
limits, retries, the beat schedule and the CLI's refusal without Redis."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from celery import signals
from celery.exceptions import TimeLimitExceeded
from typer.testing import CliRunner

from cryptopredict.cli.app import app as cli_app
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.tasks import celery_app
from cryptopredict.tasks.celery_app import (
    CeleryNotConfiguredError,
    beat_schedule,
    create_celery,
    soft_time_limit,
)
from cryptopredict.tasks.errors import RETRY_MAX_SECONDS, retry_delay
from cryptopredict.tasks.models import TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.runner import period_of
from cryptopredict.tasks.schedule import SCHEDULE, get_spec

REDIS = "redis://127.0.0.1:1/0"  # never contacted: building the app opens no connection


def make_settings(**overrides: object) -> Settings:
    return Settings(redis_url=REDIS, **overrides)  # type: ignore[arg-type]


def test_refuses_without_redis() -> None:
    with pytest.raises(CeleryNotConfiguredError, match="CRYPTOPREDICT_REDIS_URL"):
        create_celery(Settings(redis_url=None))


def test_configuration_is_json_only_and_at_least_once(tmp_path: Path) -> None:
    celery = create_celery(make_settings(broker_visibility_timeout_seconds=42))
    conf = celery.conf
    assert conf.broker_url == REDIS and conf.result_backend == REDIS
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"] and list(conf.result_accept_content) == ["json"]
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 42
    assert conf.broker_connection_retry_on_startup is True
    assert conf.result_expires and conf.task_default_queue == celery_app.QUEUE


def test_one_task_per_spec_with_its_limits() -> None:
    celery = create_celery(make_settings())
    for spec in SCHEDULE:
        task = celery.tasks[spec.name]
        assert task.time_limit == spec.time_limit_seconds
        assert 0 < task.soft_time_limit < task.time_limit
        assert task.max_retries == spec.max_retries
        assert task.acks_late is True


def test_soft_limit_is_a_little_before_the_hard_one() -> None:
    assert soft_time_limit(30) == 27
    assert soft_time_limit(600) == 570
    assert soft_time_limit(3600) == 3570
    assert soft_time_limit(1) == 1


def test_retry_delays_grow_exponentially_with_jitter_up_to_a_cap() -> None:
    for attempt, full in ((1, 30.0), (2, 60.0), (3, 120.0), (4, 240.0), (10, RETRY_MAX_SECONDS)):
        assert retry_delay(attempt, base=30.0, jitter=False) == full
        delays = {retry_delay(attempt, base=30.0) for _ in range(50)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1
    assert retry_delay(3, base=0.5, jitter=False) == 2.0


def test_beat_schedule_is_built_from_the_schedule_table() -> None:
    entries = beat_schedule(make_settings())
    periodic = {spec.name: spec.every for spec in SCHEDULE if spec.every is not None}
    assert set(entries) == set(periodic)
    for name, every in periodic.items():
        assert entries[name]["task"] == name
        assert entries[name]["schedule"] == every.total_seconds()
        assert entries[name]["options"]["expires"] == every.total_seconds()


def test_period_overrides_replace_periods() -> None:
    settings = make_settings(task_period_overrides={"sync_all_prices": 2})
    assert period_of(get_spec("sync_all_prices"), settings) == dt.timedelta(seconds=2)
    entries = beat_schedule(settings)
    assert entries["sync_all_prices"]["schedule"] == 2
    assert entries["sync_historical_data"]["schedule"] == 3600


def test_beat_schedule_file_lives_in_the_data_dir(tmp_path: Path) -> None:
    celery = create_celery(make_settings(data_dir=tmp_path))
    assert celery.conf.beat_schedule_filename == f"{tmp_path}/celerybeat-schedule"
    assert celery.conf.beat_scheduler.endswith(":LeaderScheduler")


def test_importing_the_module_builds_no_app() -> None:
    code = "import cryptopredict.tasks.celery_app as m, sys; sys.exit(0 if m._app is None else 1)"
    env = {"PATH": "", "CRYPTOPREDICT_REDIS_URL": ""}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, check=False, timeout=60
    )
    assert completed.returncode == 0


def test_module_app_is_built_lazily_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("cryptopredict.tasks.celery_app")
    monkeypatch.setattr(module, "_app", None)
    monkeypatch.setattr(module, "get_settings", make_settings)
    app = module.app
    assert app is module.get_celery() and app.conf.broker_url == REDIS
    with pytest.raises(AttributeError):
        _ = module.no_such_thing


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_cli_refuses_without_redis(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRYPTOPREDICT_REDIS_URL", raising=False)
    result = CliRunner().invoke(cli_app, [command])
    assert result.exit_code == 2
    assert "CRYPTOPREDICT_REDIS_URL" in result.output


def test_a_run_killed_at_its_hard_time_limit_is_recorded_as_failed(
    tasks_database: Database, tasks_database_url: str, tmp_path: Path
) -> None:
    celery = create_celery(make_settings(database_url=tasks_database_url, data_dir=tmp_path))
    with tasks_database.session_factory() as session:
        runs = TaskRunRepository(session)
        for task_id in ("killed", "other-error"):
            run = runs.queue(task_id=task_id, task="health_check", args={})
            runs.update(run, status=TaskState.RUNNING)
        session.commit()
    task = celery.tasks["health_check"]
    signals.task_failure.send(sender=task, task_id="killed", exception=TimeLimitExceeded(30))
    signals.task_failure.send(sender=task, task_id="other-error", exception=ValueError("x"))
    with tasks_database.session_factory() as session:
        killed = TaskRunRepository(session).latest("killed")
        other = TaskRunRepository(session).latest("other-error")
        assert killed is not None and killed.status == TaskState.FAILED
        assert killed.finished_at is not None and "hard time limit" in (killed.error or "")
        assert other is not None and other.status == TaskState.RUNNING  # execute records those
