"""`scoring.score`: the ledger's score columns for a batch of forecasts at once."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptopredict.forecasting.scoring import score


def test_each_row_is_scored_on_its_own_intervals_or_none() -> None:
    scores = score(
        point=[110.0, 90.0, 100.0],
        actual=[100.0, 100.0, 100.0],
        lower_80=[105.0, 80.0, None],
        upper_80=[115.0, 100.0, None],
        lower_95=[90.0, 70.0, None],
        upper_95=[130.0, 95.0, None],
    )
    assert scores.scorable.tolist() == [True, True, True]
    assert scores.error.tolist() == [10.0, -10.0, 0.0]
    assert scores.abs_log_error[0] == pytest.approx(math.log(1.1))
    assert scores.abs_log_error[1] == pytest.approx(math.log(100 / 90))
    assert scores.inside_80[:2].tolist() == [0.0, 1.0]  # 100 on the upper bound is inside
    assert scores.inside_95[:2].tolist() == [1.0, 0.0]
    assert scores.winkler_80[:2].tolist() == pytest.approx([10 + 2 / 0.2 * 5, 20.0])
    assert scores.winkler_95[:2].tolist() == pytest.approx([40.0, 25 + 2 / 0.05 * 5])
    for column in (scores.inside_80, scores.inside_95, scores.winkler_80, scores.winkler_95):
        assert np.isnan(column[2])  # no intervals issued: nothing to judge


def test_rows_with_prices_that_are_not_positive_and_finite_are_flagged_alone() -> None:
    scores = score(
        point=[100.0, 0.0, 100.0, float("inf"), 100.0],
        actual=[101.0, 100.0, -5.0, 100.0, float("nan")],
        lower_80=[None] * 5,
        upper_80=[None] * 5,
        lower_95=[None] * 5,
        upper_95=[None] * 5,
    )
    assert scores.scorable.tolist() == [True, False, False, False, False]
    assert scores.error[0] == -1.0
    assert scores.abs_log_error[0] == pytest.approx(math.log(101 / 100))
