"""The portfolio's value band over HTTP, from a coin's served forecast and a coin without."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.forecasting import service, training
from tests.conftest import SNAPSHOT_PRICES
from tests.factories import Factory
from tests.portfolios.helpers import BASE, Owner

DAY = dt.timedelta(days=1)


@pytest.fixture
def litecoin_served(db_session: Session, factory: Factory, tmp_path: Path) -> Cryptocurrency:
    """Litecoin's last 400 days, naive and drift trained for horizons 1 and 7, issued once."""
    settings = Settings(data_dir=tmp_path, model_dir=tmp_path / "models")
    frame = training.load_csv_prices(SNAPSHOT_PRICES, "litecoin").iloc[-400:]
    coin = factory.coin("litecoin", symbol="ltc")
    factory.daily_prices(
        coin, [float(c) for c in frame["close"]], start=frame.index[0].to_pydatetime()
    )
    service.train(
        session=db_session,
        settings=settings,
        coin=coin,
        prices=service.load_prices(session=db_session, coin=coin),
        horizons=(1, 7),
        models=["drift"],
    )
    db_session.commit()
    last = frame.index[-1].to_pydatetime()
    service.issue_forecasts(session=db_session, settings=settings, now=last + DAY)
    return coin


def test_the_band_draws_forecast_coins_and_keeps_the_rest_flat(
    owner: Owner, factory: Factory, bitcoin: Cryptocurrency, litecoin_served: Cryptocurrency
) -> None:
    factory.daily_prices(bitcoin, [1000.0, 1000.0], start=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    pid: int = owner.create_portfolio()["id"]
    owner.added(pid, "buy", "10", coin="ltc", price="100", at="2020-01-01T00:00:00Z")
    owner.added(pid, "buy", "1", coin="btc", price="900", at="2020-01-01T00:00:00Z")
    response = owner.get(f"{BASE}/{pid}/forecast")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "gaussian_copula" and "copula" in body["description"]
    ltc_value = float(owner.holdings(pid)["litecoin"]["value"])
    assert float(body["value_now"]) == pytest.approx(ltc_value + 1000.0)
    bands = {b["horizon"]: b for b in body["bands"]}
    assert set(bands) == {1, 7, 30}
    served = owner.get("/api/v1/forecasts/litecoin", horizons="1,7").json()["forecasts"]
    for forecast in served:
        h = forecast["horizon"]
        band = bands[h]
        assert band["forecast_coins"] == ["litecoin"] and band["flat_coins"] == ["bitcoin"]
        assert band["target_from"] == band["target_to"] == forecast["target_at"]
        quantiles = {label: float(v) for label, v in band["quantiles"].items()}
        assert list(quantiles) == ["5", "10", "25", "50", "75", "90", "95"]
        assert list(quantiles.values()) == sorted(quantiles.values())
        # One coin drawn: its own quantiles, as returns on today's value, plus the flat coin.
        for label in ("5", "50", "95"):
            expected = 1000.0 + ltc_value * forecast["quantiles"][label] / forecast["origin_price"]
            assert quantiles[label] == pytest.approx(expected, rel=0.01)
    # No coin has a 30-day forecast: the band is today's value.
    thirty = bands[30]
    assert thirty["forecast_coins"] == [] and thirty["flat_coins"] == ["bitcoin", "litecoin"]
    for value in thirty["quantiles"].values():
        assert float(value) == pytest.approx(ltc_value + 1000.0)
