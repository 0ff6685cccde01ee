"""Forecast accuracy measures that keep the naive forecast as the bar.

Point errors (MAE, RMSE, MAPE, sMAPE), MASE with a scale from the training data's naive errors
at the same horizon, MAE relative to naive on the same origins, directional accuracy against
both 50 % and the "always up" share, the Diebold–Mariano test with the Harvey, Leybourne and
Newbold (1997) small-sample correction and a HAC variance over ``h - 1`` lags, and interval
scores (coverage, width, pinball loss, Winkler score).

Every function takes plain arrays and ignores no value silently: NaN in an input propagates
unless the docstring says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

Alternative = Literal["two-sided", "less", "greater"]


def _pair(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of equal shape, so a length mismatch fails loudly."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if a.shape != p.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {p.shape}")
    if a.size == 0:
        raise ValueError("no values to score")
    return a, p


def mae(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Mean absolute error, in the units of the data."""
    a, p = _pair(actual, predicted)
    return float(np.mean(np.abs(a - p)))


def rmse(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Root mean squared error, which weighs large misses more than MAE."""
    a, p = _pair(actual, predicted)
    return float(np.sqrt(np.mean((a - p) ** 2)))


def mape(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Mean absolute percentage error in percent (actual values must be non-zero)."""
    a, p = _pair(actual, predicted)
    return float(100.0 * np.mean(np.abs((a - p) / a)))


def smape(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Symmetric MAPE in percent (0..200): ``|a - p| / ((|a| + |p|) / 2)``; 0/0 counts as 0."""
    a, p = _pair(actual, predicted)
    denom = (np.abs(a) + np.abs(p)) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denom == 0, 0.0, np.abs(a - p) / denom)
    return float(100.0 * np.mean(ratio))


def naive_scale(history: npt.ArrayLike, horizon: int) -> float:
    """MASE scale: mean absolute ``horizon``-step naive error over a training history.

    Args:
        history: the training values (prices or log prices), in time order.
        horizon: the horizon of the forecasts to be scaled.

    Returns:
        ``mean(|y[t] - y[t - horizon]|)`` over the history (NaN pairs skipped).

    Raises:
        ValueError: when the history has no pair ``horizon`` steps apart.
    """
    y = np.asarray(history, dtype=np.float64)
    if horizon < 1 or y.size <= horizon:
        raise ValueError(f"history of {y.size} values has no {horizon}-step naive error")
    diffs = np.abs(y[horizon:] - y[:-horizon])
    if not np.isfinite(diffs).any():
        raise ValueError("history has no finite naive error")
    return float(np.nanmean(diffs))


def mase(actual: npt.ArrayLike, predicted: npt.ArrayLike, scale: float) -> float:
    """Mean absolute scaled error: MAE divided by the training naive scale (``naive_scale``)."""
    if not scale > 0:
        raise ValueError("scale must be positive")
    return mae(actual, predicted) / scale


def relative_mae(
    actual: npt.ArrayLike, predicted: npt.ArrayLike, naive_predicted: npt.ArrayLike
) -> float:
    """Model MAE divided by naive MAE on the same origins; below 1 beats naive."""
    denom = mae(actual, naive_predicted)
    num = mae(actual, predicted)
    if denom == 0:
        return float("inf") if num > 0 else 1.0
    return num / denom


@dataclass(frozen=True)
class DirectionResult:
    """How often a forecast's sign matched the realised sign, and whether that is luck.

    Attributes:
        hit_rate: share of correct signs among calls (NaN without calls).
        n: calls scored: rows where both the realised and the forecast change are non-zero.
        hits: correct signs.
        no_calls: rows skipped because the forecast change was exactly zero.
        p_value: one-sided binomial p-value of ``hits`` against a 50 % hit rate.
        up_share: share of realised up-moves among the calls, i.e. the "always up" hit rate
            on the rows ``hit_rate`` is measured on (among all rows with a real move when
            there is no call, e.g. for naive).
        p_value_vs_up: one-sided binomial p-value against the better of always-up and
            always-down, ``max(up_share, 1 - up_share)``.
    """

    hit_rate: float
    n: int
    hits: int
    no_calls: int
    p_value: float
    up_share: float
    p_value_vs_up: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def directional_accuracy(
    actual_change: npt.ArrayLike, predicted_change: npt.ArrayLike
) -> DirectionResult:
    """Hit rate of the forecast direction, tested against 50 % and against "always up".

    Args:
        actual_change: realised changes (e.g. log returns) from each origin.
        predicted_change: forecast changes from the same origins.

    Returns:
        The hit rate with its binomial p-values and the always-up share.
    """
    a, p = _pair(actual_change, predicted_change)
    real = np.isfinite(a) & np.isfinite(p) & (a != 0)
    calls = real & (p != 0)
    n = int(calls.sum())
    hits = int((np.sign(a[calls]) == np.sign(p[calls])).sum())
    base_rows = calls if n else real
    up_share = float(np.mean(a[base_rows] > 0)) if base_rows.any() else float("nan")
    if n == 0:
        return DirectionResult(
            float("nan"), 0, 0, int(real.sum()), float("nan"), up_share, float("nan")
        )
    p_half = float(stats.binomtest(hits, n, 0.5, alternative="greater").pvalue)
    base = max(up_share, 1.0 - up_share)
    p_base = (
        float(stats.binomtest(hits, n, base, alternative="greater").pvalue) if base < 1 else 1.0
    )
    return DirectionResult(
        hit_rate=hits / n,
        n=n,
        hits=hits,
        no_calls=int((real & (p == 0)).sum()),
        p_value=p_half,
        up_share=up_share,
        p_value_vs_up=p_base,
    )


@dataclass(frozen=True)
class DMResult:
    """Diebold–Mariano comparison of two forecasts' losses on the same origins.

    Attributes:
        statistic: the Harvey-corrected DM statistic; negative when the first forecast's
            loss is lower.
        p_value: p-value from Student's t with ``n - 1`` degrees of freedom.
        mean_difference: mean of ``loss(first) - loss(second)``.
        n: number of paired errors.
        horizon: forecast horizon (sets the HAC lags, ``horizon - 1``).
        alternative: ``"two-sided"``, or ``"less"`` (first better) / ``"greater"``.
    """

    statistic: float
    p_value: float
    mean_difference: float
    n: int
    horizon: int
    alternative: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _autocovariance(d: np.ndarray, lag: int) -> float:
    """Sample autocovariance at ``lag`` with the 1/n normalisation of Diebold–Mariano."""
    n = d.size
    centred = d - d.mean()
    return float(np.dot(centred[lag:], centred[: n - lag]) / n)


def diebold_mariano(
    errors_first: npt.ArrayLike,
    errors_second: npt.ArrayLike,
    horizon: int = 1,
    *,
    loss: Literal["absolute", "squared"] = "absolute",
    alternative: Alternative = "two-sided",
) -> DMResult:
    """Test whether two forecasts' expected losses differ (Diebold & Mariano 1995).

    The loss differential ``d = L(e1) - L(e2)`` has long-run variance
    ``gamma_0 + 2 * sum_{k=1}^{h-1} gamma_k`` (h-step forecasts at every origin overlap, so
    ``d`` is autocorrelated up to lag ``h - 1``); if that estimate is not positive the
    Bartlett (Newey–West) weights are used instead. The statistic is multiplied by the
    Harvey–Leybourne–Newbold factor ``sqrt((n + 1 - 2h + h(h - 1)/n) / n)`` and compared with
    Student's t on ``n - 1`` degrees of freedom.

    Args:
        errors_first: forecast errors of the first forecast (e.g. the model).
        errors_second: forecast errors of the second forecast (e.g. naive), same origins.
        horizon: forecast horizon in steps.
        loss: ``"absolute"`` or ``"squared"`` error loss.
        alternative: ``"less"`` tests that the first forecast has the lower loss.

    Returns:
        The test result; p-value NaN when the differential is constant.

    Raises:
        ValueError: for mismatched or too short inputs (at least 3 pairs).
    """
    e1, e2 = _pair(errors_first, errors_second)
    if loss == "absolute":
        return diebold_mariano_losses(np.abs(e1), np.abs(e2), horizon, alternative=alternative)
    if loss == "squared":
        return diebold_mariano_losses(e1**2, e2**2, horizon, alternative=alternative)
    raise ValueError(f"unknown loss {loss!r}")


def diebold_mariano_losses(
    losses_first: npt.ArrayLike,
    losses_second: npt.ArrayLike,
    horizon: int = 1,
    *,
    alternative: Alternative = "two-sided",
) -> DMResult:
    """The Diebold–Mariano test (see ``diebold_mariano``) on losses already computed, such as
    each origin's Winkler score: the differential is ``losses_first - losses_second``."""
    l1, l2 = _pair(losses_first, losses_second)
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    d = l1 - l2
    n = d.size
    if n < 3:
        raise ValueError("the Diebold-Mariano test needs at least 3 paired errors")
    mean_d = float(d.mean())
    lags = min(horizon - 1, n - 1)
    gammas = [_autocovariance(d, k) for k in range(lags + 1)]
    long_run = gammas[0] + 2.0 * sum(gammas[1:])
    if long_run <= 0:
        long_run = gammas[0] + 2.0 * sum(
            (1.0 - k / (lags + 1)) * gammas[k] for k in range(1, lags + 1)
        )
    if long_run <= 0:
        return DMResult(float("nan"), float("nan"), mean_d, n, horizon, alternative)
    dm = mean_d / np.sqrt(long_run / n)
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = float(dm * correction)
    t = stats.t(df=n - 1)
    if alternative == "two-sided":
        p = 2.0 * float(t.sf(abs(statistic)))
    elif alternative == "less":
        p = float(t.cdf(statistic))
    elif alternative == "greater":
        p = float(t.sf(statistic))
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    return DMResult(statistic, min(p, 1.0), mean_d, n, horizon, alternative)


def interval_coverage(actual: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """Share of actual values inside ``[lower, upper]``."""
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    return float(np.mean((a >= lo) & (a <= hi)))


def mean_interval_width(lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """Average ``upper - lower``: narrower is better only at the same coverage."""
    lo, hi = _pair(lower, upper)
    return float(np.mean(hi - lo))


def pinball_loss(actual: npt.ArrayLike, quantile_forecast: npt.ArrayLike, quantile: float) -> float:
    """Mean pinball (quantile) loss of a forecast of the ``quantile``-th quantile.

    Args:
        actual: realised values.
        quantile_forecast: the forecast quantile per row.
        quantile: the quantile level in (0, 1).

    Returns:
        ``mean(max(q * (a - f), (q - 1) * (a - f)))``.
    """
    if not 0 < quantile < 1:
        raise ValueError("quantile must lie in (0, 1)")
    a, f = _pair(actual, quantile_forecast)
    diff = a - f
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff)))


def winkler_scores(
    actual: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike, level: float
) -> npt.NDArray[np.float64]:
    """Each forecast's Winkler (interval) score: width plus ``2 / alpha`` times any miss;
    lower is better. NaN where a bound or the actual is NaN.

    Args:
        actual: realised values.
        lower: lower bounds.
        upper: upper bounds.
        level: nominal coverage ``1 - alpha`` of the interval, e.g. 0.8.

    Returns:
        ``width + 2/alpha * (lower - a) [a < lower] + 2/alpha * (a - upper) [a > upper]``.
    """
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    alpha = 1.0 - level
    below = np.clip(lo - a, 0.0, None)
    above = np.clip(a - hi, 0.0, None)
    scores: npt.NDArray[np.float64] = (hi - lo) + 2.0 / alpha * (below + above)
    return scores


def winkler_score(
    actual: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike, level: float
) -> float:
    """Mean Winkler score (`winkler_scores`) of a set of intervals."""
    return float(np.mean(winkler_scores(actual, lower, upper, level)))
