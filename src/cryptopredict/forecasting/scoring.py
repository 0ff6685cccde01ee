"""Scoring issued forecasts against what happened, and a version's live record against naive.

Pure functions (no database): `score` turns one forecast and its actual into the ledger's
score columns; `live_record` summarises a version's scored forecasts next to naive's on the
very same origins, so a live MAE ratio or Winkler comparison never mixes different periods.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from cryptopredict.forecasting.metrics import diebold_mariano

LEVELS = (0.8, 0.95)
MIN_DM_PAIRS = 30
"""Live Diebold-Mariano p-values are reported from this many paired forecasts on."""
BAND_CONFIDENCE = 0.95
"""Confidence of the binomial band around each observed coverage."""


@dataclass(frozen=True, slots=True)
class Score:
    """The ledger's score columns for one forecast."""

    actual: float
    error: float
    abs_log_error: float
    inside_80: bool | None
    inside_95: bool | None
    winkler_80: float | None
    winkler_95: float | None


def _winkler(actual: float, lower: float, upper: float, level: float) -> float:
    alpha = 1.0 - level
    miss = max(lower - actual, 0.0) + max(actual - upper, 0.0)
    return (upper - lower) + 2.0 / alpha * miss


def score(
    *,
    point: float,
    actual: float,
    bounds_80: tuple[float, float] | None,
    bounds_95: tuple[float, float] | None,
) -> Score:
    """Error (point minus actual), absolute log error, and per interval whether the actual
    fell inside and its Winkler score (None where the forecast had no such interval)."""
    if not (point > 0 and actual > 0 and math.isfinite(point) and math.isfinite(actual)):
        raise ValueError(f"prices must be positive and finite, not {point!r} and {actual!r}")
    inside: dict[float, bool | None] = {}
    winkler: dict[float, float | None] = {}
    for level, bounds in zip(LEVELS, (bounds_80, bounds_95), strict=True):
        if bounds is None:
            inside[level], winkler[level] = None, None
            continue
        lower, upper = bounds
        inside[level] = lower <= actual <= upper
        winkler[level] = _winkler(actual, lower, upper, level)
    return Score(
        actual=actual,
        error=point - actual,
        abs_log_error=abs(math.log(point) - math.log(actual)),
        inside_80=inside[0.8],
        inside_95=inside[0.95],
        winkler_80=winkler[0.8],
        winkler_95=winkler[0.95],
    )


@dataclass(frozen=True, slots=True)
class ScoredForecast:
    """What `live_record` needs of one scored ledger row."""

    origin_at: dt.datetime
    error: float
    abs_log_error: float
    inside_80: bool | None
    inside_95: bool | None
    winkler_80: float | None
    winkler_95: float | None


def coverage_band(hits: int, n: int, confidence: float = BAND_CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a coverage observed as `hits` of `n`."""
    if n <= 0:
        return (0.0, 1.0)
    alpha = 1.0 - confidence
    low = 0.0 if hits == 0 else float(stats.beta.ppf(alpha / 2, hits, n - hits + 1))
    high = 1.0 if hits == n else float(stats.beta.ppf(1 - alpha / 2, hits + 1, n - hits))
    return (low, high)


def _coverage(rows: Sequence[ScoredForecast], level: float) -> dict[str, Any] | None:
    flags = [r.inside_80 if level == 0.8 else r.inside_95 for r in rows]
    known = [flag for flag in flags if flag is not None]
    if not known:
        return None
    hits = sum(known)
    low, high = coverage_band(hits, len(known))
    return {
        "nominal": level,
        "observed": hits / len(known),
        "n": len(known),
        "band": [low, high],
        "in_band": low <= level <= high,
    }


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _dm(model: Sequence[float], naive: Sequence[float], horizon: int) -> dict[str, Any] | None:
    """Diebold-Mariano on absolute errors, model first: statistic and p-values for 'differs',
    'model better' and 'model worse' (None below MIN_DM_PAIRS or when undefined)."""
    if len(model) < MIN_DM_PAIRS:
        return None
    two_sided = diebold_mariano(model, naive, horizon, loss="absolute")
    if not math.isfinite(two_sided.p_value):
        return None
    t = stats.t(df=two_sided.n - 1)
    return {
        "statistic": two_sided.statistic,
        "p_value": two_sided.p_value,
        "p_better": float(t.cdf(two_sided.statistic)),
        "p_worse": float(t.sf(two_sided.statistic)),
        "n": two_sided.n,
    }


def live_record(
    model: Sequence[ScoredForecast], naive: Sequence[ScoredForecast], *, horizon: int
) -> dict[str, Any]:
    """A version's live figures on the origins both it and naive were scored on.

    n, MAE and naive's MAE and their ratio, mean absolute log error, coverage at 80 and 95 %
    with an exact binomial band, mean Winkler scores next to naive's, and the
    Diebold-Mariano test once n reaches MIN_DM_PAIRS. Naive against itself gives ratio 1.
    """
    naive_by_origin = {row.origin_at: row for row in naive}
    paired = [
        (row, naive_by_origin[row.origin_at]) for row in model if row.origin_at in naive_by_origin
    ]
    mine = [m for m, _ in paired]
    theirs = [n for _, n in paired]
    n = len(paired)
    mae = _mean([abs(r.error) for r in mine])
    naive_mae = _mean([abs(r.error) for r in theirs])
    ratio = mae / naive_mae if mae is not None and naive_mae else None
    return {
        "n": n,
        "mae": mae,
        "naive_mae": naive_mae,
        "mae_ratio": ratio,
        "mean_abs_log_error": _mean([r.abs_log_error for r in mine]),
        "coverage_80": _coverage(mine, 0.8),
        "coverage_95": _coverage(mine, 0.95),
        "winkler_80": _mean([r.winkler_80 for r in mine]),
        "naive_winkler_80": _mean([r.winkler_80 for r in theirs]),
        "winkler_95": _mean([r.winkler_95 for r in mine]),
        "naive_winkler_95": _mean([r.winkler_95 for r in theirs]),
        "diebold_mariano": _dm([r.error for r in mine], [r.error for r in theirs], horizon),
    }
