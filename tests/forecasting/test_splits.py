"""Splits keep time order, never overlap and leave an embargo; walk-forward plans fit any coin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptopredict.forecasting.forecasters.base import NotEnoughDataError
from cryptopredict.forecasting.splits import (
    minimum_rows,
    train_validation_test_split,
    walk_forward_plan,
)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(min_value=50, max_value=3000),
    horizons=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=3),
    val=st.floats(min_value=0.05, max_value=0.4),
    test=st.floats(min_value=0.05, max_value=0.4),
    first=st.integers(min_value=0, max_value=40),
)
def test_split_parts_are_ordered_disjoint_and_embargoed(
    n: int, horizons: list[int], val: float, test: float, first: int
) -> None:
    try:
        split = train_validation_test_split(
            n, horizons, validation_fraction=val, test_fraction=test, first_row=first
        )
    except NotEnoughDataError:
        return
    h = max(horizons)
    assert split.embargo == h
    assert split.train[0] >= first
    assert split.train[-1] < split.validation[0] < split.validation[-1] + 1 <= split.test[0]
    # no target window crosses a boundary: t + h stays inside the row's own part
    assert split.train[-1] + h < split.validation_start
    assert split.validation[-1] + h < split.test_start
    assert split.test[-1] + h <= n - 1
    assert split.validation[0] == split.validation_start and split.test[0] == split.test_start
    together = np.concatenate([split.train, split.validation, split.test])
    assert np.unique(together).size == together.size


def test_split_of_a_tiny_series_raises() -> None:
    with pytest.raises(NotEnoughDataError, match="embargo of 30"):
        train_validation_test_split(60, (1, 30))


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(min_value=100, max_value=3000),
    refit=st.integers(min_value=1, max_value=90),
    first=st.integers(min_value=0, max_value=60),
)
def test_walk_forward_blocks_fit_before_their_origins(n: int, refit: int, first: int) -> None:
    horizons = (1, 7, 30)
    try:
        plan = walk_forward_plan(n, horizons, refit_every=refit, first_row=first)
    except NotEnoughDataError:
        assert n < minimum_rows(horizons, first_row=first)
        return
    origins = plan.origins
    assert origins[0] == plan.initial_window
    assert origins[-1] == n - 2  # the last row with a 1-step target
    assert (np.diff(origins) == 1).all()
    for block in plan.blocks:
        assert block.origins[0] == block.fit_end and block.origins.size <= refit
    assert plan.initial_window - first - 30 >= 30  # enough embargoed training rows
    assert plan.evaluable_origins(30).size >= 20
    assert (plan.evaluable_origins(30) + 30 <= n - 1).all()


def test_young_coin_gets_a_smaller_initial_window() -> None:
    plan = walk_forward_plan(300, (1, 7, 30), first_row=33)
    assert plan.initial_window == 150
    assert plan.evaluable_origins(30).size == 120
    old = walk_forward_plan(3000, (1, 7, 30), first_row=33)
    assert old.initial_window == 1500


def test_too_short_series_says_how_many_rows_it_needs() -> None:
    with pytest.raises(NotEnoughDataError, match="needs at least 143 rows"):
        walk_forward_plan(142, (1, 7, 30), first_row=33)
    assert walk_forward_plan(143, (1, 7, 30), first_row=33).initial_window == 93


def test_explicit_initial_window_is_checked() -> None:
    assert walk_forward_plan(500, (1,), initial_window=400, refit_every=50).initial_window == 400
    with pytest.raises(ValueError, match="training rows"):
        walk_forward_plan(500, (1, 7), initial_window=10)
    with pytest.raises(NotEnoughDataError, match="test origins"):
        walk_forward_plan(500, (1, 7), initial_window=480)
    with pytest.raises(ValueError):
        walk_forward_plan(500, (1,), refit_every=0)
