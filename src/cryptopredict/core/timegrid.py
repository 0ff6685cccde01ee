"""The UTC time grid every series lives on: the epoch, epoch conversions and bar arithmetic.

Bars of `seconds` width start at whole multiples of `seconds` after the Unix epoch, so a
5-minute, hourly and daily grid nest. All arithmetic here is on exact integers or timedeltas,
never on float timestamps (a float loses the microseconds of a present-day instant).
"""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""The Unix epoch, UTC: the origin of every bar grid and epoch conversion."""
ONE_DAY = dt.timedelta(days=1)
SECONDS_PER_DAY = 86_400
MICROS_PER_SECOND = 1_000_000


def to_micros(instant: dt.datetime) -> int:
    """Microseconds since the epoch (exact, so integer grid arithmetic equals datetimes)."""
    since = instant - EPOCH
    return (since.days * SECONDS_PER_DAY + since.seconds) * MICROS_PER_SECOND + since.microseconds


def from_micros(micros: int) -> dt.datetime:
    """The UTC instant `micros` microseconds after the epoch."""
    return EPOCH + dt.timedelta(microseconds=micros)


def to_millis(instant: dt.datetime) -> int:
    """Milliseconds since the epoch, rounded down (CoinGecko's chart timestamps)."""
    return to_micros(instant) // 1000


def is_aligned(instant: dt.datetime, seconds: int) -> bool:
    """Whether `instant` starts a bar of `seconds` on the epoch-aligned grid."""
    return to_micros(instant) % (seconds * MICROS_PER_SECOND) == 0


def floor_instant(instant: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the epoch-aligned bar of `seconds` that holds `instant`."""
    width = dt.timedelta(seconds=seconds)
    return EPOCH + ((instant - EPOCH) // width) * width


def ceil_instant(instant: dt.datetime, seconds: int) -> dt.datetime:
    """The first bar start at or after `instant`."""
    floored = floor_instant(instant, seconds)
    return floored if floored == instant else floored + dt.timedelta(seconds=seconds)


def nearest_instant(instant: dt.datetime, seconds: int) -> dt.datetime:
    """The bar start closest to `instant` (CoinGecko's points jitter around the grid)."""
    return floor_instant(instant + dt.timedelta(seconds=seconds) / 2, seconds)
