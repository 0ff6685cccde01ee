"""SQL of the forecast ledger (issuing, reading what is served, scoring), the live records and
model events, and the model registry's versions (numbering, promotion, lookup)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, or_, select, text, tuple_, update
from sqlalchemy.orm import defer

from cryptopredict.core.database import utcnow
from cryptopredict.core.repository import Repository
from cryptopredict.forecasting.dataset import INTERVALS
from cryptopredict.forecasting.models import (
    LiveScore,
    ModelEvent,
    ModelEventKind,
    ModelStatus,
    ModelVersion,
    Prediction,
)

CLOSED_AFTER = {name: step.to_pytimedelta() for name, step in INTERVALS.items()}
"""A bar stored under its start has closed one interval later."""
_ISSUE_KEY = ["coin_id", "interval", "horizon", "model_version_id", "origin_at"]
SCORE_COLUMNS = (
    "actual",
    "error",
    "abs_log_error",
    "inside_80",
    "inside_95",
    "winkler_80",
    "winkler_95",
)
BOOLEAN_SCORE_COLUMNS = frozenset({"inside_80", "inside_95"})
_DUE_COLUMNS = (
    Prediction.id,
    Prediction.coin_id,
    Prediction.interval,
    Prediction.horizon,
    Prediction.model_version_id,
    Prediction.model_kind,
    Prediction.target_at,
    Prediction.point,
    Prediction.lower_80,
    Prediction.upper_80,
    Prediction.lower_95,
    Prediction.upper_95,
)
_SCORED_COLUMNS = (
    Prediction.coin_id,
    Prediction.interval,
    Prediction.horizon,
    Prediction.model_version_id,
    Prediction.model_kind,
    Prediction.origin_at,
    Prediction.error,
    Prediction.abs_log_error,
    Prediction.inside_80,
    Prediction.inside_95,
    Prediction.winkler_80,
    Prediction.winkler_95,
)
_PG_RECORD_SCORES = text(
    "UPDATE predictions AS p SET actual = v.actual, error = v.error, "
    "abs_log_error = v.abs_log_error, inside_80 = v.inside_80, inside_95 = v.inside_95, "
    "winkler_80 = v.winkler_80, winkler_95 = v.winkler_95, scored_at = :scored_at "
    "FROM unnest(string_to_array(:id, ',')::bigint[], "
    "string_to_array(:actual, ',', '')::float8[], string_to_array(:error, ',', '')::float8[], "
    "string_to_array(:abs_log_error, ',', '')::float8[], "
    "string_to_array(:inside_80, ',', '')::boolean[], "
    "string_to_array(:inside_95, ',', '')::boolean[], "
    "string_to_array(:winkler_80, ',', '')::float8[], "
    "string_to_array(:winkler_95, ',', '')::float8[]) "
    "AS v(id, actual, error, abs_log_error, inside_80, inside_95, winkler_80, winkler_95) "
    "WHERE p.id = v.id"
)
"""One UPDATE for a whole batch on PostgreSQL (arrays in, joined on id)."""


def _csv(values: Sequence[Any]) -> str:
    """A column as `string_to_array` text: exact floats (repr), t/f, '' for NULL."""
    return ",".join(
        "" if v is None else ("t" if v else "f") if isinstance(v, bool) else repr(float(v))
        for v in values
    )


class PredictionRepository(Repository[Prediction]):
    """The forecast ledger: issuing (idempotent), reading what is served, scoring."""

    model = Prediction
    sortable = frozenset({"origin_at", "target_at", "horizon", "model_kind", "issued_at"})

    def issue(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        """Insert forecasts, skipping any already issued for the same (coin, interval,
        horizon, version, origin): retries and concurrent issuers write each once. The
        (horizon, model kind) of each new one."""
        if not rows:
            return []
        statement = self.insert().on_conflict_do_nothing(index_elements=_ISSUE_KEY)
        returning = statement.returning(Prediction.horizon, Prediction.model_kind)
        return [
            (row.horizon, row.model_kind) for row in self.session.execute(returning, list(rows))
        ]

    def issued_versions(self, coin_id: int, interval: str, origin_at: dt.datetime) -> set[int]:
        """The versions that have issued a forecast of this coin from `origin_at`."""
        statement = (
            select(Prediction.model_version_id)
            .where(
                Prediction.coin_id == coin_id,
                Prediction.interval == interval,
                Prediction.origin_at == origin_at,
            )
            .distinct()
        )
        return set(self.session.scalars(statement))

    def newest_issued(
        self, coin_id: int, interval: str, horizons: Sequence[int]
    ) -> dict[int, list[Prediction]]:
        """Per horizon, every forecast issued from its newest origin (served and shadow:
        which one is served now is decided on reading, from the versions' current status)."""
        newest = (
            select(Prediction.horizon, func.max(Prediction.origin_at).label("origin_at"))
            .where(
                Prediction.coin_id == coin_id,
                Prediction.interval == interval,
                Prediction.horizon.in_(horizons),
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
            .where(Prediction.coin_id == coin_id, Prediction.interval == interval)
            .order_by(Prediction.horizon, Prediction.model_version.desc(), Prediction.id)
        )
        rows: dict[int, list[Prediction]] = {}
        for row in self.session.scalars(statement):
            rows.setdefault(row.horizon, []).append(row)
        return rows

    def due_for_scoring(
        self, now: dt.datetime, *, after_id: int = 0, limit: int = 5000
    ) -> list[Row[Any]]:
        """Unscored forecasts whose target bar has closed by `now`, by id after `after_id`
        (keyset pages: a forecast whose target bar is missing does not hide the rest). Plain
        rows of what scoring reads, not ORM objects."""
        closed = or_(
            *(
                (Prediction.interval == name) & (Prediction.target_at <= now - step)
                for name, step in CLOSED_AFTER.items()
            )
        )
        statement = (
            select(*_DUE_COLUMNS)
            .where(Prediction.scored_at.is_(None), closed, Prediction.id > after_id)
            .order_by(Prediction.id)
            .limit(limit)
        )
        return list(self.session.execute(statement))

    def record_scores(
        self, ids: Sequence[int], values: Mapping[str, Sequence[Any]], scored_at: dt.datetime
    ) -> None:
        """Write the score columns of rows `ids` (`values`: one list per name in
        `SCORE_COLUMNS`, aligned with `ids`) in one statement."""
        if not ids:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            # Arrays as text: psycopg dumps a list element by element, 10x slower here.
            arrays = {name: _csv(column) for name, column in values.items()}
            self.session.execute(
                _PG_RECORD_SCORES, {"id": ",".join(map(str, ids)), "scored_at": scored_at, **arrays}
            )
            return
        table = cast(Table, Prediction.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in (*SCORE_COLUMNS, "scored_at")})
        )
        self.session.execute(
            statement,
            [
                {
                    "row_id": row_id,
                    "scored_at": scored_at,
                    **{n: values[n][i] for n in SCORE_COLUMNS},
                }
                for i, row_id in enumerate(ids)
            ],
        )

    def scored_in(self, groups: Collection[tuple[int, str, int]]) -> list[Row[Any]]:
        """Every scored forecast of these (coin, interval, horizon) groups, oldest origin
        first, as plain rows of what a live record reads."""
        if not groups:
            return []
        statement = (
            select(*_SCORED_COLUMNS)
            .where(
                Prediction.scored_at.is_not(None),
                tuple_(Prediction.coin_id, Prediction.interval, Prediction.horizon).in_(
                    sorted(groups)
                ),
            )
            .order_by(Prediction.origin_at, Prediction.model_version.desc())
        )
        return list(self.session.execute(statement))


class LiveScoreRepository(Repository[LiveScore]):
    """Each version's live record, replaced by every scoring run."""

    model = LiveScore
    sortable = frozenset({"horizon", "model_kind", "updated_at"})

    def save_many(
        self, records: Sequence[tuple[ModelVersion, Mapping[str, Any]]], at: dt.datetime
    ) -> None:
        """Insert or replace the live records of many versions in one statement."""
        if not records:
            return
        statement = self.insert()
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["model_version_id"],
                set_={
                    "figures": statement.excluded.figures,
                    "updated_at": statement.excluded.updated_at,
                },
            ),
            [
                {
                    "model_version_id": version.id,
                    "coin_id": version.coin_id,
                    "interval": version.interval,
                    "horizon": version.horizon,
                    "model_kind": version.kind,
                    "model_version": version.version,
                    "figures": dict(figures),
                    "updated_at": at,
                }
                for version, figures in records
            ],
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

    def latest(self, model_version_id: int, kind: ModelEventKind) -> ModelEvent | None:
        """A version's newest event of this kind."""
        statement = (
            select(ModelEvent)
            .where(ModelEvent.model_version_id == model_version_id, ModelEvent.kind == kind)
            .order_by(ModelEvent.occurred_at.desc(), ModelEvent.id.desc())
            .limit(1)
        )
        return self.session.scalars(statement).first()

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

    def current(self, coin_id: int, interval: str, *, light: bool = False) -> list[ModelVersion]:
        """The versions that forecast a coin now: each horizon's production version, and the
        newest version of every kind that was not demoted (naive and the challengers). With
        `light`, the large JSON columns a reader does not need (parameters, data quality,
        calibration) are left unloaded."""
        newest = (
            select(
                ModelVersion.horizon,
                ModelVersion.kind,
                func.max(ModelVersion.version).label("version"),
            )
            .where(
                ModelVersion.coin_id == coin_id,
                ModelVersion.interval == interval,
                ModelVersion.status != ModelStatus.DEMOTED,
            )
            .group_by(ModelVersion.horizon, ModelVersion.kind)
            .subquery()
        )
        statement = (
            select(ModelVersion)
            .outerjoin(
                newest,
                (ModelVersion.horizon == newest.c.horizon)
                & (ModelVersion.kind == newest.c.kind)
                & (ModelVersion.version == newest.c.version),
            )
            .where(
                ModelVersion.coin_id == coin_id,
                ModelVersion.interval == interval,
                (ModelVersion.status == ModelStatus.PRODUCTION) | newest.c.version.is_not(None),
            )
            .order_by(ModelVersion.horizon, ModelVersion.kind)
        )
        if light:
            statement = statement.options(
                defer(ModelVersion.params),
                defer(ModelVersion.data_quality),
                defer(ModelVersion.calibration),
            )
        return list(self.session.scalars(statement))

    def statuses(self, version_ids: Sequence[int]) -> dict[int, ModelStatus]:
        """The status of each of these versions, in one query."""
        if not version_ids:
            return {}
        statement = select(ModelVersion.id, ModelVersion.status).where(
            ModelVersion.id.in_(sorted(set(version_ids)))
        )
        return {row.id: row.status for row in self.session.execute(statement)}

    def change_status(
        self, version: ModelVersion, *, expected: ModelStatus, new: ModelStatus
    ) -> bool:
        """Move `version` from `expected` to `new` unless someone changed it meanwhile (an
        admin, another monitoring run): False, and nothing written, if so."""
        result = self.session.execute(
            update(ModelVersion)
            .where(ModelVersion.id == version.id, ModelVersion.status == expected)
            .values(status=new)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

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

    def training_state(
        self, coin_ids: Sequence[int], interval: str
    ) -> dict[int, tuple[dt.datetime | None, frozenset[int]]]:
        """Per coin: when its newest version was registered, and the horizons a version
        serves (two grouped queries, whatever the number of coins)."""
        unique = list(dict.fromkeys(coin_ids))
        state: dict[int, tuple[dt.datetime | None, frozenset[int]]] = dict.fromkeys(
            unique, (None, frozenset())
        )
        if not unique:
            return state
        scope = (ModelVersion.coin_id.in_(unique), ModelVersion.interval == interval)
        newest = select(ModelVersion.coin_id, func.max(ModelVersion.created_at)).where(*scope)
        serving = select(ModelVersion.coin_id, ModelVersion.horizon).where(
            *scope, ModelVersion.status == ModelStatus.PRODUCTION
        )
        horizons: dict[int, set[int]] = {}
        for coin_id, horizon in self.session.execute(serving):
            horizons.setdefault(coin_id, set()).add(horizon)
        for coin_id, created_at in self.session.execute(newest.group_by(ModelVersion.coin_id)):
            state[coin_id] = (created_at, frozenset(horizons.get(coin_id, ())))
        return state
