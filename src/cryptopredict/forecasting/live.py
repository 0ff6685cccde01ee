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
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from cryptopredict.forecasting import dataset
from cryptopredict.forecasting.models import (
    ModelEventKind,
    ModelStatus,
    ModelVersion,
)
from cryptopredict.forecasting.repository import (
    LiveScoreRepository,
    ModelEventRepository,
    ModelVersionRepository,
    PredictionRepository,
)
from cryptopredict.forecasting.scoring import ScoredForecast, live_record, score
from cryptopredict.forecasting.selection import NAIVE
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.types import Interval

logger = logging.getLogger(__name__)

WORSE_P_VALUE = 0.05
"""A production version is demoted when its live MAE ratio exceeds 1 with a Diebold-Mariano
p-value below this."""
MIN_COVERAGE_N = 50
"""Coverage is judged once this many 80 % intervals were scored."""
MONITORING = "monitoring"
SCORING_BATCH = 5000


@dataclass(slots=True)
class ScoringReport:
    """What one scoring run did."""

    scored: int = 0
    waiting: int = 0
    versions_updated: int = 0
    demoted: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a task's result)."""
        return {
            "scored": self.scored,
            "waiting": self.waiting,
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


def _bounds(lower: float | None, upper: float | None) -> tuple[float, float] | None:
    return None if lower is None or upper is None else (lower, upper)


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
        updates = []
        for row in due:
            step = dataset.interval_step(row.interval).to_pytimedelta()
            actual = closes[(row.coin_id, row.interval)].get(row.target_at)
            if actual is None or row.target_at + step > now:
                report.waiting += 1
                continue
            scored = score(
                point=row.point,
                actual=actual,
                bounds_80=_bounds(row.lower_80, row.upper_80),
                bounds_95=_bounds(row.lower_95, row.upper_95),
            )
            updates.append({"id": row.id, **asdict(scored), "scored_at": now})
            touched.add((row.coin_id, row.interval, row.horizon))
        ledger.record_scores(updates)
        report.scored += len(updates)
    return touched


def _scored(rows: Sequence[Row[Any]]) -> list[ScoredForecast]:
    """One scored forecast per origin (the first row given for an origin wins)."""
    by_origin: dict[dt.datetime, ScoredForecast] = {}
    for row in rows:
        if row.error is None or row.abs_log_error is None or row.origin_at in by_origin:
            continue
        by_origin[row.origin_at] = ScoredForecast(
            origin_at=row.origin_at,
            error=row.error,
            abs_log_error=row.abs_log_error,
            inside_80=row.inside_80,
            inside_95=row.inside_95,
            winkler_80=row.winkler_80,
            winkler_95=row.winkler_95,
        )
    return list(by_origin.values())


def refresh_live_records(
    session: Session, groups: set[tuple[int, str, int]], now: dt.datetime
) -> list[tuple[ModelVersion, dict[str, Any]]]:
    """Recompute and store the live record of every scored version in these (coin,
    interval, horizon) groups, each against naive on the same origins; the records."""
    by_group: dict[tuple[int, str, int], list[Row[Any]]] = defaultdict(list)
    for row in PredictionRepository(session).scored_in(groups):
        by_group[(row.coin_id, row.interval, row.horizon)].append(row)
    version_ids = {row.model_version_id for rows in by_group.values() for row in rows}
    versions = {
        v.id: v
        for v in ModelVersionRepository(session).list(
            conditions=[ModelVersion.id.in_(sorted(version_ids))]
        )
    }
    records: list[tuple[ModelVersion, dict[str, Any]]] = []
    for (_, _, horizon), rows in sorted(by_group.items()):
        naive = _scored([row for row in rows if row.model_kind == NAIVE])  # newest version first
        mine: dict[int, list[Row[Any]]] = defaultdict(list)
        for row in rows:
            mine[row.model_version_id].append(row)
        for version_id, own in sorted(mine.items()):
            version = versions.get(version_id)
            if version is not None:
                records.append((version, live_record(_scored(own), naive, horizon=horizon)))
    LiveScoreRepository(session).save_many(records, now)
    return records


def demotion_reason(figures: dict[str, Any]) -> str | None:
    """Why a production version's live record takes it out of service, or None."""
    ratio = figures.get("mae_ratio")
    dm = figures.get("diebold_mariano")
    if ratio is not None and ratio > 1 and dm is not None and dm["p_value"] < WORSE_P_VALUE:
        return (
            f"live MAE {ratio:.3f} x naive's over {dm['n']} forecasts, significantly worse "
            f"(Diebold-Mariano p = {dm['p_value']:.4f} < {WORSE_P_VALUE})"
        )
    coverage = figures.get("coverage_80")
    if coverage is not None and coverage["n"] >= MIN_COVERAGE_N and not coverage["in_band"]:
        low, high = coverage["band"]
        return (
            f"live 80 % interval coverage {coverage['observed']:.1%} over {coverage['n']} "
            f"forecasts; its 95 % binomial band [{low:.1%}, {high:.1%}] excludes 80 %"
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
) -> ModelVersion | None:
    """Take `version` out of service and put its coin and horizon's newest naive version in
    production; both changes are recorded as events. The naive version promoted, if any."""
    versions = ModelVersionRepository(session)
    versions.update(version, status=ModelStatus.DEMOTED)
    record_event(
        session,
        version,
        ModelEventKind.DEMOTED,
        source=source,
        reason=reason,
        now=now,
        figures=figures,
    )
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
    if naive is None:
        return None
    versions.promote(naive, at=now)
    record_event(
        session,
        naive,
        ModelEventKind.PROMOTED,
        source=source,
        reason=f"naive serves after {version.kind} v{version.version} was demoted",
        now=now,
    )
    return naive


def score_predictions(*, session: Session, now: dt.datetime) -> ScoringReport:
    """Score what can be scored, refresh live records, demote failing production versions.
    Commits once at the end (a rerun scores nothing twice: scored rows are never due)."""
    report = ScoringReport()
    groups = _score_due(session, now, report)
    records = refresh_live_records(session, groups, now)
    report.versions_updated = len(records)
    for version, figures in records:
        if version.status is not ModelStatus.PRODUCTION or version.kind == NAIVE:
            continue
        reason = demotion_reason(figures)
        if reason is not None:
            demote(session, version, reason=reason, figures=figures, now=now)
            logger.warning("demoted %s v%d: %s", version.kind, version.version, reason)
            report.demoted.append(
                {"version_id": version.id, "kind": version.kind, "reason": reason}
            )
    session.commit()
    return report
