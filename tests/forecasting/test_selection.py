"""Selection serves naive unless a model beats it significantly on the same origins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pytest

from cryptopredict.forecasting.backtest import BacktestConfig, BacktestResult, backtest
from cryptopredict.forecasting.dataset import build_forecast_data, from_frame, load_csv
from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
)
from cryptopredict.forecasting.forecasters.baselines import (
    DriftForecaster,
    MeanReturnForecaster,
    NaiveForecaster,
)
from cryptopredict.forecasting.selection import select_all, select_models, selections_frame
from tests.conftest import SNAPSHOT_PRICES

PRICES = SNAPSHOT_PRICES


class _Stateless(Forecaster):
    kind: ClassVar[str] = "stateless"

    def __init__(self, horizons: tuple[int, ...] = (1, 7)) -> None:
        super().__init__(horizons)

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        self.fitted_ = True
        return self

    def save(self, directory: Path) -> list[Path]:
        return []

    @classmethod
    def load(cls, directory: Path) -> Self:  # noqa: ARG003 (the interface's signature)
        return cls()


class Naive(_Stateless):
    kind = "naive"

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        return np.zeros((origins.size, len(self.horizons)))


class Biased(_Stateless):
    kind = "biased"

    def __init__(self, horizons: tuple[int, ...] = (1, 7), bias: float = 0.01) -> None:
        super().__init__(horizons)
        self.bias = bias

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "bias": self.bias}

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        return np.tile(self.bias * np.asarray(self.horizons, float), (origins.size, 1))


class Momentum(_Stateless):
    """Knows the AR(1) coefficient of the returns: real, honest skill on an AR series."""

    kind = "momentum"

    def __init__(self, horizons: tuple[int, ...] = (1, 7), phi: float = 0.5) -> None:
        super().__init__(horizons)
        self.phi = phi

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "phi": self.phi}

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        last = data.log_price[origins] - data.log_price[origins - 1]
        gain = np.array([self.phi * (1 - self.phi**h) / (1 - self.phi) for h in self.horizons])
        return last[:, None] * gain[None, :]


def _data(phi: float, n: int = 800, seed: int = 1) -> ForecastData:
    rng = np.random.default_rng(seed)
    returns = np.zeros(n)
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + rng.normal(0, 0.02)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
            "price": 50 * np.exp(np.cumsum(returns)),
        }
    )
    return build_forecast_data(from_frame(frame, name=f"ar{phi}"), horizons=(1, 7))


def _run(data: ForecastData, *models: Forecaster) -> list[BacktestResult]:
    return [backtest(m, data, BacktestConfig(min_calibration=30)) for m in models]


def test_skilled_model_is_chosen_with_significant_dm() -> None:
    data = _data(phi=0.5)
    selection = select_models(_run(data, Naive(), Biased(), Momentum()))
    one = selection[1]
    assert one.chosen == "momentum" and one.skilled
    best = one.candidates[0]
    assert best.model == "momentum" and best.relative_mae < 0.95 and best.dm_p_value < 0.05
    assert best.dm_statistic < 0
    naive = next(c for c in one.candidates if c.model == "naive")
    assert naive.relative_mae == 1.0 and not naive.skilled
    assert "momentum" in one.reason


def test_no_skill_means_naive_is_served_and_never_called_skilled() -> None:
    data = _data(phi=0.0, seed=3)
    selection = select_models(
        {"biased": _run(data, Biased())[0], "tiny": _run(data, Biased(bias=1e-5))[0]}
    )
    for sel in selection.values():
        assert sel.chosen == "naive" and not sel.skilled
        assert not any(c.skilled for c in sel.candidates)
        assert "naive is used" in sel.reason
    biased = next(c for c in selection[7].candidates if c.model == "biased")
    assert biased.relative_mae > 1 and biased.dm_statistic > 0


def test_better_mae_without_significance_is_not_skill() -> None:
    data = _data(phi=0.5, n=300, seed=4)
    weak = Momentum(phi=0.02)  # a sliver of the true signal: lower MAE, not significant
    sel = select_models(_run(data, weak))[7]
    cand = sel.candidates[0]
    assert cand.relative_mae < 1 and cand.dm_p_value >= 0.05
    assert sel.chosen == "naive" and not sel.skilled


def test_common_origins_only() -> None:
    data = _data(phi=0.5)
    short = backtest(Momentum(), data, BacktestConfig(initial_window=500, min_calibration=30))
    long = backtest(Naive(), data, BacktestConfig(initial_window=300, min_calibration=30))
    sel = select_models([short, long])[1]
    assert sel.n_origins == short.metrics[1].n < long.metrics[1].n


def test_bonferroni_and_price_space_and_json() -> None:
    data = _data(phi=0.5)
    results = {"a": _run(data, Momentum())[0], "b": _run(data, Biased())[0]}
    sel = select_models(results, bonferroni=True, space="price")[1]
    assert sel.alpha == 0.025 and sel.space == "price"
    assert sel.chosen == "a"
    payload = json.loads(json.dumps(sel.to_dict()))
    assert payload["candidates"][0]["model"] == "a"
    frame = selections_frame(select_all({data.name: results}))
    assert frame.loc[0, "name"] == data.name and list(frame["horizon"]) == [1, 7]


def test_bonferroni_is_the_default_so_more_candidates_need_more_evidence() -> None:
    data = _data(phi=0.5)
    results = {"a": _run(data, Momentum())[0], "b": _run(data, Biased())[0]}
    assert select_models(results)[1].alpha == 0.025
    assert select_models(results, bonferroni=False)[1].alpha == 0.05


def test_inputs_are_checked() -> None:
    a = _run(_data(phi=0.5, seed=1), Naive())[0]
    b = _run(_data(phi=0.0, seed=2), Naive())[0]
    with pytest.raises(ValueError, match="different series"):
        select_models({"x": a, "y": b})
    with pytest.raises(ValueError, match="two results"):
        select_models([a, a])
    with pytest.raises(ValueError, match="no backtest"):
        select_models({})


def test_real_baselines_on_real_coins_are_not_presented_as_skilled() -> None:
    for coin in ("bitcoin", "cardano"):
        data = build_forecast_data(load_csv(PRICES / f"{coin}.csv"))
        results = [
            backtest(cls(), data)
            for cls in (
                NaiveForecaster,
                DriftForecaster,
                MeanReturnForecaster,
            )
        ]
        for sel in select_models(results).values():
            if sel.skilled:  # allowed only with the evidence the rule demands
                best = next(c for c in sel.candidates if c.model == sel.chosen)
                assert best.dm_p_value < 0.05 and best.relative_mae < 1
            else:
                assert sel.chosen == "naive"
