"""Scoring the ledger against what happened, each version's live record, and monitoring.

A scoring run fills the actual of every forecast whose target bar has closed and is stored,
recomputes the live record of every version that got new scores (against naive on the same
origins, `scoring.live_record`), then checks each production version: one significantly worse
than naive, or whose 80 % intervals miss their nominal coverage, is demoted, naive serves,
and the event is stored with its figures.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.forecasting import dataset
from cryptopredict.forecasting.models import (
    ModelEventKind,
    ModelStatus,
    ModelVersion,
)
from cryptopredict.forecasting.repository import (
    BOOLEAN_SCORE_COLUMNS,
    SCORE_COLUMNS,
    LiveScoreRepository,
    ModelEventRepository,
    ModelVersionRepository,
    PredictionRepository,
)
from cryptopredict.forecasting.scoring import SIGNIFICANCE, ScoredSeries, live_record, score
from cryptopredict.forecasting.selection import NAIVE
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval

logger = logging.getLogger(__name__)

WORSE_P_VALUE = SIGNIFICANCE
"""A production version is demoted when its live MAE ratio exceeds 1 with a Diebold-Mariano
p-value below this."""
MIN_COVERAGE_N = 50
"""Coverage is judged once this many non-overlapping 80 % intervals were scored."""
MONITORING = "monitoring"
ADMIN = "admin"
TRAINING = "training"
"""Who changed a version's status: the `source` of its events."""
SCORING_BATCH = 5000


@dataclass(slots=True)
class ScoringReport:
    """What one scoring run did."""

    scored: int = 0
    waiting: int = 0
    unscorable: int = 0
    versions_updated: int = 0
    demoted: list[dict[str, Any]] = field(default_factory=list)
    coin_ids: set[int] = field(default_factory=set)
    """Coins whose live records changed."""
    records: list[tuple[ModelVersion, dict[str, Any]]] = field(default_factory=list)
    """The live records recomputed, by version."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a task's result)."""
        return {
            "scored": self.scored,
            "waiting": self.waiting,
            "unscorable": self.unscorable,
            "versions_updated": self.versions_updated,
            "demoted": self.demoted,
        }


def _closes(
    session: Session, rows: Sequence[Row[Any]]
) -> dict[tuple[int, str], dict[dt.datetime, float]]:
    """The stored closes of the target bars of `rows`, by (coin, interval) and instant."""
    spans: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    for row in rows:
        spans[(row.coin_id, row.interval)].append(row.target_at)
    closes: dict[tuple[int, str], dict[dt.datetime, float]] = {}
    for (coin_id, interval), targets in spans.items():
        points = prices_service.points(
            session=session,
            coin_id=coin_id,
            interval=Interval(interval),
            start=min(targets),
            end=max(targets),
        )
        closes[(coin_id, interval)] = {
            point[0]: float(point[4] if point[4] is not None else point[5]) for point in points
        }
    return closes


def _score_due(
    session: Session, now: dt.datetime, report: ScoringReport
) -> set[tuple[int, str, int]]:
    """Score every forecast whose target bar has closed and is stored; the (coin, interval,
    horizon) groups that got new scores."""
    ledger = PredictionRepository(session)
    touched: set[tuple[int, str, int]] = set()
    after_id = 0
    while due := ledger.due_for_scoring(now, after_id=after_id, limit=SCORING_BATCH):
        after_id = due[-1].id
        closes = _closes(session, due)
        actual = np.array(
            [closes[(row.coin_id, row.interval)].get(row.target_at, np.nan) for row in due]
        )
        stored = ~np.isnan(actual)
        report.waiting += int((~stored).sum())  # closed, but not stored yet (or a gap)
        columns = dict(zip(due[0]._fields, zip(*due, strict=True), strict=True))
        scores = score(
            point=columns["point"],
            actual=actual,
            lower_80=columns["lower_80"],
            upper_80=columns["upper_80"],
            lower_95=columns["lower_95"],
            upper_95=columns["upper_95"],
        )
        for index in np.flatnonzero(stored & ~scores.scorable):  # the others are still scored
            row = due[index]
            logger.warning(
                "forecast %d cannot be scored: prices must be positive and finite, not %r and %r",
                row.id,
                row.point,
                actual[index],
            )
            report.unscorable += 1
        keep = np.flatnonzero(stored & scores.scorable)
        ledger.record_scores(
            [due[index].id for index in keep],
            {name: _column(name, getattr(scores, name)[keep]) for name in SCORE_COLUMNS},
            now,
        )
        report.scored += len(keep)
        touched.update((due[i].coin_id, due[i].interval, due[i].horizon) for i in keep)
    return touched


def _column(name: str, values: npt.NDArray[np.float64]) -> list[float | bool | None]:
    """A score column as the ledger stores it: NaN is NULL, `inside_*` are booleans."""
    kind = bool if name in BOOLEAN_SCORE_COLUMNS else float
    return [None if value != value else kind(value) for value in values.tolist()]


_SERIES_COLUMNS = ("error", "abs_log_error", "inside_80", "inside_95", "winkler_80", "winkler_95")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)


def _series(columns: dict[str, npt.NDArray[Any]], rows: list[int]) -> ScoredSeries:
    """One scored forecast per origin among `rows` (the first row of an origin wins)."""
    chosen = np.asarray(rows, dtype=np.intp)
    chosen = chosen[np.unique(columns["origin"][chosen], return_index=True)[1]]
    return ScoredSeries(
        origins=columns["origin"][chosen],
        **{name: columns[name][chosen] for name in _SERIES_COLUMNS},
    )


def refresh_live_records(
    session: Session, groups: set[tuple[int, str, int]], now: dt.datetime
) -> list[tuple[ModelVersion, dict[str, Any]]]:
    """Recompute and store the live record of every scored version in these (coin,
    interval, horizon) groups, each against naive on the same origins; the records."""
    rows = PredictionRepository(session).scored_in(groups)
    if not rows:
        return []
    # Rows come oldest origin first, newest version first: the first of an origin wins.
    by_group: dict[tuple[int, str, int], dict[int, list[int]]] = defaultdict(dict)
    naive_rows: dict[tuple[int, str, int], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        key = (row.coin_id, row.interval, row.horizon)
        by_group[key].setdefault(row.model_version_id, []).append(index)
        if row.model_kind == NAIVE:
            naive_rows[key].append(index)
    raw = dict(zip(rows[0]._fields, zip(*rows, strict=True), strict=True))
    columns: dict[str, npt.NDArray[Any]] = {
        "origin": np.array([(at - EPOCH) // MICROSECOND for at in raw["origin_at"]], np.int64),
        **{name: np.array(raw[name], dtype=np.float64) for name in _SERIES_COLUMNS},
    }
    versions = {
        v.id: v
        for v in ModelVersionRepository(session).list(
            conditions=[ModelVersion.id.in_(sorted(set(raw["model_version_id"])))]
        )
    }
    records: list[tuple[ModelVersion, dict[str, Any]]] = []
    for key, by_version in sorted(by_group.items()):
        naive = _series(columns, naive_rows[key])
        for version_id, own in sorted(by_version.items()):
            version = versions.get(version_id)
            if version is not None:
                step = dataset.interval_step(version.interval) // pd.Timedelta(MICROSECOND)
                figures = live_record(
                    _series(columns, own), naive, horizon=version.horizon, step=step
                )
                records.append((version, figures))
    LiveScoreRepository(session).save_many(records, now)
    return records


def demotion_reason(figures: dict[str, Any]) -> str | None:
    """Why a production version's live record takes it out of service, or None."""
    ratio = figures.get("mae_ratio")
    dm = figures.get("diebold_mariano")
    if ratio is not None and ratio > 1 and dm is not None and dm["p_value"] < WORSE_P_VALUE:
        return (
            f"live MAE {ratio:.3f} x naive's, significantly worse (Diebold-Mariano on "
            f"{dm['n']} non-overlapping forecasts, p = {dm['p_value']:.4f} < {WORSE_P_VALUE})"
        )
    coverage = figures.get("coverage_80")
    if (
        coverage is not None
        and coverage["independent_n"] >= MIN_COVERAGE_N
        and not coverage["in_band"]
    ):
        low, high = coverage["band"]
        return (
            f"live 80 % interval coverage {coverage['observed']:.1%} over {coverage['n']} "
            f"forecasts; the 95 % binomial band of its {coverage['independent_n']} "
            f"non-overlapping ones, [{low:.1%}, {high:.1%}], excludes 80 %"
        )
    return None


def record_event(
    session: Session,
    version: ModelVersion,
    kind: ModelEventKind,
    *,
    source: str,
    reason: str,
    now: dt.datetime,
    figures: dict[str, Any] | None = None,
) -> None:
    """Note a status change on `version`'s model card (and, from monitoring, in its log)."""
    ModelEventRepository(session).create(
        model_version_id=version.id,
        occurred_at=now,
        kind=kind,
        source=source,
        reason=reason,
        figures=figures or {},
    )


def demote(
    session: Session,
    version: ModelVersion,
    *,
    reason: str,
    figures: dict[str, Any],
    now: dt.datetime,
    source: str = MONITORING,
) -> bool:
    """Take a production `version` out of service and put its coin and horizon's newest naive
    version in production, each change recorded as an event, all or nothing. False, with
    nothing changed, when someone changed either version meanwhile (an admin archived it,
    another run demoted it, a promotion took the slot)."""
    versions = ModelVersionRepository(session)
    naive = next(
        (
            v
            for v in versions.for_coin(
                version.coin_id, interval=version.interval, horizon=version.horizon, kind=NAIVE
            )
            if v.status is not ModelStatus.DEMOTED
        ),
        None,
    )
    try:
        with session.begin_nested():
            if not versions.change_status(
                version, expected=ModelStatus.PRODUCTION, new=ModelStatus.DEMOTED
            ):
                return False
            record_event(
                session,
                version,
                ModelEventKind.DEMOTED,
                source=source,
                reason=reason,
                now=now,
                figures=figures,
            )
            if naive is not None:
                versions.promote(naive, at=now)
                record_event(
                    session,
                    naive,
                    ModelEventKind.PROMOTED,
                    source=source,
                    reason=f"{version.kind} v{version.version} was demoted by live monitoring "
                    f"({reason})",
                    now=now,
                )
    except IntegrityError:  # a concurrent promotion took the slot: leave both as they are
        return False
    session.refresh(version)
    return True


def score_predictions(*, session: Session, now: dt.datetime) -> ScoringReport:
    """Score what can be scored and commit, then refresh live records and demote failing
    production versions, and commit again (a rerun scores nothing twice: scored rows are
    never due)."""
    report = ScoringReport()
    groups = _score_due(session, now, report)
    session.commit()
    records = refresh_live_records(session, groups, now)
    report.versions_updated = len(records)
    report.coin_ids = {coin_id for coin_id, _, _ in groups}
    report.records = records
    for version, figures in records:
        if version.status is not ModelStatus.PRODUCTION or version.kind == NAIVE:
            continue
        reason = demotion_reason(figures)
        if reason is not None and demote(session, version, reason=reason, figures=figures, now=now):
            logger.warning("demoted %s v%d: %s", version.kind, version.version, reason)
            report.demoted.append(
                {"version_id": version.id, "kind": version.kind, "reason": reason}
            )
    session.commit()
    return report
