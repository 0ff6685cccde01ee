"""Serving: the production version, loaded hash-checked through the registry, forecasts from the
latest stored price inside the intervals calibrated when it was trained."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.core.errors import ConflictError, NotFoundError
from cryptopredict.forecasting import registry, service, training
from cryptopredict.forecasting.interval_models import IntervalModel
from tests.conftest import SNAPSHOT_PRICES
from tests.factories import Factory

PRICES = SNAPSHOT_PRICES
DAYS = 500
HORIZONS = (1, 7)


@pytest.fixture
def model_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, model_dir=tmp_path / "models")


@pytest.fixture
def litecoin(db_session: Session, factory: Factory) -> tuple[Cryptocurrency, list[float]]:
    """The last 500 days of the shared litecoin CSV, stored as the coin's daily prices."""
    frame = training.load_csv_prices(PRICES, "litecoin").iloc[-DAYS:]
    start = frame.index[0].to_pydatetime()
    coin = factory.coin("litecoin")
    closes = [float(c) for c in frame["close"]]
    factory.daily_prices(coin, closes, start=start)
    return coin, closes


def _train(session: Session, settings: Settings, coin: Cryptocurrency) -> service.TrainingOutcome:
    return service.train(
        session=session,
        settings=settings,
        coin=coin,
        prices=service.load_prices(session=session, coin=coin),
        horizons=HORIZONS,
        models=["drift", "arima"],
    )


def test_forecast_serves_the_production_version_with_calibrated_bounds(
    db_session: Session,
    model_settings: Settings,
    litecoin: tuple[Cryptocurrency, list[float]],
) -> None:
    coin, closes = litecoin
    _train(db_session, model_settings, coin)
    last_at = service.load_prices(session=db_session, coin=coin).index[-1].to_pydatetime()
    for horizon in HORIZONS:
        served = service.forecast(
            session=db_session,
            settings=model_settings,
            coin=coin,
            horizon=horizon,
            now=last_at + dt.timedelta(days=1),
        )
        version = service.production_version(session=db_session, coin=coin, horizon=horizon)
        assert (served.model, served.version) == (version.kind, version.version)
        assert served.skilled is version.metrics["skilled"]
        assert served.metrics["selected"] is True
        assert {"mae", "relative_mae", "mase", "dm_pvalue", "coverage_80"} <= set(served.metrics)
        assert served.stale is False

        point = served.forecast
        assert point.origin_at == last_at
        assert point.target_at == last_at + dt.timedelta(days=horizon)
        assert point.origin_price == pytest.approx(closes[-1])
        # the same figures by hand: the stored model, the stored calibrator, the newest row
        model = service.load_model(settings=model_settings, version=version)
        data, _ = training.prepare(
            service.load_prices(session=db_session, coin=coin),
            coin=coin.coingecko_id,
            horizons=model.horizons,
        )
        predicted = model.predict(data, np.array([len(data) - 1]))[0, HORIZONS.index(horizon)]
        assert point.price == pytest.approx(closes[-1] * math.exp(predicted))
        # the bounds, fan and P(up) of the interval method chosen for this horizon at training,
        # stored with the version, around the newest row
        stored = IntervalModel.from_dict(version.calibration["interval"]["model"])
        assert point.interval_method == stored.method
        predictive = stored.predictive(data.log_price, float(predicted))
        log_origin = math.log(closes[-1])
        for label, level in (("80", 0.8), ("95", 0.95)):
            low, high = predictive.bounds(level)
            bounds = point.bounds[label]
            assert bounds is not None
            assert bounds[0] == pytest.approx(math.exp(log_origin + low[0]))
            assert bounds[1] == pytest.approx(math.exp(log_origin + high[0]))
        outer, inner = point.bounds["95"], point.bounds["80"]
        assert outer is not None and inner is not None
        assert outer[0] < inner[0] < inner[1] < outer[1]
        fan = [point.quantiles[p] for p in ("5", "10", "25", "50", "75", "90", "95")]
        assert fan == sorted(fan) and fan[1] == pytest.approx(inner[0])
        assert point.p_up is not None and 0.0 < point.p_up < 1.0
        json.dumps(served.to_dict())

    stale = service.forecast(
        session=db_session,
        settings=model_settings,
        coin=coin,
        horizon=1,
        now=last_at + dt.timedelta(days=10),
    )
    assert stale.stale is True


def test_forecast_without_a_production_version_is_not_found(
    db_session: Session,
    model_settings: Settings,
    litecoin: tuple[Cryptocurrency, list[float]],
) -> None:
    coin, _ = litecoin
    with pytest.raises(NotFoundError, match="No production model"):
        service.forecast(session=db_session, settings=model_settings, coin=coin, horizon=1)


def test_forecast_refuses_a_changed_artifact(
    db_session: Session,
    model_settings: Settings,
    litecoin: tuple[Cryptocurrency, list[float]],
) -> None:
    coin, _ = litecoin
    _train(db_session, model_settings, coin)
    version = service.production_version(session=db_session, coin=coin, horizon=1)
    params = model_settings.resolved_model_dir / version.artifact_path / "params.json"
    params.write_text(params.read_text().replace("1", "2", 1))
    with pytest.raises(registry.ArtifactIntegrityError):
        service.forecast(session=db_session, settings=model_settings, coin=coin, horizon=1)


def test_forecast_refuses_a_version_without_calibration_or_with_other_features(
    db_session: Session,
    model_settings: Settings,
    litecoin: tuple[Cryptocurrency, list[float]],
) -> None:
    coin, _ = litecoin
    _train(db_session, model_settings, coin)
    version = service.production_version(session=db_session, coin=coin, horizon=7)
    calibration, features = version.calibration, version.features

    version.calibration = {"half_width": {"0.8": 0.1}}
    db_session.flush()
    with pytest.raises(ConflictError, match="calibration"):
        service.forecast(session=db_session, settings=model_settings, coin=coin, horizon=7)

    version.calibration, version.features = calibration, [*features[:-1], "tomorrow_close"]
    db_session.flush()
    with pytest.raises(ConflictError, match="features"):
        service.forecast(session=db_session, settings=model_settings, coin=coin, horizon=7)
