"""Walk-forward backtests never let a model see the future, and score it against naive."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pytest

from cryptopredict.forecasting.backtest import (
    BacktestConfig,
    LookAheadError,
    backtest,
    data_until,
    first_complete_row,
)
from cryptopredict.forecasting.dataset import build_forecast_data, from_frame, load_csv
from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
    NotEnoughDataError,
    training_rows,
)
from cryptopredict.forecasting.forecasters.baselines import (
    DriftForecaster,
    MeanReturnForecaster,
    NaiveForecaster,
)
from tests.conftest import SNAPSHOT_PRICES

PRICES = SNAPSHOT_PRICES


class _Simple(Forecaster):
    """Test base: nothing to save."""

    kind: ClassVar[str] = "test"

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        self.fitted_ = True
        return self

    def save(self, directory: Path) -> list[Path]:
        return []

    @classmethod
    def load(cls, directory: Path) -> Self:  # noqa: ARG003 (the interface's signature)
        return cls()


class Naive(_Simple):
    kind = "test-naive"

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        return np.zeros((origins.size, len(self.horizons)))


class Biased(_Simple):
    """Always forecasts a rise of ``bias`` per step."""

    kind = "test-biased"

    def __init__(self, horizons: tuple[int, ...] = (1, 7, 30), bias: float = 0.01) -> None:
        super().__init__(horizons)
        self.bias = bias

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "bias": self.bias}

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        return np.tile(self.bias * np.array(self.horizons, dtype=float), (origins.size, 1))


class MeanOfTraining(_Simple):
    """Honest: mean training target per horizon, plus a tiny nudge from the latest feature."""

    kind = "test-mean"

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        stop = len(data) if end is None else end
        self.means_ = []
        for h in self.horizons:
            rows = training_rows(data, stop, h)
            col = data.horizon_column(h)
            self.means_.append(float(np.mean(data.targets[rows, col])))
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        nudge = 1e-3 * np.nan_to_num(data.features[origins, :1])
        return np.asarray(self.means_)[None, :] + nudge


class Peeker(_Simple):
    """Cheats: forecasts the realised move when it can see it (clipped to the rows given)."""

    kind = "test-peeker"

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        last = len(data) - 1
        cols = [np.minimum(origins + h, last) for h in self.horizons]
        return np.stack([data.log_price[c] - data.log_price[origins] for c in cols], axis=1)


class TargetReader(_Simple):
    """Cheats: reads the target column at the origin (the future) where it is not NaN."""

    kind = "test-target-reader"

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        cols = [data.horizon_column(h) for h in self.horizons]
        return np.nan_to_num(data.targets[np.ix_(origins, cols)])


class Oracle(_Simple):
    """Cheats blatantly: indexes rows after the origin."""

    kind = "test-oracle"

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        return np.stack(
            [data.log_price[origins + h] - data.log_price[origins] for h in self.horizons], axis=1
        )


class Recorder(_Simple):
    """Records what it is given, to check the views handed to fit and predict."""

    kind = "test-recorder"
    calls: ClassVar[list[tuple[str, int, int, bool]]] = []

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        assert end is not None
        t = np.arange(len(data))[:, None]
        open_window = t + np.asarray(data.horizons)[None, :] >= end
        leaked = bool(np.isfinite(data.targets[open_window]).any())
        Recorder.calls.append(("fit", len(data), end, leaked))
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        last = len(data) - 1
        t = np.arange(len(data))[:, None]
        leaked = bool(np.isfinite(data.targets[t + np.asarray(data.horizons) > last]).any())
        Recorder.calls.append(("predict", len(data), int(origins.max()), leaked))
        return np.zeros((origins.size, len(self.horizons)))


def _random_walk(n: int, seed: int = 0, sigma: float = 0.03) -> ForecastData:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2019-01-01", periods=n, freq="D", tz="UTC"),
            "price": 100 * np.exp(np.cumsum(rng.normal(0, sigma, n))),
            "volume": rng.lognormal(10, 1, n),
        }
    )
    return build_forecast_data(from_frame(frame, name="walk"))


@pytest.fixture(scope="module")
def walk() -> ForecastData:
    return _random_walk(900)


def test_fit_and_predict_see_only_the_past(walk: ForecastData) -> None:
    Recorder.calls.clear()
    result = backtest(Recorder(), walk, BacktestConfig(refit_every=40))
    fits = [c for c in Recorder.calls if c[0] == "fit"]
    predicts = [c for c in Recorder.calls if c[0] == "predict"]
    assert len(fits) == len(result.plan.blocks)
    assert all(n_rows == end and not leaked for _, n_rows, end, leaked in fits)
    assert all(n_rows - 1 == last and not leaked for _, n_rows, last, leaked in predicts)
    block_ends = [int(b.origins[-1]) for b in result.plan.blocks]
    assert sorted({c[2] for c in predicts}) == sorted(
        set(block_ends) | {int(b.origins[0]) for b in result.plan.blocks}
    )


@pytest.mark.parametrize("cheater", [Peeker, TargetReader, Oracle])
def test_a_model_that_reads_the_future_is_caught(walk: ForecastData, cheater: type) -> None:
    with pytest.raises(LookAheadError):
        backtest(cheater(), walk)


def test_peeking_within_a_block_is_caught_even_with_the_cheap_audit(walk: ForecastData) -> None:
    with pytest.raises(LookAheadError, match="reads the future"):
        backtest(Peeker(horizons=(1,)), walk, BacktestConfig(refit_every=5))
    # without the audit the view still stops at the block end: the last origin gets no help
    result = backtest(Peeker(horizons=(1,)), walk, BacktestConfig(refit_every=5, audit="off"))
    last_in_block = result.forecasts["origin_row"].isin(
        [int(b.origins[-1]) for b in result.plan.blocks]
    )
    assert (result.forecasts.loc[last_in_block, "predicted_log_return"] == 0).all()


def test_poisoned_future_rows_change_nothing_up_to_the_cut(walk: ForecastData) -> None:
    cut = 600
    poisoned_lp = walk.log_price.copy()
    poisoned_lp[cut + 1 :] = 50.0
    poisoned_feat = walk.features.copy()
    poisoned_feat[cut + 1 :] = -1e6
    poisoned_targets = walk.targets.copy()
    poisoned_targets[cut + 1 :] = 5.0
    poisoned = ForecastData(
        index=walk.index,
        log_price=poisoned_lp,
        features=poisoned_feat,
        feature_names=walk.feature_names,
        targets=poisoned_targets,
        horizons=walk.horizons,
        name=walk.name,
    )
    cfg = BacktestConfig(initial_window=450, refit_every=25, min_calibration=30, audit="all")
    clean = backtest(MeanOfTraining(), walk, cfg).forecasts
    dirty = backtest(MeanOfTraining(), poisoned, cfg).forecasts
    cols = ["predicted_log_return", "lower_80", "upper_80", "lower_95", "upper_95"]
    known = clean["origin_row"] <= cut
    assert clean.loc[known, "lower_80"].notna().any()
    pd.testing.assert_frame_equal(clean.loc[known, cols], dirty.loc[known, cols])


def test_naive_scores_and_intervals_on_a_random_walk(walk: ForecastData) -> None:
    result = backtest(Naive(), walk, BacktestConfig(calibration_window=300))
    assert result.model == "test-naive" and result.name == "walk"
    m1 = result.metrics[1]
    assert m1.relative_mae == 1.0 and m1.mae == m1.naive_mae
    assert m1.dm is not None and m1.dm.mean_difference == 0.0
    assert m1.direction.n == 0  # a flat forecast makes no directional call
    assert abs(m1.coverage["80"] - 0.8) < 0.05 and abs(m1.coverage["95"] - 0.95) < 0.03
    assert 0.7 < m1.naive_mase < 1.3
    frame = result.forecasts
    assert list(frame.columns[:4]) == ["origin_at", "target_at", "horizon", "origin_row"]
    row = frame[(frame["horizon"] == 7)].iloc[100]
    origin = int(row["origin_row"])
    assert row["target_at"] == walk.index[origin + 7]
    assert row["actual_price"] == pytest.approx(np.exp(walk.log_price[origin + 7]))
    assert row["predicted_price"] == row["naive_price"] == row["origin_price"]
    assert row["lower_95"] <= row["lower_80"] <= row["predicted_price"] <= row["upper_80"]
    # the latest origins forecast beyond the data: no actual, still a forecast
    tail = frame[frame["origin_row"] == len(walk) - 2]
    assert tail.loc[tail["horizon"] == 30, "actual_price"].isna().all()
    assert tail["predicted_price"].notna().all()
    assert result.calibrator.scores[1].size == 300
    json_ready = result.to_dict()
    assert json_ready["metrics"]["7"]["n"] == result.metrics[7].n


def test_intervals_use_only_residuals_known_at_each_origin(walk: ForecastData) -> None:
    cfg = BacktestConfig(min_calibration=20, min_calibration_windows=0)
    frame = backtest(Naive(), walk, cfg).forecasts
    h30 = frame[frame["horizon"] == 30]
    first = int(h30["origin_row"].iloc[0])
    has = h30["lower_80"].notna().to_numpy()
    # residual of origin s is known at s + 30: the 20th known residual arrives at first + 49
    assert int(h30["origin_row"].to_numpy()[has][0]) == first + 30 + 19


def test_long_horizons_wait_for_enough_independent_windows(walk: ForecastData) -> None:
    result = backtest(Naive(), walk, BacktestConfig(min_calibration=20))
    frame = result.forecasts
    for h, needed in ((1, 20), (7, 70), (30, 300)):  # max(20, 10 windows of h steps)
        rows = frame[frame["horizon"] == h]
        first = int(rows["origin_row"].iloc[0])
        has = rows["lower_80"].notna().to_numpy()
        assert int(rows["origin_row"].to_numpy()[has][0]) == first + h + needed - 1
    cal = result.calibrator
    assert cal.window_for(1) == 500 and cal.window_for(30) == 1500
    assert cal.scores[30].size == min(1500, result.metrics[30].n)


def test_biased_model_is_worse_than_naive_and_dm_says_so(walk: ForecastData) -> None:
    result = backtest(Biased(bias=0.02), walk)
    m = result.metrics[7]
    assert m.relative_mae > 1.2
    assert m.dm is not None and m.dm.statistic > 0 and m.dm.p_value < 0.01


def test_volatility_scaled_intervals(walk: ForecastData) -> None:
    result = backtest(Naive(), walk, BacktestConfig(volatility_scaled=True))
    assert abs(result.metrics[1].coverage["80"] - 0.8) < 0.06
    assert result.calibrator.volatility_scaled


def test_young_coin_of_300_points_gets_a_backtest() -> None:
    series = load_csv(PRICES / "cardano.csv")
    young = from_frame(series.frame.iloc[-300:].reset_index(), name="young")
    data = build_forecast_data(young)
    result = backtest(Naive(), data, BacktestConfig(min_calibration=30))
    assert result.plan.initial_window == 150
    assert result.metrics[30].n == 300 - 150 - 30
    assert result.metrics[1].n_intervals > 50


def test_too_short_series_raises_not_enough_data() -> None:
    with pytest.raises(NotEnoughDataError, match="needs at least"):
        backtest(Naive(), _random_walk(120))


def test_model_horizons_must_exist_in_the_data(walk: ForecastData) -> None:
    with pytest.raises(ValueError, match="horizon 3"):
        backtest(Naive(horizons=(1, 3)), walk)


def test_data_until_masks_open_targets(walk: ForecastData) -> None:
    view = data_until(walk, 99)
    assert len(view) == 100
    assert np.isnan(view.targets[99 - 30 + 1 :, 2]).all()
    assert np.isfinite(view.targets[99 - 30, 2])
    assert first_complete_row(walk) == 33


def test_backtest_uses_the_real_baselines() -> None:
    data = build_forecast_data(load_csv(PRICES / "ethereum.csv"))
    cfg = BacktestConfig(audit="all")
    for cls in (
        NaiveForecaster,
        DriftForecaster,
        MeanReturnForecaster,
    ):
        result = backtest(cls(), data, cfg)
        for m in result.metrics.values():
            assert 0.8 < m.relative_mae_log < 1.3
            assert abs(m.coverage["80"] - 0.8) < 0.12
    naive = backtest(NaiveForecaster(), data)
    assert naive.metrics[1].relative_mae == 1.0
