"""Stored predictions, so every served forecast can later be scored against reality, and the
registry of trained model versions those forecasts come from."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Double,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cryptopredict.core.database import Base, BigIntPK, utcnow


def _status_values(members: type[enum.StrEnum]) -> list[str]:
    """Store enum values (lower-case words), not member names."""
    return [member.value for member in members]


class PredictionRole(enum.StrEnum):
    """Whether a ledger row is the forecast served to users, or recorded beside it (naive and
    any challenger, in shadow on the same origin) so live skill compares identical origins."""

    SERVED = "served"
    SHADOW = "shadow"


class Prediction(Base):
    """One issued forecast in the ledger, and once its target bar is stored, how it fared.

    Issued at most once per (coin, interval, horizon, model version, origin bar): the unique
    key makes issuing idempotent under retries and concurrent workers (insert, never
    check-then-insert).
    """

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint(
            "coin_id",
            "interval",
            "horizon",
            "model_version_id",
            "origin_at",
            name="uq_predictions_coin_interval_horizon_version_origin",
        ),
        Index("ix_predictions_coin_origin", "coin_id", "interval", "horizon", "origin_at"),
        Index("ix_predictions_unscored", "scored_at", "target_at"),
        Index("ix_predictions_version", "model_version_id", "origin_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coin_id: Mapped[int] = mapped_column(ForeignKey("cryptocurrencies.id", ondelete="CASCADE"))
    interval: Mapped[str] = mapped_column(String(3))
    horizon: Mapped[int]
    # No cascade: a version cannot be deleted while the ledger holds its forecasts (deleting
    # the coin removes both in one statement).
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    model_kind: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[int]
    role: Mapped[PredictionRole] = mapped_column(
        Enum(PredictionRole, native_enum=False, length=16, values_callable=_status_values)
    )
    origin_at: Mapped[dt.datetime]
    target_at: Mapped[dt.datetime]
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    origin_price: Mapped[float] = mapped_column(Double)
    point: Mapped[float] = mapped_column(Double)
    lower_80: Mapped[float | None] = mapped_column(Double)
    upper_80: Mapped[float | None] = mapped_column(Double)
    lower_95: Mapped[float | None] = mapped_column(Double)
    upper_95: Mapped[float | None] = mapped_column(Double)
    interval_method: Mapped[str] = mapped_column(String(32))
    # Per percent label ("5" ... "95"), the fan's prices; None before methods were chosen.
    quantiles: Mapped[dict[str, float] | None] = mapped_column(JSON)
    p_up: Mapped[float | None] = mapped_column(Double)
    actual: Mapped[float | None] = mapped_column(Double)
    error: Mapped[float | None] = mapped_column(Double)
    abs_log_error: Mapped[float | None] = mapped_column(Double)
    inside_80: Mapped[bool | None]
    inside_95: Mapped[bool | None]
    winkler_80: Mapped[float | None] = mapped_column(Double)
    winkler_95: Mapped[float | None] = mapped_column(Double)
    scored_at: Mapped[dt.datetime | None]


class ModelStatus(enum.StrEnum):
    """A version's life: trained (candidate), serving (production), retired (archived), or
    taken out of service by live monitoring (demoted: never promoted again automatically)."""

    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    DEMOTED = "demoted"


_ONE_PRODUCTION = text("status = 'production'")


class ModelVersion(Base):
    """One trained model of a coin's series at one horizon, with what it was trained on,
    how well it backtested, its interval calibration, and where its verified files are.

    Versions count up per (coin, interval, horizon, kind). At most one version per
    (coin, interval, horizon) is in production; a partial unique index enforces it.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint(
            "coin_id",
            "interval",
            "horizon",
            "kind",
            "version",
            name="uq_model_versions_coin_interval_horizon_kind_version",
        ),
        Index(
            "uq_model_versions_one_production",
            "coin_id",
            "interval",
            "horizon",
            unique=True,
            postgresql_where=_ONE_PRODUCTION,
            sqlite_where=_ONE_PRODUCTION,
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coin_id: Mapped[int] = mapped_column(ForeignKey("cryptocurrencies.id", ondelete="CASCADE"))
    interval: Mapped[str] = mapped_column(String(3), default="1d")
    horizon: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[list[str]] = mapped_column(JSON)
    train_start_at: Mapped[dt.datetime]
    train_end_at: Mapped[dt.datetime]
    data_quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    calibration: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifact_path: Mapped[str] = mapped_column(String(500))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[ModelStatus] = mapped_column(
        Enum(ModelStatus, native_enum=False, length=16, values_callable=_status_values),
        default=ModelStatus.CANDIDATE,
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[dt.datetime | None]


class LiveScore(Base):
    """A version's live record, recomputed by each scoring run from its scored ledger rows and
    naive's rows on the same origins (the figures the API and monitoring read)."""

    __tablename__ = "forecast_live_scores"
    __table_args__ = (
        UniqueConstraint("model_version_id", name="uq_forecast_live_scores_model_version_id"),
        Index("ix_forecast_live_scores_coin", "coin_id", "interval", "horizon"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    coin_id: Mapped[int] = mapped_column(ForeignKey("cryptocurrencies.id", ondelete="CASCADE"))
    interval: Mapped[str] = mapped_column(String(3))
    horizon: Mapped[int]
    model_kind: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[int]
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ModelEventKind(enum.StrEnum):
    """What happened to a version (its model card's status history)."""

    PROMOTED = "promoted"
    ARCHIVED = "archived"
    DEMOTED = "demoted"


class ModelEvent(Base):
    """A change of a version's status, who or what made it, and the figures behind it; events
    from live monitoring are what `GET /monitoring/events` lists."""

    __tablename__ = "model_events"
    __table_args__ = (
        Index("ix_model_events_version", "model_version_id", "occurred_at"),
        Index("ix_model_events_source", "source", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[ModelEventKind] = mapped_column(
        Enum(ModelEventKind, native_enum=False, length=16, values_callable=_status_values)
    )
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
