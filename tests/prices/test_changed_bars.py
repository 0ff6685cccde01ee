"""Which daily bars a write added, from the bars' starts taken before and after it."""

from __future__ import annotations

import datetime as dt

from cryptopredict.prices.service import changed_from

D = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def days(*offsets: int) -> set[dt.datetime]:
    return {D + n * DAY for n in offsets}


def test_the_earliest_new_bar_counts_whether_appended_backfilled_or_in_a_gap() -> None:
    before = {1: days(1, 2, 4, 5), 2: days(3, 4), 3: days(1, 2)}
    after = {1: days(1, 2, 3, 4, 5, 7), 2: days(0, 3, 4), 3: days(1, 2, 3)}
    # Coin 1: the gap at day 3 filled and day 7 appended (day 6 still missing upstream).
    assert changed_from(before, after) == {1: D + 3 * DAY, 2: D, 3: D + 3 * DAY}


def test_a_new_series_counts_from_its_first_bar_and_an_unchanged_one_not_at_all() -> None:
    before = {1: days(1, 2)}
    after = {1: days(1, 2), 2: days(5, 6)}
    assert changed_from(before, after) == {2: D + 5 * DAY}
