"""Retraining's side of the forecasting service: which tracked coins are due (enough daily
history by the training config's own minimum, models missing or older than the cut-off),
training a coin on its stored series, and the production version a new one replaces kept as
a loadable fallback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.forecasting import service, training
from cryptopredict.forecasting.forecasters.base import NotEnoughDataError
from cryptopredict.forecasting.models import ModelStatus, ModelVersion
from tests.conftest import SNAPSHOT_PRICES
from tests.factories import Factory

MINIMUM = training.TrainingConfig().minimum_rows()


def _closes(coin: str, days: int) -> list[float]:
    frame = training.load_csv_prices(SNAPSHOT_PRICES, coin).iloc[-days:]
    return [float(close) for close in frame["close"]]


@pytest.fixture
def model_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, model_dir=tmp_path / "models", training_models=["drift"])


def _coin(factory: Factory, name: str, days: int, **options: object) -> Cryptocurrency:
    coin = factory.coin(name, **options)  # type: ignore[arg-type]
    factory.daily_prices(coin, _closes("litecoin", days))
    return coin


def _trained(
    session: Session, factory: Factory, settings: Settings
) -> tuple[Cryptocurrency, service.TrainingOutcome]:
    """Litecoin's last 300 days, trained once and committed."""
    coin = _coin(factory, "litecoin", 300)
    outcome = service.train_stored(session=session, settings=settings, coin=coin)
    session.commit()
    return coin, outcome


def test_the_minimum_is_the_warm_up_plus_the_shortest_backtest() -> None:
    frame = training.load_csv_prices(SNAPSHOT_PRICES, "cardano")

    assert MINIMUM == 33 + 30 + 30 + 30 + 20  # MACD warm-up, embargo, training, h=30, tests
    assert training.TrainingConfig().minimum_rows((1, 7)) < MINIMUM
    training.train_coin(frame.tail(MINIMUM), coin="cardano", models=["drift"])
    with pytest.raises(NotEnoughDataError):
        training.train_coin(frame.tail(MINIMUM - 1), coin="cardano", models=["drift"])


def test_the_plan_trains_active_coins_with_enough_history_best_ranked_first(
    db_session: Session, factory: Factory
) -> None:
    _coin(factory, "second", MINIMUM + 40, rank=2)
    _coin(factory, "first", MINIMUM, rank=1)
    _coin(factory, "young", MINIMUM - 1, rank=3)
    _coin(factory, "retired", MINIMUM + 40, rank=4, is_active=False)
    factory.coin("unpriced", rank=5)

    plan = service.retrain_plan(session=db_session, trained_before=None)

    assert plan.min_rows == MINIMUM
    assert plan.due == ["first", "second"]
    assert plan.too_short == {"young": f"{MINIMUM - 1} 1d rows, {MINIMUM} needed"}
    assert plan.up_to_date == []


def test_a_trained_coin_is_due_again_only_after_the_cut_off(
    db_session: Session, factory: Factory, model_settings: Settings
) -> None:
    coin, outcome = _trained(db_session, factory, model_settings)
    assert {v.horizon for v in outcome.promoted} == set(training.DEFAULT_HORIZONS)
    assert {v.kind for v in outcome.versions} == {"naive", "drift"}

    before_training = utcnow() - dt.timedelta(hours=1)
    plan = service.retrain_plan(session=db_session, trained_before=before_training)
    assert (plan.due, plan.up_to_date) == ([], ["litecoin"])
    later = utcnow() + dt.timedelta(seconds=1)
    assert service.retrain_plan(session=db_session, trained_before=later).due == ["litecoin"]
    assert service.needs_training(session=db_session, coin=coin, trained_before=later)
    assert not service.needs_training(session=db_session, coin=coin, trained_before=before_training)

    # A horizon left without a production version is due whatever the cut-off.
    db_session.get(ModelVersion, outcome.promoted[0].id).status = ModelStatus.ARCHIVED  # type: ignore[union-attr]
    db_session.flush()
    assert service.needs_training(session=db_session, coin=coin, trained_before=before_training)


def test_retraining_keeps_the_replaced_production_version_as_a_loadable_fallback(
    db_session: Session, factory: Factory, model_settings: Settings
) -> None:
    coin, first = _trained(db_session, factory, model_settings)
    replaced = service.production_versions(session=db_session, coin=coin)
    assert sorted(v.id for v in replaced) == sorted(v.id for v in first.promoted)

    second = service.train_stored(session=db_session, settings=model_settings, coin=coin)
    db_session.commit()
    summary = service.outcome_summary(second, replaced=replaced)

    serving = service.production_versions(session=db_session, coin=coin)
    assert sorted(v.id for v in serving) == sorted(v.id for v in second.promoted)
    assert not {v.id for v in serving} & {v.id for v in replaced}
    for old in replaced:
        db_session.refresh(old)
        assert old.status == ModelStatus.ARCHIVED
        model = service.load_model(settings=model_settings, version=old)  # files hash-checked
        assert model.kind == old.kind and old.horizon in model.horizons
    assert summary["coin"] == "litecoin"
    assert summary["versions_registered"] == len(second.versions) == 2 * 3
    assert set(summary["promoted"]) == set(summary["replaced"]) == {"1", "7", "30"}
    assert summary["replaced"]["1"].endswith("v1") and summary["promoted"]["1"].endswith("v2")


def test_an_unknown_model_kind_fails_before_any_work(
    db_session: Session, factory: Factory, model_settings: Settings
) -> None:
    coin = _coin(factory, "litecoin", 300)
    settings = model_settings.model_copy(update={"training_models": ["drift", "prophet"]})

    with pytest.raises(ValueError, match="prophet"):
        service.train_stored(session=db_session, settings=settings, coin=coin)
    assert service.production_versions(session=db_session, coin=coin) == []
