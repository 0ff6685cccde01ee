"""Task attempts counted by kind and outcome where they run (`execute`), their durations
timed when the job ran; in one process here, in `serve`'s and the workers' files when served
(tests/test_metrics_serving.py)."""

from __future__ import annotations

import uuid

import pytest

from cryptopredict.tasks.errors import TaskFailedError, TemporaryTaskError
from cryptopredict.tasks.execution import InvalidArgumentsError, execute
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.schedule import TaskSpec
from tests.metrics_support import local, value

JOBS = "tests.tasks.sample_jobs"
RUNS = "cryptopredict_task_runs_total"
TIMED = "cryptopredict_task_run_duration_seconds_count"


def _spec(job: str, **options: int) -> TaskSpec:
    """A task kind of a name no other test uses, so its counts start from nothing."""
    name = f"{job}-{uuid.uuid4().hex[:8]}"
    return TaskSpec(name, None, name, job=f"{JOBS}:{job}", **options)


def _counts(spec: TaskSpec) -> dict[str, float]:
    text = local()
    outcomes = {
        state.value: value(text, RUNS, task=spec.name, outcome=state) for state in TaskState
    }
    return {outcome: n for outcome, n in outcomes.items() if n} | {
        "timed": value(text, TIMED, task=spec.name)
    }


def test_successes_and_skips_are_counted_and_only_runs_of_the_job_timed(
    job_context: JobContext,
) -> None:
    echo = _spec("echo")
    execute(echo, {"value": 2}, task_id=f"{echo.name}-1", context=job_context)
    execute(echo, {}, task_id=f"{echo.name}-2", context=job_context)
    with job_context.locks.hold(echo.name, ttl_seconds=30):
        assert execute(echo, {}, task_id=f"{echo.name}-3", context=job_context)["skipped"]

    assert _counts(echo) == {"succeeded": 2, "skipped": 1, "timed": 2}


def test_failures_retries_and_bad_arguments_are_counted_by_outcome(
    job_context: JobContext,
) -> None:
    down = _spec("upstream_down", max_retries=1)
    with pytest.raises(TemporaryTaskError):
        execute(down, {}, task_id=f"{down.name}-1", context=job_context, attempt=1)
    with pytest.raises(TaskFailedError):
        execute(down, {}, task_id=f"{down.name}-1", context=job_context, attempt=2)
    assert _counts(down) == {"retrying": 1, "failed": 1, "timed": 2}

    echo = _spec("echo")
    with pytest.raises(InvalidArgumentsError):
        execute(echo, {"value": -1}, task_id=f"{echo.name}-bad", context=job_context)
    assert _counts(echo) == {"failed": 1, "timed": 0}


def test_an_attempt_found_revoked_is_counted_as_revoked(job_context: JobContext) -> None:
    echo = _spec("echo")
    with job_context.session() as session:
        runs = TaskRunRepository(session)
        revoked: TaskRun = runs.queue(task_id=f"{echo.name}-r", task=echo.name, args={})
        runs.update(revoked, status=TaskState.REVOKED)
        session.commit()

    assert execute(echo, {}, task_id=f"{echo.name}-r", context=job_context) == {"revoked": True}
    assert _counts(echo) == {"revoked": 1, "timed": 0}
