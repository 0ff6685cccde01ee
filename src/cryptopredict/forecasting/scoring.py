"""Scoring issued forecasts against what happened, and a version's live record against naive.

Pure functions (no database): `score` turns forecasts and their actuals into the ledger's
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

from cryptopredict.forecasting.metrics import diebold_mariano, winkler_scores

LEVELS = (0.8, 0.95)
SIGNIFICANCE = 0.05
"""The p-value below which a live difference from naive is called significant."""
MIN_DM_PAIRS = 30
"""Live Diebold-Mariano p-values are reported from this many paired forecasts on."""
BAND_CONFIDENCE = 0.95
"""Confidence of the binomial band around each observed coverage."""


@dataclass(frozen=True, slots=True)
class Scores:
    """The ledger's score columns for many forecasts, as aligned arrays: `inside_*` hold 1.0,
    0.0 or NaN and `winkler_*` NaN where a forecast had no such interval; `scorable` is False
    where a price was not positive and finite (nothing else of that row is meaningful)."""

    scorable: npt.NDArray[np.bool_]
    actual: npt.NDArray[np.float64]
    error: npt.NDArray[np.float64]
    abs_log_error: npt.NDArray[np.float64]
    inside_80: npt.NDArray[np.float64]
    inside_95: npt.NDArray[np.float64]
    winkler_80: npt.NDArray[np.float64]
    winkler_95: npt.NDArray[np.float64]


def _floats(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A float array, None read as NaN."""
    return np.asarray(values, dtype=np.float64)


def score(
    *,
    point: npt.ArrayLike,
    actual: npt.ArrayLike,
    lower_80: npt.ArrayLike,
    upper_80: npt.ArrayLike,
    lower_95: npt.ArrayLike,
    upper_95: npt.ArrayLike,
) -> Scores:
    """Per forecast: error (point minus actual), absolute log error, and per interval whether
    the actual fell inside and its Winkler score (NaN where a bound is NaN or None)."""
    points, actuals = _floats(point), _floats(actual)
    scorable = (points > 0) & (actuals > 0) & np.isfinite(points) & np.isfinite(actuals)
    safe_points = np.where(scorable, points, 1.0)
    safe_actuals = np.where(scorable, actuals, 1.0)
    inside: dict[float, npt.NDArray[np.float64]] = {}
    winkler: dict[float, npt.NDArray[np.float64]] = {}
    for level, lower, upper in ((0.8, lower_80, upper_80), (0.95, lower_95, upper_95)):
        low, high = _floats(lower), _floats(upper)
        known = ~(np.isnan(low) | np.isnan(high))
        inside[level] = np.where(known, (low <= actuals) & (actuals <= high), np.nan)
        winkler[level] = winkler_scores(actuals, low, high, level)
    return Scores(
        scorable=scorable,
        actual=actuals,
        error=points - actuals,
        abs_log_error=np.abs(np.log(safe_points) - np.log(safe_actuals)),
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


def non_overlapping(origins: npt.NDArray[np.int64], spacing: int) -> npt.NDArray[np.intp]:
    """Indices of ascending `origins` at least `spacing` apart, from the oldest: h-step
    forecasts from origins closer than h steps share part of their future, so their errors
    (and interval hits) are not independent, which a test or a binomial band assumes."""
    taken: list[int] = []
    last: int | None = None
    for index, origin in enumerate(origins.tolist()):
        if last is None or origin - last >= spacing:
            taken.append(index)
            last = origin
    return np.asarray(taken, dtype=np.intp)


def _coverage(
    inside: npt.NDArray[np.float64], independent: npt.NDArray[np.intp], level: float
) -> dict[str, Any] | None:
    """Observed coverage over every forecast; its binomial band, and whether the nominal
    level lies in it, over the non-overlapping ones."""
    known = inside[~np.isnan(inside)]
    if known.size == 0:
        return None
    sample = inside[independent]
    sample = sample[~np.isnan(sample)]
    hits = int(sample.sum())
    low, high = coverage_band(hits, int(sample.size))
    return {
        "nominal": level,
        "observed": float(known.mean()),
        "n": int(known.size),
        "independent_n": int(sample.size),
        "band": [low, high],
        "in_band": low <= level <= high,
    }


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    known = values[~np.isnan(values)]
    return float(known.mean()) if known.size else None


def _dm(model: npt.NDArray[np.float64], naive: npt.NDArray[np.float64]) -> dict[str, Any] | None:
    """Diebold-Mariano on absolute errors of non-overlapping forecasts, model first:
    statistic and p-values for 'differs', 'model better' and 'model worse' (None below
    MIN_DM_PAIRS or when the losses never differ)."""
    if model.size < MIN_DM_PAIRS:
        return None
    two_sided = diebold_mariano(model, naive, 1, loss="absolute")
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
    model: ScoredSeries, naive: ScoredSeries, *, horizon: int, step: int
) -> dict[str, Any]:
    """A version's live figures on the origins both it and naive were scored on.

    Over every such origin: n, MAE and naive's MAE and their ratio, mean absolute log error,
    observed coverage at 80 and 95 %, mean Winkler scores next to naive's. Over the
    non-overlapping ones (`step`: one bar in the origins' unit): the coverage's exact
    binomial band, and the Diebold-Mariano test once there are MIN_DM_PAIRS of them. Naive
    against itself gives ratio 1.
    """
    _, mine_at, theirs_at = np.intersect1d(model.origins, naive.origins, return_indices=True)
    mine, theirs = model.take(mine_at), naive.take(theirs_at)
    independent = non_overlapping(mine.origins, horizon * step)
    mae = _mean(np.abs(mine.error))
    naive_mae = _mean(np.abs(theirs.error))
    ratio = mae / naive_mae if mae is not None and naive_mae else None
    return {
        "n": int(mine_at.size),
        "independent_n": int(independent.size),
        "mae": mae,
        "naive_mae": naive_mae,
        "mae_ratio": ratio,
        "mean_abs_log_error": _mean(mine.abs_log_error),
        "coverage_80": _coverage(mine.inside_80, independent, 0.8),
        "coverage_95": _coverage(mine.inside_95, independent, 0.95),
        "winkler_80": _mean(mine.winkler_80),
        "naive_winkler_80": _mean(theirs.winkler_80),
        "winkler_95": _mean(mine.winkler_95),
        "naive_winkler_95": _mean(theirs.winkler_95),
        "diebold_mariano": _dm(mine.error[independent], theirs.error[independent]),
    }
