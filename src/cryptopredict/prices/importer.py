"""Price CSV import: each file is parsed and validated whole, then upserted in one transaction.

Files are read by `cryptopredict.pricefiles` (the daily and intraday layouts, validation and
line-numbered errors). A daily file is stored as `1d` bars at each day's 00:00 UTC with
price = close; an intraday file at each bar's open instant, its interval given, taken from
the file name (`bitcoin_1h.csv`) or inferred from the spacing of its rows. A bad row makes
the whole file fail with its line number, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cryptopredict import pricefiles
from cryptopredict.coins import service as coins_service
from cryptopredict.core import timegrid
from cryptopredict.pricefiles import (
    DAILY_COLUMN,
    PriceBar,
    PriceFileError,
    PriceTable,
    TimeColumnCheck,
)
from cryptopredict.prices.repository import PriceRepository
from cryptopredict.prices.types import Interval, PriceTuple
from cryptopredict.snapshot import load_coin_catalogue

SOURCE = "csv"
DEFAULT_BATCH_SIZE = 10_000

_COIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_STEM_INTERVAL = re.compile(r"^(?P<coin>.+)_(?P<interval>5m|1h|1d)$")

ProgressCallback = Callable[[Path, int, int], None]


@dataclass(frozen=True, slots=True)
class ParsedPriceFile:
    """A fully validated file, ready to write."""

    path: Path
    interval: Interval
    bars: list[PriceBar]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing one file did, for the per-file report."""

    path: Path
    coin: str
    interval: Interval
    rows_read: int
    rows_written: int
    seconds: float
    first_at: dt.datetime
    last_at: dt.datetime

    @property
    def rows_per_second(self) -> float:
        """Read throughput, the figure that matters for an idempotent re-import too."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """A file that was not imported (nothing from it was written) and why."""

    path: Path
    message: str
    line: int | None = None


@dataclass(slots=True)
class ImportReport:
    """Outcome of importing several files, each in its own transaction."""

    results: list[ImportResult] = field(default_factory=list)
    failures: list[ImportFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        """Data rows read from the files that were imported."""
        return sum(result.rows_read for result in self.results)

    @property
    def rows_written(self) -> int:
        """Rows inserted or changed; 0 when the same data is imported again."""
        return sum(result.rows_written for result in self.results)

    @property
    def rows_per_second(self) -> float:
        """Overall throughput across all files, failures' time included."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Whether every file was imported."""
        return not self.failures


# ---- naming -----------------------------------------------------------------------------


def normalise_coin_id(value: str) -> str:
    """A CoinGecko-style id (lower case, digits, `-`, `.`, `_`), or ValueError."""
    coin = value.strip().lower()
    if not _COIN_ID.match(coin):
        raise ValueError(
            f"{value!r} is not a valid coin id (lower-case letters, digits, '-', '.', '_')"
        )
    return coin


def _split_stem(path: Path) -> tuple[str, Interval | None]:
    """`bitcoin_1h.csv` -> ("bitcoin", 1h); `bitcoin.csv` -> ("bitcoin", None)."""
    match = _STEM_INTERVAL.match(path.stem)
    if match:
        return match["coin"], Interval(match["interval"])
    return path.stem, None


def coin_id_from_path(path: Path) -> str:
    """The coin a file is about, from its name: `bitcoin.csv` and `bitcoin_1h.csv` -> bitcoin."""
    stem, _ = _split_stem(path)
    try:
        return normalise_coin_id(stem)
    except ValueError as exc:
        raise PriceFileError(path, f"cannot derive a coin id from the file name ({exc})") from exc


# ---- parsing ----------------------------------------------------------------------------


def _infer_interval(path: Path, bars: Sequence[PriceBar]) -> Interval:
    """The narrowest spacing between consecutive bars, which must be a known bar width."""
    instants = sorted(bar[0] for bar in bars)
    spacing = min(
        (int((b - a).total_seconds()) for a, b in zip(instants, instants[1:], strict=False)),
        default=None,
    )
    for interval in Interval:
        if spacing == interval.seconds:
            return interval
    known = ", ".join(i.value for i in Interval)
    found = "a single row" if spacing is None else f"rows {spacing} s apart"
    raise PriceFileError(
        path, f"cannot infer the interval from {found} (known: {known}); pass --interval"
    )


def _daily_check(interval: Interval | None) -> TimeColumnCheck:
    """Refuse (on line 1) a daily file asked to be imported at another interval."""

    def check(path: Path, time_column: str) -> None:
        if time_column == DAILY_COLUMN and interval not in (None, Interval.DAY):
            raise PriceFileError(
                path,
                f"a file with a `date` column holds daily bars; it cannot be imported as "
                f"{interval}: use --interval 1d or auto",
                line=1,
            )

    return check


def _finish(table: PriceTable, interval: Interval | None) -> ParsedPriceFile:
    """The checks that need every row and the interval: which interval, bar alignment."""
    path, bars = table.path, table.bars
    if table.layout.daily:
        interval = Interval.DAY
    elif interval is None:
        interval = _split_stem(path)[1] or _infer_interval(path, bars)
    if not table.layout.daily:
        _check_alignment(path, bars, table.lines, interval)
    return ParsedPriceFile(path=path, interval=interval, bars=bars)


def parse_price_file(path: Path, *, interval: Interval | None = None) -> ParsedPriceFile:
    """Read and validate a whole price file; `interval=None` infers it (daily files are 1d).

    Raises PriceFileError naming the line of the first bad row: a bad date, a missing,
    non-numeric or non-positive price, low above high, or a repeated instant.
    """
    parsed = _parse_plain(path, interval)
    return parsed if parsed is not None else _parse_rows(path, interval)


def _parse_rows(path: Path, interval: Interval | None) -> ParsedPriceFile:
    """The row-by-row reading, which names the exact line and reason of the first problem."""
    return _finish(pricefiles.read_rows(path, check=_daily_check(interval)), interval)


def _parse_plain(path: Path, interval: Interval | None) -> ParsedPriceFile | None:
    """The fast column-wise reading of the usual file, or None when the rows must say more."""
    table = pricefiles.read_columns(path, check=_daily_check(interval))
    return None if table is None else _finish(table, interval)


def _check_alignment(
    path: Path, bars: Sequence[PriceBar], lines: Sequence[int], interval: Interval
) -> None:
    """Every bar must start on a UTC boundary of its interval, or the series is not one."""
    width = interval.seconds * timegrid.MICROS_PER_SECOND
    for bar, line in zip(bars, lines, strict=True):
        if timegrid.to_micros(bar[0]) % width:
            raise PriceFileError(
                path, f"{bar[0].isoformat()} is not the start of a {interval} bar (UTC)", line=line
            )


# ---- writing ----------------------------------------------------------------------------


def _ensure_coin(session: Session, coin: str) -> int:
    """The coin's row id, creating it from the bundled catalogue (or its bare id) if needed."""
    known = load_coin_catalogue().get(coin)
    if known is not None:
        created = coins_service.ensure(
            session=session,
            coingecko_id=coin,
            symbol=known.symbol,
            name=known.name,
            market_cap_rank=known.market_cap_rank,
            image_url=known.image_url,
        )
    else:
        created = coins_service.ensure(
            session=session,
            coingecko_id=coin,
            symbol=coin[:50],
            name=coin.replace("-", " ").title(),
        )
    return created.id


def import_price_file(
    path: Path,
    *,
    session: Session,
    coin: str | None = None,
    interval: Interval | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Parse, validate and upsert one file in one transaction (committed, or rolled back).

    Rows identical to what is stored are not rewritten, so importing again writes 0.
    Raises PriceFileError for a file that cannot be imported; nothing is written then.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    coin_id = normalise_coin_id(coin) if coin is not None else coin_id_from_path(path)
    parsed = parse_price_file(path, interval=interval)
    bars, total = parsed.bars, len(parsed.bars)
    if on_progress is not None:
        on_progress(path, 0, total)
    try:
        coin_pk = _ensure_coin(session, coin_id)
        prices = PriceRepository(session)
        kind = parsed.interval.value
        written = 0
        for start in range(0, total, batch_size):
            # Plain tuples in the repository's column order: no PriceRow per bar.
            rows: list[PriceTuple] = [
                (coin_pk, kind, at, o, h, lo, c, c, v, m, SOURCE)
                for at, o, h, lo, c, v, m in bars[start : start + batch_size]
            ]
            written += prices.bulk_upsert_tuples(rows)
            if on_progress is not None:
                on_progress(path, min(start + batch_size, total), total)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    instants = [bar[0] for bar in bars]
    return ImportResult(
        path=path,
        coin=coin_id,
        interval=parsed.interval,
        rows_read=total,
        rows_written=written,
        seconds=time.perf_counter() - started,
        first_at=min(instants),
        last_at=max(instants),
    )


def _failure(path: Path, exc: Exception) -> ImportFailure:
    """Turn an expected per-file error into a line of the report."""
    if isinstance(exc, PriceFileError):
        return ImportFailure(path, str(exc), exc.line)
    if isinstance(exc, UnicodeDecodeError):
        return ImportFailure(path, f"{path}: not UTF-8 text ({exc.reason})")
    if isinstance(exc, OSError):
        return ImportFailure(path, f"{path}: cannot read ({exc.strerror or exc})")
    cause = str(getattr(exc, "orig", None) or exc).strip()
    detail = cause.splitlines()[0] if cause else type(exc).__name__
    return ImportFailure(path, f"{path}: database error: {detail}")


def import_price_files(
    paths: Iterable[Path],
    *,
    session: Session,
    coin: str | None = None,
    interval: Interval | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import several files, each all-or-nothing; a bad file is reported and the rest go on."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    files = list(paths)
    if coin is not None and len(files) > 1:
        raise ValueError("a coin id can only be given when importing a single file")
    coin = normalise_coin_id(coin) if coin is not None else None
    report = ImportReport()
    started = time.perf_counter()
    for path in files:
        try:
            result = import_price_file(
                path,
                session=session,
                coin=coin,
                interval=interval,
                batch_size=batch_size,
                on_progress=on_progress,
            )
        except (PriceFileError, UnicodeDecodeError, OSError, SQLAlchemyError) as exc:
            report.failures.append(_failure(path, exc))
        else:
            report.results.append(result)
    report.seconds = time.perf_counter() - started
    return report
