"""Interval methods backtested around each horizon's served point model, on its backtest's
origins: the choice per horizon (``interval_selection``) and every origin's served forecast
(point, quantile fan, 80/95 % bounds, the method, P(up), the outcome) for reports and CSV.

Where the chosen method has no distribution yet (too little history), the baseline serves
that origin, and the row says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cryptopredict.forecasting.forecasters.base import FloatArray, ForecastData, IntArray
from cryptopredict.forecasting.interval_methods import (
    BASELINE,
    IntervalInputs,
    IntervalMethod,
    audit_method,
    default_methods,
)
from cryptopredict.forecasting.interval_models import (
    IntervalModel,
    NotServableError,
    serving_model,
)
from cryptopredict.forecasting.interval_selection import (
    LEVELS,
    IntervalSelection,
    select_interval_method,
)
from cryptopredict.forecasting.intervals import level_label
from cryptopredict.forecasting.predictive import FAN_PROBS, Predictive, central_probs

#: CSV columns of a served forecast, in order.
FORECAST_COLUMNS: tuple[str, ...] = (
    "coin",
    "horizon",
    "origin_at",
    "target_at",
    "origin_price",
    "point",
    *(f"q{round(p * 100):02d}" for p in FAN_PROBS),
    *(f"{side}_{level_label(level)}" for level in LEVELS for side in ("lower", "upper")),
    "p_up",
    "interval_method",
    "actual",
    "scored",
)


@dataclass(frozen=True)
class CoinIntervals:
    """One coin's interval backtest.

    Attributes:
        selections: per horizon, the comparison of methods and the choice.
        served: per horizon, one row per origin with ``FORECAST_COLUMNS``.
        models: per horizon, the chosen method's state for serving (the baseline's where the
            chosen method has too little history at the end).
        seconds: wall time of the interval work (fits, walk-forward, selection, audit).
    """

    selections: dict[int, IntervalSelection]
    served: dict[int, pd.DataFrame]
    models: dict[int, IntervalModel]
    seconds: float

    def forecasts_frame(self) -> pd.DataFrame:
        """Every horizon's served rows, by origin then horizon."""
        frames = [frame for _, frame in sorted(self.served.items())]
        if not frames:
            return pd.DataFrame(columns=list(FORECAST_COLUMNS))
        both = pd.concat(frames, ignore_index=True)
        return both.sort_values(["origin_at", "horizon"], kind="stable", ignore_index=True)


def _served_rows(
    coin: str,
    data: ForecastData,
    inputs: IntervalInputs,
    selection: IntervalSelection,
    predictive: Predictive,
    baseline: Predictive,
) -> pd.DataFrame:
    """Per origin: the chosen method's forecast, or the baseline's where it has none."""
    origins, horizon = inputs.origins, selection.horizon
    use_chosen = predictive.available
    probs = sorted({*FAN_PROBS, *(p for level in LEVELS for p in central_probs(level))})
    quantiles = np.where(
        use_chosen[:, None], predictive.quantiles(probs), baseline.quantiles(probs)
    )
    p_up = np.where(use_chosen, predictive.prob_up(), baseline.prob_up())
    log_origin = data.log_price[origins]
    step = data.index[1] - data.index[0] if len(data) > 1 else pd.Timedelta(0)
    column = {p: j for j, p in enumerate(probs)}
    frame: dict[str, object] = {
        "coin": coin,
        "horizon": horizon,
        "origin_at": data.index[origins],
        "target_at": data.index[origins] + step * horizon,
        "origin_price": np.exp(log_origin),
        "point": np.exp(log_origin + inputs.centers[horizon]),
    }
    for p in FAN_PROBS:
        frame[f"q{round(p * 100):02d}"] = np.exp(log_origin + quantiles[:, column[p]])
    for level in LEVELS:
        lo, hi = central_probs(level)
        frame[f"lower_{level_label(level)}"] = np.exp(log_origin + quantiles[:, column[lo]])
        frame[f"upper_{level_label(level)}"] = np.exp(log_origin + quantiles[:, column[hi]])
    frame["p_up"] = p_up
    frame["interval_method"] = np.where(use_chosen, selection.chosen, BASELINE)
    frame["actual"] = np.exp(log_origin + inputs.actual(horizon))
    frame["scored"] = selection.scored
    served = pd.DataFrame(frame, columns=list(FORECAST_COLUMNS))
    # Origins before a fitted point model's backtest have no forecast to put an interval on.
    return served[np.isfinite(inputs.centers[horizon])].reset_index(drop=True)


def backtest_intervals(
    data: ForecastData,
    origins: IntArray,
    centers: Mapping[int, FloatArray],
    *,
    methods: Sequence[IntervalMethod] | None = None,
    audit: bool = True,
) -> CoinIntervals:
    """Walk every interval method forward around the served point forecasts and choose one
    per horizon.

    Args:
        data: the coin's series.
        origins: the point backtest's origin rows.
        centers: per horizon, the served point model's predicted log return at each origin.
        methods: the methods compared (``default_methods()`` when None; the baseline first).
        audit: re-run each method on the data known at the middle origin and fail if any
            distribution there changes (``IntervalLookAheadError``).
    """
    started = time.perf_counter()
    chosen_methods = tuple(methods or default_methods())
    inputs = IntervalInputs(data.log_price, np.asarray(origins, dtype=np.int64), dict(centers))
    runs = {method.kind: method.walk_forward(inputs) for method in chosen_methods}
    if audit and inputs.origins.size > 1:
        middle = np.array([inputs.origins.size // 2])
        for method in chosen_methods:
            audit_method(method, inputs, middle, full=runs[method.kind])
    selections: dict[int, IntervalSelection] = {}
    served: dict[int, pd.DataFrame] = {}
    models: dict[int, IntervalModel] = {}
    by_name = {method.kind: method for method in chosen_methods}
    for h in inputs.horizons:
        by_kind = {kind: run[h] for kind, run in runs.items()}
        selection = select_interval_method(data.name, inputs, h, by_kind)
        selections[h] = selection
        served[h] = _served_rows(
            data.name, data, inputs, selection, by_kind[selection.chosen], by_kind[BASELINE]
        )
        try:
            models[h] = serving_model(
                by_name[selection.chosen], inputs, h, by_kind[selection.chosen]
            )
        except NotServableError:
            models[h] = serving_model(by_name[BASELINE], inputs, h, by_kind[BASELINE])
    return CoinIntervals(selections, served, models, time.perf_counter() - started)
