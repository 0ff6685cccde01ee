"""Admin route that starts the training of one coin's forecasting models as a background task.

It only queues task `train_coin_models` (the coin's lock keeps it from overlapping a
scheduled run of the same coin: a second one is recorded as skipped) and answers as the sync
triggers do without `wait`: `202` with the task's status and a link to follow it. Training
takes seconds to minutes, so no request waits for it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.coins.dependencies import CoinDep
from cryptopredict.core.dependencies import SettingsDep
from cryptopredict.core.errors import error_responses
from cryptopredict.tasks.schemas import TaskAccepted
from cryptopredict.tasks.sync_triggers import accepted, queue_task

router = APIRouter(
    prefix="/forecasts", tags=["forecasts"], responses=error_responses(401, 403, 422)
)


@router.post(
    "/{coin}/train",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        status.HTTP_202_ACCEPTED: {"description": "The training's task"},
        **error_responses(404, 500),
    },
)
async def train_models(
    _admin: AdminUser, coin: CoinDep, request: Request, response: Response, settings: SettingsDep
) -> TaskAccepted:
    """Backtest, select, train and promote a coin's models now (admin only): task
    `train_coin_models` (the configured model kinds; a coin with too little daily history
    fails the run, which says how much it has). Unknown coin: 404."""
    args = {"coin_id": coin.coingecko_id}
    runner, task_id, link = await queue_task(request, settings, "train_coin_models", args)
    return await accepted(response, runner, task_id, link)
