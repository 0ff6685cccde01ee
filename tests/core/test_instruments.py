"""The recording functions other domains call (the forecast ledger's among them): each moves
its metric as documented, and bad counts are refused rather than recorded."""

from __future__ import annotations

import uuid

import pytest

from cryptopredict.core import instruments
from tests.metrics_support import is_nan, local, single, value


def _model() -> str:
    """A model name no other test records under, so every figure starts from nothing."""
    return f"model-{uuid.uuid4().hex[:8]}"


def test_forecasts_issued_add_up_per_horizon_and_model() -> None:
    model = _model()
    instruments.forecasts_issued(3, horizon=1, model=model)
    instruments.forecasts_issued(2, horizon=1, model=model)
    instruments.forecasts_issued(0, horizon=7, model=model)

    text = local()
    name = "cryptopredict_forecasts_issued_total"
    assert single(text, name, horizon="1", model=model) == 5
    assert single(text, name, horizon="7", model=model) == 0  # the series exists from the start


def test_predictions_scored_add_up_and_negative_counts_are_refused() -> None:
    before = value(local(), "cryptopredict_predictions_scored_total")
    instruments.predictions_scored(4)
    instruments.predictions_scored(6)
    with pytest.raises(ValueError, match="negative"):
        instruments.predictions_scored(-1)
    with pytest.raises(ValueError, match="negative"):
        instruments.forecasts_issued(-2, horizon=1, model=_model())

    assert value(local(), "cryptopredict_predictions_scored_total") - before == 10


def test_live_accuracy_sets_the_latest_figures_and_nan_for_missing_ones() -> None:
    model = _model()
    instruments.live_accuracy("bitcoin", 7, model, mae_ratio=1.2, coverage_80=0.5, coverage_95=0.7)
    instruments.live_accuracy(
        "bitcoin", 7, model, mae_ratio=0.93, coverage_80=0.81, coverage_95=None
    )

    text = local()
    labels = {"coin": "bitcoin", "horizon": "7", "model": model}
    assert single(text, "cryptopredict_forecast_live_mae_ratio", **labels) == 0.93
    coverage = "cryptopredict_forecast_live_interval_coverage"
    assert single(text, coverage, level="0.8", **labels) == 0.81
    assert is_nan(single(text, coverage, level="0.95", **labels))  # not the older 0.7


def test_breaker_state_is_a_code_and_openings_are_counted() -> None:
    opened = value(local(), "cryptopredict_coingecko_breaker_opened_total")
    instruments.breaker_state("open", opened=True)
    assert single(local(), "cryptopredict_coingecko_breaker_state") == 2
    instruments.breaker_state("half_open")
    assert single(local(), "cryptopredict_coingecko_breaker_state") == 1
    instruments.breaker_state("closed")

    text = local()
    assert single(text, "cryptopredict_coingecko_breaker_state") == 0
    assert value(text, "cryptopredict_coingecko_breaker_opened_total") - opened == 1
