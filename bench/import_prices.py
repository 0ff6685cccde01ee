"""Benchmark: importing the daily price CSVs (and, separately, the hourly one) into PostgreSQL.

Each round empties the tables, imports every file (the first import), then imports them all
again (the idempotent re-import, which writes 0 rows). Timed in-process around
`prices.importer.import_price_files`, the function `cryptopredict import-prices` calls:
parsing, validation, upserts and commits, but not interpreter start-up or migrations. One
end-to-end run of the real command is timed as well.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.common import CLI, SHARED_PRICES, BenchError, Section, fresh_database
from cryptopredict.core import migrations
from cryptopredict.core.database import create_db_engine
from cryptopredict.prices.importer import ImportReport, import_price_files

ROUNDS = 5
TARGET_ROWS_PER_SECOND = 50_000


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE price_data, cryptocurrencies RESTART IDENTITY CASCADE"))


def _import(engine: Engine, files: list[Path]) -> ImportReport:
    with Session(engine) as session:
        report = import_price_files(files, session=session)
    if not report.ok:
        raise BenchError("; ".join(failure.message for failure in report.failures))
    return report


def _rounds(engine: Engine, files: list[Path]) -> tuple[list[ImportReport], list[ImportReport]]:
    """ROUNDS pairs of (first import into empty tables, re-import of the same files)."""
    firsts, agains = [], []
    for _ in range(ROUNDS):
        _empty(engine)
        firsts.append(_import(engine, files))
        agains.append(_import(engine, files))
    rows = firsts[0].rows_read
    if any(r.rows_written != rows for r in firsts) or any(r.rows_written for r in agains):
        raise BenchError("an import wrote an unexpected number of rows")
    return firsts, agains


def _summary_row(label: str, reports: list[ImportReport]) -> str:
    seconds = sorted(report.seconds for report in reports)
    median = statistics.median(seconds)
    rows, written = reports[0].rows_read, reports[0].rows_written
    return (
        f"| {label} | {rows} | {written} | {median:.3f} | {rows / median:,.0f} "
        f"| {seconds[0]:.3f} | {rows / seconds[0]:,.0f} |"
    )


def _per_file(report: ImportReport, title: str) -> list[str]:
    lines = [
        "",
        f"Per file, {title} (the median round):",
        "",
        "| file | rows read | rows written | seconds | rows/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in report.results:
        lines.append(
            f"| {result.path.name} | {result.rows_read} | {result.rows_written} "
            f"| {result.seconds:.3f} | {result.rows_per_second:,.0f} |"
        )
    return lines


def _median_report(reports: list[ImportReport]) -> ImportReport:
    return sorted(reports, key=lambda report: report.seconds)[len(reports) // 2]


def _command_run(database: str, files: list[Path]) -> tuple[str, float, str]:
    """The real command, end to end, into empty tables: its line, wall seconds and summary."""
    command = [str(CLI), "import-prices", "--no-migrate", *map(str, files)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOPREDICT_")}
    env |= {"CRYPTOPREDICT_DATABASE_URL": database, "CRYPTOPREDICT_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise BenchError(f"import-prices exited {completed.returncode}: {completed.stderr[-500:]}")
    summary = re.search(r"Imported .*", completed.stdout)
    shown = "cryptopredict import-prices --no-migrate shared/data/prices/*.csv"
    return shown, wall, summary.group(0) if summary else "?"


def run() -> Section:
    """Measure and describe the import throughput."""
    section = Section("Price import into PostgreSQL (`cryptopredict import-prices`)")
    daily = sorted(SHARED_PRICES.glob("*.csv"))
    intraday = sorted((SHARED_PRICES / "intraday").glob("*.csv"))
    with fresh_database() as database:
        migrations.upgrade(database)
        engine = create_db_engine(database)
        try:
            daily_first, daily_again = _rounds(engine, daily)
            hourly_first, hourly_again = _rounds(engine, intraday)
            _empty(engine)
            command, wall, summary = _command_run(database, daily)
        finally:
            engine.dispose()

    median_first = daily_first[0].rows_read / statistics.median(r.seconds for r in daily_first)
    verdict = "meets" if median_first > TARGET_ROWS_PER_SECOND else "MISSES"
    section.add(
        f"Files: the {len(daily)} daily CSVs in `shared/data/prices/*.csv` "
        f"({daily_first[0].rows_read} rows) and, separately, "
        f"`shared/data/prices/intraday/{intraday[0].name}` ({hourly_first[0].rows_read} rows). "
        f"{ROUNDS} rounds; each round empties the tables, imports (first import) and imports "
        "the same files again (re-import, 0 rows written). Timing covers parse, validation, "
        "upsert and commit of every file (one transaction per file), in-process around "
        "`prices.importer.import_price_files` — what the command runs after start-up.",
        "",
        "| import | rows | rows written | median s | median rows/s | best s | best rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _summary_row("daily CSVs, first import", daily_first),
        _summary_row("daily CSVs, re-import", daily_again),
        _summary_row("hourly CSV, first import", hourly_first),
        _summary_row("hourly CSV, re-import", hourly_again),
        "",
        f"Target > {TARGET_ROWS_PER_SECOND:,} rows/s for the daily CSVs (first import, median): "
        f"**{verdict}** ({median_first:,.0f} rows/s).",
        *_per_file(_median_report(daily_first), "daily first import"),
        *_per_file(_median_report(daily_again), "daily re-import"),
        "",
        "End to end, the real command into empty tables (interpreter start-up and imports "
        f"included): `{command}` took **{wall:.2f} s** wall; it reported: `{summary}`",
    )
    return section
