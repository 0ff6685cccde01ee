"""SQL for stored predictions: recording, listing, and finding those due for scoring."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cryptopredict.core.repository import Repository
from cryptopredict.forecasting.models import Prediction


class PredictionRepository(Repository[Prediction]):
    """Predictions by coin and model; scoring fills in actual value and error later."""

    model = Prediction
    sortable = frozenset({"made_at", "target_at", "horizon", "model_name"})

    def for_coin(
        self,
        coin_id: int,
        *,
        model_name: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[Prediction]:
        """A coin's predictions by target time, optionally for one model and a target range."""
        statement = select(Prediction).where(Prediction.coin_id == coin_id)
        if model_name is not None:
            statement = statement.where(Prediction.model_name == model_name)
        if start is not None:
            statement = statement.where(Prediction.target_at >= start)
        if end is not None:
            statement = statement.where(Prediction.target_at <= end)
        return list(self.session.scalars(statement.order_by(Prediction.target_at, Prediction.id)))

    def due_for_scoring(self, now: dt.datetime, *, limit: int = 1000) -> list[Prediction]:
        """Unscored predictions whose target time has passed, oldest first."""
        statement = (
            select(Prediction)
            .where(Prediction.actual_value.is_(None), Prediction.target_at <= now)
            .order_by(Prediction.target_at, Prediction.id)
            .limit(limit)
        )
        return list(self.session.scalars(statement))

    def record_score(
        self, prediction: Prediction, *, actual_value: float, scored_at: dt.datetime
    ) -> Prediction:
        """Store what really happened and the signed error (predicted minus actual)."""
        return self.update(
            prediction,
            actual_value=actual_value,
            error=prediction.predicted_value - actual_value,
            scored_at=scored_at,
        )
