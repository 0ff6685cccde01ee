"""The state an interval method serves with, stored with a model version: no fitting when a
forecast is issued, only a volatility filter over the series and the stored quantiles.

``serving_model`` turns a method's walk-forward run into its state at the last row: the scale
rule (the baseline's expanding volatility, the EWMA forecast, or the walk-forward's last GARCH
fit, filtered on to the newest row), the shape (normal, Student-t, or the last window of
standardised residuals) and, for ``+aci``, each level's corrected miscoverage after every
outcome known at training (served as stored: it adapts again at the next training).
``IntervalModel.predictive`` gives the distribution at the newest row around a new forecast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryptopredict.forecasting.forecasters.base import FloatArray
from cryptopredict.forecasting.interval_methods import (
    Adaptive,
    AdaptiveShape,
    BaselineConformal,
    EwmaConformal,
    GarchConformal,
    GarchParams,
    GarchT,
    IntervalInputs,
    IntervalMethod,
    NaiveGaussian,
    adaptive_alphas,
    corrected_probs,
    expanding_std,
    garch_path,
    horizon_variance,
    next_variance,
    one_step_returns,
)
from cryptopredict.forecasting.intervals import horizon_volatility
from cryptopredict.forecasting.predictive import (
    FAN_PROBS,
    Empirical,
    Normal,
    Predictive,
    Shape,
    StudentT,
)

#: Central levels whose ACI correction is kept: the served bounds and the fan's quantiles.
SERVED_LEVELS: tuple[float, ...] = tuple(
    sorted({0.8, 0.95, *(round(abs(1.0 - 2.0 * p), 6) for p in FAN_PROBS if p != 0.5)})
)


class NotServableError(ValueError):
    """The method has too little history to serve (the baseline serves instead)."""


@dataclass(frozen=True)
class IntervalModel:
    """What a version needs to put a method's distribution around a new forecast.

    Attributes:
        method: the method's kind.
        horizon: steps ahead.
        scale: ``{"kind": "expanding"}``, ``{"kind": "ewma", "lambda", "long_run_lambda"}``
            or ``{"kind": "garch", **GarchParams}``.
        shape: ``{"kind": "normal"}``, ``{"kind": "t", "dof"}`` or
            ``{"kind": "empirical", "scores": [...]}``.
        naive_center: the distribution is centred on no change, whatever the point model says
            (the baseline).
        alphas: ``+aci`` only: per central level, the corrected miscoverage to use.
    """

    method: str
    horizon: int
    scale: dict[str, Any]
    shape: dict[str, Any]
    naive_center: bool = False
    alphas: dict[float, float] = field(default_factory=dict)

    def scale_at_end(self, log_price: FloatArray) -> float:
        """The h-step scale at the series' newest row."""
        kind = self.scale["kind"]
        h = self.horizon
        if kind == "expanding":
            return float(expanding_std(one_step_returns(log_price))[-1]) * math.sqrt(h)
        if kind == "ewma":
            lam, long_run = self.scale["lambda"], self.scale["long_run_lambda"]
            return float(horizon_volatility(log_price, h, lam, long_run)[-1]) * math.sqrt(h)
        if kind == "garch":
            params = GarchParams.from_dict(self.scale)
            last = next_variance(one_step_returns(log_price), params)[-1:]
            return math.sqrt(max(float(horizon_variance(last, params, h)[0]), 0.0))
        raise ValueError(f"unknown scale {kind!r}")

    def _shape(self) -> Shape:
        kind = self.shape["kind"]
        if kind == "normal":
            base: Shape = Normal()
        elif kind == "t":
            base = StudentT(np.array([float(self.shape["dof"])]))
        elif kind == "empirical":
            scores = np.asarray(self.shape["scores"], dtype=np.float64)
            base = Empirical(scores, np.array([0]), np.array([scores.size]))
        else:
            raise ValueError(f"unknown shape {kind!r}")
        if not self.alphas:
            return base
        return _FixedLevels(base, dict(self.alphas))

    def predictive(self, log_price: FloatArray, center: float) -> Predictive:
        """The h-step log return's distribution at the newest row of ``log_price``."""
        middle = 0.0 if self.naive_center else center
        scale = self.scale_at_end(log_price)
        return Predictive(np.array([middle]), np.array([scale]), self._shape())

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "horizon": self.horizon,
            "scale": dict(self.scale),
            "shape": dict(self.shape),
            "naive_center": self.naive_center,
            "alphas": {str(level): alpha for level, alpha in self.alphas.items()},
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> IntervalModel:
        return cls(
            method=str(payload["method"]),
            horizon=int(payload["horizon"]),
            scale=dict(payload["scale"]),
            shape=dict(payload["shape"]),
            naive_center=bool(payload.get("naive_center", False)),
            alphas={float(k): float(v) for k, v in dict(payload.get("alphas", {})).items()},
        )


@dataclass(frozen=True)
class _FixedLevels:
    """A shape whose central intervals use stored corrected miscoverages (served ACI)."""

    inner: Shape
    alphas: dict[float, float]

    def ppf(self, probs: FloatArray) -> FloatArray:
        return self.inner.ppf(
            corrected_probs(probs, lambda level: self.alphas.get(round(level, 6)))
        )

    def sf(self, z: FloatArray) -> FloatArray:
        return self.inner.sf(z)


def _scores_at_end(predictive: Predictive, minimum: int, window: int) -> list[float]:
    """The last standardised residuals a conformal method's walk-forward used, all known."""
    shape = predictive.shape
    if isinstance(shape, AdaptiveShape):
        shape = shape.inner
    if not isinstance(shape, Empirical):
        raise TypeError("not a conformal method")
    scores = shape.scores[-window:]
    if scores.size < minimum:
        raise NotServableError(f"{scores.size} residuals, fewer than the {minimum} needed")
    return [float(s) for s in scores]


def serving_model(
    method: IntervalMethod, inputs: IntervalInputs, horizon: int, run: Predictive
) -> IntervalModel:
    """``method``'s state at the series' last row, from its walk-forward ``run`` at
    ``horizon`` on ``inputs`` (GARCH keeps the run's last fit).

    Raises:
        NotServableError: too little history for the method.
        TypeError: a method this module does not know how to serve.
    """
    if isinstance(method, Adaptive):
        inner = serving_model(method.inner, inputs, horizon, run)
        shape = run.shape
        if not isinstance(shape, AdaptiveShape):
            raise TypeError("an adaptive run without its adaptive shape")
        last_row = inputs.log_price.size - 1
        origins = np.append(inputs.origins, last_row).astype(np.int64)
        pit = np.append(shape.pit, np.nan)
        alphas = {
            level: float(adaptive_alphas(pit, origins, horizon, 1.0 - level, method.gamma)[-1])
            for level in SERVED_LEVELS
        }
        return IntervalModel(
            method.kind, horizon, inner.scale, inner.shape, inner.naive_center, alphas
        )
    if isinstance(method, NaiveGaussian):
        return IntervalModel(method.kind, horizon, {"kind": "expanding"}, {"kind": "normal"}, True)
    if isinstance(method, BaselineConformal | EwmaConformal):
        windows = method.windows
        scores = _scores_at_end(run, windows.minimum(horizon), windows.size(horizon))
        scale: dict[str, Any] = {"kind": "expanding"}
        if isinstance(method, EwmaConformal):
            scale = {
                "kind": "ewma",
                "lambda": method.ewma_lambda,
                "long_run_lambda": method.long_run_lambda,
            }
        return IntervalModel(method.kind, horizon, scale, {"kind": "empirical", "scores": scores})
    if isinstance(method, GarchT | GarchConformal):
        # The walk-forward's last fit, the one its scores were standardised by and its
        # figures measured with; the filter runs on to the newest row when served.
        path = garch_path(inputs.log_price, inputs.origins, method.refit_every, method.min_returns)
        if not path.blocks:
            raise NotServableError(f"no GARCH fit: fewer than {method.min_returns} returns")
        params = path.blocks[-1][1]
        garch_scale = {"kind": "garch", **params.to_dict()}
        if isinstance(method, GarchT):
            return IntervalModel(
                method.kind, horizon, garch_scale, {"kind": "t", "dof": params.dof}
            )
        windows = method.windows
        scores = _scores_at_end(run, windows.minimum(horizon), windows.size(horizon))
        return IntervalModel(
            method.kind, horizon, garch_scale, {"kind": "empirical", "scores": scores}
        )
    raise TypeError(f"no serving state for {method.kind}")
