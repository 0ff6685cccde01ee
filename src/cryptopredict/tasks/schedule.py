"""The one schedule table: every background task kind, its job, its period and its limits.

Celery beat (``celery_app.py``) and the embedded scheduler (``embedded.py``) are both built from
``SCHEDULE``, so the two modes can never drift apart. Adding a task kind is one ``TaskSpec`` line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptopredict.core.timegrid import ONE_DAY

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


JOBS_MODULE = "cryptopredict.tasks.jobs"


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task kind.

    Attributes:
        name: the stable task name (API, Celery and ``TaskRun.task`` use it); the job is the
            function of that name in ``cryptopredict.tasks.jobs`` unless ``job`` says otherwise.
        every: the period of the schedule; None for on-demand tasks.
        description: what it is for, shown by the task API.
        time_limit_seconds: a run is stopped after this long (Celery's hard limit; the embedded
            runner records an overrun as failed).
        max_retries: retries with exponential backoff after a temporary failure.
        exclusive: one run of this kind at a time, across every process (a lock with expiry
            and owner token); a second run finds the lock taken and is recorded as skipped.
        lock_args: narrow the lock to runs with the same values of these arguments (one
            coin's sync does not keep out another coin's); empty: one lock for the kind.
        job: ``"module:function"`` of the job, imported when first run.
        queue: None: the main queue; a name: a queue of its own, so its long runs never hold
            up the others (Celery routes it to ``cryptopredict.<queue>``, which every worker
            also consumes; the embedded runner gives it a thread of its own).
        at_start: also run once when a scheduler starts (the embedded one, or the Celery beat
            that takes the lead), not only one period after the newest run.
    """

    name: str
    every: dt.timedelta | None
    description: str
    time_limit_seconds: int = 600
    max_retries: int = 3
    exclusive: bool = True
    job: str = ""
    lock_args: tuple[str, ...] = ()
    queue: str | None = None
    at_start: bool = False

    def __post_init__(self) -> None:
        if not self.job:
            object.__setattr__(self, "job", f"{JOBS_MODULE}:{self.name}")
        if self.lock_args and not self.exclusive:
            raise ValueError(f"{self.name}: lock_args need an exclusive task kind")

    def lock_name(self, arguments: Mapping[str, Any]) -> str:
        """The name of the lock a run with these (validated) arguments takes: the kind's
        name, then `arg=value` for each of `lock_args`."""
        scope = [f"{name}={arguments[name]}" for name in self.lock_args]
        return ":".join([self.name, *scope])


COIN = ("coin_id",)
"""`lock_args` of a per-coin task kind."""
TRAINING_JOBS = "cryptopredict.tasks.training_jobs"
TRAINING_QUEUE = "training"

SCHEDULE: tuple[TaskSpec, ...] = (
    TaskSpec("sync_all_prices", 5 * MINUTE, "Latest prices of every tracked coin", 120),
    TaskSpec("sync_historical_data", HOUR, "Fill gaps in every tracked coin's history", 1800),
    TaskSpec("discover_new_cryptocurrencies", ONE_DAY, "Refresh the catalogue (top N coins)", 300),
    TaskSpec("cleanup_old_data", 7 * ONE_DAY, "Downsample old prices; prune old run records", 1800),
    TaskSpec("sync_specific_cryptocurrency", None, "Price and history of a coin", lock_args=COIN),
    TaskSpec("health_check", None, "Proves a worker round trip", 30, 0, exclusive=False),
    # Hourly: a daily bar is forecast from within the hour its history sync stores it.
    TaskSpec("issue_forecasts", HOUR, "Issue forecasts from each coin's newest closed bar", 900),
    TaskSpec("score_predictions", HOUR, "Score forecasts whose target bar has closed", 900),
    # Every minute: a portfolio's history catches up soon after a transaction or a price sync
    # (a run with nothing due is one query).
    TaskSpec(
        "update_portfolio_history",
        MINUTE,
        "Rebuild each portfolio's daily value history where it is out of date, up to yesterday",
        600,
        at_start=True,
    ),
    TaskSpec(
        "retrain_models",
        ONE_DAY,
        "Queue the training of every tracked coin with enough history whose models are due",
        300,
        job=f"{TRAINING_JOBS}:retrain_models",
        at_start=True,
    ),
    TaskSpec(
        "train_coin_models",
        None,
        "Backtest, select, train and promote one coin's forecasting models",
        1800,
        lock_args=COIN,
        job=f"{TRAINING_JOBS}:train_coin_models",
        queue=TRAINING_QUEUE,
    ),
)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in SCHEDULE}
"""Task kinds by name."""


def get_spec(name: str) -> TaskSpec:
    """The spec of a task kind; KeyError names the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}") from None
