"""Stored predictions can be listed per coin and scored once their target time passes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from cryptopredict.forecasting.repository import PredictionRepository
from tests.factories import Factory

NOW = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)


def test_due_predictions_are_scored_with_signed_error(
    db_session: Session, factory: Factory
) -> None:
    coin = factory.coin("bitcoin")
    predictions = PredictionRepository(db_session)
    past = predictions.create(
        coin_id=coin.id,
        model_name="naive",
        model_version="1",
        horizon=1,
        made_at=NOW - dt.timedelta(days=2),
        target_at=NOW - dt.timedelta(days=1),
        predicted_value=100.0,
        lower_bound=90.0,
        upper_bound=110.0,
        interval_level=0.8,
    )
    future = predictions.create(
        coin_id=coin.id,
        model_name="naive",
        model_version="1",
        horizon=7,
        made_at=NOW,
        target_at=NOW + dt.timedelta(days=7),
        predicted_value=120.0,
    )
    assert predictions.due_for_scoring(NOW) == [past]
    predictions.record_score(past, actual_value=95.0, scored_at=NOW)
    assert past.error == 5.0
    assert predictions.due_for_scoring(NOW) == []
    assert predictions.for_coin(coin.id) == [past, future]
    assert predictions.for_coin(coin.id, start=NOW) == [future]
    assert predictions.for_coin(coin.id, model_name="lstm") == []
