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
SIGNIFICANCE = 0.05
"""The p-value below which a live difference from naive is called significant."""
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
