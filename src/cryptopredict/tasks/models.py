"""Task run records: one row per attempt of a background task, whoever ran it."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Double, Enum, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryptopredict.core.database import Base, BigIntPK, utcnow


class TaskState(enum.StrEnum):
    """Where one attempt stands; the last four are final."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    REVOKED = "revoked"

    @property
    def finished(self) -> bool:
        """Whether nothing more will happen to this attempt (a retry is a new attempt)."""
        return self not in (TaskState.QUEUED, TaskState.RUNNING)


def _values(members: type[enum.StrEnum]) -> list[str]:
    """Store enum values (lower-case words), not member names."""
    return [member.value for member in members]


class TaskRun(Base):
    """One attempt of one task: what ran, where, for how long, and how it ended.

    `task_id` is the runner's id (Celery's, or the embedded runner's); every attempt of a
    retried task shares it and counts up `attempt`.
    """

    __tablename__ = "task_runs"
    __table_args__ = (
        UniqueConstraint("task_id", "attempt", name="uq_task_runs_task_id_attempt"),
        Index("ix_task_runs_created_at", "created_at"),
        Index("ix_task_runs_task_created_at", "task", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[TaskState] = mapped_column(
        Enum(TaskState, native_enum=False, length=16, values_callable=_values),
        default=TaskState.QUEUED,
    )
    attempt: Mapped[int] = mapped_column(default=1)
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Double)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
