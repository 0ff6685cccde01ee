"""A statistical model: ARIMA(p, 1, 0) on log prices, i.e. AR(p) on one-step log returns.

Why statsmodels: it is well kept, already a dependency of the forecasting engine and brings
only scipy and patsy, both pure-wheel installs. statsforecast would bring pyarrow (a large
binary) and its AutoARIMA with a seasonal period takes about 10 s per 1,000 points on this
machine, far too slow for a walk-forward backtest that refits many times. Here statsmodels
fits the AR by conditional least squares (``AutoReg``) and chooses the order by an
information criterion (``ar_select_order``): milliseconds for 3,000 daily rows.

Why AR and no MA term: an AR(p) forecast from origin ``t`` depends only on the last ``p``
returns, so the fitted model is conditioned on data up to each origin without refitting, and
the multi-step forecast is affine in those returns. The cumulative ``h``-step forecast is
therefore one matrix product, precomputed per horizon at fit time and vectorised over all
origins at predict time. MA terms would need maximum-likelihood fitting (much slower) and an
innovation recursion over the whole history at predict time.

statsmodels is imported inside ``fit`` only: prediction and loading need nothing but numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Self

import numpy as np

from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
    NotEnoughDataError,
    check_origins,
    resolve_end,
)

MIN_EXTRA_RETURNS = 30
"""Returns needed beyond ``max_lag`` so that even the largest order is estimable."""


def cumulative_weights(const: float, phi: FloatArray, horizons: Sequence[int]) -> FloatArray:
    """Weights ``W`` such that ``[r_t, ..., r_{t-p+1}, 1] @ W`` is each horizon's forecast.

    The AR recursion ``r_{t+1} = c + sum_i phi_i r_{t+1-i}`` is affine in the state of the last
    ``p`` returns; iterating its augmented companion matrix and summing the first rows gives
    the expected cumulative log return over ``h`` steps.

    Args:
        const: the intercept ``c``.
        phi: AR coefficients for lags ``1..p``.
        horizons: ascending horizons in steps.

    Returns:
        ``(p + 1, len(horizons))`` weights; the last row applies to the constant 1.
    """
    p = phi.size
    steps = np.asarray(horizons, dtype=np.float64)
    if p == 0:
        return (const * steps)[None, :]
    companion = np.zeros((p + 1, p + 1), dtype=np.float64)
    companion[0, :p] = phi
    companion[0, p] = const
    if p > 1:
        companion[1:p, : p - 1] = np.eye(p - 1)
    companion[p, p] = 1.0
    weights = np.empty((p + 1, len(horizons)), dtype=np.float64)
    power = np.eye(p + 1)
    total = np.zeros(p + 1, dtype=np.float64)
    wanted = {h: j for j, h in enumerate(horizons)}
    for step in range(1, max(horizons) + 1):
        power = companion @ power
        total = total + power[0]
        if step in wanted:
            weights[:, wanted[step]] = total
    return weights


def is_stationary(phi: FloatArray, *, margin: float = 1e-3) -> bool:
    """Whether every root of the AR polynomial lies outside the unit circle (with a margin)."""
    p = phi.size
    if p == 0:
        return True
    companion = np.zeros((p, p), dtype=np.float64)
    companion[0] = phi
    if p > 1:
        companion[1:, :-1] = np.eye(p - 1)
    return bool(np.abs(np.linalg.eigvals(companion)).max() < 1.0 - margin)


class ArimaForecaster(Forecaster):
    """ARIMA(p, 1, 0) on log prices, fitted once and conditioned on each origin's last returns.

    The order ``p`` (0 to ``max_lag``) is chosen by an information criterion; with ``p = 0``
    and a constant the model is the random walk with drift, with neither it is naive. On daily
    crypto returns BIC often chooses ``p = 0``, which is the honest answer.

    An origin with fewer than ``p`` returns behind it, or a non-finite one among them, uses
    the training mean return in their place: the forecast then tends to the model's drift.

    Args:
        horizons: steps ahead to forecast.
        max_lag: the largest AR order considered.
        ic: the information criterion that chooses the order ("bic" or "aic").
        trend: "c" fits an intercept (a drift), "n" none.
        window: how many of the last training rows to fit on; None uses all of them.
    """

    kind = "arima"

    def __init__(
        self,
        horizons: Sequence[int] = (1, 7, 30),
        max_lag: int = 10,
        ic: Literal["bic", "aic"] = "bic",
        trend: Literal["c", "n"] = "c",
        window: int | None = None,
    ) -> None:
        super().__init__(horizons)
        if max_lag < 0:
            raise ValueError("max_lag must be >= 0")
        if ic not in ("bic", "aic"):
            raise ValueError(f"ic must be 'bic' or 'aic', not {ic!r}")
        if trend not in ("c", "n"):
            raise ValueError(f"trend must be 'c' or 'n', not {trend!r}")
        self.max_lag = max_lag
        self.ic = ic
        self.trend = trend
        self.window = window
        self.const_: float = 0.0
        self.phi_: FloatArray = np.zeros(0, dtype=np.float64)
        self.fill_: float = 0.0
        self.weights_: FloatArray = np.zeros((1, len(self.horizons)), dtype=np.float64)

    @property
    def order_(self) -> int:
        """The chosen AR order ``p``."""
        return int(self.phi_.size)

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        """Choose ``p`` and fit the AR on the finite one-step returns before ``end``.

        Raises:
            NotEnoughDataError: fewer than ``max_lag + 30`` consecutive finite returns.
        """
        from statsmodels.tsa.ar_model import ar_select_order

        stop = resolve_end(data, end)
        start = 0 if self.window is None else max(0, stop - self.window)
        returns = np.diff(data.log_price[start:stop])
        bad = np.flatnonzero(~np.isfinite(returns))
        if bad.size:
            returns = returns[bad[-1] + 1 :]
        needed = self.max_lag + MIN_EXTRA_RETURNS
        if returns.size < needed:
            raise NotEnoughDataError(
                f"arima needs at least {needed} consecutive finite one-step returns before the "
                f"cut ({needed + 1} rows), got {returns.size}"
            )
        selection = ar_select_order(returns, maxlag=self.max_lag, ic=self.ic, trend=self.trend)
        params = np.asarray(selection.model.fit().params, dtype=np.float64)
        order = len(selection.ar_lags or [])
        const = float(params[0]) if self.trend == "c" else 0.0
        phi = params[params.size - order :]
        if not is_stationary(phi):
            # An explosive AR would compound over long horizons; the drift model is the honest
            # fallback (its constant is the mean return, the least-squares fit with p = 0).
            const, phi = (float(returns.mean()) if self.trend == "c" else 0.0), phi[:0]
        self._set_state(const, phi, float(returns.mean()))
        self.fitted_ = True
        return self

    def _set_state(self, const: float, phi: FloatArray, fill: float) -> None:
        self.const_ = const
        self.phi_ = np.asarray(phi, dtype=np.float64)
        self.fill_ = fill
        self.weights_ = cumulative_weights(const, self.phi_, self.horizons)

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        """The cumulative AR forecast from each origin's last ``p`` returns."""
        self._check_fitted()
        rows = check_origins(data, origins)
        p = self.order_
        state = np.ones((rows.size, p + 1), dtype=np.float64)
        for lag in range(p):
            now, before = rows - lag, rows - lag - 1
            ok = before >= 0
            values = np.full(rows.size, np.nan)
            values[ok] = data.log_price[now[ok]] - data.log_price[before[ok]]
            state[:, lag] = np.where(np.isfinite(values), values, self.fill_)
        forecast: FloatArray = state @ self.weights_
        return forecast

    def save(self, directory: Path) -> list[Path]:
        """Write ``params.json`` with the coefficients (exact: JSON keeps float64 digits)."""
        self._check_fitted()
        return [
            self._write_params(
                directory, const=self.const_, phi=self.phi_.tolist(), fill=self.fill_
            )
        ]

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild from ``params.json``; the horizon weights are recomputed from the AR."""
        params, state = cls._read_params(directory)
        model = cls(**params)
        model._set_state(
            float(state["const"]), np.asarray(state["phi"], dtype=np.float64), float(state["fill"])
        )
        model.fitted_ = True
        return model
