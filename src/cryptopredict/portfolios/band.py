"""A band for a portfolio's value at a horizon: each coin's served forecast distribution,
joined by how the coins have moved together (a Gaussian copula). Pure numpy/scipy.

Each coin's served quantiles (5 to 95 %) give its distribution of the h-day log return, read
as a piecewise-linear function of the normal score (so linear beyond the 5 and 95 % ends,
like a normal's tails); the copula draws correlated normal scores with the correlation of the
coins' daily log returns over the last year, so coins that fall together fall together in the
simulation. Each draw values every coin at its simulated price; coins without a forecast stay
at today's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

METHOD = "gaussian_copula"
#: Fewer overlapping daily returns than this leave a pair uncorrelated in the copula.
MIN_OVERLAP = 30
SIMULATIONS = 20_000
BAND_PROBS: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


@dataclass(frozen=True)
class CoinForecast:
    """One coin's part: what is held now and its served h-day log-return quantiles."""

    value_now: float
    probs: tuple[float, ...]
    log_returns: tuple[float, ...]

    def returns_at(self, scores: FloatArray) -> FloatArray:
        """Log returns at normal scores: linear in the score between the served quantiles,
        and beyond them along the end segments."""
        z = stats.norm.ppf(np.asarray(self.probs))
        r = np.maximum.accumulate(np.asarray(self.log_returns, dtype=np.float64))
        inside = np.interp(scores, z, r)
        low_slope = (r[1] - r[0]) / (z[1] - z[0])
        high_slope = (r[-1] - r[-2]) / (z[-1] - z[-2])
        below = r[0] + (scores - z[0]) * low_slope
        above = r[-1] + (scores - z[-1]) * high_slope
        return np.where(scores < z[0], below, np.where(scores > z[-1], above, inside))


def correlation(daily_log_returns: FloatArray) -> FloatArray:
    """Pairwise correlation of columns over the rows both have (NaN elsewhere), a pair with
    fewer than ``MIN_OVERLAP`` in common taken as 0, nudged to the nearest valid (positive
    semi-definite, unit diagonal) matrix."""
    n = daily_log_returns.shape[1]
    out = np.eye(n)
    finite = np.isfinite(daily_log_returns)
    for i in range(n):
        for j in range(i + 1, n):
            both = finite[:, i] & finite[:, j]
            if both.sum() < MIN_OVERLAP:
                continue
            a, b = daily_log_returns[both, i], daily_log_returns[both, j]
            if a.std() == 0 or b.std() == 0:
                continue
            out[i, j] = out[j, i] = float(np.corrcoef(a, b)[0, 1])
    values, vectors = np.linalg.eigh(out)
    fixed = vectors @ np.diag(np.clip(values, 1e-9, None)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return np.asarray(fixed / np.outer(scale, scale), dtype=np.float64)


def simulate(
    coins: Sequence[CoinForecast],
    corr: FloatArray,
    flat_value: float,
    *,
    simulations: int = SIMULATIONS,
    seed: int = 0,
) -> FloatArray:
    """Simulated portfolio values: the forecast coins drawn through the copula, plus
    ``flat_value`` (coins held without a forecast)."""
    if not coins:
        return np.full(simulations, flat_value)
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(corr + 1e-12 * np.eye(len(coins)))
    scores = rng.standard_normal((simulations, len(coins))) @ chol.T
    values = np.full(simulations, flat_value)
    for j, coin in enumerate(coins):
        values += coin.value_now * np.exp(coin.returns_at(scores[:, j]))
    return values


def band(values: FloatArray, probs: Sequence[float] = BAND_PROBS) -> Mapping[float, float]:
    """Quantiles of the simulated values."""
    return {p: float(q) for p, q in zip(probs, np.quantile(values, probs), strict=True)}
