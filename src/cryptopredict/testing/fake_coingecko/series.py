"""One coin's daily price series as the fake serves it, and its chart and candle arithmetic.

Instants are integer Unix milliseconds, as CoinGecko's charts carry them.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from cryptopredict.core import timegrid
from cryptopredict.pricefiles import PriceFileError, read_daily_file

FIVE_MINUTES_MS = 5 * 60 * 1000
HOUR_MS = 60 * 60 * 1000
DAY_MS = timegrid.SECONDS_PER_DAY * 1000


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One CSV row: a UTC day's OHLC, volume and market cap (None where unknown)."""

    day: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    market_cap: float | None


def _day_ms(day: dt.date) -> int:
    """The day's 00:00 UTC in Unix milliseconds."""
    return timegrid.to_millis(dt.datetime.combine(day, dt.time(), dt.UTC))


def read_daily_rows(path: Path) -> list[DailyRow]:
    """Rows of a daily price file, in date order; candles need open, high and low on each."""
    table = read_daily_file(path)
    rows = []
    for (at, o, h, lo, c, v, m), line in zip(table.bars, table.lines, strict=True):
        if o is None or h is None or lo is None:
            raise PriceFileError(path, "the fake needs open, high and low on every row", line=line)
        rows.append(
            DailyRow(day=at.date(), open=o, high=h, low=lo, close=c, volume=v, market_cap=m)
        )
    rows.sort(key=lambda row: row.day)
    return rows


@dataclass(frozen=True, slots=True, eq=False)
class PriceSeries:
    """One coin's daily anchors in CoinGecko's convention: D+1 00:00 UTC carries D's close."""

    coin_id: str
    rows: tuple[DailyRow, ...]
    row_starts: tuple[int, ...]
    times: tuple[int, ...]
    prices: tuple[float, ...]
    market_caps: tuple[float, ...]
    volumes: tuple[float, ...]

    @classmethod
    def from_rows(cls, coin_id: str, rows: list[DailyRow]) -> PriceSeries:
        """Anchor each row's close at the next midnight, as CoinGecko stamps daily points."""
        return cls(
            coin_id=coin_id,
            rows=tuple(rows),
            row_starts=tuple(_day_ms(row.day) for row in rows),
            times=tuple(_day_ms(row.day) + DAY_MS for row in rows),
            prices=tuple(row.close for row in rows),
            market_caps=tuple(row.market_cap or 0.0 for row in rows),
            volumes=tuple(row.volume or 0.0 for row in rows),
        )

    @property
    def first_ms(self) -> int:
        """The earliest instant with a value."""
        return self.times[0]

    @property
    def last_ms(self) -> int:
        """The latest instant with a value."""
        return self.times[-1]

    def _interpolate(self, values: tuple[float, ...], at: int) -> float:
        index = bisect_left(self.times, at)
        if index < len(self.times) and self.times[index] == at:
            return values[index]
        if index == 0:
            return values[0]
        if index >= len(self.times):
            return values[-1]
        t0, t1 = self.times[index - 1], self.times[index]
        weight = (at - t0) / (t1 - t0)
        return values[index - 1] + (values[index] - values[index - 1]) * weight

    def price_at(self, at: int) -> float:
        """The (interpolated) price at `at` ms."""
        return self._interpolate(self.prices, at)

    def volume_at(self, at: int) -> float:
        """The (interpolated) 24 h volume at `at` ms."""
        return self._interpolate(self.volumes, at)

    def chart(self, start: int, end: int, step: int, now: int) -> dict[str, list[list[float]]]:
        """CoinGecko's market_chart body for [start, end] on a `step` grid, plus the live
        point at `now` when the range reaches it."""
        low = max(start, self.first_ms)
        high = min(end, now, self.last_ms)
        instants: list[int] = []
        if low <= high:
            first = -(-low // step) * step
            instants = list(range(first, high + 1, step))
            if end >= now and now <= self.last_ms and (not instants or instants[-1] != now):
                instants.append(now)
        return {
            "prices": [[t, self._interpolate(self.prices, t)] for t in instants],
            "market_caps": [[t, self._interpolate(self.market_caps, t)] for t in instants],
            "total_volumes": [[t, self._interpolate(self.volumes, t)] for t in instants],
        }

    def candles(self, width: int, start: int, now: int) -> list[list[float]]:
        """OHLC candles of `width` ms closing in (start, now], stamped at their close."""
        end = min(now, self.last_ms)
        end -= end % min(width, DAY_MS)
        candles: list[list[float]] = []
        for close in range(end, start, -width):
            if width >= DAY_MS:
                candle = self._daily_candle(close - width, close)
            elif close - width >= self.first_ms:
                opening, closing = self.price_at(close - width), self.price_at(close)
                candle = [opening, max(opening, closing), min(opening, closing), closing]
            else:
                break
            if not candle:
                break
            candles.append([close, *candle])
        candles.reverse()
        return candles

    def _daily_candle(self, begin: int, end: int) -> list[float]:
        """Real OHLC of the whole days in [begin, end)."""
        days = self.rows[bisect_left(self.row_starts, begin) : bisect_left(self.row_starts, end)]
        if not days:
            return []
        return [
            days[0].open,
            max(row.high for row in days),
            min(row.low for row in days),
            days[-1].close,
        ]
