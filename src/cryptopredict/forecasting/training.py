"""Training pipeline for one coin: backtest several models on the same origins, choose per
horizon against naive, refit on all data, keep each model's interval calibration, and report.

Every concept has one implementation elsewhere; this module composes them:

- cleaning and the data-quality report: ``dataset`` and ``quality``;
- the walk-forward schedule: ``splits.walk_forward_plan``, one plan per refit cadence, all with
  the same origins (a costly model such as the LSTM refits less often, yet every model is
  scored origin by origin against the others);
- the backtest itself (fresh fit per block, look-ahead audit, naive on the same origins, online
  conformal intervals, per-horizon metrics, the final calibrator): ``backtest.backtest``;
- the choice of the model to serve (naive unless a model is better with a Diebold-Mariano
  p-value below alpha): ``selection.select_models``;
- intervals around a served forecast: ``intervals.ConformalCalibrator``, whose state is stored
  with each registered version (``forecast_latest`` puts it around a new forecast).

Free of FastAPI and SQLAlchemy: it takes a price frame (from the database through
``forecasting.service``, or from a CSV with ``load_csv_prices``) and returns plain results;
``forecasting.service`` stores them in the registry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from cryptopredict.forecasting import dataset, quality
from cryptopredict.forecasting.backtest import (
    BacktestConfig,
    BacktestResult,
    backtest,
    clone,
    first_complete_row,
)
from cryptopredict.forecasting.features import FeatureConfig
from cryptopredict.forecasting.forecasters import FORECASTERS, make_forecaster
from cryptopredict.forecasting.forecasters.base import (
    ForecastData,
    Forecaster,
    NotEnoughDataError,
)
from cryptopredict.forecasting.interval_backtest import CoinIntervals, backtest_intervals
from cryptopredict.forecasting.intervals import (
    ConformalCalibrator,
    level_label,
)
from cryptopredict.forecasting.selection import NAIVE, Selection, select_models
from cryptopredict.forecasting.splits import WalkForwardPlan, minimum_rows, walk_forward_plan

logger = logging.getLogger(__name__)

DEFAULT_HORIZONS = (1, 7, 30)
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
    "skilled",
)
_SCORES = (
    "mae",
    "naive_mae",
    "relative_mae",
    "relative_mae_log",
    "mase",
    "naive_mase",
    "directional_accuracy",
    "always_up",
    "dm_pvalue",
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


def prepare(
    prices: pd.DataFrame,
    *,
    coin: str,
    horizons: Sequence[int],
    interval: str = "1d",
    now: dt.datetime | None = None,
) -> tuple[ForecastData, dict[str, Any]]:
    """Clean the series, measure its quality, and build its features and targets once.

    Args:
        prices: the coin's price frame (DatetimeIndex or a time column, and ``close``).
        coin: the series' name.
        horizons: forecast horizons in steps.
        interval: the series' interval.
        now: reference time for the quality report's staleness; none measured when None.

    Returns:
        The ``ForecastData`` and the JSON-ready quality report.
    """
    series = dataset.from_frame(prices, interval, name=coin)
    report = quality.quality_report(series, now=now).to_dict()
    return dataset.build_forecast_data(series, tuple(sorted(set(horizons)))), report


# ---- configuration and plans ---------------------------------------------------------------


def _default_backtest() -> BacktestConfig:
    return BacktestConfig(refit_every=90)


@dataclass(frozen=True)
class TrainingConfig:
    """How models are backtested against each other and chosen.

    Attributes:
        backtest: walk-forward settings every model shares (initial window, interval levels,
            calibration window, audit); its ``refit_every`` is the default cadence.
        refit_every_by_kind: a longer cadence for costly models (the LSTM takes seconds per
            fit). Every model still forecasts the same origins, and no fit sees a row after
            its block's first origin.
        alpha: the Diebold-Mariano p-value a model must beat naive with to be served.
        bonferroni: divide ``alpha`` by the number of candidates.
        intervals: also backtest the interval methods around each horizon's chosen model
            (``interval_backtest``) and choose one per horizon.
        interval_history: where naive serves a horizon, its intervals are scored on every
            origin from this row on, not only the point backtest's: naive's forecast needs no
            fit, and the Diebold-Mariano test of interval scores needs the origins (h-step
            windows overlap, so a test at h=7 sees about n / 7 independent ones).
    """

    backtest: BacktestConfig = field(default_factory=_default_backtest)
    refit_every_by_kind: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"lstm": 365})
    )
    alpha: float = 0.05
    bonferroni: bool = True
    intervals: bool = True
    interval_history: int = 365

    def refit_every(self, kind: str) -> int:
        """Origins forecast per fit for a model kind."""
        return int(self.refit_every_by_kind.get(kind, self.backtest.refit_every))

    def minimum_rows(
        self, horizons: Sequence[int] = DEFAULT_HORIZONS, features: FeatureConfig | None = None
    ) -> int:
        """The fewest rows a series needs for training at these horizons: the features'
        warm-up, then the shortest walk-forward backtest (a shorter series raises
        ``NotEnoughDataError``; costly models may still be left out of a short one)."""
        return minimum_rows(
            horizons,
            first_row=(features or FeatureConfig()).warm_up(),
            min_train_rows=self.backtest.min_train_rows,
            min_test_origins=self.backtest.min_test_origins,
        )


def common_plans(
    data: ForecastData, kinds: Sequence[str], config: TrainingConfig
) -> dict[str, WalkForwardPlan]:
    """One walk-forward plan per model kind, all with the same origins, each refitting at its
    kind's cadence.

    Raises:
        NotEnoughDataError: the series is too short for a backtest.
    """
    cfg = config.backtest
    first_row = first_complete_row(data)

    def plan(initial_window: int | None, refit_every: int) -> WalkForwardPlan:
        return walk_forward_plan(
            len(data),
            data.horizons,
            initial_window=initial_window,
            refit_every=refit_every,
            first_row=first_row,
            min_train_rows=cfg.min_train_rows,
            min_test_origins=cfg.min_test_origins,
        )

    base = plan(cfg.initial_window, cfg.refit_every)
    by_cadence = {cfg.refit_every: base}
    plans = {}
    for kind in kinds:
        every = config.refit_every(kind)
        if every not in by_cadence:
            by_cadence[every] = plan(base.initial_window, every)
        plans[kind] = by_cadence[every]
    return plans


# ---- results ------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such values become null; numpy scalars become Python's."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _jsonable(value: Any) -> Any:
    """A nested structure with every non-finite float replaced by null."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _finite(value)


@dataclass
class CoinBacktest:
    """Every model's walk-forward backtest of one coin on common origins, and the choice made
    per horizon.

    Attributes:
        coin: CoinGecko id.
        interval: the series' interval.
        horizons: steps ahead.
        quality: the series' data-quality report (``quality.QualityReport.to_dict``).
        results: per model kind, its backtest (naive always among them).
        selections: per horizon, the selection between those results.
        skipped: model kinds left out, with the reason (too little data for them).
        seconds: wall time of the backtests.
        intervals: the interval methods' backtest around each horizon's chosen model (None
            when not run).
    """

    coin: str
    interval: str
    horizons: tuple[int, ...]
    quality: dict[str, Any]
    results: dict[str, BacktestResult]
    selections: dict[int, Selection]
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    intervals: CoinIntervals | None = None

    def selected(self, horizon: int) -> str | None:
        """The model kind chosen for ``horizon`` (``"naive"`` when nothing has skill)."""
        selection = self.selections.get(horizon)
        return None if selection is None else selection.chosen

    def row(self, kind: str, horizon: int) -> dict[str, Any]:
        """One row of the report: a model's scores at one horizon, next to naive's.

        MAE is in price units, ``relative_mae`` divides it by naive's on the same origins;
        MASE is on log prices, scaled by the training window's naive error. Directional
        accuracy counts calls only (naive makes none); compare it with ``always_up``.
        ``dm_pvalue`` is selection's two-sided Diebold-Mariano test against naive on the
        origins every model forecast (None for naive); ``skilled`` means better than naive
        and significant, ``selected`` that the model serves this horizon.
        """
        result = self.results[kind]
        scores = result.metrics.get(horizon)
        selection = self.selections.get(horizon)
        candidate = (
            None
            if selection is None
            else next((c for c in selection.candidates if c.model == kind), None)
        )
        row: dict[str, Any] = {"coin": self.coin, "horizon": horizon, "model": kind}
        labels = [level_label(level) for level in result.config.levels]
        if scores is None:
            row.update(dict.fromkeys(_SCORES), n_forecasts=0)
            row.update({f"coverage_{label}": None for label in labels})
        else:
            row.update(
                mae=scores.mae,
                naive_mae=scores.naive_mae,
                relative_mae=scores.relative_mae,
                relative_mae_log=scores.relative_mae_log,
                mase=scores.mase,
                naive_mase=scores.naive_mase,
                directional_accuracy=scores.direction.hit_rate,
                always_up=scores.direction.up_share,
                dm_pvalue=None if kind == NAIVE or candidate is None else candidate.dm_p_value,
                n_forecasts=scores.n,
            )
            row.update({f"coverage_{label}": scores.coverage.get(label) for label in labels})
        row["selected"] = selection is not None and selection.chosen == kind
        row["skilled"] = candidate is not None and candidate.skilled
        return {key: _finite(value) for key, value in row.items()}

    def rows(self) -> list[dict[str, Any]]:
        """Every row of the report: horizon by horizon, naive first."""
        return [self.row(kind, h) for h in self.horizons for kind in self.results]


def run_backtests(
    data: ForecastData,
    *,
    quality_report: dict[str, Any],
    interval: str = "1d",
    models: Sequence[str] | None = None,
    config: TrainingConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[CoinBacktest, dict[str, Forecaster]]:
    """Backtest ``models`` (every shipped one when None; naive always joins as the bar) on the
    same origins of one series and select per horizon.

    Returns:
        The coin's backtest and, per kind backtested, the unfitted forecaster it cloned.

    Raises:
        NotEnoughDataError: the series is too short for a backtest.
        ValueError: an unknown model kind.
        LookAheadError: a model read rows after its origin.
    """
    started = time.perf_counter()
    config = config or TrainingConfig()
    coin = data.name
    kinds = list(dict.fromkeys([NAIVE, *(models or FORECASTERS)]))
    prototypes = {kind: make_forecaster(kind, horizons=data.horizons) for kind in kinds}
    plans = common_plans(data, kinds, config)
    results: dict[str, BacktestResult] = {}
    skipped: dict[str, str] = {}
    label = f"{coin}: backtest"
    for done, kind in enumerate(kinds):
        if on_progress:
            on_progress(label, done, len(kinds))
        try:
            results[kind] = backtest(prototypes[kind], data, config.backtest, plan=plans[kind])
        except NotEnoughDataError as exc:
            if kind == NAIVE:
                raise
            logger.warning("%s: %s left out of the backtest: %s", coin, kind, exc)
            skipped[kind] = str(exc)
    if on_progress:
        on_progress(label, len(kinds), len(kinds))
    selections = select_models(results, alpha=config.alpha, bonferroni=config.bonferroni)
    intervals = None
    if config.intervals:
        origins, centers = interval_centers(results, selections, len(data), config.interval_history)
        intervals = backtest_intervals(data, origins, centers)
    coin_backtest = CoinBacktest(
        coin=coin,
        interval=interval,
        horizons=data.horizons,
        quality=quality_report,
        results=results,
        selections=selections,
        skipped=skipped,
        seconds=time.perf_counter() - started,
        intervals=intervals,
    )
    return coin_backtest, {kind: prototypes[kind] for kind in results}


def interval_centers(
    results: Mapping[str, BacktestResult],
    selections: Mapping[int, Selection],
    rows: int,
    history: int,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The origins interval methods are scored on, and each horizon's served point forecast
    there (its predicted log return; NaN where the served model made none).

    The point backtest's origins, extended back to row ``history`` when naive serves some
    horizon: naive forecasts no change at every origin without a fit, so its intervals can be
    scored on all of them. A horizon served by another model keeps its backtest's origins
    (its forecasts are NaN before them, and the methods give no distribution there).
    """
    point_origins = results[NAIVE].plan.origins
    origins = point_origins
    if any(s.chosen == NAIVE for s in selections.values()) and point_origins.size:
        first = min(max(history, 1), int(point_origins[0]))
        earlier = np.arange(first, int(point_origins[0]), dtype=np.int64)
        origins = np.concatenate([earlier, np.asarray(point_origins, dtype=np.int64)])
    origins = origins[origins < rows]
    centers = {
        h: np.zeros(origins.size)  # naive: no change
        if selection.chosen == NAIVE
        else _predicted_log_returns(results[selection.chosen], h, origins)
        for h, selection in selections.items()
    }
    return origins, centers


def _predicted_log_returns(result: BacktestResult, horizon: int, origins: np.ndarray) -> np.ndarray:
    """A backtest's forecasts at one horizon, aligned with ``origins`` (NaN where none)."""
    frame = result.forecasts[result.forecasts["horizon"] == horizon]
    by_origin = pd.Series(
        frame["predicted_log_return"].to_numpy(), index=frame["origin_row"].to_numpy()
    )
    return np.asarray(by_origin.reindex(origins).to_numpy(), dtype=np.float64)


def backtest_coin(
    prices: pd.DataFrame,
    *,
    coin: str,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    models: Sequence[str] | None = None,
    interval: str = "1d",
    config: TrainingConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> CoinBacktest:
    """Clean one coin's prices and backtest models on them (see ``run_backtests``).

    Raises:
        NotEnoughDataError: the series is too short for the first training window.
        ValueError: an unusable series or an unknown model.
    """
    data, report_ = prepare(prices, coin=coin, horizons=horizons, interval=interval)
    return run_backtests(
        data,
        quality_report=report_,
        interval=interval,
        models=models,
        config=config,
        on_progress=on_progress,
    )[0]


# ---- training -------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    """A model refitted on the whole series, ready to register for one horizon.

    Attributes:
        kind: the forecaster kind.
        horizon: the horizon this version serves.
        forecaster: the fitted model (all horizons; the version serves one).
        params: its hyper-parameters.
        features: the feature names it was fitted on (serving checks them).
        train_start_at: first row of the training series.
        train_end_at: last row of the training series.
        metrics: the backtest's report row, with the selection's reason.
        calibration: ``ConformalCalibrator.to_dict()`` for this horizon, from the backtest's
            latest out-of-sample residuals.
        selected: whether this model serves the horizon.
    """

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
    """What training one coin produced: its data quality, backtest and refitted models."""

    coin: str
    interval: str
    quality: dict[str, Any]
    backtest: CoinBacktest
    models: list[TrainedModel]


def horizon_calibrator(calibrator: ConformalCalibrator, horizon: int) -> ConformalCalibrator:
    """The calibrator narrowed to one horizon, as stored with that horizon's version."""
    return replace(calibrator, horizons=(horizon,), scores={horizon: calibrator.scores[horizon]})


def train_coin(
    prices: pd.DataFrame,
    *,
    coin: str,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    models: Sequence[str] | None = None,
    interval: str = "1d",
    refit: str = "all",
    config: TrainingConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Backtest, select per horizon, refit on the whole series, keep the calibration.

    Args:
        prices: the coin's price frame (DatetimeIndex or a time column, and ``close``).
        coin: CoinGecko id, for names and reports.
        horizons: forecast horizons in steps.
        models: kinds to consider; every shipped model when None (naive always joins).
        interval: the series' interval.
        refit: ``"all"`` refits every model, ``"selected"`` only the chosen ones.
        config: backtest and selection settings.
        on_progress: progress callback.

    Returns:
        The backtest and one ``TrainedModel`` per model and horizon (``selected`` marks the
        one to promote per horizon).
    """
    if refit not in ("all", "selected"):
        raise ValueError(f"refit must be 'all' or 'selected', not {refit!r}")
    data, report_ = prepare(prices, coin=coin, horizons=horizons, interval=interval)
    result, prototypes = run_backtests(
        data,
        quality_report=report_,
        interval=interval,
        models=models,
        config=config,
        on_progress=on_progress,
    )
    chosen = {s.chosen for s in result.selections.values()}
    wanted = [kind for kind in result.results if refit == "all" or kind in chosen]
    label = f"{coin}: refit"
    fitted: dict[str, Forecaster] = {}
    for done, kind in enumerate(wanted):
        if on_progress:
            on_progress(label, done, len(wanted))
        fitted[kind] = clone(prototypes[kind]).fit(data)
    if on_progress:
        on_progress(label, len(wanted), len(wanted))
    start_at = pd.Timestamp(data.index[0]).to_pydatetime()
    end_at = pd.Timestamp(data.index[-1]).to_pydatetime()
    trained = []
    for kind, forecaster in fitted.items():
        calibrator = result.results[kind].calibrator
        for horizon, selection in sorted(result.selections.items()):
            row = result.row(kind, horizon)
            row["selection_reason"] = selection.reason
            calibration = horizon_calibrator(calibrator, horizon).to_dict()
            if selection.chosen == kind:
                calibration |= _interval_calibration(result, horizon)
            trained.append(
                TrainedModel(
                    kind=kind,
                    horizon=horizon,
                    forecaster=forecaster,
                    params=forecaster.get_params(),
                    features=list(data.feature_names),
                    train_start_at=start_at,
                    train_end_at=end_at,
                    metrics=row,
                    calibration=_jsonable(calibration),
                    selected=bool(row["selected"]),
                )
            )
    return TrainingResult(
        coin=coin, interval=interval, quality=report_, backtest=result, models=trained
    )


def _interval_calibration(result: CoinBacktest, horizon: int) -> dict[str, Any]:
    """The interval method chosen around the served model at ``horizon``: its serving state
    and its backtest scores (``{}`` without an interval backtest)."""
    if result.intervals is None or horizon not in result.intervals.models:
        return {}
    model = result.intervals.models[horizon]
    selection = result.intervals.selections[horizon]
    scores = next((c for c in selection.candidates if c.method == model.method), None)
    return {
        "interval": {
            "model": model.to_dict(),
            "scores": None if scores is None else scores.to_dict(),
            "reason": selection.reason,
        }
    }


# ---- report -------------------------------------------------------------------------------


def report(backtests: Sequence[CoinBacktest]) -> dict[str, Any]:
    """The backtest report: one row per coin × horizon × model, and per coin its data quality,
    plans, the choice per horizon with its reason, and the models left out."""
    coins: dict[str, Any] = {}
    for b in backtests:
        coins[b.coin] = {
            "interval": b.interval,
            "quality": b.quality,
            "seconds": round(b.seconds, 3),
            "plans": {
                kind: {
                    "initial_window": r.plan.initial_window,
                    "refit_every": r.plan.refit_every,
                    "origins": int(r.plan.origins.size),
                    "refits": len(r.plan.blocks),
                    "fit_seconds": round(r.fit_seconds, 3),
                    "predict_seconds": round(r.predict_seconds, 3),
                }
                for kind, r in b.results.items()
            },
            "selected": {
                str(h): {
                    "model": s.chosen,
                    "skilled": s.skilled,
                    "n_origins": s.n_origins,
                    "reason": s.reason,
                }
                for h, s in sorted(b.selections.items())
            },
            "skipped": b.skipped,
        }
        if b.intervals is not None:
            coins[b.coin]["interval_seconds"] = round(b.intervals.seconds, 3)
            coins[b.coin]["intervals"] = {
                str(h): s.to_dict() for h, s in sorted(b.intervals.selections.items())
            }
    payload: dict[str, Any] = _jsonable(
        {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(),
            "coins": coins,
            "results": [row for b in backtests for row in b.rows()],
        }
    )
    return payload


def write_report(path: Path, backtests: Sequence[CoinBacktest]) -> tuple[Path, Path]:
    """Write the JSON report at ``path`` and its chart beside it (same name, ``.png``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(report(backtests), indent=1, allow_nan=False)
    path.write_text(payload + "\n", encoding="utf-8")
    chart = path.with_suffix(".png")
    plot_backtests(chart, backtests)
    return path, chart


def write_forecasts_csv(path: Path, backtests: Sequence[CoinBacktest]) -> Path:
    """Every origin's served forecast (``interval_backtest.FORECAST_COLUMNS``), so anyone can
    recompute the report's interval figures."""
    frames = [b.intervals.forecasts_frame() for b in backtests if b.intervals is not None]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ", float_format="%.10g")
    return path


def _chosen_forecasts(backtest_: CoinBacktest, horizon: int) -> pd.DataFrame:
    """The selected model's realised forecasts at one horizon, the last ``CHART_POINTS``."""
    kind = backtest_.selected(horizon)
    if kind is None:
        return pd.DataFrame()
    frame = backtest_.results[kind].forecasts
    realised = frame[(frame["horizon"] == horizon) & np.isfinite(frame["actual_price"])]
    tail: pd.DataFrame = realised.tail(CHART_POINTS)
    return tail


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
        for i, coin_backtest in enumerate(backtests):
            for j, horizon in enumerate(horizons):
                axis = axes[i][j]
                frame = _chosen_forecasts(coin_backtest, horizon)
                if frame.empty:
                    axis.set_axis_off()
                    axis.set_title(f"{coin_backtest.coin} h={horizon}: no forecasts")
                    continue
                kind = str(coin_backtest.selected(horizon))
                x = pd.DatetimeIndex(frame["target_at"]).to_pydatetime()
                levels = sorted(coin_backtest.results[kind].config.levels, reverse=True)
                for level, alpha in zip(levels, (0.18, 0.32), strict=False):
                    label = level_label(level)
                    axis.fill_between(
                        x,
                        frame[f"lower_{label}"].to_numpy(),
                        frame[f"upper_{label}"].to_numpy(),
                        alpha=alpha,
                        color="tab:blue",
                        label=f"{label} %",
                    )
                axis.plot(x, frame["actual_price"], color="black", linewidth=0.8, label="actual")
                axis.plot(x, frame["predicted_price"], color="tab:blue", linewidth=0.8, label=kind)
                axis.set_yscale("log")
                selection = coin_backtest.selections[horizon]
                title = f"{coin_backtest.coin} h={horizon}: {kind}"
                title += " (skilled)" if selection.skilled else " (no model beats naive)"
                axis.set_title(title, fontsize=9)
                axis.tick_params(labelsize=7)
                axis.legend(fontsize=6, loc="upper left")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=90)
    finally:
        plt.close(figure)
    return path
