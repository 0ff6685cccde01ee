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


class Prediction(Base):
    """A point forecast with its interval, made at `made_at` for `target_at`."""

    __tablename__ = "predictions"
    __table_args__ = (
        Index("ix_predictions_coin_target", "coin_id", "target_at"),
        Index("ix_predictions_model_made", "model_name", "made_at"),
        Index("ix_predictions_unscored", "actual_value", "target_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    coin_id: Mapped[int] = mapped_column(ForeignKey("cryptocurrencies.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    interval: Mapped[str] = mapped_column(String(3), default="1d")
    horizon: Mapped[int]
    made_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    target_at: Mapped[dt.datetime]
    predicted_value: Mapped[float] = mapped_column(Double)
    lower_bound: Mapped[float | None] = mapped_column(Double)
    upper_bound: Mapped[float | None] = mapped_column(Double)
    interval_level: Mapped[float | None] = mapped_column(Double)
    actual_value: Mapped[float | None] = mapped_column(Double)
    error: Mapped[float | None] = mapped_column(Double)
    scored_at: Mapped[dt.datetime | None]


class ModelStatus(enum.StrEnum):
    """A version's life: trained (candidate), serving (production), retired (archived)."""

    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"


def _status_values(members: type[enum.StrEnum]) -> list[str]:
    """Store enum values (lower-case words), not member names."""
    return [member.value for member in members]


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
