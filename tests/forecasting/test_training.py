"""Training: backtests on common origins through ``forecasting.backtest``, selection against
naive through ``forecasting.selection``, refit, the conformal state kept for serving, the
report, and registration of the versions in the database (SQLite or PostgreSQL, whichever the
fixtures run on)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.forecasting import latest, service, training
from cryptopredict.forecasting.backtest import BacktestConfig
from cryptopredict.forecasting.forecasters.base import Forecaster, NotEnoughDataError
from cryptopredict.forecasting.intervals import ConformalCalibrator
from cryptopredict.forecasting.models import ModelStatus
from cryptopredict.forecasting.repository import ModelVersionRepository
from tests.factories import Factory

HORIZONS = (1, 7)
START = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)


def random_walk_closes(n: int = 400, seed: int = 3, start: float = 100.0) -> list[float]:
    """A geometric random walk: what daily crypto closes look like to a forecaster."""
    rng = np.random.default_rng(seed)
    return list(start * np.exp(np.cumsum(rng.normal(0.0005, 0.03, n))))


def price_frame(closes: list[float]) -> pd.DataFrame:
    index = pd.date_range(START, periods=len(closes), freq="D", name="date")
    return pd.DataFrame({"close": closes, "volume": 1000.0}, index=index)


def test_common_plans_share_origins_and_differ_in_cadence() -> None:
    data, _ = training.prepare(price_frame(random_walk_closes()), coin="rw", horizons=HORIZONS)
    config = training.TrainingConfig(refit_every_by_kind={"drift": 50})
    plans = training.common_plans(data, ["naive", "drift", "mean"], config)
    assert plans["naive"] is plans["mean"]
    assert plans["naive"].refit_every == 90 and plans["drift"].refit_every == 50
    assert np.array_equal(plans["naive"].origins, plans["drift"].origins)
    assert len(plans["drift"].blocks) > len(plans["naive"].blocks)


def test_backtest_scores_every_model_on_the_same_origins() -> None:
    backtest = training.backtest_coin(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS, models=["drift"]
    )
    assert set(backtest.results) == {"naive", "drift"}
    assert np.array_equal(
        backtest.results["naive"].plan.origins, backtest.results["drift"].plan.origins
    )
    rows = backtest.rows()
    assert {(r["model"], r["horizon"]) for r in rows} == {
        (m, h) for m in ("naive", "drift") for h in HORIZONS
    }
    for horizon in HORIZONS:
        at_h = [r for r in rows if r["horizon"] == horizon]
        assert sum(r["selected"] for r in at_h) == 1
        assert len({r["n_forecasts"] for r in at_h}) == 1
        naive = next(r for r in at_h if r["model"] == "naive")
        assert naive["relative_mae"] == 1.0
        assert naive["dm_pvalue"] is None and naive["skilled"] is False
        drift = next(r for r in at_h if r["model"] == "drift")
        candidates = backtest.selections[horizon].candidates
        assert drift["dm_pvalue"] == next(c for c in candidates if c.model == "drift").dm_p_value
        for row in at_h:
            assert 0.5 < float(row["coverage_80"] or 0) < float(row["coverage_95"] or 0)
    assert backtest.quality["length"] == 400


def test_naive_is_kept_unless_beaten_significantly() -> None:
    """On a pure random walk nothing beats naive for real, so naive serves, unskilled."""
    backtest = training.backtest_coin(
        price_frame(random_walk_closes(seed=11)), coin="rw", horizons=(1,), models=["drift"]
    )
    selection = backtest.selections[1]
    assert backtest.selected(1) == selection.chosen
    if selection.chosen == "naive":
        assert not selection.skilled
    else:
        assert selection.skilled
        chosen = next(c for c in selection.candidates if c.model == selection.chosen)
        assert chosen.dm_p_value < 0.05


def test_a_skilled_model_displaces_naive() -> None:
    """A steady 1 %/day trend: drift is better than naive and significantly so."""
    rng = np.random.default_rng(5)
    closes = list(100 * np.exp(np.cumsum(0.01 + rng.normal(0, 0.002, 400))))
    backtest = training.backtest_coin(
        price_frame(closes), coin="trend", horizons=HORIZONS, models=["drift"]
    )
    for horizon in HORIZONS:
        assert backtest.selected(horizon) == "drift"
        row = backtest.row("drift", horizon)
        assert row["skilled"] and row["selected"] and row["relative_mae"] < 1


def test_too_short_a_series_is_refused() -> None:
    with pytest.raises(NotEnoughDataError, match="needs at least"):
        training.backtest_coin(price_frame(random_walk_closes(100)), coin="short")


def test_a_model_without_enough_data_is_left_out_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ARIMA searching 300 lags cannot fit a 200-row first window: it is reported as
    skipped and the others go on."""
    data, quality = training.prepare(
        price_frame(random_walk_closes()), coin="rw", horizons=HORIZONS
    )
    original = training.make_forecaster

    def greedy(kind: str, horizons: tuple[int, ...]) -> Forecaster:
        if kind == "arima":
            return original(kind, horizons=horizons, max_lag=300)
        return original(kind, horizons=horizons)

    monkeypatch.setattr(training, "make_forecaster", greedy)
    backtest, _ = training.run_backtests(data, quality_report=quality, models=["arima"])
    assert set(backtest.results) == {"naive"}
    assert "arima" in backtest.skipped
    assert backtest.selected(1) == "naive"


def test_train_coin_refits_and_keeps_the_backtest_calibration() -> None:
    result = training.train_coin(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS, models=["drift"]
    )
    assert {(m.kind, m.horizon) for m in result.models} == {
        (k, h) for k in ("naive", "drift") for h in HORIZONS
    }
    for model in result.models:
        assert model.forecaster.fitted_
        calibrator = ConformalCalibrator.from_dict(json.loads(json.dumps(model.calibration)))
        assert calibrator.horizons == (model.horizon,)
        backtested = result.backtest.results[model.kind].calibrator
        assert np.array_equal(calibrator.scores[model.horizon], backtested.scores[model.horizon])
        low80, high80 = calibrator.bounds(model.horizon, 0.8)
        low95, high95 = calibrator.bounds(model.horizon, 0.95)
        assert low95 < low80 < 0 < high80 < high95
        assert model.train_end_at == START + dt.timedelta(days=399)
        assert model.metrics["model"] == model.kind
        assert model.metrics["selection_reason"]
    assert sum(m.selected for m in result.models) == len(HORIZONS)
    assert result.quality["length"] == 400

    only_chosen = training.train_coin(
        price_frame(random_walk_closes()),
        coin="synthetic",
        horizons=HORIZONS,
        models=["drift"],
        refit="selected",
    )
    served = {only_chosen.backtest.selected(h) for h in HORIZONS}
    assert {m.kind for m in only_chosen.models} == served


def test_forecast_latest_puts_the_calibrated_interval_around_the_forecast() -> None:
    result = training.train_coin(
        price_frame(random_walk_closes()),
        coin="synthetic",
        horizons=HORIZONS,
        models=["drift"],
        config=training.TrainingConfig(backtest=BacktestConfig(refit_every=60)),
    )
    trained = next(m for m in result.models if m.kind == "drift" and m.horizon == 7)
    data, _ = training.prepare(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS
    )
    calibrator = ConformalCalibrator.from_dict(trained.calibration)
    point = latest.forecast_latest(
        trained.forecaster, data, 7, calibrator, step=pd.Timedelta(days=1)
    )
    assert point.origin_at == START + dt.timedelta(days=399)
    assert point.target_at == START + dt.timedelta(days=406)
    assert point.origin_price == pytest.approx(random_walk_closes()[-1])
    expected = trained.forecaster.predict(data, np.array([399]))[0, 1]
    assert point.price == pytest.approx(point.origin_price * math.exp(expected))
    low80, high80 = calibrator.bounds(7, 0.8)
    sigma = calibrator.sigma(data.log_price, 7)  # the scale the backtest stored scores with
    scale = 1.0 if sigma is None else float(sigma[399]) * math.sqrt(7)
    bounds80, bounds95 = point.bounds["80"], point.bounds["95"]
    assert bounds80 is not None and bounds95 is not None
    assert bounds80[0] == pytest.approx(point.price * math.exp(scale * low80))
    assert bounds80[1] == pytest.approx(point.price * math.exp(scale * high80))
    assert bounds95[0] < bounds80[0] < point.price < bounds80[1] < bounds95[1]
    json.dumps(point.to_dict())
    with pytest.raises(ValueError, match="horizons"):
        latest.forecast_latest(trained.forecaster, data, 30, calibrator, step=pd.Timedelta(days=1))


def test_report_has_the_required_fields(tmp_path: Path) -> None:
    backtest = training.backtest_coin(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS, models=["drift"]
    )
    json_path, chart = training.write_report(tmp_path / "out" / "report.json", [backtest])
    payload = json.loads(json_path.read_text())
    for row in payload["results"]:
        assert set(training.REPORT_FIELDS) <= set(row)
    coin = payload["coins"]["synthetic"]
    assert coin["quality"]["length"] == 400
    assert {p["origins"] for p in coin["plans"].values()} == {
        backtest.results["naive"].plan.origins.size
    }
    assert set(coin["selected"]) == {"1", "7"}
    assert chart.read_bytes().startswith(b"\x89PNG")


# ---- database -----------------------------------------------------------------------------


@pytest.fixture
def model_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, model_dir=tmp_path / "models")


def test_train_registers_versions_and_promotes_the_selected(
    db_session: Session, factory: Factory, model_settings: Settings
) -> None:
    coin = factory.coin("bitcoin")
    closes = random_walk_closes()
    factory.daily_prices(coin, closes, start=START)
    prices = service.load_prices(session=db_session, coin=coin)
    assert len(prices) == len(closes)
    assert prices["close"].iloc[-1] == pytest.approx(closes[-1])

    outcome = service.train(
        session=db_session,
        settings=model_settings,
        coin=coin,
        prices=prices,
        horizons=HORIZONS,
        models=["drift"],
    )
    assert {(v.kind, v.horizon, v.version) for v in outcome.versions} == {
        (k, h, 1) for k in ("naive", "drift") for h in HORIZONS
    }
    versions = ModelVersionRepository(db_session)
    for horizon in HORIZONS:
        serving = service.production_version(session=db_session, coin=coin, horizon=horizon)
        assert serving in outcome.promoted
        assert serving.metrics["selected"] is True
        assert serving.features and serving.data_quality["length"] == len(closes)
        assert serving.train_end_at == START + dt.timedelta(days=len(closes) - 1)
        calibrator = ConformalCalibrator.from_dict(serving.calibration)
        assert calibrator.horizons == (horizon,)
        assert calibrator.scores[horizon].size >= calibrator.min_residuals
        model = service.load_model(settings=model_settings, version=serving)
        assert model.kind == serving.kind and model.fitted_
        assert (model_settings.resolved_model_dir / serving.artifact_path).is_dir()

    again = service.train(
        session=db_session,
        settings=model_settings,
        coin=coin,
        prices=prices,
        horizons=HORIZONS,
        models=["drift"],
    )
    assert {v.version for v in again.versions} == {2}
    db_session.expire_all()
    for first in outcome.promoted:
        assert first.status is ModelStatus.ARCHIVED
    assert len(versions.for_coin(coin.id)) == 8
    production = [v for v in versions.for_coin(coin.id) if v.status is ModelStatus.PRODUCTION]
    assert sorted(v.horizon for v in production) == list(HORIZONS)
    assert all(v.version == 2 for v in production)
    assert all(
        math.isfinite(ConformalCalibrator.from_dict(v.calibration).bounds(v.horizon, 0.95)[1])
        for v in production
    )
