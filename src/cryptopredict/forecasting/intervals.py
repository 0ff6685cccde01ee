"""Split-conformal prediction intervals from out-of-sample residuals in log space.

A residual is ``actual log return - predicted log return`` at one origin and horizon, measured
out of sample (the model was fitted before that origin). For a level ``1 - alpha`` the interval
around a new prediction is ``[pred + q_lo, pred + q_hi]`` with ``q_lo``/``q_hi`` the
finite-sample conformal quantiles (ranks ``floor((n + 1) alpha / 2)`` and
``ceil((n + 1)(1 - alpha / 2))``) of the last residuals of that horizon. Asymmetric quantiles
absorb a model's bias; log space keeps the intervals honest on trending coins.

Residuals ``h`` steps ahead overlap: 500 of them at ``h = 30`` hold only about 17 independent
windows, and split conformal under-covers with 10-20. So both the window and the minimum are
counted in independent windows too: a horizon keeps ``max(window, windows_per_horizon * h)``
residuals and gives intervals from ``max(min_residuals, min_windows * h)`` on.

With ``volatility_scaled`` each residual is divided by ``sigma_h * sqrt(h)``, ``sigma_h`` a
per-step volatility forecast for the next ``h`` steps made at the origin
(``horizon_volatility``: the EWMA volatility of one-step log returns, reverting towards a slow
long-run EWMA as ``h`` grows), and the interval is scaled back by the current ``sigma_h``:
narrower in calm periods, wider in storms, same target coverage, and scores that are closer to
exchangeable across volatility regimes.

Too few residuals give no interval (NaN) rather than an under-covering one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from cryptopredict.forecasting.forecasters.base import FloatArray, IntArray

DEFAULT_LEVELS: tuple[float, ...] = (0.8, 0.95)


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Sorted unique levels in (0, 1), so interval columns have a stable order."""
    out = tuple(sorted({float(x) for x in levels}))
    if not out or out[0] <= 0 or out[-1] >= 1:
        raise ValueError(f"levels must lie in (0, 1), got {list(levels)}")
    return out


def level_label(level: float) -> str:
    """Column suffix of a level: 0.8 -> ``"80"``, 0.975 -> ``"97.5"``."""
    pct = round(level * 100, 6)
    return str(int(pct)) if pct == int(pct) else f"{pct:g}"


def ewma_volatility(
    log_price: npt.ArrayLike, lam: float = 0.94, min_periods: int = 10
) -> FloatArray:
    """EWMA volatility of one-step log returns known at each row (RiskMetrics style).

    Args:
        log_price: log prices of a regular series.
        lam: decay; the weight of a squared return ``k`` steps back is ``(1 - lam) lam^k``.
        min_periods: returns needed before a value is given (NaN before).

    Returns:
        ``sigma[t]`` from returns up to and including row ``t``; never reads later rows.
    """
    if not 0 < lam < 1:
        raise ValueError("lam must lie in (0, 1)")
    lp = pd.Series(np.asarray(log_price, dtype=np.float64))
    var = (lp.diff() ** 2).ewm(alpha=1.0 - lam, adjust=True, min_periods=min_periods).mean()
    return np.asarray(np.sqrt(var.to_numpy(dtype=np.float64)), dtype=np.float64)


def horizon_volatility(
    log_price: npt.ArrayLike,
    horizon: int,
    lam: float = 0.94,
    long_run_lambda: float | None = 0.995,
    min_periods: int = 10,
) -> FloatArray:
    """Per-step volatility expected over the next ``horizon`` steps, known at each row.

    Volatility clusters but reverts: a storm seen today says less about the coming month than
    about tomorrow. The EWMA's own decay ``lam`` is taken as the rate at which a shock's
    information fades, so the variance forecast averaged over ``h`` steps is
    ``w_h * ewma^2 + (1 - w_h) * long_run^2`` with ``w_h = (1 - lam^h) / (h (1 - lam))``
    (1 at ``h = 1``, about 0.46 at ``h = 30`` for ``lam = 0.94``).

    Args:
        log_price: log prices of a regular series.
        horizon: steps ahead.
        lam: decay of the short EWMA (and of its information).
        long_run_lambda: decay of the slow EWMA taken as the long-run level; None gives the
            short EWMA at every horizon (no reversion).
        min_periods: returns needed before a value is given (NaN before).

    Returns:
        ``sigma_h[t]`` from returns up to and including row ``t``; never reads later rows.
    """
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    short = ewma_volatility(log_price, lam, min_periods)
    if long_run_lambda is None or horizon == 1:
        return short
    long_run = ewma_volatility(log_price, long_run_lambda, min_periods)
    w = (1.0 - lam**horizon) / (horizon * (1.0 - lam))
    return np.asarray(np.sqrt(w * short**2 + (1.0 - w) * long_run**2), dtype=np.float64)


def conformal_bounds(scores: npt.ArrayLike, level: float) -> tuple[float, float]:
    """Finite-sample conformal lower and upper quantiles of residual scores for one level.

    Args:
        scores: calibration residuals (NaN ignored).
        level: nominal coverage ``1 - alpha``.

    Returns:
        ``(q_lo, q_hi)``; ``(nan, nan)`` without scores. With too few scores for the
        finite-sample rank the extreme score is used (the interval may then under-cover).
    """
    s = np.asarray(scores, dtype=np.float64)
    s = np.sort(s[np.isfinite(s)])
    if s.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - level
    return conformal_quantile(s, alpha / 2.0), conformal_quantile(s, 1.0 - alpha / 2.0)


def conformal_quantile(sorted_scores: FloatArray, p: float) -> float:
    """The finite-sample conformal quantile at level ``p`` of sorted, finite scores: rank
    ``floor((n + 1) p)`` below the median, ``ceil((n + 1) p)`` above it, clipped to the
    extremes when ``n`` is too small for the rank; the median at 0.5."""
    n = sorted_scores.size
    low, high = conformal_positions(np.array([n]), np.array([p]))
    return float((sorted_scores[int(low[0])] + sorted_scores[int(high[0])]) / 2.0)


def conformal_positions(
    n: npt.NDArray[np.int64], p: FloatArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Where ``conformal_quantile`` reads, elementwise for window sizes ``n`` (>= 1) and levels
    ``p`` (broadcast): two zero-based positions in the sorted window, the same but at the
    median of an even window, whose two middle scores it averages."""
    n, p = np.broadcast_arrays(np.asarray(n, dtype=np.int64), np.asarray(p, dtype=np.float64))
    # The tolerance makes 20 * 0.1 give rank 2.
    below = np.floor((n + 1) * p + 1e-9)
    above = np.ceil((n + 1) * p - 1e-9)
    rank = np.clip(np.where(p < 0.5, below, above), 1, np.maximum(n, 1)).astype(np.int64) - 1
    median = p == 0.5
    low = np.where(median, (n - 1) // 2, rank)
    high = np.where(median, n // 2, rank)
    return low, high


def known_counts(
    origins: npt.NDArray[np.int64], known: npt.NDArray[np.bool_], horizon: int
) -> npt.NDArray[np.int64]:
    """How many outcomes (the ``known`` ones, in origin order) each origin may use: the one of
    origin ``s`` becomes known at row ``s + horizon``, so origin ``t`` counts those with
    ``s + horizon <= t``. Origins ascending."""
    ready = origins[known] + horizon
    return np.searchsorted(ready, origins, side="right").astype(np.int64)


def online_bounds(
    scores: npt.ArrayLike,
    origins: npt.ArrayLike,
    horizon: int,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    window: int = 500,
    min_residuals: int = 50,
) -> dict[float, tuple[FloatArray, FloatArray]]:
    """Conformal bounds at every origin from the residuals already known there.

    The residual of origin ``s`` is known at origin ``t`` when its target row has been seen,
    ``s + horizon <= t``; only the last ``window`` such residuals are used.

    Args:
        scores: residual (or scaled residual) per origin, NaN where unknown.
        origins: the origin rows, ascending.
        horizon: forecast horizon in steps.
        levels: nominal coverages.
        window: most recent residuals used.
        min_residuals: fewer known residuals give NaN bounds.

    Returns:
        Per level, arrays ``(q_lo, q_hi)`` aligned with ``origins``.
    """
    s = np.asarray(scores, dtype=np.float64)
    o = np.asarray(origins, dtype=np.int64)
    if s.shape != o.shape:
        raise ValueError("scores and origins must align")
    if o.size > 1 and (np.diff(o) <= 0).any():
        raise ValueError("origins must be strictly ascending")
    lvls = _check_levels(levels)
    known = np.isfinite(s)
    k_scores = s[known]
    available = known_counts(o, known, horizon)
    out = {lv: (np.full(o.size, np.nan), np.full(o.size, np.nan)) for lv in lvls}
    last_count = -1
    cache: dict[float, tuple[float, float]] = {}
    for i, count in enumerate(available.tolist()):
        if count < min_residuals:
            continue
        if count != last_count:
            chunk = k_scores[max(0, count - window) : count]
            cache = {lv: conformal_bounds(chunk, lv) for lv in lvls}
            last_count = count
        for lv in lvls:
            out[lv][0][i], out[lv][1][i] = cache[lv]
    return out


@dataclass
class ConformalCalibrator:
    """Rolling per-horizon residual store that turns point forecasts into intervals.

    Attributes:
        horizons: horizons it calibrates.
        levels: nominal coverages.
        window: residuals kept per horizon (the most recent), at least.
        min_residuals: fewer residuals give NaN bounds, at least.
        windows_per_horizon: a horizon ``h`` keeps ``max(window, windows_per_horizon * h)``
            residuals, so long horizons hold enough independent windows.
        min_windows: a horizon ``h`` needs ``max(min_residuals, min_windows * h)`` residuals.
        volatility_scaled: residuals are stored divided by ``sigma_h * sqrt(h)``.
        ewma_lambda: decay of the EWMA volatility used for scaling.
        long_run_lambda: decay of the long-run EWMA that ``sigma_h`` reverts to (None: none).
        scores: per horizon, the stored residual scores, oldest first.
    """

    horizons: tuple[int, ...]
    levels: tuple[float, ...] = DEFAULT_LEVELS
    window: int = 500
    min_residuals: int = 50
    windows_per_horizon: int = 50
    min_windows: int = 10
    volatility_scaled: bool = False
    ewma_lambda: float = 0.94
    long_run_lambda: float | None = 0.995
    scores: dict[int, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.horizons = tuple(sorted(int(h) for h in self.horizons))
        self.levels = _check_levels(self.levels)
        if self.window < 1 or self.min_residuals < 1:
            raise ValueError("window and min_residuals must be >= 1")
        if self.windows_per_horizon < 0 or self.min_windows < 0:
            raise ValueError("windows_per_horizon and min_windows must be >= 0")
        for h in self.horizons:
            self.scores.setdefault(h, np.empty(0))

    def window_for(self, horizon: int) -> int:
        """Residuals kept for a horizon: enough for ``windows_per_horizon`` independent ones."""
        return max(self.window, self.windows_per_horizon * horizon)

    def min_residuals_for(self, horizon: int) -> int:
        """Residuals a horizon needs before it gives intervals."""
        return max(self.min_residuals, self.min_windows * horizon)

    def sigma(self, log_price: npt.ArrayLike, horizon: int) -> FloatArray | None:
        """The volatility this calibrator scales a horizon by, at every row (None: unscaled).

        The backtest and serving both call this, so stored scores and new intervals agree.
        """
        if not self.volatility_scaled:
            return None
        return horizon_volatility(log_price, horizon, self.ewma_lambda, self.long_run_lambda)

    def _scale(self, horizon: int, sigma: npt.ArrayLike | None, size: int) -> FloatArray:
        """Per-row divisor of residuals: ``sigma * sqrt(h)`` when scaled, else 1."""
        if not self.volatility_scaled:
            return np.ones(size)
        if sigma is None:
            raise ValueError("volatility-scaled intervals need sigma at the origin")
        sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (size,))
        return np.asarray(sig * math.sqrt(horizon), dtype=np.float64)

    def update(
        self, horizon: int, residuals: npt.ArrayLike, sigma: npt.ArrayLike | None = None
    ) -> None:
        """Add out-of-sample log-space residuals of one horizon, oldest first.

        Args:
            horizon: the horizon of the residuals.
            residuals: ``actual - predicted`` log returns (NaN skipped).
            sigma: ``sigma(log_price, horizon)`` at each residual's origin (needed when scaled).
        """
        if horizon not in self.scores:
            raise ValueError(f"horizon {horizon} not in {self.horizons}")
        r = np.atleast_1d(np.asarray(residuals, dtype=np.float64))
        s = r / self._scale(horizon, sigma, r.size)
        s = s[np.isfinite(s)]
        self.scores[horizon] = np.concatenate([self.scores[horizon], s])[
            -self.window_for(horizon) :
        ]

    def bounds(self, horizon: int, level: float) -> tuple[float, float]:
        """Score quantiles ``(q_lo, q_hi)`` for one horizon and level; NaN if too few residuals."""
        stored = self.scores[horizon]
        if stored.size < self.min_residuals_for(horizon):
            return float("nan"), float("nan")
        return conformal_bounds(stored, level)

    def interval(
        self,
        horizon: int,
        predicted_log_return: npt.ArrayLike,
        sigma: npt.ArrayLike | None = None,
    ) -> dict[float, tuple[FloatArray, FloatArray]]:
        """Lower and upper log-return bounds around predictions, per level.

        Args:
            horizon: forecast horizon.
            predicted_log_return: point forecasts (log returns).
            sigma: ``sigma(log_price, horizon)`` at the origin(s) (needed when scaled).

        Returns:
            Per level, ``(lower, upper)`` log returns; prices are ``exp(log_price + bound)``.
        """
        pred = np.atleast_1d(np.asarray(predicted_log_return, dtype=np.float64))
        scale = self._scale(horizon, sigma, pred.size)
        out: dict[float, tuple[FloatArray, FloatArray]] = {}
        for level in self.levels:
            lo, hi = self.bounds(horizon, level)
            out[level] = (pred + scale * lo, pred + scale * hi)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state for the model registry."""
        return {
            "horizons": list(self.horizons),
            "levels": list(self.levels),
            "window": self.window,
            "min_residuals": self.min_residuals,
            "windows_per_horizon": self.windows_per_horizon,
            "min_windows": self.min_windows,
            "volatility_scaled": self.volatility_scaled,
            "ewma_lambda": self.ewma_lambda,
            "long_run_lambda": self.long_run_lambda,
            "scores": {str(h): self.scores[h].tolist() for h in self.horizons},
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ConformalCalibrator:
        """Rebuild a calibrator saved with ``to_dict``.

        State saved before horizon-counted windows and long-run reversion existed lacks their
        keys; it is rebuilt as it was made (fixed window, short EWMA only), since its stored
        scores were scaled that way.
        """
        raw_scores = payload.get("scores", {})
        long_run = payload.get("long_run_lambda")
        return cls(
            horizons=tuple(int(h) for h in payload["horizons"]),
            levels=tuple(float(x) for x in payload["levels"]),
            window=int(payload["window"]),
            min_residuals=int(payload["min_residuals"]),
            windows_per_horizon=int(payload.get("windows_per_horizon", 0)),
            min_windows=int(payload.get("min_windows", 0)),
            volatility_scaled=bool(payload["volatility_scaled"]),
            ewma_lambda=float(payload["ewma_lambda"]),
            long_run_lambda=None if long_run is None else float(long_run),
            scores={int(h): np.asarray(v, dtype=np.float64) for h, v in raw_scores.items()},
        )


def intervals_for_origins(
    calibrator: ConformalCalibrator,
    horizon: int,
    predicted_log_return: npt.ArrayLike,
    log_price: npt.ArrayLike,
    origins: IntArray,
) -> dict[float, tuple[FloatArray, FloatArray]]:
    """Intervals around forecasts from given origins, with sigma taken from the series itself.

    Args:
        calibrator: a calibrated store.
        horizon: forecast horizon.
        predicted_log_return: one forecast per origin.
        log_price: the series' log prices (sigma reads rows up to each origin only).
        origins: origin rows.

    Returns:
        Per level, ``(lower, upper)`` log returns.
    """
    sigma = calibrator.sigma(log_price, horizon)
    at_origins = None if sigma is None else sigma[np.asarray(origins)]
    return calibrator.interval(horizon, predicted_log_return, at_origins)
