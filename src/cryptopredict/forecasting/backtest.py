"""Walk-forward backtest of any ``Forecaster``, scored against naive on the same origins.

For each refit block of a ``WalkForwardPlan`` a fresh copy of the model is fitted on a view of
the data that ends before the block (targets whose window is still open at the cut are masked
to NaN), then asked to predict every origin of the block in one vectorised call on a view that
ends at the block's last origin. Future rows are therefore never handed to ``fit``, and
``predict`` never sees rows after the block. Within a block the model could still read rows
between an origin and the block end; the audit catches that: by default the first origin of
every block (the one with the most rows ahead of it) is predicted again from a view ending at
that origin, and any difference raises ``LookAheadError`` (``audit="all"`` checks every origin).

Out-of-sample residuals in log space feed the conformal intervals online: an origin's interval
uses only residuals whose target row is at or before that origin. Features and targets are
those of the ``ForecastData``, computed once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cryptopredict.forecasting import metrics
from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
)
from cryptopredict.forecasting.intervals import (
    DEFAULT_LEVELS,
    ConformalCalibrator,
    level_label,
    online_bounds,
)
from cryptopredict.forecasting.splits import WalkForwardPlan, walk_forward_plan

Audit = Literal["off", "block", "all"]


class LookAheadError(RuntimeError):
    """A model's forecast changed when rows after its origin were withheld: it reads the future."""


@dataclass(frozen=True)
class BacktestConfig:
    """How a walk-forward backtest runs.

    Attributes:
        initial_window: rows before the first origin; automatic (half the series, clipped
            to what a young coin allows) when None.
        refit_every: origins forecast per fit.
        min_train_rows: embargoed training rows the first fit needs.
        min_test_origins: origins with a known longest-horizon target the test needs.
        levels: interval levels.
        calibration_window: most recent residuals per horizon used for intervals, at least.
        min_calibration: residuals needed before an origin gets an interval, at least.
        calibration_windows: horizon ``h`` uses ``max(calibration_window,
            calibration_windows * h)`` residuals (that many independent windows).
        min_calibration_windows: horizon ``h`` needs ``max(min_calibration,
            min_calibration_windows * h)`` known residuals before it gives intervals.
        volatility_scaled: scale residuals by the volatility forecast for the horizon at the
            origin (``intervals.horizon_volatility``).
        ewma_lambda: decay of the short EWMA volatility.
        long_run_lambda: decay of the long-run EWMA it reverts to over long horizons.
        audit: ``"block"`` re-predicts each block's first origin from data ending there,
            ``"all"`` every origin, ``"off"`` none.
        audit_tolerance: absolute log-return difference tolerated by the audit.
    """

    initial_window: int | None = None
    refit_every: int = 30
    min_train_rows: int = 30
    min_test_origins: int = 20
    levels: tuple[float, ...] = DEFAULT_LEVELS
    calibration_window: int = 500
    min_calibration: int = 50
    calibration_windows: int = 50
    min_calibration_windows: int = 10
    volatility_scaled: bool = True
    ewma_lambda: float = 0.94
    long_run_lambda: float | None = 0.995
    audit: Audit = "block"
    audit_tolerance: float = 1e-6


@dataclass(frozen=True)
class HorizonMetrics:
    """Out-of-sample scores of one model at one horizon, next to naive on the same origins.

    Price-space errors (``mae``, ``rmse``, ``mape``, ``smape``) are in the coin's units;
    ``*_log`` errors and MASE are on log prices (scale-free, so every period weighs the same:
    a price-space MASE of a coin that rose 100-fold since its training window means nothing).
    ``dm`` compares absolute log errors of the model with naive's (negative statistic: the
    model is better). Interval scores are on log prices and only over origins that had one.

    Attributes:
        horizon: steps ahead.
        n: origins scored (target known, prediction finite).
        mae: mean absolute price error.
        rmse: root mean squared price error.
        mape: mean absolute percentage error, percent.
        smape: symmetric MAPE, percent.
        mase: log-price MAE over the training window's naive log-price MAE at this horizon.
        naive_mae: naive's MAE on the same origins.
        naive_mase: naive's MASE (above 1 in periods more volatile than training).
        relative_mae: ``mae / naive_mae``.
        mae_log: mean absolute log-price error.
        naive_mae_log: naive's mean absolute log-price error.
        relative_mae_log: ``mae_log / naive_mae_log``.
        direction: hit rate with binomial tests and the always-up share.
        dm: Diebold–Mariano test against naive (None with fewer than 3 origins).
        n_intervals: origins scored that had an interval.
        coverage: per level label, the share of actuals inside the interval.
        mean_width: per level label, mean interval width in price units.
        mean_relative_width: per level label, mean width over the origin price.
        winkler: per level label, mean Winkler score on log prices.
        pinball: per level label, mean pinball loss of the two bounds on log prices.
    """

    horizon: int
    n: int
    mae: float
    rmse: float
    mape: float
    smape: float
    mase: float
    naive_mae: float
    naive_mase: float
    relative_mae: float
    mae_log: float
    naive_mae_log: float
    relative_mae_log: float
    direction: metrics.DirectionResult
    dm: metrics.DMResult | None
    n_intervals: int
    coverage: dict[str, float] = field(default_factory=dict)
    mean_width: dict[str, float] = field(default_factory=dict)
    mean_relative_width: dict[str, float] = field(default_factory=dict)
    winkler: dict[str, float] = field(default_factory=dict)
    pinball: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN stays a float NaN; use ``allow_nan`` or replace it)."""
        out: dict[str, Any] = {
            k: getattr(self, k)
            for k in (
                "horizon", "n", "mae", "rmse", "mape", "smape", "mase", "naive_mae",
                "naive_mase", "relative_mae", "mae_log", "naive_mae_log", "relative_mae_log",
                "n_intervals",
            )
        }  # fmt: skip
        out["direction"] = self.direction.to_dict()
        out["dm"] = None if self.dm is None else self.dm.to_dict()
        for name in ("coverage", "mean_width", "mean_relative_width", "winkler", "pinball"):
            out[name] = dict(getattr(self, name))
        return out


@dataclass(frozen=True)
class BacktestResult:
    """Everything a walk-forward backtest produced.

    Attributes:
        model: the forecaster's ``kind``.
        params: its hyper-parameters.
        name: the series' name.
        plan: the walk-forward plan followed.
        config: the backtest settings.
        forecasts: one row per (origin, horizon): ``origin_at``, ``target_at``, ``horizon``,
            ``origin_row``, ``origin_price``, ``predicted_log_return``, ``predicted_price``,
            ``naive_price``, ``lower_80``/``upper_80``/``lower_95``/``upper_95`` (per level;
            NaN before enough residuals), ``actual_log_return``, ``actual_price`` (NaN when
            the target lies beyond the data).
        metrics: per horizon, out-of-sample scores.
        calibrator: conformal state from the last residuals of the whole backtest, ready to
            put intervals around the production model's forecasts.
        fit_seconds: time spent in ``fit``.
        predict_seconds: time spent in ``predict`` (audit included).
    """

    model: str
    params: dict[str, Any]
    name: str
    plan: WalkForwardPlan
    config: BacktestConfig
    forecasts: pd.DataFrame
    metrics: dict[int, HorizonMetrics]
    calibrator: ConformalCalibrator
    fit_seconds: float
    predict_seconds: float

    def metrics_frame(self) -> pd.DataFrame:
        """One row per horizon with the headline scores, for reports."""
        rows = []
        for h, m in sorted(self.metrics.items()):
            row: dict[str, Any] = {
                "model": self.model,
                "name": self.name,
                "horizon": h,
                "n": m.n,
                "mae": m.mae,
                "naive_mae": m.naive_mae,
                "relative_mae": m.relative_mae,
                "relative_mae_log": m.relative_mae_log,
                "mase": m.mase,
                "naive_mase": m.naive_mase,
                "rmse": m.rmse,
                "smape": m.smape,
                "hit_rate": m.direction.hit_rate,
                "always_up": m.direction.up_share,
                "dm_statistic": None if m.dm is None else m.dm.statistic,
                "dm_p_value": None if m.dm is None else m.dm.p_value,
            }
            for label, value in m.coverage.items():
                row[f"coverage_{label}"] = value
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no forecast rows)."""
        return {
            "model": self.model,
            "params": self.params,
            "name": self.name,
            "initial_window": self.plan.initial_window,
            "refit_every": self.plan.refit_every,
            "n_refits": len(self.plan.blocks),
            "metrics": {str(h): m.to_dict() for h, m in sorted(self.metrics.items())},
            "calibrator": self.calibrator.to_dict(),
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
        }


def data_until(data: ForecastData, last_row: int) -> ForecastData:
    """The data as known at ``last_row``: rows after it removed, open target windows masked.

    Args:
        data: the full series.
        last_row: the last row that is known.

    Returns:
        A view with rows ``0..last_row``; ``targets[t, j]`` is NaN where
        ``t + horizons[j] > last_row``.
    """
    stop = last_row + 1
    targets = data.targets[:stop].copy()
    for j, h in enumerate(data.horizons):
        targets[max(0, stop - h) :, j] = np.nan
    return replace(
        data,
        index=data.index[:stop],
        log_price=data.log_price[:stop],
        features=data.features[:stop],
        targets=targets,
    )


def first_complete_row(data: ForecastData) -> int:
    """First row with every feature defined (the end of the warm-up)."""
    if data.features.shape[1] == 0:
        return 0
    complete = np.flatnonzero(~np.isnan(data.features).any(axis=1))
    return int(complete[0]) if complete.size else len(data)


def clone(forecaster: Forecaster) -> Forecaster:
    """An unfitted twin with the same hyper-parameters, so backtests never mutate the caller's."""
    return type(forecaster)(**forecaster.get_params())


def _predict(model: Forecaster, data: ForecastData, origins: IntArray) -> FloatArray:
    """Call ``predict`` and check its shape; an out-of-range read is reported as look-ahead."""
    try:
        out = np.asarray(model.predict(data, origins), dtype=np.float64)
    except IndexError as exc:
        raise LookAheadError(
            f"{type(model).__name__}.predict read past the rows it was given "
            f"(rows <= {len(data) - 1}) for origins {origins[:3].tolist()}..."
        ) from exc
    expected = (origins.size, len(model.horizons))
    if out.shape != expected:
        raise ValueError(f"{type(model).__name__}.predict returned {out.shape}, not {expected}")
    return out


def unchanged(seen: FloatArray, alone: FloatArray, tolerance: float) -> bool:
    """Whether a forecast made with later rows visible equals the one made without them
    (within ``tolerance``, NaN where both are NaN): the look-ahead audits' test."""
    same = np.isclose(seen, alone, rtol=0.0, atol=tolerance) | (np.isnan(seen) & np.isnan(alone))
    return bool(same.all())


def _audit(
    model: Forecaster,
    data: ForecastData,
    origins: IntArray,
    block_pred: FloatArray,
    positions: IntArray,
    tolerance: float,
) -> None:
    """Re-predict some origins from data ending at each one; a change means look-ahead."""
    for pos in positions.tolist():
        origin = origins[pos : pos + 1]
        alone = _predict(model, data_until(data, int(origin[0])), origin)[0]
        seen = block_pred[pos]
        if not unchanged(seen, alone, tolerance):
            raise LookAheadError(
                f"{type(model).__name__} forecast {seen.tolist()} at origin row {origin[0]} "
                f"with later rows visible but {alone.tolist()} without them: it reads the future"
            )


def _horizon_metrics(
    horizon: int,
    frame: pd.DataFrame,
    log_bounds: dict[float, tuple[FloatArray, FloatArray]],
    train_log_price: FloatArray,
) -> HorizonMetrics | None:
    """Scores of one horizon's rows against naive; None when no origin can be scored."""
    ok = np.isfinite(frame["actual_price"].to_numpy()) & np.isfinite(
        frame["predicted_price"].to_numpy()
    )
    f = frame[ok]
    if f.empty:
        return None
    actual = f["actual_price"].to_numpy()
    pred = f["predicted_price"].to_numpy()
    naive = f["naive_price"].to_numpy()
    actual_r = f["actual_log_return"].to_numpy()
    pred_r = f["predicted_log_return"].to_numpy()
    scale = metrics.naive_scale(train_log_price, horizon)
    mae_log = metrics.mae(actual_r, pred_r)
    naive_log = metrics.mae(actual_r, np.zeros_like(actual_r))
    dm = (
        metrics.diebold_mariano(actual_r - pred_r, actual_r, horizon)
        if actual_r.size >= 3
        else None
    )
    coverage: dict[str, float] = {}
    width: dict[str, float] = {}
    rel_width: dict[str, float] = {}
    winkler: dict[str, float] = {}
    pinball: dict[str, float] = {}
    n_intervals = 0
    log_actual = np.log(actual)
    for level, (log_lo, log_hi) in log_bounds.items():
        label = level_label(level)
        lo = f[f"lower_{label}"].to_numpy()
        hi = f[f"upper_{label}"].to_numpy()
        llo_all, lhi_all = log_lo[ok], log_hi[ok]
        has = np.isfinite(llo_all) & np.isfinite(lhi_all)
        n_intervals = int(has.sum())
        if not has.any():
            continue
        coverage[label] = metrics.interval_coverage(actual[has], lo[has], hi[has])
        width[label] = metrics.mean_interval_width(lo[has], hi[has])
        rel_width[label] = float(np.mean((hi[has] - lo[has]) / naive[has]))
        llo, lhi, la = llo_all[has], lhi_all[has], log_actual[has]
        winkler[label] = metrics.winkler_score(la, llo, lhi, level)
        alpha = 1.0 - level
        pinball[label] = 0.5 * (
            metrics.pinball_loss(la, llo, alpha / 2) + metrics.pinball_loss(la, lhi, 1 - alpha / 2)
        )
    mae_price = metrics.mae(actual, pred)
    naive_mae = metrics.mae(actual, naive)
    return HorizonMetrics(
        horizon=horizon,
        n=int(actual.size),
        mae=mae_price,
        rmse=metrics.rmse(actual, pred),
        mape=metrics.mape(actual, pred),
        smape=metrics.smape(actual, pred),
        mase=mae_log / scale,
        naive_mae=naive_mae,
        naive_mase=naive_log / scale,
        relative_mae=metrics.relative_mae(actual, pred, naive),
        mae_log=mae_log,
        naive_mae_log=naive_log,
        relative_mae_log=mae_log / naive_log if naive_log > 0 else float("nan"),
        direction=metrics.directional_accuracy(actual_r, pred_r),
        dm=dm,
        n_intervals=n_intervals,
        coverage=coverage,
        mean_width=width,
        mean_relative_width=rel_width,
        winkler=winkler,
        pinball=pinball,
    )


def backtest(
    forecaster: Forecaster,
    data: ForecastData,
    config: BacktestConfig | None = None,
    *,
    plan: WalkForwardPlan | None = None,
) -> BacktestResult:
    """Walk-forward backtest of a forecaster over one series.

    Args:
        forecaster: the model (left untouched; fresh copies are fitted per refit).
        data: the series with features and targets (its horizons must include the model's).
        config: backtest settings; ``BacktestConfig()`` when None.
        plan: a ready plan; built from ``config`` and the feature warm-up when None.

    Returns:
        Forecasts, per-horizon metrics and the final conformal state.

    Raises:
        NotEnoughDataError: when the series is too short for a backtest.
        LookAheadError: when the audit catches the model reading rows after an origin.
    """
    cfg = config or BacktestConfig()
    horizons = forecaster.horizons
    columns = [data.horizon_column(h) for h in horizons]
    if plan is None:
        plan = walk_forward_plan(
            len(data),
            horizons,
            initial_window=cfg.initial_window,
            refit_every=cfg.refit_every,
            first_row=first_complete_row(data),
            min_train_rows=cfg.min_train_rows,
            min_test_origins=cfg.min_test_origins,
        )
    origins = plan.origins
    preds = np.full((origins.size, len(horizons)), np.nan)
    fit_seconds = predict_seconds = 0.0
    pos = 0
    for block in plan.blocks:
        model = clone(forecaster)
        started = time.perf_counter()
        model.fit(data_until(data, block.fit_end - 1), block.fit_end)
        fit_seconds += time.perf_counter() - started
        started = time.perf_counter()
        view = data_until(data, int(block.origins[-1]))
        block_pred = _predict(model, view, block.origins)
        if cfg.audit != "off" and block.origins.size > 1:
            check = np.arange(block.origins.size - 1) if cfg.audit == "all" else np.array([0])
            _audit(model, view, block.origins, block_pred, check, cfg.audit_tolerance)
        predict_seconds += time.perf_counter() - started
        preds[pos : pos + block.origins.size] = block_pred
        pos += block.origins.size

    n = len(data)
    step = data.index[1] - data.index[0] if n > 1 else pd.Timedelta(0)
    calibrator = ConformalCalibrator(
        horizons=horizons,
        levels=cfg.levels,
        window=cfg.calibration_window,
        min_residuals=cfg.min_calibration,
        windows_per_horizon=cfg.calibration_windows,
        min_windows=cfg.min_calibration_windows,
        volatility_scaled=cfg.volatility_scaled,
        ewma_lambda=cfg.ewma_lambda,
        long_run_lambda=cfg.long_run_lambda,
    )
    lp_origin = data.log_price[origins]
    frames = []
    horizon_metrics: dict[int, HorizonMetrics] = {}
    for k, (h, col) in enumerate(zip(horizons, columns, strict=True)):
        pred_r = preds[:, k]
        actual_r = data.targets[origins, col]
        residual = actual_r - pred_r
        sigma = calibrator.sigma(data.log_price, h)
        scale = np.ones(origins.size)
        if sigma is not None:
            scale = sigma[origins] * np.sqrt(h)
        scores = residual / scale
        bounds = online_bounds(
            scores,
            origins,
            h,
            levels=calibrator.levels,
            window=calibrator.window_for(h),
            min_residuals=calibrator.min_residuals_for(h),
        )
        calibrator.update(h, residual, None if sigma is None else sigma[origins])
        target_rows = origins + h
        inside = target_rows < n
        target_at = data.index[origins] + step * h
        frame: dict[str, Any] = {
            "origin_at": data.index[origins],
            "target_at": target_at,
            "horizon": np.full(origins.size, h),
            "origin_row": origins,
            "origin_price": np.exp(lp_origin),
            "predicted_log_return": pred_r,
            "predicted_price": np.exp(lp_origin + pred_r),
            "naive_price": np.exp(lp_origin),
        }
        log_bounds: dict[float, tuple[FloatArray, FloatArray]] = {}
        for level in calibrator.levels:
            label = level_label(level)
            lo, hi = bounds[level]
            log_bounds[level] = (lp_origin + pred_r + scale * lo, lp_origin + pred_r + scale * hi)
            frame[f"lower_{label}"] = np.exp(log_bounds[level][0])
            frame[f"upper_{label}"] = np.exp(log_bounds[level][1])
        frame["actual_log_return"] = actual_r
        frame["actual_price"] = np.where(inside, np.exp(lp_origin + actual_r), np.nan)
        hframe = pd.DataFrame(frame)
        frames.append(hframe)
        scored = _horizon_metrics(h, hframe, log_bounds, data.log_price[: plan.initial_window])
        if scored is not None:
            horizon_metrics[h] = scored

    forecasts = pd.concat(frames, ignore_index=True)
    forecasts = forecasts.sort_values(["origin_row", "horizon"], kind="stable", ignore_index=True)
    return BacktestResult(
        model=forecaster.kind,
        params=forecaster.get_params(),
        name=data.name,
        plan=plan,
        config=cfg,
        forecasts=forecasts,
        metrics=horizon_metrics,
        calibrator=calibrator,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
    )
