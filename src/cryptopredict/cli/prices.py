"""`cryptopredict import-prices`: load daily or intraday price CSVs, idempotently."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from cryptopredict.cli.common import MIGRATE_HELP, database_errors, open_database, progress_bar
from cryptopredict.prices import importer
from cryptopredict.prices.types import Interval
from cryptopredict.snapshot import snapshot_price_files

app = typer.Typer()


class IntervalChoice(StrEnum):
    """`--interval` values: a stored bar width, or `auto` to read it from the file."""

    AUTO = "auto"
    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"


def _import_paths(files: list[Path] | None, snapshot: bool, coin: str | None) -> list[Path]:
    """The files to import, or a usage error explaining what is missing or contradictory."""
    paths = list(files or [])
    if snapshot:
        paths.extend(snapshot_price_files())
    if not paths:
        raise typer.BadParameter("give one or more CSV files, or --snapshot", param_hint="CSV")
    if coin is not None and len(paths) > 1:
        raise typer.BadParameter("--coin applies to a single file only", param_hint="--coin")
    return paths


def _print_report(console: Console, report: importer.ImportReport) -> None:
    """Per-file figures, each failure with its file and line, then the overall rate."""
    if report.results:
        table = Table("File", "Coin", "Interval", "Read", "Written", "Seconds", "Rows/s")
        for result in report.results:
            table.add_row(
                result.path.name,
                result.coin,
                str(result.interval),
                str(result.rows_read),
                str(result.rows_written),
                f"{result.seconds:.3f}",
                f"{result.rows_per_second:,.0f}",
            )
        console.print(table)
    for failure in report.failures:
        typer.echo(f"Error: {failure.message} (nothing imported from this file)", err=True)
    done = len(report.results)
    typer.echo(
        f"Imported {done} of {done + len(report.failures)} file(s): {report.rows_read} rows "
        f"read, {report.rows_written} written in {report.seconds:.2f} s "
        f"({report.rows_per_second:,.0f} rows/s)."
    )


@app.command("import-prices")
def import_prices(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="CSV...",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Daily (`date,open,high,low,close,volume,market_cap`) or intraday "
            "(`timestamp,open,high,low,close,volume,...`) price files.",
        ),
    ] = None,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot",
            help="Also import the bundled snapshot (daily prices of 6 coins up to "
            "2021-07-06; historical, not live).",
        ),
    ] = False,
    coin: Annotated[
        str | None,
        typer.Option(
            help="CoinGecko id of the coin (one file only). Default: the file name, "
            "so bitcoin.csv and bitcoin_1h.csv are bitcoin."
        ),
    ] = None,
    interval: Annotated[
        IntervalChoice,
        typer.Option(help="Bar width; auto: daily for `date` files, else from the file."),
    ] = IntervalChoice.AUTO,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per upsert statement.")
    ] = importer.DEFAULT_BATCH_SIZE,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
) -> None:
    """Import price CSVs; each file is all-or-nothing and re-importing writes nothing."""
    paths = _import_paths(files, snapshot, coin)
    if coin is not None:
        try:
            coin = importer.normalise_coin_id(coin)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--coin") from None
    settings, database, url = open_database(migrate=migrate)
    stdout, stderr = Console(), Console(stderr=True)
    try:
        with (
            database_errors(url),
            database.session_factory() as session,
            progress_bar(stderr) as progress,
        ):
            tasks: dict[Path, TaskID] = {}

            def on_progress(path: Path, done: int, total: int) -> None:
                if path not in tasks:
                    tasks[path] = progress.add_task(path.name, total=total)
                progress.update(tasks[path], completed=done)

            report = importer.import_price_files(
                paths,
                session=session,
                coin=coin,
                interval=None if interval is IntervalChoice.AUTO else Interval(interval.value),
                batch_size=batch_size,
                on_progress=on_progress,
            )
    finally:
        database.dispose()
    _print_report(stdout, report)
    if not report.ok:
        raise typer.Exit(1)
