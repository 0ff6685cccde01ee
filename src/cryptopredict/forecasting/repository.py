"""SQL for stored predictions (recording, listing, finding those due for scoring) and for the
model registry's versions (numbering, promotion, lookup)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update

from cryptopredict.core.database import utcnow
from cryptopredict.core.repository import Repository
from cryptopredict.forecasting.models import ModelStatus, ModelVersion, Prediction


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


class ModelVersionRepository(Repository[ModelVersion]):
    """Versions of trained models per (coin, interval, horizon, kind), and which one serves."""

    model = ModelVersion
    sortable = frozenset({"created_at", "version", "horizon", "kind"})

    def next_version(self, coin_id: int, interval: str, horizon: int, kind: str) -> int:
        """One more than the highest version of this coin, interval, horizon and kind."""
        statement = select(func.max(ModelVersion.version)).where(
            ModelVersion.coin_id == coin_id,
            ModelVersion.interval == interval,
            ModelVersion.horizon == horizon,
            ModelVersion.kind == kind,
        )
        return int(self.session.scalar(statement) or 0) + 1

    def register(self, **values: Any) -> ModelVersion:
        """Insert a candidate version; the caller numbers it with `next_version` first.

        The unique (coin, interval, horizon, kind, version) constraint refuses a number that
        a concurrent trainer took meanwhile (IntegrityError) rather than storing it twice.
        """
        values.setdefault("status", ModelStatus.CANDIDATE)
        return self.create(**values)

    def production(self, coin_id: int, interval: str, horizon: int) -> ModelVersion | None:
        """The version serving this coin, interval and horizon, if any."""
        statement = select(ModelVersion).where(
            ModelVersion.coin_id == coin_id,
            ModelVersion.interval == interval,
            ModelVersion.horizon == horizon,
            ModelVersion.status == ModelStatus.PRODUCTION,
        )
        return self.session.scalars(statement).one_or_none()

    def for_coin(
        self,
        coin_id: int,
        *,
        interval: str | None = None,
        horizon: int | None = None,
        kind: str | None = None,
    ) -> list[ModelVersion]:
        """A coin's versions, newest first, optionally narrowed to an interval, horizon, kind."""
        statement = select(ModelVersion).where(ModelVersion.coin_id == coin_id)
        if interval is not None:
            statement = statement.where(ModelVersion.interval == interval)
        if horizon is not None:
            statement = statement.where(ModelVersion.horizon == horizon)
        if kind is not None:
            statement = statement.where(ModelVersion.kind == kind)
        order = (ModelVersion.created_at.desc(), ModelVersion.id.desc())
        return list(self.session.scalars(statement.order_by(*order)))

    def promote(self, version: ModelVersion, *, at: dt.datetime | None = None) -> ModelVersion:
        """Put `version` in production and archive the one it replaces (same coin, interval,
        horizon), in this transaction. The archive is flushed first so the one-production
        index never sees two; a concurrent promotion fails on that index instead of winning
        silently."""
        if version.status is ModelStatus.PRODUCTION:
            return version
        self.session.execute(
            update(ModelVersion)
            .where(
                ModelVersion.coin_id == version.coin_id,
                ModelVersion.interval == version.interval,
                ModelVersion.horizon == version.horizon,
                ModelVersion.status == ModelStatus.PRODUCTION,
                ModelVersion.id != version.id,
            )
            .values(status=ModelStatus.ARCHIVED)
            .execution_options(synchronize_session="fetch")
        )
        return self.update(version, status=ModelStatus.PRODUCTION, promoted_at=at or utcnow())

    def archive(self, version: ModelVersion) -> ModelVersion:
        """Retire a version; a production version leaves its slot empty."""
        return self.update(version, status=ModelStatus.ARCHIVED)
