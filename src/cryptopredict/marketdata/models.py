"""Sync run records: one row per discover, prices, history or backfill run."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cryptopredict.core.database import Base, BigIntPK, utcnow
from cryptopredict.marketdata.types import FailureKind, SyncKind, SyncStatus


def _values(members: type[enum.StrEnum]) -> list[str]:
    """Store enum values (lower-case words), not member names."""
    return [member.value for member in members]


class SyncRun(Base):
    """What one sync did and cost, so operators can see progress, failures and API spend."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_started_at", "started_at"),
        Index("ix_sync_runs_kind_started_at", "kind", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[SyncKind] = mapped_column(
        Enum(SyncKind, native_enum=False, length=16, values_callable=_values)
    )
    coin: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[SyncStatus] = mapped_column(
        Enum(SyncStatus, native_enum=False, length=16, values_callable=_values),
        default=SyncStatus.RUNNING,
    )
    calls_made: Mapped[int] = mapped_column(default=0)
    rows_written: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    failure_kind: Mapped[FailureKind | None] = mapped_column(
        Enum(FailureKind, native_enum=False, length=16, values_callable=_values)
    )
    """For a failed run: whether its fault may pass (retry later) or would repeat."""
