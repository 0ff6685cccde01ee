"""Forecast targets: log returns from an origin row to ``origin + h``, and the way back to prices.

Every model forecasts log returns (``forecasters.base``); prices are ``exp(log_price + r)``.
A target whose window ends beyond the last row is NaN, never extrapolated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cryptopredict.forecasting.forecasters.base import FloatArray

DEFAULT_HORIZONS: tuple[int, ...] = (1, 7, 30)


def validate_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    """Sorted, unique, positive horizons, so target columns have one stable order.

    Args:
        horizons: horizons in steps of the series' interval.

    Returns:
        The horizons ascending without duplicates.

    Raises:
        ValueError: when empty or when a horizon is not a positive integer.
    """
    if any(int(h) != h for h in horizons):
        raise ValueError(f"horizons must be whole steps, got {list(horizons)}")
    values = tuple(sorted({int(h) for h in horizons}))
    if not values:
        raise ValueError("at least one horizon is needed")
    if values[0] < 1:
        raise ValueError(f"horizons must be positive integers, got {list(horizons)}")
    return values


def log_return_targets(
    log_price: npt.ArrayLike, horizons: Sequence[int] = DEFAULT_HORIZONS
) -> FloatArray:
    """Log return from each row to ``row + h`` for every horizon, NaN past the end.

    Args:
        log_price: natural log of the price per row of a regular series.
        horizons: horizons in steps.

    Returns:
        Array ``(n_rows, n_horizons)``; column ``j`` is ``log_price[t + h_j] - log_price[t]``.
    """
    lp = np.asarray(log_price, dtype=np.float64)
    if lp.ndim != 1:
        raise ValueError("log_price must be one-dimensional")
    hs = validate_horizons(horizons)
    n = lp.shape[0]
    out = np.full((n, len(hs)), np.nan, dtype=np.float64)
    for j, h in enumerate(hs):
        if h < n:
            out[: n - h, j] = lp[h:] - lp[: n - h]
    return out


def to_price(log_price_origin: npt.ArrayLike, log_return: npt.ArrayLike) -> FloatArray:
    """Price implied by a log return from an origin, the inverse of the target transform.

    Args:
        log_price_origin: log price at the origin (broadcasts against ``log_return``).
        log_return: forecast or realised log return(s).

    Returns:
        ``exp(log_price_origin + log_return)``.
    """
    base = np.asarray(log_price_origin, dtype=np.float64)
    ret = np.asarray(log_return, dtype=np.float64)
    return np.asarray(np.exp(base + ret), dtype=np.float64)


def to_log_return(log_price_origin: npt.ArrayLike, price: npt.ArrayLike) -> FloatArray:
    """Log return that turns the origin price into ``price`` (the inverse of ``to_price``)."""
    base = np.asarray(log_price_origin, dtype=np.float64)
    p = np.asarray(price, dtype=np.float64)
    return np.asarray(np.log(p) - base, dtype=np.float64)
