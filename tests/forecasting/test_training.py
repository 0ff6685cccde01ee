"""Training: backtest, selection against naive, refit, calibration, and registration of the
versions in the database (SQLite or PostgreSQL, whichever the fixtures run on)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.forecasting import service, training
from cryptopredict.forecasting.forecasters.base import NotEnoughDataError
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


def test_backtest_scores_every_model_on_the_same_origins() -> None:
    backtest = training.backtest_coin(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS, models=["drift"]
    )
    assert {(r.model, r.horizon) for r in backtest.results} == {
        (m, h) for m in ("naive", "drift") for h in HORIZONS
    }
    for horizon in HORIZONS:
        rows = [r for r in backtest.results if r.horizon == horizon]
        assert sum(r.selected for r in rows) == 1
        assert len({r.metrics["n_forecasts"] for r in rows}) == 1
        naive = next(r for r in rows if r.model == "naive")
        assert naive.metrics["relative_mae"] == 1.0
        assert naive.metrics["dm_pvalue"] is None
        for row in rows:
            assert (
                0.5
                < float(row.metrics["coverage_80"] or 0)
                < float(row.metrics["coverage_95"] or 0)
            )
            assert len(row.bounds[0.8][0]) == len(row.actual) == row.metrics["n_forecasts"]
    assert backtest.quality["length"] == 400


def test_naive_is_kept_unless_beaten_significantly() -> None:
    """On a pure random walk nothing beats naive for real, so naive serves."""
    backtest = training.backtest_coin(
        price_frame(random_walk_closes(seed=11)), coin="rw", horizons=(1,), models=["drift"]
    )
    assert backtest.selected(1) is not None
    chosen = backtest.selected(1)
    assert chosen is not None
    if chosen.model != "naive":
        assert float(chosen.metrics["dm_pvalue"] or 1) < 0.05


def test_too_short_a_series_is_refused() -> None:
    with pytest.raises(NotEnoughDataError, match="needs at least"):
        training.backtest_coin(price_frame(random_walk_closes(100)), coin="short")


def test_train_coin_refits_and_calibrates() -> None:
    result = training.train_coin(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS, models=["drift"]
    )
    assert {(m.kind, m.horizon) for m in result.models} == {
        (k, h) for k in ("naive", "drift") for h in HORIZONS
    }
    for model in result.models:
        assert model.forecaster.fitted_
        widths = model.calibration["half_width"]
        assert 0 < widths["0.8"] < widths["0.95"]
        assert model.train_end_at == START + dt.timedelta(days=399)
        assert model.metrics["model"] == model.kind
    assert sum(m.selected for m in result.models) == len(HORIZONS)


def test_report_has_the_required_fields(tmp_path: Path) -> None:
    backtest = training.backtest_coin(
        price_frame(random_walk_closes()), coin="synthetic", horizons=HORIZONS, models=["drift"]
    )
    json_path, chart = training.write_report(tmp_path / "out" / "report.json", [backtest])
    payload = training.report([backtest])
    for row in payload["results"]:
        assert set(training.REPORT_FIELDS) <= set(row)
    assert json_path.read_text().startswith("{")
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
    assert all(math.isfinite(v.calibration["half_width"]["0.95"]) for v in production)
