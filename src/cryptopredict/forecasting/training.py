"""Training pipeline for one coin: backtest every requested model, select per horizon, refit,
calibrate intervals, and report.

Free of FastAPI and SQLAlchemy: it takes a price frame (from the database through
``forecasting.service``, or from a CSV with ``load_csv_prices``) and returns plain results;
``forecasting.service`` stores them in the registry.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
    NotEnoughDataError,
)

DEFAULT_HORIZONS = (1, 7, 30)
LEVELS = (0.8, 0.95)
CHART_POINTS = 365
REPORT_FIELDS = (
    "coin",
    "horizon",
    "model",
    "mae",
    "naive_mae",
    "relative_mae",
    "mase",
    "directional_accuracy",
    "always_up",
    "dm_pvalue",
    "coverage_80",
    "coverage_95",
    "n_forecasts",
    "selected",
)
_COIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")

ProgressCallback = Callable[[str, int, int], None]
"""Called with (label, done, total) as work advances, for progress bars."""


# ---- input --------------------------------------------------------------------------------


def read_price_csv(path: Path) -> pd.DataFrame:
    """A daily price CSV (``date,open,high,low,close,volume,market_cap``) as a frame indexed
    by UTC day, oldest first."""
    frame = pd.read_csv(path)
    if "date" not in frame.columns or "close" not in frame.columns:
        raise ValueError(f"{path}: expected a daily CSV with `date` and `close` columns")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("date"), utc=True), name="date")
    return frame.sort_index()


def load_csv_prices(csv_dir: Path, coin: str) -> pd.DataFrame:
    """``<csv_dir>/<coin>.csv`` for offline use; the coin id must be a plain file stem."""
    if not _COIN.fullmatch(coin) or ".." in coin:
        raise ValueError(f"coin id {coin!r} is not a plain CoinGecko id")
    path = csv_dir / f"{coin}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no price file {path}")
    return read_price_csv(path)


# ---- results ------------------------------------------------------------------------------


@dataclass
class ModelBacktest:
    """One model's walk-forward backtest of one coin at one horizon.

    Attributes:
        coin: CoinGecko id.
        horizon: steps ahead.
        model: the forecaster kind.
        metrics: the report's figures (see ``REPORT_FIELDS``); None where undefined. MAE is
            in price units on the common origins, ``relative_mae`` divides it by naive's;
            MASE is scale-free, on log prices: the mean absolute log error over the mean
            absolute ``h``-step log change of the history before the first origin.
            Directional accuracy counts only calls (a non-zero forecast change), so naive
            has none; compare it with ``always_up``, the share of up-moves.
        origin_at: forecast origins.
        target_at: the instants forecast (origin + horizon).
        actual: realised prices at ``target_at``.
        predicted: forecast prices.
        bounds: per level, (lower, upper) price bounds from conformal calibration.
        selected: whether selection chose this model for the coin and horizon.
    """

    coin: str
    horizon: int
    model: str
    metrics: dict[str, float | int | None]
    origin_at: pd.DatetimeIndex
    target_at: pd.DatetimeIndex
    actual: FloatArray
    predicted: FloatArray
    bounds: dict[float, tuple[FloatArray, FloatArray]]
    selected: bool = False

    def row(self) -> dict[str, Any]:
        """This result as one row of the JSON report."""
        row: dict[str, Any] = {"coin": self.coin, "horizon": self.horizon, "model": self.model}
        row.update({key: _finite(value) for key, value in self.metrics.items()})
        row["selected"] = self.selected
        return row


@dataclass
class CoinBacktest:
    """Every model's backtest for one coin, with the data-quality summary of its series."""

    coin: str
    interval: str
    horizons: tuple[int, ...]
    quality: dict[str, Any]
    results: list[ModelBacktest] = field(default_factory=list)
    seconds: float = 0.0

    def selected(self, horizon: int) -> ModelBacktest | None:
        """The result of the model chosen for ``horizon``."""
        return next((r for r in self.results if r.horizon == horizon and r.selected), None)


@dataclass
class TrainedModel:
    """A model refitted on the whole series, ready to register for one horizon."""

    kind: str
    horizon: int
    forecaster: Forecaster
    params: dict[str, Any]
    features: list[str]
    train_start_at: dt.datetime
    train_end_at: dt.datetime
    metrics: dict[str, Any]
    calibration: dict[str, Any]
    selected: bool


@dataclass
class TrainingResult:
    """What training one coin produced: its backtest and the refitted models."""

    coin: str
    interval: str
    quality: dict[str, Any]
    backtest: CoinBacktest
    models: list[TrainedModel]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such values become null."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ---- walk-forward backtest ------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestConfig:
    """How the walk-forward backtest cuts the series.

    Attributes:
        initial_rows: rows before the first origin (the first training window), or half
            the series when that is shorter.
        min_train_rows: a shorter first training window refuses the series.
        refit_every: rows between refits; each block of origins is forecast by a model fitted
            on every row up to and including the block's first origin (embargoed targets).
        refit_every_by_kind: longer refit spacing for costly models (the LSTM takes seconds
            per fit); a model is still never fed a row after its block's first origin.
        calibration_window: most recent out-of-sample residuals a conformal interval uses.
        min_calibration: fewer realised residuals than this give no interval (not scored).
        significance: DM p-value a model must beat naive with to be selected over it.
    """

    initial_rows: int = 730
    min_train_rows: int = 120
    refit_every: int = 90
    refit_every_by_kind: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"lstm": 365})
    )
    calibration_window: int = 500
    min_calibration: int = 50
    significance: float = 0.05


@dataclass
class _Run:
    """One model's out-of-sample log-return forecasts at every origin."""

    kind: str
    predicted: FloatArray  # (n_origins, n_horizons), NaN where a fit failed


def _make(kind: str, horizons: Sequence[int]) -> Forecaster:
    from cryptopredict.forecasting.forecasters import make_forecaster

    return make_forecaster(kind, horizons=tuple(horizons))


def _all_kinds() -> list[str]:
    from cryptopredict.forecasting.forecasters import FORECASTERS

    return list(FORECASTERS)


def prepare(
    prices: pd.DataFrame, *, coin: str, horizons: Sequence[int], interval: str = "1d"
) -> tuple[ForecastData, dict[str, Any]]:
    """Clean the series, measure its quality, and build its features and targets once."""
    from cryptopredict.forecasting import dataset, quality

    series = dataset.from_frame(prices, interval, name=coin)
    report = quality.quality_report(series).to_dict()
    return dataset.build_forecast_data(series, tuple(sorted(set(horizons)))), report


def _origins(data: ForecastData, config: BacktestConfig) -> IntArray:
    """Every row from the end of the first training window to the last row with a realised
    shortest-horizon target."""
    first = min(config.initial_rows, len(data) // 2)
    last = len(data) - min(data.horizons)
    if first < config.min_train_rows or last - first < config.min_calibration:
        raise NotEnoughDataError(
            f"{data.name or 'series'} has {len(data)} rows; the backtest needs at least "
            f"{2 * config.min_train_rows + min(data.horizons)}"
        )
    return np.arange(first, last, dtype=np.int64)


def _walk_forward(kind: str, data: ForecastData, origins: IntArray, config: BacktestConfig) -> _Run:
    """Refit every ``refit_every`` origins on the rows up to that origin; forecast the block."""
    predicted = np.full((len(origins), len(data.horizons)), np.nan)
    every = config.refit_every_by_kind.get(kind, config.refit_every)
    for start in range(0, len(origins), every):
        block = origins[start : start + every]
        model = _make(kind, data.horizons)
        try:
            model.fit(data, end=int(block[0]) + 1)
        except NotEnoughDataError:
            continue
        predicted[start : start + len(block)] = model.predict(data, block)
    return _Run(kind=kind, predicted=predicted)


def _conformal_bounds(
    origins: IntArray, horizon: int, residuals: FloatArray, config: BacktestConfig
) -> dict[float, FloatArray]:
    """Split-conformal half-widths per origin and level: the level-quantile of the absolute
    log-space residuals of the latest ``calibration_window`` earlier origins whose targets
    had been realised by this origin (``o_j + h <= o_i``); NaN with too few of them."""
    widths = {level: np.full(len(origins), np.nan) for level in LEVELS}
    absolute = np.abs(residuals)
    realised_by = origins + horizon
    for i, origin in enumerate(origins):
        known = int(np.searchsorted(realised_by, origin, side="right"))
        window = absolute[max(0, known - config.calibration_window) : known]
        window = window[np.isfinite(window)]
        if len(window) < config.min_calibration:
            continue
        for level in LEVELS:
            rank = min(len(window) - 1, math.ceil((len(window) + 1) * level) - 1)
            widths[level][i] = np.partition(window, rank)[rank]
    return widths


def _dm_pvalue(error_model: FloatArray, error_naive: FloatArray, horizon: int) -> float | None:
    """Two-sided Diebold-Mariano p-value against naive (``metrics.diebold_mariano``,
    absolute-error loss); None when undefined (too few or identical errors)."""
    from cryptopredict.forecasting import metrics

    if len(error_model) < 3 or not np.any(np.abs(error_model) - np.abs(error_naive)):
        return None
    p_value = metrics.diebold_mariano(error_model, error_naive, horizon).p_value
    return p_value if math.isfinite(p_value) else None


def _score(
    coin: str,
    data: ForecastData,
    origins: IntArray,
    runs: list[_Run],
    config: BacktestConfig,
) -> list[ModelBacktest]:
    """Metrics, intervals and selection per horizon, on the origins every model forecast."""
    from cryptopredict.forecasting import metrics

    results: list[ModelBacktest] = []
    price = np.exp(data.log_price)
    for column, horizon in enumerate(data.horizons):
        usable = origins[origins + horizon < len(data)]
        rows = np.arange(len(usable))
        ok = np.ones(len(usable), dtype=bool)
        for run in runs:
            ok &= np.isfinite(run.predicted[rows, column])
        chosen_rows, chosen = rows[ok], usable[ok]
        actual_return = data.targets[chosen, column]
        actual = price[chosen + horizon]
        first = int(chosen[0]) if len(chosen) else len(data)
        scale = metrics.naive_scale(data.log_price[:first], horizon)
        naive_error = np.abs(price[chosen] - actual)
        naive_mae = float(naive_error.mean()) if len(chosen) else math.nan
        always_up = float(np.mean(actual_return > 0)) if len(chosen) else math.nan
        horizon_results = []
        for run in runs:
            forecast = run.predicted[chosen_rows, column]
            predicted = np.exp(data.log_price[chosen] + forecast)
            error = np.abs(predicted - actual)
            mae = float(error.mean()) if len(chosen) else math.nan
            residuals = actual_return - forecast
            widths = _conformal_bounds(chosen, horizon, residuals, config)
            bounds: dict[float, tuple[FloatArray, FloatArray]] = {}
            coverage: dict[float, float] = {}
            for level, width in widths.items():
                low, high = np.exp(np.log(predicted) - width), np.exp(np.log(predicted) + width)
                bounds[level] = (low, high)
                scored = np.isfinite(width)
                inside = (actual[scored] >= low[scored]) & (actual[scored] <= high[scored])
                coverage[level] = float(inside.mean()) if scored.any() else math.nan
            dm = None if run.kind == "naive" else _dm_pvalue(error, naive_error, horizon)
            direction = metrics.directional_accuracy(actual_return, forecast)
            horizon_results.append(
                ModelBacktest(
                    coin=coin,
                    horizon=horizon,
                    model=run.kind,
                    metrics={
                        "mae": mae,
                        "naive_mae": naive_mae,
                        "relative_mae": mae / naive_mae if naive_mae > 0 else math.nan,
                        "mase": float(np.mean(np.abs(actual_return - forecast))) / scale
                        if scale > 0 and len(chosen)
                        else math.nan,
                        "directional_accuracy": direction.hit_rate,
                        "always_up": always_up,
                        "dm_pvalue": dm,
                        "coverage_80": coverage[LEVELS[0]],
                        "coverage_95": coverage[LEVELS[1]],
                        "n_forecasts": int(len(chosen)),
                    },
                    origin_at=pd.DatetimeIndex(data.index[chosen]),
                    target_at=pd.DatetimeIndex(data.index[chosen + horizon]),
                    actual=actual,
                    predicted=predicted,
                    bounds=bounds,
                )
            )
        _select(horizon_results, config)
        results.extend(horizon_results)
    return results


def _select(results: list[ModelBacktest], config: BacktestConfig) -> None:
    """Mark the model to serve: the lowest MAE, but a model only displaces naive when it beats
    naive's MAE and the Diebold-Mariano test says the difference is real."""
    if not results:
        return
    naive = next((r for r in results if r.model == "naive"), None)

    def mae(result: ModelBacktest) -> float:
        value = result.metrics["mae"]
        return float(value) if value is not None and math.isfinite(value) else math.inf

    candidates = [
        r
        for r in results
        if naive is None
        or r is naive
        or (
            mae(r) < mae(naive)
            and r.metrics["dm_pvalue"] is not None
            and float(r.metrics["dm_pvalue"]) < config.significance
        )
    ]
    min(candidates, key=mae).selected = True


def backtest_coin(
    prices: pd.DataFrame,
    *,
    coin: str,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    models: Sequence[str] | None = None,
    interval: str = "1d",
    config: BacktestConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> CoinBacktest:
    """Walk-forward backtest of ``models`` (all by default; naive always joins as the bar)
    on one coin's series, scored on the same origins for every model, selected per horizon.

    Raises:
        NotEnoughDataError: the series is too short for the first training window.
        ValueError: an unusable series or an unknown model.
    """
    started = time.perf_counter()
    config = config or BacktestConfig()
    data, quality = prepare(prices, coin=coin, horizons=horizons, interval=interval)
    return _backtest(data, quality, coin, interval, models, config, on_progress, started)[0]


def _backtest(
    data: ForecastData,
    quality: dict[str, Any],
    coin: str,
    interval: str,
    models: Sequence[str] | None,
    config: BacktestConfig,
    on_progress: ProgressCallback | None,
    started: float,
) -> tuple[CoinBacktest, dict[str, _Run], IntArray]:
    kinds = list(dict.fromkeys(["naive", *(models or _all_kinds())]))
    origins = _origins(data, config)
    runs = []
    for done, kind in enumerate(kinds):
        if on_progress:
            on_progress(f"{coin}: {kind}", done, len(kinds))
        runs.append(_walk_forward(kind, data, origins, config))
    if on_progress:
        on_progress(f"{coin}: done", len(kinds), len(kinds))
    results = _score(coin, data, origins, runs, config)
    backtest = CoinBacktest(
        coin=coin,
        interval=interval,
        horizons=data.horizons,
        quality=quality,
        results=results,
        seconds=time.perf_counter() - started,
    )
    return backtest, {run.kind: run for run in runs}, origins


# ---- training -------------------------------------------------------------------------------


def _calibration(result: ModelBacktest, residual_window: FloatArray) -> dict[str, Any]:
    """Conformal state for serving: half-widths in log space per level, from the newest
    out-of-sample residuals of the backtest."""
    finite = np.abs(residual_window[np.isfinite(residual_window)])
    state: dict[str, Any] = {
        "method": "split-conformal-abs-log-residual",
        "horizon": result.horizon,
        "n_residuals": int(len(finite)),
        "half_width": {},
        "coverage": {
            "0.8": _finite(result.metrics.get("coverage_80")),
            "0.95": _finite(result.metrics.get("coverage_95")),
        },
    }
    for level in LEVELS:
        if len(finite):
            rank = min(len(finite) - 1, math.ceil((len(finite) + 1) * level) - 1)
            state["half_width"][str(level)] = float(np.partition(finite, rank)[rank])
        else:
            state["half_width"][str(level)] = None
    return state


def train_coin(
    prices: pd.DataFrame,
    *,
    coin: str,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    models: Sequence[str] | None = None,
    interval: str = "1d",
    refit: str = "all",
    config: BacktestConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Backtest, select per horizon, refit on the whole series, calibrate intervals.

    Args:
        prices: the coin's price frame (DatetimeIndex or a time column, and ``close``).
        coin: CoinGecko id, for names and reports.
        horizons: forecast horizons in steps.
        models: kinds to consider; every shipped model when None (naive always joins).
        interval: the series' interval.
        refit: ``"all"`` refits every model, ``"selected"`` only the chosen ones.
        config: backtest settings.
        on_progress: progress callback.

    Returns:
        The backtest and one ``TrainedModel`` per model and horizon (``selected`` marks the
        one to promote per horizon).
    """
    started = time.perf_counter()
    config = config or BacktestConfig()
    data, quality = prepare(prices, coin=coin, horizons=horizons, interval=interval)
    backtest, _runs, _origins_used = _backtest(
        data, quality, coin, interval, models, config, on_progress, started
    )
    wanted = {r.model for r in backtest.results if refit == "all" or r.selected}
    fitted: dict[str, Forecaster] = {}
    for done, kind in enumerate(sorted(wanted)):
        if on_progress:
            on_progress(f"{coin}: refit", done, len(wanted))
        fitted[kind] = _make(kind, data.horizons).fit(data)
    if on_progress:
        on_progress(f"{coin}: refit", len(wanted), len(wanted))
    start_at = pd.Timestamp(data.index[0]).to_pydatetime()
    end_at = pd.Timestamp(data.index[-1]).to_pydatetime()
    trained = []
    for result in backtest.results:
        if result.model not in fitted:
            continue
        residuals = np.log(result.actual) - np.log(result.predicted)
        forecaster = fitted[result.model]
        trained.append(
            TrainedModel(
                kind=result.model,
                horizon=result.horizon,
                forecaster=forecaster,
                params=forecaster.get_params(),
                features=list(data.feature_names),
                train_start_at=start_at,
                train_end_at=end_at,
                metrics=result.row(),
                calibration=_calibration(result, residuals[-config.calibration_window :]),
                selected=result.selected,
            )
        )
    return TrainingResult(
        coin=coin, interval=interval, quality=quality, backtest=backtest, models=trained
    )


# ---- report -------------------------------------------------------------------------------


def report(backtests: Sequence[CoinBacktest]) -> dict[str, Any]:
    """The backtest report: one row per coin × horizon × model, and each coin's data quality."""
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "levels": list(LEVELS),
        "coins": {
            b.coin: {
                "interval": b.interval,
                "quality": b.quality,
                "seconds": round(b.seconds, 3),
                "selected": {str(h): getattr(b.selected(h), "model", None) for h in b.horizons},
            }
            for b in backtests
        },
        "results": [result.row() for b in backtests for result in b.results],
    }


def write_report(path: Path, backtests: Sequence[CoinBacktest]) -> tuple[Path, Path]:
    """Write the JSON report at ``path`` and its chart beside it (same name, ``.png``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(report(backtests), indent=1, allow_nan=False, default=_finite)
    path.write_text(payload + "\n", encoding="utf-8")
    chart = path.with_suffix(".png")
    plot_backtests(chart, backtests)
    return path, chart


def plot_backtests(path: Path, backtests: Sequence[CoinBacktest]) -> Path:
    """A PNG grid (coins × horizons): actual price, the selected model's forecast and its
    80 % and 95 % intervals over the last ``CHART_POINTS`` targets, log price axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizons = sorted({h for b in backtests for h in b.horizons}) or [1]
    rows = max(1, len(backtests))
    figure, axes = plt.subplots(
        rows, len(horizons), figsize=(5 * len(horizons), 3.2 * rows), squeeze=False
    )
    try:
        for i, backtest in enumerate(backtests):
            for j, horizon in enumerate(horizons):
                axis = axes[i][j]
                chosen = backtest.selected(horizon)
                if chosen is None or len(chosen.target_at) == 0:
                    axis.set_axis_off()
                    axis.set_title(f"{backtest.coin} h={horizon}: no forecasts")
                    continue
                tail = slice(-CHART_POINTS, None)
                x = chosen.target_at[tail].to_pydatetime()
                levels = sorted(chosen.bounds, reverse=True)
                for level, alpha in zip(levels, (0.18, 0.32), strict=False):
                    lower, upper = chosen.bounds[level]
                    axis.fill_between(
                        x,
                        lower[tail],
                        upper[tail],
                        alpha=alpha,
                        color="tab:blue",
                        label=f"{level:.0%}",
                    )
                axis.plot(x, chosen.actual[tail], color="black", linewidth=0.8, label="actual")
                axis.plot(
                    x, chosen.predicted[tail], color="tab:blue", linewidth=0.8, label=chosen.model
                )
                axis.set_yscale("log")
                mase = chosen.metrics.get("mase")
                title = f"{backtest.coin} h={horizon}: {chosen.model}"
                if isinstance(mase, float) and math.isfinite(mase):
                    title += f" (MASE {mase:.2f})"
                axis.set_title(title, fontsize=9)
                axis.tick_params(labelsize=7)
                axis.legend(fontsize=6, loc="upper left")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=90)
    finally:
        plt.close(figure)
    return path
