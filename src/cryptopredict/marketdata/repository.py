"""SQL for sync run records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import delete, func, select, update

from cryptopredict.core.database import utcnow
from cryptopredict.core.pagination import PageParams
from cryptopredict.core.repository import Repository
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import FailureKind, SyncKind, SyncStatus


class SyncRunRepository(Repository[SyncRun]):
    """Start, finish and list sync runs."""

    model = SyncRun
    sortable = frozenset({"started_at", "id"})

    def start(self, kind: SyncKind, coin: str | None = None) -> SyncRun:
        """A new run in state `running` (flushed, not committed)."""
        return self.create(kind=kind, coin=coin, status=SyncStatus.RUNNING, started_at=utcnow())

    def finish(
        self,
        run: SyncRun,
        *,
        status: SyncStatus,
        calls_made: int,
        rows_written: int,
        error: str | None = None,
        failure_kind: FailureKind | None = None,
    ) -> SyncRun:
        """Record the outcome of a run (flushed, not committed)."""
        return self.update(
            run,
            status=status,
            calls_made=calls_made,
            rows_written=rows_written,
            error=error,
            failure_kind=failure_kind,
            finished_at=utcnow(),
        )

    def recent(self, *, page: PageParams, kind: SyncKind | None = None) -> list[SyncRun]:
        """Runs newest first, optionally of one kind."""
        statement = select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        if kind is not None:
            statement = statement.where(SyncRun.kind == kind)
        return list(self.session.scalars(statement.limit(page.limit).offset(page.offset)))

    def total(self, *, kind: SyncKind | None = None) -> int:
        """How many runs there are, optionally of one kind."""
        return self.count(filters=None if kind is None else {"kind": kind})

    def newest(
        self, *, kinds: Collection[SyncKind], status: SyncStatus | None = None
    ) -> SyncRun | None:
        """The most recently started run of these kinds (and status), read backwards along
        the start-time index, which stops at the first match."""
        statement = (
            select(SyncRun)
            .where(SyncRun.kind.in_(list(kinds)))
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(1)
        )
        if status is not None:
            statement = statement.where(SyncRun.status == status)
        return self.session.scalars(statement).first()

    def last_per_kind(self) -> dict[SyncKind, SyncRun]:
        """The most recently started run of each kind, in one query."""
        newest = (
            select(SyncRun.kind, func.max(SyncRun.id).label("id")).group_by(SyncRun.kind).subquery()
        )
        statement = select(SyncRun).join(newest, SyncRun.id == newest.c.id)
        return {run.kind: run for run in self.session.scalars(statement)}

    def prune(self, *, before: dt.datetime) -> int:
        """Delete finished runs started before the cut-off (flushed, not committed); how
        many went."""
        statement = delete(SyncRun).where(
            SyncRun.started_at < before, SyncRun.status != SyncStatus.RUNNING
        )
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    def abandon(self, *, started_before: dt.datetime, error: str) -> int:
        """Mark as failed, with `error`, the runs still `running` that started before the
        cut-off: their process ended without recording an outcome (flushed, not committed);
        how many."""
        statement = (
            update(SyncRun)
            .where(SyncRun.status == SyncStatus.RUNNING, SyncRun.started_at < started_before)
            .values(
                status=SyncStatus.FAILED,
                finished_at=utcnow(),
                error=error,
                failure_kind=FailureKind.PERMANENT,
            )
        )
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)
