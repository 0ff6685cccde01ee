"""Scoring issued forecasts against what happened, and a version's live record against naive.

Pure functions (no database): `score` turns one forecast and its actual into the ledger's
score columns; `live_record` summarises a version's scored forecasts next to naive's on the
very same origins, so a live MAE ratio or Winkler comparison never mixes different periods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
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


@dataclass(frozen=True)
class ScoredSeries:
    """A version's scored forecasts as aligned arrays, one entry per origin.

    `origins` are integers that order and identify origins (e.g. epoch microseconds);
    `inside_*` hold 1.0, 0.0 or NaN (no such interval), `winkler_*` NaN where unknown.
    """

    origins: npt.NDArray[np.int64]
    error: npt.NDArray[np.float64]
    abs_log_error: npt.NDArray[np.float64]
    inside_80: npt.NDArray[np.float64]
    inside_95: npt.NDArray[np.float64]
    winkler_80: npt.NDArray[np.float64]
    winkler_95: npt.NDArray[np.float64]

    def take(self, index: npt.NDArray[np.intp]) -> ScoredSeries:
        """The entries at `index`, in that order."""
        return ScoredSeries(*(getattr(self, f.name)[index] for f in fields(self)))


def coverage_band(hits: int, n: int, confidence: float = BAND_CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a coverage observed as `hits` of `n`."""
    if n <= 0:
        return (0.0, 1.0)
    alpha = 1.0 - confidence
    low = 0.0 if hits == 0 else float(stats.beta.ppf(alpha / 2, hits, n - hits + 1))
    high = 1.0 if hits == n else float(stats.beta.ppf(1 - alpha / 2, hits + 1, n - hits))
    return (low, high)


def _coverage(inside: npt.NDArray[np.float64], level: float) -> dict[str, Any] | None:
    known = inside[~np.isnan(inside)]
    if known.size == 0:
        return None
    hits = int(known.sum())
    low, high = coverage_band(hits, int(known.size))
    return {
        "nominal": level,
        "observed": hits / known.size,
        "n": int(known.size),
        "band": [low, high],
        "in_band": low <= level <= high,
    }


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    known = values[~np.isnan(values)]
    return float(known.mean()) if known.size else None


def _dm(
    model: npt.NDArray[np.float64], naive: npt.NDArray[np.float64], horizon: int
) -> dict[str, Any] | None:
    """Diebold-Mariano on absolute errors, model first: statistic and p-values for 'differs',
    'model better' and 'model worse' (None below MIN_DM_PAIRS or when undefined)."""
    if model.size < MIN_DM_PAIRS:
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


def live_record(model: ScoredSeries, naive: ScoredSeries, *, horizon: int) -> dict[str, Any]:
    """A version's live figures on the origins both it and naive were scored on.

    n, MAE and naive's MAE and their ratio, mean absolute log error, coverage at 80 and 95 %
    with an exact binomial band, mean Winkler scores next to naive's, and the
    Diebold-Mariano test once n reaches MIN_DM_PAIRS. Naive against itself gives ratio 1.
    """
    _, mine_at, theirs_at = np.intersect1d(model.origins, naive.origins, return_indices=True)
    mine, theirs = model.take(mine_at), naive.take(theirs_at)
    mae = _mean(np.abs(mine.error))
    naive_mae = _mean(np.abs(theirs.error))
    ratio = mae / naive_mae if mae is not None and naive_mae else None
    return {
        "n": int(mine_at.size),
        "mae": mae,
        "naive_mae": naive_mae,
        "mae_ratio": ratio,
        "mean_abs_log_error": _mean(mine.abs_log_error),
        "coverage_80": _coverage(mine.inside_80, 0.8),
        "coverage_95": _coverage(mine.inside_95, 0.95),
        "winkler_80": _mean(mine.winkler_80),
        "naive_winkler_80": _mean(theirs.winkler_80),
        "winkler_95": _mean(mine.winkler_95),
        "naive_winkler_95": _mean(theirs.winkler_95),
        "diebold_mariano": _dm(mine.error, theirs.error, horizon),
    }
