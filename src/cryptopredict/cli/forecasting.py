"""`cryptopredict backtest` and `train`: score the forecasters, then fit and register them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cryptopredict.cli.common import (
    MIGRATE_HELP,
    database_errors,
    fail,
    labelled_progress,
    open_database,
)

app = typer.Typer()


def _csv_list(value: str, what: str, *, cast: type = str) -> list[Any]:
    """A comma-separated option as a list; a bad item is a usage error naming the option."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise typer.BadParameter(f"give at least one {what}", param_hint=f"--{what}s")
    try:
        return [cast(item) for item in items]
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a list of {what}s", param_hint=f"--{what}s"
        ) from None


def _model_list(value: str | None) -> list[str] | None:
    """`--models`: kinds the engine ships, or None for all of them."""
    if value is None:
        return None
    from cryptopredict.forecasting.forecasters import FORECASTERS

    kinds = _csv_list(value, "model")
    unknown = [kind for kind in kinds if kind not in FORECASTERS]
    if unknown:
        raise typer.BadParameter(
            f"unknown model(s) {unknown}; choose from {sorted(FORECASTERS)}", param_hint="--models"
        )
    return kinds


def _horizon_list(value: str) -> list[int]:
    """`--horizons`: positive step counts."""
    horizons = _csv_list(value, "horizon", cast=int)
    if any(h < 1 for h in horizons):
        raise typer.BadParameter("horizons are positive step counts", param_hint="--horizons")
    return sorted(set(horizons))


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    """A report figure for the table; blanks for undefined values."""
    return "" if value is None else pattern.format(value)


REPORT_WIDTH = 132
"""Width of report tables when stdout is not a terminal (pipes and logs get whole columns)."""


def _report_console() -> Console:
    """A stdout console that never truncates a report table when piped."""
    console = Console()
    return console if console.is_terminal else Console(width=REPORT_WIDTH)


def _print_backtest_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """One line per coin x horizon x model; the selected model is marked with *."""
    table = Table(
        "Coin",
        "H",
        "Model",
        "MAE/naive",
        "MASE",
        "Dir. acc",
        "Always up",
        "DM p",
        "Cov 80",
        "Cov 95",
        "N",
        box=box.SIMPLE_HEAD,
    )
    for row in rows:
        table.add_row(
            row["coin"],
            str(row["horizon"]),
            row["model"] + (" *" if row["selected"] else ""),
            _fmt(row.get("relative_mae")),
            _fmt(row.get("mase")),
            _fmt(row.get("directional_accuracy"), "{:.1%}"),
            _fmt(row.get("always_up"), "{:.1%}"),
            _fmt(row.get("dm_pvalue")),
            _fmt(row.get("coverage_80"), "{:.1%}"),
            _fmt(row.get("coverage_95"), "{:.1%}"),
            str(row.get("n_forecasts", "")),
        )
    console.print(table)


def _print_interval_table(console: Console, coins: dict[str, Any]) -> None:
    """One line per coin x horizon: the chosen interval method against the baseline."""
    table = Table(
        "Coin",
        "H",
        "Interval",
        "W80/base",
        "W95/base",
        "Cov 80 % (band)",
        "Cov 95 % (band)",
        "Width 80",
        "CRPS/base",
        "Brier skill",
        "N",
        box=box.SIMPLE_HEAD,
    )

    def coverage(scores: dict[str, Any], label: str) -> str:
        value = scores["coverage"].get(label)
        low, high = scores["coverage_band"].get(label, (None, None))
        if value is None or low is None:
            return ""
        return f"{value * 100:.1f} ({low * 100:.0f}-{high * 100:.0f})"

    for coin, details in coins.items():
        for horizon, selection in details.get("intervals", {}).items():
            candidates = {c["method"]: c for c in selection["candidates"]}
            chosen = candidates.get(selection["chosen"])
            base = candidates.get("baseline")
            if chosen is None or base is None:
                table.add_row(coin, horizon, selection["chosen"], *[""] * 7, "0")
                continue
            crps = chosen["crps"] / base["crps"] if base["crps"] else None
            table.add_row(
                coin,
                horizon,
                selection["chosen"],
                _fmt(chosen["winkler_ratio"].get("80")),
                _fmt(chosen["winkler_ratio"].get("95")),
                coverage(chosen, "80"),
                coverage(chosen, "95"),
                _fmt(chosen["mean_relative_width"].get("80"), "{:.1%}"),
                _fmt(crps),
                _fmt(chosen["brier_skill"], "{:+.3f}"),
                str(chosen["n"]),
            )
    console.print(table)


_CSV_DIR_HELP = "Read <DIR>/<coin>.csv (daily CSVs as import-prices reads) instead of the database."


@app.command()
def backtest(
    coins: Annotated[str, typer.Option(help="Comma-separated CoinGecko ids.")],
    horizons: Annotated[str, typer.Option(help="Comma-separated horizons in days.")] = "1,7,30",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model kinds. Default: every model.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", exists=True, file_okay=False, help=_CSV_DIR_HELP)
    ] = None,
    report: Annotated[
        Path, typer.Option(help="JSON report to write; the chart goes beside it as .png.")
    ] = Path("backtest-report.json"),
    forecasts_csv: Annotated[
        Path | None,
        typer.Option(
            "--forecasts-csv",
            dir_okay=False,
            help="Also write every origin's served forecast (point, quantiles, 80/95 % "
            "bounds, interval method, actual) as CSV.",
        ),
    ] = None,
) -> None:
    """Walk-forward backtest of models per coin and horizon against the naive forecast, and
    of interval methods around the chosen model against the naive-on-log baseline; prints
    both tables and writes a JSON report and a PNG chart (selected model, 80/95 % bands)."""
    from cryptopredict.forecasting import training

    coin_ids = _csv_list(coins, "coin")
    horizon_list, kinds = _horizon_list(horizons), _model_list(models)
    frames: dict[str, Any] = {}
    if csv_dir is not None:
        for coin_id in coin_ids:
            try:
                frames[coin_id] = training.load_csv_prices(csv_dir, coin_id)
            except (OSError, ValueError) as exc:
                fail(str(exc), code=2)
    else:
        frames = _frames_from_database(coin_ids)
    results = []
    with labelled_progress() as on_progress:
        for coin_id, frame in frames.items():
            try:
                results.append(
                    training.backtest_coin(
                        frame,
                        coin=coin_id,
                        horizons=horizon_list,
                        models=kinds,
                        on_progress=on_progress,
                    )
                )
            except ValueError as exc:
                fail(f"{coin_id}: {exc}")
    json_path, chart = training.write_report(report, results)
    payload = training.report(results)
    console = _report_console()
    _print_backtest_table(console, payload["results"])
    _print_interval_table(console, payload["coins"])
    written = [str(json_path), str(chart)]
    if forecasts_csv is not None:
        written.append(str(training.write_forecasts_csv(forecasts_csv, results)))
    typer.echo(f"Wrote {', '.join(written)}.")


def _frames_from_database(coin_ids: list[str]) -> dict[str, Any]:
    """Each coin's stored daily series, read through the forecasting service."""
    from cryptopredict.core.errors import NotFoundError
    from cryptopredict.forecasting import service as forecasting_service

    settings, database, url = open_database(migrate=False)
    frames = {}
    try:
        with database_errors(url), database.session_factory() as session:
            for coin_id in coin_ids:
                try:
                    coin = forecasting_service.resolve_coin(session=session, identifier=coin_id)
                    frames[coin_id] = forecasting_service.load_prices(session=session, coin=coin)
                except NotFoundError as exc:
                    fail(exc.message)
    finally:
        database.dispose()
    return frames


@app.command()
def train(
    coin: Annotated[str, typer.Option(help="CoinGecko id (or symbol) of the coin.")],
    horizon: Annotated[
        list[int] | None,
        typer.Option(min=1, help="Horizon in days (repeatable). Default 1, 7, 30."),
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model kinds. Default: every model.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", exists=True, file_okay=False, help=_CSV_DIR_HELP)
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
) -> None:
    """Backtest, select per horizon, refit on all data, calibrate intervals, register the
    versions under CRYPTOPREDICT_MODEL_DIR and promote the selected model per horizon."""
    from cryptopredict.core.errors import NotFoundError
    from cryptopredict.forecasting import registry, training
    from cryptopredict.forecasting import service as forecasting_service

    horizons = sorted(set(horizon or training.DEFAULT_HORIZONS))
    kinds = _model_list(models)
    frame = None
    if csv_dir is not None:
        try:
            frame = training.load_csv_prices(csv_dir, coin)
        except (OSError, ValueError) as exc:
            fail(str(exc), code=2)
    settings, database, url = open_database(migrate=migrate)
    try:
        with (
            database_errors(url),
            database.session_factory() as session,
            labelled_progress() as on_progress,
        ):
            try:
                found = forecasting_service.resolve_coin(
                    session=session, identifier=coin, create=frame is not None
                )
                if frame is None:
                    frame = forecasting_service.load_prices(session=session, coin=found)
                outcome = forecasting_service.train(
                    session=session,
                    settings=settings,
                    coin=found,
                    prices=frame,
                    horizons=horizons,
                    models=kinds,
                    on_progress=on_progress,
                )
            except NotFoundError as exc:
                fail(exc.message)
            except (ValueError, registry.RegistryError) as exc:
                fail(f"{coin}: {exc}")
            session.commit()
    finally:
        database.dispose()
    _print_backtest_table(_report_console(), training.report([outcome.result.backtest])["results"])
    for version in outcome.versions:
        typer.echo(
            f"{version.kind} h={version.horizon} v{version.version} {version.status}: "
            f"{version.artifact_path}"
        )


@app.command()
def forecast(
    coin: Annotated[str, typer.Option(help="CoinGecko id (or symbol) of the coin.")],
    horizons: Annotated[
        str, typer.Option(help="Comma-separated horizons in days (1, 7 and 30 are served).")
    ] = "1,7,30",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's JSON instead of a table.")
    ] = False,
) -> None:
    """Print the coin's issued forecasts as `GET /api/v1/forecasts/{coin}` answers them (read
    from the ledger: nothing is fitted or computed here)."""
    from cryptopredict.core.database import utcnow
    from cryptopredict.core.errors import AppError
    from cryptopredict.forecasting import serving

    wanted = _horizon_list(horizons)
    settings, database, url = open_database(migrate=False)
    try:
        with database_errors(url), database.session_factory() as session:
            try:
                found = serving.coin_forecasts(
                    session=session,
                    settings=settings,
                    identifier=coin,
                    horizons=wanted,
                    now=utcnow(),
                )
            except AppError as exc:
                fail(exc.message)
    finally:
        database.dispose()
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    table = Table(title=f"{found.coin} ({found.interval})", box=box.SIMPLE)
    for column in ("h", "origin", "target", "point", "80 %", "95 %", "model"):
        table.add_column(column)
    for item in found.forecasts:
        table.add_row(
            str(item.horizon),
            f"{item.origin_at:%Y-%m-%d}",
            f"{item.target_at:%Y-%m-%d}",
            f"{item.point:,.6g}",
            "-"
            if item.interval_80 is None
            else f"{item.interval_80.lower:,.6g} - {item.interval_80.upper:,.6g}",
            "-"
            if item.interval_95 is None
            else f"{item.interval_95.lower:,.6g} - {item.interval_95.upper:,.6g}",
            f"{item.model.kind} v{item.model.version}"
            + (" (expired: naive)" if item.expired else ""),
        )
    console = _report_console()
    console.print(table)
    for item in found.forecasts:
        console.print(f"h={item.horizon}: {item.verdict}" + (" [stale]" if item.stale else ""))
    for missing in found.unavailable:
        console.print(f"h={missing.horizon}: {missing.reason}")
