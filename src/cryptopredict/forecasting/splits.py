"""Time-ordered splits with an embargo, and walk-forward plans, so no target peeks across a cut.

A row ``t`` with horizon ``h`` has its target window ``(t, t + h]``. A split boundary at row
``b`` is respected when every training row satisfies ``t + h < b`` (its target is known before
the first row of the next part): the ``h`` rows before each boundary are the embargo. The same
rule is ``forecasters.base.training_rows``, which every model applies when fitted with ``end``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cryptopredict.forecasting.forecasters.base import IntArray, NotEnoughDataError
from cryptopredict.forecasting.targets import validate_horizons


@dataclass(frozen=True)
class Split:
    """Row numbers of a train / validation / test split.

    Attributes:
        train: rows whose longest-horizon target closes before ``validation_start``.
        validation: rows from ``validation_start`` whose target closes before ``test_start``.
        test: rows from ``test_start`` whose target is known (closes by the last row).
        validation_start: first row of the validation part.
        test_start: first row of the test part.
        embargo: rows left out before each boundary (the longest horizon).
    """

    train: IntArray
    validation: IntArray
    test: IntArray
    validation_start: int
    test_start: int
    embargo: int


def train_validation_test_split(
    n_rows: int,
    horizons: Sequence[int],
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    first_row: int = 0,
) -> Split:
    """Cut rows ``first_row..n_rows-1`` in time order, with an embargo before each boundary.

    Args:
        n_rows: rows in the series.
        horizons: forecast horizons; the longest one sets the embargo.
        validation_fraction: share of the usable rows given to validation.
        test_fraction: share of the usable rows given to test.
        first_row: first usable row (e.g. the end of the feature warm-up).

    Returns:
        The split.

    Raises:
        NotEnoughDataError: when a part would be empty.
    """
    embargo = max(validate_horizons(horizons))
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1):
        raise ValueError("fractions must lie in (0, 1)")
    if validation_fraction + test_fraction >= 1:
        raise ValueError("validation and test fractions must leave rows for training")
    usable = n_rows - first_row
    test_start = first_row + int(round(usable * (1 - test_fraction)))
    validation_start = first_row + int(round(usable * (1 - test_fraction - validation_fraction)))
    train = np.arange(first_row, max(first_row, validation_start - embargo), dtype=np.int64)
    validation = np.arange(validation_start, max(validation_start, test_start - embargo))
    test = np.arange(test_start, max(test_start, n_rows - embargo), dtype=np.int64)
    if min(train.size, validation.size, test.size) == 0:
        need = first_row + 3 * (embargo + 1)
        raise NotEnoughDataError(
            f"{n_rows} rows cannot be split into train/validation/test with an embargo of "
            f"{embargo} rows before each boundary; at least {need} rows are needed, more "
            "for useful parts"
        )
    return Split(
        train=train,
        validation=validation.astype(np.int64),
        test=test,
        validation_start=validation_start,
        test_start=test_start,
        embargo=embargo,
    )


@dataclass(frozen=True)
class RefitBlock:
    """One refit of a walk-forward backtest and the origins forecast with it.

    Attributes:
        fit_end: the model is fitted on rows ``< fit_end`` (embargo applied by the model).
        origins: the rows forecast with this fit, ascending, all ``>= fit_end``.
    """

    fit_end: int
    origins: IntArray


@dataclass(frozen=True)
class WalkForwardPlan:
    """An expanding-window walk-forward schedule.

    Attributes:
        n_rows: rows in the series.
        horizons: the horizons evaluated.
        initial_window: rows before the first origin (the first training window).
        refit_every: origins between refits.
        first_row: first row with complete features.
        blocks: the refits in time order.
    """

    n_rows: int
    horizons: tuple[int, ...]
    initial_window: int
    refit_every: int
    first_row: int
    blocks: tuple[RefitBlock, ...]

    @property
    def origins(self) -> IntArray:
        """Every forecast origin, ascending and contiguous."""
        return np.concatenate([b.origins for b in self.blocks]).astype(np.int64)

    def evaluable_origins(self, horizon: int) -> IntArray:
        """Origins whose ``horizon`` target is known (``origin + horizon`` within the series)."""
        origins = self.origins
        return origins[origins + horizon < self.n_rows]


def minimum_rows(
    horizons: Sequence[int],
    *,
    first_row: int = 0,
    min_train_rows: int = 30,
    min_test_origins: int = 20,
) -> int:
    """The fewest rows a walk-forward backtest accepts, for error messages and planning."""
    longest = max(validate_horizons(horizons))
    return first_row + longest + min_train_rows + longest + min_test_origins


def walk_forward_plan(
    n_rows: int,
    horizons: Sequence[int],
    *,
    initial_window: int | None = None,
    refit_every: int = 30,
    first_row: int = 0,
    min_train_rows: int = 30,
    min_test_origins: int = 20,
) -> WalkForwardPlan:
    """Plan an expanding-window backtest: fit on rows before a refit point, forecast until the next.

    The origins run from ``initial_window`` to the last row that still has the shortest
    horizon's target. The default initial window is half the series, clipped so that the first
    fit has ``min_train_rows`` rows with a known longest-horizon target and at least
    ``min_test_origins`` origins have one too; a young coin thus gets a smaller window.

    Args:
        n_rows: rows in the series.
        horizons: forecast horizons in steps.
        initial_window: rows before the first origin; automatic when None.
        refit_every: origins forecast per fit (1 refits at every origin).
        first_row: first row with complete features (the warm-up).
        min_train_rows: training rows (after warm-up and embargo) the first fit needs.
        min_test_origins: origins with a known longest-horizon target the test needs.

    Returns:
        The plan.

    Raises:
        NotEnoughDataError: when the series is too short, saying how many rows are needed.
        ValueError: for a non-positive ``refit_every`` or an initial window out of range.
    """
    hs = validate_horizons(horizons)
    if refit_every < 1:
        raise ValueError("refit_every must be >= 1")
    longest, shortest = hs[-1], hs[0]
    lowest = first_row + longest + min_train_rows
    highest = n_rows - longest - min_test_origins
    if lowest > highest:
        need = minimum_rows(
            hs,
            first_row=first_row,
            min_train_rows=min_train_rows,
            min_test_origins=min_test_origins,
        )
        raise NotEnoughDataError(
            f"a walk-forward backtest over horizons up to {longest} needs at least {need} rows "
            f"({first_row} warm-up + {longest} embargo + {min_train_rows} training rows + "
            f"{longest} + {min_test_origins} test origins), but the series has {n_rows}"
        )
    if initial_window is None:
        initial = min(max(n_rows // 2, lowest), highest)
    else:
        initial = int(initial_window)
        if initial < lowest:
            raise ValueError(
                f"initial_window {initial} leaves fewer than {min_train_rows} training rows; "
                f"use at least {lowest}"
            )
        if initial > highest:
            raise NotEnoughDataError(
                f"initial_window {initial} leaves fewer than {min_test_origins} test origins "
                f"for horizon {longest} in {n_rows} rows; use at most {highest}"
            )
    last_origin = n_rows - 1 - shortest
    starts = range(initial, last_origin + 1, refit_every)
    blocks = tuple(
        RefitBlock(
            fit_end=s,
            origins=np.arange(s, min(s + refit_every, last_origin + 1), dtype=np.int64),
        )
        for s in starts
    )
    return WalkForwardPlan(
        n_rows=n_rows,
        horizons=hs,
        initial_window=initial,
        refit_every=refit_every,
        first_row=first_row,
        blocks=blocks,
    )
