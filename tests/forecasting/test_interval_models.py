"""A version's stored interval state gives, at the newest row, the distribution its method
gave there in the walk-forward run: nothing is refitted when a forecast is issued."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryptopredict.forecasting.interval_methods import (
    Adaptive,
    BaselineConformal,
    EwmaConformal,
    GarchConformal,
    GarchT,
    IntervalInputs,
    IntervalMethod,
    NaiveGaussian,
)
from cryptopredict.forecasting.interval_models import (
    IntervalModel,
    NotServableError,
    serving_model,
)
from cryptopredict.forecasting.predictive import FAN_PROBS
from tests.forecasting.test_interval_methods import TRUE, simulate_garch

PROBS = (0.025, *FAN_PROBS, 0.975)


def inputs_to_the_end(n: int, horizon: int, first: int = 400) -> IntervalInputs:
    log_price, _ = simulate_garch(n, TRUE, seed=23)
    origins = np.arange(first, n, dtype=np.int64)  # the last origin is the newest row
    centers = {horizon: np.full(origins.size, 0.001)}
    return IntervalInputs(log_price, origins, centers)


@pytest.mark.parametrize(
    ("method", "tolerance"),
    [
        (NaiveGaussian(), 1e-12),
        (BaselineConformal(), 1e-12),
        (EwmaConformal(), 1e-12),
        (Adaptive(NaiveGaussian()), 1e-12),
        (Adaptive(EwmaConformal()), 1e-12),
        (GarchT(), 1e-12),
        (GarchConformal(), 1e-12),
        (Adaptive(GarchT()), 1e-12),
    ],
    ids=lambda value: value.kind if hasattr(value, "kind") else str(value),
)
@pytest.mark.parametrize("horizon", [1, 7])
def test_the_stored_state_serves_what_the_run_gave_at_the_newest_row(
    method: IntervalMethod, tolerance: float, horizon: int
) -> None:
    inputs = inputs_to_the_end(1600, horizon)
    run = method.walk_forward(inputs)[horizon]
    stored = serving_model(method, inputs, horizon, run)
    reloaded = IntervalModel.from_dict(json.loads(json.dumps(stored.to_dict())))
    served = reloaded.predictive(inputs.log_price, center=0.001)
    expected = run.quantiles(PROBS)[-1]
    np.testing.assert_allclose(served.quantiles(PROBS)[0], expected, rtol=tolerance, atol=1e-12)
    assert served.prob_up()[0] == pytest.approx(run.prob_up()[-1], rel=tolerance, abs=1e-9)


def test_the_baseline_serves_around_no_change_whatever_the_point() -> None:
    inputs = inputs_to_the_end(600, 1)
    run = NaiveGaussian().walk_forward(inputs)[1]
    model = serving_model(NaiveGaussian(), inputs, 1, run)
    served = model.predictive(inputs.log_price, center=0.05)
    assert served.quantiles((0.5,))[0, 0] == 0.0
    assert served.prob_up()[0] == pytest.approx(0.5)


def test_a_conformal_method_without_enough_residuals_cannot_serve() -> None:
    inputs = inputs_to_the_end(460, 30, first=400)  # 30 known residuals at most
    run = EwmaConformal().walk_forward(inputs)[30]
    with pytest.raises(NotServableError):
        serving_model(EwmaConformal(), inputs, 30, run)
