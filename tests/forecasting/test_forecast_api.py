"""The forecast routes over HTTP: served forecasts with skill and verdict read from the ledger,
409 saying what is missing, 404 and 422 in the error shape, the ledger, the scoreboard, model
cards, admin-only promotion and archiving, and monitoring's events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import FORECASTS_NAMESPACE
from cryptopredict.core.config import Settings
from cryptopredict.core.database import get_session
from cryptopredict.forecasting import service, training
from cryptopredict.forecasting.models import ModelStatus, PredictionRole
from tests.conftest import SNAPSHOT_PRICES
from tests.factories import Factory

DAY = dt.timedelta(days=1)


@pytest.fixture
def issued(
    db_session: Session, factory: Factory, tmp_path: Path
) -> tuple[Cryptocurrency, service.TrainingOutcome]:
    """Litecoin's last 400 days, trained (naive and drift, horizons 1 and 7), issued and
    scored once their targets are stored."""
    settings = Settings(data_dir=tmp_path, model_dir=tmp_path / "models")
    frame = training.load_csv_prices(SNAPSHOT_PRICES, "litecoin").iloc[-400:]
    coin = factory.coin("litecoin")
    closes = [float(c) for c in frame["close"]]
    start = frame.index[0].to_pydatetime()
    factory.daily_prices(coin, closes[:-10], start=start)
    outcome = service.train(
        session=db_session,
        settings=settings,
        coin=coin,
        prices=service.load_prices(session=db_session, coin=coin),
        horizons=(1, 7),
        models=["drift"],
    )
    db_session.commit()
    last = start + (len(closes) - 11) * DAY
    for day in range(3):  # three consecutive bars issued, then their targets stored
        factory.daily_prices(coin, [closes[-10 + day]], start=last + (day + 1) * DAY)
        service.issue_forecasts(session=db_session, settings=settings, now=last + (day + 1) * DAY)
    service.score_predictions(session=db_session, settings=Settings(), now=last + 4 * DAY)
    return coin, outcome


def test_forecasts_are_served_with_skill_verdict_and_flags(
    client: TestClient, issued: tuple[Cryptocurrency, service.TrainingOutcome]
) -> None:
    coin, outcome = issued
    response = client.get("/api/v1/forecasts/litecoin?horizons=1,7")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["coin"] == "litecoin" and body["unavailable"] == []
    by_horizon = {f["horizon"]: f for f in body["forecasts"]}
    assert sorted(by_horizon) == [1, 7]
    production = {v.horizon: v for v in outcome.versions if v.status is ModelStatus.PRODUCTION}
    for horizon, forecast in by_horizon.items():
        assert forecast["model"]["id"] == production[horizon].id
        assert (
            forecast["interval_80"]["lower"] < forecast["point"] < forecast["interval_80"]["upper"]
        )
        assert forecast["skill"]["backtest"]["n_forecasts"] > 0
        assert forecast["verdict"]
        assert forecast["expired"] is False
        assert forecast["stale"] is True  # the fixture's bars are from the past
    one_day = by_horizon[1]
    assert one_day["skill"]["live"]["n"] == 3  # origins: the 3 bars closed before each issue
    assert one_day["skill"]["naive_live"]["mae_ratio"] == pytest.approx(1.0)
    for forecast in by_horizon.values():
        naive = forecast["model"]["kind"] == "naive"
        assert forecast["verdict"].startswith("no measured skill") == naive
        assert ("3 forecasts" in forecast["verdict"]) == (not naive and forecast["horizon"] == 1)


def test_forecasts_carry_the_chosen_interval_methods_fan_and_p_up(
    client: TestClient, issued: tuple[Cryptocurrency, service.TrainingOutcome]
) -> None:
    _, outcome = issued
    body = client.get("/api/v1/forecasts/litecoin?horizons=1,7").json()
    production = {v.horizon: v for v in outcome.versions if v.status is ModelStatus.PRODUCTION}
    with_record = 0
    for forecast in body["forecasts"]:
        stored = production[forecast["horizon"]].calibration["interval"]
        assert forecast["interval_method"] == stored["model"]["method"]
        fan = [forecast["quantiles"][p] for p in ("5", "10", "25", "50", "75", "90", "95")]
        assert fan == sorted(fan)
        assert fan[1] == pytest.approx(forecast["interval_80"]["lower"])
        assert fan[5] == pytest.approx(forecast["interval_80"]["upper"])
        chance = forecast["probability_up"]
        if stored["scores"] is None:  # too few origins to score the methods: no record
            assert chance is None and forecast["skill"]["intervals"] is None
            continue
        # the coverage shown is the served method's, not the point model's conformal one
        record = forecast["skill"]["intervals"]
        assert record["method"] == forecast["interval_method"]
        assert record["coverage_80"] == pytest.approx(stored["scores"]["coverage"]["80"])
        assert record["winkler_ratio_80"] == pytest.approx(stored["scores"]["winkler_ratio"]["80"])
        with_record += 1
        assert 0 < chance["value"] < 1
        # served only next to its backtest record: the stored Brier scores
        assert chance["brier"] == pytest.approx(stored["scores"]["brier"])
        assert chance["climatology_brier"] == pytest.approx(stored["scores"]["climatology_brier"])
        assert chance["origins"] == stored["scores"]["n"] > 0
    assert with_record >= 1  # the 1-day horizon has hundreds of scored origins

    rows = client.get("/api/v1/forecasts/litecoin/history?horizon=1").json()["items"]
    served = [r for r in rows if r["role"] == PredictionRole.SERVED.value]
    shadow = [r for r in rows if r["role"] == PredictionRole.SHADOW.value]
    assert served and all(r["quantiles"] and "p_up" not in r for r in served)
    # a model that was not selected keeps its own conformal intervals, with no fan
    assert shadow and all(
        r["quantiles"] is None and r["interval_method"] == "conformal" for r in shadow
    )


def test_unknown_coin_unready_coin_and_unserved_horizon(
    client: TestClient, factory: Factory
) -> None:
    short = factory.coin("shortcoin")
    factory.daily_prices(short, [1.0 + i / 100 for i in range(40)])

    unknown = client.get("/api/v1/forecasts/no-such-coin")
    too_short = client.get("/api/v1/forecasts/shortcoin")
    horizon = client.get("/api/v1/forecasts/shortcoin?horizons=1,2")

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert too_short.status_code == 409
    error = too_short.json()["error"]
    assert error["code"] == "forecast_not_ready" and "too little history" in error["message"]
    assert error["details"]["bars"] == 40
    assert horizon.status_code == 422
    [detail] = horizon.json()["error"]["details"]
    assert detail["loc"] == ["query", "horizons"] and "(1|7|30)" in detail["msg"]


def test_ledger_scoreboard_models_and_cards(
    client: TestClient, issued: tuple[Cryptocurrency, service.TrainingOutcome]
) -> None:
    _, outcome = issued
    ledger = client.get("/api/v1/forecasts/litecoin/history?horizon=1&limit=2").json()
    scored = client.get("/api/v1/forecasts/litecoin/history?scored=true").json()
    board = client.get("/api/v1/forecasts/accuracy?coin=litecoin&horizon=1").json()
    models = client.get("/api/v1/models?coin=litecoin&status=production").json()
    card = client.get(f"/api/v1/models/{outcome.versions[0].id}").json()

    assert ledger["total"] == 6 and len(ledger["items"]) == 2  # 3 bars x (naive, drift)
    assert ledger["items"][0]["origin_at"] >= ledger["items"][1]["origin_at"]
    roles = {
        item["role"] for item in client.get("/api/v1/forecasts/litecoin/history").json()["items"]
    }
    assert roles == {PredictionRole.SERVED.value, PredictionRole.SHADOW.value}
    assert scored["total"] > 0 and all(item["actual"] is not None for item in scored["items"])
    assert {row["model"]["kind"] for row in board["items"]} == {"naive", "drift"}
    naive_row = next(row for row in board["items"] if row["model"]["kind"] == "naive")
    assert naive_row["live"]["mae_ratio"] == pytest.approx(1.0)
    assert models["total"] == 2 and {m["status"] for m in models["items"]} == {"production"}
    assert card["features"] and card["backtest"]["model"] == outcome.versions[0].kind
    assert card["calibration"]["1"]["residuals"] > 0 or card["horizon"] != 1
    assert client.get("/api/v1/models/999999999").status_code == 404


def test_promote_and_archive_are_for_admins_and_recorded(
    client: TestClient, factory: Factory, issued: tuple[Cryptocurrency, service.TrainingOutcome]
) -> None:
    _, outcome = issued
    candidate = next(v for v in outcome.versions if v.status is not ModelStatus.PRODUCTION)
    user = factory.headers(factory.user())
    admin = factory.headers(factory.admin())

    anonymous = client.post(f"/api/v1/models/{candidate.id}/promote")
    refused = client.post(f"/api/v1/models/{candidate.id}/promote", headers=user)
    promoted = client.post(f"/api/v1/models/{candidate.id}/promote", headers=admin)
    archived = client.post(f"/api/v1/models/{candidate.id}/archive", headers=admin)

    assert (anonymous.status_code, refused.status_code) == (401, 403)
    assert promoted.status_code == 200 and promoted.json()["status"] == "production"
    assert archived.json()["status"] == "archived"
    assert [(e["kind"], e["source"]) for e in archived.json()["history"]] == [
        ("promoted", "admin"),
        ("archived", "admin"),
    ]
    events = client.get("/api/v1/monitoring/events").json()
    assert events["total"] == 0  # admin decisions are not monitoring's


def _unreachable() -> Iterator[Session]:
    raise AssertionError("the route was reached")
    yield  # pragma: no cover


def test_a_repeated_forecast_is_answered_before_routing_until_new_rows_are_issued(
    client: TestClient, issued: tuple[Cryptocurrency, service.TrainingOutcome]
) -> None:
    path = "/api/v1/forecasts/litecoin"
    routed = client.get(f"{path}?horizons=1,7")
    assert routed.status_code == 200
    client.app.dependency_overrides[get_session] = _unreachable  # type: ignore[attr-defined]
    for same in (f"{path}?horizons=1,7", f"{path}?_=1712345678901&horizons=1,7"):
        repeated = client.get(same)
        assert (repeated.status_code, repeated.content) == (200, routed.content), same
        assert repeated.headers.items() == routed.headers.items()
    with pytest.raises(AssertionError, match="route was reached"):
        client.get(f"{path}?horizons=7")  # never answered: the route reads it
    client.app.state.cache.invalidate(FORECASTS_NAMESPACE)  # what issuing and scoring do
    with pytest.raises(AssertionError, match="route was reached"):
        client.get(f"{path}?horizons=1,7")
