"""Interval methods: each turns a point forecast into a predictive distribution per origin,
walk-forward, from the past only.

- ``baseline``: naive on log prices with Gaussian bounds, the free interval every other method
  must beat. At origin ``t``, ``sigma_1`` is the standard deviation of all one-step log returns
  up to ``t`` and the h-step distribution is ``N(0, sigma_1^2 h)``, whatever the point model.
- ``conformal``: today's method: around the point forecast, the EWMA volatility forecast for
  the horizon times ``sqrt(h)`` scales the finite-sample conformal quantiles of past
  standardised residuals (``intervals.py``).
- ``garch_t``: GARCH(1,1) with Student-t shocks on one-step log returns (the ``arch``
  package), refitted every ``refit_every`` origins on the returns up to the block's first
  origin; the h-step variance is the sum of the conditional variance forecasts over the
  horizon; bounds from the unit-variance t of the fitted degrees of freedom.
- ``garch_conformal``: the GARCH h-step standard deviation scales the conformal quantiles of
  past residuals standardised by it (filtered historical simulation of h-step returns).
- ``<method>+aci``: any method wearing adaptive conformal inference (``Adaptive``), which
  corrects each level's coverage online as outcomes become known.

Origin ``t`` never reads a row after ``t``: volatility filters run forward, a residual of
origin ``s`` is used only once its target row ``s + h`` is at or before ``t``.
"""

from __future__ import annotations

import hashlib
import math
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from scipy.signal import lfilter

from cryptopredict.forecasting.backtest import LookAheadError, unchanged
from cryptopredict.forecasting.forecasters.base import FloatArray, IntArray
from cryptopredict.forecasting.intervals import horizon_volatility, known_counts
from cryptopredict.forecasting.predictive import Empirical, Normal, Predictive, Shape, StudentT

BASELINE = "baseline"


@dataclass(frozen=True)
class IntervalInputs:
    """What every interval method sees in a walk-forward run.

    Attributes:
        log_price: the series' log prices (an origin reads rows up to itself only).
        origins: forecast origin rows, strictly ascending.
        centers: per horizon, the point forecast's log return at each origin.
    """

    log_price: FloatArray
    origins: IntArray
    centers: Mapping[int, FloatArray]

    def __post_init__(self) -> None:
        if self.origins.size > 1 and (np.diff(self.origins) <= 0).any():
            raise ValueError("origins must be strictly ascending")
        for h, center in self.centers.items():
            if h < 1 or center.shape != self.origins.shape:
                raise ValueError(f"the centers of horizon {h} do not align with the origins")

    @property
    def horizons(self) -> tuple[int, ...]:
        return tuple(sorted(self.centers))

    def actual(self, horizon: int) -> FloatArray:
        """The realised h-step log return at each origin; NaN past the end of the series."""
        n = self.log_price.size
        target = self.origins + horizon
        out = np.full(self.origins.size, np.nan)
        inside = target < n
        out[inside] = self.log_price[target[inside]] - self.log_price[self.origins[inside]]
        return out


class IntervalMethod(Protocol):
    """A way to put a distribution around point forecasts, walk-forward."""

    @property
    def kind(self) -> str:
        """The method's name in reports and with a model version."""
        ...

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        """Per horizon, the distribution at every origin from rows up to that origin."""
        ...


def one_step_returns(log_price: FloatArray) -> FloatArray:
    """``r[t] = log_price[t] - log_price[t - 1]`` with ``r[0] = NaN``."""
    out = np.full(log_price.size, np.nan)
    out[1:] = np.diff(log_price)
    return out


def expanding_std(returns: FloatArray, min_count: int = 2) -> FloatArray:
    """Standard deviation (ddof 1) of the finite returns up to and including each row."""
    finite = np.isfinite(returns)
    x = np.where(finite, returns, 0.0)
    count = np.cumsum(finite)
    total = np.cumsum(x)
    total_sq = np.cumsum(x * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (total_sq - total * total / count) / (count - 1)
    var = np.where(count >= max(min_count, 2), np.clip(var, 0.0, None), np.nan)
    return np.asarray(np.sqrt(var), dtype=np.float64)


def empirical_windows(
    scores: FloatArray, origins: IntArray, horizon: int, window: int, min_count: int
) -> Empirical:
    """The conformal windows of standardised residuals known at each origin.

    A residual of origin ``s`` is known at origin ``t`` when ``s + horizon <= t``; each origin
    reads the last ``window`` known ones, or none when fewer than ``min_count`` are known.
    """
    known = np.isfinite(scores)
    known_scores = scores[known]
    count = known_counts(origins, known, horizon)
    start = np.maximum(count - window, 0)
    stop = np.where(count >= min_count, count, start)
    return Empirical(known_scores, start, stop)


@dataclass(frozen=True)
class NaiveGaussian:
    """The baseline: naive on log prices, Gaussian with the expanding one-step volatility."""

    kind: ClassVar[str] = BASELINE
    min_returns: int = 2

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        sigma = expanding_std(one_step_returns(inputs.log_price), self.min_returns)
        at_origin = sigma[inputs.origins]
        zero = np.zeros(inputs.origins.size)
        return {h: Predictive(zero, at_origin * math.sqrt(h), Normal()) for h in inputs.horizons}


@dataclass(frozen=True)
class ConformalWindows:
    """How many past residuals a conformal method reads at horizon ``h``: the last
    ``max(window, windows_per_horizon * h)``, from ``max(min_residuals, min_windows * h)`` on
    (h-step residuals overlap, so long horizons need more of them; see ``intervals.py``)."""

    window: int = 500
    min_residuals: int = 50
    windows_per_horizon: int = 50
    min_windows: int = 10

    def size(self, horizon: int) -> int:
        return max(self.window, self.windows_per_horizon * horizon)

    def minimum(self, horizon: int) -> int:
        return max(self.min_residuals, self.min_windows * horizon)


def _calibrated(
    inputs: IntervalInputs, horizon: int, scale: FloatArray, windows: ConformalWindows
) -> Predictive:
    """Around the point forecast, ``scale`` times the conformal quantiles of past residuals
    standardised by the scale their own origin had."""
    center = np.asarray(inputs.centers[horizon], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = (inputs.actual(horizon) - center) / scale
    scores[~np.isfinite(scores)] = np.nan
    shape = empirical_windows(
        scores, inputs.origins, horizon, windows.size(horizon), windows.minimum(horizon)
    )
    empty = shape.stop <= shape.start
    return Predictive(center, np.where(empty, np.nan, scale), shape)


@dataclass(frozen=True)
class EwmaConformal:
    """Today's method: EWMA volatility-scaled split conformal (``intervals.py``)."""

    kind: ClassVar[str] = "conformal"
    windows: ConformalWindows = ConformalWindows()
    ewma_lambda: float = 0.94
    long_run_lambda: float | None = 0.995

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        out = {}
        for h in inputs.horizons:
            sigma = horizon_volatility(inputs.log_price, h, self.ewma_lambda, self.long_run_lambda)
            out[h] = _calibrated(inputs, h, sigma[inputs.origins] * math.sqrt(h), self.windows)
        return out


@dataclass(frozen=True)
class BaselineConformal:
    """The baseline's scale (expanding one-step volatility times ``sqrt(h)``) around the point
    forecast, with conformal quantiles of past residuals in place of the Gaussian's: the free
    interval, calibrated (the Gaussian over-covers fat-tailed returns at 80 %)."""

    kind: ClassVar[str] = "baseline_conformal"
    windows: ConformalWindows = ConformalWindows()

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        sigma = expanding_std(one_step_returns(inputs.log_price))[inputs.origins]
        return {
            h: _calibrated(inputs, h, sigma * math.sqrt(h), self.windows) for h in inputs.horizons
        }


@dataclass(frozen=True)
class GarchParams:
    """A fitted GARCH(1,1)-t on one-step log returns (in log-return units, not percent)."""

    omega: float
    alpha: float
    beta: float
    dof: float
    #: The variance forecast for the row after the first return, where the filter starts.
    start_variance: float

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    def to_dict(self) -> dict[str, float]:
        return {
            "omega": self.omega,
            "alpha": self.alpha,
            "beta": self.beta,
            "dof": self.dof,
            "start_variance": self.start_variance,
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> GarchParams:
        return cls(**{k: float(payload[k]) for k in cls.__dataclass_fields__})


#: arch fits percent returns: log returns times this are well scaled for its optimiser.
_PERCENT = 100.0


def fit_garch(returns: FloatArray, start: GarchParams | None = None) -> GarchParams:
    """Fit GARCH(1,1) with Student-t shocks and zero mean to one-step log returns.

    Args:
        returns: finite one-step log returns, oldest first.
        start: an earlier fit to start the optimiser from (refits converge faster).
    """
    from arch import arch_model  # a heavy import, needed only when fitting

    x = returns[np.isfinite(returns)] * _PERCENT
    model = arch_model(x, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    starting = None
    if start is not None:
        starting = np.array(
            [start.omega * _PERCENT**2, start.alpha, start.beta, max(start.dof, 2.1)]
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes; a poor fit loses on the backtest
        fitted = model.fit(disp="off", show_warning=False, starting_values=starting)
    omega, alpha, beta, dof = (float(v) for v in fitted.params.to_numpy())
    return GarchParams(
        omega=omega / _PERCENT**2,
        alpha=alpha,
        beta=beta,
        dof=max(dof, 2.05),
        start_variance=float(np.var(x)) / _PERCENT**2,
    )


def next_variance(returns: FloatArray, params: GarchParams) -> FloatArray:
    """The one-step-ahead conditional variance known at each row: ``v[t]`` is the forecast of
    ``r[t + 1]``'s variance from returns up to ``r[t]`` (``v[0]`` the start variance)."""
    r = np.nan_to_num(returns, nan=0.0)
    drive = params.omega + params.alpha * r[1:] ** 2
    out = np.empty(returns.size)
    out[0] = params.start_variance
    if returns.size > 1:
        filtered, _ = lfilter(
            [1.0], [1.0, -params.beta], drive, zi=[params.beta * params.start_variance]
        )
        out[1:] = filtered
    return out


def horizon_variance(next_var: FloatArray, params: GarchParams, horizon: int) -> FloatArray:
    """Variance of the h-step log return: the sum of the conditional variance forecasts for
    the next ``horizon`` steps, reverting geometrically to the unconditional level."""
    phi = params.persistence
    if horizon == 1:
        return next_var
    if phi < 1.0 - 1e-9:
        long_run = params.omega / (1.0 - phi)
        decay = (1.0 - phi**horizon) / (1.0 - phi)
        return np.asarray(horizon * long_run + (next_var - long_run) * decay, dtype=np.float64)
    # Integrated (or explosive) fit: the variance grows by omega each step.
    return np.asarray(
        horizon * next_var + params.omega * horizon * (horizon - 1) / 2.0, dtype=np.float64
    )


@dataclass(frozen=True)
class GarchPath:
    """Walk-forward GARCH fits: which origins each fit serves, and every origin's next-step
    variance from that fit."""

    blocks: tuple[tuple[slice, GarchParams], ...]
    next_var: FloatArray

    def scale(self, horizon: int) -> FloatArray:
        """The h-step standard deviation at each origin (NaN before the first fit)."""
        out = np.full(self.next_var.size, np.nan)
        for block, params in self.blocks:
            variance = horizon_variance(self.next_var[block], params, horizon)
            out[block] = np.sqrt(np.clip(variance, 0.0, None))
        return out

    def dof(self) -> FloatArray:
        out = np.full(self.next_var.size, np.nan)
        for block, params in self.blocks:
            out[block] = params.dof
        return out


_PATHS: dict[tuple[Any, ...], GarchPath] = {}
#: Paths kept: a coin's full run and its audit's shorter one, for both GARCH methods.
_PATHS_KEPT = 4
#: Guards ``_PATHS``: trainings may run in threads (the in-process scheduler, thread pools).
_PATHS_LOCK = threading.Lock()


def garch_path(
    log_price: FloatArray, origins: IntArray, refit_every: int, min_returns: int
) -> GarchPath:
    """Fit on the returns up to each block's first origin, and filter every origin of the
    block with that fit; blocks with fewer than ``min_returns`` returns get no fit.

    Every GARCH method reads the same path, so the last few are kept (fitting is the cost)."""
    key = (
        hashlib.blake2b(log_price.tobytes() + origins.tobytes(), digest_size=16).digest(),
        refit_every,
        min_returns,
    )
    with _PATHS_LOCK:
        cached = _PATHS.get(key)
    if cached is not None:
        return cached
    returns = one_step_returns(log_price)
    blocks: list[tuple[slice, GarchParams]] = []
    next_var = np.full(origins.size, np.nan)
    previous: GarchParams | None = None
    for first in range(0, origins.size, refit_every):
        block = slice(first, min(first + refit_every, origins.size))
        known = returns[: int(origins[first]) + 1]
        usable = known[np.isfinite(known)]
        if usable.size < min_returns:
            continue
        previous = fit_garch(usable, previous)
        last = int(origins[block.stop - 1])
        next_var[block] = next_variance(returns[: last + 1], previous)[origins[block]]
        blocks.append((block, previous))
    path = GarchPath(tuple(blocks), next_var)
    with _PATHS_LOCK:
        while len(_PATHS) >= _PATHS_KEPT:
            del _PATHS[next(iter(_PATHS))]
        _PATHS[key] = path
    return path


@dataclass(frozen=True)
class GarchT:
    """GARCH(1,1)-t h-step intervals around the point forecast."""

    kind: ClassVar[str] = "garch_t"
    refit_every: int = 30
    min_returns: int = 250

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        path = garch_path(inputs.log_price, inputs.origins, self.refit_every, self.min_returns)
        shape = StudentT(np.nan_to_num(path.dof(), nan=30.0))
        return {
            h: Predictive(np.asarray(inputs.centers[h], dtype=np.float64), path.scale(h), shape)
            for h in inputs.horizons
        }


@dataclass(frozen=True)
class GarchConformal:
    """GARCH h-step scale with conformal quantiles of GARCH-standardised h-step residuals."""

    kind: ClassVar[str] = "garch_conformal"
    refit_every: int = 30
    min_returns: int = 250
    windows: ConformalWindows = ConformalWindows()

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        path = garch_path(inputs.log_price, inputs.origins, self.refit_every, self.min_returns)
        return {h: _calibrated(inputs, h, path.scale(h), self.windows) for h in inputs.horizons}


@dataclass(frozen=True)
class Adaptive:
    """Adaptive conformal inference (Gibbs & Candès 2021) worn by any method: each central
    level's miscoverage ``alpha_t`` moves by ``gamma * (alpha - miss)`` with every outcome as
    it becomes known (h steps after its origin), widening after misses and narrowing after
    hits, so coverage holds when the distribution drifts."""

    inner: IntervalMethod
    gamma: float = 0.005

    @property
    def kind(self) -> str:
        return f"{self.inner.kind}+aci"

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        out = {}
        for h, predictive in self.inner.walk_forward(inputs).items():
            with np.errstate(invalid="ignore", divide="ignore"):
                z = (inputs.actual(h) - predictive.center) / predictive.scale
            pit = 1.0 - predictive.shape.sf(np.where(np.isfinite(z), z, 0.0))
            pit[~np.isfinite(z)] = np.nan
            shape = AdaptiveShape(predictive.shape, pit, inputs.origins, h, self.gamma)
            out[h] = Predictive(predictive.center, predictive.scale, shape)
        return out


@dataclass(frozen=True)
class AdaptiveShape:
    """The inner shape at per-origin levels corrected online (see ``Adaptive``).

    Attributes:
        inner: the wrapped shape.
        pit: each origin's outcome as a probability under the inner distribution (NaN while
            unknown); an outcome is inside the central interval at ``alpha`` when
            ``alpha / 2 <= pit <= 1 - alpha / 2``.
        origins: origin rows; an outcome is known ``horizon`` rows after its origin.
        horizon: steps ahead.
        gamma: the step size of the correction.
    """

    inner: Shape
    pit: FloatArray
    origins: IntArray
    horizon: int
    gamma: float
    _alphas: dict[float, FloatArray] = field(default_factory=dict, compare=False, repr=False)

    def alphas(self, level: float) -> FloatArray:
        """The corrected miscoverage of the central ``level`` interval at each origin."""
        key = round(level, 9)
        if key not in self._alphas:
            self._alphas[key] = adaptive_alphas(
                self.pit, self.origins, self.horizon, 1.0 - level, self.gamma
            )
        return self._alphas[key]

    def ppf(self, probs: FloatArray) -> FloatArray:
        return self.inner.ppf(corrected_probs(probs, self.alphas))

    def sf(self, z: FloatArray) -> FloatArray:
        return self.inner.sf(z)


def corrected_probs(
    probs: FloatArray, alpha_of: Callable[[float], FloatArray | float | None]
) -> FloatArray:
    """Each column's quantile level moved to its central level's corrected miscoverage:
    ``p < 0.5`` becomes ``alpha / 2``, ``p > 0.5`` becomes ``1 - alpha / 2``, with ``alpha``
    from ``alpha_of(level)`` for the level ``|1 - 2p|`` (None: left as asked). The median,
    and columns already set per origin, are left as asked."""
    p = np.array(probs, dtype=np.float64)
    for j in range(p.shape[1]):
        column = p[:, j]
        first = float(column[0])
        if first == 0.5 or not np.all(column == first):
            continue
        alpha = alpha_of(abs(1.0 - 2.0 * first))
        if alpha is None:
            continue
        p[:, j] = np.asarray(alpha) / 2.0 if first < 0.5 else 1.0 - np.asarray(alpha) / 2.0
    return p


def adaptive_alphas(
    pit: FloatArray, origins: IntArray, horizon: int, alpha: float, gamma: float
) -> FloatArray:
    """``alpha_t`` at each origin from the outcomes known there, clipped to (0.001, 0.999)."""
    out = np.empty(origins.size)
    current = alpha
    ready = origins + horizon
    pending = 0  # the next origin whose outcome has not been counted
    for i, origin in enumerate(origins.tolist()):
        while pending < i and ready[pending] <= origin:
            u = pit[pending]
            if np.isfinite(u):
                a = out[pending]
                miss = 0.0 if a / 2.0 <= u <= 1.0 - a / 2.0 else 1.0
                current += gamma * (alpha - miss)
            pending += 1
        out[i] = min(max(current, 0.001), 0.999)
    return out


def default_methods() -> tuple[IntervalMethod, ...]:
    """The methods a backtest compares, the baseline first."""
    return (
        NaiveGaussian(),
        Adaptive(NaiveGaussian()),
        BaselineConformal(),
        EwmaConformal(),
        GarchT(),
        GarchConformal(),
        Adaptive(GarchT()),
        Adaptive(GarchConformal()),
    )


class IntervalLookAheadError(LookAheadError):
    """An interval method's distribution at an origin changed when later rows were withheld."""


def audit_method(
    method: IntervalMethod,
    inputs: IntervalInputs,
    positions: IntArray,
    probs: tuple[float, ...] = (0.025, 0.1, 0.5, 0.9, 0.975),
    tolerance: float = 1e-9,
    full: Mapping[int, Predictive] | None = None,
) -> None:
    """Walk ``method`` forward again on the data as known at some origins (later rows and
    origins removed) and check each of those origins gets the same quantiles: a difference
    means the method read rows after its origin.

    ``full`` is the method's walk-forward on ``inputs`` when already run.

    Raises:
        IntervalLookAheadError: naming the method, horizon and origin.
    """
    full = full if full is not None else method.walk_forward(inputs)
    for pos in positions.tolist():
        origin = int(inputs.origins[pos])
        known = IntervalInputs(
            inputs.log_price[: origin + 1],
            inputs.origins[: pos + 1],
            {h: c[: pos + 1] for h, c in inputs.centers.items()},
        )
        alone = method.walk_forward(known)
        for h, predictive in full.items():
            seen = predictive.quantiles(probs)[pos]
            fresh = alone[h].quantiles(probs)[pos]
            if not unchanged(seen, fresh, tolerance):
                raise IntervalLookAheadError(
                    f"{method.kind} gave h={h} quantiles {seen.tolist()} at origin row {origin} "
                    f"with later rows visible but {fresh.tolist()} without them"
                )
