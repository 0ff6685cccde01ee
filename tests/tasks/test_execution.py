"""`execute`: every attempt recorded as succeeded, failed, retrying, skipped or revoked, with
its error scrubbed of secrets, under the task kind's lock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from cryptopredict.core.config import Settings
from cryptopredict.tasks.errors import TaskFailedError, TemporaryTaskError, UnknownTaskError
from cryptopredict.tasks.execution import InvalidArgumentsError, execute, validate_kwargs
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.models import TaskRun, TaskState
from cryptopredict.tasks.repository import TaskRunRepository
from cryptopredict.tasks.schedule import TASKS, TaskSpec
from tests.tasks import sample_jobs
from tests.tasks.conftest import API_KEY

JOBS = "tests.tasks.sample_jobs"
ECHO = TaskSpec("echo", None, "echo", job=f"{JOBS}:echo")
LEAK = TaskSpec("leak", None, "fails with a secret", max_retries=3, job=f"{JOBS}:leak_and_fail")
DOWN = TaskSpec("down", None, "upstream down", max_retries=2, job=f"{JOBS}:upstream_down")
COIN = TaskSpec("coin", None, "per coin", job=f"{JOBS}:wait_for_coin", lock_args=("coin_id",))


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    sample_jobs.calls.clear()
    sample_jobs.gate.clear()
    yield
    sample_jobs.gate.set()
    sample_jobs.calls.clear()


def _runs(context: JobContext, task_id: str) -> list[TaskRun]:
    with context.session() as session:
        return TaskRunRepository(session).attempts(task_id)


def test_a_successful_run_is_recorded_with_its_result_duration_and_worker(
    job_context: JobContext,
) -> None:
    result = execute(ECHO, {"value": 7}, task_id="t-ok", context=job_context, worker="w1")

    assert result == {"value": 7}
    (run,) = _runs(job_context, "t-ok")
    assert (run.task, run.status, run.attempt, run.worker) == ("echo", "succeeded", 1, "w1")
    assert run.args == {"value": 7} and run.result == {"value": 7}
    assert run.started_at is not None and run.finished_at is not None
    assert run.finished_at >= run.started_at and run.duration_seconds is not None
    assert run.error is None


def test_a_failure_is_recorded_and_raised_with_the_api_key_scrubbed(
    job_context: JobContext,
) -> None:
    with pytest.raises(TaskFailedError) as raised:
        execute(LEAK, {}, task_id="t-leak", context=job_context, attempt=1)

    (run,) = _runs(job_context, "t-leak")
    assert run.status == TaskState.FAILED  # a ValueError is no temporary fault: no retry
    assert run.error is not None and "ValueError" in run.error
    assert API_KEY not in run.error and "***" in run.error
    assert API_KEY not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_temporary_failure_asks_for_a_retry_until_the_retries_are_spent(
    job_context: JobContext,
) -> None:
    for attempt in (1, 2):
        with pytest.raises(TemporaryTaskError) as raised:
            execute(DOWN, {}, task_id="t-down", context=job_context, attempt=attempt)
        assert raised.value.retry_in > 0
    with pytest.raises(TaskFailedError):
        execute(DOWN, {}, task_id="t-down", context=job_context, attempt=3)

    runs = _runs(job_context, "t-down")
    assert [(r.attempt, r.status) for r in runs] == [
        (1, TaskState.RETRYING),
        (2, TaskState.RETRYING),
        (3, TaskState.FAILED),
    ]
    assert all("UpstreamServerError: CoinGecko answered 503" == r.error for r in runs)


def test_a_run_finding_the_lock_taken_is_recorded_as_skipped_and_does_no_work(
    job_context: JobContext,
) -> None:
    with job_context.locks.hold("echo", ttl_seconds=30) as lease:
        assert lease is not None
        result = execute(ECHO, {}, task_id="t-skip", context=job_context)

    assert result["skipped"] is True
    assert sample_jobs.calls == []
    (run,) = _runs(job_context, "t-skip")
    assert run.status == TaskState.SKIPPED and "holds its lock" in (run.error or "")
    assert execute(ECHO, {}, task_id="t-after", context=job_context) == {"value": 1}


def test_a_redelivered_or_retried_task_takes_back_the_lock_its_dead_run_left(
    job_context: JobContext,
) -> None:
    # A delivery killed mid-run leaves its lock behind, owned by its task id.
    assert job_context.locks.acquire("echo", ttl_seconds=30, token="t-dead") is not None

    assert execute(ECHO, {}, task_id="t-other", context=job_context)["skipped"] is True
    assert execute(ECHO, {"value": 2}, task_id="t-dead", context=job_context) == {"value": 2}
    assert execute(ECHO, {}, task_id="t-other-2", context=job_context) == {"value": 1}  # freed
    assert [r.status for r in _runs(job_context, "t-dead")] == [TaskState.SUCCEEDED]


def test_lock_args_scope_the_lock_to_the_argument_values(job_context: JobContext) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        bitcoin = pool.submit(
            execute, COIN, {"coin_id": "bitcoin"}, task_id="t-btc", context=job_context
        )
        _wait(lambda: len(sample_jobs.calls) == 1)
        # Another coin runs alongside; the same coin is skipped while the first one runs.
        ether = pool.submit(
            execute, COIN, {"coin_id": "ethereum"}, task_id="t-eth", context=job_context
        )
        _wait(lambda: len(sample_jobs.calls) == 2)
        again = execute(COIN, {"coin_id": "bitcoin"}, task_id="t-btc-2", context=job_context)
        sample_jobs.gate.set()
        assert bitcoin.result(10) == {"coin_id": "bitcoin"}
        assert ether.result(10) == {"coin_id": "ethereum"}

    assert again == {
        "skipped": True,
        "reason": "another run of coin:coin_id=bitcoin holds its lock",
    }
    assert [c["coin_id"] for c in sample_jobs.calls] == ["bitcoin", "ethereum"]
    assert TASKS["sync_specific_cryptocurrency"].lock_args == ("coin_id",)
    assert TASKS["sync_specific_cryptocurrency"].lock_name({"coin_id": "bitcoin", "days": 3}) == (
        "sync_specific_cryptocurrency:coin_id=bitcoin"
    )
    assert TASKS["sync_all_prices"].lock_name({}) == "sync_all_prices"
    with pytest.raises(ValueError, match="exclusive"):
        TaskSpec("x", None, "x", exclusive=False, lock_args=("coin_id",))


def test_retries_back_off_exponentially_from_the_configured_base(
    job_context: JobContext,
) -> None:
    settings = Settings(**(job_context.settings.model_dump() | {"task_retry_base_seconds": 2}))
    context = JobContext(
        settings=settings,
        database=job_context.database,
        cache_source=job_context.cache_source,
        locks=job_context.locks,
    )
    spec = TaskSpec("down", None, "upstream down", max_retries=3, job=f"{JOBS}:upstream_down")
    delays = []
    for attempt in (1, 2, 3):
        with pytest.raises(TemporaryTaskError) as raised:
            execute(spec, {}, task_id="t-backoff", context=context, attempt=attempt)
        delays.append(raised.value.retry_in)

    for delay, full in zip(delays, (2.0, 4.0, 8.0), strict=True):
        assert full / 2 <= delay <= full


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_queued_attempt_is_picked_up_and_a_revoked_one_is_not_run(
    job_context: JobContext,
) -> None:
    with job_context.session() as session:
        runs = TaskRunRepository(session)
        runs.queue(task_id="t-queued", task="echo", args={"value": 3})
        revoked = runs.queue(task_id="t-revoked", task="echo", args={})
        runs.update(revoked, status=TaskState.REVOKED)
        session.commit()

    assert execute(ECHO, {"value": 3}, task_id="t-queued", context=job_context) == {"value": 3}
    assert execute(ECHO, {}, task_id="t-revoked", context=job_context) == {"revoked": True}

    assert [r.status for r in _runs(job_context, "t-queued")] == [TaskState.SUCCEEDED]
    assert [r.status for r in _runs(job_context, "t-revoked")] == [TaskState.REVOKED]
    assert sample_jobs.calls == [{"job": "echo", "value": 3}]


def test_the_retry_of_a_task_revoked_while_waiting_for_it_is_not_run(
    job_context: JobContext,
) -> None:
    with pytest.raises(TemporaryTaskError):
        execute(DOWN, {}, task_id="t-retry-revoked", context=job_context, attempt=1)
    # Revoked while waiting for its retry (what both runners record); a worker that never
    # heard the revoke still gets the retry's delivery.
    with job_context.session() as session:
        TaskRunRepository(session).set_state(
            "t-retry-revoked", only=[TaskState.RETRYING], status=TaskState.REVOKED
        )
        session.commit()

    result = execute(DOWN, {}, task_id="t-retry-revoked", context=job_context, attempt=2)

    assert result == {"revoked": True}
    assert sample_jobs.calls == [{"job": "upstream_down"}]
    assert [(r.attempt, r.status) for r in _runs(job_context, "t-retry-revoked")] == [
        (1, TaskState.REVOKED)
    ]


def test_bad_arguments_fail_the_run_before_the_job_and_name_the_problem(
    job_context: JobContext,
) -> None:
    with pytest.raises(InvalidArgumentsError) as raised:
        execute(ECHO, {"value": -1, "extra": 1}, task_id="t-bad", context=job_context)

    assert {tuple(e["loc"]) for e in raised.value.errors} == {("value",), ("extra",)}
    (run,) = _runs(job_context, "t-bad")
    assert run.status == TaskState.FAILED and sample_jobs.calls == []


def test_arguments_are_validated_against_the_real_jobs_signatures() -> None:
    assert validate_kwargs("sync_specific_cryptocurrency", {"coin_id": "bitcoin"}) == {
        "coin_id": "bitcoin",
        "days": 365,
        "intervals": None,
    }
    assert validate_kwargs("sync_historical_data", {"intervals": ["1d"]})["intervals"] == ["1d"]
    with pytest.raises(InvalidArgumentsError):
        validate_kwargs("sync_specific_cryptocurrency", {})
    with pytest.raises(InvalidArgumentsError):
        validate_kwargs("sync_historical_data", {"intervals": []})
    with pytest.raises(InvalidArgumentsError):
        validate_kwargs("sync_historical_data", {"intervals": ["2h"]})
    with pytest.raises(InvalidArgumentsError):
        validate_kwargs("sync_specific_cryptocurrency", {"coin_id": "Not A Coin!"})
    with pytest.raises(InvalidArgumentsError):
        validate_kwargs("health_check", {"surprise": True})
    with pytest.raises(UnknownTaskError):
        validate_kwargs("no_such_task", {})


def test_a_run_over_its_time_limit_is_recorded_as_failed(job_context: JobContext) -> None:
    spec = TaskSpec("slowpoke", None, "slow", time_limit_seconds=0, job=f"{JOBS}:slow")

    with pytest.raises(TaskFailedError, match="over its limit"):
        execute(spec, {"seconds": 0.01}, task_id="t-slow", context=job_context)

    (run,) = _runs(job_context, "t-slow")
    assert run.status == TaskState.FAILED and run.result == {"slept": 0.01}


def test_the_health_check_job_reports_where_it_ran(job_context: JobContext) -> None:
    result = execute("health_check", {}, task_id="t-health", context=job_context)

    assert {"host", "pid", "time", "database"} <= set(result) and result["database"] is True
    with job_context.session() as session:
        assert session.scalars(select(TaskRun.status)).all() == [TaskState.SUCCEEDED]
