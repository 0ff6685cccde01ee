"""SQL of the forecast ledger (issuing, reading what is served, scoring), the live records and
model events, and the model registry's versions (numbering, promotion, lookup)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update

from cryptopredict.core.database import utcnow
from cryptopredict.core.repository import Repository
from cryptopredict.forecasting.models import (
    LiveScore,
    ModelEvent,
    ModelStatus,
    ModelVersion,
    Prediction,
    PredictionRole,
)
from cryptopredict.forecasting.selection import NAIVE

_ISSUE_KEY = ["coin_id", "interval", "horizon", "model_version_id", "origin_at"]


class PredictionRepository(Repository[Prediction]):
    """The forecast ledger: issuing (idempotent), reading what is served, scoring."""

    model = Prediction
    sortable = frozenset({"origin_at", "target_at", "horizon", "model_kind", "issued_at"})

    def issue(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert forecasts, skipping any already issued for the same (coin, interval,
        horizon, version, origin): retries and concurrent issuers write each once. Returns
        how many were new."""
        if not rows:
            return 0
        statement = self.insert().on_conflict_do_nothing(index_elements=_ISSUE_KEY)
        result = self.session.execute(statement.returning(Prediction.id), list(rows))
        return len(result.all())

    def newest_origin(self, coin_id: int, interval: str) -> dt.datetime | None:
        """The newest origin any forecast of this coin was issued from."""
        statement = select(func.max(Prediction.origin_at)).where(
            Prediction.coin_id == coin_id, Prediction.interval == interval
        )
        return self.session.scalar(statement)

    def served(self, coin_id: int, interval: str, horizons: Sequence[int]) -> list[Prediction]:
        """Per horizon the newest served forecast (at most one row per horizon)."""
        newest = (
            select(Prediction.horizon, func.max(Prediction.origin_at).label("origin_at"))
            .where(
                Prediction.coin_id == coin_id,
                Prediction.interval == interval,
                Prediction.horizon.in_(horizons),
                Prediction.role == PredictionRole.SERVED,
            )
            .group_by(Prediction.horizon)
            .subquery()
        )
        statement = (
            select(Prediction)
            .join(
                newest,
                (Prediction.horizon == newest.c.horizon)
                & (Prediction.origin_at == newest.c.origin_at),
            )
            .where(
                Prediction.coin_id == coin_id,
                Prediction.interval == interval,
                Prediction.role == PredictionRole.SERVED,
            )
            .order_by(Prediction.horizon, Prediction.id.desc())
        )
        rows: dict[int, Prediction] = {}
        for row in self.session.scalars(statement):
            rows.setdefault(row.horizon, row)
        return list(rows.values())

    def naive_beside(self, served: Prediction) -> Prediction | None:
        """Naive's forecast on the same coin, horizon and origin as `served`."""
        statement = (
            select(Prediction)
            .where(
                Prediction.coin_id == served.coin_id,
                Prediction.interval == served.interval,
                Prediction.horizon == served.horizon,
                Prediction.origin_at == served.origin_at,
                Prediction.model_kind == NAIVE,
            )
            .order_by(Prediction.model_version.desc())
            .limit(1)
        )
        return self.session.scalars(statement).first()

    def due_for_scoring(
        self, now: dt.datetime, *, after_id: int = 0, limit: int = 5000
    ) -> list[Prediction]:
        """Unscored forecasts whose target bar has started by `now`, by id after `after_id`
        (keyset pages: a forecast whose target bar is missing does not hide the rest)."""
        statement = (
            select(Prediction)
            .where(
                Prediction.scored_at.is_(None),
                Prediction.target_at <= now,
                Prediction.id > after_id,
            )
            .order_by(Prediction.id)
            .limit(limit)
        )
        return list(self.session.scalars(statement))

    def record_scores(self, scores: Sequence[Mapping[str, Any]]) -> None:
        """Write score columns (each mapping has the row's `id`) in one executemany."""
        if scores:
            self.session.execute(update(Prediction), list(scores))

    def scored(self, model_version_id: int) -> list[Prediction]:
        """A version's scored forecasts, oldest origin first."""
        statement = (
            select(Prediction)
            .where(
                Prediction.model_version_id == model_version_id,
                Prediction.scored_at.is_not(None),
            )
            .order_by(Prediction.origin_at)
        )
        return list(self.session.scalars(statement))

    def scored_naive(self, coin_id: int, interval: str, horizon: int) -> list[Prediction]:
        """Naive's scored forecasts of a coin and horizon (any naive version), by origin."""
        statement = (
            select(Prediction)
            .where(
                Prediction.coin_id == coin_id,
                Prediction.interval == interval,
                Prediction.horizon == horizon,
                Prediction.model_kind == NAIVE,
                Prediction.scored_at.is_not(None),
            )
            .order_by(Prediction.origin_at, Prediction.model_version.desc())
        )
        return list(self.session.scalars(statement))

    def versions_with_new_scores(self, since: dt.datetime) -> list[int]:
        """Versions that had a forecast scored at or after `since`."""
        statement = (
            select(Prediction.model_version_id)
            .where(Prediction.scored_at >= since)
            .group_by(Prediction.model_version_id)
        )
        return list(self.session.scalars(statement))


class LiveScoreRepository(Repository[LiveScore]):
    """Each version's live record, replaced by every scoring run."""

    model = LiveScore
    sortable = frozenset({"horizon", "model_kind", "updated_at"})

    def save(self, version: ModelVersion, figures: Mapping[str, Any], at: dt.datetime) -> None:
        """Insert or replace `version`'s live record."""
        values = {
            "model_version_id": version.id,
            "coin_id": version.coin_id,
            "interval": version.interval,
            "horizon": version.horizon,
            "model_kind": version.kind,
            "model_version": version.version,
            "figures": dict(figures),
            "updated_at": at,
        }
        statement = self.insert().values(**values)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["model_version_id"],
                set_={
                    "figures": statement.excluded.figures,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )

    def for_versions(self, version_ids: Sequence[int]) -> dict[int, LiveScore]:
        """Live records by version id (versions never scored are absent)."""
        if not version_ids:
            return {}
        statement = select(LiveScore).where(LiveScore.model_version_id.in_(version_ids))
        return {row.model_version_id: row for row in self.session.scalars(statement)}


class ModelEventRepository(Repository[ModelEvent]):
    """Status changes of versions: the model cards' history and the monitoring log."""

    model = ModelEvent
    sortable = frozenset({"occurred_at"})

    def for_version(self, model_version_id: int) -> list[ModelEvent]:
        """A version's events, oldest first."""
        statement = (
            select(ModelEvent)
            .where(ModelEvent.model_version_id == model_version_id)
            .order_by(ModelEvent.occurred_at, ModelEvent.id)
        )
        return list(self.session.scalars(statement))


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

    def coins_in_production(self, interval: str) -> list[int]:
        """Ids of the coins with at least one production version at `interval`."""
        statement = (
            select(ModelVersion.coin_id)
            .where(
                ModelVersion.interval == interval,
                ModelVersion.status == ModelStatus.PRODUCTION,
            )
            .group_by(ModelVersion.coin_id)
            .order_by(ModelVersion.coin_id)
        )
        return list(self.session.scalars(statement))

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
