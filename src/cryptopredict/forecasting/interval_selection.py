"""Score interval methods on common backtest origins and choose one per coin and horizon.

Every method is scored on the **common origins** (each compared method has a distribution
and the target is known), on log prices:

- Winkler score per level (width plus ``2 / alpha`` times any miss) and its ratio to the
  baseline's on the same origins; coverage with the band sampling alone would give it
  (overlapping h-step windows counted as ``n / h`` independent ones); mean relative width;
- CRPS from the fan's quantiles: twice the pinball losses over ``FAN_PROBS`` weighted by
  the share of (0, 1) each level stands for (a coarse quadrature of the CRPS integral, the
  same for every method, so comparable);
- the probability that the price ends higher, by its Brier score next to climatology's (the
  share of ups among the h-step returns known at each origin).

A method **replaces the baseline** only when its mean 80 % Winkler score is lower, a
two-sided Diebold–Mariano test of the per-origin Winkler differential (HAC over ``h - 1``
lags) has a p-value below ``alpha`` divided by the number of challengers (Bonferroni), and its
coverage at every level lies within ``coverage_tolerance`` of nominal. Of those, the lowest
mean Winkler wins; with none, the baseline is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from cryptopredict.forecasting import metrics
from cryptopredict.forecasting.forecasters.base import FloatArray
from cryptopredict.forecasting.interval_methods import BASELINE, IntervalInputs, IntervalMethod
from cryptopredict.forecasting.intervals import known_counts, level_label
from cryptopredict.forecasting.predictive import FAN_PROBS, Predictive

LEVELS: tuple[float, ...] = (0.8, 0.95)
#: The level whose Winkler score decides.
DECIDING_LEVEL = 0.8


def _quadrature_weights(probs: tuple[float, ...]) -> tuple[float, ...]:
    """Each quantile level's share of (0, 1): from the midpoint with its lower neighbour (or
    0) to the midpoint with its upper one (or 1); they sum to 1."""
    edges = [0.0, *((a + b) / 2.0 for a, b in zip(probs, probs[1:], strict=False)), 1.0]
    return tuple(high - low for low, high in zip(edges, edges[1:], strict=False))


#: CRPS = 2 * integral of the pinball loss over levels, summed over the fan's quantiles.
CRPS_WEIGHTS = _quadrature_weights(FAN_PROBS)


@dataclass(frozen=True)
class IntervalScores:
    """One method's record at one horizon on the common origins.

    Attributes:
        method: the method's kind.
        n: common origins scored.
        winkler: per level label, the mean Winkler score on log prices.
        winkler_ratio: per level label, ``winkler / the baseline's`` on the same origins.
        coverage: per level label, the share of actuals inside the interval.
        coverage_band: per level label, the coverage range sampling alone would give a
            calibrated interval 95 % of the time (binomial, ``n / h`` independent windows).
        mean_relative_width: per level label, mean ``(upper - lower) / origin price``.
        crps: mean CRPS on log prices, from the fan's quantiles.
        brier: Brier score of the probability that the price ends higher.
        climatology_brier: the base rate's Brier score on the same origins.
        dm_statistic: Diebold–Mariano statistic of the deciding Winkler differential
            against the baseline (negative: this method is better); NaN for the baseline.
        dm_p_value: its two-sided p-value.
    """

    method: str
    n: int
    winkler: dict[str, float]
    winkler_ratio: dict[str, float]
    coverage: dict[str, float]
    coverage_band: dict[str, tuple[float, float]]
    mean_relative_width: dict[str, float]
    crps: float
    brier: float
    climatology_brier: float
    dm_statistic: float
    dm_p_value: float

    @property
    def brier_skill(self) -> float:
        """``1 - brier / climatology_brier``: above 0 beats the base rate."""
        if not self.climatology_brier > 0:
            return float("nan")
        return 1.0 - self.brier / self.climatology_brier

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["brier_skill"] = self.brier_skill
        out["coverage_band"] = {k: list(v) for k, v in self.coverage_band.items()}
        return out


@dataclass(frozen=True)
class IntervalSelection:
    """The interval method chosen for one coin and horizon, and why.

    Attributes:
        name: the series (coin id).
        horizon: steps ahead.
        chosen: the chosen method's kind (``"baseline"`` when none beats it).
        n_origins: common origins compared.
        alpha: the per-challenger significance level (after Bonferroni).
        reason: a sentence for reports.
        candidates: every method's scores, the baseline first.
        scored: per origin, whether it is one of the common origins (those the scores are
            over, when there were enough to score).
    """

    name: str
    horizon: int
    chosen: str
    n_origins: int
    alpha: float
    reason: str
    candidates: tuple[IntervalScores, ...]
    scored: npt.NDArray[np.bool_] = field(
        default_factory=lambda: np.zeros(0, dtype=bool), compare=False, repr=False
    )

    def scores_of(self, method: str) -> IntervalScores:
        for scores in self.candidates:
            if scores.method == method:
                return scores
        raise KeyError(method)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "horizon": self.horizon,
            "chosen": self.chosen,
            "n_origins": self.n_origins,
            "alpha": self.alpha,
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def coverage_band(level: float, n: int, horizon: int) -> tuple[float, float]:
    """Coverage a calibrated interval shows 95 % of the time over ``n`` origins whose h-step
    windows overlap (about ``n / h`` independent outcomes)."""
    effective = max(n / horizon, 1.0)
    half = 1.96 * math.sqrt(level * (1.0 - level) / effective)
    return max(level - half, 0.0), min(level + half, 1.0)


def climatology_up(actual: FloatArray, origins: npt.NDArray[np.int64], horizon: int) -> FloatArray:
    """The share of ups among the h-step returns known at each origin (NaN before any)."""
    known = np.isfinite(actual)
    ups = (actual[known] > 0).astype(np.float64)
    count = known_counts(origins, known, horizon)
    total = np.concatenate([[0.0], np.cumsum(ups)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total[count] / count, np.nan)


def _scores(
    method: str,
    predictive: Predictive,
    actual: FloatArray,
    climatology: FloatArray,
    rows: npt.NDArray[np.bool_],
    horizon: int,
    levels: Sequence[float],
) -> tuple[IntervalScores, FloatArray]:
    """Scores over ``rows``, and the per-origin deciding Winkler losses."""
    a = actual[rows]
    winkler: dict[str, float] = {}
    coverage: dict[str, float] = {}
    band: dict[str, tuple[float, float]] = {}
    width: dict[str, float] = {}
    deciding = np.full(a.size, np.nan)
    for level in levels:
        label = level_label(level)
        lo, hi = predictive.bounds(level)
        lo, hi = lo[rows], hi[rows]
        losses = metrics.winkler_scores(a, lo, hi, level)
        winkler[label] = float(losses.mean())
        coverage[label] = metrics.interval_coverage(a, lo, hi)
        band[label] = coverage_band(level, a.size, horizon)
        width[label] = float(np.mean(np.exp(hi) - np.exp(lo)))
        if level == DECIDING_LEVEL:
            deciding = losses
    fan = predictive.quantiles(FAN_PROBS)[rows]
    crps = 2.0 * sum(
        weight * metrics.pinball_loss(a, fan[:, j], p)
        for j, (p, weight) in enumerate(zip(FAN_PROBS, CRPS_WEIGHTS, strict=True))
    )
    up = (a > 0).astype(np.float64)
    brier = float(np.mean((predictive.prob_up()[rows] - up) ** 2))
    clim = float(np.mean((climatology[rows] - up) ** 2))
    nan = float("nan")
    scores = IntervalScores(
        method, int(a.size), winkler, {}, coverage, band, width, crps, brier, clim, nan, nan
    )
    return scores, deciding


def select_interval_method(
    name: str,
    inputs: IntervalInputs,
    horizon: int,
    predictives: Mapping[str, Predictive],
    *,
    levels: Sequence[float] = LEVELS,
    alpha: float = 0.05,
    coverage_tolerance: float = 0.04,
    min_origins: int = 30,
    min_windows: int = 10,
) -> IntervalSelection:
    """Compare methods at one horizon on common origins and choose one (see the module doc).

    Args:
        name: the series.
        inputs: the walk-forward inputs the predictives came from.
        horizon: the horizon compared.
        predictives: per method kind, its walk-forward distributions; must hold the baseline.
        levels: interval levels scored (must include the deciding 0.8).
        alpha: family-wise significance level, split over the challengers.
        coverage_tolerance: a challenger's coverage must lie within this of nominal.
        min_origins: a method available at fewer origins than this is left out, and with
            fewer common origins the baseline is chosen untested.
        min_windows: the common origins must also hold this many independent h-step
            windows (``min_windows * h`` origins), or the baseline is chosen untested.

    Raises:
        ValueError: without the baseline among the predictives.
    """
    if BASELINE not in predictives:
        raise ValueError("the baseline must be among the methods compared")
    actual = inputs.actual(horizon)
    known = np.isfinite(actual)
    usable = {
        kind: p
        for kind, p in predictives.items()
        if int((p.available & known).sum()) >= min_origins or kind == BASELINE
    }
    climatology = climatology_up(actual, inputs.origins, horizon)
    rows = known & np.isfinite(climatology)
    for predictive in usable.values():
        rows &= predictive.available
    challengers = [kind for kind in usable if kind != BASELINE]
    per_test = alpha / max(len(challengers), 1)
    n = int(rows.sum())
    needed = max(min_origins, min_windows * horizon)
    if n < needed:
        return IntervalSelection(
            name, horizon, BASELINE, n, per_test,
            f"only {n} common origins (fewer than {needed}): the baseline serves untested",
            (), rows,
        )  # fmt: skip
    base, base_losses = _scores(
        BASELINE, usable[BASELINE], actual, climatology, rows, horizon, levels
    )
    base = _with_ratio(base, base, float("nan"), float("nan"))
    candidates = [base]
    qualified: list[IntervalScores] = []
    deciding = level_label(DECIDING_LEVEL)
    for kind in challengers:
        scores, losses = _scores(kind, usable[kind], actual, climatology, rows, horizon, levels)
        dm = metrics.diebold_mariano_losses(losses, base_losses, horizon)
        scores = _with_ratio(scores, base, dm.statistic, dm.p_value)
        candidates.append(scores)
        calibrated = all(
            abs(scores.coverage[level_label(level)] - level) <= coverage_tolerance
            for level in levels
        )
        better = scores.winkler[deciding] < base.winkler[deciding]
        if better and calibrated and dm.p_value < per_test:
            qualified.append(scores)
    if qualified:
        best = min(qualified, key=lambda s: s.winkler[deciding])
        reason = (
            f"{best.method}: 80 % Winkler {best.winkler_ratio[deciding]:.3f}x the baseline's "
            f"(DM p = {best.dm_p_value:.2g} < {per_test:.3g}), coverage within "
            f"{coverage_tolerance * 100:.0f} points of nominal"
        )
        chosen = best.method
    else:
        chosen = BASELINE
        reason = (
            "no method beat the baseline's 80 % Winkler score significantly with coverage "
            f"within {coverage_tolerance * 100:.0f} points of nominal"
        )
    return IntervalSelection(
        name, horizon, chosen, int(rows.sum()), per_test, reason, tuple(candidates), rows
    )


def _with_ratio(
    scores: IntervalScores, base: IntervalScores, dm_statistic: float, dm_p_value: float
) -> IntervalScores:
    ratio = {
        label: value / base.winkler[label] if base.winkler[label] > 0 else float("nan")
        for label, value in scores.winkler.items()
    }
    return replace(scores, winkler_ratio=ratio, dm_statistic=dm_statistic, dm_p_value=dm_p_value)


def compare_methods(
    name: str, inputs: IntervalInputs, methods: Sequence[IntervalMethod], **options: Any
) -> dict[int, IntervalSelection]:
    """Walk every method forward and choose per horizon."""
    runs = {method.kind: method.walk_forward(inputs) for method in methods}
    return {
        h: select_interval_method(
            name, inputs, h, {kind: run[h] for kind, run in runs.items()}, **options
        )
        for h in inputs.horizons
    }
