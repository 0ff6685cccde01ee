"""The forecasting jobs: ``retrain_models`` plans a round and queues one
``train_coin_models`` run per coin; each of those trains one coin.

- ``retrain_models`` (daily, and once whenever a scheduler starts) lists the active coins with
  stored prices, leaves out those with less daily history than training needs (named in its
  summary with their row counts, not failed) and those trained since the round's cut-off
  (``RETRAIN_SHARE`` of the period ago: a restart never retrains everything, while the next
  daily round always catches what the previous one trained), and queues the rest. The
  per-coin runs go to the ``training`` queue: Celery spreads them over the workers, the
  embedded runner trains one coin after another on a thread of its own.
- ``train_coin_models`` takes the coin's lock (a second run for the same coin is skipped),
  backtests, selects and trains through ``forecasting.service`` and commits. Promotion
  follows the selection rule alone (``forecasting.service.train``); a version it replaces is
  archived, row and files kept, and stays loadable as a fallback. A run queued by a round
  carries the round's cut-off and does nothing when the coin was trained after it (a retry,
  a redelivery or a second round is harmless); a run from the train trigger always trains.
- In the server (``JobContext.offload``) the training itself runs in a child process, so
  it never holds the GIL that the server's requests need; in a Celery worker it runs in the
  worker's own process.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from pydantic import AwareDatetime

from cryptopredict.coins.schemas import CoingeckoId
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.core.timegrid import ONE_DAY
from cryptopredict.forecasting import service as forecasting_service
from cryptopredict.tasks.errors import TaskFailedError
from cryptopredict.tasks.isolation import ChildTimeoutError
from cryptopredict.tasks.jobs import JobContext, issue_forecasts
from cryptopredict.tasks.runner import period_of
from cryptopredict.tasks.schedule import get_spec

RETRAIN_SHARE = 0.8
"""A round retrains the coins whose newest models are older than this share of its period."""
TRAIN_COIN = "train_coin_models"


def retrain_models(context: JobContext) -> dict[str, Any]:
    """Queue one `train_coin_models` run per tracked coin that is due (module docstring)."""
    if context.submit is None:
        raise TaskFailedError("retrain_models needs a task runner to queue its per-coin runs")
    period = period_of(get_spec("retrain_models"), context.settings) or ONE_DAY
    cutoff = context.clock() - RETRAIN_SHARE * period
    with context.session() as session:
        plan = forecasting_service.retrain_plan(session=session, trained_before=cutoff)
    queued = {
        coin: context.submit(TRAIN_COIN, {"coin_id": coin, "trained_before": cutoff.isoformat()})
        for coin in plan.due
    }
    return {
        "min_rows": plan.min_rows,
        "trained_before": cutoff.isoformat(),
        "queued": queued,
        "too_short": plan.too_short,
        "up_to_date": plan.up_to_date,
    }


def train_coin_models(
    context: JobContext, coin_id: CoingeckoId, trained_before: AwareDatetime | None = None
) -> dict[str, Any]:
    """Backtest, select, train and promote one coin's models, and commit (module docstring);
    with `trained_before`, only if the coin has no models newer than that."""
    settings = context.settings
    if context.offload is None:
        summary = train_one(
            context.database, settings=settings, coin_id=coin_id, trained_before=trained_before
        )
    else:
        limit = float(get_spec(TRAIN_COIN).time_limit_seconds)
        try:
            summary = context.offload.call(
                _train_in_child,
                timeout=limit,
                settings=settings,
                coin_id=coin_id,
                trained_before=trained_before,
            )
        except ChildTimeoutError as exc:
            raise TaskFailedError(str(exc)) from None
        except ChildProcessError as exc:
            raise TaskFailedError(f"training {coin_id} did not finish: {exc}") from None
    if summary["trained"]:
        summary |= after_training(context, coin_id, summary)
    return summary


def after_training(context: JobContext, coin_id: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Issue the coin's forecasts from its new production versions at once (the hourly run
    would, up to an hour later), so a first start has forecasts minutes after the snapshot
    is trained. What to add to the run's summary."""
    del summary
    try:
        return {"forecasts": issue_forecasts(context, coin_id)}
    except TaskFailedError as exc:  # the training stands; the hourly run issues later
        return {"forecasts": {"error": str(exc)}}


def train_one(
    database: Database,
    *,
    settings: Settings,
    coin_id: str,
    trained_before: dt.datetime | None,
) -> dict[str, Any]:
    """Train one coin on `database` and commit, unless it was trained after
    `trained_before`; the run's summary."""
    with database.session_factory() as session:
        coin = forecasting_service.resolve_coin(session=session, identifier=coin_id)
        if not forecasting_service.needs_training(
            session=session, coin=coin, trained_before=trained_before
        ):
            return {"coin": coin_id, "trained": False, "reason": "trained since the cut-off"}
        replaced = forecasting_service.production_versions(session=session, coin=coin)
        outcome = forecasting_service.train_stored(session=session, settings=settings, coin=coin)
        summary = forecasting_service.outcome_summary(outcome, replaced=replaced)
        session.commit()
    return {"trained": True, **summary}


_child_databases: dict[str, Database] = {}
_child_lock = threading.Lock()


def _train_in_child(
    *, settings: Settings, coin_id: str, trained_before: dt.datetime | None
) -> dict[str, Any]:
    """`train_one` in the child process, on a database pool of the child's own (kept for
    its next call)."""
    url = settings.resolved_database_url
    with _child_lock:
        database = _child_databases.get(url)
        if database is None:
            database = _child_databases[url] = Database.from_settings(settings)
    return train_one(database, settings=settings, coin_id=coin_id, trained_before=trained_before)
