"""Value types of the prices domain that other domains pass to and get from its service."""

from __future__ import annotations

import enum


class Interval(enum.StrEnum):
    """Bar widths we store; CoinGecko's automatic granularity maps onto these."""

    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def seconds(self) -> int:
        """Width of one bar in seconds."""
        return {"5m": 300, "1h": 3600, "1d": 86400}[self.value]


FINEST_FIRST: tuple[Interval, ...] = tuple(sorted(Interval, key=lambda interval: interval.seconds))
"""Every interval, narrowest bars first: the order readers prefer series in."""
