"""Stored predictions, so every served forecast can later be scored against reality."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Double, ForeignKey, Index, String
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
