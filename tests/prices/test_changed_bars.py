"""Which daily bars a write added, from counts and extents taken before and after it."""

from __future__ import annotations

import datetime as dt

from cryptopredict.prices.service import changed_from

D = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_appended_bars_count_from_after_the_old_last() -> None:
    changed = changed_from({1: (10, D, D + 9 * DAY)}, {1: (12, D, D + 11 * DAY)})
    assert changed == {1: D + 10 * DAY}


def test_bars_before_the_first_or_in_a_gap_count_from_the_window_start() -> None:
    before = {1: (10, D, D + 9 * DAY), 2: (9, D, D + 9 * DAY)}
    after = {1: (12, D - 2 * DAY, D + 9 * DAY), 2: (10, D, D + 9 * DAY)}
    assert changed_from(before, after) == {1: D - 2 * DAY, 2: D}


def test_a_new_series_counts_from_its_first_bar_and_an_unchanged_one_not_at_all() -> None:
    before = {1: (10, D, D + 9 * DAY)}
    after = {1: (10, D, D + 9 * DAY), 2: (3, D + 5 * DAY, D + 7 * DAY)}
    assert changed_from(before, after) == {2: D + 5 * DAY}
