"""Predictive distributions of h-step log returns, one per forecast origin.

Every interval method gives a location-scale distribution per origin: ``center + scale * Z``,
with ``Z`` standard normal, a standardised Student-t (unit variance), or the empirical
distribution of past standardised residuals (conformal). Bounds at any level, a quantile fan
and the probability that the price ends higher all come from the same object, so they agree.
A NaN scale means the method had no distribution at that origin (too little history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import stats

from cryptopredict.forecasting.forecasters.base import FloatArray
from cryptopredict.forecasting.intervals import conformal_positions

#: The quantiles served with every forecast for fan charts.
FAN_PROBS: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


def central_probs(level: float) -> tuple[float, float]:
    """The lower and upper quantile levels of a central interval: 0.8 -> (0.1, 0.9)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    alpha = 1.0 - level
    return alpha / 2.0, 1.0 - alpha / 2.0


class Shape(Protocol):
    """A standardised distribution, possibly different at each origin."""

    def ppf(self, probs: FloatArray) -> FloatArray:
        """Quantiles at ``probs`` of shape ``(n, k)`` (one row per origin)."""
        ...

    def sf(self, z: FloatArray) -> FloatArray:
        """``P(Z > z)`` per origin, ``z`` of shape ``(n,)``."""
        ...


@dataclass(frozen=True)
class Normal:
    """Standard normal at every origin."""

    def ppf(self, probs: FloatArray) -> FloatArray:
        return np.asarray(stats.norm.ppf(probs), dtype=np.float64)

    def sf(self, z: FloatArray) -> FloatArray:
        return np.asarray(stats.norm.sf(z), dtype=np.float64)


@dataclass(frozen=True)
class StudentT:
    """Student-t scaled to unit variance, its degrees of freedom per origin (> 2)."""

    dof: FloatArray

    def _unit(self) -> FloatArray:
        return np.sqrt((self.dof - 2.0) / self.dof)

    def ppf(self, probs: FloatArray) -> FloatArray:
        dof = self.dof[:, None]
        return np.asarray(stats.t.ppf(probs, dof) * self._unit()[:, None], dtype=np.float64)

    def sf(self, z: FloatArray) -> FloatArray:
        return np.asarray(stats.t.sf(z / self._unit(), self.dof), dtype=np.float64)


@dataclass(frozen=True)
class Empirical:
    """Past standardised residuals known at each origin: origin ``i`` reads
    ``scores[start[i]:stop[i]]`` (an empty window gives NaN).

    Quantiles use the finite-sample conformal ranks: ``floor((m + 1) p)`` below the median and
    ``ceil((m + 1) p)`` above it (the extreme score when the window is too short for the rank),
    so a central interval at level ``1 - alpha`` covers at least that on exchangeable scores.
    """

    scores: FloatArray
    start: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]
    _sorted: list[FloatArray] = field(default_factory=list, compare=False, repr=False)

    def _windows(self) -> FloatArray:
        """Every origin's window, sorted, one row each, padded with NaN after its scores
        (built once: consecutive origins mostly share their window)."""
        if not self._sorted:
            sizes = np.clip(self.stop - self.start, 0, None)
            rows = np.full((sizes.size, int(sizes.max(initial=0))), np.nan)
            previous: tuple[int, int] | None = None
            for i, (a, b) in enumerate(zip(self.start.tolist(), self.stop.tolist(), strict=True)):
                if b <= a:
                    continue
                if (a, b) != previous:
                    window = np.sort(self.scores[a:b])
                    previous = (a, b)
                rows[i, : b - a] = window
            self._sorted.append(rows)
        return self._sorted[0]

    def ppf(self, probs: FloatArray) -> FloatArray:
        p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        rows = self._windows()
        sizes = np.clip(self.stop - self.start, 0, None)[:, None]
        low, high = conformal_positions(sizes, p)
        if rows.shape[1] == 0:
            return np.full(low.shape, np.nan)
        low, high = np.minimum(low, rows.shape[1] - 1), np.minimum(high, rows.shape[1] - 1)
        out = (np.take_along_axis(rows, low, axis=1) + np.take_along_axis(rows, high, axis=1)) / 2
        out[np.broadcast_to(sizes == 0, out.shape)] = np.nan
        return np.asarray(out, dtype=np.float64)

    def sf(self, z: FloatArray) -> FloatArray:
        rows = self._windows()
        sizes = np.clip(self.stop - self.start, 0, None)
        with np.errstate(invalid="ignore"):
            above = (rows > np.asarray(z, dtype=np.float64)[:, None]).sum(axis=1)
            out = np.where((sizes > 0) & np.isfinite(z), above / np.maximum(sizes, 1), np.nan)
        return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class Predictive:
    """``center + scale * Z`` per origin: the h-step log return's distribution.

    Attributes:
        center: location per origin (the point forecast's log return, or 0 for naive).
        scale: spread per origin; NaN where the method gives no distribution.
        shape: the standardised distribution ``Z``.
    """

    center: FloatArray
    scale: FloatArray
    shape: Shape

    @property
    def available(self) -> npt.NDArray[np.bool_]:
        """Origins with a distribution."""
        return np.isfinite(self.scale) & np.isfinite(self.center)

    def quantiles(self, probs: Sequence[float] | FloatArray) -> FloatArray:
        """Log-return quantiles, ``(n, k)``; ``probs`` is one row for all origins or one per
        origin."""
        p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        if p.shape[0] == 1:
            p = np.broadcast_to(p, (self.center.size, p.shape[1]))
        z = self.shape.ppf(np.ascontiguousarray(p))
        q = np.asarray(self.center[:, None] + self.scale[:, None] * z, dtype=np.float64)
        # Levels corrected one by one (ACI) could cross: keep every row's quantiles in order.
        order = np.argsort(p[0], kind="stable")
        q[:, order] = np.maximum.accumulate(q[:, order], axis=1)
        return q

    def bounds(self, level: float) -> tuple[FloatArray, FloatArray]:
        """Lower and upper log-return bounds of the central interval at ``level``."""
        q = self.quantiles(central_probs(level))
        return q[:, 0], q[:, 1]

    def prob_up(self) -> FloatArray:
        """``P(log return > 0)`` per origin: the price ends higher after the horizon."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(self.scale > 0, -self.center / self.scale, np.nan)
        return self.shape.sf(z)
