"""`cryptopredict worker` and `beat`: the Celery processes that run the background schedule."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from cryptopredict.cli.common import fail, load_settings, parse_log_level
from cryptopredict.core import metrics
from cryptopredict.core.config import Settings

app = typer.Typer()

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


class PoolChoice(StrEnum):
    """`--pool` values: processes (time limits enforced) or one task at a time in-process."""

    PREFORK = "prefork"
    SOLO = "solo"
    THREADS = "threads"


def _celery_app(settings: Settings) -> Any:
    """The Celery app for these settings; without Redis there is nothing to run."""
    from cryptopredict.tasks.celery_app import CeleryNotConfiguredError, create_celery

    try:
        return create_celery(settings)
    except CeleryNotConfiguredError as exc:
        fail(f"{exc}; without Redis, `cryptopredict serve` runs the schedule itself", code=2)


@app.command(context_settings=_PASS_THROUGH)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Worker processes (tasks run at once).")
    ] = 2,
    loglevel: Annotated[
        str | None, typer.Option(help="Celery's log level (default CRYPTOPREDICT_LOG_LEVEL).")
    ] = None,
    pool: Annotated[PoolChoice, typer.Option(help="Execution pool.")] = PoolChoice.PREFORK,
    hostname: Annotated[
        str | None, typer.Option(help="Node name, unique per worker (default: PID@host).")
    ] = None,
) -> None:
    """Run a Celery worker for the background tasks (needs CRYPTOPREDICT_REDIS_URL); any
    further options go to `celery worker` as they are."""
    import os

    settings = load_settings()
    level = parse_log_level(loglevel or settings.log_level)
    celery = _celery_app(settings)
    # Task runs are counted in the pool's processes, into files a `serve` on the same data
    # directory adds to its /metrics.
    metrics.enable_multiprocess(settings.data_dir.resolve() / "metrics", "worker")
    celery.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool.value}",
            f"--loglevel={level}",
            f"--hostname={hostname or f'worker{os.getpid()}@%h'}",
            *ctx.args,
        ]
    )


@app.command(context_settings=_PASS_THROUGH)
def beat(
    ctx: typer.Context,
    loglevel: Annotated[
        str | None, typer.Option(help="Celery's log level (default CRYPTOPREDICT_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run Celery beat, which sends the periodic tasks of the schedule (needs
    CRYPTOPREDICT_REDIS_URL; its state lives in DATA_DIR/celerybeat-schedule). A second beat
    waits as a standby; any further options go to `celery beat` as they are."""
    settings = load_settings()
    level = parse_log_level(loglevel or settings.log_level)
    celery = _celery_app(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", f"--loglevel={level}", *ctx.args])
